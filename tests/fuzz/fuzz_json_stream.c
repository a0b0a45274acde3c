/* Streaming JSON: the input is written as data.json and data.jsonl and read with
 * hp_json_each (array or JSONL, chosen by content and suffix) and with
 * hp_json_each_member (a few named members of a top-level object). The item callback
 * walks each tree the way callers do (hp_json_field_str, hp_json_f32 on every number)
 * and stops early at the string "STOP" or fails at "FAIL", so the early-exit and
 * error paths of the stream are fuzzed too. Inputs whose size is a multiple of 32 are
 * also read again after 64 KiB - size/2 bytes of blanks, so that they straddle the
 * stream's 64 KiB read chunks (only those: scanning the blanks costs ~50 runs' time). */
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define CHUNK (64 * 1024)

static void walk(const cJSON *v, int depth)
{
    FZ_CHECK(depth <= 600);
    hp_err err = {{0}};
    if (cJSON_IsNumber(v)) {
        float f;
        if (hp_json_f32(v, &f, &err) != 0)
            fz_check_err(&err);
        if (v->valuestring)
            fz_touch(v->valuestring, strlen(v->valuestring) + 1);
    } else if (cJSON_IsString(v)) {
        FZ_CHECK(v->valuestring != NULL);
        fz_touch(v->valuestring, strlen(v->valuestring) + 1);
    }
    if (v->string)
        fz_touch(v->string, strlen(v->string) + 1);
    const cJSON *c;
    for (c = v->child; c; c = c->next)
        walk(c, depth + 1);
}

typedef struct counts {
    size_t items, last_index;
    bool stopped, failed;
} counts;

static int on_item(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    counts *n = ctx;
    FZ_CHECK(item != NULL);
    FZ_CHECK(n->items == 0 || index == 0 || index == n->last_index + 1);
    n->items++;
    n->last_index = index;
    walk(item, 0);
    const char *s = hp_json_field_str(item, "text", err);
    if (!s)
        fz_check_err(err);
    if (cJSON_IsString(item) && strcmp(item->valuestring, "STOP") == 0)
        return n->stopped = true, 1;
    if (cJSON_IsString(item) && strcmp(item->valuestring, "FAIL") == 0)
        return n->failed = true, hp_fail(err, "the callback refuses this item");
    return 0;
}

/* The result agrees with what the callback said: a stop ends the iteration with
 * success, a refusal with failure and the callback's message kept in err. */
static void check_result(int rc, const counts *n, const hp_err *err)
{
    FZ_CHECK(rc == 0 || rc == -1);
    if (rc != 0)
        fz_check_err(err);
    if (n->failed)
        FZ_CHECK(rc == -1 && strstr(err->msg, "the callback refuses this item"));
    else if (n->stopped)
        FZ_CHECK(rc == 0);
}

static void read_all(const char *json, const char *jsonl)
{
    hp_err err = {{0}};
    counts n = {0};
    check_result(hp_json_each(json, on_item, &n, &err), &n, &err);
    n = (counts){0};
    check_result(hp_json_each(jsonl, on_item, &n, &err), &n, &err);
    n = (counts){0};
    const hp_json_member members[] = {
        {"data", on_item}, {"words", on_item}, {"size", on_item}, {"vectors", on_item},
    };
    check_result(hp_json_each_member(json, members, sizeof members / sizeof members[0], &n, &err),
                 &n, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *json = fz_path(0, "data.json"), *jsonl = fz_path(1, "data.jsonl");
    fz_write(json, data, size);
    fz_write(jsonl, data, size);
    read_all(json, jsonl);
    if (size > 0 && size % 32 == 0 && size < CHUNK) {
        size_t pad = CHUNK - size / 2;
        char *buf = malloc(pad + size);
        FZ_CHECK(buf != NULL);
        memset(buf, ' ', pad);
        memcpy(buf + pad, data, size);
        fz_write(json, buf, pad + size);
        fz_write(jsonl, buf, pad + size);
        free(buf);
        read_all(json, jsonl);
    }
    return 0;
}

/* Streaming JSON layer.
 *
 *   test_json_stream                      runs the self-tests below
 *   test_json_stream FILE [--members a,b] prints each item as "index<TAB>key<TAB>json"
 *                                         (exit 1 with the error on stderr), for the
 *                                         bad-input tests */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hyplora.h"
#include "check.h"


static char tmpdir[] = "/tmp/test_json_stream-XXXXXX";

static const char *write_file(const char *name, const char *text, size_t len)
{
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", tmpdir, name);
    FILE *fp = fopen(path, "wb");
    if (!fp || fwrite(text, 1, len, fp) != len || fclose(fp) != 0) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(2);
    }
    return path;
}

static const char *write_str(const char *name, const char *text)
{
    return write_file(name, text, strlen(text));
}

/* ---- a collector: items printed compactly, joined with '|' ---- */

typedef struct collect {
    char out[4096];
    size_t n;
    size_t stop_at; /* return 1 at this index (0 = never) */
    size_t fail_at; /* return -1 at this index + 1 (0 = never) */
} collect;

static int on_item(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    collect *c = ctx;
    if (c->fail_at && index + 1 == c->fail_at)
        return hp_fail(err, "callback refused it");
    char *s = cJSON_PrintUnformatted(item);
    size_t used = strlen(c->out);
    snprintf(c->out + used, sizeof c->out - used, "%s%s%s%s", used ? "|" : "",
             item->string ? item->string : "", item->string ? "=" : "", s ? s : "?");
    free(s);
    c->n++;
    return c->stop_at && index == c->stop_at ? 1 : 0;
}

static void expect_items(const char *name, const char *text, const char *want)
{
    const char *path = write_str(name, text);
    collect c = {0};
    hp_err err = {{0}};
    int rc = hp_json_each(path, on_item, &c, &err);
    CHECKF(rc == 0, "%s: %s", name, err.msg);
    CHECKF(strcmp(c.out, want) == 0, "%s: got %s, want %s", name, c.out, want);
}

static void expect_error(const char *name, const char *text, const char *want1, const char *want2)
{
    const char *path = write_str(name, text);
    collect c = {0};
    hp_err err = {{0}};
    int rc = hp_json_each(path, on_item, &c, &err);
    CHECKF(rc == -1, "%s: expected an error", name);
    CHECKF(strstr(err.msg, path) != NULL, "%s: message lacks the path: %s", name, err.msg);
    CHECKF(strstr(err.msg, want1) != NULL, "%s: message lacks \"%s\": %s", name, want1, err.msg);
    CHECKF(!want2 || strstr(err.msg, want2) != NULL, "%s: message lacks \"%s\": %s", name, want2,
          err.msg);
}

static void test_shapes(void)
{
    expect_items("a.json", " [1, \"two\", {\"a\": [1, 2, {\"b\": null}]}, [true, false], -0.5e3]\n",
                 "1|\"two\"|{\"a\":[1,2,{\"b\":null}]}|[true,false]|-500");
    expect_items("empty.json", "[]", "");
    expect_items("empty.jsonl", "", "");
    expect_items("lines.jsonl", "{\"x\": 1}\r\n\n   \n[2]\n3\n\"four\"", "{\"x\":1}|[2]|3|\"four\"");
    /* A top-level object is a one-line JSONL file when not an array. */
    expect_items("one.json", "{\"only\": true}\n", "{\"only\":true}");
    /* .jsonl forces lines even when a line is an array. */
    expect_items("arrays.jsonl", "[1]\n[2, 3]\n", "[1]|[2,3]");
    expect_items("bom.json", "\xef\xbb\xbf[\"\xc3\xa9\"]", "\"\xc3\xa9\"");
}

/* Items that straddle the 64 KiB chunks, and a JSONL line longer than a chunk. */
static double sum_tree(const cJSON *item)
{
    double sum = cJSON_IsNumber(item) ? item->valuedouble : 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, item) sum += sum_tree(c);
    return sum;
}

static int sum_numbers(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index, (void)err;
    *(double *)ctx += sum_tree(item);
    return 0;
}

static void test_chunks(void)
{
    size_t n = 60000, cap = n * 16 + 16, used = 0;
    char *text = malloc(cap);
    used += (size_t)snprintf(text, cap, "[");
    for (size_t i = 0; i < n; i++)
        used += (size_t)snprintf(text + used, cap - used, "%s[%zu, 1]", i ? "," : "", i);
    used += (size_t)snprintf(text + used, cap - used, "]");
    double sum = 0;
    hp_err err = {{0}};
    const char *path = write_file("big.json", text, used);
    CHECKF(hp_json_each(path, sum_numbers, &sum, &err) == 0, "%s", err.msg);
    CHECKF(sum == (double)n * (n - 1) / 2 + n, "sum %.0f", sum);

    /* The same numbers as one JSONL line of ~600 KB after a short line. */
    text[0] = '[';
    memmove(text + 4, text, used);
    memcpy(text, "[7]\n", 4);
    sum = 0;
    path = write_file("long.jsonl", text, used + 4);
    CHECKF(hp_json_each(path, sum_numbers, &sum, &err) == 0, "%s", err.msg);
    CHECKF(sum == (double)n * (n - 1) / 2 + n + 7, "sum %.0f", sum);
    free(text);
}

static void test_stop_and_fail(void)
{
    const char *path = write_str("stop.json", "[0, 1, 2, 3, 4]");
    collect c = {.stop_at = 2};
    hp_err err = {{0}};
    CHECKF(hp_json_each(path, on_item, &c, &err) == 0, "%s", err.msg);
    CHECKF(c.n == 3, "saw %zu items after a stop at index 2", c.n);

    path = write_str("fail.json", "[\n{\"a\": 1},\n{\"a\": 2},\n{\"a\": 3}\n]");
    collect f = {.fail_at = 2};
    CHECKF(hp_json_each(path, on_item, &f, &err) == -1, "callback error not passed on");
    CHECKF(strstr(err.msg, "line 3") && strstr(err.msg, "item 1") &&
              strstr(err.msg, "callback refused it") && strstr(err.msg, path),
          "message: %s", err.msg);

    path = write_str("fail.jsonl", "{\"a\": 1}\n\n{\"a\": 2}\n");
    collect g = {.fail_at = 2};
    CHECKF(hp_json_each(path, on_item, &g, &err) == -1, "callback error not passed on");
    CHECKF(strstr(err.msg, "line 3") && strstr(err.msg, "item 1"), "message: %s", err.msg);
}

static void test_errors(void)
{
    expect_error("bad.json", "[1,\n2,\n3x]", "line 3", "yajl");
    expect_error("trunc.json", "[1, [2, 3", "premature EOF", "truncated");
    expect_error("bad.jsonl", "{\"a\": 1}\n{\"a\": 2}\n{\"a\": }\n{\"a\": 4}\n", "line 3", "yajl");
    expect_error("two.jsonl", "{\"a\": 1} {\"a\": 2}\n", "line 1", "trailing garbage");
    expect_error("split.jsonl", "{\"a\":\n1}\n", "line 1", "premature EOF");
    expect_error("nul.json", "[\"a\\u0000b\"]", "U+0000", "line 1");
    expect_error("utf8.json", "[\"\xff\"]", "line 1", "yajl");
    char deep[1200];
    memset(deep, '[', 1100);
    deep[1100] = 0;
    expect_error("deep.json", deep, "nesting deeper", "line 1");
}

static void test_missing_file(void)
{
    hp_err err = {{0}};
    collect c = {0};
    CHECKF(hp_json_each("/nonexistent/x.json", on_item, &c, &err) == -1, "no error");
    CHECKF(strstr(err.msg, "/nonexistent/x.json") && strstr(err.msg, "cannot open"), "%s", err.msg);
}

/* ---- members of a top-level object ---- */

static int on_member(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index;
    return on_item(item, index, ctx, err);
}

static void test_members(void)
{
    const char *path = write_str(
        "obj.json",
        "{\"skip\": {\"deep\": [1, [2, [3]]], \"n\": 9}, \"n\": 5, \"list\": [1, [2], \"x\"],\n"
        " \"obj\": {\"x\": 1, \"y\": [2, {\"z\": 3}]}, \"empty\": [], \"after\": \"s\"}");
    hp_json_member m[] = {{"n", on_member}, {"list", on_member}, {"obj", on_member},
                          {"empty", on_member}, {"absent", on_member}};
    collect c = {0};
    hp_err err = {{0}};
    CHECKF(hp_json_each_member(path, m, 5, &c, &err) == 0, "%s", err.msg);
    CHECKF(strcmp(c.out, "n=5|1|[2]|\"x\"|x=1|y=[2,{\"z\":3}]") == 0, "got %s", c.out);

    collect f = {.fail_at = 2};
    CHECKF(hp_json_each_member(path, m, 5, &f, &err) == -1, "callback error lost");
    CHECKF(strstr(err.msg, "member \"list\", item 1") && strstr(err.msg, "line 1"), "%s", err.msg);

    path = write_str("arr.json", "[1, 2]");
    CHECKF(hp_json_each_member(path, m, 5, &c, &err) == -1, "array accepted as an object");
    CHECKF(strstr(err.msg, "expected a JSON object"), "%s", err.msg);
}

/* ---- numbers and fields ---- */

static int first_item(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)index, (void)err;
    *(cJSON **)ctx = cJSON_Duplicate(item, 1);
    return 1;
}

static void test_numbers_and_fields(void)
{
    /* Just above the midpoint between 1 and the next float: decimal -> float rounds up,
     * decimal -> double -> float lands on the midpoint and rounds to even (1.0). */
    const char *path = write_str(
        "num.json", "[[1.0000000596046447753906250001, 0.1, -2e-3, 1e39, 7, 1e-50], "
                    "{\"instruction\": \"do\", \"n\": 3, \"input\": \"\"}]");
    cJSON *nums = NULL;
    hp_err err = {{0}};
    CHECKF(hp_json_each(path, first_item, &nums, &err) == 0, "%s", err.msg);
    float f = 0;
    const cJSON *v = nums ? nums->child : NULL;
    CHECKF(v && strcmp(v->valuestring, "1.0000000596046447753906250001") == 0, "text kept");
    CHECKF(hp_json_f32(v, &f, &err) == 0 && f == 1.00000011920928955078125f, "rounded once: %.9g", f);
    v = v->next;
    CHECKF(hp_json_f32(v, &f, &err) == 0 && f == 0.1f, "0.1 -> %.9g", f);
    v = v->next;
    CHECKF(hp_json_f32(v, &f, &err) == 0 && f == -2e-3f, "-2e-3 -> %.9g", f);
    v = v->next;
    CHECKF(hp_json_f32(v, &f, &err) == -1 && strstr(err.msg, "1e39"), "1e39: %s", err.msg);
    v = v->next;
    CHECKF(v->valueint == 7 && hp_json_f32(v, &f, &err) == 0 && f == 7.0f, "7");
    v = v->next;
    CHECKF(hp_json_f32(v, &f, &err) == 0 && f == 0.0f, "1e-50 underflows to 0");
    CHECKF(hp_json_f32(nums, &f, &err) == -1 && strstr(err.msg, "an array"), "%s", err.msg);
    cJSON_Delete(nums);

    cJSON *obj = cJSON_Parse("{\"instruction\": \"do\", \"n\": 3, \"input\": \"\"}");
    const char *s = hp_json_field_str(obj, "instruction", &err);
    CHECKF(s && strcmp(s, "do") == 0, "instruction");
    CHECKF(!hp_json_field_str(obj, "output", &err) && strstr(err.msg, "\"output\" is missing") &&
              strstr(err.msg, "\"instruction\", \"n\", \"input\""),
          "%s", err.msg);
    CHECKF(!hp_json_field_str(obj, "n", &err) && strstr(err.msg, "is a number"), "%s", err.msg);
    CHECKF(!hp_json_field_str(obj->child, "n", &err) && strstr(err.msg, "found a string"), "%s",
          err.msg);
    cJSON_Delete(obj);
}

/* ---- file mode for the bad-input tests ---- */

static int print_item(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    (void)ctx, (void)err;
    char *s = cJSON_PrintUnformatted(item);
    printf("%zu\t%s\t%s\n", index, item->string ? item->string : "", s ? s : "?");
    free(s);
    return 0;
}

static int dump(const char *path, char *members)
{
    hp_err err = {{0}};
    int rc;
    if (members) {
        hp_json_member m[16];
        size_t n = 0;
        for (char *tok = strtok(members, ","); tok && n < 16; tok = strtok(NULL, ","))
            m[n++] = (hp_json_member){tok, print_item};
        rc = hp_json_each_member(path, m, n, NULL, &err);
    } else {
        rc = hp_json_each(path, print_item, NULL, &err);
    }
    if (rc != 0) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2)
        return dump(argv[1], argc >= 4 && strcmp(argv[2], "--members") == 0 ? argv[3] : NULL);
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 2;
    }
    test_shapes();
    test_chunks();
    test_stop_and_fail();
    test_errors();
    test_missing_file();
    test_members();
    test_numbers_and_fields();
    char cmd[600];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", tmpdir);
    return check_exit();
}

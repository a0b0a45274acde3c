/* Corpus files to batches of texts (hyplora/corpus.h). The batch keeps every text in one
 * growing arena; the pointer array is built only when the batch is handed out, because
 * the arena may move while it fills. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/corpus.h"
#include "hyplora/json_stream.h"

void hp_corpus_options_init(hp_corpus_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->batch_bytes = 8u << 20;
    opt->batch_texts = 16384;
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

bool hp_corpus_is_json(const char *path)
{
    return ends_with(path, ".json") || ends_with(path, ".jsonl") || ends_with(path, ".ndjson");
}

typedef struct batcher {
    const hp_corpus_options *opt;
    hp_corpus_batch_fn on_batch;
    void *ctx;
    char *arena;
    size_t arena_n, arena_cap;
    size_t *off, *len, *record;
    const char **text;
    size_t n, cap;
    bool callback_failed; /* the error in err came from on_batch: pass it on as it is */
    hp_err callback_err;
} batcher;

static int add_text(batcher *b, const char *s, size_t n, size_t record, hp_err *err)
{
    if (b->n == b->cap) {
        size_t cap = b->cap;
        if (hp_grow((void **)&b->off, &cap, b->n + 1, sizeof *b->off, "the batch", err) != 0)
            return -1;
        cap = b->cap;
        if (hp_grow((void **)&b->len, &cap, b->n + 1, sizeof *b->len, "the batch", err) != 0)
            return -1;
        cap = b->cap;
        if (hp_grow((void **)&b->record, &cap, b->n + 1, sizeof *b->record, "the batch", err))
            return -1;
        cap = b->cap;
        if (hp_grow((void **)&b->text, &cap, b->n + 1, sizeof *b->text, "the batch", err))
            return -1;
        b->cap = cap;
    }
    if (hp_grow((void **)&b->arena, &b->arena_cap, b->arena_n + n + 1, 1, "the batch's text",
                err) != 0)
        return -1;
    memcpy(b->arena + b->arena_n, s, n);
    b->arena[b->arena_n + n] = 0;
    b->off[b->n] = b->arena_n;
    b->len[b->n] = n;
    b->record[b->n++] = record;
    b->arena_n += n + 1;
    return 0;
}

static int flush(batcher *b, hp_err *err)
{
    if (b->n == 0)
        return 0;
    for (size_t i = 0; i < b->n; i++)
        b->text[i] = b->arena + b->off[i];
    hp_corpus_batch batch = {b->text, b->len, b->record, b->n};
    int rc = b->on_batch(&batch, b->ctx, err);
    b->n = 0;
    b->arena_n = 0;
    if (rc != 0) {
        b->callback_failed = true;
        b->callback_err = *err;
        return -1;
    }
    return 0;
}

static bool full(const batcher *b)
{
    return b->n >= b->opt->batch_texts || b->arena_n >= b->opt->batch_bytes;
}

static int on_item(const cJSON *item, size_t index, void *ctx, hp_err *err)
{
    batcher *b = ctx;
    if (b->opt->n_fields == 0) {
        if (!cJSON_IsString(item))
            return hp_fail(err, "the item is not a string; say which field to read (--field)");
        if (add_text(b, item->valuestring, strlen(item->valuestring), index + 1, err) != 0)
            return -1;
    }
    for (size_t f = 0; f < b->opt->n_fields; f++) {
        const char *s = hp_json_field_str(item, b->opt->fields[f], err);
        if (!s || add_text(b, s, strlen(s), index + 1, err) != 0)
            return -1;
    }
    return full(b) ? flush(b, err) : 0;
}

static int read_lines(batcher *b, const char *path, hp_err *err)
{
    bool is_stdin = strcmp(path, "-") == 0;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    if (!f)
        return hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    long total = -1;
    if (!is_stdin && fseek(f, 0, SEEK_END) == 0) {
        total = ftell(f);
        rewind(f);
    }
    char *line = NULL;
    size_t cap = 0, record = 0;
    ssize_t got;
    int rc = 0;
    while (rc == 0 && (got = getline(&line, &cap, f)) >= 0) {
        size_t n = (size_t)got;
        if (n && line[n - 1] == '\n' && --n && line[n - 1] == '\r')
            n--;
        rc = add_text(b, line, n, ++record, err);
        if (rc == 0 && full(b)) {
            rc = flush(b, err);
            if (total > 0)
                hp_progress_update(b->opt->progress, (uint64_t)ftell(f), (uint64_t)total);
        }
    }
    if (rc == 0 && ferror(f))
        rc = hp_fail(err, "%s: read error: %s", is_stdin ? "standard input" : path,
                     strerror(errno));
    free(line);
    if (!is_stdin)
        fclose(f);
    return rc == 0 ? flush(b, err) : rc;
}

int hp_corpus_each(const char *path, const hp_corpus_options *opt, hp_corpus_batch_fn on_batch,
                   void *ctx, hp_err *err)
{
    hp_corpus_options defaults;
    if (!opt) {
        hp_corpus_options_init(&defaults);
        opt = &defaults;
    }
    batcher b = {.opt = opt, .on_batch = on_batch, .ctx = ctx};
    int rc;
    if (strcmp(path, "-") != 0 && hp_corpus_is_json(path)) {
        rc = hp_json_each(path, on_item, &b, err);
        if (rc == 0)
            rc = flush(&b, err);
    } else {
        rc = read_lines(&b, path, err);
    }
    /* the JSON stream prefixes the position of the item being read: wrong for a failure
     * of the callback, which concerns the whole batch */
    if (rc != 0 && b.callback_failed)
        *err = b.callback_err;
    free(b.arena);
    free(b.off);
    free(b.len);
    free(b.record);
    free(b.text);
    return rc;
}

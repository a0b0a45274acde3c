/* The pretraining corpus (train/pretrain_data.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "pretrain_data.h"

typedef struct reader {
    pretrain_data *d;
    const hp_tokenizer *tok;
    int32_t eos;
    const char *path;
} reader;

static int on_batch(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    reader *r = ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (b->len[i] == 0) /* an empty line is no document */
            continue;
        if (hp_tokenizer_encode(r->tok, b->text[i], b->len[i], true, &r->d->ids, err) ||
            hp_ids_push(&r->d->ids, r->eos, err))
            return hp_failctx(err, "%s, record %zu", r->path, b->record[i]);
        r->d->n_docs++;
        r->d->n_bytes += b->len[i];
    }
    return 0;
}

int pretrain_data_read(pretrain_data *d, const hp_tokenizer *tok, char *const *files, int n_files,
                       const char *const *fields, size_t n_fields, int T, hp_err *err)
{
    memset(d, 0, sizeof *d);
    d->T = T;
    reader r = {d, tok, hp_tokenizer_eos(tok), NULL};
    if (r.eos < 0)
        return hp_fail(err, "the tokenizer (%s) has no end-of-sequence token to put between documents",
                       hp_tokenizer_describe(tok));
    cli_progress p;
    for (int f = 0; f < n_files; f++) {
        hp_corpus_options o;
        hp_corpus_options_init(&o);
        o.fields = fields;
        o.n_fields = n_fields;
        char label[160];
        snprintf(label, sizeof label, "tokenizing %s", files[f]);
        o.progress = cli_progress_begin(&p, label);
        r.path = files[f];
        int rc = hp_corpus_each(files[f], &o, on_batch, &r, err);
        cli_progress_end(&p);
        if (rc)
            return -1;
    }
    if (d->n_docs == 0)
        return hp_fail(err, "the corpus holds no document (every file is empty)");
    d->n_seq = (d->ids.n - 1) / (size_t)T;
    if (d->n_seq == 0)
        return hp_fail(err, "the corpus holds %zu tokens, fewer than one sequence of --context %d + 1", d->ids.n, T);
    return 0;
}

void pretrain_data_free(pretrain_data *d)
{
    hp_ids_free(&d->ids);
    memset(d, 0, sizeof *d);
}

void pretrain_data_sequence(const pretrain_data *d, size_t i, int32_t *tokens, int32_t *targets)
{
    const int32_t *s = d->ids.ids + i * (size_t)d->T;
    memcpy(tokens, s, (size_t)d->T * sizeof *tokens);
    memcpy(targets, s + 1, (size_t)d->T * sizeof *targets);
}

uint64_t pretrain_data_digest(const pretrain_data *d)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < d->ids.n; i++)
        h = (h ^ (uint32_t)d->ids.ids[i]) * 1099511628211ull;
    return h;
}

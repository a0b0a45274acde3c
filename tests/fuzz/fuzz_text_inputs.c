/* The plain-text inputs of the analyses: the first input byte chooses the reader, the rest
 * is the file.
 *   even: a word-group file (hp_word_groups_load); a loaded set is checked against what
 *         hyplora/norms.h promises: at least one group, each named and with words, names
 *         distinct, every string UTF-8;
 *   odd:  a plain-text corpus (hp_corpus_each) in batches of 3 texts: every text within
 *         its batch's arena and NUL-terminated, records increasing from 1, no "\n" inside
 *         a text. */
#include <string.h>

#include "fuzz_common.h"

static int on_batch(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    (void)err;
    size_t *last = ctx;
    for (size_t i = 0; i < b->n; i++) {
        fz_touch(b->text[i], b->len[i] + 1);
        FZ_CHECK(b->text[i][b->len[i]] == 0);
        FZ_CHECK(memchr(b->text[i], '\n', b->len[i]) == NULL);
        FZ_CHECK(b->record[i] == *last + 1);
        *last = b->record[i];
    }
    return 0;
}

static void check_groups(const hp_word_group *g, size_t n)
{
    FZ_CHECK(n > 0);
    for (size_t i = 0; i < n; i++) {
        FZ_CHECK(g[i].name && *g[i].name && g[i].n_words > 0);
        FZ_CHECK(hp_utf8_valid(g[i].name, strlen(g[i].name), NULL));
        for (size_t j = 0; j < i; j++)
            FZ_CHECK(strcmp(g[i].name, g[j].name) != 0);
        for (size_t w = 0; w < g[i].n_words; w++) {
            FZ_CHECK(*g[i].words[w]);
            FZ_CHECK(hp_utf8_valid(g[i].words[w], strlen(g[i].words[w]), NULL));
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *path = fz_path(0, "input.txt");
    fz_write(path, data + 1, size - 1);
    hp_err err = {{0}};
    if (data[0] & 1) {
        hp_corpus_options opt;
        hp_corpus_options_init(&opt);
        opt.batch_texts = 3;
        size_t last = 0;
        FZ_CHECK(hp_corpus_each(path, &opt, on_batch, &last, &err) == 0);
        return 0;
    }
    hp_word_group *g;
    size_t n;
    if (hp_word_groups_load(path, &g, &n, &err) == 0) {
        check_groups(g, n);
        hp_word_groups_free(g, n);
    } else {
        fz_check_err(&err);
    }
    return 0;
}

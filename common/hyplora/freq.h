/* Token and word frequencies: how often each token id (or each word) occurs in a corpus,
 * counted over batches of texts on several threads. The power-law fit of the counts is
 * hyplora/powerlaw.h (hp_powerlaw_values_from_counts, hp_powerlaw_analyze).
 *
 *     int64_t *counts = calloc(hp_tokenizer_vocab_size(tok), sizeof *counts);
 *     int64_t n_tokens = 0;
 *     hp_count_tokens(tok, texts, lens, n, false, 0, counts, &n_tokens, &err);
 */
#ifndef HYPLORA_FREQ_H
#define HYPLORA_FREQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/tokenizer.h"

/* Adds the occurrences of ids[0..n-1] to counts[0..vocab) (for ids a caller already has,
 * e.g. from one tokenization shared by several analyses). An id outside [0, vocab) is an
 * error naming it, and counts are then unchanged. */
int hp_count_ids(const int32_t *ids, size_t n, int64_t *counts, size_t vocab, hp_err *err);

/* Encodes texts[0..n-1] (lens[i] bytes each) and adds the occurrences of every id to
 * counts[0 .. hp_tokenizer_vocab_size(t)) and their number to *n_tokens. add_special
 * counts the post-processor's tokens (BOS/EOS) too. threads <= 0: all online cores. On
 * failure (out of memory, or a text the tokenizer rejects) counts are unchanged and
 * *bad_text (may be NULL) is the index of the text that failed, or n. */
int hp_count_tokens(const hp_tokenizer *t, const char *const *texts, const size_t *lens,
                    size_t n, bool add_special, int threads, int64_t *counts, int64_t *n_tokens,
                    size_t *bad_text, hp_err *err);

/* Word counts: a table of distinct words (byte strings) and their counts. */
typedef struct hp_word_counts hp_word_counts;

hp_word_counts *hp_word_counts_new(hp_err *err);
void hp_word_counts_free(hp_word_counts *wc);
int hp_word_counts_add(hp_word_counts *wc, const char *word, size_t len, int64_t count,
                       hp_err *err);
size_t hp_word_counts_size(const hp_word_counts *wc);    /* distinct words */
int64_t hp_word_counts_total(const hp_word_counts *wc);  /* occurrences */
int64_t hp_word_counts_get(const hp_word_counts *wc, const char *word, size_t len); /* 0 if none */

/* The words by decreasing count, ties in byte order of the word: *words[i] points into
 * the table (valid until it is freed), *counts is fresh (free() both arrays). */
int hp_word_counts_sorted(const hp_word_counts *wc, const char ***words, int64_t **counts,
                          hp_err *err);

/* The words of texts[0..n-1] in word-level mode (hp_words_each: lowercased runs of Unicode
 * letters, marks and numbers), added to wc, on `threads` threads (<= 0: all cores). */
int hp_count_words(const char *const *texts, const size_t *lens, size_t n, int threads,
                   hp_word_counts *wc, hp_err *err);

#endif

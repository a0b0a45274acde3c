/* Norm versus frequency: how far each embedding row lies from the origin (and from the
 * mean row), how that relates to how often its token occurs, and the mean norms of word
 * groups (function words ... concrete nouns), as in the HypLoRA paper's second finding.
 * Everything works on in-memory arrays; `hyplora norms` wraps it (docs/norms.md).
 *
 *     double *norm = ..., *centered = ..., *mean = ...;    (n, n and dim doubles)
 *     hp_row_norms(rows, n, dim, 0, norm, mean, centered, &err);
 *     hp_norm_freq nf;
 *     hp_norm_vs_freq(norm, counts, n, 4, &nf, &err);
 */
#ifndef HYPLORA_NORMS_H
#define HYPLORA_NORMS_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/stats.h"
#include "hyplora/tokenizer.h"

/* The L2 norm of every row of the n x dim float32 matrix rows (accumulated in double);
 * unless mean and centered_norm are both NULL, also the mean row (dim values) and each
 * row's distance from it. threads <= 0: all cores. */
int hp_row_norms(const float *rows, size_t n, size_t dim, int threads, double *norm,
                 double *mean, double *centered_norm, hp_err *err);

/* Norm against frequency over the rows with a nonzero count (the unseen ones are
 * summarised apart, never mixed in): the three correlations of norm with log10(count),
 * and the norm summarised over log-spaced count bins. */
typedef struct hp_norm_freq {
    size_t n_seen, n_unseen;
    hp_correlation spearman, kendall, pearson;
    hp_log_bin *bins; /* over the count, bins_per_decade per factor of 10 */
    size_t n_bins;
    double mean_seen, median_seen, mean_unseen, median_unseen; /* NaN when none */
} hp_norm_freq;

int hp_norm_vs_freq(const double *norm, const int64_t *counts, size_t n, int bins_per_decade,
                    hp_norm_freq *out, hp_err *err);
void hp_norm_freq_free(hp_norm_freq *nf);

/* Word groups: a text file, one group per line, its name then its words, separated by
 * spaces or tabs; blank lines and lines starting with '#' are skipped. */
typedef struct hp_word_group {
    char *name;
    char **words;
    size_t n_words;
} hp_word_group;

int hp_word_groups_load(const char *path, hp_word_group **groups, size_t *n_groups,
                        hp_err *err);
void hp_word_groups_free(hp_word_group *groups, size_t n_groups);

/* The token a word stands for in running text: the vocabulary entry of its word-initial
 * form, "\xe2\x96\x81" + word (SentencePiece's U+2581), then "\xc4\xa0" + word (byte-level
 * BPE's U+0120), then the bare word; -1 when none exists (the word is split into several
 * tokens, and no single row represents it). */
int32_t hp_word_token(const hp_tokenizer *t, const char *word);

#endif

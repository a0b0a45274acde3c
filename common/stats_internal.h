/* Internals shared by stats.c and stats_rank.c (not installed). */
#ifndef HYPLORA_STATS_INTERNAL_H
#define HYPLORA_STATS_INTERNAL_H

#include <stddef.h>

#include "hyplora/error.h"
#include "hyplora/stats.h"

/* Checks the pairs a correlation gets (arrays present, n >= min_n, every value finite)
 * and starts *out: n set, r, p_value and statistic_z NaN, `constant` set when x or y is
 * constant. Returns 0 or -1 with a message naming the method and the pair. */
int hp_stats_begin(const char *method, const double *x, const double *y, size_t n,
                   size_t min_n, hp_correlation *out, hp_err *err);

/* Sets r (clipped to [-1, 1]), the t statistic with n-2 degrees of freedom and its
 * two-sided p-value: P(|T| >= |t|) = I_{1-r^2}((n-2)/2, 1/2), which is both pearsonr's beta
 * law of r and spearmanr's Student t. Needs out->n >= 3. */
void hp_stats_t_test(hp_correlation *out, double r);

#endif

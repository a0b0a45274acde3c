/* Statistics for "norm versus frequency": Pearson, Spearman and Kendall correlations with
 * the p-values scipy.stats computes (scipy 1.10, two-sided, default methods), average
 * ranks, numpy's default quantile, and summaries of y over log-spaced bins of x.
 * Methods, tie handling and agreement with scipy: docs/statistics.md.
 *
 * Bad input (NULL arrays, too few pairs, NaN or infinite values) fails through hp_err.
 * A constant x or y is not a failure: scipy returns NaN there (with a warning), and so do
 * we, with the `constant` field saying which input was constant, so a caller can report
 * "undefined" for that pair and go on:
 *
 *     hp_correlation c;
 *     if (hp_spearman(lognorm, logfreq, n, &c, &err) != 0) ... // bad input: err.msg
 *     if (c.constant) ...                                   // r, p are NaN: undefined
 *     printf("rho %.4f p %.3g\n", c.r, c.p_value);
 */
#ifndef HYPLORA_STATS_H
#define HYPLORA_STATS_H

#include <stddef.h>

#include "hyplora/error.h"

/* Bits of hp_correlation.constant */
#define HP_STATS_CONSTANT_X 1
#define HP_STATS_CONSTANT_Y 2

typedef struct hp_correlation {
    double r;           /* the coefficient: Pearson r, Spearman rho or Kendall tau-b */
    double p_value;     /* two-sided, H0: no association, as scipy.stats computes it */
    double statistic_z; /* Pearson, Spearman: t = r sqrt((n-2) / (1 - r^2)), n-2 degrees of
                           freedom (+-inf when |r| = 1, NaN when n = 2); Kendall: the normal
                           z = (C - D) / sqrt(Var(C - D)) with the tie-corrected variance,
                           computed even when p_value is exact */
    size_t n;
    int constant;       /* 0, or HP_STATS_CONSTANT_X | HP_STATS_CONSTANT_Y: that input is
                           constant, the coefficient undefined, and r, p_value and
                           statistic_z are NaN (scipy: NaN and ConstantInputWarning) */
    int p_exact;        /* Kendall: 1 when p_value is the exact permutation probability
                           (no ties and n <= 33, or at most one discordant/concordant pair),
                           0 when it is the normal approximation; 0 for the others */
} hp_correlation;

/* Pearson's r; p from r's exact null distribution for normal data (Student t, n-2 degrees
 * of freedom), as scipy.stats.pearsonr. Needs n >= 2 (n = 2: r = +-1, p = 1, as scipy). */
int hp_pearson(const double *x, const double *y, size_t n, hp_correlation *out, hp_err *err);

/* Spearman's rho: Pearson's r of the average ranks; p from Student t with n-2 degrees of
 * freedom, as scipy.stats.spearmanr. Needs n >= 3. */
int hp_spearman(const double *x, const double *y, size_t n, hp_correlation *out, hp_err *err);

/* Kendall's tau-b with ties, in O(n log n) (Knight's merge sort); p exact or asymptotic
 * as scipy.stats.kendalltau(method='auto'). Needs n >= 2. */
int hp_kendall_tau(const double *x, const double *y, size_t n, hp_correlation *out, hp_err *err);

/* Ranks 1..n of v, tied values sharing the average of their ranks (scipy.stats.rankdata's
 * default), into ranks[n]. Fails on NaN (no order) or allocation. */
int hp_rank_average(const double *v, size_t n, double *ranks, hp_err *err);

/* numpy.quantile's default ("linear") on sorted data: with h = (n-1) q, the value at floor(h)
 * moved toward the next one by h - floor(h), rounded as numpy rounds it. NaN when n = 0 or
 * q is outside [0, 1]. */
double hp_quantile_sorted(const double *sorted, size_t n, double q);

/* Summary of y over bins of x with log-spaced edges 10^(k/bins_per_decade) (x > 0): bin k
 * holds lo = 10^(k/b) <= x < hi = 10^((k+1)/b). Bins run from the one holding min x to the
 * one holding max x, empty ones included (count 0, statistics NaN); quartiles and median by
 * hp_quantile_sorted. *bins is malloc'ed: the caller frees it. Fails on x <= 0, non-finite
 * x or y, n = 0, bins_per_decade < 1 or more than 10^7 bins. */
typedef struct hp_log_bin {
    double lo, hi;
    size_t count;
    double mean, median, q25, q75, min, max;
} hp_log_bin;
int hp_log_bins(const double *x, const double *y, size_t n, int bins_per_decade,
                hp_log_bin **bins, size_t *n_bins, hp_err *err);

#endif

/* Internals shared by powerlaw*.c (not installed): the sorted, run-length form of a data
 * set that every fit works on, the per-xmin MLE and KS distance, and the xmin scan. */
#ifndef HYPLORA_POWERLAW_INTERNAL_H
#define HYPLORA_POWERLAW_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/powerlaw.h"

/* Distinct values in increasing order with their multiplicities, and suffix sums:
 * suf_n[j] = sum_{k>=j} cnt[k], suf_log[j] = sum_{k>=j} cnt[k] ln u[k] (K+1 entries). */
typedef struct pl_data {
    size_t n, K, cap;
    double *u, *lnu, *cnt, *suf_n, *suf_log;
} pl_data;

int pl_data_alloc(pl_data *d, size_t cap, hp_err *err);
void pl_data_free(pl_data *d);
/* Fills d from sorted values (d must have capacity for the distinct ones). */
void pl_data_from_sorted(pl_data *d, const double *sorted, size_t n);
/* Computes lnu and the suffix sums once u, cnt, K and n are set. */
void pl_data_finish(pl_data *d);
/* Index of the first distinct value >= x (K when none). */
size_t pl_data_lower(const pl_data *d, double x);

/* MLE alpha of a discrete tail of nt values with sum of logs slog and lower bound xmin,
 * Newton from `start` (<= 1: a default start). */
double pl_discrete_alpha(double nt, double slog, double xmin, double start);
double pl_continuous_alpha(double nt, double slog, double xmin);

/* KS distance of the tail starting at distinct index j (values >= xmin; xmin <= u[j])
 * under the law with this alpha. Stops early and returns a value >= bound as soon as the
 * distance is known to be >= bound (pass INFINITY for the exact distance). */
double pl_ks_discrete(const pl_data *d, size_t j, double xmin, double alpha, double bound,
                      int every_integer);
double pl_ks_continuous(const pl_data *d, size_t j, double xmin, double alpha, double bound);

/* Log-likelihood of the tail from index j with lower bound xmin. */
double pl_loglik(const pl_data *d, size_t j, int discrete, double alpha, double xmin);

/* Fits d with opt (kind already resolved in `discrete`). When keep is nonzero the scan
 * arrays of out are filled (exact distances); otherwise candidates stop early. Fills
 * alpha, xmin, ks_distance, n_tail, sigma, log_likelihood of out. */
int pl_fit(const pl_data *d, int discrete, const hp_powerlaw_options *opt, int keep,
           hp_powerlaw_fit *out, hp_err *err);



/* Sorts n positive finite doubles (LSD radix sort on their bit patterns, which order
 * like the values); tmp has room for n. The result ends up in x. */
void pl_sort_positive(double *x, double *tmp, size_t n);
#endif

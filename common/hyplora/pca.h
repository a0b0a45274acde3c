/* Principal components of a float32 matrix (for example a model's token embedding, up to
 * 128256 x 4096), by randomized block Krylov iteration on the implicitly centred matrix:
 * the matrix is read, never copied or centred in memory, and nothing d x d or n x n is
 * formed. See docs/pca.md for the method, the number of passes and the measured accuracy. */
#ifndef HYPLORA_PCA_H
#define HYPLORA_PCA_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"

/* Most components (and most extra subspace columns) a fit takes: the method is for a few
 * leading directions, and its small l x l matrices live on the stack. */
#define HP_PCA_MAX_COMPONENTS 16

typedef struct hp_pca_options {
    int n_components; /* k, default 2 */
    int oversample;   /* extra subspace columns, default 8: l = k + oversample (at most dim) */
    int iterations;   /* most passes over the rows, default 12; the fit stops earlier once
                       * every component's angle bound is below `tolerance` (docs/pca.md) */
    double tolerance; /* stop when every component's bound on sin(angle) to the true
                       * eigenvector is below this; default 1e-7 (the float32 floor). 1e-4 is
                       * plenty for a 2-D picture and explained-variance ratios, in fewer
                       * passes. Need 0 < tolerance <= 1 */
    int project;      /* nonzero: also fill out->coords with the coordinates of the fitted rows,
                       * from the fit's own passes (no extra pass over the matrix) */
    uint64_t seed;    /* Gaussian start; default 0. Same seed, same threads: same bits */
    int threads;      /* worker threads, 0: all cores. They take fixed row chunks with their
                       * own sums, reduced in order, so any thread count gives the same bits */
} hp_pca_options;

void hp_pca_options_init(hp_pca_options *opt);

typedef struct hp_pca {
    int k;
    size_t dim;
    double *mean;            /* dim */
    double *components;      /* k x dim, row-major, unit length, sign fixed so the largest
                              * |coefficient| is positive */
    double *variance;        /* k eigenvalues of the covariance (divisor n-1), decreasing */
    double total_variance;   /* trace of the covariance */
    double *explained_ratio; /* variance / total_variance */
    /* How the fit went (beyond the brief's fields; zero cost): */
    int passes;              /* passes made over the rows */
    double angle_bound;      /* largest a posteriori bound on sin(angle) between a returned
                              * component and the true eigenvector: residual / gap */
    double *coords;          /* with opt->project: n x k row-major, what hp_pca_project gives
                              * for the fitted rows; else NULL */
    size_t n;                /* rows fitted */
} hp_pca;

/* Fits the top k principal components of the n x dim row-major float32 matrix `rows`.
 * opt may be NULL (defaults). Needs n >= 2, dim >= 1, 1 <= k <= min(n, dim) and finite
 * values. On failure *out is left empty (safe to hp_pca_free). */
int hp_pca_fit(const float *rows, size_t n, size_t dim, const hp_pca_options *opt, hp_pca *out,
               hp_err *err);

/* coords: n x k row-major, of (row - mean) projected on the components; on all cores. */
int hp_pca_project(const hp_pca *p, const float *rows, size_t n, double *coords, hp_err *err);

void hp_pca_free(hp_pca *p);

#endif

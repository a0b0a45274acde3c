/* Gromov δ-hyperbolicity of a finite metric space (docs/delta.md).
 *
 * With a base point w and the Gromov products (x|y)_w = (d(x,w) + d(y,w) - d(x,y)) / 2, the
 * fixed-base δ is δ_w = max over x, y, z of min((x|z)_w, (z|y)_w) - (x|y)_w, a (max, min)
 * matrix product of the product matrix with itself (Khrulkov et al. 2020); the four-point δ
 * of the space is the largest δ_w over all base points (δ_w <= δ <= 2 δ_w for any one w).
 * Relative δ: δ_rel = 2 δ / diam.
 *
 * The kernel runs on float32 products, over all threads, after a 16-bit pass that leaves
 * only the pairs which can hold the maximum (docs/delta.md). Only the products are rounded,
 * the selections are exact, so the float result is within 2^-23 * max |(x|y)_w| of the
 * exact one; when that bound is more than 1e-5 of δ (δ near zero) the δ is computed again
 * in double. Integer distances (graphs) round no product: their float δ is exact. */
#ifndef HYPLORA_DELTA_H
#define HYPLORA_DELTA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/progress.h"

typedef enum hp_distance {
    HP_DISTANCE_EUCLIDEAN, /* |x - y| */
    HP_DISTANCE_COSINE,    /* 1 - cos(x, y) (not a metric: δ of it is still defined) */
    HP_DISTANCE_ANGULAR,   /* arccos(cos(x, y)), the great-circle distance on the unit sphere */
} hp_distance;

typedef struct hp_delta_options {
    int threads;           /* <= 0: all cores */
    bool force_double;     /* skip the float32 kernel (for checking it) */
    hp_progress *progress; /* hp_delta_exact: base points done out of n; may be NULL */
} hp_delta_options;

typedef struct hp_delta_result {
    double delta;     /* δ_w for the base point, or the four-point δ when exact */
    double diameter;  /* the largest distance */
    double delta_rel; /* 2 δ / diameter (0 when the diameter is 0) */
    size_t base;      /* the base point used, or the one attaining the maximum when exact */
    bool exact;
    bool used_double; /* the float32 bound was too loose and δ was recomputed in double */
} hp_delta_result;

/* The n x n distance matrix D (row-major, double) of the rows of X [n, dim] (float32).
 * Euclidean distances come from the Gram matrix (one dgemm), with round-off guarded: the
 * diagonal is exactly 0 and no squared distance is negative. Fails on NaN or Inf in X, or a
 * zero row under the cosine or angular distance. */
int hp_delta_distances(const float *X, size_t n, size_t dim, hp_distance kind, double *D, hp_err *err);

/* Checks that D is a usable dissimilarity matrix: n >= 4, finite, non-negative, symmetric
 * (to 1e-9 relative), zero on the diagonal. The message names the first bad entry. */
int hp_delta_check(const double *D, size_t n, hp_err *err);

/* The fixed-base δ with base point `base`. */
int hp_delta_fixed_base(const double *D, size_t n, size_t base, const hp_delta_options *opt, hp_delta_result *r,
                        hp_err *err);

/* The four-point δ: the largest fixed-base δ over every base point. */
int hp_delta_exact(const double *D, size_t n, const hp_delta_options *opt, hp_delta_result *r, hp_err *err);

/* ---- many small point sets (the per-prompt and per-layer protocols) ---- */

/* The points of set i: fills buf (room for the largest set: n_points[i] rows of dim floats)
 * and returns it, or returns a pointer to the rows held elsewhere; NULL after setting err.
 * Called from several threads at once, for different sets. */
typedef const float *(*hp_delta_points_fn)(void *ctx, size_t set, float *buf, hp_err *err);

typedef struct hp_delta_sets_options {
    hp_distance distance;
    bool exact;           /* the four-point δ of each set; else the fixed base below */
    const size_t *base;   /* the base point of each set (NULL: point 0 of every set) */
    int threads;          /* <= 0: all cores */
    const char *noun;     /* errors name the set as "NOUN ID" ("set" when NULL) ... */
    const int64_t *ids;   /* ... with ids[i] (NULL: i) */
    hp_progress *progress; /* sets done out of n_sets; may be NULL */
    size_t part, parts;    /* one share of the work among several processes: only sets i with
                              i % parts == part are measured, the other out[i] are left as they
                              are (parts 0 or 1: every set) */
} hp_delta_sets_options;

/* δ of each of n_sets point sets into out[i]: set i is n_points[i] (>= 4) rows of dim
 * float32 values given by points(); distances as hp_delta_distances. Each set runs on one
 * thread with buffers reused between sets, the threads sharing the sets, so many small sets
 * (prompts of a few hundred tokens) go at the speed of one large one. The results do not
 * depend on the thread count, nor on the share: the shares together give the whole. */
int hp_delta_sets(size_t n_sets, const size_t *n_points, size_t dim, hp_delta_points_fn points, void *ctx,
                  const hp_delta_sets_options *opt, hp_delta_result *out, hp_err *err);

#endif

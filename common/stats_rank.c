/* The rank correlations: average ranks, Spearman's rho, and Kendall's tau-b in O(n log n)
 * after Knight (1966), "A computer method for calculating Kendall's tau with ungrouped
 * data", JASA 61(314); p-values as scipy.stats computes them (docs/statistics.md). */
#include "hyplora/stats.h"
#include "stats_internal.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

/* ---- average ranks ---- */

typedef struct indexed {
    double v;
    size_t i;
} indexed;

static int cmp_indexed(const void *a, const void *b)
{
    const indexed *p = a, *q = b;
    if (p->v != q->v)
        return p->v < q->v ? -1 : 1;
    return (p->i > q->i) - (p->i < q->i);
}

int hp_rank_average(const double *v, size_t n, double *ranks, hp_err *err)
{
    for (size_t i = 0; i < n; i++)
        if (isnan(v[i]))
            return hp_fail(err, "ranks: value %zu is NaN, which has no rank", i + 1);
    indexed *s = hp_malloc(n * sizeof *s, "the ranking", err);
    if (!s)
        return -1;
    for (size_t i = 0; i < n; i++)
        s[i] = (indexed){v[i], i};
    qsort(s, n, sizeof *s, cmp_indexed);
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && s[hi].v == s[lo].v; hi++)
            ;
        double r = 0.5 * (double)(lo + 1 + hi); /* mean of the ranks lo+1 .. hi */
        for (size_t k = lo; k < hi; k++)
            ranks[s[k].i] = r;
    }
    free(s);
    return 0;
}

/* ---- Spearman ---- */

int hp_spearman(const double *x, const double *y, size_t n, hp_correlation *out, hp_err *err)
{
    if (hp_stats_begin("Spearman", x, y, n, 3, out, err) != 0)
        return -1;
    if (out->constant)
        return 0;
    double *rx = hp_malloc(2 * n * sizeof *rx, "the Spearman ranks", err), *ry = rx + n;
    if (!rx)
        return -1;
    if (hp_rank_average(x, n, rx, err) != 0 || hp_rank_average(y, n, ry, err) != 0) {
        free(rx);
        return -1;
    }
    /* numpy.corrcoef's arithmetic, step for step: the ranks' mean is (n+1)/2 exactly and
     * the centred ranks are multiples of 1/2, so the sums below are exact (n < 2.8e5) and
     * the rounding that follows is numpy's. This matters for monotone data, where numpy's
     * rho is 1 - 2^-53 rather than 1, and scipy's p is tiny rather than 0. */
    double mean = 0.5 * ((double)n + 1);
    long double sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        double dx = rx[i] - mean, dy = ry[i] - mean;
        sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
    }
    free(rx);
    double f = 1.0 / ((double)n - 1);
    double vxy = (double)sxy * f, vxx = (double)sxx * f, vyy = (double)syy * f;
    hp_stats_t_test(out, vxy / sqrt(vxx) / sqrt(vyy));
    return 0;
}

/* ---- Kendall ---- */

typedef struct xy {
    double x, y;
} xy;

static int cmp_xy(const void *a, const void *b)
{
    const xy *p = a, *q = b;
    if (p->x != q->x)
        return p->x < q->x ? -1 : 1;
    return (p->y > q->y) - (p->y < q->y);
}

/* Merge-sorts y (bottom-up, buf as scratch) and returns the number of pairs i < j with
 * y[i] > y[j]: sorted by x first, these are the discordant pairs. Equal y are not counted
 * (the left one is taken first), nor are pairs tied in x (sorted by y within a tie).
 * *sorted is set to whichever of y, buf holds the result. */
static uint64_t count_inversions(double *y, double *buf, size_t n, double **sorted)
{
    uint64_t inv = 0;
    double *src = y, *dst = buf;
    for (size_t w = 1; w < n; w *= 2) {
        for (size_t lo = 0; lo < n; lo += 2 * w) {
            size_t mid = lo + w < n ? lo + w : n, hi = lo + 2 * w < n ? lo + 2 * w : n;
            size_t i = lo, j = mid, k = lo;
            while (i < mid && j < hi) {
                if (src[j] < src[i]) {
                    inv += mid - i; /* src[j] is below every remaining left value */
                    dst[k++] = src[j++];
                } else {
                    dst[k++] = src[i++];
                }
            }
            while (i < mid)
                dst[k++] = src[i++];
            while (j < hi)
                dst[k++] = src[j++];
        }
        double *t = src;
        src = dst, dst = t;
    }
    *sorted = src;
    return inv;
}

/* Tie statistics of a sorted array: sum over runs of t equal values of t(t-1)/2 (the tied
 * pairs), t(t-1)(t-2) and t(t-1)(2t+5) (the variance corrections). */
typedef struct ties {
    uint64_t pairs;
    double v0, v1;
} ties;

static void add_run(ties *t, size_t len)
{
    double c = (double)len;
    t->pairs += (uint64_t)len * (len - 1) / 2;
    t->v0 += c * (c - 1) * (c - 2);
    t->v1 += c * (c - 1) * (2 * c + 5);
}

static ties tie_stats(const double *s, size_t n)
{
    ties t = {0, 0, 0};
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && s[hi] == s[lo]; hi++)
            ;
        if (hi - lo > 1)
            add_run(&t, hi - lo);
    }
    return t;
}

/* Pairs tied in both x and y, from the pairs sorted by (x, y) */
static uint64_t joint_tie_pairs(const xy *p, size_t n)
{
    uint64_t pairs = 0;
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && p[hi].x == p[lo].x && p[hi].y == p[lo].y; hi++)
            ;
        pairs += (uint64_t)(hi - lo) * (hi - lo - 1) / 2;
    }
    return pairs;
}

/* n! in floating point (n <= 170) */
static double factorial(size_t n)
{
    double f = 1;
    for (size_t k = 2; k <= n; k++)
        f *= (double)k;
    return f;
}

/* Two-sided exact p without ties: 2 P(C <= c) for the number C of concordant pairs of a
 * random permutation, c the smaller of the concordant and discordant counts. P(C = k) is
 * M(n, k) / n!, M(n, k) the permutations of n with k inversions, which obey
 * M(j, k) = sum_{i=0}^{min(k, j-1)} M(j-1, k-i): a prefix-sum recurrence over j. Used for
 * n <= 33 (M < 33! fits a double's range) and, for any n, c <= 1 in closed form. */
static double kendall_exact_p(size_t n, uint64_t c, hp_err *err)
{
    uint64_t tot = (uint64_t)n * (n - 1) / 2;
    if (n == 2)
        return 1;
    if (c == 0)
        return n < 171 ? 2 / factorial(n) : 0;
    if (c == 1) /* M(n, 0) + M(n, 1) = n */
        return n < 172 ? 2 / factorial(n - 1) : 0;
    if (4 * c == 2 * tot) /* c at the centre: the whole distribution */
        return 1;
    double *m = hp_calloc(2 * (c + 1), sizeof *m, "the exact Kendall distribution", err);
    if (!m)
        return NAN;
    double *g = m + c + 1;
    m[0] = m[1] = 1; /* j = 2 */
    for (size_t j = 3; j <= n; j++) {
        double run = 0;
        for (uint64_t k = 0; k <= c; k++)
            g[k] = run += m[k];
        for (uint64_t k = 0; k <= c; k++)
            m[k] = g[k] - (k >= j ? g[k - j] : 0);
    }
    double sum = 0;
    for (uint64_t k = 0; k <= c; k++)
        sum += m[k];
    free(m);
    return fmin(1, 2 * sum / factorial(n));
}

/* Var(C - D) under H0 with ties (Kendall, "Rank Correlation Methods"), term for term as
 * scipy sums it */
static double kendall_variance(size_t n, ties tx, ties ty)
{
    double N = (double)n, m = N * (N - 1);
    double var = (m * (2 * N + 5) - tx.v1 - ty.v1) / 18 +
                 (double)(2.0L * tx.pairs * ty.pairs) / m;
    if (n > 2) /* the last term is 0/0 at n = 2, where v0 = 0 */
        var += tx.v0 * ty.v0 / (9 * m * (N - 2));
    return var;
}

/* Counts discordant pairs and the ties of x, y and both, from the pairs sorted by (x, y).
 * On return ys holds y sorted. */
static int kendall_counts(xy *p, size_t n, uint64_t *dis, ties *tx, ties *ty, uint64_t *joint,
                          hp_err *err)
{
    qsort(p, n, sizeof *p, cmp_xy);
    double *ys = hp_malloc(2 * n * sizeof *ys, "the Kendall merge sort", err), *sorted;
    if (!ys)
        return -1;
    *tx = (ties){0, 0, 0};
    for (size_t i = 0; i < n; i++)
        ys[i] = p[i].y;
    for (size_t lo = 0, hi; lo < n; lo = hi) {
        for (hi = lo + 1; hi < n && p[hi].x == p[lo].x; hi++)
            ;
        if (hi - lo > 1)
            add_run(tx, hi - lo);
    }
    *joint = joint_tie_pairs(p, n);
    *dis = count_inversions(ys, ys + n, n, &sorted);
    *ty = tie_stats(sorted, n);
    free(ys);
    return 0;
}

int hp_kendall_tau(const double *x, const double *y, size_t n, hp_correlation *out, hp_err *err)
{
    if (hp_stats_begin("Kendall", x, y, n, 2, out, err) != 0)
        return -1;
    if (out->constant)
        return 0;
    xy *p = hp_malloc(n * sizeof *p, "the Kendall pairs", err);
    if (!p)
        return -1;
    for (size_t i = 0; i < n; i++)
        p[i] = (xy){x[i], y[i]};
    uint64_t dis, joint;
    ties tx, ty;
    int rc = kendall_counts(p, n, &dis, &tx, &ty, &joint, err);
    free(p);
    if (rc != 0)
        return -1;
    /* tot = C + D + (x ties only) + (y ties only) + (joint ties) */
    uint64_t tot = (uint64_t)n * (n - 1) / 2;
    int64_t s = (int64_t)(tot - tx.pairs - ty.pairs + joint) - 2 * (int64_t)dis; /* C - D */
    double tau = (double)s / sqrt((double)(tot - tx.pairs)) / sqrt((double)(tot - ty.pairs));
    out->r = fmin(1, fmax(-1, tau));
    out->statistic_z = (double)s / sqrt(kendall_variance(n, tx, ty));
    int no_ties = tx.pairs == 0 && ty.pairs == 0;
    uint64_t few = dis < tot - dis ? dis : tot - dis;
    if (no_ties && (n <= 33 || few <= 1)) {
        out->p_exact = 1;
        out->p_value = kendall_exact_p(n, few, err);
        return isnan(out->p_value) ? -1 : 0;
    }
    out->p_value = erfc(fabs(out->statistic_z) * M_SQRT1_2);
    return 0;
}

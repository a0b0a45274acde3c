/* Pearson's r with its p-value, numpy's linear quantile and log-binned summaries
 * (docs/statistics.md). The rank correlations are in stats_rank.c. */
#include "hyplora/stats.h"
#include "numerics.h"
#include "stats_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- shared by the correlations ---- */

static int all_equal(const double *v, size_t n)
{
    for (size_t i = 1; i < n; i++)
        if (v[i] != v[0])
            return 0;
    return 1;
}

int hp_stats_begin(const char *method, const double *x, const double *y, size_t n,
                   size_t min_n, hp_correlation *out, hp_err *err)
{
    memset(out, 0, sizeof *out);
    out->n = n;
    out->r = out->p_value = out->statistic_z = NAN;
    if (n < min_n)
        return hp_fail(err, "%s correlation of %zu pair%s: it needs at least %zu", method, n,
                       n == 1 ? "" : "s", min_n);
    if (!x || !y)
        return hp_fail(err, "%s correlation: the %s array is missing (NULL)", method,
                       x ? "y" : "x");
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]) || !isfinite(y[i]))
            return hp_fail(err, "%s correlation: pair %zu has %s = %g: every value must be "
                                "finite",
                           method, i + 1, isfinite(x[i]) ? "y" : "x",
                           isfinite(x[i]) ? y[i] : x[i]);
    out->constant = (all_equal(x, n) ? HP_STATS_CONSTANT_X : 0) |
                    (all_equal(y, n) ? HP_STATS_CONSTANT_Y : 0);
    return 0;
}

void hp_stats_t_test(hp_correlation *out, double r)
{
    r = fmin(1, fmax(-1, r)); /* rounding can step just outside */
    double df = (double)out->n - 2, a = fabs(r);
    out->r = r;
    if (a == 1) {
        out->statistic_z = copysign(INFINITY, r);
        out->p_value = 0;
        return;
    }
    /* 1 - r^2 as (1-|r|)(1+|r|) keeps its digits when |r| is near 1 */
    double x = (1 - a) * (1 + a);
    out->statistic_z = r * sqrt(df / x);
    out->p_value = hp_betainc_xy(df / 2, 0.5, x, a * a);
}

/* ---- Pearson ---- */

int hp_pearson(const double *x, const double *y, size_t n, hp_correlation *out, hp_err *err)
{
    if (hp_stats_begin("Pearson", x, y, n, 2, out, err) != 0)
        return -1;
    if (out->constant)
        return 0;
    if (n == 2) { /* a line through two points: scipy gives r = +-1, p = 1 */
        out->r = (x[1] > x[0] ? 1 : -1) * (y[1] > y[0] ? 1 : -1);
        out->p_value = 1;
        return 0;
    }
    /* Two passes in long double: the centred sums neither lose digits to the mean nor
     * overflow for values up to DBL_MAX (the 80-bit exponent range covers their squares). */
    long double mx = 0, my = 0;
    for (size_t i = 0; i < n; i++)
        mx += x[i], my += y[i];
    mx /= n, my /= n;
    long double sxx = 0, syy = 0, sxy = 0;
    for (size_t i = 0; i < n; i++) {
        long double dx = x[i] - mx, dy = y[i] - my;
        sxx += dx * dx, syy += dy * dy, sxy += dx * dy;
    }
    hp_stats_t_test(out, (double)(sxy / sqrtl(sxx * syy)));
    return 0;
}

/* ---- quantiles ---- */

double hp_quantile_sorted(const double *sorted, size_t n, double q)
{
    if (n == 0 || !(q >= 0 && q <= 1))
        return NAN;
    double h = (double)(n - 1) * q;
    if (h >= (double)(n - 1))
        return sorted[n - 1];
    size_t lo = (size_t)h;
    double t = h - (double)lo, a = sorted[lo], b = sorted[lo + 1], d = b - a;
    /* numpy's _lerp: from the nearer end, so that t = 1 gives b exactly */
    return t >= 0.5 ? b - d * (1 - t) : a + d * t;
}

/* ---- log bins ---- */

static double log_edge(long k, int per_decade)
{
    return pow(10.0, (double)k / per_decade);
}

/* The k with edge(k) <= x < edge(k+1): floor(b log10 x), corrected against the edges
 * themselves so that a value on an edge lands where a comparison with edge() puts it. */
static long log_bin_of(double x, int per_decade)
{
    long k = (long)floor(log10(x) * per_decade);
    while (x < log_edge(k, per_decade))
        k--;
    while (x >= log_edge(k + 1, per_decade))
        k++;
    return k;
}

static int cmp_double(const void *a, const void *b)
{
    double u = *(const double *)a, v = *(const double *)b;
    return (u > v) - (u < v);
}

static void summarise_bin(hp_log_bin *bin, double *ys)
{
    if (bin->count == 0) {
        bin->mean = bin->median = bin->q25 = bin->q75 = bin->min = bin->max = NAN;
        return;
    }
    qsort(ys, bin->count, sizeof *ys, cmp_double);
    long double sum = 0;
    for (size_t i = 0; i < bin->count; i++)
        sum += ys[i];
    bin->mean = (double)(sum / bin->count);
    bin->median = hp_quantile_sorted(ys, bin->count, 0.5);
    bin->q25 = hp_quantile_sorted(ys, bin->count, 0.25);
    bin->q75 = hp_quantile_sorted(ys, bin->count, 0.75);
    bin->min = ys[0];
    bin->max = ys[bin->count - 1];
}

static int check_bin_input(const double *x, const double *y, size_t n, int per_decade,
                           hp_err *err)
{
    if (per_decade < 1)
        return hp_fail(err, "log bins: %d bins per decade: it must be at least 1", per_decade);
    if (n == 0)
        return hp_fail(err, "log bins: no values to bin");
    if (!x || !y)
        return hp_fail(err, "log bins: the %s array is missing (NULL)", x ? "y" : "x");
    for (size_t i = 0; i < n; i++) {
        if (!(x[i] > 0) || !isfinite(x[i]))
            return hp_fail(err, "log bins: x[%zu] = %g: x must be finite and > 0 for log bins",
                           i, x[i]);
        if (!isfinite(y[i]))
            return hp_fail(err, "log bins: y[%zu] = %g: y must be finite", i, y[i]);
    }
    return 0;
}

int hp_log_bins(const double *x, const double *y, size_t n, int bins_per_decade,
                hp_log_bin **bins, size_t *n_bins, hp_err *err)
{
    *bins = NULL;
    *n_bins = 0;
    if (check_bin_input(x, y, n, bins_per_decade, err) != 0)
        return -1;
    double xmin = x[0], xmax = x[0];
    for (size_t i = 1; i < n; i++)
        xmin = fmin(xmin, x[i]), xmax = fmax(xmax, x[i]);
    long k0 = log_bin_of(xmin, bins_per_decade), k1 = log_bin_of(xmax, bins_per_decade);
    if (k1 - k0 >= 10000000)
        return hp_fail(err, "log bins: x from %g to %g at %d per decade makes %ld bins: at most "
                            "10^7", xmin, xmax, bins_per_decade, k1 - k0 + 1);
    size_t nb = (size_t)(k1 - k0 + 1);
    hp_log_bin *b = hp_calloc(nb, sizeof *b, "the log bins", err);
    size_t *bin_of = hp_malloc(n * sizeof *bin_of, "the bin of each value", err);
    size_t *start = hp_calloc(nb + 1, sizeof *start, "the bin offsets", err);
    double *ys = hp_malloc(n * sizeof *ys, "the values by bin", err);
    if (!b || !bin_of || !start || !ys) {
        free(b), free(bin_of), free(start), free(ys);
        return -1;
    }
    /* counting sort of y by bin, then each bin's slice sorted for its quantiles */
    for (size_t i = 0; i < n; i++) {
        bin_of[i] = (size_t)(log_bin_of(x[i], bins_per_decade) - k0);
        b[bin_of[i]].count++;
    }
    for (size_t j = 0; j < nb; j++)
        start[j + 1] = start[j] + b[j].count;
    for (size_t i = 0; i < n; i++)
        ys[start[bin_of[i]]++] = y[i];
    for (size_t j = 0; j < nb; j++) {
        b[j].lo = log_edge(k0 + (long)j, bins_per_decade);
        b[j].hi = log_edge(k0 + (long)j + 1, bins_per_decade);
        summarise_bin(&b[j], ys + start[j] - b[j].count);
    }
    free(bin_of), free(start), free(ys);
    *bins = b;
    *n_bins = nb;
    return 0;
}

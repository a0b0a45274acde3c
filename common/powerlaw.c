/* Power-law fits (Clauset, Shalizi & Newman 2009): the discrete and continuous MLE, the
 * KS distance, and the exact xmin scan over every distinct candidate. docs/powerlaw.md
 * gives the formulas; this file follows them in its comments. */
#include "hyplora/powerlaw.h"
#include "powerlaw_internal.h"
#include "zeta_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void hp_powerlaw_options_init(hp_powerlaw_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->kind = HP_POWERLAW_AUTO;
    opt->xmin = 0;
    opt->xmin_lo = 0;
    opt->xmin_hi = INFINITY;
    opt->keep_scan = 1;
    opt->finite_size_correction = 0;
}

/* ---- sorting and the run-length form ---- */

void pl_sort_positive(double *x, double *tmp, size_t n)
{
    if (n < 64) { /* insertion sort */
        for (size_t i = 1; i < n; i++) {
            double v = x[i];
            size_t k = i;
            while (k > 0 && x[k - 1] > v) {
                x[k] = x[k - 1];
                k--;
            }
            x[k] = v;
        }
        return;
    }
    /* positive doubles order like their bit patterns as unsigned integers */
    static const int BITS = 11, PASSES = 6; /* 66 >= 64 bits */
    size_t hist[6][2048];
    memset(hist, 0, sizeof hist);
    uint64_t *a = (uint64_t *)(void *)x, *b = (uint64_t *)(void *)tmp;
    for (size_t i = 0; i < n; i++) {
        uint64_t k = a[i];
        for (int p = 0; p < PASSES; p++)
            hist[p][(k >> (p * BITS)) & 2047]++;
    }
    for (int p = 0; p < PASSES; p++) {
        size_t *h = hist[p];
        int trivial = 0;
        for (int v = 0; v < 2048; v++)
            if (h[v] == n) {
                trivial = 1;
                break;
            }
        if (trivial)
            continue;
        size_t sum = 0;
        for (int v = 0; v < 2048; v++) {
            size_t c = h[v];
            h[v] = sum;
            sum += c;
        }
        for (size_t i = 0; i < n; i++)
            b[h[(a[i] >> (p * BITS)) & 2047]++] = a[i];
        uint64_t *t = a;
        a = b, b = t;
    }
    if ((void *)a != (void *)x)
        memcpy(x, a, n * sizeof *x);
}

int pl_data_alloc(pl_data *d, size_t cap, hp_err *err)
{
    memset(d, 0, sizeof *d);
    d->cap = cap;
    d->u = hp_malloc(cap * sizeof(double), "the distinct values", err);
    d->lnu = hp_malloc(cap * sizeof(double), "their logarithms", err);
    d->cnt = hp_malloc(cap * sizeof(double), "their counts", err);
    d->suf_n = hp_malloc((cap + 1) * sizeof(double), "tail sizes", err);
    d->suf_log = hp_malloc((cap + 1) * sizeof(double), "tail log sums", err);
    if (!d->u || !d->lnu || !d->cnt || !d->suf_n || !d->suf_log) {
        pl_data_free(d);
        return -1;
    }
    return 0;
}

void pl_data_free(pl_data *d)
{
    free(d->u);
    free(d->lnu);
    free(d->cnt);
    free(d->suf_n);
    free(d->suf_log);
    memset(d, 0, sizeof *d);
}

void pl_data_finish(pl_data *d)
{
    double sn = 0, sl = 0;
    d->suf_n[d->K] = 0;
    d->suf_log[d->K] = 0;
    for (size_t k = 0; k < d->K; k++)
        d->lnu[k] = log(d->u[k]);
    for (size_t k = d->K; k-- > 0;) {
        sn += d->cnt[k];
        sl += d->cnt[k] * d->lnu[k];
        d->suf_n[k] = sn;
        d->suf_log[k] = sl;
    }
}

void pl_data_from_sorted(pl_data *d, const double *s, size_t n)
{
    size_t K = 0;
    for (size_t i = 0; i < n;) {
        size_t e = i + 1;
        while (e < n && s[e] == s[i])
            e++;
        d->u[K] = s[i];
        d->cnt[K] = (double)(e - i);
        K++;
        i = e;
    }
    d->K = K;
    d->n = n;
    pl_data_finish(d);
}

size_t pl_data_lower(const pl_data *d, double x)
{
    size_t lo = 0, hi = d->K;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->u[mid] < x)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* ---- maximum likelihood ---- */

/* Continuous: alpha = 1 + n / sum ln(x_i / xmin) (CSN eq. 3.1). */
double pl_continuous_alpha(double nt, double slog, double xmin)
{
    double excess = slog - nt * log(xmin);
    return excess > 0 ? 1 + nt / excess : INFINITY;
}

/* Discrete: maximise L(a) = -n ln zeta(a, xmin) - a sum ln x_i, i.e. solve
 * f(a) = zeta'(a)/zeta(a) + mean ln x = 0. f is increasing (f' = Var ln X under the law
 * > 0), so Newton's method safeguarded by the bracket [lo, hi] converges from any start. */
double pl_discrete_alpha(double nt, double slog, double xmin, double start)
{
    double m = slog / nt, lx = log(xmin);
    if (!(m - lx > 1e-15 * fmax(1, lx)))
        return INFINITY;
    double a = start;
    if (!(a > 1)) /* CSN's approximation (their eq. 3.7) as the start */
        a = xmin > 0.5 ? 1 + 1 / (m - log(xmin - 0.5)) : 1 + 1 / (m - lx);
    double lo = 1, hi = INFINITY;
    if (!(a > 1 + 1e-9))
        a = 1 + 1e-9;
    for (int it = 0; it < 200; it++) {
        double z[3];
        hp_zeta_scaled_d(a, xmin, lx, z);
        double r1 = z[1] / z[0], r2 = z[2] / z[0];
        double f = r1 + m, fp = r2 - r1 * r1;
        if (f == 0)
            return a;
        if (f < 0)
            lo = a;
        else
            hi = a;
        double next = a - f / (fp > 0 ? fp : 1e-300);
        if (!(next > lo && next < hi))
            next = isinf(hi) ? 1 + 2 * (a - 1) : 0.5 * (lo + hi);
        if (fabs(next - a) <= 1e-14 * a || hi - lo <= 1e-14 * a)
            return next;
        a = next;
    }
    return a;
}

/* ---- KS distances ---- */

/* Discrete, with Q(x) = P(X >= x) = zeta(a, x)/zeta(a, xmin): by default (as plfit)
 * D = max_k |S(X >= u_k) - Q(u_k)| over the distinct data values u_k >= xmin, i.e. the
 * empirical and fitted CDFs compared at x = u_k - 1. With every_integer, the supremum of
 * |S(x) - P(x)| over every whole x >= xmin (CSN's MATLAB code): between two distinct values
 * u_k < u_{k+1} the empirical CDF is flat and the fitted one rises, so the extremes are at
 * x = u_{k+1} - 1 (the term above) and at x = u_k: |S(X > u_k) - Q(u_k + 1)|. zeta(a, u) walks up the data:
 * zeta(a, u+1) = zeta(a, u) - u^-a when the next value is u+1, otherwise it is evaluated
 * afresh (Euler-Maclaurin alone above 12: one exp). */
double pl_ks_discrete(const pl_data *d, size_t j, double xmin, double alpha, double bound,
                      int every_integer)
{
    double lx = log(xmin);
    double Z0 = hp_zeta_scaled(alpha, xmin, lx), inv_z0 = 1 / Z0;
    double inv_nt = 1 / d->suf_n[j], below = 0, D = 0;
    const double *u = d->u, *lnu = d->lnu, *cnt = d->cnt;
    size_t K = d->K;
    double Z = u[j] == xmin ? Z0
               : hp_zeta_em_ok(alpha, u[j]) ? hp_zeta_em_tail(alpha, u[j], lnu[j], lx)
                                            : hp_zeta_scaled(alpha, u[j], lx);
    for (size_t k = j; k < K; k++) {
        double dd = fabs(1 - below * inv_nt - Z * inv_z0);
        double t = exp(-alpha * (lnu[k] - lx));
        below += cnt[k];
        if (every_integer) {
            double sgt = k + 1 < K ? 1 - below * inv_nt : 0;
            double dd2 = fabs(sgt - (Z - t) * inv_z0);
            if (dd2 > dd)
                dd = dd2;
        }
        if (dd > D) {
            D = dd;
            if (D >= bound)
                return D;
        }
        if (k + 1 < K) {
            double v = u[k + 1];
            if (v == u[k] + 1)
                Z -= t;
            else if (hp_zeta_em_ok(alpha, v))
                Z = hp_zeta_em_tail(alpha, v, lnu[k + 1], lx);
            else
                Z = hp_zeta_scaled(alpha, v, lx);
        }
    }
    return D;
}

/* Continuous, as CSN's reference code and plfit define it: with the tail sorted,
 * D = max_i |F(x_(i)) - (i-1)/n|, F(x) = 1 - (x/xmin)^(1-a), i = 1..n (ties keep their
 * positions). For a run of c equal values after `below` smaller ones the extremes are at
 * i-1 = below and i-1 = below + c - 1. */
double pl_ks_continuous(const pl_data *d, size_t j, double xmin, double alpha, double bound)
{
    double lx = log(xmin), e = 1 - alpha;
    double inv_nt = 1 / d->suf_n[j], below = 0, D = 0;
    for (size_t k = j; k < d->K; k++) {
        double F = -expm1(e * (d->lnu[k] - lx));
        double a = fabs(F - below * inv_nt), b = fabs(F - (below + d->cnt[k] - 1) * inv_nt);
        double dd = a > b ? a : b;
        below += d->cnt[k];
        if (dd > D) {
            D = dd;
            if (D >= bound)
                return D;
        }
    }
    return D;
}

double pl_loglik(const pl_data *d, size_t j, int discrete, double alpha, double xmin)
{
    double nt = d->suf_n[j], slog = d->suf_log[j], lx = log(xmin);
    if (discrete) /* -n ln zeta(a, xmin) - a sum ln x */
        return -nt * (log(hp_zeta_scaled(alpha, xmin, lx)) - alpha * lx) - alpha * slog;
    /* n ln((a-1)/xmin) - a sum ln(x/xmin) */
    return nt * log((alpha - 1) / xmin) - alpha * (slog - nt * lx);
}

double hp_powerlaw_loglik(const double *x, size_t n, int discrete, double alpha, double xmin)
{
    double nt = 0, slog = 0, lx = log(xmin);
    for (size_t i = 0; i < n; i++)
        if (x[i] >= xmin)
            nt++, slog += log(x[i]);
    if (discrete)
        return -nt * (log(hp_zeta_scaled(alpha, xmin, lx)) - alpha * lx) - alpha * slog;
    return nt * log((alpha - 1) / xmin) - alpha * (slog - nt * lx);
}

/* ---- the fit ---- */

static double alpha_at(const pl_data *d, size_t j, int discrete, double xmin, double start)
{
    return discrete ? pl_discrete_alpha(d->suf_n[j], d->suf_log[j], xmin, start)
                    : pl_continuous_alpha(d->suf_n[j], d->suf_log[j], xmin);
}

static double ks_at(const pl_data *d, size_t j, int discrete, double xmin, double alpha,
                    double bound, int every_integer)
{
    return discrete ? pl_ks_discrete(d, j, xmin, alpha, bound, every_integer)
                    : pl_ks_continuous(d, j, xmin, alpha, bound);
}

int pl_fit(const pl_data *d, int discrete, const hp_powerlaw_options *opt, int keep,
           hp_powerlaw_fit *out, hp_err *err)
{
    size_t jbest;
    double xmin, alpha, D;
    if (opt->xmin > 0) {
        xmin = opt->xmin;
        if (discrete && (xmin != floor(xmin) || xmin < 1))
            return hp_fail(err, "xmin %g: a discrete fit needs a whole xmin >= 1", xmin);
        jbest = pl_data_lower(d, xmin);
        if (jbest >= d->K)
            return hp_fail(err, "xmin %g is above every value (the largest is %g)", xmin,
                           d->u[d->K - 1]);
        if (jbest == d->K - 1 && d->u[jbest] == xmin)
            return hp_fail(err, "every value >= xmin %g equals it: the exponent is unbounded; "
                                "choose a smaller xmin", xmin);
        alpha = alpha_at(d, jbest, discrete, xmin, 0);
        D = ks_at(d, jbest, discrete, xmin, alpha, INFINITY, opt->ks_every_integer);
    } else {
        size_t j0 = pl_data_lower(d, opt->xmin_lo), j1 = d->K - 1; /* candidates j0..j1-1 */
        while (j1 > j0 && d->u[j1 - 1] > opt->xmin_hi)
            j1--;
        if (j1 <= j0)
            return hp_fail(err, "no candidate xmin in [%g, %g]: a candidate must be a value "
                                "of the data with at least one larger value",
                           opt->xmin_lo, opt->xmin_hi);
        size_t nc = j1 - j0;
        out->n_candidates = nc;
        if (keep) {
            out->scan_xmin = hp_malloc(nc * sizeof(double), "the xmin scan", err);
            out->scan_alpha = hp_malloc(nc * sizeof(double), "the xmin scan", err);
            out->scan_ks = hp_malloc(nc * sizeof(double), "the xmin scan", err);
            out->scan_n_tail = hp_malloc(nc * sizeof(int64_t), "the xmin scan", err);
            if (!out->scan_xmin || !out->scan_alpha || !out->scan_ks || !out->scan_n_tail)
                return -1;
            out->n_scan = nc;
        }
        double best = INFINITY, prev = 0;
        jbest = j0, alpha = NAN;
        for (size_t j = j0; j < j1; j++) {
            double a = alpha_at(d, j, discrete, d->u[j], prev);
            prev = a;
            double ks = ks_at(d, j, discrete, d->u[j], a, keep ? INFINITY : best, opt->ks_every_integer);
            if (keep) {
                out->scan_xmin[j - j0] = d->u[j];
                out->scan_alpha[j - j0] = a;
                out->scan_ks[j - j0] = ks;
                out->scan_n_tail[j - j0] = (int64_t)d->suf_n[j];
            }
            if (ks < best)
                best = ks, jbest = j, alpha = a;
        }
        xmin = d->u[jbest];
        D = best;
    }
    double nt = d->suf_n[jbest];
    if (opt->finite_size_correction) {
        alpha = alpha * (nt - 1) / nt + 1 / nt;
        D = ks_at(d, jbest, discrete, xmin, alpha, INFINITY, opt->ks_every_integer);
    }
    out->alpha = alpha;
    out->xmin = xmin;
    out->ks_distance = D;
    out->n_tail = (size_t)nt;
    out->sigma = (alpha - 1) / sqrt(nt);
    out->log_likelihood = pl_loglik(d, jbest, discrete, alpha, xmin);
    return 0;
}

/* ---- checks and the public entry points ---- */

static int is_whole(double v)
{
    return v == floor(v) && v <= 9007199254740992.0;
}

int hp_powerlaw_check(const double *x, size_t n, hp_powerlaw_kind kind, size_t *bad_index,
                      hp_err *err)
{
    size_t dummy;
    if (!bad_index)
        bad_index = &dummy;
    *bad_index = n;
    if (n == 0)
        return hp_fail(err, "no values to fit");
    double seen[3];
    int n_seen = 0;
    for (size_t i = 0; i < n; i++) {
        double v = x[i];
        *bad_index = i;
        if (!isfinite(v))
            return hp_fail(err, "value %zu is %s: values must be finite numbers", i + 1,
                           isnan(v) ? "NaN" : v > 0 ? "infinite" : "minus infinity");
        if (kind == HP_POWERLAW_DISCRETE) {
            if (v <= 0)
                return hp_fail(err, "value %zu is %g: a discrete fit needs whole numbers >= 1",
                               i + 1, v);
            if (!is_whole(v))
                return hp_fail(err, "value %zu is %.17g, not a whole number: a discrete fit "
                                    "needs counts (use --continuous for real values)", i + 1, v);
        } else if (v <= 0) {
            return hp_fail(err, "value %zu is %g: a power law needs positive values", i + 1, v);
        }
        if (n_seen < 3) {
            int found = 0;
            for (int k = 0; k < n_seen; k++)
                found |= seen[k] == v;
            if (!found)
                seen[n_seen++] = v;
        }
    }
    *bad_index = n;
    if (n_seen < 3)
        return hp_fail(err, "%d distinct value%s among %zu: a fit needs at least 3 distinct "
                            "values", n_seen, n_seen == 1 ? "" : "s", n);
    return 0;
}

int hp_powerlaw_fit_data(const double *x, size_t n, const hp_powerlaw_options *opt,
                         hp_powerlaw_fit *out, hp_err *err)
{
    memset(out, 0, sizeof *out);
    hp_powerlaw_options defaults;
    if (!opt) {
        hp_powerlaw_options_init(&defaults);
        opt = &defaults;
    }
    if (!(opt->xmin_lo <= opt->xmin_hi))
        return hp_fail(err, "the xmin range [%g, %g] is empty", opt->xmin_lo, opt->xmin_hi);
    hp_powerlaw_kind kind = opt->kind;
    if (kind == HP_POWERLAW_AUTO) {
        kind = HP_POWERLAW_DISCRETE;
        for (size_t i = 0; i < n; i++)
            if (!is_whole(x[i]) || x[i] < 1) {
                kind = HP_POWERLAW_CONTINUOUS;
                break;
            }
    }
    if (hp_powerlaw_check(x, n, kind, NULL, err) != 0)
        return -1;
    int discrete = kind == HP_POWERLAW_DISCRETE;
    double *s = hp_malloc(2 * n * sizeof *s, "a sorted copy of the values", err);
    if (!s)
        return -1;
    memcpy(s, x, n * sizeof *s);
    pl_sort_positive(s, s + n, n);
    size_t K = 1;
    for (size_t i = 1; i < n; i++)
        K += s[i] != s[i - 1];
    pl_data d;
    int rc = -1;
    if (pl_data_alloc(&d, K, err) == 0) {
        pl_data_from_sorted(&d, s, n);
        rc = pl_fit(&d, discrete, opt, opt->keep_scan && !(opt->xmin > 0), out, err);
        pl_data_free(&d);
    }
    free(s);
    out->n = n;
    out->discrete = discrete;
    if (rc != 0)
        hp_powerlaw_fit_free(out);
    return rc;
}

void hp_powerlaw_fit_free(hp_powerlaw_fit *fit)
{
    if (!fit)
        return;
    free(fit->scan_xmin);
    free(fit->scan_alpha);
    free(fit->scan_ks);
    free(fit->scan_n_tail);
    fit->scan_xmin = fit->scan_alpha = fit->scan_ks = NULL;
    fit->scan_n_tail = NULL;
    fit->n_scan = 0;
}

int hp_powerlaw_values_from_counts(const int64_t *counts, size_t vocab, double **values,
                                   size_t *n, hp_err *err)
{
    size_t m = 0;
    for (size_t i = 0; i < vocab; i++) {
        if (counts[i] < 0)
            return hp_fail(err, "count of id %zu is %lld: counts cannot be negative", i,
                           (long long)counts[i]);
        m += counts[i] > 0;
    }
    double *v = hp_malloc(m * sizeof *v, "the count distribution", err);
    if (!v)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < vocab; i++)
        if (counts[i] > 0)
            v[k++] = (double)counts[i];
    *values = v;
    *n = m;
    return 0;
}

/* Likelihood-ratio tests of the fitted power law against alternatives (CSN 2009,
 * section 5; Vuong 1989). Every alternative is fitted by maximum likelihood to the same
 * tail (the values >= xmin), normalised on x >= xmin. With l_i the pointwise difference of
 * log-likelihoods (power law minus alternative), R = sum l_i and s^2 the variance of the
 * l_i (divided by n):
 *   non-nested: normalised R = R / (s sqrt n), two-sided p = erfc(|R| / (s sqrt(2n)));
 *   nested (the cutoff contains the power law at lambda = 0): 2|R| ~ chi^2 with 1 degree
 *   of freedom, p = P(chi^2_1 >= 2|R|) = erfc(sqrt|R|). lambda = 0 lies on the boundary of
 *   the parameter space, so the exact null is a 50:50 mixture of chi^2_0 and chi^2_1 and p
 *   halves; CSN report the chi^2_1 value, and so does p_value (p_value_boundary has half).
 *
 * Densities (continuous) and probability mass functions (discrete), x >= xmin:
 *   exponential   l e^(-l(x-xmin))                      (1-e^-l) e^(-l(x-xmin))
 *   lognormal     phi((ln x-mu)/s)/(x s) / Q((ln xmin-mu)/s)
 *                                   [Phi(b)-Phi(a)] / Q(c), a,b = (ln(x -+ 1/2)-mu)/s,
 *                                   c = (ln(xmin-1/2)-mu)/s   (a lognormal rounded to integers)
 *   stretched exp b l x^(b-1) e^(-l(x^b-xmin^b))        [e^(-l x^b) - e^(-l(x+1)^b)] e^(l xmin^b)
 *   cutoff        x^-a e^(-l x) / (xmin^(1-a) E_a(l xmin))
 *                                   x^-a e^(-l x) / sum_{k>=xmin} k^-a e^(-l k)
 */
#include "hyplora/powerlaw.h"
#include "numerics.h"
#include "powerlaw_internal.h"
#include "zeta_internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *const ALT_NAMES[HP_ALT_COUNT] = {"exponential", "lognormal",
                                                    "stretched_exponential", "power_law_cutoff"};

const char *hp_powerlaw_alt_name(hp_powerlaw_alt alt)
{
    return alt >= 0 && alt < HP_ALT_COUNT ? ALT_NAMES[alt] : "unknown";
}

typedef struct tail {
    const pl_data *d; /* the tail only: distinct values and counts */
    int discrete;
    double xmin, n, mean;
} tail;

/* ---- log pmf / pdf of each alternative at value x (lx = ln x) ---- */

static double lognormal_mass(double a, double b) /* ln(Phi(b) - Phi(a)), a < b */
{
    if (a >= 0) {
        double qa = hp_log_normal_sf(a), qb = hp_log_normal_sf(b);
        return qa + log1p(-exp(qb - qa));
    }
    if (b <= 0) {
        double qa = hp_log_normal_sf(-b), qb = hp_log_normal_sf(-a);
        return qa + log1p(-exp(qb - qa));
    }
    return log1p(-(exp(hp_log_normal_sf(-a)) + exp(hp_log_normal_sf(b))));
}

static double log_p_lognormal(const tail *t, double mu, double sg, double x, double lx,
                              double lnorm)
{
    if (t->discrete)
        return lognormal_mass((log(x - 0.5) - mu) / sg, (log(x + 0.5) - mu) / sg) - lnorm;
    double z = (lx - mu) / sg;
    return -lx - log(sg) - 0.91893853320467274178 - 0.5 * z * z - lnorm;
}

static double lognormal_lnorm(const tail *t, double mu, double sg)
{
    return hp_log_normal_sf(((t->discrete ? log(t->xmin - 0.5) : log(t->xmin)) - mu) / sg);
}

static double log_p_stretched(const tail *t, double lam, double beta, double x, double lx)
{
    /* x^b - xmin^b and (x+1)^b - x^b through expm1: exact as beta -> 0 */
    double lm = log(t->xmin), diff = exp(beta * lm) * expm1(beta * (lx - lm));
    if (t->discrete) {
        double step = exp(beta * lx) * expm1(beta * log1p(1 / x));
        return -lam * diff + log(-expm1(-lam * step));
    }
    return log(beta) + log(lam) + (beta - 1) * lx - lam * diff;
}

/* sum_{k >= xmin} k^-a e^(-l k), scaled by xmin^a e^(l xmin) so that it stays near 1:
 * directly while terms matter, Euler-Maclaurin (integral plus three corrections) beyond */
static double cutoff_norm_discrete(double a, double l, double xmin)
{
    double lx = log(xmin), sum = 0;
    double N = xmin + 200;
    for (double k = xmin; k < N; k += 1) {
        double term = exp(-a * (log(k) - lx) - l * (k - xmin));
        sum += term;
        if (term < 1e-18 * sum && l * k > 1)
            return sum;
    }
    double lf = -a * (log(N) - lx) - l * (N - xmin), f = exp(lf);
    double g1 = -a / N - l, g2 = a / (N * N), g3 = -2 * a / (N * N * N),
           g4 = 6 * a / (N * N * N * N), g5 = -24 * a / (N * N * N * N * N);
    double f1 = f * g1, f3 = f * (g1 * g1 * g1 + 3 * g1 * g2 + g3);
    double f5 = f * (pow(g1, 5) + 10 * pow(g1, 3) * g2 + 10 * g1 * g1 * g3 + 15 * g1 * g2 * g2 +
                     5 * g1 * g4 + 10 * g2 * g3 + g5);
    /* int_N^inf x^-a e^(-l x) dx scaled = N^(1-a) E_a(l N) * xmin^a e^(l xmin) */
    double integral = exp((1 - a) * log(N) + a * lx + l * xmin) * hp_expint_e(a, l * N);
    return sum + integral + 0.5 * f - f1 / 12 + f3 / 720 - f5 / 30240;
}

/* ln of the normaliser of x^-a e^(-l x) on x >= xmin */
static double cutoff_lnorm(const tail *t, double a, double l)
{
    double lx = log(t->xmin);
    if (t->discrete)
        return log(cutoff_norm_discrete(a, l, t->xmin)) - a * lx - l * t->xmin;
    return (1 - a) * lx + log(hp_expint_e(a, l * t->xmin));
}

/* ---- objectives (negative log-likelihoods over unconstrained parameters) ---- */

static double nll_lognormal(const double *th, void *ctx)
{
    const tail *t = ctx;
    double mu = th[0], sg = exp(th[1]);
    if (!(sg > 1e-8 && sg < 1e8 && fabs(mu) < 1e8))
        return INFINITY;
    double ln = lognormal_lnorm(t, mu, sg), L = 0;
    if (!isfinite(ln))
        return INFINITY;
    for (size_t k = 0; k < t->d->K; k++)
        L += t->d->cnt[k] * log_p_lognormal(t, mu, sg, t->d->u[k], t->d->lnu[k], ln);
    return -L;
}

/* stretched exponential in (ln(lambda beta), ln beta): as beta -> 0 with lambda beta fixed
 * the law tends to a power law with exponent 1 + lambda beta, a flat valley that this
 * parameterisation keeps well conditioned */
static double nll_stretched(const double *th, void *ctx)
{
    const tail *t = ctx;
    double beta = exp(th[1]), lam = exp(th[0]) / beta;
    if (!(beta > 1e-12 && beta < 1e3) || !(lam > 0) || !isfinite(lam))
        return INFINITY;
    double L = 0;
    for (size_t k = 0; k < t->d->K; k++)
        L += t->d->cnt[k] * log_p_stretched(t, lam, beta, t->d->u[k], t->d->lnu[k]);
    return -L;
}

static double nll_cutoff(const double *th, void *ctx)
{
    const tail *t = ctx;
    double a = th[0], l = exp(th[1]);
    if (!(l > 1e-300) || !isfinite(l) || fabs(a) > 100)
        return INFINITY;
    double ln = cutoff_lnorm(t, a, l), L = 0;
    if (!isfinite(ln))
        return INFINITY;
    for (size_t k = 0; k < t->d->K; k++)
        L += t->d->cnt[k] * (-a * t->d->lnu[k] - l * t->d->u[k] - ln);
    return -L;
}

/* ---- the comparison ---- */

int hp_powerlaw_compare(const double *x, size_t n, const hp_powerlaw_fit *fit,
                        hp_powerlaw_alt alt, hp_powerlaw_comparison *out, hp_err *err)
{
    memset(out, 0, sizeof *out);
    if (alt < 0 || alt >= HP_ALT_COUNT)
        return hp_fail(err, "unknown alternative distribution %d", (int)alt);
    if (!(fit->alpha > 1) || !(fit->xmin > 0))
        return hp_fail(err, "the comparison needs a fitted power law (alpha > 1, xmin > 0)");
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        m += x[i] >= fit->xmin;
    if (m < 2)
        return hp_fail(err, "%zu value%s >= xmin %g: the comparison needs at least 2", m,
                       m == 1 ? "" : "s", fit->xmin);
    double *s = hp_malloc(2 * m * sizeof *s, "the tail", err);
    if (!s)
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (x[i] >= fit->xmin)
            s[k++] = x[i];
    pl_sort_positive(s, s + m, m);
    size_t K = 1;
    for (size_t i = 1; i < m; i++)
        K += s[i] != s[i - 1];
    pl_data d;
    if (pl_data_alloc(&d, K, err) != 0) {
        free(s);
        return -1;
    }
    pl_data_from_sorted(&d, s, m);
    free(s);
    tail t = {.d = &d, .discrete = fit->discrete, .xmin = fit->xmin, .n = (double)m};
    double sum = 0;
    for (size_t j = 0; j < K; j++)
        sum += d.cnt[j] * d.u[j];
    t.mean = sum / t.n;

    out->alt = alt;
    out->name = ALT_NAMES[alt];
    double a = fit->alpha, lx = log(fit->xmin);
    double pl_lnorm = fit->discrete ? log(hp_zeta_scaled(a, fit->xmin, lx)) - a * lx
                                    : -log((a - 1) / fit->xmin) - a * lx;
    /* fit the alternative */
    double p0 = 0, p1 = 0;
    switch (alt) {
    case HP_ALT_EXPONENTIAL: {
        double excess = t.mean - fit->xmin;
        p0 = fit->discrete ? log1p(1 / excess) : 1 / excess;
        out->n_params = 1;
        out->param_names[0] = "lambda";
        break;
    }
    case HP_ALT_LOGNORMAL: {
        double ml = 0, vl = 0;
        for (size_t j = 0; j < K; j++)
            ml += d.cnt[j] * d.lnu[j];
        ml /= t.n;
        for (size_t j = 0; j < K; j++)
            vl += d.cnt[j] * (d.lnu[j] - ml) * (d.lnu[j] - ml);
        vl /= t.n;
        double th[2] = {ml, 0.5 * log(vl > 1e-12 ? vl : 1e-12)}, st[2] = {1, 0.5};
        hp_nelder_mead(nll_lognormal, &t, 2, th, st);
        /* a second start far in the tail: lognormal fits of power laws often want mu << 0 */
        double th2[2] = {ml - 5, th[1] + 0.7};
        hp_nelder_mead(nll_lognormal, &t, 2, th2, st);
        if (nll_lognormal(th2, &t) < nll_lognormal(th, &t))
            th[0] = th2[0], th[1] = th2[1];
        p0 = th[0], p1 = exp(th[1]);
        out->n_params = 2;
        out->param_names[0] = "mu";
        out->param_names[1] = "sigma";
        break;
    }
    case HP_ALT_STRETCHED_EXP: {
        double best = INFINITY, bt[2] = {0, 0};
        for (double beta = 0.001; beta < 1.5; beta *= 4) {
            double sb = 0, mb = exp(beta * lx);
            for (size_t j = 0; j < K; j++)
                sb += d.cnt[j] * (exp(beta * d.lnu[j]) - mb);
            double lam = t.n / sb; /* continuous profile: lambda = n / sum(x^b - xmin^b) */
            double th[2] = {log(lam * beta), log(beta)}, st[2] = {0.3, 0.5};
            double v = hp_nelder_mead(nll_stretched, &t, 2, th, st);
            if (v < best)
                best = v, bt[0] = th[0], bt[1] = th[1];
        }
        p1 = exp(bt[1]);
        p0 = exp(bt[0]) / p1;
        out->n_params = 2;
        out->param_names[0] = "lambda";
        out->param_names[1] = "beta";
        break;
    }
    case HP_ALT_CUTOFF: {
        double best = INFINITY, bt[2] = {a, 0};
        for (double f = 1e-4; f < 2; f *= 30) {
            double th[2] = {a, log(f / t.mean)}, st[2] = {0.1, 1};
            double v = hp_nelder_mead(nll_cutoff, &t, 2, th, st);
            if (v < best)
                best = v, bt[0] = th[0], bt[1] = th[1];
        }
        p0 = bt[0], p1 = exp(bt[1]);
        out->n_params = 2;
        out->nested = 1;
        out->param_names[0] = "alpha";
        out->param_names[1] = "lambda";
        break;
    }
    default:
        break;
    }
    /* pointwise log-likelihood ratios */
    double lnorm = 0;
    if (alt == HP_ALT_LOGNORMAL)
        lnorm = lognormal_lnorm(&t, p0, p1);
    else if (alt == HP_ALT_CUTOFF)
        lnorm = cutoff_lnorm(&t, p0, p1);
    double R = 0, L_alt = 0;
    double *l = hp_malloc(K * sizeof *l, "the pointwise log-likelihood ratios", err);
    if (!l) {
        pl_data_free(&d);
        return -1;
    }
    for (size_t j = 0; j < K; j++) {
        double xv = d.u[j], lv = d.lnu[j], la;
        switch (alt) {
        case HP_ALT_EXPONENTIAL:
            la = fit->discrete ? log(-expm1(-p0)) - p0 * (xv - fit->xmin)
                               : log(p0) - p0 * (xv - fit->xmin);
            break;
        case HP_ALT_LOGNORMAL:
            la = log_p_lognormal(&t, p0, p1, xv, lv, lnorm);
            break;
        case HP_ALT_STRETCHED_EXP:
            la = log_p_stretched(&t, p0, p1, xv, lv);
            break;
        default:
            la = -p0 * lv - p1 * xv - lnorm;
            break;
        }
        double lp = -a * lv - pl_lnorm;
        l[j] = lp - la;
        R += d.cnt[j] * l[j];
        L_alt += d.cnt[j] * la;
    }
    if (alt == HP_ALT_CUTOFF && R > 0) {
        /* the optimiser did not beat the power law, which the cutoff contains at lambda = 0:
         * that boundary point is the maximum */
        R = 0;
        p0 = a, p1 = 0;
        L_alt = 0;
        for (size_t j = 0; j < K; j++) {
            l[j] = 0;
            L_alt += d.cnt[j] * (-a * d.lnu[j] - pl_lnorm);
        }
    }
    double mean = R / t.n, var = 0;
    for (size_t j = 0; j < K; j++)
        var += d.cnt[j] * (l[j] - mean) * (l[j] - mean);
    var /= t.n;
    double sd = sqrt(var);
    out->params[0] = p0;
    out->params[1] = p1;
    out->loglik_alt = L_alt;
    out->loglik_ratio = R;
    out->normalized_ratio = sd > 0 ? R / (sd * sqrt(t.n)) : 0;
    if (out->nested) {
        out->p_value = erfc(sqrt(fabs(R)));
        out->p_value_boundary = 0.5 * out->p_value;
    } else {
        out->p_value = sd > 0 ? erfc(fabs(R) / (sd * sqrt(2 * t.n))) : 1;
        out->p_value_boundary = out->p_value;
    }
    free(l);
    pl_data_free(&d);
    return 0;
}

/* Small numerical tools of the power-law code (not installed): a Nelder-Mead minimiser
 * and special functions C's libm lacks. */
#ifndef HYPLORA_NUMERICS_H
#define HYPLORA_NUMERICS_H

/* Minimises f over R^dim (dim <= 4) from x (the result is left in x) with initial steps
 * `step`; restarts from the best point until a restart no longer improves it. Returns the
 * minimum. f may return +inf or NaN (treated as +inf) to reject a point. */
double hp_nelder_mead(double (*f)(const double *x, void *ctx), void *ctx, int dim, double *x,
                      const double *step);

/* ln Q(t), Q(t) = P(Z > t) for a standard normal Z, accurate in both tails. */
double hp_log_normal_sf(double t);

/* The generalised exponential integral E_p(z) = int_1^inf t^-p e^(-z t) dt for real p and
 * z > 0. */
double hp_expint_e(double p, double z);

/* ln B(a, b) = ln Gamma(a) + ln Gamma(b) - ln Gamma(a+b) for a, b > 0 (NaN otherwise),
 * without the cancellation of the three lgammas when a or b is large. */
double hp_lbeta(double a, double b);

/* The regularised incomplete beta function I_x(a, b) for a, b > 0, 0 <= x <= 1, to about
 * 1e-14 relative, 1e-13 at worst (against scipy and mpmath in tests/oracle/test_stats.py);
 * NaN outside the domain. The _xy form takes y = 1 - x as well, for callers that know it
 * to more digits than 1 - x would have (x near 1). */
double hp_betainc(double a, double b, double x);
double hp_betainc_xy(double a, double b, double x, double y);

#endif

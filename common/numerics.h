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

#endif

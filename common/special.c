/* Special functions for the likelihood-ratio tests (docs/powerlaw.md):
 * the log of the normal upper tail, and the generalised exponential integral E_p(z), which
 * normalises the power law with exponential cutoff:
 *   int_xmin^inf x^-a e^(-l x) dx = xmin^(1-a) E_a(l xmin). */
#include "numerics.h"

#include <math.h>

static const double LN_SQRT_2PI = 0.91893853320467274178;
static const double EULER_GAMMA = 0.57721566490153286061;

double hp_log_normal_sf(double t)
{
    if (t < -5) /* Q close to 1 */
        return log1p(-0.5 * erfc(-t / M_SQRT2));
    if (t < 5)
        return log(0.5 * erfc(t / M_SQRT2));
    /* Laplace's continued fraction for the Mills ratio: Q(t) = phi(t) / (t + 1/(t + 2/(t + ...))) */
    double r = t;
    for (int k = 80; k >= 1; k--)
        r = t + k / r;
    return -0.5 * t * t - LN_SQRT_2PI - log(r);
}

/* E_p(z) for z >= 1 and p >= 1: the continued fraction for Gamma(1-p, z), evaluated by
 * the modified Lentz method. */
static double expint_cf(double p, double z)
{
    double b = z + p, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 1000; i++) {
        double an = -i * (p - 1 + i);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300)
            d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300)
            c = 1e-300;
        d = 1 / d;
        double del = c * d;
        h *= del;
        if (fabs(del - 1) < 1e-16)
            break;
    }
    return h * exp(-z);
}

/* E_p(z) for z < 1 and 0.5 <= p <= 1.5, from Gamma(1-p) z^(p-1) - sum_k (-z)^k/(k!(k+1-p)):
 * with e = 1-p the k = 0 pole and Gamma's cancel as expm1(lgamma(1+e) - e ln z)/e. */
static double expint_series(double p, double z)
{
    double e = 1 - p, lz = log(z), t0;
    if (fabs(e) < 1e-12)
        t0 = -EULER_GAMMA - lz;
    else
        t0 = expm1(lgamma(1 + e) - e * lz) / e;
    double sum = 0, term = 1;
    for (int k = 1; k < 200; k++) {
        term *= -z / k;
        double add = term / (k + e);
        sum += add;
        if (fabs(add) < 1e-17 * fabs(sum))
            break;
    }
    return t0 - sum;
}

/* Gamma(a, z) for a > 0.5, z < 1: Gamma(a) - gamma(a, z), the lower one by its series */
static double upper_gamma_small_z(double a, double z)
{
    double term = 1 / a, sum = term;
    for (int k = 1; k < 500; k++) {
        term *= z / (a + k);
        sum += term;
        if (term < 1e-17 * sum)
            break;
    }
    return tgamma(a) - exp(a * log(z) - z) * sum;
}

double hp_expint_e(double p, double z)
{
    if (!(z > 0))
        return p > 1 && z == 0 ? 1 / (p - 1) : NAN;
    if (z >= 1) {
        if (p >= 1)
            return expint_cf(p, z);
        /* lift the order to [1, 2), then E_q = (e^-z - q E_{q+1}) / z downwards */
        int m = (int)ceil(1 - p);
        double q = p + m, e = expint_cf(q, z), ez = exp(-z);
        for (int i = 0; i < m; i++) {
            q -= 1;
            e = (ez - q * e) / z;
        }
        return e;
    }
    if (p < 0.5) /* E_p(z) = z^(p-1) Gamma(1-p, z) */
        return exp((p - 1) * log(z)) * upper_gamma_small_z(1 - p, z);
    /* start at p0 in [0.5, 1.5) and recur upwards: E_{q+1} = (e^-z - z E_q) / q */
    double p0 = p - floor(p - 0.5), e = expint_series(p0, z), ez = exp(-z);
    for (double q = p0; q + 0.5 < p; q += 1)
        e = (ez - z * e) / q;
    return e;
}

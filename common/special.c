/* Special functions for the likelihood-ratio tests (docs/powerlaw.md):
 * the log of the normal upper tail, and the generalised exponential integral E_p(z), which
 * normalises the power law with exponential cutoff:
 *   int_xmin^inf x^-a e^(-l x) dx = xmin^(1-a) E_a(l xmin). */
#include "numerics.h"

#include <float.h>
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

/* ---- The regularised incomplete beta function, for the p-values of correlations ----
 *
 * I_x(a, b) = x^a (1-x)^b / (a B(a, b)) * 1/(1 + d1/(1 + d2/(1 + ...))) with
 *   d_(2m+1) = -(a+m)(a+b+m) x / ((a+2m)(a+2m+1)),  d_(2m) = m(b-m) x / ((a+2m-1)(a+2m))
 * (the continued fraction of DLMF 8.17.22), which converges fast for x < (a+1)/(a+b+2);
 * above that point I_x(a, b) = 1 - I_(1-x)(b, a). The correlation tests call it with
 * a = (n-2)/2 up to ~65000 and b = 1/2, so ln B(a, b) must not lose digits to the
 * cancellation lgamma(a) - lgamma(a+b) of two numbers near 6e5: Stirling's series
 * gives the difference directly. */

/* lgamma(x) - ((x - 1/2) ln x - x + ln sqrt(2 pi)) for x >= 10: Stirling's series with the
 * Bernoulli coefficients B_2k / (2k (2k-1)); 8 terms reach 1e-18 at x = 10. */
static double stirling_tail(double x)
{
    static const double C[8] = {
        1.0 / 12,   -1.0 / 360,          1.0 / 1260, -1.0 / 1680,
        1.0 / 1188, -691.0 / 360360.0,   1.0 / 156,  -3617.0 / 122400.0,
    };
    double z = 1 / (x * x), s = 0;
    for (int k = 7; k >= 0; k--)
        s = s * z + C[k];
    return s / x;
}

double hp_lbeta(double a, double b)
{
    if (!(a > 0) || !(b > 0))
        return NAN;
    if (a < b) {
        double t = a;
        a = b, b = t;
    }
    double s = a + b;
    if (a < 10) /* both small: lgamma has all its digits */
        return lgamma(a) + lgamma(b) - lgamma(s);
    /* a large, b small: lgamma(a) - lgamma(s) = -(a - 1/2) ln(1 + b/a) - b ln s + b + tails */
    if (b < 10)
        return lgamma(b) - (a - 0.5) * log1p(b / a) - b * log(s) + b + stirling_tail(a) -
               stirling_tail(s);
    /* both large: ln sqrt(2 pi) - ln(s)/2 + (a - 1/2) ln(a/s) + (b - 1/2) ln(b/s) + tails,
     * terms of one sign, so nothing cancels */
    return LN_SQRT_2PI - 0.5 * log(s) - (a - 0.5) * log1p(b / a) + (b - 0.5) * log(b / s) +
           stirling_tail(a) + stirling_tail(b) - stirling_tail(s);
}

/* I_x(a, b) by the continued fraction (modified Lentz), for x below the switch point;
 * lx = ln x, ly = ln(1-x). In long double: for large a, small b and x near 1 (weak
 * correlations over many pairs) the odd steps add d_(2m+1), close to -1, to about 1, and
 * in double that cancellation cost up to 1e-12 of relative accuracy. */
static double betainc_cf(double a, double b, double x, double lx, double ly)
{
    const long double tiny = 1e-300L;
    long double f = 1, c = 1, d = 0; /* f = 1 + d1/(1 + d2/(1 + ...)) */
    for (int j = 1; j <= 100000; j++) {
        long double m = j / 2, A = a, B = b;
        long double dj = j % 2 ? -(A + m) * (A + B + m) * x / ((A + 2 * m) * (A + 2 * m + 1))
                               : m * (B - m) * x / ((A + 2 * m - 1) * (A + 2 * m));
        d = 1 + dj * d;
        if (fabsl(d) < tiny)
            d = tiny;
        c = 1 + dj / c;
        if (fabsl(c) < tiny)
            c = tiny;
        d = 1 / d;
        long double delta = c * d;
        f *= delta;
        if (fabsl(delta - 1) < 4 * LDBL_EPSILON)
            break;
    }
    return exp(a * lx + b * ly - hp_lbeta(a, b)) / (a * (double)f);
}

double hp_betainc_xy(double a, double b, double x, double y)
{
    if (!(a > 0) || !(b > 0) || !(x >= 0) || !(y >= 0) || fabs(x + y - 1) > 1e-12)
        return NAN;
    if (x == 0)
        return 0;
    if (y == 0)
        return 1;
    /* ln x and ln(1-x) from whichever of x, y carries the digits */
    double lx = x <= 0.5 ? log(x) : log1p(-y), ly = y <= 0.5 ? log(y) : log1p(-x);
    if (x < (a + 1) / (a + b + 2))
        return betainc_cf(a, b, x, lx, ly);
    return 1 - betainc_cf(b, a, y, ly, lx);
}

double hp_betainc(double a, double b, double x)
{
    return hp_betainc_xy(a, b, x, 1 - x);
}

/* Hurwitz zeta by the Euler-Maclaurin formula (our own implementation; docs/powerlaw.md):
 *
 *   zeta(s, q) = sum_{k=0}^{N-1} (q+k)^-s + a^(1-s)/(s-1) + a^-s/2
 *              + sum_{j>=1} B_2j/(2j)! * s(s+1)...(s+2j-2) * a^(-s-2j+1),     a = q + N,
 *
 * with N the smallest count that makes a >= 12. For a >= 12 the correction terms shrink by
 * at least (s+2j)^2/(2 pi a)^2 each, so fewer than 15 of them reach double precision for
 * s <= 50; the loop stops when a term no longer changes the sum. The derivatives in s
 * differentiate every term analytically. */
#include "hyplora/zeta.h"
#include "zeta_internal.h"

#include <math.h>

/* B_2j / (2j)!, j = 1..15 */
static const double EM_COEF[15] = {
    0.083333333333333329,    -0.0013888888888888889,   3.3068783068783071e-05,
    -8.2671957671957675e-07, 2.08767569878681e-08,     -5.2841901386874932e-10,
    1.3382536530684679e-11,  -3.3896802963225827e-13,  8.5860620562778452e-15,
    -2.1748686985580619e-16, 5.5090028283602295e-18,   -1.3954464685812522e-19,
    3.5347070396294673e-21,  -8.9535174270375463e-23,  2.2679524523376829e-24,
};

/* Euler-Maclaurin needs a >= max(12, s) for the terms to shrink fast (ratio about
 * (s+2j)^2 / (2 pi a)^2). */
static inline double em_a0(double s)
{
    return s > 12 ? s : 12;
}

double hp_zeta_em_tail(double s, double a, double lna, double lnscale)
{
    double as = exp(-s * (lna - lnscale)); /* a^-s e^(s lnscale) */
    double sum = a * as / (s - 1) + 0.5 * as;
    double inv_a2 = 1.0 / (a * a), p = s, pw = as / a; /* p: rising factorial, pw: a^(-s-2j+1) */
    for (int j = 0; j < 15; j++) {
        double t = EM_COEF[j] * p * pw;
        double old = sum;
        sum += t;
        if (sum == old)
            break;
        p *= (s + 2 * j + 1) * (s + 2 * j + 2);
        pw *= inv_a2;
    }
    return sum;
}

void hp_zeta_em_tail_d(double s, double a, double lna, double lnscale, double d[3])
{
    double as = exp(-s * (lna - lnscale)), sm1 = 1.0 / (s - 1);
    double g = a * as * sm1, h = lna + sm1;
    d[0] = g + 0.5 * as;
    d[1] = -g * h - 0.5 * lna * as;
    d[2] = g * (h * h + sm1 * sm1) + 0.5 * lna * lna * as;
    /* term j: c_j P(s) a^(-s-2j+1); P = (s)_{2j-1} with derivatives P1, P2 */
    double inv_a2 = 1.0 / (a * a), pw = as / a;
    double P = s, P1 = 1, P2 = 0;
    for (int j = 0; j < 15; j++) {
        double c = EM_COEF[j] * pw;
        double t0 = c * P, t1 = c * (P1 - lna * P), t2 = c * (P2 - 2 * lna * P1 + lna * lna * P);
        double o0 = d[0], o1 = d[1], o2 = d[2];
        d[0] += t0, d[1] += t1, d[2] += t2;
        if (d[0] == o0 && d[1] == o1 && d[2] == o2)
            break;
        for (int m = 1; m <= 2; m++) { /* multiply by (s + 2j + m) */
            double f = s + 2 * j + m;
            P2 = P2 * f + 2 * P1;
            P1 = P1 * f + P;
            P = P * f;
        }
        pw *= inv_a2;
    }
}

double hp_zeta_scaled(double s, double q, double lnscale)
{
    double sum = 0, a0 = em_a0(s);
    while (q < a0) {
        sum += exp(-s * (log(q) - lnscale));
        q += 1;
    }
    return sum + hp_zeta_em_tail(s, q, log(q), lnscale);
}

void hp_zeta_scaled_d(double s, double q, double lnscale, double d[3])
{
    double z0 = 0, z1 = 0, z2 = 0, a0 = em_a0(s);
    while (q < a0) {
        double l = log(q), t = exp(-s * (l - lnscale));
        z0 += t, z1 -= l * t, z2 += l * l * t;
        q += 1;
    }
    hp_zeta_em_tail_d(s, q, log(q), lnscale, d);
    /* the direct terms are the larger ones: add them to the smaller tail */
    d[0] += z0, d[1] += z1, d[2] += z2;
}

double hp_hurwitz_zeta(double s, double q)
{
    if (!(s > 1) || !(q > 0) || isinf(s) || isinf(q))
        return NAN;
    return hp_zeta_scaled(s, q, 0);
}

void hp_hurwitz_zeta_d(double s, double q, double d[3])
{
    if (!(s > 1) || !(q > 0) || isinf(s) || isinf(q)) {
        d[0] = d[1] = d[2] = NAN;
        return;
    }
    hp_zeta_scaled_d(s, q, 0, d);
}

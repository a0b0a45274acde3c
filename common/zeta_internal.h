/* Internal pieces of zeta.c shared with the power-law code (not installed).
 *
 * "Scaled" values are multiplied by exp(s * lnscale): with lnscale = log(xmin) the zeta
 * of a power-law tail stays near 1 whatever s is, so nothing underflows, and ratios
 * (CDFs, zeta'/zeta) are unchanged. */
#ifndef HYPLORA_ZETA_INTERNAL_H
#define HYPLORA_ZETA_INTERNAL_H

/* sum_{k>=0} (a+k)^-s e^(s lnscale) for a >= max(12, s) by Euler-Maclaurin alone, with
 * lna = log(a) precomputed: the fast path of the KS scan (one exp, a few multiplies). */
double hp_zeta_em_tail(double s, double a, double lna, double lnscale);
/* The same with its first and second derivatives in s (of the scaled sum's terms, i.e.
 * exp(s lnscale) times the derivatives of zeta). */
void hp_zeta_em_tail_d(double s, double a, double lna, double lnscale, double d[3]);

/* zeta(s, q) e^(s lnscale) for any q > 0, s > 1, and the same for the derivatives. */
double hp_zeta_scaled(double s, double q, double lnscale);
void hp_zeta_scaled_d(double s, double q, double lnscale, double d[3]);

/* Smallest a at which hp_zeta_em_tail may be used. */
static inline int hp_zeta_em_ok(double s, double a)
{
    return a >= 12 && a >= s;
}

#endif

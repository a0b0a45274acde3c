/* The Hurwitz zeta function zeta(s, q) = sum_{k>=0} (q + k)^-s and its derivatives in s,
 * the normalising constant of the discrete power law (docs/powerlaw.md). */
#ifndef HYPLORA_ZETA_H
#define HYPLORA_ZETA_H

/* zeta(s, q) for s > 1 and q > 0; NaN outside that domain. Relative error below 1e-14
 * for 1 < s <= 50 and 0 < q <= 1e15 (checked against scipy.special.zeta to 1e-12 over
 * s in (1, 6], q in [1, 1e7] by tests/unit/test_zeta.c). */
double hp_hurwitz_zeta(double s, double q);

/* zeta(s, q) and its first and second derivatives with respect to s, in d[0], d[1], d[2]
 * (d[1] < 0 < d[2]). Same domain and accuracy; NaN outside it. */
void hp_hurwitz_zeta_d(double s, double q, double d[3]);

#endif

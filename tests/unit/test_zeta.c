/* A filter for the zeta oracle test (tests/oracle/test_powerlaw_zeta.py): reads lines
 * "s q" and prints zeta(s, q) and its first two derivatives in s, %.17g. */
#include <stdio.h>

#include "hyplora/zeta.h"

int main(void)
{
    double s, q;
    while (scanf("%lf %lf", &s, &q) == 2) {
        double d[3];
        hp_hurwitz_zeta_d(s, q, d);
        printf("%.17g %.17g %.17g %.17g\n", hp_hurwitz_zeta(s, q), d[0], d[1], d[2]);
    }
    return 0;
}

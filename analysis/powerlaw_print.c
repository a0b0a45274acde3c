/* The readable summary of a power-law analysis, shared by `powerlaw` and `freq`: the
 * layout of plfit's output, plus the bootstrap, Zipf and the alternatives when present. */
#include <stdio.h>

#include "cli.h"

void cli_print_powerlaw(const char *name, const hp_powerlaw_analysis *a, bool xmin_fixed)
{
    const hp_powerlaw_fit *fit = &a->fit;
    printf("%s:\n", name);
    printf("\t%s MLE", fit->discrete ? "Discrete" : "Continuous");
    if (xmin_fixed)
        printf(" (xmin fixed)\n");
    else
        printf(" (xmin minimising the KS distance over %zu candidates)\n", fit->n_candidates);
    printf("\talpha  = %12.5f  (sigma %.5f)\n", fit->alpha, fit->sigma);
    printf("\txmin   = %12.5f\n", fit->xmin);
    printf("\tL      = %12.5f\n", fit->log_likelihood);
    printf("\tD      = %12.5f\n", fit->ks_distance);
    printf("\tn_tail = %12zu  of %zu\n", fit->n_tail, fit->n);
    if (a->have_boot)
        printf("\tp      = %12.5f  (%d synthetic sets, seed %llu)\n", a->boot.p_value, a->boot.n_sets,
               (unsigned long long)a->seed);
    if (a->have_zipf)
        printf("\tZipf   s = %.5f (rank-frequency, %zu ranks with count >= %g, R^2 %.4f); "
               "1 + 1/s = %.5f\n",
               a->zipf.exponent, a->zipf.n_ranks, a->zipf.min_count, a->zipf.r_squared,
               a->zipf.alpha_equivalent);
    if (a->n_cmp > 0) {
        printf("\n\tPower law against alternatives on the same tail (R > 0 favours the power law;\n"
               "\ta small p says the sign of R is significant):\n");
        printf("\t%-22s %12s %10s %10s  %s\n", "alternative", "R", "R/(s*sqrt n)", "p", "parameters");
        for (int i = 0; i < a->n_cmp; i++) {
            const hp_powerlaw_comparison *c = &a->cmp[i];
            printf("\t%-22s %12.4f %12.4f %10.4g  ", c->name, c->loglik_ratio, c->normalized_ratio,
                   c->p_value);
            for (int k = 0; k < c->n_params; k++)
                printf("%s%s %.6g", k ? ", " : "", c->param_names[k], c->params[k]);
            printf("%s\n", c->nested ? " (nested: chi^2, 1 dof)" : "");
        }
    }
}

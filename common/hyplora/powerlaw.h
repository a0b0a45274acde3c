/* Power-law fitting after Clauset, Shalizi & Newman (2009), "Power-law distributions in
 * empirical data", SIAM Review 51(4): maximum-likelihood exponent, xmin chosen by
 * minimising the Kolmogorov-Smirnov distance over every distinct candidate, the
 * semi-parametric bootstrap goodness-of-fit test, and likelihood-ratio tests against
 * alternative distributions (Vuong 1989). Also the Zipf rank-frequency exponent.
 * Methods, formulas and choices: docs/powerlaw.md.
 *
 * Everything works on in-memory arrays of doubles; nothing prints or exits. Functions
 * that can fail take `hp_err *err` last and return -1 with a message. Typical use:
 *
 *     hp_powerlaw_options opt;
 *     hp_powerlaw_options_init(&opt);
 *     hp_powerlaw_fit fit;
 *     if (hp_powerlaw_fit_data(x, n, &opt, &fit, &err) != 0) ...
 *     printf("alpha %g xmin %g\n", fit.alpha, fit.xmin);
 *     hp_powerlaw_fit_free(&fit);
 */
#ifndef HYPLORA_POWERLAW_H
#define HYPLORA_POWERLAW_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/progress.h"

typedef enum hp_powerlaw_kind {
    HP_POWERLAW_AUTO = 0,   /* discrete when every value is a whole number, else continuous */
    HP_POWERLAW_DISCRETE,   /* p(x) = x^-alpha / zeta(alpha, xmin), x = xmin, xmin+1, ... */
    HP_POWERLAW_CONTINUOUS, /* p(x) = (alpha-1)/xmin (x/xmin)^-alpha, x >= xmin */
} hp_powerlaw_kind;

typedef struct hp_powerlaw_options {
    hp_powerlaw_kind kind;      /* default HP_POWERLAW_AUTO */
    double xmin;                /* > 0: use this xmin, no scan; default 0 (scan) */
    double xmin_lo, xmin_hi;    /* the scan tries every distinct value in [lo, hi];
                                   default 0 and +inf (every distinct value but the largest) */
    int keep_scan;              /* nonzero: fill the scan_* arrays of the result (default 1) */
    int finite_size_correction; /* nonzero: alpha' = alpha (n-1)/n + 1/n (default 0) */
    int ks_every_integer;       /* discrete KS distance: 0 (default) compares the CDFs just
                                   below each distinct data value, as plfit does; nonzero
                                   takes the supremum over every whole x >= xmin, as CSN's
                                   MATLAB code does (it differs only where values skip) */
} hp_powerlaw_options;

void hp_powerlaw_options_init(hp_powerlaw_options *opt);

typedef struct hp_powerlaw_fit {
    int discrete;          /* 1 discrete, 0 continuous (as chosen for AUTO) */
    double alpha;          /* maximum-likelihood exponent */
    double xmin;           /* lower bound of the power-law tail */
    double sigma;          /* standard error of alpha: (alpha - 1) / sqrt(n_tail) */
    double log_likelihood; /* of the n_tail values >= xmin under the fitted law (natural log) */
    double ks_distance;    /* Kolmogorov-Smirnov distance of the tail to the fitted law */
    size_t n;              /* values given */
    size_t n_tail;         /* values >= xmin */
    size_t n_candidates;   /* xmin values tried by the scan (0 when xmin was fixed) */
    /* The xmin scan (when keep_scan and xmin was not fixed): for each candidate, in
     * increasing order, its xmin, MLE alpha, KS distance and tail size. */
    size_t n_scan;
    double *scan_xmin, *scan_alpha, *scan_ks;
    int64_t *scan_n_tail;
} hp_powerlaw_fit;

/* Checks values for a fit of the given kind without fitting: at least one value, every
 * value finite, positive, whole for DISCRETE, and at least 3 distinct values. On failure
 * *bad_index (may be NULL) is the index of the offending value, or n when the problem is
 * the data as a whole. */
int hp_powerlaw_check(const double *x, size_t n, hp_powerlaw_kind kind, size_t *bad_index,
                      hp_err *err);

/* Fits a power law to x[0..n-1] (any order; not modified). out is zeroed first and must be
 * released with hp_powerlaw_fit_free. */
int hp_powerlaw_fit_data(const double *x, size_t n, const hp_powerlaw_options *opt,
                         hp_powerlaw_fit *out, hp_err *err);
void hp_powerlaw_fit_free(hp_powerlaw_fit *fit);

/* Log-likelihood of the values >= xmin under a power law with this alpha and xmin. */
double hp_powerlaw_loglik(const double *x, size_t n, int discrete, double alpha, double xmin);

/* The count distribution of token counts: one value (the count) per id with a nonzero
 * count, in id order. *values is a fresh allocation (free()). */
int hp_powerlaw_values_from_counts(const int64_t *counts, size_t vocab, double **values,
                                   size_t *n, hp_err *err);

/* ---- goodness of fit: the semi-parametric bootstrap ---- */

typedef struct hp_powerlaw_bootstrap_options {
    int n_sets;           /* synthetic data sets; default 2500 (p to about +-0.01) */
    uint64_t seed;        /* default 0; set i uses a generator seeded from (seed, i) */
    int threads;          /* 0: all online cores (default) */
    hp_progress *progress; /* called with (sets done, n_sets); may be NULL (default) */
} hp_powerlaw_bootstrap_options;

void hp_powerlaw_bootstrap_options_init(hp_powerlaw_bootstrap_options *opt);

typedef struct hp_powerlaw_bootstrap {
    double p_value; /* fraction of synthetic sets whose refitted KS distance >= the data's */
    int n_sets;
    int n_greater;  /* sets counted in p_value */
} hp_powerlaw_bootstrap;

/* Each synthetic set has n values: with probability n_tail/n a draw from the fitted power
 * law (exact inversion of its CDF), otherwise a value drawn uniformly from the data below
 * xmin; it is then fitted with the same options (xmin rescanned unless opt fixed it).
 * The result depends only on the data, fit, opt and seed, not on the thread count. */
int hp_powerlaw_bootstrap_run(const double *x, size_t n, const hp_powerlaw_options *opt,
                              const hp_powerlaw_fit *fit,
                              const hp_powerlaw_bootstrap_options *bopt,
                              hp_powerlaw_bootstrap *out, hp_err *err);

/* ---- alternatives: likelihood-ratio tests ---- */

typedef enum hp_powerlaw_alt {
    HP_ALT_EXPONENTIAL = 0, /* p(x) ~ exp(-lambda x) */
    HP_ALT_LOGNORMAL,       /* ln x ~ Normal(mu, sigma) */
    HP_ALT_STRETCHED_EXP,   /* Weibull: survival ~ exp(-lambda x^beta) */
    HP_ALT_CUTOFF,          /* power law with exponential cutoff: x^-alpha exp(-lambda x) */
    HP_ALT_COUNT
} hp_powerlaw_alt;

typedef struct hp_powerlaw_comparison {
    hp_powerlaw_alt alt;
    const char *name;           /* "exponential", "lognormal", "stretched_exponential",
                                   "power_law_cutoff" */
    int nested;                 /* 1 for the cutoff (contains the power law), else 0 */
    int n_params;
    const char *param_names[2]; /* "lambda"; "mu", "sigma"; "lambda", "beta"; "alpha", "lambda" */
    double params[2];           /* maximum-likelihood parameters on the same tail */
    double loglik_alt;          /* log-likelihood of the tail under the alternative */
    double loglik_ratio;        /* R = L(power law) - L(alternative); > 0 favours the power law */
    double normalized_ratio;    /* R / (sqrt(n) s), s the std. deviation of pointwise ratios */
    double p_value;             /* non-nested: Vuong's two-sided p = erfc(|R| / (s sqrt(2n)));
                                   nested: P(chi^2_1 >= 2|R|) */
    double p_value_boundary;    /* nested only: the boundary-corrected p (half of p_value,
                                   a 50:50 mixture of chi^2_0 and chi^2_1); else p_value */
} hp_powerlaw_comparison;

const char *hp_powerlaw_alt_name(hp_powerlaw_alt alt);

/* Fits the alternative by maximum likelihood on the values >= fit->xmin (discrete versions
 * for a discrete fit, docs/powerlaw.md) and compares it with the fitted power law. */
int hp_powerlaw_compare(const double *x, size_t n, const hp_powerlaw_fit *fit,
                        hp_powerlaw_alt alt, hp_powerlaw_comparison *out, hp_err *err);

/* ---- Zipf: the rank-frequency exponent ---- */

typedef struct hp_zipf_fit {
    double exponent;      /* s in f(r) ~ r^-s, by least squares of ln f on ln r */
    double intercept;     /* ln C of that line: f(r) ~ C r^-s */
    double r_squared;     /* of that line */
    double alpha_equivalent; /* 1 + 1/exponent: the count-distribution exponent it implies */
    double min_count;     /* ranks used: the types with count >= min_count */
    size_t n_ranks;
    const char *method;   /* how exponent was fitted, in a sentence */
} hp_zipf_fit;

/* counts[0..n-1]: the count of each type (any order). Uses the types with count >=
 * min_count (<= 1: all nonzero), ranked by decreasing count. Needs 3 such types. */
int hp_zipf_fit_counts(const double *counts, size_t n, double min_count, hp_zipf_fit *out,
                       hp_err *err);

/* ---- everything at once, and its place in a report ---- */

struct hp_report;

/* What hp_powerlaw_analyze runs after the fit. */
typedef struct hp_powerlaw_analysis_options {
    hp_powerlaw_options fit;            /* hp_powerlaw_options_init's defaults */
    int p_sets;                         /* > 0: bootstrap p-value with this many sets (0) */
    hp_powerlaw_bootstrap_options boot; /* its seed, threads, progress (n_sets is p_sets) */
    int compare;                        /* nonzero: every alternative (default 1) */
    int zipf;                           /* nonzero: the Zipf exponent, discrete fits only (1) */
} hp_powerlaw_analysis_options;

void hp_powerlaw_analysis_options_init(hp_powerlaw_analysis_options *opt);

typedef struct hp_powerlaw_analysis {
    hp_powerlaw_fit fit;
    int have_boot;
    hp_powerlaw_bootstrap boot;
    uint64_t seed;                      /* the bootstrap's */
    int n_cmp;                          /* alternatives compared, in hp_powerlaw_alt order */
    hp_powerlaw_comparison cmp[HP_ALT_COUNT];
    int have_zipf;                      /* 0 also when fewer than 3 types are >= xmin */
    hp_zipf_fit zipf;
} hp_powerlaw_analysis;

/* The fit, then the bootstrap, the comparisons and the Zipf exponent as opt asks. The
 * values must pass hp_powerlaw_check for the kind (AUTO is resolved here). Release out
 * with hp_powerlaw_analysis_free. */
int hp_powerlaw_analyze(const double *x, size_t n, const hp_powerlaw_analysis_options *opt,
                        hp_powerlaw_analysis *out, hp_err *err);
void hp_powerlaw_analysis_free(hp_powerlaw_analysis *a);

/* Writes an analysis into the group of an open report: the fit's attributes on the
 * subgroup fit_object (e.g. "powerlaw"), its xmin scan as fit_object/xmin_scan/{xmin,
 * alpha,ks_distance,n_tail}, each comparison as compare/<alternative> and the Zipf fit as
 * zipf (names and meanings: docs/report-format.md). */
int hp_powerlaw_report_write(struct hp_report *r, const char *fit_object,
                             const hp_powerlaw_analysis *a, hp_err *err);

#endif

/* The whole power-law analysis of one sample (fit, bootstrap, alternatives, Zipf) and
 * its layout in a report. `hyplora powerlaw` and `hyplora freq` both go through here,
 * so a fit reads the same wherever it was made. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hyplora/powerlaw.h"
#include "hyplora/report.h"

void hp_powerlaw_analysis_options_init(hp_powerlaw_analysis_options *opt)
{
    memset(opt, 0, sizeof *opt);
    hp_powerlaw_options_init(&opt->fit);
    hp_powerlaw_bootstrap_options_init(&opt->boot);
    opt->compare = 1;
    opt->zipf = 1;
}

void hp_powerlaw_analysis_free(hp_powerlaw_analysis *a)
{
    hp_powerlaw_fit_free(&a->fit);
}

int hp_powerlaw_analyze(const double *x, size_t n, const hp_powerlaw_analysis_options *opt,
                        hp_powerlaw_analysis *out, hp_err *err)
{
    memset(out, 0, sizeof *out);
    if (hp_powerlaw_fit_data(x, n, &opt->fit, &out->fit, err) != 0)
        return -1;
    /* the bootstrap refits with the kind the data were given, not AUTO again: a
     * synthetic set of a continuous fit may happen to hold only whole numbers */
    hp_powerlaw_options fo = opt->fit;
    fo.kind = out->fit.discrete ? HP_POWERLAW_DISCRETE : HP_POWERLAW_CONTINUOUS;
    fo.keep_scan = 0;
    if (opt->p_sets > 0) {
        hp_powerlaw_bootstrap_options bo = opt->boot;
        bo.n_sets = opt->p_sets;
        if (hp_powerlaw_bootstrap_run(x, n, &fo, &out->fit, &bo, &out->boot, err) != 0)
            goto fail;
        out->have_boot = 1;
        out->seed = bo.seed;
    }
    for (int a = 0; opt->compare && a < HP_ALT_COUNT; a++) {
        if (hp_powerlaw_compare(x, n, &out->fit, (hp_powerlaw_alt)a, &out->cmp[a], err) != 0) {
            hp_failctx(err, "comparing with the %s", hp_powerlaw_alt_name((hp_powerlaw_alt)a));
            goto fail;
        }
        out->n_cmp = a + 1;
    }
    /* Zipf needs 3 ranks at or above xmin; fewer is not an error of the analysis */
    if (opt->zipf && out->fit.discrete) {
        hp_err ignored;
        out->have_zipf = hp_zipf_fit_counts(x, n, out->fit.xmin, &out->zipf, &ignored) == 0;
    }
    return 0;
fail:
    hp_powerlaw_analysis_free(out);
    return -1;
}

static const char *PARAM_DEFS[HP_ALT_COUNT][2] = {
    {"rate lambda of the exponential"},
    {"mean mu of ln x", "standard deviation sigma of ln x"},
    {"lambda of the survival function exp(-lambda x^beta)", "stretching exponent beta"},
    {"power-law exponent alpha of x^-alpha exp(-lambda x)", "cutoff rate lambda"},
};

/* The xmin scan as datasets fit_object/xmin_scan/...; without a scan (xmin was fixed)
 * the exponent as a scalar dataset, so that the fit's subgroup exists for its attributes. */
static int write_scan(hp_report *r, const char *obj, const hp_powerlaw_fit *f, hp_err *err)
{
    char name[4][160];
    static const char *const LEAF[4] = {"xmin", "alpha", "ks_distance", "n_tail"};
    for (int i = 0; i < 4; i++)
        snprintf(name[i], sizeof name[i], "%s/xmin_scan/%s", obj, LEAF[i]);
    if (f->n_scan == 0) {
        char alpha[160];
        snprintf(alpha, sizeof alpha, "%s/alpha", obj);
        return hp_report_write_f64(r, alpha, 0, NULL, &f->alpha,
                                   "maximum-likelihood exponent at the fixed xmin (also the "
                                   "attribute alpha)", NULL, err);
    }
    int64_t dims[1] = {(int64_t)f->n_scan};
    return hp_report_write_f64(r, name[0], 1, dims, f->scan_xmin,
                               "candidate xmin (every distinct value tried)", NULL, err) ||
                   hp_report_write_f64(r, name[1], 1, dims, f->scan_alpha,
                                       "maximum-likelihood alpha of the values >= xmin", NULL,
                                       err) ||
                   hp_report_write_f64(r, name[2], 1, dims, f->scan_ks,
                                       "Kolmogorov-Smirnov distance between the values >= xmin "
                                       "and the power law fitted to them", NULL, err) ||
                   hp_report_write_i64(r, name[3], 1, dims, f->scan_n_tail,
                                       "number of values >= xmin", NULL, err)
               ? -1
               : 0;
}

static int write_fit(hp_report *r, const char *obj, const hp_powerlaw_analysis *a, hp_err *err)
{
    const hp_powerlaw_fit *f = &a->fit;
    return write_scan(r, obj, f, err) ||
                   hp_report_attr_str(r, obj, "kind", f->discrete ? "discrete" : "continuous", err) ||
                   hp_report_attr_f64(r, obj, "alpha", f->alpha, err) ||
                   hp_report_attr_f64(r, obj, "xmin", f->xmin, err) ||
                   hp_report_attr_i64(r, obj, "n", (int64_t)f->n, err) ||
                   hp_report_attr_i64(r, obj, "n_tail", (int64_t)f->n_tail, err) ||
                   hp_report_attr_f64(r, obj, "ks_distance", f->ks_distance, err) ||
                   hp_report_attr_f64(r, obj, "sigma", f->sigma, err) ||
                   hp_report_attr_f64(r, obj, "log_likelihood", f->log_likelihood, err) ||
                   hp_report_attr_f64(r, obj, "p_value", a->have_boot ? a->boot.p_value : NAN, err) ||
                   hp_report_attr_i64(r, obj, "p_trials", a->have_boot ? a->boot.n_sets : 0, err) ||
                   hp_report_attr_i64(r, obj, "seed", (int64_t)a->seed, err)
               ? -1
               : 0;
}

static int write_comparison(hp_report *r, const hp_powerlaw_comparison *c, hp_err *err)
{
    char obj[128], name[160], def[256];
    snprintf(obj, sizeof obj, "compare/%s", c->name);
    snprintf(name, sizeof name, "%s/parameters", obj);
    snprintf(def, sizeof def,
             "maximum-likelihood parameters of the %s on the values >= xmin: %s%s%s", c->name,
             c->param_names[0], c->n_params > 1 ? ", " : "",
             c->n_params > 1 ? c->param_names[1] : "");
    int64_t dims[1] = {c->n_params};
    if (hp_report_write_f64(r, name, 1, dims, c->params, def, NULL, err) ||
        hp_report_attr_f64(r, obj, "loglik_ratio", c->loglik_ratio, err) ||
        hp_report_attr_f64(r, obj, "normalized_ratio", c->normalized_ratio, err) ||
        hp_report_attr_f64(r, obj, "p_value", c->p_value, err) ||
        hp_report_attr_i64(r, obj, "nested", c->nested, err) ||
        hp_report_attr_f64(r, obj, "loglik_alternative", c->loglik_alt, err))
        return -1;
    if (c->nested && hp_report_attr_f64(r, obj, "p_value_boundary", c->p_value_boundary, err))
        return -1;
    for (int k = 0; k < c->n_params; k++)
        if (hp_report_attr_f64(r, obj, c->param_names[k], c->params[k], err) ||
            hp_report_attr_str(r, name, c->param_names[k], PARAM_DEFS[c->alt][k], err))
            return -1;
    return 0;
}

static int write_zipf(hp_report *r, const hp_zipf_fit *z, hp_err *err)
{
    return hp_report_write_f64(r, "zipf/exponent", 0, NULL, &z->exponent,
                               "Zipf rank-frequency exponent s, f(r) ~ r^-s (see the group's "
                               "method attribute)", NULL, err) ||
                   hp_report_attr_str(r, "zipf", "method", z->method, err) ||
                   hp_report_attr_f64(r, "zipf", "exponent", z->exponent, err) ||
                   hp_report_attr_f64(r, "zipf", "intercept", z->intercept, err) ||
                   hp_report_attr_f64(r, "zipf", "r_squared", z->r_squared, err) ||
                   hp_report_attr_f64(r, "zipf", "alpha_equivalent", z->alpha_equivalent, err) ||
                   hp_report_attr_f64(r, "zipf", "min_count", z->min_count, err) ||
                   hp_report_attr_i64(r, "zipf", "n_ranks", (int64_t)z->n_ranks, err)
               ? -1
               : 0;
}

int hp_powerlaw_report_write(hp_report *r, const char *fit_object, const hp_powerlaw_analysis *a,
                             hp_err *err)
{
    if (write_fit(r, fit_object, a, err) != 0)
        return -1;
    for (int i = 0; i < a->n_cmp; i++)
        if (write_comparison(r, &a->cmp[i], err) != 0)
            return -1;
    return a->have_zipf ? write_zipf(r, &a->zipf, err) : 0;
}

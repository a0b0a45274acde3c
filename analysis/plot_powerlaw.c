/* The power-law charts of `hyplora plot` (docs/plot.md), for two report layouts holding
 * the same kind of fit:
 *   /freq      token counts /freq/counts (the data are the nonzero counts, one per token
 *              id seen), fit /freq/powerlaw, scan /freq/powerlaw/xmin_scan, /freq/zipf;
 *   /powerlaw  a sample as /powerlaw/fit/distinct_values and value_counts, fit
 *              /powerlaw/fit, scan /powerlaw/fit/xmin_scan (older reports:
 *              /powerlaw/xmin_scan), /powerlaw/zipf.
 * Charts: the count distribution with the fitted law (and log-binned averages), the CCDF
 * with the fitted tail, rank-frequency with the Zipf line, and the xmin scan. Every
 * plotted number is computed here and written to the chart's .tsv; gnuplot only draws. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/report.h"
#include "hyplora/zeta.h"
#include "plot.h"

/* Where a layout keeps things and how its numbers are named. */
typedef struct pl_layout {
    int freq;                         /* 1: /freq (token counts), 0: /powerlaw (a sample) */
    const char *fit, *zipf;           /* objects, relative to the group */
    const char *scan[2];              /* where the xmin scan may be, first found wins */
    const char *value_col, *mult_col; /* .tsv column names */
    const char *value_label, *frac_label, *ccdf_label, *rank_label, *items;
} pl_layout;

static const pl_layout FREQ = {
    1, "powerlaw", "zipf", {"powerlaw/xmin_scan", NULL}, "count", "token_ids",
    "count (occurrences in the corpus)", "fraction of token ids",
    "fraction of token ids with count ≥ x", "rank (token ids by decreasing count)",
    "token ids"};
static const pl_layout FREQ_WORDS = {
    1, "powerlaw", "zipf", {"powerlaw/xmin_scan", NULL}, "count", "words",
    "count (occurrences in the corpus)", "fraction of words",
    "fraction of words with count ≥ x", "rank (words by decreasing count)", "words"};
static const pl_layout SAMPLE = {
    0, "fit", "zipf", {"fit/xmin_scan", "xmin_scan"}, "value", "multiplicity", "value",
    "fraction of values", "fraction of values ≥ x", "rank (values in decreasing order)",
    "data"};

/* One group's data and fit, read from the report. */
typedef struct pl_group {
    const pl_layout *lay;
    const char *group;
    double *x;   /* distinct values, increasing */
    int64_t *m;  /* multiplicity of each */
    size_t K;
    int64_t n;   /* values in all */
    int discrete;
    double alpha, xmin;
    int64_t n_tail;
    int have_zipf;
    double zipf_s, zipf_lnc, zipf_r2;
    int64_t zipf_ranks;
    double *scan_x, *scan_alpha, *scan_ks, *scan_tail;
    int64_t n_scan;
    char *source; /* short label of the inputs, for titles; may be "" */
} pl_group;

static void obj(char *buf, size_t cap, const pl_group *g, const char *rel)
{
    snprintf(buf, cap, "/%s%s%s", g->group, rel && *rel ? "/" : "", rel ? rel : "");
}

static void pl_group_free(pl_group *g)
{
    free(g->x);
    free(g->m);
    free(g->scan_x);
    free(g->scan_alpha);
    free(g->scan_ks);
    free(g->scan_tail);
    free(g->source);
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* /freq: the nonzero counts of /freq/counts as distinct values and multiplicities. */
static int read_freq_data(const plot_job *job, pl_group *g, hp_err *err)
{
    int64_t *c = NULL, n = 0;
    if (hp_report_read_i64(job->report, "/freq/counts", &c, &n, err) != 0)
        return -1;
    size_t k = 0;
    for (int64_t i = 0; i < n; i++) {
        if (c[i] < 0) {
            free(c);
            return hp_fail(err, "/freq/counts[%lld] is %lld: counts must be >= 0", (long long)i,
                           (long long)c[i]);
        }
        if (c[i] > 0)
            c[k++] = c[i];
    }
    if (k > 1)
        qsort(c, k, sizeof *c, cmp_i64);
    g->x = hp_malloc((k ? k : 1) * sizeof *g->x, "the distinct counts", err);
    g->m = hp_malloc((k ? k : 1) * sizeof *g->m, "their multiplicities", err);
    if (!g->x || !g->m) {
        free(c);
        return -1;
    }
    for (size_t i = 0; i < k;) {
        size_t e = i + 1;
        while (e < k && c[e] == c[i])
            e++;
        g->x[g->K] = (double)c[i];
        g->m[g->K++] = (int64_t)(e - i);
        i = e;
    }
    free(c);
    return 0;
}

/* /powerlaw: the sample as stored, checked to be increasing with positive multiplicities. */
static int read_sample_data(const plot_job *job, pl_group *g, hp_err *err)
{
    int64_t nx = 0, nm = 0;
    if (hp_report_read_f64(job->report, "/powerlaw/fit/distinct_values", &g->x, &nx, err) ||
        hp_report_read_i64(job->report, "/powerlaw/fit/value_counts", &g->m, &nm, err))
        return -1;
    if (nx != nm)
        return hp_fail(err, "/powerlaw/fit/distinct_values has %lld values but value_counts "
                            "%lld", (long long)nx, (long long)nm);
    for (int64_t i = 0; i < nx; i++)
        if (!(g->x[i] > 0) || !isfinite(g->x[i]) || (i && !(g->x[i] > g->x[i - 1])) ||
            g->m[i] < 1)
            return hp_fail(err, "/powerlaw/fit: value %lld (%g, occurring %lld times) is not "
                                "positive, finite and above the previous one",
                           (long long)i, g->x[i], (long long)g->m[i]);
    g->K = (size_t)nx;
    return 0;
}

static int read_fit(const plot_job *job, pl_group *g, hp_err *err)
{
    char fit[160];
    obj(fit, sizeof fit, g, g->lay->fit);
    char *kind = NULL;
    int64_t n_fit = 0;
    if (hp_report_read_attr_f64(job->report, fit, "alpha", &g->alpha, err) ||
        hp_report_read_attr_f64(job->report, fit, "xmin", &g->xmin, err) ||
        hp_report_read_attr_i64(job->report, fit, "n", &n_fit, err) ||
        hp_report_read_attr_i64(job->report, fit, "n_tail", &g->n_tail, err) ||
        hp_report_read_attr_str(job->report, fit, "kind", &kind, err))
        return -1;
    g->discrete = strcmp(kind, "continuous") != 0;
    free(kind);
    g->n = 0;
    for (size_t i = 0; i < g->K; i++)
        g->n += g->m[i];
    if (n_fit != g->n)
        return hp_fail(err, "%s: the fit has n = %lld values but the data have %lld: the report "
                            "is inconsistent", fit, (long long)n_fit, (long long)g->n);
    if (!(g->alpha > 1) || !(g->xmin > 0) || g->n_tail < 1 || g->n_tail > g->n)
        return hp_fail(err, "%s: alpha %g, xmin %g, n_tail %lld do not describe a power-law fit",
                       fit, g->alpha, g->xmin, (long long)g->n_tail);
    return 0;
}

static int read_zipf(const plot_job *job, pl_group *g, hp_err *err)
{
    char z[160];
    obj(z, sizeof z, g, g->lay->zipf);
    int has = hp_report_has(job->report, z, err);
    if (has <= 0)
        return has;
    if (hp_report_read_attr_f64(job->report, z, "exponent", &g->zipf_s, err) ||
        hp_report_read_attr_f64(job->report, z, "intercept", &g->zipf_lnc, err) ||
        hp_report_read_attr_f64(job->report, z, "r_squared", &g->zipf_r2, err) ||
        hp_report_read_attr_i64(job->report, z, "n_ranks", &g->zipf_ranks, err))
        return -1;
    g->have_zipf = 1;
    return 0;
}

static int read_scan(const plot_job *job, pl_group *g, hp_err *err)
{
    for (int k = 0; k < 2 && g->lay->scan[k]; k++) {
        char base[160], d[4][200];
        obj(base, sizeof base, g, g->lay->scan[k]);
        int has = hp_report_has(job->report, base, err);
        if (has < 0)
            return -1;
        if (has == 0)
            continue;
        static const char *const LEAF[4] = {"xmin", "alpha", "ks_distance", "n_tail"};
        double **dst[4] = {&g->scan_x, &g->scan_alpha, &g->scan_ks, &g->scan_tail};
        int64_t len[4];
        for (int i = 0; i < 4; i++) {
            snprintf(d[i], sizeof d[i], "%s/%s", base, LEAF[i]);
            if (hp_report_read_f64(job->report, d[i], dst[i], &len[i], err) != 0)
                return -1;
        }
        if (len[1] != len[0] || len[2] != len[0] || len[3] != len[0])
            return hp_fail(err, "%s: its four datasets differ in length", base);
        g->n_scan = len[0];
        return 0;
    }
    return 0;
}

/* Splits s at newlines into list (at most cap entries), dropping " (note)" when cut_note:
 * a tokenizer's note is a long description, a source's note names the fields counted. */
static int split_lines(const char *s, int cut_note, char **list, size_t *n, size_t cap,
                       hp_err *err)
{
    while (*s && *n < cap) {
        size_t len = strcspn(s, "\n");
        const char *note = cut_note ? strstr(s, " (") : NULL;
        if (note && (size_t)(note - s) < len)
            len = (size_t)(note - s);
        if (len > 0) {
            char *e = hp_malloc(len + 1, "a label", err);
            if (!e)
                return -1;
            memcpy(e, s, len);
            e[len] = 0;
            list[(*n)++] = e;
        }
        s += strcspn(s, "\n");
        s += *s == '\n';
    }
    return 0;
}

/* The title's note on where the data came from: /freq's tokenizer and sources
 * attributes, else (and for /powerlaw) the group's input files. */
static int read_source(const plot_job *job, pl_group *g, hp_err *err)
{
    char grp[96];
    obj(grp, sizeof grp, g, NULL);
    static const char *const ATTRS[3] = {"tokenizer", "sources", "input_files"};
    char *all[64];
    size_t n_all = 0;
    int rc = 0;
    for (int a = g->lay->freq ? 0 : 2; a < 3 && rc == 0; a++) {
        if (a == 2 && n_all > 0)
            break;
        char **s;
        size_t n;
        rc = plot_attr_strings(job, grp, ATTRS[a], &s, &n, err);
        for (size_t k = 0; rc == 0 && k < n; k++)
            rc = split_lines(s[k], a == 0, all, &n_all, sizeof all / sizeof all[0], err);
        if (rc == 0)
            plot_free_strings(s, n);
    }
    if (rc == 0)
        g->source = plot_short_paths(all, n_all, 90, err);
    for (size_t i = 0; i < n_all; i++)
        free(all[i]);
    return rc == 0 && g->source ? 0 : -1;
}

/* /freq counts words instead of token ids when its unit attribute says "word". */
static int freq_layout(const plot_job *job, const pl_layout **lay, hp_err *err)
{
    char **unit;
    size_t n;
    if (plot_attr_strings(job, "/freq", "unit", &unit, &n, err) != 0)
        return -1;
    *lay = n == 1 && strcmp(unit[0], "word") == 0 ? &FREQ_WORDS : &FREQ;
    plot_free_strings(unit, n);
    return 0;
}

static int read_group(const plot_job *job, const char *group, pl_group *g, hp_err *err)
{
    memset(g, 0, sizeof *g);
    g->group = group;
    g->lay = &SAMPLE;
    if (strcmp(group, "freq") == 0 && freq_layout(job, &g->lay, err) != 0)
        return -1;
    int rc = g->lay->freq ? read_freq_data(job, g, err) : read_sample_data(job, g, err);
    if (rc == 0 && g->K < 2)
        rc = hp_fail(err, "/%s: %zu distinct value%s: nothing to draw", group, g->K,
                     g->K == 1 ? "" : "s");
    if (rc == 0)
        rc = read_fit(job, g, err);
    if (rc == 0)
        rc = read_zipf(job, g, err);
    if (rc == 0)
        rc = read_scan(job, g, err);
    if (rc == 0)
        rc = read_source(job, g, err);
    return rc;
}

/* ---- the numbers of each chart ---- */

static void put_num(FILE *f, double v, const char *sep)
{
    if (isfinite(v))
        fprintf(f, "%.17g%s", v, sep);
    else
        fprintf(f, "nan%s", sep);
}

/* The fitted law at x, scaled to the whole sample: discrete p(x) = x^-a / zeta(a, xmin),
 * continuous the density (a-1)/xmin (x/xmin)^-a; times n_tail/n. NaN below xmin. */
static double fit_pdf(const pl_group *g, double x)
{
    if (x < g->xmin)
        return NAN;
    double w = (double)g->n_tail / (double)g->n;
    if (g->discrete)
        return w * pow(x, -g->alpha) / hp_hurwitz_zeta(g->alpha, g->xmin);
    return w * (g->alpha - 1) / g->xmin * pow(x / g->xmin, -g->alpha);
}

/* The fitted P(X >= x), times n_tail/n: zeta(a, x)/zeta(a, xmin), or (x/xmin)^(1-a). */
static double fit_ccdf(const pl_group *g, double x)
{
    if (x < g->xmin)
        return NAN;
    double w = (double)g->n_tail / (double)g->n;
    if (g->discrete)
        return w * hp_hurwitz_zeta(g->alpha, x) / hp_hurwitz_zeta(g->alpha, g->xmin);
    return w * pow(x / g->xmin, 1 - g->alpha);
}

static void write_distribution(FILE *f, const pl_group *g)
{
    fprintf(f, "%s\t%s\tfraction\tpower_law_fit\n", g->lay->value_col, g->lay->mult_col);
    for (size_t i = 0; i < g->K; i++) {
        put_num(f, g->x[i], "\t");
        fprintf(f, "%lld\t", (long long)g->m[i]);
        put_num(f, (double)g->m[i] / (double)g->n, "\t");
        put_num(f, fit_pdf(g, g->x[i]), "\n");
    }
}

/* Logarithmic bins make the sparse upper tail readable, where single values each hold
 * 1/n. Bins grow by a quarter: whole numbers [lo, lo + max(1, lo/4)) in integer
 * arithmetic for discrete data (so anyone can recompute them exactly), [lo, 1.25 lo)
 * otherwise. density = values in the bin / (n * width), the scale of the fitted law. */
static void write_log_bins(FILE *f, const pl_group *g)
{
    fprintf(f, "bin_lo\tbin_hi\tcenter\tdensity\n");
    size_t i = 0;
    double lo = g->x[0];
    while (i < g->K) {
        double hi = g->discrete ? lo + fmax(1, floor(lo / 4)) : lo * 1.25;
        int64_t in = 0;
        for (; i < g->K && g->x[i] < hi; i++)
            in += g->m[i];
        if (in > 0) {
            double center = g->discrete ? sqrt(lo * (hi - 1)) : sqrt(lo * hi);
            put_num(f, lo, "\t");
            put_num(f, hi, "\t");
            put_num(f, center, "\t");
            put_num(f, (double)in / ((double)g->n * (hi - lo)), "\n");
        }
        lo = hi;
    }
}

static void write_ccdf(FILE *f, const pl_group *g)
{
    fprintf(f, "%s\tccdf\tpower_law_fit\n", g->lay->value_col);
    int64_t at_least = g->n; /* values >= x[i] */
    for (size_t i = 0; i < g->K; i++) {
        put_num(f, g->x[i], "\t");
        put_num(f, (double)at_least / (double)g->n, "\t");
        put_num(f, fit_ccdf(g, g->x[i]), "\n");
        at_least -= g->m[i];
    }
}

/* Every value has its own rank (ties in a run of equal values take consecutive ranks);
 * a run is written as its first and last rank, which draws the same staircase as all of
 * them with lines at a fraction of the size. */
static void write_rank_frequency(FILE *f, const pl_group *g)
{
    fprintf(f, "rank\t%s\tzipf_fit\n", g->lay->value_col);
    int64_t done = 0;
    for (size_t k = g->K; k-- > 0;) {
        int64_t ranks[2] = {done + 1, done + g->m[k]};
        for (int e = 0; e < (g->m[k] > 1 ? 2 : 1); e++) {
            double r = (double)ranks[e];
            double z = g->have_zipf && ranks[e] <= g->zipf_ranks
                           ? exp(g->zipf_lnc) * pow(r, -g->zipf_s)
                           : NAN;
            fprintf(f, "%lld\t", (long long)ranks[e]);
            put_num(f, g->x[k], "\t");
            put_num(f, z, "\n");
        }
        done += g->m[k];
    }
}

static void write_scan(FILE *f, const pl_group *g)
{
    fprintf(f, "xmin\talpha\tks_distance\tn_tail\n");
    for (int64_t i = 0; i < g->n_scan; i++) {
        put_num(f, g->scan_x[i], "\t");
        put_num(f, g->scan_alpha[i], "\t");
        put_num(f, g->scan_ks[i], "\t");
        fprintf(f, "%.0f\n", g->scan_tail[i]);
    }
}

/* ---- the gnuplot side ---- */

static const char *const BLUE = "#1f77b4", *const ORANGE = "#ff7f0e", *const RED = "#d62728";

/* Title (group, what, source), axis labels, log axes, grid. Report text goes through
 * plot_quote and noenhanced, so names with _ or ^ print as they are. */
static void frame(FILE *f, const pl_group *g, const char *what, const char *xl, const char *yl,
                  double y_decades)
{
    char title[512];
    snprintf(title, sizeof title, "/%s: %s%s%s", g->group, what, g->source[0] ? " — " : "",
             g->source);
    fputs("set title ", f);
    plot_quote(f, title);
    fputs(" noenhanced\nset xlabel ", f);
    plot_quote(f, xl);
    fputs(" noenhanced\nset ylabel ", f);
    plot_quote(f, yl);
    /* gnuplot's default labels on a log y axis are fixed-point (0.000010); powers of ten
     * read better where ticks fall on whole decades, %g elsewhere (y_decades 0: linear) */
    fprintf(f, " noenhanced\nset logscale x\nset format x '%% h'\n%s\nset grid\n"
               "set key top right box opaque\n",
            y_decades <= 0   ? "unset logscale y"
            : y_decades >= 2 ? "set logscale y\nset format y '10^{%L}'"
                             : "set logscale y\nset format y '%g'");
}

static void xmin_line(FILE *f, const pl_group *g)
{
    fprintf(f, "set arrow from %.17g, graph 0 to %.17g, graph 1 nohead dashtype 2 "
               "lc rgb 'gray40'\n", g->xmin, g->xmin);
}

static void fit_legend(FILE *f, const pl_group *g)
{
    char s[160];
    snprintf(s, sizeof s, "power law, γ = %.2f, xmin = %g", g->alpha, g->xmin);
    plot_quote(f, s);
}

static int chart_distribution(plot_job *job, const pl_group *g, hp_err *err)
{
    plot_chart c;
    FILE *data, *bins;
    if (plot_chart_begin(&c, g->group, "count_distribution", &data, err) ||
        plot_chart_add_data(&c, "bins", "_log_bins", &bins, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_distribution(data, g);
    write_log_bins(bins, g);
    FILE *f = c.body;
    char what[96], pts[96];
    snprintf(what, sizeof what, "distribution of the %s, n = %lld",
             g->lay->freq ? "counts" : "values", (long long)g->n);
    snprintf(pts, sizeof pts, "%s: fraction at each %s", g->lay->items,
             g->lay->freq ? "count" : "value");
    frame(f, g, what, g->lay->value_label, g->lay->frac_label, log10((double)g->n));
    xmin_line(f, g);
    /* for continuous data nearly every value occurs once: its fraction (1/n, in the .tsv)
     * is a flat line that says nothing, so only the binned density is drawn */
    fputs("plot ", f);
    if (g->discrete) {
        fprintf(f, "data skip 1 using 1:3 with points pt 7 ps 0.5 lc rgb '%s' title ", BLUE);
        plot_quote(f, pts);
        fputs(" noenhanced, \\\n     ", f);
    }
    fprintf(f, "bins skip 1 using 3:4 with points pt 5 ps 0.9 lc rgb '%s' "
               "title 'log-binned average' noenhanced, \\\n"
               "     data skip 1 using 1:4 with lines lw 2 lc rgb '%s' title ", ORANGE, RED);
    fit_legend(f, g);
    fputs(" noenhanced\n", f);
    return plot_chart_finish(job, &c, err);
}

static int chart_ccdf(plot_job *job, const pl_group *g, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, g->group, "ccdf", &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_ccdf(data, g);
    FILE *f = c.body;
    char what[96];
    snprintf(what, sizeof what, "P(X ≥ x) of the %s, n = %lld",
             g->lay->freq ? "counts" : "values", (long long)g->n);
    frame(f, g, what, g->lay->value_label, g->lay->ccdf_label, log10((double)g->n));
    xmin_line(f, g);
    fprintf(f, "plot data skip 1 using 1:2 with points pt 7 ps 0.5 lc rgb '%s' "
               "title 'data' noenhanced, \\\n"
               "     data skip 1 using 1:3 with lines lw 2 lc rgb '%s' title ", BLUE, RED);
    fit_legend(f, g);
    fputs(" noenhanced\n", f);
    return plot_chart_finish(job, &c, err);
}

static int chart_rank_frequency(plot_job *job, const pl_group *g, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, g->group, "rank_frequency", &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_rank_frequency(data, g);
    FILE *f = c.body;
    frame(f, g, "rank-frequency", g->lay->rank_label, g->lay->value_label,
          log10(g->x[g->K - 1] / g->x[0]));
    /* a little room below the smallest value, so its run does not vanish into the axis */
    fprintf(f, "set yrange [%.17g:*]\n", g->x[0] * 0.7);
    fprintf(f, "plot data skip 1 using 1:2 with lines lw 1.5 lc rgb '%s' title ", BLUE);
    plot_quote(f, g->lay->items);
    fputs(" noenhanced", f);
    if (g->have_zipf) {
        char z[160];
        snprintf(z, sizeof z, "Zipf fit, s = %.3f, R² = %.3f (ranks 1-%lld)", g->zipf_s,
                 g->zipf_r2, (long long)g->zipf_ranks);
        fprintf(f, ", \\\n     data skip 1 using 1:3 with lines lw 2 dashtype 2 lc rgb '%s' "
                   "title ", RED);
        plot_quote(f, z);
        fputs(" noenhanced", f);
    }
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

static int chart_xmin_scan(plot_job *job, const pl_group *g, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, g->group, "xmin_scan", &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_scan(data, g);
    FILE *f = c.body;
    frame(f, g, "choice of xmin (smallest KS distance)", "candidate xmin",
          "Kolmogorov-Smirnov distance D", 0);
    xmin_line(f, g);
    fputs("set ytics nomirror\nset y2tics\nset y2label 'γ (maximum-likelihood exponent)' "
          "noenhanced\n", f);
    fprintf(f, "plot data skip 1 using 1:3 with linespoints pt 7 ps 0.4 lc rgb '%s' "
               "title 'KS distance D' noenhanced, \\\n"
               "     data skip 1 using 1:2 axes x1y2 with lines lw 1.5 lc rgb '%s' "
               "title 'γ at that xmin' noenhanced\n", BLUE, ORANGE);
    return plot_chart_finish(job, &c, err);
}

static int plot_group(plot_job *job, const char *group, hp_err *err)
{
    pl_group g;
    int rc = read_group(job, group, &g, err);
    if (rc == 0)
        rc = chart_distribution(job, &g, err);
    if (rc == 0)
        rc = chart_ccdf(job, &g, err);
    if (rc == 0)
        rc = chart_rank_frequency(job, &g, err);
    if (rc == 0 && g.n_scan > 1)
        rc = chart_xmin_scan(job, &g, err);
    pl_group_free(&g);
    return rc;
}

/* What must exist before anything is written; the rest is checked as it is read. */
static const char *unplottable(const plot_job *job, const char *const need[][2], int n)
{
    hp_err err;
    for (int i = 0; i < n; i++)
        if (hp_report_has(job->report, need[i][0], &err) != 1)
            return need[i][1];
    return NULL;
}

static const char *freq_unplottable(const plot_job *job, const char *group)
{
    (void)group;
    static const char *const NEED[][2] = {
        {"/freq/counts", "no /freq/counts"},
        {"/freq/powerlaw", "no power-law fit /freq/powerlaw"},
    };
    return unplottable(job, NEED, 2);
}

static const char *sample_unplottable(const plot_job *job, const char *group)
{
    (void)group;
    static const char *const NEED[][2] = {
        {"/powerlaw/fit/distinct_values", "no data /powerlaw/fit/distinct_values"},
        {"/powerlaw/fit/value_counts", "no data /powerlaw/fit/value_counts"},
    };
    return unplottable(job, NEED, 2);
}

const plot_family plot_family_freq = {"freq", freq_unplottable, plot_group};
const plot_family plot_family_powerlaw = {"powerlaw", sample_unplottable, plot_group};

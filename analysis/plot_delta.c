/* The charts of group /delta (`hyplora delta`) in `hyplora plot` (docs/plot.md), one or
 * none per subgroup /delta/G, by its mode:
 *   prompts, sampled  delta_G_distribution: a histogram of delta_rel over the items (the
 *                     prompts) or the tries, the mean marked; needs two or more values;
 *   layers            delta_G: delta_rel_mean per layer, ± delta_rel_std;
 *   all               no chart: the whole input is one measurement, nothing to draw.
 * Reports written before the `mode` attribute have none: a group with a `layer` dataset
 * is "layers", one with sampled = 1 "sampled", any other "all". As for the other
 * families, every plotted number is computed here and written to the chart's .tsv. */
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/report.h"
#include "hyplora/stats.h"
#include "plot.h"

/* Fewer bins say nothing about the shape; more leave most of them empty at the few
 * hundred prompts of a data set. */
#define DL_MIN_BINS 5
#define DL_MAX_BINS 50

static const char *const BLUE = "#1f77b4", *const RED = "#d62728";

typedef enum { DL_ALL, DL_PROMPTS, DL_SAMPLED, DL_LAYERS } dl_mode;
static const char *const MODE_NAME[4] = {"all", "prompts", "sampled", "layers"};

/* One subgroup, as read and checked before anything is drawn. */
typedef struct dl_group {
    char name[256];                       /* "embeddings" (plot_subgroups' longest) */
    char obj[272];                        /* "/delta/embeddings" */
    dl_mode mode;
    double *y;                            /* delta_rel per item or try; per layer its mean */
    double *std;                          /* per layer: delta_rel_std */
    double *layer;                        /* per layer: the layer index */
    size_t n;                             /* entries of y */
    int64_t n_items, n_layers;            /* n_layers -1: not in the report */
    double mean, sd;                      /* delta_rel_mean, delta_rel_std attributes */
    char *distance, *base_point, *source; /* labels, "" when absent */
} dl_group;

static void free_groups(dl_group *g, size_t n)
{
    for (size_t i = 0; g && i < n; i++) {
        free(g[i].y);
        free(g[i].std);
        free(g[i].layer);
        free(g[i].distance);
        free(g[i].base_point);
        free(g[i].source);
    }
    free(g);
}

/* ---- reading the report ---- */

/* An integer attribute that older reports or hand-written ones may leave out. */
static int optional_i64(const plot_job *job, const char *obj, const char *name, int64_t dflt,
                        int64_t *v, hp_err *err)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(job->report, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (f < 0)
        return hp_fail(err, "%s: cannot open the report", job->report);
    htri_t has = H5Aexists_by_name(f, obj, name, H5P_DEFAULT);
    H5Fclose(f);
    *v = dflt;
    return has > 0 ? hp_report_read_attr_i64(job->report, obj, name, v, err) : 0;
}

/* A text attribute as a fresh string, "" when absent. */
static int attr_text(const plot_job *job, const char *obj, const char *name, char **out,
                     hp_err *err)
{
    char **s;
    size_t n;
    if (plot_attr_strings(job, obj, name, &s, &n, err) != 0)
        return -1;
    *out = hp_strdup(n ? s[0] : "", err);
    plot_free_strings(s, n);
    return *out ? 0 : -1;
}

static int read_mode(const plot_job *job, const char *obj, dl_mode *mode, hp_err *err)
{
    char *m, layer[300];
    if (attr_text(job, obj, "mode", &m, err) != 0)
        return -1;
    int rc = 0, known = m[0] == 0;
    for (int k = 0; k < 4 && !known; k++)
        if (strcmp(m, MODE_NAME[k]) == 0)
            *mode = (dl_mode)k, known = 1;
    /* refused rather than skipped: a mode this version does not know may well have a
     * chart that the user would otherwise silently miss */
    if (!known)
        rc = hp_fail(err, "%s has mode '%s'; hyplora plot knows prompts, sampled, all and "
                          "layers", obj, m);
    if (rc == 0 && m[0] == 0) {
        snprintf(layer, sizeof layer, "%s/layer", obj);
        int has = hp_report_has(job->report, layer, err);
        int64_t sampled = 0;
        if (has < 0 || optional_i64(job, obj, "sampled", 0, &sampled, err) != 0)
            rc = -1;
        *mode = has == 1 ? DL_LAYERS : sampled ? DL_SAMPLED : DL_ALL;
    }
    free(m);
    return rc;
}

/* A 1-D dataset of the group, with `want` values (0: any), every one finite. */
static int read_vec(const plot_job *job, const dl_group *g, const char *rel, size_t want,
                    const char *why, double **v, size_t *n, hp_err *err)
{
    char name[320];
    snprintf(name, sizeof name, "%s/%s", g->obj, rel);
    int rank;
    int64_t dims[HP_REPORT_MAX_RANK], len = 0;
    if (hp_report_dims(job->report, name, &rank, dims, err) != 0)
        return -1;
    if (rank != 1)
        return hp_fail(err, "%s has rank %d, expected a 1-D dataset", name, rank);
    if (hp_report_read_f64(job->report, name, v, &len, err) != 0)
        return -1;
    *n = (size_t)len;
    if (want && *n != want)
        return hp_fail(err, "%s has %zu values, expected %zu (%s)", name, *n, want, why);
    for (size_t i = 0; i < *n; i++)
        if (!isfinite((*v)[i]))
            return hp_fail(err, "%s[%zu] is %g: expected a finite number", name, i, (*v)[i]);
    return 0;
}

/* The second line of the titles: the data file and the input, shortened. */
static int read_source(const plot_job *job, dl_group *g, hp_err *err)
{
    char *s[2] = {NULL, NULL}, *use[2];
    size_t k = 0;
    int rc = attr_text(job, g->obj, "data", &s[0], err) ||
             attr_text(job, g->obj, "input", &s[1], err);
    for (int i = 0; !rc && i < 2; i++)
        if (s[i][0])
            use[k++] = s[i];
    if (!rc && !(g->source = plot_short_paths(use, k, 120, err)))
        rc = -1;
    free(s[0]);
    free(s[1]);
    return rc ? -1 : 0;
}

/* delta_rel of every item or try, and what the key says about them. */
static int read_items(const plot_job *job, dl_group *g, hp_err *err)
{
    if (read_vec(job, g, "delta_rel", 0, "", &g->y, &g->n, err) != 0)
        return -1;
    if (g->n < 2) /* one value: nothing to draw a histogram of */
        return 0;
    if (hp_report_read_attr_i64(job->report, g->obj, "n_items", &g->n_items, err) ||
        hp_report_read_attr_f64(job->report, g->obj, "delta_rel_mean", &g->mean, err) ||
        hp_report_read_attr_f64(job->report, g->obj, "delta_rel_std", &g->sd, err) ||
        attr_text(job, g->obj, "distance", &g->distance, err) ||
        attr_text(job, g->obj, "base_point", &g->base_point, err))
        return -1;
    if (g->n_items != (int64_t)g->n)
        return hp_fail(err, "%s/delta_rel has %zu values but n_items is %lld", g->obj, g->n,
                       (long long)g->n_items);
    return 0;
}

static int read_layers(const plot_job *job, dl_group *g, hp_err *err)
{
    size_t n;
    const char *why = "one per entry of layer";
    if (read_vec(job, g, "layer", 0, "", &g->layer, &g->n, err) ||
        read_vec(job, g, "delta_rel_mean", g->n, why, &g->y, &n, err) ||
        read_vec(job, g, "delta_rel_std", g->n, why, &g->std, &n, err) ||
        hp_report_read_attr_i64(job->report, g->obj, "n_items", &g->n_items, err) ||
        optional_i64(job, g->obj, "n_layers", -1, &g->n_layers, err))
        return -1;
    if (g->n == 0)
        return hp_fail(err, "%s/layer is empty: no layer to draw", g->obj);
    for (size_t i = 0; i < g->n; i++)
        if (g->layer[i] < 0 || g->layer[i] != floor(g->layer[i]) ||
            (i && !(g->layer[i] > g->layer[i - 1])))
            return hp_fail(err, "%s/layer[%zu] is %g: expected increasing layer indices "
                                ">= 0", g->obj, i, g->layer[i]);
    return 0;
}

static int has_chart(const dl_group *g)
{
    return g->mode == DL_LAYERS || (g->mode != DL_ALL && g->n >= 2);
}

static int read_group(const plot_job *job, const char *group, const char *name, dl_group *g,
                      hp_err *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->name, sizeof g->name, "%s", name);
    snprintf(g->obj, sizeof g->obj, "/%s/%s", group, name);
    if (read_mode(job, g->obj, &g->mode, err) != 0)
        return -1;
    if (g->mode == DL_ALL)
        return 0;
    if ((g->mode == DL_LAYERS ? read_layers(job, g, err) : read_items(job, g, err)) != 0)
        return -1;
    /* the name goes into file names, which the script quotes as they are */
    size_t len = strlen(name);
    if (has_chart(g) && (len > 80 || strspn(name, "abcdefghijklmnopqrstuvwxyz"
                                                  "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-") != len))
        return hp_fail(err, "%s: the group's name cannot name a chart file (at most 80 "
                            "letters, digits, '_', '.' or '-')", g->obj);
    return has_chart(g) ? read_source(job, g, err) : 0;
}

/* Every subgroup of /group, read and checked; on failure none is left to free. */
static int read_groups(const plot_job *job, const char *group, dl_group **g, size_t *n,
                       hp_err *err)
{
    char obj[96], **names;
    snprintf(obj, sizeof obj, "/%s", group);
    *g = NULL;
    if (plot_subgroups(job->report, obj, &names, n, err) != 0)
        return -1;
    *g = hp_calloc(*n ? *n : 1, sizeof **g, "the delta groups", err);
    int rc = *g ? 0 : -1;
    size_t done = 0;
    for (; rc == 0 && done < *n; done++)
        rc = read_group(job, group, names[done], &(*g)[done], err);
    plot_free_strings(names, *n);
    if (rc != 0) {
        free_groups(*g, done);
        *g = NULL;
    }
    return rc;
}

/* ---- the histogram ---- */

typedef struct dl_hist {
    int k;
    double edge[DL_MAX_BINS + 1];
    int64_t count[DL_MAX_BINS];
} dl_hist;

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Freedman–Diaconis: bins 2 IQR n^(-1/3) wide, so they follow the spread of the middle
 * half and one outlying prompt does not squeeze the rest into a bin; sqrt(n) bins when
 * the middle half is a single value. */
static int bin_count(const double *sorted, size_t n)
{
    double span = sorted[n - 1] - sorted[0];
    double iqr = hp_quantile_sorted(sorted, n, 0.75) - hp_quantile_sorted(sorted, n, 0.25);
    double k = iqr > 0 ? ceil(span / (2 * iqr / cbrt((double)n))) : ceil(sqrt((double)n));
    return (int)fmin(DL_MAX_BINS, fmax(DL_MIN_BINS, k));
}

/* k equal bins from the smallest value to the largest, the last one closed, as
 * numpy.histogram counts; all values equal: a range 0.01 wide around them. Values are
 * placed by comparing with the edges as written, so the .tsv recounts exactly. */
static int histogram(const dl_group *g, dl_hist *h, hp_err *err)
{
    double *s = hp_malloc(g->n * sizeof *s, "the sorted delta_rel", err);
    if (!s)
        return -1;
    memcpy(s, g->y, g->n * sizeof *s);
    qsort(s, g->n, sizeof *s, cmp_f64);
    h->k = bin_count(s, g->n);
    double lo = s[0], hi = s[g->n - 1];
    if (!(hi > lo))
        lo -= 0.005, hi += 0.005;
    for (int j = 0; j < h->k; j++) {
        h->edge[j] = j == 0 ? lo : lo + (hi - lo) * j / h->k;
        h->count[j] = 0;
    }
    h->edge[h->k] = hi;
    int j = 0;
    for (size_t i = 0; i < g->n; i++) {
        while (j < h->k - 1 && s[i] >= h->edge[j + 1])
            j++;
        h->count[j]++;
    }
    free(s);
    return 0;
}

/* read_vec let only finite numbers in, so the .tsv has no nan */
static void write_histogram(FILE *f, const dl_hist *h)
{
    fputs("bin_lo\tbin_hi\tcenter\tcount\n", f);
    for (int j = 0; j < h->k; j++)
        fprintf(f, "%.17g\t%.17g\t%.17g\t%lld\n", h->edge[j], h->edge[j + 1],
                (h->edge[j] + h->edge[j + 1]) / 2, (long long)h->count[j]);
}

static void write_layers(FILE *f, const dl_group *g)
{
    fputs("layer\tdelta_rel_mean\tdelta_rel_std\n", f);
    for (size_t i = 0; i < g->n; i++)
        fprintf(f, "%.0f\t%.17g\t%.17g\n", g->layer[i], g->y[i], g->std[i]);
}

/* ---- the gnuplot side ---- */

static void frame(FILE *f, const dl_group *g, const char *what, const char *source,
                  const char *xl, const char *yl)
{
    char title[400];
    snprintf(title, sizeof title, "%s: %s", g->obj, what);
    plot_frame(f, title, source, xl, yl);
    /* the key below the plot, where it covers no bar, point or mean line; a fixed margin,
     * as gnuplot's own puts a one-line key onto the x label */
    fputs("set key below box height 0.5\nset bmargin 6.5\n", f);
}

static int chart_distribution(plot_job *job, const dl_group *g, hp_err *err)
{
    dl_hist h;
    if (histogram(g, &h, err) != 0)
        return -1;
    plot_chart c;
    FILE *data;
    char kind[112];
    snprintf(kind, sizeof kind, "%.80s_distribution", g->name);
    if (plot_chart_begin(&c, "delta", kind, &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_histogram(data, &h);
    int prompts = g->mode == DL_PROMPTS;
    const char *items = prompts ? "prompts" : "tries";
    char what[64], yl[64], key[400], mean[120];
    snprintf(what, sizeof what, "δ_rel of each %s", prompts ? "prompt" : "try");
    snprintf(yl, sizeof yl, "number of %s", items);
    snprintf(key, sizeof key, "%lld %s, distance %s, base point %s", (long long)g->n_items,
             items, g->distance[0] ? g->distance : "?", g->base_point[0] ? g->base_point : "?");
    snprintf(mean, sizeof mean, "mean δ_rel = %.4f (std %.4f)", g->mean, g->sd);
    FILE *f = c.body;
    frame(f, g, what, g->source, "δ_rel = 2δ/diam", yl);
    int64_t top = 1;
    for (int j = 0; j < h.k; j++)
        top = h.count[j] > top ? h.count[j] : top;
    /* the mean (the report's) is shown even if it lies off the bars; margins keep the
     * bars clear of the frame */
    double lo = fmin(h.edge[0], g->mean), hi = fmax(h.edge[h.k], g->mean);
    double pad = 0.04 * (hi - lo);
    fprintf(f, "set xrange [%.17g:%.17g]\nset yrange [0:%.17g]\n%s"
               "set style fill solid 0.75 border lc rgb 'white'\n"
               "set arrow from %.17g, graph 0 to %.17g, graph 1 nohead dashtype 2 lw 2 "
               "lc rgb '%s' front\n",
            lo - pad, hi + pad, 1.1 * (double)top, top <= 10 ? "set ytics 1\n" : "", g->mean,
            g->mean, RED);
    fprintf(f, "plot data skip 1 using 3:4:($2-$1) with boxes lc rgb '%s'", BLUE);
    plot_legend(f, key);
    fprintf(f, ", \\\n     keyentry with lines dashtype 2 lw 2 lc rgb '%s'", RED);
    plot_legend(f, mean);
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

static int chart_layers(plot_job *job, const dl_group *g, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, "delta", g->name, &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_layers(data, g);
    char source[500], xl[160], key[120];
    snprintf(source, sizeof source, "%s%s%lld prompts", g->source, g->source[0] ? ", " : "",
             (long long)g->n_items);
    if (g->n_layers >= 0)
        snprintf(xl, sizeof xl, "layer (0 = the token embeddings, %lld = the output of the "
                                "last layer)", (long long)g->n_layers);
    else
        snprintf(xl, sizeof xl, "layer (0 = the token embeddings)");
    snprintf(key, sizeof key, "mean δ_rel over the %lld prompts, ± std", (long long)g->n_items);
    FILE *f = c.body;
    frame(f, g, "δ_rel of the hidden states entering each layer", source, xl, "δ_rel = 2δ/diam");
    /* whole layer numbers only, about 16 tics at most */
    double first = g->layer[0], last = g->layer[g->n - 1];
    fprintf(f, "set xrange [%.1f:%.1f]\nset xtics %.0f\n", first - 0.5, last + 0.5,
            fmax(1, ceil((last - first) / 16)));
    fprintf(f, "plot data skip 1 using 1:2:3 with yerrorlines pt 7 ps 0.8 lw 2 lc rgb '%s'",
            BLUE);
    plot_legend(f, key);
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

/* ---- the family ---- */

/* Every group is read and checked before the first chart, so a malformed one leaves no
 * chart of /delta behind. */
static int plot_delta(plot_job *job, const char *group, hp_err *err)
{
    dl_group *g;
    size_t n;
    int rc = read_groups(job, group, &g, &n, err);
    for (size_t i = 0; rc == 0 && i < n; i++)
        if (has_chart(&g[i]))
            rc = g[i].mode == DL_LAYERS ? chart_layers(job, &g[i], err)
                                        : chart_distribution(job, &g[i], err);
    free_groups(g, n);
    return rc;
}

/* A group that should have a chart but cannot give it (an unknown mode, a missing or
 * inconsistent dataset) counts as one, so that plotting says what is wrong with it
 * instead of passing over it. */
static const char *delta_unplottable(const plot_job *job, const char *group)
{
    hp_err err;
    dl_group *g;
    size_t n = 0;
    int any = read_groups(job, group, &g, &n, &err) != 0;
    for (size_t i = 0; g && i < n; i++)
        any |= has_chart(&g[i]);
    free_groups(g, n);
    if (any)
        return NULL;
    return n == 0 ? "no groups in it"
                  : "no group to chart: each is one measurement of the whole input or has "
                    "fewer than 2 prompts or tries";
}

const plot_family plot_family_delta = {"delta", delta_unplottable, plot_delta};

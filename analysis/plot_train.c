/* The charts of group /train (the training log of `hyplora train` and `hyplora pretrain`,
 * docs/training.md) in `hyplora plot` (docs/plot.md):
 *   train_loss       the training loss of every optimiser step (a thin line), its centred
 *                    moving average over about 5% of the steps, and the validation loss at
 *                    the steps it was measured after;
 *   train_lr         the learning rate of every step (when the log has learning_rate);
 *   train_grad_norm  the gradient norm before clipping, its moving average and the clipping
 *                    threshold (when the log has grad_norm);
 *   train_curvature  each HypLoRA module's K after every step (when the log has curvature):
 *                    a line per module up to TR_MAX_LINES modules, else the median, the
 *                    quartiles and the range across the modules at each step.
 * Titles name the run by the settings the command left as attributes (`command` of
 * pretrain, `method` of train). As for the other families, every plotted number is computed
 * here and written to the chart's .tsv; gnuplot only draws. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/report.h"
#include "hyplora/stats.h"
#include "plot.h"

/* A line per module reads well up to about a dozen lines (and the key stays beside the
 * plot); beyond that the summary across the modules says more than a tangle of colours. */
#define TR_MAX_LINES 12

static const char *const BLUE = "#1f77b4", *const NAVY = "#08306b", *const RED = "#d62728",
                         *const ORANGE = "#ff7f0e";

/* One colour per module line: the ten of matplotlib's tab10, then two darker ones. */
static const char *const LINE_COLOUR[TR_MAX_LINES] = {
    "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b",
    "#e377c2", "#7f7f7f", "#bcbd22", "#17becf", "#393b79", "#637939"};

/* The log, as read and checked before anything is drawn. */
typedef struct tr_log {
    char obj[96];                     /* "/train" */
    size_t n;                         /* optimiser steps logged */
    double *step, *loss, *lr, *grad;  /* per step; lr, grad NULL when not in the log */
    size_t n_val;                     /* validation measurements */
    double *val_step, *val_loss;
    int64_t n_val_items;              /* entries of val_items, -1: not in the log */
    size_t m;                         /* HypLoRA modules (curvature columns), 0: none */
    double *K;                        /* [n, m] */
    char **module;                    /* m names */
    double clip;                      /* the `clip` setting, 0 when absent or off */
    char *run;                        /* "hyplora train, method hyplora", "" when unknown */
    char *source;                     /* the report and its inputs, shortened */
} tr_log;

static void tr_log_free(tr_log *g)
{
    free(g->step);
    free(g->loss);
    free(g->lr);
    free(g->grad);
    free(g->val_step);
    free(g->val_loss);
    free(g->K);
    hp_report_free_strings(g->module, g->m);
    free(g->run);
    free(g->source);
    memset(g, 0, sizeof *g);
}

/* ---- reading the report ---- */

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

static int has(const plot_job *job, const tr_log *g, const char *rel, hp_err *err)
{
    char name[160];
    snprintf(name, sizeof name, "%s/%s", g->obj, rel);
    return hp_report_has(job->report, name, err);
}

/* A 1-D dataset of the group with `want` values (0: any), every one finite. */
static int read_vec(const plot_job *job, const tr_log *g, const char *rel, size_t want,
                    const char *why, double **v, size_t *n, hp_err *err)
{
    char name[160];
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

/* A per-step dataset that the log may leave out (*v stays NULL then). */
static int read_optional(const plot_job *job, const tr_log *g, const char *rel, double **v,
                         hp_err *err)
{
    size_t len;
    int h = has(job, g, rel, err);
    if (h < 0)
        return -1;
    return h ? read_vec(job, g, rel, g->n, "one per entry of step", v, &len, err) : 0;
}

/* val_step and val_loss, both or neither; val_items only counted (for the key). */
static int read_validation(const plot_job *job, tr_log *g, hp_err *err)
{
    int hs = has(job, g, "val_step", err), hl = hs < 0 ? -1 : has(job, g, "val_loss", err);
    if (hs < 0 || hl < 0)
        return -1;
    if (hs != hl)
        return hp_fail(err, "%s/%s is not in the report, but %s/%s is: the validation losses "
                            "need both", g->obj, hs ? "val_loss" : "val_step", g->obj,
                       hs ? "val_step" : "val_loss");
    size_t len;
    if (hs && (read_vec(job, g, "val_step", 0, "", &g->val_step, &g->n_val, err) ||
               read_vec(job, g, "val_loss", g->n_val, "one per entry of val_step", &g->val_loss,
                        &len, err)))
        return -1;
    g->n_val_items = -1;
    int hi = has(job, g, "val_items", err);
    if (hi < 0)
        return -1;
    if (hi) {
        char name[160];
        int rank;
        int64_t dims[HP_REPORT_MAX_RANK];
        snprintf(name, sizeof name, "%s/val_items", g->obj);
        if (hp_report_dims(job->report, name, &rank, dims, err) != 0)
            return -1;
        g->n_val_items = rank == 1 ? dims[0] : -1;
    }
    return 0;
}

/* curvature [steps, modules] and the modules' names, when the log has them. */
static int read_curvature(const plot_job *job, tr_log *g, hp_err *err)
{
    int h = has(job, g, "curvature", err);
    if (h <= 0)
        return h;
    char name[160], names[160];
    snprintf(name, sizeof name, "%s/curvature", g->obj);
    snprintf(names, sizeof names, "%s/curvature_modules", g->obj);
    int rank;
    int64_t dims[HP_REPORT_MAX_RANK], len = 0;
    if (hp_report_dims(job->report, name, &rank, dims, err) != 0)
        return -1;
    if (rank != 2)
        return hp_fail(err, "%s has rank %d, expected a 2-D dataset [steps, modules]", name, rank);
    if ((size_t)dims[0] != g->n)
        return hp_fail(err, "%s has %lld rows, expected %zu (one per entry of step)", name,
                       (long long)dims[0], g->n);
    if (dims[1] == 0) /* no HypLoRA module: nothing to draw */
        return 0;
    if (hp_report_read_f64(job->report, name, &g->K, &len, err) != 0)
        return -1;
    size_t m = (size_t)dims[1], n_names = 0;
    for (size_t i = 0; i < (size_t)len; i++)
        if (!isfinite(g->K[i]))
            return hp_fail(err, "%s[%zu, %zu] is %g: expected a finite number", name, i / m,
                           i % m, g->K[i]);
    if (hp_report_read_strings(job->report, names, &g->module, &n_names, err) != 0)
        return -1;
    g->m = n_names; /* what tr_log_free releases */
    if (n_names != m)
        return hp_fail(err, "%s has %zu names, expected %zu (one per column of curvature)",
                       names, n_names, m);
    return 0;
}

/* The number of a text setting such as clip = "1"; 0 when absent or not a number. */
static int setting_number(const plot_job *job, const tr_log *g, const char *key, double *v,
                          hp_err *err)
{
    char *s, *end;
    if (attr_text(job, g->obj, key, &s, err) != 0)
        return -1;
    *v = strtod(s, &end);
    if (end == s || *end || !isfinite(*v))
        *v = 0;
    free(s);
    return 0;
}

/* Which run: "hyplora pretrain", "hyplora train, method hyplora" (train writes `method`,
 * pretrain `command`); "" when the log says neither. The second title line: the report
 * (its last two path components name the run's output directory) and its inputs. */
static int read_labels(const plot_job *job, tr_log *g, hp_err *err)
{
    char *cmd = NULL, *method = NULL, **in = NULL, buf[400];
    size_t n_in = 0;
    int rc = attr_text(job, g->obj, "command", &cmd, err) ||
                     attr_text(job, g->obj, "method", &method, err) ||
                     plot_attr_strings(job, g->obj, "input_files", &in, &n_in, err)
                 ? -1 : 0;
    if (rc == 0) {
        if (cmd[0])
            snprintf(buf, sizeof buf, "hyplora %.80s", cmd);
        else
            snprintf(buf, sizeof buf, "%s", method[0] ? "hyplora train" : "");
        if (method[0])
            snprintf(buf + strlen(buf), sizeof buf - strlen(buf), ", method %.80s", method);
        g->run = hp_strdup(buf, err);
        char **paths = hp_calloc(n_in + 1, sizeof *paths, "the source paths", err);
        if (paths) {
            paths[0] = (char *)job->report;
            for (size_t i = 0; i < n_in; i++)
                paths[i + 1] = in[i];
            g->source = plot_short_paths(paths, n_in + 1, 120, err);
        }
        free(paths);
        rc = g->run && g->source ? 0 : -1;
    }
    free(cmd);
    free(method);
    plot_free_strings(in, n_in);
    return rc;
}

/* Reads and checks the whole log; a log without steps is read no further (g->n = 0). */
static int read_log(const plot_job *job, const char *group, tr_log *g, hp_err *err)
{
    memset(g, 0, sizeof *g);
    snprintf(g->obj, sizeof g->obj, "/%.80s", group);
    size_t len;
    if (read_vec(job, g, "step", 0, "", &g->step, &g->n, err) != 0)
        return -1;
    if (g->n == 0)
        return 0;
    for (size_t i = 1; i < g->n; i++)
        if (!(g->step[i] > g->step[i - 1]))
            return hp_fail(err, "%s/step[%zu] is %g after %g: expected increasing steps", g->obj,
                           i, g->step[i], g->step[i - 1]);
    if (read_vec(job, g, "loss", g->n, "one per entry of step", &g->loss, &len, err) ||
        read_optional(job, g, "learning_rate", &g->lr, err) ||
        read_optional(job, g, "grad_norm", &g->grad, err) || read_validation(job, g, err) ||
        read_curvature(job, g, err) || setting_number(job, g, "clip", &g->clip, err) ||
        read_labels(job, g, err))
        return -1;
    if (g->clip < 0)
        g->clip = 0;
    return 0;
}

/* ---- the numbers ---- */

/* The moving average's window: 2 floor(n/40) + 1 steps, about 5% of the n steps and odd,
 * so that it is centred on a step; 1 (no smoothing) below 40 steps. */
static size_t ma_window(size_t n)
{
    return 2 * (n / 40) + 1;
}

/* The centred moving average of y over w (odd) values: at each step the mean of the
 * values from h = (w-1)/2 steps before to h after. Near the ends the window is cut at the
 * first or last step and the mean taken over the steps it still holds (pandas'
 * rolling(w, center=True, min_periods=1)): the average there leans towards the inside,
 * but does not swing with the single last values. */
static void moving_average(const double *y, size_t n, size_t w, double *out)
{
    size_t h = w / 2;
    for (size_t i = 0; i < n; i++) {
        size_t lo = i > h ? i - h : 0, hi = i + h < n ? i + h : n - 1;
        double s = 0;
        for (size_t j = lo; j <= hi; j++)
            s += y[j];
        out[i] = s / (double)(hi - lo + 1);
    }
}

static void range_of(const double *v, size_t n, double *lo, double *hi)
{
    for (size_t i = 0; i < n; i++) {
        *lo = fmin(*lo, v[i]);
        *hi = fmax(*hi, v[i]);
    }
}

/* read_vec let only finite numbers in, so no .tsv here has a nan */
static void write_series(FILE *f, const char *column, const double *step, const double *y,
                         const double *avg, size_t n)
{
    fprintf(f, "step\t%s%s\n", column, avg ? "\tmoving_average" : "");
    for (size_t i = 0; i < n; i++) {
        fprintf(f, "%.17g\t%.17g", step[i], y[i]);
        if (avg)
            fprintf(f, "\t%.17g", avg[i]);
        fputc('\n', f);
    }
}

/* ---- the gnuplot side ---- */

static void frame(FILE *f, const tr_log *g, const char *what, const char *yl)
{
    char title[400];
    snprintf(title, sizeof title, "%s%s%s%s: %s", g->obj, g->run[0] ? " (" : "", g->run,
             g->run[0] ? ")" : "", what);
    plot_frame(f, title, g->source, "optimiser step", yl);
    fputs("set key top right box opaque\n", f);
}

/* gnuplot labels tics with 6 significant digits, so a series that changes only further
 * down (K of a short run stays within 1e-7 of 1) would read the same number at every
 * tic: enough digits for a fifth of the range. */
static void y_format(FILE *f, double lo, double hi)
{
    double mag = fmax(fabs(lo), fabs(hi)), span = hi - lo;
    if (!(span > 0) || !(mag > 0))
        return;
    int digits = (int)ceil(log10(5 * mag / span)) + 1;
    if (digits > 6)
        fprintf(f, "set format y '%%.%dg'\n", digits > 15 ? 15 : digits);
}

/* The style of a per-step series: a line, or points when there is a single step. */
static const char *line_or_points(size_t n)
{
    return n > 1 ? "lines" : "points pt 7 ps 1";
}

static int chart_loss(plot_job *job, const tr_log *g, hp_err *err)
{
    size_t w = ma_window(g->n);
    double *avg = hp_malloc(g->n * sizeof *avg, "the moving average", err);
    if (!avg)
        return -1;
    moving_average(g->loss, g->n, w, avg);
    plot_chart c;
    FILE *data, *val;
    if (plot_chart_begin(&c, "train", "loss", &data, err) ||
        plot_chart_add_data(&c, "val", "_val", &val, err)) {
        plot_chart_discard(&c);
        free(avg);
        return -1;
    }
    write_series(data, "loss", g->step, g->loss, avg, g->n);
    fputs("val_step\tval_loss\n", val);
    for (size_t i = 0; i < g->n_val; i++)
        fprintf(val, "%.17g\t%.17g\n", g->val_step[i], g->val_loss[i]);
    double lo = INFINITY, hi = -INFINITY;
    range_of(g->loss, g->n, &lo, &hi);
    range_of(g->val_loss, g->n_val, &lo, &hi);
    free(avg);
    FILE *f = c.body;
    char what[80], key[160];
    snprintf(what, sizeof what, "loss over %zu optimiser step%s", g->n, g->n == 1 ? "" : "s");
    frame(f, g, what, "loss (nats per token)");
    y_format(f, lo, hi);
    /* the raw losses light and thin, their average drawn over them */
    fprintf(f, "plot data skip 1 using 1:2 with %s lw 1 lc rgb '#80%s'", line_or_points(g->n),
            BLUE + 1);
    plot_legend(f, "training loss of each step");
    if (w > 1) {
        snprintf(key, sizeof key, "moving average over %zu steps (centred)", w);
        fprintf(f, ", \\\n     data skip 1 using 1:3 with lines lw 2.5 lc rgb '%s'", NAVY);
        plot_legend(f, key);
    }
    if (g->n_val) {
        if (g->n_val_items >= 0)
            snprintf(key, sizeof key, "validation loss (%lld held-out item%s)",
                     (long long)g->n_val_items, g->n_val_items == 1 ? "" : "s");
        else
            snprintf(key, sizeof key, "validation loss");
        fprintf(f, ", \\\n     val skip 1 using 1:2 with linespoints pt 7 ps 1 lw 2 "
                   "lc rgb '%s'", RED);
        plot_legend(f, key);
    }
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

static int chart_lr(plot_job *job, const tr_log *g, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, "train", "lr", &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    write_series(data, "learning_rate", g->step, g->lr, NULL, g->n);
    FILE *f = c.body;
    frame(f, g, "learning rate of each optimiser step", "learning rate");
    fputs("set format y '%.3g'\n", f);
    fprintf(f, "plot data skip 1 using 1:2 with %s lw 2 lc rgb '%s'", line_or_points(g->n), BLUE);
    plot_legend(f, "learning rate (the schedule's value at the step)");
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

static int chart_grad_norm(plot_job *job, const tr_log *g, hp_err *err)
{
    size_t w = ma_window(g->n);
    double *avg = hp_malloc(g->n * sizeof *avg, "the moving average", err);
    if (!avg)
        return -1;
    moving_average(g->grad, g->n, w, avg);
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, "train", "grad_norm", &data, err)) {
        plot_chart_discard(&c);
        free(avg);
        return -1;
    }
    write_series(data, "grad_norm", g->step, g->grad, avg, g->n);
    free(avg);
    double lo = INFINITY, hi = -INFINITY;
    range_of(g->grad, g->n, &lo, &hi);
    FILE *f = c.body;
    char key[160];
    frame(f, g, "gradient norm of each optimiser step", "gradient L2 norm (before clipping)");
    /* norms from 0, so that their size reads off the chart and the threshold is never on
     * the frame: room above the highest line */
    fputs("set yrange [0:*]\nset offsets 0, 0, graph 0.06, 0\n", f);
    fprintf(f, "plot data skip 1 using 1:2 with %s lw 1 lc rgb '#80%s'", line_or_points(g->n),
            BLUE + 1);
    plot_legend(f, "gradient norm of each step");
    if (w > 1) {
        snprintf(key, sizeof key, "moving average over %zu steps (centred)", w);
        fprintf(f, ", \\\n     data skip 1 using 1:3 with lines lw 2.5 lc rgb '%s'", NAVY);
        plot_legend(f, key);
    }
    /* the threshold as a constant, so that the y range takes it in (all norms may lie
     * above it); only when some norm comes within a factor 2 of it: a line far above them
     * would squeeze them into the bottom of the chart */
    if (g->clip > 0 && g->clip <= 2 * hi) {
        snprintf(key, sizeof key, "clipping threshold (clip = %g)", g->clip);
        fprintf(f, ", \\\n     %.17g with lines dashtype 2 lw 1.5 lc rgb '%s'", g->clip, ORANGE);
        plot_legend(f, key);
    }
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

static int cmp_f64(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* A column header: the module's name with tabs and line breaks made spaces. */
static void put_header_name(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc((unsigned char)*s < 0x20 ? ' ' : *s, f);
}

/* For the key: the module name without the leading "model." every HF module has. */
static const char *module_label(const char *s)
{
    return strncmp(s, "model.", 6) == 0 && s[6] ? s + 6 : s;
}

/* Up to TR_MAX_LINES modules: one line each, the .tsv a column per module. */
static void curvature_lines(FILE *data, FILE *f, const tr_log *g)
{
    fputs("step", data);
    for (size_t j = 0; j < g->m; j++) {
        fputc('\t', data);
        put_header_name(data, g->module[j]);
    }
    fputc('\n', data);
    for (size_t i = 0; i < g->n; i++) {
        fprintf(data, "%.17g", g->step[i]);
        for (size_t j = 0; j < g->m; j++)
            fprintf(data, "\t%.17g", g->K[i * g->m + j]);
        fputc('\n', data);
    }
    /* the key beside the plot: a dozen module names would cover the lines inside it */
    fputs("set key outside right top box\n", f);
    for (size_t j = 0; j < g->m; j++) {
        fprintf(f, "%s data skip 1 using 1:%zu with %s lw 2 lc rgb '%s'", j ? ", \\\n    " : "plot",
                j + 2, line_or_points(g->n), LINE_COLOUR[j]);
        plot_legend(f, module_label(g->module[j]));
    }
    fputc('\n', f);
}

/* More modules: per step the minimum, quartiles, median and maximum across them
 * (numpy.quantile's default), drawn as two bands and a line. */
static int curvature_bands(FILE *data, FILE *f, const tr_log *g, hp_err *err)
{
    double *s = hp_malloc(g->m * sizeof *s, "a step's curvatures", err);
    if (!s)
        return -1;
    fputs("step\tmin\tq25\tmedian\tq75\tmax\n", data);
    for (size_t i = 0; i < g->n; i++) {
        memcpy(s, g->K + i * g->m, g->m * sizeof *s);
        qsort(s, g->m, sizeof *s, cmp_f64);
        fprintf(data, "%.17g\t%.17g\t%.17g\t%.17g\t%.17g\t%.17g\n", g->step[i], s[0],
                hp_quantile_sorted(s, g->m, 0.25), hp_quantile_sorted(s, g->m, 0.5),
                hp_quantile_sorted(s, g->m, 0.75), s[g->m - 1]);
    }
    free(s);
    char key[120];
    /* one step gives no band to fill: its five numbers as error bars instead */
    if (g->n > 1) {
        fprintf(f, "plot data skip 1 using 1:2:6 with filledcurves fs transparent solid 0.2 "
                   "noborder lc rgb '%s'", BLUE);
        plot_legend(f, "range: smallest to largest K");
        fprintf(f, ", \\\n     data skip 1 using 1:3:5 with filledcurves fs transparent solid "
                   "0.45 noborder lc rgb '%s'", BLUE);
        plot_legend(f, "quartiles: 25% to 75% of the modules");
        fprintf(f, ", \\\n     data skip 1 using 1:4 with lines lw 2.5 lc rgb '%s'", NAVY);
    } else {
        fprintf(f, "plot data skip 1 using 1:4:2:6 with yerrorbars pt 7 ps 1 lw 1.5 lc rgb '%s'",
                NAVY);
    }
    snprintf(key, sizeof key, "median K of the %zu modules%s", g->m,
             g->n > 1 ? "" : ", the bar from the smallest K to the largest");
    plot_legend(f, key);
    fputc('\n', f);
    return 0;
}

static int chart_curvature(plot_job *job, const tr_log *g, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, "train", "curvature", &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    double lo = INFINITY, hi = -INFINITY;
    range_of(g->K, g->n * g->m, &lo, &hi);
    FILE *f = c.body;
    char what[160];
    int lines = g->m <= TR_MAX_LINES;
    if (lines)
        snprintf(what, sizeof what, "curvature K of each HypLoRA module after each step");
    else
        snprintf(what, sizeof what, "curvature K across the %zu HypLoRA modules after each step "
                                    "(median, quartiles, range)", g->m);
    frame(f, g, what, "curvature K");
    y_format(f, lo, hi);
    int rc = 0;
    if (lines)
        curvature_lines(data, f, g);
    else
        rc = curvature_bands(data, f, g, err);
    if (rc != 0) {
        plot_chart_discard(&c);
        return -1;
    }
    return plot_chart_finish(job, &c, err);
}

/* ---- the family ---- */

/* The whole log is read and checked before the first chart, so a malformed one leaves no
 * chart of /train behind. */
static int plot_train(plot_job *job, const char *group, hp_err *err)
{
    tr_log g;
    int rc = read_log(job, group, &g, err);
    if (rc == 0 && g.n == 0)
        rc = hp_fail(err, "%s/step is empty: no optimiser step to draw", g.obj);
    if (rc == 0)
        rc = chart_loss(job, &g, err);
    if (rc == 0 && g.lr)
        rc = chart_lr(job, &g, err);
    if (rc == 0 && g.grad)
        rc = chart_grad_norm(job, &g, err);
    if (rc == 0 && g.m)
        rc = chart_curvature(job, &g, err);
    tr_log_free(&g);
    return rc;
}

/* A log that cannot be read (a missing or inconsistent dataset) counts as plottable, so
 * that plotting says what is wrong with it instead of passing over it. */
static const char *train_unplottable(const plot_job *job, const char *group)
{
    hp_err err;
    tr_log g;
    int bad = read_log(job, group, &g, &err) != 0;
    size_t n = g.n;
    tr_log_free(&g);
    return bad || n ? NULL
                    : "no optimiser step in the log (its step dataset is empty: the run stopped "
                      "before its first step)";
}

const plot_family plot_family_train = {"train", train_unplottable, plot_train};

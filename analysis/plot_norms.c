/* The charts of group /norms (`hyplora norms`) in `hyplora plot` (docs/plot.md):
 *   norms_vs_frequency           L2 norm of each seen row against its corpus count, with
 *                                the median and quartiles per count bin (/norms/bins);
 *   norms_centered_vs_frequency  the same for the distance from the mean row;
 *   norms_output_vs_frequency    the same for the untied output head (when there is one;
 *                                its bins are computed here, the report has none);
 *   norms_groups                 the mean norms of the word groups (/norms/groups);
 *   norms_pca                    the seen rows in the plane of the first two principal
 *                                components, coloured by log10(count), origin and mean marked.
 * As for the power-law charts, every plotted number is computed here and written to the
 * chart's .tsv; gnuplot only draws. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/report.h"
#include "hyplora/stats.h"
#include "plot.h"

/* A scatter of 128k points makes multi-megabyte SVGs and reads no better than 10k, so
 * larger sets are thinned by a fixed rule anyone can redo: of the n seen rows in row
 * order, the ones at positions floor(j n / N), j = 0..N-1 (docs/plot.md). */
#define NM_MAX_POINTS 10000

static const char *const BLUE = "#1f77b4", *const ORANGE = "#ff7f0e", *const RED = "#d62728";

/* The statistics of one norm over the count bins (non-empty bins only). */
typedef struct nm_bins {
    size_t n;
    double *lo, *hi, *median, *q25, *q75;
    int64_t *rows;
} nm_bins;

/* One "norm against count" chart: the values, the bins, the correlation, the words. */
typedef struct nm_series {
    const char *kind;   /* chart name after "norms_" */
    const char *column; /* .tsv column and report dataset */
    const char *what;   /* for the title */
    const char *ylabel;
    const double *y;    /* one value per row 0..n-1 */
    size_t n;           /* rows that have both a value and a count */
    nm_bins bins;
    double rho, p;
    const char *source;
} nm_series;

typedef struct nm_report {
    const char *group;
    double *norm, *centered, *out_norm;
    int64_t *count;
    size_t n, n_out; /* n_out = 0: no output head */
    char *source, *out_source;
} nm_report;

static void bins_free(nm_bins *b)
{
    free(b->lo);
    free(b->hi);
    free(b->median);
    free(b->q25);
    free(b->q75);
    free(b->rows);
    memset(b, 0, sizeof *b);
}

static void nm_report_free(nm_report *r)
{
    free(r->norm);
    free(r->centered);
    free(r->out_norm);
    free(r->count);
    free(r->source);
    free(r->out_source);
}

static void obj(char *buf, size_t cap, const char *group, const char *rel)
{
    snprintf(buf, cap, "/%s%s%s", group, rel && *rel ? "/" : "", rel ? rel : "");
}

static int bins_alloc(nm_bins *b, size_t n, hp_err *err)
{
    size_t k = n ? n : 1;
    double **d[5] = {&b->lo, &b->hi, &b->median, &b->q25, &b->q75};
    for (int i = 0; i < 5; i++)
        if (!(*d[i] = hp_malloc(k * sizeof(double), "the count bins", err)))
            return -1;
    b->rows = hp_malloc(k * sizeof *b->rows, "the count bins", err);
    return b->rows ? 0 : -1;
}

/* ---- reading the report ---- */

/* A 1-D f64 dataset of the group that must have `want` elements (0: any). */
static int read_f64_n(const plot_job *job, const char *group, const char *rel, size_t want,
                      double **v, size_t *n, hp_err *err)
{
    char name[200];
    obj(name, sizeof name, group, rel);
    int64_t len = 0;
    if (hp_report_read_f64(job->report, name, v, &len, err) != 0)
        return -1;
    *n = (size_t)len;
    if (want && *n != want)
        return hp_fail(err, "%s has %lld values, expected %zu (one per row of /%s/count)", name,
                       (long long)len, want, group);
    return 0;
}

/* The report's bins of one norm (prefix "" or "centered_"), empty bins left out. */
static int read_bins(const plot_job *job, const char *group, const char *prefix, nm_bins *b,
                     hp_err *err)
{
    static const char *const STAT[5] = {"count_low", "count_high", "median", "q25", "q75"};
    double *col[5] = {0};
    int64_t *rows = NULL, nr = 0;
    size_t n = 0, len;
    char rel[96], name[200];
    int rc = 0;
    for (int s = 0; s < 5 && rc == 0; s++) {
        snprintf(rel, sizeof rel, "bins/%s%s", s < 2 ? "" : prefix, STAT[s]);
        rc = read_f64_n(job, group, rel, 0, &col[s], &len, err);
        /* every column as long as the first, an empty first one included */
        if (rc == 0 && s == 0)
            n = len;
        else if (rc == 0 && len != n)
            rc = hp_fail(err, "%s/%s has %zu values, expected %zu (as bins/count_low)", group,
                         rel, len, n);
    }
    obj(name, sizeof name, group, "bins/n_rows");
    if (rc == 0 && hp_report_read_i64(job->report, name, &rows, &nr, err) != 0)
        rc = -1;
    if (rc == 0 && (size_t)nr != n)
        rc = hp_fail(err, "%s has %lld values, expected %zu", name, (long long)nr, n);
    if (rc == 0)
        rc = bins_alloc(b, n, err);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        if (rows[i] <= 0)
            continue;
        size_t k = b->n++;
        b->lo[k] = col[0][i], b->hi[k] = col[1][i], b->median[k] = col[2][i];
        b->q25[k] = col[3][i], b->q75[k] = col[4][i], b->rows[k] = rows[i];
    }
    for (int s = 0; s < 5; s++)
        free(col[s]);
    free(rows);
    return rc;
}

/* The output head has no bins in the report: the same log bins (bins_per_decade of the
 * group) of its norms over its seen rows, as hp_norm_vs_freq makes them. */
static int compute_bins(const plot_job *job, const nm_report *r, nm_series *s, hp_err *err)
{
    char grp[96];
    obj(grp, sizeof grp, r->group, NULL);
    int64_t per = 0;
    if (hp_report_read_attr_i64(job->report, grp, "bins_per_decade", &per, err) != 0)
        return -1;
    double *x = hp_malloc((s->n ? s->n : 1) * sizeof *x, "the seen counts", err);
    double *y = hp_malloc((s->n ? s->n : 1) * sizeof *y, "the seen norms", err);
    hp_log_bin *lb = NULL;
    size_t m = 0, nb = 0;
    int rc = x && y ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < s->n; i++)
        if (r->count[i] > 0)
            x[m] = (double)r->count[i], y[m++] = s->y[i];
    if (rc == 0)
        rc = hp_log_bins(x, y, m, (int)per, &lb, &nb, err);
    if (rc == 0)
        rc = bins_alloc(&s->bins, nb, err);
    for (size_t j = 0; rc == 0 && j < nb; j++) {
        if (lb[j].count == 0)
            continue;
        size_t k = s->bins.n++;
        s->bins.lo[k] = lb[j].lo, s->bins.hi[k] = lb[j].hi, s->bins.median[k] = lb[j].median;
        s->bins.q25[k] = lb[j].q25, s->bins.q75[k] = lb[j].q75;
        s->bins.rows[k] = (int64_t)lb[j].count;
    }
    free(x);
    free(y);
    free(lb);
    return rc;
}

/* "input (matrix)" shortened to the last two path components, for titles. */
static int read_source(const plot_job *job, const char *group, const char *matrix_attr,
                       char **out, hp_err *err)
{
    char grp[96], buf[4200];
    obj(grp, sizeof grp, group, NULL);
    char **in = NULL, **mat = NULL;
    size_t n_in = 0, n_mat = 0;
    int rc = plot_attr_strings(job, grp, "input", &in, &n_in, err);
    if (rc == 0)
        rc = plot_attr_strings(job, grp, matrix_attr, &mat, &n_mat, err);
    if (rc == 0) {
        snprintf(buf, sizeof buf, "%s%s%s%s", n_in ? in[0] : "", n_mat ? " (" : "",
                 n_mat ? mat[0] : "", n_mat ? ")" : "");
        char *one = buf;
        *out = plot_short_paths(&one, buf[0] ? 1 : 0, 90, err);
        rc = *out ? 0 : -1;
    }
    plot_free_strings(in, n_in);
    plot_free_strings(mat, n_mat);
    return rc;
}

static int read_report(const plot_job *job, const char *group, nm_report *r, hp_err *err)
{
    memset(r, 0, sizeof *r);
    r->group = group;
    char name[200];
    obj(name, sizeof name, group, "count");
    int64_t n = 0;
    size_t len;
    if (hp_report_read_i64(job->report, name, &r->count, &n, err) != 0)
        return -1;
    r->n = (size_t)n;
    for (size_t i = 0; i < r->n; i++)
        if (r->count[i] < 0)
            return hp_fail(err, "%s[%zu] is %lld: counts must be >= 0", name, i,
                           (long long)r->count[i]);
    size_t seen = 0;
    for (size_t i = 0; i < r->n; i++)
        seen += r->count[i] > 0;
    if (seen == 0)
        return hp_fail(err, "%s: no row has a count above 0: nothing to draw", name);
    if (read_f64_n(job, group, "norm", r->n, &r->norm, &len, err) ||
        read_f64_n(job, group, "centered_norm", r->n, &r->centered, &len, err) ||
        read_source(job, group, "matrix", &r->source, err))
        return -1;
    obj(name, sizeof name, group, "output_norm");
    int has = hp_report_has(job->report, name, err);
    if (has < 0)
        return -1;
    if (has == 1 && (read_f64_n(job, group, "output_norm", 0, &r->out_norm, &r->n_out, err) ||
                     read_source(job, group, "output_matrix", &r->out_source, err)))
        return -1;
    return 0;
}

/* ---- the numbers ---- */

static void put_num(FILE *f, double v, const char *sep)
{
    if (isfinite(v))
        fprintf(f, "%.17g%s", v, sep);
    else
        fprintf(f, "nan%s", sep);
}

/* The seen rows (count > 0) among rows 0..n-1, in row order. */
static size_t *seen_rows(const int64_t *count, size_t n, size_t *n_seen, hp_err *err)
{
    size_t *s = hp_malloc((n ? n : 1) * sizeof *s, "the seen rows", err);
    *n_seen = 0;
    for (size_t i = 0; s && i < n; i++)
        if (count[i] > 0)
            s[(*n_seen)++] = i;
    return s;
}

/* Position of the j-th plotted point among n (NM_MAX_POINTS rule); identity when n fits. */
static size_t sample_at(size_t j, size_t n)
{
    if (n <= NM_MAX_POINTS)
        return j;
    return (size_t)((uint64_t)j * (uint64_t)n / NM_MAX_POINTS);
}

static size_t sample_size(size_t n)
{
    return n < NM_MAX_POINTS ? n : NM_MAX_POINTS;
}

/* Counts are whole numbers, so a bin [lo, hi) holds the integers ceil(lo)..ceil(hi)-1;
 * its point goes at their geometric middle (a bin holding only count 1 sits at 1, not at
 * the 1.33 between its real edges). */
static double bin_center(double lo, double hi)
{
    return sqrt(ceil(lo) * (ceil(hi) - 1));
}

static void write_bins(FILE *f, const nm_bins *b)
{
    fputs("bin_lo\tbin_hi\tcenter\trows\tmedian\tq25\tq75\n", f);
    for (size_t k = 0; k < b->n; k++) {
        put_num(f, b->lo[k], "\t");
        put_num(f, b->hi[k], "\t");
        put_num(f, bin_center(b->lo[k], b->hi[k]), "\t");
        fprintf(f, "%lld\t", (long long)b->rows[k]);
        put_num(f, b->median[k], "\t");
        put_num(f, b->q25[k], "\t");
        put_num(f, b->q75[k], "\n");
    }
}

static void write_scatter(FILE *f, const nm_series *s, const int64_t *count, const size_t *seen,
                          size_t n_seen)
{
    fprintf(f, "row\tcount\t%s\n", s->column);
    for (size_t j = 0; j < sample_size(n_seen); j++) {
        size_t row = seen[sample_at(j, n_seen)];
        fprintf(f, "%zu\t%lld\t", row, (long long)count[row]);
        put_num(f, s->y[row], "\n");
    }
}

/* ---- the gnuplot side ---- */

static void frame(FILE *f, const char *group, const char *what, const char *source,
                  const char *xl, const char *yl)
{
    char title[700];
    snprintf(title, sizeof title, "/%s: %s", group, what);
    plot_frame(f, title, source, xl, yl);
}

static int chart_vs_frequency(plot_job *job, const nm_report *r, const nm_series *s,
                              hp_err *err)
{
    size_t n_seen;
    size_t *seen = seen_rows(r->count, s->n, &n_seen, err);
    if (!seen)
        return -1;
    plot_chart c;
    FILE *data, *bins;
    if (plot_chart_begin(&c, r->group, s->kind, &data, err) ||
        plot_chart_add_data(&c, "bins", "_bins", &bins, err)) {
        plot_chart_discard(&c);
        free(seen);
        return -1;
    }
    write_scatter(data, s, r->count, seen, n_seen);
    write_bins(bins, &s->bins);
    free(seen);
    FILE *f = c.body;
    char what[200], pts[160], p[32];
    /* a p below the double range is 0 in the report (as in scipy): say "p < 1e-300" */
    if (s->p == 0)
        snprintf(p, sizeof p, "p < 1e-300");
    else
        snprintf(p, sizeof p, "p = %.2g", s->p);
    snprintf(what, sizeof what, "%s against corpus count, Spearman ρ = %.3f (%s)", s->what,
             s->rho, p);
    if (n_seen > NM_MAX_POINTS)
        snprintf(pts, sizeof pts, "seen rows (%d of %zu drawn, evenly by row; %zu never seen)",
                 NM_MAX_POINTS, n_seen, s->n - n_seen);
    else
        snprintf(pts, sizeof pts, "seen rows (all %zu; %zu never seen, not drawn)", n_seen,
                 s->n - n_seen);
    frame(f, r->group, what, s->source, "count (occurrences in the corpus)", s->ylabel);
    /* from just below 1, so the column of count-1 rows stands clear of the axis */
    fputs("set logscale x\nset format x '10^{%L}'\nset xrange [0.7:*]\n"
          "set key top right box opaque\n", f);
    /* a light scatter: thousands of points overlap, the bins carry the trend */
    fputs("plot data skip 1 using 2:3 with points pt 7 ps 0.35 lc rgb '#B41f77b4'", f);
    plot_legend(f, pts);
    fprintf(f, ", \\\n     bins skip 1 using 3:6:7 with filledcurves fs transparent solid 0.3 "
               "noborder lc rgb '%s'", ORANGE);
    plot_legend(f, "quartiles (25%-75%) per count bin");
    fprintf(f, ", \\\n     bins skip 1 using 3:5 with linespoints pt 7 ps 0.8 lw 2 lc rgb '%s'",
            RED);
    plot_legend(f, "median per count bin");
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

/* Reads a correlation's rho and p (attributes PREFIXspearman_rho, _p_value). */
static int read_rho(const plot_job *job, const char *group, const char *prefix, nm_series *s,
                    hp_err *err)
{
    char grp[96], a[96], b[96];
    obj(grp, sizeof grp, group, NULL);
    snprintf(a, sizeof a, "%sspearman_rho", prefix);
    snprintf(b, sizeof b, "%sspearman_p_value", prefix);
    if (hp_report_read_attr_f64(job->report, grp, a, &s->rho, err) ||
        hp_report_read_attr_f64(job->report, grp, b, &s->p, err))
        return -1;
    return 0;
}

static int any_seen(const int64_t *count, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (count[i] > 0)
            return 1;
    return 0;
}

static int plot_frequency_charts(plot_job *job, const nm_report *r, hp_err *err)
{
    nm_series s[3] = {
        {"vs_frequency", "norm", "L2 norm", "L2 norm ||e|| (embedding units)", r->norm, r->n,
         {0}, 0, 0, r->source},
        {"centered_vs_frequency", "centered_norm", "distance from the mean row",
         "distance from the mean row ||e - m|| (embedding units)", r->centered, r->n, {0}, 0, 0,
         r->source},
        /* the head's rows are the embedding's token ids; only those with a count */
        {"output_vs_frequency", "output_norm", "output-head row norm",
         "L2 norm of the output-head row (embedding units)", r->out_norm,
         r->n_out < r->n ? r->n_out : r->n, {0}, 0, 0, r->out_source},
    };
    static const char *const PREFIX[3] = {"", "centered_", "output_"};
    int rc = 0;
    for (int k = 0; k < 3 && rc == 0; k++) {
        if (k == 2 && !any_seen(r->count, s[k].n))
            break; /* no head, or none of its rows seen: nothing to draw */
        rc = read_rho(job, r->group, PREFIX[k], &s[k], err);
        if (rc == 0)
            rc = k < 2 ? read_bins(job, r->group, PREFIX[k], &s[k].bins, err)
                       : compute_bins(job, r, &s[k], err);
        if (rc == 0)
            rc = chart_vs_frequency(job, r, &s[k], err);
        bins_free(&s[k].bins);
    }
    return rc;
}

/* ---- word groups ---- */

typedef struct nm_groups {
    char **name;
    size_t n;
    double *mean_norm, *mean_centered, *mean_count;
    int64_t *n_used, *n_words;
    double seen_norm, seen_centered; /* means over all seen rows, the reference lines */
} nm_groups;

static void groups_free(nm_groups *g)
{
    hp_report_free_strings(g->name, g->n);
    free(g->mean_norm);
    free(g->mean_centered);
    free(g->mean_count);
    free(g->n_used);
    free(g->n_words);
}

static int read_groups(const plot_job *job, const char *group, nm_groups *g, hp_err *err)
{
    memset(g, 0, sizeof *g);
    char name[200], grp[96];
    size_t len;
    int64_t l1 = 0, l2 = 0;
    obj(name, sizeof name, group, "groups/name");
    obj(grp, sizeof grp, group, NULL);
    if (hp_report_read_strings(job->report, name, &g->name, &g->n, err) ||
        read_f64_n(job, group, "groups/mean_norm", g->n, &g->mean_norm, &len, err) ||
        read_f64_n(job, group, "groups/mean_centered_norm", g->n, &g->mean_centered, &len, err) ||
        read_f64_n(job, group, "groups/mean_count", g->n, &g->mean_count, &len, err))
        return -1;
    obj(name, sizeof name, group, "groups/n_used");
    if (hp_report_read_i64(job->report, name, &g->n_used, &l1, err))
        return -1;
    obj(name, sizeof name, group, "groups/n_words");
    if (hp_report_read_i64(job->report, name, &g->n_words, &l2, err))
        return -1;
    if ((size_t)l1 != g->n || (size_t)l2 != g->n)
        return hp_fail(err, "/%s/groups: n_used and n_words do not have one value per group",
                       group);
    if (hp_report_read_attr_f64(job->report, grp, "mean_norm_seen", &g->seen_norm, err) ||
        hp_report_read_attr_f64(job->report, grp, "centered_mean_norm_seen", &g->seen_centered,
                                err))
        return -1;
    return 0;
}

/* A name as one .tsv field: tabs and line breaks would split it. */
static void put_field(FILE *f, const char *s)
{
    for (; *s; s++)
        fputc(*s == '\t' || *s == '\n' || *s == '\r' ? ' ' : *s, f);
    fputc('\t', f);
}

static void write_groups(FILE *f, const nm_groups *g)
{
    fputs("index\tgroup\tn_words\tn_used\tmean_norm\tmean_centered_norm\tmean_count\n", f);
    for (size_t i = 0; i < g->n; i++) {
        fprintf(f, "%zu\t", i);
        put_field(f, g->name[i]);
        fprintf(f, "%lld\t%lld\t", (long long)g->n_words[i], (long long)g->n_used[i]);
        put_num(f, g->mean_norm[i], "\t");
        put_num(f, g->mean_centered[i], "\t");
        put_num(f, g->mean_count[i], "\n");
    }
}

/* A gnuplot double-quoted string, where "\n" is a line break (single quotes have none). */
static void put_tic_label(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '\n')
            fputs("\\n", f);
        else if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else
            fputc(ch < 0x20 || ch == 0x7f ? ' ' : ch, f);
    }
    fputc('"', f);
}

/* One tic per group: its name over "used/listed words" (words that have a row / words the
 * group file lists), so a group whose words are mostly missing is seen as such. */
static void group_tics(FILE *f, const nm_groups *g)
{
    fputs("set xtics noenhanced nomirror (", f);
    for (size_t i = 0; i < g->n; i++) {
        char label[400];
        snprintf(label, sizeof label, "%s\n%lld/%lld words", g->name[i], (long long)g->n_used[i],
                 (long long)g->n_words[i]);
        fputs(i ? ", " : "", f);
        put_tic_label(f, label);
        fprintf(f, " %zu", i);
    }
    fputs(")\n", f);
}

/* The tallest bar or reference line (NaN means, a group without rows, are skipped). */
static double groups_top(const nm_groups *g)
{
    double top = fmax(g->seen_norm, g->seen_centered);
    for (size_t i = 0; i < g->n; i++)
        top = fmax(top, fmax(g->mean_norm[i], g->mean_centered[i]));
    return isfinite(top) && top > 0 ? top : 1;
}

static int chart_groups(plot_job *job, const nm_report *r, hp_err *err)
{
    nm_groups g;
    int rc = read_groups(job, r->group, &g, err);
    if (rc != 0 || g.n == 0) { /* an empty group list: no chart */
        groups_free(&g);
        return rc;
    }
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, r->group, "groups", &data, err)) {
        plot_chart_discard(&c);
        groups_free(&g);
        return -1;
    }
    write_groups(data, &g);
    FILE *f = c.body;
    frame(f, r->group, "mean norm of each word group", r->source,
          "word group (words with a row / words listed)", "mean norm (embedding units)");
    group_tics(f, &g);
    char ref[2][120];
    snprintf(ref[0], sizeof ref[0], "all seen rows: mean L2 norm %.4f", g.seen_norm);
    snprintf(ref[1], sizeof ref[1], "all seen rows: mean distance from the mean row %.4f",
             g.seen_centered);
    /* room above the tallest bar for the key, below the two-line tics for the label */
    fprintf(f, "set xrange [-0.6:%.1f]\nset yrange [0:%.17g]\nset grid noxtics\n"
               "set xlabel offset 0,-1\nset boxwidth 0.34\nset style fill solid 0.85 noborder\n"
               "set key top right box opaque\n", (double)g.n - 0.4, 1.45 * groups_top(&g));
    /* two bars per group, the plain norm left of the tic and the centred one right */
    fprintf(f, "plot data skip 1 using ($1-0.18):5 with boxes lc rgb '%s'", BLUE);
    plot_legend(f, "mean L2 norm of the group's rows");
    fprintf(f, ", \\\n     data skip 1 using ($1+0.18):6 with boxes lc rgb '%s'", ORANGE);
    plot_legend(f, "mean distance from the mean row");
    fputs(", \\\n     data skip 1 using ($1-0.18):5:(sprintf('%.3f', $5)) with labels "
          "offset 0,0.7 notitle, \\\n"
          "     data skip 1 using ($1+0.18):6:(sprintf('%.3f', $6)) with labels offset 0,0.7 "
          "notitle", f);
    fprintf(f, ", \\\n     %.17g with lines dashtype 2 lw 1.5 lc rgb '%s'", g.seen_norm, BLUE);
    plot_legend(f, ref[0]);
    fprintf(f, ", \\\n     %.17g with lines dashtype 2 lw 1.5 lc rgb '%s'", g.seen_centered,
            ORANGE);
    plot_legend(f, ref[1]);
    fputc('\n', f);
    groups_free(&g);
    return plot_chart_finish(job, &c, err);
}

/* ---- principal components ---- */

typedef struct nm_pca {
    double *coords, *origin, *ratio;
    int64_t *row;
    size_t n;
} nm_pca;

static void pca_free(nm_pca *p)
{
    free(p->coords);
    free(p->origin);
    free(p->ratio);
    free(p->row);
}

static int read_pca(const plot_job *job, const nm_report *r, nm_pca *p, hp_err *err)
{
    memset(p, 0, sizeof *p);
    char name[200];
    int64_t n = 0;
    size_t len;
    obj(name, sizeof name, r->group, "pca/row");
    if (hp_report_read_i64(job->report, name, &p->row, &n, err))
        return -1;
    p->n = (size_t)n;
    if (read_f64_n(job, r->group, "pca/coords", 2 * p->n, &p->coords, &len, err) ||
        read_f64_n(job, r->group, "pca/origin", 2, &p->origin, &len, err) ||
        read_f64_n(job, r->group, "pca/explained_variance_ratio", 0, &p->ratio, &len, err))
        return hp_failctx(err, "/%s/pca", r->group);
    if (len < 2)
        return hp_fail(err, "/%s/pca/explained_variance_ratio: %zu components, expected 2",
                       r->group, len);
    for (size_t i = 0; i < p->n; i++)
        if (p->row[i] < 0 || (size_t)p->row[i] >= r->n || r->count[p->row[i]] <= 0)
            return hp_fail(err, "/%s/pca/row[%zu] = %lld is not a seen row of /%s/count",
                           r->group, i, (long long)p->row[i], r->group);
    return 0;
}

/* The order points are drawn in: by count, then row, so the few frequent tokens land on
 * top of the many rare ones instead of under them. */
static const int64_t *g_sort_count;
static const nm_pca *g_sort_pca;

static int cmp_by_count(const void *a, const void *b)
{
    size_t i = *(const size_t *)a, j = *(const size_t *)b;
    int64_t ri = g_sort_pca->row[i], rj = g_sort_pca->row[j];
    int64_t ci = g_sort_count[ri], cj = g_sort_count[rj];
    if (ci != cj)
        return (ci > cj) - (ci < cj);
    return (ri > rj) - (ri < rj);
}

static int write_pca_points(FILE *f, const nm_report *r, const nm_pca *p, hp_err *err)
{
    size_t m = sample_size(p->n);
    size_t *pick = hp_malloc((m ? m : 1) * sizeof *pick, "the plotted points", err);
    if (!pick)
        return -1;
    for (size_t j = 0; j < m; j++)
        pick[j] = sample_at(j, p->n);
    g_sort_count = r->count;
    g_sort_pca = p;
    qsort(pick, m, sizeof *pick, cmp_by_count);
    fputs("row\tcount\tlog10_count\tpc1\tpc2\n", f);
    for (size_t j = 0; j < m; j++) {
        size_t i = pick[j];
        int64_t cnt = r->count[p->row[i]];
        fprintf(f, "%lld\t%lld\t", (long long)p->row[i], (long long)cnt);
        put_num(f, log10((double)cnt), "\t");
        put_num(f, p->coords[2 * i], "\t");
        put_num(f, p->coords[2 * i + 1], "\n");
    }
    free(pick);
    return 0;
}

static void write_pca_marks(FILE *f, const nm_pca *p)
{
    fputs("point\tpc1\tpc2\n", f);
    fputs("origin\t", f);
    put_num(f, p->origin[0], "\t");
    put_num(f, p->origin[1], "\n");
    fputs("mean\t0\t0\n", f);
}

static void pca_script(FILE *f, const nm_report *r, const nm_pca *p)
{
    char what[160], xl[96], yl[96];
    snprintf(what, sizeof what, "seen rows in the plane of the first two principal components%s",
             p->n > NM_MAX_POINTS ? " (a sample)" : "");
    snprintf(xl, sizeof xl, "PC1 (%.1f%% of variance)", 100 * p->ratio[0]);
    snprintf(yl, sizeof yl, "PC2 (%.1f%% of variance)", 100 * p->ratio[1]);
    frame(f, r->group, what, r->source, xl, yl);
    /* equal units on both axes: distances in the picture are distances in the embedding */
    fputs("set size ratio -1\nset key below horizontal maxrows 1 width -2 samplen 1.5\n"
          "set style textbox opaque noborder\n"
          "set palette defined (0 '#440154', 1 '#3b528b', 2 '#21918c', 3 '#5ec962', "
          "4 '#fde725')\n"
          "set colorbox\nset cblabel 'log10(count), occurrences in the corpus' noenhanced\n"
          "set cbtics\n", f);
    char pts[120];
    snprintf(pts, sizeof pts, "seen rows (%zu of %zu drawn)", sample_size(p->n), p->n);
    fputs("plot data skip 1 using 4:5:3 with points pt 7 ps 0.45 lc palette", f);
    plot_legend(f, pts);
    fputs(", \\\n     marks skip 1 every ::0::0 using 2:3 with points pt 2 ps 3 lw 3 "
          "lc rgb 'black'", f);
    plot_legend(f, "origin (the zero vector)");
    fprintf(f, ", \\\n     marks skip 1 every ::1::1 using 2:3 with points pt 6 ps 3 lw 3 "
               "lc rgb '%s'", RED);
    plot_legend(f, "mean row (0, 0)");
    /* the two marks may be close: origin's name up and left, the mean's down and right */
    fputs(", \\\n     marks skip 1 every ::0::0 using 2:3:1 with labels right offset char -1.5,1.2 "
          "boxed font ',12' noenhanced notitle, \\\n"
          "     marks skip 1 every ::1::1 using 2:3:1 with labels left offset char 1.5,-1.2 "
          "boxed font ',12' noenhanced notitle\n", f);
}

static int chart_pca(plot_job *job, const nm_report *r, hp_err *err)
{
    nm_pca p;
    if (read_pca(job, r, &p, err) != 0) {
        pca_free(&p);
        return -1;
    }
    plot_chart c;
    FILE *data, *marks;
    int rc = plot_chart_begin(&c, r->group, "pca", &data, err);
    if (rc == 0)
        rc = plot_chart_add_data(&c, "marks", "_marks", &marks, err);
    if (rc == 0)
        rc = write_pca_points(data, r, &p, err);
    if (rc != 0) {
        plot_chart_discard(&c);
        pca_free(&p);
        return -1;
    }
    write_pca_marks(marks, &p);
    pca_script(c.body, r, &p);
    pca_free(&p);
    return plot_chart_finish(job, &c, err);
}

/* ---- the family ---- */

static int has(const plot_job *job, const char *group, const char *rel, int *yes, hp_err *err)
{
    char name[200];
    obj(name, sizeof name, group, rel);
    *yes = hp_report_has(job->report, name, err);
    return *yes < 0 ? -1 : 0;
}

static int plot_norms(plot_job *job, const char *group, hp_err *err)
{
    nm_report r;
    int rc = read_report(job, group, &r, err);
    if (rc == 0)
        rc = plot_frequency_charts(job, &r, err);
    int yes = 0;
    if (rc == 0 && (rc = has(job, group, "groups/name", &yes, err)) == 0 && yes)
        rc = chart_groups(job, &r, err);
    if (rc == 0 && (rc = has(job, group, "pca/coords", &yes, err)) == 0 && yes)
        rc = chart_pca(job, &r, err);
    nm_report_free(&r);
    return rc;
}

static const char *norms_unplottable(const plot_job *job, const char *group)
{
    (void)group;
    static const char *const NEED[][2] = {
        {"/norms/norm", "no /norms/norm"},
        {"/norms/centered_norm", "no /norms/centered_norm"},
        {"/norms/count", "no /norms/count"},
        {"/norms/bins", "no count bins /norms/bins"},
    };
    hp_err err;
    for (size_t i = 0; i < sizeof NEED / sizeof NEED[0]; i++)
        if (hp_report_has(job->report, NEED[i][0], &err) != 1)
            return NEED[i][1];
    return NULL;
}

const plot_family plot_family_norms = {"norms", norms_unplottable, plot_norms};

/* What `hyplora norms` prints and writes: the summary on stdout and group /norms of the
 * report (layout: docs/report-format.md). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "norms_cmd.h"

/* "p 0.0123", or "p < 1e-300" where the tail underflows double precision (as scipy's 0.0) */
static const char *p_text(double p, char *buf, size_t n)
{
    if (p == 0)
        snprintf(buf, n, "p < 1e-300");
    else
        snprintf(buf, n, "p %.3g", p);
    return buf;
}

static void print_corr(const char *label, const hp_norm_freq *nf)
{
    char a[32], b[32], c[32];
    printf("%-28s Spearman rho %+.4f (%s)  Kendall tau %+.4f (%s)  Pearson r %+.4f (%s)\n",
           label, nf->spearman.r, p_text(nf->spearman.p_value, a, sizeof a), nf->kendall.r,
           p_text(nf->kendall.p_value, b, sizeof b), nf->pearson.r,
           p_text(nf->pearson.p_value, c, sizeof c));
}

void norms_print(const norms_run *r)
{
    printf("%s: %zu x %zu\n", r->what, r->n, r->dim);
    printf("%zu rows seen in the corpus, %zu never seen", r->nf.n_seen, r->nf.n_unseen);
    if (r->n_beyond)
        printf(" (%zu of them padding past the tokenizer)", r->n_beyond);
    printf("\nmean norm: seen %.4f, never seen %.4f; centred: seen %.4f, never seen %.4f\n",
           r->nf.mean_seen, r->nf.mean_unseen, r->nf_centered.mean_seen,
           r->nf_centered.mean_unseen);
    print_corr("norm vs log10(count):", &r->nf);
    print_corr("centred norm vs log10(count):", &r->nf_centered);
    if (r->n_groups) {
        printf("\n%-20s %10s %14s %14s %8s\n", "group", "mean norm", "centred norm", "mean count",
               "words");
        for (size_t g = 0; g < r->n_groups; g++)
            printf("%-20s %10.4f %14.4f %14.1f %4zu/%zu\n", r->groups[g].name, r->group[g].mean_norm,
                   r->group[g].mean_centered_norm, r->group[g].mean_count, r->group[g].n_used,
                   r->groups[g].n_words);
    }
    if (r->have_pca)
        printf("\nprincipal components: %.2f%% and %.2f%% of the variance\n",
               100 * r->pca.explained_ratio[0], 100 * r->pca.explained_ratio[1]);
    if (r->head) {
        printf("\noutput head %s: %zu rows\n", r->head->name, r->n_head);
        print_corr("head norm vs log10(count):", &r->head_nf);
    }
}

/* ---- the report ---- */

typedef struct writer {
    hp_report *r;
    hp_err *err;
    int ok;
} writer;

static void f64(writer *w, const char *name, size_t n, const double *v, const char *def,
                const char *units)
{
    int64_t dims[1] = {(int64_t)n};
    w->ok = w->ok && hp_report_write_f64(w->r, name, 1, dims, v, def, units, w->err) == 0;
}

static void i64(writer *w, const char *name, size_t n, const int64_t *v, const char *def)
{
    int64_t dims[1] = {(int64_t)n};
    w->ok = w->ok && hp_report_write_i64(w->r, name, 1, dims, v, def, NULL, w->err) == 0;
}

static void attr(writer *w, const char *name, double v)
{
    w->ok = w->ok && hp_report_attr_f64(w->r, "", name, v, w->err) == 0;
}

static void attr_i(writer *w, const char *name, int64_t v)
{
    w->ok = w->ok && hp_report_attr_i64(w->r, "", name, v, w->err) == 0;
}

static void attr_s(writer *w, const char *name, const char *v)
{
    w->ok = w->ok && hp_report_attr_str(w->r, "", name, v, w->err) == 0;
}

/* The correlation attributes of one norm against log10(count), names prefixed. */
static void correlations(writer *w, const char *prefix, const hp_norm_freq *nf)
{
    char name[96];
#define ATTR(suffix, value) \
    (snprintf(name, sizeof name, "%s%s", prefix, suffix), attr(w, name, value))
    ATTR("spearman_rho", nf->spearman.r);
    ATTR("spearman_p_value", nf->spearman.p_value);
    ATTR("kendall_tau", nf->kendall.r);
    ATTR("kendall_p_value", nf->kendall.p_value);
    ATTR("pearson_r", nf->pearson.r);
    ATTR("pearson_p_value", nf->pearson.p_value);
    ATTR("mean_norm_seen", nf->mean_seen);
    ATTR("median_norm_seen", nf->median_seen);
    ATTR("mean_norm_unseen", nf->mean_unseen);
    ATTR("median_norm_unseen", nf->median_unseen);
#undef ATTR
}

/* bins/<prefix>mean ... over the count bins (the bin edges once, by the caller) */
static void bins(writer *w, const char *prefix, const hp_norm_freq *nf, const char *what)
{
    size_t n = nf->n_bins;
    double *v = hp_malloc((n ? n : 1) * sizeof *v, "bin statistics", w->err);
    if (!v) {
        w->ok = 0;
        return;
    }
    static const char *const STAT[] = {"mean", "median", "q25", "q75", "min", "max"};
    static const char *const DEF[] = {"mean", "median", "first quartile", "third quartile",
                                      "minimum", "maximum"};
    for (int s = 0; s < 6; s++) {
        for (size_t b = 0; b < n; b++) {
            const hp_log_bin *x = &nf->bins[b];
            double vals[6] = {x->mean, x->median, x->q25, x->q75, x->min, x->max};
            v[b] = vals[s];
        }
        char name[96], def[256];
        snprintf(name, sizeof name, "bins/%s%s", prefix, STAT[s]);
        snprintf(def, sizeof def, "%s of the %s of the rows whose count lies in the bin (NaN for "
                                  "an empty bin)", DEF[s], what);
        f64(w, name, n, v, def, NULL);
    }
    free(v);
}

static void write_bins(writer *w, const norms_run *r)
{
    size_t n = r->nf.n_bins;
    double *lo = hp_malloc((n ? n : 1) * 2 * sizeof *lo, "bin edges", w->err);
    int64_t *count = hp_malloc((n ? n : 1) * sizeof *count, "bin sizes", w->err);
    if (!lo || !count) {
        free(lo);
        free(count);
        w->ok = 0;
        return;
    }
    for (size_t b = 0; b < n; b++) {
        lo[b] = r->nf.bins[b].lo;
        lo[n + b] = r->nf.bins[b].hi;
        count[b] = (int64_t)r->nf.bins[b].count;
    }
    f64(w, "bins/count_low", n, lo, "lower edge of the count bin (the bin holds lo <= count < hi)",
        NULL);
    f64(w, "bins/count_high", n, lo + n, "upper edge of the count bin", NULL);
    i64(w, "bins/n_rows", n, count, "number of seen rows whose count lies in the bin");
    bins(w, "", &r->nf, "L2 norm");
    bins(w, "centered_", &r->nf_centered, "distance from the mean row");
    free(lo);
    free(count);
}

static void write_groups(writer *w, const norms_run *r)
{
    size_t G = r->n_groups, M = r->n_members;
    const char **names = hp_malloc(G * sizeof *names, "group names", w->err);
    double *d = hp_malloc((3 * G + 2 * M) * sizeof *d, "group results", w->err);
    int64_t *n = hp_malloc((2 * G + M) * sizeof *n, "group sizes", w->err);
    if (!names || !d || !n) {
        w->ok = 0;
        goto done;
    }
    for (size_t g = 0; g < G; g++) {
        names[g] = r->groups[g].name;
        d[g] = r->group[g].mean_norm;
        d[G + g] = r->group[g].mean_centered_norm;
        d[2 * G + g] = r->group[g].mean_count;
        n[g] = (int64_t)r->groups[g].n_words;
        n[G + g] = (int64_t)r->group[g].n_used;
    }
    for (size_t m = 0; m < M; m++) {
        int64_t row = r->member_row[m];
        d[3 * G + m] = row >= 0 ? r->norm[row] : NAN;
        d[3 * G + M + m] = row >= 0 ? r->centered[row] : NAN;
        n[2 * G + m] = row >= 0 ? r->counts[row] : -1;
    }
    w->ok = w->ok && hp_report_write_strings(w->r, "groups/name", G, names,
                                             "the word groups, in the order of the group file",
                                             w->err) == 0;
    f64(w, "groups/mean_norm", G, d, "mean L2 norm of the rows of the group's words", NULL);
    f64(w, "groups/mean_centered_norm", G, d + G,
        "mean distance from the mean row of the rows of the group's words", NULL);
    f64(w, "groups/mean_count", G, d + 2 * G,
        "mean corpus count of the group's words (their rows)", NULL);
    i64(w, "groups/n_words", G, n, "words the group file lists for the group");
    i64(w, "groups/n_used", G, n + G, "of them, words with a row (a single token or vector)");
    w->ok = w->ok && hp_report_write_strings(w->r, "groups/member_word", M, r->member_word,
                                             "every word of every group, in file order",
                                             w->err) == 0;
    i64(w, "groups/member_group", M, r->member_group, "index into groups/name of the word's group");
    i64(w, "groups/member_row", M, r->member_row,
        "the word's row (token id, or vector index), -1 when it has none");
    f64(w, "groups/member_norm", M, d + 3 * G, "L2 norm of the word's row (NaN without one)", NULL);
    f64(w, "groups/member_centered_norm", M, d + 3 * G + M,
        "distance of the word's row from the mean row (NaN without one)", NULL);
    i64(w, "groups/member_count", M, n + 2 * G, "corpus count of the word's row (-1 without one)");
    w->ok = w->ok && hp_report_attr_str(w->r, "groups", "group_file", r->groups_path, w->err) == 0;
done:
    free(names);
    free(d);
    free(n);
}

static void write_pca(writer *w, const norms_run *r)
{
    const hp_pca *p = &r->pca;
    size_t seen = r->nf.n_seen;
    f64(w, "pca/variance", (size_t)p->k, p->variance,
        "variance of the rows along each principal component (covariance eigenvalue, divisor "
        "n-1)", NULL);
    f64(w, "pca/explained_variance_ratio", (size_t)p->k, p->explained_ratio,
        "fraction of the total variance along each principal component", NULL);
    int64_t dims[2] = {(int64_t)p->k, (int64_t)r->dim};
    w->ok = w->ok && hp_report_write_f64(w->r, "pca/components", 2, dims, p->components,
                                         "the principal directions, one unit row each", NULL,
                                         w->err) == 0;
    int64_t cd[2] = {(int64_t)seen, 2};
    w->ok = w->ok && hp_report_write_f64(w->r, "pca/coords", 2, cd, r->pca_coords,
                                         "coordinates of each seen row (pca/row) in the plane "
                                         "of the first two components, the mean row at (0, 0)",
                                         NULL, w->err) == 0;
    i64(w, "pca/row", seen, r->pca_rows, "the row (token id or vector index) of each pca/coords");
    f64(w, "pca/origin", 2, r->pca_origin, "where the zero vector (the origin) lies in that plane",
        NULL);
    w->ok = w->ok &&
            hp_report_attr_f64(w->r, "pca", "total_variance", p->total_variance, w->err) == 0 &&
            hp_report_attr_i64(w->r, "pca", "passes", p->passes, w->err) == 0 &&
            hp_report_attr_f64(w->r, "pca", "angle_bound", p->angle_bound, w->err) == 0;
}

int norms_write_report(norms_run *r, const char *out, hp_err *err)
{
    writer w = {hp_report_begin(out, "norms", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err), err,
                1};
    if (!w.r)
        return -1;
    /* inputs: the vectors file, or the model's weight files (/freq's own are in /freq),
     * hashed while the command ran */
    char (*hex)[HP_SHA256_HEX] = hp_malloc(r->n_input_files * sizeof *hex, "checksums", err);
    hp_sha256_job *job = r->checksums;
    r->checksums = NULL;
    int hashed = hp_sha256_files_end(job, hex, err); /* always joined; hex NULL discards */
    w.ok = hex && hashed == 0;
    for (size_t i = 0; w.ok && i < r->n_input_files; i++)
        w.ok = hp_report_add_input_hex(w.r, r->input_files[i], hex[i], err) == 0;
    free(hex);
    if (w.ok && r->n_groups)
        w.ok = hp_report_add_input(w.r, r->groups_path, err) == 0;
    f64(&w, "norm", r->n, r->norm, "L2 norm of each embedding row (index = token id or vector "
                                  "index)", NULL);
    f64(&w, "centered_norm", r->n, r->centered,
        "distance of each embedding row from the mean row", NULL);
    f64(&w, "mean_embedding", r->dim, r->mean, "the mean of the embedding rows", NULL);
    i64(&w, "count", r->n, r->counts, "corpus count of each row's token or word (from /freq); 0: "
                                      "never seen");
    attr_s(&w, "source", r->is_vectors ? "vectors" : "model");
    attr_s(&w, "input", r->input);
    attr_s(&w, "matrix", r->is_vectors ? r->vec.format : r->emb->name);
    attr_s(&w, "freq_report", r->freq_report);
    attr_i(&w, "n_rows", (int64_t)r->n);
    attr_i(&w, "dim", (int64_t)r->dim);
    attr_i(&w, "n_seen", (int64_t)r->nf.n_seen);
    attr_i(&w, "n_unseen", (int64_t)r->nf.n_unseen);
    attr_i(&w, "n_rows_beyond_counts", (int64_t)r->n_beyond);
    attr_i(&w, "bins_per_decade", r->bins_per_decade);
    correlations(&w, "", &r->nf);
    correlations(&w, "centered_", &r->nf_centered);
    write_bins(&w, r);
    if (r->n_groups)
        write_groups(&w, r);
    if (r->have_pca)
        write_pca(&w, r);
    if (r->head) {
        f64(&w, "output_norm", r->n_head, r->head_norm, "L2 norm of each row of the untied "
                                                       "output head (lm_head)", NULL);
        f64(&w, "output_centered_norm", r->n_head, r->head_centered,
            "distance of each output-head row from the mean output-head row", NULL);
        attr_s(&w, "output_matrix", r->head->name);
        correlations(&w, "output_", &r->head_nf);
    }
    if (!w.ok) {
        hp_report_abort(w.r);
        return -1;
    }
    return hp_report_commit(w.r, err);
}

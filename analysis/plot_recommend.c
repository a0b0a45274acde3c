/* `hyplora plot` of /recommend (analysis/plot.h): δ_rel of the hidden states entering each
 * decoder layer, the evidence of the recommendation, with the layers it gives HypLoRA
 * marked and its initial K in the key. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/report.h"
#include "plot.h"

static const char *const BLUE = "#1f77b4", *const RED = "#d62728", *const GREY = "#7f7f7f";

typedef struct rec {
    int64_t *layer;
    double *delta_rel;
    char **method;
    size_t n;
    double K;
    char **other; /* the method of the other layers (attribute), one string */
    size_t n_other;
} rec;

static void rec_free(rec *r)
{
    free(r->layer);
    free(r->delta_rel);
    hp_report_free_strings(r->method, r->n);
    plot_free_strings(r->other, r->n_other);
    memset(r, 0, sizeof *r);
}

/* Reads /recommend; fails naming what is missing or inconsistent. */
static int rec_read(const plot_job *job, rec *r, hp_err *err)
{
    memset(r, 0, sizeof *r);
    int64_t n1, n2;
    size_t n3;
    if (hp_report_read_i64(job->report, "/recommend/layer", &r->layer, &n1, err) ||
        hp_report_read_f64(job->report, "/recommend/delta_rel", &r->delta_rel, &n2, err) ||
        hp_report_read_strings(job->report, "/recommend/method", &r->method, &n3, err) ||
        hp_report_read_attr_f64(job->report, "/recommend", "curvature_k", &r->K, err) ||
        plot_attr_strings(job, "/recommend", "other", &r->other, &r->n_other, err))
        return -1;
    r->n = n3;
    if (n1 != n2 || (size_t)n1 != n3 || n1 == 0)
        return hp_fail(err, "%s: /recommend: layer, delta_rel and method differ in length (%lld, %lld, %zu)",
                       job->report, (long long)n1, (long long)n2, n3);
    return 0;
}

static int chart_layers(plot_job *job, const rec *r, hp_err *err)
{
    plot_chart c;
    FILE *data;
    if (plot_chart_begin(&c, "recommend", "layers", &data, err)) {
        plot_chart_discard(&c);
        return -1;
    }
    fputs("layer\tdelta_rel\thyplora\tmethod\n", data);
    size_t n_hyp = 0;
    for (size_t i = 0; i < r->n; i++) {
        bool hyp = strcmp(r->method[i], "hyplora") == 0;
        n_hyp += hyp;
        fprintf(data, "%lld\t%.17g\t%d\t%s\n", (long long)r->layer[i], r->delta_rel[i], hyp, r->method[i]);
    }
    char key_hyp[160], key_other[120], source[200];
    snprintf(key_hyp, sizeof key_hyp, "HypLoRA, initial K = %.4g (%zu layers)", r->K, n_hyp);
    snprintf(key_other, sizeof key_other, "%s (%zu layers)", r->n_other ? r->other[0] : "other", r->n - n_hyp);
    snprintf(source, sizeof source, "%zu decoder layers; the lowest δ_rel get HypLoRA", r->n);
    FILE *f = c.body;
    plot_frame(f, "recommend: the layers that get HypLoRA", source, "decoder layer",
               "δ_rel of the hidden states entering the layer");
    fputs("set key below box height 0.5\nset bmargin 6.5\n", f);
    double last = (double)r->layer[r->n - 1];
    fprintf(f, "set xrange [-0.5:%.1f]\nset xtics %.0f\n", last + 0.5, fmax(1, ceil(last / 16)));
    fprintf(f, "plot data skip 1 using 1:2 with lines lw 1 lc rgb '%s' notitle, \\\n", GREY);
    fprintf(f, "     data skip 1 using 1:($3 == 1 ? $2 : 1/0) with points pt 7 ps 1.6 lc rgb '%s'", RED);
    plot_legend(f, key_hyp);
    fprintf(f, ", \\\n     data skip 1 using 1:($3 == 1 ? 1/0 : $2) with points pt 6 ps 1.3 lw 2 lc rgb '%s'", BLUE);
    plot_legend(f, key_other);
    fputc('\n', f);
    return plot_chart_finish(job, &c, err);
}

static int plot_recommend(plot_job *job, const char *group, hp_err *err)
{
    (void)group;
    rec r;
    int rc = rec_read(job, &r, err);
    if (rc == 0)
        rc = chart_layers(job, &r, err);
    rec_free(&r);
    return rc;
}

static const char *recommend_unplottable(const plot_job *job, const char *group)
{
    (void)job, (void)group;
    return NULL; /* a malformed group is reported by plot_recommend, naming what is wrong */
}

const plot_family plot_family_recommend = {"recommend", recommend_unplottable, plot_recommend};

/* /recommend from /delta (analysis/recommend.h). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend.h"

/* Khrulkov et al. (2020): the Poincaré-ball curvature that gives points of this δ_rel. */
#define KHRULKOV_DELTA_REL 0.144

void recommend_options_init(recommend_options *o)
{
    *o = (recommend_options){.curvature = 0, .fraction = 0.5, .k_min = 0.1, .k_max = 10, .other = "lora"};
}

/* What the rule reads from the report. */
typedef struct evidence {
    double emb_delta_rel;
    int n_layers;
    double *delta_rel; /* [n_layers] of the input of each decoder layer */
} evidence;

static int need(const char *report, const char *object, hp_err *err)
{
    int has = hp_report_has(report, object, err);
    if (has < 0)
        return -1;
    if (has == 0)
        return hp_fail(err, "%s has no %s: the recommendation needs the per-prompt δ of the embeddings and of "
                            "every layer (hyplora analyze, or hyplora delta MODEL --data FILE --layers all)",
                       report, object);
    return 0;
}

static int read_evidence(const char *report, evidence *e, hp_err *err)
{
    memset(e, 0, sizeof *e);
    int64_t n_layers, n, n2, *layer = NULL;
    double *rel = NULL;
    if (need(report, "/delta/embeddings", err) || need(report, "/delta/layers", err) ||
        hp_report_read_attr_f64(report, "/delta/embeddings", "delta_rel_mean", &e->emb_delta_rel, err) ||
        hp_report_read_attr_i64(report, "/delta/layers", "n_layers", &n_layers, err) ||
        hp_report_read_i64(report, "/delta/layers/layer", &layer, &n, err) ||
        hp_report_read_f64(report, "/delta/layers/delta_rel_mean", &rel, &n2, err))
        return free(layer), -1;
    int rc = 0;
    if (n != n2 || n_layers < 1 || n_layers > 100000 || !isfinite(e->emb_delta_rel))
        rc = hp_fail(err, "%s: /delta/layers is inconsistent (%lld layers, %lld and %lld entries)", report,
                     (long long)n_layers, (long long)n, (long long)n2);
    e->n_layers = (int)n_layers;
    if (rc == 0 && !(e->delta_rel = hp_malloc((size_t)n_layers * sizeof *e->delta_rel, "the layers", err)))
        rc = -1;
    for (int64_t l = 0; rc == 0 && l < n_layers; l++) {
        int64_t i = 0;
        while (i < n && layer[i] != l)
            i++;
        if (i == n)
            rc = hp_fail(err, "%s: /delta/layers has no δ for layer %lld: the recommendation ranks every decoder "
                              "layer (hyplora delta ... --layers all)", report, (long long)l);
        else if (!isfinite(rel[i]))
            rc = hp_fail(err, "%s: /delta/layers/delta_rel_mean of layer %lld is not a number", report, (long long)l);
        else
            e->delta_rel[l] = rel[i];
    }
    free(layer);
    free(rel);
    return rc;
}

typedef struct rank_entry {
    double delta_rel;
    int layer;
} rank_entry;

static int by_delta_rel(const void *a, const void *b)
{
    const rank_entry *x = a, *y = b;
    if (x->delta_rel != y->delta_rel)
        return x->delta_rel < y->delta_rel ? -1 : 1;
    return x->layer - y->layer;
}

/* The plan: method[l] ("hyplora" or o->other), and K. */
typedef struct plan {
    double K, c;     /* c: Khrulkov's, 0 when K was given */
    int n_hyp;
    const char **method;
    double *initial_K;
} plan;

static int decide(const recommend_options *o, const evidence *e, plan *p, hp_err *err)
{
    int L = e->n_layers;
    p->c = e->emb_delta_rel > 0 ? pow(KHRULKOV_DELTA_REL / e->emb_delta_rel, 2) : INFINITY;
    double from_delta = fmin(fmax(1 / p->c, o->k_min), o->k_max);
    p->K = o->curvature > 0 ? o->curvature : from_delta;
    p->n_hyp = (int)floor(o->fraction * L + 0.5);
    if (p->n_hyp < 1)
        p->n_hyp = 1;
    rank_entry *r = hp_malloc((size_t)L * sizeof *r, "the ranking", err);
    p->method = r ? hp_malloc((size_t)L * sizeof *p->method, "the plan", err) : NULL;
    p->initial_K = p->method ? hp_malloc((size_t)L * sizeof *p->initial_K, "the plan", err) : NULL;
    if (!p->initial_K)
        return free(r), -1;
    for (int l = 0; l < L; l++) {
        r[l] = (rank_entry){e->delta_rel[l], l};
        p->method[l] = o->other;
        p->initial_K[l] = 0;
    }
    qsort(r, (size_t)L, sizeof *r, by_delta_rel);
    for (int i = 0; i < p->n_hyp; i++) {
        p->method[r[i].layer] = "hyplora";
        p->initial_K[r[i].layer] = p->K;
    }
    free(r);
    return 0;
}

static void rule_text(const recommend_options *o, const evidence *e, const plan *p, char *buf, size_t n)
{
    int at = o->curvature > 0
                 ? snprintf(buf, n, "K = %.6g as given (--curvature)", o->curvature)
                 : snprintf(buf, n,
                            "K = 1/c with Khrulkov's c = (0.144/delta_rel)^2 of the embeddings' mean per-prompt "
                            "delta_rel (%.6g), clamped to [%.6g, %.6g]",
                            e->emb_delta_rel, o->k_min, o->k_max);
    snprintf(buf + at, n - (size_t)at,
             "; HypLoRA on the %d of %d decoder layers whose input hidden states have the lowest mean delta_rel "
             "(the most tree-like), %s on the others",
             p->n_hyp, e->n_layers, o->other);
}

static int write_group(const char *report, const recommend_options *o, const evidence *e, const plan *p,
                       const char *rule, hp_err *err)
{
    hp_report *r = hp_report_begin(report, "recommend", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err);
    if (!r)
        return -1;
    int L = e->n_layers;
    int64_t dims[1] = {L};
    int64_t *layer = hp_malloc((size_t)L * sizeof *layer, "the layers", err);
    int rc = layer ? 0 : -1;
    for (int l = 0; rc == 0 && l < L; l++)
        layer[l] = l;
    if (rc == 0)
        rc = hp_report_attr_f64(r, "", "curvature_k", p->K, err) ||
             hp_report_attr_str(r, "", "rule", rule, err) ||
             hp_report_attr_str(r, "", "inputs", "/delta/embeddings delta_rel_mean; /delta/layers layer, "
                                                  "delta_rel_mean", err) ||
             hp_report_attr_f64(r, "", "embeddings_delta_rel", e->emb_delta_rel, err) ||
             hp_report_attr_str(r, "", "curvature_source", o->curvature > 0 ? "given" : "delta", err) ||
             hp_report_attr_f64(r, "", "fraction", o->fraction, err) ||
             hp_report_attr_f64(r, "", "k_min", o->k_min, err) || hp_report_attr_f64(r, "", "k_max", o->k_max, err) ||
             hp_report_attr_str(r, "", "other", o->other, err) ||
             hp_report_attr_i64(r, "", "n_hyperbolic", p->n_hyp, err) ||
             hp_report_write_i64(r, "layer", 1, dims, layer, "decoder layer index, from 0", NULL, err) ||
             hp_report_write_strings(r, "method", (size_t)L, p->method,
                                     "the method the layer's adapters get: hyplora, lora or none", err) ||
             hp_report_write_f64(r, "initial_curvature", 1, dims, p->initial_K,
                                 "initial K of the layer's HypLoRA modules (0: the layer gets no HypLoRA)", NULL,
                                 err) ||
             hp_report_write_f64(r, "delta_rel", 1, dims, e->delta_rel,
                                 "mean per-prompt delta_rel of the hidden states entering the layer (the evidence, "
                                 "from /delta/layers)", NULL, err)
                 ? -1
                 : 0;
    free(layer);
    if (rc) {
        hp_report_abort(r);
        return -1;
    }
    return hp_report_commit(r, err);
}

int recommend_write(const char *report, const recommend_options *o, hp_err *err)
{
    evidence e;
    plan p = {0};
    char rule[1024];
    int rc = read_evidence(report, &e, err);
    if (rc == 0)
        rc = decide(o, &e, &p, err);
    if (rc == 0) {
        rule_text(o, &e, &p, rule, sizeof rule);
        rc = write_group(report, o, &e, &p, rule, err);
    }
    if (rc == 0) {
        printf("recommendation: initial K %.4g (%s), HypLoRA on layers", p.K,
               o->curvature > 0 ? "given" : "from the embeddings' delta_rel");
        for (int l = 0; l < e.n_layers; l++)
            if (p.initial_K[l] > 0)
                printf(" %d", l);
        printf(" (the %d with the lowest delta_rel of %d), %s on the others\n", p.n_hyp, e.n_layers, o->other);
    }
    free(p.method);
    free(p.initial_K);
    free(e.delta_rel);
    return rc;
}

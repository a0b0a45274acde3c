/* The per-prompt δ protocol over token ids (hyplora/delta_prompts.h). */
#include <stdlib.h>
#include <string.h>

#include "hyplora/delta_prompts.h"

/* The item's label in messages: "NOUN ID" as hp_delta_sets names it. */
static int64_t label(const hp_delta_sets_options *o, size_t i)
{
    return o->ids ? o->ids[i] : (int64_t)i;
}

static const char *noun(const hp_delta_sets_options *o)
{
    return o->noun ? o->noun : "set";
}

static size_t *item_sizes(const hp_delta_items *items, hp_err *err)
{
    size_t *n = hp_malloc((items->n ? items->n : 1) * sizeof *n, "the item sizes", err);
    for (size_t i = 0; n && i < items->n; i++)
        n[i] = items->start[i + 1] - items->start[i];
    return n;
}

/* ---- rows of a matrix ---- */

typedef struct rows_job {
    const hp_delta_matrix *m;
    const hp_delta_items *items;
} rows_job;

static const float *matrix_rows(void *ctx, size_t set, float *buf, hp_err *err)
{
    const rows_job *j = ctx;
    const int64_t *rows = j->items->rows + j->items->start[set];
    size_t n = j->items->start[set + 1] - j->items->start[set], dim = j->m->dim;
    for (size_t i = 0; i < n; i++) {
        if (j->m->f32)
            memcpy(buf + i * dim, j->m->f32 + (size_t)rows[i] * dim, dim * sizeof *buf);
        else if (hp_model_read_rows(j->m->model, j->m->tensor, rows[i], 1, buf + i * dim, err))
            return NULL;
    }
    return buf;
}

int hp_delta_prompts(const hp_delta_matrix *m, const hp_delta_items *items, const hp_delta_sets_options *opt,
                     hp_delta_result *out, hp_err *err)
{
    for (size_t i = 0; i < items->n; i++)
        for (size_t k = items->start[i]; k < items->start[i + 1]; k++)
            if (items->rows[k] < 0 || (uint64_t)items->rows[k] >= m->rows)
                return hp_fail(err, "%s %lld: point %zu is row %lld, but the matrix has %zu rows", noun(opt),
                               (long long)label(opt, i), k - items->start[i], (long long)items->rows[k], m->rows);
    size_t *sizes = item_sizes(items, err);
    if (!sizes)
        return -1;
    rows_job j = {m, items};
    int rc = hp_delta_sets(items->n, sizes, m->dim, matrix_rows, &j, opt, out, err);
    free(sizes);
    return rc;
}

/* ---- hidden states of each layer ---- */

typedef struct by_length {
    size_t n, i;
} by_length;

static int longest_first(const void *a, const void *b)
{
    const by_length *x = a, *y = b;
    return x->n != y->n ? (x->n < y->n) - (x->n > y->n) : (x->i > y->i) - (x->i < y->i);
}

/* The buffers of one run, sized for B sequences of the longest item. */
typedef struct layer_run {
    const hp_fwd_model *fm;
    const hp_delta_items *items;
    const int *layers;
    size_t n_layers, dim;
    hp_fwd_acts *acts;
    float *hidden;  /* [model layers + 1, B, T, hidden] */
    int32_t *tokens;
    int *lengths;
    size_t *order;  /* items, longest first */
    size_t *sizes, *bases; /* per set of a batch: [n_layers * B] */
    int64_t *ids;
    hp_delta_result *res;
    int B, T;       /* of the batch being measured */
    const size_t *batch; /* its items */
} layer_run;

static void layer_run_free(layer_run *l)
{
    hp_fwd_acts_free(l->acts);
    free(l->hidden), free(l->tokens), free(l->lengths), free(l->order), free(l->sizes), free(l->bases);
    free(l->ids), free(l->res);
}

/* Set s of a batch is (chosen layer s / B, sequence s % B): its rows of the hidden states. */
static const float *layer_points(void *ctx, size_t set, float *buf, hp_err *err)
{
    (void)buf, (void)err;
    const layer_run *l = ctx;
    size_t layer = (size_t)l->layers[set / (size_t)l->B], b = set % (size_t)l->B;
    return l->hidden + ((layer * (size_t)l->B + b) * (size_t)l->T) * l->dim;
}

/* One batch l->batch[0 .. B): the forward pass, then δ of every chosen layer of each item,
 * stored at out[layer, item]. */
static int layer_batch(layer_run *l, int B, const hp_delta_layers_options *opt, hp_delta_result *out,
                       hp_err *err)
{
    const hp_delta_items *it = l->items;
    l->B = B;
    l->T = (int)(it->start[l->batch[0] + 1] - it->start[l->batch[0]]); /* the longest: sorted */
    for (int b = 0; b < B; b++) {
        size_t i = l->batch[b], n = it->start[i + 1] - it->start[i];
        l->lengths[b] = (int)n;
        for (size_t t = 0; t < (size_t)l->T; t++)
            l->tokens[(size_t)b * l->T + t] = t < n ? (int32_t)it->rows[it->start[i] + t] : 0;
    }
    if (hp_fwd_run(l->fm, l->acts, NULL, l->tokens, l->lengths, B, l->T, NULL, l->hidden, err))
        return hp_failctx(err, "the forward pass of %s %lld and the %d after it", noun(&opt->sets),
                          (long long)label(&opt->sets, l->batch[0]), B - 1);
    size_t n_sets = l->n_layers * (size_t)B;
    for (size_t s = 0; s < n_sets; s++) {
        size_t i = l->batch[s % (size_t)B];
        l->sizes[s] = (size_t)l->lengths[s % (size_t)B];
        l->bases[s] = opt->sets.base ? opt->sets.base[i] : 0;
        l->ids[s] = label(&opt->sets, i);
    }
    hp_delta_sets_options o = opt->sets;
    o.base = l->bases;
    o.ids = l->ids;
    o.progress = NULL;
    o.parts = 1; /* the share is of batches */
    if (hp_delta_sets(n_sets, l->sizes, l->dim, layer_points, l, &o, l->res, err))
        return -1;
    for (size_t s = 0; s < n_sets; s++)
        out[s / (size_t)B * it->n + l->batch[s % (size_t)B]] = l->res[s];
    return 0;
}

/* Sequences per batch: all the layers' hidden states of a batch in about 1 GiB, at most 16. */
static int batch_size(const hp_fwd_model *fm, size_t longest, int asked)
{
    if (asked > 0)
        return asked;
    double per_seq = (double)(fm->config.n_layers + 1) * (double)longest * (double)fm->config.hidden_size * 4.0;
    double b = (double)(1u << 30) / per_seq;
    return b < 1 ? 1 : b > 16 ? 16 : (int)b;
}

int hp_delta_layers(const hp_fwd_model *fm, const hp_delta_items *items, const int *layers, size_t n_layers,
                    const hp_delta_layers_options *opt, hp_delta_result *out, hp_err *err)
{
    const hp_config *c = &fm->config;
    const hp_delta_sets_options *so = &opt->sets;
    for (size_t k = 0; k < n_layers; k++)
        if (layers[k] < 0 || layers[k] > c->n_layers)
            return hp_fail(err, "layer %d is out of range: the model has %d layers, so 0 (the embeddings) to %d "
                                "(the last layer's output)",
                           layers[k], c->n_layers, c->n_layers);
    size_t longest = 0;
    for (size_t i = 0; i < items->n; i++) {
        size_t n = items->start[i + 1] - items->start[i];
        if (c->max_position_embeddings > 0 && n > (size_t)c->max_position_embeddings)
            return hp_fail(err, "%s %lld: %zu tokens are more than the model's context of %d", noun(so),
                           (long long)label(so, i), n, c->max_position_embeddings);
        longest = n > longest ? n : longest;
    }
    if (items->n == 0 || n_layers == 0)
        return 0;
    int B = batch_size(fm, longest, opt->batch);
    B = (size_t)B > items->n ? (int)items->n : B;
    layer_run l = {.fm = fm, .items = items, .layers = layers, .n_layers = n_layers, .dim = (size_t)c->hidden_size};
    size_t sets = n_layers * (size_t)B;
    size_t hidden = ((size_t)c->n_layers + 1) * (size_t)B * longest * l.dim;
    int rc = 0;
    if (!(l.acts = hp_fwd_acts_new(fm, B, (int)longest, false, err)) ||
        !(l.hidden = hp_malloc(hidden * sizeof *l.hidden, "the hidden states of a batch", err)) ||
        !(l.tokens = hp_malloc((size_t)B * longest * sizeof *l.tokens, "a batch of tokens", err)) ||
        !(l.lengths = hp_malloc((size_t)B * sizeof *l.lengths, "a batch", err)) ||
        !(l.order = hp_malloc(items->n * sizeof *l.order, "the item order", err)) ||
        !(l.sizes = hp_malloc(sets * sizeof *l.sizes, "a batch", err)) ||
        !(l.bases = hp_malloc(sets * sizeof *l.bases, "a batch", err)) ||
        !(l.ids = hp_malloc(sets * sizeof *l.ids, "a batch", err)) ||
        !(l.res = hp_malloc(sets * sizeof *l.res, "a batch", err)))
        rc = -1;
    by_length *sorted = rc == 0 ? hp_malloc(items->n * sizeof *sorted, "the item order", err) : NULL;
    if (sorted) { /* longest first, so each batch pads little */
        for (size_t i = 0; i < items->n; i++)
            sorted[i] = (by_length){items->start[i + 1] - items->start[i], i};
        qsort(sorted, items->n, sizeof *sorted, longest_first);
        for (size_t i = 0; i < items->n; i++)
            l.order[i] = sorted[i].i;
        free(sorted);
    } else {
        rc = -1;
    }
    size_t parts = so->parts > 1 ? so->parts : 1;
    for (size_t at = 0, b = 0; rc == 0 && at < items->n; at += (size_t)B, b++) {
        if (b % parts != so->part % parts)
            continue;
        int nb = items->n - at < (size_t)B ? (int)(items->n - at) : B;
        l.batch = l.order + at;
        rc = layer_batch(&l, nb, opt, out, err);
        hp_progress_update(so->progress, at + (size_t)nb, items->n);
    }
    layer_run_free(&l);
    return rc;
}

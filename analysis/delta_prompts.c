/* `hyplora delta --data`: the paper's per-prompt protocol. Each item of a data set becomes
 * a set of points: the input embeddings of its tokens (BOS first), or the word vectors of
 * its words; δ is measured per item with the first point as base, and with --layers also
 * on the hidden states entering each layer, the model run over the items in batches of
 * similar length. The δ of the sets is hp_delta_sets in the library. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta_cmd.h"
#include "dist.h"
#include "model_session.h"

/* ---- reading the items ---- */

static int items_push(delta_items *it, int64_t item, const int64_t *rows, size_t n, hp_err *err)
{
    size_t at = it->n ? it->start[it->n] : 0;
    if (hp_grow((void **)&it->item, &it->cap_item, it->n + 1, sizeof *it->item, "the items", err) ||
        hp_grow((void **)&it->item_points, &it->cap_points, it->n + 1, sizeof *it->item_points, "the items", err) ||
        hp_grow((void **)&it->start, &it->cap_start, it->n + 2, sizeof *it->start, "the items", err) ||
        hp_grow((void **)&it->rows, &it->cap_rows, at + n, sizeof *it->rows, "the points of the items", err))
        return -1;
    memcpy(it->rows + at, rows, n * sizeof *rows);
    it->item[it->n] = item;
    it->item_points[it->n] = (int64_t)n;
    it->start[it->n] = at;
    it->start[++it->n] = at + n;
    return 0;
}

typedef struct reader {
    delta_run *r;
    hp_ids ids;            /* one item's token ids */
    int64_t *rows;         /* one item's points: token ids or vector rows */
    size_t n_rows, cap;
    hp_word_counts *vocab; /* vectors: word -> row + 1 */
    int32_t bos;
    int stop;
    const char *file;      /* the file being read */
    size_t offset;         /* items in the files before it */
    size_t records;        /* items (or lines) of it seen so far */
} reader;

static int row_push(reader *d, int64_t row, hp_err *err)
{
    if (hp_grow((void **)&d->rows, &d->cap, d->n_rows + 1, sizeof *d->rows, "the points of one item", err))
        return -1;
    d->rows[d->n_rows++] = row;
    return 0;
}

typedef struct word_ctx {
    reader *d;
    hp_err *err;
    int failed;
} word_ctx;

static int on_word(const char *w, size_t len, void *ctx)
{
    word_ctx *c = ctx;
    int64_t row = hp_word_counts_get(c->d->vocab, w, len);
    if (row == 0) {
        c->d->r->items.n_oov++;
        return 0;
    }
    if (row_push(c->d, row - 1, c->err)) {
        c->failed = 1;
        return 1;
    }
    return 0;
}

static int ids_points(reader *d, hp_err *err);

/* The points of one text into d->rows[0 .. d->n_rows). */
static int text_points(reader *d, const char *text, size_t len, hp_err *err)
{
    delta_run *r = d->r;
    d->ids.n = d->n_rows = 0;
    if (r->source == SRC_VECTORS) {
        word_ctx c = {d, err, 0};
        int rc = hp_words_each(text, len, on_word, &c);
        if (c.failed)
            return -1;
        return rc == -1 ? hp_fail(err, "out of memory splitting a text into words") : 0;
    }
    if (hp_tokenizer_encode(r->tok, text, len, true, &d->ids, err))
        return -1;
    return ids_points(d, err);
}

/* A model's points of one item from its token ids in d->ids: BOS put first where the
 * tokenizer did not. */
static int ids_points(reader *d, hp_err *err)
{
    delta_run *r = d->r;
    if (d->bos >= 0 && (d->ids.n == 0 || d->ids.ids[0] != d->bos)) {
        if (hp_ids_push(&d->ids, d->bos, err))
            return -1;
        memmove(d->ids.ids + 1, d->ids.ids, (d->ids.n - 1) * sizeof *d->ids.ids);
        d->ids.ids[0] = d->bos;
        r->items.bos_added = true;
    }
    size_t n = d->ids.n;
    if (hp_grow((void **)&d->rows, &d->cap, n, sizeof *d->rows, "the points of one item", err))
        return -1;
    for (size_t i = 0; i < n; i++)
        d->rows[i] = d->ids.ids[i];
    d->n_rows = n;
    return 0;
}

/* Counts the item whose points are in d->rows, cuts it to --cutoff, and keeps it when it has
 * the 4 points δ needs. */
static int take_item(reader *d, size_t index, hp_err *err)
{
    delta_items *it = &d->r->items;
    it->n_read++;
    size_t n = d->n_rows;
    if (d->r->cutoff && n > d->r->cutoff) {
        n = d->r->cutoff;
        it->n_cut++;
    }
    if (n < 4) {
        it->n_skipped++;
        return 0;
    }
    return items_push(it, (int64_t)index, d->rows, n, err);
}

static int on_batch(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    reader *d = ctx;
    delta_run *r = d->r;
    delta_items *it = &r->items;
    for (size_t i = 0; i < b->n && !d->stop; i++) {
        if (r->limit && it->n_read == r->limit) {
            d->stop = 1;
            break;
        }
        d->records = b->record[i];
        if (text_points(d, b->text[i], b->len[i], err))
            return hp_failctx(err, "%s, item %zu", d->file, b->record[i] - 1);
        if (take_item(d, d->offset + b->record[i] - 1, err))
            return -1;
    }
    return 0;
}

/* The vectors' words as a lookup table: word -> row + 1 (the first row of a repeated word). */
static int vocab_table(const hp_vectors *v, hp_word_counts **out, hp_err *err)
{
    hp_word_counts *wc = hp_word_counts_new(err);
    for (size_t i = 0; wc && i < v->n_words; i++) {
        size_t len = strlen(v->words[i]);
        if (hp_word_counts_get(wc, v->words[i], len) == 0 &&
            hp_word_counts_add(wc, v->words[i], len, (int64_t)i + 1, err)) {
            hp_word_counts_free(wc);
            wc = NULL;
        }
    }
    *out = wc;
    return wc ? 0 : -1;
}

int delta_prompts_read(delta_run *r, hp_err *err)
{
    reader d = {.r = r, .bos = -1};
    if (r->source == SRC_MODEL) {
        if (!r->tok && !(r->tok = model_session_tokenizer(r->model, r->input, r->tokenizer, true, err)))
            return -1;
        d.bos = hp_tokenizer_bos(r->tok);
    } else if (vocab_table(&r->vec, &d.vocab, err)) {
        return -1;
    }
    const char *fields[1] = {r->field};
    int rc = 0;
    for (size_t i = 0; r->given_ids && i < r->n_given && rc == 0; i++) { /* tokenized by hyplora analyze */
        if (r->limit && r->items.n_read == r->limit)
            break;
        d.ids.n = 0;
        for (size_t t = 0; t < r->given_ids[i].n && rc == 0; t++)
            rc = hp_ids_push(&d.ids, r->given_ids[i].ids[t], err);
        if (rc == 0)
            rc = ids_points(&d, err) || take_item(&d, (size_t)r->given_item[i], err) ? -1 : 0;
    }
    for (int f = 0; !r->given_ids && f < r->n_data && rc == 0 && !d.stop; f++) {
        hp_corpus_options co;
        hp_corpus_options_init(&co);
        if (hp_corpus_is_json(r->data_files[f])) {
            co.fields = fields;
            co.n_fields = 1;
        }
        d.file = r->data_files[f];
        d.records = 0;
        rc = hp_corpus_each(d.file, &co, on_batch, &d, err);
        d.offset += d.records;
    }
    hp_ids_free(&d.ids);
    free(d.rows);
    hp_word_counts_free(d.vocab);
    if (rc)
        return -1;
    delta_items *it = &r->items;
    if (it->n == 0)
        return hp_fail(err, "%s: none of the %zu item%s read has the 4 points δ needs%s", r->data, it->n_read,
                       it->n_read == 1 ? "" : "s",
                       r->source == SRC_VECTORS ? " (words found in the vectors)" : " (tokens, BOS included)");
    if (!(it->base = hp_calloc(it->n, sizeof *it->base, "the base points", err)))
        return -1;
    if (r->base == BASE_RANDOM) { /* drawn in item order, so the thread count does not matter */
        hp_rng g;
        hp_rng_seed(&g, r->seed);
        for (size_t i = 0; i < it->n; i++)
            it->base[i] = (size_t)(hp_rng_u64(&g) % (uint64_t)it->item_points[i]);
    }
    return 0;
}

/* ---- δ of the embeddings of each item, and of each layer's hidden states ---- */

/* Under mpirun each rank measures its share (dist.h); delta.c puts the shares together. */
static hp_delta_sets_options sets_options(const delta_run *r)
{
    return (hp_delta_sets_options){
        .distance = r->distance,
        .exact = r->exact,
        .base = r->items.base,
        .threads = g_cli.threads,
        .noun = "item",
        .ids = r->items.item,
        .part = (size_t)g_dist.rank,
        .parts = (size_t)g_dist.size,
    };
}

static hp_delta_items items_of(const delta_run *r)
{
    return (hp_delta_items){r->items.n, r->items.start, r->items.rows};
}

bool delta_data_is_json(const delta_run *r)
{
    for (int i = 0; i < r->n_data; i++)
        if (hp_corpus_is_json(r->data_files[i]))
            return true;
    return false;
}

void delta_mean_std(const double *v, size_t n, double *mean, double *std)
{
    double s = 0, ss = 0;
    for (size_t i = 0; i < n; i++)
        s += v[i];
    *mean = n ? s / (double)n : 0;
    for (size_t i = 0; i < n; i++)
        ss += (v[i] - *mean) * (v[i] - *mean);
    *std = n > 1 ? sqrt(ss / (double)n) : 0;
}

static double seconds_since(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0->tv_nsec);
}

int delta_prompts_measure(delta_run *r, hp_err *err)
{
    size_t N = r->items.n;
    hp_delta_result *res = hp_calloc(N + 1, sizeof *res, "the results", err); /* 0 where another rank measures */
    if (!res)
        return -1;
    hp_delta_matrix m = {.rows = r->n, .dim = r->dim};
    if (r->source == SRC_VECTORS)
        m.f32 = r->vec.data;
    else
        m.model = r->model, m.tensor = r->emb;
    hp_delta_items items = items_of(r);
    cli_progress p;
    hp_delta_sets_options o = sets_options(r);
    o.progress = cli_progress_begin(&p, "items");
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    int rc = hp_delta_prompts(&m, &items, &o, res, err);
    cli_progress_end(&p);
    if (rc == 0)
        cli_verbose("δ of the %zu items' embeddings: %.3f s", N, seconds_since(&t0));
    for (size_t i = 0; rc == 0 && i < N; i++) {
        r->delta[i] = res[i].delta;
        r->diameter[i] = res[i].diameter;
        r->delta_rel[i] = res[i].delta_rel;
        r->base_row[i] = (int64_t)res[i].base;
        r->used_double[i] = res[i].used_double;
        r->any_double = r->any_double || res[i].used_double;
    }
    free(res);
    return rc ? hp_failctx(err, "%s", r->data) : 0;
}

int delta_layers_parse(const char *spec, int n_layers, delta_layers *l, hp_err *err)
{
    bool *want = hp_calloc((size_t)n_layers + 1, sizeof *want, "the layer list", err);
    if (!want)
        return -1;
    int rc = cli_parse_list("--layers", spec, n_layers, want, err);
    if (rc && err) {
        char msg[sizeof err->msg];
        memcpy(msg, err->msg, sizeof msg);
        hp_fail(err, "%s (0 is the embeddings, %d the last layer's output)", msg, n_layers);
    }
    l->n_model_layers = n_layers;
    l->n = 0;
    if (rc == 0 && !(l->layer = hp_malloc(((size_t)n_layers + 1) * sizeof *l->layer, "the layer list", err)))
        rc = -1;
    for (int i = 0; rc == 0 && i <= n_layers; i++)
        if (want[i])
            l->layer[l->n++] = i;
    free(want);
    return rc;
}

int delta_layers_measure(delta_run *r, hp_err *err)
{
    const delta_items *it = &r->items;
    delta_layers *L = &r->layers;
    size_t per = L->n * it->n;
    hp_fwd_options fo = {.weights = r->weights, .threads = g_cli.threads};
    hp_fwd_model *fm = hp_fwd_load(r->model, &fo, err);
    hp_delta_result *res = fm ? hp_calloc(per + 1, sizeof *res, "the results", err) : NULL;
    if (!res || !(L->delta = hp_malloc(per * sizeof(double), "the results", err)) ||
        !(L->diameter = hp_malloc(per * sizeof(double), "the results", err)) ||
        !(L->delta_rel = hp_malloc(per * sizeof(double), "the results", err)) ||
        !(L->delta_rel_mean = hp_malloc(L->n * sizeof(double), "the results", err)) ||
        !(L->delta_rel_std = hp_malloc(L->n * sizeof(double), "the results", err)) ||
        !(L->delta_mean = hp_malloc(L->n * sizeof(double), "the results", err)) ||
        !(L->diameter_mean = hp_malloc(L->n * sizeof(double), "the results", err))) {
        hp_fwd_free(fm);
        free(res);
        return -1;
    }
    int layers[L->n];
    for (size_t k = 0; k < L->n; k++)
        layers[k] = (int)L->layer[k];
    hp_delta_items items = items_of(r);
    hp_delta_layers_options o = {.sets = sets_options(r), .batch = r->batch};
    cli_progress p;
    o.sets.progress = cli_progress_begin(&p, "layers: items");
    int rc = hp_delta_layers(fm, &items, layers, L->n, &o, res, err);
    cli_progress_end(&p);
    hp_fwd_free(fm);
    for (size_t k = 0; rc == 0 && k < per; k++) {
        L->delta[k] = res[k].delta;
        L->diameter[k] = res[k].diameter;
        L->delta_rel[k] = res[k].delta_rel;
        r->any_double = r->any_double || res[k].used_double;
    }
    free(res);
    return rc ? hp_failctx(err, "%s", r->data) : 0;
}

void delta_layers_summarize(delta_run *r)
{
    const delta_items *it = &r->items;
    delta_layers *L = &r->layers;
    for (size_t k = 0; k < L->n; k++) {
        double sd;
        delta_mean_std(L->delta_rel + k * it->n, it->n, &L->delta_rel_mean[k], &L->delta_rel_std[k]);
        delta_mean_std(L->delta + k * it->n, it->n, &L->delta_mean[k], &sd);
        delta_mean_std(L->diameter + k * it->n, it->n, &L->diameter_mean[k], &sd);
    }
}

void delta_prompts_free(delta_run *r)
{
    delta_items *it = &r->items;
    free(it->item), free(it->item_points), free(it->start), free(it->rows), free(it->base);
    delta_layers *L = &r->layers;
    free(L->layer), free(L->delta), free(L->diameter), free(L->delta_rel);
    free(L->delta_rel_mean), free(L->delta_rel_std), free(L->delta_mean), free(L->diameter_mean);
    hp_tokenizer_free(r->tok);
}

/* Loading a model for the forward pass: one float32 parameter block with named views
 * (hyplora/forward.h). The plan (name, expected shape, view) is built first so that the
 * block is allocated once at its final size and every missing tensor or wrong shape is
 * reported before any weight is read. Matrices go into the block (float32 weights) or stay
 * in the file's mapping (stored weights); vectors (norms, biases) always go into the block. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "forward_internal.h"
#include "parallel.h"

typedef struct param_plan {
    char name[96];
    const hp_tensor *t;
    int64_t rows, cols;   /* cols == 0 for a vector of `rows` elements */
    float **vec;          /* a vector's view */
    hp_fwd_weight *mat;   /* a matrix's view */
    size_t offset;        /* in floats, inside the block; SIZE_MAX when not in it */
} param_plan;

typedef struct plan_list {
    param_plan *items;
    size_t n, cap;
} plan_list;

static int shape_matches(const hp_tensor *t, int64_t rows, int64_t cols)
{
    if (cols == 0)
        return t->ndim == 1 && t->shape[0] == rows;
    return t->ndim == 2 && t->shape[0] == rows && t->shape[1] == cols;
}

static int plan_push(plan_list *pl, const char *name, const hp_tensor *t, int64_t rows, int64_t cols, void *view,
                     hp_err *err)
{
    if (hp_grow((void **)&pl->items, &pl->cap, pl->n + 1, sizeof *pl->items, "the parameter plan", err))
        return -1;
    param_plan *p = &pl->items[pl->n++];
    snprintf(p->name, sizeof p->name, "%s", name);
    p->t = t;
    p->rows = rows;
    p->cols = cols;
    p->vec = cols == 0 ? view : NULL;
    p->mat = cols == 0 ? NULL : view;
    return 0;
}

/* Adds one parameter to the plan; a missing tensor is an error unless optional. Without a
 * model (hp_fwd_new) every parameter that is not optional is planned, with no tensor. */
static int plan_add(plan_list *pl, const hp_model *m, const char *name, int64_t rows, int64_t cols,
                    void *view, bool optional, hp_err *err)
{
    const hp_tensor *t = m ? hp_model_find(m, name) : NULL;
    if (!t && (optional || !m))
        return optional ? 0 : plan_push(pl, name, NULL, rows, cols, view, err);
    if (!t)
        return hp_fail(err, "%s: tensor \"%s\" is missing (the forward pass of %s needs it)", m->path,
                       name, m->config.architecture);
    if (!shape_matches(t, rows, cols)) {
        char got[128];
        hp_tensor_shape_str(t, got, sizeof got);
        if (cols == 0)
            return hp_fail(err, "%s: tensor \"%s\" has shape %s, expected [%lld]", m->path, name, got,
                           (long long)rows);
        return hp_fail(err, "%s: tensor \"%s\" has shape %s, expected [%lld, %lld]", m->path, name, got,
                       (long long)rows, (long long)cols);
    }
    if (cols != 0 && !hp_dtype_readable(t->dtype))
        return hp_fail(err, "%s: tensor \"%s\" is stored as %s, which the forward pass cannot read", m->path,
                       name, t->dtype_name);
    return plan_push(pl, name, t, rows, cols, view, err);
}

static int plan_layer(plan_list *pl, const hp_model *m, const hp_config *c, int i, hp_fwd_layer *L, hp_err *err)
{
    int64_t d = c->hidden_size, f = c->intermediate_size;
    int64_t qd = (int64_t)c->n_heads * c->head_dim, kvd = (int64_t)c->n_kv_heads * c->head_dim;
    /* Biases are required when the config says so, and used whenever present: some
     * checkpoints carry them without the flag. */
    bool bias_optional = !c->attention_bias;
    char n[96];
#define P(suffix, r, cc, view, opt)                                                  \
    do {                                                                             \
        snprintf(n, sizeof n, "model.layers.%d.%s", i, suffix);                      \
        if (plan_add(pl, m, n, r, cc, view, opt, err))                               \
            return -1;                                                               \
    } while (0)
    P("input_layernorm.weight", d, 0, &L->attn_norm, false);
    P("self_attn.q_proj.weight", qd, d, &L->wq, false);
    P("self_attn.k_proj.weight", kvd, d, &L->wk, false);
    P("self_attn.v_proj.weight", kvd, d, &L->wv, false);
    P("self_attn.o_proj.weight", d, qd, &L->wo, false);
    P("self_attn.q_proj.bias", qd, 0, &L->bq, bias_optional);
    P("self_attn.k_proj.bias", kvd, 0, &L->bk, bias_optional);
    P("self_attn.v_proj.bias", kvd, 0, &L->bv, bias_optional);
    P("post_attention_layernorm.weight", d, 0, &L->mlp_norm, false);
    P("mlp.gate_proj.weight", f, d, &L->w_gate, false);
    P("mlp.up_proj.weight", f, d, &L->w_up, false);
    P("mlp.down_proj.weight", d, f, &L->w_down, false);
#undef P
    return 0;
}

static int build_plan(plan_list *pl, const hp_model *m, hp_fwd_model *fm, hp_err *err)
{
    const hp_config *c = &fm->config;
    int64_t d = c->hidden_size, v = c->vocab_size;
    if (plan_add(pl, m, "model.embed_tokens.weight", v, d, &fm->embedding, false, err))
        return -1;
    for (int i = 0; i < c->n_layers; i++)
        if (plan_layer(pl, m, c, i, &fm->layers[i], err))
            return -1;
    if (plan_add(pl, m, "model.norm.weight", d, 0, &fm->final_norm, false, err))
        return -1;
    /* A tied model may still store lm_head (some exports do); the stored one wins. An
     * untied model without one is broken, and we say which tensor is missing. */
    bool optional = c->tie_word_embeddings || (m && m->format == HP_FORMAT_GGUF);
    return plan_add(pl, m, "lm_head.weight", v, d, &fm->lm_head, optional, err);
}

static int check_config(const hp_model *m, hp_err *err)
{
    if (!m->has_config)
        return hp_fail(err, "%s: no config.json (or GGUF metadata): the forward pass needs the architecture",
                       m->path);
    if (!m->config.forward_supported)
        return hp_fail(err, "%s: architecture \"%s\" (model_type \"%s\") is not one the forward pass runs "
                       "(Llama, Mistral, Qwen2)", m->path, m->config.architecture, m->config.model_type);
    return hp_config_validate(&m->config, m->path, err);
}

static size_t count_of(const param_plan *p)
{
    return (size_t)p->rows * (size_t)(p->cols ? p->cols : 1);
}

/* Whether the float32 copy of every matrix fits in half of the machine's memory. */
static bool f32_fits(const plan_list *pl)
{
    double bytes = 0;
    for (size_t i = 0; i < pl->n; i++)
        bytes += 4.0 * (double)count_of(&pl->items[i]);
    double phys = (double)sysconf(_SC_PHYS_PAGES) * (double)sysconf(_SC_PAGESIZE);
    return phys <= 0 || bytes <= phys / 2;
}

/* Lays the planned parameters out in one block, lists them in fm->tensors, and reads each
 * widened to float32 (zeros for a parameter without a tensor); with stored weights the
 * matrices are pointed at in the mapping instead. */
static int read_params(hp_fwd_model *fm, const hp_model *m, plan_list *pl, hp_err *err)
{
    size_t total = 0, n_in = 0;
    for (size_t i = 0; i < pl->n; i++) {
        param_plan *p = &pl->items[i];
        p->offset = p->mat && fm->stored ? SIZE_MAX : total;
        if (p->offset != SIZE_MAX)
            total += count_of(p), n_in++;
    }
    fm->params = hp_malloc_large(total * sizeof(float), "the model parameters (float32)", err);
    fm->tensors = fm->params ? hp_calloc(n_in ? n_in : 1, sizeof *fm->tensors, "the parameter list", err) : NULL;
    if (!fm->tensors)
        return -1;
    fm->n_params = total;
    for (size_t i = 0; i < pl->n; i++) {
        param_plan *p = &pl->items[i];
        if (p->mat)
            *p->mat = (hp_fwd_weight){.rows = p->rows, .cols = p->cols, .stored = p->t};
        if (p->offset == SIZE_MAX) {
            /* Stored float32 rows in Hugging Face order are used where they lie. */
            if (p->t->dtype == HP_F32 && p->t->permute_heads <= 0 && (uintptr_t)p->t->data % sizeof(float) == 0)
                p->mat->f32 = p->t->data;
            continue;
        }
        hp_fwd_tensor *ft = &fm->tensors[fm->n_tensors++];
        snprintf(ft->name, sizeof ft->name, "%s", p->name);
        ft->offset = p->offset;
        ft->rows = p->rows;
        ft->cols = p->cols;
        float *dst = fm->params + p->offset;
        if (!p->t)
            memset(dst, 0, count_of(p) * sizeof *dst);
        else if (hp_model_read_f32(m, p->t, dst, NULL, err))
            return hp_failctx(err, "reading tensor \"%s\"", p->name);
        if (p->vec)
            *p->vec = dst;
        else
            p->mat->f32 = dst;
    }
    return 0;
}

/* The matrix of a and b stacked, when b's rows follow a's in memory; rows 0 otherwise. */
static hp_fwd_weight stacked(const hp_fwd_weight *a, const hp_fwd_weight *b)
{
    if (!a->f32 || b->f32 != a->f32 + a->rows * a->cols || a->cols != b->cols)
        return (hp_fwd_weight){0};
    return (hp_fwd_weight){.f32 = a->f32, .rows = a->rows + b->rows, .cols = a->cols};
}

/* The fused views of each layer (hp_fwd_layer.wqkv, w_gate_up). */
static void fuse_views(hp_fwd_model *fm)
{
    for (int l = 0; l < fm->config.n_layers; l++) {
        hp_fwd_layer *L = &fm->layers[l];
        hp_fwd_weight qk = stacked(&L->wq, &L->wk);
        L->wqkv = qk.rows ? stacked(&qk, &L->wv) : qk;
        L->w_gate_up = stacked(&L->w_gate, &L->w_up);
    }
}

/* Loads from m, or (m NULL) lays out the parameters of c with zeros. */
static hp_fwd_model *build(const hp_model *m, const hp_config *c, const hp_fwd_options *opt, hp_err *err)
{
    hp_fwd_options defaults = {0};
    if (!opt)
        opt = &defaults;
    hp_fwd_model *fm = hp_calloc(1, sizeof *fm, "the forward model", err);
    if (!fm)
        return NULL;
    fm->config = *c;
    fm->source = m;
    fm->threads = hp_threads_resolve(opt->threads, 4096);
    fm->layers = hp_calloc((size_t)c->n_layers, sizeof *fm->layers, "the layer views", err);
    plan_list pl = {0};
    int rc = fm->layers ? build_plan(&pl, m, fm, err) : -1;
    fm->stored = m && (opt->weights == HP_FWD_WEIGHTS_STORED || (opt->weights == HP_FWD_WEIGHTS_AUTO && !f32_fits(&pl)));
    if (rc == 0)
        rc = read_params(fm, m, &pl, err);
    free(pl.items);
    if (rc) {
        hp_fwd_free(fm);
        return NULL;
    }
    fuse_views(fm);
    fm->tied = fm->lm_head.rows == 0;
    if (fm->tied)
        fm->lm_head = fm->embedding;
    return fm;
}

hp_fwd_model *hp_fwd_load(const hp_model *m, const hp_fwd_options *opt, hp_err *err)
{
    if (check_config(m, err))
        return NULL;
    return build(m, &m->config, opt, err);
}

hp_fwd_model *hp_fwd_new(const hp_config *c, const hp_fwd_options *opt, hp_err *err)
{
    if (!c->forward_supported)
        return hp_fail(err, "architecture \"%s\" is not one the forward pass runs", c->architecture), NULL;
    if (hp_config_validate(c, "the new model's configuration", err))
        return NULL;
    return build(NULL, c, opt, err);
}

void hp_fwd_free(hp_fwd_model *fm)
{
    if (!fm)
        return;
    hp_free_large(fm->params, fm->n_params * sizeof(float));
    free(fm->tensors);
    free(fm->layers);
    free(fm);
}

const char *hp_module_name(hp_module m)
{
    static const char *const NAMES[HP_N_MODULES] = {"q_proj", "k_proj", "v_proj", "o_proj",
                                                    "gate_proj", "up_proj", "down_proj"};
    return (unsigned)m < HP_N_MODULES ? NAMES[m] : "?";
}

int hp_module_shape(const hp_config *c, hp_module m, int *in, int *out)
{
    int d = c->hidden_size, f = c->intermediate_size, qd = c->n_heads * c->head_dim;
    int kvd = c->n_kv_heads * c->head_dim;
    const int ins[HP_N_MODULES] = {d, d, d, qd, d, d, f}, outs[HP_N_MODULES] = {qd, kvd, kvd, d, f, f, d};
    if ((unsigned)m >= HP_N_MODULES)
        return -1;
    *in = ins[m], *out = outs[m];
    return 0;
}

/* The activations block and the layer loop of the forward pass (hyplora/forward.h). */
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "hyplora/forward.h"
#include "hyplora/rng.h"

/* Hands out consecutive pieces of the activations block; with base NULL it only counts,
 * so the same code sizes the block and lays it out. */
typedef struct carver {
    float *base;
    size_t used;
} carver;

static float *carve(carver *cv, size_t n)
{
    float *p = cv->base ? cv->base + cv->used : NULL;
    cv->used += n;
    return p;
}

static void layout_layer(hp_fwd_layer_acts *L, const hp_config *c, size_t bt, int seq, bool probs, carver *cv)
{
    size_t d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    L->x_in = carve(cv, bt * d);
    L->xn1 = carve(cv, bt * d);
    L->qkv = carve(cv, bt * (size_t)hp_fwd_qkv_width(c));
    L->q = L->qkv;
    L->k = L->qkv ? L->qkv + qd : NULL;
    L->v = L->qkv ? L->qkv + qd + kvd : NULL;
    L->probs = probs ? carve(cv, bt * (size_t)c->n_heads * seq) : NULL;
    L->att = carve(cv, bt * qd);
    L->x_mid = carve(cv, bt * d);
    L->xn2 = carve(cv, bt * d);
    L->gate_up = carve(cv, bt * 2 * f);
    L->gate = L->gate_up;
    L->up = L->gate_up ? L->gate_up + f : NULL;
    L->act = carve(cv, bt * f);
}

/* With keep_all every layer has its own buffers. Without, all layers share layer 0's, and
 * the residual stream alternates between layer 0's x_in and a second buffer, because a
 * layer's output is the next one's input. */
static void layout_acts(hp_fwd_acts *a, const hp_fwd_model *fm, carver *cv)
{
    const hp_config *c = &fm->config;
    size_t bt = (size_t)a->batch * a->seq, d = (size_t)c->hidden_size;
    layout_layer(&a->layers[0], c, bt, a->seq, a->keep_all, cv);
    float *other = a->keep_all ? NULL : carve(cv, bt * d);
    for (int l = 1; l < c->n_layers; l++) {
        if (a->keep_all) {
            layout_layer(&a->layers[l], c, bt, a->seq, true, cv);
        } else {
            a->layers[l] = a->layers[0];
            a->layers[l].x_in = l % 2 ? other : a->layers[0].x_in;
        }
    }
    a->x_out = a->keep_all ? carve(cv, bt * d) : (c->n_layers % 2 ? other : a->layers[0].x_in);
    a->xn_out = carve(cv, bt * d);
    a->rope_cos = carve(cv, (size_t)a->seq * (size_t)(c->head_dim / 2));
    a->rope_sin = carve(cv, (size_t)a->seq * (size_t)(c->head_dim / 2));
    size_t lin = fwd_linear_scratch(fm), att = fwd_attention_scratch(fm, a->seq);
    a->scratch = carve(cv, lin > att ? lin : att);
}

/* A cache (and a dropout mask) for every adapter of the model, sized for batch x seq rows. */
static int adapter_caches(hp_fwd_acts *a, const hp_fwd_model *fm, hp_err *err)
{
    int L = fm->config.n_layers, rows = a->batch * a->seq;
    bool any = false;
    for (int l = 0; l < L; l++)
        for (int m = 0; m < HP_N_MODULES; m++)
            any = any || fm->layers[l].adapter[m];
    if (!any)
        return 0;
    if (!(a->adapter_cache = hp_calloc((size_t)L, sizeof *a->adapter_cache, "the adapter caches", err)) ||
        !(a->keep = hp_calloc((size_t)L, sizeof *a->keep, "the dropout masks", err)))
        return -1;
    for (int l = 0; l < L; l++)
        for (int m = 0; m < HP_N_MODULES; m++) {
            const hp_adapter *ad = fm->layers[l].adapter[m];
            if (!ad)
                continue;
            if (hp_adapter_cache_init(&a->adapter_cache[l][m], ad, rows, err))
                return -1;
            if (ad->dropout > 0 &&
                !(a->keep[l][m] = hp_malloc((size_t)rows * ad->in, "a dropout mask", err)))
                return -1;
        }
    return 0;
}

hp_fwd_acts *hp_fwd_acts_new(const hp_fwd_model *fm, int batch, int seq, bool keep_all, hp_err *err)
{
    if (batch <= 0 || seq <= 0)
        return hp_fail(err, "forward: batch (%d) and sequence length (%d) must be positive", batch, seq),
               NULL;
    hp_fwd_acts *a = hp_calloc(1, sizeof *a, "the activations", err);
    if (!a)
        return NULL;
    a->batch = batch;
    a->seq = seq;
    a->n_layers = fm->config.n_layers;
    a->keep_all = keep_all;
    a->layers = hp_calloc((size_t)fm->config.n_layers, sizeof *a->layers, "the layer activations", err);
    carver cv = {0};
    if (a->layers)
        layout_acts(a, fm, &cv);
    a->n_floats = cv.used;
    a->block = a->layers ? hp_malloc(cv.used * sizeof(float), "the activations block", err) : NULL;
    if (!a->block) {
        hp_fwd_acts_free(a);
        return NULL;
    }
    cv = (carver){.base = a->block};
    layout_acts(a, fm, &cv);
    if (adapter_caches(a, fm, err)) {
        hp_fwd_acts_free(a);
        return NULL;
    }
    return a;
}

void hp_fwd_acts_free(hp_fwd_acts *a)
{
    if (!a)
        return;
    for (int l = 0; a->adapter_cache && a->layers && l < a->n_layers; l++)
        for (int m = 0; m < HP_N_MODULES; m++) {
            hp_adapter_cache_free(&a->adapter_cache[l][m]);
            free(a->keep[l][m]);
        }
    free(a->adapter_cache);
    free(a->keep);
    free(a->block);
    free(a->layers);
    free(a);
}

static int check_inputs(const hp_fwd_model *fm, const hp_fwd_acts *a, const hp_fwd_cache *cache,
                        const int32_t *tokens, const int *lengths, int B, int T, hp_err *err)
{
    if (B <= 0 || T <= 0 || B > a->batch || T > a->seq)
        return hp_fail(err, "forward: batch %d x %d positions does not fit the activations (%d x %d)", B, T,
                       a->batch, a->seq);
    if (cache && (B > cache->batch || T > cache->capacity))
        return hp_fail(err, "forward: batch %d x %d positions does not fit the KV cache (%d x %d)", B, T,
                       cache->batch, cache->capacity);
    int window = fm->config.sliding_window;
    if (window > 0 && T > window)
        return hp_fail(err, "forward: %d positions exceed the model's sliding attention window (%d), which "
                       "the forward pass does not apply: sequences are limited to %d tokens", T, window, window);
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : T;
        if (len < 1 || len > T)
            return hp_fail(err, "forward: sequence %d has length %d, expected 1..%d", b, len, T);
        for (int t = 0; t < len; t++) {
            int32_t id = tokens[(size_t)b * T + t];
            if (id < 0 || id >= fm->config.vocab_size)
                return hp_fail(err, "forward: token id %d (sequence %d, position %d) is out of range: "
                               "the vocabulary has %d tokens", (int)id, b, t, fm->config.vocab_size);
        }
    }
    return 0;
}

/* Embedding rows for real positions; padded positions read token 0 so every row stays
 * finite (they are masked out of attention and zeroed on output). */
static void embed(const hp_fwd_model *fm, float *x, const int32_t *tokens, const int *lengths, int B, int T)
{
    size_t d = (size_t)fm->config.hidden_size;
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : T;
        for (int t = 0; t < T; t++) {
            int32_t id = t < len ? tokens[(size_t)b * T + t] : 0;
            fwd_widen_rows(&fm->embedding, id, 1, x + ((size_t)b * T + t) * d);
        }
    }
}

static void add_into(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* Copies the keys and values of the real positions into the cache's layer l. */
static void cache_store(const hp_fwd_model *fm, hp_fwd_cache *c, int l, const hp_fwd_layer_acts *A,
                        const int *lengths, int B, int T)
{
    size_t kvd = (size_t)fm->config.n_kv_heads * fm->config.head_dim, ld = (size_t)hp_fwd_qkv_width(&fm->config);
    for (int b = 0; b < B; b++) {
        int len = lengths ? lengths[b] : T;
        for (int t = 0; t < len; t++) {
            size_t dst = (((size_t)l * c->batch + b) * c->capacity + t) * kvd, src = ((size_t)b * T + t) * ld;
            memcpy(c->k + dst, A->k + src, kvd * sizeof(float));
            memcpy(c->v + dst, A->v + src, kvd * sizeof(float));
        }
    }
}

typedef struct mask_job {
    uint8_t *keep;
    size_t in;
    uint64_t seed, cut;
} mask_job;

/* Rows [begin, end) of a dropout mask: row t from its own stream, seeded by the module's
 * seed and t, so the mask is the same whatever the threads. */
static void mask_rows(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const mask_job *j = ctx;
    for (size_t t = begin; t < end; t++) {
        hp_rng g;
        hp_rng_seed(&g, j->seed + (uint64_t)t * 0xd1b54a32d192ed03ull);
        uint8_t *k = j->keep + t * j->in;
        for (size_t i = 0; i < j->in; i++)
            k[i] = hp_rng_u64(&g) >= j->cut;
    }
}

/* The update of module m's adapter, if it has one, added to its output h (rows ldh apart).
 * In training its dropout mask is drawn first, from the seed, the layer and the module, so
 * a run is reproducible whatever the thread count. */
static int adapt(const hp_fwd_model *fm, const hp_fwd_acts *acts, const hp_fwd_layer *W, int l, hp_module m,
                 const float *x, size_t n, float *h, size_t ldh, hp_err *err)
{
    const hp_adapter *a = W->adapter[m];
    if (!a)
        return 0;
    uint8_t *keep = acts->train && a->dropout > 0 ? acts->keep[l][m] : NULL;
    if (keep) {
        mask_job j = {keep, (size_t)a->in,
                      acts->dropout_seed ^ ((uint64_t)(l * HP_N_MODULES + m + 1) * 0x9e3779b97f4a7c15ull),
                      (uint64_t)((double)a->dropout * 18446744073709551616.0)};
        fwd_parallel(fm, n, 16, mask_rows, &j);
    }
    if (hp_adapter_forward(a, x, (int)n, keep, &acts->adapter_cache[l][m], h, ldh, err))
        return hp_failctx(err, "layer %d, %s adapter", l, hp_module_name(m));
    return 0;
}

/* One decoder layer: x_out = x_mid + MLP(norm(x_mid)), x_mid = x_in + Attn(norm(x_in)).
 * The o_proj and down_proj products go to a scratch (the next activation buffer) before the
 * residual add, so that every kept activation is the value the backward pass needs. */
static int run_layer(const hp_fwd_model *fm, int l, hp_fwd_layer_acts *A, float *x_out,
                     const hp_fwd_acts *acts, const int *lengths, int B, int T, hp_err *err)
{
    const hp_config *c = &fm->config;
    const hp_fwd_layer *W = &fm->layers[l];
    size_t n = (size_t)B * T, ld = (size_t)hp_fwd_qkv_width(c);
    int d = c->hidden_size, f = c->intermediate_size, hd = c->head_dim;
    float *s = acts->scratch;

    fwd_rmsnorm(fm, A->xn1, A->x_in, W->attn_norm, n, d);
    fwd_project_qkv(fm, W, A->qkv, A->xn1, n, s);
    if (adapt(fm, acts, W, l, HP_MODULE_Q, A->xn1, n, A->q, ld, err))
        return -1;
    if (adapt(fm, acts, W, l, HP_MODULE_K, A->xn1, n, A->k, ld, err))
        return -1;
    if (adapt(fm, acts, W, l, HP_MODULE_V, A->xn1, n, A->v, ld, err))
        return -1;
    fwd_rope_apply(A->q, ld, B, T, c->n_heads, hd, acts->rope_cos, acts->rope_sin);
    fwd_rope_apply(A->k, ld, B, T, c->n_kv_heads, hd, acts->rope_cos, acts->rope_sin);
    fwd_attention(fm, A->att, A->probs, A->qkv, lengths, B, T, s);
    fwd_linear(fm, x_out, (size_t)d, A->att, &W->wo, NULL, n, s); /* x_out as scratch for o_proj */
    if (adapt(fm, acts, W, l, HP_MODULE_O, A->att, n, x_out, (size_t)d, err))
        return -1;
    add_into(A->x_mid, A->x_in, x_out, n * (size_t)d);

    fwd_rmsnorm(fm, A->xn2, A->x_mid, W->mlp_norm, n, d);
    fwd_project_gate_up(fm, W, A->gate_up, A->xn2, n, s);
    if (adapt(fm, acts, W, l, HP_MODULE_GATE, A->xn2, n, A->gate, 2 * (size_t)f, err))
        return -1;
    if (adapt(fm, acts, W, l, HP_MODULE_UP, A->xn2, n, A->up, 2 * (size_t)f, err))
        return -1;
    fwd_swiglu(fm, A->act, A->gate_up, n, f);
    fwd_linear(fm, x_out, (size_t)d, A->act, &W->w_down, NULL, n, s);
    if (adapt(fm, acts, W, l, HP_MODULE_DOWN, A->act, n, x_out, (size_t)d, err))
        return -1;
    for (size_t i = 0; i < n * (size_t)d; i++)
        x_out[i] += A->x_mid[i];
    return 0;
}

/* Zeroes the rows of padded positions of an [B*T, width] output. */
static void zero_padding(float *y, const int *lengths, int B, int T, size_t width)
{
    if (!lengths)
        return;
    for (int b = 0; b < B; b++)
        for (int t = lengths[b]; t < T; t++)
            memset(y + ((size_t)b * T + t) * width, 0, width * sizeof(float));
}

int hp_fwd_run(const hp_fwd_model *fm, hp_fwd_acts *acts, hp_fwd_cache *cache, const int32_t *tokens,
               const int *lengths, int B, int T, float *logits, float *hidden, hp_err *err)
{
    if (check_inputs(fm, acts, cache, tokens, lengths, B, T, err))
        return -1;
    const hp_config *c = &fm->config;
    size_t n = (size_t)B * T, d = (size_t)c->hidden_size;
    fwd_rope_tables(c, T, acts->rope_cos, acts->rope_sin);
    embed(fm, acts->layers[0].x_in, tokens, lengths, B, T);
    for (int l = 0; l < c->n_layers; l++) {
        /* The input is copied out before the layer runs: without keep_all the buffer is
         * reused two layers on. */
        if (hidden) {
            float *dst = hidden + (size_t)l * n * d;
            memcpy(dst, acts->layers[l].x_in, n * d * sizeof(float));
            zero_padding(dst, lengths, B, T, d);
        }
        float *x_out = l + 1 < c->n_layers ? acts->layers[l + 1].x_in : acts->x_out;
        if (run_layer(fm, l, &acts->layers[l], x_out, acts, lengths, B, T, err))
            return -1;
        if (cache)
            cache_store(fm, cache, l, &acts->layers[l], lengths, B, T);
    }
    if (hidden) {
        float *dst = hidden + (size_t)c->n_layers * n * d;
        memcpy(dst, acts->x_out, n * d * sizeof(float));
        zero_padding(dst, lengths, B, T, d);
    }
    if (cache) {
        for (int b = 0; b < cache->batch; b++)
            cache->len[b] = b < B ? (lengths ? lengths[b] : T) : 0;
    }
    fwd_rmsnorm(fm, acts->xn_out, acts->x_out, fm->final_norm, n, (int)d);
    if (logits) {
        fwd_linear(fm, logits, (size_t)c->vocab_size, acts->xn_out, &fm->lm_head, NULL, n, acts->scratch);
        zero_padding(logits, lengths, B, T, (size_t)c->vocab_size);
    }
    return 0;
}

void hp_fwd_last_logits(const hp_fwd_model *fm, const hp_fwd_acts *acts, const int *lengths, int B,
                        int T, float *logits)
{
    size_t d = (size_t)fm->config.hidden_size, V = (size_t)fm->config.vocab_size;
    for (int b = 0; b < B; b++) {
        int t = (lengths ? lengths[b] : T) - 1;
        fwd_linear(fm, logits + (size_t)b * V, V, acts->xn_out + ((size_t)b * T + t) * d, &fm->lm_head, NULL, 1,
                   acts->scratch);
    }
}

/* Incremental decoding with a KV cache (hyplora/forward.h): the cache holds every layer's
 * rotated keys and values for the positions seen so far, so a step runs the new token of
 * each sequence alone through the layers and attends over the cache. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "hyplora/forward.h"

hp_fwd_cache *hp_fwd_cache_new(const hp_fwd_model *fm, int batch, int capacity, hp_err *err)
{
    if (batch <= 0 || capacity <= 0)
        return hp_fail(err, "KV cache: batch (%d) and capacity (%d) must be positive", batch, capacity), NULL;
    const hp_config *c = &fm->config;
    size_t B = (size_t)batch, d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t kv = (size_t)c->n_layers * B * (size_t)capacity * kvd, half = (size_t)c->head_dim / 2;
    size_t sizes[] = {kv, kv, B * d, B * d, B * (size_t)hp_fwd_qkv_width(c), B * qd, B * d, B * 2 * f, B * f,
                      B * (size_t)c->n_heads * capacity, B * half, B * half, fwd_linear_scratch(fm)};
    enum { N = sizeof sizes / sizeof sizes[0] };
    size_t total = 0;
    for (int i = 0; i < N; i++)
        total += sizes[i];
    hp_fwd_cache *kc = hp_calloc(1, sizeof *kc, "the KV cache", err);
    if (!kc)
        return NULL;
    kc->batch = batch;
    kc->capacity = capacity;
    kc->len = hp_calloc(B, sizeof *kc->len, "the KV cache lengths", err);
    kc->block = kc->len ? hp_malloc(total * sizeof(float), "the KV cache", err) : NULL;
    if (!kc->block) {
        hp_fwd_cache_free(kc);
        return NULL;
    }
    float **views[N] = {&kc->k, &kc->v, &kc->x, &kc->xn, &kc->qkv, &kc->att, &kc->x_mid,
                        &kc->gate_up, &kc->act, &kc->scores, &kc->rope_cos, &kc->rope_sin, &kc->scratch};
    float *p = kc->block;
    for (int i = 0; i < N; i++) {
        *views[i] = p;
        p += sizes[i];
    }
    /* the adapters' buffers for a step of `batch` rows */
    kc->n_layers = c->n_layers;
    for (int l = 0; l < c->n_layers; l++)
        for (int m = 0; m < HP_N_MODULES; m++) {
            const hp_adapter *a = fm->layers[l].adapter[m];
            if (!a)
                continue;
            if (!kc->adapter_cache &&
                !(kc->adapter_cache = hp_calloc((size_t)c->n_layers, sizeof *kc->adapter_cache, "the adapter caches",
                                                err))) {
                hp_fwd_cache_free(kc);
                return NULL;
            }
            if (hp_adapter_cache_init(&kc->adapter_cache[l][m], a, batch, err)) {
                hp_fwd_cache_free(kc);
                return NULL;
            }
        }
    return kc;
}

void hp_fwd_cache_free(hp_fwd_cache *c)
{
    if (!c)
        return;
    for (int l = 0; c->adapter_cache && l < c->n_layers; l++)
        for (int m = 0; m < HP_N_MODULES; m++)
            hp_adapter_cache_free(&c->adapter_cache[l][m]);
    free(c->adapter_cache);
    free(c->block);
    free(c->len);
    free(c);
}

void hp_fwd_cache_copy(const hp_fwd_model *fm, hp_fwd_cache *dst, int dst_b, const hp_fwd_cache *src, int src_b)
{
    size_t kvd = (size_t)fm->config.n_kv_heads * fm->config.head_dim, n = (size_t)src->len[src_b] * kvd;
    for (int l = 0; l < fm->config.n_layers; l++) {
        size_t to = ((size_t)l * dst->batch + dst_b) * dst->capacity * kvd;
        size_t from = ((size_t)l * src->batch + src_b) * src->capacity * kvd;
        memcpy(dst->k + to, src->k + from, n * sizeof(float));
        memcpy(dst->v + to, src->v + from, n * sizeof(float));
    }
    dst->len[dst_b] = src->len[src_b];
}

/* Module m's adapter update on the step's n rows (no dropout: inference). The cache must
 * have been made after the adapters were put on the model. */
static int step_adapt(const hp_fwd_model *fm, hp_fwd_cache *c, int l, hp_module m, const float *x, size_t n, float *h,
                      size_t ldh, hp_err *err)
{
    const hp_adapter *a = fm->layers[l].adapter[m];
    if (!a)
        return 0;
    if (!c->adapter_cache || !c->adapter_cache[l][m].capacity)
        return hp_fail(err, "decoding: layer %d's %s adapter was put on after the KV cache was made", l,
                       hp_module_name(m));
    if (hp_adapter_forward(a, x, (int)n, NULL, &c->adapter_cache[l][m], h, ldh, err))
        return hp_failctx(err, "layer %d, %s adapter", l, hp_module_name(m));
    return 0;
}

static int check_step(const hp_fwd_model *fm, const hp_fwd_cache *c, const int32_t *tokens, int B, hp_err *err)
{
    if (B <= 0 || B > c->batch)
        return hp_fail(err, "decode: %d sequences do not fit the KV cache (batch %d)", B, c->batch);
    for (int b = 0; b < B; b++) {
        int window = fm->config.sliding_window;
        if (window > 0 && c->len[b] >= window)
            return hp_fail(err, "decode: sequence %d reaches the model's sliding attention window (%d), which "
                           "the forward pass does not apply", b, window);
        if (c->len[b] >= c->capacity)
            return hp_fail(err, "decode: sequence %d fills the KV cache (%d positions): the context is full", b,
                           c->capacity);
        if (tokens[b] < 0 || tokens[b] >= fm->config.vocab_size)
            return hp_fail(err, "decode: token id %d (sequence %d) is out of range: the vocabulary has %d tokens",
                           (int)tokens[b], b, fm->config.vocab_size);
    }
    return 0;
}

int hp_fwd_decode(const hp_fwd_model *fm, hp_fwd_cache *c, const int32_t *tokens, int B, float *logits,
                  hp_err *err)
{
    if (check_step(fm, c, tokens, B, err))
        return -1;
    const hp_config *cf = &fm->config;
    int d = cf->hidden_size, f = cf->intermediate_size, hd = cf->head_dim, half = hd / 2;
    size_t kvd = (size_t)cf->n_kv_heads * hd, qd = (size_t)cf->n_heads * hd, n = (size_t)B;
    size_t ld = (size_t)hp_fwd_qkv_width(cf);
    for (int b = 0; b < B; b++) {
        fwd_widen_rows(&fm->embedding, tokens[b], 1, c->x + (size_t)b * d);
        fwd_rope_position(cf, c->len[b], c->rope_cos + (size_t)b * half, c->rope_sin + (size_t)b * half);
        c->len[b]++; /* the new position is attended to in this step */
    }
    for (int l = 0; l < cf->n_layers; l++) {
        const hp_fwd_layer *W = &fm->layers[l];
        fwd_rmsnorm(fm, c->xn, c->x, W->attn_norm, n, d);
        fwd_project_qkv(fm, W, c->qkv, c->xn, n, c->scratch);
        if (step_adapt(fm, c, l, HP_MODULE_Q, c->xn, n, c->qkv, ld, err) ||
            step_adapt(fm, c, l, HP_MODULE_K, c->xn, n, c->qkv + qd, ld, err) ||
            step_adapt(fm, c, l, HP_MODULE_V, c->xn, n, c->qkv + qd + kvd, ld, err))
            return -1;
        for (int b = 0; b < B; b++) {
            const float *cs = c->rope_cos + (size_t)b * half, *sn = c->rope_sin + (size_t)b * half;
            float *q = c->qkv + b * ld;
            fwd_rope_row(q, cf->n_heads, hd, cs, sn);
            fwd_rope_row(q + qd, cf->n_kv_heads, hd, cs, sn);
            size_t at = (((size_t)l * c->batch + b) * c->capacity + (size_t)c->len[b] - 1) * kvd;
            memcpy(c->k + at, q + qd, kvd * sizeof(float));
            memcpy(c->v + at, q + qd + kvd, kvd * sizeof(float));
        }
        fwd_attention_cached(fm, c, l, c->att, c->qkv, B, c->scores);
        fwd_linear(fm, c->xn, (size_t)d, c->att, &W->wo, NULL, n, c->scratch); /* xn as scratch for o_proj */
        if (step_adapt(fm, c, l, HP_MODULE_O, c->att, n, c->xn, (size_t)d, err))
            return -1;
        for (size_t i = 0; i < n * d; i++)
            c->x_mid[i] = c->x[i] + c->xn[i];
        fwd_rmsnorm(fm, c->xn, c->x_mid, W->mlp_norm, n, d);
        fwd_project_gate_up(fm, W, c->gate_up, c->xn, n, c->scratch);
        if (step_adapt(fm, c, l, HP_MODULE_GATE, c->xn, n, c->gate_up, 2 * (size_t)f, err) ||
            step_adapt(fm, c, l, HP_MODULE_UP, c->xn, n, c->gate_up + f, 2 * (size_t)f, err))
            return -1;
        fwd_swiglu(fm, c->act, c->gate_up, n, f);
        fwd_linear(fm, c->xn, (size_t)d, c->act, &W->w_down, NULL, n, c->scratch);
        if (step_adapt(fm, c, l, HP_MODULE_DOWN, c->act, n, c->xn, (size_t)d, err))
            return -1;
        for (size_t i = 0; i < n * d; i++)
            c->x[i] = c->x_mid[i] + c->xn[i];
    }
    fwd_rmsnorm(fm, c->xn, c->x, fm->final_norm, n, d);
    fwd_linear(fm, logits, (size_t)cf->vocab_size, c->xn, &fm->lm_head, NULL, n, c->scratch);
    return 0;
}

double hp_fwd_nll(const float *logits, int vocab, int32_t target)
{
    double mx = logits[0];
    for (int i = 1; i < vocab; i++)
        if (logits[i] > mx)
            mx = logits[i];
    double sum = 0;
    for (int i = 0; i < vocab; i++)
        sum += exp((double)logits[i] - mx);
    return mx + log(sum) - (double)logits[target];
}

int32_t hp_fwd_argmax(const float *logits, int vocab)
{
    int32_t best = 0;
    for (int i = 1; i < vocab; i++)
        if (logits[i] > logits[best])
            best = i;
    return best;
}

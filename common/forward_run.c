/* The activations block and the layer loop of the forward pass (hyplora/forward.h). */
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "hyplora/forward.h"

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

static void layout_acts(hp_fwd_acts *a, const hp_config *c, carver *cv)
{
    size_t bt = (size_t)a->batch * a->seq, d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    for (int l = 0; l < c->n_layers; l++) {
        hp_fwd_layer_acts *L = &a->layers[l];
        L->x_in = carve(cv, bt * d);
        L->xn1 = carve(cv, bt * d);
        L->q = carve(cv, bt * qd);
        L->k = carve(cv, bt * kvd);
        L->v = carve(cv, bt * kvd);
        L->probs = carve(cv, bt * (size_t)c->n_heads * a->seq);
        L->att = carve(cv, bt * qd);
        L->x_mid = carve(cv, bt * d);
        L->xn2 = carve(cv, bt * d);
        L->gate = carve(cv, bt * f);
        L->up = carve(cv, bt * f);
        L->act = carve(cv, bt * f);
    }
    a->x_out = carve(cv, bt * d);
    a->xn_out = carve(cv, bt * d);
    a->rope_cos = carve(cv, (size_t)a->seq * (size_t)(c->head_dim / 2));
    a->rope_sin = carve(cv, (size_t)a->seq * (size_t)(c->head_dim / 2));
}

hp_fwd_acts *hp_fwd_acts_new(const hp_fwd_model *fm, int batch, int seq, hp_err *err)
{
    if (batch <= 0 || seq <= 0)
        return hp_fail(err, "forward: batch (%d) and sequence length (%d) must be positive", batch, seq),
               NULL;
    hp_fwd_acts *a = hp_calloc(1, sizeof *a, "the activations", err);
    if (!a)
        return NULL;
    a->batch = batch;
    a->seq = seq;
    a->layers = hp_calloc((size_t)fm->config.n_layers, sizeof *a->layers, "the layer activations", err);
    carver cv = {0};
    if (a->layers)
        layout_acts(a, &fm->config, &cv);
    a->n_floats = cv.used;
    a->block = a->layers ? hp_malloc(cv.used * sizeof(float), "the activations block", err) : NULL;
    if (!a->block) {
        hp_fwd_acts_free(a);
        return NULL;
    }
    cv = (carver){.base = a->block};
    layout_acts(a, &fm->config, &cv);
    return a;
}

void hp_fwd_acts_free(hp_fwd_acts *a)
{
    if (!a)
        return;
    free(a->block);
    free(a->layers);
    free(a);
}

static int check_inputs(const hp_fwd_model *fm, const hp_fwd_acts *a, const int32_t *tokens,
                        const int *lengths, int B, int T, hp_err *err)
{
    if (B <= 0 || T <= 0 || B > a->batch || T > a->seq)
        return hp_fail(err, "forward: batch %d x %d positions does not fit the activations (%d x %d)", B, T,
                       a->batch, a->seq);
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
            memcpy(x + ((size_t)b * T + t) * d, fm->embedding + (size_t)id * d, d * sizeof(float));
        }
    }
}

static void add_into(float *y, const float *a, const float *b, size_t n)
{
    for (size_t i = 0; i < n; i++)
        y[i] = a[i] + b[i];
}

/* One decoder layer: x_out = x_mid + MLP(norm(x_mid)), x_mid = x_in + Attn(norm(x_in)).
 * The o_proj and down_proj products go to a scratch (the next activation buffer) before the
 * residual add, so that every kept activation is the value the backward pass needs. */
static void run_layer(const hp_fwd_model *fm, const hp_fwd_layer *W, hp_fwd_layer_acts *A, float *x_out,
                      const hp_fwd_acts *acts, const int *lengths, int B, int T)
{
    const hp_config *c = &fm->config;
    size_t n = (size_t)B * T;
    int d = c->hidden_size, f = c->intermediate_size, hd = c->head_dim;
    int qd = c->n_heads * hd, kvd = c->n_kv_heads * hd;
    float eps = (float)c->rms_norm_eps;

    fwd_rmsnorm(A->xn1, A->x_in, W->attn_norm, n, d, eps);
    fwd_linear(A->q, A->xn1, W->wq, W->bq, n, d, qd);
    fwd_linear(A->k, A->xn1, W->wk, W->bk, n, d, kvd);
    fwd_linear(A->v, A->xn1, W->wv, W->bv, n, d, kvd);
    fwd_rope_apply(A->q, B, T, c->n_heads, hd, acts->rope_cos, acts->rope_sin);
    fwd_rope_apply(A->k, B, T, c->n_kv_heads, hd, acts->rope_cos, acts->rope_sin);
    fwd_attention(A->att, A->probs, A->q, A->k, A->v, lengths, B, T, c->n_heads, c->n_kv_heads, hd);
    fwd_linear(x_out, A->att, W->wo, NULL, n, qd, d); /* x_out as scratch for o_proj */
    add_into(A->x_mid, A->x_in, x_out, n * (size_t)d);

    fwd_rmsnorm(A->xn2, A->x_mid, W->mlp_norm, n, d, eps);
    fwd_linear(A->gate, A->xn2, W->w_gate, NULL, n, d, f);
    fwd_linear(A->up, A->xn2, W->w_up, NULL, n, d, f);
    fwd_swiglu(A->act, A->gate, A->up, n * (size_t)f);
    fwd_linear(x_out, A->act, W->w_down, NULL, n, f, d);
    for (size_t i = 0; i < n * (size_t)d; i++)
        x_out[i] += A->x_mid[i];
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

int hp_fwd_run(const hp_fwd_model *fm, hp_fwd_acts *acts, const int32_t *tokens, const int *lengths,
               int B, int T, float *logits, float *hidden, hp_err *err)
{
    if (check_inputs(fm, acts, tokens, lengths, B, T, err))
        return -1;
    const hp_config *c = &fm->config;
    size_t n = (size_t)B * T, d = (size_t)c->hidden_size;
    fwd_rope_tables(c, T, acts->rope_cos, acts->rope_sin);
    embed(fm, acts->layers[0].x_in, tokens, lengths, B, T);
    for (int l = 0; l < c->n_layers; l++) {
        float *x_out = l + 1 < c->n_layers ? acts->layers[l + 1].x_in : acts->x_out;
        run_layer(fm, &fm->layers[l], &acts->layers[l], x_out, acts, lengths, B, T);
    }
    fwd_rmsnorm(acts->xn_out, acts->x_out, fm->final_norm, n, (int)d, (float)c->rms_norm_eps);
    fwd_linear(logits, acts->xn_out, fm->lm_head, NULL, n, (int)d, c->vocab_size);
    zero_padding(logits, lengths, B, T, (size_t)c->vocab_size);
    if (hidden) {
        for (int l = 0; l <= c->n_layers; l++) {
            float *dst = hidden + (size_t)l * n * d;
            memcpy(dst, l < c->n_layers ? acts->layers[l].x_in : acts->x_out, n * d * sizeof(float));
            zero_padding(dst, lengths, B, T, d);
        }
    }
    return 0;
}

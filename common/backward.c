/* The backward pass of one decoder layer (hyplora/backward.h). The forward pass is
 *   xn1 = norm1(x_in); q, k, v = xn1 Wq^T, Wk^T, Wv^T (+ b); q, k rotated;
 *   att = softmax(q k^T / sqrt(hd), causal and padding mask) v;  x_mid = x_in + att Wo^T;
 *   xn2 = norm2(x_mid); gate, up = xn2 Wg^T, Wu^T; act = silu(gate) up; x_out = x_mid + act Wd^T
 * and this file walks it back in reverse, every product an sgemm. */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "forward_internal.h"
#include "hyplora/backward.h"

/* Rows of logits made at once by hp_bwd_loss: as many as fit in LOGIT_BYTES (a multiple
 * of 64, at least 64 and at most 512). Each block's products read the whole head, so
 * blocks of a few hundred rows keep that read small beside their arithmetic. */
enum { LOGIT_ROWS_MIN = 64, LOGIT_ROWS_MAX = 512 };
#define LOGIT_BYTES ((size_t)64 << 20)

static size_t logit_rows(const hp_config *c, int batch, int seq)
{
    size_t rows = LOGIT_BYTES / (sizeof(float) * (size_t)c->vocab_size) / 64 * 64;
    size_t n = ((size_t)batch * seq + 63) / 64 * 64;
    rows = rows < LOGIT_ROWS_MIN ? LOGIT_ROWS_MIN : rows > LOGIT_ROWS_MAX ? LOGIT_ROWS_MAX : rows;
    return rows < n ? rows : n;
}

struct hp_bwd_work {
    float *block;
    float *d_xn, *d_mid, *d_qkv, *d_att, *d_gu, *d_act; /* [n, width] gradients of the activations */
    float *dx;        /* [n, hidden] the gradient flowing down the residual stream */
    float *logits;    /* [logit_rows, vocab] */
    double *row_loss; /* [logit_rows] */
    size_t logit_rows;
    float *d_scores;  /* per thread: one head's [T, T] gradient of the attention weights */
    float *neg_sin;   /* [T, hd/2]: the inverse rotation */
    int batch, seq;
};

hp_bwd_work *hp_bwd_work_new(const hp_fwd_model *fm, int batch, int seq, hp_err *err)
{
    const hp_config *c = &fm->config;
    size_t n = (size_t)batch * seq, d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, T = (size_t)seq, rows = logit_rows(c, batch, seq);
    size_t sizes[] = {n * d, n * d, n * (size_t)hp_fwd_qkv_width(c), n * qd, n * 2 * f, n * f, n * d,
                      rows * (size_t)c->vocab_size, (size_t)fm->threads * T * T,
                      T * (size_t)(c->head_dim / 2)};
    size_t total = 0;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++)
        total += sizes[i];
    hp_bwd_work *w = hp_calloc(1, sizeof *w, "the backward pass", err);
    if (!w || !(w->block = hp_malloc(total * sizeof(float), "the backward pass's buffers", err)) ||
        !(w->row_loss = hp_malloc(rows * sizeof(double), "the backward pass's buffers", err))) {
        if (w)
            free(w->block);
        free(w);
        return NULL;
    }
    w->logit_rows = rows;
    float **views[] = {&w->d_xn,   &w->d_mid,  &w->d_qkv,      &w->d_att,  &w->d_gu,
                       &w->d_act,  &w->dx,     &w->logits,     &w->d_scores, &w->neg_sin};
    float *p = w->block;
    for (size_t i = 0; i < sizeof sizes / sizeof *sizes; i++) {
        *views[i] = p;
        p += sizes[i];
    }
    w->batch = batch;
    w->seq = seq;
    return w;
}

void hp_bwd_work_free(hp_bwd_work *w)
{
    if (w)
        free(w->block), free(w->row_loss);
    free(w);
}

/* ---- linear layers: y = x W^T (+ b) ---- */

/* dW += dy^T x when dW is not NULL. */
static void weight_grad(const hp_fwd_weight *W, const float *dy, size_t ldy, const float *x, size_t ldx, size_t n,
                        float *dW)
{
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)W->rows, (int)W->cols, (int)n, 1, dy, (int)ldy, x,
                    (int)ldx, 1, dW, (int)W->cols);
}

/* db += the column sums of dy [n, out] when db is not NULL. */
static void bias_grad(float *db, const float *dy, size_t ldy, size_t n, int out)
{
    if (db)
        for (size_t r = 0; r < n; r++)
            for (int j = 0; j < out; j++)
                db[j] += dy[r * ldy + (size_t)j];
}

/* dx (+)= dy W, with dx overwritten when accumulate is false; dW += dy^T x when dW is not
 * NULL; db += the column sums of dy. dy, x, dx are rows ldy, ldx, ldx apart. */
static void linear_backward(const hp_fwd_weight *W, const float *dy, size_t ldy, const float *x, size_t ldx,
                            size_t n, float *dx, bool accumulate, float *dW, float *db)
{
    int out = (int)W->rows, in = (int)W->cols;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)n, in, out, 1, dy, (int)ldy, W->f32, in,
                accumulate ? 1 : 0, dx, (int)ldx);
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, out, in, (int)n, 1, dy, (int)ldy, x, (int)ldx, 1, dW,
                    in);
    if (db)
        for (size_t r = 0; r < n; r++)
            for (int j = 0; j < out; j++)
                db[j] += dy[r * ldy + (size_t)j];
}

/* ---- RMSNorm: y = x r w, r = 1 / sqrt(mean(x^2) + eps) ---- */

/* dx (+)= the gradient through the norm of dy for rows [begin, end); dw += sum over those
 * rows of dy x r. */
static void rmsnorm_backward_rows(const float *x, const float *w, const float *dy, size_t begin, size_t end, int d,
                                  double eps, float *dx, bool accumulate, float *dw)
{
    for (size_t i = begin; i < end; i++) {
        const float *xr = x + i * (size_t)d, *gr = dy + i * (size_t)d;
        float *o = dx + i * (size_t)d;
        double ss = 0, dot = 0;
        for (int j = 0; j < d; j++) {
            ss += (double)xr[j] * xr[j];
            dot += (double)gr[j] * w[j] * xr[j];
        }
        double r = 1 / sqrt(ss / d + eps), c = r * r * r * dot / d;
        for (int j = 0; j < d; j++) {
            double g = r * (double)w[j] * gr[j] - c * xr[j];
            o[j] = (float)(accumulate ? o[j] + g : g);
        }
        if (dw)
            for (int j = 0; j < d; j++)
                dw[j] += (float)((double)gr[j] * xr[j] * r);
    }
}

typedef struct norm_back {
    const float *x, *w, *dy;
    float *dx;
    int d;
    double eps;
    bool accumulate;
} norm_back;

static void norm_back_items(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const norm_back *j = ctx;
    rmsnorm_backward_rows(j->x, j->w, j->dy, begin, end, j->d, j->eps, j->dx, j->accumulate, NULL);
}

/* The same over n rows: on the model's threads when dw is NULL (rows are independent then);
 * in row order on this thread when the weight's gradient is summed over them. */
static void rmsnorm_backward(const hp_fwd_model *fm, const float *x, const float *w, const float *dy, size_t n,
                             int d, double eps, float *dx, bool accumulate, float *dw)
{
    if (dw) {
        rmsnorm_backward_rows(x, w, dy, 0, n, d, eps, dx, accumulate, dw);
        return;
    }
    norm_back j = {x, w, dy, dx, d, eps, accumulate};
    fwd_parallel(fm, n, 16, norm_back_items, &j);
}

/* ---- attention ---- */

typedef struct att_back {
    const hp_fwd_model *fm;
    const hp_fwd_layer_acts *A;
    hp_bwd_work *w;
    const int *lengths;
    int T;
} att_back;

/* Work item (b, kv head): every query head of the group in turn, so the gradients of the
 * group's keys and values are summed by one thread. With P the kept weights and dA the
 * gradient of the head's output: dP = dA V^T, dS = P (dP - rowsum(dP P)), dQ = dS K / sqrt(hd),
 * dK += dS^T Q / sqrt(hd), dV += P^T dA. Rows past the sequence's length are left zero. */
static void att_back_items(void *ctx, int worker, size_t begin, size_t end)
{
    const att_back *j = ctx;
    const hp_config *c = &j->fm->config;
    int H = c->n_heads, KV = c->n_kv_heads, hd = c->head_dim, T = j->T, group = H / KV;
    int qd = H * hd, kvd = KV * hd, ld = hp_fwd_qkv_width(c);
    float scale = 1.0f / sqrtf((float)hd);
    float *dP = j->w->d_scores + (size_t)worker * T * T;
    for (size_t item = begin; item < end; item++) {
        int b = (int)(item / (size_t)KV), kvh = (int)(item % (size_t)KV);
        int len = j->lengths ? j->lengths[b] : T;
        const float *qkv = j->A->qkv + (size_t)b * T * ld;
        float *dqkv = j->w->d_qkv + (size_t)b * T * ld;
        const float *K = qkv + qd + (size_t)kvh * hd, *V = K + kvd;
        float *dK = dqkv + qd + (size_t)kvh * hd, *dV = dK + kvd;
        for (int g = 0; g < group; g++) {
            int h = kvh * group + g;
            const float *P = j->A->probs + ((size_t)b * H + h) * T * T;
            const float *dA = j->w->d_att + (size_t)b * T * qd + (size_t)h * hd;
            const float *Q = qkv + (size_t)h * hd;
            float *dQ = dqkv + (size_t)h * hd;
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, len, len, hd, 1, dA, qd, V, ld, 0, dP, T);
            for (int t = 0; t < len; t++) {
                const float *p = P + (size_t)t * T;
                float *dp = dP + (size_t)t * T;
                double s = 0;
                for (int k = 0; k <= t; k++)
                    s += (double)dp[k] * p[k];
                for (int k = 0; k < len; k++)
                    dp[k] = k <= t ? p[k] * (dp[k] - (float)s) : 0;
            }
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, len, hd, len, scale, dP, T, K, ld, 0, dQ, ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, hd, len, scale, dP, T, Q, ld, 1, dK, ld);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, len, hd, len, 1, P, T, dA, qd, 1, dV, ld);
        }
    }
}

/* ---- one layer ---- */

typedef struct silu_back {
    const float *gate_up, *d_act;
    float *d_gu;
    int f;
} silu_back;

/* Rows [begin, end): exp(-g) is made in the gate's gradient row first (fwd_exp_shifted,
 * vectorised), then each element in float from it. */
static void silu_back_items(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const silu_back *j = ctx;
    size_t f = (size_t)j->f;
    for (size_t i = begin; i < end; i++) {
        const float *g = j->gate_up + i * 2 * f, *u = g + f, *da = j->d_act + i * f;
        float *dg = j->d_gu + i * 2 * f, *du = dg + f;
        for (size_t k = 0; k < f; k++)
            dg[k] = -g[k];
        fwd_exp_shifted(dg, f, 0);
        for (size_t k = 0; k < f; k++) {
            float sig = 1.0f / (1.0f + dg[k]);
            du[k] = da[k] * g[k] * sig;
            dg[k] = da[k] * u[k] * sig * (1.0f + g[k] * (1.0f - sig));
        }
    }
}

static void silu_backward(const hp_fwd_model *fm, const float *gate_up, const float *d_act, float *d_gu, size_t n,
                          int f)
{
    silu_back j = {gate_up, d_act, d_gu, f};
    fwd_parallel(fm, n, (size_t)(1 << 14) / (size_t)f + 1, silu_back_items, &j);
}

/* The gradient through module m's adapter, if it has one: dh (rows lddh apart) is the
 * gradient at the module's output; the adapter's own gradients accumulate, and the gradient
 * at the module's input is added to dx. */
static int adapt_back(const hp_fwd_acts *acts, const hp_fwd_layer *W, int l, hp_module m, const float *dh,
                      size_t lddh, size_t n, float *dx, hp_err *err)
{
    const hp_adapter *a = W->adapter[m];
    if (!a)
        return 0;
    const uint8_t *keep = acts->train && a->dropout > 0 ? acts->keep[l][m] : NULL;
    if (hp_adapter_backward(a, &acts->adapter_cache[l][m], dh, lddh, (int)n, keep, dx, err))
        return hp_failctx(err, "layer %d, %s adapter", l, hp_module_name(m));
    return 0;
}

int hp_bwd_layer(const hp_fwd_model *fm, int l, const hp_fwd_acts *acts, const int *lengths, int B, int T,
                 const float *dx_out, float *dx_in, const hp_bwd_layer_grads *g, hp_bwd_work *w, hp_err *err)
{
    const hp_config *c = &fm->config;
    if (fm->stored)
        return hp_fail(err, "backward: the weights are kept in their stored type; the backward pass needs them "
                            "in float32 (HP_FWD_WEIGHTS_F32, --weights f32)");
    if (!acts->keep_all)
        return hp_fail(err, "backward: the forward pass did not keep its activations (keep_all)");
    if (l < 0 || l >= c->n_layers || B > w->batch || T > w->seq || B > acts->batch || T > acts->seq)
        return hp_fail(err, "backward: layer %d or batch %d x %d out of range", l, B, T);
    static const hp_bwd_layer_grads none = {0};
    if (!g)
        g = &none;
    const hp_fwd_layer *W = &fm->layers[l];
    const hp_fwd_layer_acts *A = &acts->layers[l];
    size_t n = (size_t)B * T, d = (size_t)c->hidden_size, f = (size_t)c->intermediate_size;
    size_t qd = (size_t)c->n_heads * c->head_dim, kvd = (size_t)c->n_kv_heads * c->head_dim;
    size_t ld = (size_t)hp_fwd_qkv_width(c);
    double eps = c->rms_norm_eps;

    /* MLP: x_out = x_mid + act Wd^T, act = silu(gate) up, gate|up = xn2 [Wg; Wu]^T (each
     * product with its adapter's update, when it has one) */
    linear_backward(&W->w_down, dx_out, d, A->act, f, n, w->d_act, false, g->w_down, NULL);
    if (adapt_back(acts, W, l, HP_MODULE_DOWN, dx_out, d, n, w->d_act, err))
        return -1;
    silu_backward(fm, A->gate_up, w->d_act, w->d_gu, n, (int)f);
    if (W->w_gate_up.rows) { /* one product for both halves' input gradient */
        linear_backward(&W->w_gate_up, w->d_gu, 2 * f, A->xn2, d, n, w->d_xn, false, NULL, NULL);
        weight_grad(&W->w_gate, w->d_gu, 2 * f, A->xn2, d, n, g->w_gate);
        weight_grad(&W->w_up, w->d_gu + f, 2 * f, A->xn2, d, n, g->w_up);
    } else {
        linear_backward(&W->w_gate, w->d_gu, 2 * f, A->xn2, d, n, w->d_xn, false, g->w_gate, NULL);
        linear_backward(&W->w_up, w->d_gu + f, 2 * f, A->xn2, d, n, w->d_xn, true, g->w_up, NULL);
    }
    if (adapt_back(acts, W, l, HP_MODULE_GATE, w->d_gu, 2 * f, n, w->d_xn, err) ||
        adapt_back(acts, W, l, HP_MODULE_UP, w->d_gu + f, 2 * f, n, w->d_xn, err))
        return -1;
    memcpy(w->d_mid, dx_out, n * d * sizeof(float));
    rmsnorm_backward(fm, A->x_mid, W->mlp_norm, w->d_xn, n, (int)d, eps, w->d_mid, true, g->mlp_norm);

    /* attention: x_mid = x_in + att Wo^T */
    linear_backward(&W->wo, w->d_mid, d, A->att, qd, n, w->d_att, false, g->wo, NULL);
    if (adapt_back(acts, W, l, HP_MODULE_O, w->d_mid, d, n, w->d_att, err))
        return -1;
    memset(w->d_qkv, 0, n * ld * sizeof(float));
    att_back ab = {fm, A, w, lengths, T};
    fwd_parallel_blas(fm, (size_t)B * c->n_kv_heads, 1, att_back_items, &ab);
    /* q and k were rotated after the projection: rotate their gradients back */
    int half = c->head_dim / 2;
    for (size_t i = 0; i < (size_t)T * half; i++)
        w->neg_sin[i] = -acts->rope_sin[i];
    fwd_rope_apply(w->d_qkv, ld, B, T, c->n_heads, c->head_dim, acts->rope_cos, w->neg_sin);
    fwd_rope_apply(w->d_qkv + qd, ld, B, T, c->n_kv_heads, c->head_dim, acts->rope_cos, w->neg_sin);
    if (W->wqkv.rows) { /* one product for the three input gradients */
        linear_backward(&W->wqkv, w->d_qkv, ld, A->xn1, d, n, w->d_xn, false, NULL, NULL);
        weight_grad(&W->wq, w->d_qkv, ld, A->xn1, d, n, g->wq);
        weight_grad(&W->wk, w->d_qkv + qd, ld, A->xn1, d, n, g->wk);
        weight_grad(&W->wv, w->d_qkv + qd + kvd, ld, A->xn1, d, n, g->wv);
        bias_grad(W->bq ? g->bq : NULL, w->d_qkv, ld, n, (int)qd);
        bias_grad(W->bk ? g->bk : NULL, w->d_qkv + qd, ld, n, (int)kvd);
        bias_grad(W->bv ? g->bv : NULL, w->d_qkv + qd + kvd, ld, n, (int)kvd);
    } else {
        linear_backward(&W->wq, w->d_qkv, ld, A->xn1, d, n, w->d_xn, false, g->wq, W->bq ? g->bq : NULL);
        linear_backward(&W->wk, w->d_qkv + qd, ld, A->xn1, d, n, w->d_xn, true, g->wk, W->bk ? g->bk : NULL);
        linear_backward(&W->wv, w->d_qkv + qd + kvd, ld, A->xn1, d, n, w->d_xn, true, g->wv,
                        W->bv ? g->bv : NULL);
    }
    if (adapt_back(acts, W, l, HP_MODULE_Q, w->d_qkv, ld, n, w->d_xn, err) ||
        adapt_back(acts, W, l, HP_MODULE_K, w->d_qkv + qd, ld, n, w->d_xn, err) ||
        adapt_back(acts, W, l, HP_MODULE_V, w->d_qkv + qd + kvd, ld, n, w->d_xn, err))
        return -1;
    if (dx_in != w->d_mid)
        memmove(dx_in, w->d_mid, n * d * sizeof(float));
    rmsnorm_backward(fm, A->x_in, W->attn_norm, w->d_xn, n, (int)d, eps, dx_in, true, g->attn_norm);
    return 0;
}

/* ---- the loss, the head and the final norm ---- */

typedef struct loss_job {
    float *L;              /* [m, V] the block's logits */
    const int32_t *targets; /* of the block's rows */
    double *row_loss;
    double inv_targets;
    int V;
} loss_job;

/* Rows [begin, end) of a block: softmax (each exponential once, vectorised, kept in the row
 * and then scaled; the sum in double), -log p[target] into row_loss, and the gradient
 * (p - onehot(target)) / n_targets in place of the logits; rows without a target get 0. */
static void loss_items(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const loss_job *j = ctx;
    int V = j->V;
    for (size_t i = begin; i < end; i++) {
        float *row = j->L + i * (size_t)V;
        int32_t t = j->targets[i];
        j->row_loss[i] = 0;
        if (t < 0) {
            memset(row, 0, (size_t)V * sizeof *row);
            continue;
        }
        float mx = row[0];
        for (int k = 1; k < V; k++)
            mx = row[k] > mx ? row[k] : mx;
        double logit = row[t], z = 0;
        fwd_exp_shifted(row, (size_t)V, mx);
        for (int k = 0; k < V; k++)
            z += row[k];
        j->row_loss[i] = log(z) + mx - logit;
        float scale = (float)(j->inv_targets / z);
        for (int k = 0; k < V; k++)
            row[k] *= scale;
        row[t] -= (float)j->inv_targets;
    }
}

/* The rows [r0, r0 + m) of the loss: logits, softmax, -log p[target] summed into *sum (in
 * row order), and the gradient (p - onehot(target)) / n_targets into the head's products. */
static void loss_rows(const hp_fwd_model *fm, const hp_fwd_acts *acts, const int32_t *targets, size_t r0, size_t m,
                      double inv_targets, const hp_bwd_model_grads *g, hp_bwd_work *w, double *sum)
{
    const hp_config *c = &fm->config;
    int V = c->vocab_size, d = c->hidden_size;
    const float *x = acts->xn_out + r0 * (size_t)d;
    float *L = w->logits;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)m, V, d, 1, x, d, fm->lm_head.f32, d, 0, L, V);
    loss_job j = {L, targets + r0, w->row_loss, inv_targets, V};
    fwd_parallel(fm, m, 1, loss_items, &j);
    for (size_t i = 0; i < m; i++)
        *sum += w->row_loss[i];
    /* d_xn_out = dlogits W_head; dW_head += dlogits^T xn_out */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, d, V, 1, L, V, fm->lm_head.f32, d, 0,
                w->d_xn + r0 * (size_t)d, d);
    float *dW = fm->tied ? g->embedding : g->lm_head;
    if (dW)
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, V, d, (int)m, 1, L, V, x, d, 1, dW, d);
}

int hp_bwd_loss(const hp_fwd_model *fm, const hp_fwd_acts *acts, const int32_t *tokens, const int32_t *targets,
                const int *lengths, int B, int T, int lowest, const hp_bwd_model_grads *g, hp_bwd_work *w,
                double *loss, size_t *n_targets, hp_err *err)
{
    const hp_config *c = &fm->config;
    static const hp_bwd_model_grads none = {0};
    if (!g)
        g = &none;
    if (fm->stored)
        return hp_fail(err, "backward: the weights are kept in their stored type; the backward pass needs them "
                            "in float32 (HP_FWD_WEIGHTS_F32, --weights f32)");
    if (lowest < 0 || lowest > c->n_layers)
        return hp_fail(err, "backward: the lowest layer %d is out of range 0..%d", lowest, c->n_layers);
    size_t n = (size_t)B * T, d = (size_t)c->hidden_size, count = 0;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            int32_t id = targets[(size_t)b * T + t];
            bool real = t < (lengths ? lengths[b] : T);
            if (id >= c->vocab_size || (id >= 0 && !real) || id < -1)
                return hp_fail(err, "backward: target %d at sequence %d, position %d is not a token id of the "
                                    "vocabulary (%d) at a real position, or -1", (int)id, b, t, c->vocab_size);
            count += id >= 0;
        }
    *n_targets = count;
    if (count == 0)
        return hp_fail(err, "backward: the batch has no position with a target");
    double sum = 0;
    size_t rows = w->logit_rows;
    for (size_t r0 = 0; r0 < n; r0 += rows)
        loss_rows(fm, acts, targets, r0, n - r0 < rows ? n - r0 : rows, 1.0 / (double)count, g, w, &sum);
    *loss = sum / (double)count;
    rmsnorm_backward(fm, acts->x_out, fm->final_norm, w->d_xn, n, (int)d, c->rms_norm_eps, w->dx, false, g->final_norm);
    for (int l = c->n_layers - 1; l >= lowest; l--)
        if (hp_bwd_layer(fm, l, acts, lengths, B, T, w->dx, w->dx, g->layers ? &g->layers[l] : NULL, w, err))
            return hp_failctx(err, "layer %d", l);
    if (lowest == 0 && g->embedding) /* the embedding rows of the tokens */
        for (int b = 0; b < B; b++)
            for (int t = 0; t < (lengths ? lengths[b] : T); t++) {
                float *row = g->embedding + (size_t)tokens[(size_t)b * T + t] * d;
                const float *dx = w->dx + ((size_t)b * T + t) * d;
                for (size_t j = 0; j < d; j++)
                    row[j] += dx[j];
            }
    return 0;
}

/* The gradient block's views mirror the parameter block's: the same offsets. */
static float *mirror(const hp_fwd_model *fm, float *grads, const float *p)
{
    return p ? grads + (p - fm->params) : NULL;
}

void hp_bwd_grads_views(const hp_fwd_model *fm, float *grads, hp_bwd_model_grads *g, hp_bwd_layer_grads *layers)
{
    *g = (hp_bwd_model_grads){
        .embedding = mirror(fm, grads, fm->embedding.f32),
        .final_norm = mirror(fm, grads, fm->final_norm),
        .lm_head = fm->tied ? NULL : mirror(fm, grads, fm->lm_head.f32),
        .layers = layers,
    };
    for (int l = 0; l < fm->config.n_layers; l++) {
        const hp_fwd_layer *L = &fm->layers[l];
        layers[l] = (hp_bwd_layer_grads){
            .attn_norm = mirror(fm, grads, L->attn_norm), .mlp_norm = mirror(fm, grads, L->mlp_norm),
            .wq = mirror(fm, grads, L->wq.f32),           .wk = mirror(fm, grads, L->wk.f32),
            .wv = mirror(fm, grads, L->wv.f32),           .wo = mirror(fm, grads, L->wo.f32),
            .bq = mirror(fm, grads, L->bq),               .bk = mirror(fm, grads, L->bk),
            .bv = mirror(fm, grads, L->bv),               .w_gate = mirror(fm, grads, L->w_gate.f32),
            .w_up = mirror(fm, grads, L->w_up.f32),       .w_down = mirror(fm, grads, L->w_down.f32),
        };
    }
}

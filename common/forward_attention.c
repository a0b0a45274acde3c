/* Grouped-query causal attention with a padding mask (forward_internal.h).
 *
 * A prefill is split into work items of one sequence, one head and a block of QB queries,
 * spread over the threads. Each item is two sgemm calls on strided views of q, k and v (no
 * head is copied out), with the mask and the softmax on the score rows between them; a
 * block only multiplies the keys its last query can see, so the causal half is skipped.
 * The scores go to the kept attention weights when a backward pass needs them, else to a
 * per-thread buffer of QB rows, so inference never holds a [B, H, T, T] array. OpenBLAS
 * runs single-threaded inside the items: the parallelism is ours. */
#include <cblas.h>
#include <math.h>
#include <string.h>

#include "forward_internal.h"

enum { QB = 64 }; /* queries per work item */

/* Softmax of row[0, n) in place (max subtracted for range), zeros in [n, T). */
static void masked_softmax(float *row, int n, int T)
{
    float mx = row[0];
    for (int j = 1; j < n; j++)
        if (row[j] > mx)
            mx = row[j];
    fwd_exp_shifted(row, (size_t)n, mx);
    double sum = 0;
    for (int j = 0; j < n; j++)
        sum += row[j];
    float inv = (float)(1.0 / sum);
    for (int j = 0; j < n; j++)
        row[j] *= inv;
    memset(row + n, 0, (size_t)(T - n) * sizeof *row);
}

size_t fwd_attention_scratch(const hp_fwd_model *fm, int T)
{
    int rows = T < QB ? T : QB;
    return (size_t)fm->threads * rows * T;
}

typedef struct att_job {
    const hp_fwd_model *fm;
    float *att, *probs, *scratch;
    const float *qkv;
    const int *lengths;
    int T, blocks;
} att_job;

static void att_items(void *ctx, int worker, size_t begin, size_t end)
{
    const att_job *j = ctx;
    const hp_config *c = &j->fm->config;
    int H = c->n_heads, hd = c->head_dim, T = j->T;
    int qd = H * hd, kvd = c->n_kv_heads * hd, ld = hp_fwd_qkv_width(c), group = H / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t item = begin; item < end; item++) {
        int blk = (int)(item % (size_t)j->blocks);
        int h = (int)(item / (size_t)j->blocks % (size_t)H);
        int b = (int)(item / ((size_t)j->blocks * H));
        int kvh = h / group, len = j->lengths ? j->lengths[b] : T;
        int t0 = blk * QB, t1 = t0 + QB < T ? t0 + QB : T;
        /* Query t sees keys up to t and never a padded one: a padded query (t >= len) sees
         * the whole real sequence, which keeps its row finite; the caller discards it. */
        int keys = t1 < len ? t1 : len;
        float *p = j->probs ? j->probs + (((size_t)b * H + h) * T + t0) * T
                            : j->scratch + (size_t)worker * (T < QB ? T : QB) * T;
        const float *qb = j->qkv + ((size_t)b * T + t0) * ld + (size_t)h * hd;
        const float *kb = j->qkv + (size_t)b * T * ld + qd + (size_t)kvh * hd;
        const float *vb = kb + kvd;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, t1 - t0, keys, hd, scale, qb, ld, kb, ld, 0.0f, p, T);
        for (int t = t0; t < t1; t++)
            masked_softmax(p + (size_t)(t - t0) * T, t + 1 < len ? t + 1 : len, T);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, t1 - t0, hd, keys, 1.0f, p, T, vb, ld, 0.0f,
                    j->att + ((size_t)b * T + t0) * qd + (size_t)h * hd, qd);
    }
}

void fwd_attention(const hp_fwd_model *fm, float *att, float *probs, const float *qkv, const int *lengths,
                   int B, int T, float *scratch)
{
    att_job j = {fm, att, probs, scratch, qkv, lengths, T, (T + QB - 1) / QB};
    fwd_parallel_blas(fm, (size_t)B * fm->config.n_heads * j.blocks, 1, att_items, &j);
}

typedef struct cached_job {
    const hp_fwd_model *fm;
    const hp_fwd_cache *c;
    int layer;
    float *att, *scores;
    const float *qkv;
} cached_job;

static void cached_items(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const cached_job *j = ctx;
    const hp_config *c = &j->fm->config;
    int H = c->n_heads, hd = c->head_dim, kvrow = c->n_kv_heads * hd, group = H / c->n_kv_heads;
    float scale = 1.0f / sqrtf((float)hd);
    for (size_t item = begin; item < end; item++) {
        int b = (int)(item / (size_t)H), h = (int)(item % (size_t)H), kvh = h / group;
        int n = j->c->len[b];
        size_t base = (((size_t)j->layer * j->c->batch + b) * j->c->capacity) * kvrow + (size_t)kvh * hd;
        const float *kc = j->c->k + base, *vc = j->c->v + base;
        const float *qh = j->qkv + (size_t)b * hp_fwd_qkv_width(c) + (size_t)h * hd;
        float *s = j->scores + item * (size_t)j->c->capacity;
        for (int t = 0; t < n; t++)
            s[t] = fwd_dot(qh, kc + (size_t)t * kvrow, hd) * scale;
        masked_softmax(s, n, n);
        float *out = j->att + (size_t)b * H * hd + (size_t)h * hd;
        memset(out, 0, (size_t)hd * sizeof *out);
        for (int t = 0; t < n; t++) {
            const float *vt = vc + (size_t)t * kvrow;
            for (int i = 0; i < hd; i++)
                out[i] += s[t] * vt[i];
        }
    }
}

void fwd_attention_cached(const hp_fwd_model *fm, const hp_fwd_cache *c, int layer, float *att,
                          const float *qkv, int B, float *scores)
{
    cached_job j = {fm, c, layer, att, scores, qkv};
    fwd_parallel(fm, (size_t)B * fm->config.n_heads, 1, cached_items, &j);
}

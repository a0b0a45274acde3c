/* Products with the model's weight matrices (forward_internal.h).
 *
 * For the hundreds of rows of a prefill the output columns are split into tiles spread over
 * our threads, and each tile is one single-threaded sgemm: a float32 matrix is read where it
 * lies, a stored one (BF16, F16, quantised, GGUF-permuted rows) is first widened tile by
 * tile into the thread's scratch, where the sgemm finds it in cache (widening costs a few
 * bytes of memory traffic per weight against 2n flops). One set of threads does all the
 * work: OpenBLAS's own threads, which spin between calls, would compete with ours for the
 * cores.
 *
 * For the few rows of a decoding step the weights are streamed instead, each row dotted
 * with every input row, so each weight is read from memory once. */
#include <cblas.h>
#include <string.h>

#include "forward_internal.h"
#include "parallel.h"

enum { TILE = 128 }; /* output columns of a stored weight widened at once per thread */

/* The longest row of any weight matrix. */
static size_t widest(const hp_config *c)
{
    size_t cols = (size_t)c->hidden_size;
    if ((size_t)c->intermediate_size > cols)
        cols = (size_t)c->intermediate_size;
    if ((size_t)c->n_heads * c->head_dim > cols)
        cols = (size_t)c->n_heads * c->head_dim;
    return cols;
}

/* Per thread: one widened row (decoding) and, for stored weights, a tile of TILE rows. */
size_t fwd_linear_scratch(const hp_fwd_model *fm)
{
    return (size_t)fm->threads * widest(&fm->config) * (fm->stored ? TILE + 1 : 1);
}

static const unsigned char *stored_row(const hp_tensor *t, int64_t r)
{
    return (const unsigned char *)t->data + (uint64_t)hp_tensor_stored_row(t, r) * hp_tensor_row_bytes(t);
}

void fwd_widen_rows(const hp_fwd_weight *w, int64_t r0, int64_t n, float *dst)
{
    if (w->f32) {
        memcpy(dst, w->f32 + r0 * w->cols, (size_t)(n * w->cols) * sizeof(float));
        return;
    }
    /* The dtype was checked readable when the model was loaded. */
    for (int64_t r = 0; r < n; r++)
        hp_convert_f32(w->stored->dtype, stored_row(w->stored, r0 + r), dst + r * w->cols, (size_t)w->cols);
}

/* ---- the prefill kernel: column tiles of y = x W^T, one sgemm each ---- */

typedef struct gemm_job {
    const hp_fwd_weight *w;
    const float *x;
    float *y;
    size_t n, ldy;
    int tile;
    float *scratch; /* TILE rows per worker, after the row buffers */
} gemm_job;

static void gemm_tiles(void *ctx, int worker, size_t begin, size_t end)
{
    const gemm_job *j = ctx;
    int in = (int)j->w->cols, out = (int)j->w->rows;
    for (size_t item = begin; item < end; item++) {
        int r0 = (int)item * j->tile, rows = out - r0 < j->tile ? out - r0 : j->tile;
        const float *wt = j->w->f32 ? j->w->f32 + (size_t)r0 * in : j->scratch + (size_t)worker * TILE * in;
        if (!j->w->f32)
            fwd_widen_rows(j->w, r0, rows, (float *)wt);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)j->n, rows, in, 1.0f, j->x, in, wt, in, 0.0f,
                    j->y + r0, (int)j->ldy);
    }
}

/* ---- the small-row kernel: y[i, r] = x[i] . W[r] for every row r, n <= FWD_SMALL_ROWS ---- */

typedef struct stream_job {
    const hp_fwd_weight *w;
    const float *x;
    float *y;
    size_t n, ldy;
    float *rowbuf; /* cols floats per worker */
} stream_job;

static void stream_chunk(void *ctx, int worker, size_t begin, size_t end)
{
    stream_job *j = ctx;
    int cols = (int)j->w->cols;
    float *buf = j->rowbuf + (size_t)worker * cols;
    const hp_tensor *t = j->w->stored;
    if (!j->w->f32 && t->dtype == HP_BF16 && t->permute_heads <= 0 && (uintptr_t)t->data % 2 == 0) {
        /* BF16 rows in order, the common stored case: widened in registers, never written. */
        for (size_t r = begin; r < end; r++)
            for (size_t i = 0; i < j->n; i++)
                j->y[i * j->ldy + r] = fwd_dot_bf16(j->x + i * cols, (const uint16_t *)stored_row(t, (int64_t)r), cols);
        return;
    }
    for (size_t r = begin; r < end; r++) {
        const float *wr = j->w->f32 ? j->w->f32 + r * cols : buf;
        if (!j->w->f32)
            fwd_widen_rows(j->w, (int64_t)r, 1, buf);
        for (size_t i = 0; i < j->n; i++)
            j->y[i * j->ldy + r] = fwd_dot(j->x + i * cols, wr, cols);
    }
}

/* ---- the mid-row kernel: four weight rows at a time against every input row ---- */

/* For a decoding step of 5 to FWD_MID_ROWS sequences: each weight row still read from memory
 * once, as in the small-row kernel, but dotted with two input rows at a time in registers.
 * OpenBLAS's sgemm would copy (pack) every weight tile it is given first, which for so few
 * rows costs as much as the product. Stored weights are widened four rows at a time into the
 * worker's tile scratch. */
static void mid_chunk(void *ctx, int worker, size_t begin, size_t end)
{
    stream_job *j = ctx;
    int cols = (int)j->w->cols;
    float *buf = j->rowbuf + (size_t)worker * TILE * cols;
    size_t r = begin;
    for (; r + 4 <= end; r += 4) {
        const float *w[4];
        if (j->w->f32) {
            for (int t = 0; t < 4; t++)
                w[t] = j->w->f32 + (r + (size_t)t) * (size_t)cols;
        } else {
            fwd_widen_rows(j->w, (int64_t)r, 4, buf);
            for (int t = 0; t < 4; t++)
                w[t] = buf + (size_t)t * cols;
        }
        fwd_dot_rows4(j->x, (size_t)cols, j->n, w, cols, j->y + r, j->ldy);
    }
    for (; r < end; r++) { /* the last rows of a chunk */
        const float *wr = j->w->f32 ? j->w->f32 + r * (size_t)cols : buf;
        if (!j->w->f32)
            fwd_widen_rows(j->w, (int64_t)r, 1, buf);
        for (size_t i = 0; i < j->n; i++)
            j->y[i * j->ldy + r] = fwd_dot(j->x + i * (size_t)cols, wr, cols);
    }
}

void fwd_linear(const hp_fwd_model *fm, float *y, size_t ldy, const float *x, const hp_fwd_weight *w,
                const float *bias, size_t n, float *scratch)
{
    int out = (int)w->rows;
    if (n <= FWD_SMALL_ROWS) {
        stream_job j = {w, x, y, n, ldy, scratch};
        fwd_parallel(fm, (size_t)out, 64, stream_chunk, &j);
    } else if (n <= FWD_MID_ROWS) {
        stream_job j = {w, x, y, n, ldy, scratch + (size_t)fm->threads * widest(&fm->config)};
        fwd_parallel(fm, (size_t)out, 64, mid_chunk, &j);
    } else {
        /* A float32 matrix in two tiles per thread (multiples of 16 columns) balances the
         * threads without repacking x more than needed. */
        int tile = TILE;
        if (w->f32) {
            int parts = fm->threads;
            tile = ((out + parts - 1) / parts + 15) / 16 * 16;
        }
        gemm_job j = {w, x, y, n, ldy, tile, scratch + (size_t)fm->threads * widest(&fm->config)};
        fwd_parallel_blas(fm, (size_t)(out + tile - 1) / tile, 1, gemm_tiles, &j);
    }
    if (!bias)
        return;
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < out; j++)
            y[r * ldy + j] += bias[j];
}

void fwd_project_qkv(const hp_fwd_model *fm, const hp_fwd_layer *W, float *qkv, const float *x, size_t n,
                     float *scratch)
{
    size_t ld = (size_t)hp_fwd_qkv_width(&fm->config), qd = (size_t)W->wq.rows, kvd = (size_t)W->wk.rows;
    if (W->wqkv.rows) {
        fwd_linear(fm, qkv, ld, x, &W->wqkv, NULL, n, scratch);
    } else {
        fwd_linear(fm, qkv, ld, x, &W->wq, NULL, n, scratch);
        fwd_linear(fm, qkv + qd, ld, x, &W->wk, NULL, n, scratch);
        fwd_linear(fm, qkv + qd + kvd, ld, x, &W->wv, NULL, n, scratch);
    }
    if (!W->bq)
        return;
    for (size_t r = 0; r < n; r++) {
        float *row = qkv + r * ld;
        for (size_t j = 0; j < qd; j++)
            row[j] += W->bq[j];
        for (size_t j = 0; j < kvd; j++) {
            row[qd + j] += W->bk[j];
            row[qd + kvd + j] += W->bv[j];
        }
    }
}

void fwd_project_gate_up(const hp_fwd_model *fm, const hp_fwd_layer *W, float *gate_up, const float *x, size_t n,
                         float *scratch)
{
    size_t f = (size_t)W->w_gate.rows;
    if (W->w_gate_up.rows) {
        fwd_linear(fm, gate_up, 2 * f, x, &W->w_gate_up, NULL, n, scratch);
    } else {
        fwd_linear(fm, gate_up, 2 * f, x, &W->w_gate, NULL, n, scratch);
        fwd_linear(fm, gate_up + f, 2 * f, x, &W->w_up, NULL, n, scratch);
    }
}

/* ---- the loop the forward kernels share ---- */

typedef struct range_job {
    fwd_range_fn fn;
    void *ctx;
} range_job;

static int range_chunk(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    range_job *r = ctx;
    r->fn(r->ctx, worker, begin, end);
    return 0;
}

void fwd_parallel(const hp_fwd_model *fm, size_t n, size_t chunk, fwd_range_fn fn, void *ctx)
{
    range_job r = {fn, ctx};
    size_t chunks = (n + chunk - 1) / chunk;
    hp_parallel_for(hp_threads_resolve(fm->threads, chunks), n, chunk, range_chunk, &r, NULL);
}

void fwd_parallel_blas(const hp_fwd_model *fm, size_t n, size_t chunk, fwd_range_fn fn, void *ctx)
{
    int before = openblas_get_num_threads();
    if (before != 1)
        openblas_set_num_threads(1);
    fwd_parallel(fm, n, chunk, fn, ctx);
    if (before != 1)
        openblas_set_num_threads(before);
}

/* The forward pass's building blocks (common/forward_*.c), internal to the library. Each
 * works on row-major float32 matrices of n rows; rows of a batch are b*T + t. Kept as
 * separate small functions so the backward pass can pair each with its gradient. */
#ifndef HYPLORA_FORWARD_INTERNAL_H
#define HYPLORA_FORWARD_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/config.h"
#include "hyplora/forward.h"

/* Rows of a product up to which the matrix-vector kernel (weights streamed once, widened
 * row by row) beats widening the whole matrix for sgemm: decoding steps. */
enum { FWD_SMALL_ROWS = 4, FWD_MID_ROWS = 32 };

/* Floats of scratch fwd_linear needs for any weight of the model (stored weights are widened
 * into it a tile at a time; the small-row kernel keeps one row per thread). */
size_t fwd_linear_scratch(const hp_fwd_model *fm);

/* Rows [r0, r0 + n) of w widened to float32 into dst (n x cols). */
void fwd_widen_rows(const hp_fwd_weight *w, int64_t r0, int64_t n, float *dst);

/* y[n, out] = x[n, in] W^T (+ bias when not NULL), W stored [out, in] as Hugging Face does;
 * rows of y are ldy apart. scratch holds fwd_linear_scratch(fm) floats. */
void fwd_linear(const hp_fwd_model *fm, float *y, size_t ldy, const float *x, const hp_fwd_weight *w,
                const float *bias, size_t n, float *scratch);

/* A layer's q|k|v [n, hp_fwd_qkv_width] (biases added, not rotated) and gate|up
 * [n, 2*intermediate] from the normed input x [n, hidden]: one product each when the
 * layer has the fused matrices. */
void fwd_project_qkv(const hp_fwd_model *fm, const hp_fwd_layer *W, float *qkv, const float *x, size_t n,
                     float *scratch);
void fwd_project_gate_up(const hp_fwd_model *fm, const hp_fwd_layer *W, float *gate_up, const float *x, size_t n,
                         float *scratch);

/* y = x / sqrt(mean(x^2) + eps) * w, row by row (n rows of d). */
void fwd_rmsnorm(const hp_fwd_model *fm, float *y, const float *x, const float *w, size_t n, int d);

/* The rotary tables for positions 0..T-1: cos/sin[t*(hd/2) + i] of t * inv_freq[i], with
 * inv_freq adjusted by the config's rope_scaling. */
void fwd_rope_tables(const hp_config *c, int T, float *cos_t, float *sin_t);

/* The rotary table row of position t: cs/sn[i] = cos/sin(t * inv_freq[i]), i < hd/2. */
void fwd_rope_position(const hp_config *c, int t, float *cs, float *sn);

/* Rotates the heads of one row (n_heads*hd values) in place for table row cs/sn, in the
 * rotate-half layout: pairs (i, i + hd/2). */
void fwd_rope_row(float *x, int n_heads, int hd, const float *cs, const float *sn);

/* Rotates every head of x (row b*T + t, ld floats apart, at position t) in place. */
void fwd_rope_apply(float *x, size_t ld, int B, int T, int n_heads, int hd, const float *cos_t,
                    const float *sin_t);

/* act[n, f] = silu(gate) * up, gate and up the two halves of each row of gate_up [n, 2f]. */
void fwd_swiglu(const hp_fwd_model *fm, float *act, const float *gate_up, size_t n, int f);

/* x[i] = exp(x[i] - shift) for i < n (AVX2 when the CPU has it: within 2e-7 relative). */
void fwd_exp_shifted(float *x, size_t n, float shift);

/* sum_i a[i] * b[i] over n floats (AVX2 when the CPU has it). */
float fwd_dot(const float *a, const float *b, int n);

/* The same with b stored as BF16 (little-endian 16-bit values), widened in registers. */
float fwd_dot_bf16(const float *x, const uint16_t *w, int n);

/* y[i * ldy + j] = x[i] . w[j] for the input rows x[0 .. n) (row stride ldx) and the four
 * weight rows w[0 .. 4), all of `cols` floats: each weight row read once per two input rows,
 * eight products in flight (the decoding step of a batch of sequences). */
void fwd_dot_rows4(const float *x, size_t ldx, size_t n, const float *const w[4], int cols, float *y, size_t ldy);

/* Grouped-query causal attention with a padding mask: for each sequence b, head h (kv head
 * h / (H/KV)) and query t, softmax over keys j <= t, j < len[b] of q.k / sqrt(hd), then the
 * weighted sum of v, with q, k, v the column blocks of qkv [B*T, qkv width]. att
 * [B*T, H*hd] gets the result; probs [B, H, T, T], when not NULL, keeps the weights (zero
 * where masked). scratch: fwd_attention_scratch floats. */
size_t fwd_attention_scratch(const hp_fwd_model *fm, int T);
void fwd_attention(const hp_fwd_model *fm, float *att, float *probs, const float *qkv, const int *lengths,
                   int B, int T, float *scratch);

/* One query row per sequence against the cache (decoding): att[b] from the q block of
 * qkv[b] and the first len[b] keys and values of layer `layer`. scores: B * H * capacity
 * floats. */
void fwd_attention_cached(const hp_fwd_model *fm, const hp_fwd_cache *c, int layer, float *att,
                          const float *qkv, int B, float *scores);

/* The chunked loop the kernels share: fn(ctx, worker, begin, end) over [0, n) on the
 * model's threads; worker (0 .. threads-1) indexes per-thread scratch. */
typedef void (*fwd_range_fn)(void *ctx, int worker, size_t begin, size_t end);
void fwd_parallel(const hp_fwd_model *fm, size_t n, size_t chunk, fwd_range_fn fn, void *ctx);

/* The same for work items that call OpenBLAS: it runs single-threaded inside them (its
 * thread count is restored afterwards). */
void fwd_parallel_blas(const hp_fwd_model *fm, size_t n, size_t chunk, fwd_range_fn fn, void *ctx);

#endif

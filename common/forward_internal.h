/* The forward pass's building blocks (common/forward_ops.c, forward_attention.c), internal
 * to the library. Each works on row-major float32 matrices of n rows; rows of a batch are
 * b*T + t. Kept as separate small functions so the backward pass can pair each with its
 * gradient. */
#ifndef HYPLORA_FORWARD_INTERNAL_H
#define HYPLORA_FORWARD_INTERNAL_H

#include <stddef.h>

#include "hyplora/config.h"

/* y = x / sqrt(mean(x^2) + eps) * w, row by row (n rows of d). */
void fwd_rmsnorm(float *y, const float *x, const float *w, size_t n, int d, float eps);

/* y[n, out] = x[n, in] W^T (+ bias when not NULL), W stored [out, in] as Hugging Face does. */
void fwd_linear(float *y, const float *x, const float *w, const float *bias, size_t n, int in, int out);

/* The rotary tables for positions 0..T-1: cos/sin[t*(hd/2) + i] of t * inv_freq[i], with
 * inv_freq adjusted by the config's rope_scaling. */
void fwd_rope_tables(const hp_config *c, int T, float *cos_t, float *sin_t);

/* Rotates every head of x (rows of n_heads*hd, row b*T + t at position t) in place, in the
 * rotate-half layout: pairs (i, i + hd/2). */
void fwd_rope_apply(float *x, int B, int T, int n_heads, int hd, const float *cos_t, const float *sin_t);

/* act = silu(gate) * up, elementwise over n values. */
void fwd_swiglu(float *act, const float *gate, const float *up, size_t n);

/* Grouped-query causal attention with a padding mask: for each sequence b, head h (kv head
 * h / (H/KV)) and query t, softmax over keys j <= t, j < len[b] of q.k / sqrt(hd), then the
 * weighted sum of v. probs [B, H, T, T] keeps the weights (zero where masked); att
 * [B*T, H*hd] the result. */
void fwd_attention(float *att, float *probs, const float *q, const float *k, const float *v,
                   const int *lengths, int B, int T, int H, int KV, int hd);

#endif

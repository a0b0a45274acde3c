/* One adapted linear module (docs/hyplora.md): h = W x + scaling * delta(x), with
 *   LoRA:    delta(x) = B A dropout(x)
 *   HypLoRA: delta(x) = log_o(B A exp_o(dropout(x) / s)) on the hyperboloid of curvature
 *            -1/K, K = softplus(k) + 1e-6 (hyplora/lorentz.h; consistent or released form).
 * The forward pass adds the update to the frozen layer's output for a batch of tokens and
 * keeps what the backward pass needs; the backward pass accumulates the gradients of A, B,
 * k and s and, when asked, adds the gradient of the input. Matrix products go through
 * sgemm; the per-token maps run in double.
 *
 * The parameters and their gradients are views: the trainer keeps every adapter's values
 * in one block and the gradients in another of the same layout, as llm.c does. */
#ifndef HYPLORA_ADAPTER_H
#define HYPLORA_ADAPTER_H

#include <stdbool.h>
#include <stdint.h>

#include "hyplora/error.h"
#include "hyplora/lorentz.h"

typedef enum hp_adapter_method { HP_ADAPTER_LORA, HP_ADAPTER_HYPLORA } hp_adapter_method;

typedef struct hp_adapter {
    hp_adapter_method method;
    hp_hyp_form form;  /* HypLoRA only */
    int in, out, rank;
    float scaling;     /* alpha / rank (alpha / sqrt(rank) with rsLoRA) */
    float dropout;     /* the probability p of dropping an input coordinate */
    /* values: A [rank, in], B [out, rank]; HypLoRA also the raw curvature k and the norm
     * scale s (one value each) */
    float *A, *B, *k, *s;
    /* gradients, same shapes, accumulated (+=) by hp_adapter_backward */
    float *dA, *dB, *dk, *ds;
} hp_adapter;

/* K = softplus(k) + 1e-6, and dK/dk = sigmoid(k). */
double hp_adapter_curvature(float k);

/* What the backward pass of one batch needs, for up to `capacity` tokens. */
typedef struct hp_adapter_cache {
    int capacity;
    float *xd; /* [N, in] the input after dropout (scaled by 1/(1-p)) */
    float *uf; /* [N] HypLoRA: u = exp_o(xd / s) = uf xd, a radial scaling (u is not kept) */
    float *z;  /* [N, rank] A u (A xd for LoRA) */
    float *y;  /* [N, out] HypLoRA: B z */
    float *dy, *dz, *du; /* the backward pass's intermediates: [N, out], [N, rank], [N, in] */
} hp_adapter_cache;

int hp_adapter_cache_init(hp_adapter_cache *c, const hp_adapter *a, int capacity, hp_err *err);
void hp_adapter_cache_free(hp_adapter_cache *c);

/* h [N, out] (rows ldh floats apart) += scaling * delta(x) for x [N, in]. keep [N, in] (NULL:
 * no dropout) says which coordinates survive dropout; the survivors are scaled by
 * 1 / (1 - dropout). */
int hp_adapter_forward(const hp_adapter *a, const float *x, int N, const uint8_t *keep, hp_adapter_cache *c,
                       float *h, size_t ldh, hp_err *err);

/* Given dh [N, out] (rows lddh apart; the gradient of the loss at h), accumulates dA, dB (and
 * dk, ds) and, when dx is not NULL, adds the gradient of the input to dx [N, in]. The cache
 * and keep must be those of the forward pass of the same batch. */
int hp_adapter_backward(const hp_adapter *a, const hp_adapter_cache *c, const float *dh, size_t lddh, int N,
                        const uint8_t *keep, float *dx, hp_err *err);

#endif

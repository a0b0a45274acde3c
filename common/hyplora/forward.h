/* The Llama-family forward pass (Llama 2/3, Mistral, Qwen2): token embedding, RMSNorm,
 * rotary embeddings (Hugging Face rotate-half layout, rope_theta, llama3 and linear
 * rope_scaling), grouped-query causal attention with a padding mask, SwiGLU MLP, optional
 * q/k/v biases, tied or untied output head. float32 arithmetic, OpenBLAS sgemm for the
 * matrix products.
 *
 * Laid out as llm.c lays out its GPT-2 so that a backward pass, adapters and weight
 * gradients can be added beside it without a second copy of the model: every parameter
 * lives in ONE float32 block (hp_fwd_model.params) and the per-layer structs are named
 * views into it (a gradient block of the same size gets the same views); the activations
 * of a (batch, seq) shape live in one block too (hp_fwd_acts), kept per layer, because the
 * backward pass needs each of them.
 *
 * This first slice widens every weight to float32 at load time, so the model costs 4 bytes
 * a parameter. Models of 7-8B parameters need the weights kept in their stored dtype and
 * widened per layer or per tile as they are used; the views are the seam for that. */
#ifndef HYPLORA_FORWARD_H
#define HYPLORA_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/config.h"
#include "hyplora/error.h"
#include "hyplora/model.h"

/* One decoder layer's parameters: views into hp_fwd_model.params. Shapes are the Hugging
 * Face ones ([out, in] for projections); biases are NULL when the model has none. */
typedef struct hp_fwd_layer {
    float *attn_norm;         /* [hidden] input_layernorm */
    float *wq, *wk, *wv, *wo; /* [H*hd, hidden], [KV*hd, hidden] x2, [hidden, H*hd] */
    float *bq, *bk, *bv;      /* [H*hd], [KV*hd], [KV*hd] or NULL (Qwen2 has them) */
    float *mlp_norm;          /* [hidden] post_attention_layernorm */
    float *w_gate, *w_up;     /* [intermediate, hidden] */
    float *w_down;            /* [hidden, intermediate] */
} hp_fwd_layer;

typedef struct hp_fwd_model {
    hp_config config;
    float *params;      /* the one block every view below points into */
    size_t n_params;
    float *embedding;   /* [vocab, hidden] */
    hp_fwd_layer *layers;
    float *final_norm;  /* [hidden] */
    float *lm_head;     /* [vocab, hidden]; == embedding when tied */
    bool tied;
} hp_fwd_model;

/* One layer's activations for a batch of B sequences of T positions (rows are b*T + t). */
typedef struct hp_fwd_layer_acts {
    float *x_in;   /* [B*T, hidden] the layer's input (residual stream) */
    float *xn1;    /* [B*T, hidden] after input_layernorm */
    float *q;      /* [B*T, H*hd] after bias and rotation */
    float *k;      /* [B*T, KV*hd] after bias and rotation */
    float *v;      /* [B*T, KV*hd] */
    float *probs;  /* [B, H, T, T] softmax weights, zero where masked */
    float *att;    /* [B*T, H*hd] attention output before o_proj */
    float *x_mid;  /* [B*T, hidden] residual after attention */
    float *xn2;    /* [B*T, hidden] after post_attention_layernorm */
    float *gate;   /* [B*T, intermediate] */
    float *up;     /* [B*T, intermediate] */
    float *act;    /* [B*T, intermediate] silu(gate) * up */
} hp_fwd_layer_acts;

typedef struct hp_fwd_acts {
    int batch, seq;
    float *block;        /* the one allocation every pointer here points into */
    size_t n_floats;
    hp_fwd_layer_acts *layers;
    float *x_out;        /* [B*T, hidden] residual after the last layer */
    float *xn_out;       /* [B*T, hidden] after the final norm */
    float *rope_cos;     /* [T, hd/2] */
    float *rope_sin;     /* [T, hd/2] */
} hp_fwd_acts;

/* Reads every weight of an opened model (safetensors directory or GGUF; F32, F16, BF16)
 * into one float32 block. Fails naming the tensor when one is missing or has the wrong
 * shape, or when the architecture is not one the forward pass runs. */
hp_fwd_model *hp_fwd_load(const hp_model *m, hp_err *err);
void hp_fwd_free(hp_fwd_model *fm);

/* Activations for batches of up to `batch` sequences of up to `seq` positions. */
hp_fwd_acts *hp_fwd_acts_new(const hp_fwd_model *fm, int batch, int seq, hp_err *err);
void hp_fwd_acts_free(hp_fwd_acts *a);

/* Runs B sequences of T positions: tokens[b*T + t] for t < lengths[b] (lengths NULL: all
 * T). Sequences shorter than T are right-padded; padded positions attend to nothing past
 * their sequence, never influence real positions, and come out as zeros. B and T must fit
 * the activations. Writes logits [B, T, vocab]; when hidden is not NULL it also writes the
 * residual stream at each layer's input and after the last layer (before the final norm):
 * [n_layers + 1, B, T, hidden], the same states Hugging Face returns as hidden_states
 * except that its last entry is after the final norm. Fails on a token id out of range. */
int hp_fwd_run(const hp_fwd_model *fm, hp_fwd_acts *acts, const int32_t *tokens,
               const int *lengths, int B, int T, float *logits, float *hidden, hp_err *err);

#endif

/* The Llama-family forward pass (Llama 2/3, Mistral, Qwen2): token embedding, RMSNorm,
 * rotary embeddings (Hugging Face rotate-half layout, rope_theta, llama3 and linear
 * rope_scaling), grouped-query causal attention with a padding mask, SwiGLU MLP, optional
 * q/k/v biases, tied or untied output head; incremental decoding with a KV cache. float32
 * arithmetic, OpenBLAS sgemm for the matrix products.
 *
 * Laid out as llm.c lays out its GPT-2 so that a backward pass, adapters and weight
 * gradients can be added beside it without a second copy of the model: the parameters the
 * model holds in float32 live in ONE block (hp_fwd_model.params) and the per-layer structs
 * are named views into it (a gradient block of the same size gets the same views); the
 * activations of a (batch, seq) shape live in one block too (hp_fwd_acts), kept per layer
 * when the backward pass needs them.
 *
 * Weight matrices are either widened into that block at load (fastest; 4 bytes a weight)
 * or left in their stored dtype inside the file's read-only mapping and widened as they are
 * used (2 bytes a weight for BF16, so a Llama-3-8B runs in 24 GB). */
#ifndef HYPLORA_FORWARD_H
#define HYPLORA_FORWARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/adapter.h"
#include "hyplora/config.h"
#include "hyplora/error.h"
#include "hyplora/model.h"

/* A weight matrix [rows, cols] (Hugging Face [out, in]): float32 inside the parameter
 * block, or the stored tensor inside the model file's mapping (any readable dtype, GGUF
 * row permutation included), widened to float32 as it is used. */
typedef struct hp_fwd_weight {
    const float *f32;        /* the float32 rows, or NULL when stored */
    const hp_tensor *stored; /* the tensor read when f32 is NULL */
    int64_t rows, cols;
} hp_fwd_weight;

/* The linear modules of a layer an adapter can wrap, in Hugging Face PEFT's names. */
typedef enum hp_module {
    HP_MODULE_Q, HP_MODULE_K, HP_MODULE_V, HP_MODULE_O, HP_MODULE_GATE, HP_MODULE_UP, HP_MODULE_DOWN,
    HP_N_MODULES
} hp_module;

/* "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj". */
const char *hp_module_name(hp_module m);

/* The input and output widths of module m's matrix; -1 for an unknown module. */
int hp_module_shape(const hp_config *c, hp_module m, int *in, int *out);

/* One decoder layer's parameters. Vectors are views into hp_fwd_model.params; biases are
 * NULL when the model has none. */
typedef struct hp_fwd_layer {
    float *attn_norm;           /* [hidden] input_layernorm */
    hp_fwd_weight wq, wk, wv;   /* [H*hd, hidden], [KV*hd, hidden] x2 */
    hp_fwd_weight wo;           /* [hidden, H*hd] */
    float *bq, *bk, *bv;        /* [H*hd], [KV*hd], [KV*hd] or NULL (Qwen2 has them) */
    float *mlp_norm;            /* [hidden] post_attention_layernorm */
    hp_fwd_weight w_gate, w_up; /* [intermediate, hidden] */
    hp_fwd_weight w_down;       /* [hidden, intermediate] */
    /* q|k|v and gate|up as one matrix each, when the block holds them one after the other
     * (float32 weights): one product instead of three or two. rows == 0 otherwise. */
    hp_fwd_weight wqkv, w_gate_up;
    /* Adapters on the layer's modules (NULL: none): the output of module m gets the
     * adapter's update added (hyplora/adapter.h). Set before hp_fwd_acts_new, which sizes
     * their caches (and hp_fwd_cache_new, for the decoding step). */
    hp_adapter *adapter[HP_N_MODULES];
} hp_fwd_layer;

typedef enum hp_fwd_weights {
    HP_FWD_WEIGHTS_AUTO,   /* float32 when that fits in half the machine's memory, else stored */
    HP_FWD_WEIGHTS_F32,    /* every matrix widened into the parameter block at load */
    HP_FWD_WEIGHTS_STORED, /* matrices stay in the file's mapping, widened as used */
} hp_fwd_weights;

typedef struct hp_fwd_options {
    hp_fwd_weights weights;
    int threads; /* worker threads (OpenBLAS runs single-threaded inside them); <= 0: all cores */
} hp_fwd_options;

/* A parameter inside the block: its Hugging Face name and where it lies (cols 0: a vector). */
typedef struct hp_fwd_tensor {
    char name[96];
    size_t offset; /* in floats from hp_fwd_model.params */
    int64_t rows, cols;
} hp_fwd_tensor;

typedef struct hp_fwd_model {
    hp_config config;
    const hp_model *source; /* must stay open while the model is used (stored weights) */
    bool stored;            /* the matrices are read from the mapping, not from params */
    int threads;
    float *params;          /* the one block every float32 view points into */
    size_t n_params;
    hp_fwd_tensor *tensors; /* the parameters in the block, in block order */
    size_t n_tensors;
    hp_fwd_weight embedding; /* [vocab, hidden] */
    hp_fwd_layer *layers;
    float *final_norm;       /* [hidden] */
    hp_fwd_weight lm_head;   /* [vocab, hidden]; the embedding when tied */
    bool tied;
} hp_fwd_model;

/* One layer's activations for a batch of B sequences of T positions (rows are b*T + t).
 * Without keep_all (inference) every layer's struct points at the same buffers, probs is
 * NULL and x_in alternates between two residual buffers. q, k and v are the column blocks
 * of one [B*T, H*hd + 2*KV*hd] matrix (row stride hp_fwd_qkv_width), gate and up those of
 * one [B*T, 2*intermediate] matrix. */
typedef struct hp_fwd_layer_acts {
    float *x_in;   /* [B*T, hidden] the layer's input (residual stream) */
    float *xn1;    /* [B*T, hidden] after input_layernorm */
    float *qkv;    /* [B*T, qkv width] q (after bias and rotation) | k (same) | v (after bias) */
    float *q, *k, *v; /* views into qkv */
    float *probs;  /* [B, H, T, T] softmax weights, zero where masked (keep_all only) */
    float *att;    /* [B*T, H*hd] attention output before o_proj */
    float *x_mid;  /* [B*T, hidden] residual after attention */
    float *xn2;    /* [B*T, hidden] after post_attention_layernorm */
    float *gate_up; /* [B*T, 2*intermediate] gate | up */
    float *gate, *up; /* views into gate_up */
    float *act;    /* [B*T, intermediate] silu(gate) * up */
} hp_fwd_layer_acts;

typedef struct hp_fwd_acts {
    int batch, seq, n_layers;
    bool keep_all;
    /* Training: adapters drop inputs out (each module with its own probability), with masks
     * drawn from dropout_seed, the layer and the module; set both before each hp_fwd_run.
     * Without it (inference) nothing is dropped. */
    bool train;
    uint64_t dropout_seed;
    hp_adapter_cache (*adapter_cache)[HP_N_MODULES]; /* [n_layers]: for each adapter */
    uint8_t *(*keep)[HP_N_MODULES];                  /* [n_layers]: its dropout mask, or NULL */
    float *block;        /* the one allocation every pointer here points into */
    size_t n_floats;
    hp_fwd_layer_acts *layers;
    float *x_out;        /* [B*T, hidden] residual after the last layer */
    float *xn_out;       /* [B*T, hidden] after the final norm */
    float *rope_cos;     /* [T, hd/2] */
    float *rope_sin;     /* [T, hd/2] */
    float *scratch;      /* widened weights and per-thread attention rows */
} hp_fwd_acts;

/* Keys and values of every layer for up to `capacity` positions of `batch` sequences,
 * with the buffers one decoding step needs. len[b] positions of sequence b are filled. */
typedef struct hp_fwd_cache {
    int batch, capacity;
    int *len;
    float *k, *v;        /* [layers, batch, capacity, KV*hd] */
    float *block;        /* the one allocation k, v and the step buffers point into */
    float *x, *xn, *qkv, *att, *x_mid, *gate_up, *act, *scores, *rope_cos, *rope_sin;
    float *scratch;
    int n_layers;
    hp_adapter_cache (*adapter_cache)[HP_N_MODULES]; /* [n_layers]: the step's adapters, or NULL */
} hp_fwd_cache;

/* Columns of the fused q|k|v activations: H*hd + 2*KV*hd. */
static inline int hp_fwd_qkv_width(const hp_config *c)
{
    return (c->n_heads + 2 * c->n_kv_heads) * c->head_dim;
}

/* Opens an opened model for the forward pass (safetensors directory or GGUF; F32, F16,
 * BF16, GGUF Q8_0/Q4_0). Fails naming the tensor when one is missing or has the wrong
 * shape, or when the architecture is not one the forward pass runs. opt may be NULL
 * (AUTO weights, all cores). */
hp_fwd_model *hp_fwd_load(const hp_model *m, const hp_fwd_options *opt, hp_err *err);
void hp_fwd_free(hp_fwd_model *fm);

/* A model of configuration c (a supported architecture, checked as config.json is) with
 * every parameter float32 and zero in the block, for training from scratch (source NULL):
 * the caller initialises fm->params through fm->tensors. */
hp_fwd_model *hp_fwd_new(const hp_config *c, const hp_fwd_options *opt, hp_err *err);

/* Activations for batches of up to `batch` sequences of up to `seq` positions. keep_all
 * keeps every layer's activations and the attention weights (for a backward pass); without
 * it the layers share one set of buffers. */
hp_fwd_acts *hp_fwd_acts_new(const hp_fwd_model *fm, int batch, int seq, bool keep_all, hp_err *err);
void hp_fwd_acts_free(hp_fwd_acts *a);

/* Runs B sequences of T positions: tokens[b*T + t] for t < lengths[b] (lengths NULL: all
 * T). Sequences shorter than T are right-padded; padded positions attend to nothing past
 * their sequence, never influence real positions, and come out as zeros. B and T must fit
 * the activations. Writes logits [B, T, vocab] unless logits is NULL; when hidden is not
 * NULL also the residual stream at each layer's input and after the last layer (before the
 * final norm): [n_layers + 1, B, T, hidden], the states Hugging Face returns as
 * hidden_states except that its last entry is after the final norm. When cache is not NULL
 * (batch >= B, capacity >= T) it is reset and filled with the keys and values of the real
 * positions, ready for hp_fwd_decode. Fails on a token id out of range. */
int hp_fwd_run(const hp_fwd_model *fm, hp_fwd_acts *acts, hp_fwd_cache *cache, const int32_t *tokens,
               const int *lengths, int B, int T, float *logits, float *hidden, hp_err *err);

/* The logits [B, vocab] at the last real position of each sequence of the last hp_fwd_run. */
void hp_fwd_last_logits(const hp_fwd_model *fm, const hp_fwd_acts *acts, const int *lengths, int B,
                        int T, float *logits);

hp_fwd_cache *hp_fwd_cache_new(const hp_fwd_model *fm, int batch, int capacity, hp_err *err);
void hp_fwd_cache_free(hp_fwd_cache *c);

/* Puts sequence src_b of cache src (its len positions) into slot dst_b of dst, for every
 * layer: prompts run as a batch of their own into a cache are moved into the slots of the
 * decoding batch, and beams are reordered. The caches must be of the same model and dst's
 * capacity must hold the sequence; slots of one cache must differ. */
void hp_fwd_cache_copy(const hp_fwd_model *fm, hp_fwd_cache *dst, int dst_b, const hp_fwd_cache *src, int src_b);

/* One decoding step: token[b] goes at position cache->len[b] of sequence b (b < B), and the
 * logits [B, vocab] of the next token come out. Fails when a sequence's cache is full (the
 * message names the capacity) or a token is out of range. */
int hp_fwd_decode(const hp_fwd_model *fm, hp_fwd_cache *cache, const int32_t *tokens, int B,
                  float *logits, hp_err *err);

/* Negative log-likelihood (natural log, in double) of target under one logits row. */
double hp_fwd_nll(const float *logits, int vocab, int32_t target);

/* The greedy choice: the id of the largest of one logits row, the lowest id on a tie. */
int32_t hp_fwd_argmax(const float *logits, int vocab);

#endif

/* The model's architecture: Hugging Face config.json for Llama, Mistral and Qwen2 causal
 * LMs (the architectures the forward pass runs), or the same fields from GGUF metadata.
 * Any other architecture still loads with what its config says, and `forward_supported`
 * is false so callers can say clearly that only the embedding analyses apply. */
#ifndef HYPLORA_CONFIG_H
#define HYPLORA_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

#include "hyplora/error.h"

typedef enum hp_rope_scaling_type {
    HP_ROPE_NONE = 0,
    HP_ROPE_LLAMA3, /* Llama 3.1+: wavelength-dependent interpolation */
    HP_ROPE_LINEAR,
} hp_rope_scaling_type;

typedef struct hp_config {
    char architecture[64]; /* "LlamaForCausalLM", ..., or "" when unknown */
    char model_type[32];   /* "llama", "mistral", "qwen2", ... */
    bool forward_supported;
    int hidden_size;
    int intermediate_size;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int vocab_size;
    int max_position_embeddings;
    int sliding_window;  /* Mistral (and Qwen2 with use_sliding_window): keys further back
                          * are not attended to; 0 when the model has none */
    double rms_norm_eps;
    double rope_theta;
    struct {
        hp_rope_scaling_type type;
        double factor;
        double low_freq_factor;
        double high_freq_factor;
        int original_max_position_embeddings;
    } rope_scaling;
    bool tie_word_embeddings;
    bool attention_bias; /* q/k/v biases (Qwen2 always has them) */
    int bos_token_id;    /* -1 when absent */
    int eos_token_id;
    char torch_dtype[16];
} hp_config;

/* Parses config.json text; path is used in messages. For the supported architectures
 * every field the forward pass needs must be present and sane. */
int hp_config_parse(const char *json, size_t len, const char *path, hp_config *c, hp_err *err);

/* Checks the fields of a supported architecture for consistency (heads divide, and so on);
 * shared by the config.json and GGUF paths. */
int hp_config_validate(const hp_config *c, const char *path, hp_err *err);

#endif

/* All the adapters of a training run (docs/training.md): the plan (for each adapted module
 * its method, form, rank, alpha, initial curvature, dropout), the one block of their
 * values and the one block of their gradients with the same layout (A, B, and for HypLoRA
 * k and s, adapter after adapter), seeded initialisation, attaching them to a loaded model,
 * and writing them as a PEFT adapter directory. */
#ifndef HYPLORA_ADAPTER_SET_H
#define HYPLORA_ADAPTER_SET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/adapter.h"
#include "hyplora/error.h"
#include "hyplora/forward.h"

typedef struct hp_adapter_spec {
    int layer;
    hp_module module;
    hp_adapter_method method;
    hp_hyp_form form;        /* HypLoRA */
    int rank;
    double alpha;            /* scaling alpha / rank, or alpha / sqrt(rank) with rslora */
    bool rslora;
    double initial_K;        /* HypLoRA: the curvature K at the start (raw k = softplus^-1(K - 1e-6)) */
    double dropout;
} hp_adapter_spec;

typedef struct hp_adapter_set {
    size_t n;
    hp_adapter_spec *spec;   /* [n] */
    hp_adapter *a;           /* [n] views into params and grads */
    size_t *offset;          /* [n] where adapter i's values start in the blocks */
    float *params, *grads;   /* the blocks */
    size_t n_params;
} hp_adapter_set;

/* The module's name in the model: "model.layers.N.self_attn.q_proj" (or mlp.up_proj, ...). */
void hp_adapter_spec_name(const hp_adapter_spec *p, char *buf, size_t n);

/* The raw k of an initial curvature K: the inverse of K = softplus(k) + 1e-6. */
double hp_adapter_raw_k(double K);

/* Lays out and initialises the adapters of spec[0 .. n) for a model of config c: A
 * kaiming-uniform as PEFT (uniform in +-1/sqrt(in)) from the seed, B zero, s = sqrt(in), k
 * from initial_K; gradients zero. Fails on a layer or module out of range, a module given
 * twice, or a rank outside 1 .. min(in, out). */
int hp_adapter_set_init(hp_adapter_set *s, const hp_config *c, const hp_adapter_spec *spec, size_t n, uint64_t seed,
                        hp_err *err);
void hp_adapter_set_free(hp_adapter_set *s);

/* Puts the adapters on the model's layers (hp_fwd_layer.adapter), or takes them off. */
void hp_adapter_set_attach(const hp_adapter_set *s, hp_fwd_model *fm);
void hp_adapter_set_detach(const hp_adapter_set *s, hp_fwd_model *fm);

/* The lowest layer with an adapter (n_layers when there is none). */
int hp_adapter_set_lowest(const hp_adapter_set *s, int n_layers);

/* Writes dir/adapter_model.safetensors (PEFT's names: base_model.model.model.layers.N.
 * self_attn.q_proj.lora_A.weight [r, in], ...lora_B.weight [out, r], and for HypLoRA
 * ...lora_k and ...lora_norm_scale, 0-dimensional F32) and dir/adapter_config.json (PEFT's
 * fields, and for HypLoRA a "hyplora" object: form, modules, initial curvatures, alpha,
 * k_grad_clip, plan_source). Atomic per file; creates dir. */
int hp_adapter_set_save(const hp_adapter_set *s, const char *dir, const char *base_model, double k_grad_clip,
                        const char *plan_source, hp_err *err);

/* Reads a PEFT adapter directory (adapter_model.safetensors, adapter_config.json) made for
 * a model of config c, by hp_adapter_set_save or by PEFT for plain LoRA: the tensors give
 * the modules and ranks (lora_k and lora_norm_scale mark HypLoRA ones), the config the
 * scaling (lora_alpha; alpha_hyperbolic and form of its hyplora object; use_rslora). Fails
 * naming the file and tensor on anything else, or on shapes that are not this model's. */
int hp_adapter_set_load(hp_adapter_set *s, const hp_config *c, const char *dir, hp_err *err);

#endif

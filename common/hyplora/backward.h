/* The backward pass of the Llama-family decoder (hyplora/forward.h), one layer at a time,
 * as llm.c pairs each forward function with its gradient. It reads the activations a
 * forward pass kept (hp_fwd_acts with keep_all) and float32 weights, takes the gradient of
 * the loss at a layer's output and gives the gradient at its input; a weight's gradient is
 * accumulated only when the caller gives a place for it, so frozen weights cost nothing
 * (fine-tuning) and every weight can be trained (pretraining) with the same code. */
#ifndef HYPLORA_BACKWARD_H
#define HYPLORA_BACKWARD_H

#include "hyplora/error.h"
#include "hyplora/forward.h"

/* Where one layer's weight gradients accumulate (+=), with the shapes of hp_fwd_layer's
 * weights; NULL: that weight is frozen. */
typedef struct hp_bwd_layer_grads {
    float *attn_norm, *mlp_norm;        /* [hidden] */
    float *wq, *wk, *wv, *wo;           /* [H*hd, hidden], [KV*hd, hidden] x2, [hidden, H*hd] */
    float *bq, *bk, *bv;                /* the biases, when the model has them */
    float *w_gate, *w_up, *w_down;      /* [intermediate, hidden] x2, [hidden, intermediate] */
} hp_bwd_layer_grads;

/* The buffers of the backward pass for batches of up to `batch` x `seq` positions. */
typedef struct hp_bwd_work hp_bwd_work;
hp_bwd_work *hp_bwd_work_new(const hp_fwd_model *fm, int batch, int seq, hp_err *err);
void hp_bwd_work_free(hp_bwd_work *w);

/* Given dx_out [B*T, hidden], the gradient at the output of layer l of the last hp_fwd_run
 * on acts (kept with keep_all; B, T and lengths as given to it), writes the gradient at
 * the layer's input to dx_in (which may be dx_out itself) and accumulates the weight
 * gradients g asks for (g may be NULL). Rows of padded positions must be zero in dx_out and
 * stay zero. Fails unless the weights are float32 (HP_FWD_WEIGHTS_F32) and acts kept all. */
int hp_bwd_layer(const hp_fwd_model *fm, int l, const hp_fwd_acts *acts, const int *lengths, int B, int T,
                 const float *dx_out, float *dx_in, const hp_bwd_layer_grads *g, hp_bwd_work *w, hp_err *err);

/* Where the model's other weight gradients accumulate; NULL members are frozen. For a tied
 * head the head's gradient goes to `embedding` (it is the same tensor). */
typedef struct hp_bwd_model_grads {
    float *embedding;            /* [vocab, hidden] */
    float *final_norm;           /* [hidden] */
    float *lm_head;              /* [vocab, hidden], untied heads only */
    hp_bwd_layer_grads *layers;  /* [n_layers], or NULL: no layer weight gets a gradient */
} hp_bwd_model_grads;

/* Points g (and layers [n_layers], which g->layers becomes) into grads, a block of
 * fm->n_params floats laid out as fm->params: every parameter gets a gradient. The model's
 * weights must all be in its block (float32 weights, HP_FWD_WEIGHTS_F32 or hp_fwd_new). */
void hp_bwd_grads_views(const hp_fwd_model *fm, float *grads, hp_bwd_model_grads *g, hp_bwd_layer_grads *layers);

/* The loss of the last hp_fwd_run on acts (B, T, lengths as given to it; tokens its input)
 * and its backward pass. The loss is the mean over the positions with a target of
 * -log softmax(logits)[target] (natural log): targets[b*T + t] is the id to predict at
 * position t, or -1 for none (padding, masked prompt tokens). The gradient flows from the
 * head down through layers n_layers - 1 .. lowest (0: the embedding too); g says which
 * weights accumulate gradients (NULL: none). *loss gets the mean, *n_targets the count.
 * The logits are made a few rows at a time, never [B*T, vocab] at once. */
int hp_bwd_loss(const hp_fwd_model *fm, const hp_fwd_acts *acts, const int32_t *tokens, const int32_t *targets,
                const int *lengths, int B, int T, int lowest, const hp_bwd_model_grads *g, hp_bwd_work *w,
                double *loss, size_t *n_targets, hp_err *err);

#endif

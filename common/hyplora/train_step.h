/* One optimiser step of adapter training (docs/training.md): the forward and backward pass
 * of each micro-batch with the adapters' gradients accumulated, their mean, the released
 * form's clip on dk, clipping by the global norm, and the update. */
#ifndef HYPLORA_TRAIN_STEP_H
#define HYPLORA_TRAIN_STEP_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/adapter_set.h"
#include "hyplora/backward.h"
#include "hyplora/optim.h"

/* A micro-batch: B sequences of T positions, tokens and targets [B*T] (targets -1: no loss
 * there), lengths [B] (NULL: all T). */
typedef struct hp_train_batch {
    const int32_t *tokens, *targets;
    const int *lengths;
    int B, T;
} hp_train_batch;

typedef struct hp_train_options {
    double lr;           /* this step's learning rate */
    double weight_decay; /* on A and B (not on k and s) */
    double clip;         /* the global gradient norm's ceiling; <= 0: none */
    double k_grad_clip;  /* > 0: each dk clipped to +-this first (the authors' 0.01) */
} hp_train_options;

typedef struct hp_train_stats {
    double loss;        /* the mean over the micro-batches of their mean token loss */
    double grad_norm;   /* the global norm before clipping */
    size_t n_targets;   /* positions with a target in the step */
} hp_train_stats;

/* Runs micro[0 .. n_micro) through the model (fm, with set attached; acts kept with
 * keep_all and sized for the largest micro-batch; w likewise), averages the adapters'
 * gradients over the micro-batches (each micro-batch's loss is the mean over its own
 * targets, as Hugging Face's trainer averages with gradient accumulation), clips and takes
 * one optimiser step on the adapters. Dropout masks come from seed and the micro-batch. */
int hp_train_step(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, hp_adapter_set *set, hp_optim *opt,
                  const hp_train_batch *micro, int n_micro, const hp_train_options *o, uint64_t seed,
                  hp_train_stats *st, hp_err *err);

/* The same step with every weight of the model trained (pretraining): fm's weights all in
 * its block (hp_fwd_new, or loaded with HP_FWD_WEIGHTS_F32), no adapters attached; grads a
 * block of fm->n_params floats; opt sized fm->n_params. Weight decay applies to the
 * matrices (embeddings included), not to norms and biases; k_grad_clip is unused. */
int hp_pretrain_step(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, float *grads, hp_optim *opt,
                     const hp_train_batch *micro, int n_micro, const hp_train_options *o, hp_train_stats *st,
                     hp_err *err);

#endif

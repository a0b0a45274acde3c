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
    double loss;        /* the mean over the micro-batches of their mean token loss (the
                           accumulate calls leave the sum, the apply calls the mean) */
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

/* hp_train_step in two halves, for a data-parallel run that sums set->grads, st->loss and
 * st->n_targets over its processes between them. accumulate runs this process's
 * micro-batches, summing their gradients into set->grads and their mean losses into
 * st->loss; index[i] is micro[i]'s place among the step's micro-batches of every process,
 * which picks its dropout masks (NULL: i). apply takes the mean over the step's n_micro
 * micro-batches, clips and updates. */
int hp_train_accumulate(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, hp_adapter_set *set,
                        const hp_train_batch *micro, const int *index, int n_micro, uint64_t seed, hp_train_stats *st,
                        hp_err *err);
int hp_train_apply(hp_adapter_set *set, hp_optim *opt, int n_micro, const hp_train_options *o, hp_train_stats *st,
                   hp_err *err);

/* The same step with every weight of the model trained (pretraining): fm's weights all in
 * its block (hp_fwd_new, or loaded with HP_FWD_WEIGHTS_F32), no adapters attached; grads a
 * block of fm->n_params floats; opt sized fm->n_params. Weight decay applies to the
 * matrices (embeddings included), not to norms and biases; k_grad_clip is unused. */
int hp_pretrain_step(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, float *grads, hp_optim *opt,
                     const hp_train_batch *micro, int n_micro, const hp_train_options *o, hp_train_stats *st,
                     hp_err *err);

/* hp_pretrain_step in two halves, as hp_train_accumulate and hp_train_apply. */
int hp_pretrain_accumulate(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, float *grads,
                           const hp_train_batch *micro, const int *index, int n_micro, hp_train_stats *st, hp_err *err);
int hp_pretrain_apply(hp_fwd_model *fm, float *grads, hp_optim *opt, int n_micro, const hp_train_options *o,
                      hp_train_stats *st, hp_err *err);

#endif

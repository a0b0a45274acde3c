/* Optimisers for the trainer (docs/training.md): AdamW with decoupled weight decay and SGD
 * with momentum, as PyTorch defines them; the learning-rate schedules of Hugging Face's
 * trainer (linear warmup, then linear or cosine decay to 0); clipping by the global norm of
 * the gradients. The state (Adam's moments, SGD's momentum) is one block parallel to the
 * parameter block, updated one tensor (range) at a time, so each tensor can have its own
 * weight decay. */
#ifndef HYPLORA_OPTIM_H
#define HYPLORA_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"

typedef enum hp_optimizer { HP_OPT_ADAMW, HP_OPT_SGD } hp_optimizer;

typedef struct hp_optim_options {
    hp_optimizer kind;
    double beta1, beta2, eps; /* AdamW: 0.9, 0.999, 1e-8 */
    double momentum;          /* SGD: 0 (plain) */
} hp_optim_options;

void hp_optim_options_init(hp_optim_options *o, hp_optimizer kind);

typedef struct hp_optim {
    hp_optim_options o;
    size_t n;
    float *m, *v;  /* AdamW's moments; SGD's momentum buffer in m (v unused) */
    int64_t step;  /* steps taken (the first is 1 once hp_optim_begin_step ran) */
} hp_optim;

int hp_optim_init(hp_optim *s, size_t n, const hp_optim_options *o, hp_err *err);
void hp_optim_free(hp_optim *s);

/* Starts a step: advances the step count used for Adam's bias correction. */
void hp_optim_begin_step(hp_optim *s);

/* Updates params[0 .. n) with their gradients, whose state is at [offset, offset + n) of the
 * optimiser's block, with learning rate lr and weight decay wd (AdamW: p -= lr wd p, then
 * the Adam step; SGD: g + wd p, as PyTorch's SGD). */
void hp_optim_update(hp_optim *s, double lr, double wd, float *params, const float *grads, size_t offset, size_t n);

typedef enum hp_schedule { HP_SCHEDULE_LINEAR, HP_SCHEDULE_COSINE, HP_SCHEDULE_CONSTANT } hp_schedule;

/* The learning rate of optimiser step `step` (0-based) of `total`: peak * step / warmup
 * during the warmup, then down to 0 at `total` linearly or along half a cosine (Hugging
 * Face's get_linear/cosine_schedule_with_warmup), or peak throughout (constant, after the
 * warmup). */
double hp_lr_at(hp_schedule kind, int64_t step, int64_t total, int64_t warmup, double peak);

/* The global L2 norm of the gradients grads[0 .. n) (in double). */
double hp_grad_norm(const float *grads, size_t n);

/* Clips by the global norm as torch.nn.utils.clip_grad_norm_: with norm the global norm,
 * multiplies grads by max_norm / (norm + 1e-6) when that is below 1; returns the factor. */
double hp_grad_clip(float *grads, size_t n, double norm, double max_norm);

#endif

/* One optimiser step of adapter training or pretraining (hyplora/train_step.h): the
 * micro-batches' gradients summed (hp_*_accumulate), then their mean, the clips and the
 * update (hp_*_apply). A data-parallel run sums the gradients over its processes between
 * the two; hp_*_step is both halves for one process. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/train_step.h"

/* The sums of the micro-batches' gradients and losses become their means. */
static int mean_of(float *grads, size_t n, int n_micro, hp_train_stats *st, hp_err *err)
{
    if (n_micro < 1)
        return hp_fail(err, "a training step needs at least one micro-batch");
    float scale = 1.0f / (float)n_micro;
    for (size_t i = 0; i < n; i++)
        grads[i] *= scale;
    st->loss /= n_micro;
    return 0;
}

/* The global norm of the gradients (st->grad_norm), and the clip. */
static int norm_and_clip(float *grads, size_t n, const hp_train_options *o, hp_train_stats *st, hp_err *err)
{
    st->grad_norm = hp_grad_norm(grads, n);
    if (!isfinite(st->grad_norm) || !isfinite(st->loss))
        return hp_fail(err, "the loss (%g) or the gradient norm (%g) is not finite", st->loss, st->grad_norm);
    if (o->clip > 0)
        hp_grad_clip(grads, n, st->grad_norm, o->clip);
    return 0;
}

static int micro_index(const int *index, int i)
{
    return index ? index[i] : i;
}

int hp_train_accumulate(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, hp_adapter_set *set,
                        const hp_train_batch *micro, const int *index, int n_micro, uint64_t seed, hp_train_stats *st,
                        hp_err *err)
{
    memset(st, 0, sizeof *st);
    memset(set->grads, 0, set->n_params * sizeof *set->grads);
    int lowest = hp_adapter_set_lowest(set, fm->config.n_layers);
    acts->train = true;
    for (int i = 0; i < n_micro; i++) {
        const hp_train_batch *b = &micro[i];
        acts->dropout_seed = seed * 0x9e3779b97f4a7c15ull + (uint64_t)micro_index(index, i);
        double loss;
        size_t count;
        if (hp_fwd_run(fm, acts, NULL, b->tokens, b->lengths, b->B, b->T, NULL, NULL, err) ||
            hp_bwd_loss(fm, acts, b->tokens, b->targets, b->lengths, b->B, b->T, lowest, NULL, w, &loss, &count, err)) {
            acts->train = false;
            return hp_failctx(err, "micro-batch %d", micro_index(index, i));
        }
        st->loss += loss;
        st->n_targets += count;
    }
    acts->train = false;
    return 0;
}

int hp_train_apply(hp_adapter_set *set, hp_optim *opt, int n_micro, const hp_train_options *o, hp_train_stats *st,
                   hp_err *err)
{
    if (mean_of(set->grads, set->n_params, n_micro, st, err))
        return -1;
    /* the released form clips each dk of the mean gradient, before the global norm */
    for (size_t i = 0; o->k_grad_clip > 0 && i < set->n; i++) {
        float *dk = set->a[i].dk;
        if (dk)
            *dk = (float)fmax(-o->k_grad_clip, fmin(o->k_grad_clip, *dk));
    }
    if (norm_and_clip(set->grads, set->n_params, o, st, err))
        return -1;
    hp_optim_begin_step(opt);
    for (size_t i = 0; i < set->n; i++) {
        const hp_adapter *a = &set->a[i];
        size_t off = set->offset[i], nab = (size_t)a->rank * (size_t)(a->in + a->out);
        hp_optim_update(opt, o->lr, o->weight_decay, set->params + off, set->grads + off, off, nab);
        if (a->k)
            hp_optim_update(opt, o->lr, 0, set->params + off + nab, set->grads + off + nab, off + nab, 2);
    }
    return 0;
}

int hp_train_step(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, hp_adapter_set *set, hp_optim *opt,
                  const hp_train_batch *micro, int n_micro, const hp_train_options *o, uint64_t seed,
                  hp_train_stats *st, hp_err *err)
{
    if (n_micro < 1)
        return hp_fail(err, "a training step needs at least one micro-batch");
    return hp_train_accumulate(fm, acts, w, set, micro, NULL, n_micro, seed, st, err) ||
                   hp_train_apply(set, opt, n_micro, o, st, err)
               ? -1 : 0;
}

int hp_pretrain_accumulate(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, float *grads,
                           const hp_train_batch *micro, const int *index, int n_micro, hp_train_stats *st, hp_err *err)
{
    memset(st, 0, sizeof *st);
    hp_bwd_layer_grads *lg = hp_malloc((size_t)fm->config.n_layers * sizeof *lg, "the gradient views", err);
    if (!lg)
        return -1;
    hp_bwd_model_grads g;
    hp_bwd_grads_views(fm, grads, &g, lg);
    memset(grads, 0, fm->n_params * sizeof *grads);
    int rc = 0;
    for (int i = 0; i < n_micro; i++) {
        const hp_train_batch *b = &micro[i];
        double loss;
        size_t count;
        if (hp_fwd_run(fm, acts, NULL, b->tokens, b->lengths, b->B, b->T, NULL, NULL, err) ||
            hp_bwd_loss(fm, acts, b->tokens, b->targets, b->lengths, b->B, b->T, 0, &g, w, &loss, &count, err)) {
            rc = hp_failctx(err, "micro-batch %d", micro_index(index, i));
            break;
        }
        st->loss += loss;
        st->n_targets += count;
    }
    free(lg);
    return rc;
}

int hp_pretrain_apply(hp_fwd_model *fm, float *grads, hp_optim *opt, int n_micro, const hp_train_options *o,
                      hp_train_stats *st, hp_err *err)
{
    if (mean_of(grads, fm->n_params, n_micro, st, err) || norm_and_clip(grads, fm->n_params, o, st, err))
        return -1;
    hp_optim_begin_step(opt);
    for (size_t i = 0; i < fm->n_tensors; i++) {
        const hp_fwd_tensor *t = &fm->tensors[i];
        size_t n = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
        hp_optim_update(opt, o->lr, t->cols ? o->weight_decay : 0, fm->params + t->offset, grads + t->offset,
                        t->offset, n);
    }
    return 0;
}

int hp_pretrain_step(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, float *grads, hp_optim *opt,
                     const hp_train_batch *micro, int n_micro, const hp_train_options *o, hp_train_stats *st,
                     hp_err *err)
{
    if (n_micro < 1)
        return hp_fail(err, "a training step needs at least one micro-batch");
    return hp_pretrain_accumulate(fm, acts, w, grads, micro, NULL, n_micro, st, err) ||
                   hp_pretrain_apply(fm, grads, opt, n_micro, o, st, err)
               ? -1 : 0;
}

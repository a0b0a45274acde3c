/* One optimiser step of adapter training (hyplora/train_step.h). */
#include <math.h>
#include <string.h>

#include "hyplora/train_step.h"

int hp_train_step(hp_fwd_model *fm, hp_fwd_acts *acts, hp_bwd_work *w, hp_adapter_set *set, hp_optim *opt,
                  const hp_train_batch *micro, int n_micro, const hp_train_options *o, uint64_t seed,
                  hp_train_stats *st, hp_err *err)
{
    memset(st, 0, sizeof *st);
    if (n_micro < 1)
        return hp_fail(err, "a training step needs at least one micro-batch");
    memset(set->grads, 0, set->n_params * sizeof *set->grads);
    int lowest = hp_adapter_set_lowest(set, fm->config.n_layers);
    acts->train = true;
    for (int i = 0; i < n_micro; i++) {
        const hp_train_batch *b = &micro[i];
        acts->dropout_seed = seed * 0x9e3779b97f4a7c15ull + (uint64_t)i;
        double loss;
        size_t count;
        if (hp_fwd_run(fm, acts, NULL, b->tokens, b->lengths, b->B, b->T, NULL, NULL, err) ||
            hp_bwd_loss(fm, acts, b->tokens, b->targets, b->lengths, b->B, b->T, lowest, NULL, w, &loss, &count, err)) {
            acts->train = false;
            return hp_failctx(err, "micro-batch %d", i);
        }
        st->loss += loss / n_micro;
        st->n_targets += count;
    }
    acts->train = false;
    float scale = 1.0f / (float)n_micro;
    for (size_t i = 0; i < set->n_params; i++)
        set->grads[i] *= scale;
    if (o->k_grad_clip > 0)
        for (size_t i = 0; i < set->n; i++) {
            float *dk = set->a[i].dk;
            if (dk)
                *dk = (float)fmax(-o->k_grad_clip, fmin(o->k_grad_clip, *dk));
        }
    st->grad_norm = hp_grad_norm(set->grads, set->n_params);
    if (!isfinite(st->grad_norm) || !isfinite(st->loss))
        return hp_fail(err, "the loss (%g) or the gradient norm (%g) is not finite", st->loss, st->grad_norm);
    if (o->clip > 0)
        hp_grad_clip(set->grads, set->n_params, st->grad_norm, o->clip);
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

/* Optimisers, schedules and clipping (hyplora/optim.h), with PyTorch's definitions. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/optim.h"

void hp_optim_options_init(hp_optim_options *o, hp_optimizer kind)
{
    *o = (hp_optim_options){.kind = kind, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .momentum = 0};
}

int hp_optim_init(hp_optim *s, size_t n, const hp_optim_options *o, hp_err *err)
{
    memset(s, 0, sizeof *s);
    s->o = *o;
    s->n = n;
    bool adam = o->kind == HP_OPT_ADAMW;
    if (!(s->m = hp_calloc(n ? n : 1, sizeof *s->m, "the optimiser state", err)) ||
        (adam && !(s->v = hp_calloc(n ? n : 1, sizeof *s->v, "the optimiser state", err)))) {
        hp_optim_free(s);
        return -1;
    }
    return 0;
}

void hp_optim_free(hp_optim *s)
{
    free(s->m);
    free(s->v);
    memset(s, 0, sizeof *s);
}

void hp_optim_begin_step(hp_optim *s)
{
    s->step++;
}

void hp_optim_update(hp_optim *s, double lr, double wd, float *params, const float *grads, size_t offset, size_t n)
{
    float *m = s->m + offset;
    if (s->o.kind == HP_OPT_SGD) {
        /* g' = g + wd p; buf = momentum buf + g' (PyTorch's first buf = g' is the same, the
         * buffer starting at 0); p -= lr buf */
        for (size_t i = 0; i < n; i++) {
            double g = (double)grads[i] + wd * params[i];
            if (s->o.momentum > 0) {
                m[i] = (float)(s->o.momentum * m[i] + g);
                g = m[i];
            }
            params[i] = (float)(params[i] - lr * g);
        }
        return;
    }
    /* AdamW: p *= 1 - lr wd; m, v moving averages; p -= lr/(1 - b1^t) m / (sqrt(v/(1 - b2^t)) + eps) */
    float *v = s->v + offset;
    double b1 = s->o.beta1, b2 = s->o.beta2, t = (double)s->step;
    double c1 = 1 - pow(b1, t), c2 = sqrt(1 - pow(b2, t)), step = lr / c1;
    for (size_t i = 0; i < n; i++) {
        /* the decay rounded to float32 on its own, as PyTorch applies it (param.mul_) */
        double g = grads[i], p = (float)((double)params[i] * (1 - lr * wd));
        m[i] = (float)(b1 * m[i] + (1 - b1) * g);
        v[i] = (float)(b2 * v[i] + (1 - b2) * g * g);
        params[i] = (float)(p - step * m[i] / (sqrt((double)v[i]) / c2 + s->o.eps));
    }
}

double hp_lr_at(hp_schedule kind, int64_t step, int64_t total, int64_t warmup, double peak)
{
    if (step < warmup)
        return peak * (double)step / (double)warmup;
    if (kind == HP_SCHEDULE_CONSTANT)
        return peak;
    double span = (double)(total - warmup), done = (double)(step - warmup);
    if (span <= 0 || done >= span)
        return 0;
    if (kind == HP_SCHEDULE_LINEAR)
        return peak * (span - done) / span;
    return peak * 0.5 * (1 + cos(3.14159265358979323846 * done / span));
}

double hp_grad_norm(const float *grads, size_t n)
{
    double s = 0;
    for (size_t i = 0; i < n; i++)
        s += (double)grads[i] * grads[i];
    return sqrt(s);
}

double hp_grad_clip(float *grads, size_t n, double norm, double max_norm)
{
    double f = max_norm / (norm + 1e-6);
    if (f >= 1)
        return 1;
    for (size_t i = 0; i < n; i++)
        grads[i] = (float)(grads[i] * f);
    return f;
}

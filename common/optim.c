/* Optimisers, schedules and clipping (hyplora/optim.h), with PyTorch's definitions. */
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cblas.h>

#include "hyplora/optim.h"
#include "parallel.h"

/* The element-wise passes over all parameters (the update, the norm, the clip) run in
 * chunks of CHUNK elements on the library's threads (as many as OpenBLAS is given): a
 * whole model's update is a second of one core otherwise. Each element's arithmetic is the
 * same whatever the thread count, and the norm sums fixed chunks in order, so the results
 * do not depend on it. */
#define CHUNK ((size_t)1 << 16)

typedef void (*range_fn)(void *ctx, size_t begin, size_t end);

typedef struct range_job {
    range_fn fn;
    void *ctx;
} range_job;

static int range_chunk(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)worker, (void)err;
    range_job *j = ctx;
    j->fn(j->ctx, begin, end);
    return 0;
}

static void for_ranges(size_t n, range_fn fn, void *ctx)
{
    if (n <= CHUNK) {
        fn(ctx, 0, n);
        return;
    }
    range_job j = {fn, ctx};
    hp_parallel_for(hp_threads_resolve(openblas_get_num_threads(), (n + CHUNK - 1) / CHUNK), n, CHUNK, range_chunk,
                    &j, NULL);
}

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

typedef struct update_job {
    const hp_optim *s;
    double lr, wd;
    float *params, *m, *v;
    const float *grads;
} update_job;

static void sgd_range(void *ctx, size_t begin, size_t end)
{
    const update_job *j = ctx;
    double momentum = j->s->o.momentum;
    /* g' = g + wd p; buf = momentum buf + g' (PyTorch's first buf = g' is the same, the
     * buffer starting at 0); p -= lr buf */
    for (size_t i = begin; i < end; i++) {
        double g = (double)j->grads[i] + j->wd * j->params[i];
        if (momentum > 0) {
            j->m[i] = (float)(momentum * j->m[i] + g);
            g = j->m[i];
        }
        j->params[i] = (float)(j->params[i] - j->lr * g);
    }
}

static void adamw_range(void *ctx, size_t begin, size_t end)
{
    const update_job *j = ctx;
    /* p *= 1 - lr wd; m, v moving averages; p -= lr/(1 - b1^t) m / (sqrt(v/(1 - b2^t)) + eps) */
    double b1 = j->s->o.beta1, b2 = j->s->o.beta2, t = (double)j->s->step, eps = j->s->o.eps;
    double c1 = 1 - pow(b1, t), c2 = sqrt(1 - pow(b2, t)), step = j->lr / c1, decay = 1 - j->lr * j->wd;
    float *m = j->m, *v = j->v, *params = j->params;
    for (size_t i = begin; i < end; i++) {
        /* the decay rounded to float32 on its own, as PyTorch applies it (param.mul_) */
        double g = j->grads[i], p = (float)((double)params[i] * decay);
        m[i] = (float)(b1 * m[i] + (1 - b1) * g);
        v[i] = (float)(b2 * v[i] + (1 - b2) * g * g);
        params[i] = (float)(p - step * m[i] / (sqrt((double)v[i]) / c2 + eps));
    }
}

void hp_optim_update(hp_optim *s, double lr, double wd, float *params, const float *grads, size_t offset, size_t n)
{
    update_job j = {s, lr, wd, params, s->m + offset, s->v ? s->v + offset : NULL, grads};
    for_ranges(n, s->o.kind == HP_OPT_SGD ? sgd_range : adamw_range, &j);
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

static double chunk_sum(const float *g, size_t begin, size_t end)
{
    double sum = 0;
    for (size_t i = begin; i < end; i++)
        sum += (double)g[i] * g[i];
    return sum;
}

typedef struct norm_job {
    const float *grads;
    double *partial; /* one sum per chunk */
} norm_job;

static void norm_range(void *ctx, size_t begin, size_t end)
{
    const norm_job *j = ctx;
    j->partial[begin / CHUNK] = chunk_sum(j->grads, begin, end); /* for_ranges gives whole chunks */
}

double hp_grad_norm(const float *grads, size_t n)
{
    size_t chunks = (n + CHUNK - 1) / CHUNK;
    double s = 0, *partial = chunks > 1 ? malloc(chunks * sizeof *partial) : NULL;
    if (!partial) { /* one chunk, or no room for the sums: the same sums in order, here */
        for (size_t c = 0; c < n; c += CHUNK)
            s += chunk_sum(grads, c, c + CHUNK < n ? c + CHUNK : n);
        return sqrt(s);
    }
    norm_job j = {grads, partial};
    for_ranges(n, norm_range, &j);
    for (size_t c = 0; c < chunks; c++)
        s += partial[c];
    free(partial);
    return sqrt(s);
}

typedef struct scale_job {
    float *grads;
    double f;
} scale_job;

static void scale_range(void *ctx, size_t begin, size_t end)
{
    const scale_job *j = ctx;
    for (size_t i = begin; i < end; i++)
        j->grads[i] = (float)(j->grads[i] * j->f);
}

double hp_grad_clip(float *grads, size_t n, double norm, double max_norm)
{
    double f = max_norm / (norm + 1e-6);
    if (f >= 1)
        return 1;
    scale_job j = {grads, f};
    for_ranges(n, scale_range, &j);
    return f;
}

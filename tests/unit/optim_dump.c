/* Runs the optimisers of hyplora/optim.h for tests/oracle/test_optim.py:
 *
 *   optim_dump DIR adamw|sgd N STEPS LR WD BETA1 BETA2 EPS MOMENTUM CLIP linear|cosine|constant WARMUP TOTAL
 *
 * DIR/params.f32 holds N parameters and DIR/grads.f32 STEPS x N gradients. Each step: the
 * gradients clipped to the global norm CLIP (0: not clipped), the learning rate of the
 * schedule at that step, and one update of the first N/2 parameters with weight decay WD
 * and of the rest without. Writes DIR/out.f32 (the parameters after the last step) and
 * prints "step S lr LR norm NORM" per step. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_files.h"
#include "hyplora.h"

static float *read_f32(const char *dir, const char *name, size_t n)
{
    return dump_read(dir, name, n * sizeof(float));
}

int main(int argc, char **argv)
{
    if (argc != 15) {
        fputs("usage: optim_dump DIR adamw|sgd N STEPS LR WD BETA1 BETA2 EPS MOMENTUM CLIP "
              "linear|cosine|constant WARMUP TOTAL\n", stderr);
        return 2;
    }
    const char *dir = argv[1];
    hp_optim_options o;
    hp_optim_options_init(&o, strcmp(argv[2], "sgd") ? HP_OPT_ADAMW : HP_OPT_SGD);
    size_t n = (size_t)atol(argv[3]);
    int steps = atoi(argv[4]);
    double lr = atof(argv[5]), wd = atof(argv[6]);
    o.beta1 = atof(argv[7]), o.beta2 = atof(argv[8]), o.eps = atof(argv[9]), o.momentum = atof(argv[10]);
    double clip = atof(argv[11]);
    hp_schedule sched = !strcmp(argv[12], "cosine") ? HP_SCHEDULE_COSINE
                        : !strcmp(argv[12], "constant") ? HP_SCHEDULE_CONSTANT : HP_SCHEDULE_LINEAR;
    int64_t warmup = atol(argv[13]), total = atol(argv[14]);
    float *p = read_f32(dir, "params.f32", n), *g = read_f32(dir, "grads.f32", n * (size_t)steps);
    hp_optim s;
    hp_err err = {{0}};
    if (hp_optim_init(&s, n, &o, &err)) {
        fprintf(stderr, "optim_dump: %s\n", err.msg);
        return 1;
    }
    for (int t = 0; t < steps; t++) {
        float *gt = g + (size_t)t * n;
        double norm = hp_grad_norm(gt, n);
        if (clip > 0)
            hp_grad_clip(gt, n, norm, clip);
        double rate = hp_lr_at(sched, t, total, warmup, lr);
        hp_optim_begin_step(&s);
        hp_optim_update(&s, rate, wd, p, gt, 0, n / 2);
        hp_optim_update(&s, rate, 0, p + n / 2, gt + n / 2, n / 2, n - n / 2);
        printf("step %d lr %.17g norm %.17g\n", t, rate, norm);
    }
    dump_write(dir, "out.f32", p, n * sizeof *p);
    hp_optim_free(&s);
    free(p);
    free(g);
    return 0;
}

/* Trains adapters for a few steps (hyplora/adapter_set.h, train_step.h) on batches written
 * by tests/oracle/test_train_step.py, for its PyTorch reference:
 *
 *   train_dump MODEL DIR STEPS MICRO B T adamw|sgd LR WARMUP TOTAL CLIP KCLIP WD SEED
 *
 * DIR/plan.txt: one adapter per line, "LAYER MODULE lora|hyplora consistent|released RANK
 * ALPHA K DROPOUT" (MODULE 0..6: q k v o gate up down). DIR/tokens.i32 and targets.i32:
 * [STEPS, MICRO, B, T] int32; lengths.i32: [STEPS, MICRO, B]. Writes DIR/params0.f32 (the
 * initial adapter block: per adapter A [r, in], B [out, r], then k, s for HypLoRA) and
 * DIR/params1.f32 (after the last step), the trained adapter as a PEFT directory DIR/adapter,
 * and prints "step S loss L norm N lr R" per step.
 * The learning rate follows the linear schedule with warmup. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dump_files.h"
#include "hyplora.h"

int main(int argc, char **argv)
{
    if (argc != 15) {
        fputs("usage: train_dump MODEL DIR STEPS MICRO B T adamw|sgd LR WARMUP TOTAL CLIP KCLIP WD SEED\n", stderr);
        return 2;
    }
    const char *dir = argv[2];
    int steps = atoi(argv[3]), n_micro = atoi(argv[4]), B = atoi(argv[5]), T = atoi(argv[6]);
    hp_optim_options oo;
    hp_optim_options_init(&oo, strcmp(argv[7], "sgd") ? HP_OPT_ADAMW : HP_OPT_SGD);
    double lr = atof(argv[8]);
    int64_t warmup = atol(argv[9]), total = atol(argv[10]);
    hp_train_options o = {.clip = atof(argv[11]), .k_grad_clip = atof(argv[12]), .weight_decay = atof(argv[13])};
    uint64_t seed = strtoull(argv[14], NULL, 10);

    hp_adapter_spec spec[256];
    size_t n = 0;
    char path[4200], method[16], form[16];
    snprintf(path, sizeof path, "%s/plan.txt", dir);
    FILE *f = fopen(path, "r");
    int module;
    while (f && n < 256 &&
           fscanf(f, "%d %d %15s %15s %d %lf %lf %lf", &spec[n].layer, &module, method, form, &spec[n].rank,
                  &spec[n].alpha, &spec[n].initial_K, &spec[n].dropout) == 8) {
        spec[n].module = (hp_module)module;
        spec[n].method = strcmp(method, "hyplora") ? HP_ADAPTER_LORA : HP_ADAPTER_HYPLORA;
        spec[n].form = strcmp(form, "released") ? HP_HYP_CONSISTENT : HP_HYP_RELEASED;
        spec[n].rslora = false;
        n++;
    }
    if (f)
        fclose(f);
    size_t per = (size_t)B * T, all = (size_t)steps * n_micro * per;
    int32_t *tokens = dump_read(dir, "tokens.i32", all * 4), *targets = dump_read(dir, "targets.i32", all * 4);
    int32_t *lens = dump_read(dir, "lengths.i32", (size_t)steps * n_micro * B * 4);

    hp_err err = {{0}};
    hp_model *m = hp_model_open(argv[1], &err);
    hp_fwd_options fo = {.weights = HP_FWD_WEIGHTS_F32};
    hp_fwd_model *fm = m ? hp_fwd_load(m, &fo, &err) : NULL;
    hp_adapter_set set;
    hp_optim opt;
    int ok = fm && hp_adapter_set_init(&set, &fm->config, spec, n, seed, &err) == 0;
    if (ok)
        hp_adapter_set_attach(&set, fm);
    hp_fwd_acts *acts = ok ? hp_fwd_acts_new(fm, B, T, true, &err) : NULL;
    hp_bwd_work *w = acts ? hp_bwd_work_new(fm, B, T, &err) : NULL;
    if (!w || hp_optim_init(&opt, set.n_params, &oo, &err)) {
        fprintf(stderr, "train_dump: %s\n", err.msg);
        return 1;
    }
    dump_write(dir, "params0.f32", set.params, set.n_params * sizeof(float));
    hp_train_batch *mb = malloc((size_t)n_micro * sizeof *mb);
    int *lengths = malloc((size_t)n_micro * B * sizeof *lengths);
    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < n_micro; i++) {
            size_t at = ((size_t)s * n_micro + i) * per;
            for (int b = 0; b < B; b++)
                lengths[i * B + b] = lens[((size_t)s * n_micro + i) * B + b];
            mb[i] = (hp_train_batch){tokens + at, targets + at, lengths + i * B, B, T};
        }
        o.lr = hp_lr_at(HP_SCHEDULE_LINEAR, s, total, warmup, lr);
        hp_train_stats st;
        if (hp_train_step(fm, acts, w, &set, &opt, mb, n_micro, &o, seed + (uint64_t)s, &st, &err)) {
            fprintf(stderr, "train_dump: step %d: %s\n", s, err.msg);
            return 1;
        }
        printf("step %d loss %.17g norm %.17g lr %.17g\n", s, st.loss, st.grad_norm, o.lr);
    }
    dump_write(dir, "params1.f32", set.params, set.n_params * sizeof(float));
    snprintf(path, sizeof path, "%s/adapter", dir);
    if (hp_adapter_set_save(&set, path, argv[1], o.k_grad_clip, "options", &err)) {
        fprintf(stderr, "train_dump: %s\n", err.msg);
        return 1;
    }
    hp_optim_free(&opt);
    free(mb), free(lengths), free(tokens), free(targets), free(lens);
    hp_bwd_work_free(w);
    hp_fwd_acts_free(acts);
    hp_adapter_set_free(&set);
    hp_fwd_free(fm);
    hp_model_close(m);
    return 0;
}

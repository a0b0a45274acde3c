/* Benchmark driver: one training step (hyplora/train_step.h) on one model, of adapters or of
 * every weight (pretraining).
 *
 *   train_bench MODEL_DIR [--method lora|hyplora|full] [--batch 4] [--seq 256] [--rank 32]
 *               [--alpha 64] [--dropout 0.05] [--steps 3] [--threads N] [--seed 1]
 *
 * Loads the model with float32 weights (a BF16 checkpoint is widened: the backward pass
 * needs them), puts an adapter of rank RANK on q, k, v, up and down of every layer (LoRA, or
 * HypLoRA in its consistent form at K = 1), and trains on one micro-batch of BATCH x SEQ
 * pseudo-random token ids, every position with a target (the next id of the same stream:
 * the ids tests/bench/train_peer.py uses): AdamW at lr 3e-4 (betas 0.9, 0.999, no weight
 * decay), gradients clipped to norm 1. One warm-up step, then the median of STEPS timed
 * steps, each a whole hp_train_step (forward, loss, backward, clipping, update).
 * --method full trains every weight instead (hp_pretrain_step: no adapters, RANK, ALPHA and
 * DROPOUT unused) on the same batch: a gradient block of all the model's floats, AdamW at lr
 * 3e-4 with betas 0.9, 0.95 and weight decay 0.1 on the matrices (embedding included, not on
 * the norms), gradients clipped to norm 1: the pretraining command's optimiser.
 *
 * The FLOP count is the convention: 4 x parameters x tokens, parameters being every
 * weight of the model counted once (embedding = the tied head, the norms, the 7 matrices of
 * each layer): a frozen base costs 2 FLOPs a weight a token forward and 2 backward (input
 * gradients only, no weight gradients). With --method full it is 6 x parameters x tokens:
 * 2 forward and 4 backward (input and weight gradients). Attention (q.k and p.v over the
 * causal pairs, 3x forward+backward) and the adapters (6 r (in + out) a token each, none
 * with full) are left out of it; gflops_all adds them.
 * Prints "key value" lines, the format train_peer.py prints too: the warm-up step's loss
 * (the adapters' B starts at zero, and full training starts from the file's weights, so it
 * is the base model's loss on the batch and both sides must agree), median step seconds,
 * tokens/s, GFLOP/s, peak RSS. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "bench_timing.h"

#include "hyplora.h"

static int usage(void)
{
    fprintf(stderr, "usage: train_bench MODEL_DIR [--method lora|hyplora|full] [--batch N] [--seq N] [--rank R] "
                    "[--alpha A] [--dropout P] [--steps N] [--threads N] [--seed S]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int B = 4, T = 256, rank = 32, steps = 3, threads = 0;
    double alpha = 64, dropout = 0.05;
    uint64_t seed = 1;
    bool hyp = false, full = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--method") && i + 1 < argc) {
            const char *m = argv[++i];
            hyp = !strcmp(m, "hyplora");
            full = !strcmp(m, "full");
            if (!hyp && !full && strcmp(m, "lora"))
                return usage();
        } else if (!strcmp(a, "--batch") && i + 1 < argc)
            B = atoi(argv[++i]);
        else if (!strcmp(a, "--seq") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(a, "--rank") && i + 1 < argc)
            rank = atoi(argv[++i]);
        else if (!strcmp(a, "--alpha") && i + 1 < argc)
            alpha = atof(argv[++i]);
        else if (!strcmp(a, "--dropout") && i + 1 < argc)
            dropout = atof(argv[++i]);
        else if (!strcmp(a, "--steps") && i + 1 < argc)
            steps = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--seed") && i + 1 < argc)
            seed = strtoull(argv[++i], NULL, 10);
        else if (a[0] != '-' && !path)
            path = a;
        else
            return usage();
    }
    if (!path || B < 1 || T < 1 || rank < 1 || steps < 1)
        return usage();

    hp_err err = {{0}};
    hp_blas_setup(threads); /* as the hyplora command does */
    double t0 = bench_now();
    hp_model *m = hp_model_open(path, &err);
    hp_fwd_options fo = {.weights = HP_FWD_WEIGHTS_F32, .threads = threads};
    hp_fwd_model *fm = m ? hp_fwd_load(m, &fo, &err) : NULL;
    if (!fm) {
        fprintf(stderr, "train_bench: %s\n", err.msg);
        return 1;
    }
    double load_s = bench_now() - t0;
    const hp_config *c = &fm->config;
    const int D = c->hidden_size, I = c->intermediate_size, L = c->n_layers, H = c->n_heads,
              KV = c->n_kv_heads, hd = c->head_dim, V = c->vocab_size;
    printf("threads %d\n", fm->threads);
    printf("method %s\n", full ? "full" : hyp ? "hyplora" : "lora");
    printf("shape layers %d hidden %d intermediate %d heads %d kv_heads %d head_dim %d vocab %d tied %d\n", L, D, I,
           H, KV, hd, V, fm->tied ? 1 : 0);
    if (full)
        printf("batch %d seq %d\n", B, T);
    else
        printf("batch %d seq %d rank %d alpha %g dropout %g\n", B, T, rank, alpha, dropout);
    printf("load_s %.3f\n", load_s);

    /* the plan: q, k, v, up, down of every layer (none with full) */
    static const hp_module targets[] = {HP_MODULE_Q, HP_MODULE_K, HP_MODULE_V, HP_MODULE_UP, HP_MODULE_DOWN};
    size_t n_spec = full ? 0 : (size_t)L * 5;
    hp_adapter_spec *spec = calloc(n_spec ? n_spec : 1, sizeof *spec);
    if (!spec) {
        fprintf(stderr, "train_bench: out of memory\n");
        return 1;
    }
    for (int l = 0; l < (int)(n_spec / 5); l++)
        for (int t = 0; t < 5; t++)
            spec[l * 5 + t] = (hp_adapter_spec){.layer = l, .module = targets[t],
                                                .method = hyp ? HP_ADAPTER_HYPLORA : HP_ADAPTER_LORA,
                                                .form = HP_HYP_CONSISTENT, .rank = rank, .alpha = alpha,
                                                .initial_K = 1.0, .dropout = dropout};
    hp_adapter_set set = {0};
    hp_optim opt;
    hp_optim_options oo;
    hp_optim_options_init(&oo, HP_OPT_ADAMW);
    if (full)
        oo.beta2 = 0.95;
    else if (hp_adapter_set_init(&set, c, spec, n_spec, seed, &err)) {
        fprintf(stderr, "train_bench: %s\n", err.msg);
        return 1;
    }
    hp_adapter_set_attach(&set, fm);
    /* full: the gradients of every weight, one block parallel to fm->params */
    size_t n_train = full ? fm->n_params : set.n_params;
    float *grads = full ? hp_malloc_large(fm->n_params * sizeof *grads, "the gradients", &err) : NULL;
    hp_fwd_acts *acts = !full || grads ? hp_fwd_acts_new(fm, B, T, true, &err) : NULL;
    hp_bwd_work *w = acts ? hp_bwd_work_new(fm, B, T, &err) : NULL;
    if (!w || hp_optim_init(&opt, n_train, &oo, &err)) {
        fprintf(stderr, "train_bench: %s\n", err.msg);
        return 1;
    }

    /* parameters: every weight counted once (a tied head is the embedding) */
    double layer_mat = (double)D * H * hd + 2.0 * D * KV * hd + (double)H * hd * D + 3.0 * D * I;
    double params = (double)L * (layer_mat + 2.0 * D) + (double)V * D * (fm->tied ? 1 : 2) + D;
    double tokens_step = (double)B * T;
    double flops = (full ? 6.0 : 4.0) * params * tokens_step;
    double flops_attn = 3.0 * B * L * 4.0 * H * hd * ((double)T * (T + 1) / 2);
    int qd = H * hd, kvd = KV * hd;
    double per_tok_adapter = full ? 0 : 6.0 * rank * ((D + qd) + 2.0 * (D + kvd) + (D + I) + (I + D)) * L;
    double flops_adapt = per_tok_adapter * tokens_step;
    if (full)
        printf("params %.0f trained_params %zu\n", params, fm->n_params);
    else
        printf("params %.0f adapter_params %zu\n", params, set.n_params);
    printf("flops_formula %d*params*tokens, params = all weights once (tied head = embedding)\n", full ? 6 : 4);
    printf("step_flops %.4e attn %.4e adapters %.4e\n", flops, flops_attn, flops_adapt);

    /* B sequences of T+1 ids from one xorshift64 stream (the same as train_peer.py): the
     * tokens are the first T, the targets the next id at every position */
    size_t n = (size_t)B * T;
    int32_t *tok = malloc(n * sizeof *tok), *tgt = malloc(n * sizeof *tgt);
    double *times = malloc((size_t)steps * sizeof *times);
    if (!tok || !tgt || !times) {
        fprintf(stderr, "train_bench: out of memory\n");
        return 1;
    }
    uint64_t s = 0x2545F4914F6CDD1Dull;
    for (int b = 0; b < B; b++) {
        for (int t = 0; t <= T; t++) {
            s ^= s << 13, s ^= s >> 7, s ^= s << 17;
            int32_t id = (int32_t)(s % (uint64_t)V);
            if (t > 0)
                tgt[(size_t)b * T + t - 1] = id;
            if (t < T)
                tok[(size_t)b * T + t] = id;
        }
    }
    hp_train_batch mb = {tok, tgt, NULL, B, T};
    hp_train_options to = {.lr = 3e-4, .weight_decay = full ? 0.1 : 0, .clip = 1.0, .k_grad_clip = 0};
    double loss0 = 0, loss_last = 0;
    for (int r = -1; r < steps; r++) {
        hp_train_stats st;
        double ts = bench_now();
        if (full ? hp_pretrain_step(fm, acts, w, grads, &opt, &mb, 1, &to, &st, &err)
                 : hp_train_step(fm, acts, w, &set, &opt, &mb, 1, &to, seed + (uint64_t)(r + 1), &st, &err)) {
            fprintf(stderr, "train_bench: %s\n", err.msg);
            return 1;
        }
        if (r >= 0)
            times[r] = bench_now() - ts;
        else
            loss0 = st.loss;
        loss_last = st.loss;
    }
    double step_s = bench_median(times, steps);
    printf("loss0 %.6f\n", loss0);
    printf("loss_last %.6f\n", loss_last);
    printf("step_s %.4f\n", step_s);
    printf("tok_s %.1f\n", tokens_step / step_s);
    printf("gflops %.1f\n", flops / step_s / 1e9);
    printf("gflops_all %.1f\n", (flops + flops_attn + flops_adapt) / step_s / 1e9);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);

    hp_optim_free(&opt);
    if (grads)
        hp_free_large(grads, fm->n_params * sizeof *grads);
    hp_bwd_work_free(w);
    hp_fwd_acts_free(acts);
    hp_adapter_set_free(&set);
    hp_fwd_free(fm);
    hp_model_close(m);
    free(spec), free(tok), free(tgt), free(times);
    return 0;
}

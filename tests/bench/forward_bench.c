/* Benchmark driver: the Llama forward pass (hyplora/forward.h) on one model.
 *
 *   forward_bench MODEL_DIR [--seq 256] [--decode 32] [--weights auto|f32|stored]
 *                 [--threads N] [--runs 3]
 *
 * Opens the model (hp_model_open + hp_fwd_load: "load_s"), then
 *   - prefill: one sequence of SEQ pseudo-random token ids (B=1, T=SEQ; the same ids
 *     tests/bench/forward_peer.py uses), hp_fwd_run without logits then
 *     hp_fwd_last_logits; one warm-up run, then the median of RUNS timed runs;
 *   - decode: after an untimed prefill that fills a KV cache, RUNS blocks of DECODE
 *     greedy steps (argmax, hp_fwd_decode), each block timed; the median block.
 * Prints one "key value" line per figure (the format forward_peer.py prints too):
 * prefill tokens/s and GFLOP/s (the FLOP count and its formula are printed as well),
 * decode tokens/s, the bytes one decoding step reads (weights and KV cache), peak RSS,
 * and the greedy tokens, so the two sides can be compared. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "bench_timing.h"

#include "hyplora/blas.h"
#include "hyplora/forward.h"
#include "hyplora/model.h"


static int32_t argmax(const float *x, int n)
{
    int32_t best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best])
            best = i;
    return best;
}

/* Bytes one use of a weight matrix reads: float32 rows, or its stored bytes. */
static double weight_bytes(const hp_fwd_weight *w)
{
    if (w->f32)
        return 4.0 * (double)w->rows * (double)w->cols;
    return (double)w->stored->nbytes;
}

static int usage(void)
{
    fprintf(stderr, "usage: forward_bench MODEL_DIR [--seq N] [--decode N] [--weights auto|f32|stored] "
                    "[--threads N] [--runs N]\n");
    return 2;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    int T = 256, n_decode = 32, threads = 0, runs = 3;
    hp_fwd_weights mode = HP_FWD_WEIGHTS_AUTO;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--seq") && i + 1 < argc)
            T = atoi(argv[++i]);
        else if (!strcmp(a, "--decode") && i + 1 < argc)
            n_decode = atoi(argv[++i]);
        else if (!strcmp(a, "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(a, "--runs") && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (!strcmp(a, "--weights") && i + 1 < argc) {
            const char *w = argv[++i];
            if (!strcmp(w, "auto"))
                mode = HP_FWD_WEIGHTS_AUTO;
            else if (!strcmp(w, "f32"))
                mode = HP_FWD_WEIGHTS_F32;
            else if (!strcmp(w, "stored"))
                mode = HP_FWD_WEIGHTS_STORED;
            else
                return usage();
        } else if (a[0] != '-' && !path)
            path = a;
        else
            return usage();
    }
    if (!path || T < 1 || n_decode < 0 || runs < 1)
        return usage();

    hp_err err;
    hp_blas_setup(threads); /* as the hyplora command does */
    double t0 = bench_now();
    hp_model *m = hp_model_open(path, &err);
    hp_fwd_options opt = {.weights = mode, .threads = threads};
    hp_fwd_model *fm = m ? hp_fwd_load(m, &opt, &err) : NULL;
    if (!fm) {
        fprintf(stderr, "forward_bench: %s\n", err.msg);
        return 1;
    }
    double load_s = bench_now() - t0;
    const hp_config *c = &fm->config;
    const int D = c->hidden_size, I = c->intermediate_size, L = c->n_layers, H = c->n_heads,
              KV = c->n_kv_heads, hd = c->head_dim, V = c->vocab_size;
    printf("threads %d\n", fm->threads);
    printf("weights %s\n", fm->stored ? "stored" : "f32");
    printf("shape layers %d hidden %d intermediate %d heads %d kv_heads %d head_dim %d vocab %d tied %d\n",
           L, D, I, H, KV, hd, V, fm->tied ? 1 : 0);
    printf("load_s %.3f\n", load_s);

    /* The FLOPs of one prefill of T positions, counting a multiply-add as 2:
     *   projections  2 T L (D*H*hd + 2 D*KV*hd + H*hd*D + 3 D*I)   q, k, v, o, gate, up, down
     *   attention    L * 2 * 2 H hd * T(T+1)/2                       q.k and p.v over the
     *                                                                causal pairs only
     *   head         2 V D                                           the last position's logits
     * Norms, RoPE, softmax and SiLU (O(T D) each) are left out. */
    double layer_params = (double)D * H * hd + 2.0 * D * KV * hd + (double)H * hd * D + 3.0 * D * I;
    double flops_proj = 2.0 * T * L * layer_params;
    double flops_attn = (double)L * 4.0 * H * hd * ((double)T * (T + 1) / 2);
    double flops_head = 2.0 * V * D;
    double flops = flops_proj + flops_attn + flops_head;
    printf("flops_formula 2*T*L*(D*H*hd+2*D*KV*hd+H*hd*D+3*D*I) + L*4*H*hd*T*(T+1)/2 + 2*V*D\n");
    printf("prefill_flops %.4e proj %.4e attn %.4e head %.4e\n", flops, flops_proj, flops_attn,
           flops_head);

    int32_t *tokens = malloc((size_t)T * sizeof *tokens);
    float *logits = malloc((size_t)V * sizeof *logits);
    int32_t *generated = malloc(((size_t)n_decode + 1) * sizeof *generated);
    double *times = malloc((size_t)runs * sizeof *times);
    if (!tokens || !logits || !generated || !times) {
        fprintf(stderr, "forward_bench: out of memory\n");
        return 1;
    }
    uint64_t s = 0x2545F4914F6CDD1Dull; /* xorshift64, the same ids as forward_peer.py */
    for (int t = 0; t < T; t++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        tokens[t] = (int32_t)(s % (uint64_t)V);
    }

    hp_fwd_acts *acts = hp_fwd_acts_new(fm, 1, T, false, &err);
    if (!acts) {
        fprintf(stderr, "forward_bench: %s\n", err.msg);
        return 1;
    }
    for (int r = -1; r < runs; r++) {
        double ts = bench_now();
        if (hp_fwd_run(fm, acts, NULL, tokens, NULL, 1, T, NULL, NULL, &err) != 0) {
            fprintf(stderr, "forward_bench: %s\n", err.msg);
            return 1;
        }
        hp_fwd_last_logits(fm, acts, NULL, 1, T, logits);
        if (r >= 0)
            times[r] = bench_now() - ts;
    }
    double prefill_s = bench_median(times, runs);
    printf("prefill_argmax %d\n", argmax(logits, V));
    printf("prefill_s %.4f\n", prefill_s);
    printf("prefill_tok_s %.1f\n", T / prefill_s);
    printf("prefill_gflops %.1f\n", flops / prefill_s / 1e9);

    /* Bytes one decoding step reads: every matrix once (q, k, v, o, gate, up, down of each
     * layer and the head; one embedding row), the norms, and the cache's keys and values
     * of the positions attended to (averaged over the decoded positions). */
    double wbytes = weight_bytes(&fm->lm_head) + 4.0 * D * (2.0 * L + 1) + 4.0 * D;
    for (int l = 0; l < L; l++) {
        const hp_fwd_layer *ly = &fm->layers[l];
        wbytes += weight_bytes(&ly->wq) + weight_bytes(&ly->wk) + weight_bytes(&ly->wv) +
                  weight_bytes(&ly->wo) + weight_bytes(&ly->w_gate) + weight_bytes(&ly->w_up) +
                  weight_bytes(&ly->w_down);
    }
    double kv_bytes = 2.0 * L * KV * hd * 4.0 * (T + 1 + runs * n_decode / 2.0);
    printf("decode_weight_bytes %.0f\n", wbytes);
    printf("decode_kv_bytes %.0f\n", kv_bytes);
    printf("decode_bytes_per_token %.0f\n", wbytes + kv_bytes);

    if (n_decode > 0) {
        /* one prefill fills the cache, then RUNS blocks of n_decode greedy steps, each
         * timed; the tokens printed are those of the first block */
        hp_fwd_cache *cache = hp_fwd_cache_new(fm, 1, T + runs * n_decode, &err);
        if (!cache || hp_fwd_run(fm, acts, cache, tokens, NULL, 1, T, NULL, NULL, &err) != 0) {
            fprintf(stderr, "forward_bench: %s\n", err.msg);
            return 1;
        }
        hp_fwd_last_logits(fm, acts, NULL, 1, T, logits);
        for (int r = 0; r < runs; r++) {
            double ts = bench_now();
            for (int i = 0; i < n_decode; i++) {
                int32_t next = argmax(logits, V);
                if (r == 0)
                    generated[i] = next;
                if (hp_fwd_decode(fm, cache, &next, 1, logits, &err) != 0) {
                    fprintf(stderr, "forward_bench: %s\n", err.msg);
                    return 1;
                }
            }
            times[r] = bench_now() - ts;
        }
        double decode_s = bench_median(times, runs);
        printf("decode_tok_s %.2f\n", n_decode / decode_s);
        printf("decode_tokens");
        for (int i = 0; i < n_decode && i < 16; i++)
            printf(" %d", generated[i]);
        printf("\n");
        hp_fwd_cache_free(cache);
    }
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mb %.0f\n", ru.ru_maxrss / 1024.0);

    hp_fwd_acts_free(acts);
    hp_fwd_free(fm);
    hp_model_close(m);
    free(tokens), free(logits), free(generated), free(times);
    return 0;
}

/* Benchmark driver for the δ kernel (hyplora/delta.h): random points in [-0.5, 0.5)^dim,
 * their Euclidean distances, then the timed part. Prints machine-readable lines:
 *   distances_s S
 *   fixed_base_s MEDIAN pair_ops_per_s R delta D      (float kernel, base 0, median of runs)
 *   fixed_base_double_s S                              (--double: the scalar double loop, once)
 *   exact_s S pair_ops_per_s R delta D                 (--exact: every base point, once)
 * A pair operation is one min and one max on one z for one pair (x, y): n^3 / 2 per base.
 * Usage: delta_bench N DIM [--runs R] [--double] [--exact] [--threads T] [--save FILE] */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_timing.h"

#include "hyplora/delta.h"
#include "hyplora/rng.h"

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: delta_bench N DIM [--runs R] [--double] [--exact] [--threads T] [--save FILE]\n");
        return 2;
    }
    size_t n = (size_t)atol(argv[1]), dim = (size_t)atol(argv[2]);
    int runs = 5;
    bool dbl = false, exact = false;
    const char *save = NULL;
    hp_delta_options opt = {0};
    for (int i = 3; i < argc; i++) {
        if (strcmp(argv[i], "--runs") == 0 && i + 1 < argc)
            runs = atoi(argv[++i]);
        else if (strcmp(argv[i], "--double") == 0)
            dbl = true;
        else if (strcmp(argv[i], "--exact") == 0)
            exact = true;
        else if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc)
            opt.threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--save") == 0 && i + 1 < argc)
            save = argv[++i];
    }
    float *X = malloc(n * dim * sizeof *X);
    double *D = malloc(n * n * sizeof *D), *times = malloc((size_t)(runs > 0 ? runs : 1) * sizeof *times);
    if (!X || !D || !times)
        return 1;
    hp_rng rng;
    hp_rng_seed(&rng, 1);
    for (size_t i = 0; i < n * dim; i++)
        X[i] = (float)(hp_rng_uniform(&rng) - 0.5);
    hp_err err;
    double t0 = bench_now();
    if (hp_delta_distances(X, n, dim, HP_DISTANCE_EUCLIDEAN, D, &err)) {
        fprintf(stderr, "delta_bench: %s\n", err.msg);
        return 1;
    }
    printf("distances_s %.4f\n", bench_now() - t0);
    if (save) { /* the distances, raw float64, for the numpy peer */
        FILE *f = fopen(save, "wb");
        if (!f || fwrite(D, sizeof *D, n * n, f) != n * n || fclose(f))
            return 1;
    }
    hp_delta_result r;
    double ops = (double)n * n * n / 2;
    for (int k = 0; k < runs; k++) {
        t0 = bench_now();
        if (hp_delta_fixed_base(D, n, 0, &opt, &r, &err)) {
            fprintf(stderr, "delta_bench: %s\n", err.msg);
            return 1;
        }
        times[k] = bench_now() - t0;
    }
    if (runs > 0) {
        double med = bench_median(times, runs);
        printf("fixed_base_s %.4f pair_ops_per_s %.3g delta %.9g used_double %d\n", med, ops / med, r.delta,
               r.used_double);
    }
    if (dbl) {
        hp_delta_options o = opt;
        o.force_double = true;
        t0 = bench_now();
        hp_delta_fixed_base(D, n, 0, &o, &r, &err);
        printf("fixed_base_double_s %.4f delta %.9g\n", bench_now() - t0, r.delta);
    }
    if (exact) {
        t0 = bench_now();
        if (hp_delta_exact(D, n, &opt, &r, &err)) {
            fprintf(stderr, "delta_bench: %s\n", err.msg);
            return 1;
        }
        double s = bench_now() - t0;
        printf("exact_s %.4f pair_ops_per_s %.3g delta %.9g\n", s, ops * (double)n / s, r.delta);
    }
    free(X);
    free(D);
    free(times);
    return 0;
}

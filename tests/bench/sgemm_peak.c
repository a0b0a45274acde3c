/* Benchmark driver: the machine's reference figures for the forward-pass benchmark.
 *   - OpenBLAS cblas_sgemm (row-major, C = A B^T as the forward pass computes x W^T) on
 *     2048^3 and on the prefill shapes M=256 tokens by K=hidden by N=intermediate of the
 *     SmolLM-135M (576, 1536) and Llama-1B (2048, 8192) layouts: median GFLOP/s
 *     (2 M N K / s) of REPS timed calls after one warm-up call;
 *   - memory bandwidth: a streaming read of a 1 GB float array (2 MB aligned, huge pages
 *     advised, as the library allocates its weights), summed on every thread: median and
 *     best GB/s of 2*REPS passes. The best is the bound decoding approaches (each decoded
 *     token reads every weight once); this VM's figure varies by +-20% between runs.
 * One machine-readable line per figure:
 *   sgemm MxKxN gflops G
 *   bandwidth read_gbs MEDIAN best BEST
 * Usage: sgemm_peak [--threads N] [--reps R] [--mb MB] */
#include <cblas.h>
#include <immintrin.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench_timing.h"


static float *random_floats(size_t n, uint64_t seed)
{
    float *x = malloc(n * sizeof *x);
    if (!x)
        return NULL;
    uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)((double)(s >> 40) / (double)(1ull << 24) - 0.5) * 0.1f;
    }
    return x;
}

/* M tokens x K inputs times the [N, K] weight transposed: C[M, N] = A[M, K] B[N, K]^T. */
static int bench_sgemm(int M, int K, int N, int reps)
{
    float *a = random_floats((size_t)M * K, 1), *b = random_floats((size_t)N * K, 2);
    float *c = calloc((size_t)M * N, sizeof *c);
    double *g = malloc((size_t)reps * sizeof *g);
    if (!a || !b || !c || !g) {
        fprintf(stderr, "sgemm_peak: out of memory\n");
        return -1;
    }
    double flops = 2.0 * M * N * K;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f, c, N);
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        /* small shapes: repeat so that one timing is at least ~50 ms */
        int inner = 0;
        do {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, M, N, K, 1.0f, a, K, b, K, 0.0f,
                        c, N);
            inner++;
        } while (bench_now() - t0 < 0.05);
        g[r] = flops * inner / (bench_now() - t0) / 1e9;
    }
    printf("sgemm %dx%dx%d gflops %.1f\n", M, K, N, bench_median(g, reps));
    fflush(stdout);
    free(a), free(b), free(c), free(g);
    return 0;
}

typedef struct {
    const float *x;
    size_t n;
    double sum;
} read_job;

/* AVX2 when the CPU has it (checked at run time), plain C otherwise. */
__attribute__((target("avx2"))) static double sum_avx2(const float *x, size_t n)
{
    __m256 a0 = _mm256_setzero_ps(), a1 = a0, a2 = a0, a3 = a0;
    size_t i = 0;
    for (; i + 32 <= n; i += 32) {
        a0 = _mm256_add_ps(a0, _mm256_loadu_ps(x + i));
        a1 = _mm256_add_ps(a1, _mm256_loadu_ps(x + i + 8));
        a2 = _mm256_add_ps(a2, _mm256_loadu_ps(x + i + 16));
        a3 = _mm256_add_ps(a3, _mm256_loadu_ps(x + i + 24));
    }
    float lanes[8];
    _mm256_storeu_ps(lanes, _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)));
    double s = 0;
    for (int l = 0; l < 8; l++)
        s += lanes[l];
    for (; i < n; i++)
        s += x[i];
    return s;
}

static double sum_plain(const float *x, size_t n)
{
    float acc[16] = {0};
    size_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int l = 0; l < 16; l++)
            acc[l] += x[i + l];
    double s = 0;
    for (int l = 0; l < 16; l++)
        s += acc[l];
    for (; i < n; i++)
        s += x[i];
    return s;
}

static void *read_part(void *arg)
{
    read_job *j = arg;
    j->sum = __builtin_cpu_supports("avx2") ? sum_avx2(j->x, j->n) : sum_plain(j->x, j->n);
    return NULL;
}

static double read_pass(const float *x, size_t n, int threads)
{
    pthread_t tid[256];
    read_job job[256];
    size_t per = (n / (size_t)threads + 15) & ~(size_t)15;
    double sum = 0;
    for (int t = 0; t < threads; t++) {
        size_t b = (size_t)t * per < n ? (size_t)t * per : n;
        size_t e = b + per < n ? b + per : n;
        job[t] = (read_job){x + b, e - b, 0};
        if (t > 0)
            pthread_create(&tid[t], NULL, read_part, &job[t]);
    }
    read_part(&job[0]);
    for (int t = 0; t < threads; t++) {
        if (t > 0)
            pthread_join(tid[t], NULL);
        sum += job[t].sum;
    }
    return sum;
}

static int bench_bandwidth(size_t mb, int threads, int reps)
{
    size_t n = mb * 1000000 / sizeof(float);
    float *x = NULL;
    double *g = malloc((size_t)reps * sizeof *g);
    if (posix_memalign((void **)&x, 2u << 20, n * sizeof *x) != 0)
        x = NULL;
    else
        madvise(x, n * sizeof *x, MADV_HUGEPAGE); /* as hp_malloc_large lays out the weights */
    if (!x || !g) {
        fprintf(stderr, "sgemm_peak: out of memory\n");
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        x[i] = (float)(i & 1023) * 1e-3f;
    volatile double sink = read_pass(x, n, threads); /* warm-up: pages in */
    for (int r = 0; r < reps; r++) {
        double t0 = bench_now();
        sink += read_pass(x, n, threads);
        g[r] = (double)(n * sizeof *x) / (bench_now() - t0) / 1e9;
    }
    (void)sink;
    double med = bench_median(g, reps);
    printf("bandwidth read_gbs %.2f best %.2f\n", med, g[reps - 1]);
    free(x), free(g);
    return 0;
}

int main(int argc, char **argv)
{
    int threads = 0, reps = 5;
    size_t mb = 1000;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--reps") && i + 1 < argc)
            reps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--mb") && i + 1 < argc)
            mb = (size_t)atol(argv[++i]);
        else {
            fprintf(stderr, "usage: sgemm_peak [--threads N] [--reps R] [--mb MB]\n");
            return 2;
        }
    }
    if (threads <= 0)
        threads = (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (threads > 256)
        threads = 256;
    if (reps < 1)
        reps = 1;
    openblas_set_num_threads(threads);
    printf("threads %d\n", threads);
    static const int shapes[][3] = {{2048, 2048, 2048}, {256, 576, 1536}, {256, 2048, 8192}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
        if (bench_sgemm(shapes[s][0], shapes[s][1], shapes[s][2], reps) != 0)
            return 1;
    return bench_bandwidth(mb, threads, 2 * reps) != 0;
}

/* The two skinny products of a PCA pass: Y = Xb Q and Wt += Y^T Xb for a block of rows and a
 * panel of about 10 vectors (docs/pca.md). OpenBLAS's sgemm runs these at about 20 GFLOP/s
 * a core (its kernels are tuned for wide panels); register-blocked AVX2/FMA loops that
 * keep 10 accumulators live and read each block value once per group of 5 vectors come
 * near the FMA peak. Chosen once at run time, with a portable C version for other CPUs. */
#include <stdlib.h>
#include <string.h>

#include "pca_kernel.h"

enum { G = PCA_KERNEL_GROUP, LANES = 8 };

/* ---- portable C: the same sums, eight lanes written out so compilers can vectorise ---- */

static void apply_generic(const float *xb, size_t m, size_t dp, size_t ld, const float *qt,
                          size_t lp, float *y)
{
    for (size_t i = 0; i < m; i++)
        for (size_t a = 0; a < lp; a++) {
            const float *x = xb + i * ld, *q = qt + a * ld;
            float acc[LANES] = {0};
            for (size_t j = 0; j < dp; j += LANES)
                for (int t = 0; t < LANES; t++)
                    acc[t] += x[j + t] * q[j + t];
            float s = 0;
            for (int t = 0; t < LANES; t++)
                s += acc[t];
            y[i * lp + a] = s;
        }
}

static void accumulate_generic(const float *xb, size_t m, size_t dp, size_t ld, const float *y,
                               size_t lp, double *wt)
{
    float acc[PCA_KERNEL_COLS];
    for (size_t a = 0; a < lp; a++)
        for (size_t j = 0; j < dp; j += PCA_KERNEL_COLS) {
            memset(acc, 0, sizeof acc);
            for (size_t i = 0; i < m; i++) {
                float ya = y[i * lp + a];
                for (int t = 0; t < PCA_KERNEL_COLS; t++)
                    acc[t] += ya * xb[i * ld + j + t];
            }
            for (int t = 0; t < PCA_KERNEL_COLS; t++)
                wt[a * ld + j + t] += acc[t];
        }
}

static const pca_kernels generic = {apply_generic, accumulate_generic, "generic"};

/* ---- AVX2 + FMA ---- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#define AVX2 __attribute__((target("avx2,fma")))
/* the accumulator arrays must become registers: unroll the loops over them completely */
#define UNROLL _Pragma("GCC unroll 8")

/* Sum of the eight lanes in a fixed order (the result must not depend on anything else). */
static inline AVX2 float hsum8(__m256 v)
{
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* Rows x0 and x1 against vectors q .. q+4 over columns [0, len): 10 accumulators, 7 loads
 * per 10 FMAs; the sums are added to y0 and y1. */
static inline AVX2 void apply_2x5(const float *x0, const float *x1, size_t len, size_t ld,
                                  const float *q, float *y0, float *y1)
{
    __m256 c0[G], c1[G];
    UNROLL
    for (int a = 0; a < G; a++)
        c0[a] = c1[a] = _mm256_setzero_ps();
    for (size_t j = 0; j < len; j += LANES) {
        __m256 v0 = _mm256_loadu_ps(x0 + j), v1 = _mm256_loadu_ps(x1 + j);
        UNROLL
        for (int a = 0; a < G; a++) {
            __m256 qa = _mm256_loadu_ps(q + a * ld + j);
            c0[a] = _mm256_fmadd_ps(v0, qa, c0[a]);
            c1[a] = _mm256_fmadd_ps(v1, qa, c1[a]);
        }
    }
    UNROLL
    for (int a = 0; a < G; a++) {
        y0[a] += hsum8(c0[a]);
        y1[a] += hsum8(c1[a]);
    }
}

/* One row (an odd block's last): the same sums as apply_2x5 would give it. */
static inline AVX2 void apply_1x5(const float *x0, size_t len, size_t ld, const float *q,
                                  float *y0)
{
    __m256 c0[G];
    UNROLL
    for (int a = 0; a < G; a++)
        c0[a] = _mm256_setzero_ps();
    for (size_t j = 0; j < len; j += LANES) {
        __m256 v0 = _mm256_loadu_ps(x0 + j);
        UNROLL
        for (int a = 0; a < G; a++)
            c0[a] = _mm256_fmadd_ps(v0, _mm256_loadu_ps(q + a * ld + j), c0[a]);
    }
    UNROLL
    for (int a = 0; a < G; a++)
        y0[a] += hsum8(c0[a]);
}

/* Whole rows: stretches of columns sized for L1 (the panel's stretch and two rows') measured
 * no faster, the panel coming from L2 fast enough. */
static AVX2 void apply_avx2(const float *xb, size_t m, size_t dp, size_t ld, const float *qt,
                            size_t lp, float *y)
{
    memset(y, 0, m * lp * sizeof *y);
    size_t i = 0;
    for (; i + 2 <= m; i += 2)
        for (size_t a = 0; a < lp; a += G)
            apply_2x5(xb + i * ld, xb + (i + 1) * ld, dp, ld, qt + a * ld, y + i * lp + a,
                      y + (i + 1) * lp + a);
    if (i < m)
        for (size_t a = 0; a < lp; a += G)
            apply_1x5(xb + i * ld, dp, ld, qt + a * ld, y + i * lp + a);
}

/* Columns j .. j+15 of vectors a0 .. a0+4 over all m rows: 10 accumulators, 2 loads and 5
 * broadcasts per 10 FMAs; the float sums are widened into the double accumulator once per
 * block. */
static inline AVX2 void accumulate_5x16(const float *xb, size_t m, size_t ld, const float *y,
                                        size_t lp, double *wt)
{
    __m256 c0[G], c1[G];
    UNROLL
    for (int a = 0; a < G; a++)
        c0[a] = c1[a] = _mm256_setzero_ps();
    for (size_t i = 0; i < m; i++) {
        __m256 v0 = _mm256_loadu_ps(xb + i * ld), v1 = _mm256_loadu_ps(xb + i * ld + LANES);
        UNROLL
    for (int a = 0; a < G; a++) {
            __m256 ya = _mm256_broadcast_ss(y + i * lp + a);
            c0[a] = _mm256_fmadd_ps(v0, ya, c0[a]);
            c1[a] = _mm256_fmadd_ps(v1, ya, c1[a]);
        }
    }
    UNROLL
    for (int a = 0; a < G; a++) {
        double *w = wt + a * ld;
        __m256 c[2] = {c0[a], c1[a]};
        for (int h = 0; h < 2; h++) {
            __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(c[h]));
            __m256d hi = _mm256_cvtps_pd(_mm256_extractf128_ps(c[h], 1));
            _mm256_storeu_pd(w + h * LANES, _mm256_add_pd(_mm256_loadu_pd(w + h * LANES), lo));
            _mm256_storeu_pd(w + h * LANES + 4, _mm256_add_pd(_mm256_loadu_pd(w + h * LANES + 4), hi));
        }
    }
}

static AVX2 void accumulate_avx2(const float *xb, size_t m, size_t dp, size_t ld,
                                 const float *y, size_t lp, double *wt)
{
    /* columns outer: the block's 16-column stripe stays in L1 across the vector groups */
    for (size_t j = 0; j < dp; j += PCA_KERNEL_COLS)
        for (size_t a = 0; a < lp; a += G)
            accumulate_5x16(xb + j, m, ld, y + a, lp, wt + a * ld + j);
}

static const pca_kernels avx2 = {apply_avx2, accumulate_avx2, "avx2"};
#endif

const pca_kernels *pca_kernels_get(void)
{
    const char *force = getenv("PCA_KERNEL");
    if (force && strcmp(force, "generic") == 0)
        return &generic;
#if defined(__x86_64__) && defined(__GNUC__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return &avx2;
#endif
    return &generic;
}

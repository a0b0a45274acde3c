/* The forward pass's per-row operations: RMSNorm, rotary embeddings, SwiGLU and the dot
 * product the small kernels use. See forward_internal.h. */
#include <math.h>
#include <stdbool.h>

#include "forward_internal.h"
#include "hyplora/dtype.h"

typedef struct rows_job {
    float *y;
    const float *x, *w;
    int d;
    float eps;
} rows_job;

static void rmsnorm_rows(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const rows_job *j = ctx;
    const float *x = j->x, *w = j->w;
    float *y = j->y;
    int d = j->d;
    for (size_t r = begin; r < end; r++) {
        const float *xr = x + r * (size_t)d;
        float *yr = y + r * (size_t)d;
        /* The mean square in double: hidden sizes of thousands summed in float would lose
         * digits the 1e-4 agreement with the reference depends on. */
        double ss = 0;
        for (int i = 0; i < d; i++)
            ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / d + j->eps));
        for (int i = 0; i < d; i++)
            yr[i] = xr[i] * inv * w[i];
    }
}

void fwd_rmsnorm(const hp_fwd_model *fm, float *y, const float *x, const float *w, size_t n, int d)
{
    rows_job j = {.y = y, .x = x, .w = w, .d = d, .eps = (float)fm->config.rms_norm_eps};
    fwd_parallel(fm, n, 16, rmsnorm_rows, &j);
}

/* Llama 3.1's wavelength-dependent scaling: long wavelengths (beyond the original context
 * divided by low_freq_factor) are slowed by `factor`, short ones (below the context divided
 * by high_freq_factor) kept, and the band between blended linearly in context/wavelength. */
static double llama3_scale(const hp_config *c, double inv_freq)
{
    const double pi = 3.14159265358979323846;
    double factor = c->rope_scaling.factor, lo = c->rope_scaling.low_freq_factor;
    double hi = c->rope_scaling.high_freq_factor;
    double ctx = c->rope_scaling.original_max_position_embeddings;
    double wavelen = 2 * pi / inv_freq;
    if (wavelen < ctx / hi)
        return inv_freq;
    if (wavelen > ctx / lo)
        return inv_freq / factor;
    double smooth = (ctx / wavelen - lo) / (hi - lo);
    return (1 - smooth) * inv_freq / factor + smooth * inv_freq;
}

static double inv_frequency(const hp_config *c, int i)
{
    double inv = 1.0 / pow(c->rope_theta, (2.0 * i) / c->head_dim);
    switch (c->rope_scaling.type) {
    case HP_ROPE_LLAMA3:
        return llama3_scale(c, inv);
    case HP_ROPE_LINEAR: /* positions divided by the factor, the same as slower frequencies */
        return inv / c->rope_scaling.factor;
    case HP_ROPE_NONE:
        break;
    }
    return inv;
}

void fwd_rope_position(const hp_config *c, int t, float *cs, float *sn)
{
    for (int i = 0; i < c->head_dim / 2; i++) {
        /* The reference keeps inv_freq and the angle in float32; rounding the same way keeps
         * the angles of long sequences equal to its own. */
        float angle = (float)t * (float)inv_frequency(c, i);
        cs[i] = (float)cos(angle);
        sn[i] = (float)sin(angle);
    }
}

void fwd_rope_tables(const hp_config *c, int T, float *cos_t, float *sin_t)
{
    size_t half = (size_t)c->head_dim / 2;
    for (int t = 0; t < T; t++)
        fwd_rope_position(c, t, cos_t + t * half, sin_t + t * half);
}

void fwd_rope_row(float *x, int n_heads, int hd, const float *cs, const float *sn)
{
    int half = hd / 2;
    for (int h = 0; h < n_heads; h++) {
        float *xh = x + (size_t)h * hd;
        for (int i = 0; i < half; i++) {
            float x1 = xh[i], x2 = xh[i + half];
            xh[i] = x1 * cs[i] - x2 * sn[i];
            xh[i + half] = x2 * cs[i] + x1 * sn[i];
        }
    }
}

void fwd_rope_apply(float *x, size_t ld, int B, int T, int n_heads, int hd, const float *cos_t,
                    const float *sin_t)
{
    int half = hd / 2;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++)
            fwd_rope_row(x + ((size_t)b * T + t) * ld, n_heads, hd, cos_t + (size_t)t * half,
                         sin_t + (size_t)t * half);
}

/* ---- exp and SwiGLU, eight lanes at a time where the CPU has AVX2 ---- */

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1

static bool cpu_has_avx2(void)
{
    static int has = -1; /* the same value whichever thread computes it first */
    if (has < 0)
        has = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    return has;
}

/* exp(x) = 2^k exp(r), k = round(x / ln 2), r = x - k ln 2 (ln 2 split in two so that r is
 * exact to float precision), |r| <= ln 2 / 2, exp(r) by its Taylor polynomial to r^6 (the
 * first term left out is below 1.3e-7 relative). x is clamped to where the result is a
 * normal float. */
__attribute__((target("avx2,fma"))) static __m256 exp8(__m256 x)
{
    x = _mm256_min_ps(_mm256_max_ps(x, _mm256_set1_ps(-87.3f)), _mm256_set1_ps(88.7f));
    __m256 k = _mm256_round_ps(_mm256_mul_ps(x, _mm256_set1_ps(1.44269504f)),
                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
    __m256 r = _mm256_fnmadd_ps(k, _mm256_set1_ps(0.693145752f), x);
    r = _mm256_fnmadd_ps(k, _mm256_set1_ps(1.42860677e-6f), r);
    __m256 p = _mm256_set1_ps(1.0f / 720);
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 120));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 24));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f / 6));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(0.5f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(1.0f));
    __m256i e = _mm256_slli_epi32(_mm256_add_epi32(_mm256_cvtps_epi32(k), _mm256_set1_epi32(127)), 23);
    return _mm256_mul_ps(p, _mm256_castsi256_ps(e));
}

__attribute__((target("avx2,fma"))) static size_t exp_avx2(float *x, size_t n, float shift)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(x + i, exp8(_mm256_sub_ps(_mm256_loadu_ps(x + i), _mm256_set1_ps(shift))));
    return i;
}

__attribute__((target("avx2,fma"))) static size_t swiglu_avx2(float *y, const float *g, const float *u, size_t n)
{
    size_t i = 0;
    const __m256 one = _mm256_set1_ps(1.0f);
    for (; i + 8 <= n; i += 8) {
        __m256 gv = _mm256_loadu_ps(g + i);
        __m256 e = exp8(_mm256_sub_ps(_mm256_setzero_ps(), gv));
        __m256 r = _mm256_div_ps(_mm256_mul_ps(gv, _mm256_loadu_ps(u + i)), _mm256_add_ps(one, e));
        _mm256_storeu_ps(y + i, r);
    }
    return i;
}
#endif

void fwd_exp_shifted(float *x, size_t n, float shift)
{
    size_t i = 0;
#ifdef HAVE_X86
    if (cpu_has_avx2())
        i = exp_avx2(x, n, shift);
#endif
    for (; i < n; i++)
        x[i] = expf(x[i] - shift);
}

static void swiglu_rows(void *ctx, int worker, size_t begin, size_t end)
{
    (void)worker;
    const rows_job *j = ctx;
    size_t f = (size_t)j->d;
    for (size_t r = begin; r < end; r++) {
        float *y = j->y + r * f;
        const float *g = j->x + r * 2 * f, *u = g + f;
        size_t i = 0;
#ifdef HAVE_X86
        if (cpu_has_avx2())
            i = swiglu_avx2(y, g, u, f);
#endif
        for (; i < f; i++)
            y[i] = g[i] / (1.0f + expf(-g[i])) * u[i];
    }
}

void fwd_swiglu(const hp_fwd_model *fm, float *act, const float *gate_up, size_t n, int f)
{
    rows_job j = {.y = act, .x = gate_up, .d = f};
    fwd_parallel(fm, n, (size_t)(1 << 14) / (size_t)f + 1, swiglu_rows, &j);
}

/* The dot product of the decoding kernels, in four 8-float accumulators. */
#ifdef HAVE_X86
__attribute__((target("avx2,fma"))) static float dot_avx2(const float *a, const float *b, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8)
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    __m256 s = _mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3));
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

#endif

#ifdef HAVE_X86
/* x . w with w in BF16: each 16-bit value shifted into the top of a float32 lane. */
__attribute__((target("avx2,fma"))) static float dot_bf16_avx2(const float *x, const uint16_t *w, int n)
{
    __m256 s0 = _mm256_setzero_ps(), s1 = s0;
    int i = 0;
    for (; i + 16 <= n; i += 16) {
        __m256i lo = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i)));
        __m256i hi = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(w + i + 8)));
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i), _mm256_castsi256_ps(_mm256_slli_epi32(lo, 16)), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(x + i + 8), _mm256_castsi256_ps(_mm256_slli_epi32(hi, 16)), s1);
    }
    __m256 s = _mm256_add_ps(s0, s1);
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    float r = _mm_cvtss_f32(h);
    for (; i < n; i++)
        r += x[i] * hp_bf16_to_f32(w[i]);
    return r;
}
#endif

float fwd_dot_bf16(const float *x, const uint16_t *w, int n)
{
#ifdef HAVE_X86
    if (cpu_has_avx2())
        return dot_bf16_avx2(x, w, n);
#endif
    float r = 0;
    for (int i = 0; i < n; i++)
        r += x[i] * hp_bf16_to_f32(w[i]);
    return r;
}

static float dot_generic(const float *a, const float *b, int n)
{
    float acc[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int t = 0; t < 8; t++)
            acc[t] += a[i + t] * b[i + t];
    float r = 0;
    for (int t = 0; t < 8; t++)
        r += acc[t];
    for (; i < n; i++)
        r += a[i] * b[i];
    return r;
}

#ifdef HAVE_X86
static inline float hsum8(__m256 s) __attribute__((target("avx2,fma")));
static inline float hsum8(__m256 s)
{
    __m128 h = _mm_add_ps(_mm256_castps256_ps128(s), _mm256_extractf128_ps(s, 1));
    h = _mm_add_ps(h, _mm_movehl_ps(h, h));
    h = _mm_add_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* Two input rows against four weight rows: eight accumulators, six loads per eight FMAs. */
__attribute__((target("avx2,fma"))) static void rows2x4_avx2(const float *x0, const float *x1,
                                                             const float *const w[4], int n, float out[2][4])
{
    __m256 a[2][4];
    for (int i = 0; i < 2; i++)
        for (int j = 0; j < 4; j++)
            a[i][j] = _mm256_setzero_ps();
    int k = 0;
    for (; k + 8 <= n; k += 8) {
        __m256 u = _mm256_loadu_ps(x0 + k), v = _mm256_loadu_ps(x1 + k);
        for (int j = 0; j < 4; j++) {
            __m256 wj = _mm256_loadu_ps(w[j] + k);
            a[0][j] = _mm256_fmadd_ps(wj, u, a[0][j]);
            a[1][j] = _mm256_fmadd_ps(wj, v, a[1][j]);
        }
    }
    for (int j = 0; j < 4; j++) {
        out[0][j] = hsum8(a[0][j]);
        out[1][j] = hsum8(a[1][j]);
        for (int t = k; t < n; t++) {
            out[0][j] += x0[t] * w[j][t];
            out[1][j] += x1[t] * w[j][t];
        }
    }
}
#endif

void fwd_dot_rows4(const float *x, size_t ldx, size_t n, const float *const w[4], int cols, float *y, size_t ldy)
{
    size_t i = 0;
#ifdef HAVE_X86
    if (cpu_has_avx2())
        for (; i + 2 <= n; i += 2) {
            float out[2][4];
            rows2x4_avx2(x + i * ldx, x + (i + 1) * ldx, w, cols, out);
            for (int j = 0; j < 4; j++) {
                y[i * ldy + (size_t)j] = out[0][j];
                y[(i + 1) * ldy + (size_t)j] = out[1][j];
            }
        }
#endif
    for (; i < n; i++)
        for (int j = 0; j < 4; j++)
            y[i * ldy + (size_t)j] = fwd_dot(x + i * ldx, w[j], cols);
}

float fwd_dot(const float *a, const float *b, int n)
{
#ifdef HAVE_X86
    if (cpu_has_avx2())
        return dot_avx2(a, b, n);
#endif
    return dot_generic(a, b, n);
}

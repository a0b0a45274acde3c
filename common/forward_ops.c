/* The forward pass's per-row operations: RMSNorm, the projections (sgemm), rotary
 * embeddings and SwiGLU. See forward_internal.h. */
#include <cblas.h>
#include <math.h>

#include "forward_internal.h"

void fwd_rmsnorm(float *y, const float *x, const float *w, size_t n, int d, float eps)
{
    for (size_t r = 0; r < n; r++) {
        const float *xr = x + r * (size_t)d;
        float *yr = y + r * (size_t)d;
        /* The mean square in double: hidden sizes of thousands summed in float would lose
         * digits the 1e-4 agreement with the reference depends on. */
        double ss = 0;
        for (int i = 0; i < d; i++)
            ss += (double)xr[i] * xr[i];
        float inv = (float)(1.0 / sqrt(ss / d + eps));
        for (int i = 0; i < d; i++)
            yr[i] = xr[i] * inv * w[i];
    }
}

void fwd_linear(float *y, const float *x, const float *w, const float *bias, size_t n, int in, int out)
{
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, out, in, 1.0f, x, in, w, in, 0.0f, y,
                out);
    if (!bias)
        return;
    for (size_t r = 0; r < n; r++)
        for (int j = 0; j < out; j++)
            y[r * (size_t)out + j] += bias[j];
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

void fwd_rope_tables(const hp_config *c, int T, float *cos_t, float *sin_t)
{
    int half = c->head_dim / 2;
    for (int i = 0; i < half; i++) {
        /* The reference keeps inv_freq and the angle in float32; rounding the same way keeps
         * the angles of long sequences equal to its own. */
        float inv = (float)inv_frequency(c, i);
        for (int t = 0; t < T; t++) {
            float angle = (float)t * inv;
            cos_t[(size_t)t * half + i] = (float)cos(angle);
            sin_t[(size_t)t * half + i] = (float)sin(angle);
        }
    }
}

void fwd_rope_apply(float *x, int B, int T, int n_heads, int hd, const float *cos_t, const float *sin_t)
{
    int half = hd / 2;
    size_t row = (size_t)n_heads * hd;
    for (int b = 0; b < B; b++)
        for (int t = 0; t < T; t++) {
            const float *cs = cos_t + (size_t)t * half, *sn = sin_t + (size_t)t * half;
            float *xr = x + ((size_t)b * T + t) * row;
            for (int h = 0; h < n_heads; h++) {
                float *xh = xr + (size_t)h * hd;
                for (int i = 0; i < half; i++) {
                    float x1 = xh[i], x2 = xh[i + half];
                    xh[i] = x1 * cs[i] - x2 * sn[i];
                    xh[i + half] = x2 * cs[i] + x1 * sn[i];
                }
            }
        }
}

void fwd_swiglu(float *act, const float *gate, const float *up, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        float g = gate[i];
        act[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

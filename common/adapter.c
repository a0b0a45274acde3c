/* One adapted linear module: forward and backward (hyplora/adapter.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/adapter.h"

double hp_adapter_curvature(float k)
{
    double x = k; /* softplus without overflow: log(1 + e^x) = max(x, 0) + log1p(e^-|x|) */
    return (x > 0 ? x : 0) + log1p(exp(-fabs(x))) + 1e-6;
}

static double sigmoid(double x)
{
    return x >= 0 ? 1 / (1 + exp(-x)) : exp(x) / (1 + exp(x));
}

int hp_adapter_cache_init(hp_adapter_cache *c, const hp_adapter *a, int capacity, hp_err *err)
{
    memset(c, 0, sizeof *c);
    size_t N = (size_t)capacity, in = (size_t)a->in, out = (size_t)a->out, r = (size_t)a->rank;
    bool hyp = a->method == HP_ADAPTER_HYPLORA;
    c->capacity = capacity;
    if (!(c->xd = hp_malloc(N * in * sizeof(float), "the adapter's inputs", err)) ||
        !(c->z = hp_malloc(N * r * sizeof(float), "the adapter's activations", err)) ||
        !(c->dz = hp_malloc(N * r * sizeof(float), "the adapter's gradients", err)) ||
        !(c->du = hp_malloc(N * in * sizeof(float), "the adapter's gradients", err)) ||
        (hyp && !(c->u = hp_malloc(N * in * sizeof(float), "the adapter's activations", err))) ||
        (hyp && !(c->y = hp_malloc(N * out * sizeof(float), "the adapter's activations", err))) ||
        (hyp && !(c->dy = hp_malloc(N * out * sizeof(float), "the adapter's gradients", err))) ||
        !(c->scratch = hp_malloc(2 * (in > out ? in : out) * sizeof(double), "the adapter's scratch", err))) {
        hp_adapter_cache_free(c);
        return -1;
    }
    return 0;
}

void hp_adapter_cache_free(hp_adapter_cache *c)
{
    free(c->xd), free(c->u), free(c->z), free(c->y), free(c->dy), free(c->dz), free(c->du), free(c->scratch);
    memset(c, 0, sizeof *c);
}

static int check_batch(const hp_adapter *a, const hp_adapter_cache *c, int N, hp_err *err)
{
    if (N < 0 || N > c->capacity)
        return hp_fail(err, "a batch of %d tokens does not fit the adapter cache of %d", N, c->capacity);
    if (a->method == HP_ADAPTER_HYPLORA && !(*a->s != 0 && isfinite(*a->s) && isfinite(*a->k)))
        return hp_fail(err, "the HypLoRA module's norm scale is %g and its raw curvature %g: expected a finite "
                            "nonzero scale", (double)*a->s, (double)*a->k);
    return 0;
}

int hp_adapter_forward(const hp_adapter *a, const float *x, int N, const uint8_t *keep, hp_adapter_cache *c,
                       float *h, size_t ldh, hp_err *err)
{
    if (check_batch(a, c, N, err))
        return -1;
    size_t in = (size_t)a->in, out = (size_t)a->out;
    int r = a->rank;
    float survive = keep ? 1 / (1 - a->dropout) : 1;
    for (size_t i = 0; i < (size_t)N * in; i++)
        c->xd[i] = keep && !keep[i] ? 0 : x[i] * survive;
    if (N == 0)
        return 0;
    if (a->method == HP_ADAPTER_LORA) {
        /* z = xd A^T, h += scaling z B^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, a->in, 1, c->xd, a->in, a->A, a->in, 0, c->z, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, a->out, r, a->scaling, c->z, r, a->B, r, 1, h,
                    (int)ldh);
        return 0;
    }
    double K = hp_adapter_curvature(*a->k), s = *a->s;
    double *v = c->scratch, *w = c->scratch + (in > out ? in : out);
    for (size_t t = 0; t < (size_t)N; t++) { /* u = exp_o(xd / s) */
        for (size_t j = 0; j < in; j++)
            v[j] = c->xd[t * in + j] / s;
        hp_lorentz_expmap(a->form, v, in, K, w);
        for (size_t j = 0; j < in; j++)
            c->u[t * in + j] = (float)w[j];
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, a->in, 1, c->u, a->in, a->A, a->in, 0, c->z, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, a->out, r, 1, c->z, r, a->B, r, 0, c->y, a->out);
    for (size_t t = 0; t < (size_t)N; t++) { /* h += scaling log_o(y) */
        for (size_t j = 0; j < out; j++)
            v[j] = c->y[t * out + j];
        hp_lorentz_logmap(a->form, v, out, K, w);
        for (size_t j = 0; j < out; j++)
            h[t * ldh + j] += (float)(a->scaling * w[j]);
    }
    return 0;
}

/* dx += dxd, through the dropout mask and its scaling. */
static void input_gradient(const hp_adapter *a, const float *dxd, int N, const uint8_t *keep, float *dx)
{
    float survive = keep ? 1 / (1 - a->dropout) : 1;
    for (size_t i = 0; i < (size_t)N * (size_t)a->in; i++)
        dx[i] += keep && !keep[i] ? 0 : dxd[i] * survive;
}

int hp_adapter_backward(const hp_adapter *a, const hp_adapter_cache *c, const float *dh, size_t lddh, int N,
                        const uint8_t *keep, float *dx, hp_err *err)
{
    if (check_batch(a, c, N, err))
        return -1;
    if (N == 0)
        return 0;
    size_t in = (size_t)a->in, out = (size_t)a->out;
    int r = a->rank;
    if (a->method == HP_ADAPTER_LORA) {
        /* dB += scaling dh^T z; dz = scaling dh B; dA += dz^T xd; dxd = dz A */
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->out, r, N, a->scaling, dh, (int)lddh, c->z, r, 1,
                    a->dB, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, a->out, a->scaling, dh, (int)lddh, a->B, r, 0,
                    c->dz, r);
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, a->in, N, 1, c->dz, r, c->xd, a->in, 1, a->dA,
                    a->in);
        if (dx) {
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, a->in, r, 1, c->dz, r, a->A, a->in, 0, c->du,
                        a->in);
            input_gradient(a, c->du, N, keep, dx);
        }
        return 0;
    }
    double K = hp_adapter_curvature(*a->k), s = *a->s, dK = 0, ds = 0;
    double *v = c->scratch, *w = c->scratch + (in > out ? in : out);
    for (size_t t = 0; t < (size_t)N; t++) { /* dy = (scaling dh)^T dlog_o/dy */
        for (size_t j = 0; j < out; j++) {
            v[j] = c->y[t * out + j];
            w[j] = a->scaling * (double)dh[t * lddh + j];
        }
        dK += hp_lorentz_logmap_backward(a->form, v, out, K, w, w);
        for (size_t j = 0; j < out; j++)
            c->dy[t * out + j] = (float)w[j];
    }
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->out, r, N, 1, c->dy, a->out, c->z, r, 1, a->dB, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, a->out, 1, c->dy, a->out, a->B, r, 0, c->dz, r);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, a->in, N, 1, c->dz, r, c->u, a->in, 1, a->dA, a->in);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, a->in, r, 1, c->dz, r, a->A, a->in, 0, c->du, a->in);
    for (size_t t = 0; t < (size_t)N; t++) { /* dv = du^T dexp_o/dv; v = xd / s */
        for (size_t j = 0; j < in; j++) {
            v[j] = c->xd[t * in + j] / s;
            w[j] = c->du[t * in + j];
        }
        dK += hp_lorentz_expmap_backward(a->form, v, in, K, w, w);
        for (size_t j = 0; j < in; j++) {
            ds -= v[j] * w[j] / s;                  /* dv/ds = -v / s */
            c->du[t * in + j] = (float)(w[j] / s);  /* dxd = dv / s */
        }
    }
    *a->dk += (float)(dK * sigmoid(*a->k));
    *a->ds += (float)ds;
    if (dx)
        input_gradient(a, c->du, N, keep, dx);
    return 0;
}

/* One adapted linear module: forward and backward (hyplora/adapter.h). */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/adapter.h"
#include "parallel.h"

/* The per-token loops run on as many threads as OpenBLAS uses for the adapter's products,
 * in chunks of ROWS tokens; sums over tokens are made per chunk and added in chunk order,
 * so a result does not depend on the thread count. */
enum { ROWS = 16 };

typedef struct rows_job rows_job;
typedef int (*rows_fn)(const rows_job *j, size_t t0, size_t t1, double *partial, hp_err *err);
struct rows_job {
    const hp_adapter *a;
    const hp_adapter_cache *c;
    const float *x, *dh;
    float *h, *dx;
    size_t ldh;
    const uint8_t *keep;
    double *partials; /* [chunks][2]: dK and ds of each chunk, or NULL */
    rows_fn fn;
};

static int rows_chunk(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)worker;
    const rows_job *j = ctx;
    return j->fn(j, begin, end, j->partials ? j->partials + 2 * (begin / ROWS) : NULL, err);
}

/* fn over tokens [0, N) in chunks of ROWS; with sums, *dK and *ds get the chunks' sums. */
static int over_rows(rows_job *j, int N, rows_fn fn, double *dK, double *ds, hp_err *err)
{
    size_t chunks = ((size_t)N + ROWS - 1) / ROWS;
    j->fn = fn;
    j->partials = NULL;
    if (dK && !(j->partials = hp_calloc(2 * chunks, sizeof(double), "the adapter's sums", err)))
        return -1;
    int rc = hp_parallel_for(hp_threads_resolve(openblas_get_num_threads(), chunks), (size_t)N, ROWS, rows_chunk, j,
                             err);
    if (dK && rc == 0)
        for (size_t i = 0; i < chunks; i++)
            *dK += j->partials[2 * i], *ds += j->partials[2 * i + 1];
    free(j->partials);
    return rc;
}

/* sum a[i] b[i] over i < n in double, in eight running sums (a fixed order that vectorises). */
static double dot(const float *a, const float *b, size_t n)
{
    double p[8] = {0}, tail = 0;
    size_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++)
            p[k] += (double)a[i + k] * b[i + k];
    for (; i < n; i++)
        tail += (double)a[i] * b[i];
    return ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7])) + tail;
}

/* Row t of x [N, cols] times f[t]. */
static void scale_rows(float *x, const float *f, int N, int cols)
{
    for (size_t t = 0; t < (size_t)N; t++)
        for (size_t k = 0; k < (size_t)cols; k++)
            x[t * (size_t)cols + k] *= f[t];
}

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
        (hyp && !(c->uf = hp_malloc(N * sizeof(float), "the adapter's activations", err))) ||
        (hyp && !(c->y = hp_malloc(N * out * sizeof(float), "the adapter's activations", err))) ||
        (hyp && !(c->dy = hp_malloc(N * out * sizeof(float), "the adapter's gradients", err)))) {
        hp_adapter_cache_free(c);
        return -1;
    }
    return 0;
}

void hp_adapter_cache_free(hp_adapter_cache *c)
{
    free(c->xd), free(c->uf), free(c->z), free(c->y), free(c->dy), free(c->dz), free(c->du);
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

/* Tokens [t0, t1) of the forward pass's input side: xd = dropout(x) scaled, and for HypLoRA
 * u = exp_o(xd / s). */
static int hyp_or_lora_in(const rows_job *j, size_t t0, size_t t1, double *partial, hp_err *err)
{
    (void)partial;
    const hp_adapter *a = j->a;
    const hp_adapter_cache *c = j->c;
    size_t in = (size_t)a->in;
    float survive = j->keep ? 1 / (1 - a->dropout) : 1;
    for (size_t i = t0 * in; i < t1 * in; i++)
        c->xd[i] = j->keep && !j->keep[i] ? 0 : j->x[i] * survive;
    if (a->method != HP_ADAPTER_HYPLORA)
        return 0;
    (void)err;
    double K = hp_adapter_curvature(*a->k), inv_s = 1 / (double)*a->s;
    for (size_t t = t0; t < t1; t++) { /* u = exp_o(v), v = xd / s: a radial scaling of xd */
        const float *xd = c->xd + t * in;
        c->uf[t] = (float)(hp_lorentz_exp_radial(a->form, sqrt(dot(xd, xd, in)) * inv_s, K).g * inv_s);
    }
    return 0;
}

/* Tokens [t0, t1) of HypLoRA's output side: h += scaling log_o(y). */
static int hyp_out(const rows_job *j, size_t t0, size_t t1, double *partial, hp_err *err)
{
    (void)partial, (void)err;
    const hp_adapter *a = j->a;
    size_t out = (size_t)a->out;
    double K = hp_adapter_curvature(*a->k);
    for (size_t t = t0; t < t1; t++) {
        const float *y = j->c->y + t * out;
        hp_lorentz_radial rad = hp_lorentz_log_radial(a->form, sqrt(dot(y, y, out)), K);
        float f = (float)(a->scaling * rad.g);
        float *h = j->h + t * j->ldh;
        for (size_t k = 0; k < out; k++)
            h[k] += f * y[k];
    }
    return 0;
}

int hp_adapter_forward(const hp_adapter *a, const float *x, int N, const uint8_t *keep, hp_adapter_cache *c,
                       float *h, size_t ldh, hp_err *err)
{
    if (check_batch(a, c, N, err))
        return -1;
    int r = a->rank;
    if (N == 0)
        return 0;
    rows_job j = {.a = a, .c = c, .x = x, .h = h, .ldh = ldh, .keep = keep};
    if (over_rows(&j, N, hyp_or_lora_in, NULL, NULL, err))
        return -1;
    if (a->method == HP_ADAPTER_LORA) {
        /* z = xd A^T, h += scaling z B^T */
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, a->in, 1, c->xd, a->in, a->A, a->in, 0, c->z, r);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, a->out, r, a->scaling, c->z, r, a->B, r, 1, h,
                    (int)ldh);
        return 0;
    }
    /* z = u A^T = diag(uf) (xd A^T) */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, r, a->in, 1, c->xd, a->in, a->A, a->in, 0, c->z, r);
    scale_rows(c->z, c->uf, N, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, N, a->out, r, 1, c->z, r, a->B, r, 0, c->y, a->out);
    return over_rows(&j, N, hyp_out, NULL, NULL, err);
}

/* Tokens [t0, t1): dx += dxd (c->du), through the dropout mask and its scaling. */
static int input_rows(const rows_job *j, size_t t0, size_t t1, double *partial, hp_err *err)
{
    (void)partial, (void)err;
    const hp_adapter *a = j->a;
    const float *dxd = j->c->du;
    float survive = j->keep ? 1 / (1 - a->dropout) : 1;
    for (size_t i = t0 * (size_t)a->in; i < t1 * (size_t)a->in; i++)
        j->dx[i] += j->keep && !j->keep[i] ? 0 : dxd[i] * survive;
    return 0;
}

static int input_gradient(const hp_adapter *a, const hp_adapter_cache *c, int N, const uint8_t *keep, float *dx,
                          hp_err *err)
{
    rows_job j = {.a = a, .c = c, .keep = keep, .dx = dx};
    return over_rows(&j, N, input_rows, NULL, NULL, err);
}

/* Tokens [t0, t1) of HypLoRA's backward output side: dy = (scaling dh)^T dlog_o/dy; dK into
 * partial[0]. */
static int hyp_back_out(const rows_job *j, size_t t0, size_t t1, double *partial, hp_err *err)
{
    (void)err;
    const hp_adapter *a = j->a;
    const hp_adapter_cache *c = j->c;
    size_t out = (size_t)a->out;
    double K = hp_adapter_curvature(*a->k), dK = 0;
    for (size_t t = t0; t < t1; t++) { /* dout = scaling dh; dy = g dout + gn (y . dout) y */
        const float *y = c->y + t * out, *dh = j->dh + t * j->ldh;
        double yd = a->scaling * dot(y, dh, out);
        hp_lorentz_radial rad = hp_lorentz_log_radial(a->form, sqrt(dot(y, y, out)), K);
        float f = (float)(a->scaling * rad.g), g = (float)(rad.gn * yd);
        for (size_t k = 0; k < out; k++)
            c->dy[t * out + k] = f * dh[k] + g * y[k];
        dK += yd * rad.gK;
    }
    partial[0] = dK;
    return 0;
}

/* Tokens [t0, t1) of HypLoRA's backward input side: dv = du^T dexp_o/dv with v = xd / s,
 * dxd = dv / s into du; dK and ds into partial. */
static int hyp_back_in(const rows_job *j, size_t t0, size_t t1, double *partial, hp_err *err)
{
    (void)err;
    const hp_adapter *a = j->a;
    const hp_adapter_cache *c = j->c;
    size_t in = (size_t)a->in;
    double K = hp_adapter_curvature(*a->k), inv_s = 1 / (double)*a->s, dK = 0, ds = 0;
    for (size_t t = t0; t < t1; t++) {
        /* with v = xd / s: dv = g du + gn (v . du) v, and dxd = dv / s; ds = -(v . dv) / s,
         * where v . dv = (g + gn |v|^2) (v . du) */
        const float *xd = c->xd + t * in;
        float *du = c->du + t * in;
        double vv = dot(xd, xd, in) * inv_s * inv_s, vdu = dot(xd, du, in) * inv_s;
        hp_lorentz_radial rad = hp_lorentz_exp_radial(a->form, sqrt(vv), K);
        float f = (float)(rad.g * inv_s), g = (float)(rad.gn * vdu * inv_s * inv_s);
        for (size_t k = 0; k < in; k++)
            du[k] = f * du[k] + g * xd[k];
        dK += vdu * rad.gK;
        ds -= (rad.g + rad.gn * vv) * vdu * inv_s;
    }
    partial[0] = dK, partial[1] = ds;
    return 0;
}

int hp_adapter_backward(const hp_adapter *a, const hp_adapter_cache *c, const float *dh, size_t lddh, int N,
                        const uint8_t *keep, float *dx, hp_err *err)
{
    if (check_batch(a, c, N, err))
        return -1;
    if (N == 0)
        return 0;
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
            return input_gradient(a, c, N, keep, dx, err);
        }
        return 0;
    }
    double dK = 0, ds = 0;
    rows_job j = {.a = a, .c = c, .dh = dh, .ldh = lddh, .keep = keep, .dx = dx};
    if (over_rows(&j, N, hyp_back_out, &dK, &ds, err))
        return -1;
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, a->out, r, N, 1, c->dy, a->out, c->z, r, 1, a->dB, r);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, r, a->out, 1, c->dy, a->out, a->B, r, 0, c->dz, r);
    /* du = dz A; dA += dz^T u = (diag(uf) dz)^T xd */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, N, a->in, r, 1, c->dz, r, a->A, a->in, 0, c->du, a->in);
    scale_rows(c->dz, c->uf, N, r);
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, r, a->in, N, 1, c->dz, r, c->xd, a->in, 1, a->dA, a->in);
    if (over_rows(&j, N, hyp_back_in, &dK, &ds, err))
        return -1;
    *a->dk += (float)(dK * sigmoid(*a->k));
    *a->ds += (float)ds;
    if (dx)
        return input_gradient(a, c, N, keep, dx, err);
    return 0;
}

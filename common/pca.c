/* Principal components by randomized subspace iteration (docs/pca.md).
 *
 * C = Xc^T Xc / (n-1) with Xc = X - 1 mu^T is never formed in memory. Each pass over the
 * rows goes block by block: the block minus a float centre c goes into a cache-resident
 * scratch Zb = Xb - 1 c^T, and with a float32 panel Q:
 *     Yb = Zb Q                      single-precision sgemm
 *     W += Zb^T Yb,  s += 1^T Yb,  G += Yb^T Yb     (the small sums in double)
 * After the pass, exactly for any centre c (Zc's rows differ from Xc's by mu - c):
 *     Xc^T Xc Q = W - (mu - c) s^T,  Q^T Xc^T Xc Q = G - s s^T / n.
 * So the first pass can use a sampled centre while it computes the exact mean, and every
 * pass yields both the Rayleigh-Ritz matrix of its panel and the next power iterate: the
 * fit stops as soon as the Ritz residuals bound every angle below PCA_TOL. */
#include <cblas.h>
#include <lapacke.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/pca.h"
#include "hyplora/rng.h"
#include "parallel.h"

enum {
    PCA_BLOCK = 256,     /* rows per block: 4 MB at d = 4096, stays in cache for the 2nd product */
    PCA_SAMPLE = 256,    /* rows averaged for the first pass's provisional centre */
    PCA_CHUNKS = 32,     /* fixed row chunks (own accumulators): up to 32 workers */
};
static const double PCA_TOL = 1e-7; /* stop when every sin(angle) bound is below this */

void hp_pca_options_init(hp_pca_options *opt)
{
    opt->n_components = 2;
    opt->oversample = 8;
    opt->iterations = 12;
    opt->seed = 0;
    opt->threads = 0;
}

void hp_pca_free(hp_pca *p)
{
    if (!p)
        return;
    free(p->mean);
    free(p->components);
    free(p->variance);
    free(p->explained_ratio);
    memset(p, 0, sizeof *p);
}

/* ---- one pass over the rows ---- */

typedef struct pass {
    const float *x;
    size_t n, d;
    int l;
    const float *q;   /* d x l panel */
    const float *c;   /* d: the centre subtracted through c^T Q */
    bool want_moments;
    double *m1, *m2;  /* d: sums of (x - c) and (x - c)^2, when want_moments */
    double *w;        /* d x l out: X^T Y */
    double *g;        /* l x l out: Y^T Y */
    double *s;        /* l out: 1^T Y */
    /* Fixed chunks of rows, each summed into its own accumulators and reduced in order: the
     * result does not depend on the thread count or on which worker took which chunk. */
    size_t chunk_rows;
    int n_chunks;
    double *acc;      /* n_chunks x acc_len: W, G, s, m1, m2 of each chunk */
    size_t acc_len;
    float *scratch;   /* per worker: PCA_BLOCK x d centred rows, PCA_BLOCK x l, d x l */
} pass;

/* The rows of a block minus a float centre, into cache-resident scratch. The products then
 * see the centred values: with the mean 100x the spread, X Q - 1 (c^T Q) cancels away
 * 4e-5 of a projection and 1e-5 of a component's angle; centred first, about 1e-7. */
static void centre_rows(const float *restrict x, size_t m, size_t d, const float *restrict c,
                        float *restrict out)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < d; j++)
            out[i * d + j] = x[i * d + j] - c[j];
}

/* Column sums of (x - c) and (x - c)^2 in double: the exact mean and the trace without the
 * cancellation of sum(x^2) - n mu^2 when the mean is large. Cloned for AVX2 since the
 * library is built for baseline x86-64 and this is the only scalar loop over the matrix. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void moments_block(const float *restrict x, size_t m, size_t d, const float *restrict c,
                          double *restrict m1, double *restrict m2)
{
    for (size_t i = 0; i < m; i++) {
        const float *restrict row = x + i * d;
        for (size_t j = 0; j < d; j++) {
            double t = (double)row[j] - (double)c[j]; /* exact: not the float-rounded Zb */
            m1[j] += t;
            m2[j] += t * t;
        }
    }
}

/* s += 1^T Yb and G += Yb^T Yb (upper triangle) in double. */
static void block_gram(const float *yb, size_t m, int l, double *s, double *g)
{
    for (size_t i = 0; i < m; i++) {
        const float *y = yb + i * (size_t)l;
        for (int a = 0; a < l; a++) {
            double ya = y[a];
            s[a] += ya;
            for (int b = a; b < l; b++)
                g[a * l + b] += ya * (double)y[b];
        }
    }
}

/* One chunk of rows, block by block: the block is still in cache for its second product. */
static int pass_chunks(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    pass *p = ctx;
    size_t d = p->d, l = (size_t)p->l;
    float *xb = p->scratch + (size_t)worker * (PCA_BLOCK * (d + l) + d * l);
    float *yb = xb + PCA_BLOCK * d, *wb = yb + PCA_BLOCK * l;
    for (size_t ch = begin; ch < end; ch++) {
        double *w = p->acc + ch * p->acc_len, *g = w + d * l, *s = g + l * l, *m1 = s + l, *m2 = m1 + d;
        memset(w, 0, p->acc_len * sizeof *w);
        size_t r_end = (ch + 1) * p->chunk_rows < p->n ? (ch + 1) * p->chunk_rows : p->n;
        for (size_t r = ch * p->chunk_rows; r < r_end; r += PCA_BLOCK) {
            size_t m = r_end - r < PCA_BLOCK ? r_end - r : PCA_BLOCK;
            centre_rows(p->x + r * d, m, d, p->c, xb);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)l, (int)d, 1.0f,
                        xb, (int)d, p->q, (int)l, 0.0f, yb, (int)l);
            block_gram(yb, m, (int)l, s, g);
            cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)d, (int)l, (int)m, 1.0f, xb,
                        (int)d, yb, (int)l, 0.0f, wb, (int)l);
            for (size_t i = 0; i < d * l; i++)
                w[i] += wb[i];
            if (p->want_moments)
                moments_block(p->x + r * d, m, d, p->c, m1, m2);
        }
    }
    return 0;
}

static int run_pass(pass *p, int workers, hp_err *err)
{
    size_t d = p->d, l = (size_t)p->l;
    if (hp_parallel_for(workers, (size_t)p->n_chunks, 1, pass_chunks, p, err) != 0)
        return -1;
    memset(p->w, 0, d * l * sizeof *p->w);
    memset(p->g, 0, l * l * sizeof *p->g);
    memset(p->s, 0, l * sizeof *p->s);
    for (int ch = 0; ch < p->n_chunks; ch++) {
        const double *w = p->acc + (size_t)ch * p->acc_len, *g = w + d * l, *s = g + l * l,
                     *m1 = s + l, *m2 = m1 + d;
        for (size_t i = 0; i < d * l; i++)
            p->w[i] += w[i];
        for (size_t i = 0; i < l * l; i++)
            p->g[i] += g[i];
        for (size_t i = 0; i < l; i++)
            p->s[i] += s[i];
        if (p->want_moments)
            for (size_t j = 0; j < d; j++) {
                p->m1[j] += m1[j];
                p->m2[j] += m2[j];
            }
    }
    for (size_t a = 0; a < l; a++)
        for (size_t b = 0; b < a; b++)
            p->g[a * l + b] = p->g[b * l + a];
    return 0;
}

/* The exact corrections of the header comment: W -> Xc^T Xc Q, G -> Q^T Xc^T Xc Q. */
static void correct_pass(pass *p, const double *mu, const float *c)
{
    size_t d = p->d;
    int l = p->l;
    for (size_t j = 0; j < d; j++)
        for (int a = 0; a < l; a++)
            p->w[j * l + a] -= (mu[j] - (double)c[j]) * p->s[a];
    for (int a = 0; a < l; a++)
        for (int b = 0; b < l; b++)
            p->g[a * l + b] -= p->s[a] * p->s[b] / (double)p->n;
}

/* ---- small dense steps ---- */

/* Orthonormal basis of the columns of the d x l row-major a, in place (Householder QR:
 * stable even when W's columns differ by many orders of magnitude or are dependent). */
static int orthonormalise(double *a, size_t d, int l, hp_err *err)
{
    double tau[l];
    lapack_int info = LAPACKE_dgeqrf(LAPACK_ROW_MAJOR, (lapack_int)d, l, a, l, tau);
    if (info == 0)
        info = LAPACKE_dorgqr(LAPACK_ROW_MAJOR, (lapack_int)d, l, l, a, l, tau);
    return info == 0 ? 0 : hp_fail(err, "pca: QR of the %zu x %d panel failed (LAPACK info %d)", d, l, (int)info);
}

static void round_panel(const double *a, float *f, size_t count)
{
    for (size_t i = 0; i < count; i++)
        f[i] = (float)a[i];
}

/* Rounds the panel to float for the pass and widens it back, so that the double panel is
 * exactly the one the products used. */
static void round_panel_inplace(double *a, float *f, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        f[i] = (float)a[i];
        a[i] = f[i];
    }
}

typedef struct ritz {
    double *theta; /* l Ritz values of Xc^T Xc, decreasing */
    double *v;     /* l x l: column a is the coefficient vector of Ritz pair a */
    double *u;     /* d x l: Ritz vectors Q v */
    double *wv;    /* d x l: Xc^T Xc Q v, for the residuals and the next panel */
} ritz;

/* Rayleigh-Ritz on the float panel actually used (qd holds it exactly, widened): G v =
 * theta M v with M = Q^T Q, so the float rounding of Q costs nothing; LAPACK's dsygvd is
 * dsyevd after a Cholesky reduction. a and mm are l x l scratch. */
static int rayleigh_ritz(const pass *p, const double *qd, double *a, double *mm, ritz *rz,
                         hp_err *err)
{
    size_t d = p->d;
    int l = p->l;
    memcpy(a, p->g, (size_t)l * l * sizeof *a);
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, l, (int)d, 1.0, qd, l, qd, l, 0.0, mm, l);
    lapack_int info = LAPACKE_dsygvd(LAPACK_ROW_MAJOR, 1, 'V', 'U', l, a, l, mm, l, rz->theta);
    if (info != 0)
        return hp_fail(err, "pca: the %d x %d Rayleigh-Ritz problem failed (LAPACK info %d)", l, l, (int)info);
    for (int c = 0; c < l / 2; c++) { /* LAPACK orders them increasing: reverse */
        double t = rz->theta[c];
        rz->theta[c] = rz->theta[l - 1 - c];
        rz->theta[l - 1 - c] = t;
    }
    for (int i = 0; i < l; i++)
        for (int c = 0; c < l; c++)
            rz->v[i * l + c] = a[i * l + (l - 1 - c)];
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, l, l, 1.0, qd, l, rz->v, l, 0.0, rz->u, l);
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, l, l, 1.0, p->w, l, rz->v, l, 0.0, rz->wv, l);
    return 0;
}

/* Largest over the top k of ||C u - theta u|| / gap: by Davis-Kahan a bound on the sine of
 * the angle to the true eigenvector (the gap taken to the neighbouring Ritz values). */
static double angle_bound(const ritz *rz, size_t d, int l, int k)
{
    double worst = 0, scale = rz->theta[0] > 0 ? rz->theta[0] : 1;
    for (int c = 0; c < k; c++) {
        double r2 = 0;
        for (size_t j = 0; j < d; j++) {
            double e = rz->wv[j * l + c] - rz->theta[c] * rz->u[j * l + c];
            r2 += e * e;
        }
        double gap = INFINITY;
        if (c > 0)
            gap = fmin(gap, rz->theta[c - 1] - rz->theta[c]);
        if (c + 1 < l)
            gap = fmin(gap, rz->theta[c] - rz->theta[c + 1]);
        double r = sqrt(r2);
        if (r <= 1e-15 * scale) /* an exactly captured (or null) direction */
            continue;
        double b = gap > 0 ? r / gap : INFINITY;
        worst = fmax(worst, b);
    }
    return worst;
}

/* ---- input checks ---- */

static int check_args(const float *rows, size_t n, size_t dim, int k, const hp_pca_options *o,
                      hp_err *err)
{
    if (!rows)
        return hp_fail(err, "pca: no rows given");
    if (n < 2)
        return hp_fail(err, "pca: %zu row(s): need at least 2 to estimate a covariance", n);
    if (dim == 0)
        return hp_fail(err, "pca: dimension 0: need at least one column");
    if (dim > INT_MAX / 64 || n > (size_t)1 << 40)
        return hp_fail(err, "pca: %zu x %zu is beyond the sizes supported (dim up to %d)", n, dim, INT_MAX / 64);
    size_t most = n < dim ? n : dim;
    if (k < 1 || (size_t)k > most)
        return hp_fail(err, "pca: %d components asked of a %zu x %zu matrix: need 1 to %zu", k, n, dim, most);
    if (o->oversample < 0 || o->oversample > 1000)
        return hp_fail(err, "pca: oversample %d: need 0 to 1000", o->oversample);
    if (o->iterations < 1 || o->iterations > 1000)
        return hp_fail(err, "pca: iterations %d: need 1 to 1000", o->iterations);
    if (o->threads < 0)
        return hp_fail(err, "pca: threads %d: need 0 (all cores) or more", o->threads);
    return 0;
}

/* Called only when the first pass's sums are not finite: names the first bad value. */
static int report_nonfinite(const float *rows, size_t n, size_t dim, hp_err *err)
{
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < dim; j++)
            if (!isfinite(rows[i * dim + j]))
                return hp_fail(err, "pca: row %zu column %zu is %s: every value must be finite", i, j,
                               isnan(rows[i * dim + j]) ? "NaN" : "infinite");
    return hp_fail(err, "pca: the column sums overflowed: values too large");
}

static bool all_finite(const double *a, size_t count)
{
    for (size_t i = 0; i < count; i++)
        if (!isfinite(a[i]))
            return false;
    return true;
}

/* ---- the fit ---- */

typedef struct work {
    double *qd, *w, *g, *s, *m1, *m2, *mu;
    double *theta, *v, *u, *wv, *a, *mm;
    double *acc;
    float *qf, *c, *c_used, *scratch;
} work;

static void work_free(work *w)
{
    double *ds[] = {w->qd, w->w, w->g, w->s, w->m1, w->m2, w->mu, w->theta, w->v, w->u, w->wv,
                   w->a, w->mm};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++)
        free(ds[i]);
    free(w->acc);
    free(w->qf);
    free(w->c);
    free(w->c_used);
    free(w->scratch);
}

static int work_alloc(work *w, size_t d, int l, const pass *p, int workers, hp_err *err)
{
    size_t dl = d * l, ll = (size_t)l * l;
    memset(w, 0, sizeof *w);
    if (!(w->qd = hp_malloc(dl * sizeof(double), "pca panel", err)) ||
        !(w->w = hp_malloc(dl * sizeof(double), "pca iterate", err)) ||
        !(w->u = hp_malloc(dl * sizeof(double), "pca Ritz vectors", err)) ||
        !(w->wv = hp_malloc(dl * sizeof(double), "pca Ritz images", err)) ||
        !(w->g = hp_malloc(ll * sizeof(double), "pca Gram", err)) ||
        !(w->v = hp_malloc(ll * sizeof(double), "pca Ritz coefficients", err)) ||
        !(w->a = hp_malloc(ll * sizeof(double), "pca Rayleigh-Ritz matrix", err)) ||
        !(w->mm = hp_malloc(ll * sizeof(double), "pca panel Gram", err)) ||
        !(w->theta = hp_malloc(l * sizeof(double), "pca Ritz values", err)) ||
        !(w->s = hp_malloc(l * sizeof(double), "pca sums", err)) ||
        !(w->m1 = hp_calloc(d, sizeof(double), "pca column sums", err)) ||
        !(w->m2 = hp_calloc(d, sizeof(double), "pca column squares", err)) ||
        !(w->mu = hp_malloc(d * sizeof(double), "pca mean", err)) ||
        !(w->qf = hp_malloc(dl * sizeof(float), "pca float panel", err)) ||
        !(w->c = hp_malloc(d * sizeof(float), "pca centre", err)) ||
        !(w->c_used = hp_malloc(d * sizeof(float), "pca centre", err)) ||
        !(w->acc = hp_malloc((size_t)p->n_chunks * p->acc_len * sizeof(double), "pca chunk sums", err)) ||
        !(w->scratch = hp_malloc((size_t)workers * (PCA_BLOCK * (d + l) + dl) * sizeof(float),
                                 "pca block products", err))) {
        work_free(w);
        return -1;
    }
    return 0;
}

/* The first pass's centre: the mean of PCA_SAMPLE evenly spaced rows. It only has to be
 * near the mean (so the first pass's float products are not dominated by it); the exact
 * mean comes out of that pass. */
static void sample_centre(const float *x, size_t n, size_t d, double *acc, float *c)
{
    size_t s = n < PCA_SAMPLE ? n : PCA_SAMPLE;
    memset(acc, 0, d * sizeof *acc);
    for (size_t i = 0; i < s; i++) {
        const float *row = x + (i * n / s) * d;
        for (size_t j = 0; j < d; j++)
            acc[j] += row[j];
    }
    for (size_t j = 0; j < d; j++)
        c[j] = (float)(acc[j] / (double)s);
}

static void gaussian_panel(double *q, size_t count, uint64_t seed)
{
    hp_rng rng;
    hp_rng_seed(&rng, seed);
    for (size_t i = 0; i < count; i++)
        q[i] = hp_rng_normal(&rng);
}

/* Mean and trace of the covariance from the first pass's moments about c. */
static double finish_moments(work *w, size_t n, size_t d)
{
    double trace = 0;
    for (size_t j = 0; j < d; j++) {
        w->mu[j] = (double)w->c[j] + w->m1[j] / (double)n;
        double ss = w->m2[j] - w->m1[j] * w->m1[j] / (double)n;
        trace += ss > 0 ? ss : 0;
    }
    return trace / (double)(n - 1);
}

static int fill_result(const work *w, size_t n, size_t d, int k, int l, double total, hp_pca *out,
                       hp_err *err)
{
    if (!(out->mean = hp_malloc(d * sizeof(double), "pca mean", err)) ||
        !(out->components = hp_malloc((size_t)k * d * sizeof(double), "pca components", err)) ||
        !(out->variance = hp_malloc(k * sizeof(double), "pca variances", err)) ||
        !(out->explained_ratio = hp_malloc(k * sizeof(double), "pca ratios", err)))
        return -1;
    memcpy(out->mean, w->mu, d * sizeof(double));
    out->k = k;
    out->dim = d;
    out->total_variance = total;
    for (int c = 0; c < k; c++) {
        double *comp = out->components + (size_t)c * d, norm = 0, big = 0;
        for (size_t j = 0; j < d; j++) {
            comp[j] = w->u[j * l + c];
            norm += comp[j] * comp[j];
            if (fabs(comp[j]) > fabs(big))
                big = comp[j];
        }
        /* unit length exactly (the Ritz vector is unit in exact arithmetic) and a fixed sign */
        double f = (big < 0 ? -1.0 : 1.0) / sqrt(norm);
        for (size_t j = 0; j < d; j++)
            comp[j] *= f;
        double var = w->theta[c] / (double)(n - 1);
        out->variance[c] = var > 0 ? var : 0;
        out->explained_ratio[c] = total > 0 ? out->variance[c] / total : 0;
    }
    return 0;
}

static int fit(pass *p, int workers, int k, const hp_pca_options *o, work *w, hp_pca *out,
               hp_err *err)
{
    const float *x = p->x;
    size_t n = p->n, d = p->d;
    int l = p->l;
    gaussian_panel(w->qd, d * l, o->seed);
    if (orthonormalise(w->qd, d, l, err) != 0)
        return -1;
    sample_centre(x, n, d, w->mu, w->c);
    *p = (pass){.x = x, .n = n, .d = d, .l = l, .q = w->qf, .c = w->c,
                .want_moments = true, .m1 = w->m1, .m2 = w->m2, .w = w->w, .g = w->g, .s = w->s,
                .chunk_rows = p->chunk_rows, .n_chunks = p->n_chunks, .acc = w->acc,
                .acc_len = p->acc_len, .scratch = w->scratch};
    ritz rz = {.theta = w->theta, .v = w->v, .u = w->u, .wv = w->wv};
    double total = 0, bound = INFINITY, prev = INFINITY;
    int passes = 0;
    while (passes < o->iterations) {
        round_panel_inplace(w->qd, w->qf, d * l);
        memcpy(w->c_used, w->c, d * sizeof(float));
        if (run_pass(p, workers, err) != 0)
            return -1;
        passes++;
        if (p->want_moments) {
            if (!all_finite(w->m1, d) || !all_finite(w->m2, d))
                return report_nonfinite(x, n, d, err);
            total = finish_moments(w, n, d);
            round_panel(w->mu, w->c, d); /* later passes centre on the exact mean */
            p->want_moments = false;
        }
        correct_pass(p, w->mu, w->c_used);
        if (!all_finite(w->g, (size_t)l * l) || !all_finite(w->w, d * l))
            return hp_fail(err, "pca: float32 products overflowed: values too large (about 1e19 or more)");
        if (rayleigh_ritz(p, w->qd, w->a, w->mm, &rz, err) != 0)
            return -1;
        prev = bound;
        bound = angle_bound(&rz, d, l, k);
        /* Done when converged, or at the float32 rounding floor (no longer improving). */
        if (bound < PCA_TOL || (passes >= 3 && bound < 1e-3 && bound > 0.5 * prev))
            break;
        /* The next panel spans Xc^T Xc Q, ordered by Ritz value so QR keeps the leading
         * directions first. */
        memcpy(w->qd, w->wv, d * l * sizeof(double));
        if (orthonormalise(w->qd, d, l, err) != 0)
            return -1;
    }
    out->passes = passes;
    out->angle_bound = bound;
    return fill_result(w, n, d, k, l, total, out, err);
}

int hp_pca_fit(const float *rows, size_t n, size_t dim, const hp_pca_options *opt, hp_pca *out,
               hp_err *err)
{
    hp_pca_options defaults;
    hp_pca_options_init(&defaults);
    const hp_pca_options *o = opt ? opt : &defaults;
    memset(out, 0, sizeof *out);
    if (check_args(rows, n, dim, o->n_components, o, err) != 0)
        return -1;
    int k = o->n_components;
    int l = k + o->oversample;
    if ((size_t)l > dim)
        l = (int)dim;
    pass p = {.x = rows, .n = n, .d = dim, .l = l};
    size_t blocks = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    p.n_chunks = blocks < PCA_CHUNKS ? (int)blocks : PCA_CHUNKS;
    p.chunk_rows = (blocks + p.n_chunks - 1) / p.n_chunks * PCA_BLOCK;
    p.n_chunks = (int)((n + p.chunk_rows - 1) / p.chunk_rows);
    p.acc_len = dim * l + (size_t)l * l + l + 2 * dim;
    int workers = hp_threads_resolve(o->threads, (size_t)p.n_chunks);
    work w;
    if (work_alloc(&w, dim, l, &p, workers, err) != 0)
        return -1;
    /* Our workers take fixed chunks and OpenBLAS runs one thread inside each call: its own
     * threading changes float summation with the thread count (1 and 2 threads differed by
     * 7e-9) and pays a synchronisation per small block. The setting is process-wide: put
     * back afterwards. */
    int before = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int rc = fit(&p, workers, k, o, &w, out, err);
    openblas_set_num_threads(before);
    work_free(&w);
    if (rc != 0)
        hp_pca_free(out);
    return rc;
}

/* ---- projection ---- */

typedef struct proj {
    const float *x;
    size_t n, d;
    int k;
    const float *v;     /* d x k panel: the components rounded to float */
    const float *mu;    /* d: the mean rounded to float */
    const double *off;  /* k: (mean - mu)^T v, the rounding of the mean, in double */
    double *coords;
    float *scratch;     /* per worker: PROJ_BLOCK x d centred rows, then PROJ_BLOCK x k */
} proj;

enum { PROJ_BLOCK = 64 }; /* 1 MB of centred rows at d = 4096: stays in L2 */

static int project_blocks(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    proj *p = ctx;
    size_t k = (size_t)p->k, d = p->d;
    float *xb = p->scratch + (size_t)worker * PROJ_BLOCK * (d + k), *yb = xb + PROJ_BLOCK * d;
    for (size_t b = begin; b < end; b++) {
        size_t r = b * PROJ_BLOCK, m = p->n - r < PROJ_BLOCK ? p->n - r : PROJ_BLOCK;
        centre_rows(p->x + r * d, m, d, p->mu, xb);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)m, (int)k, (int)d, 1.0f, xb,
                    (int)d, p->v, (int)k, 0.0f, yb, (int)k);
        for (size_t i = 0; i < m * k; i++)
            p->coords[r * k + i] = (double)yb[i] - p->off[i % k];
    }
    return 0;
}

int hp_pca_project(const hp_pca *p, const float *rows, size_t n, double *coords, hp_err *err)
{
    if (!p || !p->components || p->k < 1 || p->dim == 0)
        return hp_fail(err, "pca: project needs a fitted model");
    if (n == 0)
        return 0;
    if (!rows || !coords)
        return hp_fail(err, "pca: project needs rows and room for the coordinates");
    size_t d = p->dim, k = (size_t)p->k, blocks = (n + PROJ_BLOCK - 1) / PROJ_BLOCK;
    int workers = hp_threads_resolve(0, blocks);
    float *v = hp_malloc((d * k + d) * sizeof(float), "pca projection panel", err);
    float *scratch = v ? hp_malloc((size_t)workers * PROJ_BLOCK * (d + k) * sizeof(float),
                                   "pca projection block", err) : NULL;
    double *off = scratch ? hp_calloc(k, sizeof(double), "pca projection offsets", err) : NULL;
    if (!off) {
        free(v);
        free(scratch);
        return -1;
    }
    /* coords = (X - 1 mu_f^T) v - 1 ((mean - mu_f)^T v), v the rounded components */
    float *mu = v + d * k;
    for (size_t j = 0; j < d; j++)
        mu[j] = (float)p->mean[j];
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++) {
            v[j * k + c] = (float)p->components[c * d + j];
            off[c] += (p->mean[j] - (double)mu[j]) * v[j * k + c];
        }
    proj pj = {.x = rows, .n = n, .d = d, .k = (int)k, .v = v, .mu = mu, .off = off,
               .coords = coords, .scratch = scratch};
    int before = openblas_get_num_threads();
    openblas_set_num_threads(1);
    int rc = hp_parallel_for(workers, blocks, 16, project_blocks, &pj, err);
    openblas_set_num_threads(before);
    free(off);
    free(scratch);
    free(v);
    return rc;
}

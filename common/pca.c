/* Principal components by randomized block Krylov iteration (docs/pca.md).
 *
 * C = Xc^T Xc / (n-1) with Xc = X - 1 mu^T is never formed in memory. Each pass over the
 * rows applies C to one d x l panel Q, block by block: the block minus a float centre c goes
 * into a cache-resident scratch Zb = Xb - 1 c^T, and with the panel rounded to float
 *     Yb = Zb Q,   W += Zb^T Yb     (the skinny products of pca_kernel.c, float within a
 *                                    block, double across blocks)
 *     s += 1^T Yb, G += Yb^T Yb     (double)
 * After the pass, exactly for any centre c (Zb's rows differ from Xc's by mu - c):
 *     Xc^T Xc Q = W - (mu - c) s^T,  Q^T Xc^T Xc Q = G - s s^T / n.
 * So the first pass can use a sampled centre while it computes the exact mean. The panels
 * of the passes are kept with their images C Q (a few d x l panels): Rayleigh-Ritz over all
 * of them needs no further pass, converges about twice as fast per pass as Rayleigh-Ritz
 * over the last panel alone, and each Ritz pair's residual is exact, so the fit stops as
 * soon as the residuals bound every angle below the tolerance. */
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
#include "pca_kernel.h"

enum {
    PCA_BLOCK = 16,   /* rows per block: 256 KB at d = 4096, in L2 beside the float panel */
    PCA_SAMPLE = 256, /* rows averaged for the first pass's provisional centre */
    PCA_CHUNKS = 32,  /* fixed row chunks (own accumulators): up to 32 workers */
    PCA_PANELS = 4,   /* panels kept for Rayleigh-Ritz before a restart (40 vectors at l 10) */
};

void hp_pca_options_init(hp_pca_options *opt)
{
    opt->n_components = 2;
    opt->oversample = 8;
    opt->iterations = 12;
    opt->tolerance = 1e-7;
    opt->project = 0;
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
    free(p->coords);
    memset(p, 0, sizeof *p);
}

static size_t round_up(size_t a, size_t b)
{
    return (a + b - 1) / b * b;
}

/* ---- one pass over the rows ---- */

typedef struct pass {
    const float *x;
    size_t n, d;
    size_t dp, lp;    /* d and l padded for the kernels (pca_kernel.h) */
    size_t ld;        /* row stride of the block, the float panel and the accumulators */
    int l;
    const pca_kernels *kern;
    const float *qt;  /* lp x ld: the float panel, one vector a row, zero padding */
    const float *c;   /* d: the centre subtracted in the scratch */
    bool want_moments;
    double *m1, *m2;  /* d: sums of (x - c) and (x - c)^2, when want_moments */
    double *w;        /* d x l out: Z^T Y */
    double *g;        /* l x l out: Y^T Y */
    double *s;        /* l out: 1^T Y */
    double *y;        /* NULL, or n x l out: Y itself, for the coordinates */
    /* Fixed chunks of rows, each summed into its own accumulators and reduced in order: the
     * result does not depend on the thread count or on which worker took which chunk. */
    size_t chunk_rows;
    int n_chunks;
    double *acc;      /* n_chunks x acc_len: W^T (lp x ld), G, s, m1, m2 of each chunk */
    size_t acc_len;
    float *scratch;   /* per worker scratch_len floats: PCA_BLOCK x ld centred rows, PCA_BLOCK x lp */
    size_t scratch_len;
} pass;

/* The rows of a block minus a float centre, into cache-resident scratch of row stride ld
 * (the padding stays zero). The products then see the centred values: with the mean 100x
 * the spread, X Q - 1 (c^T Q) cancels away 4e-5 of a projection and 1e-5 of a component's
 * angle; centred first, about 1e-7. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
__attribute__((target_clones("avx2", "default")))
#endif
static void centre_rows(const float *restrict x, size_t m, size_t d, size_t ld,
                        const float *restrict c, float *restrict out)
{
    for (size_t i = 0; i < m; i++)
        for (size_t j = 0; j < d; j++)
            out[i * ld + j] = x[i * d + j] - c[j];
}

/* Column sums of (x - c) and (x - c)^2 in double: the exact mean and the trace without the
 * cancellation of sum(x^2) - n mu^2 when the mean is large. Cloned for AVX2 since the
 * library is built for baseline x86-64. */
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

/* s += 1^T Yb and G += Yb^T Yb (upper triangle) in double; Yb has row stride lp. */
static void block_gram(const float *yb, size_t m, int l, size_t lp, double *s, double *g)
{
    for (size_t i = 0; i < m; i++) {
        const float *y = yb + i * lp;
        for (int a = 0; a < l; a++) {
            double ya = y[a];
            s[a] += ya;
            for (int b = a; b < l; b++)
                g[a * l + b] += ya * (double)y[b];
        }
    }
}

static void keep_rows(const float *yb, size_t m, int l, size_t lp, double *y)
{
    for (size_t i = 0; i < m; i++)
        for (int a = 0; a < l; a++)
            y[i * (size_t)l + a] = yb[i * lp + a];
}

/* One chunk of rows, block by block: the block is still in cache for its second product. */
static int pass_chunks(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    pass *p = ctx;
    size_t d = p->d, dp = p->dp, ld = p->ld, lp = p->lp;
    int l = p->l;
    float *xb = p->scratch + (size_t)worker * p->scratch_len, *yb = xb + PCA_BLOCK * ld;
    for (size_t ch = begin; ch < end; ch++) {
        double *wt = p->acc + ch * p->acc_len, *g = wt + lp * ld, *s = g + (size_t)l * l,
               *m1 = s + l, *m2 = m1 + d;
        memset(wt, 0, p->acc_len * sizeof *wt);
        size_t r_end = (ch + 1) * p->chunk_rows < p->n ? (ch + 1) * p->chunk_rows : p->n;
        for (size_t r = ch * p->chunk_rows; r < r_end; r += PCA_BLOCK) {
            size_t m = r_end - r < PCA_BLOCK ? r_end - r : PCA_BLOCK;
            centre_rows(p->x + r * d, m, d, ld, p->c, xb);
            p->kern->apply(xb, m, dp, ld, p->qt, lp, yb);
            block_gram(yb, m, l, lp, s, g);
            p->kern->accumulate(xb, m, dp, ld, yb, lp, wt);
            if (p->y)
                keep_rows(yb, m, l, lp, p->y + r * (size_t)l);
            if (p->want_moments)
                moments_block(p->x + r * d, m, d, p->c, m1, m2);
        }
    }
    return 0;
}

static int run_pass(pass *p, int workers, hp_err *err)
{
    size_t d = p->d, ld = p->ld, l = (size_t)p->l, lp = p->lp;
    if (hp_parallel_for(workers, (size_t)p->n_chunks, 1, pass_chunks, p, err) != 0)
        return -1;
    memset(p->w, 0, d * l * sizeof *p->w);
    memset(p->g, 0, l * l * sizeof *p->g);
    memset(p->s, 0, l * sizeof *p->s);
    for (int ch = 0; ch < p->n_chunks; ch++) {
        const double *wt = p->acc + (size_t)ch * p->acc_len, *g = wt + lp * ld, *s = g + l * l,
                     *m1 = s + l, *m2 = m1 + d;
        for (size_t j = 0; j < d; j++)
            for (size_t a = 0; a < l; a++)
                p->w[j * l + a] += wt[a * ld + j];
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

/* The exact corrections of the header comment: W -> Xc^T Xc Q, G -> Q^T Xc^T Xc Q, and the
 * kept rows Y -> Xc Q (minus (mu - c)^T Q each). */
static void correct_pass(pass *p, const double *mu, const float *c, const double *qd)
{
    size_t d = p->d;
    int l = p->l;
    for (size_t j = 0; j < d; j++)
        for (int a = 0; a < l; a++)
            p->w[j * l + a] -= (mu[j] - (double)c[j]) * p->s[a];
    for (int a = 0; a < l; a++)
        for (int b = 0; b < l; b++)
            p->g[a * l + b] -= p->s[a] * p->s[b] / (double)p->n;
    if (!p->y)
        return;
    double off[l];
    for (int a = 0; a < l; a++) {
        off[a] = 0;
        for (size_t j = 0; j < d; j++)
            off[a] += (mu[j] - (double)c[j]) * qd[j * l + a];
    }
    for (size_t i = 0; i < p->n; i++)
        for (int a = 0; a < l; a++)
            p->y[i * l + a] -= off[a];
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

/* Rounds the d x l panel to float for the pass (transposed into qt, row stride ld) and
 * widens it back, so that the double panel is exactly the one the products used. */
static void round_panel(double *a, size_t d, int l, float *qt, size_t ld)
{
    for (size_t j = 0; j < d; j++)
        for (int c = 0; c < l; c++) {
            float f = (float)a[j * l + c];
            qt[c * ld + j] = f;
            a[j * l + c] = f;
        }
}

/* ---- the Krylov basis: the panels of the passes and their images ---- */

typedef struct basis {
    size_t d, n;
    int l, cap;     /* cap: panels held before a restart */
    int np;         /* panels in use */
    int lmax;       /* cap * l: leading dimension of h and mm */
    double *b, *w;  /* cap panels of d x l: the basis and its images C B (exact for B) */
    double *h, *mm; /* lmax x lmax: B^T C B and B^T B */
    double *y;      /* NULL, or cap panels of n x l: Xc B, for the coordinates */
} basis;

static double *panel(const basis *bs, double *base, int p)
{
    return base + (size_t)p * bs->d * bs->l;
}

/* t = X^T Y for d x l panels */
static void panel_dot(const basis *bs, const double *x, const double *y, double *t)
{
    int l = bs->l;
    cblas_dgemm(CblasRowMajor, CblasTrans, CblasNoTrans, l, l, (int)bs->d, 1.0, x, l, y, l, 0.0, t, l);
}

/* Enters the pass's panel np (its image in w, Q^T C Q = g) into H and M. The blocks
 * between panels come from both images, averaged, so H stays symmetric. */
static void basis_add(basis *bs, const double *g)
{
    int l = bs->l, p = bs->np, ld = bs->lmax;
    double t1[l * l], t2[l * l];
    double *bp = panel(bs, bs->b, p), *wp = panel(bs, bs->w, p);
    for (int q = 0; q <= p; q++) {
        double *bq = panel(bs, bs->b, q), *wq = panel(bs, bs->w, q);
        panel_dot(bs, bq, bp, t1); /* M block */
        for (int a = 0; a < l; a++)
            for (int c = 0; c < l; c++)
                bs->mm[(q * l + a) * ld + p * l + c] = bs->mm[(p * l + c) * ld + q * l + a] = t1[a * l + c];
        if (q == p) {
            for (int a = 0; a < l; a++)
                for (int c = 0; c < l; c++)
                    bs->h[(p * l + a) * ld + p * l + c] = g[a * l + c];
            continue;
        }
        panel_dot(bs, bq, wp, t1);
        panel_dot(bs, bp, wq, t2);
        for (int a = 0; a < l; a++)
            for (int c = 0; c < l; c++) {
                double v = 0.5 * (t1[a * l + c] + t2[c * l + a]);
                bs->h[(q * l + a) * ld + p * l + c] = bs->h[(p * l + c) * ld + q * l + a] = v;
            }
    }
    bs->np++;
}

typedef struct ritz {
    double *theta; /* lmax: Ritz values of Xc^T Xc, decreasing */
    double *v;     /* lmax x lmax: column c holds the coefficients of Ritz pair c */
    double *u;     /* d x l: the top l Ritz vectors B v */
    double *wv;    /* d x l: their images, for the residuals and the next panel */
    double *a, *m; /* lmax x lmax scratch */
} ritz;

/* Rayleigh-Ritz over the whole basis: H v = theta M v (LAPACK's dsygvd, dsyevd after a
 * Cholesky reduction of M, so panels rounded to float need not be orthonormal). */
static int rayleigh_ritz(const basis *bs, ritz *rz, hp_err *err)
{
    int l = bs->l, ld = bs->lmax, nb = bs->np * l;
    size_t d = bs->d;
    memcpy(rz->a, bs->h, (size_t)ld * ld * sizeof *rz->a);
    memcpy(rz->m, bs->mm, (size_t)ld * ld * sizeof *rz->m);
    lapack_int info = LAPACKE_dsygvd(LAPACK_ROW_MAJOR, 1, 'V', 'U', nb, rz->a, ld, rz->m, ld, rz->theta);
    if (info != 0)
        return hp_fail(err, "pca: the %d x %d Rayleigh-Ritz problem failed (LAPACK info %d)", nb, nb, (int)info);
    for (int c = 0; c < nb / 2; c++) { /* LAPACK orders them increasing: reverse */
        double t = rz->theta[c];
        rz->theta[c] = rz->theta[nb - 1 - c];
        rz->theta[nb - 1 - c] = t;
    }
    for (int i = 0; i < nb; i++)
        for (int c = 0; c < nb; c++)
            rz->v[i * ld + c] = rz->a[i * ld + (nb - 1 - c)];
    for (int p = 0; p < bs->np; p++) {
        const double *vp = rz->v + (size_t)p * l * ld;
        double beta = p ? 1.0 : 0.0;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, l, l, 1.0, panel(bs, bs->b, p), l,
                    vp, ld, beta, rz->u, l);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)d, l, l, 1.0, panel(bs, bs->w, p), l,
                    vp, ld, beta, rz->wv, l);
    }
    return 0;
}

/* Largest over the top k of ||C u - theta u|| / gap: by Davis-Kahan a bound on the sine of
 * the angle to the true eigenvector (the gap taken to the neighbouring Ritz values). */
static double angle_bound(const ritz *rz, size_t d, int l, int nb, int k)
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
        if (c + 1 < nb)
            gap = fmin(gap, rz->theta[c] - rz->theta[c + 1]);
        double r = sqrt(r2);
        if (r <= 1e-15 * scale) /* an exactly captured (or null) direction */
            continue;
        double b = gap > 0 ? r / gap : INFINITY;
        worst = fmax(worst, b);
    }
    return worst;
}

/* out (l x l) = V_l^T A V_l for the leading nb x nb of A (leading dimension ld) */
static void reduce_small(const double *a, const double *v, int nb, int l, int ld, double *out)
{
    for (int r = 0; r < l; r++)
        for (int c = 0; c < l; c++) {
            double s = 0;
            for (int i = 0; i < nb; i++) {
                double t = 0;
                for (int j = 0; j < nb; j++)
                    t += a[i * ld + j] * v[j * ld + c];
                s += v[i * ld + r] * t;
            }
            out[r * l + c] = s;
        }
}

/* Restart: the basis becomes the top l Ritz vectors, whose images (and rows' coordinates)
 * are the same combinations of the kept ones: no pass needed. */
static void restart(basis *bs, const ritz *rz)
{
    int l = bs->l, ld = bs->lmax, nb = bs->np * l;
    double hs[l * l], ms[l * l];
    reduce_small(bs->h, rz->v, nb, l, ld, hs);
    reduce_small(bs->mm, rz->v, nb, l, ld, ms);
    for (int a = 0; a < l; a++)
        for (int c = 0; c < l; c++) {
            bs->h[a * ld + c] = hs[a * l + c];
            bs->mm[a * ld + c] = ms[a * l + c];
        }
    memcpy(bs->b, rz->u, bs->d * l * sizeof *bs->b);
    memcpy(bs->w, rz->wv, bs->d * l * sizeof *bs->w);
    if (bs->y) {
        size_t n = bs->n, nl = n * (size_t)l;
        for (size_t i = 0; i < n; i++) {
            double t[l];
            for (int c = 0; c < l; c++) {
                t[c] = 0;
                for (int p = 0; p < bs->np; p++)
                    for (int a = 0; a < l; a++)
                        t[c] += bs->y[p * nl + i * l + a] * rz->v[(p * l + a) * ld + c];
            }
            memcpy(bs->y + i * l, t, sizeof t);
        }
    }
    bs->np = 1;
}

/* q -= B (B^T q) over the panels in use */
static void project_out(const basis *bs, double *q)
{
    int l = bs->l;
    double t[l * l];
    for (int p = 0; p < bs->np; p++) {
        const double *bp = panel(bs, bs->b, p);
        panel_dot(bs, bp, q, t);
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, (int)bs->d, l, l, -1.0, bp, l, t, l,
                    1.0, q, l);
    }
}

/* The next panel: the images of the top l Ritz vectors (ordered by Ritz value, so QR keeps
 * the leading directions first), orthogonal to the basis. Projected twice ("twice is
 * enough"), normalised, and once more after normalising, for when the images lie almost
 * inside the basis and what is left is rounding. */
static int next_panel(basis *bs, const ritz *rz, hp_err *err)
{
    double *q = panel(bs, bs->b, bs->np);
    memcpy(q, rz->wv, bs->d * bs->l * sizeof *q);
    project_out(bs, q);
    project_out(bs, q);
    if (orthonormalise(q, bs->d, bs->l, err) != 0)
        return -1;
    if (bs->np == 0)
        return 0;
    project_out(bs, q);
    return orthonormalise(q, bs->d, bs->l, err);
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
    /* the subspace's small matrices (l x l, l = k + oversample) live on the stack */
    if (k > HP_PCA_MAX_COMPONENTS)
        return hp_fail(err, "pca: %d components asked: at most %d are supported (the method is "
                            "for a few leading components)", k, HP_PCA_MAX_COMPONENTS);
    if (o->oversample < 0 || o->oversample > HP_PCA_MAX_COMPONENTS)
        return hp_fail(err, "pca: oversample %d: need 0 to %d", o->oversample,
                       HP_PCA_MAX_COMPONENTS);
    if (o->iterations < 1 || o->iterations > 1000)
        return hp_fail(err, "pca: iterations %d: need 1 to 1000", o->iterations);
    if (!(o->tolerance > 0 && o->tolerance <= 1))
        return hp_fail(err, "pca: tolerance %g: need a number above 0 and at most 1", o->tolerance);
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
    basis bs;
    ritz rz;
    double *g, *s, *m1, *m2, *mu, *acc;
    float *qt, *c, *c_used, *scratch;
} work;

static void work_free(work *w)
{
    double *ds[] = {w->bs.b, w->bs.w, w->bs.h, w->bs.mm, w->bs.y, w->rz.theta, w->rz.v, w->rz.u,
                    w->rz.wv, w->rz.a, w->rz.m, w->g, w->s, w->m1, w->m2, w->mu, w->acc};
    for (size_t i = 0; i < sizeof ds / sizeof *ds; i++)
        free(ds[i]);
    free(w->qt);
    free(w->c);
    free(w->c_used);
    free(w->scratch);
}

static int work_alloc(work *w, const pass *p, int workers, bool project, hp_err *err)
{
    size_t d = p->d, l = (size_t)p->l, dl = d * l, ll = l * l;
    basis *bs = &w->bs;
    size_t panels = (size_t)bs->cap * dl, lm = (size_t)bs->lmax * bs->lmax;
    if (!(bs->b = hp_malloc(panels * sizeof(double), "pca basis", err)) ||
        !(bs->w = hp_malloc(panels * sizeof(double), "pca basis images", err)) ||
        !(bs->h = hp_calloc(lm, sizeof(double), "pca projected matrix", err)) ||
        !(bs->mm = hp_calloc(lm, sizeof(double), "pca basis Gram", err)) ||
        (project && !(bs->y = hp_malloc((size_t)bs->cap * p->n * l * sizeof(double), "pca coordinates", err))) ||
        !(w->rz.theta = hp_malloc((size_t)bs->lmax * sizeof(double), "pca Ritz values", err)) ||
        !(w->rz.v = hp_calloc(lm, sizeof(double), "pca Ritz coefficients", err)) ||
        !(w->rz.a = hp_calloc(lm, sizeof(double), "pca Rayleigh-Ritz matrix", err)) ||
        !(w->rz.m = hp_calloc(lm, sizeof(double), "pca Rayleigh-Ritz metric", err)) ||
        !(w->rz.u = hp_malloc(dl * sizeof(double), "pca Ritz vectors", err)) ||
        !(w->rz.wv = hp_malloc(dl * sizeof(double), "pca Ritz images", err)) ||
        !(w->g = hp_malloc(ll * sizeof(double), "pca Gram", err)) ||
        !(w->s = hp_malloc(l * sizeof(double), "pca sums", err)) ||
        !(w->m1 = hp_calloc(d, sizeof(double), "pca column sums", err)) ||
        !(w->m2 = hp_calloc(d, sizeof(double), "pca column squares", err)) ||
        !(w->mu = hp_malloc(d * sizeof(double), "pca mean", err)) ||
        !(w->qt = hp_calloc(p->lp * p->ld, sizeof(float), "pca float panel", err)) ||
        !(w->c = hp_malloc(d * sizeof(float), "pca centre", err)) ||
        !(w->c_used = hp_malloc(d * sizeof(float), "pca centre", err)) ||
        !(w->acc = hp_malloc((size_t)p->n_chunks * p->acc_len * sizeof(double), "pca chunk sums", err)) ||
        /* zeroed: the rows' padding columns must stay 0 */
        !(w->scratch = hp_calloc((size_t)workers * p->scratch_len, sizeof(float), "pca block products", err)))
        return -1;
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

/* The fitted rows' coordinates: Xc B v scaled as the component was (f). */
static void fit_coords(const basis *bs, const ritz *rz, int k, const double *f, double *coords)
{
    size_t n = bs->n, nl = n * (size_t)bs->l;
    int l = bs->l, ld = bs->lmax;
    for (size_t i = 0; i < n; i++)
        for (int c = 0; c < k; c++) {
            double t = 0;
            for (int p = 0; p < bs->np; p++)
                for (int a = 0; a < l; a++)
                    t += bs->y[p * nl + i * l + a] * rz->v[(p * l + a) * ld + c];
            coords[i * k + c] = f[c] * t;
        }
}

static int fill_result(const work *w, size_t n, size_t d, int k, double total, hp_pca *out,
                       hp_err *err)
{
    int l = w->bs.l;
    if (!(out->mean = hp_malloc(d * sizeof(double), "pca mean", err)) ||
        !(out->components = hp_malloc((size_t)k * d * sizeof(double), "pca components", err)) ||
        !(out->variance = hp_malloc(k * sizeof(double), "pca variances", err)) ||
        !(out->explained_ratio = hp_malloc(k * sizeof(double), "pca ratios", err)) ||
        (w->bs.y && !(out->coords = hp_malloc(n * k * sizeof(double), "pca coordinates", err))))
        return -1;
    memcpy(out->mean, w->mu, d * sizeof(double));
    out->k = k;
    out->dim = d;
    out->n = n;
    out->total_variance = total;
    double f[k];
    for (int c = 0; c < k; c++) {
        double *comp = out->components + (size_t)c * d, norm = 0, big = 0;
        for (size_t j = 0; j < d; j++) {
            comp[j] = w->rz.u[j * l + c];
            norm += comp[j] * comp[j];
            if (fabs(comp[j]) > fabs(big))
                big = comp[j];
        }
        /* unit length exactly (the Ritz vector is unit in exact arithmetic) and a fixed sign */
        f[c] = (big < 0 ? -1.0 : 1.0) / sqrt(norm);
        for (size_t j = 0; j < d; j++)
            comp[j] *= f[c];
        double var = w->rz.theta[c] / (double)(n - 1);
        out->variance[c] = var > 0 ? var : 0;
        out->explained_ratio[c] = total > 0 ? out->variance[c] / total : 0;
    }
    if (out->coords)
        fit_coords(&w->bs, &w->rz, k, f, out->coords);
    return 0;
}

/* After a pass that did not converge: room for one more panel (restarting on the top
 * Ritz vectors when the basis is full; plain subspace iteration when even two panels
 * exceed the dimension), then the panel itself. */
static int advance(basis *bs, const ritz *rz, hp_err *err)
{
    if (bs->np + 1 > bs->cap) {
        if (bs->cap >= 2)
            restart(bs, rz);
        else
            bs->np = 0;
    }
    return next_panel(bs, rz, err);
}

static int fit(pass *p, int workers, int k, const hp_pca_options *o, work *w, hp_pca *out,
               hp_err *err)
{
    size_t n = p->n, d = p->d;
    int l = p->l;
    basis *bs = &w->bs;
    gaussian_panel(bs->b, d * l, o->seed);
    if (orthonormalise(bs->b, d, l, err) != 0)
        return -1;
    sample_centre(p->x, n, d, w->mu, w->c);
    p->qt = w->qt;
    p->acc = w->acc;
    p->scratch = w->scratch;
    p->c = w->c;
    p->want_moments = true;
    p->m1 = w->m1;
    p->m2 = w->m2;
    p->g = w->g;
    p->s = w->s;
    double total = 0, bound = INFINITY, prev = INFINITY;
    int passes = 0;
    while (passes < o->iterations) {
        double *qd = panel(bs, bs->b, bs->np);
        round_panel(qd, d, l, w->qt, p->ld);
        p->w = panel(bs, bs->w, bs->np);
        p->y = bs->y ? bs->y + (size_t)bs->np * n * l : NULL;
        memcpy(w->c_used, w->c, d * sizeof(float));
        if (run_pass(p, workers, err) != 0)
            return -1;
        passes++;
        if (p->want_moments) {
            if (!all_finite(w->m1, d) || !all_finite(w->m2, d))
                return report_nonfinite(p->x, n, d, err);
            total = finish_moments(w, n, d);
            for (size_t j = 0; j < d; j++) /* later passes centre on the exact mean */
                w->c[j] = (float)w->mu[j];
            p->want_moments = false;
        }
        correct_pass(p, w->mu, w->c_used, qd);
        if (!all_finite(w->g, (size_t)l * l) || !all_finite(p->w, d * l))
            return hp_fail(err, "pca: float32 products overflowed: values too large (about 1e19 or more)");
        basis_add(bs, w->g);
        if (rayleigh_ritz(bs, &w->rz, err) != 0)
            return -1;
        prev = bound;
        bound = angle_bound(&w->rz, d, l, bs->np * l, k);
        /* Done when converged, or at the float32 rounding floor (no longer improving). */
        if (bound < o->tolerance || (passes >= 3 && bound < 1e-3 && bound > 0.5 * prev))
            break;
        if (passes < o->iterations && advance(bs, &w->rz, err) != 0)
            return -1;
    }
    out->passes = passes;
    out->angle_bound = bound;
    return fill_result(w, n, d, k, total, out, err);
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
    pass p = {.x = rows, .n = n, .d = dim, .l = l, .kern = pca_kernels_get()};
    p.dp = round_up(dim, PCA_KERNEL_COLS);
    p.ld = pca_kernel_stride(p.dp);
    p.lp = round_up((size_t)l, PCA_KERNEL_GROUP);
    size_t blocks = (n + PCA_BLOCK - 1) / PCA_BLOCK;
    p.n_chunks = blocks < PCA_CHUNKS ? (int)blocks : PCA_CHUNKS;
    p.chunk_rows = (blocks + p.n_chunks - 1) / p.n_chunks * PCA_BLOCK;
    p.n_chunks = (int)((n + p.chunk_rows - 1) / p.chunk_rows);
    p.acc_len = p.lp * p.ld + (size_t)l * l + l + 2 * dim;
    p.scratch_len = PCA_BLOCK * (p.ld + p.lp);
    int workers = hp_threads_resolve(o->threads, (size_t)p.n_chunks);
    work w;
    memset(&w, 0, sizeof w);
    int cap = (int)(dim / (size_t)l);
    w.bs = (basis){.d = dim, .n = n, .l = l, .cap = cap < PCA_PANELS ? cap : PCA_PANELS};
    w.bs.lmax = w.bs.cap * l;
    int rc = work_alloc(&w, &p, workers, o->project != 0, err);
    /* The small dense steps (d x l panels) use OpenBLAS: one thread inside each call, since
     * a synchronisation per small product costs more than it saves, and OpenBLAS's own
     * threading may change summation with the thread count. The setting is process-wide:
     * put back afterwards. */
    int before = openblas_get_num_threads();
    openblas_set_num_threads(1);
    if (rc == 0)
        rc = fit(&p, workers, k, o, &w, out, err);
    openblas_set_num_threads(before);
    work_free(&w);
    if (rc != 0)
        hp_pca_free(out);
    return rc;
}

/* ---- projection ---- */

typedef struct proj {
    const float *x;
    size_t n, d, dp, ld, lp;
    int k;
    const pca_kernels *kern;
    const float *vt;    /* lp x ld: the components rounded to float, one a row, zero padding */
    const float *mu;    /* d: the mean rounded to float */
    const double *off;  /* k: (mean - mu)^T v, the rounding of the mean, in double */
    double *coords;
    float *scratch;     /* per worker: PROJ_BLOCK x ld centred rows, then PROJ_BLOCK x lp */
} proj;

enum { PROJ_BLOCK = 64 }; /* 1 MB of centred rows at d = 4096 */

static int project_blocks(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    proj *p = ctx;
    size_t k = (size_t)p->k, d = p->d, ld = p->ld, lp = p->lp;
    float *xb = p->scratch + (size_t)worker * PROJ_BLOCK * (ld + lp), *yb = xb + PROJ_BLOCK * ld;
    for (size_t b = begin; b < end; b++) {
        size_t r = b * PROJ_BLOCK, m = p->n - r < PROJ_BLOCK ? p->n - r : PROJ_BLOCK;
        centre_rows(p->x + r * d, m, d, ld, p->mu, xb);
        p->kern->apply(xb, m, p->dp, ld, p->vt, lp, yb);
        for (size_t i = 0; i < m; i++)
            for (size_t c = 0; c < k; c++)
                p->coords[(r + i) * k + c] = (double)yb[i * lp + c] - p->off[c];
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
    size_t dp = round_up(d, PCA_KERNEL_COLS), ld = pca_kernel_stride(dp);
    size_t lp = round_up(k, PCA_KERNEL_GROUP);
    int workers = hp_threads_resolve(0, blocks);
    float *vt = hp_calloc(lp * ld + d, sizeof(float), "pca projection panel", err);
    float *scratch = vt ? hp_calloc((size_t)workers * PROJ_BLOCK * (ld + lp), sizeof(float),
                                    "pca projection block", err) : NULL;
    double *off = scratch ? hp_calloc(k, sizeof(double), "pca projection offsets", err) : NULL;
    if (!off) {
        free(vt);
        free(scratch);
        return -1;
    }
    /* coords = (X - 1 mu_f^T) v - 1 ((mean - mu_f)^T v), v the rounded components */
    float *mu = vt + lp * ld;
    for (size_t j = 0; j < d; j++)
        mu[j] = (float)p->mean[j];
    for (size_t c = 0; c < k; c++)
        for (size_t j = 0; j < d; j++) {
            vt[c * ld + j] = (float)p->components[c * d + j];
            off[c] += (p->mean[j] - (double)mu[j]) * vt[c * ld + j];
        }
    proj pj = {.x = rows, .n = n, .d = d, .dp = dp, .ld = ld, .lp = lp, .k = (int)k,
               .kern = pca_kernels_get(), .vt = vt, .mu = mu, .off = off, .coords = coords,
               .scratch = scratch};
    int rc = hp_parallel_for(workers, blocks, 16, project_blocks, &pj, err);
    free(off);
    free(scratch);
    free(vt);
    return rc;
}

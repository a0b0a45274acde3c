/* Gromov δ-hyperbolicity (hyplora/delta.h): distances, checks and the fixed-base kernel.
 *
 * The kernel works on the Gromov product matrix G of one base point, rounded to float32 and
 * stored with rows padded to a multiple of 8 (padding -FLT_MAX, which no max picks). For
 * every pair x < y it needs m(x, y) = max_z min(G[x][z], G[y][z]) (G is symmetric, so both
 * operands are rows read left to right) and δ_w is the largest m(x, y) - G[x][y]. Pairs are
 * taken in register tiles of 3 x-rows by 4 y-rows: twelve 8-lane accumulators, each z step
 * loading 3 + 4 vectors for 12 min and 12 max operations. A work item is a panel of 24
 * x-rows: each 4-row y-tile is read from memory once per panel and then served from L1 to
 * its 8 x-tiles, which keeps the kernel from waiting on memory. Panels go to the threads. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/delta.h"
#include "parallel.h"

enum { LANES = 8, TX = 3, TY = 4, PANEL = 8 * TX /* x rows per work item */ };

/* ---- input ---- */

int hp_delta_check(const double *D, size_t n, hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++) {
            double v = D[i * n + j], t = D[j * n + i];
            if (!isfinite(v))
                return hp_fail(err, "distance [%zu, %zu] is not finite (%g)", i, j, v);
            if (v < 0)
                return hp_fail(err, "distance [%zu, %zu] is negative (%g)", i, j, v);
            if (i == j && v != 0)
                return hp_fail(err, "distance [%zu, %zu] on the diagonal is %g, expected 0", i, j, v);
            if (fabs(v - t) > 1e-9 * fmax(fabs(v), fabs(t)))
                return hp_fail(err, "the distances are not symmetric: [%zu, %zu] = %.17g but [%zu, %zu] = %.17g", i,
                               j, v, j, i, t);
        }
    return 0;
}

int hp_delta_distances(const float *X, size_t n, size_t dim, hp_distance kind, double *D, hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    double *Xd = hp_malloc(n * dim * sizeof *Xd, "the points in double", err);
    double *sq = Xd ? hp_malloc(n * sizeof *sq, "the squared norms", err) : NULL;
    if (!sq) {
        free(Xd);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        double s = 0;
        for (size_t k = 0; k < dim; k++) {
            float v = X[i * dim + k];
            if (!isfinite(v)) {
                rc = hp_fail(err, "point %zu, coordinate %zu is not finite (%g)", i, k, (double)v);
                break;
            }
            Xd[i * dim + k] = v;
            s += (double)v * v;
        }
        sq[i] = s;
        if (rc == 0 && kind != HP_DISTANCE_EUCLIDEAN && s == 0)
            rc = hp_fail(err, "point %zu is the zero vector, which has no direction for the %s distance", i,
                         kind == HP_DISTANCE_COSINE ? "cosine" : "angular");
    }
    if (rc == 0) {
        /* D = X X^T, then each entry turned into the distance in place. */
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)n, (int)n, (int)dim, 1.0, Xd, (int)dim, Xd,
                    (int)dim, 0.0, D, (int)n);
        for (size_t i = 0; i < n; i++)
            for (size_t j = 0; j < n; j++) {
                double g = D[i * n + j], v;
                if (i == j) {
                    v = 0;
                } else if (kind == HP_DISTANCE_EUCLIDEAN) {
                    double d2 = sq[i] + sq[j] - 2 * g;
                    v = d2 > 0 ? sqrt(d2) : 0; /* round-off can make a tiny squared distance negative */
                } else {
                    double c = g / sqrt(sq[i] * sq[j]);
                    c = c > 1 ? 1 : c < -1 ? -1 : c;
                    v = kind == HP_DISTANCE_COSINE ? 1 - c : acos(c);
                }
                D[i * n + j] = v;
            }
        /* The product's two triangles may differ in the last bit: make D exactly symmetric. */
        for (size_t i = 0; i < n; i++)
            for (size_t j = i + 1; j < n; j++)
                D[j * n + i] = D[i * n + j];
    }
    free(Xd);
    free(sq);
    return rc;
}

/* ---- the float32 kernel ---- */

typedef struct best {
    double value;
    size_t x, y;
} best;

typedef struct kernel_job {
    const float *G; /* n rows of ld floats */
    size_t n, ld;
    best *per_worker;
} kernel_job;

static void consider(best *b, double v, size_t x, size_t y)
{
    if (v > b->value) {
        b->value = v;
        b->x = x;
        b->y = y;
    }
}

/* m for the pairs (x0 + i, y0 + j), i < nx, j < ny, plain C (eight lanes written out). */
static void tile_generic(const float *G, size_t ld, size_t x0, size_t nx, size_t y0, size_t ny, float m[TX][TY])
{
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++) {
            const float *a = G + (x0 + i) * ld, *b = G + (y0 + j) * ld;
            float acc[LANES];
            for (int t = 0; t < LANES; t++)
                acc[t] = -FLT_MAX;
            for (size_t z = 0; z < ld; z += LANES)
                for (int t = 0; t < LANES; t++) {
                    float v = a[z + t] < b[z + t] ? a[z + t] : b[z + t];
                    acc[t] = acc[t] > v ? acc[t] : v;
                }
            float r = acc[0];
            for (int t = 1; t < LANES; t++)
                r = r > acc[t] ? r : acc[t];
            m[i][j] = r;
        }
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86 1

__attribute__((target("avx2"))) static float hmax8(__m256 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* A full 3 x 4 tile in twelve accumulators. */
__attribute__((target("avx2"))) static void tile_avx2(const float *G, size_t ld, size_t x0, size_t y0,
                                                      float m[TX][TY])
{
    const float *a0 = G + x0 * ld, *a1 = a0 + ld, *a2 = a1 + ld;
    const float *b0 = G + y0 * ld, *b1 = b0 + ld, *b2 = b1 + ld, *b3 = b2 + ld;
    __m256 lo = _mm256_set1_ps(-FLT_MAX);
    __m256 c00 = lo, c01 = lo, c02 = lo, c03 = lo, c10 = lo, c11 = lo, c12 = lo, c13 = lo, c20 = lo, c21 = lo,
           c22 = lo, c23 = lo;
    for (size_t z = 0; z < ld; z += LANES) {
        __m256 x0v = _mm256_load_ps(a0 + z), x1v = _mm256_load_ps(a1 + z), x2v = _mm256_load_ps(a2 + z);
        __m256 y;
#define COL(J, B)                                                  \
    y = _mm256_load_ps(B + z);                                     \
    c0##J = _mm256_max_ps(c0##J, _mm256_min_ps(x0v, y));           \
    c1##J = _mm256_max_ps(c1##J, _mm256_min_ps(x1v, y));           \
    c2##J = _mm256_max_ps(c2##J, _mm256_min_ps(x2v, y));
        COL(0, b0)
        COL(1, b1)
        COL(2, b2)
        COL(3, b3)
#undef COL
    }
    m[0][0] = hmax8(c00), m[0][1] = hmax8(c01), m[0][2] = hmax8(c02), m[0][3] = hmax8(c03);
    m[1][0] = hmax8(c10), m[1][1] = hmax8(c11), m[1][2] = hmax8(c12), m[1][3] = hmax8(c13);
    m[2][0] = hmax8(c20), m[2][1] = hmax8(c21), m[2][2] = hmax8(c22), m[2][3] = hmax8(c23);
}
#endif

/* Walks the pair tiles of panels [begin, end): every 3 x 4 tile of rows x0.., y0.. with
 * y0 from the panel's first row (pairs with x >= y come along; the callers skip them), so
 * that each y-tile read from memory serves the panel's 8 x-tiles from L1. */
typedef void (*tile_fn)(const void *job, best *b, size_t x0, size_t nx, size_t y0, size_t ny, bool full_avx2);

static void walk_panels(size_t n, size_t begin, size_t end, tile_fn fn, const void *job, best *b)
{
#ifdef HAVE_X86
    bool avx2 = __builtin_cpu_supports("avx2");
#else
    bool avx2 = false;
#endif
    for (size_t p = begin; p < end; p++) {
        size_t p0 = p * PANEL, p1 = p0 + PANEL < n ? p0 + PANEL : n;
        for (size_t y0 = p0; y0 < n; y0 += TY) {
            size_t ny = n - y0 < TY ? n - y0 : TY;
            for (size_t x0 = p0; x0 < p1 && x0 < y0 + ny; x0 += TX) {
                size_t nx = p1 - x0 < TX ? p1 - x0 : TX;
                fn(job, b, x0, nx, y0, ny, avx2 && nx == TX && ny == TY);
            }
        }
    }
}

/* The float pass: m(x, y) - G[x][y] of every pair of the tile. */
static void float_tile(const void *job, best *b, size_t x0, size_t nx, size_t y0, size_t ny, bool full_avx2)
{
    const kernel_job *j = job;
    float m[TX][TY];
#ifdef HAVE_X86
    if (full_avx2)
        tile_avx2(j->G, j->ld, x0, y0, m);
    else
#endif
        tile_generic(j->G, j->ld, x0, nx, y0, ny, m);
    (void)full_avx2;
    for (size_t i = 0; i < nx; i++)
        for (size_t k = 0; k < ny; k++) {
            size_t x = x0 + i, y = y0 + k;
            if (x < y)
                consider(b, (double)m[i][k] - (double)j->G[x * j->ld + y], x, y);
        }
}

static int kernel_panels(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    const kernel_job *j = ctx;
    walk_panels(j->n, begin, end, float_tile, j, &j->per_worker[worker]);
    return 0;
}

/* ---- the 16-bit filter ----
 *
 * Max and min commute with any non-decreasing map, so with q(g) = floor((g - gmin) / s)
 * the 16-bit (max, min) product gives exactly q of the float one, and m(x, y) lies within
 * [gmin + q s, gmin + (q + 1) s) (one more level each side is allowed for the rounding of
 * q itself). Sixteen 16-bit lanes do twice the pairs of eight float lanes per operation,
 * so a first pass over all pairs in 16 bits gives a lower bound on δ_w and, per pair, an
 * upper bound; only the pairs whose upper bound reaches the lower bound are then computed
 * in float. For point clouds these are a handful; ties (graph distances) can make them
 * many, which costs at most one float pass more. */

typedef struct filter_job {
    const uint16_t *Q; /* n rows of ld16 levels, padding 0 */
    size_t n, ld16, ld;
    const float *G;
    double gmin, step;
    float *upper;      /* n x n: the upper bound of m(x, y) - G[x][y], for x < y */
    best *per_worker;  /* the largest lower bound */
} filter_job;

static void tile16_generic(const uint16_t *Q, size_t ld, size_t x0, size_t nx, size_t y0, size_t ny,
                           uint16_t m[TX][TY])
{
    for (size_t i = 0; i < nx; i++)
        for (size_t j = 0; j < ny; j++) {
            const uint16_t *a = Q + (x0 + i) * ld, *b = Q + (y0 + j) * ld;
            uint16_t r = 0;
            for (size_t z = 0; z < ld; z++) {
                uint16_t v = a[z] < b[z] ? a[z] : b[z];
                r = r > v ? r : v;
            }
            m[i][j] = r;
        }
}

#ifdef HAVE_X86
__attribute__((target("avx2"))) static uint16_t hmax16(__m256i v)
{
    __m128i h = _mm_max_epu16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 8));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 4));
    h = _mm_max_epu16(h, _mm_srli_si128(h, 2));
    return (uint16_t)_mm_extract_epi16(h, 0);
}

__attribute__((target("avx2"))) static void tile16_avx2(const uint16_t *Q, size_t ld, size_t x0, size_t y0,
                                                        uint16_t m[TX][TY])
{
    const uint16_t *a0 = Q + x0 * ld, *a1 = a0 + ld, *a2 = a1 + ld;
    const uint16_t *b0 = Q + y0 * ld, *b1 = b0 + ld, *b2 = b1 + ld, *b3 = b2 + ld;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c10 = c00, c11 = c00, c12 = c00,
            c13 = c00, c20 = c00, c21 = c00, c22 = c00, c23 = c00;
    for (size_t z = 0; z < ld; z += 16) {
        __m256i x0v = _mm256_load_si256((const __m256i *)(a0 + z));
        __m256i x1v = _mm256_load_si256((const __m256i *)(a1 + z));
        __m256i x2v = _mm256_load_si256((const __m256i *)(a2 + z));
        __m256i y;
#define COL(J, B)                                                    \
    y = _mm256_load_si256((const __m256i *)(B + z));                 \
    c0##J = _mm256_max_epu16(c0##J, _mm256_min_epu16(x0v, y));       \
    c1##J = _mm256_max_epu16(c1##J, _mm256_min_epu16(x1v, y));       \
    c2##J = _mm256_max_epu16(c2##J, _mm256_min_epu16(x2v, y));
        COL(0, b0)
        COL(1, b1)
        COL(2, b2)
        COL(3, b3)
#undef COL
    }
    m[0][0] = hmax16(c00), m[0][1] = hmax16(c01), m[0][2] = hmax16(c02), m[0][3] = hmax16(c03);
    m[1][0] = hmax16(c10), m[1][1] = hmax16(c11), m[1][2] = hmax16(c12), m[1][3] = hmax16(c13);
    m[2][0] = hmax16(c20), m[2][1] = hmax16(c21), m[2][2] = hmax16(c22), m[2][3] = hmax16(c23);
}
#endif

/* The 16-bit pass: bounds for every pair of the tile (see above). */
static void level_tile(const void *job, best *b, size_t x0, size_t nx, size_t y0, size_t ny, bool full_avx2)
{
    const filter_job *j = job;
    uint16_t m[TX][TY];
#ifdef HAVE_X86
    if (full_avx2)
        tile16_avx2(j->Q, j->ld16, x0, y0, m);
    else
#endif
        tile16_generic(j->Q, j->ld16, x0, nx, y0, ny, m);
    (void)full_avx2;
    for (size_t i = 0; i < nx; i++)
        for (size_t k = 0; k < ny; k++) {
            size_t x = x0 + i, y = y0 + k;
            if (x >= y)
                continue;
            double g = j->G[x * j->ld + y];
            consider(b, j->gmin + ((double)m[i][k] - 1) * j->step - g, x, y);
            j->upper[x * j->n + y] = (float)(j->gmin + ((double)m[i][k] + 2) * j->step - g);
        }
}

static int filter_panels(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    const filter_job *j = ctx;
    walk_panels(j->n, begin, end, level_tile, j, &j->per_worker[worker]);
    return 0;
}

typedef struct verify_job {
    const float *G;
    size_t n, ld;
    const float *upper;
    double floor_;     /* pairs whose upper bound is below this cannot hold the maximum */
    best *per_worker;
} verify_job;

/* The float m(x, y) - G[x][y] of the pairs the filter left, row x by row x. */
static int verify_rows(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    const verify_job *j = ctx;
    best *b = &j->per_worker[worker];
    for (size_t x = begin; x < end; x++)
        for (size_t y = x + 1; y < j->n; y++) {
            if ((double)j->upper[x * j->n + y] < j->floor_)
                continue;
            float m[TX][TY];
            tile_generic(j->G, j->ld, x, 1, y, 1, m);
            consider(b, (double)m[0][0] - (double)j->G[x * j->ld + y], x, y);
        }
    return 0;
}

/* ---- one base point ---- */

enum { FILTER_MIN_N = 256 }; /* below this the float pass alone is as quick */

typedef struct workspace {
    float *G;      /* n x ld, 32-byte aligned */
    size_t ld;
    uint16_t *Q;   /* n x ld16 levels of G, 32-byte aligned (n >= FILTER_MIN_N) */
    size_t ld16;
    float *upper;  /* n x n per-pair upper bounds (n >= FILTER_MIN_N) */
    best *per_worker;
    int threads;
} workspace;

static int workspace_init(workspace *w, size_t n, const hp_delta_options *opt, hp_err *err)
{
    memset(w, 0, sizeof *w);
    w->ld = (n + LANES - 1) / LANES * LANES;
    w->ld16 = (n + 15) / 16 * 16;
    w->threads = hp_threads_resolve(opt ? opt->threads : 0, (n + PANEL - 1) / PANEL);
    bool filter = n >= FILTER_MIN_N;
    if (posix_memalign((void **)&w->G, 32, n * w->ld * sizeof(float)) != 0 ||
        (filter && posix_memalign((void **)&w->Q, 32, n * w->ld16 * sizeof(uint16_t)) != 0))
        return hp_fail(err, "out of memory for the %zu x %zu Gromov products", n, n);
    if (filter && !(w->upper = hp_malloc(n * n * sizeof *w->upper, "the per-pair bounds", err)))
        return -1;
    w->per_worker = hp_calloc((size_t)w->threads, sizeof *w->per_worker, "the per-thread maxima", err);
    return w->per_worker ? 0 : -1;
}

static void workspace_free(workspace *w)
{
    free(w->G);
    free(w->Q);
    free(w->upper);
    free(w->per_worker);
}

static double gromov(const double *D, size_t n, size_t w, size_t x, size_t y)
{
    return 0.5 * (D[x * n + w] + D[y * n + w] - D[x * n + y]);
}

/* δ_w in double, directly: the slow reference the float result falls back to. */
static double delta_double(const double *D, size_t n, size_t w)
{
    double delta = 0;
    for (size_t x = 0; x < n; x++)
        for (size_t y = x + 1; y < n; y++) {
            double m = -INFINITY;
            for (size_t z = 0; z < n; z++) {
                double a = gromov(D, n, w, x, z), b = gromov(D, n, w, y, z);
                double v = a < b ? a : b;
                m = m > v ? m : v;
            }
            double v = m - gromov(D, n, w, x, y);
            delta = v > delta ? v : delta;
        }
    return delta;
}

/* Rows of the Gromov products of base w into ws->G (and, once the range is known, their
 * 16-bit levels into ws->Q), spread over the threads. */
typedef struct products_job {
    const double *D;
    size_t n, w;
    workspace *ws;
    double *lo, *hi; /* per worker: the smallest and largest product */
    double gmin, step; /* for the levels */
} products_job;

static int product_rows(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    products_job *j = ctx;
    const double *D = j->D;
    size_t n = j->n, ld = j->ws->ld;
    double lo = j->lo[worker], hi = j->hi[worker];
    for (size_t x = begin; x < end; x++) {
        float *row = j->ws->G + x * ld;
        const double *dx = D + x * n;
        for (size_t y = 0; y < n; y++) {
            /* D is symmetric: d(y, w) is read along row w rather than down column w */
            double g = 0.5 * (dx[j->w] + D[j->w * n + y] - dx[y]);
            row[y] = (float)g;
            lo = g < lo ? g : lo;
            hi = g > hi ? g : hi;
        }
        for (size_t y = n; y < ld; y++)
            row[y] = -FLT_MAX;
    }
    j->lo[worker] = lo;
    j->hi[worker] = hi;
    return 0;
}

static int level_rows(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)worker, (void)err;
    const products_job *j = ctx;
    const workspace *ws = j->ws;
    /* In float, so that the loop vectorises: float subtraction and multiplication by a
     * positive constant never reverse an order, which is all the bounds need (their one
     * level of slack covers the rounding). */
    float gmin = (float)j->gmin, inv = (float)(1 / j->step);
    for (size_t x = begin; x < end; x++) {
        uint16_t *row = ws->Q + x * ws->ld16;
        const float *g = ws->G + x * ws->ld;
        for (size_t y = 0; y < j->n; y++) {
            float q = (g[y] - gmin) * inv;
            row[y] = (uint16_t)(q < 0 ? 0 : q > 65533 ? 65533 : (int)q);
        }
        memset(row + j->n, 0, (ws->ld16 - j->n) * sizeof *row);
    }
    return 0;
}

/* Runs one pass over the threads and returns the largest value they found. */
static int run_pass(workspace *ws, size_t items, hp_chunk_fn fn, void *job, double *value, hp_err *err)
{
    for (int t = 0; t < ws->threads; t++)
        ws->per_worker[t] = (best){0, 0, 0};
    if (hp_parallel_for(ws->threads, items, 1, fn, job, err))
        return -1;
    *value = 0;
    for (int t = 0; t < ws->threads; t++)
        *value = fmax(*value, ws->per_worker[t].value);
    return 0;
}

/* The float δ_w through the 16-bit filter: levels of ws->G, the bounds, then the float
 * values of the pairs that can still hold the maximum. */
static int filtered_pass(products_job *pj, double *value, hp_err *err)
{
    workspace *ws = pj->ws;
    size_t n = pj->n;
    if (!(pj->step > 0)) { /* all products equal: every pair gives m - G = 0 */
        *value = 0;
        return 0;
    }
    if (hp_parallel_for(ws->threads, n, 16, level_rows, pj, err))
        return -1;
    filter_job f = {ws->Q, n, ws->ld16, ws->ld, ws->G, pj->gmin, pj->step, ws->upper, ws->per_worker};
    double lower;
    if (run_pass(ws, (n + PANEL - 1) / PANEL, filter_panels, &f, &lower, err))
        return -1;
    verify_job v = {ws->G, n, ws->ld, ws->upper, lower, ws->per_worker};
    return run_pass(ws, n, verify_rows, &v, value, err);
}

/* δ_w, through the float32 kernel unless its error bound is too loose for 1e-5 relative. */
static int delta_base(const double *D, size_t n, size_t w, workspace *ws, bool force_double, double *delta,
                      bool *used_double, hp_err *err)
{
    double lo[ws->threads], hi[ws->threads];
    for (int t = 0; t < ws->threads; t++)
        lo[t] = INFINITY, hi[t] = -INFINITY;
    products_job pj = {.D = D, .n = n, .w = w, .ws = ws, .lo = lo, .hi = hi};
    if (hp_parallel_for(ws->threads, n, 16, product_rows, &pj, err))
        return -1;
    pj.gmin = INFINITY;
    double gmaxv = -INFINITY;
    for (int t = 0; t < ws->threads; t++) {
        pj.gmin = lo[t] < pj.gmin ? lo[t] : pj.gmin;
        gmaxv = hi[t] > gmaxv ? hi[t] : gmaxv;
    }
    pj.step = (gmaxv - pj.gmin) / 65533;
    double gmax = fabs(gmaxv) > fabs(pj.gmin) ? fabs(gmaxv) : fabs(pj.gmin);
    double value = 0;
    if (!force_double && ws->Q) {
        if (filtered_pass(&pj, &value, err))
            return -1;
    } else if (!force_double) {
        kernel_job j = {ws->G, n, ws->ld, ws->per_worker};
        if (run_pass(ws, (n + PANEL - 1) / PANEL, kernel_panels, &j, &value, err))
            return -1;
    }
    /* Each product is rounded once to float (relative 2^-24), the selections are exact and
     * the last subtraction is in double: the float δ is within 2^-23 * max|G| of δ. */
    double bound = ldexp(gmax, -23);
    *used_double = force_double || bound > 1e-5 * value;
    *delta = *used_double ? delta_double(D, n, w) : value;
    return 0;
}

static double diameter(const double *D, size_t n)
{
    double d = 0;
    for (size_t i = 0; i < n * n; i++)
        d = D[i] > d ? D[i] : d;
    return d;
}

static void finish(hp_delta_result *r, const double *D, size_t n)
{
    r->diameter = diameter(D, n);
    r->delta_rel = r->diameter > 0 ? 2 * r->delta / r->diameter : 0;
}

int hp_delta_fixed_base(const double *D, size_t n, size_t base, const hp_delta_options *opt, hp_delta_result *r,
                        hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    if (base >= n)
        return hp_fail(err, "base point %zu is out of range: there are %zu points", base, n);
    workspace ws;
    int rc = workspace_init(&ws, n, opt, err);
    memset(r, 0, sizeof *r);
    r->base = base;
    if (rc == 0)
        rc = delta_base(D, n, base, &ws, opt && opt->force_double, &r->delta, &r->used_double, err);
    workspace_free(&ws);
    if (rc == 0)
        finish(r, D, n);
    return rc;
}

int hp_delta_exact(const double *D, size_t n, const hp_delta_options *opt, hp_delta_result *r, hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    workspace ws;
    int rc = workspace_init(&ws, n, opt, err);
    memset(r, 0, sizeof *r);
    r->exact = true;
    for (size_t w = 0; rc == 0 && w < n; w++) {
        double d;
        bool dbl;
        rc = delta_base(D, n, w, &ws, opt && opt->force_double, &d, &dbl, err);
        if (rc == 0 && (w == 0 || d > r->delta)) {
            r->delta = d;
            r->base = w;
        }
        r->used_double |= rc == 0 && dbl;
    }
    workspace_free(&ws);
    if (rc == 0)
        finish(r, D, n);
    return rc;
}

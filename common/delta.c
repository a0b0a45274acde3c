/* Gromov δ-hyperbolicity (hyplora/delta.h): distances, checks and the fixed-base kernel.
 *
 * The kernel works on the Gromov product matrix G of one base point, rounded to float32 and
 * stored with rows padded to a multiple of 8 (padding -FLT_MAX, which no max picks). For
 * every pair x < y it needs m(x, y) = max_z min(G[x][z], G[y][z]) (G is symmetric, so both
 * operands are rows read left to right) and δ_w is the largest m(x, y) - G[x][y]. Pairs are
 * taken in register tiles of 2 x-rows by 6 y-rows: twelve 8-lane accumulators, each z step
 * loading 2 + 6 vectors for 12 min and 12 max operations. A work item is a panel of 24
 * x-rows: each 6-row y-tile is read from memory once per panel and then served from L1 to
 * its 12 x-tiles, which keeps the kernel from waiting on memory. Panels go to the threads. */
#include <cblas.h>
#include <float.h>
#include <math.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/delta.h"
#include "parallel.h"

enum { LANES = 8, TX = 2, TY = 6, PANEL = 12 * TX /* x rows per work item */ };

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

/* The distances of the rows of X into D, through caller buffers: Xd [n, dim] and sq [n]. */
static int distances_into(const float *X, size_t n, size_t dim, hp_distance kind, double *Xd, double *sq,
                          double *D, hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    for (size_t i = 0; i < n; i++) {
        /* A branch-free loop (it vectorises); a float squared cannot overflow a double, so the
         * sum is finite exactly when every coordinate is, and only then is the row searched. */
        const float *x = X + i * dim;
        double *xd = Xd + i * dim, s = 0;
        for (size_t k = 0; k < dim; k++) {
            xd[k] = x[k];
            s += xd[k] * xd[k];
        }
        for (size_t k = 0; !isfinite(s) && k < dim; k++)
            if (!isfinite(x[k]))
                return hp_fail(err, "point %zu, coordinate %zu is not finite (%g)", i, k, (double)x[k]);
        sq[i] = s;
        if (kind != HP_DISTANCE_EUCLIDEAN && s == 0)
            return hp_fail(err, "point %zu is the zero vector, which has no direction for the %s distance", i,
                           kind == HP_DISTANCE_COSINE ? "cosine" : "angular");
    }
    /* The upper triangle of X X^T (a float times a float is exact in double, so only the
     * sums round), each entry turned into the distance in place and mirrored: D is exactly
     * symmetric. */
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, (int)n, (int)dim, 1.0, Xd, (int)dim, 0.0, D, (int)n);
    for (size_t i = 0; i < n; i++) {
        D[i * n + i] = 0;
        for (size_t j = i + 1; j < n; j++) {
            double g = D[i * n + j], v;
            /* Equal points (a token repeated in a prompt) are exactly 0 apart; through the
             * Gram matrix they would be a rounding error apart. Equal rows have bit-equal
             * squared norms, so only those pairs are compared. */
            if (sq[i] == sq[j] && memcmp(X + i * dim, X + j * dim, dim * sizeof *X) == 0) {
                D[i * n + j] = D[j * n + i] = 0;
                continue;
            }
            if (kind == HP_DISTANCE_EUCLIDEAN) {
                double d2 = sq[i] + sq[j] - 2 * g;
                v = d2 > 0 ? sqrt(d2) : 0; /* round-off can make a tiny squared distance negative */
            } else {
                double c = g / sqrt(sq[i] * sq[j]);
                c = c > 1 ? 1 : c < -1 ? -1 : c;
                v = kind == HP_DISTANCE_COSINE ? 1 - c : acos(c);
            }
            D[i * n + j] = D[j * n + i] = v;
        }
    }
    return 0;
}

int hp_delta_distances(const float *X, size_t n, size_t dim, hp_distance kind, double *D, hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    double *Xd = hp_malloc(n * dim * sizeof *Xd, "the points in double", err);
    double *sq = Xd ? hp_malloc(n * sizeof *sq, "the squared norms", err) : NULL;
    int rc = sq ? distances_into(X, n, dim, kind, Xd, sq, D, err) : -1;
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

/* Left to itself GCC takes all twelve min operations of a step first, which needs twelve
 * temporaries besides the twelve accumulators, and spills half of them to the stack. An
 * empty asm that takes each updated accumulator in a register keeps each min next to its
 * max, so one temporary serves them all. */
#define KEEP(v) __asm__ volatile("" : "+x"(v))

__attribute__((target("avx2"))) static float hmax8(__m256 v)
{
    __m128 h = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    h = _mm_max_ps(h, _mm_movehl_ps(h, h));
    h = _mm_max_ss(h, _mm_movehdup_ps(h));
    return _mm_cvtss_f32(h);
}

/* A full 2 x 6 tile in twelve accumulators: with the two x vectors, one y vector and one
 * temporary that is all sixteen registers (a 3 x 4 tile needs seventeen, and the spilled
 * accumulators then go through memory every step, at several times the cost). */
__attribute__((target("avx2"))) static void tile_avx2(const float *G, size_t ld, size_t x0, size_t y0,
                                                      float m[TX][TY])
{
    const float *a0 = G + x0 * ld, *a1 = a0 + ld;
    const float *b0 = G + y0 * ld, *b1 = b0 + ld, *b2 = b1 + ld, *b3 = b2 + ld, *b4 = b3 + ld, *b5 = b4 + ld;
    __m256 lo = _mm256_set1_ps(-FLT_MAX);
    __m256 c00 = lo, c01 = lo, c02 = lo, c03 = lo, c04 = lo, c05 = lo, c10 = lo, c11 = lo, c12 = lo, c13 = lo,
           c14 = lo, c15 = lo;
    for (size_t z = 0; z < ld; z += LANES) {
        __m256 x0v = _mm256_load_ps(a0 + z), x1v = _mm256_load_ps(a1 + z);
        __m256 y;
#define COL(J, B)                                                  \
    y = _mm256_load_ps(B + z);                                     \
    c0##J = _mm256_max_ps(c0##J, _mm256_min_ps(x0v, y));           \
    KEEP(c0##J);                                                   \
    c1##J = _mm256_max_ps(c1##J, _mm256_min_ps(x1v, y));           \
    KEEP(c1##J);
        COL(0, b0)
        COL(1, b1)
        COL(2, b2)
        COL(3, b3)
        COL(4, b4)
        COL(5, b5)
#undef COL
    }
    m[0][0] = hmax8(c00), m[0][1] = hmax8(c01), m[0][2] = hmax8(c02), m[0][3] = hmax8(c03);
    m[0][4] = hmax8(c04), m[0][5] = hmax8(c05);
    m[1][0] = hmax8(c10), m[1][1] = hmax8(c11), m[1][2] = hmax8(c12), m[1][3] = hmax8(c13);
    m[1][4] = hmax8(c14), m[1][5] = hmax8(c15);
}
#endif

/* Walks the pair tiles of panels [begin, end): every 2 x 6 tile of rows x0.., y0.. with
 * y0 from the panel's first row (pairs with x >= y come along; the callers skip them), so
 * that each y-tile read from memory serves the panel's 12 x-tiles from L1. */
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
    bool on_grid;      /* every product is gmin + k step: the levels are the values */
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
    const uint16_t *a0 = Q + x0 * ld, *a1 = a0 + ld;
    const uint16_t *b0 = Q + y0 * ld, *b1 = b0 + ld, *b2 = b1 + ld, *b3 = b2 + ld, *b4 = b3 + ld, *b5 = b4 + ld;
    __m256i c00 = _mm256_setzero_si256(), c01 = c00, c02 = c00, c03 = c00, c04 = c00, c05 = c00, c10 = c00,
            c11 = c00, c12 = c00, c13 = c00, c14 = c00, c15 = c00;
    for (size_t z = 0; z < ld; z += 16) {
        __m256i x0v = _mm256_load_si256((const __m256i *)(a0 + z));
        __m256i x1v = _mm256_load_si256((const __m256i *)(a1 + z));
        __m256i y;
#define COL(J, B)                                                    \
    y = _mm256_load_si256((const __m256i *)(B + z));                 \
    c0##J = _mm256_max_epu16(c0##J, _mm256_min_epu16(x0v, y));       \
    KEEP(c0##J);                                                     \
    c1##J = _mm256_max_epu16(c1##J, _mm256_min_epu16(x1v, y));       \
    KEEP(c1##J);
        COL(0, b0)
        COL(1, b1)
        COL(2, b2)
        COL(3, b3)
        COL(4, b4)
        COL(5, b5)
#undef COL
    }
    m[0][0] = hmax16(c00), m[0][1] = hmax16(c01), m[0][2] = hmax16(c02), m[0][3] = hmax16(c03);
    m[0][4] = hmax16(c04), m[0][5] = hmax16(c05);
    m[1][0] = hmax16(c10), m[1][1] = hmax16(c11), m[1][2] = hmax16(c12), m[1][3] = hmax16(c13);
    m[1][4] = hmax16(c14), m[1][5] = hmax16(c15);
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
            if (j->on_grid) { /* exact: no bound, no verification */
                consider(b, j->gmin + (double)m[i][k] * j->step - g, x, y);
                continue;
            }
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

/* The kernel's buffers for one point set, grown to the largest set seen so far (a worker
 * of hp_delta_sets reuses one across its sets). */
typedef struct workspace {
    float *G;      /* n x ld, 32-byte aligned */
    size_t ld;
    uint16_t *Q;   /* n x ld16 levels of G, 32-byte aligned (filter only) */
    size_t ld16;
    float *upper;  /* n x n per-pair upper bounds (filter only) */
    bool filter;   /* n >= FILTER_MIN_N: the 16-bit pass runs first */
    best *per_worker;
    int threads;
    size_t cap_G, cap_Q, cap_upper; /* elements allocated */
    int cap_workers;
} workspace;

static int grow_aligned(void **p, size_t *cap, size_t need, size_t size, hp_err *err)
{
    if (need <= *cap)
        return 0;
    free(*p);
    *p = NULL;
    *cap = 0;
    if (posix_memalign(p, 32, need * size) != 0) {
        *p = NULL;
        return hp_fail(err, "out of memory for the Gromov products of %zu values", need);
    }
    *cap = need;
    return 0;
}

/* Sizes ws for n points on `threads` threads. */
static int workspace_reserve(workspace *w, size_t n, int threads, hp_err *err)
{
    w->ld = (n + LANES - 1) / LANES * LANES;
    w->ld16 = (n + 15) / 16 * 16;
    w->threads = threads;
    w->filter = n >= FILTER_MIN_N;
    if (grow_aligned((void **)&w->G, &w->cap_G, n * w->ld, sizeof(float), err) ||
        (w->filter && (grow_aligned((void **)&w->Q, &w->cap_Q, n * w->ld16, sizeof(uint16_t), err) ||
                       grow_aligned((void **)&w->upper, &w->cap_upper, n * n, sizeof(float), err))))
        return -1;
    if (threads > w->cap_workers) {
        free(w->per_worker);
        w->cap_workers = 0;
        if (!(w->per_worker = hp_calloc((size_t)threads, sizeof *w->per_worker, "the per-thread maxima", err)))
            return -1;
        w->cap_workers = threads;
    }
    return 0;
}

static int workspace_init(workspace *w, size_t n, const hp_delta_options *opt, hp_err *err)
{
    memset(w, 0, sizeof *w);
    return workspace_reserve(w, n, hp_threads_resolve(opt ? opt->threads : 0, (n + PANEL - 1) / PANEL), err);
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
    bool *rounded;   /* per worker: some product is not a float32 value (it was rounded) */
    bool *off_grid;  /* per worker: some product is not a multiple of 1/2 */
    double gmin, step; /* for the levels */
    bool on_grid;      /* the levels are exact: step 1/2, every product a multiple of it */
} products_job;

static int product_rows(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    (void)err;
    products_job *j = ctx;
    const double *D = j->D;
    size_t n = j->n, ld = j->ws->ld;
    double lo = j->lo[worker], hi = j->hi[worker];
    bool rounded = j->rounded[worker], off_grid = j->off_grid[worker];
    for (size_t x = begin; x < end; x++) {
        float *row = j->ws->G + x * ld;
        const double *dx = D + x * n;
        for (size_t y = 0; y < n; y++) {
            /* D is symmetric: d(y, w) is read along row w rather than down column w */
            double g = 0.5 * (dx[j->w] + D[j->w * n + y] - dx[y]);
            row[y] = (float)g;
            rounded |= (double)row[y] != g;
            off_grid |= 2 * g != floor(2 * g);
            lo = g < lo ? g : lo;
            hi = g > hi ? g : hi;
        }
        for (size_t y = n; y < ld; y++)
            row[y] = -FLT_MAX;
    }
    j->lo[worker] = lo;
    j->hi[worker] = hi;
    j->rounded[worker] = rounded;
    j->off_grid[worker] = off_grid;
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
    filter_job f = {ws->Q, n, ws->ld16, ws->ld, ws->G, pj->gmin, pj->step, pj->on_grid, ws->upper, ws->per_worker};
    double lower;
    if (run_pass(ws, (n + PANEL - 1) / PANEL, filter_panels, &f, &lower, err))
        return -1;
    if (pj->on_grid) {
        *value = lower;
        return 0;
    }
    verify_job v = {ws->G, n, ws->ld, ws->upper, lower, ws->per_worker};
    return run_pass(ws, n, verify_rows, &v, value, err);
}

/* δ_w, through the float32 kernel unless its error bound is too loose for 1e-5 relative. */
static int delta_base(const double *D, size_t n, size_t w, workspace *ws, bool force_double, double *delta,
                      bool *used_double, hp_err *err)
{
    double lo[ws->threads], hi[ws->threads];
    bool rounded[ws->threads], off_grid[ws->threads], any_rounded = false, any_off_grid = false;
    for (int t = 0; t < ws->threads; t++)
        lo[t] = INFINITY, hi[t] = -INFINITY, rounded[t] = off_grid[t] = false;
    products_job pj = {.D = D, .n = n, .w = w, .ws = ws, .lo = lo, .hi = hi, .rounded = rounded, .off_grid = off_grid};
    if (hp_parallel_for(ws->threads, n, 16, product_rows, &pj, err))
        return -1;
    pj.gmin = INFINITY;
    double gmaxv = -INFINITY;
    for (int t = 0; t < ws->threads; t++) {
        pj.gmin = lo[t] < pj.gmin ? lo[t] : pj.gmin;
        gmaxv = hi[t] > gmaxv ? hi[t] : gmaxv;
        any_rounded |= rounded[t];
        any_off_grid |= off_grid[t];
    }
    pj.step = (gmaxv - pj.gmin) / 65533;
    /* Integer distances (graphs) give half-integer products: with a step of 1/2 each value
     * is its own level, and the 16-bit pass alone is exact. */
    pj.on_grid = !any_rounded && !any_off_grid && gmaxv - pj.gmin <= 0.5 * 65533;
    if (pj.on_grid)
        pj.step = 0.5;
    double gmax = fabs(gmaxv) > fabs(pj.gmin) ? fabs(gmaxv) : fabs(pj.gmin);
    double value = 0;
    if (!force_double && ws->filter) {
        if (filtered_pass(&pj, &value, err))
            return -1;
    } else if (!force_double) {
        kernel_job j = {ws->G, n, ws->ld, ws->per_worker};
        if (run_pass(ws, (n + PANEL - 1) / PANEL, kernel_panels, &j, &value, err))
            return -1;
    }
    /* Each product is rounded once to float (relative 2^-24), the selections are exact and
     * the last subtraction is in double: the float δ is within 2^-23 * max|G| of δ, and is
     * δ itself when no product was rounded (integer distances: graphs). */
    double bound = any_rounded ? ldexp(gmax, -23) : 0;
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

/* δ of D into r: the fixed base `base`, or the largest over every base when exact. */
static int delta_of(const double *D, size_t n, bool exact, size_t base, workspace *ws, bool force_double,
                    hp_progress *progress, hp_delta_result *r, hp_err *err)
{
    memset(r, 0, sizeof *r);
    r->exact = exact;
    r->base = base;
    size_t first = exact ? 0 : base, last = exact ? n : base + 1;
    for (size_t w = first; w < last; w++) {
        double d;
        bool dbl;
        if (delta_base(D, n, w, ws, force_double, &d, &dbl, err))
            return -1;
        if (w == first || d > r->delta) {
            r->delta = d;
            r->base = w;
        }
        r->used_double |= dbl;
        if (exact)
            hp_progress_update(progress, w + 1, n);
    }
    finish(r, D, n);
    return 0;
}

static int delta_matrix(const double *D, size_t n, bool exact, size_t base, const hp_delta_options *opt,
                        hp_delta_result *r, hp_err *err)
{
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    if (base >= n)
        return hp_fail(err, "base point %zu is out of range: there are %zu points", base, n);
    workspace ws;
    int rc = workspace_init(&ws, n, opt, err);
    if (rc == 0)
        rc = delta_of(D, n, exact, base, &ws, opt && opt->force_double, opt ? opt->progress : NULL, r, err);
    workspace_free(&ws);
    return rc;
}

int hp_delta_fixed_base(const double *D, size_t n, size_t base, const hp_delta_options *opt, hp_delta_result *r,
                        hp_err *err)
{
    return delta_matrix(D, n, false, base, opt, r, err);
}

int hp_delta_exact(const double *D, size_t n, const hp_delta_options *opt, hp_delta_result *r, hp_err *err)
{
    return delta_matrix(D, n, true, 0, opt, r, err);
}

/* ---- many small sets ----
 *
 * The sets (a prompt's tokens, one layer's hidden states of a prompt) are small, so each is
 * done start to finish on one thread, the threads taking sets from a shared counter, and
 * each worker keeps its buffers from set to set. OpenBLAS runs single-threaded inside. */

typedef struct set_worker {
    workspace ws;
    double *Xd, *sq, *D;
    float *buf;
} set_worker;

typedef struct sets_job {
    const size_t *n_points;
    const size_t *sets; /* the sets of this share */
    size_t dim, n_sets;
    hp_delta_points_fn points;
    void *ctx;
    const hp_delta_sets_options *opt;
    hp_delta_result *out;
    set_worker *w;
    atomic_size_t done;
} sets_job;

static int one_set(const sets_job *j, set_worker *w, size_t i, hp_err *err)
{
    size_t n = j->n_points[i];
    size_t base = j->opt->base ? j->opt->base[i] : 0;
    if (n < 4)
        return hp_fail(err, "δ needs at least 4 points, got %zu", n);
    if (!j->opt->exact && base >= n)
        return hp_fail(err, "base point %zu is out of range: there are %zu points", base, n);
    const float *X = j->points(j->ctx, i, w->buf, err);
    if (!X || distances_into(X, n, j->dim, j->opt->distance, w->Xd, w->sq, w->D, err) ||
        workspace_reserve(&w->ws, n, 1, err))
        return -1;
    return delta_of(w->D, n, j->opt->exact, base, &w->ws, false, NULL, &j->out[i], err);
}

static int set_items(void *ctx, int worker, size_t begin, size_t end, hp_err *err)
{
    sets_job *j = ctx;
    for (size_t k = begin; k < end; k++) {
        size_t i = j->sets[k];
        if (one_set(j, &j->w[worker], i, err))
            return hp_failctx(err, "%s %lld", j->opt->noun ? j->opt->noun : "set",
                              (long long)(j->opt->ids ? j->opt->ids[i] : (int64_t)i));
        size_t done = atomic_fetch_add(&j->done, 1) + 1;
        if (worker == 0) /* the progress callback is not thread-safe: one thread reports */
            hp_progress_update(j->opt->progress, done, j->n_sets);
    }
    return 0;
}

int hp_delta_sets(size_t n_sets, const size_t *n_points, size_t dim, hp_delta_points_fn points, void *ctx,
                  const hp_delta_sets_options *opt, hp_delta_result *out, hp_err *err)
{
    size_t parts = opt->parts > 1 ? opt->parts : 1, max_n = 0, n_mine = 0;
    size_t *mine = hp_malloc((n_sets ? n_sets : 1) * sizeof *mine, "the δ sets", err);
    if (!mine)
        return -1;
    for (size_t i = 0; i < n_sets; i++)
        if (i % parts == opt->part % parts) {
            mine[n_mine++] = i;
            max_n = n_points[i] > max_n ? n_points[i] : max_n;
        }
    if (n_mine == 0)
        return free(mine), 0;
    int threads = hp_threads_resolve(opt->threads, n_mine);
    set_worker *w = hp_calloc((size_t)threads, sizeof *w, "the δ workers", err);
    if (!w)
        return free(mine), -1;
    int rc = 0;
    for (int t = 0; t < threads && rc == 0; t++)
        if (!(w[t].Xd = hp_malloc(max_n * dim * sizeof *w[t].Xd, "the points in double", err)) ||
            !(w[t].sq = hp_malloc(max_n * sizeof *w[t].sq, "the squared norms", err)) ||
            !(w[t].D = hp_malloc(max_n * max_n * sizeof *w[t].D, "the distances", err)) ||
            !(w[t].buf = hp_malloc(max_n * dim * sizeof *w[t].buf, "the points", err)))
            rc = -1;
    sets_job j = {n_points, mine, dim, n_mine, points, ctx, opt, out, w, 0};
    if (rc == 0) {
        int before = openblas_get_num_threads();
        openblas_set_num_threads(1);
        rc = hp_parallel_for(threads, n_mine, 1, set_items, &j, err);
        openblas_set_num_threads(before);
    }
    for (int t = 0; t < threads; t++) {
        workspace_free(&w[t].ws);
        free(w[t].Xd);
        free(w[t].sq);
        free(w[t].D);
        free(w[t].buf);
    }
    free(w);
    free(mine);
    return rc;
}

/* Goodness of fit by the semi-parametric bootstrap (CSN 2009, section 4.1).
 *
 * Synthetic set i (of n values) draws, for each value, a uniform number: with probability
 * n_tail/n the value comes from the fitted power law, otherwise it is a value drawn
 * uniformly from the data below xmin. The set is then fitted exactly as the data were
 * (xmin rescanned unless it was fixed) and p is the fraction of sets whose KS distance is
 * at least the data's.
 *
 * Power-law draws are exact inversions of the fitted CDF. Continuous:
 * x = xmin (1-u)^(-1/(alpha-1)). Discrete: X = the smallest x with P(X <= x) > u, where
 * P(X <= x) = 1 - zeta(alpha, x+1)/zeta(alpha, xmin); a table of that CDF over the first
 * values (up to where the tail mass is 1e-4, at most 2^18 entries) with a guide table
 * answers almost every draw in O(1); the rest are found by bisection on the zeta CDF.
 *
 * Every set has its own generator seeded from (seed, i), and each set's distance goes to
 * its own slot, so the result does not depend on the number of threads or their timing. */
#include "hyplora/powerlaw.h"
#include "hyplora/rng.h"
#include "powerlaw_internal.h"
#include "zeta_internal.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void hp_powerlaw_bootstrap_options_init(hp_powerlaw_bootstrap_options *opt)
{
    memset(opt, 0, sizeof *opt);
    opt->n_sets = 2500;
    opt->seed = 0;
    opt->threads = 0;
    opt->progress = NULL;
}

#define TABLE_MAX (1u << 18)
#define TABLE_TAIL 1e-4

typedef struct sampler {
    int discrete;
    double alpha, xmin, lx, z0; /* z0: zeta(alpha, xmin) scaled by xmin^alpha */
    double p_tail;              /* n_tail / n */
    const double *below;        /* the data values < xmin */
    size_t n_below, n;
    double *cdf;                /* cdf[i] = P(X <= xmin + i) */
    size_t T;
    uint32_t *guide;            /* guide[g]: first i with cdf[i] > g / G */
    size_t G;
} sampler;

/* Q(x) = P(X >= x) for whole x >= xmin */
static double ccdf_at(const sampler *s, double x)
{
    double z = hp_zeta_em_ok(s->alpha, x) ? hp_zeta_em_tail(s->alpha, x, log(x), s->lx)
                                          : hp_zeta_scaled(s->alpha, x, s->lx);
    return z / s->z0;
}

static int sampler_init(sampler *s, const double *x, size_t n, const hp_powerlaw_fit *fit,
                        hp_err *err)
{
    memset(s, 0, sizeof *s);
    s->discrete = fit->discrete;
    s->alpha = fit->alpha;
    s->xmin = fit->xmin;
    s->lx = log(fit->xmin);
    s->n = n;
    s->p_tail = (double)fit->n_tail / (double)n;
    double *below = hp_malloc((n - fit->n_tail + 1) * sizeof *below, "the values below xmin", err);
    if (!below)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (x[i] < fit->xmin)
            below[s->n_below++] = x[i];
    s->below = below;
    if (!s->discrete)
        return 0;
    s->z0 = hp_zeta_scaled(s->alpha, s->xmin, s->lx);
    s->cdf = hp_malloc(TABLE_MAX * sizeof *s->cdf, "the power-law CDF table", err);
    if (!s->cdf)
        return -1;
    /* zeta(a, x+1) = zeta(a, x) - x^-a, re-anchored by a direct evaluation every 1024
     * steps so that rounding cannot drift */
    double z = s->z0;
    size_t T = 0;
    for (; T < TABLE_MAX; T++) {
        double v = s->xmin + (double)T;
        if (T % 1024 == 1023)
            z = s->z0 * ccdf_at(s, v);
        z -= exp(-s->alpha * (log(v) - s->lx));
        s->cdf[T] = 1 - z / s->z0;
        if (z / s->z0 < TABLE_TAIL && T > 0) {
            T++;
            break;
        }
    }
    s->T = T;
    s->G = T < 4096 ? 4096 : T;
    s->guide = hp_malloc((s->G + 1) * sizeof *s->guide, "the CDF guide table", err);
    if (!s->guide)
        return -1;
    size_t i = 0;
    for (size_t g = 0; g <= s->G; g++) {
        double level = (double)g / (double)s->G;
        while (i + 1 < T && s->cdf[i] <= level)
            i++;
        s->guide[g] = (uint32_t)i;
    }
    return 0;
}

static void sampler_free(sampler *s)
{
    free((void *)s->below);
    free(s->cdf);
    free(s->guide);
}

/* the smallest whole x >= xmin with P(X <= x) > u, beyond the table */
static double invert_far(const sampler *s, double u)
{
    double v = 1 - u; /* want the smallest x with Q(x+1) < v */
    double lo = s->xmin + (double)s->T - 1; /* Q(lo+1) >= v holds: u >= cdf[T-1] */
    double guess = floor(s->xmin * pow(v, -1 / (s->alpha - 1)));
    double hi = guess > lo + 1 ? guess : lo + 1;
    while (ccdf_at(s, hi + 1) >= v) {
        lo = hi;
        hi = 2 * hi;
        if (hi > 1e300)
            return hi;
    }
    /* Q(lo+1) >= v > Q(hi+1): answer in (lo, hi] */
    while (hi - lo > 1) {
        double mid = floor(lo + (hi - lo) / 2);
        if (ccdf_at(s, mid + 1) < v)
            hi = mid;
        else
            lo = mid;
    }
    return hi;
}

static double draw_tail(const sampler *s, hp_rng *r)
{
    double u = hp_rng_uniform(r);
    if (!s->discrete)
        return s->xmin * pow(1 - u, -1 / (s->alpha - 1));
    if (u >= s->cdf[s->T - 1])
        return invert_far(s, u);
    size_t i = s->guide[(size_t)(u * (double)s->G)];
    while (s->cdf[i] <= u)
        i++;
    return s->xmin + (double)i;
}

typedef struct job {
    const sampler *s;
    const hp_powerlaw_options *opt;
    int discrete;
    int n_sets;
    uint64_t seed;
    double *dist; /* per set; NAN marks a set that could not be fitted */
    atomic_int next, done;
    hp_progress *progress; /* called by the calling thread only */
    atomic_int failed;
    hp_err err;
    pthread_mutex_t lock;
} job;

static uint64_t set_seed(uint64_t seed, int i)
{
    /* one splitmix64 step over (seed, i): distinct sets get unrelated streams */
    uint64_t z = seed + 0x9e3779b97f4a7c15ull * ((uint64_t)i + 1);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static void run_worker(job *jb, int is_caller)
{
    const sampler *s = jb->s;
    size_t n = s->n;
    hp_err err;
    double *v = malloc(2 * n * sizeof *v);
    pl_data d;
    if (!v || pl_data_alloc(&d, n, &err) != 0) {
        free(v);
        pthread_mutex_lock(&jb->lock);
        if (!jb->failed)
            hp_fail(&jb->err, "out of memory for a synthetic data set of %zu values", n);
        jb->failed = 1;
        pthread_mutex_unlock(&jb->lock);
        return;
    }
    hp_powerlaw_options opt = *jb->opt;
    for (;;) {
        int i = atomic_fetch_add(&jb->next, 1);
        if (i >= jb->n_sets || jb->failed)
            break;
        hp_rng r;
        hp_rng_seed(&r, set_seed(jb->seed, i));
        for (size_t k = 0; k < n; k++) {
            if (s->n_below == 0 || hp_rng_uniform(&r) < s->p_tail) {
                v[k] = draw_tail(s, &r);
            } else {
                size_t b = (size_t)(hp_rng_uniform(&r) * (double)s->n_below);
                v[k] = s->below[b < s->n_below ? b : s->n_below - 1];
            }
        }
        pl_sort_positive(v, v + n, n);
        pl_data_from_sorted(&d, v, n);
        hp_powerlaw_fit f;
        memset(&f, 0, sizeof f);
        jb->dist[i] = d.K >= 2 && pl_fit(&d, jb->discrete, &opt, 0, &f, &err) == 0
                          ? f.ks_distance
                          : NAN;
        int done = atomic_fetch_add(&jb->done, 1) + 1;
        if (is_caller)
            hp_progress_update(jb->progress, (uint64_t)done, (uint64_t)jb->n_sets);
    }
    pl_data_free(&d);
    free(v);
}

static void *worker_main(void *arg)
{
    run_worker(arg, 0);
    return NULL;
}

int hp_powerlaw_bootstrap_run(const double *x, size_t n, const hp_powerlaw_options *opt,
                              const hp_powerlaw_fit *fit,
                              const hp_powerlaw_bootstrap_options *bopt,
                              hp_powerlaw_bootstrap *out, hp_err *err)
{
    memset(out, 0, sizeof *out);
    hp_powerlaw_options defaults;
    if (!opt) {
        hp_powerlaw_options_init(&defaults);
        opt = &defaults;
    }
    hp_powerlaw_bootstrap_options bdefaults;
    if (!bopt) {
        hp_powerlaw_bootstrap_options_init(&bdefaults);
        bopt = &bdefaults;
    }
    if (bopt->n_sets < 1)
        return hp_fail(err, "the bootstrap needs at least one synthetic set, got %d", bopt->n_sets);
    if (!(fit->alpha > 1) || !(fit->xmin > 0) || fit->n_tail == 0 || fit->n_tail > n)
        return hp_fail(err, "the bootstrap needs a fitted power law (alpha > 1, xmin > 0, a "
                            "tail within the data)");
    sampler s;
    if (sampler_init(&s, x, n, fit, err) != 0) {
        sampler_free(&s);
        return -1;
    }
    job jb;
    memset(&jb, 0, sizeof jb);
    jb.s = &s;
    jb.opt = opt;
    jb.discrete = fit->discrete;
    jb.n_sets = bopt->n_sets;
    jb.seed = bopt->seed;
    jb.progress = bopt->progress;
    atomic_init(&jb.next, 0);
    atomic_init(&jb.done, 0);
    pthread_mutex_init(&jb.lock, NULL);
    jb.dist = hp_malloc((size_t)bopt->n_sets * sizeof *jb.dist, "the bootstrap distances", err);
    if (!jb.dist) {
        sampler_free(&s);
        pthread_mutex_destroy(&jb.lock);
        return -1;
    }
    hp_powerlaw_options o = *opt;
    o.keep_scan = 0;
    jb.opt = &o;
    long threads = bopt->threads > 0 ? bopt->threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (threads < 1)
        threads = 1;
    if (threads > bopt->n_sets)
        threads = bopt->n_sets;
    pthread_t *tid = calloc((size_t)threads, sizeof *tid);
    long started = 0;
    for (long t = 1; tid && t < threads; t++) {
        if (pthread_create(&tid[t], NULL, worker_main, &jb) != 0)
            break;
        started++;
    }
    run_worker(&jb, 1);
    for (long t = 1; t <= started; t++)
        pthread_join(tid[t], NULL);
    free(tid);
    int rc = 0;
    if (jb.failed) {
        rc = hp_fail(err, "%s", jb.err.msg);
    } else {
        int greater = 0;
        for (int i = 0; i < bopt->n_sets; i++) /* an unfittable set counts as a worse fit */
            greater += isnan(jb.dist[i]) || jb.dist[i] >= fit->ks_distance;
        out->n_sets = bopt->n_sets;
        out->n_greater = greater;
        out->p_value = (double)greater / (double)bopt->n_sets;
        hp_progress_update(bopt->progress, (uint64_t)bopt->n_sets, (uint64_t)bopt->n_sets);
    }
    free(jb.dist);
    sampler_free(&s);
    pthread_mutex_destroy(&jb.lock);
    return rc;
}

/* `hyplora delta`: the Gromov δ-hyperbolicity of a model's token embeddings (sampled, after
 * Khrulkov et al.), of word vectors, of a given distance matrix or of a graph. The work is
 * hyplora/delta.h (and graph.h); this file reads the options, draws the samples, runs the
 * tries, prints the summary and writes /delta/<name>; delta_inputs.c reads the inputs.
 *
 * Under mpirun the tries, or the per-prompt items and batches, are shared among the ranks,
 * which draw the same samples; the shares are summed (each result measured by one rank, 0
 * elsewhere), so the report rank 0 writes is the one process's to the last bit. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta_cmd.h"
#include "dist.h"
#include "stages.h"
#include "freq_counts.h"
#include "model_session.h"

static const char *HELP =
    "usage: hyplora delta MODEL --data FILE [--field F] [--layers all|LIST] [mode options] -o REPORT\n"
    "       hyplora delta (MODEL | --vectors FILE [--vocab V]) --sample N [--tries T] [--seed S]\n"
    "                     [--with-replacement] [mode options] -o REPORT\n"
    "       hyplora delta (--vectors FILE | --distances FILE | --graph FILE) [mode options] -o REPORT\n"
    "mode options: [--exact | --base first|random|INDEX] [--distance euclidean|cosine|angular]\n"
    "              [--name NAME]\n"
    "\n"
    "Measures how tree-like a set of points is: the Gromov δ (fixed base point, or the true\n"
    "four-point δ with --exact), the diameter, the relative δ_rel = 2 δ / diameter (0 for a\n"
    "tree, near 1 for points on a sphere with great-circle distances) and Khrulkov's\n"
    "curvature estimate c = (0.144 / δ_rel)^2 for the Poincaré ball, K = 1/c. See\n"
    "docs/delta.md. Three protocols:\n"
    "  per prompt (the paper's): each item of --data is one set of points, the input\n"
    "    embeddings of its tokens (BOS first) or the word vectors of its words, with the\n"
    "    first as base point; mean and std of δ_rel over the items. --layers also runs the\n"
    "    model and measures the hidden states entering each layer.\n"
    "  sampled (Khrulkov et al.): --sample N draws T random sets of N rows.\n"
    "  whole input: every vector, the distance matrix or the graph at once.\n"
    "Under mpirun the ranks share the items, or the tries (docs/distributed.md).\n"
    "\n"
    "Inputs:\n"
    "  MODEL                 a model directory, .safetensors or GGUF file: the rows of its\n"
    "                        input embedding (needs --data or --sample)\n"
    "  --vectors FILE        word vectors (GloVe/word2vec text, .npy + --vocab, wink JSON);\n"
    "                        without --data or --sample all rows, at most 4000\n"
    "  --vocab FILE          the vocabulary of a .npy vectors file\n"
    "  --distances FILE      a square distance matrix (finite, non-negative, symmetric, zero\n"
    "                        diagonal): .npy float32 or float64 in C order, or a dataset of an\n"
    "                        HDF5 file\n"
    "  --dataset PATH        the dataset of an HDF5 --distances file (default distances)\n"
    "  --graph FILE          an unweighted undirected edge list, one \"u v\" pair of node ids\n"
    "                        (0, 1, ...) per line, '#' comments; shortest-path distances;\n"
    "                        connected, at most 30000 nodes\n"
    "\n"
    "Per prompt:\n"
    "  --data FILE           prompts: a .json/.jsonl data set (the string field --field of each\n"
    "                        item, or the item itself if it is a string) or a text file (one\n"
    "                        prompt per line). A model's tokenizer encodes each with its\n"
    "                        special tokens, BOS first; for vectors, the lower-cased words\n"
    "                        found in them (as freq --words splits). Items with fewer than 4\n"
    "                        points are skipped and counted. Repeat --data for several files:\n"
    "                        their items are measured as one data set, in the order given.\n"
    "  --field F             the JSON field (default instruction)\n"
    "  --limit N             only the first N items (of the files together)\n"
    "  --cutoff N            at most the first N points of each item (default: all)\n"
    "  --layers all|LIST     also the hidden states entering each layer: 0 (the embeddings) to\n"
    "                        L (the last layer's output, before the final norm) of an L-layer\n"
    "                        model; LIST such as 0,4-7,12. Written to /delta/layers\n"
    "  --batch B             --layers: sequences per forward batch (default: what fits 1 GiB\n"
    "                        of hidden states, at most 16)\n"
    "  --tokenizer PATH      a tokenizer instead of the model's own\n"
    "  --weights MODE        --layers: auto, f32 or stored (as in hyplora generate)\n"
    "\n"
    "Sampled:\n"
    "  --sample N            draw N rows (>= 4) per try, distinct unless --with-replacement\n"
    "                        (for a matrix or graph: the N x N block of those points)\n"
    "  --tries T             number of samples (default 1)\n"
    "  --seed S              random seed of the samples and of --base random (default 0)\n"
    "  --with-replacement    rows may repeat within a sample\n"
    "  --seen REPORT         draw only rows whose token (or word, for vectors) occurs in the\n"
    "                        counts of REPORT's /freq (hyplora freq)\n"
    "\n"
    "Mode options:\n"
    "  --base first          base point: the first point of each item or sample, row 0 of a\n"
    "                        whole input (default; the paper uses the prompt's first token)\n"
    "  --base random         a random point of each item or sample (seeded by --seed)\n"
    "  --base INDEX          row INDEX of the input; with --sample it is put first in every\n"
    "                        sample and the other N-1 rows are drawn from the rest\n"
    "  --exact               the four-point δ: the largest fixed-base δ over all base points\n"
    "                        (n times the work)\n"
    "  --distance KIND       for points: euclidean (default), cosine (1 - cos) or angular\n"
    "                        (the great-circle distance on the unit sphere)\n"
    "  --name NAME           the report group /delta/NAME (default: embeddings for a model,\n"
    "                        else vectors, distances or graph; --layers writes /delta/layers,\n"
    "                        or /delta/NAME_layers with --name); other /delta groups are kept\n"
    "  -o, --output REPORT   the HDF5 report to create or update\n"
    "  -h, --help            this text\n"
    "The global --threads N sets the worker threads (default: all cores).\n"
    "\n"
    "Examples:\n"
    "  hyplora delta ~/models/Llama-2-7b --data notebooks-data/datasets/gsm8k/test.json \\\n"
    "      --layers all -o r.h5\n"
    "  hyplora delta ~/models/Llama-2-7b --sample 1000 --tries 10 -o r.h5\n"
    "  hyplora delta --vectors glove.6B.100d.txt --sample 2000 --tries 5 --seed 1 -o glove.h5\n"
    "  hyplora delta --graph tree.txt --exact -o graphs.h5 --name tree\n";

/* ---- sampling ---- */

/* Uniform in [0, bound), without modulo bias. */
static uint64_t below(hp_rng *g, uint64_t bound)
{
    uint64_t lim = UINT64_MAX - UINT64_MAX % bound, x;
    do
        x = hp_rng_u64(g);
    while (x >= lim);
    return x % bound;
}

/* The rows a sample may take: every row, or with --seen those whose token or word occurs
 * in the counts; without replacement, --base INDEX is left out (it is always first). */
static int candidate_rows(delta_run *r, size_t **out, size_t *m, hp_err *err)
{
    freq_counts fc = {0};
    if (r->seen && (freq_counts_read(&fc, r->seen, r->source == SRC_VECTORS, "--seen", err) ||
                    freq_counts_align(&fc, r->n, r->source == SRC_VECTORS ? &r->vec : NULL, err))) {
        freq_counts_free(&fc);
        return -1;
    }
    size_t *c = hp_malloc((r->n ? r->n : 1) * sizeof *c, "the candidate rows", err);
    *m = 0;
    for (size_t i = 0; c && i < r->n; i++)
        if ((!r->seen || fc.row[i] > 0) && !(r->base == BASE_INDEX && !r->with_replacement && i == r->base_index))
            c[(*m)++] = i;
    freq_counts_free(&fc);
    if (!c)
        return -1;
    *out = c;
    size_t need = r->sample - (r->base == BASE_INDEX ? 1 : 0);
    if (*m == 0 || (!r->with_replacement && *m < need)) {
        free(c);
        return hp_fail(err, "--sample %zu: only %zu row%s of %s %s%s: give a smaller N%s", r->sample, *m,
                       *m == 1 ? "" : "s", r->what, r->seen ? "occur in the counts of " : "can be drawn",
                       r->seen ? r->seen : "", r->with_replacement ? "" : ", or --with-replacement");
    }
    return 0;
}

/* The rows of every try: with --base INDEX that row first, the rest drawn from the
 * candidates by a partial Fisher-Yates shuffle (or independently, with replacement). */
static int draw_samples(delta_run *r, hp_err *err)
{
    size_t N = r->sample, m;
    size_t *pool;
    if (!(r->rows = hp_malloc(r->tries * N * sizeof *r->rows, "the sampled rows", err)) ||
        candidate_rows(r, &pool, &m, err))
        return -1;
    r->n_candidates = m;
    hp_rng g;
    hp_rng_seed(&g, r->seed);
    for (size_t t = 0; t < r->tries; t++) {
        int64_t *rows = r->rows + t * N;
        size_t pos = 0;
        if (r->base == BASE_INDEX)
            rows[pos++] = (int64_t)r->base_index;
        for (size_t j = 0; pos < N; j++, pos++) {
            if (r->with_replacement) {
                rows[pos] = (int64_t)pool[below(&g, m)];
            } else {
                size_t k = j + (size_t)below(&g, m - j), tmp = pool[j];
                pool[j] = pool[k];
                pool[k] = tmp;
                rows[pos] = (int64_t)pool[j];
            }
        }
    }
    free(pool);
    return 0;
}

/* ---- one try ---- */

/* Non-finite coordinates and zero rows (cosine, angular) named by their input row. */
static int check_points(const delta_run *r, const float *X, const int64_t *rows, size_t m,
                        hp_err *err)
{
    for (size_t i = 0; i < m; i++) {
        const float *x = X + i * r->dim;
        size_t row = rows ? (size_t)rows[i] : i;
        double sq = 0;
        for (size_t k = 0; k < r->dim; k++) {
            if (!isfinite(x[k]))
                return hp_fail(err, "row %zu, coordinate %zu is not finite (%g)", row, k,
                               (double)x[k]);
            sq += (double)x[k] * x[k];
        }
        if (sq == 0 && r->distance != HP_DISTANCE_EUCLIDEAN)
            return hp_fail(err, "row %zu is the zero vector, which has no direction for the %s "
                                "distance", row, delta_distance_name(r));
    }
    return 0;
}

typedef struct work {
    double *D; /* N x N for one try (or the input's matrix itself) */
    float *X;  /* N x dim points of one try */
    hp_rng base_rng;
    hp_delta_options opt;
} work;

/* Try t, with `drawn` its base point when --base random (drawn for every try on every
 * rank, so that a try has its base point whichever rank measures it). */
static int one_try(delta_run *r, work *w, size_t t, size_t drawn, hp_err *err)
{
    size_t N = r->n_points;
    const int64_t *rows = r->sampled ? r->rows + t * N : NULL;
    const double *D = w->D;
    if (r->source == SRC_MODEL || r->source == SRC_VECTORS) {
        const float *X = w->X;
        if (rows) {
            if (delta_gather_points(r, rows, N, w->X, err) != 0)
                return -1;
        } else {
            X = r->vec.data;
        }
        if (check_points(r, X, rows, N, err) != 0 ||
            hp_delta_distances(X, N, r->dim, r->distance, w->D, err) != 0)
            return hp_failctx(err, "%s", r->what);
    } else if (rows) {
        for (size_t i = 0; i < N; i++)
            for (size_t j = 0; j < N; j++)
                w->D[i * N + j] = r->D[(size_t)rows[i] * r->n + (size_t)rows[j]];
    } else {
        D = r->D;
    }
    size_t base = 0; /* first, and INDEX with --sample (put first) */
    if (r->base == BASE_RANDOM)
        base = drawn;
    else if (r->base == BASE_INDEX && !rows)
        base = r->base_index;
    hp_delta_result res;
    int rc = r->exact ? hp_delta_exact(D, N, &w->opt, &res, err)
                      : hp_delta_fixed_base(D, N, base, &w->opt, &res, err);
    if (rc != 0)
        return hp_failctx(err, "%s", r->what);
    r->delta[t] = res.delta;
    r->diameter[t] = res.diameter;
    r->delta_rel[t] = res.delta_rel;
    r->base_row[t] = rows ? rows[res.base] : (int64_t)res.base;
    r->used_double[t] = res.used_double;
    r->any_double = r->any_double || res.used_double;
    return 0;
}

static int alloc_results(delta_run *r, size_t T, hp_err *err) /* zeros: see gather() */
{
    r->delta = hp_calloc(T + 1, sizeof *r->delta, "the results", err);
    r->diameter = hp_calloc(T + 1, sizeof *r->diameter, "the results", err);
    r->delta_rel = hp_calloc(T + 1, sizeof *r->delta_rel, "the results", err);
    r->base_row = hp_calloc(T + 1, sizeof *r->base_row, "the results", err);
    r->used_double = hp_calloc(T + 1, sizeof *r->used_double, "the results", err);
    return r->delta && r->diameter && r->delta_rel && r->base_row && r->used_double ? 0 : -1;
}

/* Every rank must have measured the same things: the items, samples and options. */
static int check_same_run(const delta_run *r, hp_err *err)
{
    uint64_t h = dist_hash(0, &r->n_points, sizeof r->n_points);
    h = dist_hash(h, &r->tries, sizeof r->tries);
    h = dist_hash(h, &r->dim, sizeof r->dim);
    if (r->mode == MODE_PROMPTS) {
        h = dist_hash(h, r->items.start, (r->items.n + 1) * sizeof *r->items.start);
        h = dist_hash(h, r->items.rows, r->items.start[r->items.n] * sizeof *r->items.rows);
        h = dist_hash(h, r->layers.layer, r->layers.n * sizeof *r->layers.layer);
    } else if (r->sampled) {
        h = dist_hash(h, r->rows, r->tries * r->sample * sizeof *r->rows);
    }
    return dist_check_same(&h, sizeof h, "the items, samples or options", err);
}

/* The ranks' shares of the results put together on every rank: each entry was measured by
 * one rank and is 0 on the others. */
static int gather(delta_run *r, hp_err *err)
{
    if (g_dist.size < 2)
        return 0;
    if (check_same_run(r, err))
        return -1;
    dist_sum_f64(r->delta, r->tries);
    dist_sum_f64(r->diameter, r->tries);
    dist_sum_f64(r->delta_rel, r->tries);
    dist_sum_i64(r->base_row, r->tries);
    dist_sum_i64(r->used_double, r->tries);
    delta_layers *L = &r->layers;
    if (L->delta) {
        dist_sum_f64(L->delta, L->n * r->items.n);
        dist_sum_f64(L->diameter, L->n * r->items.n);
        dist_sum_f64(L->delta_rel, L->n * r->items.n);
    }
    int64_t any = r->any_double;
    dist_sum_i64(&any, 1);
    r->any_double = any > 0;
    return 0;
}

/* The means over the tries or items. */
static void summarize(delta_run *r)
{
    double sd;
    delta_mean_std(r->delta_rel, r->tries, &r->delta_rel_mean, &r->delta_rel_std);
    delta_mean_std(r->delta, r->tries, &r->delta_mean, &sd);
    delta_mean_std(r->diameter, r->tries, &r->diameter_mean, &sd);
}

/* The per-prompt protocol: the items of --data, their embeddings, and with --layers the
 * hidden states of each chosen layer. */
static int run_prompts(delta_run *r, hp_err *err)
{
    if (r->layers_spec && delta_layers_parse(r->layers_spec, r->model->config.n_layers, &r->layers, err))
        return -1;
    if ((g_dist.rank == 0 && delta_keep_read(r->out, r->name, r->layers_spec ? r->layers_name : NULL, &r->kept, err)) ||
        delta_prompts_read(r, err))
        return -1;
    r->tries = r->items.n;
    r->n_points = r->items.start[r->items.n];
    if (alloc_results(r, r->tries, err) || delta_prompts_measure(r, err) ||
        (r->layers_spec && delta_layers_measure(r, err)) || gather(r, err))
        return -1;
    delta_layers_summarize(r);
    summarize(r);
    return 0;
}

static int run(delta_run *r, hp_err *err)
{
    if (delta_load(r, err) != 0)
        return -1;
    if (r->mode == MODE_PROMPTS)
        return run_prompts(r, err);
    if (r->base == BASE_INDEX && r->base_index >= r->n)
        return hp_fail(err, "--base %zu is out of range: %s has %zu rows (0 to %zu)",
                       r->base_index, r->what, r->n, r->n - 1);
    if (r->sampled && !r->with_replacement && r->sample > r->n)
        return hp_fail(err, "--sample %zu is more than the %zu rows of %s: give a smaller N, or "
                            "--with-replacement", r->sample, r->n, r->what);
    if (!r->sampled && r->source == SRC_VECTORS && r->n > DELTA_MAX_ALL_POINTS)
        return hp_fail(err, "%s: %zu vectors are too many for one %zu x %zu distance matrix "
                            "(at most %d without sampling): give --sample N --tries T", r->what,
                       r->n, r->n, r->n, DELTA_MAX_ALL_POINTS);
    if (!r->sampled && r->n < 4)
        return hp_fail(err, "%s: δ needs at least 4 points, there are %zu", r->what, r->n);
    /* the other /delta groups of the report: read now, so that a report that cannot be
     * updated fails before the work */
    if (g_dist.rank == 0 && delta_keep_read(r->out, r->name, NULL, &r->kept, err) != 0)
        return -1;
    r->n_points = r->sampled ? r->sample : r->n;
    if (r->sampled && draw_samples(r, err) != 0)
        return -1;
    size_t T = r->tries, N = r->n_points;
    if (alloc_results(r, T, err))
        return -1;
    work w = {.opt = {.threads = g_cli.threads}};
    hp_rng_seed(&w.base_rng, r->seed ^ 0x6261736570743031ull); /* apart from the samples' */
    bool points = r->source == SRC_MODEL || r->source == SRC_VECTORS;
    int rc = 0;
    if ((points || r->sampled) && !(w.D = hp_malloc(N * N * sizeof *w.D, "the distances", err)))
        rc = -1;
    if (rc == 0 && points && r->sampled &&
        !(w.X = hp_malloc(N * r->dim * sizeof *w.X, "the sampled rows", err)))
        rc = -1;
    cli_progress p; /* the tries, or the base points of one exact δ */
    hp_progress *prog = cli_progress_begin(&p, T == 1 && r->exact ? "base points" : "tries");
    if (T == 1)
        w.opt.progress = prog;
    for (size_t t = 0; rc == 0 && t < T; t++) {
        size_t drawn = r->base == BASE_RANDOM ? (size_t)below(&w.base_rng, N) : 0;
        if (!dist_mine(t))
            continue;
        rc = one_try(r, &w, t, drawn, err);
        if (rc != 0 && T > 1)
            hp_failctx(err, "try %zu of %zu", t + 1, T);
        if (T > 1)
            hp_progress_update(prog, t + 1, T);
    }
    cli_progress_end(&p);
    free(w.D);
    free(w.X);
    if (rc != 0 || gather(r, err))
        return -1;
    summarize(r);
    return 0;
}

/* ---- summary ---- */

static void base_text(const delta_run *r, char *buf, size_t n)
{
    if (r->exact)
        snprintf(buf, n, "all base points (four-point δ)");
    else if (r->mode == MODE_PROMPTS)
        snprintf(buf, n, "fixed base: %s of each item", r->base == BASE_RANDOM ? "a random point"
                                                         : r->source == SRC_MODEL ? "the first token"
                                                                                  : "the first word");
    else if (r->base == BASE_RANDOM)
        snprintf(buf, n, "fixed base: a random point%s", r->sampled ? " of each sample" : "");
    else if (r->base == BASE_INDEX)
        snprintf(buf, n, "fixed base: %s %zu%s", r->sampled ? "row" : "point", r->base_index,
                 r->sampled ? ", put first in every sample" : "");
    else
        snprintf(buf, n, "fixed base: %s",
                 r->sampled ? "the first point of each sample" : "point 0");
}

/* The per-prompt lines: what was read, what was measured and the mean over the items. */
static void print_items(const delta_run *r, const char *base)
{
    const delta_items *it = &r->items;
    bool json = delta_data_is_json(r);
    printf("%zu items of %s (%s%s), %zu read%s, %zu skipped with fewer than 4 points\n", it->n, r->data,
           json ? "field " : "one per line", json ? r->field : "", it->n_read, r->limit ? " (--limit)" : "",
           it->n_skipped);
    if (r->source == SRC_MODEL)
        printf("%zu tokens (BOS first%s), %s distances, %s\n", r->n_points,
               it->bos_added ? ", put there where the tokenizer did not" : "", delta_distance_name(r), base);
    else
        printf("%zu words found in the vectors (%zu not), %s distances, %s\n", r->n_points, it->n_oov,
               delta_distance_name(r), base);
    if (it->n_cut)
        printf("%zu items cut to --cutoff %zu points\n", it->n_cut, r->cutoff);
    printf("δ_rel %.4f ± %.4f (mean ± std over %zu items)\nδ %.6g, diameter %.6g (means)\n", r->delta_rel_mean,
           r->delta_rel_std, r->tries, r->delta_mean, r->diameter_mean);
}

static void print_layers(const delta_layers *L)
{
    printf("per layer (the hidden states entering it; %d: the last layer's output):\n"
           "layer   δ_rel mean ± std     δ mean   diameter mean\n",
           L->n_model_layers);
    for (size_t k = 0; k < L->n; k++)
        printf("%5lld   %.4f ± %.4f   %9.4g   %13.4g\n", (long long)L->layer[k], L->delta_rel_mean[k],
               L->delta_rel_std[k], L->delta_mean[k], L->diameter_mean[k]);
}

static void print_summary(const delta_run *r)
{
    char base[96];
    base_text(r, base, sizeof base);
    printf("%s\n", r->what);
    if (r->mode == MODE_PROMPTS) {
        print_items(r, base);
    } else {
        if (r->sampled)
            printf("%zu tr%s of %zu rows drawn %s replacement (seed %llu), %s distances, %s\n", r->tries,
                   r->tries == 1 ? "y" : "ies", r->sample, r->with_replacement ? "with" : "without",
                   (unsigned long long)r->seed, delta_distance_name(r), base);
        else
            printf("all %zu points, %s distances, %s\n", r->n, delta_distance_name(r), base);
        if (r->tries > 1)
            printf("δ_rel %.4f ± %.4f (mean ± std over %zu tries)\n"
                   "δ %.6g, diameter %.6g (means), n %zu points per try\n",
                   r->delta_rel_mean, r->delta_rel_std, r->tries, r->delta_mean, r->diameter_mean, r->n_points);
        else
            printf("δ_rel %.4f\nδ %.6g, diameter %.6g, n %zu points, base point %lld\n", r->delta_rel_mean,
                   r->delta_mean, r->diameter_mean, r->n_points, (long long)r->base_row[0]);
    }
    if (r->delta_rel_mean > 0) {
        double c = (0.144 / r->delta_rel_mean) * (0.144 / r->delta_rel_mean);
        printf("curvature estimate (Khrulkov): c = (0.144/δ_rel)^2 = %.4g, K = 1/c = %.4g\n", c, 1 / c);
    } else {
        cli_note("δ_rel is 0 (tree-like): Khrulkov's curvature estimate c = (0.144/δ_rel)^2 is "
                 "unbounded and is not given");
    }
    if (r->layers.n && r->layers.delta_rel_mean)
        print_layers(&r->layers);
}

/* One more --data file: kept, and named in r->data (the files joined by ", "). False when
 * there are DELTA_MAX_DATA already. */
static bool add_data(delta_run *r, const char *path)
{
    if (r->n_data == DELTA_MAX_DATA)
        return false;
    size_t used = strlen(r->data_joined);
    r->data_files[r->n_data++] = path;
    snprintf(r->data_joined + used, sizeof r->data_joined - used, "%s%s", used ? ", " : "", path);
    r->data = r->data_joined;
    return true;
}

/* Measures, prints the summary and writes the report: the command after its options. */
static int execute(delta_run *r, hp_err *err)
{
    if (run(r, err) != 0)
        return -1;
    if (g_dist.rank != 0) /* rank 0 has every result too, and reports them */
        return 0;
    print_summary(r);
    return delta_write_report(r, err);
}

static void run_free(delta_run *r)
{
    delta_prompts_free(r);
    delta_inputs_free(r);
    delta_keep_free(r->kept);
    free(r->rows);
    free(r->delta);
    free(r->diameter);
    free(r->delta_rel);
    free(r->base_row);
    free(r->used_double);
}

/* ---- options ---- */

static bool snake_name(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= 64 && strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_") == n;
}

int cmd_delta(int argc, char **argv)
{
    enum {
        O_VECTORS = 1000, O_VOCAB, O_DISTANCES, O_GRAPH, O_SAMPLE, O_TRIES, O_SEED, O_REPL,
        O_EXACT, O_BASE, O_DISTANCE, O_NAME, O_DATA, O_FIELD, O_LIMIT, O_CUTOFF, O_LAYERS, O_BATCH,
        O_WEIGHTS, O_TOKENIZER, O_SEEN, O_DATASET
    };
    static const struct option OPTS[] = {
        {"vectors", required_argument, NULL, O_VECTORS},
        {"vocab", required_argument, NULL, O_VOCAB},
        {"distances", required_argument, NULL, O_DISTANCES},
        {"graph", required_argument, NULL, O_GRAPH},
        {"sample", required_argument, NULL, O_SAMPLE},
        {"tries", required_argument, NULL, O_TRIES},
        {"seed", required_argument, NULL, O_SEED},
        {"with-replacement", no_argument, NULL, O_REPL},
        {"exact", no_argument, NULL, O_EXACT},
        {"base", required_argument, NULL, O_BASE},
        {"distance", required_argument, NULL, O_DISTANCE},
        {"name", required_argument, NULL, O_NAME},
        {"data", required_argument, NULL, O_DATA},
        {"field", required_argument, NULL, O_FIELD},
        {"limit", required_argument, NULL, O_LIMIT},
        {"cutoff", required_argument, NULL, O_CUTOFF},
        {"layers", required_argument, NULL, O_LAYERS},
        {"batch", required_argument, NULL, O_BATCH},
        {"weights", required_argument, NULL, O_WEIGHTS},
        {"tokenizer", required_argument, NULL, O_TOKENIZER},
        {"seen", required_argument, NULL, O_SEEN},
        {"dataset", required_argument, NULL, O_DATASET},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    delta_run r;
    memset(&r, 0, sizeof r);
    r.tries = 1;
    const char *src[4] = {NULL, NULL, NULL, NULL}; /* by delta_source */
    bool tries_given = false, seed_given = false, base_given = false, distance_given = false;
    bool weights_given = false;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        switch (c) {
        case O_VECTORS:
            src[SRC_VECTORS] = optarg;
            break;
        case O_VOCAB:
            r.vocab = optarg;
            break;
        case O_DISTANCES:
            src[SRC_DISTANCES] = optarg;
            break;
        case O_GRAPH:
            src[SRC_GRAPH] = optarg;
            break;
        case O_SAMPLE:
            if (!cli_parse_int("delta", "--sample", optarg, 4, 100000, &v))
                return EXIT_USAGE;
            r.sampled = true;
            r.sample = (size_t)v;
            break;
        case O_TRIES:
            if (!cli_parse_int("delta", "--tries", optarg, 1, 1000000, &v))
                return EXIT_USAGE;
            r.tries = (size_t)v;
            tries_given = true;
            break;
        case O_SEED:
            if (!cli_parse_int("delta", "--seed", optarg, 0, 0x7fffffffffffffffL, &v))
                return EXIT_USAGE;
            r.seed = (uint64_t)v;
            seed_given = true;
            break;
        case O_REPL:
            r.with_replacement = true;
            break;
        case O_EXACT:
            r.exact = true;
            break;
        case O_BASE:
            base_given = true;
            if (!strcmp(optarg, "first")) {
                r.base = BASE_FIRST;
            } else if (!strcmp(optarg, "random")) {
                r.base = BASE_RANDOM;
            } else {
                char *end;
                unsigned long long b = strtoull(optarg, &end, 10);
                if (!*optarg || *end || *optarg == '-' || *optarg == '+')
                    return cli_usage_error("delta", "--base expects first, random or a row "
                                                    "index, got '%s'", optarg);
                r.base = BASE_INDEX;
                r.base_index = (size_t)b;
            }
            break;
        case O_DISTANCE:
            distance_given = true;
            if (!strcmp(optarg, "euclidean"))
                r.distance = HP_DISTANCE_EUCLIDEAN;
            else if (!strcmp(optarg, "cosine"))
                r.distance = HP_DISTANCE_COSINE;
            else if (!strcmp(optarg, "angular"))
                r.distance = HP_DISTANCE_ANGULAR;
            else
                return cli_usage_error("delta", "--distance expects euclidean, cosine or "
                                                "angular, got '%s'", optarg);
            break;
        case O_NAME:
            r.name = optarg;
            break;
        case O_DATA:
            if (!add_data(&r, optarg))
                return cli_usage_error("delta", "at most %d --data files", DELTA_MAX_DATA);
            break;
        case O_FIELD:
            r.field = optarg;
            break;
        case O_LIMIT:
            if (!cli_parse_int("delta", "--limit", optarg, 1, 0x7fffffffffffffffL, &v))
                return EXIT_USAGE;
            r.limit = (size_t)v;
            break;
        case O_CUTOFF:
            if (!cli_parse_int("delta", "--cutoff", optarg, 4, 1000000, &v))
                return EXIT_USAGE;
            r.cutoff = (size_t)v;
            break;
        case O_LAYERS:
            r.layers_spec = optarg;
            break;
        case O_BATCH:
            if (!cli_parse_int("delta", "--batch", optarg, 1, 4096, &v))
                return EXIT_USAGE;
            r.batch = (int)v;
            break;
        case O_WEIGHTS:
            weights_given = true;
            if (!model_session_weights("delta", optarg, &r.weights))
                return EXIT_USAGE;
            break;
        case O_TOKENIZER:
            r.tokenizer = optarg;
            break;
        case O_SEEN:
            r.seen = optarg;
            break;
        case O_DATASET:
            r.dataset = optarg;
            break;
        case 'o':
            r.out = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("delta", "invalid option");
        }
    }
    if (optind < argc)
        src[SRC_MODEL] = argv[optind];
    int n_src = 0;
    for (int s = 0; s < 4; s++)
        if (src[s]) {
            n_src++;
            r.source = (delta_source)s;
            r.input = src[s];
        }
    if (n_src != 1 || optind + (src[SRC_MODEL] ? 1 : 0) != argc)
        return cli_usage_error("delta", "give one input: MODEL, --vectors FILE, --distances FILE "
                                        "or --graph FILE");
    if (!r.out)
        return cli_usage_error("delta", "-o REPORT is required");
    if (r.vocab && r.source != SRC_VECTORS)
        return cli_usage_error("delta", "--vocab goes with --vectors");
    if (r.dataset && r.source != SRC_DISTANCES)
        return cli_usage_error("delta", "--dataset goes with --distances");
    r.mode = r.data ? MODE_PROMPTS : r.sampled ? MODE_SAMPLED : MODE_ALL;
    if (r.data && r.sampled)
        return cli_usage_error("delta", "give --data FILE (per prompt) or --sample N (random rows), not both");
    if (r.data && r.source != SRC_MODEL && r.source != SRC_VECTORS)
        return cli_usage_error("delta", "--data needs points: a MODEL or --vectors FILE");
    if (!r.data && (r.field || r.limit || r.cutoff || r.layers_spec))
        return cli_usage_error("delta", "--field, --limit, --cutoff and --layers go with --data FILE");
    if (r.source == SRC_MODEL && !r.data && !r.sampled)
        return cli_usage_error("delta", "a model needs --data FILE (its prompts' embeddings, the paper's "
                                        "protocol) or --sample N [--tries T] (random rows)");
    if (r.layers_spec && r.source != SRC_MODEL)
        return cli_usage_error("delta", "--layers runs a model: give MODEL, not --vectors");
    if (!r.layers_spec && (r.batch || weights_given))
        return cli_usage_error("delta", "--batch and --weights go with --layers");
    if (r.tokenizer && !(r.data && r.source == SRC_MODEL))
        return cli_usage_error("delta", "--tokenizer goes with MODEL --data FILE");
    if (r.data && r.base == BASE_INDEX)
        return cli_usage_error("delta", "--base INDEX names a row of the whole input: per prompt, give "
                                        "--base first or --base random");
    if (!r.field)
        r.field = "instruction";
    if (!r.sampled && (tries_given || r.with_replacement || r.seen))
        return cli_usage_error("delta", "--tries, --with-replacement and --seen go with --sample N");
    if (seed_given && !r.sampled && r.base != BASE_RANDOM)
        return cli_usage_error("delta", "--seed goes with --sample N or --base random");
    if (r.exact && base_given)
        return cli_usage_error("delta", "--exact uses every base point: give --exact or --base, "
                                        "not both");
    if (distance_given && (r.source == SRC_DISTANCES || r.source == SRC_GRAPH))
        return cli_usage_error("delta", "--distance is for points (a model or vectors); a "
                                        "distance matrix or graph has its own distances");
    if (r.name && !snake_name(r.name))
        return cli_usage_error("delta", "--name expects lower-case letters, digits and '_' (at "
                                        "most 64), got '%s'", r.name);
    if (r.name && r.layers_spec && strlen(r.name) > 57)
        return cli_usage_error("delta", "--name with --layers: at most 57 characters (the layers go to "
                                        "NAME_layers)");
    snprintf(r.layers_name, sizeof r.layers_name, r.name ? "%s_layers" : "layers", r.name);
    if (!r.name) {
        static const char *const DEFAULT[] = {"embeddings", "vectors", "distances", "graph"};
        r.name = DEFAULT[r.source];
    }
    hp_err err;
    int rc = execute(&r, &err) == 0 ? EXIT_OK : cli_fail(&err);
    run_free(&r);
    return rc;
}

int delta_stage_run(const delta_stage *s, hp_err *err)
{
    delta_run r;
    memset(&r, 0, sizeof r);
    r.tries = 1;
    r.source = SRC_MODEL;
    r.mode = MODE_PROMPTS;
    r.input = s->model;
    r.tokenizer = s->tokenizer_path;
    r.tok = (hp_tokenizer *)s->tok; /* not freed here: see below */
    r.given_ids = s->ids;
    r.given_item = s->item;
    r.n_given = s->n_items;
    r.field = s->field;
    r.limit = s->limit;
    r.cutoff = s->cutoff;
    r.layers_spec = "all";
    r.out = s->out;
    r.name = "embeddings";
    snprintf(r.layers_name, sizeof r.layers_name, "layers");
    for (int i = 0; i < s->n_data; i++)
        if (!add_data(&r, s->data_files[i]))
            return hp_fail(err, "at most %d data files", DELTA_MAX_DATA);
    int rc = execute(&r, err);
    r.tok = NULL; /* the caller's */
    run_free(&r);
    return rc;
}

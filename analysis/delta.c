/* `hyplora delta`: the Gromov δ-hyperbolicity of a model's token embeddings (sampled, after
 * Khrulkov et al.), of word vectors, of a given distance matrix or of a graph. The work is
 * hyplora/delta.h (and graph.h); this file reads the options, draws the samples, runs the
 * tries, prints the summary and writes /delta/<name>; delta_inputs.c reads the inputs. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta_cmd.h"

static const char *HELP =
    "usage: hyplora delta (MODEL | --vectors FILE [--vocab V] | --distances FILE | --graph FILE)\n"
    "                     [--sample N [--tries T] [--seed S] [--with-replacement]]\n"
    "                     [--exact | --base first|random|INDEX]\n"
    "                     [--distance euclidean|cosine|angular] [--name NAME] -o REPORT\n"
    "\n"
    "Measures how tree-like a set of points is: the Gromov δ (fixed base point, or the true\n"
    "four-point δ with --exact), the diameter, the relative δ_rel = 2 δ / diameter (0 for a\n"
    "tree, near 1 for points on a sphere with great-circle distances) and Khrulkov's\n"
    "curvature estimate c = (0.144 / δ_rel)^2 for the Poincaré ball, K = 1/c. With --sample\n"
    "it draws T random sets of N rows (Khrulkov's protocol) and gives the mean and standard\n"
    "deviation of δ_rel over them. See docs/delta.md.\n"
    "\n"
    "Inputs:\n"
    "  MODEL                 a model directory, .safetensors or GGUF file: the rows of its\n"
    "                        input embedding (needs --sample; the per-prompt and per-layer\n"
    "                        modes of the paper are not in this version)\n"
    "  --vectors FILE        word vectors (GloVe/word2vec text, .npy + --vocab, wink JSON);\n"
    "                        without --sample all rows, at most 4000\n"
    "  --vocab FILE          the vocabulary of a .npy vectors file\n"
    "  --distances FILE      a square distance matrix, .npy float32 or float64 in C order\n"
    "                        (finite, non-negative, symmetric, zero diagonal)\n"
    "  --graph FILE          an unweighted undirected edge list, one \"u v\" pair of node ids\n"
    "                        (0, 1, ...) per line, '#' comments; shortest-path distances;\n"
    "                        connected, at most 30000 nodes\n"
    "\n"
    "Options:\n"
    "  --sample N            draw N rows (>= 4) per try, distinct unless --with-replacement\n"
    "                        (for a matrix or graph: the N x N block of those points)\n"
    "  --tries T             number of samples (default 1)\n"
    "  --seed S              random seed of the samples and of --base random (default 0)\n"
    "  --with-replacement    rows may repeat within a sample\n"
    "  --base first          base point: the first point of each sample, row 0 without\n"
    "                        --sample (default; the paper uses the prompt's first token)\n"
    "  --base random         a random point of each sample (seeded)\n"
    "  --base INDEX          row INDEX of the input; with --sample it is put first in every\n"
    "                        sample and the other N-1 rows are drawn from the rest\n"
    "  --exact               the four-point δ: the largest fixed-base δ over all base points\n"
    "                        (n times the work)\n"
    "  --distance KIND       for points: euclidean (default), cosine (1 - cos) or angular\n"
    "                        (the great-circle distance on the unit sphere)\n"
    "  --name NAME           the report group /delta/NAME (default: embeddings for a model,\n"
    "                        else vectors, distances or graph); other /delta groups are kept\n"
    "  -o, --output REPORT   the HDF5 report to create or update\n"
    "  -h, --help            this text\n"
    "The global --threads N sets the worker threads (default: all cores).\n"
    "\n"
    "Example:\n"
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

/* The rows of every try: with --base INDEX that row first, the rest drawn by a partial
 * Fisher-Yates shuffle of a pool that excludes it (or independently, with replacement). */
static int draw_samples(delta_run *r, hp_err *err)
{
    size_t N = r->sample, n = r->n;
    if (!(r->rows = hp_malloc(r->tries * N * sizeof *r->rows, "the sampled rows", err)))
        return -1;
    size_t *perm = NULL;
    size_t pool = n;
    if (!r->with_replacement) {
        if (!(perm = hp_malloc(n * sizeof *perm, "a permutation of the rows", err)))
            return -1;
        for (size_t i = 0; i < n; i++)
            perm[i] = i;
        if (r->base == BASE_INDEX) { /* out of the pool: it is always first */
            perm[r->base_index] = n - 1;
            perm[n - 1] = r->base_index;
            pool = n - 1;
        }
    }
    hp_rng g;
    hp_rng_seed(&g, r->seed);
    for (size_t t = 0; t < r->tries; t++) {
        int64_t *rows = r->rows + t * N;
        size_t pos = 0;
        if (r->base == BASE_INDEX)
            rows[pos++] = (int64_t)r->base_index;
        for (size_t j = 0; pos < N; j++, pos++) {
            if (r->with_replacement) {
                rows[pos] = (int64_t)below(&g, n);
            } else {
                size_t k = j + (size_t)below(&g, pool - j), tmp = perm[j];
                perm[j] = perm[k];
                perm[k] = tmp;
                rows[pos] = (int64_t)perm[j];
            }
        }
    }
    free(perm);
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

static int one_try(delta_run *r, work *w, size_t t, hp_err *err)
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
        base = (size_t)below(&w->base_rng, N);
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

static int run(delta_run *r, hp_err *err)
{
    if (delta_load(r, err) != 0)
        return -1;
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
    if (delta_keep_read(r->out, r->name, &r->kept, err) != 0)
        return -1;
    r->n_points = r->sampled ? r->sample : r->n;
    if (r->sampled && draw_samples(r, err) != 0)
        return -1;
    size_t T = r->tries, N = r->n_points;
    r->delta = hp_malloc(T * sizeof *r->delta, "the results", err);
    r->diameter = hp_malloc(T * sizeof *r->diameter, "the results", err);
    r->delta_rel = hp_malloc(T * sizeof *r->delta_rel, "the results", err);
    r->base_row = hp_malloc(T * sizeof *r->base_row, "the results", err);
    r->used_double = hp_malloc(T * sizeof *r->used_double, "the results", err);
    if (!r->delta || !r->diameter || !r->delta_rel || !r->base_row || !r->used_double)
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
    cli_progress p;
    hp_progress *prog = cli_progress_begin(&p, "tries");
    for (size_t t = 0; rc == 0 && t < T; t++) {
        rc = one_try(r, &w, t, err);
        if (rc != 0 && T > 1)
            hp_failctx(err, "try %zu of %zu", t + 1, T);
        if (T > 1)
            hp_progress_update(prog, t + 1, T);
    }
    cli_progress_end(&p);
    free(w.D);
    free(w.X);
    if (rc != 0)
        return -1;
    double s = 0, sd = 0, sdiam = 0, ss = 0;
    for (size_t t = 0; t < T; t++) {
        s += r->delta_rel[t];
        sd += r->delta[t];
        sdiam += r->diameter[t];
    }
    r->delta_rel_mean = s / (double)T;
    for (size_t t = 0; t < T; t++)
        ss += (r->delta_rel[t] - r->delta_rel_mean) * (r->delta_rel[t] - r->delta_rel_mean);
    r->delta_rel_std = T > 1 ? sqrt(ss / (double)T) : 0;
    r->delta_mean = sd / (double)T;
    r->diameter_mean = sdiam / (double)T;
    return 0;
}

/* ---- summary ---- */

static void base_text(const delta_run *r, char *buf, size_t n)
{
    if (r->exact)
        snprintf(buf, n, "all base points (four-point δ)");
    else if (r->base == BASE_RANDOM)
        snprintf(buf, n, "fixed base: a random point%s", r->sampled ? " of each sample" : "");
    else if (r->base == BASE_INDEX)
        snprintf(buf, n, "fixed base: %s %zu%s", r->sampled ? "row" : "point", r->base_index,
                 r->sampled ? ", put first in every sample" : "");
    else
        snprintf(buf, n, "fixed base: %s",
                 r->sampled ? "the first point of each sample" : "point 0");
}

static void print_summary(const delta_run *r)
{
    char base[96];
    base_text(r, base, sizeof base);
    printf("%s\n", r->what);
    if (r->sampled)
        printf("%zu tr%s of %zu rows drawn %s replacement (seed %llu), %s distances, %s\n",
               r->tries, r->tries == 1 ? "y" : "ies", r->sample,
               r->with_replacement ? "with" : "without", (unsigned long long)r->seed,
               delta_distance_name(r), base);
    else
        printf("all %zu points, %s distances, %s\n", r->n, delta_distance_name(r), base);
    if (r->tries > 1)
        printf("δ_rel %.4f ± %.4f (mean ± std over %zu tries)\n"
               "δ %.6g, diameter %.6g (means), n %zu points per try\n",
               r->delta_rel_mean, r->delta_rel_std, r->tries, r->delta_mean, r->diameter_mean,
               r->n_points);
    else
        printf("δ_rel %.4f\nδ %.6g, diameter %.6g, n %zu points, base point %lld\n",
               r->delta_rel_mean, r->delta_mean, r->diameter_mean, r->n_points,
               (long long)r->base_row[0]);
    if (r->delta_rel_mean > 0) {
        double c = (0.144 / r->delta_rel_mean) * (0.144 / r->delta_rel_mean);
        printf("curvature estimate (Khrulkov): c = (0.144/δ_rel)^2 = %.4g, K = 1/c = %.4g\n", c,
               1 / c);
    } else {
        cli_note("δ_rel is 0 (tree-like): Khrulkov's curvature estimate c = (0.144/δ_rel)^2 is "
                 "unbounded and is not given");
    }
}

/* ---- the report ---- */

typedef struct writer {
    hp_report *r;
    const char *group; /* "NAME" */
    hp_err *err;
    int ok;
} writer;

static void ds_f64(writer *w, const char *name, size_t n, const double *v, const char *def)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", w->group, name);
    int64_t dims[1] = {(int64_t)n};
    w->ok = w->ok && hp_report_write_f64(w->r, path, 1, dims, v, def, NULL, w->err) == 0;
}

static void ds_i64(writer *w, const char *name, int rank, const int64_t *dims, const int64_t *v,
                   const char *def)
{
    char path[128];
    snprintf(path, sizeof path, "%s/%s", w->group, name);
    w->ok = w->ok && hp_report_write_i64(w->r, path, rank, dims, v, def, NULL, w->err) == 0;
}

static void at_f(writer *w, const char *name, double v)
{
    w->ok = w->ok && hp_report_attr_f64(w->r, w->group, name, v, w->err) == 0;
}

static void at_i(writer *w, const char *name, int64_t v)
{
    w->ok = w->ok && hp_report_attr_i64(w->r, w->group, name, v, w->err) == 0;
}

static void at_s(writer *w, const char *name, const char *v)
{
    w->ok = w->ok && hp_report_attr_str(w->r, w->group, name, v, w->err) == 0;
}

/* The command line quoted for a POSIX shell where needed (as the report's root has it). */
static char *command_line(hp_err *err)
{
    size_t cap = 1;
    for (int i = 0; i < g_cli.argc; i++)
        cap += 4 * strlen(g_cli.argv[i]) + 3;
    char *s = hp_malloc(cap, "the command line", err), *p = s;
    if (!s)
        return NULL;
    for (int i = 0; i < g_cli.argc; i++) {
        const char *a = g_cli.argv[i];
        bool plain = *a && strspn(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789-_./=:,+@%") == strlen(a);
        if (i)
            *p++ = ' ';
        if (plain) {
            p += sprintf(p, "%s", a);
            continue;
        }
        *p++ = '\'';
        for (; *a; a++)
            p += *a == '\'' ? sprintf(p, "'\\''") : sprintf(p, "%c", *a);
        *p++ = '\'';
    }
    *p = 0;
    return s;
}

/* The group's own provenance (the report keeps it only per top-level group, /delta):
 * command_line, tool_version, created_utc and inputs ("SHA256  PATH" lines). */
static void provenance(writer *w, delta_run *r)
{
    char (*hex)[HP_SHA256_HEX] = hp_malloc(r->n_input_files * sizeof *hex, "checksums", w->err);
    hp_sha256_job *job = r->checksums;
    r->checksums = NULL;
    int hashed = hp_sha256_files_end(job, hex, w->err); /* always joined; hex NULL discards */
    w->ok = w->ok && hex && hashed == 0;
    size_t cap = 1;
    for (size_t i = 0; i < r->n_input_files; i++)
        cap += 4096 + 67;
    char *inputs = w->ok ? hp_malloc(cap, "the input list", w->err) : NULL, *p = inputs;
    w->ok = w->ok && inputs;
    for (size_t i = 0; w->ok && i < r->n_input_files; i++) {
        w->ok = hp_report_add_input_hex(w->r, r->input_files[i], hex[i], w->err) == 0;
        char *abs = realpath(r->input_files[i], NULL);
        p += snprintf(p, 4096 + 67, "%s%s  %.4000s", i ? "\n" : "", hex[i],
                      abs ? abs : r->input_files[i]);
        free(abs);
    }
    char *cmd = w->ok ? command_line(w->err) : NULL;
    w->ok = w->ok && cmd;
    char now[32];
    time_t tt = time(NULL);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(now, sizeof now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    at_s(w, "command_line", cmd ? cmd : "");
    at_s(w, "tool_version", HYPLORA_VERSION);
    at_s(w, "created_utc", now);
    at_s(w, "inputs", inputs ? inputs : "");
    free(cmd);
    free(inputs);
    free(hex);
}

static int write_report(delta_run *r, hp_err *err)
{
    writer w = {hp_report_begin(r->out, "delta", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err),
                r->name, err, 1};
    if (!w.r)
        return -1;
    w.ok = delta_keep_write(r->kept, w.r, err) == 0;
    size_t T = r->tries;
    ds_f64(&w, "delta", T, r->delta,
           r->exact ? "four-point Gromov δ of each try's points: the largest fixed-base δ over "
                      "all base points, in the units of the distances"
                    : "fixed-base Gromov δ of each try's points, max over x, y, z of "
                      "min((x|z)_w, (z|y)_w) - (x|y)_w for the base point w (see base), in the "
                      "units of the distances");
    ds_f64(&w, "diameter", T, r->diameter, "largest distance between two of each try's points");
    ds_f64(&w, "delta_rel", T, r->delta_rel,
           "relative δ of each try: 2 δ / diameter (0 for a tree; scale-free)");
    int64_t dims[2] = {(int64_t)T, (int64_t)r->n_points};
    ds_i64(&w, "base", 1, dims, r->base_row,
           r->exact ? "for each try, the base point (row of the input) whose fixed-base δ is the "
                      "largest"
                    : "the base point of each try, as a row of the input (token id, vector index, "
                      "matrix row or graph node)");
    ds_i64(&w, "used_double", 1, dims, r->used_double,
           "1 where the try's δ was recomputed in double precision because the float32 "
           "kernel's error bound exceeded 1e-5 of δ, else 0");
    if (r->sampled)
        ds_i64(&w, "sample_rows", 2, dims, r->rows,
               "the rows of the input (token ids, vector indices, matrix rows or graph nodes) "
               "drawn for each try, in draw order: the points of try t are sample_rows[t]");
    at_f(&w, "delta_rel_mean", r->delta_rel_mean);
    at_f(&w, "delta_rel_std", r->delta_rel_std);
    at_f(&w, "delta_mean", r->delta_mean);
    at_f(&w, "diameter_mean", r->diameter_mean);
    at_i(&w, "n_points", (int64_t)r->n_points);
    at_i(&w, "n_items", (int64_t)T);
    char base[32];
    if (r->base == BASE_INDEX)
        snprintf(base, sizeof base, "%zu", r->base_index);
    else
        snprintf(base, sizeof base, "%s", r->base == BASE_RANDOM ? "random" : "first");
    at_s(&w, "base_point", r->exact ? "all" : base);
    at_i(&w, "exact", r->exact);
    at_s(&w, "distance", delta_distance_name(r));
    if (r->delta_rel_mean > 0) {
        double c = (0.144 / r->delta_rel_mean) * (0.144 / r->delta_rel_mean);
        at_f(&w, "curvature_c", c);
        at_f(&w, "curvature_k", 1 / c);
    } else {
        at_s(&w, "curvature_note", "delta_rel_mean is 0 (tree-like): Khrulkov's curvature "
                                   "estimate c = (0.144/delta_rel)^2 is unbounded, so curvature_c "
                                   "and curvature_k are not given");
    }
    at_i(&w, "used_double", r->any_double);
    at_s(&w, "source", delta_source_name(r->source));
    at_s(&w, "input", r->input);
    at_s(&w, "matrix", r->matrix);
    at_i(&w, "n_rows", (int64_t)r->n);
    if (r->dim)
        at_i(&w, "dim", (int64_t)r->dim);
    if (r->source == SRC_GRAPH)
        at_i(&w, "n_edges", (int64_t)r->n_edges);
    at_i(&w, "sampled", r->sampled);
    if (r->sampled) {
        at_i(&w, "seed", (int64_t)r->seed);
        at_i(&w, "with_replacement", r->with_replacement);
    } else if (r->base == BASE_RANDOM) {
        at_i(&w, "seed", (int64_t)r->seed);
    }
    provenance(&w, r);
    if (!w.ok) {
        hp_report_abort(w.r);
        return -1;
    }
    return hp_report_commit(w.r, err);
}

static void run_free(delta_run *r)
{
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
        O_EXACT, O_BASE, O_DISTANCE, O_NAME
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
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    delta_run r;
    memset(&r, 0, sizeof r);
    r.tries = 1;
    const char *src[4] = {NULL, NULL, NULL, NULL}; /* by delta_source */
    bool tries_given = false, seed_given = false, base_given = false, distance_given = false;
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
    if (r.source == SRC_MODEL && !r.sampled)
        return cli_usage_error("delta", "a model's embedding is sampled: give --sample N "
                                        "[--tries T] (the per-prompt mode is not in this version)");
    if (!r.sampled && (tries_given || r.with_replacement))
        return cli_usage_error("delta", "--tries and --with-replacement go with --sample N");
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
    if (!r.name) {
        static const char *const DEFAULT[] = {"embeddings", "vectors", "distances", "graph"};
        r.name = DEFAULT[r.source];
    }
    hp_err err;
    int rc = run(&r, &err) == 0 && (print_summary(&r), write_report(&r, &err) == 0)
                 ? EXIT_OK
                 : cli_fail(&err);
    run_free(&r);
    return rc;
}

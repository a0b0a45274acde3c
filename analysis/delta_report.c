/* `hyplora delta`: the report. /delta/<name> holds one run (its tries or items, the
 * summary attributes and its own provenance, since the report keeps provenance only per
 * top-level group), /delta/layers the per-layer results; the other groups of /delta in an
 * existing report are carried over (delta_inputs.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "delta_cmd.h"

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

/* Each group's own provenance (the report keeps it only per top-level group, /delta):
 * command_line, tool_version, created_utc and inputs ("SHA256  PATH" lines). */
typedef struct provenance {
    char *cmd, *inputs;
    char now[32];
} provenance;

/* Joins the checksum job and records the inputs in the report's /inputs. */
static int provenance_make(hp_report *rep, delta_run *r, provenance *p, hp_err *err)
{
    memset(p, 0, sizeof *p);
    char (*hex)[HP_SHA256_HEX] = hp_malloc(r->n_input_files * sizeof *hex, "checksums", err);
    hp_sha256_job *job = r->checksums;
    r->checksums = NULL;
    int rc = hp_sha256_files_end(job, hex, err) == 0 && hex ? 0 : -1; /* always joined; hex NULL discards */
    size_t cap = 1 + r->n_input_files * (4096 + 67);
    char *at = rc == 0 ? (p->inputs = hp_malloc(cap, "the input list", err)) : NULL;
    rc = at ? rc : -1;
    for (size_t i = 0; rc == 0 && i < r->n_input_files; i++) {
        rc = hp_report_add_input_hex(rep, r->input_files[i], hex[i], err);
        char *abs = realpath(r->input_files[i], NULL);
        at += snprintf(at, 4096 + 67, "%s%s  %.4000s", i ? "\n" : "", hex[i], abs ? abs : r->input_files[i]);
        free(abs);
    }
    free(hex);
    if (rc == 0 && !(p->cmd = command_line(err)))
        rc = -1;
    time_t tt = time(NULL);
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(p->now, sizeof p->now, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return rc;
}

static void provenance_write(writer *w, const provenance *p)
{
    at_s(w, "command_line", p->cmd);
    at_s(w, "tool_version", HYPLORA_VERSION);
    at_s(w, "created_utc", p->now);
    at_s(w, "inputs", p->inputs);
}

static const char *mode_name(delta_mode m)
{
    return m == MODE_PROMPTS ? "prompts" : m == MODE_SAMPLED ? "sampled" : "all";
}

static void base_attr(writer *w, const delta_run *r)
{
    char base[32];
    if (r->base == BASE_INDEX)
        snprintf(base, sizeof base, "%zu", r->base_index);
    else
        snprintf(base, sizeof base, "%s", r->base == BASE_RANDOM ? "random" : "first");
    at_s(w, "base_point", r->exact ? "all" : base);
    at_i(w, "exact", r->exact);
    at_s(w, "distance", delta_distance_name(r));
    if (r->sampled || r->base == BASE_RANDOM)
        at_i(w, "seed", (int64_t)r->seed);
}

static void data_attrs(writer *w, const delta_run *r)
{
    at_s(w, "data", r->data);
    at_s(w, "field", delta_data_is_json(r) ? r->field : "");
    at_i(w, "n_read", (int64_t)r->items.n_read);
    at_i(w, "n_skipped", (int64_t)r->items.n_skipped);
    at_i(w, "cutoff", (int64_t)r->cutoff);
    at_i(w, "n_cut", (int64_t)r->items.n_cut);
}

/* The datasets of the items: which item of the data set, how many points, and the points
 * themselves (token ids or vector rows), concatenated. */
static void item_datasets(writer *w, const delta_run *r)
{
    const delta_items *it = &r->items;
    int64_t n[1] = {(int64_t)it->n}, total[1] = {(int64_t)it->start[it->n]};
    ds_i64(w, "item", 1, n, it->item, "index (from 0) in the data set of each measured item");
    ds_i64(w, "item_points", 1, n, it->item_points, "number of points of each measured item");
    ds_i64(w, "rows", 1, total, it->rows,
           r->source == SRC_MODEL
               ? "the token ids of every measured item (BOS first), concatenated in item order: item i is "
                 "rows[sum(item_points[:i]) : sum(item_points[:i+1])]"
               : "the vector rows of the words of every measured item, concatenated in item order: item i is "
                 "rows[sum(item_points[:i]) : sum(item_points[:i+1])]");
}

static int write_layers(hp_report *rep, const delta_run *r, const provenance *p, hp_err *err)
{
    const delta_layers *L = &r->layers;
    writer w = {rep, r->layers_name, err, 1};
    int64_t nl[1] = {(int64_t)L->n}, dims[2] = {(int64_t)L->n, (int64_t)r->items.n};
    ds_i64(&w, "layer", 1, nl, L->layer,
           "the layers measured: l < n_layers is the residual stream entering decoder layer l (0: the token "
           "embeddings), n_layers the output of the last layer before the final norm");
    ds_f64(&w, "delta_rel_mean", L->n, L->delta_rel_mean, "mean over the items of δ_rel at each layer");
    ds_f64(&w, "delta_rel_std", L->n, L->delta_rel_std,
           "standard deviation (population) over the items of δ_rel at each layer");
    ds_f64(&w, "delta_mean", L->n, L->delta_mean, "mean over the items of δ at each layer");
    ds_f64(&w, "diameter_mean", L->n, L->diameter_mean, "mean over the items of the diameter at each layer");
    char path[160];
    snprintf(path, sizeof path, "%s/delta_rel", w.group);
    w.ok = w.ok && hp_report_write_f64(rep, path, 2, dims, L->delta_rel,
                                       "δ_rel of each item (columns, as in item) at each layer (rows)", NULL,
                                       err) == 0;
    ds_i64(&w, "item", 1, dims + 1, r->items.item, "index (from 0) in the data set of each measured item");
    at_s(&w, "mode", "layers");
    at_i(&w, "n_items", (int64_t)r->items.n);
    at_i(&w, "n_layers", L->n_model_layers);
    base_attr(&w, r);
    at_s(&w, "source", "model");
    at_s(&w, "input", r->input);
    at_s(&w, "embeddings_group", r->name);
    data_attrs(&w, r);
    provenance_write(&w, p);
    return w.ok ? 0 : -1;
}

static const char *def_delta(const delta_run *r)
{
    if (r->mode == MODE_PROMPTS)
        return r->exact ? "four-point Gromov δ of each item's points: the largest fixed-base δ over all base "
                          "points, in the units of the distances"
                        : "fixed-base Gromov δ of each item's points, max over x, y, z of min((x|z)_w, (z|y)_w) "
                          "- (x|y)_w for the base point w (see base), in the units of the distances";
    return r->exact ? "four-point Gromov δ of each try's points: the largest fixed-base δ over all base points, in "
                      "the units of the distances"
                    : "fixed-base Gromov δ of each try's points, max over x, y, z of min((x|z)_w, (z|y)_w) - "
                      "(x|y)_w for the base point w (see base), in the units of the distances";
}

static const char *def_base(const delta_run *r)
{
    if (r->mode == MODE_PROMPTS)
        return r->exact ? "for each item, the position (from 0) of the base point whose fixed-base δ is the largest"
                        : "the base point of each item, as a position (from 0) among its points";
    return r->exact ? "for each try, the base point (row of the input) whose fixed-base δ is the largest"
                    : "the base point of each try, as a row of the input (token id, vector index, matrix row or "
                      "graph node)";
}

int delta_write_report(delta_run *r, hp_err *err)
{
    writer w = {hp_report_begin(r->out, "delta", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err), r->name, err, 1};
    if (!w.r)
        return -1;
    provenance p = {0};
    w.ok = delta_keep_write(r->kept, w.r, err) == 0 && provenance_make(w.r, r, &p, err) == 0;
    bool items = r->mode == MODE_PROMPTS;
    const char *each = items ? "item" : "try";
    char def[256];
    size_t T = r->tries;
    ds_f64(&w, "delta", T, r->delta, def_delta(r));
    snprintf(def, sizeof def, "largest distance between two of each %s's points", each);
    ds_f64(&w, "diameter", T, r->diameter, def);
    snprintf(def, sizeof def, "relative δ of each %s: 2 δ / diameter (0 for a tree; scale-free)", each);
    ds_f64(&w, "delta_rel", T, r->delta_rel, def);
    int64_t dims[2] = {(int64_t)T, (int64_t)r->n_points};
    ds_i64(&w, "base", 1, dims, r->base_row, def_base(r));
    snprintf(def, sizeof def,
             "1 where the %s's δ was recomputed in double precision because the float32 kernel's error bound "
             "exceeded 1e-5 of δ, else 0", each);
    ds_i64(&w, "used_double", 1, dims, r->used_double, def);
    if (r->sampled)
        ds_i64(&w, "sample_rows", 2, dims, r->rows,
               "the rows of the input (token ids, vector indices, matrix rows or graph nodes) "
               "drawn for each try, in draw order: the points of try t are sample_rows[t]");
    if (items)
        item_datasets(&w, r);
    at_s(&w, "mode", mode_name(r->mode));
    at_f(&w, "delta_rel_mean", r->delta_rel_mean);
    at_f(&w, "delta_rel_std", r->delta_rel_std);
    at_f(&w, "delta_mean", r->delta_mean);
    at_f(&w, "diameter_mean", r->diameter_mean);
    at_i(&w, "n_points", (int64_t)r->n_points);
    at_i(&w, "n_items", (int64_t)T);
    base_attr(&w, r);
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
        at_i(&w, "with_replacement", r->with_replacement);
        at_i(&w, "n_candidates", (int64_t)r->n_candidates);
        if (r->seen)
            at_s(&w, "seen_report", r->seen);
    }
    if (items) {
        data_attrs(&w, r);
        if (r->source == SRC_VECTORS)
            at_i(&w, "n_oov", (int64_t)r->items.n_oov);
        else
            at_i(&w, "bos_added", r->items.bos_added);
    }
    if (w.ok)
        provenance_write(&w, &p);
    if (w.ok && r->layers.n && write_layers(w.r, r, &p, err))
        w.ok = 0;
    free(p.cmd);
    free(p.inputs);
    if (!w.ok) {
        hp_report_abort(w.r);
        return -1;
    }
    return hp_report_commit(w.r, err);
}

/* The inputs of `hyplora delta`: a model's embedding (rows read per try), word vectors
 * (hyplora/vectors.h), a square distance matrix in a .npy file (read here, strictly), an
 * edge list (hyplora/graph.h); and the other groups of /delta in an existing report, which
 * the report API (one top-level group per command) would otherwise drop when /delta is
 * rewritten. */
#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delta_cmd.h"
#include "dist.h"

const char *delta_source_name(delta_source s)
{
    static const char *const NAMES[] = {"model", "vectors", "distances", "graph"};
    return NAMES[s];
}

const char *delta_distance_name(const delta_run *r)
{
    if (r->source == SRC_DISTANCES)
        return "given";
    if (r->source == SRC_GRAPH)
        return "shortest_path";
    static const char *const NAMES[] = {"euclidean", "cosine", "angular"};
    return NAMES[r->distance];
}

/* ---- a square distance matrix in a .npy file ---- */

typedef struct npy_info {
    size_t item;       /* 4 (float32) or 8 (float64) */
    int ndim;
    uint64_t shape[8];
    uint64_t data_start;
} npy_info;

static const char *skip_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t'))
        p++;
    return p;
}

/* A quoted Python string ('...' or "..."), no escapes; *s and *len point into the header. */
static const char *py_string(const char *p, const char *end, const char **s, size_t *len)
{
    if (p >= end || (*p != '\'' && *p != '"'))
        return NULL;
    const char *q = memchr(p + 1, *p, (size_t)(end - p - 1));
    if (!q)
        return NULL;
    *s = p + 1;
    *len = (size_t)(q - p - 1);
    return q + 1;
}

static const char *py_shape(const char *p, const char *end, npy_info *ni)
{
    if (p >= end || *p != '(')
        return NULL;
    p = skip_ws(p + 1, end);
    ni->ndim = 0;
    while (p < end && *p != ')') {
        if (*p < '0' || *p > '9' || ni->ndim == 8)
            return NULL;
        uint64_t v = 0;
        while (p < end && *p >= '0' && *p <= '9') {
            if (v > (UINT64_MAX - 9) / 10)
                return NULL;
            v = v * 10 + (uint64_t)(*p++ - '0');
        }
        if (p < end && *p == 'L') /* Python 2 longs */
            p++;
        ni->shape[ni->ndim++] = v;
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p < end && *p != ')')
            return NULL;
    }
    return p < end ? p + 1 : NULL;
}

/* The header dict, strictly: exactly the keys descr, fortran_order and shape. */
static int parse_npy_dict(const char *h, size_t hlen, npy_info *ni, hp_err *err)
{
    const char *p = h, *end = h + hlen;
    if (hlen == 0 || h[hlen - 1] != '\n')
        return hp_fail(err, "the header does not end with a newline: not a .npy header");
    end--;
    while (end > h && end[-1] == ' ')
        end--;
    p = skip_ws(p, end);
    if (p >= end || *p != '{')
        return hp_fail(err, "the header is not a dict: %.*s", (int)(hlen > 120 ? 120 : hlen), h);
    p = skip_ws(p + 1, end);
    bool have_descr = false, have_order = false, have_shape = false;
    while (p < end && *p != '}') {
        const char *key, *val;
        size_t klen, vlen;
        if (!(p = py_string(p, end, &key, &klen)))
            return hp_fail(err, "cannot read a key of the header dict: %.*s",
                           (int)(hlen > 120 ? 120 : hlen), h);
        p = skip_ws(p, end);
        if (p >= end || *p != ':')
            return hp_fail(err, "no ':' after key '%.*s' in the header", (int)klen, key);
        p = skip_ws(p + 1, end);
        if (klen == 5 && !memcmp(key, "descr", 5) && !have_descr) {
            if (!(p = py_string(p, end, &val, &vlen)))
                return hp_fail(err, "'descr' is not a string in the header");
            if (vlen == 3 && !memcmp(val, "<f4", 3))
                ni->item = 4;
            else if (vlen == 3 && !memcmp(val, "<f8", 3))
                ni->item = 8;
            else
                return hp_fail(err, "unsupported dtype '%.*s': expected '<f4' or '<f8' "
                                    "(little-endian float32 or float64)",
                               (int)(vlen > 40 ? 40 : vlen), val);
            have_descr = true;
        } else if (klen == 13 && !memcmp(key, "fortran_order", 13) && !have_order) {
            if (end - p >= 5 && !memcmp(p, "False", 5))
                p += 5;
            else if (end - p >= 4 && !memcmp(p, "True", 4))
                return hp_fail(err, "fortran_order is True (stored column by column); expected "
                                    "C order (save numpy.ascontiguousarray(D))");
            else
                return hp_fail(err, "'fortran_order' is not True or False in the header");
            have_order = true;
        } else if (klen == 5 && !memcmp(key, "shape", 5) && !have_shape) {
            if (!(p = py_shape(p, end, ni)))
                return hp_fail(err, "cannot read the 'shape' tuple of the header");
            have_shape = true;
        } else {
            return hp_fail(err, "unexpected key '%.*s' in the header (expected descr, "
                                "fortran_order and shape, once each)",
                           (int)(klen > 40 ? 40 : klen), key);
        }
        p = skip_ws(p, end);
        if (p < end && *p == ',')
            p = skip_ws(p + 1, end);
        else if (p < end && *p != '}')
            return hp_fail(err, "expected ',' or '}' in the header dict at byte %zu",
                           (size_t)(p - h));
    }
    if (p >= end || skip_ws(p + 1, end) != end)
        return hp_fail(err, "the header dict is not closed by '}', or text follows it");
    if (!have_descr || !have_order || !have_shape)
        return hp_fail(err, "the header lacks '%s'",
                       !have_descr ? "descr" : !have_order ? "fortran_order" : "shape");
    return 0;
}

static int parse_npy(const hp_file *f, npy_info *ni, hp_err *err)
{
    const unsigned char *m = f->map;
    if (f->size < 10 || memcmp(m, "\x93NUMPY", 6) != 0)
        return hp_fail(err, "not a .npy file: it does not start with \\x93NUMPY");
    unsigned major = m[6], minor = m[7];
    uint64_t hlen, start;
    if (major == 1 && minor == 0) {
        hlen = (uint64_t)m[8] | (uint64_t)m[9] << 8;
        start = 10;
    } else if ((major == 2 || major == 3) && minor == 0 && f->size >= 12) {
        hlen = (uint64_t)m[8] | (uint64_t)m[9] << 8 | (uint64_t)m[10] << 16 |
               (uint64_t)m[11] << 24;
        start = 12;
    } else {
        return hp_fail(err, ".npy format version %u.%u, expected 1.0, 2.0 or 3.0", major, minor);
    }
    if (hlen > f->size - start)
        return hp_fail(err, "truncated: the header claims %llu bytes but the file has %llu after "
                            "the preamble", (unsigned long long)hlen,
                       (unsigned long long)(f->size - start));
    ni->data_start = start + hlen;
    return parse_npy_dict((const char *)m + start, (size_t)hlen, ni, err);
}

/* A square dataset of an HDF5 file (r->dataset, "distances" by default), read through the
 * report library: any integer or floating-point type, converted to double. */
static int load_distances_h5(delta_run *r, hp_err *err)
{
    const char *ds = r->dataset ? r->dataset : "distances";
    int has = hp_report_has(r->input, ds, err), rank;
    int64_t dims[HP_REPORT_MAX_RANK], n;
    if (has < 0)
        return -1;
    if (has == 0)
        return hp_fail(err, "%s has no dataset %s: name the distance matrix with --dataset PATH", r->input, ds);
    if (hp_report_dims(r->input, ds, &rank, dims, err))
        return -1;
    if (rank != 2 || dims[0] != dims[1])
        return hp_fail(err, "%s: dataset %s has %d dimension%s (%lld x %lld): expected a square n x n distance "
                            "matrix", r->input, ds, rank, rank == 1 ? "" : "s", (long long)dims[0],
                       rank > 1 ? (long long)dims[1] : 1LL);
    if (hp_report_read_f64(r->input, ds, &r->D, &n, err))
        return -1;
    r->n = (size_t)dims[0];
    snprintf(r->matrix, sizeof r->matrix, "HDF5 dataset %.200s", ds);
    if (hp_delta_check(r->D, r->n, err))
        return hp_failctx(err, "%s, dataset %s", r->input, ds);
    snprintf(r->what, sizeof r->what, "distance matrix %s (%zu x %zu, %s)", r->input, r->n, r->n, r->matrix);
    return 0;
}

static int load_distances(delta_run *r, hp_err *err)
{
    hp_file f;
    if (hp_file_open(&f, r->input, err) != 0)
        return -1;
    static const unsigned char HDF5[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    if (f.size >= 8 && memcmp(f.map, HDF5, 8) == 0) {
        hp_file_close(&f);
        return load_distances_h5(r, err);
    }
    if (r->dataset) {
        hp_file_close(&f);
        return hp_fail(err, "%s: --dataset names a dataset of an HDF5 file, and this is not one", r->input);
    }
    npy_info ni = {0};
    int rc = parse_npy(&f, &ni, err);
    uint64_t n = ni.shape[0];
    if (rc == 0 && ni.ndim != 2) {
        rc = hp_fail(err, "the array has %d dimension%s: expected a square n x n distance matrix",
                     ni.ndim, ni.ndim == 1 ? "" : "s");
    } else if (rc == 0 && ni.shape[1] != n) {
        rc = hp_fail(err, "shape (%llu, %llu) is not square: expected an n x n distance matrix",
                     (unsigned long long)n, (unsigned long long)ni.shape[1]);
    } else if (rc == 0 && n > (1u << 20)) {
        rc = hp_fail(err, "shape (%llu, %llu) is too large", (unsigned long long)n,
                     (unsigned long long)n);
    }
    if (rc == 0) {
        uint64_t need = n * n * ni.item, have = f.size - ni.data_start;
        const char *type = ni.item == 4 ? "float32" : "float64";
        if (have < need)
            rc = hp_fail(err, "truncated: shape (%llu, %llu) of %s needs %llu data bytes but the "
                              "file has %llu after the header", (unsigned long long)n,
                         (unsigned long long)n, type, (unsigned long long)need,
                         (unsigned long long)have);
        else if (have > need)
            rc = hp_fail(err, "%llu bytes follow the %llu data bytes of shape (%llu, %llu) %s",
                         (unsigned long long)(have - need), (unsigned long long)need,
                         (unsigned long long)n, (unsigned long long)n, type);
        snprintf(r->matrix, sizeof r->matrix, "%s", type);
    }
    if (rc == 0 && (r->D = hp_malloc((n ? n * n : 1) * sizeof *r->D, "the distance matrix", err))) {
        const unsigned char *src = f.map + ni.data_start;
        for (size_t i = 0; i < n * n; i++) { /* the data need not be aligned */
            if (ni.item == 4) {
                float v;
                memcpy(&v, src + 4 * i, 4);
                r->D[i] = v;
            } else {
                memcpy(&r->D[i], src + 8 * i, 8);
            }
        }
        r->n = (size_t)n;
        rc = hp_delta_check(r->D, r->n, err);
    } else if (rc == 0) {
        rc = -1;
    }
    hp_file_close(&f);
    if (rc != 0)
        return hp_failctx(err, "%s", r->input);
    snprintf(r->what, sizeof r->what, "distance matrix %s (%zu x %zu, %s)", r->input, r->n, r->n,
             r->matrix);
    return 0;
}

/* ---- the other inputs ---- */

static int load_graph(delta_run *r, hp_err *err)
{
    hp_graph g;
    if (hp_graph_read_edges(r->input, DELTA_MAX_GRAPH_NODES, &g, err) != 0)
        return -1;
    r->n = g.n_nodes;
    r->n_edges = g.n_edges;
    int rc = -1;
    if (r->n < 4)
        hp_fail(err, "%s: δ needs at least 4 nodes, the graph has %zu", r->input, r->n);
    else if ((r->D = hp_malloc(r->n * r->n * sizeof *r->D, "the graph's distances", err)))
        rc = hp_graph_distances(&g, g_cli.threads, r->D, err) == 0 ? 0
                                                                  : hp_failctx(err, "%s", r->input);
    hp_graph_free(&g);
    snprintf(r->matrix, sizeof r->matrix, "edge list");
    snprintf(r->what, sizeof r->what, "graph %s (%zu nodes, %zu edges)", r->input, r->n,
             r->n_edges);
    return rc;
}

static int load_model(delta_run *r, hp_err *err)
{
    if (!(r->model = hp_model_open(r->input, err)) || !(r->emb = hp_model_embedding(r->model, err)))
        return -1;
    if (r->emb->ndim != 2)
        return hp_fail(err, "%s: the embedding %s is not a matrix", r->input, r->emb->name);
    r->n = (size_t)r->emb->shape[0];
    r->dim = (size_t)r->emb->shape[1];
    snprintf(r->matrix, sizeof r->matrix, "%s", r->emb->name);
    snprintf(r->what, sizeof r->what, "%s of %s (%zu x %zu, %s)", r->emb->name, r->input, r->n,
             r->dim, r->emb->dtype_name);
    /* only the file that holds the embedding is read, unless the model runs (--layers) */
    if (r->layers_spec) {
        if (r->model->n_files + 3 > DELTA_MAX_INPUTS)
            return hp_fail(err, "%s: %zu files are more than the %d this command records", r->input,
                           r->model->n_files, DELTA_MAX_INPUTS - 3);
        for (size_t i = 0; i < r->model->n_files; i++)
            r->input_files[r->n_input_files++] = r->model->files[i]->path;
    } else {
        r->input_files[r->n_input_files++] = r->model->files[r->emb->file]->path;
    }
    if (r->data && (r->tokenizer || r->model->tokenizer_path))
        r->input_files[r->n_input_files++] = r->tokenizer ? r->tokenizer : r->model->tokenizer_path;
    return 0;
}

static int load_vectors(delta_run *r, hp_err *err)
{
    if (hp_vectors_load(r->input, r->vocab, &r->vec, err) != 0)
        return -1;
    r->n = r->vec.n_words;
    r->dim = r->vec.dim;
    snprintf(r->matrix, sizeof r->matrix, "%s", r->vec.format);
    snprintf(r->what, sizeof r->what, "%s vectors %s (%zu x %zu)", r->vec.format, r->input, r->n,
             r->dim);
    return 0;
}

int delta_load(delta_run *r, hp_err *err)
{
    if (r->source != SRC_MODEL) {
        r->input_files[r->n_input_files++] = r->input;
        if (r->vocab)
            r->input_files[r->n_input_files++] = r->vocab;
    }
    int rc;
    switch (r->source) {
    case SRC_MODEL:
        rc = load_model(r, err);
        break;
    case SRC_VECTORS:
        rc = load_vectors(r, err);
        break;
    case SRC_DISTANCES:
        rc = load_distances(r, err);
        break;
    default:
        rc = load_graph(r, err);
        break;
    }
    if (rc != 0)
        return -1;
    for (int i = 0; i < r->n_data; i++)
        r->input_files[r->n_input_files++] = r->data_files[i];
    if (r->seen)
        r->input_files[r->n_input_files++] = r->seen;
    if (g_dist.rank != 0) /* the provenance is rank 0's to record */
        return 0;
    r->checksums = hp_sha256_files_begin(r->input_files, r->n_input_files, err);
    return r->checksums ? 0 : -1;
}

int delta_gather_points(const delta_run *r, const int64_t *rows, size_t m, float *X, hp_err *err)
{
    for (size_t i = 0; i < m; i++) {
        float *dst = X + i * r->dim;
        if (r->source == SRC_VECTORS)
            memcpy(dst, r->vec.data + (size_t)rows[i] * r->dim, r->dim * sizeof *dst);
        else if (hp_model_read_rows(r->model, r->emb, rows[i], 1, dst, err) != 0)
            return hp_failctx(err, "%s: row %lld of %s", r->input, (long long)rows[i],
                              r->emb->name);
    }
    return 0;
}

void delta_inputs_free(delta_run *r)
{
    if (r->checksums)
        hp_sha256_files_end(r->checksums, NULL, NULL);
    r->checksums = NULL;
    hp_model_close(r->model);
    hp_vectors_free(&r->vec);
    free(r->D);
}

/* ---- the other groups of /delta, carried over ----
 *
 * hp_report_begin replaces a whole top-level group, and /delta holds one subgroup per
 * input (--name). So the subgroups (and anything else in /delta) that this run does not
 * rewrite are read here, through HDF5 for the listing and types and through the report
 * readers for the values, and written again through the report API. */

enum { K_F64, K_F32, K_I64, K_STR };

typedef struct kept_dataset {
    char *path; /* relative to /delta */
    int kind, rank;
    int64_t dims[HP_REPORT_MAX_RANK];
    void *data;     /* double, float or int64_t */
    char **strings; /* K_STR */
    size_t n;
    char *definition, *units;
} kept_dataset;

typedef struct kept_attr {
    char *object; /* relative to /delta, "" for /delta itself */
    char *name;
    int kind; /* K_F64, K_I64, K_STR */
    double f;
    int64_t i;
    char *s;
} kept_attr;

struct delta_kept {
    kept_dataset *ds;
    size_t n_ds, cap_ds;
    kept_attr *at;
    size_t n_at, cap_at;
};

static const char *const PROVENANCE[] = {"command_line", "tool_version", "created_utc",
                                         "input_files", "input_sha256"};

static char *join_path(const char *a, const char *b, hp_err *err)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = hp_malloc(la + lb + 2, "an object path", err);
    if (s)
        snprintf(s, la + lb + 2, "%s%s%s", a, la ? "/" : "", b);
    return s;
}

static int kind_of(hid_t type)
{
    H5T_class_t c = H5Tget_class(type);
    if (c == H5T_INTEGER)
        return K_I64;
    if (c == H5T_FLOAT)
        return H5Tget_size(type) == 4 ? K_F32 : K_F64;
    if (c == H5T_STRING)
        return K_STR;
    return -1;
}

typedef struct attr_walk {
    delta_kept *k;
    const char *rel;
    bool is_dataset;
    hp_err *err;
} attr_walk;

static herr_t attr_one(hid_t obj, const char *name, const H5A_info_t *info, void *vctx)
{
    (void)info;
    attr_walk *w = vctx;
    delta_kept *k = w->k;
    if (w->is_dataset && (!strcmp(name, "definition") || !strcmp(name, "units")))
        return 0;
    for (size_t p = 0; !w->rel[0] && p < sizeof PROVENANCE / sizeof *PROVENANCE; p++)
        if (!strcmp(name, PROVENANCE[p]))
            return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    hid_t t = a < 0 ? -1 : H5Aget_type(a), s = a < 0 ? -1 : H5Aget_space(a);
    int kind = t < 0 ? -1 : kind_of(t);
    bool scalar = s >= 0 && H5Sget_simple_extent_npoints(s) == 1;
    if (t >= 0)
        H5Tclose(t);
    if (s >= 0)
        H5Sclose(s);
    if (a >= 0)
        H5Aclose(a);
    if (kind < 0 || !scalar) {
        cli_note("attribute %s of /delta/%s is not a single number or string: not kept", name,
                 w->rel);
        return 0;
    }
    if (hp_grow((void **)&k->at, &k->cap_at, k->n_at + 1, sizeof *k->at, "kept attributes",
                w->err) != 0)
        return -1;
    kept_attr *ka = &k->at[k->n_at++];
    ka->kind = kind == K_F32 ? K_F64 : kind;
    if (!(ka->object = hp_strdup(w->rel, w->err)) || !(ka->name = hp_strdup(name, w->err)))
        return -1;
    return 0;
}

/* The attributes of obj (at rel inside /delta) worth keeping: scalar numbers and strings;
 * not a dataset's definition and units (they go with it), nor /delta's provenance. */
static int walk_attrs(delta_kept *k, hid_t obj, const char *rel, bool is_dataset, hp_err *err)
{
    attr_walk w = {k, rel, is_dataset, err};
    hsize_t idx = 0;
    err->msg[0] = 0;
    if (H5Aiterate2(obj, H5_INDEX_NAME, H5_ITER_INC, &idx, attr_one, &w) < 0)
        return err->msg[0] ? -1 : hp_fail(err, "cannot read the attributes of /delta/%s", rel);
    return 0;
}

static int walk(delta_kept *k, hid_t grp, const char *rel, const char *const skip[2], hp_err *err)
{
    if (walk_attrs(k, grp, rel, false, err) != 0)
        return -1;
    H5G_info_t info;
    if (H5Gget_info(grp, &info) < 0)
        return hp_fail(err, "cannot list /delta/%s", rel);
    for (hsize_t i = 0; i < info.nlinks; i++) {
        char name[256];
        ssize_t len = H5Lget_name_by_idx(grp, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         sizeof name, H5P_DEFAULT);
        if (len < 0 || (size_t)len >= sizeof name)
            return hp_fail(err, "cannot read a name in /delta/%s", rel);
        if (!rel[0] && (!strcmp(name, skip[0]) || (skip[1] && !strcmp(name, skip[1]))))
            continue;
        char *path = join_path(rel, name, err);
        if (!path)
            return -1;
        hid_t obj = H5Oopen(grp, name, H5P_DEFAULT);
        H5I_type_t type = obj < 0 ? H5I_BADID : H5Iget_type(obj);
        int rc = 0;
        if (type == H5I_GROUP) {
            rc = walk(k, obj, path, skip, err);
        } else if (type == H5I_DATASET) {
            hid_t t = H5Dget_type(obj);
            int kind = t < 0 ? -1 : kind_of(t);
            if (t >= 0)
                H5Tclose(t);
            rc = hp_grow((void **)&k->ds, &k->cap_ds, k->n_ds + 1, sizeof *k->ds,
                         "kept datasets", err);
            if (rc == 0 && kind >= 0) {
                k->ds[k->n_ds].kind = kind;
                k->ds[k->n_ds++].path = path;
                path = NULL;
                rc = walk_attrs(k, obj, k->ds[k->n_ds - 1].path, true, err);
            } else if (rc == 0) {
                cli_note("dataset /delta/%s has a type the report does not write: not kept", path);
            }
        } else {
            cli_note("/delta/%s is neither a group nor a dataset: not kept", path);
        }
        if (obj >= 0)
            H5Oclose(obj);
        free(path);
        if (rc != 0)
            return -1;
    }
    return 0;
}

static int read_values(delta_kept *k, const char *path, hp_err *err)
{
    char obj[1024];
    for (size_t i = 0; i < k->n_ds; i++) {
        kept_dataset *d = &k->ds[i];
        snprintf(obj, sizeof obj, "/delta/%s", d->path);
        int64_t n = 0;
        int rc = hp_report_dims(path, obj, &d->rank, d->dims, err);
        if (rc == 0 && d->kind == K_STR)
            rc = hp_report_read_strings(path, obj, &d->strings, &d->n, err);
        else if (rc == 0 && d->kind == K_F32)
            rc = hp_report_read_f32(path, obj, (float **)&d->data, &n, err);
        else if (rc == 0 && d->kind == K_F64)
            rc = hp_report_read_f64(path, obj, (double **)&d->data, &n, err);
        else if (rc == 0)
            rc = hp_report_read_i64(path, obj, (int64_t **)&d->data, &n, err);
        if (rc != 0)
            return -1;
        if (d->kind != K_STR)
            d->n = (size_t)n;
        /* without them (not written by hyplora): a placeholder definition, no units */
        hp_err ignored;
        if (hp_report_read_attr_str(path, obj, "definition", &d->definition, &ignored) != 0)
            d->definition = NULL;
        if (hp_report_read_attr_str(path, obj, "units", &d->units, &ignored) != 0)
            d->units = NULL;
    }
    for (size_t i = 0; i < k->n_at; i++) {
        kept_attr *a = &k->at[i];
        snprintf(obj, sizeof obj, "/delta%s%s", a->object[0] ? "/" : "", a->object);
        int rc = a->kind == K_STR   ? hp_report_read_attr_str(path, obj, a->name, &a->s, err)
                 : a->kind == K_I64 ? hp_report_read_attr_i64(path, obj, a->name, &a->i, err)
                                    : hp_report_read_attr_f64(path, obj, a->name, &a->f, err);
        if (rc != 0)
            return -1;
    }
    return 0;
}

int delta_keep_read(const char *path, const char *name, const char *name2, delta_kept **kept, hp_err *err)
{
    *kept = NULL;
    int has = hp_report_has(path, "/delta", err);
    if (has < 0)
        return -1;
    delta_kept *k = hp_calloc(1, sizeof *k, "the kept /delta groups", err);
    if (!k)
        return -1;
    *kept = k;
    if (has == 0)
        return 0;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t g = f < 0 ? -1 : H5Gopen2(f, "/delta", H5P_DEFAULT);
    int rc = g < 0 ? hp_fail(err, "%s: cannot open /delta", path) : walk(k, g, "", (const char *const[2]){name, name2}, err);
    if (g >= 0)
        H5Gclose(g);
    if (f >= 0)
        H5Fclose(f);
    if (rc == 0)
        rc = read_values(k, path, err);
    return rc == 0 ? 0 : hp_failctx(err, "%s: reading the other groups of /delta to keep them",
                                    path);
}

/* A kept subgroup's inputs: its `inputs` attribute, "SHA256  PATH" lines. */
static int add_inputs(hp_report *rep, const char *lines, hp_err *err)
{
    const char *p = lines;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        if (len > 66 && p[64] == ' ' && p[65] == ' ') {
            char hex[HP_SHA256_HEX], file[4096];
            memcpy(hex, p, 64);
            hex[64] = 0;
            snprintf(file, sizeof file, "%.*s", (int)(len - 66), p + 66);
            if (hp_report_add_input_hex(rep, file, hex, err) != 0)
                return -1;
        }
        p += len + (nl != NULL);
    }
    return 0;
}

int delta_keep_write(const delta_kept *k, hp_report *rep, hp_err *err)
{
    for (size_t i = 0; i < k->n_ds; i++) {
        const kept_dataset *d = &k->ds[i];
        const char *def = d->definition && d->definition[0] ? d->definition
                                                             : "(kept from an earlier run; it "
                                                               "had no definition)";
        int rc;
        if (d->kind == K_STR) {
            if (d->rank != 1) {
                cli_note("/delta/%s: a string dataset of rank %d is not kept", d->path, d->rank);
                continue;
            }
            rc = hp_report_write_strings(rep, d->path, d->n, (const char *const *)d->strings, def,
                                         err);
        } else if (d->kind == K_F32) {
            rc = hp_report_write_f32(rep, d->path, d->rank, d->dims, d->data, def, d->units, err);
        } else if (d->kind == K_F64) {
            rc = hp_report_write_f64(rep, d->path, d->rank, d->dims, d->data, def, d->units, err);
        } else {
            rc = hp_report_write_i64(rep, d->path, d->rank, d->dims, d->data, def, d->units, err);
        }
        if (rc != 0)
            return -1;
    }
    for (size_t i = 0; i < k->n_at; i++) {
        const kept_attr *a = &k->at[i];
        hp_err e;
        int rc = a->kind == K_STR   ? hp_report_attr_str(rep, a->object, a->name, a->s, &e)
                 : a->kind == K_I64 ? hp_report_attr_i64(rep, a->object, a->name, a->i, &e)
                                    : hp_report_attr_f64(rep, a->object, a->name, a->f, &e);
        if (rc != 0) /* e.g. a subgroup that held nothing but attributes */
            cli_note("attribute %s of /delta/%s not kept: %s", a->name, a->object, e.msg);
        else if (a->kind == K_STR && !strcmp(a->name, "inputs") && add_inputs(rep, a->s, err) != 0)
            return -1;
    }
    return 0;
}

void delta_keep_free(delta_kept *k)
{
    if (!k)
        return;
    for (size_t i = 0; i < k->n_ds; i++) {
        free(k->ds[i].path);
        free(k->ds[i].data);
        hp_report_free_strings(k->ds[i].strings, k->ds[i].kind == K_STR ? k->ds[i].n : 0);
        free(k->ds[i].definition);
        free(k->ds[i].units);
    }
    for (size_t i = 0; i < k->n_at; i++) {
        free(k->at[i].object);
        free(k->at[i].name);
        free(k->at[i].s);
    }
    free(k->ds);
    free(k->at);
    free(k);
}

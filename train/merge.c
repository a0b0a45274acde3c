/* `hyplora merge`: folds a plain-LoRA adapter into the weights it adapts (W + scaling B A),
 * so the result runs and ships as an ordinary checkpoint. HypLoRA modules are refused: their
 * update is a nonlinear map of the input, which no weight matrix reproduces. */
#include <cblas.h>
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

static const char *HELP =
    "usage: hyplora merge MODEL ADAPTER -o DIR\n"
    "\n"
    "Folds a LoRA adapter (a PEFT directory: adapter_model.safetensors, adapter_config.json)\n"
    "into the weights of MODEL, a Hugging Face directory: every adapted matrix W [out, in]\n"
    "becomes W + scaling * B A (scaling lora_alpha / r, or lora_alpha / sqrt(r) with\n"
    "use_rslora), computed in double and rounded once to W's stored dtype. DIR gets every\n"
    "tensor of the model under the same names and dtypes, in the same files (shards and\n"
    "index included), and copies of config.json and the tokenizer files beside the model.\n"
    "DIR must be new or empty and is written whole or not at all.\n"
    "\n"
    "HypLoRA adapters cannot be merged: their update is a nonlinear map of the input (exp and\n"
    "log maps on the Lorentz hyperboloid), not a matrix; run them with --adapter instead.\n"
    "GGUF files are not read here: merge the safetensors checkpoint, then convert.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR  directory to write (created; must not exist or be empty)\n"
    "  -h, --help        this text\n"
    "\n"
    "Example:\n"
    "  hyplora merge my-model my-adapter -o my-model-merged\n";

/* Files beside the weights that belong to the checkpoint; the ones present are copied. */
static const char *const SIDE_FILES[] = {"config.json", "tokenizer.json", "tokenizer_config.json",
                                         "special_tokens_map.json", "generation_config.json", "tokenizer.model",
                                         "model.safetensors.index.json"};

static bool parse_options(int argc, char **argv, const char **model, const char **adapter, char **out, int *status)
{
    static const struct option OPTS[] = {
        {"output", required_argument, NULL, 'o'}, {"help", no_argument, NULL, 'h'}, {0, 0, 0, 0}};
    int c;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        if (c == 'o') {
            *out = optarg;
        } else if (c == 'h') {
            fputs(HELP, stdout);
            *status = EXIT_OK;
            return false;
        } else {
            return cli_usage_error("merge", "invalid option"), false;
        }
    }
    if (argc - optind != 2)
        return cli_usage_error("merge", "MODEL and ADAPTER are required (and nothing else)"), false;
    if (!*out || !**out)
        return cli_usage_error("merge", "-o DIR is required"), false;
    *model = argv[optind];
    *adapter = argv[optind + 1];
    size_t n = strlen(*out); /* "dir/" and "dir" name the same output */
    while (n > 1 && (*out)[n - 1] == '/')
        (*out)[--n] = 0;
    return true;
}

/* DIR must not be the model's own directory (its files are mapped while we write) and must
 * be new or empty, so that the finished directory can be renamed into place whole. */
static int check_output(const char *out, const hp_model *m, hp_err *err)
{
    struct stat so, sm;
    if (stat(out, &so) != 0)
        return errno == ENOENT ? 0 : hp_fail(err, "%s: %s", out, strerror(errno));
    if (!S_ISDIR(so.st_mode))
        return hp_fail(err, "%s exists and is not a directory", out);
    if (stat(m->path, &sm) == 0 && so.st_dev == sm.st_dev && so.st_ino == sm.st_ino)
        return hp_fail(err, "-o %s is the input model's directory: merge writes a new model and never "
                            "overwrites the one it reads; give another directory", out);
    DIR *d = opendir(out);
    if (!d)
        return hp_fail(err, "%s: %s", out, strerror(errno));
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)))
        empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty ? 0 : hp_fail(err, "%s exists and is not empty: give a new or empty directory", out);
}

/* Only plain LoRA folds into a matrix; name the first HypLoRA module and say why. */
static int check_plain_lora(const hp_adapter_set *s, const char *dir, hp_err *err)
{
    size_t hyp = 0, first = 0;
    for (size_t i = 0; i < s->n; i++)
        if (s->spec[i].method == HP_ADAPTER_HYPLORA && hyp++ == 0)
            first = i;
    if (!hyp)
        return 0;
    return hp_fail(err, "%s: %zu of %zu modules are HypLoRA (first: layer %d, %s, with lora_k and "
                        "lora_norm_scale): a HypLoRA update log_o(B A exp_o(x / s)) is a nonlinear map of the input "
                        "on the Lorentz hyperboloid, so no weight matrix equals it and it cannot be merged; keep the "
                        "adapter separate and run the model with --adapter %s",
                   dir, hyp, s->n, s->spec[first].layer, hp_module_name(s->spec[first].module), dir);
}

/* The adapted matrix of spec in the model, checked to be [out, in] in a dtype we can write. */
static const hp_tensor *target(const hp_model *m, const hp_adapter *a, const hp_adapter_spec *p, hp_err *err)
{
    char name[128];
    snprintf(name, sizeof name, "model.layers.%d.%s.%s.weight", p->layer,
             p->module <= HP_MODULE_O ? "self_attn" : "mlp", hp_module_name(p->module));
    const hp_tensor *t = hp_model_find(m, name);
    if (!t)
        return hp_fail(err, "%s: the model has no tensor %s for the adapter's layer %d, %s", m->path, name, p->layer,
                       hp_module_name(p->module)), NULL;
    if (t->ndim != 2 || t->shape[0] != a->out || t->shape[1] != a->in)
        return hp_fail(err, "%s: tensor %s is not %d x %d as the adapter expects", m->path, name, a->out, a->in), NULL;
    if (t->dtype != HP_F32 && t->dtype != HP_BF16 && t->dtype != HP_F16) /* widened exactly to float32 */
        return hp_fail(err, "%s: tensor %s is %s; merge handles F32, BF16 and F16 weights only", m->path, name,
                       t->dtype_name), NULL;
    return t;
}

/* x rounded to float with round-to-odd: rounding that once more to BF16 or F16 (far fewer
 * bits) then gives the correctly rounded value of x, which plain (float)x would not always. */
static float to_odd_float(double x)
{
    float f = (float)x;
    if (!isfinite(x) || (double)f == x)
        return f;
    if (fabs((double)f) > fabs(x))
        f = nextafterf(f, 0);
    uint32_t u;
    memcpy(&u, &f, 4);
    u |= 1;
    memcpy(&f, &u, 4);
    return f;
}

static void store(hp_dtype t, double x, unsigned char *dst)
{
    if (t == HP_F32) {
        float f = (float)x;
        memcpy(dst, &f, 4);
    } else {
        uint16_t h = t == HP_BF16 ? hp_f32_to_bf16(to_odd_float(x)) : hp_f32_to_f16(to_odd_float(x));
        dst[0] = (unsigned char)(h & 0xff);
        dst[1] = (unsigned char)(h >> 8);
    }
}

/* W + scaling B A in t's dtype, a block of rows at a time: B A in double by dgemm, W widened
 * exactly, one rounding per element. */
static void *merge_tensor(const hp_model *m, const hp_tensor *t, const hp_adapter *a, double scaling, hp_err *err)
{
    enum { ROWS = 64 };
    int in = a->in, r = a->rank;
    size_t esize = hp_dtype_block_bytes(t->dtype);
    unsigned char *out = hp_malloc((size_t)t->nbytes, t->name, err);
    double *A = out ? hp_malloc((size_t)r * in * sizeof *A, "lora_A in double", err) : NULL;
    double *B = A ? hp_malloc((size_t)ROWS * r * sizeof *B, "lora_B rows", err) : NULL;
    double *D = B ? hp_malloc((size_t)ROWS * in * sizeof *D, "the update rows", err) : NULL;
    float *W = D ? hp_malloc((size_t)ROWS * in * sizeof *W, "the weight rows", err) : NULL;
    int rc = W ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < (size_t)r * in; i++)
        A[i] = a->A[i];
    for (int row0 = 0; rc == 0 && row0 < a->out; row0 += ROWS) {
        int n = a->out - row0 < ROWS ? a->out - row0 : ROWS;
        for (size_t i = 0; i < (size_t)n * r; i++)
            B[i] = a->B[(size_t)row0 * r + i];
        if ((rc = hp_model_read_rows(m, t, row0, n, W, err)))
            break;
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, in, r, 1, B, r, A, in, 0, D, in);
        for (size_t i = 0; i < (size_t)n * in; i++)
            store(t->dtype, (double)W[i] + scaling * D[i], out + ((size_t)row0 * in + i) * esize);
    }
    free(A), free(B), free(D), free(W);
    if (rc) {
        free(out);
        return NULL;
    }
    return out;
}

/* One shard of the model to the same file name in dir: unchanged tensors straight from the
 * mapping, the adapted ones (tgt[i]) from merged[i]. */
static int write_shard(const hp_safetensors *st, const hp_tensor *const *tgt, void *const *merged, size_t n,
                       const char *dir, hp_err *err)
{
    hp_st_write *w = hp_calloc(st->n_tensors ? st->n_tensors : 1, sizeof *w, "the tensor list", err);
    const char **meta = w ? hp_calloc(2 * st->n_meta + 1, sizeof *meta, "the metadata", err) : NULL;
    const char *slash = strrchr(st->file.path, '/');
    char *path = meta ? hp_path_join(dir, slash ? slash + 1 : st->file.path, err) : NULL;
    for (size_t i = 0; path && i < st->n_tensors; i++) {
        const hp_tensor *t = &st->tensors[i];
        w[i] = (hp_st_write){.name = t->name, .dtype = t->dtype, .ndim = t->ndim, .data = t->data};
        memcpy(w[i].shape, t->shape, sizeof t->shape);
        for (size_t j = 0; j < n; j++)
            if (tgt[j] == t)
                w[i].data = merged[j];
    }
    for (size_t i = 0; path && i < st->n_meta; i++)
        meta[2 * i] = st->meta_keys[i], meta[2 * i + 1] = st->meta_values[i];
    int rc = path ? hp_safetensors_write(path, w, st->n_tensors, meta, st->n_meta, err) : -1;
    free(w), free(meta), free(path);
    return rc;
}

static int copy_side_files(const char *from_dir, const char *to_dir, hp_err *err)
{
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof SIDE_FILES / sizeof *SIDE_FILES; i++) {
        char *from = hp_path_join(from_dir, SIDE_FILES[i], err);
        char *to = from ? hp_path_join(to_dir, SIDE_FILES[i], err) : NULL;
        if (!to) {
            rc = -1;
        } else if (hp_exists(from)) {
            size_t len;
            char *data = hp_read_small_file(from, 1u << 30, &len, err);
            rc = data ? hp_write_file_atomic(to, data, len, err) : -1;
            free(data);
        }
        free(from), free(to);
    }
    return rc;
}

/* Removes the staging directory we created and whatever we wrote into it. */
static void remove_staging(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, "..")) {
            char *p = hp_path_join(dir, e->d_name, NULL);
            if (p)
                unlink(p);
            free(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static int merge(const hp_model *m, const hp_adapter_set *set, const char *out, hp_err *err)
{
    size_t n = set->n;
    const hp_tensor **tgt = hp_calloc(n ? n : 1, sizeof *tgt, "the adapted tensors", err);
    void **merged = tgt ? hp_calloc(n ? n : 1, sizeof *merged, "the merged tensors", err) : NULL;
    char *staging = merged ? hp_malloc(strlen(out) + 16, "a directory name", err) : NULL;
    int rc = staging ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) /* every target checked before anything is written */
        if (!(tgt[i] = target(m, &set->a[i], &set->spec[i], err)))
            rc = -1;
    /* Everything goes into DIR.tmp-XXXXXX, renamed to DIR at the end: an error or an
     * interruption leaves no half-written model under DIR's name. */
    bool made = false;
    if (rc == 0) {
        snprintf(staging, strlen(out) + 16, "%s.tmp-XXXXXX", out);
        if (!(made = mkdtemp(staging) != NULL))
            rc = hp_fail(err, "%s: cannot create a directory beside it: %s", out, strerror(errno));
        else
            (void)chmod(staging, 0755); /* mkdtemp's 0700 would hide the model from other users */
    }
    cli_progress p;
    hp_progress *prog = cli_progress_begin(&p, "merging");
    size_t done = 0;
    /* a shard at a time, so memory holds one shard's merged matrices at most */
    for (size_t f = 0; rc == 0 && f < m->n_shards; f++) {
        for (size_t i = 0; rc == 0 && i < n; i++) {
            if (tgt[i]->file != (int)f)
                continue;
            const hp_adapter_spec *sp = &set->spec[i];
            /* the scaling from the plan in double: the adapter's own is a float */
            double scaling = sp->alpha / (sp->rslora ? sqrt((double)sp->rank) : (double)sp->rank);
            if (!(merged[i] = merge_tensor(m, tgt[i], &set->a[i], scaling, err)))
                rc = -1;
            hp_progress_update(prog, ++done, n);
        }
        if (rc == 0)
            rc = write_shard(&m->shards[f], tgt, merged, n, staging, err);
        for (size_t i = 0; i < n; i++) {
            free(merged[i]);
            merged[i] = NULL;
        }
    }
    cli_progress_end(&p);
    if (rc == 0)
        rc = copy_side_files(m->path, staging, err);
    if (rc == 0 && rename(staging, out) != 0)
        rc = hp_fail(err, "%s: cannot rename %s to it: %s", out, staging, strerror(errno));
    if (rc && made)
        remove_staging(staging);
    free(tgt), free(merged), free(staging);
    return rc;
}

int cmd_merge(int argc, char **argv)
{
    const char *model_path = NULL, *adapter = NULL;
    char *out = NULL;
    int status;
    if (!parse_options(argc, argv, &model_path, &adapter, &out, &status))
        return status;
    hp_err err;
    hp_adapter_set set = {0};
    hp_model *m = hp_model_open(model_path, &err);
    int rc = m ? 0 : -1;
    if (rc == 0 && m->format == HP_FORMAT_GGUF)
        rc = hp_fail(&err, "%s: a GGUF file: merge reads Hugging Face safetensors directories only (merge the "
                           "safetensors checkpoint, then convert it)", model_path);
    else if (rc == 0 && (m->format != HP_FORMAT_HF_DIR || !m->has_config))
        rc = hp_fail(&err, "%s: merge needs a Hugging Face model directory with config.json and safetensors "
                           "weights", model_path);
    if (rc == 0)
        rc = check_output(out, m, &err);
    if (rc == 0 && !hp_is_dir(adapter))
        rc = hp_fail(&err, "%s: no such adapter directory (expected a PEFT directory with "
                           "adapter_model.safetensors and adapter_config.json)", adapter);
    if (rc == 0 && hp_adapter_set_load(&set, &m->config, adapter, &err))
        rc = hp_failctx(&err, "adapter %s", adapter);
    if (rc == 0)
        rc = check_plain_lora(&set, adapter, &err);
    if (rc == 0)
        rc = merge(m, &set, out, &err);
    if (rc == 0 && g_cli.verbosity > 0)
        fprintf(stderr, "wrote %s: %zu LoRA modules merged into %zu tensors\n", out, set.n, m->n_tensors);
    hp_adapter_set_free(&set);
    hp_model_close(m);
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

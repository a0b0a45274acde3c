/* `hyplora info PATH`: what a model file holds, for people (a table) or scripts (--json). */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char *HELP =
    "usage: hyplora info [--json] [-o REPORT] [--vocab FILE] PATH\n"
    "\n"
    "Describes a model: a Hugging Face directory (config.json + safetensors, sharded or not),\n"
    "a .safetensors file or a GGUF file. Prints the architecture, the config, every tensor\n"
    "(name, dtype, shape, bytes), the parameter count and the tokenizer type. Reads headers\n"
    "only, never the weights. Any other file is read as word vectors (GloVe or word2vec\n"
    "text, .npy with --vocab, or the wink-embeddings JSON): format, words, dimension.\n"
    "\n"
    "Options:\n"
    "  --json            one JSON object on stdout instead of the table\n"
    "  -o, --report FILE record the description as group /model of this HDF5 report\n"
    "                    (created, or updated keeping its other groups)\n"
    "  --vocab FILE      the vocabulary (one word per line) of a .npy vectors file\n"
    "  -h, --help        this text\n"
    "\n"
    "Example:\n"
    "  hyplora info ~/models/TinyLlama-1.1B\n"
    "  hyplora info --json model.gguf | jq .n_parameters\n"
    "  hyplora info ~/models/Llama-3-8B -o report.h5\n";

static cJSON *config_json(const hp_config *c)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "architecture", c->architecture);
    cJSON_AddStringToObject(o, "model_type", c->model_type);
    cJSON_AddBoolToObject(o, "forward_supported", c->forward_supported);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->n_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->n_heads);
    cJSON_AddNumberToObject(o, "num_key_value_heads", c->n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(o, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(o, "rope_theta", c->rope_theta);
    static const char *const SCALING[] = {"none", "llama3", "linear"};
    cJSON_AddStringToObject(o, "rope_scaling", SCALING[c->rope_scaling.type]);
    if (c->rope_scaling.type != HP_ROPE_NONE)
        cJSON_AddNumberToObject(o, "rope_scaling_factor", c->rope_scaling.factor);
    cJSON_AddBoolToObject(o, "tie_word_embeddings", c->tie_word_embeddings);
    cJSON_AddBoolToObject(o, "attention_bias", c->attention_bias);
    cJSON_AddNumberToObject(o, "bos_token_id", c->bos_token_id);
    cJSON_AddNumberToObject(o, "eos_token_id", c->eos_token_id);
    return o;
}

static int print_json(const hp_model *m, const char *tokenizer)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "path", m->path);
    cJSON_AddStringToObject(o, "format", hp_model_format_name(m->format));
    cJSON_AddNumberToObject(o, "n_files", (double)m->n_files);
    if (m->has_config)
        cJSON_AddItemToObject(o, "config", config_json(&m->config));
    else
        cJSON_AddNullToObject(o, "config");
    cJSON_AddStringToObject(o, "tokenizer", tokenizer);
    cJSON_AddNumberToObject(o, "n_parameters", (double)hp_model_n_params(m));
    uint64_t bytes = 0;
    cJSON *ts = cJSON_AddArrayToObject(o, "tensors");
    for (size_t i = 0; i < m->n_tensors; i++) {
        const hp_tensor *t = m->tensors[i];
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "name", t->name);
        if (t->stored_name)
            cJSON_AddStringToObject(e, "stored_name", t->stored_name);
        cJSON_AddStringToObject(e, "dtype", t->dtype_name);
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = 0; d < t->ndim; d++)
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
        cJSON_AddNumberToObject(e, "bytes", (double)t->nbytes);
        cJSON_AddStringToObject(e, "file", m->files[t->file]->path);
        cJSON_AddItemToArray(ts, e);
        bytes += t->nbytes;
    }
    cJSON_AddNumberToObject(o, "n_bytes", (double)bytes);
    char *s = cJSON_Print(o);
    cJSON_Delete(o);
    if (!s)
        return EXIT_FAIL;
    puts(s);
    free(s);
    return EXIT_OK;
}

static void print_table(const hp_model *m, const char *tokenizer)
{
    printf("path:          %s\n", m->path);
    printf("format:        %s, %zu file%s\n", hp_model_format_name(m->format), m->n_files,
           m->n_files == 1 ? "" : "s");
    if (m->has_config) {
        const hp_config *c = &m->config;
        printf("architecture:  %s (%s); forward pass %s\n", c->architecture[0] ? c->architecture : "?",
               c->model_type[0] ? c->model_type : "?",
               c->forward_supported ? "supported" : "not supported (embedding analyses only)");
        printf("config:        hidden %d, intermediate %d, layers %d, heads %d, kv heads %d, head_dim %d, vocab %d\n",
               c->hidden_size, c->intermediate_size, c->n_layers, c->n_heads, c->n_kv_heads,
               c->head_dim, c->vocab_size);
        printf("               rms_norm_eps %g, rope_theta %g, rope_scaling %s, tied embeddings %s, attention bias %s\n",
               c->rms_norm_eps, c->rope_theta,
               c->rope_scaling.type == HP_ROPE_LLAMA3   ? "llama3"
               : c->rope_scaling.type == HP_ROPE_LINEAR ? "linear"
                                                        : "none",
               c->tie_word_embeddings ? "yes" : "no", c->attention_bias ? "yes" : "no");
    } else {
        printf("architecture:  unknown (no config); forward pass not available\n");
    }
    printf("tokenizer:     %s\n", tokenizer);
    uint64_t bytes = 0;
    size_t wname = 4;
    for (size_t i = 0; i < m->n_tensors; i++) {
        bytes += m->tensors[i]->nbytes;
        size_t l = strlen(m->tensors[i]->name);
        wname = l > wname ? l : wname;
    }
    printf("parameters:    %" PRIu64 " (%.1f MB stored)\n", hp_model_n_params(m), (double)bytes / 1e6);
    printf("tensors:       %zu\n\n", m->n_tensors);
    printf("  %-*s  %-6s  %-20s  %12s\n", (int)wname, "name", "dtype", "shape", "bytes");
    for (size_t i = 0; i < m->n_tensors; i++) {
        const hp_tensor *t = m->tensors[i];
        char shape[128];
        printf("  %-*s  %-6s  %-20s  %12" PRIu64 "\n", (int)wname, t->name, t->dtype_name,
               hp_tensor_shape_str(t, shape, sizeof shape), t->nbytes);
    }
}

/* Group /model: what the later analyses in the same report were run on. */
static int write_model_report(const char *report, const hp_model *m, const char *tokenizer, hp_err *err)
{
    hp_report *r = hp_report_begin(report, "model", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err);
    if (!r)
        return -1;
    size_t n = m->n_tensors;
    const char **names = hp_calloc(n, sizeof *names, "tensor names", err);
    const char **dtypes = hp_calloc(n, sizeof *dtypes, "tensor dtypes", err);
    char **shapes = hp_calloc(n, sizeof *shapes, "tensor shapes", err);
    int64_t *bytes = hp_calloc(n, sizeof *bytes, "tensor sizes", err);
    int rc = names && dtypes && shapes && bytes ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char buf[160];
        names[i] = m->tensors[i]->name;
        dtypes[i] = m->tensors[i]->dtype_name;
        bytes[i] = (int64_t)m->tensors[i]->nbytes;
        if (!(shapes[i] = hp_strdup(hp_tensor_shape_str(m->tensors[i], buf, sizeof buf), err)))
            rc = -1;
    }
    for (size_t f = 0; rc == 0 && f < m->n_files; f++)
        rc = hp_report_add_input(r, m->files[f]->path, err);
    const hp_config *c = &m->config;
    int64_t dims = (int64_t)n;
    if (rc == 0 && m->has_config && m->format == HP_FORMAT_HF_DIR) {
        char *cfg = hp_path_join(m->path, "config.json", err);
        rc = cfg ? hp_report_add_input(r, cfg, err) : -1;
        free(cfg);
    }
    if (rc == 0 && m->tokenizer_path)
        rc = hp_report_add_input(r, m->tokenizer_path, err);
    if (rc == 0)
        rc = hp_report_attr_str(r, "", "path", m->path, err) ||
             hp_report_attr_str(r, "", "format", hp_model_format_name(m->format), err) ||
             hp_report_attr_str(r, "", "architecture", c->architecture, err) ||
             hp_report_attr_str(r, "", "model_type", c->model_type, err) ||
             hp_report_attr_str(r, "", "tokenizer", tokenizer, err) ||
             hp_report_attr_i64(r, "", "n_parameters", (int64_t)hp_model_n_params(m), err) ||
             hp_report_attr_i64(r, "", "hidden_size", c->hidden_size, err) ||
             hp_report_attr_i64(r, "", "n_layers", c->n_layers, err) ||
             hp_report_attr_i64(r, "", "vocab_size", c->vocab_size, err) ||
             hp_report_attr_i64(r, "", "forward_supported", c->forward_supported, err) ||
             hp_report_write_strings(r, "tensor_names", n, names, "Hugging Face name of each stored tensor", err) ||
             hp_report_write_strings(r, "tensor_dtypes", n, dtypes, "stored element type of each tensor", err) ||
             hp_report_write_strings(r, "tensor_shapes", n, (const char *const *)shapes,
                                     "shape of each tensor, outermost dimension first", err) ||
             hp_report_write_i64(r, "tensor_bytes", 1, &dims, bytes, "stored size of each tensor", "bytes", err)
                 ? -1 : 0;
    for (size_t i = 0; shapes && i < n; i++)
        free(shapes[i]);
    free(names);
    free(dtypes);
    free(shapes);
    free(bytes);
    if (rc != 0) {
        hp_report_abort(r);
        return -1;
    }
    return hp_report_commit(r, err);
}

static int write_vectors_report(const char *report, const char *path, const char *vocab,
                                const hp_vectors *v, hp_err *err)
{
    hp_report *r = hp_report_begin(report, "model", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err);
    if (!r)
        return -1;
    if (hp_report_add_input(r, path, err) || (vocab && hp_report_add_input(r, vocab, err)) ||
        hp_report_attr_str(r, "", "path", path, err) ||
        hp_report_attr_str(r, "", "format", v->format, err) ||
        hp_report_attr_i64(r, "", "n_words", (int64_t)v->n_words, err) ||
        hp_report_attr_i64(r, "", "dim", (int64_t)v->dim, err)) {
        hp_report_abort(r);
        return -1;
    }
    return hp_report_commit(r, err);
}

static bool looks_like_model(const char *path)
{
    if (hp_is_dir(path))
        return true;
    size_t n = strlen(path);
    if (n >= 12 && strcmp(path + n - 12, ".safetensors") == 0)
        return true;
    if (n >= 5 && strcmp(path + n - 5, ".gguf") == 0)
        return true;
    FILE *fp = fopen(path, "rb");
    char magic[4] = {0};
    if (fp) {
        if (fread(magic, 1, 4, fp) != 4)
            magic[0] = 0;
        fclose(fp);
    }
    return memcmp(magic, "GGUF", 4) == 0 || !fp;
}

static int info_vectors(const char *path, const char *vocab, bool json, const char *report)
{
    hp_err err;
    hp_vectors v;
    if (hp_vectors_load(path, vocab, &v, &err) != 0) {
        if (!vocab)
            hp_failctx(&err, "neither a model (Hugging Face directory, .safetensors, GGUF) nor word vectors");
        return cli_fail(&err);
    }
    if (json) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "path", path);
        cJSON_AddStringToObject(o, "format", v.format);
        cJSON_AddNumberToObject(o, "n_words", (double)v.n_words);
        cJSON_AddNumberToObject(o, "dim", (double)v.dim);
        cJSON *first = cJSON_AddArrayToObject(o, "first_words");
        for (size_t i = 0; i < v.n_words && i < 10; i++)
            cJSON_AddItemToArray(first, cJSON_CreateString(v.words[i]));
        char *s = cJSON_Print(o);
        cJSON_Delete(o);
        if (s)
            puts(s);
        free(s);
    } else {
        printf("path:          %s\n", path);
        printf("format:        word vectors (%s)\n", v.format);
        printf("words:         %zu\n", v.n_words);
        printf("dimension:     %zu\n", v.dim);
        printf("first words:  ");
        for (size_t i = 0; i < v.n_words && i < 10; i++)
            printf(" %s", v.words[i]);
        printf("\n");
    }
    int rc = report && write_vectors_report(report, path, vocab, &v, &err) != 0 ? cli_fail(&err) : EXIT_OK;
    hp_vectors_free(&v);
    return rc;
}

int cmd_info(int argc, char **argv)
{
    static const struct option OPTS[] = {
        {"json", no_argument, NULL, 'j'},
        {"report", required_argument, NULL, 'o'},
        {"vocab", required_argument, NULL, 'V'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    bool json = false;
    const char *report = NULL, *vocab = NULL;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "ho:", OPTS, NULL)) != -1) {
        switch (c) {
        case 'j':
            json = true;
            break;
        case 'o':
            report = optarg;
            break;
        case 'V':
            vocab = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("info", "unknown option");
        }
    }
    if (optind != argc - 1)
        return cli_usage_error("info", "expected exactly one PATH");
    if (vocab || !looks_like_model(argv[optind]))
        return info_vectors(argv[optind], vocab, json, report);
    hp_err err;
    hp_model *m = hp_model_open(argv[optind], &err);
    if (!m)
        return cli_fail(&err);
    char tokenizer[96];
    if (hp_model_tokenizer_type(m, tokenizer, sizeof tokenizer, &err) != 0) {
        hp_model_close(m);
        return cli_fail(&err);
    }
    int rc = EXIT_OK;
    if (json)
        rc = print_json(m, tokenizer);
    else
        print_table(m, tokenizer);
    if (rc == EXIT_OK && report && write_model_report(report, m, tokenizer, &err) != 0)
        rc = cli_fail(&err);
    hp_model_close(m);
    return rc;
}

/* `hyplora make-model`: a random Llama-architecture checkpoint in the exact Hugging Face
 * layout (config.json, model.safetensors or shards + index, tokenizer.json). It is the
 * embedded default model of the demo and the tests until a trained one exists, and,
 * with --sparse, the way to lay out an 8B-sized checkpoint for benchmarks. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "hf_dir.h"
#include "hyplora/rng.h"

static const char *HELP =
    "usage: hyplora make-model -o DIR [options]\n"
    "\n"
    "Writes a Llama-architecture causal LM with random weights (normal, std 0.02; norm\n"
    "weights 1) in the Hugging Face layout: config.json, model.safetensors (or shards with\n"
    "model.safetensors.index.json) and tokenizer.json. Same seed, same bytes.\n"
    "\n"
    "Options:\n"
    "  -o, --output DIR      directory to write (created if missing)\n"
    "  --hidden N            hidden size (64)\n"
    "  --intermediate N      MLP size (176)\n"
    "  --layers N            decoder layers (2)\n"
    "  --heads N             attention heads (4)\n"
    "  --kv-heads N          key/value heads, grouped-query attention (2)\n"
    "  --vocab N             vocabulary size (32000, the LLaMA-2 tokenizer's)\n"
    "  --dtype bf16|f16|f32  stored type (bf16)\n"
    "  --shards N            split the weights over N files with an index (1)\n"
    "  --tie                 tie the output head to the input embedding\n"
    "  --seed S              random seed (0)\n"
    "  --tokenizer FILE      tokenizer.json to copy (default: the vendored LLaMA-2 one)\n"
    "  --no-tokenizer        write no tokenizer.json\n"
    "  --sparse              write only the embedding and head; other tensors are holes in\n"
    "                        sparse files (fast layouts of huge models for benchmarks)\n"
    "  -h, --help            this text\n"
    "\n"
    "Example:\n"
    "  hyplora make-model -o tiny-llama --hidden 64 --layers 2\n"
    "  hyplora make-model -o llama3-8b-layout --hidden 4096 --intermediate 14336 --layers 32 \\\n"
    "      --heads 32 --kv-heads 8 --vocab 128256 --shards 4 --sparse --no-tokenizer\n";

typedef struct spec {
    int hidden, intermediate, layers, heads, kv_heads, vocab, shards;
    hp_dtype dtype;
    bool tie, sparse, no_tokenizer;
    uint64_t seed;
    const char *tokenizer, *out;
} spec;

typedef struct tensor_plan {
    char name[96];
    int ndim;
    int64_t shape[2];
    bool is_norm, always_written; /* embeddings and head are written even when sparse */
} tensor_plan;

static size_t plan_tensors(const spec *s, tensor_plan *p)
{
    size_t n = 0;
    int hd = s->hidden / s->heads;
#define ADD(nm, r, c, norm, always)                                                        \
    do {                                                                                   \
        tensor_plan *t = &p[n++];                                                          \
        snprintf(t->name, sizeof t->name, "%s", nm);                                       \
        t->ndim = (c) ? 2 : 1, t->shape[0] = (r), t->shape[1] = (c);                       \
        t->is_norm = (norm), t->always_written = (always);                                 \
    } while (0)
    ADD("model.embed_tokens.weight", s->vocab, s->hidden, false, true);
    for (int l = 0; l < s->layers; l++) {
        char nm[96];
        static const struct {
            const char *suffix;
            int rows, cols; /* 0 hidden, 1 q, 2 kv, 3 intermediate */
        } LAYER[] = {
            {"input_layernorm.weight", 0, -1},  {"self_attn.q_proj.weight", 1, 0},
            {"self_attn.k_proj.weight", 2, 0},  {"self_attn.v_proj.weight", 2, 0},
            {"self_attn.o_proj.weight", 0, 1},  {"post_attention_layernorm.weight", 0, -1},
            {"mlp.gate_proj.weight", 3, 0},     {"mlp.up_proj.weight", 3, 0},
            {"mlp.down_proj.weight", 0, 3},
        };
        int64_t dim[4] = {s->hidden, (int64_t)s->heads * hd, (int64_t)s->kv_heads * hd, s->intermediate};
        for (size_t k = 0; k < sizeof LAYER / sizeof LAYER[0]; k++) {
            snprintf(nm, sizeof nm, "model.layers.%d.%s", l, LAYER[k].suffix);
            ADD(nm, dim[LAYER[k].rows], LAYER[k].cols < 0 ? 0 : dim[LAYER[k].cols], LAYER[k].cols < 0, false);
        }
    }
    ADD("model.norm.weight", s->hidden, 0, true, false);
    if (!s->tie)
        ADD("lm_head.weight", s->vocab, s->hidden, false, true);
#undef ADD
    return n;
}

static void *fill(const tensor_plan *t, hp_dtype dtype, hp_rng *rng, hp_err *err)
{
    uint64_t count = (uint64_t)t->shape[0] * (uint64_t)(t->ndim == 2 ? t->shape[1] : 1);
    size_t esize = hp_dtype_block_bytes(dtype);
    unsigned char *buf = hp_malloc((size_t)count * esize, t->name, err);
    if (!buf)
        return NULL;
    for (uint64_t i = 0; i < count; i++) {
        float v = t->is_norm ? 1.0f : (float)(0.02 * hp_rng_normal(rng));
        if (dtype == HP_F32) {
            memcpy(buf + 4 * i, &v, 4);
        } else {
            uint16_t h = dtype == HP_BF16 ? hp_f32_to_bf16(v) : hp_f32_to_f16(v);
            buf[2 * i] = (unsigned char)(h & 0xff);
            buf[2 * i + 1] = (unsigned char)(h >> 8);
        }
    }
    return buf;
}

static int write_config(const spec *s, hp_err *err)
{
    hp_config c = {.hidden_size = s->hidden, .intermediate_size = s->intermediate, .n_layers = s->layers,
                   .n_heads = s->heads, .n_kv_heads = s->kv_heads, .head_dim = s->hidden / s->heads,
                   .vocab_size = s->vocab, .max_position_embeddings = 2048, .rms_norm_eps = 1e-5,
                   .rope_theta = 10000.0, .tie_word_embeddings = s->tie, .bos_token_id = 1, .eos_token_id = 2};
    return hf_write_config(s->out, &c, s->dtype, err);
}

/* Shards split the tensor list in order at roughly equal byte counts, as HF does. */
static int write_weights(const spec *s, const tensor_plan *plan, size_t n, hp_err *err)
{
    hp_st_write *w = hp_calloc(n, sizeof *w, "tensor list", err);
    int *shard_of = hp_calloc(n, sizeof *shard_of, "shard list", err);
    if (!w || !shard_of) {
        free(w);
        free(shard_of);
        return -1;
    }
    uint64_t total = 0, *bytes = hp_calloc(n, sizeof *bytes, "sizes", err);
    int rc = bytes ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        w[i].name = plan[i].name;
        w[i].dtype = s->dtype;
        w[i].ndim = plan[i].ndim;
        memcpy(w[i].shape, plan[i].shape, sizeof plan[i].shape);
        bytes[i] = hp_dtype_bytes(s->dtype, (uint64_t)plan[i].shape[0] *
                                                (uint64_t)(plan[i].ndim == 2 ? plan[i].shape[1] : 1));
        total += bytes[i];
    }
    uint64_t before = 0;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        shard_of[i] = (int)((double)before / (double)total * s->shards);
        if (shard_of[i] >= s->shards)
            shard_of[i] = s->shards - 1;
        before += bytes[i];
    }
    cJSON *index = cJSON_CreateObject(), *wm = NULL;
    if (s->shards > 1) {
        cJSON *meta = cJSON_AddObjectToObject(index, "metadata");
        cJSON_AddNumberToObject(meta, "total_size", (double)total);
        wm = cJSON_AddObjectToObject(index, "weight_map");
    }
    static const char *const META[] = {"format", "pt"};
    hp_rng rng;
    hp_rng_seed(&rng, s->seed);
    cli_progress progress;
    hp_progress *p = cli_progress_begin(&progress, "generating weights");
    /* One shard in memory at a time, its tensors drawn in order from the one random stream,
     * so the bytes do not depend on the shard count. With --sparse only the embedding and
     * the head are drawn; the embedding comes first, so it equals the full model's. */
    for (int sh = 0; rc == 0 && sh < s->shards; sh++) {
        char fname[64];
        if (s->shards == 1)
            snprintf(fname, sizeof fname, "model.safetensors");
        else
            snprintf(fname, sizeof fname, "model-%05d-of-%05d.safetensors", sh + 1, s->shards);
        size_t first = n, count = 0;
        for (size_t i = 0; i < n; i++)
            if (shard_of[i] == sh) {
                if (first == n)
                    first = i;
                count++;
                if (wm)
                    cJSON_AddStringToObject(wm, plan[i].name, fname);
            }
        for (size_t i = first; rc == 0 && i < first + count; i++) {
            hp_progress_update(p, i, n);
            if ((!s->sparse || plan[i].always_written) && !(w[i].data = fill(&plan[i], s->dtype, &rng, err)))
                rc = -1;
        }
        char *path = rc == 0 ? hp_path_join(s->out, fname, err) : NULL;
        rc = path ? hp_safetensors_write(path, w + first, count, META, 1, err) : -1;
        free(path);
        for (size_t i = first; i < first + count; i++) {
            free((void *)w[i].data);
            w[i].data = NULL;
        }
    }
    hp_progress_update(p, n, n);
    cli_progress_end(&progress);
    if (rc == 0 && wm) {
        rc = hf_write_json(s->out, "model.safetensors.index.json", index, err);
        index = NULL;
    }
    cJSON_Delete(index);
    for (size_t i = 0; i < n; i++)
        free((void *)w[i].data);
    free(w);
    free(shard_of);
    free(bytes);
    return rc;
}

static bool parse_options(int argc, char **argv, spec *s, int *status)
{
    enum { O_HIDDEN = 256, O_INTER, O_LAYERS, O_HEADS, O_KV, O_VOCAB, O_DTYPE, O_SHARDS, O_TIE,
           O_SEED, O_TOK, O_NOTOK, O_SPARSE };
    static const struct option OPTS[] = {
        {"output", required_argument, NULL, 'o'},       {"hidden", required_argument, NULL, O_HIDDEN},
        {"intermediate", required_argument, NULL, O_INTER}, {"layers", required_argument, NULL, O_LAYERS},
        {"heads", required_argument, NULL, O_HEADS},    {"kv-heads", required_argument, NULL, O_KV},
        {"vocab", required_argument, NULL, O_VOCAB},    {"dtype", required_argument, NULL, O_DTYPE},
        {"shards", required_argument, NULL, O_SHARDS},  {"tie", no_argument, NULL, O_TIE},
        {"seed", required_argument, NULL, O_SEED},      {"tokenizer", required_argument, NULL, O_TOK},
        {"no-tokenizer", no_argument, NULL, O_NOTOK},   {"sparse", no_argument, NULL, O_SPARSE},
        {"help", no_argument, NULL, 'h'},               {0, 0, 0, 0},
    };
    const char *cmd = "make-model";
    int c;
    long v;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        int *target = c == O_HIDDEN ? &s->hidden : c == O_INTER ? &s->intermediate
                    : c == O_LAYERS ? &s->layers : c == O_HEADS ? &s->heads
                    : c == O_KV ? &s->kv_heads : c == O_VOCAB ? &s->vocab
                    : c == O_SHARDS ? &s->shards : NULL;
        if (target) {
            if (!cli_parse_int(cmd, argv[optind - 1], optarg, 1, c == O_SHARDS ? 9999 : 1 << 24, &v))
                return false;
            *target = (int)v;
            continue;
        }
        switch (c) {
        case 'o': s->out = optarg; break;
        case O_DTYPE:
            s->dtype = strcmp(optarg, "bf16") == 0 ? HP_BF16 : strcmp(optarg, "f16") == 0 ? HP_F16
                     : strcmp(optarg, "f32") == 0 ? HP_F32 : HP_DTYPE_UNKNOWN;
            if (s->dtype == HP_DTYPE_UNKNOWN) {
                cli_usage_error(cmd, "--dtype expects bf16, f16 or f32, got '%s'", optarg);
                return false;
            }
            break;
        case O_TIE: s->tie = true; break;
        case O_SEED:
            if (!cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffL, &v))
                return false;
            s->seed = (uint64_t)v;
            break;
        case O_TOK: s->tokenizer = optarg; break;
        case O_NOTOK: s->no_tokenizer = true; break;
        case O_SPARSE: s->sparse = true; break;
        case 'h':
            fputs(HELP, stdout);
            *status = EXIT_OK;
            return false;
        default:
            cli_usage_error(cmd, "invalid option");
            return false;
        }
    }
    if (optind != argc) {
        cli_usage_error(cmd, "unexpected argument '%s'", argv[optind]);
        return false;
    }
    if (!s->out) {
        cli_usage_error(cmd, "-o DIR is required");
        return false;
    }
    if (s->hidden % s->heads || s->heads % s->kv_heads || (s->hidden / s->heads) % 2) {
        cli_usage_error(cmd, "--heads must divide --hidden into an even head size, and --kv-heads divide --heads");
        return false;
    }
    return true;
}

int cmd_make_model(int argc, char **argv)
{
    spec s = {.hidden = 64, .intermediate = 176, .layers = 2, .heads = 4, .kv_heads = 2,
              .vocab = 32000, .shards = 1, .dtype = HP_BF16};
    int status;
    if (!parse_options(argc, argv, &s, &status))
        return status;
    hp_err err;
    char default_tok[4096];
    if (!s.tokenizer && !s.no_tokenizer) {
        snprintf(default_tok, sizeof default_tok, "%s/tokenizers/llama2/tokenizer.json", cli_data_dir());
        s.tokenizer = default_tok;
    }
    if (hp_make_dirs(s.out, &err))
        return cli_fail(&err);
    size_t max = 3 + 9 * (size_t)s.layers;
    tensor_plan *plan = hp_calloc(max, sizeof *plan, "tensor plan", &err);
    if (!plan)
        return cli_fail(&err);
    size_t n = plan_tensors(&s, plan);
    int rc = write_config(&s, &err);
    if (rc == 0)
        rc = write_weights(&s, plan, n, &err);
    if (rc == 0 && s.tokenizer)
        rc = hf_copy_tokenizer(s.tokenizer, s.out, &err);
    free(plan);
    if (rc != 0)
        return cli_fail(&err);
    if (g_cli.verbosity > 0)
        fprintf(stderr, "wrote %s: %zu tensors, %d layer%s, hidden %d, vocab %d\n", s.out, n, s.layers,
                s.layers == 1 ? "" : "s", s.hidden, s.vocab);
    return EXIT_OK;
}

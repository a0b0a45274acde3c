/* `hyplora pretrain`: trains a Llama-architecture model from random weights on a text
 * corpus (docs/pretraining.md), every weight trainable, and writes it as a Hugging Face
 * directory that every other command reads. The corpus is tokenized once and cut into
 * sequences (train/pretrain_data.h); the split and each epoch's order follow from the seed,
 * so a resumed run needs only the weights, the optimiser state and the log. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "dist.h"
#include "hf_dir.h"
#include "pretrain_data.h"
#include "train_state.h"

static const char *HELP =
    "usage: hyplora pretrain --tokenizer PATH CORPUS... -o DIR [options]\n"
    "\n"
    "Trains a Llama-architecture causal LM from random weights on text: plain-text files (one\n"
    "document per line) or JSON/JSONL data sets (--field). Each document is tokenized with\n"
    "the tokenizer's special tokens (BOS for LLaMA-2) and followed by EOS; the stream is cut\n"
    "into sequences of --context tokens. Every weight is trained (AdamW, weight decay on the\n"
    "matrices only, cosine schedule after a linear warmup, gradient clipping). DIR gets the\n"
    "model in the Hugging Face layout (config.json, model.safetensors, tokenizer.json), the\n"
    "log train_log.h5 (/train) and checkpoint.safetensors (for --resume).\n"
    "Under mpirun the ranks share each step's micro-batches (docs/distributed.md).\n"
    "\n"
    "Model:\n"
    "  --tokenizer PATH      tokenizer.json, or a directory holding one (required); it sets\n"
    "                        the vocabulary\n"
    "  --hidden N            hidden size (256)\n"
    "  --layers N            decoder layers (4)\n"
    "  --heads N             attention heads (4)\n"
    "  --kv-heads N          key/value heads (as --heads)\n"
    "  --intermediate N      MLP size (8/3 of --hidden, rounded up to a multiple of 32)\n"
    "  --context N           positions per sequence, and the model's context (256)\n"
    "  --untie               an output head of its own (default: tied to the embedding)\n"
    "  --init-std S          weights drawn from N(0, S^2) (0.02); o_proj and down_proj\n"
    "                        S / sqrt(2 layers); norms 1\n"
    "\n"
    "Optimisation:\n"
    "  --lr LR               peak learning rate (1e-3)\n"
    "  --beta2 B             AdamW's beta2 (0.95; beta1 0.9)\n"
    "  --weight-decay WD     on the matrices, embedding included (0.1)\n"
    "  --warmup N            warmup steps (100)\n"
    "  --clip C              clip the global gradient norm to C (1.0; 0: none)\n"
    "  --epochs N            passes over the training sequences (1)\n"
    "  --steps N             optimiser steps instead of --epochs\n"
    "  --batch N             sequences per optimiser step (32)\n"
    "  --micro-batch N       sequences per forward and backward pass (8)\n"
    "  --seed S              initialisation, split and order (42)\n"
    "\n"
    "Data:\n"
    "  --field F             the JSON field(s) to read (repeat for several; each is a\n"
    "                        document)\n"
    "  --val-size N          sequences held out for the validation loss: a count, or a\n"
    "                        fraction below 1 (0.02)\n"
    "  --eval-every N        validation loss every N steps (100), at the start and the end\n"
    "\n"
    "Run:\n"
    "  -o, --output DIR      the output directory\n"
    "  --dtype f32|bf16      the weights' type in model.safetensors (f32)\n"
    "  --checkpoint-every N  write the checkpoint, model and log every N steps (100)\n"
    "  --resume              continue the run in DIR from its checkpoint (same options): the\n"
    "                        result equals an uninterrupted run. Ctrl-C writes a checkpoint\n"
    "                        and exits (status 130).\n"
    "  -h, --help            this text\n"
    "\n"
    "Example:\n"
    "  hyplora pretrain --tokenizer notebooks-data/tokenizers/llama2 --hidden 128 --layers 4 \\\n"
    "      --steps 2000 corpus.txt -o my-model\n";

typedef struct pretrain_opts {
    const char *tokenizer, *out;
    char **corpus;
    int n_corpus;
    const char *fields[16];
    size_t n_fields;
    int hidden, layers, heads, kv_heads, intermediate, context;
    bool untie, resume;
    hp_dtype dtype;
    double init_std, lr, beta2, weight_decay, clip, val_size;
    long epochs, steps, batch, micro, warmup, eval_every, checkpoint_every;
    unsigned long long seed;
} pretrain_opts;

static bool parse_options(int argc, char **argv, pretrain_opts *o, int *status)
{
    enum {
        O_TOK = 256, O_HIDDEN, O_LAYERS, O_HEADS, O_KV, O_INTER, O_CONTEXT, O_UNTIE, O_STD, O_LR, O_BETA2, O_WD,
        O_WARMUP, O_CLIP, O_EPOCHS, O_STEPS, O_BATCH, O_MICRO, O_SEED, O_FIELD, O_VAL, O_EVAL, O_DTYPE, O_CKPT,
        O_RESUME,
    };
    static const struct option OPTS[] = {
        {"tokenizer", required_argument, NULL, O_TOK},   {"hidden", required_argument, NULL, O_HIDDEN},
        {"layers", required_argument, NULL, O_LAYERS},   {"heads", required_argument, NULL, O_HEADS},
        {"kv-heads", required_argument, NULL, O_KV},     {"intermediate", required_argument, NULL, O_INTER},
        {"context", required_argument, NULL, O_CONTEXT}, {"untie", no_argument, NULL, O_UNTIE},
        {"init-std", required_argument, NULL, O_STD},    {"lr", required_argument, NULL, O_LR},
        {"beta2", required_argument, NULL, O_BETA2},     {"weight-decay", required_argument, NULL, O_WD},
        {"warmup", required_argument, NULL, O_WARMUP},   {"clip", required_argument, NULL, O_CLIP},
        {"epochs", required_argument, NULL, O_EPOCHS},   {"steps", required_argument, NULL, O_STEPS},
        {"batch", required_argument, NULL, O_BATCH},     {"micro-batch", required_argument, NULL, O_MICRO},
        {"seed", required_argument, NULL, O_SEED},       {"field", required_argument, NULL, O_FIELD},
        {"val-size", required_argument, NULL, O_VAL},    {"eval-every", required_argument, NULL, O_EVAL},
        {"dtype", required_argument, NULL, O_DTYPE},     {"checkpoint-every", required_argument, NULL, O_CKPT},
        {"resume", no_argument, NULL, O_RESUME},         {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},                {0, 0, 0, 0},
    };
    const char *cmd = "pretrain";
    int c;
    long v;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "ho:", OPTS, NULL)) != -1) {
        int *dim = c == O_HIDDEN ? &o->hidden : c == O_LAYERS ? &o->layers : c == O_HEADS ? &o->heads
                 : c == O_KV ? &o->kv_heads : c == O_INTER ? &o->intermediate : c == O_CONTEXT ? &o->context : NULL;
        long *count = c == O_WARMUP ? &o->warmup : c == O_EPOCHS ? &o->epochs : c == O_STEPS ? &o->steps
                    : c == O_BATCH ? &o->batch : c == O_MICRO ? &o->micro : c == O_EVAL ? &o->eval_every
                    : c == O_CKPT ? &o->checkpoint_every : NULL;
        if (dim) {
            if (!cli_parse_int(cmd, argv[optind - 1], optarg, 1, 1 << 20, &v))
                return false;
            *dim = (int)v;
            continue;
        }
        if (count) {
            long min = c == O_EPOCHS || c == O_BATCH || c == O_MICRO ? 1 : 0;
            if (!cli_parse_int(cmd, argv[optind - 1], optarg, min, 1L << 40, count))
                return false;
            continue;
        }
        switch (c) {
        case O_TOK: o->tokenizer = optarg; break;
        case O_UNTIE: o->untie = true; break;
        case O_STD:
            if (!cli_parse_double(cmd, "--init-std", optarg, 0, 10, &o->init_std))
                return false;
            break;
        case O_LR:
            if (!cli_parse_double(cmd, "--lr", optarg, 0, 1e9, &o->lr))
                return false;
            break;
        case O_BETA2:
            if (!cli_parse_double(cmd, "--beta2", optarg, 0, 0.999999999, &o->beta2))
                return false;
            break;
        case O_WD:
            if (!cli_parse_double(cmd, "--weight-decay", optarg, 0, 1e3, &o->weight_decay))
                return false;
            break;
        case O_CLIP:
            if (!cli_parse_double(cmd, "--clip", optarg, 0, 1e12, &o->clip))
                return false;
            break;
        case O_SEED:
            if (!cli_parse_seed(cmd, optarg, &o->seed))
                return false;
            break;
        case O_FIELD:
            if (o->n_fields == sizeof o->fields / sizeof o->fields[0])
                return cli_usage_error(cmd, "at most %zu --field options", o->n_fields), false;
            o->fields[o->n_fields++] = optarg;
            break;
        case O_VAL:
            if (!cli_parse_double(cmd, "--val-size", optarg, 0, 1e15, &o->val_size))
                return false;
            if (o->val_size >= 1 && o->val_size != floor(o->val_size))
                return cli_usage_error(cmd, "--val-size expects a count or a fraction below 1, got '%s'", optarg),
                       false;
            break;
        case O_DTYPE:
            if (strcmp(optarg, "f32") && strcmp(optarg, "bf16"))
                return cli_usage_error(cmd, "--dtype expects f32 or bf16, got '%s'", optarg), false;
            o->dtype = strcmp(optarg, "f32") ? HP_BF16 : HP_F32;
            break;
        case O_RESUME: o->resume = true; break;
        case 'o': o->out = optarg; break;
        case 'h':
            fputs(HELP, stdout);
            *status = EXIT_OK;
            return false;
        default:
            cli_usage_error(cmd, "invalid option");
            return false;
        }
    }
    if (!o->tokenizer)
        return cli_usage_error(cmd, "--tokenizer PATH is required: it sets the vocabulary"), false;
    if (argc - optind < 1)
        return cli_usage_error(cmd, "at least one CORPUS file is required"), false;
    if (!o->out)
        return cli_usage_error(cmd, "-o DIR (the output directory) is required"), false;
    if (o->kv_heads == 0)
        o->kv_heads = o->heads;
    if (o->intermediate == 0)
        o->intermediate = (8 * o->hidden / 3 + 31) / 32 * 32;
    if (o->hidden % o->heads || (o->hidden / o->heads) % 2 || o->heads % o->kv_heads)
        return cli_usage_error(cmd, "--heads must divide --hidden into an even head size, and --kv-heads divide "
                                    "--heads"), false;
    if (o->micro > o->batch)
        return cli_usage_error(cmd, "--micro-batch %ld is larger than --batch %ld", o->micro, o->batch), false;
    o->corpus = argv + optind;
    o->n_corpus = argc - optind;
    return true;
}

/* ---- the run ---- */

typedef struct run {
    const pretrain_opts *o;
    char tokenizer_json[4200];
    hp_tokenizer *tok;
    pretrain_data d;
    hp_fwd_model *fm;
    float *grads;
    hp_optim opt;
    train_log log;
    train_settings settings;
    size_t *val, *train, n_val, n_train; /* sequence indices: val then train in one array */
    int64_t total, per_epoch;
    hp_fwd_acts *acts;
    hp_bwd_work *work;
    int32_t *tokens, *targets; /* [n_micro * micro * T] */
    hp_train_batch *mb;        /* this rank's micro-batches of the step */
    int *index;                /* [n_micro]: each one's place among the step's micro-batches */
    size_t *order;             /* the epoch order_epoch's order of the training sequences */
    int64_t order_epoch;
    char path[2][4200];        /* checkpoint, log */
} run;

enum { P_CHECKPOINT, P_LOG };

/* The tokenizer.json the output gets: PATH itself or PATH/tokenizer.json. */
static int open_tokenizer(run *r, hp_err *err)
{
    const char *p = r->o->tokenizer;
    struct stat st;
    if (stat(p, &st) != 0)
        return hp_fail(err, "--tokenizer %s: %s", p, strerror(errno));
    snprintf(r->tokenizer_json, sizeof r->tokenizer_json, S_ISDIR(st.st_mode) ? "%s/tokenizer.json" : "%s", p);
    if (!hp_exists(r->tokenizer_json))
        return hp_fail(err, "--tokenizer %s: no tokenizer.json there (the model directory needs one)", p);
    r->tok = hp_tokenizer_load(r->tokenizer_json, err);
    return r->tok ? 0 : -1;
}

static hp_config model_config(const run *r)
{
    const pretrain_opts *o = r->o;
    hp_config c = {.architecture = "LlamaForCausalLM", .model_type = "llama", .forward_supported = true,
                   .hidden_size = o->hidden, .intermediate_size = o->intermediate, .n_layers = o->layers,
                   .n_heads = o->heads, .n_kv_heads = o->kv_heads, .head_dim = o->hidden / o->heads,
                   .vocab_size = (int)hp_tokenizer_vocab_size(r->tok), .max_position_embeddings = o->context,
                   .rms_norm_eps = 1e-5, .rope_theta = 10000.0, .tie_word_embeddings = !o->untie,
                   .bos_token_id = hp_tokenizer_bos(r->tok), .eos_token_id = hp_tokenizer_eos(r->tok)};
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "%s", o->dtype == HP_F32 ? "float32" : "bfloat16");
    return c;
}

/* Weights from N(0, std^2) in block order from one stream; the projections that write
 * into the residual stream (o_proj, down_proj) with std / sqrt(2 layers), as GPT-2 scales
 * them so the residual's variance does not grow with depth; norms 1. */
static void init_weights(run *r)
{
    const pretrain_opts *o = r->o;
    hp_fwd_model *fm = r->fm;
    hp_rng rng;
    hp_rng_seed(&rng, train_stream(o->seed, 0));
    double residual = o->init_std / sqrt(2.0 * o->layers);
    for (size_t i = 0; i < fm->n_tensors; i++) {
        const hp_fwd_tensor *t = &fm->tensors[i];
        float *p = fm->params + t->offset;
        size_t n = (size_t)t->rows * (size_t)(t->cols ? t->cols : 1);
        bool out_proj = strstr(t->name, "o_proj") || strstr(t->name, "down_proj");
        double std = out_proj ? residual : o->init_std;
        for (size_t j = 0; j < n; j++)
            p[j] = t->cols ? (float)(std * hp_rng_normal(&rng)) : 1.0f;
    }
}

static void settings(run *r)
{
    const pretrain_opts *o = r->o;
    const hp_config *c = &r->fm->config;
    train_settings *s = &r->settings;
    train_settings_add(s, "command", "pretrain");
    train_settings_add(s, "model_shape", "%d layers, hidden %d, intermediate %d, heads %d/%d, vocabulary %d%s",
                       c->n_layers, c->hidden_size, c->intermediate_size, c->n_heads, c->n_kv_heads, c->vocab_size,
                       c->tie_word_embeddings ? ", tied" : "");
    train_settings_add(s, "context", "%d", o->context);
    train_settings_add(s, "init_std", "%.12g", o->init_std);
    train_settings_add(s, "optimizer", "adamw");
    train_settings_add(s, "betas", "0.9, %.12g", o->beta2);
    train_settings_add(s, "lr", "%.12g", o->lr);
    train_settings_add(s, "schedule", "cosine");
    train_settings_add(s, "warmup", "%ld", o->warmup);
    train_settings_add(s, "weight_decay", "%.12g", o->weight_decay);
    train_settings_add(s, "clip", "%.12g", o->clip);
    train_settings_add(s, "total_steps", "%lld", (long long)r->total);
    train_settings_add(s, "batch", "%ld", o->batch);
    train_settings_add(s, "micro_batch", "%ld", o->micro);
    train_settings_add(s, "seed", "%llu", o->seed);
    train_settings_add(s, "dtype", "%s", o->dtype == HP_F32 ? "f32" : "bf16");
    train_settings_add(s, "n_documents", "%zu", r->d.n_docs);
    train_settings_add(s, "n_tokens", "%zu", r->d.ids.n);
    train_settings_add(s, "n_train", "%zu", r->n_train);
    train_settings_add(s, "n_val", "%zu", r->n_val);
    train_settings_add(s, "data_digest", "%016llx", (unsigned long long)pretrain_data_digest(&r->d));
}

/* The model, its optimiser and buffers, the split of the sequences. */
static int setup(run *r, hp_err *err)
{
    const pretrain_opts *o = r->o;
    hp_config c = model_config(r);
    hp_fwd_options fo = {.weights = HP_FWD_WEIGHTS_F32, .threads = g_cli.threads};
    if (!(r->fm = hp_fwd_new(&c, &fo, err)))
        return -1;
    init_weights(r);
    size_t n = r->d.n_seq;
    size_t n_val = o->val_size < 1 ? (size_t)floor(o->val_size * (double)n) : (size_t)o->val_size;
    if (n_val >= n)
        return hp_fail(err, "the corpus makes %zu sequences of %d tokens, so --val-size %zu leaves none for training",
                       n, o->context, n_val);
    if (!(r->val = hp_malloc(n * sizeof *r->val, "the sequence list", err)))
        return -1;
    for (size_t i = 0; i < n; i++)
        r->val[i] = i;
    train_shuffle(r->val, n, sizeof *r->val, train_stream(o->seed, 1));
    r->n_val = n_val;
    r->train = r->val + n_val;
    r->n_train = n - n_val;
    r->per_epoch = (int64_t)((r->n_train + (size_t)o->batch - 1) / (size_t)o->batch);
    r->total = o->steps >= 0 ? o->steps : o->epochs * r->per_epoch;
    settings(r);
    hp_optim_options oo;
    hp_optim_options_init(&oo, HP_OPT_ADAMW);
    oo.beta2 = o->beta2;
    int micro = (int)o->micro, n_micro = (int)((o->batch + o->micro - 1) / o->micro), T = o->context;
    size_t per = (size_t)micro * (size_t)T;
    if (hp_optim_init(&r->opt, r->fm->n_params, &oo, err) ||
        !(r->grads = hp_malloc_large(r->fm->n_params * sizeof *r->grads, "the gradients", err)) ||
        !(r->acts = hp_fwd_acts_new(r->fm, micro, T, true, err)) ||
        !(r->work = hp_bwd_work_new(r->fm, micro, T, err)) ||
        !(r->tokens = hp_malloc((size_t)n_micro * per * sizeof *r->tokens, "the token batch", err)) ||
        !(r->targets = hp_malloc((size_t)n_micro * per * sizeof *r->targets, "the target batch", err)) ||
        !(r->mb = hp_malloc((size_t)n_micro * sizeof *r->mb, "the micro-batches", err)) ||
        !(r->index = hp_malloc((size_t)n_micro * sizeof *r->index, "the micro-batches", err)))
        return -1;
    return 0;
}

/* The mean token loss over the validation sequences (no gradient reaches a layer). */
static double validation_loss(void *ctx, hp_err *err)
{
    run *r = ctx;
    int micro = (int)r->o->micro, T = r->o->context, L = r->fm->config.n_layers;
    double nll = 0;
    size_t count = 0;
    for (size_t i = 0; i < r->n_val; i += (size_t)micro) {
        if (!dist_mine(i / (size_t)micro)) /* the micro-batches are split over the ranks */
            continue;
        int B = (int)(r->n_val - i < (size_t)micro ? r->n_val - i : (size_t)micro);
        for (int b = 0; b < B; b++)
            pretrain_data_sequence(&r->d, r->val[i + (size_t)b], r->tokens + (size_t)b * T,
                                   r->targets + (size_t)b * T);
        double loss;
        size_t n;
        if (hp_fwd_run(r->fm, r->acts, NULL, r->tokens, NULL, B, T, NULL, NULL, err) ||
            hp_bwd_loss(r->fm, r->acts, r->tokens, r->targets, NULL, B, T, L, NULL, r->work, &loss, &n, err))
            return NAN;
        nll += loss * (double)n;
        count += n;
    }
    double sums[2] = {nll, (double)count};
    dist_sum_f64(sums, 2);
    return sums[0] / sums[1];
}

/* Writes the checkpoint, the model's weights and the log (each file atomically). */
static int save(void *ctx, int64_t step, hp_err *err)
{
    run *r = ctx;
    const pretrain_opts *o = r->o;
    const char *inputs[64];
    int n_inputs = 0;
    for (int i = 0; i < o->n_corpus && n_inputs < 64; i++)
        inputs[n_inputs++] = o->corpus[i];
    if (train_checkpoint_save(r->path[P_CHECKPOINT], "model", r->fm->params, r->fm->n_params, &r->opt, &r->log,
                              &r->settings, step, err) ||
        hf_write_weights(o->out, r->fm, o->dtype, err))
        return -1;
    int64_t *val = hp_malloc((r->n_val ? r->n_val : 1) * sizeof *val, "the validation sequences", err);
    if (!val)
        return -1;
    for (size_t i = 0; i < r->n_val; i++)
        val[i] = (int64_t)r->val[i];
    int rc = train_log_write(r->path[P_LOG], &r->log, NULL, &r->settings, val, r->n_val,
                             "the validation sequences: their 0-based indices among the corpus's sequences "
                             "(sequence i holds tokens i*context .. i*context + context of the corpus's stream)",
                             inputs, n_inputs, err);
    free(val);
    return rc;
}

/* Fills r->mb with this rank's micro-batches of step `step` (the epoch's order of the
 * training sequences from the seed and the epoch alone; the micro-batches dealt to the
 * ranks in turn); returns the step's micro-batches, *n_mine this rank's. */
static int step_batches(run *r, int64_t step, int64_t *order_epoch, size_t *order, int *n_mine)
{
    const pretrain_opts *o = r->o;
    int64_t epoch = step / r->per_epoch;
    if (*order_epoch != epoch) {
        memcpy(order, r->train, r->n_train * sizeof *order);
        train_shuffle(order, r->n_train, sizeof *order, train_stream(o->seed, 2 + (uint64_t)epoch));
        *order_epoch = epoch;
    }
    size_t first = (size_t)(step % r->per_epoch) * (size_t)o->batch;
    size_t n = r->n_train - first < (size_t)o->batch ? r->n_train - first : (size_t)o->batch;
    int n_micro = 0, m = 0, micro = (int)o->micro, T = o->context;
    for (size_t i = 0; i < n; i += (size_t)micro, n_micro++) {
        if (!dist_mine((size_t)n_micro))
            continue;
        int B = (int)(n - i < (size_t)micro ? n - i : (size_t)micro);
        int32_t *tk = r->tokens + (size_t)m * micro * T, *tg = r->targets + (size_t)m * micro * T;
        for (int b = 0; b < B; b++)
            pretrain_data_sequence(&r->d, order[first + i + (size_t)b], tk + (size_t)b * T, tg + (size_t)b * T);
        r->index[m] = n_micro;
        r->mb[m++] = (hp_train_batch){tk, tg, NULL, B, T};
    }
    *n_mine = m;
    return n_micro;
}

/* One optimiser step (train_loop.step). */
static int step_fn(void *ctx, int64_t step, double *lr, hp_train_stats *st, size_t *tokens, hp_err *err)
{
    run *r = ctx;
    const pretrain_opts *o = r->o;
    int n_mine, n_micro = step_batches(r, step, &r->order_epoch, r->order, &n_mine);
    hp_train_options to = {.weight_decay = o->weight_decay, .clip = o->clip};
    to.lr = *lr = hp_lr_at(HP_SCHEDULE_COSINE, step, r->total, o->warmup, o->lr);
    if (hp_pretrain_accumulate(r->fm, r->acts, r->work, r->grads, r->mb, r->index, n_mine, st, err))
        return -1;
    *tokens = st->n_targets;
    train_step_sum(r->grads, r->fm->n_params, st, tokens);
    return hp_pretrain_apply(r->fm, r->grads, &r->opt, n_micro, &to, st, err);
}

static void run_free(run *r)
{
    free(r->order);
    free(r->index);
    free(r->mb);
    free(r->targets);
    free(r->tokens);
    hp_bwd_work_free(r->work);
    hp_fwd_acts_free(r->acts);
    train_log_free(&r->log);
    hp_optim_free(&r->opt);
    if (r->grads)
        hp_free_large(r->grads, r->fm->n_params * sizeof *r->grads);
    hp_fwd_free(r->fm);
    free(r->val);
    pretrain_data_free(&r->d);
    hp_tokenizer_free(r->tok);
}

/* The unigram entropy of the training targets (nats): the loss of a model that knows only
 * each token's frequency, the bar a trained model must clear. */
static double unigram_entropy(const run *r)
{
    int V = r->fm->config.vocab_size, T = r->o->context;
    double *count = calloc((size_t)V, sizeof *count), n = 0, h = 0;
    if (!count)
        return NAN;
    for (size_t i = 0; i < r->n_train; i++)
        for (int t = 1; t <= T; t++)
            count[r->d.ids.ids[r->train[i] * (size_t)T + (size_t)t]] += 1, n += 1;
    for (int v = 0; v < V; v++)
        if (count[v] > 0)
            h -= count[v] / n * log(count[v] / n);
    free(count);
    return h;
}

static int pretrain(run *r, hp_err *err)
{
    const pretrain_opts *o = r->o;
    snprintf(r->path[P_CHECKPOINT], sizeof r->path[0], "%s/checkpoint.safetensors", o->out);
    snprintf(r->path[P_LOG], sizeof r->path[0], "%s/train_log.h5", o->out);
    if (train_check_resume(o->out, r->path[P_CHECKPOINT], o->resume, err))
        return -1;
    if (open_tokenizer(r, err) ||
        pretrain_data_read(&r->d, r->tok, o->corpus, o->n_corpus, o->fields, o->n_fields, o->context, err) ||
        setup(r, err))
        return -1;
    int64_t start = 0;
    if (o->resume && g_dist.rank == 0 &&
        train_checkpoint_load(r->path[P_CHECKPOINT], "model", r->fm->params, r->fm->n_params, &r->opt, &r->log,
                              &r->settings, &start, err))
        return -1;
    if (train_share_state(&r->settings, r->fm->params, r->fm->n_params, &r->opt, &start, "the model's weights", err))
        return -1;
    hp_config c = model_config(r);
    if (g_dist.rank == 0 && (hp_make_dirs(o->out, err) || hf_write_config(o->out, &c, o->dtype, err) ||
                             hf_copy_tokenizer(r->tokenizer_json, o->out, err)))
        return -1;
    printf("model: %zu parameters (%d layers, hidden %d, intermediate %d, heads %d/%d, vocabulary %d%s)\n",
           r->fm->n_params, c.n_layers, c.hidden_size, c.intermediate_size, c.n_heads, c.n_kv_heads, c.vocab_size,
           c.tie_word_embeddings ? ", tied head" : "");
    printf("data: %zu documents, %zu tokens: %zu training and %zu validation sequences of %d; unigram entropy "
           "%.4f nats\n",
           r->d.n_docs, r->d.ids.n, r->n_train, r->n_val, o->context, unigram_entropy(r));
    printf("steps: %lld (%lld per epoch) of %ld sequences in micro-batches of %ld\n", (long long)r->total,
           (long long)r->per_epoch, o->batch, o->micro);
    train_print_ranks(o->batch, o->micro);
    fflush(stdout);
    train_loop l = {.command = "pretrain", .written = "the checkpoint, model and log", .out = o->out,
                    .files = "config.json, model.safetensors, tokenizer.json, train_log.h5, checkpoint.safetensors",
                    .total = r->total, .eval_every = o->eval_every, .checkpoint_every = o->checkpoint_every,
                    .validate = r->n_val > 0, .log = &r->log, .ctx = r, .step = step_fn,
                    .validation_loss = validation_loss, .save = save};
    if (start > 0)
        printf("resuming after step %lld of %lld\n", (long long)start, (long long)r->total);
    else if (l.validate && train_loop_evaluate(&l, 0, err))
        return -1;
    if (start >= r->total) {
        if (r->total == 0) /* --steps 0: the initial model */
            return g_dist.rank == 0 ? save(r, 0, err) : 0;
        printf("the run in %s is complete\n", o->out);
        return 0;
    }
    r->order_epoch = -1;
    if (!(r->order = hp_malloc(r->n_train * sizeof *r->order, "the sequence order", err)))
        return -1;
    return train_loop_run(&l, start, err);
}

int cmd_pretrain(int argc, char **argv)
{
    pretrain_opts o = {.hidden = 256, .layers = 4, .heads = 4, .context = 256, .dtype = HP_F32, .init_std = 0.02,
                       .lr = 1e-3, .beta2 = 0.95, .weight_decay = 0.1, .clip = 1.0, .val_size = 0.02, .epochs = 1,
                       .steps = -1, .batch = 32, .micro = 8, .warmup = 100, .eval_every = 100,
                       .checkpoint_every = 100, .seed = 42};
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return status;
    hp_err err;
    run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    int rc = pretrain(&r, &err);
    run_free(&r);
    if (rc == 1)
        return 130;
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

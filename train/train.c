/* `hyplora train`: fine-tunes LoRA or HypLoRA adapters on instruction data (docs/training.md).
 * The data are tokenized once, split into training and validation items by the seed, and
 * shuffled per epoch by the seed and the epoch, so the items of any step follow from the
 * seed alone: a resumed run needs only the adapters, the optimiser state and the log. */
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "dist.h"
#include "instruct_data.h"
#include "model_session.h"
#include "train_plan.h"
#include "train_state.h"

static const char *HELP =
    "usage: hyplora train MODEL DATA... -o OUT [options]\n"
    "\n"
    "Fine-tunes adapters on instruction data (JSON arrays or JSONL of items with\n"
    "\"instruction\", optional \"input\" and \"output\"), formatted and tokenized as\n"
    "hyplora loss does, and writes OUT: the adapter as a PEFT directory\n"
    "(adapter_model.safetensors, adapter_config.json), the training log train_log.h5 (/train)\n"
    "and checkpoint.safetensors (adapters, optimiser state and log, for --resume).\n"
    "Under mpirun the ranks share each step's micro-batches (docs/distributed.md).\n"
    "\n"
    "Plan (which modules get which adapter):\n"
    "  --method M            lora, hyplora (the consistent form, default) or hyplora-released\n"
    "                        (the authors' code, docs/hyplora.md)\n"
    "  --hyperbolic-layers L HypLoRA on these layers only (a list: 0,4-7); --method then\n"
    "                        gives its form\n"
    "  --other lora|none     the other adapted layers' method with --hyperbolic-layers (lora)\n"
    "  --layers L            the adapted layers (all)\n"
    "  --targets LIST        the adapted modules of each layer: q,k,v,o,gate,up,down or all\n"
    "                        (q,k,v,up,down, as the paper)\n"
    "  --rank R              the adapters' rank (32)\n"
    "  --alpha A             LoRA modules' alpha: scaling alpha/r (64)\n"
    "  --alpha-hyperbolic A  HypLoRA modules' alpha (128)\n"
    "  --rslora              scaling alpha/sqrt(r)\n"
    "  --curvature K         HypLoRA's initial curvature K (1.0)\n"
    "  --raw-k k             the initial K given as the authors' raw k: K = softplus(k) + 1e-6\n"
    "  --dropout P           dropout on the adapters' input (0.05)\n"
    "  --k-grad-clip C       clip each dk to +-C (0: none; 0.01, as the authors, with\n"
    "                        hyplora-released)\n"
    "  --report REPORT       the plan from the /recommend of an analysis report (hyplora\n"
    "                        analyze: the HypLoRA layers and their initial K); the plan\n"
    "                        options given here override its parts (docs/recommend.md)\n"
    "\n"
    "Optimisation:\n"
    "  --lr LR               peak learning rate (3e-4)\n"
    "  --optimizer NAME      adamw (default) or sgd\n"
    "  --momentum M          SGD's momentum (0)\n"
    "  --weight-decay WD     on A and B (0)\n"
    "  --schedule NAME       linear (default), cosine or constant, after the warmup\n"
    "  --warmup N            warmup steps (100)\n"
    "  --clip C              clip the global gradient norm to C (1.0; 0: none)\n"
    "  --epochs N            passes over the training items (3)\n"
    "  --steps N             optimiser steps instead of --epochs\n"
    "  --batch N             items per optimiser step (16)\n"
    "  --micro-batch N       items per forward and backward pass (4); the step's gradient is\n"
    "                        the mean of its micro-batches' gradients (each of its mean\n"
    "                        token loss)\n"
    "  --seed S              initialisation, data split and order, dropout (42)\n"
    "\n"
    "Data:\n"
    INSTRUCT_HELP
    "  --val-size N          items held out for the validation loss: a count, or a fraction\n"
    "                        below 1 (0)\n"
    "  --eval-every N        validation loss every N steps (200) and at the end\n"
    "  --limit N             the first N items of each file only\n"
    "\n"
    "Run:\n"
    "  -o, --output OUT      the output directory\n"
    "  --checkpoint-every N  write the checkpoint, adapter and log every N steps (100)\n"
    "  --resume              continue the run in OUT from its checkpoint (same options): the\n"
    "                        result equals an uninterrupted run. Ctrl-C writes a checkpoint\n"
    "                        and exits (status 130).\n"
    "  --tokenizer PATH      tokenizer to use instead of the model's own\n"
    "  -h, --help            this text\n"
    "\n"
    "Example:\n"
    "  hyplora train my-model math-train.jsonl --method hyplora --val-size 50 -o runs/math-hyplora\n"
    "  hyplora train my-model math-train.jsonl --hyperbolic-layers 8-15 --other lora -o runs/mixed\n";

typedef struct train_opts {
    const char *model, *tokenizer, *out;
    char **data;
    int n_data;
    hp_instruct_options inst;
    train_plan_options plan;
    hp_optim_options optim;
    hp_schedule schedule;
    double lr, weight_decay, clip, k_grad_clip, val_size;
    long epochs, steps, batch, micro, warmup, eval_every, checkpoint_every, limit;
    unsigned long long seed;
    bool resume;
} train_opts;

static bool parse_options(int argc, char **argv, train_opts *o, int *status)
{
    enum {
        O_METHOD = 256, O_HYPL, O_OTHER, O_LAYERS, O_TARGETS, O_RANK, O_ALPHA, O_ALPHA_H, O_RSLORA, O_CURV, O_RAWK,
        O_DROPOUT, O_KCLIP, O_LR, O_OPT, O_MOM, O_WD, O_SCHED, O_WARMUP, O_CLIP, O_EPOCHS, O_STEPS, O_BATCH, O_MICRO,
        O_SEED, O_VAL, O_EVAL, O_LIMIT, O_CKPT, O_RESUME, O_TOK, O_REPORT,
    };
    static const struct option OPTS[] = {
        {"method", required_argument, NULL, O_METHOD},     {"hyperbolic-layers", required_argument, NULL, O_HYPL},
        {"other", required_argument, NULL, O_OTHER},       {"layers", required_argument, NULL, O_LAYERS},
        {"targets", required_argument, NULL, O_TARGETS},   {"rank", required_argument, NULL, O_RANK},
        {"alpha", required_argument, NULL, O_ALPHA},       {"alpha-hyperbolic", required_argument, NULL, O_ALPHA_H},
        {"rslora", no_argument, NULL, O_RSLORA},           {"curvature", required_argument, NULL, O_CURV},
        {"raw-k", required_argument, NULL, O_RAWK},        {"dropout", required_argument, NULL, O_DROPOUT},
        {"k-grad-clip", required_argument, NULL, O_KCLIP}, {"lr", required_argument, NULL, O_LR},
        {"optimizer", required_argument, NULL, O_OPT},     {"momentum", required_argument, NULL, O_MOM},
        {"weight-decay", required_argument, NULL, O_WD},   {"schedule", required_argument, NULL, O_SCHED},
        {"warmup", required_argument, NULL, O_WARMUP},     {"clip", required_argument, NULL, O_CLIP},
        {"epochs", required_argument, NULL, O_EPOCHS},     {"steps", required_argument, NULL, O_STEPS},
        {"batch", required_argument, NULL, O_BATCH},       {"micro-batch", required_argument, NULL, O_MICRO},
        {"seed", required_argument, NULL, O_SEED},         INSTRUCT_OPTIONS,
        {"val-size", required_argument, NULL, O_VAL},      {"eval-every", required_argument, NULL, O_EVAL},
        {"limit", required_argument, NULL, O_LIMIT},       {"checkpoint-every", required_argument, NULL, O_CKPT},
        {"resume", no_argument, NULL, O_RESUME},           {"tokenizer", required_argument, NULL, O_TOK},
        {"output", required_argument, NULL, 'o'},          {"help", no_argument, NULL, 'h'},
        {"report", required_argument, NULL, O_REPORT},
        {0, 0, 0, 0},
    };
    const char *cmd = "train";
    int c;
    long v;
    double x;
    bool raw_k = false, curvature = false;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "ho:", OPTS, NULL)) != -1) {
        int taken = instruct_option(cmd, c, optarg, &o->inst);
        if (taken < 0)
            return false;
        if (taken)
            continue;
        switch (c) {
        case O_METHOD: o->plan.method = optarg, o->plan.given.method = true; break;
        case O_HYPL: o->plan.hyperbolic_layers = optarg, o->plan.given.hyperbolic_layers = true; break;
        case O_OTHER: o->plan.other = optarg, o->plan.given.other = true; break;
        case O_LAYERS: o->plan.layers = optarg, o->plan.given.layers = true; break;
        case O_REPORT: o->plan.report = optarg; break;
        case O_TARGETS: o->plan.targets = optarg; break;
        case O_RANK:
            if (!cli_parse_int(cmd, "--rank", optarg, 1, 1 << 16, &v))
                return false;
            o->plan.rank = (int)v;
            break;
        case O_ALPHA:
            if (!cli_parse_double(cmd, "--alpha", optarg, 1e-9, 1e9, &o->plan.alpha))
                return false;
            break;
        case O_ALPHA_H:
            if (!cli_parse_double(cmd, "--alpha-hyperbolic", optarg, 1e-9, 1e9, &o->plan.alpha_hyperbolic))
                return false;
            break;
        case O_RSLORA: o->plan.rslora = true; break;
        case O_CURV:
            if (!cli_parse_double(cmd, "--curvature", optarg, 2e-6, 1e6, &o->plan.curvature))
                return false;
            curvature = true;
            break;
        case O_RAWK:
            if (!cli_parse_double(cmd, "--raw-k", optarg, -30, 1e6, &x))
                return false;
            o->plan.curvature = hp_adapter_curvature(x);
            raw_k = true;
            break;
        case O_DROPOUT:
            if (!cli_parse_double(cmd, "--dropout", optarg, 0, 0.99, &o->plan.dropout))
                return false;
            break;
        case O_KCLIP:
            if (!cli_parse_double(cmd, "--k-grad-clip", optarg, 0, 1e9, &o->k_grad_clip))
                return false;
            break;
        case O_LR:
            if (!cli_parse_double(cmd, "--lr", optarg, 0, 1e9, &o->lr))
                return false;
            break;
        case O_OPT:
            if (strcmp(optarg, "adamw") && strcmp(optarg, "sgd"))
                return cli_usage_error(cmd, "--optimizer expects adamw or sgd, got '%s'", optarg), false;
            hp_optim_options_init(&o->optim, strcmp(optarg, "sgd") ? HP_OPT_ADAMW : HP_OPT_SGD);
            break;
        case O_MOM:
            if (!cli_parse_double(cmd, "--momentum", optarg, 0, 0.999999, &o->optim.momentum))
                return false;
            break;
        case O_WD:
            if (!cli_parse_double(cmd, "--weight-decay", optarg, 0, 1e3, &o->weight_decay))
                return false;
            break;
        case O_SCHED:
            if (strcmp(optarg, "linear") == 0)
                o->schedule = HP_SCHEDULE_LINEAR;
            else if (strcmp(optarg, "cosine") == 0)
                o->schedule = HP_SCHEDULE_COSINE;
            else if (strcmp(optarg, "constant") == 0)
                o->schedule = HP_SCHEDULE_CONSTANT;
            else
                return cli_usage_error(cmd, "--schedule expects linear, cosine or constant, got '%s'", optarg), false;
            break;
        case O_WARMUP:
            if (!cli_parse_int(cmd, "--warmup", optarg, 0, 1L << 40, &o->warmup))
                return false;
            break;
        case O_CLIP:
            if (!cli_parse_double(cmd, "--clip", optarg, 0, 1e12, &o->clip))
                return false;
            break;
        case O_EPOCHS:
            if (!cli_parse_int(cmd, "--epochs", optarg, 1, 1 << 20, &o->epochs))
                return false;
            break;
        case O_STEPS:
            if (!cli_parse_int(cmd, "--steps", optarg, 0, 1L << 40, &o->steps))
                return false;
            break;
        case O_BATCH:
            if (!cli_parse_int(cmd, "--batch", optarg, 1, 1 << 20, &o->batch))
                return false;
            break;
        case O_MICRO:
            if (!cli_parse_int(cmd, "--micro-batch", optarg, 1, 4096, &o->micro))
                return false;
            break;
        case O_SEED:
            if (!cli_parse_seed(cmd, optarg, &o->seed))
                return false;
            break;
        case O_VAL:
            if (!cli_parse_double(cmd, "--val-size", optarg, 0, 1e12, &o->val_size))
                return false;
            if (o->val_size >= 1 && o->val_size != floor(o->val_size))
                return cli_usage_error(cmd, "--val-size expects a count or a fraction below 1, got '%s'", optarg),
                       false;
            break;
        case O_EVAL:
            if (!cli_parse_int(cmd, "--eval-every", optarg, 0, 1L << 40, &o->eval_every))
                return false;
            break;
        case O_LIMIT:
            if (!cli_parse_int(cmd, "--limit", optarg, 1, 0x7fffffffL, &o->limit))
                return false;
            break;
        case O_CKPT:
            if (!cli_parse_int(cmd, "--checkpoint-every", optarg, 0, 1L << 40, &o->checkpoint_every))
                return false;
            break;
        case O_RESUME: o->resume = true; break;
        case O_TOK: o->tokenizer = optarg; break;
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
    if (raw_k && curvature)
        return cli_usage_error(cmd, "--curvature and --raw-k both set the initial K: give one"), false;
    o->plan.given.curvature = raw_k || curvature;
    if (argc - optind < 2)
        return cli_usage_error(cmd, "MODEL and at least one DATA file are required"), false;
    if (!o->out)
        return cli_usage_error(cmd, "-o OUT (the output directory) is required"), false;
    if (o->micro > o->batch)
        return cli_usage_error(cmd, "--micro-batch %ld is larger than --batch %ld", o->micro, o->batch), false;
    if (o->k_grad_clip < 0) /* the default: the authors' clip goes with their released form */
        o->k_grad_clip = strcmp(o->plan.method, "hyplora-released") == 0 ? 0.01 : 0;
    o->model = argv[optind];
    o->data = argv + optind + 1;
    o->n_data = argc - optind - 1;
    return true;
}

/* ---- the run ---- */

typedef struct run {
    const train_opts *o;
    model_session s;
    instruct_data d;
    instruct_item **train, **val; /* into d.items */
    size_t n_train, n_val, n_no_target;
    hp_adapter_set set;
    hp_optim opt;
    train_log log;
    train_settings settings;
    int64_t total, per_epoch;
    hp_fwd_acts *acts;
    hp_bwd_work *work;
    int T;                      /* the longest item: acts hold micro x T */
    int32_t *tokens, *targets;  /* [n_micro * micro * T] */
    int *lengths;               /* [n_micro * micro] */
    float *logits;              /* [micro * T * vocab], for the validation loss */
    hp_train_batch *mb;         /* this rank's micro-batches of the step */
    int *index;                 /* [n_micro]: each one's place among the step's micro-batches */
    instruct_item **order;      /* the epoch order_epoch's order of the training items */
    int64_t order_epoch;
    char path[3][4200];         /* checkpoint, log, adapter dir (= out) */
} run;

enum { P_CHECKPOINT, P_LOG, P_OUT };

/* Reads and splits the data: items without a target position (a prompt that fills the
 * cutoff when training on the response only) are left out and counted. */
static int load_data(run *r, hp_err *err)
{
    const train_opts *o = r->o;
    if (instruct_data_read(&r->d, r->s.tok, &o->inst, o->data, o->n_data, o->limit, err))
        return -1;
    instruct_item **all = hp_malloc((r->d.n ? r->d.n : 1) * sizeof *all, "the item list", err);
    if (!all)
        return -1;
    size_t n = 0;
    for (size_t i = 0; i < r->d.n; i++)
        if (r->d.items[i].ex.ids.n > r->d.items[i].ex.first_target)
            all[n++] = &r->d.items[i];
    r->n_no_target = r->d.n - n;
    size_t n_val = o->val_size < 1 ? (size_t)floor(o->val_size * (double)n) : (size_t)o->val_size;
    r->val = all;
    r->train = all + n_val;
    if (n_val >= n) {
        free(all);
        r->val = NULL;
        return hp_fail(err, "the data hold %zu usable items (%zu without any target token within the cutoff), so "
                            "--val-size %zu leaves none for training", n, r->n_no_target, n_val);
    }
    train_shuffle(all, n, sizeof *all, train_stream(o->seed, 1)); /* the split, as train_test_split(seed) shuffles first */
    r->n_val = n_val;
    r->n_train = n - n_val;
    const hp_config *c = &r->s.fm->config;
    r->T = r->d.max_len;
    if (c->max_position_embeddings > 0 && r->T > c->max_position_embeddings)
        return hp_fail(err, "an item has %d tokens but the model's context holds %d: lower --cutoff", r->T,
                       c->max_position_embeddings);
    return 0;
}

/* A digest of the training and validation items, in order: a resumed run must see the same. */
static uint64_t data_digest(const run *r)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < r->n_val + r->n_train; i++) {
        const hp_instruct_example *ex = &r->val[i]->ex;
        h = (h ^ ex->first_target) * 1099511628211ull;
        for (size_t t = 0; t < ex->ids.n; t++)
            h = (h ^ (uint32_t)ex->ids.ids[t]) * 1099511628211ull;
    }
    return h;
}

static void settings(run *r)
{
    const train_opts *o = r->o;
    const hp_config *c = &r->s.fm->config;
    train_settings *s = &r->settings;
    train_settings_add(s, "model_shape", "%d layers, hidden %d, intermediate %d, heads %d/%d, vocabulary %d",
                       c->n_layers, c->hidden_size, c->intermediate_size, c->n_heads, c->n_kv_heads, c->vocab_size);
    train_settings_add(s, "method", "%s", o->plan.method);
    train_settings_add(s, "hyperbolic_layers", "%s", o->plan.hyperbolic_layers ? o->plan.hyperbolic_layers : "all");
    train_settings_add(s, "other", "%s", o->plan.hyperbolic_layers ? o->plan.other : "-");
    train_settings_add(s, "layers", "%s", o->plan.layers);
    train_settings_add(s, "targets", "%s", o->plan.targets);
    train_settings_add(s, "rank", "%d", o->plan.rank);
    train_settings_add(s, "alpha", "%.12g", o->plan.alpha);
    train_settings_add(s, "alpha_hyperbolic", "%.12g", o->plan.alpha_hyperbolic);
    train_settings_add(s, "rslora", "%s", o->plan.rslora ? "true" : "false");
    train_settings_add(s, "initial_curvature", "%.12g", o->plan.curvature);
    train_settings_add(s, "dropout", "%.12g", o->plan.dropout);
    train_settings_add(s, "k_grad_clip", "%.12g", o->k_grad_clip);
    train_settings_add(s, "plan_source", "%s", o->plan.source);
    if (o->plan.report)
        train_settings_add(s, "plan_rule", "%s", o->plan.rule);
    train_settings_add(s, "optimizer", "%s", o->optim.kind == HP_OPT_SGD ? "sgd" : "adamw");
    train_settings_add(s, "momentum", "%.12g", o->optim.kind == HP_OPT_SGD ? o->optim.momentum : 0.0);
    train_settings_add(s, "lr", "%.12g", o->lr);
    train_settings_add(s, "schedule", "%s",
                       o->schedule == HP_SCHEDULE_COSINE ? "cosine"
                       : o->schedule == HP_SCHEDULE_CONSTANT ? "constant" : "linear");
    train_settings_add(s, "warmup", "%ld", o->warmup);
    train_settings_add(s, "weight_decay", "%.12g", o->weight_decay);
    train_settings_add(s, "clip", "%.12g", o->clip);
    train_settings_add(s, "total_steps", "%lld", (long long)r->total);
    train_settings_add(s, "batch", "%ld", o->batch);
    train_settings_add(s, "micro_batch", "%ld", o->micro);
    train_settings_add(s, "seed", "%llu", o->seed);
    train_settings_add(s, "template", "%s", hp_template_name(&o->inst.template_));
    train_settings_add(s, "cutoff", "%d", o->inst.cutoff);
    train_settings_add(s, "train_on_inputs", "%s", o->inst.train_on_inputs ? "true" : "false");
    train_settings_add(s, "n_train", "%zu", r->n_train);
    train_settings_add(s, "n_val", "%zu", r->n_val);
    train_settings_add(s, "n_truncated", "%zu", r->d.n_truncated);
    train_settings_add(s, "data_digest", "%016llx", (unsigned long long)data_digest(r));
}

static int setup(run *r, hp_err *err)
{
    const train_opts *o = r->o;
    hp_adapter_spec *spec;
    size_t n_spec;
    if (train_plan_build(&o->plan, &r->s.fm->config, &spec, &n_spec, err))
        return -1;
    int rc = hp_adapter_set_init(&r->set, &r->s.fm->config, spec, n_spec, o->seed, err);
    free(spec);
    if (rc || hp_optim_init(&r->opt, r->set.n_params, &o->optim, err))
        return -1;
    hp_adapter_set_attach(&r->set, r->s.fm);
    for (size_t i = 0; i < r->set.n; i++)
        r->log.n_hyp += r->set.a[i].k != NULL;
    r->per_epoch = (int64_t)((r->n_train + (size_t)o->batch - 1) / (size_t)o->batch);
    r->total = o->steps >= 0 ? o->steps : o->epochs * r->per_epoch;
    settings(r);
    int micro = (int)o->micro, n_micro = (int)((o->batch + o->micro - 1) / o->micro), V = r->s.fm->config.vocab_size;
    size_t per = (size_t)micro * (size_t)r->T;
    if (!(r->acts = hp_fwd_acts_new(r->s.fm, micro, r->T, true, err)) ||
        !(r->work = hp_bwd_work_new(r->s.fm, micro, r->T, err)) ||
        !(r->tokens = hp_malloc((size_t)n_micro * per * sizeof *r->tokens, "the token batch", err)) ||
        !(r->targets = hp_malloc((size_t)n_micro * per * sizeof *r->targets, "the target batch", err)) ||
        !(r->lengths = hp_malloc((size_t)n_micro * micro * sizeof *r->lengths, "the lengths", err)) ||
        !(r->mb = hp_malloc((size_t)n_micro * sizeof *r->mb, "the micro-batches", err)) ||
        !(r->index = hp_malloc((size_t)n_micro * sizeof *r->index, "the micro-batches", err)) ||
        (r->n_val && !(r->logits = hp_malloc(per * (size_t)V * sizeof *r->logits, "the validation logits", err))))
        return -1;
    return 0;
}

static double validation_loss(void *ctx, hp_err *err)
{
    run *r = ctx;
    int micro = (int)r->o->micro;
    double nll = 0;
    size_t count = 0;
    for (size_t i = 0; i < r->n_val; i += (size_t)micro) {
        if (!dist_mine(i / (size_t)micro)) /* the micro-batches are split over the ranks */
            continue;
        int B = (int)(r->n_val - i < (size_t)micro ? r->n_val - i : (size_t)micro);
        for (int b = 0; b < B; b++)
            r->val[i + b]->nll = 0, r->val[i + b]->targets = 0;
        if (instruct_nll(r->s.fm, r->acts, r->val + i, B, r->tokens, r->lengths, r->logits, err))
            return NAN;
        for (int b = 0; b < B; b++)
            nll += r->val[i + b]->nll, count += r->val[i + b]->targets;
    }
    double sums[2] = {nll, (double)count};
    dist_sum_f64(sums, 2);
    return sums[0] / sums[1];
}

/* Writes the checkpoint, the adapter and the log (each file atomically). */
static int save(void *ctx, int64_t step, hp_err *err)
{
    run *r = ctx;
    const train_opts *o = r->o;
    const char *inputs[64];
    int n_inputs = 0;
    for (int i = 0; i < o->n_data && n_inputs < 64; i++)
        inputs[n_inputs++] = o->data[i];
    if (train_checkpoint_save(r->path[P_CHECKPOINT], "adapters", r->set.params, r->set.n_params, &r->opt, &r->log,
                              &r->settings, step, err))
        return -1;
    if (hp_adapter_set_save(&r->set, r->path[P_OUT], o->model, o->k_grad_clip, o->plan.source, err))
        return -1;
    int64_t *val_items = hp_malloc((r->n_val ? r->n_val : 1) * sizeof *val_items, "the validation items", err);
    if (!val_items)
        return -1;
    for (size_t i = 0; i < r->n_val; i++)
        val_items[i] = r->val[i] - r->d.items;
    int rc = train_log_write(r->path[P_LOG], &r->log, &r->set, &r->settings, val_items, r->n_val,
                             "the validation items: their 0-based indices among the items of the data files, read "
                             "in the order given", inputs, n_inputs, err);
    free(val_items);
    return rc;
}

/* Fills r->mb with this rank's micro-batches of step `step`: the epoch's order of the
 * training items (the split's order shuffled by the seed and the epoch alone, so a resumed
 * run finds it from the step) cut into batches, the last batch of an epoch possibly
 * smaller, each batch into micro-batches, and those dealt to the ranks in turn, so the step
 * is the same at any rank count. Returns the step's micro-batches, *n_mine this rank's;
 * *tokens gets the non-padding positions of this rank's. */
static int step_batches(run *r, int64_t step, int64_t *order_epoch, instruct_item **order, int *n_mine,
                        size_t *tokens)
{
    const train_opts *o = r->o;
    int64_t epoch = step / r->per_epoch;
    if (*order_epoch != epoch) {
        memcpy(order, r->train, r->n_train * sizeof *order);
        train_shuffle(order, r->n_train, sizeof *order, train_stream(o->seed, 2 + (uint64_t)epoch));
        *order_epoch = epoch;
    }
    size_t first = (size_t)(step % r->per_epoch) * (size_t)o->batch;
    size_t n = r->n_train - first < (size_t)o->batch ? r->n_train - first : (size_t)o->batch;
    int n_micro = 0, m = 0, micro = (int)o->micro;
    size_t per = (size_t)micro * (size_t)r->T;
    *tokens = 0;
    for (size_t i = 0; i < n; i += (size_t)micro, n_micro++) {
        if (!dist_mine((size_t)n_micro))
            continue;
        int B = (int)(n - i < (size_t)micro ? n - i : (size_t)micro);
        int32_t *tk = r->tokens + (size_t)m * per, *tg = r->targets + (size_t)m * per;
        int *len = r->lengths + (size_t)m * micro;
        int T = instruct_batch(order + first + i, B, tk, tg, len);
        r->index[m] = n_micro;
        r->mb[m++] = (hp_train_batch){tk, tg, len, B, T};
        for (int b = 0; b < B; b++)
            *tokens += (size_t)len[b];
    }
    *n_mine = m;
    return n_micro;
}

static void print_plan(const run *r)
{
    const train_opts *o = r->o;
    size_t n_hyp = (size_t)r->log.n_hyp;
    printf("plan: %zu adapters (%zu HypLoRA, %zu LoRA), rank %d, %zu trainable parameters\n", r->set.n, n_hyp,
           r->set.n - n_hyp, o->plan.rank, r->set.n_params);
    if (o->plan.report)
        printf("plan from %s: HypLoRA on layers %s with initial K %.6g\n", o->plan.source,
               n_hyp == 0 ? "(none)" : o->plan.hyperbolic_layers ? o->plan.hyperbolic_layers : o->plan.layers,
               o->plan.curvature);
    printf("data: %zu training items, %zu validation items", r->n_train, r->n_val);
    if (r->d.n_truncated)
        printf(", %zu cut at %d tokens", r->d.n_truncated, o->inst.cutoff);
    if (r->n_no_target)
        printf(", %zu left out (no target token within the cutoff)", r->n_no_target);
    printf("\nsteps: %lld (%lld per epoch) of %ld items in micro-batches of %ld\n", (long long)r->total,
           (long long)r->per_epoch, o->batch, o->micro);
    train_print_ranks(o->batch, o->micro);
    fflush(stdout);
}

/* One optimiser step (train_loop.step): the step's micro-batches, its dropout stream. */
static int step_fn(void *ctx, int64_t step, double *lr, hp_train_stats *st, size_t *tokens, hp_err *err)
{
    run *r = ctx;
    const train_opts *o = r->o;
    int n_mine, n_micro = step_batches(r, step, &r->order_epoch, r->order, &n_mine, tokens);
    hp_train_options to = {.weight_decay = o->weight_decay, .clip = o->clip, .k_grad_clip = o->k_grad_clip};
    to.lr = *lr = hp_lr_at(o->schedule, step, r->total, o->warmup, o->lr);
    uint64_t step_seed = train_stream(o->seed, (1ull << 40) + (uint64_t)step); /* the step's dropout masks */
    if (hp_train_accumulate(r->s.fm, r->acts, r->work, &r->set, r->mb, r->index, n_mine, step_seed, st, err))
        return -1;
    train_step_sum(r->set.grads, r->set.n_params, st, tokens);
    return hp_train_apply(&r->set, &r->opt, n_micro, &to, st, err);
}

static void run_free(run *r)
{
    free(r->order);
    free(r->index);
    free(r->mb);
    free(r->logits);
    free(r->lengths);
    free(r->targets);
    free(r->tokens);
    hp_bwd_work_free(r->work);
    hp_fwd_acts_free(r->acts);
    train_log_free(&r->log);
    hp_optim_free(&r->opt);
    if (r->s.fm)
        hp_adapter_set_detach(&r->set, r->s.fm);
    hp_adapter_set_free(&r->set);
    free(r->val);
    instruct_data_free(&r->d);
    model_session_close(&r->s);
}

/* Opens everything, then trains from the start or from the checkpoint. */
static int train(run *r, train_opts *o, hp_err *err)
{
    snprintf(r->path[P_CHECKPOINT], sizeof r->path[0], "%s/checkpoint.safetensors", o->out);
    snprintf(r->path[P_LOG], sizeof r->path[0], "%s/train_log.h5", o->out);
    snprintf(r->path[P_OUT], sizeof r->path[0], "%s", o->out);
    if (train_check_resume(o->out, r->path[P_CHECKPOINT], o->resume, err))
        return -1;
    /* the backward pass needs the weights in float32 */
    if (model_session_open(&r->s, o->model, o->tokenizer, HP_FWD_WEIGHTS_F32, true, err) ||
        train_plan_from_report(&o->plan, r->s.fm->config.n_layers, err) || load_data(r, err) || setup(r, err))
        return -1;
    int64_t start = 0;
    if (o->resume && g_dist.rank == 0 &&
        train_checkpoint_load(r->path[P_CHECKPOINT], "adapters", r->set.params, r->set.n_params, &r->opt, &r->log,
                              &r->settings, &start, err))
        return -1;
    if (train_share_state(&r->settings, r->set.params, r->set.n_params, &r->opt, &start, "the adapters", err) ||
        (g_dist.rank == 0 && hp_make_dirs(o->out, err)))
        return -1;
    print_plan(r);
    if (start > 0)
        printf("resuming after step %lld of %lld\n", (long long)start, (long long)r->total);
    if (start >= r->total) {
        if (r->total == 0) /* --steps 0: the initial adapter */
            return g_dist.rank == 0 ? save(r, 0, err) : 0;
        printf("the run in %s is complete\n", o->out);
        return 0;
    }
    train_loop l = {.command = "train", .written = "the checkpoint, adapter and log", .out = o->out,
                    .files = "adapter_model.safetensors, adapter_config.json, train_log.h5, checkpoint.safetensors",
                    .total = r->total, .eval_every = o->eval_every, .checkpoint_every = o->checkpoint_every,
                    .validate = r->n_val > 0, .log = &r->log, .set = &r->set, .ctx = r, .step = step_fn,
                    .validation_loss = validation_loss, .save = save};
    r->order_epoch = -1;
    if (!(r->order = hp_malloc((r->n_train ? r->n_train : 1) * sizeof *r->order, "the item order", err)))
        return -1;
    return train_loop_run(&l, start, err);
}

int cmd_train(int argc, char **argv)
{
    train_opts o = {.lr = 3e-4, .clip = 1.0, .k_grad_clip = -1, .epochs = 3, .steps = -1, .batch = 16, .micro = 4,
                    .warmup = 100, .eval_every = 200, .checkpoint_every = 100, .seed = 42, .schedule = HP_SCHEDULE_LINEAR};
    hp_instruct_options_init(&o.inst);
    train_plan_options_init(&o.plan);
    hp_optim_options_init(&o.optim, HP_OPT_ADAMW);
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return hp_template_free(&o.inst.template_), status;
    hp_err err;
    run r;
    memset(&r, 0, sizeof r);
    r.o = &o;
    int rc = train(&r, &o, &err);
    run_free(&r);
    hp_template_free(&o.inst.template_);
    if (rc == 1)
        return 130;
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

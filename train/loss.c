/* `hyplora loss`: the mean token cross-entropy of a model on instruction data, with the
 * prompt template, cutoff and label masking the trainer uses (hyplora/instruct.h), so its
 * number and the training log's validation loss mean the same thing. */
#include <cjson/cJSON.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/json_stream.h"
#include "model_session.h"

static const char *HELP =
    "usage: hyplora loss MODEL DATA... [options]\n"
    "\n"
    "Mean cross-entropy (natural log, per token) of the model on instruction data: JSON\n"
    "arrays or JSONL of items with \"instruction\", optional \"input\" and \"output\". Each item\n"
    "is formatted with the prompt template, tokenized with BOS (and EOS appended, as\n"
    "LLM-Adapters does), cut to --cutoff tokens; every token after the first is predicted\n"
    "from the ones before it. By default the prompt's tokens count as well as the\n"
    "response's, as the paper trains; --no-train-on-inputs counts the response only. The\n"
    "mean is over all counted tokens of all items; --json adds each item's own mean.\n"
    "\n"
    "Options:\n"
    "  --template NAME       alpaca (default) or llm-adapters (docs/instruction-data.md)\n"
    "  --cutoff N            tokens per item at most (256)\n"
    "  --no-train-on-inputs  count the response tokens only\n"
    "  --batch N             items per forward pass (4)\n"
    "  --limit N             the first N items of each file only\n"
    "  --json                print a JSON object: the mean, counts and every item's loss\n"
    "  --adapter DIR         a LoRA or HypLoRA adapter (PEFT directory, as hyplora train\n"
    "                        writes) on the model\n" MODEL_SESSION_HELP
    "  -h, --help            this text\n"
    "\n"
    "Example:\n"
    "  hyplora loss my-model notebooks-data/datasets/mawps/test.json --no-train-on-inputs\n";

typedef struct loss_opts {
    const char *model, *tokenizer, *adapter;
    char **data;
    int n_data;
    hp_instruct_options inst;
    long batch, limit;
    bool json;
    hp_fwd_weights weights;
} loss_opts;

static bool parse_options(int argc, char **argv, loss_opts *o, int *status)
{
    enum { O_TEMPLATE = 256, O_CUTOFF, O_NOTOI, O_BATCH, O_LIMIT, O_JSON, O_TOK, O_W, O_ADAPTER };
    static const struct option OPTS[] = {
        {"template", required_argument, NULL, O_TEMPLATE}, {"cutoff", required_argument, NULL, O_CUTOFF},
        {"no-train-on-inputs", no_argument, NULL, O_NOTOI}, {"batch", required_argument, NULL, O_BATCH},
        {"limit", required_argument, NULL, O_LIMIT},       {"json", no_argument, NULL, O_JSON},
        {"tokenizer", required_argument, NULL, O_TOK},     {"weights", required_argument, NULL, O_W},
        {"adapter", required_argument, NULL, O_ADAPTER},   {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "loss";
    int c;
    long v;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        switch (c) {
        case O_TEMPLATE:
            if (hp_template_from_name(optarg, &o->inst.template_))
                return cli_usage_error(cmd, "--template expects alpaca or llm-adapters, got '%s'", optarg), false;
            break;
        case O_CUTOFF:
            if (!cli_parse_int(cmd, "--cutoff", optarg, 2, 1 << 20, &v))
                return false;
            o->inst.cutoff = (int)v;
            break;
        case O_NOTOI: o->inst.train_on_inputs = false; break;
        case O_BATCH:
            if (!cli_parse_int(cmd, "--batch", optarg, 1, 4096, &o->batch))
                return false;
            break;
        case O_LIMIT:
            if (!cli_parse_int(cmd, "--limit", optarg, 1, 0x7fffffffL, &o->limit))
                return false;
            break;
        case O_JSON: o->json = true; break;
        case O_TOK: o->tokenizer = optarg; break;
        case O_ADAPTER: o->adapter = optarg; break;
        case O_W:
            if (!model_session_weights(cmd, optarg, &o->weights))
                return false;
            break;
        case 'h':
            fputs(HELP, stdout);
            *status = EXIT_OK;
            return false;
        default:
            cli_usage_error(cmd, "invalid option");
            return false;
        }
    }
    if (argc - optind < 2)
        return cli_usage_error(cmd, "MODEL and at least one DATA file are required"), false;
    o->model = argv[optind];
    o->data = argv + optind + 1;
    o->n_data = argc - optind - 1;
    return true;
}

typedef struct item {
    hp_instruct_example ex;
    double nll;      /* summed over the item's targets */
    size_t targets;
} item;

typedef struct reader {
    const loss_opts *o;
    const hp_tokenizer *tok;
    const char *path;
    item *items;
    size_t n, cap;
} reader;

/* input may be absent or null (no input section); the other two fields are required. */
static int on_item(const cJSON *j, size_t index, void *ctx, hp_err *err)
{
    reader *r = ctx;
    if (r->o->limit && index >= (size_t)r->o->limit)
        return 1;
    const char *instruction = hp_json_field_str(j, "instruction", err);
    const char *output = instruction ? hp_json_field_str(j, "output", err) : NULL;
    if (!output)
        return -1;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    if (in && !cJSON_IsNull(in) && !cJSON_IsString(in))
        return hp_fail(err, "field \"input\" is not a string");
    if (hp_grow((void **)&r->items, &r->cap, r->n + 1, sizeof *r->items, "the items", err))
        return -1;
    item *it = &r->items[r->n];
    memset(it, 0, sizeof *it);
    if (hp_instruct_tokenize(r->tok, &r->o->inst, instruction, cJSON_IsString(in) ? in->valuestring : NULL, output,
                             &it->ex, err)) {
        hp_ids_free(&it->ex.ids);
        return -1;
    }
    r->n++;
    return 0;
}

/* Runs items [i0, i1) as one padded batch and adds each item's target NLLs. */
static int run_batch(const hp_fwd_model *fm, hp_fwd_acts *acts, item *items, size_t i0, size_t i1, int32_t *tokens,
                     int *lengths, float *logits, hp_err *err)
{
    int B = (int)(i1 - i0), T = 0, V = fm->config.vocab_size;
    for (int b = 0; b < B; b++)
        if ((int)items[i0 + b].ex.ids.n > T)
            T = (int)items[i0 + b].ex.ids.n;
    for (int b = 0; b < B; b++) {
        const hp_ids *ids = &items[i0 + b].ex.ids;
        lengths[b] = (int)ids->n;
        for (int t = 0; t < T; t++)
            tokens[(size_t)b * T + t] = t < (int)ids->n ? ids->ids[t] : 0;
    }
    if (hp_fwd_run(fm, acts, NULL, tokens, lengths, B, T, logits, NULL, err))
        return -1;
    for (int b = 0; b < B; b++) {
        item *it = &items[i0 + b];
        for (size_t t = it->ex.first_target; t < it->ex.ids.n; t++) {
            it->nll += hp_fwd_nll(logits + ((size_t)b * T + t - 1) * V, V, it->ex.ids.ids[t]);
            it->targets++;
        }
    }
    return 0;
}

static void print_result(const loss_opts *o, const item *items, size_t n)
{
    double nll = 0;
    size_t targets = 0, truncated = 0;
    for (size_t i = 0; i < n; i++) {
        nll += items[i].nll;
        targets += items[i].targets;
        truncated += items[i].ex.truncated;
    }
    double mean = targets ? nll / (double)targets : NAN;
    if (!o->json) {
        printf("mean loss %.6f (perplexity %.4g) over %zu tokens of %zu items\n", mean, exp(mean), targets, n);
        printf("template %s, cutoff %d (%zu items cut), %s\n", hp_template_name(o->inst.template_), o->inst.cutoff,
               truncated, o->inst.train_on_inputs ? "prompt and response tokens" : "response tokens only");
        return;
    }
    printf("{\"template\": \"%s\", \"cutoff\": %d, \"train_on_inputs\": %s, ", hp_template_name(o->inst.template_),
           o->inst.cutoff, o->inst.train_on_inputs ? "true" : "false");
    if (targets)
        printf("\"mean_loss\": %.17g, ", mean);
    else
        printf("\"mean_loss\": null, ");
    printf("\"n_tokens\": %zu, \"n_items\": %zu, \"items\": [", targets, n);
    for (size_t i = 0; i < n; i++) {
        printf("%s{\"n_tokens\": %zu, \"truncated\": %s, \"loss\": ", i ? ", " : "", items[i].targets,
               items[i].ex.truncated ? "true" : "false");
        if (items[i].targets)
            printf("%.17g}", items[i].nll / (double)items[i].targets);
        else
            printf("null}");
    }
    printf("]}\n");
}

static int evaluate(const loss_opts *o, const model_session *s, reader *r, hp_err *err)
{
    for (int f = 0; f < o->n_data; f++) {
        r->path = o->data[f];
        if (hp_json_each(o->data[f], on_item, r, err))
            return -1;
    }
    if (r->n == 0)
        return hp_fail(err, "the data files hold no items");
    int B = (int)(o->batch < (long)r->n ? o->batch : (long)r->n), T = 0, V = s->fm->config.vocab_size;
    for (size_t i = 0; i < r->n; i++)
        if ((int)r->items[i].ex.ids.n > T)
            T = (int)r->items[i].ex.ids.n;
    if (s->fm->config.max_position_embeddings > 0 && T > s->fm->config.max_position_embeddings)
        return hp_fail(err, "an item has %d tokens but the model's context holds %d: lower --cutoff", T,
                       s->fm->config.max_position_embeddings);
    hp_fwd_acts *acts = hp_fwd_acts_new(s->fm, B, T, false, err);
    int32_t *tokens = acts ? hp_malloc((size_t)B * T * sizeof *tokens, "the token batch", err) : NULL;
    int *lengths = tokens ? hp_malloc((size_t)B * sizeof *lengths, "the lengths", err) : NULL;
    float *logits = lengths ? hp_malloc((size_t)B * T * V * sizeof *logits, "the logits", err) : NULL;
    int rc = logits ? 0 : -1;
    cli_progress p;
    hp_progress *prog = cli_progress_begin(&p, "loss");
    for (size_t i = 0; rc == 0 && i < r->n; i += (size_t)B) {
        size_t end = i + (size_t)B < r->n ? i + (size_t)B : r->n;
        rc = run_batch(s->fm, acts, r->items, i, end, tokens, lengths, logits, err);
        hp_progress_update(prog, end, r->n);
    }
    cli_progress_end(&p);
    if (rc == 0)
        print_result(o, r->items, r->n);
    free(logits);
    free(lengths);
    free(tokens);
    hp_fwd_acts_free(acts);
    return rc;
}

int cmd_loss(int argc, char **argv)
{
    loss_opts o = {.batch = 4, .weights = HP_FWD_WEIGHTS_AUTO};
    hp_instruct_options_init(&o.inst);
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return status;
    hp_err err;
    model_session s;
    reader r = {.o = &o};
    int rc = model_session_open(&s, o.model, o.tokenizer, o.weights, true, &err);
    if (rc == 0 && o.adapter)
        rc = model_session_adapter(&s, o.adapter, &err);
    r.tok = s.tok;
    if (rc == 0)
        rc = evaluate(&o, &s, &r, &err);
    for (size_t i = 0; i < r.n; i++)
        hp_ids_free(&r.items[i].ex.ids);
    free(r.items);
    model_session_close(&s);
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

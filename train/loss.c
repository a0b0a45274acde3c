/* `hyplora loss`: the mean token cross-entropy of a model on instruction data, with the
 * prompt template, cutoff and label masking the trainer uses (hyplora/instruct.h), so its
 * number and the training log's validation loss mean the same thing. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "instruct_data.h"
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
    INSTRUCT_HELP
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
    enum { O_BATCH = 256, O_LIMIT, O_JSON, O_TOK, O_W, O_ADAPTER };
    static const struct option OPTS[] = {
        INSTRUCT_OPTIONS,                                  {"batch", required_argument, NULL, O_BATCH},
        {"limit", required_argument, NULL, O_LIMIT},       {"json", no_argument, NULL, O_JSON},
        {"tokenizer", required_argument, NULL, O_TOK},     {"weights", required_argument, NULL, O_W},
        {"adapter", required_argument, NULL, O_ADAPTER},   {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "loss";
    int c;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        int taken = instruct_option(cmd, c, optarg, &o->inst);
        if (taken < 0)
            return false;
        if (taken)
            continue;
        switch (c) {
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

static void print_result(const loss_opts *o, const instruct_item *items, size_t n)
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
        printf("template %s, cutoff %d (%zu items cut), %s\n", hp_template_name(&o->inst.template_), o->inst.cutoff,
               truncated, o->inst.train_on_inputs ? "prompt and response tokens" : "response tokens only");
        return;
    }
    printf("{\"template\": \"%s\", \"cutoff\": %d, \"train_on_inputs\": %s, ", hp_template_name(&o->inst.template_),
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

static int evaluate(const loss_opts *o, const model_session *s, hp_err *err)
{
    instruct_data d;
    if (instruct_data_read(&d, s->tok, &o->inst, o->data, o->n_data, o->limit, err))
        return instruct_data_free(&d), -1;
    if (d.n == 0)
        return instruct_data_free(&d), hp_fail(err, "the data files hold no items");
    int B = (int)(o->batch < (long)d.n ? o->batch : (long)d.n), T = d.max_len, V = s->fm->config.vocab_size;
    if (s->fm->config.max_position_embeddings > 0 && T > s->fm->config.max_position_embeddings) {
        instruct_data_free(&d);
        return hp_fail(err, "an item has %d tokens but the model's context holds %d: lower --cutoff", T,
                       s->fm->config.max_position_embeddings);
    }
    hp_fwd_acts *acts = hp_fwd_acts_new(s->fm, B, T, false, err);
    int32_t *tokens = acts ? hp_malloc((size_t)B * T * sizeof *tokens, "the token batch", err) : NULL;
    int *lengths = tokens ? hp_malloc((size_t)B * sizeof *lengths, "the lengths", err) : NULL;
    float *logits = lengths ? hp_malloc((size_t)B * T * V * sizeof *logits, "the logits", err) : NULL;
    instruct_item **batch = logits ? hp_malloc((size_t)B * sizeof *batch, "the batch", err) : NULL;
    int rc = batch ? 0 : -1;
    cli_progress p;
    hp_progress *prog = cli_progress_begin(&p, "loss");
    for (size_t i = 0; rc == 0 && i < d.n; i += (size_t)B) {
        size_t end = i + (size_t)B < d.n ? i + (size_t)B : d.n;
        for (size_t j = i; j < end; j++)
            batch[j - i] = &d.items[j];
        rc = instruct_nll(s->fm, acts, batch, (int)(end - i), tokens, lengths, logits, err);
        hp_progress_update(prog, end, d.n);
    }
    cli_progress_end(&p);
    if (rc == 0)
        print_result(o, d.items, d.n);
    free(batch);
    free(logits);
    free(lengths);
    free(tokens);
    hp_fwd_acts_free(acts);
    instruct_data_free(&d);
    return rc;
}

int cmd_loss(int argc, char **argv)
{
    loss_opts o = {.batch = 4, .weights = HP_FWD_WEIGHTS_AUTO};
    hp_instruct_options_init(&o.inst);
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return hp_template_free(&o.inst.template_), status;
    hp_err err;
    model_session s;
    int rc = model_session_open(&s, o.model, o.tokenizer, o.weights, true, &err);
    if (rc == 0 && o.adapter)
        rc = model_session_adapter(&s, o.adapter, &err);
    if (rc == 0)
        rc = evaluate(&o, &s, &err);
    model_session_close(&s);
    hp_template_free(&o.inst.template_);
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

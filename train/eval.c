/* `hyplora eval`: accuracy of a model (with an adapter) on the paper's benchmarks. Each
 * item's prompt is decoded (eval_decode.h), the answer taken from the output as the paper
 * does (hyplora/answer.h) and compared with the label (eval_sets.h). Outputs go to
 * OUT.partial as they come, so an interrupted run continues where it stopped.
 *
 * Under mpirun the items still to run are dealt to the ranks in turn; each rank decodes its
 * own and sends every output to rank 0 as it is made (dist_put), where it is scored and
 * saved like one of rank 0's, so OUT.partial and the results are those of one process. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "dist.h"
#include "eval_decode.h"
#include "eval_sets.h"
#include "model_session.h"
#include "train_state.h"

static const char *HELP =
    "usage: hyplora eval MODEL DATA... -o RESULTS [options]\n"
    "       hyplora eval --predictions FILE DATA... -o RESULTS [options]\n"
    "\n"
    "Accuracy on benchmark data sets (JSON array or JSONL of items with \"instruction\",\n"
    "optional \"input\", and the label \"answer\"), as the paper measures it: each item's\n"
    "prompt (the template around its instruction) is continued greedily (or by beam\n"
    "search) until the end-of-sequence token or --max-new tokens, and the answer is taken\n"
    "from the output by the data set's task (docs/eval.md):\n"
    "  number  the last number (GSM8K, SVAMP, MAWPS, AddSub, MultiArith, SingleEq), right\n"
    "          within 0.001 of the label\n"
    "  letter  the option letter A-E (AQuA, MathQA), \\boxed{} and \"answer is\" first\n"
    "  option  the first option word of the labels' family: true/false, solutionN,\n"
    "          answerN, optionN (BoolQ, PIQA, SIQA, WinoGrande, ARC, OpenBookQA)\n"
    "Prints the accuracy per data set, weighted by items over all and the mean of the data\n"
    "sets; RESULTS (JSON) keeps them and every item's output and prediction. Outputs are\n"
    "saved to RESULTS.partial as they are made: run the same command again after an\n"
    "interruption (Ctrl-C: exit status 130) and it goes on from there. Under mpirun the\n"
    "ranks share the items (docs/distributed.md).\n"
    "\n"
    "Options:\n"
    "  -o, --output FILE   the results file (JSON)\n"
    "  --task KIND         auto (default: from each data set's labels), number, letter or\n"
    "                      option\n"
    "  --max-new N         tokens generated at most per item (256)\n"
    "  --beams N           beam search with N beams (1: greedy; the paper used 4)\n"
    "  --batch N           items decoded together, greedy (8)\n"
    "  --limit N           the first N items of each data set only\n"
    "  --template NAME     alpaca (default), llm-adapters or a JSON template file\n"
    "  --adapter DIR       a LoRA or HypLoRA adapter (PEFT directory) on the model\n"
    "  --predictions FILE  score these outputs instead of running a model: a results file\n"
    "                      of hyplora eval, or a JSON array / JSONL of {\"output\": ...} in\n"
    "                      the order of the items (or with \"dataset\" and \"index\")\n" MODEL_SESSION_HELP
    "  -h, --help          this text\n"
    "\n"
    "Example:\n"
    "  hyplora eval my-model notebooks-data/datasets/mawps/test.json \\\n"
    "      notebooks-data/datasets/SVAMP/test.json --adapter my-adapter -o results.json\n";

typedef struct eval_opts {
    const char *model, *tokenizer, *adapter, *out, *predictions;
    char **data;
    int n_data;
    hp_task task;
    long max_new, beams, batch, limit;
    hp_template template_;
    hp_fwd_weights weights;
} eval_opts;

static bool parse_options(int argc, char **argv, eval_opts *o, int *status)
{
    enum { O_TASK = 256, O_MAXNEW, O_BEAMS, O_BATCH, O_LIMIT, O_TEMPLATE, O_ADAPTER, O_PRED, O_TOK, O_W };
    static const struct option OPTS[] = {
        {"output", required_argument, NULL, 'o'},          {"task", required_argument, NULL, O_TASK},
        {"max-new", required_argument, NULL, O_MAXNEW},    {"beams", required_argument, NULL, O_BEAMS},
        {"batch", required_argument, NULL, O_BATCH},       {"limit", required_argument, NULL, O_LIMIT},
        {"template", required_argument, NULL, O_TEMPLATE}, {"adapter", required_argument, NULL, O_ADAPTER},
        {"predictions", required_argument, NULL, O_PRED},  {"tokenizer", required_argument, NULL, O_TOK},
        {"weights", required_argument, NULL, O_W},         {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "eval";
    int c;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "ho:", OPTS, NULL)) != -1) {
        switch (c) {
        case 'o': o->out = optarg; break;
        case O_TASK:
            if (hp_task_parse(optarg, &o->task))
                return cli_usage_error(cmd, "--task expects auto, number, letter or option, got '%s'", optarg), false;
            break;
        case O_MAXNEW:
            if (!cli_parse_int(cmd, "--max-new", optarg, 0, 1 << 20, &o->max_new))
                return false;
            break;
        case O_BEAMS:
            if (!cli_parse_int(cmd, "--beams", optarg, 1, 64, &o->beams))
                return false;
            break;
        case O_BATCH:
            if (!cli_parse_int(cmd, "--batch", optarg, 1, 4096, &o->batch))
                return false;
            break;
        case O_LIMIT:
            if (!cli_parse_int(cmd, "--limit", optarg, 1, 0x7fffffffL, &o->limit))
                return false;
            break;
        case O_TEMPLATE:
            if (!cli_template(cmd, optarg, &o->template_))
                return false;
            break;
        case O_ADAPTER: o->adapter = optarg; break;
        case O_PRED: o->predictions = optarg; break;
        case O_TOK: o->tokenizer = optarg; break;
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
    int first_data = optind + !o->predictions;
    if (first_data >= argc)
        return cli_usage_error(cmd, o->predictions ? "at least one DATA file is required"
                                                   : "MODEL and at least one DATA file are required"),
               false;
    if (!o->out)
        return cli_usage_error(cmd, "the results file is required: -o FILE"), false;
    if (o->predictions && (o->adapter || o->tokenizer))
        return cli_usage_error(cmd, "--predictions scores given outputs: no model, adapter or tokenizer"), false;
    o->model = o->predictions ? NULL : argv[optind];
    o->data = argv + first_data;
    o->n_data = argc - first_data;
    return true;
}

/* What makes two runs the same evaluation: a resumed run must match the one it continues. */
static cJSON *settings(const eval_opts *o)
{
    cJSON *s = cJSON_CreateObject();
    if (o->predictions) {
        cJSON_AddStringToObject(s, "predictions", o->predictions);
    } else {
        cJSON_AddStringToObject(s, "model", o->model);
        if (o->adapter)
            cJSON_AddStringToObject(s, "adapter", o->adapter);
        if (o->tokenizer)
            cJSON_AddStringToObject(s, "tokenizer", o->tokenizer);
        cJSON_AddStringToObject(s, "template", hp_template_name(&o->template_));
        cJSON_AddNumberToObject(s, "max_new", (double)o->max_new);
        cJSON_AddNumberToObject(s, "beams", (double)o->beams);
    }
    cJSON_AddStringToObject(s, "task", hp_task_name(o->task));
    cJSON_AddNumberToObject(s, "limit", (double)o->limit);
    cJSON *data = cJSON_AddArrayToObject(s, "data");
    for (int i = 0; i < o->n_data; i++)
        cJSON_AddItemToArray(data, cJSON_CreateString(o->data[i]));
    return s;
}

/* This rank's items still to run, with their prompts; on rank 0, where every output goes. */
typedef struct pending {
    eval_sets *sets;
    hp_ids *prompts;
    int *set;
    size_t *index, n;
    const hp_tokenizer *tok;
    FILE *partial;
    cli_progress progress;
    char label[64];
} pending;

/* Which items have an output already (read by rank 0 from a resumed run's partial file),
 * one byte per item through the sets, the same on every rank. */
static uint8_t *done_items(const eval_sets *s, size_t *n_done, hp_err *err)
{
    uint8_t *done = hp_calloc(s->n_items + 1, 1, "the items done", err);
    size_t k = 0;
    for (int f = 0; done && f < s->n; f++)
        for (size_t i = 0; i < s->sets[f].n; i++)
            done[k++] = s->sets[f].items[i].output != NULL;
    if (done)
        dist_bcast(done, s->n_items);
    *n_done = 0;
    for (k = 0; done && k < s->n_items; k++)
        *n_done += done[k];
    return done;
}

/* The prompts of this rank's share of the items not done. */
static int make_prompts(pending *p, const eval_opts *o, const uint8_t *done, int ctx, hp_err *err)
{
    eval_sets *s = p->sets;
    if (!(p->prompts = hp_calloc(s->n_items + 1, sizeof *p->prompts, "the prompts", err)) ||
        !(p->set = hp_malloc((s->n_items + 1) * sizeof *p->set, "the prompts", err)) ||
        !(p->index = hp_malloc((s->n_items + 1) * sizeof *p->index, "the prompts", err)))
        return -1;
    size_t k = 0, todo = 0;
    for (int f = 0; f < s->n; f++)
        for (size_t i = 0; i < s->sets[f].n; i++) {
            if (done[k++] || !dist_mine(todo++))
                continue;
            const eval_item *it = &s->sets[f].items[i];
            char *text = hp_template_format(&o->template_, it->instruction, it->input, NULL, err);
            if (!text)
                return -1;
            int rc = hp_tokenizer_encode(p->tok, text, strlen(text), true, &p->prompts[p->n], err);
            free(text);
            if (rc)
                return hp_ids_free(&p->prompts[p->n]), hp_failctx(err, "%s, item %zu", s->sets[f].path, i);
            p->set[p->n] = f, p->index[p->n] = i;
            size_t len = p->prompts[p->n++].n;
            if (ctx > 0 && len > (size_t)ctx)
                return hp_fail(err, "%s, item %zu: the prompt has %zu tokens but the model's context holds %d",
                               s->sets[f].path, i, len, ctx);
        }
    return 0;
}

/* One JSON line of the partial file. */
static int append_line(FILE *f, const cJSON *o, hp_err *err)
{
    char *line = cJSON_PrintUnformatted(o);
    bool ok = line && fprintf(f, "%s\n", line) > 0 && fflush(f) == 0;
    free(line);
    return ok ? 0 : hp_fail(err, "cannot write the partial results file");
}

/* Rank 0: an item's output, from any rank, scored and saved. */
static int record(pending *p, int set, size_t index, const char *text, hp_err *err)
{
    eval_sets *s = p->sets;
    int rc = eval_set_output(s, set, index, text, err);
    cJSON *line = cJSON_CreateObject();
    cJSON_AddStringToObject(line, "dataset", s->sets[set].name);
    cJSON_AddNumberToObject(line, "index", (double)index);
    cJSON_AddStringToObject(line, "output", text);
    if (rc == 0)
        rc = append_line(p->partial, line, err);
    cJSON_Delete(line);
    size_t scored, correct;
    eval_sets_tally(s, &scored, &correct);
    snprintf(p->label, sizeof p->label, "eval (accuracy %.1f%%)", 100.0 * correct / (scored ? scored : 1));
    hp_progress_update(&p->progress.base, scored, s->n_items);
    return rc;
}

/* An output from another rank: its key is (set << 32) | index. */
static int take(uint64_t key, const char *bytes, size_t n, void *ctx, hp_err *err)
{
    pending *p = ctx;
    uint64_t set = key >> 32, index = key & 0xffffffffu;
    if (set >= (uint64_t)p->sets->n || index >= p->sets->sets[set].n)
        return hp_fail(err, "another rank sent an output for item %llu of data set %llu, which does not exist",
                       (unsigned long long)index, (unsigned long long)set);
    char *text = hp_malloc(n + 1, "an output", err);
    if (!text)
        return -1;
    memcpy(text, bytes, n);
    text[n] = '\0';
    int rc = record(p, (int)set, (size_t)index, text, err);
    free(text);
    return rc;
}

static int on_done(size_t k, const int32_t *ids, size_t n, void *ctx, hp_err *err)
{
    pending *p = ctx;
    char *text;
    size_t len;
    if (hp_tokenizer_decode(p->tok, ids, n, true, &text, &len, err))
        return -1;
    int rc = g_dist.rank == 0 ? record(p, p->set[k], p->index[k], text, err) || dist_poll(take, p, err)
                              : dist_put((uint64_t)p->set[k] << 32 | p->index[k], text, len, err);
    free(text);
    return rc ? -1 : train_stop_requested();
}

/* Decodes every item without an output (this rank's share of them), appending each to
 * the partial file. Returns 1 when stopped by Ctrl-C. */
static int run_model(const eval_opts *o, eval_sets *s, const char *partial_path, const char *header, hp_err *err)
{
    model_session ms;
    pending p = {.sets = s};
    uint8_t *done = NULL;
    size_t n_done = 0;
    bool root = g_dist.rank == 0, resumed = root && hp_exists(partial_path);
    int rc = model_session_open(&ms, o->model, o->tokenizer, o->weights, true, err);
    if (rc == 0 && o->adapter)
        rc = model_session_adapter(&ms, o->adapter, err);
    p.tok = ms.tok;
    if (rc == 0 && resumed)
        rc = eval_sets_read_outputs(s, partial_path, header, err);
    if (rc == 0 && !(done = done_items(s, &n_done, err)))
        rc = -1;
    if (rc == 0)
        rc = make_prompts(&p, o, done, ms.fm->config.max_position_embeddings, err);
    if (rc == 0 && resumed)
        cli_note("resuming from %s: %zu of %zu items done", partial_path, n_done, s->n_items);
    if (rc == 0 && root && !(p.partial = fopen(partial_path, "a")))
        rc = hp_fail(err, "cannot write %s", partial_path);
    if (rc == 0 && root && !resumed)
        rc = fprintf(p.partial, "%s\n", header) > 0 && fflush(p.partial) == 0 ? 0
                                                                                : hp_fail(err, "cannot write %s", partial_path);
    if (rc == 0) {
        eval_decode_options d = {(int)o->batch, (int)o->beams, (int)o->max_new, hp_tokenizer_eos(ms.tok)};
        snprintf(p.label, sizeof p.label, "eval");
        cli_progress_begin(&p.progress, p.label);
        train_down_message("hyplora eval: rank %d: stopped by a signal (" TAKEN_DOWN "); the outputs so far are in "
                           "%s: run the same command again to go on\n", g_dist.rank, partial_path);
        train_catch_signals();
        rc = eval_decode(ms.fm, p.prompts, p.n, &d, on_done, &p, err);
        if (rc == 0)
            rc = dist_drain(take, &p, err);
        train_release_signals();
        cli_progress_end(&p.progress);
    }
    if (p.partial && fclose(p.partial) && rc == 0)
        rc = hp_fail(err, "cannot write %s", partial_path);
    for (size_t i = 0; p.prompts && i < p.n; i++)
        hp_ids_free(&p.prompts[i]);
    free(p.prompts), free(p.set), free(p.index), free(done);
    model_session_close(&ms);
    if (rc == 0 && train_stop_requested())
        return 1;
    return rc;
}

/* Every rank must evaluate the same items with the same settings. */
static int check_same_run(const eval_sets *s, const char *header, hp_err *err)
{
    uint64_t h = dist_hash(0, header, strlen(header) + 1);
    for (int f = 0; f < s->n; f++)
        for (size_t i = 0; i < s->sets[f].n; i++) {
            const eval_item *it = &s->sets[f].items[i];
            h = dist_hash(h, it->instruction, strlen(it->instruction) + 1);
            h = dist_hash(h, it->input ? it->input : "", strlen(it->input ? it->input : "") + 1);
            h = dist_hash(h, it->label, strlen(it->label) + 1);
        }
    return dist_check_same(&h, sizeof h, "the settings and data items", err);
}

/* The first item without an output, as an error. */
static int check_complete(const eval_sets *s, const char *source, hp_err *err)
{
    for (int f = 0; f < s->n; f++)
        for (size_t i = 0; i < s->sets[f].n; i++)
            if (!s->sets[f].items[i].output)
                return hp_fail(err, "%s has no output for item %zu of %s", source, i, s->sets[f].name);
    return 0;
}

int cmd_eval(int argc, char **argv)
{
    eval_opts o = {.max_new = 256, .beams = 1, .batch = 8, .weights = HP_FWD_WEIGHTS_AUTO};
    hp_template_open("alpaca", &o.template_, NULL);
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return hp_template_free(&o.template_), status;
    hp_err err;
    eval_sets s = {0};
    cJSON *set = settings(&o);
    char *header = cJSON_PrintUnformatted(set);
    char partial[4096];
    snprintf(partial, sizeof partial, "%s.partial", o.out);
    bool writes = g_dist.rank == 0; /* under mpirun every rank's outputs go to rank 0 */
    int rc = header ? eval_sets_read(&s, o.data, o.n_data, o.limit, o.task, &err) : hp_fail(&err, "out of memory");
    if (rc == 0 && o.predictions && writes)
        rc = eval_sets_read_outputs(&s, o.predictions, NULL, &err);
    else if (rc == 0 && !o.predictions)
        rc = check_same_run(&s, header, &err) ? -1 : run_model(&o, &s, partial, header, &err);
    if (rc == 0 && writes)
        rc = check_complete(&s, o.predictions ? o.predictions : "the run", &err);
    if (rc == 0 && writes)
        rc = eval_sets_write_results(&s, set, o.out, &err);
    if (rc == 0 && writes) {
        if (!o.predictions)
            unlink(partial);
        eval_sets_print(&s, stdout);
        printf("results: %s\n", o.out);
    } else if (rc == 1 && writes) {
        size_t scored, correct;
        eval_sets_tally(&s, &scored, &correct);
        fprintf(stderr, "hyplora eval: interrupted after %zu of %zu items; the outputs are in %s: run the same "
                        "command again to go on\n", scored, s.n_items, partial);
    }
    eval_sets_free(&s);
    free(header);
    cJSON_Delete(set);
    hp_template_free(&o.template_);
    return rc == 0 ? EXIT_OK : rc == 1 ? 130 : cli_fail(&err);
}

/* `hyplora analyze`: the analyses the trainer's plan rests on, into one report, then the
 * plan itself. The data is tokenized once; the stages of the commands freq, norms and delta
 * (stages.h) take the counts and the ids from memory, and the model runs once for every
 * layer; then /recommend (analysis/recommend.h) from /delta. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dist.h"
#include "model_session.h"
#include "recommend.h"
#include "stages.h"

static const char *HELP =
    "usage: hyplora analyze MODEL --data FILE [--data FILE]... -o REPORT [options]\n"
    "       hyplora analyze --recommend-only -o REPORT [rule options]\n"
    "\n"
    "Measures a model on data and recommends how to fine-tune it, into one HDF5 report:\n"
    "  /freq       the tokens of the data counted with the model's tokenizer, and the power\n"
    "              law of the counts (hyplora freq; docs/powerlaw.md)\n"
    "  /norms      embedding norms against those counts (hyplora norms; docs/norms.md)\n"
    "  /delta      δ_rel of each item's input embeddings (/delta/embeddings) and of the\n"
    "              hidden states entering every layer (/delta/layers), one pass of the\n"
    "              model (hyplora delta --layers all; docs/delta.md)\n"
    "  /recommend  HypLoRA's initial curvature and the layers that get it, for hyplora train\n"
    "              --report (docs/recommend.md). The rule: K = 1/c with Khrulkov's\n"
    "              c = (0.144/δ_rel)^2 of the embeddings' mean δ_rel, clamped to [0.1, 10];\n"
    "              HypLoRA on the half of the decoder layers with the lowest δ_rel (the most\n"
    "              tree-like), LoRA on the others.\n"
    "The data is tokenized once for all stages, and the model runs once. Each stage prints\n"
    "its summary and its time. Under mpirun the ranks share the items of the δ stage\n"
    "(docs/distributed.md).\n"
    "\n"
    "Options:\n"
    "  --data FILE        a data set (.json/.jsonl, or text one item per line); repeat for\n"
    "                     several: counted together, and measured as one data set\n"
    "  --field F          the JSON field of each item (instruction)\n"
    "  --limit N          δ of the first N items only (the counts take every item)\n"
    "  --cutoff N         δ of the first N tokens of each item only\n"
    "  --p-value N        bootstrap sets of the power law's goodness of fit (100; 0: none)\n"
    "  --tokenizer PATH   a tokenizer instead of the model's own\n"
    "  --recommend-only   only /recommend again, from the /delta of REPORT (no model)\n"
    "rule options:\n"
    "  --curvature K      the initial K itself instead of the one from δ\n"
    "  --fraction F       of the decoder layers that get HypLoRA (0.5)\n"
    "  --k-range MIN,MAX  the clamp of K from δ (0.1,10)\n"
    "  --other lora|none  the method of the other layers (lora)\n"
    "  -o, --output REPORT  the HDF5 report to write (groups of other commands are kept)\n"
    "  -h, --help         this text\n"
    "\n"
    "Example:\n"
    "  hyplora analyze my-model --data notebooks-data/datasets/mawps/train.json -o report.h5\n"
    "  hyplora train my-model notebooks-data/datasets/mawps/train.json --report report.h5 -o run\n";

typedef struct analyze_opts {
    const char *model, *out, *field, *tokenizer;
    const char *data[16];
    int n_data;
    long limit, cutoff, p_value;
    bool recommend_only;
    recommend_options rule;
} analyze_opts;

static bool parse_k_range(const char *s, recommend_options *r)
{
    char *end;
    r->k_min = hp_strtod(s, &end);
    if (*end != ',')
        return false;
    r->k_max = hp_strtod(end + 1, &end);
    return !*end && r->k_min > 0 && r->k_max >= r->k_min && r->k_max < 1e6;
}

static bool parse_options(int argc, char **argv, analyze_opts *o, int *status)
{
    enum { O_DATA = 256, O_FIELD, O_LIMIT, O_CUTOFF, O_PVALUE, O_TOK, O_ONLY, O_CURV, O_FRAC, O_KRANGE, O_OTHER };
    static const struct option OPTS[] = {
        {"data", required_argument, NULL, O_DATA},          {"field", required_argument, NULL, O_FIELD},
        {"limit", required_argument, NULL, O_LIMIT},        {"cutoff", required_argument, NULL, O_CUTOFF},
        {"p-value", required_argument, NULL, O_PVALUE},     {"tokenizer", required_argument, NULL, O_TOK},
        {"recommend-only", no_argument, NULL, O_ONLY},      {"curvature", required_argument, NULL, O_CURV},
        {"fraction", required_argument, NULL, O_FRAC},      {"k-range", required_argument, NULL, O_KRANGE},
        {"other", required_argument, NULL, O_OTHER},        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},                   {0, 0, 0, 0},
    };
    const char *cmd = "analyze";
    long v;
    int c;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "ho:", OPTS, NULL)) != -1) {
        switch (c) {
        case O_DATA:
            if (o->n_data == 16)
                return cli_usage_error(cmd, "at most 16 --data files"), false;
            o->data[o->n_data++] = optarg;
            break;
        case O_FIELD: o->field = optarg; break;
        case O_LIMIT:
        case O_CUTOFF:
        case O_PVALUE:
            if (!cli_parse_int(cmd, c == O_LIMIT ? "--limit" : c == O_CUTOFF ? "--cutoff" : "--p-value", optarg,
                               c == O_PVALUE ? 0 : 1, 0x7fffffffL, &v))
                return false;
            *(c == O_LIMIT ? &o->limit : c == O_CUTOFF ? &o->cutoff : &o->p_value) = v;
            break;
        case O_TOK: o->tokenizer = optarg; break;
        case O_ONLY: o->recommend_only = true; break;
        case O_CURV:
            if (!cli_parse_double(cmd, "--curvature", optarg, 2e-6, 1e6, &o->rule.curvature))
                return false;
            break;
        case O_FRAC:
            if (!cli_parse_double(cmd, "--fraction", optarg, 1e-9, 1, &o->rule.fraction))
                return false;
            break;
        case O_KRANGE:
            if (!parse_k_range(optarg, &o->rule))
                return cli_usage_error(cmd, "--k-range expects MIN,MAX with 0 < MIN <= MAX, got '%s'", optarg),
                       false;
            break;
        case O_OTHER:
            if (strcmp(optarg, "lora") && strcmp(optarg, "none"))
                return cli_usage_error(cmd, "--other expects lora or none, got '%s'", optarg), false;
            o->rule.other = optarg;
            break;
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
    if (!o->out)
        return cli_usage_error(cmd, "the report is required: -o REPORT"), false;
    if (o->recommend_only) {
        if (optind < argc || o->n_data)
            return cli_usage_error(cmd, "--recommend-only reads the report alone: no MODEL or --data"), false;
        return true;
    }
    if (optind + 1 != argc)
        return cli_usage_error(cmd, optind == argc ? "MODEL is required" : "unexpected argument '%s'",
                               argv[optind + (optind < argc)]),
               false;
    if (o->n_data == 0)
        return cli_usage_error(cmd, "give the data to measure on with --data FILE"), false;
    o->model = argv[optind];
    return true;
}

/* The data, tokenized once: every item's ids with the tokenizer's special tokens (the δ
 * stage's points), and the counts of the ids between them (the freq and norms stages'). */
typedef struct tokenized {
    const hp_tokenizer *tok;
    size_t n_prefix, n_suffix; /* special ids around each item's own */
    hp_ids *ids;
    int64_t *item; /* each one's index in the data: line or item, through the files */
    size_t n, cap, cap_item;
    size_t offset, records; /* items of the files before the current one; of it so far */
    int64_t *counts;
    size_t n_counts;
    int64_t n_tokens;
    const char *file;
} tokenized;

static int on_batch(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    tokenized *t = ctx;
    for (size_t i = 0; i < b->n; i++) {
        if (hp_grow((void **)&t->ids, &t->cap, t->n + 1, sizeof *t->ids, "the tokenized items", err) ||
            hp_grow((void **)&t->item, &t->cap_item, t->n + 1, sizeof *t->item, "the tokenized items", err))
            return -1;
        hp_ids *ids = &t->ids[t->n];
        t->item[t->n++] = (int64_t)(t->offset + b->record[i] - 1);
        t->records = b->record[i];
        if (hp_tokenizer_encode(t->tok, b->text[i], b->len[i], true, ids, err))
            return hp_failctx(err, "%s, item %zu", t->file, b->record[i] - 1);
        size_t core = ids->n - t->n_prefix - t->n_suffix;
        if (hp_count_ids(ids->ids + t->n_prefix, core, t->counts, t->n_counts, err))
            return hp_failctx(err, "%s, item %zu", t->file, b->record[i] - 1);
        t->n_tokens += (int64_t)core;
    }
    return 0;
}

static int tokenize(tokenized *t, const analyze_opts *o, hp_err *err)
{
    hp_tokenizer_special_lengths(t->tok, &t->n_prefix, &t->n_suffix);
    t->n_counts = hp_tokenizer_vocab_size(t->tok);
    if (!(t->counts = hp_calloc(t->n_counts, sizeof *t->counts, "the token counts", err)))
        return -1;
    const char *fields[1] = {o->field};
    for (int f = 0; f < o->n_data; f++) {
        hp_corpus_options co;
        hp_corpus_options_init(&co);
        if (hp_corpus_is_json(o->data[f]))
            co.fields = fields, co.n_fields = 1;
        t->file = o->data[f];
        t->records = 0;
        if (hp_corpus_each(o->data[f], &co, on_batch, t, err))
            return -1;
        t->offset += t->records;
    }
    return 0;
}

static void tokenized_free(tokenized *t)
{
    for (size_t i = 0; i < t->n; i++)
        hp_ids_free(&t->ids[i]);
    free(t->ids);
    free(t->item);
    free(t->counts);
}

static void stage_begin(const char *name, double *t0)
{
    printf("== %s ==\n", name);
    fflush(stdout);
    *t0 = cli_now();
}

static int stage_end(const char *name, double t0, int rc)
{
    fflush(stdout);
    if (rc == 0)
        printf("(%s: %.2f s)\n\n", name, cli_now() - t0);
    return rc;
}

/* Tokenizes the data once, then the freq, norms and δ stages on it (stages.h). */
static int measure(const analyze_opts *o, hp_err *err)
{
    hp_model *m = hp_model_open(o->model, err);
    hp_tokenizer *tok = m ? model_session_tokenizer(m, o->model, o->tokenizer, true, err) : NULL;
    tokenized t = {.tok = tok};
    double t0;
    stage_begin("tokenize", &t0);
    int rc = tok ? tokenize(&t, o, err) : -1;
    if (rc == 0)
        printf("%zu items of %d file%s: %lld tokens (and %zu special ones each), tokenized once for every stage\n",
               t.n, o->n_data, o->n_data == 1 ? "" : "s", (long long)t.n_tokens, t.n_prefix + t.n_suffix);
    rc = stage_end("tokenize", t0, rc);
    bool root = g_dist.rank == 0; /* under mpirun the others go straight to their share of δ */
    if (rc == 0 && root) {
        stage_begin("freq", &t0);
        const char *fields[1] = {o->field};
        freq_stage fs = {o->tokenizer ? o->tokenizer : o->model, tok, t.counts, t.n_counts, t.n_tokens, t.n,
                         (char **)o->data, o->n_data, fields, 1, false, o->p_value, o->out};
        rc = stage_end("freq", t0, freq_stage_run(&fs, err));
    }
    if (rc == 0 && root) {
        stage_begin("norms", &t0);
        rc = stage_end("norms", t0, norms_stage_run(o->model, t.counts, t.n_counts, o->out, err));
    }
    if (rc == 0) {
        stage_begin("delta", &t0);
        delta_stage ds = {o->model, tok, o->tokenizer, t.ids, t.item, t.n, o->data, o->n_data, o->field,
                          (size_t)o->limit, (size_t)o->cutoff, o->out};
        rc = stage_end("delta", t0, delta_stage_run(&ds, err));
    }
    tokenized_free(&t);
    hp_tokenizer_free(tok);
    hp_model_close(m);
    return rc;
}

int cmd_analyze(int argc, char **argv)
{
    analyze_opts o = {.field = "instruction", .p_value = 100};
    recommend_options_init(&o.rule);
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return status;
    hp_err err;
    if (!o.recommend_only && measure(&o, &err))
        return cli_fail(&err);
    if (g_dist.rank != 0)
        return EXIT_OK;
    double t0;
    stage_begin("recommend", &t0);
    if (stage_end("recommend", t0, recommend_write(o.out, &o.rule, &err)))
        return cli_fail(&err);
    printf("report: %s\n", o.out);
    return EXIT_OK;
}

/* `hyplora analyze`: the analyses the trainer's plan rests on, into one report, then the
 * plan itself. The stages are the commands freq, norms and delta run in this process on the
 * same report (each reads what the earlier ones wrote: norms the counts of /freq), then
 * /recommend (analysis/recommend.h). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "recommend.h"

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
    "Each stage prints its summary and its time.\n"
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
    const char *limit, *cutoff, *p_value;
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
            *(c == O_LIMIT ? &o->limit : c == O_CUTOFF ? &o->cutoff : &o->p_value) = optarg;
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

/* Runs one command of this program in this process; its argv is built here. */
static int stage(const char *name, int (*fn)(int, char **), const char **args, int n)
{
    printf("== %s ==\n", name);
    fflush(stdout);
    double t0 = cli_now();
    int rc = fn(n, (char **)args);
    fflush(stdout);
    if (rc == EXIT_OK)
        printf("(%s: %.1f s)\n\n", name, cli_now() - t0);
    return rc;
}

#define ARG(s) (args[n++] = (s))

int cmd_analyze(int argc, char **argv)
{
    analyze_opts o = {.field = "instruction", .p_value = "100"};
    recommend_options_init(&o.rule);
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return status;
    const char *args[64];
    int n, rc = EXIT_OK;
    if (!o.recommend_only) {
        n = 0;
        ARG("freq"), ARG("--tokenizer"), ARG(o.tokenizer ? o.tokenizer : o.model), ARG("--field"), ARG(o.field);
        ARG("--p-value"), ARG(o.p_value);
        for (int i = 0; i < o.n_data; i++)
            ARG(o.data[i]);
        ARG("-o"), ARG(o.out), args[n] = NULL;
        rc = stage("freq", cmd_freq, args, n);
    }
    if (!o.recommend_only && rc == EXIT_OK) {
        n = 0;
        ARG("norms"), ARG(o.model), ARG("-o"), ARG(o.out), args[n] = NULL;
        rc = stage("norms", cmd_norms, args, n);
    }
    if (!o.recommend_only && rc == EXIT_OK) {
        n = 0;
        ARG("delta"), ARG(o.model), ARG("--field"), ARG(o.field), ARG("--layers"), ARG("all");
        for (int i = 0; i < o.n_data; i++)
            ARG("--data"), ARG(o.data[i]);
        if (o.limit)
            ARG("--limit"), ARG(o.limit);
        if (o.cutoff)
            ARG("--cutoff"), ARG(o.cutoff);
        if (o.tokenizer)
            ARG("--tokenizer"), ARG(o.tokenizer);
        ARG("-o"), ARG(o.out), args[n] = NULL;
        rc = stage("delta", cmd_delta, args, n);
    }
    if (rc != EXIT_OK)
        return rc;
    printf("== recommend ==\n");
    hp_err err;
    if (recommend_write(o.out, &o.rule, &err))
        return cli_fail(&err);
    printf("report: %s\n", o.out);
    return EXIT_OK;
}

/* `hyplora freq`: how often each token id (or word) occurs in a corpus, and the power law
 * of those counts. Files are read in batches (hyplora/corpus.h), each batch counted on all
 * threads (hyplora/freq.h); the fit is hp_powerlaw_analyze, as `hyplora powerlaw` does. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "stages.h"

static const char *HELP =
    "usage: hyplora freq (--tokenizer PATH | --words) [--field F]... [--add-special]\n"
    "                    [--p-value N] [--seed S] [--no-compare] [-o REPORT] CORPUS...\n"
    "\n"
    "Counts every token id of a corpus as the model would see it, then fits a power law to\n"
    "the counts (the count distribution: how many token ids occur x times, p(x) ~ x^-gamma,\n"
    "as the HypLoRA paper does) by the Clauset-Shalizi-Newman method, compares it with the\n"
    "alternatives and gives the Zipf rank-frequency exponent; see docs/powerlaw.md.\n"
    "\n"
    "A CORPUS ending in .json, .jsonl or .ndjson is a data set: each item gives the string\n"
    "--field(s) named (or the item itself if it is a string). Any other file (or -, standard\n"
    "input) is plain text, one text per line. Each text is tokenized on its own.\n"
    "\n"
    "Options:\n"
    "  --tokenizer PATH  tokenizer.json, a directory holding one, vocab.json (GPT-2) or .gguf\n"
    "  --words           word-level mode instead: lowercased Unicode words (docs/tokenizers.md),\n"
    "                    for word-vector vocabularies\n"
    "  --field F         the field of each JSON item to count (repeat for several);\n"
    "                    plain-text corpora given beside them are read line by line\n"
    "  --add-special     count the special tokens the tokenizer adds (BOS/EOS) too\n"
    "  --p-value N       goodness of fit with N bootstrap sets (default 1000; 0: none)\n"
    "  --seed S          seed of the bootstrap (default 0)\n"
    "  --no-compare      skip the likelihood-ratio tests against the alternatives\n"
    "  -o, --output REPORT  write group /freq of this HDF5 report (docs/report-format.md)\n"
    "  -h, --help        this text\n"
    "The global --threads N sets the worker threads (default: all cores).\n"
    "\n"
    "Example (the paper's protocol on GSM8K; docs/powerlaw.md has all data sets):\n"
    "  hyplora freq --tokenizer notebooks-data/tokenizers/llama2/tokenizer.json \\\n"
    "      --field instruction notebooks-data/datasets/gsm8k/test.json -o report.h5\n";

typedef struct counting {
    const hp_tokenizer *tok; /* NULL in word mode */
    hp_word_counts *words;
    bool add_special;
    int64_t *counts; /* per token id */
    int64_t n_tokens;
    size_t n_texts;
    const char *file; /* the corpus being read, for messages */
    bool json;
} counting;

static int on_batch(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    counting *c = ctx;
    size_t bad = b->n;
    int rc = c->tok ? hp_count_tokens(c->tok, b->text, b->len, b->n, c->add_special,
                                      g_cli.threads, c->counts, &c->n_tokens, &bad, err)
                    : hp_count_words(b->text, b->len, b->n, g_cli.threads, c->words, err);
    if (rc != 0) {
        if (bad < b->n)
            return hp_failctx(err, "%s: %s %zu", c->file, c->json ? "item" : "line",
                              b->record[bad]);
        return hp_failctx(err, "%s", c->file);
    }
    c->n_texts += b->n;
    return 0;
}

/* Progress over all corpora: the corpus reader reports bytes of one file. */
typedef struct multi_progress {
    hp_progress base;
    hp_progress *line;
    uint64_t before, total; /* bytes of the files already read; of all files */
} multi_progress;

static void multi_update(hp_progress *p, uint64_t done, uint64_t total)
{
    (void)total;
    multi_progress *m = (multi_progress *)p;
    hp_progress_update(m->line, m->before + done, m->total);
}

static uint64_t file_size(const char *path)
{
    struct stat st;
    return strcmp(path, "-") != 0 && stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

static int count_all(counting *c, char **corpora, int n, const hp_corpus_options *base,
                     hp_err *err)
{
    multi_progress mp = {{multi_update, NULL}, NULL, 0, 0};
    cli_progress line;
    mp.line = cli_progress_begin(&line, "counting");
    for (int i = 0; i < n; i++)
        mp.total += file_size(corpora[i]);
    hp_corpus_options opt = *base;
    opt.progress = &mp.base;
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        c->file = strcmp(corpora[i], "-") == 0 ? "standard input" : corpora[i];
        c->json = strcmp(corpora[i], "-") != 0 && hp_corpus_is_json(corpora[i]);
        rc = hp_corpus_each(corpora[i], &opt, on_batch, c, err);
        mp.before += file_size(corpora[i]);
        hp_progress_update(mp.line, mp.before, mp.total);
    }
    cli_progress_end(&line);
    return rc;
}

/* "gsm8k/test.json (instruction)\nmawps/test.json (instruction)": what was counted. */
static char *describe_sources(char **corpora, int n, const char *const *fields, size_t n_fields)
{
    char *s = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&s, &len);
    if (!f)
        return NULL;
    for (int i = 0; i < n; i++) {
        fprintf(f, "%s%s", i ? "\n" : "", corpora[i]);
        bool json = strcmp(corpora[i], "-") != 0 && hp_corpus_is_json(corpora[i]);
        for (size_t k = 0; json && k < n_fields; k++)
            fprintf(f, "%s%s%s", k ? ", " : " (", fields[k], k + 1 == n_fields ? ")" : "");
    }
    if (fclose(f) != 0) {
        free(s);
        return NULL;
    }
    return s;
}

/* What was counted and where it came from: the common input of the fit and the report,
 * for the command and for its stage in hyplora analyze (stages.h). */
typedef struct counted {
    const char *tokenizer_path;
    const hp_tokenizer *tok; /* NULL in word mode */
    const int64_t *counts;   /* per id, or per ranked word */
    const char **words;      /* word mode: the words, by decreasing count */
    size_t n_counts;
    int64_t n_tokens;
    size_t n_texts;
    char **corpora;
    int n_corpora;
    const char *const *fields;
    size_t n_fields;
    bool add_special;
} counted;

/* Records a file as an input if it exists (the tokenizer's files vary by kind). */
static int add_if_present(hp_report *r, const char *dir, const char *name, hp_err *err)
{
    char path[4096];
    struct stat st;
    snprintf(path, sizeof path, "%s%s%s", dir, *dir ? "/" : "", name);
    return stat(path, &st) == 0 && S_ISREG(st.st_mode) ? hp_report_add_input(r, path, err) : 0;
}

/* The corpora, and every file the tokenizer was loaded from: a tokenizer.json or GGUF, or
 * GPT-2's vocabulary with its merges beside it. */
static int add_inputs(hp_report *r, const char *tok_path, char **corpora, int n, hp_err *err)
{
    for (int i = 0; i < n; i++)
        if (strcmp(corpora[i], "-") != 0 && hp_report_add_input(r, corpora[i], err) != 0)
            return -1;
    if (!tok_path)
        return 0;
    struct stat st;
    if (stat(tok_path, &st) == 0 && S_ISDIR(st.st_mode)) {
        char json[4096];
        snprintf(json, sizeof json, "%s/tokenizer.json", tok_path);
        if (stat(json, &st) == 0) /* the loader prefers it to the GPT-2 pair */
            return hp_report_add_input(r, json, err);
        return add_if_present(r, tok_path, "vocab.json", err) ||
                       add_if_present(r, tok_path, "merges.txt", err)
                   ? -1
                   : 0;
    }
    if (hp_report_add_input(r, tok_path, err) != 0)
        return -1;
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", tok_path);
    char *slash = strrchr(dir, '/');
    if (slash)
        *slash = 0;
    else
        dir[0] = 0;
    const char *base = slash ? slash + 1 : tok_path;
    if (strcmp(base, "vocab.json") == 0 || strcmp(base, "encoder.json") == 0)
        return add_if_present(r, dir, "merges.txt", err) || add_if_present(r, dir, "vocab.bpe", err)
                   ? -1
                   : 0;
    return 0;
}

static int write_report(const char *out, const counted *res, size_t n_distinct, const char *sources,
                        const hp_powerlaw_analysis *fit, hp_err *err)
{
    hp_report *r = hp_report_begin(out, "freq", g_cli.argc, g_cli.argv, HYPLORA_VERSION, err);
    if (!r)
        return -1;
    int64_t dims[1] = {(int64_t)res->n_counts};
    int ok = add_inputs(r, res->tokenizer_path, res->corpora, res->n_corpora, err) == 0;
    if (ok && res->words)
        ok = hp_report_write_i64(r, "counts", 1, dims, res->counts,
                                 "number of occurrences in the corpus of each word of `words`",
                                 NULL, err) == 0 &&
             hp_report_write_strings(r, "words", res->n_counts, res->words,
                                     "the distinct words of the corpus in word-level mode, by "
                                     "decreasing count (ties in byte order)", err) == 0;
    else if (ok)
        ok = hp_report_write_i64(r, "counts", 1, dims, res->counts,
                                 "number of occurrences of each token id in the corpus (index = "
                                 "token id)", NULL, err) == 0;
    ok = ok && hp_report_attr_i64(r, "", "n_tokens", res->n_tokens, err) == 0 &&
         hp_report_attr_i64(r, "", "n_distinct", (int64_t)n_distinct, err) == 0 &&
         hp_report_attr_i64(r, "", "n_texts", (int64_t)res->n_texts, err) == 0 &&
         hp_report_attr_str(r, "", "sources", sources, err) == 0 &&
         hp_report_attr_str(r, "", "unit", res->words ? "word" : "token", err) == 0 &&
         hp_report_attr_i64(r, "", "add_special", res->add_special, err) == 0;
    if (ok && res->tok) {
        char desc[4096];
        snprintf(desc, sizeof desc, "%s (%s)", res->tokenizer_path, hp_tokenizer_describe(res->tok));
        ok = hp_report_attr_str(r, "", "tokenizer", desc, err) == 0 &&
             hp_report_attr_i64(r, "", "vocab_size", (int64_t)res->n_counts, err) == 0;
    } else if (ok) {
        ok = hp_report_attr_str(r, "", "tokenizer", "word-level (hp_words_each, "
                                "docs/tokenizers.md)", err) == 0;
    }
    if (ok && fit)
        ok = hp_powerlaw_report_write(r, "powerlaw", fit, err) == 0;
    if (!ok) {
        hp_report_abort(r);
        return -1;
    }
    return hp_report_commit(r, err);
}

/* Prints what was counted, fits the power law of the counts (the fit needs 3 distinct
 * counts; a tiny corpus gets its counts without one) and writes /freq to out (NULL: none). */
static int fit_and_write(const counted *c, hp_powerlaw_analysis_options *ao, const char *out, hp_err *err)
{
    bool words = c->tok == NULL;
    size_t n_distinct = 0;
    for (size_t i = 0; i < c->n_counts; i++)
        n_distinct += c->counts[i] > 0;
    if (c->n_tokens == 0)
        return hp_fail(err, "the corpus has no %s (%zu texts read)", words ? "words" : "tokens", c->n_texts);
    double *values = NULL;
    size_t n_values;
    if (hp_powerlaw_values_from_counts(c->counts, c->n_counts, &values, &n_values, err) != 0)
        return -1;
    if (words)
        printf("%zu texts: %lld words, %zu distinct\n", c->n_texts, (long long)c->n_tokens, n_distinct);
    else
        printf("%zu texts: %lld tokens; %zu of the %zu token ids occur\n", c->n_texts, (long long)c->n_tokens,
               n_distinct, c->n_counts);
    hp_powerlaw_analysis an = {0};
    bool have_fit = false;
    int rc = 0;
    if (hp_powerlaw_check(values, n_values, HP_POWERLAW_DISCRETE, NULL, err) == 0) {
        cli_progress prog;
        ao->fit.kind = HP_POWERLAW_DISCRETE;
        ao->fit.keep_scan = out != NULL;
        ao->boot.threads = g_cli.threads;
        ao->boot.progress = ao->p_sets > 0 ? cli_progress_begin(&prog, "bootstrap") : NULL;
        rc = hp_powerlaw_analyze(values, n_values, ao, &an, err);
        if (ao->p_sets > 0)
            cli_progress_end(&prog);
        if (rc != 0)
            hp_failctx(err, "fitting the power law of the counts");
        else
            have_fit = true, cli_print_powerlaw("count distribution (gamma is alpha)", &an, false);
    } else {
        cli_note("no power-law fit: %s", err->msg);
    }
    fflush(stdout);
    char *sources = NULL;
    if (rc == 0 && out && !(sources = describe_sources(c->corpora, c->n_corpora, c->fields, c->n_fields)))
        rc = hp_fail(err, "out of memory");
    if (rc == 0 && out)
        rc = write_report(out, c, n_distinct, sources, have_fit ? &an : NULL, err);
    free(sources);
    free(values);
    hp_powerlaw_analysis_free(&an);
    return rc;
}

int freq_stage_run(const freq_stage *s, hp_err *err)
{
    counted c = {s->tokenizer_path, s->tok, s->counts, NULL, s->n_counts, s->n_tokens, s->n_texts, s->corpora,
                 s->n_corpora, s->fields, s->n_fields, s->add_special};
    hp_powerlaw_analysis_options ao;
    hp_powerlaw_analysis_options_init(&ao);
    ao.p_sets = s->p_sets;
    return fit_and_write(&c, &ao, s->out, err);
}

int cmd_freq(int argc, char **argv)
{
    enum { O_TOK = 1000, O_WORDS, O_FIELD, O_SPECIAL, O_PVALUE, O_SEED, O_NOCOMPARE };
    static const struct option OPTS[] = {
        {"tokenizer", required_argument, NULL, O_TOK},
        {"words", no_argument, NULL, O_WORDS},
        {"field", required_argument, NULL, O_FIELD},
        {"add-special", no_argument, NULL, O_SPECIAL},
        {"p-value", required_argument, NULL, O_PVALUE},
        {"seed", required_argument, NULL, O_SEED},
        {"no-compare", no_argument, NULL, O_NOCOMPARE},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *tok_path = NULL, *out = NULL;
    const char *fields[64];
    size_t n_fields = 0;
    bool words = false, add_special = false;
    hp_powerlaw_analysis_options ao;
    hp_powerlaw_analysis_options_init(&ao);
    ao.p_sets = 1000;
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        switch (c) {
        case O_TOK:
            tok_path = optarg;
            break;
        case O_WORDS:
            words = true;
            break;
        case O_FIELD:
            if (n_fields == sizeof fields / sizeof fields[0])
                return cli_usage_error("freq", "at most 64 --field options");
            fields[n_fields++] = optarg;
            break;
        case O_SPECIAL:
            add_special = true;
            break;
        case O_PVALUE:
            if (!cli_parse_int("freq", "--p-value", optarg, 0, 100000000, &v))
                return EXIT_USAGE;
            ao.p_sets = (int)v;
            break;
        case O_SEED:
            if (!cli_parse_int("freq", "--seed", optarg, 0, 2147483647, &v))
                return EXIT_USAGE;
            ao.boot.seed = (uint64_t)v;
            break;
        case O_NOCOMPARE:
            ao.compare = 0;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("freq", "invalid option");
        }
    }
    if (!tok_path == !words)
        return cli_usage_error("freq", "give either --tokenizer PATH or --words");
    if (add_special && words)
        return cli_usage_error("freq", "--add-special needs a tokenizer, not --words");
    if (optind >= argc)
        return cli_usage_error("freq", "expected at least one CORPUS file");
    bool any_json = false;
    for (int i = optind; i < argc; i++)
        any_json |= strcmp(argv[i], "-") != 0 && hp_corpus_is_json(argv[i]);
    if (n_fields > 0 && !any_json)
        return cli_usage_error("freq", "--field applies to .json/.jsonl data sets, and every "
                                       "CORPUS here is read as plain text (one text per line)");

    hp_err err;
    counting cnt = {.add_special = add_special};
    hp_tokenizer *tok = NULL;
    const char **ranked = NULL;
    int64_t *ranked_counts = NULL;
    int rc = -1;
    size_t n_counts = 0;
    if (words) {
        cnt.words = hp_word_counts_new(&err);
    } else if ((tok = hp_tokenizer_load(tok_path, &err))) {
        cli_verbose("tokenizer: %s", hp_tokenizer_describe(tok));
        cnt.tok = tok;
        n_counts = hp_tokenizer_vocab_size(tok);
        cnt.counts = hp_calloc(n_counts, sizeof *cnt.counts, "the token counts", &err);
    }
    hp_corpus_options co;
    hp_corpus_options_init(&co);
    co.fields = fields;
    co.n_fields = n_fields;
    if ((cnt.words || cnt.counts) && count_all(&cnt, argv + optind, argc - optind, &co, &err) == 0) {
        const int64_t *counts = cnt.counts;
        rc = 0;
        if (words && (rc = hp_word_counts_sorted(cnt.words, &ranked, &ranked_counts, &err)) == 0) {
            counts = ranked_counts;
            n_counts = hp_word_counts_size(cnt.words);
            cnt.n_tokens = hp_word_counts_total(cnt.words);
        }
        counted c = {tok_path, tok, counts, ranked, n_counts, cnt.n_tokens, cnt.n_texts, argv + optind,
                     argc - optind, fields, n_fields, add_special};
        if (rc == 0)
            rc = fit_and_write(&c, &ao, out, &err);
    }
    free(ranked);
    free(ranked_counts);
    free(cnt.counts);
    hp_word_counts_free(cnt.words);
    hp_tokenizer_free(tok);
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

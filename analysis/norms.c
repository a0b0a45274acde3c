/* `hyplora norms`: the norms of a model's token embeddings (or of word vectors) against
 * how often each token occurs (/freq of a report), the mean norms of word groups, and a
 * 2-D principal-component picture. The work is hyplora/norms.h, stats.h and pca.h; this
 * file loads the inputs, aligns them and prints; norms_report.c writes /norms. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "cli.h"
#include "norms_cmd.h"
#include "stages.h"

static const char *HELP =
    "usage: hyplora norms (MODEL | --vectors FILE [--vocab FILE]) [--groups FILE]\n"
    "                     [--freq OTHER] [--bins-per-decade N] [--no-pca] -o REPORT\n"
    "\n"
    "Measures how far each token embedding lies from the origin and from the mean embedding\n"
    "(L2 norm, centred norm), and relates it to how often the token occurs: Spearman rho,\n"
    "Kendall tau and Pearson r of norm against log10(count) with p-values, the norm over\n"
    "log-spaced count bins, and the mean norm of word groups (default: the four groups of\n"
    "notebooks-data/groups/paper_word_groups.txt, function words to concrete nouns). Tokens\n"
    "never seen in the corpus are summarised apart. Also the top two principal components\n"
    "of the embedding and the 2-D coordinates of every seen token. An untied output head\n"
    "gets its norms too. See docs/norms.md.\n"
    "\n"
    "The counts come from group /freq of REPORT (written by `hyplora freq ... -o REPORT`),\n"
    "or of OTHER with --freq. A model needs token counts from its own tokenizer; word\n"
    "vectors need word counts (`hyplora freq --words`). The result is group /norms of REPORT.\n"
    "\n"
    "Options:\n"
    "  --vectors FILE        word vectors (GloVe/word2vec text, .npy + --vocab, wink JSON)\n"
    "                        instead of a model\n"
    "  --vocab FILE          the vocabulary of a .npy vectors file\n"
    "  --groups FILE         word groups: one per line, a name then its words\n"
    "  --freq OTHER          read /freq from this report instead of REPORT\n"
    "  --bins-per-decade N   count bins per factor of 10 (default 4)\n"
    "  --no-pca              skip the principal components\n"
    "  -o, --output REPORT   the report (read for /freq, written with /norms)\n"
    "  -h, --help            this text\n"
    "The global --threads N sets the worker threads (default: all cores).\n"
    "\n"
    "Example:\n"
    "  hyplora freq --tokenizer ~/models/Llama-2-7b --field instruction gsm8k.json -o r.h5\n"
    "  hyplora norms ~/models/Llama-2-7b -o r.h5\n"
    "  hyplora freq --words --field instruction gsm8k.json -o glove.h5\n"
    "  hyplora norms --vectors glove.6B.100d.txt -o glove.h5\n";

/* ---- the matrix ---- */

/* The float32 matrix: gigabytes of fresh memory whose page faults alone cost a second with
 * 4 KB pages; aligned to 2 MB and marked for transparent huge pages, the kernel maps it in
 * 2 MB steps (where THP is enabled; elsewhere the advice is ignored). free() releases it. */
static float *alloc_matrix(size_t bytes, hp_err *err)
{
    enum { HUGE = 2u << 20 };
    void *p = NULL;
    if (posix_memalign(&p, HUGE, bytes) != 0) {
        hp_fail(err, "out of memory for the embedding (%zu bytes)", bytes);
        return NULL;
    }
    madvise(p, bytes, MADV_HUGEPAGE);
    return p;
}

/* Starts hashing the input files (for the report's provenance) on a thread of their own:
 * a model's gigabytes take about a second, which then overlaps the reading. */
static int start_checksums(norms_run *r, const char *vocab, hp_err *err)
{
    size_t most = r->is_vectors ? 2 : r->model->n_files + 1, n = 0;
    if (!(r->input_files = hp_malloc(most * sizeof *r->input_files, "input names", err)))
        return -1;
    if (r->is_vectors) {
        r->input_files[n++] = r->input;
        if (vocab)
            r->input_files[n++] = vocab;
    } else {
        for (size_t i = 0; i < r->model->n_files; i++)
            r->input_files[n++] = r->model->files[i]->path;
        if (r->model->tokenizer_path)
            r->input_files[n++] = r->model->tokenizer_path;
    }
    r->n_input_files = n;
    r->checksums = hp_sha256_files_begin(r->input_files, r->n_input_files, err);
    return r->checksums ? 0 : -1;
}

static int load_rows(norms_run *r, const char *model_path, const char *vectors, const char *vocab,
                     hp_err *err)
{
    if (vectors) {
        if (start_checksums(r, vocab, err) != 0 || hp_vectors_load(vectors, vocab, &r->vec, err))
            return -1;
        r->rows = r->vec.data;
        r->n = r->vec.n_words;
        r->dim = r->vec.dim;
        snprintf(r->what, sizeof r->what, "%s vectors %s", r->vec.format, vectors);
        return 0;
    }
    if (!(r->model = hp_model_open(model_path, err)) || !(r->emb = hp_model_embedding(r->model, err)) ||
        start_checksums(r, NULL, err) != 0)
        return -1;
    if (r->emb->ndim != 2)
        return hp_fail(err, "%s: the embedding %s is not a matrix", model_path, r->emb->name);
    r->n = (size_t)r->emb->shape[0];
    r->dim = (size_t)r->emb->shape[1];
    snprintf(r->what, sizeof r->what, "%s of %s", r->emb->name, model_path);
    const hp_tensor *head = hp_model_find(r->model, "lm_head.weight");
    if (head && head != r->emb && head->ndim == 2 && head->shape[1] == r->emb->shape[1] &&
        !(r->model->has_config && r->model->config.tie_word_embeddings))
        r->head = head;
    if (!(r->rows = alloc_matrix(r->n * r->dim * sizeof *r->rows, err)))
        return -1;
    cli_progress p;
    int rc = hp_model_read_f32(r->model, r->emb, r->rows, cli_progress_begin(&p, "reading"), err);
    cli_progress_end(&p);
    return rc;
}

/* The tokenizer that maps group words to rows: the model's own. */
static hp_tokenizer *model_tokenizer(const norms_run *r, hp_err *err)
{
    if (r->model->tokenizer_path)
        return hp_tokenizer_load(r->model->tokenizer_path, err);
    if (r->model->gguf)
        return hp_tokenizer_from_gguf(r->model->gguf, err);
    hp_fail(err, "%s has no tokenizer to map the group words to tokens", r->model->path);
    return NULL;
}

/* ---- word groups ---- */

/* A model's own tokenizer, when it has one: it must be the one /freq counted with (same
 * number of ids), and it maps the group words to rows. */
static int check_tokenizer(norms_run *r, hp_err *err)
{
    if (r->is_vectors || (!r->model->tokenizer_path && !r->model->gguf))
        return 0;
    if (!(r->tok = model_tokenizer(r, err)))
        return -1;
    size_t ids = hp_tokenizer_vocab_size(r->tok);
    if (ids != r->fc.n)
        return hp_fail(err, "%s: /freq/counts has %zu token ids but the model's tokenizer has %zu: "
                            "the counts come from another tokenizer (run hyplora freq with the "
                            "model's own)", r->freq_report, r->fc.n, ids);
    return 0;
}

static int map_groups(norms_run *r, const char *groups_path, bool given, hp_err *err)
{
    if (!r->is_vectors && !r->tok) {
        if (given)
            return hp_fail(err, "%s has no tokenizer to map the group words to tokens",
                           r->model->path);
        cli_note("%s has no tokenizer: the default word groups are skipped", r->model->path);
        return 0;
    }
    if (hp_word_groups_load(groups_path, &r->groups, &r->n_groups, err) != 0)
        return -1;
    hp_word_counts *index = NULL; /* vectors: word -> row + 1 */
    if (r->is_vectors) {
        if (!(index = hp_word_counts_new(err)))
            return -1;
        for (size_t i = 0; i < r->n; i++)
            if (hp_word_counts_get(index, r->vec.words[i], strlen(r->vec.words[i])) == 0 &&
                hp_word_counts_add(index, r->vec.words[i], strlen(r->vec.words[i]),
                                   (int64_t)i + 1, err) != 0) {
                hp_word_counts_free(index);
                return -1;
            }
    }
    int rc = norms_groups_compute(r, r->tok, index, err);
    hp_word_counts_free(index);
    return rc;
}

/* ---- the principal-component picture ---- */

/* The top two components of all rows; the coordinates of the seen rows and of the
 * origin (the mean lands on (0, 0) by construction). */
int norms_pca(norms_run *r, hp_err *err)
{
    if (r->n < 3 || r->dim < 2) {
        cli_note("no principal components: %zu x %zu is too small", r->n, r->dim);
        return 0;
    }
    hp_pca_options opt;
    hp_pca_options_init(&opt);
    opt.n_components = 2;
    opt.threads = g_cli.threads;
    /* a picture and explained-variance ratios: directions to 1e-3 rad are more than the
     * eye or two printed digits can use; a 5-column subspace at that tolerance costs about
     * 0.4 s of CPU a pass and 5 passes on an 8B-sized embedding (docs/pca.md) */
    opt.tolerance = 1e-3;
    opt.oversample = 3;
    opt.project = 1; /* the coordinates come out of the fit's own passes */
    if (hp_pca_fit(r->rows, r->n, r->dim, &opt, &r->pca, err) != 0)
        return hp_failctx(err, "principal components of %s", r->what);
    r->have_pca = true;
    if (r->pca.angle_bound > 1e-3)
        cli_note("the principal directions are uncertain (angle bound %.2g after %d passes): "
                 "the leading variances are too close together to separate", r->pca.angle_bound,
                 r->pca.passes);
    size_t seen = r->nf.n_seen, k = 0;
    r->pca_coords = hp_malloc(seen * 2 * sizeof *r->pca_coords, "the 2-D coordinates", err);
    r->pca_rows = hp_malloc(seen * sizeof *r->pca_rows, "the 2-D coordinates", err);
    if (!r->pca_coords || !r->pca_rows)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        if (r->counts[i] <= 0)
            continue;
        r->pca_rows[k] = (int64_t)i;
        memcpy(r->pca_coords + 2 * k++, r->pca.coords + 2 * i, 2 * sizeof *r->pca_coords);
    }
    for (int c = 0; c < 2; c++) {
        double s = 0;
        for (size_t d = 0; d < r->dim; d++)
            s -= r->pca.mean[d] * r->pca.components[c * r->dim + d];
        r->pca_origin[c] = s;
    }
    return 0;
}

/* ---- the output head ---- */

/* Reads the untied output head into the embedding's buffer (the embedding is no longer
 * needed), so memory stays at one matrix. */
static int head_norms(norms_run *r, hp_err *err)
{
    size_t n = (size_t)r->head->shape[0];
    if (n > r->n) {
        float *p = hp_realloc(r->rows, n * r->dim * sizeof *p, "the output head", err);
        if (!p)
            return -1;
        r->rows = p;
    }
    r->n_head = n;
    cli_progress p;
    int rc = hp_model_read_f32(r->model, r->head, r->rows, cli_progress_begin(&p, "reading head"),
                               err);
    cli_progress_end(&p);
    if (rc != 0)
        return -1;
    if (!(r->head_norm = hp_malloc(n * sizeof(double), "output head norms", err)) ||
        !(r->head_centered = hp_malloc(n * sizeof(double), "output head norms", err)) ||
        !(r->head_mean = hp_malloc(r->dim * sizeof(double), "output head mean", err)) ||
        hp_row_norms(r->rows, n, r->dim, g_cli.threads, r->head_norm, r->head_mean,
                     r->head_centered, err) != 0)
        return -1;
    /* the head's rows are the same token ids as the embedding's */
    size_t m = n < r->n ? n : r->n;
    return hp_norm_vs_freq(r->head_norm, r->counts, m, r->bins_per_decade, &r->head_nf, err);
}

/* ---- the run ---- */

static int run(norms_run *r, const char *model_path, const char *vectors, const char *vocab,
               const char *groups_path, bool groups_given, hp_err *err)
{
    if (!r->fc.counts && freq_counts_read(&r->fc, r->freq_report, r->is_vectors, "--freq", err) != 0)
        return -1; /* (hyplora analyze gives the counts it made) */
    if (load_rows(r, model_path, vectors, vocab, err) != 0 ||
        freq_counts_align(&r->fc, r->n, r->is_vectors ? &r->vec : NULL, err) != 0 ||
        check_tokenizer(r, err) != 0)
        return -1;
    r->counts = r->fc.row;
    r->n_beyond = r->fc.n_beyond;
    if (!(r->norm = hp_malloc(r->n * sizeof(double), "the norms", err)) ||
        !(r->centered = hp_malloc(r->n * sizeof(double), "the centred norms", err)) ||
        !(r->mean = hp_malloc(r->dim * sizeof(double), "the mean embedding", err)) ||
        hp_row_norms(r->rows, r->n, r->dim, g_cli.threads, r->norm, r->mean, r->centered, err))
        return -1;
    if (hp_norm_vs_freq(r->norm, r->counts, r->n, r->bins_per_decade, &r->nf, err) != 0 ||
        hp_norm_vs_freq(r->centered, r->counts, r->n, r->bins_per_decade, &r->nf_centered, err))
        return hp_failctx(err, "%s", r->what);
    if (map_groups(r, groups_path, groups_given, err) != 0)
        return -1;
    if (r->do_pca && norms_pca(r, err) != 0)
        return -1;
    if (r->head && head_norms(r, err) != 0)
        return -1;
    return 0;
}

static void run_free(norms_run *r)
{
    if (r->checksums)
        hp_sha256_files_end(r->checksums, NULL, NULL);
    free(r->input_files);
    freq_counts_free(&r->fc);
    if (r->is_vectors)
        hp_vectors_free(&r->vec);
    else
        free(r->rows);
    hp_model_close(r->model);
    hp_tokenizer_free(r->tok);
    free(r->norm);
    free(r->centered);
    free(r->mean);
    hp_norm_freq_free(&r->nf);
    hp_norm_freq_free(&r->nf_centered);
    norms_groups_free(r);
    hp_pca_free(&r->pca);
    free(r->pca_coords);
    free(r->pca_rows);
    free(r->head_norm);
    free(r->head_centered);
    free(r->head_mean);
    hp_norm_freq_free(&r->head_nf);
}

/* The defaults of the command, for the command and its stage. */
static void run_init(norms_run *r, const char *input, const char *freq_report)
{
    memset(r, 0, sizeof *r);
    r->bins_per_decade = 4;
    r->do_pca = true;
    r->input = input;
    r->freq_report = freq_report;
}

static const char *default_groups(char *buf, size_t n)
{
    snprintf(buf, n, "%s/groups/paper_word_groups.txt", cli_data_dir());
    return buf;
}

int norms_stage_run(const char *model, const int64_t *counts, size_t n_counts, const char *out, hp_err *err)
{
    norms_run r;
    run_init(&r, model, out);
    char groups[4096];
    r.groups_path = default_groups(groups, sizeof groups);
    r.fc.report = out;
    r.fc.n = n_counts;
    int rc = (r.fc.counts = hp_malloc(n_counts * sizeof *counts, "the token counts", err)) ? 0 : -1;
    if (rc == 0) {
        memcpy(r.fc.counts, counts, n_counts * sizeof *counts);
        rc = run(&r, model, NULL, NULL, r.groups_path, false, err);
    }
    if (rc == 0) {
        norms_print(&r);
        rc = norms_write_report(&r, out, err);
    }
    run_free(&r);
    return rc;
}

int cmd_norms(int argc, char **argv)
{
    enum { O_VECTORS = 1000, O_VOCAB, O_GROUPS, O_FREQ, O_BINS, O_NOPCA };
    static const struct option OPTS[] = {
        {"vectors", required_argument, NULL, O_VECTORS},
        {"vocab", required_argument, NULL, O_VOCAB},
        {"groups", required_argument, NULL, O_GROUPS},
        {"freq", required_argument, NULL, O_FREQ},
        {"bins-per-decade", required_argument, NULL, O_BINS},
        {"no-pca", no_argument, NULL, O_NOPCA},
        {"output", required_argument, NULL, 'o'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *vectors = NULL, *vocab = NULL, *groups = NULL, *out = NULL, *freq = NULL;
    norms_run r;
    run_init(&r, NULL, NULL);
    long v;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "o:h", OPTS, NULL)) != -1) {
        switch (c) {
        case O_VECTORS:
            vectors = optarg;
            break;
        case O_VOCAB:
            vocab = optarg;
            break;
        case O_GROUPS:
            groups = optarg;
            break;
        case O_FREQ:
            freq = optarg;
            break;
        case O_BINS:
            if (!cli_parse_int("norms", "--bins-per-decade", optarg, 1, 100, &v))
                return EXIT_USAGE;
            r.bins_per_decade = (int)v;
            break;
        case O_NOPCA:
            r.do_pca = false;
            break;
        case 'o':
            out = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("norms", "invalid option");
        }
    }
    const char *model = optind < argc ? argv[optind] : NULL;
    if (!out)
        return cli_usage_error("norms", "-o REPORT is required (it also holds /freq)");
    if (!model == !vectors || optind + (model ? 1 : 0) != argc)
        return cli_usage_error("norms", "give one MODEL, or --vectors FILE");
    if (vocab && !vectors)
        return cli_usage_error("norms", "--vocab goes with --vectors");
    char groups_buf[4096];
    bool groups_given = groups != NULL;
    if (!groups)
        groups = default_groups(groups_buf, sizeof groups_buf);
    r.is_vectors = vectors != NULL;
    r.freq_report = freq ? freq : out;
    r.groups_path = groups;
    r.input = model ? model : vectors;
    hp_err err;
    int rc = run(&r, model, vectors, vocab, groups, groups_given, &err) == 0 &&
                     (norms_print(&r), norms_write_report(&r, out, &err) == 0)
                 ? EXIT_OK
                 : cli_fail(&err);
    run_free(&r);
    return rc;
}

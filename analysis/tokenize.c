/* `hyplora tokenize`: text to token ids (one line of ids per input line or JSON item), or
 * ids back to text with --decode. Lines are read in batches, encoded on worker threads
 * in chunks handed out in order, and printed in input order. */
#include <getopt.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const char *HELP =
    "usage: hyplora tokenize --tokenizer PATH [--add-special] [--decode] [--skip-special]\n"
    "                        [--field F] [FILE|-]\n"
    "\n"
    "Encodes text with a Hugging Face tokenizer.json, GPT-2's vocab.json + merges.txt (or\n"
    "encoder.json + vocab.bpe), or the tokenizer inside a GGUF file, giving the ids the\n"
    "reference implementation gives. Prints one line of space-separated ids per input line\n"
    "(a line ending in \"\\r\\n\" loses both characters; an empty line gives an empty line).\n"
    "A .json (array) or .jsonl file is read item by item instead: the string field --field\n"
    "of each item (or the item itself when it is a string) gives one line of ids.\n"
    "Invalid UTF-8 is read as Python's errors=\"replace\" would: each ill-formed sequence\n"
    "becomes U+FFFD. Reads standard input when FILE is - or absent.\n"
    "\n"
    "With --decode the input is lines of ids and the output is their text, one line per\n"
    "line; a newline in the text is written as \\n and a backslash as \\\\ (nothing else is\n"
    "escaped), so each output line is exactly one input line.\n"
    "\n"
    "Options:\n"
    "  --tokenizer PATH  tokenizer.json, a directory holding one, vocab.json / encoder.json\n"
    "                    (merges beside it) or a .gguf model\n"
    "  --add-special     add the post-processor's special tokens (BOS/EOS...) as the\n"
    "                    reference does with add_special_tokens=True\n"
    "  --decode          ids to text\n"
    "  --skip-special    with --decode: leave special tokens out of the text\n"
    "  --field F         the field of each JSON item to encode (e.g. instruction)\n"
    "  -h, --help        this text\n"
    "The global --threads N sets the worker threads (default: all cores).\n"
    "\n"
    "Example:\n"
    "  echo 'I believe the meaning of life is' | \\\n"
    "    hyplora tokenize --tokenizer notebooks-data/tokenizers/llama2/tokenizer.json --add-special\n"
    "  1 306 4658 278 6593 310 2834 338\n"
    "  hyplora tokenize --tokenizer llama3/tokenizer.json --field instruction data.json > ids.txt\n"
    "  hyplora tokenize --tokenizer llama3/tokenizer.json --decode ids.txt\n";

#define CHUNK 64

typedef struct job {
    const hp_tokenizer *tok;
    bool decode, add_special, skip_special;
    const hp_corpus_batch *b; /* the batch being encoded */
    const char *input;        /* its file, for messages */
    /* outputs, one buffer per chunk of CHUNK lines */
    char **out;
    size_t *out_n;
    atomic_size_t next_chunk;
    atomic_int failed;
    pthread_mutex_t lock;
    hp_err err;
    size_t err_line; /* line or item of the first failure */
} job;

typedef struct obuf {
    char *p;
    size_t n, cap;
} obuf;

static int oput(obuf *o, const char *s, size_t n)
{
    if (o->cap - o->n < n + 1) {
        size_t cap = o->cap ? o->cap : 4096;
        while (cap - o->n < n + 1)
            cap *= 2;
        char *p = realloc(o->p, cap);
        if (!p)
            return -1;
        o->p = p;
        o->cap = cap;
    }
    memcpy(o->p + o->n, s, n);
    o->n += n;
    return 0;
}

static int put_int(obuf *o, int32_t v)
{
    char tmp[16];
    int k = 0;
    uint32_t u = v < 0 ? (uint32_t)(-(int64_t)v) : (uint32_t)v;
    do {
        tmp[k++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        tmp[k++] = '-';
    char rev[16];
    for (int i = 0; i < k; i++)
        rev[i] = tmp[k - 1 - i];
    return oput(o, rev, (size_t)k);
}

/* "12 7 99" -> ids; returns -1 with a message on anything else. */
static int parse_ids(const char *s, size_t n, hp_ids *ids, hp_err *err)
{
    size_t i = 0;
    ids->n = 0;
    while (i < n) {
        while (i < n && (s[i] == ' ' || s[i] == '\t'))
            i++;
        if (i >= n)
            break;
        size_t start = i;
        int64_t v = 0;
        while (i < n && s[i] >= '0' && s[i] <= '9' && v <= INT32_MAX)
            v = v * 10 + (s[i++] - '0');
        if (i == start || v > INT32_MAX || (i < n && s[i] != ' ' && s[i] != '\t'))
            return hp_fail(err, "expected token ids (non-negative integers separated by spaces), "
                                "found \"%.*s\"", (int)(n - start > 40 ? 40 : n - start), s + start);
        if (hp_ids_push(ids, (int32_t)v, err) != 0)
            return -1;
    }
    return 0;
}

static int do_line(job *j, size_t i, hp_ids *ids, obuf *o, hp_err *err)
{
    const char *s = j->b->text[i];
    size_t n = j->b->len[i];
    if (!j->decode) {
        ids->n = 0;
        if (hp_tokenizer_encode(j->tok, s, n, j->add_special, ids, err) != 0)
            return -1;
        for (size_t k = 0; k < ids->n; k++)
            if ((k && oput(o, " ", 1) != 0) || put_int(o, ids->ids[k]) != 0)
                return hp_fail(err, "out of memory for the output");
        return oput(o, "\n", 1) == 0 ? 0 : hp_fail(err, "out of memory for the output");
    }
    if (parse_ids(s, n, ids, err) != 0)
        return -1;
    char *text;
    size_t tl;
    if (hp_tokenizer_decode(j->tok, ids->ids, ids->n, j->skip_special, &text, &tl, err) != 0)
        return -1;
    int rc = 0;
    size_t a = 0;
    for (size_t k = 0; k < tl && rc == 0; k++) {
        if (text[k] != '\n' && text[k] != '\\')
            continue;
        rc = oput(o, text + a, k - a) | oput(o, text[k] == '\n' ? "\\n" : "\\\\", 2);
        a = k + 1;
    }
    if (rc == 0)
        rc = oput(o, text + a, tl - a) | oput(o, "\n", 1);
    free(text);
    return rc == 0 ? 0 : hp_fail(err, "out of memory for the output");
}

static void *worker(void *arg)
{
    job *j = arg;
    hp_ids ids = {0};
    size_t n_chunks = (j->b->n + CHUNK - 1) / CHUNK;
    for (;;) {
        size_t c = atomic_fetch_add(&j->next_chunk, 1);
        if (c >= n_chunks || atomic_load(&j->failed))
            break;
        obuf o = {0};
        size_t end = (c + 1) * CHUNK < j->b->n ? (c + 1) * CHUNK : j->b->n;
        for (size_t i = c * CHUNK; i < end; i++) {
            hp_err err;
            if (do_line(j, i, &ids, &o, &err) != 0) {
                pthread_mutex_lock(&j->lock);
                if (!atomic_load(&j->failed) || j->b->record[i] < j->err_line) {
                    j->err = err;
                    j->err_line = j->b->record[i];
                }
                atomic_store(&j->failed, 1);
                pthread_mutex_unlock(&j->lock);
                break;
            }
        }
        j->out[c] = o.p;
        j->out_n[c] = o.n;
    }
    hp_ids_free(&ids);
    return NULL;
}

static int n_threads(void)
{
    if (g_cli.threads > 0)
        return g_cli.threads;
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* Encodes (or decodes) a batch on the worker threads and writes it out in order. */
static int on_batch(const hp_corpus_batch *b, void *ctx, hp_err *err)
{
    job *j = ctx;
    j->b = b;
    size_t n_chunks = (b->n + CHUNK - 1) / CHUNK;
    j->out = calloc(n_chunks, sizeof *j->out);
    j->out_n = calloc(n_chunks, sizeof *j->out_n);
    if (!j->out || !j->out_n) {
        free(j->out);
        free(j->out_n);
        return hp_fail(err, "out of memory");
    }
    atomic_store(&j->next_chunk, 0);
    int nt = n_threads();
    if ((size_t)nt > n_chunks)
        nt = (int)n_chunks;
    pthread_t *th = calloc((size_t)nt, sizeof *th);
    int started = 0;
    for (int i = 1; th && i < nt; i++, started++)
        if (pthread_create(&th[i], NULL, worker, j) != 0)
            break;
    worker(j);
    for (int i = 1; i <= started; i++)
        pthread_join(th[i], NULL);
    free(th);
    int rc = 0;
    if (atomic_load(&j->failed))
        rc = hp_fail(err, "%s: %s %zu: %s", j->input, hp_corpus_is_json(j->input) ? "item" : "line",
                     j->err_line, j->err.msg);
    for (size_t c = 0; c < n_chunks; c++) {
        if (rc == 0 && j->out_n[c] && fwrite(j->out[c], 1, j->out_n[c], stdout) != j->out_n[c])
            rc = hp_fail(err, "cannot write the output");
        free(j->out[c]);
    }
    free(j->out);
    free(j->out_n);
    j->out = NULL;
    j->out_n = NULL;
    return rc;
}

int cmd_tokenize(int argc, char **argv)
{
    static const struct option OPTS[] = {
        {"tokenizer", required_argument, NULL, 't'},
        {"add-special", no_argument, NULL, 'a'},
        {"decode", no_argument, NULL, 'd'},
        {"skip-special", no_argument, NULL, 's'},
        {"field", required_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *tok_path = NULL, *field = NULL;
    bool decode = false, add_special = false, skip_special = false;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        switch (c) {
        case 't':
            tok_path = optarg;
            break;
        case 'a':
            add_special = true;
            break;
        case 'd':
            decode = true;
            break;
        case 's':
            skip_special = true;
            break;
        case 'f':
            field = optarg;
            break;
        case 'h':
            fputs(HELP, stdout);
            return EXIT_OK;
        default:
            return cli_usage_error("tokenize", "unknown option");
        }
    }
    if (!tok_path)
        return cli_usage_error("tokenize", "--tokenizer PATH is required");
    if (optind < argc - 1)
        return cli_usage_error("tokenize", "expected at most one input FILE");
    const char *input = optind < argc ? argv[optind] : "-";
    bool json = strcmp(input, "-") != 0 && hp_corpus_is_json(input);
    if (decode && (json || field))
        return cli_usage_error("tokenize", "--decode reads lines of ids, not JSON (--field)");
    if (skip_special && !decode)
        return cli_usage_error("tokenize", "--skip-special goes with --decode");
    if (field && !json)
        return cli_usage_error("tokenize", "--field needs a .json or .jsonl input file");

    hp_err err;
    hp_tokenizer *tok = hp_tokenizer_load(tok_path, &err);
    if (!tok)
        return cli_fail(&err);
    cli_verbose("tokenizer: %s", hp_tokenizer_describe(tok));
    job j;
    memset(&j, 0, sizeof j);
    j.tok = tok;
    j.decode = decode;
    j.add_special = add_special;
    j.skip_special = skip_special;
    j.input = strcmp(input, "-") == 0 ? "standard input" : input;
    pthread_mutex_init(&j.lock, NULL);
    hp_corpus_options co;
    hp_corpus_options_init(&co);
    co.fields = &field;
    co.n_fields = field ? 1 : 0;
    int rc = hp_corpus_each(input, &co, on_batch, &j, &err);
    if (rc == 0 && fflush(stdout) != 0)
        rc = hp_fail(&err, "cannot write the output");
    hp_tokenizer_free(tok);
    pthread_mutex_destroy(&j.lock);
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

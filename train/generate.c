/* `hyplora generate`: continues a prompt with the model, greedy by default or sampled
 * (temperature, top-p), streaming the text as it is decoded. The prompt runs through the
 * model once to fill the KV cache; each new token is then one decoding step. */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/rng.h"
#include "model_session.h"

static const char *HELP =
    "usage: hyplora generate MODEL (--prompt TEXT | --prompt-ids IDS) [options]\n"
    "\n"
    "Continues the prompt with the model (a Hugging Face directory or a GGUF file) and prints\n"
    "the new text as it is decoded. Greedy (the most likely token at each step) unless a\n"
    "temperature is given; stops at the end-of-sequence token, after --max-new tokens, or\n"
    "when the model's context is full.\n"
    "\n"
    "Options:\n"
    "  --prompt TEXT     the prompt, encoded with the tokenizer's special tokens (BOS...)\n"
    "  --prompt-ids IDS  the prompt as token ids (\"1,306,4658\"), no tokenizer needed\n"
    "  --template NAME   wrap the prompt as the instruction of a prompt template: alpaca,\n"
    "                    llm-adapters or a JSON template file (docs/instruction-data.md)\n"
    "  --max-new N       tokens to generate at most (64)\n"
    "  --temperature T   sample from softmax(logits / T); 0 is greedy (0)\n"
    "  --top-p P         sample only from the most likely tokens whose probabilities add up\n"
    "                    to P (1: all)\n"
    "  --seed S          random seed for sampling (0)\n"
    "  --ignore-eos      go on past the end-of-sequence token\n"
    "  --json            print one JSON object at the end instead of streaming:\n"
    "                    {\"prompt_ids\": [...], \"ids\": [...], \"text\": \"...\"} (ids: the new\n"
    "                    tokens, without the end-of-sequence token that stopped them)\n"
    "  --adapter DIR     a LoRA or HypLoRA adapter (PEFT directory, as hyplora train\n"
    "                    writes) on the model\n" MODEL_SESSION_HELP
    "  -h, --help        this text\n"
    "\n"
    "Example:\n"
    "  hyplora generate my-model --prompt 'The capital of France is' --max-new 16\n"
    "  hyplora generate my-model --template alpaca --prompt 'Add 3 and 4.' --temperature 0.7 --top-p 0.9\n";

typedef struct gen_opts {
    const char *model, *prompt, *prompt_ids, *tokenizer, *adapter;
    hp_template template_;
    bool use_template, ignore_eos, json;
    long max_new;
    double temperature, top_p;
    uint64_t seed;
    hp_fwd_weights weights;
} gen_opts;

static bool parse_options(int argc, char **argv, gen_opts *o, int *status)
{
    enum { O_PROMPT = 256, O_IDS, O_TEMPLATE, O_MAXNEW, O_TEMP, O_TOPP, O_SEED, O_EOS, O_JSON, O_TOK, O_W, O_ADAPTER };
    static const struct option OPTS[] = {
        {"prompt", required_argument, NULL, O_PROMPT},     {"prompt-ids", required_argument, NULL, O_IDS},
        {"template", required_argument, NULL, O_TEMPLATE}, {"max-new", required_argument, NULL, O_MAXNEW},
        {"temperature", required_argument, NULL, O_TEMP},  {"top-p", required_argument, NULL, O_TOPP},
        {"seed", required_argument, NULL, O_SEED},         {"ignore-eos", no_argument, NULL, O_EOS},
        {"json", no_argument, NULL, O_JSON},               {"tokenizer", required_argument, NULL, O_TOK},
        {"weights", required_argument, NULL, O_W},         {"adapter", required_argument, NULL, O_ADAPTER},
        {"help", no_argument, NULL, 'h'},
        {0, 0, 0, 0},
    };
    const char *cmd = "generate";
    int c;
    long v;
    optind = 1;
    *status = EXIT_USAGE;
    while ((c = getopt_long(argc, argv, "h", OPTS, NULL)) != -1) {
        switch (c) {
        case O_PROMPT: o->prompt = optarg; break;
        case O_IDS: o->prompt_ids = optarg; break;
        case O_TEMPLATE:
            if (!cli_template(cmd, optarg, &o->template_))
                return false;
            o->use_template = true;
            break;
        case O_MAXNEW:
            if (!cli_parse_int(cmd, "--max-new", optarg, 0, 1 << 24, &o->max_new))
                return false;
            break;
        case O_TEMP:
            if (!cli_parse_double(cmd, "--temperature", optarg, 0, 1e6, &o->temperature))
                return false;
            break;
        case O_TOPP:
            if (!cli_parse_double(cmd, "--top-p", optarg, 1e-9, 1, &o->top_p))
                return false;
            break;
        case O_SEED:
            if (!cli_parse_int(cmd, "--seed", optarg, 0, 0x7fffffffL, &v))
                return false;
            o->seed = (uint64_t)v;
            break;
        case O_EOS: o->ignore_eos = true; break;
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
    if (optind + 1 != argc)
        return cli_usage_error(cmd, optind == argc ? "MODEL is required" : "unexpected argument '%s'",
                               argv[optind + (optind < argc)]), false;
    o->model = argv[optind];
    if (!o->prompt == !o->prompt_ids)
        return cli_usage_error(cmd, "give the prompt with --prompt TEXT or --prompt-ids IDS (one of them)"), false;
    if (o->use_template && !o->prompt)
        return cli_usage_error(cmd, "--template needs --prompt TEXT"), false;
    return true;
}

/* "1,306,4658" (commas or spaces) -> ids. */
static int parse_id_list(const char *s, hp_ids *ids, hp_err *err)
{
    while (*s) {
        while (*s == ',' || *s == ' ')
            s++;
        if (!*s)
            break;
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v < 0 || v > INT32_MAX || (*end && *end != ',' && *end != ' '))
            return hp_fail(err, "--prompt-ids: expected token ids separated by commas, found \"%.20s\"", s);
        if (hp_ids_push(ids, (int32_t)v, err))
            return -1;
        s = end;
    }
    return ids->n ? 0 : hp_fail(err, "--prompt-ids: no token ids given");
}

static int prompt_tokens(const gen_opts *o, const model_session *s, hp_ids *ids, hp_err *err)
{
    if (o->prompt_ids)
        return parse_id_list(o->prompt_ids, ids, err);
    char *text = o->use_template ? hp_template_format(&o->template_, o->prompt, NULL, NULL, err) : strdup(o->prompt);
    if (!text)
        return hp_fail(err, "out of memory");
    int rc = hp_tokenizer_encode(s->tok, text, strlen(text), true, ids, err);
    free(text);
    if (rc == 0 && ids->n == 0)
        rc = hp_fail(err, "the prompt encodes to no tokens");
    return rc;
}

typedef struct cand {
    float p;
    int32_t id;
} cand;

static int by_p_desc(const void *a, const void *b)
{
    float x = ((const cand *)a)->p, y = ((const cand *)b)->p;
    if (x != y)
        return x < y ? 1 : -1;
    return ((const cand *)a)->id - ((const cand *)b)->id;
}

/* Samples from softmax(logits / T) restricted to the smallest set of most likely tokens
 * whose probabilities reach top_p (the nucleus). */
static int32_t sample(const float *logits, int V, double T, double top_p, hp_rng *rng, cand *c)
{
    float mx = logits[hp_fwd_argmax(logits, V)];
    double sum = 0;
    for (int i = 0; i < V; i++) {
        c[i] = (cand){(float)exp((logits[i] - mx) / T), i};
        sum += c[i].p;
    }
    qsort(c, (size_t)V, sizeof *c, by_p_desc);
    int keep = 0;
    double mass = 0;
    while (keep < V && (keep == 0 || mass < top_p * sum))
        mass += c[keep++].p;
    double u = hp_rng_uniform(rng) * mass;
    for (int i = 0; i < keep; i++) {
        u -= c[i].p;
        if (u < 0)
            return c[i].id;
    }
    return c[keep - 1].id;
}

/* Length of the prefix of s that ends on a whole character: a trailing U+FFFD may be the
 * start of a character whose remaining bytes are still to come (byte-level tokenizers), so
 * it is held back. */
static size_t settled(const char *s, size_t n)
{
    while (n >= 3 && (unsigned char)s[n - 3] == 0xEF && (unsigned char)s[n - 2] == 0xBF &&
           (unsigned char)s[n - 1] == 0xBD)
        n -= 3;
    return n;
}

/* True for a byte-fallback token, "<0xHH>". */
static bool is_byte_token(const hp_tokenizer *tok, int32_t id)
{
    size_t len;
    const char *t = hp_tokenizer_token(tok, id, &len);
    return t && len == 6 && memcmp(t, "<0x", 3) == 0 && t[5] == '>';
}

typedef struct streamer {
    const hp_tokenizer *tok;
    size_t printed;
} streamer;

/* Prints the text of ids beyond what was printed already. Until the end (final) it holds
 * back a trailing run of byte-fallback tokens, because the decoder turns a run that is not
 * valid UTF-8 into U+FFFD as a whole, and the next byte may change what the run decodes
 * to; what is printed is then always a prefix of the final text. */
static int stream_text(streamer *st, const hp_ids *ids, bool final, hp_err *err)
{
    size_t n = ids->n;
    while (!final && n > 0 && is_byte_token(st->tok, ids->ids[n - 1]))
        n--;
    char *text;
    size_t len;
    if (hp_tokenizer_decode(st->tok, ids->ids, n, true, &text, &len, err))
        return -1;
    size_t upto = final ? len : settled(text, len);
    if (upto > st->printed) {
        fwrite(text + st->printed, 1, upto - st->printed, stdout);
        fflush(stdout);
        st->printed = upto;
    }
    free(text);
    return 0;
}

static void json_ids(const char *key, const hp_ids *ids)
{
    printf("\"%s\": [", key);
    for (size_t i = 0; i < ids->n; i++)
        printf("%s%d", i ? ", " : "", (int)ids->ids[i]);
    printf("]");
}

static void json_string(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

static int print_json(const model_session *s, const hp_ids *prompt, const hp_ids *out, hp_err *err)
{
    char *text = NULL;
    size_t len;
    if (s->tok && hp_tokenizer_decode(s->tok, out->ids, out->n, true, &text, &len, err))
        return -1;
    printf("{");
    json_ids("prompt_ids", prompt);
    printf(", ");
    json_ids("ids", out);
    printf(", \"text\": ");
    if (text)
        json_string(text);
    else
        printf("null");
    printf("}\n");
    free(text);
    return 0;
}

static int generate(const gen_opts *o, const model_session *s, hp_err *err)
{
    const hp_fwd_model *fm = s->fm;
    int V = fm->config.vocab_size, ctx = fm->config.max_position_embeddings;
    hp_ids prompt = {0}, out = {0};
    int rc = prompt_tokens(o, s, &prompt, err);
    int P = (int)prompt.n;
    if (rc == 0 && ctx > 0 && P > ctx)
        rc = hp_fail(err, "the prompt has %d tokens but the model's context holds %d", P, ctx);
    long max_new = o->max_new;
    if (rc == 0 && ctx > 0 && P + max_new > ctx) {
        max_new = ctx - P;
        cli_note("the context holds %d tokens: generating at most %ld", ctx, max_new);
    }
    int capacity = P + (int)max_new;
    hp_fwd_acts *acts = rc == 0 ? hp_fwd_acts_new(fm, 1, P, false, err) : NULL;
    hp_fwd_cache *cache = acts ? hp_fwd_cache_new(fm, 1, capacity, err) : NULL;
    float *logits = cache ? hp_malloc((size_t)V * sizeof *logits, "the logits", err) : NULL;
    cand *cands = logits && o->temperature > 0 ? hp_malloc((size_t)V * sizeof *cands, "the sampler", err) : NULL;
    rc = logits && (o->temperature == 0 || cands) ? 0 : -1;
    if (rc == 0)
        rc = hp_fwd_run(fm, acts, cache, prompt.ids, NULL, 1, P, NULL, NULL, err);
    if (rc == 0)
        hp_fwd_last_logits(fm, acts, NULL, 1, P, logits);
    hp_rng rng;
    hp_rng_seed(&rng, o->seed);
    int32_t eos = s->tok ? hp_tokenizer_eos(s->tok) : fm->config.eos_token_id;
    streamer st = {s->tok, 0};
    bool stream = !o->json && s->tok;
    for (long i = 0; rc == 0 && i < max_new; i++) {
        int32_t next = o->temperature > 0 ? sample(logits, V, o->temperature, o->top_p, &rng, cands)
                                          : hp_fwd_argmax(logits, V);
        if (next == eos && !o->ignore_eos)
            break;
        rc = hp_ids_push(&out, next, err);
        if (rc == 0 && stream)
            rc = stream_text(&st, &out, false, err);
        else if (rc == 0 && !o->json)
            printf("%s%d", i ? " " : "", (int)next), fflush(stdout);
        if (rc == 0 && i + 1 < max_new)
            rc = hp_fwd_decode(fm, cache, &next, 1, logits, err);
    }
    if (rc == 0 && stream)
        rc = stream_text(&st, &out, true, err);
    if (rc == 0 && !o->json)
        putchar('\n');
    if (rc == 0 && o->json)
        rc = print_json(s, &prompt, &out, err);
    free(cands);
    free(logits);
    hp_fwd_cache_free(cache);
    hp_fwd_acts_free(acts);
    hp_ids_free(&prompt);
    hp_ids_free(&out);
    return rc;
}

int cmd_generate(int argc, char **argv)
{
    gen_opts o = {.max_new = 64, .top_p = 1.0, .weights = HP_FWD_WEIGHTS_AUTO};
    int status;
    if (!parse_options(argc, argv, &o, &status))
        return hp_template_free(&o.template_), status;
    hp_err err;
    model_session s;
    int rc = model_session_open(&s, o.model, o.tokenizer, o.weights, o.prompt != NULL, &err);
    if (rc == 0 && o.adapter)
        rc = model_session_adapter(&s, o.adapter, &err);
    if (rc == 0)
        rc = generate(&o, &s, &err);
    model_session_close(&s);
    hp_template_free(&o.template_);
    return rc == 0 ? EXIT_OK : cli_fail(&err);
}

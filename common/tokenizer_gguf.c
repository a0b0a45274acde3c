/* The tokenizer stored in a GGUF file (tokenizer.ggml.*), so a GGUF model needs no
 * separate tokenizer.json.
 *
 *   model "llama": SentencePiece BPE. The file has token scores, not merges: two adjacent
 *     symbols merge when their concatenation is a token, the highest-scoring such token
 *     first, leftmost among equal scores (llama.cpp and SentencePiece). That is BPE with a
 *     merge (a, b) -> ab for every token ab that splits into two tokens, ranked by ab's
 *     score, which is how we build it. Text gets "▁" prepended (add_space_prefix, default
 *     true) and spaces become "▁"; unknown characters fall back to <0xXX> byte tokens.
 *   model "gpt2": byte-level BPE from tokenizer.ggml.merges, with the pre-tokenizer regex
 *     named by tokenizer.ggml.pre (default/gpt2, llama3/llama-bpe/llama-v3, qwen2).
 * token_type marks control tokens (3: special added tokens) and user-defined ones (4:
 * added tokens that are not special); add_bos_token / add_eos_token give the ids
 * add_special puts around the text. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/gguf.h"
#include "tokenizer_impl.h"

enum { TT_NORMAL = 1, TT_UNKNOWN = 2, TT_CONTROL = 3, TT_USER = 4, TT_UNUSED = 5, TT_BYTE = 6 };

typedef struct scored {
    double score;
    int32_t id;
} scored;

static int by_score_desc(const void *a, const void *b)
{
    const scored *x = a, *y = b;
    if (x->score != y->score)
        return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* Merges from scores: every token that splits into two tokens, ranked by its score. */
static int spm_merges(hp_tokenizer *t, const hp_gguf_kv *scores, const char *path, hp_err *err)
{
    size_t n = t->vocab.n_ids;
    scored *order = hp_malloc(n * sizeof *order, "token scores", err);
    if (!order)
        return -1;
    for (size_t i = 0; i < n; i++) {
        double s;
        if (hp_gguf_arr_f64(scores, i, &s) != 0 || !isfinite(s)) {
            free(order);
            return hp_fail(err, "%s: tokenizer.ggml.scores[%zu] is not a finite number", path, i);
        }
        order[i] = (scored){s, (int32_t)i};
    }
    qsort(order, n, sizeof *order, by_score_desc);
    /* equal scores share a rank, so the leftmost pair wins among them, as in llama.cpp */
    size_t count = 0;
    for (size_t pass = 0; pass < 2; pass++) {
        if (pass == 1 && tk_mergemap_init(&t->bpe.merges, count, err) != 0) {
            free(order);
            return -1;
        }
        int32_t rank = -1;
        double prev = NAN;
        for (size_t k = 0; k < n; k++) {
            int32_t id = order[k].id;
            if (!(order[k].score == prev))
                rank++;
            prev = order[k].score;
            if (!t->model_token[id])
                continue;
            size_t len = 0;
            const char *s = tk_vocab_str(&t->vocab, id, &len);
            for (size_t cut = 1; cut < len; cut++) {
                if (((unsigned char)s[cut] & 0xc0) == 0x80)
                    continue; /* not a character boundary */
                int32_t a = tk_vocab_find(&t->vocab, s, cut);
                int32_t b = tk_vocab_find(&t->vocab, s + cut, len - cut);
                if (a < 0 || b < 0 || !t->model_token[a] || !t->model_token[b])
                    continue;
                if (pass == 0)
                    count++;
                else
                    tk_mergemap_put(&t->bpe.merges, a, b, rank, id);
            }
        }
    }
    free(order);
    return 0;
}

static int get_id(const hp_gguf *g, const char *key, int32_t *out, hp_err *err)
{
    if (!hp_gguf_get(g, key))
        return 0;
    uint64_t v;
    if (hp_gguf_get_u64(g, key, &v, err) != 0)
        return -1;
    *out = v < INT32_MAX ? (int32_t)v : -1;
    return 0;
}

static int get_flag(const hp_gguf *g, const char *key, bool def, bool *out, hp_err *err)
{
    *out = def;
    return hp_gguf_get(g, key) ? hp_gguf_get_bool(g, key, out, err) : 0;
}

static int llama_components(hp_tokenizer *t, bool add_space_prefix, hp_err *err)
{
    /* normalizer: [Prepend "▁"] + Replace " " -> "▁" */
    tk_normalizer *nm = hp_calloc(1, sizeof *nm, "a normalizer", err);
    if (!nm)
        return -1;
    t->normalizer = nm;
    nm->type = TK_NORM_SEQUENCE;
    nm->items = hp_calloc(2, sizeof *nm->items, "a normalizer", err);
    if (!nm->items)
        return -1;
    size_t k = 0;
    static const char META[] = "\xe2\x96\x81";
    if (add_space_prefix) {
        nm->items[k].type = TK_NORM_PREPEND;
        nm->items[k].content = hp_strdup(META, err);
        nm->items[k].content_len = 3;
        if (!nm->items[k++].content)
            return -1;
    }
    nm->n_items = k + 1;
    nm->items[k].type = TK_NORM_REPLACE;
    nm->items[k].content = hp_strdup(META, err);
    nm->items[k].content_len = 3;
    if (!nm->items[k].content || tk_pattern_literal(&nm->items[k].pattern, " ", 1, err) != 0)
        return -1;
    /* decoder: Replace "▁" -> " ", ByteFallback, Fuse, Strip one leading space */
    if (tk_decoder_simple(t, TK_DEC_SEQUENCE, err) != 0)
        return -1;
    tk_decoder *d = t->decoder;
    d->items = hp_calloc(4, sizeof *d->items, "a decoder", err);
    if (!d->items)
        return -1;
    d->n_items = add_space_prefix ? 4 : 3;
    d->items[0].type = TK_DEC_REPLACE;
    d->items[0].content = hp_strdup(" ", err);
    d->items[0].content_len = 1;
    if (!d->items[0].content || tk_pattern_literal(&d->items[0].pattern, META, 3, err) != 0)
        return -1;
    d->items[1].type = TK_DEC_BYTEFALLBACK;
    d->items[2].type = TK_DEC_FUSE;
    d->items[3].type = TK_DEC_STRIP;
    d->items[3].strip_char = ' ';
    d->items[3].strip_start = 1;
    return 0;
}

int tk_load_gguf(hp_tokenizer *t, const hp_gguf *g, hp_err *err)
{
    const char *path = t->path;
    const char *model = hp_gguf_get_str(g, "tokenizer.ggml.model", err);
    if (!model)
        return hp_failctx(err, "%s: no tokenizer in this GGUF file", path);
    bool spm = strcmp(model, "llama") == 0;
    if (!spm && strcmp(model, "gpt2") != 0)
        return hp_fail(err, "%s: tokenizer.ggml.model \"%s\" is not supported (llama or gpt2)", path,
                       model);
    const hp_gguf_kv *tokens = hp_gguf_get_array(g, "tokenizer.ggml.tokens", HP_GGUF_STRING, err);
    if (!tokens)
        return -1;
    size_t n = tokens->arr.count;
    if (n == 0 || n > INT32_MAX)
        return hp_fail(err, "%s: tokenizer.ggml.tokens has %zu entries", path, n);
    const hp_gguf_kv *types = NULL, *scores = NULL, *merges = NULL;
    if (hp_gguf_get(g, "tokenizer.ggml.token_type")) {
        types = hp_gguf_get_array(g, "tokenizer.ggml.token_type", HP_GGUF_INT32, err);
        if (!types)
            return -1;
        if (types->arr.count != n)
            return hp_fail(err, "%s: tokenizer.ggml.token_type has %llu entries but there are %zu tokens",
                           path, (unsigned long long)types->arr.count, n);
    }
    if (spm) {
        scores = hp_gguf_get_array(g, "tokenizer.ggml.scores", HP_GGUF_FLOAT32, err);
        if (!scores)
            return -1;
        if (scores->arr.count != n)
            return hp_fail(err, "%s: tokenizer.ggml.scores has %llu entries but there are %zu tokens",
                           path, (unsigned long long)scores->arr.count, n);
    } else {
        merges = hp_gguf_get_array(g, "tokenizer.ggml.merges", HP_GGUF_STRING, err);
        if (!merges)
            return -1;
    }
    if (tk_init_vocab(t, n, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        size_t len;
        const char *s = hp_gguf_arr_str(tokens, i, &len);
        char where[1100];
        snprintf(where, sizeof where, "%s: tokenizer.ggml.tokens[%zu]", path, i);
        if (!s || tk_set_token(t, (int32_t)i, s, len, where, err) != 0)
            return s ? -1 : hp_fail(err, "%s: unreadable", where);
    }
    if (spm) {
        if (spm_merges(t, scores, path, err) != 0)
            return -1;
        t->bpe.byte_fallback = true;
    } else {
        if (tk_mergemap_init(&t->bpe.merges, merges->arr.count, err) != 0)
            return -1;
        for (uint64_t i = 0; i < merges->arr.count; i++) {
            size_t len;
            const char *s = hp_gguf_arr_str(merges, i, &len);
            char where[1100];
            snprintf(where, sizeof where, "%s: tokenizer.ggml.merges", path);
            if (!s || tk_add_merge(t, (int32_t)i, s, len, where, err) != 0)
                return -1;
        }
    }
    /* control and user-defined tokens become added tokens */
    for (size_t i = 0; types && i < n; i++) {
        int64_t ty;
        if (hp_gguf_arr_i64(types, i, &ty) != 0)
            return hp_fail(err, "%s: tokenizer.ggml.token_type[%zu] is unreadable", path, i);
        if (ty != TT_CONTROL && ty != TT_USER && ty != TT_UNKNOWN)
            continue;
        size_t len = 0;
        const char *s = tk_vocab_str(&t->vocab, (int32_t)i, &len);
        if (!s || len == 0)
            continue;
        if (tk_add_token(t, (int32_t)i, s, len, ty != TT_USER, false, false, false, false, err) != 0)
            return hp_failctx(err, "%s: tokenizer.ggml.tokens[%zu]", path, i);
    }
    int32_t bos = -1, eos = -1, unk = -1;
    if (get_id(g, "tokenizer.ggml.bos_token_id", &bos, err) != 0 ||
        get_id(g, "tokenizer.ggml.eos_token_id", &eos, err) != 0 ||
        get_id(g, "tokenizer.ggml.unknown_token_id", &unk, err) != 0)
        return -1;
    for (int k = 0; k < 3; k++) {
        int32_t id = k == 0 ? bos : k == 1 ? eos : unk;
        if (id >= (int32_t)n)
            return hp_fail(err, "%s: tokenizer.ggml.%s_token_id %d is past the %zu tokens", path,
                           k == 0 ? "bos" : k == 1 ? "eos" : "unknown", (int)id, n);
    }
    t->bos = bos;
    t->eos = eos;
    bool add_bos, add_eos;
    if (get_flag(g, "tokenizer.ggml.add_bos_token", spm, &add_bos, err) != 0 ||
        get_flag(g, "tokenizer.ggml.add_eos_token", false, &add_eos, err) != 0)
        return -1;
    if (add_bos && bos >= 0) {
        t->post.prefix = hp_malloc(sizeof *t->post.prefix, "post-processor ids", err);
        if (!t->post.prefix)
            return -1;
        t->post.prefix[t->post.n_prefix++] = bos;
    }
    if (add_eos && eos >= 0) {
        t->post.suffix = hp_malloc(sizeof *t->post.suffix, "post-processor ids", err);
        if (!t->post.suffix)
            return -1;
        t->post.suffix[t->post.n_suffix++] = eos;
    }
    if (spm) {
        t->bpe.unk_id = unk >= 0 ? unk : tk_vocab_find(&t->vocab, "<unk>", 5);
        bool asp;
        if (get_flag(g, "tokenizer.ggml.add_space_prefix", true, &asp, err) != 0 ||
            llama_components(t, asp, err) != 0)
            return -1;
        return tk_finish(t, "SentencePiece-style from GGUF scores", err);
    }
    const char *pre = "default";
    if (hp_gguf_get(g, "tokenizer.ggml.pre") && !(pre = hp_gguf_get_str(g, "tokenizer.ggml.pre", err)))
        return -1;
    const char *re;
    if (strcmp(pre, "default") == 0 || strcmp(pre, "gpt2") == 0 || strcmp(pre, "gpt-2") == 0)
        re = TK_GPT2_REGEX;
    else if (strcmp(pre, "llama3") == 0 || strcmp(pre, "llama-bpe") == 0 ||
             strcmp(pre, "llama-v3") == 0) {
        re = TK_LLAMA3_REGEX;
        t->bpe.ignore_merges = true; /* as Llama 3's tokenizer.json says */
    } else if (strcmp(pre, "qwen2") == 0)
        re = TK_QWEN2_REGEX;
    else
        return hp_fail(err, "%s: tokenizer.ggml.pre \"%s\" is not supported (default, gpt2, llama3, "
                       "llama-bpe, qwen2)", path, pre);
    if (tk_pretok_bytelevel_regex(t, re, false, err) != 0 ||
        tk_decoder_simple(t, TK_DEC_BYTELEVEL, err) != 0)
        return -1;
    return tk_finish(t, "byte-level from GGUF merges", err);
}

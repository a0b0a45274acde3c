/* Loading a Hugging Face tokenizer.json: the BPE model (vocab, merges in either
 * encoding), added tokens, and the normalizer / pre-tokenizer / post-processor / decoder
 * trees. Anything we do not implement fails here, naming the component and its place in
 * the file, so that no text is ever tokenized differently from the reference in silence.
 * `dropout` is accepted (null or a number) and ignored: inference is deterministic. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

typedef struct ctx {
    hp_tokenizer *t;
    const char *path;
    hp_err *err;
} ctx;

static int fail(ctx *c, const char *where, const char *what)
{
    return hp_fail(c->err, "%s: %s: %s", c->path, where, what);
}

static const cJSON *field(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return v && !cJSON_IsNull(v) ? v : NULL;
}

static int get_bool(ctx *c, const cJSON *o, const char *key, bool def, bool *out, const char *where)
{
    const cJSON *v = field(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsBool(v))
        return hp_fail(c->err, "%s: %s.%s must be true or false", c->path, where, key);
    *out = cJSON_IsTrue(v);
    return 0;
}

static const char *get_str(ctx *c, const cJSON *o, const char *key, bool required,
                           const char *where)
{
    const cJSON *v = field(o, key);
    if (!v) {
        if (required)
            hp_fail(c->err, "%s: %s.%s is missing (a string is required)", c->path, where, key);
        return NULL;
    }
    if (!cJSON_IsString(v)) {
        hp_fail(c->err, "%s: %s.%s must be a string", c->path, where, key);
        return NULL;
    }
    return v->valuestring;
}

static int get_uint(ctx *c, const cJSON *o, const char *key, size_t def, size_t *out,
                    const char *where)
{
    const cJSON *v = field(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 || v->valuedouble > 1e9 ||
        floor(v->valuedouble) != v->valuedouble)
        return hp_fail(c->err, "%s: %s.%s must be a non-negative integer", c->path, where, key);
    *out = (size_t)v->valuedouble;
    return 0;
}

/* A string holding exactly one character (Metaspace replacement, Strip content). */
static int get_char(ctx *c, const cJSON *o, const char *key, uint32_t def, uint32_t *out,
                    const char *where)
{
    const cJSON *v = field(o, key);
    if (!v) {
        *out = def;
        return 0;
    }
    size_t n = cJSON_IsString(v) ? strlen(v->valuestring) : 0;
    uint32_t cp = 0;
    if (n == 0 || tk_utf8_next(v->valuestring, n, &cp) != n)
        return hp_fail(c->err, "%s: %s.%s must be a string of one character", c->path, where, key);
    *out = cp;
    return 0;
}

static int parse_pattern(ctx *c, const cJSON *o, tk_pattern *p, const char *where)
{
    char w[256];
    snprintf(w, sizeof w, "%s.pattern", where);
    const cJSON *pat = field(o, "pattern");
    if (!cJSON_IsObject(pat))
        return fail(c, w, "missing or not an object ({\"String\": ...} or {\"Regex\": ...})");
    const cJSON *s = field(pat, "String"), *r = field(pat, "Regex");
    if (cJSON_IsString(s))
        return tk_pattern_literal(p, s->valuestring, strlen(s->valuestring), c->err);
    if (cJSON_IsString(r)) {
        char full[300];
        snprintf(full, sizeof full, "%s: %s", c->path, w);
        return tk_regex_compile(p, r->valuestring, full, c->err);
    }
    return fail(c, w, "must hold a \"String\" or a \"Regex\" string");
}

static int unsupported(ctx *c, const char *where, const char *type)
{
    return hp_fail(c->err, "%s: %s type \"%s\" is not supported", c->path, where, type);
}

static const char *type_of(ctx *c, const cJSON *o, const char *where)
{
    if (!cJSON_IsObject(o)) {
        fail(c, where, "must be an object or null");
        return NULL;
    }
    return get_str(c, o, "type", true, where);
}

/* Copies a JSON string into a malloc'd buffer. */
static int dup_str(ctx *c, const char *s, char **out, size_t *len)
{
    *len = strlen(s);
    *out = hp_malloc(*len + 1, "a tokenizer string", c->err);
    if (!*out)
        return -1;
    memcpy(*out, s, *len + 1);
    return 0;
}

/* The elements of a Sequence's list, each parsed by fn into items[i]. */
#define PARSE_LIST(c, o, key, where, items, n_items, fn)                                       \
    do {                                                                                      \
        const cJSON *list_ = field(o, key);                                                   \
        char w_[256];                                                                         \
        snprintf(w_, sizeof w_, "%s.%s", where, key);                                         \
        if (!cJSON_IsArray(list_))                                                            \
            return fail(c, w_, "missing or not an array");                                    \
        size_t n_ = (size_t)cJSON_GetArraySize(list_);                                        \
        items = hp_calloc(n_ ? n_ : 1, sizeof *items, "tokenizer components", (c)->err);     \
        if (!items)                                                                           \
            return -1;                                                                        \
        size_t i_ = 0;                                                                        \
        for (const cJSON *e_ = list_->child; e_; e_ = e_->next, i_++) {                       \
            char wi_[300];                                                                    \
            snprintf(wi_, sizeof wi_, "%s[%zu]", w_, i_);                                     \
            n_items = i_ + 1;                                                                 \
            if (fn(c, e_, &items[i_], wi_) != 0)                                              \
                return -1;                                                                    \
        }                                                                                     \
        n_items = i_;                                                                         \
    } while (0)

/* ---- normalizer -------------------------------------------------------------------- */

static int parse_normalizer(ctx *c, const cJSON *o, tk_normalizer *nm, const char *where)
{
    const char *type = type_of(c, o, where);
    if (!type)
        return -1;
    static const struct {
        const char *name;
        tk_norm_type type;
    } simple[] = {{"NFC", TK_NORM_NFC},   {"NFD", TK_NORM_NFD},
                  {"NFKC", TK_NORM_NFKC}, {"NFKD", TK_NORM_NFKD},
                  {"Lowercase", TK_NORM_LOWERCASE}};
    for (size_t i = 0; i < sizeof simple / sizeof simple[0]; i++)
        if (strcmp(type, simple[i].name) == 0) {
            nm->type = simple[i].type;
            return 0;
        }
    if (strcmp(type, "Prepend") == 0 || strcmp(type, "Append") == 0) {
        bool pre = type[0] == 'P';
        nm->type = pre ? TK_NORM_PREPEND : TK_NORM_APPEND;
        const char *s = get_str(c, o, pre ? "prepend" : "append", true, where);
        return s ? dup_str(c, s, &nm->content, &nm->content_len) : -1;
    }
    if (strcmp(type, "Replace") == 0) {
        nm->type = TK_NORM_REPLACE;
        const char *s = get_str(c, o, "content", true, where);
        if (!s || dup_str(c, s, &nm->content, &nm->content_len) != 0)
            return -1;
        return parse_pattern(c, o, &nm->pattern, where);
    }
    if (strcmp(type, "Strip") == 0) {
        nm->type = TK_NORM_STRIP;
        if (get_bool(c, o, "strip_left", true, &nm->strip_left, where) != 0 ||
            get_bool(c, o, "strip_right", true, &nm->strip_right, where) != 0)
            return -1;
        return 0;
    }
    if (strcmp(type, "Sequence") == 0) {
        nm->type = TK_NORM_SEQUENCE;
        PARSE_LIST(c, o, "normalizers", where, nm->items, nm->n_items, parse_normalizer);
        return 0;
    }
    return unsupported(c, where, type);
}

/* ---- pre-tokenizer ----------------------------------------------------------------- */

static int parse_behavior(ctx *c, const cJSON *o, tk_split_behavior def, tk_split_behavior *out,
                          const char *where)
{
    const cJSON *v = field(o, "behavior");
    if (!v) {
        *out = def;
        return 0;
    }
    static const struct {
        const char *name;
        tk_split_behavior b;
    } names[] = {{"Removed", TK_SPLIT_REMOVED},
                 {"Isolated", TK_SPLIT_ISOLATED},
                 {"MergedWithPrevious", TK_SPLIT_MERGED_PREV},
                 {"MergedWithNext", TK_SPLIT_MERGED_NEXT},
                 {"Contiguous", TK_SPLIT_CONTIGUOUS}};
    if (cJSON_IsString(v))
        for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
            if (strcmp(v->valuestring, names[i].name) == 0) {
                *out = names[i].b;
                return 0;
            }
    return hp_fail(c->err,
                   "%s: %s.behavior must be one of Removed, Isolated, MergedWithPrevious, "
                   "MergedWithNext, Contiguous",
                   c->path, where);
}

static int parse_prepend_scheme(ctx *c, const cJSON *o, tk_prepend_scheme *out, const char *where)
{
    const cJSON *v = field(o, "prepend_scheme");
    if (!v) {
        /* files from before prepend_scheme existed say add_prefix_space */
        bool aps = true;
        if (get_bool(c, o, "add_prefix_space", true, &aps, where) != 0)
            return -1;
        *out = aps ? TK_PREPEND_ALWAYS : TK_PREPEND_NEVER;
        return 0;
    }
    if (cJSON_IsString(v)) {
        if (strcmp(v->valuestring, "always") == 0)
            return *out = TK_PREPEND_ALWAYS, 0;
        if (strcmp(v->valuestring, "first") == 0)
            return *out = TK_PREPEND_FIRST, 0;
        if (strcmp(v->valuestring, "never") == 0)
            return *out = TK_PREPEND_NEVER, 0;
    }
    return hp_fail(c->err, "%s: %s.prepend_scheme must be \"always\", \"first\" or \"never\"",
                   c->path, where);
}

const char TK_GPT2_REGEX[] =
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+";
const char TK_LLAMA3_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const char TK_QWEN2_REGEX[] =
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";

static int parse_pretok(ctx *c, const cJSON *o, tk_pretok *pt, const char *where)
{
    const char *type = type_of(c, o, where);
    if (!type)
        return -1;
    char full[300];
    snprintf(full, sizeof full, "%s: %s", c->path, where);
    if (strcmp(type, "ByteLevel") == 0) {
        pt->type = TK_PRE_BYTELEVEL;
        if (get_bool(c, o, "add_prefix_space", true, &pt->add_prefix_space, where) != 0 ||
            get_bool(c, o, "use_regex", true, &pt->use_regex, where) != 0)
            return -1;
        return pt->use_regex ? tk_regex_compile(&pt->pattern, TK_GPT2_REGEX, full, c->err) : 0;
    }
    if (strcmp(type, "Split") == 0) {
        pt->type = TK_PRE_SPLIT;
        if (parse_pattern(c, o, &pt->pattern, where) != 0 ||
            parse_behavior(c, o, TK_SPLIT_ISOLATED, &pt->behavior, where) != 0 ||
            get_bool(c, o, "invert", false, &pt->invert, where) != 0)
            return -1;
        if (!field(o, "behavior"))
            return fail(c, where, "behavior is missing");
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        pt->type = TK_PRE_METASPACE;
        if (get_char(c, o, "replacement", 0x2581, &pt->replacement, where) != 0 ||
            parse_prepend_scheme(c, o, &pt->prepend, where) != 0 ||
            get_bool(c, o, "split", true, &pt->split, where) != 0)
            return -1;
        return 0;
    }
    if (strcmp(type, "Digits") == 0) {
        pt->type = TK_PRE_DIGITS;
        return get_bool(c, o, "individual_digits", false, &pt->individual_digits, where);
    }
    if (strcmp(type, "Whitespace") == 0) {
        /* the words and the runs of other non-space characters, spaces dropped */
        pt->type = TK_PRE_WHITESPACE;
        pt->behavior = TK_SPLIT_REMOVED;
        pt->invert = true;
        return tk_regex_compile(&pt->pattern, "\\w+|[^\\w\\s]+", full, c->err);
    }
    if (strcmp(type, "WhitespaceSplit") == 0) {
        pt->type = TK_PRE_WHITESPACE_SPLIT;
        return 0;
    }
    if (strcmp(type, "Punctuation") == 0) {
        pt->type = TK_PRE_PUNCTUATION;
        return parse_behavior(c, o, TK_SPLIT_ISOLATED, &pt->behavior, where);
    }
    if (strcmp(type, "Sequence") == 0) {
        pt->type = TK_PRE_SEQUENCE;
        PARSE_LIST(c, o, "pretokenizers", where, pt->items, pt->n_items, parse_pretok);
        return 0;
    }
    return unsupported(c, where, type);
}

/* ---- post-processor ---------------------------------------------------------------- */

static int check_id(ctx *c, const cJSON *v, int32_t *out, const char *where)
{
    if (!cJSON_IsNumber(v) || v->valuedouble < 0 ||
        v->valuedouble >= (double)c->t->vocab.n_ids || floor(v->valuedouble) != v->valuedouble)
        return hp_fail(c->err, "%s: %s: expected a token id below %zu", c->path, where,
                       c->t->vocab.n_ids);
    *out = (int32_t)v->valuedouble;
    return 0;
}

static int push_id(ctx *c, int32_t **v, size_t *n, int32_t id, bool front)
{
    int32_t *p = hp_realloc(*v, (*n + 1) * sizeof *p, "post-processor ids", c->err);
    if (!p)
        return -1;
    if (front) {
        memmove(p + 1, p, *n * sizeof *p);
        p[0] = id;
    } else {
        p[*n] = id;
    }
    *v = p;
    (*n)++;
    return 0;
}

/* Adds one post-processor around what is already in c->t->post (a Sequence applies its
 * processors in order, each wrapping the previous result). */
static int parse_post(ctx *c, const cJSON *o, const char *where)
{
    const char *type = type_of(c, o, where);
    if (!type)
        return -1;
    tk_post *post = &c->t->post;
    char w[300];
    if (strcmp(type, "ByteLevel") == 0)
        return 0; /* only trims offsets, which we do not report */
    if (strcmp(type, "Sequence") == 0) {
        const cJSON *list = field(o, "processors");
        snprintf(w, sizeof w, "%s.processors", where);
        if (!cJSON_IsArray(list))
            return fail(c, w, "missing or not an array");
        size_t i = 0;
        for (const cJSON *e = list->child; e; e = e->next, i++) {
            char wi[320];
            snprintf(wi, sizeof wi, "%s[%zu]", w, i);
            if (parse_post(c, e, wi) != 0)
                return -1;
        }
        return 0;
    }
    if (strcmp(type, "RobertaProcessing") == 0 || strcmp(type, "BertProcessing") == 0) {
        int32_t cls = 0, sep = 0;
        const cJSON *jc = field(o, "cls"), *js = field(o, "sep");
        snprintf(w, sizeof w, "%s.cls[1]", where);
        if (check_id(c, cJSON_GetArrayItem(jc, 1), &cls, w) != 0)
            return -1;
        snprintf(w, sizeof w, "%s.sep[1]", where);
        if (check_id(c, cJSON_GetArrayItem(js, 1), &sep, w) != 0)
            return -1;
        return push_id(c, &post->prefix, &post->n_prefix, cls, true) != 0 ||
                       push_id(c, &post->suffix, &post->n_suffix, sep, false) != 0
                   ? -1
                   : 0;
    }
    if (strcmp(type, "TemplateProcessing") != 0)
        return unsupported(c, where, type);
    const cJSON *single = field(o, "single"), *specials = field(o, "special_tokens");
    snprintf(w, sizeof w, "%s.single", where);
    if (!cJSON_IsArray(single))
        return fail(c, w, "missing or not an array");
    int32_t *pre = NULL, *suf = NULL;
    size_t npre = 0, nsuf = 0, i = 0;
    bool seen_a = false;
    int rc = -1;
    for (const cJSON *e = single->child; e; e = e->next, i++) {
        char wi[320];
        snprintf(wi, sizeof wi, "%s[%zu]", w, i);
        const cJSON *sp = field(e, "SpecialToken"), *sq = field(e, "Sequence");
        if (sq) {
            seen_a = true;
            continue;
        }
        const char *name = cJSON_IsObject(sp) ? get_str(c, sp, "id", true, wi) : NULL;
        if (!name) {
            if (!cJSON_IsObject(sp))
                fail(c, wi, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
            goto out;
        }
        const cJSON *st = field(specials, name);
        const cJSON *ids = field(st, "ids");
        if (!cJSON_IsArray(ids)) {
            hp_fail(c->err, "%s: %s: special token \"%s\" is not in %s.special_tokens (with \"ids\")",
                    c->path, wi, name, where);
            goto out;
        }
        size_t k = 0;
        for (const cJSON *d = ids->child; d; d = d->next, k++) {
            char wk[360];
            snprintf(wk, sizeof wk, "%s.special_tokens.\"%s\".ids[%zu]", where, name, k);
            int32_t id = 0;
            if (check_id(c, d, &id, wk) != 0 ||
                push_id(c, seen_a ? &suf : &pre, seen_a ? &nsuf : &npre, id, false) != 0)
                goto out;
        }
    }
    /* wrap: new prefix before the old one, new suffix after the old one */
    for (size_t k = npre; k-- > 0;)
        if (push_id(c, &post->prefix, &post->n_prefix, pre[k], true) != 0)
            goto out;
    for (size_t k = 0; k < nsuf; k++)
        if (push_id(c, &post->suffix, &post->n_suffix, suf[k], false) != 0)
            goto out;
    rc = 0;
out:
    free(pre);
    free(suf);
    return rc;
}

/* ---- decoder ----------------------------------------------------------------------- */

static int parse_decoder(ctx *c, const cJSON *o, tk_decoder *d, const char *where)
{
    const char *type = type_of(c, o, where);
    if (!type)
        return -1;
    if (strcmp(type, "ByteLevel") == 0) {
        d->type = TK_DEC_BYTELEVEL;
        return 0;
    }
    if (strcmp(type, "ByteFallback") == 0) {
        d->type = TK_DEC_BYTEFALLBACK;
        return 0;
    }
    if (strcmp(type, "Fuse") == 0) {
        d->type = TK_DEC_FUSE;
        return 0;
    }
    if (strcmp(type, "Metaspace") == 0) {
        d->type = TK_DEC_METASPACE;
        if (get_char(c, o, "replacement", 0x2581, &d->replacement, where) != 0)
            return -1;
        return parse_prepend_scheme(c, o, &d->prepend, where);
    }
    if (strcmp(type, "Strip") == 0) {
        d->type = TK_DEC_STRIP;
        if (get_char(c, o, "content", ' ', &d->strip_char, where) != 0 ||
            get_uint(c, o, "start", 0, &d->strip_start, where) != 0 ||
            get_uint(c, o, "stop", 0, &d->strip_stop, where) != 0)
            return -1;
        return 0;
    }
    if (strcmp(type, "Replace") == 0) {
        d->type = TK_DEC_REPLACE;
        const char *s = get_str(c, o, "content", true, where);
        if (!s || dup_str(c, s, &d->content, &d->content_len) != 0)
            return -1;
        return parse_pattern(c, o, &d->pattern, where);
    }
    if (strcmp(type, "Sequence") == 0) {
        d->type = TK_DEC_SEQUENCE;
        PARSE_LIST(c, o, "decoders", where, d->items, d->n_items, parse_decoder);
        return 0;
    }
    return unsupported(c, where, type);
}

/* ---- the model --------------------------------------------------------------------- */

static int is_id(const cJSON *v, double limit)
{
    return cJSON_IsNumber(v) && v->valuedouble >= 0 && v->valuedouble < limit &&
           floor(v->valuedouble) == v->valuedouble;
}

static int parse_vocab(ctx *c, const cJSON *model, const cJSON *added)
{
    hp_tokenizer *t = c->t;
    const cJSON *vocab = field(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return fail(c, "model.vocab", "missing or not an object of token -> id");
    size_t n_vocab = 0, n_added = 0;
    for (const cJSON *e = vocab->child; e; e = e->next)
        n_vocab++;
    if (added)
        for (const cJSON *e = added->child; e; e = e->next)
            n_added++;
    /* Ids are dense in practice. Some holes are allowed, but not so many that a hostile
     * file makes us allocate per an absurd largest id. */
    double limit = 2.0 * (double)(n_vocab + n_added) + 1024;
    double max_id = -1;
    for (const cJSON *e = vocab->child; e; e = e->next) {
        if (!is_id(e, limit))
            return hp_fail(c->err,
                           "%s: model.vocab entry \"%s\": id must be an integer from 0 to %.0f "
                           "(twice the %zu vocab entries and %zu added tokens, plus 1024)",
                           c->path, e->string, limit - 1, n_vocab, n_added);
        if (e->valuedouble > max_id)
            max_id = e->valuedouble;
    }
    size_t i = 0;
    if (added)
        for (const cJSON *e = added->child; e; e = e->next, i++) {
            const cJSON *id = field(e, "id");
            if (!is_id(id, limit))
                return hp_fail(c->err,
                               "%s: added_tokens[%zu]: \"id\" must be an integer from 0 to %.0f "
                               "(twice the %zu vocab entries and %zu added tokens, plus 1024)",
                               c->path, i, limit - 1, n_vocab, n_added);
            if (id->valuedouble > max_id)
                max_id = id->valuedouble;
        }
    size_t n_ids = (size_t)(max_id + 1);
    if (tk_vocab_init(&t->vocab, n_ids, n_vocab + n_added, c->err) != 0)
        return -1;
    t->model_token = hp_calloc(n_ids, 1, "the vocabulary", c->err);
    t->added_of_id = hp_malloc(n_ids * sizeof *t->added_of_id, "the vocabulary", c->err);
    if (!t->model_token || !t->added_of_id)
        return -1;
    memset(t->added_of_id, 0xff, n_ids * sizeof *t->added_of_id);
    for (const cJSON *e = vocab->child; e; e = e->next) {
        int32_t id = (int32_t)e->valuedouble, dup;
        size_t len;
        const char *have = tk_vocab_str(&t->vocab, id, &len);
        if (have)
            return hp_fail(c->err, "%s: model.vocab: id %d is given to both \"%.*s\" and \"%s\"",
                           c->path, (int)id, (int)len, have, e->string);
        if (tk_vocab_set(&t->vocab, id, e->string, strlen(e->string), &dup, c->err) != 0) {
            if (dup >= 0)
                return hp_fail(c->err, "%s: model.vocab: token \"%s\" appears twice (ids %d and %d)",
                               c->path, e->string, (int)dup, (int)id);
            return -1;
        }
        t->model_token[id] = 1;
    }
    return 0;
}

static int parse_merges(ctx *c, const cJSON *model)
{
    hp_tokenizer *t = c->t;
    const cJSON *merges = field(model, "merges");
    if (merges && !cJSON_IsArray(merges))
        return fail(c, "model.merges", "must be an array");
    size_t n = 0;
    if (merges)
        for (const cJSON *e = merges->child; e; e = e->next)
            n++;
    if (tk_mergemap_init(&t->bpe.merges, n, c->err) != 0)
        return -1;
    tk_buf cat = {0};
    size_t rank = 0;
    int rc = -1;
    for (const cJSON *e = merges ? merges->child : NULL; e; e = e->next, rank++) {
        const char *a, *b;
        size_t al, bl;
        if (cJSON_IsString(e)) {
            const char *s = e->valuestring, *sp = strchr(s, ' ');
            if (!sp || strchr(sp + 1, ' ')) {
                hp_fail(c->err, "%s: model.merges[%zu] \"%s\": expected two tokens separated by one space",
                        c->path, rank, s);
                goto out;
            }
            a = s, al = (size_t)(sp - s), b = sp + 1, bl = strlen(b);
        } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 &&
                   cJSON_IsString(e->child) && cJSON_IsString(e->child->next)) {
            a = e->child->valuestring, al = strlen(a);
            b = e->child->next->valuestring, bl = strlen(b);
        } else {
            hp_fail(c->err, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]", c->path, rank);
            goto out;
        }
        int32_t ia = tk_vocab_find(&t->vocab, a, al), ib = tk_vocab_find(&t->vocab, b, bl);
        /* the merged token: b loses the continuing-subword prefix it carries */
        const char *b2 = b;
        size_t b2l = bl;
        if (t->bpe.cont_prefix && bl >= t->bpe.cont_prefix_len &&
            memcmp(b, t->bpe.cont_prefix, t->bpe.cont_prefix_len) == 0)
            b2 += t->bpe.cont_prefix_len, b2l -= t->bpe.cont_prefix_len;
        cat.n = 0;
        if (tk_buf_put(&cat, a, al, c->err) != 0 || tk_buf_put(&cat, b2, b2l, c->err) != 0)
            goto out;
        int32_t im = tk_vocab_find(&t->vocab, cat.p, cat.n);
        if (ia < 0 || ib < 0 || im < 0) {
            const char *which = ia < 0 ? a : ib < 0 ? b : cat.p;
            int wl = (int)(ia < 0 ? al : ib < 0 ? bl : cat.n);
            hp_fail(c->err, "%s: model.merges[%zu] \"%.*s\" + \"%.*s\": \"%.*s\" is not in the vocabulary",
                    c->path, rank, (int)al, a, (int)bl, b, wl, which);
            goto out;
        }
        tk_mergemap_put(&t->bpe.merges, ia, ib, (int32_t)rank, im);
    }
    rc = 0;
out:
    tk_buf_free(&cat);
    return rc;
}

static int parse_added(ctx *c, const cJSON *added)
{
    size_t i = 0;
    for (const cJSON *e = added ? added->child : NULL; e; e = e->next, i++) {
        char w[64];
        snprintf(w, sizeof w, "added_tokens[%zu]", i);
        const char *content = get_str(c, e, "content", true, w);
        if (!content)
            return -1;
        bool special = false, lstrip = false, rstrip = false, single = false, norm = false;
        if (get_bool(c, e, "special", false, &special, w) != 0 ||
            get_bool(c, e, "lstrip", false, &lstrip, w) != 0 ||
            get_bool(c, e, "rstrip", false, &rstrip, w) != 0 ||
            get_bool(c, e, "single_word", false, &single, w) != 0 ||
            get_bool(c, e, "normalized", !special, &norm, w) != 0)
            return -1;
        int32_t id = (int32_t)field(e, "id")->valuedouble; /* checked by parse_vocab */
        if (tk_add_token(c->t, id, content, strlen(content), special, lstrip, rstrip, single, norm,
                         c->err) != 0)
            return hp_failctx(c->err, "%s: added_tokens[%zu] \"%s\"", c->path, i, content);
    }
    return 0;
}

static int parse_model(ctx *c, const cJSON *root)
{
    hp_tokenizer *t = c->t;
    const cJSON *model = field(root, "model");
    if (!cJSON_IsObject(model))
        return fail(c, "model", "missing or not an object");
    const cJSON *type = field(model, "type");
    if (type && !cJSON_IsString(type))
        return fail(c, "model.type", "must be a string");
    if (type && strcmp(type->valuestring, "BPE") != 0)
        return hp_fail(c->err, "%s: model type \"%s\" is not supported (only BPE models are)",
                       c->path, type->valuestring);
    if (!type && !field(model, "merges"))
        return fail(c, "model", "has no \"type\" and no \"merges\": not a BPE model");
    const cJSON *added = field(root, "added_tokens");
    if (added && !cJSON_IsArray(added))
        return fail(c, "added_tokens", "must be an array");
    const cJSON *dropout = field(model, "dropout");
    if (dropout && (!cJSON_IsNumber(dropout) || dropout->valuedouble < 0 || dropout->valuedouble > 1))
        return fail(c, "model.dropout", "must be null or a number from 0 to 1");
    const char *s;
    if ((s = get_str(c, model, "continuing_subword_prefix", false, "model")) && *s &&
        dup_str(c, s, &t->bpe.cont_prefix, &t->bpe.cont_prefix_len) != 0)
        return -1;
    if ((s = get_str(c, model, "end_of_word_suffix", false, "model")) && *s &&
        dup_str(c, s, &t->bpe.eow_suffix, &t->bpe.eow_suffix_len) != 0)
        return -1;
    if (get_bool(c, model, "byte_fallback", false, &t->bpe.byte_fallback, "model") != 0 ||
        get_bool(c, model, "ignore_merges", false, &t->bpe.ignore_merges, "model") != 0 ||
        get_bool(c, model, "fuse_unk", false, &t->bpe.fuse_unk, "model") != 0)
        return -1;
    if (parse_vocab(c, model, added) != 0 || parse_merges(c, model) != 0)
        return -1;
    const char *unk = get_str(c, model, "unk_token", false, "model");
    if (field(model, "unk_token") && !unk)
        return -1;
    if (unk) {
        t->bpe.unk_id = tk_vocab_find(&t->vocab, unk, strlen(unk));
        if (t->bpe.unk_id < 0)
            return hp_fail(c->err, "%s: model.unk_token \"%s\" is not in the vocabulary", c->path, unk);
    }
    return parse_added(c, added);
}

int tk_load_json(hp_tokenizer *t, const char *json, size_t len, hp_err *err)
{
    ctx c = {t, t->path, err};
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root)
        return hp_fail(err, "%s: not valid JSON (near byte %zu)", t->path,
                       end ? (size_t)(end - json) : 0);
    int rc = -1;
    if (!cJSON_IsObject(root)) {
        fail(&c, "top level", "expected a JSON object");
        goto out;
    }
    if (parse_model(&c, root) != 0)
        goto out;
    const cJSON *o;
    if ((o = field(root, "normalizer"))) {
        t->normalizer = hp_calloc(1, sizeof *t->normalizer, "a normalizer", err);
        if (!t->normalizer || parse_normalizer(&c, o, t->normalizer, "normalizer") != 0)
            goto out;
    }
    if ((o = field(root, "pre_tokenizer"))) {
        t->pretok = hp_calloc(1, sizeof *t->pretok, "a pre-tokenizer", err);
        if (!t->pretok || parse_pretok(&c, o, t->pretok, "pre_tokenizer") != 0)
            goto out;
    }
    if ((o = field(root, "post_processor")) && parse_post(&c, o, "post_processor") != 0)
        goto out;
    if ((o = field(root, "decoder"))) {
        t->decoder = hp_calloc(1, sizeof *t->decoder, "a decoder", err);
        if (!t->decoder || parse_decoder(&c, o, t->decoder, "decoder") != 0)
            goto out;
    }
    bool bytelevel = false;
    for (const tk_pretok *p = t->pretok; p;) {
        if (p->type == TK_PRE_BYTELEVEL)
            bytelevel = true;
        if (p->type == TK_PRE_SEQUENCE) {
            for (size_t i = 0; i < p->n_items; i++)
                if (p->items[i].type == TK_PRE_BYTELEVEL)
                    bytelevel = true;
        }
        break;
    }
    rc = tk_finish(t, bytelevel ? "byte-level" : t->bpe.byte_fallback ? "SentencePiece-style with byte fallback" : "character-level", err);
out:
    cJSON_Delete(root);
    return rc;
}

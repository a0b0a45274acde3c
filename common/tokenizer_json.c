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

/* model.vocab or model.merges read from the file text (see find_big): the value's text
 * from its opening bracket, and its number of entries; p NULL: it is in the cJSON tree. */
typedef struct big_part {
    const char *p;
    size_t len, n;
} big_part;

typedef struct big_text {
    big_part vocab, merges;
} big_text;

typedef struct ctx {
    hp_tokenizer *t;
    const char *path;
    hp_err *err;
    big_text big;
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

/* ---- model.vocab and model.merges straight from the text ---------------------------
 *
 * Nearly all of a large tokenizer.json is these two members (Llama 3: 128k vocab entries
 * and 280k merges in 9 MB). A cJSON tree of them costs a node and a string allocation per
 * entry, about a third of the load time, and scatters the strings over the heap. So when
 * both have the plain shape real files have, load cuts them out of the text, lets cJSON
 * parse the rest (with `{}` and `[]` in their place) and reads them from the text.
 *
 * "Plain": strings without control bytes whose escapes are the simple ones or \uXXXX
 * outside the surrogates and U+0000; ids of at most 15 digits; merges that are "a b"
 * strings or ["a", "b"] pairs of strings; member names (up to model.vocab/merges) without
 * escapes, so that they compare as cJSON compares them. Anything else, and any syntax
 * error, drops the fast path and the whole file goes through cJSON as before: every
 * message for bad input is the one that path gives. A plain value read here decodes to
 * exactly what cJSON gives for it. */

/* A cursor over JSON text; strings with escapes are decoded into buf[0] or buf[1]. */
typedef struct jscan {
    const char *p, *end;
    bool started; /* inside an object or array: an element was read, a comma comes next */
    tk_buf *buf;
} jscan;

static void js_ws(jscan *s)
{
    while (s->p < s->end && (*s->p == ' ' || *s->p == '\n' || *s->p == '\r' || *s->p == '\t'))
        s->p++;
}

static bool js_peek(const jscan *s, char ch)
{
    return s->p < s->end && *s->p == ch;
}

/* Enters the object or array whose bracket is at s->p. */
static bool js_open(jscan *s, char bracket)
{
    if (!js_peek(s, bracket))
        return false;
    s->p++;
    s->started = false;
    return true;
}

/* Steps to the next element of the object or array being read: 1 if there is one, 0
 * past the closing bracket, -1 when the text is not plain. */
static int js_next(jscan *s, char close)
{
    js_ws(s);
    if (js_peek(s, close)) {
        s->p++;
        return 0;
    }
    if (s->started) {
        if (!js_peek(s, ','))
            return -1;
        s->p++;
        js_ws(s);
    }
    s->started = true;
    return s->p < s->end ? 1 : -1;
}

/* The code point of the four hex digits at p, or 0 where we leave the string to cJSON
 * (not hex, a surrogate, U+0000). */
static uint32_t js_hex4(const char *p)
{
    uint32_t cp = 0;
    for (int i = 0; i < 4; i++) {
        char h = p[i];
        int d = h >= '0' && h <= '9' ? h - '0' : h >= 'a' && h <= 'f' ? h - 'a' + 10
                : h >= 'A' && h <= 'F' ? h - 'A' + 10 : -1;
        if (d < 0)
            return 0;
        cp = cp << 4 | (uint32_t)d;
    }
    return cp >= 0xd800 && cp <= 0xdfff ? 0 : cp;
}

/* The rest of a string with escapes, from q (a backslash or control byte; a..q is plain)
 * decoded into b. */
static bool js_string_escaped(jscan *s, tk_buf *b, const char *a, const char *q)
{
    static const char esc[] = "\"\\/bfnrt", dec[] = "\"\\/\b\f\n\r\t";
    hp_err ignored; /* out of memory: the cJSON path meets it too and says so */
    b->n = 0;
    if (tk_buf_put(b, a, (size_t)(q - a), &ignored) != 0)
        return false;
    while (q < s->end) {
        unsigned char ch = (unsigned char)*q;
        if (ch == '"') {
            s->p = q + 1;
            return true;
        }
        if (ch < 0x20)
            return false;
        if (ch != '\\') {
            if (tk_buf_putc(b, (char)ch, &ignored) != 0)
                return false;
            q++;
            continue;
        }
        if (q + 1 >= s->end)
            return false;
        const char *e = q[1] ? strchr(esc, q[1]) : NULL;
        if (e) {
            if (tk_buf_putc(b, dec[e - esc], &ignored) != 0)
                return false;
            q += 2;
            continue;
        }
        uint32_t cp = q[1] == 'u' && s->end - q >= 6 ? js_hex4(q + 2) : 0;
        if (cp == 0 || tk_buf_put_cp(b, cp, &ignored) != 0)
            return false;
        q += 6;
    }
    return false;
}

/* A string at s->p: 1 with *out (into the text), 2 with *out decoded into buf[k], 0 when
 * not plain. */
static int js_string(jscan *s, int k, const char **out, size_t *n)
{
    if (!js_peek(s, '"'))
        return 0;
    const char *a = s->p + 1, *q = a;
    while (q < s->end && *q != '"' && *q != '\\' && (unsigned char)*q >= 0x20)
        q++;
    if (q < s->end && *q == '"') {
        *out = a;
        *n = (size_t)(q - a);
        s->p = q + 1;
        return 1;
    }
    if (!js_string_escaped(s, &s->buf[k], a, q))
        return 0;
    *out = s->buf[k].p;
    *n = s->buf[k].n;
    return 2;
}

/* A non-negative integer of at most 15 digits (exact as a double; cJSON reads the number
 * with strtod, which gives the same value). */
static bool js_uint(jscan *s, double *v)
{
    const char *a = s->p;
    uint64_t x = 0;
    while (s->p < s->end && *s->p >= '0' && *s->p <= '9' && s->p - a <= 15)
        x = x * 10 + (uint64_t)(*s->p++ - '0');
    if (s->p == a || s->p - a > 15)
        return false;
    if (s->p < s->end && *s->p && strchr("+-.eE", *s->p))
        return false; /* a fraction or exponent: cJSON's */
    *v = (double)x;
    return true;
}

/* The next member name of the object being read, s->p left at its value: 1, 0 past the
 * end of the object, -1 when not plain (a name with escapes could decode to the name we
 * look for). */
static int js_member(jscan *s, const char **key, size_t *klen)
{
    int r = js_next(s, '}');
    if (r <= 0)
        return r;
    if (js_string(s, 0, key, klen) != 1)
        return -1;
    js_ws(s);
    if (!js_peek(s, ':'))
        return -1;
    s->p++;
    js_ws(s);
    return 1;
}

/* Skips one value of any kind. It need not check it: what is skipped stays in the text
 * that cJSON parses. False at the end of the text. */
static bool js_skip(jscan *s)
{
    int depth = 0;
    while (s->p < s->end) {
        char ch = *s->p;
        if (depth == 0 && (ch == ',' || ch == '}' || ch == ']'))
            return true; /* after a number or literal */
        s->p++;
        if (ch == '"') {
            while (s->p < s->end && *s->p != '"')
                s->p += *s->p == '\\' ? 2 : 1;
            if (s->p >= s->end)
                return false;
            s->p++;
            if (depth == 0)
                return true;
        } else if (ch == '{' || ch == '[') {
            depth++;
        } else if (ch == '}' || ch == ']') {
            if (--depth == 0)
                return true;
        }
    }
    return false;
}

/* One entry of model.vocab. */
typedef struct vocab_ent {
    const char *key;
    size_t klen;
    bool is_number;
    double id;
} vocab_ent;

static int js_vocab_next(jscan *s, vocab_ent *v)
{
    int r = js_next(s, '}');
    if (r <= 0)
        return r;
    if (!js_string(s, 0, &v->key, &v->klen))
        return -1;
    js_ws(s);
    if (!js_peek(s, ':'))
        return -1;
    s->p++;
    js_ws(s);
    v->is_number = true;
    return js_uint(s, &v->id) ? 1 : -1;
}

/* One entry of model.merges: "a b" (a only, pair false) or ["a", "b"]; ok false for
 * anything else. */
typedef struct merge_ent {
    const char *a, *b;
    size_t al, bl;
    bool pair, ok;
} merge_ent;

static int js_merge_next(jscan *s, merge_ent *m)
{
    int r = js_next(s, ']');
    if (r <= 0)
        return r;
    m->ok = true;
    m->pair = js_peek(s, '[');
    if (!m->pair)
        return js_string(s, 0, &m->a, &m->al) ? 1 : -1;
    s->p++;
    js_ws(s);
    if (!js_string(s, 0, &m->a, &m->al))
        return -1;
    js_ws(s);
    if (!js_peek(s, ','))
        return -1;
    s->p++;
    js_ws(s);
    if (!js_string(s, 1, &m->b, &m->bl))
        return -1;
    js_ws(s);
    if (!js_peek(s, ']'))
        return -1;
    s->p++;
    return 1;
}

/* Reads a whole vocab object or merges array (at s->p) to check it is plain and count
 * its entries; s->p ends past it. -1 when not plain. */
static long js_count(jscan *s, bool vocab)
{
    if (!js_open(s, vocab ? '{' : '['))
        return -1;
    long n = 0;
    int r;
    vocab_ent v;
    merge_ent m;
    while ((r = vocab ? js_vocab_next(s, &v) : js_merge_next(s, &m)) == 1)
        n++;
    return r == 0 ? n : -1;
}

/* Where the fast path found model.vocab and model.merges in the text. */
static void find_big(ctx *c, const char *json, size_t len, tk_buf *bufs)
{
    big_text *big = &c->big;
    memset(big, 0, sizeof *big);
    jscan s = {json, json + len, false, bufs};
    const char *k;
    size_t kl;
    int r;
    js_ws(&s);
    if (!js_open(&s, '{'))
        return;
    while ((r = js_member(&s, &k, &kl)) == 1 && !(kl == 5 && memcmp(k, "model", 5) == 0))
        if (!js_skip(&s))
            return;
    if (r != 1 || !js_open(&s, '{'))
        return;
    bool seen_vocab = false, seen_merges = false;
    while (!(seen_vocab && seen_merges) && js_member(&s, &k, &kl) == 1) {
        bool is_vocab = !seen_vocab && kl == 5 && memcmp(k, "vocab", 5) == 0;
        bool is_merges = !seen_merges && kl == 6 && memcmp(k, "merges", 6) == 0;
        seen_vocab |= is_vocab;
        seen_merges |= is_merges;
        if ((is_vocab && js_peek(&s, '{')) || (is_merges && js_peek(&s, '['))) {
            jscan in = {s.p, s.end, false, bufs};
            long n = js_count(&in, is_vocab);
            if (n < 0) {
                memset(big, 0, sizeof *big);
                return;
            }
            *(is_vocab ? &big->vocab : &big->merges) = (big_part){s.p, (size_t)(in.p - s.p), (size_t)n};
            s.p = in.p;
        } else if (!js_skip(&s)) {
            break;
        }
    }
}

/* The text with the parts in big replaced by empty ones, for cJSON. */
static int text_without_big(const big_text *big, const char *json, size_t len, tk_buf *out,
                            hp_err *err)
{
    const big_part *first = &big->vocab, *second = &big->merges;
    if (!first->p || (second->p && second->p < first->p)) {
        first = &big->merges;
        second = &big->vocab;
    }
    const char *at = json;
    for (const big_part *p = first; p; p = p == first ? second : NULL) {
        if (!p->p)
            continue;
        if (tk_buf_put(out, at, (size_t)(p->p - at), err) != 0 ||
            tk_buf_put(out, p == &big->vocab ? "{}" : "[]", 2, err) != 0)
            return -1;
        at = p->p + p->len;
    }
    return tk_buf_put(out, at, (size_t)(json + len - at), err);
}

/* ---- the model --------------------------------------------------------------------- */

static bool is_id(bool is_number, double v, double limit)
{
    return is_number && v >= 0 && v < limit && floor(v) == v;
}

/* How far a second cursor runs in front of the one that fills the tables: enough to
 * overlap the cache misses of the big tables, few enough to keep what it loads. */
#define PREFETCH_AHEAD 8

/* The entries of model.vocab or model.merges: read from the text when find_big found the
 * part plain (b->p set), else walked in the cJSON tree. */
typedef struct part_iter {
    const cJSON *e;
    jscan s;
    bool text;
} part_iter;

static void part_begin(part_iter *it, const big_part *b, const cJSON *tree, char open,
                       tk_buf *bufs)
{
    it->text = b->p != NULL;
    it->e = tree ? tree->child : NULL;
    it->s = (jscan){b->p, b->p ? b->p + b->len : NULL, false, bufs};
    if (it->text)
        js_open(&it->s, open);
}

static void vocab_begin(part_iter *it, const ctx *c, const cJSON *vocab, tk_buf *bufs)
{
    part_begin(it, &c->big.vocab, vocab, '{', bufs);
}

static bool vocab_next(part_iter *it, vocab_ent *v)
{
    if (it->text)
        return js_vocab_next(&it->s, v) == 1; /* checked plain by find_big */
    if (!it->e)
        return false;
    *v = (vocab_ent){it->e->string, strlen(it->e->string), cJSON_IsNumber(it->e), it->e->valuedouble};
    it->e = it->e->next;
    return true;
}

static int parse_vocab(ctx *c, const cJSON *model, const cJSON *added)
{
    hp_tokenizer *t = c->t;
    const cJSON *vocab = field(model, "vocab");
    if (!cJSON_IsObject(vocab))
        return fail(c, "model.vocab", "missing or not an object of token -> id");
    size_t n_vocab = c->big.vocab.n, n_added = 0;
    if (!c->big.vocab.p)
        for (const cJSON *e = vocab->child; e; e = e->next)
            n_vocab++;
    if (added)
        for (const cJSON *e = added->child; e; e = e->next)
            n_added++;
    /* Ids are dense in practice. Some holes are allowed, but not so many that a hostile
     * file makes us allocate per an absurd largest id. */
    double limit = 2.0 * (double)(n_vocab + n_added) + 1024;
    double max_id = -1;
    tk_buf bufs[2] = {{0}}, bufs_ahead[2] = {{0}};
    part_iter it;
    vocab_ent v;
    int rc = -1;
    for (vocab_begin(&it, c, vocab, bufs); vocab_next(&it, &v);) {
        if (!is_id(v.is_number, v.id, limit)) {
            hp_fail(c->err,
                    "%s: model.vocab entry \"%.*s\": id must be an integer from 0 to %.0f "
                    "(twice the %zu vocab entries and %zu added tokens, plus 1024)",
                    c->path, (int)v.klen, v.key, limit - 1, n_vocab, n_added);
            goto out;
        }
        if (v.id > max_id)
            max_id = v.id;
    }
    size_t i = 0;
    if (added)
        for (const cJSON *e = added->child; e; e = e->next, i++) {
            const cJSON *id = field(e, "id");
            if (!is_id(cJSON_IsNumber(id), id ? id->valuedouble : 0, limit)) {
                hp_fail(c->err,
                        "%s: added_tokens[%zu]: \"id\" must be an integer from 0 to %.0f "
                        "(twice the %zu vocab entries and %zu added tokens, plus 1024)",
                        c->path, i, limit - 1, n_vocab, n_added);
                goto out;
            }
            if (id->valuedouble > max_id)
                max_id = id->valuedouble;
        }
    size_t n_ids = (size_t)(max_id + 1);
    if (tk_vocab_init(&t->vocab, n_ids, n_vocab + n_added, c->err) != 0)
        goto out;
    t->model_token = hp_calloc(n_ids, 1, "the vocabulary", c->err);
    t->added_of_id = hp_malloc(n_ids * sizeof *t->added_of_id, "the vocabulary", c->err);
    if (!t->model_token || !t->added_of_id)
        goto out;
    memset(t->added_of_id, 0xff, n_ids * sizeof *t->added_of_id);
    /* a second cursor runs PREFETCH_AHEAD entries in front, loading their slots */
    part_iter ahead;
    vocab_ent va;
    vocab_begin(&ahead, c, vocab, bufs_ahead);
    for (int k = 0; k < PREFETCH_AHEAD && vocab_next(&ahead, &va); k++)
        tk_vocab_prefetch(&t->vocab, va.key, va.klen);
    for (vocab_begin(&it, c, vocab, bufs); vocab_next(&it, &v);) {
        if (vocab_next(&ahead, &va))
            tk_vocab_prefetch(&t->vocab, va.key, va.klen);
        int32_t id = (int32_t)v.id, dup;
        size_t len;
        const char *have = tk_vocab_str(&t->vocab, id, &len);
        if (have) {
            hp_fail(c->err, "%s: model.vocab: id %d is given to both \"%.*s\" and \"%.*s\"",
                    c->path, (int)id, (int)len, have, (int)v.klen, v.key);
            goto out;
        }
        if (tk_vocab_set(&t->vocab, id, v.key, v.klen, &dup, c->err) != 0) {
            if (dup >= 0)
                hp_fail(c->err, "%s: model.vocab: token \"%.*s\" appears twice (ids %d and %d)",
                        c->path, (int)v.klen, v.key, (int)dup, (int)id);
            goto out;
        }
        t->model_token[id] = 1;
    }
    rc = 0;
out:
    for (int k = 0; k < 2; k++) {
        tk_buf_free(&bufs[k]);
        tk_buf_free(&bufs_ahead[k]);
    }
    return rc;
}

static void merge_begin(part_iter *it, const ctx *c, const cJSON *merges, tk_buf *bufs)
{
    part_begin(it, &c->big.merges, merges, '[', bufs);
}

static bool merge_next(part_iter *it, merge_ent *m)
{
    if (it->text)
        return js_merge_next(&it->s, m) == 1; /* checked plain by find_big */
    const cJSON *e = it->e;
    if (!e)
        return false;
    it->e = e->next;
    *m = (merge_ent){0};
    if (cJSON_IsString(e)) {
        m->a = e->valuestring, m->al = strlen(m->a), m->ok = true;
    } else if (cJSON_IsArray(e) && cJSON_GetArraySize(e) == 2 && cJSON_IsString(e->child) &&
               cJSON_IsString(e->child->next)) {
        m->a = e->child->valuestring, m->al = strlen(m->a);
        m->b = e->child->next->valuestring, m->bl = strlen(m->b);
        m->pair = m->ok = true;
    }
    return true;
}

/* Splits an "a b" merge into a and b; false when it is not two tokens and one space. */
static bool split_merge(merge_ent *m)
{
    if (m->pair)
        return true;
    const char *sp = memchr(m->a, ' ', m->al);
    size_t rest = sp ? m->al - (size_t)(sp + 1 - m->a) : 0;
    if (!sp || memchr(sp + 1, ' ', rest))
        return false;
    m->b = sp + 1;
    m->bl = rest;
    m->al = (size_t)(sp - m->a);
    return true;
}

/* The merged token of a + b into cat: b loses the continuing-subword prefix it carries. */
static int merged_text(const hp_tokenizer *t, const merge_ent *m, tk_buf *cat, hp_err *err)
{
    const char *b = m->b;
    size_t bl = m->bl;
    if (t->bpe.cont_prefix && bl >= t->bpe.cont_prefix_len &&
        memcmp(b, t->bpe.cont_prefix, t->bpe.cont_prefix_len) == 0)
        b += t->bpe.cont_prefix_len, bl -= t->bpe.cont_prefix_len;
    cat->n = 0;
    return tk_buf_put(cat, m->a, m->al, err) != 0 || tk_buf_put(cat, b, bl, err) != 0 ? -1 : 0;
}

/* Starts loading the vocabulary slots a merge will look up (see tk_vocab_prefetch). */
static void prefetch_merge(const hp_tokenizer *t, merge_ent m, tk_buf *cat)
{
    hp_err ignored;
    if (!m.ok || !split_merge(&m) || merged_text(t, &m, cat, &ignored) != 0)
        return;
    tk_vocab_prefetch(&t->vocab, m.a, m.al);
    tk_vocab_prefetch(&t->vocab, m.b, m.bl);
    tk_vocab_prefetch(&t->vocab, cat->p, cat->n);
}

/* Checks merge number rank and appends it to staged (put in the table afterwards, all at
 * once, which lets the table's cache misses overlap too). */
static int check_merge(ctx *c, size_t rank, const merge_ent *m, tk_buf *cat, tk_merge *staged)
{
    hp_tokenizer *t = c->t;
    if (!m->ok)
        return hp_fail(c->err, "%s: model.merges[%zu]: expected \"a b\" or [\"a\", \"b\"]",
                       c->path, rank);
    merge_ent s = *m;
    if (!split_merge(&s))
        return hp_fail(c->err, "%s: model.merges[%zu] \"%.*s\": expected two tokens separated by one space",
                       c->path, rank, (int)m->al, m->a);
    if (merged_text(t, &s, cat, c->err) != 0)
        return -1;
    int32_t ia = tk_vocab_find(&t->vocab, s.a, s.al), ib = tk_vocab_find(&t->vocab, s.b, s.bl);
    int32_t im = tk_vocab_find(&t->vocab, cat->p, cat->n);
    if (ia < 0 || ib < 0 || im < 0) {
        const char *which = ia < 0 ? s.a : ib < 0 ? s.b : cat->p;
        int wl = (int)(ia < 0 ? s.al : ib < 0 ? s.bl : cat->n);
        return hp_fail(c->err, "%s: model.merges[%zu] \"%.*s\" + \"%.*s\": \"%.*s\" is not in the vocabulary",
                       c->path, rank, (int)s.al, s.a, (int)s.bl, s.b, wl, which);
    }
    *staged = (tk_merge){(uint64_t)(uint32_t)ia << 32 | (uint32_t)ib, (int32_t)rank, im};
    return 0;
}

static int parse_merges(ctx *c, const cJSON *model)
{
    hp_tokenizer *t = c->t;
    const cJSON *merges = field(model, "merges");
    if (merges && !cJSON_IsArray(merges))
        return fail(c, "model.merges", "must be an array");
    size_t n = c->big.merges.n;
    if (merges && !c->big.merges.p)
        for (const cJSON *e = merges->child; e; e = e->next)
            n++;
    if (tk_mergemap_init(&t->bpe.merges, n, c->err) != 0)
        return -1;
    tk_merge *staged = hp_malloc((n ? n : 1) * sizeof *staged, "the merge table", c->err);
    if (!staged)
        return -1;
    tk_buf cat = {0}, cat_ahead = {0}, bufs[2] = {{0}}, bufs_ahead[2] = {{0}};
    size_t rank = 0;
    int rc = -1;
    part_iter it, ahead;
    merge_ent m, ma;
    /* a second cursor runs PREFETCH_AHEAD merges in front, loading their slots */
    merge_begin(&ahead, c, merges, bufs_ahead);
    for (int k = 0; k < PREFETCH_AHEAD && merge_next(&ahead, &ma); k++)
        prefetch_merge(t, ma, &cat_ahead);
    for (merge_begin(&it, c, merges, bufs); merge_next(&it, &m) && rank < n; rank++) {
        if (merge_next(&ahead, &ma))
            prefetch_merge(t, ma, &cat_ahead);
        if (check_merge(c, rank, &m, &cat, &staged[rank]) != 0)
            goto out;
    }
    tk_mergemap_put_all(&t->bpe.merges, staged, rank);
    rc = 0;
out:
    free(staged);
    tk_buf_free(&cat);
    tk_buf_free(&cat_ahead);
    for (int k = 0; k < 2; k++) {
        tk_buf_free(&bufs[k]);
        tk_buf_free(&bufs_ahead[k]);
    }
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

/* The cJSON tree of the file: of the text less model.vocab and model.merges when find_big
 * took them (the fast path), else of all of it. */
static cJSON *parse_json(ctx *c, const char *json, size_t len)
{
    tk_buf bufs[2] = {{0}}, rest = {0};
    find_big(c, json, len, bufs);
    tk_buf_free(&bufs[0]);
    tk_buf_free(&bufs[1]);
    if (c->big.vocab.p || c->big.merges.p) {
        hp_err ignored; /* out of memory here: the full parse below meets it and says so */
        cJSON *root = NULL;
        if (text_without_big(&c->big, json, len, &rest, &ignored) == 0)
            root = cJSON_ParseWithLength(rest.p, rest.n);
        tk_buf_free(&rest);
        if (root)
            return root;
        memset(&c->big, 0, sizeof c->big); /* a syntax error elsewhere: cJSON reports it */
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(json, len, &end, 0);
    if (!root)
        hp_fail(c->err, "%s: not valid JSON (near byte %zu)", c->path,
                end ? (size_t)(end - json) : 0);
    return root;
}

int tk_load_json(hp_tokenizer *t, const char *json, size_t len, hp_err *err)
{
    ctx c = {.t = t, .path = t->path, .err = err};
    cJSON *root = parse_json(&c, json, len);
    if (!root)
        return -1;
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

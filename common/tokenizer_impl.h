/* The inside of hp_tokenizer, shared by the tokenizer_*.c files and nothing else (this
 * header is not installed).
 *
 * The pipeline is Hugging Face's: added tokens are cut out of the raw text first, each
 * remaining stretch is normalized, pre-tokenized into pieces ("words"), and each piece goes
 * through the BPE model; the post-processor adds BOS/EOS. Decoding maps ids to token strings
 * and runs the decoder chain over that list of strings.
 *
 * Everything here is built once at load time and only read afterwards, so encode/decode
 * need no locks: per-call state lives in a tk_scratch owned by the call. */
#ifndef HYPLORA_TOKENIZER_IMPL_H
#define HYPLORA_TOKENIZER_IMPL_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "hyplora/error.h"
#include "hyplora/tokenizer.h"

/* ---- growable byte buffer ---------------------------------------------------------- */

typedef struct tk_buf {
    char *p;
    size_t n, cap;
} tk_buf;

int tk_buf_reserve(tk_buf *b, size_t extra, hp_err *err);
/* Appends s[0..n) (keeping room for a terminating zero). Inline: it runs per piece and per
 * character on the encode path. */
static inline int tk_buf_put(tk_buf *b, const void *s, size_t n, hp_err *err)
{
    if (b->cap - b->n < n + 1 && tk_buf_reserve(b, n + 1, err) != 0)
        return -1;
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    return 0;
}
static inline int tk_buf_putc(tk_buf *b, char c, hp_err *err)
{
    return tk_buf_put(b, &c, 1, err);
}
int tk_buf_put_cp(tk_buf *b, uint32_t cp, hp_err *err); /* one code point as UTF-8 */
void tk_buf_free(tk_buf *b);

/* ---- UTF-8 and character classes ---------------------------------------------------- */

/* Decodes the (valid) UTF-8 character at s[0..n); returns its length. */
size_t tk_utf8_next(const char *s, size_t n, uint32_t *cp);
size_t tk_utf8_len(uint32_t cp);
/* The length of the character ending at s[n-1] (s valid UTF-8, n > 0). */
size_t tk_utf8_prev_len(const char *s, size_t n);
/* Copies s to out with every ill-formed sequence replaced by U+FFFD, one per maximal
 * subpart (the Unicode/WHATWG practice, as Python's errors="replace"). */
int tk_utf8_sanitize(const char *s, size_t n, tk_buf *out, hp_err *err);
bool tk_is_whitespace(uint32_t cp);   /* Unicode White_Space (Rust char::is_whitespace) */
/* Whitespace skipping inside s[lo, hi): the first non-white offset from lo onwards, and
 * the end after dropping trailing white characters before hi. */
size_t tk_skip_ws(const char *s, size_t lo, size_t hi);
size_t tk_skip_ws_back(const char *s, size_t lo, size_t hi);
bool tk_is_alnum(uint32_t cp);        /* letters and numbers (char::is_alphanumeric) */
bool tk_is_numeric(uint32_t cp);      /* general category N* (char::is_numeric) */
bool tk_is_word(uint32_t cp);         /* regex \w: alphanumeric, marks, connectors */
bool tk_is_punctuation(uint32_t cp);  /* ASCII punctuation or category P* */

/* ---- hash tables ------------------------------------------------------------------- */

/* Token strings live in one pool. A slot of the string -> id map also holds the length
 * and first bytes of its token (its key), so that a lookup of a token of up to
 * TK_SLOT_BYTES bytes (nearly all of them) reads one cache line and never the pool; a
 * longer one goes to the pool only when length and start agree. */
#define TK_SLOT_BYTES 11
typedef struct tk_slot {
    int32_t id;          /* -1 for an empty slot */
    unsigned char key[1 + TK_SLOT_BYTES]; /* length (255: 255 or more), then the first
                                             bytes, zero-padded */
} tk_slot;

typedef struct tk_strmap {
    tk_slot *slots;
    size_t mask;
    size_t count;
} tk_strmap;

typedef struct tk_vocab {
    tk_buf pool;       /* all token strings, back to back */
    uint32_t *off;     /* per id: offset into pool, len; len == UINT32_MAX: no token */
    uint32_t *len;
    size_t n_ids;      /* highest id + 1 */
    tk_strmap map;     /* string -> id */
} tk_vocab;

uint64_t tk_hash(const char *s, size_t n);
int tk_vocab_init(tk_vocab *v, size_t n_ids, size_t expected, hp_err *err);
/* Sets the string of id; fails (returning the existing id in *dup) if the string is
 * already mapped. */
int tk_vocab_set(tk_vocab *v, int32_t id, const char *s, size_t n, int32_t *dup, hp_err *err);
int32_t tk_vocab_find(const tk_vocab *v, const char *s, size_t n);
/* Starts loading the slot where s would be, for a tk_vocab_find or tk_vocab_set of s a
 * little later (the big tables do not fit in the cache; overlapped misses cost less). */
void tk_vocab_prefetch(const tk_vocab *v, const char *s, size_t n);
static inline const char *tk_vocab_str(const tk_vocab *v, int32_t id, size_t *len)
{
    if (id < 0 || (size_t)id >= v->n_ids || v->len[id] == UINT32_MAX)
        return NULL;
    *len = v->len[id];
    return v->pool.p + v->off[id];
}
void tk_vocab_free(tk_vocab *v);

/* (left id, right id) -> (rank, merged id). */
typedef struct tk_merge {
    uint64_t key;   /* left << 32 | right; UINT64_MAX: empty */
    int32_t rank;
    int32_t id;
} tk_merge;

typedef struct tk_mergemap {
    tk_merge *slots;
    size_t mask, count;
} tk_mergemap;

int tk_mergemap_init(tk_mergemap *m, size_t expected, hp_err *err);
/* Inserts or replaces (a later duplicate wins, as in the reference). */
void tk_mergemap_put(tk_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id);
/* The slot index of a pair key: a full 64-bit mix (splitmix64's finalizer), since ids are
 * small numbers whose raw bits would cluster in an open-addressing table. */
static inline size_t tk_pair_slot(uint64_t key, size_t mask)
{
    key ^= key >> 30;
    key *= 0xbf58476d1ce4e5b9ull;
    key ^= key >> 27;
    key *= 0x94d049bb133111ebull;
    key ^= key >> 31;
    return (size_t)key & mask;
}
static inline const tk_merge *tk_mergemap_get(const tk_mergemap *m, int32_t a, int32_t b)
{
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = tk_pair_slot(key, m->mask);
    for (;;) {
        const tk_merge *e = &m->slots[i];
        if (e->key == key)
            return e;
        if (e->key == UINT64_MAX)
            return NULL;
        i = (i + 1) & m->mask;
    }
}
/* tk_mergemap_put of each entry of v (key, rank, id) in order. */
void tk_mergemap_put_all(tk_mergemap *m, const tk_merge *v, size_t n);
static inline void tk_mergemap_prefetch(const tk_mergemap *m, int32_t a, int32_t b)
{
    __builtin_prefetch(&m->slots[tk_pair_slot((uint64_t)(uint32_t)a << 32 | (uint32_t)b, m->mask)]);
}
void tk_mergemap_free(tk_mergemap *m);

/* ---- regex and string patterns ----------------------------------------------------- */

/* A Replace/Split pattern: a literal string or a PCRE2 regex (translated from the
 * Oniguruma-flavoured syntax of tokenizer.json, see tk_regex_compile). */
typedef struct tk_pattern {
    bool is_regex;
    bool jit;        /* JIT-compiled: matched with pcre2_jit_match, which skips the checks
                        pcre2_match repeats on every call */
    char *lit;
    size_t lit_len;
    pcre2_code *re;
} tk_pattern;

int tk_regex_compile(tk_pattern *p, const char *hf_regex, const char *where, hp_err *err);
int tk_pattern_literal(tk_pattern *p, const char *s, size_t n, hp_err *err);
void tk_pattern_free(tk_pattern *p);
/* Finds the next match at or after start: returns 1 with [*ms, *me), 0 if none, -1 on a
 * matcher failure. md is the caller's match data (one per call keeps it thread-safe). */
int tk_pattern_find(const tk_pattern *p, const char *s, size_t n, size_t start,
                    pcre2_match_data *md, size_t *ms, size_t *me, hp_err *err);
/* Iterates the matches of p over s[0..n) from *pos (start at 0): returns 1 with [*ms, *me)
 * and moves *pos past the match, or one character past an empty one, as the Rust library
 * steps; 0 when there are no more, -1 on a matcher failure. */
int tk_pattern_next(const tk_pattern *p, const char *s, size_t n, size_t *pos,
                    pcre2_match_data *md, size_t *ms, size_t *me, hp_err *err);
/* Appends in[0..n) to out with every match of p replaced by content. */
int tk_replace_all(const tk_pattern *p, const char *in, size_t n, const char *content,
                   size_t content_len, pcre2_match_data *md, tk_buf *out, hp_err *err);

/* ---- per-call scratch -------------------------------------------------------------- */

/* A list of strings in one arena: the pieces between pre-tokenizer steps, and the token
 * strings between decoder steps. */
typedef struct tk_piece {
    uint32_t off, len;
    bool at_start; /* begins at offset 0 of the original text (Metaspace "first") */
} tk_piece;

typedef struct tk_pieces {
    tk_buf text;
    tk_piece *v;
    size_t n, cap;
} tk_pieces;

int tk_pieces_add(tk_pieces *p, const char *s, size_t n, bool at_start, hp_err *err);
/* Appends s to the last piece (which must be the last thing written to text). */
int tk_pieces_extend_last(tk_pieces *p, const char *s, size_t n, hp_err *err);
void tk_pieces_clear(tk_pieces *p);
void tk_pieces_free(tk_pieces *p);

typedef struct tk_symbol {
    int32_t id;
    int32_t prev, next; /* -1 at the ends */
    int32_t alive;      /* 0 once merged into its left neighbour */
} tk_symbol;

typedef struct tk_heapent {
    int32_t rank, pos, id;
} tk_heapent;

/* A stretch of text: an added token (added >= 0) or text for the model. */
typedef struct tk_segment {
    size_t off, len;
    int32_t added; /* index into t->added, or -1 */
} tk_segment;

typedef struct tk_segments {
    tk_segment *v;
    size_t n, cap;
} tk_segments;

/* A remembered BPE result: the ids of one short word. One cache line. */
#define TK_WCACHE_WORD 21
#define TK_WCACHE_IDS 8
#define TK_WCACHE_SIZE 8192 /* entries, direct-mapped: 512 KB */
typedef struct tk_wcache_ent {
    uint64_t key;      /* the word's hash mixed with its tokenizer's serial (a bijection,
                          so equal keys and equal words mean the same tokenizer) */
    uint8_t len;       /* 0: empty */
    uint8_t n_ids;
    char word[TK_WCACHE_WORD + 1];
    int32_t ids[TK_WCACHE_IDS];
} tk_wcache_ent;

typedef struct tk_scratch {
    pcre2_match_data *md;
    tk_buf norm, tmp, bytes, clean;
    tk_pieces a, b;
    tk_segments segs, segs2;
    tk_symbol *sym;
    size_t sym_cap;
    tk_heapent *heap;
    size_t heap_cap;
    struct tk_span *spans; /* pre-tokenizer split points */
    size_t spans_cap;
    /* Word -> ids, for any tokenizer; NULL: no caching. Only a thread's own scratch has
     * one (see thread_scratch in tokenizer.c). */
    tk_wcache_ent *wcache;
} tk_scratch;

int tk_scratch_init(tk_scratch *s, hp_err *err);
/* Frees buffers that one very long text made large, so a thread's scratch stays small. */
void tk_scratch_trim(tk_scratch *s);
void tk_scratch_free(tk_scratch *s);

/* ---- normalizers ------------------------------------------------------------------- */

typedef enum tk_norm_type {
    TK_NORM_NFC,
    TK_NORM_NFD,
    TK_NORM_NFKC,
    TK_NORM_NFKD,
    TK_NORM_PREPEND,
    TK_NORM_APPEND,
    TK_NORM_REPLACE,
    TK_NORM_LOWERCASE,
    TK_NORM_STRIP,
    TK_NORM_SEQUENCE,
} tk_norm_type;

typedef struct tk_normalizer {
    tk_norm_type type;
    char *content; /* Prepend/Append text, Replace replacement */
    size_t content_len;
    tk_pattern pattern;
    bool strip_left, strip_right;
    struct tk_normalizer *items; /* Sequence */
    size_t n_items;
} tk_normalizer;

/* Normalizes in[0..n) into out (cleared first). */
int tk_normalize(const tk_normalizer *nm, const char *in, size_t n, tk_buf *out, tk_scratch *sc,
                 hp_err *err);
void tk_normalizer_free(tk_normalizer *nm);

/* ---- pre-tokenizers ---------------------------------------------------------------- */

typedef enum tk_split_behavior {
    TK_SPLIT_REMOVED,
    TK_SPLIT_ISOLATED,
    TK_SPLIT_MERGED_PREV,
    TK_SPLIT_MERGED_NEXT,
    TK_SPLIT_CONTIGUOUS,
} tk_split_behavior;

typedef enum tk_pre_type {
    TK_PRE_BYTELEVEL,
    TK_PRE_SPLIT,
    TK_PRE_METASPACE,
    TK_PRE_DIGITS,
    TK_PRE_WHITESPACE,
    TK_PRE_WHITESPACE_SPLIT,
    TK_PRE_PUNCTUATION,
    TK_PRE_SEQUENCE,
} tk_pre_type;

typedef enum tk_prepend_scheme { TK_PREPEND_ALWAYS, TK_PREPEND_FIRST, TK_PREPEND_NEVER } tk_prepend_scheme;

typedef struct tk_pretok {
    tk_pre_type type;
    tk_pattern pattern;        /* Split; ByteLevel's and Whitespace's regexes */
    tk_split_behavior behavior;
    bool invert;
    bool add_prefix_space;     /* ByteLevel */
    bool use_regex;            /* ByteLevel */
    bool individual_digits;    /* Digits */
    uint32_t replacement;      /* Metaspace */
    tk_prepend_scheme prepend; /* Metaspace */
    bool split;                /* Metaspace */
    struct tk_pretok *items;   /* Sequence */
    size_t n_items;
} tk_pretok;

/* Runs the pre-tokenizer over sc->a (pieces in, pieces out, in sc->a). *bytelevel is set
 * when a ByteLevel step ran last: the pieces are raw bytes that the model must read
 * through the GPT-2 byte-to-character table. */
int tk_pretokenize(const tk_pretok *pt, tk_scratch *sc, bool *bytelevel, hp_err *err);
/* When all pt does is cut text at the matches of one pattern, keeping every stretch (a
 * Split with Isolated behaviour, not inverted, or a ByteLevel with its regex and no prefix
 * space, perhaps followed by a ByteLevel without either: GPT-2, Llama 3, Qwen2), that
 * pattern, with *bytelevel as tk_pretokenize would set it; else NULL. Encode then runs
 * BPE on the stretches in place instead of copying them into a piece list. */
const tk_pattern *tk_pretok_single_split(const tk_pretok *pt, bool *bytelevel);
void tk_pretok_free(tk_pretok *pt);

/* The GPT-2 table: byte -> code point, and code point -> byte (-1 if none). */
extern const uint16_t tk_byte_to_cp[256];
int tk_cp_to_byte(uint32_t cp);
/* Appends the byte-level spelling of bytes s[0..n). */
int tk_bytelevel_encode(const char *s, size_t n, tk_buf *out, hp_err *err);

/* ---- the BPE model ----------------------------------------------------------------- */

typedef struct tk_bpe {
    tk_mergemap merges;
    bool byte_fallback, ignore_merges, fuse_unk;
    int32_t unk_id;          /* -1: none */
    char *cont_prefix;       /* continuing_subword_prefix or NULL */
    size_t cont_prefix_len;
    char *eow_suffix;        /* end_of_word_suffix or NULL */
    size_t eow_suffix_len;
    int32_t byte_ids[256];   /* <0xXX> tokens, -1 where absent */
    bool all_byte_ids;       /* every <0xXX> exists */
    int32_t bytelevel_ids[256]; /* id of the GPT-2 character of each byte, -1 if absent */
    int32_t ascii_ids[128];  /* single-ASCII-character tokens, a fast path */
    bool split_meta;         /* no token has "▁" right after another character, so a piece
                                can be cut before every such "▁" without changing the result
                                (SentencePiece vocabularies: whole lines become words) */
} tk_bpe;

/* Appends the ids of one piece. */
int tk_bpe_encode(const hp_tokenizer *t, const char *s, size_t n, bool bytelevel, tk_scratch *sc,
                  hp_ids *out, hp_err *err);
/* Fills the lookup tables of bpe from the vocabulary (after the vocab is complete). */
void tk_bpe_prepare(tk_bpe *bpe, const tk_vocab *v, const uint8_t *model_token);
void tk_bpe_free(tk_bpe *bpe);

/* ---- added tokens ------------------------------------------------------------------ */

typedef struct tk_added {
    int32_t id;
    char *content;
    size_t len;
    bool special, lstrip, rstrip, single_word, normalized;
} tk_added;

/* A byte trie over the contents of one group of added tokens (normalized or not). */
typedef struct tk_trie_node {
    int32_t child;   /* first child, -1 none */
    int32_t sibling; /* next sibling, -1 none */
    int32_t added;   /* index into added[] when a token ends here, else -1 */
    unsigned char byte;
} tk_trie_node;

typedef struct tk_trie {
    tk_trie_node *nodes;
    size_t n, cap;
    int32_t root_child[256]; /* children of the root, by byte: -1 none */
    int n_first;             /* bytes with a root child */
    unsigned char first;     /* that byte, when there is one (then memchr finds the places
                                where a token may start: "<" for the usual special tokens) */
} tk_trie;

int tk_trie_add(tk_trie *t, const char *s, size_t n, int32_t added, hp_err *err);
void tk_trie_free(tk_trie *t);

/* Splits s[0..n) on the added tokens of trie (leftmost-longest, with single_word, lstrip
 * and rstrip applied as the reference does). */
int tk_added_split(const hp_tokenizer *t, const tk_trie *trie, const char *s, size_t n,
                   tk_segments *out, hp_err *err);

/* ---- post-processor ---------------------------------------------------------------- */

typedef struct tk_post {
    /* For a single sequence the post-processors we support reduce to: these ids, then the
     * sequence, then these ids. */
    int32_t *prefix, *suffix;
    size_t n_prefix, n_suffix;
} tk_post;

/* ---- decoders ---------------------------------------------------------------------- */

typedef enum tk_dec_type {
    TK_DEC_BYTELEVEL,
    TK_DEC_METASPACE,
    TK_DEC_BYTEFALLBACK,
    TK_DEC_FUSE,
    TK_DEC_STRIP,
    TK_DEC_REPLACE,
    TK_DEC_SEQUENCE,
} tk_dec_type;

typedef struct tk_decoder {
    tk_dec_type type;
    uint32_t replacement;        /* Metaspace */
    tk_prepend_scheme prepend;   /* Metaspace */
    uint32_t strip_char;         /* Strip */
    size_t strip_start, strip_stop;
    tk_pattern pattern;          /* Replace */
    char *content;
    size_t content_len;
    struct tk_decoder *items;
    size_t n_items;
} tk_decoder;

/* Runs the decoder over the token strings in *in (the result replaces them). */
int tk_decode_run(const tk_decoder *d, tk_pieces *in, tk_pieces *spare, pcre2_match_data *md,
                  hp_err *err);
void tk_decoder_free(tk_decoder *d);

/* ---- the tokenizer ----------------------------------------------------------------- */

struct hp_tokenizer {
    char *path;            /* for messages */
    uint64_t serial;       /* unique per loaded tokenizer (a freed one's address can come
                              back): keys the per-thread word caches */
    tk_vocab vocab;        /* model vocabulary plus added tokens, id -> string */
    uint8_t *model_token;  /* per id: 1 if the model's vocabulary has it (BPE looks only
                              there; a token known only as an added token is not a symbol) */
    tk_bpe bpe;
    tk_added *added;
    size_t n_added;
    int32_t *added_of_id;  /* per id: index into added, or -1 */
    tk_trie trie_raw;      /* added tokens matched on the raw text */
    tk_trie trie_norm;     /* added tokens matched after normalization */
    bool has_raw, has_norm;
    tk_normalizer *normalizer;
    tk_pretok *pretok;
    const tk_pattern *split;  /* tk_pretok_single_split of pretok, or NULL */
    bool split_bytelevel;
    tk_post post;
    tk_decoder *decoder;
    int32_t bos, eos;
    char describe[160];
};

/* Loaders: each fills a zeroed hp_tokenizer. */
int tk_load_json(hp_tokenizer *t, const char *json, size_t len, hp_err *err);
int tk_load_gpt2_pair(hp_tokenizer *t, const char *vocab_path, const char *merges_path,
                      hp_err *err);
int tk_load_gguf(hp_tokenizer *t, const struct hp_gguf *g, hp_err *err);

/* Shared by the loaders once vocab, added tokens and the model are in place: builds the
 * tries and lookup tables and the description. */
int tk_finish(hp_tokenizer *t, const char *kind, hp_err *err);
/* Adds one added token (checks its id against the vocabulary). */
int tk_add_token(hp_tokenizer *t, int32_t id, const char *s, size_t n, bool special, bool lstrip,
                 bool rstrip, bool single_word, bool normalized, hp_err *err);
/* Building blocks of the loaders that do not read tokenizer.json: allocate the vocabulary
 * of n_ids ids, set one model token, add one "a b" merge (rank = its position). Messages
 * name `where` and the entry. */
int tk_init_vocab(hp_tokenizer *t, size_t n_ids, hp_err *err);
int tk_set_token(hp_tokenizer *t, int32_t id, const char *s, size_t n, const char *where,
                 hp_err *err);
int tk_add_merge(hp_tokenizer *t, int32_t rank, const char *line, size_t n, const char *where,
                 hp_err *err);
/* The standard components, built in code, for the GPT-2 pair and GGUF loaders. */
int tk_pretok_bytelevel_regex(hp_tokenizer *t, const char *hf_regex, bool add_prefix_space,
                              hp_err *err);
int tk_decoder_simple(hp_tokenizer *t, tk_dec_type type, hp_err *err);
extern const char TK_GPT2_REGEX[];
extern const char TK_LLAMA3_REGEX[];
extern const char TK_QWEN2_REGEX[];

#endif

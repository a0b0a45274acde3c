/* Small building blocks of the tokenizer: growable buffers, UTF-8, Unicode character
 * classes, the vocabulary and merge hash tables, piece lists and per-call scratch. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_impl.h"

/* ---- buffers ----------------------------------------------------------------------- */

int tk_buf_reserve(tk_buf *b, size_t extra, hp_err *err)
{
    if (b->cap - b->n >= extra)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap - b->n < extra)
        cap *= 2;
    char *p = hp_realloc(b->p, cap, "tokenizer text", err);
    if (!p)
        return -1;
    b->p = p;
    b->cap = cap;
    return 0;
}

int tk_buf_put_cp(tk_buf *b, uint32_t cp, hp_err *err)
{
    char tmp[4];
    size_t n = (size_t)utf8proc_encode_char((utf8proc_int32_t)cp, (utf8proc_uint8_t *)tmp);
    return tk_buf_put(b, tmp, n, err);
}

void tk_buf_free(tk_buf *b)
{
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- UTF-8 ------------------------------------------------------------------------- */

size_t tk_utf8_next(const char *str, size_t n, uint32_t *cp)
{
    const unsigned char *s = (const unsigned char *)str;
    unsigned c = s[0];
    if (c < 0x80 || n < 2) {
        *cp = c;
        return 1;
    }
    if (c < 0xe0) {
        *cp = (c & 0x1fu) << 6 | (s[1] & 0x3fu);
        return 2;
    }
    if (c < 0xf0 || n < 4) {
        *cp = (c & 0x0fu) << 12 | (s[1] & 0x3fu) << 6 | (s[2] & 0x3fu);
        return 3;
    }
    *cp = (c & 0x07u) << 18 | (s[1] & 0x3fu) << 12 | (s[2] & 0x3fu) << 6 | (s[3] & 0x3fu);
    return 4;
}

size_t tk_utf8_len(uint32_t cp)
{
    return cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
}

size_t tk_utf8_prev_len(const char *s, size_t n)
{
    size_t k = 1;
    while (k < n && k < 4 && ((unsigned char)s[n - k] & 0xc0) == 0x80)
        k++;
    return k;
}

/* The length of the well-formed sequence at s, or 0 and in *sub the length of the
 * maximal subpart of an ill-formed one (at least 1): the bytes that start a valid
 * sequence but do not complete it are replaced together by one U+FFFD. */
static size_t utf8_valid_at(const unsigned char *s, size_t n, size_t *sub)
{
    unsigned c = s[0];
    *sub = 1;
    if (c < 0x80)
        return 1;
    size_t need;
    unsigned lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        need = 1;
    else if (c >= 0xe0 && c <= 0xef) {
        need = 2;
        if (c == 0xe0)
            lo = 0xa0;
        if (c == 0xed)
            hi = 0x9f;
    } else if (c >= 0xf0 && c <= 0xf4) {
        need = 3;
        if (c == 0xf0)
            lo = 0x90;
        if (c == 0xf4)
            hi = 0x8f;
    } else
        return 0;
    for (size_t k = 1; k <= need; k++) {
        if (k >= n)
            return 0;
        unsigned b = s[k];
        unsigned l = k == 1 ? lo : 0x80, h = k == 1 ? hi : 0xbf;
        if (b < l || b > h)
            return 0;
        *sub = k + 1;
    }
    return need + 1;
}

int tk_utf8_sanitize(const char *str, size_t n, tk_buf *out, hp_err *err)
{
    const unsigned char *s = (const unsigned char *)str;
    out->n = 0;
    if (tk_buf_reserve(out, n + 1, err) != 0)
        return -1;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        while (i < n && s[i] < 0x80)
            i++;
        size_t sub;
        while (i < n) {
            size_t k = utf8_valid_at(s + i, n - i, &sub);
            if (k == 0)
                break;
            i += k;
        }
        if (tk_buf_put(out, s + start, i - start, err) != 0)
            return -1;
        if (i < n) {
            utf8_valid_at(s + i, n - i, &sub);
            if (tk_buf_put(out, "\xef\xbf\xbd", 3, err) != 0)
                return -1;
            i += sub;
        }
    }
    out->p[out->n] = 0;
    return 0;
}

/* ---- character classes ------------------------------------------------------------- */

bool tk_is_whitespace(uint32_t c)
{
    return (c >= 0x09 && c <= 0x0d) || c == 0x20 || c == 0x85 || c == 0xa0 || c == 0x1680 ||
           (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
           c == 0x205f || c == 0x3000;
}

static int category(uint32_t c)
{
    return utf8proc_category((utf8proc_int32_t)c);
}

bool tk_is_numeric(uint32_t c)
{
    int k = category(c);
    return k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL || k == UTF8PROC_CATEGORY_NO;
}

static bool is_letter(int k)
{
    return k >= UTF8PROC_CATEGORY_LU && k <= UTF8PROC_CATEGORY_LO;
}

bool tk_is_alnum(uint32_t c)
{
    if (c < 0x80)
        return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int k = category(c);
    return is_letter(k) || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_NO;
}

bool tk_is_word(uint32_t c)
{
    if (c < 0x80)
        return c == '_' || (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z');
    int k = category(c);
    return is_letter(k) || k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_MC ||
           k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_ND || k == UTF8PROC_CATEGORY_NL ||
           k == UTF8PROC_CATEGORY_PC || c == 0x200c || c == 0x200d;
}

bool tk_is_punctuation(uint32_t c)
{
    if (c < 0x80)
        return (c >= 0x21 && c <= 0x2f) || (c >= 0x3a && c <= 0x40) || (c >= 0x5b && c <= 0x60) ||
               (c >= 0x7b && c <= 0x7e);
    int k = category(c);
    return k >= UTF8PROC_CATEGORY_PC && k <= UTF8PROC_CATEGORY_PO;
}

/* ---- hashing ----------------------------------------------------------------------- */

/* The n <= 8 bytes at s as a number, s[0] lowest (what memcpy into a zeroed word gives on
 * a little-endian machine), with a few whole loads: a memcpy of variable length compiles
 * to a byte loop, and this runs for every token looked up. */
static inline uint64_t load_le(const char *s, size_t n)
{
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (n == 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        return w;
    }
    if (n >= 4) { /* two loads that overlap in the middle: equal bytes, so OR is exact */
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        return a | (uint64_t)b << (8 * (n - 4));
    }
    if (n == 0)
        return 0;
    return (uint64_t)(unsigned char)s[0] | (uint64_t)(unsigned char)s[n / 2] << (8 * (n / 2)) |
           (uint64_t)(unsigned char)s[n - 1] << (8 * (n - 1));
#else
    uint64_t w = 0;
    for (size_t i = 0; i < n; i++)
        w |= (uint64_t)(unsigned char)s[i] << (8 * i);
    return w;
#endif
}

/* A multiply-mix over 8-byte words: token strings are short, so per-byte loops (FNV)
 * would dominate the lookup. */
uint64_t tk_hash(const char *s, size_t n)
{
    const uint64_t K = 0x9E3779B97F4A7C15ull;
    uint64_t h = n * K ^ 0x5bd1e9955bd1e995ull;
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * K;
        h ^= h >> 29;
        s += 8;
        n -= 8;
    }
    if (n) {
        h = (h ^ load_le(s, n)) * K;
        h ^= h >> 29;
    }
    h *= 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

int tk_vocab_init(tk_vocab *v, size_t n_ids, size_t expected, hp_err *err)
{
    memset(v, 0, sizeof *v);
    v->n_ids = n_ids;
    v->off = hp_malloc((n_ids ? n_ids : 1) * sizeof *v->off, "token offsets", err);
    v->len = hp_malloc((n_ids ? n_ids : 1) * sizeof *v->len, "token lengths", err);
    size_t cap = 16;
    while (cap < expected * 2 + 16)
        cap *= 2;
    v->map.slots = hp_malloc(cap * sizeof *v->map.slots, "the vocabulary hash table", err);
    if (!v->off || !v->len || !v->map.slots) {
        tk_vocab_free(v);
        return -1;
    }
    memset(v->len, 0xff, n_ids * sizeof *v->len);
    memset(v->map.slots, 0xff, cap * sizeof *v->map.slots);
    v->map.mask = cap - 1;
    return 0;
}

/* The slot key of s[0..n) (see tk_slot). */
static inline void slot_key(unsigned char key[1 + TK_SLOT_BYTES], const char *s, size_t n)
{
    size_t m = n < TK_SLOT_BYTES ? n : TK_SLOT_BYTES;
    key[0] = (unsigned char)(n < 255 ? n : 255);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    uint64_t lo = load_le(s, m < 8 ? m : 8);
    uint32_t hi = (uint32_t)(m > 8 ? load_le(s + 8, m - 8) : 0);
    memcpy(key + 1, &lo, 8);
    memcpy(key + 9, &hi, TK_SLOT_BYTES - 8);
#else
    memset(key + 1, 0, TK_SLOT_BYTES);
    memcpy(key + 1, s, m);
#endif
}

static inline bool key_eq(const unsigned char *a, const unsigned char *b)
{
    uint64_t a0, b0;
    uint32_t a1, b1;
    memcpy(&a0, a, 8), memcpy(&b0, b, 8);
    memcpy(&a1, a + 8, 4), memcpy(&b1, b + 8, 4);
    return a0 == b0 && a1 == b1;
}

/* The hash of a token: a short one is all in its key, hashed as two words. */
static inline uint64_t slot_hash(const unsigned char *key, const char *s, size_t n)
{
    if (n > TK_SLOT_BYTES)
        return tk_hash(s, n);
    uint64_t a, h;
    uint32_t b;
    memcpy(&a, key, 8);
    memcpy(&b, key + 8, 4);
    h = (a ^ 0x5bd1e9955bd1e995ull) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h = (h ^ b) * 0xbf58476d1ce4e5b9ull;
    return h ^ (h >> 31);
}

static int vocab_grow_map(tk_vocab *v, hp_err *err)
{
    size_t cap = (v->map.mask + 1) * 2;
    tk_slot *slots = hp_malloc(cap * sizeof *slots, "the vocabulary hash table", err);
    if (!slots)
        return -1;
    memset(slots, 0xff, cap * sizeof *slots);
    for (size_t i = 0; i <= v->map.mask; i++) {
        tk_slot e = v->map.slots[i];
        if (e.id < 0)
            continue;
        size_t j = slot_hash(e.key, v->pool.p + v->off[e.id], v->len[e.id]) & (cap - 1);
        while (slots[j].id >= 0)
            j = (j + 1) & (cap - 1);
        slots[j] = e;
    }
    free(v->map.slots);
    v->map.slots = slots;
    v->map.mask = cap - 1;
    return 0;
}

/* Linear probing: the slot holding s, or the empty slot where it would go; key is the
 * slot key of s. */
static inline size_t vocab_probe(const tk_vocab *v, const char *s, size_t n,
                                 const unsigned char *key)
{
    size_t i = slot_hash(key, s, n) & v->map.mask;
    for (;;) {
        const tk_slot *e = &v->map.slots[i];
        if (e->id < 0)
            return i;
        if (key_eq(e->key, key) &&
            (n <= TK_SLOT_BYTES ||
             (v->len[e->id] == n && memcmp(v->pool.p + v->off[e->id], s, n) == 0)))
            return i;
        i = (i + 1) & v->map.mask;
    }
}

int32_t tk_vocab_find(const tk_vocab *v, const char *s, size_t n)
{
    unsigned char key[1 + TK_SLOT_BYTES];
    slot_key(key, s, n);
    return v->map.slots[vocab_probe(v, s, n, key)].id;
}

void tk_vocab_prefetch(const tk_vocab *v, const char *s, size_t n)
{
    unsigned char key[1 + TK_SLOT_BYTES];
    slot_key(key, s, n);
    __builtin_prefetch(&v->map.slots[slot_hash(key, s, n) & v->map.mask]);
}

int tk_vocab_set(tk_vocab *v, int32_t id, const char *s, size_t n, int32_t *dup, hp_err *err)
{
    *dup = -1;
    if ((v->map.count + 1) * 2 > v->map.mask + 1 && vocab_grow_map(v, err) != 0)
        return -1;
    tk_slot e;
    slot_key(e.key, s, n);
    size_t i = vocab_probe(v, s, n, e.key);
    if (v->map.slots[i].id >= 0) {
        *dup = v->map.slots[i].id;
        return -1;
    }
    if (n >= UINT32_MAX || v->pool.n + n >= UINT32_MAX)
        return hp_fail(err, "the vocabulary is larger than 4 GB");
    v->off[id] = (uint32_t)v->pool.n;
    v->len[id] = (uint32_t)n;
    if (tk_buf_put(&v->pool, s, n, err) != 0)
        return -1;
    e.id = id;
    v->map.slots[i] = e;
    v->map.count++;
    return 0;
}

void tk_vocab_free(tk_vocab *v)
{
    tk_buf_free(&v->pool);
    free(v->off);
    free(v->len);
    free(v->map.slots);
    memset(v, 0, sizeof *v);
}

int tk_mergemap_init(tk_mergemap *m, size_t expected, hp_err *err)
{
    /* Filled to at most 4/7 (linear probing stays short), and no emptier: Llama 3's
     * 280k merges then take 8 MB, not 16, so more of the table stays in the cache. */
    size_t cap = 16;
    while (cap < expected * 7 / 4 + 16)
        cap *= 2;
    m->slots = hp_malloc(cap * sizeof *m->slots, "the merge table", err);
    if (!m->slots)
        return -1;
    for (size_t i = 0; i < cap; i++)
        m->slots[i].key = UINT64_MAX;
    m->mask = cap - 1;
    m->count = 0;
    return 0;
}

void tk_mergemap_put(tk_mergemap *m, int32_t a, int32_t b, int32_t rank, int32_t id)
{
    /* Sized by tk_mergemap_init for every merge of the file, so it never fills. */
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    size_t i = tk_pair_slot(key, m->mask);
    while (m->slots[i].key != UINT64_MAX && m->slots[i].key != key)
        i = (i + 1) & m->mask;
    if (m->slots[i].key == UINT64_MAX)
        m->count++;
    m->slots[i].key = key;
    m->slots[i].rank = rank;
    m->slots[i].id = id;
}

void tk_mergemap_put_all(tk_mergemap *m, const tk_merge *v, size_t n)
{
    /* The table is larger than the cache for big vocabularies: loading the slot of an
     * entry a few entries ahead overlaps the misses. */
    enum { AHEAD = 16 };
    for (size_t k = 0; k < n; k++) {
        if (k + AHEAD < n)
            __builtin_prefetch(&m->slots[tk_pair_slot(v[k + AHEAD].key, m->mask)], 1);
        tk_mergemap_put(m, (int32_t)(v[k].key >> 32), (int32_t)(uint32_t)v[k].key, v[k].rank,
                        v[k].id);
    }
}

void tk_mergemap_free(tk_mergemap *m)
{
    free(m->slots);
    memset(m, 0, sizeof *m);
}

/* ---- piece lists and scratch ------------------------------------------------------- */

int tk_pieces_add(tk_pieces *p, const char *s, size_t n, bool at_start, hp_err *err)
{
    if (p->n == p->cap && hp_grow((void **)&p->v, &p->cap, p->n + 1, sizeof *p->v, "pieces", err) != 0)
        return -1;
    size_t off = p->text.n;
    if (tk_buf_put(&p->text, s, n, err) != 0)
        return -1;
    p->v[p->n++] = (tk_piece){(uint32_t)off, (uint32_t)n, at_start};
    return 0;
}

int tk_pieces_extend_last(tk_pieces *p, const char *s, size_t n, hp_err *err)
{
    if (tk_buf_put(&p->text, s, n, err) != 0)
        return -1;
    p->v[p->n - 1].len += (uint32_t)n;
    return 0;
}

void tk_pieces_clear(tk_pieces *p)
{
    p->n = 0;
    p->text.n = 0;
}

void tk_pieces_free(tk_pieces *p)
{
    tk_buf_free(&p->text);
    free(p->v);
    memset(p, 0, sizeof *p);
}

int tk_scratch_init(tk_scratch *s, hp_err *err)
{
    memset(s, 0, sizeof *s);
    s->md = pcre2_match_data_create(16, NULL);
    if (!s->md)
        return hp_fail(err, "out of memory for regex match data");
    return 0;
}

/* Everything but the match data and the word cache. */
static void scratch_free_buffers(tk_scratch *s)
{
    tk_buf_free(&s->norm);
    tk_buf_free(&s->tmp);
    tk_buf_free(&s->bytes);
    tk_buf_free(&s->clean);
    tk_pieces_free(&s->a);
    tk_pieces_free(&s->b);
    free(s->segs.v);
    free(s->segs2.v);
    memset(&s->segs, 0, sizeof s->segs);
    memset(&s->segs2, 0, sizeof s->segs2);
    free(s->sym);
    free(s->heap);
    free(s->spans);
    s->sym = NULL, s->heap = NULL, s->spans = NULL;
    s->sym_cap = s->heap_cap = s->spans_cap = 0;
}

void tk_scratch_trim(tk_scratch *s)
{
    const size_t big = (size_t)16 << 20;
    if (s->norm.cap > big || s->tmp.cap > big || s->bytes.cap > big || s->clean.cap > big ||
        s->a.text.cap > big || s->b.text.cap > big || s->a.cap * sizeof *s->a.v > big ||
        s->b.cap * sizeof *s->b.v > big || s->segs.cap * sizeof *s->segs.v > big ||
        s->segs2.cap * sizeof *s->segs2.v > big ||
        s->sym_cap * sizeof *s->sym > big || s->heap_cap * sizeof *s->heap > big ||
        s->spans_cap > big / 32)
        scratch_free_buffers(s);
}

void tk_scratch_free(tk_scratch *s)
{
    if (s->md)
        pcre2_match_data_free(s->md);
    scratch_free_buffers(s);
    free(s->wcache);
    memset(s, 0, sizeof *s);
}

/* ---- ids --------------------------------------------------------------------------- */

int hp_ids_push(hp_ids *v, int32_t id, hp_err *err)
{
    if (v->n == v->cap && hp_grow((void **)&v->ids, &v->cap, v->n + 1, sizeof *v->ids, "token ids", err) != 0)
        return -1;
    v->ids[v->n++] = id;
    return 0;
}

void hp_ids_free(hp_ids *v)
{
    free(v->ids);
    memset(v, 0, sizeof *v);
}

size_t tk_skip_ws(const char *s, size_t lo, size_t hi)
{
    while (lo < hi) {
        uint32_t cp;
        size_t k = tk_utf8_next(s + lo, hi - lo, &cp);
        if (!tk_is_whitespace(cp))
            break;
        lo += k;
    }
    return lo;
}

size_t tk_skip_ws_back(const char *s, size_t lo, size_t hi)
{
    while (hi > lo) {
        size_t k = tk_utf8_prev_len(s + lo, hi - lo);
        uint32_t cp;
        tk_utf8_next(s + hi - k, k, &cp);
        if (!tk_is_whitespace(cp))
            break;
        hi -= k;
    }
    return hi;
}

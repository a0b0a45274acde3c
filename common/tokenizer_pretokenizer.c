/* Pre-tokenizers: cut normalized text into the pieces ("words") that BPE runs on.
 *
 * Every splitting pre-tokenizer works the way the reference's NormalizedString::split
 * does: find the matches of a pattern (a regex, a literal, or a character class, where
 * each matching character is one match), lay them out with the stretches between them as
 * a cover of the piece, then let the behaviour decide what becomes a piece:
 *   Removed             only the non-matching stretches
 *   Isolated            every stretch
 *   MergedWithPrevious  a match joins the stretch before it
 *   MergedWithNext      a match joins the stretch after it
 *   Contiguous          runs of matches (and runs of non-matches) become one piece
 * `invert` swaps matches and non-matches first. Empty stretches are dropped. */
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

/* The GPT-2 byte-to-character table: printable Latin-1 bytes stand for themselves, the
 * other 68 bytes for U+0100.. in byte order, so every byte is a visible character. */
const uint16_t tk_byte_to_cp[256] = {
    0x100, 0x101, 0x102, 0x103, 0x104, 0x105, 0x106, 0x107, 0x108, 0x109, 0x10a, 0x10b,
    0x10c, 0x10d, 0x10e, 0x10f, 0x110, 0x111, 0x112, 0x113, 0x114, 0x115, 0x116, 0x117,
    0x118, 0x119, 0x11a, 0x11b, 0x11c, 0x11d, 0x11e, 0x11f, 0x120, 0x021, 0x022, 0x023,
    0x024, 0x025, 0x026, 0x027, 0x028, 0x029, 0x02a, 0x02b, 0x02c, 0x02d, 0x02e, 0x02f,
    0x030, 0x031, 0x032, 0x033, 0x034, 0x035, 0x036, 0x037, 0x038, 0x039, 0x03a, 0x03b,
    0x03c, 0x03d, 0x03e, 0x03f, 0x040, 0x041, 0x042, 0x043, 0x044, 0x045, 0x046, 0x047,
    0x048, 0x049, 0x04a, 0x04b, 0x04c, 0x04d, 0x04e, 0x04f, 0x050, 0x051, 0x052, 0x053,
    0x054, 0x055, 0x056, 0x057, 0x058, 0x059, 0x05a, 0x05b, 0x05c, 0x05d, 0x05e, 0x05f,
    0x060, 0x061, 0x062, 0x063, 0x064, 0x065, 0x066, 0x067, 0x068, 0x069, 0x06a, 0x06b,
    0x06c, 0x06d, 0x06e, 0x06f, 0x070, 0x071, 0x072, 0x073, 0x074, 0x075, 0x076, 0x077,
    0x078, 0x079, 0x07a, 0x07b, 0x07c, 0x07d, 0x07e, 0x121, 0x122, 0x123, 0x124, 0x125,
    0x126, 0x127, 0x128, 0x129, 0x12a, 0x12b, 0x12c, 0x12d, 0x12e, 0x12f, 0x130, 0x131,
    0x132, 0x133, 0x134, 0x135, 0x136, 0x137, 0x138, 0x139, 0x13a, 0x13b, 0x13c, 0x13d,
    0x13e, 0x13f, 0x140, 0x141, 0x142, 0x0a1, 0x0a2, 0x0a3, 0x0a4, 0x0a5, 0x0a6, 0x0a7,
    0x0a8, 0x0a9, 0x0aa, 0x0ab, 0x0ac, 0x143, 0x0ae, 0x0af, 0x0b0, 0x0b1, 0x0b2, 0x0b3,
    0x0b4, 0x0b5, 0x0b6, 0x0b7, 0x0b8, 0x0b9, 0x0ba, 0x0bb, 0x0bc, 0x0bd, 0x0be, 0x0bf,
    0x0c0, 0x0c1, 0x0c2, 0x0c3, 0x0c4, 0x0c5, 0x0c6, 0x0c7, 0x0c8, 0x0c9, 0x0ca, 0x0cb,
    0x0cc, 0x0cd, 0x0ce, 0x0cf, 0x0d0, 0x0d1, 0x0d2, 0x0d3, 0x0d4, 0x0d5, 0x0d6, 0x0d7,
    0x0d8, 0x0d9, 0x0da, 0x0db, 0x0dc, 0x0dd, 0x0de, 0x0df, 0x0e0, 0x0e1, 0x0e2, 0x0e3,
    0x0e4, 0x0e5, 0x0e6, 0x0e7, 0x0e8, 0x0e9, 0x0ea, 0x0eb, 0x0ec, 0x0ed, 0x0ee, 0x0ef,
    0x0f0, 0x0f1, 0x0f2, 0x0f3, 0x0f4, 0x0f5, 0x0f6, 0x0f7, 0x0f8, 0x0f9, 0x0fa, 0x0fb,
    0x0fc, 0x0fd, 0x0fe, 0x0ff,
};

int tk_cp_to_byte(uint32_t cp)
{
    if (cp < 256)
        return tk_byte_to_cp[cp] == cp ? (int)cp : -1;
    if (cp >= 256 + 68)
        return -1;
    uint32_t k = cp - 256; /* the k-th byte that is not printable, in byte order */
    if (k <= 32)
        return (int)k;
    if (k == 33)
        return 0x7f;
    if (k <= 66)
        return (int)(0x80 + k - 34);
    return 0xad;
}

int tk_bytelevel_encode(const char *s, size_t n, tk_buf *out, hp_err *err)
{
    if (tk_buf_reserve(out, 2 * n + 1, err) != 0)
        return -1;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = tk_byte_to_cp[(unsigned char)s[i]];
        if (cp < 0x80) {
            out->p[out->n++] = (char)cp;
        } else {
            out->p[out->n++] = (char)(0xc0 | (cp >> 6));
            out->p[out->n++] = (char)(0x80 | (cp & 0x3f));
        }
    }
    return 0;
}

/* ---- splitting --------------------------------------------------------------------- */

typedef struct tk_span {
    size_t s, e;
    bool m;
} tk_span;

typedef struct spans {
    tk_scratch *sc;
    size_t n;
} spans;

static int span_push(spans *sp, size_t s, size_t e, bool m, hp_err *err)
{
    tk_scratch *sc = sp->sc;
    if (sp->n == sc->spans_cap && hp_grow((void **)&sc->spans, &sc->spans_cap, sp->n + 1, sizeof *sc->spans, "split points", err) != 0)
        return -1;
    sc->spans[sp->n++] = (tk_span){s, e, m};
    return 0;
}

/* The cover of s[0..n) by the matches of a pattern. */
static int find_pattern(const tk_pattern *p, const char *s, size_t n, spans *sp, tk_scratch *sc,
                        hp_err *err)
{
    size_t prev = 0, pos = 0, ms, me;
    int r;
    while ((r = tk_pattern_next(p, s, n, &pos, sc->md, &ms, &me, err)) == 1) {
        if (ms > prev && span_push(sp, prev, ms, false, err) != 0)
            return -1;
        if (span_push(sp, ms, me, true, err) != 0)
            return -1;
        prev = me;
    }
    if (r < 0)
        return -1;
    if (prev < n && span_push(sp, prev, n, false, err) != 0)
        return -1;
    return 0;
}

/* The cover of s[0..n) where each character satisfying pred is one match. */
static int find_chars(bool (*pred)(uint32_t, uint32_t), uint32_t arg, const char *s, size_t n,
                      spans *sp, hp_err *err)
{
    size_t last = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tk_utf8_next(s + i, n - i, &cp);
        if (pred(cp, arg)) {
            if (last < i && span_push(sp, last, i, false, err) != 0)
                return -1;
            if (span_push(sp, i, i + k, true, err) != 0)
                return -1;
            last = i + k;
        }
        i += k;
    }
    if (last < n && span_push(sp, last, n, false, err) != 0)
        return -1;
    return 0;
}

/* Applies the behaviour to the spans and appends the resulting pieces of s to out. */
static int emit(const char *s, bool at_start, spans *sp, tk_split_behavior beh, bool invert,
                tk_pieces *out, hp_err *err)
{
    tk_span *v = sp->sc->spans;
    size_t n = sp->n;
    if (invert)
        for (size_t i = 0; i < n; i++)
            v[i].m = !v[i].m;
    /* Rewrite v in place into the final pieces (w <= i always holds). */
    size_t w = 0;
    bool prev_m = false;
    switch (beh) {
    case TK_SPLIT_REMOVED:
        for (size_t i = 0; i < n; i++)
            if (!v[i].m)
                v[w++] = v[i];
        break;
    case TK_SPLIT_ISOLATED:
        w = n;
        break;
    case TK_SPLIT_CONTIGUOUS:
        for (size_t i = 0; i < n; i++) {
            if (w > 0 && v[i].m == prev_m)
                v[w - 1].e = v[i].e;
            else
                v[w++] = v[i];
            prev_m = v[i].m;
        }
        break;
    case TK_SPLIT_MERGED_PREV:
        for (size_t i = 0; i < n; i++) {
            if (v[i].m && !prev_m && w > 0)
                v[w - 1].e = v[i].e;
            else
                v[w++] = v[i];
            prev_m = v[i].m;
        }
        break;
    case TK_SPLIT_MERGED_NEXT: {
        /* Walk backwards: a match joins the piece that follows it. Written from the end. */
        size_t r = n;
        for (size_t i = n; i-- > 0;) {
            bool m = v[i].m;
            if (m && !prev_m && r < n)
                v[r].s = v[i].s;
            else
                v[--r] = v[i];
            prev_m = m;
        }
        memmove(v, v + r, (n - r) * sizeof *v);
        w = n - r;
        break;
    }
    }
    for (size_t i = 0; i < w; i++) {
        if (v[i].e <= v[i].s)
            continue;
        if (tk_pieces_add(out, s + v[i].s, v[i].e - v[i].s, at_start && v[i].s == 0, err) != 0)
            return -1;
    }
    return 0;
}

static bool pred_numeric(uint32_t cp, uint32_t arg)
{
    (void)arg;
    return tk_is_numeric(cp);
}

static bool pred_space(uint32_t cp, uint32_t arg)
{
    (void)arg;
    return tk_is_whitespace(cp);
}

static bool pred_punct(uint32_t cp, uint32_t arg)
{
    (void)arg;
    return tk_is_punctuation(cp);
}

static bool pred_equal(uint32_t cp, uint32_t arg)
{
    return cp == arg;
}

/* Turns the raw bytes of every piece into their byte-level spelling, for a step that comes
 * after a ByteLevel pre-tokenizer and so must see the characters the reference sees. */
static int materialize(tk_scratch *sc, hp_err *err)
{
    tk_pieces *in = &sc->a, *out = &sc->b;
    tk_pieces_clear(out);
    for (size_t i = 0; i < in->n; i++) {
        sc->tmp.n = 0;
        if (tk_bytelevel_encode(in->text.p + in->v[i].off, in->v[i].len, &sc->tmp, err) != 0 ||
            tk_pieces_add(out, sc->tmp.p, sc->tmp.n, in->v[i].at_start, err) != 0)
            return -1;
    }
    tk_pieces t = *in;
    *in = *out;
    *out = t;
    return 0;
}

/* A ByteLevel step that leaves the pieces as they are. */
static bool bytelevel_identity(const tk_pretok *pt)
{
    return pt->type == TK_PRE_BYTELEVEL && !pt->use_regex && !pt->add_prefix_space;
}

static int run(const tk_pretok *pt, tk_scratch *sc, bool *bytelevel, hp_err *err)
{
    if (pt->type == TK_PRE_SEQUENCE) {
        for (size_t i = 0; i < pt->n_items; i++)
            if (run(&pt->items[i], sc, bytelevel, err) != 0)
                return -1;
        return 0;
    }
    if (*bytelevel) {
        if (materialize(sc, err) != 0)
            return -1;
        *bytelevel = false;
    }
    if (bytelevel_identity(pt)) {
        /* leaves the pieces as they are (Llama 3 style: after a Split): no copy */
        *bytelevel = true;
        return 0;
    }
    tk_pieces *in = &sc->a, *out = &sc->b;
    tk_pieces_clear(out);
    for (size_t i = 0; i < in->n; i++) {
        const char *s = in->text.p + in->v[i].off;
        size_t n = in->v[i].len;
        bool at_start = in->v[i].at_start;
        spans sp = {sc, 0};
        int rc = 0;
        switch (pt->type) {
        case TK_PRE_BYTELEVEL:
            if (pt->add_prefix_space && (n == 0 || s[0] != ' ')) {
                sc->tmp.n = 0;
                if (tk_buf_putc(&sc->tmp, ' ', err) != 0 || tk_buf_put(&sc->tmp, s, n, err) != 0)
                    return -1;
                s = sc->tmp.p;
                n = sc->tmp.n;
            }
            if (!pt->use_regex) {
                rc = tk_pieces_add(out, s, n, at_start, err);
                break;
            }
            rc = find_pattern(&pt->pattern, s, n, &sp, sc, err);
            if (rc == 0)
                rc = emit(s, at_start, &sp, TK_SPLIT_ISOLATED, false, out, err);
            break;
        case TK_PRE_SPLIT:
        case TK_PRE_WHITESPACE:
            rc = find_pattern(&pt->pattern, s, n, &sp, sc, err);
            if (rc == 0)
                rc = emit(s, at_start, &sp, pt->behavior, pt->invert, out, err);
            break;
        case TK_PRE_DIGITS:
            rc = find_chars(pred_numeric, 0, s, n, &sp, err);
            if (rc == 0)
                rc = emit(s, at_start, &sp,
                          pt->individual_digits ? TK_SPLIT_ISOLATED : TK_SPLIT_CONTIGUOUS, false,
                          out, err);
            break;
        case TK_PRE_WHITESPACE_SPLIT:
            rc = find_chars(pred_space, 0, s, n, &sp, err);
            if (rc == 0)
                rc = emit(s, at_start, &sp, TK_SPLIT_REMOVED, false, out, err);
            break;
        case TK_PRE_PUNCTUATION:
            rc = find_chars(pred_punct, 0, s, n, &sp, err);
            if (rc == 0)
                rc = emit(s, at_start, &sp, pt->behavior, false, out, err);
            break;
        case TK_PRE_METASPACE: {
            /* spaces become the replacement; the replacement is prepended per the scheme;
             * then (split) each replacement starts a new piece */
            char rep[4];
            size_t rl = tk_utf8_len(pt->replacement);
            {
                uint32_t c = pt->replacement;
                if (rl == 1)
                    rep[0] = (char)c;
                else if (rl == 2)
                    rep[0] = (char)(0xc0 | c >> 6), rep[1] = (char)(0x80 | (c & 0x3f));
                else if (rl == 3)
                    rep[0] = (char)(0xe0 | c >> 12), rep[1] = (char)(0x80 | (c >> 6 & 0x3f)),
                    rep[2] = (char)(0x80 | (c & 0x3f));
                else
                    rep[0] = (char)(0xf0 | c >> 18), rep[1] = (char)(0x80 | (c >> 12 & 0x3f)),
                    rep[2] = (char)(0x80 | (c >> 6 & 0x3f)), rep[3] = (char)(0x80 | (c & 0x3f));
            }
            /* The reference replaces spaces first, so a leading space already counts as a
             * leading replacement and suppresses the prepend. */
            bool starts = n > 0 && (s[0] == ' ' || (n >= rl && memcmp(s, rep, rl) == 0));
            bool prepend = pt->prepend == TK_PREPEND_ALWAYS  ? !starts
                           : pt->prepend == TK_PREPEND_FIRST ? !starts && at_start
                                                             : false;
            sc->tmp.n = 0;
            if (prepend && tk_buf_put(&sc->tmp, rep, rl, err) != 0)
                return -1;
            for (size_t k = 0; k < n; k++) {
                int r = s[k] == ' ' ? tk_buf_put(&sc->tmp, rep, rl, err)
                                    : tk_buf_putc(&sc->tmp, s[k], err);
                if (r != 0)
                    return -1;
            }
            if (!pt->split) {
                rc = tk_pieces_add(out, sc->tmp.p, sc->tmp.n, at_start, err);
                break;
            }
            rc = find_chars(pred_equal, pt->replacement, sc->tmp.p, sc->tmp.n, &sp, err);
            if (rc == 0)
                rc = emit(sc->tmp.p, at_start, &sp, TK_SPLIT_MERGED_NEXT, false, out, err);
            break;
        }
        case TK_PRE_SEQUENCE:
            break;
        }
        if (rc != 0)
            return -1;
    }
    tk_pieces t = *in;
    *in = *out;
    *out = t;
    if (pt->type == TK_PRE_BYTELEVEL)
        *bytelevel = true;
    return 0;
}

int tk_pretokenize(const tk_pretok *pt, tk_scratch *sc, bool *bytelevel, hp_err *err)
{
    *bytelevel = false;
    return run(pt, sc, bytelevel, err);
}

static const tk_pattern *isolated_split(const tk_pretok *pt)
{
    if (pt->type == TK_PRE_SPLIT && pt->behavior == TK_SPLIT_ISOLATED && !pt->invert)
        return &pt->pattern;
    if (pt->type == TK_PRE_BYTELEVEL && pt->use_regex && !pt->add_prefix_space)
        return &pt->pattern;
    return NULL;
}

const tk_pattern *tk_pretok_single_split(const tk_pretok *pt, bool *bytelevel)
{
    *bytelevel = false;
    if (!pt)
        return NULL;
    if (pt->type == TK_PRE_SEQUENCE && pt->n_items == 1)
        return tk_pretok_single_split(&pt->items[0], bytelevel);
    if (pt->type == TK_PRE_SEQUENCE && pt->n_items == 2) {
        const tk_pattern *p = isolated_split(&pt->items[0]);
        if (!p || !bytelevel_identity(&pt->items[1]))
            return NULL;
        *bytelevel = true;
        return p;
    }
    const tk_pattern *p = isolated_split(pt);
    *bytelevel = p && pt->type == TK_PRE_BYTELEVEL;
    return p;
}

void tk_pretok_free(tk_pretok *pt)
{
    if (!pt)
        return;
    tk_pattern_free(&pt->pattern);
    for (size_t i = 0; i < pt->n_items; i++)
        tk_pretok_free(&pt->items[i]);
    free(pt->items);
    memset(pt, 0, sizeof *pt);
}

/* Normalizers: text -> text before pre-tokenization. Unicode forms come from utf8proc;
 * the others are the few string edits tokenizer.json files use. Each runs on one stretch
 * of text between added tokens, as in the reference. */
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "tokenizer_impl.h"

static bool all_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] >= 0x80)
            return false;
    return true;
}

static int unicode_form(tk_norm_type type, const char *in, size_t n, tk_buf *out, hp_err *err)
{
    if (all_ascii(in, n)) /* ASCII is invariant under every form */
        return tk_buf_put(out, in, n, err);
    int opts = UTF8PROC_STABLE;
    if (type == TK_NORM_NFC || type == TK_NORM_NFKC)
        opts |= UTF8PROC_COMPOSE;
    else
        opts |= UTF8PROC_DECOMPOSE;
    if (type == TK_NORM_NFKC || type == TK_NORM_NFKD)
        opts |= UTF8PROC_COMPAT;
    utf8proc_uint8_t *dst = NULL;
    utf8proc_ssize_t r = utf8proc_map((const utf8proc_uint8_t *)in, (utf8proc_ssize_t)n, &dst,
                                      (utf8proc_option_t)opts);
    if (r < 0)
        return hp_fail(err, "Unicode normalization failed: %s", utf8proc_errmsg(r));
    int rc = tk_buf_put(out, dst, (size_t)r, err);
    free(dst);
    return rc;
}

static int lowercase(const char *in, size_t n, tk_buf *out, hp_err *err)
{
    if (tk_buf_reserve(out, n + 8, err) != 0)
        return -1;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = tk_utf8_next(in + i, n - i, &cp);
        i += k;
        if (cp < 0x80) {
            if (tk_buf_putc(out, (char)(cp >= 'A' && cp <= 'Z' ? cp | 0x20 : cp), err) != 0)
                return -1;
            continue;
        }
        /* The one unconditional multi-character lowercase mapping (SpecialCasing.txt). */
        if (cp == 0x130) {
            if (tk_buf_put(out, "i\xcc\x87", 3, err) != 0)
                return -1;
            continue;
        }
        if (tk_buf_put_cp(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)cp), err) != 0)
            return -1;
    }
    return 0;
}

/* Replaces every match of p (non-overlapping, left to right); an empty regex match
 * inserts the content and moves on by one character. */
int tk_replace_all(const tk_pattern *p, const char *in, size_t n, const char *content,
                   size_t content_len, pcre2_match_data *md, tk_buf *out, hp_err *err)
{
    size_t pos = 0, copied = 0, ms, me;
    int r;
    /* after an empty match the character stepped over is copied with the next stretch */
    while ((r = tk_pattern_next(p, in, n, &pos, md, &ms, &me, err)) == 1) {
        if (tk_buf_put(out, in + copied, ms - copied, err) != 0 ||
            tk_buf_put(out, content, content_len, err) != 0)
            return -1;
        copied = me;
    }
    if (r < 0)
        return -1;
    return tk_buf_put(out, in + copied, n - copied, err);
}

static int strip(const tk_normalizer *nm, const char *in, size_t n, tk_buf *out, hp_err *err)
{
    size_t a = nm->strip_left ? tk_skip_ws(in, 0, n) : 0;
    size_t b = nm->strip_right ? tk_skip_ws_back(in, a, n) : n;
    return tk_buf_put(out, in + a, b - a, err);
}

/* One step from in to out (out is empty and distinct from in). */
static int step(const tk_normalizer *nm, const char *in, size_t n, tk_buf *out, tk_scratch *sc,
                hp_err *err)
{
    switch (nm->type) {
    case TK_NORM_NFC:
    case TK_NORM_NFD:
    case TK_NORM_NFKC:
    case TK_NORM_NFKD:
        return unicode_form(nm->type, in, n, out, err);
    case TK_NORM_PREPEND:
        if (n > 0 && tk_buf_put(out, nm->content, nm->content_len, err) != 0)
            return -1;
        return tk_buf_put(out, in, n, err);
    case TK_NORM_APPEND:
        if (tk_buf_put(out, in, n, err) != 0)
            return -1;
        return n > 0 ? tk_buf_put(out, nm->content, nm->content_len, err) : 0;
    case TK_NORM_REPLACE:
        return tk_replace_all(&nm->pattern, in, n, nm->content, nm->content_len, sc->md, out, err);
    case TK_NORM_LOWERCASE:
        return lowercase(in, n, out, err);
    case TK_NORM_STRIP:
        return strip(nm, in, n, out, err);
    case TK_NORM_SEQUENCE:
        break;
    }
    /* Sequence: ping-pong between out and a local buffer. */
    tk_buf cur = {0}, next = {0};
    if (tk_buf_put(&cur, in, n, err) != 0)
        return -1;
    for (size_t i = 0; i < nm->n_items; i++) {
        next.n = 0;
        if (step(&nm->items[i], cur.p, cur.n, &next, sc, err) != 0) {
            tk_buf_free(&cur);
            tk_buf_free(&next);
            return -1;
        }
        tk_buf t = cur;
        cur = next;
        next = t;
    }
    int rc = tk_buf_put(out, cur.p, cur.n, err);
    tk_buf_free(&cur);
    tk_buf_free(&next);
    return rc;
}

int tk_normalize(const tk_normalizer *nm, const char *in, size_t n, tk_buf *out, tk_scratch *sc,
                 hp_err *err)
{
    out->n = 0;
    if (tk_buf_reserve(out, n + 16, err) != 0)
        return -1;
    if (step(nm, in, n, out, sc, err) != 0)
        return -1;
    return tk_buf_reserve(out, 1, err) == 0 ? (out->p[out->n] = 0, 0) : -1;
}

void tk_normalizer_free(tk_normalizer *nm)
{
    if (!nm)
        return;
    free(nm->content);
    tk_pattern_free(&nm->pattern);
    for (size_t i = 0; i < nm->n_items; i++)
        tk_normalizer_free(&nm->items[i]);
    free(nm->items);
    memset(nm, 0, sizeof *nm);
}

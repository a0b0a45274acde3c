/* Decoders: the list of token strings of some ids -> text. Each decoder maps a list of
 * strings to a list of strings, as in the reference's decode_chain; the caller joins the
 * final list. Byte sequences that are not UTF-8 become U+FFFD: ByteLevel replaces each
 * maximal ill-formed subpart by one (String::from_utf8_lossy); ByteFallback replaces a
 * run of byte tokens that is not valid UTF-8 by one U+FFFD per byte token, exactly as the
 * reference does. */
#include <stdlib.h>
#include <string.h>

#include "hyplora/file.h"
#include "tokenizer_impl.h"

static const char FFFD[] = "\xef\xbf\xbd";

/* <0xXX> -> the byte, or -1. */
static int byte_token(const char *s, size_t n)
{
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>')
        return -1;
    int v = 0;
    for (int k = 3; k < 5; k++) {
        char c = s[k];
        int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

static int flush_bytes(tk_buf *bytes, size_t count, tk_pieces *out, hp_err *err)
{
    if (count == 0)
        return 0;
    if (hp_utf8_valid(bytes->p, bytes->n, NULL))
        return tk_pieces_add(out, bytes->p, bytes->n, false, err);
    for (size_t i = 0; i < count; i++)
        if (tk_pieces_add(out, FFFD, 3, false, err) != 0)
            return -1;
    return 0;
}

static int step(const tk_decoder *d, tk_pieces *in, tk_pieces *out, pcre2_match_data *md,
                hp_err *err)
{
    tk_pieces_clear(out);
    tk_buf tmp = {0};
    int rc = -1;
    switch (d->type) {
    case TK_DEC_BYTELEVEL: {
        /* every character back to its byte; a token with a character outside the table
         * contributes its own UTF-8 bytes */
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->text.p + in->v[i].off;
            size_t n = in->v[i].len, mark = tmp.n;
            bool ok = true;
            for (size_t k = 0; k < n && ok;) {
                uint32_t cp;
                k += tk_utf8_next(s + k, n - k, &cp);
                int b = tk_cp_to_byte(cp);
                if (b < 0)
                    ok = false;
                else if (tk_buf_putc(&tmp, (char)b, err) != 0)
                    goto out;
            }
            if (!ok) {
                tmp.n = mark;
                if (tk_buf_put(&tmp, s, n, err) != 0)
                    goto out;
            }
        }
        tk_buf clean = {0};
        if (tk_utf8_sanitize(tmp.p ? tmp.p : "", tmp.n, &clean, err) != 0 ||
            tk_pieces_add(out, clean.p, clean.n, false, err) != 0) {
            tk_buf_free(&clean);
            goto out;
        }
        tk_buf_free(&clean);
        break;
    }
    case TK_DEC_METASPACE:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->text.p + in->v[i].off;
            size_t n = in->v[i].len;
            tmp.n = 0;
            for (size_t k = 0; k < n;) {
                uint32_t cp;
                size_t l = tk_utf8_next(s + k, n - k, &cp);
                if (cp == d->replacement) {
                    if (!(i == 0 && d->prepend != TK_PREPEND_NEVER) && tk_buf_putc(&tmp, ' ', err) != 0)
                        goto out;
                } else if (tk_buf_put(&tmp, s + k, l, err) != 0) {
                    goto out;
                }
                k += l;
            }
            if (tk_pieces_add(out, tmp.p, tmp.n, false, err) != 0)
                goto out;
        }
        break;
    case TK_DEC_BYTEFALLBACK: {
        size_t count = 0;
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->text.p + in->v[i].off;
            size_t n = in->v[i].len;
            int b = byte_token(s, n);
            if (b >= 0) {
                if (tk_buf_putc(&tmp, (char)b, err) != 0)
                    goto out;
                count++;
                continue;
            }
            if (flush_bytes(&tmp, count, out, err) != 0)
                goto out;
            tmp.n = 0;
            count = 0;
            if (tk_pieces_add(out, s, n, false, err) != 0)
                goto out;
        }
        if (flush_bytes(&tmp, count, out, err) != 0)
            goto out;
        break;
    }
    case TK_DEC_FUSE:
        if (tk_pieces_add(out, in->text.p ? in->text.p : "", 0, false, err) != 0)
            goto out;
        for (size_t i = 0; i < in->n; i++)
            if (tk_pieces_extend_last(out, in->text.p + in->v[i].off, in->v[i].len, err) != 0)
                goto out;
        break;
    case TK_DEC_STRIP:
        for (size_t i = 0; i < in->n; i++) {
            const char *s = in->text.p + in->v[i].off;
            size_t n = in->v[i].len, a = 0, b = n;
            for (size_t k = 0; k < d->strip_start && a < n; k++) {
                uint32_t cp;
                size_t l = tk_utf8_next(s + a, n - a, &cp);
                if (cp != d->strip_char)
                    break;
                a += l;
            }
            for (size_t k = 0; k < d->strip_stop && b > a; k++) {
                size_t l = tk_utf8_prev_len(s + a, b - a);
                uint32_t cp;
                tk_utf8_next(s + b - l, l, &cp);
                if (cp != d->strip_char)
                    break;
                b -= l;
            }
            if (tk_pieces_add(out, s + a, b - a, false, err) != 0)
                goto out;
        }
        break;
    case TK_DEC_REPLACE:
        for (size_t i = 0; i < in->n; i++) {
            tmp.n = 0;
            if (tk_replace_all(&d->pattern, in->text.p + in->v[i].off, in->v[i].len, d->content,
                               d->content_len, md, &tmp, err) != 0 ||
                tk_pieces_add(out, tmp.p, tmp.n, false, err) != 0)
                goto out;
        }
        break;
    case TK_DEC_SEQUENCE:
        for (size_t i = 0; i < d->n_items; i++) {
            if (step(&d->items[i], in, out, md, err) != 0)
                goto out;
            tk_pieces t = *in;
            *in = *out;
            *out = t;
        }
        /* the result is in `in`; hand it back through out */
        {
            tk_pieces t = *in;
            *in = *out;
            *out = t;
        }
        break;
    }
    rc = 0;
out:
    tk_buf_free(&tmp);
    return rc;
}

int tk_decode_run(const tk_decoder *d, tk_pieces *in, tk_pieces *spare, pcre2_match_data *md,
                  hp_err *err)
{
    if (step(d, in, spare, md, err) != 0)
        return -1;
    tk_pieces t = *in;
    *in = *spare;
    *spare = t;
    return 0;
}

void tk_decoder_free(tk_decoder *d)
{
    if (!d)
        return;
    tk_pattern_free(&d->pattern);
    free(d->content);
    for (size_t i = 0; i < d->n_items; i++)
        tk_decoder_free(&d->items[i]);
    free(d->items);
    memset(d, 0, sizeof *d);
}

/* Patterns of tokenizer.json (Split, Replace) compiled with PCRE2.
 *
 * tokenizer.json regexes are written for Oniguruma (the Rust library) and run by the
 * JavaScript oracle with the `u` flag. PCRE2 with UTF and UCP reads them as they are
 * (\p{L}, \p{N}, lookahead, {1,3}), except for a few classes whose meaning differs between
 * engines; those are rewritten to the JavaScript meaning, which is what the oracle and the
 * independent second implementations (all JavaScript) compute:
 *   \s  JavaScript: TAB..CR, Zs, U+2028, U+2029, U+FEFF  (PCRE2 lacks U+FEFF)
 *   \d  [0-9]            (PCRE2 with UCP would take every Nd digit)
 *   \w  [A-Za-z0-9_]
 *   (?i:...)  ASCII letters inside become [xX]: PCRE2 would also fold U+017F (long s) to s.
 * docs/tokenizers.md lists the few characters where this departs from the Rust library. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tokenizer_impl.h"

#define JS_SPACE "\\t-\\r\\p{Zs}\\x{2028}\\x{2029}\\x{FEFF}"

static int translate(const char *re, tk_buf *out, hp_err *err)
{
    bool in_class = false;
    int ci_depth = 0;   /* > 0 inside a (?i: group: depth of parentheses within it */
    for (size_t i = 0; re[i]; i++) {
        char c = re[i];
        if (c == '\\' && re[i + 1]) {
            char e = re[i + 1];
            i++;
            const char *rep = NULL;
            if (e == 's')
                rep = in_class ? JS_SPACE : "[" JS_SPACE "]";
            else if (e == 'S' && !in_class)
                rep = "[^" JS_SPACE "]";
            else if (e == 'd')
                rep = in_class ? "0-9" : "[0-9]";
            else if (e == 'w')
                rep = in_class ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
            if (rep) {
                if (tk_buf_put(out, rep, strlen(rep), err) != 0)
                    return -1;
            } else {
                char two[2] = {'\\', e};
                if (tk_buf_put(out, two, 2, err) != 0)
                    return -1;
                /* \p{..}, \x{..}: copy the braces verbatim */
                if ((e == 'p' || e == 'P' || e == 'x') && re[i + 1] == '{') {
                    const char *close = strchr(re + i + 1, '}');
                    if (close) {
                        size_t k = (size_t)(close - (re + i + 1)) + 1;
                        if (tk_buf_put(out, re + i + 1, k, err) != 0)
                            return -1;
                        i += k;
                    }
                }
            }
            continue;
        }
        if (in_class) {
            if (c == ']')
                in_class = false;
        } else if (c == '[') {
            in_class = true;
            if (tk_buf_putc(out, c, err) != 0)
                return -1;
            /* a ']' right after '[' or '[^' is a literal */
            if (re[i + 1] == '^') {
                if (tk_buf_putc(out, '^', err) != 0)
                    return -1;
                i++;
            }
            if (re[i + 1] == ']') {
                if (tk_buf_putc(out, ']', err) != 0)
                    return -1;
                i++;
            }
            continue;
        } else if (c == '(') {
            if (ci_depth > 0)
                ci_depth++;
            else if (strncmp(re + i, "(?i:", 4) == 0) {
                if (tk_buf_put(out, "(?:", 3, err) != 0)
                    return -1;
                ci_depth = 1;
                i += 3;
                continue;
            }
        } else if (c == ')') {
            if (ci_depth > 0)
                ci_depth--;
        } else if (ci_depth > 0 && ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))) {
            char cls[4] = {'[', (char)(c | 0x20), (char)(c & ~0x20), ']'};
            if (tk_buf_put(out, cls, 4, err) != 0)
                return -1;
            continue;
        }
        if (tk_buf_putc(out, c, err) != 0)
            return -1;
    }
    return tk_buf_putc(out, 0, err);
}

int tk_regex_compile(tk_pattern *p, const char *hf_regex, const char *where, hp_err *err)
{
    memset(p, 0, sizeof *p);
    tk_buf pat = {0};
    if (translate(hf_regex, &pat, err) != 0) {
        tk_buf_free(&pat);
        return -1;
    }
    int code;
    PCRE2_SIZE off;
    p->re = pcre2_compile((PCRE2_SPTR)pat.p, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &code,
                          &off, NULL);
    tk_buf_free(&pat);
    if (!p->re) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(code, msg, sizeof msg);
        return hp_fail(err, "%s: regex \"%s\" does not compile: %s (at offset %zu)", where, hf_regex,
                       (char *)msg, (size_t)off);
    }
    /* JIT is an optimisation: where the platform lacks it the interpreter runs. */
    p->jit = pcre2_jit_compile(p->re, PCRE2_JIT_COMPLETE) == 0;
    p->is_regex = true;
    return 0;
}

int tk_pattern_literal(tk_pattern *p, const char *s, size_t n, hp_err *err)
{
    memset(p, 0, sizeof *p);
    p->lit = hp_malloc(n + 1, "a pattern", err);
    if (!p->lit)
        return -1;
    memcpy(p->lit, s, n);
    p->lit[n] = 0;
    p->lit_len = n;
    return 0;
}

void tk_pattern_free(tk_pattern *p)
{
    if (p->re)
        pcre2_code_free(p->re);
    free(p->lit);
    memset(p, 0, sizeof *p);
}

int tk_pattern_find(const tk_pattern *p, const char *s, size_t n, size_t start,
                    pcre2_match_data *md, size_t *ms, size_t *me, hp_err *err)
{
    if (!p->is_regex) {
        if (p->lit_len == 0 || start >= n)
            return 0;
        const char *f = memmem(s + start, n - start, p->lit, p->lit_len);
        if (!f)
            return 0;
        *ms = (size_t)(f - s);
        *me = *ms + p->lit_len;
        return 1;
    }
    if (start > n)
        return 0;
    int rc = p->jit ? pcre2_jit_match(p->re, (PCRE2_SPTR)s, n, start, 0, md, NULL)
                    : pcre2_match(p->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK, md, NULL);
    if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
        rc = pcre2_match(p->re, (PCRE2_SPTR)s, n, start, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md,
                         NULL);
    if (rc == PCRE2_ERROR_NOMATCH)
        return 0;
    if (rc < 0) {
        PCRE2_UCHAR msg[256];
        pcre2_get_error_message(rc, msg, sizeof msg);
        return hp_fail(err, "regex match failed: %s", (char *)msg);
    }
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    *ms = ov[0];
    *me = ov[1];
    return 1;
}

int tk_pattern_next(const tk_pattern *p, const char *s, size_t n, size_t *pos,
                    pcre2_match_data *md, size_t *ms, size_t *me, hp_err *err)
{
    if (*pos > n)
        return 0;
    int r = tk_pattern_find(p, s, n, *pos, md, ms, me, err);
    if (r != 1)
        return r;
    if (*me > *ms) {
        *pos = *me;
    } else if (*me >= n) {
        *pos = n + 1; /* an empty match at the end: nothing follows */
    } else {
        uint32_t cp;
        *pos = *me + tk_utf8_next(s + *me, n - *me, &cp);
    }
    return 1;
}

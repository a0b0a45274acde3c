#include "hyplora/json_stream.h"

#include <errno.h>
#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl/yajl_parse.h>

#define CHUNK_BYTES (64 * 1024)
/* cJSON frees trees recursively; a cap on nesting keeps a hostile file from
 * overflowing the stack there. Real data sets nest a handful of levels. */
#define MAX_DEPTH 512

/* ---- numbers in the C locale ---- */

static locale_t c_locale;
static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;

static void make_c_locale(void)
{
    c_locale = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
}

/* The decimal m x 10^e written in s, when s is a plain decimal number ([-+]digits
 * [.digits][e[-+]digits]) whose significant digits fit 19 decimal places. *end is set
 * past the number as strtod would set it. Anything else (hex, inf, nan, leading blanks,
 * long mantissas) returns false and is left to the C library. */
static bool decimal_parts(const char *s, bool *neg, uint64_t *m, int *e, const char **end)
{
    const char *p = s;
    *neg = *p == '-';
    p += *p == '-' || *p == '+';
    uint64_t mant = 0;
    int exp10 = 0, digits = 0;
    const char *first = p;
    for (; *p >= '0' && *p <= '9'; p++, digits++) {
        if (mant >= 100000000000000000ULL)
            return false; /* another digit might overflow */
        mant = mant * 10 + (uint64_t)(*p - '0');
    }
    if (digits == 1 && *first == '0' && (*p == 'x' || *p == 'X'))
        return false; /* hexadecimal: strtod reads it */
    if (*p == '.') {
        p++;
        for (; *p >= '0' && *p <= '9'; p++, digits++, exp10--) {
            if (mant >= 100000000000000000ULL)
                return false;
            mant = mant * 10 + (uint64_t)(*p - '0');
        }
    }
    if (digits == 0)
        return false;
    if (*p == 'e' || *p == 'E') {
        const char *q = p + 1;
        bool eneg = *q == '-';
        q += *q == '-' || *q == '+';
        if (*q >= '0' && *q <= '9') {
            int x = 0;
            for (; *q >= '0' && *q <= '9'; q++)
                if ((x = x * 10 + (*q - '0')) > 100000)
                    return false;
            exp10 += eneg ? -x : x;
            p = q;
        }
    }
    *m = mant;
    *e = exp10;
    *end = p;
    return true;
}

/* Clinger's fast path: when the mantissa and the power of ten are both exact in the
 * target type, one correctly rounded multiplication or division gives the correctly
 * rounded result. It needs arithmetic done in the type itself (FLT_EVAL_METHOD 0, as
 * with SSE on x86-64). glibc's strtod/strtof work in multiple precision and would take
 * most of the time of reading a file of numbers. */
static const double pow10_d[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                 1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
static const float pow10_f[] = {1e0f, 1e1f, 1e2f, 1e3f, 1e4f, 1e5f,
                                1e6f, 1e7f, 1e8f, 1e9f, 1e10f};
#if FLT_EVAL_METHOD == 0
#define FAST_PATH 1
#else
#define FAST_PATH 0
#endif

/* strtod with the fast path. *float_exact tells whether (float) of the result is the
 * float nearest to the text: true on the float fast path, where the double division
 * of two exact floats rounded again to float is still correctly rounded (double has
 * more than 2 x 24 + 2 bits, so double rounding is harmless for one operation). */
static double parse_double(const char *s, char **end, bool *float_exact)
{
    bool neg;
    uint64_t m;
    int e;
    const char *stop;
    *float_exact = false;
    if (FAST_PATH && decimal_parts(s, &neg, &m, &e, &stop) && m <= (1ULL << 53) && e >= -22 &&
        e <= 22) {
        double d = (double)m;
        d = e < 0 ? d / pow10_d[-e] : d * pow10_d[e];
        if (end)
            *end = (char *)stop;
        *float_exact = m <= (1ULL << 24) && e >= -10 && e <= 10;
        return neg ? -d : d;
    }
    /* Falls back to the plain function if newlocale failed (then the program's locale
     * applies, which is "C" unless it called setlocale). */
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale ? strtod_l(s, end, c_locale) : strtod(s, end);
}

double hp_strtod(const char *s, char **end)
{
    bool float_exact;
    return parse_double(s, end, &float_exact);
}

float hp_strtof(const char *s, char **end)
{
    bool neg;
    uint64_t m;
    int e;
    const char *stop;
    if (FAST_PATH && decimal_parts(s, &neg, &m, &e, &stop) && m <= (1ULL << 24) && e >= -10 &&
        e <= 10) {
        float f = (float)m;
        f = e < 0 ? f / pow10_f[-e] : f * pow10_f[e];
        if (end)
            *end = (char *)stop;
        return neg ? -f : f;
    }
    pthread_once(&c_locale_once, make_c_locale);
    return c_locale ? strtof_l(s, end, c_locale) : strtof(s, end);
}

/* ---- the stream state shared by the yajl callbacks ---- */

enum mode {
    MODE_ARRAY,   /* items are the elements of the top-level array */
    MODE_LINES,   /* items are the top-level values, one per line */
    MODE_MEMBERS, /* items are the elements of chosen members of the top-level object */
};

enum state { RUNNING, STOPPED, FAILED };

typedef struct stream {
    const char *path;
    enum mode mode;
    size_t item_depth; /* nesting depth at which a value is an item */
    const hp_json_member *members;
    size_t n_members;
    void *ctx;
    hp_err *err;
    enum state state;

    size_t depth;                 /* containers open in the document */
    bool skip;                    /* inside a top-level member nobody asked for */
    const hp_json_member *want;   /* MODE_MEMBERS: the member whose value comes next */
    hp_json_item_fn fn;           /* who gets the items of the current array/member */
    const char *member;           /* its name, for messages (NULL outside MODE_MEMBERS) */
    size_t index;                 /* items given to fn so far */
    char *key;                    /* member name waiting for its value */
    cJSON *stack[MAX_DEPTH];      /* the item being built: root first */
    size_t n_stack;
} stream;

/* Records an error found inside a yajl callback; the position is added by report(). */
__attribute__((format(printf, 2, 3))) static int fail_here(stream *s, const char *fmt, ...)
{
    if (s->err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(s->err->msg, sizeof s->err->msg, fmt, ap);
        va_end(ap);
    }
    s->state = FAILED;
    return 0; /* tells yajl to stop */
}

static int out_of_memory(stream *s)
{
    return fail_here(s, "out of memory building a JSON item");
}

static bool ignoring(const stream *s)
{
    return s->skip || (s->mode == MODE_MEMBERS && s->depth == 1 && !s->want);
}

static const char *type_name(const cJSON *v)
{
    if (cJSON_IsObject(v))
        return "an object";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    return "null";
}

/* Hands a finished item to its callback and frees it. */
static int deliver(stream *s, cJSON *item)
{
    size_t idx = s->index++;
    int r = s->fn(item, idx, s->ctx, s->err);
    if (r < 0) {
        /* Say which item, so that "field missing" can be found in the file. */
        char where[256];
        if (s->depth < s->item_depth) /* a member with a plain value: the member is the item */
            snprintf(where, sizeof where, "member \"%.100s\"", s->member);
        else if (s->member && item->string)
            snprintf(where, sizeof where, "member \"%.100s\", item %zu (\"%.100s\")", s->member,
                     idx, item->string);
        else if (s->member)
            snprintf(where, sizeof where, "member \"%.100s\", item %zu", s->member, idx);
        else
            snprintf(where, sizeof where, "item %zu", idx);
        hp_failctx(s->err, "%s", where);
        s->state = FAILED;
    } else if (r > 0) {
        s->state = STOPPED;
    }
    cJSON_Delete(item);
    return r == 0;
}

/* Gives a new value its member name and links it into the item being built; a value at
 * the item depth becomes the root of a new item. */
static void attach(stream *s, cJSON *v)
{
    v->string = s->key; /* cJSON frees ->string with the node */
    s->key = NULL;
    if (s->depth > s->item_depth)
        cJSON_AddItemToArray(s->stack[s->n_stack - 1], v); /* objects share the list */
}

/* A scalar value somewhere in the document; v is already built. */
static int put_scalar(stream *s, cJSON *v)
{
    if (s->depth < s->item_depth) {
        if (s->mode == MODE_MEMBERS && s->depth == 1) {
            /* A named member with a plain value is one item. */
            s->fn = s->want->on_item;
            s->member = s->want->name;
            s->index = 0;
            size_t len = strlen(s->want->name);
            v->string = cJSON_malloc(len + 1);
            if (!v->string) {
                cJSON_Delete(v);
                return out_of_memory(s);
            }
            memcpy(v->string, s->want->name, len + 1);
            return deliver(s, v);
        }
        cJSON_Delete(v);
        return fail_here(s, "expected %s at the top level, found a plain value",
                         s->mode == MODE_ARRAY ? "an array" : "an object");
    }
    attach(s, v);
    if (s->depth == s->item_depth)
        return deliver(s, v);
    return 1;
}

static int on_null(void *ctx)
{
    stream *s = ctx;
    if (ignoring(s))
        return 1;
    cJSON *v = cJSON_CreateNull();
    return v ? put_scalar(s, v) : out_of_memory(s);
}

static int on_boolean(void *ctx, int b)
{
    stream *s = ctx;
    if (ignoring(s))
        return 1;
    cJSON *v = cJSON_CreateBool(b);
    return v ? put_scalar(s, v) : out_of_memory(s);
}

/* yajl passes the number's exact text; it is kept in valuestring (see the header). */
/* yajl passes the number's exact text. It is kept in valuestring only when the double
 * cannot give the nearest float (see the header), which spares a copy for most numbers. */
static int on_number(void *ctx, const char *text, size_t len)
{
    stream *s = ctx;
    if (ignoring(s))
        return 1;
    char small[64], *copy = small;
    if (len >= sizeof small && !(copy = cJSON_malloc(len + 1)))
        return out_of_memory(s);
    memcpy(copy, text, len);
    copy[len] = 0;
    bool float_exact;
    cJSON *v = cJSON_CreateNumber(parse_double(copy, NULL, &float_exact));
    if (v && !float_exact && copy == small) {
        copy = cJSON_malloc(len + 1);
        if (copy)
            memcpy(copy, small, len + 1);
    }
    if (!v || !copy) {
        cJSON_Delete(v);
        if (copy != small)
            cJSON_free(copy);
        return out_of_memory(s);
    }
    if (!float_exact)
        v->valuestring = copy;
    else if (copy != small)
        cJSON_free(copy);
    return put_scalar(s, v);
}

/* A NUL-terminated copy of a yajl string, or NULL (with err set) if it holds U+0000. */
static char *copy_text(stream *s, const unsigned char *text, size_t len)
{
    if (memchr(text, 0, len)) {
        fail_here(s, "a string contains U+0000 (\\u0000), which is not supported");
        return NULL;
    }
    char *copy = cJSON_malloc(len + 1);
    if (!copy) {
        out_of_memory(s);
        return NULL;
    }
    memcpy(copy, text, len);
    copy[len] = 0;
    return copy;
}

static int on_string(void *ctx, const unsigned char *text, size_t len)
{
    stream *s = ctx;
    if (ignoring(s))
        return 1;
    char *copy = copy_text(s, text, len);
    if (!copy)
        return 0;
    /* Built from a null node so that the text is not copied twice. */
    cJSON *v = cJSON_CreateNull();
    if (!v) {
        cJSON_free(copy);
        return out_of_memory(s);
    }
    v->type = cJSON_String;
    v->valuestring = copy;
    return put_scalar(s, v);
}

static const hp_json_member *find_member(const stream *s, const char *name)
{
    for (size_t i = 0; i < s->n_members; i++)
        if (strcmp(s->members[i].name, name) == 0)
            return &s->members[i];
    return NULL;
}

static int on_map_key(void *ctx, const unsigned char *text, size_t len)
{
    stream *s = ctx;
    if (s->skip)
        return 1;
    char *key = copy_text(s, text, len);
    if (!key)
        return 0;
    if (s->mode == MODE_MEMBERS && s->depth == 1) {
        s->want = find_member(s, key);
        cJSON_free(key);
        return 1;
    }
    cJSON_free(s->key);
    s->key = key;
    return 1;
}

/* The top-level container (or, for MODE_MEMBERS, a named member's) opens. */
static int open_outer(stream *s, bool is_map)
{
    if (s->depth == 0) {
        bool want_map = s->mode == MODE_MEMBERS;
        if (is_map != want_map)
            return fail_here(s, "expected %s at the top level", want_map ? "an object" : "an array");
        return 1;
    }
    /* depth 1 of MODE_MEMBERS: the value of a named member; its elements are items. */
    s->fn = s->want->on_item;
    s->member = s->want->name;
    s->index = 0;
    return 1;
}

static int open_container(stream *s, bool is_map)
{
    if (ignoring(s)) {
        s->skip = true;
        s->depth++;
        return 1;
    }
    if (s->depth < s->item_depth) {
        int r = open_outer(s, is_map);
        s->depth++;
        return r;
    }
    if (s->n_stack == MAX_DEPTH)
        return fail_here(s, "nesting deeper than %d levels", MAX_DEPTH);
    cJSON *c = is_map ? cJSON_CreateObject() : cJSON_CreateArray();
    if (!c)
        return out_of_memory(s);
    attach(s, c);
    s->stack[s->n_stack++] = c;
    s->depth++;
    return 1;
}

static int close_container(stream *s)
{
    s->depth--;
    if (s->skip) {
        if (s->depth == 1)
            s->skip = false;
        return 1;
    }
    if (s->depth < s->item_depth)
        return 1;
    cJSON *c = s->stack[--s->n_stack];
    if (s->depth == s->item_depth)
        return deliver(s, c);
    return 1;
}

static int on_start_map(void *ctx) { return open_container(ctx, true); }
static int on_end_map(void *ctx) { return close_container(ctx); }
static int on_start_array(void *ctx) { return open_container(ctx, false); }
static int on_end_array(void *ctx) { return close_container(ctx); }

static const yajl_callbacks callbacks = {
    .yajl_null = on_null,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end_map,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end_array,
};

/* Frees a partly built item after an error or an early stop. */
static void reset_builder(stream *s)
{
    if (s->n_stack > 0)
        cJSON_Delete(s->stack[0]);
    s->n_stack = 0;
    cJSON_free(s->key);
    s->key = NULL;
    s->depth = 0;
    s->skip = false;
}

/* ---- position tracking and error reports ---- */

typedef struct position {
    size_t line;       /* 1-based line of the next byte to read */
    size_t column;     /* bytes already read on that line */
} position;

/* Advances pos over n bytes of text. */
static void advance(position *pos, const unsigned char *p, size_t n)
{
    const unsigned char *end = p + n, *nl;
    while ((nl = memchr(p, '\n', (size_t)(end - p))) != NULL) {
        pos->line++;
        pos->column = 0;
        p = nl + 1;
    }
    pos->column += (size_t)(end - p);
}

/* Turns a non-ok yajl status into the stream's result: 0 for an early stop by the
 * callback, -1 with a message naming the file and the line and column reached. */
static int report(stream *s, yajl_handle h, yajl_status st, const unsigned char *chunk,
                  size_t len, position at)
{
    size_t used = chunk ? yajl_get_bytes_consumed(h) : 0;
    if (chunk)
        advance(&at, chunk, used < len ? used : len);
    /* yajl stops just after the offending byte (or the item's last byte); at the end of
     * the input the position is one past the last byte. */
    size_t column = chunk && at.column > 0 ? at.column : at.column + 1;
    if (st == yajl_status_client_canceled) {
        if (s->state == STOPPED)
            return 0;
        return hp_failctx(s->err, "%s: line %zu, column %zu", s->path, at.line, column);
    }
    unsigned char *msg = yajl_get_error(h, 0, chunk, len);
    char text[256];
    snprintf(text, sizeof text, "%s", msg ? (const char *)msg : "unknown error");
    if (msg)
        yajl_free_error(h, msg);
    text[strcspn(text, "\n")] = 0; /* yajl ends its messages with a newline */
    const char *hint = "";
    if (strstr(text, "premature EOF"))
        hint = " (the text ends inside a value: truncated file or missing bracket?)";
    else if (strstr(text, "trailing garbage"))
        hint = s->mode == MODE_LINES
                   ? " (JSON Lines hold one value per line)"
                   : " (more than one top-level value: name the file .jsonl to read one value per line)";
    return hp_fail(s->err, "%s: line %zu, column %zu: invalid JSON: yajl says \"%s\"%s", s->path,
                   at.line, column, text, hint);
}

/* ---- drivers ---- */

static yajl_handle new_parser(stream *s)
{
    yajl_handle h = yajl_alloc(&callbacks, NULL, s);
    if (!h)
        hp_fail(s->err, "%s: out of memory creating a JSON parser", s->path);
    return h;
}

/* One document (array or object) fed chunk by chunk. */
static int parse_document(stream *s, FILE *fp, unsigned char *buf, size_t have)
{
    yajl_handle h = new_parser(s);
    if (!h)
        return -1;
    position pos = {1, 0};
    int rc = 0;
    size_t n = have;
    for (;;) {
        if (n > 0) {
            yajl_status st = yajl_parse(h, buf, n);
            if (st != yajl_status_ok) {
                rc = report(s, h, st, buf, n, pos);
                goto done;
            }
            advance(&pos, buf, n);
        }
        n = fread(buf, 1, CHUNK_BYTES, fp);
        if (n == 0)
            break;
    }
    if (ferror(fp)) {
        rc = hp_fail(s->err, "%s: read error after line %zu", s->path, pos.line);
        goto done;
    }
    yajl_status st = yajl_complete_parse(h);
    if (st != yajl_status_ok)
        rc = report(s, h, st, NULL, 0, pos);
done:
    yajl_free(h);
    return rc;
}

static bool blank(const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r')
            return false;
    return true;
}

/* JSONL: each line gets its own parser, so that a value must end on its line and an
 * error names the line. Lines may be longer than a chunk; they are fed in pieces. */
typedef struct line_parser {
    yajl_handle h; /* NULL while the line is blank so far */
    position pos;  /* start of the piece being fed */
} line_parser;

static int feed_line(stream *s, line_parser *lp, const unsigned char *p, size_t n)
{
    if (!lp->h) {
        if (blank(p, n)) {
            lp->pos.column += n;
            return 0;
        }
        lp->h = new_parser(s);
        if (!lp->h)
            return -1;
    }
    yajl_status st = yajl_parse(lp->h, p, n);
    if (st != yajl_status_ok)
        return report(s, lp->h, st, p, n, lp->pos) == 0 ? 1 : -1;
    lp->pos.column += n;
    return 0;
}

/* Returns 0 to go on, 1 when the callback stopped, -1 on error. */
static int end_line(stream *s, line_parser *lp)
{
    int rc = 0;
    if (lp->h) {
        yajl_status st = yajl_complete_parse(lp->h);
        if (st != yajl_status_ok)
            rc = report(s, lp->h, st, NULL, 0, lp->pos) == 0 ? 1 : -1;
        yajl_free(lp->h);
        lp->h = NULL;
    }
    lp->pos.line++;
    lp->pos.column = 0;
    return rc;
}

static int parse_lines(stream *s, FILE *fp, unsigned char *buf, size_t have)
{
    line_parser lp = {NULL, {1, 0}};
    int rc = 0;
    size_t n = have;
    while (rc == 0 && n > 0) {
        const unsigned char *p = buf, *end = buf + n;
        while (rc == 0 && p < end) {
            const unsigned char *nl = memchr(p, '\n', (size_t)(end - p));
            const unsigned char *stop = nl ? nl : end;
            rc = feed_line(s, &lp, p, (size_t)(stop - p));
            if (rc == 0 && nl)
                rc = end_line(s, &lp);
            p = stop + (nl != NULL);
        }
        if (rc == 0)
            n = fread(buf, 1, CHUNK_BYTES, fp);
    }
    if (rc == 0 && ferror(fp))
        rc = hp_fail(s->err, "%s: read error at line %zu", s->path, lp.pos.line);
    if (rc == 0)
        rc = end_line(s, &lp); /* a last line without a newline */
    if (lp.h)
        yajl_free(lp.h);
    return rc < 0 ? -1 : 0;
}

static bool has_suffix(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* Opens path, reads the first chunk and drops a UTF-8 byte-order mark. Returns the
 * first non-blank byte (or -1 for an empty file) in *first. */
static FILE *open_first_chunk(const char *path, unsigned char *buf, size_t *n, int *first,
                              hp_err *err)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    *n = fread(buf, 1, CHUNK_BYTES, fp);
    if (ferror(fp)) { /* a directory opens but does not read */
        hp_fail(err, "%s: cannot read: %s", path, strerror(errno));
        fclose(fp);
        return NULL;
    }
    if (*n >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0) {
        memmove(buf, buf + 3, *n - 3);
        *n -= 3;
    }
    *first = -1;
    for (size_t i = 0; i < *n; i++)
        if (buf[i] != ' ' && buf[i] != '\t' && buf[i] != '\r' && buf[i] != '\n') {
            *first = buf[i];
            break;
        }
    return fp;
}

static int run(stream *s, bool members)
{
    unsigned char *buf = hp_malloc(CHUNK_BYTES, "a JSON read buffer", s->err);
    if (!buf)
        return -1;
    size_t n;
    int first, rc = -1;
    FILE *fp = open_first_chunk(s->path, buf, &n, &first, s->err);
    if (fp) {
        bool jsonl = has_suffix(s->path, ".jsonl") || has_suffix(s->path, ".ndjson");
        if (members) {
            s->mode = MODE_MEMBERS;
            s->item_depth = 2;
        } else if (!jsonl && first == '[') {
            s->mode = MODE_ARRAY;
            s->item_depth = 1;
        } else {
            s->mode = MODE_LINES;
            s->item_depth = 0;
        }
        if (members && first != '{')
            rc = hp_fail(s->err, "%s: expected a JSON object, found %s", s->path,
                         first < 0 ? "an empty file" : "something else at the start");
        else if (s->mode == MODE_LINES)
            rc = parse_lines(s, fp, buf, n);
        else
            rc = parse_document(s, fp, buf, n);
        fclose(fp);
    }
    reset_builder(s);
    free(buf);
    return rc;
}

int hp_json_each(const char *path, hp_json_item_fn on_item, void *ctx, hp_err *err)
{
    stream s = {.path = path, .fn = on_item, .ctx = ctx, .err = err};
    return run(&s, false);
}

int hp_json_each_member(const char *path, const hp_json_member *members, size_t n_members,
                        void *ctx, hp_err *err)
{
    stream s = {.path = path, .members = members, .n_members = n_members, .ctx = ctx, .err = err};
    return run(&s, true);
}

/* ---- helpers for item callbacks ---- */

const char *hp_json_field_str(const cJSON *item, const char *name, hp_err *err)
{
    if (!cJSON_IsObject(item)) {
        hp_fail(err, "expected an object with a string field \"%s\", found %s", name,
                type_name(item));
        return NULL;
    }
    const cJSON *f = cJSON_GetObjectItemCaseSensitive(item, name);
    if (cJSON_IsString(f))
        return f->valuestring;
    if (f) {
        hp_fail(err, "field \"%s\" is %s, expected a string", name, type_name(f));
        return NULL;
    }
    /* List what is there: usually the field was spelled differently. */
    char have[512] = "";
    size_t used = 0;
    const cJSON *c;
    cJSON_ArrayForEach(c, item)
    {
        int k = snprintf(have + used, sizeof have - used, "%s\"%s\"", used ? ", " : "",
                         c->string ? c->string : "");
        if (k < 0 || (size_t)k >= sizeof have - used)
            break;
        used += (size_t)k;
    }
    hp_fail(err, "field \"%s\" is missing (the object has %s)", name, used ? have : "no fields");
    return NULL;
}

int hp_json_f32(const cJSON *num, float *out, hp_err *err)
{
    if (!cJSON_IsNumber(num))
        return hp_fail(err, "expected a number, found %s", type_name(num));
    float f;
    if (num->valuestring) {
        f = hp_strtof(num->valuestring, NULL);
        /* Only overflow is an error; underflow to a subnormal or zero is a fine answer. */
        if (isinf(f))
            return hp_fail(err, "number %s is beyond the float32 range", num->valuestring);
    } else {
        f = (float)num->valuedouble;
        if (!isfinite(f))
            return hp_fail(err, "number %g is beyond the float32 range", num->valuedouble);
    }
    *out = f;
    return 0;
}

/* Evaluation data sets, outputs and results (eval_sets.h). */
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "eval_sets.h"

/* ---- reading the data sets ---- */

typedef struct reader {
    eval_set *set;
    long limit;
} reader;

/* "answer" as text: a string as it is, a number in the shortest form that reads back. */
static char *label_of(const cJSON *j, hp_err *err)
{
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(j, "answer");
    if (cJSON_IsString(a))
        return hp_strdup(a->valuestring, err);
    if (cJSON_IsNumber(a)) {
        char buf[40];
        snprintf(buf, sizeof buf, "%.17g", a->valuedouble);
        return hp_strdup(buf, err);
    }
    return hp_fail(err, a ? "field \"answer\" is neither a string nor a number" : "field \"answer\" (the label) is missing"),
           NULL;
}

static int on_item(const cJSON *j, size_t index, void *ctx, hp_err *err)
{
    reader *r = ctx;
    eval_set *s = r->set;
    if (r->limit && index >= (size_t)r->limit)
        return 1;
    const char *instruction = hp_json_field_str(j, "instruction", err);
    if (!instruction)
        return -1;
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(j, "input");
    if (in && !cJSON_IsNull(in) && !cJSON_IsString(in))
        return hp_fail(err, "field \"input\" is not a string");
    if (hp_grow((void **)&s->items, &s->cap, s->n + 1, sizeof *s->items, "the items", err))
        return -1;
    eval_item *it = &s->items[s->n];
    memset(it, 0, sizeof *it);
    it->label = label_of(j, err);
    it->instruction = it->label ? hp_strdup(instruction, err) : NULL;
    if (it->instruction && cJSON_IsString(in) && in->valuestring[0])
        it->input = hp_strdup(in->valuestring, err);
    s->n++; /* freed with the set even when incomplete */
    return it->instruction && (!cJSON_IsString(in) || !in->valuestring[0] || it->input) ? 0 : -1;
}

/* The folder a data file is in ("gsm8k" for .../gsm8k/test.json), else the file's path. */
static char *set_name(const char *path, hp_err *err)
{
    char *copy = hp_strdup(path, err);
    if (!copy)
        return NULL;
    char *dir = dirname(copy);
    const char *slash = strrchr(dir, '/');
    const char *base = slash ? slash + 1 : dir;
    char *name = hp_strdup(strcmp(base, ".") && strcmp(base, "/") && *base ? base : path, err);
    free(copy);
    return name;
}

int eval_sets_read(eval_sets *s, char *const *paths, int n_paths, long limit, hp_task task, hp_err *err)
{
    memset(s, 0, sizeof *s);
    if (!(s->sets = hp_calloc((size_t)n_paths, sizeof *s->sets, "the data sets", err)))
        return -1;
    for (int f = 0; f < n_paths; f++) {
        eval_set *set = &s->sets[s->n++];
        reader r = {set, limit};
        if (!(set->path = hp_strdup(paths[f], err)) || !(set->name = set_name(paths[f], err)) ||
            hp_json_each(paths[f], on_item, &r, err))
            return -1;
        if (set->n == 0)
            return hp_fail(err, "%s: the data set holds no items", paths[f]);
        for (int g = 0; g < f; g++)
            if (strcmp(s->sets[g].name, set->name) == 0) { /* two sets in folders of one name */
                free(set->name);
                if (!(set->name = hp_strdup(paths[f], err)))
                    return -1;
            }
        const char **labels = hp_malloc(set->n * sizeof *labels, "the labels", err);
        if (!labels)
            return -1;
        for (size_t i = 0; i < set->n; i++)
            labels[i] = set->items[i].label;
        int rc = hp_answer_kind_of(task, labels, set->n, &set->kind, err);
        free(labels);
        if (rc)
            return hp_failctx(err, "%s", paths[f]);
        s->n_items += set->n;
    }
    return 0;
}

void eval_sets_free(eval_sets *s)
{
    for (int f = 0; f < s->n; f++) {
        eval_set *set = &s->sets[f];
        for (size_t i = 0; i < set->n; i++) {
            eval_item *it = &set->items[i];
            free(it->instruction), free(it->input), free(it->label), free(it->output);
        }
        free(set->items), free(set->name), free(set->path);
    }
    free(s->sets);
    memset(s, 0, sizeof *s);
}

int eval_set_output(eval_sets *s, int set, size_t index, const char *output, hp_err *err)
{
    eval_set *st = &s->sets[set];
    eval_item *it = &st->items[index];
    if (it->output)
        return hp_fail(err, "a second output for item %zu of %s", index, st->name);
    if (!(it->output = hp_strdup(output, err)))
        return -1;
    hp_answer_extract(&st->kind, output, it->prediction, sizeof it->prediction);
    it->correct = hp_answer_correct(&st->kind, it->label, it->prediction);
    return 0;
}

void eval_sets_tally(const eval_sets *s, size_t *scored, size_t *correct)
{
    *scored = *correct = 0;
    for (int f = 0; f < s->n; f++)
        for (size_t i = 0; i < s->sets[f].n; i++) {
            *scored += s->sets[f].items[i].output != NULL;
            *correct += s->sets[f].items[i].correct;
        }
}

/* ---- reading outputs ---- */

typedef struct placing {
    eval_sets *s;
    int keyed;       /* -1 not yet known, 0 in order, 1 by dataset and index */
    int set;         /* in order: the next item */
    size_t index;
} placing;

/* Puts one entry's output at its item. */
static int place(placing *p, const cJSON *e, hp_err *err)
{
    if (!cJSON_IsObject(e))
        return hp_fail(err, "expected an object with \"output\"");
    const char *output = hp_json_field_str(e, "output", err);
    if (!output)
        return -1;
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(e, "dataset"), *ix = cJSON_GetObjectItemCaseSensitive(e, "index");
    int keyed = ds || ix;
    if (p->keyed >= 0 && keyed != p->keyed)
        return hp_fail(err, "some entries have \"dataset\" and \"index\" and some do not");
    p->keyed = keyed;
    eval_sets *s = p->s;
    if (!keyed) {
        while (p->set < s->n && p->index >= s->sets[p->set].n)
            p->set++, p->index = 0;
        if (p->set == s->n)
            return hp_fail(err, "more outputs than the data sets have items (%zu)", s->n_items);
        return eval_set_output(s, p->set, p->index++, output, err);
    }
    if (!cJSON_IsString(ds) || !cJSON_IsNumber(ix))
        return hp_fail(err, "expected \"dataset\" (a string) and \"index\" (a number) together");
    for (int f = 0; f < s->n; f++)
        if (strcmp(s->sets[f].name, ds->valuestring) == 0) {
            double i = ix->valuedouble;
            if (!(i >= 0 && i < (double)s->sets[f].n && i == (double)(size_t)i))
                return hp_fail(err, "\"index\" %g is not an item of %s (0 to %zu)", i, s->sets[f].name,
                               s->sets[f].n - 1);
            return eval_set_output(s, f, (size_t)i, output, err);
        }
    return hp_fail(err, "\"dataset\" \"%.60s\" is not one of the data sets evaluated", ds->valuestring);
}

/* The line number of offset at in text. */
static size_t line_of(const char *text, size_t at)
{
    size_t line = 1;
    for (size_t i = 0; i < at; i++)
        line += text[i] == '\n';
    return line;
}

/* Each line of text as one entry; with header, the first line must be it; a torn last line
 * (no newline, not JSON) is cut off the file when `cut_torn`. */
static int read_lines(placing *p, const char *path, char *text, size_t len, const char *header, hp_err *err)
{
    size_t at = 0, line = 0;
    while (at < len) {
        char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len;
        line++;
        text[end] = '\0';
        const char *t = text + at;
        while (*t == ' ' || *t == '\t' || *t == '\r')
            t++;
        if (line == 1 && header) {
            if (strcmp(t, header) != 0)
                return hp_fail(err,
                               "%s was left by an evaluation with other settings: remove it, or run the command "
                               "that wrote it (its first line holds the settings)",
                               path);
        } else if (*t) {
            cJSON *e = cJSON_Parse(t);
            if (!e && header && !nl) { /* killed while writing the line: drop it */
                if (truncate(path, (off_t)at))
                    return hp_fail(err, "%s: cannot cut its torn last line", path);
                break;
            }
            int rc = e ? place(p, e, err) : hp_fail(err, "not JSON");
            cJSON_Delete(e);
            if (rc)
                return hp_failctx(err, "%s, line %zu", path, line);
        }
        at = end + 1;
    }
    if (header && line == 0)
        return hp_fail(err, "%s is empty: remove it", path);
    return 0;
}

int eval_sets_read_outputs(eval_sets *s, const char *path, const char *header, hp_err *err)
{
    size_t len;
    char *text = hp_read_small_file(path, (size_t)4 << 30, &len, err);
    if (!text)
        return -1;
    placing p = {s, -1, 0, 0};
    size_t n = strlen(path);
    const char *first = text + strspn(text, " \t\r\n");
    bool jsonl = header || (n > 6 && strcmp(path + n - 6, ".jsonl") == 0) || (*first != '[' && *first != '{');
    cJSON *doc = jsonl ? NULL : cJSON_ParseWithLength(text, len);
    int rc = 0;
    if (jsonl || (!doc && *first == '{')) { /* a '{' file that is not one object: JSONL */
        rc = read_lines(&p, path, text, len, header, err);
    } else if (!doc) {
        const char *at = cJSON_GetErrorPtr();
        rc = hp_fail(err, "%s: not valid JSON (line %zu)", path,
                     at && at >= text && at <= text + len ? line_of(text, (size_t)(at - text)) : (size_t)0);
    } else {
        const cJSON *list = cJSON_IsArray(doc) ? doc : cJSON_GetObjectItemCaseSensitive(doc, "items");
        if (!list && cJSON_GetObjectItemCaseSensitive(doc, "output")) /* JSONL of one line */
            rc = place(&p, doc, err) ? hp_failctx(err, "%s", path) : 0;
        else if (!cJSON_IsArray(list))
            rc = hp_fail(err, "%s: expected an array of outputs or a results file with \"items\"", path);
        size_t i = 0;
        for (const cJSON *e = list ? list->child : NULL; e && rc == 0; e = e->next, i++)
            if (place(&p, e, err))
                rc = hp_failctx(err, "%s, entry %zu", path, i);
    }
    cJSON_Delete(doc);
    free(text);
    return rc;
}

/* ---- results ---- */

static cJSON *tally_object(size_t items, size_t correct)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "items", (double)items);
    cJSON_AddNumberToObject(o, "correct", (double)correct);
    cJSON_AddNumberToObject(o, "accuracy", items ? (double)correct / (double)items : 0);
    return o;
}

static size_t set_correct(const eval_set *set)
{
    size_t c = 0;
    for (size_t i = 0; i < set->n; i++)
        c += set->items[i].correct;
    return c;
}

int eval_sets_write_results(const eval_sets *s, const cJSON *settings, const char *path, hp_err *err)
{
    cJSON *root = cJSON_CreateObject(), *cmd = cJSON_AddArrayToObject(root, "command");
    for (int i = 0; i < g_cli.argc; i++)
        cJSON_AddItemToArray(cmd, cJSON_CreateString(g_cli.argv[i]));
    cJSON_AddStringToObject(root, "hyplora_version", HYPLORA_VERSION);
    cJSON_AddItemToObject(root, "settings", cJSON_Duplicate(settings, true));
    cJSON *sets = cJSON_AddArrayToObject(root, "datasets"), *items = cJSON_CreateArray();
    size_t total = 0, correct = 0;
    double sum_acc = 0;
    for (int f = 0; f < s->n; f++) {
        const eval_set *set = &s->sets[f];
        size_t c = set_correct(set), none = 0;
        cJSON *o = tally_object(set->n, c);
        char kind[48];
        hp_answer_kind_describe(&set->kind, kind, sizeof kind);
        cJSON_AddStringToObject(o, "name", set->name);
        cJSON_AddStringToObject(o, "path", set->path);
        cJSON_AddStringToObject(o, "task", kind);
        for (size_t i = 0; i < set->n; i++) {
            const eval_item *it = &set->items[i];
            none += !it->prediction[0];
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "dataset", set->name);
            cJSON_AddNumberToObject(e, "index", (double)i);
            cJSON_AddStringToObject(e, "label", it->label);
            cJSON_AddStringToObject(e, "output", it->output ? it->output : "");
            cJSON_AddStringToObject(e, "prediction", it->prediction);
            cJSON_AddBoolToObject(e, "correct", it->correct);
            cJSON_AddItemToArray(items, e);
        }
        cJSON_AddNumberToObject(o, "no_answer", (double)none);
        cJSON_AddItemToArray(sets, o);
        total += set->n, correct += c;
        sum_acc += (double)c / (double)set->n;
    }
    cJSON *avg = tally_object(total, correct);
    cJSON_AddNumberToObject(avg, "mean_of_datasets", s->n ? sum_acc / s->n : 0);
    cJSON_AddItemToObject(root, "average", avg);
    cJSON_AddItemToObject(root, "items", items);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return hp_fail(err, "out of memory writing %s", path);
    size_t n = strlen(text);
    text[n] = '\n'; /* replaces the NUL: written with its length */
    int rc = hp_write_file_atomic(path, text, n + 1, err);
    free(text);
    return rc;
}

void eval_sets_print(const eval_sets *s, FILE *f)
{
    int w = 8;
    for (int i = 0; i < s->n; i++)
        if ((int)strlen(s->sets[i].name) > w)
            w = (int)strlen(s->sets[i].name);
    fprintf(f, "%-*s  %-22s %7s %7s %9s\n", w, "data set", "task", "items", "correct", "accuracy");
    size_t total = 0, correct = 0;
    double sum = 0;
    for (int i = 0; i < s->n; i++) {
        const eval_set *set = &s->sets[i];
        size_t c = set_correct(set);
        char kind[48];
        hp_answer_kind_describe(&set->kind, kind, sizeof kind);
        fprintf(f, "%-*s  %-22s %7zu %7zu %8.2f%%\n", w, set->name, kind, set->n, c, 100.0 * c / set->n);
        total += set->n, correct += c, sum += (double)c / set->n;
    }
    if (s->n > 1) {
        fprintf(f, "%-*s  %-22s %7zu %7zu %8.2f%%\n", w, "all", "(weighted by items)", total, correct,
                100.0 * correct / total);
        fprintf(f, "%-*s  %-22s %7s %7s %8.2f%%\n", w, "mean", "(of the data sets)", "", "", 100.0 * sum / s->n);
    }
}

/* Answer kinds, extraction and scoring (hyplora/answer.h). Plain byte scanning, ASCII
 * classes: a byte of a multi-byte UTF-8 character counts as a letter, so "É" glued to a
 * letter keeps it inside a word. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "hyplora/answer.h"
#include "hyplora/json_stream.h"

static const char *const TASK_NAMES[] = {"auto", "number", "letter", "option"};

const char *hp_task_name(hp_task t)
{
    return t >= HP_TASK_AUTO && t <= HP_TASK_OPTION ? TASK_NAMES[t] : "?";
}

int hp_task_parse(const char *s, hp_task *t)
{
    for (int i = 0; i <= HP_TASK_OPTION; i++)
        if (strcmp(s, TASK_NAMES[i]) == 0)
            return *t = (hp_task)i, 0;
    return -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static char lower(char c)
{
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

/* A character that belongs to a word: letters, digits, underscore, non-ASCII bytes. */
static bool is_word(char c)
{
    return is_digit(c) || (lower(c) >= 'a' && lower(c) <= 'z') || c == '_' || (unsigned char)c >= 0x80;
}

static bool is_option_letter(char c)
{
    return c >= 'A' && c <= 'E';
}

/* s[i] is an option letter with no word character on either side. */
static bool lone_letter(const char *s, size_t i, size_t n)
{
    return is_option_letter(s[i]) && (i == 0 || !is_word(s[i - 1])) && (i + 1 >= n || !is_word(s[i + 1]));
}

/* A finite number written plainly ("18", "-0.5", "1e3" is not one): the whole string. */
static bool parse_number(const char *s, double *v)
{
    char *end;
    if (!*s || !(is_digit(*s) || *s == '-' || *s == '+' || *s == '.'))
        return false;
    *v = hp_strtod(s, &end);
    return *end == '\0' && isfinite(*v);
}

/* The option word family of a label: "" for true/false, the prefix of "answer3"; false for
 * neither. */
static bool option_family(const char *label, char *prefix, size_t cap)
{
    if (strcmp(label, "true") == 0 || strcmp(label, "false") == 0)
        return prefix[0] = '\0', true;
    static const char *const PREFIXES[] = {"solution", "answer", "option"};
    for (size_t i = 0; i < sizeof PREFIXES / sizeof *PREFIXES; i++) {
        size_t n = strlen(PREFIXES[i]);
        if (strncmp(label, PREFIXES[i], n) == 0 && label[n] >= '1' && label[n] <= '9' && !label[n + 1]) {
            snprintf(prefix, cap, "%s", PREFIXES[i]);
            return true;
        }
    }
    return false;
}

/* Whether label fits task t; for options, of the family in k (set from the first label). */
static bool fits(hp_task t, const char *label, hp_answer_kind *k, bool first)
{
    double v;
    char family[sizeof k->option_prefix];
    switch (t) {
    case HP_TASK_NUMBER: return parse_number(label, &v);
    case HP_TASK_LETTER: return is_option_letter(label[0]) && !label[1];
    case HP_TASK_OPTION:
        if (!option_family(label, family, sizeof family))
            return false;
        if (first)
            memcpy(k->option_prefix, family, sizeof family);
        return strcmp(family, k->option_prefix) == 0;
    default: return false;
    }
}

int hp_answer_kind_of(hp_task want, const char *const *labels, size_t n, hp_answer_kind *k, hp_err *err)
{
    memset(k, 0, sizeof *k);
    if (n == 0)
        return hp_fail(err, "no labels to decide the task from");
    size_t bad = 0;
    for (hp_task t = HP_TASK_NUMBER; t <= HP_TASK_OPTION; t++) {
        if (want != HP_TASK_AUTO && t != want)
            continue;
        size_t i = 0;
        while (i < n && fits(t, labels[i], k, i == 0))
            i++;
        if (i == n)
            return k->task = t, 0;
        if (i >= bad)
            bad = i;
    }
    if (want != HP_TASK_AUTO)
        return hp_fail(err, "label \"%.40s\" (item %zu) is not %s answer", labels[bad], bad,
                       want == HP_TASK_NUMBER   ? "a number"
                       : want == HP_TASK_LETTER ? "an option letter A-E"
                       : bad == 0               ? "an option word (true/false, solutionN, answerN, optionN)"
                                                : "an option word of the same family as the first label's");
    return hp_fail(err,
                   "label \"%.40s\" (item %zu) fits no task: the labels must all be numbers, all option letters "
                   "A-E, or all option words of one family (true/false, solutionN, answerN, optionN)",
                   labels[bad], bad);
}

void hp_answer_kind_describe(const hp_answer_kind *k, char *buf, size_t cap)
{
    if (k->task != HP_TASK_OPTION)
        snprintf(buf, cap, "%s", hp_task_name(k->task));
    else
        snprintf(buf, cap, "option (%s%s)", k->option_prefix[0] ? k->option_prefix : "true/false",
                 k->option_prefix[0] ? "N" : "");
}

/* Digits from s[*i] into out, dropping thousands separators: a comma after a group of one
 * to three digits (or after an earlier group) followed by exactly three digits. */
static void read_digits(const char *s, size_t n, size_t *i, char *out, size_t *o, size_t cap)
{
    size_t group = 0;
    bool grouped = false;
    for (;;) {
        while (*i < n && is_digit(s[*i])) {
            if (*o + 1 < cap)
                out[(*o)++] = s[*i];
            (*i)++, group++;
        }
        bool three = *i + 3 < n && is_digit(s[*i + 1]) && is_digit(s[*i + 2]) && is_digit(s[*i + 3]) &&
                     (*i + 4 >= n || !is_digit(s[*i + 4]));
        if (*i < n && s[*i] == ',' && three && (grouped ? group == 3 : group <= 3)) {
            (*i)++;
            group = 0, grouped = true;
            continue;
        }
        return;
    }
}

/* The last number of s: optional sign (a '-' right before it that does not follow a word
 * character or ')', so "10-4" is 10 and 4), digits with separators, an optional fraction. */
static bool last_number(const char *s, char *pred, size_t cap)
{
    size_t n = strlen(s), i = 0;
    bool found = false;
    char buf[64];
    while (i < n) {
        bool starts = is_digit(s[i]) || (s[i] == '.' && i + 1 < n && is_digit(s[i + 1]));
        if (!starts || (i > 0 && (s[i - 1] == '.' || is_digit(s[i - 1])))) {
            i++;
            continue;
        }
        size_t o = 0;
        if (i > 0 && s[i - 1] == '-' && (i < 2 || !(is_word(s[i - 2]) || s[i - 2] == ')')))
            buf[o++] = '-';
        read_digits(s, n, &i, buf, &o, sizeof buf);
        if (i + 1 < n && s[i] == '.' && is_digit(s[i + 1])) {
            buf[o++] = '.', i++;
            while (i < n && is_digit(s[i])) {
                if (o + 1 < sizeof buf)
                    buf[o++] = s[i];
                i++;
            }
        }
        buf[o] = '\0'; /* ".5" is written "0.5" */
        snprintf(pred, cap, "%s%s", buf[0] == '.' ? "0" : (buf[0] == '-' && buf[1] == '.') ? "-0" : "",
                 buf[0] == '-' && buf[1] == '.' ? buf + 1 : buf);
        found = true;
    }
    return found;
}

/* The first lone option letter in s[from .. to), or 0. */
static char first_letter(const char *s, size_t from, size_t to, size_t n)
{
    for (size_t i = from; i < to; i++)
        if (lone_letter(s, i, n))
            return s[i];
    return 0;
}

/* Case-insensitive search for the last occurrence of needle. */
static const char *last_ci(const char *s, const char *needle)
{
    size_t n = strlen(s), m = strlen(needle);
    for (size_t i = n >= m ? n - m + 1 : 0; i-- > 0;) {
        size_t j = 0;
        while (j < m && lower(s[i + j]) == needle[j])
            j++;
        if (j == m)
            return s + i;
    }
    return NULL;
}

static char letter_of(const char *s)
{
    size_t n = strlen(s);
    const char *box = last_ci(s, "\\boxed{");
    if (box) {
        size_t from = (size_t)(box - s) + 7, to = from;
        while (to < n && s[to] != '}')
            to++;
        char c = first_letter(s, from, to, n);
        if (c)
            return c;
    }
    /* the later of the last "answer is" and the last "answer:" */
    const char *is = last_ci(s, "answer is"), *colon = last_ci(s, "answer:");
    const char *at = is > colon ? is : colon;
    if (at) {
        size_t i = (size_t)(at - s) + (at == is ? 9 : 7);
        while (i < n && (s[i] == ' ' || s[i] == ':' || s[i] == '(' || s[i] == '*'))
            i++;
        if (i < n && lone_letter(s, i, n))
            return s[i];
    }
    for (size_t i = n; i-- > 0;)
        if (lone_letter(s, i, n))
            return s[i];
    return 0;
}

/* The first whole word of the family in k, lower-cased into pred. */
static bool first_option(const hp_answer_kind *k, const char *s, char *pred, size_t cap)
{
    size_t n = strlen(s);
    for (size_t i = 0; i < n; i++) {
        if (!is_word(s[i]) || (i > 0 && is_word(s[i - 1])))
            continue;
        size_t e = i;
        while (e < n && is_word(s[e]))
            e++;
        char word[24];
        if (e - i >= sizeof word)
            continue;
        for (size_t j = i; j < e; j++)
            word[j - i] = lower(s[j]);
        word[e - i] = '\0';
        char family[sizeof k->option_prefix];
        if (option_family(word, family, sizeof family) && strcmp(family, k->option_prefix) == 0)
            return snprintf(pred, cap, "%s", word), true;
    }
    return false;
}

bool hp_answer_extract(const hp_answer_kind *k, const char *output, char *pred, size_t cap)
{
    pred[0] = '\0';
    switch (k->task) {
    case HP_TASK_NUMBER: return last_number(output, pred, cap);
    case HP_TASK_LETTER: {
        char c = letter_of(output);
        if (c)
            snprintf(pred, cap, "%c", c);
        return c != 0;
    }
    case HP_TASK_OPTION: return first_option(k, output, pred, cap);
    default: return false;
    }
}

bool hp_answer_correct(const hp_answer_kind *k, const char *label, const char *pred)
{
    double a, b;
    switch (k->task) {
    case HP_TASK_NUMBER: return parse_number(label, &a) && parse_number(pred, &b) && fabs(a - b) <= 0.001;
    case HP_TASK_LETTER: return pred[0] && strcmp(label, pred) == 0;
    case HP_TASK_OPTION:
        if (!pred[0] || strlen(label) != strlen(pred))
            return false;
        for (size_t i = 0; label[i]; i++)
            if (lower(label[i]) != lower(pred[i]))
                return false;
        return true;
    default: return false;
    }
}

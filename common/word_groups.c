/* Word groups (hyplora/norms.h): the file format and the word-to-token rule. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/file.h"
#include "hyplora/norms.h"

void hp_word_groups_free(hp_word_group *groups, size_t n_groups)
{
    for (size_t g = 0; groups && g < n_groups; g++) {
        free(groups[g].name);
        for (size_t w = 0; w < groups[g].n_words; w++)
            free(groups[g].words[w]);
        free(groups[g].words);
    }
    free(groups);
}

/* Splits one line into the name and words of a new group. */
static int parse_line(char *line, const char *path, size_t line_no, hp_word_group *g,
                      hp_err *err)
{
    size_t cap = 0;
    for (char *save = NULL, *tok = strtok_r(line, " \t\r\n", &save); tok;
         tok = strtok_r(NULL, " \t\r\n", &save)) {
        if (!g->name) {
            if (!(g->name = hp_strdup(tok, err)))
                return -1;
            continue;
        }
        if (hp_grow((void **)&g->words, &cap, g->n_words + 1, sizeof *g->words, "the words",
                    err) != 0 ||
            !(g->words[g->n_words] = hp_strdup(tok, err)))
            return -1;
        g->n_words++;
    }
    if (g->n_words == 0)
        return hp_fail(err, "%s line %zu: group \"%s\" has no words (expected its name, then "
                            "its words separated by spaces)", path, line_no, g->name);
    return 0;
}

int hp_word_groups_load(const char *path, hp_word_group **groups, size_t *n_groups, hp_err *err)
{
    *groups = NULL;
    *n_groups = 0;
    FILE *f = fopen(path, "r");
    if (!f)
        return hp_fail(err, "%s: cannot open: %s", path, strerror(errno));
    char *line = NULL;
    size_t line_cap = 0, cap = 0, line_no = 0;
    ssize_t len;
    int rc = 0;
    while (rc == 0 && (len = getline(&line, &line_cap, f)) >= 0) {
        line_no++;
        if ((size_t)len != strlen(line) || !hp_utf8_valid(line, (size_t)len, NULL)) {
            rc = hp_fail(err, "%s line %zu: not UTF-8 text", path, line_no);
            break;
        }
        const char *s = line + strspn(line, " \t\r\n");
        if (!*s || *s == '#')
            continue;
        if (hp_grow((void **)groups, &cap, *n_groups + 1, sizeof **groups, "the groups", err)) {
            rc = -1;
            break;
        }
        rc = parse_line(line, path, line_no, &(*groups)[(*n_groups)++], err);
        for (size_t g = 0; rc == 0 && g + 1 < *n_groups; g++)
            if (strcmp((*groups)[g].name, (*groups)[*n_groups - 1].name) == 0)
                rc = hp_fail(err, "%s line %zu: group \"%s\" is defined twice", path, line_no,
                             (*groups)[g].name);
    }
    if (rc == 0 && ferror(f))
        rc = hp_fail(err, "%s: read error", path);
    if (rc == 0 && *n_groups == 0)
        rc = hp_fail(err, "%s: no groups (expected lines of a group name and its words)", path);
    free(line);
    fclose(f);
    if (rc != 0) {
        hp_word_groups_free(*groups, *n_groups);
        *groups = NULL;
        *n_groups = 0;
    }
    return rc;
}

int32_t hp_word_token(const hp_tokenizer *t, const char *word)
{
    static const char *const PREFIX[] = {"\xe2\x96\x81", "\xc4\xa0", ""};
    char buf[512];
    for (size_t i = 0; i < sizeof PREFIX / sizeof PREFIX[0]; i++) {
        int n = snprintf(buf, sizeof buf, "%s%s", PREFIX[i], word);
        if (n < 0 || (size_t)n >= sizeof buf)
            return -1;
        int32_t id = hp_tokenizer_token_id(t, buf, (size_t)n);
        if (id >= 0)
            return id;
    }
    return -1;
}

/* The C unit tests' checks: a failed check prints where and what, counts, and the test
 * goes on so one run shows every failure; check_exit() turns the count into the status. */
#ifndef HYPLORA_TEST_CHECK_H
#define HYPLORA_TEST_CHECK_H

#include <stdio.h>

static int check_failures;

#define CHECK(cond)                                                                        \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #cond);       \
            check_failures++;                                                              \
        }                                                                                  \
    } while (0)

/* CHECK with a printf-style explanation. */
#define CHECKF(cond, ...)                                                                  \
    do {                                                                                   \
        if (!(cond)) {                                                                     \
            fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);       \
            fprintf(stderr, __VA_ARGS__);                                                  \
            fputc('\n', stderr);                                                           \
            check_failures++;                                                              \
        }                                                                                  \
    } while (0)

static inline int check_exit(void)
{
    if (check_failures)
        fprintf(stderr, "%d check(s) failed\n", check_failures);
    return check_failures ? 1 : 0;
}

#endif

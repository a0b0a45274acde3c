/* hp_sha256_files_begin/end: the input checksums of a report computed on a thread of their
 * own while the command reads and computes (hyplora/sha256.h). */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "hyplora/sha256.h"

struct hp_sha256_job {
    pthread_t thread;
    char **paths;
    size_t n;
    char (*hex)[HP_SHA256_HEX];
    int rc;
    hp_err err;
};

static void *hash_all(void *arg)
{
    hp_sha256_job *j = arg;
    for (size_t i = 0; i < j->n && j->rc == 0; i++)
        j->rc = hp_sha256_file(j->paths[i], j->hex[i], &j->err);
    return NULL;
}

static void job_free(hp_sha256_job *j)
{
    for (size_t i = 0; j->paths && i < j->n; i++)
        free(j->paths[i]);
    free(j->paths);
    free(j->hex);
    free(j);
}

hp_sha256_job *hp_sha256_files_begin(const char *const *paths, size_t n, hp_err *err)
{
    hp_sha256_job *j = hp_calloc(1, sizeof *j, "a checksum job", err);
    if (!j)
        return NULL;
    j->n = n;
    j->paths = hp_calloc(n ? n : 1, sizeof *j->paths, "a checksum job", err);
    j->hex = hp_calloc(n ? n : 1, sizeof *j->hex, "a checksum job", err);
    for (size_t i = 0; j->paths && j->hex && i < n; i++)
        if (!(j->paths[i] = hp_strdup(paths[i], err)))
            break;
    if (!j->paths || !j->hex || (n && !j->paths[n - 1])) {
        job_free(j);
        return NULL;
    }
    if (pthread_create(&j->thread, NULL, hash_all, j) != 0) {
        hp_fail(err, "cannot start a thread to compute checksums");
        job_free(j);
        return NULL;
    }
    return j;
}

int hp_sha256_files_end(hp_sha256_job *j, char (*hex)[HP_SHA256_HEX], hp_err *err)
{
    pthread_join(j->thread, NULL);
    int rc = j->rc;
    if (rc != 0 && err)
        *err = j->err;
    if (rc == 0 && hex)
        memcpy(hex, j->hex, j->n * sizeof *hex);
    job_free(j);
    return rc;
}

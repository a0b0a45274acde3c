/* Raw little-endian files in a directory, as the dump drivers and their Python tests trade
 * them (numpy's tofile/fromfile): read exactly, or exit 1 with the path. */
#ifndef HYPLORA_TEST_DUMP_FILES_H
#define HYPLORA_TEST_DUMP_FILES_H

#include <stdio.h>
#include <stdlib.h>

/* DIR/NAME, exactly `bytes` bytes of it, in a fresh allocation. */
static void *dump_read(const char *dir, const char *name, size_t bytes)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "rb");
    void *p = malloc(bytes ? bytes : 1);
    if (!f || !p || fread(p, 1, bytes, f) != bytes) {
        fprintf(stderr, "cannot read %zu bytes of %s\n", bytes, path);
        exit(1);
    }
    fclose(f);
    return p;
}

static void dump_write(const char *dir, const char *name, const void *p, size_t bytes)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(p, 1, bytes, f) != bytes || fclose(f)) {
        fprintf(stderr, "cannot write %s\n", path);
        exit(1);
    }
}

#endif

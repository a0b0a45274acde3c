/* SHA-256: the FIPS 180-4 example vectors, streaming in odd pieces, and files of sizes
 * around the padding boundaries checked against coreutils' sha256sum. Every check runs
 * twice: with the CPU's SHA instructions (when present) and with the portable code. */
#include "hyplora.h"
#include "check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


static void hex_of(const void *data, size_t n, char hex[HP_SHA256_HEX])
{
    unsigned char d[HP_SHA256_DIGEST];
    hp_sha256(data, n, d);
    hp_sha256_hex(d, hex);
}

static void test_fips_vectors(void)
{
    char hex[HP_SHA256_HEX];
    hex_of("", 0, hex);
    CHECKF(!strcmp(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
          "empty: %s", hex);
    hex_of("abc", 3, hex);
    CHECKF(!strcmp(hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
          "abc: %s", hex);
    const char *m448 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
    hex_of(m448, strlen(m448), hex);
    CHECKF(!strcmp(hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
          "448-bit: %s", hex);
    const char *m896 = "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
                       "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";
    hex_of(m896, strlen(m896), hex);
    CHECKF(!strcmp(hex, "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1"),
          "896-bit: %s", hex);
}

/* One million 'a', fed in pieces of awkward sizes so every buffering path is taken. */
static void test_million_a(void)
{
    static const char expect[] =
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0";
    char *a = malloc(1000000);
    memset(a, 'a', 1000000);
    char hex[HP_SHA256_HEX];
    hex_of(a, 1000000, hex);
    CHECKF(!strcmp(hex, expect), "million a, one shot: %s", hex);

    static const size_t pieces[] = {1, 63, 64, 65, 7, 128, 4096, 3, 55, 56, 57};
    hp_sha256_ctx s;
    hp_sha256_init(&s);
    hp_sha256_update(&s, NULL, 0); /* an empty piece changes nothing */
    size_t done = 0;
    for (int i = 0; done < 1000000; i++) {
        size_t n = pieces[i % (sizeof pieces / sizeof pieces[0])];
        if (n > 1000000 - done)
            n = 1000000 - done;
        hp_sha256_update(&s, a + done, n);
        done += n;
    }
    unsigned char d[HP_SHA256_DIGEST];
    hp_sha256_final(&s, d);
    hp_sha256_hex(d, hex);
    CHECKF(!strcmp(hex, expect), "million a, streamed: %s", hex);
    free(a);
}

static int sha256sum_of(const char *path, char hex[HP_SHA256_HEX])
{
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "sha256sum '%s'", path);
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    int ok = fscanf(p, "%64s", hex) == 1;
    return pclose(p) == 0 && ok ? 0 : -1;
}

static void test_files(const char *dir)
{
    static const size_t sizes[] = {0,   1,   55,  56,   57,   63,     64,          65,
                                   119, 120, 127, 128,  1000, 1 << 20, (1 << 20) + 3,
                                   (3 << 20) + 61};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/f%zu", dir, sizes[i]);
        FILE *fp = fopen(path, "wb");
        uint32_t x = 12345u + (uint32_t)i;
        for (size_t k = 0; k < sizes[i]; k++) {
            x = x * 1664525u + 1013904223u; /* bytes of every value, not just text */
            fputc((int)(x >> 24), fp);
        }
        fclose(fp);
        char want[HP_SHA256_HEX] = "", got[HP_SHA256_HEX] = "";
        hp_err err = {{0}};
        CHECKF(sha256sum_of(path, want) == 0, "sha256sum failed on %s", path);
        CHECKF(hp_sha256_file(path, got, &err) == 0, "%s", err.msg);
        CHECKF(!strcmp(want, got), "size %zu: sha256sum %s, ours %s", sizes[i], want, got);
        unlink(path);
    }
}

static void test_file_errors(const char *dir)
{
    char hex[HP_SHA256_HEX];
    hp_err err = {{0}};
    char path[4096];
    snprintf(path, sizeof path, "%s/does-not-exist", dir);
    CHECKF(hp_sha256_file(path, hex, &err) == -1, "missing file accepted");
    CHECKF(strstr(err.msg, "does-not-exist") != NULL, "message lacks the path: %s", err.msg);
    CHECKF(hp_sha256_file(dir, hex, &err) == -1, "a directory accepted");
    CHECKF(strstr(err.msg, dir) != NULL, "message lacks the path: %s", err.msg);
}

/* The background job gives what sha256sum gives, for several files, and the first error. */
static void test_job(const char *dir)
{
    char a[4096], b[4096], missing[4096];
    snprintf(a, sizeof a, "%s/job-a", dir);
    snprintf(b, sizeof b, "%s/job-b", dir);
    snprintf(missing, sizeof missing, "%s/job-missing", dir);
    FILE *fa = fopen(a, "wb"), *fb = fopen(b, "wb");
    for (int k = 0; k < 3000000; k++)
        fputc(k * 7 & 0xff, fa);
    fputs("b", fb);
    fclose(fa);
    fclose(fb);
    const char *paths[2] = {a, b};
    char hex[2][HP_SHA256_HEX], want[HP_SHA256_HEX];
    hp_err err = {{0}};
    hp_sha256_job *job = hp_sha256_files_begin(paths, 2, &err);
    CHECKF(job != NULL, "%s", err.msg);
    CHECKF(job && hp_sha256_files_end(job, hex, &err) == 0, "%s", err.msg);
    for (int i = 0; i < 2; i++) {
        CHECK(sha256sum_of(paths[i], want) == 0);
        CHECKF(!strcmp(want, hex[i]), "file %d: sha256sum %s, job %s", i, want, hex[i]);
    }
    const char *bad[2] = {a, missing};
    job = hp_sha256_files_begin(bad, 2, &err);
    CHECK(job && hp_sha256_files_end(job, hex, &err) == -1 && strstr(err.msg, "job-missing"));
    job = hp_sha256_files_begin(paths, 2, &err); /* discarded: joined and freed all the same */
    CHECK(job && hp_sha256_files_end(job, NULL, &err) == 0);
    unlink(a);
    unlink(b);
}

int main(void)
{
    char dir[] = "/tmp/hyplora-sha256-XXXXXX";
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1)
            setenv("HYPLORA_SHA256", "portable", 1);
        test_fips_vectors();
        test_million_a();
        test_files(dir);
        test_file_errors(dir);
        test_job(dir);
    }
    rmdir(dir);
    return check_exit();
}

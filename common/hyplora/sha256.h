/* SHA-256 (FIPS 180-4), streaming, and a helper that hashes a whole file.
 *
 * The report records the checksum of every input (model shards, tokenizers, corpora)
 * so that a result can be tied to the exact bytes it came from. */
#ifndef HYPLORA_SHA256_H
#define HYPLORA_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"

#define HP_SHA256_DIGEST 32
#define HP_SHA256_HEX 65 /* 64 hex digits and the NUL */

typedef struct hp_sha256_ctx {
    uint32_t h[8];
    uint64_t n_bytes;       /* total fed so far; the padding needs the bit length */
    unsigned char buf[64];  /* a partial block waiting for more input */
    size_t n_buf;
    int accel;              /* 1: use the CPU's SHA instructions (chosen at init) */
} hp_sha256_ctx;

void hp_sha256_init(hp_sha256_ctx *s);
void hp_sha256_update(hp_sha256_ctx *s, const void *data, size_t n);
/* Pads, writes the digest and re-initialises s, ready for another message. */
void hp_sha256_final(hp_sha256_ctx *s, unsigned char digest[HP_SHA256_DIGEST]);

/* One-shot digest of a buffer. */
void hp_sha256(const void *data, size_t n, unsigned char digest[HP_SHA256_DIGEST]);

/* Lower-case hex, as sha256sum prints it. */
void hp_sha256_hex(const unsigned char digest[HP_SHA256_DIGEST], char hex[HP_SHA256_HEX]);

/* Hashes the file at path with read() in 1 MiB chunks (so a multi-gigabyte shard needs
 * no more memory than that) and writes the hex digest. */
int hp_sha256_file(const char *path, char hex[HP_SHA256_HEX], hp_err *err);

/* Hashing input files while other work goes on (a multi-gigabyte model takes about a
 * second): hp_sha256_files_begin starts a thread that hashes paths[0..n) one after the
 * other (the paths are copied); hp_sha256_files_end waits for it, writes the digests into
 * hex[0..n) (hex may be NULL to discard them), frees the job and returns the first error. */
typedef struct hp_sha256_job hp_sha256_job;
hp_sha256_job *hp_sha256_files_begin(const char *const *paths, size_t n, hp_err *err);
int hp_sha256_files_end(hp_sha256_job *job, char (*hex)[HP_SHA256_HEX], hp_err *err);

#endif

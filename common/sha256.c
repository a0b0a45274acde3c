/* SHA-256 after FIPS 180-4, section 6.2. The portable compression function follows the
 * standard's notation; on x86-64 CPUs with the SHA extensions a second one uses them,
 * because hashing a model's shards (gigabytes) is otherwise a noticeable part of
 * `hyplora info`. Both are checked against the FIPS vectors and sha256sum. */
#include "hyplora/sha256.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define HP_SHA256_X86 1
#include <cpuid.h>
#include <immintrin.h>
#endif

/* The first 32 bits of the fractional parts of the cube roots of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t rotr(uint32_t x, int n) { return (x >> n) | (x << (32 - n)); }

static inline uint32_t load_be32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

/* Compresses n_blocks consecutive 64-byte blocks into h (FIPS 180-4, 6.2.2). */
static void blocks_portable(uint32_t h[8], const unsigned char *p, size_t n_blocks)
{
    for (; n_blocks > 0; n_blocks--, p += 64) {
        uint32_t w[64];
        for (int t = 0; t < 16; t++)
            w[t] = load_be32(p + 4 * t);
        for (int t = 16; t < 64; t++) {
            uint32_t s0 = rotr(w[t - 15], 7) ^ rotr(w[t - 15], 18) ^ (w[t - 15] >> 3);
            uint32_t s1 = rotr(w[t - 2], 17) ^ rotr(w[t - 2], 19) ^ (w[t - 2] >> 10);
            w[t] = w[t - 16] + s0 + w[t - 7] + s1;
        }
        uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], hh = h[7];
        for (int t = 0; t < 64; t++) {
            uint32_t S1 = rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25);
            uint32_t ch = (e & f) ^ (~e & g);
            uint32_t t1 = hh + S1 + ch + K[t] + w[t];
            uint32_t S0 = rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22);
            uint32_t maj = (a & b) ^ (a & c) ^ (b & c);
            uint32_t t2 = S0 + maj;
            hh = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
        }
        h[0] += a, h[1] += b, h[2] += c, h[3] += d;
        h[4] += e, h[5] += f, h[6] += g, h[7] += hh;
    }
}

#ifdef HP_SHA256_X86
/* The SHA extensions keep the state as two vectors, ABEF and CDGH (A in the top lane),
 * and do two rounds per sha256rnds2 using the low half of a W+K vector. */
__attribute__((target("sha,sse4.1"))) static void blocks_shani(uint32_t h[8],
                                                               const unsigned char *p,
                                                               size_t n_blocks)
{
    /* Byte order within each 32-bit word: the message is big-endian. */
    const __m128i bswap = _mm_set_epi64x(0x0c0d0e0f08090a0bLL, 0x0405060700010203LL);
    __m128i abcd = _mm_loadu_si128((const __m128i *)&h[0]);
    __m128i efgh = _mm_loadu_si128((const __m128i *)&h[4]);
    __m128i cdab = _mm_shuffle_epi32(abcd, 0xB1); /* lanes B A D C */
    __m128i hgfe = _mm_shuffle_epi32(efgh, 0x1B); /* lanes H G F E */
    __m128i abef = _mm_alignr_epi8(cdab, hgfe, 8); /* lanes F E B A */
    __m128i cdgh = _mm_blend_epi16(hgfe, cdab, 0xF0); /* lanes H G D C */

    for (; n_blocks > 0; n_blocks--, p += 64) {
        __m128i save_abef = abef, save_cdgh = cdgh;
        __m128i m[4];
        for (int i = 0; i < 4; i++)
            m[i] = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(p + 16 * i)), bswap);
        for (int g = 0; g < 16; g++) {
            if (g >= 4) {
                /* W[t..t+3] from the four previous words groups, oldest in m[g%4]. */
                __m128i w16 = m[g % 4], w12 = m[(g + 1) % 4];
                __m128i w8 = m[(g + 2) % 4], w4 = m[(g + 3) % 4];
                __m128i x = _mm_add_epi32(_mm_sha256msg1_epu32(w16, w12),
                                          _mm_alignr_epi8(w4, w8, 4));
                m[g % 4] = _mm_sha256msg2_epu32(x, w4);
            }
            __m128i wk = _mm_add_epi32(m[g % 4], _mm_loadu_si128((const __m128i *)&K[4 * g]));
            cdgh = _mm_sha256rnds2_epu32(cdgh, abef, wk); /* now holds the new ABEF */
            wk = _mm_shuffle_epi32(wk, 0x0E);
            abef = _mm_sha256rnds2_epu32(abef, cdgh, wk);
            /* After the pair the roles are back: abef is ABEF, cdgh is CDGH. */
        }
        abef = _mm_add_epi32(abef, save_abef);
        cdgh = _mm_add_epi32(cdgh, save_cdgh);
    }

    __m128i abfe = _mm_shuffle_epi32(abef, 0x1B);  /* lanes A B E F */
    __m128i ghcd = _mm_shuffle_epi32(cdgh, 0xB1);  /* lanes G H C D */
    abcd = _mm_blend_epi16(abfe, ghcd, 0xF0);
    efgh = _mm_alignr_epi8(ghcd, abfe, 8);
    _mm_storeu_si128((__m128i *)&h[0], abcd);
    _mm_storeu_si128((__m128i *)&h[4], efgh);
}
#endif

/* The SHA path is chosen per hash from CPUID (no global state, so no races between
 * threads). HYPLORA_SHA256=portable forces the standard code, so tests cover both. */
static bool want_shani(void)
{
#ifdef HP_SHA256_X86
    const char *force = getenv("HYPLORA_SHA256");
    if (force && strcmp(force, "portable") == 0)
        return false;
    unsigned a, b, c, d;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d))
        return false;
    bool sha = b & (1u << 29);
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return false;
    bool ssse3 = c & (1u << 9), sse41 = c & (1u << 19);
    return sha && ssse3 && sse41;
#else
    return false;
#endif
}

static void compress(hp_sha256_ctx *s, const unsigned char *p, size_t n_blocks)
{
#ifdef HP_SHA256_X86
    if (s->accel) {
        blocks_shani(s->h, p, n_blocks);
        return;
    }
#endif
    blocks_portable(s->h, p, n_blocks);
}

void hp_sha256_init(hp_sha256_ctx *s)
{
    /* The first 32 bits of the fractional parts of the square roots of the first 8 primes. */
    static const uint32_t h0[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, h0, sizeof h0);
    s->n_bytes = 0;
    s->n_buf = 0;
    s->accel = want_shani();
}

void hp_sha256_update(hp_sha256_ctx *s, const void *data, size_t n)
{
    const unsigned char *p = data;
    if (n == 0)
        return; /* data may be NULL then */
    s->n_bytes += n;
    if (s->n_buf > 0) {
        size_t take = 64 - s->n_buf < n ? 64 - s->n_buf : n;
        memcpy(s->buf + s->n_buf, p, take);
        s->n_buf += take;
        p += take;
        n -= take;
        if (s->n_buf < 64)
            return;
        compress(s, s->buf, 1);
        s->n_buf = 0;
    }
    /* Whole blocks straight from the caller's buffer, without copying. */
    if (n >= 64) {
        compress(s, p, n / 64);
        p += n / 64 * 64;
        n %= 64;
    }
    memcpy(s->buf, p, n);
    s->n_buf = n;
}

void hp_sha256_final(hp_sha256_ctx *s, unsigned char digest[HP_SHA256_DIGEST])
{
    /* Padding (5.1.1): a 1 bit, zeros up to 56 mod 64 bytes, then the bit length as a
     * 64-bit big-endian integer; one or two blocks depending on what is buffered. */
    uint64_t bits = s->n_bytes * 8;
    s->buf[s->n_buf++] = 0x80;
    if (s->n_buf > 56) {
        memset(s->buf + s->n_buf, 0, 64 - s->n_buf);
        compress(s, s->buf, 1);
        s->n_buf = 0;
    }
    memset(s->buf + s->n_buf, 0, 56 - s->n_buf);
    for (int i = 0; i < 8; i++)
        s->buf[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress(s, s->buf, 1);
    for (int i = 0; i < 8; i++) {
        digest[4 * i] = (unsigned char)(s->h[i] >> 24);
        digest[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        digest[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        digest[4 * i + 3] = (unsigned char)s->h[i];
    }
    hp_sha256_init(s);
}

void hp_sha256(const void *data, size_t n, unsigned char digest[HP_SHA256_DIGEST])
{
    hp_sha256_ctx s;
    hp_sha256_init(&s);
    hp_sha256_update(&s, data, n);
    hp_sha256_final(&s, digest);
}

void hp_sha256_hex(const unsigned char digest[HP_SHA256_DIGEST], char hex[HP_SHA256_HEX])
{
    static const char digits[] = "0123456789abcdef";
    for (int i = 0; i < HP_SHA256_DIGEST; i++) {
        hex[2 * i] = digits[digest[i] >> 4];
        hex[2 * i + 1] = digits[digest[i] & 15];
    }
    hex[64] = 0;
}

int hp_sha256_file(const char *path, char hex[HP_SHA256_HEX], hp_err *err)
{
    enum { CHUNK = 1 << 20 };
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hp_fail(err, "%s: cannot open to compute its SHA-256: %s", path, strerror(errno));
    unsigned char *buf = hp_malloc(CHUNK, "a SHA-256 read buffer", err);
    if (!buf) {
        close(fd);
        return -1;
    }
    hp_sha256_ctx s;
    hp_sha256_init(&s);
    int rc = 0;
    for (;;) {
        ssize_t got = read(fd, buf, CHUNK);
        if (got < 0 && errno == EINTR)
            continue;
        if (got < 0) {
            rc = hp_fail(err, "%s: read failed after %llu bytes while computing its SHA-256: %s",
                         path, (unsigned long long)s.n_bytes, strerror(errno));
            break;
        }
        if (got == 0)
            break;
        hp_sha256_update(&s, buf, (size_t)got);
    }
    free(buf);
    close(fd);
    if (rc == 0) {
        unsigned char digest[HP_SHA256_DIGEST];
        hp_sha256_final(&s, digest);
        hp_sha256_hex(digest, hex);
    }
    return rc;
}

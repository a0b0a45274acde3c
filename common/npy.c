#include "hyplora/npy.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "hyplora/file.h"

int hp_npy_write_f32(const char *path, int ndim, const int64_t *shape, const float *data, hp_err *err)
{
    char dict[256];
    int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (");
    uint64_t count = 1;
    for (int i = 0; i < ndim; i++) {
        n += snprintf(dict + n, sizeof dict - (size_t)n, "%" PRId64 "%s", shape[i],
                      ndim == 1 ? "," : (i + 1 < ndim ? ", " : ""));
        count *= (uint64_t)shape[i];
    }
    n += snprintf(dict + n, sizeof dict - (size_t)n, "), }");
    /* magic (6) + version (2) + header length (2) + dict + padding + '\n' = multiple of 64 */
    size_t total = ((size_t)10 + (size_t)n + 1 + 63) / 64 * 64;
    size_t hlen = total - 10;
    unsigned char pre[10] = {0x93, 'N', 'U', 'M', 'P', 'Y', 1, 0, (unsigned char)(hlen & 0xff),
                             (unsigned char)(hlen >> 8)};
    hp_atomic a;
    if (hp_atomic_begin(&a, path, true, err) != 0)
        return -1;
    int ok = fwrite(pre, 1, 10, a.fp) == 10 && fwrite(dict, 1, (size_t)n, a.fp) == (size_t)n;
    for (size_t i = (size_t)n; ok && i + 1 < hlen; i++)
        ok = fputc(' ', a.fp) != EOF;
    ok = ok && fputc('\n', a.fp) != EOF && fwrite(data, sizeof(float), count, a.fp) == count;
    if (!ok) {
        hp_atomic_abort(&a);
        return hp_fail(err, "%s: write failed (disk full?)", path);
    }
    return hp_atomic_commit(&a, err);
}

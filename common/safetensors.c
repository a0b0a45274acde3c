#include "hyplora/safetensors.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void free_tensor(hp_tensor *t)
{
    free(t->name);
    free(t->stored_name);
    free(t->dtype_name);
}

void hp_safetensors_close(hp_safetensors *st)
{
    for (size_t i = 0; i < st->n_tensors; i++)
        free_tensor(&st->tensors[i]);
    free(st->tensors);
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    hp_file_close(&st->file);
    memset(st, 0, sizeof *st);
}

/* A JSON number that is a whole number in [0, 2^53]. */
static int json_u64(const cJSON *v, uint64_t *out)
{
    if (!cJSON_IsNumber(v))
        return -1;
    double d = v->valuedouble;
    if (!(d >= 0 && d <= 9007199254740992.0) || floor(d) != d)
        return -1;
    *out = (uint64_t)d;
    return 0;
}

static int parse_entry(hp_safetensors *st, const cJSON *e, hp_tensor *t, uint64_t data_size,
                       hp_err *err)
{
    const char *path = st->file.path, *name = e->string;
    if (!cJSON_IsObject(e))
        return hp_fail(err, "%s: header entry \"%s\": expected an object with dtype, shape and data_offsets",
                       path, name);
    const cJSON *dt = cJSON_GetObjectItemCaseSensitive(e, "dtype");
    const cJSON *sh = cJSON_GetObjectItemCaseSensitive(e, "shape");
    const cJSON *off = cJSON_GetObjectItemCaseSensitive(e, "data_offsets");
    if (!cJSON_IsString(dt))
        return hp_fail(err, "%s: tensor \"%s\": field \"dtype\" missing or not a string", path, name);
    if (!cJSON_IsArray(sh))
        return hp_fail(err, "%s: tensor \"%s\": field \"shape\" missing or not an array", path, name);
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2)
        return hp_fail(err, "%s: tensor \"%s\": field \"data_offsets\" must be an array [begin, end]",
                       path, name);
    t->dtype = hp_dtype_from_name(dt->valuestring);
    if (t->dtype == HP_DTYPE_UNKNOWN)
        return hp_fail(err, "%s: tensor \"%s\": unknown dtype \"%s\" (expected F32, F16, BF16, F64, I8..U64, BOOL, F8_E4M3 or F8_E5M2)",
                       path, name, dt->valuestring);
    t->ndim = cJSON_GetArraySize(sh);
    if (t->ndim > HP_MAX_DIMS)
        return hp_fail(err, "%s: tensor \"%s\": %d dimensions, at most %d supported", path, name,
                       t->ndim, HP_MAX_DIMS);
    uint64_t count = 1;
    for (int i = 0; i < t->ndim; i++) {
        uint64_t d;
        if (json_u64(cJSON_GetArrayItem(sh, i), &d) != 0)
            return hp_fail(err, "%s: tensor \"%s\": shape[%d] is not a non-negative integer", path,
                           name, i);
        if (d != 0 && count > UINT64_MAX / d)
            return hp_fail(err, "%s: tensor \"%s\": shape overflows", path, name);
        t->shape[i] = (int64_t)d;
        count *= d;
    }
    t->n_elements = count;
    uint64_t begin, end;
    if (json_u64(cJSON_GetArrayItem(off, 0), &begin) != 0 ||
        json_u64(cJSON_GetArrayItem(off, 1), &end) != 0)
        return hp_fail(err, "%s: tensor \"%s\": data_offsets must be non-negative integers", path, name);
    if (begin > end || end > data_size)
        return hp_fail(err, "%s: tensor \"%s\": data_offsets [%llu, %llu] outside the %llu data bytes",
                       path, name, (unsigned long long)begin, (unsigned long long)end,
                       (unsigned long long)data_size);
    uint64_t want = hp_dtype_bytes(t->dtype, count);
    if ((want == 0 && count != 0) || end - begin != want)
        return hp_fail(err, "%s: tensor \"%s\": %llu bytes in data_offsets but dtype %s x shape needs %llu",
                       path, name, (unsigned long long)(end - begin), dt->valuestring,
                       (unsigned long long)want);
    t->offset = st->data_start + begin;
    t->nbytes = want;
    t->data = st->file.map ? st->file.map + t->offset : NULL;
    t->name = hp_strdup(name, err);
    t->dtype_name = hp_strdup(dt->valuestring, err);
    return t->name && t->dtype_name ? 0 : -1;
}

static int parse_metadata(hp_safetensors *st, const cJSON *m, hp_err *err)
{
    const char *path = st->file.path;
    if (!cJSON_IsObject(m))
        return hp_fail(err, "%s: \"__metadata__\" must be an object of strings", path);
    size_t n = (size_t)cJSON_GetArraySize(m);
    st->meta_keys = hp_calloc(n, sizeof(char *), "metadata", err);
    st->meta_values = hp_calloc(n, sizeof(char *), "metadata", err);
    if (!st->meta_keys || !st->meta_values)
        return -1;
    const cJSON *kv;
    cJSON_ArrayForEach(kv, m)
    {
        if (!cJSON_IsString(kv))
            return hp_fail(err, "%s: \"__metadata__\".\"%s\" must be a string", path, kv->string);
        st->meta_keys[st->n_meta] = hp_strdup(kv->string, err);
        st->meta_values[st->n_meta] = hp_strdup(kv->valuestring, err);
        st->n_meta++;
        if (!st->meta_keys[st->n_meta - 1] || !st->meta_values[st->n_meta - 1])
            return -1;
    }
    return 0;
}

int hp_safetensors_open(hp_safetensors *st, const char *path, int file_index, hp_err *err)
{
    memset(st, 0, sizeof *st);
    if (hp_file_open(&st->file, path, err) != 0)
        return -1;
    const unsigned char *m = st->file.map;
    uint64_t size = st->file.size;
    if (size < 8) {
        hp_fail(err, "%s: truncated: %llu bytes, a safetensors file starts with an 8-byte header length",
                path, (unsigned long long)size);
        goto fail;
    }
    uint64_t hlen = 0;
    for (int i = 7; i >= 0; i--)
        hlen = hlen << 8 | m[i];
    if (hlen > HP_SAFETENSORS_MAX_HEADER) {
        hp_fail(err, "%s: header length %llu is over the 100 MB limit (not a safetensors file?)", path,
                (unsigned long long)hlen);
        goto fail;
    }
    if (hlen > size - 8) {
        hp_fail(err, "%s: header length %llu runs past the end of the file (%llu bytes): truncated?",
                path, (unsigned long long)hlen, (unsigned long long)size);
        goto fail;
    }
    st->data_start = 8 + hlen;
    const char *hdr = (const char *)m + 8;
    size_t bad;
    if (!hp_utf8_valid(hdr, hlen, &bad)) {
        hp_fail(err, "%s: header is not valid UTF-8 (byte %zu of the header)", path, bad);
        goto fail;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(hdr, hlen, &end, 0);
    if (!root) {
        size_t at = end ? (size_t)(end - hdr) : 0;
        hp_fail(err, "%s: header is not valid JSON (near byte %zu of the header)", path, at);
        goto fail;
    }
    /* Only trailing spaces (the alignment padding) may follow the JSON object. */
    for (const char *p = end; p < hdr + hlen; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r' && *p != 0) {
            cJSON_Delete(root);
            hp_fail(err, "%s: unexpected bytes after the header's JSON object", path);
            goto fail;
        }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        hp_fail(err, "%s: header must be a JSON object", path);
        goto fail;
    }
    size_t n = (size_t)cJSON_GetArraySize(root);
    st->tensors = hp_calloc(n, sizeof *st->tensors, "tensor table", err);
    if (!st->tensors) {
        cJSON_Delete(root);
        goto fail;
    }
    uint64_t data_size = size - st->data_start;
    const cJSON *e;
    int rc = 0;
    cJSON_ArrayForEach(e, root)
    {
        if (strcmp(e->string, "__metadata__") == 0) {
            rc = parse_metadata(st, e, err);
        } else {
            hp_tensor *t = &st->tensors[st->n_tensors++];
            t->file = file_index;
            rc = parse_entry(st, e, t, data_size, err);
        }
        if (rc != 0)
            break;
    }
    cJSON_Delete(root);
    if (rc != 0 || hp_tensors_check_layout(path, st->tensors, st->n_tensors, err) != 0)
        goto fail;
    return 0;
fail:
    hp_safetensors_close(st);
    return -1;
}

int hp_safetensors_write(const char *path, const hp_st_write *tensors, size_t n,
                         const char *const *meta, size_t n_meta, hp_err *err)
{
    cJSON *root = cJSON_CreateObject();
    if (!root)
        return hp_fail(err, "%s: out of memory building the header", path);
    if (n_meta) {
        cJSON *m = cJSON_AddObjectToObject(root, "__metadata__");
        for (size_t i = 0; m && i < n_meta; i++)
            cJSON_AddStringToObject(m, meta[2 * i], meta[2 * i + 1]);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n; i++) {
        const hp_st_write *t = &tensors[i];
        uint64_t count = 1;
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON *shape = e ? cJSON_AddArrayToObject(e, "shape") : NULL;
        if (!shape) {
            cJSON_Delete(root);
            return hp_fail(err, "%s: out of memory building the header", path);
        }
        cJSON_AddStringToObject(e, "dtype", hp_dtype_name(t->dtype));
        for (int d = 0; d < t->ndim; d++) {
            cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->shape[d]));
            count *= (uint64_t)t->shape[d];
        }
        uint64_t bytes = hp_dtype_bytes(t->dtype, count);
        cJSON *off = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(off, cJSON_CreateNumber((double)(offset + bytes)));
        offset += bytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json)
        return hp_fail(err, "%s: out of memory printing the header", path);
    size_t hlen = strlen(json), padded = (hlen + 7) / 8 * 8;

    hp_atomic a;
    if (hp_atomic_begin(&a, path, true, err) != 0) {
        free(json);
        return -1;
    }
    unsigned char len8[8];
    for (int i = 0; i < 8; i++)
        len8[i] = (unsigned char)((uint64_t)padded >> (8 * i));
    int ok = fwrite(len8, 1, 8, a.fp) == 8 && fwrite(json, 1, hlen, a.fp) == hlen;
    for (size_t i = hlen; ok && i < padded; i++)
        ok = fputc(' ', a.fp) != EOF;
    free(json);
    for (size_t i = 0; ok && i < n; i++) {
        uint64_t count = 1;
        for (int d = 0; d < tensors[i].ndim; d++)
            count *= (uint64_t)tensors[i].shape[d];
        size_t bytes = (size_t)hp_dtype_bytes(tensors[i].dtype, count);
        if (tensors[i].data)
            ok = fwrite(tensors[i].data, 1, bytes, a.fp) == bytes;
        else /* no data: leave a hole (sparse file, reads as zeros) */
            ok = fseeko(a.fp, (off_t)bytes, SEEK_CUR) == 0;
    }
    /* a trailing hole needs the file extended to its full length */
    ok = ok && fflush(a.fp) == 0 && ftruncate(fileno(a.fp), (off_t)(8 + padded + offset)) == 0;
    if (!ok) {
        hp_atomic_abort(&a);
        return hp_fail(err, "%s: write failed (disk full?)", path);
    }
    return hp_atomic_commit(&a, err);
}

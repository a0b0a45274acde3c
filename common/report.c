/* The HDF5 report layer; see hyplora/report.h for the conventions and
 * docs/report-format.md for the layout.
 *
 * Replacement is by copy, not by deleting in place: HDF5 does not reclaim the space of
 * deleted objects, so a report rewritten in place would grow with every command. Copying
 * the other groups into a fresh file with H5Ocopy costs a little time and keeps the file
 * exactly as large as its content, and the rename makes the update atomic. */
#include "hyplora/report.h"

#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "hyplora/file.h"
#include "hyplora/sha256.h"

/* ---------------------------------------------------------------- small helpers */

/* The provenance attributes every group carries; callers may not set them. */
static const char *const reserved_group_attrs[] = {"command_line", "tool_version", "created_utc",
                                                   "input_files", "input_sha256"};

typedef struct strvec {
    char **v;
    size_t n, cap;
} strvec;

static int strvec_push(strvec *sv, const char *s, hp_err *err)
{
    if (sv->n == sv->cap) {
        size_t cap = sv->cap ? 2 * sv->cap : 8;
        char **v = hp_realloc(sv->v, cap * sizeof *v, "a list of strings", err);
        if (!v)
            return -1;
        sv->v = v;
        sv->cap = cap;
    }
    char *copy = hp_strdup(s, err);
    if (!copy)
        return -1;
    sv->v[sv->n++] = copy;
    return 0;
}

static void strvec_free(strvec *sv)
{
    for (size_t i = 0; i < sv->n; i++)
        free(sv->v[i]);
    free(sv->v);
    memset(sv, 0, sizeof *sv);
}

/* Adds the pair (file, sha) to the parallel lists unless it is already there. */
static int push_input(strvec *files, strvec *sha, const char *file, const char *sum, hp_err *err)
{
    for (size_t i = 0; i < files->n; i++)
        if (!strcmp(files->v[i], file) && !strcmp(sha->v[i], sum))
            return 0;
    if (strvec_push(files, file, err) || strvec_push(sha, sum, err))
        return -1;
    return 0;
}

static void utc_now(char out[32])
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* Copies s, replacing bytes that are not well-formed UTF-8 with U+FFFD: command lines
 * and file names are arbitrary bytes, but the report's strings are declared UTF-8 and
 * readers (h5py) decode them strictly. */
static char *utf8_sanitized(const char *s, hp_err *err)
{
    size_t n = strlen(s);
    char *out = hp_malloc(3 * n + 1, "a string", err);
    if (!out)
        return NULL;
    size_t o = 0, i = 0;
    while (i < n) {
        size_t bad = n - i;
        bool ok = hp_utf8_valid(s + i, n - i, &bad);
        size_t good = ok ? n - i : bad;
        memcpy(out + o, s + i, good);
        o += good;
        i += good;
        if (!ok) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        }
    }
    out[o] = 0;
    return out;
}

/* argv joined with spaces, each argument quoted for a POSIX shell when it needs it, so
 * that the recorded command can be pasted back into a terminal. */
static char *join_command_line(int argc, char *const *argv, hp_err *err)
{
    size_t cap = 1;
    for (int i = 0; i < argc; i++)
        cap += 4 * strlen(argv[i]) + 3;
    char *out = hp_malloc(cap, "the command line", err);
    if (!out)
        return NULL;
    size_t o = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        bool plain = a[0] != 0;
        for (const char *p = a; *p; p++)
            if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_@%+=:,./-",
                        *p))
                plain = false;
        if (i > 0)
            out[o++] = ' ';
        if (plain) {
            memcpy(out + o, a, strlen(a));
            o += strlen(a);
            continue;
        }
        out[o++] = '\'';
        for (const char *p = a; *p; p++) {
            if (*p == '\'') {
                memcpy(out + o, "'\\''", 4);
                o += 4;
            } else {
                out[o++] = *p;
            }
        }
        out[o++] = '\'';
    }
    out[o] = 0;
    char *clean = utf8_sanitized(out, err);
    free(out);
    return clean;
}

/* snake_case: one or more of [a-z0-9_]. */
static bool snake_component(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* A path of snake_case components joined by single '/', no leading or trailing '/'. */
static bool snake_path(const char *s)
{
    const char *start = s;
    for (const char *p = s;; p++) {
        if (*p == '/' || *p == 0) {
            if (!snake_component(start, (size_t)(p - start)))
                return false;
            if (*p == 0)
                return true;
            start = p + 1;
        }
    }
}

static int check_text(const char *s, const char *what, const char *where, hp_err *err)
{
    size_t bad = 0;
    if (!hp_utf8_valid(s, strlen(s), &bad))
        return hp_fail(err, "%s: the %s is not valid UTF-8 (bad byte at offset %zu)", where, what,
                       bad);
    return 0;
}

/* ---------------------------------------------------------------- HDF5 plumbing */

/* HDF5 prints its error stack to stderr by default; the library must not print. */
static void h5_quiet(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

static herr_t innermost_desc(unsigned n, const H5E_error2_t *e, void *data)
{
    if (n == 0 && e->desc)
        snprintf(data, 256, "%s", e->desc);
    return 0;
}

/* Like hp_fail, and adds the innermost message of HDF5's error stack ("name already
 * exists", "unable to lock file", ...). Call it right at the failure, before anything
 * else calls HDF5 and clears the stack. */
__attribute__((format(printf, 2, 3))) static int h5fail(hp_err *err, const char *fmt, ...)
{
    char detail[256] = "";
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_desc, detail);
    if (!err)
        return -1;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
    if (detail[0] && n >= 0 && (size_t)n < sizeof err->msg)
        snprintf(err->msg + n, sizeof err->msg - (size_t)n, " (HDF5: %s)", detail);
    return -1;
}

static void close_space(hid_t id) { if (id >= 0) H5Sclose(id); }
static void close_type(hid_t id) { if (id >= 0) H5Tclose(id); }
static void close_attr(hid_t id) { if (id >= 0) H5Aclose(id); }
static void close_dset(hid_t id) { if (id >= 0) H5Dclose(id); }
static void close_plist(hid_t id) { if (id >= 0) H5Pclose(id); }

/* Variable-length UTF-8 strings: what h5py reads as str. */
static hid_t vlen_utf8_type(void)
{
    hid_t t = H5Tcopy(H5T_C_S1);
    if (t < 0)
        return -1;
    if (H5Tset_size(t, H5T_VARIABLE) < 0 || H5Tset_cset(t, H5T_CSET_UTF8) < 0) {
        H5Tclose(t);
        return -1;
    }
    return t;
}

/* File access: HDF5 1.10 takes flock() locks on open files; keep them (they catch a
 * report that another program holds open for writing) but do not fail on file systems
 * that do not support them. strict_close makes H5Fclose fail, rather than silently
 * leave the file open, if an object handle was leaked: the new report must be complete
 * on disk before it is renamed into place. */
static hid_t make_fapl(bool strict_close)
{
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
    if (fapl < 0)
        return -1;
#if H5_VERSION_GE(1, 10, 7)
    H5Pset_file_locking(fapl, 1, 1);
#endif
    if (strict_close && H5Pset_fclose_degree(fapl, H5F_CLOSE_SEMI) < 0) {
        H5Pclose(fapl);
        return -1;
    }
    return fapl;
}

/* 1 when path is an HDF5 file, 0 when nothing is there, -1 (with the reason) when
 * something else is: that file is never touched. */
static int existing_report(const char *path, hp_err *err)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        if (errno == ENOENT)
            return 0;
        return hp_fail(err, "%s: cannot examine the report file: %s", path, strerror(errno));
    }
    if (!S_ISREG(st.st_mode))
        return hp_fail(err, "%s: the report path exists and is not a regular file", path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return hp_fail(err, "%s: cannot read the existing report: %s", path, strerror(errno));
    close(fd);
    if (H5Fis_hdf5(path) <= 0)
        return hp_fail(err,
                       "%s: the file exists but is not an HDF5 file; it was left untouched "
                       "(remove it or name another report)",
                       path);
    return 1;
}

static hid_t open_report_ro(const char *path, hp_err *err)
{
    int e = existing_report(path, err);
    if (e == 0)
        hp_fail(err, "%s: no such report file", path);
    if (e <= 0)
        return -1;
    hid_t fapl = make_fapl(false);
    hid_t f = fapl < 0 ? -1 : H5Fopen(path, H5F_ACC_RDONLY, fapl);
    if (f < 0)
        h5fail(err, "%s: cannot open the report", path);
    close_plist(fapl);
    return f;
}

/* Whether every link on the way to path (absolute or relative to loc) exists. H5Lexists
 * alone fails, rather than answering no, when an intermediate group is missing. */
static bool object_exists(hid_t loc, const char *path)
{
    size_t len = strlen(path);
    if (len == 0 || !strcmp(path, "/") || !strcmp(path, "."))
        return true;
    char *buf = malloc(len + 1);
    if (!buf)
        return false;
    memcpy(buf, path, len + 1);
    while (len > 1 && buf[len - 1] == '/')
        buf[--len] = 0;
    bool ok = true;
    for (size_t i = 1; i <= len && ok; i++) {
        if (i < len && buf[i] != '/')
            continue;
        char c = buf[i];
        buf[i] = 0;
        ok = H5Lexists(loc, buf, H5P_DEFAULT) > 0;
        buf[i] = c;
    }
    free(buf);
    return ok;
}

static hid_t make_space(int rank, const int64_t *dims)
{
    if (rank == 0)
        return H5Screate(H5S_SCALAR);
    hsize_t h[HP_REPORT_MAX_RANK];
    for (int i = 0; i < rank; i++)
        h[i] = (hsize_t)dims[i];
    return H5Screate_simple(rank, h, NULL);
}

/* Writes attribute name on obj, replacing an existing one (its type may differ); the
 * value in buf has mem_type and is stored as file_type. */
static int put_attr(hid_t obj, const char *name, hid_t file_type, hid_t mem_type, hid_t space,
                    const void *buf, const char *where, hp_err *err)
{
    htri_t there = H5Aexists(obj, name);
    if (there < 0)
        return h5fail(err, "%s: cannot look up attribute %s", where, name);
    if (there > 0 && H5Adelete(obj, name) < 0)
        return h5fail(err, "%s: cannot replace attribute %s", where, name);
    hid_t a = H5Acreate2(obj, name, file_type, space, H5P_DEFAULT, H5P_DEFAULT);
    if (a < 0)
        return h5fail(err, "%s: cannot create attribute %s", where, name);
    int rc = 0;
    if (H5Awrite(a, mem_type, buf) < 0)
        rc = h5fail(err, "%s: cannot write attribute %s", where, name);
    H5Aclose(a);
    return rc;
}

static int put_str_attr(hid_t obj, const char *name, const char *v, const char *where,
                        hp_err *err)
{
    hid_t t = vlen_utf8_type(), s = H5Screate(H5S_SCALAR);
    int rc = t < 0 || s < 0 ? h5fail(err, "%s: cannot make a string type", where)
                            : put_attr(obj, name, t, t, s, &v, where, err);
    close_type(t);
    close_space(s);
    return rc;
}

static int put_str_array_attr(hid_t obj, const char *name, const strvec *sv, const char *where,
                              hp_err *err)
{
    hsize_t n = sv->n;
    const char *empty[1] = {NULL};
    hid_t t = vlen_utf8_type(), s = H5Screate_simple(1, &n, NULL);
    int rc = t < 0 || s < 0 ? h5fail(err, "%s: cannot make a string array type", where)
                            : put_attr(obj, name, t, t, s, sv->n ? (void *)sv->v : empty,
                                       where, err);
    close_type(t);
    close_space(s);
    return rc;
}

/* Reads all the strings of a dataset or attribute (variable- or fixed-length). */
static int read_string_values(hid_t obj, bool is_attr, const char *where, strvec *out,
                              hp_err *err)
{
    hid_t type = is_attr ? H5Aget_type(obj) : H5Dget_type(obj);
    hid_t space = is_attr ? H5Aget_space(obj) : H5Dget_space(obj);
    hid_t mem = -1;
    void *buf = NULL;
    int rc = -1;
    if (type < 0 || space < 0) {
        h5fail(err, "%s: cannot read its type", where);
        goto done;
    }
    if (H5Tget_class(type) != H5T_STRING) {
        hp_fail(err, "%s: expected strings, found another type", where);
        goto done;
    }
    hssize_t n = H5Sget_simple_extent_npoints(space);
    bool vlen = H5Tis_variable_str(type) > 0;
    size_t width = vlen ? sizeof(char *) : H5Tget_size(type) + 1;
    mem = H5Tcopy(H5T_C_S1);
    if (n < 0 || mem < 0 || H5Tset_size(mem, vlen ? H5T_VARIABLE : width) < 0 ||
        H5Tset_cset(mem, H5Tget_cset(type)) < 0 ||
        (!vlen && H5Tset_strpad(mem, H5T_STR_NULLTERM) < 0)) {
        h5fail(err, "%s: cannot set up reading its strings", where);
        goto done;
    }
    buf = hp_calloc((size_t)n, width, "strings read from the report", err);
    if (!buf)
        goto done;
    if ((is_attr ? H5Aread(obj, mem, buf) : H5Dread(obj, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)) <
        0) {
        h5fail(err, "%s: cannot read its strings", where);
        goto done;
    }
    rc = 0;
    for (hssize_t i = 0; i < n && rc == 0; i++) {
        const char *s = vlen ? ((char **)buf)[i] : (char *)buf + (size_t)i * width;
        rc = strvec_push(out, s ? s : "", err);
    }
    if (vlen)
        H5Dvlen_reclaim(mem, space, H5P_DEFAULT, buf);
done:
    free(buf);
    close_type(mem);
    close_type(type);
    close_space(space);
    return rc;
}

/* Reads a string array attribute when obj has it; absent is not an error. */
static int read_str_array_attr_opt(hid_t obj, const char *name, const char *where, strvec *out,
                                   hp_err *err)
{
    htri_t there = H5Aexists(obj, name);
    if (there <= 0)
        return 0;
    hid_t a = H5Aopen(obj, name, H5P_DEFAULT);
    if (a < 0)
        return h5fail(err, "%s: cannot open attribute %s", where, name);
    char full[1024];
    snprintf(full, sizeof full, "%.900s, attribute %s", where, name);
    int rc = read_string_values(a, true, full, out, err);
    H5Aclose(a);
    return rc;
}

/* ---------------------------------------------------------------- writing */

struct hp_report {
    char *path;
    char *group;
    hp_atomic tmp;      /* the new file beside path */
    hid_t file;         /* the new file */
    hid_t grp;          /* the group being written, in the new file */
    char *command_line;
    char *tool_version;
    char created_utc[32]; /* of the report: kept from the old root when there is one */
    char begun_utc[32];   /* of this command: the group's created_utc */
    strvec kept_files, kept_sha; /* inputs of the groups copied from the old report */
    strvec new_files, new_sha;   /* inputs of this command */
};

static void report_free(hp_report *r)
{
    if (r->grp >= 0)
        H5Gclose(r->grp);
    if (r->file >= 0)
        H5Fclose(r->file);
    hp_atomic_abort(&r->tmp);
    strvec_free(&r->kept_files);
    strvec_free(&r->kept_sha);
    strvec_free(&r->new_files);
    strvec_free(&r->new_sha);
    free(r->command_line);
    free(r->tool_version);
    free(r->group);
    free(r->path);
    free(r);
}

/* Copies one top-level object of the old report and notes the inputs it records. */
static int keep_object(hp_report *r, hid_t old, const char *name, hp_err *err)
{
    char where[600];
    snprintf(where, sizeof where, "%s: /%s", r->path, name);
    if (H5Ocopy(old, name, r->file, name, H5P_DEFAULT, H5P_DEFAULT) < 0)
        return h5fail(err, "%s: cannot copy it into the new report", where);
    hid_t obj = H5Oopen(old, name, H5P_DEFAULT);
    if (obj < 0)
        return h5fail(err, "%s: cannot open it", where);
    strvec files = {0}, sha = {0};
    int rc = read_str_array_attr_opt(obj, "input_files", where, &files, err);
    if (rc == 0)
        rc = read_str_array_attr_opt(obj, "input_sha256", where, &sha, err);
    H5Oclose(obj);
    if (rc == 0 && files.n != sha.n)
        rc = hp_fail(err, "%s: input_files has %zu entries but input_sha256 has %zu", where,
                     files.n, sha.n);
    for (size_t i = 0; rc == 0 && i < files.n; i++)
        rc = push_input(&r->kept_files, &r->kept_sha, files.v[i], sha.v[i], err);
    strvec_free(&files);
    strvec_free(&sha);
    return rc;
}

/* Copies every top-level object except the group being rewritten, and keeps the
 * report's created_utc. Links are listed by index (stable across HDF5 versions, unlike
 * the H5Literate callback type). */
static int copy_old_report(hp_report *r, hp_err *err)
{
    hid_t old = open_report_ro(r->path, err);
    if (old < 0)
        return -1;
    int rc = 0;
    H5G_info_t info;
    if (H5Gget_info(old, &info) < 0)
        rc = h5fail(err, "%s: cannot list the groups of the existing report", r->path);
    for (hsize_t i = 0; rc == 0 && i < info.nlinks; i++) {
        char name[512];
        ssize_t len = H5Lget_name_by_idx(old, ".", H5_INDEX_NAME, H5_ITER_INC, i, name,
                                         sizeof name, H5P_DEFAULT);
        if (len < 0 || (size_t)len >= sizeof name) {
            rc = h5fail(err, "%s: cannot read the name of top-level object %llu", r->path,
                        (unsigned long long)i);
            break;
        }
        if (strcmp(name, r->group) != 0)
            rc = keep_object(r, old, name, err);
    }
    if (rc == 0 && H5Aexists(old, "created_utc") > 0) {
        hid_t a = H5Aopen(old, "created_utc", H5P_DEFAULT);
        strvec v = {0};
        char where[600];
        snprintf(where, sizeof where, "%s: root attribute created_utc", r->path);
        if (a < 0 || read_string_values(a, true, where, &v, err) < 0 || v.n != 1)
            rc = a < 0 ? h5fail(err, "%s: cannot open it", where)
                       : hp_fail(err, "%s: expected one string", where);
        else
            snprintf(r->created_utc, sizeof r->created_utc, "%s", v.v[0]);
        close_attr(a);
        strvec_free(&v);
    }
    H5Fclose(old);
    return rc;
}

hp_report *hp_report_begin(const char *path, const char *group, int argc, char *const *argv,
                           const char *tool_version, hp_err *err)
{
    h5_quiet();
    if (!snake_component(group, strlen(group))) {
        hp_fail(err, "%s: report group name \"%s\" is not snake_case ([a-z0-9_]+)", path, group);
        return NULL;
    }
    int exists = existing_report(path, err);
    if (exists < 0)
        return NULL;
    hp_report *r = hp_calloc(1, sizeof *r, "a report being written", err);
    if (!r)
        return NULL;
    r->file = r->grp = -1;
    r->path = hp_strdup(path, err);
    r->group = hp_strdup(group, err);
    r->tool_version = hp_strdup(tool_version ? tool_version : "", err);
    r->command_line = join_command_line(argv ? argc : 0, argv, err);
    if (!r->path || !r->group || !r->tool_version || !r->command_line)
        goto fail;
    utc_now(r->begun_utc);
    memcpy(r->created_utc, r->begun_utc, sizeof r->created_utc);
    if (hp_atomic_begin(&r->tmp, path, false, err) < 0)
        goto fail;
    hid_t fapl = make_fapl(true);
    r->file = fapl < 0 ? -1 : H5Fcreate(r->tmp.tmp, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (r->file < 0)
        h5fail(err, "%s: cannot create the new report file %s", path, r->tmp.tmp);
    close_plist(fapl);
    if (r->file < 0)
        goto fail;
    if (exists && copy_old_report(r, err) < 0)
        goto fail;
    r->grp = H5Gcreate2(r->file, group, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (r->grp < 0) {
        h5fail(err, "%s: cannot create group /%s", path, group);
        goto fail;
    }
    return r;
fail:
    report_free(r);
    return NULL;
}

int hp_report_add_input_hex(hp_report *r, const char *file_path, const char *hex, hp_err *err)
{
    if (strlen(hex) != 64 || strspn(hex, "0123456789abcdef") != 64)
        return hp_fail(err, "%s: the SHA-256 given for input %s is not 64 lower-case hex digits",
                       r->path, file_path);
    /* Absolute, so that the record means something wherever the report is read. */
    char *abs = realpath(file_path, NULL);
    char *clean = utf8_sanitized(abs ? abs : file_path, err);
    free(abs);
    if (!clean)
        return -1;
    int rc = push_input(&r->new_files, &r->new_sha, clean, hex, err);
    free(clean);
    return rc;
}

int hp_report_add_input(hp_report *r, const char *file_path, hp_err *err)
{
    char hex[HP_SHA256_HEX];
    if (hp_sha256_file(file_path, hex, err) < 0)
        return hp_failctx(err, "%s: recording an input of /%s", r->path, r->group);
    return hp_report_add_input_hex(r, file_path, hex, err);
}

/* Checks a dataset name and that it is new; writes "/group/name" into where. */
static int check_new_dataset(hp_report *r, const char *name, char *where, size_t where_size,
                             hp_err *err)
{
    snprintf(where, where_size, "%s: /%s/%s", r->path, r->group, name);
    if (!snake_path(name))
        return hp_fail(err, "%s: dataset names are snake_case components joined by '/'", where);
    if (object_exists(r->grp, name))
        return hp_fail(err, "%s: already written by this command", where);
    return 0;
}

static int put_definition(hid_t d, const char *definition, const char *units, const char *where,
                          hp_err *err)
{
    if (put_str_attr(d, "definition", definition, where, err) < 0)
        return -1;
    if (units && put_str_attr(d, "units", units, where, err) < 0)
        return -1;
    return 0;
}

static int check_definition(const char *definition, const char *units, const char *where,
                            hp_err *err)
{
    if (!definition || !definition[0])
        return hp_fail(err, "%s: every dataset needs a definition", where);
    if (check_text(definition, "definition", where, err) < 0)
        return -1;
    if (units && check_text(units, "units", where, err) < 0)
        return -1;
    return 0;
}

/* Creates dataset name (intermediate groups too) with space and file_type, writes buf
 * from mem_type (skipped when there are no elements) and its definition and units. */
static int create_and_write(hp_report *r, const char *name, const char *where, hid_t space,
                            hid_t file_type, hid_t mem_type, const void *buf, bool empty,
                            const char *definition, const char *units, hp_err *err)
{
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
    if (lcpl < 0 || H5Pset_create_intermediate_group(lcpl, 1) < 0) {
        close_plist(lcpl);
        return h5fail(err, "%s: cannot set up the dataset", where);
    }
    hid_t d = H5Dcreate2(r->grp, name, file_type, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = 0;
    if (d < 0)
        rc = h5fail(err, "%s: cannot create the dataset", where);
    else if (!empty && H5Dwrite(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        rc = h5fail(err, "%s: cannot write the dataset", where);
    if (rc == 0)
        rc = put_definition(d, definition, units, where, err);
    close_dset(d);
    close_plist(lcpl);
    return rc;
}

static int write_numeric(hp_report *r, const char *name, int rank, const int64_t *dims,
                         const void *data, size_t elem_size, hid_t file_type, hid_t mem_type,
                         const char *definition, const char *units, hp_err *err)
{
    char where[800];
    if (check_new_dataset(r, name, where, sizeof where, err) < 0 ||
        check_definition(definition, units, where, err) < 0)
        return -1;
    if (rank < 0 || rank > HP_REPORT_MAX_RANK)
        return hp_fail(err, "%s: rank %d is outside 0..%d", where, rank, HP_REPORT_MAX_RANK);
    if (rank > 0 && !dims)
        return hp_fail(err, "%s: no dimensions given for rank %d", where, rank);
    size_t n = 1;
    for (int i = 0; i < rank; i++) {
        if (dims[i] < 0)
            return hp_fail(err, "%s: dimension %d is negative (%lld)", where, i,
                           (long long)dims[i]);
        if (dims[i] > 0 && n > SIZE_MAX / elem_size / (size_t)dims[i])
            return hp_fail(err, "%s: the dimensions overflow the address space", where);
        n *= (size_t)dims[i];
    }
    if (n > 0 && !data)
        return hp_fail(err, "%s: no data given for %zu elements", where, n);
    hid_t space = make_space(rank, dims);
    if (space < 0)
        return h5fail(err, "%s: cannot make its dataspace", where);
    int rc = create_and_write(r, name, where, space, file_type, mem_type, data, n == 0,
                              definition, units, err);
    H5Sclose(space);
    return rc;
}

int hp_report_write_f32(hp_report *r, const char *name, int rank, const int64_t *dims,
                        const float *data, const char *definition, const char *units,
                        hp_err *err)
{
    return write_numeric(r, name, rank, dims, data, sizeof *data, H5T_IEEE_F32LE,
                         H5T_NATIVE_FLOAT, definition, units, err);
}

int hp_report_write_f64(hp_report *r, const char *name, int rank, const int64_t *dims,
                        const double *data, const char *definition, const char *units,
                        hp_err *err)
{
    return write_numeric(r, name, rank, dims, data, sizeof *data, H5T_IEEE_F64LE,
                         H5T_NATIVE_DOUBLE, definition, units, err);
}

int hp_report_write_i64(hp_report *r, const char *name, int rank, const int64_t *dims,
                        const int64_t *data, const char *definition, const char *units,
                        hp_err *err)
{
    return write_numeric(r, name, rank, dims, data, sizeof *data, H5T_STD_I64LE,
                         H5T_NATIVE_INT64, definition, units, err);
}

int hp_report_write_strings(hp_report *r, const char *name, size_t n, const char *const *s,
                            const char *definition, hp_err *err)
{
    char where[800];
    if (check_new_dataset(r, name, where, sizeof where, err) < 0 ||
        check_definition(definition, NULL, where, err) < 0)
        return -1;
    if (n > 0 && !s)
        return hp_fail(err, "%s: no strings given for %zu entries", where, n);
    for (size_t i = 0; i < n; i++) {
        if (!s[i])
            return hp_fail(err, "%s: string %zu is NULL", where, i);
        size_t bad = 0;
        if (!hp_utf8_valid(s[i], strlen(s[i]), &bad))
            return hp_fail(err, "%s: string %zu is not valid UTF-8 (bad byte at offset %zu)",
                           where, i, bad);
    }
    hsize_t dim = n;
    hid_t type = vlen_utf8_type(), space = H5Screate_simple(1, &dim, NULL);
    int rc = type < 0 || space < 0
                 ? h5fail(err, "%s: cannot make a string dataspace", where)
                 : create_and_write(r, name, where, space, type, type, s, n == 0, definition,
                                    NULL, err);
    close_type(type);
    close_space(space);
    return rc;
}

/* Opens the object an attribute goes on: the group for "", else a path inside it. */
static hid_t attr_target(hp_report *r, const char *object, const char *name, char *where,
                         size_t where_size, hp_err *err)
{
    snprintf(where, where_size, "%s: /%s%s%s", r->path, r->group, object[0] ? "/" : "", object);
    if (!snake_component(name, strlen(name))) {
        hp_fail(err, "%s: attribute name \"%s\" is not snake_case ([a-z0-9_]+)", where, name);
        return -1;
    }
    if (!object[0]) {
        for (size_t i = 0; i < sizeof reserved_group_attrs / sizeof *reserved_group_attrs; i++)
            if (!strcmp(name, reserved_group_attrs[i])) {
                hp_fail(err, "%s: attribute %s is written by the report layer itself", where,
                        name);
                return -1;
            }
        return H5Oopen(r->grp, ".", H5P_DEFAULT);
    }
    if (!snake_path(object) || !object_exists(r->grp, object)) {
        hp_fail(err, "%s: no such object in the group (write it before its attributes)", where);
        return -1;
    }
    hid_t o = H5Oopen(r->grp, object, H5P_DEFAULT);
    if (o < 0)
        h5fail(err, "%s: cannot open it", where);
    return o;
}

static int put_scalar_attr(hp_report *r, const char *object, const char *name, hid_t file_type,
                           hid_t mem_type, const void *v, hp_err *err)
{
    char where[800];
    hid_t o = attr_target(r, object, name, where, sizeof where, err);
    if (o < 0)
        return -1;
    hid_t s = H5Screate(H5S_SCALAR);
    int rc = s < 0 ? h5fail(err, "%s: cannot make a scalar dataspace", where)
                   : put_attr(o, name, file_type, mem_type, s, v, where, err);
    close_space(s);
    H5Oclose(o);
    return rc;
}

int hp_report_attr_f64(hp_report *r, const char *object, const char *name, double v,
                       hp_err *err)
{
    return put_scalar_attr(r, object, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &v, err);
}

int hp_report_attr_i64(hp_report *r, const char *object, const char *name, int64_t v,
                       hp_err *err)
{
    return put_scalar_attr(r, object, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &v, err);
}

int hp_report_attr_str(hp_report *r, const char *object, const char *name, const char *v,
                       hp_err *err)
{
    char where[800];
    snprintf(where, sizeof where, "%s: /%s%s%s, attribute %s", r->path, r->group,
             object[0] ? "/" : "", object, name);
    if (!v)
        return hp_fail(err, "%s: the value is NULL", where);
    if (check_text(v, "value", where, err) < 0)
        return -1;
    hid_t t = vlen_utf8_type();
    if (t < 0)
        return h5fail(err, "%s: cannot make a string type", where);
    int rc = put_scalar_attr(r, object, name, t, t, &v, err);
    H5Tclose(t);
    return rc;
}

/* The provenance of the group and of the whole report. */
static int write_provenance(hp_report *r, hp_err *err)
{
    char where[600];
    snprintf(where, sizeof where, "%s: /%s", r->path, r->group);
    int rc = put_str_attr(r->grp, "command_line", r->command_line, where, err);
    rc = rc ? rc : put_str_attr(r->grp, "tool_version", r->tool_version, where, err);
    rc = rc ? rc : put_str_attr(r->grp, "created_utc", r->begun_utc, where, err);
    rc = rc ? rc : put_str_array_attr(r->grp, "input_files", &r->new_files, where, err);
    rc = rc ? rc : put_str_array_attr(r->grp, "input_sha256", &r->new_sha, where, err);
    if (rc)
        return -1;

    /* The root lists the inputs of every group now in the file. */
    strvec files = {0}, sha = {0};
    for (size_t i = 0; rc == 0 && i < r->kept_files.n; i++)
        rc = push_input(&files, &sha, r->kept_files.v[i], r->kept_sha.v[i], err);
    for (size_t i = 0; rc == 0 && i < r->new_files.n; i++)
        rc = push_input(&files, &sha, r->new_files.v[i], r->new_sha.v[i], err);
    char updated[32];
    utc_now(updated);
    snprintf(where, sizeof where, "%s: root", r->path);
    hid_t root = H5Oopen(r->file, "/", H5P_DEFAULT);
    if (rc == 0 && root < 0)
        rc = h5fail(err, "%s: cannot open it", where);
    rc = rc ? rc : put_str_attr(root, "tool_version", r->tool_version, where, err);
    rc = rc ? rc : put_str_attr(root, "created_utc", r->created_utc, where, err);
    rc = rc ? rc : put_str_attr(root, "updated_utc", updated, where, err);
    rc = rc ? rc : put_str_attr(root, "command_line", r->command_line, where, err);
    rc = rc ? rc : put_str_array_attr(root, "input_files", &files, where, err);
    rc = rc ? rc : put_str_array_attr(root, "input_sha256", &sha, where, err);
    if (root >= 0)
        H5Oclose(root);
    strvec_free(&files);
    strvec_free(&sha);
    return rc;
}

/* HDF5 does not fsync; the new file must be on disk before the rename publishes it. */
static int sync_file(const char *tmp, const char *path, hp_err *err)
{
    int fd = open(tmp, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0)
            close(fd);
        return hp_fail(err, "%s: cannot sync the new report %s: %s", path, tmp, strerror(e));
    }
    close(fd);
    return 0;
}

int hp_report_commit(hp_report *r, hp_err *err)
{
    h5_quiet();
    int rc = write_provenance(r, err);
    if (H5Gclose(r->grp) < 0 && rc == 0)
        rc = h5fail(err, "%s: cannot close group /%s", r->path, r->group);
    r->grp = -1;
    if (H5Fclose(r->file) < 0 && rc == 0)
        rc = h5fail(err, "%s: cannot close the new report %s", r->path, r->tmp.tmp);
    r->file = -1;
    if (rc == 0)
        rc = sync_file(r->tmp.tmp, r->path, err);
    if (rc == 0)
        rc = hp_atomic_commit(&r->tmp, err); /* removes the temp file itself on failure */
    report_free(r);
    return rc;
}

void hp_report_abort(hp_report *r)
{
    if (!r)
        return;
    h5_quiet();
    report_free(r);
}

/* ---------------------------------------------------------------- reading */

int hp_report_has(const char *path, const char *object, hp_err *err)
{
    h5_quiet();
    int e = existing_report(path, err);
    if (e <= 0)
        return e;
    hid_t f = open_report_ro(path, err);
    if (f < 0)
        return -1;
    int found = object_exists(f, object) ? 1 : 0;
    H5Fclose(f);
    return found;
}

/* Opens the report and the dataset in it; *file must be closed after *dset. */
static hid_t open_dataset(const char *path, const char *dataset, hid_t *file, hp_err *err)
{
    h5_quiet();
    *file = open_report_ro(path, err);
    if (*file < 0)
        return -1;
    hid_t d = -1;
    if (!object_exists(*file, dataset))
        hp_fail(err, "%s: %s is not in the report", path, dataset);
    else if ((d = H5Dopen2(*file, dataset, H5P_DEFAULT)) < 0)
        h5fail(err, "%s: %s: cannot open it as a dataset", path, dataset);
    if (d < 0) {
        H5Fclose(*file);
        *file = -1;
    }
    return d;
}

int hp_report_dims(const char *path, const char *dataset, int *rank,
                   int64_t dims[HP_REPORT_MAX_RANK], hp_err *err)
{
    hid_t f, d = open_dataset(path, dataset, &f, err);
    if (d < 0)
        return -1;
    hid_t s = H5Dget_space(d);
    int k = s < 0 ? -1 : H5Sget_simple_extent_ndims(s);
    int rc = 0;
    if (k < 0) {
        rc = h5fail(err, "%s: %s: cannot read its shape", path, dataset);
    } else if (k > HP_REPORT_MAX_RANK) {
        rc = hp_fail(err, "%s: %s: rank %d is more than the %d supported", path, dataset, k,
                     HP_REPORT_MAX_RANK);
    } else {
        hsize_t h[HP_REPORT_MAX_RANK];
        H5Sget_simple_extent_dims(s, h, NULL);
        *rank = k;
        for (int i = 0; i < k; i++)
            dims[i] = (int64_t)h[i];
    }
    close_space(s);
    H5Dclose(d);
    H5Fclose(f);
    return rc;
}

static int read_numeric(const char *path, const char *dataset, hid_t mem_type, size_t elem,
                        bool integers_only, void **data, int64_t *n, hp_err *err)
{
    hid_t f, d = open_dataset(path, dataset, &f, err);
    if (d < 0)
        return -1;
    int rc = -1;
    void *buf = NULL;
    hid_t t = H5Dget_type(d), s = H5Dget_space(d);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    hssize_t count = s < 0 ? -1 : H5Sget_simple_extent_npoints(s);
    if (count < 0)
        h5fail(err, "%s: %s: cannot read its shape", path, dataset);
    else if (cls != H5T_INTEGER && (integers_only || cls != H5T_FLOAT))
        hp_fail(err, "%s: %s: expected %s data, found another type", path, dataset,
                integers_only ? "integer" : "numeric");
    else if (!(buf = hp_calloc((size_t)count, elem, dataset, err)))
        ;
    else if (count > 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0)
        h5fail(err, "%s: %s: cannot read it", path, dataset);
    else
        rc = 0;
    close_type(t);
    close_space(s);
    H5Dclose(d);
    H5Fclose(f);
    if (rc < 0) {
        free(buf);
        return -1;
    }
    *data = buf;
    *n = count;
    return 0;
}

int hp_report_read_f64(const char *path, const char *dataset, double **data, int64_t *n,
                       hp_err *err)
{
    return read_numeric(path, dataset, H5T_NATIVE_DOUBLE, sizeof **data, false, (void **)data,
                        n, err);
}

int hp_report_read_f32(const char *path, const char *dataset, float **data, int64_t *n,
                       hp_err *err)
{
    return read_numeric(path, dataset, H5T_NATIVE_FLOAT, sizeof **data, false, (void **)data, n,
                        err);
}

int hp_report_read_i64(const char *path, const char *dataset, int64_t **data, int64_t *n,
                       hp_err *err)
{
    return read_numeric(path, dataset, H5T_NATIVE_INT64, sizeof **data, true, (void **)data, n,
                        err);
}

int hp_report_read_strings(const char *path, const char *dataset, char ***s, size_t *n,
                           hp_err *err)
{
    hid_t f, d = open_dataset(path, dataset, &f, err);
    if (d < 0)
        return -1;
    char where[800];
    snprintf(where, sizeof where, "%s: %s", path, dataset);
    strvec v = {0};
    int rc = read_string_values(d, false, where, &v, err);
    H5Dclose(d);
    H5Fclose(f);
    if (rc < 0) {
        strvec_free(&v);
        return -1;
    }
    *s = v.v;
    *n = v.n;
    return 0;
}

void hp_report_free_strings(char **s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(s[i]);
    free(s);
}

/* Opens attribute name of object; *file must be closed after the attribute. */
static hid_t open_attr(const char *path, const char *object, const char *name, hid_t *file,
                       hp_err *err)
{
    h5_quiet();
    *file = open_report_ro(path, err);
    if (*file < 0)
        return -1;
    hid_t a = -1;
    if (!object_exists(*file, object))
        hp_fail(err, "%s: %s is not in the report", path, object);
    else if (H5Aexists_by_name(*file, object, name, H5P_DEFAULT) <= 0)
        hp_fail(err, "%s: %s has no attribute %s", path, object, name);
    else if ((a = H5Aopen_by_name(*file, object, name, H5P_DEFAULT, H5P_DEFAULT)) < 0)
        h5fail(err, "%s: %s: cannot open attribute %s", path, object, name);
    if (a < 0) {
        H5Fclose(*file);
        *file = -1;
    }
    return a;
}

static int read_scalar_attr(const char *path, const char *object, const char *name,
                            hid_t mem_type, bool integers_only, void *v, hp_err *err)
{
    hid_t f, a = open_attr(path, object, name, &f, err);
    if (a < 0)
        return -1;
    hid_t t = H5Aget_type(a), s = H5Aget_space(a);
    H5T_class_t cls = t < 0 ? H5T_NO_CLASS : H5Tget_class(t);
    int rc = -1;
    if (s < 0 || H5Sget_simple_extent_npoints(s) != 1)
        hp_fail(err, "%s: %s, attribute %s: expected a single value", path, object, name);
    else if (cls != H5T_INTEGER && (integers_only || cls != H5T_FLOAT))
        hp_fail(err, "%s: %s, attribute %s: expected %s, found another type", path, object, name,
                integers_only ? "an integer" : "a number");
    else if (H5Aread(a, mem_type, v) < 0)
        h5fail(err, "%s: %s, attribute %s: cannot read it", path, object, name);
    else
        rc = 0;
    close_type(t);
    close_space(s);
    H5Aclose(a);
    H5Fclose(f);
    return rc;
}

int hp_report_read_attr_f64(const char *path, const char *object, const char *name, double *v,
                            hp_err *err)
{
    return read_scalar_attr(path, object, name, H5T_NATIVE_DOUBLE, false, v, err);
}

int hp_report_read_attr_i64(const char *path, const char *object, const char *name,
                            int64_t *v, hp_err *err)
{
    return read_scalar_attr(path, object, name, H5T_NATIVE_INT64, true, v, err);
}

int hp_report_read_attr_str(const char *path, const char *object, const char *name, char **v,
                            hp_err *err)
{
    hid_t f, a = open_attr(path, object, name, &f, err);
    if (a < 0)
        return -1;
    char where[800];
    snprintf(where, sizeof where, "%s: %s, attribute %s", path, object, name);
    strvec sv = {0};
    int rc = read_string_values(a, true, where, &sv, err);
    H5Aclose(a);
    H5Fclose(f);
    if (rc == 0 && sv.n != 1)
        rc = hp_fail(err, "%s: expected one string, found %zu", where, sv.n);
    if (rc == 0) {
        *v = sv.v[0];
        sv.v[0] = NULL;
    }
    strvec_free(&sv);
    return rc;
}

/* The HDF5 report: one file that every analysis command creates or updates (`-o REPORT`).
 *
 * Each analysis owns one top-level group (/freq, /norms, /delta, /model, ...). Writing a
 * group builds a new file beside the report, copies every other top-level object of the
 * old report into it, writes the group afresh and renames the new file over the old one:
 * an interrupted command leaves the previous report as it was, and rewriting a group
 * does not make the file grow. The root carries tool_version, created_utc (of the first
 * creation), updated_utc, command_line (of the latest command) and input_files /
 * input_sha256 (the inputs of every group in the file); each group carries its own
 * command_line, tool_version, created_utc, input_files and input_sha256, so provenance
 * survives when other groups are rewritten. Every dataset has a `definition` attribute
 * and, when it has units, `units`. Strings are variable-length UTF-8.
 *
 * Names of groups, datasets and attributes are snake_case: lower-case ASCII letters,
 * digits and '_'; dataset paths inside a group may have several such components joined
 * by '/' ("bins/mean"), and the missing intermediate groups are created.
 *
 * HDF5's own error printing is switched off (H5Eset_auto) for the calling thread; its
 * failures come back in hp_err naming the report and the object. Debian's HDF5 is not
 * thread-safe: use the report from one thread. See docs/report-format.md. */
#ifndef HYPLORA_REPORT_H
#define HYPLORA_REPORT_H

#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"

#define HP_REPORT_MAX_RANK 8

typedef struct hp_report hp_report;

/* Starts writing `group` of the report at path: checks that an existing file is HDF5
 * (anything else is left alone and is an error), creates the new file beside it and
 * copies the other top-level groups into it. argv (argc entries) is recorded, quoted for
 * a shell, as the command line; tool_version is e.g. "0.1.0". Any existing `group` is
 * replaced at commit. */
hp_report *hp_report_begin(const char *path, const char *group, int argc, char *const *argv,
                           const char *tool_version, hp_err *err);

/* Records an input file of this command (its absolute path and SHA-256, computed now).
 * Adding the same file twice records it once. */
int hp_report_add_input(hp_report *r, const char *file_path, hp_err *err);

/* The same with the file's SHA-256 (64 lower-case hex digits) already computed, e.g. by
 * hp_sha256_files_begin while the command worked. */
int hp_report_add_input_hex(hp_report *r, const char *file_path, const char *hex, hp_err *err);

/* Writes a dataset `name` (relative to the group) of the given rank (0 for a scalar, at
 * most HP_REPORT_MAX_RANK) and dims, row-major, with its definition (required: what the
 * numbers are, in a sentence) and units (NULL when dimensionless or a count). A name may
 * be written only once per report_begin. */
int hp_report_write_f32(hp_report *r, const char *name, int rank, const int64_t *dims,
                        const float *data, const char *definition, const char *units,
                        hp_err *err);
int hp_report_write_f64(hp_report *r, const char *name, int rank, const int64_t *dims,
                        const double *data, const char *definition, const char *units,
                        hp_err *err);
int hp_report_write_i64(hp_report *r, const char *name, int rank, const int64_t *dims,
                        const int64_t *data, const char *definition, const char *units,
                        hp_err *err);
/* A 1-D dataset of n UTF-8 strings. */
int hp_report_write_strings(hp_report *r, const char *name, size_t n, const char *const *s,
                            const char *definition, hp_err *err);

/* Sets a scalar attribute on `object` (a dataset or subgroup path relative to the group,
 * or "" for the group itself), replacing one of the same name. The provenance names
 * (command_line, tool_version, created_utc, input_files, input_sha256) on the group are
 * reserved. */
int hp_report_attr_f64(hp_report *r, const char *object, const char *name, double v,
                       hp_err *err);
int hp_report_attr_i64(hp_report *r, const char *object, const char *name, int64_t v,
                       hp_err *err);
int hp_report_attr_str(hp_report *r, const char *object, const char *name, const char *v,
                       hp_err *err);

/* Writes the provenance, closes the new file, syncs it and renames it over the report.
 * Frees r whether it succeeds or not; on failure the old report is untouched. */
int hp_report_commit(hp_report *r, hp_err *err);

/* Removes the new file and frees r; the old report is untouched. r may be NULL. */
void hp_report_abort(hp_report *r);

/* Readers of an existing report (what earlier commands wrote). Objects are absolute
 * paths: "/freq/counts"; "/" is the root. */

/* 1 when object exists, 0 when it (or the whole report file) does not, -1 when the file
 * exists but cannot be read as HDF5. */
int hp_report_has(const char *path, const char *object, hp_err *err);

/* The rank and dims of a dataset. */
int hp_report_dims(const char *path, const char *dataset, int *rank,
                   int64_t dims[HP_REPORT_MAX_RANK], hp_err *err);

/* Reads a whole numeric dataset, flattened row-major, into a fresh allocation (free()
 * it); *n is the number of elements. _f64 and _f32 accept integer or floating-point
 * data (converted); _i64 only integer data. */
int hp_report_read_f64(const char *path, const char *dataset, double **data, int64_t *n,
                       hp_err *err);
int hp_report_read_f32(const char *path, const char *dataset, float **data, int64_t *n,
                       hp_err *err);
int hp_report_read_i64(const char *path, const char *dataset, int64_t **data, int64_t *n,
                       hp_err *err);
/* Reads a string dataset (variable- or fixed-length) into *s, n fresh strings; free with
 * hp_report_free_strings. */
int hp_report_read_strings(const char *path, const char *dataset, char ***s, size_t *n,
                           hp_err *err);
void hp_report_free_strings(char **s, size_t n);

/* Reads a scalar attribute of object ("/" for the root). *v of _str is a fresh string. */
int hp_report_read_attr_f64(const char *path, const char *object, const char *name, double *v,
                            hp_err *err);
int hp_report_read_attr_i64(const char *path, const char *object, const char *name,
                            int64_t *v, hp_err *err);
int hp_report_read_attr_str(const char *path, const char *object, const char *name, char **v,
                            hp_err *err);

#endif

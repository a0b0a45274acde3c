/* Streaming JSON: the items of a large JSON document, one at a time, in memory that
 * depends on the size of one item and not on the size of the file.
 *
 * The file is fed to yajl's event parser in 64 KiB chunks and each item is rebuilt as a
 * small cJSON tree, handed to a callback and freed. Two shapes of document are served:
 *
 *  - hp_json_each: a data set, either one top-level array (each element is an item) or
 *    JSONL (one JSON value per non-empty line). A file ending in .jsonl or .ndjson is
 *    always read as JSONL; otherwise a file whose first non-blank byte is '[' is an
 *    array and any other file is JSONL.
 *  - hp_json_each_member: one top-level object whose named members are streamed: a
 *    member whose value is an array or object yields each element (or member) as an
 *    item; a member whose value is a scalar yields that one value. Members not named are
 *    skipped without being built. This is how a 300 MB object such as the wink word
 *    vectors ({"size": .., "words": [...], "vectors": {...}}) is read in one pass.
 *
 * Numbers become float32 through hp_json_f32, which gives the float nearest to the
 * decimal text, not the double rounded again. For that, a number node whose double
 * might round to another float keeps its source text in `valuestring` (cJSON leaves that
 * field unused for numbers and frees it with the node); short decimals such as
 * "-0.38194", for which the double is known to round to the right float, have none.
 * Strings are checked to be UTF-8 by yajl; a string holding U+0000 is rejected because
 * cJSON strings end at the first NUL. */
#ifndef HYPLORA_JSON_STREAM_H
#define HYPLORA_JSON_STREAM_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "hyplora/error.h"

/* Called once per item. index counts items from 0 (per member in hp_json_each_member).
 * For an item taken from an object, item->string is its member name. The tree belongs to
 * the stream and is freed when the callback returns. Return 0 to go on, 1 to stop early
 * (the iteration then returns 0), or -1 after setting err; the stream adds the file name
 * and the position of the item to that message. */
typedef int (*hp_json_item_fn)(const cJSON *item, size_t index, void *ctx, hp_err *err);

/* Calls on_item for every item of a top-level array or JSONL file. Returns 0 when all
 * items were seen (or the callback stopped), -1 on a parse error (message: file, line,
 * column and what yajl reported) or a callback error. */
int hp_json_each(const char *path, hp_json_item_fn on_item, void *ctx, hp_err *err);

/* One named member of a top-level object, for hp_json_each_member. */
typedef struct hp_json_member {
    const char *name;
    hp_json_item_fn on_item;
} hp_json_member;

/* Streams the members named in members[0..n_members) of the top-level object in path,
 * in the order they appear in the file. A named member that is absent is not an error
 * here (the caller knows which ones it needs and counts its calls). */
int hp_json_each_member(const char *path, const hp_json_member *members, size_t n_members,
                        void *ctx, hp_err *err);

/* The string field `name` of an object item, or NULL with a message saying whether the
 * field is missing (listing the fields present) or has another type. */
const char *hp_json_field_str(const cJSON *item, const char *name, hp_err *err);

/* A number node as float32, rounded once from its source text when it has one.
 * Fails if the node is not a number or its value is beyond the float range. */
int hp_json_f32(const cJSON *num, float *out, hp_err *err);

/* strtod/strtof in the C locale whatever locale the program has set, so that "0.5" is
 * read the same in a German or French locale. Same contract as strtod/strtof. */
double hp_strtod(const char *s, char **end);
float hp_strtof(const char *s, char **end);

#endif

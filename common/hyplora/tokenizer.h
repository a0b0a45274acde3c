/* Tokenizers: text to token ids exactly as the reference implementations produce them,
 * and back.
 *
 * Sources: a Hugging Face tokenizer.json (BPE models: byte-level as GPT-2/Llama-3/Qwen,
 * or SentencePiece-style with byte fallback as Llama-2/Mistral/Gemma), GPT-2's vocab.json
 * + merges.txt pair (also spelled encoder.json + vocab.bpe), or the tokenizer inside a
 * GGUF file. A component we do not implement (Unigram, WordPiece, an unknown
 * pre-tokenizer...) fails at load time with an error naming it: never a silently
 * different tokenization.
 *
 * A loaded tokenizer is immutable: encode and decode may run on many threads at once. */
#ifndef HYPLORA_TOKENIZER_H
#define HYPLORA_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hyplora/error.h"

struct hp_gguf;
typedef struct hp_tokenizer hp_tokenizer;

/* A growable list of token ids. Start from {0}; free with hp_ids_free. */
typedef struct hp_ids {
    int32_t *ids;
    size_t n, cap;
} hp_ids;

int hp_ids_push(hp_ids *v, int32_t id, hp_err *err);
void hp_ids_free(hp_ids *v);

/* Loads path: a tokenizer.json, a directory holding tokenizer.json (or vocab.json +
 * merges.txt), a vocab.json / encoder.json whose merges.txt / vocab.bpe lies beside it, or
 * a GGUF file. */
hp_tokenizer *hp_tokenizer_load(const char *path, hp_err *err);
hp_tokenizer *hp_tokenizer_from_gguf(const struct hp_gguf *g, hp_err *err);
void hp_tokenizer_free(hp_tokenizer *t);

/* Appends the ids of text (UTF-8; invalid bytes are treated as documented in
 * docs/tokenizers.md) to out. add_special applies the post-processor (BOS/EOS...) as the
 * reference does with add_special_tokens=True. */
int hp_tokenizer_encode(const hp_tokenizer *t, const char *text, size_t len, bool add_special,
                        hp_ids *out, hp_err *err);

/* The text of ids, as the reference's decode (skip_special_tokens as given). *text is
 * malloc'd and NUL-terminated. */
int hp_tokenizer_decode(const hp_tokenizer *t, const int32_t *ids, size_t n, bool skip_special,
                        char **text, size_t *len, hp_err *err);

size_t hp_tokenizer_vocab_size(const hp_tokenizer *t); /* highest id + 1, added tokens included */
const char *hp_tokenizer_token(const hp_tokenizer *t, int32_t id, size_t *len); /* NULL if none */
int32_t hp_tokenizer_token_id(const hp_tokenizer *t, const char *s, size_t len); /* -1 if none */
int32_t hp_tokenizer_bos(const hp_tokenizer *t); /* -1 when there is none */
int32_t hp_tokenizer_eos(const hp_tokenizer *t);
bool hp_tokenizer_is_special(const hp_tokenizer *t, int32_t id);
/* How many ids the post-processor puts before and after the text's own when encoding with
 * add_special (LLaMA-2: BOS, 1 and 0): an encoding with them is also one without them,
 * ids[n_prefix .. n - n_suffix), so one tokenization serves both. */
void hp_tokenizer_special_lengths(const hp_tokenizer *t, size_t *n_prefix, size_t *n_suffix);
/* One line saying what was loaded, e.g. "BPE, byte-level, 128256 tokens (256 added)". */
const char *hp_tokenizer_describe(const hp_tokenizer *t);

/* Word-level mode for plain word-vector vocabularies (GloVe-style): calls on_word for
 * every maximal run of Unicode letters, marks and numbers (an apostrophe between two of
 * them stays inside: "don't"), lowercased with the Unicode simple lowercase mapping (not
 * case folding: "straße" stays), as documented in docs/tokenizers.md. word is only valid
 * during the call. Returns what on_word returns if non-zero (iteration stops), -1 if out
 * of memory, else 0. */
int hp_words_each(const char *text, size_t len,
                  int (*on_word)(const char *word, size_t len, void *ctx), void *ctx);

#endif

/* Tokenizers, encoding exactly as llama.cpp does for the same vocabulary:
 *  - SentencePiece-style BPE (GGUF tokenizer model "llama"): score-ordered merges over UTF-8
 *    characters, "▁" for spaces, optional space prefix, byte fallback <0xNN>;
 *  - byte-level BPE (GGUF "gpt2"): a pre-tokenizer regex chosen by the vocabulary's `pre`
 *    name (gpt-2, llama-bpe for Llama-3, qwen2), GPT-2's byte-to-unicode map, rank-ordered
 *    merges.
 * Special/added tokens written literally in the text are not parsed as specials (as in
 * llama.cpp's perplexity tool), and BOS/EOS are added as the vocabulary says. */
#ifndef MN_TEXT_TOKENIZER_H
#define MN_TEXT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "formats/gguf.h"
#include "formats/gguf_writer.h"

typedef enum { MN_VOCAB_SPM, MN_VOCAB_BPE } mn_vocab_kind;

/* GGUF tokenizer.ggml.token_type values. */
enum {
    MN_TOKEN_NORMAL = 1,
    MN_TOKEN_UNKNOWN = 2,
    MN_TOKEN_CONTROL = 3,
    MN_TOKEN_USER_DEFINED = 4,
    MN_TOKEN_UNUSED = 5,
    MN_TOKEN_BYTE = 6,
};

/* The vocabulary as GGUF stores it (tokenizer.ggml.*), whatever file it came from. */
typedef struct {
    mn_vocab_kind kind;
    char pre[32]; /* tokenizer.ggml.pre: "default", "gpt-2", "llama-bpe", "qwen2", ... */
    int32_t n_tokens;
    char **tokens;       /* SPM pieces use U+2581 for spaces; BPE tokens are byte-level text */
    float *scores;       /* n_tokens entries (zeros when the source has none) */
    int32_t *token_types;
    int32_t n_merges; /* BPE only: "left right" strings in rank order */
    char **merges;
    int32_t bos_id, eos_id, unk_id, pad_id; /* -1 when absent */
    bool add_bos, add_eos, add_space_prefix;
} mn_vocab;

typedef struct mn_tokenizer mn_tokenizer;

/* Any tokenizer source: a GGUF file (full model or tokenizer-only), tokenizer.json,
 * tokenizer.model, a llama2.c tokenizer.bin, or a Hugging Face directory. In a directory
 * holding both tokenizer.model and tokenizer.json, the choice follows llama.cpp's converter
 * (the SentencePiece model for SentencePiece vocabularies), so ids match llama.cpp's; a
 * directory with neither may hold minnow's tokenizer.gguf. */
mn_tokenizer *mn_tokenizer_load(const char *path);
mn_tokenizer *mn_tokenizer_from_gguf(const mn_gguf *g);
mn_tokenizer *mn_tokenizer_from_hf_dir(const char *dir);
/* llama2.c tokenizer.bin holds no count: n_vocab comes from the checkpoint (0: read to EOF). */
mn_tokenizer *mn_tokenizer_from_llama2c(const char *path, int32_t n_vocab);
void mn_tokenizer_free(mn_tokenizer *t);

const mn_vocab *mn_tokenizer_vocab(const mn_tokenizer *t);

/* Growable token id list. */
typedef struct {
    int32_t *ids;
    size_t n, cap;
} mn_tokens;
void mn_tokens_free(mn_tokens *t);

/* Appends the encoding of text[0..len) to out; add_special adds BOS/EOS as the vocabulary's
 * add_bos/add_eos flags say. Invalid UTF-8 is encoded byte-wise, never rejected. */
int mn_tokenize(const mn_tokenizer *t, const char *text, size_t len, bool add_special, mn_tokens *out);

/* The text of one token as it would be printed (spaces restored, byte tokens as bytes);
 * returns the number of bytes written (truncated to cap). */
size_t mn_token_to_text(const mn_tokenizer *t, int32_t id, char *buf, size_t cap);

/* Writes tokenizer.ggml.* metadata for this vocabulary. */
void mn_vocab_write_gguf(const mn_vocab *v, mn_gguf_writer *w);

/* Writes a tokenizer-only GGUF (general.architecture "llama", no tensors) that llama.cpp
 * loads vocab-only and minnow reads back, e.g. as tokenizer.gguf in a Hugging Face directory
 * whose vocabulary did not come from Hugging Face files. */
int mn_tokenizer_save_gguf(const mn_tokenizer *t, const char *path);

#endif

/* Private to text/: the tokenizer's tables, shared by the loaders and the two encoders. */
#ifndef MN_TEXT_TOKENIZER_INTERNAL_H
#define MN_TEXT_TOKENIZER_INTERNAL_H

#include "text/pretokenize.h"
#include "text/strmap.h"
#include "text/tokenizer.h"

/* llama.cpp's token attributes (llama_token_attr), the subset tokenization looks at. */
enum {
    MN_ATTR_UNKNOWN = 1 << 0,
    MN_ATTR_UNUSED = 1 << 1,
    MN_ATTR_NORMAL = 1 << 2,
    MN_ATTR_CONTROL = 1 << 3,
    MN_ATTR_USER_DEFINED = 1 << 4,
    MN_ATTR_BYTE = 1 << 5,
    MN_ATTR_RSTRIP = 1 << 6,
};

/* Special-id keys a GGUF may carry; when one is present llama.cpp skips its search for that
 * token by name, and so does not mark the token found that way as a control token. */
enum {
    MN_PRESET_EOT = 1 << 0,
    MN_PRESET_EOM = 1 << 1,
    MN_PRESET_FIM_PRE = 1 << 2,
    MN_PRESET_FIM_SUF = 1 << 3,
    MN_PRESET_FIM_MID = 1 << 4,
    MN_PRESET_FIM_PAD = 1 << 5,
    MN_PRESET_FIM_REP = 1 << 6,
    MN_PRESET_FIM_SEP = 1 << 7,
};

/* What a source says beyond mn_vocab that changes how llama.cpp treats its tokens. */
typedef struct {
    const char *model_name; /* general.name: Phi-3 gets right-stripping special tokens */
    unsigned preset_ids;    /* MN_PRESET_* */
} mn_vocab_extras;

struct mn_tokenizer {
    mn_vocab v;
    uint32_t *len;   /* token byte lengths */
    uint8_t *attr;   /* MN_ATTR_* */
    uint32_t max_len;
    mn_strmap ids;   /* token text -> id; the last of duplicate texts wins, as in llama.cpp */
    mn_strmap ranks; /* BPE: (left, right) -> merge rank; the first of duplicates wins */
    /* USER_DEFINED tokens, split out of raw text before encoding: longest first. */
    int32_t *user;
    size_t n_user;
    int32_t byte_id[256]; /* SPM byte fallback: <0xXX>, else the byte itself, else unk */
    mn_strmap pairs;      /* SPM: adjacent character pairs occurring inside some token */
    mn_pretokenizer *pre; /* BPE */
    char byte_char[256][2]; /* BPE: UTF-8 of the character standing for each byte */
    uint8_t byte_char_len[256];
};

/* Bounds for counts read from files: a vocabulary or merge list larger than this is corrupt.
 * (Merge ranks also travel as floats in the merge loop, exact below 2^24.) */
#define MN_MAX_TOKENS (1 << 24)

/* The byte a byte token "<0xHH>" stands for, or -1 for any other text. */
int mn_byte_token_value(const char *s, size_t n);
/* The space separating a merge "left right" (searched from the second byte, as llama.cpp
 * does, so a left part may itself be a space), or NULL. */
const char *mn_merge_split(const char *merge);

/* Allocates a vocabulary of n tokens: tokens NULL, scores 0, types NORMAL, ids -1. */
int mn_vocab_alloc(mn_vocab *v, mn_vocab_kind kind, int32_t n, const char *source);
/* Copies s[0..len) into token i (replacing any earlier text). */
int mn_vocab_set_token(mn_vocab *v, int32_t i, const char *s, size_t len, const char *source);
/* Token i becomes the converter's filler "[PAD<i>]", an unused token. */
int mn_vocab_set_pad(mn_vocab *v, int32_t i, const char *source);
void mn_vocab_clear(mn_vocab *v);

/* Validates the vocabulary and builds the tokenizer; takes ownership of *v (left empty),
 * on failure too. `source` names the file in error messages. */
mn_tokenizer *mn_tokenizer_build(mn_vocab *v, const mn_vocab_extras *x, const char *source);

int mn_tokens_push(mn_tokens *out, int32_t id);
/* Encoders for one raw-text fragment (no specials inside); -1 only when out of memory. */
int mn_spm_encode(const mn_tokenizer *t, const char *text, size_t n, bool space_prefix, mn_tokens *out);
int mn_bpe_encode(const mn_tokenizer *t, const char *text, size_t n, mn_words *words, mn_tokens *out);

/* Loaders (each validates its file and names it in errors). */
mn_tokenizer *mn_tokenizer_from_sp_model(const char *path);
mn_tokenizer *mn_tokenizer_from_hf_json(const char *path);

#endif

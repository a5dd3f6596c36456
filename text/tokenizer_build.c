/* From a validated mn_vocab to the tables the encoders use, including the token attributes
 * llama.cpp derives from token names (llama_vocab::impl::load), which decide which tokens
 * are split out of raw text. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

/* A token text longer than this is a corrupt file, not a token. */
#define MAX_TOKEN_BYTES (1u << 20)

static int validate(mn_vocab *v, const char *source) {
    if (v->kind != MN_VOCAB_SPM && v->kind != MN_VOCAB_BPE) return mn_fail("%s: unknown vocabulary kind", source);
    if (v->n_tokens <= 0 || v->n_tokens > MN_MAX_TOKENS)
        return mn_fail("%s: vocabulary has %d tokens", source, (int)v->n_tokens);
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (v->tokens[i] && strlen(v->tokens[i]) > MAX_TOKEN_BYTES)
            return mn_fail("%s: token %d is longer than %u bytes", source, (int)i, MAX_TOKEN_BYTES);
        if (v->token_types[i] < 0 || v->token_types[i] > MN_TOKEN_BYTE)
            return mn_fail("%s: token %d has invalid type %d", source, (int)i, (int)v->token_types[i]);
    }
    const char *names[] = {"BOS", "EOS", "unknown", "padding"};
    const int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id};
    for (int i = 0; i < 4; i++)
        if (ids[i] < -1 || ids[i] >= v->n_tokens)
            return mn_fail("%s: %s token id %d is outside the vocabulary (%d tokens)", source, names[i], (int)ids[i],
                           (int)v->n_tokens);
    if (v->add_bos && v->bos_id < 0) return mn_fail("%s: the vocabulary adds BOS but has no BOS token", source);
    if (v->add_eos && v->eos_id < 0) return mn_fail("%s: the vocabulary adds EOS but has no EOS token", source);
    if (v->kind == MN_VOCAB_SPM) {
        if (v->n_merges) return mn_fail("%s: a SentencePiece vocabulary has BPE merges", source);
        return 0;
    }
    if (v->n_merges < 0 || v->n_merges > MN_MAX_TOKENS)
        return mn_fail("%s: vocabulary has %d merges", source, (int)v->n_merges);
    for (int32_t i = 0; i < v->n_merges; i++)
        if (!v->merges[i] || !mn_merge_split(v->merges[i]))
            return mn_fail("%s: merge %d is not two tokens separated by a space", source, (int)i);
    return 0;
}

/* llama.cpp reads an empty token as "[EMPTY_<id>]". */
static int fill_empty_tokens(mn_vocab *v, const char *source) {
    for (int32_t i = 0; i < v->n_tokens; i++) {
        if (v->tokens[i] && v->tokens[i][0]) continue;
        char name[32];
        int n = snprintf(name, sizeof name, "[EMPTY_%d]", (int)i);
        if (mn_vocab_set_token(v, i, name, (size_t)n, source)) return -1;
    }
    return 0;
}

static uint8_t attr_of_type(int32_t type) {
    switch (type) {
    case MN_TOKEN_NORMAL: return MN_ATTR_NORMAL;
    case MN_TOKEN_UNKNOWN: return MN_ATTR_UNKNOWN;
    case MN_TOKEN_CONTROL: return MN_ATTR_CONTROL;
    case MN_TOKEN_USER_DEFINED: return MN_ATTR_USER_DEFINED;
    case MN_TOKEN_UNUSED: return MN_ATTR_UNUSED;
    case MN_TOKEN_BYTE: return MN_ATTR_BYTE;
    default: return 0;
    }
}

/* The id llama.cpp's text -> id map holds for this text, or -1. */
static int32_t id_of(const mn_tokenizer *t, const char *s) { return mn_strmap_get(&t->ids, s, strlen(s), "", 0); }

static void mark_control(mn_tokenizer *t, const char *const *texts) {
    for (; *texts; texts++) {
        int32_t id = id_of(t, *texts);
        if (id >= 0) t->attr[id] |= MN_ATTR_CONTROL;
    }
}

/* Tokens llama.cpp makes control tokens by name: fill-in-the-middle markers (unless the
 * file names them by id) and end-of-generation markers. */
static void name_based_attributes(mn_tokenizer *t, unsigned preset) {
    static const char *const fim[6][9] = {
        {"<|fim_prefix|>", "<fim-prefix>", "<fim_prefix>", "<｜fim▁begin｜>", "<PRE>", "▁<PRE>", "<|code_prefix|>",
         "<|prefix|>", NULL},
        {"<|fim_suffix|>", "<fim-suffix>", "<fim_suffix>", "<｜fim▁hole｜>", "<SUF>", "▁<SUF>", "<|code_suffix|>",
         "<|suffix|>", NULL},
        {"<|fim_middle|>", "<fim-middle>", "<fim_middle>", "<｜fim▁end｜>", "<MID>", "▁<MID>", "<|code_middle|>",
         "<|middle|>", NULL},
        {"<|fim_pad|>", "<fim-pad>", "<fim_pad>", "<PAD>", "[PAD]", NULL},
        {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>", "<reponame>", NULL},
        {"<|file_sep|>", NULL},
    };
    for (int k = 0; k < 6; k++)
        if (!(preset & (MN_PRESET_FIM_PRE << k))) mark_control(t, fim[k]);
    /* The end-of-turn and end-of-message names llama.cpp looks for are all in this list. */
    static const char *const eog[] = {"<|eot_id|>", "<|im_end|>", "<|end|>", "<|return|>", "<|call|>", "<|flush|>",
                                      "<|calls|>", "<end_of_turn>", "<|endoftext|>", "</s>", "<|eom_id|>", "<EOT>",
                                      "_<EOT>", "[EOT]", "[EOS]", "<|end_of_text|>", "<end_of_utterance>", "<eos>",
                                      "<turn|>", "<|tool_response>", "<｜end▁of▁sentence｜>", "[e~[", NULL};
    mark_control(t, eog);
    /* gpt-oss renders these. */
    static const char *const rendered[] = {"<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", NULL};
    for (const char *const *s = rendered; *s; s++) {
        int32_t id = id_of(t, *s);
        if (id >= 0) t->attr[id] = MN_ATTR_USER_DEFINED;
    }
    /* o200k_harmony and solar-open: <|end|> is not an end of generation there. */
    bool has_call = id_of(t, "<|call|>") >= 0 || id_of(t, "<|calls|>") >= 0;
    int32_t end = id_of(t, "<|end|>");
    if (end >= 0 && has_call && (id_of(t, "<|return|>") >= 0 || id_of(t, "<|flush|>") >= 0))
        t->attr[end] = MN_ATTR_USER_DEFINED;
    /* Gemma 4: </s> is an ordinary token next to <|tool_response>. */
    int32_t eos = id_of(t, "</s>");
    if (eos >= 0 && id_of(t, "<|tool_response>") >= 0) t->attr[eos] = MN_ATTR_NORMAL;
}

static bool is_phi3(const char *model_name) {
    if (!model_name) return false;
    char lower[256];
    size_t n = 0;
    for (; model_name[n] && n + 1 < sizeof lower; n++) lower[n] = (char)tolower((unsigned char)model_name[n]);
    lower[n] = 0;
    return strstr(lower, "phi-3") || strstr(lower, "phi3");
}

/* Phi-3 (by general.name): special tokens swallow the whitespace after them. */
static void phi3_attributes(mn_tokenizer *t) {
    const uint8_t special = MN_ATTR_CONTROL | MN_ATTR_USER_DEFINED | MN_ATTR_UNKNOWN;
    for (int32_t i = 0; i < t->v.n_tokens; i++)
        if (t->attr[i] & special) t->attr[i] |= MN_ATTR_RSTRIP;
    int32_t id = id_of(t, "</s>");
    if (id >= 0) t->attr[id] |= MN_ATTR_RSTRIP;
    static const char *const kept[] = {"<unk>", "<s>", "<|endoftext|>"};
    for (int i = 0; i < 3; i++)
        if ((id = id_of(t, kept[i])) >= 0) t->attr[id] &= (uint8_t)~MN_ATTR_RSTRIP;
}

typedef struct {
    uint32_t len;
    int32_t id;
} sized_id;

static int longest_first(const void *a, const void *b) {
    const sized_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* User-defined tokens are the only specials split out of raw text when specials are not
 * parsed; llama.cpp tries them longest first (equal lengths: lower id first here). */
static int collect_user_tokens(mn_tokenizer *t) {
    const uint8_t skipped = MN_ATTR_CONTROL | MN_ATTR_UNKNOWN;
    for (int32_t i = 0; i < t->v.n_tokens; i++)
        if ((t->attr[i] & MN_ATTR_USER_DEFINED) && !(t->attr[i] & skipped)) t->n_user++;
    if (!t->n_user) return 0;
    sized_id *s = malloc(t->n_user * sizeof *s);
    t->user = malloc(t->n_user * sizeof *t->user);
    if (!s || !t->user) {
        free(s);
        return -1;
    }
    size_t k = 0;
    for (int32_t i = 0; i < t->v.n_tokens; i++)
        if ((t->attr[i] & MN_ATTR_USER_DEFINED) && !(t->attr[i] & skipped)) s[k++] = (sized_id){t->len[i], i};
    qsort(s, t->n_user, sizeof *s, longest_first);
    for (k = 0; k < t->n_user; k++) t->user[k] = s[k].id;
    free(s);
    return 0;
}

/* Every pair of adjacent characters (cut as the encoder cuts text) inside any token. Text
 * with no such pair across some boundary can be encoded on both sides separately: no token
 * can span it, so no merge crosses it and the merges on either side do not interact. */
static int spm_pairs(mn_tokenizer *t) {
    if (mn_strmap_init(&t->pairs, (size_t)t->v.n_tokens)) return -1;
    for (int32_t i = 0; i < t->v.n_tokens; i++) {
        const char *s = t->v.tokens[i];
        size_t n = t->len[i], prev = 0, prev_len = 0;
        for (size_t off = 0; off < n;) {
            size_t len = mn_utf8_len((uint8_t)s[off]);
            if (len > n - off) len = n - off;
            if (off && mn_strmap_put(&t->pairs, s + prev, prev_len, s + off, len, 1, false)) return -1;
            prev = off;
            prev_len = len;
            off += len;
        }
    }
    return 0;
}

static void spm_byte_tokens(mn_tokenizer *t) {
    for (int b = 0; b < 256; b++) {
        char hex[7], raw[1] = {(char)b};
        snprintf(hex, sizeof hex, "<0x%02X>", b);
        int32_t id = id_of(t, hex);
        if (id < 0) id = mn_strmap_get(&t->ids, raw, 1, "", 0);
        /* llama.cpp throws here; the unknown token is the nearest thing that does not. */
        t->byte_id[b] = id >= 0 ? id : t->v.unk_id;
    }
}

static int bpe_tables(mn_tokenizer *t, const char *source) {
    t->pre = mn_pretokenizer_new(t->v.pre, source);
    if (!t->pre) return -1;
    if (mn_strmap_init(&t->ranks, (size_t)t->v.n_merges)) return mn_fail("%s: out of memory", source);
    for (int b = 0; b < 256; b++) {
        char u[4];
        t->byte_char_len[b] = (uint8_t)mn_utf8_encode(mn_byte_to_cpt((uint8_t)b), u);
        memcpy(t->byte_char[b], u, t->byte_char_len[b]);
    }
    for (int32_t r = 0; r < t->v.n_merges; r++) {
        const char *m = t->v.merges[r];
        const char *sp = mn_merge_split(m);
        if (mn_strmap_put(&t->ranks, m, (size_t)(sp - m), sp + 1, strlen(sp + 1), r, false))
            return mn_fail("%s: out of memory", source);
    }
    return 0;
}

mn_tokenizer *mn_tokenizer_build(mn_vocab *v, const mn_vocab_extras *x, const char *source) {
    mn_tokenizer *t = calloc(1, sizeof *t);
    if (!t) {
        mn_vocab_clear(v);
        mn_fail("%s: out of memory", source);
        return NULL;
    }
    t->v = *v;
    memset(v, 0, sizeof *v);
    if (validate(&t->v, source) || fill_empty_tokens(&t->v, source)) goto fail;
    int32_t n = t->v.n_tokens;
    t->len = malloc((size_t)n * sizeof *t->len);
    t->attr = malloc((size_t)n);
    if (!t->len || !t->attr || mn_strmap_init(&t->ids, (size_t)n)) goto oom;
    for (int32_t i = 0; i < n; i++) {
        t->len[i] = (uint32_t)strlen(t->v.tokens[i]);
        if (t->len[i] > t->max_len) t->max_len = t->len[i];
        t->attr[i] = attr_of_type(t->v.token_types[i]);
        if (mn_strmap_put(&t->ids, t->v.tokens[i], t->len[i], "", 0, i, true)) goto oom;
    }
    name_based_attributes(t, x ? x->preset_ids : 0);
    if (x && is_phi3(x->model_name)) phi3_attributes(t);
    if (collect_user_tokens(t)) goto oom;
    if (t->v.kind == MN_VOCAB_SPM) {
        spm_byte_tokens(t);
        if (spm_pairs(t)) goto oom;
    } else if (bpe_tables(t, source)) {
        goto fail;
    }
    return t;
oom:
    mn_fail("%s: out of memory", source);
fail:
    mn_tokenizer_free(t);
    return NULL;
}

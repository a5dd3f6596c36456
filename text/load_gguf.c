/* tokenizer.ggml.* metadata into a vocabulary, with the defaults llama.cpp applies to keys
 * a file leaves out (llama_vocab::impl::load). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/tokenizer_internal.h"

/* An array key of the wanted element type (F32 also accepts I32, as llama.cpp does for
 * scores); *out NULL when an optional key is absent. */
static int array_kv(const mn_gguf *g, const char *key, mn_gguf_type want, bool required, const mn_gguf_kv **out) {
    const mn_gguf_kv *kv = *out = mn_gguf_find(g, key);
    if (!kv) return required ? mn_fail("%s: %s is missing", g->file.path, key) : 0;
    if (kv->type != MN_GGUF_ARRAY || !(kv->arr_type == want || (want == MN_GGUF_F32 && kv->arr_type == MN_GGUF_I32)))
        return mn_fail("%s: %s has the wrong type", g->file.path, key);
    return 0;
}

/* GGUF strings may hold NULs; llama.cpp reads them as C strings, so do we. */
static size_t c_len(const mn_gguf_str *s) {
    const char *z = memchr(s->ptr, 0, s->len);
    return z ? (size_t)(z - s->ptr) : s->len;
}

static char *copy_str(const mn_gguf_str *s) {
    size_t n = c_len(s);
    char *c = malloc(n + 1);
    if (c) {
        memcpy(c, s->ptr, n);
        c[n] = 0;
    }
    return c;
}

/* A string key; *out NULL when absent. -1 for a key of another type. */
static int get_string(const mn_gguf *g, const char *key, char **out) {
    *out = NULL;
    const mn_gguf_kv *kv = mn_gguf_find(g, key);
    if (!kv) return 0;
    if (kv->type != MN_GGUF_STRING) return mn_fail("%s: %s is not a string", g->file.path, key);
    *out = copy_str(&kv->str);
    return *out ? 0 : mn_fail("%s: out of memory", g->file.path);
}

/* A special-token id key: 1 when set, 0 when absent or out of range (llama.cpp then keeps
 * its default), -1 when not an integer. */
static int read_id(const mn_gguf *g, const char *key, int32_t n_tokens, int32_t *id) {
    int64_t v;
    if (!mn_gguf_find(g, key)) return 0;
    if (mn_gguf_get_int(g, key, &v)) return -1;
    if (v < 0 || v >= n_tokens) return 0;
    *id = (int32_t)v;
    return 1;
}

static int get_flag(const mn_gguf *g, const char *key, bool *flag) {
    if (!mn_gguf_find(g, key)) return 0;
    return mn_gguf_get_bool(g, key, flag);
}

static int read_tokens(mn_vocab *v, const mn_gguf *g, mn_vocab_kind kind) {
    const char *path = g->file.path;
    const mn_gguf_kv *tokens, *scores, *types;
    if (array_kv(g, "tokenizer.ggml.tokens", MN_GGUF_STRING, true, &tokens) ||
        array_kv(g, "tokenizer.ggml.scores", MN_GGUF_F32, false, &scores) ||
        array_kv(g, "tokenizer.ggml.token_type", MN_GGUF_I32, false, &types))
        return -1;
    if (tokens->arr_len == 0 || tokens->arr_len > MN_MAX_TOKENS)
        return mn_fail("%s: tokenizer.ggml.tokens has %llu entries", path, (unsigned long long)tokens->arr_len);
    int32_t n = (int32_t)tokens->arr_len;
    if ((scores && scores->arr_len < tokens->arr_len) || (types && types->arr_len < tokens->arr_len))
        return mn_fail("%s: fewer token scores or types than tokens", path);
    if (mn_vocab_alloc(v, kind, n, path)) return -1;
    for (int32_t i = 0; i < n; i++) {
        if (!(v->tokens[i] = copy_str(&tokens->strings[i]))) return mn_fail("%s: out of memory", path);
        if (scores) v->scores[i] = (float)mn_gguf_array_number(scores, (uint64_t)i);
        if (types) v->token_types[i] = (int32_t)mn_gguf_array_number(types, (uint64_t)i);
    }
    return 0;
}

static int read_merges(mn_vocab *v, const mn_gguf *g) {
    const mn_gguf_kv *merges;
    if (array_kv(g, "tokenizer.ggml.merges", MN_GGUF_STRING, true, &merges)) return -1;
    if (merges->arr_len > MN_MAX_TOKENS)
        return mn_fail("%s: tokenizer.ggml.merges has %llu entries", g->file.path, (unsigned long long)merges->arr_len);
    v->merges = calloc(merges->arr_len ? merges->arr_len : 1, sizeof *v->merges);
    if (!v->merges) return mn_fail("%s: out of memory", g->file.path);
    for (uint64_t i = 0; i < merges->arr_len; i++) {
        if (!(v->merges[i] = copy_str(&merges->strings[i]))) return mn_fail("%s: out of memory", g->file.path);
        v->n_merges++;
    }
    return 0;
}

mn_tokenizer *mn_tokenizer_from_gguf(const mn_gguf *g) {
    const char *path = g->file.path;
    char *model = NULL, *pre = NULL, *name = NULL;
    mn_vocab v = {0};
    mn_tokenizer *t = NULL;
    if (get_string(g, "tokenizer.ggml.model", &model) || get_string(g, "tokenizer.ggml.pre", &pre) ||
        get_string(g, "general.name", &name))
        goto done;
    if (!model) {
        mn_fail("%s: no tokenizer (tokenizer.ggml.model is missing)", path);
        goto done;
    }
    bool spm = !strcmp(model, "llama");
    if (!spm && strcmp(model, "gpt2")) {
        mn_fail("%s: tokenizer model '%s' is not supported (minnow reads llama and gpt2)", path, model);
        goto done;
    }
    if (read_tokens(&v, g, spm ? MN_VOCAB_SPM : MN_VOCAB_BPE) || (!spm && read_merges(&v, g))) goto done;
    if (!spm) {
        if (pre && strlen(pre) >= sizeof v.pre) {
            mn_fail("%s: unsupported pre-tokenizer '%s'", path, pre);
            goto done;
        }
        snprintf(v.pre, sizeof v.pre, "%s", pre ? pre : "default");
    }
    int32_t n = v.n_tokens;
    v.add_bos = spm || mn_pretokenizer_default_add_bos(v.pre);
    v.add_space_prefix = spm;
    if (get_flag(g, "tokenizer.ggml.add_bos_token", &v.add_bos) ||
        get_flag(g, "tokenizer.ggml.add_eos_token", &v.add_eos) ||
        get_flag(g, "tokenizer.ggml.add_space_prefix", &v.add_space_prefix))
        goto done;
    /* llama.cpp's defaults: SentencePiece 1/2/0; BPE 11 for BOS and EOS, kept here only where
     * they are used (so a vocabulary without BOS reads back as one). Out of range: none. */
    int32_t defaults[4] = {spm || v.add_bos ? (spm ? 1 : 11) : -1, spm || v.add_eos ? (spm ? 2 : 11) : -1,
                           spm ? 0 : -1, -1};
    static const char *const id_keys[4] = {"tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id",
                                           "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.padding_token_id"};
    int32_t *ids[4] = {&v.bos_id, &v.eos_id, &v.unk_id, &v.pad_id};
    for (int k = 0; k < 4; k++) {
        *ids[k] = defaults[k] < n ? defaults[k] : -1;
        if (read_id(g, id_keys[k], n, ids[k]) < 0) goto done;
    }
    static const char *const fim_keys[6][2] = {
        {"tokenizer.ggml.fim_pre_token_id", "tokenizer.ggml.prefix_token_id"},
        {"tokenizer.ggml.fim_suf_token_id", "tokenizer.ggml.suffix_token_id"},
        {"tokenizer.ggml.fim_mid_token_id", "tokenizer.ggml.middle_token_id"},
        {"tokenizer.ggml.fim_pad_token_id", NULL},
        {"tokenizer.ggml.fim_rep_token_id", NULL},
        {"tokenizer.ggml.fim_sep_token_id", NULL},
    };
    mn_vocab_extras x = {name, 0};
    for (int k = 0; k < 6; k++) {
        int32_t id;
        int a = read_id(g, fim_keys[k][0], n, &id), b = fim_keys[k][1] ? read_id(g, fim_keys[k][1], n, &id) : 0;
        if (a < 0 || b < 0) goto done;
        if (a || b) x.preset_ids |= MN_PRESET_FIM_PRE << k;
    }
    t = mn_tokenizer_build(&v, &x, path);
done:
    mn_vocab_clear(&v);
    free(model);
    free(pre);
    free(name);
    return t;
}

/* The public side: choosing a loader, splitting user-defined tokens out of the text, BOS/EOS,
 * and printing tokens (llama_vocab::impl::tokenize and token_to_piece). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/tokenizer_internal.h"
#include "text/unicode.h"

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static bool starts_with_brace(const char *path) {
    mn_mapped_file m;
    if (mn_map_file(path, &m)) {
        mn_clear_error();
        return false;
    }
    const char *p = m.data, *end = m.size ? p + m.size : p;
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) p++;
    bool yes = p < end && *p == '{';
    mn_unmap_file(&m);
    return yes;
}

mn_tokenizer *mn_tokenizer_load(const char *path) {
    if (mn_is_directory(path)) return mn_tokenizer_from_hf_dir(path);
    if (!mn_file_exists(path)) {
        mn_fail("%s: cannot open: No such file or directory", path);
        return NULL;
    }
    if (mn_gguf_sniff(path)) {
        mn_gguf g;
        if (mn_gguf_open(path, &g)) return NULL;
        mn_tokenizer *t = mn_tokenizer_from_gguf(&g);
        mn_gguf_close(&g);
        return t;
    }
    if (ends_with(path, ".json") || starts_with_brace(path)) return mn_tokenizer_from_hf_json(path);
    if (ends_with(path, ".model")) return mn_tokenizer_from_sp_model(path);
    if (ends_with(path, ".bin")) return mn_tokenizer_from_llama2c(path, 0);
    mn_fail("%s: not a tokenizer minnow knows (GGUF, tokenizer.json, tokenizer.model or llama2.c tokenizer.bin)", path);
    return NULL;
}

mn_tokenizer *mn_tokenizer_from_hf_dir(const char *dir) {
    /* Like llama.cpp's converter: the SentencePiece model when there is one. */
    static const char *const names[] = {"tokenizer.model", "tokenizer.json", "tokenizer.gguf"};
    for (int i = 0; i < 3; i++) {
        size_t n = strlen(dir) + strlen(names[i]) + 2;
        char *path = malloc(n);
        if (!path) {
            mn_fail("%s: out of memory", dir);
            return NULL;
        }
        snprintf(path, n, "%s/%s", dir, names[i]);
        mn_tokenizer *t = NULL;
        bool found = mn_file_exists(path);
        if (found) t = i == 0 ? mn_tokenizer_from_sp_model(path) : i == 1 ? mn_tokenizer_from_hf_json(path) : mn_tokenizer_load(path);
        free(path);
        if (found) return t;
    }
    mn_fail("%s: no tokenizer.model, tokenizer.json or tokenizer.gguf", dir);
    return NULL;
}

void mn_tokenizer_free(mn_tokenizer *t) {
    if (!t) return;
    mn_vocab_clear(&t->v);
    free(t->len);
    free(t->attr);
    mn_strmap_free(&t->ids);
    mn_strmap_free(&t->ranks);
    mn_strmap_free(&t->pairs);
    free(t->user);
    mn_pretokenizer_free(t->pre);
    free(t);
}

const mn_vocab *mn_tokenizer_vocab(const mn_tokenizer *t) { return &t->v; }

void mn_tokens_free(mn_tokens *t) {
    free(t->ids);
    memset(t, 0, sizeof *t);
}

int mn_tokens_push(mn_tokens *out, int32_t id) {
    if (out->n == out->cap) {
        size_t cap = out->cap ? 2 * out->cap : 256;
        int32_t *p = realloc(out->ids, cap * sizeof *p);
        if (!p) return -1;
        out->ids = p;
        out->cap = cap;
    }
    out->ids[out->n++] = id;
    return 0;
}

/* A piece of the input: raw text, or a user-defined token found in it (token >= 0). */
typedef struct {
    size_t start, len;
    int32_t token;
} fragment;

typedef struct {
    fragment *f;
    size_t n, cap;
} fragments;

static int add_fragment(fragments *fs, size_t start, size_t len, int32_t token) {
    if (fs->n == fs->cap) {
        size_t cap = fs->cap ? 2 * fs->cap : 16;
        fragment *p = realloc(fs->f, cap * sizeof *p);
        if (!p) return -1;
        fs->f = p;
        fs->cap = cap;
    }
    fs->f[fs->n++] = (fragment){start, len, token};
    return 0;
}

static bool c_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

/* Splits one raw fragment at every occurrence of token id, left to right. */
static int split_at_token(const mn_tokenizer *t, const char *text, const fragment *f, int32_t id, fragments *out) {
    const char *tok = t->v.tokens[id];
    size_t tlen = t->len[id], pos = f->start, end = f->start + f->len;
    while (pos < end) {
        const char *hit = memmem(text + pos, end - pos, tok, tlen);
        if (!hit) break;
        size_t at = (size_t)(hit - text);
        if ((at > pos && add_fragment(out, pos, at - pos, -1)) || add_fragment(out, 0, 0, id)) return -1;
        pos = at + tlen;
        if (t->attr[id] & MN_ATTR_RSTRIP)
            while (pos < end && c_space(text[pos])) pos++;
    }
    return pos < end ? add_fragment(out, pos, end - pos, -1) : 0;
}

/* llama.cpp's tokenizer_st_partition with parse_special false: user-defined tokens are cut
 * out of the text, longest first, each over the fragments the previous ones left. */
static int partition(const mn_tokenizer *t, const char *text, size_t len, fragments *fs) {
    if (len == 0) return 0;
    if (add_fragment(fs, 0, len, -1)) return -1;
    fragments next = {0};
    for (size_t u = 0; u < t->n_user; u++) {
        next.n = 0;
        for (size_t i = 0; i < fs->n; i++) {
            int rc = fs->f[i].token >= 0 ? add_fragment(&next, fs->f[i].start, fs->f[i].len, fs->f[i].token)
                                         : split_at_token(t, text, &fs->f[i], t->user[u], &next);
            if (rc) {
                free(next.f);
                return -1;
            }
        }
        fragments swap = *fs;
        *fs = next;
        next = swap;
    }
    free(next.f);
    return 0;
}

int mn_tokenize(const mn_tokenizer *t, const char *text, size_t len, bool add_special, mn_tokens *out) {
    fragments fs = {0};
    mn_words words = {0};
    int rc = partition(t, text, len, &fs);
    if (rc == 0 && add_special && t->v.add_bos) rc = mn_tokens_push(out, t->v.bos_id);
    /* SentencePiece: every text fragment after a token (or at the start) gets a space prefix. */
    bool after_token = true;
    for (size_t i = 0; i < fs.n && rc == 0; i++) {
        const fragment *f = &fs.f[i];
        if (f->token >= 0) {
            rc = mn_tokens_push(out, f->token);
            after_token = true;
        } else if (t->v.kind == MN_VOCAB_SPM) {
            rc = mn_spm_encode(t, text + f->start, f->len, t->v.add_space_prefix && after_token, out);
            after_token = false;
        } else {
            rc = mn_bpe_encode(t, text + f->start, f->len, &words, out);
        }
    }
    if (rc == 0 && add_special && t->v.add_eos) rc = mn_tokens_push(out, t->v.eos_id);
    free(fs.f);
    mn_words_free(&words);
    if (rc) mn_fail("out of memory tokenizing %zu bytes", len);
    return rc;
}

static size_t copy_out(char *buf, size_t cap, size_t at, const char *s, size_t n) {
    if (at < cap) memcpy(buf + at, s, n < cap - at ? n : cap - at);
    return at + n;
}

size_t mn_token_to_text(const mn_tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (id < 0 || id >= t->v.n_tokens) return 0;
    const char *s = t->v.tokens[id];
    size_t n = t->len[id], o = 0;
    uint8_t a = t->attr[id];
    if (a & (MN_ATTR_UNKNOWN | MN_ATTR_CONTROL | MN_ATTR_USER_DEFINED)) {
        o = copy_out(buf, cap, 0, s, n);
    } else if (a & MN_ATTR_NORMAL) {
        for (size_t i = 0; i < n;) {
            if (t->v.kind == MN_VOCAB_SPM) {
                bool space = n - i >= 3 && !memcmp(s + i, "\xe2\x96\x81", 3);
                o = space ? copy_out(buf, cap, o, " ", 1) : copy_out(buf, cap, o, s + i, 1);
                i += space ? 3 : 1;
                continue;
            }
            /* Byte-level text: each character stands for one byte. */
            size_t used;
            int b = mn_cpt_to_byte(mn_utf8_decode((const uint8_t *)s + i, n - i, &used));
            char c = (char)b;
            o = b >= 0 ? copy_out(buf, cap, o, &c, 1) : copy_out(buf, cap, o, s + i, used);
            i += used;
        }
    } else if (a & MN_ATTR_BYTE) {
        int b = mn_byte_token_value(s, n);
        char c = (char)b;
        o = b >= 0 ? copy_out(buf, cap, 0, &c, 1) : copy_out(buf, cap, 0, s, n);
    }
    return o < cap ? o : cap;
}

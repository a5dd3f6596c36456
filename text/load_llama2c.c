/* llama2.c tokenizer.bin: int32 max_token_length, then per token {float32 score, int32 len,
 * bytes}. Its exporter turned U+2581 into spaces and wrote ids 0/1/2 as unk/BOS/EOS with
 * decorated texts; this restores the SentencePiece form llama.cpp expects, as its
 * convert-llama2c-to-ggml does. */
#include <stdio.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/tokenizer_internal.h"

/* Llama-2's longest piece has 27 bytes; this bounds the decoding buffer. */
#define MAX_PIECE 4096

typedef struct {
    const uint8_t *p;
    size_t size, pos;
    int32_t max_len;
} bin;

/* Reads entry header and bytes; returns 0, 1 at a clean end of file, -1 on error. */
static int next_entry(bin *b, const char *path, int32_t id, float *score, const char **text, int32_t *len) {
    if (b->pos == b->size) return 1;
    if (b->size - b->pos < 8) return mn_fail("%s: truncated at token %d", path, (int)id);
    memcpy(score, b->p + b->pos, 4);
    memcpy(len, b->p + b->pos + 4, 4);
    b->pos += 8;
    if (*len < 0 || *len > b->max_len)
        return mn_fail("%s: token %d has length %d (max_token_length %d)", path, (int)id, (int)*len, (int)b->max_len);
    if ((size_t)*len > b->size - b->pos) return mn_fail("%s: truncated in token %d", path, (int)id);
    *text = (const char *)b->p + b->pos;
    b->pos += (size_t)*len;
    return 0;
}

static int set_entry(mn_vocab *v, int32_t id, const char *s, int32_t n, const char *path) {
    static const char *const named[] = {"<unk>", "<s>", "</s>"};
    static const int named_type[] = {MN_TOKEN_UNKNOWN, MN_TOKEN_CONTROL, MN_TOKEN_CONTROL};
    if (id < 3) {
        v->token_types[id] = named_type[id];
        return mn_vocab_set_token(v, id, named[id], strlen(named[id]), path);
    }
    if (n == 0) v->token_types[id] = MN_TOKEN_CONTROL;
    else if (mn_byte_token_value(s, (size_t)n) >= 0) v->token_types[id] = MN_TOKEN_BYTE;
    char t[3 * MAX_PIECE];
    size_t o = 0;
    for (int32_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(t + o, "\xe2\x96\x81", 3);
            o += 3;
        } else {
            t[o++] = s[i];
        }
    }
    return mn_vocab_set_token(v, id, t, o, path);
}

mn_tokenizer *mn_tokenizer_from_llama2c(const char *path, int32_t n_vocab) {
    mn_mapped_file f;
    if (mn_map_file(path, &f)) return NULL;
    bin b = {f.data, f.size, 4, 0};
    mn_vocab v = {0};
    mn_tokenizer *t = NULL;
    if (f.size < 4) {
        mn_fail("%s: too short for a llama2.c tokenizer", path);
        goto done;
    }
    memcpy(&b.max_len, f.data, 4);
    if (b.max_len <= 0 || b.max_len > MAX_PIECE) {
        mn_fail("%s: not a llama2.c tokenizer (max_token_length %d)", path, (int)b.max_len);
        goto done;
    }
    float score;
    const char *text;
    int32_t len, n = 0;
    if (n_vocab < 0 || n_vocab > MN_MAX_TOKENS) {
        mn_fail("%s: vocabulary size %d is out of range", path, (int)n_vocab);
        goto done;
    }
    /* Each token takes at least 8 bytes: refuse before allocating for a count the file cannot hold. */
    if ((size_t)n_vocab > (f.size - 4) / 8) {
        mn_fail("%s: holds fewer than the %d tokens the model needs", path, (int)n_vocab);
        goto done;
    }
    if (n_vocab == 0) {
        int rc;
        while ((rc = next_entry(&b, path, n, &score, &text, &len)) == 0) n++;
        if (rc < 0) goto done;
        b.pos = 4;
    } else {
        n = n_vocab;
    }
    if (mn_vocab_alloc(&v, MN_VOCAB_SPM, n, path)) goto done;
    for (int32_t i = 0; i < n; i++) {
        int rc = next_entry(&b, path, i, &score, &text, &len);
        if (rc > 0) mn_fail("%s: holds %d tokens, the model needs %d", path, (int)i, (int)n);
        if (rc || set_entry(&v, i, text, len, path)) goto done;
        v.scores[i] = score;
    }
    v.unk_id = 0;
    v.bos_id = n > 1 ? 1 : -1;
    v.eos_id = n > 2 ? 2 : -1;
    v.add_bos = n > 1;
    v.add_space_prefix = true;
    t = mn_tokenizer_build(&v, NULL, path);
done:
    mn_vocab_clear(&v);
    mn_unmap_file(&f);
    return t;
}

/* SentencePiece tokenizer.model (a protobuf ModelProto, parsed by hand) into an SPM
 * vocabulary, following llama.cpp's converter (_create_vocab_sentencepiece, and Phi-3's
 * variant of it) including the Hugging Face files next to the model. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "text/hf_files.h"
#include "text/tokenizer_internal.h"

typedef struct {
    const uint8_t *p, *end;
} pb;

enum { WIRE_VARINT = 0, WIRE_I64 = 1, WIRE_LEN = 2, WIRE_I32 = 5 };

static int varint(pb *b, uint64_t *v, const char *path) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (b->p >= b->end) return mn_fail("%s: truncated protobuf varint", path);
        uint8_t c = *b->p++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return 0;
    }
    return mn_fail("%s: corrupt protobuf varint", path);
}

/* One field of a message: its number, wire type and value (varints in *num, fixed-size and
 * length-delimited payloads in *body). */
typedef struct {
    uint32_t field, wire;
    uint64_t num;
    pb body;
} pb_field;

static int next_field(pb *b, pb_field *f, const char *path) {
    uint64_t key;
    if (varint(b, &key, path)) return -1;
    f->field = (uint32_t)(key >> 3);
    f->wire = (uint32_t)(key & 7);
    size_t n;
    switch (f->wire) {
    case WIRE_VARINT: return varint(b, &f->num, path);
    case WIRE_I64: n = 8; break;
    case WIRE_I32: n = 4; break;
    case WIRE_LEN:
        if (varint(b, &f->num, path)) return -1;
        n = f->num > (uint64_t)(b->end - b->p) ? SIZE_MAX : (size_t)f->num;
        break;
    default: return mn_fail("%s: unsupported protobuf wire type %u (field %u)", path, f->wire, f->field);
    }
    if (n > (size_t)(b->end - b->p)) return mn_fail("%s: protobuf field %u runs past the end of the file", path, f->field);
    f->body = (pb){b->p, b->p + n};
    b->p += n;
    return 0;
}

typedef struct {
    const char *text;
    size_t len;
    float score;
    int type;
} piece;

typedef struct {
    piece *pieces;
    size_t n, cap;
    int32_t unk_id, bos_id, eos_id, pad_id;
    bool add_dummy_prefix;
} sp_model;

static int read_piece(sp_model *m, pb body, const char *path) {
    piece p = {"", 0, 0.0f, 1};
    while (body.p < body.end) {
        pb_field f;
        if (next_field(&body, &f, path)) return -1;
        if (f.field == 1 && f.wire == WIRE_LEN) {
            p.text = (const char *)f.body.p;
            p.len = (size_t)(f.body.end - f.body.p);
        } else if (f.field == 2 && f.wire == WIRE_I32) {
            memcpy(&p.score, f.body.p, 4);
        } else if (f.field == 3 && f.wire == WIRE_VARINT) {
            if (f.num < 1 || f.num > 6)
                return mn_fail("%s: piece %zu has unknown type %llu", path, m->n, (unsigned long long)f.num);
            p.type = (int)f.num;
        }
    }
    if (m->n == m->cap) {
        size_t cap = m->cap ? 2 * m->cap : 1024;
        piece *g = realloc(m->pieces, cap * sizeof *g);
        if (!g) return mn_fail("%s: out of memory", path);
        m->pieces = g;
        m->cap = cap;
    }
    m->pieces[m->n++] = p;
    return 0;
}

static int read_trainer_spec(sp_model *m, pb body, const char *path) {
    while (body.p < body.end) {
        pb_field f;
        if (next_field(&body, &f, path)) return -1;
        if (f.wire != WIRE_VARINT) continue;
        /* int32 fields: negative values arrive as 64-bit two's complement. */
        int32_t v = (int32_t)(int64_t)f.num;
        if (f.field == 40) m->unk_id = v;
        else if (f.field == 41) m->bos_id = v;
        else if (f.field == 42) m->eos_id = v;
        else if (f.field == 43) m->pad_id = v;
    }
    return 0;
}

static int read_normalizer_spec(sp_model *m, pb body, const char *path) {
    while (body.p < body.end) {
        pb_field f;
        if (next_field(&body, &f, path)) return -1;
        if (f.field == 3 && f.wire == WIRE_VARINT) m->add_dummy_prefix = f.num != 0;
    }
    return 0;
}

static int parse_model(sp_model *m, const mn_mapped_file *file) {
    /* Defaults of sentencepiece_model.proto. */
    m->unk_id = 0, m->bos_id = 1, m->eos_id = 2, m->pad_id = -1;
    m->add_dummy_prefix = true;
    if (file->size == 0) return mn_fail("%s: empty file", file->path);
    pb b = {file->data, (const uint8_t *)file->data + file->size};
    while (b.p < b.end) {
        pb_field f;
        if (next_field(&b, &f, file->path)) return -1;
        if (f.wire != WIRE_LEN) continue;
        if (f.field == 1 && read_piece(m, f.body, file->path)) return -1;
        if (f.field == 2 && read_trainer_spec(m, f.body, file->path)) return -1;
        if (f.field == 3 && read_normalizer_spec(m, f.body, file->path)) return -1;
    }
    if (m->n == 0) return mn_fail("%s: not a SentencePiece model (no pieces)", file->path);
    return 0;
}

/* Which converter rules apply: Phi-3's class differs from Llama's in its added tokens. */
static bool is_phi3_dir(const cJSON *config) {
    const cJSON *arch = cJSON_GetObjectItemCaseSensitive(config, "architectures");
    const cJSON *a;
    cJSON_ArrayForEach(a, arch) if (cJSON_IsString(a) && !strcmp(a->valuestring, "Phi3ForCausalLM")) return true;
    return false;
}

static int set_piece(mn_vocab *v, int32_t id, const char *text, size_t len, float score, int type, const char *path) {
    if (mn_vocab_set_token(v, id, text, len, path)) return -1;
    v->scores[id] = score;
    v->token_types[id] = type;
    return 0;
}

/* added_tokens.json: {"text": id} */
static int apply_added_tokens_json(mn_vocab *v, const cJSON *added, const char *dir) {
    const cJSON *a;
    cJSON_ArrayForEach(a, added) {
        int32_t id;
        if (!mn_hf_token_id(a, &id)) return mn_fail("%s/added_tokens.json: \"%s\" has no valid token id", dir, a->string);
        if (id >= v->n_tokens) continue;
        if (set_piece(v, id, a->string, strlen(a->string), -1000.0f, MN_TOKEN_USER_DEFINED, dir)) return -1;
    }
    return 0;
}

/* tokenizer_config.json's added_tokens_decoder: {"id": {"content": ..., "special": ...}} */
static int apply_added_tokens_decoder(mn_vocab *v, const cJSON *config, bool phi3, const char *dir) {
    const cJSON *dec = cJSON_GetObjectItemCaseSensitive(config, "added_tokens_decoder");
    const cJSON *a;
    cJSON_ArrayForEach(a, dec) {
        char *end;
        long id = strtol(a->string, &end, 10);
        const char *text = mn_hf_token_text(a);
        if (*end || end == a->string || id < 0 || !text)
            return mn_fail("%s/tokenizer_config.json: bad added_tokens_decoder entry \"%s\"", dir, a->string);
        if (id >= v->n_tokens) {
            if (phi3) return mn_fail("%s/tokenizer_config.json: added token %ld is outside the vocabulary", dir, id);
            continue;
        }
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"));
        int type = special || (!phi3 && mn_hf_looks_special(text)) ? MN_TOKEN_CONTROL : MN_TOKEN_USER_DEFINED;
        char *t = strdup(text);
        if (!t) return mn_fail("%s: out of memory", dir);
        if (type == MN_TOKEN_USER_DEFINED && !phi3) mn_hf_unescape_spaces(t);
        int rc = set_piece(v, (int32_t)id, t, strlen(t), -1000.0f, type, dir);
        free(t);
        if (rc) return -1;
    }
    return 0;
}

/* Phi-3's converter also takes tokenizer.json's added tokens. */
static int apply_tokenizer_json_added(mn_vocab *v, const cJSON *tokenizer, const char *dir) {
    const cJSON *a;
    cJSON_ArrayForEach(a, cJSON_GetObjectItemCaseSensitive(tokenizer, "added_tokens")) {
        int32_t id;
        const char *text = mn_hf_token_text(a);
        if (!mn_hf_token_id(cJSON_GetObjectItemCaseSensitive(a, "id"), &id) || !text || id >= v->n_tokens)
            return mn_fail("%s/tokenizer.json: an added token has no valid id or content", dir);
        bool special = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(a, "special"));
        if (set_piece(v, id, text, strlen(text), -1000.0f, special ? MN_TOKEN_CONTROL : MN_TOKEN_USER_DEFINED, dir))
            return -1;
    }
    return 0;
}

static int build_vocab(mn_vocab *v, const sp_model *m, const cJSON *config, const char *path) {
    int32_t n = mn_hf_config_vocab_size(config);
    int32_t pieces = m->n > MN_MAX_TOKENS ? MN_MAX_TOKENS : (int32_t)m->n;
    if (n == 0) n = pieces;
    if (mn_hf_check_fillers(n, pieces, path)) return -1;
    if (mn_vocab_alloc(v, MN_VOCAB_SPM, n, path)) return -1;
    for (int32_t i = 0; i < n; i++) {
        if ((size_t)i < m->n) {
            const piece *p = &m->pieces[i];
            /* The converter knows unknown, control, unused and byte pieces; user-defined
             * ones become normal tokens. */
            int type = p->type == 4 ? MN_TOKEN_NORMAL : p->type;
            if (set_piece(v, i, p->text, p->len, p->score, type, path)) return -1;
        } else {
            if (mn_vocab_set_pad(v, i, path)) return -1;
            v->scores[i] = -10000.0f;
        }
    }
    /* An id the model disables (-1) or that lies outside the pieces is left out of the GGUF by
     * llama.cpp's converter, and llama.cpp then uses its SentencePiece defaults (unknown 0, BOS
     * 1, EOS 2); so does minnow, so both read the same checkpoint alike. */
    const int32_t ids[] = {m->unk_id, m->bos_id, m->eos_id, m->pad_id}, defaults[] = {0, 1, 2, -1};
    int32_t *dst[] = {&v->unk_id, &v->bos_id, &v->eos_id, &v->pad_id};
    for (int k = 0; k < 4; k++)
        *dst[k] = ids[k] >= 0 && ids[k] < n ? ids[k] : defaults[k] < n ? defaults[k] : -1;
    v->add_bos = true;
    v->add_eos = false;
    v->add_space_prefix = m->add_dummy_prefix;
    return 0;
}

mn_tokenizer *mn_tokenizer_from_sp_model(const char *path) {
    mn_mapped_file file;
    sp_model m = {0};
    mn_vocab v = {0};
    cJSON *config = NULL, *tok_config = NULL, *added = NULL, *tokenizer = NULL;
    mn_tokenizer *t = NULL;
    char *dir = mn_hf_dirname(path);
    if (!dir) {
        mn_fail("%s: out of memory", path);
        return NULL;
    }
    if (mn_map_file(path, &file)) {
        free(dir);
        return NULL;
    }
    if (parse_model(&m, &file) || mn_hf_read_json(dir, "config.json", &config) ||
        mn_hf_read_json(dir, "tokenizer_config.json", &tok_config) ||
        mn_hf_read_json(dir, "added_tokens.json", &added) || mn_hf_read_json(dir, "tokenizer.json", &tokenizer) ||
        build_vocab(&v, &m, config, path))
        goto done;
    bool phi3 = is_phi3_dir(config);
    if (apply_added_tokens_json(&v, added, dir) || apply_added_tokens_decoder(&v, tok_config, phi3, dir) ||
        (phi3 && apply_tokenizer_json_added(&v, tokenizer, dir)) ||
        mn_hf_special_vocab(&v, tokenizer, tok_config, config, path))
        goto done;
    const cJSON *prefix = cJSON_GetObjectItemCaseSensitive(tok_config, "add_prefix_space");
    if (cJSON_IsBool(prefix) && !phi3) v.add_space_prefix = cJSON_IsTrue(prefix);
    t = mn_tokenizer_build(&v, NULL, path);
done:
    mn_vocab_clear(&v);
    cJSON_Delete(config);
    cJSON_Delete(tok_config);
    cJSON_Delete(added);
    cJSON_Delete(tokenizer);
    free(m.pieces);
    mn_unmap_file(&file);
    free(dir);
    return t;
}

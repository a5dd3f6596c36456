/* Building an mn_model from the three checkpoint kinds. Each loader fills the hyperparameters,
 * then one shared binder looks every tensor up by name and checks type and shape. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf.h"
#include "formats/hf_config.h"
#include "formats/llama2c.h"
#include "formats/safetensors.h"
#include "model/model.h"

typedef struct {
    mn_source_kind kind;
    mn_safetensors st;
    mn_gguf gguf;
    mn_llama2c l2c;
} backing;

static const mn_tensor *find_tensor(const backing *b, const char *name) {
    switch (b->kind) {
    case MN_SOURCE_HF: return mn_safetensors_find(&b->st, name);
    case MN_SOURCE_GGUF: return mn_gguf_tensor(&b->gguf, name);
    case MN_SOURCE_LLAMA2C: return mn_llama2c_find(&b->l2c, name);
    }
    return NULL;
}

static void tensor_name(const backing *b, mn_weight_role role, int layer, char *buf, size_t cap) {
    if (b->kind == MN_SOURCE_HF) mn_hf_tensor_name(role, layer, buf, cap);
    else mn_gguf_tensor_name(role, layer, buf, cap);
}

/* Expected ne[0], ne[1] of each role. */
static void expected_shape(const mn_hparams *hp, mn_weight_role role, int64_t *ne0, int64_t *ne1) {
    int64_t d = hp->dim, q = (int64_t)hp->n_heads * hp->head_dim, kv = (int64_t)hp->n_kv_heads * hp->head_dim;
    int64_t f = hp->ffn_dim;
    *ne1 = 1;
    switch (role) {
    case MN_W_ATTN_NORM:
    case MN_W_FFN_NORM:
    case MN_W_OUTPUT_NORM: *ne0 = d; break;
    case MN_W_Q: *ne0 = d, *ne1 = q; break;
    case MN_W_K:
    case MN_W_V: *ne0 = d, *ne1 = kv; break;
    case MN_W_QKV: *ne0 = d, *ne1 = q + 2 * kv; break;
    case MN_W_O: *ne0 = q, *ne1 = d; break;
    case MN_W_GATE:
    case MN_W_UP: *ne0 = d, *ne1 = f; break;
    case MN_W_GATE_UP: *ne0 = d, *ne1 = 2 * f; break;
    case MN_W_DOWN: *ne0 = f, *ne1 = d; break;
    case MN_W_BQ: *ne0 = q; break;
    case MN_W_BK:
    case MN_W_BV: *ne0 = kv; break;
    case MN_W_TOKEN_EMBD:
    case MN_W_OUTPUT: *ne0 = d, *ne1 = hp->n_vocab; break;
    case MN_W_ROPE_FREQS: *ne0 = hp->head_dim / 2; break;
    default: *ne0 = *ne1 = 0;
    }
}

static bool is_vector_role(mn_weight_role r) {
    return r == MN_W_ATTN_NORM || r == MN_W_FFN_NORM || r == MN_W_OUTPUT_NORM || r == MN_W_BQ || r == MN_W_BK ||
           r == MN_W_BV || r == MN_W_ROPE_FREQS;
}

/* Looks up one tensor; absent optional tensors leave *dst zeroed. */
static int bind(const mn_model *m, const backing *b, mn_weight_role role, int layer, bool required, mn_tensor *dst) {
    char name[160];
    tensor_name(b, role, layer, name, sizeof name);
    const mn_tensor *t = find_tensor(b, name);
    memset(dst, 0, sizeof *dst);
    if (!t) return required ? mn_fail("%s: missing tensor %s", m->path, name) : 0;
    int64_t ne0, ne1;
    expected_shape(&m->hp, role, &ne0, &ne1);
    int64_t rows = mn_tensor_nrows(t);
    if (t->ne[0] != ne0 || rows != ne1 || t->ne[2] != 1 || t->ne[3] != 1)
        return mn_fail("%s: tensor %s has shape [%lld, %lld], expected [%lld, %lld] for this configuration", m->path,
                       name, (long long)rows, (long long)t->ne[0], (long long)ne1, (long long)ne0);
    if (is_vector_role(role) && mn_dtype_is_quantized(t->type))
        return mn_fail("%s: tensor %s is %s; norms and biases must be f32, f16 or bf16", m->path, name,
                       mn_dtype_name(t->type));
    *dst = *t;
    return 0;
}

static uint64_t backing_tensors(const backing *b) {
    switch (b->kind) {
    case MN_SOURCE_HF: return (uint64_t)b->st.n_tensors;
    case MN_SOURCE_GGUF: return b->gguf.n_tensors;
    case MN_SOURCE_LLAMA2C: return (uint64_t)b->l2c.n_tensors;
    }
    return 0;
}

static int bind_all(mn_model *m, const backing *b) {
    const mn_hparams *hp = &m->hp;
    if (bind(m, b, MN_W_TOKEN_EMBD, -1, true, &m->tok_embd) || bind(m, b, MN_W_OUTPUT_NORM, -1, true, &m->output_norm) ||
        bind(m, b, MN_W_OUTPUT, -1, false, &m->output))
        return -1;
    if (!m->output.data) m->hp.tied_embeddings = true;
    if (m->hp.tied_embeddings) m->output = m->tok_embd;
    if (b->kind == MN_SOURCE_GGUF && bind(m, b, MN_W_ROPE_FREQS, -1, false, &m->rope_freqs)) return -1;
    /* Every layer has tensors of its own, so a header claiming more layers than the file has
     * tensors is corrupt; caught before the count sizes an allocation. */
    if ((uint64_t)hp->n_layers > backing_tensors(b))
        return mn_fail("%s: %d layers, but the checkpoint holds only %llu tensors", m->path, hp->n_layers,
                       (unsigned long long)backing_tensors(b));
    m->layers = calloc((size_t)hp->n_layers, sizeof *m->layers);
    if (!m->layers) return mn_fail("%s: out of memory", m->path);
    bool phi3 = hp->arch == MN_ARCH_PHI3;
    for (int l = 0; l < hp->n_layers; l++) {
        mn_tensor *w = m->layers[l].w;
        if (bind(m, b, MN_W_ATTN_NORM, l, true, &w[MN_W_ATTN_NORM]) || bind(m, b, MN_W_O, l, true, &w[MN_W_O]) ||
            bind(m, b, MN_W_FFN_NORM, l, true, &w[MN_W_FFN_NORM]) || bind(m, b, MN_W_DOWN, l, true, &w[MN_W_DOWN]))
            return -1;
        if (phi3) {
            if (bind(m, b, MN_W_QKV, l, true, &w[MN_W_QKV]) || bind(m, b, MN_W_GATE_UP, l, true, &w[MN_W_GATE_UP]))
                return -1;
        } else {
            bool biases = hp->arch == MN_ARCH_QWEN2;
            if (bind(m, b, MN_W_Q, l, true, &w[MN_W_Q]) || bind(m, b, MN_W_K, l, true, &w[MN_W_K]) ||
                bind(m, b, MN_W_V, l, true, &w[MN_W_V]) || bind(m, b, MN_W_GATE, l, true, &w[MN_W_GATE]) ||
                bind(m, b, MN_W_UP, l, true, &w[MN_W_UP]) || bind(m, b, MN_W_BQ, l, biases, &w[MN_W_BQ]) ||
                bind(m, b, MN_W_BK, l, biases, &w[MN_W_BK]) || bind(m, b, MN_W_BV, l, biases, &w[MN_W_BV]))
                return -1;
        }
    }
    return 0;
}

static int check_hparams(const mn_model *m) {
    const mn_hparams *hp = &m->hp;
    if (hp->dim <= 0 || hp->n_layers <= 0 || hp->n_heads <= 0 || hp->n_kv_heads <= 0 || hp->head_dim <= 0 ||
        hp->ffn_dim <= 0 || hp->n_vocab <= 0)
        return mn_fail("%s: model dimensions must be positive", m->path);
    if (hp->n_heads % hp->n_kv_heads)
        return mn_fail("%s: %d attention heads do not divide into %d key/value heads", m->path, hp->n_heads,
                       hp->n_kv_heads);
    if (hp->head_dim % 2) return mn_fail("%s: head dimension %d is odd", m->path, hp->head_dim);
    /* isfinite too: an infinite epsilon or base (a double too large for float) gives NaN. */
    if (!(hp->norm_eps > 0) || !(hp->rope_theta > 0) || !isfinite(hp->norm_eps) || !isfinite(hp->rope_theta))
        return mn_fail("%s: norm epsilon and rope theta must be positive and finite", m->path);
    if (hp->rope_scaling[0] && (!(hp->rope_factor > 0) || !isfinite(hp->rope_factor) ||
                                !isfinite(hp->rope_low_freq_factor) || !isfinite(hp->rope_high_freq_factor)))
        return mn_fail("%s: rope scaling factors must be positive and finite", m->path);
    return 0;
}

static int arch_from_name(const char *path, const char *name, mn_arch *out) {
    if (!strcmp(name, "llama") || !strcmp(name, "mistral")) *out = MN_ARCH_LLAMA;
    else if (!strcmp(name, "qwen2")) *out = MN_ARCH_QWEN2;
    else if (!strcmp(name, "phi3")) *out = MN_ARCH_PHI3;
    else return mn_fail("%s: unsupported architecture \"%s\" (minnow runs llama, mistral, qwen2 and phi3)", path, name);
    return 0;
}

static int load_hf(mn_model *m, backing *b, const char *dir) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/config.json", dir);
    mn_hf_config c;
    if (mn_hf_config_read(path, &c) != 0) return -1;
    mn_hparams *hp = &m->hp;
    if (arch_from_name(path, c.model_type, &hp->arch)) return -1;
    hp->dim = c.hidden_size;
    hp->n_layers = c.num_hidden_layers;
    hp->n_heads = c.num_attention_heads;
    hp->n_kv_heads = c.num_key_value_heads;
    hp->head_dim = c.head_dim;
    hp->ffn_dim = c.intermediate_size;
    hp->ctx_train = c.max_position_embeddings;
    hp->norm_eps = (float)c.rms_norm_eps;
    hp->rope_theta = (float)c.rope_theta;
    hp->rope_layout = MN_ROPE_HALF;
    hp->tied_embeddings = c.tie_word_embeddings;
    snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "%s", c.rope_scaling_type);
    hp->rope_factor = (float)c.rope_factor;
    hp->rope_low_freq_factor = (float)c.rope_low_freq_factor;
    hp->rope_high_freq_factor = (float)c.rope_high_freq_factor;
    hp->rope_original_ctx = c.rope_original_max_positions;
    b->kind = MN_SOURCE_HF;
    if (mn_safetensors_open_dir(dir, &b->st) != 0) return -1;
    char embd_name[64];
    mn_hf_tensor_name(MN_W_TOKEN_EMBD, -1, embd_name, sizeof embd_name);
    const mn_tensor *embd = mn_safetensors_find(&b->st, embd_name);
    if (embd && embd->ne[1] > INT_MAX) return mn_fail("%s: %s has %lld rows", m->path, embd_name, (long long)embd->ne[1]);
    hp->n_vocab = embd ? (int)embd->ne[1] : c.vocab_size;
    return 0;
}

static int gguf_int(const mn_model *m, const mn_gguf *g, const char *arch, const char *suffix, int *out,
                    bool required, int fallback) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    int64_t v;
    if (mn_gguf_get_int(g, key, &v) != 0) {
        if (mn_has_error()) return -1;
        if (required) return mn_fail("%s: missing metadata %s", m->path, key);
        *out = fallback;
        return 0;
    }
    if (v <= 0 || v > INT_MAX) return mn_fail("%s: metadata %s = %lld is out of range", m->path, key, (long long)v);
    *out = (int)v;
    return 0;
}

static int gguf_float(const mn_model *m, const mn_gguf *g, const char *arch, const char *suffix, float *out,
                      float fallback) {
    char key[128];
    snprintf(key, sizeof key, "%s.%s", arch, suffix);
    double v;
    if (mn_gguf_get_float(g, key, &v) != 0) {
        if (mn_has_error()) return -1;
        *out = fallback;
        return 0;
    }
    *out = (float)v;
    return 0;
}

/* Provenance keys kept at most: each lookup below scans every key, so a file with a million
 * general.* keys would otherwise cost 10^12 comparisons. Real files have a few dozen. */
#define MAX_META 256

static void keep_metadata(mn_model *m, const mn_gguf *g) {
    m->meta = calloc(MAX_META, sizeof *m->meta);
    if (!m->meta) return;
    for (uint64_t i = 0; i < g->n_kv && m->n_meta < MAX_META; i++) {
        const mn_gguf_kv *kv = &g->kv[i];
        if (strncmp(kv->key, "general.", 8) && strncmp(kv->key, "minnow.", 7)) continue;
        mn_meta *e = &m->meta[m->n_meta];
        snprintf(e->key, sizeof e->key, "%s", kv->key);
        if (kv->type == MN_GGUF_STRING)
            snprintf(e->value, sizeof e->value, "%.*s", (int)(kv->str.len < 191 ? kv->str.len : 191), kv->str.ptr);
        else if (kv->type == MN_GGUF_BOOL) snprintf(e->value, sizeof e->value, "%s", *kv->value ? "true" : "false");
        else if (kv->type == MN_GGUF_F32 || kv->type == MN_GGUF_F64) {
            double v;
            mn_gguf_get_float(g, kv->key, &v);
            snprintf(e->value, sizeof e->value, "%g", v);
        } else if (kv->type != MN_GGUF_ARRAY) {
            int64_t v;
            if (mn_gguf_get_int(g, kv->key, &v) != 0) {
                mn_clear_error();
                continue;
            }
            snprintf(e->value, sizeof e->value, "%lld", (long long)v);
        } else continue;
        m->n_meta++;
    }
}

static int load_gguf(mn_model *m, backing *b) {
    b->kind = MN_SOURCE_GGUF;
    mn_gguf *g = &b->gguf;
    if (mn_gguf_open(m->path, g) != 0) return -1;
    char *arch = mn_gguf_get_string(g, "general.architecture");
    if (!arch) return mn_fail("%s: GGUF has no general.architecture", m->path);
    mn_hparams *hp = &m->hp;
    int rc = arch_from_name(m->path, arch, &hp->arch);
    if (rc == 0)
        rc = gguf_int(m, g, arch, "embedding_length", &hp->dim, true, 0) ||
                     gguf_int(m, g, arch, "block_count", &hp->n_layers, true, 0) ||
                     gguf_int(m, g, arch, "attention.head_count", &hp->n_heads, true, 0) ||
                     gguf_int(m, g, arch, "feed_forward_length", &hp->ffn_dim, true, 0) ||
                     gguf_int(m, g, arch, "context_length", &hp->ctx_train, false, 2048) ||
                     gguf_float(m, g, arch, "attention.layer_norm_rms_epsilon", &hp->norm_eps, 1e-5f) ||
                     gguf_float(m, g, arch, "rope.freq_base", &hp->rope_theta, 10000.0f)
                 ? -1
                 : 0;
    if (rc == 0) rc = gguf_int(m, g, arch, "attention.head_count_kv", &hp->n_kv_heads, false, hp->n_heads);
    if (rc == 0 && hp->n_heads > 0)
        rc = gguf_int(m, g, arch, "attention.key_length", &hp->head_dim, false, hp->dim / hp->n_heads);
    if (rc == 0) {
        char key[128];
        snprintf(key, sizeof key, "%s.rope.scaling.type", arch);
        char *scaling = mn_gguf_get_string(g, key);
        if (scaling && !strcmp(scaling, "linear")) {
            snprintf(hp->rope_scaling, sizeof hp->rope_scaling, "linear");
            rc = gguf_float(m, g, arch, "rope.scaling.factor", &hp->rope_factor, 1.0f);
        } else if (scaling && strcmp(scaling, "none") != 0) {
            rc = mn_fail("%s: unsupported rope scaling \"%s\"", m->path, scaling);
        }
        free(scaling);
    }
    hp->rope_layout = hp->arch == MN_ARCH_LLAMA ? MN_ROPE_INTERLEAVED : MN_ROPE_HALF;
    free(arch);
    if (rc != 0) return -1;
    const mn_tensor *embd = mn_gguf_tensor(g, "token_embd.weight");
    if (!embd) return mn_fail("%s: missing tensor token_embd.weight", m->path);
    if (embd->ne[1] > INT_MAX) return mn_fail("%s: token_embd.weight has %lld rows", m->path, (long long)embd->ne[1]);
    hp->n_vocab = (int)embd->ne[1];
    keep_metadata(m, g);
    return 0;
}

static int load_llama2c(mn_model *m, backing *b) {
    b->kind = MN_SOURCE_LLAMA2C;
    mn_llama2c *l = &b->l2c;
    if (mn_llama2c_open(m->path, l) != 0) return -1;
    mn_hparams *hp = &m->hp;
    hp->arch = MN_ARCH_LLAMA;
    hp->dim = l->dim;
    hp->n_layers = l->n_layers;
    hp->n_heads = l->n_heads;
    hp->n_kv_heads = l->n_kv_heads;
    hp->head_dim = l->dim / l->n_heads;
    hp->ffn_dim = l->hidden_dim;
    hp->n_vocab = l->vocab_size;
    hp->ctx_train = l->seq_len;
    hp->norm_eps = 1e-5f;
    hp->rope_theta = 10000.0f;
    hp->rope_layout = MN_ROPE_INTERLEAVED;
    hp->tied_embeddings = l->shared_classifier;
    return 0;
}

/* llama2.c checkpoints ship their vocabulary separately: --tokenizer, or tokenizer.bin /
 * tok<vocab>.bin next to the checkpoint. */
static mn_tokenizer *llama2c_tokenizer(const mn_model *m, const mn_load_options *opt) {
    if (opt && opt->tokenizer_path) return mn_tokenizer_load(opt->tokenizer_path);
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", m->path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    char candidate[PATH_MAX + 32];
    snprintf(candidate, sizeof candidate, "%s/tok%d.bin", dir, m->hp.n_vocab);
    if (mn_file_exists(candidate)) return mn_tokenizer_from_llama2c(candidate, m->hp.n_vocab);
    snprintf(candidate, sizeof candidate, "%s/tokenizer.bin", dir);
    if (mn_file_exists(candidate)) return mn_tokenizer_from_llama2c(candidate, m->hp.n_vocab);
    mn_fail("%s: missing tokenizer: llama2.c checkpoints need --tokenizer tokenizer.bin", m->path);
    return NULL;
}

static mn_tokenizer *load_tokenizer(const mn_model *m, const backing *b, const char *hf_dir,
                                    const mn_load_options *opt) {
    if (opt && opt->tokenizer_path && b->kind != MN_SOURCE_LLAMA2C) return mn_tokenizer_load(opt->tokenizer_path);
    switch (b->kind) {
    case MN_SOURCE_HF: return mn_tokenizer_from_hf_dir(hf_dir);
    case MN_SOURCE_GGUF: return mn_tokenizer_from_gguf(&b->gguf);
    case MN_SOURCE_LLAMA2C: return llama2c_tokenizer(m, opt);
    }
    return NULL;
}

static uint64_t backing_bytes(const backing *b) {
    uint64_t total = 0;
    switch (b->kind) {
    case MN_SOURCE_HF:
        for (int i = 0; i < b->st.n_files; i++) total += b->st.files[i].size;
        break;
    case MN_SOURCE_GGUF: total = b->gguf.file.size; break;
    case MN_SOURCE_LLAMA2C: total = b->l2c.file.size; break;
    }
    return total;
}

static void close_backing(backing *b) {
    if (!b) return;
    mn_safetensors_close(&b->st);
    mn_gguf_close(&b->gguf);
    mn_llama2c_close(&b->l2c);
    free(b);
}

mn_model *mn_model_load(const char *path, const mn_load_options *opt) {
    mn_model *m = calloc(1, sizeof *m);
    backing *b = calloc(1, sizeof *b);
    if (!m || !b) {
        free(m);
        free(b);
        mn_fail("%s: out of memory", path);
        return NULL;
    }
    m->backing = b;
    snprintf(m->path, sizeof m->path, "%s", path);
    char hf_dir[PATH_MAX];
    int rc;
    if (mn_is_directory(path)) {
        snprintf(hf_dir, sizeof hf_dir, "%s", path);
        m->source = MN_SOURCE_HF;
        rc = load_hf(m, b, hf_dir);
    } else if (!mn_file_exists(path)) {
        rc = mn_fail("%s: no such file or directory", path);
    } else if (mn_gguf_sniff(path) || (strlen(path) > 5 && !strcmp(path + strlen(path) - 5, ".gguf"))) {
        /* by name too, so a .gguf with a broken magic is reported as a broken GGUF */
        m->source = MN_SOURCE_GGUF;
        rc = load_gguf(m, b);
    } else {
        size_t len = strlen(path);
        if (len > 12 && !strcmp(path + len - 12, ".safetensors")) {
            snprintf(hf_dir, sizeof hf_dir, "%s", path);
            char *slash = strrchr(hf_dir, '/');
            if (slash) *slash = 0;
            else snprintf(hf_dir, sizeof hf_dir, ".");
            snprintf(m->path, sizeof m->path, "%s", hf_dir);
            m->source = MN_SOURCE_HF;
            rc = load_hf(m, b, hf_dir);
        } else {
            m->source = MN_SOURCE_LLAMA2C;
            rc = load_llama2c(m, b);
        }
    }
    if (rc == 0) rc = check_hparams(m);
    if (rc == 0) rc = bind_all(m, b);
    if (rc == 0 && !(opt && opt->skip_tokenizer)) {
        m->tok = load_tokenizer(m, b, hf_dir, opt);
        m->owns_tokenizer = true;
        if (!m->tok) rc = -1;
        else if (mn_tokenizer_vocab(m->tok)->n_tokens > m->hp.n_vocab)
            rc = mn_fail("%s: tokenizer has %d tokens but the model's embedding has only %d rows", path,
                         mn_tokenizer_vocab(m->tok)->n_tokens, m->hp.n_vocab);
    }
    if (rc != 0) {
        mn_model_free(m);
        return NULL;
    }
    m->file_bytes = backing_bytes(b);
    return m;
}

void mn_model_free(mn_model *m) {
    if (!m) return;
    if (m->owns_tokenizer) mn_tokenizer_free(m->tok);
    free(m->layers);
    free(m->meta);
    close_backing(m->backing);
    for (int i = 0; i < m->n_owned; i++) free(m->owned[i]);
    free(m->owned);
    free(m);
}

mn_model *mn_model_derive(const mn_model *src) {
    mn_model *m = calloc(1, sizeof *m);
    if (!m) goto oom;
    *m = *src;
    m->backing = NULL;
    m->owns_tokenizer = false;
    m->owned = NULL;
    m->n_owned = 0;
    m->layers = calloc((size_t)src->hp.n_layers, sizeof *m->layers);
    m->meta = calloc((size_t)(src->n_meta ? src->n_meta : 1), sizeof *m->meta);
    if (!m->layers || !m->meta) goto oom;
    memcpy(m->layers, src->layers, (size_t)src->hp.n_layers * sizeof *m->layers);
    if (src->n_meta) memcpy(m->meta, src->meta, (size_t)src->n_meta * sizeof *m->meta); /* meta is NULL when empty */
    return m;
oom:
    mn_model_free(m);
    mn_fail("%s: out of memory", src->path);
    return NULL;
}

void *mn_model_new_tensor(mn_model *m, mn_tensor *t, const char *name, mn_dtype type, int64_t ne0, int64_t ne1) {
    size_t row_bytes = mn_dtype_row_bytes(type, ne0);
    if (row_bytes == 0) {
        mn_fail("tensor %s: row length %lld does not fit type %s", name, (long long)ne0, mn_dtype_name(type));
        return NULL;
    }
    void **grown = realloc(m->owned, (size_t)(m->n_owned + 1) * sizeof *grown);
    void *data = calloc((size_t)ne1, row_bytes);
    if (!grown || !data) {
        if (grown) m->owned = grown;
        free(data);
        mn_fail("out of memory for tensor %s (%lld x %lld)", name, (long long)ne1, (long long)ne0);
        return NULL;
    }
    m->owned = grown;
    m->owned[m->n_owned++] = data;
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = ne1 > 1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->data = data;
    t->nbytes = (size_t)ne1 * row_bytes;
    return data;
}

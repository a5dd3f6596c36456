#include "model/hf_export.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"
#include "formats/hf_config.h"
#include "formats/safetensors_writer.h"
#include "model/gguf_export.h"
#include "model/matmul.h"

static const char *const tokenizer_files[] = {"tokenizer.model",         "tokenizer.json",    "tokenizer_config.json",
                                              "special_tokens_map.json", "added_tokens.json", "generation_config.json"};

static void fill_config(const mn_model *m, mn_dtype type, mn_hf_config *c) {
    const mn_hparams *hp = &m->hp;
    memset(c, 0, sizeof *c);
    static const char *const classes[] = {"LlamaForCausalLM", "Qwen2ForCausalLM", "Phi3ForCausalLM"};
    snprintf(c->model_type, sizeof c->model_type, "%s", mn_arch_name(hp->arch));
    snprintf(c->architecture, sizeof c->architecture, "%s", classes[hp->arch]);
    c->hidden_size = hp->dim;
    c->intermediate_size = hp->ffn_dim;
    c->num_hidden_layers = hp->n_layers;
    c->num_attention_heads = hp->n_heads;
    c->num_key_value_heads = hp->n_kv_heads;
    c->head_dim = hp->head_dim;
    c->vocab_size = hp->n_vocab;
    c->max_position_embeddings = hp->ctx_train;
    c->rms_norm_eps = hp->norm_eps;
    c->rope_theta = hp->rope_theta;
    c->tie_word_embeddings = hp->tied_embeddings;
    const mn_vocab *v = m->tok ? mn_tokenizer_vocab(m->tok) : NULL;
    c->bos_token_id = v ? v->bos_id : -1;
    c->eos_token_id = v ? v->eos_id : -1;
    snprintf(c->torch_dtype, sizeof c->torch_dtype, "%s",
             type == MN_BF16 ? "bfloat16" : type == MN_F32 ? "float32" : "float16");
    snprintf(c->rope_scaling_type, sizeof c->rope_scaling_type, "%s", hp->rope_scaling);
    c->rope_factor = hp->rope_factor;
    c->rope_low_freq_factor = hp->rope_low_freq_factor;
    c->rope_high_freq_factor = hp->rope_high_freq_factor;
    c->rope_original_max_positions = hp->rope_original_ctx;
}

typedef struct {
    const mn_model *m;
    mn_st_writer *w;
    mn_dtype type;
    int declare; /* first pass declares, second writes */
    float *rows;
    void *encoded;
    size_t cap;
} hf_state;

/* HF order: embeddings, blocks, final norm, lm_head; GGUF-only tensors (rope_freqs) skipped */
static int visit(void *ctx, const char *gguf_name, const mn_tensor *t, int layer, mn_weight_role role) {
    hf_state *s = ctx;
    if (role == MN_W_ROPE_FREQS) return 0;
    char name[160];
    mn_hf_tensor_name(role, layer, name, sizeof name);
    if (s->declare) return mn_st_add_tensor(s->w, name, s->type, t->n_dims, t->ne);
    const mn_model *m = s->m;
    const bool permute = m->hp.rope_layout != MN_ROPE_HALF &&
                         (role == MN_W_Q || role == MN_W_K || role == MN_W_BQ || role == MN_W_BK);
    const int64_t ne0 = t->ne[0], nrows = mn_tensor_nrows(t);
    const bool vector = nrows == 1;
    const int64_t block = vector ? 1 : (int64_t)(s->cap / 2 / (size_t)ne0) > 0 ? (int64_t)(s->cap / 2 / (size_t)ne0) : 1;
    for (int64_t r0 = 0; r0 < nrows; r0 += block) {
        int64_t n = nrows - r0 < block ? nrows - r0 : block;
        if (permute && vector) {
            float *tmp = s->rows + ne0;
            mn_tensor_rows_to_f32(t, 0, 1, tmp);
            for (int64_t i = 0; i < ne0; i++)
                s->rows[i] = tmp[mn_rope_source_row(i, m->hp.head_dim, m->hp.rope_layout, MN_ROPE_HALF)];
        } else if (permute) {
            for (int64_t i = 0; i < n; i++)
                mn_tensor_rows_to_f32(t, mn_rope_source_row(r0 + i, m->hp.head_dim, m->hp.rope_layout, MN_ROPE_HALF),
                                      1, s->rows + i * ne0);
        } else {
            mn_tensor_rows_to_f32(t, r0, n, s->rows);
        }
        size_t count = (size_t)(n * ne0), bytes;
        if (s->type == MN_F32) {
            memcpy(s->encoded, s->rows, count * 4);
            bytes = count * 4;
        } else {
            if (s->type == MN_F16) mn_f32_to_f16_row(s->rows, s->encoded, (int64_t)count);
            else mn_f32_to_bf16_row(s->rows, s->encoded, (int64_t)count);
            bytes = count * 2;
        }
        if (mn_st_write_data(s->w, s->encoded, bytes)) return -1;
    }
    return 0;
}

static int copy_into(const char *src_dir, const char *name, mn_out_dir *d) {
    char src[4200];
    snprintf(src, sizeof src, "%s/%s", src_dir, name);
    if (!mn_file_exists(src)) return 0;
    size_t len;
    char *data = mn_read_file(src, &len);
    if (!data) return -1;
    const char *dst = mn_out_dir_file(d, name);
    int rc = dst ? mn_out_write_whole(dst, data, len) : -1;
    free(data);
    return rc;
}

static bool has_vocabulary_file(const char *dir) {
    char path[4200];
    snprintf(path, sizeof path, "%s/tokenizer.model", dir);
    if (mn_file_exists(path)) return true;
    snprintf(path, sizeof path, "%s/tokenizer.json", dir);
    return mn_file_exists(path);
}

int mn_model_write_hf(const mn_model *m, const char *dir, mn_dtype type) {
    if (type != MN_F16 && type != MN_BF16 && type != MN_F32)
        return mn_fail("%s: Hugging Face output is f16, bf16 or f32, not %s", dir, mn_dtype_name(type));
    if (mn_same_file(dir, m->path)) return mn_fail("%s: refusing to overwrite the input model", dir);
    mn_out_dir *d = mn_out_dir_open(dir);
    if (!d) return -1;
    mn_hf_config c;
    fill_config(m, type, &c);
    const char *path = mn_out_dir_file(d, "config.json");
    int rc = path ? mn_hf_config_write(path, &c) : -1;
    hf_state s = {.m = m, .type = type, .declare = 1, .cap = 8u << 20};
    s.w = mn_st_writer_new();
    s.rows = malloc(s.cap * sizeof(float));
    s.encoded = malloc(s.cap * sizeof(float));
    if (rc == 0 && (!s.w || !s.rows || !s.encoded)) rc = mn_fail("out of memory");
    if (rc == 0) rc = mn_model_for_each_tensor(m, visit, &s);
    if (rc == 0) rc = mn_st_set_metadata(s.w, "format", "pt");
    if (rc == 0) rc = (path = mn_out_dir_file(d, "model.safetensors")) ? mn_st_begin(s.w, path) : -1;
    s.declare = 0;
    if (rc == 0) rc = mn_model_for_each_tensor(m, visit, &s);
    if (rc == 0) rc = mn_st_finish(s.w);
    if (rc == 0 && m->source == MN_SOURCE_HF)
        for (size_t i = 0; i < sizeof tokenizer_files / sizeof tokenizer_files[0] && rc == 0; i++)
            rc = copy_into(m->path, tokenizer_files[i], d);
    /* other sources, and Hugging Face directories whose vocabulary came from elsewhere (--tokenizer) */
    if (rc == 0 && m->tok && !(m->source == MN_SOURCE_HF && has_vocabulary_file(m->path)))
        rc = (path = mn_out_dir_file(d, "tokenizer.gguf")) ? mn_tokenizer_save_gguf(m->tok, path) : -1;
    mn_st_writer_free(s.w);
    free(s.rows);
    free(s.encoded);
    if (rc != 0) {
        mn_out_dir_abort(d);
        return -1;
    }
    return mn_out_dir_commit(d);
}

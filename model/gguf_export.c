#include "model/gguf_export.h"

#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/progress.h"
#include "model/matmul.h"
#include "model/ops.h"

#define MINNOW_VERSION "0.1.0"
/* Rows per streamed block are chosen so a block widened to f32 stays near this many floats. */
#define BLOCK_FLOATS (4u << 20)

mn_rope_layout mn_gguf_rope_layout(mn_arch arch) {
    return arch == MN_ARCH_LLAMA ? MN_ROPE_INTERLEAVED : MN_ROPE_HALF;
}

int64_t mn_rope_source_row(int64_t row, int head_dim, mn_rope_layout from, mn_rope_layout to) {
    if (from == to) return row;
    const int64_t o = row % head_dim, base = row - o, half = head_dim / 2;
    if (from == MN_ROPE_HALF) /* to interleaved: pair i = (2i, 2i+1) comes from (i, i+half) */
        return base + (o % 2 == 0 ? o / 2 : o / 2 + half);
    return base + (o < half ? 2 * o : 2 * (o - half) + 1);
}

int mn_llama_ftype_for(mn_dtype t) {
    switch (t) {
    case MN_F32: return 0;
    case MN_F16: return 1;
    case MN_Q4_0: return 2;
    case MN_Q4_1: return 3;
    case MN_Q8_0: return 7;
    case MN_Q5_0: return 8;
    case MN_Q5_1: return 9;
    case MN_Q2_K: return 10;
    case MN_Q3_K: return 11;
    case MN_Q4_K: return 14;
    case MN_Q5_K: return 16;
    case MN_Q6_K: return 18;
    case MN_BF16: return 32;
    default: return 0;
    }
}

static bool needs_rope_permutation(const mn_model *m, mn_weight_role role) {
    if (m->hp.rope_layout == mn_gguf_rope_layout(m->hp.arch)) return false;
    return role == MN_W_Q || role == MN_W_K || role == MN_W_BQ || role == MN_W_BK;
}

static mn_dtype default_type(const mn_export_tensor *t) {
    if (t->src->n_dims == 1 || mn_tensor_nrows(t->src) == 1) return MN_F32;
    return t->src->type;
}

typedef struct {
    const mn_model *m;
    const mn_export_plan *plan;
    mn_gguf_writer *w;
    mn_dtype *types; /* chosen type per tensor, in visiting order */
    int n;
    int index;
    uint64_t elements_by_type[64];
    mn_progress bar;
    uint64_t bytes_done;
    float *rows;
    uint8_t *encoded;
} export_state;

static void describe(export_state *s, const char *name, const mn_tensor *t, int layer, mn_weight_role role,
                     mn_export_tensor *out) {
    out->name = name;
    out->src = t;
    out->layer = layer;
    out->role = role;
}

static mn_dtype choose_type(export_state *s, const mn_export_tensor *et) {
    if (s->plan && s->plan->tensor_type) return s->plan->tensor_type(s->plan->ctx, et);
    return default_type(et);
}

static int declare_tensor(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    export_state *s = ctx;
    mn_export_tensor et;
    describe(s, name, t, layer, role, &et);
    mn_dtype type = choose_type(s, &et);
    if (mn_dtype_row_bytes(type, t->ne[0]) == 0)
        return mn_fail("tensor %s: row length %lld is not a multiple of the %s block size %d", name,
                       (long long)t->ne[0], mn_dtype_name(type), mn_dtype_block_size(type));
    s->types[s->n++] = type;
    if ((unsigned)type < 64 && t->n_dims >= 2) s->elements_by_type[type] += (uint64_t)mn_tensor_nelements(t);
    return mn_gguf_add_tensor(s->w, name, type, t->n_dims, t->ne) < 0 ? mn_fail("out of memory") : 0;
}

static int count_tensor(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    (*(int *)ctx)++;
    return 0;
}

static int encode_plain(mn_dtype type, const float *rows, int64_t count, void *dst) {
    switch (type) {
    case MN_F32: memcpy(dst, rows, (size_t)count * sizeof(float)); return 0;
    case MN_F16: mn_f32_to_f16_row(rows, dst, count); return 0;
    case MN_BF16: mn_f32_to_bf16_row(rows, dst, count); return 0;
    default: return mn_fail("no encoder for type %s", mn_dtype_name(type));
    }
}

static int write_tensor(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    export_state *s = ctx;
    const mn_model *m = s->m;
    const mn_dtype type = s->types[s->index++];
    mn_export_tensor et;
    describe(s, name, t, layer, role, &et);
    const bool permute = needs_rope_permutation(m, role);
    const mn_rope_layout to = mn_gguf_rope_layout(m->hp.arch);
    const int64_t ne0 = t->ne[0], nrows = mn_tensor_nrows(t);
    /* 1-D Q/K biases are permuted element-wise: treat each element as a row of one. */
    const bool vector_permute = permute && nrows == 1;
    const size_t out_row_bytes = mn_dtype_row_bytes(type, ne0);
    int64_t block = BLOCK_FLOATS / ne0;
    if (block < 1) block = 1;
    if (s->plan && s->plan->begin_tensor && s->plan->begin_tensor(s->plan->ctx, &et, type)) return -1;
    for (int64_t r0 = 0; r0 < nrows; r0 += block) {
        int64_t n = nrows - r0 < block ? nrows - r0 : block;
        if (type == t->type && !vector_permute) {
            /* same type: copy stored rows (in output order), no re-encoding */
            for (int64_t i = 0; i < n; i++) {
                int64_t src = permute ? mn_rope_source_row(r0 + i, m->hp.head_dim, m->hp.rope_layout, to) : r0 + i;
                memcpy(s->encoded + (size_t)i * out_row_bytes, mn_tensor_row(t, src), out_row_bytes);
            }
        } else {
            if (vector_permute) {
                float *tmp = s->rows + ne0;
                mn_tensor_rows_to_f32(t, 0, 1, tmp);
                for (int64_t i = 0; i < ne0; i++)
                    s->rows[i] = tmp[mn_rope_source_row(i, m->hp.head_dim, m->hp.rope_layout, to)];
            } else if (permute) {
                for (int64_t i = 0; i < n; i++)
                    mn_tensor_rows_to_f32(t, mn_rope_source_row(r0 + i, m->hp.head_dim, m->hp.rope_layout, to), 1,
                                          s->rows + (size_t)i * ne0);
            } else {
                mn_tensor_rows_to_f32(t, r0, n, s->rows);
            }
            int rc = mn_dtype_is_quantized(type) || (s->plan && s->plan->encode_rows)
                         ? (s->plan && s->plan->encode_rows
                                ? s->plan->encode_rows(s->plan->ctx, &et, type, s->rows, r0, n, s->encoded)
                                : mn_fail("tensor %s: no encoder for %s", name, mn_dtype_name(type)))
                         : encode_plain(type, s->rows, n * ne0, s->encoded);
            if (rc) return -1;
        }
        if (mn_gguf_write_tensor_data(s->w, s->encoded, (size_t)n * out_row_bytes)) return -1;
        s->bytes_done += (uint64_t)n * out_row_bytes;
        mn_progress_update(&s->bar, (uint64_t)s->index, name);
    }
    if (s->plan && s->plan->end_tensor && s->plan->end_tensor(s->plan->ctx, &et)) return -1;
    return 0;
}

/* llama.cpp's converter pads a vocabulary shorter than the embedding with unused tokens. */
static int write_vocab(const mn_model *m, mn_gguf_writer *w) {
    const mn_vocab *v = mn_tokenizer_vocab(m->tok);
    if (v->n_tokens >= m->hp.n_vocab) {
        mn_vocab_write_gguf(v, w);
        return 0;
    }
    mn_vocab padded = *v;
    int n = m->hp.n_vocab, rc = 0;
    padded.n_tokens = n;
    padded.tokens = calloc((size_t)n, sizeof *padded.tokens);
    padded.scores = calloc((size_t)n, sizeof *padded.scores);
    padded.token_types = calloc((size_t)n, sizeof *padded.token_types);
    char *names = calloc((size_t)(n - v->n_tokens), 24);
    if (!padded.tokens || !padded.scores || !padded.token_types || !names) {
        rc = mn_fail("out of memory padding the vocabulary");
    } else {
        for (int i = 0; i < n; i++) {
            if (i < v->n_tokens) {
                padded.tokens[i] = v->tokens[i];
                padded.scores[i] = v->scores ? v->scores[i] : 0;
                padded.token_types[i] = v->token_types ? v->token_types[i] : MN_TOKEN_NORMAL;
            } else {
                char *name = names + (size_t)(i - v->n_tokens) * 24;
                snprintf(name, 24, "[PAD%d]", i);
                padded.tokens[i] = name;
                padded.scores[i] = -1000.0f;
                padded.token_types[i] = MN_TOKEN_UNUSED;
            }
        }
        mn_vocab_write_gguf(&padded, w);
    }
    free(padded.tokens);
    free(padded.scores);
    free(padded.token_types);
    free(names);
    return rc;
}

static void size_label(uint64_t params, char *buf, size_t cap) {
    if (params >= 1000000000ull) snprintf(buf, cap, "%.1fB", params / 1e9);
    else if (params >= 1000000ull) snprintf(buf, cap, "%.0fM", params / 1e6);
    else snprintf(buf, cap, "%.0fK", params / 1e3);
}

static void write_metadata(const mn_model *m, mn_gguf_writer *w, mn_dtype main_type) {
    const mn_hparams *hp = &m->hp;
    const char *arch = mn_arch_name(hp->arch);
    char key[96];
#define ARCH_KEY(suffix) (snprintf(key, sizeof key, "%s.%s", arch, suffix), key)
    mn_gguf_set_str(w, "general.architecture", arch);
    for (int i = 0; i < m->n_meta; i++)
        if (!strncmp(m->meta[i].key, "general.", 8) && strcmp(m->meta[i].key, "general.architecture") &&
            strcmp(m->meta[i].key, "general.file_type") && strcmp(m->meta[i].key, "general.quantization_version") &&
            strcmp(m->meta[i].key, "general.alignment"))
            mn_gguf_set_str(w, m->meta[i].key, m->meta[i].value);
    char path[sizeof m->path];
    snprintf(path, sizeof path, "%s", m->path);
    char *base = basename(path);
    char *dot = strrchr(base, '.');
    if (dot && dot != base && (!strcmp(dot, ".gguf") || !strcmp(dot, ".bin"))) *dot = 0;
    bool has_name = false;
    for (int i = 0; i < m->n_meta; i++) has_name |= !strcmp(m->meta[i].key, "general.name");
    if (!has_name) mn_gguf_set_str(w, "general.name", base);
    char label[32];
    size_label(mn_model_n_params(m), label, sizeof label);
    mn_gguf_set_str(w, "general.size_label", label);
    mn_gguf_set_u32(w, "general.file_type", (uint32_t)mn_llama_ftype_for(main_type));
    if (mn_dtype_is_quantized(main_type)) mn_gguf_set_u32(w, "general.quantization_version", 2);
    mn_gguf_set_str(w, "minnow.version", MINNOW_VERSION);
    mn_gguf_set_str(w, "minnow.source", base);

    mn_gguf_set_u32(w, ARCH_KEY("context_length"), (uint32_t)hp->ctx_train);
    mn_gguf_set_u32(w, ARCH_KEY("embedding_length"), (uint32_t)hp->dim);
    mn_gguf_set_u32(w, ARCH_KEY("block_count"), (uint32_t)hp->n_layers);
    mn_gguf_set_u32(w, ARCH_KEY("feed_forward_length"), (uint32_t)hp->ffn_dim);
    mn_gguf_set_u32(w, ARCH_KEY("attention.head_count"), (uint32_t)hp->n_heads);
    mn_gguf_set_u32(w, ARCH_KEY("attention.head_count_kv"), (uint32_t)hp->n_kv_heads);
    mn_gguf_set_f32(w, ARCH_KEY("attention.layer_norm_rms_epsilon"), hp->norm_eps);
    mn_gguf_set_f32(w, ARCH_KEY("rope.freq_base"), hp->rope_theta);
    mn_gguf_set_u32(w, ARCH_KEY("rope.dimension_count"), (uint32_t)hp->head_dim);
    if (hp->head_dim * hp->n_heads != hp->dim) {
        mn_gguf_set_u32(w, ARCH_KEY("attention.key_length"), (uint32_t)hp->head_dim);
        mn_gguf_set_u32(w, ARCH_KEY("attention.value_length"), (uint32_t)hp->head_dim);
    }
    mn_gguf_set_u32(w, ARCH_KEY("vocab_size"), (uint32_t)hp->n_vocab);
    if (!strcmp(hp->rope_scaling, "linear")) {
        mn_gguf_set_str(w, ARCH_KEY("rope.scaling.type"), "linear");
        mn_gguf_set_f32(w, ARCH_KEY("rope.scaling.factor"), hp->rope_factor);
    }
#undef ARCH_KEY
}

int mn_model_write_gguf(const mn_model *m, const char *path, const mn_export_plan *plan) {
    if (!m->tok) return mn_fail("%s: the model has no tokenizer to write", m->path);
    export_state s;
    memset(&s, 0, sizeof s);
    s.m = m;
    s.plan = plan;
    int count = 0;
    mn_model_for_each_tensor(m, count_tensor, &count);
    float *freq_factors = NULL;
    mn_model copy = *m;
    if (!m->rope_freqs.data && !strcmp(m->hp.rope_scaling, "llama3")) {
        /* Llama 3 rope scaling travels in GGUF as a rope_freqs tensor of per-frequency divisors;
         * hand the exporter a model whose rope_freqs is an f32 view of the computed factors */
        freq_factors = malloc((size_t)(m->hp.head_dim / 2) * sizeof(float));
        if (!freq_factors) return mn_fail("out of memory");
        mn_rope_llama3_factors(&m->hp, freq_factors);
        memset(&copy.rope_freqs, 0, sizeof copy.rope_freqs);
        snprintf(copy.rope_freqs.name, sizeof copy.rope_freqs.name, "rope_freqs.weight");
        copy.rope_freqs.type = MN_F32;
        copy.rope_freqs.n_dims = 1;
        copy.rope_freqs.ne[0] = m->hp.head_dim / 2;
        copy.rope_freqs.ne[1] = copy.rope_freqs.ne[2] = copy.rope_freqs.ne[3] = 1;
        copy.rope_freqs.data = freq_factors;
        copy.rope_freqs.nbytes = (size_t)(m->hp.head_dim / 2) * sizeof(float);
        count++;
        s.m = m = &copy;
    }
    s.w = mn_gguf_writer_new();
    s.types = calloc((size_t)count + 1, sizeof *s.types);
    int64_t widest = m->hp.dim > m->hp.ffn_dim ? m->hp.dim : m->hp.ffn_dim;
    size_t block_floats = BLOCK_FLOATS + 2 * (size_t)(widest + (int64_t)m->hp.n_heads * m->hp.head_dim * 3);
    s.rows = malloc(block_floats * sizeof(float));
    s.encoded = malloc(block_floats * sizeof(float));
    int rc = (!s.w || !s.types || !s.rows || !s.encoded) ? mn_fail("out of memory") : 0;
    if (rc == 0) rc = mn_model_for_each_tensor(m, declare_tensor, &s);
    if (rc == 0) {
        mn_dtype main_type = MN_F32;
        uint64_t best = 0;
        for (int t = 0; t < 64; t++)
            if (s.elements_by_type[t] > best) best = s.elements_by_type[t], main_type = (mn_dtype)t;
        write_metadata(m, s.w, main_type);
        rc = write_vocab(m, s.w);
        if (rc == 0 && plan && plan->add_metadata) plan->add_metadata(plan->ctx, s.w);
    }
    if (rc == 0) rc = mn_gguf_begin(s.w, path);
    if (rc == 0) {
        mn_progress_begin(&s.bar, plan && plan->progress_label ? plan->progress_label : "convert", (uint64_t)count,
                          "tensors");
        if (!(plan && plan->progress_label)) s.bar.active = 0;
        rc = mn_model_for_each_tensor(m, write_tensor, &s);
        mn_progress_end(&s.bar);
    }
    if (rc == 0) rc = mn_gguf_finish(s.w);
    mn_gguf_writer_free(s.w);
    free(s.types);
    free(s.rows);
    free(s.encoded);
    free(freq_factors);
    return rc;
}

static mn_dtype convert_type(void *ctx, const mn_export_tensor *t) {
    const mn_dtype *want = ctx;
    return t->src->n_dims == 1 || mn_tensor_nrows(t->src) == 1 ? MN_F32 : *want;
}

int mn_model_convert_gguf(const mn_model *m, const char *path, mn_dtype type, bool keep_stored, bool progress) {
    mn_export_plan plan = {.tensor_type = keep_stored ? NULL : convert_type,
                           .ctx = &type,
                           .progress_label = progress ? "convert" : NULL};
    return mn_model_write_gguf(m, path, &plan);
}

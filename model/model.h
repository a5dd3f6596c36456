/* A decoder-only transformer (llama, qwen2, phi3 families) whose weights are typed views
 * over mapped checkpoint files, loaded from a Hugging Face directory, a GGUF file or a
 * llama2.c checkpoint. Every weight stays in its stored type; the forward pass widens
 * tiles to f32 as it goes (model/forward.h). */
#ifndef MN_MODEL_MODEL_H
#define MN_MODEL_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/tensor.h"
#include "text/tokenizer.h"

typedef enum { MN_ARCH_LLAMA, MN_ARCH_QWEN2, MN_ARCH_PHI3 } mn_arch;

typedef enum {
    /* Rotary pairs are (2i, 2i+1) within a head: Meta/llama2.c weights and GGUF "llama". */
    MN_ROPE_INTERLEAVED,
    /* Pairs are (i, i + head_dim/2): Hugging Face checkpoints, GGUF qwen2/phi3 ("neox"). */
    MN_ROPE_HALF,
} mn_rope_layout;

typedef enum { MN_SOURCE_HF, MN_SOURCE_GGUF, MN_SOURCE_LLAMA2C } mn_source_kind;

typedef struct {
    mn_arch arch;
    int n_vocab;
    int dim;
    int n_layers;
    int n_heads;
    int n_kv_heads;
    int head_dim;
    int ffn_dim;
    int ctx_train;
    float norm_eps;
    float rope_theta;
    mn_rope_layout rope_layout;
    /* rope scaling: 0 none, else "linear" divides positions by rope_factor and "llama3"
     * rescales frequencies (factor, low/high frequency factors, original context). */
    char rope_scaling[32];
    float rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_ctx;
    bool tied_embeddings;
} mn_hparams;

/* Roles of the weights inside a block; also names calibration taps. */
typedef enum {
    MN_W_ATTN_NORM,
    MN_W_Q,
    MN_W_K,
    MN_W_V,
    MN_W_QKV, /* phi3: fused [q; k; v] rows */
    MN_W_O,
    MN_W_FFN_NORM,
    MN_W_GATE,
    MN_W_UP,
    MN_W_GATE_UP, /* phi3: fused [gate; up] rows */
    MN_W_DOWN,
    MN_W_BQ,
    MN_W_BK,
    MN_W_BV,
    MN_W_COUNT, /* roles above live in every block; those below once per model */
    MN_W_TOKEN_EMBD,
    MN_W_OUTPUT_NORM,
    MN_W_OUTPUT,
    MN_W_ROPE_FREQS,
} mn_weight_role;

typedef struct {
    mn_tensor w[MN_W_COUNT]; /* data == NULL when the role is absent */
} mn_layer;

typedef struct {
    char key[64];
    char value[192];
} mn_meta;

typedef struct mn_model {
    char path[4096];
    mn_source_kind source;
    mn_hparams hp;
    mn_tensor tok_embd;
    mn_tensor output_norm;
    mn_tensor output; /* == tok_embd when tied */
    mn_tensor rope_freqs; /* llama3 frequency factors from a GGUF (optional) */
    mn_layer *layers;
    mn_tokenizer *tok;
    /* Provenance and quantization notes read from GGUF general.* / minnow.* keys. */
    int n_meta;
    mn_meta *meta;
    uint64_t file_bytes; /* bytes of the checkpoint files */
    void *backing;       /* the mapped source files (private); NULL for derived models */
    bool owns_tokenizer;
    void **owned; /* buffers owned by a derived model */
    int n_owned;
} mn_model;

typedef struct {
    const char *tokenizer_path; /* llama2.c checkpoints: tokenizer.bin (required) */
    bool skip_tokenizer;        /* tools that only need weights */
} mn_load_options;

/* path: a Hugging Face directory, a .safetensors file inside one, a GGUF file, or a llama2.c
 * .bin. Every tensor is checked for presence, type and shape before the model exists. */
mn_model *mn_model_load(const char *path, const mn_load_options *opt);
void mn_model_free(mn_model *m);

/* A model whose tensors start as views of src's (src must outlive it, and its tokenizer is
 * shared) and can then be replaced by buffers the new model owns: what pruning and
 * distillation build. */
mn_model *mn_model_derive(const mn_model *src);
/* Points *t at a new zeroed buffer of `type` owned by m, with shape [ne0] (ne1 == 1) or
 * [ne1][ne0]; returns the data or NULL (error recorded). */
void *mn_model_new_tensor(mn_model *m, mn_tensor *t, const char *name, mn_dtype type, int64_t ne0, int64_t ne1);

const char *mn_arch_name(mn_arch a);
uint64_t mn_model_n_params(const mn_model *m);
/* Bytes of all weight tensors as stored (for bits per weight). */
uint64_t mn_model_weight_bytes(const mn_model *m);
const char *mn_weight_role_name(mn_weight_role r);

/* Calls fn for every tensor of the model in GGUF order (token_embd, rope_freqs, blocks,
 * output_norm, output) with its llama.cpp name; layer is -1 for the per-model tensors. A tied
 * output is reported once, as token_embd. Stops at the first non-zero return. */
typedef int (*mn_tensor_visitor)(void *ctx, const char *gguf_name, const mn_tensor *t, int layer,
                                 mn_weight_role role);
int mn_model_for_each_tensor(const mn_model *m, mn_tensor_visitor fn, void *ctx);

/* llama.cpp's name for a role (e.g. "blk.3.attn_q.weight"; layer ignored for per-model roles). */
void mn_gguf_tensor_name(mn_weight_role role, int layer, char *buf, size_t cap);
/* Hugging Face's name for a role (e.g. "model.layers.3.self_attn.q_proj.weight"). */
void mn_hf_tensor_name(mn_weight_role role, int layer, char *buf, size_t cap);
/* The tensor of a role (layer ignored for per-model roles); NULL data when absent. */
const mn_tensor *mn_model_tensor(const mn_model *m, mn_weight_role role, int layer);

#endif

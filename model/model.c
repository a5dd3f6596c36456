#include "model/model.h"

#include <stdio.h>
#include <string.h>

typedef struct {
    const char *gguf;   /* suffix after "blk.N." or the whole name for per-model roles */
    const char *hf;     /* suffix after "model.layers.N." or the whole name */
    const char *label;  /* short name for reports */
} role_names;

static const role_names names[] = {
    [MN_W_ATTN_NORM] = {"attn_norm.weight", "input_layernorm.weight", "attn_norm"},
    [MN_W_Q] = {"attn_q.weight", "self_attn.q_proj.weight", "attn_q"},
    [MN_W_K] = {"attn_k.weight", "self_attn.k_proj.weight", "attn_k"},
    [MN_W_V] = {"attn_v.weight", "self_attn.v_proj.weight", "attn_v"},
    [MN_W_QKV] = {"attn_qkv.weight", "self_attn.qkv_proj.weight", "attn_qkv"},
    [MN_W_O] = {"attn_output.weight", "self_attn.o_proj.weight", "attn_output"},
    [MN_W_FFN_NORM] = {"ffn_norm.weight", "post_attention_layernorm.weight", "ffn_norm"},
    [MN_W_GATE] = {"ffn_gate.weight", "mlp.gate_proj.weight", "ffn_gate"},
    [MN_W_UP] = {"ffn_up.weight", "mlp.up_proj.weight", "ffn_up"},
    /* llama.cpp keeps phi3's fused [gate; up] under the ffn_up name */
    [MN_W_GATE_UP] = {"ffn_up.weight", "mlp.gate_up_proj.weight", "ffn_gate_up"},
    [MN_W_DOWN] = {"ffn_down.weight", "mlp.down_proj.weight", "ffn_down"},
    [MN_W_BQ] = {"attn_q.bias", "self_attn.q_proj.bias", "attn_q.bias"},
    [MN_W_BK] = {"attn_k.bias", "self_attn.k_proj.bias", "attn_k.bias"},
    [MN_W_BV] = {"attn_v.bias", "self_attn.v_proj.bias", "attn_v.bias"},
    [MN_W_TOKEN_EMBD] = {"token_embd.weight", "model.embed_tokens.weight", "token_embd"},
    [MN_W_OUTPUT_NORM] = {"output_norm.weight", "model.norm.weight", "output_norm"},
    [MN_W_OUTPUT] = {"output.weight", "lm_head.weight", "output"},
    [MN_W_ROPE_FREQS] = {"rope_freqs.weight", "", "rope_freqs"},
};

const char *mn_arch_name(mn_arch a) {
    switch (a) {
    case MN_ARCH_LLAMA: return "llama";
    case MN_ARCH_QWEN2: return "qwen2";
    case MN_ARCH_PHI3: return "phi3";
    }
    return "?";
}

const char *mn_weight_role_name(mn_weight_role r) { return names[r].label; }

void mn_gguf_tensor_name(mn_weight_role role, int layer, char *buf, size_t cap) {
    if (role < MN_W_COUNT) snprintf(buf, cap, "blk.%d.%s", layer, names[role].gguf);
    else snprintf(buf, cap, "%s", names[role].gguf);
}

void mn_hf_tensor_name(mn_weight_role role, int layer, char *buf, size_t cap) {
    if (role < MN_W_COUNT) snprintf(buf, cap, "model.layers.%d.%s", layer, names[role].hf);
    else snprintf(buf, cap, "%s", names[role].hf);
}

const mn_tensor *mn_model_tensor(const mn_model *m, mn_weight_role role, int layer) {
    switch (role) {
    case MN_W_TOKEN_EMBD: return &m->tok_embd;
    case MN_W_OUTPUT_NORM: return &m->output_norm;
    case MN_W_OUTPUT: return &m->output;
    case MN_W_ROPE_FREQS: return &m->rope_freqs;
    default: return &m->layers[layer].w[role];
    }
}

int mn_model_for_each_tensor(const mn_model *m, mn_tensor_visitor fn, void *ctx) {
    char name[128];
    int rc;
    mn_gguf_tensor_name(MN_W_TOKEN_EMBD, -1, name, sizeof name);
    if ((rc = fn(ctx, name, &m->tok_embd, -1, MN_W_TOKEN_EMBD))) return rc;
    if (m->rope_freqs.data) {
        mn_gguf_tensor_name(MN_W_ROPE_FREQS, -1, name, sizeof name);
        if ((rc = fn(ctx, name, &m->rope_freqs, -1, MN_W_ROPE_FREQS))) return rc;
    }
    for (int l = 0; l < m->hp.n_layers; l++)
        for (int r = 0; r < MN_W_COUNT; r++) {
            const mn_tensor *t = &m->layers[l].w[r];
            if (!t->data) continue;
            mn_gguf_tensor_name((mn_weight_role)r, l, name, sizeof name);
            if ((rc = fn(ctx, name, t, l, (mn_weight_role)r))) return rc;
        }
    mn_gguf_tensor_name(MN_W_OUTPUT_NORM, -1, name, sizeof name);
    if ((rc = fn(ctx, name, &m->output_norm, -1, MN_W_OUTPUT_NORM))) return rc;
    if (!m->hp.tied_embeddings) {
        mn_gguf_tensor_name(MN_W_OUTPUT, -1, name, sizeof name);
        if ((rc = fn(ctx, name, &m->output, -1, MN_W_OUTPUT))) return rc;
    }
    return 0;
}

static int count_tensor(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    uint64_t *totals = ctx;
    totals[0] += (uint64_t)mn_tensor_nelements(t);
    totals[1] += t->nbytes;
    return 0;
}

uint64_t mn_model_n_params(const mn_model *m) {
    uint64_t totals[2] = {0, 0};
    mn_model_for_each_tensor(m, count_tensor, totals);
    return totals[0];
}

uint64_t mn_model_weight_bytes(const mn_model *m) {
    uint64_t totals[2] = {0, 0};
    mn_model_for_each_tensor(m, count_tensor, totals);
    return totals[1];
}

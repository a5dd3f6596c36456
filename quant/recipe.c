#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "core/error.h"
#include "quant/quant_internal.h"

typedef struct {
    const char *name;
    mn_dtype base;
    int mix;
    int ftype; /* llama.cpp's LLAMA_FTYPE_MOSTLY_* */
} type_entry;

static const type_entry types[] = {
    {"q8_0", MN_Q8_0, 0, 7},   {"q6_k", MN_Q6_K, 0, 18},    {"q5_k_m", MN_Q5_K, 'm', 17}, {"q5_k", MN_Q5_K, 0, 16},
    {"q5_k_s", MN_Q5_K, 0, 16}, {"q5_1", MN_Q5_1, 0, 9},    {"q5_0", MN_Q5_0, 0, 8},      {"q4_k_m", MN_Q4_K, 'm', 15},
    {"q4_k", MN_Q4_K, 0, 14},  {"q4_k_s", MN_Q4_K, 0, 14},  {"q4_1", MN_Q4_1, 0, 3},      {"q4_0", MN_Q4_0, 0, 2},
    {"q3_k", MN_Q3_K, 0, 11},  {"q2_k", MN_Q2_K, 0, 10},
};

int mn_quant_type_parse(const char *name, mn_quant_type *out) {
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (!strcasecmp(name, types[i].name)) {
            memset(out, 0, sizeof *out);
            snprintf(out->name, sizeof out->name, "%s", types[i].name);
            out->base = types[i].base;
            out->mix = types[i].mix;
            out->llama_ftype = types[i].ftype;
            return 0;
        }
    return -1;
}

const char *mn_quant_type_names(void) {
    return "q8_0, q6_k, q5_k_m, q5_k, q5_1, q5_0, q4_k_m, q4_k, q4_1, q4_0, q3_k, q2_k";
}

static const char *const method_names[] = {"rtn", "imatrix", "gptq", "awq", "awq+gptq"};

int mn_quant_method_parse(const char *name, mn_quant_method *out) {
    for (int i = 0; i < 5; i++)
        if (!strcasecmp(name, method_names[i])) {
            *out = (mn_quant_method)i;
            return 0;
        }
    return -1;
}

const char *mn_quant_method_name(mn_quant_method m) { return method_names[m]; }

int mn_input_group_of(mn_weight_role role) {
    switch (role) {
    case MN_W_Q: case MN_W_K: case MN_W_V: case MN_W_QKV: return MN_IN_ATTN;
    case MN_W_O: return MN_IN_ATTN_O;
    case MN_W_GATE: case MN_W_UP: case MN_W_GATE_UP: return MN_IN_FFN;
    case MN_W_DOWN: return MN_IN_DOWN;
    default: return -1;
    }
}

mn_dtype mn_recipe_fallback(mn_dtype t, int64_t ne0) {
    if (ne0 % mn_dtype_block_size(t) == 0) return t;
    mn_dtype smaller;
    switch (t) {
    case MN_Q2_K:
    case MN_Q3_K: smaller = MN_Q4_0; break;
    case MN_Q4_K: smaller = MN_Q5_0; break;
    case MN_Q5_K: smaller = MN_Q5_1; break;
    case MN_Q6_K: smaller = MN_Q8_0; break;
    default: smaller = t;
    }
    return ne0 % mn_dtype_block_size(smaller) == 0 ? smaller : MN_F16;
}

/* llama.cpp gives these layers of attn_v and ffn_down more bits in its _m mixes: the first and
 * last eighth and every third layer in between. */
static int use_more_bits(int layer, int n_layers) {
    return layer < n_layers / 8 || layer >= 7 * n_layers / 8 || (layer - n_layers / 8) % 3 == 2;
}

mn_dtype mn_recipe_tensor_type(const mn_quant_type *qt, const mn_model *m, mn_weight_role role, int layer,
                               const mn_tensor *t) {
    if (t->n_dims == 1 || mn_tensor_nrows(t) == 1) return MN_F32;
    mn_dtype type = qt->base;
    const int n = m->hp.n_layers;
    const bool output = role == MN_W_OUTPUT || (role == MN_W_TOKEN_EMBD && m->hp.tied_embeddings);
    if (output) {
        /* every llama.cpp quant type but q8_0 writes the output layer as q6_k */
        if (type != MN_Q8_0) type = t->ne[0] % 256 ? MN_Q8_0 : MN_Q6_K;
        return type;
    }
    if (qt->mix == 'm') {
        bool k_mix = qt->base == MN_Q4_K || qt->base == MN_Q5_K;
        if ((role == MN_W_V || role == MN_W_DOWN) && k_mix && use_more_bits(layer, n)) type = MN_Q6_K;
        if (role == MN_W_QKV) type = qt->base == MN_Q4_K ? MN_Q5_K : MN_Q6_K;
    }
    return mn_recipe_fallback(type, t->ne[0]);
}

int mn_plan_slot(const mn_model *m, mn_weight_role role, int layer) {
    if (role < MN_W_COUNT) return layer * MN_W_COUNT + role;
    return m->hp.n_layers * MN_W_COUNT + (role - MN_W_TOKEN_EMBD);
}

mn_dtype mn_plan_tensor_type(const mn_type_plan *p, const mn_model *m, mn_weight_role role, int layer,
                             const mn_tensor *t) {
    if (p->chosen && !(t->n_dims == 1 || mn_tensor_nrows(t) == 1)) {
        /* a tied embedding is the output layer too: it gets the output's choice */
        if (role == MN_W_TOKEN_EMBD && m->hp.tied_embeddings) role = MN_W_OUTPUT;
        return p->chosen[mn_plan_slot(m, role, layer)];
    }
    return mn_recipe_tensor_type(p->qt, m, role, layer, t);
}

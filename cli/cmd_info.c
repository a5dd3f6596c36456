#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"

typedef enum { KIND_EMBEDDING, KIND_OUTPUT, KIND_ATTENTION, KIND_FFN, KIND_NORM, KIND_OTHER, KIND_COUNT } tensor_kind;
static const char *kind_names[KIND_COUNT] = {"embedding", "output", "attention", "ffn", "norm", "other"};

typedef struct {
    uint64_t params[KIND_COUNT], bytes[KIND_COUNT];
    int tensors[KIND_COUNT];
    uint64_t type_params[64];
    int type_tensors[64];
} census;

static tensor_kind kind_of(mn_weight_role role) {
    switch (role) {
    case MN_W_TOKEN_EMBD: return KIND_EMBEDDING;
    case MN_W_OUTPUT: return KIND_OUTPUT;
    case MN_W_Q: case MN_W_K: case MN_W_V: case MN_W_QKV: case MN_W_O: case MN_W_BQ: case MN_W_BK: case MN_W_BV:
        return KIND_ATTENTION;
    case MN_W_GATE: case MN_W_UP: case MN_W_GATE_UP: case MN_W_DOWN: return KIND_FFN;
    case MN_W_ATTN_NORM: case MN_W_FFN_NORM: case MN_W_OUTPUT_NORM: return KIND_NORM;
    default: return KIND_OTHER;
    }
}

static int count(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    census *c = ctx;
    tensor_kind k = kind_of(role);
    uint64_t n = (uint64_t)mn_tensor_nelements(t);
    c->params[k] += n;
    c->bytes[k] += t->nbytes;
    c->tensors[k]++;
    if ((unsigned)t->type < 64) {
        c->type_params[t->type] += n;
        c->type_tensors[t->type]++;
    }
    return 0;
}

static const char *source_name(mn_source_kind k) {
    return k == MN_SOURCE_HF ? "Hugging Face" : k == MN_SOURCE_GGUF ? "GGUF" : "llama2.c";
}

static void print_json(const mn_model *m, const census *c, uint64_t params, uint64_t bytes) {
    const mn_hparams *hp = &m->hp;
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "model", m->path);
    cJSON_AddStringToObject(o, "format", source_name(m->source));
    cJSON_AddStringToObject(o, "architecture", mn_arch_name(hp->arch));
    cJSON_AddNumberToObject(o, "dim", hp->dim);
    cJSON_AddNumberToObject(o, "layers", hp->n_layers);
    cJSON_AddNumberToObject(o, "heads", hp->n_heads);
    cJSON_AddNumberToObject(o, "kv_heads", hp->n_kv_heads);
    cJSON_AddNumberToObject(o, "head_dim", hp->head_dim);
    cJSON_AddNumberToObject(o, "ffn_dim", hp->ffn_dim);
    cJSON_AddNumberToObject(o, "vocab", hp->n_vocab);
    cJSON_AddNumberToObject(o, "context_length", hp->ctx_train);
    cJSON_AddNumberToObject(o, "rope_theta", hp->rope_theta);
    cJSON_AddNumberToObject(o, "norm_eps", hp->norm_eps);
    cJSON_AddBoolToObject(o, "tied_embeddings", hp->tied_embeddings);
    cJSON_AddNumberToObject(o, "params", (double)params);
    cJSON_AddNumberToObject(o, "weight_bytes", (double)bytes);
    cJSON_AddNumberToObject(o, "file_bytes", (double)m->file_bytes);
    cJSON_AddNumberToObject(o, "bits_per_weight", params ? 8.0 * (double)bytes / (double)params : 0);
    cJSON *types = cJSON_AddObjectToObject(o, "types");
    for (int t = 0; t < 64; t++)
        if (c->type_tensors[t]) {
            cJSON *e = cJSON_AddObjectToObject(types, mn_dtype_name((mn_dtype)t));
            cJSON_AddNumberToObject(e, "tensors", c->type_tensors[t]);
            cJSON_AddNumberToObject(e, "params", (double)c->type_params[t]);
        }
    cJSON *kinds = cJSON_AddObjectToObject(o, "kinds");
    for (int k = 0; k < KIND_COUNT; k++)
        if (c->tensors[k]) {
            cJSON *e = cJSON_AddObjectToObject(kinds, kind_names[k]);
            cJSON_AddNumberToObject(e, "tensors", c->tensors[k]);
            cJSON_AddNumberToObject(e, "params", (double)c->params[k]);
            cJSON_AddNumberToObject(e, "bytes", (double)c->bytes[k]);
        }
    const mn_vocab *v = mn_tokenizer_vocab(m->tok);
    cJSON *tok = cJSON_AddObjectToObject(o, "tokenizer");
    cJSON_AddStringToObject(tok, "kind", v->kind == MN_VOCAB_SPM ? "spm" : "bpe");
    cJSON_AddStringToObject(tok, "pre", v->pre);
    cJSON_AddNumberToObject(tok, "tokens", v->n_tokens);
    cJSON_AddNumberToObject(tok, "bos", v->bos_id);
    cJSON_AddNumberToObject(tok, "eos", v->eos_id);
    cJSON_AddBoolToObject(tok, "add_bos", v->add_bos);
    cJSON *meta = cJSON_AddObjectToObject(o, "metadata");
    for (int i = 0; i < m->n_meta; i++) cJSON_AddStringToObject(meta, m->meta[i].key, m->meta[i].value);
    char *s = cJSON_Print(o);
    printf("%s\n", s);
    free(s);
    cJSON_Delete(o);
}

static void print_text(const mn_model *m, const census *c, uint64_t params, uint64_t bytes) {
    const mn_hparams *hp = &m->hp;
    char size[32];
    cli_format_bytes((double)m->file_bytes, size, sizeof size);
    printf("model          %s (%s, %s)\n", m->path, source_name(m->source), size);
    printf("architecture   %s, rotary pairs %s%s%s\n", mn_arch_name(hp->arch),
           hp->rope_layout == MN_ROPE_INTERLEAVED ? "interleaved" : "half-split",
           hp->rope_scaling[0] ? ", rope scaling " : "", hp->rope_scaling);
    printf("dimensions     dim %d, %d layers, %d heads (%d kv, head dim %d), ffn %d, vocab %d, context %d\n",
           hp->dim, hp->n_layers, hp->n_heads, hp->n_kv_heads, hp->head_dim, hp->ffn_dim, hp->n_vocab, hp->ctx_train);
    printf("parameters     %llu (%.2fM; without embeddings %.2fM)%s\n", (unsigned long long)params, params / 1e6,
           (params - c->params[KIND_EMBEDDING] - (hp->tied_embeddings ? 0 : c->params[KIND_OUTPUT])) / 1e6,
           hp->tied_embeddings ? ", tied embeddings" : "");
    printf("weights        %.2f bits per weight\n", params ? 8.0 * (double)bytes / (double)params : 0);
    printf("\n  %-10s %8s %14s %12s\n", "type", "tensors", "params", "share");
    for (int t = 0; t < 64; t++)
        if (c->type_tensors[t])
            printf("  %-10s %8d %14llu %11.1f%%\n", mn_dtype_name((mn_dtype)t), c->type_tensors[t],
                   (unsigned long long)c->type_params[t], 100.0 * (double)c->type_params[t] / (double)params);
    printf("\n  %-10s %8s %14s %12s\n", "kind", "tensors", "params", "bytes");
    for (int k = 0; k < KIND_COUNT; k++)
        if (c->tensors[k]) {
            char b[32];
            cli_format_bytes((double)c->bytes[k], b, sizeof b);
            printf("  %-10s %8d %14llu %12s\n", kind_names[k], c->tensors[k], (unsigned long long)c->params[k], b);
        }
    const mn_vocab *v = mn_tokenizer_vocab(m->tok);
    printf("\ntokenizer      %s, %d tokens%s%s, bos %d, eos %d, %s BOS\n",
           v->kind == MN_VOCAB_SPM ? "SentencePiece BPE" : "byte-level BPE", v->n_tokens, v->pre[0] ? ", pre " : "",
           v->pre, v->bos_id, v->eos_id, v->add_bos ? "adds" : "no");
    if (m->n_meta) printf("\nmetadata\n");
    for (int i = 0; i < m->n_meta; i++) printf("  %-32s %s\n", m->meta[i].key, m->meta[i].value);
}

int cmd_info(int argc, char **argv) {
    const char *tokenizer = NULL;
    bool json = false;
    const mn_opt opts[] = {
        {"--tokenizer", NULL, MN_OPT_STRING, &tokenizer, "tokenizer file (llama2.c checkpoints, overrides)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print one JSON object on stdout"},
        {NULL},
    };
    const mn_command_spec spec = {"info", "MODEL [--json]",
                                  "Architecture, dimensions, parameters, tensor types, bytes by tensor kind, "
                                  "tokenizer and provenance metadata of a model.",
                                  opts, 1, 1};
    const char *pos[1];
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, pos, &n_pos);
    if (rc >= 0) return rc;
    mn_model *m = cli_load_model(pos[0], tokenizer);
    if (!m) return MN_EXIT_ERROR;
    census c;
    memset(&c, 0, sizeof c);
    mn_model_for_each_tensor(m, count, &c);
    uint64_t params = mn_model_n_params(m), bytes = mn_model_weight_bytes(m);
    if (json) print_json(m, &c, params, bytes);
    else print_text(m, &c, params, bytes);
    mn_model_free(m);
    return MN_EXIT_OK;
}

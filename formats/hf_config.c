#include "formats/hf_config.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"

static int get_int(const char *path, const cJSON *root, const char *key, int *out, int fallback, bool required) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return mn_fail("%s: missing %s", path, key);
        *out = fallback;
        return 0;
    }
    /* range first: converting an out-of-range double to int is undefined */
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= INT_MAX) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return mn_fail("%s: %s is not a non-negative integer", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int get_double(const char *path, const cJSON *root, const char *key, double *out, double fallback) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) {
        *out = fallback;
        return 0;
    }
    if (!cJSON_IsNumber(v)) return mn_fail("%s: %s is not a number", path, key);
    *out = v->valuedouble;
    return 0;
}

static void get_string(const cJSON *root, const char *key, char *out, size_t cap) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    out[0] = 0;
    if (cJSON_IsString(v)) snprintf(out, cap, "%s", v->valuestring);
}

/* eos_token_id may be a list (Llama-3 instruct); the first entry is the one GGUF records. */
static int get_token_id(const char *path, const cJSON *root, const char *key, int *out) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (cJSON_IsArray(v)) v = cJSON_GetArrayItem(v, 0);
    *out = -1;
    if (!v || cJSON_IsNull(v)) return 0;
    if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= INT_MAX) ||
        v->valuedouble != (double)(int)v->valuedouble)
        return mn_fail("%s: %s is not a token id", path, key);
    *out = (int)v->valuedouble;
    return 0;
}

static int read_rope_scaling(const char *path, const cJSON *root, mn_hf_config *c) {
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(root, "rope_scaling");
    if (!rs || cJSON_IsNull(rs)) return 0;
    if (!cJSON_IsObject(rs)) return mn_fail("%s: rope_scaling is not an object", path);
    char type[32];
    get_string(rs, "rope_type", type, sizeof type);
    if (!type[0]) get_string(rs, "type", type, sizeof type);
    if (!strcmp(type, "default") || !type[0]) return 0;
    if (strcmp(type, "linear") != 0 && strcmp(type, "llama3") != 0)
        return mn_fail("%s: unsupported rope_scaling type \"%s\" (minnow supports linear and llama3)", path, type);
    snprintf(c->rope_scaling_type, sizeof c->rope_scaling_type, "%s", type);
    if (get_double(path, rs, "factor", &c->rope_factor, 1.0) || c->rope_factor <= 0)
        return mn_fail("%s: rope_scaling.factor must be positive", path);
    if (!strcmp(type, "llama3")) {
        if (get_double(path, rs, "low_freq_factor", &c->rope_low_freq_factor, 1.0) ||
            get_double(path, rs, "high_freq_factor", &c->rope_high_freq_factor, 4.0) ||
            get_int(path, rs, "original_max_position_embeddings", &c->rope_original_max_positions, 8192, false))
            return -1;
        if (c->rope_high_freq_factor <= c->rope_low_freq_factor)
            return mn_fail("%s: rope_scaling high_freq_factor must exceed low_freq_factor", path);
    }
    return 0;
}

int mn_hf_config_read(const char *path, mn_hf_config *c) {
    memset(c, 0, sizeof *c);
    char *text = mn_read_file(path, NULL);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mn_fail("%s: not a JSON object", path);
    }
    int rc = 0;
    get_string(root, "model_type", c->model_type, sizeof c->model_type);
    const cJSON *archs = cJSON_GetObjectItemCaseSensitive(root, "architectures");
    if (cJSON_IsArray(archs) && cJSON_IsString(cJSON_GetArrayItem(archs, 0)))
        snprintf(c->architecture, sizeof c->architecture, "%s", cJSON_GetArrayItem(archs, 0)->valuestring);
    get_string(root, "torch_dtype", c->torch_dtype, sizeof c->torch_dtype);
    if (!c->model_type[0]) rc = mn_fail("%s: missing model_type", path);
    if (rc == 0)
        rc = get_int(path, root, "hidden_size", &c->hidden_size, 0, true) ||
             get_int(path, root, "intermediate_size", &c->intermediate_size, 0, true) ||
             get_int(path, root, "num_hidden_layers", &c->num_hidden_layers, 0, true) ||
             get_int(path, root, "num_attention_heads", &c->num_attention_heads, 0, true) ||
             get_int(path, root, "vocab_size", &c->vocab_size, 0, true) ||
             get_int(path, root, "max_position_embeddings", &c->max_position_embeddings, 2048, false) ||
             get_double(path, root, "rms_norm_eps", &c->rms_norm_eps, 1e-6) ||
             get_double(path, root, "rope_theta", &c->rope_theta, 10000.0) ||
             get_token_id(path, root, "bos_token_id", &c->bos_token_id) ||
             get_token_id(path, root, "eos_token_id", &c->eos_token_id) || read_rope_scaling(path, root, c)
                 ? -1
                 : 0;
    if (rc == 0)
        rc = get_int(path, root, "num_key_value_heads", &c->num_key_value_heads, c->num_attention_heads, false);
    if (rc == 0 && c->num_attention_heads > 0)
        rc = get_int(path, root, "head_dim", &c->head_dim, c->hidden_size / c->num_attention_heads, false);
    if (rc == 0) {
        const cJSON *tie = cJSON_GetObjectItemCaseSensitive(root, "tie_word_embeddings");
        /* LlamaConfig, Qwen2Config and Phi3Config default to untied; a checkpoint without
         * lm_head.weight is treated as tied by the model loader anyway */
        c->tie_word_embeddings = cJSON_IsBool(tie) ? cJSON_IsTrue(tie) : false;
    }
    cJSON_Delete(root);
    if (rc != 0) return -1;
    if (c->hidden_size <= 0 || c->num_hidden_layers <= 0 || c->num_attention_heads <= 0 || c->vocab_size <= 0 ||
        c->intermediate_size <= 0 || c->num_key_value_heads <= 0 || c->head_dim <= 0)
        return mn_fail("%s: sizes must be positive", path);
    if (c->num_attention_heads % c->num_key_value_heads)
        return mn_fail("%s: num_attention_heads %d is not a multiple of num_key_value_heads %d", path,
                       c->num_attention_heads, c->num_key_value_heads);
    if (c->head_dim % 2) return mn_fail("%s: head_dim %d is odd; rotary embeddings need pairs", path, c->head_dim);
    /* 1e999 parses as infinity, which no checkpoint means and JSON cannot write back */
    if (!(c->rms_norm_eps > 0) || !(c->rope_theta > 0) || !isfinite(c->rms_norm_eps) || !isfinite(c->rope_theta))
        return mn_fail("%s: rms_norm_eps and rope_theta must be positive and finite", path);
    if (!isfinite(c->rope_factor) || !isfinite(c->rope_low_freq_factor) || !isfinite(c->rope_high_freq_factor))
        return mn_fail("%s: rope_scaling factors must be finite", path);
    return 0;
}

int mn_hf_config_write(const char *path, const mn_hf_config *c) {
    cJSON *root = cJSON_CreateObject();
    cJSON *archs = cJSON_AddArrayToObject(root, "architectures");
    cJSON_AddItemToArray(archs, cJSON_CreateString(c->architecture));
    cJSON_AddStringToObject(root, "model_type", c->model_type);
    cJSON_AddNumberToObject(root, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(root, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(root, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(root, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(root, "num_key_value_heads", c->num_key_value_heads);
    if (c->head_dim != c->hidden_size / c->num_attention_heads) cJSON_AddNumberToObject(root, "head_dim", c->head_dim);
    cJSON_AddNumberToObject(root, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(root, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddNumberToObject(root, "rms_norm_eps", c->rms_norm_eps);
    cJSON_AddNumberToObject(root, "rope_theta", c->rope_theta);
    if (c->rope_scaling_type[0]) {
        cJSON *rs = cJSON_AddObjectToObject(root, "rope_scaling");
        cJSON_AddStringToObject(rs, "rope_type", c->rope_scaling_type);
        cJSON_AddNumberToObject(rs, "factor", c->rope_factor);
        if (!strcmp(c->rope_scaling_type, "llama3")) {
            cJSON_AddNumberToObject(rs, "low_freq_factor", c->rope_low_freq_factor);
            cJSON_AddNumberToObject(rs, "high_freq_factor", c->rope_high_freq_factor);
            cJSON_AddNumberToObject(rs, "original_max_position_embeddings", c->rope_original_max_positions);
        }
    }
    cJSON_AddStringToObject(root, "hidden_act", "silu");
    cJSON_AddBoolToObject(root, "tie_word_embeddings", c->tie_word_embeddings);
    if (c->bos_token_id >= 0) cJSON_AddNumberToObject(root, "bos_token_id", c->bos_token_id);
    if (c->eos_token_id >= 0) cJSON_AddNumberToObject(root, "eos_token_id", c->eos_token_id);
    cJSON_AddStringToObject(root, "torch_dtype", c->torch_dtype[0] ? c->torch_dtype : "float16");
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text) return mn_fail("%s: out of memory", path);
    size_t len = strlen(text);
    int rc = mn_out_write_whole(path, text, len);
    free(text);
    return rc;
}

/* Hugging Face config.json: the hyperparameters of llama, qwen2 and phi3 checkpoints. */
#ifndef MN_FORMATS_HF_CONFIG_H
#define MN_FORMATS_HF_CONFIG_H

#include <stdbool.h>

typedef struct {
    char model_type[32];   /* "llama", "qwen2", "phi3", "mistral" */
    char architecture[64]; /* architectures[0], e.g. "LlamaForCausalLM" */
    int hidden_size;
    int intermediate_size;
    int num_hidden_layers;
    int num_attention_heads;
    int num_key_value_heads; /* defaults to num_attention_heads */
    int head_dim;            /* defaults to hidden_size / num_attention_heads */
    int vocab_size;
    int max_position_embeddings;
    double rms_norm_eps;
    double rope_theta;
    bool tie_word_embeddings;
    int bos_token_id, eos_token_id; /* -1 when absent */
    char torch_dtype[16];
    /* rope_scaling: type "" (none), "linear" or "llama3". */
    char rope_scaling_type[32];
    double rope_factor, rope_low_freq_factor, rope_high_freq_factor;
    int rope_original_max_positions;
} mn_hf_config;

int mn_hf_config_read(const char *path, mn_hf_config *c);
/* Writes config.json for a (pruned or distilled) model, atomically. */
int mn_hf_config_write(const char *path, const mn_hf_config *c);

#endif

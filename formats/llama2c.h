/* llama2.c checkpoints (the legacy "v0" fp32 export of karpathy/llama2.c): a 7-int header
 * then fp32 tensors in a fixed order. A negative vocab_size means the classifier is stored
 * separately; otherwise it shares the token embedding. The tensors are exposed under GGUF
 * (llama.cpp) names; their Q/K rows are already in the interleaved rotary layout GGUF's
 * llama architecture uses. */
#ifndef MN_FORMATS_LLAMA2C_H
#define MN_FORMATS_LLAMA2C_H

#include <stdbool.h>

#include "core/mapped_file.h"
#include "core/tensor.h"

typedef struct {
    mn_mapped_file file;
    int dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
    bool shared_classifier;
    int n_tensors;
    mn_tensor *tensors;
} mn_llama2c;

int mn_llama2c_open(const char *path, mn_llama2c *m);
void mn_llama2c_close(mn_llama2c *m);
const mn_tensor *mn_llama2c_find(const mn_llama2c *m, const char *name);

#endif

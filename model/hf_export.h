/* Writing a model as a Hugging Face directory (config.json, model.safetensors, tokenizer
 * files) that transformers and llama.cpp's converter read, e.g. a pruned or distilled student.
 * The directory appears complete or not at all. */
#ifndef MN_MODEL_HF_EXPORT_H
#define MN_MODEL_HF_EXPORT_H

#include "model/model.h"

/* type: MN_F16, MN_BF16 or MN_F32 for every tensor. Q/K rows are written in Hugging Face's
 * half-split rotary layout whatever layout the model holds. Tokenizer files are copied from a
 * Hugging Face source; other sources get tokenizer.gguf (which minnow reads from a directory). */
int mn_model_write_hf(const mn_model *m, const char *dir, mn_dtype type);

#endif

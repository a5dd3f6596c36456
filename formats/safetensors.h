/* Safetensors reading (single files and sharded checkpoints with model.safetensors.index.json),
 * memory-mapped. The JSON header is validated against the file before any tensor exists:
 * dtypes (F32, F16, BF16), shapes, byte ranges inside the data section, no overlaps. */
#ifndef MN_FORMATS_SAFETENSORS_H
#define MN_FORMATS_SAFETENSORS_H

#include "core/mapped_file.h"
#include "core/tensor.h"

typedef struct {
    int n_files;
    mn_mapped_file *files;
    int n_tensors;
    mn_tensor *tensors;
    /* Index into files[] for each tensor (error messages name the shard). */
    int *tensor_file;
} mn_safetensors;

int mn_safetensors_open(const char *path, mn_safetensors *st);
/* A Hugging Face directory: model.safetensors, or the shards listed in
 * model.safetensors.index.json. */
int mn_safetensors_open_dir(const char *dir, mn_safetensors *st);
void mn_safetensors_close(mn_safetensors *st);
const mn_tensor *mn_safetensors_find(const mn_safetensors *st, const char *name);

#endif

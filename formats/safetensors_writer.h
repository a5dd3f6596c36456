/* Safetensors writing, streamed like the GGUF writer: declare every tensor (name, dtype,
 * shape), begin() writes the JSON header, then each tensor's bytes follow in declaration
 * order. Output is atomic (core/out_file.h). Shapes are given in ggml order (ne[0] innermost)
 * and written outermost-first as safetensors expects. */
#ifndef MN_FORMATS_SAFETENSORS_WRITER_H
#define MN_FORMATS_SAFETENSORS_WRITER_H

#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"

typedef struct mn_st_writer mn_st_writer;

mn_st_writer *mn_st_writer_new(void);
void mn_st_writer_free(mn_st_writer *w); /* removes the partial output if not finished */
/* type: MN_F32, MN_F16 or MN_BF16. */
int mn_st_add_tensor(mn_st_writer *w, const char *name, mn_dtype type, int n_dims, const int64_t *ne);
/* An optional "__metadata__" string entry. */
int mn_st_set_metadata(mn_st_writer *w, const char *key, const char *value);
int mn_st_begin(mn_st_writer *w, const char *path);
/* Bytes of the next declared tensor; may be called repeatedly with consecutive pieces. */
int mn_st_write_data(mn_st_writer *w, const void *data, size_t nbytes);
int mn_st_finish(mn_st_writer *w);

#endif

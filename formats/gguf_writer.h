/* GGUF v3 writing, streamed: set metadata, declare every tensor (name, type, shape), then
 * begin() writes the header and tensor directory and each tensor's bytes follow in the
 * order they were declared, so a converter holds one tensor in memory at a time. The output
 * goes through core/out_file.h: it appears complete at finish() or not at all. */
#ifndef MN_FORMATS_GGUF_WRITER_H
#define MN_FORMATS_GGUF_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/dtype.h"
#include "formats/gguf.h"

typedef struct mn_gguf_writer mn_gguf_writer;

mn_gguf_writer *mn_gguf_writer_new(void);
/* Frees the writer; removes the partial output if finish() was not reached. */
void mn_gguf_writer_free(mn_gguf_writer *w);

/* Setting a key twice replaces the earlier value (keeps its position). */
void mn_gguf_set_u32(mn_gguf_writer *w, const char *key, uint32_t v);
void mn_gguf_set_i32(mn_gguf_writer *w, const char *key, int32_t v);
void mn_gguf_set_u64(mn_gguf_writer *w, const char *key, uint64_t v);
void mn_gguf_set_f32(mn_gguf_writer *w, const char *key, float v);
void mn_gguf_set_bool(mn_gguf_writer *w, const char *key, bool v);
void mn_gguf_set_str(mn_gguf_writer *w, const char *key, const char *v);
/* Arrays are copied. */
void mn_gguf_set_arr_str(mn_gguf_writer *w, const char *key, const char *const *v, size_t n);
void mn_gguf_set_arr_f32(mn_gguf_writer *w, const char *key, const float *v, size_t n);
void mn_gguf_set_arr_i32(mn_gguf_writer *w, const char *key, const int32_t *v, size_t n);
/* Copies a key/value pair read from another GGUF (any type, including arrays). */
void mn_gguf_copy_kv(mn_gguf_writer *w, const mn_gguf_kv *kv);
void mn_gguf_remove_key(mn_gguf_writer *w, const char *key);

/* ne[0] is the row length (ggml order). Returns the tensor's index. */
int mn_gguf_add_tensor(mn_gguf_writer *w, const char *name, mn_dtype type, int n_dims, const int64_t *ne);
size_t mn_gguf_tensor_bytes(const mn_gguf_writer *w, int index);

/* Opens the output (temporary) and writes header, metadata and tensor directory. */
int mn_gguf_begin(mn_gguf_writer *w, const char *path);
/* Appends the bytes of the next declared tensor; nbytes must equal its declared size. May be
 * called several times per tensor with consecutive pieces (a row block at a time). */
int mn_gguf_write_tensor_data(mn_gguf_writer *w, const void *data, size_t nbytes);
/* Checks every tensor was written, fsyncs and renames into place. */
int mn_gguf_finish(mn_gguf_writer *w);

#endif

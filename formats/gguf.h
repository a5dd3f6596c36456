/* GGUF (v2/v3) reading: metadata and tensor directory, validated against the file size
 * before anything is allocated, over a read-only mapping. Tensors are views into the map.
 * Spec: ggml's docs/gguf.md. */
#ifndef MN_FORMATS_GGUF_H
#define MN_FORMATS_GGUF_H

#include <stdbool.h>
#include <stdint.h>

#include "core/mapped_file.h"
#include "core/tensor.h"

typedef enum {
    MN_GGUF_U8 = 0,
    MN_GGUF_I8 = 1,
    MN_GGUF_U16 = 2,
    MN_GGUF_I16 = 3,
    MN_GGUF_U32 = 4,
    MN_GGUF_I32 = 5,
    MN_GGUF_F32 = 6,
    MN_GGUF_BOOL = 7,
    MN_GGUF_STRING = 8,
    MN_GGUF_ARRAY = 9,
    MN_GGUF_U64 = 10,
    MN_GGUF_I64 = 11,
    MN_GGUF_F64 = 12,
} mn_gguf_type;

/* A string inside the mapping: not NUL-terminated. */
typedef struct {
    const char *ptr;
    uint64_t len;
} mn_gguf_str;

typedef struct {
    char *key;
    mn_gguf_type type;
    /* Scalars: value points at the bytes in the file; strings: str. */
    const uint8_t *value;
    mn_gguf_str str;
    /* Arrays: element type and count; elements start at `value`. String arrays also get
     * `strings`, an index built while validating. */
    mn_gguf_type arr_type;
    uint64_t arr_len;
    mn_gguf_str *strings;
} mn_gguf_kv;

typedef struct {
    mn_mapped_file file;
    uint32_t version;
    uint64_t n_kv;
    mn_gguf_kv *kv;
    uint64_t n_tensors;
    mn_tensor *tensors;
    uint64_t alignment;
    uint64_t data_offset;
} mn_gguf;

int mn_gguf_open(const char *path, mn_gguf *g);
void mn_gguf_close(mn_gguf *g);
/* True when the file starts with the GGUF magic (cheap sniffing for loaders). */
bool mn_gguf_sniff(const char *path);

const mn_gguf_kv *mn_gguf_find(const mn_gguf *g, const char *key);
const mn_tensor *mn_gguf_tensor(const mn_gguf *g, const char *name);

/* Typed getters. They return 0 when the key exists with a compatible type, and -1 without
 * recording an error when it is missing; a key of the wrong type records an error naming the
 * file and key. Integers of any width convert when the value fits. */
int mn_gguf_get_int(const mn_gguf *g, const char *key, int64_t *out);
int mn_gguf_get_float(const mn_gguf *g, const char *key, double *out);
int mn_gguf_get_bool(const mn_gguf *g, const char *key, bool *out);
/* Returns a malloc'd NUL-terminated copy, or NULL. */
char *mn_gguf_get_string(const mn_gguf *g, const char *key);
/* Array element access for numeric arrays (converted); index must be < arr_len. */
double mn_gguf_array_number(const mn_gguf_kv *kv, uint64_t i);
int mn_gguf_type_size(mn_gguf_type t); /* 0 for strings/arrays */

#endif

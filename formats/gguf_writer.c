#include "formats/gguf_writer.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/out_file.h"

typedef struct {
    char *key;
    mn_gguf_type type;
    mn_gguf_type arr_type;
    uint64_t count;   /* array elements */
    uint8_t *payload; /* scalar bytes, string bytes, or array elements */
    size_t payload_len;
    char **strings; /* string arrays */
    uint64_t *string_lens;
} writer_kv;

typedef struct {
    char name[MN_MAX_NAME];
    mn_dtype type;
    int n_dims;
    int64_t ne[MN_MAX_DIMS];
    size_t nbytes;
    uint64_t offset;
} writer_tensor;

struct mn_gguf_writer {
    writer_kv *kv;
    size_t n_kv, cap_kv;
    writer_tensor *tensors;
    size_t n_tensors, cap_tensors;
    int out_of_memory;
    mn_out_file *out;
    size_t next_tensor;
    size_t written_of_current;
    uint64_t data_start;
    uint64_t alignment; /* general.alignment when set, else ALIGNMENT; fixed by begin() */
};

#define ALIGNMENT 32

mn_gguf_writer *mn_gguf_writer_new(void) { return calloc(1, sizeof(mn_gguf_writer)); }

static void free_kv(writer_kv *kv) {
    free(kv->key);
    free(kv->payload);
    if (kv->strings)
        for (uint64_t i = 0; i < kv->count; i++) free(kv->strings[i]);
    free(kv->strings);
    free(kv->string_lens);
    memset(kv, 0, sizeof *kv);
}

void mn_gguf_writer_free(mn_gguf_writer *w) {
    if (!w) return;
    for (size_t i = 0; i < w->n_kv; i++) free_kv(&w->kv[i]);
    free(w->kv);
    free(w->tensors);
    mn_out_abort(w->out);
    free(w);
}

/* Returns a cleared slot for `key`, reusing the slot of an earlier value. */
static writer_kv *slot_for(mn_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            char *k = w->kv[i].key;
            w->kv[i].key = NULL;
            free_kv(&w->kv[i]);
            w->kv[i].key = k;
            return &w->kv[i];
        }
    if (w->n_kv == w->cap_kv) {
        size_t cap = w->cap_kv ? w->cap_kv * 2 : 32;
        writer_kv *grown = realloc(w->kv, cap * sizeof *grown);
        if (!grown) {
            w->out_of_memory = 1;
            return NULL;
        }
        w->kv = grown;
        w->cap_kv = cap;
    }
    writer_kv *kv = &w->kv[w->n_kv];
    memset(kv, 0, sizeof *kv);
    kv->key = strdup(key);
    if (!kv->key) {
        w->out_of_memory = 1;
        return NULL;
    }
    w->n_kv++;
    return kv;
}

/* Stores a scalar, a string, or a numeric array (count elements of arr_type). */
static void set_value(mn_gguf_writer *w, const char *key, mn_gguf_type type, mn_gguf_type arr_type, uint64_t count,
                      const void *bytes, size_t n) {
    writer_kv *kv = slot_for(w, key);
    if (!kv) return;
    kv->type = type;
    kv->arr_type = arr_type;
    kv->count = count;
    kv->payload = malloc(n ? n : 1);
    if (!kv->payload) {
        w->out_of_memory = 1;
        return;
    }
    if (n) memcpy(kv->payload, bytes, n);
    kv->payload_len = n;
}

void mn_gguf_set_u32(mn_gguf_writer *w, const char *key, uint32_t v) { set_value(w, key, MN_GGUF_U32, 0, 0, &v, 4); }
void mn_gguf_set_i32(mn_gguf_writer *w, const char *key, int32_t v) { set_value(w, key, MN_GGUF_I32, 0, 0, &v, 4); }
void mn_gguf_set_u64(mn_gguf_writer *w, const char *key, uint64_t v) { set_value(w, key, MN_GGUF_U64, 0, 0, &v, 8); }
void mn_gguf_set_f32(mn_gguf_writer *w, const char *key, float v) { set_value(w, key, MN_GGUF_F32, 0, 0, &v, 4); }
void mn_gguf_set_bool(mn_gguf_writer *w, const char *key, bool v) {
    uint8_t b = v;
    set_value(w, key, MN_GGUF_BOOL, 0, 0, &b, 1);
}
void mn_gguf_set_str(mn_gguf_writer *w, const char *key, const char *v) {
    set_value(w, key, MN_GGUF_STRING, 0, 0, v, strlen(v));
}
void mn_gguf_set_arr_f32(mn_gguf_writer *w, const char *key, const float *v, size_t n) {
    set_value(w, key, MN_GGUF_ARRAY, MN_GGUF_F32, n, v, n * 4);
}
void mn_gguf_set_arr_i32(mn_gguf_writer *w, const char *key, const int32_t *v, size_t n) {
    set_value(w, key, MN_GGUF_ARRAY, MN_GGUF_I32, n, v, n * 4);
}

static void set_string_array(mn_gguf_writer *w, const char *key, uint64_t n, const char *const *ptrs,
                             const uint64_t *lens) {
    writer_kv *kv = slot_for(w, key);
    if (!kv) return;
    kv->type = MN_GGUF_ARRAY;
    kv->arr_type = MN_GGUF_STRING;
    kv->strings = calloc(n ? n : 1, sizeof *kv->strings);
    kv->string_lens = calloc(n ? n : 1, sizeof *kv->string_lens);
    if (!kv->strings || !kv->string_lens) {
        w->out_of_memory = 1;
        return;
    }
    kv->count = n;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t len = lens ? lens[i] : strlen(ptrs[i]);
        kv->strings[i] = malloc(len + 1);
        if (!kv->strings[i]) {
            w->out_of_memory = 1;
            return;
        }
        memcpy(kv->strings[i], ptrs[i], len);
        kv->strings[i][len] = 0;
        kv->string_lens[i] = len;
    }
}

void mn_gguf_set_arr_str(mn_gguf_writer *w, const char *key, const char *const *v, size_t n) {
    set_string_array(w, key, n, v, NULL);
}

void mn_gguf_copy_kv(mn_gguf_writer *w, const mn_gguf_kv *kv) {
    if (kv->type == MN_GGUF_STRING) {
        set_value(w, kv->key, MN_GGUF_STRING, 0, 0, kv->str.ptr, kv->str.len);
    } else if (kv->type == MN_GGUF_ARRAY && kv->arr_type == MN_GGUF_STRING) {
        const char **ptrs = malloc((kv->arr_len ? kv->arr_len : 1) * sizeof *ptrs);
        uint64_t *lens = malloc((kv->arr_len ? kv->arr_len : 1) * sizeof *lens);
        if (!ptrs || !lens) {
            w->out_of_memory = 1;
        } else {
            for (uint64_t i = 0; i < kv->arr_len; i++) {
                ptrs[i] = kv->strings[i].ptr;
                lens[i] = kv->strings[i].len;
            }
            set_string_array(w, kv->key, kv->arr_len, ptrs, lens);
        }
        free(ptrs);
        free(lens);
    } else if (kv->type == MN_GGUF_ARRAY) {
        set_value(w, kv->key, MN_GGUF_ARRAY, kv->arr_type, kv->arr_len, kv->value,
                  kv->arr_len * (size_t)mn_gguf_type_size(kv->arr_type));
    } else {
        set_value(w, kv->key, kv->type, 0, 0, kv->value, (size_t)mn_gguf_type_size(kv->type));
    }
}

void mn_gguf_remove_key(mn_gguf_writer *w, const char *key) {
    for (size_t i = 0; i < w->n_kv; i++)
        if (!strcmp(w->kv[i].key, key)) {
            free_kv(&w->kv[i]);
            memmove(&w->kv[i], &w->kv[i + 1], (w->n_kv - i - 1) * sizeof *w->kv);
            w->n_kv--;
            return;
        }
}

int mn_gguf_add_tensor(mn_gguf_writer *w, const char *name, mn_dtype type, int n_dims, const int64_t *ne) {
    /* Refuse what would make a file readers reject (or a directory written past ne[3]). */
    if (n_dims < 1 || n_dims > MN_MAX_DIMS) return mn_fail("GGUF tensor %s: %d dimensions", name, n_dims);
    if (!name[0] || strlen(name) >= MN_MAX_NAME) return mn_fail("GGUF tensor name \"%.60s\" is empty or too long", name);
    for (int i = 0; i < n_dims; i++)
        if (ne[i] < 1) return mn_fail("GGUF tensor %s: dimension %d is %" PRId64, name, i, ne[i]);
    for (size_t i = 0; i < w->n_tensors; i++)
        if (!strcmp(w->tensors[i].name, name)) return mn_fail("GGUF tensor %s declared twice", name);
    if (w->n_tensors == w->cap_tensors) {
        size_t cap = w->cap_tensors ? w->cap_tensors * 2 : 64;
        writer_tensor *grown = realloc(w->tensors, cap * sizeof *grown);
        if (!grown) {
            w->out_of_memory = 1;
            return -1;
        }
        w->tensors = grown;
        w->cap_tensors = cap;
    }
    writer_tensor *t = &w->tensors[w->n_tensors];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = type;
    t->n_dims = n_dims;
    size_t rows = 1;
    for (int i = 0; i < MN_MAX_DIMS; i++) t->ne[i] = i < n_dims ? ne[i] : 1;
    for (int i = 1; i < n_dims; i++) rows *= (size_t)ne[i];
    t->nbytes = mn_dtype_row_bytes(type, ne[0]) * rows;
    uint64_t offset = 0;
    if (w->n_tensors > 0) {
        const writer_tensor *prev = &w->tensors[w->n_tensors - 1];
        offset = (prev->offset + prev->nbytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT;
    }
    t->offset = offset;
    return (int)w->n_tensors++;
}

size_t mn_gguf_tensor_bytes(const mn_gguf_writer *w, int index) { return w->tensors[index].nbytes; }

static int put(mn_gguf_writer *w, const void *p, size_t n) { return mn_out_write(w->out, p, n); }
static int put_u32(mn_gguf_writer *w, uint32_t v) { return put(w, &v, 4); }
static int put_u64(mn_gguf_writer *w, uint64_t v) { return put(w, &v, 8); }
static int put_str(mn_gguf_writer *w, const char *s, uint64_t len) { return put_u64(w, len) || put(w, s, len); }

static int put_kv(mn_gguf_writer *w, const writer_kv *kv) {
    if (put_str(w, kv->key, strlen(kv->key)) || put_u32(w, kv->type)) return -1;
    if (kv->type == MN_GGUF_STRING) return put_str(w, (const char *)kv->payload, kv->payload_len);
    if (kv->type != MN_GGUF_ARRAY) return put(w, kv->payload, kv->payload_len);
    if (put_u32(w, kv->arr_type) || put_u64(w, kv->count)) return -1;
    if (kv->arr_type != MN_GGUF_STRING) return put(w, kv->payload, kv->payload_len);
    for (uint64_t i = 0; i < kv->count; i++)
        if (put_str(w, kv->strings[i], kv->string_lens[i])) return -1;
    return 0;
}

/* The data alignment readers will use: general.alignment if the metadata sets it (a copied
 * key, say), else the default. Anything a reader would reject is refused here. */
static int choose_alignment(mn_gguf_writer *w, const char *path) {
    w->alignment = ALIGNMENT;
    for (size_t i = 0; i < w->n_kv; i++) {
        const writer_kv *kv = &w->kv[i];
        if (strcmp(kv->key, "general.alignment") != 0) continue;
        /* llama.cpp reads it with gguf_get_val_u32, which aborts on any other type */
        if (kv->type != MN_GGUF_U32) return mn_fail("%s: general.alignment must be a u32", path);
        uint32_t a;
        memcpy(&a, kv->payload, 4);
        if (a == 0 || (a & (a - 1)) || a > (1u << 20))
            return mn_fail("%s: general.alignment %" PRIu32 " is not a power of two", path, a);
        w->alignment = a;
    }
    /* offsets were laid out for the default when the tensors were added */
    for (size_t i = 1; i < w->n_tensors; i++) {
        const writer_tensor *prev = &w->tensors[i - 1];
        w->tensors[i].offset = (prev->offset + prev->nbytes + w->alignment - 1) / w->alignment * w->alignment;
    }
    return 0;
}

int mn_gguf_begin(mn_gguf_writer *w, const char *path) {
    if (w->out_of_memory) return mn_fail("%s: out of memory preparing GGUF metadata", path);
    if (choose_alignment(w, path)) return -1;
    for (size_t i = 0; i < w->n_tensors; i++)
        if (w->tensors[i].nbytes == 0)
            return mn_fail("%s: tensor %s: row length %" PRId64 " does not fit type %s", path, w->tensors[i].name,
                           w->tensors[i].ne[0], mn_dtype_name(w->tensors[i].type));
    w->out = mn_out_open(path);
    if (!w->out) return -1;
    if (put(w, "GGUF", 4) || put_u32(w, 3) || put_u64(w, w->n_tensors) || put_u64(w, w->n_kv)) return -1;
    for (size_t i = 0; i < w->n_kv; i++)
        if (put_kv(w, &w->kv[i])) return -1;
    for (size_t i = 0; i < w->n_tensors; i++) {
        const writer_tensor *t = &w->tensors[i];
        if (put_str(w, t->name, strlen(t->name)) || put_u32(w, (uint32_t)t->n_dims)) return -1;
        for (int d = 0; d < t->n_dims; d++)
            if (put_u64(w, (uint64_t)t->ne[d])) return -1;
        if (put_u32(w, (uint32_t)t->type) || put_u64(w, t->offset)) return -1;
    }
    if (mn_out_pad_to(w->out, w->alignment)) return -1;
    w->data_start = mn_out_offset(w->out);
    w->next_tensor = 0;
    w->written_of_current = 0;
    return 0;
}

int mn_gguf_write_tensor_data(mn_gguf_writer *w, const void *data, size_t nbytes) {
    if (!w->out) return mn_fail("GGUF writer: tensor data written before a successful begin");
    if (w->next_tensor >= w->n_tensors)
        return mn_fail("%s: more tensor data than declared tensors", mn_out_path(w->out));
    const writer_tensor *t = &w->tensors[w->next_tensor];
    if (w->written_of_current == 0 && mn_out_offset(w->out) != w->data_start + t->offset) {
        if (mn_out_pad_to(w->out, w->alignment)) return -1;
    }
    if (nbytes > t->nbytes - w->written_of_current)
        return mn_fail("%s: tensor %s: %zu bytes written, %zu declared", mn_out_path(w->out), t->name,
                       w->written_of_current + nbytes, t->nbytes);
    if (put(w, data, nbytes)) return -1;
    w->written_of_current += nbytes;
    if (w->written_of_current == t->nbytes) {
        w->next_tensor++;
        w->written_of_current = 0;
    }
    return 0;
}

int mn_gguf_finish(mn_gguf_writer *w) {
    if (!w->out) return mn_fail("GGUF writer: finish without a successful begin");
    if (w->next_tensor != w->n_tensors)
        return mn_fail("%s: only %zu of %zu tensors were written", mn_out_path(w->out), w->next_tensor,
                       w->n_tensors);
    /* ggml's reader of whole files (imatrix, gguf tools) expects the last tensor padded too */
    if (mn_out_pad_to(w->out, w->alignment)) return -1;
    mn_out_file *out = w->out;
    w->out = NULL;
    return mn_out_commit(out);
}

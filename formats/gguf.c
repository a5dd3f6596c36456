#include "formats/gguf.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/names.h"

/* Anything larger than this in a metadata string is a corrupt length, not data. */
#define MAX_STRING_BYTES (1u << 24)

typedef struct {
    const uint8_t *base;
    uint64_t size;
    uint64_t pos;
    const char *path;
} reader;

static int need(reader *r, uint64_t n, const char *what) {
    if (n > r->size || r->pos > r->size - n)
        return mn_fail("%s: truncated GGUF: %s at byte %" PRIu64 " runs past the end of the file (%" PRIu64
                       " bytes)",
                       r->path, what, r->pos, r->size);
    return 0;
}

static int read_u32(reader *r, uint32_t *v, const char *what) {
    if (need(r, 4, what)) return -1;
    memcpy(v, r->base + r->pos, 4);
    r->pos += 4;
    return 0;
}

static int read_u64(reader *r, uint64_t *v, const char *what) {
    if (need(r, 8, what)) return -1;
    memcpy(v, r->base + r->pos, 8);
    r->pos += 8;
    return 0;
}

static int read_str(reader *r, mn_gguf_str *s, const char *what) {
    uint64_t len;
    if (read_u64(r, &len, what)) return -1;
    if (len > MAX_STRING_BYTES)
        return mn_fail("%s: corrupt GGUF: %s claims %" PRIu64 " bytes", r->path, what, len);
    if (need(r, len, what)) return -1;
    s->ptr = (const char *)r->base + r->pos;
    s->len = len;
    r->pos += len;
    return 0;
}

int mn_gguf_type_size(mn_gguf_type t) {
    switch (t) {
    case MN_GGUF_U8:
    case MN_GGUF_I8:
    case MN_GGUF_BOOL: return 1;
    case MN_GGUF_U16:
    case MN_GGUF_I16: return 2;
    case MN_GGUF_U32:
    case MN_GGUF_I32:
    case MN_GGUF_F32: return 4;
    case MN_GGUF_U64:
    case MN_GGUF_I64:
    case MN_GGUF_F64: return 8;
    default: return 0;
    }
}

static int read_kv(reader *r, mn_gguf_kv *kv, uint64_t index) {
    mn_gguf_str key;
    if (read_str(r, &key, "metadata key")) return -1;
    if (key.len == 0 || key.len > 65535)
        return mn_fail("%s: corrupt GGUF: metadata key %" PRIu64 " has length %" PRIu64, r->path, index, key.len);
    kv->key = malloc(key.len + 1);
    if (!kv->key) return mn_fail("%s: out of memory", r->path);
    memcpy(kv->key, key.ptr, key.len);
    kv->key[key.len] = 0;
    if (memchr(kv->key, 0, key.len)) return mn_fail("%s: corrupt GGUF: metadata key %" PRIu64 " contains NUL", r->path, index);
    uint32_t type;
    if (read_u32(r, &type, kv->key)) return -1;
    kv->type = (mn_gguf_type)type;
    if (type == MN_GGUF_STRING) {
        kv->value = r->base + r->pos;
        return read_str(r, &kv->str, kv->key);
    }
    if (type == MN_GGUF_ARRAY) {
        uint32_t at;
        if (read_u32(r, &at, kv->key) || read_u64(r, &kv->arr_len, kv->key)) return -1;
        kv->arr_type = (mn_gguf_type)at;
        kv->value = r->base + r->pos;
        if (at == MN_GGUF_STRING) {
            /* Each string needs at least its 8-byte length. */
            if (kv->arr_len > (r->size - r->pos) / 8)
                return mn_fail("%s: corrupt GGUF: array %s claims %" PRIu64 " strings, more than the file holds",
                               r->path, kv->key, kv->arr_len);
            kv->strings = malloc(sizeof(mn_gguf_str) * (kv->arr_len ? kv->arr_len : 1));
            if (!kv->strings) return mn_fail("%s: out of memory", r->path);
            for (uint64_t i = 0; i < kv->arr_len; i++)
                if (read_str(r, &kv->strings[i], kv->key)) return -1;
            return 0;
        }
        int es = mn_gguf_type_size(kv->arr_type);
        if (es == 0)
            return mn_fail("%s: unsupported GGUF: array %s has element type %u", r->path, kv->key, at);
        if (kv->arr_len > (r->size - r->pos) / (uint64_t)es)
            return mn_fail("%s: corrupt GGUF: array %s claims %" PRIu64 " elements, more than the file holds",
                           r->path, kv->key, kv->arr_len);
        r->pos += kv->arr_len * (uint64_t)es;
        return 0;
    }
    int size = mn_gguf_type_size(kv->type);
    if (size == 0) return mn_fail("%s: corrupt GGUF: metadata %s has unknown type %u", r->path, kv->key, type);
    if (need(r, (uint64_t)size, kv->key)) return -1;
    kv->value = r->base + r->pos;
    r->pos += (uint64_t)size;
    return 0;
}

static int read_tensor_info(reader *r, mn_tensor *t, uint64_t *offset, uint64_t index) {
    mn_gguf_str name;
    if (read_str(r, &name, "tensor name")) return -1;
    if (name.len == 0 || name.len >= MN_MAX_NAME)
        return mn_fail("%s: corrupt GGUF: tensor %" PRIu64 " has a name of %" PRIu64 " bytes", r->path, index, name.len);
    memcpy(t->name, name.ptr, name.len);
    t->name[name.len] = 0;
    uint32_t n_dims, type;
    if (read_u32(r, &n_dims, t->name)) return -1;
    if (n_dims == 0 || n_dims > MN_MAX_DIMS)
        return mn_fail("%s: corrupt GGUF: tensor %s has %u dimensions", r->path, t->name, n_dims);
    t->n_dims = (int)n_dims;
    for (int i = 0; i < MN_MAX_DIMS; i++) t->ne[i] = 1;
    uint64_t elements = 1;
    for (uint32_t i = 0; i < n_dims; i++) {
        uint64_t d;
        if (read_u64(r, &d, t->name)) return -1;
        if (d == 0 || d > (uint64_t)INT64_MAX / elements)
            return mn_fail("%s: corrupt GGUF: tensor %s has dimension %u of size %" PRIu64, r->path, t->name, i, d);
        t->ne[i] = (int64_t)d;
        elements *= d;
    }
    if (read_u32(r, &type, t->name) || read_u64(r, offset, t->name)) return -1;
    if (!mn_dtype_supported(type))
        return mn_fail("%s: unsupported tensor type %u for tensor %s", r->path, type, t->name);
    t->type = (mn_dtype)type;
    if (t->ne[0] % mn_dtype_block_size(t->type))
        return mn_fail("%s: tensor %s: row length %" PRId64 " is not a multiple of the %s block size %d", r->path,
                       t->name, t->ne[0], mn_dtype_name(t->type), mn_dtype_block_size(t->type));
    uint64_t row_bytes = mn_dtype_row_bytes(t->type, t->ne[0]); /* 0 when it does not fit a size_t */
    uint64_t rows = elements / (uint64_t)t->ne[0];
    if (row_bytes == 0 || rows > SIZE_MAX / row_bytes)
        return mn_fail("%s: corrupt GGUF: tensor %s is impossibly large", r->path, t->name);
    t->nbytes = (size_t)(rows * row_bytes);
    return 0;
}

/* Names of n records, either a char* field (`indirect`) or an inline array at `field`. */
static const char *first_duplicate(uint64_t n, const void *records, size_t stride, size_t field, int indirect) {
    if (n < 2) return NULL;
    const char **names = malloc(n * sizeof *names);
    if (!names) return NULL;
    for (uint64_t i = 0; i < n; i++) {
        const char *rec = (const char *)records + i * stride + field;
        names[i] = indirect ? *(const char *const *)rec : rec;
    }
    const char *dup = mn_first_duplicate_name(names, n);
    free(names);
    return dup;
}

bool mn_gguf_sniff(const char *path) {
    mn_mapped_file m;
    if (mn_map_file(path, &m) != 0) {
        mn_clear_error();
        return false;
    }
    bool yes = m.size >= 4 && memcmp(m.data, "GGUF", 4) == 0;
    mn_unmap_file(&m);
    return yes;
}

int mn_gguf_open(const char *path, mn_gguf *g) {
    memset(g, 0, sizeof *g);
    if (mn_map_file(path, &g->file) != 0) return -1;
    reader r = {g->file.data, g->file.size, 0, path};
    if (g->file.size < 4 || memcmp(g->file.data, "GGUF", 4) != 0) {
        mn_fail("%s: not a GGUF file (bad magic)", path);
        goto fail;
    }
    r.pos = 4;
    if (read_u32(&r, &g->version, "version")) goto fail;
    if (g->version != 2 && g->version != 3) {
        mn_fail("%s: unsupported GGUF version %u (minnow reads 2 and 3)", path, g->version);
        goto fail;
    }
    if (read_u64(&r, &g->n_tensors, "tensor count") || read_u64(&r, &g->n_kv, "metadata count")) goto fail;
    /* A key/value pair takes at least 13 bytes and a tensor info at least 29. */
    if (g->n_kv > g->file.size / 13 || g->n_tensors > g->file.size / 29) {
        mn_fail("%s: corrupt GGUF: header claims %" PRIu64 " metadata entries and %" PRIu64
                " tensors, more than the file can hold",
                path, g->n_kv, g->n_tensors);
        goto fail;
    }
    g->kv = calloc(g->n_kv ? g->n_kv : 1, sizeof *g->kv);
    g->tensors = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *g->tensors);
    uint64_t *offsets = calloc(g->n_tensors ? g->n_tensors : 1, sizeof *offsets);
    if (!g->kv || !g->tensors || !offsets) {
        free(offsets);
        mn_fail("%s: out of memory", path);
        goto fail;
    }
    for (uint64_t i = 0; i < g->n_kv; i++) {
        if (read_kv(&r, &g->kv[i], i)) goto fail_offsets;
    }
    const char *dup = first_duplicate(g->n_kv, g->kv, sizeof *g->kv, offsetof(mn_gguf_kv, key), 1);
    if (dup) {
        mn_fail("%s: corrupt GGUF: duplicate metadata key %s", path, dup);
        goto fail_offsets;
    }
    g->alignment = 32;
    const mn_gguf_kv *align = mn_gguf_find(g, "general.alignment");
    if (align) {
        int64_t a;
        if (mn_gguf_get_int(g, "general.alignment", &a) != 0) goto fail_offsets;
        if (a <= 0 || (a & (a - 1)) || a > (1 << 20)) {
            mn_fail("%s: corrupt GGUF: general.alignment %" PRId64 " is not a power of two", path, a);
            goto fail_offsets;
        }
        g->alignment = (uint64_t)a;
    }
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        if (read_tensor_info(&r, &g->tensors[i], &offsets[i], i)) goto fail_offsets;
    }
    dup = first_duplicate(g->n_tensors, g->tensors, sizeof *g->tensors, offsetof(mn_tensor, name), 0);
    if (dup) {
        mn_fail("%s: corrupt GGUF: duplicate tensor %s", path, dup);
        goto fail_offsets;
    }
    g->data_offset = (r.pos + g->alignment - 1) / g->alignment * g->alignment;
    if (g->n_tensors > 0 && g->data_offset > g->file.size) {
        mn_fail("%s: truncated GGUF: tensor data section starts past the end of the file", path);
        goto fail_offsets;
    }
    uint64_t data_size = g->file.size > g->data_offset ? g->file.size - g->data_offset : 0;
    for (uint64_t i = 0; i < g->n_tensors; i++) {
        mn_tensor *t = &g->tensors[i];
        if (offsets[i] % g->alignment) {
            mn_fail("%s: corrupt GGUF: tensor %s offset %" PRIu64 " is not aligned to %" PRIu64, path, t->name,
                    offsets[i], g->alignment);
            goto fail_offsets;
        }
        if (offsets[i] > data_size || t->nbytes > data_size - offsets[i]) {
            mn_fail("%s: truncated or corrupt GGUF: tensor %s (%zu bytes at offset %" PRIu64
                    ") lies outside the file's data section (%" PRIu64 " bytes)",
                    path, t->name, t->nbytes, offsets[i], data_size);
            goto fail_offsets;
        }
        t->data = (const uint8_t *)g->file.data + g->data_offset + offsets[i];
    }
    free(offsets);
    return 0;
fail_offsets:
    free(offsets);
fail:
    mn_gguf_close(g);
    return -1;
}

void mn_gguf_close(mn_gguf *g) {
    if (g->kv)
        for (uint64_t i = 0; i < g->n_kv; i++) {
            free(g->kv[i].key);
            free(g->kv[i].strings);
        }
    free(g->kv);
    free(g->tensors);
    mn_unmap_file(&g->file);
    memset(g, 0, sizeof *g);
}

const mn_gguf_kv *mn_gguf_find(const mn_gguf *g, const char *key) {
    for (uint64_t i = 0; i < g->n_kv; i++)
        if (g->kv[i].key && !strcmp(g->kv[i].key, key)) return &g->kv[i];
    return NULL;
}

const mn_tensor *mn_gguf_tensor(const mn_gguf *g, const char *name) {
    for (uint64_t i = 0; i < g->n_tensors; i++)
        if (!strcmp(g->tensors[i].name, name)) return &g->tensors[i];
    return NULL;
}

static double scalar_number(mn_gguf_type t, const uint8_t *p) {
    switch (t) {
    case MN_GGUF_U8: return *p;
    case MN_GGUF_I8: return (int8_t)*p;
    case MN_GGUF_BOOL: return *p != 0;
    case MN_GGUF_U16: { uint16_t v; memcpy(&v, p, 2); return v; }
    case MN_GGUF_I16: { int16_t v; memcpy(&v, p, 2); return v; }
    case MN_GGUF_U32: { uint32_t v; memcpy(&v, p, 4); return v; }
    case MN_GGUF_I32: { int32_t v; memcpy(&v, p, 4); return v; }
    case MN_GGUF_F32: { float v; memcpy(&v, p, 4); return v; }
    case MN_GGUF_U64: { uint64_t v; memcpy(&v, p, 8); return (double)v; }
    case MN_GGUF_I64: { int64_t v; memcpy(&v, p, 8); return (double)v; }
    case MN_GGUF_F64: { double v; memcpy(&v, p, 8); return v; }
    default: return 0;
    }
}

double mn_gguf_array_number(const mn_gguf_kv *kv, uint64_t i) {
    return scalar_number(kv->arr_type, kv->value + i * (uint64_t)mn_gguf_type_size(kv->arr_type));
}

static int wrong_type(const mn_gguf *g, const char *key, const char *want) {
    return mn_fail("%s: metadata %s is not %s", g->file.path, key, want);
}

int mn_gguf_get_int(const mn_gguf *g, const char *key, int64_t *out) {
    const mn_gguf_kv *kv = mn_gguf_find(g, key);
    if (!kv) return -1;
    switch (kv->type) {
    case MN_GGUF_U64: {
        uint64_t v;
        memcpy(&v, kv->value, 8);
        if (v > (uint64_t)INT64_MAX) return wrong_type(g, key, "an integer in range");
        *out = (int64_t)v;
        return 0;
    }
    case MN_GGUF_I64: memcpy(out, kv->value, 8); return 0;
    case MN_GGUF_U8: case MN_GGUF_I8: case MN_GGUF_U16: case MN_GGUF_I16: case MN_GGUF_U32:
    case MN_GGUF_I32: *out = (int64_t)scalar_number(kv->type, kv->value); return 0;
    default: return wrong_type(g, key, "an integer");
    }
}

int mn_gguf_get_float(const mn_gguf *g, const char *key, double *out) {
    const mn_gguf_kv *kv = mn_gguf_find(g, key);
    if (!kv) return -1;
    if (kv->type == MN_GGUF_STRING || kv->type == MN_GGUF_ARRAY || kv->type == MN_GGUF_BOOL)
        return wrong_type(g, key, "a number");
    *out = scalar_number(kv->type, kv->value);
    return 0;
}

int mn_gguf_get_bool(const mn_gguf *g, const char *key, bool *out) {
    const mn_gguf_kv *kv = mn_gguf_find(g, key);
    if (!kv) return -1;
    if (kv->type != MN_GGUF_BOOL) return wrong_type(g, key, "a boolean");
    *out = *kv->value != 0;
    return 0;
}

char *mn_gguf_get_string(const mn_gguf *g, const char *key) {
    const mn_gguf_kv *kv = mn_gguf_find(g, key);
    if (!kv) return NULL;
    if (kv->type != MN_GGUF_STRING) {
        wrong_type(g, key, "a string");
        return NULL;
    }
    char *s = malloc(kv->str.len + 1);
    if (!s) return NULL;
    memcpy(s, kv->str.ptr, kv->str.len);
    s[kv->str.len] = 0;
    return s;
}

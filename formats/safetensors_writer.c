#include "formats/safetensors_writer.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/out_file.h"

typedef struct {
    char *name;
    mn_dtype type;
    int n_dims;
    int64_t ne[4];
    size_t nbytes;
} st_tensor;

struct mn_st_writer {
    st_tensor *tensors;
    int n, cap;
    cJSON *metadata;
    mn_out_file *out;
    int next;
    size_t written;
};

mn_st_writer *mn_st_writer_new(void) { return calloc(1, sizeof(mn_st_writer)); }

void mn_st_writer_free(mn_st_writer *w) {
    if (!w) return;
    for (int i = 0; i < w->n; i++) free(w->tensors[i].name);
    free(w->tensors);
    cJSON_Delete(w->metadata);
    mn_out_abort(w->out);
    free(w);
}

static const char *dtype_name(mn_dtype t) {
    switch (t) {
    case MN_F32: return "F32";
    case MN_F16: return "F16";
    case MN_BF16: return "BF16";
    default: return NULL;
    }
}

int mn_st_add_tensor(mn_st_writer *w, const char *name, mn_dtype type, int n_dims, const int64_t *ne) {
    if (!dtype_name(type)) return mn_fail("safetensors cannot hold %s tensors (%s)", mn_dtype_name(type), name);
    /* Refuse what readers reject (duplicate keys) or what the shape arrays cannot hold. */
    if (n_dims < 0 || n_dims > 4) return mn_fail("safetensors tensor %s: %d dimensions", name, n_dims);
    for (int i = 0; i < n_dims; i++)
        if (ne[i] < 0) return mn_fail("safetensors tensor %s: negative dimension", name);
    if (!strcmp(name, "__metadata__")) return mn_fail("safetensors tensor cannot be named __metadata__");
    for (int i = 0; i < w->n; i++)
        if (!strcmp(w->tensors[i].name, name)) return mn_fail("safetensors tensor %s declared twice", name);
    if (w->n == w->cap) {
        int cap = w->cap ? 2 * w->cap : 64;
        st_tensor *grown = realloc(w->tensors, (size_t)cap * sizeof *grown);
        if (!grown) return mn_fail("out of memory");
        w->tensors = grown;
        w->cap = cap;
    }
    st_tensor *t = &w->tensors[w->n];
    t->name = strdup(name);
    if (!t->name) return mn_fail("out of memory");
    t->type = type;
    t->n_dims = n_dims;
    size_t elements = 1;
    for (int i = 0; i < 4; i++) {
        t->ne[i] = i < n_dims ? ne[i] : 1;
        elements *= (size_t)t->ne[i];
    }
    t->nbytes = elements * (size_t)mn_dtype_block_bytes(type);
    w->n++;
    return 0;
}

int mn_st_set_metadata(mn_st_writer *w, const char *key, const char *value) {
    if (!w->metadata) w->metadata = cJSON_CreateObject();
    if (!w->metadata) return mn_fail("out of memory");
    cJSON_DeleteItemFromObjectCaseSensitive(w->metadata, key); /* setting a key again replaces it */
    if (!cJSON_AddStringToObject(w->metadata, key, value)) return mn_fail("out of memory");
    return 0;
}

int mn_st_begin(mn_st_writer *w, const char *path) {
    cJSON *root = cJSON_CreateObject();
    if (!root) return mn_fail("out of memory");
    if (w->metadata) {
        cJSON_AddItemToObject(root, "__metadata__", w->metadata);
        w->metadata = NULL;
    }
    size_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const st_tensor *t = &w->tensors[i];
        cJSON *e = cJSON_AddObjectToObject(root, t->name);
        cJSON_AddStringToObject(e, "dtype", dtype_name(t->type));
        cJSON *shape = cJSON_AddArrayToObject(e, "shape");
        for (int d = t->n_dims - 1; d >= 0; d--) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
        cJSON *offsets = cJSON_AddArrayToObject(e, "data_offsets");
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)offset));
        cJSON_AddItemToArray(offsets, cJSON_CreateNumber((double)(offset + t->nbytes)));
        offset += t->nbytes;
    }
    char *json = cJSON_PrintUnformatted(root);
    cJSON_Delete(root);
    if (!json) return mn_fail("out of memory");
    /* pad the header with spaces so the data section starts 8-byte aligned */
    size_t len = strlen(json);
    size_t padded = (len + 8 + 7) / 8 * 8 - 8;
    w->out = mn_out_open(path);
    int rc = w->out ? 0 : -1;
    uint64_t header_len = padded;
    if (rc == 0) rc = mn_out_write(w->out, &header_len, 8);
    if (rc == 0) rc = mn_out_write(w->out, json, len);
    for (size_t i = len; i < padded && rc == 0; i++) rc = mn_out_write(w->out, " ", 1);
    free(json);
    w->next = 0;
    w->written = 0;
    return rc;
}

/* Tensors with no elements have no bytes to wait for. */
static void skip_empty(mn_st_writer *w) {
    while (w->written == 0 && w->next < w->n && w->tensors[w->next].nbytes == 0) w->next++;
}

int mn_st_write_data(mn_st_writer *w, const void *data, size_t nbytes) {
    if (!w->out) return mn_fail("safetensors writer: tensor data written before a successful begin");
    skip_empty(w);
    if (nbytes == 0) return 0;
    if (w->next >= w->n) return mn_fail("%s: more data than declared tensors", mn_out_path(w->out));
    const st_tensor *t = &w->tensors[w->next];
    if (nbytes > t->nbytes - w->written)
        return mn_fail("%s: tensor %s: more bytes than its shape holds", mn_out_path(w->out), t->name);
    if (mn_out_write(w->out, data, nbytes)) return -1;
    w->written += nbytes;
    if (w->written == t->nbytes) {
        w->next++;
        w->written = 0;
    }
    return 0;
}

int mn_st_finish(mn_st_writer *w) {
    if (!w->out) return mn_fail("safetensors writer: finish without a successful begin");
    skip_empty(w);
    if (w->next != w->n)
        return mn_fail("%s: only %d of %d tensors were written", mn_out_path(w->out), w->next, w->n);
    mn_out_file *out = w->out;
    w->out = NULL;
    return mn_out_commit(out);
}

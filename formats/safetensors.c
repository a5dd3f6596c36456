#include "formats/safetensors.h"

#include <cjson/cJSON.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/names.h"

/* Real headers are a few hundred KB; anything near this is a lie about the length. */
#define MAX_HEADER_BYTES (100u << 20)

static int parse_dtype(const char *s, mn_dtype *out) {
    if (!strcmp(s, "F32")) *out = MN_F32;
    else if (!strcmp(s, "F16")) *out = MN_F16;
    else if (!strcmp(s, "BF16")) *out = MN_BF16;
    else return -1;
    return 0;
}

typedef struct {
    uint64_t begin, end;
    int index;
} byte_range;

static int compare_ranges(const void *a, const void *b) {
    const byte_range *x = a, *y = b;
    /* ties: an empty range first, so it is not mistaken for overlapping its neighbour */
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

static int append_tensor(mn_safetensors *st, const mn_tensor *t, int file_index) {
    mn_tensor *grown = realloc(st->tensors, (size_t)(st->n_tensors + 1) * sizeof *grown);
    if (!grown) return mn_fail("out of memory");
    st->tensors = grown;
    int *grown_files = realloc(st->tensor_file, (size_t)(st->n_tensors + 1) * sizeof *grown_files);
    if (!grown_files) return mn_fail("out of memory");
    st->tensor_file = grown_files;
    st->tensors[st->n_tensors] = *t;
    st->tensor_file[st->n_tensors] = file_index;
    st->n_tensors++;
    return 0;
}

static int parse_tensor_entry(const char *path, const cJSON *entry, uint64_t data_size, const uint8_t *data,
                              mn_tensor *t, byte_range *range) {
    const char *name = entry->string;
    if (strlen(name) >= MN_MAX_NAME) return mn_fail("%s: tensor name too long: %.60s...", path, name);
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offsets = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!cJSON_IsString(dtype) || !cJSON_IsArray(shape) || !cJSON_IsArray(offsets) ||
        cJSON_GetArraySize(offsets) != 2)
        return mn_fail("%s: tensor %s: header entry needs dtype, shape and data_offsets", path, name);
    if (parse_dtype(dtype->valuestring, &t->type) != 0)
        return mn_fail("%s: tensor %s has unsupported dtype %s (minnow reads F32, F16, BF16)", path, name,
                       dtype->valuestring);
    int n_dims = cJSON_GetArraySize(shape);
    if (n_dims > MN_MAX_DIMS)
        return mn_fail("%s: tensor %s has %d dimensions (at most %d supported)", path, name, n_dims, MN_MAX_DIMS);
    t->n_dims = n_dims ? n_dims : 1;
    for (int i = 0; i < MN_MAX_DIMS; i++) t->ne[i] = 1;
    uint64_t elements = 1;
    for (int i = 0; i < n_dims; i++) {
        const cJSON *d = cJSON_GetArrayItem(shape, i);
        /* safetensors shapes are outermost-first; ggml order is innermost-first */
        if (!cJSON_IsNumber(d) || d->valuedouble < 0 || d->valuedouble > 9.0e15 ||
            d->valuedouble != (double)(int64_t)d->valuedouble)
            return mn_fail("%s: tensor %s has an invalid shape", path, name);
        int64_t v = (int64_t)d->valuedouble;
        if (v > 0 && elements > UINT64_MAX / (uint64_t)v / 4)
            return mn_fail("%s: tensor %s: shape is impossibly large", path, name);
        elements *= (uint64_t)v;
        t->ne[n_dims - 1 - i] = v;
    }
    const cJSON *b = cJSON_GetArrayItem(offsets, 0), *e = cJSON_GetArrayItem(offsets, 1);
    if (!cJSON_IsNumber(b) || !cJSON_IsNumber(e) || b->valuedouble < 0 || e->valuedouble < b->valuedouble ||
        e->valuedouble > 1.8e19 || b->valuedouble != floor(b->valuedouble) || e->valuedouble != floor(e->valuedouble))
        return mn_fail("%s: tensor %s has invalid data_offsets", path, name);
    range->begin = (uint64_t)b->valuedouble;
    range->end = (uint64_t)e->valuedouble;
    uint64_t expect = elements * (uint64_t)mn_dtype_block_bytes(t->type);
    if (range->end - range->begin != expect)
        return mn_fail("%s: tensor %s: shape and dtype need %" PRIu64 " bytes but data_offsets span %" PRIu64, path,
                       name, expect, range->end - range->begin);
    if (range->end > data_size)
        return mn_fail("%s: tensor %s: data_offsets [%" PRIu64 ", %" PRIu64 ") lie outside the file's data (%" PRIu64
                       " bytes)",
                       path, name, range->begin, range->end, data_size);
    t->data = data + range->begin;
    t->nbytes = (size_t)expect;
    return 0;
}

/* Shards are checked as they are added, so a name repeated across shards is caught too. */
static int check_unique_names(const mn_safetensors *st, const char *path) {
    const char **names = malloc((size_t)(st->n_tensors ? st->n_tensors : 1) * sizeof *names);
    if (!names) return mn_fail("%s: out of memory", path);
    for (int i = 0; i < st->n_tensors; i++) names[i] = st->tensors[i].name;
    const char *dup = mn_first_duplicate_name(names, (size_t)st->n_tensors);
    int rc = dup ? mn_fail("%s: tensor %s appears twice", path, dup) : 0;
    free(names);
    return rc;
}

static int parse_file(mn_safetensors *st, int file_index) {
    const mn_mapped_file *f = &st->files[file_index];
    const char *path = f->path;
    if (f->size < 8) return mn_fail("%s: not a safetensors file (only %zu bytes)", path, f->size);
    uint64_t header_len;
    memcpy(&header_len, f->data, 8);
    if (header_len > f->size - 8 || header_len > MAX_HEADER_BYTES)
        return mn_fail("%s: safetensors header length %" PRIu64 " exceeds the file size %zu", path, header_len,
                       f->size);
    const char *text = (const char *)f->data + 8;
    cJSON *root = cJSON_ParseWithLength(text, (size_t)header_len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return mn_fail("%s: safetensors header is not a JSON object", path);
    }
    uint64_t data_size = f->size - 8 - header_len;
    const uint8_t *data = (const uint8_t *)f->data + 8 + header_len;
    int count = cJSON_GetArraySize(root);
    byte_range *ranges = calloc((size_t)count + 1, sizeof *ranges);
    int n_ranges = 0, rc = 0;
    if (!ranges) rc = mn_fail("%s: out of memory", path);
    for (const cJSON *entry = root->child; entry && rc == 0; entry = entry->next) {
        if (!strcmp(entry->string, "__metadata__")) continue;
        if (!cJSON_IsObject(entry)) {
            rc = mn_fail("%s: header entry %s is not an object", path, entry->string);
            break;
        }
        mn_tensor t;
        if (parse_tensor_entry(path, entry, data_size, data, &t, &ranges[n_ranges]) != 0 ||
            append_tensor(st, &t, file_index) != 0) {
            rc = -1;
            break;
        }
        ranges[n_ranges].index = n_ranges;
        n_ranges++;
    }
    if (rc == 0) rc = check_unique_names(st, path);
    if (rc == 0) {
        qsort(ranges, (size_t)n_ranges, sizeof *ranges, compare_ranges);
        for (int i = 1; i < n_ranges; i++)
            if (ranges[i].begin < ranges[i - 1].end) {
                rc = mn_fail("%s: tensor data ranges overlap", path);
                break;
            }
    }
    free(ranges);
    cJSON_Delete(root);
    return rc;
}

static int add_file(mn_safetensors *st, const char *path) {
    mn_mapped_file *grown = realloc(st->files, (size_t)(st->n_files + 1) * sizeof *grown);
    if (!grown) return mn_fail("%s: out of memory", path);
    st->files = grown;
    if (mn_map_file(path, &st->files[st->n_files]) != 0) return -1;
    st->n_files++;
    return parse_file(st, st->n_files - 1);
}

int mn_safetensors_open(const char *path, mn_safetensors *st) {
    memset(st, 0, sizeof *st);
    if (add_file(st, path) != 0) {
        mn_safetensors_close(st);
        return -1;
    }
    return 0;
}

static int open_shards(const char *dir, const char *index_path, mn_safetensors *st) {
    char *text = mn_read_file(index_path, NULL);
    if (!text) return -1;
    cJSON *root = cJSON_Parse(text);
    free(text);
    const cJSON *map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map)) {
        cJSON_Delete(root);
        return mn_fail("%s: no weight_map object", index_path);
    }
    int rc = 0;
    char **seen = NULL;
    int n_seen = 0;
    for (const cJSON *e = map->child; e && rc == 0; e = e->next) {
        if (!cJSON_IsString(e) || strchr(e->valuestring, '/') || !strcmp(e->valuestring, "..")) {
            rc = mn_fail("%s: weight_map entry %s is not a file name in the directory", index_path, e->string);
            break;
        }
        int known = 0;
        for (int i = 0; i < n_seen && !known; i++) known = !strcmp(seen[i], e->valuestring);
        if (known) continue;
        char **grown = realloc(seen, (size_t)(n_seen + 1) * sizeof *grown);
        if (!grown) {
            rc = mn_fail("%s: out of memory", index_path);
            break;
        }
        seen = grown;
        seen[n_seen++] = e->valuestring;
        char shard[PATH_MAX];
        snprintf(shard, sizeof shard, "%s/%s", dir, e->valuestring);
        rc = add_file(st, shard);
    }
    for (const cJSON *e = map->child; e && rc == 0; e = e->next)
        if (!mn_safetensors_find(st, e->string))
            rc = mn_fail("%s: tensor %s is listed but not in %s", index_path, e->string, e->valuestring);
    free(seen);
    cJSON_Delete(root);
    return rc;
}

int mn_safetensors_open_dir(const char *dir, mn_safetensors *st) {
    memset(st, 0, sizeof *st);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    int rc;
    if (mn_file_exists(path)) {
        rc = add_file(st, path);
    } else {
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (mn_file_exists(path)) rc = open_shards(dir, path, st);
        else rc = mn_fail("%s: no model.safetensors or model.safetensors.index.json", dir);
    }
    if (rc != 0) mn_safetensors_close(st);
    return rc;
}

void mn_safetensors_close(mn_safetensors *st) {
    for (int i = 0; i < st->n_files; i++) mn_unmap_file(&st->files[i]);
    free(st->files);
    free(st->tensors);
    free(st->tensor_file);
    memset(st, 0, sizeof *st);
}

const mn_tensor *mn_safetensors_find(const mn_safetensors *st, const char *name) {
    for (int i = 0; i < st->n_tensors; i++)
        if (!strcmp(st->tensors[i].name, name)) return &st->tensors[i];
    return NULL;
}

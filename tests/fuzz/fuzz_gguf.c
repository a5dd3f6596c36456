/* libFuzzer target: a GGUF file (header, metadata of every type including arrays, tensor
 * infos, alignment, data section), as mn_gguf_open reads it, then every typed getter on every
 * key. Views into the mapping (strings, arrays, tensors) must lie inside the file. */
#include "formats/gguf.h"
#include "tests/fuzz/fuzz.h"

static int inside(const void *p, uint64_t n, const uint8_t *base, size_t size) {
    const uint8_t *q = p;
    return q >= base && q <= base + size && n <= (uint64_t)(base + size - q);
}

static void check_kv(const mn_gguf *g, const mn_gguf_kv *kv, const uint8_t *base, size_t size) {
    FZ_CHECK(kv->key && kv->key[0]);
    FZ_CHECK(mn_gguf_find(g, kv->key) == kv);
    int64_t i;
    double d;
    bool b;
    /* Getters either succeed or record why not; they never crash on the wrong type. */
    mn_clear_error();
    if (mn_gguf_get_int(g, kv->key, &i) != 0) fz_check_failure_reported();
    mn_clear_error();
    if (mn_gguf_get_float(g, kv->key, &d) != 0) fz_check_failure_reported();
    mn_clear_error();
    if (mn_gguf_get_bool(g, kv->key, &b) != 0) fz_check_failure_reported();
    mn_clear_error();
    char *s = mn_gguf_get_string(g, kv->key);
    FZ_CHECK(s != NULL || kv->type != MN_GGUF_STRING);
    free(s);
    mn_clear_error();
    if (kv->type == MN_GGUF_STRING) FZ_CHECK(inside(kv->str.ptr, kv->str.len, base, size));
    if (kv->type != MN_GGUF_ARRAY) return;
    if (kv->arr_type == MN_GGUF_STRING) {
        for (uint64_t k = 0; k < kv->arr_len; k++) FZ_CHECK(inside(kv->strings[k].ptr, kv->strings[k].len, base, size));
        return;
    }
    int es = mn_gguf_type_size(kv->arr_type);
    FZ_CHECK(es > 0 && inside(kv->value, kv->arr_len * (uint64_t)es, base, size));
    double sum = 0;
    for (uint64_t k = 0; k < kv->arr_len; k++) sum += mn_gguf_array_number(kv, k);
    (void)sum;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    const char *path = fz_write("in.gguf", data, size);
    mn_gguf g;
    if (mn_gguf_open(path, &g) != 0) {
        fz_check_failure_reported();
        return 0;
    }
    const uint8_t *base = g.file.data;
    FZ_CHECK(g.file.size == size);
    FZ_CHECK(g.alignment > 0 && (g.alignment & (g.alignment - 1)) == 0);
    for (uint64_t k = 0; k < g.n_kv; k++) check_kv(&g, &g.kv[k], base, size);
    for (uint64_t k = 0; k < g.n_tensors; k++) {
        const mn_tensor *t = &g.tensors[k];
        FZ_CHECK(mn_dtype_supported(t->type));
        FZ_CHECK(t->n_dims >= 1 && t->n_dims <= MN_MAX_DIMS);
        FZ_CHECK((uint64_t)mn_tensor_nrows(t) * mn_tensor_row_bytes(t) == t->nbytes);
        FZ_CHECK((const uint8_t *)t->data >= base + g.data_offset && inside(t->data, t->nbytes, base, size));
        FZ_CHECK(((const uint8_t *)t->data - base - g.data_offset) % g.alignment == 0);
        FZ_CHECK(mn_gguf_tensor(&g, t->name) == t);
    }
    mn_gguf_close(&g);
    return 0;
}

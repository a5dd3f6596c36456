/* libFuzzer target: one safetensors file (8-byte header length, JSON header, data), as
 * mn_safetensors_open reads it. Accepted files must give tensors whose views lie inside the
 * data section and whose byte counts match their shapes. */
#include "formats/safetensors.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    const char *path = fz_write("model.safetensors", data, size);
    mn_safetensors st;
    if (mn_safetensors_open(path, &st) != 0) {
        fz_check_failure_reported();
        return 0;
    }
    FZ_CHECK(st.n_files == 1);
    const uint8_t *base = st.files[0].data;
    for (int i = 0; i < st.n_tensors; i++) {
        const mn_tensor *t = &st.tensors[i];
        FZ_CHECK(t->type == MN_F32 || t->type == MN_F16 || t->type == MN_BF16);
        FZ_CHECK(t->n_dims >= 1 && t->n_dims <= MN_MAX_DIMS);
        FZ_CHECK((uint64_t)mn_tensor_nelements(t) * (uint64_t)mn_dtype_block_bytes(t->type) == t->nbytes);
        FZ_CHECK((const uint8_t *)t->data >= base + 8 && (const uint8_t *)t->data + t->nbytes <= base + size);
        FZ_CHECK(memchr(t->name, 0, sizeof t->name) != NULL);
        FZ_CHECK(mn_safetensors_find(&st, t->name) == t);
    }
    mn_safetensors_close(&st);
    return 0;
}

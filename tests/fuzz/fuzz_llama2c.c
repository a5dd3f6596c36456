/* libFuzzer target: a llama2.c checkpoint (7-int header, then fp32 tensors), as
 * mn_llama2c_open reads it. An accepted file's tensors tile the file exactly. */
#include "formats/llama2c.h"
#include "tests/fuzz/fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    const char *path = fz_write("model.bin", data, size);
    mn_llama2c m;
    if (mn_llama2c_open(path, &m) != 0) {
        fz_check_failure_reported();
        return 0;
    }
    const uint8_t *base = m.file.data, *end = base + m.file.size;
    FZ_CHECK(m.n_tensors == 3 + 9 * m.n_layers - (m.shared_classifier ? 1 : 0));
    for (int i = 0; i < m.n_tensors; i++) {
        const mn_tensor *t = &m.tensors[i];
        FZ_CHECK(t->type == MN_F32 && (uint64_t)mn_tensor_nelements(t) * 4 == t->nbytes);
        FZ_CHECK((const uint8_t *)t->data >= base + 28 && t->nbytes <= (size_t)(end - (const uint8_t *)t->data));
        FZ_CHECK(mn_llama2c_find(&m, t->name) == t);
    }
    FZ_CHECK(mn_llama2c_find(&m, "token_embd.weight") && mn_llama2c_find(&m, "output_norm.weight"));
    mn_llama2c_close(&m);
    return 0;
}

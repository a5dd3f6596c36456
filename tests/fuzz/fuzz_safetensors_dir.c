/* libFuzzer target: a sharded Hugging Face checkpoint, as mn_safetensors_open_dir reads it.
 * The input is model.safetensors.index.json, then (after a NUL byte) the contents of the
 * shard a.safetensors; a valid shard b.safetensors is always there. Shard names the index
 * gives are paths inside the directory only. */
#include "formats/safetensors.h"
#include "tests/fuzz/fuzz.h"

/* b.safetensors: b.x F32 [2] and b.y F16 [2, 3]. */
static void write_fixed_shard(void) {
    static const char header[] = "{\"b.x\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                                 "\"b.y\":{\"dtype\":\"F16\",\"shape\":[2,3],\"data_offsets\":[8,20]}}";
    uint8_t file[8 + sizeof header - 1 + 20] = {0};
    uint64_t len = sizeof header - 1;
    memcpy(file, &len, 8);
    memcpy(file + 8, header, len);
    fz_write("b.safetensors", file, sizeof file);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static int ready;
    if (!ready) {
        write_fixed_shard();
        ready = 1;
    }
    mn_clear_error();
    size_t index_len, shard_len;
    int present;
    const uint8_t *index = fz_part(data, size, 0, 2, &index_len, &present);
    const uint8_t *shard = fz_part(data, size, 1, 2, &shard_len, &present);
    fz_write("model.safetensors.index.json", index, index_len);
    if (present) fz_write("a.safetensors", shard, shard_len);
    else fz_remove("a.safetensors");
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", fz_dir);
    mn_safetensors st;
    if (mn_safetensors_open_dir(dir, &st) != 0) {
        fz_check_failure_reported();
        return 0;
    }
    for (int i = 0; i < st.n_tensors; i++) {
        const mn_tensor *t = &st.tensors[i];
        FZ_CHECK(st.tensor_file[i] >= 0 && st.tensor_file[i] < st.n_files);
        const mn_mapped_file *f = &st.files[st.tensor_file[i]];
        const uint8_t *base = f->data;
        FZ_CHECK((uint64_t)mn_tensor_nelements(t) * (uint64_t)mn_dtype_block_bytes(t->type) == t->nbytes);
        FZ_CHECK((const uint8_t *)t->data >= base + 8 && (const uint8_t *)t->data + t->nbytes <= base + f->size);
        FZ_CHECK(mn_safetensors_find(&st, t->name) == t);
    }
    mn_safetensors_close(&st);
    return 0;
}

/* libFuzzer target: loading a whole model (tokenizer skipped), which runs a format parser and
 * then the binder that checks every tensor's presence, type and shape against the
 * hyperparameters. The input picks the source by its first bytes: "GGUF" a GGUF file, "{" a
 * Hugging Face directory (config.json, then after a NUL byte model.safetensors), anything
 * else a llama2.c checkpoint. */
#include "model/model.h"
#include "tests/fuzz/fuzz.h"

static int check_tensor(void *ctx, const char *name, const mn_tensor *t, int layer, mn_weight_role role) {
    const mn_model *m = ctx;
    (void)name, (void)role;
    FZ_CHECK(layer >= -1 && layer < m->hp.n_layers);
    FZ_CHECK(t->data != NULL && mn_tensor_nrows(t) >= 1 && t->ne[0] >= 1);
    FZ_CHECK((uint64_t)mn_tensor_nrows(t) * mn_tensor_row_bytes(t) == t->nbytes);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    mn_clear_error();
    char path[PATH_MAX];
    if (size >= 4 && !memcmp(data, "GGUF", 4)) {
        snprintf(path, sizeof path, "%s", fz_write("model.gguf", data, size));
    } else if (size >= 1 && data[0] == '{') {
        size_t len;
        int present;
        const uint8_t *p = fz_part(data, size, 0, 2, &len, &present);
        fz_write("config.json", p, len);
        p = fz_part(data, size, 1, 2, &len, &present);
        if (present) fz_write("model.safetensors", p, len);
        else fz_remove("model.safetensors");
        snprintf(path, sizeof path, "%s", fz_dir);
    } else {
        snprintf(path, sizeof path, "%s", fz_write("model.bin", data, size));
    }
    mn_load_options opt = {.skip_tokenizer = true};
    mn_model *m = mn_model_load(path, &opt);
    if (!m) {
        fz_check_failure_reported();
        return 0;
    }
    const mn_hparams *hp = &m->hp;
    FZ_CHECK(hp->dim > 0 && hp->n_layers > 0 && hp->n_heads > 0 && hp->n_kv_heads > 0 && hp->head_dim > 0);
    FZ_CHECK(hp->ffn_dim > 0 && hp->n_vocab > 0 && hp->n_heads % hp->n_kv_heads == 0 && hp->head_dim % 2 == 0);
    FZ_CHECK(mn_model_for_each_tensor(m, check_tensor, m) == 0);
    FZ_CHECK(mn_model_n_params(m) > 0 && mn_model_weight_bytes(m) > 0);
    mn_model_free(m);
    return 0;
}

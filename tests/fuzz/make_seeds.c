/* Small, valid inputs for the fuzz seed corpora (tests/fuzz/seeds.sh), cut from or shaped like
 * the real files: a fuzzer mutating a 500 KB tokenizer.model or a 40 MB checkpoint spends its
 * time copying bytes no parser looks at.
 *
 *   make_seeds sp-model IN OUT N    IN's SentencePiece model keeping only its first N pieces
 *   make_seeds llama2c OUT DIM HIDDEN LAYERS HEADS KV_HEADS VOCAB SEQ_LEN shared|separate
 *   make_seeds hf ARCH OUTDIR       config.json + model.safetensors of a tiny model
 *                                   (ARCH llama, qwen2 or phi3; dim 8, 1 layer, vocab 512)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"
#include "core/rng.h"
#include "formats/hf_config.h"
#include "formats/safetensors_writer.h"
#include "model/model.h"

static int varint(const uint8_t **p, const uint8_t *end, uint64_t *v) {
    *v = 0;
    for (int shift = 0; shift < 64 && *p < end; shift += 7) {
        uint8_t c = *(*p)++;
        *v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) return 0;
    }
    return -1;
}

/* Copies the top-level fields of a ModelProto, dropping pieces (field 1) after the first n. */
static int sp_model(const char *in, const char *out, long n) {
    mn_mapped_file f;
    if (mn_map_file(in, &f)) return -1;
    uint8_t *buf = malloc(f.size ? f.size : 1);
    size_t o = 0;
    long pieces = 0;
    const uint8_t *p = f.data, *end = p + f.size;
    int rc = buf ? 0 : mn_fail("out of memory");
    while (rc == 0 && p < end) {
        const uint8_t *start = p;
        uint64_t key, len = 0;
        if (varint(&p, end, &key)) rc = mn_fail("%s: bad varint", in);
        else if ((key & 7) == 2 && (varint(&p, end, &len) || len > (uint64_t)(end - p)))
            rc = mn_fail("%s: bad length", in);
        else if ((key & 7) == 0 && varint(&p, end, &len)) rc = mn_fail("%s: bad varint", in);
        else if ((key & 7) == 1 || (key & 7) == 5) len = (key & 7) == 1 ? 8 : 4;
        else if ((key & 7) != 0 && (key & 7) != 2) rc = mn_fail("%s: unsupported wire type", in);
        if (rc) break;
        if ((key & 7) != 0) p += len;
        if (key >> 3 == 1 && pieces++ >= n) continue;
        memcpy(buf + o, start, (size_t)(p - start));
        o += (size_t)(p - start);
    }
    if (rc == 0) rc = mn_out_write_whole(out, buf, o);
    free(buf);
    mn_unmap_file(&f);
    return rc;
}

static void fill(mn_rng *r, float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)(mn_rng_uniform(r) - 0.5) * 0.2f;
}

static int llama2c(char **a) {
    int h[7];
    for (int i = 0; i < 7; i++) h[i] = atoi(a[1 + i]);
    int shared = !strcmp(a[8], "shared");
    long dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kv = h[4], vocab = h[5], seq = h[6];
    long kv_dim = dim / heads * kv;
    long floats = vocab * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kv_dim + 3 * dim * hidden) + dim +
                  seq * (dim / heads) + (shared ? 0 : vocab * dim);
    if (!shared) h[5] = -h[5];
    size_t bytes = sizeof h + (size_t)floats * sizeof(float);
    uint8_t *buf = malloc(bytes);
    if (!buf) return mn_fail("out of memory");
    memcpy(buf, h, sizeof h);
    mn_rng r;
    mn_rng_seed(&r, 1);
    fill(&r, (float *)(buf + sizeof h), (size_t)floats);
    int rc = mn_out_write_whole(a[0], buf, bytes);
    free(buf);
    return rc;
}

/* A tiny Hugging Face checkpoint with every tensor the loader binds for the architecture. */
static int hf(const char *arch, const char *dir) {
    mn_hf_config c = {.hidden_size = 8, .intermediate_size = 16, .num_hidden_layers = 1, .num_attention_heads = 2,
                      .num_key_value_heads = 1, .head_dim = 4, .vocab_size = 512, .max_position_embeddings = 64,
                      .rms_norm_eps = 1e-5, .rope_theta = 10000, .bos_token_id = 1, .eos_token_id = 2};
    snprintf(c.model_type, sizeof c.model_type, "%s", arch);
    snprintf(c.architecture, sizeof c.architecture, "%s",
             !strcmp(arch, "phi3") ? "Phi3ForCausalLM" : !strcmp(arch, "qwen2") ? "Qwen2ForCausalLM" : "LlamaForCausalLM");
    snprintf(c.torch_dtype, sizeof c.torch_dtype, "float16");
    c.tie_word_embeddings = !strcmp(arch, "qwen2");
    static const mn_weight_role llama[] = {MN_W_ATTN_NORM, MN_W_Q, MN_W_K, MN_W_V, MN_W_O,
                                           MN_W_FFN_NORM, MN_W_GATE, MN_W_UP, MN_W_DOWN};
    static const mn_weight_role qwen2[] = {MN_W_ATTN_NORM, MN_W_Q, MN_W_K, MN_W_V, MN_W_BQ, MN_W_BK, MN_W_BV,
                                           MN_W_O, MN_W_FFN_NORM, MN_W_GATE, MN_W_UP, MN_W_DOWN};
    static const mn_weight_role phi3[] = {MN_W_ATTN_NORM, MN_W_QKV, MN_W_O, MN_W_FFN_NORM, MN_W_GATE_UP, MN_W_DOWN};
    const mn_weight_role *roles = llama;
    int n_roles = sizeof llama / sizeof llama[0];
    if (!strcmp(arch, "qwen2")) roles = qwen2, n_roles = sizeof qwen2 / sizeof qwen2[0];
    else if (!strcmp(arch, "phi3")) roles = phi3, n_roles = sizeof phi3 / sizeof phi3[0];
    else if (strcmp(arch, "llama")) return mn_fail("ARCH must be llama, qwen2 or phi3");
    const int64_t d = 8, q = 8, kv = 4, f = 16, vocab = 512;
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    if (mn_hf_config_write(path, &c)) return -1;
    mn_st_writer *w = mn_st_writer_new();
    if (!w) return mn_fail("out of memory");
    int64_t shapes[32][2];
    int n = 0;
    char names[32][128];
    mn_hf_tensor_name(MN_W_TOKEN_EMBD, -1, names[n], sizeof names[n]);
    shapes[n][0] = d, shapes[n++][1] = vocab;
    for (int i = 0; i < n_roles; i++) {
        int64_t ne0 = d, ne1 = 1;
        switch (roles[i]) {
        case MN_W_Q: ne1 = q; break;
        case MN_W_K:
        case MN_W_V: ne1 = kv; break;
        case MN_W_QKV: ne1 = q + 2 * kv; break;
        case MN_W_O: ne0 = q, ne1 = d; break;
        case MN_W_GATE:
        case MN_W_UP: ne1 = f; break;
        case MN_W_GATE_UP: ne1 = 2 * f; break;
        case MN_W_DOWN: ne0 = f, ne1 = d; break;
        case MN_W_BQ: ne0 = q; break;
        case MN_W_BK:
        case MN_W_BV: ne0 = kv; break;
        default: break;
        }
        mn_hf_tensor_name(roles[i], 0, names[n], sizeof names[n]);
        shapes[n][0] = ne0, shapes[n++][1] = ne1;
    }
    mn_hf_tensor_name(MN_W_OUTPUT_NORM, -1, names[n], sizeof names[n]);
    shapes[n][0] = d, shapes[n++][1] = 1;
    if (!c.tie_word_embeddings) {
        mn_hf_tensor_name(MN_W_OUTPUT, -1, names[n], sizeof names[n]);
        shapes[n][0] = d, shapes[n++][1] = vocab;
    }
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = mn_st_add_tensor(w, names[i], MN_F16, shapes[i][1] > 1 ? 2 : 1, shapes[i]);
    snprintf(path, sizeof path, "%s/model.safetensors", dir);
    if (rc == 0) rc = mn_st_begin(w, path);
    mn_rng r;
    mn_rng_seed(&r, 2);
    for (int i = 0; i < n && rc == 0; i++) {
        size_t count = (size_t)(shapes[i][0] * shapes[i][1]);
        uint16_t *h = malloc(count * sizeof *h);
        if (!h) {
            rc = mn_fail("out of memory");
            break;
        }
        for (size_t k = 0; k < count; k++)
            h[k] = mn_f32_to_f16(strstr(names[i], "norm") ? 1.0f : (float)(mn_rng_uniform(&r) - 0.5) * 0.2f);
        rc = mn_st_write_data(w, h, count * sizeof *h);
        free(h);
    }
    if (rc == 0) rc = mn_st_finish(w);
    mn_st_writer_free(w);
    return rc;
}

int main(int argc, char **argv) {
    int rc;
    if (argc == 5 && !strcmp(argv[1], "sp-model")) rc = sp_model(argv[2], argv[3], atol(argv[4]));
    else if (argc == 11 && !strcmp(argv[1], "llama2c")) rc = llama2c(argv + 2);
    else if (argc == 4 && !strcmp(argv[1], "hf")) rc = hf(argv[2], argv[3]);
    else {
        fprintf(stderr, "usage: make_seeds sp-model IN OUT N | llama2c OUT DIM HIDDEN LAYERS HEADS KV VOCAB SEQ "
                        "shared|separate | hf ARCH OUTDIR\n");
        return 2;
    }
    if (rc) fprintf(stderr, "make_seeds: %s\n", mn_last_error());
    return rc ? 1 : 0;
}

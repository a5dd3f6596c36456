/* Writes a Hugging Face checkpoint with random weights in the exact layout (tensor names,
 * shapes, config.json) of TinyLlama-1.1B, Phi-3-mini or Qwen2.5-0.5B, at full size (for
 * format, speed and memory checks) or tiny (for tests). Tokenizer files given with --copy are
 * copied into the directory.
 *
 *   make_synthetic ARCH SIZE OUTDIR [--dtype f16|bf16] [--seed N] [--shards N] [--copy FILE]...
 *   ARCH: tinyllama | phi3 | qwen2    SIZE: full | tiny
 */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/dtype.h"
#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"
#include "core/rng.h"
#include "formats/hf_config.h"
#include "formats/safetensors_writer.h"

typedef struct {
    char name[128];
    int64_t rows, cols; /* cols = ne[0]; rows = 1 for vectors */
    int vector;
    double mean, std;
} spec_tensor;

typedef struct {
    spec_tensor *t;
    int n, cap;
} spec;

static void add(spec *s, const char *name, int64_t rows, int64_t cols, int vector, double mean, double std) {
    if (s->n == s->cap) {
        s->cap = s->cap ? 2 * s->cap : 64;
        s->t = realloc(s->t, (size_t)s->cap * sizeof *s->t);
    }
    spec_tensor *t = &s->t[s->n++];
    snprintf(t->name, sizeof t->name, "%s", name);
    t->rows = rows;
    t->cols = cols;
    t->vector = vector;
    t->mean = mean;
    t->std = std;
}

static int configure(const char *arch, const char *size, mn_hf_config *c) {
    int full = !strcmp(size, "full");
    if (!full && strcmp(size, "tiny")) return mn_fail("SIZE must be full or tiny, not %s", size);
    if (!strcmp(arch, "tinyllama")) {
        *c = (mn_hf_config){.hidden_size = full ? 2048 : 256, .intermediate_size = full ? 5632 : 512,
                            .num_hidden_layers = full ? 22 : 2, .num_attention_heads = full ? 32 : 4,
                            .num_key_value_heads = full ? 4 : 2, .vocab_size = 32000,
                            .max_position_embeddings = 2048, .rms_norm_eps = 1e-5, .rope_theta = 10000,
                            .bos_token_id = 1, .eos_token_id = 2};
        snprintf(c->model_type, sizeof c->model_type, "llama");
        snprintf(c->architecture, sizeof c->architecture, "LlamaForCausalLM");
    } else if (!strcmp(arch, "phi3")) {
        *c = (mn_hf_config){.hidden_size = full ? 3072 : 256, .intermediate_size = full ? 8192 : 512,
                            .num_hidden_layers = full ? 32 : 2, .num_attention_heads = full ? 32 : 4,
                            .num_key_value_heads = full ? 32 : 4, .vocab_size = 32064,
                            .max_position_embeddings = 4096, .rms_norm_eps = 1e-5, .rope_theta = 10000,
                            .bos_token_id = 1, .eos_token_id = 32000};
        snprintf(c->model_type, sizeof c->model_type, "phi3");
        snprintf(c->architecture, sizeof c->architecture, "Phi3ForCausalLM");
    } else if (!strcmp(arch, "qwen2")) {
        *c = (mn_hf_config){.hidden_size = full ? 896 : 256, .intermediate_size = full ? 4864 : 512,
                            .num_hidden_layers = full ? 24 : 2, .num_attention_heads = full ? 14 : 4,
                            .num_key_value_heads = 2, .vocab_size = 151936, .max_position_embeddings = 32768,
                            .rms_norm_eps = 1e-6, .rope_theta = 1000000, .tie_word_embeddings = true,
                            .bos_token_id = 151643, .eos_token_id = 151643};
        snprintf(c->model_type, sizeof c->model_type, "qwen2");
        snprintf(c->architecture, sizeof c->architecture, "Qwen2ForCausalLM");
    } else {
        return mn_fail("ARCH must be tinyllama, phi3 or qwen2, not %s", arch);
    }
    c->head_dim = c->hidden_size / c->num_attention_heads;
    return 0;
}

static void layout(const mn_hf_config *c, spec *s) {
    const int64_t d = c->hidden_size, f = c->intermediate_size, hd = c->head_dim;
    const int64_t q = c->num_attention_heads * hd, kv = c->num_key_value_heads * hd;
    const double w = 0.02, out_std = 0.02 / 3;
    char n[128];
    add(s, "model.embed_tokens.weight", c->vocab_size, d, 0, 0, w);
    for (int l = 0; l < c->num_hidden_layers; l++) {
#define NAME(suffix) (snprintf(n, sizeof n, "model.layers.%d.%s", l, suffix), n)
        add(s, NAME("input_layernorm.weight"), 1, d, 1, 1.0, 0.05);
        if (!strcmp(c->model_type, "phi3")) {
            add(s, NAME("self_attn.qkv_proj.weight"), q + 2 * kv, d, 0, 0, w);
        } else {
            add(s, NAME("self_attn.q_proj.weight"), q, d, 0, 0, w);
            add(s, NAME("self_attn.k_proj.weight"), kv, d, 0, 0, w);
            add(s, NAME("self_attn.v_proj.weight"), kv, d, 0, 0, w);
            if (!strcmp(c->model_type, "qwen2")) {
                add(s, NAME("self_attn.q_proj.bias"), 1, q, 1, 0, 0.1);
                add(s, NAME("self_attn.k_proj.bias"), 1, kv, 1, 0, 0.1);
                add(s, NAME("self_attn.v_proj.bias"), 1, kv, 1, 0, 0.1);
            }
        }
        add(s, NAME("self_attn.o_proj.weight"), d, q, 0, 0, out_std);
        add(s, NAME("post_attention_layernorm.weight"), 1, d, 1, 1.0, 0.05);
        if (!strcmp(c->model_type, "phi3")) {
            add(s, NAME("mlp.gate_up_proj.weight"), 2 * f, d, 0, 0, w);
        } else {
            add(s, NAME("mlp.gate_proj.weight"), f, d, 0, 0, w);
            add(s, NAME("mlp.up_proj.weight"), f, d, 0, 0, w);
        }
        add(s, NAME("mlp.down_proj.weight"), d, f, 0, 0, out_std);
#undef NAME
    }
    add(s, "model.norm.weight", 1, d, 1, 1.0, 0.05);
    if (!c->tie_word_embeddings) add(s, "lm_head.weight", c->vocab_size, d, 0, 0, w);
}

/* Values depend only on (seed, tensor, block), so output is identical for any thread count. */
#define GEN_BLOCK 65536
static void fill(const spec_tensor *t, int index, uint64_t seed, mn_dtype type, uint16_t *out) {
    int64_t total = t->rows * t->cols;
#pragma omp parallel for schedule(static)
    for (int64_t b = 0; b < (total + GEN_BLOCK - 1) / GEN_BLOCK; b++) {
        mn_rng r;
        mn_rng_seed(&r, seed * 1000003u + (uint64_t)index * 7919u + (uint64_t)b);
        int64_t end = (b + 1) * GEN_BLOCK < total ? (b + 1) * GEN_BLOCK : total;
        for (int64_t i = b * GEN_BLOCK; i < end; i++) {
            float v = (float)(t->mean + t->std * mn_rng_normal(&r));
            out[i] = type == MN_BF16 ? mn_f32_to_bf16(v) : mn_f32_to_f16(v);
        }
    }
}

static int write_shard(const char *path, const spec *s, int first, int last, uint64_t seed, mn_dtype type) {
    mn_st_writer *w = mn_st_writer_new();
    int rc = 0;
    for (int i = first; i < last && rc == 0; i++) {
        const spec_tensor *t = &s->t[i];
        int64_t ne[2] = {t->cols, t->rows};
        rc = mn_st_add_tensor(w, t->name, type, t->vector ? 1 : 2, ne);
    }
    if (rc == 0) rc = mn_st_set_metadata(w, "format", "pt");
    if (rc == 0) rc = mn_st_begin(w, path);
    for (int i = first; i < last && rc == 0; i++) {
        const spec_tensor *t = &s->t[i];
        uint16_t *buf = malloc((size_t)(t->rows * t->cols) * 2);
        if (!buf) rc = mn_fail("out of memory for %s", t->name);
        else {
            fill(t, i, seed, type, buf);
            rc = mn_st_write_data(w, buf, (size_t)(t->rows * t->cols) * 2);
        }
        free(buf);
    }
    if (rc == 0) rc = mn_st_finish(w);
    mn_st_writer_free(w);
    return rc;
}

static int copy_file(const char *src, const char *dir) {
    size_t len;
    char *data = mn_read_file(src, &len);
    if (!data) return -1;
    const char *base = strrchr(src, '/') ? strrchr(src, '/') + 1 : src;
    char dst[4096];
    snprintf(dst, sizeof dst, "%s/%s", dir, base);
    int rc = mn_out_write_whole(dst, data, len);
    free(data);
    return rc;
}

int main(int argc, char **argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: make_synthetic tinyllama|phi3|qwen2 full|tiny OUTDIR [--dtype f16|bf16] [--seed N] "
                        "[--shards N] [--copy FILE]...\n");
        return 2;
    }
    mn_dtype type = MN_F16;
    uint64_t seed = 1;
    int shards = 1;
    const char *copies[16];
    int n_copies = 0;
    for (int i = 4; i < argc; i++) {
        if (!strcmp(argv[i], "--dtype") && i + 1 < argc) type = !strcmp(argv[++i], "bf16") ? MN_BF16 : MN_F16;
        else if (!strcmp(argv[i], "--seed") && i + 1 < argc) seed = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--shards") && i + 1 < argc) shards = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--copy") && i + 1 < argc && n_copies < 16) copies[n_copies++] = argv[++i];
        else {
            fprintf(stderr, "make_synthetic: bad argument %s\n", argv[i]);
            return 2;
        }
    }
    mn_hf_config c;
    spec s = {0};
    if (configure(argv[1], argv[2], &c) != 0) {
        fprintf(stderr, "make_synthetic: %s\n", mn_last_error());
        return 2;
    }
    snprintf(c.torch_dtype, sizeof c.torch_dtype, type == MN_BF16 ? "bfloat16" : "float16");
    layout(&c, &s);
    const char *dir = argv[3];
    mkdir(dir, 0755);
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    int rc = mn_hf_config_write(path, &c);
    if (shards <= 1) {
        snprintf(path, sizeof path, "%s/model.safetensors", dir);
        if (rc == 0) rc = write_shard(path, &s, 0, s.n, seed, type);
    } else {
        /* split by bytes into roughly equal shards, as transformers does */
        uint64_t total = 0;
        for (int i = 0; i < s.n; i++) total += (uint64_t)(s.t[i].rows * s.t[i].cols) * 2;
        char *index = malloc((size_t)s.n * 200 + 256);
        size_t used = (size_t)sprintf(index, "{\"metadata\": {\"total_size\": %llu}, \"weight_map\": {",
                                      (unsigned long long)total);
        int first = 0, entries = 0;
        uint64_t acc = 0;
        for (int k = 1; k <= shards && rc == 0; k++) {
            int last = first;
            while (last < s.n && (k == shards || acc < total * k / shards)) {
                acc += (uint64_t)(s.t[last].rows * s.t[last].cols) * 2;
                last++;
            }
            char name[64];
            snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k, shards);
            snprintf(path, sizeof path, "%s/%s", dir, name);
            rc = write_shard(path, &s, first, last, seed, type);
            for (int i = first; i < last; i++)
                used += (size_t)sprintf(index + used, "%s\"%s\": \"%s\"", entries++ ? ", " : "", s.t[i].name,
                                        name);
            first = last;
        }
        used += (size_t)sprintf(index + used, "}}\n");
        snprintf(path, sizeof path, "%s/model.safetensors.index.json", dir);
        if (rc == 0) rc = mn_out_write_whole(path, index, used);
        free(index);
    }
    for (int i = 0; i < n_copies && rc == 0; i++) rc = copy_file(copies[i], dir);
    free(s.t);
    if (rc != 0) {
        fprintf(stderr, "make_synthetic: %s\n", mn_last_error());
        return 1;
    }
    return 0;
}

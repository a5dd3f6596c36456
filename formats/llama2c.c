#include "formats/llama2c.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"

typedef struct {
    mn_llama2c *m;
    const float *cursor;
} layout;

static void add(layout *l, const char *name, int64_t ne0, int64_t ne1) {
    mn_tensor *t = &l->m->tensors[l->m->n_tensors++];
    memset(t, 0, sizeof *t);
    snprintf(t->name, sizeof t->name, "%s", name);
    t->type = MN_F32;
    t->n_dims = ne1 > 1 ? 2 : 1;
    t->ne[0] = ne0;
    t->ne[1] = ne1;
    t->ne[2] = t->ne[3] = 1;
    t->data = l->cursor;
    t->nbytes = (size_t)(ne0 * ne1) * sizeof(float);
    l->cursor += ne0 * ne1;
}

/* One tensor per layer, stored consecutively for all layers (llama2.c's order). */
static void add_per_layer(layout *l, const char *role, int64_t ne0, int64_t ne1) {
    char name[64];
    for (int i = 0; i < l->m->n_layers; i++) {
        snprintf(name, sizeof name, "blk.%d.%s.weight", i, role);
        add(l, name, ne0, ne1);
    }
}

int mn_llama2c_open(const char *path, mn_llama2c *m) {
    memset(m, 0, sizeof *m);
    if (mn_map_file(path, &m->file) != 0) return -1;
    int32_t h[7];
    if (m->file.size < sizeof h) {
        mn_fail("%s: too short for a llama2.c header (%zu bytes)", path, m->file.size);
        goto fail;
    }
    memcpy(h, m->file.data, sizeof h);
    if (h[0] == 0x616b3432) {
        mn_fail("%s: llama2.c export version >= 1 is not supported (minnow reads the legacy fp32 export)", path);
        goto fail;
    }
    m->dim = h[0];
    m->hidden_dim = h[1];
    m->n_layers = h[2];
    m->n_heads = h[3];
    m->n_kv_heads = h[4];
    m->shared_classifier = h[5] > 0;
    m->vocab_size = h[5] == INT32_MIN ? 0 : abs(h[5]);
    m->seq_len = h[6];
    if (m->dim <= 0 || m->hidden_dim <= 0 || m->n_layers <= 0 || m->n_heads <= 0 || m->n_kv_heads <= 0 ||
        m->vocab_size <= 0 || m->seq_len <= 0 || m->dim > 65536 || m->hidden_dim > 262144 || m->n_layers > 1024 ||
        m->n_heads > 1024 || m->vocab_size > 1 << 22 || m->seq_len > 1 << 22) {
        mn_fail("%s: not a llama2.c checkpoint (implausible header: dim %d, hidden %d, layers %d, heads %d, kv heads "
                "%d, vocab %d, seq_len %d)",
                path, h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
        goto fail;
    }
    if (m->dim % m->n_heads || m->n_heads % m->n_kv_heads || (m->dim / m->n_heads) % 2) {
        mn_fail("%s: llama2.c header: dim %d, %d heads and %d kv heads do not divide evenly", path, m->dim,
                m->n_heads, m->n_kv_heads);
        goto fail;
    }
    int64_t d = m->dim, hd = m->dim / m->n_heads, kv = hd * m->n_kv_heads, L = m->n_layers, f = m->hidden_dim;
    int64_t floats = (int64_t)m->vocab_size * d + L * (2 * d + d * d * 2 + d * kv * 2 + 3 * d * f) + d +
                     (int64_t)m->seq_len * hd + (m->shared_classifier ? 0 : (int64_t)m->vocab_size * d);
    uint64_t expect = sizeof h + (uint64_t)floats * 4;
    if (m->file.size != expect) {
        mn_fail("%s: llama2.c checkpoint should be %" PRIu64 " bytes for its header (dim %d, %d layers, vocab %d) "
                "but is %zu",
                path, expect, m->dim, m->n_layers, m->vocab_size, m->file.size);
        goto fail;
    }
    m->tensors = calloc((size_t)(3 + 9 * L + 1), sizeof *m->tensors);
    if (!m->tensors) {
        mn_fail("%s: out of memory", path);
        goto fail;
    }
    /* The header is 28 bytes, so the floats are only 4-byte aligned: fine for f32 loads. */
    layout l = {m, (const float *)((const char *)m->file.data + sizeof h)};
    add(&l, "token_embd.weight", d, m->vocab_size);
    add_per_layer(&l, "attn_norm", d, 1);
    add_per_layer(&l, "attn_q", d, d);
    add_per_layer(&l, "attn_k", d, kv);
    add_per_layer(&l, "attn_v", d, kv);
    add_per_layer(&l, "attn_output", d, d);
    add_per_layer(&l, "ffn_norm", d, 1);
    add_per_layer(&l, "ffn_gate", d, f);
    add_per_layer(&l, "ffn_down", f, d);
    add_per_layer(&l, "ffn_up", d, f);
    add(&l, "output_norm.weight", d, 1);
    l.cursor += (int64_t)m->seq_len * hd; /* freq_cis real and imaginary parts: recomputed instead */
    if (!m->shared_classifier) add(&l, "output.weight", d, m->vocab_size);
    return 0;
fail:
    mn_llama2c_close(m);
    return -1;
}

void mn_llama2c_close(mn_llama2c *m) {
    free(m->tensors);
    mn_unmap_file(&m->file);
    memset(m, 0, sizeof *m);
}

const mn_tensor *mn_llama2c_find(const mn_llama2c *m, const char *name) {
    for (int i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->tensors[i].name, name)) return &m->tensors[i];
    return NULL;
}

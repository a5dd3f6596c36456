/* Checkpoints: the whole training state in one file, written atomically (core/out_file.h),
 * so a run killed at any moment resumes from the last complete one.
 *
 *   "MNDCKPT1", u32 version, u32 0, the run's distill_config, i64 total_steps, warmup_steps,
 *   step, drawn, f64 train_seconds, ppl_teacher, ppl_before, i64 n (steps of history),
 *   f64 loss[n], kl[n], ce[n], f32 weights[n_floats], m[n_floats], v[n_floats], "MNDCKPT1"
 *
 * Native byte order and struct layout: a checkpoint resumes on the machine type that wrote it. */
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"
#include "distill/distill_internal.h"

#define CKPT_MAGIC "MNDCKPT1"
#define CKPT_VERSION 1

typedef struct {
    int64_t total_steps, warmup_steps, step, drawn;
    double train_seconds, ppl_teacher, ppl_before;
    int64_t n_history;
} ckpt_fixed;

int distill_history_push(distill_state *s, double loss, double kl, double ce) {
    if (s->step >= s->history_cap) {
        int64_t cap = s->history_cap ? 2 * s->history_cap : 1024;
        while (cap <= s->step) cap *= 2;
        double *arrays[3] = {s->loss, s->kl, s->ce};
        for (int i = 0; i < 3; i++) {
            double *grown = realloc(arrays[i], (size_t)cap * sizeof(double));
            if (!grown) return mn_fail("out of memory for the loss history");
            arrays[i] = grown;
        }
        s->loss = arrays[0], s->kl = arrays[1], s->ce = arrays[2];
        s->history_cap = cap;
    }
    /* the entry of step s (1-based) sits at s - 1 */
    s->loss[s->step - 1] = loss;
    s->kl[s->step - 1] = kl;
    s->ce[s->step - 1] = ce;
    return 0;
}

void distill_state_free(distill_state *s) {
    free(s->loss);
    free(s->kl);
    free(s->ce);
    s->loss = s->kl = s->ce = NULL;
    s->history_cap = 0;
}

int distill_checkpoint_save(const char *path, const distill_state *s, const float *w, const float *m, const float *v) {
    mn_out_file *f = mn_out_open(path);
    if (!f) return -1;
    const uint32_t version[2] = {CKPT_VERSION, 0};
    const ckpt_fixed fx = {s->total_steps, s->warmup_steps, s->step, s->drawn, s->train_seconds, s->ppl_teacher,
                           s->ppl_before, s->step};
    const size_t floats = (size_t)s->cfg.n_floats * sizeof(float), hist = (size_t)s->step * sizeof(double);
    int rc = mn_out_write(f, CKPT_MAGIC, 8) || mn_out_write(f, version, sizeof version) ||
             mn_out_write(f, &s->cfg, sizeof s->cfg) || mn_out_write(f, &fx, sizeof fx) ||
             mn_out_write(f, s->loss, hist) || mn_out_write(f, s->kl, hist) || mn_out_write(f, s->ce, hist) ||
             mn_out_write(f, w, floats) || mn_out_write(f, m, floats) || mn_out_write(f, v, floats) ||
             mn_out_write(f, CKPT_MAGIC, 8);
    if (rc != 0) {
        mn_out_abort(f);
        return -1;
    }
    return mn_out_commit(f);
}

/* Names the first setting of the checkpoint that differs from this run's. */
static int compare_config(const char *path, const distill_config *have, const distill_config *want) {
    const char *hint = "resume with the options of the interrupted run, or remove the checkpoint";
    if (memcmp(have->teacher_sha256, want->teacher_sha256, 32) != 0)
        return mn_fail("%s: the checkpoint was made with a different teacher; %s", path, hint);
    if (have->n_floats != want->n_floats)
        return mn_fail("%s: the checkpoint holds a different student (%lld weights, this one has %lld); %s", path,
                       (long long)have->n_floats, (long long)want->n_floats, hint);
    if (memcmp(have->data_sha256, want->data_sha256, 32) != 0 || have->seq != want->seq)
        return mn_fail("%s: the checkpoint was made on different data (text, tokenizer or --seq %d); %s", path,
                       have->seq, hint);
    const struct {
        const char *name;
        double have, want;
    } opts[] = {
        {"--batch", have->batch, want->batch},
        {"--accum", have->accum, want->accum},
        {"--topk", have->topk, want->topk},
        {"--warmup", have->warmup, want->warmup},
        {"--steps", (double)have->steps, (double)want->steps},
        {"--minutes", have->minutes, want->minutes},
        {"--lr", have->lr, want->lr},
        {"--temperature", have->temperature, want->temperature},
        {"--alpha-ce", have->alpha_ce, want->alpha_ce},
    };
    for (size_t i = 0; i < sizeof opts / sizeof opts[0]; i++)
        if (opts[i].have != opts[i].want)
            return mn_fail("%s: the checkpoint was made with %s %g, this run has %g; %s", path, opts[i].name,
                           opts[i].have, opts[i].want, hint);
    if (have->seed != want->seed) return mn_fail("%s: the checkpoint was made with another seed; %s", path, hint);
    return 0;
}

int distill_checkpoint_load(const char *path, const distill_config *expect, distill_state *s, float *w, float *m,
                            float *v) {
    mn_mapped_file f;
    if (mn_map_file(path, &f) != 0) return -1;
    const uint8_t *p = f.data;
    const size_t head = 8 + 8 + sizeof(distill_config) + sizeof(ckpt_fixed);
    int rc = -1;
    uint32_t version[2];
    ckpt_fixed fx;
    memset(s, 0, sizeof *s);
    if (f.size < head + 8 || memcmp(p, CKPT_MAGIC, 8) != 0 || memcmp(p + f.size - 8, CKPT_MAGIC, 8) != 0) {
        mn_fail("%s: not a minnow distillation checkpoint (or a truncated one)", path);
        goto done;
    }
    memcpy(version, p + 8, sizeof version);
    if (version[0] != CKPT_VERSION) {
        mn_fail("%s: checkpoint version %u, this minnow reads %u", path, version[0], CKPT_VERSION);
        goto done;
    }
    memcpy(&s->cfg, p + 16, sizeof s->cfg);
    memcpy(&fx, p + 16 + sizeof s->cfg, sizeof fx);
    if (compare_config(path, &s->cfg, expect) != 0) goto done;
    const size_t floats = (size_t)expect->n_floats * sizeof(float);
    if (fx.n_history != fx.step || fx.step < 0 || fx.step > fx.total_steps || fx.drawn < 0 ||
        f.size != head + 3 * (size_t)fx.n_history * sizeof(double) + 3 * floats + 8) {
        mn_fail("%s: corrupt checkpoint (sizes do not add up)", path);
        goto done;
    }
    s->total_steps = fx.total_steps;
    s->warmup_steps = fx.warmup_steps;
    s->step = 0;
    s->drawn = fx.drawn;
    s->train_seconds = fx.train_seconds;
    s->ppl_teacher = fx.ppl_teacher;
    s->ppl_before = fx.ppl_before;
    for (int64_t i = 0; i < fx.n_history; i++) {
        double e[3]; /* loss, KL, CE of step i + 1 */
        for (int a = 0; a < 3; a++) memcpy(&e[a], p + head + ((size_t)a * fx.n_history + i) * sizeof(double), 8);
        s->step = i + 1;
        if (distill_history_push(s, e[0], e[1], e[2]) != 0) goto done;
    }
    s->step = fx.step;
    if (w) {
        const uint8_t *vec = p + head + 3 * (size_t)fx.n_history * sizeof(double);
        memcpy(w, vec, floats);
        memcpy(m, vec + floats, floats);
        memcpy(v, vec + 2 * floats, floats);
    }
    rc = 0;
done:
    if (rc != 0) distill_state_free(s);
    mn_unmap_file(&f);
    return rc;
}

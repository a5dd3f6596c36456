/* The distillation run: inputs checked before anything is written, the teacher's targets,
 * perplexity before, the training loop with checkpoints, then the outputs and perplexity after. */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/out_file.h"
#include "core/progress.h"
#include "core/threads.h"
#include "core/usage.h"
#include "distill/distill_internal.h"
#include "eval/perplexity.h"
#include "model/gguf_export.h"
#include "model/hf_export.h"

/* Fixed settings (docs/distill.md): the data shuffle's seed, AdamW's constants (those the
 * teacher was trained with), the floor of the cosine schedule, the clipping norm. */
#define SEED 1
#define BETA1 0.9
#define BETA2 0.95
#define ADAM_EPS 1e-8
#define WEIGHT_DECAY 0.1
#define MIN_LR_FRACTION 0.1
#define CLIP_NORM 1.0
/* A checkpoint every 5% of the run (every 10 steps at the least), and at least every 10 minutes. */
#define CHECKPOINTS_PER_RUN 20
#define CHECKPOINT_MIN_STEPS 10
#define CHECKPOINT_SECONDS 600.0
#define CHECKPOINT_FILE "checkpoint.bin"

typedef struct {
    const mn_distill_options *o;
    mn_distill_result *res;
    mn_model *teacher, *student, *output;
    distill_data data;
    distill_teacher targets;
    mn_tokens eval;
    mn_train *train;
    distill_loss loss;
    float *m, *v;
    distill_state st;
    int32_t *tokens, *next, *ids; /* one micro-batch */
    float *probs;
    char ckpt_path[4200];
    bool saved; /* a checkpoint of this run exists */
} run;

static void note(const run *r, const char *fmt, ...) MN_PRINTF(2, 3);
static void note(const run *r, const char *fmt, ...) {
    if (r->o->quiet) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static bool stopped(const run *r) { return r->o->stop && *r->o->stop; }

/* ---- checks before anything is written ------------------------------------------------------ */

static int check_options(const mn_distill_options *o) {
    if (!o->teacher || !o->student || !o->data || !o->out_dir) return mn_fail("teacher, student, data and output are required");
    if (o->steps < 0 || o->minutes < 0 || (o->steps > 0) == (o->minutes > 0))
        return mn_fail("give the length of the run as steps or as minutes (one of them)");
    if (o->seq < 2 || o->batch < 1 || o->accum < 1) return mn_fail("--seq must be at least 2, --batch and --accum at least 1");
    if (!(o->lr > 0) || !(o->temperature > 0) || !(o->alpha_ce >= 0 && o->alpha_ce <= 1))
        return mn_fail("--lr and --temperature must be positive and --alpha-ce in [0, 1]");
    if (o->topk < 1) return mn_fail("--topk must be at least 1");
    return 0;
}

static int same_vocabulary(const mn_model *t, const mn_model *s) {
    const mn_vocab *a = mn_tokenizer_vocab(t->tok), *b = mn_tokenizer_vocab(s->tok);
    if (t->hp.n_vocab != s->hp.n_vocab || a->n_tokens != b->n_tokens || a->kind != b->kind)
        return mn_fail("teacher %s and student %s have different vocabularies (%d and %d tokens): distillation "
                       "matches them token by token", t->path, s->path, t->hp.n_vocab, s->hp.n_vocab);
    for (int32_t i = 0; i < a->n_tokens; i++)
        if (strcmp(a->tokens[i], b->tokens[i]) != 0)
            return mn_fail("teacher %s and student %s have different vocabularies (token %d is '%s' and '%s')", t->path,
                           s->path, i, a->tokens[i], b->tokens[i]);
    return 0;
}

static bool dir_is_empty(const char *path) {
    DIR *d = opendir(path);
    if (!d) return false;
    struct dirent *e;
    bool empty = true;
    while (empty && (e = readdir(d)) != NULL) empty = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");
    closedir(d);
    return empty;
}

/* The output directory holds the checkpoint while training and the student at the end; an
 * existing one must be minnow's (a previous run's output or checkpoint) or empty. */
/* True when writing the directory `out` (which replaces it whole at the end) would remove
 * `path`: the directory itself, or a file in it. */
static bool replaces(const char *out, const char *path) {
    if (!path) return false;
    if (mn_same_file(out, path)) return true;
    if (mn_is_directory(path)) return false;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash) return mn_same_file(out, ".");
    *slash = 0;
    return mn_same_file(out, dir[0] ? dir : "/");
}

static int check_out_dir(run *r) {
    const mn_distill_options *o = r->o;
    const char *inputs[] = {o->student, o->teacher, o->data, o->eval_text, o->teacher_cache};
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0]; i++)
        if (replaces(o->out_dir, inputs[i]))
            return mn_fail("%s: the output directory is replaced at the end, and %s is in it; choose another",
                           o->out_dir, inputs[i]);
    if (snprintf(r->ckpt_path, sizeof r->ckpt_path, "%s/%s", o->out_dir, CHECKPOINT_FILE) >= (int)sizeof r->ckpt_path)
        return mn_fail("%s: path too long", o->out_dir);
    struct stat st;
    if (stat(o->out_dir, &st) == 0) {
        if (!S_ISDIR(st.st_mode)) return mn_fail("%s: exists and is not a directory", o->out_dir);
        char probe[4200];
        snprintf(probe, sizeof probe, "%s/config.json", o->out_dir);
        if (!mn_file_exists(probe) && !mn_file_exists(r->ckpt_path) && !dir_is_empty(o->out_dir)) return mn_fail("%s: exists and is not a minnow output directory; name a new one", o->out_dir);
    }
    const bool have_ckpt = mn_file_exists(r->ckpt_path);
    if (o->resume && !have_ckpt) return mn_fail("%s: no checkpoint to resume (a finished run leaves none)", r->ckpt_path);
    if (!o->resume && have_ckpt)
        return mn_fail("%s: an unfinished run's checkpoint; pass --resume to continue it, or remove it", r->ckpt_path);
    return 0;
}

/* Evaluating on text the student trains on would flatter it: warn when the held-out text
 * appears in the data (a 256-byte probe from its middle). */
static void check_overlap(const run *r) {
    size_t dn, en;
    char *data = mn_read_file(r->o->data, &dn), *eval = mn_read_file(r->o->eval_text, &en);
    if (data && eval && en >= 256 && memmem(data, dn, eval + en / 2 - 128, 256))
        note(r, "warning: %s contains text of %s: held-out perplexity will look better than it is", r->o->data,
             r->o->eval_text);
    free(data);
    free(eval);
    mn_clear_error();
}

/* ---- training ------------------------------------------------------------------------------- */

static int save_checkpoint(run *r) {
    if (mkdir(r->o->out_dir, 0755) != 0 && errno != EEXIST)
        return mn_fail("%s: cannot create the output directory: %s", r->o->out_dir, strerror(errno));
    if (distill_checkpoint_save(r->ckpt_path, &r->st, mn_train_weights(r->train), r->m, r->v) != 0) return -1;
    r->saved = true;
    snprintf(r->res->checkpoint, sizeof r->res->checkpoint, "%s", r->ckpt_path);
    return 0;
}

/* Fills the micro-batch buffers with windows drawn at positions first .. first + batch - 1. */
static int load_micro_batch(run *r, int64_t first) {
    const int T = r->o->seq, K = r->o->topk;
    for (int b = 0; b < r->o->batch; b++) {
        const int64_t w = distill_data_pick(&r->data, first + b);
        distill_data_window(&r->data, w, r->tokens + (size_t)b * T, r->next + (size_t)b * T);
        if (distill_teacher_targets(&r->targets, w, r->ids + (size_t)b * T * K, r->probs + (size_t)b * T * K) != 0)
            return -1;
    }
    return 0;
}

/* A failed step: a non-finite loss or gradient gets a message that says what is kept. */
static int step_failed(run *r, int64_t step, const char *what) {
    if (!r->loss.nonfinite && !what) return -1;
    char kept[4400];
    if (r->saved)
        snprintf(kept, sizeof kept, "the last good checkpoint (step %lld) is kept in %s", (long long)r->st.step,
                 r->ckpt_path);
    else
        snprintf(kept, sizeof kept, "no checkpoint was written yet");
    return mn_fail_override("non-finite %s at step %lld (try a lower --lr); %s", what ? what : "loss", (long long)step,
                            kept);
}

/* Time of one micro-batch (targets, forward, backward), for --minutes; gradients discarded. */
static int time_micro_batch(run *r, double *seconds) {
    const double t0 = mn_now();
    r->loss.kl_count = r->loss.ce_count = (double)r->o->batch * r->o->seq;
    if (load_micro_batch(r, r->st.drawn) != 0 ||
        mn_train_step(r->train, r->tokens, r->o->batch, distill_loss_rows, &r->loss) != 0)
        return step_failed(r, 1, NULL);
    *seconds = mn_now() - t0;
    mn_train_zero_grads(r->train);
    return 0;
}

static int train_loop(run *r) {
    const mn_distill_options *o = r->o;
    const int B = o->batch, T = o->seq;
    const int64_t per_step = (int64_t)B * o->accum;
    /* --minutes: the schedule and the run end with the time budget, whatever the machine's load */
    const double budget = o->minutes * 60;
    distill_optim opt = {o->lr,  o->lr * MIN_LR_FRACTION, r->st.warmup_steps, r->st.total_steps, budget, BETA1, BETA2,
                         ADAM_EPS, WEIGHT_DECAY, CLIP_NORM};
    int64_t every = (r->st.total_steps + CHECKPOINTS_PER_RUN - 1) / CHECKPOINTS_PER_RUN;
    if (every < CHECKPOINT_MIN_STEPS) every = CHECKPOINT_MIN_STEPS;
    const int64_t first_step = r->st.step;
    const double run_start = mn_now();
    const clock_t cpu_start = clock();
    double last_save = run_start;
    mn_progress bar;
    mn_progress_begin(&bar, "distill", (uint64_t)(r->st.total_steps - first_step), "steps");
    while (budget > 0 ? r->st.train_seconds < budget : r->st.step < r->st.total_steps) {
        const int64_t step = r->st.step + 1;
        const double t0 = mn_now();
        /* the step's KL and CE positions, so micro-batch gradients add up to the step's mean */
        double ce_rows = 0;
        for (int64_t i = 0; i < per_step; i++)
            ce_rows += distill_data_next_count(&r->data, distill_data_pick(&r->data, r->st.drawn + i));
        r->loss.kl_count = (double)per_step * T;
        r->loss.ce_count = ce_rows;
        mn_train_zero_grads(r->train);
        double kl = 0, ce = 0;
        for (int a = 0; a < o->accum; a++) {
            if (load_micro_batch(r, r->st.drawn + (int64_t)a * B) != 0 ||
                mn_train_step(r->train, r->tokens, B, distill_loss_rows, &r->loss) != 0) {
                mn_progress_end(&bar);
                return step_failed(r, step, NULL);
            }
            for (int i = 0; i < B * T; i++) {
                kl += r->loss.kl[i];
                ce += r->next[i] >= 0 ? r->loss.ce[i] : 0;
            }
            /* Ctrl-C mid-step: the step is not applied, so the state saved is the last step's */
            if (stopped(r)) break;
        }
        if (stopped(r)) break;
        kl /= r->loss.kl_count;
        ce = ce_rows > 0 ? ce / ce_rows : 0;
        const double loss = (1 - o->alpha_ce) * o->temperature * o->temperature * kl + o->alpha_ce * ce;
        const double norm = distill_grad_norm(mn_train_grads(r->train), mn_train_size(r->train));
        if (!isfinite(norm)) {
            mn_progress_end(&bar);
            return step_failed(r, step, "gradient");
        }
        const double lr = distill_lr(&opt, step, r->st.train_seconds);
        distill_adamw(&opt, r->train, r->m, r->v, step, lr, norm > CLIP_NORM ? (float)(CLIP_NORM / norm) : 1.0f);
        r->st.step = step;
        r->st.drawn += per_step;
        r->st.train_seconds += mn_now() - t0;
        if (distill_history_push(&r->st, loss, kl, ce) != 0) return -1;
        if (budget > 0) { /* the steps the rest of the budget holds at this run's pace */
            const double per = r->st.train_seconds / (double)step;
            r->st.total_steps = step + (int64_t)((budget > r->st.train_seconds ? budget - r->st.train_seconds : 0) / per);
            bar.total = (uint64_t)(r->st.total_steps - first_step);
        }
        const double rate = (double)(step - first_step) * per_step * T / (mn_now() - run_start);
        char detail[160];
        snprintf(detail, sizeof detail, "step %lld/%lld  loss %.4f  kl %.4f  ce %.4f  lr %.2e  %.0f tok/s",
                 (long long)step, (long long)r->st.total_steps, loss, kl, ce, lr, rate);
        mn_progress_update(&bar, (uint64_t)(step - first_step), detail);
        if ((budget > 0 ? r->st.train_seconds < budget : step < r->st.total_steps) &&
            (step % every == 0 || mn_now() - last_save >= CHECKPOINT_SECONDS)) {
            if (save_checkpoint(r) != 0) return -1;
            last_save = mn_now();
        }
    }
    mn_progress_end(&bar);
    const int64_t done = r->st.step - first_step;
    r->res->tokens_per_second = done > 0 ? (double)done * per_step * T / (mn_now() - run_start) : 0;
    r->res->cpu_seconds = (double)(clock() - cpu_start) / CLOCKS_PER_SEC;
    /* stopped, or finished: either way the state is saved before anything else is written */
    if (save_checkpoint(r) != 0) return -1;
    return stopped(r) ? 1 : 0;
}

/* ---- outputs ---------------------------------------------------------------------------------- */

static int perplexity(const run *r, const mn_model *m, const char *who, double *ppl) {
    mn_ppl_options po = {.ctx = r->o->seq, .progress = !r->o->quiet};
    mn_ppl_result pr;
    if (mn_perplexity(m, &r->eval, r->o->eval_text, &po, &pr) != 0) return -1;
    *ppl = pr.ppl;
    note(r, "%-16s perplexity %.4f +/- %.4f on %s (%d chunks of %d)", who, pr.ppl, pr.ppl_stderr, r->o->eval_text,
         pr.chunks, pr.ctx);
    return 0;
}

/* The last component of a path ("a/b/" -> "b/"), to keep chart titles short. */
static const char *base_name(const char *path) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    while (n > 0 && path[n - 1] != '/') n--;
    return path + n;
}

static int write_outputs(run *r) {
    const mn_distill_options *o = r->o;
    if (mn_model_write_hf(mn_train_model(r->train), o->out_dir, MN_F16) != 0) return -1;
    /* the directory now holds the finished student (the checkpoint went with the old one) */
    r->saved = false;
    r->res->checkpoint[0] = 0;
    /* everything after is measured on the student as written */
    r->output = mn_model_load(o->out_dir, NULL);
    if (!r->output) return -1;
    char path[4200];
    if (o->gguf) {
        snprintf(path, sizeof path, "%s/model.gguf", o->out_dir);
        /* the reloaded student is f16: stored types kept, vectors as f32 */
        mn_export_plan plan = {.progress_label = o->quiet ? NULL : "gguf"};
        if (mn_model_write_gguf(r->output, path, &plan) != 0) return -1;
    }
    if (o->eval_text && perplexity(r, r->output, "student after", &r->res->ppl_after) != 0) return -1;
    snprintf(path, sizeof path, "%s/loss.svg", o->out_dir);
    char title[600], sub[300];
    snprintf(title, sizeof title, "minnow distill: %.200s from %.200s", base_name(o->student), base_name(o->teacher));
    int n = snprintf(sub, sizeof sub, "%lld steps of %d tokens, lr %g, T %g, alpha-ce %g, top-%d", (long long)r->st.step,
                     o->batch * o->accum * o->seq, o->lr, o->temperature, o->alpha_ce, o->topk);
    if (o->eval_text)
        snprintf(sub + n, sizeof sub - (size_t)n, "; held-out perplexity: teacher %.2f, student %.2f before, %.2f after",
                 r->st.ppl_teacher, r->st.ppl_before, r->res->ppl_after);
    if (distill_write_svg(path, &r->st, title, sub) != 0) return -1;
    return 0;
}

static void fill_result(run *r) {
    mn_distill_result *res = r->res;
    res->step = r->st.step;
    res->total_steps = r->st.total_steps;
    res->tokens = r->st.step * (int64_t)r->o->batch * r->o->accum * r->o->seq;
    if (r->st.step > 0) {
        res->first_loss = r->st.loss[0];
        res->loss = r->st.loss[r->st.step - 1];
        res->kl = r->st.kl[r->st.step - 1];
        res->ce = r->st.ce[r->st.step - 1];
    }
    res->train_seconds = r->st.train_seconds;
    res->ppl_teacher = r->st.ppl_teacher;
    res->ppl_before = r->st.ppl_before;
}

static void free_run(run *r) {
    distill_teacher_close(&r->targets);
    distill_data_free(&r->data);
    distill_loss_free(&r->loss);
    distill_state_free(&r->st);
    mn_train_free(r->train);
    mn_tokens_free(&r->eval);
    mn_model_free(r->output);
    mn_model_free(r->student);
    mn_model_free(r->teacher);
    free(r->m), free(r->v), free(r->tokens), free(r->next), free(r->ids), free(r->probs);
}

/* Loads and checks everything; nothing is written until this succeeds (except a new cache). */
static int prepare(run *r) {
    const mn_distill_options *o = r->o;
    if (check_options(o) != 0 || check_out_dir(r) != 0) return -1;
    r->teacher = mn_model_load(o->teacher, NULL);
    if (!r->teacher || !(r->student = mn_model_load(o->student, NULL))) return -1;
    if (same_vocabulary(r->teacher, r->student) != 0) return -1;
    if (o->topk > r->teacher->hp.n_vocab)
        return mn_fail("--topk %d exceeds the vocabulary (%d tokens)", o->topk, r->teacher->hp.n_vocab);
    if (distill_data_load(&r->data, r->student, o->data, o->seq, SEED) != 0) return -1;
    const int64_t need = (int64_t)o->batch * o->accum;
    if (r->data.n_windows < need)
        return mn_fail("%s: %lld tokens make %lld windows of --seq %d, but one step takes --batch × --accum = %lld",
                       o->data, (long long)r->data.n_tokens, (long long)r->data.n_windows, o->seq, (long long)need);
    if (o->eval_text) {
        if (mn_eval_read_text(r->student, o->eval_text, &r->eval) != 0) return -1;
        if (r->eval.n < (size_t)2 * o->seq)
            return mn_fail("%s: %zu tokens; perplexity with --seq %d as context needs at least %d", o->eval_text,
                           r->eval.n, o->seq, 2 * o->seq);
        check_overlap(r);
    }
    r->train = mn_train_new(r->student, o->seq, o->batch);
    if (!r->train) return -1;
    const size_t n = (size_t)mn_train_size(r->train), rows = (size_t)o->batch * o->seq;
    r->m = calloc(n, sizeof(float));
    r->v = calloc(n, sizeof(float));
    r->tokens = malloc(rows * sizeof(int32_t));
    r->next = malloc(rows * sizeof(int32_t));
    r->ids = malloc(rows * (size_t)o->topk * sizeof(int32_t));
    r->probs = malloc(rows * (size_t)o->topk * sizeof(float));
    if (!r->m || !r->v || !r->tokens || !r->next || !r->ids || !r->probs)
        return mn_fail("out of memory for the optimizer state");
    if (distill_loss_init(&r->loss, r->student->hp.n_vocab, o->topk, (float)o->temperature, (float)o->alpha_ce,
                          (int)rows) != 0)
        return -1;
    r->loss.ids = r->ids, r->loss.probs = r->probs, r->loss.next = r->next;
    r->res->student_params = mn_model_n_params(r->student);

    distill_config *c = &r->st.cfg;
    memset(c, 0, sizeof *c); /* padding included: the checkpoint stores it as bytes */
    distill_model_hash(r->teacher, c->teacher_sha256);
    memcpy(c->data_sha256, r->data.sha256, 32);
    c->n_floats = (int64_t)n;
    c->seq = o->seq, c->batch = o->batch, c->accum = o->accum, c->topk = o->topk, c->warmup = o->warmup;
    c->threads = mn_threads();
    c->steps = o->steps, c->minutes = o->minutes;
    c->lr = o->lr, c->temperature = o->temperature, c->alpha_ce = o->alpha_ce;
    c->seed = SEED;
    if (o->resume) {
        distill_config want = *c;
        if (distill_checkpoint_load(r->ckpt_path, &want, &r->st, mn_train_weights(r->train), r->m, r->v) != 0) return -1;
        r->saved = true;
        if (r->st.cfg.threads != want.threads)
            note(r, "note: the checkpoint was written with %d threads, this run uses %d: it continues, but not bit "
                    "for bit as an uninterrupted run would", r->st.cfg.threads, want.threads);
        r->st.cfg.threads = want.threads;
        note(r, "resuming %s at step %lld of %lld", r->ckpt_path, (long long)r->st.step, (long long)r->st.total_steps);
    }
    return 0;
}

int mn_distill_run(const mn_distill_options *o, mn_distill_result *res) {
    memset(res, 0, sizeof *res);
    run r = {.o = o, .res = res};
    const double start = mn_now();
    int rc = prepare(&r);
    if (rc == 0) {
        const double t0 = mn_now();
        rc = distill_teacher_open(&r.targets, r.teacher, r.st.cfg.teacher_sha256, &r.data, o->topk,
                                  (float)o->temperature, o->teacher_cache, !o->quiet, o->stop, &res->cache_reused);
        res->teacher_seconds = mn_now() - t0;
        if (rc != 0 && stopped(&r)) rc = 1; /* interrupted before training: nothing to save */
        else if (rc == 0 && o->teacher_cache)
            note(&r, "teacher cache %s: %s", o->teacher_cache, res->cache_reused ? "reused" : "built");
    }
    if (rc == 0 && r.st.total_steps == 0) {
        int64_t total = o->steps;
        if (o->minutes > 0) {
            double micro = 0;
            rc = time_micro_batch(&r, &micro);
            total = micro > 0 ? (int64_t)(o->minutes * 60 / (micro * o->accum)) : 1;
            if (total < 1) total = 1;
            if (rc == 0)
                note(&r, "--minutes %g: %.2f s per step now, about %lld steps (the schedule follows the time budget)",
                     o->minutes, micro * o->accum, (long long)total);
        }
        r.st.total_steps = total;
        r.st.warmup_steps = o->warmup >= 0 ? o->warmup : (total / 10 < 100 ? total / 10 : 100);
        if (r.st.warmup_steps > total) r.st.warmup_steps = total;
    }
    if (rc == 0 && o->eval_text && r.st.ppl_teacher == 0) {
        if (perplexity(&r, r.teacher, "teacher", &r.st.ppl_teacher) != 0 ||
            perplexity(&r, r.student, "student before", &r.st.ppl_before) != 0)
            rc = -1;
    }
    if (rc == 0) {
        note(&r, "training %s (%.1fM parameters): %s%lld steps of %d × %d × %d tokens", o->student,
             res->student_params / 1e6, o->minutes > 0 ? "about " : "", (long long)r.st.total_steps, o->batch, o->accum,
             o->seq);
        rc = stopped(&r) ? (save_checkpoint(&r) ? -1 : 1) : train_loop(&r);
    }
    fill_result(&r);
    if (rc == 0) rc = write_outputs(&r);
    res->seconds = mn_now() - start;
    if (rc == 0) {
        char *json = mn_distill_report_json(o, res), path[4200];
        snprintf(path, sizeof path, "%s/distill.json", o->out_dir);
        rc = json ? mn_out_write_whole(path, json, strlen(json)) : mn_fail("out of memory");
        free(json);
    }
    free_run(&r);
    return rc;
}

char *mn_distill_report_json(const mn_distill_options *o, const mn_distill_result *res) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "teacher", o->teacher);
    cJSON_AddStringToObject(j, "student", o->student);
    cJSON_AddStringToObject(j, "data", o->data);
    cJSON_AddStringToObject(j, "output", o->out_dir);
    cJSON_AddNumberToObject(j, "steps", (double)res->step);
    cJSON_AddNumberToObject(j, "total_steps", (double)res->total_steps);
    cJSON_AddNumberToObject(j, "seq", o->seq);
    cJSON_AddNumberToObject(j, "batch", o->batch);
    cJSON_AddNumberToObject(j, "accum", o->accum);
    cJSON_AddNumberToObject(j, "lr", o->lr);
    cJSON_AddNumberToObject(j, "temperature", o->temperature);
    cJSON_AddNumberToObject(j, "alpha_ce", o->alpha_ce);
    cJSON_AddNumberToObject(j, "topk", o->topk);
    cJSON_AddNumberToObject(j, "threads", mn_threads());
    cJSON_AddNumberToObject(j, "tokens", (double)res->tokens);
    cJSON_AddNumberToObject(j, "first_loss", res->first_loss);
    cJSON_AddNumberToObject(j, "loss", res->loss);
    cJSON_AddNumberToObject(j, "kl", res->kl);
    cJSON_AddNumberToObject(j, "ce", res->ce);
    cJSON_AddNumberToObject(j, "tokens_per_second", res->tokens_per_second);
    cJSON_AddNumberToObject(j, "cpu_seconds", res->cpu_seconds);
    cJSON_AddNumberToObject(j, "train_seconds", res->train_seconds);
    cJSON_AddNumberToObject(j, "teacher_seconds", res->teacher_seconds);
    cJSON_AddNumberToObject(j, "seconds", res->seconds);
    cJSON_AddBoolToObject(j, "teacher_cache_reused", res->cache_reused);
    cJSON_AddNumberToObject(j, "student_params", (double)res->student_params);
    if (o->eval_text) {
        cJSON_AddStringToObject(j, "eval_text", o->eval_text);
        cJSON_AddNumberToObject(j, "ppl_teacher", res->ppl_teacher);
        cJSON_AddNumberToObject(j, "ppl_before", res->ppl_before);
        cJSON_AddNumberToObject(j, "ppl_after", res->ppl_after);
        if (res->ppl_before != res->ppl_teacher && res->ppl_after > 0)
            cJSON_AddNumberToObject(j, "gap_recovered",
                                    (res->ppl_before - res->ppl_after) / (res->ppl_before - res->ppl_teacher));
    }
    char *s = cJSON_Print(j);
    cJSON_Delete(j);
    return s;
}

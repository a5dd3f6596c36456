/* Teacher-student logit distillation on a CPU.
 *
 * The student (any mn_model, usually a pruned Hugging Face directory) trains in fp32 on
 * windows of a text: forward KL(teacher ‖ student) at temperature T, scaled by T², over the
 * teacher's top-k probabilities with the rest of its mass kept as one "tail" bucket,
 * optionally mixed with cross-entropy on the text. AdamW, linear warmup then cosine decay,
 * gradient clipping and accumulation. The teacher stays in its stored type and runs the
 * inference forward pass, or is read back from a zstd-compressed cache of its top-k
 * probabilities. Checkpoints resume bit for bit; at the end the student is written as a
 * Hugging Face directory (F16), with a loss curve (SVG), a JSON report and, when asked, a
 * GGUF file. docs/distill.md has the details. */
#ifndef MN_DISTILL_DISTILL_H
#define MN_DISTILL_DISTILL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    const char *teacher, *student, *data, *out_dir;
    int steps;      /* optimizer steps; or */
    double minutes; /* a training-time budget turned into a step count after timing one micro-batch */
    int seq;        /* tokens per window */
    int batch;      /* windows per micro-batch (one forward/backward) */
    int accum;      /* micro-batches per optimizer step */
    double lr;      /* peak learning rate */
    int warmup;     /* warmup steps; < 0 chooses 10% of the steps, at most 100 */
    double temperature;
    double alpha_ce; /* weight of the cross-entropy on the text, in [0, 1] */
    int topk;        /* teacher probabilities kept per position */
    const char *teacher_cache; /* NULL: run the teacher alongside the student */
    const char *eval_text;     /* held-out text for perplexity before and after; NULL skips it */
    bool resume;
    bool gguf;  /* also write OUT_DIR/model.gguf */
    bool quiet; /* no progress or notes on stderr */
    /* Set (by a SIGINT handler) to stop: the run saves a checkpoint and returns 1. */
    volatile sig_atomic_t *stop;
} mn_distill_options;

typedef struct {
    int64_t step, total_steps;
    int64_t tokens; /* tokens trained on, over all steps including resumed ones */
    double loss, kl, ce; /* means over the last step */
    double first_loss;   /* the loss of step 1 */
    double tokens_per_second; /* training throughput of this run */
    double cpu_seconds;       /* CPU time (all threads) of this run's training steps: on a shared
                                 machine, tokens per CPU-second measures the code, not the load */
    double train_seconds, teacher_seconds, seconds;
    bool cache_reused;
    /* Perplexity on eval_text (llama-perplexity's method with ctx = seq); 0 when not measured. */
    double ppl_teacher, ppl_before, ppl_after;
    uint64_t student_params;
    char checkpoint[4200]; /* where the checkpoint is, after an interruption or failure */
} mn_distill_result;

/* Returns 0 when the run finished and the outputs are written, 1 when opt->stop interrupted
 * it (a checkpoint saved; --resume continues), -1 on failure (error recorded; the last good
 * checkpoint, if any, is kept and nothing else is written). */
int mn_distill_run(const mn_distill_options *opt, mn_distill_result *res);

/* The run's report as one JSON object (malloc'd; NULL when out of memory): what the CLI's
 * --json prints and OUT_DIR/distill.json holds. */
char *mn_distill_report_json(const mn_distill_options *opt, const mn_distill_result *res);

#endif

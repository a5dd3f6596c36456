#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/args.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/progress.h"
#include "core/threads.h"
#include "distill/distill.h"

/* Exit code of a run stopped by Ctrl-C after saving its checkpoint (128 + SIGINT, as shells
 * report it). */
#define EXIT_INTERRUPTED 130

static volatile sig_atomic_t stop_requested;
static struct sigaction previous_sigint;

/* The first Ctrl-C asks the run to save a checkpoint and stop; a second one falls back to the
 * handler it replaced (core/out_file.h's: remove temporaries and die), for a run stuck in a
 * long evaluation. */
static void on_sigint(int sig) {
    if (stop_requested) {
        sigaction(SIGINT, &previous_sigint, NULL);
        raise(sig);
        return;
    }
    stop_requested = 1;
}

static void print_summary(const mn_distill_options *o, const mn_distill_result *r) {
    printf("student     %s  (Hugging Face, f16%s; %.1fM parameters)\n", o->out_dir, o->gguf ? ", + model.gguf" : "",
           r->student_params / 1e6);
    printf("trained     %lld steps, %.2fM tokens; last step: loss %.4f, KL %.4f", (long long)r->step, r->tokens / 1e6,
           r->loss, r->kl);
    if (o->alpha_ce > 0) printf(", CE %.4f", r->ce);
    printf("\nspeed       %.0f tokens/s (%d threads); %.0f s training, %.0f s teacher%s, %.0f s in all\n",
           r->tokens_per_second, mn_threads(), r->train_seconds, r->teacher_seconds,
           o->teacher_cache ? (r->cache_reused ? " (cache reused)" : " (cache built)") : "", r->seconds);
    if (o->eval_text) {
        printf("perplexity  teacher %.4f, student before %.4f, after %.4f on %s", r->ppl_teacher, r->ppl_before,
               r->ppl_after, o->eval_text);
        if (r->ppl_before != r->ppl_teacher)
            printf(" (%.1f%% of the gap recovered)",
                   100 * (r->ppl_before - r->ppl_after) / (r->ppl_before - r->ppl_teacher));
        printf("\n");
    }
    printf("report      %s/loss.svg, %s/distill.json\n", o->out_dir, o->out_dir);
}

int cmd_distill(int argc, char **argv) {
    mn_distill_options o = {.seq = 256, .batch = 4, .accum = 4, .lr = 3e-4, .warmup = -1, .temperature = 1.0,
                            .topk = 32};
    int threads = 0;
    bool json = false;
    const mn_opt opts[] = {
        {"--teacher", NULL, MN_OPT_STRING, &o.teacher, "teacher model (required)"},
        {"--student", NULL, MN_OPT_STRING, &o.student, "student model, e.g. a pruned directory (required)"},
        {"--data", NULL, MN_OPT_STRING, &o.data, "training text (required)"},
        {"--output", "-o", MN_OPT_STRING, &o.out_dir, "output directory: the student (Hugging Face, f16) (required)"},
        {"--steps", NULL, MN_OPT_INT, &o.steps, "optimizer steps"},
        {"--minutes", NULL, MN_OPT_DOUBLE, &o.minutes, "or a training-time budget (default 30 minutes)"},
        {"--seq", NULL, MN_OPT_INT, &o.seq, "tokens per window (default 256)"},
        {"--batch", NULL, MN_OPT_INT, &o.batch, "windows per micro-batch (default 4)"},
        {"--accum", NULL, MN_OPT_INT, &o.accum, "micro-batches per step (default 4)"},
        {"--lr", NULL, MN_OPT_DOUBLE, &o.lr, "peak learning rate (default 3e-4)"},
        {"--warmup", NULL, MN_OPT_INT, &o.warmup, "warmup steps (default 10% of the steps, at most 100)"},
        {"--temperature", NULL, MN_OPT_DOUBLE, &o.temperature, "softmax temperature of the KL (default 1)"},
        {"--alpha-ce", NULL, MN_OPT_DOUBLE, &o.alpha_ce, "weight of cross-entropy on the data, 0..1 (default 0)"},
        {"--topk", NULL, MN_OPT_INT, &o.topk, "teacher probabilities kept per position (default 32)"},
        {"--teacher-cache", NULL, MN_OPT_STRING, &o.teacher_cache, "teacher top-k cache file: built if absent, else reused"},
        {"--resume", NULL, MN_OPT_FLAG, &o.resume, "continue the run checkpointed in the output directory"},
        {"--eval-text", NULL, MN_OPT_STRING, &o.eval_text, "held-out text: perplexity of teacher, student before and after"},
        {"--gguf", NULL, MN_OPT_FLAG, &o.gguf, "also write the student as OUTDIR/model.gguf"},
        {"--threads", NULL, MN_OPT_INT, &threads, "threads (default: all cores)"},
        {"--json", NULL, MN_OPT_FLAG, &json, "print one JSON object on stdout"},
        {"--quiet", "-q", MN_OPT_FLAG, &o.quiet, "no progress on stderr"},
        {NULL},
    };
    const mn_command_spec spec = {"distill", "--teacher MODEL --student MODEL --data FILE -o OUTDIR [options]",
                                  "Recover a pruned student's quality by training it on a teacher's logits "
                                  "(forward KL at a temperature, optional cross-entropy), on the CPU.",
                                  opts, 0, 0};
    int n_pos;
    int rc = mn_parse_args(&spec, argc, argv, NULL, &n_pos);
    if (rc >= 0) return rc;
    if (!o.teacher || !o.student || !o.data || !o.out_dir)
        return mn_usage_error(&spec, "--teacher, --student, --data and -o are required");
    if (o.steps < 0 || o.minutes < 0) return mn_usage_error(&spec, "--steps and --minutes must be positive");
    if (o.steps > 0 && o.minutes > 0) return mn_usage_error(&spec, "give --steps or --minutes, not both");
    if (o.steps == 0 && o.minutes == 0) o.minutes = 30;
    if (o.seq < 2 || o.batch < 1 || o.accum < 1)
        return mn_usage_error(&spec, "--seq must be at least 2, --batch and --accum at least 1");
    if (!(o.lr > 0) || !(o.temperature > 0)) return mn_usage_error(&spec, "--lr and --temperature must be positive");
    if (!(o.alpha_ce >= 0 && o.alpha_ce <= 1)) return mn_usage_error(&spec, "--alpha-ce must be between 0 and 1");
    if (o.topk < 1) return mn_usage_error(&spec, "--topk must be at least 1");
    mn_set_threads(threads);
    mn_progress_set_enabled(!o.quiet);

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigint;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &previous_sigint);
    o.stop = &stop_requested;

    mn_distill_result res;
    rc = mn_distill_run(&o, &res);
    sigaction(SIGINT, &previous_sigint, NULL);
    if (rc < 0) {
        if (res.checkpoint[0] && !strstr(mn_last_error(), res.checkpoint)) {
            char msg[1024];
            snprintf(msg, sizeof msg, "%s", mn_last_error());
            mn_fail_override("%s (checkpoint: %s)", msg, res.checkpoint);
        }
        return mn_report_error();
    }
    if (rc > 0) {
        if (res.checkpoint[0])
            fprintf(stderr, "minnow distill: interrupted at step %lld of %lld; checkpoint saved in %s: run the same "
                            "command with --resume to continue\n",
                    (long long)res.step, (long long)res.total_steps, res.checkpoint);
        else
            fprintf(stderr, "minnow distill: interrupted before training started; nothing was saved\n");
        return EXIT_INTERRUPTED;
    }
    if (json) {
        char *s = mn_distill_report_json(&o, &res);
        if (!s) return MN_EXIT_ERROR;
        printf("%s\n", s);
        free(s);
    } else {
        print_summary(&o, &res);
    }
    return MN_EXIT_OK;
}

/* llama-peer: drives llama.cpp's prebuilt library (npm @node-llama-cpp/linux-x64@3.22.1,
 * llama.cpp release v0.5.0) so minnow's files and numbers can be checked against llama.cpp
 * itself. Built by tests/peer/setup.sh; run `llama-peer` without arguments for the commands.
 *
 * Numbers go to stdout as one JSON object; errors are one line on stderr and exit status 1.
 * llama.cpp's own logging is silenced unless --verbose is given (its first error line is kept
 * and appended to our message when a library call fails).
 *
 * Defaults that matter when minnow (fp32 everywhere) is compared with these numbers:
 * - KV cache: K and V are stored as F16 (llama_context_default_params, as in llama-perplexity),
 *   and the attention mask is F16 too.
 * - Flash attention: AUTO, which resolves to ON for the CPU backend. With 64 or more query
 *   rows per sequence in a micro-batch (ppl, kld, long --ids) the CPU kernel widens K/V tiles
 *   to f32 and works in f32; with fewer (generation, short --ids) it rounds Q to F16 for the
 *   K.Q products and accumulates softmax(KQ).V in an F16 buffer. So the same position can
 *   get slightly different logits depending on how many tokens were decoded with it.
 * - Matrix products: ggml's CPU backend converts the activations to the weight's "vec_dot"
 *   type first: F16 for F16 weights, BF16 for BF16, Q8_0 for Q4_0/Q5_0/Q8_0, Q8_1 for
 *   Q4_1/Q5_1, Q8_K for the k-quants. Only F32 weights multiply f32 activations. Quantized
 *   weights may also be repacked at load time (use_extra_bufts, the default: AMX or
 *   interleaved CPU layouts), which changes the summation order, not the math.
 * - Batching: llama-perplexity's defaults are n_batch 2048 and n_ubatch 512, so with ctx 512
 *   four chunks are decoded together as four sequences (n_seq_max 4, n_ctx 2048, kv_unified
 *   false). The library rounds n_ctx (per sequence) up to a multiple of 256.
 * - swa_full: llama-perplexity passes false (common_params); the library default is true.
 *   Irrelevant for the architectures minnow writes (no sliding-window attention).
 * - Threads: --threads (default 2) sets n_threads and n_threads_batch; llama-perplexity uses
 *   all cores. Logits came out bit-identical with 1 and 2 threads (f32, f16, q4_k_m models).
 * - The CPU backend is a plugin picked at startup for this CPU (`llama-peer system` shows
 *   which), so low-order bits can differ between machines.
 */
#define _GNU_SOURCE /* dl_iterate_phdr */
#include <errno.h>
#include <math.h>
#include <link.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "ggml-backend.h"
#include "ggml.h"
#include "gguf.h"
#include "llama.h"

#ifndef PEER_BINS_REL
#error "build with -DPEER_BINS_REL=\"path of the .so directory relative to the executable\""
#endif

/* ---------------------------------------------------------------------------------------
 * Errors and logging
 * ------------------------------------------------------------------------------------- */

static const char *g_cmd = "llama-peer";
static bool g_verbose;
static char g_llama_error[512];

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s: ", g_cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    exit(1);
}

/* Like die() for a failed library call: adds llama.cpp's first error line, if any. */
static void die_llama(const char *what) __attribute__((noreturn));

static void die_llama(const char *what)
{
    if (g_llama_error[0])
        die("%s (llama.cpp: %s)", what, g_llama_error);
    die("%s", what);
}

static void log_callback(enum ggml_log_level level, const char *text, void *user)
{
    (void)user;
    if (g_verbose)
        fputs(text, stderr);
    /* Keep the first error (the innermost cause; the library's later lines only say that the
     * call failed), first line only. */
    if (level == GGML_LOG_LEVEL_ERROR && !g_llama_error[0]) {
        snprintf(g_llama_error, sizeof g_llama_error, "%s", text);
        g_llama_error[strcspn(g_llama_error, "\n")] = '\0';
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        die("out of memory (%zu bytes)", n);
    return p;
}

static double now_seconds(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long long peak_rss_bytes(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (long long)ru.ru_maxrss * 1024; /* Linux reports KiB */
}

/* ---------------------------------------------------------------------------------------
 * JSON output
 * ------------------------------------------------------------------------------------- */

static void json_str(const char *s)
{
    putchar('"');
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            printf("\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", stdout);
        else if (*p < 0x20)
            printf("\\u%04x", *p);
        else
            putchar(*p);
    }
    putchar('"');
}

/* One "key": number member; non-finite values become null (JSON has no NaN). */
static void json_num(const char *key, double v, bool last)
{
    printf("\"%s\": ", key);
    if (isfinite(v))
        printf("%.17g", v);
    else
        fputs("null", stdout);
    fputs(last ? "}\n" : ", ", stdout);
}

/* ---------------------------------------------------------------------------------------
 * Command-line options
 * ------------------------------------------------------------------------------------- */

typedef struct {
    const char *pos[3];
    int n_pos;
    const char *file, *file_list, *prompt, *ids, *out, *imatrix;
    long threads, ctx, chunks, batch, n_predict, row_len;
    bool no_bos;
} args;

enum { OPT_INT, OPT_STR, OPT_FLAG };

static const struct {
    const char *name;
    int kind;
    size_t offset;
} k_options[] = {
    {"--file", OPT_STR, offsetof(args, file)},
    {"--file-list", OPT_STR, offsetof(args, file_list)},
    {"--prompt", OPT_STR, offsetof(args, prompt)},
    {"--ids", OPT_STR, offsetof(args, ids)},
    {"-o", OPT_STR, offsetof(args, out)},
    {"--imatrix", OPT_STR, offsetof(args, imatrix)},
    {"--threads", OPT_INT, offsetof(args, threads)},
    {"--ctx", OPT_INT, offsetof(args, ctx)},
    {"--chunks", OPT_INT, offsetof(args, chunks)},
    {"--batch", OPT_INT, offsetof(args, batch)},
    {"-n", OPT_INT, offsetof(args, n_predict)},
    {"--row-len", OPT_INT, offsetof(args, row_len)},
    {"--no-bos", OPT_FLAG, offsetof(args, no_bos)},
};

/* True when `word` is one of the space-separated words of `list`. */
static bool word_in(const char *list, const char *word)
{
    const size_t len = strlen(word);
    for (const char *p = list; *p;) {
        const size_t n = strcspn(p, " ");
        if (n == len && strncmp(p, word, len) == 0)
            return true;
        p += n;
        p += strspn(p, " ");
    }
    return false;
}

/* Parses argv (after the subcommand). `allowed` lists the options this subcommand takes,
 * separated by spaces; exactly n_pos positional arguments are required. Integers must be
 * positive. Unset integers are 0, except --threads (2). */
static args parse_args(int argc, char **argv, const char *allowed, int n_pos, const char *positional)
{
    args a = {.threads = 2};
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (arg[0] != '-' || arg[1] == '\0') {
            if (a.n_pos == n_pos)
                die("unexpected argument '%s' (expected %s)", arg, positional);
            a.pos[a.n_pos++] = arg;
            continue;
        }
        size_t k = 0, n_opt = sizeof k_options / sizeof k_options[0];
        while (k < n_opt && strcmp(k_options[k].name, arg) != 0)
            k++;
        if (k == n_opt || !word_in(allowed, arg))
            die("unknown option '%s'", arg);
        char *field = (char *)&a + k_options[k].offset;
        if (k_options[k].kind == OPT_FLAG) {
            *(bool *)field = true;
            continue;
        }
        if (i + 1 >= argc)
            die("option %s needs a value", arg);
        const char *value = argv[++i];
        if (k_options[k].kind == OPT_STR) {
            *(const char **)field = value;
            continue;
        }
        char *end;
        errno = 0;
        long v = strtol(value, &end, 10);
        if (errno || end == value || *end || v <= 0 || v > INT32_MAX)
            die("option %s needs a positive integer, got '%s'", arg, value);
        *(long *)field = v;
    }
    if (a.n_pos != n_pos)
        die("expected %s", positional);
    return a;
}

/* ---------------------------------------------------------------------------------------
 * Files
 * ------------------------------------------------------------------------------------- */

/* Reads a whole file; *len gets its size. */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        die("cannot open %s: %s", path, strerror(errno));
    size_t cap = 1 << 16, n = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        n += fread(buf + n, 1, cap - n, f);
        if (n < cap)
            break;
        cap *= 2;
        char *grown = realloc(buf, cap + 1);
        if (!grown)
            die("out of memory reading %s", path);
        buf = grown;
    }
    if (ferror(f))
        die("cannot read %s: %s", path, strerror(errno));
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The evaluation text, read as llama.cpp's `-f` reads it: the whole file with exactly one
 * trailing '\n' dropped. */
static char *read_text(const char *path, size_t *len)
{
    char *text = read_file(path, len);
    if (*len > 0 && text[*len - 1] == '\n')
        text[--*len] = '\0';
    return text;
}

/* Reads a file of float32 values; its size must be a multiple of `multiple` floats. */
static float *read_f32(const char *path, size_t multiple, size_t *count)
{
    size_t len;
    char *bytes = read_file(path, &len);
    if (len == 0 || len % (multiple * sizeof(float)) != 0)
        die("%s: %zu bytes is not a non-zero multiple of %zu float32 values", path, len, multiple);
    *count = len / sizeof(float);
    return (float *)bytes;
}

static void write_file(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        die("cannot create %s: %s", path, strerror(errno));
    if (fwrite(data, 1, n, f) != n || fclose(f) != 0) {
        int e = errno;
        unlink(path);
        die("cannot write %s: %s", path, strerror(e));
    }
}

/* ---------------------------------------------------------------------------------------
 * Library setup, models, contexts, tokens
 * ------------------------------------------------------------------------------------- */

/* The CPU backend is not linked in: it is one of several plugins (one per x86 feature level)
 * next to libllama; ggml loads the best one for this CPU. */
static void load_backends(void)
{
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0)
        die("cannot find the executable's path: %s", strerror(errno));
    exe[n] = '\0';
    char *slash = strrchr(exe, '/');
    *slash = '\0';
    char bins[8192];
    snprintf(bins, sizeof bins, "%s/%s", exe, PEER_BINS_REL);
    ggml_backend_load_all_from_path(bins);
    if (!ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU))
        die("no CPU backend plugin could be loaded from %s", bins);
}

static struct llama_model *load_model(const char *path, bool vocab_only)
{
    if (access(path, R_OK) != 0)
        die("cannot open %s: %s", path, strerror(errno));
    struct llama_model_params mp = llama_model_default_params();
    mp.vocab_only = vocab_only;
    struct llama_model *model = llama_model_load_from_file(path, mp);
    if (!model) {
        char what[4200];
        snprintf(what, sizeof what, "llama.cpp cannot load %s", path);
        die_llama(what);
    }
    return model;
}

/* A context with the library defaults (F16 KV cache, flash attention AUTO, n_ubatch 512),
 * except what llama-perplexity's common_params set differently (swa_full). */
static struct llama_context *new_context(struct llama_model *model, int n_ctx, int n_seq, int n_batch, int threads)
{
    struct llama_context_params cp = llama_context_default_params();
    cp.n_ctx = (uint32_t)n_ctx;
    cp.n_seq_max = (uint32_t)n_seq;
    cp.n_batch = (uint32_t)n_batch;
    cp.n_threads = threads;
    cp.n_threads_batch = threads;
    cp.swa_full = false;
    struct llama_context *ctx = llama_init_from_model(model, cp);
    if (!ctx)
        die_llama("llama.cpp cannot create a context");
    return ctx;
}

/* llama-perplexity's (common_init_from_params) warm-up: decode [BOS, EOS] once and clear
 * the memory, so one-time costs stay out of the timed loop. It does not change results. */
static void warm_up(struct llama_context *ctx, const struct llama_vocab *vocab)
{
    llama_token tmp[2];
    int n = 0;
    if (llama_vocab_bos(vocab) != LLAMA_TOKEN_NULL)
        tmp[n++] = llama_vocab_bos(vocab);
    if (llama_vocab_eos(vocab) != LLAMA_TOKEN_NULL)
        tmp[n++] = llama_vocab_eos(vocab);
    if (n == 0)
        tmp[n++] = 0;
    if (llama_decode(ctx, llama_batch_get_one(tmp, n)) != 0)
        die_llama("llama_decode failed during warm-up");
    llama_memory_clear(llama_get_memory(ctx), true);
    llama_synchronize(ctx);
}

/* Tokenizes like common_tokenize(): first try with a buffer of len + 2 tokens, then with the
 * exact size llama_tokenize asks for. */
static llama_token *tokenize(const struct llama_vocab *vocab, const char *text, size_t len, bool add_special,
                             bool parse_special, int *n_out)
{
    if (len > INT32_MAX - 2)
        die("text too long to tokenize (%zu bytes)", len);
    int cap = (int)len + 2;
    llama_token *toks = xmalloc(sizeof(llama_token) * (size_t)cap);
    int n = llama_tokenize(vocab, text, (int32_t)len, toks, cap, add_special, parse_special);
    if (n < 0 && n != INT32_MIN) {
        cap = -n;
        free(toks);
        toks = xmalloc(sizeof(llama_token) * (size_t)cap);
        n = llama_tokenize(vocab, text, (int32_t)len, toks, cap, add_special, parse_special);
    }
    if (n < 0)
        die_llama("tokenization failed");
    *n_out = n;
    return toks;
}

/* The logits of batch entry i (-1: the last one), which must have requested them. */
static const float *logits_row(struct llama_context *ctx, int i)
{
    const float *row = llama_get_logits_ith(ctx, i);
    if (!row)
        die_llama("llama.cpp returned no logits");
    return row;
}

/* Index of the first largest value. */
static int argmax(const float *v, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (v[i] > v[best])
            best = i;
    return best;
}

/* ---------------------------------------------------------------------------------------
 * tokenize
 * ------------------------------------------------------------------------------------- */

/* Prints the ids of one text, then (in a list) a line "--". */
static void print_ids(const struct llama_vocab *vocab, const char *text, size_t len, bool add_bos, bool separator)
{
    int n;
    /* llama-perplexity: add_special = true (BOS when the vocab adds it), parse_special = false. */
    llama_token *toks = tokenize(vocab, text, len, add_bos, false, &n);
    for (int i = 0; i < n; i++)
        printf("%d\n", toks[i]);
    if (separator)
        printf("--\n");
    free(toks);
}

static int cmd_tokenize(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--file --file-list --prompt --no-bos", 1,
                        "MODEL.gguf (--file F | --file-list LIST | --prompt S)");
    if ((a.file != NULL) + (a.prompt != NULL) + (a.file_list != NULL) != 1)
        die("give exactly one of --file, --file-list and --prompt");
    struct llama_model *model = load_model(a.pos[0], true);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    if (a.prompt) {
        print_ids(vocab, a.prompt, strlen(a.prompt), !a.no_bos, false);
    } else if (a.file) {
        size_t len;
        char *text = read_text(a.file, &len);
        print_ids(vocab, text, len, !a.no_bos, false);
        free(text);
    } else { /* one path per line: many texts for one vocabulary load */
        size_t list_len;
        char *list = read_file(a.file_list, &list_len);
        for (char *line = strtok(list, "\n"); line; line = strtok(NULL, "\n")) {
            size_t len;
            char *text = read_text(line, &len);
            print_ids(vocab, text, len, !a.no_bos, true);
            free(text);
        }
        free(list);
    }
    llama_model_free(model);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * logits
 * ------------------------------------------------------------------------------------- */

static int cmd_logits(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--ids --threads -o", 1, "MODEL.gguf --ids 1,2,3 -o OUT.f32");
    if (!a.ids || !a.out)
        die("--ids and -o are required");
    struct llama_model *model = load_model(a.pos[0], false);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);

    size_t cap = strlen(a.ids) / 2 + 1;
    llama_token *ids = xmalloc(sizeof(llama_token) * cap);
    int n = 0;
    for (const char *p = a.ids; *p;) {
        char *end;
        errno = 0;
        long v = strtol(p, &end, 10);
        if (errno || end == p || (*end && *end != ',') || v < 0 || v >= n_vocab)
            die("--ids: bad token id near '%.20s' (ids are 0..%d, comma-separated)", p, n_vocab - 1);
        ids[n++] = (llama_token)v;
        p = *end ? end + 1 : end;
    }
    if (n == 0)
        die("--ids: no token ids");

    struct llama_context *ctx = new_context(model, n, 1, n, (int)a.threads);
    struct llama_batch batch = llama_batch_init(n, 0, 1);
    for (int i = 0; i < n; i++) {
        batch.token[i] = ids[i];
        batch.pos[i] = i;
        batch.n_seq_id[i] = 1;
        batch.seq_id[i][0] = 0;
        batch.logits[i] = 1;
    }
    batch.n_tokens = n;
    double t0 = now_seconds();
    if (llama_decode(ctx, batch) != 0)
        die_llama("llama_decode failed");
    double seconds = now_seconds() - t0;

    float *rows = xmalloc(sizeof(float) * (size_t)n * (size_t)n_vocab);
    for (int i = 0; i < n; i++)
        memcpy(rows + (size_t)i * n_vocab, logits_row(ctx, i), sizeof(float) * (size_t)n_vocab);
    write_file(a.out, rows, sizeof(float) * (size_t)n * (size_t)n_vocab);

    printf("{\"tokens\": %d, \"n_vocab\": %d, ", n, n_vocab);
    json_num("seconds", seconds, true);
    free(rows);
    free(ids);
    llama_batch_free(batch);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * Perplexity chunking, shared by ppl and kld. Mirrors llama-perplexity's default mode:
 * main() turns -b/-c into n_seq parallel sequences, perplexity() walks the chunks.
 * ------------------------------------------------------------------------------------- */

typedef struct {
    int ctx;         /* tokens per chunk (-c) */
    int n_batch;     /* tokens per llama_decode call */
    int n_seq;       /* chunks decoded together, one sequence each */
    int num_batches; /* decode calls per chunk group: > 1 only when n_batch < ctx */
    int first;       /* first position whose logits are used: ctx/2 */
    int n_scored;    /* positions scored per chunk: first .. ctx-2 predict the next token */
    int n_chunk;
} ppl_plan;

static ppl_plan plan_chunks(int ctx, int batch, int n_tokens, int max_chunks)
{
    ppl_plan p;
    p.ctx = ctx;
    /* main(): n_parallel = max(1, n_batch/n_ctx); context n_ctx = n_parallel*ctx;
     * n_batch = min(n_batch, that n_ctx). perplexity() recomputes n_seq from the new
     * n_batch, which gives the same value. */
    p.n_seq = batch / ctx > 1 ? batch / ctx : 1;
    p.n_batch = batch < p.n_seq * ctx ? batch : p.n_seq * ctx;
    p.num_batches = (ctx + p.n_batch - 1) / p.n_batch;
    p.first = ctx / 2;
    p.n_scored = ctx - 1 - p.first;
    /* Whole chunks only; the tail of the text is not used. */
    p.n_chunk = n_tokens / ctx;
    if (max_chunks > 0 && max_chunks < p.n_chunk)
        p.n_chunk = max_chunks;
    return p;
}

/* Tokenizes the evaluation text as llama-perplexity does (BOS if the vocab adds one, no
 * special-token parsing) and refuses texts shorter than 2*ctx tokens, as it does. */
static llama_token *eval_tokens(const char *path, const struct llama_vocab *vocab, int ctx, int *n)
{
    size_t len;
    char *text = read_text(path, &len);
    llama_token *toks = tokenize(vocab, text, len, true, false, n);
    free(text);
    if (*n < 2 * ctx)
        die("%s: %d tokens; perplexity with --ctx %d needs at least %d", path, *n, ctx, 2 * ctx);
    return toks;
}

/* One model evaluating chunk groups. */
typedef struct {
    struct llama_model *model;
    struct llama_context *ctx;
    const struct llama_vocab *vocab;
    int n_vocab;
    bool add_bos;
    llama_token bos;
    struct llama_batch batch;
    float *rows; /* scored rows gathered over the decode calls when num_batches > 1 */
} evaluator;

static void eval_load(evaluator *ev, const char *path)
{
    ev->model = load_model(path, false);
    ev->vocab = llama_model_get_vocab(ev->model);
    ev->n_vocab = llama_vocab_n_tokens(ev->vocab);
    ev->add_bos = llama_vocab_get_add_bos(ev->vocab);
    ev->bos = llama_vocab_bos(ev->vocab);
    /* llama-perplexity asserts this; scored positions would otherwise include an EOS. */
    if (llama_vocab_get_add_eos(ev->vocab))
        die("%s: the vocabulary appends EOS, which llama-perplexity does not support", path);
}

/* The context llama-perplexity's main() creates: n_seq sequences of ctx tokens. */
static void eval_start(evaluator *ev, const ppl_plan *p, int threads)
{
    ev->ctx = new_context(ev->model, p->n_seq * p->ctx, p->n_seq, p->n_batch, threads);
    warm_up(ev->ctx, ev->vocab);
    ev->batch = llama_batch_init(p->n_batch, 0, 1);
    ev->rows = p->num_batches > 1 ? xmalloc(sizeof(float) * (size_t)(p->ctx - p->first) * (size_t)ev->n_vocab) : NULL;
}

static void eval_close(evaluator *ev)
{
    free(ev->rows);
    llama_batch_free(ev->batch);
    llama_free(ev->ctx);
    llama_model_free(ev->model);
}

/* Decodes chunks first_chunk .. first_chunk+n_seq_batch-1, chunk s as sequence s at
 * positions 0..ctx-1, on an empty KV cache. As llama-perplexity does, the first token of each
 * chunk is replaced by BOS (when the vocab adds BOS) and logits are requested only from
 * position ctx/2 on. */
static void eval_group(evaluator *ev, const ppl_plan *p, const llama_token *tokens, int first_chunk, int n_seq_batch)
{
    llama_memory_clear(llama_get_memory(ev->ctx), true);
    const int start = first_chunk * p->ctx;
    size_t n_rows = 0;
    for (int j = 0; j < p->num_batches; j++) {
        const int batch_start = start + j * p->n_batch;
        const int batch_size = p->ctx - j * p->n_batch < p->n_batch ? p->ctx - j * p->n_batch : p->n_batch;
        struct llama_batch *b = &ev->batch;
        b->n_tokens = 0;
        for (int seq = 0; seq < n_seq_batch; seq++) {
            const int seq_start = batch_start + seq * p->ctx;
            for (int k = 0; k < batch_size; k++) {
                const int idx = b->n_tokens++;
                const int pos = j * p->n_batch + k;
                b->token[idx] = (pos == 0 && ev->add_bos) ? ev->bos : tokens[seq_start + k];
                b->pos[idx] = pos;
                b->n_seq_id[idx] = 1;
                b->seq_id[idx][0] = seq;
                b->logits[idx] = pos >= p->first;
            }
        }
        if (llama_decode(ev->ctx, *b) != 0)
            die_llama("llama_decode failed");
        if (p->num_batches > 1) {
            for (int idx = 0; idx < b->n_tokens; idx++) {
                if (!b->logits[idx])
                    continue;
                memcpy(ev->rows + n_rows * ev->n_vocab, logits_row(ev->ctx, idx),
                       sizeof(float) * (size_t)ev->n_vocab);
                n_rows++;
            }
        }
    }
}

/* Logits at position first + r of sequence seq of the last group decoded. */
static const float *eval_row(const evaluator *ev, const ppl_plan *p, int seq, int r)
{
    if (p->num_batches > 1)
        return ev->rows + (size_t)r * ev->n_vocab;
    return logits_row(ev->ctx, seq * p->ctx + p->first + r);
}

/* -log p(tok), with llama-perplexity's precision: float max and differences, double sum of
 * expf terms. */
static double nll_of(const float *logits, int n_vocab, int tok)
{
    float max_logit = logits[0];
    for (int i = 1; i < n_vocab; i++)
        max_logit = logits[i] > max_logit ? logits[i] : max_logit;
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++)
        sum_exp += expf(logits[i] - max_logit);
    return -((double)(logits[tok] - max_logit) - log(sum_exp));
}

/* ---------------------------------------------------------------------------------------
 * ppl
 * ------------------------------------------------------------------------------------- */

static int cmd_ppl(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--ctx --chunks --threads --batch", 2, "MODEL.gguf FILE");
    const int ctx = a.ctx ? (int)a.ctx : 512;
    const int batch = a.batch ? (int)a.batch : 2048;
    if (ctx < 4)
        die("--ctx must be at least 4");

    evaluator ev;
    eval_load(&ev, a.pos[0]);
    int n_tokens;
    llama_token *tokens = eval_tokens(a.pos[1], ev.vocab, ctx, &n_tokens);
    const ppl_plan p = plan_chunks(ctx, batch, n_tokens, (int)a.chunks);
    eval_start(&ev, &p, (int)a.threads);

    double nll = 0.0, nll2 = 0.0;
    const double t0 = now_seconds();
    for (int i = 0; i < p.n_chunk; i += p.n_seq) {
        const int n_seq_batch = p.n_seq < p.n_chunk - i ? p.n_seq : p.n_chunk - i;
        eval_group(&ev, &p, tokens, i, n_seq_batch);
        for (int seq = 0; seq < n_seq_batch; seq++) {
            const llama_token *next = tokens + (size_t)(i + seq) * ctx + p.first + 1;
            for (int r = 0; r < p.n_scored; r++) {
                const double v = nll_of(eval_row(&ev, &p, seq, r), ev.n_vocab, next[r]);
                nll += v;
                nll2 += v * v;
            }
        }
    }
    const double seconds = now_seconds() - t0;

    /* llama-perplexity's final estimate: PPL = exp(mean nll), +/- PPL * sqrt(var/(count-1)). */
    const double count = (double)p.n_chunk * p.n_scored;
    nll /= count;
    nll2 /= count;
    const double ppl = exp(nll);
    const double var = nll2 - nll * nll;
    const double stderr_ppl = var > 0 ? sqrt(var / (count - 1)) * ppl : 0.0;

    printf("{");
    json_num("ppl", ppl, false);
    json_num("ppl_stderr", stderr_ppl, false);
    printf("\"chunks\": %d, \"ctx\": %d, \"tokens_scored\": %.0f, ", p.n_chunk, ctx, count);
    json_num("seconds", seconds, false);
    json_num("tokens_per_second", (double)p.n_chunk * ctx / seconds, false);
    printf("\"peak_rss_bytes\": %lld}\n", peak_rss_bytes());

    eval_close(&ev);
    free(tokens);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * kld
 * ------------------------------------------------------------------------------------- */

/* The base model's log-probabilities as `llama-perplexity --kl-divergence-base` stores them:
 * per position a float scale and offset, and one uint16 per vocab entry. Only logits within
 * 16 of the maximum are kept; lower ones become code 0. */
typedef struct {
    float scale;
    float min_log_prob;
    uint16_t *code;
} base_logprobs;

static void encode_base(const float *logits, int n_vocab, base_logprobs *out)
{
    float max_logit = logits[0], min_logit = logits[0];
    for (int i = 1; i < n_vocab; i++) {
        max_logit = logits[i] > max_logit ? logits[i] : max_logit;
        min_logit = logits[i] < min_logit ? logits[i] : min_logit;
    }
    if (min_logit < max_logit - 16)
        min_logit = max_logit - 16;
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++)
        sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = (float)log(sum_exp);
    out->min_log_prob = min_logit - max_logit - log_sum_exp;
    out->scale = (max_logit - min_logit) / 65535.f;
    if (out->scale == 0) {
        memset(out->code, 0, sizeof(uint16_t) * (size_t)n_vocab);
        return;
    }
    const float inv_scale = 1 / out->scale;
    /* lrintf rounds half to even, like llama.cpp's nearest_int(). */
    for (int i = 0; i < n_vocab; i++)
        out->code[i] = logits[i] > min_logit ? (uint16_t)lrintf(inv_scale * (logits[i] - min_logit)) : 0;
}

/* Running sums of `llama-perplexity --kl-divergence`, plus the exact full-vocabulary KLD. */
typedef struct {
    double sum_nll, sum_nll2, sum_nll_base, sum_nll_base2, sum_nll_nll_base;
    double sum_kld, sum_kld2, sum_p_diff2, sum_p_diff4;
    size_t n_same_top, count;
    double sum_kld_exact, sum_kld_exact2;
    size_t n_same_top_exact;
    float *kld_values; /* per position, for the median and percentiles */
} kld_sums;

/* One scored position, with llama.cpp's precision (float log-probs, double sums). */
static void kld_position(const float *logits, const base_logprobs *base, int n_vocab, int tok, kld_sums *s)
{
    int imax = 0;
    float max_logit = logits[0];
    for (int i = 1; i < n_vocab; i++) {
        if (logits[i] > max_logit) {
            max_logit = logits[i];
            imax = i;
        }
    }
    double sum_exp = 0.0;
    for (int i = 0; i < n_vocab; i++)
        sum_exp += expf(logits[i] - max_logit);
    const float log_sum_exp = (float)log(sum_exp);

    const float nll = max_logit + log_sum_exp - logits[tok];
    s->sum_nll += nll;
    s->sum_nll2 += nll * nll;
    const float nll_base = -(base->scale * base->code[tok] + base->min_log_prob);
    s->sum_nll_base += nll_base;
    s->sum_nll_base2 += nll_base * nll_base;
    s->sum_nll_nll_base += nll * nll_base;

    /* KL(base || candidate) over the entries the base kept (log p > -16). */
    const float log_norm = max_logit + log_sum_exp;
    double kld = 0;
    int imax_base = 0;
    float p_log_base_max = 0;
    for (int i = 0; i < n_vocab; i++) {
        const float p_log_base = base->scale * base->code[i] + base->min_log_prob;
        if (i == 0 || p_log_base > p_log_base_max) {
            p_log_base_max = p_log_base;
            imax_base = i;
        }
        if (p_log_base > -16.f)
            kld += expf(p_log_base) * (p_log_base - logits[i] + log_norm);
    }
    s->kld_values[s->count] = (float)kld;
    s->sum_kld += kld;
    s->sum_kld2 += kld * kld;
    s->count++;
    s->n_same_top += imax == imax_base;

    const float p_diff = expf(-nll) - expf(-nll_base);
    const double p_diff2 = p_diff * p_diff;
    s->sum_p_diff2 += p_diff2;
    s->sum_p_diff4 += p_diff2 * p_diff2;
}

/* log-sum-exp in double. */
static double log_norm_exact(const float *logits, int n_vocab)
{
    double max = logits[0];
    for (int i = 1; i < n_vocab; i++)
        max = logits[i] > max ? logits[i] : max;
    double sum = 0;
    for (int i = 0; i < n_vocab; i++)
        sum += exp(logits[i] - max);
    return max + log(sum);
}

/* KL(base || candidate) in double over the whole vocabulary, from the raw logits. */
static void kld_exact_position(const float *base, const float *cand, int n_vocab, kld_sums *s)
{
    const double lb = log_norm_exact(base, n_vocab), lc = log_norm_exact(cand, n_vocab);
    double kld = 0;
    for (int i = 0; i < n_vocab; i++) {
        const double log_p = base[i] - lb;
        kld += exp(log_p) * (log_p - (cand[i] - lc));
    }
    s->sum_kld_exact += kld;
    s->sum_kld_exact2 += kld * kld;
    s->n_same_top_exact += argmax(base, n_vocab) == argmax(cand, n_vocab);
}

/* llama-perplexity's mean_and_uncertainty(): mean and standard error of the mean (0 when
 * there are 10 values or fewer). */
static void mean_unc(double sum, double sum2, size_t count, double *mean, double *unc)
{
    *mean = *unc = 0;
    if (count < 1)
        return;
    *mean = sum / count;
    const double var = sum2 / count - *mean * *mean;
    *unc = var > 0 && count > 10 ? sqrt(var / (count - 1)) : 0.;
}

static int cmp_float(const void *a, const void *b)
{
    const float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* llama-perplexity's percentile(): linear interpolation on the sorted values. */
static float percentile(const float *sorted, size_t n, float fraction)
{
    float p = fraction * (float)(n - 1);
    size_t ip = (size_t)p;
    p -= (float)ip;
    return (1 - p) * sorted[ip] + p * sorted[ip + 1 < n ? ip + 1 : n - 1];
}

static int cmd_kld(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--ctx --chunks --threads", 3, "BASE.gguf CAND.gguf FILE");
    const int ctx = a.ctx ? (int)a.ctx : 512;
    if (ctx < 4)
        die("--ctx must be at least 4");

    /* Both runs of llama-perplexity use the default -b 2048; the tokens (and so the chunks)
     * are the base model's tokenization, stored in the base log-prob file. */
    evaluator base, cand;
    eval_load(&base, a.pos[0]);
    eval_load(&cand, a.pos[1]);
    if (base.n_vocab != cand.n_vocab)
        die("vocabulary sizes differ: %s has %d tokens, %s has %d", a.pos[0], base.n_vocab, a.pos[1], cand.n_vocab);
    const int n_vocab = base.n_vocab;
    int n_tokens;
    llama_token *tokens = eval_tokens(a.pos[2], base.vocab, ctx, &n_tokens);
    const ppl_plan p = plan_chunks(ctx, 2048, n_tokens, (int)a.chunks);
    eval_start(&base, &p, (int)a.threads);
    eval_start(&cand, &p, (int)a.threads);

    kld_sums s = {0};
    s.kld_values = xmalloc(sizeof(float) * (size_t)p.n_chunk * p.n_scored);
    base_logprobs enc = {.code = xmalloc(sizeof(uint16_t) * (size_t)n_vocab)};
    const double t0 = now_seconds();
    for (int i = 0; i < p.n_chunk; i += p.n_seq) {
        const int n_seq_batch = p.n_seq < p.n_chunk - i ? p.n_seq : p.n_chunk - i;
        /* Each context keeps its own logits, so the two models' rows can be read side by side. */
        eval_group(&base, &p, tokens, i, n_seq_batch);
        eval_group(&cand, &p, tokens, i, n_seq_batch);
        for (int seq = 0; seq < n_seq_batch; seq++) {
            const llama_token *next = tokens + (size_t)(i + seq) * ctx + p.first + 1;
            for (int r = 0; r < p.n_scored; r++) {
                const float *b = eval_row(&base, &p, seq, r), *c = eval_row(&cand, &p, seq, r);
                encode_base(b, n_vocab, &enc);
                kld_position(c, &enc, n_vocab, next[r], &s);
                kld_exact_position(b, c, n_vocab, &s);
            }
        }
    }
    const double seconds = now_seconds() - t0;

    /* The summary of `llama-perplexity --kl-divergence`. */
    double ln_ppl, ln_ppl_unc, ln_base, ln_base_unc, kld, kld_unc, p_diff_mse, p_diff_mse_unc, kld_x, kld_x_unc;
    mean_unc(s.sum_nll, s.sum_nll2, s.count, &ln_ppl, &ln_ppl_unc);
    mean_unc(s.sum_nll_base, s.sum_nll_base2, s.count, &ln_base, &ln_base_unc);
    mean_unc(s.sum_kld, s.sum_kld2, s.count, &kld, &kld_unc);
    mean_unc(s.sum_p_diff2, s.sum_p_diff4, s.count, &p_diff_mse, &p_diff_mse_unc);
    mean_unc(s.sum_kld_exact, s.sum_kld_exact2, s.count, &kld_x, &kld_x_unc);
    const double n = (double)s.count;
    const double cov = s.count < 10 ? 0.0 : (s.sum_nll_nll_base / n - (s.sum_nll / n) * (s.sum_nll_base / n)) / (n - 1);
    const double ln_ratio = ln_ppl - ln_base;
    const double ln_ratio_unc = sqrt(ln_ppl_unc * ln_ppl_unc + ln_base_unc * ln_base_unc - 2.0 * cov);
    const double rms_dp = sqrt(p_diff_mse);
    const double top1 = (double)s.n_same_top / n;

    qsort(s.kld_values, s.count, sizeof(float), cmp_float);
    const size_t m = s.count;
    const float median = m % 2 == 0 ? 0.5f * (s.kld_values[m / 2] + s.kld_values[m / 2 - 1]) : s.kld_values[m / 2];

    printf("{");
    json_num("kld", kld, false);
    json_num("kld_stderr", kld_unc, false);
    json_num("kld_median", median, false);
    json_num("kld_p99", percentile(s.kld_values, m, 0.990f), false);
    json_num("kld_max", s.kld_values[m - 1], false);
    json_num("kld_exact", kld_x, false);
    json_num("kld_exact_stderr", kld_x_unc, false);
    json_num("top1_agreement", top1, false);
    json_num("top1_agreement_stderr", sqrt(top1 * (1 - top1) / (n - 1)), false);
    json_num("top1_agreement_exact", (double)s.n_same_top_exact / n, false);
    json_num("ppl_base", exp(ln_base), false);
    json_num("ppl_base_stderr", exp(ln_base) * ln_base_unc, false);
    json_num("ppl_cand", exp(ln_ppl), false);
    json_num("ppl_cand_stderr", exp(ln_ppl) * ln_ppl_unc, false);
    json_num("ln_ppl_ratio", ln_ratio, false);
    json_num("ln_ppl_ratio_stderr", ln_ratio_unc, false);
    json_num("ppl_ratio", exp(ln_ratio), false);
    json_num("ppl_ratio_stderr", exp(ln_ratio) * ln_ratio_unc, false);
    json_num("rms_dp", rms_dp, false);
    json_num("rms_dp_stderr", rms_dp > 0 ? 0.5 / rms_dp * p_diff_mse_unc : 0.0, false);
    printf("\"chunks\": %d, \"ctx\": %d, \"tokens_scored\": %zu, ", p.n_chunk, ctx, s.count);
    json_num("seconds", seconds, false);
    printf("\"peak_rss_bytes\": %lld}\n", peak_rss_bytes());

    free(enc.code);
    free(s.kld_values);
    eval_close(&cand);
    eval_close(&base);
    free(tokens);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * quantize (whole model, llama_model_quantize)
 * ------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    enum llama_ftype ftype;
} k_ftypes[] = {
    {"f32", LLAMA_FTYPE_ALL_F32},         {"f16", LLAMA_FTYPE_MOSTLY_F16},
    {"bf16", LLAMA_FTYPE_MOSTLY_BF16},    {"q8_0", LLAMA_FTYPE_MOSTLY_Q8_0},
    {"q4_0", LLAMA_FTYPE_MOSTLY_Q4_0},    {"q4_1", LLAMA_FTYPE_MOSTLY_Q4_1},
    {"q5_0", LLAMA_FTYPE_MOSTLY_Q5_0},    {"q5_1", LLAMA_FTYPE_MOSTLY_Q5_1},
    {"q2_k", LLAMA_FTYPE_MOSTLY_Q2_K},    {"q3_k_s", LLAMA_FTYPE_MOSTLY_Q3_K_S},
    {"q3_k_m", LLAMA_FTYPE_MOSTLY_Q3_K_M}, {"q4_k_s", LLAMA_FTYPE_MOSTLY_Q4_K_S},
    {"q4_k_m", LLAMA_FTYPE_MOSTLY_Q4_K_M}, {"q5_k_s", LLAMA_FTYPE_MOSTLY_Q5_K_S},
    {"q5_k_m", LLAMA_FTYPE_MOSTLY_Q5_K_M}, {"q6_k", LLAMA_FTYPE_MOSTLY_Q6_K},
};

/* An importance matrix as llama-quantize loads it (common/imatrix-loader.cpp + quantize.cpp):
 * per weight name the mean of x^2 over the calibration tokens, one float per input column
 * (times the number of experts). */
typedef struct {
    int n;
    char **names;
    float **values;
    size_t *sizes;
} imatrix;

static void imatrix_add(imatrix *im, const char *name, float *values, size_t size)
{
    im->names = realloc(im->names, sizeof(char *) * (size_t)(im->n + 1));
    im->values = realloc(im->values, sizeof(float *) * (size_t)(im->n + 1));
    im->sizes = realloc(im->sizes, sizeof(size_t) * (size_t)(im->n + 1));
    if (!im->names || !im->values || !im->sizes)
        die("out of memory");
    im->names[im->n] = strdup(name);
    im->values[im->n] = values;
    im->sizes[im->n] = size;
    im->n++;
}

/* The current format: a GGUF with tensors NAME.in_sum2 (sums of x^2) and NAME.counts (tokens
 * seen, one per expert), and the imatrix.* metadata llama-quantize insists on. The value used
 * is in_sum2 / count, or 1 where nothing was counted. */
static void load_imatrix_gguf(const char *path, imatrix *im)
{
    struct ggml_context *tensors = NULL;
    struct gguf_init_params gp = {.no_alloc = false, .ctx = &tensors};
    struct gguf_context *g = gguf_init_from_file(path, gp);
    if (!g) {
        char what[4200];
        snprintf(what, sizeof what, "%s: unreadable GGUF imatrix", path);
        die_llama(what);
    }
    if (gguf_find_key(g, "imatrix.datasets") < 0 || gguf_find_key(g, "imatrix.chunk_count") < 0 ||
        gguf_find_key(g, "imatrix.chunk_size") < 0)
        die("%s: imatrix GGUF lacks imatrix.datasets/chunk_count/chunk_size metadata", path);
    for (struct ggml_tensor *t = ggml_get_first_tensor(tensors); t; t = ggml_get_next_tensor(tensors, t)) {
        const char *suffix = ".in_sum2";
        size_t len = strlen(t->name), sl = strlen(suffix);
        if (len <= sl || strcmp(t->name + len - sl, suffix) != 0)
            continue;
        char name[GGML_MAX_NAME + 16];
        snprintf(name, sizeof name, "%.*s.counts", (int)(len - sl), t->name);
        struct ggml_tensor *counts = ggml_get_tensor(tensors, name);
        if (!counts)
            die("%s: %s has no matching .counts tensor", path, t->name);
        if (t->type != GGML_TYPE_F32 || counts->type != GGML_TYPE_F32)
            die("%s: %s and its counts must be F32", path, t->name);
        const int64_t nval = ggml_nelements(t), ncounts = ggml_nelements(counts);
        if (ncounts < 1 || nval % ncounts != 0)
            die("%s: %s has %lld values for %lld counts", path, t->name, (long long)nval, (long long)ncounts);
        const int64_t ne0 = nval / ncounts;
        float *v = xmalloc(sizeof(float) * (size_t)nval);
        const float *sums = t->data, *cnt = counts->data;
        for (int64_t j = 0; j < ncounts; j++) {
            const float c = (float)lroundf(cnt[j]);
            for (int64_t i = 0; i < ne0; i++)
                v[j * ne0 + i] = c > 0 ? sums[j * ne0 + i] / c : 1;
        }
        name[len - sl] = '\0';
        imatrix_add(im, name, v, (size_t)nval);
    }
    gguf_free(g);
    ggml_free(tensors);
}

/* The legacy .dat format: int32 count, then per entry int32 name length, name, int32 ncall,
 * int32 nval, nval floats (already divided by the token count, times ncall). */
static void load_imatrix_legacy(const char *path, imatrix *im)
{
    size_t len, at = 0;
    char *buf = read_file(path, &len);
#define TAKE(dst, n)                                                         \
    do {                                                                     \
        if ((n) > len - at)                                                  \
            die("%s: not a GGUF and truncated as a legacy imatrix", path);   \
        memcpy((dst), buf + at, (n));                                        \
        at += (n);                                                           \
    } while (0)
    int32_t n_entries;
    TAKE(&n_entries, 4);
    if (n_entries < 1)
        die("%s: no entries in the imatrix", path);
    for (int32_t e = 0; e < n_entries; e++) {
        int32_t name_len, ncall, nval;
        TAKE(&name_len, 4);
        if (name_len < 1 || name_len > 1024)
            die("%s: bad imatrix entry name length %d", path, name_len);
        char name[1025];
        TAKE(name, (size_t)name_len);
        name[name_len] = '\0';
        TAKE(&ncall, 4);
        TAKE(&nval, 4);
        if (nval < 1)
            die("%s: imatrix entry %s has %d values", path, name, nval);
        float *v = xmalloc(sizeof(float) * (size_t)nval);
        TAKE(v, sizeof(float) * (size_t)nval);
        if (ncall > 0)
            for (int32_t i = 0; i < nval; i++)
                v[i] /= ncall;
        imatrix_add(im, name, v, (size_t)nval);
    }
#undef TAKE
    free(buf);
}

static int cmd_quantize(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--threads --imatrix", 3, "IN.gguf OUT.gguf TYPE");
    const char *in = a.pos[0], *out = a.pos[1], *type = a.pos[2];
    size_t k = 0, n_ftypes = sizeof k_ftypes / sizeof k_ftypes[0];
    while (k < n_ftypes && strcasecmp(k_ftypes[k].name, type) != 0)
        k++;
    if (k == n_ftypes)
        die("unknown type '%s' (q8_0 q4_0 q4_1 q5_0 q5_1 q2_k q3_k_s q3_k_m q4_k_s q4_k_m q5_k_s q5_k_m q6_k "
            "f16 bf16 f32)",
            type);
    if (access(in, R_OK) != 0)
        die("cannot open %s: %s", in, strerror(errno));
    /* llama.cpp reports an unwritable output only as "iostream error": check it here. */
    FILE *probe = fopen(out, "wb");
    if (!probe)
        die("cannot create %s: %s", out, strerror(errno));
    fclose(probe);
    unlink(out);

    struct llama_model_quantize_params qp = llama_model_quantize_default_params();
    qp.ftype = k_ftypes[k].ftype;
    qp.nthread = (int32_t)a.threads;

    imatrix im = {0};
    struct llama_model_imatrix_data *entries = NULL;
    if (a.imatrix) {
        if (access(a.imatrix, R_OK) != 0)
            die("cannot open %s: %s", a.imatrix, strerror(errno));
        /* llama-quantize tries GGUF first and falls back to the legacy format; deciding by
         * the magic gives a clearer error for a damaged GGUF. */
        char magic[4] = {0};
        FILE *f = fopen(a.imatrix, "rb");
        const bool is_gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
        if (f)
            fclose(f);
        if (is_gguf)
            load_imatrix_gguf(a.imatrix, &im);
        else
            load_imatrix_legacy(a.imatrix, &im);
        /* The library reads a list terminated by a NULL name. */
        entries = xmalloc(sizeof *entries * (size_t)(im.n + 1));
        for (int i = 0; i < im.n; i++)
            entries[i] = (struct llama_model_imatrix_data){im.names[i], im.values[i], im.sizes[i]};
        entries[im.n] = (struct llama_model_imatrix_data){NULL, NULL, 0};
        qp.imatrix = entries;
    }

    const double t0 = now_seconds();
    if (llama_model_quantize(in, out, &qp) != 0) {
        unlink(out); /* no partial output */
        die_llama("llama_model_quantize failed");
    }
    const double seconds = now_seconds() - t0;
    struct stat st;
    if (stat(out, &st) != 0)
        die("cannot stat %s: %s", out, strerror(errno));

    printf("{");
    json_num("seconds", seconds, false);
    printf("\"bytes\": %lld, \"peak_rss_bytes\": %lld}\n", (long long)st.st_size, peak_rss_bytes());

    for (int i = 0; i < im.n; i++) {
        free(im.names[i]);
        free(im.values[i]);
    }
    free(im.names);
    free(im.values);
    free(im.sizes);
    free(entries);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * quantize-row / dequantize-row (ggml's block codecs, libggml-base)
 * ------------------------------------------------------------------------------------- */

static enum ggml_type parse_row_type(const char *name)
{
    static const enum ggml_type types[] = {
        GGML_TYPE_F32,  GGML_TYPE_F16,  GGML_TYPE_BF16, GGML_TYPE_Q4_0, GGML_TYPE_Q4_1,
        GGML_TYPE_Q5_0, GGML_TYPE_Q5_1, GGML_TYPE_Q8_0, GGML_TYPE_Q2_K, GGML_TYPE_Q3_K,
        GGML_TYPE_Q4_K, GGML_TYPE_Q5_K, GGML_TYPE_Q6_K,
    };
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++)
        if (strcasecmp(ggml_type_name(types[i]), name) == 0)
            return types[i];
    die("unknown type '%s' (f32 f16 bf16 q4_0 q4_1 q5_0 q5_1 q8_0 q2_k q3_k q4_k q5_k q6_k)", name);
}

/* ggml asserts (aborts) on a row length that is not a whole number of blocks: check first. */
static void check_row_len(enum ggml_type type, long row_len)
{
    if (row_len <= 0)
        die("--row-len N is required");
    if (row_len % ggml_blck_size(type) != 0)
        die("--row-len %ld is not a multiple of the %s block size %lld", row_len, ggml_type_name(type),
            (long long)ggml_blck_size(type));
}

static int cmd_quantize_row(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--row-len --imatrix", 3, "TYPE IN.f32 OUT.bin --row-len N");
    const enum ggml_type type = parse_row_type(a.pos[0]);
    check_row_len(type, a.row_len);
    size_t n;
    float *src = read_f32(a.pos[1], (size_t)a.row_len, &n);
    float *weights = NULL;
    if (a.imatrix) {
        size_t nw;
        weights = read_f32(a.imatrix, (size_t)a.row_len, &nw);
        if (nw != (size_t)a.row_len)
            die("%s: %zu values, the importance matrix must have --row-len (%ld)", a.imatrix, nw, a.row_len);
    }
    const int64_t nrows = (int64_t)(n / (size_t)a.row_len);
    const size_t bytes = ggml_row_size(type, a.row_len) * (size_t)nrows;
    void *dst = xmalloc(bytes);
    /* Without weights ggml uses the reference quantizer; with them the importance-weighted one. */
    const size_t written = ggml_quantize_chunk(type, src, dst, 0, nrows, a.row_len, weights);
    if (written != bytes)
        die("ggml_quantize_chunk wrote %zu bytes, expected %zu", written, bytes);
    write_file(a.pos[2], dst, bytes);
    printf("{\"rows\": %lld, \"bytes\": %zu}\n", (long long)nrows, bytes);
    free(dst);
    free(weights);
    free(src);
    return 0;
}

static int cmd_dequantize_row(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--row-len", 3, "TYPE IN.bin OUT.f32 --row-len N");
    const enum ggml_type type = parse_row_type(a.pos[0]);
    check_row_len(type, a.row_len);
    const size_t row_bytes = ggml_row_size(type, a.row_len);
    size_t len;
    char *src = read_file(a.pos[1], &len);
    if (len == 0 || len % row_bytes != 0)
        die("%s: %zu bytes is not a non-zero multiple of the %s row size %zu", a.pos[1], len, ggml_type_name(type),
            row_bytes);
    const size_t nrows = len / row_bytes, n = nrows * (size_t)a.row_len;
    float *dst = xmalloc(sizeof(float) * n);
    const struct ggml_type_traits *traits = ggml_get_type_traits(type);
    if (traits->to_float)
        traits->to_float(src, dst, (int64_t)n);
    else /* f32 has no converter */
        memcpy(dst, src, sizeof(float) * n);
    write_file(a.pos[2], dst, sizeof(float) * n);
    printf("{\"rows\": %zu, \"bytes\": %zu}\n", nrows, sizeof(float) * n);
    free(dst);
    free(src);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * gen
 * ------------------------------------------------------------------------------------- */

static int cmd_gen(int argc, char **argv)
{
    args a = parse_args(argc, argv, "--prompt -n --threads", 1, "MODEL.gguf --prompt S");
    if (!a.prompt)
        die("--prompt is required");
    const int n_predict = a.n_predict ? (int)a.n_predict : 60;
    struct llama_model *model = load_model(a.pos[0], false);
    const struct llama_vocab *vocab = llama_model_get_vocab(model);
    const int n_vocab = llama_vocab_n_tokens(vocab);
    int n_prompt;
    /* As llama.cpp's simple/completion examples: BOS added, special tokens in the prompt parsed. */
    llama_token *prompt = tokenize(vocab, a.prompt, strlen(a.prompt), true, true, &n_prompt);
    if (n_prompt == 0)
        die("the prompt tokenizes to nothing");

    struct llama_context *ctx = new_context(model, n_prompt + n_predict, 1, n_prompt, (int)a.threads);
    struct llama_batch batch = llama_batch_get_one(prompt, n_prompt);
    llama_token tok;
    for (int i = 0; i < n_predict; i++) {
        if (llama_decode(ctx, batch) != 0)
            die_llama("llama_decode failed");
        tok = argmax(logits_row(ctx, -1), n_vocab);
        if (llama_vocab_is_eog(vocab, tok))
            break;
        char piece[256];
        const int len = llama_token_to_piece(vocab, tok, piece, sizeof piece, 0, false);
        if (len > 0)
            fwrite(piece, 1, (size_t)len, stdout);
        fflush(stdout);
        batch = llama_batch_get_one(&tok, 1);
    }
    putchar('\n');
    free(prompt);
    llama_free(ctx);
    llama_model_free(model);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * info, system
 * ------------------------------------------------------------------------------------- */

/* Calls a snprintf-style getter with a buffer that grows until the value fits. */
static char *meta_string(const struct llama_model *model, int i, bool key)
{
    size_t cap = 256;
    for (;;) {
        char *buf = xmalloc(cap);
        const int n = key ? llama_model_meta_key_by_index(model, i, buf, cap)
                          : llama_model_meta_val_str_by_index(model, i, buf, cap);
        if (n < 0)
            die("cannot read metadata entry %d", i);
        if ((size_t)n < cap)
            return buf;
        free(buf);
        cap = (size_t)n + 1;
    }
}

static int cmd_info(int argc, char **argv)
{
    args a = parse_args(argc, argv, "", 1, "MODEL.gguf");
    struct llama_model *model = load_model(a.pos[0], false);
    char desc[256];
    llama_model_desc(model, desc, sizeof desc);
    printf("{\"n_params\": %llu, \"n_vocab\": %d, \"n_embd\": %d, \"n_layer\": %d, \"n_head\": %d, "
           "\"n_head_kv\": %d, \"n_ctx_train\": %d, \"size_bytes\": %llu, \"description\": ",
           (unsigned long long)llama_model_n_params(model), llama_vocab_n_tokens(llama_model_get_vocab(model)),
           llama_model_n_embd(model), llama_model_n_layer(model), llama_model_n_head(model),
           llama_model_n_head_kv(model), llama_model_n_ctx_train(model),
           (unsigned long long)llama_model_size(model));
    json_str(desc);
    /* llama.cpp keeps every scalar key as a string; arrays (the vocabulary...) are left out. */
    fputs(", \"metadata\": {", stdout);
    const int n = llama_model_meta_count(model);
    for (int i = 0; i < n; i++) {
        char *key = meta_string(model, i, true), *val = meta_string(model, i, false);
        json_str(key);
        fputs(": ", stdout);
        json_str(val);
        if (i + 1 < n)
            fputs(", ", stdout);
        free(key);
        free(val);
    }
    fputs("}}\n", stdout);
    llama_model_free(model);
    return 0;
}

/* dl_iterate_phdr callback: remembers the file name of the loaded libggml-cpu-*.so variant. */
static int find_cpu_plugin(struct dl_phdr_info *info, size_t size, void *found)
{
    (void)size;
    const char *base = strrchr(info->dlpi_name, '/');
    base = base ? base + 1 : info->dlpi_name;
    if (strncmp(base, "libggml-cpu-", 12) == 0)
        *(const char **)found = base;
    return 0;
}

static int cmd_system(int argc, char **argv)
{
    parse_args(argc, argv, "", 0, "no arguments");
    ggml_backend_dev_t cpu = ggml_backend_dev_by_type(GGML_BACKEND_DEVICE_TYPE_CPU);
    fputs("{\"llama_version\": ", stdout);
    json_str(llama_version());
    fputs(", \"cpu_backend\": ", stdout);
    json_str(ggml_backend_dev_description(cpu));
    const char *plugin = "?";
    dl_iterate_phdr(find_cpu_plugin, &plugin);
    fputs(", \"cpu_plugin\": ", stdout);
    json_str(plugin);
    fputs(", \"system_info\": ", stdout);
    json_str(llama_print_system_info());
    fputs("}\n", stdout);
    return 0;
}

/* ---------------------------------------------------------------------------------------
 * main
 * ------------------------------------------------------------------------------------- */

static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} k_commands[] = {
    {"tokenize", cmd_tokenize, "MODEL.gguf (--file F | --file-list L | --prompt S) [--no-bos]  token ids, one per line"},
    {"logits", cmd_logits, "MODEL.gguf --ids 1,2,3 [--threads N] -o OUT.f32   n_tokens x n_vocab float32 rows"},
    {"ppl", cmd_ppl, "MODEL.gguf FILE [--ctx 512] [--chunks N] [--threads N] [--batch 2048]"},
    {"kld", cmd_kld, "BASE.gguf CAND.gguf FILE [--ctx 512] [--chunks N] [--threads N]"},
    {"quantize", cmd_quantize, "IN.gguf OUT.gguf TYPE [--threads N] [--imatrix FILE]"},
    {"quantize-row", cmd_quantize_row, "TYPE IN.f32 OUT.bin --row-len N [--imatrix W.f32]"},
    {"dequantize-row", cmd_dequantize_row, "TYPE IN.bin OUT.f32 --row-len N"},
    {"gen", cmd_gen, "MODEL.gguf --prompt S [-n 60] [--threads N]           greedy decoding"},
    {"info", cmd_info, "MODEL.gguf                                          hyperparameters and metadata"},
    {"system", cmd_system, "                                                    CPU backend and features"},
};

int main(int argc, char **argv)
{
    /* --verbose may appear anywhere: remove it before the subcommand parses its options. */
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strcmp(argv[i], "--verbose") == 0)
            g_verbose = true;
        else
            argv[n++] = argv[i];
    }
    argc = n;

    const size_t n_commands = sizeof k_commands / sizeof k_commands[0];
    size_t c = 0;
    while (argc >= 2 && c < n_commands && strcmp(k_commands[c].name, argv[1]) != 0)
        c++;
    if (argc < 2 || c == n_commands) {
        if (argc >= 2)
            fprintf(stderr, "llama-peer: unknown command '%s'\n", argv[1]);
        fprintf(stderr, "usage: llama-peer COMMAND ... [--verbose]\n");
        for (size_t i = 0; i < n_commands; i++)
            fprintf(stderr, "  %-15s %s\n", k_commands[i].name, k_commands[i].usage);
        return 1;
    }

    static char cmd_name[64];
    snprintf(cmd_name, sizeof cmd_name, "llama-peer %s", k_commands[c].name);
    g_cmd = cmd_name;
    llama_log_set(log_callback, NULL);
    load_backends();
    llama_backend_init();
    const int rc = k_commands[c].run(argc - 2, argv + 2);
    llama_backend_free();
    return rc;
}

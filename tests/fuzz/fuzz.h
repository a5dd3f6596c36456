/* Shared by the libFuzzer targets in tests/fuzz (one per parser; see docs/reliability.md).
 *
 * minnow's parsers read files by path and map them, so each target writes the fuzz input into
 * a private scratch directory (on /dev/shm when there is one: no disk traffic) and opens it
 * from there. The parsers promise more than "no crash": tensor and string views lie inside the
 * file, sizes agree with shapes, a failure records an error message. ASan cannot see reads
 * past the end of a mapping (mmap'd memory is not instrumented), so the targets check those
 * promises explicitly with FZ_CHECK, which aborts (a libFuzzer crash) when one is broken. */
#ifndef MN_TESTS_FUZZ_H
#define MN_TESTS_FUZZ_H

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "text/tokenizer.h"

#define FZ_CHECK(cond)                                                                    \
    do {                                                                                  \
        if (!(cond)) {                                                                    \
            fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond);    \
            abort();                                                                      \
        }                                                                                 \
    } while (0)

static char fz_dir[PATH_MAX];
static char fz_buf[PATH_MAX];

static inline void fz_cleanup(void) {
    if (!fz_dir[0]) return;
    DIR *d = opendir(fz_dir);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            if (e->d_name[0] == '.' && (!e->d_name[1] || (e->d_name[1] == '.' && !e->d_name[2]))) continue;
            snprintf(fz_buf, sizeof fz_buf, "%s/%s", fz_dir, e->d_name);
            unlink(fz_buf);
        }
        closedir(d);
    }
    rmdir(fz_dir);
}

/* Creates the scratch directory once per process. */
static inline void fz_init_dir(void) {
    if (fz_dir[0]) return;
    struct stat st;
    const char *base = stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) && access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : (getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    snprintf(fz_dir, sizeof fz_dir, "%s/minnow-fuzz-XXXXXX", base);
    if (!mkdtemp(fz_dir)) {
        perror("minnow fuzz: mkdtemp");
        abort();
    }
    atexit(fz_cleanup);
}

/* The path of a file in the scratch directory (a static buffer: copy it to keep two). */
static inline const char *fz_path(const char *name) {
    fz_init_dir();
    snprintf(fz_buf, sizeof fz_buf, "%s/%s", fz_dir, name);
    return fz_buf;
}

/* Writes data to the scratch file `name`; returns its path. */
static inline const char *fz_write(const char *name, const uint8_t *data, size_t n) {
    const char *path = fz_path(name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (fd < 0) {
        perror(path);
        abort();
    }
    for (size_t done = 0; done < n;) {
        ssize_t w = write(fd, data + done, n - done);
        if (w <= 0) {
            perror(path);
            abort();
        }
        done += (size_t)w;
    }
    close(fd);
    return path;
}

static inline void fz_remove(const char *name) { unlink(fz_path(name)); }

/* Splits an input made of several files at NUL bytes: part k of n (the last part takes the
 * rest, NULs included). Missing parts are empty with *present false. */
static inline const uint8_t *fz_part(const uint8_t *data, size_t size, int k, int n, size_t *len, int *present) {
    const uint8_t *p = data, *end = data + size;
    for (int i = 0; i < k; i++) {
        const uint8_t *z = memchr(p, 0, (size_t)(end - p));
        if (!z) {
            *len = 0;
            *present = 0;
            return end;
        }
        p = z + 1;
    }
    const uint8_t *z = k + 1 < n ? memchr(p, 0, (size_t)(end - p)) : NULL;
    *len = (size_t)((z ? z : end) - p);
    *present = 1;
    return p;
}

/* Every failure must leave a message for the CLI to print. */
static inline void fz_check_failure_reported(void) {
    FZ_CHECK(mn_has_error());
    FZ_CHECK(mn_last_error()[0] != 0);
}

/* Directory of the shared real data (../shared/data): MINNOW_DATA, else the build's default. */
static inline const char *fz_data_path(const char *rel) {
    static char buf[PATH_MAX];
    const char *root = getenv("MINNOW_DATA");
#ifdef MN_FUZZ_DATA
    if (!root) root = MN_FUZZ_DATA;
#endif
    if (!root) root = "../shared/data";
    snprintf(buf, sizeof buf, "%s/%s", root, rel);
    return buf;
}

/* A short text touching what the encoders treat specially: spaces, newlines, digits,
 * contractions, multi-byte and invalid UTF-8, a NUL. */
static const char fz_sample_text[] = "Hello world, it's 2024!\n  tabs\tand  spaces \xc3\xa9t\xc3\xa9 \xe2\x96\x81 "
                                     "\xe4\xb8\xad\xe6\x96\x87 \xf0\x9f\x98\x80 \xff\xfe <s> </s>\0end";

/* Uses a tokenizer as eval and tokenize do: every id in range, every id printable. */
static inline void fz_exercise_tokenizer(const mn_tokenizer *t, const char *text, size_t len, int add_special) {
    const mn_vocab *v = mn_tokenizer_vocab(t);
    FZ_CHECK(v->n_tokens > 0);
    mn_tokens ids = {0};
    if (mn_tokenize(t, text, len, add_special, &ids) == 0) {
        char buf[64];
        for (size_t i = 0; i < ids.n; i++) {
            FZ_CHECK(ids.ids[i] >= 0 && ids.ids[i] < v->n_tokens);
            FZ_CHECK(mn_token_to_text(t, ids.ids[i], buf, sizeof buf) <= sizeof buf);
        }
    }
    mn_tokens_free(&ids);
}

/* A tokenizer a loader accepted: ids, flags and texts are consistent, printing any id is safe,
 * and it encodes the sample text. */
static inline void fz_check_tokenizer(const mn_tokenizer *t) {
    const mn_vocab *v = mn_tokenizer_vocab(t);
    FZ_CHECK(v->n_tokens > 0);
    const int32_t ids[] = {v->bos_id, v->eos_id, v->unk_id, v->pad_id};
    for (int i = 0; i < 4; i++) FZ_CHECK(ids[i] >= -1 && ids[i] < v->n_tokens);
    FZ_CHECK(!v->add_bos || v->bos_id >= 0);
    FZ_CHECK(!v->add_eos || v->eos_id >= 0);
    char buf[16];
    for (int32_t i = 0; i < v->n_tokens; i++) {
        FZ_CHECK(v->tokens[i] != NULL);
        FZ_CHECK(mn_token_to_text(t, i, buf, sizeof buf) <= sizeof buf);
    }
    fz_exercise_tokenizer(t, fz_sample_text, sizeof fz_sample_text - 1, 1);
}

/* Writing the vocabulary as a tokenizer-only GGUF and reading that back gives the same
 * vocabulary (what convert relies on to hand llama.cpp minnow's tokenizer). */
static inline void fz_check_gguf_round_trip(const mn_tokenizer *t) {
    const mn_vocab *a = mn_tokenizer_vocab(t);
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", fz_path("round_trip.gguf"));
    mn_clear_error();
    if (mn_tokenizer_save_gguf(t, path) != 0) {
        fprintf(stderr, "writing the vocabulary failed: %s\n", mn_last_error());
        abort();
    }
    mn_tokenizer *u = mn_tokenizer_load(path);
    unlink(path);
    if (!u) {
        fprintf(stderr, "reading back the written vocabulary failed: %s\n", mn_last_error());
        abort();
    }
    const mn_vocab *b = mn_tokenizer_vocab(u);
    FZ_CHECK(a->kind == b->kind && a->n_tokens == b->n_tokens);
    for (int32_t i = 0; i < a->n_tokens; i++) {
        FZ_CHECK(!strcmp(a->tokens[i], b->tokens[i]));
        FZ_CHECK(a->token_types[i] == b->token_types[i]);
        /* bit-exact but for NaN payloads: GGUF numbers are read through double, which quiets a
         * signalling NaN (a NaN score either way) */
        if (a->kind == MN_VOCAB_SPM)
            FZ_CHECK(!memcmp(&a->scores[i], &b->scores[i], sizeof(float)) || (isnan(a->scores[i]) && isnan(b->scores[i])));
    }
    FZ_CHECK(a->bos_id == b->bos_id && a->eos_id == b->eos_id);
    FZ_CHECK(a->add_bos == b->add_bos && a->add_eos == b->add_eos);
    /* An absent id reads back as llama.cpp's default for the vocabulary kind. */
    if (a->unk_id >= 0) FZ_CHECK(a->unk_id == b->unk_id);
    if (a->pad_id >= 0) FZ_CHECK(a->pad_id == b->pad_id);
    if (a->kind == MN_VOCAB_SPM) {
        FZ_CHECK(a->add_space_prefix == b->add_space_prefix);
    } else {
        FZ_CHECK(!strcmp(a->pre, b->pre) && a->n_merges == b->n_merges);
        for (int32_t i = 0; i < a->n_merges; i++) FZ_CHECK(!strcmp(a->merges[i], b->merges[i]));
    }
    mn_tokenizer_free(u);
}

/* Writes the n NUL-separated parts of data as the named scratch files; a part the input lacks
 * removes its file. */
static inline void fz_write_parts(const uint8_t *data, size_t size, const char *const *names, int n) {
    for (int k = 0; k < n; k++) {
        size_t len;
        int present;
        const uint8_t *p = size ? fz_part(data, size, k, n, &len, &present) : NULL;
        if (p && present) fz_write(names[k], p, len);
        else fz_remove(names[k]);
    }
}

/* Loads the tokenizer in scratch file `name` (with whatever lies next to it) and holds it to
 * every promise: a refusal says why, an accepted vocabulary encodes and survives a GGUF round
 * trip. */
static inline void fz_check_tokenizer_file(const char *name) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s", fz_path(name));
    mn_tokenizer *t = mn_tokenizer_load(path);
    if (!t) {
        fz_check_failure_reported();
        return;
    }
    fz_check_tokenizer(t);
    fz_check_gguf_round_trip(t);
    mn_tokenizer_free(t);
}

#endif

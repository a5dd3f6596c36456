#include "core/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

/* The inputs mapped right now, with their directories, so that no output can replace one:
 * renaming a finished output over the checkpoint being read would swap the user's file for
 * the result without a word. Keyed by the mapping's address, which is unique while mapped. */
typedef struct {
    const void *data;
    dev_t dev, dir_dev;
    ino_t ino, dir_ino;
} mapped_input;
static mapped_input *inputs;
static size_t n_inputs, cap_inputs;
static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;

/* Best effort: an input that cannot be recorded (out of memory) is only left unguarded. */
static void remember_input(const void *data, const char *path, const struct stat *st) {
    char dir[PATH_MAX];
    struct stat dst;
    snprintf(dir, sizeof dir, "%s", path);
    if (stat(dirname(dir), &dst) != 0) return;
    pthread_mutex_lock(&inputs_lock);
    if (n_inputs == cap_inputs) {
        size_t cap = cap_inputs ? 2 * cap_inputs : 16;
        mapped_input *grown = realloc(inputs, cap * sizeof *grown);
        if (grown) inputs = grown, cap_inputs = cap;
    }
    if (n_inputs < cap_inputs) inputs[n_inputs++] = (mapped_input){data, st->st_dev, dst.st_dev, st->st_ino, dst.st_ino};
    pthread_mutex_unlock(&inputs_lock);
}

static void forget_input(const void *data) {
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < n_inputs; i++)
        if (inputs[i].data == data) {
            inputs[i] = inputs[--n_inputs];
            break;
        }
    pthread_mutex_unlock(&inputs_lock);
}

/* dir: match the directory holding an input rather than the input itself. */
static bool is_input(const char *path, bool dir) {
    struct stat st;
    if (stat(path, &st) != 0) return false;
    bool found = false;
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; i < n_inputs && !found; i++)
        found = dir ? inputs[i].dir_dev == st.st_dev && inputs[i].dir_ino == st.st_ino
                    : inputs[i].dev == st.st_dev && inputs[i].ino == st.st_ino;
    pthread_mutex_unlock(&inputs_lock);
    return found;
}

bool mn_is_mapped_input(const char *path) { return is_input(path, false); }
bool mn_dir_holds_mapped_input(const char *dir) { return is_input(dir, true); }

int mn_map_file(const char *path, mn_mapped_file *out) {
    memset(out, 0, sizeof *out);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return mn_fail("%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mn_fail("%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(st.st_mode)) {
        close(fd);
        return mn_fail("%s: not a regular file", path);
    }
    out->size = (size_t)st.st_size;
    if (out->size > 0) {
        void *p = mmap(NULL, out->size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            int e = errno;
            close(fd);
            return mn_fail("%s: cannot map: %s", path, strerror(e));
        }
        out->data = p;
        remember_input(p, path, &st);
    }
    close(fd);
    out->path = strdup(path);
    return 0;
}

void mn_unmap_file(mn_mapped_file *f) {
    if (f->data) {
        forget_input(f->data);
        munmap((void *)f->data, f->size);
    }
    free(f->path);
    memset(f, 0, sizeof *f);
}

char *mn_read_file(const char *path, size_t *size) {
    mn_mapped_file m;
    if (mn_map_file(path, &m) != 0) return NULL;
    char *buf = malloc(m.size + 1);
    if (!buf) {
        mn_unmap_file(&m);
        mn_fail("%s: out of memory reading %zu bytes", path, m.size);
        return NULL;
    }
    if (m.size) memcpy(buf, m.data, m.size);
    buf[m.size] = 0;
    if (size) *size = m.size;
    mn_unmap_file(&m);
    return buf;
}

int mn_same_file(const char *a, const char *b) {
    struct stat sa, sb;
    if (stat(a, &sa) != 0 || stat(b, &sb) != 0) return 0;
    return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

int mn_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int mn_is_directory(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

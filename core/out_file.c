#include "core/out_file.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mapped_file.h"

/* Temporaries the signal handler must remove. Slots hold fixed buffers so the handler only
 * calls async-signal-safe unlink/rmdir on memory that never moves. */
#define MAX_TEMPS 96
typedef struct {
    volatile sig_atomic_t used;
    volatile sig_atomic_t is_dir;
    char path[PATH_MAX];
} temp_slot;
static temp_slot temps[MAX_TEMPS];

static int register_temp(const char *path, int is_dir) {
    for (int i = 0; i < MAX_TEMPS; i++)
        if (!temps[i].used) {
            snprintf(temps[i].path, sizeof temps[i].path, "%s", path);
            temps[i].is_dir = is_dir;
            temps[i].used = 1;
            return i;
        }
    return -1;
}

static void release_temp(int slot) {
    if (slot >= 0) temps[slot].used = 0;
}

static void cleanup_on_signal(int sig) {
    /* Files first, then directories, so rmdir finds them empty. */
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < MAX_TEMPS; i++)
            if (temps[i].used && temps[i].is_dir == pass) {
                if (pass) rmdir(temps[i].path);
                else unlink(temps[i].path);
            }
    signal(sig, SIG_DFL);
    raise(sig);
}

void mn_out_install_signal_cleanup(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = cleanup_on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    signal(SIGXFSZ, SIG_IGN);
}

struct mn_out_file {
    char final_path[PATH_MAX];
    char temp_path[PATH_MAX];
    int fd;
    int slot;
    uint64_t offset;
    char buf[1 << 16];
    size_t buffered;
};

/* snprintf into a path buffer; fails instead of silently truncating a long path. */
static int format_path(char *dst, size_t size, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(dst, size, fmt, ap);
    va_end(ap);
    return n < 0 || (size_t)n >= size ? -1 : 0;
}

static void split_dir(const char *path, char *dir, size_t dir_size, char *base, size_t base_size) {
    char tmp[PATH_MAX];
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(dir, dir_size, "%s", dirname(tmp));
    snprintf(tmp, sizeof tmp, "%s", path);
    snprintf(base, base_size, "%s", basename(tmp));
}

mn_out_file *mn_out_open(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        mn_fail("%s: is a directory, expected a file path", path);
        return NULL;
    }
    if (mn_is_mapped_input(path)) {
        mn_fail("%s: refusing to overwrite an input file", path);
        return NULL;
    }
    mn_out_file *f = calloc(1, sizeof *f);
    if (!f) {
        mn_fail("%s: out of memory", path);
        return NULL;
    }
    char dir[PATH_MAX], base[NAME_MAX + 1];
    split_dir(path, dir, sizeof dir, base, sizeof base);
    snprintf(f->final_path, sizeof f->final_path, "%s", path);
    if (format_path(f->temp_path, sizeof f->temp_path, "%s/.%s.minnow-XXXXXX", dir, base) != 0) {
        free(f);
        mn_fail("%s: path too long", path);
        return NULL;
    }
    /* Register before creating so a signal between the two cannot leave the file behind. */
    f->slot = register_temp(f->temp_path, 0);
    f->fd = mkstemp(f->temp_path);
    if (f->fd < 0) {
        int e = errno;
        release_temp(f->slot);
        free(f);
        mn_fail("%s: cannot create output in %s: %s", path, dir, strerror(e));
        return NULL;
    }
    if (f->slot >= 0) snprintf(temps[f->slot].path, sizeof temps[f->slot].path, "%s", f->temp_path);
    fchmod(f->fd, 0644);
    return f;
}

static int flush_buffer(mn_out_file *f) {
    size_t done = 0;
    while (done < f->buffered) {
        ssize_t w = write(f->fd, f->buf + done, f->buffered - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            return mn_fail("%s: write failed: %s", f->final_path, strerror(errno));
        }
        done += (size_t)w;
    }
    f->buffered = 0;
    return 0;
}

int mn_out_write(mn_out_file *f, const void *data, size_t n) {
    const char *p = data;
    while (n > 0) {
        if (f->buffered == sizeof f->buf && flush_buffer(f) != 0) return -1;
        size_t room = sizeof f->buf - f->buffered;
        size_t take = n < room ? n : room;
        memcpy(f->buf + f->buffered, p, take);
        f->buffered += take;
        f->offset += take;
        p += take;
        n -= take;
    }
    return 0;
}

int mn_out_pad_to(mn_out_file *f, uint64_t alignment) {
    static const char zeros[256];
    if (alignment <= 1) return 0;
    uint64_t pad = (alignment - f->offset % alignment) % alignment;
    while (pad > 0) {
        size_t take = pad < sizeof zeros ? (size_t)pad : sizeof zeros;
        if (mn_out_write(f, zeros, take) != 0) return -1;
        pad -= take;
    }
    return 0;
}

uint64_t mn_out_offset(const mn_out_file *f) { return f->offset; }
const char *mn_out_path(const mn_out_file *f) { return f->final_path; }

static void sync_directory_of(const char *path) {
    char dir[PATH_MAX], base[NAME_MAX + 1];
    split_dir(path, dir, sizeof dir, base, sizeof base);
    int dfd = open(dir, O_RDONLY | O_DIRECTORY);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
}

void mn_out_abort(mn_out_file *f) {
    if (!f) return;
    if (f->fd >= 0) close(f->fd);
    unlink(f->temp_path);
    release_temp(f->slot);
    free(f);
}

int mn_out_commit(mn_out_file *f) {
    if (flush_buffer(f) != 0) goto fail;
    if (fsync(f->fd) != 0) {
        mn_fail("%s: fsync failed: %s", f->final_path, strerror(errno));
        goto fail;
    }
    if (close(f->fd) != 0) {
        f->fd = -1;
        mn_fail("%s: close failed: %s", f->final_path, strerror(errno));
        goto fail;
    }
    f->fd = -1;
    if (rename(f->temp_path, f->final_path) != 0) {
        mn_fail("%s: cannot rename into place: %s", f->final_path, strerror(errno));
        goto fail;
    }
    sync_directory_of(f->final_path);
    release_temp(f->slot);
    free(f);
    return 0;
fail:
    mn_out_abort(f);
    return -1;
}

int mn_out_write_whole(const char *path, const void *buf, size_t n) {
    mn_out_file *f = mn_out_open(path);
    if (!f) return -1;
    if (mn_out_write(f, buf, n) != 0) {
        mn_out_abort(f);
        return -1;
    }
    return mn_out_commit(f);
}

#define MAX_DIR_FILES 64
struct mn_out_dir {
    char final_path[PATH_MAX];
    char temp_path[PATH_MAX];
    char file_path[PATH_MAX];
    int slot;
    /* Files inside the temporary directory, so the signal handler can empty it. */
    int child_slots[MAX_DIR_FILES];
    int n_children;
};

static void release_children(mn_out_dir *d) {
    for (int i = 0; i < d->n_children; i++) release_temp(d->child_slots[i]);
    d->n_children = 0;
}

mn_out_dir *mn_out_dir_open(const char *path) {
    struct stat st;
    if (stat(path, &st) == 0 && !S_ISDIR(st.st_mode)) {
        mn_fail("%s: exists and is not a directory", path);
        return NULL;
    }
    if (mn_dir_holds_mapped_input(path)) {
        mn_fail("%s: refusing to replace a directory holding an input file", path);
        return NULL;
    }
    mn_out_dir *d = calloc(1, sizeof *d);
    if (!d) {
        mn_fail("%s: out of memory", path);
        return NULL;
    }
    char parent[PATH_MAX], base[NAME_MAX + 1];
    char trimmed[PATH_MAX];
    snprintf(trimmed, sizeof trimmed, "%s", path);
    size_t len = strlen(trimmed);
    while (len > 1 && trimmed[len - 1] == '/') trimmed[--len] = 0;
    split_dir(trimmed, parent, sizeof parent, base, sizeof base);
    snprintf(d->final_path, sizeof d->final_path, "%s", trimmed);
    if (format_path(d->temp_path, sizeof d->temp_path, "%s/.%s.minnow-XXXXXX", parent, base) != 0) {
        free(d);
        mn_fail("%s: path too long", path);
        return NULL;
    }
    d->slot = register_temp(d->temp_path, 1);
    if (!mkdtemp(d->temp_path)) {
        int e = errno;
        release_temp(d->slot);
        free(d);
        mn_fail("%s: cannot create output directory in %s: %s", path, parent, strerror(e));
        return NULL;
    }
    if (d->slot >= 0) snprintf(temps[d->slot].path, sizeof temps[d->slot].path, "%s", d->temp_path);
    chmod(d->temp_path, 0755);
    return d;
}

const char *mn_out_dir_file(mn_out_dir *d, const char *name) {
    if (format_path(d->file_path, sizeof d->file_path, "%s/%s", d->temp_path, name) != 0) {
        mn_fail("%s: path too long", name);
        return NULL;
    }
    if (d->n_children < MAX_DIR_FILES) {
        int slot = register_temp(d->file_path, 0);
        if (slot >= 0) d->child_slots[d->n_children++] = slot;
    }
    return d->file_path;
}

/* Removes a directory holding only regular files (what minnow writes into one). */
static void remove_flat_dir(const char *path) {
    DIR *dir = opendir(path);
    if (dir) {
        struct dirent *e;
        char child[PATH_MAX];
        while ((e = readdir(dir)) != NULL) {
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
            if (format_path(child, sizeof child, "%s/%s", path, e->d_name) == 0) unlink(child);
        }
        closedir(dir);
    }
    rmdir(path);
}

void mn_out_dir_abort(mn_out_dir *d) {
    if (!d) return;
    remove_flat_dir(d->temp_path);
    release_children(d);
    release_temp(d->slot);
    free(d);
}

int mn_out_dir_commit(mn_out_dir *d) {
    char old_path[PATH_MAX] = "";
    struct stat st;
    if (stat(d->final_path, &st) == 0) {
        if (format_path(old_path, sizeof old_path, "%s.minnow-old-%d", d->final_path, (int)getpid()) != 0 ||
            rename(d->final_path, old_path) != 0) {
            mn_fail("%s: cannot move the existing directory aside: %s", d->final_path, strerror(errno));
            mn_out_dir_abort(d);
            return -1;
        }
    }
    if (rename(d->temp_path, d->final_path) != 0) {
        int e = errno;
        if (old_path[0]) rename(old_path, d->final_path);
        mn_fail("%s: cannot rename into place: %s", d->final_path, strerror(e));
        mn_out_dir_abort(d);
        return -1;
    }
    if (old_path[0]) remove_flat_dir(old_path);
    sync_directory_of(d->final_path);
    release_children(d);
    release_temp(d->slot);
    free(d);
    return 0;
}

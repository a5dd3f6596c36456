#include "core/mapped_file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"

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
    }
    close(fd);
    out->path = strdup(path);
    return 0;
}

void mn_unmap_file(mn_mapped_file *f) {
    if (f->data) munmap((void *)f->data, f->size);
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

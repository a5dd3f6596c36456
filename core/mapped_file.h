/* Read-only memory mapping of a whole input file. Checkpoints are mapped, never read into
 * memory, so a 2 GB model costs page cache, not heap. */
#ifndef MN_CORE_MAPPED_FILE_H
#define MN_CORE_MAPPED_FILE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *path;       /* owned copy, for error messages */
    const void *data; /* NULL for an empty file */
    size_t size;
} mn_mapped_file;

/* Fails (with "PATH: reason") when the file cannot be opened, is not a regular file, or
 * cannot be mapped. */
int mn_map_file(const char *path, mn_mapped_file *out);
void mn_unmap_file(mn_mapped_file *f);

/* Whether path names a file that is mapped right now (not yet unmapped), and whether dir is
 * the directory of one: outputs (core/out_file.h) refuse to replace either. */
bool mn_is_mapped_input(const char *path);
bool mn_dir_holds_mapped_input(const char *dir);

/* Reads a whole (small) file into a NUL-terminated heap buffer; *size excludes the NUL. */
char *mn_read_file(const char *path, size_t *size);

/* True when both paths name the same existing file (same device and inode). */
int mn_same_file(const char *a, const char *b);
int mn_file_exists(const char *path);
int mn_is_directory(const char *path);

#endif

/* Output files that are either complete or absent.
 *
 * Everything minnow writes goes to a temporary file in the destination directory, is
 * fsynced, and is renamed into place only when complete. On an error, abort removes the
 * temporary; on SIGINT/SIGTERM/SIGHUP the handler installed by mn_out_install_signal_cleanup
 * removes every temporary still open. Writes that exceed a file-size limit fail with EFBIG
 * instead of killing the process (SIGXFSZ is ignored). */
#ifndef MN_CORE_OUT_FILE_H
#define MN_CORE_OUT_FILE_H

#include <stddef.h>
#include <stdint.h>

typedef struct mn_out_file mn_out_file;

/* Refuses a path that names an existing directory or an input mapped right now
 * (core/mapped_file.h). */
mn_out_file *mn_out_open(const char *path);
int mn_out_write(mn_out_file *f, const void *buf, size_t n);
/* Writes zero bytes until the offset is a multiple of `alignment`. */
int mn_out_pad_to(mn_out_file *f, uint64_t alignment);
uint64_t mn_out_offset(const mn_out_file *f);
const char *mn_out_path(const mn_out_file *f); /* the final path */
/* Flushes, fsyncs and renames; frees f whether or not it succeeds (failure removes the temp). */
int mn_out_commit(mn_out_file *f);
/* Removes the temporary and frees f. NULL is fine. */
void mn_out_abort(mn_out_file *f);

/* Convenience: writes a whole buffer atomically. */
int mn_out_write_whole(const char *path, const void *buf, size_t n);

/* An output directory built under a temporary name and renamed into place on commit.
 * An existing directory at the destination is replaced only after the new one is complete,
 * and never when it holds an input mapped right now. */
typedef struct mn_out_dir mn_out_dir;
mn_out_dir *mn_out_dir_open(const char *path);
/* Path of `name` inside the temporary directory, for mn_out_open; NULL if too long. */
const char *mn_out_dir_file(mn_out_dir *d, const char *name);
int mn_out_dir_commit(mn_out_dir *d);
void mn_out_dir_abort(mn_out_dir *d);

/* Installs handlers that remove open temporaries on SIGINT/SIGTERM/SIGHUP and then die of
 * the signal, and ignores SIGXFSZ. Called once by the CLI. */
void mn_out_install_signal_cleanup(void);

#endif

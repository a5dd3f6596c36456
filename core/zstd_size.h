/* The size of a file after zstd compression: what a phone downloads when the file is served
 * compressed. */
#ifndef MN_CORE_ZSTD_SIZE_H
#define MN_CORE_ZSTD_SIZE_H

#include <stdint.h>

/* Streams the file through zstd at `level` with `threads` workers. */
int mn_zstd_size(const char *path, int level, int threads, uint64_t *out);

#endif

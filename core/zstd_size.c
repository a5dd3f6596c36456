#include "core/zstd_size.h"

#include <stdlib.h>
#include <zstd.h>

#include "core/error.h"
#include "core/mapped_file.h"

int mn_zstd_size(const char *path, int level, int threads, uint64_t *out) {
    mn_mapped_file f;
    if (mn_map_file(path, &f) != 0) return -1;
    ZSTD_CCtx *cctx = ZSTD_createCCtx();
    size_t cap = ZSTD_CStreamOutSize();
    void *buf = malloc(cap);
    int rc = 0;
    if (!cctx || !buf) rc = mn_fail("%s: out of memory compressing", path);
    if (rc == 0) {
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_compressionLevel, level);
        /* ignored (single-threaded) when libzstd lacks multithreading */
        ZSTD_CCtx_setParameter(cctx, ZSTD_c_nbWorkers, threads > 1 ? threads : 0);
        ZSTD_inBuffer in = {f.data, f.size, 0};
        uint64_t total = 0;
        size_t left;
        do {
            ZSTD_outBuffer o = {buf, cap, 0};
            left = ZSTD_compressStream2(cctx, &o, &in, ZSTD_e_end);
            if (ZSTD_isError(left)) {
                rc = mn_fail("%s: zstd: %s", path, ZSTD_getErrorName(left));
                break;
            }
            total += o.pos;
        } while (left != 0);
        *out = total;
    }
    ZSTD_freeCCtx(cctx);
    free(buf);
    mn_unmap_file(&f);
    return rc;
}

/* SHA-256, to record which calibration text made a quantized file (its hash goes into the
 * GGUF metadata) and to name cached reference logits. */
#ifndef MN_CORE_SHA256_H
#define MN_CORE_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    uint32_t state[8];
    uint64_t length;
    uint8_t block[64];
    size_t used;
} mn_sha256;

void mn_sha256_init(mn_sha256 *s);
void mn_sha256_update(mn_sha256 *s, const void *data, size_t n);
void mn_sha256_final(mn_sha256 *s, uint8_t digest[32]);
/* Lower-case hex of the digest of a buffer; `hex` holds 65 bytes. */
void mn_sha256_hex(const void *data, size_t n, char hex[65]);

#endif

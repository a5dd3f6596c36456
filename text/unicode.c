#include "text/unicode.h"

#include <stdbool.h>


size_t mn_utf8_len(uint8_t lead) {
    static const uint8_t len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    return len[lead >> 4];
}

static bool cont(uint8_t c) { return (c & 0xC0) == 0x80; }

uint32_t mn_utf8_decode(const uint8_t *s, size_t n, size_t *used) {
    uint8_t c = s[0];
    *used = 1;
    if (c < 0x80) return c;
    if (c < 0xC0) return 0xFFFD;
    if (c < 0xE0) {
        if (n < 2 || !cont(s[1])) return 0xFFFD;
        *used = 2;
        return (uint32_t)(c & 0x1F) << 6 | (s[1] & 0x3F);
    }
    if (c < 0xF0) {
        if (n < 3 || !cont(s[1]) || !cont(s[2])) return 0xFFFD;
        *used = 3;
        return (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[1] & 0x3F) << 6 | (s[2] & 0x3F);
    }
    if (c < 0xF8) {
        if (n < 4 || !cont(s[1]) || !cont(s[2]) || !cont(s[3])) return 0xFFFD;
        *used = 4;
        return (uint32_t)(c & 0x07) << 18 | (uint32_t)(s[1] & 0x3F) << 12 | (uint32_t)(s[2] & 0x3F) << 6 |
               (s[3] & 0x3F);
    }
    return 0xFFFD;
}

size_t mn_utf8_encode(uint32_t cpt, char *out) {
    if (cpt < 0x80) {
        out[0] = (char)cpt;
        return 1;
    }
    if (cpt < 0x800) {
        out[0] = (char)(0xC0 | cpt >> 6);
        out[1] = (char)(0x80 | (cpt & 0x3F));
        return 2;
    }
    if (cpt < 0x10000) {
        out[0] = (char)(0xE0 | cpt >> 12);
        out[1] = (char)(0x80 | (cpt >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cpt & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cpt >> 18);
    out[1] = (char)(0x80 | (cpt >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cpt >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cpt & 0x3F));
    return 4;
}

/* Printable Latin-1 bytes stand for themselves; the other 68 (0x00-0x20, 0x7F-0xA0, 0xAD)
 * are numbered in order from U+0100, so every byte gets a visible character. */
uint32_t mn_byte_to_cpt(uint8_t b) {
    if (b <= 0x20) return 0x100 + b;
    if (b >= 0x7F && b <= 0xA0) return 0x121 + (b - 0x7Fu);
    if (b == 0xAD) return 0x143;
    return b;
}

int mn_cpt_to_byte(uint32_t cpt) {
    if (cpt < 0x100) return mn_byte_to_cpt((uint8_t)cpt) == cpt ? (int)cpt : -1;
    if (cpt <= 0x120) return (int)(cpt - 0x100);
    if (cpt <= 0x142) return (int)(cpt - 0x121 + 0x7F);
    return cpt == 0x143 ? 0xAD : -1;
}

/* UTF-8 the way llama.cpp reads it, and GPT-2's byte-to-unicode map. */
#ifndef MN_TEXT_UNICODE_H
#define MN_TEXT_UNICODE_H

#include <stddef.h>
#include <stdint.h>

/* Length of the UTF-8 sequence a lead byte announces, from its high nibble alone (1 for
 * continuation bytes, 4 for 0xF8..0xFF): how llama.cpp cuts text into symbols. */
size_t mn_utf8_len(uint8_t lead);

/* Decodes one code point of s[0..n) (n >= 1) as llama.cpp's unicode_cpts_from_utf8 does:
 * overlong forms and surrogates are accepted, anything else invalid yields U+FFFD for one
 * byte. Sets *used to the bytes consumed. May return values above 0x10FFFF (F5..F7 leads). */
uint32_t mn_utf8_decode(const uint8_t *s, size_t n, size_t *used);

/* Writes the UTF-8 form of cpt (<= 0x10FFFF, surrogates included) and returns its length. */
size_t mn_utf8_encode(uint32_t cpt, char *out);

/* GPT-2's byte-level alphabet: the code point standing for byte b. */
uint32_t mn_byte_to_cpt(uint8_t b);
/* The byte a byte-level code point stands for, or -1. */
int mn_cpt_to_byte(uint32_t cpt);

#endif

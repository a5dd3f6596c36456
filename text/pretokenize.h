/* Byte-level BPE pre-tokenization as llama.cpp does it (unicode_regex_split): the text is
 * read as code points (invalid UTF-8 becomes U+FFFD), then split by the regex set that the
 * vocabulary's tokenizer.ggml.pre selects, each regex splitting the pieces the previous one
 * left. The regexes run on PCRE2; \s is spelled out as llama.cpp's whitespace set, because
 * PCRE2's \s also matches U+180E. */
#ifndef MN_TEXT_PRETOKENIZE_H
#define MN_TEXT_PRETOKENIZE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct mn_pretokenizer mn_pretokenizer;

/* The pre-tokenizer llama.cpp uses for tokenizer.ggml.pre = `pre` (NULL: none given, which
 * llama.cpp treats as "default"). Unsupported names fail with an error naming `source`. */
mn_pretokenizer *mn_pretokenizer_new(const char *pre, const char *source);
void mn_pretokenizer_free(mn_pretokenizer *p);

/* llama.cpp's per-pre flags: whole words that are tokens skip the merges (Llama-3), and the
 * add_bos default when the file does not say. */
bool mn_pretokenizer_ignore_merges(const mn_pretokenizer *p);
bool mn_pretokenizer_default_add_bos(const char *pre);

/* The tokenizer.ggml.pre name for a Hugging Face pre_tokenizer Split regex, or NULL when
 * the regex is not one minnow knows. */
const char *mn_pretokenizer_name_for_regex(const char *regex);

/* Words of one text, reused across calls. */
typedef struct {
    char *text; /* the text as llama.cpp re-encodes it; words are consecutive slices */
    size_t len;
    size_t *ends; /* end of word i in text; word i starts at ends[i - 1] (or 0) */
    size_t n;
    /* scratch */
    char *subject;
    size_t *next;
    size_t text_cap, subject_cap, ends_cap, next_cap;
} mn_words;

/* Splits s[0..n) into words; -1 only when out of memory. */
int mn_pretokenize(const mn_pretokenizer *p, const char *s, size_t n, mn_words *w);
void mn_words_free(mn_words *w);

#endif

#define PCRE2_CODE_UNIT_WIDTH 8
#include "text/pretokenize.h"

#include <pcre2.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/error.h"
#include "text/unicode.h"

/* llama.cpp's whitespace set (unicode_set_whitespace), for use inside [...]. */
#define WS "\\t-\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* The regexes llama.cpp runs (llm_tokenizer_bpe), with \s and \S spelled out. The GPT-2 one
 * ends in "|\s+" like llama.cpp's hand-written splitter for it, which also emits a lone
 * whitespace before a non-space as its own word. */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS "]+(?![^" WS "])|[" WS "]+"
#define RE_LLAMA3_LIKE(digits)                                                                                   \
    "'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD]|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}" digits             \
    "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

enum { MAX_REGEXES = 4 };

typedef struct {
    const char *regex[MAX_REGEXES + 1]; /* NULL-terminated */
    /* The Split regex a Hugging Face tokenizer.json carries for this set, if any. */
    const char *hf_regex;
} regex_set;

static const regex_set SET_GPT2 = {
    {RE_GPT2, NULL},
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+",
};
static const regex_set SET_LLAMA3 = {
    {RE_LLAMA3_LIKE("{1,3}"), NULL},
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+",
};
static const regex_set SET_QWEN2 = {
    {RE_LLAMA3_LIKE(""), NULL},
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|"
    "\\s+(?!\\S)|\\s+",
};
static const regex_set SET_DEFAULT = {
    {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]", NULL},
    NULL,
};

/* tokenizer.ggml.pre names llama.cpp maps onto these regex sets (llama_vocab::impl::load),
 * with the flags it sets for them. */
static const struct {
    const char *name;
    const regex_set *set;
    bool ignore_merges, add_bos;
} PRE[] = {
    {"default", &SET_DEFAULT, false, false},
    {"gpt-2", &SET_GPT2, false, false},
    {"phi-2", &SET_GPT2, false, false},
    {"mpt", &SET_GPT2, false, false},
    {"olmo", &SET_GPT2, false, false},
    {"jais", &SET_GPT2, false, false},
    {"exaone4", &SET_GPT2, false, false},
    {"llama-bpe", &SET_LLAMA3, true, true},
    {"llama3", &SET_LLAMA3, true, true},
    {"llama-v3", &SET_LLAMA3, true, true},
    {"falcon3", &SET_LLAMA3, true, true},
    {"pixtral", &SET_LLAMA3, true, true},
    {"dbrx", &SET_LLAMA3, false, false},
    {"smaug-bpe", &SET_LLAMA3, false, false},
    {"qwen2", &SET_QWEN2, false, false},
    {"deepseek-r1-qwen", &SET_QWEN2, false, false},
    {"megrez", &SET_QWEN2, false, false},
    {"stablelm2", &SET_QWEN2, false, false},
};

static int find_pre(const char *pre) {
    for (size_t i = 0; i < sizeof PRE / sizeof PRE[0]; i++)
        if (!strcmp(PRE[i].name, pre ? pre : "default")) return (int)i;
    return -1;
}

struct mn_pretokenizer {
    pcre2_code *code[MAX_REGEXES];
    int n;
    bool ignore_merges;
};

mn_pretokenizer *mn_pretokenizer_new(const char *pre, const char *source) {
    int k = find_pre(pre);
    if (k < 0) {
        mn_fail("%s: unsupported pre-tokenizer '%s' (minnow knows llama.cpp's gpt-2, llama-bpe, qwen2 and default "
                "regex sets and their aliases)",
                source, pre);
        return NULL;
    }
    mn_pretokenizer *p = calloc(1, sizeof *p);
    if (!p) {
        mn_fail("%s: out of memory", source);
        return NULL;
    }
    p->ignore_merges = PRE[k].ignore_merges;
    for (const char *const *re = PRE[k].set->regex; *re; re++) {
        int err;
        PCRE2_SIZE at;
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)*re, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err, &at, NULL);
        if (!c) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            mn_fail("%s: pre-tokenizer regex does not compile at offset %zu: %s", source, (size_t)at, (char *)msg);
            mn_pretokenizer_free(p);
            return NULL;
        }
        /* JIT is only a speed-up: without it (no JIT support) the interpreter runs. */
        pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
        p->code[p->n++] = c;
    }
    return p;
}

void mn_pretokenizer_free(mn_pretokenizer *p) {
    if (!p) return;
    for (int i = 0; i < p->n; i++) pcre2_code_free(p->code[i]);
    free(p);
}

bool mn_pretokenizer_ignore_merges(const mn_pretokenizer *p) { return p->ignore_merges; }

bool mn_pretokenizer_default_add_bos(const char *pre) {
    int k = find_pre(pre);
    return k >= 0 && PRE[k].add_bos;
}

const char *mn_pretokenizer_name_for_regex(const char *regex) {
    static const regex_set *const sets[] = {&SET_GPT2, &SET_LLAMA3, &SET_QWEN2};
    static const char *const names[] = {"gpt-2", "llama-bpe", "qwen2"};
    for (size_t i = 0; i < sizeof sets / sizeof sets[0]; i++)
        if (!strcmp(regex, sets[i]->hf_regex)) return names[i];
    /* GPT-2's regex also appears without its final "|\s+", which matches nothing more. */
    size_t n = strlen(SET_GPT2.hf_regex) - strlen("|\\s+");
    if (strlen(regex) == n && !strncmp(regex, SET_GPT2.hf_regex, n)) return names[0];
    return NULL;
}

static int grow(void **buf, size_t *cap, size_t need, size_t elem) {
    if (need <= *cap) return 0;
    size_t c = *cap ? *cap : 64;
    while (c < need) c *= 2;
    void *p = realloc(*buf, c * elem);
    if (!p) return -1;
    *buf = p;
    *cap = c;
    return 0;
}

/* The text as llama.cpp sees it: code points re-encoded, so invalid bytes become U+FFFD.
 * The regexes run on a copy where surrogates (which llama.cpp keeps, and PCRE2 cannot read)
 * are U+FFFD too: both are "other" characters to every regex here. Code points above
 * U+10FFFF make llama.cpp throw; they become U+FFFD. */
static int repair(const char *s, size_t n, mn_words *w) {
    if (n > (SIZE_MAX - 4) / 3 || grow((void **)&w->text, &w->text_cap, 3 * n + 4, 1) ||
        grow((void **)&w->subject, &w->subject_cap, 3 * n + 4, 1))
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < n;) {
        size_t used;
        uint32_t c = mn_utf8_decode((const uint8_t *)s + i, n - i, &used);
        i += used;
        if (c > 0x10FFFF) c = 0xFFFD;
        size_t k = mn_utf8_encode(c, w->text + o);
        if (c >= 0xD800 && c <= 0xDFFF)
            mn_utf8_encode(0xFFFD, w->subject + o);
        else
            memcpy(w->subject + o, w->text + o, k);
        o += k;
    }
    w->len = o;
    return 0;
}

static int push(size_t **v, size_t *n, size_t *cap, size_t end) {
    if (grow((void **)v, cap, *n + 1, sizeof **v)) return -1;
    (*v)[(*n)++] = end;
    return 0;
}

/* Splits the segment [start, end) by one regex into matches and the gaps between them,
 * appending their ends to w->next. */
static int split_segment(const pcre2_code *code, pcre2_match_data *md, mn_words *w, size_t start, size_t end,
                         size_t *n_next) {
    const PCRE2_SPTR subj = (PCRE2_SPTR)w->subject + start;
    size_t len = end - start, pos = 0, done = 0;
    while (pos < len) {
        int rc = pcre2_match(code, subj, len, pos, PCRE2_NO_UTF_CHECK, md, NULL);
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
            rc = pcre2_match(code, subj, len, pos, PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, md, NULL);
        if (rc == PCRE2_ERROR_NOMATCH) break;
        size_t ms, me;
        if (rc < 0) {
            /* A resource limit on hostile input: the character at pos stays in a gap. */
            ms = me = pos;
        } else {
            const PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            ms = ov[0];
            me = ov[1];
        }
        if (me == ms) {
            pos = ms + mn_utf8_len(subj[ms]);
            continue;
        }
        if (ms > done && push(&w->next, n_next, &w->next_cap, start + ms)) return -1;
        if (push(&w->next, n_next, &w->next_cap, start + me)) return -1;
        done = pos = me;
    }
    if (done < len && push(&w->next, n_next, &w->next_cap, end)) return -1;
    return 0;
}

int mn_pretokenize(const mn_pretokenizer *p, const char *s, size_t n, mn_words *w) {
    w->n = 0;
    if (repair(s, n, w)) return -1;
    if (w->len == 0) return 0;
    if (push(&w->ends, &w->n, &w->ends_cap, w->len)) return -1;
    pcre2_match_data *md = pcre2_match_data_create(1, NULL);
    if (!md) return -1;
    for (int r = 0; r < p->n; r++) {
        size_t n_next = 0, start = 0;
        for (size_t i = 0; i < w->n; i++) {
            if (split_segment(p->code[r], md, w, start, w->ends[i], &n_next)) {
                pcre2_match_data_free(md);
                return -1;
            }
            start = w->ends[i];
        }
        size_t *t = w->ends;
        w->ends = w->next;
        w->next = t;
        size_t c = w->ends_cap;
        w->ends_cap = w->next_cap;
        w->next_cap = c;
        w->n = n_next;
    }
    pcre2_match_data_free(md);
    return 0;
}

void mn_words_free(mn_words *w) {
    free(w->text);
    free(w->subject);
    free(w->ends);
    free(w->next);
    memset(w, 0, sizeof *w);
}

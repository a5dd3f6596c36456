/* Tokenizers against llama.cpp's own test vectors, across every loader, plus BOS rules,
 * round trips, GGUF write/read identity and hostile input. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "formats/gguf_writer.h"
#include "tests/unit/unit.h"
#include "text/tokenizer.h"

static char *data_path(const char *rel) {
    static char buf[8][1024];
    static int k;
    char *p = buf[k++ % 8];
    snprintf(p, sizeof buf[0], "%s/%s", mn_test_data_dir(), rel);
    return p;
}

static mn_tokenizer *load(const char *rel) {
    mn_clear_error();
    mn_tokenizer *t = mn_tokenizer_load(data_path(rel));
    ck_assert_msg(t != NULL, "%s: %s", rel, mn_last_error());
    return t;
}

static mn_tokens encode(const mn_tokenizer *t, const char *s, size_t n, bool special) {
    mn_tokens ids = {0};
    ck_assert_int_eq(mn_tokenize(t, s, n, special, &ids), 0);
    return ids;
}

/* llama.cpp's test-tokenizer-0 files: strings separated by "\n__ggml_vocab_test__\n", one
 * line of expected ids per string. Returns the number of strings checked. */
static int check_vectors(const mn_tokenizer *t, const char *vectors, const char *label) {
    char inp_path[1024], out_path[1024];
    snprintf(inp_path, sizeof inp_path, "%s.inp", data_path(vectors));
    snprintf(out_path, sizeof out_path, "%s.out", data_path(vectors));
    size_t inp_len, out_len;
    char *inp = mn_read_file(inp_path, &inp_len), *out = mn_read_file(out_path, &out_len);
    ck_assert_msg(inp && out, "%s", mn_last_error());
    const char *sep = "\n__ggml_vocab_test__\n";
    char *s = inp, *line = out;
    int n = 0;
    while (s < inp + inp_len) {
        char *next = strstr(s, sep);
        size_t len = next ? (size_t)(next - s) : strlen(s);
        char *eol = strchr(line, '\n');
        ck_assert_msg(eol != NULL, "%s: fewer expected lines than strings", vectors);
        *eol = 0;
        mn_tokens ids = encode(t, s, len, false);
        char got[8192] = "";
        size_t o = 0;
        for (size_t i = 0; i < ids.n && o < sizeof got - 16; i++) o += (size_t)sprintf(got + o, " %d", ids.ids[i]);
        const char *want = line;
        while (*want == ' ') want++;
        ck_assert_msg(!strcmp(got + (o > 0), want), "%s, string %d \"%.*s\":\n want %s\n got  %s", label, n, (int)len, s,
                      want, got + (o > 0));
        mn_tokens_free(&ids);
        n++;
        line = eol + 1;
        if (!next) break;
        s = next + strlen(sep);
    }
    free(inp);
    free(out);
    return n;
}

START_TEST(vectors_from_llama_cpp_gguf) {
    static const char *const names[] = {"llama-spm", "phi-3", "gpt-2"};
    for (int i = 0; i < 3; i++) {
        char rel[256];
        snprintf(rel, sizeof rel, "ggml-vocab/ggml-vocab-%s.gguf", names[i]);
        mn_tokenizer *t = load(rel);
        ck_assert_int_eq(check_vectors(t, rel, names[i]), 46);
        mn_tokenizer_free(t);
    }
}
END_TEST

/* The Llama-2 vocabulary from its other sources reproduces the llama-spm vectors. */
START_TEST(vectors_from_other_llama2_sources) {
    static const char *const sources[] = {"llama2-tokenizer/tokenizer.model", "llama2-tokenizer/tokenizer.bin",
                                          "tinystories-llama-21m"};
    for (int i = 0; i < 3; i++) {
        mn_tokenizer *t = load(sources[i]);
        ck_assert_int_eq(check_vectors(t, "ggml-vocab/ggml-vocab-llama-spm.gguf", sources[i]), 46);
        mn_tokenizer_free(t);
    }
}
END_TEST

static void check_ids(const mn_tokenizer *t, const char *text, bool special, const int32_t *want, size_t n) {
    mn_tokens ids = encode(t, text, strlen(text), special);
    ck_assert_msg(ids.n == n, "\"%s\": %zu ids, want %zu", text, ids.n, n);
    for (size_t i = 0; i < n; i++) ck_assert_msg(ids.ids[i] == want[i], "\"%s\" id %zu: %d, want %d", text, i, ids.ids[i], want[i]);
    mn_tokens_free(&ids);
}

START_TEST(bos_rules) {
    struct {
        const char *src;
        int32_t first; /* -1: no BOS */
    } cases[] = {
        {"ggml-vocab/ggml-vocab-llama-spm.gguf", 1}, {"ggml-vocab/ggml-vocab-phi-3.gguf", 1},
        {"ggml-vocab/ggml-vocab-gpt-2.gguf", -1},    {"llama2-tokenizer/tokenizer.model", 1},
        {"stories260K/tok512.bin", 1},               {"tokenizers/llama3/tokenizer.json", 128000},
        {"tokenizers/qwen3/tokenizer.json", -1},     {"tokenizers/llama2/tokenizer.json", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        mn_tokenizer *t = load(cases[i].src);
        const mn_vocab *v = mn_tokenizer_vocab(t);
        mn_tokens with = encode(t, "Hello", 5, true), without = encode(t, "Hello", 5, false);
        ck_assert_msg(v->add_bos == (cases[i].first >= 0), "%s: add_bos", cases[i].src);
        ck_assert_uint_eq(with.n, without.n + (cases[i].first >= 0));
        if (cases[i].first >= 0) ck_assert_int_eq(with.ids[0], cases[i].first);
        ck_assert(!v->add_eos);
        mn_tokens_free(&with);
        mn_tokens_free(&without);
        mn_tokenizer_free(t);
    }
}
END_TEST

START_TEST(known_ids) {
    mn_tokenizer *t = load("llama2-tokenizer/tokenizer.model");
    /* SentencePiece's own encoding (see llama2-tokenizer/PROVENANCE.md). */
    static const int32_t hello[] = {15043, 3186, 29892, 2748, 2501, 263, 931, 29889};
    check_ids(t, "Hello world, once upon a time.", false, hello, 8);
    mn_tokenizer_free(t);
    /* tok512: the space prefix, byte fallback for characters outside 512 tokens. */
    t = load("stories260K/tok512.bin");
    mn_tokens ids = encode(t, "Once upon a time \xe5\xad\x97", strlen("Once upon a time \xe5\xad\x97"), true);
    ck_assert_int_eq(ids.ids[0], 1);
    ck_assert_int_eq(ids.ids[ids.n - 3], 3 + 0xE5);
    ck_assert_int_eq(ids.ids[ids.n - 1], 3 + 0x97);
    mn_tokens_free(&ids);
    mn_tokenizer_free(t);
    /* tokenizers/llama2 is in fact Mistral's 32K vocabulary ("▁Hello" is 22557 there). */
    t = load("tokenizers/llama2/tokenizer.json");
    static const int32_t mistral[] = {22557, 1526};
    check_ids(t, "Hello world", false, mistral, 2);
    mn_tokenizer_free(t);
    /* Qwen's user-defined <think> is split out of raw text; its control tokens are not. */
    t = load("tokenizers/qwen3/tokenizer.json");
    mn_tokens think = encode(t, "a<think>b", 9, false), im = encode(t, "<|im_start|>", 12, false);
    ck_assert_uint_eq(think.n, 3);
    ck_assert_int_eq(think.ids[1], 151667);
    ck_assert_uint_gt(im.n, 1);
    mn_tokens_free(&think);
    mn_tokens_free(&im);
    mn_tokenizer_free(t);
}
END_TEST

/* Phi-3's vocabulary with its added tokens made user-defined (as Phi-3 conversions without
 * "special" flags have them), saved under another general.name when `name` is set. */
static mn_tokenizer *phi3_user_defined(const char *name) {
    mn_gguf g;
    ck_assert_msg(mn_gguf_open(data_path("ggml-vocab/ggml-vocab-phi-3.gguf"), &g) == 0, "%s", mn_last_error());
    mn_gguf_writer *w = mn_gguf_writer_new();
    for (uint64_t i = 0; i < g.n_kv; i++) {
        const mn_gguf_kv *kv = &g.kv[i];
        if (strcmp(kv->key, "tokenizer.ggml.token_type")) {
            mn_gguf_copy_kv(w, kv);
            continue;
        }
        int32_t *types = malloc(kv->arr_len * sizeof *types);
        for (uint64_t k = 0; k < kv->arr_len; k++) types[k] = (int32_t)mn_gguf_array_number(kv, k);
        for (int k = 32000; k <= 32010; k++) types[k] = MN_TOKEN_USER_DEFINED;
        mn_gguf_set_arr_i32(w, kv->key, types, kv->arr_len);
        free(types);
    }
    mn_gguf_close(&g);
    if (name) mn_gguf_set_str(w, "general.name", name);
    const char *tmp = getenv("TMP") ? getenv("TMP") : "/tmp";
    char path[1024];
    snprintf(path, sizeof path, "%s/minnow-test-phi3-%d.gguf", tmp, (int)getpid());
    ck_assert_msg(mn_gguf_begin(w, path) == 0 && mn_gguf_finish(w) == 0, "%s", mn_last_error());
    mn_gguf_writer_free(w);
    mn_tokenizer *t = mn_tokenizer_load(path);
    ck_assert_msg(t != NULL, "%s", mn_last_error());
    unlink(path);
    return t;
}

/* User-defined tokens are split out of raw text even without special-token parsing, a space
 * prefix follows each, "<|end|>" stays text (llama.cpp makes it a control token by name), and
 * a model named Phi-3 swallows the whitespace after them. Expected ids are llama.cpp's. */
START_TEST(user_defined_tokens_like_llama_cpp) {
    const char *text = "Hi <|user|>  say <|assistant|>\n\n x<|end|>y </s>  b<s> c";
    static const int32_t phi3[] = {1,     6324,  29871, 32010, 1827,  29871, 32001, 921,
                                   29966, 29989, 355,   29989, 29958, 29891, 1533,  29879,
                                   29958, 29871, 289,   29966, 29879, 29958, 274};
    static const int32_t other[] = {1,     6324,  29871, 32010, 259,   1827,  29871, 32001, 29871,
                                    13,    13,    921,   29966, 29989, 355,   29989, 29958, 29891,
                                    1533,  29879, 29958, 29871, 289,   29966, 29879, 29958, 274};
    mn_tokenizer *t = phi3_user_defined(NULL);
    check_ids(t, text, true, phi3, sizeof phi3 / sizeof phi3[0]);
    mn_tokenizer_free(t);
    t = phi3_user_defined("other");
    check_ids(t, text, true, other, sizeof other / sizeof other[0]);
    mn_tokenizer_free(t);
}
END_TEST

static void write_text(const char *dir, const char *name, const char *text) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    ck_assert(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* A Phi-3 style Hugging Face directory (Llama-2's tokenizer.model plus Phi-3's added tokens
 * and config) gives the vocabulary llama.cpp's converter made for ggml-vocab-phi-3.gguf. */
START_TEST(phi3_hf_directory) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/minnow-test-phi3-dir-%d", getenv("TMP") ? getenv("TMP") : "/tmp", (int)getpid());
    ck_assert(mkdir(dir, 0700) == 0);
    char model[1100];
    snprintf(model, sizeof model, "%s/tokenizer.model", dir);
    char *target = realpath(data_path("llama2-tokenizer/tokenizer.model"), NULL);
    ck_assert(target && symlink(target, model) == 0);
    free(target);
    write_text(dir, "config.json", "{\"architectures\": [\"Phi3ForCausalLM\"], \"vocab_size\": 32064, "
                                   "\"bos_token_id\": 1, \"eos_token_id\": 32000, \"pad_token_id\": 32000}");
    write_text(dir, "added_tokens.json",
               "{\"<|assistant|>\": 32001, \"<|endoftext|>\": 32000, \"<|end|>\": 32007, \"<|placeholder1|>\": 32002, "
               "\"<|placeholder2|>\": 32003, \"<|placeholder3|>\": 32004, \"<|placeholder4|>\": 32005, "
               "\"<|placeholder5|>\": 32008, \"<|placeholder6|>\": 32009, \"<|system|>\": 32006, \"<|user|>\": 32010}");
    char config[4096] = "{\"add_bos_token\": true, \"add_eos_token\": false, \"bos_token\": \"<s>\", "
                        "\"eos_token\": \"<|endoftext|>\", \"unk_token\": \"<unk>\", \"added_tokens_decoder\": {"
                        "\"0\": {\"content\": \"<unk>\", \"special\": true}, \"1\": {\"content\": \"<s>\", \"special\": true}, "
                        "\"2\": {\"content\": \"</s>\", \"special\": false}";
    const char *added[] = {"<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|placeholder2|>",
                           "<|placeholder3|>", "<|placeholder4|>", "<|system|>", "<|end|>",
                           "<|placeholder5|>", "<|placeholder6|>", "<|user|>"};
    for (int i = 0; i < 11; i++)
        snprintf(config + strlen(config), sizeof config - strlen(config),
                 ", \"%d\": {\"content\": \"%s\", \"special\": true}", 32000 + i, added[i]);
    strcat(config, "}}");
    write_text(dir, "tokenizer_config.json", config);

    mn_clear_error();
    mn_tokenizer *t = mn_tokenizer_load(dir), *ref = load("ggml-vocab/ggml-vocab-phi-3.gguf");
    ck_assert_msg(t != NULL, "%s", mn_last_error());
    const mn_vocab *a = mn_tokenizer_vocab(t), *b = mn_tokenizer_vocab(ref);
    ck_assert_int_eq(a->n_tokens, b->n_tokens);
    for (int32_t i = 0; i < a->n_tokens; i++) {
        ck_assert_str_eq(a->tokens[i], b->tokens[i]);
        ck_assert(a->scores[i] == b->scores[i]);
        /* That file's filler tokens predate the converter marking them unused. */
        if (i <= 32010) ck_assert_msg(a->token_types[i] == b->token_types[i], "token %d type", (int)i);
    }
    ck_assert(a->bos_id == b->bos_id && a->eos_id == b->eos_id && a->unk_id == b->unk_id && a->pad_id == b->pad_id);
    ck_assert_int_eq(check_vectors(t, "ggml-vocab/ggml-vocab-phi-3.gguf", "phi-3 directory"), 46);
    mn_tokenizer_free(t);
    mn_tokenizer_free(ref);
    static const char *const files[] = {"tokenizer.model", "config.json", "added_tokens.json", "tokenizer_config.json"};
    for (int i = 0; i < 4; i++) {
        char p[1100];
        snprintf(p, sizeof p, "%s/%s", dir, files[i]);
        unlink(p);
    }
    rmdir(dir);
}
END_TEST

static char *read_data(const char *rel, size_t max, size_t *len) {
    char *s = mn_read_file(data_path(rel), len);
    ck_assert_msg(s != NULL, "%s", mn_last_error());
    if (*len > max) {
        /* Cut at a line end so no UTF-8 sequence is split. */
        char *nl = memrchr(s, '\n', max);
        *len = nl ? (size_t)(nl - s + 1) : max;
    }
    return s;
}

/* Concatenated token texts give back the input (SentencePiece: after its space prefix). */
static void check_round_trip(const mn_tokenizer *t, const char *text, size_t len, const char *label) {
    mn_tokens ids = encode(t, text, len, false);
    size_t cap = 4 * len + 64, o = 0;
    char *back = malloc(cap);
    for (size_t i = 0; i < ids.n; i++) o += mn_token_to_text(t, ids.ids[i], back + o, cap - o);
    size_t skip = mn_tokenizer_vocab(t)->kind == MN_VOCAB_SPM && o > 0 && back[0] == ' ';
    ck_assert_msg(o - skip == len && !memcmp(back + skip, text, len), "%s: round trip differs", label);
    free(back);
    mn_tokens_free(&ids);
}

static const char *const ALL_SOURCES[] = {
    "ggml-vocab/ggml-vocab-llama-spm.gguf", "ggml-vocab/ggml-vocab-phi-3.gguf", "ggml-vocab/ggml-vocab-gpt-2.gguf",
    "llama2-tokenizer/tokenizer.model",     "llama2-tokenizer/tokenizer.bin",   "stories260K/tok512.bin",
    "tokenizers/llama2/tokenizer.json",     "tokenizers/llama3/tokenizer.json", "tokenizers/qwen3/tokenizer.json",
    "tinystories-llama-21m",
};
#define N_SOURCES (sizeof ALL_SOURCES / sizeof ALL_SOURCES[0])

START_TEST(round_trip) {
    size_t wlen, slen;
    char *wiki = read_data("wikitext-2-raw/wiki.test.raw", 200000, &wlen);
    char *story = read_data("tinystories/TinyStories-valid.excerpt.txt", 1 << 20, &slen);
    for (size_t i = 0; i < N_SOURCES; i++) {
        mn_tokenizer *t = load(ALL_SOURCES[i]);
        check_round_trip(t, wiki, wlen, ALL_SOURCES[i]);
        check_round_trip(t, story, slen, ALL_SOURCES[i]);
        mn_tokenizer_free(t);
    }
    free(wiki);
    free(story);
}
END_TEST

/* Writes the vocabulary as GGUF metadata, reads it back, and expects the same ids. */
START_TEST(gguf_write_read_identity) {
    size_t wlen;
    char *wiki = read_data("wikitext-2-raw/wiki.test.raw", 60000, &wlen);
    const char *tmp = getenv("TMP") ? getenv("TMP") : "/tmp";
    char path[1024];
    snprintf(path, sizeof path, "%s/minnow-test-vocab-%d.gguf", tmp, (int)getpid());
    for (size_t i = 0; i < N_SOURCES; i++) {
        mn_tokenizer *t = load(ALL_SOURCES[i]);
        mn_gguf_writer *w = mn_gguf_writer_new();
        mn_gguf_set_str(w, "general.architecture", "llama");
        mn_vocab_write_gguf(mn_tokenizer_vocab(t), w);
        ck_assert_msg(mn_gguf_begin(w, path) == 0 && mn_gguf_finish(w) == 0, "%s", mn_last_error());
        mn_gguf_writer_free(w);
        mn_gguf g;
        ck_assert_msg(mn_gguf_open(path, &g) == 0, "%s", mn_last_error());
        mn_tokenizer *back = mn_tokenizer_from_gguf(&g);
        ck_assert_msg(back != NULL, "%s: %s", ALL_SOURCES[i], mn_last_error());
        mn_gguf_close(&g);
        const mn_vocab *a = mn_tokenizer_vocab(t), *b = mn_tokenizer_vocab(back);
        ck_assert_int_eq(a->n_tokens, b->n_tokens);
        ck_assert_int_eq(a->bos_id, b->bos_id);
        ck_assert_int_eq(a->eos_id, b->eos_id);
        ck_assert(a->add_bos == b->add_bos && a->add_eos == b->add_eos);
        mn_tokens x = encode(t, wiki, wlen, true), y = encode(back, wiki, wlen, true);
        ck_assert_msg(x.n == y.n && !memcmp(x.ids, y.ids, x.n * sizeof *x.ids), "%s: ids differ after GGUF",
                      ALL_SOURCES[i]);
        mn_tokens_free(&x);
        mn_tokens_free(&y);
        mn_tokenizer_free(back);
        mn_tokenizer_free(t);
    }
    unlink(path);
    free(wiki);
}
END_TEST

/* Invalid UTF-8, NULs and long runs without spaces tokenize without failing. */
START_TEST(hostile_input) {
    size_t n = 100000;
    char *s = malloc(n);
    uint32_t x = 12345;
    for (size_t i = 0; i < N_SOURCES; i++) {
        mn_tokenizer *t = load(ALL_SOURCES[i]);
        for (int pass = 0; pass < 4; pass++) {
            for (size_t k = 0; k < n; k++) {
                x = x * 1103515245u + 12345u;
                switch (pass) {
                case 0: s[k] = (char)(x >> 16); break;               /* random bytes */
                case 1: s[k] = 'a' + (char)((x >> 16) % 3); break;   /* letters, no spaces */
                case 2: s[k] = k % 7 ? (char)0x80 + (char)(k % 64) : 0; break; /* continuation bytes, NULs */
                default: s[k] = " \t\n"[(x >> 16) % 3]; break;       /* whitespace only */
                }
            }
            mn_tokens ids = encode(t, s, n, true);
            ck_assert_uint_gt(ids.n, 0);
            for (size_t k = 0; k < ids.n; k++)
                ck_assert(ids.ids[k] >= 0 && ids.ids[k] < mn_tokenizer_vocab(t)->n_tokens);
            mn_tokens_free(&ids);
        }
        mn_tokens empty = encode(t, "", 0, false);
        ck_assert_uint_eq(empty.n, 0);
        mn_tokens_free(&empty);
        mn_tokenizer_free(t);
    }
    free(s);
}
END_TEST

/* Truncated or corrupted tokenizer files fail with one line naming the file. */
START_TEST(damaged_files) {
    static const char *const files[] = {"llama2-tokenizer/tokenizer.model", "stories260K/tok512.bin",
                                        "ggml-vocab/ggml-vocab-gpt-2.gguf", "tokenizers/llama2/tokenizer.json"};
    const char *tmp = getenv("TMP") ? getenv("TMP") : "/tmp";
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) {
        size_t len;
        char *bytes = mn_read_file(data_path(files[i]), &len);
        ck_assert(bytes != NULL);
        const char *ext = strrchr(files[i], '.');
        char path[1024];
        snprintf(path, sizeof path, "%s/minnow-damaged-%d%s", tmp, (int)getpid(), ext);
        uint32_t x = 777;
        for (int trial = 0; trial < 40; trial++) {
            x = x * 1103515245u + 12345u;
            size_t cut = trial < 20 ? (size_t)((double)len * trial / 20.0) : len;
            FILE *f = fopen(path, "wb");
            fwrite(bytes, 1, cut, f);
            fclose(f);
            if (trial >= 20) {
                /* Flip a few bytes in place. */
                f = fopen(path, "r+b");
                for (int k = 0; k < 8; k++) {
                    x = x * 1103515245u + 12345u;
                    fseek(f, (long)((x >> 8) % len), SEEK_SET);
                    fputc((int)(x >> 24), f);
                }
                fclose(f);
            }
            mn_clear_error();
            mn_tokenizer *t = mn_tokenizer_load(path);
            if (t) {
                mn_tokens ids = encode(t, "Hello world", 11, true);
                mn_tokens_free(&ids);
                mn_tokenizer_free(t);
            } else {
                ck_assert_msg(strstr(mn_last_error(), path) && !strchr(mn_last_error(), '\n'), "%s", mn_last_error());
            }
        }
        unlink(path);
        free(bytes);
    }
}
END_TEST

static Suite *make_suite(void) {
    Suite *s = suite_create("tokenizer");
    TCase *tc = tcase_create("core");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, vectors_from_llama_cpp_gguf);
    tcase_add_test(tc, vectors_from_other_llama2_sources);
    tcase_add_test(tc, bos_rules);
    tcase_add_test(tc, known_ids);
    tcase_add_test(tc, user_defined_tokens_like_llama_cpp);
    tcase_add_test(tc, phi3_hf_directory);
    tcase_add_test(tc, round_trip);
    tcase_add_test(tc, gguf_write_read_identity);
    tcase_add_test(tc, hostile_input);
    tcase_add_test(tc, damaged_files);
    suite_add_tcase(s, tc);
    return s;
}

MN_UNIT_MAIN

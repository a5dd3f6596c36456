/* Unit tests for formats/: GGUF reader and writer, safetensors reader and writer, HF
 * config.json, llama2.c checkpoints. Valid files round-trip exactly; every corruption fails with
 * one error line naming the file, without crashing or leaking. */
#include "tests/unit/unit.h"

#include <cjson/cJSON.h>
#include <dirent.h>
#include <ftw.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/error.h"
#include "core/mapped_file.h"
#include "core/rng.h"
#include "formats/gguf.h"
#include "formats/gguf_writer.h"
#include "formats/hf_config.h"
#include "formats/llama2c.h"
#include "formats/safetensors.h"
#include "formats/safetensors_writer.h"

/* ---------------------------------------------------------------- helpers */

/* ck_assert reports every passing check to the Check parent; loops use this instead. */
#define EXPECT(cond, ...)                       \
    do {                                        \
        if (!(cond)) ck_abort_msg(__VA_ARGS__); \
    } while (0)

static char scratch_root[64];

static void scratch_setup(void) {
    snprintf(scratch_root, sizeof scratch_root, "/tmp/mn-test-formats-XXXXXX");
    if (!mkdtemp(scratch_root)) abort();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void scratch_teardown(void) { nftw(scratch_root, rm_entry, 16, FTW_DEPTH | FTW_PHYS); }

static void make_dir(char *out, size_t cap) {
    snprintf(out, cap, "%s/t-XXXXXX", scratch_root);
    ck_assert_ptr_nonnull(mkdtemp(out));
}

static void path_in(char *out, size_t cap, const char *dir, const char *name) {
    ck_assert_int_lt(snprintf(out, cap, "%s/%s", dir, name), (int)cap);
}

static void spit(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    if (n) ck_assert_int_eq(fwrite(data, 1, n, f), n);
    ck_assert_int_eq(fclose(f), 0);
}

static void spit_text(const char *path, const char *text) { spit(path, text, strlen(text)); }

static int dir_entries(const char *dir) {
    DIR *d = opendir(dir);
    ck_assert_ptr_nonnull(d);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return n;
}

/* The last call failed: one line, naming `path`, mentioning `needle` (if given). */
static void expect_error(const char *path, const char *needle) {
    ck_assert_msg(mn_has_error(), "no error recorded");
    const char *e = mn_last_error();
    ck_assert_msg(strstr(e, path) != NULL, "error does not name %s: %s", path, e);
    ck_assert_msg(!strchr(e, '\n'), "error is not one line: %s", e);
    if (needle) ck_assert_msg(strstr(e, needle) != NULL, "error lacks \"%s\": %s", needle, e);
    mn_clear_error();
}

/* A growable byte buffer for hand-made files. */
typedef struct {
    uint8_t *p;
    size_t n, cap;
} bytes;

static void put(bytes *b, const void *data, size_t n) {
    if (b->n + n > b->cap) {
        b->cap = (b->n + n) * 2 + 64;
        b->p = realloc(b->p, b->cap);
        ck_assert_ptr_nonnull(b->p);
    }
    if (n) memcpy(b->p + b->n, data, n);
    b->n += n;
}
static void put_u8(bytes *b, uint8_t v) { put(b, &v, 1); }
static void put_u16(bytes *b, uint16_t v) { put(b, &v, 2); }
static void put_u32(bytes *b, uint32_t v) { put(b, &v, 4); }
static void put_u64(bytes *b, uint64_t v) { put(b, &v, 8); }
static void put_f32(bytes *b, float v) { put(b, &v, 4); }
static void put_f64(bytes *b, double v) { put(b, &v, 8); }
static void put_str(bytes *b, const char *s) {
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void pad_to(bytes *b, size_t a) {
    while (b->n % a) put_u8(b, 0);
}
static void bytes_free(bytes *b) {
    free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---------------------------------------------------------------- GGUF: hand-made files */

static void gguf_header(bytes *b, uint32_t version, uint64_t n_tensors, uint64_t n_kv) {
    put(b, "GGUF", 4);
    put_u32(b, version);
    put_u64(b, n_tensors);
    put_u64(b, n_kv);
}

static void kv_u32(bytes *b, const char *key, uint32_t v) {
    put_str(b, key);
    put_u32(b, MN_GGUF_U32);
    put_u32(b, v);
}

static void kv_str(bytes *b, const char *key, const char *v) {
    put_str(b, key);
    put_u32(b, MN_GGUF_STRING);
    put_str(b, v);
}

static void tensor_info(bytes *b, const char *name, uint32_t n_dims, const uint64_t *ne, uint32_t type,
                        uint64_t offset) {
    put_str(b, name);
    put_u32(b, n_dims);
    for (uint32_t i = 0; i < n_dims; i++) put_u64(b, ne[i]);
    put_u32(b, type);
    put_u64(b, offset);
}

/* Writes b to dir/name and expects mn_gguf_open to fail naming it. */
static void expect_gguf_rejects(const char *dir, const char *name, bytes *b, const char *needle) {
    char path[512];
    path_in(path, sizeof path, dir, name);
    spit(path, b->p, b->n);
    mn_gguf g;
    mn_clear_error();
    ck_assert_msg(mn_gguf_open(path, &g) == -1, "%s was accepted", name);
    expect_error(path, needle);
    ck_assert_ptr_null(g.kv);
    ck_assert_ptr_null(g.tensors);
    ck_assert_ptr_null(g.file.data);
    bytes_free(b);
}

/* One tensor "w" of the given shape/type at `offset`, data section of `data_bytes` zeros. */
static void one_tensor_file(bytes *b, uint32_t n_dims, const uint64_t *ne, uint32_t type, uint64_t offset,
                            size_t data_bytes) {
    gguf_header(b, 3, 1, 1);
    kv_str(b, "general.architecture", "llama");
    tensor_info(b, "w", n_dims, ne, type, offset);
    pad_to(b, 32);
    for (size_t i = 0; i < data_bytes; i++) put_u8(b, (uint8_t)i);
}

START_TEST(gguf_every_metadata_type) {
    char dir[256], path[512], copy[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "types.gguf");
    bytes b = {0};
    gguf_header(&b, 3, 0, 26);
    put_str(&b, "u8"), put_u32(&b, MN_GGUF_U8), put_u8(&b, 200);
    put_str(&b, "i8"), put_u32(&b, MN_GGUF_I8), put_u8(&b, (uint8_t)-100);
    put_str(&b, "u16"), put_u32(&b, MN_GGUF_U16), put_u16(&b, 60000);
    put_str(&b, "i16"), put_u32(&b, MN_GGUF_I16), put_u16(&b, (uint16_t)-30000);
    put_str(&b, "u32"), put_u32(&b, MN_GGUF_U32), put_u32(&b, 4000000000u);
    put_str(&b, "i32"), put_u32(&b, MN_GGUF_I32), put_u32(&b, (uint32_t)-2000000000);
    put_str(&b, "f32"), put_u32(&b, MN_GGUF_F32), put_f32(&b, -1.5f);
    put_str(&b, "bool"), put_u32(&b, MN_GGUF_BOOL), put_u8(&b, 1);
    put_str(&b, "str"), put_u32(&b, MN_GGUF_STRING), put_str(&b, "h\xc3\xa9llo");
    put_str(&b, "u64"), put_u32(&b, MN_GGUF_U64), put_u64(&b, (UINT64_C(1) << 63) + 7);
    put_str(&b, "i64"), put_u32(&b, MN_GGUF_I64), put_u64(&b, (uint64_t)INT64_MIN);
    put_str(&b, "f64"), put_u32(&b, MN_GGUF_F64), put_f64(&b, 0.1);
    put_str(&b, "empty_str"), put_u32(&b, MN_GGUF_STRING), put_str(&b, "");
    /* arrays of every element type */
    put_str(&b, "a.u8"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_U8), put_u64(&b, 3);
    put_u8(&b, 1), put_u8(&b, 2), put_u8(&b, 255);
    put_str(&b, "a.i8"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_I8), put_u64(&b, 2);
    put_u8(&b, (uint8_t)-1), put_u8(&b, 127);
    put_str(&b, "a.u16"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_U16), put_u64(&b, 2);
    put_u16(&b, 65535), put_u16(&b, 7);
    put_str(&b, "a.i16"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_I16), put_u64(&b, 1);
    put_u16(&b, (uint16_t)-7);
    put_str(&b, "a.u32"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_U32), put_u64(&b, 2);
    put_u32(&b, 0), put_u32(&b, 4294967295u);
    put_str(&b, "a.i32"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_I32), put_u64(&b, 3);
    put_u32(&b, (uint32_t)INT32_MIN), put_u32(&b, 0), put_u32(&b, 5);
    put_str(&b, "a.f32"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_F32), put_u64(&b, 2);
    put_f32(&b, 0.25f), put_f32(&b, -1e30f);
    put_str(&b, "a.bool"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_BOOL), put_u64(&b, 3);
    put_u8(&b, 1), put_u8(&b, 0), put_u8(&b, 1);
    put_str(&b, "a.str"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_STRING), put_u64(&b, 3);
    put_str(&b, "<s>"), put_str(&b, ""), put_str(&b, "\xe2\x96\x81the");
    put_str(&b, "a.u64"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_U64), put_u64(&b, 1);
    put_u64(&b, UINT64_MAX);
    put_str(&b, "a.i64"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_I64), put_u64(&b, 1);
    put_u64(&b, (uint64_t)-5);
    put_str(&b, "a.f64"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_F64), put_u64(&b, 2);
    put_f64(&b, 1e300), put_f64(&b, -0.5);
    put_str(&b, "a.empty"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_F32), put_u64(&b, 0);
    spit(path, b.p, b.n);
    bytes_free(&b);

    for (int pass = 0; pass < 2; pass++) {
        const char *p = pass == 0 ? path : copy;
        mn_gguf g;
        mn_clear_error();
        ck_assert_msg(mn_gguf_open(p, &g) == 0, "%s", mn_last_error());
        ck_assert_uint_eq(g.version, 3);
        ck_assert_uint_eq(g.n_kv, 26);
        ck_assert_uint_eq(g.n_tensors, 0);
        int64_t i;
        double d;
        bool flag;
        ck_assert_int_eq(mn_gguf_get_int(&g, "u8", &i), 0); ck_assert_int_eq(i, 200);
        ck_assert_int_eq(mn_gguf_get_int(&g, "i8", &i), 0); ck_assert_int_eq(i, -100);
        ck_assert_int_eq(mn_gguf_get_int(&g, "u16", &i), 0); ck_assert_int_eq(i, 60000);
        ck_assert_int_eq(mn_gguf_get_int(&g, "i16", &i), 0); ck_assert_int_eq(i, -30000);
        ck_assert_int_eq(mn_gguf_get_int(&g, "u32", &i), 0); ck_assert_int_eq(i, 4000000000);
        ck_assert_int_eq(mn_gguf_get_int(&g, "i32", &i), 0); ck_assert_int_eq(i, -2000000000);
        ck_assert_int_eq(mn_gguf_get_int(&g, "i64", &i), 0); ck_assert(i == INT64_MIN);
        ck_assert_int_eq(mn_gguf_get_float(&g, "f32", &d), 0); ck_assert(d == -1.5);
        ck_assert_int_eq(mn_gguf_get_float(&g, "f64", &d), 0); ck_assert(d == 0.1);
        ck_assert_int_eq(mn_gguf_get_float(&g, "u16", &d), 0); ck_assert(d == 60000);
        ck_assert_int_eq(mn_gguf_get_float(&g, "u64", &d), 0); ck_assert(d == 9223372036854775815.0);
        ck_assert_int_eq(mn_gguf_get_bool(&g, "bool", &flag), 0); ck_assert(flag);
        char *s = mn_gguf_get_string(&g, "str");
        ck_assert_str_eq(s, "h\xc3\xa9llo");
        free(s);
        s = mn_gguf_get_string(&g, "empty_str");
        ck_assert_str_eq(s, "");
        free(s);
        ck_assert(!mn_has_error());

        /* wrong types and out-of-range values record an error naming file and key */
        ck_assert_int_eq(mn_gguf_get_int(&g, "u64", &i), -1);
        expect_error(p, "u64");
        ck_assert_int_eq(mn_gguf_get_int(&g, "f32", &i), -1);
        expect_error(p, "f32");
        ck_assert_int_eq(mn_gguf_get_int(&g, "str", &i), -1);
        expect_error(p, "str");
        ck_assert_int_eq(mn_gguf_get_float(&g, "a.f32", &d), -1);
        expect_error(p, "a.f32");
        ck_assert_int_eq(mn_gguf_get_bool(&g, "u8", &flag), -1);
        expect_error(p, "u8");
        ck_assert_ptr_null(mn_gguf_get_string(&g, "u32"));
        expect_error(p, "u32");
        /* missing keys: -1 / NULL and no error */
        ck_assert_int_eq(mn_gguf_get_int(&g, "nope", &i), -1);
        ck_assert_int_eq(mn_gguf_get_float(&g, "nope", &d), -1);
        ck_assert_int_eq(mn_gguf_get_bool(&g, "nope", &flag), -1);
        ck_assert_ptr_null(mn_gguf_get_string(&g, "nope"));
        ck_assert_ptr_null(mn_gguf_find(&g, "nope"));
        ck_assert(!mn_has_error());

        const mn_gguf_kv *kv = mn_gguf_find(&g, "a.u8");
        ck_assert_int_eq(kv->type, MN_GGUF_ARRAY);
        ck_assert_int_eq(kv->arr_type, MN_GGUF_U8);
        ck_assert_uint_eq(kv->arr_len, 3);
        ck_assert(mn_gguf_array_number(kv, 2) == 255);
        kv = mn_gguf_find(&g, "a.i8");
        ck_assert(mn_gguf_array_number(kv, 0) == -1 && mn_gguf_array_number(kv, 1) == 127);
        kv = mn_gguf_find(&g, "a.u16");
        ck_assert(mn_gguf_array_number(kv, 0) == 65535);
        kv = mn_gguf_find(&g, "a.i16");
        ck_assert(mn_gguf_array_number(kv, 0) == -7);
        kv = mn_gguf_find(&g, "a.u32");
        ck_assert(mn_gguf_array_number(kv, 1) == 4294967295.0);
        kv = mn_gguf_find(&g, "a.i32");
        ck_assert(mn_gguf_array_number(kv, 0) == INT32_MIN && mn_gguf_array_number(kv, 2) == 5);
        kv = mn_gguf_find(&g, "a.f32");
        ck_assert(mn_gguf_array_number(kv, 0) == 0.25 && mn_gguf_array_number(kv, 1) == (double)-1e30f);
        kv = mn_gguf_find(&g, "a.bool");
        ck_assert(mn_gguf_array_number(kv, 0) == 1 && mn_gguf_array_number(kv, 1) == 0);
        kv = mn_gguf_find(&g, "a.u64");
        ck_assert(mn_gguf_array_number(kv, 0) == 18446744073709551615.0);
        kv = mn_gguf_find(&g, "a.i64");
        ck_assert(mn_gguf_array_number(kv, 0) == -5);
        kv = mn_gguf_find(&g, "a.f64");
        ck_assert(mn_gguf_array_number(kv, 0) == 1e300 && mn_gguf_array_number(kv, 1) == -0.5);
        kv = mn_gguf_find(&g, "a.empty");
        ck_assert_uint_eq(kv->arr_len, 0);
        kv = mn_gguf_find(&g, "a.str");
        ck_assert_int_eq(kv->arr_type, MN_GGUF_STRING);
        ck_assert_uint_eq(kv->arr_len, 3);
        ck_assert(kv->strings[0].len == 3 && !memcmp(kv->strings[0].ptr, "<s>", 3));
        ck_assert_uint_eq(kv->strings[1].len, 0);
        ck_assert(kv->strings[2].len == 6 && !memcmp(kv->strings[2].ptr, "\xe2\x96\x81the", 6));

        if (pass == 0) {
            /* copy every pair into a writer and write it out again: the copy is identical */
            mn_gguf_writer *w = mn_gguf_writer_new();
            for (uint64_t k = 0; k < g.n_kv; k++) mn_gguf_copy_kv(w, &g.kv[k]);
            path_in(copy, sizeof copy, dir, "copy.gguf");
            ck_assert_int_eq(mn_gguf_begin(w, copy), 0);
            ck_assert_int_eq(mn_gguf_finish(w), 0);
            mn_gguf_writer_free(w);
            mn_mapped_file a, c;
            ck_assert_int_eq(mn_map_file(path, &a), 0);
            ck_assert_int_eq(mn_map_file(copy, &c), 0);
            ck_assert_uint_eq(c.size, (a.size + 31) / 32 * 32); /* padded to the alignment */
            ck_assert_int_eq(memcmp(a.data, c.data, a.size), 0);
            mn_unmap_file(&a);
            mn_unmap_file(&c);
        }
        mn_gguf_close(&g);
        ck_assert_ptr_null(g.kv);
    }
}
END_TEST

/* ---------------------------------------------------------------- GGUF: writer round trip */

typedef struct {
    const char *name;
    mn_dtype type;
    int n_dims;
    int64_t ne[4];
    size_t nbytes;
    uint8_t *data;
} test_tensor;

static test_tensor tensors_spec[] = {
    {"token_embd.weight", MN_F32, 2, {5, 3, 1, 1}, 5 * 3 * 4, NULL},
    {"vec", MN_F32, 1, {7, 1, 1, 1}, 7 * 4, NULL},
    {"blk.0.attn_q.weight", MN_F16, 3, {4, 3, 2, 1}, 4 * 3 * 2 * 2, NULL},
    {"blk.0.ffn_up.weight", MN_Q8_0, 2, {64, 3, 1, 1}, 2 * 34 * 3, NULL},
    {"four_d", MN_Q8_0, 4, {32, 1, 2, 2}, 34 * 4, NULL},
    {"bf", MN_BF16, 1, {3, 1, 1, 1}, 6, NULL},
};
enum { N_SPEC = sizeof tensors_spec / sizeof tensors_spec[0] };

static void fill_spec_data(void) {
    mn_rng r;
    mn_rng_seed(&r, 99);
    for (int i = 0; i < N_SPEC; i++) {
        free(tensors_spec[i].data);
        tensors_spec[i].data = malloc(tensors_spec[i].nbytes);
        for (size_t k = 0; k < tensors_spec[i].nbytes; k++) tensors_spec[i].data[k] = (uint8_t)mn_rng_next(&r);
    }
}

static void free_spec_data(void) {
    for (int i = 0; i < N_SPEC; i++) {
        free(tensors_spec[i].data);
        tensors_spec[i].data = NULL;
    }
}

static const char *const vocab[] = {"<unk>", "<s>", "</s>", "", "\xe2\x96\x81hello", "a b"};
static const float scores[] = {0.0f, -1.5f, 3.25f, -1e-20f, 1e30f, -0.0f};
static const int32_t types[] = {2, 3, 3, 1, 1, INT32_MIN};

/* Writes a GGUF with metadata of every settable kind and the spec tensors. */
static void write_spec_gguf(const char *path, uint32_t alignment) {
    mn_gguf_writer *w = mn_gguf_writer_new();
    ck_assert_ptr_nonnull(w);
    mn_gguf_set_str(w, "general.architecture", "llama");
    if (alignment) mn_gguf_set_u32(w, "general.alignment", alignment);
    mn_gguf_set_u32(w, "llama.block_count", 0xdeadbeefu);
    mn_gguf_set_i32(w, "test.i32", -123456);
    mn_gguf_set_u64(w, "test.u64", (UINT64_C(1) << 40) + 5);
    mn_gguf_set_f32(w, "test.f32", 3.25f);
    mn_gguf_set_bool(w, "test.true", true);
    mn_gguf_set_bool(w, "test.false", false);
    mn_gguf_set_str(w, "test.empty", "");
    mn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", vocab, 6);
    mn_gguf_set_arr_f32(w, "tokenizer.ggml.scores", scores, 6);
    mn_gguf_set_arr_i32(w, "tokenizer.ggml.token_type", types, 6);
    mn_gguf_set_arr_str(w, "test.no_strings", NULL, 0);
    mn_gguf_set_arr_f32(w, "test.no_floats", NULL, 0);
    for (int i = 0; i < N_SPEC; i++) {
        test_tensor *t = &tensors_spec[i];
        ck_assert_int_eq(mn_gguf_add_tensor(w, t->name, t->type, t->n_dims, t->ne), i);
        ck_assert_uint_eq(mn_gguf_tensor_bytes(w, i), t->nbytes);
    }
    ck_assert_msg(mn_gguf_begin(w, path) == 0, "%s", mn_last_error());
    for (int i = 0; i < N_SPEC; i++) {
        test_tensor *t = &tensors_spec[i];
        /* in three pieces: a byte, most of it, the rest */
        ck_assert_int_eq(mn_gguf_write_tensor_data(w, t->data, 1), 0);
        ck_assert_int_eq(mn_gguf_write_tensor_data(w, t->data + 1, t->nbytes / 2), 0);
        ck_assert_int_eq(mn_gguf_write_tensor_data(w, t->data + 1 + t->nbytes / 2, t->nbytes - 1 - t->nbytes / 2), 0);
    }
    ck_assert_msg(mn_gguf_finish(w) == 0, "%s", mn_last_error());
    mn_gguf_writer_free(w);
}

static void check_spec_gguf(const char *path, uint64_t alignment) {
    mn_gguf g;
    mn_clear_error();
    ck_assert_msg(mn_gguf_open(path, &g) == 0, "%s", mn_last_error());
    ck_assert_uint_eq(g.version, 3);
    ck_assert_uint_eq(g.alignment, alignment);
    ck_assert_uint_eq(g.n_kv, 13 + (alignment != 32));
    const char *order[] = {"general.architecture", "general.alignment", "llama.block_count", "test.i32",
                           "test.u64", "test.f32", "test.true", "test.false", "test.empty",
                           "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                           "test.no_strings", "test.no_floats"};
    for (uint64_t i = 0, k = 0; i < g.n_kv; i++, k++) {
        if (k == 1 && alignment == 32) k++;
        ck_assert_str_eq(g.kv[i].key, order[k]);
    }
    int64_t v;
    double d;
    bool flag;
    char *s = mn_gguf_get_string(&g, "general.architecture");
    ck_assert_str_eq(s, "llama");
    free(s);
    ck_assert_int_eq(mn_gguf_find(&g, "llama.block_count")->type, MN_GGUF_U32);
    ck_assert_int_eq(mn_gguf_get_int(&g, "llama.block_count", &v), 0); ck_assert_int_eq(v, 0xdeadbeef);
    ck_assert_int_eq(mn_gguf_find(&g, "test.i32")->type, MN_GGUF_I32);
    ck_assert_int_eq(mn_gguf_get_int(&g, "test.i32", &v), 0); ck_assert_int_eq(v, -123456);
    ck_assert_int_eq(mn_gguf_find(&g, "test.u64")->type, MN_GGUF_U64);
    ck_assert_int_eq(mn_gguf_get_int(&g, "test.u64", &v), 0); ck_assert_int_eq(v, (INT64_C(1) << 40) + 5);
    ck_assert_int_eq(mn_gguf_find(&g, "test.f32")->type, MN_GGUF_F32);
    ck_assert_int_eq(mn_gguf_get_float(&g, "test.f32", &d), 0); ck_assert(d == 3.25);
    ck_assert_int_eq(mn_gguf_get_bool(&g, "test.true", &flag), 0); ck_assert(flag);
    ck_assert_int_eq(mn_gguf_get_bool(&g, "test.false", &flag), 0); ck_assert(!flag);
    s = mn_gguf_get_string(&g, "test.empty");
    ck_assert_str_eq(s, "");
    free(s);
    const mn_gguf_kv *kv = mn_gguf_find(&g, "tokenizer.ggml.tokens");
    ck_assert(kv->type == MN_GGUF_ARRAY && kv->arr_type == MN_GGUF_STRING && kv->arr_len == 6);
    for (int i = 0; i < 6; i++)
        ck_assert(kv->strings[i].len == strlen(vocab[i]) && !memcmp(kv->strings[i].ptr, vocab[i], kv->strings[i].len));
    kv = mn_gguf_find(&g, "tokenizer.ggml.scores");
    ck_assert(kv->type == MN_GGUF_ARRAY && kv->arr_type == MN_GGUF_F32 && kv->arr_len == 6);
    ck_assert_int_eq(memcmp(kv->value, scores, sizeof scores), 0);
    kv = mn_gguf_find(&g, "tokenizer.ggml.token_type");
    ck_assert(kv->type == MN_GGUF_ARRAY && kv->arr_type == MN_GGUF_I32 && kv->arr_len == 6);
    ck_assert_int_eq(memcmp(kv->value, types, sizeof types), 0);
    kv = mn_gguf_find(&g, "test.no_strings");
    ck_assert(kv->arr_type == MN_GGUF_STRING && kv->arr_len == 0);
    kv = mn_gguf_find(&g, "test.no_floats");
    ck_assert(kv->arr_type == MN_GGUF_F32 && kv->arr_len == 0);

    ck_assert_uint_eq(g.n_tensors, N_SPEC);
    ck_assert_uint_eq(g.data_offset % alignment, 0);
    const uint8_t *base = g.file.data;
    uint64_t prev_end = 0;
    for (int i = 0; i < N_SPEC; i++) {
        const test_tensor *t = &tensors_spec[i];
        const mn_tensor *r = &g.tensors[i];
        ck_assert_str_eq(r->name, t->name);
        ck_assert_ptr_eq(mn_gguf_tensor(&g, t->name), r);
        ck_assert_int_eq(r->type, t->type);
        ck_assert_int_eq(r->n_dims, t->n_dims);
        for (int k = 0; k < 4; k++) ck_assert_int_eq(r->ne[k], t->ne[k]);
        ck_assert_uint_eq(r->nbytes, t->nbytes);
        uint64_t offset = (uint64_t)((const uint8_t *)r->data - base) - g.data_offset;
        ck_assert_uint_eq(offset % alignment, 0);
        ck_assert_uint_ge(offset, prev_end);
        ck_assert_uint_lt(offset, prev_end + alignment); /* packed: only padding in between */
        prev_end = offset + r->nbytes;
        ck_assert_int_eq(memcmp(r->data, t->data, t->nbytes), 0);
    }
    /* the last tensor is padded to the alignment too (ggml's whole-file readers expect it) */
    ck_assert_uint_eq(g.file.size, (g.data_offset + prev_end + alignment - 1) / alignment * alignment);
    for (uint64_t i = g.data_offset + prev_end; i < g.file.size; i++) ck_assert_int_eq(base[i], 0);
    ck_assert_ptr_null(mn_gguf_tensor(&g, "missing"));
    mn_gguf_close(&g);
}

START_TEST(gguf_writer_round_trip) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    fill_spec_data();
    path_in(path, sizeof path, dir, "spec.gguf");
    write_spec_gguf(path, 0);
    check_spec_gguf(path, 32);
    ck_assert(mn_gguf_sniff(path));
    ck_assert_int_eq(dir_entries(dir), 1); /* no temporaries left */
    /* a non-default alignment set in the metadata is the one the data follows */
    path_in(path, sizeof path, dir, "spec64.gguf");
    write_spec_gguf(path, 64);
    check_spec_gguf(path, 64);
    path_in(path, sizeof path, dir, "spec256.gguf");
    write_spec_gguf(path, 256);
    check_spec_gguf(path, 256);
    free_spec_data();
    ck_assert(!mn_gguf_sniff(dir));
    path_in(path, sizeof path, dir, "missing.gguf");
    ck_assert(!mn_gguf_sniff(path));
    ck_assert(!mn_has_error());
}
END_TEST

START_TEST(gguf_writer_replace_and_remove_keys) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "keys.gguf");
    mn_gguf_writer *w = mn_gguf_writer_new();
    mn_gguf_set_u32(w, "a", 1);
    mn_gguf_set_str(w, "b", "bee");
    const char *one[] = {"x"}, *two[] = {"y", "z"};
    mn_gguf_set_arr_str(w, "c", one, 1);
    mn_gguf_set_u32(w, "d", 4);
    mn_gguf_set_u32(w, "a", 2);           /* same type */
    mn_gguf_set_str(w, "d", "dee");       /* another type */
    mn_gguf_set_arr_str(w, "c", two, 2);  /* string array over string array */
    mn_gguf_set_arr_f32(w, "b", (const float[]){1, 2}, 2);
    mn_gguf_set_u32(w, "gone", 9);
    mn_gguf_remove_key(w, "gone");
    mn_gguf_remove_key(w, "never-set");
    mn_gguf_set_str(w, "e", "last");
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    ck_assert_int_eq(mn_gguf_finish(w), 0);
    mn_gguf_writer_free(w);

    mn_gguf g;
    ck_assert_int_eq(mn_gguf_open(path, &g), 0);
    ck_assert_uint_eq(g.n_kv, 5);
    const char *order[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; i++) ck_assert_str_eq(g.kv[i].key, order[i]);
    int64_t v;
    ck_assert_int_eq(mn_gguf_get_int(&g, "a", &v), 0);
    ck_assert_int_eq(v, 2);
    ck_assert(g.kv[1].type == MN_GGUF_ARRAY && g.kv[1].arr_type == MN_GGUF_F32 && g.kv[1].arr_len == 2);
    ck_assert(mn_gguf_array_number(&g.kv[1], 1) == 2);
    ck_assert(g.kv[2].arr_len == 2 && g.kv[2].strings[1].len == 1 && g.kv[2].strings[1].ptr[0] == 'z');
    char *s = mn_gguf_get_string(&g, "d");
    ck_assert_str_eq(s, "dee");
    free(s);
    ck_assert_ptr_null(mn_gguf_find(&g, "gone"));
    mn_gguf_close(&g);
}
END_TEST

START_TEST(gguf_writer_misuse) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "bad.gguf");
    int64_t ne[2] = {33, 2};

    /* a row that is not a whole number of blocks: begin fails, no file */
    mn_gguf_writer *w = mn_gguf_writer_new();
    mn_gguf_add_tensor(w, "odd", MN_Q8_0, 2, ne);
    mn_clear_error();
    ck_assert_int_eq(mn_gguf_begin(w, path), -1);
    expect_error(path, "odd");
    mn_gguf_writer_free(w);
    ck_assert_int_eq(dir_entries(dir), 0);

    /* too many bytes for a tensor, then not all tensors: errors, and free leaves nothing */
    w = mn_gguf_writer_new();
    ne[0] = 4;
    mn_gguf_add_tensor(w, "t0", MN_F32, 2, ne);
    mn_gguf_add_tensor(w, "t1", MN_F32, 2, ne);
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    static const float z[16];
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, z, 33), -1);
    expect_error(path, "t0");
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, z, 32), 0);
    ck_assert_int_eq(mn_gguf_finish(w), -1);
    expect_error(path, "1 of 2");
    mn_gguf_writer_free(w);
    ck_assert_int_eq(dir_entries(dir), 0);

    /* more data than tensors */
    w = mn_gguf_writer_new();
    mn_gguf_add_tensor(w, "t0", MN_F32, 2, ne);
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, z, 32), 0);
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, z, 4), -1);
    expect_error(path, NULL);
    ck_assert_int_eq(mn_gguf_finish(w), 0); /* the declared data is complete */
    mn_gguf_writer_free(w);
    ck_assert_int_eq(dir_entries(dir), 1);

    /* declarations a reader would reject are refused at once, and the writer stays usable */
    w = mn_gguf_writer_new();
    const int64_t good[2] = {4, 2}, zero[2] = {4, 0}, neg[2] = {4, -1};
    mn_clear_error();
    ck_assert_int_eq(mn_gguf_add_tensor(w, "a", MN_F32, 2, good), 0);
    ck_assert_int_eq(mn_gguf_add_tensor(w, "a", MN_F32, 2, good), -1);
    expect_error("a", "twice");
    ck_assert_int_eq(mn_gguf_add_tensor(w, "z", MN_F32, 0, good), -1);
    expect_error("z", NULL);
    ck_assert_int_eq(mn_gguf_add_tensor(w, "z", MN_F32, 5, good), -1);
    expect_error("z", NULL);
    ck_assert_int_eq(mn_gguf_add_tensor(w, "z", MN_F32, 2, zero), -1);
    expect_error("z", NULL);
    ck_assert_int_eq(mn_gguf_add_tensor(w, "z", MN_F32, 2, neg), -1);
    expect_error("z", NULL);
    ck_assert_int_eq(mn_gguf_add_tensor(w, "", MN_F32, 2, good), -1);
    mn_clear_error();
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    ck_assert_int_eq(mn_gguf_add_tensor(w, longname, MN_F32, 2, good), -1);
    mn_clear_error();
    longname[MN_MAX_NAME - 1] = 0; /* the longest name that fits */
    ck_assert_int_eq(mn_gguf_add_tensor(w, longname, MN_F32, 2, good), 1);
    path_in(path, sizeof path, dir, "checked.gguf");
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, z, 32), 0);
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, z, 32), 0);
    ck_assert_int_eq(mn_gguf_finish(w), 0);
    mn_gguf_writer_free(w);
    mn_gguf g;
    ck_assert_int_eq(mn_gguf_open(path, &g), 0);
    ck_assert_uint_eq(g.n_tensors, 2);
    ck_assert_str_eq(g.tensors[1].name, longname);
    mn_gguf_close(&g);
    ck_assert_int_eq(dir_entries(dir), 2);

    /* an impossible alignment in the metadata is refused rather than written */
    w = mn_gguf_writer_new();
    mn_gguf_set_u32(w, "general.alignment", 48);
    path_in(path, sizeof path, dir, "align48.gguf");
    ck_assert_int_eq(mn_gguf_begin(w, path), -1);
    expect_error(path, "alignment");
    mn_gguf_writer_free(w);
    w = mn_gguf_writer_new(); /* llama.cpp aborts on an alignment of any type but u32 */
    mn_gguf_set_u64(w, "general.alignment", 64);
    ck_assert_int_eq(mn_gguf_begin(w, path), -1);
    expect_error(path, "alignment");
    mn_gguf_writer_free(w);
    ck_assert_int_eq(dir_entries(dir), 2);
}
END_TEST

/* Compares every kv of two GGUF files: same order, keys, types, values. */
static void compare_all_kv(const mn_gguf *a, const mn_gguf *b) {
    ck_assert_uint_eq(a->n_kv, b->n_kv);
    for (uint64_t i = 0; i < a->n_kv; i++) {
        const mn_gguf_kv *x = &a->kv[i], *y = &b->kv[i];
        ck_assert_str_eq(x->key, y->key);
        ck_assert_int_eq(x->type, y->type);
        if (x->type == MN_GGUF_STRING) {
            ck_assert_uint_eq(x->str.len, y->str.len);
            ck_assert_int_eq(memcmp(x->str.ptr, y->str.ptr, x->str.len), 0);
        } else if (x->type == MN_GGUF_ARRAY) {
            ck_assert_int_eq(x->arr_type, y->arr_type);
            ck_assert_uint_eq(x->arr_len, y->arr_len);
            if (x->arr_type == MN_GGUF_STRING) {
                for (uint64_t k = 0; k < x->arr_len; k++)
                    EXPECT(x->strings[k].len == y->strings[k].len &&
                               !memcmp(x->strings[k].ptr, y->strings[k].ptr, x->strings[k].len),
                           "%s[%llu] differs", x->key, (unsigned long long)k);
            } else {
                ck_assert_int_eq(memcmp(x->value, y->value, x->arr_len * (uint64_t)mn_gguf_type_size(x->arr_type)), 0);
            }
        } else {
            ck_assert_int_eq(memcmp(x->value, y->value, (size_t)mn_gguf_type_size(x->type)), 0);
        }
    }
}

START_TEST(gguf_copy_kv_real_vocab) {
    char dir[256], path[512], src[512];
    make_dir(dir, sizeof dir);
    snprintf(src, sizeof src, "%s/ggml-vocab/ggml-vocab-llama-spm.gguf", mn_test_data_dir());
    mn_gguf a, b;
    mn_clear_error();
    ck_assert_msg(mn_gguf_open(src, &a) == 0, "%s", mn_last_error());
    ck_assert_uint_eq(a.n_kv, 22);
    const mn_gguf_kv *tokens = mn_gguf_find(&a, "tokenizer.ggml.tokens");
    ck_assert_uint_eq(tokens->arr_len, 32000);
    ck_assert(tokens->strings[1].len == 3 && !memcmp(tokens->strings[1].ptr, "<s>", 3));
    int64_t v;
    ck_assert_int_eq(mn_gguf_get_int(&a, "tokenizer.ggml.bos_token_id", &v), 0);
    ck_assert_int_eq(v, 1);
    ck_assert_int_eq(mn_gguf_get_int(&a, "llama.vocab_size", &v), 0);
    ck_assert_int_eq(v, 32000);

    mn_gguf_writer *w = mn_gguf_writer_new();
    for (uint64_t i = 0; i < a.n_kv; i++) mn_gguf_copy_kv(w, &a.kv[i]);
    path_in(path, sizeof path, dir, "copy.gguf");
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    ck_assert_int_eq(mn_gguf_finish(w), 0);
    mn_gguf_writer_free(w);
    ck_assert_msg(mn_gguf_open(path, &b) == 0, "%s", mn_last_error());
    compare_all_kv(&a, &b);
    /* byte for byte the same header (the source has no tensors and no final padding) */
    ck_assert_uint_ge(b.file.size, a.file.size);
    ck_assert_int_eq(memcmp(a.file.data, b.file.data, a.file.size), 0);
    mn_gguf_close(&b);

    /* copying over keys that are already set replaces them in place */
    w = mn_gguf_writer_new();
    mn_gguf_set_str(w, "general.architecture", "placeholder");
    mn_gguf_set_u32(w, "tokenizer.ggml.tokens", 7);
    for (uint64_t i = 0; i < a.n_kv; i++) mn_gguf_copy_kv(w, &a.kv[i]);
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    ck_assert_int_eq(mn_gguf_finish(w), 0);
    mn_gguf_writer_free(w);
    ck_assert_int_eq(mn_gguf_open(path, &b), 0);
    ck_assert_uint_eq(b.n_kv, a.n_kv);
    ck_assert_str_eq(b.kv[0].key, "general.architecture");
    ck_assert_str_eq(b.kv[1].key, "tokenizer.ggml.tokens");
    ck_assert_ptr_nonnull(mn_gguf_find(&b, "tokenizer.ggml.tokens")->strings);
    char *arch = mn_gguf_get_string(&b, "general.architecture");
    ck_assert_str_eq(arch, "llama");
    free(arch);
    mn_gguf_close(&b);
    mn_gguf_close(&a);
}
END_TEST

/* ---------------------------------------------------------------- GGUF: corrupt files */

START_TEST(gguf_truncated_at_every_byte) {
    char dir[256], path[512], cut[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "small.gguf");
    path_in(cut, sizeof cut, dir, "cut.gguf");
    mn_gguf_writer *w = mn_gguf_writer_new();
    mn_gguf_set_str(w, "general.architecture", "llama");
    mn_gguf_set_u32(w, "llama.block_count", 2);
    mn_gguf_set_f32(w, "llama.attention.layer_norm_rms_epsilon", 1e-5f);
    mn_gguf_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    mn_gguf_set_arr_str(w, "tokenizer.ggml.tokens", vocab, 6);
    mn_gguf_set_arr_f32(w, "tokenizer.ggml.scores", scores, 6);
    int64_t ne1[2] = {3, 2}, ne2[2] = {32, 1};
    mn_gguf_add_tensor(w, "a", MN_F32, 2, ne1);
    mn_gguf_add_tensor(w, "b", MN_Q8_0, 2, ne2);
    ck_assert_int_eq(mn_gguf_begin(w, path), 0);
    static const uint8_t data[64] = {1, 2, 3};
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, data, 24), 0);
    ck_assert_int_eq(mn_gguf_write_tensor_data(w, data, 34), 0);
    ck_assert_int_eq(mn_gguf_finish(w), 0);
    mn_gguf_writer_free(w);

    mn_mapped_file m;
    ck_assert_int_eq(mn_map_file(path, &m), 0);
    mn_gguf g;
    ck_assert_int_eq(mn_gguf_open(path, &g), 0);
    size_t end = g.data_offset + 32 + 34; /* the end of the last tensor's data */
    ck_assert_uint_eq(m.size, (end + 31) / 32 * 32);
    mn_gguf_close(&g);
    for (size_t n = 0; n <= m.size; n++) {
        spit(cut, m.data, n);
        mn_clear_error();
        if (n < end) {
            EXPECT(mn_gguf_open(cut, &g) == -1, "prefix of %zu bytes accepted", n);
            EXPECT(strstr(mn_last_error(), cut) && !strchr(mn_last_error(), '\n'), "prefix %zu: %s", n,
                   mn_last_error());
            EXPECT(g.kv == NULL && g.file.data == NULL, "prefix %zu: state not cleared", n);
        } else { /* only the final padding is missing: every tensor is whole */
            EXPECT(mn_gguf_open(cut, &g) == 0, "prefix %zu: %s", n, mn_last_error());
            EXPECT(g.n_tensors == 2 && !memcmp(g.tensors[1].data, data, 34), "prefix %zu", n);
            mn_gguf_close(&g);
        }
    }
    mn_unmap_file(&m);
}
END_TEST

START_TEST(gguf_bad_headers) {
    char dir[256];
    make_dir(dir, sizeof dir);
    bytes b = {0};
    expect_gguf_rejects(dir, "empty.gguf", &b, "magic");
    put(&b, "GG", 2);
    expect_gguf_rejects(dir, "tiny.gguf", &b, "magic");
    put(&b, "GGML", 4), put_u32(&b, 3), put_u64(&b, 0), put_u64(&b, 0);
    expect_gguf_rejects(dir, "magic.gguf", &b, "magic");
    gguf_header(&b, 1, 0, 0);
    expect_gguf_rejects(dir, "v1.gguf", &b, "version 1");
    gguf_header(&b, 4, 0, 0);
    expect_gguf_rejects(dir, "v4.gguf", &b, "version 4");
    gguf_header(&b, 3, UINT64_C(1) << 60, 0);
    expect_gguf_rejects(dir, "many-tensors.gguf", &b, NULL);
    gguf_header(&b, 3, 0, UINT64_MAX);
    expect_gguf_rejects(dir, "many-kv.gguf", &b, NULL);
    gguf_header(&b, 3, 1000, 1000);
    kv_u32(&b, "a", 1);
    expect_gguf_rejects(dir, "more-than-present.gguf", &b, NULL);

    /* version 2 has the same layout and is read */
    char path[512];
    path_in(path, sizeof path, dir, "v2.gguf");
    gguf_header(&b, 2, 0, 1);
    kv_u32(&b, "a", 1);
    spit(path, b.p, b.n);
    bytes_free(&b);
    mn_gguf g;
    ck_assert_int_eq(mn_gguf_open(path, &g), 0);
    ck_assert_uint_eq(g.version, 2);
    mn_gguf_close(&g);
}
END_TEST

START_TEST(gguf_bad_metadata) {
    char dir[256];
    make_dir(dir, sizeof dir);
    bytes b = {0};

    /* key length larger than the file */
    gguf_header(&b, 3, 0, 1);
    put_u64(&b, 1000), put(&b, "abc", 3);
    expect_gguf_rejects(dir, "keylen.gguf", &b, NULL);
    /* an absurd key length */
    gguf_header(&b, 3, 0, 1);
    put_u64(&b, UINT64_MAX), put(&b, "abcdefghijklmnop", 16);
    expect_gguf_rejects(dir, "keylen-huge.gguf", &b, NULL);
    /* empty key */
    gguf_header(&b, 3, 0, 1);
    put_str(&b, ""), put_u32(&b, MN_GGUF_U32), put_u32(&b, 1);
    expect_gguf_rejects(dir, "emptykey.gguf", &b, NULL);
    /* string value longer than the file, and absurdly long */
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "s"), put_u32(&b, MN_GGUF_STRING), put_u64(&b, 500), put(&b, "short", 5);
    expect_gguf_rejects(dir, "strlen.gguf", &b, NULL);
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "s"), put_u32(&b, MN_GGUF_STRING), put_u64(&b, UINT64_C(1) << 40), put(&b, "short", 5);
    expect_gguf_rejects(dir, "strlen-huge.gguf", &b, NULL);
    /* array counts larger than the file */
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "arr"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_U32), put_u64(&b, 1000000);
    put_u32(&b, 1), put_u32(&b, 2);
    expect_gguf_rejects(dir, "arrlen.gguf", &b, "arr");
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "arr"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_U64), put_u64(&b, UINT64_MAX / 4);
    put_u64(&b, 1);
    expect_gguf_rejects(dir, "arrlen-wrap.gguf", &b, "arr");
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "tokens"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_STRING), put_u64(&b, UINT64_C(1) << 62);
    put_str(&b, "a");
    expect_gguf_rejects(dir, "strarr.gguf", &b, "tokens");
    /* a string array whose count fits the file but whose strings do not */
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "tokens"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_STRING), put_u64(&b, 3);
    put_str(&b, "a"), put_u64(&b, 100), put(&b, "bcdefgh", 7);
    expect_gguf_rejects(dir, "strarr2.gguf", &b, "tokens");
    /* unknown value type, unknown array element type, nested array */
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "weird"), put_u32(&b, 13), put_u64(&b, 0);
    expect_gguf_rejects(dir, "type13.gguf", &b, "weird");
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "weird"), put_u32(&b, 0xffffffffu), put_u64(&b, 0);
    expect_gguf_rejects(dir, "typeff.gguf", &b, "weird");
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "weird"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, 13), put_u64(&b, 1), put_u64(&b, 0);
    expect_gguf_rejects(dir, "arrtype13.gguf", &b, "weird");
    gguf_header(&b, 3, 0, 1);
    put_str(&b, "nested"), put_u32(&b, MN_GGUF_ARRAY), put_u32(&b, MN_GGUF_ARRAY), put_u64(&b, 1);
    put_u32(&b, MN_GGUF_U8), put_u64(&b, 1), put_u8(&b, 5);
    expect_gguf_rejects(dir, "nested.gguf", &b, "nested");
    /* duplicate key */
    gguf_header(&b, 3, 0, 3);
    kv_u32(&b, "llama.block_count", 1);
    kv_str(&b, "general.name", "x");
    kv_u32(&b, "llama.block_count", 2);
    expect_gguf_rejects(dir, "dupkey.gguf", &b, "llama.block_count");
    /* alignment: not a power of two, zero, not an integer */
    gguf_header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 48);
    expect_gguf_rejects(dir, "align48.gguf", &b, "alignment");
    gguf_header(&b, 3, 0, 1);
    kv_u32(&b, "general.alignment", 0);
    expect_gguf_rejects(dir, "align0.gguf", &b, "alignment");
    gguf_header(&b, 3, 0, 1);
    kv_str(&b, "general.alignment", "32");
    expect_gguf_rejects(dir, "alignstr.gguf", &b, "alignment");
}
END_TEST

START_TEST(gguf_bad_tensor_infos) {
    char dir[256];
    make_dir(dir, sizeof dir);
    bytes b = {0};
    uint64_t ne[5] = {4, 2, 1, 1, 1};

    /* n_dims 0 and 5 */
    one_tensor_file(&b, 0, ne, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "dims0.gguf", &b, "dimensions");
    one_tensor_file(&b, 5, ne, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "dims5.gguf", &b, "dimensions");
    /* a zero dimension */
    uint64_t zero[2] = {4, 0};
    one_tensor_file(&b, 2, zero, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "zerodim.gguf", &b, NULL);
    /* element counts that overflow, and byte counts that overflow */
    uint64_t big[3] = {UINT64_C(1) << 32, UINT64_C(1) << 32, 2};
    one_tensor_file(&b, 3, big, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "overflow.gguf", &b, NULL);
    uint64_t wrap[1] = {UINT64_C(1) << 62}; /* 2^64 bytes of f32: wraps to 0 */
    one_tensor_file(&b, 1, wrap, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "wrap0.gguf", &b, NULL);
    uint64_t wrap4[1] = {(UINT64_C(1) << 62) + 1}; /* wraps to 4 bytes, which the file holds */
    one_tensor_file(&b, 1, wrap4, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "wrap4.gguf", &b, NULL);
    uint64_t wrap_rows[2] = {2, UINT64_C(1) << 61}; /* 8 bytes per row, 2^61 rows */
    one_tensor_file(&b, 2, wrap_rows, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "wraprows.gguf", &b, NULL);
    uint64_t huge[1] = {UINT64_MAX};
    one_tensor_file(&b, 1, huge, MN_F32, 0, 32);
    expect_gguf_rejects(dir, "huge.gguf", &b, NULL);
    /* unknown tensor types */
    const uint32_t bad_types[] = {4, 5, 16, 29, 31, 1000, 0xffffffffu};
    for (size_t i = 0; i < sizeof bad_types / sizeof bad_types[0]; i++) {
        char name[64];
        snprintf(name, sizeof name, "type%u.gguf", bad_types[i]);
        one_tensor_file(&b, 2, ne, bad_types[i], 0, 64);
        expect_gguf_rejects(dir, name, &b, "type");
    }
    /* row length not a multiple of the block size */
    uint64_t q[2] = {48, 2};
    one_tensor_file(&b, 2, q, MN_Q8_0, 0, 256);
    expect_gguf_rejects(dir, "block.gguf", &b, "block");
    uint64_t k[1] = {128};
    one_tensor_file(&b, 1, k, MN_Q4_K, 0, 256);
    expect_gguf_rejects(dir, "block-k.gguf", &b, "block");
    /* offset not aligned */
    one_tensor_file(&b, 2, ne, MN_F32, 8, 64);
    expect_gguf_rejects(dir, "unaligned.gguf", &b, "aligned");
    /* a tensor running past the end, or starting past it */
    one_tensor_file(&b, 2, ne, MN_F32, 0, 31);
    expect_gguf_rejects(dir, "pastend.gguf", &b, "outside");
    one_tensor_file(&b, 2, ne, MN_F32, 32, 40);
    expect_gguf_rejects(dir, "pastend2.gguf", &b, "outside");
    one_tensor_file(&b, 2, ne, MN_F32, UINT64_MAX - 31, 40);
    expect_gguf_rejects(dir, "offset-wrap.gguf", &b, "outside");
    /* the data section itself missing */
    gguf_header(&b, 3, 1, 0);
    tensor_info(&b, "w", 2, ne, MN_F32, 0);
    expect_gguf_rejects(dir, "nodata.gguf", &b, NULL);
    /* tensor names: empty, too long, duplicated */
    gguf_header(&b, 3, 1, 0);
    tensor_info(&b, "", 2, ne, MN_F32, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 32; i++) put_u8(&b, 0);
    expect_gguf_rejects(dir, "noname.gguf", &b, NULL);
    char longname[200];
    memset(longname, 'n', sizeof longname - 1);
    longname[sizeof longname - 1] = 0;
    gguf_header(&b, 3, 1, 0);
    tensor_info(&b, longname, 2, ne, MN_F32, 0);
    pad_to(&b, 32);
    for (int i = 0; i < 32; i++) put_u8(&b, 0);
    expect_gguf_rejects(dir, "longname.gguf", &b, NULL);
    gguf_header(&b, 3, 3, 0);
    tensor_info(&b, "blk.0.attn_q.weight", 2, ne, MN_F32, 0);
    tensor_info(&b, "x", 2, ne, MN_F32, 32);
    tensor_info(&b, "blk.0.attn_q.weight", 2, ne, MN_F32, 64);
    pad_to(&b, 32);
    for (int i = 0; i < 96; i++) put_u8(&b, 0);
    expect_gguf_rejects(dir, "duptensor.gguf", &b, "blk.0.attn_q.weight");

    /* and the same shape, valid, is read: the cases above fail for their stated reason */
    char path[512];
    path_in(path, sizeof path, dir, "valid.gguf");
    gguf_header(&b, 3, 2, 1);
    kv_u32(&b, "general.alignment", 16);
    tensor_info(&b, "w", 2, ne, MN_F32, 0);
    tensor_info(&b, "q", 2, (const uint64_t[]){32, 1}, MN_Q8_0, 48);
    pad_to(&b, 16);
    for (int i = 0; i < 48 + 34; i++) put_u8(&b, (uint8_t)i);
    spit(path, b.p, b.n);
    bytes_free(&b);
    mn_gguf g;
    mn_clear_error();
    ck_assert_msg(mn_gguf_open(path, &g) == 0, "%s", mn_last_error());
    ck_assert_uint_eq(g.alignment, 16);
    ck_assert_uint_eq(g.data_offset % 16, 0);
    ck_assert_uint_eq(g.tensors[0].nbytes, 32);
    ck_assert_uint_eq(g.tensors[1].nbytes, 34);
    ck_assert_int_eq(((const uint8_t *)g.tensors[1].data)[0], 48);
    mn_gguf_close(&g);
}
END_TEST

/* ---------------------------------------------------------------- safetensors */

/* A safetensors file from a JSON header and `data_bytes` bytes of data. */
static void write_st_raw(const char *path, const char *json, size_t data_bytes) {
    bytes b = {0};
    put_u64(&b, strlen(json));
    put(&b, json, strlen(json));
    for (size_t i = 0; i < data_bytes; i++) put_u8(&b, (uint8_t)i);
    spit(path, b.p, b.n);
    bytes_free(&b);
}

static void expect_st_rejects(const char *dir, const char *name, const char *json, size_t data_bytes,
                              const char *needle) {
    char path[512];
    path_in(path, sizeof path, dir, name);
    write_st_raw(path, json, data_bytes);
    mn_safetensors st;
    mn_clear_error();
    ck_assert_msg(mn_safetensors_open(path, &st) == -1, "%s accepted", name);
    expect_error(path, needle);
    ck_assert_int_eq(st.n_tensors, 0);
    ck_assert_ptr_null(st.tensors);
    ck_assert_ptr_null(st.files);
}

START_TEST(safetensors_writer_round_trip) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "model.safetensors");
    struct {
        const char *name;
        mn_dtype type;
        int n_dims;
        int64_t ne[4];
        size_t nbytes;
    } spec[] = {
        {"model.embed_tokens.weight", MN_F32, 2, {5, 3}, 60},
        {"model.norm.weight", MN_F16, 1, {7}, 14},
        {"model.layers.0.mlp.up_proj.weight", MN_BF16, 3, {2, 3, 4}, 48},
        {"lm_head.weight", MN_F32, 4, {1, 2, 1, 3}, 24},
    };
    uint8_t data[4][64];
    mn_st_writer *w = mn_st_writer_new();
    for (int i = 0; i < 4; i++) {
        for (int k = 0; k < 64; k++) data[i][k] = (uint8_t)(i * 64 + k * 7);
        ck_assert_int_eq(mn_st_add_tensor(w, spec[i].name, spec[i].type, spec[i].n_dims, spec[i].ne), 0);
    }
    ck_assert_int_eq(mn_st_set_metadata(w, "format", "np"), 0);
    ck_assert_int_eq(mn_st_set_metadata(w, "minnow.method", "prune"), 0);
    ck_assert_int_eq(mn_st_set_metadata(w, "format", "pt"), 0); /* replaces */
    /* declarations a reader would reject */
    mn_clear_error();
    ck_assert_int_eq(mn_st_add_tensor(w, spec[0].name, MN_F32, 1, (const int64_t[]){2}), -1);
    expect_error(spec[0].name, "twice");
    ck_assert_int_eq(mn_st_add_tensor(w, "__metadata__", MN_F32, 1, (const int64_t[]){2}), -1);
    expect_error("__metadata__", NULL);
    ck_assert_int_eq(mn_st_add_tensor(w, "five", MN_F32, 5, (const int64_t[]){1, 1, 1, 1, 2}), -1);
    expect_error("five", NULL);
    ck_assert_int_eq(mn_st_add_tensor(w, "neg", MN_F32, 2, (const int64_t[]){2, -1}), -1);
    expect_error("neg", NULL);
    mn_clear_error();
    ck_assert_int_eq(mn_st_add_tensor(w, "q", MN_Q8_0, 1, (const int64_t[]){32}), -1);
    expect_error("q", "q8_0");
    ck_assert_int_eq(mn_st_begin(w, path), 0);
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(mn_st_write_data(w, data[i], 5), 0);
        ck_assert_int_eq(mn_st_write_data(w, data[i] + 5, spec[i].nbytes - 5), 0);
    }
    ck_assert_int_eq(mn_st_finish(w), 0);
    mn_st_writer_free(w);
    ck_assert_int_eq(dir_entries(dir), 1);

    /* the header on disk: safetensors order shapes, metadata, 8-byte aligned data */
    mn_mapped_file m;
    ck_assert_int_eq(mn_map_file(path, &m), 0);
    uint64_t hlen;
    memcpy(&hlen, m.data, 8);
    ck_assert_uint_eq((8 + hlen) % 8, 0);
    cJSON *root = cJSON_ParseWithLength((const char *)m.data + 8, hlen);
    ck_assert_ptr_nonnull(root);
    char *header = strndup((const char *)m.data + 8, hlen);
    ck_assert_ptr_nonnull(strstr(header, "\"format\""));
    ck_assert_ptr_null(strstr(strstr(header, "\"format\"") + 1, "\"format\"")); /* once */
    free(header);
    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(meta, "format")->valuestring, "pt");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(meta, "minnow.method")->valuestring, "prune");
    const cJSON *up = cJSON_GetObjectItemCaseSensitive(root, "model.layers.0.mlp.up_proj.weight");
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(up, "dtype")->valuestring, "BF16");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(up, "shape");
    ck_assert_int_eq(cJSON_GetArraySize(shape), 3);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 0)->valueint, 4);
    ck_assert_int_eq(cJSON_GetArrayItem(shape, 2)->valueint, 2);
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(up, "data_offsets");
    ck_assert_int_eq(cJSON_GetArrayItem(offs, 0)->valueint, 74);
    ck_assert_int_eq(cJSON_GetArrayItem(offs, 1)->valueint, 122);
    cJSON_Delete(root);
    ck_assert_uint_eq(m.size, 8 + hlen + 146);
    mn_unmap_file(&m);

    mn_safetensors st;
    ck_assert_int_eq(mn_safetensors_open(path, &st), 0);
    ck_assert_int_eq(st.n_tensors, 4);
    ck_assert_int_eq(st.n_files, 1);
    for (int i = 0; i < 4; i++) {
        const mn_tensor *t = mn_safetensors_find(&st, spec[i].name);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(t->type, spec[i].type);
        ck_assert_int_eq(t->n_dims, spec[i].n_dims);
        for (int k = 0; k < 4; k++) ck_assert_int_eq(t->ne[k], k < spec[i].n_dims ? spec[i].ne[k] : 1);
        ck_assert_uint_eq(t->nbytes, spec[i].nbytes);
        ck_assert_int_eq(memcmp(t->data, data[i], spec[i].nbytes), 0);
        ck_assert_int_eq(st.tensor_file[t - st.tensors], 0);
    }
    ck_assert_ptr_null(mn_safetensors_find(&st, "nope"));
    mn_safetensors_close(&st);

    /* open_dir finds model.safetensors */
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), 0);
    ck_assert_int_eq(st.n_tensors, 4);
    mn_safetensors_close(&st);

    /* writer misuse: too many bytes, too few tensors; nothing is left behind */
    path_in(path, sizeof path, dir, "partial.safetensors");
    w = mn_st_writer_new();
    mn_st_add_tensor(w, "a", MN_F32, 1, (const int64_t[]){2});
    mn_st_add_tensor(w, "b", MN_F32, 1, (const int64_t[]){2});
    ck_assert_int_eq(mn_st_begin(w, path), 0);
    ck_assert_int_eq(mn_st_write_data(w, data[0], 9), -1);
    expect_error(path, "a");
    ck_assert_int_eq(mn_st_write_data(w, data[0], 8), 0);
    ck_assert_int_eq(mn_st_finish(w), -1);
    expect_error(path, "1 of 2");
    mn_st_writer_free(w);
    ck_assert_int_eq(dir_entries(dir), 1);
}
END_TEST

/* Two shards written with the writer, and an index. */
static void write_shard(const char *path, const char *const *names, int n, float base) {
    mn_st_writer *w = mn_st_writer_new();
    for (int i = 0; i < n; i++) ck_assert_int_eq(mn_st_add_tensor(w, names[i], MN_F32, 2, (const int64_t[]){3, 2}), 0);
    ck_assert_int_eq(mn_st_begin(w, path), 0);
    for (int i = 0; i < n; i++) {
        float v[6];
        for (int k = 0; k < 6; k++) v[k] = base + (float)(10 * i + k);
        ck_assert_int_eq(mn_st_write_data(w, v, sizeof v), 0);
    }
    ck_assert_int_eq(mn_st_finish(w), 0);
    mn_st_writer_free(w);
}

START_TEST(safetensors_sharded_dir) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    const char *s1[] = {"model.embed_tokens.weight", "model.layers.0.self_attn.q_proj.weight"};
    const char *s2[] = {"model.norm.weight", "lm_head.weight", "model.layers.1.mlp.down_proj.weight"};
    path_in(path, sizeof path, dir, "model-00001-of-00002.safetensors");
    write_shard(path, s1, 2, 100);
    path_in(path, sizeof path, dir, "model-00002-of-00002.safetensors");
    write_shard(path, s2, 3, 200);
    const char *index =
        "{\"metadata\": {\"total_size\": 120}, \"weight_map\": {"
        "\"model.embed_tokens.weight\": \"model-00001-of-00002.safetensors\","
        "\"model.norm.weight\": \"model-00002-of-00002.safetensors\","
        "\"model.layers.0.self_attn.q_proj.weight\": \"model-00001-of-00002.safetensors\","
        "\"lm_head.weight\": \"model-00002-of-00002.safetensors\","
        "\"model.layers.1.mlp.down_proj.weight\": \"model-00002-of-00002.safetensors\"}}";
    path_in(path, sizeof path, dir, "model.safetensors.index.json");
    spit_text(path, index);
    mn_safetensors st;
    mn_clear_error();
    ck_assert_msg(mn_safetensors_open_dir(dir, &st) == 0, "%s", mn_last_error());
    ck_assert_int_eq(st.n_files, 2);
    ck_assert_int_eq(st.n_tensors, 5);
    for (int i = 0; i < 5; i++) {
        const char *name = i < 2 ? s1[i] : s2[i - 2];
        const mn_tensor *t = mn_safetensors_find(&st, name);
        ck_assert_ptr_nonnull(t);
        int shard = st.tensor_file[t - st.tensors];
        ck_assert_int_eq(shard, i < 2 ? 0 : 1);
        ck_assert_ptr_nonnull(strstr(st.files[shard].path, i < 2 ? "00001" : "00002"));
        ck_assert(t->ne[0] == 3 && t->ne[1] == 2 && t->type == MN_F32);
        const float *v = t->data;
        ck_assert(v[0] == (i < 2 ? 100 : 200) + 10 * (i < 2 ? i : i - 2) && v[5] == v[0] + 5);
    }
    mn_safetensors_close(&st);
    ck_assert_int_eq(st.n_files, 0);
}
END_TEST

START_TEST(safetensors_corrupt_files) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    const char *ok_entry = "\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}";
    char json[512];

    /* baseline: the entry used below is valid */
    snprintf(json, sizeof json, "{%s}", ok_entry);
    path_in(path, sizeof path, dir, "ok.safetensors");
    write_st_raw(path, json, 24);
    mn_safetensors st;
    ck_assert_int_eq(mn_safetensors_open(path, &st), 0);
    ck_assert(st.n_tensors == 1 && st.tensors[0].ne[0] == 3 && st.tensors[0].ne[1] == 2);
    mn_safetensors_close(&st);

    /* header length larger than the file; file too short for the length */
    bytes b = {0};
    put_u64(&b, 1000);
    put(&b, "{}", 2);
    path_in(path, sizeof path, dir, "hlen.safetensors");
    spit(path, b.p, b.n);
    bytes_free(&b);
    mn_clear_error();
    ck_assert_int_eq(mn_safetensors_open(path, &st), -1);
    expect_error(path, NULL);
    put_u64(&b, UINT64_MAX);
    path_in(path, sizeof path, dir, "hlen-max.safetensors");
    spit(path, b.p, b.n);
    bytes_free(&b);
    ck_assert_int_eq(mn_safetensors_open(path, &st), -1);
    expect_error(path, NULL);
    path_in(path, sizeof path, dir, "short.safetensors");
    spit(path, "abc", 3);
    ck_assert_int_eq(mn_safetensors_open(path, &st), -1);
    expect_error(path, NULL);
    path_in(path, sizeof path, dir, "missing.safetensors");
    ck_assert_int_eq(mn_safetensors_open(path, &st), -1);
    expect_error(path, NULL);

    /* not JSON, JSON but not an object, entries that are not tensors */
    expect_st_rejects(dir, "notjson.safetensors", "{\"w\": {\"dtype\": ", 0, "JSON");
    expect_st_rejects(dir, "array.safetensors", "[1, 2, 3]", 0, "JSON");
    expect_st_rejects(dir, "empty-header.safetensors", "", 0, NULL);
    expect_st_rejects(dir, "entry-number.safetensors", "{\"w\": 5}", 0, "w");
    /* missing fields */
    expect_st_rejects(dir, "nodtype.safetensors", "{\"w\": {\"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "w");
    expect_st_rejects(dir, "noshape.safetensors", "{\"w\": {\"dtype\": \"F32\", \"data_offsets\": [0, 8]}}", 8, "w");
    expect_st_rejects(dir, "nooffsets.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2]}}", 8, "w");
    expect_st_rejects(dir, "offsets3.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8, 9]}}", 8, "w");
    expect_st_rejects(dir, "dtypenum.safetensors", "{\"w\": {\"dtype\": 1, \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "w");
    /* unknown dtypes */
    expect_st_rejects(dir, "i64.safetensors", "{\"w\": {\"dtype\": \"I64\", \"shape\": [2], \"data_offsets\": [0, 16]}}", 16, "I64");
    expect_st_rejects(dir, "f8.safetensors", "{\"w\": {\"dtype\": \"F8_E4M3\", \"shape\": [2], \"data_offsets\": [0, 2]}}", 2, "F8_E4M3");
    expect_st_rejects(dir, "f32lower.safetensors", "{\"w\": {\"dtype\": \"f32\", \"shape\": [2], \"data_offsets\": [0, 8]}}", 8, "f32");
    /* bad shapes */
    expect_st_rejects(dir, "negshape.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [-2], \"data_offsets\": [0, 8]}}", 8, "w");
    expect_st_rejects(dir, "fracshape.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2.5], \"data_offsets\": [0, 10]}}", 10, "w");
    expect_st_rejects(dir, "strshape.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [\"2\"], \"data_offsets\": [0, 8]}}", 8, "w");
    expect_st_rejects(dir, "dims5.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [1,1,1,1,2], \"data_offsets\": [0, 8]}}", 8, "w");
    expect_st_rejects(dir, "hugeshape.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [4294967296, 4294967296], \"data_offsets\": [0, 8]}}", 8, "w");
    /* shape and byte range disagree */
    expect_st_rejects(dir, "mismatch.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 20]}}", 24, "w");
    expect_st_rejects(dir, "mismatch16.safetensors", "{\"w\": {\"dtype\": \"F16\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}", 24, "w");
    /* offsets bad or past the end of the data */
    expect_st_rejects(dir, "pastend.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2, 3], \"data_offsets\": [0, 24]}}", 23, "w");
    expect_st_rejects(dir, "pastend2.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [1000, 1008]}}", 24, "w");
    expect_st_rejects(dir, "negoff.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [-8, 0]}}", 24, "w");
    expect_st_rejects(dir, "reversed.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 0]}}", 24, "w");
    expect_st_rejects(dir, "fracoff.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0.5, 8.5]}}", 24, "w");
    expect_st_rejects(dir, "hugeoff.safetensors", "{\"w\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [1e30, 1e30]}}", 24, "w");
    /* overlapping ranges, duplicate names */
    expect_st_rejects(dir, "overlap.safetensors",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [0, 16]},"
                      " \"b\": {\"dtype\": \"F32\", \"shape\": [4], \"data_offsets\": [12, 28]}}",
                      32, "overlap");
    expect_st_rejects(dir, "overlap-inside.safetensors",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [8], \"data_offsets\": [0, 32]},"
                      " \"b\": {\"dtype\": \"F16\", \"shape\": [2], \"data_offsets\": [8, 12]}}",
                      32, "overlap");
    expect_st_rejects(dir, "dupname.safetensors",
                      "{\"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]},"
                      " \"a\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [4, 8]}}",
                      8, "a");
    /* a name too long for minnow's tensors */
    char longname[400];
    memset(longname, 'x', 300);
    longname[300] = 0;
    snprintf(json, sizeof json, "{\"%s\": {\"dtype\": \"F32\", \"shape\": [1], \"data_offsets\": [0, 4]}}", longname);
    expect_st_rejects(dir, "longname.safetensors", json, 4, NULL);

    /* adjacent and empty tensors, metadata, and trailing spaces in the header are fine */
    path_in(path, sizeof path, dir, "fine.safetensors");
    write_st_raw(path,
                 "{\"__metadata__\": {\"format\": \"pt\"}, \"b\": {\"dtype\": \"BF16\", \"shape\": [], "
                 "\"data_offsets\": [8, 10]}, \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]}}   ",
                 10);
    mn_clear_error();
    ck_assert_msg(mn_safetensors_open(path, &st) == 0, "%s", mn_last_error());
    ck_assert_int_eq(st.n_tensors, 2);
    const mn_tensor *t = mn_safetensors_find(&st, "b");
    ck_assert(t->n_dims == 1 && t->ne[0] == 1 && t->nbytes == 2 && t->type == MN_BF16);
    mn_safetensors_close(&st);
}
END_TEST

START_TEST(safetensors_corrupt_dirs) {
    char dir[256], path[512], index[512];
    make_dir(dir, sizeof dir);
    mn_safetensors st;
    mn_clear_error();
    /* neither file */
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(dir, NULL);

    const char *s1[] = {"a", "b"}, *s2[] = {"c", "a"};
    path_in(path, sizeof path, dir, "one.safetensors");
    write_shard(path, s1, 2, 0);
    path_in(path, sizeof path, dir, "two.safetensors");
    write_shard(path, s2, 2, 0);
    path_in(index, sizeof index, dir, "model.safetensors.index.json");

    /* a name in two shards: the error names the shard where it appears again */
    spit_text(index, "{\"weight_map\": {\"a\": \"one.safetensors\", \"b\": \"one.safetensors\", \"c\": \"two.safetensors\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(path, "a");
    ck_assert_ptr_null(st.files);

    /* a missing shard */
    spit_text(index, "{\"weight_map\": {\"a\": \"one.safetensors\", \"z\": \"gone.safetensors\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error("gone.safetensors", NULL);
    /* paths that leave the directory */
    spit_text(index, "{\"weight_map\": {\"a\": \"../x\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, NULL);
    spit_text(index, "{\"weight_map\": {\"a\": \"/etc/passwd\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, NULL);
    spit_text(index, "{\"weight_map\": {\"a\": \"..\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, NULL);
    spit_text(index, "{\"weight_map\": {\"a\": 7}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, NULL);
    /* a listed tensor that is not in its shard */
    spit_text(index, "{\"weight_map\": {\"a\": \"one.safetensors\", \"q\": \"one.safetensors\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, "q");
    /* an index that is not JSON, or has no weight_map */
    spit_text(index, "not json");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, NULL);
    spit_text(index, "{\"metadata\": {}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(index, "weight_map");
    /* a corrupt shard is named */
    char bad[512];
    path_in(bad, sizeof bad, dir, "bad.safetensors");
    write_st_raw(bad, "{\"w\": {\"dtype\": \"I64\", \"shape\": [1], \"data_offsets\": [0, 8]}}", 8);
    spit_text(index, "{\"weight_map\": {\"a\": \"one.safetensors\", \"b\": \"one.safetensors\", \"w\": \"bad.safetensors\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), -1);
    expect_error(bad, "I64");

    /* and a correct index over the same shards works */
    spit_text(index, "{\"weight_map\": {\"a\": \"one.safetensors\", \"b\": \"one.safetensors\"}}");
    ck_assert_int_eq(mn_safetensors_open_dir(dir, &st), 0);
    ck_assert_int_eq(st.n_tensors, 2);
    mn_safetensors_close(&st);
}
END_TEST


START_TEST(safetensors_empty_tensors) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "empty.safetensors");
    mn_st_writer *w = mn_st_writer_new();
    ck_assert_int_eq(mn_st_add_tensor(w, "e0", MN_F32, 2, (const int64_t[]){0, 3}), 0);
    ck_assert_int_eq(mn_st_add_tensor(w, "a", MN_F32, 1, (const int64_t[]){2}), 0);
    ck_assert_int_eq(mn_st_add_tensor(w, "e1", MN_F16, 2, (const int64_t[]){3, 0}), 0);
    ck_assert_int_eq(mn_st_add_tensor(w, "b", MN_BF16, 1, (const int64_t[]){3}), 0);
    ck_assert_int_eq(mn_st_add_tensor(w, "e2", MN_F32, 1, (const int64_t[]){0}), 0);
    ck_assert_int_eq(mn_st_begin(w, path), 0);
    const float a[2] = {1.5f, -2.0f};
    const uint16_t b[3] = {0x3f80, 0x4000, 0xc040};
    /* only the tensors that have bytes are written */
    mn_clear_error();
    ck_assert_msg(mn_st_write_data(w, a, sizeof a) == 0, "%s", mn_last_error());
    ck_assert_msg(mn_st_write_data(w, b, sizeof b) == 0, "%s", mn_last_error());
    ck_assert_msg(mn_st_finish(w) == 0, "%s", mn_last_error());
    mn_st_writer_free(w);
    mn_safetensors st;
    ck_assert_msg(mn_safetensors_open(path, &st) == 0, "%s", mn_last_error());
    ck_assert_int_eq(st.n_tensors, 5);
    const mn_tensor *t = mn_safetensors_find(&st, "e0");
    ck_assert(t->nbytes == 0 && t->ne[0] == 0 && t->ne[1] == 3);
    t = mn_safetensors_find(&st, "e1");
    ck_assert(t->nbytes == 0 && t->ne[0] == 3 && t->ne[1] == 0 && t->type == MN_F16);
    t = mn_safetensors_find(&st, "a");
    ck_assert(t->nbytes == 8 && !memcmp(t->data, a, 8));
    t = mn_safetensors_find(&st, "b");
    ck_assert(t->nbytes == 6 && !memcmp(t->data, b, 6));
    mn_safetensors_close(&st);

    /* an empty range sharing its start with a tensor is not an overlap, whatever the order */
    path_in(path, sizeof path, dir, "raw.safetensors");
    write_st_raw(path,
                 "{\"z\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [0, 8]},"
                 " \"a\": {\"dtype\": \"F32\", \"shape\": [2], \"data_offsets\": [8, 16]},"
                 " \"e\": {\"dtype\": \"F32\", \"shape\": [0], \"data_offsets\": [8, 8]},"
                 " \"f\": {\"dtype\": \"F32\", \"shape\": [0, 2], \"data_offsets\": [16, 16]}}",
                 16);
    ck_assert_msg(mn_safetensors_open(path, &st) == 0, "%s", mn_last_error());
    ck_assert_int_eq(st.n_tensors, 4);
    mn_safetensors_close(&st);
}
END_TEST

/* Writes a GGUF (or safetensors) file bigger than a file-size limit in a child process, as a
 * full disk would stop it; reports on fd which step failed and the error line. */
static void full_disk_child(const char *path, int safetensors, int fd) {
    signal(SIGXFSZ, SIG_IGN);
    struct rlimit rl = {200000, 200000};
    if (setrlimit(RLIMIT_FSIZE, &rl) != 0) _exit(90);
    static float data[256 * 1024]; /* 1 MiB per tensor */
    const int64_t ne[2] = {1024, 256};
    int rc = 0;
    char where = 'n';
    if (safetensors) {
        mn_st_writer *w = mn_st_writer_new();
        rc = mn_st_add_tensor(w, "a", MN_F32, 2, ne) || mn_st_add_tensor(w, "b", MN_F32, 2, ne) ||
             mn_st_begin(w, path);
        if (rc) where = 'b';
        for (int i = 0; i < 2 && !rc; i++)
            if ((rc = mn_st_write_data(w, data, sizeof data)) != 0) where = 'w';
        if (!rc && (rc = mn_st_finish(w)) != 0) where = 'f';
        mn_st_writer_free(w);
    } else {
        mn_gguf_writer *w = mn_gguf_writer_new();
        mn_gguf_set_str(w, "general.architecture", "llama");
        rc = mn_gguf_add_tensor(w, "a", MN_F32, 2, ne) < 0 || mn_gguf_add_tensor(w, "b", MN_F32, 2, ne) < 0 ||
             mn_gguf_begin(w, path);
        if (rc) where = 'b';
        for (int i = 0; i < 2 && !rc; i++)
            if ((rc = mn_gguf_write_tensor_data(w, data, sizeof data)) != 0) where = 'w';
        if (!rc && (rc = mn_gguf_finish(w)) != 0) where = 'f';
        mn_gguf_writer_free(w);
    }
    if (write(fd, &where, 1) != 1) _exit(92);
    const char *e = mn_has_error() ? mn_last_error() : "";
    if (write(fd, e, strlen(e)) < 0) _exit(93);
    _exit(0);
}

START_TEST(writers_full_disk) {
    char dir[256];
    make_dir(dir, sizeof dir);
    for (int st = 0; st < 2; st++) {
        char path[512];
        path_in(path, sizeof path, dir, st ? "model.safetensors" : "model.gguf");
        int p[2];
        ck_assert_int_eq(pipe(p), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
            close(p[0]);
            full_disk_child(path, st, p[1]);
        }
        close(p[1]);
        char msg[2048] = {0};
        size_t got = 0;
        ssize_t r;
        while ((r = read(p[0], msg + got, sizeof msg - 1 - got)) > 0) got += (size_t)r;
        close(p[0]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %#x", status);
        ck_assert_msg(msg[0] == 'w', "expected the tensor write to fail, got '%c': %s", msg[0], msg + 1);
        ck_assert_msg(strstr(msg + 1, path) && strstr(msg + 1, "too large") && !strchr(msg + 1, '\n'),
                      "error line: %s", msg + 1);
        ck_assert_int_eq(dir_entries(dir), 0); /* no partial file, no temporary */
    }
}
END_TEST

/* ---------------------------------------------------------------- hf_config */

START_TEST(hf_config_real_file) {
    char path[512];
    snprintf(path, sizeof path, "%s/tinystories-llama-21m/config.json", mn_test_data_dir());
    mn_hf_config c;
    mn_clear_error();
    ck_assert_msg(mn_hf_config_read(path, &c) == 0, "%s", mn_last_error());
    ck_assert_str_eq(c.model_type, "llama");
    ck_assert_str_eq(c.architecture, "LlamaForCausalLM");
    ck_assert_int_eq(c.hidden_size, 256);
    ck_assert_int_eq(c.intermediate_size, 768);
    ck_assert_int_eq(c.num_hidden_layers, 6);
    ck_assert_int_eq(c.num_attention_heads, 8);
    ck_assert_int_eq(c.num_key_value_heads, 2);
    ck_assert_int_eq(c.head_dim, 32);
    ck_assert_int_eq(c.vocab_size, 32000);
    ck_assert_int_eq(c.max_position_embeddings, 2048);
    ck_assert(c.rms_norm_eps == 1e-5);
    ck_assert(c.rope_theta == 10000.0);
    ck_assert(!c.tie_word_embeddings);
    ck_assert_int_eq(c.bos_token_id, 1);
    ck_assert_int_eq(c.eos_token_id, 2);
    ck_assert_str_eq(c.torch_dtype, "float16");
    ck_assert_str_eq(c.rope_scaling_type, "");
}
END_TEST

static int read_config_text(const char *dir, const char *text, mn_hf_config *c, char *path, size_t cap) {
    path_in(path, cap, dir, "config.json");
    spit_text(path, text);
    mn_clear_error();
    return mn_hf_config_read(path, c);
}

#define BASE_CONFIG "\"model_type\": \"llama\", \"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100"

START_TEST(hf_config_defaults_and_rope) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    mn_hf_config c;
    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG "}", &c, path, sizeof path), 0);
    ck_assert_int_eq(c.num_key_value_heads, 4);
    ck_assert_int_eq(c.head_dim, 16);
    ck_assert_int_eq(c.max_position_embeddings, 2048);
    ck_assert(c.rms_norm_eps == 1e-6 && c.rope_theta == 10000.0);
    ck_assert_int_eq(c.bos_token_id, -1);
    ck_assert_int_eq(c.eos_token_id, -1);
    ck_assert(!c.tie_word_embeddings);
    ck_assert_str_eq(c.architecture, "");
    ck_assert_str_eq(c.rope_scaling_type, "");

    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"num_key_value_heads\": 1, \"head_dim\": 24,"
                                           " \"tie_word_embeddings\": true, \"eos_token_id\": [128001, 128009],"
                                           " \"bos_token_id\": null, \"rope_scaling\": null, \"rope_theta\": 500000.0}",
                                      &c, path, sizeof path),
                     0);
    ck_assert_int_eq(c.num_key_value_heads, 1);
    ck_assert_int_eq(c.head_dim, 24);
    ck_assert(c.tie_word_embeddings);
    ck_assert_int_eq(c.eos_token_id, 128001);
    ck_assert_int_eq(c.bos_token_id, -1);
    ck_assert(c.rope_theta == 500000.0);
    ck_assert_str_eq(c.rope_scaling_type, "");

    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 4.0}}",
                                      &c, path, sizeof path),
                     0);
    ck_assert_str_eq(c.rope_scaling_type, "linear");
    ck_assert(c.rope_factor == 4.0);

    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 32.0,"
                                           " \"low_freq_factor\": 1.0, \"high_freq_factor\": 4.0,"
                                           " \"original_max_position_embeddings\": 8192}}",
                                      &c, path, sizeof path),
                     0);
    ck_assert_str_eq(c.rope_scaling_type, "llama3");
    ck_assert(c.rope_factor == 32.0 && c.rope_low_freq_factor == 1.0 && c.rope_high_freq_factor == 4.0);
    ck_assert_int_eq(c.rope_original_max_positions, 8192);

    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"rope_type\": \"default\"}}", &c, path,
                                      sizeof path),
                     0);
    ck_assert_str_eq(c.rope_scaling_type, "");

    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"type\": \"yarn\", \"factor\": 4.0}}",
                                      &c, path, sizeof path),
                     -1);
    expect_error(path, "yarn");
    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"type\": \"dynamic\", \"factor\": 2}}",
                                      &c, path, sizeof path),
                     -1);
    expect_error(path, "dynamic");
    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 0}}",
                                      &c, path, sizeof path),
                     -1);
    expect_error(path, "factor");
    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8,"
                                           " \"low_freq_factor\": 4, \"high_freq_factor\": 1}}",
                                      &c, path, sizeof path),
                     -1);
    expect_error(path, "freq");
    ck_assert_int_eq(read_config_text(dir, "{" BASE_CONFIG ", \"rope_scaling\": \"linear\"}", &c, path, sizeof path), -1);
    expect_error(path, "rope_scaling");
}
END_TEST

START_TEST(hf_config_invalid) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    mn_hf_config c;
    struct {
        const char *json;
        const char *needle;
    } cases[] = {
        {"not json", NULL},
        {"[1, 2]", NULL},
        {"", NULL},
        {"{\"hidden_size\": 64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "model_type"},
        {"{\"model_type\": \"llama\", \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": -64, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": -1, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", NULL},
        {"{\"model_type\": \"llama\", \"hidden_size\": 0, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", NULL},
        {"{\"model_type\": \"llama\", \"hidden_size\": 64.5, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 1e20, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": 4294967360, \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "hidden_size"},
        {"{\"model_type\": \"llama\", \"hidden_size\": \"64\", \"intermediate_size\": 128, \"num_hidden_layers\": 2, \"num_attention_heads\": 4, \"vocab_size\": 100}", "hidden_size"},
        {"{" BASE_CONFIG ", \"num_key_value_heads\": 3}", "num_key_value_heads"},
        {"{" BASE_CONFIG ", \"num_key_value_heads\": 0}", NULL},
        {"{" BASE_CONFIG ", \"num_key_value_heads\": -1}", NULL},
        {"{" BASE_CONFIG ", \"head_dim\": 15}", "head_dim"},
        {"{" BASE_CONFIG ", \"head_dim\": -16}", NULL},
        {"{" BASE_CONFIG ", \"max_position_embeddings\": -1}", "max_position_embeddings"},
        {"{" BASE_CONFIG ", \"max_position_embeddings\": \"2048\"}", "max_position_embeddings"},
        {"{" BASE_CONFIG ", \"rms_norm_eps\": \"1e-5\"}", "rms_norm_eps"},
        {"{" BASE_CONFIG ", \"rms_norm_eps\": 0}", "rms_norm_eps"},
        {"{" BASE_CONFIG ", \"rope_theta\": -10000}", "rope_theta"},
        /* infinities parse (1e999) but mean nothing and cannot be written back as JSON */
        {"{" BASE_CONFIG ", \"rms_norm_eps\": 1e999}", "rms_norm_eps"},
        {"{" BASE_CONFIG ", \"rope_theta\": 1e999}", "rope_theta"},
        {"{" BASE_CONFIG ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 1e999}}", "rope_scaling"},
        {"{" BASE_CONFIG ", \"rope_scaling\": {\"rope_type\": \"llama3\", \"factor\": 8, \"high_freq_factor\": 1e999}}",
         "rope_scaling"},
        {"{" BASE_CONFIG ", \"bos_token_id\": \"1\"}", "bos_token_id"},
        {"{" BASE_CONFIG ", \"eos_token_id\": -2}", "eos_token_id"},
        {"{" BASE_CONFIG ", \"eos_token_id\": 1.5}", "eos_token_id"},
        {"{" BASE_CONFIG ", \"eos_token_id\": 1e30}", "eos_token_id"},
        {"{" BASE_CONFIG ", \"eos_token_id\": [\"x\"]}", "eos_token_id"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int rc = read_config_text(dir, cases[i].json, &c, path, sizeof path);
        ck_assert_msg(rc == -1, "accepted: %s", cases[i].json);
        expect_error(path, cases[i].needle);
    }
    path_in(path, sizeof path, dir, "missing.json");
    mn_clear_error();
    ck_assert_int_eq(mn_hf_config_read(path, &c), -1);
    expect_error(path, NULL);
}
END_TEST

START_TEST(hf_config_write_read) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "config.json");
    mn_hf_config a;
    memset(&a, 0, sizeof a);
    snprintf(a.model_type, sizeof a.model_type, "llama");
    snprintf(a.architecture, sizeof a.architecture, "LlamaForCausalLM");
    a.hidden_size = 96;
    a.intermediate_size = 256;
    a.num_hidden_layers = 3;
    a.num_attention_heads = 6;
    a.num_key_value_heads = 2;
    a.head_dim = 32; /* not hidden/heads: must be written */
    a.vocab_size = 1000;
    a.max_position_embeddings = 4096;
    a.rms_norm_eps = 1e-5;
    a.rope_theta = 500000.0;
    a.tie_word_embeddings = true;
    a.bos_token_id = 1;
    a.eos_token_id = 2;
    snprintf(a.torch_dtype, sizeof a.torch_dtype, "bfloat16");
    snprintf(a.rope_scaling_type, sizeof a.rope_scaling_type, "llama3");
    a.rope_factor = 8.0;
    a.rope_low_freq_factor = 1.0;
    a.rope_high_freq_factor = 4.0;
    a.rope_original_max_positions = 8192;
    mn_clear_error();
    ck_assert_int_eq(mn_hf_config_write(path, &a), 0);
    mn_hf_config b;
    ck_assert_msg(mn_hf_config_read(path, &b) == 0, "%s", mn_last_error());
    ck_assert_str_eq(b.model_type, a.model_type);
    ck_assert_str_eq(b.architecture, a.architecture);
    ck_assert_int_eq(b.hidden_size, a.hidden_size);
    ck_assert_int_eq(b.intermediate_size, a.intermediate_size);
    ck_assert_int_eq(b.num_hidden_layers, a.num_hidden_layers);
    ck_assert_int_eq(b.num_attention_heads, a.num_attention_heads);
    ck_assert_int_eq(b.num_key_value_heads, a.num_key_value_heads);
    ck_assert_int_eq(b.head_dim, a.head_dim);
    ck_assert_int_eq(b.vocab_size, a.vocab_size);
    ck_assert_int_eq(b.max_position_embeddings, a.max_position_embeddings);
    ck_assert(b.rms_norm_eps == a.rms_norm_eps);
    ck_assert(b.rope_theta == a.rope_theta);
    ck_assert(b.tie_word_embeddings == a.tie_word_embeddings);
    ck_assert_int_eq(b.bos_token_id, a.bos_token_id);
    ck_assert_int_eq(b.eos_token_id, a.eos_token_id);
    ck_assert_str_eq(b.torch_dtype, a.torch_dtype);
    ck_assert_str_eq(b.rope_scaling_type, a.rope_scaling_type);
    ck_assert(b.rope_factor == a.rope_factor && b.rope_low_freq_factor == a.rope_low_freq_factor &&
              b.rope_high_freq_factor == a.rope_high_freq_factor);
    ck_assert_int_eq(b.rope_original_max_positions, a.rope_original_max_positions);

    /* no rope scaling, untied, no special tokens, default head_dim; written over the old file */
    a.head_dim = 16;
    a.rope_scaling_type[0] = 0;
    a.tie_word_embeddings = false;
    a.bos_token_id = a.eos_token_id = -1;
    a.rms_norm_eps = 1.0 / 3.0;
    ck_assert_int_eq(mn_hf_config_write(path, &a), 0);
    ck_assert_int_eq(mn_hf_config_read(path, &b), 0);
    ck_assert_int_eq(b.head_dim, 16);
    ck_assert_str_eq(b.rope_scaling_type, "");
    ck_assert(!b.tie_word_embeddings);
    ck_assert_int_eq(b.bos_token_id, -1);
    ck_assert_int_eq(b.eos_token_id, -1);
    ck_assert(b.rms_norm_eps == 1.0 / 3.0);
    ck_assert_int_eq(dir_entries(dir), 1);
}
END_TEST

/* ---------------------------------------------------------------- llama2.c */

START_TEST(llama2c_stories260k) {
    char path[512];
    snprintf(path, sizeof path, "%s/stories260K/stories260K.bin", mn_test_data_dir());
    mn_llama2c m;
    mn_clear_error();
    ck_assert_msg(mn_llama2c_open(path, &m) == 0, "%s", mn_last_error());
    ck_assert_int_eq(m.dim, 64);
    ck_assert_int_eq(m.hidden_dim, 172);
    ck_assert_int_eq(m.n_layers, 5);
    ck_assert_int_eq(m.n_heads, 8);
    ck_assert_int_eq(m.n_kv_heads, 4);
    ck_assert_int_eq(m.vocab_size, 512);
    ck_assert_int_eq(m.seq_len, 512);
    ck_assert(m.shared_classifier);
    ck_assert_int_eq(m.n_tensors, 2 + 9 * 5);
    ck_assert_ptr_null(mn_llama2c_find(&m, "output.weight"));
    const uint8_t *base = m.file.data;

    /* llama2.c's order: embeddings, then each kind for all layers, final norm, freq_cis */
    struct {
        const char *role;
        int64_t ne0, ne1;
    } order[] = {{"attn_norm", 64, 1}, {"attn_q", 64, 64},  {"attn_k", 64, 32},   {"attn_v", 64, 32},  {"attn_output", 64, 64},
                 {"ffn_norm", 64, 1},  {"ffn_gate", 64, 172}, {"ffn_down", 172, 64}, {"ffn_up", 64, 172}};
    const mn_tensor *t = mn_llama2c_find(&m, "token_embd.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_int_eq((const uint8_t *)t->data - base, 28);
    ck_assert(t->type == MN_F32 && t->n_dims == 2 && t->ne[0] == 64 && t->ne[1] == 512);
    ck_assert_uint_eq(t->nbytes, 64 * 512 * 4);
    size_t offset = 28 + 64 * 512 * 4;
    for (int k = 0; k < 9; k++)
        for (int l = 0; l < 5; l++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.%s.weight", l, order[k].role);
            t = mn_llama2c_find(&m, name);
            ck_assert_msg(t != NULL, "%s missing", name);
            ck_assert_msg((size_t)((const uint8_t *)t->data - base) == offset, "%s at %td, expected %zu", name,
                          (const uint8_t *)t->data - base, offset);
            ck_assert(t->type == MN_F32 && t->ne[0] == order[k].ne0 && t->ne[1] == order[k].ne1);
            ck_assert_int_eq(t->n_dims, order[k].ne1 > 1 ? 2 : 1);
            ck_assert_uint_eq(t->nbytes, (size_t)(order[k].ne0 * order[k].ne1 * 4));
            offset += t->nbytes;
        }
    t = mn_llama2c_find(&m, "output_norm.weight");
    ck_assert_ptr_nonnull(t);
    ck_assert_uint_eq((size_t)((const uint8_t *)t->data - base), offset);
    ck_assert(t->n_dims == 1 && t->ne[0] == 64 && t->nbytes == 256);
    /* the freq_cis tables (cos, then sin, seq_len x head_dim/2 each) fill the rest of the file */
    size_t freq = offset + 256;
    ck_assert_uint_eq(freq + 2 * 512 * 4 * 4, m.file.size);
    const float *cos_t = (const float *)(base + freq), *sin_t = cos_t + 512 * 4;
    for (int pos = 0; pos < 512; pos += 37)
        for (int i = 0; i < 4; i++) {
            float cv, sv;
            memcpy(&cv, cos_t + pos * 4 + i, 4);
            memcpy(&sv, sin_t + pos * 4 + i, 4);
            double angle = pos * pow(10000.0, -2.0 * i / 8);
            EXPECT(fabs(cv - cos(angle)) < 1e-3 && fabs(sv - sin(angle)) < 1e-3, "freq_cis[%d][%d]", pos, i);
        }
    /* trained norm weights are finite and not all zero */
    t = mn_llama2c_find(&m, "blk.0.attn_norm.weight");
    float norm[64];
    memcpy(norm, t->data, sizeof norm);
    double sum = 0;
    for (int i = 0; i < 64; i++) sum += fabs(norm[i]);
    ck_assert(isfinite(sum) && sum > 1);
    mn_llama2c_close(&m);
    ck_assert_ptr_null(m.tensors);
}
END_TEST

/* A llama2.c file for the header, filled with its float index (so any tensor's first value tells
 * where it starts); `extra` bytes are added or (negative) removed at the end. */
static size_t write_llama2c(const char *path, const int32_t h[7], long extra) {
    int64_t d = h[0], f = h[1], L = h[2], hd = h[0] / h[3], kv = hd * h[4], V = h[5] < 0 ? -(int64_t)h[5] : h[5];
    int64_t floats = V * d + L * (2 * d + 2 * d * d + 2 * d * kv + 3 * d * f) + d + h[6] * hd + (h[5] < 0 ? V * d : 0);
    size_t n = 28 + (size_t)floats * 4 + (size_t)extra;
    uint8_t *buf = calloc(1, n + 4);
    memcpy(buf, h, 28);
    for (int64_t i = 0; 28 + (size_t)i * 4 + 4 <= n; i++) {
        float v = (float)i;
        memcpy(buf + 28 + i * 4, &v, 4);
    }
    spit(path, buf, n);
    free(buf);
    return n;
}

START_TEST(llama2c_synthetic_and_corrupt) {
    char dir[256], path[512];
    make_dir(dir, sizeof dir);
    path_in(path, sizeof path, dir, "sep.bin");
    const int32_t h[7] = {16, 24, 2, 4, 2, -40, 10};
    size_t size = write_llama2c(path, h, 0);
    mn_llama2c m;
    mn_clear_error();
    ck_assert_msg(mn_llama2c_open(path, &m) == 0, "%s", mn_last_error());
    ck_assert(!m.shared_classifier);
    ck_assert_int_eq(m.vocab_size, 40);
    ck_assert_int_eq(m.n_tensors, 3 + 9 * 2);
    const mn_tensor *out = mn_llama2c_find(&m, "output.weight");
    ck_assert_ptr_nonnull(out);
    ck_assert(out->ne[0] == 16 && out->ne[1] == 40 && out->nbytes == 16 * 40 * 4);
    ck_assert_int_eq((const uint8_t *)out->data + out->nbytes - (const uint8_t *)m.file.data, size);
    /* values: the output matrix starts right after the freq tables (10 x 4 floats) */
    const mn_tensor *norm = mn_llama2c_find(&m, "output_norm.weight");
    float first;
    memcpy(&first, out->data, 4);
    float norm0;
    memcpy(&norm0, norm->data, 4);
    ck_assert(first == norm0 + 16 + 10 * 4);
    const mn_tensor *k1 = mn_llama2c_find(&m, "blk.1.attn_k.weight");
    ck_assert(k1->ne[0] == 16 && k1->ne[1] == 8);
    memcpy(&first, k1->data, 4);
    /* embd 640, attn_norm 2x16, attn_q 2x256, attn_k of layer 0: 128 */
    ck_assert(first == 640 + 32 + 512 + 128);
    mn_llama2c_close(&m);

    /* shared classifier: no output.weight */
    const int32_t hs[7] = {16, 24, 2, 4, 2, 40, 10};
    write_llama2c(path, hs, 0);
    ck_assert_int_eq(mn_llama2c_open(path, &m), 0);
    ck_assert(m.shared_classifier && !mn_llama2c_find(&m, "output.weight"));
    mn_llama2c_close(&m);

    /* wrong sizes */
    const long extras[] = {-4, -1, 4, 1, 40 * 16 * 4};
    for (size_t i = 0; i < sizeof extras / sizeof extras[0]; i++) {
        write_llama2c(path, hs, extras[i]);
        ck_assert_int_eq(mn_llama2c_open(path, &m), -1);
        expect_error(path, "bytes");
        ck_assert_ptr_null(m.tensors);
    }
    spit(path, hs, 20);
    ck_assert_int_eq(mn_llama2c_open(path, &m), -1);
    expect_error(path, "short");
    spit(path, "", 0);
    ck_assert_int_eq(mn_llama2c_open(path, &m), -1);
    expect_error(path, NULL);
    /* implausible headers */
    const int32_t bad[][7] = {
        {0, 24, 2, 4, 2, 40, 10},      {16, 24, -2, 4, 2, 40, 10},   {16, 24, 2, 0, 2, 40, 10},
        {16, 24, 2, 4, 0, 40, 10},     {16, 24, 2, 4, 2, 0, 10},     {16, 24, 2, 4, 2, INT32_MIN, 10},
        {16, 24, 2, 4, 2, 40, 0},      {16, 0, 2, 4, 2, 40, 10},     {1 << 20, 24, 2, 4, 2, 40, 10},
        {16, 24, 2, 4, 2, 40, 1 << 30}, {16, 24, 2, 3, 3, 40, 10},   {16, 24, 2, 4, 3, 40, 10},
        {16, 24, 2, 4, 8, 40, 10},     {12, 24, 2, 4, 2, 40, 10},    {-16, 24, 2, 4, 2, 40, 10},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        /* the header is judged before the file size, so a header and some floats will do */
        uint8_t buf[28 + 4096] = {0};
        memcpy(buf, bad[i], 28);
        spit(path, buf, sizeof buf);
        mn_clear_error();
        ck_assert_msg(mn_llama2c_open(path, &m) == -1, "header %zu accepted", i);
        expect_error(path, "header");
        ck_assert_ptr_null(m.tensors);
    }
    /* the versioned export ("ak42" magic) */
    int32_t v1[64] = {0x616b3432, 1, 16, 24, 2, 4, 2};
    spit(path, v1, sizeof v1);
    ck_assert_int_eq(mn_llama2c_open(path, &m), -1);
    expect_error(path, "version");
    path_in(path, sizeof path, dir, "missing.bin");
    ck_assert_int_eq(mn_llama2c_open(path, &m), -1);
    expect_error(path, NULL);
}
END_TEST

/* ---------------------------------------------------------------- suite */

static Suite *make_suite(void) {
    Suite *s = suite_create("formats");
    TCase *tc = tcase_create("gguf");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
    tcase_add_test(tc, gguf_every_metadata_type);
    tcase_add_test(tc, gguf_writer_round_trip);
    tcase_add_test(tc, gguf_writer_replace_and_remove_keys);
    tcase_add_test(tc, gguf_writer_misuse);
    tcase_add_test(tc, gguf_copy_kv_real_vocab);
    tcase_add_test(tc, gguf_truncated_at_every_byte);
    tcase_add_test(tc, gguf_bad_headers);
    tcase_add_test(tc, gguf_bad_metadata);
    tcase_add_test(tc, gguf_bad_tensor_infos);
    suite_add_tcase(s, tc);

    tc = tcase_create("safetensors");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
    tcase_add_test(tc, safetensors_writer_round_trip);
    tcase_add_test(tc, safetensors_sharded_dir);
    tcase_add_test(tc, safetensors_corrupt_files);
    tcase_add_test(tc, safetensors_corrupt_dirs);
    tcase_add_test(tc, safetensors_empty_tensors);
    tcase_add_test(tc, writers_full_disk);
    suite_add_tcase(s, tc);

    tc = tcase_create("hf_config");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
    tcase_add_test(tc, hf_config_real_file);
    tcase_add_test(tc, hf_config_defaults_and_rope);
    tcase_add_test(tc, hf_config_invalid);
    tcase_add_test(tc, hf_config_write_read);
    suite_add_tcase(s, tc);

    tc = tcase_create("llama2c");
    tcase_set_timeout(tc, 60);
    tcase_add_unchecked_fixture(tc, scratch_setup, scratch_teardown);
    tcase_add_test(tc, llama2c_stories260k);
    tcase_add_test(tc, llama2c_synthetic_and_corrupt);
    suite_add_tcase(s, tc);
    return s;
}

MN_UNIT_MAIN

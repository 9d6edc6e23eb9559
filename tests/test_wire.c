#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"
#include "wire.h"

#include "packed.h"

static wire_msg_t *parse_ok(const void *data, size_t n)
{
    char err[256] = "";
    wire_status_t st = WIRE_MALFORMED;
    wire_msg_t *msg = wire_parse(data, n, &st, err, sizeof err);
    if (!msg)
        fail_msg("rejected: %s", err);
    assert_int_equal(st, WIRE_OK);
    return msg;
}

static void expect_reject(const void *data, size_t n, wire_status_t want, const char *needle)
{
    char err[256] = "";
    wire_status_t st = WIRE_OK;
    wire_msg_t *msg = wire_parse(data, n, &st, err, sizeof err);
    assert_null(msg);
    assert_int_equal(st, want);
    if (!strstr(err, needle))
        fail_msg("error \"%s\" lacks \"%s\"", err, needle);
}

static void expect_packed_reject(struct packed *b, wire_status_t want, const char *needle)
{
    expect_reject(b->sb.data, b->sb.size, want, needle);
    msgpack_sbuffer_destroy(&b->sb);
}

static void assert_str(const wire_msg_t *msg, const char *key, const char *want)
{
    const char *s;
    size_t n;
    assert_int_equal(wire_str(msg, key, &s, &n, 4096), WIRE_OK);
    assert_int_equal(n, strlen(want));
    assert_memory_equal(s, want, n);
}

/* A request like a gateway sends, with a nested payload. */
static void pack_request(struct packed *b)
{
    packed_init(b);
    msgpack_pack_map(&b->pk, 6);
    wire_kv_cstr(&b->pk, "topic", "city.snow.street");
    wire_kv_cstr(&b->pk, "text", "درخواست برف روبی");
    wire_kv_uint(&b->pk, "priority", 3);
    wire_kv_bool(&b->pk, "urgent", true);
    wire_kv_str(&b->pk, "client_ref", "می\u200cخواهم-17", strlen("می\u200cخواهم-17"));
    wire_pack_cstr(&b->pk, "payload");
    msgpack_pack_map(&b->pk, 2);
    wire_kv_cstr(&b->pk, "place", "تهران، منطقه ۳");
    wire_pack_cstr(&b->pk, "tags");
    msgpack_pack_array(&b->pk, 4);
    wire_pack_cstr(&b->pk, "برف");
    msgpack_pack_int(&b->pk, -5);
    msgpack_pack_nil(&b->pk);
    msgpack_pack_double(&b->pk, 1.5);
}

static void test_round_trip(void **state)
{
    (void)state;
    struct packed b;
    pack_request(&b);
    wire_msg_t *msg = parse_ok(b.sb.data, b.sb.size);
    /* the message keeps its own copy of the bytes */
    memset(b.sb.data, 0, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);

    assert_int_equal(wire_root(msg)->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(wire_root(msg)->via.map.size, 6);
    assert_str(msg, "topic", "city.snow.street");
    assert_str(msg, "text", "درخواست برف روبی");
    assert_str(msg, "client_ref", "می\u200cخواهم-17");
    uint64_t priority = 0;
    assert_int_equal(wire_uint(msg, "priority", &priority), WIRE_OK);
    assert_int_equal(priority, 3);
    bool urgent = false;
    assert_int_equal(wire_bool(msg, "urgent", &urgent), WIRE_OK);
    assert_true(urgent);

    const msgpack_object *payload = wire_get(msg, "payload");
    assert_non_null(payload);
    const char *s;
    size_t n;
    assert_int_equal(wire_obj_str(wire_obj_get(payload, "place"), &s, &n, 100), WIRE_OK);
    assert_memory_equal(s, "تهران، منطقه ۳", n);
    const msgpack_object *tags = wire_obj_get(payload, "tags");
    assert_non_null(tags);
    assert_int_equal(tags->type, MSGPACK_OBJECT_ARRAY);
    assert_int_equal(tags->via.array.size, 4);
    assert_int_equal(wire_obj_str(&tags->via.array.ptr[0], &s, &n, 100), WIRE_OK);
    assert_memory_equal(s, "برف", n);
    assert_int_equal(tags->via.array.ptr[1].type, MSGPACK_OBJECT_NEGATIVE_INTEGER);
    assert_int_equal(tags->via.array.ptr[2].type, MSGPACK_OBJECT_NIL);
    assert_int_equal(tags->via.array.ptr[3].type, MSGPACK_OBJECT_FLOAT64);
    assert_null(wire_obj_get(payload, "absent"));
    assert_null(wire_obj_get(tags, "place"));
    assert_null(wire_get(msg, "top"));
    wire_msg_destroy(&msg);
    assert_null(msg);
    wire_msg_destroy(&msg);
}

static void pack_bytes(struct packed *b, size_t n, char fill)
{
    char *bytes = malloc(n);
    assert_non_null(bytes);
    memset(bytes, fill, n);
    msgpack_pack_bin(&b->pk, n);
    msgpack_pack_bin_body(&b->pk, bytes, n);
    wire_pack_str(&b->pk, bytes, n);
    free(bytes);
}

static void pack_ext(struct packed *b, size_t n)
{
    static const char body[300];
    msgpack_pack_ext(&b->pk, n, 7);
    msgpack_pack_ext_body(&b->pk, body, n);
}

/* One value in every msgpack format the scanner knows. */
static void test_every_format(void **state)
{
    (void)state;
    struct packed b;
    packed_init(&b);
    msgpack_pack_map(&b.pk, 5);
    wire_pack_cstr(&b.pk, "scalars");
    msgpack_pack_array(&b.pk, 16);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_true(&b.pk);
    msgpack_pack_false(&b.pk);
    msgpack_pack_int(&b.pk, 7);
    msgpack_pack_int(&b.pk, -7);
    msgpack_pack_fix_uint8(&b.pk, 200);
    msgpack_pack_fix_uint16(&b.pk, 60000);
    msgpack_pack_fix_uint32(&b.pk, 4000000000u);
    msgpack_pack_fix_uint64(&b.pk, UINT64_MAX);
    msgpack_pack_fix_int8(&b.pk, -100);
    msgpack_pack_fix_int16(&b.pk, -30000);
    msgpack_pack_fix_int32(&b.pk, -2000000000);
    msgpack_pack_fix_int64(&b.pk, INT64_MIN);
    msgpack_pack_float(&b.pk, 0.5f);
    msgpack_pack_double(&b.pk, -0.25);
    msgpack_pack_fix_int8(&b.pk, 5); /* non-negative in a signed format */
    wire_pack_cstr(&b.pk, "raw");
    msgpack_pack_array(&b.pk, 8 + 8);
    pack_bytes(&b, 31, 'a');    /* bin8, fixstr */
    pack_bytes(&b, 200, 'b');   /* bin8, str8 */
    pack_bytes(&b, 300, 'c');   /* bin16, str16 */
    pack_bytes(&b, 70000, 'd'); /* bin32, str32 */
    for (size_t n = 1; n <= 16; n *= 2)
        pack_ext(&b, n); /* fixext 1..16 */
    pack_ext(&b, 3);   /* ext8 */
    pack_ext(&b, 290); /* ext16 */
    msgpack_pack_array(&b.pk, 0);
    wire_pack_cstr(&b.pk, "array16");
    msgpack_pack_array(&b.pk, 16);
    for (int i = 0; i < 16; i++)
        msgpack_pack_int(&b.pk, i);
    wire_pack_cstr(&b.pk, "array32");
    msgpack_pack_array(&b.pk, 70000);
    for (int i = 0; i < 70000; i++)
        msgpack_pack_nil(&b.pk);
    wire_pack_cstr(&b.pk, "map16");
    msgpack_pack_map(&b.pk, 16);
    for (int i = 0; i < 16; i++) {
        msgpack_pack_int(&b.pk, i); /* non-str keys are fine below the top */
        msgpack_pack_map(&b.pk, 0);
    }

    wire_msg_t *msg = parse_ok(b.sb.data, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);
    const msgpack_object *scalars = wire_get(msg, "scalars");
    assert_int_equal(scalars->via.array.ptr[8].via.u64, UINT64_MAX);
    assert_int_equal(scalars->via.array.ptr[13].type, MSGPACK_OBJECT_FLOAT32);
    assert_int_equal(scalars->via.array.ptr[15].type, MSGPACK_OBJECT_POSITIVE_INTEGER);
    const msgpack_object *raw = wire_get(msg, "raw");
    assert_int_equal(raw->via.array.ptr[7].via.str.size, 70000);
    assert_int_equal(raw->via.array.ptr[14].type, MSGPACK_OBJECT_EXT);
    assert_int_equal(wire_get(msg, "array32")->via.array.size, 70000);
    assert_int_equal(wire_get(msg, "map16")->via.map.size, 16);
    wire_msg_destroy(&msg);
}

static void test_ext32(void **state)
{
    (void)state;
    static const unsigned char ext32[] = {0x81, 0xa1, 'e', 0xc9, 0, 0, 0, 2, 9, 'x', 'y'};
    wire_msg_t *msg = parse_ok(ext32, sizeof ext32);
    assert_int_equal(wire_get(msg, "e")->type, MSGPACK_OBJECT_EXT);
    wire_msg_destroy(&msg);
}

static void test_getter_types(void **state)
{
    (void)state;
    struct packed b;
    packed_init(&b);
    msgpack_pack_map(&b.pk, 4);
    wire_kv_cstr(&b.pk, "s", "سلام");
    wire_kv_uint(&b.pk, "u", 42);
    wire_kv_bool(&b.pk, "b", false);
    wire_pack_cstr(&b.pk, "neg");
    msgpack_pack_int64(&b.pk, -1);
    wire_msg_t *msg = parse_ok(b.sb.data, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);

    const char *s = NULL;
    size_t n = 0;
    uint64_t u = 99;
    bool flag = true;
    assert_int_equal(wire_str(msg, "u", &s, &n, 10), WIRE_BAD_TYPE);
    assert_int_equal(wire_str(msg, "b", &s, &n, 10), WIRE_BAD_TYPE);
    assert_int_equal(wire_str(msg, "none", &s, &n, 10), WIRE_ABSENT);
    assert_int_equal(wire_str(msg, "s", &s, &n, 7), WIRE_TOO_LONG);
    assert_null(s);
    assert_int_equal(wire_str(msg, "s", &s, &n, 8), WIRE_OK);
    assert_int_equal(n, 8);
    assert_int_equal(wire_uint(msg, "s", &u), WIRE_BAD_TYPE);
    assert_int_equal(wire_uint(msg, "b", &u), WIRE_BAD_TYPE);
    assert_int_equal(wire_uint(msg, "neg", &u), WIRE_BAD_TYPE);
    assert_int_equal(wire_uint(msg, "none", &u), WIRE_ABSENT);
    assert_int_equal(u, 99);
    assert_int_equal(wire_uint(msg, "u", &u), WIRE_OK);
    assert_int_equal(u, 42);
    assert_int_equal(wire_bool(msg, "u", &flag), WIRE_BAD_TYPE);
    assert_int_equal(wire_bool(msg, "s", &flag), WIRE_BAD_TYPE);
    assert_int_equal(wire_bool(msg, "none", &flag), WIRE_ABSENT);
    assert_true(flag);
    assert_int_equal(wire_bool(msg, "b", &flag), WIRE_OK);
    assert_false(flag);
    assert_int_equal(wire_obj_str(NULL, &s, &n, 10), WIRE_ABSENT);
    assert_null(wire_obj_get(NULL, "s"));
    assert_null(wire_obj_get(wire_get(msg, "u"), "s"));
    wire_msg_destroy(&msg);
}

static void test_status_codes(void **state)
{
    (void)state;
    assert_string_equal(wire_status_code(WIRE_OK), "ok");
    assert_string_equal(wire_status_code(WIRE_ABSENT), "bad_field");
    assert_string_equal(wire_status_code(WIRE_MALFORMED), "malformed");
    assert_string_equal(wire_status_code(WIRE_BAD_TYPE), "bad_field");
    assert_string_equal(wire_status_code(WIRE_TOO_LONG), "too_large");
    assert_string_equal(wire_status_code(WIRE_BAD_UTF8), "bad_utf8");
}

static void test_every_truncation(void **state)
{
    (void)state;
    struct packed b;
    pack_request(&b);
    for (size_t n = 1; n < b.sb.size; n++)
        expect_reject(b.sb.data, n, WIRE_MALFORMED, "offset");
    msgpack_sbuffer_destroy(&b.sb);
}

static void test_trailing_bytes(void **state)
{
    (void)state;
    struct packed b;
    pack_request(&b);
    msgpack_pack_nil(&b.pk);
    msgpack_pack_nil(&b.pk);
    expect_packed_reject(&b, WIRE_MALFORMED, "2 trailing bytes after the message");
}

/* Hand-made frames; the strings are split where a hex escape would
 * otherwise swallow the letter after it. */
struct raw_case {
    const char *bytes;
    size_t size;
    wire_status_t status;
    const char *needle;
};
#define RAW(bytes, status, needle) {bytes, sizeof bytes - 1, status, needle}

static const struct raw_case raw_rejections[] = {
    RAW("", WIRE_MALFORMED, "empty frame"),
    /* the top is not a map */
    RAW("\x91\x01", WIRE_MALFORMED, "message is of type array, not a map"),
    RAW("\xa1x", WIRE_MALFORMED, "of type str"),
    RAW("\xc0", WIRE_MALFORMED, "not a map"),
    RAW("\x05", WIRE_MALFORMED, "not a map"),
    RAW("\x81\xa1" "a\xc1", WIRE_MALFORMED, "reserved type byte 0xc1 at offset 3"),
    /* top-level keys that are not str */
    RAW("\x81\x01\x02", WIRE_MALFORMED, "of type scalar, not str"),
    RAW("\x81\xc4\x01k\x02", WIRE_MALFORMED, "top-level key at offset 1 is of type bin"),
    /* counts and lengths past the end of a tiny frame: 5 bytes asking for 2^32-1 pairs */
    RAW("\xdf\xff\xff\xff\xff", WIRE_MALFORMED, "map count 4294967295 exceeds the 0 bytes left at offset 0"),
    RAW("\x81\xa1" "a\xdc\xff\xff", WIRE_MALFORMED, "array count 65535 exceeds the 0 bytes left at offset 3"),
    RAW("\x81\xa1" "a\xa5" "abc", WIRE_MALFORMED, "str length 5 exceeds the 3 bytes left at offset 3"),
    RAW("\x81\xa5" "ab", WIRE_MALFORMED, "str length 5 exceeds the 2 bytes left at offset 1"),
    RAW("\x81\xa1" "a\xdd\xff\xff\xff\xff\0\0\0", WIRE_MALFORMED,
        "array count 4294967295 exceeds the 3 bytes left at offset 3"),
    RAW("\xdf\xff\xff\xff\xff\xa1" "a\0", WIRE_MALFORMED, "map count 4294967295 exceeds"),
    RAW("\x81\xa1" "a\xde\x00\x02\x01\x02\x03", WIRE_MALFORMED, "map count 2 exceeds the 3 bytes left"),
    RAW("\x81\xa1" "a\x93\x01\x02", WIRE_MALFORMED, "array count 3 exceeds"),
    RAW("\x81\xa1" "a\xdb\xff\xff\xff\xffx", WIRE_MALFORMED, "str length 4294967295 exceeds the 1 bytes"),
    RAW("\x81\xa1" "a\xc6\x7f\xff\xff\xffx", WIRE_MALFORMED, "bin length 2147483647 exceeds"),
    RAW("\x81\xa1" "a\xc9\xff\xff\xff\xff\x01", WIRE_MALFORMED, "ext length 4294967296 exceeds"),
    RAW("\x81\xa1" "a\xdd\xff\xff", WIRE_MALFORMED, "truncated header at offset 3"),
    /* invalid UTF-8: a nested surrogate, an overlong key, a nested key, NUL */
    RAW("\x81\xa1" "a\x92\x01\xa3\xed\xa0\x80", WIRE_BAD_UTF8, "invalid UTF-8 in string at offset 5"),
    RAW("\x81\xa2\xc0\xaf\x01", WIRE_BAD_UTF8, "invalid UTF-8 in string at offset 1"),
    RAW("\x81\xa1m\x81\xa1\xff\x01", WIRE_BAD_UTF8, "at offset 4"),
    RAW("\x81\xa1" "a\xa3x\0y", WIRE_BAD_UTF8, "invalid UTF-8"),
};

static void test_raw_rejections(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof raw_rejections / sizeof raw_rejections[0]; i++) {
        const struct raw_case *c = &raw_rejections[i];
        expect_reject(c->bytes, c->size, c->status, c->needle);
    }
}

static void test_duplicate_key(void **state)
{
    (void)state;
    struct packed b;
    packed_init(&b);
    msgpack_pack_map(&b.pk, 3);
    wire_kv_cstr(&b.pk, "topic", "a");
    wire_kv_uint(&b.pk, "topics", 1);
    wire_kv_cstr(&b.pk, "topic", "b");
    expect_packed_reject(&b, WIRE_MALFORMED, "top-level key \"topic\" repeated");
}

/* mizd sends the reason back and logs it as one line: a key's control
 * characters and quotes are not quoted as they are. */
static void test_duplicate_key_quoted_safely(void **state)
{
    (void)state;
    static const char key[] = "a\nb\"c\x7f\td";
    struct packed b;
    packed_init(&b);
    msgpack_pack_map(&b.pk, 2);
    wire_kv_uint(&b.pk, key, 1);
    wire_kv_uint(&b.pk, key, 2);
    expect_packed_reject(&b, WIRE_MALFORMED, "top-level key \"a?b?c??d\" repeated");
}

/* A container may announce as many elements as there are bytes left, and
 * non-minimal headers are fine. */
static void test_count_boundary(void **state)
{
    (void)state;
    static const char exact[] = "\x81\xa1" "a\xdc\x00\x03\xc0\xc0\xc0";
    wire_msg_t *msg = parse_ok(exact, sizeof exact - 1);
    assert_int_equal(wire_get(msg, "a")->via.array.size, 3);
    wire_msg_destroy(&msg);
    static const char pairs[] = "\x81\xa1" "a\xde\x00\x02\x01\x02\x03\x04";
    msg = parse_ok(pairs, sizeof pairs - 1);
    assert_int_equal(wire_get(msg, "a")->via.map.size, 2);
    wire_msg_destroy(&msg);
    expect_reject("\x81\xa1" "a\xdc\x00\x04\xc0\xc0\xc0", 9, WIRE_MALFORMED,
                  "array count 4 exceeds the 3 bytes left at offset 3");
    expect_reject("\x81\xa1" "a\xde\x00\x03\x01\x02\x03\x04\x05", 11, WIRE_MALFORMED,
                  "map count 3 exceeds the 5 bytes left at offset 3");
}

/* A long key is quoted in part, never cut inside a character. */
static void test_duplicate_long_key(void **state)
{
    (void)state;
    char key[2 * 40 + 2] = "x";
    for (int i = 0; i < 40; i++)
        strcat(key, "ب");
    struct packed b;
    packed_init(&b);
    msgpack_pack_map(&b.pk, 2);
    wire_kv_uint(&b.pk, key, 1);
    wire_kv_uint(&b.pk, key, 2);
    char err[256] = "";
    wire_status_t st = WIRE_OK;
    assert_null(wire_parse(b.sb.data, b.sb.size, &st, err, sizeof err));
    msgpack_sbuffer_destroy(&b.sb);
    assert_int_equal(st, WIRE_MALFORMED);
    assert_true(utf8_valid(err, strlen(err)));
    assert_non_null(strstr(err, "\"xببب"));
    assert_non_null(strstr(err, "ب...\" repeated"));
    assert_null(strstr(err, key));
}

static void test_quote(void **state)
{
    (void)state;
    char q[WIRE_QUOTE_SIZE], s[100];
    assert_string_equal(wire_quote("", 0, q), "");
    assert_string_equal(wire_quote("t\n1\x1b" "2\"3\x7f" "4", 9, q), "t?1?2?3?4");
    memset(s, 'a', sizeof s);
    assert_int_equal(strlen(wire_quote(s, 64, q)), 64);
    assert_string_equal(wire_quote(s, 65, q) + 64, "...");
    /* "a" and 40 two-byte letters: byte 64 is the second of a letter */
    char persian[1 + 2 * 40 + 1] = "a";
    for (int i = 0; i < 40; i++)
        strcat(persian, "ب");
    wire_quote(persian, strlen(persian), q);
    assert_int_equal(strlen(q), 63 + 3);
    assert_true(utf8_valid(q, strlen(q)));
    assert_string_equal(q + 63, "...");
}

/* Past the stack buffer the keys are sorted in a heap one. */
static void pack_many_keys(struct packed *b, size_t keys, const char *extra)
{
    packed_init(b);
    msgpack_pack_map(&b->pk, keys + (extra != NULL));
    for (size_t i = 0; i < keys; i++) {
        char key[24];
        snprintf(key, sizeof key, "k%zu", i);
        wire_kv_uint(&b->pk, key, i);
    }
    if (extra)
        wire_kv_uint(&b->pk, extra, 0);
}

static void test_many_keys(void **state)
{
    (void)state;
    struct packed b;
    pack_many_keys(&b, 100, NULL);
    wire_msg_t *msg = parse_ok(b.sb.data, b.sb.size);
    msgpack_sbuffer_destroy(&b.sb);
    uint64_t v = 0;
    assert_int_equal(wire_uint(msg, "k99", &v), WIRE_OK);
    assert_int_equal(v, 99);
    wire_msg_destroy(&msg);

    pack_many_keys(&b, 100, "k57");
    expect_packed_reject(&b, WIRE_MALFORMED, "top-level key \"k57\" repeated");
    /* either side of where comparing pairs gives way to sorting */
    pack_many_keys(&b, 15, "k0");
    expect_packed_reject(&b, WIRE_MALFORMED, "top-level key \"k0\" repeated");
    pack_many_keys(&b, 16, "k0");
    expect_packed_reject(&b, WIRE_MALFORMED, "top-level key \"k0\" repeated");
}

/* {"a": [[...[nil]...]]}: the top map plus arrays levels of arrays. */
static void pack_nested(struct packed *b, int arrays)
{
    packed_init(b);
    msgpack_pack_map(&b->pk, 1);
    wire_pack_cstr(&b->pk, "a");
    for (int i = 0; i < arrays; i++)
        msgpack_pack_array(&b->pk, 1);
    msgpack_pack_nil(&b->pk);
}

static void test_depth(void **state)
{
    (void)state;
    struct packed b;
    pack_nested(&b, WIRE_MAX_DEPTH - 1);
    wire_msg_t *msg = parse_ok(b.sb.data, b.sb.size);
    wire_msg_destroy(&msg);
    msgpack_sbuffer_destroy(&b.sb);

    pack_nested(&b, WIRE_MAX_DEPTH);
    expect_packed_reject(&b, WIRE_MALFORMED, "nesting deeper than 8");
    pack_nested(&b, 1000);
    expect_packed_reject(&b, WIRE_MALFORMED, "nesting deeper than 8");
}

/* Maps count as containers too: {"a": {"a": ... nil}}. */
static void test_depth_maps(void **state)
{
    (void)state;
    static const unsigned char map_a[3] = {0x81, 0xa1, 'a'}; /* {"a": ...} */
    unsigned char frame[3 * (WIRE_MAX_DEPTH + 1) + 1];
    for (int maps = WIRE_MAX_DEPTH; maps <= WIRE_MAX_DEPTH + 1; maps++) {
        size_t n = 0;
        for (int i = 0; i < maps; i++, n += sizeof map_a)
            memcpy(frame + n, map_a, sizeof map_a);
        frame[n++] = 0xc0;
        if (maps == WIRE_MAX_DEPTH) {
            wire_msg_t *msg = parse_ok(frame, n);
            wire_msg_destroy(&msg);
        } else {
            expect_reject(frame, n, WIRE_MALFORMED, "nesting deeper than 8 at offset 24");
        }
    }
}

static void test_null_error_buffer(void **state)
{
    (void)state;
    wire_status_t st = WIRE_OK;
    assert_null(wire_parse("", 0, &st, NULL, 0));
    assert_int_equal(st, WIRE_MALFORMED);
    char tiny[4];
    assert_null(wire_parse("\x91", 1, &st, tiny, sizeof tiny));
    assert_int_equal(strlen(tiny), 3);
}

/* a and b pack to the same bytes. */
static void packed_same(const msgpack_object *a, const msgpack_object *b)
{
    struct packed pa, pb;
    packed_init(&pa);
    packed_init(&pb);
    msgpack_pack_object(&pa.pk, *a);
    msgpack_pack_object(&pb.pk, *b);
    assert_int_equal(pa.sb.size, pb.sb.size);
    assert_memory_equal(pa.sb.data, pb.sb.data, pa.sb.size);
    msgpack_sbuffer_destroy(&pa.sb);
    msgpack_sbuffer_destroy(&pb.sb);
}

/* Parses or rejects with a reason; under ASan, also never misbehaves.
 * wire_parse_in, in place in one zone reused, agrees with wire_parse.
 * True when the bytes parsed. */
static bool parse_any(const unsigned char *data, size_t n)
{
    static msgpack_zone *zone;
    if (!zone)
        assert_non_null(zone = msgpack_zone_new(MSGPACK_ZONE_CHUNK_SIZE)); /* freed at exit */
    char err[256] = "", err_in[256] = "";
    wire_status_t st = WIRE_OK, st_in = WIRE_OK;
    wire_msg_t *msg = wire_parse(data, n, &st, err, sizeof err);
    wire_msg_t *in = wire_parse_in(data, n, zone, &st_in, err_in, sizeof err_in);
    assert_int_equal(st_in, st);
    assert_string_equal(err_in, err);
    if (msg) {
        assert_int_equal(st, WIRE_OK);
        assert_int_equal(wire_root(msg)->type, MSGPACK_OBJECT_MAP);
        packed_same(wire_root(in), wire_root(msg)); /* NaN != NaN: compare bytes */
        wire_msg_destroy(&msg);
        msgpack_zone_clear(zone);
        return true;
    }
    assert_null(in);
    msgpack_zone_clear(zone);
    assert_int_not_equal(st, WIRE_OK);
    assert_true(err[0] != '\0');
    return false;
}

static void test_random_bytes(void **state)
{
    (void)state;
    unsigned char buf[64];
    srand(20250321);
    for (int round = 0; round < 100000; round++) {
        size_t n = (size_t)rand() % (sizeof buf + 1);
        for (size_t i = 0; i < n; i++)
            buf[i] = (unsigned char)rand();
        if (n > 0 && round % 2 == 0)
            buf[0] = (unsigned char)(0x80 | (buf[0] & 0x0f)); /* a fixmap, to get further in */
        parse_any(buf, n);
    }
}

static void test_mutations(void **state)
{
    (void)state;
    struct packed b;
    pack_request(&b);
    unsigned char *buf = malloc(b.sb.size);
    assert_non_null(buf);
    int parsed = 0;
    srand(1404);
    for (int round = 0; round < 100000; round++) {
        memcpy(buf, b.sb.data, b.sb.size);
        int edits = 1 + rand() % 4;
        for (int e = 0; e < edits; e++)
            buf[(size_t)rand() % b.sb.size] = (unsigned char)rand();
        size_t n = round % 4 == 0 ? (size_t)rand() % (b.sb.size + 1) : b.sb.size;
        parsed += parse_any(buf, n);
    }
    /* both outcomes are exercised: edits inside strings keep the frame valid */
    assert_in_range(parsed, 1000, 99000);
    free(buf);
    msgpack_sbuffer_destroy(&b.sb);
}


/* A counted map has the count of its entries, in the smallest header, and
 * nests: 3 entries (fixmap), 20 (map 16) with a counted map inside. */
static void test_counted_maps(void **state)
{
    (void)state;
    struct packed b;
    packed_init(&b);
    wire_map_t m, inner;
    wire_map_begin(&m, &b.pk);
    wire_map_cstr(&m, "type", "ok");
    wire_map_uint(&m, "delivery", 7);
    wire_map_opt_cstr(&m, "note", NULL);
    wire_map_end(&m);
    assert_int_equal((unsigned char)b.sb.data[0], 0x83);
    wire_msg_t *msg = parse_ok(b.sb.data, b.sb.size);
    uint64_t v = 0;
    assert_int_equal(wire_uint(msg, "delivery", &v), WIRE_OK);
    assert_int_equal(v, 7);
    assert_int_equal(wire_root(msg)->via.map.size, 3);
    wire_msg_destroy(&msg);

    msgpack_sbuffer_clear(&b.sb);
    wire_map_begin(&m, &b.pk);
    char key[8];
    for (int i = 0; i < 19; i++) {
        snprintf(key, sizeof key, "k%d", i);
        wire_map_bool(&m, key, i % 2);
    }
    wire_map_begin(&inner, wire_map_key(&m, "inner"));
    wire_map_str(&inner, "topic", "city.snow", 9);
    wire_map_end(&inner);
    wire_map_end(&m);
    assert_int_equal((unsigned char)b.sb.data[0], 0xde);
    msg = parse_ok(b.sb.data, b.sb.size);
    assert_int_equal(wire_root(msg)->via.map.size, 20);
    const msgpack_object *o = wire_get(msg, "inner");
    assert_non_null(o);
    assert_int_equal(o->type, MSGPACK_OBJECT_MAP);
    assert_int_equal(o->via.map.size, 1);
    wire_msg_destroy(&msg);
    msgpack_sbuffer_destroy(&b.sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_every_format),
        cmocka_unit_test(test_ext32),
        cmocka_unit_test(test_getter_types),
        cmocka_unit_test(test_status_codes),
        cmocka_unit_test(test_every_truncation),
        cmocka_unit_test(test_trailing_bytes),
        cmocka_unit_test(test_raw_rejections),
        cmocka_unit_test(test_duplicate_key),
        cmocka_unit_test(test_duplicate_key_quoted_safely),
        cmocka_unit_test(test_count_boundary),
        cmocka_unit_test(test_duplicate_long_key),
        cmocka_unit_test(test_quote),
        cmocka_unit_test(test_many_keys),
        cmocka_unit_test(test_depth),
        cmocka_unit_test(test_depth_maps),
        cmocka_unit_test(test_null_error_buffer),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_mutations),
        cmocka_unit_test(test_counted_maps),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Unit tests of what wire writes in place and reads without unpacking,
 * apart from test_wire.c (the decoder, the counted maps' headers): the
 * short entries of a counted map, written straight into its buffer, must
 * come out as msgpack-c's own packer writes them; one bin of a stored array
 * (a record's payload) is found without unpacking the rest. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "packed.h"
#include "wire.h"

/* The entries written in place are the bytes msgpack-c's packer writes:
 * every width of uint, bools, nil, short and long strings and keys. */
static void test_map_entries_as_packer(void **state)
{
    (void)state;
    static const uint64_t uints[] = {0, 127, 128, 255, 256, 65535, 65536, UINT32_MAX,
                                     (uint64_t)UINT32_MAX + 1, UINT64_MAX};
    const char *long_key = "a key of thirty-two bytes or more";
    const char *long_str = "a string value of thirty-two bytes or more";
    for (int long_keys = 0; long_keys < 2; long_keys++) {
        const char *key = long_keys ? long_key : "k";
        struct packed got, want;
        packed_init(&got);
        packed_init(&want);
        wire_map_t m;
        wire_map_begin(&m, &got.pk);
        size_t entries = sizeof uints / sizeof uints[0] + 5;
        msgpack_pack_map(&want.pk, entries);
        for (size_t i = 0; i < sizeof uints / sizeof uints[0]; i++) {
            wire_map_uint(&m, key, uints[i]);
            wire_pack_cstr(&want.pk, key);
            msgpack_pack_uint64(&want.pk, uints[i]);
        }
        wire_map_bool(&m, key, true);
        wire_map_bool(&m, key, false);
        wire_map_opt_cstr(&m, key, NULL);
        wire_map_cstr(&m, key, "short");
        wire_map_cstr(&m, key, long_str);
        wire_pack_cstr(&want.pk, key);
        msgpack_pack_true(&want.pk);
        wire_pack_cstr(&want.pk, key);
        msgpack_pack_false(&want.pk);
        wire_pack_cstr(&want.pk, key);
        msgpack_pack_nil(&want.pk);
        wire_kv_cstr(&want.pk, key, "short");
        wire_kv_cstr(&want.pk, key, long_str);
        wire_map_end(&m);
        assert_int_equal(got.sb.size, want.sb.size);
        assert_memory_equal(got.sb.data, want.sb.data, want.sb.size);
        msgpack_sbuffer_destroy(&got.sb);
        msgpack_sbuffer_destroy(&want.sb);
    }
    struct packed got, want; /* past the buffer's first 8 KiB: it grows */
    packed_init(&got);
    packed_init(&want);
    wire_map_t m;
    wire_map_begin(&m, &got.pk);
    msgpack_pack_map(&want.pk, 5000);
    for (uint64_t i = 0; i < 5000; i++) {
        wire_map_uint(&m, "key", i * 977);
        wire_kv_uint(&want.pk, "key", i * 977);
    }
    wire_map_end(&m);
    assert_int_equal(got.sb.size, want.sb.size);
    assert_memory_equal(got.sb.data, want.sb.data, want.sb.size);
    msgpack_sbuffer_destroy(&got.sb);
    msgpack_sbuffer_destroy(&want.sb);
}

/* One bin of a stored array, found without unpacking: the element asked
 * for, never past the end, never another type. */
static void test_array_bin(void **state)
{
    (void)state;
    struct packed b;
    packed_init(&b);
    msgpack_pack_array(&b.pk, 3);
    msgpack_pack_uint64(&b.pk, 1ull << 40);
    msgpack_pack_map(&b.pk, 1);
    wire_kv_cstr(&b.pk, "k", "آب");
    msgpack_pack_bin(&b.pk, 3);
    msgpack_pack_bin_body(&b.pk, "abc", 3);
    const void *p;
    size_t n;
    assert_int_equal(wire_array_bin(b.sb.data, b.sb.size, 2, &p, &n), 0);
    assert_int_equal(n, 3);
    assert_memory_equal(p, "abc", 3);
    assert_int_equal(wire_array_bin(b.sb.data, b.sb.size, 1, &p, &n), -1); /* a map */
    assert_int_equal(wire_array_bin(b.sb.data, b.sb.size, 3, &p, &n), -1); /* past the end */
    for (size_t cut = 0; cut < b.sb.size; cut++) /* truncated anywhere */
        assert_int_equal(wire_array_bin(b.sb.data, cut, 2, &p, &n), -1);
    assert_int_equal(wire_array_bin("\x81\xa1k\x01", 4, 0, &p, &n), -1); /* not an array */
    msgpack_sbuffer_destroy(&b.sb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_entries_as_packer),
        cmocka_unit_test(test_array_bin),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

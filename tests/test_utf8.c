#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "utf8.h"

static bool valid_str(const char *s)
{
    return utf8_valid(s, strlen(s));
}

static void expect_all(const char *const *cases, size_t n, bool want)
{
    for (size_t i = 0; i < n; i++)
        if (valid_str(cases[i]) != want)
            fail_msg("case %zu: expected %s", i, want ? "valid" : "invalid");
}

static void test_empty_and_ascii(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(valid_str("a"));
    assert_true(valid_str("city.snow.street"));
    assert_true(valid_str("exactly 8 and then some more printable ASCII ~!@#$%^&*()_+{}"));
    assert_true(valid_str("\x01\x7f\x01\x7f\x01\x7f\x01\x7f\x01"));
}

static void test_persian(void **state)
{
    (void)state;
    assert_true(valid_str("درخواست برف روبی"));
    assert_true(valid_str("شهرداری منطقه ۳ تهران"));
    assert_true(valid_str("می\u200cخواهم")); /* ZWNJ */
    assert_true(valid_str("آب و برق: ۱۴۰۴/۰۱/۰۱ request #42"));
}

static void test_emoji(void **state)
{
    (void)state;
    assert_true(valid_str("\xf0\x9f\x98\x80"));             /* U+1F600 */
    assert_true(valid_str("snow \xe2\x9d\x84\xef\xb8\x8f ok")); /* U+2744 U+FE0F */
}

static void test_boundaries(void **state)
{
    (void)state;
    static const char *const ok[] = {
        "\x7f",             /* U+007F */
        "\xc2\x80",         /* U+0080 */
        "\xdf\xbf",         /* U+07FF */
        "\xe0\xa0\x80",     /* U+0800 */
        "\xed\x9f\xbf",     /* U+D7FF */
        "\xee\x80\x80",     /* U+E000 */
        "\xef\xbf\xbf",     /* U+FFFF */
        "\xf0\x90\x80\x80", /* U+10000 */
        "\xf4\x8f\xbf\xbf", /* U+10FFFF */
    };
    expect_all(ok, sizeof ok / sizeof ok[0], true);
}

static void test_rejections(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "\xc0\x80",             /* overlong NUL */
        "\xc1\xbf",             /* overlong 2-byte */
        "\xe0\x80\x80",         /* overlong 3-byte */
        "\xe0\x9f\xbf",         /* overlong U+07FF */
        "\xf0\x80\x80\x80",     /* overlong 4-byte */
        "\xf0\x8f\xbf\xbf",     /* overlong U+FFFF */
        "\xed\xa0\x80",         /* U+D800 */
        "\xed\xbf\xbf",         /* U+DFFF */
        "\xf4\x90\x80\x80",     /* U+110000 */
        "\xf5\x80\x80\x80",     /* F5 lead */
        "\xf8\x88\x80\x80\x80", /* 5-byte form */
        "\xff",
        "\xfe",
        "\x80",                 /* lone continuation */
        "\xbf",
        "abc\x80" "def",
        "\xc2",                 /* truncated at end */
        "\xe0\xa0",
        "\xf0\x9f\x98",
        "\xd8\xaf\xd8",         /* Persian letter then a cut one */
        "\xc2\x41",             /* continuation missing */
        "\xe2\x28\xa1",
        "\xf0\x9f\x28\x80",
    };
    expect_all(bad, sizeof bad / sizeof bad[0], false);
}

static void test_nul(void **state)
{
    (void)state;
    assert_false(utf8_valid("\0", 1));
    assert_false(utf8_valid("abc\0def", 7));
    assert_false(utf8_valid("abcdefgh\0", 9));
    assert_false(utf8_valid("abcdefghijklmno\0pqrstuvw", 24));
}

/* Every position of a bad byte, so the 8-byte fast path cannot skip it. */
static void test_bad_byte_at_every_offset(void **state)
{
    (void)state;
    char buf[40];
    static const char bad[] = {'\0', '\x80', '\xff', '\xc0'};
    for (size_t b = 0; b < sizeof bad; b++)
        for (size_t at = 0; at < sizeof buf; at++) {
            memset(buf, 'x', sizeof buf);
            buf[at] = bad[b];
            assert_false(utf8_valid(buf, sizeof buf));
            assert_true(utf8_valid(buf, at));
        }
}

/* A multi-byte character at every alignment inside ASCII. */
static void test_mixed_alignment(void **state)
{
    (void)state;
    char buf[40];
    for (size_t at = 0; at + 4 <= sizeof buf; at++) {
        memset(buf, 'y', sizeof buf);
        memcpy(buf + at, "\xf0\x9f\x98\x80", 4);
        assert_true(utf8_valid(buf, sizeof buf));
        assert_false(utf8_valid(buf, at + 3));
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty_and_ascii),
        cmocka_unit_test(test_persian),
        cmocka_unit_test(test_emoji),
        cmocka_unit_test(test_boundaries),
        cmocka_unit_test(test_rejections),
        cmocka_unit_test(test_nul),
        cmocka_unit_test(test_bad_byte_at_every_offset),
        cmocka_unit_test(test_mixed_alignment),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "duration.h"

static uint64_t parse(const char *s)
{
    uint64_t ms = 0;
    const char *why = NULL;
    if (duration_parse(s, strlen(s), &ms, &why) < 0)
        fail_msg("\"%s\" refused: %s", s, why);
    return ms;
}

static void assert_refused(const char *s, const char *expected)
{
    uint64_t ms = 12345;
    const char *why = NULL;
    assert_int_equal(duration_parse(s, strlen(s), &ms, &why), -1);
    assert_string_equal(why, expected);
    assert_int_equal(ms, 12345);
}

static void test_valid(void **state)
{
    static const struct {
        const char *text;
        uint64_t ms;
    } cases[] = {
        {"300ms", 300},        {"1ms", 1},           {"10s", 10000},
        {"10m", 600000},       {"2h", 7200000},      {"2d", 172800000},
        {"007s", 7000},        {"90m", 5400000},     {"1h30m", 5400000},
        {"1m500ms", 60500},    {"1h0m", 3600000},    {"1d2h3m4s5ms", 93784005},
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        assert_int_equal(parse(cases[i].text), cases[i].ms);
}

static void test_order_and_repeats(void **state)
{
    (void)state;
    assert_refused("30m1h", "units must go from largest to smallest (d, h, m, s, ms)");
    assert_refused("5ms1s", "units must go from largest to smallest (d, h, m, s, ms)");
    assert_refused("1m2m", "a unit appears twice");
    assert_refused("1ms1ms", "a unit appears twice");
}

static void test_zero_and_limits(void **state)
{
    (void)state;
    assert_refused("0s", "must be longer than zero");
    assert_refused("0h0m", "must be longer than zero");
    assert_int_equal(parse("400d"), DURATION_MAX_MS);
    assert_refused("400d1ms", "longer than 400 days");
    assert_refused("401d", "longer than 400 days");
    assert_refused("34560000001ms", "longer than 400 days");
    assert_refused("99999999999999999999999999s", "longer than 400 days");
    assert_refused("18446744073709551616ms", "longer than 400 days");
}

static void test_garbage(void **state)
{
    (void)state;
    assert_refused("", "empty");
    assert_refused("10", "expected a unit after the number: ms, s, m, h or d");
    assert_refused("10x", "expected a unit after the number: ms, s, m, h or d");
    assert_refused("10 m", "expected a unit after the number: ms, s, m, h or d");
    assert_refused("1.5h", "expected a unit after the number: ms, s, m, h or d");
    assert_refused("h", "expected a number, as in 10m or 1h30m");
    assert_refused("-1s", "expected a number, as in 10m or 1h30m");
    assert_refused(" 1s", "expected a number, as in 10m or 1h30m");
    assert_refused("1s ", "expected a number, as in 10m or 1h30m");
    assert_refused("1mx", "expected a number, as in 10m or 1h30m");
    assert_refused("1H", "expected a unit after the number: ms, s, m, h or d");
    /* the length bounds the parse, not a NUL */
    uint64_t ms;
    assert_int_equal(duration_parse("10mXYZ", 3, &ms, NULL), 0);
    assert_int_equal(ms, 600000);
}

static void test_format(void **state)
{
    char buf[32];
    (void)state;
    assert_string_equal(duration_format(5400000, buf, sizeof buf), "1h30m");
    assert_string_equal(duration_format(300, buf, sizeof buf), "300ms");
    assert_string_equal(duration_format(93784005, buf, sizeof buf), "1d2h3m4s5ms");
    assert_string_equal(duration_format(172800000, buf, sizeof buf), "2d");
    assert_string_equal(duration_format(0, buf, sizeof buf), "0ms");
    /* what format writes, parse reads back */
    assert_int_equal(parse(duration_format(DURATION_MAX_MS - 1, buf, sizeof buf)),
                     DURATION_MAX_MS - 1);
    /* a short buffer truncates at a term and stays a string */
    assert_string_equal(duration_format(5400000, buf, 4), "1h");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),           cmocka_unit_test(test_order_and_repeats),
        cmocka_unit_test(test_zero_and_limits),
        cmocka_unit_test(test_garbage),         cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

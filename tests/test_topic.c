#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "topic.h"

static bool valid(const char *s)
{
    return topic_valid(s, strlen(s), NULL);
}

static bool pattern_valid(const char *s)
{
    return topic_pattern_valid(s, strlen(s), NULL);
}

static bool match(const char *pattern, const char *topic)
{
    return topic_match(pattern, strlen(pattern), topic, strlen(topic));
}

static void assert_why(bool (*check)(const char *, size_t, const char **), const char *s,
                       const char *expected)
{
    const char *why = NULL;
    assert_false(check(s, strlen(s), &why));
    assert_string_equal(why, expected);
}

static void test_topic_valid(void **state)
{
    (void)state;
    assert_true(valid("city"));
    assert_true(valid("city.snow.street"));
    assert_true(valid("a-b_c.0-9"));
    assert_false(valid("City.snow"));
    assert_false(valid("city snow"));
    assert_false(valid("city.*"));
    assert_false(valid("city.#"));
    assert_false(valid("شهر.برف"));
    assert_why(topic_valid, "", "empty");
    assert_why(topic_valid, ".city", "empty segment");
    assert_why(topic_valid, "city.", "empty segment");
    assert_why(topic_valid, "city..snow", "empty segment");
    assert_why(topic_valid, "City", "a segment must be [a-z0-9_-]+");
    /* the length counts, not a NUL: an embedded NUL is a bad character */
    assert_false(topic_valid("a\0b", 3, NULL));
    assert_true(topic_valid("a.bXYZ", 3, NULL));
}

static void test_topic_limits(void **state)
{
    char s[TOPIC_MAX + 2];
    (void)state;
    memset(s, 'a', sizeof s);
    assert_true(topic_valid(s, TOPIC_MAX, NULL));
    assert_why(topic_valid, (s[TOPIC_MAX + 1] = '\0', s), "longer than 255 bytes");

    strcpy(s, "a.a.a.a.a.a.a.a.a.a.a.a.a.a.a.a"); /* 16 segments */
    assert_true(valid(s));
    assert_true(pattern_valid(s));
    strcat(s, ".a");
    assert_why(topic_valid, s, "more than 16 segments");
    assert_why(topic_pattern_valid, s, "more than 16 segments");
}

static void test_pattern_valid(void **state)
{
    (void)state;
    assert_true(pattern_valid("#"));
    assert_true(pattern_valid("*"));
    assert_true(pattern_valid("utility.gas.#"));
    assert_true(pattern_valid("utility.*.leak"));
    assert_true(pattern_valid("*.*.#"));
    assert_true(pattern_valid("city.snow.street"));
    assert_why(topic_pattern_valid, "#.gas", "'#' is allowed only as the last segment");
    assert_why(topic_pattern_valid, "a.#.b", "'#' is allowed only as the last segment");
    assert_why(topic_pattern_valid, "a.b*", "a segment must be [a-z0-9_-]+, '*' or '#'");
    assert_why(topic_pattern_valid, "a.##", "a segment must be [a-z0-9_-]+, '*' or '#'");
    assert_why(topic_pattern_valid, "a..#", "empty segment");
    assert_why(topic_pattern_valid, "", "empty");
}

static void test_match_exact(void **state)
{
    (void)state;
    assert_true(match("city.snow.street", "city.snow.street"));
    assert_false(match("city.snow.street", "city.snow.road"));
    assert_false(match("city.snow", "city.snow.street"));
    assert_false(match("city.snow.street", "city.snow"));
    assert_false(match("city.sno", "city.snow"));
    assert_false(match("city.snow", "city.sno"));
}

static void test_match_star(void **state)
{
    (void)state;
    assert_true(match("utility.water.*", "utility.water.cut"));
    assert_false(match("utility.water.*", "utility.water"));
    assert_false(match("utility.water.*", "utility.water.cut.home"));
    assert_true(match("*.water.cut", "utility.water.cut"));
    assert_true(match("*", "city"));
    assert_false(match("*", "city.snow"));
    assert_true(match("*.*", "city.snow"));
}

static void test_match_hash(void **state)
{
    (void)state;
    assert_true(match("#", "city"));
    assert_true(match("#", "city.snow.street"));
    assert_true(match("utility.gas.#", "utility.gas"));
    assert_true(match("utility.gas.#", "utility.gas.leak"));
    assert_true(match("utility.gas.#", "utility.gas.leak.home"));
    assert_false(match("utility.gas.#", "utility"));
    assert_false(match("utility.gas.#", "utility.gasoline"));
    assert_false(match("utility.gas.#", "utility.water.leak"));
    assert_true(match("*.#", "jobs"));
    assert_false(match("*.*.#", "jobs"));
}

static void test_match_lengths(void **state)
{
    (void)state;
    /* neither side needs a NUL: the lengths alone bound the match */
    assert_true(topic_match("city.snowXX", 9, "city.snow.street", 9));
    assert_false(topic_match("city.snow", 9, "city.snow.street", 16));
    assert_true(topic_match("city.#", 6, "city.snow", 4));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_topic_valid),   cmocka_unit_test(test_topic_limits),
        cmocka_unit_test(test_pattern_valid), cmocka_unit_test(test_match_exact),
        cmocka_unit_test(test_match_star),    cmocka_unit_test(test_match_hash),
        cmocka_unit_test(test_match_lengths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>
#include <time.h>

#include "jalali.h"

static int jday(int jy, int jm, int jd)
{
    int day;
    if (!jalali_to_day(jy, jm, jd, &day))
        fail_msg("%d/%d/%d refused", jy, jm, jd);
    return day;
}

/* Dates checked against the published calendar of Iran, both directions. */
static void test_known_dates(void **state)
{
    static const struct {
        int jy, jm, jd, gy, gm, gd;
    } cases[] = {
        {1403, 12, 30, 2025, 3, 20}, /* last day of leap 1403 */
        {1404, 1, 1, 2025, 3, 21},   /* Nowruz 1404 */
        {1403, 1, 1, 2024, 3, 20},
        {1399, 12, 30, 2021, 3, 20}, /* 1399 is leap */
        {1400, 1, 1, 2021, 3, 21},
        {1370, 1, 1, 1991, 3, 21},
        {1357, 11, 22, 1979, 2, 11}, /* 22 Bahman, the revolution */
        {1348, 10, 11, 1970, 1, 1},  /* the epoch, day 0 */
        {1408, 1, 1, 2029, 3, 20},   /* four common years after 1404/01/01, one Feb 29 */
        {1408, 12, 30, 2030, 3, 20}, /* 1408 is leap */
        {1409, 1, 1, 2030, 3, 21},
        {1404, 7, 1, 2025, 9, 23},   /* 186 days after Nowruz: the 30-day months begin */
        {1, 1, 1, 622, 3, 22},       /* the epoch of the era (19 March 622 Julian) */
    };
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int jy = 0, jm = 0, jd = 0, gy = 0, gm = 0, gd = 0;
        assert_true(jalali_from_gregorian(cases[i].gy, cases[i].gm, cases[i].gd, &jy, &jm, &jd));
        assert_int_equal(jy, cases[i].jy);
        assert_int_equal(jm, cases[i].jm);
        assert_int_equal(jd, cases[i].jd);
        assert_true(jalali_to_gregorian(cases[i].jy, cases[i].jm, cases[i].jd, &gy, &gm, &gd));
        assert_int_equal(gy, cases[i].gy);
        assert_int_equal(gm, cases[i].gm);
        assert_int_equal(gd, cases[i].gd);
    }
    assert_int_equal(jday(1348, 10, 11), 0);
    assert_int_equal(jday(1404, 1, 1), 20168); /* (2025-03-21 - 1970-01-01) in days */
}

/* Leap years follow the 33-year cycle: mostly every fourth year, with a
 * five-year gap once a cycle (1403 -> 1408). */
static void test_leap_years(void **state)
{
    static const int leap[] = {1383, 1387, 1391, 1395, 1399, 1403, 1408, 1412, 1416, 1420};
    size_t k = 0;
    (void)state;
    for (int y = 1380; y <= 1420; y++) {
        bool expected = k < sizeof leap / sizeof leap[0] && leap[k] == y;
        k += expected;
        assert_int_equal(jalali_leap(y), expected);
        assert_int_equal(jalali_month_length(y, 12), expected ? 30 : 29);
        assert_int_equal(jalali_valid(y, 12, 30), expected);
    }
    assert_int_equal(k, sizeof leap / sizeof leap[0]);
    assert_true(jalali_valid(1403, 12, 30));
    assert_false(jalali_valid(1404, 12, 30));
    assert_true(jalali_valid(1404, 12, 29));
    assert_true(jalali_valid(1408, 12, 30));

    assert_int_equal(jalali_month_length(1404, 1), 31);
    assert_int_equal(jalali_month_length(1404, 6), 31);
    assert_int_equal(jalali_month_length(1404, 7), 30);
    assert_int_equal(jalali_month_length(1404, 11), 30);
    assert_int_equal(jalali_month_length(1404, 0), 0);
    assert_int_equal(jalali_month_length(1404, 13), 0);
    assert_false(jalali_valid(1404, 7, 31));
    assert_false(jalali_valid(1404, 1, 0));
    assert_false(jalali_valid(1404, 1, 32));
    assert_false(jalali_leap(JALALI_MAX_YEAR + 1));

    int day = 7, y = 0, m = 0, d = 0;
    assert_false(jalali_to_day(1404, 12, 30, &day));
    assert_int_equal(day, 7);
    assert_false(jalali_from_gregorian(2025, 2, 29, &y, &m, &d)); /* 2025 is common */
    assert_false(jalali_from_gregorian(2025, 4, 31, &y, &m, &d));
    assert_false(jalali_from_gregorian(2025, 13, 1, &y, &m, &d));
    assert_true(jalali_from_gregorian(2024, 2, 29, &y, &m, &d));
    assert_int_equal(y * 10000 + m * 100 + d, 14021210);
    assert_int_equal(jalali_from_gregorian(1900, 2, 29, &y, &m, &d), false);
    assert_int_equal(jalali_from_gregorian(2000, 2, 29, &y, &m, &d), true);
}

/* Every day of 1380..1420 converts to a day number and back, consecutive dates
 * get consecutive numbers, and the Gregorian side agrees with gmtime_r. */
static void test_round_trips(void **state)
{
    int prev = jday(1380, 1, 1) - 1;
    (void)state;
    for (int y = 1380; y <= 1420; y++)
        for (int m = 1; m <= 12; m++)
            for (int d = 1; d <= jalali_month_length(y, m); d++) {
                int day = jday(y, m, d), jy, jm, jd, gy, gm, gd;
                assert_int_equal(day, prev + 1);
                prev = day;
                assert_true(jalali_from_day(day, &jy, &jm, &jd));
                assert_int_equal(jy * 10000 + jm * 100 + jd, y * 10000 + m * 100 + d);

                time_t t = (time_t)day * 86400;
                struct tm tm;
                assert_non_null(gmtime_r(&t, &tm));
                assert_true(gregorian_from_day(day, &gy, &gm, &gd));
                assert_int_equal(gy, tm.tm_year + 1900);
                assert_int_equal(gm, tm.tm_mon + 1);
                assert_int_equal(gd, tm.tm_mday);
                assert_true(jalali_to_gregorian(y, m, d, &gy, &gm, &gd));
                assert_true(jalali_from_gregorian(gy, gm, gd, &jy, &jm, &jd));
                assert_int_equal(jy * 10000 + jm * 100 + jd, y * 10000 + m * 100 + d);
            }
}

/* Walks the whole supported range day by day: from_day must produce exactly
 * the successor of the previous date, and both ends must be refused beyond. */
static void test_whole_range(void **state)
{
    int y = JALALI_MIN_YEAR, m = 1, d = 1, day = jday(y, m, d);
    int jy, jm, jd, gy, gm, gd;
    (void)state;
    assert_false(jalali_from_day(day - 1, &jy, &jm, &jd));
    assert_false(gregorian_from_day(day - 1, &gy, &gm, &gd));
    assert_false(jalali_to_day(JALALI_MIN_YEAR - 1, 12, 29, &jd));
    for (;;) {
        assert_true(jalali_from_day(day, &jy, &jm, &jd));
        if (jy != y || jm != m || jd != d)
            fail_msg("day %d is %d/%d/%d, expected %d/%d/%d", day, jy, jm, jd, y, m, d);
        if (++d > jalali_month_length(y, m)) {
            d = 1;
            if (++m > 12) {
                m = 1;
                if (++y > JALALI_MAX_YEAR)
                    break;
            }
        }
        day++;
    }
    assert_false(jalali_from_day(day + 1, &jy, &jm, &jd));
    assert_false(jalali_to_day(JALALI_MAX_YEAR + 1, 1, 1, &jd));
}

static void test_weekday(void **state)
{
    (void)state;
    assert_int_equal(jalali_weekday(jday(1404, 1, 1)), JALALI_FRIDAY); /* 2025-03-21 */
    assert_int_equal(jalali_weekday(jday(1404, 1, 2)), JALALI_SATURDAY);
    assert_int_equal(jalali_weekday(0), JALALI_THURSDAY);              /* 1970-01-01 */
    assert_int_equal(jalali_weekday(-1), JALALI_WEDNESDAY);            /* 1969-12-31 */
    assert_int_equal(jalali_weekday(-7), JALALI_THURSDAY);
    assert_int_equal(jalali_weekday(jday(1357, 11, 22)), JALALI_SUNDAY); /* 1979-02-11 */
    assert_int_equal(jalali_weekday(jday(1404, 7, 30)), JALALI_WEDNESDAY); /* 2025-10-22 */
    assert_int_equal(jalali_week_start(jday(1404, 1, 1)), jday(1403, 12, 25));
    assert_int_equal(jalali_week_start(jday(1404, 1, 2)), jday(1404, 1, 2));
    assert_int_equal(jalali_week_start(-1), -5); /* Wed 1969-12-31 -> Sat 1969-12-27 */
}

static void assert_week(int day, int wy, int wk)
{
    int y = 0, w = 0;
    assert_true(jalali_week_of(day, &y, &w));
    assert_int_equal(y, wy);
    assert_int_equal(w, wk);
}

static void test_weeks(void **state)
{
    int day = 0;
    (void)state;
    /* 1 Farvardin 1404 is a Friday: week 1 is Sat 1403/12/25 .. Fri 1404/01/01,
     * the last six days of Esfand 1403 included */
    assert_week(jday(1403, 12, 24), 1403, 52);
    assert_week(jday(1403, 12, 25), 1404, 1);
    assert_week(jday(1403, 12, 30), 1404, 1);
    assert_week(jday(1404, 1, 1), 1404, 1);
    assert_week(jday(1404, 1, 2), 1404, 2);
    /* 1 Farvardin 1403 (2024-03-20) is a Wednesday, its week starts Sat
     * 1402/12/26; 1403-W01 .. 1404-W01 are 364 days apart: 52 weeks */
    assert_week(jday(1402, 12, 26), 1403, 1);
    assert_int_equal(jalali_weeks_in_year(1403), 52);
    /* 1 Farvardin 1405 (2026-03-21) is a Saturday: 1404 spans 371 days of
     * weeks, 53 of them, the last Sat 1404/12/23 .. Fri 1404/12/29 */
    assert_int_equal(jalali_weekday(jday(1405, 1, 1)), JALALI_SATURDAY);
    assert_int_equal(jalali_weeks_in_year(1404), 53);
    assert_week(jday(1404, 12, 23), 1404, 53);
    assert_week(jday(1404, 12, 29), 1404, 53);
    assert_week(jday(1405, 1, 1), 1405, 1);

    /* week 32 of 1404 starts 31 weeks after 2025-03-15: Sat 2025-10-18,
     * 1404/07/26 */
    assert_true(jalali_week_first_day(1404, 32, &day));
    assert_int_equal(day, jday(1404, 7, 26));
    assert_int_equal(day, 20379);
    assert_false(jalali_week_first_day(1404, 54, &day));
    assert_false(jalali_week_first_day(1403, 53, &day));
    assert_false(jalali_week_first_day(1404, 0, &day));
    assert_int_equal(jalali_weeks_in_year(JALALI_MAX_YEAR), 0);

    /* every week of 1380..1420: first day, week_of, format and parse agree,
     * and the weeks tile the days without gaps */
    int next = 0;
    assert_true(jalali_week_first_day(1380, 1, &next));
    for (int y = 1380; y <= 1420; y++) {
        int n = jalali_weeks_in_year(y);
        assert_true(n == 52 || n == 53);
        for (int w = 1; w <= n; w++) {
            char buf[16];
            int py = 0, pw = 0;
            assert_true(jalali_week_first_day(y, w, &day));
            assert_int_equal(day, next);
            assert_int_equal(jalali_weekday(day), JALALI_SATURDAY);
            next = day + 7;
            assert_week(day, y, w);
            assert_week(day + 6, y, w);
            assert_true(jalali_week_format(y, w, buf, sizeof buf));
            assert_int_equal(strlen(buf), 8);
            assert_true(jalali_week_parse(buf, strlen(buf), &py, &pw));
            assert_int_equal(py, y);
            assert_int_equal(pw, w);
        }
    }
}

static void test_week_text(void **state)
{
    char buf[16] = "untouched";
    int y = -1, w = -1;
    (void)state;
    assert_true(jalali_week_format(1404, 7, buf, sizeof buf));
    assert_string_equal(buf, "1404-W07");
    assert_true(jalali_week_format(1404, 53, buf, 9)); /* exactly fits */
    assert_string_equal(buf, "1404-W53");
    strcpy(buf, "untouched");
    assert_false(jalali_week_format(1404, 7, buf, 8));
    assert_false(jalali_week_format(1403, 53, buf, sizeof buf));
    assert_false(jalali_week_format(1404, 0, buf, sizeof buf));
    assert_false(jalali_week_format(0, 1, buf, sizeof buf));
    assert_string_equal(buf, "untouched");

    assert_true(jalali_week_parse("1404-W32", 8, &y, &w));
    assert_int_equal(y, 1404);
    assert_int_equal(w, 32);
    assert_true(jalali_week_parse("1404-W53", 8, &y, &w));
    assert_true(jalali_week_parse("1399-W01xyz", 8, &y, &w)); /* n bounds the parse */
    assert_int_equal(y, 1399);
    assert_int_equal(w, 1);

    static const char *bad[] = {
        "1404-W00", "1404-W54", "1403-W53", "1404W32",  "1404-w32", "1404-W3",  "1404-W032",
        "14O4-W32", "0000-W01", "",         "+404-W32", "1404-W+3", "1404 W32", "404-W32",
        "1404-W 3", "9999-W01", "1404/W32", "1404-W32 ",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        y = w = -1;
        if (jalali_week_parse(bad[i], strlen(bad[i]), &y, &w))
            fail_msg("\"%s\" accepted", bad[i]);
        assert_int_equal(y, -1);
        assert_int_equal(w, -1);
    }
}

static void test_persian_digits(void **state)
{
    char buf[64];
    (void)state;
    assert_int_equal(jalali_persian_digits("1404/01/01", buf, sizeof buf), 18);
    assert_string_equal(buf, "۱۴۰۴/۰۱/۰۱");
    assert_int_equal(jalali_persian_digits("W32 ساعت", buf, sizeof buf), strlen("W۳۲ ساعت"));
    assert_string_equal(buf, "W۳۲ ساعت");
    assert_int_equal(jalali_persian_digits("", buf, sizeof buf), 0);
    assert_string_equal(buf, "");
    /* a short buffer stops before a digit that does not fit whole */
    assert_int_equal(jalali_persian_digits("a12", buf, 4), 5);
    assert_string_equal(buf, "a۱");
    assert_int_equal(jalali_persian_digits("a12", buf, 3), 5);
    assert_string_equal(buf, "a");
    assert_int_equal(jalali_persian_digits("0123456789", NULL, 0), 20);
    assert_int_equal(jalali_persian_digits("0123456789", buf, sizeof buf), 20);
    assert_string_equal(buf, "۰۱۲۳۴۵۶۷۸۹");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_known_dates), cmocka_unit_test(test_leap_years),
        cmocka_unit_test(test_round_trips), cmocka_unit_test(test_whole_range),
        cmocka_unit_test(test_weekday),     cmocka_unit_test(test_weeks),
        cmocka_unit_test(test_week_text),   cmocka_unit_test(test_persian_digits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "jalali.h"
#include "workcal.h"

#define MIN (60 * 1000ULL)
#define HOUR (60 * MIN)

/* The instant jy/jm/jd hh:mm in Tehran (UTC+03:30). */
static uint64_t tehran(int jy, int jm, int jd, int hh, int mm)
{
    int day;
    if (!jalali_to_day(jy, jm, jd, &day))
        fail_msg("%d/%d/%d refused", jy, jm, jd);
    return (uint64_t)day * 24 * HOUR + (uint64_t)(hh * 60 + mm) * MIN - 210 * MIN;
}

/* The calendar of the tests: Sat-Wed 08:00-14:00 (6 h), Thu 08:00-12:00
 * (4 h), Fri off; 34 working hours a week. */
static int setup(void **state)
{
    workcal_t *c = workcal_new();
    if (!c)
        return -1;
    for (int wd = JALALI_SATURDAY; wd <= JALALI_WEDNESDAY; wd++)
        if (workcal_set_day(c, wd, 8 * 60, 14 * 60) < 0)
            return -1;
    if (workcal_set_day(c, JALALI_THURSDAY, 8 * 60, 12 * 60) < 0)
        return -1;
    *state = c;
    return 0;
}

static int teardown(void **state)
{
    workcal_t *c = *state;
    workcal_destroy(&c);
    assert_null(c);
    return 0;
}

/* The question. Wednesday 1404/07/30 (2025-10-22) 14:00 is the end of
 * Wednesday's period, so nothing counts that day:
 *   Thu 1404/08/01 08-12   4 h   (20 h left)
 *   Fri 1404/08/02         off
 *   Sat 1404/08/03 08-14   6 h   (14 h left)
 *   Sun 1404/08/04 08-14   6 h   ( 8 h left)
 *   Mon 1404/08/05 08-14   6 h   ( 2 h left)
 *   Tue 1404/08/06 08-10   2 h   due Tuesday 1404/08/06 10:00 Tehran,
 * which is 2025-10-28 06:30 UTC, 1761633000000 ms since the epoch. */
static void test_wednesday_afternoon(void **state)
{
    const workcal_t *c = *state;
    uint64_t start = tehran(1404, 7, 30, 14, 0);
    assert_int_equal(start, 1761129000000ULL); /* 2025-10-22 10:30 UTC */
    uint64_t due = workcal_add(c, start, 24 * HOUR);
    assert_int_equal(due, tehran(1404, 8, 6, 10, 0));
    assert_int_equal(due, 1761633000000ULL);
    assert_int_equal(workcal_between(c, start, due), 24 * HOUR);
    /* the same from Wednesday 13:00: one more hour counts on Wednesday, so
     * it is due an hour earlier on Tuesday */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 30, 13, 0), 24 * HOUR),
                     tehran(1404, 8, 6, 9, 0));
}

/* 1404/07/26 (2025-10-18) is a Saturday; the week runs to Fri 1404/08/02. */
static void test_inside_and_outside(void **state)
{
    const workcal_t *c = *state;
    /* inside a period: Sunday 10:00 + 3 h is 13:00 */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 27, 10, 0), 3 * HOUR),
                     tehran(1404, 7, 27, 13, 0));
    /* Sunday 10:00 + 5 h: 4 h to 14:00, then 1 h on Monday */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 27, 10, 0), 5 * HOUR),
                     tehran(1404, 7, 28, 9, 0));
    /* before opening, the clock starts at 08:00 */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 6, 0), HOUR),
                     tehran(1404, 7, 26, 9, 0));
    /* after closing, it starts the next morning */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 20, 0), HOUR),
                     tehran(1404, 7, 27, 9, 0));
    /* Thursday 11:00 + 2 h: 1 h to Thursday's 12:00, Friday off, Saturday 09:00 */
    assert_int_equal(workcal_add(c, tehran(1404, 8, 1, 11, 0), 2 * HOUR),
                     tehran(1404, 8, 3, 9, 0));
    /* a request on Friday waits for Saturday */
    assert_int_equal(workcal_add(c, tehran(1404, 8, 2, 9, 0), HOUR),
                     tehran(1404, 8, 3, 9, 0));
    /* Thursday afternoon is already closed (12:00) */
    assert_int_equal(workcal_add(c, tehran(1404, 8, 1, 13, 0), 30 * MIN),
                     tehran(1404, 8, 3, 8, 30));
}

static void test_boundaries(void **state)
{
    const workcal_t *c = *state;
    uint64_t sat8 = tehran(1404, 7, 26, 8, 0);
    /* a full day's work from opening ends at closing the same day, not at
     * the next morning's opening */
    assert_int_equal(workcal_add(c, sat8, 6 * HOUR), tehran(1404, 7, 26, 14, 0));
    assert_int_equal(workcal_add(c, sat8, 6 * HOUR + 1), tehran(1404, 7, 27, 8, 0) + 1);
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 13, 59), MIN), tehran(1404, 7, 26, 14, 0));
    /* from the closing instant the next period counts */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 14, 0), 1), tehran(1404, 7, 27, 8, 0) + 1);
    /* one millisecond before opening */
    assert_int_equal(workcal_add(c, sat8 - 1, 1), sat8 + 1);
    /* local midnight is not UTC midnight: 00:00 Tehran is 20:30 UTC the
     * day before */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 27, 0, 0), MIN), tehran(1404, 7, 27, 8, 1));
    assert_int_equal(workcal_between(c, sat8, tehran(1404, 7, 26, 14, 0)), 6 * HOUR);
    assert_int_equal(workcal_between(c, sat8 - HOUR, sat8), 0);
    assert_int_equal(workcal_between(c, sat8, sat8), 0);
    assert_int_equal(workcal_between(c, sat8 + HOUR, sat8), 0);
    /* a whole week, Wednesday midnight to Wednesday midnight: 5 * 6 + 4 */
    assert_int_equal(workcal_between(c, tehran(1404, 7, 30, 0, 0), tehran(1404, 8, 7, 0, 0)),
                     34 * HOUR);
}

/* A zero duration is due at once, even when the office is closed. */
static void test_zero(void **state)
{
    const workcal_t *c = *state;
    uint64_t friday = tehran(1404, 8, 2, 9, 0);
    assert_int_equal(workcal_add(c, friday, 0), friday);
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 10, 0), 0), tehran(1404, 7, 26, 10, 0));
}

/* Whole weeks: 340 h is exactly 10 weeks of 34 h. From Sat 1404/07/26 08:00 it
 * ends at the close of the tenth week's last working period, Thursday 12:00,
 * 9 weeks and 5 days later: 1404/07/26 + 68 days = 1404/10/04 (2025-12-25, a
 * Thursday). One more millisecond moves it to Saturday 1404/10/06. */
static void test_whole_weeks(void **state)
{
    const workcal_t *c = *state;
    uint64_t start = tehran(1404, 7, 26, 8, 0);
    assert_int_equal(workcal_add(c, start, 340 * HOUR), tehran(1404, 10, 4, 12, 0));
    assert_int_equal(workcal_add(c, start, 340 * HOUR + 1), tehran(1404, 10, 6, 8, 0) + 1);
    assert_int_equal(workcal_between(c, start, tehran(1404, 10, 4, 12, 0)), 340 * HOUR);
    /* the same from Saturday's midnight, where whole weeks are skipped from
     * the first step */
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 0, 0), 340 * HOUR),
                     tehran(1404, 10, 4, 12, 0));
    assert_int_equal(workcal_add(c, tehran(1404, 7, 26, 0, 0), 34 * HOUR),
                     tehran(1404, 8, 1, 12, 0));
    /* 400 days of working time, the longest deadline a table allows, is
     * some 18 years of office hours; found by skipping weeks */
    uint64_t far = workcal_add(c, start, 400ULL * 24 * HOUR);
    assert_true(far != UINT64_MAX);
    assert_int_equal(workcal_between(c, start, far), 400ULL * 24 * HOUR);
    /* beyond the horizon: no answer, but an answer at once */
    assert_int_equal(workcal_add(c, start, UINT64_MAX - 1), UINT64_MAX);
    assert_int_equal(workcal_add(c, WORKCAL_MAX_MS, HOUR), UINT64_MAX);
}

/* Nowruz 1404 and Eid al-Fitr, as announced: 1404/01/01-04 Nowruz, 01/11-12
 * Eid al-Fitr, 01/13 Nature Day. */
static void add_nowruz(workcal_t *c)
{
    static const int days[] = {1, 2, 3, 4, 11, 12, 13};
    for (size_t i = 0; i < sizeof days / sizeof days[0]; i++)
        assert_int_equal(workcal_add_holiday(c, 1404, 1, days[i]), 0);
}

/* A request on Wednesday 1403/12/29 (2025-03-19) at 12:00 with 12 working hours:
 *   Wed 1403/12/29 12-14     2 h  (10 h left)
 *   Thu 1403/12/30 08-12     4 h  ( 6 h left)
 *   Fri 1404/01/01           Friday and Nowruz
 *   Sat-Mon 1404/01/02-04    Nowruz holidays
 *   Tue 1404/01/05 08-14     6 h  due Tuesday 1404/01/05 14:00 (2025-03-25
 *                                 10:30 UTC), at the close of the period. */
static void test_spanning_holidays(void **state)
{
    workcal_t *c = *state;
    uint64_t start = tehran(1403, 12, 29, 12, 0);
    /* without the holidays the last 6 h would be Saturday 1404/01/02 08-14 */
    assert_int_equal(workcal_add(c, start, 12 * HOUR), tehran(1404, 1, 2, 14, 0));
    add_nowruz(c);
    add_nowruz(c); /* twice is harmless */
    uint64_t due = workcal_add(c, start, 12 * HOUR);
    assert_int_equal(due, tehran(1404, 1, 5, 14, 0));
    assert_int_equal(due, 1742898600000ULL);
    assert_int_equal(workcal_between(c, start, due), 12 * HOUR);

    /* starting on a holiday, Sunday 1404/01/03 10:00: counting begins on
     * Tuesday 1404/01/05 at 08:00 */
    assert_int_equal(workcal_add(c, tehran(1404, 1, 3, 10, 0), HOUR), tehran(1404, 1, 5, 9, 0));
    /* Tue 01/05 to Tue 01/19: 14 days, of which Fridays 01/08 and 01/15 are
     * off and 01/11 (Mon), 01/12 (Tue), 01/13 (Wed) are holidays, leaving
     * Tue-Wed 01/05-06, Sat-Sun 01/09-10 and Sat-Mon 01/16-18 at 6 h and the
     * Thursdays 01/07 and 01/14 at 4 h: 7 * 6 + 2 * 4 = 50 h */
    assert_int_equal(workcal_between(c, tehran(1404, 1, 5, 0, 0), tehran(1404, 1, 19, 0, 0)),
                     50 * HOUR);
    assert_int_equal(workcal_add(c, tehran(1404, 1, 5, 0, 0), 50 * HOUR), tehran(1404, 1, 18, 14, 0));
}

static void test_no_working_time(void **state)
{
    workcal_t *c = workcal_new();
    (void)state;
    assert_non_null(c);
    uint64_t t = tehran(1404, 7, 26, 10, 0);
    assert_int_equal(workcal_add(c, t, HOUR), UINT64_MAX);
    assert_int_equal(workcal_add(c, t, 0), t);
    assert_int_equal(workcal_between(c, t, t + 1000 * HOUR), 0);
    /* a day set and unset again: still nothing */
    assert_int_equal(workcal_set_day(c, JALALI_SATURDAY, 480, 840), 0);
    assert_int_equal(workcal_set_day(c, JALALI_SATURDAY, 600, 600), 0);
    assert_int_equal(workcal_add(c, t, 1), UINT64_MAX);
    workcal_destroy(&c);
    assert_null(c);
    workcal_destroy(&c);
    workcal_destroy(NULL);
}

static void test_settings(void **state)
{
    workcal_t *c = *state;
    assert_int_equal(workcal_set_day(c, 7, 0, 60), -1);
    assert_int_equal(workcal_set_day(c, -1, 0, 60), -1);
    assert_int_equal(workcal_set_day(c, 0, 600, 540), -1);
    assert_int_equal(workcal_set_day(c, 0, -1, 540), -1);
    assert_int_equal(workcal_set_day(c, 0, 0, 1441), -1);
    assert_int_equal(workcal_add_holiday(c, 1404, 12, 30), -1); /* 1404 is common */
    assert_int_equal(workcal_add_holiday(c, 1404, 13, 1), -1);
    assert_int_equal(workcal_add_holiday(c, 1403, 12, 30), 0);  /* 1403 is leap */
    assert_int_equal(workcal_set_utc_offset(c, 841), -1);
    assert_int_equal(workcal_set_utc_offset(c, -841), -1);
    /* the refusals changed nothing: Sat 08:00 + 6 h is still 14:00 */
    uint64_t sat8 = tehran(1404, 7, 26, 8, 0);
    assert_int_equal(workcal_add(c, sat8, 6 * HOUR), sat8 + 6 * HOUR);

    /* the offset moves the working day: at UTC, 08:00 local is 3.5 h later */
    assert_int_equal(workcal_set_utc_offset(c, 0), 0);
    assert_int_equal(workcal_add(c, sat8, HOUR), sat8 + 210 * MIN + HOUR);
    assert_int_equal(workcal_set_utc_offset(c, -300), 0); /* UTC-5: Saturday starts later still */
    assert_int_equal(workcal_add(c, sat8, HOUR), sat8 + 510 * MIN + HOUR);
    /* a whole-day period */
    assert_int_equal(workcal_set_utc_offset(c, WORKCAL_IRST), 0);
    assert_int_equal(workcal_set_day(c, JALALI_FRIDAY, 0, 1440), 0);
    assert_int_equal(workcal_add(c, tehran(1404, 8, 1, 12, 0), 24 * HOUR), tehran(1404, 8, 3, 0, 0));
}

/* The working time of [from, to) counted minute by minute, from the weekday
 * table and holidays restated here: the reference for the fast paths. Both
 * ends are whole minutes. */
static uint64_t slow_between(uint64_t from, uint64_t to, const int *holidays, size_t n)
{
    uint64_t total = 0;
    for (uint64_t t = from; t < to; t += MIN) {
        uint64_t local = t + 210 * MIN;
        int day = (int)(local / (24 * HOUR)), minute = (int)(local % (24 * HOUR) / MIN);
        int wd = jalali_weekday(day), close = wd == JALALI_THURSDAY ? 12 * 60 : 14 * 60;
        bool holiday = false;
        for (size_t i = 0; i < n; i++)
            holiday |= holidays[i] == day;
        if (!holiday && wd != JALALI_FRIDAY && minute >= 8 * 60 && minute < close)
            total += MIN;
    }
    return total;
}

/* between and add agree with each other and with the minute count, for
 * starts every 97 minutes across the Nowruz fortnight and durations up to
 * two weeks of work. */
static void test_consistency(void **state)
{
    workcal_t *c = *state;
    int holidays[7];
    static const int nowruz[] = {1, 2, 3, 4, 11, 12, 13};
    for (size_t i = 0; i < 7; i++)
        assert_true(jalali_to_day(1404, 1, nowruz[i], &holidays[i]));
    add_nowruz(c);

    uint64_t first = tehran(1403, 12, 20, 0, 0), last = tehran(1404, 1, 20, 0, 0);
    for (uint64_t start = first; start < last; start += 97 * MIN) {
        for (uint64_t d = 0; d <= 68 * HOUR; d += 3 * HOUR + 7 * MIN) {
            uint64_t due = workcal_add(c, start, d);
            assert_true(due >= start);
            assert_int_equal(workcal_between(c, start, due), d);
            /* the earliest such instant: a millisecond less is not enough */
            if (d > 0)
                assert_int_equal(workcal_between(c, start, due - 1), d - 1);
        }
        uint64_t to = start + 5 * 24 * HOUR + 13 * MIN;
        uint64_t mid = start + 31 * HOUR;
        assert_int_equal(workcal_between(c, start, to), slow_between(start, to, holidays, 7));
        assert_int_equal(workcal_between(c, start, mid) + workcal_between(c, mid, to),
                         workcal_between(c, start, to));
    }
    /* long intervals, where whole weeks are skipped, against the slow count */
    uint64_t from = tehran(1403, 11, 3, 9, 17);
    for (uint64_t to = from; to < from + 80 * 24 * HOUR; to += 23 * HOUR + 11 * MIN)
        assert_int_equal(workcal_between(c, from, to), slow_between(from, to, holidays, 7));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_wednesday_afternoon, setup, teardown),
        cmocka_unit_test_setup_teardown(test_inside_and_outside, setup, teardown),
        cmocka_unit_test_setup_teardown(test_boundaries, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero, setup, teardown),
        cmocka_unit_test_setup_teardown(test_whole_weeks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spanning_holidays, setup, teardown),
        cmocka_unit_test(test_no_working_time),
        cmocka_unit_test_setup_teardown(test_settings, setup, teardown),
        cmocka_unit_test_setup_teardown(test_consistency, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

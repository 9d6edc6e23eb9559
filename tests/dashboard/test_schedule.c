/* Unit tests of the weekly reports' decision (clients/dashboard/schedule.c)
 * with an injected clock: a week walked from before its Thursday occasion
 * to the next Saturday, agencies delivered one by one, a failed
 * destination retried on its own after its backoff, the states of another
 * week, the schedule's own offset, and the backoff's bound. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "figures.h"
#include "jalali.h"
#include "schedule.h"

#define MIN_MS 60000ULL
#define IRST_MS (210 * MIN_MS)
#define ALL (SCHED_FOLDER | SCHED_COMMAND | SCHED_WEBHOOK)

/* UTC ms of a Tehran local time: a Jalali date and HH:MM */
static uint64_t tehran(int jy, int jm, int jd, int h, int m)
{
    int day;
    assert_true(jalali_to_day(jy, jm, jd, &day));
    return (uint64_t)day * FIG_DAY_MS + (uint64_t)(h * 60 + m) * MIN_MS - IRST_MS;
}

static const sched_when_t THURSDAY_14 = {JALALI_THURSDAY, 14 * 60, 210};

static void test_week_walk(void **state)
{
    (void)state;
    /* 1404-05-30 is a Thursday; its week starts Saturday 1404-05-25 */
    int sat;
    assert_true(jalali_to_day(1404, 5, 25, &sat));
    assert_int_equal(jalali_weekday(sat), JALALI_SATURDAY);
    uint64_t occasion = tehran(1404, 5, 30, 14, 0);
    sched_agency_t st[2] = {{0}, {0}};
    sched_due_t due;

    /* Wednesday, and Thursday a minute early: nothing, look again at 14:00 */
    assert_false(schedule_due(tehran(1404, 5, 29, 14, 0), &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.next_ms, occasion);
    assert_false(schedule_due(occasion - 1, &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.next_ms, occasion);
    /* 14:00 sharp: the first agency, everywhere, for this week */
    assert_true(schedule_due(occasion, &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.agency, 0);
    assert_int_equal(due.dests, ALL);
    assert_int_equal(due.day0, sat);
    assert_int_equal(due.at_ms, occasion);
    /* the first delivered: the second */
    st[0].done = ALL;
    assert_true(schedule_due(occasion + MIN_MS, &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.agency, 1);
    /* the second's webhook failed: not before its retry, then the webhook alone */
    st[1] = (sched_agency_t){SCHED_FOLDER | SCHED_COMMAND, 1, occasion + 5 * MIN_MS};
    assert_false(schedule_due(occasion + 2 * MIN_MS, &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.next_ms, occasion + 5 * MIN_MS);
    assert_true(schedule_due(occasion + 5 * MIN_MS, &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.agency, 1);
    assert_int_equal(due.dests, SCHED_WEBHOOK);
    /* still owed on Friday night (the dashboard was down, the broker was) */
    assert_true(schedule_due(tehran(1404, 5, 31, 23, 59), &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.day0, sat);
    /* everything delivered: nothing until next Thursday 14:00 */
    st[1].done = ALL;
    assert_false(schedule_due(occasion + 6 * MIN_MS, &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.next_ms, occasion + 7 * FIG_DAY_MS);
    /* Saturday: a new week, whose occasion has not come; last week's is not made up */
    st[1].done = 0;
    assert_false(schedule_due(tehran(1404, 6, 1, 0, 0), &THURSDAY_14, ALL, sat, st, 2, &due));
    assert_int_equal(due.day0, sat + 7);
    assert_int_equal(due.next_ms, occasion + 7 * FIG_DAY_MS);
}

static void test_other_week_states(void **state)
{
    (void)state;
    int sat;
    assert_true(jalali_to_day(1404, 5, 25, &sat));
    uint64_t occasion = tehran(1404, 5, 30, 14, 0);
    /* last week's states: delivered, failing: they count for nothing now */
    sched_agency_t st[1] = {{ALL, 3, occasion + FIG_DAY_MS}};
    sched_due_t due;
    assert_true(schedule_due(occasion, &THURSDAY_14, SCHED_FOLDER, sat - 7, st, 1, &due));
    assert_int_equal(due.dests, SCHED_FOLDER);
    /* only the destinations wanted */
    st[0] = (sched_agency_t){SCHED_FOLDER, 0, 0};
    assert_false(schedule_due(occasion, &THURSDAY_14, SCHED_FOLDER, sat, st, 1, &due));
    assert_true(schedule_due(occasion, &THURSDAY_14, SCHED_FOLDER | SCHED_COMMAND, sat, st, 1,
                             &due));
    assert_int_equal(due.dests, SCHED_COMMAND);
    /* no agencies: nothing, ever */
    assert_false(schedule_due(occasion, &THURSDAY_14, ALL, sat, st, 0, &due));
}

static void test_offsets(void **state)
{
    (void)state;
    int sat;
    assert_true(jalali_to_day(1404, 5, 25, &sat));
    sched_due_t due;
    /* Saturday 00:00 UTC is Saturday 03:30 in Tehran: this week's Saturday */
    sched_when_t utc_sat = {JALALI_SATURDAY, 0, 0};
    uint64_t at = (uint64_t)sat * FIG_DAY_MS;
    assert_true(schedule_due(at, &utc_sat, SCHED_FOLDER, sat, NULL, 0, &due) == false);
    assert_int_equal(due.at_ms, at);
    assert_int_equal(due.day0, sat);
    /* Friday 23:59 at -01:00 is Saturday 04:29 in Tehran: the next Tehran week */
    sched_when_t west = {JALALI_FRIDAY, 23 * 60 + 59, -60};
    uint64_t fri = (uint64_t)(sat + 6) * FIG_DAY_MS + (23 * 60 + 59 + 60) * MIN_MS;
    sched_agency_t st[1] = {{0}};
    assert_true(schedule_due(fri, &west, SCHED_FOLDER, sat, st, 1, &due));
    assert_int_equal(due.at_ms, fri);
    assert_int_equal(due.day0, sat + 7);
    /* Thursday 14:00 at +03:30, from a Sunday in the week */
    schedule_occasion(&THURSDAY_14, tehran(1404, 5, 26, 9, 0), &at, &sat);
    assert_int_equal(at, tehran(1404, 5, 30, 14, 0));
}

static void test_backoff(void **state)
{
    (void)state;
    assert_int_equal(schedule_backoff(1, 1000, 60000), 1000);
    assert_int_equal(schedule_backoff(2, 1000, 60000), 2000);
    assert_int_equal(schedule_backoff(6, 1000, 60000), 32000);
    assert_int_equal(schedule_backoff(7, 1000, 60000), 60000);
    assert_int_equal(schedule_backoff(4000000000u, 1000, 60000), 60000);
    assert_int_equal(schedule_backoff(1, 60000, 60000), 60000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_week_walk),
        cmocka_unit_test(test_other_week_states),
        cmocka_unit_test(test_offsets),
        cmocka_unit_test(test_backoff),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

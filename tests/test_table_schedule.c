/* test_table_schedule: the routing table's sense of time (lib/table*.c):
 * calendars of working time for a route's deadlines, the Jalali years whose
 * holidays they must list, and the weekly reports' schedule and where the
 * reports go (table_reports.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "jalali.h"
#include "table_fixture.h"

#define OFFICE                                                                                     \
    "calendars:\n"                                                                                 \
    "  office:\n"                                                                                  \
    "    days: {saturday: 08:00-14:00, sunday: 08:00-14:00, monday: 08:00-14:00,\n"               \
    "           tuesday: 08:00-14:00, wednesday: 08:00-14:00, thursday: 08:00-12:00,\n"           \
    "           friday: \"off\"}\n"                                                                \
    "    holidays: [1404-08-03]\n"

/* A route's deadlines in the working time of a calendar; others on the
 * wall clock. */
static void test_calendars(void **state)
{
    (void)state;
    table_t *t = parse_ok(OFFICE "defaults: {calendar: office}\n" AGENCIES
                                 "routes:\n"
                                 "  - match: a.b\n    to: [water]\n    answer_within: 24h\n"
                                 "  - match: a.c\n    to: [water]\n    calendar: none\n");
    const route_t *office = table_route(t, 0), *wall = table_route(t, 1);
    assert_non_null(office->clock);
    assert_null(wall->clock);
    /* Wednesday 1404/07/30 (2025-10-22) 14:00 Tehran, 10:30 UTC: closing time.
     * Thursday 4 h, Friday off, Saturday 6, Sunday 1404/08/03 a holiday,
     * Monday 6, Tuesday 6 (22 h), then Wednesday 08:00 + 2 h: 10:00 on
     * 1404/08/07 (2025-10-29), 06:30 UTC. */
    uint64_t start = UINT64_C(1761129000000), due = UINT64_C(1761719400000);
    assert_int_equal(workcal_add(office->clock, start, office->answer_within_ms), due);
    table_destroy(&t);

    ERRORS(OFFICE "  none:\n    days: {monday: 08:00-09:00}\n" AGENCIES ROUTE,
           "t.yaml:7:3: \"none\" means no calendar: a calendar needs another name\n");
    ERRORS("calendars:\n  c:\n    days: {sunday: 09:00-08:00, funday: 08:00-09:00}\n"
           "    holidays: [1404-12-30, 1404/01/01]\n    utc_offset: \"+3:30\"\n" AGENCIES ROUTE,
           "t.yaml:3:20: bad hours \"09:00-08:00\" for \"sunday\" in calendar \"c\" (expected off"
           " or HH:MM-HH:MM, the end after the start)\n"
           "t.yaml:3:33: unknown key \"funday\" in calendar \"c\" (expected saturday, sunday,"
           " monday, tuesday, wednesday, thursday, friday)\n"
           "t.yaml:4:16: bad holiday \"1404-12-30\" in \"holidays\" in calendar \"c\" (expected a"
           " Jalali date YYYY-MM-DD that exists, as 1404-01-01)\n"
           "t.yaml:4:28: bad holiday \"1404/01/01\" in \"holidays\" in calendar \"c\" (expected a"
           " Jalali date YYYY-MM-DD that exists, as 1404-01-01)\n"
           "t.yaml:5:17: bad utc_offset \"+3:30\" for \"utc_offset\" in calendar \"c\" (expected"
           " +HH:MM or -HH:MM)\n");
    ERRORS("calendars:\n  c:\n    days: {sunday: 09:00-08:00}\n" AGENCIES ROUTE,
           "t.yaml:3:20: bad hours \"09:00-08:00\" for \"sunday\" in calendar \"c\" (expected off"
           " or HH:MM-HH:MM, the end after the start)\n");
    ERRORS("calendars:\n  c:\n    days: {friday: \"off\"}\n" AGENCIES ROUTE,
           "t.yaml:3:5: calendar \"c\" has no working hours: its deadlines would never come\n");
    ERRORS(AGENCIES ROUTE "    calendar: office\n",
           "t.yaml:7:15: unknown calendar \"office\" for \"calendar\" in route \"a.b\" (expected"
           " none or one of calendars)\n");
}

/* What mizd --check asks of calendars: whether one lists a year's
 * holidays, and which years it should list today (Tehran time). */
static void test_holiday_years(void **state)
{
    (void)state;
    table_t *t = parse_ok(OFFICE "  shop:\n    days: {sunday: 08:00-14:00}\n"
                                 "    holidays: [1405-01-01, 1406-01-01, 1405-12-29]\n" AGENCIES
                                 ROUTE);
    unsigned line = 0, col = 0;
    assert_int_equal(table_calendar_count(t), 2);
    assert_string_equal(table_calendar_name(t, 0, &line, &col), "office");
    assert_int_equal(line, 2);
    assert_int_equal(col, 3);
    assert_string_equal(table_calendar_name(t, 1, &line, &col), "shop");
    assert_int_equal(line, 7);
    assert_int_equal(col, 3);
    assert_null(table_calendar_name(t, 2, &line, &col));
    assert_true(table_calendar_has_holiday(t, 0, 1404));
    assert_false(table_calendar_has_holiday(t, 0, 1405));
    assert_true(table_calendar_has_holiday(t, 1, 1405));
    assert_true(table_calendar_has_holiday(t, 1, 1406));
    assert_false(table_calendar_has_holiday(t, 1, 1407));
    assert_false(table_calendar_has_holiday(t, 2, 1405));
    table_destroy(&t);
    t = parse_ok("calendars:\n  c:\n    days: {sunday: 08:00-14:00}\n    holidays: []\n" AGENCIES
                 ROUTE);
    assert_false(table_calendar_has_holiday(t, 0, 1405));
    table_destroy(&t);

    /* Tehran midnight of a Jalali date, in ms since the epoch */
    const uint64_t day_ms = 86400000, irst_ms = (3 * 60 + 30) * 60000;
    int d;
    int years[2] = {0, 0};
    /* 2026-12-06 08:23 UTC: 1405-09-15 */
    assert_int_equal(table_holiday_years_due(UINT64_C(1796545380000), years), 1);
    assert_int_equal(years[0], 1405);
    /* 15 Esfand 1405, the last minute: this year only */
    assert_true(jalali_to_day(1405, 12, 16, &d));
    uint64_t esfand16 = (uint64_t)d * day_ms - irst_ms;
    assert_int_equal(table_holiday_years_due(esfand16 - 60000, years), 1);
    assert_int_equal(years[0], 1405);
    /* from 16 Esfand on (20:30 UTC the day before), next year's too */
    assert_int_equal(table_holiday_years_due(esfand16, years), 2);
    assert_int_equal(years[0], 1405);
    assert_int_equal(years[1], 1406);
    assert_true(jalali_to_day(1406, 1, 1, &d));
    uint64_t nowruz = (uint64_t)d * day_ms - irst_ms;
    assert_int_equal(table_holiday_years_due(nowruz - 1, years), 2);
    assert_int_equal(table_holiday_years_due(nowruz, years), 1);
    assert_int_equal(years[0], 1406);
    /* out of jalali.h's range */
    assert_int_equal(table_holiday_years_due(UINT64_MAX, years), 0);
}

/* ---- the weekly reports' schedule (table_reports.c) ---- */

static void test_reports_defaults(void **state)
{
    (void)state;
    table_t *t = parse_ok(AGENCIES ROUTE);
    assert_null(table_reports(t)); /* no section: no reports */
    table_destroy(&t);
    t = parse_ok(AGENCIES ROUTE "reports:\n  at: \"14:00\"\n  folder: /var/lib/miz/reports\n");
    const table_reports_t *r = table_reports(t);
    assert_non_null(r);
    assert_int_equal(r->weekday, JALALI_THURSDAY);
    assert_int_equal(r->minute, 14 * 60);
    assert_int_equal(r->utc_offset_min, 210);
    assert_int_equal(r->n_agencies, 0); /* every agency */
    assert_int_equal(r->formats, TABLE_REPORT_HTML);
    assert_string_equal(r->folder, "/var/lib/miz/reports");
    assert_null(r->command);
    assert_null(r->webhook);
    assert_string_equal(r->state, "/var/lib/miz/reports/.miz-reports-delivered");
    assert_int_equal(r->timeout_ms, 60000);
    assert_int_equal(r->retry_ms, 60000);
    assert_int_equal(r->retry_max_ms, 3600000);
    assert_int_equal(r->line, 7);
    table_destroy(&t);
}

static void test_reports_full(void **state)
{
    (void)state;
    table_t *t = parse_ok(AGENCIES ROUTE "reports:\n"
                                         "  day: wednesday\n"
                                         "  at: \"23:59\"\n"
                                         "  utc_offset: \"-01:15\"\n"
                                         "  agencies: [gov, water]\n"
                                         "  formats: [csv, html]\n"
                                         "  command: \"mail -s 'weekly report' ops@example.ir\"\n"
                                         "  webhook: http://10.0.0.9:8080/miz/reports?x=1\n"
                                         "  state: /var/lib/miz/delivered\n"
                                         "  timeout: 30s\n"
                                         "  retry: 500ms\n"
                                         "  retry_max: 2m\n");
    const table_reports_t *r = table_reports(t);
    assert_int_equal(r->weekday, JALALI_WEDNESDAY);
    assert_int_equal(r->minute, 23 * 60 + 59);
    assert_int_equal(r->utc_offset_min, -75);
    assert_int_equal(r->n_agencies, 2);
    assert_int_equal(r->agencies[0], 1);
    assert_int_equal(r->agencies[1], 0);
    assert_int_equal(r->formats, TABLE_REPORT_HTML | TABLE_REPORT_CSV);
    assert_null(r->folder);
    assert_string_equal(r->command, "mail -s 'weekly report' ops@example.ir");
    assert_string_equal(r->webhook, "http://10.0.0.9:8080/miz/reports?x=1");
    assert_string_equal(r->state, "/var/lib/miz/delivered");
    assert_int_equal(r->timeout_ms, 30000);
    assert_int_equal(r->retry_ms, 500);
    assert_int_equal(r->retry_max_ms, 120000);
    table_destroy(&t);
    /* an IPv6 host, no port, no path */
    t = parse_ok(AGENCIES ROUTE "reports: {at: \"00:00\", webhook: \"http://[::1]\", state: s}\n");
    assert_string_equal(table_reports(t)->webhook, "http://[::1]");
    table_destroy(&t);
}

static void test_reports_errors(void **state)
{
    (void)state;
    /* lines 1-6: AGENCIES ROUTE; the section starts on line 7 */
    ERRORS(AGENCIES ROUTE "reports:\n  folder: /r\n",
           "t.yaml:8:3: missing key \"at\" in reports\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n",
           "t.yaml:7:1: reports: say where they go: \"folder\", \"command\", \"webhook\", or more "
           "than one\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n  command: mail x\n",
           "t.yaml:7:1: reports: without \"folder\", \"state\" must say where to keep what was "
           "delivered\n");
    ERRORS(AGENCIES ROUTE "reports:\n"
                          "  day: thursdy\n"
                          "  at: \"24:00\"\n"
                          "  utc_offset: \"+3:30\"\n"
                          "  agencies: [water, watr, water]\n"
                          "  formats: [pdf, csv, csv]\n"
                          "  folder: /r\n"
                          "  webhook: https://example.ir/x\n"
                          "  retry: 2h\n"
                          "  whenever: x\n",
           "t.yaml:8:8: bad day \"thursdy\" in reports (expected saturday, sunday, monday, tuesday, "
           "wednesday, thursday or friday)\n"
           "t.yaml:9:7: bad time \"24:00\" for \"at\" in reports (expected HH:MM, 00:00 to 23:59)\n"
           "t.yaml:10:15: bad utc_offset \"+3:30\" in reports (expected +HH:MM or -HH:MM, at most "
           "14:00)\n"
           "t.yaml:11:21: unknown agency \"watr\" in reports\n"
           "t.yaml:11:27: agency \"water\" twice in reports\n"
           "t.yaml:12:13: bad format \"pdf\" in reports (expected html or csv)\n"
           "t.yaml:12:23: format \"csv\" twice in reports\n"
           "t.yaml:14:12: bad webhook \"https://example.ir/x\" in reports (expected "
           "http://HOST[:PORT]/PATH; for https, a local proxy in front)\n"
           "t.yaml:15:10: retry (7200000 ms) exceeds retry_max (3600000 ms) in reports\n"
           "t.yaml:16:3: unknown key \"whenever\" in reports (expected day, at, utc_offset, "
           "agencies, formats, folder, command, webhook, state, timeout, retry, retry_max)\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n  folder: \"\"\n  agencies: []\n"
                          "  formats: []\n  webhook: \"http://h:0/\"\n",
           "t.yaml:9:11: \"folder\" in reports must not be empty\n"
           "t.yaml:10:13: \"agencies\" in reports must list 1 to 1024 agencies (leave it out for "
           "every agency)\n"
           "t.yaml:11:12: \"formats\" in reports must list html, csv or both\n"
           "t.yaml:12:12: bad webhook \"http://h:0/\" in reports (expected "
           "http://HOST[:PORT]/PATH; for https, a local proxy in front)\n");
    ERRORS(AGENCIES ROUTE "reports:\n  at: \"09:00\"\n  command: \"mail\\nx\"\n  state: s\n",
           "t.yaml:9:12: bad command in reports (expected 1 to 4096 bytes on one line, no control "
           "characters)\n");
    ERRORS(AGENCIES ROUTE "reports: [x]\n", "t.yaml:7:10: reports must be a map, not a list\n");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendars),
        cmocka_unit_test(test_holiday_years),
        cmocka_unit_test(test_reports_defaults),
        cmocka_unit_test(test_reports_full),
        cmocka_unit_test(test_reports_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

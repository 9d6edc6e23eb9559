/* jalali: the Iranian (Jalali, Solar Hijri) calendar, for deadlines counted in
 * working days and for weekly reports.
 *
 * Conversions follow Kazimierz M. Borkowski, "The Persian calendar for 3000
 * years" (Earth, Moon and Planets 74, 1996), as ported by jalaali-js: leap
 * years come from a table of breaks in the 33-year cycle, which matches the
 * astronomical calendar for Jalali years JALALI_MIN_YEAR..JALALI_MAX_YEAR.
 * Dates outside that range are refused. Gregorian dates are proleptic
 * Gregorian. No state, no allocation.
 *
 * Days are numbered as days since 1970-01-01, the Unix epoch's day (so
 * 1970-01-01 is day 0 and 1969-12-31 is day -1): a day number plus one is
 * the next day whatever the calendar, which keeps week arithmetic trivial.
 *
 * Iran's week runs Saturday to Friday; weekdays are numbered that way:
 * 0 Saturday (shanbeh), 1 Sunday, 2 Monday, 3 Tuesday, 4 Wednesday,
 * 5 Thursday, 6 Friday (jom'eh, the weekly day off).
 *
 * Week numbering, for weekly reports ("1404-W32"): weeks run Saturday to
 * Friday; week 1 of Jalali year Y is the week containing 1 Farvardin Y, and
 * the weeks of Y run up to the one before week 1 of Y + 1, so a year has 52 or
 * 53 weeks. Equivalently, a week belongs to the Jalali year of its Friday, as
 * an ISO week belongs to the year of its Thursday. The last days of Esfand may
 * thus fall in week 1 of the next year: 1 Farvardin 1404 is a Friday, so
 * 1404-W01 runs from Saturday 1403/12/25 to Friday 1404/01/01. */
#ifndef MIZ_JALALI_H
#define MIZ_JALALI_H

#include <stdbool.h>
#include <stddef.h>

#define JALALI_MIN_YEAR (-61)
#define JALALI_MAX_YEAR 3177

enum { JALALI_SATURDAY, JALALI_SUNDAY, JALALI_MONDAY, JALALI_TUESDAY,
       JALALI_WEDNESDAY, JALALI_THURSDAY, JALALI_FRIDAY };

/* True for a leap year (Esfand has 30 days); false also outside the range. */
bool jalali_leap(int jy);

/* 31 for months 1-6, 30 for 7-11, 29 or 30 for Esfand; 0 when invalid. */
int jalali_month_length(int jy, int jm);

bool jalali_valid(int jy, int jm, int jd);

/* Date <-> day number. Each returns false, leaving the outputs alone, for an
 * invalid date or one whose Jalali year is out of range. */
bool jalali_to_day(int jy, int jm, int jd, int *day);
bool jalali_from_day(int day, int *jy, int *jm, int *jd);
bool gregorian_to_day(int gy, int gm, int gd, int *day);
bool gregorian_from_day(int day, int *gy, int *gm, int *gd);

bool jalali_from_gregorian(int gy, int gm, int gd, int *jy, int *jm, int *jd);
bool jalali_to_gregorian(int jy, int jm, int jd, int *gy, int *gm, int *gd);

/* 0 Saturday .. 6 Friday, for any day number. */
int jalali_weekday(int day);

/* The Saturday on or before day: the first day of its week. */
int jalali_week_start(int day);

/* The week of day: its week year and week number (1..53). */
bool jalali_week_of(int day, int *wy, int *wk);

/* 52 or 53; 0 outside JALALI_MIN_YEAR..JALALI_MAX_YEAR - 1 (the count needs
 * 1 Farvardin of the next year). */
int jalali_weeks_in_year(int wy);

/* The Saturday starting week wk of wy; false for a week that does not exist. */
bool jalali_week_first_day(int wy, int wk, int *day);

/* Writes "YYYY-Www" ("1404-W07"): a four-digit year (1..3176) and a two-digit
 * week that exists in it. False, writing nothing, for such a week that does
 * not exist or a buffer shorter than 9 bytes. */
bool jalali_week_format(int wy, int wk, char *buf, size_t size);

/* Reads exactly the n bytes at s as "YYYY-Www", as format writes it; false,
 * leaving the outputs alone, for anything else or a week that does not exist. */
bool jalali_week_parse(const char *s, size_t n, int *wy, int *wk);

/* Copies the string s to buf with ASCII digits replaced by the Persian digits
 * U+06F0..U+06F9 (two UTF-8 bytes each), like snprintf: writes at most size
 * bytes, NUL-terminated when size > 0, never splits a digit, and returns the
 * length the whole result needs, without the NUL. */
size_t jalali_persian_digits(const char *s, char *buf, size_t size);

#endif

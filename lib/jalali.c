/* jalali: Jalali dates from and to days since the epoch (jalali.h says why),
 * by Borkowski's algorithm as jalaali-js implements it, and the names and
 * digits a Persian page prints them with. */
#include "jalali.h"

#include <stdio.h>
#include <string.h>

/* Day numbers are Julian Day Numbers internally, as in Borkowski's paper;
 * this is the JDN of 1970-01-01. */
#define JDN_1970 2440588

/* Jalali years where the 33-year leap cycle breaks (Borkowski, table 1); the
 * last entry bounds the range. */
static const int breaks[] = {-61,  9,    38,   199,  426,  686,  756,
                             818,  1111, 1181, 1210, 1635, 2060, 2097,
                             2192, 2262, 2324, 2394, 2456, 3178};
#define NBREAKS (int)(sizeof breaks / sizeof breaks[0])

/* Borkowski's jal_cal for jy in range: *march is the day of March (Gregorian
 * year jy + 621) on which 1 Farvardin falls, *leap whether jy is a leap year.
 * Divisions truncate, as in the paper; every operand is non-negative except
 * where noted. */
static void jal_cal(int jy, bool *leap, int *march)
{
    int gy = jy + 621, leap_j = -14, jp = breaks[0], jump = 0;

    for (int i = 1; i < NBREAKS; i++) {
        jump = breaks[i] - jp;
        if (jy < breaks[i])
            break;
        leap_j += jump / 33 * 8 + jump % 33 / 4;
        jp = breaks[i];
    }
    int n = jy - jp;
    /* leap years in the Jalali calendar since AD 621, and the Gregorian
     * ones; their difference moves 1 Farvardin around 20 or 21 March */
    leap_j += n / 33 * 8 + (n % 33 + 3) / 4;
    if (jump % 33 == 4 && jump - n == 4)
        leap_j++;
    int leap_g = gy / 4 - (gy / 100 + 1) * 3 / 4 - 150;
    *march = 20 + leap_j - leap_g;

    /* leap when the years since the last leap year are 0, counted within
     * the 33-year cycle, re-based in the last years before a break; n + 1 a
     * multiple of 33 makes the remainder -1: not leap */
    if (jump - n < 6)
        n = n - jump + (jump + 4) / 33 * 33;
    *leap = ((n + 1) % 33 - 1) % 4 == 0;
}

static bool year_in_range(int jy)
{
    return jy >= JALALI_MIN_YEAR && jy <= JALALI_MAX_YEAR;
}

/* Gregorian date -> JDN (Borkowski's g2d). The formulas rely on truncating
 * division, as C's is, for the (gm - 8) / 6 month terms; the 100100-year
 * offset keeps the year terms positive. */
static int g2d(int gy, int gm, int gd)
{
    int d = (gy + (gm - 8) / 6 + 100100) * 1461 / 4 + (153 * ((gm + 9) % 12) + 2) / 5 + gd -
            34840408;
    return d - (gy + 100100 + (gm - 8) / 6) / 100 * 3 / 4 + 752;
}

/* JDN -> Gregorian date (Borkowski's d2g). */
static void d2g(int jdn, int *gy, int *gm, int *gd)
{
    int j = 4 * jdn + 139361631;
    j += (4 * jdn + 183187720) / 146097 * 3 / 4 * 4 - 3908;
    int i = j % 1461 / 4 * 5 + 308;
    *gd = i % 153 / 5 + 1;
    *gm = i / 153 % 12 + 1;
    *gy = j / 1461 - 100100 + (8 - *gm) / 6;
}

static int farvardin1_jdn(int jy)
{
    bool leap;
    int march;
    jal_cal(jy, &leap, &march);
    return g2d(jy + 621, 3, march);
}

/* Valid date in range -> JDN (Borkowski's j2d): months 1-6 have 31 days, 7-11
 * have 30. */
static int j2d(int jy, int jm, int jd)
{
    return farvardin1_jdn(jy) + (jm - 1) * 31 - jm / 7 * (jm - 7) + jd - 1;
}

/* The day numbers the range covers; computed rather than written down so the
 * bounds cannot disagree with the algorithm. */
static int first_day(void)
{
    return j2d(JALALI_MIN_YEAR, 1, 1) - JDN_1970;
}

static int last_day(void)
{
    return j2d(JALALI_MAX_YEAR, 12, jalali_month_length(JALALI_MAX_YEAR, 12)) - JDN_1970;
}

static bool day_in_range(int day)
{
    return day >= first_day() && day <= last_day();
}

bool jalali_leap(int jy)
{
    bool leap;
    int march;
    if (!year_in_range(jy))
        return false;
    jal_cal(jy, &leap, &march);
    return leap;
}

int jalali_month_length(int jy, int jm)
{
    if (!year_in_range(jy) || jm < 1 || jm > 12)
        return 0;
    if (jm <= 6)
        return 31;
    if (jm <= 11)
        return 30;
    return jalali_leap(jy) ? 30 : 29;
}

bool jalali_valid(int jy, int jm, int jd)
{
    return jd >= 1 && jd <= jalali_month_length(jy, jm);
}

bool jalali_to_day(int jy, int jm, int jd, int *day)
{
    if (!jalali_valid(jy, jm, jd))
        return false;
    *day = j2d(jy, jm, jd) - JDN_1970;
    return true;
}

bool jalali_from_day(int day, int *jy, int *jm, int *jd)
{
    if (!day_in_range(day))
        return false;
    int jdn = day + JDN_1970, gy, gm, gd;
    d2g(jdn, &gy, &gm, &gd);
    /* 1 Farvardin falls in March of Gregorian year jy + 621, so the date is
     * in that Jalali year or, before Nowruz, the previous one. The range's
     * last days (early 3799) would ask for year 3178, past the table. */
    int y = gy - 621;
    if (y > JALALI_MAX_YEAR)
        y = JALALI_MAX_YEAR;
    int k = jdn - farvardin1_jdn(y);
    if (k < 0) {
        y--;
        k = jdn - farvardin1_jdn(y);
    }
    if (k < 186) {
        *jm = 1 + k / 31;
        *jd = 1 + k % 31;
    } else {
        *jm = 7 + (k - 186) / 30;
        *jd = 1 + (k - 186) % 30;
    }
    *jy = y;
    return true;
}

static bool gregorian_valid(int gy, int gm, int gd)
{
    static const int len[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (gy < 1 || gy > 9999 || gm < 1 || gm > 12 || gd < 1)
        return false;
    bool leap = (gy % 4 == 0 && gy % 100 != 0) || gy % 400 == 0;
    return gd <= len[gm - 1] + (gm == 2 && leap);
}

bool gregorian_to_day(int gy, int gm, int gd, int *day)
{
    /* years 1..9999 keep g2d's arithmetic well inside int */
    if (!gregorian_valid(gy, gm, gd))
        return false;
    int d = g2d(gy, gm, gd) - JDN_1970;
    if (!day_in_range(d))
        return false;
    *day = d;
    return true;
}

bool gregorian_from_day(int day, int *gy, int *gm, int *gd)
{
    if (!day_in_range(day))
        return false;
    d2g(day + JDN_1970, gy, gm, gd);
    return true;
}

bool jalali_from_gregorian(int gy, int gm, int gd, int *jy, int *jm, int *jd)
{
    int day;
    return gregorian_to_day(gy, gm, gd, &day) && jalali_from_day(day, jy, jm, jd);
}

bool jalali_to_gregorian(int jy, int jm, int jd, int *gy, int *gm, int *gd)
{
    int day;
    return jalali_to_day(jy, jm, jd, &day) && gregorian_from_day(day, gy, gm, gd);
}

int jalali_weekday(int day)
{
    /* day 0, 1970-01-01, was a Thursday (5); % may be negative */
    return (day % 7 + 7 + JALALI_THURSDAY) % 7;
}

int jalali_week_start(int day)
{
    return day - jalali_weekday(day);
}

static bool week_year_in_range(int wy)
{
    return wy >= JALALI_MIN_YEAR && wy < JALALI_MAX_YEAR;
}

/* The Saturday of week 1 of wy, in range. */
static int week1_start(int wy)
{
    return jalali_week_start(j2d(wy, 1, 1) - JDN_1970);
}

int jalali_weeks_in_year(int wy)
{
    if (!week_year_in_range(wy))
        return 0;
    return (week1_start(wy + 1) - week1_start(wy)) / 7;
}

bool jalali_week_of(int day, int *wy, int *wk)
{
    int start = jalali_week_start(day), y, m, d;
    /* a week belongs to the year of its Friday */
    if (!jalali_from_day(start + 6, &y, &m, &d) || !week_year_in_range(y))
        return false;
    *wy = y;
    *wk = (start - week1_start(y)) / 7 + 1;
    return true;
}

bool jalali_week_first_day(int wy, int wk, int *day)
{
    if (wk < 1 || wk > jalali_weeks_in_year(wy))
        return false;
    *day = week1_start(wy) + (wk - 1) * 7;
    return true;
}

bool jalali_week_format(int wy, int wk, char *buf, size_t size)
{
    if (wy < 1 || wk < 1 || wk > jalali_weeks_in_year(wy) || size < 9)
        return false;
    snprintf(buf, size, "%04d-W%02d", wy, wk);
    return true;
}

static int digits(const char *s, int n)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

bool jalali_week_parse(const char *s, size_t n, int *wy, int *wk)
{
    if (n != 8 || s[4] != '-' || s[5] != 'W')
        return false;
    int y = digits(s, 4), w = digits(s + 6, 2);
    if (y < 1 || w < 1 || w > jalali_weeks_in_year(y))
        return false;
    *wy = y;
    *wk = w;
    return true;
}

size_t jalali_persian_digits(const char *s, char *buf, size_t size)
{
    size_t len = 0, written = 0;
    bool full = size == 0;

    for (; *s; s++) {
        char enc[2] = {*s, 0};
        size_t w = 1;
        if (*s >= '0' && *s <= '9') {
            /* U+06F0 + d encodes as DB B0+d */
            enc[0] = (char)0xdb;
            enc[1] = (char)(0xb0 + (*s - '0'));
            w = 2;
        }
        /* once something does not fit, nothing after it is written either */
        if (!full && written + w < size) {
            memcpy(buf + written, enc, w);
            written += w;
        } else {
            full = true;
        }
        len += w;
    }
    if (size > 0)
        buf[written] = '\0';
    return len;
}

/* workcal: working time on a weekly timetable with holidays (workcal.h says
 * why): adding a duration walks the calendar a working interval at a time,
 * in the calendar's own time zone (Tehran time unless it says). */
#include "workcal.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "jalali.h"

#define MIN_MS INT64_C(60000)
#define DAY_MS (1440 * MIN_MS)

struct workcal {
    int start[7], end[7]; /* minutes after local midnight, by Jalali weekday */
    int offset_min;
    int *holidays; /* day numbers (jalali.h), sorted, without repeats */
    size_t nholidays, cap;
};

workcal_t *workcal_new(void)
{
    workcal_t *c = calloc(1, sizeof *c);
    if (c)
        c->offset_min = WORKCAL_IRST;
    return c;
}

void workcal_destroy(workcal_t **c)
{
    if (!c || !*c)
        return;
    free((*c)->holidays);
    free(*c);
    *c = NULL;
}

int workcal_set_day(workcal_t *c, int weekday, int start_min, int end_min)
{
    if (weekday < 0 || weekday > 6 || start_min < 0 || start_min > end_min || end_min > 1440)
        return -1;
    c->start[weekday] = start_min;
    c->end[weekday] = end_min;
    return 0;
}

/* Index of the first holiday on or after day, nholidays when none. */
static size_t holiday_from(const workcal_t *c, int64_t day)
{
    size_t lo = 0, hi = c->nholidays;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->holidays[mid] < day)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int workcal_add_holiday(workcal_t *c, int jy, int jm, int jd)
{
    int day;
    if (!jalali_to_day(jy, jm, jd, &day))
        return -1;
    size_t i = holiday_from(c, day);
    if (i < c->nholidays && c->holidays[i] == day)
        return 0;
    if (c->nholidays == c->cap) {
        size_t cap = c->cap ? 2 * c->cap : 16;
        int *h = realloc(c->holidays, cap * sizeof *h);
        if (!h)
            return -1;
        c->holidays = h;
        c->cap = cap;
    }
    memmove(c->holidays + i + 1, c->holidays + i, (c->nholidays - i) * sizeof *c->holidays);
    c->holidays[i] = day;
    c->nholidays++;
    return 0;
}

int workcal_set_utc_offset(workcal_t *c, int minutes)
{
    if (minutes < -840 || minutes > 840)
        return -1;
    c->offset_min = minutes;
    return 0;
}

static int64_t floor_div(int64_t a, int64_t b)
{
    return a / b - (a % b < 0);
}

/* The working period of local day `day` in ms after its midnight, empty
 * (*s == *e) on days off and holidays. */
static void period(const workcal_t *c, int64_t day, int64_t *s, int64_t *e)
{
    size_t h = holiday_from(c, day);
    /* the weekday depends on day % 7 only, which fits jalali_weekday's int */
    int wd = jalali_weekday((int)(day % 7));
    if (h < c->nholidays && c->holidays[h] == day) {
        *s = *e = 0;
        return;
    }
    *s = c->start[wd] * MIN_MS;
    *e = c->end[wd] * MIN_MS;
}

static int64_t week_ms(const workcal_t *c)
{
    int64_t ms = 0;
    for (int i = 0; i < 7; i++)
        ms += (c->end[i] - c->start[i]) * MIN_MS;
    return ms;
}

/* How many whole weeks from local midnight `day` on hold no holiday, at most
 * limit: those weeks are worth week_ms() each, no need to visit their days. */
static int64_t free_weeks(const workcal_t *c, int64_t day, int64_t limit)
{
    size_t h = holiday_from(c, day);
    if (h < c->nholidays && (c->holidays[h] - day) / 7 < limit)
        return (c->holidays[h] - day) / 7;
    return limit;
}

uint64_t workcal_add(const workcal_t *c, uint64_t start_ms, uint64_t working_ms)
{
    int64_t week = week_ms(c), off = c->offset_min * MIN_MS;

    if (start_ms >= WORKCAL_MAX_MS)
        return UINT64_MAX;
    if (working_ms == 0)
        return start_ms;
    if (week == 0)
        return UINT64_MAX;

    int64_t local = (int64_t)start_ms + off;
    int64_t day = floor_div(local, DAY_MS), pos = local - day * DAY_MS;
    int64_t last_day = floor_div((int64_t)WORKCAL_MAX_MS + off, DAY_MS);
    uint64_t left = working_ms;

    while (day <= last_day) {
        /* Skip weeks only while more than a week's worth is left, so the
         * deadline itself is always found by the day walk: a duration of
         * exactly n weeks ends at the end of a period, not at the start of
         * the next one. The horizon bounds the skip against overflow. */
        if (pos == 0 && left > (uint64_t)week) {
            int64_t limit = (int64_t)((left - 1) / (uint64_t)week);
            if (limit > (last_day - day) / 7 + 1)
                limit = (last_day - day) / 7 + 1;
            int64_t n = free_weeks(c, day, limit);
            day += 7 * n;
            left -= (uint64_t)n * (uint64_t)week;
        }
        if (day > last_day)
            return UINT64_MAX;
        int64_t s, e;
        period(c, day, &s, &e);
        if (pos < e) {
            int64_t from = pos > s ? pos : s;
            if (left <= (uint64_t)(e - from)) {
                uint64_t t = (uint64_t)(day * DAY_MS + from - off) + left;
                return t < WORKCAL_MAX_MS ? t : UINT64_MAX;
            }
            left -= (uint64_t)(e - from);
        }
        day++;
        pos = 0;
    }
    return UINT64_MAX;
}

uint64_t workcal_between(const workcal_t *c, uint64_t from_ms, uint64_t to_ms)
{
    int64_t week = week_ms(c), off = c->offset_min * MIN_MS;

    if (from_ms > WORKCAL_MAX_MS)
        from_ms = WORKCAL_MAX_MS;
    if (to_ms > WORKCAL_MAX_MS)
        to_ms = WORKCAL_MAX_MS;
    if (to_ms <= from_ms || week == 0)
        return 0;

    int64_t a = (int64_t)from_ms + off, b = (int64_t)to_ms + off;
    int64_t day = floor_div(a, DAY_MS), pos = a - day * DAY_MS;
    int64_t last = floor_div(b, DAY_MS), last_pos = b - last * DAY_MS;
    uint64_t total = 0;

    for (;;) {
        /* whole weeks strictly before the last day, as in workcal_add */
        if (pos == 0 && last - day >= 7) {
            int64_t n = free_weeks(c, day, (last - day) / 7);
            day += 7 * n;
            total += (uint64_t)n * (uint64_t)week;
        }
        int64_t s, e;
        period(c, day, &s, &e);
        if (s < pos)
            s = pos;
        if (day == last && e > last_pos)
            e = last_pos;
        if (e > s)
            total += (uint64_t)(e - s);
        if (day == last)
            return total;
        day++;
        pos = 0;
    }
}

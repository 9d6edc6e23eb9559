/* workcal: a working-time calendar, so a route's deadline can stop the clock
 * outside office hours: "24 working hours" from Wednesday afternoon runs out
 * the next Tuesday, not on Thursday.
 *
 * A calendar has one working period per weekday (Iran's offices work one
 * straight shift, e.g. Saturday-Wednesday 07:30-14:30, Thursday 07:30-12:30,
 * Friday off), a set of holidays given as Jalali dates, and a fixed offset
 * from UTC for local wall-clock time. Iran has kept IRST, UTC+03:30, with no
 * daylight saving since 1401 (2022); a fixed offset is therefore exact for
 * current deadlines, and off by an hour for summer instants before then.
 *
 * Instants are milliseconds since the Unix epoch, UTC, as everywhere in miz.
 * Instants at or past WORKCAL_MAX_MS (year 10000) are out of range.
 *
 * Working periods are half-open in the clock's sense but a deadline may end
 * exactly at a period's end: 6 working hours from 08:00 on an 08:00-14:00 day
 * is due at 14:00 that day, not at 08:00 the next working day. */
#ifndef MIZ_WORKCAL_H
#define MIZ_WORKCAL_H

#include <stdint.h>

#define WORKCAL_MAX_MS 253402300800000ULL /* 10000-01-01T00:00:00Z */
#define WORKCAL_IRST (3 * 60 + 30)        /* minutes east of UTC */

typedef struct workcal workcal_t;

/* A calendar with no working time, no holidays and the offset WORKCAL_IRST;
 * NULL when out of memory. Days must be set before it counts anything. */
workcal_t *workcal_new(void);

/* Frees *c and sets *c to NULL; NULL and *c == NULL are fine. */
void workcal_destroy(workcal_t **c);

/* Sets weekday's (0 Saturday .. 6 Friday, as in jalali.h) working period to
 * start_min..end_min, minutes after local midnight, 0 <= start <= end <= 1440;
 * start == end makes the day off. 0, or -1 for anything else, changing
 * nothing. */
int workcal_set_day(workcal_t *c, int weekday, int start_min, int end_min);

/* Makes the Jalali date jy/jm/jd a holiday (adding one twice is harmless).
 * 0, or -1 for an invalid date (see jalali.h) or when out of memory. */
int workcal_add_holiday(workcal_t *c, int jy, int jm, int jd);

/* Local time is UTC plus minutes, -840..840 (UTC-14:00..UTC+14:00); 0, or -1
 * for anything else, changing nothing. */
int workcal_set_utc_offset(workcal_t *c, int minutes);

/* The instant working_ms of working time after start_ms: time outside the
 * working periods and on holidays does not count, so a start outside working
 * hours begins counting at the next period. A zero duration is due at once,
 * at start_ms. UINT64_MAX when the calendar has no working time at all (every
 * weekday off; the deadline never comes) or when start_ms or the result is
 * out of range. Skips whole weeks and visits each holiday at most once, so a
 * deadline months away costs a few dozen steps. */
uint64_t workcal_add(const workcal_t *c, uint64_t start_ms, uint64_t working_ms);

/* The working time in [from_ms, to_ms), in ms; 0 when to_ms <= from_ms. Ends
 * past WORKCAL_MAX_MS count as WORKCAL_MAX_MS. For any d for which
 * workcal_add(c, t, d) is in range, workcal_between(c, t, workcal_add(c, t, d))
 * is d. */
uint64_t workcal_between(const workcal_t *c, uint64_t from_ms, uint64_t to_ms);

#endif

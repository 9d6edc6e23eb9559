/* schedule: when an agency's weekly report is due, as a pure function of
 * the time, the table's schedule and what was delivered (schedule.c). */
#ifndef MIZ_DASH_SCHEDULE_H
#define MIZ_DASH_SCHEDULE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Where a report goes: bits of a destination set. */
#define SCHED_FOLDER 1u
#define SCHED_COMMAND 2u
#define SCHED_WEBHOOK 4u
#define SCHED_DESTS 3 /* how many */

typedef struct {
    int weekday;    /* 0 Saturday .. 6 Friday */
    int minute;     /* of the day, 0 .. 1439, local */
    int offset_min; /* local time = UTC + this */
} sched_when_t;

/* One agency's report for the week `day0` of its state. */
typedef struct {
    unsigned done;        /* destinations it was delivered to */
    unsigned failures;    /* attempts failed in a row */
    uint64_t retry_at_ms; /* no attempt before this */
} sched_agency_t;

typedef struct {
    int day0;         /* the week due: its Saturday, a Tehran day number (fig_day) */
    uint64_t at_ms;   /* its occasion */
    size_t agency;    /* the agency due (an index of the states) */
    unsigned dests;   /* where its report is still owed */
    uint64_t next_ms; /* when nothing is due now: when something may be */
} sched_due_t;

/* The occasion of the local week (Saturday to Friday in the offset's time)
 * that holds now: its instant, and the report's week, the Tehran week that
 * holds that instant. */
void schedule_occasion(const sched_when_t *w, uint64_t now_ms, uint64_t *at_ms, int *day0);

/* What is due at now: the first agency, in order, of the n whose report for
 * this week's occasion (passed) is owed to some of the destinations want
 * and whose retry time has come. The states are of the week state_day0:
 * of another week, they count as nothing delivered and nothing failed.
 * true with out->agency, ->dests; false with out->next_ms: the next retry
 * or the next week's occasion. out->day0 and ->at_ms are set either way. */
bool schedule_due(uint64_t now_ms, const sched_when_t *w, unsigned want, int state_day0,
                  const sched_agency_t *states, size_t n, sched_due_t *out);

/* The wait after failures in a row (>= 1): first_ms, doubled each time,
 * at most max_ms. */
uint64_t schedule_backoff(unsigned failures, uint64_t first_ms, uint64_t max_ms);

#endif

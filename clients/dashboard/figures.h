/* figures: the governor's office figures per agency, computed from a
 * replica of the broker's requests (lib/stream.h) over a span of whole
 * Tehran calendar days. docs/dashboard.md defines each figure; in short,
 * for the target and escalation deliveries of an agency:
 *
 *   open, overdue      now: open deliveries, and those of them past answer_by
 *   on_time, missed    answered never having gone overdue (counted on the day
 *                      of the answer); went overdue (on the day it did)
 *   time to ack        first `acked` - delivery created, on the day of the ack
 *   time to answer     `answered` - delivery created, on the day of the answer
 *   escalations        `escalated` entries (an escalation was made from it)
 *   refusals           `refused` entries
 *   volume             target deliveries created per day; avg28 is the mean
 *                      of the 28 days before the span
 *   trend              on time and missed per 7 days, for the 8 weeks ending
 *                      with the one starting at the span's first day
 *
 * Days are Tehran days (UTC+03:30, Iran's offset since 1401), numbered as
 * in lib/jalali.h: days since 1970-01-01. Percentiles are nearest-rank: the
 * p-th is the value at rank ceil(p * n / 100) of the n sorted values. */
#ifndef MIZ_FIGURES_H
#define MIZ_FIGURES_H

#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "workcal.h"

#define FIG_TZ_OFFSET_MS (WORKCAL_IRST * 60 * 1000ULL) /* IRST, UTC+03:30 */
#define FIG_DAY_MS 86400000ULL
#define FIG_MAX_DAYS 31
#define FIG_AVG_DAYS 28
#define FIG_TREND_WEEKS 8 /* the on-time trend: the span's week and the 7 before it */

/* The Tehran day of an instant, and the instant a Tehran day starts. */
int fig_day(uint64_t ms);
uint64_t fig_day_start(int day);

typedef struct {
    const char *agency;
    uint64_t open, overdue; /* now */
    uint64_t on_time, missed, escalations, refusals, received;
    uint64_t acked, ack_p50_ms, ack_p90_ms; /* acked: how many were timed */
    uint64_t answered, answer_p50_ms, answer_p90_ms;
    uint64_t volume[FIG_MAX_DAYS];  /* per day of the span */
    uint64_t on_time_day[FIG_MAX_DAYS], missed_day[FIG_MAX_DAYS];
    uint64_t volume_before;         /* in the FIG_AVG_DAYS before the span */
    /* on time and missed per 7 days: [FIG_TREND_WEEKS - 1] from day0 on,
     * each one before it the 7 days before (the replica must reach back so
     * far, or the older weeks count less than they had) */
    uint64_t trend_on_time[FIG_TREND_WEEKS], trend_missed[FIG_TREND_WEEKS];
} fig_agency_t;

/* One delivery, for the lists of cases. */
typedef struct {
    const miz_request_t *req;
    const miz_delivery_t *d;
    uint64_t at;                     /* overdue list: answer_by; others: the event's time */
    const miz_delivery_t *escalation; /* the escalation made from it, if any */
} fig_case_t;

typedef struct {
    int day0, days;
    uint64_t now;
    size_t n_agencies;
    fig_agency_t *agencies;
    /* open and overdue now, longest overdue first (answer_by, then id) */
    size_t n_overdue;
    fig_case_t *overdue;
    /* went overdue, and were escalated, within the span; by time */
    size_t n_missed, n_escalated;
    fig_case_t *missed, *escalated;
} figures_t;

/* Figures for days day0 .. day0 + days - 1 (1..FIG_MAX_DAYS) at now, for
 * the agencies named (in that order), followed by any other agency the
 * requests name, in id order. The figures point into the replica and the
 * names: keep both while they are in use. NULL when out of memory or for
 * a bad span. */
figures_t *figures_compute(const miz_replica_t *r, const char *const *agencies,
                           size_t n_agencies, int day0, int days, uint64_t now);
void figures_destroy(figures_t **f);

/* The agency's figures, or NULL. */
const fig_agency_t *figures_agency(const figures_t *f, const char *agency);

#endif

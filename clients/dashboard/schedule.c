/* schedule: the decision of the weekly reports, apart from everything that
 * carries it out. Given the time, the table's schedule (a weekday and a
 * time of day in an offset's time) and what was delivered this week, it
 * says which agency's report is due now and where, or when to look again.
 * It reads no clock and touches nothing, so its unit test
 * (tests/dashboard/test_schedule.c) can walk a week with an injected clock:
 * weekly.c, which delivers, asks it once a second. */
#include "schedule.h"

#include "figures.h"
#include "jalali.h"

#define SCHED_MINUTE_MS 60000LL
#define SCHED_DAY_MS 86400000LL

void schedule_occasion(const sched_when_t *w, uint64_t now_ms, uint64_t *at_ms, int *day0)
{
    int64_t offset = (int64_t)w->offset_min * SCHED_MINUTE_MS;
    int64_t local = (int64_t)now_ms + offset;
    int64_t day = local >= 0 ? local / SCHED_DAY_MS : -((-local + SCHED_DAY_MS - 1) / SCHED_DAY_MS);
    int64_t start = jalali_week_start((int)day);
    int64_t at = (start + w->weekday) * SCHED_DAY_MS + w->minute * SCHED_MINUTE_MS - offset;
    *at_ms = at > 0 ? (uint64_t)at : 0;
    *day0 = jalali_week_start(fig_day(*at_ms));
}

bool schedule_due(uint64_t now_ms, const sched_when_t *w, unsigned want, int state_day0,
                  const sched_agency_t *states, size_t n, sched_due_t *out)
{
    schedule_occasion(w, now_ms, &out->at_ms, &out->day0);
    out->next_ms = out->at_ms + 7 * (uint64_t)SCHED_DAY_MS; /* the next week's */
    if (now_ms < out->at_ms) {
        out->next_ms = out->at_ms;
        return false;
    }
    bool same = state_day0 == out->day0;
    for (size_t i = 0; i < n; i++) {
        unsigned owed = same ? want & ~states[i].done : want;
        if (!owed)
            continue;
        if (same && states[i].retry_at_ms > now_ms) {
            if (states[i].retry_at_ms < out->next_ms)
                out->next_ms = states[i].retry_at_ms;
            continue;
        }
        out->agency = i;
        out->dests = owed;
        return true;
    }
    return false;
}

uint64_t schedule_backoff(unsigned failures, uint64_t first_ms, uint64_t max_ms)
{
    uint64_t wait = first_ms;
    for (unsigned i = 1; i < failures && wait < max_ms; i++)
        wait *= 2;
    return wait < max_ms ? wait : max_ms;
}

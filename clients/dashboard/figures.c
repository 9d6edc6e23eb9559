#include "figures.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int fig_day(uint64_t ms)
{
    return (int)((ms + FIG_TZ_OFFSET_MS) / FIG_DAY_MS);
}

uint64_t fig_day_start(int day)
{
    return (uint64_t)day * FIG_DAY_MS - FIG_TZ_OFFSET_MS;
}

/* Durations of one agency, gathered before they are sorted. */
typedef struct {
    uint64_t *v;
    size_t n, cap;
} samples_t;

typedef struct {
    samples_t ack, answer;
} work_t;

typedef struct {
    fig_case_t *v;
    size_t n, cap;
} cases_t;

static bool push(void **arr, size_t *n, size_t *cap, size_t size, const void *item)
{
    if (*n == *cap) {
        size_t want = *cap ? *cap * 2 : 16;
        void *p = realloc(*arr, want * size);
        if (!p)
            return false;
        *arr = p;
        *cap = want;
    }
    memcpy((char *)*arr + *n * size, item, size);
    (*n)++;
    return true;
}

/* qsort, which must not be given the NULL of an empty array */
static void sort(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
    if (n > 1)
        qsort(v, n, size, cmp);
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the value at rank ceil(p * n / 100), 1-based. */
static uint64_t percentile(samples_t *s, unsigned p)
{
    if (!s->n)
        return 0;
    size_t rank = (p * s->n + 99) / 100;
    return s->v[rank ? rank - 1 : 0];
}

static int cmp_overdue(const void *a, const void *b)
{
    const fig_case_t *x = a, *y = b;
    if (x->at != y->at)
        return x->at < y->at ? -1 : 1;
    return x->d->id < y->d->id ? -1 : x->d->id > y->d->id;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Whether s is the name of that role, or of that event (proto.h). */
static bool role_is(const char *s, miz_role_t role)
{
    return strcmp(s, miz_role_names[role]) == 0;
}

static bool event_is(const char *s, miz_event_t event)
{
    return strcmp(s, miz_event_names[event]) == 0;
}

static bool answers(const miz_delivery_t *d)
{
    return role_is(d->role, MIZ_ROLE_TARGET) || role_is(d->role, MIZ_ROLE_ESCALATION);
}

/* The agencies: those named, then the others the requests name, sorted. */
static bool list_agencies(figures_t *f, const miz_replica_t *r, const char *const *named,
                          size_t n_named)
{
    const char **extra = NULL;
    size_t n_extra = 0, cap = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < miz_replica_count(r); i++) {
        const miz_request_t *q = miz_replica_at(r, i);
        for (size_t j = 0; ok && j < q->n_deliveries; j++) {
            const char *a = q->deliveries[j].agency;
            bool known = false;
            for (size_t k = 0; !known && k < n_named; k++)
                known = strcmp(named[k], a) == 0;
            for (size_t k = 0; !known && k < n_extra; k++)
                known = strcmp(extra[k], a) == 0;
            if (!known)
                ok = push((void **)&extra, &n_extra, &cap, sizeof *extra, &a);
        }
    }
    if (ok)
        sort(extra, n_extra, sizeof *extra, cmp_name);
    f->agencies = ok ? calloc(n_named + n_extra + 1, sizeof *f->agencies) : NULL;
    if (f->agencies) {
        for (size_t i = 0; i < n_named; i++)
            f->agencies[f->n_agencies++].agency = named[i];
        for (size_t i = 0; i < n_extra; i++)
            f->agencies[f->n_agencies++].agency = extra[i];
    }
    free(extra);
    return f->agencies != NULL;
}

static size_t agency_index(const figures_t *f, const char *agency)
{
    for (size_t i = 0; i < f->n_agencies; i++)
        if (strcmp(f->agencies[i].agency, agency) == 0)
            return i;
    return f->n_agencies; /* cannot happen: every agency was listed */
}

/* The escalation delivery made from d, if any. */
static const miz_delivery_t *escalation_of(const miz_request_t *q, const miz_delivery_t *d)
{
    for (size_t i = 0; i < q->n_deliveries; i++)
        if (q->deliveries[i].from == d->id && role_is(q->deliveries[i].role, MIZ_ROLE_ESCALATION))
            return &q->deliveries[i];
    return NULL;
}

/* Whether wall ms at falls in the figures' days; its day's index in *day. */
static bool in_span(const figures_t *f, uint64_t at, int *day)
{
    *day = fig_day(at) - f->day0;
    return *day >= 0 && *day < f->days;
}

/* Counts one history entry of a target/escalation delivery (its first ack
 * is counted apart); false when out of memory. */
/* The on-time trend: h in its 7 days, if in the FIG_TREND_WEEKS'. */
static void count_trend(const figures_t *f, fig_agency_t *a, const miz_delivery_t *d,
                        const miz_hist_t *h)
{
    int back = fig_day(h->at) - f->day0, week = FIG_TREND_WEEKS - 1;
    week += back >= 0 ? back / 7 : -((-back + 6) / 7);
    if (week < 0 || week >= FIG_TREND_WEEKS)
        return;
    if (event_is(h->event, MIZ_EV_ANSWERED) && !d->overdue)
        a->trend_on_time[week]++;
    else if (event_is(h->event, MIZ_EV_OVERDUE))
        a->trend_missed[week]++;
}

static bool count_entry(figures_t *f, fig_agency_t *a, work_t *w, cases_t *missed,
                        cases_t *escalated, const miz_request_t *q, const miz_delivery_t *d,
                        const miz_hist_t *h)
{
    int day;
    count_trend(f, a, d, h);
    if (!in_span(f, h->at, &day))
        return true;
    const char *e = h->event;
    if (event_is(e, MIZ_EV_ANSWERED)) {
        a->answered++;
        if (!d->overdue) {
            a->on_time++;
            a->on_time_day[day]++;
        }
        uint64_t t = h->at > d->created ? h->at - d->created : 0;
        return push((void **)&w->answer.v, &w->answer.n, &w->answer.cap, sizeof t, &t);
    }
    bool overdue = event_is(e, MIZ_EV_OVERDUE);
    if (overdue || event_is(e, MIZ_EV_ESCALATED)) { /* only these become listed cases */
        fig_case_t c = {q, d, h->at, escalation_of(q, d)};
        if (overdue) {
            a->missed++;
            a->missed_day[day]++;
            return push((void **)&missed->v, &missed->n, &missed->cap, sizeof c, &c);
        }
        a->escalations++;
        return push((void **)&escalated->v, &escalated->n, &escalated->cap, sizeof c, &c);
    }
    if (event_is(e, MIZ_EV_REFUSED))
        a->refusals++;
    return true;
}

static bool count_delivery(figures_t *f, work_t *works, cases_t *overdue, cases_t *missed,
                           cases_t *escalated, const miz_request_t *q, const miz_delivery_t *d)
{
    size_t ai = agency_index(f, d->agency);
    fig_agency_t *a = &f->agencies[ai];
    if (role_is(d->role, MIZ_ROLE_TARGET)) {
        int day = fig_day(d->created) - f->day0;
        if (day >= 0 && day < f->days) {
            a->received++;
            a->volume[day]++;
        } else if (day < 0 && day >= -FIG_AVG_DAYS) {
            a->volume_before++;
        }
    }
    if (miz_delivery_open(d)) {
        a->open++;
        if (d->overdue) {
            a->overdue++;
            fig_case_t c = {q, d, d->answer_by, escalation_of(q, d)};
            if (!push((void **)&overdue->v, &overdue->n, &overdue->cap, sizeof c, &c))
                return false;
        }
    }
    int day;
    /* the first ack: a later one is not timed */
    uint64_t acked = miz_delivery_first(d, miz_event_names[MIZ_EV_ACKED]);
    if (acked && in_span(f, acked, &day)) {
        a->acked++;
        uint64_t t = acked > d->created ? acked - d->created : 0;
        if (!push((void **)&works[ai].ack.v, &works[ai].ack.n, &works[ai].ack.cap, sizeof t, &t))
            return false;
    }
    for (size_t k = 0; k < d->n_history; k++)
        if (!count_entry(f, a, &works[ai], missed, escalated, q, d, &d->history[k]))
            return false;
    return true;
}

figures_t *figures_compute(const miz_replica_t *r, const char *const *agencies,
                           size_t n_agencies, int day0, int days, uint64_t now)
{
    if (days < 1 || days > FIG_MAX_DAYS)
        return NULL;
    figures_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->day0 = day0;
    f->days = days;
    f->now = now;
    work_t *works = NULL;
    cases_t overdue = {0}, missed = {0}, escalated = {0};
    bool ok = list_agencies(f, r, agencies, n_agencies) &&
              (works = calloc(f->n_agencies + 1, sizeof *works));
    for (size_t i = 0; ok && i < miz_replica_count(r); i++) {
        const miz_request_t *q = miz_replica_at(r, i);
        for (size_t j = 0; ok && j < q->n_deliveries; j++)
            if (answers(&q->deliveries[j]))
                ok = count_delivery(f, works, &overdue, &missed, &escalated, q,
                                    &q->deliveries[j]);
    }
    for (size_t i = 0; ok && i < f->n_agencies; i++) {
        work_t *w = &works[i];
        sort(w->ack.v, w->ack.n, sizeof *w->ack.v, cmp_u64);
        sort(w->answer.v, w->answer.n, sizeof *w->answer.v, cmp_u64);
        f->agencies[i].ack_p50_ms = percentile(&w->ack, 50);
        f->agencies[i].ack_p90_ms = percentile(&w->ack, 90);
        f->agencies[i].answer_p50_ms = percentile(&w->answer, 50);
        f->agencies[i].answer_p90_ms = percentile(&w->answer, 90);
    }
    for (size_t i = 0; works && i < f->n_agencies; i++) {
        free(works[i].ack.v);
        free(works[i].answer.v);
    }
    free(works);
    if (ok) {
        sort(overdue.v, overdue.n, sizeof *overdue.v, cmp_overdue);
        sort(missed.v, missed.n, sizeof *missed.v, cmp_overdue);
        sort(escalated.v, escalated.n, sizeof *escalated.v, cmp_overdue);
    }
    f->overdue = overdue.v;
    f->n_overdue = overdue.n;
    f->missed = missed.v;
    f->n_missed = missed.n;
    f->escalated = escalated.v;
    f->n_escalated = escalated.n;
    if (!ok)
        figures_destroy(&f);
    return f;
}

void figures_destroy(figures_t **f)
{
    if (!*f)
        return;
    free((*f)->agencies);
    free((*f)->overdue);
    free((*f)->missed);
    free((*f)->escalated);
    free(*f);
    *f = NULL;
}

const fig_agency_t *figures_agency(const figures_t *f, const char *agency)
{
    size_t i = agency_index(f, agency);
    return i < f->n_agencies ? &f->agencies[i] : NULL;
}

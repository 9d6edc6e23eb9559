/* check: the engine's invariants, recomputed from scratch.
 *
 * The engine keeps derived figures so that a turn never walks its state:
 * spare credit, open and overdue deliveries and queue lengths per agency,
 * what each worker holds, open requests and each request's open
 * deliveries, each gateway's pending outcomes. engine_check recomputes
 * every one of them from the objects and compares, and checks that each
 * delivery's state agrees with where it sits (queue, holder, armed
 * deadlines). Builds with MIZ_CHECKS (tests and
 * sanitizers) run it after every turn and abort with the broken invariant
 * named; on a large state the runs are spaced so that checking costs at
 * most a constant factor. */
#include "engine_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#define CHECK_BUDGET_PER_TURN 4096 /* objects a turn's check may visit, amortized */

typedef struct {
    char *why;
    size_t whylen;
    bool broken;
} check_t;

static bool check_fail(check_t *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static bool check_fail(check_t *c, const char *fmt, ...)
{
    if (!c->broken) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(c->why, c->whylen, fmt, ap);
        va_end(ap);
    }
    c->broken = true;
    return false;
}

/* Figures recomputed per agency. */
typedef struct {
    size_t open, overdue, queued[PRIO_COUNT];
} tally_t;

static bool check_delivery(check_t *c, const engine_t *e, const delivery_t *d, tally_t *tally)
{
    unsigned long long id = (unsigned long long)d->id;
    if (d->state >= MIZ_DS_COUNT || d->role >= MIZ_ROLE_COUNT || d->agency >= e->n_agencies)
        return check_fail(c, "delivery %llu: state, role or agency out of range", id);
    if (idmap_get(e->deliveries, &d->id, sizeof d->id) != d)
        return check_fail(c, "delivery %llu is not in the deliveries index", id);
    if ((d->hist == &d->hist1) != (d->cap_hist == 1) || d->n_hist > d->cap_hist)
        return check_fail(c, "delivery %llu: history of %u in room for %u, inline or not", id,
                          d->n_hist, d->cap_hist);
    bool open = delivery_is_open(d), held = d->state == MIZ_DS_OFFERED || d->state == MIZ_DS_ACKED;
    if ((d->holder != NULL) != held)
        return check_fail(c, "delivery %llu is %s with%s a holder", id, miz_state_names[d->state],
                          d->holder ? "" : "out");
    bool ack_armed = d->state == MIZ_DS_OFFERED || (d->state == MIZ_DS_QUEUED && d->held_back);
    if (d->held_back && d->state != MIZ_DS_QUEUED)
        return check_fail(c, "delivery %llu is %s and held back", id, miz_state_names[d->state]);
    if (dl_timer_armed(&d->ack_timer) != ack_armed)
        return check_fail(c, "delivery %llu is %s and its ack deadline is%s armed", id,
                          miz_state_names[d->state], dl_timer_armed(&d->ack_timer) ? "" : " not");
    if (dl_timer_armed(&d->answer_timer) && (!open || d->overdue))
        return check_fail(c, "delivery %llu has an answer deadline armed but is %s%s", id,
                          miz_state_names[d->state], d->overdue ? " and overdue" : "");
    if (held && (d->holder->agency != d->agency || d->holder->dead))
        return check_fail(c, "delivery %llu is held by a worker of another agency, or a dead one",
                          id);
    if (open) {
        tally[d->agency].open++;
        tally[d->agency].overdue += d->overdue;
        tally[d->agency].queued[d->req->prio] += d->state == MIZ_DS_QUEUED;
    }
    return true;
}

static bool check_request(check_t *c, const engine_t *e, const request_t *r, tally_t *tally,
                          size_t *open_requests, size_t *pending)
{
    if (r->outcome_pending && (!r->closed || !r->confirm))
        return check_fail(c, "request %llu has an outcome pending but is %s",
                          (unsigned long long)r->tracking, r->closed ? "not confirmable" : "open");
    *pending += r->outcome_pending;
    if ((r->dels == &r->del1) != (r->cap_dels == 1) || r->n_dels > r->cap_dels)
        return check_fail(c, "request %llu: %u deliveries in room for %u, inline or not",
                          (unsigned long long)r->tracking, r->n_dels, r->cap_dels);
    if (!r->payload && (!e->payload_at_rest || r->dirty || payload_held(r)))
        return check_fail(c, "request %llu has no payload in memory but is %s",
                          (unsigned long long)r->tracking,
                          !e->payload_at_rest ? "kept in memory" : r->dirty ? "to be written"
                                                                          : "held");
    char k[ENGINE_REF_KEY_MAX];
    if (e->refcache && r->client_ref && e->now_wall < r->created + e->conf->dedup_window_ms &&
        !refcache_may_hold(e->refcache, k, request_ref_key(r, k), e->now_wall))
        return check_fail(c, "request %llu: its client_ref, first used within the window, is "
                             "not in the cache of refs: a resubmission would be a new request",
                          (unsigned long long)r->tracking);
    uint32_t open = 0;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        if (r->dels[i]->req != r || !check_delivery(c, e, r->dels[i], tally))
            return check_fail(c, "request %llu: a delivery does not belong to it",
                              (unsigned long long)r->tracking);
        open += delivery_is_open(r->dels[i]);
    }
    if (open != r->open)
        return check_fail(c, "request %llu: %u deliveries open, counted %u",
                          (unsigned long long)r->tracking, open, r->open);
    *open_requests += !r->closed;
    return true;
}

static bool check_worker(check_t *c, const engine_t *e, const worker_t *w, size_t slot,
                         uint64_t *spare)
{
    if (w->dead || w->slot != slot || idmap_get(e->worker_map, w->rid, w->rid_len) != w)
        return check_fail(c, "worker #%u: dead, out of its slot or not in the workers index",
                          w->serial);
    size_t held = 0;
    for (const delivery_t *d = w->holding.head; d; d = d->next, held++)
        if (d->holder != w)
            return check_fail(c, "worker #%u holds delivery %llu, which names another holder",
                              w->serial, (unsigned long long)d->id);
    if (held != w->holding.n || held != w->held)
        return check_fail(c, "worker #%u holds %zu deliveries, counted %u (list %zu)", w->serial,
                          held, w->held, w->holding.n);
    *spare += worker_spare(w);
    return true;
}

static bool check_agency(check_t *c, const engine_t *e, size_t i, const tally_t *t)
{
    const agency_rt_t *a = &e->agencies[i];
    uint64_t spare = 0;
    for (size_t k = 0; k < a->n_workers; k++)
        if (a->workers[k]->agency != i || !check_worker(c, e, a->workers[k], k, &spare))
            return check_fail(c, "agency %s: a worker is not its own", a->id);
    if (spare != a->spare)
        return check_fail(c, "agency %s: spare credit %llu, counted %llu", a->id,
                          (unsigned long long)spare, (unsigned long long)a->spare);
    if (t->open != a->open || t->overdue != a->overdue)
        return check_fail(c, "agency %s: %zu open and %zu overdue, counted %zu and %zu", a->id,
                          t->open, t->overdue, a->open, a->overdue);
    for (int p = 0; p < PRIO_COUNT; p++) {
        size_t n = 0;
        for (const delivery_t *d = a->queue[p].head; d; d = d->next, n++)
            if (d->state != MIZ_DS_QUEUED || d->agency != i || d->req->prio != (priority_t)p)
                return check_fail(c, "agency %s: its %s queue holds delivery %llu, %s", a->id,
                                  priority_name((priority_t)p), (unsigned long long)d->id,
                                  miz_state_names[d->state]);
        if (n != a->queue[p].n || n != t->queued[p])
            return check_fail(c, "agency %s: %zu %s deliveries queued, list %zu, counted %zu",
                              a->id, t->queued[p], priority_name((priority_t)p), n,
                              a->queue[p].n);
    }
    return true;
}

/* Each gateway's list holds its pending outcomes, oldest first, counted. */
static bool check_gateways(check_t *c, const engine_t *e, size_t pending)
{
    const gateway_t *g;
    size_t listed = 0;
    for (size_t cur = 0; (g = idmap_next(e->gateways, &cur));) {
        size_t n = 0;
        for (const request_t *r = g->head; r; r = r->pending ? r->pending->next : NULL, n++)
            if (!r->outcome_pending ||
                idmap_get(e->requests, &r->tracking, sizeof r->tracking) != r ||
                !r->pending || (r->pending->next && r->pending->next->pending->prev != r))
                return check_fail(c, "a gateway's pending list holds request %llu, which is not "
                                     "pending, not in memory or not linked back",
                                  (unsigned long long)r->tracking);
        if (n != g->n)
            return check_fail(c, "a gateway lists %zu pending outcomes, counted %zu", n, g->n);
        listed += n;
    }
    if (listed != pending)
        return check_fail(c, "%zu outcomes pending, %zu on gateways' lists", pending, listed);
    return true;
}

int engine_check(const engine_t *e, char *why, size_t whylen)
{
    check_t c = {why, whylen, false};
    tally_t *tally = xcalloc(e->n_agencies ? e->n_agencies : 1, sizeof *tally);
    size_t open_requests = 0, closed = 0, pending = 0;
    request_t *r;
    for (size_t cur = 0; (r = idmap_next(e->requests, &cur)) && !c.broken;)
        check_request(&c, e, r, tally, &open_requests, &pending);
    if (!c.broken)
        check_gateways(&c, e, pending);
    for (size_t i = 0; i < e->n_agencies && !c.broken; i++)
        check_agency(&c, e, i, &tally[i]);
    for (const request_t *q = e->closed_head; q && !c.broken; q = q->next_closed, closed++)
        if (!q->closed)
            check_fail(&c, "request %llu is on the closed list but open",
                       (unsigned long long)q->tracking);
    if (!c.broken && open_requests != e->open_requests)
        check_fail(&c, "%zu requests open, counted %zu", open_requests, e->open_requests);
    if (!c.broken && closed != e->n_closed)
        check_fail(&c, "%zu requests on the closed list, counted %zu", closed, e->n_closed);
    free(tally);
    return c.broken ? -1 : 0;
}

void check_after_turn(engine_t *e)
{
#ifdef MIZ_CHECKS
    size_t cost = idmap_count(e->requests) + idmap_count(e->deliveries) + e->n_agencies;
    e->check_budget += CHECK_BUDGET_PER_TURN;
    if (e->check_budget < cost)
        return;
    e->check_budget = 0;
    char why[256];
    if (engine_check(e, why, sizeof why) < 0)
        ENGINE_BUG("after a turn: %s", why);
#else
    (void)e;
#endif
}

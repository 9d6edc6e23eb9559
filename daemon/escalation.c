/* escalation: branches, escalation, and what a missed deadline does.
 *
 * A branch is one target agency's share of a request; it settles when any
 * of its deliveries is answered (the rest are superseded) or none is left
 * open to answer it, and the request closes when every branch has. A
 * delivery that cannot be answered where it is (refused, overdue, never
 * acked) escalates once to the next link of its route's chain; an overdue
 * one also sends a breach copy to every observer agency. engine_expire
 * fires the deadlines that are due, from the one heap that holds them. */
#include "engine_int.h"

/* A branch is one target agency's share of a request: settled when any
 * delivery in it is answered, or when none is left open to answer it. */
void branch_update(engine_t *e, delivery_t *d)
{
    request_t *r = d->req;
    uint32_t bit = 1u << d->branch;
    if (r->settled & bit)
        return;
    if (d->state != MIZ_DS_ANSWERED)
        for (uint32_t i = 0; i < r->n_dels; i++)
            if (r->dels[i]->branch == d->branch && delivery_answers_branch(r->dels[i]) &&
                delivery_is_open(r->dels[i]))
                return;
    r->settled |= bit;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        delivery_t *x = r->dels[i];
        if (x->branch != d->branch || !delivery_answers_branch(x) || !delivery_is_open(x))
            continue;
        uint32_t agency = x->agency;
        if (x->holder)
            delivery_cancel(e, x, MIZ_CANCEL_SUPERSEDED);
        delivery_finish(e, x, MIZ_DS_SUPERSEDED);
        event_emit(e, r, x, MIZ_EV_SUPERSEDED, NULL);
        agency_dispatch(e, agency);
    }
    if (r->settled == (1u << r->route->n_to) - 1)
        request_close(e, r);
}

/* Hands an unanswerable delivery to the next link of its route's chain. */
void delivery_escalate(engine_t *e, delivery_t *d, miz_copy_reason_t reason)
{
    request_t *r = d->req;
    if (!delivery_answers_branch(d) || d->escalated)
        return;
    if (d->level >= r->route->n_escalate) {
        LOG(e, LOG_WARN, "end of escalation chain tracking=%llu delivery=%llu agency=%s (%s)",
            (unsigned long long)r->tracking, (unsigned long long)d->id,
            agency_id(e, d->agency), miz_copy_reason_names[reason]);
        return;
    }
    d->escalated = true;
    delivery_t *esc = delivery_new(e, r, route_agency(r, r->route->escalate[d->level]),
                                   MIZ_ROLE_ESCALATION, d->branch, (uint8_t)(d->level + 1), d->id);
    esc->reason = (uint8_t)(reason + 1);
    event_emit(e, r, d, MIZ_EV_ESCALATED, NULL);
    agency_dispatch(e, esc->agency);
}

/* Takes a held delivery back from its worker: queued again at the head,
 * or, past max_attempts offers, expired (an answering one escalates as
 * undeliverable; copies expire too: an observer that never acks must not be
 * offered forever). */
void delivery_take_back(engine_t *e, delivery_t *d)
{
    worker_t *w = d->holder;
    delivery_release(e, d);
    if (d->attempts >= d->req->route->max_attempts) {
        delivery_finish(e, d, MIZ_DS_EXPIRED);
        event_emit(e, d->req, d, MIZ_EV_EXPIRED, w);
        if (delivery_answers_branch(d)) {
            delivery_escalate(e, d, MIZ_COPY_UNDELIVERABLE);
            branch_update(e, d);
        }
    } else {
        delivery_enqueue(e, d, true);
        event_emit(e, d->req, d, MIZ_EV_REDELIVERED, w);
    }
}

static void escalation_ack_timeout(engine_t *e, delivery_t *d)
{
    delivery_cancel(e, d, MIZ_CANCEL_ACK_TIMEOUT);
    delivery_take_back(e, d);
    agency_dispatch(e, d->agency);
}

static void escalation_answer_timeout(engine_t *e, delivery_t *d)
{
    request_t *r = d->req;
    d->overdue = true;
    e->agencies[d->agency].overdue++;
    event_emit(e, r, d, MIZ_EV_OVERDUE, NULL);
    for (size_t i = 0; i < r->n_observers; i++) {
        delivery_t *copy =
            delivery_new(e, r, r->observers[i], MIZ_ROLE_BREACH, d->branch, d->level, d->id);
        copy->reason = MIZ_COPY_OVERDUE + 1;
        agency_dispatch(e, copy->agency);
    }
    delivery_escalate(e, d, MIZ_COPY_OVERDUE);
}


void engine_expire(engine_t *e)
{
    dl_timer_t *t;
    if (e->deposed)
        return;
    while ((t = dl_heap_pop_due(e->heap, e->now))) {
        delivery_t *d = delivery_of_timer(t);
        if (t->tag == DTIMER_ACK && d->held_back) { /* its delay is over */
            d->held_back = false;
            agency_dispatch(e, d->agency);
        } else if (t->tag == DTIMER_ACK)
            escalation_ack_timeout(e, d);
        else
            escalation_answer_timeout(e, d);
    }
}

bool engine_next_deadline(const engine_t *e, uint64_t *at)
{
    uint64_t wake[2];
    bool any = dl_heap_next(e->heap, at);
    bool due[2] = {commit_lease_renewal(e, &wake[0]), commit_join_due(e, &wake[1])};
    for (int i = 0; i < 2; i++) {
        if (due[i] && (!any || wake[i] < *at))
            *at = wake[i];
        any |= due[i];
    }
    return any;
}

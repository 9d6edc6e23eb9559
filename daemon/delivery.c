/* delivery: the delivery state machine.
 *
 * A delivery is one agency's copy of a request: queued in its agency's
 * queue, offered to a worker (held, with an ack deadline), acked, then
 * finished (answered, refused, expired, seen or superseded). The allowed
 * moves are one table (protocol.md 5.2) and every move goes through
 * delivery_transition, which refuses any other as a bug in every build.
 * The functions here keep what each state implies: a queued delivery is in
 * its agency's queue, a held one in its holder's list with the holder's
 * credit taken and (while offered) its ack deadline armed, and the counts
 * of open and overdue deliveries per request and per agency. */
#include "engine_int.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define TO(state) (1u << MIZ_DS_##state)

/* From each state, the states a delivery may move to; final states none. */
static const unsigned delivery_moves[MIZ_DS_COUNT] = {
    [MIZ_DS_QUEUED] = TO(OFFERED) | TO(SUPERSEDED),
    [MIZ_DS_OFFERED] = TO(QUEUED) | TO(ACKED) | TO(ANSWERED) | TO(REFUSED) | TO(EXPIRED) |
                       TO(SEEN) | TO(SUPERSEDED),
    [MIZ_DS_ACKED] = TO(QUEUED) | TO(ANSWERED) | TO(REFUSED) | TO(SUPERSEDED),
};

void delivery_transition(engine_t *e, delivery_t *d, miz_state_t to)
{
    if (!(delivery_moves[d->state] & 1u << to))
        ENGINE_BUG("delivery %llu (agency %s): %s -> %s is not a move of the state machine",
                   (unsigned long long)d->id, agency_id(e, d->agency), miz_state_names[d->state],
                   miz_state_names[to]);
    d->state = (uint8_t)to;
}

bool delivery_is_open(const delivery_t *d)
{
    return d->state <= MIZ_DS_ACKED;
}

bool delivery_answers_branch(const delivery_t *d)
{
    return d->role == MIZ_ROLE_TARGET || d->role == MIZ_ROLE_ESCALATION;
}

void dq_push(dqueue_t *q, delivery_t *d, bool front)
{
    if (front) {
        d->prev = NULL;
        d->next = q->head;
        if (q->head)
            q->head->prev = d;
        else
            q->tail = d;
        q->head = d;
    } else {
        d->next = NULL;
        d->prev = q->tail;
        if (q->tail)
            q->tail->next = d;
        else
            q->head = d;
        q->tail = d;
    }
    q->n++;
}

void dq_remove(dqueue_t *q, delivery_t *d)
{
    if (d->prev)
        d->prev->next = d->next;
    else
        q->head = d->next;
    if (d->next)
        d->next->prev = d->prev;
    else
        q->tail = d->prev;
    d->prev = d->next = NULL;
    q->n--;
}

static void delivery_arm(engine_t *e, dtimer_t *t, uint64_t within)
{
    if (dl_heap_arm(e->heap, t, e->now + within) < 0) {
        log_line(LOG_ERROR, "out of memory growing the deadline heap");
        abort();
    }
}

/* The wall-clock time `within` from now on the route's clock: in working
 * time when it counts in a calendar (a table's calendar always has some). */
static uint64_t delivery_due(const engine_t *e, const route_t *route, uint64_t within)
{
    return route->clock ? workcal_add(route->clock, e->now_wall, within) : e->now_wall + within;
}

delivery_t *delivery_of_timer(dtimer_t *t)
{
    size_t at = t->tag == DTIMER_ACK ? offsetof(delivery_t, ack_timer)
                                     : offsetof(delivery_t, answer_timer);
    return (delivery_t *)(void *)((char *)t - at);
}

/* Arms t for the wall-clock time at. */
void delivery_arm_at(engine_t *e, dtimer_t *t, uint64_t at)
{
    delivery_arm(e, t, at > e->now_wall ? at - e->now_wall : 0);
}

/* Puts a new, recovered or taken-back delivery in its agency's queue. */
void delivery_enqueue(engine_t *e, delivery_t *d, bool front)
{
    if (d->state != MIZ_DS_QUEUED) { /* taken back: no ack deadline while it waits */
        delivery_transition(e, d, MIZ_DS_QUEUED);
        d->ack_by = 0;
    }
    dq_push(&e->agencies[d->agency].queue[d->req->prio], d, front);
}

/* Detaches an offered or acked delivery from its holder, returning the
 * credit. The holder may already be dead (then its credit is gone). */
void delivery_release(engine_t *e, delivery_t *d)
{
    worker_t *w = d->holder;
    dq_remove(&w->holding, d);
    w->held--;
    if (!w->dead && w->held < w->credit)
        e->agencies[w->agency].spare++;
    d->holder = NULL;
    dl_heap_disarm(e->heap, &d->ack_timer);
}

/* Tells the holder it holds d no more. */
void delivery_cancel(engine_t *e, delivery_t *d, miz_cancel_reason_t reason)
{
    wire_map_t *m = msg_begin(e, MIZ_MSG_CANCEL);
    wire_map_uint(m, "delivery", d->id);
    wire_map_cstr(m, "reason", miz_cancel_reason_names[reason]);
    send_worker(e, d->holder);
}

/* Moves an open delivery to a final state. */
void delivery_finish(engine_t *e, delivery_t *d, miz_state_t state)
{
    if (d->state == MIZ_DS_QUEUED)
        dq_remove(&e->agencies[d->agency].queue[d->req->prio], d);
    else if (d->holder)
        delivery_release(e, d);
    dl_heap_disarm(e->heap, &d->answer_timer);
    dl_heap_disarm(e->heap, &d->ack_timer); /* a queued one may be held back */
    d->held_back = false;
    delivery_transition(e, d, state);
    d->req->open--;
    e->agencies[d->agency].open--;
    e->agencies[d->agency].overdue -= d->overdue;
}

/* A worker claims an offered delivery: its ack deadline stops. */
void delivery_acknowledge(engine_t *e, delivery_t *d)
{
    if (d->state != MIZ_DS_OFFERED)
        return;
    delivery_transition(e, d, MIZ_DS_ACKED);
    dl_heap_disarm(e->heap, &d->ack_timer);
    event_emit(e, d->req, d, MIZ_EV_ACKED, e->peer.worker);
}

/* The name of why a copy exists, or NULL. */
const char *delivery_reason(const delivery_t *d)
{
    return d->reason ? miz_copy_reason_names[d->reason - 1] : NULL;
}

/* A delivery as the store gives it back or a new one starts: queued,
 * detached, its timers unarmed. */
delivery_t *delivery_alloc(request_t *r)
{
    delivery_t *d = xcalloc(1, sizeof *d);
    d->req = r;
    d->hist = &d->hist1;
    d->cap_hist = 1;
    dl_timer_init(&d->ack_timer);
    dl_timer_init(&d->answer_timer);
    d->ack_timer.tag = DTIMER_ACK;
    d->answer_timer.tag = DTIMER_ANSWER;
    return d;
}

/* from: the delivery an escalation or a breach copy is made from, else 0;
 * set here, as the "queued" event tells it. */
delivery_t *delivery_new(engine_t *e, request_t *r, uint32_t agency, miz_role_t role,
                         uint16_t branch, uint8_t level, uint64_t from)
{
    delivery_t *d = delivery_alloc(r);
    d->id = e->next.delivery++;
    d->from = from;
    d->agency = agency;
    d->role = (uint8_t)role;
    d->branch = branch;
    d->level = level;
    d->created = e->now_wall;
    if (delivery_answers_branch(d)) {
        d->answer_by = delivery_due(e, r->route, r->route->answer_within_ms);
        delivery_arm_at(e, &d->answer_timer, d->answer_by);
    }
    xput(e->deliveries, &d->id, sizeof d->id, d);
    r->dels = xgrow(r->dels, &r->del1, &r->cap_dels, r->n_dels + 1, sizeof *r->dels);
    r->dels[r->n_dels++] = d;
    r->open++;
    e->agencies[agency].open++;
    delivery_enqueue(e, d, false);
    event_emit(e, r, d, MIZ_EV_QUEUED, NULL);
    return d;
}

static void delivery_pack(engine_t *e, const delivery_t *d)
{
    const request_t *r = d->req;
    wire_map_t *m = msg_begin(e, MIZ_MSG_DELIVER);
    wire_map_uint(m, "delivery", d->id);
    wire_map_uint(m, "tracking", r->tracking);
    wire_map_str(m, "topic", r->topic, r->topic_len);
    wire_map_cstr(m, "kind", r->kind);
    wire_map_cstr(m, "priority", priority_name(r->prio));
    wire_map_cstr(m, "agency", agency_id(e, d->agency));
    wire_map_cstr(m, "role", miz_role_names[d->role]);
    wire_map_uint(m, "attempt", d->attempts);
    wire_map_uint(m, "created", r->created);
    wire_map_uint(m, "ack_by", d->ack_by);
    wire_map_uint(m, "answer_by", d->answer_by);
    if (r->client_ref)
        wire_map_cstr(m, "client_ref", r->client_ref);
    if (d->from) {
        wire_map_uint(m, "from", d->from);
        wire_map_opt_cstr(m, "reason", delivery_reason(d));
    }
    wire_map_key(m, "payload");
    msgpack_sbuffer_write(&e->out, (const char *)r->payload, r->payload_len);
}

/* Offers one queued delivery to w. -1 when w turned out to be gone; the
 * delivery then stays queued. */
static int delivery_offer(engine_t *e, delivery_t *d, worker_t *w)
{
    uint64_t prev_ack_by = d->ack_by;
    d->attempts++;
    d->ack_by = delivery_due(e, d->req->route, d->req->route->ack_within_ms);
    delivery_pack(e, d);
    if (send_worker(e, w) < 0) {
        d->attempts--;
        d->ack_by = prev_ack_by;
        return -1;
    }
    agency_rt_t *a = &e->agencies[d->agency];
    dq_remove(&a->queue[d->req->prio], d);
    delivery_transition(e, d, MIZ_DS_OFFERED);
    d->holder = w;
    dq_push(&w->holding, d, false);
    w->held++;
    a->spare--;
    delivery_arm_at(e, &d->ack_timer, d->ack_by);
    event_emit(e, d->req, d, MIZ_EV_OFFERED, w);
    return 0;
}

/* A queued delivery is not offered for ms (a worker released it with a
 * delay): its ack deadline's timer, unused while queued, says when. */
void delivery_hold_back(engine_t *e, delivery_t *d, uint64_t ms)
{
    d->held_back = true;
    delivery_arm_at(e, &d->ack_timer, e->now_wall + ms);
}

/* Offers what an agency has queued, urgent first and oldest first, while
 * any of its workers has credit. A delivery no free worker subscribes to, or
 * one held back, is passed over, not allowed to block the ones behind it. */
void agency_dispatch(engine_t *e, uint32_t agency)
{
    agency_rt_t *a = &e->agencies[agency];
    for (int p = PRIO_COUNT - 1; p >= 0; p--) {
        delivery_t *next;
        for (delivery_t *d = a->queue[p].head; d && a->spare > 0; d = next) {
            next = d->next;
            worker_t *w;
            /* a payload the store cannot give back (logged) leaves it queued */
            while (!d->held_back && (w = worker_pick(a, d->req)) && payload_load(e, d->req) &&
                   delivery_offer(e, d, w) < 0)
                ;
        }
    }
}

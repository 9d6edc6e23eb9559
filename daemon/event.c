/* event: the one place a transition is recorded.
 *
 * Every change of a request or a delivery passes through event_emit, which
 * adds it to the delivery's history, marks the request to be written when
 * the turn ends, logs it and publishes it on the event stream (protocol.md
 * section 8). The stream carries nothing personal: never the payload,
 * client_ref, texts, notes or worker names; of an answer, only its outcome
 * code, so a replica built from a snapshot and events is exact. */
#include "engine_int.h"

#include <string.h>

static log_level_t event_level(miz_event_t type)
{
    switch (type) {
    case MIZ_EV_OVERDUE:
    case MIZ_EV_EXPIRED:
        return LOG_WARN;
    case MIZ_EV_RECEIVED:
    case MIZ_EV_ANSWERED:
    case MIZ_EV_REFUSED:
    case MIZ_EV_REDELIVERED:
    case MIZ_EV_ESCALATED:
    case MIZ_EV_CLOSED:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

void event_history_add(delivery_t *d, hist_t h)
{
    d->hist = xgrow(d->hist, &d->hist1, &d->cap_hist, d->n_hist + 1, sizeof *d->hist);
    d->hist[d->n_hist++] = h;
}

/* Starts a message of the stream in e->ev, apart from the message that may
 * be being packed in e->out. */
static void event_begin(engine_t *e, wire_map_t *m)
{
    msgpack_sbuffer_clear(&e->ev);
    wire_map_begin(m, &e->ev_pk);
}

static void event_publish(engine_t *e, wire_map_t *m, miz_stream_topic_t topic)
{
    wire_map_end(m);
    outbox_publish(e, topic, e->ev.data, e->ev.size);
}

static void event_publish_transition(engine_t *e, const request_t *r, const delivery_t *d,
                                     miz_event_t type, const worker_t *w)
{
    wire_map_t m;
    event_begin(e, &m);
    wire_map_uint(&m, "seq", e->next.event++);
    wire_map_uint(&m, "run", e->run);
    wire_map_uint(&m, "epoch", e->epoch);
    wire_map_cstr(&m, "event", miz_event_names[type]);
    wire_map_uint(&m, "at", e->now_wall);
    wire_map_uint(&m, "tracking", r->tracking);
    wire_map_str(&m, "topic", r->topic, r->topic_len);
    wire_map_cstr(&m, "kind", r->kind);
    wire_map_cstr(&m, "priority", priority_name(r->prio));
    wire_map_uint(&m, "created", r->created);
    wire_map_uint(&m, "delivery", d ? d->id : 0);
    wire_map_opt_cstr(&m, "agency", d ? agency_id(e, d->agency) : NULL);
    wire_map_opt_cstr(&m, "role", d ? miz_role_names[d->role] : NULL);
    wire_map_uint(&m, "level", d ? d->level : 0);
    wire_map_cstr(&m, "state",
                  d ? miz_state_names[d->state]
                    : miz_request_state_names[r->closed ? MIZ_RS_CLOSED : MIZ_RS_OPEN]);
    wire_map_bool(&m, "overdue", d && d->overdue);
    wire_map_uint(&m, "attempts", d ? d->attempts : 0);
    wire_map_uint(&m, "delivery_created", d ? d->created : 0);
    wire_map_uint(&m, "ack_by", d ? d->ack_by : 0);
    wire_map_uint(&m, "answer_by", d ? d->answer_by : 0);
    wire_map_uint(&m, "from", d ? d->from : 0);
    wire_map_uint(&m, "worker", w ? w->serial : 0);
    wire_map_opt_cstr(&m, "outcome", d ? d->outcome : NULL); /* a code, never the answer's text */
    event_publish(e, &m, MIZ_TOPIC_EVENT);
}

/* r is written when the turn ends, with its payload: read back now if
 * only the store has it. A store that cannot give back what it committed
 * stops mizd, as running out of memory does: the record cannot be written
 * again without it, and a half-applied change would be worse. */
void event_mark_dirty(engine_t *e, request_t *r)
{
    if (!payload_load(e, r)) {
        log_line(LOG_ERROR, "cannot go on without the payload of tracking %llu",
                 (unsigned long long)r->tracking);
        abort();
    }
    if (!r->dirty) {
        /* in order of first change, so that a turn's new requests are
         * written in tracking order: each then lands at the end of the open
         * table's last page. In reverse order each insert splits that page
         * in half, leaving the table (and the file) half empty. */
        r->dirty = true;
        *e->dirty_tail = r;
        e->dirty_tail = &r->next_dirty;
    }
}

void event_emit(engine_t *e, request_t *r, delivery_t *d, miz_event_t type, const worker_t *w)
{
    event_mark_dirty(e, r);
    if (d)
        event_history_add(d, (hist_t){e->now_wall, w ? w->serial : 0, (uint8_t)type});
    log_level_t level = event_level(type);
    if (level <= e->log_level) {
        if (d)
            log_line(level, "%s tracking=%llu delivery=%llu agency=%s role=%s topic=%s%s%s",
                     miz_event_names[type], (unsigned long long)r->tracking,
                     (unsigned long long)d->id, agency_id(e, d->agency), miz_role_names[d->role],
                     r->topic, w ? " worker=" : "", w ? w->name : "");
        else
            log_line(level, "%s tracking=%llu topic=%s kind=%s priority=%s", miz_event_names[type],
                     (unsigned long long)r->tracking, r->topic, r->kind, priority_name(r->prio));
    }
    event_publish_transition(e, r, d, type, w);
}

/* Where each agency stands, so a quiet subscriber still sees seq move. */
void event_publish_counters(engine_t *e)
{
    wire_map_t m, am;
    event_begin(e, &m);
    wire_map_uint(&m, "seq", e->next.event - 1);
    wire_map_uint(&m, "run", e->run);
    wire_map_uint(&m, "epoch", e->epoch);
    wire_map_uint(&m, "at", e->now_wall);
    wire_map_uint(&m, "open_requests", e->open_requests);
    msgpack_pack_array(wire_map_key(&m, "agencies"), e->n_agencies);
    for (size_t i = 0; i < e->n_agencies; i++) {
        const agency_rt_t *a = &e->agencies[i];
        wire_map_begin(&am, &e->ev_pk);
        wire_map_cstr(&am, "agency", a->id);
        wire_map_uint(&am, "open", a->open);
        wire_map_uint(&am, "overdue", a->overdue);
        wire_map_uint(&am, "queued", a->queue[PRIO_ROUTINE].n + a->queue[PRIO_URGENT].n);
        wire_map_uint(&am, "workers", a->n_workers);
        wire_map_uint(&am, "spare", a->spare);
        wire_map_end(&am);
    }
    outcomes_pack_counters(e, &m);
    if (e->store) { /* how busy the commits keep the disk, and its worst stall */
        wire_map_t sm;
        wire_map_begin(&sm, wire_map_key(&m, "store"));
        wire_map_uint(&sm, "commits", e->commits);
        wire_map_uint(&sm, "commit_us", e->commit_us);
        wire_map_uint(&sm, "commit_max_us", e->commit_max_us);
        wire_map_end(&sm);
        e->commit_max_us = 0;
    }
    event_publish(e, &m, MIZ_TOPIC_COUNTERS);
}

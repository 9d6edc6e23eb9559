/* cmd_worker: what agency workers say (register, ack, answer, progress,
 * refuse, heartbeat, bye).
 *
 * The command table has checked registration, the key's role and the
 * fields' types, and found the delivery a command names and that this
 * worker holds it; these handlers check the rest (protocol.md 3.8, 3.11)
 * and move the delivery through its state machine. Their "ok" is a promise:
 * it waits for the turn's commit. */
#include "engine_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The topic patterns of a registration, checked; false after the reply. */
static bool register_topics_or_reply(engine_t *e, const msgpack_object *topics)
{
    const char *key = miz_fields[MIZ_F_REGISTER_TOPICS].key;
    if (!topics)
        return true;
    if (topics->type != MSGPACK_OBJECT_ARRAY || topics->via.array.size > MIZ_WORKER_TOPICS_MAX) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" must be an array of at most %d patterns",
                    key, MIZ_WORKER_TOPICS_MAX);
        return false;
    }
    for (size_t i = 0; i < topics->via.array.size; i++) {
        const char *s, *why = "not a string";
        size_t n;
        wire_status_t st = wire_obj_str(&topics->via.array.ptr[i], &s, &n, MIZ_TOPIC_MAX);
        if (st == WIRE_TOO_LONG) {
            reply_error(e, MIZ_ERR_TOO_LARGE, 0, "\"%s\"[%zu] is longer than %d bytes", key, i,
                        MIZ_TOPIC_MAX);
            return false;
        }
        if (st != WIRE_OK || !topic_pattern_valid(s, n, &why)) {
            reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\"[%zu]: %s", key, i, why);
            return false;
        }
    }
    return true;
}

/* The agency a registration names, which the key must be of; -1 after the
 * reply. The key's agency is checked first: a key learns nothing of which
 * others exist. */
static int register_agency_or_reply(engine_t *e, const field_value_t *agency)
{
    char q[WIRE_QUOTE_SIZE];
    const principal_t *p = e->peer.principal;
    if (p && (strlen(p->agency) != agency->n || memcmp(p->agency, agency->s, agency->n) != 0)) {
        LOG_PEER(e, &e->forbidden_lines, "forbidden: register for \"%s\", by key %s of %s",
                 wire_quote(agency->s, agency->n, q), p->name, p->agency);
        reply_error(e, MIZ_ERR_FORBIDDEN, 0, "this key is %s's: it may not register for \"%s\"",
                    p->agency, q);
        return -1;
    }
    int found = agency_find(e, agency->s, agency->n);
    if (found < 0)
        reply_error(e, MIZ_ERR_UNKNOWN_AGENCY, 0, "no agency \"%s\" in the routing table",
                    wire_quote(agency->s, agency->n, q));
    return found;
}

void cmd_register(engine_t *e, const command_args_t *a)
{
    const field_value_t *name = &a->f[MIZ_F_REGISTER_NAME];
    const field_value_t *credit = &a->f[MIZ_F_REGISTER_CREDIT];
    int agency = register_agency_or_reply(e, &a->f[MIZ_F_REGISTER_AGENCY]);
    if (agency < 0)
        return;
    uint64_t credits = credit->present ? credit->u : MIZ_CREDIT_DEFAULT;
    if (credits < 1 || credits > MIZ_CREDIT_MAX) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" must be 1-%d",
                    miz_fields[MIZ_F_REGISTER_CREDIT].key,
                    MIZ_CREDIT_MAX);
        return;
    }
    const msgpack_object *topics = wire_get(a->msg, miz_fields[MIZ_F_REGISTER_TOPICS].key);
    if (!register_topics_or_reply(e, topics))
        return;
    /* registering again replaces the old registration (the routing id's,
     * even if another key held it) */
    worker_t *old = idmap_get(e->worker_map, e->peer.rid, e->peer.rid_len);
    if (old)
        worker_kill(e, old, "registered again");

    worker_t *w = worker_add(e, (uint32_t)agency);
    w->rid = xrealloc(NULL, e->peer.rid_len);
    memcpy(w->rid, e->peer.rid, e->peer.rid_len);
    w->rid_len = e->peer.rid_len;
    if (e->peer.principal)
        memcpy(w->key, e->peer.principal->key, sizeof w->key);
    if (name->present)
        memcpy(w->name, name->s, name->n);
    else
        snprintf(w->name, sizeof w->name, "%s#%u", agency_id(e, w->agency), w->serial);
    w->n_topics = topics ? topics->via.array.size : 0;
    for (size_t i = 0; i < w->n_topics; i++) {
        const msgpack_object_str *s = &topics->via.array.ptr[i].via.str;
        w->topics[i] = xstrndup(s->ptr, s->size);
    }
    w->credit = (uint32_t)credits;
    w->quiet = a->f[MIZ_F_REGISTER_QUIET].b;
    e->agencies[agency].spare += w->credit;
    xput(e->worker_map, w->rid, w->rid_len, w);
    e->peer.worker = w;

    wire_map_t *m = reply_begin(e, MIZ_MSG_REGISTERED);
    wire_map_uint(m, "worker", w->serial);
    wire_map_cstr(m, "agency", agency_id(e, w->agency));
    wire_map_uint(m, "credit", w->credit);
    wire_map_bool(m, "quiet", w->quiet);
    wire_map_uint(m, "heartbeat_ms", e->heartbeat_ms);
    reply_send(e);
    LOG(e, LOG_INFO, "worker %s (#%u) registered for %s, credit %u, %zu topic patterns%s",
        w->name, w->serial, agency_id(e, w->agency), w->credit, w->n_topics,
        w->quiet ? ", quiet" : "");
    agency_dispatch(e, w->agency);
}

/* Who acted on d last, for status (its name, not its serial, which a
 * restart reuses). */
static void worker_note_by(delivery_t *d, const worker_t *w)
{
    free(d->by);
    d->by = xstrdup(w->name);
}

/* Only target and escalation deliveries can be answered, refused or
 * reported on; an observer copy is only ever acknowledged. */
static bool answerable_or_reply(engine_t *e, const delivery_t *d, const char *verb)
{
    if (delivery_answers_branch(d))
        return true;
    reply_error(e, MIZ_ERR_BAD_FIELD, d->id,
                "delivery %llu is an observer copy: it is acknowledged, not %s",
                (unsigned long long)d->id, verb);
    return false;
}

void cmd_ack(engine_t *e, const command_args_t *a)
{
    if (a->finished) { /* answered (so acked) or seen already */
        command_repeat_or_reply(e, a->finished, a->finished->state == MIZ_DS_ANSWERED ||
                                                    a->finished->state == MIZ_DS_SEEN);
        return;
    }
    delivery_t *d = a->held;
    if (delivery_answers_branch(d)) {
        delivery_acknowledge(e, d);
    } else {
        delivery_finish(e, d, MIZ_DS_SEEN);
        event_emit(e, d->req, d, MIZ_EV_SEEN, e->peer.worker);
        agency_dispatch(e, d->agency);
    }
    reply_ok(e, d->id, false);
}

/* Whether an answer says what the finished delivery was answered with. */
static bool answer_is_repeat(const delivery_t *d, const field_value_t *outcome,
                             const field_value_t *text)
{
    return d->state == MIZ_DS_ANSWERED && strlen(d->outcome) == outcome->n &&
           memcmp(d->outcome, outcome->s, outcome->n) == 0 &&
           (text->present ? d->text && strlen(d->text) == text->n &&
                                memcmp(d->text, text->s, text->n) == 0
                          : !d->text);
}

void cmd_answer(engine_t *e, const command_args_t *a)
{
    delivery_t *d = a->held;
    const field_value_t *outcome = &a->f[MIZ_F_ANSWER_OUTCOME], *text = &a->f[MIZ_F_ANSWER_TEXT];
    if (a->finished) {
        command_repeat_or_reply(e, a->finished, answer_is_repeat(a->finished, outcome, text));
        return;
    }
    if (!answerable_or_reply(e, d, "answered"))
        return;
    if (outcome->n == 0) {
        reply_error(e, MIZ_ERR_BAD_FIELD, d->id, "\"outcome\" must not be empty");
        return;
    }
    delivery_acknowledge(e, d);
    worker_note_by(d, e->peer.worker);
    d->outcome = xstrndup(outcome->s, outcome->n);
    if (text->present)
        d->text = xstrndup(text->s, text->n);
    delivery_finish(e, d, MIZ_DS_ANSWERED);
    event_emit(e, d->req, d, MIZ_EV_ANSWERED, e->peer.worker);
    reply_ok(e, d->id, false);
    branch_update(e, d);
    agency_dispatch(e, d->agency);
}

void cmd_progress(engine_t *e, const command_args_t *a)
{
    delivery_t *d = a->held;
    const field_value_t *note = &a->f[MIZ_F_PROGRESS_NOTE];
    if (!answerable_or_reply(e, d, "reported on"))
        return;
    delivery_acknowledge(e, d);
    free(d->note);
    d->note = xstrndup(note->s, note->n);
    worker_note_by(d, e->peer.worker);
    event_emit(e, d->req, d, MIZ_EV_PROGRESS, e->peer.worker);
    reply_ok(e, d->id, false);
}

void cmd_refuse(engine_t *e, const command_args_t *a)
{
    delivery_t *d = a->held;
    const field_value_t *reason = &a->f[MIZ_F_REFUSE_REASON];
    if (!answerable_or_reply(e, d, "refused"))
        return;
    if (reason->present)
        d->note = (free(d->note), xstrndup(reason->s, reason->n));
    worker_note_by(d, e->peer.worker);
    delivery_finish(e, d, MIZ_DS_REFUSED);
    event_emit(e, d->req, d, MIZ_EV_REFUSED, e->peer.worker);
    reply_ok(e, d->id, false);
    delivery_escalate(e, d, MIZ_COPY_REFUSED);
    branch_update(e, d);
    agency_dispatch(e, d->agency);
}

/* Gives a delivery back without escalating, as an ack timeout would: it
 * counts as an attempt, and may be held back for delay_ms. */
void cmd_release(engine_t *e, const command_args_t *a)
{
    delivery_t *d = a->held;
    const field_value_t *delay = &a->f[MIZ_F_RELEASE_DELAY_MS];
    if (delay->present && delay->u > MIZ_RELEASE_DELAY_MAX) {
        reply_error(e, MIZ_ERR_BAD_FIELD, d->id, "\"%s\" must be at most %d",
                    miz_fields[MIZ_F_RELEASE_DELAY_MS].key, MIZ_RELEASE_DELAY_MAX);
        return;
    }
    delivery_take_back(e, d);
    if (d->state == MIZ_DS_QUEUED && delay->u)
        delivery_hold_back(e, d, delay->u);
    reply_ok(e, d->id, false);
    agency_dispatch(e, d->agency);
}

void cmd_credit(engine_t *e, const command_args_t *a)
{
    uint64_t credit = a->f[MIZ_F_CREDIT_CREDIT].u;
    worker_t *w = e->peer.worker;
    if (credit < 1 || credit > MIZ_CREDIT_MAX) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" must be 1-%d",
                    miz_fields[MIZ_F_CREDIT_CREDIT].key, MIZ_CREDIT_MAX);
        return;
    }
    worker_set_credit(e, w, (uint32_t)credit);
    if (!w->quiet) {
        wire_map_uint(reply_begin(e, MIZ_MSG_OK), "credit", w->credit);
        reply_send(e);
    }
    agency_dispatch(e, w->agency);
}

void cmd_heartbeat(engine_t *e, const command_args_t *a)
{
    (void)e, (void)a; /* receiving it was the point */
}

void cmd_bye(engine_t *e, const command_args_t *a)
{
    (void)a;
    worker_kill(e, e->peer.worker, "said goodbye");
}

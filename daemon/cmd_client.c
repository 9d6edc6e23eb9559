/* cmd_client: what intake gateways and dashboards ask (submit, status, ping).
 *
 * The command table has checked the key's role, the rate limit and the
 * fields' types and lengths; these handlers check values and state, in the
 * order protocol.md 3.2 and 3.4 give. A submission is accepted only once
 * its request is on disk: its "accepted" is a promise and waits in the
 * outbox for the turn's commit. */
#include "engine_int.h"

#include <string.h>

static void reply_accepted(engine_t *e, uint64_t tracking, size_t deliveries, size_t observers,
                           bool duplicate)
{
    wire_map_t *m = reply_begin(e, MIZ_MSG_ACCEPTED);
    wire_map_uint(m, "tracking", tracking);
    wire_map_uint(m, "deliveries", deliveries);
    wire_map_uint(m, "observers", observers);
    if (duplicate)
        wire_map_bool(m, "duplicate", true);
    reply_send(e);
}

static void reply_duplicate(engine_t *e, const request_t *r)
{
    size_t targets = 0, observers = 0;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        targets += r->dels[i]->role == MIZ_ROLE_TARGET;
        observers += r->dels[i]->role == MIZ_ROLE_OBSERVE;
    }
    LOG(e, LOG_INFO, "resubmission of client_ref \"%s\": tracking=%llu", r->client_ref,
        (unsigned long long)r->tracking);
    reply_accepted(e, r->tracking, targets, observers, true);
}

/* A client_ref first used within the dedup window: the same tracking
 * number again, and nothing new. True when it replied (that, or
 * unavailable when the store cannot be read). */
static bool reply_if_resubmission(engine_t *e, const char *ref, size_t ref_len)
{
    uint64_t window = e->conf->dedup_window_ms, tracking, at;
    char k[ENGINE_REF_KEY_MAX];
    size_t n = ref_key(e->peer.principal ? e->peer.principal->key : NULL, ref, ref_len, k);
    request_t *r = idmap_get(e->refs, k, n);
    if (r) {
        if (e->now_wall >= r->created + window)
            return false;
        reply_duplicate(e, r);
        return true;
    }
    /* a remote store is asked only about a ref it may hold: a new ref,
     * nearly every one, costs no round trip */
    if (!e->store || (e->refcache && !refcache_may_hold(e->refcache, k, n, e->now_wall)))
        return false;
    int found = store_find_ref(e->store, k, n, &tracking, &at);
    if (found > 0 && e->now_wall < at + window)
        found = recovery_load(e, tracking, &r);
    else
        found = found < 0 ? -1 : 0;
    if (found < 0) {
        reply_error(e, MIZ_ERR_UNAVAILABLE, 0, "cannot read the store");
        return true;
    }
    if (!r)
        return false;
    reply_duplicate(e, r);
    request_drop(r);
    return true;
}

/* The values of a submission's fields, in protocol.md's order; false after
 * the error reply. */
static bool submit_values_or_reply(engine_t *e, const command_args_t *a, field_value_t *kind,
                                   priority_t *prio)
{
    const field_value_t *topic = &a->f[MIZ_F_SUBMIT_TOPIC], *ref = &a->f[MIZ_F_SUBMIT_CLIENT_REF],
                        *prio_s = &a->f[MIZ_F_SUBMIT_PRIORITY];
    const char *why;
    if (!topic_valid(topic->s, topic->n, &why)) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"topic\": %s", why);
        return false;
    }
    if (ref->present && !ref->n) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"client_ref\" must not be empty");
        return false;
    }
    *kind = a->f[MIZ_F_SUBMIT_KIND];
    if (!kind->present)
        kind->s = "request", kind->n = strlen(kind->s);
    if (!table_is_name(kind->s, kind->n, MIZ_KIND_MAX)) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"kind\" must be 1-%d of [a-z0-9_-]", MIZ_KIND_MAX);
        return false;
    }
    if (prio_s->present && priority_parse(prio_s->s, prio_s->n, prio) < 0) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"priority\" must be \"routine\" or \"urgent\"");
        return false;
    }
    if (e->stopping) {
        reply_error(e, MIZ_ERR_UNAVAILABLE, 0, "mizd is stopping");
        return false;
    }
    if (e->store_failed) {
        reply_error(e, MIZ_ERR_UNAVAILABLE, 0, "cannot store new requests now (%s)",
                    e->commit_err);
        return false;
    }
    return !(ref->present && reply_if_resubmission(e, ref->s, ref->n));
}

/* The payload, re-encoded in e->scratch; false after the error reply. */
static bool submit_payload_or_reply(engine_t *e, const command_args_t *a)
{
    const char *key = miz_fields[MIZ_F_SUBMIT_PAYLOAD].key;
    const msgpack_object *payload = wire_get(a->msg, key);
    if (!payload) {
        reply_error(e, MIZ_ERR_BAD_FIELD, 0, "\"%s\" is required", key);
        return false;
    }
    msgpack_sbuffer_clear(&e->scratch);
    msgpack_packer spk;
    msgpack_packer_init(&spk, &e->scratch, msgpack_sbuffer_write);
    msgpack_pack_object(&spk, *payload);
    if (e->scratch.size > MIZ_PAYLOAD_MAX) {
        reply_error(e, MIZ_ERR_TOO_LARGE, 0, "\"%s\" is %zu bytes; the limit is %d", key,
                    e->scratch.size, MIZ_PAYLOAD_MAX);
        return false;
    }
    return true;
}

void cmd_submit(engine_t *e, const command_args_t *a)
{
    const field_value_t *topic = &a->f[MIZ_F_SUBMIT_TOPIC], *ref = &a->f[MIZ_F_SUBMIT_CLIENT_REF];
    field_value_t kind;
    priority_t prio = PRIO_ROUTINE;
    if (!submit_values_or_reply(e, a, &kind, &prio) || !submit_payload_or_reply(e, a))
        return;
    const route_t *route;
    unsigned observers[TABLE_MAX_AGENCIES];
    size_t n_observers;
    table_resolve(e->routing->table, topic->s, topic->n, kind.s, kind.n, &route, observers,
                  &n_observers);
    if (!route) {
        reply_error(e, MIZ_ERR_UNKNOWN_TOPIC, 0, "no route for topic \"%.*s\" (kind %.*s)",
                    (int)topic->n, topic->s, (int)kind.n, kind.s);
        return;
    }
    if (e->open_requests >= e->conf->max_open) {
        reply_error(e, MIZ_ERR_BUSY, 0, "%zu requests open; try again later", e->open_requests);
        return;
    }
    if (!a->f[MIZ_F_SUBMIT_PRIORITY].present)
        prio = route->priority;
    for (size_t i = 0; i < n_observers; i++)
        observers[i] = e->routing->agency[observers[i]];

    const principal_t *p = e->peer.principal;
    request_t *r = request_new(&(request_fields_t){
        .topic = topic->s,
        .topic_len = topic->n,
        .kind = kind.s,
        .kind_len = kind.n,
        .ref = ref->s,
        .ref_len = ref->n,
        .payload = e->scratch.data,
        .payload_len = e->scratch.size,
        .client_id = e->peer.rid,
        .client_id_len = e->peer.rid_len,
        .observers = observers,
        .n_observers = n_observers,
        .submitter = p ? p->key : NULL,
        .submitter_len = p ? strlen(p->key) : 0,
    });
    r->tracking = e->next.tracking++;
    r->routing = e->routing;
    r->routing->refs++;
    r->route = route;
    r->prio = prio;
    r->created = e->now_wall;
    r->confirm = a->f[MIZ_F_SUBMIT_CONFIRM].b;
    request_index(e, r); /* a ref from outside the window now names this one */
    if (e->refcache && r->client_ref) {
        char k[ENGINE_REF_KEY_MAX];
        refcache_add(e->refcache, k, request_ref_key(r, k), e->now_wall);
    }
    e->open_requests++;

    event_emit(e, r, NULL, MIZ_EV_RECEIVED, NULL);

    for (uint16_t i = 0; i < route->n_to; i++)
        delivery_new(e, r, route_agency(r, route->to[i]), MIZ_ROLE_TARGET, i, 0, 0);
    for (size_t i = 0; i < n_observers; i++)
        delivery_new(e, r, observers[i], MIZ_ROLE_OBSERVE, 0, 0, 0);
    for (uint32_t i = 0; i < r->n_dels; i++)
        agency_dispatch(e, r->dels[i]->agency);
    /* after the deliveries, which the outbox then sends first: they are on
     * the way to the outcome, the receipt is not */
    reply_accepted(e, r->tracking, route->n_to, n_observers, false);
}

void cmd_status(engine_t *e, const command_args_t *a)
{
    uint64_t tracking = a->f[MIZ_F_STATUS_TRACKING].u;
    request_t *r = idmap_get(e->requests, &tracking, sizeof tracking), *stored = NULL;
    if (!r && e->store && recovery_load(e, tracking, &stored) < 0) {
        reply_error(e, MIZ_ERR_UNAVAILABLE, 0, "cannot read the store");
        return;
    }
    if (!r)
        r = stored;
    if (!r) {
        reply_error(e, MIZ_ERR_UNKNOWN_TRACKING, 0, "no request with tracking number %llu",
                    (unsigned long long)tracking);
        return;
    }
    /* a gateway asks only about what it submitted itself */
    const principal_t *p = e->peer.principal;
    if (p && p->role == KEY_GATEWAY && (!r->submitter || strcmp(r->submitter, p->key) != 0)) {
        LOG_PEER(e, &e->forbidden_lines,
                 "forbidden: status of tracking %llu, by key %s, which did not submit it",
                 (unsigned long long)tracking, p->name);
        reply_error(e, MIZ_ERR_FORBIDDEN, 0, "tracking %llu was not submitted with this key",
                    (unsigned long long)tracking);
        request_drop(stored);
        return;
    }
    if (!payload_load(e, r)) {
        reply_error(e, MIZ_ERR_UNAVAILABLE, 0, "cannot read the store");
        return;
    }
    request_pack_status(e, reply_begin(e, MIZ_MSG_STATUS), r, true);
    reply_send(e);
    if (stored)
        request_drop(stored);
    else
        payload_rest(e, r);
}

void cmd_ping(engine_t *e, const command_args_t *a)
{
    (void)a;
    reply_begin(e, MIZ_MSG_PONG);
    reply_send(e);
}

/* outcome: every outcome reaches its gateway.
 *
 * When a request closes, its outcome goes to the routing id that submitted
 * it. A gateway that asked for it (submit's "confirm") keeps the outcome
 * pending until it confirms it: the request stays with the open ones in the
 * store, so a pending outcome survives a restart and kill -9, and in memory
 * on its gateway's list, oldest first. Whenever the gateway speaks again,
 * what it has not confirmed and was not sent to it lately is sent again, to
 * the routing id it now speaks from; it drops repeats by tracking number.
 * A gateway known by its CURVE key is the same gateway across connections;
 * without CURVE, its routing id names it (libmiz lets a gateway choose a
 * stable one). At most broker.pending_outcomes wait per gateway, and none
 * longer than broker.retention: past either, the oldest is given up (still
 * answered by status until purged), counted, and said in the log. */
#include "engine_int.h"
#include "utf8.h"

#include <stdlib.h>
#include <string.h>

static void outcome_pack_answer(engine_t *e, const request_t *r, uint16_t branch)
{
    const delivery_t *last = NULL;
    bool late = false; /* the citizen waited past a deadline of this branch */
    for (uint32_t i = 0; i < r->n_dels; i++) {
        const delivery_t *d = r->dels[i];
        if (d->branch != branch || !delivery_answers_branch(d))
            continue;
        last = d;
        late |= d->overdue;
        if (d->state == MIZ_DS_ANSWERED)
            break;
    }
    bool answered = last->state == MIZ_DS_ANSWERED;
    wire_map_t m;
    wire_map_begin(&m, &e->pk);
    /* the targets come first, one per branch, in r->dels: as recovered too */
    wire_map_cstr(&m, "agency", agency_id(e, r->dels[branch]->agency));
    wire_map_cstr(&m, "answered_by", agency_id(e, last->agency));
    wire_map_uint(&m, "delivery", last->id);
    wire_map_cstr(&m, "outcome", answered ? last->outcome : miz_state_names[last->state]);
    wire_map_bool(&m, "late", late);
    if (answered)
        wire_map_cstr(&m, "text", last->text ? last->text : "");
    wire_map_end(&m);
}

/* The outcome of r into e->out. */
static void outcome_pack(engine_t *e, const request_t *r)
{
    wire_map_t *m = msg_begin(e, MIZ_MSG_OUTCOME);
    wire_map_uint(m, "tracking", r->tracking);
    wire_map_uint(m, "closed", r->closed);
    if (r->client_ref)
        wire_map_cstr(m, "client_ref", r->client_ref);
    msgpack_pack_array(wire_map_key(m, "answers"), r->route->n_to);
    for (uint16_t i = 0; i < r->route->n_to; i++)
        outcome_pack_answer(e, r, i);
}

/* To the routing id that submitted r: under CURVE only while the key that
 * submitted holds it (another gateway could have taken the id over). */
void outcome_send(engine_t *e, request_t *r)
{
    if (!peer_outcome_deliverable(e, r)) {
        LOG(e, LOG_WARN, "outcome of tracking %llu held back: its routing id is not with the key "
                         "that submitted it", (unsigned long long)r->tracking);
        return;
    }
    outcome_pack(e, r);
    send_client(e, r->client_id, r->client_id_len);
    if (r->pending)
        r->pending->sent = e->now;
}

bool gateway_key_eq(const void *value, const void *key, size_t len)
{
    const gateway_t *g = value;
    return g->id_len == len && memcmp(g->id, key, len) == 0;
}

/* Who confirms r's outcome: its submitter's key, or its routing id. */
static void outcome_owner(const request_t *r, const void **id, size_t *len)
{
    *id = r->submitter ? (const void *)r->submitter : r->client_id;
    *len = r->submitter ? strlen(r->submitter) : r->client_id_len;
}

static gateway_t *gateway_of(engine_t *e, const void *id, size_t len, bool make)
{
    gateway_t *g = idmap_get(e->gateways, id, len);
    if (!g && make && len <= sizeof g->id) {
        g = xcalloc(1, sizeof *g);
        memcpy(g->id, id, len);
        g->id_len = len;
        xput(e->gateways, g->id, g->id_len, g);
    }
    return g;
}

static gateway_t *gateway_of_request(engine_t *e, const request_t *r)
{
    const void *id;
    size_t len;
    outcome_owner(r, &id, &len);
    return gateway_of(e, id, len, true);
}

static void gateway_unlink(gateway_t *g, request_t *r)
{
    pending_t *p = r->pending;
    if (p->prev)
        p->prev->pending->next = p->next;
    else
        g->head = p->next;
    if (p->next)
        p->next->pending->prev = p->prev;
    else
        g->tail = p->prev;
    free(p);
    r->pending = NULL;
    g->n--;
}

/* r's outcome no longer waits: confirmed, or given up. Written when the
 * turn ends (to the closed requests, unless copies are still open). */
static void outcome_settle(engine_t *e, request_t *r)
{
    gateway_t *g = gateway_of_request(e, r);
    gateway_unlink(g, r);
    r->outcome_pending = false;
    event_mark_dirty(e, r);
    if (!g->n && !g->dropped) { /* nothing to tell of it */
        idmap_del(e->gateways, g->id, g->id_len);
        free(g);
    }
}

void outcome_give_up(engine_t *e, request_t *r)
{
    gateway_t *g = gateway_of_request(e, r);
    g->dropped++; /* first: the gateway stays, to be counted */
    LOG(e, LOG_WARN, "outcome of tracking %llu given up: its gateway did not confirm it (%zu "
                     "waiting, at most %zu, for at most the retention period)",
        (unsigned long long)r->tracking, g->n, e->conf->pending_outcomes);
    outcome_settle(e, r);
}

/* Puts r's outcome on its gateway's list (a closing request, or one the
 * store gives back at start) and, at its close, sends it. */
void outcome_pend(engine_t *e, request_t *r)
{
    gateway_t *g = gateway_of_request(e, r);
    bool closing = !r->outcome_pending;
    r->outcome_pending = true;
    r->pending = xcalloc(1, sizeof *r->pending);
    r->pending->prev = g->tail;
    if (g->tail)
        g->tail->pending->next = r;
    else
        g->head = r;
    g->tail = r;
    g->n++;
    while (g->n > e->conf->pending_outcomes)
        outcome_give_up(e, g->head);
    if (closing)
        outcome_send(e, r);
}

/* The peer, a client that just spoke, gets again what it has not
 * confirmed and was not sent lately: to the routing id it speaks from,
 * oldest first, a bounded number per message. */
void outcomes_resend(engine_t *e)
{
    if (!idmap_count(e->gateways)) /* the common case: nobody asked to confirm */
        return;
    const principal_t *p = e->peer.principal;
    const void *id = p ? (const void *)p->key : e->peer.rid;
    size_t len = p ? strlen(p->key) : e->peer.rid_len;
    gateway_t *g = e->peer.secure && !p ? NULL : gateway_of(e, id, len, false);
    uint64_t lately = e->heartbeat_ms * MIZ_LIVENESS;
    size_t sent = 0;
    for (request_t *r = g ? g->head : NULL; r && sent < MIZ_OUTCOMES_RESENT_MAX;
         r = r->pending->next) {
        if (r->pending->sent && e->now - r->pending->sent < lately)
            continue;
        outcome_pack(e, r);
        send_client(e, e->peer.rid, e->peer.rid_len);
        r->pending->sent = e->now;
        sent++;
    }
}

void cmd_confirm(engine_t *e, const command_args_t *a)
{
    uint64_t tracking = a->f[MIZ_F_CONFIRM_TRACKING].u;
    request_t *r = idmap_get(e->requests, &tracking, sizeof tracking);
    const principal_t *p = e->peer.principal;
    const void *id = NULL;
    size_t len = 0;
    if (r && r->outcome_pending)
        outcome_owner(r, &id, &len);
    /* only its gateway confirms an outcome; anything else changes nothing */
    if (id && (p ? strlen(p->key) == len && memcmp(p->key, id, len) == 0
                 : e->peer.rid_len == len && memcmp(e->peer.rid, id, len) == 0))
        outcome_settle(e, r);
    wire_map_uint(reply_begin(e, MIZ_MSG_CONFIRMED), "tracking", tracking);
    reply_send(e);
}

/* A gateway's name in counters: its key's name under CURVE, else its
 * routing id as text when it is text, in hex when it is not (libmiz's own
 * routing ids are random bytes). */
static void outcome_gateway_name(const engine_t *e, const gateway_t *g, wire_map_t *m)
{
    static const char hex[] = "0123456789abcdef";
    const principal_t *p = e->auth && g->id_len == MIZ_KEY_LEN
                               ? auth_lookup(e->auth, (const char *)g->id, g->id_len)
                               : NULL;
    char text[2 * sizeof g->id + 1];
    size_t n = 0;
    if (p) {
        wire_map_cstr(m, "gateway", p->name);
        return;
    }
    if (utf8_valid((const char *)g->id, g->id_len)) {
        wire_map_str(m, "gateway", (const char *)g->id, g->id_len);
        return;
    }
    for (size_t i = 0; i < g->id_len; i++) {
        text[n++] = hex[g->id[i] >> 4];
        text[n++] = hex[g->id[i] & 15];
    }
    wire_map_str(m, "gateway", text, n);
}

/* Each gateway with outcomes waiting or given up, in counters: nothing
 * personal. */
void outcomes_pack_counters(const engine_t *e, wire_map_t *m)
{
    msgpack_packer *pk = wire_map_key(m, "gateways");
    msgpack_pack_array(pk, idmap_count(e->gateways));
    gateway_t *g;
    for (size_t c = 0; (g = idmap_next(e->gateways, &c));) {
        wire_map_t gm;
        wire_map_begin(&gm, pk);
        outcome_gateway_name(e, g, &gm);
        wire_map_uint(&gm, "pending", g->n);
        wire_map_uint(&gm, "dropped", g->dropped);
        wire_map_end(&gm);
    }
}

void gateways_free(engine_t *e)
{
    void *g;
    if (e->gateways)
        for (size_t c = 0; (g = idmap_next(e->gateways, &c));)
            free(g);
    idmap_destroy(&e->gateways);
}

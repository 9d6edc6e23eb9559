/* request: requests in memory, their client references and outcomes.
 *
 * A request is one allocation with everything it copies in (topic, kind,
 * client_ref, the submitter's routing id and key), and owns its payload
 * (which may be in the store only: payload.c) and its deliveries. It is
 * indexed by tracking number and by client_ref (under CURVE, by key and
 * ref, so one gateway can neither take nor probe another's refs). When its
 * last branch settles it closes and sends its outcome (outcome.c); closed
 * requests stay in memory, in closing order, up to broker.retain_closed
 * (and while an outcome waits for its gateway's confirmation), and are then
 * forgotten (the store still has them). request_pack_status gives a
 * request as status and snapshot replies do. */
#include "engine_int.h"

#include <stdlib.h>
#include <string.h>

/* One allocation for the request and everything it copies but the payload,
 * which may leave memory (payload.c); without f->payload it starts so. */
request_t *request_new(const request_fields_t *f)
{
    size_t size = sizeof(request_t) + f->n_observers * sizeof(unsigned) + f->topic_len + 1 +
                  f->kind_len + 1 + (f->ref ? f->ref_len + 1 : 0) + f->client_id_len +
                  (f->submitter ? f->submitter_len + 1 : 0);
    request_t *r = xcalloc(1, size);
    r->dels = &r->del1;
    r->cap_dels = 1;
    char *p = (char *)(r + 1);
    if (f->n_observers)
        memcpy(p, f->observers, f->n_observers * sizeof(unsigned));
    r->observers = (const unsigned *)p;
    r->n_observers = f->n_observers;
    p += f->n_observers * sizeof(unsigned);
    r->topic = memcpy(p, f->topic, f->topic_len), p += f->topic_len + 1;
    r->topic_len = f->topic_len;
    r->kind = memcpy(p, f->kind, f->kind_len), p += f->kind_len + 1;
    if (f->ref)
        r->client_ref = memcpy(p, f->ref, f->ref_len), p += f->ref_len + 1;
    if (f->payload)
        r->payload = memcpy(xrealloc(NULL, f->payload_len), f->payload, f->payload_len);
    r->payload_len = f->payload_len;
    r->client_id = memcpy(p, f->client_id, f->client_id_len), p += f->client_id_len;
    r->client_id_len = f->client_id_len;
    if (f->submitter)
        r->submitter = memcpy(p, f->submitter, f->submitter_len);
    return r;
}

void request_drop(request_t *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        delivery_t *d = r->dels[i];
        free(d->outcome);
        free(d->text);
        free(d->note);
        free(d->by);
        if (d->hist != &d->hist1)
            free(d->hist);
        free(d);
    }
    free(r->pending);
    free(r->payload);
    if (r->dels != &r->del1)
        free(r->dels);
    routing_release(&r->routing);
    free(r);
}

/* What a client_ref is de-duplicated by: under CURVE the submitting key and
 * the ref, so that one gateway can neither take nor probe another's refs. */
size_t ref_key(const char *submitter, const char *ref, size_t n, char out[ENGINE_REF_KEY_MAX])
{
    size_t k = 0;
    if (submitter) {
        memcpy(out, submitter, MIZ_KEY_LEN);
        out[MIZ_KEY_LEN] = ' '; /* not in Z85 */
        k = MIZ_KEY_LEN + 1;
    }
    memcpy(out + k, ref, n);
    return k + n;
}

size_t request_ref_key(const request_t *r, char out[ENGINE_REF_KEY_MAX])
{
    return ref_key(r->submitter, r->client_ref, strlen(r->client_ref), out);
}

/* Compares in place: it runs on every probe of the refs map. */
bool ref_key_eq(const void *value, const void *key, size_t len)
{
    const request_t *r = value;
    const char *k = key;
    size_t at = r->submitter ? MIZ_KEY_LEN + 1 : 0, n = strlen(r->client_ref);
    return at + n == len &&
           (!r->submitter ||
            (memcmp(k, r->submitter, MIZ_KEY_LEN) == 0 && k[MIZ_KEY_LEN] == ' ')) &&
           memcmp(k + at, r->client_ref, n) == 0;
}

/* Puts a request in the indexes of the requests in memory: by tracking
 * number, and by client_ref (a newer one with the same ref wins). */
void request_index(engine_t *e, request_t *r)
{
    xput(e->requests, &r->tracking, sizeof r->tracking, r);
    if (r->client_ref) {
        char k[ENGINE_REF_KEY_MAX];
        size_t n = request_ref_key(r, k);
        idmap_del(e->refs, k, n);
        xput(e->refs, k, n, r);
    }
}

static void request_free(engine_t *e, request_t *r)
{
    char k[ENGINE_REF_KEY_MAX];
    size_t n = r->client_ref ? request_ref_key(r, k) : 0;
    if (r->client_ref && idmap_get(e->refs, k, n) == r)
        idmap_del(e->refs, k, n);
    for (uint32_t i = 0; i < r->n_dels; i++)
        idmap_del(e->deliveries, &r->dels[i]->id, sizeof r->dels[i]->id);
    idmap_del(e->requests, &r->tracking, sizeof r->tracking);
    request_drop(r);
}

/* Closed requests wait in closing order to be forgotten from memory. */
void closed_append(engine_t *e, request_t *r)
{
    if (e->closed_tail)
        e->closed_tail->next_closed = r;
    else
        e->closed_head = r;
    e->closed_tail = r;
    e->n_closed++;
}

void request_close(engine_t *e, request_t *r)
{
    r->closed = e->now_wall;
    e->open_requests--;
    event_emit(e, r, NULL, MIZ_EV_CLOSED, NULL);
    if (r->confirm)
        outcome_pend(e, r);
    else
        outcome_send(e, r);
    closed_append(e, r); /* freed only at the end of the turn: callers still hold r */
}

/* Forgets the oldest closed requests past the retention count (the store
 * still has them). One whose observer copies are still out, or not yet on
 * disk, goes to the back of the line. */
void requests_evict_closed(engine_t *e)
{
    for (size_t tries = e->n_closed; e->n_closed > e->conf->retain_closed && tries; tries--) {
        request_t *r = e->closed_head;
        e->closed_head = r->next_closed;
        if (!e->closed_head)
            e->closed_tail = NULL;
        r->next_closed = NULL;
        e->n_closed--;
        if (r->open || r->dirty || r->committing || r->outcome_pending)
            closed_append(e, r);
        else
            request_free(e, r);
    }
}


/* Forgets the closed requests that closed before `before` and have nothing
 * open or unwritten (the store's purge deletes the same). The closed list is
 * in closing order but for the requests whose copies outlived them, so it is
 * walked whole: this runs at most once per purge interval. */
void requests_forget_closed_before(engine_t *e, uint64_t before)
{
    request_t *prev = NULL;
    for (request_t **p = &e->closed_head, *r; (r = *p);) {
        if (r->outcome_pending && r->closed < before)
            outcome_give_up(e, r); /* written when the turn ends, purged by a later pass */
        if (r->closed >= before || r->open || r->dirty || r->committing || r->outcome_pending) {
            prev = r;
            p = &r->next_closed;
            continue;
        }
        *p = r->next_closed;
        if (e->closed_tail == r)
            e->closed_tail = prev;
        e->n_closed--;
        request_free(e, r);
    }
}

/* personal: with what only the submitter may see (the answer's text, the
 * worker's notes); the event stream's snapshot leaves them out. */
static void request_pack_delivery(engine_t *e, const delivery_t *d, bool personal)
{
    wire_map_t m, h;
    wire_map_begin(&m, &e->pk);
    wire_map_uint(&m, "id", d->id);
    wire_map_cstr(&m, "agency", agency_id(e, d->agency));
    wire_map_cstr(&m, "role", miz_role_names[d->role]);
    wire_map_uint(&m, "level", d->level);
    wire_map_cstr(&m, "state", miz_state_names[d->state]);
    wire_map_bool(&m, "overdue", d->overdue);
    wire_map_uint(&m, "attempts", d->attempts);
    wire_map_uint(&m, "created", d->created);
    wire_map_uint(&m, "ack_by", d->ack_by);
    wire_map_uint(&m, "answer_by", d->answer_by);
    wire_map_uint(&m, "from", d->from);
    wire_map_opt_cstr(&m, "outcome", d->outcome);
    if (personal) {
        wire_map_opt_cstr(&m, "text", d->text);
        wire_map_opt_cstr(&m, "note", d->note);
        wire_map_opt_cstr(&m, "by", d->by);
    }
    msgpack_pack_array(wire_map_key(&m, "history"), d->n_hist);
    for (uint32_t i = 0; i < d->n_hist; i++) {
        wire_map_begin(&h, &e->pk);
        wire_map_uint(&h, "at", d->hist[i].at);
        wire_map_cstr(&h, "event", miz_event_names[d->hist[i].event]);
        wire_map_uint(&h, "worker", d->hist[i].worker);
        wire_map_end(&h);
    }
    wire_map_end(&m);
}

/* The fields of a status reply into m; personal adds client_ref and the
 * deliveries' texts and notes. */
void request_pack_status(engine_t *e, wire_map_t *m, const request_t *r, bool personal)
{
    wire_map_uint(m, "tracking", r->tracking);
    wire_map_str(m, "topic", r->topic, r->topic_len);
    wire_map_cstr(m, "kind", r->kind);
    wire_map_cstr(m, "priority", priority_name(r->prio));
    wire_map_cstr(m, "state", miz_request_state_names[r->closed ? MIZ_RS_CLOSED : MIZ_RS_OPEN]);
    wire_map_uint(m, "created", r->created);
    wire_map_uint(m, "closed", r->closed);
    if (personal) {
        wire_map_opt_cstr(m, "client_ref", r->client_ref);
        wire_map_key(m, "payload"); /* as submitted: the citizen's text, place, contact */
        msgpack_sbuffer_write(&e->out, (const char *)r->payload, r->payload_len);
    }
    msgpack_pack_array(wire_map_key(m, "deliveries"), r->n_dels);
    for (uint32_t i = 0; i < r->n_dels; i++)
        request_pack_delivery(e, r->dels[i], personal);
}

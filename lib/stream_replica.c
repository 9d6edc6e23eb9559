/* stream_replica: the records of lib/stream.h and the replica that keeps
 * them, decoded from the maps the broker sends.
 *
 * A `snapshot` part's request objects (and a `status` reply) and the event
 * stream's `event` maps are checked field by field here, against proto.h's
 * names and limits, before a record is made or changed: a replica never
 * holds half of a malformed message. Nothing here touches a socket, so the
 * replica can be filled and tested without a broker; stream_snapshot.c and
 * stream.c feed it. */
#include <stdlib.h>
#include <string.h>

#include "proto.h"
#include "stream_private.h"
#include "wire.h"

/* ---- typed fields of nested maps (the wire codec checked UTF-8) ---- */

static bool replica_uint(const msgpack_object *map, const char *key, uint64_t *v)
{
    return wire_obj_uint(wire_obj_get(map, key), v) == WIRE_OK;
}

static bool replica_bool(const msgpack_object *map, const char *key, bool *v)
{
    return wire_obj_bool(wire_obj_get(map, key), v) == WIRE_OK;
}

/* Copies a string of at most max bytes, NUL-terminated, into buf. */
static bool replica_str(const msgpack_object *map, const char *key, char *buf, size_t max)
{
    const char *s;
    size_t n;
    const msgpack_object *o = wire_obj_get(map, key);
    if (!o || wire_obj_str(o, &s, &n, max) != WIRE_OK || (n && memchr(s, '\0', n)))
        return false;
    if (n) /* an empty string may have no bytes to point to */
        memcpy(buf, s, n);
    buf[n] = '\0';
    return true;
}

/* The index among names[0..count) of the string under key, or -1; *out
 * points to that name, a constant of proto.c. */
static int replica_name(const msgpack_object *map, const char *key, const char *const *names,
                        size_t count, const char **out)
{
    const char *s;
    size_t n;
    const msgpack_object *o = wire_obj_get(map, key);
    int i =
        o && wire_obj_str(o, &s, &n, SIZE_MAX) == WIRE_OK ? miz_name_find(names, count, s, n) : -1;
    if (i >= 0)
        *out = names[i];
    return i;
}

/* replica_name over one of proto.h's name tables: true when the name is there. */
#define REPLICA_NAME(map, key, table, out)                                                         \
    (replica_name(map, key, table, sizeof table / sizeof *table, out) >= 0)

static bool replica_nil(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = wire_obj_get(map, key);
    return o && o->type == MSGPACK_OBJECT_NIL;
}

/* replica_str, or "" for nil or absent (a field a mizd before it lacks). */
static bool replica_opt_str(const msgpack_object *map, const char *key, char *buf, size_t max)
{
    buf[0] = '\0';
    return !wire_obj_get(map, key) || replica_nil(map, key) || replica_str(map, key, buf, max);
}

/* ---- records ---- */

bool miz_delivery_open(const miz_delivery_t *d)
{
    int state = MIZ_NAME_FIND(miz_state_names, d->state, strlen(d->state));
    return state == MIZ_DS_QUEUED || state == MIZ_DS_OFFERED || state == MIZ_DS_ACKED;
}

uint64_t miz_delivery_first(const miz_delivery_t *d, const char *event)
{
    for (size_t i = 0; i < d->n_history; i++)
        if (strcmp(d->history[i].event, event) == 0)
            return d->history[i].at;
    return 0;
}

static void replica_request_free(miz_request_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_deliveries; i++)
        free(q->deliveries[i].history);
    free(q->deliveries);
    free(q);
}

bool stream_grow(void **arr, size_t n, size_t *cap, size_t size)
{
    if (n < *cap)
        return true;
    size_t want = *cap ? *cap * 2 : 4;
    void *p = realloc(*arr, want * size);
    if (!p)
        return false;
    *arr = p;
    *cap = want;
    return true;
}

static bool replica_history(const msgpack_object *arr, miz_delivery_t *d)
{
    if (arr->type != MSGPACK_OBJECT_ARRAY)
        return false;
    uint32_t n = arr->via.array.size;
    d->history = n ? calloc(n, sizeof *d->history) : NULL;
    if (n && !d->history)
        return false;
    d->cap_history = n;
    for (uint32_t i = 0; i < n; i++) {
        const msgpack_object *h = &arr->via.array.ptr[i];
        miz_hist_t *e = &d->history[i];
        if (h->type != MSGPACK_OBJECT_MAP || !replica_uint(h, "at", &e->at) ||
            !REPLICA_NAME(h, "event", miz_event_names, &e->event) ||
            !replica_uint(h, "worker", &e->worker))
            return false;
        d->n_history++;
    }
    return true;
}

static bool replica_delivery(const msgpack_object *o, miz_delivery_t *d)
{
    const msgpack_object *hist = wire_obj_get(o, "history");
    return o->type == MSGPACK_OBJECT_MAP && replica_uint(o, "id", &d->id) && d->id > 0 &&
           replica_str(o, "agency", d->agency, MIZ_AGENCY_MAX) &&
           REPLICA_NAME(o, "role", miz_role_names, &d->role) &&
           REPLICA_NAME(o, "state", miz_state_names, &d->state) &&
           replica_bool(o, "overdue", &d->overdue) && replica_uint(o, "level", &d->level) &&
           replica_uint(o, "attempts", &d->attempts) && replica_uint(o, "created", &d->created) &&
           replica_uint(o, "ack_by", &d->ack_by) && replica_uint(o, "answer_by", &d->answer_by) &&
           replica_uint(o, "from", &d->from) &&
           replica_opt_str(o, "outcome", d->outcome, MIZ_OUTCOME_MAX) && hist &&
           replica_history(hist, d);
}

static miz_request_t *replica_request(const msgpack_object *o)
{
    miz_request_t *q = calloc(1, sizeof *q);
    const char *state;
    int rs = -1;
    const msgpack_object *dels = wire_obj_get(o, "deliveries");
    bool ok = q && o->type == MSGPACK_OBJECT_MAP && replica_uint(o, "tracking", &q->tracking) &&
              q->tracking > 0 && replica_str(o, "topic", q->topic, MIZ_TOPIC_MAX) &&
              replica_str(o, "kind", q->kind, MIZ_KIND_MAX) &&
              REPLICA_NAME(o, "priority", miz_priority_names, &q->priority) &&
              (rs = replica_name(o, "state", miz_request_state_names, MIZ_RS_COUNT, &state)) >= 0 &&
              replica_uint(o, "created", &q->created) && replica_uint(o, "closed", &q->closed_at) &&
              dels && dels->type == MSGPACK_OBJECT_ARRAY;
    if (ok) {
        q->closed = rs == MIZ_RS_CLOSED;
        uint32_t n = dels->via.array.size;
        q->deliveries = n ? calloc(n, sizeof *q->deliveries) : NULL;
        ok = !n || q->deliveries;
        q->cap_deliveries = n;
        for (uint32_t i = 0; ok && i < n; i++) {
            ok = replica_delivery(&dels->via.array.ptr[i], &q->deliveries[i]);
            q->n_deliveries++; /* counted even when it fails, so its history is freed */
        }
    }
    if (!ok) {
        replica_request_free(q);
        return NULL;
    }
    return q;
}

/* ---- the replica ---- */

struct miz_replica {
    miz_request_t **reqs; /* by tracking number */
    size_t n, cap;
};

miz_replica_t *miz_replica_new(void)
{
    return calloc(1, sizeof(miz_replica_t));
}

void stream_replica_clear(miz_replica_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        replica_request_free(r->reqs[i]);
    r->n = 0;
}

void miz_replica_destroy(miz_replica_t **r)
{
    if (!*r)
        return;
    stream_replica_clear(*r);
    free((*r)->reqs);
    free(*r);
    *r = NULL;
}

/* The index of tracking, or where it would go (*found false). */
static size_t replica_index(const miz_replica_t *r, uint64_t tracking, bool *found)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (r->reqs[mid]->tracking < tracking)
            lo = mid + 1;
        else
            hi = mid;
    }
    *found = lo < r->n && r->reqs[lo]->tracking == tracking;
    return lo;
}

static bool replica_insert(miz_replica_t *r, size_t at, miz_request_t *q)
{
    if (!stream_grow((void **)&r->reqs, r->n, &r->cap, sizeof *r->reqs))
        return false;
    memmove(&r->reqs[at + 1], &r->reqs[at], (r->n - at) * sizeof *r->reqs);
    r->reqs[at] = q;
    r->n++;
    return true;
}

int miz_replica_put(miz_replica_t *r, const msgpack_object *request)
{
    miz_request_t *q = replica_request(request);
    if (!q)
        return -1;
    bool found;
    size_t at = replica_index(r, q->tracking, &found);
    if (found) {
        replica_request_free(r->reqs[at]);
        r->reqs[at] = q;
    } else if (!replica_insert(r, at, q)) {
        replica_request_free(q);
        return -1;
    }
    return 0;
}

/* An event's fields, all checked before the replica is touched. */
typedef struct {
    miz_event_t ev;
    const char *event, *priority, *role, *state;
    uint64_t at, tracking, created, delivery, level, attempts, delivery_created, ack_by,
        answer_by, from, worker;
    bool overdue;
    char topic[MIZ_TOPIC_MAX + 1], kind[MIZ_KIND_MAX + 1], agency[MIZ_AGENCY_MAX + 1];
    char outcome[MIZ_OUTCOME_MAX + 1];
} replica_event_t;

static bool replica_event(const msgpack_object *o, replica_event_t *e)
{
    memset(e, 0, sizeof *e);
    int ev = o->type == MSGPACK_OBJECT_MAP
                 ? replica_name(o, "event", miz_event_names, MIZ_EV_COUNT, &e->event)
                 : -1;
    if (ev < 0 || !replica_uint(o, "at", &e->at) || !replica_uint(o, "tracking", &e->tracking) ||
        !e->tracking || !replica_str(o, "topic", e->topic, MIZ_TOPIC_MAX) ||
        !replica_str(o, "kind", e->kind, MIZ_KIND_MAX) ||
        !REPLICA_NAME(o, "priority", miz_priority_names, &e->priority) ||
        !replica_uint(o, "created", &e->created) || !replica_uint(o, "delivery", &e->delivery) ||
        !replica_uint(o, "level", &e->level) || !replica_bool(o, "overdue", &e->overdue) ||
        !replica_uint(o, "attempts", &e->attempts) ||
        !replica_uint(o, "delivery_created", &e->delivery_created) ||
        !replica_uint(o, "ack_by", &e->ack_by) || !replica_uint(o, "answer_by", &e->answer_by) ||
        !replica_uint(o, "from", &e->from) || !replica_uint(o, "worker", &e->worker) ||
        !replica_opt_str(o, "outcome", e->outcome, MIZ_OUTCOME_MAX))
        return false;
    e->ev = (miz_event_t)ev;
    bool request_event = e->ev == MIZ_EV_RECEIVED || e->ev == MIZ_EV_CLOSED;
    if (request_event) /* delivery 0, agency and role nil, state "open"/"closed" */
        return e->delivery == 0 && replica_nil(o, "agency") && replica_nil(o, "role");
    return e->delivery > 0 && replica_str(o, "agency", e->agency, MIZ_AGENCY_MAX) &&
           REPLICA_NAME(o, "role", miz_role_names, &e->role) &&
           REPLICA_NAME(o, "state", miz_state_names, &e->state);
}

int miz_replica_apply(miz_replica_t *r, const msgpack_object *event)
{
    replica_event_t e;
    if (!replica_event(event, &e))
        return -1;
    bool found;
    size_t at = replica_index(r, e.tracking, &found);
    miz_request_t *q = found ? r->reqs[at] : NULL;
    if (!q) {
        q = calloc(1, sizeof *q);
        if (!q)
            return -1;
        q->tracking = e.tracking;
        memcpy(q->topic, e.topic, sizeof q->topic);
        memcpy(q->kind, e.kind, sizeof q->kind);
        q->priority = e.priority;
        q->created = e.created;
        if (!replica_insert(r, at, q)) {
            free(q);
            return -1;
        }
    }
    if (e.ev == MIZ_EV_RECEIVED) {
        q->closed = false;
        return 0;
    }
    if (e.ev == MIZ_EV_CLOSED) {
        q->closed = true;
        q->closed_at = e.at;
        return 0;
    }
    miz_delivery_t *d = NULL;
    for (size_t i = q->n_deliveries; i-- > 0 && !d;)
        if (q->deliveries[i].id == e.delivery)
            d = &q->deliveries[i];
    bool new_delivery = !d;
    if (new_delivery) { /* counted once its history has room: a failure leaves none half made */
        if (!stream_grow((void **)&q->deliveries, q->n_deliveries, &q->cap_deliveries,
                         sizeof *q->deliveries))
            return -1;
        d = &q->deliveries[q->n_deliveries];
        memset(d, 0, sizeof *d);
        d->id = e.delivery;
    }
    if (!stream_grow((void **)&d->history, d->n_history, &d->cap_history, sizeof *d->history))
        return -1;
    if (new_delivery)
        q->n_deliveries++;
    memcpy(d->agency, e.agency, sizeof d->agency);
    d->role = e.role;
    d->state = e.state;
    d->overdue = e.overdue;
    d->level = e.level;
    d->attempts = e.attempts;
    d->created = e.delivery_created;
    d->ack_by = e.ack_by;
    d->answer_by = e.answer_by;
    d->from = e.from;
    memcpy(d->outcome, e.outcome, sizeof d->outcome);
    d->history[d->n_history++] = (miz_hist_t){e.at, e.event, e.worker};
    return 0;
}

void miz_replica_prune(miz_replica_t *r, uint64_t before_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->reqs[i]->closed && r->reqs[i]->closed_at < before_ms)
            replica_request_free(r->reqs[i]);
        else
            r->reqs[kept++] = r->reqs[i];
    }
    r->n = kept;
}

size_t miz_replica_count(const miz_replica_t *r)
{
    return r->n;
}

const miz_request_t *miz_replica_at(const miz_replica_t *r, size_t i)
{
    return i < r->n ? r->reqs[i] : NULL;
}

const miz_request_t *miz_replica_find(const miz_replica_t *r, uint64_t tracking)
{
    bool found;
    size_t at = replica_index(r, tracking, &found);
    return found ? r->reqs[at] : NULL;
}

#include "stream.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cert.h"
#include "clock.h"
#include "dealer.h"
#include "proto.h"
#include "wire.h"

/* A snapshot with no part for this long after it was asked for, or after
 * its last part, is asked for again: the broker may have died meanwhile. */
#define SNAPSHOT_TIMEOUT_MS 3000
/* Events queued while a snapshot is awaited, past which the sync starts
 * over rather than grow without bound behind a broker that never answers. */
#define QUEUE_MAX 1000000
#define PRUNE_EVERY_MS 60000

/* ---- typed fields of nested maps (the wire codec checked UTF-8) ---- */

static bool f_uint(const msgpack_object *map, const char *key, uint64_t *v)
{
    return wire_obj_uint(wire_obj_get(map, key), v) == WIRE_OK;
}

static bool f_bool(const msgpack_object *map, const char *key, bool *v)
{
    return wire_obj_bool(wire_obj_get(map, key), v) == WIRE_OK;
}

/* Copies a string of at most max bytes, NUL-terminated, into buf. */
static bool f_str(const msgpack_object *map, const char *key, char *buf, size_t max)
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
static int f_name(const msgpack_object *map, const char *key, const char *const *names,
                  size_t count, const char **out)
{
    const char *s;
    size_t n;
    const msgpack_object *o = wire_obj_get(map, key);
    int i = o && wire_obj_str(o, &s, &n, SIZE_MAX) == WIRE_OK ? miz_name_find(names, count, s, n)
                                                              : -1;
    if (i >= 0)
        *out = names[i];
    return i;
}
/* f_name over one of proto.h's name tables: true when the name is there. */
#define F_NAME(map, key, table, out) (f_name(map, key, table, sizeof table / sizeof *table, out) >= 0)

static bool f_nil(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = wire_obj_get(map, key);
    return o && o->type == MSGPACK_OBJECT_NIL;
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

static void request_free(miz_request_t *q)
{
    if (!q)
        return;
    for (size_t i = 0; i < q->n_deliveries; i++)
        free(q->deliveries[i].history);
    free(q->deliveries);
    free(q);
}

/* Makes room for one more element in an array of *cap elements of size. */
static bool grow(void **arr, size_t n, size_t *cap, size_t size)
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

static bool parse_history(const msgpack_object *arr, miz_delivery_t *d)
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
        if (h->type != MSGPACK_OBJECT_MAP || !f_uint(h, "at", &e->at) ||
            !F_NAME(h, "event", miz_event_names, &e->event) || !f_uint(h, "worker", &e->worker))
            return false;
        d->n_history++;
    }
    return true;
}

static bool parse_delivery(const msgpack_object *o, miz_delivery_t *d)
{
    const msgpack_object *hist = wire_obj_get(o, "history");
    return o->type == MSGPACK_OBJECT_MAP && f_uint(o, "id", &d->id) && d->id > 0 &&
           f_str(o, "agency", d->agency, MIZ_AGENCY_MAX) && F_NAME(o, "role", miz_role_names, &d->role) &&
           F_NAME(o, "state", miz_state_names, &d->state) && f_bool(o, "overdue", &d->overdue) &&
           f_uint(o, "level", &d->level) && f_uint(o, "attempts", &d->attempts) &&
           f_uint(o, "created", &d->created) && f_uint(o, "ack_by", &d->ack_by) &&
           f_uint(o, "answer_by", &d->answer_by) && f_uint(o, "from", &d->from) && hist &&
           parse_history(hist, d);
}

static miz_request_t *parse_request(const msgpack_object *o)
{
    miz_request_t *q = calloc(1, sizeof *q);
    const char *state;
    int rs = -1;
    const msgpack_object *dels = wire_obj_get(o, "deliveries");
    bool ok = q && o->type == MSGPACK_OBJECT_MAP && f_uint(o, "tracking", &q->tracking) &&
              q->tracking > 0 && f_str(o, "topic", q->topic, MIZ_TOPIC_MAX) &&
              f_str(o, "kind", q->kind, MIZ_KIND_MAX) &&
              F_NAME(o, "priority", miz_priority_names, &q->priority) &&
              (rs = f_name(o, "state", miz_request_state_names, MIZ_RS_COUNT, &state)) >= 0 &&
              f_uint(o, "created", &q->created) && f_uint(o, "closed", &q->closed_at) && dels &&
              dels->type == MSGPACK_OBJECT_ARRAY;
    if (ok) {
        q->closed = rs == MIZ_RS_CLOSED;
        uint32_t n = dels->via.array.size;
        q->deliveries = n ? calloc(n, sizeof *q->deliveries) : NULL;
        ok = !n || q->deliveries;
        q->cap_deliveries = n;
        for (uint32_t i = 0; ok && i < n; i++) {
            ok = parse_delivery(&dels->via.array.ptr[i], &q->deliveries[i]);
            q->n_deliveries++; /* counted even when it fails, so its history is freed */
        }
    }
    if (!ok) {
        request_free(q);
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

static void replica_clear(miz_replica_t *r)
{
    for (size_t i = 0; i < r->n; i++)
        request_free(r->reqs[i]);
    r->n = 0;
}

void miz_replica_destroy(miz_replica_t **r)
{
    if (!*r)
        return;
    replica_clear(*r);
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
    if (!grow((void **)&r->reqs, r->n, &r->cap, sizeof *r->reqs))
        return false;
    memmove(&r->reqs[at + 1], &r->reqs[at], (r->n - at) * sizeof *r->reqs);
    r->reqs[at] = q;
    r->n++;
    return true;
}

int miz_replica_put(miz_replica_t *r, const msgpack_object *request)
{
    miz_request_t *q = parse_request(request);
    if (!q)
        return -1;
    bool found;
    size_t at = replica_index(r, q->tracking, &found);
    if (found) {
        request_free(r->reqs[at]);
        r->reqs[at] = q;
    } else if (!replica_insert(r, at, q)) {
        request_free(q);
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
} event_t;

static bool parse_event(const msgpack_object *o, event_t *e)
{
    memset(e, 0, sizeof *e);
    int ev = o->type == MSGPACK_OBJECT_MAP
                 ? f_name(o, "event", miz_event_names, MIZ_EV_COUNT, &e->event)
                 : -1;
    if (ev < 0 ||
        !f_uint(o, "at", &e->at) || !f_uint(o, "tracking", &e->tracking) || !e->tracking ||
        !f_str(o, "topic", e->topic, MIZ_TOPIC_MAX) || !f_str(o, "kind", e->kind, MIZ_KIND_MAX) ||
        !F_NAME(o, "priority", miz_priority_names, &e->priority) || !f_uint(o, "created", &e->created) ||
        !f_uint(o, "delivery", &e->delivery) || !f_uint(o, "level", &e->level) ||
        !f_bool(o, "overdue", &e->overdue) || !f_uint(o, "attempts", &e->attempts) ||
        !f_uint(o, "delivery_created", &e->delivery_created) || !f_uint(o, "ack_by", &e->ack_by) ||
        !f_uint(o, "answer_by", &e->answer_by) || !f_uint(o, "from", &e->from) ||
        !f_uint(o, "worker", &e->worker))
        return false;
    e->ev = (miz_event_t)ev;
    bool request_event = e->ev == MIZ_EV_RECEIVED || e->ev == MIZ_EV_CLOSED;
    if (request_event) /* delivery 0, agency and role nil, state "open"/"closed" */
        return e->delivery == 0 && f_nil(o, "agency") && f_nil(o, "role");
    return e->delivery > 0 && f_str(o, "agency", e->agency, MIZ_AGENCY_MAX) &&
           F_NAME(o, "role", miz_role_names, &e->role) &&
           F_NAME(o, "state", miz_state_names, &e->state);
}

int miz_replica_apply(miz_replica_t *r, const msgpack_object *event)
{
    event_t e;
    if (!parse_event(event, &e))
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
    if (!d) {
        if (!grow((void **)&q->deliveries, q->n_deliveries, &q->cap_deliveries,
                  sizeof *q->deliveries))
            return -1;
        d = &q->deliveries[q->n_deliveries++];
        memset(d, 0, sizeof *d);
        d->id = e.delivery;
    }
    if (!grow((void **)&d->history, d->n_history, &d->cap_history, sizeof *d->history))
        return -1;
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
    d->history[d->n_history++] = (miz_hist_t){e.at, e.event, e.worker};
    return 0;
}

void miz_replica_prune(miz_replica_t *r, uint64_t before_ms)
{
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->reqs[i]->closed && r->reqs[i]->closed_at < before_ms)
            request_free(r->reqs[i]);
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

/* ---- snapshots ---- */

/* A DEALER on the clients endpoint with a routing id of its own, as
 * lib/client.c's clients have: replies find it after a reconnect. */
static void *snapshot_dealer(void *zctx, const char *endpoint, const miz_curve_t *curve)
{
    unsigned char rid[DEALER_RID_LEN];
    return dealer_rid(rid) < 0 ? NULL : dealer_open(zctx, endpoint, rid, sizeof rid, curve);
}

static int send_snapshot(void *sock, uint64_t seq, uint64_t since)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    wire_map_t m;
    wire_map_begin(&m, &pk);
    wire_map_cstr(&m, "type", miz_commands[MIZ_CMD_SNAPSHOT].type);
    wire_map_uint(&m, "v", MIZ_PROTOCOL_VERSION);
    wire_map_uint(&m, "seq", seq);
    wire_map_uint(&m, miz_fields[MIZ_F_SNAPSHOT_SINCE].key, since);
    wire_map_end(&m);
    int rc = zmq_send(sock, buf.data, buf.size, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

/* Receives one single-frame message without waiting; NULL with errno
 * EAGAIN when none is there, EPROTO when it does not decode. */
static wire_msg_t *recv_msg(void *sock, char *topic, size_t topic_size)
{
    zmq_msg_t frame;
    wire_msg_t *w = NULL;
    bool bad = false;
    int part = 0;
    zmq_msg_init(&frame);
    if (topic)
        topic[0] = '\0';
    do {
        if (zmq_msg_recv(&frame, sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&frame);
            wire_msg_destroy(&w);
            errno = e;
            return NULL;
        }
        size_t n = zmq_msg_size(&frame);
        if (topic && part == 0) { /* a PUB message: topic frame, then the map */
            if (n >= topic_size)
                bad = true;
            else {
                if (n)
                    memcpy(topic, zmq_msg_data(&frame), n);
                topic[n] = '\0';
            }
        } else if (!w && !bad) {
            wire_status_t st;
            char why[64];
            w = wire_parse(zmq_msg_data(&frame), n, &st, why, sizeof why);
            bad = !w;
        } else {
            bad = true; /* more frames than the protocol has */
        }
        part++;
    } while (zmq_msg_more(&frame));
    zmq_msg_close(&frame);
    if (bad || !w) {
        wire_msg_destroy(&w);
        errno = EPROTO;
        return NULL;
    }
    return w;
}

typedef struct {
    uint64_t seq_sent; /* our request's seq, matched against "re" */
    uint64_t next_part, seq, run;
    bool done;
} snap_t;

/* Takes in one reply: 1 when it is a part of our snapshot and was taken,
 * 0 when it is not for us (an answer to an earlier request), -1 when it is
 * ours and cannot be used (an error, a missing part, a bad request). */
static int snap_take(snap_t *sn, const wire_msg_t *w, miz_replica_t *into)
{
    uint64_t re, part;
    const char *type;
    size_t n;
    if (wire_uint(w, "re", &re) != WIRE_OK || re != sn->seq_sent)
        return 0;
    if (wire_str(w, "type", &type, &n, MIZ_TYPE_MAX) != WIRE_OK ||
        MIZ_NAME_FIND(miz_message_names, type, n) != MIZ_MSG_SNAPSHOT)
        return -1;
    const msgpack_object *reqs = wire_get(w, "requests");
    bool done;
    if (wire_uint(w, "part", &part) != WIRE_OK || part != sn->next_part ||
        wire_bool(w, "done", &done) != WIRE_OK || wire_uint(w, "seq", &sn->seq) != WIRE_OK ||
        wire_uint(w, "run", &sn->run) != WIRE_OK || !reqs || reqs->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < reqs->via.array.size; i++)
        if (miz_replica_put(into, &reqs->via.array.ptr[i]) < 0)
            return -1;
    sn->next_part++;
    sn->done = done;
    return 1;
}

int miz_snapshot_fetch(void *zctx, const char *clients_ep, const miz_curve_t *curve,
                       uint64_t since_ms, int timeout_ms, miz_replica_t *r)
{
    void *ctx = zctx ? zctx : zmq_ctx_new();
    void *sock = ctx ? snapshot_dealer(ctx, clients_ep, curve) : NULL;
    snap_t sn = {.seq_sent = 1};
    int rc = -1, err = EAGAIN;
    replica_clear(r);
    if (!sock || send_snapshot(sock, sn.seq_sent, since_ms) < 0) {
        err = errno;
        goto out;
    }
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)timeout_ms;
    while (!sn.done) {
        uint64_t now = clock_ms(CLOCK_MONOTONIC);
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (now >= deadline || zmq_poll(&item, 1, (long)(deadline - now)) <= 0)
            goto out;
        wire_msg_t *w = recv_msg(sock, NULL, 0);
        if (!w)
            continue;
        int took = snap_take(&sn, w, r);
        wire_msg_destroy(&w);
        if (took < 0) {
            err = EPROTO;
            goto out;
        }
    }
    rc = 0;
out:
    if (sock)
        zmq_close(sock);
    if (ctx && !zctx)
        zmq_ctx_term(ctx);
    if (rc < 0) {
        replica_clear(r);
        errno = err;
    }
    return rc;
}

/* ---- the stream ---- */

struct miz_stream {
    void *zctx;
    bool own_ctx;
    void *sub, *dealer;
    uint64_t keep_ms;
    miz_replica_t *replica; /* the last complete one */
    miz_replica_t *staging; /* being filled by a snapshot; NULL when synced */
    snap_t snap;
    uint64_t snap_heard_at, next_seq, next_prune;
    wire_msg_t **queue; /* events that came while the snapshot was awaited */
    size_t n_queue, cap_queue;
    wire_msg_t *counters;
    miz_stream_stats_t stats;
};

static void queue_clear(miz_stream_t *s)
{
    for (size_t i = 0; i < s->n_queue; i++)
        wire_msg_destroy(&s->queue[i]);
    s->n_queue = 0;
}

/* Asks for a fresh snapshot. What is queued is dropped: it was published
 * before the broker reads this request, so the snapshot covers it. */
static int stream_resync(miz_stream_t *s)
{
    if (!s->staging && !(s->staging = miz_replica_new()))
        return -1;
    replica_clear(s->staging);
    queue_clear(s);
    if (s->next_seq > 1) /* not the first */
        s->stats.resyncs++;
    s->snap = (snap_t){.seq_sent = s->next_seq++};
    s->snap_heard_at = clock_ms(CLOCK_MONOTONIC);
    uint64_t now = clock_ms(CLOCK_REALTIME);
    return send_snapshot(s->dealer, s->snap.seq_sent, now > s->keep_ms ? now - s->keep_ms : 0);
}

/* Subscribes to each of the stream's topics (proto.h). */
static int stream_subscribe(void *sub)
{
    for (int t = 0; t < MIZ_STREAM_TOPIC_COUNT; t++) {
        const char *name = miz_stream_topic_names[t];
        if (zmq_setsockopt(sub, ZMQ_SUBSCRIBE, name, strlen(name)) < 0)
            return -1;
    }
    return 0;
}

miz_stream_t *miz_stream_new(void *zctx, const char *events_ep, const char *clients_ep,
                             const miz_curve_t *curve, uint64_t keep_ms)
{
    miz_stream_t *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->keep_ms = keep_ms;
    s->next_seq = 1;
    s->own_ctx = !zctx;
    s->zctx = zctx ? zctx : zmq_ctx_new();
    s->replica = miz_replica_new();
    int linger = 0;
    if (s->zctx && s->replica && (s->sub = zmq_socket(s->zctx, ZMQ_SUB)) &&
        zmq_setsockopt(s->sub, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        stream_subscribe(s->sub) == 0 && miz_curve_set(s->sub, curve) == 0 &&
        zmq_connect(s->sub, events_ep) == 0 &&
        (s->dealer = snapshot_dealer(s->zctx, clients_ep, curve)) &&
        stream_resync(s) == 0)
        return s;
    int e = errno;
    miz_stream_destroy(&s);
    errno = e;
    return NULL;
}

void miz_stream_destroy(miz_stream_t **sp)
{
    miz_stream_t *s = *sp;
    if (!s)
        return;
    if (s->sub)
        zmq_close(s->sub);
    if (s->dealer)
        zmq_close(s->dealer);
    if (s->own_ctx && s->zctx)
        zmq_ctx_term(s->zctx);
    queue_clear(s);
    free(s->queue);
    wire_msg_destroy(&s->counters);
    miz_replica_destroy(&s->replica);
    miz_replica_destroy(&s->staging);
    free(s);
    *sp = NULL;
}

/* Applies an event that must follow the last one: 1 applied, 0 a gap or a
 * new run (the caller resyncs), -1 malformed (resync too). */
static int stream_apply(miz_stream_t *s, const wire_msg_t *w)
{
    uint64_t seq, run;
    if (wire_uint(w, "seq", &seq) != WIRE_OK || wire_uint(w, "run", &run) != WIRE_OK)
        return -1;
    if (run != s->stats.run || seq != s->stats.seq + 1)
        return 0;
    if (miz_replica_apply(s->replica, wire_root(w)) < 0)
        return -1;
    s->stats.seq = seq;
    s->stats.events++;
    return 1;
}

/* The snapshot is complete: it becomes the replica, and the events queued
 * meanwhile that it does not include are applied. */
static int stream_synced(miz_stream_t *s)
{
    miz_replica_t *old = s->replica;
    s->replica = s->staging;
    s->staging = NULL;
    miz_replica_destroy(&old);
    s->stats.run = s->snap.run;
    s->stats.seq = s->snap.seq;
    s->stats.snapshots++;
    for (size_t i = 0; i < s->n_queue; i++) {
        uint64_t seq, run;
        if (wire_uint(s->queue[i], "seq", &seq) == WIRE_OK &&
            wire_uint(s->queue[i], "run", &run) == WIRE_OK && run == s->stats.run &&
            seq <= s->stats.seq)
            continue; /* in the snapshot already */
        if (stream_apply(s, s->queue[i]) != 1)
            return stream_resync(s);
    }
    queue_clear(s);
    return 0;
}

static int on_event(miz_stream_t *s, wire_msg_t *w, bool *changed)
{
    if (s->staging) {
        if (s->n_queue >= QUEUE_MAX) {
            wire_msg_destroy(&w);
            return stream_resync(s);
        }
        if (!grow((void **)&s->queue, s->n_queue, &s->cap_queue, sizeof *s->queue)) {
            wire_msg_destroy(&w);
            return -1;
        }
        s->queue[s->n_queue++] = w;
        return 0;
    }
    int rc = stream_apply(s, w);
    wire_msg_destroy(&w);
    if (rc == 1) {
        *changed = true;
        return 0;
    }
    /* A gap. Whatever has arrived was published before the broker reads
     * the snapshot request sent now, so the snapshot covers it. */
    return stream_resync(s);
}

static int on_counters(miz_stream_t *s, wire_msg_t *w)
{
    uint64_t seq, run;
    wire_msg_destroy(&s->counters);
    s->counters = w;
    if (s->staging || wire_uint(w, "seq", &seq) != WIRE_OK || wire_uint(w, "run", &run) != WIRE_OK)
        return 0;
    /* a quiet subscriber learns here of events it missed */
    return run != s->stats.run || seq > s->stats.seq ? stream_resync(s) : 0;
}

static int on_reply(miz_stream_t *s, wire_msg_t *w, bool *changed)
{
    int took = s->staging ? snap_take(&s->snap, w, s->staging) : 0;
    wire_msg_destroy(&w);
    if (took < 0) {
        /* an error or a bad part: asked again when the snapshot times out,
         * not at once, which would hammer a broker that cannot answer */
        replica_clear(s->staging);
        s->snap = (snap_t){0};
        return 0;
    }
    if (took == 1 && s->snap.done) {
        *changed = true;
        return stream_synced(s);
    }
    if (took == 1) /* a large store's parts come a turn apart: the timeout is between parts */
        s->snap_heard_at = clock_ms(CLOCK_MONOTONIC);
    return 0;
}

int miz_stream_pump(miz_stream_t *s, int timeout_ms)
{
    bool changed = false;
    zmq_pollitem_t items[2] = {{s->sub, 0, ZMQ_POLLIN, 0}, {s->dealer, 0, ZMQ_POLLIN, 0}};
    if (timeout_ms != 0 && zmq_poll(items, 2, timeout_ms) < 0)
        return -1;
    /* drain both until neither has anything: ZMQ_FD is edge-triggered, and
     * the snapshot request a resync sends may consume an edge */
    for (bool progress = true; progress;) {
        progress = false;
        char topic[16];
        wire_msg_t *w;
        while ((w = recv_msg(s->sub, topic, sizeof topic)) || errno == EPROTO) {
            progress = true;
            int rc = 0;
            if (!w)
                continue; /* undecodable: not ours to read */
            int t = MIZ_NAME_FIND(miz_stream_topic_names, topic, strlen(topic));
            if (t == MIZ_TOPIC_EVENT)
                rc = on_event(s, w, &changed);
            else if (t == MIZ_TOPIC_COUNTERS)
                rc = on_counters(s, w);
            else
                wire_msg_destroy(&w);
            if (rc < 0)
                return -1;
        }
        if (errno != EAGAIN)
            return -1;
        while ((w = recv_msg(s->dealer, NULL, 0)) || errno == EPROTO) {
            progress = true;
            if (w && on_reply(s, w, &changed) < 0)
                return -1;
        }
        if (errno != EAGAIN)
            return -1;
        if (s->staging && clock_ms(CLOCK_MONOTONIC) - s->snap_heard_at > SNAPSHOT_TIMEOUT_MS) {
            if (stream_resync(s) < 0)
                return -1;
            progress = true;
        }
    }
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (now >= s->next_prune) {
        uint64_t wall = clock_ms(CLOCK_REALTIME);
        miz_replica_prune(s->replica, wall > s->keep_ms ? wall - s->keep_ms : 0);
        s->next_prune = now + PRUNE_EVERY_MS;
    }
    return changed;
}

int miz_stream_fds(const miz_stream_t *s, int fds[2])
{
    size_t len = sizeof fds[0];
    if (zmq_getsockopt(s->sub, ZMQ_FD, &fds[0], &len) < 0)
        return -1;
    len = sizeof fds[1];
    return zmq_getsockopt(s->dealer, ZMQ_FD, &fds[1], &len);
}

void *miz_stream_sub(const miz_stream_t *s)
{
    return s->sub;
}

const miz_replica_t *miz_stream_replica(const miz_stream_t *s)
{
    return s->replica;
}

bool miz_stream_synced(const miz_stream_t *s)
{
    return !s->staging;
}

void miz_stream_stats(const miz_stream_t *s, miz_stream_stats_t *st)
{
    *st = s->stats;
}

const msgpack_object *miz_stream_counters(const miz_stream_t *s)
{
    return s->counters ? wire_root(s->counters) : NULL;
}

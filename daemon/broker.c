#include "broker.h"
#include "auth.h"
#include "cert.h"
#include "clock.h"

#include <errno.h>
#include <event2/event.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "deadline.h"
#include "idmap.h"
#include "store.h"
#include "topic.h"
#include "wire.h"
#include "zev.h"

#define RECV_BATCH 256       /* messages per socket per pass of a turn */
#define TURN_MAX 4096        /* messages per turn, both sockets together */
#define LIVENESS 3           /* heartbeats a peer may miss before it is dead */
#define LINGER_MS 500        /* bounded wait for queued output at shutdown */
#define SEND_HWM 100000      /* credit bounds deliveries; this bounds replies */
#define RETRY_AFTER_MS 1000  /* hint sent with busy and unavailable */
#define STOP_QUIET_MS 100    /* a stop waits for the sockets to be this quiet */
#define STOP_MAX_MS 2000     /* and no longer than this */
#define HOLDER_IDLE_MS (24 * 3600 * 1000)
#define PURGE_EVERY_MS 60000 /* how often old closed requests are purged, at most */
#define PURGE_BATCH 2000     /* records deleted per purge step: the loop never stalls */
#define KIND_MAX 32
#define REF_MAX 128
#define NAME_MAX_LEN 64
#define OUTCOME_MAX 64
#define TEXT_MAX 16384
#define PAYLOAD_MAX 65536
#define CREDIT_MAX 10000
#define WORKER_TOPICS_MAX 16
#define DEFAULT_CREDIT 10

typedef struct worker worker_t;
typedef struct request request_t;
typedef struct delivery delivery_t;
typedef struct snapshot snapshot_t;

typedef enum { ROLE_TARGET, ROLE_ESCALATION, ROLE_OBSERVE, ROLE_BREACH } role_t;
static const char *const role_names[] = {"target", "escalation", "observe", "breach"};

typedef enum {
    DS_QUEUED,
    DS_OFFERED,
    DS_ACKED,
    DS_ANSWERED,
    DS_REFUSED,
    DS_EXPIRED,
    DS_SEEN,
    DS_SUPERSEDED,
} dstate_t;
static const char *const state_names[] = {"queued",  "offered", "acked", "answered",
                                          "refused", "expired", "seen",  "superseded"};

static const char *const event_names[BEV_COUNT] = {
    "received", "queued",  "offered", "acked", "progress",   "answered", "refused",
    "redelivered", "expired", "overdue", "escalated", "seen", "superseded", "closed",
};

/* A deadline knows its delivery, so one heap serves both kinds. */
typedef struct {
    dl_timer_t t; /* first: the heap hands back &t */
    delivery_t *d;
} dtimer_t;

typedef struct {
    uint64_t at;
    uint32_t worker;
    uint8_t event;
} hist_t;

typedef struct {
    delivery_t *head, *tail;
    size_t n;
} dqueue_t;

struct delivery {
    uint64_t id;
    request_t *req;
    delivery_t *prev, *next; /* in its agency's queue or its holder's list */
    worker_t *holder;
    const char *reason;      /* why an escalation or breach copy exists */
    uint64_t from;           /* the delivery it was made from, or 0 */
    uint64_t created, ack_by, answer_by; /* wall clock ms; 0: no deadline */
    dtimer_t ack_timer, answer_timer;
    char *outcome, *text, *note;
    hist_t *hist;
    uint32_t n_hist, cap_hist;
    uint32_t agency;
    uint16_t attempts, branch;
    uint8_t role, state, level;
    bool overdue, escalated;
};

/* A routing table and where its agencies sit among the broker's. A reload
 * makes a new one; an old one lives on while requests routed by it are
 * open, so they keep the route they had. */
typedef struct {
    table_t *table;
    uint32_t *agency; /* the table's agency index -> the broker's */
    size_t refs;      /* requests routed by it, plus one while current */
} routing_t;

struct request {
    uint64_t tracking;
    routing_t *routing;
    const route_t *route; /* in routing->table */
    const char *topic, *kind, *client_ref; /* client_ref may be NULL */
    const char *submitter; /* the CURVE key that submitted it, or NULL */
    size_t topic_len;
    const unsigned char *payload;
    size_t payload_len;
    const unsigned char *client_id; /* routing id of the submitter */
    size_t client_id_len;
    const unsigned *observers; /* the broker's agency indices */
    size_t n_observers;
    uint64_t created, closed;
    delivery_t **dels;
    uint32_t n_dels, cap_dels;
    uint32_t open;    /* deliveries of any role not yet finished */
    uint32_t settled; /* bit per target branch */
    priority_t prio;
    bool dirty;      /* changed this turn: written when it ends */
    bool ref_stored; /* its client_ref is in the store */
    request_t *next_closed, *next_dirty;
};

struct worker {
    unsigned char *rid;
    size_t rid_len;
    char key[41]; /* the CURVE key it registered with; "" without CURVE */
    uint32_t serial;
    uint32_t agency;
    char name[NAME_MAX_LEN + 1];
    char *topics[WORKER_TOPICS_MAX];
    size_t n_topics; /* 0: every topic of the agency */
    uint32_t credit, held;
    bool quiet; /* no "ok" for commands that succeed: errors only */
    dqueue_t holding;
    uint64_t last_recv, last_send; /* monotonic ms */
    size_t slot;                   /* index in the agency's worker array */
    bool dead;                     /* killed; freed when the turn ends */
    worker_t *next_dead;
};

/* An agency as the broker knows it: every agency of every table loaded
 * since start, so deliveries to one a reload removed can still be served. */
typedef struct {
    char *id;
    dqueue_t queue[PRIO_COUNT];
    worker_t **workers;
    size_t n_workers, cap_workers;
    size_t rr;     /* round-robin cursor */
    uint64_t spare; /* free credit summed over the workers */
    size_t open, overdue; /* deliveries not finished; of those, overdue ones */
} agency_rt_t;

/* Which key last spoke with a client routing id (CURVE): an outcome goes
 * to a routing id only while the key that submitted holds it. */
typedef struct {
    unsigned char rid[256];
    size_t rid_len;
    char key[41];
    uint64_t seen; /* monotonic ms */
} holder_t;

/* A peer's submissions allowance (broker.rate_limit): a token bucket. */
typedef struct {
    unsigned char key[64]; /* its CURVE key, or its routing id */
    size_t len;
    double tokens;
    uint64_t at; /* monotonic ms of the last refill */
} bucket_t;

/* The peer whose message is being handled, so replies know where to go. */
typedef struct {
    void *socket;
    const unsigned char *rid;
    size_t rid_len;
    uint64_t seq;
    bool has_seq;
    worker_t *worker;
    bool secure;                  /* it came over CURVE: what it may do depends on its key */
    const principal_t *principal; /* its key, if mizd (still) knows it */
} peer_t;

struct broker {
    struct event_base *base;
    routing_t *routing; /* the current table, for new submissions */
    const broker_conf_t *conf;
    uint64_t heartbeat_ms; /* as announced to workers at start */
    /* what the sockets and store were opened with: a reload keeps them */
    char *clients_endpoint, *workers_endpoint, *events_endpoint, *data_dir;
    size_t max_message;
    log_level_t log_level;
    void *zctx, *clients, *workers;
    void *events;       /* PUB of every transition (protocol.md section 8) */
    /* events under CURVE: its monitor tells when an unbind that cut off a
     * revoked dashboard has closed the listener, so it can bind again */
    void *events_monitor;
    zev_t *events_monitor_ev;
    char *events_rebind; /* the endpoint to bind again, while unbound */
    bool events_closed;  /* its listener is closed: bind again */
    bool events_bind_failed; /* told once */
    auth_t *auth;       /* the ZAP handler, when a socket has CURVE */
    idmap_t *buckets;   /* bucket_t by peer, with broker.rate_limit */
    idmap_t *holders;   /* holder_t by client routing id, under CURVE */
    bool secure_clients, secure_workers;
    uint64_t run;       /* wall ms this broker started: tells subscribers of a restart */
    msgpack_sbuffer ev; /* an event being packed, apart from b->out */
    msgpack_packer ev_pk;
    zev_t *clients_ev, *workers_ev;
    struct event *deadline_ev, *tick_ev;
    dl_heap_t *heap;
    uint64_t timer_at; /* monotonic ms the deadline event is set for */
    idmap_t *requests, *deliveries, *worker_map;
    agency_rt_t *agencies;
    size_t n_agencies;
    store_counters_t next; /* the numbers handed out next: tracking, delivery, event seq */
    uint32_t next_worker_serial;
    size_t open_requests, n_closed;
    request_t *closed_head, *closed_tail;
    worker_t *dead; /* killed this turn, reaped at its end */
    msgpack_sbuffer out, scratch;
    msgpack_packer pk;
    uint64_t now, now_wall; /* read once per callback */
    peer_t peer;
    store_t *store;     /* NULL: state in memory only */
    bool store_failed;  /* the last commit failed: submissions are refused */
    request_t *dirty;   /* requests to write when the turn ends, in order */
    request_t **dirty_tail;
    idmap_t *refs;      /* client_ref -> request, for the requests in memory */
    uint64_t last_purge;
    uint64_t last_work;        /* monotonic ms of the last command other than a heartbeat */
    bool stopping;             /* submissions are refused; the loop ends when quiet */
    uint64_t stop_by;
    struct event *stop_ev;
    snapshot_t *snapshots;     /* reading the store a part per turn */
    size_t n_snapshots;
    struct event *snapshot_ev; /* active while snapshots has any */
    /* What a turn sends, held until its changes are on disk: [socket u8]
     * [routing id length u32][routing id][body length u32][body] */
    msgpack_sbuffer outbox;
    bool out_promise; /* the message being built tells of state that must be durable */
    log_limit_t error_lines, forbidden_lines;
};

#define LOG(b, lvl, ...)                                                                           \
    do {                                                                                           \
        if ((lvl) <= (b)->log_level)                                                               \
            log_line((lvl), __VA_ARGS__);                                                          \
    } while (0)

/* LOG of what a peer can make happen at will: at most so many a second */
#define LOG_PEER(b, limit, ...)                                                                    \
    do {                                                                                           \
        if ((limit)->level <= (b)->log_level && log_limit_pass(limit))                             \
            log_line((limit)->level, __VA_ARGS__);                                                 \
    } while (0)

/* Allocation failure in the core is fatal, as in Redis: half-applied state
 * transitions would be worse than a restart under systemd. */
static void *xrealloc(void *p, size_t size)
{
    p = realloc(p, size);
    if (!p && size) {
        log_line(LOG_ERROR, "out of memory allocating %zu bytes", size);
        abort();
    }
    return p;
}

static void *xcalloc(size_t n, size_t size)
{
    void *p = calloc(n, size);
    if (!p) {
        log_line(LOG_ERROR, "out of memory allocating %zu bytes", n * size);
        abort();
    }
    return p;
}

static char *xstrndup(const char *s, size_t n)
{
    char *p = xrealloc(NULL, n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static char *xstrdup(const char *s)
{
    return xstrndup(s, strlen(s));
}

static void xput(idmap_t *map, const void *key, size_t len, void *value)
{
    if (idmap_put(map, key, len, value) < 0) {
        log_line(LOG_ERROR, "out of memory growing an index");
        abort();
    }
}

static bool holder_key_eq(const void *value, const void *key, size_t len)
{
    const holder_t *h = value;
    return h->rid_len == len && memcmp(h->rid, key, len) == 0;
}

static void client_seen(broker_t *b)
{
    holder_t *h = idmap_get(b->holders, b->peer.rid, b->peer.rid_len);
    if (!h) {
        h = xcalloc(1, sizeof *h);
        memcpy(h->rid, b->peer.rid, b->peer.rid_len);
        h->rid_len = b->peer.rid_len;
        xput(b->holders, h->rid, h->rid_len, h);
    }
    memcpy(h->key, b->peer.principal->key, sizeof h->key);
    h->seen = b->now;
}

/* Whether r's outcome may go to its routing id: under CURVE, only while the
 * submitting key holds it (another gateway could have taken the id over). */
static bool outcome_deliverable(const broker_t *b, const request_t *r)
{
    if (!r->submitter)
        return true;
    const holder_t *h = idmap_get(b->holders, r->client_id, r->client_id_len);
    return h && strcmp(h->key, r->submitter) == 0;
}

/* Holders silent for a day are forgotten: their gateways ask status. */
static void forget_holders(broker_t *b)
{
    holder_t *h;
    for (size_t c = 0; (h = idmap_next(b->holders, &c));)
        if (b->now - h->seen > HOLDER_IDLE_MS) {
            idmap_del(b->holders, h->rid, h->rid_len);
            free(h);
        }
}

static void clock_update(broker_t *b)
{
    b->now = clock_ms(CLOCK_MONOTONIC);
    b->now_wall = clock_ms(CLOCK_REALTIME);
}

/* ---- intrusive queues ---- */

static void dq_push(dqueue_t *q, delivery_t *d, bool front)
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

static void dq_remove(dqueue_t *q, delivery_t *d)
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

/* ---- keys for the maps ---- */

static bool request_key_eq(const void *value, const void *key, size_t len)
{
    return len == sizeof(uint64_t) && memcmp(&((const request_t *)value)->tracking, key, len) == 0;
}

static bool delivery_key_eq(const void *value, const void *key, size_t len)
{
    return len == sizeof(uint64_t) && memcmp(&((const delivery_t *)value)->id, key, len) == 0;
}

static bool worker_key_eq(const void *value, const void *key, size_t len)
{
    const worker_t *w = value;
    return w->rid_len == len && memcmp(w->rid, key, len) == 0;
}

static const char *agency_id(const broker_t *b, uint32_t agency)
{
    return b->agencies[agency].id;
}

/* The broker's index of the agency with that id, or -1. */
static int agency_find(const broker_t *b, const char *id, size_t n)
{
    int i = b->routing ? table_agency_find(b->routing->table, id, n) : -1;
    if (i >= 0)
        return (int)b->routing->agency[i];
    for (size_t k = 0; k < b->n_agencies; k++) /* one a reload removed */
        if (strlen(b->agencies[k].id) == n && memcmp(b->agencies[k].id, id, n) == 0)
            return (int)k;
    return -1;
}

/* The broker's index of agency i of the table that routed r. */
static uint32_t route_agency(const request_t *r, unsigned i)
{
    return r->routing->agency[i];
}

/* The broker's index of the agency with that id, added if it is new. */
static uint32_t agency_intern(broker_t *b, const char *id, size_t n)
{
    int found = agency_find(b, id, n);
    if (found >= 0)
        return (uint32_t)found;
    size_t k = b->n_agencies++;
    b->agencies = xrealloc(b->agencies, b->n_agencies * sizeof *b->agencies);
    memset(&b->agencies[k], 0, sizeof *b->agencies);
    b->agencies[k].id = xstrndup(id, n);
    return (uint32_t)k;
}

/* Makes the routing of table t, adding its new agencies to the broker's. */
static routing_t *routing_new(broker_t *b, table_t *t)
{
    size_t n = table_agency_count(t);
    routing_t *g = xcalloc(1, sizeof *g);
    g->table = t;
    g->agency = xcalloc(n ? n : 1, sizeof *g->agency);
    g->refs = 1;
    for (size_t i = 0; i < n; i++) {
        const char *id = table_agency(t, i)->id;
        g->agency[i] = agency_intern(b, id, strlen(id));
    }
    return g;
}

static void routing_release(routing_t **gp)
{
    routing_t *g = *gp;
    if (g && --g->refs == 0) {
        table_destroy(&g->table);
        free(g->agency);
        free(g);
    }
    *gp = NULL;
}

static bool is_open(const delivery_t *d)
{
    return d->state <= DS_ACKED;
}

static bool answers_branch(const delivery_t *d)
{
    return d->role == ROLE_TARGET || d->role == ROLE_ESCALATION;
}

/* ---- events ---- */

static log_level_t event_level(broker_event_type_t type)
{
    switch (type) {
    case BEV_OVERDUE:
    case BEV_EXPIRED:
        return LOG_WARN;
    case BEV_RECEIVED:
    case BEV_ANSWERED:
    case BEV_REFUSED:
    case BEV_REDELIVERED:
    case BEV_ESCALATED:
    case BEV_CLOSED:
        return LOG_INFO;
    default:
        return LOG_DEBUG;
    }
}

static void hist_add(delivery_t *d, hist_t h)
{
    if (d->n_hist == d->cap_hist) {
        d->cap_hist = d->cap_hist ? d->cap_hist * 2 : 4;
        d->hist = xrealloc(d->hist, d->cap_hist * sizeof *d->hist);
    }
    d->hist[d->n_hist++] = h;
}

/* The one place a transition is recorded: history, log line, hook. */
static void publish_event(broker_t *b, const request_t *r, const delivery_t *d,
                          broker_event_type_t type, const worker_t *w);

static void emit(broker_t *b, request_t *r, delivery_t *d, broker_event_type_t type,
                 const worker_t *w)
{
    if (!r->dirty) {
        /* in order of first change, so that a turn's new requests are
         * written in tracking order: each then lands at the end of the open
         * table's last page. In reverse order each insert splits that page
         * in half, leaving the table (and the file) half empty. */
        r->dirty = true;
        *b->dirty_tail = r;
        b->dirty_tail = &r->next_dirty;
    }
    if (d)
        hist_add(d, (hist_t){b->now_wall, w ? w->serial : 0, (uint8_t)type});
    log_level_t level = event_level(type);
    if (level <= b->log_level) {
        if (d)
            log_line(level, "%s tracking=%llu delivery=%llu agency=%s role=%s topic=%s%s%s",
                     event_names[type], (unsigned long long)r->tracking,
                     (unsigned long long)d->id, agency_id(b, d->agency), role_names[d->role], r->topic,
                     w ? " worker=" : "", w ? w->name : "");
        else
            log_line(level, "%s tracking=%llu topic=%s kind=%s priority=%s", event_names[type],
                     (unsigned long long)r->tracking, r->topic, r->kind, priority_name(r->prio));
    }
    publish_event(b, r, d, type, w);
}

/* ---- sending ---- */

/* The messages that tell a peer of a state change: never sent before the
 * change is on disk. The rest (status, pong, errors, heartbeats) may go out
 * while the store is failing. */
static bool is_promise(const char *type)
{
    static const char *const promises[] = {"accepted", "ok",     "outcome",
                                           "deliver",  "cancel", "snapshot"};
    for (size_t i = 0; i < sizeof promises / sizeof promises[0]; i++)
        if (strcmp(type, promises[i]) == 0)
            return true;
    return false;
}

static msgpack_packer *msg_begin(broker_t *b, const char *type, size_t n_fields)
{
    b->out_promise = is_promise(type);
    msgpack_sbuffer_clear(&b->out);
    msgpack_pack_map(&b->pk, n_fields + 1);
    wire_kv_cstr(&b->pk, "type", type);
    return &b->pk;
}

/* A reply carries the request's seq back as "re" when it had one. */
static msgpack_packer *reply_begin(broker_t *b, const char *type, size_t n_fields)
{
    msgpack_packer *pk = msg_begin(b, type, n_fields + b->peer.has_seq);
    if (b->peer.has_seq)
        wire_kv_uint(pk, "re", b->peer.seq);
    return pk;
}

/* With ZMQ_ROUTER_MANDATORY a gone peer fails on the routing-id frame and
 * the multipart state is reset, so the body is sent only after it succeeds. */
static int send_now(void *socket, const void *rid, size_t rid_len, const void *body,
                    size_t len)
{
    if (zmq_send(socket, rid, rid_len, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0)
        return -1;
    return zmq_send(socket, body, len, ZMQ_DONTWAIT) < 0 ? -1 : 0;
}

static void outbox_write(broker_t *b, const void *p, size_t n)
{
    if (msgpack_sbuffer_write(&b->outbox, p, n) < 0) {
        log_line(LOG_ERROR, "out of memory growing the outbox");
        abort();
    }
}

/* Where an outbox message goes; for OUT_EVENTS the "routing id" is the
 * PUB topic frame. */
enum { OUT_CLIENTS, OUT_WORKERS, OUT_EVENTS };

static void outbox_add(broker_t *b, uint8_t which, const void *rid, size_t rid_len,
                       const void *body, size_t len)
{
    uint32_t n = (uint32_t)rid_len, size = (uint32_t)len;
    outbox_write(b, &which, 1);
    outbox_write(b, &n, sizeof n);
    outbox_write(b, rid, rid_len);
    outbox_write(b, &size, sizeof size);
    outbox_write(b, body, len);
}

/* ---- the event stream ---- */

/* Starts a message of the stream in b->ev; publish() queues it. */
static msgpack_packer *stream_begin(broker_t *b, size_t n_fields)
{
    msgpack_sbuffer_clear(&b->ev);
    msgpack_pack_map(&b->ev_pk, n_fields);
    return &b->ev_pk;
}

/* Like every promise, it goes out once the turn is on disk, so no
 * subscriber ever sees a change a crash could take back. */
static void publish(broker_t *b, const char *topic)
{
    outbox_add(b, OUT_EVENTS, topic, strlen(topic), b->ev.data, b->ev.size);
}

static void pack_nil_or(msgpack_packer *pk, const char *s)
{
    if (s)
        wire_pack_cstr(pk, s);
    else
        msgpack_pack_nil(pk);
}

/* Never the payload, client_ref, texts, notes or worker names. */
static void publish_event(broker_t *b, const request_t *r, const delivery_t *d,
                          broker_event_type_t type, const worker_t *w)
{
    msgpack_packer *pk = stream_begin(b, 21);
    wire_kv_uint(pk, "seq", b->next.event++);
    wire_kv_uint(pk, "run", b->run);
    wire_kv_cstr(pk, "event", event_names[type]);
    wire_kv_uint(pk, "at", b->now_wall);
    wire_kv_uint(pk, "tracking", r->tracking);
    wire_kv_str(pk, "topic", r->topic, r->topic_len);
    wire_kv_cstr(pk, "kind", r->kind);
    wire_kv_cstr(pk, "priority", priority_name(r->prio));
    wire_kv_uint(pk, "created", r->created);
    wire_kv_uint(pk, "delivery", d ? d->id : 0);
    wire_pack_cstr(pk, "agency");
    pack_nil_or(pk, d ? agency_id(b, d->agency) : NULL);
    wire_pack_cstr(pk, "role");
    pack_nil_or(pk, d ? role_names[d->role] : NULL);
    wire_kv_uint(pk, "level", d ? d->level : 0);
    wire_kv_cstr(pk, "state", d ? state_names[d->state] : r->closed ? "closed" : "open");
    wire_kv_bool(pk, "overdue", d && d->overdue);
    wire_kv_uint(pk, "attempts", d ? d->attempts : 0);
    wire_kv_uint(pk, "delivery_created", d ? d->created : 0);
    wire_kv_uint(pk, "ack_by", d ? d->ack_by : 0);
    wire_kv_uint(pk, "answer_by", d ? d->answer_by : 0);
    wire_kv_uint(pk, "from", d ? d->from : 0);
    wire_kv_uint(pk, "worker", w ? w->serial : 0);
    publish(b, "event");
}

/* Where each agency stands, so a quiet subscriber still sees seq move. */
static void publish_counters(broker_t *b)
{
    msgpack_packer *pk = stream_begin(b, 5);
    wire_kv_uint(pk, "seq", b->next.event - 1);
    wire_kv_uint(pk, "run", b->run);
    wire_kv_uint(pk, "at", b->now_wall);
    wire_kv_uint(pk, "open_requests", b->open_requests);
    wire_pack_cstr(pk, "agencies");
    msgpack_pack_array(pk, b->n_agencies);
    for (size_t i = 0; i < b->n_agencies; i++) {
        const agency_rt_t *a = &b->agencies[i];
        msgpack_pack_map(pk, 6);
        wire_kv_cstr(pk, "agency", a->id);
        wire_kv_uint(pk, "open", a->open);
        wire_kv_uint(pk, "overdue", a->overdue);
        wire_kv_uint(pk, "queued", a->queue[PRIO_ROUTINE].n + a->queue[PRIO_URGENT].n);
        wire_kv_uint(pk, "workers", a->n_workers);
        wire_kv_uint(pk, "spare", a->spare);
    }
    publish(b, "counters");
}

/* Queues the message in b->out for the end of the turn (see flush). While
 * the store is failing, what promises nothing goes out at once. */
static void send_to(broker_t *b, void *socket, const void *rid, size_t rid_len)
{
    if (b->store_failed && !b->out_promise) {
        if (send_now(socket, rid, rid_len, b->out.data, b->out.size) < 0)
            LOG(b, LOG_DEBUG, "message lost: peer gone or not reading (%s)", zmq_strerror(errno));
        return;
    }
    outbox_add(b, socket == b->workers ? OUT_WORKERS : OUT_CLIENTS, rid, rid_len, b->out.data,
               b->out.size);
}

static void reply_send(broker_t *b)
{
    send_to(b, b->peer.socket, b->peer.rid, b->peer.rid_len);
}

static void vreply_error(broker_t *b, const char *code, uint64_t delivery, uint64_t retry_ms,
                         const char *fmt, va_list ap)
{
    char message[512];
    vsnprintf(message, sizeof message, fmt, ap);
    msgpack_packer *pk = reply_begin(b, "error", 2 + (delivery != 0) + (retry_ms != 0));
    wire_kv_cstr(pk, "code", code);
    wire_kv_cstr(pk, "message", message);
    if (delivery)
        wire_kv_uint(pk, "delivery", delivery);
    if (retry_ms)
        wire_kv_uint(pk, "retry_after_ms", retry_ms);
    reply_send(b);
    /* the message may quote a peer's text: one log line stays one line */
    for (char *c = message; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    LOG_PEER(b, &b->error_lines, "error reply %s: %s", code, message);
}

static void reply_error(broker_t *b, const char *code, uint64_t delivery, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* busy and unavailable say when to try again */
static void reply_error(broker_t *b, const char *code, uint64_t delivery, const char *fmt, ...)
{
    bool busy = strcmp(code, "busy") == 0 || strcmp(code, "unavailable") == 0;
    va_list ap;
    va_start(ap, fmt);
    vreply_error(b, code, delivery, busy ? RETRY_AFTER_MS : 0, fmt, ap);
    va_end(ap);
}

static void reply_busy(broker_t *b, uint64_t retry_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void reply_busy(broker_t *b, uint64_t retry_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply_error(b, "busy", 0, retry_ms ? retry_ms : 1, fmt, ap);
    va_end(ap);
}

/* A quiet worker asked for errors only: a round trip less per command,
 * which matters most to latency (protocol.md 3.12). */
static void reply_ok(broker_t *b, uint64_t delivery)
{
    if (b->peer.worker && b->peer.worker->quiet)
        return;
    msgpack_packer *pk = reply_begin(b, "ok", 1);
    wire_kv_uint(pk, "delivery", delivery);
    reply_send(b);
}

static void worker_kill(broker_t *b, worker_t *w, const char *why);

/* -1 when w is dead; a send that fails later, at the flush, kills it then. */
static int send_worker(broker_t *b, worker_t *w)
{
    if (w->dead)
        return -1;
    send_to(b, b->workers, w->rid, w->rid_len);
    w->last_send = b->now;
    return 0;
}

/* ---- workers ---- */

static bool worker_wants(const worker_t *w, const request_t *r)
{
    if (w->n_topics == 0)
        return true;
    for (size_t i = 0; i < w->n_topics; i++)
        if (topic_match(w->topics[i], strlen(w->topics[i]), r->topic, r->topic_len))
            return true;
    return false;
}

static worker_t *pick_worker(agency_rt_t *a, const request_t *r)
{
    for (size_t k = 0; k < a->n_workers; k++) {
        size_t i = (a->rr + k) % a->n_workers;
        worker_t *w = a->workers[i];
        if (w->held < w->credit && worker_wants(w, r)) {
            a->rr = i + 1;
            return w;
        }
    }
    return NULL;
}

static void worker_free(worker_t *w)
{
    for (size_t i = 0; i < w->n_topics; i++)
        free(w->topics[i]);
    free(w->rid);
    free(w);
}

/* Takes a dead or leaving worker out of rotation at once; what it held is
 * queued again when the turn ends (reap_workers), never inside the callback
 * chain that found it dead. */
static void worker_kill(broker_t *b, worker_t *w, const char *why)
{
    if (w->dead)
        return;
    w->dead = true;
    agency_rt_t *a = &b->agencies[w->agency];
    a->workers[w->slot] = a->workers[--a->n_workers];
    a->workers[w->slot]->slot = w->slot;
    a->spare -= w->credit - w->held;
    idmap_del(b->worker_map, w->rid, w->rid_len);
    w->next_dead = b->dead;
    b->dead = w;
    LOG(b, LOG_INFO, "worker %s (#%u, agency %s) dropped: %s; %zu deliveries to offer again",
        w->name, w->serial, agency_id(b, w->agency), why, w->holding.n);
}

/* ---- deliveries ---- */

static void arm(broker_t *b, dtimer_t *t, uint64_t within)
{
    if (dl_heap_arm(b->heap, &t->t, b->now + within) < 0) {
        log_line(LOG_ERROR, "out of memory growing the deadline heap");
        abort();
    }
}

/* The wall-clock time `within` from now on the route's clock: in working
 * time when it counts in a calendar (a table's calendar always has some). */
static uint64_t due(const broker_t *b, const route_t *route, uint64_t within)
{
    return route->clock ? workcal_add(route->clock, b->now_wall, within) : b->now_wall + within;
}

/* Arms t for the wall-clock time at. */
static void arm_at(broker_t *b, dtimer_t *t, uint64_t at)
{
    arm(b, t, at > b->now_wall ? at - b->now_wall : 0);
}

static void enqueue(broker_t *b, delivery_t *d, bool front)
{
    d->state = DS_QUEUED;
    dq_push(&b->agencies[d->agency].queue[d->req->prio], d, front);
}

/* Detaches an offered or acked delivery from its holder, returning the
 * credit. The holder may already be dead (then its credit is gone). */
static void release(broker_t *b, delivery_t *d)
{
    worker_t *w = d->holder;
    dq_remove(&w->holding, d);
    w->held--;
    if (!w->dead)
        b->agencies[w->agency].spare++;
    d->holder = NULL;
    dl_heap_disarm(b->heap, &d->ack_timer.t);
}

static void send_cancel(broker_t *b, delivery_t *d, const char *reason)
{
    worker_t *w = d->holder;
    msgpack_packer *pk = msg_begin(b, "cancel", 2);
    wire_kv_uint(pk, "delivery", d->id);
    wire_kv_cstr(pk, "reason", reason);
    send_worker(b, w);
}

/* Moves an open delivery to a final state. */
static void finish(broker_t *b, delivery_t *d, dstate_t state)
{
    if (d->state == DS_QUEUED)
        dq_remove(&b->agencies[d->agency].queue[d->req->prio], d);
    else if (d->holder)
        release(b, d);
    dl_heap_disarm(b->heap, &d->answer_timer.t);
    d->state = (uint8_t)state;
    d->req->open--;
    b->agencies[d->agency].open--;
    b->agencies[d->agency].overdue -= d->overdue;
}

/* from: the delivery an escalation or a breach copy is made from, else 0;
 * set here, as the "queued" event tells it. */
static delivery_t *delivery_new(broker_t *b, request_t *r, uint32_t agency, role_t role,
                                uint16_t branch, uint8_t level, uint64_t from)
{
    delivery_t *d = xcalloc(1, sizeof *d);
    d->id = b->next.delivery++;
    d->from = from;
    d->req = r;
    d->agency = agency;
    d->role = (uint8_t)role;
    d->branch = branch;
    d->level = level;
    d->created = b->now_wall;
    dl_timer_init(&d->ack_timer.t);
    dl_timer_init(&d->answer_timer.t);
    d->ack_timer.d = d->answer_timer.d = d;
    if (answers_branch(d)) {
        d->answer_by = due(b, r->route, r->route->answer_within_ms);
        arm_at(b, &d->answer_timer, d->answer_by);
    }
    xput(b->deliveries, &d->id, sizeof d->id, d);
    if (r->n_dels == r->cap_dels) {
        r->cap_dels = r->cap_dels ? r->cap_dels * 2 : 4;
        r->dels = xrealloc(r->dels, r->cap_dels * sizeof *r->dels);
    }
    r->dels[r->n_dels++] = d;
    r->open++;
    b->agencies[agency].open++;
    enqueue(b, d, false);
    emit(b, r, d, BEV_QUEUED, NULL);
    return d;
}

static void pack_deliver(broker_t *b, const delivery_t *d)
{
    const request_t *r = d->req;
    bool copy = d->from != 0;
    msgpack_packer *pk = msg_begin(b, "deliver", 12 + (r->client_ref != NULL) + 2 * copy);
    wire_kv_uint(pk, "delivery", d->id);
    wire_kv_uint(pk, "tracking", r->tracking);
    wire_kv_str(pk, "topic", r->topic, r->topic_len);
    wire_kv_cstr(pk, "kind", r->kind);
    wire_kv_cstr(pk, "priority", priority_name(r->prio));
    wire_kv_cstr(pk, "agency", agency_id(b, d->agency));
    wire_kv_cstr(pk, "role", role_names[d->role]);
    wire_kv_uint(pk, "attempt", d->attempts);
    wire_kv_uint(pk, "created", r->created);
    wire_kv_uint(pk, "ack_by", d->ack_by);
    wire_kv_uint(pk, "answer_by", d->answer_by);
    if (r->client_ref)
        wire_kv_cstr(pk, "client_ref", r->client_ref);
    if (copy) {
        wire_kv_uint(pk, "from", d->from);
        wire_kv_cstr(pk, "reason", d->reason);
    }
    wire_pack_cstr(pk, "payload");
    msgpack_sbuffer_write(&b->out, (const char *)r->payload, r->payload_len);
}

/* Offers one queued delivery to w. -1 when w turned out to be gone; the
 * delivery then stays queued. */
static int offer(broker_t *b, delivery_t *d, worker_t *w)
{
    uint64_t prev_ack_by = d->ack_by;
    d->attempts++;
    d->ack_by = due(b, d->req->route, d->req->route->ack_within_ms);
    pack_deliver(b, d);
    if (send_worker(b, w) < 0) {
        d->attempts--;
        d->ack_by = prev_ack_by;
        return -1;
    }
    agency_rt_t *a = &b->agencies[d->agency];
    dq_remove(&a->queue[d->req->prio], d);
    d->state = DS_OFFERED;
    d->holder = w;
    dq_push(&w->holding, d, false);
    w->held++;
    a->spare--;
    arm_at(b, &d->ack_timer, d->ack_by);
    emit(b, d->req, d, BEV_OFFERED, w);
    return 0;
}

/* Offers what an agency has queued, urgent first and oldest first, while
 * any of its workers has credit. A delivery no free worker subscribes to is
 * passed over, not allowed to block the ones behind it. */
static void dispatch(broker_t *b, uint32_t agency)
{
    agency_rt_t *a = &b->agencies[agency];
    for (int p = PRIO_COUNT - 1; p >= 0; p--) {
        delivery_t *next;
        for (delivery_t *d = a->queue[p].head; d && a->spare > 0; d = next) {
            next = d->next;
            worker_t *w;
            while ((w = pick_worker(a, d->req)) && offer(b, d, w) < 0)
                ;
        }
    }
}

static void close_request(broker_t *b, request_t *r);

/* A branch is one target agency's share of a request: settled when any
 * delivery in it is answered, or when none is left open to answer it. */
static void branch_update(broker_t *b, delivery_t *d)
{
    request_t *r = d->req;
    uint32_t bit = 1u << d->branch;
    if (r->settled & bit)
        return;
    if (d->state != DS_ANSWERED)
        for (uint32_t i = 0; i < r->n_dels; i++)
            if (r->dels[i]->branch == d->branch && answers_branch(r->dels[i]) &&
                is_open(r->dels[i]))
                return;
    r->settled |= bit;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        delivery_t *x = r->dels[i];
        if (x->branch != d->branch || !answers_branch(x) || !is_open(x))
            continue;
        uint32_t agency = x->agency;
        if (x->holder)
            send_cancel(b, x, "superseded");
        finish(b, x, DS_SUPERSEDED);
        emit(b, r, x, BEV_SUPERSEDED, NULL);
        dispatch(b, agency);
    }
    if (r->settled == (1u << r->route->n_to) - 1)
        close_request(b, r);
}

/* Hands an unanswerable delivery to the next link of its route's chain. */
static void escalate(broker_t *b, delivery_t *d, const char *reason)
{
    request_t *r = d->req;
    if (!answers_branch(d) || d->escalated)
        return;
    if (d->level >= r->route->n_escalate) {
        LOG(b, LOG_WARN, "end of escalation chain tracking=%llu delivery=%llu agency=%s (%s)",
            (unsigned long long)r->tracking, (unsigned long long)d->id,
            agency_id(b, d->agency), reason);
        return;
    }
    d->escalated = true;
    delivery_t *e = delivery_new(b, r, route_agency(r, r->route->escalate[d->level]),
                                 ROLE_ESCALATION, d->branch, (uint8_t)(d->level + 1), d->id);
    e->reason = reason;
    emit(b, r, d, BEV_ESCALATED, NULL);
    dispatch(b, e->agency);
}

static void on_ack_timeout(broker_t *b, delivery_t *d)
{
    worker_t *w = d->holder;
    send_cancel(b, d, "ack_timeout");
    release(b, d);
    /* copies expire too: an observer that never acks must not be offered forever */
    if (d->attempts >= d->req->route->max_attempts) {
        finish(b, d, DS_EXPIRED);
        emit(b, d->req, d, BEV_EXPIRED, w);
        if (answers_branch(d)) {
            escalate(b, d, "undeliverable");
            branch_update(b, d);
        }
    } else {
        enqueue(b, d, true);
        emit(b, d->req, d, BEV_REDELIVERED, w);
    }
    dispatch(b, d->agency);
}

static void on_answer_timeout(broker_t *b, delivery_t *d)
{
    request_t *r = d->req;
    d->overdue = true;
    b->agencies[d->agency].overdue++;
    emit(b, r, d, BEV_OVERDUE, NULL);
    for (size_t i = 0; i < r->n_observers; i++) {
        delivery_t *copy =
            delivery_new(b, r, r->observers[i], ROLE_BREACH, d->branch, d->level, d->id);
        copy->reason = "overdue";
        dispatch(b, copy->agency);
    }
    escalate(b, d, "overdue");
}

/* ---- requests ---- */

/* What a request copies in, from a submission or a stored record. */
typedef struct {
    const char *topic, *kind, *ref; /* ref may be NULL */
    size_t topic_len, kind_len, ref_len;
    const char *submitter; /* the key it came with (CURVE), or NULL */
    size_t submitter_len;
    const void *payload, *client_id;
    size_t payload_len, client_id_len;
    const unsigned *observers;
    size_t n_observers;
} request_fields_t;

/* One allocation for the request and everything it copies. */
static request_t *request_new(const request_fields_t *f)
{
    size_t size = sizeof(request_t) + f->n_observers * sizeof(unsigned) + f->topic_len + 1 +
                  f->kind_len + 1 + (f->ref ? f->ref_len + 1 : 0) + f->payload_len +
                  f->client_id_len + (f->submitter ? f->submitter_len + 1 : 0);
    request_t *r = xcalloc(1, size);
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
    r->payload = memcpy(p, f->payload, f->payload_len), p += f->payload_len;
    r->payload_len = f->payload_len;
    r->client_id = memcpy(p, f->client_id, f->client_id_len), p += f->client_id_len;
    r->client_id_len = f->client_id_len;
    if (f->submitter)
        r->submitter = memcpy(p, f->submitter, f->submitter_len);
    return r;
}

static void request_drop(request_t *r)
{
    if (!r)
        return;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        delivery_t *d = r->dels[i];
        free(d->outcome);
        free(d->text);
        free(d->note);
        free(d->hist);
        free(d);
    }
    free(r->dels);
    routing_release(&r->routing);
    free(r);
}

#define REF_KEY_MAX (MIZ_KEY_LEN + 1 + REF_MAX)

/* What a client_ref is de-duplicated by: under CURVE the submitting key and
 * the ref, so that one gateway can neither take nor probe another's refs. */
static size_t ref_key(const char *submitter, const char *ref, size_t n, char out[REF_KEY_MAX])
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

static size_t request_ref_key(const request_t *r, char out[REF_KEY_MAX])
{
    return ref_key(r->submitter, r->client_ref, strlen(r->client_ref), out);
}

/* Compares in place: it runs on every probe of the refs map. */
static bool ref_key_eq(const void *value, const void *key, size_t len)
{
    const request_t *r = value;
    const char *k = key;
    size_t at = r->submitter ? MIZ_KEY_LEN + 1 : 0, n = strlen(r->client_ref);
    return at + n == len &&
           (!r->submitter || (memcmp(k, r->submitter, MIZ_KEY_LEN) == 0 && k[MIZ_KEY_LEN] == ' ')) &&
           memcmp(k + at, r->client_ref, n) == 0;
}

static void request_free(broker_t *b, request_t *r)
{
    char k[REF_KEY_MAX];
    size_t n = r->client_ref ? request_ref_key(r, k) : 0;
    if (r->client_ref && idmap_get(b->refs, k, n) == r)
        idmap_del(b->refs, k, n);
    for (uint32_t i = 0; i < r->n_dels; i++)
        idmap_del(b->deliveries, &r->dels[i]->id, sizeof r->dels[i]->id);
    idmap_del(b->requests, &r->tracking, sizeof r->tracking);
    request_drop(r);
}

static void pack_outcome_answer(broker_t *b, const request_t *r, uint16_t branch)
{
    const delivery_t *last = NULL;
    bool late = false; /* the citizen waited past a deadline of this branch */
    for (uint32_t i = 0; i < r->n_dels; i++) {
        const delivery_t *d = r->dels[i];
        if (d->branch != branch || !answers_branch(d))
            continue;
        last = d;
        late |= d->overdue;
        if (d->state == DS_ANSWERED)
            break;
    }
    bool answered = last->state == DS_ANSWERED;
    msgpack_packer *pk = &b->pk;
    msgpack_pack_map(pk, 5 + answered);
    /* the targets come first, one per branch, in r->dels: as recovered too */
    wire_kv_cstr(pk, "agency", agency_id(b, r->dels[branch]->agency));
    wire_kv_cstr(pk, "answered_by", agency_id(b, last->agency));
    wire_kv_uint(pk, "delivery", last->id);
    wire_kv_cstr(pk, "outcome", answered ? last->outcome : state_names[last->state]);
    wire_kv_bool(pk, "late", late);
    if (answered)
        wire_kv_cstr(pk, "text", last->text ? last->text : "");
}

/* Closed requests wait in closing order to be forgotten from memory. */
static void closed_append(broker_t *b, request_t *r)
{
    if (b->closed_tail)
        b->closed_tail->next_closed = r;
    else
        b->closed_head = r;
    b->closed_tail = r;
    b->n_closed++;
}

static void close_request(broker_t *b, request_t *r)
{
    r->closed = b->now_wall;
    b->open_requests--;
    emit(b, r, NULL, BEV_CLOSED, NULL);
    msgpack_packer *pk = msg_begin(b, "outcome", 3 + (r->client_ref != NULL));
    wire_kv_uint(pk, "tracking", r->tracking);
    wire_kv_uint(pk, "closed", r->closed);
    if (r->client_ref)
        wire_kv_cstr(pk, "client_ref", r->client_ref);
    wire_pack_cstr(pk, "answers");
    msgpack_pack_array(pk, r->route->n_to);
    for (uint16_t i = 0; i < r->route->n_to; i++)
        pack_outcome_answer(b, r, i);
    if (outcome_deliverable(b, r))
        send_to(b, b->clients, r->client_id, r->client_id_len);
    else
        LOG(b, LOG_WARN, "outcome of tracking %llu held back: its routing id is not with the key "
                         "that submitted it", (unsigned long long)r->tracking);
    closed_append(b, r); /* freed only at the end of the turn: callers still hold r */
}

/* Forgets the oldest closed requests past the retention count (the store
 * still has them). One whose observer copies are still out, or not yet on
 * disk, goes to the back of the line. */
static void evict_closed(broker_t *b)
{
    for (size_t tries = b->n_closed; b->n_closed > b->conf->retain_closed && tries; tries--) {
        request_t *r = b->closed_head;
        b->closed_head = r->next_closed;
        if (!b->closed_head)
            b->closed_tail = NULL;
        r->next_closed = NULL;
        b->n_closed--;
        if (r->open || r->dirty)
            closed_append(b, r);
        else
            request_free(b, r);
    }
}

/* ---- the end of every callback ---- */

static void reap_workers(broker_t *b)
{
    while (b->dead) {
        worker_t *w = b->dead;
        b->dead = w->next_dead;
        while (w->holding.head) {
            delivery_t *d = w->holding.head;
            release(b, d);
            enqueue(b, d, true);
            emit(b, d->req, d, BEV_REDELIVERED, w);
        }
        uint32_t agency = w->agency;
        worker_free(w);
        dispatch(b, agency);
    }
}

static void schedule_deadlines(broker_t *b)
{
    uint64_t due;
    if (!dl_heap_next(b->heap, &due)) {
        if (b->timer_at != UINT64_MAX)
            evtimer_del(b->deadline_ev);
        b->timer_at = UINT64_MAX;
        return;
    }
    if (due == b->timer_at)
        return;
    uint64_t in = due > b->now ? due - b->now : 0;
    struct timeval tv = {(time_t)(in / 1000), (suseconds_t)(in % 1000) * 1000};
    evtimer_add(b->deadline_ev, &tv);
    b->timer_at = due;
}

/* ---- records: a request as the store keeps it ----
 *
 * One msgpack array per request, its deliveries and their history inside.
 * Agencies are stored by id, not index, so a record outlives a change of
 * the routing table's order; the route is found again from topic and kind. */

#define REC_FIELDS 13 /* 12 before CURVE: no submitter */
#define REC_DELIVERY_FIELDS 18

static const char *const copy_reasons[] = {"overdue", "refused", "undeliverable"};

static void pack_bin(msgpack_packer *pk, const void *p, size_t n)
{
    msgpack_pack_bin(pk, n);
    msgpack_pack_bin_body(pk, p, n);
}

static void pack_deliveries_record(broker_t *b, msgpack_packer *pk, const request_t *r);

static void pack_record(broker_t *b, msgpack_packer *pk, const request_t *r)
{
    msgpack_pack_array(pk, REC_FIELDS);
    msgpack_pack_uint64(pk, r->tracking);
    msgpack_pack_uint64(pk, r->created);
    msgpack_pack_uint64(pk, r->closed);
    wire_pack_str(pk, r->topic, r->topic_len);
    wire_pack_cstr(pk, r->kind);
    pack_nil_or(pk, r->client_ref);
    msgpack_pack_uint8(pk, (uint8_t)r->prio);
    msgpack_pack_uint32(pk, r->settled);
    pack_bin(pk, r->payload, r->payload_len);
    pack_bin(pk, r->client_id, r->client_id_len);
    msgpack_pack_array(pk, r->n_observers);
    for (size_t i = 0; i < r->n_observers; i++)
        wire_pack_cstr(pk, agency_id(b, r->observers[i]));
    pack_deliveries_record(b, pk, r);
    pack_nil_or(pk, r->submitter);
}

static void pack_deliveries_record(broker_t *b, msgpack_packer *pk, const request_t *r)
{
    msgpack_pack_array(pk, r->n_dels);
    for (uint32_t i = 0; i < r->n_dels; i++) {
        const delivery_t *d = r->dels[i];
        msgpack_pack_array(pk, REC_DELIVERY_FIELDS);
        msgpack_pack_uint64(pk, d->id);
        wire_pack_cstr(pk, agency_id(b, d->agency));
        msgpack_pack_uint8(pk, d->role);
        msgpack_pack_uint16(pk, d->branch);
        msgpack_pack_uint8(pk, d->level);
        msgpack_pack_uint8(pk, d->state);
        msgpack_pack_uint16(pk, d->attempts);
        d->overdue ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        d->escalated ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
        msgpack_pack_uint64(pk, d->from);
        pack_nil_or(pk, d->reason);
        msgpack_pack_uint64(pk, d->created);
        msgpack_pack_uint64(pk, d->ack_by);
        msgpack_pack_uint64(pk, d->answer_by);
        pack_nil_or(pk, d->outcome);
        pack_nil_or(pk, d->text);
        pack_nil_or(pk, d->note);
        msgpack_pack_array(pk, d->n_hist);
        for (uint32_t k = 0; k < d->n_hist; k++) {
            msgpack_pack_array(pk, 3);
            msgpack_pack_uint64(pk, d->hist[k].at);
            msgpack_pack_uint32(pk, d->hist[k].worker);
            msgpack_pack_uint8(pk, d->hist[k].event);
        }
    }
}

/* A cursor over a record's array that remembers the first mismatch. */
typedef struct {
    const msgpack_object *o;
    uint32_t n;
    const char *bad; /* what did not fit, or NULL */
} rec_t;

static const msgpack_object *rec_at(rec_t *c, uint32_t i, msgpack_object_type type,
                                    const char *what)
{
    if (!c->bad && (i >= c->n || c->o[i].type != type))
        c->bad = what;
    return c->bad ? NULL : &c->o[i];
}

static uint64_t rec_uint(rec_t *c, uint32_t i, uint64_t max, const char *what)
{
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_POSITIVE_INTEGER, what);
    if (o && o->via.u64 > max)
        c->bad = what;
    return c->bad ? 0 : o->via.u64;
}

static bool rec_bool(rec_t *c, uint32_t i, const char *what)
{
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_BOOLEAN, what);
    return o ? o->via.boolean : false;
}

/* A string, or NULL for nil when nil_ok. */
static const char *rec_str(rec_t *c, uint32_t i, bool nil_ok, size_t *len, const char *what)
{
    *len = 0;
    if (!c->bad && nil_ok && i < c->n && c->o[i].type == MSGPACK_OBJECT_NIL)
        return NULL;
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_STR, what);
    if (!o)
        return NULL;
    *len = o->via.str.size;
    return o->via.str.size ? o->via.str.ptr : "";
}

static char *rec_dup(rec_t *c, uint32_t i, const char *what)
{
    size_t n;
    const char *s = rec_str(c, i, true, &n, what);
    return s ? xstrndup(s, n) : NULL;
}

static rec_t rec_array(rec_t *c, uint32_t i, uint32_t want, const char *what)
{
    const msgpack_object *o = rec_at(c, i, MSGPACK_OBJECT_ARRAY, what);
    if (o && want && o->via.array.size != want)
        c->bad = what;
    return c->bad ? (rec_t){NULL, 0, c->bad} : (rec_t){o->via.array.ptr, o->via.array.size, NULL};
}

/* An agency a table has since dropped is still known by its id: its
 * requests keep their history, and its workers may serve what is open. */
static uint32_t rec_agency(broker_t *b, rec_t *c, uint32_t i, const char *what)
{
    size_t n;
    const char *id = rec_str(c, i, false, &n, what);
    return id ? agency_intern(b, id, n) : 0;
}

static const char *rec_reason(rec_t *c, uint32_t i)
{
    size_t n;
    const char *s = rec_str(c, i, true, &n, "delivery reason");
    for (size_t k = 0; s && k < sizeof copy_reasons / sizeof copy_reasons[0]; k++)
        if (strlen(copy_reasons[k]) == n && memcmp(copy_reasons[k], s, n) == 0)
            return copy_reasons[k];
    if (s && !c->bad)
        c->bad = "delivery reason";
    return NULL;
}

static delivery_t *decode_delivery(broker_t *b, request_t *r, rec_t *top, uint32_t i)
{
    rec_t c = rec_array(top, i, REC_DELIVERY_FIELDS, "delivery");
    if (c.bad)
        return NULL;
    delivery_t *d = xcalloc(1, sizeof *d);
    d->req = r;
    dl_timer_init(&d->ack_timer.t);
    dl_timer_init(&d->answer_timer.t);
    d->ack_timer.d = d->answer_timer.d = d;
    d->id = rec_uint(&c, 0, UINT64_MAX, "delivery id");
    d->agency = rec_agency(b, &c, 1, "delivery agency");
    d->role = (uint8_t)rec_uint(&c, 2, ROLE_BREACH, "delivery role");
    d->branch = (uint16_t)rec_uint(&c, 3, TABLE_MAX_CHAIN - 1, "delivery branch");
    d->level = (uint8_t)rec_uint(&c, 4, TABLE_MAX_CHAIN, "delivery level");
    d->state = (uint8_t)rec_uint(&c, 5, DS_SUPERSEDED, "delivery state");
    d->attempts = (uint16_t)rec_uint(&c, 6, UINT16_MAX, "delivery attempts");
    d->overdue = rec_bool(&c, 7, "delivery overdue");
    d->escalated = rec_bool(&c, 8, "delivery escalated");
    d->from = rec_uint(&c, 9, UINT64_MAX, "delivery from");
    d->reason = rec_reason(&c, 10);
    d->created = rec_uint(&c, 11, UINT64_MAX, "delivery created");
    d->ack_by = rec_uint(&c, 12, UINT64_MAX, "delivery ack_by");
    d->answer_by = rec_uint(&c, 13, UINT64_MAX, "delivery answer_by");
    d->outcome = rec_dup(&c, 14, "delivery outcome");
    d->text = rec_dup(&c, 15, "delivery text");
    d->note = rec_dup(&c, 16, "delivery note");
    rec_t h = rec_array(&c, 17, 0, "delivery history");
    d->n_hist = d->cap_hist = h.n;
    d->hist = h.n ? xcalloc(h.n, sizeof *d->hist) : NULL;
    for (uint32_t k = 0; k < h.n && !c.bad; k++) {
        rec_t e = rec_array(&h, k, 3, "history entry");
        d->hist[k] = (hist_t){rec_uint(&e, 0, UINT64_MAX, "history time"),
                              (uint32_t)rec_uint(&e, 1, UINT32_MAX, "history worker"),
                              (uint8_t)rec_uint(&e, 2, BEV_COUNT - 1, "history event")};
        c.bad = c.bad ? c.bad : h.bad ? h.bad : e.bad;
    }
    top->bad = c.bad;
    return d;
}

/* Rebuilds a request from its record, detached from every index. NULL with
 * *why set when the record does not decode or names what the table lacks. */
static request_t *decode_record(broker_t *b, const void *data, size_t len,
                                const char **why)
{
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpacked_init(&up);
    *why = "not a msgpack record";
    if (msgpack_unpack_next(&up, data, len, &off) != MSGPACK_UNPACK_SUCCESS || off != len ||
        up.data.type != MSGPACK_OBJECT_ARRAY) {
        msgpack_unpacked_destroy(&up);
        return NULL;
    }
    rec_t c = {up.data.via.array.ptr, up.data.via.array.size, NULL};
    if (c.n != REC_FIELDS && c.n != REC_FIELDS - 1)
        c.bad = "request";
    size_t topic_len, kind_len, ref_len, submitter_len = 0;
    const char *submitter =
        c.n == REC_FIELDS ? rec_str(&c, 12, true, &submitter_len, "submitter") : NULL;
    const char *topic = rec_str(&c, 3, false, &topic_len, "topic");
    const char *kind = rec_str(&c, 4, false, &kind_len, "kind");
    const char *ref = rec_str(&c, 5, true, &ref_len, "client_ref");
    const msgpack_object *payload = rec_at(&c, 8, MSGPACK_OBJECT_BIN, "payload");
    const msgpack_object *client = rec_at(&c, 9, MSGPACK_OBJECT_BIN, "client id");
    rec_t obs = rec_array(&c, 10, 0, "observers");
    unsigned observers[TABLE_MAX_AGENCIES];
    for (uint32_t i = 0; i < obs.n && i < TABLE_MAX_AGENCIES; i++)
        observers[i] = rec_agency(b, &obs, i, "observer");
    c.bad = c.bad ? c.bad : obs.bad;
    rec_t dels = rec_array(&c, 11, 0, "deliveries");
    if (c.bad || obs.n > TABLE_MAX_AGENCIES || payload->via.bin.size == 0 ||
        client->via.bin.size == 0) {
        *why = c.bad ? c.bad : "request";
        msgpack_unpacked_destroy(&up);
        return NULL;
    }
    request_t *r = request_new(&(request_fields_t){
        .topic = topic,
        .topic_len = topic_len,
        .kind = kind,
        .kind_len = kind_len,
        .ref = ref,
        .ref_len = ref_len,
        .payload = payload->via.bin.ptr,
        .payload_len = payload->via.bin.size,
        .client_id = client->via.bin.ptr,
        .client_id_len = client->via.bin.size,
        .observers = observers,
        .n_observers = obs.n,
        .submitter = submitter,
        .submitter_len = submitter_len,
    });
    r->tracking = rec_uint(&c, 0, UINT64_MAX, "tracking");
    r->created = rec_uint(&c, 1, UINT64_MAX, "created");
    r->closed = rec_uint(&c, 2, UINT64_MAX, "closed");
    r->prio = (priority_t)rec_uint(&c, 6, PRIO_COUNT - 1, "priority");
    r->settled = (uint32_t)rec_uint(&c, 7, UINT32_MAX, "settled");
    r->cap_dels = dels.n;
    r->dels = dels.n ? xcalloc(dels.n, sizeof *r->dels) : NULL;
    for (uint32_t i = 0; i < dels.n && !c.bad; i++) {
        delivery_t *d = decode_delivery(b, r, &dels, i);
        if (d)
            r->dels[r->n_dels++] = d;
        c.bad = dels.bad;
    }
    r->ref_stored = ref != NULL;
    msgpack_unpacked_destroy(&up);
    if (c.bad) {
        *why = c.bad;
        request_drop(r);
        return NULL;
    }
    return r;
}

/* ---- reading the store ---- */

typedef struct {
    broker_t *b;
    request_t *r;
    const char *why;
} loaded_t;

static int load_one(const void *rec, size_t len, void *arg)
{
    loaded_t *l = arg;
    l->r = decode_record(l->b, rec, len, &l->why);
    return 0;
}

/* A request the store has and memory does not (closed and evicted),
 * detached in *r: the caller drops it. 1 found, 0 not there, -1 the store
 * could not be read (logged). */
static int load_stored(broker_t *b, uint64_t tracking, request_t **r)
{
    loaded_t l = {b, NULL, NULL};
    int found = store_get(b->store, tracking, load_one, &l);
    if (found < 0) {
        LOG(b, LOG_ERROR, "%s", store_error(b->store));
    } else if (found && !l.r) {
        LOG(b, LOG_ERROR, "%s: tracking %llu: bad record (%s)", store_path(b->store),
            (unsigned long long)tracking, l.why);
        found = -1;
    }
    *r = l.r;
    return found;
}

typedef struct {
    broker_t *b;
    size_t requests, requeued, skipped;
    const char *why; /* why recovery stopped */
    uint64_t tracking;
} recovery_t;

/* Puts a recovered request back in play. What was offered or acked when
 * the daemon stopped is queued again (that worker's connection is gone);
 * answer deadlines resume at their absolute time, at once if passed. The
 * "redelivered" entry is written with the request's next change: a restart
 * does not rewrite every record. */
static void revive(broker_t *b, request_t *r, recovery_t *rc)
{
    xput(b->requests, &r->tracking, sizeof r->tracking, r);
    if (r->client_ref) {
        char k[REF_KEY_MAX];
        size_t n = request_ref_key(r, k);
        idmap_del(b->refs, k, n); /* the newer one wins */
        xput(b->refs, k, n, r);
    }
    if (r->tracking >= b->next.tracking)
        b->next.tracking = r->tracking + 1;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        delivery_t *d = r->dels[i];
        xput(b->deliveries, &d->id, sizeof d->id, d);
        if (d->id >= b->next.delivery)
            b->next.delivery = d->id + 1;
        if (!is_open(d))
            continue;
        r->open++;
        b->agencies[d->agency].open++;
        b->agencies[d->agency].overdue += d->overdue;
        if (d->state != DS_QUEUED) {
            hist_add(d, (hist_t){b->now_wall, 0, BEV_REDELIVERED});
            rc->requeued++;
        }
        enqueue(b, d, false);
        if (answers_branch(d) && !d->overdue && d->answer_by)
            arm_at(b, &d->answer_timer, d->answer_by);
    }
    if (r->closed)
        closed_append(b, r);
    else
        b->open_requests++;
}

static int recover_one(const void *rec, size_t len, void *arg)
{
    recovery_t *rc = arg;
    broker_t *b = rc->b;
    const char *why;
    request_t *r = decode_record(b, rec, len, &why);
    if (!r) {
        rc->why = why;
        return 1;
    }
    const route_t *route = NULL;
    unsigned observers[TABLE_MAX_AGENCIES];
    size_t n_observers, targets = 0;
    table_resolve(b->routing->table, r->topic, r->topic_len, r->kind, strlen(r->kind), &route,
                  observers, &n_observers);
    for (uint32_t i = 0; i < r->n_dels; i++)
        targets += r->dels[i]->role == ROLE_TARGET;
    if (!route || route->n_to != targets) {
        /* the table changed under it: keep it on disk, untouched, and say so */
        LOG(b, LOG_ERROR, "a stored request is left aside: no route of the routing table "
                          "matches it with the same target agencies");
        LOG(b, LOG_ERROR, "  tracking %llu, topic %s, kind %s", (unsigned long long)r->tracking,
            r->topic, r->kind);
        request_drop(r);
        rc->skipped++;
        return 0;
    }
    r->routing = b->routing;
    r->routing->refs++;
    r->route = route;
    revive(b, r, rc);
    rc->requests++;
    return 0;
}

/* Rebuilds every open request from the store. -1 (with err) when the store
 * cannot be read or holds a record that does not decode. */
static int recover(broker_t *b, char *err, size_t errlen)
{
    uint64_t t0 = clock_ms(CLOCK_MONOTONIC);
    recovery_t rc = {.b = b};
    if (store_counters(b->store, &b->next) < 0) {
        snprintf(err, errlen, "%s", store_error(b->store));
        return -1;
    }
    int ret = store_each_open(b->store, recover_one, &rc);
    if (ret < 0) {
        snprintf(err, errlen, "%s", store_error(b->store));
        return -1;
    }
    if (ret > 0) {
        snprintf(err, errlen, "%s: a stored request does not decode (%s): refusing to start",
                 store_path(b->store), rc.why);
        return -1;
    }
    /* the walk mapped all of the open table: as much RSS again as the
     * requests' heap, for pages that are the page cache's anyway */
    if (store_unmap(b->store) < 0) {
        snprintf(err, errlen, "%s", store_error(b->store));
        return -1;
    }
    LOG(b, LOG_INFO,
        "store %s: recovered %zu requests (%zu open) in %llu ms; %zu deliveries to offer "
        "again%s",
        store_path(b->store), rc.requests, b->open_requests,
        (unsigned long long)(clock_ms(CLOCK_MONOTONIC) - t0), rc.requeued,
        rc.skipped ? "; some left aside, see above" : "");
    return 0;
}

/* ---- durability ---- */

static store_status_t persist_request(broker_t *b, request_t *r)
{
    msgpack_packer pk;
    msgpack_sbuffer_clear(&b->scratch);
    msgpack_packer_init(&pk, &b->scratch, msgpack_sbuffer_write);
    pack_record(b, &pk, r);
    store_status_t st;
    bool closing = r->closed && !r->open; /* with copies out it stays with the open ones */
    char k[REF_KEY_MAX];
    size_t n = r->client_ref && (!r->ref_stored || closing) ? request_ref_key(r, k) : 0;
    if (r->client_ref && !r->ref_stored &&
        (st = store_put_ref(b->store, k, n, r->tracking, r->created)))
        return st;
    if (closing)
        return store_put_closed(b->store, r->tracking, r->closed, r->client_ref ? k : NULL, n,
                                b->scratch.data, b->scratch.size);
    return store_put_open(b->store, r->tracking, b->scratch.data, b->scratch.size);
}

static store_status_t write_turn(broker_t *b)
{
    store_status_t st = store_begin(b->store);
    for (request_t *r = b->dirty; r && !st; r = r->next_dirty)
        st = persist_request(b, r);
    if (!st)
        st = store_put_counters(b->store, &b->next);
    if (!st)
        st = store_commit(b->store);
    else
        store_abort(b->store);
    return st;
}

/* Writes every request the turn changed in one transaction (group commit).
 * False when that failed: what the turn would send stays in the outbox,
 * the requests stay dirty, and the next turn (or tick) tries again. */
static bool persist(broker_t *b)
{
    store_status_t st = STORE_OK;
    if (b->store && b->dirty)
        while ((st = write_turn(b)) == STORE_RETRY)
            LOG(b, LOG_INFO, "store map grown: %s", store_error(b->store));
    if (st != STORE_OK) {
        if (!b->store_failed)
            LOG(b, LOG_ERROR, "store write failed, refusing submissions until it works: %s",
                store_error(b->store));
        b->store_failed = true;
        return false;
    }
    if (b->store_failed)
        LOG(b, LOG_WARN, "store writes again; accepting submissions");
    b->store_failed = false;
    while (b->dirty) {
        request_t *r = b->dirty;
        b->dirty = r->next_dirty;
        r->next_dirty = NULL;
        r->dirty = false;
        r->ref_stored = r->client_ref != NULL;
    }
    b->dirty_tail = &b->dirty;
    return true;
}

/* Sends what the turn queued. A worker that cannot be reached is dropped
 * (its deliveries go back to the queue on the next pass of end_turn). */
static void flush(broker_t *b)
{
    const char *p = b->outbox.data, *end = p + b->outbox.size;
    while (p < end) {
        uint8_t which = (uint8_t)*p++;
        uint32_t rid_len, len;
        memcpy(&rid_len, p, sizeof rid_len);
        const char *rid = p += sizeof rid_len;
        memcpy(&len, p += rid_len, sizeof len);
        const char *body = p += sizeof len;
        p += len;
        if (which == OUT_EVENTS) { /* a PUB drops for a slow subscriber, who resyncs */
            send_now(b->events, rid, rid_len, body, len);
            continue;
        }
        void *socket = which == OUT_WORKERS ? b->workers : b->clients;
        if (send_now(socket, rid, rid_len, body, len) == 0)
            continue;
        worker_t *w = which == OUT_WORKERS ? idmap_get(b->worker_map, rid, rid_len) : NULL;
        if (w)
            worker_kill(b, w, errno == EHOSTUNREACH ? "unreachable" : "not reading");
        else if (which == OUT_CLIENTS)
            LOG(b, LOG_DEBUG, "message to a client lost: gone or not reading (%s)",
                zmq_strerror(errno));
    }
    msgpack_sbuffer_clear(&b->outbox);
}

static void end_turn(broker_t *b)
{
    do {
        reap_workers(b);
        if (!persist(b))
            break;
        flush(b);
    } while (b->dead);
    evict_closed(b);
    schedule_deadlines(b);
    zev_rearm(b->clients_ev);
    zev_rearm(b->workers_ev);
}

/* ---- client commands ---- */

/* Under CURVE, whether the peer's key has one of these roles (bits of
 * 1 << key_role_t); if not, "forbidden" and a log line naming the key. */
static bool permitted(broker_t *b, unsigned roles, const char *what)
{
    const principal_t *p = b->peer.principal;
    if (!b->peer.secure || (p && (roles & (1u << p->role))))
        return true;
    LOG_PEER(b, &b->forbidden_lines, "forbidden: %s, by key %s", what,
             p ? p->name : "no longer known");
    reply_error(b, "forbidden", 0, "this key may not %s", what);
    return false;
}

static bool bucket_key_eq(const void *value, const void *key, size_t len)
{
    const bucket_t *k = value;
    return k->len == len && memcmp(k->key, key, len) == 0;
}

/* One submission from the peer within broker.rate_limit; if not, busy with
 * the time until it may submit again. Keyed by the CURVE key when there is
 * one: a gateway cannot escape its limit by opening more connections. */
static bool within_rate(broker_t *b)
{
    double rate = b->conf->rate_per_second, burst = b->conf->rate_burst;
    if (!rate)
        return true;
    const void *key = b->peer.principal ? (const void *)b->peer.principal->key : b->peer.rid;
    size_t len = b->peer.principal ? strlen(b->peer.principal->key) : b->peer.rid_len;
    len = len < sizeof((bucket_t){0}).key ? len : sizeof((bucket_t){0}).key;
    bucket_t *k = idmap_get(b->buckets, key, len);
    if (!k) {
        k = xcalloc(1, sizeof *k);
        memcpy(k->key, key, len);
        k->len = len;
        k->tokens = burst;
        k->at = b->now;
        xput(b->buckets, k->key, k->len, k);
    }
    k->tokens += (double)(b->now - k->at) * rate / 1000;
    k->tokens = k->tokens < burst ? k->tokens : burst;
    k->at = b->now;
    if (k->tokens >= 1) {
        k->tokens -= 1;
        return true;
    }
    double wait = (1 - k->tokens) * 1000 / rate; /* ms until one token: rounded up */
    uint64_t retry = (uint64_t)wait;
    reply_busy(b, retry + ((double)retry < wait), "more than %u submissions a second from this peer",
               b->conf->rate_per_second);
    return false;
}

/* Buckets full again are forgotten: they would say nothing new. */
static void forget_buckets(broker_t *b)
{
    bucket_t *k;
    double rate = b->conf->rate_per_second;
    for (size_t c = 0; (k = idmap_next(b->buckets, &c));)
        if (!rate || k->tokens + (double)(b->now - k->at) * rate / 1000 >= b->conf->rate_burst) {
            idmap_del(b->buckets, k->key, k->len);
            free(k);
        }
}

static bool token_valid(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
              s[i] == '_'))
            return false;
    return true;
}

/* Reads a string field; on failure replies with an error naming it. */
static bool field_str(broker_t *b, const wire_msg_t *m, const char *key, bool required,
                      size_t max, const char **s, size_t *n)
{
    wire_status_t st = wire_str(m, key, s, n, max);
    if (st == WIRE_OK || (st == WIRE_ABSENT && !required)) {
        if (st == WIRE_ABSENT)
            *s = NULL, *n = 0;
        return true;
    }
    if (st == WIRE_ABSENT)
        reply_error(b, "bad_field", 0, "\"%s\" is required", key);
    else if (st == WIRE_TOO_LONG)
        reply_error(b, "too_large", 0, "\"%s\" is longer than %zu bytes", key, max);
    else
        reply_error(b, wire_status_code(st), 0, "\"%s\" must be a string", key);
    return false;
}

static bool field_uint(broker_t *b, const wire_msg_t *m, const char *key, bool required,
                       uint64_t *v)
{
    wire_status_t st = wire_uint(m, key, v);
    if (st == WIRE_OK || (st == WIRE_ABSENT && !required))
        return true;
    reply_error(b, "bad_field", 0, "\"%s\" %s", key,
                st == WIRE_ABSENT ? "is required" : "must be a non-negative integer");
    return false;
}

/* An optional boolean: absent leaves *v as it was. */
static bool field_bool(broker_t *b, const wire_msg_t *m, const char *key, bool *v)
{
    wire_status_t st = wire_bool(m, key, v);
    if (st == WIRE_OK || st == WIRE_ABSENT)
        return true;
    reply_error(b, "bad_field", 0, "\"%s\" must be true or false", key);
    return false;
}

static void reply_accepted(broker_t *b, uint64_t tracking, size_t deliveries, size_t observers,
                           bool duplicate)
{
    msgpack_packer *pk = reply_begin(b, "accepted", 3 + duplicate);
    wire_kv_uint(pk, "tracking", tracking);
    wire_kv_uint(pk, "deliveries", deliveries);
    wire_kv_uint(pk, "observers", observers);
    if (duplicate)
        wire_kv_bool(pk, "duplicate", true);
    reply_send(b);
}

static void reply_duplicate(broker_t *b, const request_t *r)
{
    size_t targets = 0, observers = 0;
    for (uint32_t i = 0; i < r->n_dels; i++) {
        targets += r->dels[i]->role == ROLE_TARGET;
        observers += r->dels[i]->role == ROLE_OBSERVE;
    }
    LOG(b, LOG_INFO, "resubmission of client_ref \"%s\": tracking=%llu", r->client_ref,
        (unsigned long long)r->tracking);
    reply_accepted(b, r->tracking, targets, observers, true);
}

/* A client_ref first used within the dedup window: the same tracking
 * number again, and nothing new. */
static bool resubmission(broker_t *b, const char *ref, size_t ref_len)
{
    uint64_t window = b->conf->dedup_window_ms, tracking, at;
    char k[REF_KEY_MAX];
    size_t n = ref_key(b->peer.principal ? b->peer.principal->key : NULL, ref, ref_len, k);
    request_t *r = idmap_get(b->refs, k, n);
    if (r) {
        if (b->now_wall >= r->created + window)
            return false;
        reply_duplicate(b, r);
        return true;
    }
    if (!b->store)
        return false;
    int found = store_find_ref(b->store, k, n, &tracking, &at);
    if (found > 0 && b->now_wall < at + window)
        found = load_stored(b, tracking, &r);
    else
        found = found < 0 ? -1 : 0;
    if (found < 0) {
        reply_error(b, "unavailable", 0, "cannot read the store");
        return true;
    }
    if (!r)
        return false;
    reply_duplicate(b, r);
    request_drop(r);
    return true;
}

static void cmd_submit(broker_t *b, const wire_msg_t *m)
{
    const char *topic, *kind, *prio_s, *ref;
    size_t topic_len, kind_len, prio_len, ref_len;
    const char *why;
    if (!permitted(b, 1u << KEY_GATEWAY, "submit") || !within_rate(b))
        return;
    if (!field_str(b, m, "topic", true, TOPIC_MAX, &topic, &topic_len) ||
        !field_str(b, m, "kind", false, KIND_MAX, &kind, &kind_len) ||
        !field_str(b, m, "priority", false, 16, &prio_s, &prio_len) ||
        !field_str(b, m, "client_ref", false, REF_MAX, &ref, &ref_len))
        return;
    if (!topic_valid(topic, topic_len, &why)) {
        reply_error(b, "bad_field", 0, "\"topic\": %s", why);
        return;
    }
    if (ref && !ref_len) {
        reply_error(b, "bad_field", 0, "\"client_ref\" must not be empty");
        return;
    }
    if (!kind)
        kind = "request", kind_len = strlen(kind);
    if (!token_valid(kind, kind_len, KIND_MAX)) {
        reply_error(b, "bad_field", 0, "\"kind\" must be 1-%d of [a-z0-9_-]", KIND_MAX);
        return;
    }
    priority_t prio = PRIO_ROUTINE;
    if (prio_s && priority_parse(prio_s, prio_len, &prio) < 0) {
        reply_error(b, "bad_field", 0, "\"priority\" must be \"routine\" or \"urgent\"");
        return;
    }
    if (b->stopping) {
        reply_error(b, "unavailable", 0, "mizd is stopping");
        return;
    }
    if (b->store_failed) {
        reply_error(b, "unavailable", 0, "cannot store new requests now (%s)",
                    store_error(b->store));
        return;
    }
    if (ref && resubmission(b, ref, ref_len))
        return;
    const msgpack_object *payload = wire_get(m, "payload");
    if (!payload) {
        reply_error(b, "bad_field", 0, "\"payload\" is required");
        return;
    }
    msgpack_sbuffer_clear(&b->scratch);
    msgpack_packer spk;
    msgpack_packer_init(&spk, &b->scratch, msgpack_sbuffer_write);
    msgpack_pack_object(&spk, *payload);
    if (b->scratch.size > PAYLOAD_MAX) {
        reply_error(b, "too_large", 0, "\"payload\" is %zu bytes; the limit is %d",
                    b->scratch.size, PAYLOAD_MAX);
        return;
    }
    const route_t *route;
    unsigned observers[TABLE_MAX_AGENCIES];
    size_t n_observers;
    table_resolve(b->routing->table, topic, topic_len, kind, kind_len, &route, observers,
                  &n_observers);
    if (!route) {
        reply_error(b, "unknown_topic", 0, "no route for topic \"%.*s\" (kind %.*s)",
                    (int)topic_len, topic, (int)kind_len, kind);
        return;
    }
    if (b->open_requests >= b->conf->max_open) {
        reply_error(b, "busy", 0, "%zu requests open; try again later", b->open_requests);
        return;
    }
    if (!prio_s)
        prio = route->priority;
    for (size_t i = 0; i < n_observers; i++)
        observers[i] = b->routing->agency[observers[i]];

    request_t *r = request_new(&(request_fields_t){
        .topic = topic,
        .topic_len = topic_len,
        .kind = kind,
        .kind_len = kind_len,
        .ref = ref,
        .ref_len = ref_len,
        .payload = b->scratch.data,
        .payload_len = b->scratch.size,
        .client_id = b->peer.rid,
        .client_id_len = b->peer.rid_len,
        .observers = observers,
        .n_observers = n_observers,
        .submitter = b->peer.principal ? b->peer.principal->key : NULL,
        .submitter_len = b->peer.principal ? strlen(b->peer.principal->key) : 0,
    });
    r->tracking = b->next.tracking++;
    r->routing = b->routing;
    r->routing->refs++;
    r->route = route;
    r->prio = prio;
    r->created = b->now_wall;
    xput(b->requests, &r->tracking, sizeof r->tracking, r);
    if (ref) {
        char k[REF_KEY_MAX];
        size_t n = request_ref_key(r, k);
        idmap_del(b->refs, k, n); /* one from outside the window */
        xput(b->refs, k, n, r);
    }
    b->open_requests++;

    emit(b, r, NULL, BEV_RECEIVED, NULL);

    for (uint16_t i = 0; i < route->n_to; i++)
        delivery_new(b, r, route_agency(r, route->to[i]), ROLE_TARGET, i, 0, 0);
    for (size_t i = 0; i < n_observers; i++)
        delivery_new(b, r, observers[i], ROLE_OBSERVE, 0, 0, 0);
    for (uint32_t i = 0; i < r->n_dels; i++)
        dispatch(b, r->dels[i]->agency);
    /* after the deliveries, which the outbox then sends first: they are on
     * the way to the outcome, the receipt is not */
    reply_accepted(b, r->tracking, route->n_to, n_observers, false);
}

static void pack_opt_str(msgpack_packer *pk, const char *key, const char *s)
{
    wire_pack_cstr(pk, key);
    if (s)
        wire_pack_cstr(pk, s);
    else
        msgpack_pack_nil(pk);
}

/* personal: with what only the submitter may see (the answer's text, the
 * worker's notes); the event stream's snapshot leaves them out. */
static void pack_delivery_status(broker_t *b, const delivery_t *d, bool personal)
{
    msgpack_packer *pk = &b->pk;
    msgpack_pack_map(pk, 13 + 2 * personal);
    wire_kv_uint(pk, "id", d->id);
    wire_kv_cstr(pk, "agency", agency_id(b, d->agency));
    wire_kv_cstr(pk, "role", role_names[d->role]);
    wire_kv_uint(pk, "level", d->level);
    wire_kv_cstr(pk, "state", state_names[d->state]);
    wire_kv_bool(pk, "overdue", d->overdue);
    wire_kv_uint(pk, "attempts", d->attempts);
    wire_kv_uint(pk, "created", d->created);
    wire_kv_uint(pk, "ack_by", d->ack_by);
    wire_kv_uint(pk, "answer_by", d->answer_by);
    wire_kv_uint(pk, "from", d->from);
    pack_opt_str(pk, "outcome", d->outcome);
    if (personal) {
        pack_opt_str(pk, "text", d->text);
        pack_opt_str(pk, "note", d->note);
    }
    wire_pack_cstr(pk, "history");
    msgpack_pack_array(pk, d->n_hist);
    for (uint32_t i = 0; i < d->n_hist; i++) {
        msgpack_pack_map(pk, 3);
        wire_kv_uint(pk, "at", d->hist[i].at);
        wire_kv_cstr(pk, "event", event_names[d->hist[i].event]);
        wire_kv_uint(pk, "worker", d->hist[i].worker);
    }
}

/* The fields of a status reply (9, or 8 without client_ref when not
 * personal); the caller has begun the map. */
static void pack_request_fields(broker_t *b, const request_t *r, bool personal)
{
    msgpack_packer *pk = &b->pk;
    wire_kv_uint(pk, "tracking", r->tracking);
    wire_kv_str(pk, "topic", r->topic, r->topic_len);
    wire_kv_cstr(pk, "kind", r->kind);
    wire_kv_cstr(pk, "priority", priority_name(r->prio));
    wire_kv_cstr(pk, "state", r->closed ? "closed" : "open");
    wire_kv_uint(pk, "created", r->created);
    wire_kv_uint(pk, "closed", r->closed);
    if (personal)
        pack_opt_str(pk, "client_ref", r->client_ref);
    wire_pack_cstr(pk, "deliveries");
    msgpack_pack_array(pk, r->n_dels);
    for (uint32_t i = 0; i < r->n_dels; i++)
        pack_delivery_status(b, r->dels[i], personal);
}

static void cmd_status(broker_t *b, const wire_msg_t *m)
{
    uint64_t tracking;
    if (!permitted(b, 1u << KEY_GATEWAY | 1u << KEY_DASHBOARD, "ask for a status") ||
        !field_uint(b, m, "tracking", true, &tracking))
        return;
    request_t *r = idmap_get(b->requests, &tracking, sizeof tracking), *stored = NULL;
    if (!r && b->store && load_stored(b, tracking, &stored) < 0) {
        reply_error(b, "unavailable", 0, "cannot read the store");
        return;
    }
    if (!r)
        r = stored;
    if (!r) {
        reply_error(b, "unknown_tracking", 0, "no request with tracking number %llu",
                    (unsigned long long)tracking);
        return;
    }
    /* a gateway asks only about what it submitted itself */
    const principal_t *p = b->peer.principal;
    if (p && p->role == KEY_GATEWAY && (!r->submitter || strcmp(r->submitter, p->key) != 0)) {
        LOG_PEER(b, &b->forbidden_lines,
                 "forbidden: status of tracking %llu, by key %s, which did not submit it",
                 (unsigned long long)tracking, p->name);
        reply_error(b, "forbidden", 0, "tracking %llu was not submitted with this key",
                    (unsigned long long)tracking);
        request_drop(stored);
        return;
    }
    reply_begin(b, "status", 9);
    pack_request_fields(b, r, true);
    reply_send(b);
    request_drop(stored);
}

/* ---- snapshot: the Clone pattern's state (protocol.md section 8.2) ---- */

#define SNAPSHOT_PART 256 /* requests per snapshot message */
#define SNAPSHOTS_MAX 8   /* reading the store at once: each holds a read transaction */

/* With a store, what is on disk comes a part per turn, read in a
 * transaction begun in the turn that asks, so the loop never stalls on a
 * large store and every part is the state as of one seq; only what that
 * turn changed and has not written yet goes from memory at once. */
struct snapshot {
    snapshot_t *next;
    store_scan_t *scan;
    uint64_t *from_memory; /* sorted: the trackings sent from memory, which the scan skips */
    size_t n_from_memory;
    unsigned char rid[256]; /* the asker's routing id (ZeroMQ's are at most 255 bytes) */
    size_t rid_len;
    uint64_t re, seq, since;
    bool has_re;
    request_t *part[SNAPSHOT_PART];
    bool loaded[SNAPSHOT_PART]; /* read from the store for this: dropped once sent */
    size_t n, parts;
    broker_t *b;
};

/* Replies of a later turn go where the first one's did. */
static void snapshot_peer(broker_t *b, const snapshot_t *s)
{
    b->peer = (peer_t){.socket = b->clients, .rid = s->rid, .rid_len = s->rid_len,
                       .seq = s->re, .has_seq = s->has_re};
}

static void snapshot_drop_part(snapshot_t *s)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->loaded[i])
            request_drop(s->part[i]);
    s->n = 0;
}

static void snapshot_send(snapshot_t *s, bool done)
{
    broker_t *b = s->b;
    msgpack_packer *pk = reply_begin(b, "snapshot", 5);
    wire_kv_uint(pk, "part", s->parts++);
    wire_kv_uint(pk, "seq", s->seq);
    wire_kv_uint(pk, "run", b->run);
    wire_kv_bool(pk, "done", done);
    wire_pack_cstr(pk, "requests");
    msgpack_pack_array(pk, s->n);
    for (size_t i = 0; i < s->n; i++) {
        msgpack_pack_map(pk, 8);
        pack_request_fields(b, s->part[i], false);
    }
    reply_send(b);
    snapshot_drop_part(s);
}

static void snapshot_add(snapshot_t *s, request_t *r, bool loaded)
{
    s->loaded[s->n] = loaded;
    s->part[s->n++] = r;
    if (s->n == SNAPSHOT_PART)
        snapshot_send(s, false);
}

static bool snapshot_wants(const snapshot_t *s, const request_t *r)
{
    return !r->closed || r->closed >= s->since;
}

static int compare_tracking(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static int snapshot_stored(const void *rec, size_t len, void *arg)
{
    snapshot_t *s = arg;
    const char *why;
    request_t *r = decode_record(s->b, rec, len, &why);
    if (!r) {
        LOG(s->b, LOG_ERROR, "%s: a request does not decode (%s)", store_path(s->b->store), why);
        return 1;
    }
    if (snapshot_wants(s, r) && !bsearch(&r->tracking, s->from_memory, s->n_from_memory,
                                         sizeof *s->from_memory, compare_tracking))
        snapshot_add(s, r, true);
    else
        request_drop(r);
    return 0;
}

static void snapshot_destroy(snapshot_t **sp)
{
    snapshot_t *s = *sp;
    snapshot_drop_part(s);
    store_scan_destroy(&s->scan);
    free(s->from_memory);
    free(s);
    *sp = NULL;
}

/* One part of every snapshot still reading the store, as a turn of its own
 * between the sockets' turns. While the store fails nothing goes out that
 * the outbox must hold: the tick starts the parts again. */
static void on_snapshots(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    if (b->store_failed)
        return;
    clock_update(b);
    for (snapshot_t **p = &b->snapshots; *p;) {
        snapshot_t *s = *p;
        snapshot_peer(b, s);
        int more = store_scan_next(s->scan, SNAPSHOT_PART, snapshot_stored, s);
        if (more > 0) {
            if (s->n)
                snapshot_send(s, false);
            p = &s->next;
            continue;
        }
        if (more == 0) {
            snapshot_send(s, true);
        } else {
            LOG(b, LOG_ERROR, "a snapshot stopped: %s", store_error(b->store));
            reply_error(b, "unavailable", 0, "cannot read the store: ask for the snapshot again");
        }
        *p = s->next;
        b->n_snapshots--;
        snapshot_destroy(&s);
    }
    b->peer = (peer_t){0};
    if (b->snapshots)
        event_active(b->snapshot_ev, 0, 0);
    end_turn(b);
}

/* Every open request and every closed one since `since`. With a store, a
 * request this turn has not changed is as the store has it (a turn writes
 * every request it changed), so only the changed ones go from memory. The
 * seq sent with every part is that of the last event of this turn so far. */
static void cmd_snapshot(broker_t *b, const wire_msg_t *m)
{
    uint64_t since = 0;
    if (!permitted(b, 1u << KEY_DASHBOARD, "read the event stream") ||
        !field_uint(b, m, "since", false, &since))
        return;
    if (b->store && b->n_snapshots >= SNAPSHOTS_MAX) {
        reply_busy(b, b->heartbeat_ms, "%d snapshots are being read already", SNAPSHOTS_MAX);
        return;
    }
    snapshot_t *s = xcalloc(1, sizeof *s);
    *s = (snapshot_t){.b = b, .since = since, .seq = b->next.event - 1, .re = b->peer.seq,
                      .has_re = b->peer.has_seq, .rid_len = b->peer.rid_len};
    memcpy(s->rid, b->peer.rid, s->rid_len);
    if (b->store && !(s->scan = store_scan(b->store, since))) {
        LOG(b, LOG_ERROR, "%s", store_error(b->store));
        reply_error(b, "unavailable", 0, "cannot read the store");
        snapshot_destroy(&s);
        return;
    }
    if (s->scan) {
        size_t n = 0;
        for (request_t *r = b->dirty; r; r = r->next_dirty)
            n++;
        s->from_memory = xcalloc(n ? n : 1, sizeof *s->from_memory);
        for (request_t *r = b->dirty; r; r = r->next_dirty) {
            s->from_memory[s->n_from_memory++] = r->tracking;
            if (snapshot_wants(s, r))
                snapshot_add(s, r, false);
        }
        qsort(s->from_memory, s->n_from_memory, sizeof *s->from_memory, compare_tracking);
    } else {
        request_t *r;
        for (size_t c = 0; (r = idmap_next(b->requests, &c));)
            if (snapshot_wants(s, r))
                snapshot_add(s, r, false);
    }
    if (!s->scan) {
        snapshot_send(s, true);
        snapshot_destroy(&s);
        return;
    }
    if (s->n) /* what memory holds may change before the next turn */
        snapshot_send(s, false);
    s->next = b->snapshots;
    b->snapshots = s;
    b->n_snapshots++;
    event_active(b->snapshot_ev, 0, 0);
}

static void cmd_ping(broker_t *b, const wire_msg_t *m)
{
    (void)m;
    reply_begin(b, "pong", 0);
    reply_send(b);
}

/* ---- worker commands ---- */

static void cmd_register(broker_t *b, const wire_msg_t *m)
{
    const char *agency_s, *name;
    size_t agency_len, name_len;
    uint64_t credit = DEFAULT_CREDIT;
    bool quiet = false;
    if (!field_str(b, m, "agency", true, 64, &agency_s, &agency_len) ||
        !field_str(b, m, "name", false, NAME_MAX_LEN, &name, &name_len) ||
        !field_uint(b, m, "credit", false, &credit) || !field_bool(b, m, "quiet", &quiet))
        return;
    if (!permitted(b, 1u << KEY_WORKER, "register as a worker"))
        return;
    /* the key's agency first: a key learns nothing of which others exist */
    char q[WIRE_QUOTE_SIZE];
    const principal_t *p = b->peer.principal;
    if (p && (strlen(p->agency) != agency_len || memcmp(p->agency, agency_s, agency_len) != 0)) {
        LOG_PEER(b, &b->forbidden_lines, "forbidden: register for \"%s\", by key %s of %s",
                 wire_quote(agency_s, agency_len, q), p->name, p->agency);
        reply_error(b, "forbidden", 0, "this key is %s's: it may not register for \"%s\"",
                    p->agency, q);
        return;
    }
    int agency = agency_find(b, agency_s, agency_len);
    if (agency < 0) {
        reply_error(b, "unknown_agency", 0, "no agency \"%s\" in the routing table",
                    wire_quote(agency_s, agency_len, q));
        return;
    }
    if (credit < 1 || credit > CREDIT_MAX) {
        reply_error(b, "bad_field", 0, "\"credit\" must be 1-%d", CREDIT_MAX);
        return;
    }
    const msgpack_object *topics = wire_get(m, "topics");
    size_t n_topics = 0;
    if (topics) {
        if (topics->type != MSGPACK_OBJECT_ARRAY || topics->via.array.size > WORKER_TOPICS_MAX) {
            reply_error(b, "bad_field", 0, "\"topics\" must be an array of at most %d patterns",
                        WORKER_TOPICS_MAX);
            return;
        }
        n_topics = topics->via.array.size;
        for (size_t i = 0; i < n_topics; i++) {
            const char *s, *why = "not a string";
            size_t n;
            wire_status_t st = wire_obj_str(&topics->via.array.ptr[i], &s, &n, TOPIC_MAX);
            if (st == WIRE_TOO_LONG) {
                reply_error(b, "too_large", 0, "\"topics\"[%zu] is longer than %d bytes", i,
                            TOPIC_MAX);
                return;
            }
            if (st != WIRE_OK || !topic_pattern_valid(s, n, &why)) {
                reply_error(b, "bad_field", 0, "\"topics\"[%zu]: %s", i, why);
                return;
            }
        }
    }
    /* registering again replaces the old registration (the routing id's,
     * even if another key held it) */
    worker_t *old = idmap_get(b->worker_map, b->peer.rid, b->peer.rid_len);
    if (old)
        worker_kill(b, old, "registered again");

    worker_t *w = xcalloc(1, sizeof *w);
    w->rid = xrealloc(NULL, b->peer.rid_len);
    memcpy(w->rid, b->peer.rid, b->peer.rid_len);
    w->rid_len = b->peer.rid_len;
    w->serial = ++b->next_worker_serial;
    w->agency = (uint32_t)agency;
    if (p)
        memcpy(w->key, p->key, sizeof w->key);
    if (name)
        memcpy(w->name, name, name_len);
    else
        snprintf(w->name, sizeof w->name, "%s#%u", agency_id(b, w->agency), w->serial);
    for (size_t i = 0; i < n_topics; i++) {
        const msgpack_object_str *s = &topics->via.array.ptr[i].via.str;
        w->topics[i] = xstrndup(s->ptr, s->size);
    }
    w->n_topics = n_topics;
    w->credit = (uint32_t)credit;
    w->quiet = quiet;
    w->last_recv = w->last_send = b->now;
    agency_rt_t *a = &b->agencies[agency];
    if (a->n_workers == a->cap_workers) {
        a->cap_workers = a->cap_workers ? a->cap_workers * 2 : 4;
        a->workers = xrealloc(a->workers, a->cap_workers * sizeof *a->workers);
    }
    w->slot = a->n_workers;
    a->workers[a->n_workers++] = w;
    a->spare += w->credit;
    xput(b->worker_map, w->rid, w->rid_len, w);
    b->peer.worker = w;

    msgpack_packer *pk = reply_begin(b, "registered", 5);
    wire_kv_uint(pk, "worker", w->serial);
    wire_kv_cstr(pk, "agency", agency_id(b, w->agency));
    wire_kv_uint(pk, "credit", w->credit);
    wire_kv_bool(pk, "quiet", w->quiet);
    wire_kv_uint(pk, "heartbeat_ms", b->heartbeat_ms);
    reply_send(b);
    LOG(b, LOG_INFO, "worker %s (#%u) registered for %s, credit %u, %zu topic patterns%s",
        w->name, w->serial, agency_id(b, w->agency), w->credit, w->n_topics,
        w->quiet ? ", quiet" : "");
    dispatch(b, w->agency);
}

/* The delivery a worker command names, if that worker holds it. */
static delivery_t *held_delivery(broker_t *b, const wire_msg_t *m)
{
    uint64_t id;
    if (!field_uint(b, m, "delivery", true, &id))
        return NULL;
    delivery_t *d = idmap_get(b->deliveries, &id, sizeof id);
    if (!d) {
        reply_error(b, "unknown_delivery", id, "no delivery %llu", (unsigned long long)id);
        return NULL;
    }
    if (d->holder != b->peer.worker || !is_open(d)) {
        reply_error(b, "not_held", id, "delivery %llu is %s and not held by this worker",
                    (unsigned long long)id, state_names[d->state]);
        return NULL;
    }
    return d;
}

/* Only target and escalation deliveries can be answered, refused or
 * reported on; an observer copy is only ever acknowledged. */
static bool answerable(broker_t *b, const delivery_t *d, const char *verb)
{
    if (answers_branch(d))
        return true;
    reply_error(b, "bad_field", d->id, "delivery %llu is an observer copy: it is acknowledged, not %s",
                (unsigned long long)d->id, verb);
    return false;
}

static void acknowledge(broker_t *b, delivery_t *d)
{
    if (d->state != DS_OFFERED)
        return;
    d->state = DS_ACKED;
    dl_heap_disarm(b->heap, &d->ack_timer.t);
    emit(b, d->req, d, BEV_ACKED, b->peer.worker);
}

static void cmd_ack(broker_t *b, const wire_msg_t *m)
{
    delivery_t *d = held_delivery(b, m);
    if (!d)
        return;
    if (answers_branch(d)) {
        acknowledge(b, d);
    } else {
        finish(b, d, DS_SEEN);
        emit(b, d->req, d, BEV_SEEN, b->peer.worker);
        dispatch(b, d->agency);
    }
    reply_ok(b, d->id);
}

static void cmd_answer(broker_t *b, const wire_msg_t *m)
{
    const char *outcome, *text;
    size_t outcome_len, text_len;
    delivery_t *d = held_delivery(b, m);
    if (!d || !field_str(b, m, "outcome", true, OUTCOME_MAX, &outcome, &outcome_len) ||
        !field_str(b, m, "text", false, TEXT_MAX, &text, &text_len) ||
        !answerable(b, d, "answered"))
        return;
    if (outcome_len == 0) {
        reply_error(b, "bad_field", d->id, "\"outcome\" must not be empty");
        return;
    }
    acknowledge(b, d);
    d->outcome = xstrndup(outcome, outcome_len);
    if (text)
        d->text = xstrndup(text, text_len);
    finish(b, d, DS_ANSWERED);
    emit(b, d->req, d, BEV_ANSWERED, b->peer.worker);
    reply_ok(b, d->id);
    branch_update(b, d);
    dispatch(b, d->agency);
}

/* The delivery a command on a branch names, held by this worker, and the
 * one text the command carries; NULL after the error reply if any is wrong. */
static delivery_t *branch_command(broker_t *b, const wire_msg_t *m, const char *key,
                                  bool required, const char **s, size_t *n, const char *verb)
{
    delivery_t *d = held_delivery(b, m);
    return d && field_str(b, m, key, required, TEXT_MAX, s, n) && answerable(b, d, verb) ? d
                                                                                        : NULL;
}

static void cmd_progress(broker_t *b, const wire_msg_t *m)
{
    const char *note;
    size_t note_len;
    delivery_t *d = branch_command(b, m, "note", true, &note, &note_len, "reported on");
    if (!d)
        return;
    acknowledge(b, d);
    free(d->note);
    d->note = xstrndup(note, note_len);
    emit(b, d->req, d, BEV_PROGRESS, b->peer.worker);
    reply_ok(b, d->id);
}

static void cmd_refuse(broker_t *b, const wire_msg_t *m)
{
    const char *reason;
    size_t reason_len;
    delivery_t *d = branch_command(b, m, "reason", false, &reason, &reason_len, "refused");
    if (!d)
        return;
    if (reason)
        d->note = (free(d->note), xstrndup(reason, reason_len));
    finish(b, d, DS_REFUSED);
    emit(b, d->req, d, BEV_REFUSED, b->peer.worker);
    reply_ok(b, d->id);
    escalate(b, d, "refused");
    branch_update(b, d);
    dispatch(b, d->agency);
}

static void cmd_heartbeat(broker_t *b, const wire_msg_t *m)
{
    (void)b, (void)m; /* receiving it was the point */
}

static void cmd_bye(broker_t *b, const wire_msg_t *m)
{
    (void)m;
    worker_kill(b, b->peer.worker, "said goodbye");
}

/* ---- reading the sockets ---- */

typedef struct {
    const char *type;
    void (*fn)(broker_t *b, const wire_msg_t *m);
    bool needs_worker; /* only after register */
} command_t;

static const command_t client_commands[] = {
    {"submit", cmd_submit, false},
    {"status", cmd_status, false},
    {"snapshot", cmd_snapshot, false},
    {"ping", cmd_ping, false},
    {NULL, NULL, false},
};

static const command_t worker_commands[] = {
    {"register", cmd_register, false},  {"ack", cmd_ack, true},
    {"answer", cmd_answer, true},       {"progress", cmd_progress, true},
    {"refuse", cmd_refuse, true},       {"heartbeat", cmd_heartbeat, true},
    {"bye", cmd_bye, true},             {NULL, NULL, false},
};

static void handle(broker_t *b, const command_t *commands, const void *data, size_t size)
{
    char why[256];
    wire_status_t st;
    wire_msg_t *m = wire_parse(data, size, &st, why, sizeof why);
    if (!m) {
        reply_error(b, wire_status_code(st), 0, "%s", why);
        return;
    }
    uint64_t version = WIRE_VERSION;
    const char *type;
    size_t type_len;
    if (wire_uint(m, "seq", &b->peer.seq) == WIRE_OK)
        b->peer.has_seq = true;
    if (b->peer.secure && !b->peer.principal) { /* revoked by a reload since it connected */
        LOG_PEER(b, &b->forbidden_lines, "forbidden: a message with a key no longer known");
        reply_error(b, "forbidden", 0, "this key is no longer known to mizd");
        goto done;
    }
    if (!field_str(b, m, "type", true, 32, &type, &type_len) ||
        !field_uint(b, m, "v", false, &version))
        goto done;
    if (version != WIRE_VERSION) {
        reply_error(b, "version", 0, "protocol version %llu is not spoken here (this is %d)",
                    (unsigned long long)version, WIRE_VERSION);
        goto done;
    }
    for (const command_t *c = commands; c->type; c++) {
        if (strlen(c->type) != type_len || memcmp(c->type, type, type_len) != 0)
            continue;
        if (c->needs_worker && !b->peer.worker)
            reply_error(b, "not_registered", 0, "register before \"%s\"", c->type);
        else
            c->fn(b, m);
        if (c->fn != cmd_heartbeat) /* heartbeats never end, so a stop does not wait them out */
            b->last_work = b->now;
        goto done;
    }
    char q[WIRE_QUOTE_SIZE];
    reply_error(b, "unknown_type", 0, "unknown message type \"%s\"", wire_quote(type, type_len, q));
done:
    wire_msg_destroy(&m);
}

/* Reads one [routing id][body] message. 1 when one was read, 0 when the
 * socket has nothing more. */
static int recv_one(broker_t *b, void *socket, const command_t *commands)
{
    zmq_msg_t rid, body;
    zmq_msg_init(&rid);
    if (zmq_msg_recv(&rid, socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&rid);
        return 0;
    }
    zmq_msg_init(&body);
    int got = zmq_msg_more(&rid) ? zmq_msg_recv(&body, socket, ZMQ_DONTWAIT) : -1;
    bool extra = got >= 0 && zmq_msg_more(&body);
    if (extra) { /* a message arrives whole, so the rest is already here */
        zmq_msg_t rest;
        zmq_msg_init(&rest);
        while (zmq_msg_recv(&rest, socket, ZMQ_DONTWAIT) >= 0 && zmq_msg_more(&rest))
            ;
        zmq_msg_close(&rest);
    }
    b->peer = (peer_t){.socket = socket, .rid = zmq_msg_data(&rid), .rid_len = zmq_msg_size(&rid)};
    b->peer.secure = socket == b->workers ? b->secure_workers : b->secure_clients;
    const char *user = b->peer.secure && got >= 0 ? zmq_msg_gets(&body, "User-Id") : NULL;
    if (user)
        b->peer.principal = auth_lookup(b->auth, user, strlen(user));
    if (socket == b->workers) {
        b->peer.worker = idmap_get(b->worker_map, b->peer.rid, b->peer.rid_len);
        /* a registration belongs to its key, not only to its routing id */
        if (b->peer.worker && b->peer.secure &&
            (!b->peer.principal || strcmp(b->peer.worker->key, b->peer.principal->key) != 0))
            b->peer.worker = NULL;
        if (b->peer.worker)
            b->peer.worker->last_recv = b->now;
    } else if (b->peer.principal) {
        client_seen(b);
    }
    if (got < 0 || extra) {
        reply_error(b, "malformed", 0, "a message is exactly one frame after the routing id");
    } else {
        handle(b, commands, zmq_msg_data(&body), zmq_msg_size(&body));
    }
    zmq_msg_close(&body);
    zmq_msg_close(&rid);
    return 1;
}

/* One turn reads both sockets, whichever woke the loop, and commits once.
 * Workers first: their answers free credit that the turn's submissions can
 * use. Passes go on while either socket has more (what arrives meanwhile
 * joins the commit), up to TURN_MAX messages. A turn per socket would cost
 * two fsyncs where one does, and hold each worker's credit for both. */
static void drain(broker_t *b)
{
    clock_update(b);
    int total = 0, got;
    do {
        got = 0;
        for (int i = 0; i < RECV_BATCH && recv_one(b, b->workers, worker_commands); i++)
            got++;
        for (int i = 0; i < RECV_BATCH && recv_one(b, b->clients, client_commands); i++)
            got++;
        total += got;
    } while (got && total < TURN_MAX);
    end_turn(b);
}

/* Either socket's input starts a turn that reads both. */
static void on_socket(void *socket, void *arg)
{
    (void)socket;
    drain(arg);
}

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    clock_update(b);
    b->timer_at = UINT64_MAX;
    dl_timer_t *t;
    while ((t = dl_heap_pop_due(b->heap, b->now))) {
        dtimer_t *dt = (dtimer_t *)t;
        if (dt == &dt->d->ack_timer)
            on_ack_timeout(b, dt->d);
        else
            on_answer_timeout(b, dt->d);
    }
    end_turn(b);
}

/* Drops closed requests past the retention period from the store, a batch
 * at a time; a full batch means more are due, so the next tick goes on. */
static void purge(broker_t *b)
{
    /* a short retention (a test's) is purged at a tenth of it */
    uint64_t every = b->conf->retention_ms / 10;
    if (every > PURGE_EVERY_MS)
        every = PURGE_EVERY_MS;
    if (!b->store || b->store_failed || b->now - b->last_purge < every ||
        b->now_wall < b->conf->retention_ms)
        return;
    long n = store_purge(b->store, b->now_wall - b->conf->retention_ms, PURGE_BATCH);
    if (n < 0)
        LOG(b, LOG_ERROR, "purge of old requests failed: %s", store_error(b->store));
    else if (n > 0)
        LOG(b, LOG_INFO, "purged %ld requests closed over the retention period", n);
    if (n < PURGE_BATCH)
        b->last_purge = b->now;
}

/* A PUB cannot close one subscriber's connection. To cut off a dashboard
 * whose key a reload revoked, the events socket closes them all (unbind)
 * and binds again once its monitor says the listener is closed (a TCP
 * listener holds its port until then). Dashboards with valid keys
 * reconnect by themselves (ZeroMQ) and resync on the gap in seq; the
 * revoked one fails its handshake. A bind that fails is tried again every
 * tick. */
static void events_bind_again(broker_t *b)
{
    if (zmq_bind(b->events, b->events_rebind) < 0) {
        if (!b->events_bind_failed)
            LOG(b, LOG_ERROR, "events: cannot bind %s again (%s): no dashboard can connect until "
                              "it can; trying again every heartbeat", b->events_rebind,
                zmq_strerror(errno));
        b->events_bind_failed = true;
        return;
    }
    LOG(b, LOG_INFO, "events: listening on %s again", b->events_rebind);
    free(b->events_rebind);
    b->events_rebind = NULL;
    b->events_closed = b->events_bind_failed = false;
}

static void on_events_monitor(void *monitor, void *arg)
{
    broker_t *b = arg;
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (zmq_msg_recv(&part, monitor, ZMQ_DONTWAIT) >= 0) /* [event][endpoint], CLOSED only */
        b->events_closed = b->events_closed || (b->events_rebind && !zmq_msg_more(&part));
    zmq_msg_close(&part);
    if (b->events_closed && b->events_rebind)
        events_bind_again(b);
    zev_rearm(b->events_monitor_ev);
}

static int events_monitor_new(broker_t *b)
{
    static const char ep[] = "inproc://mizd-events-monitor";
    if (zmq_socket_monitor(b->events, ep, ZMQ_EVENT_CLOSED) < 0 ||
        !(b->events_monitor = zmq_socket(b->zctx, ZMQ_PAIR)) ||
        zmq_connect(b->events_monitor, ep) < 0 ||
        !(b->events_monitor_ev = zev_new(b->base, b->events_monitor, on_events_monitor, b)))
        return -1;
    return 0;
}

static void events_reopen(broker_t *b)
{
    char ep[256];
    size_t len = sizeof ep;
    if (b->events_rebind) /* unbound already: nobody could connect since */
        return;
    if (zmq_getsockopt(b->events, ZMQ_LAST_ENDPOINT, ep, &len) < 0 || zmq_unbind(b->events, ep) < 0) {
        LOG(b, LOG_ERROR, "events: cannot close the subscriptions of a revoked dashboard key: %s",
            zmq_strerror(errno));
        return;
    }
    b->events_rebind = xstrdup(ep);
    LOG(b, LOG_INFO, "events: a reload revoked a dashboard's key: every subscription on %s is "
                     "closed, and the socket binds again", ep);
}

/* Heartbeats: drop workers silent for LIVENESS intervals, and speak to the
 * ones we have not spoken to for one. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    clock_update(b);
    uint64_t hb = b->heartbeat_ms;
    for (size_t i = 0; i < b->n_agencies; i++) {
        agency_rt_t *a = &b->agencies[i];
        for (size_t k = a->n_workers; k-- > 0;) {
            worker_t *w = a->workers[k];
            if (b->now - w->last_recv > LIVENESS * hb) {
                worker_kill(b, w, "heartbeats missed");
            } else if (b->now - w->last_send >= hb) {
                msg_begin(b, "heartbeat", 0);
                send_worker(b, w);
            }
        }
    }
    purge(b);
    forget_buckets(b);
    forget_holders(b);
    publish_counters(b);
    log_limit_flush(&b->error_lines);
    log_limit_flush(&b->forbidden_lines);
    if (b->snapshots) /* paused while the store failed */
        event_active(b->snapshot_ev, 0, 0);
    if (b->auth)
        auth_tick(b->auth);
    if (b->events_closed && b->events_rebind)
        events_bind_again(b);
    end_turn(b);
}

/* ---- life cycle ---- */

/* Whether an endpoint can be reached only from this machine. */
static bool loopback(const char *ep)
{
    static const char *const local[] = {"ipc://", "inproc://", "tcp://127.", "tcp://localhost:",
                                        "tcp://[::1]:"};
    for (size_t i = 0; i < sizeof local / sizeof *local; i++)
        if (strncmp(ep, local[i], strlen(local[i])) == 0)
            return true;
    return false;
}

static bool curve_for(const broker_conf_t *c, const char *ep)
{
    return c->security.curve == CURVE_ON || (c->security.curve == CURVE_AUTO && !loopback(ep));
}

/* A bound ROUTER (clients, workers) or PUB (events); domain names it to the
 * ZAP handler, which decides who may connect when it has CURVE. */
static void *socket_new(broker_t *b, int type, const char *endpoint, const char *domain,
                        bool curve, char *err, size_t errlen)
{
    void *s = zmq_socket(b->zctx, type);
    int one = 1, hwm = SEND_HWM, linger = LINGER_MS;
    int64_t maxmsg = (int64_t)b->max_message;
    bool router = type == ZMQ_ROUTER;
    /* handover: a client that reconnects with its routing id takes it over
     * (its outcomes follow it); workers reconnect with new ids, so a second
     * connection with a worker's id is refused, never handed its work */
    bool handover = router && strcmp(domain, "clients") == 0;
    const char *secret = curve ? auth_server_secret(b->auth) : NULL;
    /* a ZAP domain makes ZeroMQ ask the handler about plain peers too */
    if (!s || (router && zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one) < 0) ||
        (handover && zmq_setsockopt(s, ZMQ_ROUTER_HANDOVER, &one, sizeof one) < 0) ||
        (curve && zmq_setsockopt(s, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) < 0) ||
        (curve && zmq_setsockopt(s, ZMQ_CURVE_SERVER, &one, sizeof one) < 0) ||
        (curve && zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, secret, strlen(secret) + 1) < 0) ||
        zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm) < 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(s, ZMQ_MAXMSGSIZE, &maxmsg, sizeof maxmsg) < 0 ||
        zmq_bind(s, endpoint) < 0) {
        snprintf(err, errlen, "cannot bind %s: %s", endpoint, zmq_strerror(errno));
        if (s)
            zmq_close(s);
        return NULL;
    }
    return s;
}

static void log_bound(broker_t *b, const char *what, void *s)
{
    char ep[256];
    size_t len = sizeof ep;
    if (zmq_getsockopt(s, ZMQ_LAST_ENDPOINT, ep, &len) == 0)
        LOG(b, LOG_INFO, "listening for %s on %s", what, ep);
}

broker_t *broker_new(struct event_base *base, table_t *table, const broker_opts_t *opts,
                     char *err, size_t errlen)
{
    broker_t *b = xcalloc(1, sizeof *b);
    b->base = base;
    b->routing = routing_new(b, table);
    b->conf = table_conf(table);
    b->heartbeat_ms = b->conf->heartbeat_ms;
    b->max_message = b->conf->max_message;
    b->clients_endpoint = opts->clients_endpoint ? NULL : xstrdup(b->conf->clients_endpoint);
    b->workers_endpoint = opts->workers_endpoint ? NULL : xstrdup(b->conf->workers_endpoint);
    b->events_endpoint = opts->events_endpoint ? NULL : xstrdup(b->conf->events_endpoint);
    b->data_dir = opts->data_dir || opts->memory ? NULL : xstrdup(b->conf->data_dir);
    b->log_level = opts->log_level;
    b->error_lines = (log_limit_t){.what = "error replies", .level = LOG_INFO};
    b->forbidden_lines = (log_limit_t){.what = "forbidden messages", .level = LOG_WARN};
    b->next = (store_counters_t){1, 1, 1};
    b->timer_at = UINT64_MAX;
    b->dirty_tail = &b->dirty;
    clock_update(b);
    msgpack_sbuffer_init(&b->out);
    msgpack_sbuffer_init(&b->scratch);
    msgpack_sbuffer_init(&b->outbox);
    msgpack_sbuffer_init(&b->ev);
    msgpack_packer_init(&b->ev_pk, &b->ev, msgpack_sbuffer_write);
    b->run = b->now_wall;
    msgpack_packer_init(&b->pk, &b->out, msgpack_sbuffer_write);
    b->requests = idmap_new(request_key_eq);
    b->deliveries = idmap_new(delivery_key_eq);
    b->worker_map = idmap_new(worker_key_eq);
    b->refs = idmap_new(ref_key_eq);
    b->buckets = idmap_new(bucket_key_eq);
    b->holders = idmap_new(holder_key_eq);
    b->heap = dl_heap_new();
    b->zctx = zmq_ctx_new();
    if (!b->requests || !b->deliveries || !b->worker_map || !b->refs || !b->buckets ||
        !b->holders || !b->heap || !b->zctx) {
        snprintf(err, errlen, "out of memory");
        broker_destroy(&b);
        return NULL;
    }
    if (!opts->memory) {
        const char *dir = opts->data_dir ? opts->data_dir : b->conf->data_dir;
        if (!(b->store = store_open(dir, err, errlen)) || recover(b, err, errlen) < 0) {
            broker_destroy(&b);
            return NULL;
        }
    }
    const char *cep = opts->clients_endpoint ? opts->clients_endpoint : b->conf->clients_endpoint;
    const char *wep = opts->workers_endpoint ? opts->workers_endpoint : b->conf->workers_endpoint;
    const char *eep = opts->events_endpoint ? opts->events_endpoint : b->conf->events_endpoint;
    b->secure_clients = curve_for(b->conf, cep);
    b->secure_workers = curve_for(b->conf, wep);
    bool secure_events = curve_for(b->conf, eep);
    /* the ZAP handler first: a CURVE socket bound before it would let anyone in */
    if ((b->secure_clients || b->secure_workers || secure_events) &&
        !(b->auth = auth_new(b->zctx, base, &b->conf->security, b->log_level, err, errlen))) {
        broker_destroy(&b);
        return NULL;
    }
    if (!(b->clients = socket_new(b, ZMQ_ROUTER, cep, "clients", b->secure_clients, err, errlen)) ||
        !(b->workers = socket_new(b, ZMQ_ROUTER, wep, "workers", b->secure_workers, err, errlen)) ||
        !(b->events = socket_new(b, ZMQ_PUB, eep, "events", secure_events, err, errlen))) {
        broker_destroy(&b);
        return NULL;
    }
    uint64_t hb = b->heartbeat_ms;
    struct timeval tick = {(time_t)(hb / 1000), (suseconds_t)(hb % 1000) * 1000};
    b->deadline_ev = evtimer_new(base, on_deadline, b);
    b->tick_ev = event_new(base, -1, EV_PERSIST, on_tick, b);
    b->snapshot_ev = event_new(base, -1, 0, on_snapshots, b);
    b->clients_ev = zev_new(base, b->clients, on_socket, b);
    b->workers_ev = zev_new(base, b->workers, on_socket, b);
    if (!b->deadline_ev || !b->tick_ev || !b->snapshot_ev || !b->clients_ev || !b->workers_ev ||
        event_add(b->tick_ev, &tick) < 0 || (secure_events && events_monitor_new(b) < 0)) {
        snprintf(err, errlen, "cannot set up the event loop");
        broker_destroy(&b);
        return NULL;
    }
    log_bound(b, "clients", b->clients);
    log_bound(b, "workers", b->workers);
    log_bound(b, "events", b->events);
    return b;
}

/* A setting a reload cannot change on a running broker (in_use NULL: the
 * command line set it, and the table's value never counted). */
static void keep_setting(broker_t *b, const char *what, const char *in_use, const char *new)
{
    if (in_use && strcmp(in_use, new) != 0)
        LOG(b, LOG_WARN, "reload: %s stays %s until mizd restarts", what, in_use);
}

/* A worker whose key a reload removed, or gave another role or agency, is
 * dropped: what it held is offered to the agency's other workers at once,
 * not when its deadlines pass (its connection stays open; every message on
 * it is refused). */
static void drop_revoked_workers(broker_t *b)
{
    for (size_t k = 0; k < b->n_agencies; k++) {
        agency_rt_t *a = &b->agencies[k];
        for (size_t i = a->n_workers; i-- > 0;) { /* worker_kill moves the last into i */
            worker_t *w = a->workers[i];
            if (!w->key[0])
                continue; /* it registered without CURVE */
            const principal_t *p = auth_lookup(b->auth, w->key, strlen(w->key));
            if (!p || p->role != KEY_WORKER || strcmp(p->agency, a->id) != 0)
                worker_kill(b, w, "a reload revoked its key");
        }
    }
}

int broker_reload(broker_t *b, table_t *table, char *err, size_t errlen)
{
    const broker_conf_t *new = table_conf(table);
    unsigned lost = 0;
    if (b->auth && auth_reload(b->auth, &new->security, &lost, err, errlen) < 0)
        return -1;
    keep_setting(b, "endpoints.clients", b->clients_endpoint, new->clients_endpoint);
    keep_setting(b, "endpoints.workers", b->workers_endpoint, new->workers_endpoint);
    keep_setting(b, "endpoints.events", b->events_endpoint, new->events_endpoint);
    keep_setting(b, "data_dir", b->data_dir, new->data_dir);
    if (b->heartbeat_ms != new->heartbeat_ms || b->max_message != new->max_message)
        LOG(b, LOG_WARN, "reload: heartbeat stays %llu ms and max_message %zu bytes until mizd "
                         "restarts", (unsigned long long)b->heartbeat_ms, b->max_message);
    routing_t *g = routing_new(b, table);
    routing_release(&b->routing);
    b->routing = g;
    b->conf = new;
    LOG(b, LOG_INFO, "routing table reloaded: %zu agencies, %zu routes; %zu open requests keep "
                     "their routes", table_agency_count(table), table_route_count(table),
        b->open_requests);
    if (b->events_monitor && (lost & 1u << KEY_DASHBOARD))
        events_reopen(b); /* first: the events of the turn below are not for it */
    if (b->auth) {
        clock_update(b);
        drop_revoked_workers(b);
        end_turn(b);
    }
    return 0;
}

static void on_stop_check(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    broker_t *b = arg;
    clock_update(b);
    if (b->now - b->last_work >= STOP_QUIET_MS || b->now >= b->stop_by)
        event_base_loopbreak(b->base);
}

void broker_stop(broker_t *b)
{
    if (b->stopping) {
        event_base_loopbreak(b->base);
        return;
    }
    clock_update(b);
    b->stopping = true;
    b->stop_by = b->now + STOP_MAX_MS;
    struct timeval every = {0, 20 * 1000};
    b->stop_ev = event_new(b->base, -1, EV_PERSIST, on_stop_check, b);
    if (!b->stop_ev || event_add(b->stop_ev, &every) < 0)
        event_base_loopbreak(b->base);
}

void broker_stats(const broker_t *b, broker_stats_t *st)
{
    *st = (broker_stats_t){.open_requests = b->open_requests, .store_failed = b->store_failed};
    for (size_t i = 0; i < b->n_agencies; i++)
        st->workers += b->agencies[i].n_workers;
}

static void say_goodbye(broker_t *b)
{
    for (size_t i = 0; i < b->n_agencies; i++) {
        agency_rt_t *a = &b->agencies[i];
        for (size_t k = 0; k < a->n_workers; k++) {
            msg_begin(b, "bye", 0);
            send_now(b->workers, a->workers[k]->rid, a->workers[k]->rid_len, b->out.data,
                     b->out.size);
        }
    }
}

/* Workers killed in the last turn, freed without offering anything again. */
static void reap_dead_memory(broker_t *b)
{
    while (b->dead) {
        worker_t *w = b->dead;
        b->dead = w->next_dead;
        worker_free(w);
    }
}

void broker_destroy(broker_t **bp)
{
    broker_t *b = *bp;
    if (!b)
        return;
    if (b->workers)
        say_goodbye(b);
    zev_destroy(&b->clients_ev);
    zev_destroy(&b->workers_ev);
    /* the monitor stops before its reader goes: closing the events socket
     * tells it, and libzmq would block its I/O thread on a monitor with no
     * reader until the context ends */
    if (b->events)
        zmq_socket_monitor(b->events, NULL, 0);
    zev_destroy(&b->events_monitor_ev);
    if (b->events_monitor)
        zmq_close(b->events_monitor);
    free(b->events_rebind);
    if (b->deadline_ev)
        event_free(b->deadline_ev);
    if (b->tick_ev)
        event_free(b->tick_ev);
    if (b->stop_ev)
        event_free(b->stop_ev);
    if (b->snapshot_ev)
        event_free(b->snapshot_ev);
    while (b->snapshots) { /* before the store: each holds a read of it */
        snapshot_t *s = b->snapshots;
        b->snapshots = s->next;
        snapshot_destroy(&s);
    }
    if (b->clients)
        zmq_close(b->clients);
    if (b->workers)
        zmq_close(b->workers);
    if (b->events)
        zmq_close(b->events);
    auth_destroy(&b->auth);
    if (b->zctx)
        zmq_ctx_term(b->zctx);
    if (b->requests) {
        request_t *r;
        for (size_t c = 0; (r = idmap_next(b->requests, &c));)
            request_drop(r);
    }
    reap_dead_memory(b);
    if (b->agencies)
        for (size_t i = 0; i < b->n_agencies; i++) {
            agency_rt_t *a = &b->agencies[i];
            for (size_t k = 0; k < a->n_workers; k++)
                worker_free(a->workers[k]);
            free(a->workers);
            free(a->id);
        }
    free(b->agencies);
    idmap_destroy(&b->requests);
    idmap_destroy(&b->deliveries);
    idmap_destroy(&b->worker_map);
    idmap_destroy(&b->refs);
    if (b->buckets) {
        bucket_t *k;
        for (size_t c = 0; (k = idmap_next(b->buckets, &c));)
            free(k);
        idmap_destroy(&b->buckets);
    }
    if (b->holders) {
        holder_t *h;
        for (size_t c = 0; (h = idmap_next(b->holders, &c));)
            free(h);
        idmap_destroy(&b->holders);
    }
    dl_heap_destroy(&b->heap);
    msgpack_sbuffer_destroy(&b->out);
    msgpack_sbuffer_destroy(&b->scratch);
    msgpack_sbuffer_destroy(&b->outbox);
    msgpack_sbuffer_destroy(&b->ev);
    store_destroy(&b->store);
    routing_release(&b->routing);
    free(b->clients_endpoint);
    free(b->workers_endpoint);
    free(b->events_endpoint);
    free(b->data_dir);
    free(b);
    *bp = NULL;
}

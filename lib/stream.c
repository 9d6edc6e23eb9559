/* stream: the subscriber of lib/stream.h, which keeps a replica exact from
 * the broker's event stream (docs/protocol.md, sections 8.1 and 8.3).
 *
 * This is the Clone pattern's state machine: the SUB socket's events move
 * the replica on while they follow one another; a gap in `seq`, a new
 * `run`, a `counters.seq` past the last event or a malformed event asks
 * for a snapshot (stream_snapshot.c), and the events that come meanwhile
 * are queued and applied on top of it once it is complete. An event or
 * counters of another `epoch` is a gap too: another broker took over.
 *
 * With lists of endpoints, a pair (events, clients) is used at a time: a
 * snapshot left unanswered, or an events socket silent for MIZ_LIVENESS
 * counters intervals, moves both sockets to the next pair, the Binary Star
 * client's rule, and asks that broker for a snapshot. The sockets are
 * disconnected and connected again rather than opened anew, so their
 * ZMQ_FDs, which the caller's event loop watches, stay the same. Decoding
 * the messages into records is stream_replica.c's. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cert.h"
#include "clock.h"
#include "endpoints.h"
#include "proto.h"
#include "stream_private.h"
#include "wire.h"

/* A snapshot with no part for this long after it was asked for, or after
 * its last part, is asked for again: the broker may have died meanwhile. */
#define SNAPSHOT_TIMEOUT_MS 3000
/* Events queued while a snapshot is awaited, past which the sync starts
 * over rather than grow without bound behind a broker that never answers. */
#define QUEUE_MAX 1000000
#define PRUNE_EVERY_MS 60000

struct miz_stream {
    void *zctx;
    bool own_ctx;
    void *sub, *dealer;
    endpoints_t events, clients; /* pairs: the same index in both is one broker */
    uint64_t sub_heard_at;       /* monotonic ms: the SUB's last message */
    uint64_t counters_mono;      /* when the latest counters came, monotonic ms */
    uint64_t counters_every;     /* the interval between the last two; 0 before */
    uint64_t keep_ms;
    miz_replica_t *replica; /* the last complete one */
    miz_replica_t *staging; /* being filled by a snapshot; NULL when synced */
    stream_snap_t snap;
    uint64_t snap_heard_at, next_seq, next_prune;
    wire_msg_t **queue; /* events that came while the snapshot was awaited */
    size_t n_queue, cap_queue;
    wire_msg_t *counters;
    miz_stream_stats_t stats;
};

static void stream_queue_clear(miz_stream_t *s)
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
    stream_replica_clear(s->staging);
    stream_queue_clear(s);
    if (s->next_seq > 1) /* not the first */
        s->stats.resyncs++;
    s->snap = (stream_snap_t){.seq_sent = s->next_seq++};
    s->snap_heard_at = clock_ms(CLOCK_MONOTONIC);
    uint64_t now = clock_ms(CLOCK_REALTIME);
    uint64_t since = now > s->keep_ms ? now - s->keep_ms : 0;
    return stream_snapshot_send(s->dealer, s->snap.seq_sent, since);
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

/* The lists, checked: pairs, so as many of each. */
static int stream_endpoints(miz_stream_t *s, const char *events_ep, const char *clients_ep)
{
    if (endpoints_init(&s->events, events_ep) < 0 || endpoints_init(&s->clients, clients_ep) < 0)
        return -1;
    if (s->events.n != s->clients.n) {
        errno = EINVAL;
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
    s->sub_heard_at = clock_ms(CLOCK_MONOTONIC);
    int linger = 0;
    if (stream_endpoints(s, events_ep, clients_ep) == 0 && s->zctx && s->replica &&
        (s->sub = zmq_socket(s->zctx, ZMQ_SUB)) &&
        zmq_setsockopt(s->sub, ZMQ_LINGER, &linger, sizeof linger) == 0 &&
        stream_subscribe(s->sub) == 0 && miz_curve_set(s->sub, curve) == 0 &&
        zmq_connect(s->sub, endpoints_current(&s->events)) == 0 &&
        (s->dealer = stream_snapshot_dealer(s->zctx, endpoints_current(&s->clients), curve)) &&
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
    stream_queue_clear(s);
    free(s->queue);
    wire_msg_destroy(&s->counters);
    miz_replica_destroy(&s->replica);
    miz_replica_destroy(&s->staging);
    endpoints_fini(&s->events);
    endpoints_fini(&s->clients);
    free(s);
    *sp = NULL;
}

/* Applies an event that must follow the last one: 1 applied, 0 a gap or a
 * new run (the caller resyncs), -1 malformed (resync too). */
static int stream_apply(miz_stream_t *s, const wire_msg_t *w)
{
    uint64_t seq, run, epoch;
    if (wire_uint(w, "seq", &seq) != WIRE_OK || wire_uint(w, "run", &run) != WIRE_OK ||
        !stream_epoch(w, &epoch))
        return -1;
    if (run != s->stats.run || epoch != s->stats.epoch || seq != s->stats.seq + 1)
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
    s->stats.epoch = s->snap.epoch;
    s->stats.snapshots++;
    for (size_t i = 0; i < s->n_queue; i++) {
        uint64_t seq, run, epoch;
        if (wire_uint(s->queue[i], "seq", &seq) == WIRE_OK &&
            wire_uint(s->queue[i], "run", &run) == WIRE_OK && stream_epoch(s->queue[i], &epoch) &&
            run == s->stats.run && epoch == s->stats.epoch && seq <= s->stats.seq)
            continue; /* in the snapshot already */
        if (stream_apply(s, s->queue[i]) != 1)
            return stream_resync(s);
    }
    stream_queue_clear(s);
    return 0;
}

static int stream_on_event(miz_stream_t *s, wire_msg_t *w, bool *changed)
{
    if (s->staging) {
        if (s->n_queue >= QUEUE_MAX) {
            wire_msg_destroy(&w);
            return stream_resync(s);
        }
        if (!stream_grow((void **)&s->queue, s->n_queue, &s->cap_queue, sizeof *s->queue)) {
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

static int stream_on_counters(miz_stream_t *s, wire_msg_t *w)
{
    uint64_t seq, run, epoch, now = clock_ms(CLOCK_MONOTONIC);
    if (s->counters_mono)
        s->counters_every = now - s->counters_mono;
    s->counters_mono = now;
    wire_msg_destroy(&s->counters);
    s->counters = w;
    if (s->staging || wire_uint(w, "seq", &seq) != WIRE_OK || wire_uint(w, "run", &run) != WIRE_OK)
        return 0;
    /* counters need not carry the epoch: only one they carry is compared */
    bool other_epoch = wire_uint(w, "epoch", &epoch) == WIRE_OK && epoch != s->stats.epoch;
    /* a quiet subscriber learns here of events it missed */
    return run != s->stats.run || other_epoch || seq > s->stats.seq ? stream_resync(s) : 0;
}

/* Leaves the pair of endpoints in use for the next one and asks its broker
 * for a snapshot: the one in use went silent. */
static int stream_move(miz_stream_t *s)
{
    if (zmq_disconnect(s->sub, endpoints_current(&s->events)) < 0 ||
        zmq_disconnect(s->dealer, endpoints_current(&s->clients)) < 0 ||
        zmq_connect(s->sub, endpoints_advance(&s->events)) < 0 ||
        zmq_connect(s->dealer, endpoints_advance(&s->clients)) < 0)
        return -1;
    s->stats.moves++;
    s->stats.endpoint = s->events.at;
    s->sub_heard_at = clock_ms(CLOCK_MONOTONIC);
    s->counters_mono = s->counters_every = 0; /* the next broker's heartbeat may differ */
    return stream_resync(s);
}

/* Whether the broker in use is silent: a snapshot unanswered, or no
 * message on the SUB (counters come every heartbeat) for MIZ_LIVENESS
 * intervals, SNAPSHOT_TIMEOUT_MS at the least. */
static bool stream_silent(const miz_stream_t *s, uint64_t now)
{
    if (s->staging)
        return now - s->snap_heard_at > SNAPSHOT_TIMEOUT_MS;
    uint64_t limit = MIZ_LIVENESS * s->counters_every;
    return now - s->sub_heard_at > (limit > SNAPSHOT_TIMEOUT_MS ? limit : SNAPSHOT_TIMEOUT_MS);
}

static int stream_on_reply(miz_stream_t *s, wire_msg_t *w, bool *changed)
{
    int took = s->staging ? stream_snapshot_take(&s->snap, w, s->staging) : 0;
    wire_msg_destroy(&w);
    if (took < 0) {
        /* an error or a bad part: asked again when the snapshot times out,
         * not at once, which would hammer a broker that cannot answer */
        stream_replica_clear(s->staging);
        s->snap = (stream_snap_t){0};
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
        while ((w = stream_recv(s->sub, topic, sizeof topic)) || errno == EPROTO) {
            progress = true;
            s->sub_heard_at = clock_ms(CLOCK_MONOTONIC);
            int rc = 0;
            if (!w)
                continue; /* undecodable: not ours to read */
            int t = MIZ_NAME_FIND(miz_stream_topic_names, topic, strlen(topic));
            if (t == MIZ_TOPIC_EVENT)
                rc = stream_on_event(s, w, &changed);
            else if (t == MIZ_TOPIC_COUNTERS)
                rc = stream_on_counters(s, w);
            else
                wire_msg_destroy(&w);
            if (rc < 0)
                return -1;
        }
        if (errno != EAGAIN)
            return -1;
        while ((w = stream_recv(s->dealer, NULL, 0)) || errno == EPROTO) {
            progress = true;
            if (w && stream_on_reply(s, w, &changed) < 0)
                return -1;
        }
        if (errno != EAGAIN)
            return -1;
        if (stream_silent(s, clock_ms(CLOCK_MONOTONIC))) {
            /* with one pair, a silent SUB is only a quiet broker; a
             * snapshot unanswered is asked for again */
            int rc = s->events.n > 1 ? stream_move(s) : s->staging ? stream_resync(s) : 0;
            if (rc < 0)
                return -1;
            progress = progress || s->staging;
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

const char *miz_stream_events_endpoint(const miz_stream_t *s)
{
    return endpoints_current(&s->events);
}

const char *miz_stream_clients_endpoint(const miz_stream_t *s)
{
    return endpoints_current(&s->clients);
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

/* stream: an exact replica of the broker's requests, kept from its event
 * stream with the ZeroMQ guide's Clone pattern (docs/protocol.md, section 8).
 *
 * A replica holds requests with their deliveries and histories, as `status`
 * shows them (without client_ref, payload, texts and notes, which the
 * stream never publishes). It is filled from `snapshot` parts and then
 * moved on by `event`s; miz_replica_* are pure and need no broker.
 *
 * A stream subscribes to the events socket, asks the clients socket for a
 * snapshot, and keeps its replica exact: a gap in `seq`, a new `run` (the
 * broker restarted), a new `epoch` (another broker took over), a
 * `counters.seq` past the last event, a malformed event or a snapshot left
 * unanswered make it ask for a snapshot again. The replica shown meanwhile
 * is the last complete one.
 *
 * Given lists of endpoints (miz.h, "Several brokers"), the i-th events
 * endpoint and the i-th clients endpoint are one broker's pair. The stream
 * uses one pair at a time and moves to the next, and takes a new snapshot
 * there, when a snapshot goes unanswered or when the events socket is
 * silent for MIZ_LIVENESS intervals of the broker's counters (3 s at the
 * least).
 *
 * Strings in the records are NUL-terminated copies, checked as UTF-8 by the
 * wire codec; role, state, priority and event names point into proto.h's
 * name tables (miz_role_names, miz_state_names, miz_priority_names,
 * miz_event_names), so they compare with == as well as strcmp. */
#ifndef MIZ_STREAM_H
#define MIZ_STREAM_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "miz.h"
#include "proto.h"

typedef struct {
    uint64_t at;
    const char *event; /* "queued", "offered", "acked", ... */
    uint64_t worker;
} miz_hist_t;

typedef struct {
    uint64_t id;
    char agency[MIZ_AGENCY_MAX + 1];
    const char *role;  /* "target", "escalation", "observe", "breach" */
    const char *state; /* "queued", "offered", "acked", "answered", ... */
    bool overdue;
    uint64_t level, attempts, created, ack_by, answer_by, from;
    char outcome[MIZ_OUTCOME_MAX + 1]; /* the answer's outcome code; "" until answered */
    size_t n_history;
    miz_hist_t *history;
    size_t cap_history;
} miz_delivery_t;

typedef struct {
    uint64_t tracking;
    char topic[MIZ_TOPIC_MAX + 1];
    char kind[MIZ_KIND_MAX + 1];
    const char *priority; /* "routine" or "urgent" */
    bool closed;
    uint64_t created, closed_at;
    size_t n_deliveries;
    miz_delivery_t *deliveries;
    size_t cap_deliveries;
} miz_request_t;

/* True for the states of a delivery still open: queued, offered, acked. */
bool miz_delivery_open(const miz_delivery_t *d);
/* The time of the delivery's first history entry of that event, or 0. */
uint64_t miz_delivery_first(const miz_delivery_t *d, const char *event);

/* ---- the replica ---- */

typedef struct miz_replica miz_replica_t;

miz_replica_t *miz_replica_new(void);
void miz_replica_destroy(miz_replica_t **r);
/* Adds or replaces a request from a request object of a `snapshot` part or
 * a `status` reply; 0, or -1 (the replica unchanged) if it is not one. */
int miz_replica_put(miz_replica_t *r, const msgpack_object *request);
/* Applies one `event` map; 0, or -1 (unchanged) if it is not one. A
 * delivery event for a request the replica lacks (e.g. a copy still open
 * on a request closed before the snapshot's `since`) makes that request
 * from the event's fields, with what the events tell from then on. */
int miz_replica_apply(miz_replica_t *r, const msgpack_object *event);
/* Forgets the closed requests that closed before ms. */
void miz_replica_prune(miz_replica_t *r, uint64_t before_ms);
/* Requests in tracking order. */
size_t miz_replica_count(const miz_replica_t *r);
const miz_request_t *miz_replica_at(const miz_replica_t *r, size_t i);
const miz_request_t *miz_replica_find(const miz_replica_t *r, uint64_t tracking);

/* Asks the broker's clients endpoint for one snapshot of the requests open
 * or closed at or after since_ms, waiting up to timeout_ms for all its
 * parts; fills r (emptied first). clients_ep may be a list (miz.h): a
 * broker with no complete answer in time is left for the next, once round
 * the list, so this may take that many timeouts. 0, or -1 with errno
 * (EAGAIN: no complete answer in time; EPROTO: a part that is not one;
 * EINVAL: not an endpoint list). zctx may be NULL; curve (a dashboard's
 * keys) NULL for a plain endpoint. */
int miz_snapshot_fetch(void *zctx, const char *clients_ep, const miz_curve_t *curve,
                       uint64_t since_ms, int timeout_ms, miz_replica_t *r);

/* ---- the stream ---- */

typedef struct miz_stream miz_stream_t;

/* Keeps the requests open or closed within the last keep_ms: each snapshot
 * asks for since = now - keep_ms, and older closed ones are pruned.
 * events_ep and clients_ep: one endpoint each, or lists of the same length
 * (EINVAL otherwise). */
miz_stream_t *miz_stream_new(void *zctx, const char *events_ep, const char *clients_ep,
                             const miz_curve_t *curve, uint64_t keep_ms);
void miz_stream_destroy(miz_stream_t **s);

/* Reads everything waiting on both sockets, waiting up to timeout_ms for
 * the first message (0: only what is there; < 0: forever); also times out
 * a snapshot and prunes. 1 when the replica changed, 0 when not, -1 on a
 * ZeroMQ error. */
int miz_stream_pump(miz_stream_t *s, int timeout_ms);
/* The two sockets' ZMQ_FD, for an event loop: on either, call pump(s, 0). */
int miz_stream_fds(const miz_stream_t *s, int fds[2]);
/* The endpoints in use, of the lists given. */
const char *miz_stream_events_endpoint(const miz_stream_t *s);
const char *miz_stream_clients_endpoint(const miz_stream_t *s);
/* The SUB socket itself: what is read from it past the stream is lost to
 * the stream, as when the PUB drops messages (the tests do this). */
void *miz_stream_sub(const miz_stream_t *s);

const miz_replica_t *miz_stream_replica(const miz_stream_t *s);
/* Whether the replica is exact now (a snapshot arrived and no gap since). */
bool miz_stream_synced(const miz_stream_t *s);
typedef struct {
    uint64_t run, seq;      /* of the last event applied (or the snapshot) */
    uint64_t epoch;         /* of the snapshot, and so of every event applied since */
    uint64_t events;        /* events applied */
    uint64_t resyncs;       /* snapshots asked for after the first */
    uint64_t snapshots;     /* snapshots taken in */
    uint64_t moves;         /* moves to the next pair of endpoints */
    size_t endpoint;        /* the pair in use: its index in the lists */
} miz_stream_stats_t;
void miz_stream_stats(const miz_stream_t *s, miz_stream_stats_t *st);
/* The latest `counters` map, or NULL before the first; valid until the
 * next pump. */
const msgpack_object *miz_stream_counters(const miz_stream_t *s);

#endif

/* engine: the request and delivery engine, without sockets or an event loop.
 *
 * Intake gateways submit requests; the engine matches each topic against
 * the routing table, answers with a tracking number and makes one delivery
 * per target agency. Deliveries wait in per-agency queues (urgent before
 * routine, oldest first) and are offered to that agency's workers within
 * each worker's credit, round robin. Deadlines (ack, answer) live in one
 * heap: a missed ack takes the delivery back and offers it again up to
 * max_attempts, a missed answer marks it overdue and escalates along the
 * route's chain while observers get a copy of the breach.
 * docs/protocol.md is the contract.
 *
 * The engine reads its clock, sends its messages and keeps its state through
 * handles (engine_io_t, store_t), so daemon/broker.c drives it from ZeroMQ
 * sockets and libevent while a unit test drives it in-process with a fake
 * clock. Work comes in turns: engine_turn_begin, any number of messages,
 * deadlines and ticks, then engine_turn_end, which writes every request the
 * turn changed in one transaction (group commit) and only then sends what the
 * turn promised. */
#ifndef MIZ_ENGINE_H
#define MIZ_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "auth.h"
#include "log.h"
#include "store.h"
#include "table.h"

typedef struct engine engine_t;

/* Where a message goes; for ENGINE_EVENTS the "routing id" is the PUB topic. */
typedef enum { ENGINE_CLIENTS, ENGINE_WORKERS, ENGINE_EVENTS } engine_socket_t;

typedef struct {
    /* Sends one message now. -1 with errno when the peer is gone
     * (EHOSTUNREACH) or not reading (EAGAIN); the engine then drops a worker. */
    int (*send)(void *ctx, engine_socket_t to, const void *rid, size_t rid_len, const void *body,
                size_t len);
    /* The monotonic and the wall clock, in ms. */
    void (*now)(void *ctx, uint64_t *mono, uint64_t *wall);
    void *ctx;
    /* commits on a thread of their own: the caller watches engine_commit_fd
     * and calls engine_commit_done; false: each turn's commit is done before
     * engine_turn_end returns (tests) */
    bool threaded_commit;
} engine_io_t;

/* Takes ownership of table and store (store NULL: state in memory only) and
 * recovers every open request from the store. auth (NULL without CURVE) is
 * the caller's, read for revocations. NULL with the reason in err. */
engine_t *engine_new(table_t *table, store_t *store, const auth_t *auth, const engine_io_t *io,
                     log_level_t log_level, char *err, size_t errlen);
void engine_destroy(engine_t **engine);

/* A turn: read the clock once, do the work, commit, send. */
void engine_turn_begin(engine_t *engine);
void engine_turn_end(engine_t *engine);

/* One message from a peer, within a turn. secure: it came over CURVE, and
 * principal is its key if mizd (still) knows it. body NULL: the message was
 * not exactly one frame after the routing id. */
void engine_receive(engine_t *engine, engine_socket_t from, const void *rid, size_t rid_len,
                    bool secure, const principal_t *principal, const void *body, size_t len);

/* Readable when the commit in flight has landed (-1 without a commit
 * thread); engine_commit_done, within a turn, then sends what it promised
 * and starts the next. engine_drain waits for every commit in flight and
 * sends what they promised (a clean stop). */
int engine_commit_fd(const engine_t *engine);
void engine_commit_done(engine_t *engine);
void engine_drain(engine_t *engine);

/* Fires every deadline due, within a turn. */
void engine_expire(engine_t *engine);
/* The monotonic ms of the next deadline; false when none is armed. */
bool engine_next_deadline(const engine_t *engine, uint64_t *at);

/* The heartbeat's work, within a turn: drops silent workers and speaks to
 * quiet ones, purges old requests, publishes counters. */
void engine_tick(engine_t *engine);

/* Whether a snapshot has a part to read from the store (none while the store
 * fails); engine_snapshots_step reads one part of each, within a turn. */
bool engine_snapshots_pending(const engine_t *engine);
void engine_snapshots_step(engine_t *engine);

/* Routes new submissions by table (taking ownership of it); open requests
 * keep the route they had. */
void engine_reload(engine_t *engine, table_t *table);
/* Drops the workers whose keys auth (read again by a reload) no longer
 * grants their agency: what they held is offered again. Within a turn. */
void engine_drop_revoked(engine_t *engine);

/* The lease of a shared store this engine holds (store_lease_take, docs/ha.md),
 * renewed at once for lease_ms (a takeover's first lease is long enough to
 * recover in; a mizd killed just after should not make the next wait it
 * out); then every commit checks epoch and renews it. -1 when that first
 * renewal fails (deposed, or the store failing: store_write_error). */
int engine_lease(engine_t *engine, uint64_t epoch, uint64_t lease_ms);
/* Whether another mizd took the lease: this engine sends nothing more and
 * must stop. */
bool engine_deposed(const engine_t *engine);

/* Refuses new submissions ("unavailable") from now on. */
void engine_stop(engine_t *engine);
/* The monotonic ms of the last command that was work (not a heartbeat). */
uint64_t engine_last_work(const engine_t *engine);

/* Sends "bye" to every registered worker, at once (a clean stop). */
void engine_say_goodbye(engine_t *engine);

typedef struct {
    size_t open_requests;
    size_t workers;
    bool store_failed;
} engine_stats_t;

void engine_stats(const engine_t *engine, engine_stats_t *stats);
const broker_conf_t *engine_conf(const engine_t *engine);

/* Decodes a stored record with recovery's checks (record.c) and drops it,
 * for mizd --check-store: NULL when it decodes, else what does not fit; its
 * tracking number and highest delivery id (0 if none) in *tracking and
 * *max_delivery. A store_record_check_fn, with the engine as its arg. */
const char *engine_check_record(const void *rec, size_t len, uint64_t *tracking,
                                uint64_t *max_delivery, void *engine);

/* Recomputes every derived figure (spare credit and open, overdue and queued
 * deliveries per agency, what each worker holds, open requests and their
 * open deliveries) and compares. 0 when all agree; otherwise -1 with the
 * first broken invariant named in why. */
int engine_check(const engine_t *engine, char *why, size_t whylen);

#endif

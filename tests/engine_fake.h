/* engine_fake: the request engine in-process, with a fake clock, for its
 * unit tests (test_engine.c, test_engine_store.c).
 *
 * A fixture (setup, setup_engine, setup_threaded; teardown) makes a fake_t:
 * an engine on a routing table and a real LMDB store in a temp dir, whose
 * clock is f->mono and f->wall and moves only when a test moves it, and
 * whose messages are decoded into f->sent for the test to read per routing
 * id. Every step of a scenario is a turn, after which engine_check must
 * agree. The checks fail the test instead of returning errors. */
#ifndef MIZ_TEST_ENGINE_FAKE_H
#define MIZ_TEST_ENGINE_FAKE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "engine.h"
#include "wire.h"

#define SENT_MAX 4096
#define WALL_START 1773133200000ull /* 2026-03-10 09:00 UTC, a Tuesday: 12:30 in Tehran */
#define HEARTBEAT_MS 100            /* deadlines.yaml's */

/* One message the engine sent to a client or a worker. */
typedef struct {
    engine_socket_t to;
    char rid[32];
    wire_msg_t *msg;
} sent_t;

typedef struct {
    uint64_t mono, wall;
    sent_t sent[SENT_MAX];
    size_t n_sent;
    size_t events; /* messages on the event stream */
    wire_msg_t *counters; /* the last counters */
    const char *offline;  /* a client routing id whose messages are lost */
    bool threaded;        /* commits on the engine's commit thread */
    const char *table; /* YAML of the routing table; NULL: deadlines.yaml */
    engine_t *e;
    char dir[64]; /* the store's */
} fake_t;

/* ---- the engine and its fixtures ---- */

/* A new engine on f->table and the store in f->dir (made if empty). */
void fake_start(fake_t *f);
/* mizd restarts: a new engine on the same store, what the old one sent
 * forgotten; mono: the new boot's monotonic clock (0: it goes on). */
void fake_restart(fake_t *f, uint64_t mono);
/* An engine on table (NULL: deadlines.yaml), its commits on a thread of
 * their own when threaded; *state is its fake_t. */
int setup_engine(void **state, const char *table, bool threaded);
int setup(void **state);          /* deadlines.yaml, commits inline */
int setup_threaded(void **state); /* deadlines.yaml, commits on their thread */
int teardown(void **state);       /* the engine and its store's files gone */

/* ---- turns ---- */

void turn_end(fake_t *f);
/* One message from a peer as its own turn: keys and values alternate in
 * kv, strings unless a key starts with '#' (a uint, the value given as a
 * decimal string) or '?' (a bool: "true" or not). */
void receive(fake_t *f, engine_socket_t from, const char *rid, const principal_t *key,
             const char *const *kv);
#define CLIENT(f, rid, ...)                                                                        \
    receive(f, ENGINE_CLIENTS, rid, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define WORKER(f, rid, ...)                                                                        \
    receive(f, ENGINE_WORKERS, rid, NULL, (const char *const[]){__VA_ARGS__, NULL})
/* The clock moves on by ms and the deadlines due fire, as one turn. */
void advance(fake_t *f, uint64_t ms);
void tick(fake_t *f);
/* Waits for the commit in flight (setup_threaded) and lets it land, as a turn. */
void commit_lands(fake_t *f);

/* ---- what the engine sent ---- */

uint64_t msg_uint(const wire_msg_t *m, const char *key);
void str_is(const msgpack_object *map, const char *key, const char *want);
uint64_t obj_uint(const msgpack_object *map, const char *key);
/* The next message to rid, which must be of that type; the caller owns it. */
wire_msg_t *expect(fake_t *f, const char *rid, const char *type);
void expect_done(fake_t *f, const char *rid, const char *type);
/* Nothing more was sent to rid. */
void quiet(const fake_t *f, const char *rid);
void expect_error(fake_t *f, const char *rid, const char *code);

/* ---- the peers' commands ---- */

void reg(fake_t *f, const char *rid, const char *agency, const char *credit);
uint64_t submit(fake_t *f, const char *rid, const char *topic);
/* The next message to the worker is a delivery of tracking in that role:
 * its id, and its attempt in *attempt if asked. */
uint64_t take(fake_t *f, const char *rid, uint64_t tracking, const char *role, uint64_t *attempt);
void expect_attempt(fake_t *f, const char *rid, uint64_t tracking, uint64_t id, uint64_t attempt);
void expect_cancel(fake_t *f, const char *rid, uint64_t id, const char *reason);
/* A delivery made from another (escalation, breach copy): its id. */
uint64_t expect_copy(fake_t *f, const char *rid, uint64_t tracking, const char *role,
                     uint64_t from, const char *reason);
/* The next message to the worker is ok for delivery id, a duplicate or not. */
void expect_ok(fake_t *f, const char *rid, uint64_t id, bool duplicate);
void worker_cmd(fake_t *f, const char *rid, const char *type, uint64_t id, const char *outcome,
                const char *text);
#define ACK(f, rid, id) worker_cmd(f, rid, "ack", id, NULL, NULL)
#define ANSWER(f, rid, id, outcome, text) worker_cmd(f, rid, "answer", id, outcome, text)
/* The next message to the client is the outcome of tracking, with one
 * answer as given; its "late" in *late. */
void outcome_is(fake_t *f, const char *rid, uint64_t tracking, const char *agency,
                const char *answered_by, uint64_t delivery, const char *outcome, bool *late);
/* The status of tracking; the caller owns it. */
wire_msg_t *status(fake_t *f, const char *rid, uint64_t tracking);
const msgpack_object *status_delivery(const wire_msg_t *m, uint64_t id);
void history_is(const msgpack_object *delivery, const char *const *want);
#define HISTORY(delivery, ...) history_is(delivery, (const char *const[]){__VA_ARGS__, NULL})

#endif

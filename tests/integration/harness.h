/* harness: the real mizd for the integration tests.
 *
 * Every test gets a daemon of its own through a cmocka fixture: mizd (the
 * binary at MIZD_PATH) runs on ipc:// endpoints in a fresh temp dir with one
 * of the routing tables of this folder, logging at debug level to
 * DIR/mizd.log. Setup returns once it answers a ping; teardown closes every
 * peer, stops it with SIGTERM and fails unless it exits 0 (under ASan a leak
 * makes it exit non-zero).
 *
 * Clients and workers are peers the harness owns and closes. The tables use
 * a 100 ms heartbeat, so a worker left unread for 300 ms would be dropped by
 * the broker (and would itself reconnect): every wait here reads all peers
 * into queues of their own, keeping the heartbeats going, whichever peer it
 * is waiting for. Tests therefore never call libmiz's blocking calls.
 *
 * The checks fail the test (with the tail of mizd.log) instead of returning
 * errors, so a test reads as the scenario it plays. */
#ifndef MIZ_IT_HARNESS_H
#define MIZ_IT_HARNESS_H

/* cmocka.h needs these first */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdbool.h>
#include <sys/types.h>

#include "miz.h"

/* How long anything that must happen may take: generous, for a loaded CI
 * machine and the sanitizers; only a failing test waits this long. */
#define IT_WAIT_MS 10000

/* The text of the requests it_submit_topic makes. */
#define IT_PAYLOAD_TEXT "integration test"

typedef struct it_daemon it_daemon_t;
typedef struct it_peer it_peer_t;

/* ---- fixtures ---- */

/* The initial state is the routing table's file name in this folder (or
 * an absolute path); the test's state is then the running daemon. */
int it_setup(void **state);
int it_teardown(void **state);
#define IT_TEST(fn, table)                                                                         \
    cmocka_unit_test_prestate_setup_teardown(fn, it_setup, it_teardown, (void *)(table))

/* ---- the store ---- */

/* With MIZ_TEST_STORE=postgres in the environment, every daemon the harness
 * starts keeps its store in a fresh database of a real PostgreSQL server
 * (one per test process, tests/common/pg_server.h, started when the first
 * daemon is), through mizd --store-dsn; else in LMDB, in its own folder. */
bool it_store_postgres(void);
/* The epoch of the first lease on a fresh store: 1 on PostgreSQL, 0 on
 * LMDB, which has no lease. */
unsigned long long it_first_epoch(void);
/* The DSN of a fresh database for the next daemon, or "" for LMDB. */
void it_store_dsn(char *dsn, size_t len);
/* For a test of LMDB's files (data.mdb, --check-store DIR): skipped (and
 * said so) when the store is PostgreSQL. */
void it_lmdb_only(void);

/* ---- several daemons ---- */

/* A daemon outside the fixtures, on table (as it_setup) and on the store of
 * dsn (NULL: the harness's), started without waiting for it to serve: a
 * standby binds nothing. */
it_daemon_t *it_daemon_on(const char *table, const char *dsn);
/* Another daemon on d's table and d's store, with a folder and endpoints
 * of its own, started as it_daemon_on: on a shared store, d's standby. */
it_daemon_t *it_daemon_beside(it_daemon_t *d);
/* Closes its peers and stops it; fails unless it exits cleanly (0, or the
 * status it_exits_with expected). */
void it_daemon_end(it_daemon_t **d);
/* Starts a stopped daemon again without waiting for it (a standby). */
void it_relaunch(it_daemon_t *d);
/* For a teardown after a failure: kills it (-9) if it runs, closes its
 * peers, frees it and keeps its folder; accepts NULL. */
void it_daemon_kill(it_daemon_t **d);
/* Whether it answers a ping within the harness's start time. */
bool it_answers_ping(it_daemon_t *d);
/* It exits with that status within ms (fails otherwise); teardown then
 * takes that status as clean. */
void it_exits_with(it_daemon_t *d, int status, int within_ms);

/* Prints the message and the tail of the running daemon's log. */
void it_report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
#define it_fail(...)                                                                               \
    do {                                                                                           \
        it_report(__VA_ARGS__);                                                                    \
        fail();                                                                                    \
    } while (0)

/* Stops the daemon (SIGTERM, which must end it cleanly; or SIGKILL when
 * crash) and starts it again on the same table, store and endpoints; returns
 * once it answers a ping. Peers stay open and reconnect by themselves. */
void it_restart(it_daemon_t *d, bool crash);
/* Stops the daemon (as it_restart) and leaves it stopped until it_start. */
void it_stop(it_daemon_t *d, bool crash);
void it_start(it_daemon_t *d);
/* Starts it; false if it exited instead of answering a ping. */
bool it_try_start(it_daemon_t *d);
pid_t it_pid(const it_daemon_t *d);
/* Whether the daemon has exited (it_stop then checks how). */
bool it_exited(it_daemon_t *d);
/* The daemon's store directory and its log file. */
const char *it_data_dir(const it_daemon_t *d);
const char *it_log_path(const it_daemon_t *d);
/* Whether a line of the daemon's log (of every start so far) has text. */
bool it_log_has(const it_daemon_t *d, const char *text);
/* The daemon's routing table: a copy of the test's, in its folder. */
const char *it_table_path(const it_daemon_t *d);
/* Rewrites that copy (SIGHUP makes mizd read it again). */
void it_write_table(it_daemon_t *d, const char *text);
/* Runs `mizd --reload PID` on the daemon: its exit status, what it printed
 * in out. */
int it_reload(it_daemon_t *d, char *out, size_t outlen);

/* From now on the daemon binds a second set of endpoints (ipc:// in its
 * folder too): the next it_start is another broker on the same store, as
 * a standby that takes over binds endpoints of its own. The harness's own
 * clients (its pings too) use the new set; peers opened on the first stay
 * on it, or move by themselves when given both in a list. */
void it_second_endpoints(it_daemon_t *d);

/* Monotonic milliseconds, for progress bounds (never speed assertions). */
uint64_t it_now_ms(void);
const char *it_workers_endpoint(const it_daemon_t *d);
const char *it_clients_endpoint(const it_daemon_t *d);
const char *it_events_endpoint(const it_daemon_t *d);

/* ---- peers ---- */

/* A miz client on the clients endpoint, or on any endpoint: a client on the
 * workers endpoint is a plain DEALER for speaking raw bytes to it. */
it_peer_t *it_client(it_daemon_t *d);
it_peer_t *it_client_on(it_daemon_t *d, const char *endpoint);
/* A gateway with a routing id of its own (miz_client_new_named). */
it_peer_t *it_client_named(it_daemon_t *d, const char *id);
/* ---- CURVE keys for a test (made before any mizd starts) ---- */

#include "cert.h"

/* A folder of keys: the broker's pair in dir, peers' public certificates
 * (security.keys_dir) in keys_dir. */
typedef struct {
    char dir[64], keys_dir[80];
    miz_cert_t server;
} it_keys_t;

/* A new folder under /tmp whose name starts with prefix, and the broker's pair. */
void it_keys_init(it_keys_t *k, const char *prefix);
/* A pair with that role (agency: a worker's, else ""); known: its public
 * certificate goes to keys_dir. *curve: a client's settings with it. */
void it_key_make(it_keys_t *k, miz_cert_t *c, const char *name, const char *role,
                 const char *agency, bool known, miz_curve_t *curve);
/* Removes the folder and everything in it. */
void it_keys_remove(it_keys_t *k);

/* From now on the harness's own clients (and its pings) use these CURVE
 * keys (NULL: none); curve must outlive their use. */
void it_use_curve(const miz_curve_t *curve);
/* A client with keys of its own (NULL: plain). */
it_peer_t *it_client_curve(it_daemon_t *d, const miz_curve_t *curve);
/* A worker; its "registered" (or error) reply comes as its first message. */
it_peer_t *it_worker_open(it_daemon_t *d, const miz_worker_opts_t *o);
/* The same on any endpoint, or list of them. */
it_peer_t *it_worker_on(it_daemon_t *d, const char *endpoint, const miz_worker_opts_t *o);
/* A worker of agency with that credit (0: the broker's default), registered. */
it_peer_t *it_worker(it_daemon_t *d, const char *agency, unsigned credit);
/* Closes the peer now (a worker says bye); teardown closes the rest. */
void it_close(it_peer_t **p);

miz_client_t *it_miz_client(it_peer_t *p);
miz_worker_t *it_miz_worker(it_peer_t *p);

/* ---- waiting ---- */

/* Reads every peer's messages into its queue for ms, keeping heartbeats
 * going; unlike the waits below, it carries on if mizd exits. */
void it_pump(it_daemon_t *d, int ms);
/* The peer's next message, or NULL after timeout_ms (0: only what is here). */
miz_msg_t *it_next(it_peer_t *p, int timeout_ms);
/* The next message, which must be of that type. */
miz_msg_t *it_expect(it_peer_t *p, const char *type);
/* The reply whose "re" is seq; messages before it stay queued. */
miz_msg_t *it_reply(it_peer_t *p, uint64_t seq);
/* The reply to seq is an error with that code. */
void it_reply_error(it_peer_t *p, uint64_t seq, const char *code);
/* Nothing arrives for the peer within ms (0: nothing is waiting now). */
void it_quiet(it_peer_t *p, int ms);

void it_check_type(const miz_msg_t *m, const char *type);
void it_check_error(const miz_msg_t *m, const char *code);
/* The next message is an error with that code. */
void it_expect_error(it_peer_t *p, const char *code);

/* ---- raw frames ---- */

/* A map entry: a string value or, when str is NULL, an unsigned integer. */
typedef struct {
    const char *key;
    const char *str;
    uint64_t num;
} it_kv_t;

#define IT_S(key, s) {key, s, 0}
#define IT_U(key, n) {key, NULL, n}

void it_send_frame(it_peer_t *p, const void *data, size_t size, bool more);
void it_send_map(it_peer_t *p, const it_kv_t *kv, size_t n);
/* it_send_map(p, IT_MAP(IT_S("type", "ping"), IT_U("seq", 1))) */
#define IT_MAP(...)                                                                                \
    (const it_kv_t[]){__VA_ARGS__}, sizeof((const it_kv_t[]){__VA_ARGS__}) / sizeof(it_kv_t)

/* ---- reading values (a missing or mistyped field fails the test) ---- */

#define IT_ROOT(m) miz_msg_root(m)
const msgpack_object *it_get(const msgpack_object *map, const char *key);
uint64_t it_uint(const msgpack_object *map, const char *key);
bool it_bool(const msgpack_object *map, const char *key);
void it_str_eq(const msgpack_object *map, const char *key, const char *want);
/* The array under key, which must hold n elements. */
const msgpack_object *it_array(const msgpack_object *map, const char *key, size_t n);

/* ---- clients ---- */

/* The reply to a submission, whatever it is. */
miz_msg_t *it_send_submit(it_peer_t *c, const miz_submit_t *s);
/* Sends a submission without waiting: its seq. */
uint64_t it_submit_send(it_peer_t *c, const miz_submit_t *s);
/* The reply to seq is "accepted": its tracking number. */
uint64_t it_accepted(it_peer_t *c, uint64_t seq);
/* Submits and returns the tracking number of the "accepted" reply. */
uint64_t it_submit(it_peer_t *c, const miz_submit_t *s);
uint64_t it_submit_topic(it_peer_t *c, const char *topic, const char *kind);
void it_submit_error(it_peer_t *c, const miz_submit_t *s, const char *code);

/* The reply to a status query, whatever it is; it_status wants "status". */
miz_msg_t *it_send_status(it_peer_t *c, uint64_t tracking);
miz_msg_t *it_status(it_peer_t *c, uint64_t tracking);
/* The delivery with that id in a status reply. */
const msgpack_object *it_status_delivery(const miz_msg_t *status, uint64_t id);
/* The delivery's history is exactly these events. */
void it_history_is(const msgpack_object *delivery, const char *const *events);
#define IT_HISTORY(delivery, ...) it_history_is(delivery, (const char *const[]){__VA_ARGS__, NULL})

/* The next message is the outcome of tracking with n answers (the array is
 * in the message's *answers). */
miz_msg_t *it_outcome(it_peer_t *c, uint64_t tracking, size_t n, const msgpack_object **answers);
/* Marks v, one of the n values of set, as seen: it must not have been. */
void it_mark(const uint64_t *set, bool *seen, size_t n, uint64_t v, const char *what);
/* The next message is the outcome of tracking with this one answer. */
void it_outcome_is(it_peer_t *c, uint64_t tracking, const char *agency, const char *answered_by,
                   uint64_t delivery, const char *outcome);
/* The next n messages are the outcomes of these n requests, in any order,
 * each with one answer of that outcome. */
void it_outcomes(it_peer_t *c, const uint64_t *tracking, size_t n, const char *outcome);
/* One answer of an outcome. */
void it_answer_is(const msgpack_object *answer, const char *agency, const char *answered_by,
                  uint64_t delivery, const char *outcome);

/* ---- workers ---- */

/* The next message is a delivery of tracking in that role. */
miz_msg_t *it_deliver(it_peer_t *w, uint64_t tracking, const char *role);
/* The same, returning only its delivery id. */
uint64_t it_take(it_peer_t *w, uint64_t tracking, const char *role);
/* Commands whose "ok" reply must come next. */
void it_ack(it_peer_t *w, uint64_t delivery);
void it_answer(it_peer_t *w, uint64_t delivery, const char *outcome, const char *text);
void it_refuse(it_peer_t *w, uint64_t delivery, const char *reason);
/* Takes the target delivery of tracking and answers it with outcome "done". */
uint64_t it_serve(it_peer_t *w, uint64_t tracking);

#endif

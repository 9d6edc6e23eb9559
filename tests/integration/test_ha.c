/* test_ha: two mizd on one PostgreSQL store, one active under the lease and
 * one waiting (issue 14), with real servers throughout.
 *
 * - test_failover: on a PostgreSQL primary with a synchronous standby,
 *   under load, the active mizd is killed (-9): the standby mizd takes
 *   over, and the peers, given both mizd's endpoints, find it; then the
 *   PostgreSQL primary is killed and its standby promoted: mizd, whose DSN
 *   lists both hosts with target_session_attrs=read-write, reconnects and
 *   carries on. The
 *   checker (ha_load.c) finds nothing lost and no tracking number given
 *   twice. Both times are printed.
 * - test_paused: an active mizd stopped (SIGSTOP) past its lease while the
 *   other takes over, then continued, makes no promise for what it
 *   received meanwhile, says it was deposed and exits with status 3. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <zmq.h>

#include "ha_load.h"
#include "harness.h"
#include "pg_server.h"

#define TABLE "ha.yaml"
#define TOPIC "ha.load"
#define AGENCY "desk"
#define EXIT_DEPOSED 3
#define TAKEOVER_MS 30000 /* generous: the lease is 2 s, and ASan is slow */
#define LOAD_MS 1500

static char err[1024];

/* What a test started, for the teardown to end even after a failure. */
typedef struct {
    pg_server_t *pg[2];
    it_daemon_t *d[2];
    ha_load_t *load;
} ha_t;

static int ha_setup(void **state)
{
    *state = calloc(1, sizeof(ha_t));
    return *state ? 0 : -1;
}

static int ha_teardown(void **state)
{
    ha_t *x = *state;
    if (x->load)
        ha_load_destroy(&x->load);
    for (int i = 0; i < 2; i++) {
        it_daemon_kill(&x->d[i]);
        pg_server_destroy(&x->pg[i]);
    }
    free(x);
    return 0;
}

/* Ends what the test started, as a test that passed should. */
static void ha_end(ha_t *x)
{
    if (x->load)
        ha_load_destroy(&x->load);
    for (int i = 0; i < 2; i++)
        if (x->d[i])
            it_daemon_end(&x->d[i]);
}

static pg_server_t *pg_start(void)
{
    pg_server_t *s = pg_server_start(err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    return s;
}

/* Waits until a line of d's log has text. */
static void log_says(it_daemon_t *d, const char *text)
{
    /* the log exists once mizd has started: not yet, maybe */
    for (uint64_t end = it_now_ms() + TAKEOVER_MS;
         access(it_log_path(d), F_OK) < 0 || !it_log_has(d, text);) {
        if (it_now_ms() > end)
            it_fail("%s never said \"%s\"", it_log_path(d), text);
        nanosleep(&(struct timespec){0, 20 * 1000 * 1000}, NULL);
    }
}

/* A standby binds nothing: none of its ipc:// socket files exist. */
static void binds_nothing(it_daemon_t *d)
{
    const char *eps[] = {it_clients_endpoint(d), it_workers_endpoint(d), it_events_endpoint(d)};
    for (size_t i = 0; i < 3; i++)
        if (access(eps[i] + strlen("ipc://"), F_OK) == 0)
            it_fail("the standby bound %s", eps[i]);
}

/* An active mizd on dsn and a standby beside it, which says so. */
static void start_pair(const char *dsn, it_daemon_t **a, it_daemon_t **b)
{
    *a = it_daemon_on(TABLE, dsn);
    if (!it_answers_ping(*a))
        it_fail("the first mizd does not serve");
    assert_true(it_log_has(*a, "active: took the lease as it-ha@"));
    *b = it_daemon_beside(*a);
    log_says(*b, "standby: the lease is held by it-ha@");
    binds_nothing(*b);
}

static void test_failover(void **state)
{
    ha_t *x = *state;
    pg_server_t *primary = x->pg[0] = pg_start();
    pg_server_t *standby = x->pg[1] = pg_server_standby(primary, err, sizeof err);
    if (!standby)
        fail_msg("%s", err);
    char db[32], dsn[512];
    assert_int_equal(pg_server_createdb(primary, db, sizeof db, err, sizeof err), 0);
    pg_pair_dsn(primary, standby, db, dsn, sizeof dsn);
    start_pair(dsn, &x->d[0], &x->d[1]);
    it_daemon_t *a = x->d[0], *b = x->d[1];

    char clients[160], workers[160];
    snprintf(clients, sizeof clients, "%s,%s", it_clients_endpoint(a), it_clients_endpoint(b));
    snprintf(workers, sizeof workers, "%s,%s", it_workers_endpoint(a), it_workers_endpoint(b));
    ha_load_t *load = x->load = ha_load_new(clients, workers, AGENCY, TOPIC);
    ha_load_run(load, LOAD_MS);
    uint64_t before = ha_load_accepted(load);
    assert_true(before > 0 && ha_load_confirmed(load) > 0);

    /* the active dies: its peers, given both mizd's endpoints, find the
     * standby once it has taken over (the kill is the mark) */
    it_stop(a, true);
    ha_load_mark(load);
    uint64_t takeover = ha_load_first_accept(load, TAKEOVER_MS);
    fprintf(stderr, "takeover: %" PRIu64 " ms from the kill -9 of the active mizd to the first "
                    "accepted from the standby (lease 2 s; the gateway moves after 1 s of "
                    "silence)\n", takeover);
    assert_true(it_log_has(b, "active: took the lease as it-ha@"));
    it_relaunch(a); /* as systemd would: now the standby */
    log_says(a, "standby: the lease is held by it-ha@");
    ha_load_run(load, LOAD_MS);
    assert_true(ha_load_accepted(load) > before);

    /* the PostgreSQL primary dies, its synchronous standby is promoted */
    before = ha_load_accepted(load);
    pg_server_kill(primary);
    ha_load_mark(load);
    ha_load_run(load, 500); /* mizd finds its store gone */
    if (pg_server_promote(standby, err, sizeof err) < 0)
        fail_msg("%s", err);
    uint64_t pg_failover = ha_load_first_accept(load, TAKEOVER_MS);
    fprintf(stderr, "PostgreSQL failover: %" PRIu64 " ms from the kill -9 of the primary to the "
                    "next accepted (its promotion included)\n", pg_failover);
    ha_load_run(load, LOAD_MS);
    assert_true(ha_load_accepted(load) > before);
    assert_true(it_answers_ping(b));

    ha_load_finish(load, 60000);
    ha_end(x);
}

/* A subscriber to every topic of d's event stream, once it gets messages
 * (a SUB hears nothing before its subscription reaches the PUB; the
 * counters come every heartbeat). */
static void *events_sub(void *zctx, it_daemon_t *d)
{
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "", 0), 0);
    assert_int_equal(zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(sub, it_events_endpoint(d)), 0);
    char topic[32];
    uint64_t end = it_now_ms() + IT_WAIT_MS;
    while (zmq_recv(sub, topic, sizeof topic, ZMQ_DONTWAIT) < 0) {
        if (it_now_ms() > end)
            it_fail("nothing on the event stream");
        it_pump(d, 5);
    }
    return sub;
}

/* How many transitions (topic "event") have arrived; the rest is read too. */
static int events_read(void *sub)
{
    int n = 0;
    zmq_msg_t part;
    zmq_msg_init(&part);
    while (zmq_msg_recv(&part, sub, ZMQ_DONTWAIT) >= 0)
        n += zmq_msg_size(&part) == 5 && memcmp(zmq_msg_data(&part), "event", 5) == 0;
    zmq_msg_close(&part);
    return n;
}

/* Fails if a promise is among what p has been sent. */
static void no_promise(it_peer_t *p)
{
    static const char *const promises[] = {"accepted", "ok", "deliver", "outcome", "cancel"};
    for (miz_msg_t *m; (m = it_next(p, 0)); miz_msg_destroy(&m))
        for (size_t i = 0; i < sizeof promises / sizeof *promises; i++)
            if (miz_msg_is(m, promises[i]))
                it_fail("the deposed mizd sent \"%s\"", promises[i]);
}

static void test_paused(void **state)
{
    ha_t *x = *state;
    pg_server_t *pg = x->pg[0] = pg_start();
    char db[32], dsn[512];
    assert_int_equal(pg_server_createdb(pg, db, sizeof db, err, sizeof err), 0);
    pg_server_db_dsn(pg, db, dsn, sizeof dsn);
    start_pair(dsn, &x->d[0], &x->d[1]);
    it_daemon_t *a = x->d[0], *b = x->d[1];
    void *zctx = zmq_ctx_new(), *sub = events_sub(zctx, a);
    it_peer_t *c = it_client(a), *w = it_worker(a, AGENCY, 0);
    uint64_t held = it_submit_topic(c, TOPIC, NULL);
    uint64_t delivery = it_take(w, held, "target");
    it_pump(a, 100);
    assert_true(events_read(sub) > 0); /* received, queued, offered */

    kill(it_pid(a), SIGSTOP);
    log_says(b, "active: took the lease as it-ha@");
    /* while a is paused: what it will read once it runs again */
    miz_submit_t s = {.topic = TOPIC, .client_ref = "paused-1", .text = "sent while paused"};
    it_submit_send(c, &s);
    assert_int_equal(miz_worker_answer(it_miz_worker(w), delivery, "done", "paused"), 0);
    kill(it_pid(a), SIGCONT);

    it_exits_with(a, EXIT_DEPOSED, TAKEOVER_MS);
    assert_true(it_log_has(a, "deposed"));
    it_pump(a, 300); /* anything it sent has arrived by now */
    no_promise(c);
    no_promise(w);
    /* nor a transition the store never recorded (the worker it dropped,
     * its delivery offered again) */
    assert_int_equal(events_read(sub), 0);
    zmq_close(sub);
    zmq_ctx_term(zctx);

    /* the other serves: the delivery a held comes back (its answer never
     * counted), the submission a read was never made */
    it_peer_t *c2 = it_client(b), *w2 = it_worker(b, AGENCY, 0);
    assert_int_equal(it_serve(w2, held), delivery);
    miz_msg_t *m = it_send_submit(c2, &s);
    it_check_type(m, "accepted");
    assert_null(miz_msg_get(m, "duplicate"));
    miz_msg_destroy(&m);
    ha_end(x);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_failover, ha_setup, ha_teardown),
        cmocka_unit_test_setup_teardown(test_paused, ha_setup, ha_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

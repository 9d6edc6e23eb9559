/* Integration tests of CURVE and what each key may do (docs/security.md):
 * a table with `security: {curve: on}`, the broker's certificate and a
 * keys directory, written by main() into a folder of its own with keys made
 * by lib/cert.h (as `miz keygen` makes them).
 *
 * - a gateway submits and asks about its own requests only; a dashboard
 *   reads snapshots and the stream but submits nothing; a worker key
 *   registers for its own agency only: each violation is "forbidden";
 * - an unknown key, or no CURVE at all, never gets a reply;
 * - a key added to the keys directory works after a reload;
 * - a worker whose key a reload removes is dropped at once, a dashboard's
 *   stream is cut off. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>


static it_keys_t keys;
static char table[96];
static miz_cert_t gateway, gateway2, dashboard, dashboard2, water, water2, stranger, late;

typedef enum {
    GATEWAY,
    GATEWAY2,
    DASHBOARD,
    DASHBOARD2,
    WATER,
    WATER2,
    STRANGER,
    LATE,
    N_KEYS
} who_t;
static miz_curve_t curve[N_KEYS];

/* Keys and the table, before any mizd starts. */
static void setup_keys(void)
{
    it_keys_init(&keys, "miz-sec");
    it_key_make(&keys, &gateway, "sms-gateway", "gateway", "", true, &curve[GATEWAY]);
    it_key_make(&keys, &gateway2, "web-portal", "gateway", "", true, &curve[GATEWAY2]);
    it_key_make(&keys, &dashboard, "governor-dashboard", "dashboard", "", true, &curve[DASHBOARD]);
    it_key_make(&keys, &dashboard2, "inspection-dashboard", "dashboard", "", true,
                &curve[DASHBOARD2]);
    it_key_make(&keys, &water, "water-service", "worker", "water", true, &curve[WATER]);
    it_key_make(&keys, &water2, "water-night-shift", "worker", "water", true, &curve[WATER2]);
    it_key_make(&keys, &stranger, "stranger", "gateway", "", false, &curve[STRANGER]);
    it_key_make(&keys, &late, "late-gateway", "gateway", "", false, &curve[LATE]);

    snprintf(table, sizeof table, "%s/security.yaml", keys.dir);
    FILE *f = fopen(table, "w");
    assert_non_null(f);
    fprintf(f,
            "broker: {name: it-security, heartbeat: 100ms, rate_limit: {per_second: 5}}\n"
            "security:\n"
            "  curve: \"on\"\n"
            "  server_cert: \"%s/mizd.key_secret\"\n"
            "  keys_dir: \"%s\"\n"
            "agencies:\n"
            "  water: {name_fa: \"آب و فاضلاب\", name_en: Water}\n"
            "  power: {name_fa: \"برق\", name_en: Power}\n"
            "routes:\n"
            "  - match: utility.water.*\n"
            "    to: [water]\n",
            keys.dir, keys.keys_dir);
    assert_int_equal(fclose(f), 0);
    it_use_curve(&curve[DASHBOARD]); /* the harness's pings */
}

static it_peer_t *worker(it_daemon_t *d, const char *agency, const miz_curve_t *cv)
{
    return it_worker_open(d, &(miz_worker_opts_t){.agency = agency, .curve = cv});
}

static void test_roles(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *gw = it_client_curve(d, &curve[GATEWAY]), *gw2 = it_client_curve(d, &curve[GATEWAY2]),
              *dash = it_client_curve(d, &curve[DASHBOARD]);
    it_peer_t *w = worker(d, "water", &curve[WATER]);
    miz_msg_t *m = it_expect(w, "registered");
    miz_msg_destroy(&m);

    uint64_t t = it_submit_topic(gw, "utility.water.cut", NULL);
    uint64_t id = it_take(w, t, "target");
    it_answer(w, id, "done", "لوله ترمیم شد");
    it_outcome_is(gw, t, "water", "water", id, "done");

    /* a gateway sees its own request; another gateway does not */
    m = it_status(gw, t);
    miz_msg_destroy(&m);
    it_check_error(m = it_send_status(gw2, t), "forbidden");
    miz_msg_destroy(&m);
    /* the dashboard sees every request, and submits none */
    m = it_status(dash, t);
    miz_msg_destroy(&m);
    it_submit_error(dash, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"}, "forbidden");
    /* snapshots are the dashboard's */
    it_send_map(gw, IT_MAP(IT_S("type", "snapshot"), IT_U("seq", 900)));
    it_reply_error(gw, 900, "forbidden");
    it_send_map(dash, IT_MAP(IT_S("type", "snapshot"), IT_U("seq", 901)));
    m = it_reply(dash, 901);
    it_check_type(m, "snapshot");
    miz_msg_destroy(&m);

    /* the water company's key registers for water only */
    it_peer_t *w2 = worker(d, "power", &curve[WATER]);
    it_expect_error(w2, "forbidden");
    if (!it_log_has(d, "forbidden: register for \"power\", by key water-service of water"))
        it_fail("the log does not name the key");
}

/* A key mizd does not know, or no CURVE at all: the handshake fails, so
 * nothing ever comes back, and the daemon serves the others on. */
static void test_strangers(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *stranger_c = it_client_curve(d, &curve[STRANGER]), *plain = it_client_curve(d, NULL);
    it_submit_send(stranger_c, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"});
    it_submit_send(plain, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"});
    /* a worker's key on the clients socket is refused too */
    it_peer_t *wrong = it_client_curve(d, &curve[WATER]);
    it_submit_send(wrong, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"});
    it_quiet(stranger_c, 500);
    it_quiet(plain, 0);
    it_quiet(wrong, 0);
    if (!it_log_has(d, "refused a connection to clients from ") ||
        !it_log_has(d, stranger.public_key) ||
        !it_log_has(d, "not for this socket, key"))
        it_fail("the log does not tell of the refused handshakes");
    it_peer_t *gw = it_client_curve(d, &curve[GATEWAY]);
    it_submit_topic(gw, "utility.water.cut", NULL);
}

/* A handshake mizd refused leaves the peer no connection (libzmq does not
 * try it again): a send then fails within dealer.c's bound, as silence,
 * instead of waiting for ever, which hung a gateway with a wrong key. */
static void test_refused_send(void **state)
{
    it_daemon_t *d = *state;
    miz_client_t *c = miz_client_new_curve(NULL, it_clients_endpoint(d), &curve[STRANGER]);
    miz_msg_t *m = NULL;
    assert_non_null(c);
    it_pump(d, 300); /* the handshake is tried and refused */
    assert_true(it_log_has(d, stranger.public_key));
    assert_int_equal(miz_ping(c, 500, &m), -1);
    assert_int_equal(errno, EAGAIN);
    assert_null(m);
    miz_client_destroy(&c);
}

/* A SUB of the counters, which come every heartbeat (100 ms). */
static void *counters_sub(it_daemon_t *d, void *zctx, const miz_curve_t *cv)
{
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(miz_curve_set(sub, cv), 0);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "counters", 8);
    assert_int_equal(zmq_connect(sub, it_events_endpoint(d)), 0);
    return sub;
}

/* How many messages each SUB gets within ms; with until_all, only until
 * each has had one. */
static void count_messages(it_daemon_t *d, void *const *subs, size_t *got, size_t n, int ms,
                           bool until_all)
{
    char topic[16];
    size_t with = 0;
    for (size_t i = 0; i < n; i++)
        got[i] = 0;
    for (uint64_t end = it_now_ms() + (uint64_t)ms; it_now_ms() < end && !(until_all && with == n);
         it_pump(d, 5))
        for (size_t i = 0; i < n; i++)
            while (zmq_recv(subs[i], topic, sizeof topic, ZMQ_DONTWAIT) >= 0)
                if (got[i]++ == 0)
                    with++;
}

/* The event stream is the dashboard's: a gateway's SUB gets nothing. */
static bool stream_reaches(it_daemon_t *d, const miz_curve_t *cv)
{
    void *zctx = zmq_ctx_new(), *sub = counters_sub(d, zctx, cv);
    size_t got;
    count_messages(d, &sub, &got, 1, 1000, true); /* ten chances */
    zmq_close(sub);
    zmq_ctx_term(zctx);
    return got > 0;
}

static void test_stream(void **state)
{
    it_daemon_t *d = *state;
    assert_false(stream_reaches(d, &curve[GATEWAY]));
    assert_true(stream_reaches(d, &curve[DASHBOARD]));
}

/* Takes the key out of the keys directory: gone at the next reload. */
static void remove_key(const miz_cert_t *c)
{
    char path[sizeof keys.keys_dir + sizeof c->name + 8];
    snprintf(path, sizeof path, "%s/%s.key", keys.keys_dir, c->name);
    assert_int_equal(unlink(path), 0);
}

static void reload(it_daemon_t *d)
{
    char out[1024];
    if (it_reload(d, out, sizeof out) != 0)
        it_fail("no reload: %s", out);
}

/* A key put in the keys directory counts from the next reload on. */
static void test_reload_keys(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *before = it_client_curve(d, &curve[LATE]);
    it_submit_send(before, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"});
    it_quiet(before, 300);
    char err[512];
    if (miz_cert_save(&late, keys.keys_dir, err, sizeof err) < 0)
        it_fail("%s", err);
    reload(d);
    it_peer_t *after = it_client_curve(d, &curve[LATE]);
    it_submit_topic(after, "utility.water.cut", NULL);
}

/* A worker whose key a reload removes is dropped then: what it held goes to
 * the agency's other worker at once, not at its ack deadline (5 minutes),
 * and its commands are refused. */
static void test_revoke_worker(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *gw = it_client_curve(d, &curve[GATEWAY]);
    it_peer_t *doomed = worker(d, "water", &curve[WATER2]);
    miz_msg_t *m = it_expect(doomed, "registered");
    miz_msg_destroy(&m);
    uint64_t t = it_submit_topic(gw, "utility.water.cut", NULL);
    uint64_t id = it_take(doomed, t, "target");
    it_peer_t *other = worker(d, "water", &curve[WATER]);
    m = it_expect(other, "registered");
    miz_msg_destroy(&m);
    it_quiet(other, 200); /* the delivery is held */

    remove_key(&water2);
    reload(d);
    m = it_deliver(other, t, "target");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), id);
    assert_int_equal(it_uint(IT_ROOT(m), "attempt"), 2);
    miz_msg_destroy(&m);
    if (!it_log_has(d, "dropped: a reload revoked its key"))
        it_fail("the log does not tell why the worker was dropped");
    it_send_map(doomed, IT_MAP(IT_S("type", "answer"), IT_U("seq", 70), IT_U("delivery", id),
                               IT_S("outcome", "done")));
    it_reply_error(doomed, 70, "forbidden");
    it_answer(other, id, "done", NULL);
    it_outcome_is(gw, t, "water", "water", id, "done");
}

/* A reload that removes a dashboard's key cuts its stream off: mizd closes
 * every subscription and binds again, the other dashboard reconnects (its
 * stream goes on), the revoked one cannot. */
static void test_revoke_dashboard(void **state)
{
    it_daemon_t *d = *state;
    void *zctx = zmq_ctx_new();
    void *subs[2] = {counters_sub(d, zctx, &curve[DASHBOARD]),
                     counters_sub(d, zctx, &curve[DASHBOARD2])};
    size_t got[2];
    count_messages(d, subs, got, 2, 1000, true);
    assert_true(got[0] > 0 && got[1] > 0);

    remove_key(&dashboard2);
    reload(d);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; !it_log_has(d, "events: listening on ");) {
        if (it_now_ms() > end)
            it_fail("the events socket was not bound again");
        it_pump(d, 10);
    }
    count_messages(d, subs, got, 2, 300, false); /* what was on its way before */
    count_messages(d, subs, got, 2, 1000, false);
    assert_true(got[0] > 0);
    assert_int_equal(got[1], 0);
    zmq_close(subs[0]);
    zmq_close(subs[1]);
    zmq_ctx_term(zctx);
}

/* A client_ref belongs to the key that used it: another gateway using the
 * same ref gets a request of its own, not the first one's tracking number. */
static void test_refs_per_key(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *squatter = it_client_curve(d, &curve[GATEWAY2]), *victim = it_client_curve(d, &curve[GATEWAY]);
    miz_submit_t s = {.topic = "utility.water.cut", .client_ref = "137-000123", .text = "x"};
    uint64_t first = it_submit(squatter, &s);
    miz_msg_t *m = it_send_submit(victim, &s);
    it_check_type(m, "accepted");
    assert_null(miz_msg_get(m, "duplicate"));
    assert_true(it_uint(IT_ROOT(m), "tracking") != first);
    miz_msg_destroy(&m);
    m = it_send_submit(squatter, &s); /* its own ref again: the same request */
    it_check_type(m, "accepted");
    assert_non_null(miz_msg_get(m, "duplicate"));
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), first);
    miz_msg_destroy(&m);
}

/* broker.rate_limit, per key: a gateway past 5 a second gets busy with a
 * hint that is enough, whatever connections it opens; others go on. */
static void test_rate_limit(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *a = it_client_curve(d, &curve[GATEWAY2]), *a2 = it_client_curve(d, &curve[GATEWAY2]),
              *b = it_client_curve(d, &curve[GATEWAY]);
    miz_submit_t s = {.topic = "utility.water.cut", .text = "x"};
    uint64_t seq[10];
    /* both connections through their handshake first, so the burst is one */
    for (int i = 0; i < 2; i++) {
        it_send_map(i ? a2 : a, IT_MAP(IT_S("type", "ping"), IT_U("seq", 990)));
        miz_msg_t *m = it_reply(i ? a2 : a, 990);
        it_check_type(m, "pong");
        miz_msg_destroy(&m);
    }
    for (int i = 0; i < 10; i++)
        seq[i] = it_submit_send(i % 2 ? a2 : a, &s);
    size_t accepted = 0, busy = 0;
    uint64_t retry = 0;
    for (int i = 0; i < 10; i++) {
        miz_msg_t *m = it_reply(i % 2 ? a2 : a, seq[i]);
        if (miz_msg_is(m, "accepted")) {
            accepted++;
        } else {
            it_check_error(m, "busy");
            retry = it_uint(IT_ROOT(m), "retry_after_ms");
            busy++;
        }
        miz_msg_destroy(&m);
    }
    /* the bucket refills while the replies come: 5 at least, never all */
    assert_true(accepted >= 5 && busy >= 1);
    assert_true(retry >= 1 && retry <= 200);
    it_submit_topic(b, "utility.water.cut", NULL); /* another key is not held up */
    it_pump(d, (int)retry + 50);
    it_submit_topic(a, "utility.water.cut", NULL);
}

int main(void)
{
    setup_keys();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_roles, table),
        IT_TEST(test_strangers, table),
        IT_TEST(test_refused_send, table),
        IT_TEST(test_stream, table),
        IT_TEST(test_reload_keys, table),
        IT_TEST(test_revoke_worker, table),
        IT_TEST(test_revoke_dashboard, table),
        IT_TEST(test_rate_limit, table),
        IT_TEST(test_refs_per_key, table),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    it_keys_remove(&keys);
    return failed;
}

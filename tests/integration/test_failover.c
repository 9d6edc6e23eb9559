/* Several brokers on one store (issue 14, section 2, the peers' side): a
 * client, a worker, `miz` and miz-dashboard given the endpoints of two
 * brokers find the one that is active.
 *
 * The broker that takes over is played by a second mizd on the same LMDB
 * store: mizd A binds the first set of endpoints; it is killed with
 * SIGKILL, and mizd B is started on the same data directory with a second
 * set (it_second_endpoints), so B recovers what A committed, as a standby
 * on the shared PostgreSQL store will. A broker that is connected but
 * silent (hung) is a ROUTER of the test's own that reads and never
 * answers. Every check here fails without the lists: a peer given "A,B"
 * as one endpoint connects to neither. Last, a stream fed by a PUB and a
 * ROUTER of the test's own takes a new snapshot when the epoch changes. */
#define _GNU_SOURCE /* memmem */
#include "cli.h"
#include "dashproc.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "wire.h"

#define TABLE "crash.yaml"
#define TOPIC "crash.failover"
#define AGENCY "desk"
#define EP_LEN 64

typedef struct {
    char clients[2 * EP_LEN + 2], workers[2 * EP_LEN + 2], events[2 * EP_LEN + 2];
} lists_t;

/* "first,second" for each socket: the running mizd's endpoints, then those
 * the next one will bind (the harness's own clients use these from now). */
static void lists_make(it_daemon_t *d, lists_t *l)
{
    char c[EP_LEN], w[EP_LEN], e[EP_LEN];
    snprintf(c, sizeof c, "%s", it_clients_endpoint(d));
    snprintf(w, sizeof w, "%s", it_workers_endpoint(d));
    snprintf(e, sizeof e, "%s", it_events_endpoint(d));
    it_second_endpoints(d);
    snprintf(l->clients, sizeof l->clients, "%s,%s", c, it_clients_endpoint(d));
    snprintf(l->workers, sizeof l->workers, "%s,%s", w, it_workers_endpoint(d));
    snprintf(l->events, sizeof l->events, "%s,%s", e, it_events_endpoint(d));
}

/* The active broker dies; the other takes over on the same store. */
static void take_over(it_daemon_t *d)
{
    it_stop(d, true);
    it_start(d);
}

static miz_submit_t submit_of(const char *ref)
{
    return (miz_submit_t){.topic = TOPIC, .text = IT_PAYLOAD_TEXT, .client_ref = ref,
                          .confirm = true};
}

/* A worker registered on A moves to B when A's heartbeats stop, registers
 * there and is offered again what it held; a gateway that sends again what
 * A never answered gets the same tracking number from B, and the outcome. */
static void peers_move_to_the_standby(void **state)
{
    it_daemon_t *d = *state;
    lists_t l;
    lists_make(d, &l);
    it_peer_t *w = it_worker_on(d, l.workers, &(miz_worker_opts_t){.agency = AGENCY});
    miz_msg_destroy(&(miz_msg_t *){it_expect(w, "registered")});
    it_peer_t *c = it_client_on(d, l.clients);
    miz_submit_t s = submit_of("fo-1");
    uint64_t t = it_submit(c, &s);
    uint64_t id = it_take(w, t, "target");
    it_ack(w, id);
    assert_string_not_equal(miz_worker_endpoint(it_miz_worker(w)), it_workers_endpoint(d));

    take_over(d);
    /* A is silent: the worker moves, registers (libmiz swallows that
     * reply) and B offers the delivery again, its second attempt */
    miz_msg_t *m = it_deliver(w, t, "target");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), id);
    assert_int_equal(it_uint(IT_ROOT(m), "attempt"), 2);
    miz_msg_destroy(&m);
    assert_string_equal(miz_worker_endpoint(it_miz_worker(w)), it_workers_endpoint(d));
    /* the gateway had no receipt it trusts: the same client_ref again;
     * A is silent, so past its own timeout the gateway moves on and sends
     * it once more (the copy queued for A is dropped) */
    it_submit_send(c, &s);
    it_quiet(c, 300);
    assert_int_equal(miz_client_failover(it_miz_client(c)), 0);
    uint64_t seq = it_submit_send(c, &s);
    m = it_reply(c, seq);
    it_check_type(m, "accepted");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), t);
    assert_true(it_bool(IT_ROOT(m), "duplicate"));
    miz_msg_destroy(&m);
    assert_string_equal(miz_client_endpoint(it_miz_client(c)), it_clients_endpoint(d));
    it_answer(w, id, "done", "answered on the standby");
    it_outcome_is(c, t, AGENCY, AGENCY, id, "done");
}

/* Where the harness keeps the daemon's files: its data dir's parent. */
static void daemon_dir(it_daemon_t *d, char *buf, size_t size)
{
    snprintf(buf, size, "%s", it_data_dir(d));
    char *slash = strrchr(buf, '/');
    assert_non_null(slash);
    *slash = '\0';
}

/* The next message the hung broker read: a command of that type. */
static void hung_read(void *router, const char *type)
{
    char frame[2][512];
    zmq_pollitem_t item = {router, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, IT_WAIT_MS) != 1)
        it_fail("the hung broker was sent no %s", type);
    assert_true(zmq_recv(router, frame[0], sizeof frame[0], 0) > 0); /* the routing id */
    int n = zmq_recv(router, frame[1], sizeof frame[1], 0);
    assert_true(n > 0 && n < (int)sizeof frame[1]);
    /* msgpack: the type's name is in the frame as it was packed */
    assert_non_null(memmem(frame[1], (size_t)n, type, strlen(type)));
}

/* A broker that is connected but answers nothing (hung, or deposed and
 * not yet stepped down) is left after the call's timeout: status, ping and
 * a submit with a client_ref are sent again to the next, which answers; a
 * submit without one is not (it could be accepted twice). */
static void a_silent_broker_is_left(void **state)
{
    /* no worker here: libmiz's blocking calls starve no heartbeat */
    it_daemon_t *d = *state;
    char dir[EP_LEN], hung_ep[EP_LEN + 16], list[3 * EP_LEN + 16];
    daemon_dir(d, dir, sizeof dir);
    snprintf(hung_ep, sizeof hung_ep, "ipc://%s/hung", dir);
    snprintf(list, sizeof list, "%s,%s", hung_ep, it_clients_endpoint(d));
    void *zctx = zmq_ctx_new();
    void *hung = zmq_socket(zctx, ZMQ_ROUTER);
    int linger = 0, handover = 1; /* as mizd's clients socket: a client back takes its id over */
    zmq_setsockopt(hung, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(hung, ZMQ_ROUTER_HANDOVER, &handover, sizeof handover);
    assert_int_equal(zmq_bind(hung, hung_ep), 0);
    uint64_t t = it_submit_topic(it_client(d), TOPIC, NULL);

    miz_msg_t *m = NULL;
    miz_client_t *c = miz_client_new(zctx, list);
    assert_non_null(c);
    assert_int_equal(miz_status(c, t, 300, &m), 0);
    hung_read(hung, "status");
    it_check_type(m, "status");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), t);
    miz_msg_destroy(&m);
    assert_string_equal(miz_client_endpoint(c), it_clients_endpoint(d));
    /* the gateway's own timeout: it moves on by itself (back to the hung one) */
    assert_int_equal(miz_client_failover(c), 0);
    assert_string_equal(miz_client_endpoint(c), hung_ep);
    assert_int_equal(miz_ping(c, 300, &m), 0);
    hung_read(hung, "ping");
    it_check_type(m, "pong");
    miz_msg_destroy(&m);
    miz_client_destroy(&c);

    miz_submit_t with_ref = submit_of("fo-silent");
    c = miz_client_new(zctx, list);
    assert_int_equal(miz_submit(c, &with_ref, 300, &m), 0);
    hung_read(hung, "submit");
    it_check_type(m, "accepted");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), t + 1);
    miz_msg_destroy(&m);
    miz_client_destroy(&c);

    miz_submit_t no_ref = submit_of(NULL);
    c = miz_client_new(zctx, list);
    assert_int_equal(miz_submit(c, &no_ref, 300, &m), -1);
    assert_int_equal(errno, EAGAIN);
    hung_read(hung, "submit");
    /* not sent to the live one: the next request takes the next number */
    assert_string_equal(miz_client_endpoint(c), it_clients_endpoint(d));
    miz_client_destroy(&c);
    assert_int_equal(it_submit_topic(it_client(d), TOPIC, NULL), t + 2);
    zmq_close(hung);
    zmq_ctx_term(zctx);
}

/* What no list can be: refused at once, saying why. */
static void bad_lists_are_refused(void **state)
{
    static const char *const bad[] = {"", ",", "ipc://a,", ",ipc://a", "ipc://a,,ipc://b",
                                      "ipc://a, ipc://b", "nowhere", "tcp://", "tcp://miz-b",
                                      "tcp://a:1,tcp://miz-b:", "tcp://:7370",
                                      "ipc://1,ipc://2,ipc://3,ipc://4,ipc://5,ipc://6,ipc://7,"
                                      "ipc://8,ipc://9"};
    char err[256];
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        err[0] = '\0';
        assert_int_equal(miz_endpoints_check(bad[i], err, sizeof err), -1);
        assert_true(strlen(err) > 0);
        errno = 0;
        assert_null(miz_client_new(NULL, bad[i]));
        assert_int_equal(errno, EINVAL);
    }
    assert_int_equal(miz_endpoints_check(NULL, err, sizeof err), -1);
    assert_int_equal(miz_endpoints_check("tcp://a:1", err, sizeof err), 1);
    assert_int_equal(miz_endpoints_check("tcp://a:1,ipc:///tmp/x", err, sizeof err), 2);
    assert_int_equal(miz_endpoints_check("tcp://[::1]:7370,tcp://*:7370", err, sizeof err), 2);
    assert_int_equal(miz_endpoints_check("tcp://miz-b", err, sizeof err), -1);
    assert_string_equal(err, "endpoint 1 \"tcp://miz-b\" has no port (tcp://HOST:PORT)");
    it_cli_t cli;
    assert_int_equal(it_cli_run(*state, &cli, (const char *const[]){"-e", "ipc://a,,ipc://b",
                                                                    "status", "1", NULL}),
                     2);
    char *out = it_cli_output(&cli, "err");
    assert_non_null(strstr(out, "endpoint 2 of \"ipc://a,,ipc://b\" is empty"));
    free(out);
    it_cli_free(&cli);
}

/* The line of /metrics that says name's value is want. */
static void wait_metrics_have(it_daemon_t *d, dash_proc_t *p, const char *line)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        char *metrics = dash_get_ok(p, "/metrics");
        bool has = strstr(metrics, line) != NULL;
        free(metrics);
        if (has)
            return;
        if (it_now_ms() > end)
            it_fail("/metrics never had \"%s\"", line);
        it_pump(d, 50);
    }
}

/* miz submit --wait, miz worker, miz status and miz-dashboard given both
 * brokers: the request A accepted is answered through B, the outcome comes
 * to the waiting gateway from B, and the dashboard shows B's state. */
static void the_tools_move_to_the_standby(void **state)
{
    it_daemon_t *d = *state;
    lists_t l;
    lists_make(d, &l);
    dash_proc_t *dash = dash_start_with(
        d, (const char *const[]){"--events", l.events, "--clients", l.clients, NULL});
    wait_metrics_have(d, dash, "miz_dashboard_synced 1\n");
    wait_metrics_have(d, dash, "miz_dashboard_broker_endpoint 0\n");
    it_cli_t submit, worker, status;
    it_cli_start(&submit, (const char *const[]){"-e", l.clients, "submit", TOPIC, "snow",
                                                "--ref", "cli-1", "--wait", NULL});
    it_cli_wait_output(d, &submit, "out", "1\n");

    it_stop(d, true);
    /* started while no broker is up: it waits on A, then on B */
    it_cli_start(&worker, (const char *const[]){"-e", l.workers, "worker", "--agency", AGENCY,
                                                "--count", "1", NULL});
    it_start(d);
    assert_int_equal(it_cli_wait(d, &worker), 0);
    char *out = it_cli_output(&worker, "out");
    assert_non_null(strstr(out, "tracking 1"));
    assert_non_null(strstr(out, "(confirmed by the broker)"));
    free(out);
    assert_int_equal(it_cli_wait(d, &submit), 0);
    out = it_cli_output(&submit, "out");
    assert_non_null(strstr(out, "outcome of 1:"));
    free(out);
    assert_int_equal(it_cli_run(d, &status, (const char *const[]){"-e", l.clients, "status", "1",
                                                                   "--json", NULL}),
                     0);
    out = it_cli_output(&status, "out");
    assert_non_null(strstr(out, "\"state\": \"closed\""));
    free(out);

    wait_metrics_have(d, dash, "miz_dashboard_broker_endpoint 1\n");
    wait_metrics_have(d, dash, "miz_dashboard_synced 1\n");
    /* B's snapshot: the request, closed through B */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        char *json = dash_get_ok(dash, "/api/figures");
        bool has = strstr(json, "\"requests\":1") && strstr(json, "\"synced\":true");
        free(json);
        if (has)
            break;
        if (it_now_ms() > end)
            it_fail("/api/figures never showed B's request");
        it_pump(d, 50);
    }
    dash_stop(&dash);
    it_cli_free(&submit);
    it_cli_free(&worker);
    it_cli_free(&status);
}

/* ---- the stream and the epoch, against a broker of the test's own ---- */

#define NO_EPOCH UINT64_MAX

typedef struct {
    char dir[32], events[64], clients[64];
    void *zctx, *pub, *router;
    miz_stream_t *stream;
} fake_t;

/* A map being packed, counted. */
typedef struct {
    msgpack_sbuffer buf;
    msgpack_packer pk;
    wire_map_t m;
} fake_msg_t;

static wire_map_t *fake_begin(fake_msg_t *f)
{
    msgpack_sbuffer_init(&f->buf);
    msgpack_packer_init(&f->pk, &f->buf, msgpack_sbuffer_write);
    wire_map_begin(&f->m, &f->pk);
    return &f->m;
}

/* Closes the map and sends it, after a topic frame for a PUB (or the
 * routing id frame for a ROUTER), unless NULL. */
static void fake_send(void *sock, const void *first, size_t first_len, fake_msg_t *f)
{
    wire_map_end(&f->m);
    if (first)
        assert_true(zmq_send(sock, first, first_len, ZMQ_SNDMORE) >= 0);
    assert_true(zmq_send(sock, f->buf.data, f->buf.size, 0) >= 0);
    msgpack_sbuffer_destroy(&f->buf);
}

/* The map's epoch, unless NO_EPOCH (a mizd before the field). */
static void fake_epoch(wire_map_t *m, uint64_t epoch)
{
    if (epoch != NO_EPOCH)
        wire_map_uint(m, "epoch", epoch);
}

/* Publishes a "received" of tracking, with every key of protocol.md 8.1. */
static void fake_event(fake_t *f, uint64_t seq, uint64_t epoch, uint64_t tracking)
{
    fake_msg_t msg;
    wire_map_t *m = fake_begin(&msg);
    wire_map_uint(m, "seq", seq);
    wire_map_uint(m, "run", 7);
    fake_epoch(m, epoch);
    wire_map_cstr(m, "event", "received");
    wire_map_uint(m, "at", 1000 + seq);
    wire_map_uint(m, "tracking", tracking);
    wire_map_cstr(m, "topic", TOPIC);
    wire_map_cstr(m, "kind", "request");
    wire_map_cstr(m, "priority", "routine");
    wire_map_uint(m, "created", 1000 + seq);
    static const char *const zeros[] = {"delivery", "level", "attempts", "delivery_created",
                                        "ack_by", "answer_by", "from", "worker"};
    for (size_t i = 0; i < sizeof zeros / sizeof *zeros; i++)
        wire_map_uint(m, zeros[i], 0);
    static const char *const nils[] = {"agency", "role", "outcome"};
    for (size_t i = 0; i < sizeof nils / sizeof *nils; i++)
        msgpack_pack_nil(wire_map_key(m, nils[i]));
    wire_map_cstr(m, "state", "open");
    wire_map_bool(m, "overdue", false);
    fake_send(f->pub, "event", strlen("event"), &msg);
}

/* Reads the stream's snapshot request and answers it in one empty part. */
static void fake_snapshot(fake_t *f, uint64_t seq, uint64_t epoch)
{
    char rid[256], req[512];
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;; miz_stream_pump(f->stream, 10)) {
        zmq_pollitem_t item = {f->router, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, 0) == 1)
            break;
        if (it_now_ms() > end)
            fail_msg("the stream asked for no snapshot");
    }
    int rn = zmq_recv(f->router, rid, sizeof rid, 0);
    int n = zmq_recv(f->router, req, sizeof req, 0);
    assert_true(rn > 0 && n > 0 && n < (int)sizeof req);
    wire_status_t st;
    char why[64];
    uint64_t re;
    wire_msg_t *w = wire_parse(req, (size_t)n, &st, why, sizeof why);
    assert_non_null(w);
    assert_int_equal(wire_uint(w, "seq", &re), WIRE_OK);
    wire_msg_destroy(&w);
    fake_msg_t msg;
    wire_map_t *m = fake_begin(&msg);
    wire_map_cstr(m, "type", "snapshot");
    wire_map_uint(m, "re", re);
    wire_map_uint(m, "part", 0);
    msgpack_pack_array(wire_map_key(m, "requests"), 0);
    wire_map_bool(m, "done", true);
    wire_map_uint(m, "seq", seq);
    wire_map_uint(m, "run", 7);
    fake_epoch(m, epoch);
    fake_send(f->router, rid, (size_t)rn, &msg);
}

/* Pumps the stream until it is synced and its stats say want (events,
 * resyncs, epoch). */
static void fake_wait(fake_t *f, uint64_t events, uint64_t resyncs, uint64_t epoch)
{
    miz_stream_stats_t st;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        miz_stream_pump(f->stream, 10);
        miz_stream_stats(f->stream, &st);
        if (miz_stream_synced(f->stream) && st.events == events && st.resyncs == resyncs &&
            st.epoch == epoch)
            return;
        if (it_now_ms() > end)
            fail_msg("stream: events %" PRIu64 " resyncs %" PRIu64 " epoch %" PRIu64
                     ", not %" PRIu64 " %" PRIu64 " %" PRIu64,
                     st.events, st.resyncs, st.epoch, events, resyncs, epoch);
    }
}

/* An event of another epoch is a gap: another broker took over, and its
 * seq may well follow on. A stream resnapshots, as on a seq gap; a mizd
 * that sends no epoch is epoch 0. */
static void a_new_epoch_is_a_new_snapshot(void **state)
{
    (void)state;
    fake_t f = {.dir = "/tmp/miz-fo-XXXXXX"};
    assert_non_null(mkdtemp(f.dir));
    snprintf(f.events, sizeof f.events, "ipc://%s/e", f.dir);
    snprintf(f.clients, sizeof f.clients, "ipc://%s/c", f.dir);
    f.zctx = zmq_ctx_new();
    f.pub = zmq_socket(f.zctx, ZMQ_PUB);
    f.router = zmq_socket(f.zctx, ZMQ_ROUTER);
    assert_int_equal(zmq_bind(f.pub, f.events), 0);
    assert_int_equal(zmq_bind(f.router, f.clients), 0);
    f.stream = miz_stream_new(f.zctx, f.events, f.clients, NULL, 3600 * 1000);
    assert_non_null(f.stream);
    fake_snapshot(&f, 0, NO_EPOCH);
    fake_wait(&f, 0, 0, 0);
    /* the subscription takes a moment to reach the PUB: counters until it has */
    while (!miz_stream_counters(f.stream)) {
        fake_msg_t msg;
        wire_map_t *m = fake_begin(&msg);
        wire_map_uint(m, "seq", 0);
        wire_map_uint(m, "run", 7);
        fake_send(f.pub, "counters", strlen("counters"), &msg);
        miz_stream_pump(f.stream, 10);
    }
    fake_event(&f, 1, NO_EPOCH, 1);
    fake_wait(&f, 1, 0, 0);
    fake_event(&f, 2, 3, 2); /* the next seq, but another epoch */
    fake_snapshot(&f, 2, 3);
    fake_wait(&f, 1, 1, 3);
    fake_event(&f, 3, 3, 3);
    fake_wait(&f, 2, 1, 3);
    miz_stream_destroy(&f.stream);
    zmq_close(f.pub);
    zmq_close(f.router);
    zmq_ctx_term(f.zctx);
    char path[80];
    snprintf(path, sizeof path, "%s/e", f.dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/c", f.dir);
    unlink(path);
    rmdir(f.dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(peers_move_to_the_standby, TABLE),
        IT_TEST(a_silent_broker_is_left, TABLE),
        IT_TEST(bad_lists_are_refused, TABLE),
        IT_TEST(the_tools_move_to_the_standby, TABLE),
        cmocka_unit_test(a_new_epoch_is_a_new_snapshot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

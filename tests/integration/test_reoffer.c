/* `miz worker` offered again what it holds (protocol.md, section 6; issue
 * 14, section 2): after a broker restart or a failover the broker that
 * serves now recovers the store and offers the delivery again, same id,
 * next attempt. The worker must ack it again while its command still
 * runs, send its final command again when that got no "ok", run the
 * command only once, and leave with --count once its answer is confirmed.
 *
 * The --exec command waits for a file of the test's own before it
 * answers, so the test decides whether the broker is lost while the
 * command runs or after its answer went out. An answer sent to a broker
 * stopped with SIGSTOP and then killed -9 is lost for sure; a broker killed
 * while the command runs loses nothing but the worker's registration. */
#include "cli.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE "crash.yaml" /* deadlines far beyond the test: only the broker's loss re-offers */
#define TOPIC "crash.reoffer"
#define AGENCY "desk"
#define EP_LEN 64

typedef struct {
    char dir[32];
    char keeper[48], runs[48], go[48]; /* files in dir */
    char cmd[512];
    it_cli_t worker;
} reoffer_t;

/* The command records each run and its keeper's pid (the process the
 * worker reaps: once it is gone, the worker has sent the answer), then
 * waits for the file go and answers "fixed". */
static void reoffer_start(reoffer_t *r, const char *workers)
{
    snprintf(r->dir, sizeof r->dir, "/tmp/miz-reoffer-XXXXXX");
    assert_non_null(mkdtemp(r->dir));
    snprintf(r->keeper, sizeof r->keeper, "%s/keeper", r->dir);
    snprintf(r->runs, sizeof r->runs, "%s/runs", r->dir);
    snprintf(r->go, sizeof r->go, "%s/go", r->dir);
    snprintf(r->cmd, sizeof r->cmd,
             "echo $PPID > %s.new && mv %s.new %s; echo run >> %s; "
             "while [ ! -e %s ]; do sleep 0.02; done; echo 'outcome: fixed'; echo kept",
             r->keeper, r->keeper, r->keeper, r->runs, r->go);
    it_cli_start(&r->worker, (const char *const[]){"-e", workers, "worker", "--agency", AGENCY,
                                                   "--count", "1", "--exec", r->cmd, NULL});
}

/* The keeper's pid, once the command has started (else the worker is
 * stopped and the test fails). */
static pid_t reoffer_keeper(it_daemon_t *d, reoffer_t *r)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;; it_pump(d, 20)) {
        FILE *f = fopen(r->keeper, "r");
        int pid = 0;
        if (f && fscanf(f, "%d", &pid) != 1)
            pid = 0;
        if (f)
            fclose(f);
        if (pid > 0)
            return pid;
        if (it_now_ms() > end) {
            it_cli_stop(d, &r->worker, SIGTERM);
            it_fail("the command never started");
        }
    }
}

static void reoffer_go(const reoffer_t *r)
{
    FILE *f = fopen(r->go, "w");
    assert_non_null(f);
    fclose(f);
}

/* Waits until the request's target delivery is in state after at least
 * that many offers (asked through c); if it never is, the worker is
 * stopped before the test fails, so it does not outlive the test. */
static void reoffer_wait_state(it_daemon_t *d, reoffer_t *r, it_peer_t *c, uint64_t tracking,
                               const char *state, uint64_t attempts)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;; it_pump(d, 20)) {
        miz_msg_t *m = it_status(c, tracking);
        const msgpack_object *t = &it_array(IT_ROOT(m), "deliveries", 1)->via.array.ptr[0];
        const msgpack_object *s = it_get(t, "state");
        bool there = it_uint(t, "attempts") >= attempts && s->type == MSGPACK_OBJECT_STR &&
                     s->via.str.size == strlen(state) &&
                     memcmp(s->via.str.ptr, state, s->via.str.size) == 0;
        miz_msg_destroy(&m);
        if (there)
            return;
        if (it_now_ms() > end) {
            it_cli_stop(d, &r->worker, SIGTERM);
            it_fail("the delivery of request %llu was never %s after %llu offers",
                    (unsigned long long)tracking, state, (unsigned long long)attempts);
        }
    }
}

/* How many of the delivery's history entries are that event. */
static size_t reoffer_events(const msgpack_object *delivery, const char *event)
{
    const msgpack_object *h = it_get(delivery, "history");
    size_t n = 0;
    for (uint32_t i = 0; h->type == MSGPACK_OBJECT_ARRAY && i < h->via.array.size; i++) {
        const msgpack_object *e = it_get(&h->via.array.ptr[i], "event");
        n += e->type == MSGPACK_OBJECT_STR && e->via.str.size == strlen(event) &&
             memcmp(e->via.str.ptr, event, e->via.str.size) == 0;
    }
    return n;
}

/* The worker left with --count once its answer was confirmed, having said
 * what it did with the new offer (said); the request closed with that one
 * answer, given once; the command ran once. The broker lost the worker's
 * registration, so the delivery went back to the queue and was offered
 * again (more than once if the worker's register went out twice, which
 * libmiz does when the first gets no reply for a while). */
static void reoffer_check_end(it_daemon_t *d, reoffer_t *r, it_peer_t *c, uint64_t tracking,
                              const char *said)
{
    assert_int_equal(it_cli_wait(d, &r->worker), 0);
    miz_msg_t *m = it_status(c, tracking);
    it_str_eq(IT_ROOT(m), "state", "closed");
    const msgpack_object *t = &it_array(IT_ROOT(m), "deliveries", 1)->via.array.ptr[0];
    it_str_eq(t, "state", "answered");
    it_str_eq(t, "outcome", "fixed");
    it_str_eq(t, "text", "kept");
    assert_true(it_uint(t, "attempts") >= 2);
    assert_true(reoffer_events(t, "redelivered") >= 1);
    assert_int_equal(reoffer_events(t, "answered"), 1);
    miz_msg_destroy(&m);

    FILE *f = fopen(r->runs, "r");
    assert_non_null(f);
    char runs[64] = "";
    size_t n = fread(runs, 1, sizeof runs - 1, f);
    fclose(f);
    runs[n] = '\0';
    if (strcmp(runs, "run\n") != 0)
        it_fail("the command ran more than once: \"%s\"", runs);

    char *out = it_cli_output(&r->worker, "out");
    const char *line = "answered fixed: kept (confirmed by the broker)";
    const char *at = strstr(out, line);
    if (!at || strstr(at + 1, line) || !strstr(out, said))
        it_fail("not one confirmed answer, or no \"%s\", in:\n%s", said, out);
    free(out);

    it_cli_free(&r->worker);
    const char *files[] = {r->keeper, r->runs, r->go};
    for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
        assert_int_equal(unlink(files[i]), 0);
    assert_int_equal(rmdir(r->dir), 0);
}

/* The answer goes to a broker that is stopped (SIGSTOP) and then killed -9:
 * it never lands, and its "ok" never comes. The broker started again on
 * the same store offers the delivery again; the worker sends the same
 * answer again (without running the command again) and leaves. */
static void answer_lost_is_sent_again(void **state)
{
    it_daemon_t *d = *state;
    reoffer_t r;
    reoffer_start(&r, it_workers_endpoint(d));
    it_peer_t *c = it_client(d);
    /* confirm: the outcome may come while this client is still reconnecting
     * to the restarted broker, and then it comes again when it speaks */
    uint64_t tracking = it_submit(
        c, &(miz_submit_t){.topic = TOPIC, .text = IT_PAYLOAD_TEXT, .confirm = true});
    reoffer_wait_state(d, &r, c, tracking, "acked", 1);
    pid_t keeper = reoffer_keeper(d, &r);

    assert_int_equal(kill(it_pid(d), SIGSTOP), 0);
    reoffer_go(&r);
    /* reaped by the worker, which sends the answer at once */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; kill(keeper, 0) == 0 || errno != ESRCH;) {
        if (it_now_ms() > end) {
            it_cli_stop(d, &r.worker, SIGTERM);
            it_fail("the worker never reaped its command");
        }
        it_pump(d, 20);
    }
    it_pump(d, 200);
    it_stop(d, true);
    it_start(d);

    reoffer_check_end(d, &r, c, tracking, "its answer got no ok, sent again");
    miz_msg_t *pong = NULL;
    assert_int_equal(miz_ping(it_miz_client(c), IT_WAIT_MS, &pong), 0);
    miz_msg_destroy(&pong);
    const msgpack_object *answers;
    miz_msg_t *o = it_outcome(c, tracking, 1, &answers);
    miz_msg_destroy(&o);
}

/* A failover while the command runs: the worker, given both brokers'
 * endpoints, moves to the one that took over and is offered the delivery
 * again there; it acks it again (the new broker counts it held), lets
 * the command it runs finish, and answers once. */
static void running_job_is_acked_again(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *a = it_client(d);
    char workers[2 * EP_LEN + 2];
    int len = snprintf(workers, sizeof workers, "%s,", it_workers_endpoint(d));
    it_second_endpoints(d);
    snprintf(workers + len, sizeof workers - (size_t)len, "%s", it_workers_endpoint(d));

    reoffer_t r;
    reoffer_start(&r, workers);
    uint64_t tracking = it_submit_topic(a, TOPIC, NULL);
    reoffer_wait_state(d, &r, a, tracking, "acked", 1);
    reoffer_keeper(d, &r);

    it_stop(d, true);
    it_start(d); /* the standby, on the second endpoints */
    it_peer_t *b = it_client(d);
    reoffer_wait_state(d, &r, b, tracking, "acked", 2);
    reoffer_go(&r);
    reoffer_check_end(d, &r, b, tracking, "acked again, its command goes on");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(answer_lost_is_sent_again, TABLE),
        IT_TEST(running_job_is_acked_again, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

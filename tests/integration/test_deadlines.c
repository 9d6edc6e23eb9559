/* Integration test of a dead worker against the real mizd, on deadlines.yaml
 * (a 100 ms heartbeat): a worker process killed while holding claimed
 * deliveries, found dead by the heartbeats it no longer sends over its
 * socket. What deadlines make happen (ack timeout, expiry, overdue,
 * escalation, working time) is tested on the engine with a fake clock, in
 * tests/test_engine.c. Nothing here measures speed: the test waits for what
 * the heartbeat makes happen, with IT_WAIT_MS of slack. */
#include "harness.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define TABLE "deadlines.yaml"
#define HELD 50 /* deliveries the killed worker holds */

/* The worker that dies, in a forked child with a context of its own: it
 * claims HELD deliveries, reports each id down the pipe once the broker
 * confirmed the claim, and waits (heartbeating) to be killed. */
static void hold_until_killed(const char *endpoint, int fd)
{
    void *zctx = zmq_ctx_new();
    miz_worker_t *w =
        miz_worker_new(zctx, endpoint, &(miz_worker_opts_t){.agency = "water", .credit = HELD});
    miz_msg_t *m;
    while (w && miz_worker_recv(w, -1, &m) == 0) {
        uint64_t id;
        bool ok = miz_msg_uint(m, "delivery", &id) == 0;
        if (ok && miz_msg_is(m, "deliver"))
            ok = miz_worker_ack(w, id) == 0;
        else if (ok && miz_msg_is(m, "ok"))
            ok = write(fd, &id, sizeof id) == sizeof id;
        else
            ok = miz_msg_is(m, "registered");
        miz_msg_destroy(&m);
        if (!ok)
            break;
    }
    _exit(1); /* the parent sees the pipe close early */
}

/* Reads the n ids the child claimed, or fails if it stops short. */
static void read_claimed(int fd, uint64_t *ids, size_t n)
{
    size_t got = 0;
    while (got < n * sizeof *ids) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, IT_WAIT_MS) != 1)
            it_fail("the dying worker claimed %zu of %zu deliveries", got / sizeof *ids, n);
        ssize_t r = read(fd, (char *)ids + got, n * sizeof *ids - got);
        if (r <= 0)
            it_fail("the dying worker quit after claiming %zu deliveries", got / sizeof *ids);
        got += (size_t)r;
    }
}

/* A worker killed while holding claimed deliveries: the broker finds it
 * dead by its heartbeats and offers all of them, same ids, to another. */
static void test_worker_killed(void **state)
{
    it_daemon_t *d = *state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        hold_until_killed(it_workers_endpoint(d), fds[1]);
    }
    close(fds[1]);

    it_peer_t *c = it_client(d);
    uint64_t tracking[HELD], claimed[HELD];
    for (size_t i = 0; i < HELD; i++)
        tracking[i] = it_submit_topic(c, "drill.crash", NULL);
    read_claimed(fds[0], claimed, HELD);
    close(fds[0]);
    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, NULL, 0), pid);

    /* all come at once (credit HELD): take them all, then answer */
    it_peer_t *w = it_worker(d, "water", HELD);
    bool seen[HELD] = {false};
    for (size_t i = 0; i < HELD; i++) {
        miz_msg_t *m = it_expect(w, "deliver");
        it_mark(claimed, seen, HELD, it_uint(IT_ROOT(m), "delivery"), "redelivery of");
        assert_int_equal(it_uint(IT_ROOT(m), "attempt"), 2);
        miz_msg_destroy(&m);
    }
    for (size_t i = 0; i < HELD; i++)
        it_answer(w, claimed[i], "done", "after the crash");
    it_outcomes(c, tracking, HELD, "done");
    miz_msg_t *m = it_status(c, tracking[0]);
    const msgpack_object *dels = it_array(IT_ROOT(m), "deliveries", 1);
    IT_HISTORY(&dels->via.array.ptr[0], "queued", "offered", "acked", "redelivered", "offered",
               "acked", "answered");
    miz_msg_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_worker_killed, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

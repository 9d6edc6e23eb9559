/* Integration tests of deadlines and dead workers against the real mizd, on
 * deadlines.yaml: millisecond ack and answer deadlines, a 100 ms heartbeat.
 * Nothing here measures speed: the tests wait for what the deadlines make
 * happen, with IT_WAIT_MS of slack. */
#include "harness.h"
#include "workcal.h"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#define TABLE "deadlines.yaml"
#define HELD 50 /* deliveries the killed worker holds */

/* The next message is a cancel of that delivery for that reason. */
static void expect_cancel(it_peer_t *w, uint64_t id, const char *reason)
{
    miz_msg_t *m = it_expect(w, "cancel");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), id);
    it_str_eq(IT_ROOT(m), "reason", reason);
    miz_msg_destroy(&m);
}

/* The next message is delivery id of tracking, in that role, at that attempt. */
static void expect_attempt(it_peer_t *w, uint64_t tracking, const char *role, uint64_t id,
                           uint64_t attempt)
{
    miz_msg_t *m = it_deliver(w, tracking, role);
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), id);
    assert_int_equal(it_uint(IT_ROOT(m), "attempt"), attempt);
    miz_msg_destroy(&m);
}

/* A delivery made from another (escalation, breach copy): returns its id. */
static uint64_t expect_copy(it_peer_t *w, uint64_t tracking, const char *role, uint64_t from,
                            const char *reason)
{
    miz_msg_t *m = it_deliver(w, tracking, role);
    assert_int_equal(it_uint(IT_ROOT(m), "from"), from);
    it_str_eq(IT_ROOT(m), "reason", reason);
    uint64_t id = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);
    return id;
}

/* Worker a never acks: past ack_within it is told to drop the delivery and
 * worker b gets the same delivery id as attempt 2. */
static void test_ack_timeout(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *a = it_worker(d, "water", 1);
    uint64_t t = it_submit_topic(c, "drill.ack", NULL);
    uint64_t id = it_take(a, t, "target");
    /* registered after the offer, so round robin offers b the next */
    it_peer_t *b = it_worker(d, "water", 1);

    expect_attempt(b, t, "target", id, 2);
    it_ack(b, id);
    expect_cancel(a, id, "ack_timeout");
    it_answer(b, id, "fixed", "pipe replaced");
    it_outcome_is(c, t, "water", "water", id, "fixed");

    miz_msg_t *m = it_status(c, t);
    const msgpack_object *x = it_status_delivery(m, id);
    it_str_eq(x, "state", "answered");
    assert_int_equal(it_uint(x, "attempts"), 2);
    IT_HISTORY(x, "queued", "offered", "redelivered", "offered", "acked", "answered");
    miz_msg_destroy(&m);
    it_quiet(a, 0);
}

/* After max_attempts unclaimed offers the delivery expires and escalates
 * to the chain's agency as undeliverable; an observer copy nobody acks
 * expires as well, without escalating. */
static void test_expired(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *gov = it_worker(d, "governorate", 0);
    it_peer_t *w = it_worker(d, "water", 1), *insp = it_worker(d, "inspection", 1);
    uint64_t t = it_submit_topic(c, "drill.expire", NULL);
    uint64_t id = it_take(w, t, "target");
    uint64_t copy = it_take(insp, t, "observe");
    expect_cancel(w, id, "ack_timeout");
    expect_attempt(w, t, "target", id, 2);
    expect_cancel(w, id, "ack_timeout");
    expect_cancel(insp, copy, "ack_timeout");
    expect_attempt(insp, t, "observe", copy, 2);
    expect_cancel(insp, copy, "ack_timeout");

    uint64_t e = expect_copy(gov, t, "escalation", id, "undeliverable");
    miz_msg_t *m = it_status(c, t);
    it_str_eq(IT_ROOT(m), "state", "open");
    const msgpack_object *x = it_status_delivery(m, id);
    it_str_eq(x, "state", "expired");
    assert_int_equal(it_uint(x, "attempts"), 2);
    IT_HISTORY(x, "queued", "offered", "redelivered", "offered", "expired", "escalated");
    x = it_status_delivery(m, copy);
    it_str_eq(x, "state", "expired");
    IT_HISTORY(x, "queued", "offered", "redelivered", "offered", "expired");
    miz_msg_destroy(&m);

    it_answer(gov, e, "dispatched", "a crew from the governorate");
    it_outcome_is(c, t, "water", "governorate", e, "dispatched");
    it_quiet(w, 0);
    it_quiet(insp, 0);
}

/* A worker acks but does not answer: past answer_within the delivery is
 * overdue, escalates, and the observer hears of the breach; the escalation's
 * answer supersedes the original. */
static void test_overdue(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *slow = it_worker(d, "water", 0);
    it_peer_t *gov = it_worker(d, "governorate", 0), *insp = it_worker(d, "inspection", 0);
    uint64_t t = it_submit_topic(c, "drill.overdue", NULL);
    it_ack(insp, it_take(insp, t, "observe"));
    uint64_t id = it_take(slow, t, "target");
    it_ack(slow, id);

    uint64_t e = expect_copy(gov, t, "escalation", id, "overdue");
    it_ack(insp, expect_copy(insp, t, "breach", id, "overdue"));
    miz_msg_t *m = it_status(c, t);
    const msgpack_object *x = it_status_delivery(m, id);
    it_str_eq(x, "state", "acked");
    assert_true(it_bool(x, "overdue"));
    miz_msg_destroy(&m);

    it_answer(gov, e, "resolved", "the governorate sent its own crew");
    expect_cancel(slow, id, "superseded");
    const msgpack_object *ans;
    miz_msg_t *o = it_outcome(c, t, 1, &ans);
    it_answer_is(&ans[0], "water", "governorate", e, "resolved");
    assert_true(it_bool(&ans[0], "late")); /* the citizen waited past water's deadline */
    miz_msg_destroy(&o);

    m = it_status(c, t);
    x = it_status_delivery(m, id);
    it_str_eq(x, "state", "superseded");
    assert_true(it_bool(x, "overdue"));
    IT_HISTORY(x, "queued", "offered", "acked", "overdue", "escalated", "superseded");
    x = it_status_delivery(m, e);
    it_str_eq(x, "role", "escalation");
    it_str_eq(x, "agency", "governorate");
    it_str_eq(x, "state", "answered");
    assert_int_equal(it_uint(x, "level"), 1);
    assert_int_equal(it_uint(x, "from"), id);
    miz_msg_destroy(&m);
}

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

/* A route with calendar: office counts its deadlines in working time: the
 * same instants lib/workcal.h gives for the calendar deadlines.yaml sets. */
static void test_working_time(void **state)
{
    it_daemon_t *d = *state;
    workcal_t *office = workcal_new();
    assert_non_null(office);
    for (int day = 0; day < 5; day++) /* Saturday to Wednesday */
        assert_int_equal(workcal_set_day(office, day, 8 * 60, 14 * 60), 0);
    assert_int_equal(workcal_set_day(office, 5, 8 * 60, 12 * 60), 0);
    assert_int_equal(workcal_add_holiday(office, 1405, 1, 1), 0);
    assert_int_equal(workcal_add_holiday(office, 1405, 1, 2), 0);

    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 1);
    uint64_t t = it_submit_topic(c, "drill.office", NULL);
    uint64_t id = it_take(w, t, "target");
    miz_msg_t *m = it_status(c, t);
    const msgpack_object *del = it_status_delivery(m, id);
    uint64_t created = it_uint(del, "created");
    assert_int_equal(it_uint(del, "answer_by"), workcal_add(office, created, 24 * 3600 * 1000));
    const msgpack_object *hist = it_get(del, "history");
    uint64_t offered = it_uint(&hist->via.array.ptr[hist->via.array.size - 1], "at");
    it_str_eq(&hist->via.array.ptr[hist->via.array.size - 1], "event", "offered");
    assert_int_equal(it_uint(del, "ack_by"), workcal_add(office, offered, 3600 * 1000));
    miz_msg_destroy(&m);
    workcal_destroy(&office);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_ack_timeout, TABLE),
        IT_TEST(test_expired, TABLE),
        IT_TEST(test_overdue, TABLE),
        IT_TEST(test_worker_killed, TABLE),
        IT_TEST(test_working_time, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

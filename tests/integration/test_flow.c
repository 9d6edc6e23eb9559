/* Integration tests of flow control against the real mizd: a worker's
 * credit, urgent before routine, and a burst of 10,000 requests. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TABLE "routing.yaml"
#define TOPIC "utility.power.cut"
#define QUEUED 10
#define BURST 10000
#define BURST_WORKERS 3
#define BURST_CREDIT 50
#define BURST_WINDOW 500 /* submissions not yet accepted, at most */

/* A worker of credit 2 with 10 requests waiting holds 2 and gets the next
 * only when it answers one, oldest first. */
static void test_credit(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    uint64_t tracking[QUEUED], held[QUEUED];
    for (size_t i = 0; i < QUEUED; i++)
        tracking[i] = it_submit_topic(c, TOPIC, NULL);

    it_peer_t *w = it_worker(d, "power", 2);
    held[0] = it_take(w, tracking[0], "target");
    held[1] = it_take(w, tracking[1], "target");
    it_quiet(w, 300);
    /* each answer's "ok" must come before any further delivery: a third
     * delivery while two are held would fail it_answer */
    for (size_t i = 0; i < QUEUED; i++) {
        it_answer(w, held[i], "done", "restored");
        if (i + 2 < QUEUED)
            held[i + 2] = it_take(w, tracking[i + 2], "target");
    }
    it_outcomes(c, tracking, QUEUED, "done");
    it_quiet(w, 0);
}

/* A quiet worker gets no "ok" for what succeeds but every error, and what
 * it does takes effect as any worker's does. */
static void test_quiet_worker(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *w = it_worker_open(
        d, &(miz_worker_opts_t){.agency = "power", .credit = 2, .quiet = true});
    miz_msg_t *m = it_expect(w, "registered");
    assert_true(it_bool(IT_ROOT(m), "quiet"));
    miz_msg_destroy(&m);
    uint64_t tracking = it_submit_topic(c, TOPIC, NULL);
    uint64_t id = it_take(w, tracking, "target");
    miz_worker_t *mw = it_miz_worker(w);
    assert_int_equal(miz_worker_ack(mw, id), 0);
    assert_int_equal(miz_worker_progress(mw, id, "crew on its way"), 0);
    it_quiet(w, 200);
    assert_int_equal(miz_worker_ack(mw, id + 1000), 0);
    it_expect_error(w, "unknown_delivery");
    assert_int_equal(miz_worker_answer(mw, id, "done", "restored"), 0);
    assert_int_equal(miz_worker_unconfirmed(mw), 0); /* no ok will come: nothing kept for one */
    it_outcome_is(c, tracking, "power", "power", id, "done");
    it_quiet(w, 100);

    m = it_status(c, tracking);
    it_history_is(it_status_delivery(m, id),
                  (const char *const[]){"queued", "offered", "acked", "progress", "answered", NULL});
    miz_msg_destroy(&m);
    /* the default still confirms each command (it_serve expects the "ok") */
    it_close(&w);
    it_peer_t *loud = it_worker(d, "power", 1);
    tracking = it_submit_topic(c, TOPIC, NULL);
    id = it_serve(loud, tracking);
    it_outcome_is(c, tracking, "power", "power", id, "done");
    /* an answer is kept until its ok */
    tracking = it_submit_topic(c, TOPIC, NULL);
    id = it_take(loud, tracking, "target");
    assert_int_equal(miz_worker_answer(it_miz_worker(loud), id, "done", "restored"), 0);
    assert_int_equal(miz_worker_unconfirmed(it_miz_worker(loud)), 1);
    m = it_expect(loud, "ok");
    miz_msg_destroy(&m);
    assert_int_equal(miz_worker_unconfirmed(it_miz_worker(loud)), 0);
}

/* Waiting urgent deliveries go before routine ones, each oldest first. */
static void test_urgent_first(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    static const char *const prio[] = {"routine", "routine", "urgent",
                                       "routine", "urgent",  "urgent"};
    static const size_t order[] = {2, 4, 5, 0, 1, 3}; /* indices into prio, as offered */
    size_t n = sizeof prio / sizeof *prio;
    uint64_t tracking[sizeof prio / sizeof *prio];
    for (size_t i = 0; i < n; i++)
        tracking[i] =
            it_submit(c, &(miz_submit_t){.topic = TOPIC, .priority = prio[i], .text = "x"});

    it_peer_t *w = it_worker(d, "power", 1);
    for (size_t i = 0; i < n; i++) {
        miz_msg_t *m = it_deliver(w, tracking[order[i]], "target");
        it_str_eq(IT_ROOT(m), "priority", prio[order[i]]);
        it_answer(w, it_uint(IT_ROOT(m), "delivery"), "done", NULL);
        miz_msg_destroy(&m);
    }
    it_outcomes(c, tracking, n, "done");
}

/* Answers whatever has been delivered to w so far, without waiting for
 * the "ok" of each (they are read and checked as they come). */
static void serve_all(it_peer_t *w)
{
    miz_msg_t *m;
    while ((m = it_next(w, 0))) {
        if (miz_msg_is(m, "deliver"))
            assert_int_equal(
                miz_worker_answer(it_miz_worker(w), it_uint(IT_ROOT(m), "delivery"), "done", NULL),
                0);
        else
            it_check_type(m, "ok");
        miz_msg_destroy(&m);
    }
}

/* The request index a burst outcome's client_ref names. */
static size_t ref_index(const miz_msg_t *m)
{
    char buf[16];
    const msgpack_object *ref = it_get(IT_ROOT(m), "client_ref");
    if (ref->type != MSGPACK_OBJECT_STR || ref->via.str.size >= sizeof buf)
        it_fail("bad client_ref in an outcome");
    memcpy(buf, ref->via.str.ptr, ref->via.str.size);
    buf[ref->via.str.size] = '\0';
    size_t i = strtoul(buf, NULL, 10);
    if (i >= BURST)
        it_fail("client_ref %s is no request of the burst", buf);
    return i;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Sends submission i of the burst; its client_ref is i. */
static void send_burst(it_peer_t *c, size_t i, uint64_t *first_seq)
{
    char ref[16];
    uint64_t seq;
    snprintf(ref, sizeof ref, "%zu", i);
    miz_submit_t s = {.topic = TOPIC, .client_ref = ref, .text = "burst"};
    assert_int_equal(miz_client_send_submit(it_miz_client(c), &s, &seq), 0);
    *first_seq = i ? *first_seq : seq;
    assert_int_equal(seq, *first_seq + i); /* so a reply's "re" names its request */
}

/* 10,000 submissions pipelined, three workers: every one accepted with its
 * own tracking number and answered exactly once. At most BURST_WINDOW go
 * unaccepted at a time, so a send never blocks on ZeroMQ's high-water mark
 * for long while the workers wait to be read (their heartbeat is 100 ms). */
static void test_burst(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w[BURST_WORKERS];
    for (size_t k = 0; k < BURST_WORKERS; k++)
        w[k] = it_worker(d, "power", BURST_CREDIT);
    uint64_t *tracking = calloc(BURST, sizeof *tracking);
    bool *answered = calloc(BURST, sizeof *answered);
    assert_non_null(tracking);
    assert_non_null(answered);

    size_t n_sent = 0, n_accepted = 0, n_outcomes = 0;
    uint64_t first_seq = 0;
    for (uint64_t progress = it_now_ms(); n_outcomes < BURST;) {
        while (n_sent < BURST && n_sent - n_accepted < BURST_WINDOW)
            send_burst(c, n_sent++, &first_seq);
        for (size_t k = 0; k < BURST_WORKERS; k++)
            serve_all(w[k]);
        miz_msg_t *m = it_next(c, 5);
        if (!m && it_now_ms() - progress > IT_WAIT_MS)
            it_fail("stalled after %zu accepted and %zu outcomes", n_accepted, n_outcomes);
        if (!m)
            continue;
        progress = it_now_ms();
        if (miz_msg_is(m, "accepted")) {
            uint64_t i = it_uint(IT_ROOT(m), "re") - first_seq;
            assert_true(i < n_sent && tracking[i] == 0);
            tracking[i] = it_uint(IT_ROOT(m), "tracking");
            n_accepted++;
        } else {
            it_check_type(m, "outcome");
            size_t i = ref_index(m);
            /* the accepted reply of a request comes before its outcome */
            assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking[i]);
            assert_false(answered[i]);
            answered[i] = true;
            it_str_eq(it_array(IT_ROOT(m), "answers", 1)->via.array.ptr, "outcome", "done");
            n_outcomes++;
        }
        miz_msg_destroy(&m);
    }
    assert_int_equal(n_accepted, BURST);
    qsort(tracking, BURST, sizeof *tracking, cmp_u64);
    for (size_t i = 1; i < BURST; i++)
        assert_true(tracking[i - 1] < tracking[i]);
    free(tracking);
    free(answered);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_credit, TABLE),
        IT_TEST(test_quiet_worker, TABLE),
        IT_TEST(test_urgent_first, TABLE),
        IT_TEST(test_burst, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

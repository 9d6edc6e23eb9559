/* Unit tests of the request engine, in-process, with a fake clock: what it
 * keeps in its store and how it commits there.
 *
 * The store is a real LMDB store in a temp dir (engine_fake.c), so a
 * restart is a new engine on the same store. Here: what a restart queues
 * again and keeps (recovery), a payload kept only at rest, the purge of
 * closed requests for retention, a gateway's outcomes that wait, durably,
 * until it confirms them, and the commits themselves: pipelined on the
 * commit thread, and a quiet worker's ack sharing the commit of the answer
 * that follows. The deadlines and the workers' commands are
 * test_engine.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "engine_fake.h"

/* ---- the scenarios ---- */

/* A restart (a new engine on the same store) queues again what was offered,
 * keeps the answer deadline's instant, and offers it to the next worker as
 * attempt 2 with "redelivered" in its history. */
static void test_recovery(void **state)
{
    fake_t *f = *state;
    reg(f, "w", "water", "1");
    uint64_t t = submit(f, "c", "drill.overdue");
    uint64_t id = take(f, "w", t, "target", NULL);
    f->wall += 100;
    fake_restart(f, 5); /* a new boot: the monotonic clock starts again */

    reg(f, "w2", "water", "1");
    expect_attempt(f, "w2", t, id, 2);
    ACK(f, "w2", id);
    wire_msg_t *m = status(f, "c", t);
    const msgpack_object *x = status_delivery(m, id);
    assert_int_equal(obj_uint(x, "answer_by"), WALL_START + 500);
    HISTORY(x, "queued", "offered", "redelivered", "offered", "acked");
    wire_msg_destroy(&m);
    advance(f, 400); /* 500 ms after its creation on the wall clock */
    m = status(f, "c", t);
    assert_true(wire_obj_get(status_delivery(m, id), "overdue")->via.boolean);
    wire_msg_destroy(&m);
}

/* With a store, a request at rest keeps its payload there only (payload.c):
 * it is read back, the same, for a status, for the record of a change at
 * rest (the overdue deadline of a queued delivery), after a restart and for
 * the offer. */
static void test_payload_at_rest(void **state)
{
    fake_t *f = *state;
    uint64_t t = submit(f, "c", "drill.overdue"); /* no worker: it rests, queued */
    wire_msg_t *m = status(f, "c", t);
    str_is(wire_root(m), "payload", "آب قطع است");
    wire_msg_destroy(&m);
    advance(f, 600); /* overdue: written again, at rest */
    fake_restart(f, 0);
    m = status(f, "c", t);
    str_is(wire_root(m), "payload", "آب قطع است");
    wire_msg_destroy(&m);
    reg(f, "w", "water", "1");
    m = expect(f, "w", "deliver");
    assert_int_equal(msg_uint(m, "tracking"), t);
    str_is(wire_root(m), "payload", "آب قطع است");
    uint64_t id = msg_uint(m, "delivery");
    wire_msg_destroy(&m);
    ANSWER(f, "w", id, "fixed", "pipe replaced");
    expect_done(f, "c", "outcome"); /* closed: at rest again */
    m = status(f, "c", t);
    str_is(wire_root(m), "payload", "آب قطع است");
    wire_msg_destroy(&m);
}

/* One gateway, 137, whose outcomes wait for it: at most two. */
static const char pending_table[] = "broker: {name: t, heartbeat: 100ms, pending_outcomes: 2}\n"
                                    "agencies: {water: {name_fa: آب, name_en: Water}}\n"
                                    "routes: [{match: utility.water.*, to: [water]}]\n";

static int setup_pending(void **state)
{
    return setup_engine(state, pending_table, false);
}

static uint64_t submit_confirmed(fake_t *f, const char *rid)
{
    CLIENT(f, rid, "type", "submit", "topic", "utility.water.leak", "payload", "نشت", "?confirm",
           "true");
    wire_msg_t *m = expect(f, rid, "accepted");
    uint64_t t = msg_uint(m, "tracking");
    wire_msg_destroy(&m);
    return t;
}

/* The gateway speaks (a ping); it gets what it has not confirmed, oldest
 * first, then its pong. */
static void ping_expect(fake_t *f, const char *rid, const uint64_t *outcomes, size_t n)
{
    CLIENT(f, rid, "type", "ping");
    for (size_t i = 0; i < n; i++) {
        wire_msg_t *m = expect(f, rid, "outcome");
        assert_int_equal(msg_uint(m, "tracking"), outcomes[i]);
        wire_msg_destroy(&m);
    }
    expect_done(f, rid, "pong");
    quiet(f, rid);
}

static void confirm(fake_t *f, const char *rid, uint64_t tracking)
{
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)tracking);
    CLIENT(f, rid, "type", "confirm", "#tracking", n);
    wire_msg_t *m = expect(f, rid, "confirmed");
    assert_int_equal(msg_uint(m, "tracking"), tracking);
    wire_msg_destroy(&m);
}

/* The gateway's counters: its pending and dropped outcomes. */
static void gateway_counts(fake_t *f, const char *name, uint64_t pending, uint64_t dropped)
{
    tick(f);
    const msgpack_object *gws = wire_get(f->counters, "gateways");
    assert_non_null(gws);
    for (uint32_t i = 0; i < gws->via.array.size; i++) {
        const msgpack_object *g = &gws->via.array.ptr[i];
        const msgpack_object *n = wire_obj_get(g, "gateway");
        if (n->via.str.size != strlen(name) || memcmp(n->via.str.ptr, name, strlen(name)) != 0)
            continue;
        assert_int_equal(obj_uint(g, "pending"), pending);
        assert_int_equal(obj_uint(g, "dropped"), dropped);
        return;
    }
    assert_true(pending == 0 && dropped == 0);
}

/* A gateway offline while its requests close, back after a restart, gets
 * every outcome it has not confirmed, oldest first, again until it
 * confirms, at most broker.pending_outcomes of them. */
static void test_outcomes_pending(void **state)
{
    fake_t *f = *state;
    reg(f, "w", "water", "10");
    uint64_t t[3], id[3];
    for (int i = 0; i < 3; i++) {
        t[i] = submit_confirmed(f, "137");
        id[i] = take(f, "w", t[i], "target", NULL);
    }
    f->offline = "137"; /* its outcomes are lost on the way */
    for (int i = 0; i < 3; i++)
        ANSWER(f, "w", id[i], "fixed", "");
    gateway_counts(f, "137", 2, 1); /* the oldest was given up */
    f->offline = NULL;
    fake_restart(f, 7); /* a new boot */

    ping_expect(f, "137", &t[1], 2);
    ping_expect(f, "137", NULL, 0); /* sent lately: not again yet */
    f->mono += 300, f->wall += 300;
    ping_expect(f, "137", &t[1], 2); /* not confirmed: again */
    confirm(f, "137", t[1]);
    confirm(f, "other", t[2]); /* another gateway's confirmation changes nothing */
    f->mono += 300, f->wall += 300;
    ping_expect(f, "137", &t[2], 1);
    confirm(f, "137", t[2]);
    confirm(f, "137", t[2]); /* again: nothing left to confirm, still confirmed */
    gateway_counts(f, "137", 0, 0);
    wire_msg_t *m = status(f, "c", t[0]); /* given up, still known */
    str_is(wire_root(m), "state", "closed");
    wire_msg_destroy(&m);

    fake_restart(f, 0); /* the confirmations are durable */
    f->mono += 300, f->wall += 300;
    ping_expect(f, "137", NULL, 0);
}

/* The commit runs on its own thread while turns go on: a turn's replies
 * wait for its own commit, the turns behind it stage theirs, and they go
 * out in order, each once its commit has landed. */
static void test_pipelined_commit(void **state)
{
    fake_t *f = *state;
    CLIENT(f, "c", "type", "submit", "topic", "drill.crash", "payload", "a");
    quiet(f, "c"); /* in flight: the receipt waits for the disk */
    CLIENT(f, "c", "type", "submit", "topic", "drill.crash", "payload", "b");
    CLIENT(f, "c", "type", "ping");
    quiet(f, "c"); /* staged behind it */
    commit_lands(f);
    wire_msg_t *m = expect(f, "c", "accepted");
    assert_int_equal(msg_uint(m, "tracking"), 1);
    wire_msg_destroy(&m);
    quiet(f, "c"); /* the second batch is in flight now */
    commit_lands(f);
    m = expect(f, "c", "accepted");
    assert_int_equal(msg_uint(m, "tracking"), 2);
    wire_msg_destroy(&m);
    expect_done(f, "c", "pong");
    quiet(f, "c");
    f->threaded = false;
    fake_restart(f, 0); /* and both are on disk */
    m = status(f, "c", 2);
    str_is(wire_root(m), "state", "open");
    wire_msg_destroy(&m);
}

/* The commits the counters count (protocol.md 8.1), after a tick. */
static uint64_t commits_counted(fake_t *f)
{
    tick(f);
    assert_non_null(f->counters);
    const msgpack_object *store = wire_get(f->counters, "store");
    assert_non_null(store);
    return obj_uint(store, "commits");
}

/* A quiet worker's ack owes it no reply: its turn waits for the answer that
 * follows to share one commit, and an ack with nothing after it commits
 * when the engine's next deadline says, a moment later. */
static void test_commit_join(void **state)
{
    fake_t *f = *state;
    WORKER(f, "w", "type", "register", "agency", "water", "#credit", "2", "?quiet", "true");
    expect_done(f, "w", "registered");
    uint64_t t = submit(f, "c", "drill.crash");
    uint64_t id = take(f, "w", t, "target", NULL);
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)id);
    uint64_t before = commits_counted(f);
    size_t events = f->events;
    WORKER(f, "w", "type", "ack", "#delivery", n);
    assert_int_equal(f->events, events); /* its event waits for the commit */
    WORKER(f, "w", "type", "answer", "#delivery", n, "outcome", "fixed", "text", "done");
    outcome_is(f, "c", t, "water", "water", id, "fixed", NULL);
    assert_true(f->events > events);
    assert_int_equal(commits_counted(f), before + 1);

    t = submit(f, "c", "drill.crash");
    id = take(f, "w", t, "target", NULL);
    snprintf(n, sizeof n, "%llu", (unsigned long long)id);
    before = commits_counted(f);
    events = f->events;
    WORKER(f, "w", "type", "ack", "#delivery", n);
    advance(f, 0);
    assert_int_equal(f->events, events); /* still waiting */
    uint64_t at;
    assert_true(engine_next_deadline(f->e, &at));
    assert_true(at > f->mono);
    advance(f, at - f->mono);
    assert_true(f->events > events);
    assert_int_equal(commits_counted(f), before + 1);
    quiet(f, "w");
    fake_restart(f, 0); /* the ack was on disk: the worker's going is after it */
    wire_msg_t *m = status(f, "c", t);
    HISTORY(status_delivery(m, id), "queued", "offered", "acked", "redelivered");
    wire_msg_destroy(&m);
}


/* Closed requests stay in memory (retain_closed) far longer than they are
 * kept at all (retention). */
static const char retention_table[] = "broker: {name: t, retain_closed: 1000, retention: 1s,\n"
                                      "         dedup_window: 10m}\n"
                                      "agencies: {water: {name_fa: آب, name_en: Water}}\n"
                                      "routes: [{match: utility.water.*, to: [water]}]\n";

static int setup_retention(void **state)
{
    return setup_engine(state, retention_table, false);
}

/* A request purged for retention is gone at once, without a restart: its
 * status is unknown_tracking and its client_ref makes a new request. */
static void test_retention(void **state)
{
    fake_t *f = *state;
    reg(f, "w", "water", "1");
    CLIENT(f, "c", "type", "submit", "topic", "utility.water.leak", "client_ref", "137-1",
           "payload", "نشت لوله");
    wire_msg_t *m = expect(f, "c", "accepted");
    uint64_t t = msg_uint(m, "tracking");
    wire_msg_destroy(&m);
    uint64_t id = take(f, "w", t, "target", NULL);
    ANSWER(f, "w", id, "fixed", "");
    outcome_is(f, "c", t, "water", "water", id, "fixed", NULL);
    f->mono += 999, f->wall += 999;
    tick(f);
    m = status(f, "c", t);
    str_is(wire_root(m), "state", "closed");
    wire_msg_destroy(&m);

    f->mono += 100, f->wall += 100; /* the purge runs every tenth of the retention */
    tick(f);
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)t);
    CLIENT(f, "c", "type", "status", "#tracking", n);
    expect_error(f, "c", "unknown_tracking");
    CLIENT(f, "c", "type", "submit", "topic", "utility.water.leak", "client_ref", "137-1",
           "payload", "نشت لوله");
    m = expect(f, "c", "accepted");
    assert_true(msg_uint(m, "tracking") > t);
    assert_null(wire_get(m, "duplicate"));
    wire_msg_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup_retention, teardown),
        cmocka_unit_test_setup_teardown(test_outcomes_pending, setup_pending, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_commit, setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_commit_join, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

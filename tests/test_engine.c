/* Unit tests of the request engine, in-process, with a fake clock: its
 * deadlines and what workers say to it.
 *
 * Here run, in microseconds on the fake clock of engine_fake.c, the
 * scenarios the integration tests could only play with real (millisecond)
 * deadlines: ack timeout, expiry, overdue and escalation, a silent worker,
 * working time; and the workers' commands that move those deadlines or
 * answer for them (release, credit, a repeated ack or answer), with the
 * command table's checks before any handler. The routing table is the
 * integration tests' deadlines.yaml. What the engine keeps in its store
 * (recovery, payloads at rest, retention, pending outcomes, the commit
 * thread) is test_engine_store.c's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>

#include "engine_fake.h"
#include "workcal.h"

/* ---- the scenarios ---- */

/* Worker a never acks: past ack_within it is told to drop the delivery and
 * worker b gets the same delivery id as attempt 2. */
static void test_ack_timeout(void **state)
{
    fake_t *f = *state;
    reg(f, "a", "water", "1");
    uint64_t t = submit(f, "c", "drill.ack");
    uint64_t id = take(f, "a", t, "target", NULL);
    /* registered after the offer, so round robin offers b the next */
    reg(f, "b", "water", "1");
    advance(f, 599);
    quiet(f, "a");
    advance(f, 1);

    expect_attempt(f, "b", t, id, 2);
    ACK(f, "b", id);
    expect_cancel(f, "a", id, "ack_timeout");
    ANSWER(f, "b", id, "fixed", "pipe replaced");
    outcome_is(f, "c", t, "water", "water", id, "fixed", NULL);

    wire_msg_t *m = status(f, "c", t);
    const msgpack_object *x = status_delivery(m, id);
    str_is(x, "state", "answered");
    assert_int_equal(obj_uint(x, "attempts"), 2);
    HISTORY(x, "queued", "offered", "redelivered", "offered", "acked", "answered");
    wire_msg_destroy(&m);
    quiet(f, "a");
}

/* After max_attempts unclaimed offers the delivery expires and escalates
 * to the chain's agency as undeliverable; an observer copy nobody acks
 * expires as well, without escalating. */
static void test_expired(void **state)
{
    fake_t *f = *state;
    WORKER(f, "gov", "type", "register", "agency", "governorate");
    expect_done(f, "gov", "registered");
    reg(f, "w", "water", "1");
    reg(f, "insp", "inspection", "1");
    uint64_t t = submit(f, "c", "drill.expire");
    uint64_t id = take(f, "w", t, "target", NULL);
    uint64_t copy = take(f, "insp", t, "observe", NULL);
    advance(f, 400);
    expect_cancel(f, "w", id, "ack_timeout");
    expect_attempt(f, "w", t, id, 2);
    expect_cancel(f, "insp", copy, "ack_timeout");
    uint64_t attempt;
    assert_int_equal(take(f, "insp", t, "observe", &attempt), copy);
    assert_int_equal(attempt, 2);
    advance(f, 400);
    expect_cancel(f, "w", id, "ack_timeout");
    expect_cancel(f, "insp", copy, "ack_timeout");

    uint64_t e = expect_copy(f, "gov", t, "escalation", id, "undeliverable");
    wire_msg_t *m = status(f, "c", t);
    str_is(wire_root(m), "state", "open");
    const msgpack_object *x = status_delivery(m, id);
    str_is(x, "state", "expired");
    assert_int_equal(obj_uint(x, "attempts"), 2);
    HISTORY(x, "queued", "offered", "redelivered", "offered", "expired", "escalated");
    x = status_delivery(m, copy);
    str_is(x, "state", "expired");
    HISTORY(x, "queued", "offered", "redelivered", "offered", "expired");
    wire_msg_destroy(&m);

    ANSWER(f, "gov", e, "dispatched", "a crew from the governorate");
    outcome_is(f, "c", t, "water", "governorate", e, "dispatched", NULL);
    quiet(f, "w");
    quiet(f, "insp");
}

/* A worker acks but does not answer: past answer_within the delivery is
 * overdue, escalates, and the observer hears of the breach; the escalation's
 * answer supersedes the original. */
static void test_overdue(void **state)
{
    fake_t *f = *state;
    reg(f, "slow", "water", "10");
    reg(f, "gov", "governorate", "10");
    reg(f, "insp", "inspection", "10");
    uint64_t t = submit(f, "c", "drill.overdue");
    ACK(f, "insp", take(f, "insp", t, "observe", NULL));
    uint64_t id = take(f, "slow", t, "target", NULL);
    ACK(f, "slow", id);
    advance(f, 500);

    uint64_t e = expect_copy(f, "gov", t, "escalation", id, "overdue");
    ACK(f, "insp", expect_copy(f, "insp", t, "breach", id, "overdue"));
    wire_msg_t *m = status(f, "c", t);
    const msgpack_object *x = status_delivery(m, id);
    str_is(x, "state", "acked");
    assert_true(wire_obj_get(x, "overdue")->via.boolean);
    wire_msg_destroy(&m);

    ANSWER(f, "gov", e, "resolved", "the governorate sent its own crew");
    expect_cancel(f, "slow", id, "superseded");
    bool late = false;
    outcome_is(f, "c", t, "water", "governorate", e, "resolved", &late);
    assert_true(late); /* the citizen waited past water's deadline */

    m = status(f, "c", t);
    x = status_delivery(m, id);
    str_is(x, "state", "superseded");
    assert_true(wire_obj_get(x, "overdue")->via.boolean);
    HISTORY(x, "queued", "offered", "acked", "overdue", "escalated", "superseded");
    x = status_delivery(m, e);
    str_is(x, "role", "escalation");
    str_is(x, "agency", "governorate");
    str_is(x, "state", "answered");
    assert_int_equal(obj_uint(x, "level"), 1);
    assert_int_equal(obj_uint(x, "from"), id);
    wire_msg_destroy(&m);
}

/* A worker silent for three heartbeats is dropped on the tick: what it
 * claimed goes to another, same ids, attempt 2. */
static void test_worker_silent(void **state)
{
    fake_t *f = *state;
    reg(f, "dying", "water", "5");
    uint64_t t[5], id[5];
    for (int i = 0; i < 5; i++) {
        t[i] = submit(f, "c", "drill.crash");
        id[i] = take(f, "dying", t[i], "target", NULL);
        ACK(f, "dying", id[i]);
    }
    f->mono += 3 * HEARTBEAT_MS;
    f->wall += 3 * HEARTBEAT_MS;
    tick(f); /* silent for exactly three: still alive, and spoken to */
    expect_done(f, "dying", "heartbeat");
    reg(f, "w", "water", "5");
    f->mono += 1;
    tick(f);
    bool seen[5] = {false}; /* queued again at the head, in any order */
    for (int k = 0; k < 5; k++) {
        wire_msg_t *m = expect(f, "w", "deliver");
        int i = 0;
        while (i < 5 && id[i] != msg_uint(m, "delivery"))
            i++;
        assert_true(i < 5 && !seen[i]);
        seen[i] = true;
        assert_int_equal(msg_uint(m, "tracking"), t[i]);
        assert_int_equal(msg_uint(m, "attempt"), 2);
        wire_msg_destroy(&m);
    }
    quiet(f, "dying");
    for (int i = 0; i < 5; i++) {
        ANSWER(f, "w", id[i], "done", "after the crash");
        outcome_is(f, "c", t[i], "water", "water", id[i], "done", NULL);
    }
    wire_msg_t *m = status(f, "c", t[0]);
    HISTORY(status_delivery(m, id[0]), "queued", "offered", "acked", "redelivered", "offered",
            "acked", "answered");
    wire_msg_destroy(&m);
}

/* A route with calendar: office counts its deadlines in working time: the
 * same instants lib/workcal.h gives for the calendar deadlines.yaml sets. */
static void test_working_time(void **state)
{
    fake_t *f = *state;
    workcal_t *office = workcal_new();
    assert_non_null(office);
    for (int day = 0; day < 5; day++) /* Saturday to Wednesday */
        assert_int_equal(workcal_set_day(office, day, 8 * 60, 14 * 60), 0);
    assert_int_equal(workcal_set_day(office, 5, 8 * 60, 12 * 60), 0);
    assert_int_equal(workcal_add_holiday(office, 1405, 1, 1), 0);
    assert_int_equal(workcal_add_holiday(office, 1405, 1, 2), 0);

    reg(f, "w", "water", "1");
    uint64_t t = submit(f, "c", "drill.office");
    uint64_t id = take(f, "w", t, "target", NULL);
    wire_msg_t *m = status(f, "c", t);
    const msgpack_object *del = status_delivery(m, id);
    assert_int_equal(obj_uint(del, "created"), WALL_START);
    assert_int_equal(obj_uint(del, "answer_by"), workcal_add(office, WALL_START, 24 * 3600 * 1000));
    assert_int_equal(obj_uint(del, "ack_by"), workcal_add(office, WALL_START, 3600 * 1000));
    wire_msg_destroy(&m);
    workcal_destroy(&office);
}

/* A worker unsure whether its answer landed says it again: the same ack or
 * answer gets ok with duplicate, from memory or, after a restart, from the
 * store when it names the tracking number; a different answer is refused. */
static void test_repeated_answer(void **state)
{
    fake_t *f = *state;
    reg(f, "w", "water", "1");
    uint64_t t = submit(f, "c", "drill.crash");
    uint64_t id = take(f, "w", t, "target", NULL);
    char n[24], tn[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)id);
    snprintf(tn, sizeof tn, "%llu", (unsigned long long)t);
    ANSWER(f, "w", id, "fixed", "pipe replaced");
    outcome_is(f, "c", t, "water", "water", id, "fixed", NULL);
    WORKER(f, "w", "type", "answer", "#delivery", n, "outcome", "fixed", "text", "pipe replaced");
    expect_ok(f, "w", id, true);
    WORKER(f, "w", "type", "ack", "#delivery", n);
    expect_ok(f, "w", id, true);
    WORKER(f, "w", "type", "answer", "#delivery", n, "outcome", "fixed");
    expect_error(f, "w", "not_held"); /* the text differs */
    WORKER(f, "w", "type", "answer", "#delivery", n, "outcome", "not_possible", "text",
           "pipe replaced");
    expect_error(f, "w", "not_held");
    reg(f, "other", "inspection", "1"); /* another agency's worker */
    WORKER(f, "other", "type", "ack", "#delivery", n);
    expect_error(f, "other", "not_held");
    quiet(f, "c"); /* no second outcome */

    fake_restart(f, 0); /* the closed request is only in the store */
    reg(f, "w", "water", "1");
    WORKER(f, "w", "type", "answer", "#delivery", n, "outcome", "fixed");
    expect_error(f, "w", "unknown_delivery");
    WORKER(f, "w", "type", "answer", "#tracking", tn, "#delivery", n, "outcome", "fixed", "text",
           "pipe replaced");
    expect_ok(f, "w", id, true);
    WORKER(f, "w", "type", "ack", "#tracking", tn, "#delivery", n);
    expect_ok(f, "w", id, true);
}

/* release gives a delivery back without escalating, held back for
 * delay_ms; each offer counts as an attempt, and past max_attempts it
 * expires and escalates as an ack timeout would. */
static void test_release(void **state)
{
    fake_t *f = *state;
    reg(f, "w", "water", "1");
    uint64_t t = submit(f, "c", "drill.ack"); /* max_attempts 3, ack_within 600 ms */
    uint64_t id = take(f, "w", t, "target", NULL);
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)id);
    WORKER(f, "w", "type", "release", "#delivery", n, "#delay_ms", "1000");
    expect_ok(f, "w", id, false);
    quiet(f, "w");
    wire_msg_t *q = status(f, "c", t); /* back in the queue: no ack deadline */
    str_is(status_delivery(q, id), "state", "queued");
    assert_int_equal(obj_uint(status_delivery(q, id), "ack_by"), 0);
    wire_msg_destroy(&q);
    advance(f, 999);
    quiet(f, "w");
    advance(f, 1);
    expect_attempt(f, "w", t, id, 2);
    WORKER(f, "w", "type", "release", "#delivery", n, "#delay_ms", "86400001");
    expect_error(f, "w", "bad_field");
    WORKER(f, "w", "type", "release", "#delivery", n);
    expect_ok(f, "w", id, false);
    expect_attempt(f, "w", t, id, 3);
    WORKER(f, "w", "type", "release", "#delivery", n);
    expect_ok(f, "w", id, false);
    quiet(f, "w");
    wire_msg_t *m = status(f, "c", t);
    const msgpack_object *x = status_delivery(m, id);
    str_is(x, "state", "expired");
    HISTORY(x, "queued", "offered", "redelivered", "offered", "redelivered", "offered", "expired",
            "escalated");
    wire_msg_destroy(&m);
}

/* credit changes without registering again: raised, the worker is offered
 * more at once; lowered below what it holds, it keeps those and gets
 * nothing new until it is under its credit. */
static void test_credit(void **state)
{
    fake_t *f = *state;
    reg(f, "w", "water", "1");
    uint64_t t[4], id[4];
    for (int i = 0; i < 4; i++)
        t[i] = submit(f, "c", "drill.crash");
    id[0] = take(f, "w", t[0], "target", NULL);
    quiet(f, "w");
    WORKER(f, "w", "type", "credit", "#credit", "3");
    wire_msg_t *m = expect(f, "w", "ok");
    assert_int_equal(msg_uint(m, "credit"), 3);
    wire_msg_destroy(&m);
    id[1] = take(f, "w", t[1], "target", NULL);
    id[2] = take(f, "w", t[2], "target", NULL);
    WORKER(f, "w", "type", "credit", "#credit", "0");
    expect_error(f, "w", "bad_field");
    WORKER(f, "w", "type", "credit", "#credit", "1");
    expect_done(f, "w", "ok");
    ANSWER(f, "w", id[0], "done", "");
    ANSWER(f, "w", id[1], "done", "");
    quiet(f, "w"); /* holds one: at its credit */
    ANSWER(f, "w", id[2], "done", "");
    id[3] = take(f, "w", t[3], "target", NULL);
    ANSWER(f, "w", id[3], "done", "");
}

/* The command table's checks, in protocol.md's order, before a handler. */
static void test_command_table(void **state)
{
    fake_t *f = *state;
    WORKER(f, "w", "type", "ack", "#delivery", "1");
    expect_error(f, "w", "not_registered");
    WORKER(f, "w", "type", "submit", "topic", "drill.ack");
    expect_error(f, "w", "unknown_type");
    CLIENT(f, "c", "type", "ping", "#v", "2");
    expect_error(f, "c", "version");
    CLIENT(f, "c", "type", "status");
    expect_error(f, "c", "bad_field");
    CLIENT(f, "c", "type", "submit", "topic", "drill.ack", "kind",
           "a-kind-much-longer-than-thirty-two-bytes");
    expect_error(f, "c", "too_large");
    reg(f, "w", "water", "1");
    WORKER(f, "w", "type", "ack", "#delivery", "99");
    expect_error(f, "w", "unknown_delivery");
    WORKER(f, "w", "type", "answer", "#delivery", "99", "outcome", "");
    expect_error(f, "w", "unknown_delivery"); /* the delivery before the other fields */

    /* under CURVE the key's role: a gateway may submit, not register; and
     * register's fields come before its role */
    principal_t gateway = {.name = "sms", .role = KEY_GATEWAY, .key = "gateway-key"};
    const char *const reg_kv[] = {"type", "register", "agency", "water", NULL};
    receive(f, ENGINE_WORKERS, "g", &gateway, reg_kv);
    expect_error(f, "g", "forbidden");
    const char *const bad_kv[] = {"type", "register", "agency", "water", "credit", "ten", NULL};
    receive(f, ENGINE_WORKERS, "g", &gateway, bad_kv);
    expect_error(f, "g", "bad_field");
    const char *const snap_kv[] = {"type", "snapshot", NULL};
    receive(f, ENGINE_CLIENTS, "g", &gateway, snap_kv);
    expect_error(f, "g", "forbidden");
    const char *const submit_kv[] = {"type", "submit", "topic", "drill.ack", "payload", "x", NULL};
    receive(f, ENGINE_CLIENTS, "g", &gateway, submit_kv);
    expect_done(f, "g", "accepted");
    expect_done(f, "w", "deliver");
    quiet(f, "g");
    quiet(f, "c");
    assert_true(f->events > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_ack_timeout, setup, teardown),
        cmocka_unit_test_setup_teardown(test_expired, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overdue, setup, teardown),
        cmocka_unit_test_setup_teardown(test_worker_silent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_working_time, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credit, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

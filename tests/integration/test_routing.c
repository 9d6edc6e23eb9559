/* Integration tests of routing against the real mizd: fan-out, observers,
 * wildcard routes, refusals along the escalation chain, and status. The
 * table is routing.yaml; its deadlines are far away, so none fires here. */
#include "harness.h"

#define TABLE "routing.yaml"

/* Both agencies of a fan-out route get the request, each its own delivery;
 * the outcome waits for both and carries both answers. */
static void test_fan_out(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *roads = it_worker(d, "roads", 0), *city = it_worker(d, "city", 0);

    uint64_t t = it_submit_topic(c, "city.snow.road", NULL);
    miz_msg_t *a = it_deliver(roads, t, "target"), *b = it_deliver(city, t, "target");
    uint64_t da = it_uint(IT_ROOT(a), "delivery"), db = it_uint(IT_ROOT(b), "delivery");
    assert_int_not_equal(da, db);
    it_str_eq(IT_ROOT(a), "agency", "roads");
    it_str_eq(IT_ROOT(b), "agency", "city");
    it_str_eq(IT_ROOT(a), "topic", "city.snow.road");
    it_str_eq(IT_ROOT(b), "payload", "integration test");
    assert_int_equal(it_uint(IT_ROOT(a), "attempt"), 1);
    miz_msg_destroy(&a);
    miz_msg_destroy(&b);

    it_answer(roads, da, "cleared", "plough sent to the Ilam-Mehran road");
    /* the answer is processed (its ok came back): one branch settled, so the
     * request is open and no outcome came before this status reply */
    miz_msg_t *s = it_status(c, t);
    it_str_eq(IT_ROOT(s), "state", "open");
    miz_msg_destroy(&s);
    it_quiet(c, 0);

    it_answer(city, db, "salted", "streets salted");
    const msgpack_object *ans;
    miz_msg_t *o = it_outcome(c, t, 2, &ans);
    it_answer_is(&ans[0], "roads", "roads", da, "cleared");
    it_str_eq(&ans[0], "text", "plough sent to the Ilam-Mehran road");
    assert_false(it_bool(&ans[0], "late"));
    it_answer_is(&ans[1], "city", "city", db, "salted");
    it_str_eq(&ans[1], "text", "streets salted");
    miz_msg_destroy(&o);
}

/* Observers get copies (audit: every kind of city.snow.street; inspection:
 * every complaint); acking a copy settles nothing, and a request closes
 * whether its observers acked or not. */
static void test_observers(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *city = it_worker(d, "city", 0), *water = it_worker(d, "water", 0);
    it_peer_t *audit = it_worker(d, "audit", 0), *inspection = it_worker(d, "inspection", 0);
    miz_msg_t *m;

    /* a request: audit's copy only */
    m = it_send_submit(c, &(miz_submit_t){.topic = "city.snow.street", .text = "snow"});
    it_check_type(m, "accepted");
    uint64_t t1 = it_uint(IT_ROOT(m), "tracking");
    assert_int_equal(it_uint(IT_ROOT(m), "deliveries"), 1);
    assert_int_equal(it_uint(IT_ROOT(m), "observers"), 1);
    miz_msg_destroy(&m);
    uint64_t copy = it_take(audit, t1, "observe");
    /* a copy is only ever acknowledged */
    assert_int_equal(miz_worker_progress(it_miz_worker(audit), copy, "looking"), 0);
    it_expect_error(audit, "bad_field");
    assert_int_equal(miz_worker_answer(it_miz_worker(audit), copy, "done", NULL), 0);
    it_expect_error(audit, "bad_field");
    it_ack(audit, copy);
    uint64_t d1 = it_take(city, t1, "target");
    m = it_status(c, t1);
    it_str_eq(IT_ROOT(m), "state", "open");
    it_str_eq(it_status_delivery(m, copy), "state", "seen");
    it_str_eq(it_status_delivery(m, d1), "state", "offered");
    miz_msg_destroy(&m);
    it_quiet(c, 0);
    it_answer(city, d1, "cleared", "done");
    it_outcome_is(c, t1, "city", "city", d1, "cleared");

    /* a complaint on the same topic: audit and inspection; neither acks */
    uint64_t t2 = it_submit_topic(c, "city.snow.street", "complaint");
    it_take(audit, t2, "observe");
    m = it_deliver(inspection, t2, "observe");
    it_str_eq(IT_ROOT(m), "kind", "complaint");
    miz_msg_destroy(&m);
    uint64_t d2 = it_serve(city, t2);
    it_outcome_is(c, t2, "city", "city", d2, "done");

    /* a complaint on another topic: inspection only, through the '#' route */
    uint64_t t3 = it_submit_topic(c, "utility.water.leak", "complaint");
    it_take(inspection, t3, "observe");
    uint64_t d3 = it_serve(water, t3);
    it_outcome_is(c, t3, "water", "water", d3, "done");

    /* and a request on it: nobody's copy */
    uint64_t t4 = it_submit_topic(c, "utility.water.leak", NULL);
    it_outcome_is(c, t4, "water", "water", it_serve(water, t4), "done");
    it_quiet(audit, 200);
    it_quiet(inspection, 0);
}

/* '*' is exactly one segment, a last '#' zero or more, and a '#' route
 * takes what no other route does (here: complaints only). */
static void test_wildcards(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *water = it_worker(d, "water", 0), *gas = it_worker(d, "gas", 0);
    it_peer_t *gov = it_worker(d, "governorate", 0), *insp = it_worker(d, "inspection", 0);

    uint64_t leak = it_submit_topic(c, "utility.water.leak", NULL);
    uint64_t home = it_submit_topic(c, "utility.gas.leak.home", NULL);
    uint64_t gas_itself = it_submit_topic(c, "utility.gas", NULL);
    uint64_t other = it_submit_topic(c, "utility.gasoline.price", "complaint");
    it_submit_error(c, &(miz_submit_t){.topic = "utility.water.leak.home", .text = "x"},
                    "unknown_topic");
    it_submit_error(c, &(miz_submit_t){.topic = "utility.gasoline.price", .text = "x"},
                    "unknown_topic");

    /* each is answered by the agency its route chose; gas holds both of
     * its deliveries before it answers either */
    uint64_t ids[4];
    ids[0] = it_serve(water, leak);
    miz_msg_t *m = it_deliver(gas, home, "target");
    it_str_eq(IT_ROOT(m), "priority", "urgent"); /* the route's priority */
    ids[1] = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);
    ids[2] = it_take(gas, gas_itself, "target");
    it_answer(gas, ids[1], "done", "valve shut");
    it_answer(gas, ids[2], "done", "meter checked");
    ids[3] = it_serve(gov, other);
    it_take(insp, other, "observe");
    static const char *const chosen[] = {"water", "gas", "gas", "governorate"};
    const uint64_t tracking[] = {leak, home, gas_itself, other};
    for (size_t i = 0; i < 4; i++)
        it_outcome_is(c, tracking[i], chosen[i], chosen[i], ids[i], "done");
    it_quiet(water, 100);
    it_quiet(gas, 0);
    it_quiet(gov, 0);
    it_quiet(insp, 0);
}

/* A refusal escalates to the chain's next agency, whose answer settles the
 * request; without a chain the outcome is "refused". */
static void test_refuse(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *water = it_worker(d, "water", 0), *gov = it_worker(d, "governorate", 0);
    it_peer_t *relief = it_worker(d, "relief", 0);

    uint64_t t = it_submit_topic(c, "utility.water.leak", NULL);
    uint64_t dw = it_take(water, t, "target");
    it_refuse(water, dw, "a private pipe, not ours");
    miz_msg_t *m = it_deliver(gov, t, "escalation");
    it_str_eq(IT_ROOT(m), "reason", "refused");
    assert_int_equal(it_uint(IT_ROOT(m), "from"), dw);
    uint64_t de = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);
    it_answer(gov, de, "referred", "sent to the owner");
    it_outcome_is(c, t, "water", "governorate", de, "referred");

    uint64_t t2 = it_submit_topic(c, "welfare.dowry", NULL);
    uint64_t dr = it_take(relief, t2, "target");
    it_refuse(relief, dr, "not eligible");
    it_outcome_is(c, t2, "relief", "relief", dr, "refused");
    it_quiet(gov, 100);
}

/* Status: an unknown tracking number is an error; a closed request lists
 * every delivery, whatever its role and state, with its whole history. */
static void test_status(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    miz_msg_t *m = it_send_status(c, 424242);
    it_check_error(m, "unknown_tracking");
    miz_msg_destroy(&m);

    it_peer_t *city = it_worker(d, "city", 0), *audit = it_worker(d, "audit", 0);
    it_peer_t *insp = it_worker(d, "inspection", 0);
    uint64_t t = it_submit(c, &(miz_submit_t){.topic = "city.snow.street",
                                              .kind = "complaint",
                                              .client_ref = "137-0042",
                                              .text = "snow"});
    uint64_t seen = it_take(audit, t, "observe");
    it_ack(audit, seen);
    uint64_t unseen = it_take(insp, t, "observe");
    uint64_t target = it_take(city, t, "target");
    it_answer(city, target, "cleared", "two trucks sent");
    const msgpack_object *ans;
    m = it_outcome(c, t, 1, &ans);
    it_answer_is(&ans[0], "city", "city", target, "cleared");
    it_str_eq(IT_ROOT(m), "client_ref", "137-0042");
    miz_msg_destroy(&m);

    m = it_status(c, t);
    const msgpack_object *root = IT_ROOT(m);
    it_str_eq(root, "state", "closed");
    it_str_eq(root, "topic", "city.snow.street");
    it_str_eq(root, "kind", "complaint");
    it_str_eq(root, "priority", "routine");
    it_str_eq(root, "client_ref", "137-0042");
    assert_true(it_uint(root, "closed") >= it_uint(root, "created"));
    it_array(root, "deliveries", 3);

    const msgpack_object *x = it_status_delivery(m, target);
    it_str_eq(x, "agency", "city");
    it_str_eq(x, "role", "target");
    it_str_eq(x, "state", "answered");
    it_str_eq(x, "outcome", "cleared");
    it_str_eq(x, "text", "two trucks sent");
    assert_int_equal(it_uint(x, "attempts"), 1);
    assert_false(it_bool(x, "overdue"));
    IT_HISTORY(x, "queued", "offered", "acked", "answered");
    x = it_status_delivery(m, seen);
    it_str_eq(x, "agency", "audit");
    it_str_eq(x, "role", "observe");
    it_str_eq(x, "state", "seen");
    IT_HISTORY(x, "queued", "offered", "seen");
    x = it_status_delivery(m, unseen);
    it_str_eq(x, "agency", "inspection");
    it_str_eq(x, "state", "offered");
    IT_HISTORY(x, "queued", "offered");
    miz_msg_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_fan_out, TABLE),   IT_TEST(test_observers, TABLE),
        IT_TEST(test_wildcards, TABLE), IT_TEST(test_refuse, TABLE),
        IT_TEST(test_status, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* harness_exchange: the steps a scenario is written in (harness.h): the
 * values read from a message, which fail the test when missing or of
 * another type; what a client submits and asks, and the outcomes it must
 * get; what a worker is delivered and the commands whose "ok" must come. */
#include "harness_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

/* ---- reading values ---- */

const msgpack_object *it_get(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = miz_map_get(map, key);
    if (!o)
        it_fail("no \"%s\" in the message", key);
    return o;
}

uint64_t it_uint(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        it_fail("\"%s\" is not an unsigned integer (msgpack type %d)", key, (int)o->type);
    return o->via.u64;
}

bool it_bool(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        it_fail("\"%s\" is not a boolean (msgpack type %d)", key, (int)o->type);
    return o->via.boolean;
}

static bool obj_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

void it_str_eq(const msgpack_object *map, const char *key, const char *want)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_STR)
        it_fail("\"%s\" is not a string (msgpack type %d); expected \"%s\"", key, (int)o->type,
                want);
    if (!obj_is(o, want))
        it_fail("\"%s\" is \"%.*s\", expected \"%s\"", key, (int)o->via.str.size, o->via.str.ptr,
                want);
}

const msgpack_object *it_array(const msgpack_object *map, const char *key, size_t n)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_ARRAY)
        it_fail("\"%s\" is not an array (msgpack type %d)", key, (int)o->type);
    if (o->via.array.size != n)
        it_fail("\"%s\" has %u elements, expected %zu", key, o->via.array.size, n);
    return o;
}

/* ---- clients ---- */

static void sent(const it_peer_t *p, int rc, const char *what)
{
    if (rc < 0)
        it_fail("%s: cannot send %s: %s", p->name, what, zmq_strerror(errno));
}

uint64_t it_submit_send(it_peer_t *c, const miz_submit_t *s)
{
    uint64_t seq;
    sent(c, miz_client_send_submit(c->client, s, &seq), "submit");
    return seq;
}

miz_msg_t *it_send_submit(it_peer_t *c, const miz_submit_t *s)
{
    return it_reply(c, it_submit_send(c, s));
}

uint64_t it_accepted(it_peer_t *c, uint64_t seq)
{
    miz_msg_t *m = it_reply(c, seq);
    harness_check_type(c->name, m, "accepted");
    uint64_t tracking = it_uint(IT_ROOT(m), "tracking");
    miz_msg_destroy(&m);
    return tracking;
}

uint64_t it_submit(it_peer_t *c, const miz_submit_t *s)
{
    return it_accepted(c, it_submit_send(c, s));
}

uint64_t it_submit_topic(it_peer_t *c, const char *topic, const char *kind)
{
    return it_submit(c, &(miz_submit_t){.topic = topic, .kind = kind, .text = IT_PAYLOAD_TEXT});
}

void it_submit_error(it_peer_t *c, const miz_submit_t *s, const char *code)
{
    miz_msg_t *m = it_send_submit(c, s);
    it_check_error(m, code);
    miz_msg_destroy(&m);
}

miz_msg_t *it_send_status(it_peer_t *c, uint64_t tracking)
{
    uint64_t seq;
    sent(c, miz_client_send_status(c->client, tracking, &seq), "status");
    return it_reply(c, seq);
}

miz_msg_t *it_status(it_peer_t *c, uint64_t tracking)
{
    miz_msg_t *m = it_send_status(c, tracking);
    it_check_type(m, "status");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking);
    return m;
}

const msgpack_object *it_status_delivery(const miz_msg_t *status, uint64_t id)
{
    const msgpack_object *dels = it_get(IT_ROOT(status), "deliveries");
    for (uint32_t i = 0; dels->type == MSGPACK_OBJECT_ARRAY && i < dels->via.array.size; i++)
        if (it_uint(&dels->via.array.ptr[i], "id") == id)
            return &dels->via.array.ptr[i];
    it_fail("no delivery %llu in the status", (unsigned long long)id);
    return NULL;
}

void it_history_is(const msgpack_object *delivery, const char *const *events)
{
    const msgpack_object *h = it_get(delivery, "history");
    size_t n = 0;
    while (events[n])
        n++;
    bool same = h->type == MSGPACK_OBJECT_ARRAY && h->via.array.size == n;
    for (size_t i = 0; same && i < n; i++)
        same = obj_is(it_get(&h->via.array.ptr[i], "event"), events[i]);
    if (same)
        return;
    char want[512] = "", got[512] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), " %s", events[i]);
    for (uint32_t i = 0; h->type == MSGPACK_OBJECT_ARRAY && i < h->via.array.size; i++) {
        const msgpack_object *e = miz_map_get(&h->via.array.ptr[i], "event");
        bool str = e && e->type == MSGPACK_OBJECT_STR;
        snprintf(got + strlen(got), sizeof got - strlen(got), " %.*s",
                 str ? (int)e->via.str.size : 1, str ? e->via.str.ptr : "?");
    }
    it_fail("delivery %llu: history is [%s ], expected [%s ]",
            (unsigned long long)it_uint(delivery, "id"), got, want);
}

miz_msg_t *it_outcome(it_peer_t *c, uint64_t tracking, size_t n, const msgpack_object **answers)
{
    miz_msg_t *m = it_expect(c, "outcome");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking);
    *answers = it_array(IT_ROOT(m), "answers", n)->via.array.ptr;
    return m;
}

void it_outcome_is(it_peer_t *c, uint64_t tracking, const char *agency, const char *answered_by,
                   uint64_t delivery, const char *outcome)
{
    const msgpack_object *ans;
    miz_msg_t *m = it_outcome(c, tracking, 1, &ans);
    it_answer_is(ans, agency, answered_by, delivery, outcome);
    miz_msg_destroy(&m);
}

void it_mark(const uint64_t *set, bool *seen, size_t n, uint64_t v, const char *what)
{
    size_t k = 0;
    while (k < n && set[k] != v)
        k++;
    if (k == n || seen[k])
        it_fail("%s %llu: not one of those awaited, or a second time", what, (unsigned long long)v);
    seen[k] = true;
}

void it_outcomes(it_peer_t *c, const uint64_t *tracking, size_t n, const char *outcome)
{
    bool *seen = calloc(n, sizeof *seen);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++) {
        miz_msg_t *m = it_expect(c, "outcome");
        it_mark(tracking, seen, n, it_uint(IT_ROOT(m), "tracking"), "outcome of tracking");
        it_str_eq(it_array(IT_ROOT(m), "answers", 1)->via.array.ptr, "outcome", outcome);
        miz_msg_destroy(&m);
    }
    free(seen);
}

void it_answer_is(const msgpack_object *answer, const char *agency, const char *answered_by,
                  uint64_t delivery, const char *outcome)
{
    it_str_eq(answer, "agency", agency);
    it_str_eq(answer, "answered_by", answered_by);
    assert_int_equal(it_uint(answer, "delivery"), delivery);
    it_str_eq(answer, "outcome", outcome);
}

/* ---- workers ---- */

miz_msg_t *it_deliver(it_peer_t *w, uint64_t tracking, const char *role)
{
    miz_msg_t *m = it_expect(w, "deliver");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking);
    it_str_eq(IT_ROOT(m), "role", role);
    return m;
}

uint64_t it_take(it_peer_t *w, uint64_t tracking, const char *role)
{
    miz_msg_t *m = it_deliver(w, tracking, role);
    uint64_t id = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);
    return id;
}

static void expect_ok(it_peer_t *w, uint64_t delivery)
{
    miz_msg_t *m = it_expect(w, "ok");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), delivery);
    miz_msg_destroy(&m);
}

void it_ack(it_peer_t *w, uint64_t delivery)
{
    sent(w, miz_worker_ack(w->worker, delivery), "ack");
    expect_ok(w, delivery);
}

void it_answer(it_peer_t *w, uint64_t delivery, const char *outcome, const char *text)
{
    sent(w, miz_worker_answer(w->worker, delivery, outcome, text), "answer");
    expect_ok(w, delivery);
}

void it_refuse(it_peer_t *w, uint64_t delivery, const char *reason)
{
    sent(w, miz_worker_refuse(w->worker, delivery, reason), "refuse");
    expect_ok(w, delivery);
}

uint64_t it_serve(it_peer_t *w, uint64_t tracking)
{
    uint64_t id = it_take(w, tracking, "target");
    it_answer(w, id, "done", w->name);
    return id;
}

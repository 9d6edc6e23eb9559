/* Integration tests of the event stream (protocol.md section 8), on
 * routing.yaml with a store: every transition published in seq order with
 * nothing personal in it, counters, and the Clone pattern: a snapshot with
 * the seq it includes, equal to what status says of each request, in parts,
 * and a seq that carries on across a restart while run changes. */
#include "harness.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "stream.h"
#include "wire.h"

#define TABLE "routing.yaml"

typedef struct {
    void *zctx, *sub;
    uint64_t last_seq, run;
} sub_t;

static sub_t *sub_open(it_daemon_t *d, const char *topic)
{
    sub_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->zctx = zmq_ctx_new();
    s->sub = zmq_socket(s->zctx, ZMQ_SUB);
    assert_int_equal(zmq_setsockopt(s->sub, ZMQ_SUBSCRIBE, topic, strlen(topic)), 0);
    assert_int_equal(zmq_connect(s->sub, it_events_endpoint(d)), 0);
    /* a SUB sees nothing until its subscription reached the PUB: wait for
     * the counters every heartbeat brings, whatever the topic asked */
    return s;
}

static void sub_close(sub_t **s)
{
    int zero = 0;
    zmq_setsockopt((*s)->sub, ZMQ_LINGER, &zero, sizeof zero);
    zmq_close((*s)->sub);
    zmq_ctx_term((*s)->zctx);
    free(*s);
    *s = NULL;
}

/* The next message on topic (others are skipped), while the peers' heartbeats
 * go on; its topic in got_topic. */
static wire_msg_t *sub_next(it_daemon_t *d, sub_t *s, const char *topic)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; it_now_ms() < end;) {
        char t[32];
        int n = zmq_recv(s->sub, t, sizeof t - 1, ZMQ_DONTWAIT);
        if (n < 0) {
            it_pump(d, 2);
            continue;
        }
        t[n] = '\0';
        zmq_msg_t body;
        zmq_msg_init(&body);
        assert_true(zmq_msg_recv(&body, s->sub, 0) >= 0);
        wire_status_t st;
        char why[128];
        wire_msg_t *m = wire_parse(zmq_msg_data(&body), zmq_msg_size(&body), &st, why, sizeof why);
        zmq_msg_close(&body);
        if (!m)
            it_fail("a %s message that does not parse: %s", t, why);
        if (strcmp(t, topic) == 0)
            return m;
        wire_msg_destroy(&m);
    }
    it_fail("no %s message on the event stream", topic);
    return NULL;
}

static uint64_t w_uint(const wire_msg_t *m, const char *key)
{
    return it_uint(wire_root(m), key);
}

/* The next event, which must be of that type and follow the last one. */
static wire_msg_t *expect_event(it_daemon_t *d, sub_t *s, const char *type, uint64_t tracking)
{
    wire_msg_t *m = sub_next(d, s, "event");
    const msgpack_object *root = wire_root(m);
    assert_int_equal(root->via.map.size, 23);
    /* an LMDB store has no lease; a PostgreSQL one's is taken again at each start */
    if (it_store_postgres())
        assert_true(w_uint(m, "epoch") >= it_first_epoch());
    else
        assert_int_equal(w_uint(m, "epoch"), 0);
    static const char *const personal[] = {"payload", "client_ref", "text", "note", "name"};
    for (size_t i = 0; i < sizeof personal / sizeof *personal; i++)
        if (wire_get(m, personal[i]))
            it_fail("an event carries \"%s\"", personal[i]);
    it_str_eq(root, "event", type);
    assert_int_equal(w_uint(m, "tracking"), tracking);
    uint64_t seq = w_uint(m, "seq");
    if (s->last_seq && seq != s->last_seq + 1)
        it_fail("event seq %llu after %llu", (unsigned long long)seq,
                (unsigned long long)s->last_seq);
    s->last_seq = seq;
    s->run = w_uint(m, "run");
    return m;
}

static void expect_delivery_event(it_daemon_t *d, sub_t *s, const char *type, uint64_t tracking,
                                  uint64_t delivery, const char *state)
{
    wire_msg_t *m = expect_event(d, s, type, tracking);
    assert_int_equal(w_uint(m, "delivery"), delivery);
    it_str_eq(wire_root(m), "agency", "water");
    it_str_eq(wire_root(m), "role", "target");
    it_str_eq(wire_root(m), "state", state);
    /* no outcome before the answer */
    assert_int_equal(it_get(wire_root(m), "outcome")->type, MSGPACK_OBJECT_NIL);
    wire_msg_destroy(&m);
}

static void test_events(void **state)
{
    it_daemon_t *d = *state;
    sub_t *s = sub_open(d, "");
    wire_msg_t *first = sub_next(d, s, "counters"); /* subscribed */
    uint64_t commits0 = it_uint(it_get(wire_root(first), "store"), "commits");
    wire_msg_destroy(&first);
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t = it_submit(c, &(miz_submit_t){.topic = "utility.water.cut",
                                              .client_ref = "sms-9912",
                                              .text = "آب محله قطع است؛ تلفن ۰۹۱۲۰۰۰۰۰۰۰"});
    wire_msg_t *m = expect_event(d, s, "received", t);
    it_str_eq(wire_root(m), "topic", "utility.water.cut");
    it_str_eq(wire_root(m), "state", "open");
    assert_int_equal(w_uint(m, "delivery"), 0);
    wire_msg_destroy(&m);
    uint64_t id = it_take(w, t, "target");
    expect_delivery_event(d, s, "queued", t, id, "queued");
    expect_delivery_event(d, s, "offered", t, id, "offered");
    it_ack(w, id);
    expect_delivery_event(d, s, "acked", t, id, "acked");
    it_answer(w, id, "done", "لوله ترمیم شد");
    m = expect_event(d, s, "answered", t);
    assert_int_equal(w_uint(m, "delivery"), id);
    it_str_eq(wire_root(m), "agency", "water");
    it_str_eq(wire_root(m), "role", "target");
    it_str_eq(wire_root(m), "state", "answered");
    it_str_eq(wire_root(m), "outcome", "done");
    /* a replica built from the events holds the answer's outcome code */
    miz_replica_t *replica = miz_replica_new();
    assert_non_null(replica);
    assert_int_equal(miz_replica_apply(replica, wire_root(m)), 0);
    const miz_request_t *q = miz_replica_find(replica, t);
    assert_non_null(q);
    assert_int_equal(q->n_deliveries, 1);
    assert_string_equal(q->deliveries[0].outcome, "done");
    miz_replica_destroy(&replica);
    wire_msg_destroy(&m);
    m = expect_event(d, s, "closed", t);
    it_str_eq(wire_root(m), "state", "closed");
    wire_msg_destroy(&m);
    it_outcome_is(c, t, "water", "water", id, "done");

    /* counters: where the seq is, and each agency's figures */
    uint64_t held = it_submit_topic(c, "utility.water.cut", NULL);
    it_take(w, held, "target");
    for (;;) {
        m = sub_next(d, s, "counters");
        if (w_uint(m, "seq") >= s->last_seq + 3) /* received, queued, offered */
            break;
        wire_msg_destroy(&m);
    }
    assert_int_equal(w_uint(m, "open_requests"), 1);
    /* two submissions, an ack and an answer since: each a commit, or sharing one */
    const msgpack_object *store = it_get(wire_root(m), "store");
    assert_true(it_uint(store, "commits") >= commits0 + 2);
    assert_true(it_uint(store, "commit_us") > 0); /* each a write and a flush, or a round trip */
    const msgpack_object *agencies = it_get(wire_root(m), "agencies");
    bool seen = false;
    for (uint32_t i = 0; i < agencies->via.array.size; i++) {
        const msgpack_object *a = &agencies->via.array.ptr[i];
        size_t n;
        const char *id_s;
        assert_int_equal(wire_obj_str(it_get(a, "agency"), &id_s, &n, 64), WIRE_OK);
        if (n != 5 || memcmp(id_s, "water", 5) != 0)
            continue;
        seen = true;
        assert_int_equal(it_uint(a, "open"), 1);
        assert_int_equal(it_uint(a, "overdue"), 0);
        assert_int_equal(it_uint(a, "queued"), 0);
        assert_int_equal(it_uint(a, "workers"), 1);
    }
    assert_true(seen);
    wire_msg_destroy(&m);
    sub_close(&s);
}

/* An escalation's "queued" names the delivery it was made from, as its
 * later events and status do (a replica built from events keeps it). */
static void test_escalation_from(void **state)
{
    it_daemon_t *d = *state;
    sub_t *s = sub_open(d, "");
    wire_msg_destroy(&(wire_msg_t *){sub_next(d, s, "counters")}); /* subscribed */
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t = it_submit_topic(c, "utility.water.cut", NULL);
    uint64_t id = it_take(w, t, "target");
    it_refuse(w, id, "not ours: the pipe is the city's");
    for (int i = 0;; i++) {
        if (i == 20)
            it_fail("no escalation was queued");
        wire_msg_t *m = sub_next(d, s, "event");
        size_t n;
        const char *event, *role;
        bool queued = wire_str(m, "event", &event, &n, 32) == WIRE_OK && n == 6 &&
                      memcmp(event, "queued", 6) == 0;
        bool escalation = wire_str(m, "role", &role, &n, 32) == WIRE_OK && n == 10 &&
                          memcmp(role, "escalation", 10) == 0;
        if (queued && escalation) {
            it_str_eq(wire_root(m), "agency", "governorate");
            assert_int_equal(w_uint(m, "from"), id);
            wire_msg_destroy(&m);
            break;
        }
        wire_msg_destroy(&m);
    }
    sub_close(&s);
}

/* ---- snapshot ---- */

/* Packs o without the keys a snapshot leaves out or a reply adds, so a
 * status reply and a snapshot's request can be compared byte for byte. */
static void pack_comparable(msgpack_packer *pk, const msgpack_object *o)
{
    /* what only status says: the personal fields (protocol.md 3.5) */
    static const char *const skip[] = {"type", "re", "client_ref", "payload", "text", "note", "by"};
    if (o->type == MSGPACK_OBJECT_ARRAY) {
        msgpack_pack_array(pk, o->via.array.size);
        for (uint32_t i = 0; i < o->via.array.size; i++)
            pack_comparable(pk, &o->via.array.ptr[i]);
        return;
    }
    if (o->type != MSGPACK_OBJECT_MAP) {
        msgpack_pack_object(pk, *o);
        return;
    }
    uint32_t n = 0;
    bool keep[64] = {false};
    assert_true(o->via.map.size <= 64);
    for (uint32_t i = 0; i < o->via.map.size; i++) {
        const msgpack_object_str *k = &o->via.map.ptr[i].key.via.str;
        keep[i] = true;
        for (size_t j = 0; j < sizeof skip / sizeof *skip; j++)
            if (k->size == strlen(skip[j]) && memcmp(k->ptr, skip[j], k->size) == 0)
                keep[i] = false;
        n += keep[i];
    }
    msgpack_pack_map(pk, n);
    for (uint32_t i = 0; i < o->via.map.size; i++)
        if (keep[i]) {
            msgpack_pack_object(pk, o->via.map.ptr[i].key);
            pack_comparable(pk, &o->via.map.ptr[i].val);
        }
}

static void assert_same(const msgpack_object *a, const msgpack_object *b, uint64_t tracking)
{
    msgpack_sbuffer x, y;
    msgpack_packer px, py;
    msgpack_sbuffer_init(&x);
    msgpack_sbuffer_init(&y);
    msgpack_packer_init(&px, &x, msgpack_sbuffer_write);
    msgpack_packer_init(&py, &y, msgpack_sbuffer_write);
    pack_comparable(&px, a);
    pack_comparable(&py, b);
    if (x.size != y.size || memcmp(x.data, y.data, x.size) != 0)
        it_fail("tracking %llu: the snapshot and status differ", (unsigned long long)tracking);
    msgpack_sbuffer_destroy(&x);
    msgpack_sbuffer_destroy(&y);
}

#define MANY 300 /* more than one snapshot part */

/* Requests in every state, one snapshot: parts, the seq it includes, and
 * each request as status tells it (less what is personal). */
static void test_snapshot(void **state)
{
    it_daemon_t *d = *state;
    sub_t *s = sub_open(d, "event");
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t closed = it_submit_topic(c, "utility.water.cut", NULL);
    it_serve(w, closed);
    it_outcome_is(c, closed, "water", "water", closed, "done");
    uint64_t first = 0;
    for (int i = 0; i < MANY; i++) {
        uint64_t t = it_submit(c, &(miz_submit_t){.topic = "utility.water.cut",
                                                  .client_ref = i ? NULL : "ref-0",
                                                  .text = "snapshot"});
        first = first ? first : t;
    }
    /* the last event before the snapshot, as the stream tells it */
    for (;;) {
        wire_msg_t *m = sub_next(d, s, "event");
        uint64_t t = w_uint(m, "tracking");
        s->last_seq = w_uint(m, "seq");
        wire_msg_destroy(&m);
        if (t == first + MANY - 1)
            break;
    }
    /* every queued event after the received one of the last request */
    uint64_t seq_sent = it_now_ms();
    it_send_map(c, IT_MAP(IT_S("type", "snapshot"), IT_U("seq", seq_sent), IT_U("since", 0)));
    size_t parts = 0, requests = 0;
    uint64_t snapshot_seq = 0;
    for (bool done = false; !done; parts++) {
        miz_msg_t *m = it_reply(c, seq_sent);
        it_check_type(m, "snapshot");
        assert_int_equal(it_uint(IT_ROOT(m), "part"), parts);
        done = it_bool(IT_ROOT(m), "done");
        snapshot_seq = it_uint(IT_ROOT(m), "seq");
        const msgpack_object *reqs = it_get(IT_ROOT(m), "requests");
        for (uint32_t i = 0; i < reqs->via.array.size; i++) {
            const msgpack_object *r = &reqs->via.array.ptr[i];
            uint64_t t = it_uint(r, "tracking");
            miz_msg_t *st = it_status(c, t);
            assert_same(r, IT_ROOT(st), t);
            miz_msg_destroy(&st);
            requests++;
        }
        miz_msg_destroy(&m);
    }
    assert_true(parts >= 2);
    assert_int_equal(requests, MANY + 1);
    /* the queued deliveries' events are all in: nothing happened since */
    if (snapshot_seq < s->last_seq)
        it_fail("the snapshot's seq %llu is before the last event %llu",
                (unsigned long long)snapshot_seq, (unsigned long long)s->last_seq);

    /* since: a time after the closed one closed leaves it out */
    it_send_map(c, IT_MAP(IT_S("type", "snapshot"), IT_U("seq", seq_sent + 1),
                          IT_U("since", UINT64_C(1) << 62)));
    for (requests = 0, parts = 0;; parts++) {
        miz_msg_t *m = it_reply(c, seq_sent + 1);
        requests += it_get(IT_ROOT(m), "requests")->via.array.size;
        bool done = it_bool(IT_ROOT(m), "done");
        miz_msg_destroy(&m);
        if (done)
            break;
    }
    assert_int_equal(requests, MANY);
    sub_close(&s);
}

#define STORED 2000 /* closed requests: several parts, each a turn of its own */
#define STORED_WINDOW 100

/* Closes STORED requests; returns the first tracking number. */
static uint64_t close_many(it_peer_t *c, it_peer_t *w)
{
    size_t sent = 0, outcomes = 0;
    uint64_t first = 0;
    for (uint64_t progress = it_now_ms(); outcomes < STORED;) {
        while (sent < STORED && sent - outcomes < STORED_WINDOW) {
            it_submit_send(c, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"});
            sent++;
        }
        miz_msg_t *m;
        while ((m = it_next(w, 0))) {
            it_check_type(m, "deliver");
            assert_int_equal(
                miz_worker_answer(it_miz_worker(w), it_uint(IT_ROOT(m), "delivery"), "done", NULL),
                0);
            miz_msg_destroy(&m);
        }
        if ((m = it_next(c, 2))) {
            progress = it_now_ms();
            if (miz_msg_is(m, "accepted") && !first)
                first = it_uint(IT_ROOT(m), "tracking");
            outcomes += miz_msg_is(m, "outcome");
            miz_msg_destroy(&m);
        } else if (it_now_ms() - progress > IT_WAIT_MS) {
            it_fail("stalled with %zu of %d requests closed", outcomes, STORED);
        }
    }
    return first;
}

/* A snapshot of many closed requests comes a part per turn: a ping sent
 * after it is answered before its last part, and a request that closes
 * meanwhile is in it once, as it was when the snapshot was asked for. */
static void test_snapshot_turns(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *w = it_worker_open(
        d, &(miz_worker_opts_t){.agency = "water", .credit = STORED_WINDOW, .quiet = true});
    miz_msg_destroy(&(miz_msg_t *){it_expect(w, "registered")});
    uint64_t first = close_many(c, w);
    uint64_t open = it_submit_topic(c, "utility.water.cut", NULL);
    miz_msg_t *m = it_deliver(w, open, "target");
    uint64_t delivery = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);

    it_send_map(c, IT_MAP(IT_S("type", "snapshot"), IT_U("seq", 9001)));
    it_send_map(c, IT_MAP(IT_S("type", "ping"), IT_U("seq", 9002)));
    bool *seen = calloc(STORED + 1, sizeof *seen), pong = false, answered = false;
    assert_non_null(seen);
    size_t parts = 0, requests = 0;
    uint64_t seq = 0;
    for (bool done = false; !done;) {
        m = it_next(c, IT_WAIT_MS);
        if (!m)
            it_fail("no snapshot part %zu", parts);
        if (miz_msg_is(m, "pong") || miz_msg_is(m, "outcome")) { /* between parts */
            if (miz_msg_is(m, "outcome"))
                assert_int_equal(it_uint(IT_ROOT(m), "tracking"), open);
            else
                assert_int_equal(it_uint(IT_ROOT(m), "re"), 9002);
            pong = pong || miz_msg_is(m, "pong");
            miz_msg_destroy(&m);
            continue;
        }
        it_check_type(m, "snapshot");
        assert_int_equal(it_uint(IT_ROOT(m), "re"), 9001);
        assert_int_equal(it_uint(IT_ROOT(m), "part"), parts);
        if (parts++ == 0)
            seq = it_uint(IT_ROOT(m), "seq");
        assert_int_equal(it_uint(IT_ROOT(m), "seq"), seq);
        done = it_bool(IT_ROOT(m), "done");
        if (done && !pong)
            it_fail("the snapshot's last part came before the pong: the loop waited for it");
        const msgpack_object *reqs = it_get(IT_ROOT(m), "requests");
        for (uint32_t i = 0; i < reqs->via.array.size; i++) {
            const msgpack_object *r = &reqs->via.array.ptr[i];
            uint64_t t = it_uint(r, "tracking");
            assert_true(t >= first && t <= open);
            if (seen[t - first])
                it_fail("tracking %llu twice in one snapshot", (unsigned long long)t);
            seen[t - first] = true;
            if (t == open)
                it_str_eq(r, "state", "open");
            requests++;
        }
        miz_msg_destroy(&m);
        if (!answered) { /* it closes and is written while the parts go on */
            assert_int_equal(miz_worker_answer(it_miz_worker(w), delivery, "done", NULL), 0);
            answered = true;
        }
    }
    assert_int_equal(requests, STORED + 1);
    assert_true(parts > STORED / 256);
    free(seen);
}

/* With a store, seq carries on across a restart and run changes; closed
 * requests come from the store once memory no longer has them. */
static void test_restart(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    sub_t *s = sub_open(d, "");
    wire_msg_destroy(&(wire_msg_t *){sub_next(d, s, "counters")});
    uint64_t t = it_submit_topic(c, "utility.water.cut", NULL);
    it_serve(w, t);
    static const char *const life[] = {"received", "queued", "offered", "acked", "answered",
                                       "closed"};
    for (size_t i = 0; i < sizeof life / sizeof *life; i++)
        wire_msg_destroy(&(wire_msg_t *){expect_event(d, s, life[i], t)});
    uint64_t run = s->run, before = s->last_seq;
    sub_close(&s);

    it_restart(d, false);
    s = sub_open(d, "");
    wire_msg_t *m = sub_next(d, s, "counters");
    assert_int_equal(w_uint(m, "seq"), before);
    wire_msg_destroy(&m);
    uint64_t t2 = it_submit_topic(c, "utility.water.cut", NULL);
    m = expect_event(d, s, "received", t2);
    assert_int_equal(w_uint(m, "seq"), before + 1);
    assert_true(w_uint(m, "run") != run);
    wire_msg_destroy(&m);
    sub_close(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_events, TABLE),
        IT_TEST(test_escalation_from, TABLE),
        IT_TEST(test_snapshot, TABLE),
        IT_TEST(test_snapshot_turns, TABLE),
        IT_TEST(test_restart, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

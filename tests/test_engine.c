/* Unit tests of the request engine, in-process, with a fake clock.
 *
 * The engine takes its clock, its outbox and its store as handles: here the
 * clock moves only when a test says so, what the engine sends is decoded
 * into a queue the test reads per peer, and the store is a real LMDB store
 * in a temp dir. A deadline of minutes passes in a call, so the scenarios
 * that the integration tests could only play with real (millisecond)
 * deadlines run here in microseconds: ack timeout, expiry, overdue and
 * escalation, dead workers, working time, recovery. After every turn
 * engine_check recomputes the engine's derived figures and must agree. The
 * routing table is the integration tests' deadlines.yaml. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine.h"
#include "wire.h"
#include "workcal.h"

#define SENT_MAX 4096
#define WALL_START 1773133200000ull /* 2026-03-10 09:00 UTC, a Tuesday: 12:30 in Tehran */
#define HEARTBEAT_MS 100            /* deadlines.yaml's */

typedef struct {
    engine_socket_t to;
    char rid[32];
    wire_msg_t *msg;
} sent_t;

typedef struct {
    uint64_t mono, wall;
    sent_t sent[SENT_MAX];
    size_t n_sent;
    size_t events; /* messages on the event stream */
    wire_msg_t *counters; /* the last counters */
    const char *offline;  /* a client routing id whose messages are lost */
    bool threaded;        /* commits on the engine's commit thread */
    const char *table; /* YAML of the routing table; NULL: deadlines.yaml */
    engine_t *e;
    char dir[64]; /* the store's */
} fake_t;

/* ---- the engine's handles ---- */

static int fake_send(void *ctx, engine_socket_t to, const void *rid, size_t rid_len,
                     const void *body, size_t len)
{
    fake_t *f = ctx;
    char why[256];
    wire_status_t st;
    wire_msg_t *m = wire_parse(body, len, &st, why, sizeof why);
    if (!m)
        fail_msg("the engine sent an undecodable message: %s", why);
    if (to == ENGINE_EVENTS) {
        f->events++;
        if (rid_len == 8 && memcmp(rid, "counters", 8) == 0) {
            wire_msg_destroy(&f->counters);
            f->counters = m;
        } else {
            wire_msg_destroy(&m);
        }
        return 0;
    }
    if (f->offline && strlen(f->offline) == rid_len && memcmp(f->offline, rid, rid_len) == 0) {
        wire_msg_destroy(&m);
        errno = EHOSTUNREACH;
        return -1;
    }
    assert_true(f->n_sent < SENT_MAX && rid_len < sizeof f->sent[0].rid);
    sent_t *s = &f->sent[f->n_sent++];
    s->to = to;
    memcpy(s->rid, rid, rid_len);
    s->rid[rid_len] = '\0';
    s->msg = m;
    return 0;
}

static void fake_now(void *ctx, uint64_t *mono, uint64_t *wall)
{
    const fake_t *f = ctx;
    *mono = f->mono;
    *wall = f->wall;
}

static table_t *fake_table(const fake_t *f)
{
    char *errors = NULL;
    table_t *t = f->table ? table_parse(f->table, strlen(f->table), "test", &errors)
                          : table_load(TEST_TABLE_DIR "/deadlines.yaml", &errors);
    if (!t)
        fail_msg("deadlines.yaml: %s", errors);
    return t;
}

/* A new engine on deadlines.yaml and the store in f->dir (made if empty). */
static void fake_start(fake_t *f)
{
    char err[512];
    store_t *store = store_open(&(store_conf_t){.kind = STORE_LMDB, .dir = f->dir}, err, sizeof err);
    if (!store)
        fail_msg("%s", err);
    engine_io_t io = {.send = fake_send, .now = fake_now, .ctx = f, .threaded_commit = f->threaded};
    f->e = engine_new(fake_table(f), store, NULL, &io, LOG_WARN, err, sizeof err);
    if (!f->e)
        fail_msg("%s", err);
}

static void fake_drop_sent(fake_t *f)
{
    for (size_t i = 0; i < f->n_sent; i++)
        wire_msg_destroy(&f->sent[i].msg);
    f->n_sent = 0;
}

/* mizd restarts: a new engine on the same store, what the old one sent
 * forgotten; mono: the new boot's monotonic clock (0: it goes on). */
static void fake_restart(fake_t *f, uint64_t mono)
{
    engine_destroy(&f->e);
    fake_drop_sent(f);
    if (mono)
        f->mono = mono;
    fake_start(f);
}

/* An engine on table (NULL: deadlines.yaml), its commits on a thread of
 * their own when threaded. */
static int setup_engine(void **state, const char *table, bool threaded)
{
    fake_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->table = table;
    f->threaded = threaded;
    f->mono = 1000;
    f->wall = WALL_START;
    strcpy(f->dir, "/tmp/miz-test-engine-XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    fake_start(f);
    *state = f;
    return 0;
}

static int setup(void **state)
{
    return setup_engine(state, NULL, false);
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

static int teardown(void **state)
{
    fake_t *f = *state;
    char path[sizeof f->dir + 256];
    engine_destroy(&f->e);
    fake_drop_sent(f);
    wire_msg_destroy(&f->counters);
    DIR *dir = opendir(f->dir); /* the store's files: flat */
    assert_non_null(dir);
    for (struct dirent *d; (d = readdir(dir));)
        if (d->d_name[0] != '.') {
            snprintf(path, sizeof path, "%s/%s", f->dir, d->d_name);
            assert_int_equal(remove(path), 0);
        }
    closedir(dir);
    assert_int_equal(rmdir(f->dir), 0);
    free(f);
    return 0;
}

/* ---- turns ---- */

static void turn_end(fake_t *f)
{
    char why[256];
    engine_turn_end(f->e);
    if (engine_check(f->e, why, sizeof why) < 0)
        fail_msg("after a turn: %s", why);
}

/* One message from a peer as its own turn: keys and values alternate in
 * kv, strings unless a key starts with '#' (a uint, the value given as a
 * decimal string) or '?' (a bool: "true" or not). */
static void receive(fake_t *f, engine_socket_t from, const char *rid, const principal_t *key,
                    const char *const *kv)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    wire_map_t m;
    wire_map_begin(&m, &pk);
    for (; kv[0]; kv += 2) {
        if (kv[0][0] == '#')
            wire_map_uint(&m, kv[0] + 1, strtoull(kv[1], NULL, 10));
        else if (kv[0][0] == '?')
            wire_map_bool(&m, kv[0] + 1, strcmp(kv[1], "true") == 0);
        else
            wire_map_cstr(&m, kv[0], kv[1]);
    }
    wire_map_end(&m);
    engine_turn_begin(f->e);
    engine_receive(f->e, from, rid, strlen(rid), key != NULL, key, sb.data, sb.size);
    turn_end(f);
    msgpack_sbuffer_destroy(&sb);
}
#define CLIENT(f, rid, ...)                                                                        \
    receive(f, ENGINE_CLIENTS, rid, NULL, (const char *const[]){__VA_ARGS__, NULL})
#define WORKER(f, rid, ...)                                                                        \
    receive(f, ENGINE_WORKERS, rid, NULL, (const char *const[]){__VA_ARGS__, NULL})

/* The clock moves on by ms and the deadlines due fire, as one turn. */
static void advance(fake_t *f, uint64_t ms)
{
    f->mono += ms;
    f->wall += ms;
    engine_turn_begin(f->e);
    engine_expire(f->e);
    turn_end(f);
}

static void tick(fake_t *f)
{
    engine_turn_begin(f->e);
    engine_tick(f->e);
    turn_end(f);
}

/* ---- what the engine sent ---- */

static uint64_t msg_uint(const wire_msg_t *m, const char *key)
{
    uint64_t v = 0;
    if (wire_uint(m, key, &v) != WIRE_OK)
        fail_msg("no uint \"%s\"", key);
    return v;
}

static void str_is(const msgpack_object *map, const char *key, const char *want)
{
    const msgpack_object *o = wire_obj_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size != strlen(want) ||
        memcmp(o->via.str.ptr, want, o->via.str.size) != 0)
        fail_msg("\"%s\" is not \"%s\"", key, want);
}

static uint64_t obj_uint(const msgpack_object *map, const char *key)
{
    uint64_t v = 0;
    const msgpack_object *o = wire_obj_get(map, key);
    if (!o || wire_obj_uint(o, &v) != WIRE_OK)
        fail_msg("no uint \"%s\"", key);
    return v;
}

/* The next message to rid, which must be of that type; the caller owns it. */
static wire_msg_t *expect(fake_t *f, const char *rid, const char *type)
{
    for (size_t i = 0; i < f->n_sent; i++) {
        if (strcmp(f->sent[i].rid, rid) != 0)
            continue;
        wire_msg_t *m = f->sent[i].msg;
        memmove(&f->sent[i], &f->sent[i + 1], (f->n_sent - i - 1) * sizeof *f->sent);
        f->n_sent--;
        str_is(wire_root(m), "type", type);
        return m;
    }
    fail_msg("nothing was sent to %s (a %s was expected)", rid, type);
    return NULL;
}

static void expect_done(fake_t *f, const char *rid, const char *type)
{
    wire_msg_t *m = expect(f, rid, type);
    wire_msg_destroy(&m);
}

/* Nothing more was sent to rid. */
static void quiet(const fake_t *f, const char *rid)
{
    for (size_t i = 0; i < f->n_sent; i++)
        if (strcmp(f->sent[i].rid, rid) == 0)
            fail_msg("%s was sent a message it should not have been", rid);
}

static void expect_error(fake_t *f, const char *rid, const char *code)
{
    wire_msg_t *m = expect(f, rid, "error");
    str_is(wire_root(m), "code", code);
    wire_msg_destroy(&m);
}

static void reg(fake_t *f, const char *rid, const char *agency, const char *credit)
{
    WORKER(f, rid, "type", "register", "agency", agency, "#credit", credit);
    expect_done(f, rid, "registered");
}

static uint64_t submit(fake_t *f, const char *rid, const char *topic)
{
    CLIENT(f, rid, "type", "submit", "topic", topic, "payload", "آب قطع است");
    wire_msg_t *m = expect(f, rid, "accepted");
    uint64_t t = msg_uint(m, "tracking");
    wire_msg_destroy(&m);
    return t;
}

/* The next message to the worker is a delivery of tracking in that role:
 * its id, and its attempt in *attempt if asked. */
static uint64_t take(fake_t *f, const char *rid, uint64_t tracking, const char *role,
                     uint64_t *attempt)
{
    wire_msg_t *m = expect(f, rid, "deliver");
    assert_int_equal(msg_uint(m, "tracking"), tracking);
    str_is(wire_root(m), "role", role);
    uint64_t id = msg_uint(m, "delivery");
    if (attempt)
        *attempt = msg_uint(m, "attempt");
    wire_msg_destroy(&m);
    return id;
}

static void expect_attempt(fake_t *f, const char *rid, uint64_t tracking, uint64_t id,
                           uint64_t attempt)
{
    uint64_t got;
    assert_int_equal(take(f, rid, tracking, "target", &got), id);
    assert_int_equal(got, attempt);
}

static void expect_cancel(fake_t *f, const char *rid, uint64_t id, const char *reason)
{
    wire_msg_t *m = expect(f, rid, "cancel");
    assert_int_equal(msg_uint(m, "delivery"), id);
    str_is(wire_root(m), "reason", reason);
    wire_msg_destroy(&m);
}

/* A delivery made from another (escalation, breach copy): its id. */
static uint64_t expect_copy(fake_t *f, const char *rid, uint64_t tracking, const char *role,
                            uint64_t from, const char *reason)
{
    wire_msg_t *m = expect(f, rid, "deliver");
    assert_int_equal(msg_uint(m, "tracking"), tracking);
    str_is(wire_root(m), "role", role);
    assert_int_equal(msg_uint(m, "from"), from);
    str_is(wire_root(m), "reason", reason);
    uint64_t id = msg_uint(m, "delivery");
    wire_msg_destroy(&m);
    return id;
}

/* The next message to the worker is ok for delivery id, a duplicate or not. */
static void expect_ok(fake_t *f, const char *rid, uint64_t id, bool duplicate)
{
    wire_msg_t *m = expect(f, rid, "ok");
    assert_int_equal(msg_uint(m, "delivery"), id);
    const msgpack_object *dup = wire_get(m, "duplicate");
    assert_int_equal(dup != NULL, duplicate);
    assert_true(!dup || (dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean));
    wire_msg_destroy(&m);
}

static void worker_cmd(fake_t *f, const char *rid, const char *type, uint64_t id,
                       const char *outcome, const char *text)
{
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)id);
    if (outcome)
        WORKER(f, rid, "type", type, "#delivery", n, "outcome", outcome, "text", text);
    else
        WORKER(f, rid, "type", type, "#delivery", n);
    expect_ok(f, rid, id, false);
}
#define ACK(f, rid, id) worker_cmd(f, rid, "ack", id, NULL, NULL)
#define ANSWER(f, rid, id, outcome, text) worker_cmd(f, rid, "answer", id, outcome, text)

/* The next message to the client is the outcome of tracking, with one
 * answer as given; its "late" in *late. */
static void outcome_is(fake_t *f, const char *rid, uint64_t tracking, const char *agency,
                       const char *answered_by, uint64_t delivery, const char *outcome, bool *late)
{
    wire_msg_t *m = expect(f, rid, "outcome");
    assert_int_equal(msg_uint(m, "tracking"), tracking);
    const msgpack_object *answers = wire_get(m, "answers");
    assert_true(answers && answers->type == MSGPACK_OBJECT_ARRAY && answers->via.array.size == 1);
    const msgpack_object *a = &answers->via.array.ptr[0];
    str_is(a, "agency", agency);
    str_is(a, "answered_by", answered_by);
    assert_int_equal(obj_uint(a, "delivery"), delivery);
    str_is(a, "outcome", outcome);
    if (late)
        *late = wire_obj_get(a, "late")->via.boolean;
    wire_msg_destroy(&m);
}

/* The status of tracking; the caller owns it. */
static wire_msg_t *status(fake_t *f, const char *rid, uint64_t tracking)
{
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)tracking);
    CLIENT(f, rid, "type", "status", "#tracking", n);
    return expect(f, rid, "status");
}

static const msgpack_object *status_delivery(const wire_msg_t *m, uint64_t id)
{
    const msgpack_object *dels = wire_get(m, "deliveries");
    for (uint32_t i = 0; dels && i < dels->via.array.size; i++)
        if (obj_uint(&dels->via.array.ptr[i], "id") == id)
            return &dels->via.array.ptr[i];
    fail_msg("no delivery %llu in the status", (unsigned long long)id);
    return NULL;
}

static void history_is(const msgpack_object *delivery, const char *const *want)
{
    const msgpack_object *h = wire_obj_get(delivery, "history");
    uint32_t n = 0;
    while (want[n])
        n++;
    assert_non_null(h);
    assert_int_equal(h->via.array.size, n);
    for (uint32_t i = 0; i < n; i++)
        str_is(&h->via.array.ptr[i], "event", want[i]);
}
#define HISTORY(delivery, ...) history_is(delivery, (const char *const[]){__VA_ARGS__, NULL})

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

/* Waits for the commit in flight and lets it land, as a turn. */
static void commit_lands(fake_t *f)
{
    struct pollfd p = {engine_commit_fd(f->e), POLLIN, 0};
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, 10000), 1);
    engine_turn_begin(f->e);
    engine_commit_done(f->e);
    turn_end(f);
}

static int setup_threaded(void **state)
{
    return setup_engine(state, NULL, true);
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
        cmocka_unit_test_setup_teardown(test_recovery, setup, teardown),
        cmocka_unit_test_setup_teardown(test_payload_at_rest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_command_table, setup, teardown),
        cmocka_unit_test_setup_teardown(test_retention, setup_retention, teardown),
        cmocka_unit_test_setup_teardown(test_repeated_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(test_release, setup, teardown),
        cmocka_unit_test_setup_teardown(test_credit, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outcomes_pending, setup_pending, teardown),
        cmocka_unit_test_setup_teardown(test_pipelined_commit, setup_threaded, teardown),
        cmocka_unit_test_setup_teardown(test_commit_join, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* engine_fake: the fake world the engine's unit tests run it in.
 *
 * The engine takes its clock, its outbox and its store as handles: here the
 * clock moves only when a test says so, what the engine sends is decoded
 * into a queue the test reads per peer, and the store is a real LMDB store
 * in a temp dir. A deadline of minutes passes in a call, so scenarios the
 * integration tests could only play with real (millisecond) deadlines run
 * in microseconds. After every turn engine_check recomputes the engine's
 * derived figures and must agree. The routing table is the integration
 * tests' deadlines.yaml unless a fixture gives its own. Its own file so
 * test_engine.c and test_engine_store.c share one harness; the helpers fail
 * the test rather than return errors, so a scenario reads as what it plays. */
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

#include "engine_fake.h"

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
void fake_start(fake_t *f)
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
void fake_restart(fake_t *f, uint64_t mono)
{
    engine_destroy(&f->e);
    fake_drop_sent(f);
    if (mono)
        f->mono = mono;
    fake_start(f);
}

/* An engine on table (NULL: deadlines.yaml), its commits on a thread of
 * their own when threaded. */
int setup_engine(void **state, const char *table, bool threaded)
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

int setup(void **state)
{
    return setup_engine(state, NULL, false);
}

int teardown(void **state)
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

void turn_end(fake_t *f)
{
    char why[256];
    engine_turn_end(f->e);
    if (engine_check(f->e, why, sizeof why) < 0)
        fail_msg("after a turn: %s", why);
}

/* One message from a peer as its own turn: keys and values alternate in
 * kv, strings unless a key starts with '#' (a uint, the value given as a
 * decimal string) or '?' (a bool: "true" or not). */
void receive(fake_t *f, engine_socket_t from, const char *rid, const principal_t *key,
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

/* The clock moves on by ms and the deadlines due fire, as one turn. */
void advance(fake_t *f, uint64_t ms)
{
    f->mono += ms;
    f->wall += ms;
    engine_turn_begin(f->e);
    engine_expire(f->e);
    turn_end(f);
}

void tick(fake_t *f)
{
    engine_turn_begin(f->e);
    engine_tick(f->e);
    turn_end(f);
}

/* ---- what the engine sent ---- */

uint64_t msg_uint(const wire_msg_t *m, const char *key)
{
    uint64_t v = 0;
    if (wire_uint(m, key, &v) != WIRE_OK)
        fail_msg("no uint \"%s\"", key);
    return v;
}

void str_is(const msgpack_object *map, const char *key, const char *want)
{
    const msgpack_object *o = wire_obj_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR || o->via.str.size != strlen(want) ||
        memcmp(o->via.str.ptr, want, o->via.str.size) != 0)
        fail_msg("\"%s\" is not \"%s\"", key, want);
}

uint64_t obj_uint(const msgpack_object *map, const char *key)
{
    uint64_t v = 0;
    const msgpack_object *o = wire_obj_get(map, key);
    if (!o || wire_obj_uint(o, &v) != WIRE_OK)
        fail_msg("no uint \"%s\"", key);
    return v;
}

/* The next message to rid, which must be of that type; the caller owns it. */
wire_msg_t *expect(fake_t *f, const char *rid, const char *type)
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

void expect_done(fake_t *f, const char *rid, const char *type)
{
    wire_msg_t *m = expect(f, rid, type);
    wire_msg_destroy(&m);
}

/* Nothing more was sent to rid. */
void quiet(const fake_t *f, const char *rid)
{
    for (size_t i = 0; i < f->n_sent; i++)
        if (strcmp(f->sent[i].rid, rid) == 0)
            fail_msg("%s was sent a message it should not have been", rid);
}

void expect_error(fake_t *f, const char *rid, const char *code)
{
    wire_msg_t *m = expect(f, rid, "error");
    str_is(wire_root(m), "code", code);
    wire_msg_destroy(&m);
}

void reg(fake_t *f, const char *rid, const char *agency, const char *credit)
{
    WORKER(f, rid, "type", "register", "agency", agency, "#credit", credit);
    expect_done(f, rid, "registered");
}

uint64_t submit(fake_t *f, const char *rid, const char *topic)
{
    CLIENT(f, rid, "type", "submit", "topic", topic, "payload", "آب قطع است");
    wire_msg_t *m = expect(f, rid, "accepted");
    uint64_t t = msg_uint(m, "tracking");
    wire_msg_destroy(&m);
    return t;
}

/* The next message to the worker is a delivery of tracking in that role:
 * its id, and its attempt in *attempt if asked. */
uint64_t take(fake_t *f, const char *rid, uint64_t tracking, const char *role, uint64_t *attempt)
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

void expect_attempt(fake_t *f, const char *rid, uint64_t tracking, uint64_t id, uint64_t attempt)
{
    uint64_t got;
    assert_int_equal(take(f, rid, tracking, "target", &got), id);
    assert_int_equal(got, attempt);
}

void expect_cancel(fake_t *f, const char *rid, uint64_t id, const char *reason)
{
    wire_msg_t *m = expect(f, rid, "cancel");
    assert_int_equal(msg_uint(m, "delivery"), id);
    str_is(wire_root(m), "reason", reason);
    wire_msg_destroy(&m);
}

/* A delivery made from another (escalation, breach copy): its id. */
uint64_t expect_copy(fake_t *f, const char *rid, uint64_t tracking, const char *role,
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
void expect_ok(fake_t *f, const char *rid, uint64_t id, bool duplicate)
{
    wire_msg_t *m = expect(f, rid, "ok");
    assert_int_equal(msg_uint(m, "delivery"), id);
    const msgpack_object *dup = wire_get(m, "duplicate");
    assert_int_equal(dup != NULL, duplicate);
    assert_true(!dup || (dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean));
    wire_msg_destroy(&m);
}

void worker_cmd(fake_t *f, const char *rid, const char *type, uint64_t id,
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

/* The next message to the client is the outcome of tracking, with one
 * answer as given; its "late" in *late. */
void outcome_is(fake_t *f, const char *rid, uint64_t tracking, const char *agency,
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
wire_msg_t *status(fake_t *f, const char *rid, uint64_t tracking)
{
    char n[24];
    snprintf(n, sizeof n, "%llu", (unsigned long long)tracking);
    CLIENT(f, rid, "type", "status", "#tracking", n);
    return expect(f, rid, "status");
}

const msgpack_object *status_delivery(const wire_msg_t *m, uint64_t id)
{
    const msgpack_object *dels = wire_get(m, "deliveries");
    for (uint32_t i = 0; dels && i < dels->via.array.size; i++)
        if (obj_uint(&dels->via.array.ptr[i], "id") == id)
            return &dels->via.array.ptr[i];
    fail_msg("no delivery %llu in the status", (unsigned long long)id);
    return NULL;
}

void history_is(const msgpack_object *delivery, const char *const *want)
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

/* ---- the commit thread ---- */

/* Waits for the commit in flight and lets it land, as a turn. */
void commit_lands(fake_t *f)
{
    struct pollfd p = {engine_commit_fd(f->e), POLLIN, 0};
    assert_true(p.fd >= 0);
    assert_int_equal(poll(&p, 1, 10000), 1);
    engine_turn_begin(f->e);
    engine_commit_done(f->e);
    turn_end(f);
}

/* An engine on deadlines.yaml whose commits run on its commit thread. */
int setup_threaded(void **state)
{
    return setup_engine(state, NULL, true);
}

/* harness_peer: the clients and workers a test opens on its daemon
 * (harness.h), which the harness owns and closes. Every wait here reads all
 * the daemon's peers into queues of their own, so heartbeats keep going
 * whichever peer a test waits for; then come the checks of what arrives
 * (a type, an error, a reply, silence) and raw frames sent as they are. */
#include "harness_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

/* Longest stretch between two reads of every peer: well inside the 100 ms
 * heartbeat, so no worker is ever taken for dead while a test waits. */
#define SLICE_MS 20

/* ---- peers ---- */

static it_peer_t *peer_add(it_daemon_t *d, miz_client_t *c, miz_worker_t *w, const char *name)
{
    if (!c && !w)
        it_fail("cannot connect %s: %s", name, zmq_strerror(errno));
    if (d->n_peers == MAX_PEERS)
        it_fail("more than %d peers", MAX_PEERS);
    it_peer_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    *p = (it_peer_t){.d = d, .client = c, .worker = w};
    snprintf(p->name, sizeof p->name, "%s #%zu", name, d->n_peers);
    d->peers[d->n_peers++] = p;
    return p;
}

/* The keys the harness's own clients use (its pings too), when set. */
static const miz_curve_t *default_curve;

void it_use_curve(const miz_curve_t *curve)
{
    default_curve = curve;
}

it_peer_t *it_client_curve(it_daemon_t *d, const miz_curve_t *curve)
{
    return peer_add(d, miz_client_new_curve(d->zctx, d->clients, curve), NULL, "client");
}

it_peer_t *it_client_on(it_daemon_t *d, const char *endpoint)
{
    return peer_add(d, miz_client_new_curve(d->zctx, endpoint, default_curve), NULL,
                    strcmp(endpoint, d->workers) == 0 ? "raw peer on workers" : "client");
}

it_peer_t *it_client_named(it_daemon_t *d, const char *id)
{
    return peer_add(d, miz_client_new_named(d->zctx, d->clients, id, default_curve), NULL, id);
}

it_peer_t *it_client(it_daemon_t *d)
{
    return it_client_on(d, d->clients);
}

it_peer_t *it_worker_on(it_daemon_t *d, const char *endpoint, const miz_worker_opts_t *o)
{
    char name[64];
    snprintf(name, sizeof name, "worker of %s", o->agency);
    return peer_add(d, NULL, miz_worker_new(d->zctx, endpoint, o), name);
}

it_peer_t *it_worker_open(it_daemon_t *d, const miz_worker_opts_t *o)
{
    return it_worker_on(d, d->workers, o);
}

it_peer_t *it_worker(it_daemon_t *d, const char *agency, unsigned credit)
{
    it_peer_t *w = it_worker_open(d, &(miz_worker_opts_t){.agency = agency, .credit = credit});
    miz_msg_t *m = it_expect(w, "registered");
    it_str_eq(IT_ROOT(m), "agency", agency);
    if (credit)
        assert_int_equal(it_uint(IT_ROOT(m), "credit"), credit);
    assert_int_equal(it_uint(IT_ROOT(m), "heartbeat_ms"), 100);
    miz_msg_destroy(&m);
    return w;
}

static void peer_free(it_peer_t *p)
{
    while (p->head) {
        node_t *n = p->head;
        p->head = n->next;
        miz_msg_destroy(&n->m);
        free(n);
    }
    miz_client_destroy(&p->client);
    miz_worker_destroy(&p->worker);
    free(p);
}

/* Closes every peer and the context: a test that failed half-way leaves
 * peers open, and zmq_ctx_term would wait for them forever. */
void harness_close_peers(it_daemon_t *d)
{
    while (d->n_peers)
        peer_free(d->peers[--d->n_peers]);
    zmq_ctx_term(d->zctx);
    d->zctx = NULL;
}

void it_close(it_peer_t **pp)
{
    it_daemon_t *d = (*pp)->d;
    for (size_t i = 0; i < d->n_peers; i++)
        if (d->peers[i] == *pp) {
            d->peers[i] = d->peers[--d->n_peers];
            break;
        }
    peer_free(*pp);
    *pp = NULL;
}

miz_client_t *it_miz_client(it_peer_t *p)
{
    return p->client;
}

miz_worker_t *it_miz_worker(it_peer_t *p)
{
    return p->worker;
}

static void *peer_socket(it_peer_t *p)
{
    return p->worker ? miz_worker_socket(p->worker) : miz_client_socket(p->client);
}

/* ---- waiting ---- */

static void push(it_peer_t *p, miz_msg_t *m)
{
    node_t *n = malloc(sizeof *n);
    assert_non_null(n);
    *n = (node_t){m, NULL};
    if (p->tail)
        p->tail->next = n;
    else
        p->head = n;
    p->tail = n;
}

/* Reads whatever has arrived for every peer, without waiting. */
static void pump(it_daemon_t *d)
{
    for (size_t i = 0; i < d->n_peers; i++) {
        it_peer_t *p = d->peers[i];
        miz_msg_t *m;
        int rc;
        /* a worker's recv also sends its heartbeat when one is due */
        while ((rc = p->worker ? miz_worker_recv(p->worker, 0, &m)
                               : miz_client_recv(p->client, 0, &m)) == 0)
            push(p, m);
        if (errno != EAGAIN && errno != EINTR)
            it_fail("%s: cannot read: %s", p->name, zmq_strerror(errno));
    }
}

typedef bool match_fn(const miz_msg_t *m, uint64_t arg);

/* Unlinks the first queued message that matches (any when match is NULL). */
static miz_msg_t *take(it_peer_t *p, match_fn *match, uint64_t arg)
{
    node_t *prev = NULL;
    for (node_t *n = p->head; n; prev = n, n = n->next) {
        if (match && !match(n->m, arg))
            continue;
        if (prev)
            prev->next = n->next;
        else
            p->head = n->next;
        if (p->tail == n)
            p->tail = prev;
        miz_msg_t *m = n->m;
        free(n);
        return m;
    }
    return NULL;
}

static miz_msg_t *wait_for(it_peer_t *p, int timeout_ms, match_fn *match, uint64_t arg)
{
    uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pump(p->d);
        miz_msg_t *m = take(p, match, arg);
        uint64_t now = it_now_ms();
        if (m || now >= deadline)
            return m;
        /* a crashed daemon fails the test now, not after the whole wait */
        char buf[64];
        if (harness_exited(p->d))
            it_fail("%s: mizd %s while the test waited", p->name,
                    harness_exit_text(p->d, buf, sizeof buf));
        uint64_t left = deadline - now;
        zmq_pollitem_t item = {peer_socket(p), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, left < SLICE_MS ? (long)left : SLICE_MS) < 0 && errno != EINTR)
            it_fail("%s: zmq_poll: %s", p->name, zmq_strerror(errno));
    }
}

void it_pump(it_daemon_t *d, int ms)
{
    uint64_t end = it_now_ms() + (uint64_t)ms;
    do {
        pump(d);
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    } while (it_now_ms() < end);
}

miz_msg_t *it_next(it_peer_t *p, int timeout_ms)
{
    return wait_for(p, timeout_ms, NULL, 0);
}

static miz_msg_t *must_arrive(it_peer_t *p, miz_msg_t *m, const char *what)
{
    if (!m)
        it_fail("%s: no %s within %d ms", p->name, what, IT_WAIT_MS);
    return m;
}

/* What a message is, for failure messages. */
static const char *describe(const miz_msg_t *m, char *buf, size_t len)
{
    size_t code_len = 0, text_len = 0;
    const char *code = miz_msg_str(m, "code", &code_len);
    const char *text = miz_msg_str(m, "message", &text_len);
    snprintf(buf, len, "\"%s\"%s%.*s%s%.*s", miz_msg_type(m), code ? " code " : "", (int)code_len,
             code ? code : "", text ? ": " : "", (int)text_len, text ? text : "");
    return buf;
}

/* who: the peer it came to, or "" */
void harness_check_type(const char *who, const miz_msg_t *m, const char *type)
{
    char buf[512];
    if (!miz_msg_is(m, type))
        it_fail("%s%sexpected \"%s\", got %s", who, *who ? ": " : "", type,
                describe(m, buf, sizeof buf));
}

void it_check_type(const miz_msg_t *m, const char *type)
{
    harness_check_type("", m, type);
}

static void check_error(const char *who, const miz_msg_t *m, const char *code)
{
    harness_check_type(who, m, "error");
    it_str_eq(IT_ROOT(m), "code", code);
}

void it_check_error(const miz_msg_t *m, const char *code)
{
    check_error("", m, code);
}

miz_msg_t *it_expect(it_peer_t *p, const char *type)
{
    miz_msg_t *m = must_arrive(p, it_next(p, IT_WAIT_MS), type);
    harness_check_type(p->name, m, type);
    return m;
}

void it_expect_error(it_peer_t *p, const char *code)
{
    miz_msg_t *m = must_arrive(p, it_next(p, IT_WAIT_MS), "error");
    check_error(p->name, m, code);
    miz_msg_destroy(&m);
}

static bool is_reply(const miz_msg_t *m, uint64_t seq)
{
    uint64_t re;
    return miz_msg_uint(m, "re", &re) == 0 && re == seq;
}

miz_msg_t *it_reply(it_peer_t *p, uint64_t seq)
{
    return must_arrive(p, wait_for(p, IT_WAIT_MS, is_reply, seq), "reply");
}

void it_reply_error(it_peer_t *p, uint64_t seq, const char *code)
{
    miz_msg_t *m = it_reply(p, seq);
    check_error(p->name, m, code);
    miz_msg_destroy(&m);
}

void it_quiet(it_peer_t *p, int ms)
{
    char buf[512];
    miz_msg_t *m = it_next(p, ms);
    if (m)
        it_fail("%s: unexpected %s", p->name, describe(m, buf, sizeof buf));
}

/* ---- raw frames ---- */

void it_send_frame(it_peer_t *p, const void *data, size_t size, bool more)
{
    if (zmq_send(peer_socket(p), data, size, more ? ZMQ_SNDMORE : 0) < 0)
        it_fail("%s: cannot send: %s", p->name, zmq_strerror(errno));
}

/* Packed with msgpack-c itself, not with the codec under test. */
void it_send_map(it_peer_t *p, const it_kv_t *kv, size_t n)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, kv[i].key, strlen(kv[i].key));
        if (kv[i].str)
            msgpack_pack_str_with_body(&pk, kv[i].str, strlen(kv[i].str));
        else
            msgpack_pack_uint64(&pk, kv[i].num);
    }
    it_send_frame(p, buf.data, buf.size, false);
    msgpack_sbuffer_destroy(&buf);
}

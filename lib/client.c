/* client: libmiz's intake gateways (miz_client_t, lib/miz.h).
 *
 * A client is a connection (conn.c) with a routing id it keeps for its
 * life, so that outcomes find it after a reconnect, a broker's restart, or
 * a move to another broker of its list. The asynchronous calls send; the
 * synchronous ones also wait for the reply and, with a list, move on from
 * a broker that stays silent and ask the next one again when asking twice
 * cannot do a thing twice. Command names, fields and limits are proto.h's. */
#include "miz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"

struct miz_client {
    conn_t conn;
};

miz_client_t *miz_client_new(void *zctx, const char *endpoint)
{
    return miz_client_new_curve(zctx, endpoint, NULL);
}

miz_client_t *miz_client_new_curve(void *zctx, const char *endpoint, const miz_curve_t *curve)
{
    return miz_client_new_named(zctx, endpoint, NULL, curve);
}

miz_client_t *miz_client_new_named(void *zctx, const char *endpoint, const char *id,
                                   const miz_curve_t *curve)
{
    miz_client_t *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if (conn_init(&c->conn, zctx, endpoint, true, id, curve) < 0) {
        int e = errno;
        miz_client_destroy(&c);
        errno = e;
        return NULL;
    }
    return c;
}

void miz_client_destroy(miz_client_t **c)
{
    if (!*c)
        return;
    conn_fini(&(*c)->conn);
    free(*c);
    *c = NULL;
}

void *miz_client_socket(miz_client_t *c)
{
    return c->conn.socket;
}

const char *miz_client_endpoint(const miz_client_t *c)
{
    return endpoints_current(&c->conn.eps);
}

int miz_client_failover(miz_client_t *c)
{
    return conn_failover(&c->conn, true);
}

int miz_client_send_submit(miz_client_t *c, const miz_submit_t *s, uint64_t *seq)
{
    if (!s->topic || (!s->text && !s->payload)) {
        errno = EINVAL;
        return -1;
    }
    wire_map_t m;
    conn_begin(&c->conn, &m, MIZ_CMD_SUBMIT, seq);
    wire_map_cstr(&m, FIELD(SUBMIT, TOPIC), s->topic);
    if (s->kind)
        wire_map_cstr(&m, FIELD(SUBMIT, KIND), s->kind);
    if (s->priority)
        wire_map_cstr(&m, FIELD(SUBMIT, PRIORITY), s->priority);
    if (s->client_ref)
        wire_map_cstr(&m, FIELD(SUBMIT, CLIENT_REF), s->client_ref);
    if (s->confirm)
        wire_map_bool(&m, FIELD(SUBMIT, CONFIRM), true);
    msgpack_packer *pk = wire_map_key(&m, FIELD(SUBMIT, PAYLOAD));
    if (s->payload)
        msgpack_sbuffer_write(&c->conn.buf, s->payload, s->payload_len);
    else
        wire_pack_cstr(pk, s->text);
    return conn_send(&c->conn, &m);
}

int miz_client_send_status(miz_client_t *c, uint64_t tracking, uint64_t *seq)
{
    wire_map_t m;
    conn_begin(&c->conn, &m, MIZ_CMD_STATUS, seq);
    wire_map_uint(&m, FIELD(STATUS, TRACKING), tracking);
    return conn_send(&c->conn, &m);
}

int miz_client_send_confirm(miz_client_t *c, uint64_t tracking, uint64_t *seq)
{
    wire_map_t m;
    conn_begin(&c->conn, &m, MIZ_CMD_CONFIRM, seq);
    wire_map_uint(&m, FIELD(CONFIRM, TRACKING), tracking);
    return conn_send(&c->conn, &m);
}

int miz_client_send_ping(miz_client_t *c, uint64_t *seq)
{
    wire_map_t m;
    conn_begin(&c->conn, &m, MIZ_CMD_PING, seq);
    return conn_send(&c->conn, &m);
}

int miz_client_recv(miz_client_t *c, int timeout_ms, miz_msg_t **m)
{
    if (conn_take_aside(&c->conn, m))
        return 0;
    return conn_recv_raw(&c->conn, timeout_ms, m);
}

/* ---- synchronous calls ---- */

/* Sends one command of a synchronous call, its seq in *seq. */
typedef int client_send_fn(miz_client_t *c, const void *arg, uint64_t *seq);

/* Sends and waits up to timeout_ms for the reply. With a list, a broker
 * silent that long (or whose socket took no send: dealer.h) is left for
 * the next endpoint (the Binary Star client's
 * rule) and, when resend is set, the command goes there again, once round
 * the list: a later reply of the silent one, if any, is put aside with the
 * rest. With one endpoint nothing is sent again, as always. */
static int client_call(miz_client_t *c, client_send_fn *send, const void *arg, bool resend,
                       int timeout_ms, miz_msg_t **reply)
{
    for (size_t tried = 1;; tried++) {
        uint64_t seq;
        int sent = send(c, arg, &seq); /* EAGAIN: no room, as silent as no reply */
        if (sent < 0 && errno != EAGAIN)
            return -1;
        if (sent == 0 && conn_await(&c->conn, seq, timeout_ms, reply) == 0)
            return 0;
        if (errno != EAGAIN || c->conn.eps.n == 1)
            return -1;
        if (conn_failover(&c->conn, true) < 0)
            return -1;
        if (!resend || tried == c->conn.eps.n) {
            errno = EAGAIN;
            return -1;
        }
    }
}

static int client_send_submit(miz_client_t *c, const void *s, uint64_t *seq)
{
    return miz_client_send_submit(c, s, seq);
}

static int client_send_status(miz_client_t *c, const void *tracking, uint64_t *seq)
{
    return miz_client_send_status(c, *(const uint64_t *)tracking, seq);
}

static int client_send_ping(miz_client_t *c, const void *unused, uint64_t *seq)
{
    (void)unused;
    return miz_client_send_ping(c, seq);
}

int miz_submit(miz_client_t *c, const miz_submit_t *s, int timeout_ms, miz_msg_t **reply)
{
    /* a client_ref makes the broker answer a repeat with the first tracking
     * number (protocol.md 3.2); without one a repeat is a second request */
    return client_call(c, client_send_submit, s, s->client_ref != NULL, timeout_ms, reply);
}

int miz_status(miz_client_t *c, uint64_t tracking, int timeout_ms, miz_msg_t **reply)
{
    return client_call(c, client_send_status, &tracking, true, timeout_ms, reply);
}

int miz_ping(miz_client_t *c, int timeout_ms, miz_msg_t **reply)
{
    return client_call(c, client_send_ping, NULL, true, timeout_ms, reply);
}


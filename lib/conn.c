/* conn: the connection libmiz's clients and workers speak over (conn.h),
 * and the broker's messages as they read them (miz_msg_*).
 *
 * A connection is one DEALER socket on one endpoint of a list: a peer
 * talks to one broker at a time, and when that one is silent the client or
 * worker asks for the next (conn_failover), as the ZeroMQ guide's Binary
 * Star client does. The socket is then closed without linger, so nothing
 * queued for the silent broker is delivered to it later (when it comes
 * back deposed, say), and a new one is opened on the next endpoint.
 *
 * Not ZMQ_IMMEDIATE: with it, a send cannot tell a broker not connected
 * yet (one still binding after a takeover, or a socket just opened) from a
 * connected one whose queue is full, so a broker under load would be taken
 * for dead; and a worker's register must wait in the queue for a broker
 * that is still binding. Silence is told by time instead: a reply that does
 * not come, heartbeats that stop. */
#include "conn.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cert.h"
#include "clock.h"
#include "dealer.h"

/* ---- messages ---- */

const char *miz_msg_type(const miz_msg_t *m)
{
    return m->type;
}

bool miz_msg_is(const miz_msg_t *m, const char *type)
{
    return strcmp(m->type, type) == 0;
}

int miz_msg_uint(const miz_msg_t *m, const char *key, uint64_t *v)
{
    return wire_uint(m->wire, key, v) == WIRE_OK ? 0 : -1;
}

const char *miz_msg_str(const miz_msg_t *m, const char *key, size_t *len)
{
    const char *s;
    size_t n;
    if (wire_str(m->wire, key, &s, &n, SIZE_MAX) != WIRE_OK)
        return NULL;
    if (len)
        *len = n;
    return s;
}

const msgpack_object *miz_msg_get(const miz_msg_t *m, const char *key)
{
    return wire_get(m->wire, key);
}

const msgpack_object *miz_msg_root(const miz_msg_t *m)
{
    return wire_root(m->wire);
}

const msgpack_object *miz_map_get(const msgpack_object *map, const char *key)
{
    return wire_obj_get(map, key);
}

const msgpack_object *miz_map_typed(const msgpack_object *map, const char *key,
                                    msgpack_object_type type)
{
    const msgpack_object *v = wire_obj_get(map, key);
    return v && v->type == type ? v : NULL;
}

void miz_msg_destroy(miz_msg_t **m)
{
    if (!*m)
        return;
    wire_msg_destroy(&(*m)->wire);
    free(*m);
    *m = NULL;
}

static miz_msg_t *msg_decode(const void *data, size_t size)
{
    wire_status_t st;
    char why[128];
    const char *type;
    size_t n;
    wire_msg_t *w = wire_parse(data, size, &st, why, sizeof why);
    if (!w)
        return NULL;
    if (wire_str(w, "type", &type, &n, MIZ_TYPE_MAX) != WIRE_OK) {
        wire_msg_destroy(&w);
        return NULL;
    }
    miz_msg_t *m = calloc(1, sizeof *m);
    if (!m) {
        wire_msg_destroy(&w);
        return NULL;
    }
    m->wire = w;
    memcpy(m->type, type, n);
    return m;
}

/* ---- connections ---- */

static int conn_connect(conn_t *c)
{
    c->socket = dealer_open(c->zctx, endpoints_current(&c->eps), c->rid, c->rid_len, c->curve);
    if (!c->socket)
        return -1;
    c->last_recv = c->last_send = clock_ms(CLOCK_MONOTONIC);
    return 0;
}

/* Copies a Z85 key of MIZ_KEY_LEN characters; -1 (EINVAL) for anything else. */
static int key_copy(char dst[MIZ_KEY_LEN + 1], const char *key)
{
    if (!key || strlen(key) != MIZ_KEY_LEN) {
        errno = EINVAL;
        return -1;
    }
    memcpy(dst, key, MIZ_KEY_LEN + 1);
    return 0;
}

/* A client keeps one random routing id for its life, so the broker can
 * still send it the outcome after a reconnect, or after its own restart. */
int conn_init(conn_t *c, void *zctx, const char *endpoints, bool stable_id, const char *id,
              const miz_curve_t *curve)
{
    memset(c, 0, sizeof *c);
    if (curve && (key_copy(c->server_key, curve->server_key) < 0 ||
                  key_copy(c->public_key, curve->public_key) < 0 ||
                  key_copy(c->secret_key, curve->secret_key) < 0))
        return -1;
    c->keys = (miz_curve_t){c->server_key, c->public_key, c->secret_key};
    c->curve = curve ? &c->keys : NULL;
    if (id) { /* ZeroMQ keeps ids that begin with a zero byte for its own */
        c->rid_len = strlen(id);
        if (!c->rid_len || c->rid_len > MIZ_CLIENT_ID_MAX) {
            errno = EINVAL;
            return -1;
        }
        memcpy(c->rid, id, c->rid_len);
    } else if (stable_id) {
        if (dealer_rid(c->rid) < 0)
            return -1;
        c->rid_len = DEALER_RID_LEN;
    }
    c->next_seq = 1;
    msgpack_sbuffer_init(&c->buf);
    msgpack_packer_init(&c->pk, &c->buf, msgpack_sbuffer_write);
    c->own_ctx = zctx == NULL;
    c->zctx = zctx ? zctx : zmq_ctx_new();
    if (!c->zctx || endpoints_init(&c->eps, endpoints) < 0)
        return -1;
    return conn_connect(c);
}

void conn_fini(conn_t *c)
{
    while (c->aside_head) {
        miz_msg_t *m = c->aside_head;
        c->aside_head = m->next;
        miz_msg_destroy(&m);
    }
    if (c->socket)
        zmq_close(c->socket);
    if (c->own_ctx && c->zctx)
        zmq_ctx_term(c->zctx);
    endpoints_fini(&c->eps);
    msgpack_sbuffer_destroy(&c->buf);
}

void conn_begin(conn_t *c, wire_map_t *m, miz_command_t cmd, uint64_t *seq)
{
    msgpack_sbuffer_clear(&c->buf);
    wire_map_begin(m, &c->pk);
    wire_map_cstr(m, "type", miz_commands[cmd].type);
    if (seq)
        *seq = c->next_seq;
    wire_map_uint(m, "seq", c->next_seq++);
}

int conn_send(conn_t *c, wire_map_t *m)
{
    wire_map_end(m);
    if (zmq_send(c->socket, c->buf.data, c->buf.size, 0) < 0)
        return -1;
    c->last_send = clock_ms(CLOCK_MONOTONIC);
    return 0;
}

int conn_failover(conn_t *c, bool keep)
{
    miz_msg_t *m;
    while (keep && (conn_recv_raw(c, 0, &m) == 0 || errno == EPROTO))
        if (m)
            conn_put_aside(c, m);
    int linger = 0; /* the broker is silent: what it did not take is dropped, not sent later */
    zmq_setsockopt(c->socket, ZMQ_LINGER, &linger, sizeof linger);
    zmq_close(c->socket);
    c->socket = NULL;
    endpoints_advance(&c->eps);
    return conn_connect(c);
}

int conn_recv_raw(conn_t *c, int timeout_ms, miz_msg_t **out)
{
    zmq_msg_t frame;
    zmq_msg_init(&frame);
    /* what is waiting is read at once: polling first costs system calls for
     * nothing, and with timeout 0 (draining) nothing else is wanted */
    int got = zmq_msg_recv(&frame, c->socket, ZMQ_DONTWAIT);
    if (got < 0 && errno == EAGAIN && timeout_ms != 0) {
        zmq_pollitem_t item = {c->socket, 0, ZMQ_POLLIN, 0};
        int rc = zmq_poll(&item, 1, timeout_ms);
        if (rc > 0)
            got = zmq_msg_recv(&frame, c->socket, ZMQ_DONTWAIT);
        else if (rc == 0)
            errno = EAGAIN;
    }
    if (got < 0) {
        int e = errno;
        zmq_msg_close(&frame);
        errno = e;
        return -1;
    }
    bool more = zmq_msg_more(&frame);
    *out = more ? NULL : msg_decode(zmq_msg_data(&frame), zmq_msg_size(&frame));
    while (more) { /* the protocol has one frame; skip whatever else came */
        zmq_msg_recv(&frame, c->socket, 0);
        more = zmq_msg_more(&frame);
    }
    zmq_msg_close(&frame);
    c->last_recv = clock_ms(CLOCK_MONOTONIC);
    if (!*out) {
        errno = EPROTO;
        return -1;
    }
    return 0;
}

bool conn_take_aside(conn_t *c, miz_msg_t **m)
{
    if (!c->aside_head)
        return false;
    *m = c->aside_head;
    c->aside_head = (*m)->next;
    if (!c->aside_head)
        c->aside_tail = NULL;
    (*m)->next = NULL;
    return true;
}

void conn_put_aside(conn_t *c, miz_msg_t *m)
{
    m->next = NULL;
    if (c->aside_tail)
        c->aside_tail->next = m;
    else
        c->aside_head = m;
    c->aside_tail = m;
}

int conn_remaining(uint64_t deadline, int timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    return now >= deadline ? 0 : (int)(deadline - now);
}

int conn_await(conn_t *c, uint64_t seq, int timeout_ms, miz_msg_t **reply)
{
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        miz_msg_t *m;
        if (conn_recv_raw(c, conn_remaining(deadline, timeout_ms), &m) < 0) {
            if (errno == EPROTO)
                continue;
            return -1;
        }
        uint64_t re;
        if (miz_msg_uint(m, "re", &re) == 0 && re == seq) {
            *reply = m;
            return 0;
        }
        conn_put_aside(c, m);
    }
}


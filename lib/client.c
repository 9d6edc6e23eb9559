/* client: libmiz's clients and workers (lib/miz.h).
 *
 * Both are a connection (conn_*): a DEALER socket, the seq counter, the
 * command being packed as a counted map, and the messages put aside while
 * a synchronous call waits for its reply. A worker (worker_*) adds its
 * registration, which it repeats after the broker's bye, restart or
 * silence, and the heartbeat both ways. Command and message names, fields
 * and limits are proto.h's. */
#include "miz.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "cert.h"
#include "clock.h"
#include "dealer.h"
#include "proto.h"
#include "wire.h"

#define DEFAULT_HEARTBEAT_MS 1000

/* A command's field name, from the row of proto.h that defines it. */
#define FIELD(cmd, id) (miz_fields[MIZ_F_##cmd##_##id].key)

struct miz_msg {
    wire_msg_t *wire;
    char type[MIZ_TYPE_MAX + 1];
    miz_msg_t *next; /* in a connection's queue of messages put aside */
};

/* What a client and a worker share: a DEALER socket, the seq counter and
 * the messages put aside while a synchronous call waited for its reply. */
typedef struct {
    void *zctx;
    bool own_ctx;
    void *socket;
    char *endpoint;
    uint64_t next_seq;
    miz_msg_t *aside_head, *aside_tail;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    uint64_t last_send, last_recv; /* monotonic ms */
    unsigned char rid[MIZ_CLIENT_ID_MAX]; /* our routing id; 0 bytes: ZeroMQ's choice */
    size_t rid_len;
    const miz_curve_t *curve;      /* &keys, set on every new socket; NULL: none */
    miz_curve_t keys;              /* into the copies below */
    char server_key[MIZ_KEY_LEN + 1], public_key[MIZ_KEY_LEN + 1], secret_key[MIZ_KEY_LEN + 1];
} conn_t;

struct miz_client {
    conn_t conn;
};

struct miz_worker {
    conn_t conn;
    char *agency, *name;
    char **topics;
    size_t n_topics;
    unsigned credit;
    bool quiet;
    uint64_t heartbeat_ms;
    uint64_t reregistered_at; /* when the library registered again; 0 once answered */
};

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
    c->socket = dealer_open(c->zctx, c->endpoint, c->rid, c->rid_len, c->curve);
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
static int conn_init(conn_t *c, void *zctx, const char *endpoint, bool stable_id,
                     const char *id, const miz_curve_t *curve)
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
    c->endpoint = strdup(endpoint);
    if (!c->zctx || !c->endpoint)
        return -1;
    return conn_connect(c);
}

static void conn_fini(conn_t *c)
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
    free(c->endpoint);
    msgpack_sbuffer_destroy(&c->buf);
}

/* Starts a command's map with its type and seq (the next one, given in
 * *seq unless NULL); the caller adds its fields to m, and conn_send or
 * conn_end closes it. */
static void conn_begin(conn_t *c, wire_map_t *m, miz_command_t cmd, uint64_t *seq)
{
    msgpack_sbuffer_clear(&c->buf);
    wire_map_begin(m, &c->pk);
    wire_map_cstr(m, "type", miz_commands[cmd].type);
    if (seq)
        *seq = c->next_seq;
    wire_map_uint(m, "seq", c->next_seq++);
}

/* Closes m and sends the command, waiting for room in the socket's queue. */
static int conn_send(conn_t *c, wire_map_t *m)
{
    wire_map_end(m);
    if (zmq_send(c->socket, c->buf.data, c->buf.size, 0) < 0)
        return -1;
    c->last_send = clock_ms(CLOCK_MONOTONIC);
    return 0;
}

/* Waits up to timeout_ms (forever if negative) for one frame. */
static int conn_recv_raw(conn_t *c, int timeout_ms, miz_msg_t **out)
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

static bool conn_take_aside(conn_t *c, miz_msg_t **m)
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

static void conn_put_aside(conn_t *c, miz_msg_t *m)
{
    m->next = NULL;
    if (c->aside_tail)
        c->aside_tail->next = m;
    else
        c->aside_head = m;
    c->aside_tail = m;
}

static int remaining(uint64_t deadline, int timeout_ms)
{
    if (timeout_ms < 0)
        return -1;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    return now >= deadline ? 0 : (int)(deadline - now);
}

/* Waits for the reply to seq, putting everything else aside. */
static int conn_await(conn_t *c, uint64_t seq, int timeout_ms, miz_msg_t **reply)
{
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        miz_msg_t *m;
        if (conn_recv_raw(c, remaining(deadline, timeout_ms), &m) < 0) {
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

/* ---- clients ---- */

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

int miz_submit(miz_client_t *c, const miz_submit_t *s, int timeout_ms, miz_msg_t **reply)
{
    uint64_t seq;
    if (miz_client_send_submit(c, s, &seq) < 0)
        return -1;
    return conn_await(&c->conn, seq, timeout_ms, reply);
}

int miz_status(miz_client_t *c, uint64_t tracking, int timeout_ms, miz_msg_t **reply)
{
    uint64_t seq;
    if (miz_client_send_status(c, tracking, &seq) < 0)
        return -1;
    return conn_await(&c->conn, seq, timeout_ms, reply);
}

/* ---- workers ---- */

static int worker_register(miz_worker_t *w)
{
    wire_map_t m;
    conn_begin(&w->conn, &m, MIZ_CMD_REGISTER, NULL);
    wire_map_cstr(&m, FIELD(REGISTER, AGENCY), w->agency);
    if (w->quiet)
        wire_map_bool(&m, FIELD(REGISTER, QUIET), true);
    if (w->credit)
        wire_map_uint(&m, FIELD(REGISTER, CREDIT), w->credit);
    if (w->name)
        wire_map_cstr(&m, FIELD(REGISTER, NAME), w->name);
    if (w->n_topics) {
        msgpack_packer *pk = wire_map_key(&m, FIELD(REGISTER, TOPICS));
        msgpack_pack_array(pk, w->n_topics);
        for (size_t i = 0; i < w->n_topics; i++)
            wire_pack_cstr(pk, w->topics[i]);
    }
    return conn_send(&w->conn, &m);
}

miz_worker_t *miz_worker_new(void *zctx, const char *endpoint, const miz_worker_opts_t *o)
{
    miz_worker_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->heartbeat_ms = DEFAULT_HEARTBEAT_MS;
    w->credit = o->credit;
    w->quiet = o->quiet;
    w->agency = strdup(o->agency);
    w->name = o->name ? strdup(o->name) : NULL;
    w->topics = o->n_topics ? calloc(o->n_topics, sizeof *w->topics) : NULL;
    bool ok = w->agency && (!o->name || w->name) && (!o->n_topics || w->topics);
    for (size_t i = 0; ok && i < o->n_topics; i++, w->n_topics++)
        ok = (w->topics[i] = strdup(o->topics[i])) != NULL;
    if (!ok || conn_init(&w->conn, zctx, endpoint, false, NULL, o->curve) < 0 ||
        worker_register(w) < 0) {
        int e = errno;
        miz_worker_destroy(&w);
        errno = e;
        return NULL;
    }
    return w;
}

void miz_worker_destroy(miz_worker_t **wp)
{
    miz_worker_t *w = *wp;
    if (!w)
        return;
    if (w->conn.socket) { /* not waiting: a broker gone takes no bye */
        wire_map_t m;
        conn_begin(&w->conn, &m, MIZ_CMD_BYE, NULL);
        wire_map_end(&m);
        zmq_send(w->conn.socket, w->conn.buf.data, w->conn.buf.size, ZMQ_DONTWAIT);
    }
    conn_fini(&w->conn);
    for (size_t i = 0; i < w->n_topics; i++)
        free(w->topics[i]);
    free(w->topics);
    free(w->agency);
    free(w->name);
    free(w);
    *wp = NULL;
}

void *miz_worker_socket(miz_worker_t *w)
{
    return w->conn.socket;
}

static bool msg_is(const miz_msg_t *m, miz_message_t type)
{
    return miz_msg_is(m, miz_message_names[type]);
}

static bool error_is(const miz_msg_t *m, miz_error_t code)
{
    size_t n;
    const char *s = miz_msg_str(m, "code", &n);
    return msg_is(m, MIZ_MSG_ERROR) && s && MIZ_NAME_FIND(miz_error_names, s, n) == (int)code;
}

/* The library's own register, whose reply it swallows. */
static int worker_reregister(miz_worker_t *w)
{
    w->reregistered_at = clock_ms(CLOCK_MONOTONIC);
    return worker_register(w);
}

/* A fresh socket and registration, after the broker said bye or went
 * silent: the same worker finds it again when it is back. */
static int worker_reconnect(miz_worker_t *w)
{
    zmq_close(w->conn.socket);
    if (conn_connect(&w->conn) < 0)
        return -1;
    return worker_reregister(w);
}

/* Answers what the library handles itself; true when m is for the caller. */
static bool worker_filter(miz_worker_t *w, miz_msg_t **m)
{
    uint64_t hb;
    bool mine = false;
    if (msg_is(*m, MIZ_MSG_HEARTBEAT)) {
        mine = true;
    } else if (msg_is(*m, MIZ_MSG_BYE)) { /* the broker is stopping */
        worker_reconnect(w);
        mine = true;
    } else if (error_is(*m, MIZ_ERR_NOT_REGISTERED)) { /* the broker restarted */
        /* once: a second register would make the broker drop the first;
         * miz_worker_tick repeats it if it goes unanswered */
        if (!w->reregistered_at)
            worker_reregister(w);
        mine = true;
    } else if (msg_is(*m, MIZ_MSG_REGISTERED)) {
        if (miz_msg_uint(*m, "heartbeat_ms", &hb) == 0 && hb)
            w->heartbeat_ms = hb;
        mine = w->reregistered_at != 0;
        w->reregistered_at = 0;
    }
    if (mine)
        miz_msg_destroy(m);
    return !mine;
}

/* Reads whatever is waiting, without blocking, into the queue put aside:
 * a worker busy elsewhere still hears the broker's heartbeats. */
static int worker_drain(miz_worker_t *w)
{
    for (;;) {
        miz_msg_t *m;
        if (conn_recv_raw(&w->conn, 0, &m) < 0) {
            if (errno == EPROTO)
                continue;
            return errno == EAGAIN ? 0 : -1;
        }
        if (worker_filter(w, &m))
            conn_put_aside(&w->conn, m);
    }
}

/* A broker silent for MIZ_LIVENESS heartbeats is taken for gone: a fresh
 * socket and registration find it again when it is back. */
int miz_worker_tick(miz_worker_t *w)
{
    if (worker_drain(w) < 0)
        return -1;
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (now - w->conn.last_recv > MIZ_LIVENESS * w->heartbeat_ms)
        return worker_reconnect(w);
    /* a broker killed before it read our register never answers it */
    if (w->reregistered_at && now - w->reregistered_at > MIZ_LIVENESS * w->heartbeat_ms)
        return worker_reregister(w);
    if (now - w->conn.last_send >= w->heartbeat_ms) {
        wire_map_t m;
        conn_begin(&w->conn, &m, MIZ_CMD_HEARTBEAT, NULL);
        return conn_send(&w->conn, &m);
    }
    return 0;
}

int miz_worker_recv(miz_worker_t *w, int timeout_ms, miz_msg_t **out)
{
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)(timeout_ms < 0 ? 0 : timeout_ms);
    for (;;) {
        if (miz_worker_tick(w) < 0)
            return -1;
        if (conn_take_aside(&w->conn, out))
            return 0;
        int wait = remaining(deadline, timeout_ms);
        if (wait == 0) {
            errno = EAGAIN;
            return -1;
        }
        /* wake at least once per heartbeat to keep ours going */
        int slice = (int)w->heartbeat_ms;
        zmq_pollitem_t item = {w->conn.socket, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, wait < 0 || wait > slice ? slice : wait) < 0)
            return -1;
    }
}

/* A command on one delivery: the row of its delivery field names the
 * command; up to two string fields follow (value NULL: absent). */
static int worker_command(miz_worker_t *w, miz_field_t delivery_field, uint64_t delivery,
                          miz_field_t k1, const char *v1, miz_field_t k2, const char *v2)
{
    wire_map_t m;
    conn_begin(&w->conn, &m, miz_fields[delivery_field].command, NULL);
    wire_map_uint(&m, miz_fields[delivery_field].key, delivery);
    if (v1)
        wire_map_cstr(&m, miz_fields[k1].key, v1);
    if (v2)
        wire_map_cstr(&m, miz_fields[k2].key, v2);
    return conn_send(&w->conn, &m);
}

int miz_worker_ack(miz_worker_t *w, uint64_t delivery)
{
    return worker_command(w, MIZ_F_ACK_DELIVERY, delivery, 0, NULL, 0, NULL);
}

int miz_worker_answer(miz_worker_t *w, uint64_t delivery, const char *outcome, const char *text)
{
    return worker_command(w, MIZ_F_ANSWER_DELIVERY, delivery, MIZ_F_ANSWER_OUTCOME, outcome,
                          MIZ_F_ANSWER_TEXT, text);
}

int miz_worker_progress(miz_worker_t *w, uint64_t delivery, const char *note)
{
    return worker_command(w, MIZ_F_PROGRESS_DELIVERY, delivery, MIZ_F_PROGRESS_NOTE, note, 0, NULL);
}

int miz_worker_refuse(miz_worker_t *w, uint64_t delivery, const char *reason)
{
    return worker_command(w, MIZ_F_REFUSE_DELIVERY, delivery, MIZ_F_REFUSE_REASON, reason, 0, NULL);
}

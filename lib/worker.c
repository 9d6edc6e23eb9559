/* worker: libmiz's agency workers (miz_worker_t, lib/miz.h).
 *
 * A worker is a connection (conn.c) and its registration, which it repeats
 * whenever it may have been forgotten: after the broker's bye, its restart
 * (not_registered), or its silence for MIZ_LIVENESS heartbeats. Silence and
 * bye also move it to the next endpoint of its list, where the standby that
 * takes over will be; with a single endpoint that is the same one. The
 * heartbeat goes both ways, kept here; answers and refusals the broker has
 * not confirmed are sent again after each new registration
 * (worker_finals.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "conn.h"
#include "worker_finals.h"

#define DEFAULT_HEARTBEAT_MS 1000

struct miz_worker {
    conn_t conn;
    char *agency, *name;
    char **topics;
    size_t n_topics;
    unsigned credit;
    bool quiet;
    uint64_t heartbeat_ms;
    uint64_t reregistered_at; /* when the library registered again; 0 once answered */
    finals_t finals;
};

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
    finals_fini(&w->finals);
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

const char *miz_worker_endpoint(const miz_worker_t *w)
{
    return endpoints_current(&w->conn.eps);
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

/* An answer or a refusal, as kept until confirmed; its seq is set anew. */
static int worker_send_final(miz_worker_t *w, final_t *x)
{
    wire_map_t m;
    bool answer = x->cmd == MIZ_CMD_ANSWER;
    conn_begin(&w->conn, &m, x->cmd, &x->seq);
    wire_map_uint(&m, miz_fields[answer ? MIZ_F_ANSWER_DELIVERY : MIZ_F_REFUSE_DELIVERY].key,
                  x->delivery);
    if (x->a)
        wire_map_cstr(&m, miz_fields[answer ? MIZ_F_ANSWER_OUTCOME : MIZ_F_REFUSE_REASON].key,
                      x->a);
    if (x->b)
        wire_map_cstr(&m, miz_fields[MIZ_F_ANSWER_TEXT].key, x->b);
    if (answer && x->tracking)
        wire_map_uint(&m, miz_fields[MIZ_F_ANSWER_TRACKING].key, x->tracking);
    return conn_send(&w->conn, &m);
}

/* After a new registration: what the old broker may have died before
 * confirming (a send that fails is tried after the next one). */
static void worker_resend_finals(miz_worker_t *w)
{
    for (size_t i = 0; i < w->finals.n; i++) {
        w->finals.v[i].resent = true;
        worker_send_final(w, &w->finals.v[i]);
    }
}

/* Whether an offer is answered (target, escalation), not only acked (an
 * observe or breach copy): only an answer needs its tracking number, and a
 * copy's would never leave the list. */
static bool worker_answerable(const miz_msg_t *m)
{
    size_t n;
    const char *role = miz_msg_str(m, "role", &n);
    int k = role ? MIZ_NAME_FIND(miz_role_names, role, n) : -1;
    return k == MIZ_ROLE_TARGET || k == MIZ_ROLE_ESCALATION;
}

/* What the caller's messages tell the library: an offer's tracking number,
 * a final command settled. true when m is the library's own (an error in
 * reply to what it sent again: the broker will offer the delivery again,
 * and the caller, which holds it, deals with that). */
static bool worker_note(miz_worker_t *w, const miz_msg_t *m)
{
    uint64_t delivery, tracking, re;
    if (msg_is(m, MIZ_MSG_DELIVER) && worker_answerable(m) &&
        miz_msg_uint(m, "delivery", &delivery) == 0 && miz_msg_uint(m, "tracking", &tracking) == 0)
        finals_offered(&w->finals, delivery, tracking);
    else if (msg_is(m, MIZ_MSG_CANCEL) && miz_msg_uint(m, "delivery", &delivery) == 0)
        finals_forget(&w->finals, delivery);
    else if ((msg_is(m, MIZ_MSG_OK) || msg_is(m, MIZ_MSG_ERROR)) &&
             miz_msg_uint(m, "re", &re) == 0)
        return finals_settled(&w->finals, re) && msg_is(m, MIZ_MSG_ERROR);
    return false;
}

/* The library's own register, whose reply it swallows. */
static int worker_reregister(miz_worker_t *w)
{
    w->reregistered_at = clock_ms(CLOCK_MONOTONIC);
    return worker_register(w);
}

/* A fresh socket on the next endpoint and a registration, after the broker
 * said bye or went silent: the broker that takes over is found there, and
 * with one endpoint the same one when it is back. What the old socket
 * held is dropped: offers of a broker gone mean nothing to the next. */
static int worker_reconnect(miz_worker_t *w)
{
    if (conn_failover(&w->conn, false) < 0)
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
    } else if (msg_is(*m, MIZ_MSG_BYE)) { /* the broker is stopping: another may take over */
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
        if (mine)
            worker_resend_finals(w);
    } else {
        mine = worker_note(w, *m);
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
        int wait = conn_remaining(deadline, timeout_ms);
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

/* Kept until the broker confirms it, then sent. A quiet worker gets no
 * confirmation (protocol.md 3.12): it keeps nothing, and a delivery whose
 * answer a restart lost is offered again. */
static int worker_final(miz_worker_t *w, miz_command_t cmd, uint64_t delivery, const char *a,
                        const char *b)
{
    if (w->quiet) {
        /* the strings are the caller's, only read */
        final_t x = {delivery, finals_tracking(&w->finals, delivery), 0, cmd, (char *)a,
                     (char *)b, false};
        int rc = worker_send_final(w, &x);
        if (rc == 0) /* a send tried again keeps its tracking number */
            finals_forget(&w->finals, delivery);
        return rc;
    }
    if (finals_add(&w->finals, cmd, delivery, 0, a, b) < 0) {
        errno = ENOMEM;
        return -1;
    }
    return worker_send_final(w, &w->finals.v[w->finals.n - 1]);
}

size_t miz_worker_unconfirmed(const miz_worker_t *w)
{
    return w->finals.n;
}

int miz_worker_answer(miz_worker_t *w, uint64_t delivery, const char *outcome, const char *text)
{
    return worker_final(w, MIZ_CMD_ANSWER, delivery, outcome, text);
}

int miz_worker_progress(miz_worker_t *w, uint64_t delivery, const char *note)
{
    return worker_command(w, MIZ_F_PROGRESS_DELIVERY, delivery, MIZ_F_PROGRESS_NOTE, note, 0, NULL);
}

int miz_worker_refuse(miz_worker_t *w, uint64_t delivery, const char *reason)
{
    return worker_final(w, MIZ_CMD_REFUSE, delivery, reason, NULL);
}

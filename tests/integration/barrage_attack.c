/* barrage_attack: the barrage's attackers on raw ZeroMQ sockets, what they
 * send and the check of every message mizd sends them (barrage.h). */
#include "barrage.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <zmq.h>

#include "policy.h"
#include "wire.h"

/* ---- attackers ---- */

const unsigned w_gateway[N_T] = {
    [T_SUBMIT] = 200, [T_SUBMIT_REF] = 60, [T_SUBMIT_GOOD_REF] = 40, [T_SUBMIT_NO_ROUTE] = 60,
    [T_SUBMIT_BIG] = 3, [T_STATUS_GOOD] = 150, [T_STATUS_ANY] = 80, [T_SNAPSHOT] = 30,
    [T_SNAPSHOT_ALL] = 20, [T_PING] = 50, [T_VERSION] = 30, [T_LONG_TYPE] = 20,
    [T_UNKNOWN_TYPE] = 30, [T_WORKER_CMD] = 50,
};
const unsigned w_dashboard[N_T] = {
    [T_SUBMIT] = 100, [T_SUBMIT_REF] = 50, [T_STATUS_GOOD] = 250, [T_STATUS_ANY] = 150,
    [T_SNAPSHOT] = 20, [T_PING] = 100, [T_VERSION] = 30,
    [T_LONG_TYPE] = 20, [T_UNKNOWN_TYPE] = 30, [T_WORKER_CMD] = 50,
};
const unsigned w_power[N_T] = {
    [T_REG_WATER] = 150, [T_REG_POWER] = 50, [T_REG_OTHER] = 50, [T_ACK] = 150,
    [T_ANSWER] = 150, [T_PROGRESS] = 80, [T_REFUSE] = 80, [T_HEARTBEAT] = 80, [T_BYE] = 20,
    [T_VERSION] = 20, [T_LONG_TYPE] = 10, [T_UNKNOWN_TYPE] = 20, [T_CLIENT_CMD] = 40,
};
/* Never T_REG_WATER: the water key may register for water, and a mutated
 * one without its topics would be a real worker. Its registration is
 * T_REG_SAFE, sent unmutated. */
const unsigned w_water[N_T] = {
    [T_REG_POWER] = 100, [T_REG_OTHER] = 50, [T_ACK] = 200, [T_ANSWER] = 200,
    [T_PROGRESS] = 100, [T_REFUSE] = 100, [T_HEARTBEAT] = 80, [T_BYE] = 10, [T_VERSION] = 20,
    [T_UNKNOWN_TYPE] = 20, [T_CLIENT_CMD] = 40,
};

/* A socket with its options, not connected yet. */
static void *new_socket(void *ctx, int type, const miz_curve_t *cv, int ivl)
{
    void *s = zmq_socket(ctx, type);
    assert_non_null(s);
    int zero = 0, sndhwm = 10000, rcvhwm = 100000;
    assert_int_equal(zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SNDHWM, &sndhwm, sizeof sndhwm), 0);
    assert_int_equal(zmq_setsockopt(s, ZMQ_RCVHWM, &rcvhwm, sizeof rcvhwm), 0);
    assert_int_equal(miz_curve_set(s, cv), 0);
    if (type == ZMQ_SUB)
        assert_int_equal(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "", 0), 0);
    return s;
}

static unsigned n_monitors;

void attacker_open(attacker_t *a, void *ctx, const char *ep, const miz_curve_t *cv)
{
    a->ctx = ctx;
    a->endpoint = ep;
    a->curve = cv;
    a->connections++;
    a->refusals_before = a->refusals;
    int type = a->role == R_XSUB                                   ? ZMQ_XSUB
               : a->role == R_SUB_REFUSED || a->role == R_SUB_DASHBOARD ? ZMQ_SUB
                                                                    : ZMQ_DEALER;
    /* refused peers come back often: every attempt is a handshake for mizd */
    int ivl = a->role == R_REFUSED || a->role == R_SUB_REFUSED ? 25 : 10;
    a->sock = new_socket(ctx, type, cv, ivl);
    /* The monitor tells handshakes that succeed from those that fail. It
     * is there before the connect: over ipc a handshake can be over, and
     * libzmq give up on reconnecting, before a later monitor would start. */
    char mon_ep[64];
    snprintf(mon_ep, sizeof mon_ep, "inproc://barrage-monitor-%u", n_monitors++);
    assert_int_equal(zmq_socket_monitor(a->sock, mon_ep,
                                        ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED |
                                            ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |
                                            ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL |
                                            ZMQ_EVENT_HANDSHAKE_FAILED_AUTH),
                     0);
    a->mon = zmq_socket(ctx, ZMQ_PAIR);
    assert_non_null(a->mon);
    int zero = 0;
    assert_int_equal(zmq_setsockopt(a->mon, ZMQ_LINGER, &zero, sizeof zero), 0);
    assert_int_equal(zmq_connect(a->mon, mon_ep), 0);
    assert_int_equal(zmq_connect(a->sock, ep), 0);
}

void attacker_close(attacker_t *a)
{
    zmq_socket_monitor(a->sock, NULL, 0);
    zmq_close(a->sock);
    zmq_close(a->mon);
}

/* A refused peer whose connection was refused opens another: each is a
 * handshake (and for a CURVE key a ZAP request) mizd must turn down. A
 * socket is closed only after its refusal is seen, so a handshake that
 * succeeded would have been seen first. */
static bool read_monitor(attacker_t *a);

bool refused_again(attacker_t *a, void *ctx, uint64_t max)
{
    read_monitor(a);
    if (a->refusals == a->refusals_before || a->connections >= max)
        return false;
    attacker_close(a);
    attacker_open(a, ctx, a->endpoint, a->curve);
    return true;
}

/* Handshake events so far; true if any came. */
static bool read_monitor(attacker_t *a)
{
    bool any = false;
    for (;;) {
        zmq_msg_t ev, addr;
        zmq_msg_init(&ev);
        if (zmq_msg_recv(&ev, a->mon, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&ev);
            return any;
        }
        uint16_t event = 0;
        if (zmq_msg_size(&ev) >= 2)
            memcpy(&event, zmq_msg_data(&ev), 2);
        zmq_msg_init(&addr);
        if (zmq_msg_more(&ev))
            zmq_msg_recv(&addr, a->mon, 0);
        zmq_msg_close(&addr);
        zmq_msg_close(&ev);
        if (event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED)
            a->handshakes++;
        else if (event == ZMQ_EVENT_DISCONNECTED)
            a->disconnects++;
        else
            a->refusals++;
        any = true;
    }
}

/* Whether a frame of the stream is that topic. */
static bool topic_is(const zmq_msg_t *msg, miz_stream_topic_t t)
{
    size_t n = strlen(miz_stream_topic_names[t]);
    return zmq_msg_size((zmq_msg_t *)msg) == n &&
           memcmp(zmq_msg_data((zmq_msg_t *)msg), miz_stream_topic_names[t], n) == 0;
}

/* Reads what has come for an attacker; true if a reply did. Neither
 * handshake events (a plain peer's come forever) nor the stream (counters
 * come every heartbeat) are progress towards the end of the barrage. */
bool attacker_read(attacker_t *a)
{
    bool any = false, stream = a->role == R_XSUB || a->role == R_SUB_DASHBOARD;
    read_monitor(a);
    for (int i = 0; i < 1024; i++) {
        zmq_msg_t msg;
        zmq_msg_init(&msg);
        if (zmq_msg_recv(&msg, a->sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&msg);
            if (errno != EAGAIN)
                it_fail("%s: cannot read: %s", a->name, zmq_strerror(errno));
            break;
        }
        any = !stream;
        if (a->role == R_XSUB) {
            /* what it subscribed to, drained; a counters is the marker's */
            bool counters = topic_is(&msg, MIZ_TOPIC_COUNTERS) && zmq_msg_more(&msg);
            while (zmq_msg_more(&msg))
                zmq_msg_recv(&msg, a->sock, 0);
            zmq_msg_close(&msg);
            if (counters && a->marked && a->probe) {
                a->probe = 0;
                any = true;
            }
            continue;
        }
        if (a->role == R_SUB_REFUSED || a->role == R_REFUSED)
            it_fail("%s: received %zu bytes, though mizd must refuse its handshake", a->name,
                    zmq_msg_size(&msg));
        bool more = zmq_msg_more(&msg);
        if (a->role == R_SUB_DASHBOARD) {
            /* topic, then the body (protocol.md 8.1) */
            bool event = topic_is(&msg, MIZ_TOPIC_EVENT);
            bool counters = topic_is(&msg, MIZ_TOPIC_COUNTERS);
            if (!more || !(event || counters))
                it_fail("%s: a stream message is a topic and a body", a->name);
            zmq_msg_recv(&msg, a->sock, 0);
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            size_t off = 0;
            uint64_t seq = 0, run = 0;
            if (msgpack_unpack_next(&u, zmq_msg_data(&msg), zmq_msg_size(&msg), &off) !=
                    MSGPACK_UNPACK_SUCCESS ||
                u.data.type != MSGPACK_OBJECT_MAP || !get_uint(&u.data, "seq", &seq) ||
                !get_uint(&u.data, "run", &run))
                it_fail("%s: a stream body without seq and run", a->name);
            if (event) {
                /* nothing personal, and seq only ever goes up within a run */
                const char *const personal[] = {
                    miz_fields[MIZ_F_SUBMIT_PAYLOAD].key, miz_fields[MIZ_F_SUBMIT_CLIENT_REF].key,
                    miz_fields[MIZ_F_ANSWER_TEXT].key, miz_fields[MIZ_F_PROGRESS_NOTE].key};
                for (size_t k = 0; k < 4; k++)
                    if (miz_map_get(&u.data, personal[k]))
                        it_fail("%s: \"%s\" in an event", a->name, personal[k]);
                if ((a->run && run != a->run) || seq <= a->last_event_seq)
                    it_fail("%s: event seq %" PRIu64 " after %" PRIu64, a->name, seq,
                            a->last_event_seq);
                a->run = run;
                a->last_event_seq = seq;
                a->events++;
            } else {
                a->counters++;
            }
            msgpack_unpacked_destroy(&u);
            zmq_msg_close(&msg);
            continue;
        }
        if (more)
            it_fail("%s: a message of more than one frame from mizd", a->name);
        msgpack_unpacked u;
        msgpack_unpacked_init(&u);
        size_t off = 0;
        if (msgpack_unpack_next(&u, zmq_msg_data(&msg), zmq_msg_size(&msg), &off) !=
                MSGPACK_UNPACK_SUCCESS ||
            off != zmq_msg_size(&msg) || u.data.type != MSGPACK_OBJECT_MAP ||
            !miz_map_get(&u.data, "type") ||
            miz_map_get(&u.data, "type")->type != MSGPACK_OBJECT_STR)
            it_fail("%s: mizd sent %zu bytes that are not one message", a->name,
                    zmq_msg_size(&msg));
        if (check_message(a, &u.data)) {
            a->replies++;
            uint64_t re;
            if (get_uint(&u.data, "re", &re))
                refusal_heard(a, re, policy_error(miz_map_get(&u.data, "code")));
            if (a->probe && get_uint(&u.data, "re", &re) && re == a->probe) {
                a->probe = 0;
                a->confirmed = a->marker_at;
                refusals_check(a);
            }
        } else {
            a->unsolicited++;
        }
        msgpack_unpacked_destroy(&u);
        zmq_msg_close(&msg);
    }
    return any;
}

/* Sends one message of frame f (and its extra frames); false when ZeroMQ
 * would block, which only a refused peer's full queue does. */
static bool send_frame(attacker_t *a, frame_t *f)
{
    int flags = ZMQ_DONTWAIT | (f->extra ? ZMQ_SNDMORE : 0);
    if (zmq_send(a->sock, f->sb.data, f->sb.size, flags) < 0) {
        if (errno == EAGAIN)
            return false;
        it_fail("%s: cannot send: %s", a->name, zmq_strerror(errno));
    }
    /* the rest of a message started is always taken */
    for (size_t i = 1; i <= f->extra; i++) {
        size_t kind = below(3);
        const void *p = kind == 0 ? f->sb.data : kind == 1 ? "" : "\x81\xa4type";
        size_t n = kind == 0 ? f->sb.size : kind == 1 ? 0 : 6;
        if (zmq_send(a->sock, p, n, i < f->extra ? ZMQ_SNDMORE : 0) < 0)
            it_fail("%s: cannot send a further frame: %s", a->name, zmq_strerror(errno));
    }
    a->frames += 1 + f->extra;
    a->messages++;
    return true;
}

/* A message every command of the socket answers, with its seq as "re":
 * ping on the clients socket; on the workers socket an ack without a
 * delivery, which is not_registered or bad_field. Replies come in the
 * order of the commands, so its reply says all before it had theirs. A
 * random seq: no mutated seq will be taken for it. */
static void send_marker(attacker_t *a, frame_t *f)
{
    tmsg_t m;
    build(&m, a->workers ? T_HEARTBEAT : T_PING, 0, &world.seen);
    const char *type = miz_commands[a->workers ? MIZ_CMD_ACK : MIZ_CMD_PING].type;
    m.f[0] = (fld_t){"type", V_STR, type, strlen(type), 0};
    m.f[1].u = rnd() | 1;
    pack_msg(f, &m, X_VALID);
    if (!send_frame(a, f))
        it_fail("%s: cannot queue a marker", a->name);
    a->probe = m.f[1].u;
    a->marker_at = a->messages;
}

static void attacker_make(attacker_t *a, frame_t *f, bool *no_reply);

/* A flooder's turn: messages, at most WINDOW beyond what a marker has
 * confirmed, so mizd's queues stay bounded whatever its pace. */
static bool flood_step(attacker_t *a, frame_t *f)
{
    bool any = false;
    for (int i = 0; i < BURST; i++) {
        if (a->frames >= a->quota) {
            if (!a->final_marker && !a->probe) {
                send_marker(a, f);
                a->final_marker = any = true;
            }
            return any;
        }
        if (!a->probe && a->messages - a->confirmed >= WINDOW / 2) {
            send_marker(a, f);
            any = true;
            continue;
        }
        if (a->messages - a->confirmed >= WINDOW)
            return any;
        bool no_reply;
        attacker_make(a, f, &no_reply);
        if (!send_frame(a, f))
            return any; /* ZeroMQ's queue is full: later */
        remember_refusal(a);
        a->unanswerable += no_reply;
        any = true;
    }
    return any;
}

/* One message of the attacker's sort. */
static void attacker_make(attacker_t *a, frame_t *f, bool *no_reply)
{
    tmsg_t m;
    *no_reply = false;
    a->refusal = -1;
    if ((a->role == R_WATER && a->messages % SAFE_REGISTER_EVERY == 0) ||
        (a->role == R_DASHBOARD && a->frames >= a->full_snapshots * a->quota / FULL_SNAPSHOTS &&
         a->full_snapshots < FULL_SNAPSHOTS)) {
        bool reg = a->role == R_WATER;
        build(&m, reg ? T_REG_SAFE : T_SNAPSHOT_ALL, ++a->seq, &world.seen);
        pack_msg(f, &m, X_VALID);
        a->safe_registers += reg;
        a->full_snapshots += !reg;
        a->by_x[X_VALID]++;
        foresee_refusal(a, f);
        return;
    }
    tkind_t t;
    xkind_t x;
    /* Over max_message ZeroMQ drops the connection, with the replies on
     * their way (protocol.md section 2): that is the oversize peers' part.
     * A big payload mutated (a key repeated, a deep value added) can get
     * there: it is made again. */
    do {
        t = (tkind_t)pick(a->weight, N_T);
        x = (xkind_t)pick(x_weight, N_X);
        /* a bit flip in the key "since" leaves a snapshot of everything
         * (see FULL_SNAPSHOTS); every other mutation of it is refused */
        if (t == T_SNAPSHOT && x == X_FLIP && a->role == R_DASHBOARD)
            x = X_TYPE;
        build(&m, t, ++a->seq, &world.seen);
        pack_msg(f, &m, x);
    } while (f->sb.size > MAX_MESSAGE - 1024);
    /* a heartbeat or bye, mutated or not, may be valid and then gets no
     * reply on the workers socket (on the clients socket everything does) */
    *no_reply = m.heartbeat_or_bye && a->workers;
    a->by_x[x]++;
    if (x == X_VALID)
        foresee_refusal(a, f);
}

/* The XSUB's upstream frames: subscriptions, unsubscriptions, junk; never
 * a subscription that counters would match, which is the marker's. */
static void xsub_make(frame_t *f)
{
    unsigned char buf[48];
    size_t n, r;
    do {
        n = 1 + below(33);
        r = below(10);
        buf[0] = r < 6 ? 1 : r < 9 ? 0 : (unsigned char)rnd();
        for (size_t i = 1; i < n; i++)
            buf[i] = r < 3 ? (unsigned char)('a' + below(26)) : (unsigned char)rnd();
    } while (buf[0] == 1 && n - 1 <= 8 && memcmp(buf + 1, "counters", n - 1) == 0);
    msgpack_sbuffer_clear(&f->sb);
    put_raw(&f->sb, buf, n);
    f->extra = 0;
}

/* Sends a turn's worth; true if anything went. */
bool attacker_send(attacker_t *a, frame_t *f)
{
    bool any = false;
    if (a->role <= R_WATER)
        return flood_step(a, f);
    /* (the XSUB's last marker goes after its quota) */
    for (int i = 0; i < BURST && (a->frames < a->quota || a->role == R_XSUB); i++) {
        bool no_reply = false;
        switch (a->role) {
        case R_XSUB:
            /* XSUB_FRAMES per connection, sent once its handshake is done
             * (a socket closed before would drop them), then a marker: a
             * subscription to counters, which can only be matched once
             * the PUB has taken every frame before it. Then a new
             * connection: the PUB forgets what the old one subscribed, and
             * the trie of random topics stays bounded. */
            if (a->handshakes < a->connections || a->probe)
                return any;
            if (a->batch >= XSUB_FRAMES || a->frames >= a->quota) {
                if (!a->marked) {
                    msgpack_sbuffer_clear(&f->sb);
                    put_raw(&f->sb, "\x01" "counters", 9);
                    f->extra = 0;
                    if (!send_frame(a, f))
                        it_fail("%s: cannot send its marker", a->name);
                    a->marked = true;
                    a->probe = 1;
                    return true;
                }
                if (a->frames >= a->quota)
                    return any;
                attacker_close(a);
                attacker_open(a, a->ctx, a->endpoint, a->curve);
                a->batch = 0;
                a->marked = false;
                return true;
            }
            xsub_make(f);
            a->batch++;
            break;
        case R_REFUSED: {
            attacker_make(a, f, &no_reply);
            break;
        }
        default:
            return any;
        }
        if (!send_frame(a, f)) {
            if (a->role == R_REFUSED)
                a->quota = a->frames; /* its queue, never sent, is full: enough */
            return any;
        }
        a->unanswerable += no_reply;
        any = true;
    }
    return any;
}

/* An oversize peer's cycle: a frame over max_message, which makes ZeroMQ
 * drop the connection; then probes (ping on clients, heartbeat on workers,
 * which an unregistered connection gets not_registered for) until one is
 * answered on the new connection. */
bool oversize_step(attacker_t *a, frame_t *f)
{
    uint64_t now = it_now_ms();
    if (a->probe && now - a->probe_sent_at < 50)
        return false;
    if (!a->probe) {
        if (a->cycles >= a->quota) /* its quota is in cycles */
            return false;
        msgpack_sbuffer_clear(&f->sb);
        size_t n = MAX_MESSAGE + 1 + below(below(8) ? 4096 : MAX_MESSAGE);
        f->extra = 0;
        put_raw(&f->sb, big_text, n > sizeof big_text ? sizeof big_text : n);
        if (n > sizeof big_text)
            put_raw(&f->sb, big_text, n - sizeof big_text);
        if (!send_frame(a, f))
            it_fail("%s: cannot queue an oversized frame", a->name);
        a->unanswerable++;
        a->cycles++;
    }
    tmsg_t m;
    build(&m, a->workers ? T_HEARTBEAT : T_PING, ++a->seq, &world.seen);
    pack_msg(f, &m, X_VALID);
    if (!send_frame(a, f))
        it_fail("%s: cannot queue a probe", a->name);
    a->unanswerable++; /* a probe into a dropped connection is lost */
    a->probe = a->seq;
    a->probe_sent_at = now;
    return true;
}

/* Raw bytes straight into one of mizd's ipc sockets: a ZMTP greeting or
 * not, then junk. ZeroMQ inside mizd must shrug it off. */
void raw_garbage(const char *endpoint)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strncmp(endpoint, "ipc://", 6) == 0);
    snprintf(sa.sun_path, sizeof sa.sun_path, "%s", endpoint + 6);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    assert_true(fd >= 0);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0) {
        unsigned char buf[1024];
        size_t n = 0;
        if (below(2)) { /* a ZMTP 3.0 greeting: signature, version, mechanism */
            memset(buf, 0, 64);
            buf[0] = 0xff;
            buf[9] = 0x7f;
            buf[10] = 3;
            const char *mechanism = below(2) ? "CURVE" : "NULL";
            memcpy(buf + 12, mechanism, strlen(mechanism));
            n = below(4) ? 64 : below(64);
        }
        size_t junk = below(sizeof buf - n);
        for (size_t i = 0; i < junk; i++)
            buf[n + i] = (unsigned char)rnd();
        /* MSG_NOSIGNAL: mizd may close first */
        (void)!send(fd, buf, n + junk, MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    close(fd);
}


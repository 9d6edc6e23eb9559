/* link: see link.h. libmiz's client is asynchronous underneath (send now,
 * match the reply's "re" later); this file puts its socket on the loop.
 * ZeroMQ's descriptor only says "look again", edge-triggered, so the socket
 * is drained after every send and on a 100 ms tick as well as when the
 * descriptor wakes.
 *
 * The loop must not wait for a send either: the socket's sends do not
 * wait at all (ZMQ_SNDTIMEO 0), and one that finds no room (no connection,
 * as after a refused CURVE handshake, or a full queue) fails its request
 * at once.
 *
 * A reply that does not come within the timeout fails its request (the
 * HTTP client gets 503 and sends again; with an Idempotency-Key that is
 * safe). The link then moves to the next endpoint (with one, the same one
 * afresh), as the Binary Star client does, and every command still waiting
 * fails at once: what was still queued for the silent broker is dropped,
 * though what it had read already may yet be done (a broker paused, not
 * dead): a post without an Idempotency-Key may be made after its 503. */
#include "link.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"

#define LINK_TICK_MS 100

typedef struct {
    uint64_t seq, deadline; /* monotonic ms */
    link_reply_fn *fn;
    void *arg;
} link_wait_t;

struct link {
    struct event_base *base;
    miz_client_t *client;
    struct event *readable, *tick;
    void *socket; /* the client's, as last put on the loop */
    int timeout_ms;
    uint64_t unsent_since; /* monotonic ms since sends fail (no room); 0: they do not */
    /* the commands waiting, in the order sent (so by deadline): a ring */
    link_wait_t *waits;
    size_t cap, head, n;
};

static void link_drain(link_t *l);
static void link_fail(link_t *l, size_t n);

static void link_on_readable(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    link_drain(arg);
}

/* Puts the client's socket on the loop: at start and after every move. */
static int link_watch(link_t *l)
{
    void *socket = miz_client_socket(l->client);
    if (socket == l->socket && l->readable)
        return 0;
    int fd, no_wait = 0;
    size_t len = sizeof fd;
    if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) < 0 ||
        zmq_setsockopt(socket, ZMQ_SNDTIMEO, &no_wait, sizeof no_wait) < 0)
        return -1;
    if (l->readable)
        event_free(l->readable);
    l->readable = event_new(l->base, fd, EV_READ | EV_PERSIST, link_on_readable, l);
    l->socket = socket;
    return l->readable ? event_add(l->readable, NULL) : -1;
}

static link_wait_t *link_at(link_t *l, size_t i)
{
    return &l->waits[(l->head + i) % l->cap];
}

/* Takes the i-th wait out of the ring, keeping the order of the others. */
static link_wait_t link_take(link_t *l, size_t i)
{
    link_wait_t w = *link_at(l, i);
    for (; i > 0; i--)
        *link_at(l, i) = *link_at(l, i - 1);
    l->head = (l->head + 1) % l->cap;
    l->n--;
    return w;
}

static void link_answer(link_t *l, miz_msg_t *m)
{
    uint64_t re;
    if (miz_msg_uint(m, "re", &re) == 0)
        for (size_t i = 0; i < l->n; i++)
            if (link_at(l, i)->seq == re) {
                link_wait_t w = link_take(l, i);
                w.fn(w.arg, m);
                return;
            }
    /* an outcome (nobody here waits for them: a citizen asks with GET), or a
     * reply that came after its request timed out */
    miz_msg_destroy(&m);
}

static void link_drain(link_t *l)
{
    miz_msg_t *m;
    while (miz_client_recv(l->client, 0, &m) == 0)
        link_answer(l, m);
}

void link_fail_all(link_t *l)
{
    link_fail(l, l->n);
}

/* Fails the first n waits (NULL to their callbacks). */
static void link_fail(link_t *l, size_t n)
{
    while (n-- > 0 && l->n > 0) {
        link_wait_t w = link_take(l, 0);
        w.fn(w.arg, NULL);
    }
}

/* Leaves the broker in use for the next endpoint (with one, the same
 * afresh), dropping what was queued for it, so that a command that waited
 * in the socket while mizd was away is not made after its client was told
 * 503. Whatever was sent there gets no answer now: all fail. A move that
 * fails (no socket can be opened) is tried again on a later tick. */
static void link_move(link_t *l, uint64_t now, const char *why)
{
    const char *from = link_endpoint(l);
    link_fail(l, l->n);
    event_del(l->readable); /* before its socket closes and its descriptor is reused */
    if (miz_client_failover(l->client) < 0 || link_watch(l) < 0) {
        fprintf(stderr, "miz-open311: cannot leave %s (%s): %s\n", from, why, strerror(errno));
        l->unsent_since = now; /* sends fail meanwhile: tried again once they have for long */
        return;
    }
    fprintf(stderr, "miz-open311: %s %s: now %s\n", from, why, link_endpoint(l));
    l->unsent_since = 0;
}

static void link_on_tick(evutil_socket_t fd, short what, void *arg)
{
    link_t *l = arg;
    (void)fd;
    (void)what;
    link_drain(l);
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (l->n > 0 && link_at(l, 0)->deadline <= now)
        link_move(l, now, "gave no answer in time");
    else if (l->unsent_since && now - l->unsent_since >= (uint64_t)l->timeout_ms)
        /* nothing can be sent: no connection, as after a handshake mizd
         * refused, which libzmq does not try again on that socket */
        link_move(l, now, "took nothing for the broker timeout");
}

link_t *link_new(struct event_base *base, const char *endpoint, const miz_curve_t *curve,
                 int timeout_ms, size_t max_pending)
{
    char err[256];
    int n = miz_endpoints_check(endpoint, err, sizeof err);
    link_t *l = n > 0 ? calloc(1, sizeof *l) : NULL;
    if (!l)
        return NULL;
    *l = (link_t){.base = base, .timeout_ms = timeout_ms, .cap = max_pending};
    struct timeval tick = {0, LINK_TICK_MS * 1000};
    l->waits = calloc(max_pending, sizeof *l->waits);
    l->client = l->waits ? miz_client_new_curve(NULL, endpoint, curve) : NULL;
    l->tick = event_new(base, -1, EV_PERSIST, link_on_tick, l);
    if (!l->client || !l->tick || link_watch(l) < 0 || event_add(l->tick, &tick) < 0) {
        link_destroy(&l);
        return NULL;
    }
    return l;
}

void link_destroy(link_t **lp)
{
    link_t *l = *lp;
    if (!l)
        return;
    link_fail(l, l->n);
    if (l->readable)
        event_free(l->readable);
    if (l->tick)
        event_free(l->tick);
    miz_client_destroy(&l->client);
    free(l->waits);
    free(l);
    *lp = NULL;
}

/* Notes a command sent with seq; the socket is drained since a send may
 * have swallowed the descriptor's edge. */
static void link_wait(link_t *l, uint64_t seq, link_reply_fn *fn, void *arg)
{
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)l->timeout_ms;
    *link_at(l, l->n++) = (link_wait_t){seq, deadline, fn, arg};
    link_drain(l);
}

/* 0 when one more command may wait, else -1 with EBUSY. */
static int link_room(const link_t *l)
{
    if (l->n < l->cap)
        return 0;
    errno = EBUSY;
    return -1;
}

/* After a send: notes whether sends fail for want of room, as they do
 * when no broker is connected; 0 for a send that went, or -1. */
static int link_sent(link_t *l, int rc)
{
    if (rc == 0)
        l->unsent_since = 0;
    else if (errno == EAGAIN && !l->unsent_since)
        l->unsent_since = clock_ms(CLOCK_MONOTONIC);
    return rc;
}

int link_submit(link_t *l, const miz_submit_t *s, link_reply_fn *fn, void *arg)
{
    uint64_t seq;
    if (link_room(l) < 0 || link_sent(l, miz_client_send_submit(l->client, s, &seq)) < 0)
        return -1;
    link_wait(l, seq, fn, arg);
    return 0;
}

int link_status(link_t *l, uint64_t tracking, link_reply_fn *fn, void *arg)
{
    uint64_t seq;
    if (link_room(l) < 0 || link_sent(l, miz_client_send_status(l->client, tracking, &seq)) < 0)
        return -1;
    link_wait(l, seq, fn, arg);
    return 0;
}

const char *link_endpoint(const link_t *l)
{
    return miz_client_endpoint(l->client);
}

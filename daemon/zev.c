/* zev: a ZeroMQ socket's ZMQ_FD in libevent (zev.h says why).
 *
 * A read event on ZMQ_FD, a check of ZMQ_EVENTS after every pass, and a
 * re-activation while work remains, so no edge is ever lost. */
#include "zev.h"

#include <event2/event.h>
#include <stdlib.h>
#include <zmq.h>

struct zev {
    struct event *ev;
    void *socket;
    zev_fn *fn;
    void *arg;
};

static void on_fd(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    zev_t *z = arg;
    z->fn(z->socket, z->arg);
}

zev_t *zev_new(struct event_base *base, void *socket, zev_fn *fn, void *arg)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) < 0)
        return NULL;
    zev_t *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    *z = (zev_t){.socket = socket, .fn = fn, .arg = arg};
    z->ev = event_new(base, fd, EV_READ | EV_PERSIST, on_fd, z);
    if (!z->ev || event_add(z->ev, NULL) < 0) {
        zev_destroy(&z);
        return NULL;
    }
    /* input may have arrived before the event was added */
    zev_rearm(z);
    return z;
}

void zev_destroy(zev_t **zev)
{
    if (!*zev)
        return;
    if ((*zev)->ev)
        event_free((*zev)->ev);
    free(*zev);
    *zev = NULL;
}

void zev_rearm(zev_t *z)
{
    int events = 0;
    size_t len = sizeof events;
    if (zmq_getsockopt(z->socket, ZMQ_EVENTS, &events, &len) == 0 && (events & ZMQ_POLLIN))
        event_active(z->ev, EV_READ, 0);
}

/* zev: a ZeroMQ socket in a libevent loop.
 *
 * ZMQ_FD is edge-triggered and only says that ZMQ_EVENTS may have changed,
 * and a send can consume that edge. So the callback drains a bounded batch,
 * and zev_rearm() - to be called after every batch of sends and receives on
 * the socket - re-reads ZMQ_EVENTS and, while input is still waiting,
 * activates the event by hand so the loop comes back to it on the next pass
 * without starving the other sockets. */
#ifndef MIZ_ZEV_H
#define MIZ_ZEV_H

struct event_base;
typedef struct zev zev_t;

/* Called when the socket may have input. It should read up to a batch and
 * then call zev_rearm(). */
typedef void zev_fn(void *socket, void *arg);

zev_t *zev_new(struct event_base *base, void *socket, zev_fn *fn, void *arg);
void zev_destroy(zev_t **zev);
void zev_rearm(zev_t *zev);

#endif

/* link: miz-open311's connection to mizd, on the gateway's libevent loop.
 * An HTTP request sends its command and is answered from a callback when
 * mizd's reply comes, so the loop never waits for the broker: many
 * requests may be in flight at once, matched by their seq. */
#ifndef MIZ_O311_LINK_H
#define MIZ_O311_LINK_H

#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>

#include "miz.h"

typedef struct link link_t;

/* reply: mizd's reply, the callee's to destroy; NULL when none came within
 * the link's timeout, or the link is going away. Called exactly once for
 * every command sent. */
typedef void link_reply_fn(void *arg, miz_msg_t *reply);

/* endpoint: one or a list (miz.h); curve NULL: plain. At most max_pending
 * commands wait for their reply at once; each waits timeout_ms. */
link_t *link_new(struct event_base *base, const char *endpoint, const miz_curve_t *curve,
                 int timeout_ms, size_t max_pending);
/* Calls every pending callback with NULL. */
void link_destroy(link_t **l);

/* Calls every pending callback with NULL now, as when the gateway stops. */
void link_fail_all(link_t *l);
/* 0, or -1: EBUSY when max_pending are waiting, else the send's errno
 * (EAGAIN: the socket took nothing, as when no broker is connected). */
int link_submit(link_t *l, const miz_submit_t *s, link_reply_fn *fn, void *arg);
int link_status(link_t *l, uint64_t tracking, link_reply_fn *fn, void *arg);
/* The endpoint in use, for messages. */
const char *link_endpoint(const link_t *l);

#endif

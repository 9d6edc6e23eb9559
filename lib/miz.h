/* miz.h: the client library for the miz broker.
 *
 * An intake gateway uses miz_client_t to submit requests, ask their status
 * and receive their outcomes; an agency worker uses miz_worker_t to take
 * deliveries and ack, answer, report progress on or refuse them. Both speak
 * the protocol of docs/protocol.md over a ZeroMQ DEALER socket; the worker
 * also keeps the heartbeat and registers again after the broker restarts.
 *
 * Calls return 0 on success and -1 on failure with errno set (EAGAIN: timed
 * out; EPROTO: the broker sent something undecodable; otherwise ZeroMQ's).
 * Objects are not thread-safe: use each from one thread. */
#ifndef MIZ_H
#define MIZ_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- messages from the broker ---- */

typedef struct miz_msg miz_msg_t;

/* "accepted", "status", "outcome", "error", "deliver", "cancel", ... */
const char *miz_msg_type(const miz_msg_t *m);
bool miz_msg_is(const miz_msg_t *m, const char *type);
/* 0 and *v when key holds a non-negative integer, -1 otherwise */
int miz_msg_uint(const miz_msg_t *m, const char *key, uint64_t *v);
/* The string under key and its length (not NUL-terminated), or NULL. */
const char *miz_msg_str(const miz_msg_t *m, const char *key, size_t *len);
/* Any value under key, or NULL; and the whole message as a map. */
const msgpack_object *miz_msg_get(const miz_msg_t *m, const char *key);
const msgpack_object *miz_msg_root(const miz_msg_t *m);
/* The value under key in a map nested in a message (deliveries, history). */
const msgpack_object *miz_map_get(const msgpack_object *map, const char *key);
void miz_msg_destroy(miz_msg_t **m);

/* ---- intake gateways ---- */

typedef struct miz_client miz_client_t;

typedef struct {
    const char *topic;      /* required, e.g. "city.snow.street" */
    const char *kind;       /* NULL: "request" */
    const char *priority;   /* "routine" or "urgent"; NULL: the route's */
    const char *client_ref; /* the gateway's own reference; NULL: none */
    const char *text;       /* the payload as a UTF-8 string, or... */
    const void *payload;    /* ...one packed msgpack object (wins when set) */
    size_t payload_len;
    bool confirm; /* the outcome stays pending until miz_client_send_confirm says it arrived:
                     mizd sends it again whenever this gateway speaks (protocol.md 3.7) */
} miz_submit_t;

/* CURVE keys (Z85, 40 characters each; lib/cert.h reads them from
 * certificate files), for a broker whose endpoint has CURVE on. */
typedef struct {
    const char *server_key;             /* the broker's public key */
    const char *public_key, *secret_key; /* this peer's own pair */
} miz_curve_t;

/* zctx: a ZeroMQ context to share, or NULL for one of its own. */
miz_client_t *miz_client_new(void *zctx, const char *endpoint);
/* The same over CURVE (curve NULL: plain). */
miz_client_t *miz_client_new_curve(void *zctx, const char *endpoint, const miz_curve_t *curve);
/* With a routing id of its own choosing (1 to MIZ_CLIENT_ID_MAX bytes, not
 * beginning with a zero byte), so a gateway without CURVE is the same
 * gateway to mizd after its own restart, and gets the outcomes it has not
 * confirmed (under CURVE its key says who it is); id NULL: a random one. */
#define MIZ_CLIENT_ID_MAX 255
miz_client_t *miz_client_new_named(void *zctx, const char *endpoint, const char *id,
                                   const miz_curve_t *curve);
void miz_client_destroy(miz_client_t **c);
void *miz_client_socket(miz_client_t *c);

/* Asynchronous: send now, read the reply (matched by *seq as "re") later. */
int miz_client_send_submit(miz_client_t *c, const miz_submit_t *s, uint64_t *seq);
int miz_client_send_status(miz_client_t *c, uint64_t tracking, uint64_t *seq);
/* The outcome of tracking arrived and was dealt with: mizd forgets it
 * (reply "confirmed"). A ping is a way to say "I am here": outcomes not yet
 * confirmed come again. */
int miz_client_send_confirm(miz_client_t *c, uint64_t tracking, uint64_t *seq);
int miz_client_send_ping(miz_client_t *c, uint64_t *seq);
/* The next message from the broker; timeout_ms < 0 waits forever. */
int miz_client_recv(miz_client_t *c, int timeout_ms, miz_msg_t **m);

/* Synchronous: the reply ("accepted"/"status", or "error"); messages that
 * arrive meanwhile (outcomes) are kept for miz_client_recv. */
int miz_submit(miz_client_t *c, const miz_submit_t *s, int timeout_ms, miz_msg_t **reply);
int miz_status(miz_client_t *c, uint64_t tracking, int timeout_ms, miz_msg_t **reply);

/* ---- agency workers ---- */

typedef struct miz_worker miz_worker_t;

typedef struct {
    const char *agency;        /* required: an agency id of the routing table */
    const char *const *topics; /* patterns to take; NULL: all of the agency's */
    size_t n_topics;
    unsigned credit; /* deliveries held at once; 0: the broker's default (10) */
    const char *name; /* for logs; NULL: the broker names it */
    const miz_curve_t *curve; /* NULL: plain */
    bool quiet; /* no "ok" for an ack, answer, progress or refuse that succeeds; errors still come */
} miz_worker_opts_t;

/* Connects and registers (the "registered" reply comes through recv). */
miz_worker_t *miz_worker_new(void *zctx, const char *endpoint, const miz_worker_opts_t *o);
/* Says goodbye, so what it holds is offered to others at once. */
void miz_worker_destroy(miz_worker_t **w);
void *miz_worker_socket(miz_worker_t *w);

/* The next message ("deliver", "cancel", "ok", "error", "registered");
 * heartbeats are kept here, both ways, and so is the broker's "bye" or
 * silence: the worker connects and registers again by itself, swallowing
 * that registration's reply. Call at least once per heartbeat interval (or
 * miz_worker_tick) or the broker takes the worker for dead. */
int miz_worker_recv(miz_worker_t *w, int timeout_ms, miz_msg_t **m);
/* Heartbeat housekeeping for a worker busy elsewhere. */
int miz_worker_tick(miz_worker_t *w);

int miz_worker_ack(miz_worker_t *w, uint64_t delivery);
int miz_worker_answer(miz_worker_t *w, uint64_t delivery, const char *outcome, const char *text);
int miz_worker_progress(miz_worker_t *w, uint64_t delivery, const char *note);
int miz_worker_refuse(miz_worker_t *w, uint64_t delivery, const char *reason);

#ifdef __cplusplus
}
#endif

#endif

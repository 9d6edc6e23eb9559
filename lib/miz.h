/* miz.h: the client library for the miz broker.
 *
 * An intake gateway uses miz_client_t to submit requests, ask their status
 * and receive their outcomes; an agency worker uses miz_worker_t to take
 * deliveries and ack, answer, report progress on or refuse them. Both speak
 * the protocol of docs/protocol.md over a ZeroMQ DEALER socket; the worker
 * also keeps the heartbeat and registers again after the broker restarts.
 *
 * Calls return 0 on success and -1 on failure with errno set (EAGAIN: timed
 * out; EPROTO: the broker sent something undecodable; EINVAL: a bad
 * argument, such as an endpoint list; otherwise ZeroMQ's). Objects are not
 * thread-safe: use each from one thread.
 *
 * A send waits at most 1 s for room, then fails with EAGAIN: a peer whose
 * CURVE handshake the broker refused (a key it does not know, or a key of
 * another role) has no connection left to send on, as libzmq does not try
 * a refused handshake again, and its sends would otherwise wait for ever.
 *
 * Several brokers. Every `endpoint` argument takes a list of the endpoints
 * of mizd sharing one store, "tcp://a:7370,tcp://b:7370": one is active,
 * the others bind nothing until they take over (docs/protocol.md, "Several
 * brokers"). A peer talks to one endpoint at a time, the first to begin
 * with, and moves to the next (after the last, the first) when that one is
 * silent, as the ZeroMQ guide's Binary Star client does:
 * - a worker when the broker's heartbeats stop (MIZ_LIVENESS intervals) or
 *   it says bye; it registers again there by itself;
 * - a client when a synchronous call's reply does not come within its
 *   timeout, or when the gateway calls miz_client_failover (its own
 *   timeout passed).
 * The socket it leaves is closed without linger: what was queued for the
 * silent broker is dropped, never delivered to it later. A single endpoint
 * is a list of one and works as it always did: the socket waits for that
 * broker, and the synchronous calls send nothing twice.
 *
 * What a gateway must do: a request it sent and got no reply for may or
 * may not have reached the broker that went silent. Send it again (on the
 * next broker, after miz_client_failover): the same `client_ref` makes a
 * submit that was accepted before answer with the same tracking number, so
 * give every submit a client_ref. A submit without one may be accepted
 * twice across a failover. status, ping and confirm may always be sent
 * again. miz_submit (with a client_ref), miz_status and miz_ping do this
 * themselves. Outcomes follow the client's routing id to the new broker;
 * those asked for with `confirm` come again once the gateway speaks there.
 * A client's and a worker's socket are new after a move: take
 * miz_client_socket or miz_worker_socket again after every call. */
#ifndef MIZ_H
#define MIZ_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- endpoints ---- */

#define MIZ_ENDPOINTS_MAX 8      /* endpoints in one list */
#define MIZ_ENDPOINT_LEN_MAX 256 /* bytes of one endpoint */

/* How many endpoints list has (1 for a single one), or -1 (errno EINVAL)
 * with the reason in err (a line without newline): no list, an empty one
 * or an empty item (",", "a,,b", "a,"), more than MIZ_ENDPOINTS_MAX, one
 * longer than MIZ_ENDPOINT_LEN_MAX, one that is not TRANSPORT://ADDRESS or
 * holds a space, or a tcp one without its port (":7370"; ":*" to bind). Items are separated by commas,
 * with nothing around them. Every call that takes an endpoint checks it so. */
int miz_endpoints_check(const char *list, char *err, size_t errlen);

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
/* The same when the value is of that type, else NULL (map not a map: NULL). */
const msgpack_object *miz_map_typed(const msgpack_object *map, const char *key,
                                    msgpack_object_type type);
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

/* zctx: a ZeroMQ context to share, or NULL for one of its own; endpoint:
 * one endpoint or a list (above). */
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
/* The socket in use, new after every move to another endpoint. */
void *miz_client_socket(miz_client_t *c);
/* The endpoint in use, one of the list's. */
const char *miz_client_endpoint(const miz_client_t *c);
/* Leaves the broker in use for the next endpoint of the list (the same
 * one, afresh, when it is the only one): for a gateway whose own timeout
 * passed with no reply. What was sent to the silent broker and not yet
 * taken by it is dropped, never delivered later; what arrived from it and
 * was not read yet is kept for miz_client_recv. Then send again what got
 * no reply (above). 0, or -1 with errno. */
int miz_client_failover(miz_client_t *c);

/* Asynchronous: send now, read the reply (matched by *seq as "re") later.
 * A command for a broker not connected (yet) waits in the socket's queue. */
int miz_client_send_submit(miz_client_t *c, const miz_submit_t *s, uint64_t *seq);
int miz_client_send_status(miz_client_t *c, uint64_t tracking, uint64_t *seq);
/* The outcome of tracking arrived and was dealt with: mizd forgets it
 * (reply "confirmed"). A ping is a way to say "I am here": outcomes not yet
 * confirmed come again. */
int miz_client_send_confirm(miz_client_t *c, uint64_t tracking, uint64_t *seq);
int miz_client_send_ping(miz_client_t *c, uint64_t *seq);
/* The next message from the broker; timeout_ms < 0 waits forever. */
int miz_client_recv(miz_client_t *c, int timeout_ms, miz_msg_t **m);

/* Synchronous: the reply ("accepted"/"status"/"pong", or "error");
 * messages that arrive meanwhile (outcomes) are kept for miz_client_recv.
 * timeout_ms is how long one broker may stay silent. With a list, a silent
 * one is left for the next endpoint and the command sent again there,
 * once round the list, so a call may take up to that many timeouts; but a
 * submit without client_ref is not sent again (it could be accepted
 * twice): it fails with EAGAIN on the next endpoint, for the gateway to
 * decide. */
int miz_submit(miz_client_t *c, const miz_submit_t *s, int timeout_ms, miz_msg_t **reply);
int miz_status(miz_client_t *c, uint64_t tracking, int timeout_ms, miz_msg_t **reply);
int miz_ping(miz_client_t *c, int timeout_ms, miz_msg_t **reply);

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

/* Connects and registers (the "registered" reply comes through recv);
 * endpoint: one endpoint or a list (above). */
miz_worker_t *miz_worker_new(void *zctx, const char *endpoint, const miz_worker_opts_t *o);
/* Says goodbye, so what it holds is offered to others at once. */
void miz_worker_destroy(miz_worker_t **w);
/* The socket in use, new after every reconnect or move. */
void *miz_worker_socket(miz_worker_t *w);
/* The endpoint in use, one of the list's. */
const char *miz_worker_endpoint(const miz_worker_t *w);

/* The next message ("deliver", "cancel", "ok", "error", "registered");
 * heartbeats are kept here, both ways, and so is the broker's "bye" or
 * silence: the worker connects (to the next endpoint of its list) and
 * registers again by itself, swallowing that registration's reply. What it
 * held is offered again there, with the same delivery ids; commands sent to
 * the silent broker without an "ok" need not be sent again. Call at least
 * once per heartbeat interval (or miz_worker_tick) or the broker takes the
 * worker for dead. */
int miz_worker_recv(miz_worker_t *w, int timeout_ms, miz_msg_t **m);
/* Heartbeat housekeeping for a worker busy elsewhere. */
int miz_worker_tick(miz_worker_t *w);

int miz_worker_ack(miz_worker_t *w, uint64_t delivery);
int miz_worker_answer(miz_worker_t *w, uint64_t delivery, const char *outcome, const char *text);
int miz_worker_progress(miz_worker_t *w, uint64_t delivery, const char *note);
int miz_worker_refuse(miz_worker_t *w, uint64_t delivery, const char *reason);
/* Answers and refusals sent whose "ok" (or error) has not come back through
 * miz_worker_recv yet: they are sent again after a new registration, and a
 * worker that stops can wait for none to be left. Always 0 for a quiet
 * worker, which gets no "ok" and so keeps nothing. */
size_t miz_worker_unconfirmed(const miz_worker_t *w);

#ifdef __cplusplus
}
#endif

#endif

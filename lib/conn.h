/* conn: what libmiz's clients (client.c) and workers (worker.c) share: a
 * DEALER socket on one broker endpoint of a list, the seq counter, the
 * command being packed as a counted map, and the messages put aside while a
 * synchronous call waits for its reply. Private to libmiz. */
#ifndef MIZ_CONN_H
#define MIZ_CONN_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdint.h>

#include "cert.h"
#include "endpoints.h"
#include "miz.h"
#include "proto.h"
#include "wire.h"

/* A command's field name, from the row of proto.h that defines it. */
#define FIELD(cmd, id) (miz_fields[MIZ_F_##cmd##_##id].key)

struct miz_msg {
    wire_msg_t *wire;
    char type[MIZ_TYPE_MAX + 1];
    miz_msg_t *next; /* in a connection's queue of messages put aside */
};

typedef struct {
    void *zctx;
    bool own_ctx;
    void *socket;
    endpoints_t eps;
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

/* A client (stable_id: a random routing id kept for its life, or id) or a
 * worker (ZeroMQ's id), connected to the first endpoint of the list. */
int conn_init(conn_t *c, void *zctx, const char *endpoints, bool stable_id, const char *id,
              const miz_curve_t *curve);
void conn_fini(conn_t *c);
/* A fresh socket on the next endpoint of the list (the same one when it is
 * the only one). What the silent broker was sent and has not taken is
 * dropped, never delivered later; keep: what was received and not read yet
 * is put aside first (a client's outcomes), else dropped with the socket (a
 * worker's offers mean nothing to another broker). */
int conn_failover(conn_t *c, bool keep);
/* Starts a command's map with its type and seq (the next one, given in
 * *seq unless NULL); the caller adds its fields to m, and conn_send closes
 * and sends it. */
void conn_begin(conn_t *c, wire_map_t *m, miz_command_t cmd, uint64_t *seq);
/* Closes m and sends the command, waiting for room in the socket's queue. */
int conn_send(conn_t *c, wire_map_t *m);
/* Waits up to timeout_ms (forever if negative) for one frame. */
int conn_recv_raw(conn_t *c, int timeout_ms, miz_msg_t **out);
bool conn_take_aside(conn_t *c, miz_msg_t **m);
void conn_put_aside(conn_t *c, miz_msg_t *m);
/* Waits for the reply to seq, putting everything else aside. */
int conn_await(conn_t *c, uint64_t seq, int timeout_ms, miz_msg_t **reply);
/* What is left of timeout_ms at deadline (-1 when it is negative: forever). */
int conn_remaining(uint64_t deadline, int timeout_ms);

#endif

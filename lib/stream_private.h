/* stream_private: what lib/stream*.c share, behind lib/stream.h.
 *
 * The replica's records and store (stream_replica.c), the snapshot request
 * and its parts (stream_snapshot.c) and the subscriber (stream.c) are one
 * module to miz users; this header is how its files reach one another. */
#ifndef MIZ_STREAM_PRIVATE_H
#define MIZ_STREAM_PRIVATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "stream.h"
#include "wire.h"

/* ---- stream_replica.c ---- */

/* Makes room for one more element in an array of *cap elements of size;
 * false when out of memory. */
bool stream_grow(void **arr, size_t n, size_t *cap, size_t size);
/* Forgets every request of r. */
void stream_replica_clear(miz_replica_t *r);

/* ---- stream_snapshot.c ---- */

/* A snapshot being taken in. */
typedef struct {
    uint64_t seq_sent; /* our request's seq, matched against "re" */
    uint64_t next_part, seq, run, epoch;
    bool done;
} stream_snap_t;

/* A DEALER on the clients endpoint with a routing id of its own, and no
 * linger: a request a silent broker did not take is asked again, never
 * delivered late; NULL with errno. */
void *stream_snapshot_dealer(void *zctx, const char *endpoint, const miz_curve_t *curve);
/* Sends a snapshot request without waiting; -1 with ZeroMQ's errno. */
int stream_snapshot_send(void *sock, uint64_t seq, uint64_t since);
/* Takes in one reply: 1 when it is a part of sn's snapshot and was taken,
 * 0 when it is not for sn (an answer to an earlier request), -1 when it is
 * sn's and cannot be used (an error, a missing part, a bad request). */
int stream_snapshot_take(stream_snap_t *sn, const wire_msg_t *w, miz_replica_t *into);
/* The message's "epoch" into *epoch: 0 when it has none (a mizd without a
 * lease, or before the field); false when it is there but not a uint. */
bool stream_epoch(const wire_msg_t *w, uint64_t *epoch);
/* Receives one message without waiting: with topic, a PUB message (its
 * topic frame copied there, NUL-terminated), else a single frame. NULL
 * with errno EAGAIN when none is there, EPROTO when it does not decode. */
wire_msg_t *stream_recv(void *sock, char *topic, size_t topic_size);

#endif

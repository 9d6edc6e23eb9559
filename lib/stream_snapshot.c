/* stream_snapshot: asking the broker for a snapshot of its requests and
 * taking in its parts (docs/protocol.md, section 8.2).
 *
 * A snapshot is the Clone pattern's state request: a DEALER on the clients
 * endpoint sends `snapshot` with a `since`, and the parts come back as
 * replies to its seq, into a replica (stream_replica.c). The subscriber of
 * stream.c asks for one to sync and to resync; miz_snapshot_fetch takes one
 * alone, for a report of past weeks, from the first broker of a list that
 * answers. Reading one message off a socket
 * without waiting, which both do, is here too. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "clock.h"
#include "dealer.h"
#include "endpoints.h"
#include "proto.h"
#include "stream_private.h"
#include "wire.h"

/* A DEALER on the clients endpoint with a routing id of its own, as
 * lib/client.c's clients have: replies find it after a reconnect. */
void *stream_snapshot_dealer(void *zctx, const char *endpoint, const miz_curve_t *curve)
{
    unsigned char rid[DEALER_RID_LEN];
    int linger = 0;
    void *sock = dealer_rid(rid) < 0 ? NULL : dealer_open(zctx, endpoint, rid, sizeof rid, curve);
    if (sock && zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) < 0) {
        int e = errno;
        zmq_close(sock);
        errno = e;
        return NULL;
    }
    return sock;
}

bool stream_epoch(const wire_msg_t *w, uint64_t *epoch)
{
    wire_status_t st = wire_uint(w, "epoch", epoch);
    if (st == WIRE_ABSENT)
        *epoch = 0;
    return st == WIRE_OK || st == WIRE_ABSENT;
}

int stream_snapshot_send(void *sock, uint64_t seq, uint64_t since)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    wire_map_t m;
    wire_map_begin(&m, &pk);
    wire_map_cstr(&m, "type", miz_commands[MIZ_CMD_SNAPSHOT].type);
    wire_map_uint(&m, "v", MIZ_PROTOCOL_VERSION);
    wire_map_uint(&m, "seq", seq);
    wire_map_uint(&m, miz_fields[MIZ_F_SNAPSHOT_SINCE].key, since);
    wire_map_end(&m);
    int rc = zmq_send(sock, buf.data, buf.size, ZMQ_DONTWAIT) < 0 ? -1 : 0;
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

wire_msg_t *stream_recv(void *sock, char *topic, size_t topic_size)
{
    zmq_msg_t frame;
    wire_msg_t *w = NULL;
    bool bad = false;
    int part = 0;
    zmq_msg_init(&frame);
    if (topic)
        topic[0] = '\0';
    do {
        if (zmq_msg_recv(&frame, sock, ZMQ_DONTWAIT) < 0) {
            int e = errno;
            zmq_msg_close(&frame);
            wire_msg_destroy(&w);
            errno = e;
            return NULL;
        }
        size_t n = zmq_msg_size(&frame);
        if (topic && part == 0) { /* a PUB message: topic frame, then the map */
            if (n >= topic_size)
                bad = true;
            else {
                if (n)
                    memcpy(topic, zmq_msg_data(&frame), n);
                topic[n] = '\0';
            }
        } else if (!w && !bad) {
            wire_status_t st;
            char why[64];
            w = wire_parse(zmq_msg_data(&frame), n, &st, why, sizeof why);
            bad = !w;
        } else {
            bad = true; /* more frames than the protocol has */
        }
        part++;
    } while (zmq_msg_more(&frame));
    zmq_msg_close(&frame);
    if (bad || !w) {
        wire_msg_destroy(&w);
        errno = EPROTO;
        return NULL;
    }
    return w;
}

int stream_snapshot_take(stream_snap_t *sn, const wire_msg_t *w, miz_replica_t *into)
{
    uint64_t re, part;
    const char *type;
    size_t n;
    if (wire_uint(w, "re", &re) != WIRE_OK || re != sn->seq_sent)
        return 0;
    if (wire_str(w, "type", &type, &n, MIZ_TYPE_MAX) != WIRE_OK ||
        MIZ_NAME_FIND(miz_message_names, type, n) != MIZ_MSG_SNAPSHOT)
        return -1;
    const msgpack_object *reqs = wire_get(w, "requests");
    bool done;
    if (wire_uint(w, "part", &part) != WIRE_OK || part != sn->next_part ||
        wire_bool(w, "done", &done) != WIRE_OK || wire_uint(w, "seq", &sn->seq) != WIRE_OK ||
        wire_uint(w, "run", &sn->run) != WIRE_OK || !stream_epoch(w, &sn->epoch) || !reqs ||
        reqs->type != MSGPACK_OBJECT_ARRAY)
        return -1;
    for (uint32_t i = 0; i < reqs->via.array.size; i++)
        if (miz_replica_put(into, &reqs->via.array.ptr[i]) < 0)
            return -1;
    sn->next_part++;
    sn->done = done;
    return 1;
}

/* One snapshot from one endpoint, as miz_snapshot_fetch. */
static int snapshot_fetch_one(void *zctx, const char *clients_ep, const miz_curve_t *curve,
                              uint64_t since_ms, int timeout_ms, miz_replica_t *r)
{
    void *ctx = zctx ? zctx : zmq_ctx_new();
    void *sock = ctx ? stream_snapshot_dealer(ctx, clients_ep, curve) : NULL;
    stream_snap_t sn = {.seq_sent = 1};
    int rc = -1, err = EAGAIN;
    stream_replica_clear(r);
    if (!sock || stream_snapshot_send(sock, sn.seq_sent, since_ms) < 0) {
        err = errno;
        goto out;
    }
    uint64_t deadline = clock_ms(CLOCK_MONOTONIC) + (uint64_t)timeout_ms;
    while (!sn.done) {
        uint64_t now = clock_ms(CLOCK_MONOTONIC);
        zmq_pollitem_t item = {sock, 0, ZMQ_POLLIN, 0};
        if (now >= deadline || zmq_poll(&item, 1, (long)(deadline - now)) <= 0)
            goto out;
        wire_msg_t *w = stream_recv(sock, NULL, 0);
        if (!w)
            continue;
        int took = stream_snapshot_take(&sn, w, r);
        wire_msg_destroy(&w);
        if (took < 0) {
            err = EPROTO;
            goto out;
        }
    }
    rc = 0;
out:
    if (sock)
        zmq_close(sock);
    if (ctx && !zctx)
        zmq_ctx_term(ctx);
    if (rc < 0) {
        stream_replica_clear(r);
        errno = err;
    }
    return rc;
}

int miz_snapshot_fetch(void *zctx, const char *clients_ep, const miz_curve_t *curve,
                       uint64_t since_ms, int timeout_ms, miz_replica_t *r)
{
    endpoints_t eps;
    if (endpoints_init(&eps, clients_ep) < 0)
        return -1;
    int rc = -1;
    /* a silent broker is left for the next, once round the list */
    for (size_t i = 0; i < eps.n; i++, endpoints_advance(&eps)) {
        rc = snapshot_fetch_one(zctx, endpoints_current(&eps), curve, since_ms, timeout_ms, r);
        if (rc == 0 || errno != EAGAIN)
            break;
    }
    int e = errno;
    endpoints_fini(&eps);
    errno = e;
    return rc;
}

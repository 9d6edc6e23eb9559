/* dealer: the one place a DEALER socket toward the broker is opened, so
 * that libmiz's connections (client.c) and the stream's snapshot socket
 * (stream_snapshot.c) get the same linger, routing id and CURVE settings. */
#include "dealer.h"

#include <errno.h>
#include <sys/random.h>
#include <zmq.h>

#include "cert.h"

#define LINGER_MS 200 /* what is unsent when a peer closes: bounded, not dropped */
/* How long a send may wait for room. A DEALER with no connection at all
 * blocks a send for good, and that is where a peer whose CURVE handshake
 * mizd refused (a key it does not know, or of another role) is left:
 * libzmq ends such a connection and never tries it again. With this bound
 * the send fails with EAGAIN, as a silent broker's reply does; a connected
 * broker's full queue drains in far less. */
#define SEND_WAIT_MS 1000

int dealer_rid(unsigned char rid[DEALER_RID_LEN])
{
    if (getrandom(rid, DEALER_RID_LEN, 0) != DEALER_RID_LEN)
        return -1;
    rid[0] = 'm'; /* ids starting with a zero byte are ZeroMQ's own */
    return 0;
}

void *dealer_open(void *zctx, const char *endpoint, const unsigned char *rid, size_t rid_len,
                  const miz_curve_t *curve)
{
    int linger = LINGER_MS, send_wait = SEND_WAIT_MS;
    void *sock = zmq_socket(zctx, ZMQ_DEALER);
    if (!sock)
        return NULL;
    if (zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(sock, ZMQ_SNDTIMEO, &send_wait, sizeof send_wait) < 0 ||
        (rid_len && zmq_setsockopt(sock, ZMQ_ROUTING_ID, rid, rid_len) < 0) ||
        miz_curve_set(sock, curve) < 0 || zmq_connect(sock, endpoint) < 0) {
        int e = errno;
        zmq_close(sock);
        errno = e;
        return NULL;
    }
    return sock;
}

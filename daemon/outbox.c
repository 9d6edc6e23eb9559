/* outbox: what the engine sends, and when.
 *
 * A message is packed in one buffer (msg_begin, then its fields through the
 * counted map it returns) and handed to reply_send, send_worker or
 * send_client. A promise (proto.h's MIZ_MESSAGES: a message that tells of
 * a state change) is never sent before the change is on disk, so each goes
 * to the turn's outbox, sent by outbox_flush once the turn's commit has
 * succeeded; with it go the event stream's messages, so no subscriber sees
 * a change a crash could take back. While the store is failing, what
 * promises nothing (status, pong, errors, heartbeats) goes out at once. */
#include "engine_int.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

wire_map_t *msg_begin(engine_t *e, miz_message_t type)
{
    e->out_promise = miz_message_promise[type];
    msgpack_sbuffer_clear(&e->out);
    wire_map_begin(&e->msg, &e->pk);
    wire_map_cstr(&e->msg, "type", miz_message_names[type]);
    return &e->msg;
}

/* A reply carries the request's seq back as "re" when it had one. */
wire_map_t *reply_begin(engine_t *e, miz_message_t type)
{
    wire_map_t *m = msg_begin(e, type);
    if (e->peer.has_seq)
        wire_map_uint(m, "re", e->peer.seq);
    return m;
}

void outbox_write_raw(msgpack_sbuffer *box, const void *p, size_t n)
{
    if (msgpack_sbuffer_write(box, p, n) < 0) {
        log_line(LOG_ERROR, "out of memory growing the outbox");
        abort();
    }
}

static void outbox_write(engine_t *e, const void *p, size_t n)
{
    outbox_write_raw(&e->outbox, p, n);
}

static void outbox_add(engine_t *e, engine_socket_t to, const void *rid, size_t rid_len,
                       const void *body, size_t len)
{
    uint8_t which = (uint8_t)to;
    uint32_t n = (uint32_t)rid_len, size = (uint32_t)len;
    if (to != ENGINE_EVENTS)
        e->outbox_owed = true;
    outbox_write(e, &which, 1);
    outbox_write(e, &n, sizeof n);
    outbox_write(e, rid, rid_len);
    outbox_write(e, &size, sizeof size);
    outbox_write(e, body, len);
}

/* Queues the message being packed for the end of the turn. */
static void outbox_send(engine_t *e, engine_socket_t to, const void *rid, size_t rid_len)
{
    wire_map_end(&e->msg);
    if (e->store_failed && !e->out_promise) {
        if (e->io.send(e->io.ctx, to, rid, rid_len, e->out.data, e->out.size) < 0)
            LOG(e, LOG_DEBUG, "message lost: peer gone or not reading (%s)", strerror(errno));
        return;
    }
    outbox_add(e, to, rid, rid_len, e->out.data, e->out.size);
}

void reply_send(engine_t *e)
{
    outbox_send(e, e->peer.socket, e->peer.rid, e->peer.rid_len);
}

void send_client(engine_t *e, const void *rid, size_t rid_len)
{
    outbox_send(e, ENGINE_CLIENTS, rid, rid_len);
}

/* -1 when w is dead; a send that fails later, at the flush, kills it then. */
int send_worker(engine_t *e, worker_t *w)
{
    if (w->dead)
        return -1;
    outbox_send(e, ENGINE_WORKERS, w->rid, w->rid_len);
    w->last_send = e->now;
    return 0;
}

void outbox_publish(engine_t *e, miz_stream_topic_t topic, const void *body, size_t len)
{
    const char *name = miz_stream_topic_names[topic];
    outbox_add(e, ENGINE_EVENTS, name, strlen(name), body, len);
}

static void vreply_error(engine_t *e, miz_error_t code, uint64_t delivery, uint64_t retry_ms,
                         const char *fmt, va_list ap)
{
    char message[MIZ_ERROR_TEXT_MAX + 1];
    vsnprintf(message, sizeof message, fmt, ap);
    wire_map_t *m = reply_begin(e, MIZ_MSG_ERROR);
    wire_map_cstr(m, "code", miz_error_names[code]);
    wire_map_cstr(m, "message", message);
    if (delivery)
        wire_map_uint(m, "delivery", delivery);
    if (retry_ms)
        wire_map_uint(m, "retry_after_ms", retry_ms);
    reply_send(e);
    /* the message may quote a peer's text: one log line stays one line */
    for (char *c = message; *c; c++)
        if ((unsigned char)*c < 0x20)
            *c = ' ';
    LOG_PEER(e, &e->error_lines, "error reply %s: %s", miz_error_names[code], message);
}

/* busy and unavailable say when to try again */
void reply_error(engine_t *e, miz_error_t code, uint64_t delivery, const char *fmt, ...)
{
    bool retry = code == MIZ_ERR_BUSY || code == MIZ_ERR_UNAVAILABLE;
    va_list ap;
    va_start(ap, fmt);
    vreply_error(e, code, delivery, retry ? MIZ_RETRY_AFTER_MS : 0, fmt, ap);
    va_end(ap);
}

void reply_busy(engine_t *e, uint64_t retry_ms, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vreply_error(e, MIZ_ERR_BUSY, 0, retry_ms ? retry_ms : 1, fmt, ap);
    va_end(ap);
}

/* A quiet worker asked for errors only: a round trip less per command,
 * which matters most to latency (protocol.md 3.12). */
void reply_ok(engine_t *e, uint64_t delivery, bool duplicate)
{
    if (e->peer.worker && e->peer.worker->quiet)
        return;
    wire_map_t *m = reply_begin(e, MIZ_MSG_OK);
    wire_map_uint(m, "delivery", delivery);
    if (duplicate)
        wire_map_bool(m, "duplicate", true);
    reply_send(e);
}

/* Sends what a turn queued (box), once it is on disk. A worker that cannot be
 * reached is dropped (its deliveries go back to the queue when the turn
 * reaps it). A PUB drops for a slow subscriber, who resyncs. */
void outbox_flush(engine_t *e, msgpack_sbuffer *box)
{
    const char *p = box->data, *end = p + box->size;
    while (p < end) {
        engine_socket_t to = (engine_socket_t)(uint8_t)*p++;
        uint32_t rid_len, len;
        memcpy(&rid_len, p, sizeof rid_len);
        const char *rid = p += sizeof rid_len;
        memcpy(&len, p += rid_len, sizeof len);
        const char *body = p += sizeof len;
        p += len;
        if (e->io.send(e->io.ctx, to, rid, rid_len, body, len) == 0 || to == ENGINE_EVENTS)
            continue;
        worker_t *w = to == ENGINE_WORKERS ? idmap_get(e->worker_map, rid, rid_len) : NULL;
        if (w)
            worker_kill(e, w, errno == EHOSTUNREACH ? "unreachable" : "not reading");
        else if (to == ENGINE_CLIENTS)
            LOG(e, LOG_DEBUG, "message to a client lost: gone or not reading (%s)",
                strerror(errno));
    }
    msgpack_sbuffer_clear(box);
}

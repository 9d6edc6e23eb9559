/* refs.c: what miz is compared with, on the same transport and machine.
 *
 * A figure of miz's means little alone: this machine's scheduling noise
 * moves every tail by milliseconds. So each run measures, beside miz, a
 * bare ZeroMQ echo (the transport's ceiling) and miz's own path with no
 * broker in it (libzmq's zmq_proxy relaying to a worker's echo), with a
 * frame of the size and shape of a miz submission, and the paced
 * comparison takes turns among the three so that the noise falls on all
 * alike (measure_paced). bench/README.md, "How it measures". */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bench.h"
#include "wire.h"

static const char *const ref_names[N_REFS] = {"raw ZeroMQ", "raw ZeroMQ via zmq_proxy"};

const char payload_text[] =
    "The street lights on Daneshjoo Boulevard have been out for three nights and the "
    "snow plough has not come; please send someone before the school run.  ";

/* ---- the frame ---- */

/* {type, seq, topic, payload}: the map miz_client_send_submit packs, with
 * a seq as large as most of a run's, so both runs move the same bytes. */
void raw_frame(msgpack_sbuffer *buf)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    wire_pack_cstr(&pk, "type");
    wire_pack_cstr(&pk, "submit");
    wire_pack_cstr(&pk, "seq");
    msgpack_pack_uint32(&pk, 100000);
    wire_pack_cstr(&pk, "topic");
    wire_pack_cstr(&pk, TOPIC);
    wire_pack_cstr(&pk, "payload");
    wire_pack_cstr(&pk, payload_text);
}

/* ---- the bare echo and the relay ---- */

static void put_index(char *p, uint32_t i)
{
    for (int k = INDEX_DIGITS - 1; k >= 0; k--, i >>= 4)
        p[k] = "0123456789abcdef"[i & 15];
}

static uint32_t get_index(const char *p)
{
    uint32_t i = 0;
    for (int k = 0; k < INDEX_DIGITS; k++)
        i = i << 4 | (uint32_t)(p[k] <= '9' ? p[k] - '0' : p[k] - 'a' + 10);
    return i;
}

static int raw_send(void *ctx, uint32_t i)
{
    raw_t *r = ctx;
    put_index(r->frame + r->size - INDEX_DIGITS, i);
    return zmq_send(r->socket, r->frame, r->size, 0) < 0 ? -1 : 0;
}

static int raw_recv(void *ctx, uint32_t *i)
{
    raw_t *r = ctx;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, r->socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return errno == EAGAIN ? 0 : -1;
    }
    size_t size = zmq_msg_size(&msg);
    if (size == r->size)
        *i = get_index((const char *)zmq_msg_data(&msg) + r->size - INDEX_DIGITS);
    zmq_msg_close(&msg);
    return size == r->size ? 1 : fail("echo of %zu bytes, sent %zu", size, r->size);
}

/* Hands every message back where it came from, all its frames, until one
 * whose last frame is empty. On a ROUTER: the bare echo gets [rid][body],
 * the relay's worker [the proxy's rid][the client's rid][body]. */
static void *echo_main(void *socket)
{
    for (bool ok = true; ok;) {
        zmq_msg_t f[ECHO_FRAMES];
        int n = 0;
        for (bool more = true; ok && more; n++) {
            zmq_msg_init(&f[n]);
            ok = zmq_msg_recv(&f[n], socket, 0) >= 0;
            more = ok && zmq_msg_more(&f[n]);
            ok = ok && (!more || n + 1 < ECHO_FRAMES);
        }
        ok = ok && zmq_msg_size(&f[n - 1]) > 0;
        for (int i = 0; ok && i < n; i++)
            ok = zmq_msg_send(&f[i], socket, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0;
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    return NULL;
}

/* libzmq's own broker loop between the relay's two sockets, until its
 * context is shut down. */
static void *relay_main(void *sockets)
{
    void **s = sockets;
    zmq_proxy(s[0], s[1], NULL);
    return NULL;
}

/* mizd's ROUTER settings: high water marks no window reaches, a peer that
 * cannot be reached refused rather than dropped. */
static void *ref_socket(void *ctx, int type)
{
    int linger = 0, hwm = ROUTER_HWM, one = 1;
    void *s = zmq_socket(ctx, type);
    if (!s)
        return NULL;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER)
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    return s;
}

static int ref_link(void *s, const char *ep, bool bind)
{
    if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) < 0)
        return fail("cannot %s %s: %s", bind ? "bind" : "connect", ep, zmq_strerror(errno));
    return 0;
}

int raw_open(raw_bench_t *rb, void *zctx, const opts_t *o, const char *dir)
{
    char raw[PATH_MAX + 16], in[PATH_MAX + 16], out[PATH_MAX + 16];
    *rb = (raw_bench_t){.zctx = zctx};
    raw_frame(&rb->frame);
    if (endpoint(o, dir, "raw", raw, sizeof raw) < 0 || endpoint(o, dir, "relay-in", in, sizeof in) < 0 ||
        endpoint(o, dir, "relay-out", out, sizeof out) < 0)
        return -1;
    rb->ctx = zmq_ctx_new();
    if (!rb->ctx)
        return fail("cannot create a ZeroMQ context");
    rb->echo = ref_socket(rb->ctx, ZMQ_ROUTER);
    rb->relay[0] = ref_socket(rb->ctx, ZMQ_ROUTER);
    rb->relay[1] = ref_socket(rb->ctx, ZMQ_DEALER);
    rb->relay_worker = ref_socket(zctx, ZMQ_ROUTER);
    for (int i = 0; i < N_REFS; i++)
        rb->client[i] = ref_socket(zctx, ZMQ_DEALER);
    if (!rb->echo || !rb->relay[0] || !rb->relay[1] || !rb->relay_worker ||
        !rb->client[REF_RAW] || !rb->client[REF_RELAY])
        return fail("cannot create the references' sockets: %s", zmq_strerror(errno));
    if (ref_link(rb->echo, raw, true) < 0 || ref_link(rb->relay[0], in, true) < 0 ||
        ref_link(rb->relay[1], out, true) < 0 || ref_link(rb->relay_worker, out, false) < 0 ||
        ref_link(rb->client[REF_RAW], raw, false) < 0 || ref_link(rb->client[REF_RELAY], in, false) < 0)
        return -1;
    void *(*const fn[N_THREADS])(void *) = {echo_main, echo_main, relay_main};
    void *const arg[N_THREADS] = {rb->echo, rb->relay_worker, rb->relay};
    for (int t = 0; t < N_THREADS; t++) {
        if (pthread_create(&rb->thread[t], NULL, fn[t], arg[t]) != 0)
            return fail("cannot start a thread of the references");
        rb->started[t] = true;
    }
    for (int i = 0; i < N_REFS; i++) {
        rb->r[i] = (raw_t){rb->client[i], rb->frame.data, rb->frame.size};
        rb->ld[i] = (load_t){.socket = rb->client[i], .send = raw_send, .recv = raw_recv, .ctx = &rb->r[i]};
    }
    return 0;
}

void raw_close(raw_bench_t *rb)
{
    /* an empty frame stops each echo (the relay's through the relay); if even
     * that cannot go (a socket never connected, no relay), stop waiting */
    int timeout_ms = 1000;
    for (int i = 0; i < N_REFS; i++)
        if (rb->client[i] &&
            (zmq_setsockopt(rb->client[i], ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms) < 0 ||
             zmq_send(rb->client[i], "", 0, 0) < 0 || (i == REF_RELAY && !rb->started[T_RELAY]))) {
            zmq_ctx_shutdown(rb->ctx);
            zmq_ctx_shutdown(rb->zctx);
        }
    for (int t = 0; t < N_THREADS; t++) {
        if (t == T_RELAY && rb->ctx)
            zmq_ctx_shutdown(rb->ctx); /* ends zmq_proxy, once the echoes have stopped */
        if (rb->started[t])
            pthread_join(rb->thread[t], NULL);
    }
    void *sockets[] = {rb->echo, rb->relay[0], rb->relay[1], rb->relay_worker,
                       rb->client[REF_RAW], rb->client[REF_RELAY]};
    for (size_t i = 0; i < sizeof sockets / sizeof *sockets; i++)
        if (sockets[i])
            zmq_close(sockets[i]);
    if (rb->ctx)
        zmq_ctx_term(rb->ctx);
    msgpack_sbuffer_destroy(&rb->frame);
}

/* The references and miz at the same paced rate, taking turns in
 * PACED_ROUNDS rounds each: the machine's bursts of scheduling noise then
 * fall on all alike, where runs one after the other could each catch a
 * different share. */
int measure_paced(const load_t *refs, const load_t *miz, const plan_t *paced,
                         const char *name, stats_t *ref_st, stats_t *miz_st)
{
    const load_t *ld[N_REFS + 1];
    samples_t s[N_REFS + 1] = {{0}};
    plan_t round = *paced;
    round.count = paced->count / PACED_ROUNDS ? paced->count / PACED_ROUNDS : 1;
    int rc = 0;
    for (int i = 0; i <= N_REFS; i++) {
        ld[i] = i < N_REFS ? &refs[i] : miz;
        if (rc == 0)
            rc = warm_up(ld[i], paced);
    }
    for (int k = 0; rc == 0 && k < (N_REFS + 1) * PACED_ROUNDS; k++)
        rc = run_load(ld[k % (N_REFS + 1)], &round, &s[k % (N_REFS + 1)]);
    for (int i = 0; rc == 0 && i < N_REFS; i++) {
        char ref_name[64];
        snprintf(ref_name, sizeof ref_name, "%s, %.0f/s", ref_names[i], paced->rate);
        ref_st[i] = samples_stats(&s[i], true);
        print_row(ref_name, &ref_st[i]);
    }
    if (rc == 0) {
        *miz_st = samples_stats(&s[N_REFS], true);
        print_row(name, miz_st);
        fflush(stdout);
    }
    for (int i = 0; i <= N_REFS; i++)
        samples_free(&s[i]);
    return rc;
}

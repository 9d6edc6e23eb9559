/* ha_load: load across failovers and the checker of its promises (ha_load.h).
 *
 * Requests and deliveries are numbered by the broker from 1 without gaps
 * (the counters are in the store), so the checker keeps them in arrays
 * indexed by number: a number given twice is a slot already taken. */
#include "ha_load.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "harness.h"

#define IN_FLIGHT 20     /* submissions awaiting a reply */
#define MAX_REFS 100000  /* a bound on the arrays, far above what a test submits */
#define RESEND_MS 1000   /* no reply for this long: sent again (same client_ref) */
#define STATUS_AGAIN_MS 50
#define SLICE_MS 5 /* longest wait on one peer before reading the other */

typedef enum { REF_NEW, REF_SENT, REF_ACCEPTED } ref_state_t;

typedef struct {
    ref_state_t state;
    uint64_t tracking, sent_at;
} ref_t;

struct ha_load {
    void *zctx;
    char agency[64], topic[128];
    miz_client_t *c;
    miz_worker_t *w;
    ref_t *refs;
    uint32_t n_refs, in_flight;
    uint32_t *ref_of_seq;       /* + 1 */
    uint32_t *ref_of_tracking;  /* + 1 */
    uint64_t *tracking_of_delivery;
    bool *confirmed;            /* by delivery id: its answer got "ok" */
    bool *verified;             /* by delivery id: a status showed that answer */
    uint64_t n_accepted, n_confirmed, mark, first_accept;
    uint64_t quiet_until; /* nothing new is sent before: the broker's retry_after_ms */
    bool submitting;
};

static void *table_new(size_t size)
{
    void *p = calloc(MAX_REFS + 1, size);
    assert_non_null(p);
    return p;
}

ha_load_t *ha_load_new(const char *clients, const char *workers, const char *agency,
                       const char *topic)
{
    ha_load_t *l = calloc(1, sizeof *l);
    assert_non_null(l);
    l->zctx = zmq_ctx_new();
    snprintf(l->agency, sizeof l->agency, "%s", agency);
    snprintf(l->topic, sizeof l->topic, "%s", topic);
    l->refs = table_new(sizeof *l->refs);
    l->ref_of_seq = table_new(sizeof *l->ref_of_seq);
    l->ref_of_tracking = table_new(sizeof *l->ref_of_tracking);
    l->tracking_of_delivery = table_new(sizeof *l->tracking_of_delivery);
    l->confirmed = table_new(sizeof *l->confirmed);
    l->verified = table_new(sizeof *l->verified);
    l->submitting = true;
    l->c = miz_client_new(l->zctx, clients);
    l->w = miz_worker_new(l->zctx, workers,
                          &(miz_worker_opts_t){.agency = l->agency, .credit = 50, .name = "ha"});
    assert_non_null(l->c);
    assert_non_null(l->w);
    return l;
}

void ha_load_destroy(ha_load_t **lp)
{
    ha_load_t *l = *lp;
    miz_client_destroy(&l->c);
    miz_worker_destroy(&l->w);
    zmq_ctx_term(l->zctx);
    free(l->refs);
    free(l->ref_of_seq);
    free(l->ref_of_tracking);
    free(l->tracking_of_delivery);
    free(l->confirmed);
    free(l->verified);
    free(l);
    *lp = NULL;
}

void ha_load_mark(ha_load_t *l)
{
    l->mark = it_now_ms();
    l->first_accept = 0;
}

uint64_t ha_load_accepted(const ha_load_t *l)
{
    return l->n_accepted;
}

uint64_t ha_load_confirmed(const ha_load_t *l)
{
    return l->n_confirmed;
}

static void send_ref(ha_load_t *l, uint32_t i)
{
    char ref[32];
    snprintf(ref, sizeof ref, "ha-%" PRIu32, i);
    uint64_t seq;
    miz_submit_t s = {.topic = l->topic, .client_ref = ref, .text = ref};
    if (miz_client_send_submit(l->c, &s, &seq) < 0)
        it_fail("cannot submit %s: %s", ref, zmq_strerror(errno));
    if (seq > MAX_REFS)
        it_fail("more than %d commands sent", MAX_REFS);
    l->refs[i] = (ref_t){REF_SENT, 0, it_now_ms()};
    l->ref_of_seq[seq] = i + 1;
    l->in_flight++;
}

/* A submission that was sent and has its answer (or was refused): out of
 * flight. */
static void ref_settle(ha_load_t *l, ref_t *r, ref_state_t state)
{
    if (r->state == REF_SENT)
        l->in_flight--;
    r->state = state;
}

/* A broker silent for RESEND_MS: the gateway moves to the next endpoint
 * of its list, as libmiz's rules for gateways say, and sends again all
 * that got no reply (their client_refs make that safe). */
static void failover_if_silent(ha_load_t *l)
{
    uint64_t now = it_now_ms();
    bool silent = false;
    for (uint32_t i = 0; i < l->n_refs && !silent; i++)
        silent = l->refs[i].state == REF_SENT && now - l->refs[i].sent_at > RESEND_MS;
    if (!silent)
        return;
    if (miz_client_failover(l->c) < 0)
        it_fail("miz_client_failover: %s", zmq_strerror(errno));
    for (uint32_t i = 0; i < l->n_refs; i++)
        if (l->refs[i].state == REF_SENT)
            ref_settle(l, &l->refs[i], REF_NEW);
}

/* New submissions while there is room, after those that got no reply. */
static void submit_some(ha_load_t *l)
{
    failover_if_silent(l);
    if (it_now_ms() < l->quiet_until)
        return;
    for (uint32_t i = 0; i < l->n_refs && l->in_flight < IN_FLIGHT; i++)
        if (l->refs[i].state == REF_NEW)
            send_ref(l, i);
    while (l->submitting && l->in_flight < IN_FLIGHT && l->n_refs < MAX_REFS)
        send_ref(l, l->n_refs++);
}

static void on_accepted(ha_load_t *l, uint32_t i, const miz_msg_t *m)
{
    uint64_t t;
    ref_t *r = &l->refs[i];
    if (miz_msg_uint(m, "tracking", &t) < 0 || t == 0 || t > MAX_REFS)
        it_fail("ha-%" PRIu32 ": an accepted without a tracking number", i);
    if (r->state == REF_ACCEPTED && r->tracking != t)
        it_fail("ha-%" PRIu32 " was given tracking %" PRIu64 ", then %" PRIu64, i, r->tracking, t);
    if (l->ref_of_tracking[t] && l->ref_of_tracking[t] != i + 1)
        it_fail("tracking %" PRIu64 " was given twice: to ha-%" PRIu32 " and ha-%" PRIu32, t,
                l->ref_of_tracking[t] - 1, i);
    if (r->state != REF_ACCEPTED) {
        l->n_accepted++;
        /* sent after the mark: a reply to what was sent before it says
         * nothing of the mizd or the store that serves after it */
        if (l->mark && !l->first_accept && r->sent_at >= l->mark)
            l->first_accept = it_now_ms();
    }
    l->ref_of_tracking[t] = i + 1;
    ref_settle(l, r, REF_ACCEPTED);
    r->tracking = t;
}

static void on_client_msg(ha_load_t *l, miz_msg_t *m)
{
    uint64_t re;
    uint32_t i;
    if (miz_msg_uint(m, "re", &re) < 0 || re > MAX_REFS || !(i = l->ref_of_seq[re]))
        return; /* an outcome, a pong, a status (read by the checker) */
    i--;
    l->ref_of_seq[re] = 0;
    if (miz_msg_is(m, "accepted")) {
        on_accepted(l, i, m);
        return;
    }
    size_t len = 0;
    const char *code = miz_msg_str(m, "code", &len);
    if (!code || (strncmp(code, "unavailable", len) && strncmp(code, "busy", len)))
        it_fail("ha-%" PRIu32 ": \"%s\" %.*s", i, miz_msg_type(m), (int)len, code ? code : "");
    if (l->refs[i].state == REF_SENT)
        ref_settle(l, &l->refs[i], REF_NEW); /* nothing was created: again, */
    uint64_t after = 0; /* when the broker says */
    miz_msg_uint(m, "retry_after_ms", &after);
    l->quiet_until = it_now_ms() + after;
}

static void on_worker_msg(ha_load_t *l, miz_msg_t *m)
{
    uint64_t t, d;
    if (miz_msg_is(m, "deliver") && miz_msg_uint(m, "tracking", &t) == 0 &&
        miz_msg_uint(m, "delivery", &d) == 0 && d <= MAX_REFS) {
        char text[32];
        snprintf(text, sizeof text, "answer-%" PRIu64, t);
        l->tracking_of_delivery[d] = t;
        if (miz_worker_answer(l->w, d, "done", text) < 0)
            it_fail("cannot answer delivery %" PRIu64, d);
    } else if (miz_msg_is(m, "ok") && miz_msg_uint(m, "delivery", &d) == 0 && d <= MAX_REFS) {
        l->n_confirmed += !l->confirmed[d];
        l->confirmed[d] = true;
    }
    /* an error (not_held: a delivery the broker took back) changes nothing
     * the checker counts: the delivery is offered again and answered then */
}

/* Reads what the worker has (its heartbeats go on). */
static void worker_turn(ha_load_t *l)
{
    miz_msg_t *m;
    while (miz_worker_recv(l->w, 0, &m) == 0) {
        on_worker_msg(l, m);
        miz_msg_destroy(&m);
    }
}

/* Reads what both peers have, waiting at most SLICE_MS for the client. */
static void load_turn(ha_load_t *l)
{
    miz_msg_t *m;
    worker_turn(l);
    if (miz_client_recv(l->c, SLICE_MS, &m) == 0) {
        on_client_msg(l, m);
        miz_msg_destroy(&m);
    }
}

void ha_load_run(ha_load_t *l, int ms)
{
    for (uint64_t end = it_now_ms() + (uint64_t)ms; it_now_ms() < end;) {
        submit_some(l);
        load_turn(l);
    }
}

uint64_t ha_load_first_accept(ha_load_t *l, int timeout_ms)
{
    for (uint64_t end = it_now_ms() + (uint64_t)timeout_ms; !l->first_accept;) {
        if (it_now_ms() > end)
            it_fail("no request accepted within %d ms", timeout_ms);
        submit_some(l);
        load_turn(l);
    }
    return l->first_accept - l->mark;
}

/* A status reply of tracking t: whether it is closed, with the worker's
 * answer; every answer the worker had confirmed that it shows, in its place,
 * is verified. */
static bool status_check(ha_load_t *l, const miz_msg_t *m, uint64_t t)
{
    const msgpack_object *ds = miz_msg_get(m, "deliveries");
    assert_true(ds && ds->type == MSGPACK_OBJECT_ARRAY && ds->via.array.size >= 1);
    char want[32];
    snprintf(want, sizeof want, "answer-%" PRIu64, t);
    for (uint32_t k = 0; k < ds->via.array.size; k++) {
        const msgpack_object *dv = &ds->via.array.ptr[k];
        uint64_t id = it_uint(dv, "id");
        if (id <= MAX_REFS && l->confirmed[id]) {
            it_str_eq(dv, "state", "answered");
            it_str_eq(dv, "text", want);
            l->verified[id] = true;
        }
    }
    const msgpack_object *st = miz_msg_get(m, "state");
    if (!st || st->type != MSGPACK_OBJECT_STR || st->via.str.size != 6 ||
        memcmp(st->via.str.ptr, "closed", 6) != 0)
        return false;
    it_str_eq(&ds->via.array.ptr[0], "outcome", "done");
    return true;
}

/* Asks about tracking t until mizd replies (the worker served meanwhile):
 * whether it is closed. */
static bool status_closed(ha_load_t *l, uint64_t t, uint64_t end)
{
    for (;;) {
        uint64_t seq, re;
        if (it_now_ms() > end)
            it_fail("tracking %" PRIu64 ": no status, or still open", t);
        if (miz_client_send_status(l->c, t, &seq) < 0)
            it_fail("cannot ask about %" PRIu64, t);
        for (uint64_t wait = it_now_ms() + RESEND_MS; it_now_ms() < wait;) {
            miz_msg_t *m = NULL;
            worker_turn(l);
            if (miz_client_recv(l->c, SLICE_MS, &m) == 0 && miz_msg_uint(m, "re", &re) == 0 &&
                re == seq) {
                bool closed = miz_msg_is(m, "status") && status_check(l, m, t);
                miz_msg_destroy(&m);
                return closed;
            }
            miz_msg_destroy(&m);
        }
    }
}

void ha_load_finish(ha_load_t *l, int timeout_ms)
{
    uint64_t end = it_now_ms() + (uint64_t)timeout_ms;
    l->submitting = false;
    for (uint32_t i = 0; i < l->n_refs;)
        if (l->refs[i].state == REF_ACCEPTED)
            i++;
        else if (it_now_ms() > end)
            it_fail("ha-%" PRIu32 " never accepted", i);
        else
            ha_load_run(l, 10);
    /* every request given a number: closed (a status shows mizd's memory,
     * which may be ahead of the store: the oks of the last answers may
     * come after their request's status) */
    for (uint32_t i = 0; i < l->n_refs;)
        if (status_closed(l, l->refs[i].tracking, end))
            i++;
        else
            ha_load_run(l, STATUS_AGAIN_MS);
    /* then every confirmed answer, asked about until none is left that no
     * status showed (an ok may still arrive while they are asked about) */
    for (bool again = true; again;) {
        again = false;
        for (uint64_t d = 1; d <= MAX_REFS; d++)
            if (l->confirmed[d] && !l->verified[d]) {
                again = true;
                status_closed(l, l->tracking_of_delivery[d], end);
                if (!l->verified[d])
                    it_fail("delivery %" PRIu64 " of tracking %" PRIu64 " was answered and "
                            "confirmed, and its request's status does not show that answer",
                            d, l->tracking_of_delivery[d]);
            }
    }
    fprintf(stderr, "checked: %" PRIu64 " requests, %" PRIu64 " confirmed answers\n",
            l->n_accepted, l->n_confirmed);
}

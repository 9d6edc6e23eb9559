/* The crash test, on crash.yaml: under a steady load of submissions and
 * answering workers, mizd is killed with SIGKILL at random moments, again
 * and again, and started on the same store. A checker that kept every
 * tracking number it was given then verifies that every one of them is
 * answered in the end, that no answer a worker had confirmed ("ok") is lost,
 * and that no tracking number was issued twice.
 *
 * One process drives everything from one loop, through the harness's
 * non-blocking reads (which keep every peer's heartbeats going):
 *
 * - a client submits at up to RATE_PER_MS a ms, with up to IN_FLIGHT in
 *   flight, each with a client_ref of its own; after every restart it sends
 *   again those whose reply never came (a resubmission is idempotent: the
 *   same tracking number, with duplicate=true if the first one was taken),
 *   and a few accepted long ago, which must come back as duplicates;
 * - two workers ack and answer every delivery ("done", with a text naming
 *   the delivery and the worker). They dedupe by delivery id as the protocol
 *   says: a delivery a worker has answered is answered again, the same way.
 *   The answers go out as raw frames with a seq of the test's own
 *   (ANSWER_SEQ + delivery id), so an "ok" says without doubt which command
 *   it confirms: the ok of an answer, not of an ack.
 *
 * After the last restart the load goes on until both workers have been
 * offered work again (libmiz registers them again by itself), then every
 * tracking number is asked about until it is closed.
 *
 * The seed is printed; MIZ_CRASH_SEED=n plays the same kill moments again
 * (the daemon's timing varies, so not the same run). */
#include "harness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLE "crash.yaml"
#define TOPIC "crash.load"
#define AGENCY "desk"
#define KILLS 24
#define LOAD_MIN_MS 50 /* load between two kills: a random time in [MIN, MAX] */
#define LOAD_MAX_MS 300
#define IN_FLIGHT 50       /* submissions (or status queries) awaiting a reply */
#define RATE_PER_MS 2      /* new submissions at most, per ms since the start */
#define MAX_REFS 20000     /* a cap on submissions, to bound memory and the log */
#define DUP_CHECKS 3       /* accepted refs submitted again after each restart */
#define POLL_AGAIN_MS 50   /* a request still open is asked about again after this */
#define SLICE_MS 2         /* longest wait for the client before serving the workers */
#define N_WORKERS 2
#define ANSWER_SEQ (UINT64_C(1) << 40) /* above any seq libmiz gives a command */
#define NONE UINT32_MAX

/* ---- growable tables ---- */

/* Makes (*p)[i] exist, zero-filled, in a table of *cap elements of size. */
static void *reserve(void *p, size_t *cap, size_t i, size_t size)
{
    if (i < *cap)
        return p;
    size_t n = *cap ? *cap : 1024;
    while (n <= i)
        n *= 2;
    unsigned char *q = realloc(p, n * size);
    assert_non_null(q);
    memset(q + *cap * size, 0, (n - *cap) * size);
    *cap = n;
    return q;
}

/* A FIFO of ref indices, each with the time it may be taken. */
typedef struct {
    uint32_t ref;
    uint64_t due;
} slot_t;

typedef struct {
    slot_t *v;
    size_t cap, head, tail; /* ring: head == tail is empty */
} fifo_t;

static size_t fifo_len(const fifo_t *q)
{
    return q->cap ? (q->tail + q->cap - q->head) % q->cap : 0;
}

static void fifo_push(fifo_t *q, uint32_t ref, uint64_t due)
{
    if (fifo_len(q) + 1 >= q->cap) {
        size_t n = q->cap ? q->cap * 2 : 1024, len = fifo_len(q);
        slot_t *v = malloc(n * sizeof *v);
        assert_non_null(v);
        for (size_t i = 0; i < len; i++)
            v[i] = q->v[(q->head + i) % q->cap];
        free(q->v);
        *q = (fifo_t){v, n, 0, len};
    }
    q->v[q->tail] = (slot_t){ref, due};
    q->tail = (q->tail + 1) % q->cap;
}

/* The first ref if it is due, else NONE. */
static uint32_t fifo_pop(fifo_t *q, uint64_t now)
{
    if (!fifo_len(q) || q->v[q->head].due > now)
        return NONE;
    uint32_t ref = q->v[q->head].ref;
    q->head = (q->head + 1) % q->cap;
    return ref;
}

/* ---- what the checker keeps ---- */

enum { REF_NEW, REF_SENT, REF_WAIT, REF_ACCEPTED };

/* One client_ref: "crash-<index>". */
typedef struct {
    uint64_t tracking; /* from its first "accepted"; 0 until then */
    uint64_t delivery; /* its target delivery, from its closed status */
    uint8_t state;
    bool verified; /* its closed status was checked */
} ref_t;

enum { SEQ_NONE, SEQ_SUBMIT, SEQ_STATUS };

/* One seq of the client. */
typedef struct {
    uint32_t ref;
    uint8_t kind;
} seq_t;

/* One delivery id, as the workers saw it. */
typedef struct {
    uint64_t tracking; /* 0: never delivered */
    uint32_t ref;      /* from the deliver's client_ref */
    uint8_t answered;  /* bit w: worker w has sent its answer */
    int8_t confirmed;  /* the worker whose answer got "ok", or -1 */
    bool verified;     /* seen answered in its request's status */
} del_t;

typedef struct {
    it_daemon_t *d;
    it_peer_t *c, *w[N_WORKERS];
    uint64_t rng;

    ref_t *refs;
    size_t refs_cap, n_refs;
    seq_t *seqs;
    size_t seqs_cap;
    del_t *dels;
    size_t dels_cap;
    uint32_t *track_ref; /* tracking -> ref + 1 */
    size_t track_cap;
    uint64_t *outcome_del; /* tracking -> delivery of the outcome received */
    size_t outcome_cap;

    uint64_t live[IN_FLIGHT + DUP_CHECKS]; /* client seqs awaiting a reply */
    size_t n_live;
    fifo_t resend;  /* refs to submit again */
    fifo_t polls;   /* refs whose status to ask */
    bool submitting, running;
    uint64_t t0; /* when the load started */
    size_t n_verified;
    uint64_t progress; /* when the last ref was verified */
    bool served_since_restart[N_WORKERS];

    /* for the summary */
    size_t kills, kills_in_flight, accepted, duplicates, resent, dup_checks, delivers,
        redelivers, confirmed, stale_answers, outcomes, cancels, statuses;
} crash_t;

static uint64_t rnd(crash_t *x)
{
    x->rng ^= x->rng << 13; /* xorshift64 */
    x->rng ^= x->rng >> 7;
    x->rng ^= x->rng << 17;
    return x->rng;
}

static void ref_name(uint32_t ref, char *buf, size_t len)
{
    snprintf(buf, len, "crash-%" PRIu32, ref);
}

static void answer_text(uint64_t delivery, int worker, char *buf, size_t len)
{
    snprintf(buf, len, "delivery %" PRIu64 " answered by worker %d", delivery, worker);
}

static del_t *del_at(crash_t *x, uint64_t id)
{
    if (id >= x->dels_cap) {
        size_t old = x->dels_cap;
        x->dels = reserve(x->dels, &x->dels_cap, id, sizeof *x->dels);
        for (size_t i = old; i < x->dels_cap; i++)
            x->dels[i].confirmed = -1;
    }
    return &x->dels[id];
}

static uint32_t ref_of_tracking(const crash_t *x, uint64_t tracking)
{
    return tracking < x->track_cap && x->track_ref[tracking] ? x->track_ref[tracking] - 1 : NONE;
}

/* A string field as a NUL-terminated copy ("" when absent or not a string). */
static void str_field(const msgpack_object *map, const char *key, char *buf, size_t len)
{
    const msgpack_object *o = miz_map_get(map, key);
    if (!o || o->type != MSGPACK_OBJECT_STR) {
        snprintf(buf, len, "%s", o ? "(not a string)" : "(absent)");
        return;
    }
    snprintf(buf, len, "%.*s", (int)o->via.str.size, o->via.str.ptr);
}

static void live_remove(crash_t *x, uint64_t seq)
{
    for (size_t i = 0; i < x->n_live; i++)
        if (x->live[i] == seq) {
            x->live[i] = x->live[--x->n_live];
            return;
        }
}

static bool is_live(const crash_t *x, uint64_t seq)
{
    for (size_t i = 0; i < x->n_live; i++)
        if (x->live[i] == seq)
            return true;
    return false;
}

static seq_t *seq_at(crash_t *x, uint64_t seq)
{
    x->seqs = reserve(x->seqs, &x->seqs_cap, seq, sizeof *x->seqs);
    return &x->seqs[seq];
}

/* ---- the client ---- */

static void send_submit(crash_t *x, uint32_t ref)
{
    char name[32], text[48];
    ref_name(ref, name, sizeof name);
    snprintf(text, sizeof text, "request %" PRIu32, ref);
    uint64_t seq = it_submit_send(x->c, &(miz_submit_t){.topic = TOPIC, .client_ref = name,
                                                        .text = text});
    *seq_at(x, seq) = (seq_t){ref, SEQ_SUBMIT};
    assert_true(x->n_live < sizeof x->live / sizeof *x->live);
    x->live[x->n_live++] = seq;
    if (x->refs[ref].state != REF_ACCEPTED)
        x->refs[ref].state = REF_SENT;
}

static void send_status(crash_t *x, uint32_t ref)
{
    uint64_t seq;
    if (miz_client_send_status(it_miz_client(x->c), x->refs[ref].tracking, &seq) < 0)
        it_fail("cannot send a status query");
    *seq_at(x, seq) = (seq_t){ref, SEQ_STATUS};
    x->live[x->n_live++] = seq;
    x->statuses++;
}

/* Keeps IN_FLIGHT commands in flight: resubmissions first, then new
 * requests while the load goes on, then status queries. */
static void top_up(crash_t *x)
{
    uint64_t now = it_now_ms();
    while (x->n_live < IN_FLIGHT) {
        uint32_t ref = fifo_pop(&x->resend, now);
        if (ref != NONE) {
            if (x->refs[ref].state == REF_WAIT) { /* not accepted by a late reply since */
                send_submit(x, ref);
                x->resent++;
            }
            continue;
        }
        if (x->submitting && x->n_refs < MAX_REFS + (x->kills == KILLS ? 1000 : 0) &&
            x->n_refs < (now - x->t0) * RATE_PER_MS) {
            x->refs = reserve(x->refs, &x->refs_cap, x->n_refs, sizeof *x->refs);
            send_submit(x, (uint32_t)x->n_refs++);
            continue;
        }
        if ((ref = fifo_pop(&x->polls, now)) != NONE) {
            send_status(x, ref);
            continue;
        }
        break;
    }
}

static void on_accepted(crash_t *x, const miz_msg_t *m, uint32_t ref)
{
    char name[32];
    ref_name(ref, name, sizeof name);
    ref_t *r = &x->refs[ref];
    uint64_t tracking = it_uint(IT_ROOT(m), "tracking");
    const msgpack_object *dup = miz_msg_get(m, "duplicate");
    bool duplicate = dup && dup->type == MSGPACK_OBJECT_BOOLEAN && dup->via.boolean;
    if (dup && !duplicate)
        it_fail("client_ref %s: \"duplicate\" is there but not true", name);
    if (it_uint(IT_ROOT(m), "deliveries") != 1)
        it_fail("client_ref %s: accepted with %" PRIu64 " deliveries, expected 1", name,
                it_uint(IT_ROOT(m), "deliveries"));
    if (tracking == 0)
        it_fail("client_ref %s: tracking number 0", name);
    x->duplicates += duplicate;
    if (r->tracking) {
        /* every submission of a ref after the one that made its request is
         * a duplicate of it: replies on one connection keep their order */
        if (tracking != r->tracking)
            it_fail("client_ref %s was given tracking %" PRIu64 ", then %" PRIu64
                    " (duplicate=%d)",
                    name, r->tracking, tracking, duplicate);
        if (!duplicate)
            it_fail("client_ref %s: tracking %" PRIu64 " accepted a second time without "
                    "duplicate=true",
                    name, tracking);
        return;
    }
    /* a first reply may be a duplicate: the first submission's reply was
     * lost in a crash after its request was stored */
    uint32_t other = ref_of_tracking(x, tracking);
    if (other != NONE) {
        char other_name[32];
        ref_name(other, other_name, sizeof other_name);
        it_fail("tracking %" PRIu64 " issued twice: to client_ref %s and to %s", tracking,
                other_name, name);
    }
    x->track_ref = reserve(x->track_ref, &x->track_cap, tracking, sizeof *x->track_ref);
    x->track_ref[tracking] = ref + 1;
    r->tracking = tracking;
    r->state = REF_ACCEPTED;
    x->accepted++;
}

/* The closed status of a ref: answered by one of the workers, and by the
 * one whose answer was confirmed, if one was. */
static void verify_status(crash_t *x, const miz_msg_t *m, uint32_t ref)
{
    ref_t *r = &x->refs[ref];
    char name[32], got[128];
    ref_name(ref, name, sizeof name);
    if (!miz_msg_is(m, "status")) {
        str_field(IT_ROOT(m), "code", got, sizeof got);
        it_fail("status of tracking %" PRIu64 " (client_ref %s): \"%s\" %s", r->tracking, name,
                miz_msg_type(m), got);
    }
    if (it_uint(IT_ROOT(m), "tracking") != r->tracking)
        it_fail("status of tracking %" PRIu64 " is about %" PRIu64, r->tracking,
                it_uint(IT_ROOT(m), "tracking"));
    str_field(IT_ROOT(m), "client_ref", got, sizeof got);
    if (strcmp(got, name) != 0)
        it_fail("tracking %" PRIu64 ": client_ref is %s, expected %s", r->tracking, got, name);
    str_field(IT_ROOT(m), "state", got, sizeof got);
    if (strcmp(got, "open") == 0) {
        fifo_push(&x->polls, ref, it_now_ms() + POLL_AGAIN_MS);
        return;
    }
    if (strcmp(got, "closed") != 0)
        it_fail("tracking %" PRIu64 ": state \"%s\"", r->tracking, got);

    const msgpack_object *dels = it_get(IT_ROOT(m), "deliveries");
    if (dels->type != MSGPACK_OBJECT_ARRAY || dels->via.array.size != 1)
        it_fail("tracking %" PRIu64 ": %u deliveries, expected its one target", r->tracking,
                dels->type == MSGPACK_OBJECT_ARRAY ? dels->via.array.size : 0);
    const msgpack_object *o = &dels->via.array.ptr[0];
    uint64_t id = it_uint(o, "id");
    str_field(o, "state", got, sizeof got);
    if (strcmp(got, "answered") != 0)
        it_fail("tracking %" PRIu64 " is closed, but its delivery %" PRIu64 " is \"%s\"",
                r->tracking, id, got);
    str_field(o, "outcome", got, sizeof got);
    if (strcmp(got, "done") != 0)
        it_fail("tracking %" PRIu64 ", delivery %" PRIu64 ": outcome \"%s\", expected \"done\"",
                r->tracking, id, got);
    del_t *dl = del_at(x, id);
    if (dl->tracking != r->tracking)
        it_fail("tracking %" PRIu64 " was answered in delivery %" PRIu64 ", which the workers "
                "%s",
                r->tracking, id, dl->tracking ? "got for another tracking" : "never got");
    str_field(o, "text", got, sizeof got);
    int by = -1;
    for (int w = 0; w < N_WORKERS; w++) {
        char want[96];
        answer_text(id, w, want, sizeof want);
        if ((dl->answered >> w & 1) && strcmp(got, want) == 0)
            by = w;
    }
    if (by < 0)
        it_fail("tracking %" PRIu64 ", delivery %" PRIu64 ": text \"%s\" is no answer a worker "
                "sent",
                r->tracking, id, got);
    if (dl->confirmed >= 0 && dl->confirmed != by)
        it_fail("delivery %" PRIu64 " (tracking %" PRIu64 "): worker %d's answer was confirmed "
                "with ok, but the store has \"%s\": a confirmed answer was lost",
                id, r->tracking, dl->confirmed, got);
    dl->verified = true;
    r->delivery = id;
    r->verified = true;
    x->n_verified++;
    x->progress = it_now_ms();
}

/* An outcome: sent once, to this client (its routing id survives restarts),
 * or lost in a crash; what it says must agree with the workers' answers. */
static void on_outcome(crash_t *x, const miz_msg_t *m)
{
    uint64_t tracking = it_uint(IT_ROOT(m), "tracking");
    const msgpack_object *ans = it_get(IT_ROOT(m), "answers");
    if (ans->type != MSGPACK_OBJECT_ARRAY || ans->via.array.size != 1)
        it_fail("outcome of tracking %" PRIu64 ": not one answer", tracking);
    const msgpack_object *a = &ans->via.array.ptr[0];
    uint64_t id = it_uint(a, "delivery");
    char got[128], want[96];
    str_field(a, "outcome", got, sizeof got);
    if (strcmp(got, "done") != 0)
        it_fail("outcome of tracking %" PRIu64 ": \"%s\", expected \"done\"", tracking, got);
    del_t *dl = del_at(x, id);
    if (dl->tracking != tracking)
        it_fail("outcome of tracking %" PRIu64 " names delivery %" PRIu64 ", which the workers "
                "%s",
                tracking, id, dl->tracking ? "got for another tracking" : "never got");
    str_field(a, "text", got, sizeof got);
    int by = -1;
    for (int w = 0; w < N_WORKERS; w++) {
        answer_text(id, w, want, sizeof want);
        if ((dl->answered >> w & 1) && strcmp(got, want) == 0)
            by = w;
    }
    if (by < 0 || (dl->confirmed >= 0 && dl->confirmed != by))
        it_fail("outcome of tracking %" PRIu64 ", delivery %" PRIu64 ": text \"%s\"%s", tracking,
                id, got, by < 0 ? " is no answer a worker sent" : " is not the confirmed answer");
    x->outcome_del = reserve(x->outcome_del, &x->outcome_cap, tracking, sizeof *x->outcome_del);
    if (x->outcome_del[tracking])
        it_fail("a second outcome of tracking %" PRIu64, tracking);
    x->outcome_del[tracking] = id;
    x->outcomes++;
}

static void on_client(crash_t *x, miz_msg_t *m)
{
    uint64_t re;
    if (miz_msg_is(m, "outcome")) {
        on_outcome(x, m);
        return;
    }
    if (miz_msg_uint(m, "re", &re) < 0 || re >= x->seqs_cap || x->seqs[re].kind == SEQ_NONE)
        it_fail("client: \"%s\" that answers no command of the test", miz_msg_type(m));
    seq_t s = x->seqs[re];
    bool live = is_live(x, re);
    live_remove(x, re);
    if (s.kind == SEQ_STATUS) {
        verify_status(x, m, s.ref);
        return;
    }
    if (miz_msg_is(m, "accepted")) {
        on_accepted(x, m, s.ref);
        return;
    }
    char code[64];
    str_field(IT_ROOT(m), "code", code, sizeof code);
    if (!miz_msg_is(m, "error") || (strcmp(code, "unavailable") && strcmp(code, "busy")))
        it_fail("client: submission of crash-%" PRIu32 " got \"%s\" %s", s.ref, miz_msg_type(m),
                code);
    /* nothing was created: send it again later */
    if (live && x->refs[s.ref].state == REF_SENT) {
        x->refs[s.ref].state = REF_WAIT;
        fifo_push(&x->resend, s.ref, it_now_ms() + it_uint(IT_ROOT(m), "retry_after_ms"));
    }
}

/* ---- the workers ---- */

static void send_answer(crash_t *x, int w, uint64_t id)
{
    char text[96];
    answer_text(id, w, text, sizeof text);
    it_send_map(x->w[w], IT_MAP(IT_S("type", "answer"), IT_U("seq", ANSWER_SEQ + id),
                                IT_U("delivery", id), IT_S("outcome", "done"),
                                IT_S("text", text)));
    del_at(x, id)->answered |= (uint8_t)(1u << w);
}

static void on_deliver(crash_t *x, int w, const miz_msg_t *m)
{
    uint64_t id = it_uint(IT_ROOT(m), "delivery"), tracking = it_uint(IT_ROOT(m), "tracking");
    char got[160];
    uint32_t ref;
    str_field(IT_ROOT(m), "role", got, sizeof got);
    if (strcmp(got, "target") != 0)
        it_fail("worker %d: delivery %" PRIu64 " in role \"%s\"", w, id, got);
    str_field(IT_ROOT(m), "client_ref", got, sizeof got);
    if (sscanf(got, "crash-%" SCNu32, &ref) != 1 || ref >= x->n_refs)
        it_fail("worker %d: delivery %" PRIu64 " has client_ref \"%s\"", w, id, got);
    del_t *dl = del_at(x, id);
    if (dl->tracking && (dl->tracking != tracking || dl->ref != ref))
        it_fail("delivery %" PRIu64 " came for tracking %" PRIu64 " (crash-%" PRIu32 "), then "
                "for %" PRIu64 " (crash-%" PRIu32 ")",
                id, dl->tracking, dl->ref, tracking, ref);
    /* the ok of an answer is sent once it is on disk, and this worker's
     * socket keeps the order of what it is sent: no deliver of it can come
     * after, unless the answer was lost */
    if (dl->confirmed == w)
        it_fail("delivery %" PRIu64 " (tracking %" PRIu64 ") offered again to worker %d after its "
                "answer was confirmed with ok: a confirmed answer was lost",
                id, tracking, w);
    x->redelivers += dl->tracking != 0;
    dl->tracking = tracking;
    dl->ref = ref;
    x->delivers++;
    x->served_since_restart[w] = true;
    if (!(dl->answered >> w & 1)) /* new to this worker: claim it first */
        if (miz_worker_ack(it_miz_worker(x->w[w]), id) < 0)
            it_fail("worker %d: cannot send an ack", w);
    send_answer(x, w, id); /* the same answer again if it had answered it */
}

static void on_worker(crash_t *x, int w, miz_msg_t *m)
{
    uint64_t re = 0, id = 0;
    miz_msg_uint(m, "re", &re);
    miz_msg_uint(m, "delivery", &id);
    if (miz_msg_is(m, "deliver")) {
        on_deliver(x, w, m);
    } else if (miz_msg_is(m, "ok")) {
        if (re < ANSWER_SEQ)
            return; /* an ack's */
        if (re != ANSWER_SEQ + id)
            it_fail("worker %d: ok for delivery %" PRIu64 " answers the answer of %" PRIu64, w,
                    id, re - ANSWER_SEQ);
        del_t *dl = del_at(x, id);
        if (dl->confirmed >= 0)
            it_fail("delivery %" PRIu64 ": the answers of worker %d and then of worker %d were "
                    "both confirmed",
                    id, dl->confirmed, w);
        dl->confirmed = (int8_t)w;
        x->confirmed++;
    } else if (miz_msg_is(m, "error")) {
        char code[64];
        str_field(IT_ROOT(m), "code", code, sizeof code);
        /* a command on a delivery from before a crash: answered since (by
         * the other worker, or by this one in the run that died), held by
         * the other, or its request closed and out of memory */
        if (strcmp(code, "not_held") && strcmp(code, "unknown_delivery"))
            it_fail("worker %d: error %s for delivery %" PRIu64, w, code, id);
        x->stale_answers++;
    } else if (miz_msg_is(m, "cancel")) {
        x->cancels++;
    } else if (!miz_msg_is(m, "registered")) {
        it_fail("worker %d: unexpected \"%s\"", w, miz_msg_type(m));
    }
}

/* ---- the loop ---- */

/* Handles what has come for every peer; with the daemon running, waits up
 * to SLICE_MS for the client first. */
static void turn(crash_t *x)
{
    miz_msg_t *m;
    if (x->running) {
        top_up(x);
        if ((m = it_next(x->c, SLICE_MS)))
            on_client(x, m), miz_msg_destroy(&m);
    }
    while ((m = it_next(x->c, 0)))
        on_client(x, m), miz_msg_destroy(&m);
    for (int w = 0; w < N_WORKERS; w++)
        while ((m = it_next(x->w[w], 0)))
            on_worker(x, w, m), miz_msg_destroy(&m);
}

static void run_for(crash_t *x, uint64_t ms)
{
    for (uint64_t end = it_now_ms() + ms; it_now_ms() < end;)
        turn(x);
}

/* kill -9, read what the dead daemon had sent, start it again; what was in
 * flight is submitted again, with a few accepted refs for the dedup. */
static void crash(crash_t *x)
{
    it_stop(x->d, true);
    x->running = false;
    x->kills++;
    x->kills_in_flight += x->n_live > 0;
    for (int i = 0; i < 5; i++) {
        turn(x);
        nanosleep(&(struct timespec){0, 2 * 1000 * 1000}, NULL);
    }
    for (size_t i = 0; i < x->n_live; i++) {
        uint32_t ref = x->seqs[x->live[i]].ref;
        if (x->refs[ref].state == REF_SENT) {
            x->refs[ref].state = REF_WAIT;
            fifo_push(&x->resend, ref, 0);
        }
    }
    x->n_live = 0; /* a late reply to them is still checked */
    it_start(x->d);
    x->running = true;
    for (int w = 0; w < N_WORKERS; w++)
        x->served_since_restart[w] = false;
    for (int i = 0; i < DUP_CHECKS && x->accepted; i++) {
        uint32_t ref = (uint32_t)(rnd(x) % x->n_refs);
        if (x->refs[ref].state == REF_ACCEPTED) {
            send_submit(x, ref);
            x->dup_checks++;
        }
    }
}

/* Reachable from here, so a failed check (a longjmp past the frees) leaves
 * LeakSanitizer nothing to report. */
static crash_t *the_test;

static void test_crash(void **state)
{
    crash_t *x = the_test = calloc(1, sizeof *x);
    assert_non_null(x);
    x->d = *state;
    const char *seed = getenv("MIZ_CRASH_SEED");
    x->rng = seed ? strtoull(seed, NULL, 10) : (uint64_t)time(NULL) ^ (uint64_t)it_now_ms() << 20;
    if (!x->rng)
        x->rng = 1;
    fprintf(stderr, "crash test: MIZ_CRASH_SEED=%" PRIu64 "\n", x->rng);
    uint64_t t0 = x->t0 = it_now_ms();

    x->c = it_client(x->d);
    for (int w = 0; w < N_WORKERS; w++)
        x->w[w] = it_worker(x->d, AGENCY, 0);
    x->running = x->submitting = true;

    for (int k = 0; k < KILLS; k++) {
        run_for(x, LOAD_MIN_MS + rnd(x) % (LOAD_MAX_MS - LOAD_MIN_MS + 1));
        crash(x);
    }

    /* after the last restart: the load goes on until both workers have
     * served again (they register again by themselves; checked at the end,
     * after the data), then stops; what was in flight is settled */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;
         !(x->served_since_restart[0] && x->served_since_restart[1]) && it_now_ms() < end;)
        turn(x);
    int absent = !x->served_since_restart[0] ? 0 : !x->served_since_restart[1] ? 1 : -1;
    x->submitting = false;
    uint64_t end = it_now_ms() + IT_WAIT_MS;
    for (size_t left = 1; left;) {
        left = 0;
        for (size_t i = 0; i < x->n_refs; i++)
            left += x->refs[i].state != REF_ACCEPTED;
        if (left && it_now_ms() > end)
            it_fail("%zu submissions never accepted within %d ms", left, IT_WAIT_MS);
        if (left)
            run_for(x, 10);
    }
    while (x->n_live) /* the last dedup checks */
        turn(x);

    /* every tracking number given: closed, answered as a worker answered it */
    for (uint32_t i = 0; i < x->n_refs; i++)
        fifo_push(&x->polls, i, 0);
    x->progress = it_now_ms();
    while (x->n_verified < x->n_refs) {
        if (it_now_ms() - x->progress > IT_WAIT_MS) {
            uint32_t ref = fifo_pop(&x->polls, UINT64_MAX);
            it_fail("%zu requests still open %d ms after the last one closed, e.g. tracking "
                    "%" PRIu64 " (crash-%" PRIu32 ")%s",
                    x->n_refs - x->n_verified, IT_WAIT_MS,
                    ref == NONE ? 0 : x->refs[ref].tracking, ref,
                    absent >= 0 ? "; a worker did not register again after the last restart"
                                : "");
        }
        turn(x);
    }

    /* every delivery a worker got belongs to a tracking number given (no
     * request made twice), is its request's target, and a confirmed answer
     * is in the store */
    for (uint64_t id = 1; id < x->dels_cap; id++) {
        const del_t *dl = &x->dels[id];
        if (!dl->tracking) {
            if (dl->confirmed >= 0)
                it_fail("delivery %" PRIu64 ": an answer confirmed for a delivery never seen",
                        id);
            continue;
        }
        uint32_t ref = ref_of_tracking(x, dl->tracking);
        if (ref == NONE || ref != dl->ref)
            it_fail("delivery %" PRIu64 " is of tracking %" PRIu64 " (crash-%" PRIu32 "), a "
                    "tracking number the client was not given for it: a request made twice",
                    id, dl->tracking, dl->ref);
        if (!dl->verified)
            it_fail("delivery %" PRIu64 " of tracking %" PRIu64 " is not in its closed status%s",
                    id, dl->tracking, dl->confirmed >= 0 ? ", yet its answer was confirmed" : "");
    }
    for (uint64_t t = 1; t < x->outcome_cap; t++) {
        if (!x->outcome_del[t])
            continue;
        uint32_t ref = ref_of_tracking(x, t);
        if (ref == NONE)
            it_fail("an outcome of tracking %" PRIu64 ", a number the client was never given", t);
        if (x->refs[ref].delivery != x->outcome_del[t])
            it_fail("the outcome of tracking %" PRIu64 " names delivery %" PRIu64
                    ", its status %" PRIu64,
                    t, x->outcome_del[t], x->refs[ref].delivery);
    }

    fprintf(stderr,
            "crash test: %zu kills (%zu with submissions in flight) in %.1f s; %zu requests "
            "accepted (%zu duplicate replies, %zu resubmissions after a crash, %zu dedup "
            "checks), %zu delivers (%zu again), %zu answers confirmed, %zu stale commands "
            "refused, %zu outcomes received, %zu cancels, %zu status queries\n",
            x->kills, x->kills_in_flight, (double)(it_now_ms() - t0) / 1000, x->accepted,
            x->duplicates, x->resent, x->dup_checks, x->delivers, x->redelivers, x->confirmed,
            x->stale_answers, x->outcomes, x->cancels, x->statuses);
    if (absent >= 0)
        it_fail("after the last restart, worker %d got no delivery within %d ms of load: it did "
                "not register again (the other served %s)",
                absent, IT_WAIT_MS, x->served_since_restart[!absent] ? "it" : "nothing either");
    free(x->refs);
    free(x->seqs);
    free(x->dels);
    free(x->track_ref);
    free(x->outcome_del);
    free(x->resend.v);
    free(x->polls.v);
    free(x);
    the_test = NULL;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_crash, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

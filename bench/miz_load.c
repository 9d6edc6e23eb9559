/* miz_load.c: miz end to end, the load generator and its workers.
 *
 * One client submits and counts outcomes on one socket in one thread (its
 * replies matched through "accepted", which links a seq to a tracking
 * number), while N agency workers, each a thread with a miz_worker_t, ack
 * and answer every delivery, as a real agency service does. bench_miz runs
 * a store mode's rows against one daemon: pipelined with 1, 4 and 16
 * workers, then paced, taking turns with the references. */
#define _GNU_SOURCE /* usleep, which POSIX 2008 left out */

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

const unsigned worker_counts[N_WORKER_COUNTS] = {1, 4, 16};

/* ---- agency workers ---- */

/* Acks, then answers, every delivery: the two messages a real worker sends
 * (registered quiet, as a busy one would, unless --confirm). */
static int worker_handle(miz_worker_t *w, crew_t *crew, const miz_msg_t *m)
{
    uint64_t id;
    size_t n;
    if (miz_msg_is(m, "deliver")) {
        if (miz_msg_uint(m, "delivery", &id) < 0)
            return fail("a delivery without an id");
        if (miz_worker_ack(w, id) < 0 || miz_worker_answer(w, id, "done", NULL) < 0)
            return fail("worker send: %s", zmq_strerror(errno));
        return 0;
    }
    if (miz_msg_is(m, "registered"))
        atomic_fetch_add(&crew->registered, 1);
    if (miz_msg_is(m, "error") && crew->failover) {
        atomic_fetch_add(&crew->errors, 1);
    } else if (miz_msg_is(m, "error")) {
        const char *code = miz_msg_str(m, "code", &n);
        return fail("worker got error %.*s", code ? (int)n : 1, code ? code : "?");
    }
    return 0; /* with --confirm, "ok" for each ack and answer */
}

static void *worker_main(void *arg)
{
    crew_t *crew = arg;
    miz_worker_opts_t o = {
        .agency = AGENCY, .credit = crew->credit, .curve = crew->curve, .quiet = !crew->confirm};
    miz_worker_t *w = miz_worker_new(crew->zctx, crew->endpoint, &o);
    bool ok = w != NULL;
    if (!w)
        fail("cannot start a worker: %s", zmq_strerror(errno));
    while (ok && !atomic_load(&crew->stop)) {
        miz_msg_t *m;
        /* a short timeout only so that stop is noticed */
        if (miz_worker_recv(w, 100, &m) < 0) {
            if (errno != EAGAIN)
                ok = fail("worker receive: %s", zmq_strerror(errno)) == 0;
            continue;
        }
        ok = worker_handle(w, crew, m) == 0;
        miz_msg_destroy(&m);
    }
    if (!ok)
        atomic_store(&crew->failed, true);
    miz_worker_destroy(&w);
    return NULL;
}

void crew_stop(crew_t *crew, pthread_t *threads, unsigned n)
{
    atomic_store(&crew->stop, true);
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

/* Starts n workers and waits until the daemon has registered them all. */
int crew_start(crew_t *crew, pthread_t *threads, unsigned n)
{
    atomic_store(&crew->stop, false);
    atomic_store(&crew->registered, 0);
    atomic_store(&crew->failed, false);
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, worker_main, crew) != 0) {
            crew_stop(crew, threads, i);
            return fail("cannot start worker thread %u", i);
        }
    uint64_t until = now_ns() + START_TIMEOUT_MS * 1000000ULL;
    while (atomic_load(&crew->registered) < n && !atomic_load(&crew->failed) && now_ns() < until)
        usleep(1000);
    if (atomic_load(&crew->registered) == n)
        return 0;
    crew_stop(crew, threads, n);
    return fail("%u of %u workers registered", atomic_load(&crew->registered), n);
}

/* ---- the miz client ---- */

static int miz_begin(void *ctx, uint32_t count)
{
    mizload_t *x = ctx;
    if (count > x->cap) {
        uint32_t *p = realloc(x->by_track, count * sizeof *p);
        if (!p)
            return fail("out of memory for %u requests", count);
        x->by_track = p;
        x->cap = count;
    }
    memset(x->by_track, 0xff, count * sizeof *x->by_track);
    x->count = count;
    x->have_track0 = false;
    x->seq0 = UINT64_MAX; /* until request 0 is sent, every reply is stale */
    return 0;
}

int miz_send(void *ctx, uint32_t i)
{
    mizload_t *x = ctx;
    uint64_t seq;
    if (miz_client_send_submit(x->client, &x->submit, &seq) < 0)
        return -1;
    x->submitted++;
    if (i == 0)
        x->seq0 = seq;
    return 0;
}

/* The slot of a tracking number in by_track, or NULL if it is not this run's. */
static uint32_t *track_slot(mizload_t *x, uint64_t tracking)
{
    if (!x->have_track0 || tracking - x->track0 >= x->count)
        return NULL;
    return &x->by_track[tracking - x->track0];
}

int reply_error(const miz_msg_t *m)
{
    size_t n = 0, k = 0;
    const char *code = miz_msg_str(m, "code", &n), *msg = miz_msg_str(m, "message", &k);
    return fail("mizd replied error %.*s: %.*s", (int)n, code ? code : "", (int)k, msg ? msg : "");
}

/* 1 and *i: the outcome of request i; 2 and *i: its receipt; 0: nothing
 * to count; -1: error. */
static int miz_reply(mizload_t *x, const miz_msg_t *m, uint32_t *i)
{
    uint64_t re, tracking;
    bool has_re = miz_msg_uint(m, "re", &re) == 0;
    if (has_re && re < x->seq0)
        return 0; /* a late answer to the start-up probe */
    if (miz_msg_is(m, "accepted")) {
        if (!has_re || re - x->seq0 >= x->count || miz_msg_uint(m, "tracking", &tracking) < 0)
            return fail("\"accepted\" for no request of this run");
        if (!x->have_track0) /* replies come in order: the first is the lowest */
            x->track0 = tracking, x->have_track0 = true;
        uint32_t *slot = track_slot(x, tracking);
        if (!slot)
            return fail("tracking %llu out of this run's range", (unsigned long long)tracking);
        *i = *slot = (uint32_t)(re - x->seq0);
        return 2;
    }
    if (miz_msg_is(m, "outcome")) {
        uint32_t *slot = miz_msg_uint(m, "tracking", &tracking) == 0 ? track_slot(x, tracking)
                                                                     : NULL;
        if (!slot || *slot == UINT32_MAX)
            return fail("outcome for a request never accepted");
        *i = *slot;
        *slot = UINT32_MAX;
        return 1;
    }
    return miz_msg_is(m, "error") ? reply_error(m) : 0;
}

static int miz_recv(void *ctx, uint32_t *i)
{
    mizload_t *x = ctx;
    miz_msg_t *m;
    while (miz_client_recv(x->client, 0, &m) == 0) {
        int rc = miz_reply(x, m, i);
        miz_msg_destroy(&m);
        if (rc != 0)
            return rc;
    }
    return errno == EAGAIN ? 0 : -1;
}

/* One run with n workers: they start, the load runs, they say goodbye. A
 * paced run takes turns with the references' (into ref_st[]). */
static int miz_with_workers(const load_t *ld, crew_t *crew, const char *label, unsigned n,
                            const plan_t *plan, stats_t *st, const load_t *refs, stats_t *ref_st)
{
    char name[64];
    pthread_t threads[MAX_WORKERS];
    if (n > MAX_WORKERS)
        return fail("at most %d workers", MAX_WORKERS);
    if (crew_start(crew, threads, n) < 0)
        return -1;
    if (plan->rate > 0)
        snprintf(name, sizeof name, "miz %s, %2u worker%s, %.0f/s", label, n, n == 1 ? "" : "s",
                 plan->rate);
    else
        snprintf(name, sizeof name, "miz %s, %2u worker%s, window %u", label, n,
                 n == 1 ? "" : "s", plan->window);
    int rc = plan->rate > 0 ? measure_paced(refs, ld, plan, name, ref_st, st)
                            : measure(ld, plan, name, st);
    crew_stop(crew, threads, n);
    if (rc == 0 && atomic_load(&crew->failed))
        rc = fail("a worker failed");
    return rc;
}

/* A store mode's runs against its daemon, d, started: pipelined with each
 * worker count, then paced, taking turns with the references. */
static int miz_runs(void *zctx, const opts_t *o, daemon_t *d, const store_mode_t *sm,
                    const keys_t *keys, const pid_t *store, const load_t *refs, miz_stats_t *st)
{
    miz_client_t *c = miz_client_new_curve(zctx, d->clients, sm->curve ? &keys->gateway_curve : NULL);
    int rc = c ? daemon_wait(d, c) : fail("cannot connect: %s", zmq_strerror(errno));
    if (rc == 0) {
        mizload_t x = {.client = c, .submit = {.topic = TOPIC, .text = payload_text}};
        load_t ld = {.socket = miz_client_socket(c), .begin = miz_begin, .send = miz_send,
                     .recv = miz_recv, .ctx = &x, .daemon = d->pid,
                     .store = {store[0], store[1]}};
        crew_t crew = {.zctx = zctx, .endpoint = d->workers,
                       .curve = sm->curve ? &keys->worker_curve : NULL, .confirm = o->confirm,
                       .credit = o->credit};
        plan_t pipelined = {.count = o->count, .window = MIZ_WINDOW}, paced = paced_plan(o);
        for (size_t i = 0; rc == 0 && i < N_WORKER_COUNTS; i++)
            rc = miz_with_workers(&ld, &crew, sm->label, worker_counts[i], &pipelined,
                                  &st->thr[i], NULL, NULL);
        commit_figures_t before, after;
        bool timed = rc == 0 && (sm->disk || sm->pg) && daemon_commits(zctx, d, &before) == 0;
        uint64_t sent = x.submitted;
        if (rc == 0)
            rc = miz_with_workers(&ld, &crew, sm->label, LATENCY_WORKERS, &paced, &st->lat, refs,
                                  st->ref);
        if (rc == 0 && timed && daemon_commits(zctx, d, &after) == 0)
            print_commits(&before, &after, x.submitted - sent);
        free(x.by_track);
    }
    miz_client_destroy(&c);
    return rc;
}

/* A store mode from its start to its end: its keys or its PostgreSQL, the
 * store's commits timed alone, its daemon and runs; then everything it
 * made is removed. */
int bench_miz(void *zctx, const opts_t *o, const char *dir, const store_mode_t *sm,
              const load_t *refs, miz_stats_t *st)
{
    daemon_t d = {0};
    keys_t keys = {0};
    pg_bench_t pg = {0};
    char dsn[512];
    daemon_conf_t conf = {.config = o->config, .disk = sm->disk, .log_level = "warn"};
    int rc = 0;
    if (sm->curve && (rc = make_keys(&keys, o, dir)) == 0)
        conf.config = keys.config;
    if (rc == 0 && sm->pg && (rc = pg_bench_start(&pg, sm->pg > 1)) == 0) {
        /* a database for the commits timed alone, another for the daemon:
         * each starts empty, as the disk daemon's store does */
        rc = pg_bench_db(&pg, dsn, sizeof dsn) < 0 || bench_commits(dir, dsn, &st->commit) < 0 ||
                     pg_bench_db(&pg, dsn, sizeof dsn) < 0
                 ? -1
                 : 0;
        conf.dsn = dsn;
    } else if (rc == 0 && sm->disk) {
        rc = bench_commits(dir, NULL, &st->commit);
    }
    if (rc == 0)
        rc = daemon_start(&d, o, dir, &conf);
    if (rc == 0)
        rc = miz_runs(zctx, o, &d, sm, &keys, pg.pids, refs, st);
    if (daemon_stop(&d) < 0)
        rc = -1;
    remove_store(d.data);
    pg_bench_stop(&pg);
    if (sm->curve)
        remove_keys(&keys, dir);
    return rc;
}

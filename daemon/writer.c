/* writer: a batch of store writes, and the thread that commits it.
 *
 * The batch is a flat buffer of ops ([op][fields][row][bytes]...) the loop
 * appends as it encodes a turn's requests, so handing it over copies
 * nothing and the thread touches no engine object. The thread waits on a
 * condition variable for a batch, commits it in one store transaction, and
 * writes a byte to a pipe the loop watches; writer_idle reads that byte and
 * says the batch is done. writer.h gives the thread contract. */
#include "writer.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

enum { OP_OPEN, OP_CLOSED, OP_REF };

struct writer {
    store_t *store;
    bool threaded;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t wake;    /* a batch, or stop, for the thread */
    pthread_cond_t settled; /* the batch is done, for writer_destroy */
    batch_t *batch; /* handed over and not yet collected by the loop */
    bool done;      /* the thread has committed it */
    bool stop;
    int fds[2]; /* the thread writes a byte to [1] per batch done; the loop reads [0] */
};

/* ---- the batch ---- */

static void batch_write(batch_t *b, const void *p, size_t n)
{
    if (msgpack_sbuffer_write(&b->ops, p, n) < 0) {
        log_line(LOG_ERROR, "out of memory growing a commit's batch");
        abort();
    }
}

static void batch_u64(batch_t *b, uint64_t v)
{
    batch_write(b, &v, sizeof v);
}

/* bytes, after their length */
static void batch_bytes(batch_t *b, const void *p, size_t n)
{
    uint32_t len = (uint32_t)n;
    batch_write(b, &len, sizeof len);
    batch_write(b, p, n);
}

static void batch_op(batch_t *b, uint8_t op)
{
    batch_write(b, &op, 1);
    b->n_ops++;
}

void batch_init(batch_t *b)
{
    memset(b, 0, sizeof *b);
    msgpack_sbuffer_init(&b->ops);
    msgpack_packer_init(&b->pk, &b->ops, msgpack_sbuffer_write);
}

void batch_clear(batch_t *b)
{
    msgpack_sbuffer_clear(&b->ops);
    b->n_ops = 0;
    b->status = STORE_OK;
    b->err[0] = '\0';
}

void batch_fini(batch_t *b)
{
    msgpack_sbuffer_destroy(&b->ops);
}

static void batch_row(batch_t *b, const store_row_t *r)
{
    batch_u64(b, r->created);
    batch_u64(b, r->answer_by);
    batch_write(b, &r->overdue, 1);
    batch_bytes(b, r->topic, r->topic_len);
    batch_bytes(b, r->agency, r->agency_len);
    batch_bytes(b, r->state, r->state_len);
}

/* The record's length comes first; it is written once the record is. */
static msgpack_packer *batch_record_begin(batch_t *b)
{
    uint32_t len = 0;
    batch_write(b, &len, sizeof len);
    b->record_at = b->ops.size;
    return &b->pk;
}

msgpack_packer *batch_open_begin(batch_t *b, uint64_t tracking, const store_row_t *row)
{
    batch_op(b, OP_OPEN);
    batch_u64(b, tracking);
    batch_row(b, row);
    return batch_record_begin(b);
}

msgpack_packer *batch_closed_begin(batch_t *b, uint64_t tracking, uint64_t closed_at,
                                   const char *ref, size_t ref_len, const store_row_t *row)
{
    batch_op(b, OP_CLOSED);
    batch_u64(b, tracking);
    batch_u64(b, closed_at);
    batch_bytes(b, ref ? ref : "", ref ? ref_len : 0);
    batch_row(b, row);
    return batch_record_begin(b);
}

void batch_record_end(batch_t *b)
{
    uint32_t len = (uint32_t)(b->ops.size - b->record_at);
    memcpy(b->ops.data + b->record_at - sizeof len, &len, sizeof len);
}

void batch_put_ref(batch_t *b, const char *ref, size_t ref_len, uint64_t tracking,
                   uint64_t created)
{
    batch_op(b, OP_REF);
    batch_u64(b, tracking);
    batch_u64(b, created);
    batch_bytes(b, ref, ref_len);
}

/* A reader of the ops, which the loop wrote and so trusts. */
typedef struct {
    const char *p;
} ops_t;

static uint64_t ops_u64(ops_t *o)
{
    uint64_t v;
    memcpy(&v, o->p, sizeof v);
    o->p += sizeof v;
    return v;
}

static const char *ops_bytes(ops_t *o, size_t *n)
{
    uint32_t len;
    memcpy(&len, o->p, sizeof len);
    const char *p = o->p + sizeof len;
    o->p = p + len;
    *n = len;
    return p;
}

static void ops_row(ops_t *o, store_row_t *r)
{
    r->created = ops_u64(o);
    r->answer_by = ops_u64(o);
    r->overdue = *o->p++ != 0;
    r->topic = ops_bytes(o, &r->topic_len);
    r->agency = ops_bytes(o, &r->agency_len);
    r->state = ops_bytes(o, &r->state_len);
}

static store_status_t batch_apply_op(store_t *s, ops_t *o)
{
    uint8_t op = (uint8_t)*o->p++;
    uint64_t tracking = ops_u64(o);
    size_t n, ref_len;
    const char *rec, *ref;
    store_row_t row;
    switch (op) {
    case OP_OPEN:
        ops_row(o, &row);
        rec = ops_bytes(o, &n);
        return store_put_open(s, tracking, &row, rec, n);
    case OP_CLOSED: {
        uint64_t closed_at = ops_u64(o);
        ref = ops_bytes(o, &ref_len);
        ops_row(o, &row);
        rec = ops_bytes(o, &n);
        return store_put_closed(s, tracking, closed_at, ref_len ? ref : NULL, ref_len, &row, rec,
                                n);
    }
    default: {
        uint64_t created = ops_u64(o);
        ref = ops_bytes(o, &ref_len);
        return store_put_ref(s, ref, ref_len, tracking, created);
    }
    }
}

static uint64_t batch_clock_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

/* Commits b in one transaction, its outcome in b. */
static void batch_commit(store_t *s, batch_t *b)
{
    uint64_t began = batch_clock_us();
    ops_t o = {b->ops.data};
    const char *end = b->ops.data + b->ops.size;
    store_status_t st = store_begin(s);
    while (st == STORE_OK && o.p < end)
        st = batch_apply_op(s, &o);
    if (st == STORE_OK)
        st = store_put_counters(s, &b->counters);
    if (st == STORE_OK)
        st = store_commit(s);
    else
        store_abort(s);
    b->status = st;
    if (st != STORE_OK)
        snprintf(b->err, sizeof b->err, "%s", store_write_error(s));
    b->took_us = batch_clock_us() - began;
}

/* ---- the thread ---- */

static void *writer_main(void *arg)
{
    writer_t *w = arg;
    pthread_mutex_lock(&w->lock);
    for (;;) {
        while (!w->stop && (!w->batch || w->done))
            pthread_cond_wait(&w->wake, &w->lock);
        if (w->stop)
            break;
        batch_t *b = w->batch;
        pthread_mutex_unlock(&w->lock);
        batch_commit(w->store, b);
        pthread_mutex_lock(&w->lock);
        w->done = true;
        pthread_cond_signal(&w->settled);
        char one = 1;
        while (write(w->fds[1], &one, 1) < 0 && errno == EINTR)
            ;
    }
    pthread_mutex_unlock(&w->lock);
    return NULL;
}

writer_t *writer_new(store_t *store, bool threaded, char *err, size_t errlen)
{
    writer_t *w = calloc(1, sizeof *w);
    if (!w) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    w->store = store;
    w->fds[0] = w->fds[1] = -1;
    if (!threaded)
        return w;
    if (pipe(w->fds) < 0 || fcntl(w->fds[0], F_SETFL, O_NONBLOCK) < 0 ||
        fcntl(w->fds[0], F_SETFD, FD_CLOEXEC) < 0 || fcntl(w->fds[1], F_SETFD, FD_CLOEXEC) < 0) {
        snprintf(err, errlen, "cannot make the commit thread's pipe: %s", strerror(errno));
        writer_destroy(&w);
        return NULL;
    }
    pthread_mutex_init(&w->lock, NULL);
    pthread_cond_init(&w->wake, NULL);
    pthread_cond_init(&w->settled, NULL);
    int rc = pthread_create(&w->thread, NULL, writer_main, w);
    if (rc) {
        snprintf(err, errlen, "cannot start the commit thread: %s", strerror(rc));
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->settled);
        writer_destroy(&w);
        return NULL;
    }
    w->threaded = true;
    return w;
}

int writer_fd(const writer_t *w)
{
    return w->threaded ? w->fds[0] : -1;
}

void writer_start(writer_t *w, batch_t *b)
{
    if (!w->threaded) {
        batch_commit(w->store, b);
        return;
    }
    pthread_mutex_lock(&w->lock);
    w->batch = b;
    w->done = false;
    pthread_cond_signal(&w->wake);
    pthread_mutex_unlock(&w->lock);
}

bool writer_busy(writer_t *w)
{
    if (!w->threaded)
        return false;
    pthread_mutex_lock(&w->lock);
    bool busy = w->batch != NULL;
    pthread_mutex_unlock(&w->lock);
    return busy;
}

bool writer_collect(writer_t *w)
{
    if (!w->threaded)
        return false;
    pthread_mutex_lock(&w->lock);
    bool done = w->batch && w->done;
    if (done) {
        char buf[16];
        while (read(w->fds[0], buf, sizeof buf) > 0)
            ;
        w->batch = NULL;
    }
    pthread_mutex_unlock(&w->lock);
    return done;
}

void writer_destroy(writer_t **wp)
{
    writer_t *w = *wp;
    if (!w)
        return;
    if (w->threaded) {
        pthread_mutex_lock(&w->lock);
        while (w->batch && !w->done) /* the batch in flight lands first */
            pthread_cond_wait(&w->settled, &w->lock);
        w->stop = true;
        pthread_cond_signal(&w->wake);
        pthread_mutex_unlock(&w->lock);
        pthread_join(w->thread, NULL);
        pthread_mutex_destroy(&w->lock);
        pthread_cond_destroy(&w->wake);
        pthread_cond_destroy(&w->settled);
    }
    for (int i = 0; i < 2; i++)
        if (w->fds[i] >= 0)
            close(w->fds[i]);
    free(w);
    *wp = NULL;
}

/* writer: the store's commits, off the event loop.
 *
 * A turn's changes are encoded by the loop into a batch (the records as the
 * engine packed them, the client references, the counters) and committed by
 * the writer on a thread of its own, so the loop goes on reading and staging
 * the next turn while the disk syncs. At most one batch is in flight; the
 * loop learns it is done from a file descriptor that becomes readable
 * (writer_fd), and only then sends what that turn promised.
 *
 * The thread contract of the store: while a batch is in flight the writer's
 * thread is the only one that writes; the loop keeps its reads (status,
 * snapshots, client_ref look-ups) and does everything else (growing the map,
 * reopening after a failure, the purge) only while no batch is in flight.
 * Without a thread (inline: tests, and a store-less engine) a batch is
 * committed at once on the caller's thread. */
#ifndef MIZ_WRITER_H
#define MIZ_WRITER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store.h"

typedef struct writer writer_t;

/* A batch: the ops to commit, in order, then the counters. */
typedef struct {
    msgpack_sbuffer ops;
    msgpack_packer pk; /* over ops: a record is packed in place */
    size_t record_at;  /* where the record being packed begins, after its length */
    store_counters_t counters;
    size_t n_ops;
    /* the outcome, once done */
    uint64_t took_us; /* the commit, timed on the thread that made it */
    store_status_t status;
    char err[256];
} batch_t;

void batch_init(batch_t *b);
void batch_clear(batch_t *b);
void batch_fini(batch_t *b);
/* An op on a request, with its summary (copied): the caller packs its
 * record through the packer returned, in place, then calls batch_record_end. */
msgpack_packer *batch_open_begin(batch_t *b, uint64_t tracking, const store_row_t *row);
msgpack_packer *batch_closed_begin(batch_t *b, uint64_t tracking, uint64_t closed_at,
                                   const char *ref, size_t ref_len, const store_row_t *row);
void batch_record_end(batch_t *b);
void batch_put_ref(batch_t *b, const char *ref, size_t ref_len, uint64_t tracking,
                   uint64_t created);

/* threaded: commit on a thread of the writer's own; else inline. NULL with
 * err when the thread or its pipe cannot be made. */
writer_t *writer_new(store_t *store, bool threaded, char *err, size_t errlen);
/* Readable when the batch in flight is done; -1 inline. */
int writer_fd(const writer_t *w);
/* Commits b (which stays the caller's, untouched until collected): inline,
 * before it returns (nothing to collect then). */
void writer_start(writer_t *w, batch_t *b);
/* Whether a batch is in flight (started and not yet collected). */
bool writer_busy(writer_t *w);
/* Takes back the batch in flight if it is done (draining the fd): true
 * then, and its outcome is in the batch. */
bool writer_collect(writer_t *w);
/* Waits for the batch in flight, if any, and ends the thread. */
void writer_destroy(writer_t **w);

#endif

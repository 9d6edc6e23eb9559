/* store: the broker's durable state, in LMDB or in PostgreSQL.
 *
 * The store knows records, not requests: the broker encodes each request
 * (with its deliveries and their history) as one opaque record and writes
 * every request that changed in a loop turn in one transaction, committed
 * (fsync'd) before anything that turn produced is sent (group commit).
 *
 * Open requests live under their tracking number until they close; closed
 * ones move to a second table with an expiry index, so recovery reads only
 * what is open and the purge of old closed requests walks an index in
 * closing order. Client references map to tracking numbers for idempotent
 * submission. Layout and the reasons for LMDB are in docs/storage.md.
 *
 * Which store it is, the broker does not know: store.c hands each call to
 * the store opened (store_backend.h). A PostgreSQL store may be shared by
 * several mizd, of which one holds the lease and the others wait (docs/ha.md). */
#ifndef MIZ_STORE_H
#define MIZ_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "table.h" /* store_kind_t */

#define STORE_VERSION 1

typedef struct store store_t;

/* What a failed write means for the caller. */
typedef enum {
    STORE_OK = 0,
    STORE_RETRY = 1, /* the map was full: store_prepare grows it, then write the same again */
    STORE_FAILED = 2, /* disk full, I/O error, ...: store_error() says what */
    STORE_DEPOSED = 3 /* another mizd holds the lease now: nothing was written */
} store_status_t;

typedef struct {
    store_kind_t kind;
    const char *dir; /* LMDB: the data directory */
    const char *dsn; /* PostgreSQL: a libpq connection string */
} store_conf_t;

/* Opens (creating if needed) the store. A file or a database that is not a
 * miz store, is corrupt or of another version is an error naming it: the
 * store never starts empty over data it cannot read. */
store_t *store_open(const store_conf_t *conf, char *err, size_t errlen);
void store_destroy(store_t **store);
/* The data file, for messages. */
const char *store_path(const store_t *s);

/* The numbers the broker hands out next (all 1 for a new store). */
typedef struct {
    uint64_t tracking, delivery, event;
} store_counters_t;

int store_counters(store_t *s, store_counters_t *next);

/* What people query a request by in a store they can read with SQL
 * (docs/storage.md), beside its record: its first delivery's agency and
 * state, its deadline. Strings need not end in NUL; NULL: none. */
typedef struct {
    const char *topic, *agency, *state;
    size_t topic_len, agency_len, state_len;
    uint64_t created, answer_by; /* wall ms; answer_by 0: no deadline */
    bool overdue;
} store_row_t;

/* ---- one write transaction ---- */
store_status_t store_begin(store_t *s);
/* row may be NULL (no summary) */
store_status_t store_put_open(store_t *s, uint64_t tracking, const store_row_t *row,
                              const void *rec, size_t len);
/* Moves the request to the closed table; ref (may be NULL) goes into the
 * expiry index so the purge can drop it too. */
store_status_t store_put_closed(store_t *s, uint64_t tracking, uint64_t closed_at,
                                const char *ref, size_t ref_len, const store_row_t *row,
                                const void *rec, size_t len);
store_status_t store_put_ref(store_t *s, const char *ref, size_t ref_len, uint64_t tracking,
                             uint64_t at);
store_status_t store_put_counters(store_t *s, const store_counters_t *next);
store_status_t store_commit(store_t *s);
void store_abort(store_t *s);
/* The last failure, e.g. "/var/lib/miz/data.mdb: No space left on device". */
const char *store_error(const store_t *s);
/* The last failed write's problem (the write path keeps its own: it may run
 * on another thread than the reads, writer.h). */
const char *store_write_error(const store_t *s);
/* Before a write, with none in flight and on the thread that reads: grows
 * the map after a STORE_RETRY, opens the environment again after a failure
 * that left it unusable (ending the scans' reads either way). -1 with
 * store_write_error when that fails. */
int store_prepare(store_t *s);

/* Whether a read is a round trip to a server (PostgreSQL) rather than a
 * page in memory (LMDB): what is read often then stays in mizd's memory. */
bool store_remote(const store_t *s);

/* ---- reads (never inside a write transaction) ---- */
typedef int store_record_fn(const void *rec, size_t len, void *arg);

/* Calls fn on every open record in tracking order; stops at fn's first
 * non-zero return, which it returns. -1 on a read error. */
int store_each_open(store_t *s, store_record_fn *fn, void *arg);
/* Takes the data file's pages out of mizd's memory map by closing and
 * opening the environment again (LMDB does not say where its map is): they
 * stay in the page cache, but no longer count in mizd's RSS. For after
 * store_each_open, which maps every page of the open table. -1 (with
 * store_error) when the environment does not open again. */
int store_unmap(store_t *s);
/* Calls fn on the record of tracking, open or closed. 1 found (after fn),
 * 0 unknown, -1 read error. */
int store_get(store_t *s, uint64_t tracking, store_record_fn *fn, void *arg);
/* A read of the records spread over many turns (a snapshot of a large
 * store must not stall the loop): it sees the store as it was when it
 * began, whatever is committed meanwhile. The store ends its scans when it
 * must close or grow its map; their next call then fails. Destroy every
 * scan before the store. */
typedef struct store_scan store_scan_t;
/* Every open record in tracking order, then every closed one that closed
 * at or after since, in closing order. NULL on a read error (store_error). */
store_scan_t *store_scan(store_t *s, uint64_t since);
/* Calls fn on the next records, at most max. 1: there are more; 0: that
 * was the last; -1: a read error (store_error), a scan the store has ended,
 * or fn's non-zero return, which stops it. */
int store_scan_next(store_scan_t *scan, size_t max, store_record_fn *fn, void *arg);
void store_scan_destroy(store_scan_t **scan);
/* 1 and the tracking number and time a client_ref was first used, 0 if
 * unknown, -1 on a read error. */
int store_find_ref(store_t *s, const char *ref, size_t ref_len, uint64_t *tracking,
                   uint64_t *at);
/* Calls fn on every client_ref (as stored: the engine's ref key) first used
 * at or after since (wall ms), in no particular order; stops at fn's first
 * non-zero return, which it returns. -1 on a read error, or when the store
 * does not list its refs (store_lists_refs). For a remote store, which
 * then asks the server only about refs it has seen (daemon/refcache.c). */
typedef int store_ref_fn(const void *ref, size_t ref_len, void *arg);
int store_each_ref_since(store_t *s, uint64_t since, store_ref_fn *fn, void *arg);
/* Whether store_each_ref_since can list the store's refs. */
bool store_lists_refs(const store_t *s);

/* Deletes at most max closed requests that closed before `before`, with
 * their client_refs, in a transaction of its own. The number deleted, or -1. */
long store_purge(store_t *s, uint64_t before, size_t max);

/* ---- the lease: which of the mizd sharing a store is active ---- */

typedef struct {
    uint64_t epoch;       /* raised by every take-over */
    char holder[128];     /* who holds it */
    uint64_t expires_in;  /* ms until it expires, unless renewed */
} store_lease_t;

/* Whether several mizd may share the store (then one holds the lease). */
bool store_shared(const store_t *s);
/* Takes the lease for holder when it is free or expired, for first_ms
 * (time to recover before the first commit): 1, with a new epoch in *l;
 * from then on every commit checks that epoch in its own transaction and
 * renews the lease for lease_ms, and fails with STORE_DEPOSED, writing
 * nothing, once another mizd took it. 0 when another holds it (*l says who,
 * and for how long); -1 on an error (store_error). A store that is not
 * shared: 1, epoch 0. On the loop's thread, with no write in flight. */
int store_lease_take(store_t *s, const char *holder, uint64_t first_ms, uint64_t lease_ms,
                     store_lease_t *l);

/* ---- mizd --check-store ---- */

/* Decodes one record as recovery would (the engine's checks): NULL when it
 * does, else what does not fit; its tracking number and its highest
 * delivery id (0 if none) in *tracking and *max_delivery. */
typedef const char *store_record_check_fn(const void *rec, size_t len, uint64_t *tracking,
                                          uint64_t *max_delivery, void *arg);
/* An offline walk of the store in dir, which no mizd may have open: data.mdb's
 * header, every table and every key, every record of open and closed through
 * check, the counters against the highest tracking number and delivery id.
 * Writes one line per problem to out, or one "ok" line; creates nothing.
 * The number of problems found. */
long store_check(const char *dir, store_record_check_fn *check, void *arg, FILE *out);

#endif

/* store_lmdb: what the LMDB store's files share (store_lmdb.c, the tables
 * and the transactions; store_file.c, data.mdb's header checked before LMDB
 * maps it; store_check.c, the walk of every table). Nothing outside the
 * store includes it: the rest of mizd sees store.h. */
#ifndef MIZ_STORE_LMDB_H
#define MIZ_STORE_LMDB_H

#include <lmdb.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "store_backend.h"

#define STORE_MAX_DBS 8

enum { DB_META, DB_OPEN, DB_CLOSED, DB_EXPIRY, DB_REFS, DB_COUNT };
extern const char *const store_db_names[DB_COUNT];

typedef struct lmdb lmdb_t;
typedef struct lmdb_scan lmdb_scan_t;

struct lmdb_scan {
    store_scan_t b;
    lmdb_t *store;
    lmdb_scan_t *next;
    bool ended; /* by the store: its transaction is gone */
    MDB_txn *txn;
    MDB_cursor *open, *closed;
    bool open_done, started;
    unsigned char from[16];
};

struct lmdb {
    store_t b;
    MDB_env *env;
    MDB_txn *txn;         /* the write transaction of this turn, if one is open */
    lmdb_scan_t *scans;   /* each with a read transaction open */
    MDB_dbi dbi[DB_COUNT];
    size_t map_size;
    int lock_fd;     /* mizd.lock, held while open: one mizd per store */
    char dir[4096];
    /* b.path is the data file. What the write path leaves for the loop to
     * do while no write is in flight (writer.h): */
    bool grow;   /* the map was full: double it */
    bool reopen; /* the environment is unusable (MDB_PANIC): open it again */
};

/* Writes "PATH: what: LMDB's words for rc" into s->b.err; returns rc. */
int store_fail(lmdb_t *s, int rc, const char *what);
/* The same into buf (the write path's own). */
int store_fail_into(lmdb_t *s, char *buf, size_t len, int rc, const char *what);
/* The counters as stored: 16 bytes (before the event stream) or 24. */
bool store_counters_decode(const void *v, size_t len, store_counters_t *next);

/* ---- store_file.c: data.mdb's header, before LMDB maps it ---- */

/* Checks path before LMDB maps it: 1 when it does not exist (a new store),
 * 0 when its meta pages, its size and its tables' roots are sane, -1 with
 * the problem in err (naming path) when LMDB would fault, assert or open an
 * older state than the newest. */
int store_file_check(const char *path, char *err, size_t errlen);

/* ---- store_check.c: every table walked ---- */

typedef struct {
    const char *path;
    MDB_txn *txn;           /* a read transaction */
    const MDB_dbi *dbi;     /* the five tables */
    bool all;               /* every table, records checked by check; else what start needs */
    store_record_check_fn *check;
    void *arg;
    FILE *out;              /* all: one line per problem; else NULL, the first stops */
    long problems;
    char err[STORE_ERR_MAX]; /* the first problem (as store_t.err) */
    /* what it found */
    store_counters_t next;
    bool have_next;
    size_t entries[DB_COUNT];
    uint64_t max_tracking, max_delivery;
} store_walk_t;

/* Walks the tables as w says, reading every page it passes and every byte
 * range of every value, with SIGBUS and SIGSEGV caught: damage is a problem
 * reported, never a crash. 0 when nothing is wrong, -1 otherwise. */
int store_walk(MDB_env *env, store_walk_t *w);
/* Calls fn on every value of the table, in key order, after checking that
 * its bytes can be read (under the same guard). -1 with the problem in err
 * on damage or a read error; otherwise fn's first non-zero return, or 0. */
int store_walk_each(MDB_env *env, MDB_txn *txn, MDB_dbi dbi, const char *path,
                    store_record_fn *fn, void *arg, char *err, size_t errlen);

#endif

/* store_backend: what every kind of store provides, for the stores' own
 * files (store_lmdb.c, store_pg.c) and the dispatch in store.c. The rest of
 * mizd sees store.h only: it does not know which store it has.
 *
 * A store is a struct whose first member is a store_t (and a scan's, a
 * store_scan_t), so store.c can reach the operations and the messages every
 * store keeps the same way. */
#ifndef MIZ_STORE_BACKEND_H
#define MIZ_STORE_BACKEND_H

#include "store.h"

typedef struct {
    bool remote; /* a read is a round trip to a server, not a page in memory */
    void (*destroy)(store_t *s);
    int (*counters)(store_t *s, store_counters_t *next);
    store_status_t (*begin)(store_t *s);
    store_status_t (*put_open)(store_t *s, uint64_t tracking, const store_row_t *row,
                               const void *rec, size_t len);
    store_status_t (*put_closed)(store_t *s, uint64_t tracking, uint64_t closed_at,
                                 const char *ref, size_t ref_len, const store_row_t *row,
                                 const void *rec, size_t len);
    store_status_t (*put_ref)(store_t *s, const char *ref, size_t ref_len, uint64_t tracking,
                              uint64_t at);
    store_status_t (*put_counters)(store_t *s, const store_counters_t *next);
    store_status_t (*commit)(store_t *s);
    void (*abort)(store_t *s);
    int (*prepare)(store_t *s);
    int (*each_open)(store_t *s, store_record_fn *fn, void *arg);
    int (*unmap)(store_t *s); /* NULL: nothing to give back */
    int (*get)(store_t *s, uint64_t tracking, store_record_fn *fn, void *arg);
    store_scan_t *(*scan)(store_t *s, uint64_t since);
    int (*scan_next)(store_scan_t *sc, size_t max, store_record_fn *fn, void *arg);
    void (*scan_destroy)(store_scan_t *sc);
    int (*find_ref)(store_t *s, const char *ref, size_t ref_len, uint64_t *tracking,
                    uint64_t *at);
    /* NULL: the store does not list its refs, and the engine asks it about each */
    int (*each_ref_since)(store_t *s, uint64_t since, store_ref_fn *fn, void *arg);
    long (*purge)(store_t *s, uint64_t before, size_t max);
    /* NULL: a store of one mizd, which needs no lease */
    int (*lease_take)(store_t *s, const char *holder, uint64_t first_ms, uint64_t lease_ms,
                      store_lease_t *l);
} store_ops_t;

#define STORE_ERR_MAX 4200

struct store {
    const store_ops_t *ops;
    char path[4096];          /* what messages call the store: a file, or a database */
    char err[STORE_ERR_MAX];  /* the loop's reads' last problem */
    char werr[STORE_ERR_MAX]; /* the write path's, apart: it may run on another thread (writer.h) */
};

struct store_scan {
    store_t *store;
};

/* Numbers as every store writes them: big-endian, so LMDB's keys sort
 * numerically and PostgreSQL's binary bigints read as they are. */
void store_be64(unsigned char *p, uint64_t v);
uint64_t store_get_be64(const unsigned char *p);

store_t *store_lmdb_open(const char *dir, char *err, size_t errlen);
store_t *store_pg_open(const char *dsn, char *err, size_t errlen);

#endif

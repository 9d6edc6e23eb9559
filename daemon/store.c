/* store: one interface to the kinds of store (store.h), each in files of
 * its own behind store_backend.h: LMDB, the embedded default of a single
 * server, and PostgreSQL, for a province past one server. The broker asks
 * this file; this file asks the store it opened. */
#include "store_backend.h"

#include <stdio.h>

void store_be64(unsigned char *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (unsigned char)v;
}

uint64_t store_get_be64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | p[i];
    return v;
}

store_t *store_open(const store_conf_t *c, char *err, size_t errlen)
{
    switch (c->kind) {
    case STORE_POSTGRES:
        return store_pg_open(c->dsn, err, errlen);
    default:
        return store_lmdb_open(c->dir, err, errlen);
    }
}

void store_destroy(store_t **sp)
{
    if (*sp)
        (*sp)->ops->destroy(*sp);
    *sp = NULL;
}

const char *store_path(const store_t *s)
{
    return s->path;
}

const char *store_error(const store_t *s)
{
    return s->err;
}

const char *store_write_error(const store_t *s)
{
    return s->werr;
}

int store_counters(store_t *s, store_counters_t *next)
{
    return s->ops->counters(s, next);
}

store_status_t store_begin(store_t *s)
{
    return s->ops->begin(s);
}

store_status_t store_put_open(store_t *s, uint64_t tracking, const store_row_t *row,
                              const void *rec, size_t len)
{
    return s->ops->put_open(s, tracking, row, rec, len);
}

store_status_t store_put_closed(store_t *s, uint64_t tracking, uint64_t closed_at,
                                const char *ref, size_t ref_len, const store_row_t *row,
                                const void *rec, size_t len)
{
    return s->ops->put_closed(s, tracking, closed_at, ref, ref_len, row, rec, len);
}

store_status_t store_put_ref(store_t *s, const char *ref, size_t ref_len, uint64_t tracking,
                             uint64_t at)
{
    return s->ops->put_ref(s, ref, ref_len, tracking, at);
}

store_status_t store_put_counters(store_t *s, const store_counters_t *next)
{
    return s->ops->put_counters(s, next);
}

store_status_t store_commit(store_t *s)
{
    return s->ops->commit(s);
}

void store_abort(store_t *s)
{
    s->ops->abort(s);
}

int store_prepare(store_t *s)
{
    return s->ops->prepare(s);
}

int store_each_open(store_t *s, store_record_fn *fn, void *arg)
{
    return s->ops->each_open(s, fn, arg);
}

int store_unmap(store_t *s)
{
    return s->ops->unmap ? s->ops->unmap(s) : 0;
}

int store_get(store_t *s, uint64_t tracking, store_record_fn *fn, void *arg)
{
    return s->ops->get(s, tracking, fn, arg);
}

store_scan_t *store_scan(store_t *s, uint64_t since)
{
    return s->ops->scan(s, since);
}

int store_scan_next(store_scan_t *sc, size_t max, store_record_fn *fn, void *arg)
{
    return sc->store->ops->scan_next(sc, max, fn, arg);
}

void store_scan_destroy(store_scan_t **scp)
{
    if (*scp)
        (*scp)->store->ops->scan_destroy(*scp);
    *scp = NULL;
}

int store_find_ref(store_t *s, const char *ref, size_t ref_len, uint64_t *tracking,
                   uint64_t *at)
{
    return s->ops->find_ref(s, ref, ref_len, tracking, at);
}

int store_each_ref_since(store_t *s, uint64_t since, store_ref_fn *fn, void *arg)
{
    if (!s->ops->each_ref_since) {
        snprintf(s->err, sizeof s->err, "%s: this store does not list its client_refs", s->path);
        return -1;
    }
    return s->ops->each_ref_since(s, since, fn, arg);
}

bool store_lists_refs(const store_t *s)
{
    return s->ops->each_ref_since != NULL;
}

long store_purge(store_t *s, uint64_t before, size_t max)
{
    return s->ops->purge(s, before, max);
}

bool store_remote(const store_t *s)
{
    return s->ops->remote;
}

bool store_shared(const store_t *s)
{
    return s->ops->lease_take != NULL;
}

int store_lease_take(store_t *s, const char *holder, uint64_t first_ms, uint64_t lease_ms,
                     store_lease_t *l)
{
    if (!s->ops->lease_take) {
        *l = (store_lease_t){0};
        return 1;
    }
    return s->ops->lease_take(s, holder, first_ms, lease_ms, l);
}

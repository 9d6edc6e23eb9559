/* store_lmdb: the broker's durable state in LMDB, the embedded store of a
 * single server (see store.h and docs/storage.md).
 *
 * Five named tables in one environment:
 *   meta    "version" -> u32, "counters" -> next tracking, delivery, event
 *   open    tracking -> record of an open request
 *   closed  tracking -> record of a closed request
 *   expiry  closed_at, tracking -> client_ref (may be empty): purge order
 *   refs    client_ref -> tracking, first use
 * Numbers in keys and values are big-endian, so keys sort numerically. */
#include "store_lmdb.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#define INITIAL_MAP (4ull << 30) /* address space, not disk: grows when full */
#define STORE_FULL_MARGIN (1u << 20) /* less free than this after a short write: disk full */

const char *const store_db_names[DB_COUNT] = {"meta", "open", "closed", "expiry", "refs"};

bool store_counters_decode(const void *val, size_t len, store_counters_t *next)
{
    const unsigned char *v = val;
    if (len != 16 && len != 24)
        return false;
    next->tracking = store_get_be64(v);
    next->delivery = store_get_be64(v + 8);
    next->event = len == 24 ? store_get_be64(v + 16) : 1;
    return true;
}

int store_fail_into(lmdb_t *s, char *buf, size_t len, int rc, const char *what)
{
    snprintf(buf, len, "%s: %s%s%s", s->b.path, what, *what ? ": " : "", mdb_strerror(rc));
    return rc;
}

int store_fail(lmdb_t *s, int rc, const char *what)
{
    return store_fail_into(s, s->b.err, sizeof s->b.err, rc, what);
}

/* Opens every table; on a new, empty environment creates them and writes
 * the version. Anything else that is not our version is refused. */
static int store_open_tables(lmdb_t *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, 0, &txn);
    if (rc)
        return store_fail(s, rc, "cannot begin a transaction");
    MDB_dbi main_dbi;
    MDB_stat st;
    MDB_val key = {7, "version"}, val;
    bool fresh = false;
    if ((rc = mdb_dbi_open(txn, NULL, 0, &main_dbi)) || (rc = mdb_stat(txn, main_dbi, &st)))
        goto fail;
    rc = mdb_dbi_open(txn, store_db_names[DB_META], 0, &s->dbi[DB_META]);
    if (rc == MDB_NOTFOUND && st.ms_entries == 0) {
        fresh = true;
    } else if (rc == MDB_NOTFOUND || rc == MDB_INCOMPATIBLE) {
        mdb_txn_abort(txn);
        snprintf(s->b.err, sizeof s->b.err, "%s: an LMDB file, but not a miz store", s->b.path);
        return -1;
    } else if (rc) {
        goto fail;
    }
    for (int i = 0; i < DB_COUNT; i++)
        if ((rc = mdb_dbi_open(txn, store_db_names[i], fresh ? MDB_CREATE : 0, &s->dbi[i])))
            goto fail;
    if (fresh) {
        unsigned char v[4] = {0, 0, 0, STORE_VERSION};
        val = (MDB_val){sizeof v, v};
        if ((rc = mdb_put(txn, s->dbi[DB_META], &key, &val, 0)))
            goto fail;
    } else if ((rc = mdb_get(txn, s->dbi[DB_META], &key, &val))) {
        goto fail;
    } else {
        const unsigned char *v = val.mv_data;
        uint32_t version = val.mv_size == 4 ? (uint32_t)v[0] << 24 | v[1] << 16 | v[2] << 8 | v[3]
                                            : 0;
        if (version != STORE_VERSION) {
            mdb_txn_abort(txn);
            snprintf(s->b.err, sizeof s->b.err,
                     "%s: store version %u; this mizd reads version %d only", s->b.path, version,
                     STORE_VERSION);
            return -1;
        }
    }
    if ((rc = mdb_txn_commit(txn)))
        return store_fail(s, rc, "cannot open the tables");
    return 0;
fail:
    mdb_txn_abort(txn);
    return store_fail(s, rc, "cannot open the tables");
}

/* Its cursors and read transaction; the scan itself stays, ended. */
static void store_scan_release(lmdb_scan_t *sc)
{
    mdb_cursor_close(sc->open);
    mdb_cursor_close(sc->closed);
    mdb_txn_abort(sc->txn);
    sc->ended = true;
}

/* A scan's read transaction keeps LMDB from growing the map or closing the
 * environment: the scan ends, and its reader asks again. */
static void store_end_scans(lmdb_t *s)
{
    while (s->scans) {
        lmdb_scan_t *sc = s->scans;
        s->scans = sc->next;
        store_scan_release(sc);
    }
}

static void store_env_close(lmdb_t *s)
{
    store_end_scans(s);
    if (s->txn)
        mdb_txn_abort(s->txn);
    s->txn = NULL;
    if (s->env)
        mdb_env_close(s->env);
    s->env = NULL;
}

/* Opens the environment; on failure leaves none (s->env NULL). */
static int store_env_open(lmdb_t *s)
{
    int rc;
    /* what LMDB would fault or assert on, or open as the wrong snapshot */
    if (store_file_check(s->b.path, s->b.err, sizeof s->b.err) < 0)
        return -1;
    if ((rc = mdb_env_create(&s->env))) {
        s->env = NULL;
        return store_fail(s, rc, "");
    }
    if ((rc = mdb_env_set_maxdbs(s->env, STORE_MAX_DBS)) ||
        (rc = mdb_env_set_mapsize(s->env, s->map_size)) ||
        /* NOTLS: a scan's read transaction lives on while the same thread
         * reads and writes in others */
        (rc = mdb_env_open(s->env, s->dir, MDB_NOTLS, 0640))) {
        store_fail(s, rc, rc == MDB_INVALID ? "not a miz store, or corrupt" : "cannot open");
        store_env_close(s);
        return rc;
    }
    MDB_envinfo info;
    if (mdb_env_info(s->env, &info) == 0 && info.me_mapsize > s->map_size)
        s->map_size = info.me_mapsize;
    if ((rc = store_open_tables(s)))
        store_env_close(s);
    return rc;
}

/* After a failure that left no usable environment (MDB_PANIC, or a reopen
 * that failed), every use tries to open it again. */
static int store_env_ready(lmdb_t *s)
{
    return s->env || store_env_open(s) == 0 ? 0 : -1;
}

/* LMDB lets several processes share an environment; two brokers on one
 * store would hand out the same tracking numbers. */
static int store_lock_dir(lmdb_t *s, char *err, size_t errlen)
{
    char path[sizeof s->dir + 16];
    snprintf(path, sizeof path, "%s/mizd.lock", s->dir);
    s->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0640);
    if (s->lock_fd < 0) {
        snprintf(err, errlen, "cannot open %s: %s", path, strerror(errno));
        return -1;
    }
    if (flock(s->lock_fd, LOCK_EX | LOCK_NB) < 0) {
        char pid[32] = "";
        ssize_t n = pread(s->lock_fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        snprintf(err, errlen, "%s: the store is in use by another mizd%s%s", path,
                 *pid ? ", pid " : "", pid);
        return -1;
    }
    char pid[32];
    int n = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(s->lock_fd, 0) < 0 || pwrite(s->lock_fd, pid, (size_t)n, 0) != n) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

/* Every table but open walked (recovery reads that one), the counters
 * checked against what the tables hold: a damaged store is refused now,
 * not with a SIGBUS at the first submission, nor by handing out a number
 * again. */
static int store_open_check(lmdb_t *s)
{
    MDB_txn *txn;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, &txn);
    if (rc)
        return store_fail(s, rc, "cannot read"), -1;
    store_walk_t w = {.path = s->b.path, .txn = txn, .dbi = s->dbi};
    rc = store_walk(s->env, &w);
    mdb_txn_abort(txn);
    if (rc < 0)
        snprintf(s->b.err, sizeof s->b.err, "%s", w.err);
    return rc;
}

static const store_ops_t lmdb_ops;

static void lmdb_destroy(store_t *st)
{
    lmdb_t *s = (lmdb_t *)st;
    store_env_close(s);
    if (s->lock_fd >= 0)
        close(s->lock_fd);
    free(s);
}

store_t *store_lmdb_open(const char *dir, char *err, size_t errlen)
{
    lmdb_t *s = calloc(1, sizeof *s);
    if (!s) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    s->b.ops = &lmdb_ops;
    s->map_size = INITIAL_MAP;
    s->lock_fd = -1;
    snprintf(s->dir, sizeof s->dir, "%s", dir);
    snprintf(s->b.path, sizeof s->b.path, "%s/data.mdb", dir);
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        snprintf(err, errlen, "cannot create the data directory %s: %s", dir, strerror(errno));
        free(s);
        return NULL;
    }
    if (store_lock_dir(s, err, errlen) < 0) {
        lmdb_destroy(&s->b);
        return NULL;
    }
    if (store_env_open(s) != 0 || store_open_check(s) < 0) {
        snprintf(err, errlen, "%s", s->b.err);
        lmdb_destroy(&s->b);
        return NULL;
    }
    return &s->b;
}

/* ---- reading ---- */

static int store_read_begin(lmdb_t *s, MDB_txn **txn)
{
    if (store_env_ready(s) < 0)
        return -1;
    int rc = mdb_txn_begin(s->env, NULL, MDB_RDONLY, txn);
    return rc ? (store_fail(s, rc, "cannot read"), -1) : 0;
}

static int lmdb_counters(store_t *st, store_counters_t *next)
{
    lmdb_t *s = (lmdb_t *)st;
    MDB_txn *txn;
    MDB_val key = {8, "counters"}, val;
    if (store_read_begin(s, &txn) < 0)
        return -1;
    int rc = mdb_get(txn, s->dbi[DB_META], &key, &val);
    /* absent only in a new store (the walk at open refuses it otherwise) */
    if (rc == MDB_NOTFOUND) {
        *next = (store_counters_t){1, 1, 1};
        rc = 0;
    } else if (rc == 0 && !store_counters_decode(val.mv_data, val.mv_size, next)) {
        rc = MDB_CORRUPTED;
    }
    if (rc)
        store_fail(s, rc, "bad counters");
    mdb_txn_abort(txn);
    return rc ? -1 : 0;
}

/* ---- writing ---- */

/* LMDB says EIO when a write comes back short, which is how a disk that
 * fills in the middle of a commit answers: said as ENOSPC when the file
 * system has (next to) no room left. */
static int store_full_disk(const lmdb_t *s, int rc)
{
    struct statvfs fs;
    if (rc == EIO && statvfs(s->dir, &fs) == 0 &&
        (uint64_t)fs.f_bavail * fs.f_frsize < STORE_FULL_MARGIN)
        return ENOSPC;
    return rc;
}

/* A full map is to grow (store_prepare) and the batch to be written again;
 * an environment LMDB says is unusable, to be opened again; any other error
 * is a fault to report. The write path only says so: growing and reopening
 * end the loop's reads, which only the loop may do (writer.h). */
static store_status_t store_write_failed(lmdb_t *s, int rc, const char *what)
{
    store_fail_into(s, s->b.werr, sizeof s->b.werr, store_full_disk(s, rc), what);
    if (s->txn)
        mdb_txn_abort(s->txn);
    s->txn = NULL;
    s->grow = rc == MDB_MAP_FULL;
    s->reopen = rc == MDB_PANIC;
    return rc == MDB_MAP_FULL ? STORE_RETRY : STORE_FAILED;
}

static int lmdb_prepare(store_t *st)
{
    lmdb_t *s = (lmdb_t *)st;
    if (s->reopen || !s->env) {
        store_env_close(s);
        s->reopen = false;
        if (store_env_ready(s) < 0) {
            snprintf(s->b.werr, sizeof s->b.werr, "%s", s->b.err);
            return -1;
        }
    }
    if (s->grow) {
        store_end_scans(s);
        int rc = mdb_env_set_mapsize(s->env, s->map_size * 2);
        if (rc) {
            store_fail_into(s, s->b.werr, sizeof s->b.werr, rc, "cannot grow the map");
            return -1;
        }
        s->map_size *= 2;
        s->grow = false;
    }
    return 0;
}

static store_status_t lmdb_begin(store_t *st)
{
    lmdb_t *s = (lmdb_t *)st;
    if (!s->env || s->reopen) {
        snprintf(s->b.werr, sizeof s->b.werr, "%s: the store must be opened again", s->b.path);
        return STORE_FAILED;
    }
    int rc = mdb_txn_begin(s->env, NULL, 0, &s->txn);
    if (rc) {
        s->txn = NULL;
        return store_write_failed(s, rc, "cannot begin a transaction");
    }
    return STORE_OK;
}

static store_status_t store_put(lmdb_t *s, int db, const void *k, size_t klen, const void *v,
                          size_t vlen)
{
    MDB_val key = {klen, (void *)k}, val = {vlen, (void *)v};
    int rc = mdb_put(s->txn, s->dbi[db], &key, &val, 0);
    return rc ? store_write_failed(s, rc, "cannot write") : STORE_OK;
}

static store_status_t store_del(lmdb_t *s, int db, const void *k, size_t klen)
{
    MDB_val key = {klen, (void *)k};
    int rc = mdb_del(s->txn, s->dbi[db], &key, NULL);
    return rc && rc != MDB_NOTFOUND ? store_write_failed(s, rc, "cannot delete") : STORE_OK;
}

/* LMDB keeps no summary: nobody queries it but mizd */
static store_status_t lmdb_put_open(store_t *st, uint64_t tracking, const store_row_t *row,
                                    const void *rec, size_t len)
{
    (void)row;
    lmdb_t *s = (lmdb_t *)st;
    unsigned char k[8];
    store_be64(k, tracking);
    return store_put(s, DB_OPEN, k, sizeof k, rec, len);
}

static store_status_t lmdb_put_closed(store_t *st, uint64_t tracking, uint64_t closed_at,
                                      const char *ref, size_t ref_len, const store_row_t *row,
                                      const void *rec, size_t len)
{
    (void)row;
    lmdb_t *s = (lmdb_t *)st;
    unsigned char k[16];
    store_be64(k, closed_at);
    store_be64(k + 8, tracking);
    store_status_t done;
    if ((done = store_del(s, DB_OPEN, k + 8, 8)) ||
        (done = store_put(s, DB_CLOSED, k + 8, 8, rec, len)))
        return done;
    return store_put(s, DB_EXPIRY, k, sizeof k, ref ? ref : "", ref ? ref_len : 0);
}

static store_status_t lmdb_put_ref(store_t *st, const char *ref, size_t ref_len, uint64_t tracking,
                             uint64_t at)
{
    lmdb_t *s = (lmdb_t *)st;
    unsigned char v[16];
    store_be64(v, tracking);
    store_be64(v + 8, at);
    return store_put(s, DB_REFS, ref, ref_len, v, sizeof v);
}

static store_status_t lmdb_put_counters(store_t *st, const store_counters_t *next)
{
    lmdb_t *s = (lmdb_t *)st;
    unsigned char v[24];
    store_be64(v, next->tracking);
    store_be64(v + 8, next->delivery);
    store_be64(v + 16, next->event);
    return store_put(s, DB_META, "counters", 8, v, sizeof v);
}

static store_status_t lmdb_commit(store_t *st)
{
    lmdb_t *s = (lmdb_t *)st;
    int rc = mdb_txn_commit(s->txn);
    s->txn = NULL;
    return rc ? store_write_failed(s, rc, "cannot commit") : STORE_OK;
}

static void lmdb_abort(store_t *st)
{
    lmdb_t *s = (lmdb_t *)st;
    if (s->txn)
        mdb_txn_abort(s->txn);
    s->txn = NULL;
}

static int lmdb_each_open(store_t *st, store_record_fn *fn, void *arg)
{
    lmdb_t *s = (lmdb_t *)st;
    MDB_txn *txn;
    if (store_read_begin(s, &txn) < 0)
        return -1;
    int ret = store_walk_each(s->env, txn, s->dbi[DB_OPEN], s->b.path, fn, arg, s->b.err,
                              sizeof s->b.err);
    mdb_txn_abort(txn);
    return ret;
}

static int lmdb_unmap(store_t *st)
{
    lmdb_t *s = (lmdb_t *)st;
    store_env_close(s);
    return store_env_ready(s);
}

static int lmdb_get(store_t *st, uint64_t tracking, store_record_fn *fn, void *arg)
{
    lmdb_t *s = (lmdb_t *)st;
    MDB_txn *txn;
    unsigned char k[8];
    store_be64(k, tracking);
    MDB_val key = {sizeof k, k}, val;
    if (store_read_begin(s, &txn) < 0)
        return -1;
    int rc = mdb_get(txn, s->dbi[DB_OPEN], &key, &val);
    if (rc == MDB_NOTFOUND)
        rc = mdb_get(txn, s->dbi[DB_CLOSED], &key, &val);
    int ret = rc == 0 ? (fn(val.mv_data, val.mv_size, arg), 1)
                      : rc == MDB_NOTFOUND ? 0 : (store_fail(s, rc, "cannot read"), -1);
    mdb_txn_abort(txn);
    return ret;
}

static store_scan_t *lmdb_scan(store_t *st, uint64_t since)
{
    lmdb_t *s = (lmdb_t *)st;
    lmdb_scan_t *sc = calloc(1, sizeof *sc);
    if (!sc) {
        store_fail(s, ENOMEM, "cannot read");
        return NULL;
    }
    int rc;
    if (store_read_begin(s, &sc->txn) < 0) {
        free(sc);
        return NULL;
    }
    if ((rc = mdb_cursor_open(sc->txn, s->dbi[DB_OPEN], &sc->open)) ||
        (rc = mdb_cursor_open(sc->txn, s->dbi[DB_EXPIRY], &sc->closed))) {
        if (sc->open)
            mdb_cursor_close(sc->open);
        mdb_txn_abort(sc->txn);
        free(sc);
        store_fail(s, rc, "cannot read");
        return NULL;
    }
    store_be64(sc->from, since);
    sc->b.store = &s->b;
    sc->store = s;
    sc->next = s->scans;
    s->scans = sc;
    return &sc->b;
}

/* The next record of the scan in *rec: 1, 0 at the end, -1 on an error. */
static int store_scan_record(lmdb_scan_t *sc, MDB_val *rec)
{
    lmdb_t *s = sc->store;
    MDB_val key = {sizeof sc->from, sc->from}, val;
    int rc;
    while (!sc->open_done) {
        rc = mdb_cursor_get(sc->open, &key, rec, sc->started ? MDB_NEXT : MDB_FIRST);
        sc->started = true;
        if (rc == 0)
            return 1;
        if (rc != MDB_NOTFOUND)
            return store_fail(s, rc, "cannot read"), -1;
        sc->open_done = true;
        sc->started = false;
    }
    for (;;) {
        rc = mdb_cursor_get(sc->closed, &key, &val, sc->started ? MDB_NEXT : MDB_SET_RANGE);
        sc->started = true;
        if (rc == MDB_NOTFOUND)
            return 0;
        if (rc)
            return store_fail(s, rc, "cannot read"), -1;
        if (key.mv_size != 16)
            continue;
        MDB_val tracking = {8, (unsigned char *)key.mv_data + 8};
        rc = mdb_get(sc->txn, s->dbi[DB_CLOSED], &tracking, rec);
        if (rc == 0)
            return 1;
        if (rc != MDB_NOTFOUND) /* an index entry without its record is skipped */
            return store_fail(s, rc, "cannot read"), -1;
    }
}

static int lmdb_scan_next(store_scan_t *scan, size_t max, store_record_fn *fn, void *arg)
{
    lmdb_scan_t *sc = (lmdb_scan_t *)scan;
    lmdb_t *s = sc->store;
    if (sc->ended) {
        snprintf(s->b.err, sizeof s->b.err, "%s: a long read was ended to grow the map or reopen",
                 s->b.path);
        return -1;
    }
    MDB_val rec;
    for (size_t n = 0; n < max; n++) {
        int got = store_scan_record(sc, &rec);
        if (got <= 0)
            return got;
        if (fn(rec.mv_data, rec.mv_size, arg))
            return -1;
    }
    return 1;
}

static void lmdb_scan_destroy(store_scan_t *scan)
{
    lmdb_scan_t *sc = (lmdb_scan_t *)scan;
    if (!sc->ended) {
        lmdb_scan_t **p = &sc->store->scans;
        while (*p != sc)
            p = &(*p)->next;
        *p = sc->next;
        store_scan_release(sc);
    }
    free(sc);
}

static int lmdb_find_ref(store_t *st, const char *ref, size_t ref_len, uint64_t *tracking,
                   uint64_t *at)
{
    lmdb_t *s = (lmdb_t *)st;
    MDB_txn *txn;
    MDB_val key = {ref_len, (void *)ref}, val;
    if (store_read_begin(s, &txn) < 0)
        return -1;
    int rc = mdb_get(txn, s->dbi[DB_REFS], &key, &val), ret = 0;
    if (rc == 0 && val.mv_size == 16) {
        *tracking = store_get_be64(val.mv_data);
        *at = store_get_be64((const unsigned char *)val.mv_data + 8);
        ret = 1;
    } else if (rc != MDB_NOTFOUND) {
        ret = (store_fail(s, rc ? rc : MDB_CORRUPTED, "bad client_ref entry"), -1);
    }
    mdb_txn_abort(txn);
    return ret;
}

/* A walk of the whole refs table, in ref order: LMDB keeps no index by
 * time, and its engine has no need of the list (its lookups are reads of
 * memory); it is here so that every store lists its refs. */
static int lmdb_each_ref_since(store_t *st, uint64_t since, store_ref_fn *fn, void *arg)
{
    lmdb_t *s = (lmdb_t *)st;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val key, val;
    if (store_read_begin(s, &txn) < 0)
        return -1;
    int rc = mdb_cursor_open(txn, s->dbi[DB_REFS], &cur), ret = 0;
    if (rc) {
        mdb_txn_abort(txn);
        return (store_fail(s, rc, "cannot read"), -1);
    }
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && ret == 0;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (val.mv_size != 16)
            ret = (store_fail(s, MDB_CORRUPTED, "bad client_ref entry"), -1);
        else if (store_get_be64((const unsigned char *)val.mv_data + 8) >= since)
            ret = fn(key.mv_data, key.mv_size, arg);
    }
    if (rc && rc != MDB_NOTFOUND && ret == 0)
        ret = (store_fail(s, rc, "cannot read"), -1);
    mdb_cursor_close(cur);
    mdb_txn_abort(txn);
    return ret;
}

static long lmdb_purge(store_t *st, uint64_t before, size_t max)
{
    lmdb_t *s = (lmdb_t *)st;
    MDB_cursor *cur;
    MDB_val key, val;
    long n = 0;
    if (lmdb_begin(&s->b) != STORE_OK)
        return -1;
    int rc = mdb_cursor_open(s->txn, s->dbi[DB_EXPIRY], &cur);
    if (rc)
        return store_write_failed(s, rc, "cannot purge"), -1;
    for (rc = mdb_cursor_get(cur, &key, &val, MDB_FIRST); rc == 0 && (size_t)n < max;
         rc = mdb_cursor_get(cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size != 16 || store_get_be64(key.mv_data) >= before)
            break;
        const unsigned char *tracking = (const unsigned char *)key.mv_data + 8;
        MDB_val ref = {val.mv_size, val.mv_data}, owner;
        if ((rc = mdb_del(s->txn, s->dbi[DB_CLOSED], &(MDB_val){8, (void *)tracking}, NULL)) &&
            rc != MDB_NOTFOUND)
            break;
        /* the ref may since name a newer request: delete only our own */
        if (ref.mv_size && mdb_get(s->txn, s->dbi[DB_REFS], &ref, &owner) == 0 &&
            owner.mv_size == 16 && memcmp(owner.mv_data, tracking, 8) == 0 &&
            (rc = mdb_del(s->txn, s->dbi[DB_REFS], &ref, NULL)))
            break;
        if ((rc = mdb_cursor_del(cur, 0)))
            break;
        n++;
    }
    mdb_cursor_close(cur);
    if (rc && rc != MDB_NOTFOUND)
        return store_write_failed(s, rc, "cannot purge"), -1;
    return lmdb_commit(&s->b) == STORE_OK ? n : -1;
}

static const store_ops_t lmdb_ops = {
    .destroy = lmdb_destroy,
    .counters = lmdb_counters,
    .begin = lmdb_begin,
    .put_open = lmdb_put_open,
    .put_closed = lmdb_put_closed,
    .put_ref = lmdb_put_ref,
    .put_counters = lmdb_put_counters,
    .commit = lmdb_commit,
    .abort = lmdb_abort,
    .prepare = lmdb_prepare,
    .each_open = lmdb_each_open,
    .unmap = lmdb_unmap,
    .get = lmdb_get,
    .scan = lmdb_scan,
    .scan_next = lmdb_scan_next,
    .scan_destroy = lmdb_scan_destroy,
    .find_ref = lmdb_find_ref,
    .each_ref_since = lmdb_each_ref_since,
    .purge = lmdb_purge,
};

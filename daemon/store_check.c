/* store_check: every table of the store walked, at start and offline.
 *
 * LMDB keeps no checksums and trusts its pages: a damaged branch page sends
 * a cursor to a page past the end of the file, a damaged node gives a value
 * that runs off its page, and either is a SIGBUS or SIGSEGV in whatever
 * reads it first, which could be the first submission after a start that
 * said "recovered". So at start mizd walks what it will use: the free-page
 * table (every page number in it inside the file: a commit takes pages from
 * it), meta, closed, expiry and refs, each key checked for its shape and
 * each value's bytes for being inside the file (an overflow value by its
 * overflow page's header), with SIGBUS and SIGSEGV turned into a refusal
 * that names the file. The open table is walked the same way by recovery
 * (store_walk_each), which decodes every record. The counters are checked
 * against the highest tracking number any table holds, so a store whose
 * counters were lost or went back never hands a number out again.
 *
 * mizd --check-store walks the same and more, offline (store_check): every
 * record of open and closed decoded by the engine's own checks (the caller's
 * store_record_check_fn), each against its key, and the counters against the
 * highest delivery id too; it reports every problem, not only the first. */
#include "store_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#define STORE_CHECK_REF_MAX 128 /* a client_ref's bytes, as protocol.md allows */
#define STORE_CHECK_PAGEHDR 16  /* LMDB's page header, before an overflow value */
#define STORE_CHECK_P_OVERFLOW 0x04

typedef int store_check_entry_fn(const MDB_val *key, const MDB_val *val, void *arg);

/* One table's walk, its state kept where a fault cannot lose it. */
typedef struct {
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_cursor *cur;
    uint64_t last_pg, psize;
    store_check_entry_fn *fn;
    void *arg;
    int rc;     /* LMDB's error, if one stopped it */
    int fn_ret; /* fn's non-zero return, if one stopped it */
    const char *bad; /* a value that is not inside the file */
} store_check_table_t;

static sigjmp_buf store_check_jmp;
static volatile sig_atomic_t store_check_signal;
/* While fn runs the value's bytes are known to be readable: a fault there
 * is a bug, not damage, and goes to the handler there was before. */
static volatile sig_atomic_t store_check_in_fn;
static struct sigaction store_check_old_bus, store_check_old_segv;

static void store_check_on_fault(int sig)
{
    if (store_check_in_fn) {
        /* returning re-runs the access, which faults again, as without us */
        sigaction(sig, sig == SIGBUS ? &store_check_old_bus : &store_check_old_segv, NULL);
        return;
    }
    store_check_signal = sig;
    siglongjmp(store_check_jmp, 1);
}

/* Whether the value's bytes lie in the file: a value on its leaf page is
 * shorter than a page; a longer one starts after the header of its overflow
 * pages, which must say so and lie inside the file. Reads its first and last
 * byte, so a value past the end of the file faults here, guarded. */
static bool store_check_value(const store_check_table_t *t, const MDB_val *v)
{
    const unsigned char *p = v->mv_data;
    if (v->mv_size == 0)
        return true;
    if (v->mv_size > t->psize) {
        const unsigned char *h = p - STORE_CHECK_PAGEHDR;
        uint64_t pgno;
        uint16_t flags;
        uint32_t pages;
        memcpy(&pgno, h, sizeof pgno);
        memcpy(&flags, h + 10, sizeof flags);
        memcpy(&pages, h + 12, sizeof pages);
        if (!(flags & STORE_CHECK_P_OVERFLOW) || pgno < 2 || pages == 0 ||
            pgno + pages > t->last_pg + 1 || v->mv_size > pages * t->psize - STORE_CHECK_PAGEHDR)
            return false;
    }
    (void)*(const volatile unsigned char *)p;
    (void)*(const volatile unsigned char *)(p + v->mv_size - 1);
    return true;
}

static int store_check_table_body(store_check_table_t *t)
{
    MDB_val key, val;
    int rc = mdb_cursor_open(t->txn, t->dbi, &t->cur);
    if (rc)
        return t->rc = rc, -1;
    for (rc = mdb_cursor_get(t->cur, &key, &val, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(t->cur, &key, &val, MDB_NEXT)) {
        if (key.mv_size == 0 || key.mv_size > 511 || !store_check_value(t, &key)) {
            t->bad = "a key";
            return -1;
        }
        if (!store_check_value(t, &val)) {
            t->bad = "a value";
            return -1;
        }
        store_check_in_fn = 1;
        t->fn_ret = t->fn(&key, &val, t->arg);
        store_check_in_fn = 0;
        if (t->fn_ret)
            return 0;
    }
    if (rc != MDB_NOTFOUND)
        return t->rc = rc, -1;
    return 0;
}

/* Walks one table under the guard: fn on each entry whose bytes lie in the
 * file. -1 with err (naming path and the table) on damage or a read error;
 * else fn's first non-zero return, or 0. */
static int store_check_table(MDB_env *env, MDB_txn *txn, MDB_dbi dbi, const char *table,
                             const char *path, store_check_entry_fn *fn, void *arg, char *err,
                             size_t errlen)
{
    MDB_envinfo info;
    MDB_stat st;
    store_check_table_t t = {.txn = txn, .dbi = dbi, .fn = fn, .arg = arg};
    if (mdb_env_info(env, &info) == 0 && mdb_env_stat(env, &st) == 0) {
        t.last_pg = info.me_last_pgno;
        t.psize = st.ms_psize;
    }
    struct sigaction sa = {.sa_handler = store_check_on_fault};
    sigemptyset(&sa.sa_mask);
    store_check_in_fn = 0;
    sigaction(SIGBUS, &sa, &store_check_old_bus);
    sigaction(SIGSEGV, &sa, &store_check_old_segv);
    volatile int rc = -1;
    if (sigsetjmp(store_check_jmp, 1) == 0) {
        rc = store_check_table_body(&t);
    } else {
        snprintf(err, errlen, "%s: reading the table \"%s\" faulted (%s): a page past the end of "
                 "the file or a damaged page: corrupt", path, table,
                 store_check_signal == SIGBUS ? "SIGBUS" : "SIGSEGV");
        rc = -2;
    }
    sigaction(SIGBUS, &store_check_old_bus, NULL);
    sigaction(SIGSEGV, &store_check_old_segv, NULL);
    if (t.cur)
        mdb_cursor_close(t.cur);
    if (rc == -1 && t.bad)
        snprintf(err, errlen, "%s: the table \"%s\" has %s outside the file: corrupt", path,
                 table, t.bad);
    else if (rc == -1)
        snprintf(err, errlen, "%s: cannot read the table \"%s\": %s: corrupt", path, table,
                 mdb_strerror(t.rc));
    return rc < 0 ? -1 : t.fn_ret;
}

typedef struct {
    store_record_fn *fn;
    void *arg;
} store_check_each_t;

static int store_check_each_entry(const MDB_val *key, const MDB_val *val, void *arg)
{
    store_check_each_t *e = arg;
    (void)key;
    return e->fn(val->mv_data, val->mv_size, e->arg);
}

int store_walk_each(MDB_env *env, MDB_txn *txn, MDB_dbi dbi, const char *path,
                    store_record_fn *fn, void *arg, char *err, size_t errlen)
{
    store_check_each_t e = {fn, arg};
    return store_check_table(env, txn, dbi, "open", path, store_check_each_entry, &e, err,
                             errlen);
}

/* ---- the walk ---- */

__attribute__((format(printf, 2, 3))) static int store_check_problem(store_walk_t *w,
                                                                     const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (w->problems++ == 0)
        snprintf(w->err, sizeof w->err, "%.3000s: %s", w->path, line);
    if (w->out)
        fprintf(w->out, "%s: %s\n", w->path, line);
    return w->out ? 0 : 1; /* at start the first problem stops the walk */
}

typedef struct {
    store_walk_t *w;
    int db; /* -1: the free pages */
    uint64_t last_pg, last_txnid;
} store_check_ctx_t;

static void store_check_saw(store_walk_t *w, uint64_t tracking)
{
    if (tracking > w->max_tracking)
        w->max_tracking = tracking;
}

static int store_check_free(const store_check_ctx_t *c, const MDB_val *key, const MDB_val *val)
{
    size_t txnid = 0, n = 0;
    if (key->mv_size == sizeof txnid)
        memcpy(&txnid, key->mv_data, sizeof txnid);
    if (val->mv_size >= sizeof n)
        memcpy(&n, val->mv_data, sizeof n);
    if (key->mv_size != sizeof txnid || txnid > c->last_txnid ||
        val->mv_size != (n + 1) * sizeof(size_t))
        return store_check_problem(c->w, "a damaged entry in LMDB's free-page table: corrupt");
    for (size_t i = 1; i <= n; i++) {
        size_t pgno;
        memcpy(&pgno, (const unsigned char *)val->mv_data + i * sizeof pgno, sizeof pgno);
        if (pgno < 2 || pgno > c->last_pg)
            return store_check_problem(c->w, "LMDB's free-page table lists page %zu, outside "
                                             "the pages 2-%llu of the file: corrupt", pgno,
                                       (unsigned long long)c->last_pg);
    }
    return 0;
}

static int store_check_meta(store_walk_t *w, const MDB_val *key, const MDB_val *val)
{
    if (key->mv_size == 8 && memcmp(key->mv_data, "counters", 8) == 0) {
        w->have_next = store_counters_decode(val->mv_data, val->mv_size, &w->next);
        if (!w->have_next)
            return store_check_problem(w, "meta/counters is %zu bytes long, not 16 or 24: the "
                                          "numbers to hand out next are unknown", val->mv_size);
    } else if (!(key->mv_size == 7 && memcmp(key->mv_data, "version", 7) == 0)) {
        return store_check_problem(w, "an unknown key in the meta table (%zu bytes)",
                                   key->mv_size);
    }
    return 0;
}

static int store_check_request(store_walk_t *w, int db, const MDB_val *key, const MDB_val *val)
{
    const char *table = store_db_names[db];
    if (key->mv_size != 8 || val->mv_size == 0)
        return store_check_problem(w, "the table \"%s\" has a key of %zu bytes or an empty "
                                      "record", table, key->mv_size);
    uint64_t tracking = store_get_be64(key->mv_data), rec_tracking = 0, max_delivery = 0;
    store_check_saw(w, tracking);
    if (!w->check)
        return 0;
    const char *why = w->check(val->mv_data, val->mv_size, &rec_tracking, &max_delivery, w->arg);
    if (why)
        return store_check_problem(w, "%s/%llu: the record does not decode (%s)", table,
                                   (unsigned long long)tracking, why);
    if (rec_tracking != tracking)
        return store_check_problem(w, "%s/%llu: the record says tracking number %llu", table,
                                   (unsigned long long)tracking,
                                   (unsigned long long)rec_tracking);
    if (max_delivery > w->max_delivery)
        w->max_delivery = max_delivery;
    return 0;
}

static int store_check_entry(const MDB_val *key, const MDB_val *val, void *arg)
{
    store_check_ctx_t *c = arg;
    store_walk_t *w = c->w;
    if (c->db < 0)
        return store_check_free(c, key, val);
    w->entries[c->db]++;
    switch (c->db) {
    case DB_META: return store_check_meta(w, key, val);
    case DB_OPEN:
    case DB_CLOSED: return store_check_request(w, c->db, key, val);
    case DB_EXPIRY:
        if (key->mv_size != 16 || val->mv_size > STORE_CHECK_REF_MAX)
            return store_check_problem(w, "a damaged entry in the table \"expiry\"");
        store_check_saw(w, store_get_be64((const unsigned char *)key->mv_data + 8));
        return 0;
    default:
        if (key->mv_size > STORE_CHECK_REF_MAX || val->mv_size != 16)
            return store_check_problem(w, "a damaged entry in the table \"refs\"");
        store_check_saw(w, store_get_be64(val->mv_data));
        return 0;
    }
}

/* The open table at start: only its last key (recovery reads the rest). */
static int store_check_last_open(store_walk_t *w)
{
    MDB_cursor *cur;
    MDB_val key, val;
    int rc = mdb_cursor_open(w->txn, w->dbi[DB_OPEN], &cur);
    if (rc == 0) {
        rc = mdb_cursor_get(cur, &key, &val, MDB_LAST);
        mdb_cursor_close(cur);
    }
    if (rc == 0 && key.mv_size == 8) {
        store_check_saw(w, store_get_be64(key.mv_data));
        w->entries[DB_OPEN] = 1;
    } else if (rc != MDB_NOTFOUND) {
        return store_check_problem(w, "cannot read the table \"open\": %s: corrupt",
                                   rc ? mdb_strerror(rc) : "a key of the wrong size");
    }
    return 0;
}

/* The counters against what the tables hold. */
static void store_check_counters(store_walk_t *w)
{
    size_t held = w->entries[DB_OPEN] + w->entries[DB_CLOSED] + w->entries[DB_EXPIRY] +
                  w->entries[DB_REFS];
    if (!w->have_next) {
        if (held && w->problems == 0)
            store_check_problem(w, "meta/counters is missing, but the tables are not empty "
                                   "(tracking numbers up to %llu): the numbers to hand out "
                                   "next are unknown", (unsigned long long)w->max_tracking);
        return;
    }
    if (w->next.tracking <= w->max_tracking)
        store_check_problem(w, "meta/counters says the next tracking number is %llu, but the "
                               "store holds tracking number %llu: numbers would be handed out "
                               "again", (unsigned long long)w->next.tracking,
                            (unsigned long long)w->max_tracking);
    if (w->next.delivery <= w->max_delivery)
        store_check_problem(w, "meta/counters says the next delivery id is %llu, but a stored "
                               "request holds delivery %llu: ids would be handed out again",
                            (unsigned long long)w->next.delivery,
                            (unsigned long long)w->max_delivery);
}

int store_walk(MDB_env *env, store_walk_t *w)
{
    MDB_envinfo info;
    mdb_env_info(env, &info);
    store_check_ctx_t c = {w, -1, info.me_last_pgno, info.me_last_txnid};
    int order[] = {-1, DB_META, DB_OPEN, DB_CLOSED, DB_EXPIRY, DB_REFS};
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        c.db = order[i];
        if (c.db == DB_OPEN && !w->all) {
            if (store_check_last_open(w))
                return -1;
            continue;
        }
        char err[sizeof w->err];
        int rc = store_check_table(env, w->txn, c.db < 0 ? 0 : w->dbi[c.db],
                                   c.db < 0 ? "free pages" : store_db_names[c.db], w->path,
                                   store_check_entry, &c, err, sizeof err);
        if (rc < 0) {
            /* damage under LMDB: the walk cannot go on */
            w->problems++;
            snprintf(w->err, sizeof w->err, "%s", err);
            if (w->out)
                fprintf(w->out, "%s\n", err);
            return -1;
        }
        if (rc > 0)
            return -1;
    }
    store_check_counters(w);
    return w->problems ? -1 : 0;
}

/* ---- mizd --check-store ---- */

/* A running mizd holds mizd.lock; checking beside it would read a store
 * that moves. Nothing is created: a missing lock file means no mizd. */
static int store_check_unused(const char *dir, FILE *out)
{
    char path[4200], pid[32] = "";
    snprintf(path, sizeof path, "%s/mizd.lock", dir);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return 0;
    int rc = flock(fd, LOCK_SH | LOCK_NB);
    if (rc < 0) {
        ssize_t n = pread(fd, pid, sizeof pid - 1, 0);
        pid[n > 0 ? n : 0] = '\0';
        pid[strcspn(pid, "\n")] = '\0';
        fprintf(out, "%s: the store is in use by mizd%s%s: stop it first, or check a copy "
                     "(mdb_copy)\n", path, *pid ? ", pid " : "", pid);
    }
    close(fd);
    return rc;
}

long store_check(const char *dir, store_record_check_fn *check, void *arg, FILE *out)
{
    char path[4200], err[4200];
    snprintf(path, sizeof path, "%s/data.mdb", dir);
    int file = store_file_check(path, err, sizeof err);
    if (file != 0) {
        if (file > 0)
            fprintf(out, "%s: no such file (mizd would make a new, empty store here)\n", path);
        else
            fprintf(out, "%s\n", err);
        return 1;
    }
    if (store_check_unused(dir, out) < 0)
        return 1;
    MDB_env *env = NULL;
    MDB_txn *txn = NULL;
    store_walk_t w = {.path = path, .all = true, .check = check, .arg = arg, .out = out};
    MDB_dbi dbi[DB_COUNT];
    MDB_val key = {7, "version"}, val;
    int rc;
    /* NOLOCK: no lock.mdb made or needed; no mizd runs (above) */
    if ((rc = mdb_env_create(&env)) || (rc = mdb_env_set_maxdbs(env, STORE_MAX_DBS)) ||
        (rc = mdb_env_open(env, dir, MDB_RDONLY | MDB_NOLOCK | MDB_NOTLS, 0)) ||
        (rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn))) {
        fprintf(out, "%s: not a miz store, or corrupt: %s\n", path, mdb_strerror(rc));
        w.problems = 1;
        goto done;
    }
    for (int i = 0; i < DB_COUNT; i++)
        if ((rc = mdb_dbi_open(txn, store_db_names[i], 0, &dbi[i]))) {
            fprintf(out, "%s: no table \"%s\" (%s): not a miz store, or corrupt\n", path,
                    store_db_names[i], mdb_strerror(rc));
            w.problems = 1;
            goto done;
        }
    rc = mdb_get(txn, dbi[DB_META], &key, &val);
    const unsigned char *v = rc == 0 && val.mv_size == 4 ? val.mv_data : NULL;
    if (!v || ((uint32_t)v[0] << 24 | (uint32_t)v[1] << 16 | v[2] << 8 | v[3]) != STORE_VERSION) {
        fprintf(out, "%s: meta/version is missing or not %d: not a store this mizd reads\n",
                path, STORE_VERSION);
        w.problems = 1;
        goto done;
    }
    w.txn = txn;
    w.dbi = dbi;
    if (store_walk(env, &w) == 0)
        fprintf(out, "%s: ok: %zu open and %zu closed requests, %zu client references; next "
                     "tracking number %llu, next delivery id %llu\n", path, w.entries[DB_OPEN],
                w.entries[DB_CLOSED], w.entries[DB_REFS],
                (unsigned long long)(w.have_next ? w.next.tracking : 1),
                (unsigned long long)(w.have_next ? w.next.delivery : 1));
done:
    if (txn)
        mdb_txn_abort(txn);
    if (env)
        mdb_env_close(env);
    return w.problems;
}

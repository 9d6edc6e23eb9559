/* store_file: data.mdb's header, read and checked before LMDB maps it.
 *
 * LMDB trusts its file. A data.mdb cut short makes it map pages past the
 * end of the file (SIGBUS on the first read), a root pointing at a meta
 * page trips an assertion (SIGABRT), and a meta page whose transaction id
 * was raised makes it open an older snapshot as the newest, quietly undoing
 * a commit. So before mdb_env_open, this reads the two meta pages and the
 * few pages they lead to (the main table's root, which in a miz store is one
 * leaf naming the five tables, and each table's root) with pread, and
 * checks what LMDB would rely on: both meta pages well formed, written by
 * consecutive transactions each on its own page (transaction N writes page
 * N % 2), the file as long as the newest says, every root a page of the
 * right kind inside the file, and the newest snapshot's counters no older
 * than the other's (every commit of mizd writes them, and they never go
 * back). The layout is LMDB 0.9's on-disk format (mdb.c: MDB_page, MDB_meta,
 * MDB_db, MDB_node) on a 64-bit machine; the structs below mirror it. */
#include "store_lmdb.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define STORE_FILE_MAGIC 0xBEEFC0DEu
#define STORE_FILE_VERSION 1u
#define STORE_FILE_NONE UINT64_MAX /* P_INVALID: an empty tree has no root */
#define STORE_FILE_HDR 16          /* PAGEHDRSZ */
#define STORE_FILE_NODE 8          /* the node header before its key */
#define P_BRANCH 0x01
#define P_LEAF 0x02
#define P_OVERFLOW 0x04
#define P_META 0x08
#define F_BIGDATA 0x01
#define F_SUBDATA 0x02

_Static_assert(sizeof(size_t) == 8, "LMDB's pgno_t is a size_t: this reads 64-bit files");

typedef struct {
    uint32_t pad; /* the page size, in the free table's */
    uint16_t flags, depth;
    uint64_t branch_pages, leaf_pages, overflow_pages, entries, root;
} store_file_db_t;

typedef struct {
    uint32_t magic, version;
    uint64_t address, mapsize;
    store_file_db_t dbs[2]; /* the free pages, the main table */
    uint64_t last_pg, txnid;
} store_file_meta_t;

_Static_assert(sizeof(store_file_db_t) == 48, "MDB_db");
_Static_assert(sizeof(store_file_meta_t) == 136, "MDB_meta");

typedef struct {
    int fd;
    const char *path;
    uint64_t size, psize;
    unsigned char *page; /* one page, read */
    char *err;
    size_t errlen;
} store_file_t;

/* The snapshot one meta page leads to, as far as this reads it. */
typedef struct {
    store_file_meta_t m;
    bool have_counters;
    store_counters_t counters;
} store_file_snap_t;

__attribute__((format(printf, 2, 3))) static int store_file_bad(store_file_t *f, const char *fmt,
                                                                ...)
{
    va_list ap;
    int n = snprintf(f->err, f->errlen, "%s: ", f->path);
    va_start(ap, fmt);
    if (n >= 0 && (size_t)n < f->errlen)
        vsnprintf(f->err + n, f->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return -1;
}

static uint16_t store_file_u16(const unsigned char *p)
{
    uint16_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Reads page pgno of the snapshot whose last page is last_pg. */
static int store_file_read(store_file_t *f, uint64_t pgno, uint64_t last_pg, const char *what)
{
    if (pgno < 2 || pgno > last_pg)
        return store_file_bad(f, "%s is page %llu, outside the pages 2-%llu its meta page "
                                 "counts: corrupt", what, (unsigned long long)pgno,
                              (unsigned long long)last_pg);
    ssize_t n = pread(f->fd, f->page, f->psize, (off_t)(pgno * f->psize));
    if (n < 0)
        return store_file_bad(f, "cannot read page %llu: %s", (unsigned long long)pgno,
                              strerror(errno));
    if ((uint64_t)n != f->psize)
        return store_file_bad(f, "%s (page %llu) is past the end of the file: truncated",
                              what, (unsigned long long)pgno);
    uint64_t at;
    memcpy(&at, f->page, sizeof at);
    uint16_t flags = store_file_u16(f->page + 10);
    if (at != pgno || (flags & (P_BRANCH | P_LEAF)) == 0 || (flags & (P_META | P_OVERFLOW)) ||
        (flags & P_BRANCH && flags & P_LEAF))
        return store_file_bad(f, "%s (page %llu) is not a tree page (it says page %llu, flags "
                                 "0x%x): corrupt", what, (unsigned long long)pgno,
                              (unsigned long long)at, flags);
    return 0;
}

/* A tree's root: none (an empty tree) or a branch or leaf page inside the
 * snapshot. Leaves that page read. */
static int store_file_root(store_file_t *f, const store_file_db_t *db, uint64_t last_pg,
                           const char *what)
{
    if (db->root == STORE_FILE_NONE) {
        if (db->depth || db->entries)
            return store_file_bad(f, "%s has %llu entries but no root page: corrupt", what,
                                  (unsigned long long)db->entries);
        return 0;
    }
    if (db->depth == 0)
        return store_file_bad(f, "%s has a root page but a depth of 0: corrupt", what);
    return store_file_read(f, db->root, last_pg, what);
}

/* The node i of the leaf page in f->page: key and value, checked to lie in
 * the page (a value on overflow pages is not read: *val NULL). */
static int store_file_node(store_file_t *f, unsigned i, const char *what, const unsigned char **key,
                           size_t *klen, const unsigned char **val, size_t *vlen, uint16_t *flags)
{
    uint16_t lower = store_file_u16(f->page + 12), upper = store_file_u16(f->page + 14);
    uint16_t ptr = store_file_u16(f->page + STORE_FILE_HDR + 2 * i);
    if (ptr < upper || ptr > f->psize - STORE_FILE_NODE || lower > upper)
        return store_file_bad(f, "%s: a node outside its page: corrupt", what);
    const unsigned char *n = f->page + ptr;
    *vlen = (size_t)store_file_u16(n) | (size_t)store_file_u16(n + 2) << 16;
    *flags = store_file_u16(n + 4);
    *klen = store_file_u16(n + 6);
    *key = n + STORE_FILE_NODE;
    *val = *flags & F_BIGDATA ? NULL : *key + *klen;
    size_t end = ptr + STORE_FILE_NODE + *klen + (*val ? *vlen : 8);
    if (end > f->psize)
        return store_file_bad(f, "%s: a node longer than its page: corrupt", what);
    return 0;
}

static unsigned store_file_keys(const store_file_t *f)
{
    uint16_t lower = store_file_u16(f->page + 12);
    return lower < STORE_FILE_HDR ? 0 : (lower - STORE_FILE_HDR) / 2u;
}

/* The meta table's root, read: its "counters", if it is a leaf that has them. */
static int store_file_counters(store_file_t *f, store_file_snap_t *s)
{
    uint16_t flags = store_file_u16(f->page + 10);
    if (!(flags & P_LEAF))
        return 0; /* two entries never make a branch; the walk at open looks further */
    for (unsigned i = 0, n = store_file_keys(f); i < n; i++) {
        const unsigned char *key = NULL, *val = NULL;
        size_t klen = 0, vlen = 0;
        uint16_t nflags = 0;
        if (store_file_node(f, i, "the meta table", &key, &klen, &val, &vlen, &nflags) < 0)
            return -1;
        if (klen == 8 && memcmp(key, "counters", 8) == 0 && val)
            s->have_counters = store_counters_decode(val, vlen, &s->counters);
    }
    return 0;
}

/* The snapshot of meta m: its trees' roots and, in a miz store, its tables'
 * roots and counters. */
static int store_file_snapshot(store_file_t *f, store_file_snap_t *s, const char *which)
{
    char what[160];
    snprintf(what, sizeof what, "the free-page table's root (%s meta page)", which);
    if (store_file_root(f, &s->m.dbs[0], s->m.last_pg, what) < 0)
        return -1;
    snprintf(what, sizeof what, "the main table's root (%s meta page)", which);
    const store_file_db_t *main_db = &s->m.dbs[1];
    if (store_file_root(f, main_db, s->m.last_pg, what) < 0)
        return -1;
    if (main_db->root == STORE_FILE_NONE)
        return 0;
    if (!(store_file_u16(f->page + 10) & P_LEAF))
        return 0; /* not a miz store: five names fit a leaf; open_tables says so */
    unsigned n = store_file_keys(f);
    store_file_db_t tables[STORE_MAX_DBS];
    char names[STORE_MAX_DBS][16];
    unsigned n_tables = 0;
    for (unsigned i = 0; i < n; i++) {
        const unsigned char *key = NULL, *val = NULL;
        size_t klen = 0, vlen = 0;
        uint16_t flags = 0;
        if (store_file_node(f, i, what, &key, &klen, &val, &vlen, &flags) < 0)
            return -1;
        if (!(flags & F_SUBDATA) || n_tables == STORE_MAX_DBS)
            continue;
        if (!val || vlen != sizeof(store_file_db_t))
            return store_file_bad(f, "the table \"%.*s\" (%s meta page) is described in %zu "
                                     "bytes, not %zu: corrupt", (int)(klen < 16 ? klen : 16),
                                  key, which, vlen, sizeof(store_file_db_t));
        memcpy(&tables[n_tables], val, sizeof tables[n_tables]);
        snprintf(names[n_tables++], sizeof names[0], "%.*s", (int)(klen < 15 ? klen : 15), key);
    }
    for (unsigned i = 0; i < n_tables; i++) {
        snprintf(what, sizeof what, "the root of the table \"%.15s\" (%.8s meta page)", names[i],
                 which);
        if (store_file_root(f, &tables[i], s->m.last_pg, what) < 0)
            return -1;
        if (strcmp(names[i], "meta") == 0 && tables[i].root != STORE_FILE_NONE &&
            store_file_counters(f, s) < 0)
            return -1;
    }
    return 0;
}

/* Meta page i: well formed, written on its own page. */
static int store_file_meta(store_file_t *f, unsigned i, store_file_meta_t *m)
{
    unsigned char buf[STORE_FILE_HDR + sizeof *m];
    uint64_t at = i * f->psize;
    ssize_t n = pread(f->fd, buf, sizeof buf, (off_t)at);
    if (n < 0)
        return store_file_bad(f, "cannot read meta page %u: %s", i, strerror(errno));
    if ((size_t)n != sizeof buf)
        return store_file_bad(f, "%llu bytes, too short for LMDB's two meta pages: truncated",
                              (unsigned long long)f->size);
    memcpy(m, buf + STORE_FILE_HDR, sizeof *m);
    uint64_t pgno;
    memcpy(&pgno, buf, sizeof pgno);
    if (!(store_file_u16(buf + 10) & P_META) || pgno != i || m->magic != STORE_FILE_MAGIC ||
        m->version != STORE_FILE_VERSION)
        return store_file_bad(f, "not a miz store, or corrupt: meta page %u is not an LMDB "
                                 "meta page", i);
    if (m->txnid && m->txnid % 2 != i)
        return store_file_bad(f, "meta page %u says transaction %llu, which LMDB writes on "
                                 "page %llu: a damaged meta page", i,
                              (unsigned long long)m->txnid, (unsigned long long)(m->txnid % 2));
    return 0;
}

static int store_file_run(store_file_t *f)
{
    store_file_snap_t snap[2] = {0};
    if (f->size == 0)
        return store_file_bad(f, "empty (0 bytes): a damaged store, not a new one (a new store "
                                 "is a data directory without data.mdb)");
    f->psize = 4096;
    if (store_file_meta(f, 0, &snap[0].m) < 0)
        return -1;
    f->psize = snap[0].m.dbs[0].pad;
    if (f->psize < 512 || f->psize > 65536 || (f->psize & (f->psize - 1)))
        return store_file_bad(f, "meta page 0 says pages of %llu bytes: corrupt",
                              (unsigned long long)f->psize);
    if (f->size < 2 * f->psize)
        return store_file_bad(f, "%llu bytes, too short for LMDB's two meta pages: truncated",
                              (unsigned long long)f->size);
    if (store_file_meta(f, 1, &snap[1].m) < 0)
        return -1;
    if (snap[1].m.dbs[0].pad != f->psize)
        return store_file_bad(f, "its meta pages disagree on the page size: corrupt");
    /* LMDB opens the snapshot of the higher transaction id (page 0 on a tie) */
    store_file_snap_t *cur = &snap[snap[1].m.txnid > snap[0].m.txnid];
    store_file_snap_t *old = &snap[cur == &snap[0]];
    uint64_t want = (cur->m.last_pg + 1) * f->psize;
    if (cur->m.last_pg < 1 || cur->m.last_pg > f->size || f->size < want)
        return store_file_bad(f, "%llu bytes, but its newest meta page (transaction %llu) "
                                 "counts %llu pages of %llu bytes, %llu bytes: truncated",
                              (unsigned long long)f->size, (unsigned long long)cur->m.txnid,
                              (unsigned long long)cur->m.last_pg + 1,
                              (unsigned long long)f->psize, (unsigned long long)want);
    if (!(cur->m.txnid == old->m.txnid + 1 || cur->m.txnid == 0) ||
        old->m.last_pg > cur->m.last_pg)
        return store_file_bad(f, "its meta pages (transactions %llu and %llu, %llu and %llu "
                                 "pages) are not two consecutive commits: a damaged meta page",
                              (unsigned long long)old->m.txnid, (unsigned long long)cur->m.txnid,
                              (unsigned long long)old->m.last_pg + 1,
                              (unsigned long long)cur->m.last_pg + 1);
    f->page = malloc(f->psize);
    if (!f->page)
        return store_file_bad(f, "out of memory");
    if (store_file_snapshot(f, cur, "newest") < 0 || store_file_snapshot(f, old, "older") < 0)
        return -1;
    const store_counters_t *a = &old->counters, *b = &cur->counters;
    /* (counters missing or unreadable in the newest: the walk says so) */
    if (old->have_counters && cur->have_counters &&
        (a->tracking > b->tracking || a->delivery > b->delivery || a->event > b->event))
        return store_file_bad(f, "its newest meta page (transaction %llu) leads to an older "
                                 "state than the other (transaction %llu): the numbers to hand "
                                 "out next (meta/counters) went back; a damaged meta page, or "
                                 "counters set back",
                              (unsigned long long)cur->m.txnid, (unsigned long long)old->m.txnid);
    return 0;
}

int store_file_check(const char *path, char *err, size_t errlen)
{
    store_file_t f = {.path = path, .err = err, .errlen = errlen};
    f.fd = open(path, O_RDONLY | O_CLOEXEC);
    if (f.fd < 0 && errno == ENOENT)
        return 1;
    if (f.fd < 0)
        return store_file_bad(&f, "cannot open: %s", strerror(errno));
    struct stat st;
    int rc;
    if (fstat(f.fd, &st) < 0)
        rc = store_file_bad(&f, "cannot stat: %s", strerror(errno));
    else if (!S_ISREG(st.st_mode))
        rc = store_file_bad(&f, "not a regular file");
    else
        f.size = (uint64_t)st.st_size, rc = store_file_run(&f);
    free(f.page);
    close(f.fd);
    return rc;
}

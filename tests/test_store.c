/* store: the long read a snapshot makes over many turns; a damaged data.mdb
 * refused at open, naming the file and the problem (never a crash, never
 * an empty start); a full disk said as such; the offline check. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <lmdb.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "lmdb_file.h"

#include "refs_since.h"
#include "store_backend.h"

#define BEFORE 600 /* closed before the scan begins */
#define AFTER 100  /* closed after */
#define OPEN 3     /* open when it begins: 1001.. */
#define PART 256

typedef struct {
    char dir[64];
    store_t *store;
} fixture_t;

static int setup(void **state)
{
    fixture_t *f = calloc(1, sizeof *f);
    char err[256];
    snprintf(f->dir, sizeof f->dir, "/tmp/miz-test-store.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    f->store = store_lmdb_open(f->dir, err, sizeof err);
    assert_non_null(f->store);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture_t *f = *state;
    static const char *const names[] = {"data.mdb", "lock.mdb", "mizd.lock"};
    char path[128];
    store_destroy(&f->store);
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        snprintf(path, sizeof path, "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
    free(f);
    return 0;
}

/* Requests first..last, each closed at 1000 + its number, its record its
 * number, in one transaction. */
static void close_requests(store_t *s, uint64_t first, uint64_t last)
{
    assert_int_equal(store_begin(s), STORE_OK);
    for (uint64_t t = first; t <= last; t++) {
        assert_int_equal(store_put_open(s, t, NULL, &t, sizeof t), STORE_OK);
        assert_int_equal(store_put_closed(s, t, 1000 + t, NULL, 0, NULL, &t, sizeof t), STORE_OK);
    }
    assert_int_equal(store_commit(s), STORE_OK);
}

/* Requests first..last, open, their record their number. */
static void open_requests(store_t *s, uint64_t first, uint64_t last)
{
    assert_int_equal(store_begin(s), STORE_OK);
    for (uint64_t t = first; t <= last; t++)
        assert_int_equal(store_put_open(s, t, NULL, &t, sizeof t), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
}

typedef struct {
    uint64_t got[BEFORE + AFTER + OPEN + 2];
    size_t n;
    size_t stop_at; /* fn stops the scan at this record (0: never) */
} seen_t;

static int record(const void *rec, size_t len, void *arg)
{
    seen_t *seen = arg;
    uint64_t t;
    assert_int_equal(len, sizeof t);
    memcpy(&t, rec, sizeof t);
    seen->got[seen->n++] = t;
    return seen->n == seen->stop_at;
}

/* What is committed or purged while the scan goes on does not change what
 * it reads: the store as it was when it began, the open records first,
 * then the closed ones from `since` in closing order, a part at a time. */
static void test_scan_sees_its_beginning(void **state)
{
    fixture_t *f = *state;
    close_requests(f->store, 1, BEFORE);
    open_requests(f->store, 1001, 1000 + OPEN);
    uint64_t since = 1000 + 101; /* requests 101.. */
    store_scan_t *scan = store_scan(f->store, since);
    assert_non_null(scan);
    seen_t seen = {.n = 0};
    assert_int_equal(store_scan_next(scan, PART, record, &seen), 1);
    assert_int_equal(seen.n, PART);

    close_requests(f->store, BEFORE + 1, BEFORE + AFTER);
    close_requests(f->store, 1001, 1001); /* open when the scan began */
    open_requests(f->store, 1000 + OPEN + 1, 1000 + OPEN + 1);
    assert_int_equal(store_purge(f->store, 1000 + 400, 10000), 399);
    int more;
    while ((more = store_scan_next(scan, PART, record, &seen)) == 1)
        ;
    assert_int_equal(more, 0);
    assert_int_equal(seen.n, OPEN + BEFORE - 100);
    for (size_t i = 0; i < OPEN; i++)
        assert_int_equal(seen.got[i], 1001 + i);
    for (size_t i = OPEN; i < seen.n; i++)
        assert_int_equal(seen.got[i], 101 + i - OPEN);
    store_scan_destroy(&scan);
    assert_null(scan);

    /* a new scan sees the purge and what came since */
    scan = store_scan(f->store, 0);
    seen.n = 0;
    assert_int_equal(store_scan_next(scan, BEFORE + AFTER + OPEN + 1, record, &seen), 0);
    assert_int_equal(seen.n, (OPEN - 1 + 1) + BEFORE + AFTER - 399 + 1);
    assert_int_equal(seen.got[0], 1002);
    assert_int_equal(seen.got[OPEN], 400);
    assert_int_equal(seen.got[seen.n - 1], 1001);
    store_scan_destroy(&scan);
}

/* fn's non-zero return stops the scan; an empty range is done at once. */
static void test_scan_stops(void **state)
{
    fixture_t *f = *state;
    close_requests(f->store, 1, 10);
    store_scan_t *scan = store_scan(f->store, 0);
    seen_t seen = {.stop_at = 3};
    assert_int_equal(store_scan_next(scan, PART, record, &seen), -1);
    assert_int_equal(seen.n, 3);
    store_scan_destroy(&scan);

    scan = store_scan(f->store, 1000 + 11);
    seen = (seen_t){.n = 0};
    assert_int_equal(store_scan_next(scan, PART, record, &seen), 0);
    assert_int_equal(seen.n, 0);
    store_scan_destroy(&scan);
}

/* When the store must close its environment (here to unmap it, as after
 * recovery; the same for a reopen or a map that grows) it ends the scans:
 * their next call fails and says why, and they are still destroyed. */
/* LMDB lists its refs too (a walk of the refs table), though its engine
 * needs no cache of them: the interface is the same for every store. */
static void test_each_ref_since(void **state)
{
    fixture_t *f = *state;
    assert_true(store_lists_refs(f->store));
    refs_since_check(store_each_ref_since, f->store);
}

static void test_scan_ended_by_store(void **state)
{
    fixture_t *f = *state;
    close_requests(f->store, 1, 10);
    store_scan_t *a = store_scan(f->store, 0), *b = store_scan(f->store, 0);
    seen_t seen = {.n = 0};
    assert_int_equal(store_scan_next(a, 4, record, &seen), 1);
    assert_int_equal(store_unmap(f->store), 0);
    assert_int_equal(store_scan_next(a, 4, record, &seen), -1);
    assert_int_equal(store_scan_next(b, 4, record, &seen), -1);
    assert_non_null(strstr(store_error(f->store), "long read was ended"));
    store_scan_destroy(&a);
    store_scan_destroy(&b);
    /* the store itself goes on */
    close_requests(f->store, 11, 12);
    a = store_scan(f->store, 0);
    seen.n = 0;
    assert_int_equal(store_scan_next(a, PART, record, &seen), 0);
    assert_int_equal(seen.n, 12);
    store_scan_destroy(&a);
}

/* ---- a damaged store ---- */


static void put_counters(store_t *s, uint64_t tracking)
{
    assert_int_equal(store_begin(s), STORE_OK);
    assert_int_equal(store_put_counters(s, &(store_counters_t){tracking, 1, tracking}), STORE_OK);
    assert_int_equal(store_commit(s), STORE_OK);
}

/* A store as mizd leaves it, in several commits: 1..300 closed, 301..310
 * open, the counters after them; then closed. */
static void fill(fixture_t *f)
{
    close_requests(f->store, 1, 300);
    put_counters(f->store, 301);
    assert_int_equal(store_begin(f->store), STORE_OK);
    for (uint64_t t = 301; t <= 310; t++)
        assert_int_equal(store_put_open(f->store, t, NULL, &t, sizeof t), STORE_OK);
    assert_int_equal(store_put_counters(f->store, &(store_counters_t){311, 1, 311}), STORE_OK);
    assert_int_equal(store_commit(f->store), STORE_OK);
    store_destroy(&f->store);
}

static void data_path(const fixture_t *f, char *path, size_t len)
{
    snprintf(path, len, "%s/data.mdb", f->dir);
}

/* Opening the store fails, and says the file and want. */
static void refused(fixture_t *f, const char *want)
{
    char err[1024], path[128];
    data_path(f, path, sizeof path);
    f->store = store_lmdb_open(f->dir, err, sizeof err);
    if (f->store || !strstr(err, path) || !strstr(err, want))
        fail_msg("store_open %s; wanted \"%s\" about %s, got \"%s\"",
                 f->store ? "opened it" : "refused it", want, path, f->store ? "" : err);
}

static uint64_t file_u64(const fixture_t *f, off_t at)
{
    char path[128];
    data_path(f, path, sizeof path);
    return lmdb_file_u64(path, at);
}

static void file_put_u64(const fixture_t *f, off_t at, uint64_t v)
{
    char path[128];
    data_path(f, path, sizeof path);
    lmdb_file_put_u64(path, at, v);
}

static off_t file_psize(const fixture_t *f)
{
    char path[128];
    data_path(f, path, sizeof path);
    return lmdb_page_size(path);
}

static off_t newest_meta(const fixture_t *f)
{
    char path[128];
    data_path(f, path, sizeof path);
    return lmdb_newest_meta(path);
}

static void truncate_to(const fixture_t *f, off_t size)
{
    char path[128];
    data_path(f, path, sizeof path);
    assert_int_equal(truncate(path, size), 0);
}

static off_t data_size(const fixture_t *f)
{
    char path[128];
    struct stat st;
    data_path(f, path, sizeof path);
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

/* Cut to 8 KiB (its two meta pages) or to half: refused before LMDB maps
 * it, where it died of SIGBUS. */
static void test_truncated(void **state)
{
    fixture_t *f = *state;
    fill(f);
    off_t size = data_size(f);
    truncate_to(f, size / 2);
    refused(f, "truncated");
    truncate_to(f, 8192);
    refused(f, "truncated");
}

/* Cut where the free-page table's root is: refused at open, where it
 * started and died of SIGBUS at the first commit. */
static void test_cut_at_free_root(void **state)
{
    fixture_t *f = *state;
    fill(f);
    uint64_t root = file_u64(f, newest_meta(f) + META_FREE_ROOT);
    assert_true(root > 1 && root != UINT64_MAX);
    truncate_to(f, (off_t)root * file_psize(f));
    refused(f, "truncated");
}

/* A data.mdb of 0 bytes is damage, not a new store. */
static void test_zero_length(void **state)
{
    fixture_t *f = *state;
    fill(f);
    truncate_to(f, 0);
    refused(f, "empty (0 bytes)");
}

/* The main table's root pointed at page 1 (a meta page): refused by name,
 * where LMDB failed an assertion (SIGABRT). */
static void test_root_at_meta_page(void **state)
{
    fixture_t *f = *state;
    fill(f);
    file_put_u64(f, newest_meta(f) + META_MAIN_ROOT, 1);
    refused(f, "the main table's root (newest meta page) is page 1");
}

/* The older meta page given a higher transaction id: on the wrong page
 * (txn + 2), or on the right one (txn + 1), where only the state it leads
 * to, older than the other's, gives it away. Either is refused, where mizd
 * started one commit back. */
static void test_older_meta_raised(void **state)
{
    fixture_t *f = *state;
    fill(f);
    off_t newest = newest_meta(f), older = newest ? 0 : file_psize(f);
    uint64_t txn = file_u64(f, newest + META_TXNID);
    file_put_u64(f, older + META_TXNID, txn + 2);
    refused(f, "a damaged meta page");
    file_put_u64(f, older + META_TXNID, txn + 1);
    refused(f, "leads to an older state than the other");
    file_put_u64(f, older + META_TXNID, txn - 1);
    char err[512];
    f->store = store_lmdb_open(f->dir, err, sizeof err);
    assert_non_null(f->store);
}

/* Writes (or with len 0 deletes) meta/counters behind the store's back. */
static void raw_counters(fixture_t *f, const void *v, size_t len)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    MDB_val key = {8, "counters"}, val = {len, (void *)v};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, f->dir, 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    if (len)
        assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    else
        assert_int_equal(mdb_del(txn, dbi, &key, NULL), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* meta/counters deleted, 3 bytes long, or behind the highest tracking
 * number the tables hold (here a closed one): refused, where mizd handed
 * those numbers out again. */
static void test_counters(void **state)
{
    fixture_t *f = *state;
    fill(f);
    raw_counters(f, NULL, 0);
    refused(f, "meta/counters is missing, but the tables are not empty");
    raw_counters(f, "abc", 3);
    refused(f, "meta/counters is 3 bytes long");
    unsigned char v[24] = {0};
    v[7] = 200, v[15] = 1, v[23] = 1; /* next tracking 200: 300 is closed */
    raw_counters(f, v, sizeof v);
    refused(f, "the next tracking number is 200, but the store holds tracking number 310");
}

/* A value whose size was damaged (it now runs past its page and the file):
 * refused at open by the walk, never read past the file's end. */
/* A store of 300 closed requests, closed: its data file open for writing
 * in *fd, and the offset of the first byte of the node of closed/tracking
 * (whose record is its number: key big-endian, value native), 8 bytes
 * into the node, past its header. */
static off_t closed_record_at(fixture_t *f, uint64_t tracking, int *fd)
{
    close_requests(f->store, 1, 300);
    put_counters(f->store, 301);
    store_destroy(&f->store);
    char path[128];
    data_path(f, path, sizeof path);
    *fd = open(path, O_RDWR);
    assert_true(*fd >= 0);
    off_t size = data_size(f);
    unsigned char *buf = malloc((size_t)size), want[16] = {0};
    assert_non_null(buf);
    want[7] = (unsigned char)tracking;
    memcpy(want + 8, &tracking, sizeof tracking);
    assert_int_equal(pread(*fd, buf, (size_t)size, 0), size);
    off_t at = -1;
    for (off_t i = 8; i + 16 <= size && at < 0; i++)
        if (memcmp(buf + i, want, sizeof want) == 0)
            at = i;
    free(buf);
    assert_true(at >= 0);
    return at;
}

/* A value whose size was damaged (it now runs past its page and the file):
 * refused at open by the walk, never read past the file's end. */
static void test_damaged_value(void **state)
{
    fixture_t *f = *state;
    int fd;
    /* the node's header before it: data size (lo, hi), flags, key size; give it 2 GB */
    off_t at = closed_record_at(f, 77, &fd) - 8;
    uint16_t hi = 0x8000;
    assert_int_equal(pwrite(fd, &hi, sizeof hi, at + 2), sizeof hi);
    close(fd);
    refused(f, "the table \"closed\" has a value outside the file");
}

/* A leaf page of closed (not its root: 300 records take a branch and some
 * leaves) overwritten with zeros, as a bad sector reads: refused at open by
 * the walk, naming the table, where it was met at the first read of it. */
static void test_damaged_page(void **state)
{
    fixture_t *f = *state;
    int fd;
    off_t at = closed_record_at(f, 150, &fd), psize = file_psize(f);
    unsigned char *zeros = calloc(1, (size_t)psize);
    assert_non_null(zeros);
    assert_int_equal(pwrite(fd, zeros, (size_t)psize, at / psize * psize), psize);
    free(zeros);
    close(fd);
    refused(f, "the table \"closed\"");
}

/* A disk that fills in the middle of a commit: LMDB's short write (EIO) is
 * said as what it is. Needs a small tmpfs, so root. */
static void test_disk_full(void **state)
{
    fixture_t *f = *state;
    char dir[96], err[512];
    snprintf(dir, sizeof dir, "%s/small", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    if (mount("tmpfs", dir, "tmpfs", 0, "size=512k") < 0) {
        rmdir(dir);
        skip(); /* not root, or no mounts here */
    }
    store_t *s = store_lmdb_open(dir, err, sizeof err);
    assert_non_null(s);
    static unsigned char rec[64 * 1024];
    memset(rec, 'x', sizeof rec);
    store_status_t st = STORE_OK;
    for (uint64_t t = 1; t < 100 && st == STORE_OK; t++) {
        assert_int_equal(store_begin(s), STORE_OK);
        st = store_put_open(s, t, NULL, rec, sizeof rec);
        if (st == STORE_OK)
            st = store_commit(s);
        else
            store_abort(s);
    }
    assert_int_equal(st, STORE_FAILED);
    if (!strstr(store_write_error(s), "No space left on device"))
        fail_msg("a full disk said as \"%s\"", store_write_error(s));
    store_destroy(&s);
    assert_int_equal(umount(dir), 0);
    assert_int_equal(rmdir(dir), 0);
}

/* ---- mizd --check-store's walk ---- */

static const char *check_record(const void *rec, size_t len, uint64_t *tracking,
                                uint64_t *max_delivery, void *arg)
{
    (void)arg;
    if (len != sizeof *tracking)
        return "not 8 bytes";
    memcpy(tracking, rec, sizeof *tracking);
    *max_delivery = 0;
    return NULL;
}

/* What store_check wrote, and how many problems it found. */
static long check(const fixture_t *f, char *out, size_t len)
{
    FILE *fp = tmpfile();
    assert_non_null(fp);
    long problems = store_check(f->dir, check_record, NULL, fp);
    rewind(fp);
    size_t n = fread(out, 1, len - 1, fp);
    out[n] = '\0';
    fclose(fp);
    return problems;
}

/* Refused beside a running store; a sound one is ok with what it holds;
 * a damaged one has every problem said. */
static void test_check_store(void **state)
{
    fixture_t *f = *state;
    char out[4096];
    assert_int_equal(check(f, out, sizeof out), 1);
    assert_non_null(strstr(out, "in use by mizd"));
    fill(f);
    assert_int_equal(check(f, out, sizeof out), 0);
    assert_non_null(strstr(out, "ok: 10 open and 300 closed requests"));
    assert_non_null(strstr(out, "next tracking number 311"));
    unsigned char v[24] = {0};
    v[7] = 5, v[15] = 1, v[23] = 1;
    raw_counters(f, v, sizeof v);
    assert_int_equal(check(f, out, sizeof out), 1);
    assert_non_null(strstr(out, "meta/counters) went back"));
    raw_counters(f, v, sizeof v); /* twice: both meta pages agree */
    assert_int_equal(check(f, out, sizeof out), 1);
    assert_non_null(strstr(out, "the next tracking number is 5"));
    truncate_to(f, 0);
    assert_int_equal(check(f, out, sizeof out), 1);
    assert_non_null(strstr(out, "data.mdb: empty (0 bytes)"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_scan_sees_its_beginning, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_stops, setup, teardown),
        cmocka_unit_test_setup_teardown(test_scan_ended_by_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_each_ref_since, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncated, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_at_free_root, setup, teardown),
        cmocka_unit_test_setup_teardown(test_zero_length, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_at_meta_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_older_meta_raised, setup, teardown),
        cmocka_unit_test_setup_teardown(test_counters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_value, setup, teardown),
        cmocka_unit_test_setup_teardown(test_damaged_page, setup, teardown),
        cmocka_unit_test_setup_teardown(test_disk_full, setup, teardown),
        cmocka_unit_test_setup_teardown(test_check_store, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

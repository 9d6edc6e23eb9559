/* lmdb_file: reading and damaging an LMDB data file by hand, for the tests of
 * a damaged store (tests/test_store.c, tests/integration/test_store.c).
 *
 * The offsets are those of LMDB 0.9's MDB_meta in a meta page; a test damages
 * what daemon/store_file.c must catch, so it names the bytes itself rather
 * than trusting the code under test. The functions fail the test (cmocka)
 * when the file cannot be read or written; include cmocka.h first. */
#ifndef MIZ_TEST_LMDB_FILE_H
#define MIZ_TEST_LMDB_FILE_H

#include <fcntl.h>
#include <stdint.h>
#include <unistd.h>

#define META_TXNID 144     /* in meta page i, at i * page size: MDB_meta's mm_txnid */
#define META_MAIN_ROOT 128 /* the main table's md_root */
#define META_FREE_ROOT 80  /* the free-page table's md_root */
#define META_PSIZE 40      /* the page size (the free table's md_pad) */

static inline uint64_t lmdb_file_u64(const char *path, off_t at)
{
    uint64_t v;
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    assert_int_equal(pread(fd, &v, sizeof v, at), sizeof v);
    close(fd);
    return v;
}

static inline void lmdb_file_put_u64(const char *path, off_t at, uint64_t v)
{
    int fd = open(path, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, &v, sizeof v, at), sizeof v);
    close(fd);
}

static inline off_t lmdb_page_size(const char *path)
{
    return (off_t)(lmdb_file_u64(path, META_PSIZE) & 0xffffffffu);
}

/* The meta page LMDB opens: the one of the higher transaction. */
static inline off_t lmdb_newest_meta(const char *path)
{
    off_t psize = lmdb_page_size(path);
    return lmdb_file_u64(path, psize + META_TXNID) > lmdb_file_u64(path, META_TXNID) ? psize : 0;
}

#endif

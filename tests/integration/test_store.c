/* Integration tests of the store against the real mizd, on store.yaml:
 * what a restart or a kill -9 keeps, resubmission by client_ref, a deadline
 * that passes while the daemon is down, a store that cannot write, and a
 * store mizd must refuse to start on: damaged by hand as an operator's
 * disk or a bad restore would, each must make mizd exit non-zero naming
 * the file, never die of a signal, never start empty; and mizd
 * --check-store, which walks a store offline. */
#define _GNU_SOURCE /* prlimit */
#include "harness.h"
#include "lmdb_file.h"

#include <fcntl.h>
#include <lmdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define TABLE "store.yaml"

static void sleep_ms(long ms)
{
    nanosleep(&(struct timespec){ms / 1000, (ms % 1000) * 1000000}, NULL);
}

/* The next deliver of tracking to w: its id, which must be id at attempt. */
static void expect_again(it_peer_t *w, uint64_t tracking, uint64_t id, uint64_t attempt)
{
    miz_msg_t *m = it_deliver(w, tracking, "target");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), id);
    assert_int_equal(it_uint(IT_ROOT(m), "attempt"), attempt);
    miz_msg_destroy(&m);
}

/* An answered, an acked and a queued request survive a restart: the closed
 * one with its outcome, the acked one offered again under the same delivery
 * id, the queued one still queued; and no tracking number is given twice. */
static void check_survives(void **state, bool crash)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t1 = it_submit_topic(c, "utility.water.cut", NULL);
    uint64_t d1 = it_take(w, t1, "target");
    it_answer(w, d1, "fixed", "pipe replaced");
    it_outcome_is(c, t1, "water", "water", d1, "fixed");
    uint64_t t2 = it_submit_topic(c, "utility.water.leak", NULL);
    uint64_t d2 = it_take(w, t2, "target");
    it_ack(w, d2);
    uint64_t t3 = it_submit_topic(c, "utility.power.cut", NULL);

    it_restart(d, crash);

    miz_msg_t *m = it_status(c, t1);
    it_str_eq(IT_ROOT(m), "state", "closed");
    const msgpack_object *x = it_status_delivery(m, d1);
    it_str_eq(x, "outcome", "fixed");
    it_str_eq(x, "text", "pipe replaced");
    miz_msg_destroy(&m);

    /* the worker finds the broker again by itself and is offered d2 again */
    expect_again(w, t2, d2, 2);
    it_answer(w, d2, "fixed", "leak sealed");
    /* the client's routing id is stable: the outcome reaches it */
    it_outcome_is(c, t2, "water", "water", d2, "fixed");
    m = it_status(c, t2);
    IT_HISTORY(it_status_delivery(m, d2), "queued", "offered", "acked", "redelivered", "offered",
               "acked", "answered");
    miz_msg_destroy(&m);

    it_peer_t *p = it_worker(d, "power", 0);
    uint64_t d3 = it_take(p, t3, "target");
    it_answer(p, d3, "restored", NULL);
    it_outcome_is(c, t3, "power", "power", d3, "restored");
    assert_true(it_submit_topic(c, "utility.water.cut", NULL) > t3);
}

static void test_restart(void **state)
{
    check_survives(state, false);
}

static void test_kill9(void **state)
{
    check_survives(state, true);
}

static uint64_t submit_ref(it_peer_t *c, const char *topic, const char *ref, bool duplicate)
{
    miz_msg_t *m = it_send_submit(c, &(miz_submit_t){.topic = topic, .client_ref = ref,
                                                     .text = "resubmitted?"});
    it_check_type(m, "accepted");
    const msgpack_object *dup = miz_msg_get(m, "duplicate");
    assert_int_equal(dup != NULL, duplicate);
    if (dup)
        assert_true(it_bool(IT_ROOT(m), "duplicate"));
    assert_int_equal(it_uint(IT_ROOT(m), "deliveries"), 1);
    uint64_t t = it_uint(IT_ROOT(m), "tracking");
    miz_msg_destroy(&m);
    return t;
}

/* The same client_ref within the window gets the same tracking number and
 * creates nothing, before and after a restart, open or long closed. */
static void test_resubmit(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t = submit_ref(c, "utility.water.cut", "sms-0912-1", false);
    assert_int_equal(submit_ref(c, "utility.water.cut", "sms-0912-1", true), t);
    uint64_t id = it_take(w, t, "target");
    it_quiet(w, 200); /* one delivery, not two */

    it_restart(d, true);
    assert_int_equal(submit_ref(c, "utility.water.cut", "sms-0912-1", true), t);
    expect_again(w, t, id, 2);
    it_answer(w, id, "fixed", NULL);
    it_outcome_is(c, t, "water", "water", id, "fixed");
    /* closed and, past retain_closed, gone from memory: the store answers */
    for (int i = 0; i < 3; i++)
        it_serve(w, it_submit_topic(c, "utility.water.leak", NULL));
    for (int i = 0; i < 3; i++)
        miz_msg_destroy(&(miz_msg_t *){it_expect(c, "outcome")});
    assert_int_equal(submit_ref(c, "utility.water.cut", "sms-0912-1", true), t);
    miz_msg_t *m = it_status(c, t);
    it_str_eq(IT_ROOT(m), "state", "closed");
    it_str_eq(IT_ROOT(m), "client_ref", "sms-0912-1");
    miz_msg_destroy(&m);

    uint64_t other = submit_ref(c, "utility.water.cut", "sms-0912-2", false);
    assert_true(other > t);
    it_take(w, other, "target");
}

/* Acked, then the daemon is down past answer_within: at start the deadline
 * fires, once; the escalation goes out, and no second one after another
 * restart. */
static void test_deadline_while_down(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t = it_submit_topic(c, "drill.overdue", NULL);
    uint64_t id = it_take(w, t, "target");
    it_ack(w, id);
    it_close(&w);
    it_stop(d, false);
    sleep_ms(1500);
    it_start(d);

    it_peer_t *gov = it_worker(d, "governorate", 0);
    miz_msg_t *m = it_deliver(gov, t, "escalation");
    assert_int_equal(it_uint(IT_ROOT(m), "from"), id);
    it_str_eq(IT_ROOT(m), "reason", "overdue");
    miz_msg_destroy(&m);
    m = it_status(c, t);
    const msgpack_object *x = it_status_delivery(m, id);
    assert_true(it_bool(x, "overdue"));
    IT_HISTORY(x, "queued", "offered", "acked", "redelivered", "overdue", "escalated");
    miz_msg_destroy(&m);

    it_close(&gov);
    it_restart(d, false);
    gov = it_worker(d, "governorate", 0);
    m = it_deliver(gov, t, "escalation"); /* the same escalation, offered again */
    assert_int_equal(it_uint(IT_ROOT(m), "from"), id);
    miz_msg_destroy(&m);
    it_quiet(gov, 300);
    m = it_status(c, t);
    it_array(IT_ROOT(m), "deliveries", 2); /* the target and one escalation */
    x = it_status_delivery(m, id);
    IT_HISTORY(x, "queued", "offered", "acked", "redelivered", "overdue", "escalated");
    miz_msg_destroy(&m);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void set_file_limit(it_daemon_t *d, rlim_t limit)
{
    struct rlimit rl = {limit, RLIM_INFINITY};
    assert_int_equal(prlimit(it_pid(d), RLIMIT_FSIZE, &rl, NULL), 0);
}

#define FULL_BURST 200

/* A store that cannot grow (a file size limit on the daemon: writes fail
 * with EFBIG, as on a full disk): submissions are refused as unavailable,
 * status still answers, nothing crashes; when space returns, every request
 * that was accepted is served. */
static void test_store_full(void **state)
{
    it_lmdb_only();
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    uint64_t before = it_submit_topic(c, "utility.water.cut", NULL);
    char path[128], text[8192];
    snprintf(path, sizeof path, "%s/data.mdb", it_data_dir(d));
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    set_file_limit(d, (rlim_t)file_size(path));

    uint64_t accepted[FULL_BURST];
    size_t n_accepted = 0, n_unavailable = 0;
    for (size_t i = 0; i < FULL_BURST; i++)
        it_submit_send(c, &(miz_submit_t){.topic = "utility.water.cut", .text = text});
    /* replies come back at once, except "accepted" ones held until their
     * commit succeeds; so read all that come, then lift the limit */
    size_t replied = 0;
    for (miz_msg_t *m; replied < FULL_BURST && (m = it_next(c, 1000)); miz_msg_destroy(&m)) {
        if (miz_msg_is(m, "error")) {
            it_check_error(m, "unavailable");
            assert_true(it_uint(IT_ROOT(m), "retry_after_ms") > 0);
            n_unavailable++;
        } else {
            it_check_type(m, "accepted");
            accepted[n_accepted++] = it_uint(IT_ROOT(m), "tracking");
        }
        replied++;
    }
    /* the burst may have fit in one failing commit, held whole: a later
     * submission meets the failed store in any case */
    miz_msg_t *m = it_send_submit(c, &(miz_submit_t){.topic = "utility.water.cut", .text = "x"});
    it_check_error(m, "unavailable");
    miz_msg_destroy(&m);
    m = it_status(c, before);
    it_str_eq(IT_ROOT(m), "state", "open");
    miz_msg_destroy(&m);
    /* a snapshot asked now waits with the rest: its parts pause */
    it_peer_t *dash = it_client(d);
    it_send_map(dash, IT_MAP(IT_S("type", "snapshot"), IT_U("seq", 77)));
    it_quiet(dash, 300);

    set_file_limit(d, RLIM_INFINITY);
    while (replied < FULL_BURST) {
        m = it_next(c, IT_WAIT_MS);
        if (!m)
            it_fail("%zu of %d submissions never answered", FULL_BURST - replied, FULL_BURST);
        it_check_type(m, "accepted");
        accepted[n_accepted++] = it_uint(IT_ROOT(m), "tracking");
        miz_msg_destroy(&m);
        replied++;
    }
    assert_int_equal(n_accepted + n_unavailable, FULL_BURST);
    /* and it completes: every request there was when it was asked */
    size_t in_snapshot = 0;
    for (bool done = false; !done;) {
        m = it_reply(dash, 77);
        it_check_type(m, "snapshot");
        in_snapshot += it_get(IT_ROOT(m), "requests")->via.array.size;
        done = it_bool(IT_ROOT(m), "done");
        miz_msg_destroy(&m);
    }
    assert_int_equal(in_snapshot, 1 + n_accepted);

    /* submissions are taken again once a commit works (retried every tick) */
    uint64_t after = 0;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; !after && it_now_ms() < end; sleep_ms(100)) {
        m = it_send_submit(c, &(miz_submit_t){.topic = "utility.water.cut", .text = "again"});
        if (miz_msg_is(m, "accepted"))
            after = it_uint(IT_ROOT(m), "tracking");
        else
            it_check_error(m, "unavailable");
        miz_msg_destroy(&m);
    }
    assert_true(after > 0);

    it_peer_t *w = it_worker(d, "water", 1); /* offered one at a time, oldest first */
    it_serve(w, before);
    for (size_t i = 0; i < n_accepted; i++)
        it_serve(w, accepted[i]);
    it_serve(w, after);
    size_t outcomes = 0;
    for (; outcomes < n_accepted + 2 && (m = it_next(c, IT_WAIT_MS)); miz_msg_destroy(&m))
        if (miz_msg_is(m, "outcome"))
            outcomes++;
    assert_int_equal(outcomes, n_accepted + 2);
}

/* mizd never starts empty over a store it cannot read: it stops at start
 * and names the file. */
static void test_bad_store(void **state)
{
    it_lmdb_only();
    it_daemon_t *d = *state;
    char path[128], saved[136];
    snprintf(path, sizeof path, "%s/data.mdb", it_data_dir(d));
    snprintf(saved, sizeof saved, "%s.good", path);
    it_stop(d, false);
    assert_int_equal(rename(path, saved), 0);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    char junk[16384];
    memset(junk, 0x5a, sizeof junk);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);

    assert_false(it_try_start(d));
    char want[160];
    snprintf(want, sizeof want, "%s: not a miz store, or corrupt", path);
    if (!it_log_has(d, want))
        it_fail("the log does not say \"%s\"", want);

    assert_int_equal(rename(saved, path), 0);
    it_start(d);
}

/* Writes the store's version (4 bytes, big-endian) under "version" in its
 * "meta" table, with the daemon stopped. */
static void put_store_version(it_daemon_t *d, uint32_t version)
{
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    unsigned char v[4] = {(unsigned char)(version >> 24), (unsigned char)(version >> 16),
                          (unsigned char)(version >> 8), (unsigned char)version};
    MDB_val key = {7, "version"}, val = {sizeof v, v};
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, it_data_dir(d), 0, 0640), 0);
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    assert_int_equal(mdb_put(txn, dbi, &key, &val, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
}

/* A store of a later version: mizd refuses it at start and says which
 * version it found and which it reads. */
static void test_store_version(void **state)
{
    it_lmdb_only();
    it_daemon_t *d = *state;
    it_stop(d, false);
    put_store_version(d, 2);

    assert_false(it_try_start(d));
    char want[200];
    snprintf(want, sizeof want, "%s/data.mdb: store version 2; this mizd reads version 1 only",
             it_data_dir(d));
    if (!it_log_has(d, want))
        it_fail("the log does not say \"%s\"", want);

    put_store_version(d, 1);
    it_start(d);
}

/* ---- a damaged store ---- */


/* A store of requests open and closed, two with marked client_refs; the
 * daemon stopped. *open_t and *closed_t: the marked ones. */
static void fill_store(it_daemon_t *d, uint64_t *open_t, uint64_t *closed_t)
{
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    for (int i = 0; i < 3; i++) {
        uint64_t t = it_submit_topic(c, "utility.water.cut", NULL);
        uint64_t id = it_take(w, t, "target");
        it_answer(w, id, "fixed", NULL);
        it_outcome_is(c, t, "water", "water", id, "fixed");
    }
    *closed_t = it_submit(c, &(miz_submit_t){.topic = "utility.water.cut", .text = "x",
                                             .client_ref = "mark-closed-Q"});
    uint64_t id = it_take(w, *closed_t, "target");
    it_answer(w, id, "fixed", NULL);
    it_outcome_is(c, *closed_t, "water", "water", id, "fixed");
    *open_t = it_submit(c, &(miz_submit_t){.topic = "utility.water.leak", .text = "y",
                                           .client_ref = "mark-open-Q"});
    it_stop(d, false);
}

static void copy_file(const char *from, const char *to)
{
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0640);
    assert_true(in >= 0 && out >= 0);
    char buf[65536];
    ssize_t n;
    while ((n = read(in, buf, sizeof buf)) > 0)
        assert_int_equal(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

/* A copy of the daemon's store in a folder of its own: dir/data.mdb. */
static void copy_store(it_daemon_t *d, const char *name, char *dir, size_t len, char *path,
                       size_t path_len)
{
    char from[160];
    snprintf(dir, len, "%s/%s", it_data_dir(d), name);
    assert_int_equal(mkdir(dir, 0750), 0);
    snprintf(from, sizeof from, "%s/data.mdb", it_data_dir(d));
    snprintf(path, path_len, "%s/data.mdb", dir);
    copy_file(from, path);
}

/* Replaces the last byte of every copy of mark in the file by 0xff (never
 * valid in UTF-8): the record, and the index entries that hold it. */
static void flip_mark(const char *path, const char *mark)
{
    int fd = open(path, O_RDWR);
    assert_true(fd >= 0);
    off_t size = file_size(path);
    char *buf = malloc((size_t)size);
    assert_int_equal(pread(fd, buf, (size_t)size, 0), size);
    size_t n = strlen(mark), found = 0;
    for (off_t i = 0; i + (off_t)n <= size; i++)
        if (memcmp(buf + i, mark, n) == 0) {
            assert_int_equal(pwrite(fd, "\xff", 1, i + (off_t)n - 1), 1);
            found++;
        }
    assert_true(found > 0);
    free(buf);
    close(fd);
}

/* Runs mizd with args (NULL-terminated) and the daemon's table: its exit
 * status, its output in out. A mizd still running after IT_WAIT_MS fails
 * the test: it started on a store it had to refuse. */
static int run_mizd(it_daemon_t *d, char *out, size_t len, const char *const *args)
{
    char log[160];
    snprintf(log, sizeof log, "%s/run.log", it_data_dir(d));
    const char *argv[16] = {MIZD_PATH, "-c", it_table_path(d)};
    size_t n = 3;
    while (*args && n < 15)
        argv[n++] = *args++;
    argv[n] = NULL;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
            _exit(126);
        execv(MIZD_PATH, (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    uint64_t end = it_now_ms() + IT_WAIT_MS;
    while (waitpid(pid, &status, WNOHANG) == 0) {
        if (it_now_ms() > end) {
            kill(pid, SIGKILL);
            waitpid(pid, &status, 0);
            it_fail("mizd %s ran on instead of exiting", args[-1]);
        }
        sleep_ms(10);
    }
    FILE *fp = fopen(log, "r");
    assert_non_null(fp);
    size_t got = fread(out, 1, len - 1, fp);
    out[got] = '\0';
    fclose(fp);
    if (!WIFEXITED(status))
        it_fail("mizd died of signal %d:\n%s", WTERMSIG(status), out);
    return WEXITSTATUS(status);
}

/* mizd on dir exits non-zero, saying want about path. */
static void mizd_refuses(it_daemon_t *d, const char *dir, const char *path, const char *want)
{
    char out[8192], ipc[3][200];
    snprintf(ipc[0], sizeof ipc[0], "ipc://%s/c", dir);
    snprintf(ipc[1], sizeof ipc[1], "ipc://%s/w", dir);
    snprintf(ipc[2], sizeof ipc[2], "ipc://%s/e", dir);
    int rc = run_mizd(d, out, sizeof out,
                      (const char *const[]){"--data-dir", dir, "--clients", ipc[0], "--workers",
                                            ipc[1], "--events", ipc[2], NULL});
    if (rc == 0 || !strstr(out, path) || !strstr(out, want))
        it_fail("mizd on %s exited %d; wanted \"%s\" about %s:\n%s", dir, rc, want, path, out);
}

/* mizd --check-store on dir: its exit status; want in what it says. */
static int check_store(it_daemon_t *d, const char *dir, const char *want)
{
    char out[8192];
    int rc = run_mizd(d, out, sizeof out, (const char *const[]){"--check-store", dir, NULL});
    if (!strstr(out, want))
        it_fail("mizd --check-store %s exited %d without \"%s\":\n%s", dir, rc, want, out);
    return rc;
}

/* Every damage found by hand, each on a copy of one store: mizd exits
 * non-zero naming the file and the problem (where it died of SIGBUS or
 * SIGABRT, or started empty, or one commit back), and --check-store says
 * the same; the store itself still starts. */
static void test_damaged_store(void **state)
{
    it_lmdb_only();
    it_daemon_t *d = *state;
    uint64_t open_t, closed_t;
    fill_store(d, &open_t, &closed_t);
    char dir[160], path[176];

    copy_store(d, "sound", dir, sizeof dir, path, sizeof path);
    assert_int_equal(check_store(d, dir, "ok: 1 open and 4 closed requests"), 0);

    copy_store(d, "half", dir, sizeof dir, path, sizeof path);
    assert_int_equal(truncate(path, file_size(path) / 2), 0);
    mizd_refuses(d, dir, path, "truncated");
    assert_int_equal(check_store(d, dir, "truncated"), 1);

    copy_store(d, "8k", dir, sizeof dir, path, sizeof path);
    assert_int_equal(truncate(path, 8192), 0);
    mizd_refuses(d, dir, path, "truncated");

    copy_store(d, "free-root", dir, sizeof dir, path, sizeof path);
    uint64_t root = lmdb_file_u64(path, lmdb_newest_meta(path) + META_FREE_ROOT);
    assert_true(root > 1 && root != UINT64_MAX);
    assert_int_equal(truncate(path, (off_t)root * lmdb_page_size(path)), 0);
    mizd_refuses(d, dir, path, "truncated");

    copy_store(d, "empty", dir, sizeof dir, path, sizeof path);
    assert_int_equal(truncate(path, 0), 0);
    mizd_refuses(d, dir, path, "empty (0 bytes)");
    assert_int_equal(check_store(d, dir, "empty (0 bytes)"), 1);

    copy_store(d, "root-1", dir, sizeof dir, path, sizeof path);
    lmdb_file_put_u64(path, lmdb_newest_meta(path) + META_MAIN_ROOT, 1);
    mizd_refuses(d, dir, path, "the main table's root (newest meta page) is page 1");

    copy_store(d, "older-meta", dir, sizeof dir, path, sizeof path);
    off_t newest = lmdb_newest_meta(path), older = newest ? 0 : lmdb_page_size(path);
    lmdb_file_put_u64(path, older + META_TXNID, lmdb_file_u64(path, newest + META_TXNID) + 1);
    /* the meta pages disagree on the file's length, or the older one leads
     * to lower counters: either way */
    mizd_refuses(d, dir, path, "a damaged meta page");

    copy_store(d, "open-utf8", dir, sizeof dir, path, sizeof path);
    flip_mark(path, "mark-open-Q");
    mizd_refuses(d, dir, path, "a stored request does not decode (client_ref)");
    assert_int_equal(check_store(d, dir, "the record does not decode (client_ref)"), 1);

    it_start(d);
}

/* meta/counters deleted: refused while the tables hold requests, where the
 * newest closed ones' numbers were handed out again. */
static void test_counters_deleted(void **state)
{
    it_lmdb_only();
    it_daemon_t *d = *state;
    uint64_t open_t, closed_t;
    fill_store(d, &open_t, &closed_t);
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi dbi;
    assert_int_equal(mdb_env_create(&env), 0);
    assert_int_equal(mdb_env_set_maxdbs(env, 8), 0);
    assert_int_equal(mdb_env_open(env, it_data_dir(d), 0, 0640), 0);
    for (int i = 0; i < 2; i++) { /* twice: both meta pages without them */
        assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
        assert_int_equal(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
        int rc = mdb_del(txn, dbi, &(MDB_val){8, "counters"}, NULL);
        assert_true(rc == 0 || rc == MDB_NOTFOUND);
        assert_int_equal(mdb_put(txn, dbi, &(MDB_val){7, "version"},
                                 &(MDB_val){4, "\0\0\0\1"}, 0), 0);
        assert_int_equal(mdb_txn_commit(txn), 0);
    }
    char path[160];
    snprintf(path, sizeof path, "%s/data.mdb", it_data_dir(d));
    assert_false(it_try_start(d));
    if (!it_log_has(d, "meta/counters is missing, but the tables are not empty"))
        it_fail("the log does not say the counters are missing");
    assert_true(it_log_has(d, path));
    assert_int_equal(check_store(d, it_data_dir(d), "meta/counters is missing"), 1);

    /* counters again, past every number: it starts, and numbers go on */
    unsigned char v[24] = {0};
    v[7] = (unsigned char)(open_t + 1), v[15] = 100, v[22] = 1;
    assert_int_equal(mdb_txn_begin(env, NULL, 0, &txn), 0);
    assert_int_equal(mdb_put(txn, dbi, &(MDB_val){8, "counters"}, &(MDB_val){24, v}, 0), 0);
    assert_int_equal(mdb_txn_commit(txn), 0);
    mdb_env_close(env);
    it_start(d);
    assert_int_equal(it_submit_topic(it_client(d), "utility.water.cut", NULL), open_t + 1);
}

/* A flipped byte in a closed request's client_ref: mizd starts (closed
 * requests are read when asked), and status on it says unavailable instead
 * of carrying a string that is not UTF-8; --check-store names it. */
static void test_flipped_byte(void **state)
{
    it_lmdb_only();
    it_daemon_t *d = *state;
    uint64_t open_t, closed_t;
    fill_store(d, &open_t, &closed_t);
    char path[160], want[64];
    snprintf(path, sizeof path, "%s/data.mdb", it_data_dir(d));
    flip_mark(path, "mark-closed-Q");
    snprintf(want, sizeof want, "closed/%llu: the record does not decode (client_ref)",
             (unsigned long long)closed_t);
    assert_int_equal(check_store(d, it_data_dir(d), want), 1);
    it_start(d);
    it_peer_t *c = it_client(d);
    miz_msg_t *m = it_send_status(c, closed_t);
    it_check_error(m, "unavailable");
    miz_msg_destroy(&m);
    m = it_status(c, open_t);
    it_str_eq(IT_ROOT(m), "state", "open");
    miz_msg_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_restart, TABLE),
        IT_TEST(test_kill9, TABLE),
        IT_TEST(test_resubmit, TABLE),
        IT_TEST(test_deadline_while_down, TABLE),
        IT_TEST(test_store_full, TABLE),
        IT_TEST(test_bad_store, TABLE),
        IT_TEST(test_store_version, TABLE),
        IT_TEST(test_damaged_store, TABLE),
        IT_TEST(test_counters_deleted, TABLE),
        IT_TEST(test_flipped_byte, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

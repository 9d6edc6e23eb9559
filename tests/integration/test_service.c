/* Integration tests of mizd as a systemd service, on service.yaml:
 *
 * - the notify protocol, against a datagram socket of the test's own named
 *   by NOTIFY_SOCKET (every mizd of this run inherits it and WATCHDOG_USEC):
 *   READY once it answers, WATCHDOG pings, RELOADING then READY around a
 *   SIGHUP, STOPPING on SIGTERM; each datagram is told apart by the
 *   sender's pid, which the kernel vouches for (SCM_CREDENTIALS);
 * - a reload under load with a changed table (new submissions follow it,
 *   open ones keep their route, an agency it drops is still served) and
 *   with a broken one (refused, the table in use stays), and `mizd --reload`
 *   waiting for either outcome;
 * - SIGTERM under load: submissions meet "unavailable", mizd exits 0, and
 *   every request it accepted is there after a restart and gets answered. */
#define _GNU_SOURCE /* struct ucred */
#include "harness.h"

#include <signal.h>
#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define TABLE "service.yaml"
#define WATCHDOG_USEC "200000" /* mizd pings every 100 ms */
#define LOAD 300               /* submissions in a loaded test */
#define IN_FLIGHT 20

static int notify_fd = -1;
static char notify_path[64];

/* Opens the socket mizd notifies, before any mizd starts. */
static void notify_listen(void)
{
    strcpy(notify_path, "/tmp/miz-notify-XXXXXX");
    assert_non_null(mkdtemp(notify_path));
    strcat(notify_path, "/sock");
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    strcpy(a.sun_path, notify_path);
    int one = 1;
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    assert_true(notify_fd >= 0);
    assert_int_equal(bind(notify_fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(setsockopt(notify_fd, SOL_SOCKET, SO_PASSCRED, &one, sizeof one), 0);
    setenv("NOTIFY_SOCKET", notify_path, 1);
    setenv("WATCHDOG_USEC", WATCHDOG_USEC, 1);
}

static void notify_close(void)
{
    close(notify_fd);
    unlink(notify_path);
    *strrchr(notify_path, '/') = '\0';
    rmdir(notify_path);
}

/* Whether the datagram has this line. */
/* Whether a line of msg matches the pattern (fnmatch(3)). */
static bool has_line(const char *msg, const char *pattern)
{
    char line[512];
    for (const char *p = msg; p; p = strchr(p, '\n'), p = p ? p + 1 : NULL) {
        size_t n = strcspn(p, "\n");
        snprintf(line, sizeof line, "%.*s", (int)n, p);
        if (fnmatch(pattern, line, 0) == 0)
            return true;
    }
    return false;
}

/* Reads datagrams until one from mizd pid has the line want; the datagram
 * goes to msg. Waiting keeps every peer's heartbeats going. */
static void expect_notify_from(it_daemon_t *d, pid_t pid, const char *want, char *msg,
                               size_t len)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; it_now_ms() < end;) {
        char cbuf[CMSG_SPACE(sizeof(struct ucred))];
        struct iovec iov = {msg, len - 1};
        struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = cbuf,
                            .msg_controllen = sizeof cbuf};
        ssize_t n = recvmsg(notify_fd, &mh, MSG_DONTWAIT);
        if (n < 0) {
            it_pump(d, 10);
            continue;
        }
        msg[n] = '\0';
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        assert_non_null(c);
        assert_int_equal(c->cmsg_type, SCM_CREDENTIALS);
        struct ucred cred;
        memcpy(&cred, CMSG_DATA(c), sizeof cred);
        if (cred.pid == pid && has_line(msg, want))
            return;
    }
    it_fail("mizd (pid %d) never notified %s", (int)pid, want);
}

static void expect_notify(it_daemon_t *d, const char *want, char *msg, size_t len)
{
    expect_notify_from(d, it_pid(d), want, msg, len);
}

static void test_notify(void **state)
{
    it_daemon_t *d = *state;
    char msg[512];
    char idle[64], busy[96];
    /* a fresh PostgreSQL store's first lease is epoch 1; LMDB has none */
    snprintf(idle, sizeof idle, ", epoch %llu; 0 open requests, 0 workers", it_first_epoch());
    snprintf(busy, sizeof busy, "STATUS=active since *, epoch %llu; 1 open requests, 1 workers",
             it_first_epoch());
    expect_notify(d, "READY=1", msg, sizeof msg);
    if (!strstr(msg, "STATUS=active since ") || !strstr(msg, idle))
        it_fail("READY came without the expected STATUS: %s", msg);

    for (int i = 0; i < 3; i++) /* from the loop, so it goes on while idle */
        expect_notify(d, "WATCHDOG=1", msg, sizeof msg);

    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t = it_submit_topic(c, "city.light", NULL);
    it_take(w, t, "target");
    expect_notify(d, busy, msg, sizeof msg);

    kill(it_pid(d), SIGHUP);
    expect_notify(d, "RELOADING=1", msg, sizeof msg);
    if (!strstr(msg, "MONOTONIC_USEC="))
        it_fail("RELOADING came without MONOTONIC_USEC: %s", msg);
    expect_notify(d, "READY=1", msg, sizeof msg);

    pid_t pid = it_pid(d);
    it_stop(d, false);
    expect_notify_from(d, pid, "STOPPING=1", msg, sizeof msg);
    it_start(d);
    expect_notify(d, "READY=1", msg, sizeof msg);
}

/* ---- under load ---- */

/* Acks and answers every delivery waiting for w; how many it answered. */
static size_t serve_waiting(it_peer_t *w)
{
    size_t n = 0;
    for (miz_msg_t *m; (m = it_next(w, 0)); miz_msg_destroy(&m)) {
        if (!miz_msg_is(m, "deliver"))
            continue;
        uint64_t id = it_uint(IT_ROOT(m), "delivery");
        assert_int_equal(miz_worker_ack(it_miz_worker(w), id), 0);
        assert_int_equal(miz_worker_answer(it_miz_worker(w), id, "done", "served"), 0);
        n++;
    }
    return n;
}

typedef struct {
    uint64_t *tracking; /* every accepted one, in a table that grows */
    size_t cap;
    size_t accepted, refused, replies, sent, outcomes;
} load_t;

/* Takes what the client has: replies to submissions and outcomes. */
static void client_read(it_peer_t *c, load_t *l)
{
    for (miz_msg_t *m; (m = it_next(c, 0)); miz_msg_destroy(&m)) {
        if (miz_msg_is(m, "outcome")) {
            l->outcomes++;
            continue;
        }
        l->replies++;
        if (miz_msg_is(m, "accepted")) {
            if (l->accepted == l->cap) {
                l->cap = l->cap ? 2 * l->cap : LOAD;
                l->tracking = realloc(l->tracking, l->cap * sizeof *l->tracking);
                assert_non_null(l->tracking);
            }
            l->tracking[l->accepted++] = it_uint(IT_ROOT(m), "tracking");
        } else {
            it_check_error(m, "unavailable");
            l->refused++;
        }
    }
}

static void submit_one(it_peer_t *c, load_t *l, const char *topic)
{
    it_submit_send(c, &(miz_submit_t){.topic = topic, .text = "بار آزمایشی"});
    l->sent++;
}

static const char RELOADED[] =
    "broker:\n"
    "  name: it-service\n"
    "  heartbeat: 100ms\n"
    "agencies:\n"
    "  power: {name_fa: \"توزیع برق\", name_en: \"Power distribution\"}\n"
    "  governorate: {name_fa: \"استانداری\", name_en: \"Governor's office\"}\n"
    "routes:\n"
    "  - match: city.#\n"
    "    to: [power]\n"
    "  - match: roads.#\n"
    "    to: [power]\n";

static void test_reload_under_load(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *water = it_worker(d, "water", 64),
              *power = it_worker(d, "power", 64), *gov = it_worker(d, "governorate", 0);
    /* held by water across the reload: its route's deadline and escalation
     * stay, though the new table has neither (nor water) */
    uint64_t held = it_submit_topic(c, "city.snow", NULL);
    uint64_t held_id = it_take(water, held, "target");
    it_ack(water, held_id);
    it_submit_error(c, &(miz_submit_t){.topic = "roads.pothole", .text = "x"}, "unknown_topic");

    load_t *l = calloc(1, sizeof *l);
    size_t by_water = 0, by_power = 0;
    bool reloaded = false;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS * 3; l->outcomes < LOAD;) {
        if (it_now_ms() > end)
            it_fail("%zu of %d outcomes in time", l->outcomes, LOAD);
        if (l->sent < LOAD && l->sent - l->replies < IN_FLIGHT)
            submit_one(c, l, "city.load");
        if (!reloaded && l->accepted >= LOAD / 3) {
            it_write_table(d, RELOADED);
            kill(it_pid(d), SIGHUP);
            /* the rest after it, so both tables take some for sure */
            for (uint64_t by = it_now_ms() + IT_WAIT_MS; !it_log_has(d, "routing table reloaded");) {
                if (it_now_ms() > by)
                    it_fail("the reload never happened");
                it_pump(d, 1);
                by_water += serve_waiting(water);
                client_read(c, l);
            }
            reloaded = true;
        }
        it_pump(d, 1);
        by_water += serve_waiting(water);
        by_power += serve_waiting(power);
        client_read(c, l);
    }
    assert_int_equal(l->accepted, LOAD);
    assert_true(by_water > 0 && by_power > 0);
    assert_int_equal(by_water + by_power, LOAD);
    free(l->tracking);
    free(l);
    /* the last outcomes can reach the client before the workers read the
     * "ok"s of the same commit: those go, so what comes next is new */
    for (it_peer_t *w[] = {water, power}, **p = w; p < w + 2; p++)
        for (miz_msg_t *m; (m = it_next(*p, 200)); miz_msg_destroy(&m))
            it_check_type(m, "ok");

    /* after the reload: the new route, the new topic */
    uint64_t t = it_submit_topic(c, "roads.pothole", NULL);
    uint64_t id = it_serve(power, t);
    it_outcome_is(c, t, "power", "power", id, "done");

    /* the old route's answer deadline passes: escalation to governorate */
    uint64_t esc = it_take(gov, held, "escalation");
    it_answer(gov, esc, "done", "استاندار پیگیری کرد");
    it_outcome_is(c, held, "water", "governorate", esc, "done");
    if (!it_log_has(d, "routing table reloaded: 2 agencies, 2 routes"))
        it_fail("the log does not tell of the reload");

    /* a broken table is refused whole, and mizd --reload (ExecReload=) says
     * so and fails; the one in use stays */
    char out[1024];
    it_write_table(d, "routes:\n  - match: [\n");
    assert_int_equal(it_reload(d, out, sizeof out), 1);
    if (!strstr(out, "reload refused, the routing table in use stays: ") ||
        !strstr(out, "table.yaml:2:12: unclosed \"[\""))
        it_fail("mizd --reload does not say where the table is broken: %s", out);
    /* where the fault began (issue 17), not where libyaml gave up */
    if (!it_log_has(d, "reload refused") || !it_log_has(d, "table.yaml:2:12: unclosed \"[\""))
        it_fail("the log does not say where the table is broken");
    t = it_submit_topic(c, "roads.pothole", NULL);
    id = it_serve(power, t);
    it_outcome_is(c, t, "power", "power", id, "done");
    /* a good one again: taken, and mizd --reload returns 0 */
    it_write_table(d, RELOADED);
    assert_int_equal(it_reload(d, out, sizeof out), 0);
    if (!strstr(out, "routing table reloaded"))
        it_fail("mizd --reload does not tell the reload: %s", out);
}

static void test_stop_under_load(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 64);
    load_t *l = calloc(1, sizeof *l);
    bool signalled = false;
    /* submissions go on until mizd is gone: the ones after SIGTERM are refused */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; !it_exited(d);) {
        if (it_now_ms() > end)
            it_fail("mizd did not stop under load");
        if (l->sent - l->replies < IN_FLIGHT)
            submit_one(c, l, "city.load");
        if (!signalled && l->accepted >= LOAD / 2) {
            kill(it_pid(d), SIGTERM);
            signalled = true;
        }
        it_pump(d, 1);
        serve_waiting(w);
        client_read(c, l);
    }
    it_stop(d, false); /* exited 0, or this fails */
    if (l->refused == 0)
        it_fail("no submission was refused while mizd stopped");
    if (!it_log_has(d, "mizd is stopping"))
        it_fail("the log does not show a refusal");

    /* every accepted request is still there, and gets answered */
    it_start(d);
    for (size_t i = 0; i < l->accepted; i++) {
        for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
            miz_msg_t *m = it_status(c, l->tracking[i]);
            size_t n;
            const char *s = miz_msg_str(m, "state", &n);
            bool closed = s && n == 6 && memcmp(s, "closed", 6) == 0;
            miz_msg_destroy(&m);
            if (closed)
                break;
            if (it_now_ms() > end)
                it_fail("tracking %llu never closed", (unsigned long long)l->tracking[i]);
            serve_waiting(w);
        }
    }
    free(l->tracking);
    free(l);
}

int main(void)
{
    notify_listen();
    const struct CMUnitTest tests[] = {
        IT_TEST(test_notify, TABLE),
        IT_TEST(test_reload_under_load, TABLE),
        IT_TEST(test_stop_under_load, TABLE),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    notify_close();
    return failed;
}

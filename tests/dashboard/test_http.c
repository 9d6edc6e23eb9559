/* The dashboard's HTTP side holds against what anyone who reaches its port
 * can do (issue 16, section 1), against the real mizd and the real
 * miz-dashboard over real sockets: live pages that close free their slots;
 * a live page that reads nothing holds a bounded backlog and then gets the
 * newest figures; a page that has the rest gets only the agency that
 * changed, far smaller than the whole; a gateway's pending and given-up
 * outcomes are in /metrics; half-sent requests are cut off while others are served;
 * oversized headers and URLs are refused; a dead broker shows as stale; a
 * past week's report never stalls the server; unknown agencies and future
 * weeks are 404 (and /metrics gives no quantile where nothing was timed);
 * a token keeps out whoever lacks it. Every wait is for a
 * condition, bounded by IT_WAIT_MS. */
#include "dashproc.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "clock.h"
#include "figures.h"
#include "jalali.h"

#define TABLE "../dashboard/dashboard.yaml"

/* A metric's value in a /metrics body (it must be there). */
static double metric_in(const char *m, const char *name)
{
    char pat[128];
    snprintf(pat, sizeof pat, "\n%s ", name);
    const char *at = strstr(m, pat);
    if (!at)
        it_fail("/metrics has no %s:\n%s", name, m);
    return strtod(at + strlen(pat), NULL);
}

static double metric(dash_proc_t *p, const char *name)
{
    char *m = dash_get_ok(p, "/metrics");
    double v = metric_in(m, name);
    free(m);
    return v;
}

static void wait_metric(it_daemon_t *d, dash_proc_t *p, const char *name, double want)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        double v = metric(p, name);
        if (v == want)
            return;
        if (it_now_ms() > end)
            it_fail("%s stayed %g, not %g", name, v, want);
        it_pump(d, 20);
    }
}

/* Opens /events and returns the socket once the first figures came. */
static int live_open(dash_proc_t *p, it_daemon_t *d, int rcvbuf)
{
    int fd = dash_connect(p, rcvbuf);
    static const char req[] = "GET /events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)sizeof req - 1);
    char buf[65536];
    size_t n = 0;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("/events sent no figures");
        if (poll(&pf, 1, 10) == 1) {
            ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
            if (got <= 0)
                it_fail("/events closed at once");
            n += (size_t)got;
            buf[n] = '\0';
            if (strncmp(buf, "HTTP/1.1 200", 12) != 0)
                it_fail("/events answered %s", buf);
            if (strstr(buf, "event: figures\ndata: {"))
                return fd;
            if (n == sizeof buf - 1)
                n = 0;
        }
        it_pump(d, 1);
    }
}

/* ---- slots ---- */

static void test_closed_pages_free_their_slots(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start_with(d, (const char *const[]){"--max-live", "4", NULL});
    /* three times as many pages as there are slots, each closed in turn */
    for (int i = 0; i < 12; i++) {
        close(live_open(p, d, 0));
        wait_metric(d, p, "miz_dashboard_live_pages", 0);
    }
    assert_int_equal((int)metric(p, "miz_dashboard_live_closed_total"), 12);
    /* four at once fit; a fifth is told why not */
    int fds[4];
    for (int i = 0; i < 4; i++)
        fds[i] = live_open(p, d, 0);
    int status;
    char *full = dash_get(p, "/events", &status);
    assert_int_equal(status, 503);
    assert_non_null(strstr(full, "too many live pages"));
    free(full);
    for (int i = 0; i < 4; i++)
        close(fds[i]);
    dash_stop(&p);
}

/* ---- a page that never reads ---- */

#define BACKLOG 4096

static void test_stalled_page_is_bounded(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start_with(
        d, (const char *const[]){"--live-backlog", "4096", "--live-stall", "600", NULL});
    it_peer_t *c = it_client(d);
    /* a page that takes in almost nothing: a receive buffer as small as the
     * kernel allows, and it never reads past the first figures */
    int stalled = live_open(p, d, 1);
    /* the figures change (a request a few times a second) until the page
     * is skipped, and on after that: its backlog stays bounded */
    size_t submitted = 0;
    for (uint64_t end = it_now_ms() + 6 * IT_WAIT_MS;; submitted++) {
        it_submit_topic(c, "utility.water.leak", NULL);
        it_pump(d, 100);
        if (metric(p, "miz_dashboard_live_skipped_total") >= 1)
            break;
        if (it_now_ms() > end)
            it_fail("a page that reads nothing was never skipped");
    }
    char *json = dash_get_ok(p, "/api/figures");
    double one = (double)strlen(json) + 64; /* one figures event */
    free(json);
    for (int i = 0; i < 20; i++, submitted++) {
        it_submit_topic(c, "utility.water.leak", NULL);
        it_pump(d, 100);
        double backlog = metric(p, "miz_dashboard_live_backlog_bytes");
        if (backlog > BACKLOG + one)
            it_fail("a stalled page holds %g bytes, past %g", backlog, BACKLOG + one);
    }
    /* it reads at last: what it gets ends with the newest figures */
    char want[64];
    snprintf(want, sizeof want, "\"requests\":%zu,", submitted + 1);
    char *buf = malloc(1 << 22);
    size_t n = 0;
    assert_non_null(buf);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct pollfd pf = {stalled, POLLIN, 0};
        if (poll(&pf, 1, 10) == 1) {
            ssize_t got = read(stalled, buf + n, (1 << 22) - 1 - n);
            assert_true(got > 0);
            n += (size_t)got;
            buf[n] = '\0';
            const char *last = NULL; /* the whole figures, or a patch after them */
            for (const char *at = buf; (at = strstr(at, "\nevent: ")); at++)
                last = at;
            if (last && strstr(last, want) && strstr(last, "\n\n"))
                break;
            if (n > (1 << 22) - 65536)
                memmove(buf, buf + n - 65536, 65536), n = 65536;
        }
        if (it_now_ms() > end)
            it_fail("the page never got the newest figures (%s)", want);
        it_pump(d, 1);
    }
    free(buf);
    close(stalled);
    dash_stop(&p);
}

/* ---- a page that has the rest gets what changed ---- */

/* The next whole event (up to its blank line) that fd sends, skipping
 * keep-alives; malloc'd. */
static char *live_next(it_daemon_t *d, int fd)
{
    static char buf[1 << 20];
    static size_t n;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        char *ev = strstr(buf, "event: ");
        char *stop = ev ? strstr(ev, "\n\n") : NULL;
        if (stop) {
            size_t len = (size_t)(stop + 2 - ev);
            char *out = strndup(ev, len);
            n -= (size_t)(stop + 2 - buf);
            memmove(buf, stop + 2, n + 1);
            return out;
        }
        struct pollfd pf = {fd, POLLIN, 0};
        if (poll(&pf, 1, 10) == 1) {
            ssize_t got = read(fd, buf + n, sizeof buf - 1 - n);
            assert_true(got > 0);
            n += (size_t)got;
            buf[n] = '\0';
        }
        if (it_now_ms() > end || n == sizeof buf - 1)
            it_fail("no whole event came on /events");
        it_pump(d, 1);
    }
}

static size_t count_of(const char *s, const char *what)
{
    size_t k = 0;
    for (; (s = strstr(s, what)); s++)
        k++;
    return k;
}

static void test_live_sends_changes(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start(d);
    wait_metric(d, p, "miz_dashboard_synced", 1);
    int fd = live_open(p, d, 0); /* it has the whole figures */
    it_peer_t *c = it_client(d);
    it_submit_topic(c, "utility.water.leak", NULL); /* no worker: it stays queued at water */
    /* patches until water shows it; each with water's figures at most */
    char *ev;
    for (;;) {
        ev = live_next(d, fd);
        static const char head[] = "event: patch\ndata: {\"head\":{";
        if (strncmp(ev, head, sizeof head - 1) != 0)
            it_fail("a page that has the rest got %.60s", ev);
        if (count_of(ev, "{\"id\":") > 1 || strstr(ev, "\"id\":\"power\""))
            it_fail("a patch with agencies that did not change: %s", ev);
        if (strstr(ev, "{\"id\":\"water\"") && strstr(ev, "\"open\":1,"))
            break;
        free(ev);
    }
    assert_non_null(strstr(ev, "\"ids\":[\"water\",\"power\",\"governorate\",\"inspection\"]"));
    assert_null(strstr(ev, "\"overdue\":[")); /* the list did not change */
    /* the agency's part is what the whole says of it, and far smaller than the whole */
    char *whole = dash_get_ok(p, "/api/figures");
    const char *w = strstr(whole, "{\"id\":\"water\""), *wend = strchr(w, '}');
    assert_non_null(w);
    char *part = strndup(w, (size_t)(wend + 1 - w));
    if (!strstr(ev, part))
        it_fail("the patch's water is not the whole's:\n%s\n%s", ev, part);
    if (strlen(ev) * 2 > strlen(whole))
        it_fail("a patch of one agency takes %zu bytes, the whole %zu", strlen(ev), strlen(whole));
    printf("# one agency's update: %zu bytes; the whole figures: %zu bytes\n", strlen(ev),
           strlen(whole));
    free(part);
    free(whole);
    free(ev);
    close(fd);
    dash_stop(&p);
}

/* ---- the gateways' pending outcomes, from the broker's counters ---- */

static void test_gateway_outcomes(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start(d);
    it_peer_t *g = it_client_named(d, "sms-137"), *w = it_worker(d, "water", 5);
    /* two outcomes it never confirms, one allowed to wait: the first is given up */
    for (int i = 0; i < 2; i++)
        it_serve(w, it_submit(g, &(miz_submit_t){.topic = "utility.water.leak", .text = "نشت لوله", .confirm = true}));
    char *m = NULL;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;; it_pump(d, 20)) {
        free(m);
        m = dash_get_ok(p, "/metrics");
        if (strstr(m, "\nmiz_dashboard_gateway_outcomes_pending{gateway=\"sms-137\"} 1\n") &&
            strstr(m, "\nmiz_dashboard_gateway_outcomes_dropped_total{gateway=\"sms-137\"} 1\n"))
            break;
        if (it_now_ms() > end)
            it_fail("/metrics never showed the gateway's outcomes:\n%s", m);
    }
    assert_non_null(strstr(m, "# TYPE miz_dashboard_gateway_outcomes_dropped_total counter\n"));
    assert_non_null(strstr(m, "# TYPE miz_broker_events_total counter\n"));
    /* the outcomes were committed: the store's commits are counted, and timed */
    assert_true(metric_in(m, "miz_broker_store_commits_total") >= 2);
    assert_true(metric_in(m, "miz_broker_store_commit_seconds_total") > 0);
    metric_in(m, "miz_broker_store_commit_max_seconds"); /* there, or the test fails */
    /* water answered both on time: a ratio of 1; nothing for the others */
    assert_non_null(strstr(m, "miz_agency_week_on_time_ratio{agency=\"water\"} 1.000\n"));
    assert_null(strstr(m, "miz_agency_week_on_time_ratio{agency=\"power\"}"));
    free(m);
    dash_stop(&p);
}

/* ---- half-sent and oversized requests ---- */

static void test_slow_and_huge_requests(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start_with(d, (const char *const[]){"--request-timeout", "2", NULL});
    /* clients that send half a request and then nothing */
    enum { SLOW = 50 };
    int slow[SLOW];
    static const char half[] = "GET /api/figures HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ";
    for (int i = 0; i < SLOW; i++) {
        slow[i] = dash_connect(p, 0);
        assert_int_equal(write(slow[i], half, sizeof half - 1), (ssize_t)sizeof half - 1);
    }
    /* the others are served meanwhile */
    free(dash_get_ok(p, "/api/figures"));
    free(dash_get_ok(p, "/"));
    /* and each slow one is cut off */
    for (int i = 0; i < SLOW; i++) {
        for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
            struct pollfd pf = {slow[i], POLLIN, 0};
            char buf[512];
            if (poll(&pf, 1, 10) == 1 && read(slow[i], buf, sizeof buf) <= 0)
                break;
            if (it_now_ms() > end)
                it_fail("a half-sent request was never cut off");
            it_pump(d, 1);
        }
        close(slow[i]);
    }
    free(dash_get_ok(p, "/api/figures"));

    /* a header of 32 MB, and a URL of 100 kB: refused, not read */
    size_t big = 32 << 20;
    char *req = malloc(big + 256);
    assert_non_null(req);
    int n = snprintf(req, 256, "GET / HTTP/1.0\r\nX-Big: ");
    memset(req + n, 'a', big);
    strcpy(req + n + big, "\r\n\r\n");
    int fd = dash_connect(p, 0);
    size_t sent = 0, len = strlen(req);
    char answer[4096] = "";
    size_t got = 0;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct pollfd pf = {fd, POLLIN | (sent < len ? POLLOUT : 0), 0};
        if (poll(&pf, 1, 10) == 1) {
            if (pf.revents & POLLIN) {
                ssize_t r = read(fd, answer + got, sizeof answer - 1 - got);
                if (r <= 0)
                    break;
                got += (size_t)r;
            } else if (pf.revents & POLLOUT) {
                ssize_t w = send(fd, req + sent, len - sent, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (w < 0 && errno != EAGAIN)
                    break; /* it closed on us: refused */
                sent += w > 0 ? (size_t)w : 0;
            } else {
                break;
            }
        }
        if (it_now_ms() > end)
            it_fail("a 32 MB header was neither refused nor cut off");
        it_pump(d, 1);
    }
    close(fd);
    answer[got] = '\0';
    /* libevent answers 400 to headers past the limit */
    if (got && strncmp(answer, "HTTP/1.1 400", 12) != 0 && strncmp(answer, "HTTP/1.1 413", 12) != 0)
        it_fail("a 32 MB header got %s", answer);
    assert_true(sent < len); /* it stopped reading long before the end */
    int status;
    n = snprintf(req, 256, "GET /report?week=");
    memset(req + n, 'a', 100000);
    strcpy(req + n + 100000, " HTTP/1.0\r\n\r\n");
    char *whole = dash_request(p, req, &status);
    if (status != 400 && status != 413 && status != 414)
        it_fail("a URL of 100 kB got %d", status);
    free(whole);
    free(req);
    free(dash_get_ok(p, "/api/figures"));
    dash_stop(&p);
}

/* ---- a dead broker, and past weeks while it is down ---- */

static void test_dead_broker(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start(d);
    wait_metric(d, p, "miz_dashboard_synced", 1);
    wait_metric(d, p, "miz_dashboard_broker_stale", 0);
    it_stop(d, true); /* kill -9 */
    wait_metric(d, p, "miz_dashboard_broker_stale", 1);
    char *json = dash_get_ok(p, "/api/figures");
    assert_non_null(strstr(json, "\"stale\":true"));
    free(json);

    /* a past week's report needs the broker: it waits for it, and the
     * server goes on answering meanwhile */
    int slow = dash_connect(p, 0);
    static const char past[] = "GET /report?week=1404-W32&agency=water HTTP/1.0\r\n\r\n";
    assert_int_equal(write(slow, past, sizeof past - 1), (ssize_t)sizeof past - 1);
    for (int i = 0; i < 5; i++) {
        free(dash_get_ok(p, "/api/figures"));
        struct pollfd pf = {slow, POLLIN, 0};
        if (poll(&pf, 1, 0) == 1)
            it_fail("the past week's report came before the figures it should not hold up");
    }
    /* a second one meanwhile is told to come back */
    int status;
    char *busy = dash_get(p, "/report?week=1404-W33&agency=water", &status);
    assert_int_equal(status, 503);
    free(busy);
    char answer[1024];
    size_t got = 0;
    for (uint64_t end = it_now_ms() + 3 * IT_WAIT_MS;;) {
        struct pollfd pf = {slow, POLLIN, 0};
        if (poll(&pf, 1, 10) == 1) {
            ssize_t r = read(slow, answer + got, sizeof answer - 1 - got);
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        if (it_now_ms() > end)
            it_fail("the past week's report never answered");
    }
    close(slow);
    answer[got] = '\0';
    if (strncmp(answer, "HTTP/1.0 503", 12) != 0 && strncmp(answer, "HTTP/1.1 503", 12) != 0)
        it_fail("a past week with the broker down: %s", answer);

    it_start(d);
    wait_metric(d, p, "miz_dashboard_broker_stale", 0);
    wait_metric(d, p, "miz_dashboard_synced", 1);
    /* with the broker back, the same report comes */
    char *old = dash_get_ok(p, "/report?week=1404-W32&agency=water&format=csv");
    assert_non_null(strstr(old, "\r\n1404-W32,water,"));
    free(old);
    dash_stop(&p);
}

/* ---- what the report refuses ---- */

static void test_report_refuses(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start(d);
    int day = fig_day(clock_ms(CLOCK_REALTIME)), wy, wk;
    char week[16], path[128];
    assert_true(jalali_week_of(jalali_week_start(day) + 7, &wy, &wk));
    assert_true(jalali_week_format(wy, wk, week, sizeof week));
    int status;
    snprintf(path, sizeof path, "/report?week=%s&agency=water", week);
    char *body = dash_get(p, path, &status);
    assert_int_equal(status, 404);
    assert_non_null(strstr(body, "has not begun"));
    free(body);
    assert_true(jalali_week_of(jalali_week_start(day), &wy, &wk));
    assert_true(jalali_week_format(wy, wk, week, sizeof week));
    snprintf(path, sizeof path, "/report?week=%s&agency=nosuch", week);
    body = dash_get(p, path, &status);
    assert_int_equal(status, 404);
    assert_non_null(strstr(body, "no such agency"));
    free(body);
    snprintf(path, sizeof path, "/report?week=%s&agency=water", week);
    free(dash_get_ok(p, path));
    dash_expect(p, "/report?week=1404-W32&agency=water&format=pdf", 400);
    dash_expect(p, "/report?week=%ZZ", 400);
    /* nothing timed yet: no quantile at all, rather than a 0 */
    body = dash_get_ok(p, "/metrics");
    assert_non_null(strstr(body, "# TYPE miz_agency_week_time_to_ack_seconds gauge\n"));
    assert_null(strstr(body, "miz_agency_week_time_to_ack_seconds{"));
    assert_null(strstr(body, "miz_agency_week_time_to_answer_seconds{"));
    free(body);
    body = dash_request(p, "POST /api/figures HTTP/1.0\r\nContent-Length: 0\r\n\r\n", &status);
    assert_int_equal(status, 501); /* libevent's answer to a method it is not allowed */
    free(body);
    dash_stop(&p);
}

/* ---- a token ---- */

static void test_token(void **state)
{
    it_daemon_t *d = *state;
    char path[] = "/tmp/miz-dash-token-XXXXXX";
    int tfd = mkstemp(path);
    assert_true(tfd >= 0);
    static const char token[] = "s3cret-token-of-the-governorate";
    assert_int_equal(write(tfd, token, sizeof token - 1), (ssize_t)sizeof token - 1);
    assert_int_equal(write(tfd, "\n", 1), 1);
    close(tfd);
    dash_proc_t *p = dash_start_with(d, (const char *const[]){"--token-file", path, NULL});
    unlink(path);
    int status;
    const char *paths[] = {"/", "/api/figures", "/events", "/metrics", "/report?week=1404-W32&agency=water"};
    for (size_t i = 0; i < sizeof paths / sizeof *paths; i++) {
        char *body = dash_get(p, paths[i], &status);
        if (status != 401)
            it_fail("%s without the token: %d", paths[i], status);
        free(body);
    }
    char *a = dash_request(p, "GET /api/figures HTTP/1.0\r\nAuthorization: Bearer wrong-token-wrong-token\r\n\r\n", &status);
    assert_int_equal(status, 401);
    free(a);
    a = dash_request(p, "GET /api/figures HTTP/1.0\r\nAuthorization: Bearer s3cret-token-of-the-governorate\r\n\r\n", &status);
    assert_int_equal(status, 200);
    assert_non_null(strstr(a, "\"agencies\":["));
    free(a);
    /* a wall screen's link: the token becomes a cookie, the page loads with it */
    a = dash_request(p, "GET /?token=s3cret-token-of-the-governorate HTTP/1.0\r\n\r\n", &status);
    assert_int_equal(status, 303);
    assert_non_null(strstr(a, "Set-Cookie: miz_token=s3cret-token-of-the-governorate; Path=/; HttpOnly"));
    free(a);
    a = dash_request(p, "GET /metrics HTTP/1.0\r\nCookie: lang=fa; miz_token=s3cret-token-of-the-governorate\r\n\r\n", &status);
    assert_int_equal(status, 200);
    free(a);
    dash_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_closed_pages_free_their_slots, TABLE),
        IT_TEST(test_stalled_page_is_bounded, TABLE),
        IT_TEST(test_live_sends_changes, TABLE),
        IT_TEST(test_gateway_outcomes, TABLE),
        IT_TEST(test_slow_and_huge_requests, TABLE),
        IT_TEST(test_dead_broker, TABLE),
        IT_TEST(test_report_refuses, TABLE),
        IT_TEST(test_token, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Integration tests of the weekly reports delivered by themselves, against
 * the real mizd (harness.h) and the real miz-dashboard (dashproc.h): the
 * table schedules them for today at a minute just passed (the dashboard's
 * schedule clock set to the test's own instant with MIZ_DASHBOARD_NOW_MS),
 * and the test checks the folder's files (the same CSV as /report), what
 * the command got on its stdin, what a webhook of the test's own (a real
 * HTTP server on a socket here, answering 500 the first time) got, that a
 * restarted dashboard sends nothing twice, and that a report due while the
 * broker is down is delivered once it is back. */
#define _GNU_SOURCE /* strcasestr, asprintf */
#include "dashproc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "clock.h"
#include "figures.h"
#include "jalali.h"

#define TABLE "../dashboard/dashboard.yaml"
#define WAIT_MS 30000

static const char *const WEEKDAYS[] = {"saturday",  "sunday",   "monday", "tuesday",
                                       "wednesday", "thursday", "friday"};

typedef struct {
    char dir[64];
    char week[16];
    int listen_fd;
    unsigned port;
    int hook_posts;      /* requests the webhook got */
    int hook_ok;         /* of them, answered 200 */
    char *hook_body[2];  /* water's html and csv as the webhook got them */
} fixture_t;

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        fwrite(chunk, 1, n, out);
    fclose(f);
    fclose(out);
    return buf;
}

/* ---- the webhook: a real HTTP server, one request per connection ---- */

static void hook_listen(fixture_t *fx)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof sa;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fx->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fx->listen_fd >= 0);
    assert_int_equal(bind(fx->listen_fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(fx->listen_fd, 8), 0);
    assert_int_equal(getsockname(fx->listen_fd, (struct sockaddr *)&sa, &len), 0);
    fx->port = ntohs(sa.sin_port);
}

static const char *header_of(const char *head, const char *name, char *buf, size_t size)
{
    const char *at = strcasestr(head, name);
    if (!at)
        return NULL;
    at += strlen(name);
    size_t n = strcspn(at, "\r\n");
    snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), at);
    return buf;
}

/* Takes one request if one is there: the first is answered 500, the others 200. */
static void hook_serve(it_daemon_t *d, fixture_t *fx)
{
    struct pollfd pf = {fx->listen_fd, POLLIN, 0};
    if (poll(&pf, 1, 0) != 1)
        return;
    int fd = accept(fx->listen_fd, NULL, NULL);
    assert_true(fd >= 0);
    size_t n = 0, cap = 1 << 20;
    char *buf = malloc(cap), *body = NULL;
    char v[128];
    long want = -1;
    for (uint64_t end = it_now_ms() + WAIT_MS; want < 0 || (long)(n - (size_t)(body - buf)) < want;) {
        struct pollfd rf = {fd, POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("the webhook's request did not come whole");
        if (poll(&rf, 1, 10) == 1) {
            ssize_t got = read(fd, buf + n, cap - n - 1);
            assert_true(got > 0);
            n += (size_t)got;
            buf[n] = '\0';
            if (!body && (body = strstr(buf, "\r\n\r\n"))) {
                body += 4;
                assert_non_null(header_of(buf, "\r\nContent-Length: ", v, sizeof v));
                want = atol(v);
            }
        }
        it_pump(d, 1);
    }
    assert_true(strncmp(buf, "POST /hook?province=ilam HTTP/1.1\r\n", 35) == 0);
    assert_string_equal(header_of(buf, "\r\nX-Miz-Week: ", v, sizeof v), fx->week);
    const char *agency = header_of(buf, "\r\nX-Miz-Agency: ", v, sizeof v);
    assert_non_null(agency);
    bool water = strcmp(agency, "water") == 0;
    assert_true(water || strcmp(agency, "power") == 0);
    const char *type = header_of(buf, "\r\nContent-Type: ", v, sizeof v);
    bool csv = strcmp(type, "text/csv; charset=utf-8") == 0;
    assert_true(csv || strcmp(type, "text/html; charset=utf-8") == 0);
    const char *reply = fx->hook_posts++ == 0
                            ? "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                            : "HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    if (fx->hook_posts > 1) {
        fx->hook_ok++;
        if (water) {
            free(fx->hook_body[csv]);
            fx->hook_body[csv] = strdup(body);
        }
    }
    assert_int_equal(write(fd, reply, strlen(reply)), (ssize_t)strlen(reply));
    close(fd);
    free(buf);
}

/* ---- the schedule: today, a minute just passed ---- */

static void write_table(it_daemon_t *d, fixture_t *fx, bool webhook)
{
    uint64_t now = clock_ms(CLOCK_REALTIME);
    int day = fig_day(now), wy, wk;
    uint64_t minute = (now - fig_day_start(day)) / 60000;
    if (minute > 0)
        minute--;
    assert_true(jalali_week_of(jalali_week_start(day), &wy, &wk));
    assert_true(jalali_week_format(wy, wk, fx->week, sizeof fx->week));
    char now_s[32];
    snprintf(now_s, sizeof now_s, "%llu", (unsigned long long)now);
    assert_int_equal(setenv("MIZ_DASHBOARD_NOW_MS", now_s, 1), 0);
    char *base = slurp(it_table_path(d)), hook[128] = "";
    assert_non_null(base);
    if (webhook)
        snprintf(hook, sizeof hook, "  webhook: http://127.0.0.1:%u/hook?province=ilam\n", fx->port);
    char *text = NULL;
    assert_true(asprintf(&text,
                         "%s\nreports:\n"
                         "  day: %s\n"
                         "  at: \"%02u:%02u\"\n"
                         "  agencies: [water, power]\n"
                         "  formats: [html, csv]\n"
                         "  folder: %s/out\n"
                         "  command: 'cat > %s/cmd-$MIZ_REPORT_AGENCY-$MIZ_REPORT_WEEK.$MIZ_REPORT_FORMAT'\n"
                         "%s"
                         "  timeout: 10s\n"
                         "  retry: 100ms\n"
                         "  retry_max: 400ms\n",
                         base, WEEKDAYS[jalali_weekday(day)], (unsigned)(minute / 60),
                         (unsigned)(minute % 60), fx->dir, fx->dir, hook) > 0);
    it_write_table(d, text);
    free(text);
    free(base);
}

/* DIR/out/AGENCY-WEEK.EXT (the folder's) or DIR/cmd-AGENCY-WEEK.EXT (the command's) */
static char *path_of(const fixture_t *fx, bool folder, const char *agency, const char *ext)
{
    static char path[4][256];
    static int i;
    i = (i + 1) % 4;
    snprintf(path[i], sizeof path[i], "%s/%s%s-%s.%s", fx->dir, folder ? "out/" : "cmd-", agency,
             fx->week, ext);
    return path[i];
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

/* The value of the sample "name" in /metrics, or -1. */
static long metric(dash_proc_t *p, const char *name)
{
    char *m = dash_get_ok(p, "/metrics"), needle[160];
    snprintf(needle, sizeof needle, "\n%s ", name);
    const char *at = strstr(m, needle);
    long v = at ? atol(at + strlen(needle)) : -1;
    free(m);
    return v;
}

static bool all_files(const fixture_t *fx)
{
    static const char *const agencies[] = {"water", "power"}, *const ext[] = {"html", "csv"};
    for (int a = 0; a < 2; a++)
        for (int e = 0; e < 2; e++)
            if (!exists(path_of(fx, true, agencies[a], ext[e])) ||
                !exists(path_of(fx, false, agencies[a], ext[e])))
                return false;
    return true;
}

static void setup_fixture(fixture_t *fx)
{
    memset(fx, 0, sizeof *fx);
    snprintf(fx->dir, sizeof fx->dir, "/tmp/miz-reports-XXXXXX");
    assert_non_null(mkdtemp(fx->dir));
    hook_listen(fx);
}

static void cleanup_fixture(fixture_t *fx)
{
    char cmd[128];
    close(fx->listen_fd);
    free(fx->hook_body[0]);
    free(fx->hook_body[1]);
    snprintf(cmd, sizeof cmd, "rm -rf -- '%s'", fx->dir); /* our own mkdtemp folder only */
    assert_int_equal(system(cmd), 0);
    unsetenv("MIZ_DASHBOARD_NOW_MS");
}

/* ---- the tests ---- */

static void test_delivered_once(void **state)
{
    it_daemon_t *d = *state;
    fixture_t fx;
    setup_fixture(&fx);
    write_table(d, &fx, true);
    it_peer_t *c = it_client(d);
    it_submit_topic(c, "utility.water.leak", NULL);
    it_submit_topic(c, "utility.water.cut", NULL);
    it_submit_topic(c, "utility.power.out", NULL);
    dash_proc_t *p = dash_start(d);
    for (uint64_t end = it_now_ms() + WAIT_MS; !all_files(&fx) || fx.hook_ok < 4;) {
        if (it_now_ms() > end)
            it_fail("the reports were not all delivered (webhook: %d posts)", fx.hook_posts);
        hook_serve(d, &fx);
        it_pump(d, 5);
    }
    /* the folder's CSV is the report /report gives; the command and the webhook got the same */
    char q[128];
    snprintf(q, sizeof q, "/report?week=%s&agency=water&format=csv", fx.week);
    char *csv = dash_get_ok(p, q);
    char *file = slurp(path_of(&fx, true, "water", "csv"));
    assert_string_equal(file, csv);
    assert_non_null(strstr(file, ",water,Water and wastewater,2,0,2,")); /* open, overdue, received */
    char *cmd = slurp(path_of(&fx, false, "water", "csv"));
    assert_string_equal(cmd, file);
    assert_string_equal(fx.hook_body[1], file);
    free(cmd);
    free(file);
    free(csv);
    file = slurp(path_of(&fx, true, "power", "html"));
    assert_non_null(strstr(file, "<html"));
    assert_non_null(strstr(file, "توزیع برق"));
    free(file);
    file = slurp(path_of(&fx, true, "water", "html"));
    cmd = slurp(path_of(&fx, false, "water", "html"));
    assert_string_equal(cmd, file);
    assert_string_equal(fx.hook_body[0], file);
    free(cmd);
    free(file);
    /* the webhook's 500 was a failure, retried */
    assert_int_equal(metric(p, "miz_dashboard_reports_failures_total{destination=\"webhook\"}"), 1);
    assert_int_equal(metric(p, "miz_dashboard_reports_delivered_total{destination=\"folder\"}"), 2);
    assert_int_equal(metric(p, "miz_dashboard_reports_delivered_total{destination=\"webhook\"}"), 2);
    assert_int_equal(metric(p, "miz_dashboard_report_delivered{agency=\"water\"}"), 1);
    assert_int_equal(metric(p, "miz_dashboard_reports_owed"), 0);
    dash_stop(&p);

    /* a restart sends nothing again: the command's files, taken away, do not come back */
    unlink(path_of(&fx, false, "water", "csv"));
    unlink(path_of(&fx, false, "power", "html"));
    p = dash_start(d);
    long checks0 = -1;
    for (uint64_t end = it_now_ms() + WAIT_MS;;) {
        long checks = metric(p, "miz_dashboard_reports_checks_total");
        if (checks > 0 && checks0 < 0)
            checks0 = checks;
        if (checks0 >= 0 && checks >= checks0 + 2)
            break; /* it looked at least twice with the broker up */
        if (it_now_ms() > end)
            it_fail("the restarted dashboard never looked at its schedule");
        hook_serve(d, &fx);
        it_pump(d, 20);
    }
    assert_false(exists(path_of(&fx, false, "water", "csv")));
    assert_false(exists(path_of(&fx, false, "power", "html")));
    assert_int_equal(metric(p, "miz_dashboard_reports_delivered_total{destination=\"folder\"}"), 0);
    assert_int_equal(metric(p, "miz_dashboard_report_delivered{agency=\"power\"}"), 1);
    assert_int_equal(fx.hook_posts, 5);
    dash_stop(&p);
    it_close(&c);
    cleanup_fixture(&fx);
}

static void test_broker_down(void **state)
{
    it_daemon_t *d = *state;
    fixture_t fx;
    setup_fixture(&fx);
    write_table(d, &fx, false);
    it_peer_t *c = it_client(d);
    it_submit_topic(c, "utility.water.leak", NULL);
    it_stop(d, false);
    dash_proc_t *p = dash_start(d);
    /* due while the broker is down: tried, failed, retried */
    for (uint64_t end = it_now_ms() + WAIT_MS;
         metric(p, "miz_dashboard_reports_failures_total{destination=\"broker\"}") < 2;) {
        if (it_now_ms() > end)
            it_fail("the dashboard did not try the reports with the broker down");
        it_pump(d, 20);
    }
    assert_false(exists(path_of(&fx, true, "water", "csv")));
    assert_int_equal(metric(p, "miz_dashboard_reports_owed"), 2);
    it_start(d);
    /* a report is owed until every destination has it: the files come first */
    for (uint64_t end = it_now_ms() + WAIT_MS;
         !all_files(&fx) || metric(p, "miz_dashboard_reports_owed") != 0;) {
        if (it_now_ms() > end)
            it_fail("the reports were not delivered once the broker was back");
        it_pump(d, 20);
    }
    char q[128];
    snprintf(q, sizeof q, "/report?week=%s&agency=water&format=csv", fx.week);
    char *csv = dash_get_ok(p, q);
    char *file = slurp(path_of(&fx, true, "water", "csv"));
    assert_string_equal(file, csv);
    free(file);
    free(csv);
    dash_stop(&p);
    it_close(&c);
    cleanup_fixture(&fx);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_delivered_once, TABLE),
        IT_TEST(test_broker_down, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

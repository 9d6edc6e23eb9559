/* Integration tests of the dashboard against the real mizd (harness.h) on
 * tests/dashboard/dashboard.yaml: a scripted day gives exactly the expected
 * table and weekly report, over HTTP and from `miz report`; a subscriber
 * that drops events, and a dashboard whose broker is killed and restarted,
 * resynchronise to figures equal to a recount from the broker's own status
 * answers. */
#include "dashproc.h"

#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "clock.h"
#include "figures.h"
#include "jalali.h"
#include "render.h"
#include "stream.h"

#ifndef MIZ_CLI_PATH
#error "MIZ_CLI_PATH must name the miz binary"
#endif

#define TABLE "../dashboard/dashboard.yaml" /* the harness reads tables beside its own */
#define MAX_TRACKING 64

static const char *const IDS[] = {"water", "power", "governorate", "inspection"};
static const render_agency_t NAMES[] = {
    {"water", "آب و فاضلاب", "Water and wastewater"},
    {"power", "توزیع برق", "Power distribution"},
    {"governorate", "استانداری", "Governor's office"},
    {"inspection", "بازرسی", "Inspection office"},
};

/* ---- the recount: the figures from the broker's own status answers
 * (dash_recount) ---- */

static figures_t *week_of(const miz_replica_t *r, int day0)
{
    figures_t *f = figures_compute(r, IDS, 4, day0, 7, clock_ms(CLOCK_REALTIME));
    assert_non_null(f);
    return f;
}

static char *csv_of(const figures_t *f, const char *agency)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    render_names_t names = {NAMES, 4, NULL};
    render_report_csv(out, f, agency, &names);
    fclose(out);
    return text;
}

/* Every figure and case of a and b is the same; what differs goes to the
 * failure message. */
static bool same_figures(const figures_t *a, const figures_t *b, char *why, size_t size)
{
    if (a->n_agencies != b->n_agencies || a->n_overdue != b->n_overdue ||
        a->n_missed != b->n_missed || a->n_escalated != b->n_escalated) {
        snprintf(why, size, "agencies %zu/%zu overdue %zu/%zu missed %zu/%zu escalated %zu/%zu",
                 a->n_agencies, b->n_agencies, a->n_overdue, b->n_overdue, a->n_missed,
                 b->n_missed, a->n_escalated, b->n_escalated);
        return false;
    }
    for (size_t i = 0; i < a->n_agencies; i++) {
        fig_agency_t x = a->agencies[i], y = b->agencies[i];
        if (strcmp(x.agency, y.agency) != 0) {
            snprintf(why, size, "agency %zu: %s/%s", i, x.agency, y.agency);
            return false;
        }
        x.agency = y.agency = NULL;
        if (memcmp(&x, &y, sizeof x) != 0) {
            snprintf(why, size, "%s: open %" PRIu64 "/%" PRIu64 " on_time %" PRIu64 "/%" PRIu64
                     " missed %" PRIu64 "/%" PRIu64 " acked %" PRIu64 "/%" PRIu64,
                     a->agencies[i].agency, x.open, y.open, x.on_time, y.on_time, x.missed,
                     y.missed, x.acked, y.acked);
            return false;
        }
    }
    for (size_t i = 0; i < a->n_overdue; i++)
        if (a->overdue[i].d->id != b->overdue[i].d->id) {
            snprintf(why, size, "overdue list differs at %zu", i);
            return false;
        }
    return true;
}

/* ---- running `miz report` while the harness's peers keep their heartbeats ---- */

/* Runs it on endpoint, which must exit with status want; its standard
 * output, and its standard error too when want is not 0. */
static char *run_report_on(it_daemon_t *d, const char *endpoint, const char *week,
                           const char *agency, const char *format, int want)
{
    int out[2];
    assert_int_equal(pipe(out), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dup2(out[1], STDOUT_FILENO);
        if (want)
            dup2(out[1], STDERR_FILENO);
        close(out[0]);
        execl(MIZ_CLI_PATH, MIZ_CLI_PATH, "-e", endpoint, "report", "--week", week, "--agency",
              agency, "--format", format, "-c", it_table_path(d), (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    assert_non_null(buf);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct pollfd pf = {out[0], POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("miz report did not finish");
        if (poll(&pf, 1, 10) == 1) {
            if (n + 4096 > cap)
                assert_non_null(buf = realloc(buf, cap *= 2));
            ssize_t got = read(out[0], buf + n, cap - n - 1);
            assert_true(got >= 0);
            if (got == 0)
                break;
            n += (size_t)got;
        }
        it_pump(d, 1);
    }
    close(out[0]);
    buf[n] = '\0';
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != want)
        it_fail("miz report exited with status %d, not %d: %s", status, want, buf);
    return buf;
}

static char *run_report(it_daemon_t *d, const char *week, const char *agency, const char *format)
{
    return run_report_on(d, it_clients_endpoint(d), week, agency, format, 0);
}

/* An unknown agency and a week not begun: status 4 and why, said before
 * asking a broker (here one that does not exist, which would be status 3) */
static void test_report_refuses_what_cannot_be(void **state)
{
    it_daemon_t *d = *state;
    int day = fig_day(clock_ms(CLOCK_REALTIME)), wy, wk;
    char week[16], next[16];
    assert_true(jalali_week_of(jalali_week_start(day), &wy, &wk));
    assert_true(jalali_week_format(wy, wk, week, sizeof week));
    assert_true(jalali_week_of(jalali_week_start(day) + 7, &wy, &wk));
    assert_true(jalali_week_format(wy, wk, next, sizeof next));
    static const char nowhere[] = "ipc:///nonexistent/miz-report-test";
    char *out = run_report_on(d, nowhere, week, "nosuch", "csv", 4);
    if (!strstr(out, "no agency \"nosuch\""))
        it_fail("an unknown agency: %s", out);
    free(out);
    out = run_report_on(d, nowhere, next, "water", "html", 4);
    if (!strstr(out, "has not begun"))
        it_fail("a week not begun: %s", out);
    free(out);
    /* this week, on no broker: status 3 (it asked) */
    free(run_report_on(d, nowhere, week, "water", "csv", 3));
}

/* ---- nearest-rank percentiles of durations, from status histories ---- */

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rank(uint64_t *v, size_t n, unsigned p)
{
    qsort(v, n, sizeof *v, cmp_u64);
    return v[(p * n + 99) / 100 - 1];
}

/* The first time of event in a status delivery's history, less its created. */
static uint64_t took(const msgpack_object *d, const char *event)
{
    const msgpack_object *h = it_get(d, "history");
    for (uint32_t i = 0; i < h->via.array.size; i++) {
        const msgpack_object *e = &h->via.array.ptr[i];
        const msgpack_object *name = it_get(e, "event");
        if (name->via.str.size == strlen(event) && memcmp(name->via.str.ptr, event, strlen(event)) == 0)
            return it_uint(e, "at") - it_uint(d, "created");
    }
    it_fail("no %s in the history", event);
    return 0;
}

/* "12.345": ms as seconds, as the CSV writes them */
static void seconds(char *buf, size_t size, uint64_t ms)
{
    snprintf(buf, size, "%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
}

/* Waits until GET path answers exactly want. */
static void wait_for_body(dash_proc_t *p, const char *path, const char *want)
{
    char *body = NULL;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        free(body);
        body = dash_get_ok(p, path);
        if (strcmp(body, want) == 0)
            break;
        if (it_now_ms() > end)
            it_fail("GET %s:\n%s\nwanted:\n%s", path, body, want);
    }
    free(body);
}

static void must_have(const char *text, const char *part, const char *what)
{
    if (!strstr(text, part))
        it_fail("%s lacks %s:\n%s", what, part, text);
}

/* ---- the scripted day ---- */

static void test_scripted_day(void **state)
{
    it_daemon_t *d = *state;
    uint64_t start = clock_ms(CLOCK_REALTIME);
    dash_proc_t *p = dash_start(d);
    it_peer_t *c = it_client(d), *water = it_worker(d, "water", 20),
              *power = it_worker(d, "power", 5), *gov = it_worker(d, "governorate", 5),
              *insp = it_worker(d, "inspection", 5);
    uint64_t t[7];
    /* two water requests answered at once: on time */
    t[0] = it_submit_topic(c, "utility.water.leak", NULL);
    it_serve(water, t[0]);
    t[1] = it_submit_topic(c, "utility.water.leak", NULL);
    it_serve(water, t[1]);
    /* one refused, escalated, and answered by the governor's office */
    t[2] = it_submit_topic(c, "utility.water.meter", NULL);
    uint64_t w3 = it_take(water, t[2], "target");
    it_ack(water, w3);
    it_refuse(water, w3, "not ours");
    it_answer(gov, it_take(gov, t[2], "escalation"), "done", "the governorate saw to it");
    /* one acked and still open */
    t[3] = it_submit_topic(c, "utility.water.pressure", NULL);
    it_ack(water, it_take(water, t[3], "target"));
    /* one overdue and escalated, then answered late: the escalation is superseded */
    t[4] = it_submit_topic(c, "late.pipe", NULL);
    uint64_t l1 = it_take(water, t[4], "target");
    it_ack(water, l1);
    uint64_t l1e = it_take(gov, t[4], "escalation"); /* made when it went overdue */
    it_ack(gov, l1e);
    it_answer(water, l1, "done", "late");
    miz_msg_t *cancel = it_expect(gov, "cancel");
    assert_int_equal(it_uint(IT_ROOT(cancel), "delivery"), l1e);
    miz_msg_destroy(&cancel);
    /* one overdue, escalated, and open at both */
    t[5] = it_submit_topic(c, "late.drain", NULL);
    uint64_t l2 = it_take(water, t[5], "target");
    it_ack(water, l2);
    uint64_t l2e = it_take(gov, t[5], "escalation");
    it_ack(gov, l2e);
    /* which goes overdue in its turn (the chain ends there): wait for it, so
     * that nothing changes any more */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        miz_msg_t *m = it_status(c, t[5]);
        bool overdue = it_bool(it_status_delivery(m, l2e), "overdue");
        miz_msg_destroy(&m);
        if (overdue)
            break;
        if (it_now_ms() > end)
            it_fail("the escalation of %" PRIu64 " never went overdue", t[5]);
        it_pump(d, 20);
    }
    /* a complaint to power, answered; its copy seen by inspection */
    t[6] = it_submit_topic(c, "utility.power.cut", "complaint");
    it_serve(power, t[6]);
    it_ack(insp, it_take(insp, t[6], "observe"));

    /* the times to ack and to answer, from the broker's own histories */
    uint64_t ack[6], answer[3];
    size_t n_ack = 0, n_answer = 0;
    for (int i = 0; i < 6; i++) {
        miz_msg_t *m = it_status(c, t[i]);
        const msgpack_object *dl = &it_array(IT_ROOT(m), "deliveries", i == 2 || i >= 4 ? 2 : 1)
                                        ->via.array.ptr[0];
        ack[n_ack++] = took(dl, "acked");
        if (i < 2 || i == 4)
            answer[n_answer++] = took(dl, "answered");
        miz_msg_destroy(&m);
    }
    int day0 = jalali_week_start(fig_day(start)), wy, wk;
    if (jalali_week_start(fig_day(clock_ms(CLOCK_REALTIME))) != day0)
        skip(); /* the script ran across midnight between a Friday and a Saturday */
    assert_true(jalali_week_of(day0, &wy, &wk));
    char week[16], p50[4][24], path[256], want[1024];
    assert_true(jalali_week_format(wy, wk, week, sizeof week));
    seconds(p50[0], sizeof p50[0], rank(ack, n_ack, 50));
    seconds(p50[1], sizeof p50[1], rank(ack, n_ack, 90));
    seconds(p50[2], sizeof p50[2], rank(answer, n_answer, 50));
    seconds(p50[3], sizeof p50[3], rank(answer, n_answer, 90));

    /* the water row of the weekly report: open 2 (t3, t5), overdue 1 (t5),
     * received 6, on time 2 (t0, t1), missed 2 (t4, t5), 50%, acked 6,
     * answered 3 (t0, t1, t4), escalations 3 (t2, t4, t5), refusals 1 */
    snprintf(want, sizeof want,
             "week,agency,name_en,open,overdue,received,on_time,missed,on_time_pct,acked,"
             "ack_p50_s,ack_p90_s,answered,answer_p50_s,answer_p90_s,escalations,refusals,"
             "volume_avg28\r\n%s,water,Water and wastewater,2,1,6,2,2,50.0,6,%s,%s,3,%s,%s,3,1,"
             "0.00\r\n",
             week, p50[0], p50[1], p50[2], p50[3]);
    miz_replica_t *r = dash_recount(c, t, 7);
    figures_t *f = week_of(r, day0);
    char *expected = csv_of(f, "water");
    if (strncmp(expected, want, strlen(want)) != 0)
        it_fail("the recount's report:\n%s\nwanted it to start:\n%s", expected, want);
    snprintf(path, sizeof path, "/report?week=%s&agency=water&format=csv", week);
    wait_for_body(p, path, expected);
    /* the same from the command line */
    char *cli = run_report(d, week, "water", "csv");
    assert_string_equal(cli, expected);
    free(cli);
    free(expected);
    /* the governor's office: the escalation of t2 answered in time, the
     * one of t5 open and overdue (that of t4, superseded, may have gone
     * overdue before it was: the recount tells) */
    expected = csv_of(f, "governorate");
    must_have(expected, ",governorate,Governor's office,1,1,0,1,", "its report");
    snprintf(path, sizeof path, "/report?week=%s&agency=governorate&format=csv", week);
    wait_for_body(p, path, expected);
    free(expected);

    /* the report as HTML: Persian, with the values for machines beside */
    snprintf(path, sizeof path, "/report?week=%s&agency=water", week);
    char *html = dash_get_ok(p, path);
    must_have(html, "<html lang=\"fa\" dir=\"rtl\">", "the HTML report");
    must_have(html, "<h1>گزارش هفتگی آب و فاضلاب</h1>", "the HTML report");
    must_have(html, "<td id=\"open\" data-v=\"2\">۲</td>", "the HTML report");
    must_have(html, "<td id=\"received\" data-v=\"6\">۶</td>", "the HTML report");
    must_have(html, "<td id=\"on_time_pct\" data-v=\"50.0%\">۵۰٫۰٪</td>", "the HTML report");
    char row[128];
    for (int i = 4; i <= 5; i++) { /* the cases that went overdue, and were escalated */
        snprintf(row, sizeof row, "<tr class=\"case\" data-tracking=\"%" PRIu64 "\"", t[i]);
        char *first = strstr(html, row);
        assert_non_null(first);
        assert_non_null(strstr(first + 1, row));
    }
    cli = run_report(d, week, "water", "html");
    assert_string_equal(cli, html);
    free(cli);
    free(html);

    /* the live figures and the overdue list */
    char *json = dash_get_ok(p, "/api/figures");
    must_have(json, "{\"id\":\"water\",\"name_fa\":\"آب و فاضلاب\",\"name_en\":\"Water and "
                    "wastewater\",\"open\":2,\"overdue\":1,\"on_time\":2,\"missed\":2,"
                    "\"on_time_pct\":50.0,\"acked\":6,",
              "/api/figures");
    must_have(json, "\"synced\":true", "/api/figures");
    free(json);
    json = dash_get_ok(p, "/api/overdue");
    snprintf(want, sizeof want, "[{\"tracking\":%" PRIu64 ",\"delivery\":%" PRIu64
             ",\"agency\":\"water\",\"name_fa\":\"آب و فاضلاب\"", t[5], l2);
    must_have(json, want, "/api/overdue");
    /* then its escalation, overdue in its turn, and nothing else */
    snprintf(want, sizeof want, "},{\"tracking\":%" PRIu64 ",\"delivery\":%" PRIu64
             ",\"agency\":\"governorate\"", t[5], l2e);
    must_have(json, want, "/api/overdue");
    assert_null(strstr(strstr(json, want) + 2, "},{"));
    free(json);
    char *metrics = dash_get_ok(p, "/metrics");
    must_have(metrics, "miz_agency_open{agency=\"water\"} 2\n", "/metrics");
    must_have(metrics, "miz_agency_week_escalations{agency=\"water\"} 3\n", "/metrics");
    must_have(metrics, "miz_dashboard_synced 1\n", "/metrics");
    free(metrics);
    /* the broker's own counters come once per heartbeat */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        metrics = dash_get_ok(p, "/metrics");
        bool there = strstr(metrics, "miz_broker_agency_workers{agency=\"water\"} 1\n") &&
                     strstr(metrics, "miz_broker_agency_overdue{agency=\"water\"} 1\n");
        free(metrics);
        if (there)
            break;
        if (it_now_ms() > end)
            it_fail("/metrics never showed the broker's counters");
    }

    /* a week long past: fetched from the broker, nothing in it */
    char *old = dash_get_ok(p, "/report?week=1404-W32&agency=water&format=csv");
    /* nothing timed: empty, not 0.000 */
    must_have(old, "\r\n1404-W32,water,Water and wastewater,2,1,0,0,0,,0,,,0,,,0,0,0.00\r\n",
              "the report of 1404-W32");
    free(old);
    /* what the report refuses */
    dash_expect(p, "/report?week=1404-W54&agency=water", 400);
    dash_expect(p, "/report?week=1404-W32&agency=..%2Fwater", 400);
    dash_expect(p, "/nothing-here", 404);
    figures_destroy(&f);
    miz_replica_destroy(&r);
    dash_stop(&p);
}

/* ---- a subscriber that drops events ---- */

/* Pumps the stream until its figures equal want's (the recount). */
static void wait_exact(it_daemon_t *d, miz_stream_t *s, const figures_t *want, int day0)
{
    char why[256] = "never synced";
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        assert_true(miz_stream_pump(s, 5) >= 0);
        if (miz_stream_synced(s)) {
            figures_t *f = week_of(miz_stream_replica(s), day0);
            bool same = same_figures(f, want, why, sizeof why);
            figures_destroy(&f);
            if (same)
                return;
        }
        if (it_now_ms() > end)
            it_fail("the stream's figures are not the recount's: %s", why);
        it_pump(d, 1);
    }
}

static void test_resync_after_dropped_events(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *water = it_worker(d, "water", 20),
              *power = it_worker(d, "power", 20);
    uint64_t t[MAX_TRACKING];
    size_t n = 0;
    for (; n < 4; n++) /* before the stream starts: it learns them from the snapshot */
        it_serve(water, t[n] = it_submit_topic(c, "utility.water.leak", NULL));
    miz_stream_t *s =
        miz_stream_new(NULL, it_events_endpoint(d), it_clients_endpoint(d), NULL, 36 * FIG_DAY_MS);
    assert_non_null(s);
    int day0 = jalali_week_start(fig_day(clock_ms(CLOCK_REALTIME)));
    miz_replica_t *r = dash_recount(c, t, n);
    figures_t *want = week_of(r, day0);
    wait_exact(d, s, want, day0);
    figures_destroy(&want);
    miz_replica_destroy(&r);
    /* the broker's counters reached it: its subscription is live, so what
     * comes next is published to it */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; !miz_stream_counters(s);) {
        assert_true(miz_stream_pump(s, 5) >= 0);
        if (it_now_ms() > end)
            it_fail("no counters reached the stream");
        it_pump(d, 1);
    }
    miz_stream_stats_t st;
    miz_stream_stats(s, &st);
    uint64_t resyncs = st.resyncs;

    /* more work, whose events the test takes off the stream's own socket
     * before the stream sees them: lost, as past a PUB's high-water mark */
    t[n] = it_submit_topic(c, "utility.power.cut", NULL);
    uint64_t held = it_take(power, t[n++], "target");
    size_t dropped = 0;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; dropped == 0;) {
        char topic[16];
        while (zmq_recv(miz_stream_sub(s), topic, sizeof topic, ZMQ_DONTWAIT) >= 0) {
            zmq_msg_t body;
            zmq_msg_init(&body);
            assert_true(zmq_msg_recv(&body, miz_stream_sub(s), 0) >= 0);
            zmq_msg_close(&body);
            dropped += memcmp(topic, "event", 5) == 0;
        }
        if (it_now_ms() > end)
            it_fail("no event to drop");
        it_pump(d, 1);
    }
    for (size_t i = 0; i < 6; i++, n++)
        it_serve(water, t[n] = it_submit_topic(c, "utility.water.leak", "complaint"));
    it_answer(power, held, "done", "late but done");

    r = dash_recount(c, t, n);
    want = week_of(r, day0);
    wait_exact(d, s, want, day0);
    miz_stream_stats(s, &st);
    assert_true(st.resyncs > resyncs);
    assert_int_equal(miz_replica_count(miz_stream_replica(s)), n);
    /* every history is the broker's, entry for entry */
    for (size_t i = 0; i < n; i++) {
        const miz_request_t *a = miz_replica_find(miz_stream_replica(s), t[i]);
        const miz_request_t *b = miz_replica_find(r, t[i]);
        assert_non_null(a);
        assert_int_equal(a->n_deliveries, b->n_deliveries);
        assert_int_equal(a->closed, b->closed);
        for (size_t k = 0; k < a->n_deliveries; k++) {
            assert_int_equal(a->deliveries[k].n_history, b->deliveries[k].n_history);
            assert_string_equal(a->deliveries[k].state, b->deliveries[k].state);
            for (size_t h = 0; h < a->deliveries[k].n_history; h++)
                assert_int_equal(a->deliveries[k].history[h].at, b->deliveries[k].history[h].at);
        }
    }
    figures_destroy(&want);
    miz_replica_destroy(&r);
    miz_stream_destroy(&s);
    assert_null(s);
}

/* ---- the broker killed and restarted under the dashboard ---- */

static void test_survives_broker_restart(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start(d);
    it_peer_t *c = it_client(d), *water = it_worker(d, "water", 20);
    uint64_t t[MAX_TRACKING];
    size_t n = 0;
    for (; n < 3; n++)
        it_serve(water, t[n] = it_submit_topic(c, "utility.water.leak", NULL));
    t[n] = it_submit_topic(c, "utility.water.leak", NULL); /* open across the restart */
    it_ack(water, it_take(water, t[n++], "target"));
    int day0 = jalali_week_start(fig_day(clock_ms(CLOCK_REALTIME))), wy, wk;
    char week[16], path[128];
    assert_true(jalali_week_of(day0, &wy, &wk) && jalali_week_format(wy, wk, week, sizeof week));
    snprintf(path, sizeof path, "/report?week=%s&agency=water&format=csv", week);

    /* the dashboard has the broker's first run in full */
    miz_replica_t *r = dash_recount(c, t, n);
    figures_t *f = week_of(r, day0);
    char *want = csv_of(f, "water");
    wait_for_body(p, path, want);
    free(want);
    figures_destroy(&f);
    miz_replica_destroy(&r);

    it_restart(d, true); /* kill -9: the dashboard hears of it from a new run */
    /* the open one is offered again to the worker, which registered again */
    it_serve(water, t[n - 1]);
    for (size_t i = 0; i < 3; i++, n++)
        it_serve(water, t[n] = it_submit_topic(c, "utility.water.leak", NULL));

    r = dash_recount(c, t, n);
    f = week_of(r, day0);
    want = csv_of(f, "water");
    must_have(want, ",water,Water and wastewater,0,0,7,7,0,100.0,", "the recount");
    wait_for_body(p, path, want);
    char *metrics = dash_get_ok(p, "/metrics");
    must_have(metrics, "miz_dashboard_synced 1\n", "/metrics");
    assert_null(strstr(metrics, "miz_dashboard_resyncs_total 0\n"));
    free(metrics);
    free(want);
    figures_destroy(&f);
    miz_replica_destroy(&r);
    dash_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_scripted_day, TABLE),
        IT_TEST(test_resync_after_dropped_events, TABLE),
        IT_TEST(test_report_refuses_what_cannot_be, TABLE),
        IT_TEST(test_survives_broker_restart, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

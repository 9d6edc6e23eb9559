/* The dashboard's page in a real headless Chromium (Debian's chromium),
 * driven over the DevTools protocol on a pipe (--remote-debugging-pipe:
 * JSON messages ending in a NUL byte, commands on fd 3, replies on fd 4):
 * the page loads, shows the agencies (and topics, by their routes' names)
 * in Persian with Persian digits and
 * Jalali dates, updates by itself (server-sent events, patches of what
 * changed onto the whole it got first) when a request is answered, and switches to English; the province's headline equals a
 * recount from the broker's own status answers, each overdue case is listed
 * once and the list is capped; a wall screen (1920x1080, ?tv=1) fits without
 * scrolling and a phone (390x844) has no horizontal scroll, in both
 * languages, each left as a screenshot in the build folder
 * (MIZ_SCREENSHOT_DIR/dashboard-*.png); 100 page loads in a row leave live
 * updates working; the page says so when the broker dies. Every wait is for
 * a state of the page, bounded by IT_WAIT_MS. */
#define _XOPEN_SOURCE 700 /* nftw */
#include "dashproc.h"

#include "clock.h"
#include "figures.h"
#include "jalali.h"
#include "stream.h"

#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MIZ_CHROMIUM
#error "MIZ_CHROMIUM must name the chromium binary"
#endif
#ifndef MIZ_SCREENSHOT_DIR
#error "MIZ_SCREENSHOT_DIR must name where the screenshots go"
#endif

#define TABLE "../dashboard/dashboard.yaml"

typedef struct {
    it_daemon_t *d;
    pid_t pid;
    int to, from; /* our ends of its fd 3 and fd 4 */
    char *buf;    /* what it wrote that is not read yet */
    size_t n, cap;
    unsigned next_id;
    char session[128];
    char profile[32]; /* its own user data dir, removed at the end */
} browser_t;

static browser_t *browser_open(it_daemon_t *d)
{
    browser_t *b = calloc(1, sizeof *b);
    int cmd[2], reply[2];
    assert_non_null(b);
    assert_int_equal(pipe(cmd), 0);
    assert_int_equal(pipe(reply), 0);
    char profile[64];
    strcpy(b->profile, "/tmp/miz-chromium-XXXXXX");
    assert_non_null(mkdtemp(b->profile));
    snprintf(profile, sizeof profile, "--user-data-dir=%s", b->profile);
    b->d = d;
    b->pid = fork();
    assert_true(b->pid >= 0);
    if (b->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        /* out of the way of 3 and 4 first, then onto them */
        int r = fcntl(cmd[0], F_DUPFD, 10), w = fcntl(reply[1], F_DUPFD, 10);
        if (r < 0 || w < 0 || dup2(r, 3) < 0 || dup2(w, 4) < 0)
            _exit(126);
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        dup2(null, STDERR_FILENO);
        execl(MIZ_CHROMIUM, MIZ_CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
              "--remote-debugging-pipe", profile, "--no-first-run", "--no-default-browser-check",
              "--disable-extensions", "--window-size=1400,1000", "about:blank", (char *)NULL);
        _exit(127);
    }
    close(cmd[0]);
    close(reply[1]);
    b->to = cmd[1];
    b->from = reply[0];
    b->cap = 1 << 20;
    b->buf = malloc(b->cap);
    assert_non_null(b->buf);
    return b;
}

/* Sends a command (on the page's session when session is set) and returns
 * its reply, a malloc'd JSON text; events that come meanwhile are skipped. */
static char *call(browser_t *b, const char *method, const char *params, bool session)
{
    unsigned id = ++b->next_id;
    char head[256];
    int n = snprintf(head, sizeof head, "{\"id\":%u,\"method\":\"%s\",", id, method);
    if (session)
        n += snprintf(head + n, sizeof head - (size_t)n, "\"sessionId\":\"%s\",", b->session);
    assert_int_equal(write(b->to, head, (size_t)n), n);
    assert_true(write(b->to, "\"params\":", 9) == 9);
    assert_int_equal(write(b->to, params, strlen(params)), (ssize_t)strlen(params));
    assert_int_equal(write(b->to, "}", 2), 2); /* with the NUL that ends a message */
    char want[32];
    int wn = snprintf(want, sizeof want, "{\"id\":%u,", id);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        char *nul;
        while ((nul = memchr(b->buf, '\0', b->n))) {
            size_t len = (size_t)(nul - b->buf) + 1;
            char *msg = NULL;
            if (strncmp(b->buf, want, (size_t)wn) == 0) {
                msg = malloc(len);
                assert_non_null(msg);
                memcpy(msg, b->buf, len);
            }
            memmove(b->buf, nul + 1, b->n - len);
            b->n -= len;
            if (msg) {
                if (strstr(msg, "\"error\":{") == msg + wn)
                    it_fail("chromium: %s: %s", method, msg);
                return msg;
            }
        }
        if (it_now_ms() > end)
            it_fail("chromium did not answer %s", method);
        struct pollfd pf = {b->from, POLLIN, 0};
        if (poll(&pf, 1, 10) == 1) {
            if (b->cap - b->n < 65536)
                assert_non_null(b->buf = realloc(b->buf, b->cap *= 2));
            ssize_t got = read(b->from, b->buf + b->n, b->cap - b->n);
            if (got <= 0)
                it_fail("chromium went away during %s", method);
            b->n += (size_t)got;
        }
        it_pump(b->d, 1);
    }
}

/* The JSON string after "key": in a reply, decoded to UTF-8 (Chromium
 * writes every non-ASCII character as \uXXXX). */
static char *string_of(const char *reply, const char *key)
{
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\":\"", key);
    const char *at = strstr(reply, pat);
    if (!at)
        it_fail("no %s in %s", key, reply);
    at += strlen(pat);
    char *out = malloc(strlen(at) + 1), *o = out; /* decoding never lengthens */
    assert_non_null(out);
    for (; *at && *at != '"'; at++) {
        if (*at != '\\') {
            *o++ = *at;
            continue;
        }
        at++;
        if (*at != 'u') { /* \" \\ \/ and the like: the character itself */
            *o++ = *at == 'n' ? '\n' : *at;
            continue;
        }
        unsigned cp = (unsigned)strtoul((char[]){at[1], at[2], at[3], at[4], 0}, NULL, 16);
        at += 4;
        if (cp < 0x80) {
            *o++ = (char)cp;
        } else if (cp < 0x800) {
            *o++ = (char)(0xc0 | cp >> 6);
            *o++ = (char)(0x80 | (cp & 0x3f));
        } else { /* the BMP is all the page writes */
            *o++ = (char)(0xe0 | cp >> 12);
            *o++ = (char)(0x80 | (cp >> 6 & 0x3f));
            *o++ = (char)(0x80 | (cp & 0x3f));
        }
    }
    *o = '\0';
    return out;
}

static void browse(browser_t *b, const char *url)
{
    char params[512];
    snprintf(params, sizeof params, "{\"url\":\"%s\"}", url);
    char *r = call(b, "Target.createTarget", params, false);
    char *target = string_of(r, "targetId");
    free(r);
    snprintf(params, sizeof params, "{\"targetId\":\"%s\",\"flatten\":true}", target);
    free(target);
    r = call(b, "Target.attachToTarget", params, false);
    char *session = string_of(r, "sessionId");
    snprintf(b->session, sizeof b->session, "%s", session);
    free(session);
    free(r);
}

/* Evaluates a JavaScript expression whose value is a string without quotes
 * or backslashes (the expressions here contain neither). */
static char *eval(browser_t *b, const char *expr)
{
    char params[4096];
    snprintf(params, sizeof params, "{\"expression\":\"%s\",\"returnByValue\":true}", expr);
    char *r = call(b, "Runtime.evaluate", params, true);
    char *v = strstr(r, "\"type\":\"string\"") ? string_of(r, "value") : strdup("?");
    free(r);
    return v;
}

/* Waits until the expression's value starts with want; returns the value. */
static char *wait_page(browser_t *b, const char *expr, const char *want)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        char *v = eval(b, expr);
        if (strncmp(v, want, strlen(want)) == 0)
            return v;
        if (it_now_ms() > end)
            it_fail("the page shows %s, not %s", v, want);
        free(v);
        it_pump(b->d, 20);
    }
}

static int b64(char c)
{
    const char *abc = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const char *p = c ? strchr(abc, c) : NULL;
    return p ? (int)(p - abc) : -1;
}

static void screenshot(browser_t *b, const char *path)
{
    char *r = call(b, "Page.captureScreenshot", "{\"format\":\"png\"}", true);
    char *data = string_of(r, "data");
    free(r);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    size_t bytes = 0;
    for (const char *p = data; p[0] && p[1] && p[2] && p[3]; p += 4) {
        int v[4] = {b64(p[0]), b64(p[1]), b64(p[2]), b64(p[3])};
        assert_true(v[0] >= 0 && v[1] >= 0);
        fputc(v[0] << 2 | v[1] >> 4, f);
        bytes++;
        if (v[2] >= 0) {
            fputc((v[1] & 15) << 4 | v[2] >> 2, f), bytes++;
            if (v[3] >= 0)
                fputc((v[2] & 3) << 6 | v[3], f), bytes++;
        }
    }
    fclose(f);
    assert_true(strncmp(data, "iVBORw0KGgo", 11) == 0); /* a PNG's signature */
    assert_true(bytes > 10000);
    free(data);
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)ftw;
    return flag == FTW_DP ? rmdir(path) : unlink(path);
}

static void browser_close(browser_t **bp)
{
    browser_t *b = *bp;
    /* its reply may or may not come before it goes: the exit is the answer;
     * sizeof counts the NUL that ends a message */
    static const char close_cmd[] = "{\"id\":0,\"method\":\"Browser.close\",\"params\":{}}";
    assert_int_equal(write(b->to, close_cmd, sizeof close_cmd), (ssize_t)sizeof close_cmd);
    int status;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; waitpid(b->pid, &status, WNOHANG) == 0;) {
        if (it_now_ms() > end) {
            kill(b->pid, SIGKILL);
            waitpid(b->pid, &status, 0);
            break;
        }
        it_pump(b->d, 5);
    }
    close(b->to);
    close(b->from);
    nftw(b->profile, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(b->buf);
    free(b);
    *bp = NULL;
}

/* Sets the viewport, as a phone (mobile) or a screen. */
static void viewport(browser_t *b, int w, int h, bool mobile)
{
    char params[256];
    snprintf(params, sizeof params,
             "{\"width\":%d,\"height\":%d,\"deviceScaleFactor\":1,\"mobile\":%s}", w, h,
             mobile ? "true" : "false");
    free(call(b, "Emulation.setDeviceMetricsOverride", params, true));
}

/* Loads url in the page and waits until it has shown figures. */
static void load(browser_t *b, const char *url)
{
    char params[512];
    snprintf(params, sizeof params, "{\"url\":\"%s\"}", url);
    free(call(b, "Page.navigate", params, true));
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        char *v = eval(b, "document.readyState + ',' + document.body.dataset.updates");
        bool shown = strncmp(v, "complete,", 9) == 0 && strcmp(v + 9, "0") != 0;
        free(v);
        if (shown)
            return;
        if (it_now_ms() > end)
            it_fail("%s never showed figures", url);
        it_pump(b->d, 10);
    }
}

/* What a number shown as Persian or ASCII digits is. */
static long digits_value(const char *text)
{
    long v = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p >= '0' && *p <= '9')
            v = v * 10 + (*p - '0');
        else if (p[0] == 0xdb && p[1] >= 0xb0 && p[1] <= 0xb9) /* U+06F0..06F9 */
            v = v * 10 + (p[1] - 0xb0), p++;
    }
    return v;
}

/* The water row as "open,its text,name shown,on-time,updates,dir". */
#define WATER_ROW                                                                                  \
    "(() => { const r = document.querySelector('tr[data-agency=water]');"                         \
    " if (!r) return 'none';"                                                                     \
    " return [r.querySelector('td.open').dataset.v, r.querySelector('td.open').textContent,"      \
    " r.querySelector('td.name').textContent, r.querySelector('td.on-time').dataset.v,"           \
    " document.documentElement.dir, document.body.dataset.updates].join(','); })()"

/* Open and overdue deliveries of the province, from the broker's own
 * status answers, as "open,overdue". */
static void recount(it_peer_t *c, const uint64_t *t, size_t n, char *out, size_t size)
{
    static const char *const ids[] = {"water", "power", "governorate", "inspection"};
    miz_replica_t *r = dash_recount(c, t, n);
    uint64_t now = clock_ms(CLOCK_REALTIME);
    figures_t *f = figures_compute(r, ids, 4, jalali_week_start(fig_day(now)), 7, now);
    assert_non_null(f);
    uint64_t open = 0, overdue = 0;
    for (size_t i = 0; i < f->n_agencies; i++)
        open += f->agencies[i].open, overdue += f->agencies[i].overdue;
    snprintf(out, size, "%" PRIu64 ",%" PRIu64, open, overdue);
    figures_destroy(&f);
    miz_replica_destroy(&r);
}

#define HEADLINE                                                                                   \
    "[document.getElementById('h-open').dataset.v,"                                               \
    " document.getElementById('h-overdue').dataset.v].join(',')"
#define LATE 12 /* overdue cases, past the list's cap of 10 */

static void shoot(browser_t *b, const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s/dashboard-%s.png", MIZ_SCREENSHOT_DIR, name);
    screenshot(b, path);
}

static void test_page_live_in_chromium(void **state)
{
    it_daemon_t *d = *state;
    dash_proc_t *p = dash_start(d);
    it_peer_t *c = it_client(d), *water = it_worker(d, "water", 5);
    uint64_t t[2 + LATE];
    t[0] = it_submit_topic(c, "utility.water.leak", NULL);
    uint64_t d1 = it_take(water, t[0], "target");
    it_ack(water, d1);
    t[1] = it_submit_topic(c, "utility.water.cut", NULL);
    it_ack(water, it_take(water, t[1], "target"));

    browser_t *b = browser_open(d);
    char url[128];
    snprintf(url, sizeof url, "%s/?lang=fa", dash_url(p));
    browse(b, url);
    /* in Persian: the table's name, Persian digits, right to left */
    char *before = wait_page(b, WATER_ROW, "2,۲,آب و فاضلاب,,rtl,");
    const char *updates = strrchr(before, ',') + 1;
    char *title = eval(b, "document.querySelector('h1').textContent");
    assert_string_equal(title, "پاسخگویی دستگاه‌ها به درخواست‌های مردم");
    free(title);
    /* the week as Jalali dates in Persian digits (1404 or later, never 20xx) */
    char *status = eval(b, "document.getElementById('status').textContent");
    if (!strstr(status, "۱۴۰") || strstr(status, "۲۰۲") || strstr(status, "-W"))
        it_fail("the status line is not the week's Jalali dates: %s", status);
    free(status);

    /* answered: the page updates by itself, without a reload */
    it_answer(water, d1, "done", "fixed");
    char *after = wait_page(b, WATER_ROW, "1,۱,آب و فاضلاب,100,rtl,");
    if (strtoul(strrchr(after, ',') + 1, NULL, 10) <= strtoul(updates, NULL, 10))
        it_fail("no server-sent update: %s, then %s", before, after);
    /* the province's on-time trend: 8 weeks, nothing before this one, this
     * one all on time; water's own trend has this week's bar */
    char *trend = eval(b, "document.querySelector('#h-trend svg').dataset.rates + ';' +"
                          " document.querySelectorAll('tr[data-agency=water] td.trend rect.ok').length");
    assert_string_equal(trend, ",,,,,,,100.0;1");
    free(trend);
    /* it came as a patch (only what changed) onto the figures the page had */
    char *patches = eval(b, "document.body.dataset.patches || '0'");
    if (strtol(patches, NULL, 10) < 1)
        it_fail("the update was not a patch: %s patches", patches);
    free(patches);
    char *loads = eval(b, "String(performance.getEntriesByType('navigation').length)");
    assert_string_equal(loads, "1");
    free(loads);
    free(before);
    free(after);

    /* the English toggle, kept in the URL */
    free(eval(b, "(document.getElementById('lang').click(), 'clicked')"));
    free(wait_page(b, WATER_ROW, "1,1,Water and wastewater,100,ltr,"));
    char *search = eval(b, "location.search");
    assert_string_equal(search, "?lang=en");
    free(search);

    /* cases that go overdue at water and then at the governor's office,
     * with no worker to be offered them: they stay as they are */
    it_close(&water);
    for (int i = 0; i < LATE; i++)
        t[2 + i] = it_submit_topic(c, "late.pipe", NULL);
    char want[64], last[64] = "";
    for (uint64_t end = it_now_ms() + 3 * IT_WAIT_MS;;) {
        recount(c, t, 2 + LATE, want, sizeof want);
        /* every late one overdue at least once, and nothing moving any more */
        if (strtoul(strchr(want, ',') + 1, NULL, 10) >= LATE && strcmp(want, last) == 0)
            break;
        if (it_now_ms() > end)
            it_fail("the late cases never settled overdue: %s", want);
        snprintf(last, sizeof last, "%s", want);
        it_pump(d, 1500); /* past the route's deadlines of 1 s */
    }
    load(b, url);
    /* the province's headline is the recount; each case once, ten shown */
    free(wait_page(b, HEADLINE, want));
    char *list = wait_page(b,
        "[document.querySelectorAll('#overdue tbody tr').length,"
        " new Set([...document.querySelectorAll('#overdue tbody tr')].map(r => r.dataset.tracking)).size,"
        " document.getElementById('more').dataset.v,"
        " document.getElementById('overdue').textContent.includes('استانداری')].join(',')",
        "10,10,2,true");
    free(list);
    char *more = eval(b, "document.getElementById('more').textContent");
    if (digits_value(more) != 2 || !strstr(more, "دیگر"))
        it_fail("the overdue cap says %s", more);
    free(more);
    /* the topic by its Persian name from the table's route, its code kept */
    char *topic = eval(b, "(c => c.textContent + '|' + c.dataset.v)"
                          "(document.querySelector('#overdue tbody tr td:nth-child(4)'))");
    assert_string_equal(topic, "لولهٔ دیرکرد (آزمایشی)|late.pipe");
    free(topic);
    /* durations in words, not h:mm:ss */
    char *late = eval(b, "document.querySelector('#overdue tbody tr td:nth-child(5)').textContent");
    if (strchr(late, ':') || !strstr(late, "ثانیه"))
        it_fail("how late, in words: %s", late);
    free(late);

    /* a wall screen and a phone, in both languages */
    static const struct {
        const char *name, *query;
        int w, h;
        bool mobile;
    } views[] = {
        {"wall-fa", "?tv=1&lang=fa", 1920, 1080, false},
        {"wall-en", "?tv=1&lang=en", 1920, 1080, false},
        {"phone-fa", "?lang=fa", 390, 844, true},
        {"phone-en", "?lang=en", 390, 844, true},
    };
    for (size_t i = 0; i < sizeof views / sizeof *views; i++) {
        viewport(b, views[i].w, views[i].h, views[i].mobile);
        snprintf(url, sizeof url, "%s/%s", dash_url(p), views[i].query);
        load(b, url);
        char *fits = eval(b, "[document.documentElement.scrollWidth <= innerWidth,"
                             " document.documentElement.scrollHeight <= innerHeight,"
                             " document.documentElement.dir].join(',')");
        bool en = strstr(views[i].name, "-en") != NULL;
        char expect[32];
        snprintf(expect, sizeof expect, "true,%s,%s", views[i].mobile ? "false" : "true",
                 en ? "ltr" : "rtl");
        if (strcmp(fits, expect) != 0)
            it_fail("%s: width fits, height fits, direction: %s, wanted %s", views[i].name, fits,
                    expect);
        free(fits);
        free(wait_page(b, HEADLINE, want));
        shoot(b, views[i].name);
    }

    /* a hundred page loads in a row, then a live update still arrives */
    viewport(b, 1400, 1000, false);
    snprintf(url, sizeof url, "%s/?lang=fa", dash_url(p));
    for (int i = 0; i < 100; i++)
        load(b, url);
    it_submit_topic(c, "utility.power.cut", NULL); /* no power worker: it stays open */
    long open = strtol(want, NULL, 10);
    snprintf(want, sizeof want, "%ld,", open + 1);
    free(wait_page(b, HEADLINE, want));
    /* by a patch: the headline of a patched page is the recount's */
    patches = eval(b, "document.body.dataset.patches || '0'");
    if (strtol(patches, NULL, 10) < 1)
        it_fail("the update after 100 loads was not a patch: %s patches", patches);
    free(patches);

    /* the broker dies: the page says so */
    it_stop(d, true);
    char *banner = wait_page(b, "document.body.dataset.stale + document.getElementById('banner').textContent", "1کارگزار");
    free(banner);
    it_start(d);
    free(wait_page(b, "document.body.dataset.stale", "0"));
    browser_close(&b);
    dash_stop(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_page_live_in_chromium, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

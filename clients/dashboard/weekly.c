/* weekly: every agency's weekly report, delivered by itself on the table's
 * schedule (`reports`, docs/routing.md) to a folder, a command and/or a
 * webhook. schedule.c decides what is due; this file carries it out, one
 * agency at a time: it renders the report from the replica (the week so
 * far), writes the folder's files, hands the report to the command on a
 * thread (so the loop never waits for it) and POSTs it to the webhook on
 * the loop. A destination that failed, or a broker that is down (the
 * replica not synced, or stale), is tried again after a bounded backoff,
 * said in the log and in /metrics; what was delivered is kept in a small
 * state file, so a restart of the dashboard sends nothing twice. Tests may
 * set MIZ_DASHBOARD_NOW_MS to move the schedule's clock (only it). */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/dns.h>

#include "clock.h"
#include "dash_int.h"
#include "jalali.h"
#include "schedule.h"

#define WEEKLY_WHY_MAX 512

static const char *const WEEKLY_DEST_NAMES[SCHED_DESTS] = {"folder", "command", "webhook"};
static const char *const WEEKLY_EXT[2] = {"html", "csv"};
static const char *const WEEKLY_TYPES[2] = {"text/html; charset=utf-8", "text/csv; charset=utf-8"};

struct weekly {
    dash_t *d;
    const table_reports_t *conf;
    sched_when_t when;
    unsigned want;      /* destinations configured */
    bool fmt[2];        /* html, csv */
    size_t n;           /* the agencies scheduled */
    const char **ids;
    sched_agency_t *st; /* their states for the week day0 */
    int day0;
    int64_t shift;      /* the injected clock minus the real one */
    struct evdns_base *dns;
    /* the delivery under way, of agency cur for week cur_day0 */
    bool busy;
    size_t cur;
    int cur_day0;
    char week[16];
    unsigned dests, failed;
    char why[WEEKLY_WHY_MAX];
    char *doc[2];
    size_t len[2];
    int step; /* the format the command or the webhook is at */
    /* the command's thread */
    int pipe[2];
    struct event *cmd_done;
    pthread_t thread;
    bool thread_on;
    atomic_bool cancel;
    char env[3][128];
    int cmd_rc;
    char cmd_why[WEEKLY_WHY_MAX];
    webhook_t *hook;
    /* for /metrics */
    uint64_t delivered[SCHED_DESTS], failures[SCHED_DESTS + 1]; /* + the broker down */
    uint64_t checks, backoff_ms;
};

static uint64_t weekly_now(const weekly_t *w)
{
    return (uint64_t)((int64_t)clock_ms(CLOCK_REALTIME) + w->shift);
}

/* ---- the state file: "WEEK AGENCY DESTINATION" lines of the latest week ---- */

static void weekly_load_state(weekly_t *w)
{
    FILE *f = fopen(w->conf->state, "r");
    char line[256];
    unsigned n = 0;
    if (!f) {
        if (errno != ENOENT)
            dlog(DLOG_REPORTS, "%s: %s (nothing counts as delivered)", w->conf->state,
                 strerror(errno));
        return;
    }
    while (fgets(line, sizeof line, f)) {
        char week[16], agency[80], dest[16], extra;
        int wy, wk, day0, d = -1;
        n++;
        if (line[0] == '#' || line[0] == '\n')
            continue;
        bool ok = sscanf(line, "%15s %79s %15s %c", week, agency, dest, &extra) == 3 &&
                  jalali_week_parse(week, strlen(week), &wy, &wk) &&
                  jalali_week_first_day(wy, wk, &day0) &&
                  table_is_name(agency, strlen(agency), MIZ_AGENCY_MAX);
        for (int i = 0; ok && i < SCHED_DESTS; i++)
            if (strcmp(dest, WEEKLY_DEST_NAMES[i]) == 0)
                d = i;
        if (!ok || d < 0) {
            dlog(DLOG_REPORTS, "%s:%u: not a line of this file (WEEK AGENCY DESTINATION), "
                               "passed over", w->conf->state, n);
            continue;
        }
        if (day0 > w->day0) { /* a later week: the earlier ones are of no use */
            w->day0 = day0;
            memset(w->st, 0, w->n * sizeof *w->st);
        }
        for (size_t i = 0; day0 == w->day0 && i < w->n; i++)
            if (strcmp(w->ids[i], agency) == 0)
                w->st[i].done |= 1u << d;
    }
    fclose(f);
}

static void weekly_save_state(weekly_t *w)
{
    char tmp[PATH_MAX], week[16];
    int wy, wk;
    snprintf(tmp, sizeof tmp, "%s.tmp", w->conf->state);
    FILE *f = fopen(tmp, "w");
    bool ok = f && jalali_week_of(w->day0, &wy, &wk) && jalali_week_format(wy, wk, week, sizeof week);
    if (ok)
        fprintf(f, "# miz-dashboard: the weekly reports delivered (WEEK AGENCY DESTINATION)\n");
    for (size_t i = 0; ok && i < w->n; i++)
        for (int d = 0; d < SCHED_DESTS; d++)
            if (w->st[i].done & (1u << d))
                fprintf(f, "%s %s %s\n", week, w->ids[i], WEEKLY_DEST_NAMES[d]);
    ok = ok && fflush(f) == 0 && fsync(fileno(f)) == 0;
    if (f && fclose(f) != 0)
        ok = false;
    if (!ok || rename(tmp, w->conf->state) < 0)
        dlog(DLOG_REPORTS, "%s: cannot keep what was delivered: %s (a restart would send it "
                           "again)", w->conf->state, strerror(errno));
}

/* ---- one delivery ---- */

static void weekly_step(weekly_t *w);

static void weekly_failed(weekly_t *w, int dest, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* dest: SCHED_DESTS for the broker (every destination then failed) */
static void weekly_failed(weekly_t *w, int dest, const char *fmt, ...)
{
    char what[WEEKLY_WHY_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    w->failures[dest]++;
    w->failed |= dest == SCHED_DESTS ? w->dests : 1u << dest;
    size_t n = strlen(w->why);
    snprintf(w->why + n, sizeof w->why - n, "%s%s", n ? "; " : "", what);
}

static void weekly_delivered(weekly_t *w, int dest)
{
    w->delivered[dest]++;
    w->st[w->cur].done |= 1u << dest;
    weekly_save_state(w);
}

static bool weekly_render(weekly_t *w)
{
    render_names_t names = dash_names(w->d);
    for (int k = 0; k < 2; k++) {
        if (!w->fmt[k])
            continue;
        FILE *out = open_memstream(&w->doc[k], &w->len[k]);
        bool ok = out && render_report(out, miz_stream_replica(w->d->stream), w->ids[w->cur],
                                       &names, w->cur_day0, clock_ms(CLOCK_REALTIME), k == 1);
        if (out)
            fclose(out);
        if (!ok)
            return false;
    }
    return true;
}

/* FOLDER/AGENCY-WEEK.EXT, written whole then renamed into place */
static void weekly_to_folder(weekly_t *w)
{
    const char *dir = w->conf->folder;
    if (mkdir(dir, 0750) < 0 && errno != EEXIST) {
        weekly_failed(w, 0, "folder %s: %s", dir, strerror(errno));
        return;
    }
    for (int k = 0; k < 2; k++) {
        char path[PATH_MAX], tmp[PATH_MAX + 8];
        if (!w->fmt[k])
            continue;
        snprintf(path, sizeof path, "%s/%s-%s.%s", dir, w->ids[w->cur], w->week, WEEKLY_EXT[k]);
        snprintf(tmp, sizeof tmp, "%s.tmp", path);
        FILE *f = fopen(tmp, "w");
        bool ok = f && fwrite(w->doc[k], 1, w->len[k], f) == w->len[k] && fflush(f) == 0 &&
                  fsync(fileno(f)) == 0;
        if (f && fclose(f) != 0)
            ok = false;
        if (!ok || rename(tmp, path) < 0) {
            weekly_failed(w, 0, "folder: %s: %s", path, strerror(errno));
            unlink(tmp);
            return;
        }
    }
    weekly_delivered(w, 0);
}

static void *weekly_command_thread(void *arg)
{
    weekly_t *w = arg;
    const char *env[] = {w->env[0], w->env[1], w->env[2], NULL};
    w->cmd_rc = report_command_run(w->conf->command, env, w->doc[w->step], w->len[w->step],
                                   w->conf->timeout_ms, &w->cancel, w->cmd_why,
                                   sizeof w->cmd_why);
    while (write(w->pipe[1], "", 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

static void weekly_command_start(weekly_t *w)
{
    snprintf(w->env[0], sizeof w->env[0], "MIZ_REPORT_AGENCY=%s", w->ids[w->cur]);
    snprintf(w->env[1], sizeof w->env[1], "MIZ_REPORT_WEEK=%s", w->week);
    snprintf(w->env[2], sizeof w->env[2], "MIZ_REPORT_FORMAT=%s", WEEKLY_EXT[w->step]);
    if (pthread_create(&w->thread, NULL, weekly_command_thread, w) != 0) {
        weekly_failed(w, 1, "command: no thread: %s", strerror(errno));
        w->step = 2;
        weekly_step(w);
        return;
    }
    w->thread_on = true;
}

/* On the loop: the command's thread is done. */
static void weekly_on_command(evutil_socket_t fd, short what, void *arg)
{
    weekly_t *w = arg;
    char byte;
    (void)what;
    if (read(fd, &byte, 1) != 1)
        return;
    pthread_join(w->thread, NULL);
    w->thread_on = false;
    if (w->cmd_rc < 0) {
        weekly_failed(w, 1, "command (%s): %s", WEEKLY_EXT[w->step], w->cmd_why);
        w->step = 2; /* its other format waits for the retry too */
    } else {
        w->step++;
    }
    weekly_step(w);
}

static void weekly_on_webhook(void *arg, const char *why)
{
    weekly_t *w = arg;
    w->hook = NULL;
    if (why) {
        weekly_failed(w, 2, "webhook (%s): %s", WEEKLY_EXT[w->step], why);
        w->step = 2;
    } else {
        w->step++;
    }
    weekly_step(w);
}

static void weekly_webhook_start(weekly_t *w)
{
    const char *headers[] = {"Content-Type", WEEKLY_TYPES[w->step], "X-Miz-Agency",
                             w->ids[w->cur], "X-Miz-Week", w->week, NULL};
    w->hook = webhook_post(w->d->base, w->dns, w->conf->webhook, headers, w->doc[w->step],
                           w->len[w->step], w->conf->timeout_ms, weekly_on_webhook, w);
    if (!w->hook) {
        weekly_failed(w, 2, "webhook: cannot send to %s", w->conf->webhook);
        w->step = 2;
        weekly_step(w);
    }
}

static void weekly_finish(weekly_t *w)
{
    sched_agency_t *s = &w->st[w->cur];
    const char *agency = w->ids[w->cur];
    if (w->failed) {
        s->failures++;
        w->backoff_ms = schedule_backoff(s->failures, w->conf->retry_ms, w->conf->retry_max_ms);
        s->retry_at_ms = weekly_now(w) + w->backoff_ms;
        dlog(DLOG_REPORTS, "%s's report of %s failed (attempt %u): %s; again in %.1f s", agency,
             w->week, s->failures, w->why, (double)w->backoff_ms / 1000);
    } else {
        s->failures = 0;
        s->retry_at_ms = 0;
        w->backoff_ms = 0;
        dlog(DLOG_REPORTS, "%s's report of %s delivered", agency, w->week);
    }
    for (int k = 0; k < 2; k++) {
        free(w->doc[k]);
        w->doc[k] = NULL;
    }
    w->busy = false;
}

/* The destinations in order: the folder, the command (each format), the
 * webhook (each format); step counts the formats of the current one. */
static void weekly_step(weekly_t *w)
{
    for (;;) {
        if (w->step < 2 && !w->fmt[w->step]) {
            w->step++;
            continue;
        }
        if ((w->dests & SCHED_COMMAND) && !(w->failed & SCHED_COMMAND) &&
            !(w->st[w->cur].done & SCHED_COMMAND)) {
            if (w->step < 2) {
                weekly_command_start(w);
                return;
            }
            weekly_delivered(w, 1);
            w->step = 0;
            continue;
        }
        if ((w->dests & SCHED_WEBHOOK) && !(w->failed & SCHED_WEBHOOK) &&
            !(w->st[w->cur].done & SCHED_WEBHOOK)) {
            if (w->step < 2) {
                weekly_webhook_start(w);
                return;
            }
            weekly_delivered(w, 2);
            w->step = 0;
            continue;
        }
        weekly_finish(w);
        return;
    }
}

static void weekly_start(weekly_t *w, const sched_due_t *due)
{
    if (due->day0 != w->day0) { /* a new week: nothing delivered yet */
        w->day0 = due->day0;
        memset(w->st, 0, w->n * sizeof *w->st);
    }
    int wy, wk;
    w->busy = true;
    w->cur = due->agency;
    w->cur_day0 = due->day0;
    w->dests = due->dests;
    w->failed = 0;
    w->why[0] = '\0';
    w->step = 0;
    if (!jalali_week_of(due->day0, &wy, &wk) || !jalali_week_format(wy, wk, w->week, sizeof w->week))
        snprintf(w->week, sizeof w->week, "?");
    render_state_t st = dash_state(w->d);
    if (!st.synced || st.stale)
        weekly_failed(w, SCHED_DESTS, "the broker is down (%s)",
                      st.stale ? "silent" : "no complete snapshot yet");
    else if (!weekly_render(w))
        weekly_failed(w, SCHED_DESTS, "cannot render it: %s", strerror(errno));
    if (w->failed) {
        weekly_finish(w);
        return;
    }
    if (w->dests & SCHED_FOLDER)
        weekly_to_folder(w);
    weekly_step(w);
}

void weekly_tick(weekly_t *w)
{
    sched_due_t due;
    if (!w || w->busy)
        return;
    render_state_t st = dash_state(w->d);
    if (st.synced && !st.stale)
        w->checks++;
    if (schedule_due(weekly_now(w), &w->when, w->want, w->day0, w->st, w->n, &due))
        weekly_start(w, &due);
}

void weekly_metrics(const weekly_t *w, FILE *out)
{
    uint64_t at;
    int day0;
    size_t owed = 0;
    uint64_t now = weekly_now(w);
    schedule_occasion(&w->when, now, &at, &day0);
    fprintf(out, "# HELP miz_dashboard_reports_delivered_total Weekly reports delivered, by destination.\n"
                 "# TYPE miz_dashboard_reports_delivered_total counter\n");
    for (int d = 0; d < SCHED_DESTS; d++)
        if (w->want & (1u << d))
            fprintf(out, "miz_dashboard_reports_delivered_total{destination=\"%s\"} %llu\n",
                    WEEKLY_DEST_NAMES[d], (unsigned long long)w->delivered[d]);
    fprintf(out, "# HELP miz_dashboard_reports_failures_total Weekly reports' failed attempts, by what failed.\n"
                 "# TYPE miz_dashboard_reports_failures_total counter\n");
    for (int d = 0; d <= SCHED_DESTS; d++)
        if (d == SCHED_DESTS || (w->want & (1u << d)))
            fprintf(out, "miz_dashboard_reports_failures_total{destination=\"%s\"} %llu\n",
                    d == SCHED_DESTS ? "broker" : WEEKLY_DEST_NAMES[d],
                    (unsigned long long)w->failures[d]);
    fprintf(out, "# HELP miz_dashboard_report_delivered Whether this week's report of the agency was delivered everywhere.\n"
                 "# TYPE miz_dashboard_report_delivered gauge\n");
    for (size_t i = 0; i < w->n; i++) {
        bool done = w->day0 == day0 && (w->st[i].done & w->want) == w->want;
        owed += now >= at && !done;
        fprintf(out, "miz_dashboard_report_delivered{agency=\"%s\"} %d\n", w->ids[i], done);
    }
    fprintf(out, "# HELP miz_dashboard_reports_owed Agencies whose report is due this week and not yet delivered everywhere.\n"
                 "# TYPE miz_dashboard_reports_owed gauge\n"
                 "miz_dashboard_reports_owed %zu\n"
                 "# HELP miz_dashboard_reports_backoff_seconds The wait before the next try after the latest failure (0: none).\n"
                 "# TYPE miz_dashboard_reports_backoff_seconds gauge\n"
                 "miz_dashboard_reports_backoff_seconds %.3f\n"
                 "# HELP miz_dashboard_reports_checks_total Times the schedule was looked at with the broker up.\n"
                 "# TYPE miz_dashboard_reports_checks_total counter\n"
                 "miz_dashboard_reports_checks_total %llu\n",
            owed, (double)w->backoff_ms / 1000, (unsigned long long)w->checks);
}

/* ---- life ---- */

weekly_t *weekly_new(dash_t *d, const table_reports_t *r)
{
    weekly_t *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->d = d;
    w->conf = r;
    w->pipe[0] = w->pipe[1] = -1;
    w->when = (sched_when_t){r->weekday, r->minute, r->utc_offset_min};
    w->want = (r->folder ? SCHED_FOLDER : 0) | (r->command ? SCHED_COMMAND : 0) |
              (r->webhook ? SCHED_WEBHOOK : 0);
    w->fmt[0] = r->formats & TABLE_REPORT_HTML;
    w->fmt[1] = r->formats & TABLE_REPORT_CSV;
    w->n = r->n_agencies ? r->n_agencies : table_agency_count(d->table);
    w->ids = calloc(w->n + 1, sizeof *w->ids);
    w->st = calloc(w->n + 1, sizeof *w->st);
    w->day0 = INT_MIN;
    atomic_init(&w->cancel, false);
    const char *inject = getenv("MIZ_DASHBOARD_NOW_MS");
    if (inject) {
        char *end;
        errno = 0;
        unsigned long long v = strtoull(inject, &end, 10);
        if (errno || end == inject || *end || v > (1ULL << 50)) {
            fprintf(stderr, "miz-dashboard: MIZ_DASHBOARD_NOW_MS must be milliseconds since "
                            "the epoch\n");
            weekly_destroy(&w);
            errno = EINVAL;
            return NULL;
        }
        w->shift = (int64_t)v - (int64_t)clock_ms(CLOCK_REALTIME);
    }
    if (!w->ids || !w->st || pipe2(w->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        weekly_destroy(&w);
        return NULL;
    }
    for (size_t i = 0; i < w->n; i++)
        w->ids[i] = table_agency(d->table, r->n_agencies ? r->agencies[i] : i)->id;
    w->cmd_done = event_new(d->base, w->pipe[0], EV_READ | EV_PERSIST, weekly_on_command, w);
    w->dns = r->webhook ? evdns_base_new(d->base, EVDNS_BASE_INITIALIZE_NAMESERVERS) : NULL;
    if (!w->cmd_done || event_add(w->cmd_done, NULL) < 0 || (r->webhook && !w->dns)) {
        weekly_destroy(&w);
        return NULL;
    }
    weekly_load_state(w);
    return w;
}

void weekly_destroy(weekly_t **wp)
{
    weekly_t *w = *wp;
    if (!w)
        return;
    if (w->thread_on) {
        atomic_store(&w->cancel, true);
        pthread_join(w->thread, NULL);
    }
    webhook_cancel(&w->hook);
    if (w->dns)
        evdns_base_free(w->dns, 0);
    if (w->cmd_done)
        event_free(w->cmd_done);
    for (int i = 0; i < 2; i++) {
        if (w->pipe[i] >= 0)
            close(w->pipe[i]);
        free(w->doc[i]);
    }
    free(w->ids);
    free(w->st);
    free(w);
    *wp = NULL;
}

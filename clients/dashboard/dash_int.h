/* dash_int.h: what miz-dashboard's own files share (main.c the loop and its
 * options, server.c the HTTP side and its limits, live.c the live pages,
 * fetch.c the reports of past weeks, dlog.c the log). Not a library: one
 * dashboard per process. */
#ifndef MIZ_DASH_INT_H
#define MIZ_DASH_INT_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdint.h>

#include "cert.h"
#include "figures.h"
#include "render.h"
#include "stream.h"
#include "table.h"

/* The live figures need this week and the 7 before it (the on-time trend;
 * the 28 days of the daily mean are within them): 56 days, and one more so
 * that a week starting just before midnight is covered. */
#define DASH_KEEP_MS ((FIG_TREND_WEEKS * 7 + 1) * FIG_DAY_MS)

typedef struct live live_t;
typedef struct fetch fetch_t;
typedef struct weekly weekly_t;
typedef struct webhook webhook_t;

/* The HTTP side's limits (docs/dashboard.md, "HTTP"). */
typedef struct {
    int request_timeout_s;   /* a request's headers must come in this long; idle keep-alive too */
    size_t max_header_bytes; /* request line and headers together */
    size_t max_live;         /* live pages at once */
    size_t live_backlog;     /* bytes a live page may leave unread before it is skipped */
    int live_stall_s;        /* a live page that reads nothing for this long is dropped */
} dash_limits_t;

typedef struct {
    struct event_base *base;
    struct evhttp *http;
    miz_stream_t *stream;
    const char *clients_ep;
    const miz_curve_t *curve; /* a dashboard key, for a broker with CURVE; NULL: plain */
    const char **ids;         /* the table's agencies, in its order */
    render_agency_t *names;
    const table_t *table;     /* the routing table, for the topics' names */
    size_t n_names;
    dash_limits_t limits;
    const char *token;         /* access token, or NULL: open to whoever reaches the port */
    uint64_t heartbeat_ms;     /* the broker's counters come this often */
    uint64_t counters_at;      /* the `at` of the latest counters seen */
    uint64_t counters_mono;    /* when they came, monotonic ms (the start before the first) */
    live_t *live;
    fetch_t *fetch;
    weekly_t *weekly;          /* the weekly reports' delivery; NULL: none scheduled */
} dash_t;

/* ---- main.c ---- */
/* This Iranian week's figures, from Saturday 00:00 Tehran time to now. */
figures_t *dash_week_figures(const dash_t *d);
render_names_t dash_names(const dash_t *d);
render_state_t dash_state(const dash_t *d);

/* ---- server.c ---- */
/* Binds addr:port with the limits set and the paths routed; the port bound
 * in *bound (port 0 takes a free one). 0 or -1 (said on stderr). */
int server_start(dash_t *d, const char *addr, unsigned short port, unsigned short *bound);
/* The request's reply from what a renderer wrote into a memory stream
 * (text is freed). */
void server_reply_text(struct evhttp_request *req, char *text, size_t len, const char *type);
void server_reply_error(struct evhttp_request *req, int code, const char *reason, const char *text);

/* ---- live.c: the live pages (server-sent events) ---- */
live_t *live_new(dash_t *d);
/* Ends every live page (they reconnect to the next dashboard by themselves). */
void live_destroy(live_t **l);
/* Takes req as a live page, or answers 503 when there are too many. */
void live_add(live_t *l, struct evhttp_request *req);
/* Once a second: the figures when changed is set, to the pages that have
 * room for them; a keep-alive comment now and then; drops stalled pages. */
void live_tick(live_t *l, bool changed);
size_t live_count(const live_t *l);
void live_stats(const live_t *l, live_stats_t *st);

/* ---- fetch.c: a past week's report, from a snapshot of its own ---- */
fetch_t *fetch_new(dash_t *d);
/* Waits for the fetch under way, if any, then frees. */
void fetch_destroy(fetch_t **f);
/* Fetches the snapshot on a thread of its own and answers req when it
 * comes (or 503 if the broker does not answer, or when a fetch is already
 * under way): the loop never waits for the broker. */
void fetch_report(fetch_t *f, struct evhttp_request *req, const char *agency, int day0, bool csv);

/* ---- weekly.c: the weekly reports, delivered on the table's schedule ---- */
/* NULL (errno set) if it cannot start; r is the table's schedule. */
weekly_t *weekly_new(dash_t *d, const table_reports_t *r);
/* Ends a delivery under way (its command killed, its webhook dropped). */
void weekly_destroy(weekly_t **w);
/* Once a second: delivers what is due, retries what failed. */
void weekly_tick(weekly_t *w);
/* Its lines of /metrics. */
void weekly_metrics(const weekly_t *w, FILE *out);

/* ---- report_cmd.c: a report on a command's stdin (blocks: run it on a thread) ---- */
/* Runs command under /bin/sh with env_add (NULL-terminated "NAME=value")
 * added to the environment and data on its stdin; 0 when it exited 0
 * within timeout_ms, else -1 with why. Its process group is killed at the
 * timeout, or as soon as *cancel is set. */
int report_command_run(const char *command, const char *const *env_add, const char *data,
                       size_t len, uint64_t timeout_ms, const atomic_bool *cancel, char *why,
                       size_t whylen);

/* ---- webhook.c: a report POSTed to a URL, on the loop ---- */
/* why is NULL when a 2xx answer came. */
typedef void (*webhook_done_fn)(void *arg, const char *why);
/* headers: NULL-terminated name, value pairs. NULL if it cannot start;
 * otherwise done is called once, later, unless cancelled first. */
webhook_t *webhook_post(struct event_base *base, struct evdns_base *dns, const char *url,
                        const char *const *headers, const char *body, size_t len,
                        uint64_t timeout_ms, webhook_done_fn done, void *arg);
void webhook_cancel(webhook_t **w);

/* ---- dlog.c: the log, on stderr, at most a few lines a second per kind ---- */
typedef enum { DLOG_STREAM, DLOG_HTTP, DLOG_LIBEVENT, DLOG_REPORTS, DLOG_KINDS } dlog_kind_t;
/* Routes libevent's own messages through the limit too. */
void dlog_init(void);
void dlog(dlog_kind_t kind, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Once a second: says how many lines of the second past were held back. */
void dlog_flush(void);

#endif

/* fetch: the weekly report of a week older than the replica keeps. Such a
 * week is fetched from the broker with a snapshot of its own, which takes
 * as long as the broker takes (up to FETCH_TIMEOUT_MS when it is down): so
 * the snapshot is taken on a thread of its own while the loop goes on
 * serving, and the report is rendered and sent back on the loop once the
 * thread says it is done (a byte on a pipe). One such fetch at a time: a
 * second one meanwhile gets 503 with Retry-After. If the page went away
 * meanwhile, libevent has detached its request and sending the reply frees
 * it. */
#define _GNU_SOURCE /* pipe2 */
#include <errno.h>
#include <event2/http.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "dash_int.h"

#define FETCH_TIMEOUT_MS 5000

struct fetch {
    dash_t *d;
    int pipe[2];
    struct event *done;
    bool running;
    pthread_t thread;
    /* the job: set before the thread starts, read by the loop after it said so */
    struct evhttp_request *req;
    char agency[MIZ_AGENCY_MAX + 1];
    int day0;
    bool csv;
    uint64_t since;
    miz_replica_t *r;
    int rc, err;
};

static void *fetch_run(void *arg)
{
    fetch_t *f = arg;
    f->rc = miz_snapshot_fetch(NULL, f->d->clients_ep, f->d->curve, f->since, FETCH_TIMEOUT_MS,
                               f->r);
    f->err = errno;
    while (write(f->pipe[1], "", 1) < 0 && errno == EINTR)
        ;
    return NULL;
}

/* On the loop: the thread is done; answer. */
static void fetch_done(evutil_socket_t fd, short what, void *arg)
{
    fetch_t *f = arg;
    char byte;
    (void)what;
    if (read(fd, &byte, 1) != 1)
        return;
    pthread_join(f->thread, NULL);
    f->running = false;
    if (f->rc < 0) {
        dlog(DLOG_STREAM, "a past week's snapshot: %s", strerror(f->err));
        server_reply_error(f->req, HTTP_SERVUNAVAIL, "Service Unavailable",
                           "the broker did not answer the snapshot");
    } else {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        render_names_t names = dash_names(f->d);
        bool ok = out && render_report(out, f->r, f->agency, &names, f->day0,
                                       clock_ms(CLOCK_REALTIME), f->csv);
        if (out)
            fclose(out);
        if (ok)
            server_reply_text(f->req, text, len,
                              f->csv ? "text/csv; charset=utf-8" : "text/html; charset=utf-8");
        else
            free(text), evhttp_send_error(f->req, HTTP_INTERNAL, NULL);
    }
    f->req = NULL;
    miz_replica_destroy(&f->r);
}

fetch_t *fetch_new(dash_t *d)
{
    fetch_t *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->d = d;
    if (pipe2(f->pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
        free(f);
        return NULL;
    }
    f->done = event_new(d->base, f->pipe[0], EV_READ | EV_PERSIST, fetch_done, f);
    if (!f->done || event_add(f->done, NULL) < 0) {
        fetch_destroy(&f);
        return NULL;
    }
    return f;
}

void fetch_destroy(fetch_t **fp)
{
    fetch_t *f = *fp;
    if (!f)
        return;
    if (f->running) {
        pthread_join(f->thread, NULL);
        server_reply_error(f->req, HTTP_SERVUNAVAIL, "Service Unavailable", "shutting down");
        miz_replica_destroy(&f->r);
    }
    if (f->done)
        event_free(f->done);
    close(f->pipe[0]);
    close(f->pipe[1]);
    free(f);
    *fp = NULL;
}

void fetch_report(fetch_t *f, struct evhttp_request *req, const char *agency, int day0, bool csv)
{
    if (f->running) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", "5");
        server_reply_error(req, HTTP_SERVUNAVAIL, "Service Unavailable",
                           "another past week's report is being fetched: try again shortly");
        return;
    }
    f->req = req;
    snprintf(f->agency, sizeof f->agency, "%s", agency);
    f->day0 = day0;
    f->csv = csv;
    f->since = fig_day_start(day0 - FIG_AVG_DAYS);
    f->r = miz_replica_new();
    if (!f->r || pthread_create(&f->thread, NULL, fetch_run, f) != 0) {
        miz_replica_destroy(&f->r);
        f->req = NULL;
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    f->running = true;
}

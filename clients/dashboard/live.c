/* live: the live pages, each a server-sent event stream (`/events`) that
 * gets the figures whenever the replica changed. It exists apart from the
 * rest of the server because a live page is the one reply that never ends,
 * so it is where a page can hold memory and slots: each page's slot is
 * freed when its connection closes (libevent detaches the request from its
 * connection before the close callback runs: the page is found by its
 * connection, and its request freed here); what waits unsent for a page is
 * bounded (a page with more than limits.live_backlog bytes unread is
 * skipped, and gets the newest figures once it has read them); and a page
 * that reads nothing for limits.live_stall_s is dropped by the
 * connection's write timeout. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "clock.h"
#include "dash_int.h"

#define LIVE_KEEPALIVE_MS 15000

typedef struct {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    bool behind; /* an update was skipped: it gets the newest when it has room */
} live_page_t;

struct live {
    dash_t *d;
    live_page_t *pages;
    size_t n;
    uint64_t last_sent; /* monotonic ms */
    char *latest;       /* the latest figures event, as sent */
    size_t latest_len;
    live_stats_t stats;
};

live_t *live_new(dash_t *d)
{
    live_t *l = calloc(1, sizeof *l);
    if (l && !(l->pages = calloc(d->limits.max_live, sizeof *l->pages)))
        free(l), l = NULL;
    if (l)
        l->d = d;
    return l;
}

void live_destroy(live_t **lp)
{
    live_t *l = *lp;
    if (!l)
        return;
    for (size_t i = 0; i < l->n; i++) {
        evhttp_connection_set_closecb(l->pages[i].conn, NULL, NULL);
        evhttp_send_reply_end(l->pages[i].req);
    }
    free(l->pages);
    free(l->latest);
    free(l);
    *lp = NULL;
}

size_t live_count(const live_t *l)
{
    return l->n;
}

void live_stats(const live_t *l, live_stats_t *st)
{
    *st = l->stats;
    st->pages = l->n;
    st->backlog_bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        struct bufferevent *bev = evhttp_connection_get_bufferevent(l->pages[i].conn);
        st->backlog_bytes += evbuffer_get_length(bufferevent_get_output(bev));
    }
}

static void live_forget(live_t *l, size_t i)
{
    l->pages[i] = l->pages[--l->n];
}

/* The connection is going: its request is freed with it, unless libevent
 * detached it first (the peer closed, or a timeout), when it is ours. */
static void live_closed(struct evhttp_connection *conn, void *arg)
{
    live_t *l = arg;
    for (size_t i = 0; i < l->n; i++) {
        if (l->pages[i].conn != conn)
            continue;
        if (!evhttp_request_get_connection(l->pages[i].req))
            evhttp_request_free(l->pages[i].req);
        live_forget(l, i);
        l->stats.closed++;
        return;
    }
}

static size_t live_unsent(const live_page_t *p)
{
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(p->conn)));
}

static void live_send(live_page_t *p, const char *text, size_t len)
{
    struct evbuffer *chunk = evbuffer_new();
    if (chunk && evbuffer_add(chunk, text, len) == 0)
        evhttp_send_reply_chunk(p->req, chunk);
    if (chunk)
        evbuffer_free(chunk);
}

/* Renders the figures as one event into l->latest; false if it could not. */
static bool live_render(live_t *l)
{
    free(l->latest);
    l->latest = NULL;
    l->latest_len = 0;
    FILE *out = open_memstream(&l->latest, &l->latest_len);
    figures_t *f = out ? dash_week_figures(l->d) : NULL;
    bool ok = f != NULL;
    if (f) {
        render_names_t names = dash_names(l->d);
        render_state_t st = dash_state(l->d);
        fputs("event: figures\ndata: ", out);
        render_figures_json(out, f, &names, &st); /* one line: JSON without newlines */
        fputs("\n\n", out);
        figures_destroy(&f);
    }
    if (out)
        fclose(out);
    if (!ok) {
        free(l->latest);
        l->latest = NULL;
        l->latest_len = 0;
    }
    return l->latest != NULL;
}

/* The latest figures to page p if it has room for them; else it is behind. */
static void live_offer(live_t *l, live_page_t *p)
{
    if (live_unsent(p) > l->d->limits.live_backlog) {
        if (!p->behind)
            l->stats.skipped++;
        p->behind = true;
        return;
    }
    p->behind = false;
    live_send(p, l->latest, l->latest_len);
}

void live_add(live_t *l, struct evhttp_request *req)
{
    if (l->n == l->d->limits.max_live) {
        server_reply_error(req, HTTP_SERVUNAVAIL, "Service Unavailable", "too many live pages");
        return;
    }
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-store");
    evhttp_send_reply_start(req, HTTP_OK, "OK");
    live_page_t *p = &l->pages[l->n++];
    *p = (live_page_t){req, evhttp_request_get_connection(req), false};
    /* never a read timeout (it only writes); a write timeout: a page that
     * takes nothing of what waits for it that long is gone */
    struct timeval stall = {l->d->limits.live_stall_s, 0};
    struct bufferevent *bev = evhttp_connection_get_bufferevent(p->conn);
    bufferevent_set_timeouts(bev, NULL, &stall);
    /* and the kernel holds no more for it than we do */
    int sndbuf = (int)l->d->limits.live_backlog;
    setsockopt(bufferevent_getfd(bev), SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf);
    evhttp_connection_set_closecb(p->conn, live_closed, l);
    if (l->latest || live_render(l))
        live_offer(l, p);
}

void live_tick(live_t *l, bool changed)
{
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (changed && l->n && live_render(l)) {
        for (size_t i = 0; i < l->n; i++)
            live_offer(l, &l->pages[i]);
        l->last_sent = now;
        return;
    }
    if (changed)
        free(l->latest), l->latest = NULL, l->latest_len = 0; /* rendered for the next page */
    for (size_t i = 0; i < l->n && l->latest; i++) /* pages that were behind and caught up */
        if (l->pages[i].behind)
            live_offer(l, &l->pages[i]);
    if (now - l->last_sent >= LIVE_KEEPALIVE_MS) {
        for (size_t i = 0; i < l->n; i++)
            if (live_unsent(&l->pages[i]) == 0)
                live_send(&l->pages[i], ": keepalive\n\n", 13);
        l->last_sent = now;
    }
}

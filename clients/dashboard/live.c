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
 * connection's write timeout.
 *
 * A page gets the whole figures (`event: figures`) when it is new or was
 * skipped; otherwise only what changed since the last update, which every
 * page not skipped has got (`event: patch`): the figures are rendered in
 * parts (the head, each agency, the overdue list) and a patch carries the
 * head, the agencies' ids in order, and the parts whose JSON changed. One
 * busy agency then costs its own part, not the whole (some 120 KB on a
 * province's table). The overdue list is sent without its cases' ages
 * (the page works them out from now and answer_by), or it would change
 * every second. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "clock.h"
#include "dash_int.h"

#define LIVE_KEEPALIVE_MS 15000

typedef struct {
    struct evhttp_request *req;
    struct evhttp_connection *conn;
    bool behind; /* an update was skipped: it gets the newest when it has room */
} live_page_t;

/* One part of the figures JSON, as last rendered. */
typedef struct {
    char *key; /* "head", "overdue", or an agency's id */
    char *json;
    size_t len;
} live_part_t;

typedef struct {
    char *text;
    size_t len;
} live_text_t;

struct live {
    dash_t *d;
    live_page_t *pages;
    size_t n;
    uint64_t last_sent; /* monotonic ms */
    live_text_t latest; /* the latest figures event, whole */
    live_text_t patch;  /* what changed since the render before it, or NULL: none to patch */
    live_part_t *parts; /* the parts of latest */
    size_t n_parts;
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

static void live_free_parts(live_part_t *parts, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(parts[i].key);
        free(parts[i].json);
    }
    free(parts);
}

/* Forgets what was rendered: the next render has nothing to patch. */
static void live_clear(live_t *l)
{
    free(l->latest.text);
    free(l->patch.text);
    l->latest = l->patch = (live_text_t){NULL, 0};
    live_free_parts(l->parts, l->n_parts);
    l->parts = NULL;
    l->n_parts = 0;
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
    live_clear(l);
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

/* The part keyed key ("head", "overdue" or agency i's id) rendered into
 * parts[*n]; false when out of memory. */
static bool live_part(live_part_t *parts, size_t *n, const char *key, const figures_t *f,
                      const render_names_t *names, const render_state_t *st, size_t agency)
{
    live_part_t *p = &parts[*n];
    FILE *out = open_memstream(&p->json, &p->len);
    if (!out)
        return false;
    if (strcmp(key, "head") == 0)
        render_head_json(out, f, st);
    else if (strcmp(key, "overdue") == 0)
        render_overdue_json(out, f, names, false);
    else
        render_agency_json(out, f, agency, names);
    bool ok = fclose(out) == 0 && (p->key = strdup(key));
    if (!ok) {
        free(p->json);
        p->json = NULL;
    }
    *n += ok;
    return ok;
}

/* Whether part p (index i of its render) was in old with the same JSON:
 * the head and the overdue list by their place (0, 1), an agency by its
 * id among the others (an agency may be called "head"). */
static bool live_same(const live_part_t *old, size_t n_old, const live_part_t *p, size_t i)
{
    size_t from = i < 2 ? i : 2, to = i < 2 ? i + 1 : n_old;
    for (size_t k = from; k < to && k < n_old; k++)
        if (strcmp(old[k].key, p->key) == 0)
            return old[k].len == p->len && memcmp(old[k].json, p->json, p->len) == 0;
    return false;
}

/* The whole event from the parts (head, overdue, agencies...), and the
 * patch from what changed since old (none when there was no old). */
static bool live_texts(live_t *l, const live_part_t *parts, size_t n, const live_part_t *old,
                       size_t n_old)
{
    FILE *out = open_memstream(&l->latest.text, &l->latest.len);
    if (!out)
        return false;
    fprintf(out, "event: figures\ndata: {%s,\"agencies\":[", parts[0].json);
    for (size_t i = 2; i < n; i++)
        fprintf(out, "%s%s", i > 2 ? "," : "", parts[i].json);
    fprintf(out, "],\"overdue\":%s}\n\n", parts[1].json);
    if (fclose(out) != 0)
        return false;
    if (!old)
        return true;
    if (!(out = open_memstream(&l->patch.text, &l->patch.len)))
        return false;
    fprintf(out, "event: patch\ndata: {\"head\":{%s,\"ids\":[", parts[0].json);
    for (size_t i = 2; i < n; i++) {
        fputs(i > 2 ? "," : "", out);
        render_json_str(out, parts[i].key);
    }
    fputs("]},\"agencies\":[", out);
    for (size_t i = 2, k = 0; i < n; i++)
        if (!live_same(old, n_old, &parts[i], i))
            fprintf(out, "%s%s", k++ ? "," : "", parts[i].json);
    fputc(']', out);
    if (!live_same(old, n_old, &parts[1], 1))
        fprintf(out, ",\"overdue\":%s", parts[1].json);
    fputs("}\n\n", out);
    return fclose(out) == 0;
}

/* Renders the figures into l->latest in parts, and into l->patch what
 * changed since the render before; false (and nothing kept) if it could
 * not. */
static bool live_render(live_t *l)
{
    live_part_t *old = l->parts;
    size_t n_old = l->n_parts;
    l->parts = NULL;
    l->n_parts = 0;
    free(l->latest.text);
    free(l->patch.text);
    l->latest = l->patch = (live_text_t){NULL, 0};
    figures_t *f = dash_week_figures(l->d);
    live_part_t *parts = f ? calloc(f->n_agencies + 2, sizeof *parts) : NULL;
    size_t n = 0;
    bool ok = parts != NULL;
    if (ok) {
        render_names_t names = dash_names(l->d);
        render_state_t st = dash_state(l->d);
        ok = live_part(parts, &n, "head", f, &names, &st, 0) &&
             live_part(parts, &n, "overdue", f, &names, &st, 0);
        for (size_t i = 0; ok && i < f->n_agencies; i++)
            ok = live_part(parts, &n, f->agencies[i].agency, f, &names, &st, i);
        ok = ok && live_texts(l, parts, n, old, n_old);
    }
    figures_destroy(&f);
    live_free_parts(old, n_old);
    l->parts = parts;
    l->n_parts = n;
    if (!ok)
        live_clear(l);
    return ok;
}

/* The figures to page p if it has room for them: the patch when p has all
 * the rest (update, and it was not skipped), else the whole; if it has no
 * room, it is behind. */
static void live_offer(live_t *l, live_page_t *p, bool update)
{
    if (live_unsent(p) > l->d->limits.live_backlog) {
        if (!p->behind)
            l->stats.skipped++;
        p->behind = true;
        return;
    }
    bool whole = p->behind || !update || !l->patch.text;
    p->behind = false;
    if (whole)
        live_send(p, l->latest.text, l->latest.len);
    else
        live_send(p, l->patch.text, l->patch.len);
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
    if (l->latest.text || live_render(l))
        live_offer(l, p, false);
}

void live_tick(live_t *l, bool changed)
{
    uint64_t now = clock_ms(CLOCK_MONOTONIC);
    if (changed && l->n) {
        if (live_render(l)) {
            for (size_t i = 0; i < l->n; i++)
                live_offer(l, &l->pages[i], true);
            l->last_sent = now;
            return;
        }
        for (size_t i = 0; i < l->n; i++) /* each missed it: the whole for them next */
            l->pages[i].behind = true;
    }
    if (changed)
        live_clear(l); /* rendered for the next page */
    for (size_t i = 0; i < l->n && l->latest.text; i++) /* pages that were behind and caught up */
        if (l->pages[i].behind)
            live_offer(l, &l->pages[i], false);
    if (now - l->last_sent >= LIVE_KEEPALIVE_MS) {
        for (size_t i = 0; i < l->n; i++)
            if (live_unsent(&l->pages[i]) == 0)
                live_send(&l->pages[i], ": keepalive\n\n", 13);
        l->last_sent = now;
    }
}

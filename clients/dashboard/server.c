/* server: miz-dashboard's HTTP side on libevent's evhttp. Everything in a
 * request comes from whoever reaches the port, so this is where it is
 * bounded and checked before any handler runs: the request line and
 * headers together at most limits.max_header_bytes (431 beyond), no body,
 * a request whose headers do not come within limits.request_timeout_s is
 * cut off, only GET and HEAD, and, with a token, nothing without it. Then
 * each path has its handler: the page's files, the figures as JSON, the
 * overdue list, /metrics, the weekly reports (those of past weeks through
 * fetch.c, so that the loop never waits for the broker) and the live pages
 * (live.c). */
#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assets.h"
#include "clock.h"
#include "dash_int.h"
#include "httpd.h"
#include "jalali.h"
#include "table.h"

#define SERVER_TOKEN_COOKIE "miz_token"

void server_reply_text(struct evhttp_request *req, char *text, size_t len, const char *type)
{
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Cache-Control", "no-store");
    if (body && evbuffer_add(body, text, len) == 0)
        httpd_send(req, HTTP_OK, "OK", body);
    else
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    if (body)
        evbuffer_free(body);
    free(text);
}

void server_reply_error(struct evhttp_request *req, int code, const char *reason, const char *text)
{
    struct evbuffer *body = evbuffer_new();
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; charset=utf-8");
    if (body)
        evbuffer_add_printf(body, "%s\n", text);
    httpd_send(req, code, reason, body);
    if (body)
        evbuffer_free(body);
}

/* ---- access ---- */


/* The token from "Authorization: Bearer T" or the cookie miz_token=T. */
static bool server_token_given(const dash_t *d, struct evhttp_request *req)
{
    struct evkeyvalq *h = evhttp_request_get_input_headers(req);
    const char *auth = evhttp_find_header(h, "Authorization");
    if (auth && strncmp(auth, "Bearer ", 7) == 0 &&
        httpd_same_secret(auth + 7, strlen(auth + 7), d->token))
        return true;
    const char *cookie = evhttp_find_header(h, "Cookie");
    for (const char *c = cookie; c && *c;) {
        c += strspn(c, " ");
        size_t len = strcspn(c, ";");
        size_t name = strlen(SERVER_TOKEN_COOKIE "=");
        if (len > name && strncmp(c, SERVER_TOKEN_COOKIE "=", name) == 0 &&
            httpd_same_secret(c + name, len - name, d->token))
            return true;
        c += len + (c[len] == ';');
    }
    return false;
}

/* With a token: the request has it, or "/?token=T" (a link for a wall
 * screen) sets it as a cookie and sends the page to "/" without it, or 401. */
static bool server_allowed_or_reply(const dash_t *d, struct evhttp_request *req)
{
    if (!d->token || server_token_given(d, req))
        return true;
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    struct evkeyvalq q;
    if (path && strcmp(path, "/") == 0 && query && evhttp_parse_query_str(query, &q) == 0) {
        const char *t = evhttp_find_header(&q, "token");
        bool ok = t && httpd_same_secret(t, strlen(t), d->token);
        evhttp_clear_headers(&q);
        if (ok) {
            char cookie[512];
            snprintf(cookie, sizeof cookie,
                     SERVER_TOKEN_COOKIE "=%s; Path=/; HttpOnly; SameSite=Strict", d->token);
            struct evkeyvalq *h = evhttp_request_get_output_headers(req);
            evhttp_add_header(h, "Set-Cookie", cookie);
            evhttp_add_header(h, "Location", "/");
            evhttp_send_reply(req, 303, "See Other", NULL);
            return false;
        }
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate",
                      "Bearer realm=\"miz-dashboard\"");
    server_reply_error(req, 401, "Unauthorized",
                       "a token is needed: Authorization: Bearer TOKEN, or open /?token=TOKEN");
    return false;
}

/* Every handler starts here: the method, then the token. */
static bool server_accept_or_reply(const dash_t *d, struct evhttp_request *req)
{
    enum evhttp_cmd_type cmd = evhttp_request_get_command(req);
    if (cmd != EVHTTP_REQ_GET && cmd != EVHTTP_REQ_HEAD) {
        server_reply_error(req, 405, "Method Not Allowed", "GET only");
        return false;
    }
    return server_allowed_or_reply(d, req);
}

/* ---- the figures ---- */

typedef enum { SERVER_FIGURES, SERVER_OVERDUE, SERVER_METRICS } server_output_t;

static void server_output(dash_t *d, struct evhttp_request *req, server_output_t what)
{
    if (!server_accept_or_reply(d, req))
        return;
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    figures_t *f = out ? dash_week_figures(d) : NULL;
    if (!f) {
        if (out)
            fclose(out);
        free(text);
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
        return;
    }
    render_names_t names = dash_names(d);
    render_state_t st = dash_state(d);
    if (what == SERVER_FIGURES)
        render_figures_json(out, f, &names, &st);
    else if (what == SERVER_OVERDUE)
        render_overdue_json(out, f, &names, true);
    else
        render_metrics(out, f, &st);
    if (what == SERVER_METRICS && d->weekly)
        weekly_metrics(d->weekly, out);
    figures_destroy(&f);
    fclose(out);
    server_reply_text(req, text, len,
                      what == SERVER_METRICS ? "text/plain; version=0.0.4; charset=utf-8"
                                             : "application/json; charset=utf-8");
}

static void server_on_figures(struct evhttp_request *req, void *arg)
{
    server_output(arg, req, SERVER_FIGURES);
}

static void server_on_overdue(struct evhttp_request *req, void *arg)
{
    server_output(arg, req, SERVER_OVERDUE);
}

static void server_on_metrics(struct evhttp_request *req, void *arg)
{
    server_output(arg, req, SERVER_METRICS);
}

static void server_on_events(struct evhttp_request *req, void *arg)
{
    dash_t *d = arg;
    if (server_accept_or_reply(d, req))
        live_add(d->live, req);
}

/* ---- the weekly report ---- */

/* An agency of the table, or one the replica's requests name. */
static bool server_agency_known(const dash_t *d, const char *agency)
{
    for (size_t i = 0; i < d->n_names; i++)
        if (strcmp(d->names[i].id, agency) == 0)
            return true;
    figures_t *f = dash_week_figures(d);
    bool known = f && figures_agency(f, agency);
    figures_destroy(&f);
    return known;
}

static void server_report(dash_t *d, struct evhttp_request *req, const char *week,
                          const char *agency, const char *format)
{
    int wy, wk, day0;
    bool csv = format && strcmp(format, "csv") == 0;
    uint64_t now = clock_ms(CLOCK_REALTIME);
    if (!week || !jalali_week_parse(week, strlen(week), &wy, &wk) ||
        !jalali_week_first_day(wy, wk, &day0)) {
        server_reply_error(req, HTTP_BADREQUEST, "Bad Request", "week: YYYY-Www, an Iranian week");
    } else if (!agency || !table_is_name(agency, strlen(agency), MIZ_AGENCY_MAX)) {
        server_reply_error(req, HTTP_BADREQUEST, "Bad Request", "agency: an agency id");
    } else if (format && !csv && strcmp(format, "html") != 0) {
        server_reply_error(req, HTTP_BADREQUEST, "Bad Request", "format: html or csv");
    } else if (day0 > fig_day(now)) {
        server_reply_error(req, HTTP_NOTFOUND, "Not Found", "that week has not begun");
    } else if (!server_agency_known(d, agency)) {
        server_reply_error(req, HTTP_NOTFOUND, "Not Found", "no such agency");
    } else if (fig_day_start(day0 - FIG_AVG_DAYS) + DASH_KEEP_MS < now) {
        fetch_report(d->fetch, req, agency, day0, csv); /* older than the replica keeps */
    } else {
        char *text = NULL;
        size_t len = 0;
        FILE *out = open_memstream(&text, &len);
        render_names_t names = dash_names(d);
        bool ok = out && render_report(out, miz_stream_replica(d->stream), agency, &names, day0,
                                       now, csv);
        if (out)
            fclose(out);
        if (ok)
            server_reply_text(req, text, len,
                              csv ? "text/csv; charset=utf-8" : "text/html; charset=utf-8");
        else
            free(text), evhttp_send_error(req, HTTP_INTERNAL, NULL);
    }
}

static void server_on_report(struct evhttp_request *req, void *arg)
{
    dash_t *d = arg;
    if (!server_accept_or_reply(d, req))
        return;
    struct evkeyvalq q;
    const char *query = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    if (evhttp_parse_query_str(query ? query : "", &q) < 0) {
        server_reply_error(req, HTTP_BADREQUEST, "Bad Request", "bad query string");
        return;
    }
    server_report(d, req, evhttp_find_header(&q, "week"), evhttp_find_header(&q, "agency"),
                  evhttp_find_header(&q, "format"));
    evhttp_clear_headers(&q);
}

/* ---- the page ---- */

static void server_on_asset(struct evhttp_request *req, void *arg)
{
    if (!server_accept_or_reply(arg, req))
        return;
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    const char *name = path && strcmp(path, "/") != 0 ? path + 1 : "index.html";
    for (const asset_t *a = assets; a->name; a++) {
        if (strcmp(a->name, name) != 0)
            continue;
        const char *dot = strrchr(name, '.');
        const char *type = strcmp(dot, ".html") == 0  ? "text/html; charset=utf-8"
                           : strcmp(dot, ".js") == 0  ? "text/javascript; charset=utf-8"
                                                      : "text/css; charset=utf-8";
        struct evbuffer *body = evbuffer_new();
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", type);
        if (body && evbuffer_add_reference(body, a->data, a->size, NULL, NULL) == 0)
            httpd_send(req, HTTP_OK, "OK", body);
        else
            evhttp_send_error(req, HTTP_INTERNAL, NULL);
        if (body)
            evbuffer_free(body);
        return;
    }
    server_reply_error(req, HTTP_NOTFOUND, "Not Found", "not found");
}

int server_start(dash_t *d, const char *addr, unsigned short port, unsigned short *bound)
{
    d->http = evhttp_new(d->base);
    if (!d->http)
        return -1;
    if (httpd_bind(d->http, "miz-dashboard", addr, port, bound) < 0)
        return -1;
    evhttp_set_allowed_methods(d->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
    evhttp_set_max_headers_size(d->http, (ev_ssize_t)d->limits.max_header_bytes);
    evhttp_set_max_body_size(d->http, 0);
    evhttp_set_timeout(d->http, d->limits.request_timeout_s);
    evhttp_set_cb(d->http, "/api/figures", server_on_figures, d);
    evhttp_set_cb(d->http, "/api/overdue", server_on_overdue, d);
    evhttp_set_cb(d->http, "/metrics", server_on_metrics, d);
    evhttp_set_cb(d->http, "/report", server_on_report, d);
    evhttp_set_cb(d->http, "/events", server_on_events, d);
    evhttp_set_gencb(d->http, server_on_asset, d);
    return 0;
}

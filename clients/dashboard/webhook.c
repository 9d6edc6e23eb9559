/* webhook: a weekly report POSTed to the operator's URL (the table's
 * reports.webhook), with libevent's HTTP client on the dashboard's loop:
 * names are resolved with evdns, so nothing waits, and the whole exchange
 * has the table's timeout. The report is the body (Content-Type as its
 * format), X-Miz-Agency and X-Miz-Week say whose and which; any 2xx answer
 * is delivered, anything else (no answer, a timeout, another status) has
 * failed, and the caller is told once, with why. */
#include <event2/buffer.h>
#include <event2/dns.h>
#include <event2/http.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dash_int.h"

struct webhook {
    webhook_done_fn done;
    void *arg;
    struct evhttp_connection *conn;
    struct event *finish; /* after the reply's callback: the connection cannot be freed in it */
    char why[128];
};

static void webhook_free(webhook_t *p)
{
    if (p->finish)
        event_free(p->finish);
    if (p->conn)
        evhttp_connection_free(p->conn);
    free(p);
}

static void webhook_on_finish(evutil_socket_t fd, short what, void *arg)
{
    webhook_t *p = arg;
    (void)fd;
    (void)what;
    webhook_done_fn done = p->done;
    void *done_arg = p->arg;
    char why[sizeof p->why];
    memcpy(why, p->why, sizeof why);
    webhook_free(p);
    done(done_arg, why[0] ? why : NULL);
}

static void webhook_on_reply(struct evhttp_request *req, void *arg)
{
    webhook_t *p = arg;
    int code = req ? evhttp_request_get_response_code(req) : 0;
    if (!req || code == 0)
        snprintf(p->why, sizeof p->why, "no answer (refused, unreachable or timed out)");
    else if (code < 200 || code > 299)
        snprintf(p->why, sizeof p->why, "answered %d", code);
    event_active(p->finish, EV_TIMEOUT, 0);
}

void webhook_cancel(webhook_t **pp)
{
    if (*pp)
        webhook_free(*pp);
    *pp = NULL;
}

webhook_t *webhook_post(struct event_base *base, struct evdns_base *dns, const char *url,
                        const char *const *headers, const char *body, size_t len,
                        uint64_t timeout_ms, webhook_done_fn done, void *arg)
{
    struct evhttp_uri *uri = evhttp_uri_parse(url);
    const char *host = uri ? evhttp_uri_get_host(uri) : NULL;
    int port = uri ? evhttp_uri_get_port(uri) : -1;
    webhook_t *p = host ? calloc(1, sizeof *p) : NULL;
    struct evhttp_connection *conn =
        p ? evhttp_connection_base_new(base, dns, host, (unsigned short)(port > 0 ? port : 80))
          : NULL;
    if (p) {
        p->conn = conn;
        p->done = done;
        p->arg = arg;
        p->finish = event_new(base, -1, 0, webhook_on_finish, p);
    }
    struct evhttp_request *req =
        conn && p->finish ? evhttp_request_new(webhook_on_reply, p) : NULL;
    if (!req) {
        if (p)
            webhook_free(p);
        if (uri)
            evhttp_uri_free(uri);
        return NULL;
    }
    struct timeval tv = {(time_t)(timeout_ms / 1000), (suseconds_t)(timeout_ms % 1000) * 1000};
    evhttp_connection_set_timeout_tv(conn, &tv);
    evhttp_connection_set_retries(conn, 0);
    struct evkeyvalq *h = evhttp_request_get_output_headers(req);
    char hostport[300];
    snprintf(hostport, sizeof hostport, port > 0 ? "%s:%d" : "%s", host, port);
    evhttp_add_header(h, "Host", hostport);
    evhttp_add_header(h, "Connection", "close");
    for (size_t i = 0; headers[i] && headers[i + 1]; i += 2)
        evhttp_add_header(h, headers[i], headers[i + 1]);
    evbuffer_add(evhttp_request_get_output_buffer(req), body, len);
    const char *path = evhttp_uri_get_path(uri), *query = evhttp_uri_get_query(uri);
    char target[4200];
    snprintf(target, sizeof target, "%s%s%s", path && *path ? path : "/", query ? "?" : "",
             query ? query : "");
    evhttp_uri_free(uri);
    if (evhttp_make_request(conn, req, EVHTTP_REQ_POST, target) < 0) {
        webhook_free(p); /* libevent has freed req */
        return NULL;
    }
    return p;
}

/* http: miz-open311's HTTP side on libevent's evhttp. Whoever reaches the
 * port sends what they like, so this is where it is bounded before any
 * handler runs: the request line and headers together at most
 * max_header_bytes, a body at most max_body_bytes, a request that does not
 * arrive within request_timeout_s is cut off, only GET, HEAD and POST
 * (evhttp refuses the rest itself, with a page of HTML: 400, 413, 501). Then the path says what is asked and in
 * which format: GeoReport v2 names it by the extension, services.json or
 * services.xml. TLS, HTTP/2 and connection limits belong in the reverse
 * proxy in front (docs/open311.md). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>

#include "form.h"
#include "httpd.h"
#include "o311_int.h"

#define HTTP_PATH_MAX 512

static const char *http_reason(int code)
{
    switch (code) {
    case 200: return "OK";
    case 201: return "Created";
    case 400: return "Bad Request";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 429: return "Too Many Requests";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    default: return "Internal Server Error";
    }
}

void http_reply_doc(struct evhttp_request *req, int code, doc_t *d, doc_format_t f)
{
    size_t len = 0;
    char *text = d ? doc_finish(&d, &len) : NULL;
    struct evbuffer *body = text ? evbuffer_new() : NULL;
    if (body && evbuffer_add(body, text, len) == 0) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        evhttp_add_header(h, "Content-Type", doc_content_type(f));
        evhttp_add_header(h, "Cache-Control", "no-store");
        httpd_send(req, code, http_reason(code), body);
    } else {
        evhttp_send_error(req, HTTP_INTERNAL, NULL);
    }
    if (body)
        evbuffer_free(body);
    free(text);
}

void http_reply_error(struct evhttp_request *req, doc_format_t f, int code, const char *fmt, ...)
{
    char text[768];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    doc_t *d = doc_new(f, "errors", "error");
    if (d) {
        doc_begin(d);
        doc_uint(d, "code", (uint64_t)code);
        doc_cstr(d, "description", text);
        doc_end(d);
    }
    http_reply_doc(req, code, d, f);
}

/* "/requests/42.json" into "requests/42" (in stem) and its format; false
 * when it has no known extension. */
static bool http_split(const char *path, char *stem, size_t len, doc_format_t *f)
{
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (!dot || path[0] != '/' || (size_t)(dot - path) >= len)
        return false;
    if (strcmp(dot, ".json") == 0)
        *f = DOC_JSON;
    else if (strcmp(dot, ".xml") == 0)
        *f = DOC_XML;
    else
        return false;
    memcpy(stem, path + 1, (size_t)(dot - path) - 1);
    stem[dot - path - 1] = '\0';
    return true;
}

/* Whether a path is printable ASCII: what it holds is echoed in errors,
 * which must stay UTF-8, and no path of ours has anything else. */
static bool http_path_plain(const char *path)
{
    for (; *path; path++)
        if (*path <= 0x20 || *path >= 0x7F)
            return false;
    return true;
}

/* What the path asks for, once it is known to be well formed. */
static void http_serve(o311_t *g, struct evhttp_request *req, doc_format_t f, const char *stem,
                       bool post, const form_t *query)
{
    if (strcmp(stem, "services") == 0) {
        doc_t *d = doc_new(f, "services", "service");
        if (d)
            services_write(g, d);
        http_reply_doc(req, 200, d, f);
    } else if (strncmp(stem, "services/", 9) == 0) {
        bool known = services_find(g->services, stem + 9) != NULL;
        http_reply_error(req, f, 404, known ? "service %s has no attributes to define (metadata "
                                              "false): post its requests as they are"
                                            : "no service %s here",
                         stem + 9);
    } else if (strcmp(stem, "requests") == 0) {
        if (post)
            requests_post(g, req, f);
        else
            requests_query(g, req, f, query);
    } else if (strncmp(stem, "requests/", 9) == 0) {
        requests_get(g, req, f, stem + 9);
    } else if (strncmp(stem, "tokens/", 7) == 0) {
        http_reply_error(req, f, 404, "no tokens here: every post gets its service_request_id "
                         "at once (type realtime)");
    } else {
        http_reply_error(req, f, 404, "no such path: this server has services, requests and "
                         "tokens");
    }
}

static void http_route(struct evhttp_request *req, void *arg)
{
    o311_t *g = arg;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(req));
    char stem[HTTP_PATH_MAX];
    doc_format_t f = DOC_JSON;
    bool post = method == EVHTTP_REQ_POST;
    if (g->stopping) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        http_reply_error(req, f, 503, "this gateway is stopping: ask again");
        return;
    }
    if (!path || !http_path_plain(path) || !http_split(path, stem, sizeof stem, &f)) {
        http_reply_error(req, f, 404, "no such path: GeoReport v2 paths end in .json or .xml, "
                         "such as /services.json");
        return;
    }
    if (post && strcmp(stem, "requests") != 0) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", "GET, HEAD");
        http_reply_error(req, f, 405, "only requests.%s takes POST", f == DOC_XML ? "xml" : "json");
        return;
    }
    char err[256];
    const char *text = evhttp_uri_get_query(evhttp_request_get_evhttp_uri(req));
    form_t *query = form_parse(text ? text : "", text ? strlen(text) : 0, err, sizeof err);
    const char *jurisdiction = query ? form_get(query, "jurisdiction_id", NULL) : NULL;
    if (!query)
        http_reply_error(req, f, 400, "the query: %s", err);
    else if (g->jurisdiction && jurisdiction && strcmp(jurisdiction, g->jurisdiction) != 0)
        http_reply_error(req, f, 404, "jurisdiction_id is not this server's");
    else
        http_serve(g, req, f, stem, post, query);
    form_destroy(&query);
}

int http_start(o311_t *g, const char *addr, unsigned short port, unsigned short *bound)
{
    g->http = evhttp_new(g->base);
    if (!g->http)
        return -1;
    evhttp_set_timeout(g->http, g->limits.request_timeout_s);
    evhttp_set_max_headers_size(g->http, (ev_ssize_t)g->limits.max_header_bytes);
    evhttp_set_max_body_size(g->http, (ev_ssize_t)g->limits.max_body_bytes);
    evhttp_set_allowed_methods(g->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD | EVHTTP_REQ_POST);
    evhttp_set_gencb(g->http, http_route, g);
    if (httpd_bind(g->http, "miz-open311", addr, port, bound) < 0)
        return -1;
    return 0;
}

/* o311_int.h: what miz-open311's files share (main.c the process and its
 * options, http.c the HTTP side and its limits, services.c the service
 * list, requests.c the requests, link.c the broker, doc.c and form.c the
 * formats). docs/open311.md describes the gateway. */
#ifndef MIZ_O311_INT_H
#define MIZ_O311_INT_H

#include <event2/event.h>
#include <event2/http.h>
#include <stdbool.h>
#include <stddef.h>

#include "doc.h"
#include "form.h"
#include "link.h"
#include "table.h"

/* The HTTP side's limits (docs/open311.md, "Limits"). */
typedef struct {
    int request_timeout_s; /* a request must arrive this fast; idle keep-alive too */
    size_t max_header_bytes;
    size_t max_body_bytes;
} o311_limits_t;

/* One service of GET services: a topic a client may submit to. Its names
 * point into the table it was listed from. */
typedef struct {
    const char *code; /* the topic */
    const char *name_fa, *name_en; /* may be "" */
} service_t;

typedef struct services services_t;

typedef struct {
    struct event_base *base;
    struct evhttp *http;
    link_t *link;
    table_t *table;        /* the routing table, again after SIGHUP */
    services_t *services;  /* listed from it */
    bool english;          /* names in English rather than Persian */
    const char *jurisdiction; /* NULL: whatever a client says */
    char **api_keys;       /* POST needs one of these; NULL: anyone may post */
    size_t n_api_keys;
    o311_limits_t limits;
    int broker_timeout_ms;
    bool stopping; /* a stop signal came: what arrives now is 503 */
} o311_t;

/* ---- services.c ---- */
/* The services of t: the routes that take a plain request, each literal
 * topic of theirs and each of their `services` items, where that topic
 * does reach a route with targets. NULL: out of memory. */
services_t *services_new(const table_t *t);
void services_destroy(services_t **s);
size_t services_count(const services_t *s);
const service_t *services_find(const services_t *s, const char *code);
/* GET services. */
void services_write(const o311_t *g, doc_t *d);
/* A service's (or a topic's) name in the gateway's language, else the
 * other one; NULL when it has neither. */
const char *services_name(const o311_t *g, const char *code, size_t len);

/* ---- submit.c ---- */
/* POST requests. */
void requests_post(o311_t *g, struct evhttp_request *req, doc_format_t f);
/* The broker's error reply m as Open311's, with the HTTP status its code
 * calls for and Retry-After when it says when. */
void requests_reply_broker_error(struct evhttp_request *req, doc_format_t f, miz_msg_t *m);

/* ---- requests.c ---- */
void requests_get(o311_t *g, struct evhttp_request *req, doc_format_t f, const char *id);
/* GET requests?service_request_id=1,2,3 (query: the query string's fields) */
void requests_query(o311_t *g, struct evhttp_request *req, doc_format_t f, const form_t *query);

/* ---- http.c ---- */
/* Binds addr:port with the limits set; the port bound in *bound (0 takes a
 * free one). 0 or -1 (said on stderr). */
int http_start(o311_t *g, const char *addr, unsigned short port, unsigned short *bound);
/* The reply: d finished and sent with status code (d is freed). */
void http_reply_doc(struct evhttp_request *req, int code, doc_t *d, doc_format_t f);
/* Open311's error list, [{code, description}], with that HTTP status. */
void http_reply_error(struct evhttp_request *req, doc_format_t f, int code,
                      const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#endif

/* httpproc: a real HTTP program of miz (miz-dashboard, miz-open311) started
 * as a child of an integration test, next to the harness's mizd
 * (harness.h), and spoken to with a small blocking HTTP/1.0 client. Every
 * wait keeps reading the harness's peers, as the harness does; every check
 * fails the test instead of returning an error. */
#ifndef MIZ_HTTPPROC_H
#define MIZ_HTTPPROC_H

#include "harness.h"

typedef struct hp hp_t;

/* Starts argv[0] with argv (NULL-terminated) and returns once it serves:
 * its first line on stdout must name where, "http://127.0.0.1:PORT".
 * It gets SIGTERM if the test dies first; name is for messages. */
hp_t *hp_start(it_daemon_t *d, const char *name, const char *const *argv);
/* SIGTERM; it must exit 0 (under ASan: no leak) within IT_WAIT_MS. */
void hp_stop(hp_t **p);
/* Its process id, to read its memory. */
pid_t hp_pid(const hp_t *p);
/* "http://127.0.0.1:PORT" */
const char *hp_url(const hp_t *p);
unsigned hp_port(const hp_t *p);
/* A socket connected to it; rcvbuf > 0 sets SO_RCVBUF first. */
int hp_connect(const hp_t *p, int rcvbuf);

/* Sends a whole request (its text as is) and returns the whole answer,
 * headers and body (malloc'd), with the status in *status. */
char *hp_request(hp_t *p, const char *request, int *status);
/* GETs path; the body (malloc'd, NUL-terminated), and the status code in
 * *status. */
char *hp_get(hp_t *p, const char *path, int *status);
/* GETs path, which must answer 200: the body. */
char *hp_get_ok(hp_t *p, const char *path);
/* GETs path, which must answer with status. */
void hp_expect(hp_t *p, const char *path, int status);
/* POSTs body to path with its Content-Length, a Content-Type (NULL: none)
 * and extra_headers ("Name: value\r\n" each, or NULL); the answer's body
 * as hp_get. */
char *hp_post(hp_t *p, const char *path, const char *content_type, const char *extra_headers,
              const char *body, int *status);
/* The value of the header name (any case) in an answer of hp_request,
 * malloc'd; NULL if it has none. */
char *hp_header(const char *answer, const char *name);

#endif

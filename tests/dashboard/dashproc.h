/* dashproc: the real miz-dashboard for the dashboard's tests, started on
 * the harness's mizd (tests/integration/harness.h) and spoken to over HTTP.
 * Every wait keeps reading the harness's peers, as the harness does. */
#ifndef MIZ_DASHPROC_H
#define MIZ_DASHPROC_H

#include "harness.h"
#include "stream.h"

typedef struct dash_proc dash_proc_t;

/* The daemon's clients endpoint (the harness names only the others). */

/* Starts miz-dashboard on the daemon's table and endpoints, on a free port
 * of 127.0.0.1; returns once it serves. */
dash_proc_t *dash_start(it_daemon_t *d);
/* The same with more options (a NULL-terminated list), e.g. limits. */
dash_proc_t *dash_start_with(it_daemon_t *d, const char *const *extra);
/* Its process id, to read its memory. */
pid_t dash_pid(const dash_proc_t *p);
/* SIGTERM; it must exit 0 (under ASan: no leak). */
void dash_stop(dash_proc_t **p);
/* "http://127.0.0.1:PORT" */
const char *dash_url(const dash_proc_t *p);

/* GETs path; the body (malloc'd, NUL-terminated), and the status code in
 * *status. */
char *dash_get(dash_proc_t *p, const char *path, int *status);
/* Sends a whole request (its text as is) and returns the whole answer,
 * headers and body (malloc'd), with the status in *status. */
char *dash_request(dash_proc_t *p, const char *request, int *status);
/* A socket connected to the dashboard; rcvbuf > 0 sets SO_RCVBUF first. */
int dash_connect(const dash_proc_t *p, int rcvbuf);
/* GETs path, which must answer with status. */
void dash_expect(dash_proc_t *p, const char *path, int status);
/* The broker's own status answers of the n requests, as a replica: what
 * the dashboard's figures must equal. */
miz_replica_t *dash_recount(it_peer_t *c, const uint64_t *tracking, size_t n);
/* GETs path, which must answer 200. */
char *dash_get_ok(dash_proc_t *p, const char *path);

#endif

/* dashproc: the real miz-dashboard for the dashboard's tests, started on
 * the harness's mizd (tests/integration/harness.h) and spoken to over HTTP.
 * Every wait keeps reading the harness's peers, as the harness does. */
#ifndef MIZ_DASHPROC_H
#define MIZ_DASHPROC_H

#include "harness.h"

typedef struct dash_proc dash_proc_t;

/* The daemon's clients endpoint (the harness names only the others). */

/* Starts miz-dashboard on the daemon's table and endpoints, on a free port
 * of 127.0.0.1; returns once it serves. */
dash_proc_t *dash_start(it_daemon_t *d);
/* SIGTERM; it must exit 0 (under ASan: no leak). */
void dash_stop(dash_proc_t **p);
/* "http://127.0.0.1:PORT" */
const char *dash_url(const dash_proc_t *p);

/* GETs path; the body (malloc'd, NUL-terminated), and the status code in
 * *status. */
char *dash_get(dash_proc_t *p, const char *path, int *status);
/* GETs path, which must answer 200. */
char *dash_get_ok(dash_proc_t *p, const char *path);

#endif

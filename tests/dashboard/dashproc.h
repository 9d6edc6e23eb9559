/* dashproc: the real miz-dashboard for the dashboard's tests, started on
 * the harness's mizd (tests/integration/harness.h) and spoken to over HTTP.
 * Every wait keeps reading the harness's peers, as the harness does. */
#ifndef MIZ_DASHPROC_H
#define MIZ_DASHPROC_H

#include "harness.h"
#include "httpproc.h"
#include "stream.h"

/* The dashboard is one of httpproc's programs; the HTTP calls below are
 * httpproc's, under the names the dashboard's tests use. */
typedef hp_t dash_proc_t;

/* Starts miz-dashboard on the daemon's table and endpoints, on a free port
 * of 127.0.0.1; returns once it serves. */
dash_proc_t *dash_start(it_daemon_t *d);
/* The same with more options (a NULL-terminated list), e.g. limits. */
dash_proc_t *dash_start_with(it_daemon_t *d, const char *const *extra);
/* The broker's own status answers of the n requests, as a replica: what
 * the dashboard's figures must equal. */
miz_replica_t *dash_recount(it_peer_t *c, const uint64_t *tracking, size_t n);

static inline void dash_stop(dash_proc_t **p)
{
    hp_stop(p);
}
static inline pid_t dash_pid(const dash_proc_t *p)
{
    return hp_pid(p);
}
static inline const char *dash_url(const dash_proc_t *p)
{
    return hp_url(p);
}
static inline int dash_connect(const dash_proc_t *p, int rcvbuf)
{
    return hp_connect(p, rcvbuf);
}
static inline char *dash_request(dash_proc_t *p, const char *request, int *status)
{
    return hp_request(p, request, status);
}
static inline char *dash_get(dash_proc_t *p, const char *path, int *status)
{
    return hp_get(p, path, status);
}
static inline char *dash_get_ok(dash_proc_t *p, const char *path)
{
    return hp_get_ok(p, path);
}
static inline void dash_expect(dash_proc_t *p, const char *path, int status)
{
    hp_expect(p, path, status);
}

#endif

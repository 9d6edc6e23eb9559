/* dashproc: what starting miz-dashboard for a test takes beyond any of
 * miz's HTTP programs (httpproc.c): its arguments on the harness's mizd,
 * and the broker's own count of requests to hold its figures against. */
#include "dashproc.h"

#include <stddef.h>

#ifndef MIZ_DASHBOARD_PATH
#error "MIZ_DASHBOARD_PATH must name the miz-dashboard binary"
#endif

dash_proc_t *dash_start(it_daemon_t *d)
{
    return dash_start_with(d, (const char *const[]){NULL});
}

dash_proc_t *dash_start_with(it_daemon_t *d, const char *const *extra)
{
    const char *argv[32] = {MIZ_DASHBOARD_PATH, "-c", it_table_path(d), "--http", "127.0.0.1:0",
                            "--events", it_events_endpoint(d), "--clients", it_clients_endpoint(d)};
    for (size_t i = 0, n = 9; extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    return hp_start(d, "miz-dashboard", argv);
}

miz_replica_t *dash_recount(it_peer_t *c, const uint64_t *tracking, size_t n)
{
    miz_replica_t *r = miz_replica_new();
    assert_non_null(r);
    for (size_t i = 0; i < n; i++) {
        miz_msg_t *m = it_status(c, tracking[i]);
        assert_int_equal(miz_replica_put(r, miz_msg_root(m)), 0);
        miz_msg_destroy(&m);
    }
    return r;
}

/* test_patroni: mizd on PostgreSQL run by the real Patroni and etcd from
 * Debian, configured as docs/ha.md tells an operator (synchronous_mode on
 * and strict, pg_rewind for a node coming back), on this one machine: one
 * etcd, two Patroni nodes, every server as an unprivileged user on ports of
 * its own with its data in one temporary directory.
 *
 * Under load, the Patroni primary's node dies (Patroni and its postgres,
 * kill -9): Patroni promotes the synchronous replica once the leader key
 * expires. Strict synchronous mode then holds every commit until a
 * replica streams again, so the dead node comes back (as a machine would
 * be restarted) and rejoins as the replica. mizd, whose DSN lists both
 * nodes with target_session_attrs=read-write, follows the new primary; the
 * checker (ha_load.c) finds nothing lost and no tracking number given
 * twice. Slow by nature (Patroni's loop and ttl): a test of its own. */
#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ha_load.h"
#include "harness.h"
#include "pg_server.h"

#define TABLE "ha.yaml"
#define TOPIC "ha.load"
#define AGENCY "desk"
#define CLUSTER_MS 180000 /* for Patroni to bootstrap, fail over, rejoin: generous */
#define NODES 2

typedef struct {
    char dir[64];
    sb_guard_t *guard;
    int etcd_port, etcd_peer_port;
    pid_t etcd;
    int pg_port[NODES], rest_port[NODES];
    pid_t patroni[NODES];
    it_daemon_t *mizd;
    ha_load_t *load;
} cluster_t;

static char err[1024];

/* A node's Patroni configuration: what docs/ha.md shows, with this
 * machine's ports and directories, and a shorter ttl and loop for a test. */
static void node_config(cluster_t *x, int i, char *path, size_t len)
{
    snprintf(path, len, "%s/node%d.yml", x->dir, i);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f,
            "scope: miz\n"
            "name: node%d\n"
            "restapi:\n"
            "  listen: 127.0.0.1:%d\n"
            "  connect_address: 127.0.0.1:%d\n"
            "etcd3:\n"
            "  hosts: [\"127.0.0.1:%d\"]\n"
            "bootstrap:\n"
            "  dcs:\n"
            "    ttl: 10\n"
            "    loop_wait: 1\n"
            "    retry_timeout: 3\n"
            "    maximum_lag_on_failover: 0\n"
            "    synchronous_mode: true\n"
            "    synchronous_mode_strict: true\n"
            "    postgresql:\n"
            "      use_pg_rewind: true\n"
            "      remove_data_directory_on_rewind_failure: true\n"
            "      remove_data_directory_on_diverged_timelines: true\n"
            "      parameters:\n"
            "        max_connections: 60\n"
            "        shared_buffers: 16MB\n"
            "  initdb:\n"
            "    - encoding: UTF8\n"
            "    - locale: C\n"
            "postgresql:\n"
            "  listen: 127.0.0.1:%d\n"
            "  connect_address: 127.0.0.1:%d\n"
            "  data_dir: %s/node%d\n"
            "  bin_dir: " PG_BIN_DIR "\n"
            "  pgpass: %s/node%d.pgpass\n"
            "  authentication:\n"
            "    superuser: {username: miz, password: miz}\n"
            "    replication: {username: replicator, password: replicator}\n"
            "    rewind: {username: miz, password: miz}\n"
            "  parameters:\n"
            "    unix_socket_directories: %s\n"
            "  pg_hba:\n"
            "    - local all all trust\n"
            "    - host all all 127.0.0.1/32 trust\n"
            "    - host replication replicator 127.0.0.1/32 trust\n",
            i, x->rest_port[i], x->rest_port[i], x->etcd_port, x->pg_port[i], x->pg_port[i],
            x->dir, i, x->dir, i, x->dir);
    assert_int_equal(fclose(f), 0);
}

static void patroni_start(cluster_t *x, int i)
{
    char conf[128], log[128];
    node_config(x, i, conf, sizeof conf);
    snprintf(log, sizeof log, "%s/patroni%d.log", x->dir, i);
    char *argv[] = {"/usr/bin/patroni", conf, NULL};
    x->patroni[i] = sb_spawn(argv, NULL, log);
    assert_true(x->patroni[i] > 0);
    sb_guard_watch(x->guard, x->patroni[i]);
}

static void etcd_start(cluster_t *x)
{
    char data[96], log[96], client[64], peer[64], cluster[96];
    snprintf(data, sizeof data, "%s/etcd", x->dir);
    snprintf(log, sizeof log, "%s/etcd.log", x->dir);
    snprintf(client, sizeof client, "http://127.0.0.1:%d", x->etcd_port);
    snprintf(peer, sizeof peer, "http://127.0.0.1:%d", x->etcd_peer_port);
    snprintf(cluster, sizeof cluster, "e1=%s", peer);
    char *argv[] = {"/usr/bin/etcd", "--name", "e1", "--data-dir", data,
                    "--listen-client-urls", client, "--advertise-client-urls", client,
                    "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                    "--initial-cluster", cluster, NULL};
    x->etcd = sb_spawn(argv, NULL, log);
    assert_true(x->etcd > 0);
    sb_guard_watch(x->guard, x->etcd);
}

/* The node that accepts writes with a replica reported sync, or -1. */
static int sync_primary(cluster_t *x)
{
    for (int i = 0; i < NODES; i++) {
        char dsn[128], got[64];
        snprintf(dsn, sizeof dsn, "host=127.0.0.1 port=%d dbname=postgres user=miz "
                 "connect_timeout=2", x->pg_port[i]);
        if (pg_query(dsn, "SELECT pg_is_in_recovery()::text", got, sizeof got, err,
                     sizeof err) == 0 && strcmp(got, "false") == 0 &&
            pg_query(dsn, "SELECT string_agg(sync_state, ',') FROM pg_stat_replication", got,
                     sizeof got, err, sizeof err) == 0 && strcmp(got, "sync") == 0)
            return i;
    }
    return -1;
}

static int wait_sync_primary(cluster_t *x)
{
    for (uint64_t end = it_now_ms() + CLUSTER_MS; it_now_ms() < end;) {
        int i = sync_primary(x);
        if (i >= 0)
            return i;
        if (x->load)
            ha_load_run(x->load, 200);
        else
            nanosleep(&(struct timespec){0, 200 * 1000 * 1000}, NULL);
    }
    it_fail("no Patroni primary with a sync replica within %d ms (logs in %s)", CLUSTER_MS,
            x->dir);
    return -1;
}

/* The death of node i's machine: Patroni and its postgres, which Patroni
 * starts in a session of its own (to outlive Patroni on purpose). */
static void node_kill(cluster_t *x, int i)
{
    char path[128];
    snprintf(path, sizeof path, "%s/node%d/postmaster.pid", x->dir, i);
    FILE *f = fopen(path, "r");
    long postmaster = 0;
    if (!f || fscanf(f, "%ld", &postmaster) != 1)
        it_fail("no postmaster.pid in %s", path);
    fclose(f);
    sb_kill_session(x->patroni[i]);
    kill((pid_t)postmaster, SIGKILL);
    x->patroni[i] = 0;
}

static int cluster_setup(void **state)
{
    cluster_t *x = calloc(1, sizeof *x);
    if (!x || sb_temp_dir("miz-patroni", x->dir, sizeof x->dir) < 0 ||
        !(x->guard = sb_guard_new(x->dir)))
        return -1;
    *state = x;
    return 0;
}

static int cluster_teardown(void **state)
{
    cluster_t *x = *state;
    if (x->load)
        ha_load_destroy(&x->load);
    it_daemon_kill(&x->mizd);
    sb_guard_end(&x->guard); /* Patroni, its postgres, etcd and the directory */
    free(x);
    return 0;
}

static void test_patroni_failover(void **state)
{
    cluster_t *x = *state;
    x->etcd_port = sb_free_port();
    x->etcd_peer_port = sb_free_port();
    etcd_start(x);
    for (int i = 0; i < NODES; i++) {
        x->pg_port[i] = sb_free_port();
        x->rest_port[i] = sb_free_port();
        patroni_start(x, i);
    }
    int primary = wait_sync_primary(x);
    char dsn[512];
    pg_ports_dsn(x->pg_port, NODES, "postgres", dsn, sizeof dsn);
    if (pg_query(dsn, "CREATE DATABASE miz_ha", NULL, 0, err, sizeof err) < 0)
        fail_msg("%s", err);
    /* on the replica too: libpq tries the next host of a list when one
     * refuses the connection, not when it lacks the database */
    for (int i = 0; i < NODES; i++) {
        char node_dsn[128];
        snprintf(node_dsn, sizeof node_dsn, "host=127.0.0.1 port=%d dbname=miz_ha user=miz "
                 "connect_timeout=2", x->pg_port[i]);
        for (uint64_t end = it_now_ms() + CLUSTER_MS;
             pg_query(node_dsn, "SELECT 1", NULL, 0, err, sizeof err) < 0;) {
            if (it_now_ms() > end)
                fail_msg("%s", err);
            nanosleep(&(struct timespec){0, 50 * 1000 * 1000}, NULL);
        }
    }
    pg_ports_dsn(x->pg_port, NODES, "miz_ha", dsn, sizeof dsn);

    x->mizd = it_daemon_on(TABLE, dsn);
    if (!it_answers_ping(x->mizd))
        it_fail("mizd does not serve on Patroni's cluster");
    x->load = ha_load_new(it_clients_endpoint(x->mizd), it_workers_endpoint(x->mizd), AGENCY,
                          TOPIC);
    ha_load_run(x->load, 2000);
    uint64_t before = ha_load_accepted(x->load);
    assert_true(before > 0);

    node_kill(x, primary);
    ha_load_mark(x->load);
    uint64_t died = it_now_ms();
    /* Patroni promotes the replica once the leader key expires; strict
     * synchronous mode holds its commits until a replica streams: the dead
     * node comes back and rejoins */
    for (uint64_t end = it_now_ms() + CLUSTER_MS;;) {
        ha_load_run(x->load, 200);
        char port_dsn[128], got[16] = "";
        snprintf(port_dsn, sizeof port_dsn, "host=127.0.0.1 port=%d dbname=postgres user=miz "
                 "connect_timeout=2", x->pg_port[1 - primary]);
        if (pg_query(port_dsn, "SELECT pg_is_in_recovery()::text", got, sizeof got, err,
                     sizeof err) == 0 && strcmp(got, "false") == 0)
            break;
        if (it_now_ms() > end)
            it_fail("Patroni did not promote node%d within %d ms", 1 - primary, CLUSTER_MS);
    }
    fprintf(stderr, "Patroni promoted node%d %" PRIu64 " ms after node%d died\n", 1 - primary,
            it_now_ms() - died, primary);
    /* strict: alone, the new primary holds every commit (and mizd every
     * promise) */
    uint64_t alone = ha_load_accepted(x->load);
    ha_load_run(x->load, 1000);
    assert_int_equal(ha_load_accepted(x->load), alone);
    patroni_start(x, primary);
    uint64_t resumed = ha_load_first_accept(x->load, CLUSTER_MS);
    fprintf(stderr, "Patroni failover: %" PRIu64 " ms from node%d's death to the next accepted "
                    "(its promotion and node%d's return included)\n", resumed, primary, primary);
    assert_int_equal(wait_sync_primary(x), 1 - primary);
    ha_load_run(x->load, 2000);
    assert_true(ha_load_accepted(x->load) > before);
    ha_load_finish(x->load, 60000);
    ha_load_destroy(&x->load);
    it_daemon_end(&x->mizd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_patroni_failover, cluster_setup, cluster_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* daemon.c: starting mizd for a run, and its stores.
 *
 * Every daemon a run measures is a real mizd, forked with its endpoints
 * (ipc sockets in the run's directory, or free TCP ports) and its store on
 * the command line, never its defaults: /var/lib/miz is not the
 * benchmark's to touch. Here too what a run leaves behind is removed by
 * its exact name, the store's floor is timed alone with mizd's own store
 * code (bench_commits), and a CURVE run's keys are made. */
#define _GNU_SOURCE /* usleep, which POSIX 2008 left out */

#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"
#include "sandbox.h"
#include "store.h"
#include "wire.h"

/* ---- endpoints and the temporary directory ---- */

int endpoint(const opts_t *o, const char *dir, const char *name, char *buf, size_t len)
{
    if (!o->tcp) {
        snprintf(buf, len, "ipc://%s/%s", dir, name);
        return 0;
    }
    int port = sb_free_port(); /* mizd binds it a moment later */
    if (port < 0)
        return fail("no free TCP port: %s", strerror(errno));
    snprintf(buf, len, "tcp://127.0.0.1:%d", port);
    return 0;
}

void remove_dir(const char *dir)
{
    static const char *const names[] = {"raw",         "relay-in", "relay-out", "clients",
                                        "workers",     "events",   "clients" DAEMON_B,
                                        "workers" DAEMON_B, "events" DAEMON_B};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- mizd ---- */

/* In the child: sh runs wrap with mizd's command line after it, as
 * "$@" (--mizd-wrap 'exec taskset -c 1'). A wrapper that ends in exec
 * leaves mizd with the pid miz-bench signals and reads the CPU time of. */
static void daemon_exec_wrapped(const char *wrap, char *const *argv)
{
    static char script[4096];
    char *sh[32] = {"sh", "-c", script, "mizd-wrap"};
    size_t n = 4;
    snprintf(script, sizeof script, "%s \"$@\"", wrap);
    for (size_t i = 0; argv[i] && n < sizeof sh / sizeof sh[0] - 1; i++)
        sh[n++] = argv[i];
    sh[n] = NULL;
    execv("/bin/sh", sh);
}

/* Starts mizd on the store conf names. Its endpoints are picked at its
 * first start and kept for the next (a restart, a standby relaunched), so
 * that peers given them find it again. With disk, the store is dir/data:
 * new for each daemon unless the caller left the last one there
 * (--recovery's restart). */
int daemon_start(daemon_t *d, const opts_t *o, const char *dir, const daemon_conf_t *conf)
{
    char name[3][32];
    const char *suffix = conf->suffix ? conf->suffix : "";
    snprintf(name[0], sizeof name[0], "clients%s", suffix);
    snprintf(name[1], sizeof name[1], "workers%s", suffix);
    snprintf(name[2], sizeof name[2], "events%s", suffix);
    if (!d->clients[0] &&
        (endpoint(o, dir, name[0], d->clients, sizeof d->clients) < 0 ||
         endpoint(o, dir, name[1], d->workers, sizeof d->workers) < 0 ||
         endpoint(o, dir, name[2], d->events, sizeof d->events) < 0))
        return -1;
    if (access(o->mizd, X_OK) < 0)
        return fail("cannot run %s: %s (use --mizd PATH)", o->mizd, strerror(errno));
    snprintf(d->data, sizeof d->data, "%s%s", conf->disk ? dir : "", conf->disk ? "/data" : "");
    char *argv[] = {(char *)o->mizd, "-c",        (char *)conf->config,    "--clients",
                    d->clients,      "--workers", d->workers,              "--events",
                    d->events,       "--log-level", (char *)conf->log_level, "--memory",
                    NULL,            NULL};
    if (conf->disk)
        argv[11] = "--data-dir", argv[12] = d->data;
    else if (conf->dsn)
        argv[11] = "--store-dsn", argv[12] = (char *)conf->dsn;
    d->pid = fork();
    if (d->pid < 0)
        return fail("fork: %s", strerror(errno));
    if (d->pid == 0) {
        /* a benchmark that dies must not leave its daemon behind */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (o->mizd_wrap)
            daemon_exec_wrapped(o->mizd_wrap, argv);
        else
            execv(o->mizd, argv);
        _exit(127);
    }
    return 0;
}

int daemon_stop(daemon_t *d)
{
    int status;
    if (d->pid <= 0)
        return 0;
    pid_t gone = 0;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < STOP_TIMEOUT_S * 1000 && (gone = waitpid(d->pid, &status, WNOHANG)) == 0;
         i++)
        usleep(1000);
    if (gone == 0) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &status, 0);
        d->pid = 0;
        return fail("mizd did not stop on SIGTERM within %d s", STOP_TIMEOUT_S);
    }
    d->pid = 0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        return fail("mizd ended with %s %d", WIFEXITED(status) ? "status" : "signal",
                    WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
    return 0;
}

/* Removes a stopped daemon's store, if it had one. */
void remove_store(const char *data)
{
    static const char *const names[] = {"data.mdb", "lock.mdb", "mizd.lock"};
    char path[PATH_MAX + 16];
    if (!data[0])
        return;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (snprintf(path, sizeof path, "%s/%s", data, names[i]) < (int)sizeof path)
            unlink(path);
    }
    rmdir(data);
}

/* Asks for a status nobody has until mizd answers: any reply means it is
 * bound and reading. */
int daemon_wait(daemon_t *d, miz_client_t *c)
{
    int status;
    for (uint64_t until = now_ns() + START_TIMEOUT_MS * 1000000ULL; now_ns() < until;) {
        miz_msg_t *reply;
        if (miz_status(c, 0, 100, &reply) == 0) {
            miz_msg_destroy(&reply);
            return 0;
        }
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return fail("mizd exited at start (see its errors above)");
        }
    }
    return fail("mizd did not answer on %s within %d ms", d->clients, START_TIMEOUT_MS);
}

/* A DEALER that has sent a ping to endpoint: ZeroMQ holds it until a mizd
 * has bound there, and the DEALER retries its connection every
 * RECONNECT_MS, so the pong comes at most that late after mizd serves.
 * NULL on an error (said). */
void *ping_open(void *zctx, const char *endpoint)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int ivl = RECONNECT_MS, linger = 0, rc = 0;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    wire_pack_cstr(&pk, "type");
    wire_pack_cstr(&pk, "ping");
    wire_pack_cstr(&pk, "seq");
    msgpack_pack_uint32(&pk, 1);
    if (!s || zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) < 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(s, endpoint) < 0 || zmq_send(s, buf.data, buf.size, 0) < 0)
        rc = fail("ping %s: %s", endpoint, zmq_strerror(errno));
    msgpack_sbuffer_destroy(&buf);
    if (rc < 0 && s)
        zmq_close(s);
    return rc < 0 ? NULL : s;
}

int pong_poll(void *s, int timeout_ms, uint64_t *at)
{
    zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, timeout_ms) < 0)
        return fail("poll: %s", zmq_strerror(errno));
    if (!(item.revents & ZMQ_POLLIN))
        return 0;
    *at = now_ns();
    zmq_msg_t reply;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    zmq_msg_init(&reply);
    int got = zmq_msg_recv(&reply, s, 0);
    const msgpack_object *type =
        got < 0 || msgpack_unpack_next(&u, zmq_msg_data(&reply), zmq_msg_size(&reply), NULL) !=
                       MSGPACK_UNPACK_SUCCESS ||
                u.data.type != MSGPACK_OBJECT_MAP
            ? NULL
            : miz_map_get(&u.data, "type");
    bool pong = type && type->type == MSGPACK_OBJECT_STR && type->via.str.size == 4 &&
                memcmp(type->via.str.ptr, "pong", 4) == 0;
    msgpack_unpacked_destroy(&u);
    zmq_msg_close(&reply);
    return pong ? 1 : fail("a reply to ping that is not a pong");
}

/* The store's figures in the next `counters` mizd publishes (protocol.md
 * 8.1, once a heartbeat): how many commits it has made and how long they
 * took, as the commit thread timed them. */
int daemon_commits(void *zctx, const daemon_t *d, commit_figures_t *f)
{
    void *sub = zmq_socket(zctx, ZMQ_SUB);
    int linger = 0, rc = -1;
    if (!sub || zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_setsockopt(sub, ZMQ_SUBSCRIBE, "counters", 8) < 0 || zmq_connect(sub, d->events) < 0) {
        if (sub)
            zmq_close(sub);
        return fail("subscribe to %s: %s", d->events, zmq_strerror(errno));
    }
    zmq_pollitem_t item = {sub, 0, ZMQ_POLLIN, 0};
    zmq_msg_t part;
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    zmq_msg_init(&part);
    /* [topic][body]: the body is the second part */
    if (zmq_poll(&item, 1, COUNTERS_WAIT_MS) == 1 && zmq_msg_recv(&part, sub, 0) >= 0 &&
        zmq_msg_more(&part) && zmq_msg_recv(&part, sub, 0) >= 0 &&
        msgpack_unpack_next(&u, zmq_msg_data(&part), zmq_msg_size(&part), NULL) ==
            MSGPACK_UNPACK_SUCCESS &&
        u.data.type == MSGPACK_OBJECT_MAP) {
        const msgpack_object *store = miz_map_get(&u.data, "store");
        const msgpack_object *n = store && store->type == MSGPACK_OBJECT_MAP
                                      ? miz_map_get(store, "commits")
                                      : NULL;
        const msgpack_object *us = n ? miz_map_get(store, "commit_us") : NULL;
        if (us && n->type == MSGPACK_OBJECT_POSITIVE_INTEGER &&
            us->type == MSGPACK_OBJECT_POSITIVE_INTEGER) {
            *f = (commit_figures_t){n->via.u64, us->via.u64};
            rc = 0;
        }
    }
    if (rc < 0)
        fail("no store figures from mizd's counters in %d ms", COUNTERS_WAIT_MS);
    msgpack_unpacked_destroy(&u);
    zmq_msg_close(&part);
    zmq_close(sub);
    return rc;
}

/* The floor under a durable request: it waits for its submission's commit
 * before "accepted" and for its answer's before "outcome", two commits in
 * turn. On LMDB each is two synchronous writes (its data pages, then its
 * meta page); on PostgreSQL (dsn) one transaction sent in pipeline mode,
 * the lease's renewal first, as mizd sends it: a round trip and the WAL's
 * flush (with a synchronous standby, the standby's flush too). Timed with
 * mizd's own store code, on the file system of the disk daemon's store or
 * in a database of its own, a request's record of the size mizd writes for
 * the benchmark's. */
int bench_commits(const char *dir, const char *dsn, stats_t *st)
{
    char data[PATH_MAX + 16] = "", err[256], rec[FLOOR_RECORD];
    store_lease_t lease;
    if (!dsn)
        snprintf(data, sizeof data, "%s/floor", dir);
    store_conf_t conf = {.kind = dsn ? STORE_POSTGRES : STORE_LMDB, .dir = data, .dsn = dsn};
    store_t *s = store_open(&conf, err, sizeof err);
    uint64_t *t = malloc(2 * FLOOR_REQUESTS * sizeof *t);
    store_counters_t next = {1, 1, 1};
    int rc = !s ? fail("%s", err) : !t ? fail("out of memory") : 0;
    if (rc == 0 && store_lease_take(s, "miz-bench", FLOOR_LEASE_MS, FLOOR_LEASE_MS, &lease) != 1)
        rc = fail("store: the lease: %s", store_error(s));
    memset(rec, 'x', sizeof rec);
    uint64_t t0 = now_ns();
    double cpu0 = cpu_self();
    for (uint32_t i = 0; rc == 0 && i < 2 * FLOOR_REQUESTS; i++) {
        uint64_t begin = now_ns(), tracking = i / 2 + 1;
        store_status_t x = store_begin(s);
        if (!x) /* a submission's turn, then its answer's */
            x = i % 2 ? store_put_closed(s, tracking, begin, NULL, 0, NULL, rec, sizeof rec)
                      : store_put_open(s, tracking, NULL, rec, sizeof rec);
        if (!x)
            x = store_put_counters(s, &next);
        if (!x)
            x = store_commit(s);
        else
            store_abort(s);
        t[i] = now_ns() - begin;
        if (x)
            rc = fail("store: %s", store_write_error(s));
    }
    if (rc == 0) {
        *st = (stats_t){.count = 2 * FLOOR_REQUESTS,
                        .seconds = (double)(now_ns() - t0) / 1e9,
                        .cpu_self = cpu_self() - cpu0,
                        .latency = summarise(t, 2 * FLOOR_REQUESTS)};
        print_row("store commits, a request's two", st);
        fflush(stdout);
    }
    free(t);
    store_destroy(&s);
    remove_store(data);
    return rc;
}

int make_keys(keys_t *k, const opts_t *o, const char *dir)
{
    char err[512], line[512];
    if (miz_cert_generate(&k->server, "mizd", "", "") < 0 ||
        miz_cert_generate(&k->gateway, "bench-gateway", "gateway", "") < 0 ||
        miz_cert_generate(&k->worker, "bench-worker", "worker", AGENCY) < 0)
        return fail("cannot make CURVE keys: %s", zmq_strerror(errno));
    if (miz_cert_save(&k->server, dir, err, sizeof err) < 0)
        return fail("%s", err);
    k->gateway_curve = (miz_curve_t){k->server.public_key, k->gateway.public_key,
                                     k->gateway.secret_key};
    k->worker_curve = (miz_curve_t){k->server.public_key, k->worker.public_key,
                                    k->worker.secret_key};
    snprintf(k->config, sizeof k->config, "%s/curve.yaml", dir);
    FILE *in = fopen(o->config, "r"), *out = fopen(k->config, "w");
    if (!in || !out) {
        if (in)
            fclose(in);
        if (out)
            fclose(out);
        return fail("cannot write %s from %s: %s", k->config, o->config, strerror(errno));
    }
    while (fgets(line, sizeof line, in))
        fputs(line, out);
    fprintf(out,
            "security:\n  curve: \"on\"\n  server_cert: \"%s/mizd.key_secret\"\n  keys:\n"
            "    - {name: bench-gateway, role: gateway, public_key: \"%s\"}\n"
            "    - {name: bench-worker, role: worker, agency: %s, public_key: \"%s\"}\n",
            dir, k->gateway.public_key, AGENCY, k->worker.public_key);
    fclose(in);
    return fclose(out) == 0 ? 0 : fail("cannot write %s: %s", k->config, strerror(errno));
}

void remove_keys(const keys_t *k, const char *dir)
{
    char path[PATH_MAX + 32];
    unlink(k->config);
    snprintf(path, sizeof path, "%s/mizd.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/mizd.key_secret", dir);
    unlink(path);
}

/* recovery.c: --recovery N, a restart with many open requests.
 *
 * Issue 3 and 15 ask how long mizd takes to come back with N open requests
 * in its store and what they cost it in memory. This fills a new LMDB store
 * with N requests no worker takes, stops mizd, starts it again on the same
 * store and times it from exec to its first pong, and reads its resident
 * memory at each step (bench/README.md, "The recovery benchmark"). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <zmq.h>

#include "bench.h"

/* A process's resident memory in bytes: all of it (VmRSS), and the part
 * that is mapped files (RssFile: LMDB's pages, which the kernel may drop)
 * rather than the daemon's own heap (RssAnon). */
typedef struct {
    double total, anon, file;
} rss_t;

static rss_t rss_of(pid_t pid)
{
    char path[64], line[256];
    rss_t r = {0, 0, 0};
    unsigned long kb;
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %lu kB", &kb) == 1)
            r.total = kb * 1024.0;
        else if (sscanf(line, "RssAnon: %lu kB", &kb) == 1)
            r.anon = kb * 1024.0;
        else if (sscanf(line, "RssFile: %lu kB", &kb) == 1)
            r.file = kb * 1024.0;
    if (f)
        fclose(f);
    return r;
}

/* 1 and *i: request i was accepted; 0: nothing to count; -1: error. */
static int accepted_recv(void *ctx, uint32_t *i)
{
    mizload_t *x = ctx;
    miz_msg_t *m;
    while (miz_client_recv(x->client, 0, &m) == 0) {
        uint64_t re;
        bool has_re = miz_msg_uint(m, "re", &re) == 0;
        int rc = 0;
        if (has_re && re < x->seq0) {
            /* a late answer to the start-up probe */
        } else if (has_re && miz_msg_is(m, "accepted")) {
            /* collect() refuses an index that was never sent */
            *i = re - x->seq0 < UINT32_MAX ? (uint32_t)(re - x->seq0) : UINT32_MAX;
            rc = 1;
        } else if (miz_msg_is(m, "error")) {
            rc = reply_error(m);
        }
        miz_msg_destroy(&m);
        if (rc != 0)
            return rc;
    }
    return errno == EAGAIN ? 0 : -1;
}

/* Submits o->recovery requests, pipelined, that no worker takes: each
 * leaves one open delivery in the store. *empty: mizd's memory before. */
static int fill(void *zctx, const opts_t *o, daemon_t *d, rss_t *empty)
{
    char name[64];
    miz_client_t *c = miz_client_new(zctx, d->clients);
    int rc = c ? daemon_wait(d, c) : fail("cannot connect: %s", zmq_strerror(errno));
    if (rc == 0) {
        mizload_t x = {.client = c,
                       .submit = {.topic = TOPIC, .text = payload_text},
                       .seq0 = UINT64_MAX};
        *empty = rss_of(d->pid);
        load_t ld = {.socket = miz_client_socket(c), .send = miz_send, .recv = accepted_recv,
                     .ctx = &x, .daemon = d->pid};
        plan_t plan = {.count = o->recovery, .window = RECOVERY_WINDOW};
        samples_t s = {0};
        rc = run_load(&ld, &plan, &s);
        snprintf(name, sizeof name, "miz disk, no workers, window %d", RECOVERY_WINDOW);
        if (rc == 0) {
            stats_t st = samples_stats(&s, false);
            print_row(name, &st);
        }
        samples_free(&s);
        fflush(stdout); /* before the restarted mizd's log lines */
    }
    miz_client_destroy(&c);
    return rc;
}

/* Pings until the pong: mizd answers once it has recovered and bound. The
 * time is late by at most RECONNECT_MS (ping_open). */
static int wait_pong(void *zctx, daemon_t *d, uint64_t t0, double *seconds)
{
    int status, got = 0;
    uint64_t at;
    void *s = ping_open(zctx, d->clients);
    if (!s)
        return -1;
    while (got == 0) {
        got = pong_poll(s, 100, &at);
        if (got == 0 && waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            got = fail("mizd exited at start (see its errors above)");
        } else if (got == 0 && now_ns() - t0 > RECOVERY_TIMEOUT_S * NS_PER_S) {
            got = fail("mizd did not answer a ping within %d s", RECOVERY_TIMEOUT_S);
        }
    }
    if (got > 0)
        *seconds = (double)(at - t0) / 1e9;
    zmq_close(s);
    return got < 0 ? -1 : 0;
}

static void print_rss(const char *name, const rss_t *r, double n)
{
    printf("  %-30s VmRSS %.0f MiB = %.0f bytes per open delivery"
           " (heap %.0f MiB, files %.0f MiB)\n",
           name, r->total / 1048576, r->total / n, r->anon / 1048576, r->file / 1048576);
}

/* Fills a new store with o->recovery open requests, stops mizd, starts it
 * again on the same store and times it from exec to its first pong. */
int bench_recovery(void *zctx, const opts_t *o, const char *dir)
{
    daemon_t d = {0};
    double n = o->recovery, up = 0, stop = 0, cpu = 0;
    rss_t empty = {0, 0, 0}, full = {0, 0, 0}, back = {0, 0, 0};
    struct stat mdb = {0};
    char path[PATH_MAX + 16];
    daemon_conf_t conf = {.config = o->config, .disk = true, .log_level = "warn"};
    int rc = daemon_start(&d, o, dir, &conf);
    if (rc == 0 && (rc = fill(zctx, o, &d, &empty)) == 0)
        full = rss_of(d.pid);
    uint64_t t = now_ns();
    if (daemon_stop(&d) < 0)
        rc = -1;
    stop = (double)(now_ns() - t) / 1e9;
    snprintf(path, sizeof path, "%s/data.mdb", d.data);
    if (rc == 0 && stat(path, &mdb) < 0)
        rc = fail("%s: %s", path, strerror(errno));
    if (rc == 0) {
        /* info: mizd's own "recovered ... in X ms" line splits the figure */
        t = now_ns();
        conf.log_level = "info";
        rc = daemon_start(&d, o, dir, &conf);
        if (rc == 0 && (rc = wait_pong(zctx, &d, t, &up)) == 0) {
            back = rss_of(d.pid);
            cpu = cpu_of(d.pid);
        }
        if (daemon_stop(&d) < 0)
            rc = -1;
    }
    remove_store(d.data);
    if (rc < 0)
        return -1;
    printf("\nrecovery of %s open requests, one open delivery each\n", grouped(n, path));
    printf("  %-30s VmRSS %.0f MiB (heap %.0f MiB, files %.0f MiB)\n", "mizd empty, at start:",
           empty.total / 1048576, empty.anon / 1048576, empty.file / 1048576);
    print_rss("mizd with them open:", &full, n);
    printf("  %-30s %.2f s\n", "SIGTERM to exit:", stop);
    printf("  %-30s %.0f MiB = %.0f bytes per open delivery (%.0f MiB allocated)\n", "data.mdb:",
           (double)mdb.st_size / 1048576, (double)mdb.st_size / n,
           (double)mdb.st_blocks * 512 / 1048576);
    printf("  %-30s %.2f s (mizd CPU %.2f s)\n", "exec to pong:", up, cpu);
    print_rss("mizd after recovery:", &back, n);
    printf("\ntargets (issue 15)\n");
    snprintf(path, sizeof path, "exec to pong < %.0f s:", TARGET_RECOVERY_S);
    printf("    %-40s %.2f s -> %s\n", path, up, verdict(up < TARGET_RECOVERY_S));
    snprintf(path, sizeof path, "VmRSS <= %.0f bytes per open delivery:", TARGET_RSS_PER_OPEN);
    printf("    %-40s %.0f bytes -> %s\n", path, back.total / n,
           verdict(back.total / n <= TARGET_RSS_PER_OPEN));
    return 0;
}

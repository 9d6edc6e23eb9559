/* miz-bench: how fast is miz, and how far from its transport's ceiling?
 *
 * One run measures, on the same transport (ipc by default, or tcp):
 *   1. the ceiling: a bare ZeroMQ DEALER -> ROUTER echo round trip with a
 *      frame the size of a miz submission, pipelined and at a paced rate;
 *   2. miz end to end: a real mizd, N agency workers in threads that ack and
 *      answer every delivery, and one client that submits pipelined and
 *      counts outcomes (1, 4 and 16 workers), then the same at a paced rate;
 *      once with the state in memory and once with the durable store (and,
 *      asked, on a PostgreSQL it starts, alone or with a synchronous standby);
 * and prints one table against the targets. With --recovery N it measures
 * instead how long mizd takes to come back with N open requests on disk,
 * and what they cost it in memory; with --takeover N, how long a standby
 * mizd takes to serve after the active one is killed. bench/README.md
 * explains it.
 *
 * The benchmark shares the machine with the daemon, so it is built to cost
 * little: the client submits and receives on one socket in one thread, and
 * waits in ppoll on the socket's ZMQ_FD rather than spinning. Paced runs
 * send on an absolute schedule and measure from the scheduled time, so a
 * stall on either side counts against latency (no coordinated omission);
 * they also report latency from the actual send and the sender's own
 * lateness, so a slow timer on the machine is told apart from a slow broker.
 *
 * This file holds the options and the order of a run. The rest, one concern
 * a file: load.c (the load driver, the clock), refs.c (the raw echo and the
 * relay miz is compared with), daemon.c (mizd and its stores), miz_load.c
 * (the miz client and workers, a store mode's runs), pg.c (a local
 * PostgreSQL), recovery.c (--recovery), takeover.c (--takeover), report.c
 * (the table and the targets); bench.h what they share. */
#include <errno.h>
#include <getopt.h>
#include <linux/magic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

const store_mode_t store_modes[N_STORE_MODES] = {
    [MODE_MEMORY] = {.option = "memory", .label = "mem", .title = "memory (issues 2, 15)",
                     .target_rps = 50000, .target_p99_ratio = 1.2},
    [MODE_DISK] = {.option = "disk", .label = "disk", .title = "disk, durable (issues 3, 15)",
                   .disk = true, .target_rps = 100000, .rps_each = true},
    /* issue 6 asks for the figures beside memory's, with no target */
    [MODE_CURVE] = {.option = "curve", .label = "curve", .title = "memory over CURVE (issue 6)",
                    .curve = true},
    [MODE_PG] = {.option = "postgres", .label = "pg",
                 .title = "PostgreSQL on this machine, durable (issue 14)", .target_rps = 20000,
                 .rps_each = true, .pg = 1},
    [MODE_PG_SYNC] = {.option = "postgres-sync", .label = "pg2",
                      .title = "PostgreSQL with a synchronous standby on this machine (issue 14)",
                      .target_rps = 10000, .rps_each = true, .pg = 2},
};

/* ---- the command line ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: miz-bench [--mizd PATH] [--mizd-wrap SH] [--config FILE] [--transport ipc|tcp]\n"
            "                 [--store S[,S...]] [--count N] [--rate R] [--seconds S]\n"
            "                 [--quick] [--confirm] [--credit N]\n"
            "       miz-bench [--mizd PATH] [--config FILE] [--transport ipc|tcp]\n"
            "                 --recovery N\n"
            "       miz-bench [--mizd PATH] [--config FILE] [--transport ipc|tcp]\n"
            "                 [--store postgres|postgres-sync] [--rate R] --takeover N\n"
            "\n"
            "  --mizd PATH        the daemon to measure (default: mizd beside miz-bench)\n"
            "  --mizd-wrap SH     run mizd as sh -c 'SH \"$@\"' with its command line: to\n"
            "                     slow it, e.g. 'exec taskset -c 1' or 'echo $$ >\n"
            "                     /sys/fs/cgroup/cpu/slow/cgroup.procs && exec'; end in\n"
            "                     exec, so that mizd keeps the pid whose CPU is read\n"
            "  --config FILE      its routing table (default " MIZ_BENCH_CONFIG ")\n"
            "  --transport T      ipc (default) or tcp on 127.0.0.1\n"
            "  --store S          mizd with --memory (memory), or with a store in a new\n"
            "                     directory (disk: --data-dir), or in a PostgreSQL this\n"
            "                     starts (postgres; postgres-sync: with a synchronous\n"
            "                     standby), beside the disk store's figures; curve:\n"
            "                     --memory over CURVE. A list runs each in turn.\n"
            "                     Default: memory,disk\n"
            "  --count N          requests per pipelined run (default 200000)\n"
            "  --rate R           requests per second in the paced runs (default 5000)\n"
            "  --seconds S        length of the paced runs (default 5)\n"
            "  --quick            a short run: 20000 requests, 1 s paced\n"
            "  --confirm          workers register without \"quiet\": mizd sends an \"ok\"\n"
            "                     for every ack and answer\n"
            "  --credit N         deliveries each worker holds at once (default 64)\n"
            "  --recovery N       only this: N open requests on disk, then how long mizd\n"
            "                     takes to restart with them, and its memory after\n"
            "  --takeover N       only this: two mizd on one PostgreSQL, under load at\n"
            "                     --rate; N times the active is killed (-9), and the time\n"
            "                     to the standby's first \"accepted\" is measured\n"
            "Exits 0 when every run completed, whether or not the targets were met.\n");
}

static bool uses_disk(const opts_t *o)
{
    for (size_t i = 0; i < N_STORE_MODES; i++)
        if (o->stores & 1u << i && store_modes[i].disk)
            return true;
    return false;
}

/* A list of store modes, "disk,postgres": their bits. PostgreSQL's bring
 * the disk store along, so that its figures are printed beside LMDB's from
 * the same run (issue 14). */
static int parse_stores(const char *arg, unsigned *stores)
{
    *stores = 0;
    for (const char *p = arg; *p;) {
        size_t n = strcspn(p, ",");
        bool found = false;
        for (size_t i = 0; i < N_STORE_MODES; i++)
            if (strlen(store_modes[i].option) == n && strncmp(p, store_modes[i].option, n) == 0) {
                *stores |= 1u << i | (store_modes[i].pg ? 1u << MODE_DISK : 0);
                found = true;
            }
        if (!found)
            return fail("--store takes memory, disk, curve, postgres or postgres-sync (or a "
                        "list of them), not \"%.*s\"", (int)n, p);
        p += n + (p[n] == ',');
    }
    return *stores ? 0 : fail("--store wants a store");
}

static int parse_positive(const char *s, double max, double *v)
{
    char *end;
    errno = 0;
    *v = strtod(s, &end);
    return errno || end == s || *end || !(*v > 0) || *v > max ? -1 : 0;
}

/* mizd beside our own binary, as the build puts them. */
static char *default_mizd(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof path - 6);
    if (n <= 0)
        return "./mizd";
    path[n] = '\0';
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "mizd");
    return path;
}

static int parse_args(int argc, char **argv, opts_t *o)
{
    static const struct option options[] = {
        {"mizd", required_argument, NULL, 'm'},   {"config", required_argument, NULL, 'c'},
        {"transport", required_argument, NULL, 't'}, {"count", required_argument, NULL, 'n'},
        {"rate", required_argument, NULL, 'r'},   {"seconds", required_argument, NULL, 's'},
        {"quick", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
        {"store", required_argument, NULL, 'S'},  {"recovery", required_argument, NULL, 'R'},
        {"confirm", no_argument, NULL, 'C'},      {"mizd-wrap", required_argument, NULL, 'W'},
        {"credit", required_argument, NULL, 'k'},  {"takeover", required_argument, NULL, 'T'},
        {NULL, 0, NULL, 0},
    };
    *o = (opts_t){.mizd = default_mizd(), .config = MIZ_BENCH_CONFIG, .count = 200000,
                  .rate = 5000, .seconds = 5, .stores = 1u << MODE_MEMORY | 1u << MODE_DISK,
                  .credit = WORKER_CREDIT};
    double v;
    int c;
    bool quick = false, count_set = false, seconds_set = false;
    while ((c = getopt_long(argc, argv, "h", options, NULL)) != -1) {
        switch (c) {
        case 'm': o->mizd = optarg; break;
        case 'W': o->mizd_wrap = optarg; break;
        case 'c': o->config = optarg; break;
        case 't':
            if (strcmp(optarg, "ipc") != 0 && strcmp(optarg, "tcp") != 0)
                return fail("--transport is ipc or tcp, not \"%s\"", optarg);
            o->tcp = optarg[0] == 't';
            break;
        case 'n':
            if (parse_positive(optarg, 50e6, &v) < 0)
                return fail("--count wants 1 to 50000000");
            o->count = (uint32_t)v, count_set = true;
            break;
        case 'r':
            if (parse_positive(optarg, 1e6, &v) < 0)
                return fail("--rate wants a positive number up to 1000000");
            o->rate = v;
            break;
        case 's':
            if (parse_positive(optarg, 3600, &v) < 0)
                return fail("--seconds wants a positive number up to 3600");
            o->seconds = v, seconds_set = true;
            break;
        case 'S':
            if (parse_stores(optarg, &o->stores) < 0)
                return -1;
            break;
        case 'T':
            if (parse_positive(optarg, TAKEOVER_ROUNDS_MAX, &v) < 0)
                return fail("--takeover wants 1 to %d rounds", TAKEOVER_ROUNDS_MAX);
            o->takeover = (uint32_t)v;
            break;
        case 'R':
            if (parse_positive(optarg, 50e6, &v) < 0)
                return fail("--recovery wants 1 to 50000000");
            o->recovery = (uint32_t)v;
            break;
        case 'q': quick = true; break;
        case 'C': o->confirm = true; break;
        case 'k':
            if (parse_positive(optarg, 65535, &v) < 0)
                return fail("--credit wants 1 to 65535");
            o->credit = (uint32_t)v;
            break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); return -1;
        }
    }
    if (optind < argc) {
        usage(stderr);
        return fail("unexpected argument \"%s\"", argv[optind]);
    }
    if (quick && !count_set)
        o->count = 20000;
    if (quick && !seconds_set)
        o->seconds = 1;
    if (o->rate * o->seconds > 50e6)
        return fail("--rate times --seconds is more than 50000000 requests");
    if (o->recovery && !uses_disk(o))
        return fail("--recovery measures the disk store, not --store memory");
    if (o->recovery && o->takeover)
        return fail("--recovery and --takeover are two benchmarks: one at a time");
    return 0;
}

int main(int argc, char **argv)
{
    opts_t o;
    if (parse_args(argc, argv, &o) < 0)
        return 2;
    /* default timer slack (50 us) would blur a 200 us send schedule */
    prctl(PR_SET_TIMERSLACK, 1UL);
    char dir[] = "/tmp/miz-bench.XXXXXX";
    if (!mkdtemp(dir)) {
        fail("mkdtemp: %s", strerror(errno));
        return 1;
    }
    void *zctx = zmq_ctx_new();
    raw_bench_t raw = {0};
    stats_t raw_thr;
    plan_t raw_pipelined = {.count = o.count, .window = RAW_WINDOW};
    char name[64];
    miz_stats_t miz[N_STORE_MODES];
    unsigned long long total0, steal0, total1, steal1;
    struct statfs fs;
    cpu_steal(&total0, &steal0);
    print_header(&o);
    if (uses_disk(&o) && statfs(dir, &fs) == 0 &&
        (fs.f_type == TMPFS_MAGIC || fs.f_type == RAMFS_MAGIC))
        printf("note: %s is in memory (tmpfs), where fsync costs nothing: the disk figures are "
               "not durable ones\n", dir);
    bool alone = o.recovery || o.takeover; /* a benchmark of its own, not the table's runs */
    int rc = !zctx        ? fail("cannot create a ZeroMQ context")
             : o.recovery ? bench_recovery(zctx, &o, dir)
             : o.takeover ? bench_takeover(zctx, &o, dir)
                          : raw_open(&raw, zctx, &o, dir);
    snprintf(name, sizeof name, "raw ZeroMQ, window %d", RAW_WINDOW);
    if (rc == 0 && !alone)
        rc = measure(&raw.ld[REF_RAW], &raw_pipelined, name, &raw_thr);
    for (size_t m = 0; rc == 0 && !alone && m < N_STORE_MODES; m++)
        if (o.stores & 1u << m)
            rc = bench_miz(zctx, &o, dir, &store_modes[m], raw.ld, &miz[m]);
    raw_close(&raw);
    if (zctx)
        zmq_ctx_term(zctx);
    remove_dir(dir);
    if (rc < 0)
        return 1;
    if (!alone)
        print_targets(&o, miz);
    cpu_steal(&total1, &steal1);
    if (total1 > total0)
        printf("CPU time stolen by the hypervisor during the run: %.1f%%\n",
               100.0 * (double)(steal1 - steal0) / (double)(total1 - total0));
    return 0;
}

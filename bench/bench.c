/* miz-bench: how fast is miz, and how far from its transport's ceiling?
 *
 * One run measures, on the same transport (ipc by default, or tcp):
 *   1. the ceiling: a bare ZeroMQ DEALER -> ROUTER echo round trip with a
 *      frame the size of a miz submission, pipelined and at a paced rate;
 *   2. miz end to end: a real mizd, N agency workers in threads that ack and
 *      answer every delivery, and one client that submits pipelined and
 *      counts outcomes (1, 4 and 16 workers), then the same at a paced rate;
 *      once with the state in memory and once with the durable store;
 * and prints one table against the targets. With --recovery N it measures
 * instead how long mizd takes to come back with N open requests on disk,
 * and what they cost it in memory. bench/README.md explains it.
 *
 * The benchmark shares the machine with the daemon, so it is built to cost
 * little: the client submits and receives on one socket in one thread, and
 * waits in ppoll on the socket's ZMQ_FD rather than spinning. Paced runs
 * send on an absolute schedule and measure from the scheduled time, so a
 * stall on either side counts against latency (no coordinated omission);
 * they also report latency from the actual send and the sender's own
 * lateness, so a slow timer on the machine is told apart from a slow broker. */
#define _GNU_SOURCE /* ppoll for sub-millisecond waits; zmq_poll counts in ms */

#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/magic.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "cert.h"
#include "miz.h"
#include "store.h"

#ifndef MIZ_BENCH_CONFIG
#define MIZ_BENCH_CONFIG "bench/bench.yaml"
#endif

#define NS_PER_S 1000000000ULL
#define RAW_WINDOW 1000   /* echo round trips in flight in the pipelined run */
#define MIZ_WINDOW 2000   /* requests submitted and without an outcome yet */
#define WORKER_CREDIT 64  /* deliveries a worker holds at once, unless --credit says */
#define LATENCY_WORKERS 4 /* workers in the paced miz run */
#define PACED_ROUNDS 10   /* turns of raw and miz in a paced comparison, each */
#define FLOOR_REQUESTS 1000 /* requests of two store commits each, timed alone */
#define FLOOR_RECORD 400    /* bytes: about a benchmark request's record in the store */
#define MAX_WORKERS 16
#define STALL_NS (10 * NS_PER_S) /* no reply for this long: something is lost */
#define START_TIMEOUT_MS 5000    /* for mizd to answer and workers to register */
#define STOP_TIMEOUT_S 60        /* for mizd to exit on SIGTERM, open requests and all */
#define RECOVERY_WINDOW 4000     /* --recovery: submissions without "accepted" yet */
#define RECOVERY_TIMEOUT_S 600   /* --recovery: for the restarted mizd to answer a ping */
#define RECONNECT_MS 10          /* how often the ping retries while mizd starts */
#define TOPIC "bench.load"
#define AGENCY "bench"
#define ROUTER_HWM 100000 /* as mizd's SEND_HWM */
#define INDEX_DIGITS 8 /* the raw frame carries its request index in hex */
#define ECHO_FRAMES 3  /* the most frames a reference's echo hands back */

/* What miz's paced runs take turns with (raw_bench_t says what each is). */
enum { REF_RAW, REF_RELAY, N_REFS };
static const char *const ref_names[N_REFS] = {"raw ZeroMQ", "raw ZeroMQ via zmq_proxy"};

static const unsigned worker_counts[] = {1, 4, 16};
#define N_WORKER_COUNTS (sizeof worker_counts / sizeof worker_counts[0])

/* How mizd keeps its state, and the project's targets for each (issue 15):
 * end-to-end throughput, and miz's p99 at the paced rate against what the
 * path allows: the same path through zmq_proxy (the relay), plus, durable,
 * the two store commits a request waits for. */
typedef struct {
    const char *option; /* --store's value */
    const char *label;  /* in the rows' names */
    const char *title;  /* over its targets */
    bool disk;          /* --data-dir in a fresh directory, else --memory */
    bool curve;         /* every peer over CURVE, with keys made for the run */
    double target_rps;
    bool rps_each; /* the throughput target holds with the fewest and with the most workers,
                    * not only with the best count */
    double target_p99_ratio; /* to the relay's p99; durable: plus twice a commit's p99 */
} store_mode_t;

static const store_mode_t store_modes[] = {
    {"memory", "mem", "memory (issues 2, 15)", false, false, 50000, false, 1.2},
    {"disk", "disk", "disk, durable (issues 3, 15)", true, false, 100000, true, 1.0},
    /* issue 6 asks for the figures beside memory's, with no target */
    {"curve", "curve", "memory over CURVE (issue 6)", false, true, 0, false, 0},
};
#define N_STORE_MODES (sizeof store_modes / sizeof store_modes[0])

/* --recovery's targets (issue 15; issue 3's were 5 s and 1 KiB): back within 2 s, at most 500
 * bytes of RSS per open delivery. */
#define TARGET_RECOVERY_S 2.0
#define TARGET_RSS_PER_OPEN 500.0

/* ~150 bytes of text: with the submit envelope the frame is ~200 bytes, a
 * citizen's short complaint. */
static const char payload_text[] =
    "The street lights on Daneshjoo Boulevard have been out for three nights and the "
    "snow plough has not come; please send someone before the school run.  ";

typedef struct {
    const char *mizd, *config;
    const char *mizd_wrap; /* --mizd-wrap: shell words mizd's command line is given to */
    bool tcp;
    uint32_t count;  /* requests per pipelined run */
    double rate;     /* requests per second in the paced runs */
    double seconds;  /* length of the paced runs */
    unsigned stores; /* bit i: run store_modes[i] */
    uint32_t recovery; /* --recovery N: only the recovery benchmark, with N requests */
    bool confirm;      /* --confirm: workers not quiet */
    uint32_t credit;   /* --credit: each worker's */
} opts_t;

/* Percentiles of one set of durations, in nanoseconds. */
typedef struct {
    uint64_t p50, p90, p99, p999, max;
} dist_t;

/* What one run measured. */
typedef struct {
    uint32_t count;
    bool paced;
    double seconds;              /* first send to last reply */
    dist_t latency;              /* scheduled send (paced) or send to reply */
    dist_t from_send;            /* paced: actual send to reply */
    dist_t lag;                  /* paced: how late the sender was on its schedule */
    double cpu_self, cpu_daemon; /* CPU seconds spent meanwhile */
} stats_t;

/* What one store mode's daemon measured: pipelined per worker count, paced,
 * and the references paced in turns with it; with the disk, its store's
 * commits. */
typedef struct {
    stats_t thr[N_WORKER_COUNTS], lat, ref[N_REFS], commit;
} miz_stats_t;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static double cpu_self(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Another process's user + system time, at the kernel's tick resolution
 * (10 ms): good enough over runs of seconds. */
static double cpu_of(pid_t pid)
{
    char path[64], line[1024];
    unsigned long utime = 0, stime = 0;
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char *close_paren = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    /* after the command name: state ppid pgrp session tty tpgid flags
     * minflt cminflt majflt cmajflt utime stime */
    if (!close_paren ||
        sscanf(close_paren + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &utime,
               &stime) != 2)
        return 0;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* All CPUs' time and the part of it the hypervisor gave to other guests,
 * in ticks since boot. On a virtual machine, steal is what makes tails
 * jump from one run to the next; 0 and 0 where /proc/stat says nothing. */
static void cpu_steal(unsigned long long *total, unsigned long long *steal)
{
    unsigned long long v[8] = {0};
    FILE *f = fopen("/proc/stat", "r");
    *total = *steal = 0;
    if (!f)
        return;
    if (fscanf(f, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4],
               &v[5], &v[6], &v[7]) == 8) {
        for (int i = 0; i < 8; i++)
            *total += v[i];
        *steal = v[7];
    }
    fclose(f);
}

static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int fail(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("miz-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return -1;
}

/* Waits until the socket has input or the clock reaches until. ZMQ_FD only
 * says "look at ZMQ_EVENTS again", so the events are checked first and after
 * every wake-up. 1: input waiting; 0: time is up; -1: error. */
static int wait_input(void *socket, uint64_t until)
{
    int fd;
    size_t len = sizeof fd;
    if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) < 0)
        return -1;
    for (;;) {
        int events;
        len = sizeof events;
        if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &len) < 0)
            return -1;
        if (events & ZMQ_POLLIN)
            return 1;
        uint64_t now = now_ns();
        if (now >= until)
            return 0;
        uint64_t in = until - now;
        struct timespec ts = {(time_t)(in / NS_PER_S), (long)(in % NS_PER_S)};
        struct pollfd p = {fd, POLLIN, 0};
        if (ppoll(&p, 1, &ts, NULL) < 0 && errno != EINTR)
            return -1;
    }
}

/* ---- the load driver, shared by the raw and the miz runs ---- */

typedef struct {
    void *socket; /* where replies arrive */
    /* readies ctx for a run of count requests (may be NULL): 0 or -1 */
    int (*begin)(void *ctx, uint32_t count);
    /* sends request i (0, 1, 2, ...): 0, or -1 on error */
    int (*send)(void *ctx, uint32_t i);
    /* 1 and *i: request i is complete; 0: nothing more waiting; -1: error */
    int (*recv)(void *ctx, uint32_t *i);
    void *ctx;
    pid_t daemon; /* whose CPU time to count too, or 0 */
} load_t;

typedef struct {
    uint32_t count;
    uint32_t window; /* pipelined: at most this many in flight */
    double rate;     /* paced: requests per second (then window is unused) */
} plan_t;

static int compare_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest rank: the smallest latency at least q of the requests had. */
static uint64_t percentile(const uint64_t *sorted, size_t n, double q)
{
    double rank = q * (double)n;
    size_t r = (size_t)rank;
    if ((double)r < rank)
        r++;
    return sorted[r ? r - 1 : 0];
}

static dist_t summarise(uint64_t *v, uint32_t n)
{
    qsort(v, n, sizeof *v, compare_u64);
    return (dist_t){percentile(v, n, 0.50), percentile(v, n, 0.90), percentile(v, n, 0.99),
                    percentile(v, n, 0.999), v[n - 1]};
}

/* One request's times. */
typedef struct {
    uint64_t due;  /* when it was to be sent: paced, the schedule */
    uint64_t sent; /* when it was */
    bool done;
} slot_t;

/* Latencies and costs gathered over one or more runs of a load. */
typedef struct {
    uint64_t *latency;           /* scheduled send (paced) or send to reply, by arrival */
    uint64_t *from_send;         /* actual send to reply, by arrival */
    uint64_t *lag;               /* actual send after scheduled, by request */
    uint32_t n, cap;
    uint64_t ns;                 /* first send to last reply, summed over the runs */
    double cpu_self, cpu_daemon; /* CPU seconds spent meanwhile */
} samples_t;

static bool grow(uint64_t **v, uint32_t cap)
{
    uint64_t *p = realloc(*v, cap * sizeof *p);
    if (p)
        *v = p;
    return p != NULL;
}

static int samples_reserve(samples_t *s, uint32_t more)
{
    uint32_t cap = s->n + more;
    if (cap <= s->cap)
        return 0;
    if (!grow(&s->latency, cap) || !grow(&s->from_send, cap) || !grow(&s->lag, cap))
        return fail("out of memory for %u requests", cap);
    s->cap = cap;
    return 0;
}

static void samples_free(samples_t *s)
{
    free(s->latency);
    free(s->from_send);
    free(s->lag);
    *s = (samples_t){0};
}

/* Sorts the samples in place. */
static stats_t samples_stats(samples_t *s, bool paced)
{
    return (stats_t){.count = s->n,
                     .paced = paced,
                     .seconds = (double)s->ns / 1e9,
                     .cpu_self = s->cpu_self,
                     .cpu_daemon = s->cpu_daemon,
                     .latency = summarise(s->latency, s->n),
                     .from_send = summarise(s->from_send, s->n),
                     .lag = summarise(s->lag, s->n)};
}

/* Records every reply waiting, after the s->n samples of earlier runs. */
static int collect(const load_t *ld, uint32_t sent, slot_t *slots, samples_t *s, uint32_t *done)
{
    int rc;
    uint32_t i;
    while ((rc = ld->recv(ld->ctx, &i)) > 0) {
        if (i >= sent || slots[i].done)
            return fail("reply for request %u, which is not in flight", i);
        uint64_t now = now_ns();
        s->latency[s->n + *done] = now - slots[i].due;
        s->from_send[s->n + *done] = now - slots[i].sent;
        slots[i].done = true;
        ++*done;
    }
    return rc < 0 ? fail("receive: %s", zmq_strerror(errno)) : 0;
}

/* Sends what the plan allows now: paced, every request whose time has come;
 * pipelined, as many as the window has room for. Returns when the next one
 * is due (UINT64_MAX: on a reply), or 0 on error. */
static uint64_t send_due(const load_t *ld, const plan_t *plan, uint64_t t0, slot_t *slots,
                         uint32_t *sent, uint32_t done)
{
    uint64_t period = plan->rate > 0 ? (uint64_t)((double)NS_PER_S / plan->rate) : 0;
    for (uint64_t now = now_ns(); *sent < plan->count; ++*sent) {
        uint64_t due = period ? t0 + *sent * period : now;
        if (due > now)
            return due;
        if (!period && *sent - done >= plan->window)
            return UINT64_MAX;
        uint64_t t = now_ns(); /* pipelined: a burst's last send is later than its first */
        slots[*sent] = (slot_t){.due = period ? due : t, .sent = t};
        if (ld->send(ld->ctx, *sent) < 0) {
            fail("send: %s", zmq_strerror(errno));
            return 0;
        }
    }
    return UINT64_MAX;
}

/* Runs one plan to completion, every request sent and its reply received,
 * and adds its figures to s. */
static int run_load(const load_t *ld, const plan_t *plan, samples_t *s)
{
    uint32_t n = plan->count, sent = 0, done = 0;
    slot_t *slots = calloc(n, sizeof *slots);
    int rc = slots ? samples_reserve(s, n) : fail("out of memory for %u requests", n);
    double cpu0 = cpu_self(), dcpu0 = ld->daemon ? cpu_of(ld->daemon) : 0;
    uint64_t t0 = now_ns(), progress = t0;
    if (rc == 0 && ld->begin)
        rc = ld->begin(ld->ctx, n);
    while (rc == 0 && done < n) {
        uint64_t next_send = send_due(ld, plan, t0, slots, &sent, done);
        uint32_t before = done;
        if (next_send == 0 || collect(ld, sent, slots, s, &done) < 0) {
            rc = -1;
        } else if (done > before) {
            progress = now_ns(); /* replies may have freed window: send before waiting */
        } else if (now_ns() >= progress + STALL_NS) {
            rc = fail("no reply for %llu s with %u of %u requests done",
                      (unsigned long long)(STALL_NS / NS_PER_S), done, n);
        } else if (wait_input(ld->socket, next_send < progress + STALL_NS ? next_send
                                                                          : progress + STALL_NS) < 0) {
            rc = fail("wait: %s", zmq_strerror(errno));
        }
    }
    if (rc == 0) {
        s->ns += now_ns() - t0;
        s->cpu_self += cpu_self() - cpu0;
        s->cpu_daemon += ld->daemon ? cpu_of(ld->daemon) - dcpu0 : 0;
        for (uint32_t i = 0; i < n; i++)
            s->lag[s->n + i] = slots[i].sent - slots[i].due;
        s->n += n;
    }
    free(slots);
    return rc;
}

/* A tenth of the plan, unrecorded: the measured run then starts with warm
 * caches, grown hash tables and connected pipes. */
static int warm_up(const load_t *ld, const plan_t *plan)
{
    plan_t warm = *plan;
    samples_t ignored = {0};
    warm.count = plan->count / 10 ? plan->count / 10 : 1;
    int rc = run_load(ld, &warm, &ignored);
    samples_free(&ignored);
    return rc;
}

static plan_t paced_plan(const opts_t *o)
{
    double n = o->rate * o->seconds;
    return (plan_t){.count = n < 1 ? 1 : (uint32_t)n, .rate = o->rate};
}

/* ---- endpoints and the temporary directory ---- */

/* A port the kernel says is free now; mizd binds it a moment later. */
static int free_port(void)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof a;
    int s = socket(AF_INET, SOCK_STREAM, 0);
    if (s < 0)
        return -1;
    int port = bind(s, (struct sockaddr *)&a, sizeof a) == 0 &&
                       getsockname(s, (struct sockaddr *)&a, &len) == 0
                   ? ntohs(a.sin_port)
                   : -1;
    close(s);
    return port;
}

static int endpoint(const opts_t *o, const char *dir, const char *name, char *buf, size_t len)
{
    if (!o->tcp) {
        snprintf(buf, len, "ipc://%s/%s", dir, name);
        return 0;
    }
    int port = free_port();
    if (port < 0)
        return fail("no free TCP port: %s", strerror(errno));
    snprintf(buf, len, "tcp://127.0.0.1:%d", port);
    return 0;
}

static void remove_dir(const char *dir)
{
    static const char *const names[] = {"raw", "relay-in", "relay-out", "clients", "workers",
                                        "events"};
    char path[PATH_MAX];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        unlink(path);
    }
    rmdir(dir);
}

/* ---- the frame ---- */

static void pack_cstr(msgpack_packer *pk, const char *s)
{
    msgpack_pack_str_with_body(pk, s, strlen(s));
}

/* {type, seq, topic, payload}: the map miz_client_send_submit packs, with
 * a seq as large as most of a run's, so both runs move the same bytes. */
static void raw_frame(msgpack_sbuffer *buf)
{
    msgpack_packer pk;
    msgpack_sbuffer_init(buf);
    msgpack_packer_init(&pk, buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 4);
    pack_cstr(&pk, "type");
    pack_cstr(&pk, "submit");
    pack_cstr(&pk, "seq");
    msgpack_pack_uint32(&pk, 100000);
    pack_cstr(&pk, "topic");
    pack_cstr(&pk, TOPIC);
    pack_cstr(&pk, "payload");
    pack_cstr(&pk, payload_text);
}

/* ---- the table ---- */

/* v rounded, with thousands separators, in out[48]. */
static const char *grouped(double v, char *out)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%.0f", v), k = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
    return out;
}

/* v with thousands separators, right-aligned in width. */
static void print_num(double v, int width)
{
    char out[48];
    printf("%*s", width, grouped(v, out));
}

static double per_second(const stats_t *st)
{
    return st->seconds > 0 ? st->count / st->seconds : 0;
}

static void print_dist(const dist_t *d)
{
    const uint64_t v[] = {d->p50, d->p90, d->p99, d->p999, d->max};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        print_num((double)v[i] / 1e3, 10);
}

/* A paced run gets two more lines: its latencies counted from the actual
 * send, and the sender's own lateness, which the first line includes. */
static void print_row(const char *name, const stats_t *st)
{
    printf("%-34s", name);
    print_num(st->count, 9);
    print_num(per_second(st), 10);
    print_dist(&st->latency);
    print_num(st->cpu_self * 1e6 / st->count, 8);
    if (st->cpu_daemon > 0)
        print_num(st->cpu_daemon * 1e6 / st->count, 7);
    putchar('\n');
    if (!st->paced)
        return;
    printf("%-53s", "  counted from the actual send");
    print_dist(&st->from_send);
    printf("\n%-53s", "  the sender behind its schedule");
    print_dist(&st->lag);
    putchar('\n');
}

static void print_machine(const opts_t *o, size_t frame_size)
{
    char date[64], model[128] = "?", line[256];
    time_t t = time(NULL);
    struct utsname u;
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&t));
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    uname(&u);
    printf("miz-bench %s, %s %s, %ld CPUs (%s); transport %s, %zu-byte frames, credit %u%s%s\n",
           date, u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), model,
           o->tcp ? "tcp" : "ipc", frame_size, o->credit, o->mizd_wrap ? "; mizd wrapped: " : "",
           o->mizd_wrap ? o->mizd_wrap : "");
}

static void print_header(const opts_t *o)
{
    msgpack_sbuffer frame;
    raw_frame(&frame);
    print_machine(o, frame.size);
    msgpack_sbuffer_destroy(&frame);
    printf("\n%-34s%9s%10s%10s%10s%10s%10s%10s%8s%7s\n", "run", "count", "per s", "p50 us",
           "p90 us", "p99 us", "p99.9 us", "max us", "CPU us", "mizd");
    fflush(stdout);
}

/* Runs a plan after its warm-up and prints its row at once: a long run
 * shows its figures as they come. */
static int measure(const load_t *ld, const plan_t *plan, const char *name, stats_t *st)
{
    samples_t s = {0};
    int rc = warm_up(ld, plan) < 0 || run_load(ld, plan, &s) < 0 ? -1 : 0;
    if (rc == 0) {
        *st = samples_stats(&s, plan->rate > 0);
        print_row(name, st);
        fflush(stdout);
    }
    samples_free(&s);
    return rc;
}

/* The references and miz at the same paced rate, taking turns in
 * PACED_ROUNDS rounds each: the machine's bursts of scheduling noise then
 * fall on all alike, where runs one after the other could each catch a
 * different share. */
static int measure_paced(const load_t *refs, const load_t *miz, const plan_t *paced,
                         const char *name, stats_t *ref_st, stats_t *miz_st)
{
    const load_t *ld[N_REFS + 1];
    samples_t s[N_REFS + 1] = {{0}};
    plan_t round = *paced;
    round.count = paced->count / PACED_ROUNDS ? paced->count / PACED_ROUNDS : 1;
    int rc = 0;
    for (int i = 0; i <= N_REFS; i++) {
        ld[i] = i < N_REFS ? &refs[i] : miz;
        if (rc == 0)
            rc = warm_up(ld[i], paced);
    }
    for (int k = 0; rc == 0 && k < (N_REFS + 1) * PACED_ROUNDS; k++)
        rc = run_load(ld[k % (N_REFS + 1)], &round, &s[k % (N_REFS + 1)]);
    for (int i = 0; rc == 0 && i < N_REFS; i++) {
        char ref_name[64];
        snprintf(ref_name, sizeof ref_name, "%s, %.0f/s", ref_names[i], paced->rate);
        ref_st[i] = samples_stats(&s[i], true);
        print_row(ref_name, &ref_st[i]);
    }
    if (rc == 0) {
        *miz_st = samples_stats(&s[N_REFS], true);
        print_row(name, miz_st);
        fflush(stdout);
    }
    for (int i = 0; i <= N_REFS; i++)
        samples_free(&s[i]);
    return rc;
}

static const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

/* The p99 of a over b's; with no target, the figure alone. */
static void print_ratio(const char *name, const char *a_name, const dist_t *a, const char *b_name,
                        const dist_t *b, double target)
{
    double ratio = b->p99 ? (double)a->p99 / (double)b->p99 : 0;
    printf("    %-40s %s %.0f us / %s %.0f us = %.1f x", name, a_name, (double)a->p99 / 1e3, b_name,
           (double)b->p99 / 1e3, ratio);
    if (target > 0)
        printf(" -> %s", verdict(ratio <= target));
    putchar('\n');
}

static void print_rps(const char *name, double rps, unsigned workers, const char *how,
                      double target)
{
    printf("    %-40s %s%.0f req/s (%u worker%s) -> %s\n", name, how, rps, workers,
           workers == 1 ? "" : "s", verdict(rps >= target));
}

/* Each store mode that ran, against its own targets. */
static void print_targets(const opts_t *o, const miz_stats_t *miz)
{
    char name[64];
    printf("(latency: send, or its scheduled time when paced, to reply; CPU: microseconds of CPU\n"
           " per request in miz-bench, all threads, and in mizd)\n\ntargets\n");
    for (size_t m = 0; m < N_STORE_MODES; m++) {
        const store_mode_t *sm = &store_modes[m];
        const stats_t *thr = miz[m].thr;
        if (!(o->stores & 1u << m))
            continue;
        printf("  %s\n", sm->title);
        if (!sm->target_rps) { /* no target: the figures, beside memory's when it ran */
            for (size_t i = 0; i < N_WORKER_COUNTS; i++) {
                printf("    %2u workers: %8.0f req/s", worker_counts[i], per_second(&thr[i]));
                if (o->stores & 1u)
                    printf("   (without CURVE: %.0f req/s)", per_second(&miz[0].thr[i]));
                putchar('\n');
            }
            continue;
        }
        snprintf(name, sizeof name, "end to end >= %.0f req/s:", sm->target_rps);
        if (sm->rps_each) {
            print_rps(name, per_second(&thr[0]), worker_counts[0], "", sm->target_rps);
            print_rps("", per_second(&thr[N_WORKER_COUNTS - 1]),
                      worker_counts[N_WORKER_COUNTS - 1], "", sm->target_rps);
        } else {
            size_t best = 0;
            for (size_t i = 1; i < N_WORKER_COUNTS; i++)
                if (per_second(&thr[i]) > per_second(&thr[best]))
                    best = i;
            print_rps(name, per_second(&thr[best]), worker_counts[best], "best ",
                      sm->target_rps);
        }
        const stats_t *ref = miz[m].ref;
        const dist_t *relay = &ref[REF_RELAY].latency, *mizl = &miz[m].lat.latency;
        if (sm->disk) { /* the relay's p99, plus the two commits a request waits for */
            double commit = (double)miz[m].commit.latency.p99;
            double bound = (double)relay->p99 + 2 * commit;
            snprintf(name, sizeof name, "p99 at %.0f/s <= relay + 2 commits:", o->rate);
            printf("    %-40s miz %.0f us <= %.0f + 2 x %.0f = %.0f us -> %s\n", name,
                   (double)mizl->p99 / 1e3, (double)relay->p99 / 1e3, commit / 1e3, bound / 1e3,
                   verdict((double)mizl->p99 <= bound));
        } else {
            snprintf(name, sizeof name, "p99 at %.0f/s <= %.1f x relay:", o->rate,
                     sm->target_p99_ratio);
            print_ratio(name, "miz", mizl, "relay", relay, sm->target_p99_ratio);
        }
        printf("    %-40s miz %.0f us, relay %.0f us, raw %.0f us\n", "  p99.9 beside it:",
               (double)mizl->p999 / 1e3, (double)relay->p999 / 1e3,
               (double)ref[REF_RAW].latency.p999 / 1e3);
        print_ratio("the relay against raw ZeroMQ:", "relay", relay, "raw", &ref[REF_RAW].latency,
                    0);
        print_ratio("miz against raw ZeroMQ:", "miz", mizl, "raw", &ref[REF_RAW].latency, 0);
        if (sm->disk) {
            double floor_us = 2 * (double)miz[m].commit.latency.p50 / 1e3;
            printf("    %-40s 2 x %.0f us (p50) = %.0f us = %.1f x raw p99\n",
                   "under it, two store commits in turn:", floor_us / 2, floor_us,
                   floor_us * 1e3 / (double)ref[REF_RAW].latency.p99);
        }
    }
}

/* ---- 1. the ceiling: bare ZeroMQ ---- */

/* The raw client sends the frame of raw_frame(); the last INDEX_DIGITS
 * characters of its text carry the request index, which the echo hands back. */
typedef struct {
    void *socket;
    char *frame;
    size_t size;
} raw_t;

static void put_index(char *p, uint32_t i)
{
    for (int k = INDEX_DIGITS - 1; k >= 0; k--, i >>= 4)
        p[k] = "0123456789abcdef"[i & 15];
}

static uint32_t get_index(const char *p)
{
    uint32_t i = 0;
    for (int k = 0; k < INDEX_DIGITS; k++)
        i = i << 4 | (uint32_t)(p[k] <= '9' ? p[k] - '0' : p[k] - 'a' + 10);
    return i;
}

static int raw_send(void *ctx, uint32_t i)
{
    raw_t *r = ctx;
    put_index(r->frame + r->size - INDEX_DIGITS, i);
    return zmq_send(r->socket, r->frame, r->size, 0) < 0 ? -1 : 0;
}

static int raw_recv(void *ctx, uint32_t *i)
{
    raw_t *r = ctx;
    zmq_msg_t msg;
    zmq_msg_init(&msg);
    if (zmq_msg_recv(&msg, r->socket, ZMQ_DONTWAIT) < 0) {
        zmq_msg_close(&msg);
        return errno == EAGAIN ? 0 : -1;
    }
    size_t size = zmq_msg_size(&msg);
    if (size == r->size)
        *i = get_index((const char *)zmq_msg_data(&msg) + r->size - INDEX_DIGITS);
    zmq_msg_close(&msg);
    return size == r->size ? 1 : fail("echo of %zu bytes, sent %zu", size, r->size);
}

/* Hands every message back where it came from, all its frames, until one
 * whose last frame is empty. On a ROUTER: the bare echo gets [rid][body],
 * the relay's worker [the proxy's rid][the client's rid][body]. */
static void *echo_main(void *socket)
{
    for (bool ok = true; ok;) {
        zmq_msg_t f[ECHO_FRAMES];
        int n = 0;
        for (bool more = true; ok && more; n++) {
            zmq_msg_init(&f[n]);
            ok = zmq_msg_recv(&f[n], socket, 0) >= 0;
            more = ok && zmq_msg_more(&f[n]);
            ok = ok && (!more || n + 1 < ECHO_FRAMES);
        }
        ok = ok && zmq_msg_size(&f[n - 1]) > 0;
        for (int i = 0; ok && i < n; i++)
            ok = zmq_msg_send(&f[i], socket, i + 1 < n ? ZMQ_SNDMORE : 0) >= 0;
        for (int i = 0; i < n; i++)
            zmq_msg_close(&f[i]);
    }
    return NULL;
}

/* libzmq's own broker loop between the relay's two sockets, until its
 * context is shut down. */
static void *relay_main(void *sockets)
{
    void **s = sockets;
    zmq_proxy(s[0], s[1], NULL);
    return NULL;
}

/* The references' threads, in the order raw_close joins those that started
 * (the relay last: its worker's stop comes through it); then it closes
 * every socket. */
enum { T_ECHO, T_RELAY_WORKER, T_RELAY, N_THREADS };

/* The references miz takes turns with, open for the whole run:
 *   REF_RAW: the bare echo, client DEALER -> ROUTER, one round trip;
 *   REF_RELAY: miz's path with no broker in it, client DEALER -> zmq_proxy
 *   (ROUTER | DEALER) -> a worker's echo (ROUTER) and back, two.
 * The echo and zmq_proxy have a ZeroMQ context, and so an I/O thread, of
 * their own, as a broker in its own process has (libzmq's own latency test
 * is two processes, local_lat and remote_lat); the clients and the relay's
 * worker are in the benchmark's, as miz's clients and workers are. */
typedef struct {
    void *zctx, *ctx;
    void *echo, *relay[2], *relay_worker; /* relay: zmq_proxy's frontend and backend */
    pthread_t thread[N_THREADS];
    bool started[N_THREADS];
    void *client[N_REFS];
    msgpack_sbuffer frame;
    raw_t r[N_REFS];
    load_t ld[N_REFS];
} raw_bench_t;

/* mizd's ROUTER settings: high water marks no window reaches, a peer that
 * cannot be reached refused rather than dropped. */
static void *ref_socket(void *ctx, int type)
{
    int linger = 0, hwm = ROUTER_HWM, one = 1;
    void *s = zmq_socket(ctx, type);
    if (!s)
        return NULL;
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    if (type == ZMQ_ROUTER)
        zmq_setsockopt(s, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    return s;
}

static int ref_link(void *s, const char *ep, bool bind)
{
    if ((bind ? zmq_bind(s, ep) : zmq_connect(s, ep)) < 0)
        return fail("cannot %s %s: %s", bind ? "bind" : "connect", ep, zmq_strerror(errno));
    return 0;
}

static int raw_open(raw_bench_t *rb, void *zctx, const opts_t *o, const char *dir)
{
    char raw[PATH_MAX + 16], in[PATH_MAX + 16], out[PATH_MAX + 16];
    *rb = (raw_bench_t){.zctx = zctx};
    raw_frame(&rb->frame);
    if (endpoint(o, dir, "raw", raw, sizeof raw) < 0 || endpoint(o, dir, "relay-in", in, sizeof in) < 0 ||
        endpoint(o, dir, "relay-out", out, sizeof out) < 0)
        return -1;
    rb->ctx = zmq_ctx_new();
    if (!rb->ctx)
        return fail("cannot create a ZeroMQ context");
    rb->echo = ref_socket(rb->ctx, ZMQ_ROUTER);
    rb->relay[0] = ref_socket(rb->ctx, ZMQ_ROUTER);
    rb->relay[1] = ref_socket(rb->ctx, ZMQ_DEALER);
    rb->relay_worker = ref_socket(zctx, ZMQ_ROUTER);
    for (int i = 0; i < N_REFS; i++)
        rb->client[i] = ref_socket(zctx, ZMQ_DEALER);
    if (!rb->echo || !rb->relay[0] || !rb->relay[1] || !rb->relay_worker ||
        !rb->client[REF_RAW] || !rb->client[REF_RELAY])
        return fail("cannot create the references' sockets: %s", zmq_strerror(errno));
    if (ref_link(rb->echo, raw, true) < 0 || ref_link(rb->relay[0], in, true) < 0 ||
        ref_link(rb->relay[1], out, true) < 0 || ref_link(rb->relay_worker, out, false) < 0 ||
        ref_link(rb->client[REF_RAW], raw, false) < 0 || ref_link(rb->client[REF_RELAY], in, false) < 0)
        return -1;
    void *(*const fn[N_THREADS])(void *) = {echo_main, echo_main, relay_main};
    void *const arg[N_THREADS] = {rb->echo, rb->relay_worker, rb->relay};
    for (int t = 0; t < N_THREADS; t++) {
        if (pthread_create(&rb->thread[t], NULL, fn[t], arg[t]) != 0)
            return fail("cannot start a thread of the references");
        rb->started[t] = true;
    }
    for (int i = 0; i < N_REFS; i++) {
        rb->r[i] = (raw_t){rb->client[i], rb->frame.data, rb->frame.size};
        rb->ld[i] = (load_t){.socket = rb->client[i], .send = raw_send, .recv = raw_recv, .ctx = &rb->r[i]};
    }
    return 0;
}

static void raw_close(raw_bench_t *rb)
{
    /* an empty frame stops each echo (the relay's through the relay); if even
     * that cannot go (a socket never connected, no relay), stop waiting */
    int timeout_ms = 1000;
    for (int i = 0; i < N_REFS; i++)
        if (rb->client[i] &&
            (zmq_setsockopt(rb->client[i], ZMQ_SNDTIMEO, &timeout_ms, sizeof timeout_ms) < 0 ||
             zmq_send(rb->client[i], "", 0, 0) < 0 || (i == REF_RELAY && !rb->started[T_RELAY]))) {
            zmq_ctx_shutdown(rb->ctx);
            zmq_ctx_shutdown(rb->zctx);
        }
    for (int t = 0; t < N_THREADS; t++) {
        if (t == T_RELAY && rb->ctx)
            zmq_ctx_shutdown(rb->ctx); /* ends zmq_proxy, once the echoes have stopped */
        if (rb->started[t])
            pthread_join(rb->thread[t], NULL);
    }
    void *sockets[] = {rb->echo, rb->relay[0], rb->relay[1], rb->relay_worker,
                       rb->client[REF_RAW], rb->client[REF_RELAY]};
    for (size_t i = 0; i < sizeof sockets / sizeof *sockets; i++)
        if (sockets[i])
            zmq_close(sockets[i]);
    if (rb->ctx)
        zmq_ctx_term(rb->ctx);
    msgpack_sbuffer_destroy(&rb->frame);
}

/* ---- 2. miz end to end: the daemon ---- */

typedef struct {
    pid_t pid;
    char clients[PATH_MAX + 16], workers[PATH_MAX + 16], events[PATH_MAX + 16];
    char data[PATH_MAX]; /* the store's directory; empty with --memory */
} daemon_t;

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

/* With disk, the store is dir/data: new for each daemon unless the caller
 * left the last one there (--recovery's restart). */
static int daemon_start(daemon_t *d, const opts_t *o, const char *config, const char *dir,
                        bool disk, const char *log_level)
{
    if (endpoint(o, dir, "clients", d->clients, sizeof d->clients) < 0 ||
        endpoint(o, dir, "workers", d->workers, sizeof d->workers) < 0 ||
        endpoint(o, dir, "events", d->events, sizeof d->events) < 0)
        return -1;
    if (access(o->mizd, X_OK) < 0)
        return fail("cannot run %s: %s (use --mizd PATH)", o->mizd, strerror(errno));
    snprintf(d->data, sizeof d->data, "%s%s", disk ? dir : "", disk ? "/data" : "");
    char *argv[] = {(char *)o->mizd, "-c",        (char *)config,    "--clients",
                    d->clients,      "--workers", d->workers,        "--events",
                    d->events,       "--log-level", (char *)log_level, "--memory",
                    NULL,            NULL};
    if (disk)
        argv[11] = "--data-dir", argv[12] = d->data;
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

static int daemon_stop(daemon_t *d)
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
static void remove_store(const char *data)
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
static int daemon_wait(daemon_t *d, miz_client_t *c)
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

/* ---- agency workers ---- */

typedef struct {
    void *zctx;
    const char *endpoint;
    const miz_curve_t *curve; /* NULL: plain */
    bool confirm;             /* register without quiet: an "ok" for every ack and answer */
    uint32_t credit;          /* each worker's */
    atomic_bool stop;
    atomic_uint registered;
    atomic_bool failed;
} crew_t;

/* Acks, then answers, every delivery: the two messages a real worker sends
 * (registered quiet, as a busy one would, unless --confirm). */
static int worker_handle(miz_worker_t *w, crew_t *crew, const miz_msg_t *m)
{
    uint64_t id;
    size_t n;
    if (miz_msg_is(m, "deliver")) {
        if (miz_msg_uint(m, "delivery", &id) < 0)
            return fail("a delivery without an id");
        if (miz_worker_ack(w, id) < 0 || miz_worker_answer(w, id, "done", NULL) < 0)
            return fail("worker send: %s", zmq_strerror(errno));
        return 0;
    }
    if (miz_msg_is(m, "registered"))
        atomic_fetch_add(&crew->registered, 1);
    if (miz_msg_is(m, "error")) {
        const char *code = miz_msg_str(m, "code", &n);
        return fail("worker got error %.*s", code ? (int)n : 1, code ? code : "?");
    }
    return 0; /* with --confirm, "ok" for each ack and answer */
}

static void *worker_main(void *arg)
{
    crew_t *crew = arg;
    miz_worker_opts_t o = {
        .agency = AGENCY, .credit = crew->credit, .curve = crew->curve, .quiet = !crew->confirm};
    miz_worker_t *w = miz_worker_new(crew->zctx, crew->endpoint, &o);
    bool ok = w != NULL;
    if (!w)
        fail("cannot start a worker: %s", zmq_strerror(errno));
    while (ok && !atomic_load(&crew->stop)) {
        miz_msg_t *m;
        /* a short timeout only so that stop is noticed */
        if (miz_worker_recv(w, 100, &m) < 0) {
            if (errno != EAGAIN)
                ok = fail("worker receive: %s", zmq_strerror(errno)) == 0;
            continue;
        }
        ok = worker_handle(w, crew, m) == 0;
        miz_msg_destroy(&m);
    }
    if (!ok)
        atomic_store(&crew->failed, true);
    miz_worker_destroy(&w);
    return NULL;
}

static void crew_stop(crew_t *crew, pthread_t *threads, unsigned n)
{
    atomic_store(&crew->stop, true);
    for (unsigned i = 0; i < n; i++)
        pthread_join(threads[i], NULL);
}

/* Starts n workers and waits until the daemon has registered them all. */
static int crew_start(crew_t *crew, pthread_t *threads, unsigned n)
{
    atomic_store(&crew->stop, false);
    atomic_store(&crew->registered, 0);
    atomic_store(&crew->failed, false);
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&threads[i], NULL, worker_main, crew) != 0) {
            crew_stop(crew, threads, i);
            return fail("cannot start worker thread %u", i);
        }
    uint64_t until = now_ns() + START_TIMEOUT_MS * 1000000ULL;
    while (atomic_load(&crew->registered) < n && !atomic_load(&crew->failed) && now_ns() < until)
        usleep(1000);
    if (atomic_load(&crew->registered) == n)
        return 0;
    crew_stop(crew, threads, n);
    return fail("%u of %u workers registered", atomic_load(&crew->registered), n);
}

/* ---- the miz client ---- */

/* Outcomes carry the tracking number, not the seq: "accepted" (re = seq)
 * links the two. Both are dense within a run, so arrays do. */
typedef struct {
    miz_client_t *client;
    miz_submit_t submit;
    uint32_t count;
    uint64_t seq0;        /* the seq of request 0 */
    uint64_t track0;      /* the tracking number of the first accepted */
    bool have_track0;
    uint32_t *by_track;   /* request index by tracking - track0 */
    uint32_t cap;         /* of by_track */
} mizload_t;

static int miz_begin(void *ctx, uint32_t count)
{
    mizload_t *x = ctx;
    if (count > x->cap) {
        uint32_t *p = realloc(x->by_track, count * sizeof *p);
        if (!p)
            return fail("out of memory for %u requests", count);
        x->by_track = p;
        x->cap = count;
    }
    memset(x->by_track, 0xff, count * sizeof *x->by_track);
    x->count = count;
    x->have_track0 = false;
    x->seq0 = UINT64_MAX; /* until request 0 is sent, every reply is stale */
    return 0;
}

static int miz_send(void *ctx, uint32_t i)
{
    mizload_t *x = ctx;
    uint64_t seq;
    if (miz_client_send_submit(x->client, &x->submit, &seq) < 0)
        return -1;
    if (i == 0)
        x->seq0 = seq;
    return 0;
}

/* The slot of a tracking number in by_track, or NULL if it is not this run's. */
static uint32_t *track_slot(mizload_t *x, const miz_msg_t *m)
{
    uint64_t tracking;
    if (miz_msg_uint(m, "tracking", &tracking) < 0 || !x->have_track0 ||
        tracking - x->track0 >= x->count)
        return NULL;
    return &x->by_track[tracking - x->track0];
}

static int reply_error(const miz_msg_t *m)
{
    size_t n = 0, k = 0;
    const char *code = miz_msg_str(m, "code", &n), *msg = miz_msg_str(m, "message", &k);
    return fail("mizd replied error %.*s: %.*s", (int)n, code ? code : "", (int)k, msg ? msg : "");
}

/* 1 and *i: the outcome of request i; 0: nothing to count; -1: error. */
static int miz_reply(mizload_t *x, const miz_msg_t *m, uint32_t *i)
{
    uint64_t re, tracking;
    bool has_re = miz_msg_uint(m, "re", &re) == 0;
    if (has_re && re < x->seq0)
        return 0; /* a late answer to the start-up probe */
    if (miz_msg_is(m, "accepted")) {
        if (!has_re || re - x->seq0 >= x->count || miz_msg_uint(m, "tracking", &tracking) < 0)
            return fail("\"accepted\" for no request of this run");
        if (!x->have_track0) /* replies come in order: the first is the lowest */
            x->track0 = tracking, x->have_track0 = true;
        uint32_t *slot = track_slot(x, m);
        if (!slot)
            return fail("tracking %llu out of this run's range", (unsigned long long)tracking);
        *slot = (uint32_t)(re - x->seq0);
        return 0;
    }
    if (miz_msg_is(m, "outcome")) {
        uint32_t *slot = track_slot(x, m);
        if (!slot || *slot == UINT32_MAX)
            return fail("outcome for a request never accepted");
        *i = *slot;
        *slot = UINT32_MAX;
        return 1;
    }
    return miz_msg_is(m, "error") ? reply_error(m) : 0;
}

static int miz_recv(void *ctx, uint32_t *i)
{
    mizload_t *x = ctx;
    miz_msg_t *m;
    while (miz_client_recv(x->client, 0, &m) == 0) {
        int rc = miz_reply(x, m, i);
        miz_msg_destroy(&m);
        if (rc != 0)
            return rc;
    }
    return errno == EAGAIN ? 0 : -1;
}

/* One run with n workers: they start, the load runs, they say goodbye. A
 * paced run takes turns with the references' (into ref_st[]). */
static int miz_with_workers(const load_t *ld, crew_t *crew, const char *label, unsigned n,
                            const plan_t *plan, stats_t *st, const load_t *refs, stats_t *ref_st)
{
    char name[64];
    pthread_t threads[MAX_WORKERS];
    if (n > MAX_WORKERS)
        return fail("at most %d workers", MAX_WORKERS);
    if (crew_start(crew, threads, n) < 0)
        return -1;
    if (plan->rate > 0)
        snprintf(name, sizeof name, "miz %s, %2u worker%s, %.0f/s", label, n, n == 1 ? "" : "s",
                 plan->rate);
    else
        snprintf(name, sizeof name, "miz %s, %2u worker%s, window %u", label, n,
                 n == 1 ? "" : "s", plan->window);
    int rc = plan->rate > 0 ? measure_paced(refs, ld, plan, name, ref_st, st)
                            : measure(ld, plan, name, st);
    crew_stop(crew, threads, n);
    if (rc == 0 && atomic_load(&crew->failed))
        rc = fail("a worker failed");
    return rc;
}

/* The floor under a durable request: it waits for its submission's commit
 * before "accepted" and for its answer's before "outcome", two commits in
 * turn, each two synchronous writes (LMDB's data pages, then its meta page).
 * Timed with mizd's own store code, on the file system of the disk daemon's
 * store, a request's record of the size mizd writes for the benchmark's. */
static int bench_commits(const char *dir, stats_t *st)
{
    char data[PATH_MAX + 16], err[256], rec[FLOOR_RECORD];
    snprintf(data, sizeof data, "%s/floor", dir);
    store_t *s = store_open(&(store_conf_t){.kind = STORE_LMDB, .dir = data}, err, sizeof err);
    uint64_t *t = malloc(2 * FLOOR_REQUESTS * sizeof *t);
    store_counters_t next = {1, 1, 1};
    int rc = !s ? fail("%s", err) : !t ? fail("out of memory") : 0;
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

/* Keys for a CURVE run: the broker's, a gateway's, a worker's, and the
 * benchmark's table with a security section naming them (in dir). */
typedef struct {
    miz_cert_t server, gateway, worker;
    miz_curve_t gateway_curve, worker_curve;
    char config[PATH_MAX + 16];
} keys_t;

static int make_keys(keys_t *k, const opts_t *o, const char *dir)
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

static void remove_keys(const keys_t *k, const char *dir)
{
    char path[PATH_MAX + 32];
    unlink(k->config);
    snprintf(path, sizeof path, "%s/mizd.key", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/mizd.key_secret", dir);
    unlink(path);
}

static int bench_miz(void *zctx, const opts_t *o, const char *dir, const store_mode_t *sm,
                     const load_t *refs, miz_stats_t *st)
{
    daemon_t d = {0};
    keys_t keys;
    if (sm->curve && make_keys(&keys, o, dir) < 0)
        return -1;
    if (sm->disk && bench_commits(dir, &st->commit) < 0)
        return -1;
    if (daemon_start(&d, o, sm->curve ? keys.config : o->config, dir, sm->disk, "warn") < 0)
        return -1;
    miz_client_t *c = miz_client_new_curve(zctx, d.clients, sm->curve ? &keys.gateway_curve : NULL);
    int rc = c ? daemon_wait(&d, c) : fail("cannot connect: %s", zmq_strerror(errno));
    if (rc == 0) {
        mizload_t x = {.client = c, .submit = {.topic = TOPIC, .text = payload_text}};
        load_t ld = {.socket = miz_client_socket(c), .begin = miz_begin, .send = miz_send,
                     .recv = miz_recv, .ctx = &x, .daemon = d.pid};
        crew_t crew = {.zctx = zctx, .endpoint = d.workers,
                       .curve = sm->curve ? &keys.worker_curve : NULL, .confirm = o->confirm,
                       .credit = o->credit};
        plan_t pipelined = {.count = o->count, .window = MIZ_WINDOW}, paced = paced_plan(o);
        for (size_t i = 0; rc == 0 && i < N_WORKER_COUNTS; i++)
            rc = miz_with_workers(&ld, &crew, sm->label, worker_counts[i], &pipelined,
                                  &st->thr[i], NULL, NULL);
        if (rc == 0)
            rc = miz_with_workers(&ld, &crew, sm->label, LATENCY_WORKERS, &paced, &st->lat, refs,
                                  st->ref);
        free(x.by_track);
    }
    miz_client_destroy(&c);
    if (daemon_stop(&d) < 0)
        rc = -1;
    remove_store(d.data);
    if (sm->curve)
        remove_keys(&keys, dir);
    return rc;
}

/* ---- 3. recovery: a restart with many open requests ---- */

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
 * DEALER holds the ping until mizd's socket exists and retries the
 * connection every RECONNECT_MS, so the time is late by at most that. */
static int wait_pong(void *zctx, daemon_t *d, uint64_t t0, double *seconds)
{
    void *s = zmq_socket(zctx, ZMQ_DEALER);
    int ivl = RECONNECT_MS, linger = 0, status, rc = 1;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    pack_cstr(&pk, "type");
    pack_cstr(&pk, "ping");
    pack_cstr(&pk, "seq");
    msgpack_pack_uint32(&pk, 1);
    if (!s || zmq_setsockopt(s, ZMQ_RECONNECT_IVL, &ivl, sizeof ivl) < 0 ||
        zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger) < 0 ||
        zmq_connect(s, d->clients) < 0 || zmq_send(s, buf.data, buf.size, 0) < 0)
        rc = fail("ping %s: %s", d->clients, zmq_strerror(errno));
    while (rc > 0) {
        zmq_pollitem_t item = {s, 0, ZMQ_POLLIN, 0};
        zmq_msg_t reply;
        if (zmq_poll(&item, 1, 100) < 0) {
            rc = fail("poll: %s", zmq_strerror(errno));
        } else if (item.revents & ZMQ_POLLIN) {
            uint64_t at = now_ns();
            msgpack_unpacked u;
            msgpack_unpacked_init(&u);
            zmq_msg_init(&reply);
            int got = zmq_msg_recv(&reply, s, 0);
            const msgpack_object *type =
                got < 0 || msgpack_unpack_next(&u, zmq_msg_data(&reply), zmq_msg_size(&reply),
                                               NULL) != MSGPACK_UNPACK_SUCCESS ||
                        u.data.type != MSGPACK_OBJECT_MAP
                    ? NULL
                    : miz_map_get(&u.data, "type");
            bool pong = type && type->type == MSGPACK_OBJECT_STR && type->via.str.size == 4 &&
                        memcmp(type->via.str.ptr, "pong", 4) == 0;
            rc = pong ? 0 : fail("a reply to ping that is not a pong");
            *seconds = (double)(at - t0) / 1e9;
            msgpack_unpacked_destroy(&u);
            zmq_msg_close(&reply);
        } else if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            rc = fail("mizd exited at start (see its errors above)");
        } else if (now_ns() - t0 > RECOVERY_TIMEOUT_S * NS_PER_S) {
            rc = fail("mizd did not answer a ping within %d s", RECOVERY_TIMEOUT_S);
        }
    }
    if (s)
        zmq_close(s);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

static void print_rss(const char *name, const rss_t *r, double n)
{
    printf("  %-30s VmRSS %.0f MiB = %.0f bytes per open delivery"
           " (heap %.0f MiB, files %.0f MiB)\n",
           name, r->total / 1048576, r->total / n, r->anon / 1048576, r->file / 1048576);
}

/* Fills a new store with o->recovery open requests, stops mizd, starts it
 * again on the same store and times it from exec to its first pong. */
static int bench_recovery(void *zctx, const opts_t *o, const char *dir)
{
    daemon_t d = {0};
    double n = o->recovery, up = 0, stop = 0, cpu = 0;
    rss_t empty = {0, 0, 0}, full = {0, 0, 0}, back = {0, 0, 0};
    struct stat mdb = {0};
    char path[PATH_MAX + 16];
    int rc = daemon_start(&d, o, o->config, dir, true, "warn");
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
        rc = daemon_start(&d, o, o->config, dir, true, "info");
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

/* ---- the command line ---- */

static void usage(FILE *out)
{
    fprintf(out,
            "usage: miz-bench [--mizd PATH] [--mizd-wrap SH] [--config FILE] [--transport ipc|tcp]\n"
            "                 [--store memory|disk] [--count N] [--rate R] [--seconds S]\n"
            "                 [--quick] [--confirm] [--credit N]\n"
            "       miz-bench [--mizd PATH] [--config FILE] [--transport ipc|tcp]\n"
            "                 --recovery N\n"
            "\n"
            "  --mizd PATH        the daemon to measure (default: mizd beside miz-bench)\n"
            "  --mizd-wrap SH     run mizd as sh -c 'SH \"$@\"' with its command line: to\n"
            "                     slow it, e.g. 'exec taskset -c 1' or 'echo $$ >\n"
            "                     /sys/fs/cgroup/cpu/slow/cgroup.procs && exec'; end in\n"
            "                     exec, so that mizd keeps the pid whose CPU is read\n"
            "  --config FILE      its routing table (default " MIZ_BENCH_CONFIG ")\n"
            "  --transport T      ipc (default) or tcp on 127.0.0.1\n"
            "  --store S          mizd with --memory, or with a store in a new directory\n"
            "                     (--data-dir); default: both, one after the other\n"
            "  --count N          requests per pipelined run (default 200000)\n"
            "  --rate R           requests per second in the paced runs (default 5000)\n"
            "  --seconds S        length of the paced runs (default 5)\n"
            "  --quick            a short run: 20000 requests, 1 s paced\n"
            "  --confirm          workers register without \"quiet\": mizd sends an \"ok\"\n"
            "                     for every ack and answer\n"
            "  --credit N         deliveries each worker holds at once (default 64)\n"
            "  --recovery N       only this: N open requests on disk, then how long mizd\n"
            "                     takes to restart with them, and its memory after\n"
            "Exits 0 when every run completed, whether or not the targets were met.\n");
}

static bool uses_disk(const opts_t *o)
{
    for (size_t i = 0; i < N_STORE_MODES; i++)
        if (o->stores & 1u << i && store_modes[i].disk)
            return true;
    return false;
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
        {"credit", required_argument, NULL, 'k'},
        {NULL, 0, NULL, 0},
    };
    *o = (opts_t){.mizd = default_mizd(), .config = MIZ_BENCH_CONFIG, .count = 200000,
                  .rate = 5000, .seconds = 5, .stores = 1u << 0 | 1u << 1,
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
            o->stores = 0;
            for (size_t i = 0; i < N_STORE_MODES; i++)
                if (strcmp(optarg, store_modes[i].option) == 0)
                    o->stores = 1u << i;
            if (!o->stores)
                return fail("--store is memory, disk or curve, not \"%s\"", optarg);
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
    int rc = !zctx        ? fail("cannot create a ZeroMQ context")
             : o.recovery ? bench_recovery(zctx, &o, dir)
                          : raw_open(&raw, zctx, &o, dir);
    snprintf(name, sizeof name, "raw ZeroMQ, window %d", RAW_WINDOW);
    if (rc == 0 && !o.recovery)
        rc = measure(&raw.ld[REF_RAW], &raw_pipelined, name, &raw_thr);
    for (size_t m = 0; rc == 0 && !o.recovery && m < N_STORE_MODES; m++)
        if (o.stores & 1u << m)
            rc = bench_miz(zctx, &o, dir, &store_modes[m], raw.ld, &miz[m]);
    raw_close(&raw);
    if (zctx)
        zmq_ctx_term(zctx);
    remove_dir(dir);
    if (rc < 0)
        return 1;
    if (!o.recovery)
        print_targets(&o, miz);
    cpu_steal(&total1, &steal1);
    if (total1 > total0)
        printf("CPU time stolen by the hypervisor during the run: %.1f%%\n",
               100.0 * (double)(steal1 - steal0) / (double)(total1 - total0));
    return 0;
}

/* load.c: the load driver that every run of miz-bench goes through.
 *
 * The raw echo, the relay and miz are all measured by the same loop, so
 * that their figures differ only by what sits behind the socket: each
 * supplies send and recv callbacks (load_t), and run_load sends on a plan
 * (pipelined in a window, or paced on an absolute schedule, measured from
 * the scheduled time so that no stall is left out), records every
 * latency and the CPU time spent meanwhile, and waits in ppoll on the
 * socket's ZMQ_FD rather than spinning, so that the benchmark leaves the
 * machine to the daemon. The clock and the CPU counters live here too. */
#define _GNU_SOURCE /* ppoll for sub-millisecond waits; zmq_poll counts in ms */

#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bench.h"

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

double cpu_self(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* What /proc/PID/stat says of a process's parent and CPU time, in ticks:
 * its own (utime, stime) and its reaped children's (cutime, cstime). 0, or
 * -1 when the process is gone. */
typedef struct {
    long ppid;
    unsigned long utime, stime, cutime, cstime;
} proc_stat_t;

static int proc_stat(pid_t pid, proc_stat_t *p)
{
    char path[64], line[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char *close_paren = fgets(line, sizeof line, f) ? strrchr(line, ')') : NULL;
    fclose(f);
    /* after the command name: state ppid pgrp session tty tpgid flags
     * minflt cminflt majflt cmajflt utime stime cutime cstime */
    return close_paren && sscanf(close_paren + 2,
                                 "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %lu %lu",
                                 &p->ppid, &p->utime, &p->stime, &p->cutime, &p->cstime) == 5
               ? 0
               : -1;
}

/* Another process's user + system time, at the kernel's tick resolution
 * (10 ms): good enough over runs of seconds. */
double cpu_of(pid_t pid)
{
    proc_stat_t p;
    if (proc_stat(pid, &p) < 0)
        return 0;
    return (double)(p.utime + p.stime) / (double)sysconf(_SC_CLK_TCK);
}

/* The same for a process and all its children: those it reaped, and those
 * running, found by their parent in /proc. A postmaster's backends, WAL
 * writer and walsender are its children; short-lived ones (autovacuum
 * workers) are in its reaped children's time once they end. */
double cpu_tree(pid_t pid)
{
    proc_stat_t p;
    if (pid <= 0 || proc_stat(pid, &p) < 0)
        return 0;
    unsigned long ticks = p.utime + p.stime + p.cutime + p.cstime;
    DIR *proc = opendir("/proc");
    for (struct dirent *e; proc && (e = readdir(proc));) {
        proc_stat_t c;
        pid_t child = (pid_t)atoi(e->d_name);
        if (child > 0 && proc_stat(child, &c) == 0 && c.ppid == pid)
            ticks += c.utime + c.stime;
    }
    if (proc)
        closedir(proc);
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

/* All CPUs' time and the part of it the hypervisor gave to other guests,
 * in ticks since boot. On a virtual machine, steal is what makes tails
 * jump from one run to the next; 0 and 0 where /proc/stat says nothing. */
void cpu_steal(unsigned long long *total, unsigned long long *steal)
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

int fail(const char *fmt, ...)
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

/* ---- the load driver ---- */

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

dist_t summarise(uint64_t *v, uint32_t n)
{
    qsort(v, n, sizeof *v, compare_u64);
    return (dist_t){percentile(v, n, 0.50), percentile(v, n, 0.90), percentile(v, n, 0.99),
                    percentile(v, n, 0.999), v[n - 1]};
}

/* One request's times. */
typedef struct {
    uint64_t due;  /* when it was to be sent: paced, the schedule */
    uint64_t sent; /* when it was */
    uint64_t receipt; /* when its receipt came, or 0 */
    bool done;
} slot_t;

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
    if (!grow(&s->latency, cap) || !grow(&s->from_send, cap) || !grow(&s->lag, cap) ||
        !grow(&s->receipt, cap))
        return fail("out of memory for %u requests", cap);
    s->cap = cap;
    return 0;
}

void samples_free(samples_t *s)
{
    free(s->latency);
    free(s->from_send);
    free(s->lag);
    free(s->receipt);
    *s = (samples_t){0};
}

/* Sorts the samples in place. */
stats_t samples_stats(samples_t *s, bool paced)
{
    return (stats_t){.count = s->n,
                     .paced = paced,
                     .seconds = (double)s->ns / 1e9,
                     .cpu_self = s->cpu_self,
                     .cpu_daemon = s->cpu_daemon,
                     .cpu_store = s->cpu_store,
                     .latency = summarise(s->latency, s->n),
                     .from_send = summarise(s->from_send, s->n),
                     .lag = summarise(s->lag, s->n),
                     .receipt = s->n_receipts ? summarise(s->receipt, s->n_receipts) : (dist_t){0},
                     .n_receipts = s->n_receipts};
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
        if (rc == 2) {
            slots[i].receipt = now;
            continue;
        }
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

/* The CPU time of the load's store servers (0 when it has none). */
static double store_cpu(const load_t *ld)
{
    double t = 0;
    for (size_t i = 0; i < sizeof ld->store / sizeof *ld->store; i++)
        t += cpu_tree(ld->store[i]);
    return t;
}

/* Runs one plan to completion, every request sent and its reply received,
 * and adds its figures to s. */
int run_load(const load_t *ld, const plan_t *plan, samples_t *s)
{
    uint32_t n = plan->count, sent = 0, done = 0;
    slot_t *slots = calloc(n, sizeof *slots);
    int rc = slots ? samples_reserve(s, n) : fail("out of memory for %u requests", n);
    double cpu0 = cpu_self(), dcpu0 = ld->daemon ? cpu_of(ld->daemon) : 0,
           scpu0 = store_cpu(ld);
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
        s->cpu_store += store_cpu(ld) - scpu0;
        for (uint32_t i = 0; i < n; i++) {
            s->lag[s->n + i] = slots[i].sent - slots[i].due;
            if (slots[i].receipt)
                s->receipt[s->n_receipts++] = slots[i].receipt - slots[i].due;
        }
        s->n += n;
    }
    free(slots);
    return rc;
}

/* A tenth of the plan, unrecorded: the measured run then starts with warm
 * caches, grown hash tables and connected pipes. */
int warm_up(const load_t *ld, const plan_t *plan)
{
    plan_t warm = *plan;
    samples_t ignored = {0};
    warm.count = plan->count / 10 ? plan->count / 10 : 1;
    int rc = run_load(ld, &warm, &ignored);
    samples_free(&ignored);
    return rc;
}

plan_t paced_plan(const opts_t *o)
{
    double n = o->rate * o->seconds;
    return (plan_t){.count = n < 1 ? 1 : (uint32_t)n, .rate = o->rate};
}

/* Runs a plan after its warm-up and prints its row at once: a long run
 * shows its figures as they come. */
int measure(const load_t *ld, const plan_t *plan, const char *name, stats_t *st)
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

/* bench.h: what the files of miz-bench share.
 *
 * miz-bench is one program in several files, one concern each (main.c says
 * which); this header holds the types that cross them (the options, a run's
 * figures, the load driver's callbacks, a daemon started for a run) and the
 * functions one file offers the others. Everything else stays static in its
 * file. */
#ifndef MIZ_BENCH_H
#define MIZ_BENCH_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <limits.h>
#include <pthread.h>
#include <sys/types.h>

#include "cert.h"
#include "miz.h"

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
#define FLOOR_LEASE_MS 2000 /* the lease those commits renew on PostgreSQL, as mizd's default */
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

#define N_WORKER_COUNTS 3
extern const unsigned worker_counts[N_WORKER_COUNTS]; /* 1, 4, 16 */

/* How mizd keeps its state, and the project's targets for each (issue 15):
 * end-to-end throughput, and miz's p99 at the paced rate against what the
 * path allows: the same path through zmq_proxy (the relay), plus, durable,
 * the two store commits a request waits for. On PostgreSQL (issue 14) the
 * target is throughput only; its latency is printed beside the disk's. */
typedef struct {
    const char *option; /* --store's value */
    const char *label;  /* in the rows' names */
    const char *title;  /* over its targets */
    bool disk;          /* --data-dir in a fresh directory, else --memory */
    bool curve;         /* every peer over CURVE, with keys made for the run */
    double target_rps;
    bool rps_each; /* the throughput target holds with the fewest and with the most workers,
                    * not only with the best count */
    double target_p99_ratio; /* in memory, to the relay's p99 (durable: relay + 2 commits) */
    int pg; /* PostgreSQL (--store-dsn) started for it: 0 none, 1 alone, 2 with a synchronous
             * standby; it runs beside the disk store, in the same run (issue 14) */
} store_mode_t;

enum { MODE_MEMORY, MODE_DISK, MODE_CURVE, MODE_PG, MODE_PG_SYNC, N_STORE_MODES };
extern const store_mode_t store_modes[N_STORE_MODES];

/* --recovery's targets (issue 15; issue 3's were 5 s and 1 KiB): back within 2 s, at most 500
 * bytes of RSS per open delivery. */
#define TARGET_RECOVERY_S 2.0
#define TARGET_RSS_PER_OPEN 500.0

/* ~150 bytes of text: with the submit envelope the frame is ~200 bytes, a
 * citizen's short complaint. */
extern const char payload_text[];

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
    uint32_t takeover; /* --takeover N: only the takeover benchmark, N kills */
} opts_t;

#define TAKEOVER_ROUNDS_MAX 100

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
    dist_t receipt;              /* paced, miz: scheduled send to "accepted" */
    uint32_t n_receipts;         /* 0: the load has no receipts */
    double cpu_self, cpu_daemon; /* CPU seconds spent meanwhile */
    double cpu_store;            /* by the PostgreSQL servers, if any */
} stats_t;

/* What one store mode's daemon measured: pipelined per worker count, paced,
 * and the references paced in turns with it; with the disk, its store's
 * commits. */
typedef struct {
    stats_t thr[N_WORKER_COUNTS], lat, ref[N_REFS], commit;
} miz_stats_t;

/* ---- load.c: the clock, CPU time, the load driver ---- */

typedef struct {
    void *socket; /* where replies arrive */
    /* readies ctx for a run of count requests (may be NULL): 0 or -1 */
    int (*begin)(void *ctx, uint32_t count);
    /* sends request i (0, 1, 2, ...): 0, or -1 on error */
    int (*send)(void *ctx, uint32_t i);
    /* 1 and *i: request i is complete; 2 and *i: its receipt came (a
     * durable one, before it completes); 0: nothing more waiting; -1: error */
    int (*recv)(void *ctx, uint32_t *i);
    void *ctx;
    pid_t daemon;   /* whose CPU time to count too, or 0 */
    pid_t store[2]; /* postmasters whose CPU time, with their children's, to count, or 0 */
} load_t;

typedef struct {
    uint32_t count;
    uint32_t window; /* pipelined: at most this many in flight */
    double rate;     /* paced: requests per second (then window is unused) */
} plan_t;

/* Latencies and costs gathered over one or more runs of a load. */
typedef struct {
    uint64_t *latency;           /* scheduled send (paced) or send to reply, by arrival */
    uint64_t *from_send;         /* actual send to reply, by arrival */
    uint64_t *lag;               /* actual send after scheduled, by request */
    uint64_t *receipt;           /* scheduled send to receipt, of those with one */
    uint32_t n, cap, n_receipts;
    uint64_t ns;                 /* first send to last reply, summed over the runs */
    double cpu_self, cpu_daemon; /* CPU seconds spent meanwhile */
    double cpu_store;            /* by the PostgreSQL servers, if any */
} samples_t;

uint64_t now_ns(void);
double cpu_self(void);
double cpu_of(pid_t pid);
double cpu_tree(pid_t pid); /* with its children's, reaped and running */
void cpu_steal(unsigned long long *total, unsigned long long *steal);
int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sorts v. */
dist_t summarise(uint64_t *v, uint32_t n);
void samples_free(samples_t *s);
stats_t samples_stats(samples_t *s, bool paced);
int run_load(const load_t *ld, const plan_t *plan, samples_t *s);
int warm_up(const load_t *ld, const plan_t *plan);
plan_t paced_plan(const opts_t *o);
int measure(const load_t *ld, const plan_t *plan, const char *name, stats_t *st);

/* ---- refs.c: the frame, and the references miz is compared with ---- */

/* The raw client sends the frame of raw_frame(); the last INDEX_DIGITS
 * characters of its text carry the request index, which the echo hands back. */
typedef struct {
    void *socket;
    char *frame;
    size_t size;
} raw_t;

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

void raw_frame(msgpack_sbuffer *buf);
int raw_open(raw_bench_t *rb, void *zctx, const opts_t *o, const char *dir);
void raw_close(raw_bench_t *rb);
int measure_paced(const load_t *refs, const load_t *miz, const plan_t *paced, const char *name,
                  stats_t *ref_st, stats_t *miz_st);

/* ---- daemon.c: endpoints, mizd, its stores ---- */

typedef struct {
    pid_t pid;
    char clients[PATH_MAX + 16], workers[PATH_MAX + 16], events[PATH_MAX + 16];
    char data[PATH_MAX]; /* the store's directory; empty with --memory */
} daemon_t;

/* Keys for a CURVE run: the broker's, a gateway's, a worker's, and the
 * benchmark's table with a security section naming them (in dir). */
typedef struct {
    miz_cert_t server, gateway, worker;
    miz_curve_t gateway_curve, worker_curve;
    char config[PATH_MAX + 16];
} keys_t;

int endpoint(const opts_t *o, const char *dir, const char *name, char *buf, size_t len);
void remove_dir(const char *dir);
/* What a mizd is started with. */
typedef struct {
    const char *config; /* its routing table */
    bool disk;          /* an LMDB store in dir/data */
    const char *dsn;    /* else a PostgreSQL store (--store-dsn); neither: --memory */
    const char *log_level;
    const char *suffix; /* of its endpoints' names: NULL, or DAEMON_B for a second mizd */
} daemon_conf_t;

#define DAEMON_B "-b" /* the endpoints of a second mizd in the same directory end in it */

int daemon_start(daemon_t *d, const opts_t *o, const char *dir, const daemon_conf_t *conf);
int daemon_stop(daemon_t *d);
void remove_store(const char *data);
int daemon_wait(daemon_t *d, miz_client_t *c);
/* A DEALER that has sent a ping to endpoint, NULL on an error (said); then
 * pong_poll: 1 and when the pong came, 0 nothing within timeout_ms, -1. */
void *ping_open(void *zctx, const char *endpoint);
int pong_poll(void *s, int timeout_ms, uint64_t *at);
/* What mizd's counters say of its store's commits since it started. */
typedef struct {
    uint64_t commits, us;
} commit_figures_t;
#define COUNTERS_WAIT_MS 3000 /* three of bench.yaml's heartbeats */
int daemon_commits(void *zctx, const daemon_t *d, commit_figures_t *f);
/* The store commits of FLOOR_REQUESTS requests, timed alone: LMDB in
 * dir/floor, or PostgreSQL at dsn. */
int bench_commits(const char *dir, const char *dsn, stats_t *st);
int make_keys(keys_t *k, const opts_t *o, const char *dir);
void remove_keys(const keys_t *k, const char *dir);

/* ---- miz_load.c: workers, the miz client, a store mode's runs ---- */

/* Agency workers, a thread each, that ack and answer every delivery. */
typedef struct {
    void *zctx;
    const char *endpoint;     /* or a list, with failover */
    const miz_curve_t *curve; /* NULL: plain */
    bool confirm;             /* register without quiet: an "ok" for every ack and answer */
    uint32_t credit;          /* each worker's */
    bool failover;            /* mizd may die under them: an error reply (a delivery the next
                               * mizd does not know them to hold) is counted, not a failure */
    atomic_bool stop;
    atomic_uint registered;
    atomic_bool failed;
    atomic_uint errors; /* with failover */
} crew_t;

/* Starts n workers and waits until the daemon has registered them all. */
int crew_start(crew_t *crew, pthread_t *threads, unsigned n);
void crew_stop(crew_t *crew, pthread_t *threads, unsigned n);

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
    uint64_t submitted;   /* requests sent, over every run */
} mizload_t;

int miz_send(void *ctx, uint32_t i);
int reply_error(const miz_msg_t *m);
int bench_miz(void *zctx, const opts_t *o, const char *dir, const store_mode_t *sm,
              const load_t *refs, miz_stats_t *st);

/* ---- pg.c: a local PostgreSQL ---- */

typedef struct {
    struct pg_server *primary, *standby; /* standby: NULL, or synchronous */
    pid_t pids[2];                  /* their postmasters, for their CPU time */
} pg_bench_t;

/* A new server, with a synchronous standby if sync; -1 (said) on failure. */
int pg_bench_start(pg_bench_t *pg, bool sync);
/* A new database on the primary, and its DSN. */
int pg_bench_db(pg_bench_t *pg, char *dsn, size_t len);
void pg_bench_stop(pg_bench_t *pg);

/* ---- recovery.c ---- */

int bench_recovery(void *zctx, const opts_t *o, const char *dir);

/* ---- takeover.c ---- */

int bench_takeover(void *zctx, const opts_t *o, const char *dir);

/* ---- report.c: the table and the targets ---- */

/* v rounded, with thousands separators, in out[48]. */
const char *grouped(double v, char *out);
void print_row(const char *name, const stats_t *st);
void print_header(const opts_t *o);
const char *verdict(bool met);
void print_targets(const opts_t *o, const miz_stats_t *miz);
void print_commits(const commit_figures_t *before, const commit_figures_t *after,
                   uint64_t requests);

#endif

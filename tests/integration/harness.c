#include "harness.h"

#include <errno.h>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#ifndef MIZD_PATH
#error "MIZD_PATH must name the mizd binary"
#endif
#ifndef IT_TABLE_DIR
#error "IT_TABLE_DIR must name the folder of the routing tables"
#endif

#define START_MS 10000 /* for mizd to answer its first ping (ASan starts slowly) */
#define STOP_MS 15000  /* for mizd to exit after SIGTERM, leak check included */
/* Longest stretch between two reads of every peer: well inside the 100 ms
 * heartbeat, so no worker is ever taken for dead while a test waits. */
#define SLICE_MS 20
#define MAX_PEERS 32
#define TAIL_BYTES 6000

typedef struct node {
    miz_msg_t *m;
    struct node *next;
} node_t;

/* Exactly one of client and worker is set. */
struct it_peer {
    it_daemon_t *d;
    miz_client_t *client;
    miz_worker_t *worker;
    char name[72]; /* for failure messages */
    node_t *head, *tail;
};

struct it_daemon {
    char dir[32];
    char clients[64], workers[64], events[64], log[64], data[64];
    char table[512];
    char dsn[512]; /* the PostgreSQL store's, or "": LMDB in data */
    bool failed; /* a check failed: keep the log */
    int expected_exit; /* the exit status teardown takes as clean (it_exits_with) */
    pid_t pid;   /* 0 once it has exited */
    int status;  /* its wait status then */
    void *zctx;
    it_peer_t *peers[MAX_PEERS];
    size_t n_peers;
};

/* The running test's daemon, whose log a failure shows. */
static it_daemon_t *current;

uint64_t it_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

const char *it_events_endpoint(const it_daemon_t *d)
{
    return d->events;
}

const char *it_workers_endpoint(const it_daemon_t *d)
{
    return d->workers;
}

const char *it_clients_endpoint(const it_daemon_t *d)
{
    return d->clients;
}

/* ---- reporting ---- */

static void print_tail(const it_daemon_t *d)
{
    FILE *f = fopen(d->log, "r");
    if (!f)
        return;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, size > TAIL_BYTES ? size - TAIL_BYTES : 0, SEEK_SET);
    int ch;
    if (size > TAIL_BYTES) /* start on a whole line */
        while ((ch = fgetc(f)) != EOF && ch != '\n')
            ;
    fprintf(stderr, "---- tail of %s ----\n", d->log);
    char buf[1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fprintf(stderr, "---- end of the log ----\n");
    fclose(f);
}

void it_report(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("FAILURE: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (current) {
        current->failed = true;
        print_tail(current);
    }
}

/* What a message is, for failure messages. */
static const char *describe(const miz_msg_t *m, char *buf, size_t len)
{
    size_t code_len = 0, text_len = 0;
    const char *code = miz_msg_str(m, "code", &code_len);
    const char *text = miz_msg_str(m, "message", &text_len);
    snprintf(buf, len, "\"%s\"%s%.*s%s%.*s", miz_msg_type(m), code ? " code " : "", (int)code_len,
             code ? code : "", text ? ": " : "", (int)text_len, text ? text : "");
    return buf;
}

/* ---- the daemon ---- */

/* True when the daemon has exited (its status is then in d->status). */
static bool exited(it_daemon_t *d)
{
    if (d->pid && waitpid(d->pid, &d->status, WNOHANG) == d->pid)
        d->pid = 0;
    return d->pid == 0;
}

bool it_exited(it_daemon_t *d)
{
    return exited(d);
}

/* Starts mizd; its log is appended to, so a restarted daemon's log follows
 * the one before. */
static void spawn(it_daemon_t *d)
{
    /* where a reload's outcome goes (set here: the child only execs) */
    if (setenv("RUNTIME_DIRECTORY", d->dir, 1) < 0)
        it_fail("setenv: %s", strerror(errno));
    d->pid = fork();
    if (d->pid != 0)
        return;
    int fd = open(d->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0 || dup2(fd, STDERR_FILENO) < 0)
        _exit(126);
    const char *store = *d->dsn ? "--store-dsn" : "--data-dir";
    execl(MIZD_PATH, MIZD_PATH, "-c", d->table, store, *d->dsn ? d->dsn : d->data, "--clients",
          d->clients, "--workers", d->workers, "--events", d->events, "--log-level", "debug",
          (char *)NULL);
    perror("exec " MIZD_PATH);
    _exit(127);
}

/* SIGTERM, then a bounded wait; a daemon that does not stop is killed. */
static void stop(it_daemon_t *d)
{
    if (exited(d))
        return;
    kill(d->pid, SIGTERM);
    for (uint64_t deadline = it_now_ms() + STOP_MS; it_now_ms() < deadline;) {
        if (exited(d))
            return;
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    fprintf(stderr, "mizd did not stop within %d ms of SIGTERM: killed\n", STOP_MS);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    d->pid = 0;
    d->status = -1;
}

/* How the daemon ended, once it has. */
static const char *exit_text(const it_daemon_t *d, char *buf, size_t len)
{
    if (d->status == -1)
        snprintf(buf, len, "had to be killed");
    else if (WIFSIGNALED(d->status))
        snprintf(buf, len, "died of signal %d", WTERMSIG(d->status));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(d->status));
    return buf;
}

static bool stopped_cleanly(const it_daemon_t *d)
{
    char buf[64];
    if (d->status != -1 && WIFEXITED(d->status) && WEXITSTATUS(d->status) == d->expected_exit)
        return true;
    it_report("mizd %s", exit_text(d, buf, sizeof buf));
    return false;
}

static void remove_files(const char *dir)
{
    DIR *d = opendir(dir);
    char path[320];
    for (struct dirent *e; d && (e = readdir(d));) {
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (*e->d_name != '.' && unlink(path) < 0)
            remove_files(path);
    }
    if (d)
        closedir(d);
    rmdir(dir);
}

static void peer_free(it_peer_t *p);

/* Closes every peer and the context: a test that failed half-way leaves
 * peers open, and zmq_ctx_term would wait for them forever. */
static void close_peers(it_daemon_t *d)
{
    while (d->n_peers)
        peer_free(d->peers[--d->n_peers]);
    zmq_ctx_term(d->zctx);
    d->zctx = NULL;
}

/* Closes the peers, stops the daemon and frees it: true if it exited 0.
 * Its directory stays when anything failed. */
static bool end_daemon(it_daemon_t *d)
{
    close_peers(d);
    stop(d);
    bool ok = stopped_cleanly(d);
    if (ok && !d->failed)
        remove_files(d->dir);
    else
        fprintf(stderr, "kept %s for inspection\n", d->dir);
    if (current == d)
        current = NULL;
    free(d);
    return ok;
}

/* Whether mizd answers a ping within START_MS. */
static bool answers_ping(it_daemon_t *d)
{
    it_peer_t *p = it_client(d);
    it_send_map(p, IT_MAP(IT_S("type", "ping")));
    miz_msg_t *m = it_next(p, START_MS);
    bool pong = m && miz_msg_is(m, "pong");
    miz_msg_destroy(&m);
    it_close(&p);
    return pong;
}

void it_write_table(it_daemon_t *d, const char *text)
{
    FILE *f = fopen(d->table, "w");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        it_fail("cannot write %s", d->table);
}

int it_reload(it_daemon_t *d, char *out, size_t outlen)
{
    int pipefd[2];
    char pid[16];
    snprintf(pid, sizeof pid, "%ld", (long)d->pid);
    if (pipe(pipefd) < 0 || setenv("RUNTIME_DIRECTORY", d->dir, 1) < 0)
        it_fail("pipe or setenv: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        if (dup2(pipefd[1], STDERR_FILENO) < 0)
            _exit(126);
        execl(MIZD_PATH, MIZD_PATH, "--reload", pid, (char *)NULL);
        _exit(127);
    }
    close(pipefd[1]);
    size_t n = 0;
    for (ssize_t got; n + 1 < outlen && (got = read(pipefd[0], out + n, outlen - 1 - n)) > 0;)
        n += (size_t)got;
    out[n] = '\0';
    close(pipefd[0]);
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status))
        it_fail("mizd --reload did not run: %s", out);
    return WEXITSTATUS(status);
}

/* A copy in the daemon's folder, which a test may rewrite and reload. */
static void copy_table(it_daemon_t *d, const char *name)
{
    char path[512], text[65536];
    snprintf(path, sizeof path, "%s%s%s", *name == '/' ? "" : IT_TABLE_DIR, *name == '/' ? "" : "/",
             name);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(text, 1, sizeof text - 1, f);
    assert_true(n > 0 && n < sizeof text - 1 && !ferror(f));
    fclose(f);
    text[n] = '\0';
    it_write_table(d, text);
}

/* A daemon in a new folder, on a copy of table, started: the harness's
 * store (it_store_dsn) unless dsn names one. */
static it_daemon_t *daemon_start(const char *table_name, const char *dsn)
{
    it_daemon_t *d = calloc(1, sizeof *d);
    assert_non_null(d);
    /* /tmp, not $TMPDIR: an ipc:// path must fit in sun_path */
    strcpy(d->dir, "/tmp/miz-it-XXXXXX");
    assert_non_null(mkdtemp(d->dir));
    snprintf(d->table, sizeof d->table, "%s/table.yaml", d->dir);
    copy_table(d, table_name);
    snprintf(d->clients, sizeof d->clients, "ipc://%s/c", d->dir);
    snprintf(d->workers, sizeof d->workers, "ipc://%s/w", d->dir);
    snprintf(d->events, sizeof d->events, "ipc://%s/e", d->dir);
    snprintf(d->log, sizeof d->log, "%s/mizd.log", d->dir);
    snprintf(d->data, sizeof d->data, "%s/data", d->dir);
    if (dsn)
        snprintf(d->dsn, sizeof d->dsn, "%s", dsn);
    else
        it_store_dsn(d->dsn, sizeof d->dsn);
    spawn(d);
    assert_true(d->pid > 0);
    d->zctx = zmq_ctx_new();
    assert_non_null(d->zctx);
    return d;
}

int it_setup(void **state)
{
    it_daemon_t *d = daemon_start(*state, NULL);
    current = d;
    if (!answers_ping(d)) {
        it_report("mizd (%s, %s) did not answer a ping within %d ms", MIZD_PATH, d->table,
                  START_MS);
        end_daemon(d);
        return -1;
    }
    *state = d;
    return 0;
}

it_daemon_t *it_daemon_on(const char *table, const char *dsn)
{
    it_daemon_t *d = daemon_start(table, dsn);
    if (!current)
        current = d;
    return d;
}

it_daemon_t *it_daemon_beside(it_daemon_t *d)
{
    return daemon_start(d->table, d->dsn);
}

void it_daemon_end(it_daemon_t **d)
{
    bool ok = end_daemon(*d);
    *d = NULL;
    if (!ok)
        fail();
}

void it_daemon_kill(it_daemon_t **dp)
{
    it_daemon_t *d = *dp;
    if (!d)
        return;
    if (!exited(d)) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    d->failed = true; /* the folder stays, for its log */
    d->status = d->expected_exit << 8; /* how it ended was the test's business */
    end_daemon(d);
    *dp = NULL;
}

bool it_answers_ping(it_daemon_t *d)
{
    return answers_ping(d);
}

void it_exits_with(it_daemon_t *d, int status, int within_ms)
{
    char buf[64];
    for (uint64_t deadline = it_now_ms() + (uint64_t)within_ms; !exited(d);) {
        if (it_now_ms() > deadline)
            it_fail("mizd (pid %ld) still runs %d ms later", (long)d->pid, within_ms);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (d->status == -1 || !WIFEXITED(d->status) || WEXITSTATUS(d->status) != status)
        it_fail("mizd %s, not status %d", exit_text(d, buf, sizeof buf), status);
    d->expected_exit = status;
}

void it_stop(it_daemon_t *d, bool crash)
{
    if (crash) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, &d->status, 0);
        d->pid = 0;
        return;
    }
    stop(d);
    if (!stopped_cleanly(d))
        fail();
}

void it_second_endpoints(it_daemon_t *d)
{
    snprintf(d->clients, sizeof d->clients, "ipc://%s/c2", d->dir);
    snprintf(d->workers, sizeof d->workers, "ipc://%s/w2", d->dir);
    snprintf(d->events, sizeof d->events, "ipc://%s/e2", d->dir);
}

/* Starts it again on its folder, without waiting: the file of its clients
 * endpoint, which it binds once it serves. */
static const char *launch(it_daemon_t *d)
{
    const char *socket_file = d->clients + strlen("ipc://");
    unlink(socket_file); /* left behind by a kill -9 */
    spawn(d);
    assert_true(d->pid > 0);
    return socket_file;
}

void it_relaunch(it_daemon_t *d)
{
    launch(d);
}

bool it_try_start(it_daemon_t *d)
{
    const char *socket_file = launch(d);
    /* mizd opens its store before it binds: wait for one or the other, so a
     * daemon that refuses to start is seen exiting, not failing a ping */
    for (uint64_t deadline = it_now_ms() + START_MS; access(socket_file, F_OK) < 0;) {
        if (exited(d) || it_now_ms() > deadline)
            return false;
        nanosleep(&(struct timespec){0, 5 * 1000 * 1000}, NULL);
    }
    return answers_ping(d);
}

void it_start(it_daemon_t *d)
{
    if (!it_try_start(d))
        it_fail("mizd did not answer a ping within %d ms of a restart", START_MS);
}

void it_restart(it_daemon_t *d, bool crash)
{
    it_stop(d, crash);
    it_start(d);
}

pid_t it_pid(const it_daemon_t *d)
{
    return d->pid;
}

const char *it_data_dir(const it_daemon_t *d)
{
    return d->data;
}

const char *it_log_path(const it_daemon_t *d)
{
    return d->log;
}

bool it_log_has(const it_daemon_t *d, const char *text)
{
    FILE *f = fopen(d->log, "r");
    assert_non_null(f);
    char line[1024];
    bool found = false;
    while (!found && fgets(line, sizeof line, f))
        found = strstr(line, text) != NULL;
    fclose(f);
    return found;
}

const char *it_table_path(const it_daemon_t *d)
{
    return d->table;
}

int it_teardown(void **state)
{
    return end_daemon(*state) ? 0 : -1;
}

/* ---- peers ---- */

static it_peer_t *peer_add(it_daemon_t *d, miz_client_t *c, miz_worker_t *w, const char *name)
{
    if (!c && !w)
        it_fail("cannot connect %s: %s", name, zmq_strerror(errno));
    if (d->n_peers == MAX_PEERS)
        it_fail("more than %d peers", MAX_PEERS);
    it_peer_t *p = calloc(1, sizeof *p);
    assert_non_null(p);
    *p = (it_peer_t){.d = d, .client = c, .worker = w};
    snprintf(p->name, sizeof p->name, "%s #%zu", name, d->n_peers);
    d->peers[d->n_peers++] = p;
    return p;
}

/* ---- CURVE keys ---- */

void it_keys_init(it_keys_t *k, const char *prefix)
{
    char err[512];
    snprintf(k->dir, sizeof k->dir, "/tmp/%s-XXXXXX", prefix);
    assert_non_null(mkdtemp(k->dir));
    snprintf(k->keys_dir, sizeof k->keys_dir, "%s/keys", k->dir);
    assert_int_equal(mkdir(k->keys_dir, 0700), 0);
    assert_int_equal(miz_cert_generate(&k->server, "mizd", "", ""), 0);
    if (miz_cert_save(&k->server, k->dir, err, sizeof err) < 0)
        fail_msg("%s", err);
}

void it_key_make(it_keys_t *k, miz_cert_t *c, const char *name, const char *role,
                 const char *agency, bool known, miz_curve_t *curve)
{
    char err[512];
    assert_int_equal(miz_cert_generate(c, name, role, agency), 0);
    if (known && miz_cert_save(c, k->keys_dir, err, sizeof err) < 0)
        fail_msg("%s", err);
    if (curve)
        *curve = (miz_curve_t){k->server.public_key, c->public_key, c->secret_key};
}

void it_keys_remove(it_keys_t *k)
{
    remove_files(k->dir);
}

/* The keys the harness's own clients use (its pings too), when set. */
static const miz_curve_t *default_curve;

void it_use_curve(const miz_curve_t *curve)
{
    default_curve = curve;
}

it_peer_t *it_client_curve(it_daemon_t *d, const miz_curve_t *curve)
{
    return peer_add(d, miz_client_new_curve(d->zctx, d->clients, curve), NULL, "client");
}

it_peer_t *it_client_on(it_daemon_t *d, const char *endpoint)
{
    return peer_add(d, miz_client_new_curve(d->zctx, endpoint, default_curve), NULL,
                    strcmp(endpoint, d->workers) == 0 ? "raw peer on workers" : "client");
}

it_peer_t *it_client_named(it_daemon_t *d, const char *id)
{
    return peer_add(d, miz_client_new_named(d->zctx, d->clients, id, default_curve), NULL, id);
}

it_peer_t *it_client(it_daemon_t *d)
{
    return it_client_on(d, d->clients);
}

it_peer_t *it_worker_on(it_daemon_t *d, const char *endpoint, const miz_worker_opts_t *o)
{
    char name[64];
    snprintf(name, sizeof name, "worker of %s", o->agency);
    return peer_add(d, NULL, miz_worker_new(d->zctx, endpoint, o), name);
}

it_peer_t *it_worker_open(it_daemon_t *d, const miz_worker_opts_t *o)
{
    return it_worker_on(d, d->workers, o);
}

it_peer_t *it_worker(it_daemon_t *d, const char *agency, unsigned credit)
{
    it_peer_t *w = it_worker_open(d, &(miz_worker_opts_t){.agency = agency, .credit = credit});
    miz_msg_t *m = it_expect(w, "registered");
    it_str_eq(IT_ROOT(m), "agency", agency);
    if (credit)
        assert_int_equal(it_uint(IT_ROOT(m), "credit"), credit);
    assert_int_equal(it_uint(IT_ROOT(m), "heartbeat_ms"), 100);
    miz_msg_destroy(&m);
    return w;
}

static void peer_free(it_peer_t *p)
{
    while (p->head) {
        node_t *n = p->head;
        p->head = n->next;
        miz_msg_destroy(&n->m);
        free(n);
    }
    miz_client_destroy(&p->client);
    miz_worker_destroy(&p->worker);
    free(p);
}

void it_close(it_peer_t **pp)
{
    it_daemon_t *d = (*pp)->d;
    for (size_t i = 0; i < d->n_peers; i++)
        if (d->peers[i] == *pp) {
            d->peers[i] = d->peers[--d->n_peers];
            break;
        }
    peer_free(*pp);
    *pp = NULL;
}

miz_client_t *it_miz_client(it_peer_t *p)
{
    return p->client;
}

miz_worker_t *it_miz_worker(it_peer_t *p)
{
    return p->worker;
}

static void *peer_socket(it_peer_t *p)
{
    return p->worker ? miz_worker_socket(p->worker) : miz_client_socket(p->client);
}

/* ---- waiting ---- */

static void push(it_peer_t *p, miz_msg_t *m)
{
    node_t *n = malloc(sizeof *n);
    assert_non_null(n);
    *n = (node_t){m, NULL};
    if (p->tail)
        p->tail->next = n;
    else
        p->head = n;
    p->tail = n;
}

/* Reads whatever has arrived for every peer, without waiting. */
static void pump(it_daemon_t *d)
{
    for (size_t i = 0; i < d->n_peers; i++) {
        it_peer_t *p = d->peers[i];
        miz_msg_t *m;
        int rc;
        /* a worker's recv also sends its heartbeat when one is due */
        while ((rc = p->worker ? miz_worker_recv(p->worker, 0, &m)
                               : miz_client_recv(p->client, 0, &m)) == 0)
            push(p, m);
        if (errno != EAGAIN && errno != EINTR)
            it_fail("%s: cannot read: %s", p->name, zmq_strerror(errno));
    }
}

typedef bool match_fn(const miz_msg_t *m, uint64_t arg);

/* Unlinks the first queued message that matches (any when match is NULL). */
static miz_msg_t *take(it_peer_t *p, match_fn *match, uint64_t arg)
{
    node_t *prev = NULL;
    for (node_t *n = p->head; n; prev = n, n = n->next) {
        if (match && !match(n->m, arg))
            continue;
        if (prev)
            prev->next = n->next;
        else
            p->head = n->next;
        if (p->tail == n)
            p->tail = prev;
        miz_msg_t *m = n->m;
        free(n);
        return m;
    }
    return NULL;
}

static miz_msg_t *wait_for(it_peer_t *p, int timeout_ms, match_fn *match, uint64_t arg)
{
    uint64_t deadline = it_now_ms() + (uint64_t)timeout_ms;
    for (;;) {
        pump(p->d);
        miz_msg_t *m = take(p, match, arg);
        uint64_t now = it_now_ms();
        if (m || now >= deadline)
            return m;
        /* a crashed daemon fails the test now, not after the whole wait */
        char buf[64];
        if (exited(p->d))
            it_fail("%s: mizd %s while the test waited", p->name, exit_text(p->d, buf, sizeof buf));
        uint64_t left = deadline - now;
        zmq_pollitem_t item = {peer_socket(p), 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&item, 1, left < SLICE_MS ? (long)left : SLICE_MS) < 0 && errno != EINTR)
            it_fail("%s: zmq_poll: %s", p->name, zmq_strerror(errno));
    }
}

void it_pump(it_daemon_t *d, int ms)
{
    uint64_t end = it_now_ms() + (uint64_t)ms;
    do {
        pump(d);
        nanosleep(&(struct timespec){0, 1000 * 1000}, NULL);
    } while (it_now_ms() < end);
}

miz_msg_t *it_next(it_peer_t *p, int timeout_ms)
{
    return wait_for(p, timeout_ms, NULL, 0);
}

static miz_msg_t *must_arrive(it_peer_t *p, miz_msg_t *m, const char *what)
{
    if (!m)
        it_fail("%s: no %s within %d ms", p->name, what, IT_WAIT_MS);
    return m;
}

/* who: the peer it came to, or "" */
static void check_type(const char *who, const miz_msg_t *m, const char *type)
{
    char buf[512];
    if (!miz_msg_is(m, type))
        it_fail("%s%sexpected \"%s\", got %s", who, *who ? ": " : "", type,
                describe(m, buf, sizeof buf));
}

void it_check_type(const miz_msg_t *m, const char *type)
{
    check_type("", m, type);
}

static void check_error(const char *who, const miz_msg_t *m, const char *code)
{
    check_type(who, m, "error");
    it_str_eq(IT_ROOT(m), "code", code);
}

void it_check_error(const miz_msg_t *m, const char *code)
{
    check_error("", m, code);
}

miz_msg_t *it_expect(it_peer_t *p, const char *type)
{
    miz_msg_t *m = must_arrive(p, it_next(p, IT_WAIT_MS), type);
    check_type(p->name, m, type);
    return m;
}

void it_expect_error(it_peer_t *p, const char *code)
{
    miz_msg_t *m = must_arrive(p, it_next(p, IT_WAIT_MS), "error");
    check_error(p->name, m, code);
    miz_msg_destroy(&m);
}

static bool is_reply(const miz_msg_t *m, uint64_t seq)
{
    uint64_t re;
    return miz_msg_uint(m, "re", &re) == 0 && re == seq;
}

miz_msg_t *it_reply(it_peer_t *p, uint64_t seq)
{
    return must_arrive(p, wait_for(p, IT_WAIT_MS, is_reply, seq), "reply");
}

void it_reply_error(it_peer_t *p, uint64_t seq, const char *code)
{
    miz_msg_t *m = it_reply(p, seq);
    check_error(p->name, m, code);
    miz_msg_destroy(&m);
}

void it_quiet(it_peer_t *p, int ms)
{
    char buf[512];
    miz_msg_t *m = it_next(p, ms);
    if (m)
        it_fail("%s: unexpected %s", p->name, describe(m, buf, sizeof buf));
}

/* ---- raw frames ---- */

void it_send_frame(it_peer_t *p, const void *data, size_t size, bool more)
{
    if (zmq_send(peer_socket(p), data, size, more ? ZMQ_SNDMORE : 0) < 0)
        it_fail("%s: cannot send: %s", p->name, zmq_strerror(errno));
}

/* Packed with msgpack-c itself, not with the codec under test. */
void it_send_map(it_peer_t *p, const it_kv_t *kv, size_t n)
{
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, n);
    for (size_t i = 0; i < n; i++) {
        msgpack_pack_str_with_body(&pk, kv[i].key, strlen(kv[i].key));
        if (kv[i].str)
            msgpack_pack_str_with_body(&pk, kv[i].str, strlen(kv[i].str));
        else
            msgpack_pack_uint64(&pk, kv[i].num);
    }
    it_send_frame(p, buf.data, buf.size, false);
    msgpack_sbuffer_destroy(&buf);
}

/* ---- reading values ---- */

const msgpack_object *it_get(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = miz_map_get(map, key);
    if (!o)
        it_fail("no \"%s\" in the message", key);
    return o;
}

uint64_t it_uint(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_POSITIVE_INTEGER)
        it_fail("\"%s\" is not an unsigned integer (msgpack type %d)", key, (int)o->type);
    return o->via.u64;
}

bool it_bool(const msgpack_object *map, const char *key)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_BOOLEAN)
        it_fail("\"%s\" is not a boolean (msgpack type %d)", key, (int)o->type);
    return o->via.boolean;
}

static bool obj_is(const msgpack_object *o, const char *s)
{
    size_t n = strlen(s);
    return o->type == MSGPACK_OBJECT_STR && o->via.str.size == n &&
           memcmp(o->via.str.ptr, s, n) == 0;
}

void it_str_eq(const msgpack_object *map, const char *key, const char *want)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_STR)
        it_fail("\"%s\" is not a string (msgpack type %d); expected \"%s\"", key, (int)o->type,
                want);
    if (!obj_is(o, want))
        it_fail("\"%s\" is \"%.*s\", expected \"%s\"", key, (int)o->via.str.size, o->via.str.ptr,
                want);
}

const msgpack_object *it_array(const msgpack_object *map, const char *key, size_t n)
{
    const msgpack_object *o = it_get(map, key);
    if (o->type != MSGPACK_OBJECT_ARRAY)
        it_fail("\"%s\" is not an array (msgpack type %d)", key, (int)o->type);
    if (o->via.array.size != n)
        it_fail("\"%s\" has %u elements, expected %zu", key, o->via.array.size, n);
    return o;
}

/* ---- clients ---- */

static void sent(const it_peer_t *p, int rc, const char *what)
{
    if (rc < 0)
        it_fail("%s: cannot send %s: %s", p->name, what, zmq_strerror(errno));
}

uint64_t it_submit_send(it_peer_t *c, const miz_submit_t *s)
{
    uint64_t seq;
    sent(c, miz_client_send_submit(c->client, s, &seq), "submit");
    return seq;
}

miz_msg_t *it_send_submit(it_peer_t *c, const miz_submit_t *s)
{
    return it_reply(c, it_submit_send(c, s));
}

uint64_t it_accepted(it_peer_t *c, uint64_t seq)
{
    miz_msg_t *m = it_reply(c, seq);
    check_type(c->name, m, "accepted");
    uint64_t tracking = it_uint(IT_ROOT(m), "tracking");
    miz_msg_destroy(&m);
    return tracking;
}

uint64_t it_submit(it_peer_t *c, const miz_submit_t *s)
{
    return it_accepted(c, it_submit_send(c, s));
}

uint64_t it_submit_topic(it_peer_t *c, const char *topic, const char *kind)
{
    return it_submit(c, &(miz_submit_t){.topic = topic, .kind = kind, .text = IT_PAYLOAD_TEXT});
}

void it_submit_error(it_peer_t *c, const miz_submit_t *s, const char *code)
{
    miz_msg_t *m = it_send_submit(c, s);
    it_check_error(m, code);
    miz_msg_destroy(&m);
}

miz_msg_t *it_send_status(it_peer_t *c, uint64_t tracking)
{
    uint64_t seq;
    sent(c, miz_client_send_status(c->client, tracking, &seq), "status");
    return it_reply(c, seq);
}

miz_msg_t *it_status(it_peer_t *c, uint64_t tracking)
{
    miz_msg_t *m = it_send_status(c, tracking);
    it_check_type(m, "status");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking);
    return m;
}

const msgpack_object *it_status_delivery(const miz_msg_t *status, uint64_t id)
{
    const msgpack_object *dels = it_get(IT_ROOT(status), "deliveries");
    for (uint32_t i = 0; dels->type == MSGPACK_OBJECT_ARRAY && i < dels->via.array.size; i++)
        if (it_uint(&dels->via.array.ptr[i], "id") == id)
            return &dels->via.array.ptr[i];
    it_fail("no delivery %llu in the status", (unsigned long long)id);
    return NULL;
}

void it_history_is(const msgpack_object *delivery, const char *const *events)
{
    const msgpack_object *h = it_get(delivery, "history");
    size_t n = 0;
    while (events[n])
        n++;
    bool same = h->type == MSGPACK_OBJECT_ARRAY && h->via.array.size == n;
    for (size_t i = 0; same && i < n; i++)
        same = obj_is(it_get(&h->via.array.ptr[i], "event"), events[i]);
    if (same)
        return;
    char want[512] = "", got[512] = "";
    for (size_t i = 0; i < n; i++)
        snprintf(want + strlen(want), sizeof want - strlen(want), " %s", events[i]);
    for (uint32_t i = 0; h->type == MSGPACK_OBJECT_ARRAY && i < h->via.array.size; i++) {
        const msgpack_object *e = miz_map_get(&h->via.array.ptr[i], "event");
        bool str = e && e->type == MSGPACK_OBJECT_STR;
        snprintf(got + strlen(got), sizeof got - strlen(got), " %.*s",
                 str ? (int)e->via.str.size : 1, str ? e->via.str.ptr : "?");
    }
    it_fail("delivery %llu: history is [%s ], expected [%s ]",
            (unsigned long long)it_uint(delivery, "id"), got, want);
}

miz_msg_t *it_outcome(it_peer_t *c, uint64_t tracking, size_t n, const msgpack_object **answers)
{
    miz_msg_t *m = it_expect(c, "outcome");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking);
    *answers = it_array(IT_ROOT(m), "answers", n)->via.array.ptr;
    return m;
}

void it_outcome_is(it_peer_t *c, uint64_t tracking, const char *agency, const char *answered_by,
                   uint64_t delivery, const char *outcome)
{
    const msgpack_object *ans;
    miz_msg_t *m = it_outcome(c, tracking, 1, &ans);
    it_answer_is(ans, agency, answered_by, delivery, outcome);
    miz_msg_destroy(&m);
}

void it_mark(const uint64_t *set, bool *seen, size_t n, uint64_t v, const char *what)
{
    size_t k = 0;
    while (k < n && set[k] != v)
        k++;
    if (k == n || seen[k])
        it_fail("%s %llu: not one of those awaited, or a second time", what, (unsigned long long)v);
    seen[k] = true;
}

void it_outcomes(it_peer_t *c, const uint64_t *tracking, size_t n, const char *outcome)
{
    bool *seen = calloc(n, sizeof *seen);
    assert_non_null(seen);
    for (size_t i = 0; i < n; i++) {
        miz_msg_t *m = it_expect(c, "outcome");
        it_mark(tracking, seen, n, it_uint(IT_ROOT(m), "tracking"), "outcome of tracking");
        it_str_eq(it_array(IT_ROOT(m), "answers", 1)->via.array.ptr, "outcome", outcome);
        miz_msg_destroy(&m);
    }
    free(seen);
}

void it_answer_is(const msgpack_object *answer, const char *agency, const char *answered_by,
                  uint64_t delivery, const char *outcome)
{
    it_str_eq(answer, "agency", agency);
    it_str_eq(answer, "answered_by", answered_by);
    assert_int_equal(it_uint(answer, "delivery"), delivery);
    it_str_eq(answer, "outcome", outcome);
}

/* ---- workers ---- */

miz_msg_t *it_deliver(it_peer_t *w, uint64_t tracking, const char *role)
{
    miz_msg_t *m = it_expect(w, "deliver");
    assert_int_equal(it_uint(IT_ROOT(m), "tracking"), tracking);
    it_str_eq(IT_ROOT(m), "role", role);
    return m;
}

uint64_t it_take(it_peer_t *w, uint64_t tracking, const char *role)
{
    miz_msg_t *m = it_deliver(w, tracking, role);
    uint64_t id = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);
    return id;
}

static void expect_ok(it_peer_t *w, uint64_t delivery)
{
    miz_msg_t *m = it_expect(w, "ok");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), delivery);
    miz_msg_destroy(&m);
}

void it_ack(it_peer_t *w, uint64_t delivery)
{
    sent(w, miz_worker_ack(w->worker, delivery), "ack");
    expect_ok(w, delivery);
}

void it_answer(it_peer_t *w, uint64_t delivery, const char *outcome, const char *text)
{
    sent(w, miz_worker_answer(w->worker, delivery, outcome, text), "answer");
    expect_ok(w, delivery);
}

void it_refuse(it_peer_t *w, uint64_t delivery, const char *reason)
{
    sent(w, miz_worker_refuse(w->worker, delivery, reason), "refuse");
    expect_ok(w, delivery);
}

uint64_t it_serve(it_peer_t *w, uint64_t tracking)
{
    uint64_t id = it_take(w, tracking, "target");
    it_answer(w, id, "done", w->name);
    return id;
}

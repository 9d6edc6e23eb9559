/* harness: the daemons of the integration tests (harness.h). Each is mizd
 * started in a folder of its own under /tmp, with ipc:// endpoints, a copy
 * of the test's table and its log there; it is stopped, restarted, crashed
 * and started again as a test asks, and the tail of its log is shown when a
 * check fails. The CURVE key folders a test makes are here too. Peers and
 * the waits on them are harness_peer.c's; reading values and what clients
 * and workers say, harness_exchange.c's; the store, harness_store.c's. */
#include "harness_int.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
#define STOP_MS 15000 /* for mizd to exit after SIGTERM, leak check included */
#define TAIL_BYTES 6000

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

/* ---- the daemon ---- */

/* True when the daemon has exited (its status is then in d->status). */
bool harness_exited(it_daemon_t *d)
{
    if (d->pid && waitpid(d->pid, &d->status, WNOHANG) == d->pid)
        d->pid = 0;
    return d->pid == 0;
}

bool it_exited(it_daemon_t *d)
{
    return harness_exited(d);
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
    if (harness_exited(d))
        return;
    kill(d->pid, SIGTERM);
    for (uint64_t deadline = it_now_ms() + STOP_MS; it_now_ms() < deadline;) {
        if (harness_exited(d))
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
const char *harness_exit_text(const it_daemon_t *d, char *buf, size_t len)
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
    it_report("mizd %s", harness_exit_text(d, buf, sizeof buf));
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

/* Closes the peers, stops the daemon and frees it: true if it exited 0.
 * Its directory stays when anything failed. */
static bool end_daemon(it_daemon_t *d)
{
    harness_close_peers(d);
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
    if (!harness_exited(d)) {
        kill(d->pid, SIGKILL);
        waitpid(d->pid, NULL, 0);
        d->pid = 0;
    }
    d->failed = true;                  /* the folder stays, for its log */
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
    for (uint64_t deadline = it_now_ms() + (uint64_t)within_ms; !harness_exited(d);) {
        if (it_now_ms() > deadline)
            it_fail("mizd (pid %ld) still runs %d ms later", (long)d->pid, within_ms);
        nanosleep(&(struct timespec){0, 10 * 1000 * 1000}, NULL);
    }
    if (d->status == -1 || !WIFEXITED(d->status) || WEXITSTATUS(d->status) != status)
        it_fail("mizd %s, not status %d", harness_exit_text(d, buf, sizeof buf), status);
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
        if (harness_exited(d) || it_now_ms() > deadline)
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

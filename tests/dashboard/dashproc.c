#include "dashproc.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef MIZ_DASHBOARD_PATH
#error "MIZ_DASHBOARD_PATH must name the miz-dashboard binary"
#endif

struct dash_proc {
    it_daemon_t *d;
    pid_t pid;
    unsigned port;
    char url[64];
};

dash_proc_t *dash_start(it_daemon_t *d)
{
    return dash_start_with(d, (const char *const[]){NULL});
}

dash_proc_t *dash_start_with(it_daemon_t *d, const char *const *extra)
{
    dash_proc_t *p = calloc(1, sizeof *p);
    int out[2];
    assert_non_null(p);
    assert_int_equal(pipe(out), 0);
    p->d = d;
    const char *clients = it_clients_endpoint(d);
    p->pid = fork();
    assert_true(p->pid >= 0);
    if (p->pid == 0) {
        /* a failing test does not reach dash_stop: it goes with the test */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        dup2(out[1], STDOUT_FILENO);
        close(out[0]);
        const char *argv[32] = {MIZ_DASHBOARD_PATH, "-c", it_table_path(d), "--http", "127.0.0.1:0",
                                "--events", it_events_endpoint(d), "--clients", clients};
        for (size_t i = 0, n = 9; extra[i] && n < 31; i++)
            argv[n++] = extra[i];
        execv(MIZ_DASHBOARD_PATH, (char *const *)argv);
        _exit(127);
    }
    close(out[1]);
    /* its first line says where it serves: "... serving http://ADDR:PORT/ ..." */
    char line[512];
    size_t n = 0;
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; !memchr(line, '\n', n);) {
        struct pollfd pf = {out[0], POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("miz-dashboard did not start");
        if (poll(&pf, 1, 10) == 1) {
            ssize_t got = read(out[0], line + n, sizeof line - 1 - n);
            if (got <= 0)
                it_fail("miz-dashboard exited at start");
            n += (size_t)got;
        }
        it_pump(d, 1);
    }
    line[n] = '\0';
    close(out[0]);
    const char *at = strstr(line, "http://127.0.0.1:");
    assert_non_null(at);
    p->port = (unsigned)strtoul(at + strlen("http://127.0.0.1:"), NULL, 10);
    assert_true(p->port > 0);
    snprintf(p->url, sizeof p->url, "http://127.0.0.1:%u", p->port);
    return p;
}

void dash_stop(dash_proc_t **pp)
{
    dash_proc_t *p = *pp;
    int status = 0;
    kill(p->pid, SIGTERM);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; waitpid(p->pid, &status, WNOHANG) == 0;) {
        if (it_now_ms() > end) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            it_fail("miz-dashboard did not stop on SIGTERM");
        }
        it_pump(p->d, 5);
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        it_fail("miz-dashboard ended with status %d", status);
    free(p);
    *pp = NULL;
}

const char *dash_url(const dash_proc_t *p)
{
    return p->url;
}

pid_t dash_pid(const dash_proc_t *p)
{
    return p->pid;
}

int dash_connect(const dash_proc_t *p, int rcvbuf)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)p->port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    if (rcvbuf > 0)
        assert_int_equal(setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf), 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

char *dash_get(dash_proc_t *p, const char *path, int *status)
{
    char req[1024];
    snprintf(req, sizeof req, "GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n", path);
    char *buf = dash_request(p, req, status);
    char *body = strstr(buf, "\r\n\r\n");
    assert_non_null(body);
    body += 4;
    memmove(buf, body, strlen(body) + 1);
    return buf;
}

char *dash_request(dash_proc_t *p, const char *request, int *status)
{
    int fd = dash_connect(p, 0);
    const char *path = request;
    size_t len = strlen(request);
    assert_int_equal(write(fd, request, len), (ssize_t)len);
    size_t n = 0, cap = 65536;
    char *buf = malloc(cap);
    assert_non_null(buf);
    /* HTTP/1.0: the reply ends when the server closes */
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;;) {
        struct pollfd pf = {fd, POLLIN, 0};
        if (it_now_ms() > end)
            it_fail("no complete answer to %.60s", path);
        if (poll(&pf, 1, 10) == 1) {
            if (n + 4096 > cap)
                assert_non_null(buf = realloc(buf, cap *= 2));
            ssize_t got = read(fd, buf + n, cap - n - 1);
            assert_true(got >= 0);
            if (got == 0)
                break;
            n += (size_t)got;
        }
        it_pump(p->d, 1);
    }
    close(fd);
    buf[n] = '\0';
    if (sscanf(buf, "HTTP/1.%*d %d", status) != 1)
        it_fail("no HTTP answer to %.60s: %s", path, buf);
    return buf;
}

char *dash_get_ok(dash_proc_t *p, const char *path)
{
    int status;
    char *body = dash_get(p, path, &status);
    if (status != 200)
        it_fail("GET %s: status %d: %s", path, status, body);
    return body;
}

void dash_expect(dash_proc_t *p, const char *path, int status)
{
    int got;
    char *body = dash_get(p, path, &got);
    if (got != status)
        it_fail("GET %s: status %d, not %d: %s", path, got, status, body);
    free(body);
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

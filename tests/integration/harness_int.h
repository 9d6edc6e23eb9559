/* harness_int: what the harness's own files (harness*.c) share and the
 * tests do not see: the daemon and peer structures, and the few helpers one
 * file uses from another. The tests' API is harness.h alone. */
#ifndef MIZ_IT_HARNESS_INT_H
#define MIZ_IT_HARNESS_INT_H

#include "harness.h"

#define MAX_PEERS 32

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
    char dsn[512];     /* the PostgreSQL store's, or "": LMDB in data */
    bool failed;       /* a check failed: keep the log */
    int expected_exit; /* the exit status teardown takes as clean (it_exits_with) */
    pid_t pid;         /* 0 once it has exited */
    int status;        /* its wait status then */
    void *zctx;
    it_peer_t *peers[MAX_PEERS];
    size_t n_peers;
};

/* ---- the daemon (harness.c) ---- */

/* True when the daemon has exited (its status is then in d->status). */
bool harness_exited(it_daemon_t *d);
/* How the daemon ended, once it has. */
const char *harness_exit_text(const it_daemon_t *d, char *buf, size_t len);

/* ---- peers (harness_peer.c) ---- */

/* Closes every peer and the context: a test that failed half-way leaves
 * peers open, and zmq_ctx_term would wait for them forever. */
void harness_close_peers(it_daemon_t *d);
/* who: the peer it came to, or "" */
void harness_check_type(const char *who, const miz_msg_t *m, const char *type);

#endif

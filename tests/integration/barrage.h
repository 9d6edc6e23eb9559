/* barrage: what the files of the barrage share (test_barrage.c: the test;
 * barrage_attack.c: the attackers; barrage_check.c: what they may hear;
 * barrage_good.c: the good peers and what the test knows). The messages
 * come from tests/common/msggen.h, what a key may hear from
 * tests/common/policy.h. */
#ifndef MIZ_BARRAGE_H
#define MIZ_BARRAGE_H

#include "harness.h"

#include "msggen.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define MAX_MESSAGE MG_MAX_MESSAGE /* broker.max_message of the table */
#define GOOD_WORKERS 2
#define GOOD_WINDOW 64      /* good submissions awaiting their reply */
#define WINDOW 256          /* attacker messages awaiting their reply */
#define BURST 32            /* frames an attacker sends per turn of the loop */
#define SAFE_REGISTER_EVERY 64
#define XSUB_FRAMES 1000    /* the XSUB connects anew after this many */
/* A full snapshot holds every closed request the store has, built in one
 * turn: mizd's memory for it grows with the store, which grows all through
 * the barrage. So the dashboard asks for one at ten fixed points of its
 * run (FULL_SNAPSHOTS), unmutated, and its mutated ones ask only for the
 * open requests: the memory check then sees what mizd keeps, not the size
 * of the store. */
#define FULL_SNAPSHOTS 10

/* ---- growable tables indexed by small numbers (ids start at 1) ---- */

typedef struct {
    unsigned char *v;
    size_t n;
} bytes_t;

unsigned char *at(bytes_t *t, uint64_t id);
unsigned char peek(const bytes_t *t, uint64_t id);

/* ---- what the test knows ---- */

enum { OWN_NONE, OWN_GOOD, OWN_ROGUE };        /* tracking -> who submitted it */
enum { SERIAL_NONE, SERIAL_ATTACKER };          /* worker serial -> whose */

typedef struct {
    bytes_t owner;    /* tracking -> OWN_* */
    bytes_t serials;  /* worker serial -> SERIAL_* */
    bytes_t holder;   /* delivery -> good worker 1.. that answered it, 0 none */
    uint64_t nonce;   /* in every good answer's text: no attacker can know it */
    mg_targets_t seen; /* recent targets for the attackers */
} world_t;

extern world_t world;

void good_text(char *buf, size_t len, unsigned worker, uint64_t delivery);

/* ---- the good peers (barrage_good.c) ---- */

typedef struct {
    uint64_t token; /* its client_ref is good-TOKEN: no one can guess it */
    uint64_t tracking, delivery;
    bool accepted, outcome;
    uint64_t resend_at; /* after busy: monotonic ms to submit again, 0 when not waiting */
    bool pending;       /* a submit is out and unanswered */
} good_req_t;

typedef struct {
    it_peer_t *p;
    unsigned index;  /* 1.. */
    uint64_t serial; /* of its first registration */
    uint64_t commands, oks, errors, delivers, redelivers;
} good_worker_t;

typedef struct {
    it_peer_t *p;
    good_req_t *req;
    size_t n, next, accepted, outcomes, busy, in_flight;
    uint64_t *seq_of;  /* request i's last submit seq */
} good_gateway_t;

/* The good workers' side; true if anything came. */
bool serve(good_worker_t *gw, bool *dropped);
void good_submit(good_gateway_t *g, size_t i);
bool good_read(good_gateway_t *g);

/* ---- attackers (barrage_attack.c) ---- */

typedef enum {
    R_GATEWAY,   /* the rogue gateway key on the clients socket */
    R_DASHBOARD, /* the dashboard key on the clients socket */
    R_POWER,     /* the power worker key on the workers socket */
    R_WATER,     /* the water worker key, registered for nothing routable */
    R_XSUB,      /* the dashboard key sending subscriptions to the PUB */
    R_OVERSIZE,  /* frames over max_message, then a probe that must be answered */
    R_REFUSED,   /* a DEALER whose handshake must fail */
    R_SUB_REFUSED, /* a SUB whose handshake must fail */
    R_SUB_DASHBOARD, /* the stream's rightful reader: a check that it flows */
} role_t;

/* An error foreseen for a message sent unmutated (policy_refusal): the
 * replies to its seq must include it. */
typedef struct {
    uint64_t seq, message; /* message: the attacker's count before it */
    int code;
    bool got;
} foreseen_t;

#define FORESEEN 1024 /* more than WINDOW, the messages awaiting their reply */

typedef struct {
    const char *name;
    role_t role;
    bool workers; /* on the workers socket (templates of that socket) */
    void *ctx, *sock, *mon; /* ctx: to connect anew */
    const char *endpoint;
    const miz_curve_t *curve;
    const unsigned *weight; /* per tkind_t */
    uint64_t quota;         /* frames to send */
    uint64_t frames, messages, replies, unanswerable, unsolicited;
    uint64_t by_x[N_X];
    uint64_t seq;
    uint64_t handshakes, refusals, disconnects; /* from the socket monitor */
    uint64_t connections, refusals_before; /* R_*REFUSED: sockets opened; refusals then */
    uint64_t safe_registers, registered, full_snapshots;
    /* probe: the seq of a flooder's marker or an oversize peer's probe
     * until its reply comes (R_XSUB: 1 until its marker's counters), else
     * 0. A flooder's messages before its marker (marker_at) are then all
     * answered (confirmed). */
    uint64_t probe, probe_sent_at, cycles, marker_at, confirmed;
    bool final_marker; /* sent after the quota: its reply ends the flood */
    uint64_t batch; /* R_XSUB: frames on this connection */
    bool marked;    /* R_XSUB: the marker is sent on this connection */
    /* R_SUB_DASHBOARD */
    uint64_t events, counters, last_event_seq, run;
    /* flooders: the error policy_refusal foresees for the message made
     * last (-1: none), and those sent, checked as markers confirm them */
    int refusal;
    foreseen_t foreseen[FORESEEN];
    uint64_t n_foreseen, n_checked;
} attacker_t;

/* template weights of each sort of attacker */
extern const unsigned w_gateway[N_T], w_dashboard[N_T], w_power[N_T], w_water[N_T];

/* error replies the attackers got, by miz_error_t */
extern uint64_t code_count[MIZ_ERR_COUNT];
/* The rogue gateway's resubmissions of the good gateway's client_refs:
 * the contract makes client_ref broker-wide, so they are accepted as
 * duplicates naming the good request (never its status or outcome). */
extern uint64_t cross_key_duplicates;

void attacker_open(attacker_t *a, void *ctx, const char *ep, const miz_curve_t *cv);
void attacker_close(attacker_t *a);
/* A refused peer whose connection was refused opens another, up to max. */
bool refused_again(attacker_t *a, void *ctx, uint64_t max);
/* Reads what has come for an attacker; true if a reply did. */
bool attacker_read(attacker_t *a);
/* Sends a turn's worth; true if anything went. */
bool attacker_send(attacker_t *a, frame_t *f);
/* An oversize peer's turn. */
bool oversize_step(attacker_t *a, frame_t *f);
/* Raw bytes straight into one of mizd's ipc sockets. */
void raw_garbage(const char *endpoint);

bool is_str(const msgpack_object *o, const char *s);
bool get_uint(const msgpack_object *map, const char *key, uint64_t *v);

/* ---- what the attackers hear (barrage_check.c) ---- */

/* One message from mizd to an attacker, checked; whether it is a direct
 * reply (one per command). */
bool check_message(attacker_t *a, const msgpack_object *root);
/* The error policy_refusal foresees for the unmutated message in f, into
 * a->refusal; remembered once it is sent. */
void foresee_refusal(attacker_t *a, const frame_t *f);
void remember_refusal(attacker_t *a);
/* A reply to seq: an error (code), or not (-1). */
void refusal_heard(attacker_t *a, uint64_t seq, int code);
/* After a marker confirmed the messages before it: each foreseen refusal
 * among them came. */
void refusals_check(attacker_t *a);

#endif

/* msggen: the protocol's commands as a hostile peer sends them, valid and
 * mutated; shared by the barrage (tests/integration/test_barrage.c) and the
 * seed generator of fuzz_wire (tests/fuzz/wire_seeds.c).
 *
 * A template (tkind_t) is one command, or a command on the wrong socket, an
 * unknown type, a wrong version...: build() fills a tmsg_t with its fields,
 * taking every command's type, each field's key and the limits from
 * lib/proto.h. pack_msg() packs it with one mutation (xkind_t). Every choice
 * comes from one splitmix64 stream, so a seed replays what is generated. */
#ifndef MIZ_TEST_MSGGEN_H
#define MIZ_TEST_MSGGEN_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* broker.max_message of the tables the big templates are made for */
#define MG_MAX_MESSAGE 131072

/* ---- randomness: splitmix64 ---- */

void mg_seed(uint64_t seed);
uint64_t rnd(void);
size_t below(size_t n);                    /* 0..n-1; 0 when n is 0 */
size_t pick(const unsigned *w, size_t n); /* an index, by the weights w[0..n) */

/* ---- what the peers have seen: the ids a template may name ---- */

#define MG_RING 256

typedef struct {
    /* recent: the good gateway's trackings and client_ref tokens, the
     * deliveries the good workers hold */
    uint64_t trackings[MG_RING], deliveries[MG_RING], tokens[MG_RING];
    size_t n_trackings, n_deliveries, n_tokens;
    uint64_t max_tracking;
} mg_targets_t;

void remember(uint64_t *ring, size_t *n, uint64_t v);
/* One of the last MG_RING remembered; 1 to 8 when none is. */
uint64_t recall(const uint64_t *ring, size_t n);

/* ---- message templates ---- */

typedef enum {
    /* the clients socket's commands */
    T_SUBMIT,          /* a valid submission */
    T_SUBMIT_REF,      /* with a client_ref of the rogue's own, often repeated */
    T_SUBMIT_GOOD_REF, /* with the client_ref of a request the good gateway made */
    T_SUBMIT_NO_ROUTE,
    T_SUBMIT_BIG,      /* payload near or over MIZ_PAYLOAD_MAX */
    T_STATUS_GOOD,     /* status of the good gateway's request */
    T_STATUS_ANY,
    T_SNAPSHOT,        /* since far ahead: every open request only */
    T_SNAPSHOT_ALL,    /* every request the store has */
    T_PING,
    /* the workers socket's */
    T_REG_WATER,
    T_REG_POWER,
    T_REG_OTHER,
    T_REG_SAFE,        /* water, for a topic no route has: never holds anything */
    T_ACK,
    T_ANSWER,
    T_PROGRESS,
    T_REFUSE,
    T_HEARTBEAT,
    T_BYE,
    /* either */
    T_VERSION,
    T_LONG_TYPE,
    T_UNKNOWN_TYPE,
    T_WORKER_CMD,      /* register or ack, on the clients socket */
    T_CLIENT_CMD,      /* submit or ping, on the workers socket */
    N_T
} tkind_t;

extern const char *const t_names[N_T];

typedef enum { V_STR, V_UINT, V_TOPICS, V_PAYLOAD } vkind_t;

typedef struct {
    const char *key;
    vkind_t kind;
    const char *s; /* V_TOPICS: topics separated by '|'; V_PAYLOAD: its text */
    size_t len;
    uint64_t u;
} fld_t;

typedef struct {
    fld_t f[8]; /* type and seq first, as libmiz sends them */
    size_t n;
    bool heartbeat_or_bye; /* may get no reply at all, as a valid one gets none */
} tmsg_t;

/* The sample text of payloads: Persian, multibyte UTF-8. */
extern const char mg_persian[];
/* MG_MAX_MESSAGE bytes of 'x' (mg_seed fills it), for big payloads and frames */
extern char big_text[MG_MAX_MESSAGE];

/* Template t with that seq; the ids it names come from w. The strings m
 * points to live until the next build. */
void build(tmsg_t *m, tkind_t t, uint64_t seq, const mg_targets_t *w);

/* ---- packing, with one mutation ---- */

typedef enum {
    X_VALID,
    X_FLIP,    /* 1-8 bits flipped */
    X_TRUNC,   /* cut short, down to nothing */
    X_FRAMES,  /* more frames after the message */
    X_HUGE,    /* a container or string announcing far more than is there */
    X_DEEP,    /* nesting from 1 to thousands of levels */
    X_TYPE,    /* a field of the wrong msgpack type */
    X_UTF8,    /* invalid UTF-8 in a value or a key */
    X_SHAPE,   /* not a map, repeated or non-string keys, trailing bytes, 0xc1 */
    X_RANDOM,  /* bytes */
    N_X
} xkind_t;

extern const unsigned x_weight[N_X];
extern const char *const x_names[N_X];

typedef struct {
    msgpack_sbuffer sb;
    msgpack_packer pk;
    size_t extra; /* frames after the first: 0-3 */
} frame_t;

void frame_init(frame_t *f);
void frame_destroy(frame_t *f);
void put_raw(msgpack_sbuffer *sb, const void *p, size_t n);
/* Packs m with mutation x into f->sb. */
void pack_msg(frame_t *f, const tmsg_t *m, xkind_t x);

#endif

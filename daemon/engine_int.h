/* engine_int: the engine's types, shared by the files that make it up.
 *
 * The engine is one struct and the objects it owns: requests, their
 * deliveries, workers, agencies. Each file of the engine holds one concern
 * (outbox.c sends, delivery.c is the state machine, escalation.c the
 * deadlines' consequences, commit.c the group commit, ...) and they meet
 * here, as Redis's files meet in server.h. Who may change a field, and the
 * invariants that tie derived figures to the objects, are said beside the
 * field; engine_check (check.c) verifies them after every turn in test and
 * sanitizer builds. Nothing outside daemon/engine*.c, the engine's files and
 * its unit test includes this header. */
#ifndef MIZ_ENGINE_INT_H
#define MIZ_ENGINE_INT_H

#include <msgpack.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "deadline.h"
#include "writer.h"
#include "engine.h"
#include "cert.h"
#include "idmap.h"
#include "proto.h"
#include "refcache.h"
#include "topic.h"
#include "wire.h"

#define ENGINE_HOLDER_IDLE_MS (24 * 3600 * 1000) /* a client routing id's key is forgotten */
#define ENGINE_PURGE_EVERY_MS 60000 /* how often old closed requests are purged, at most */
#define ENGINE_PURGE_BATCH 2000     /* records deleted per purge step: the loop never stalls */
#define ENGINE_REF_KEY_MAX (MIZ_KEY_LEN + 1 + MIZ_REF_MAX)
#define ENGINE_COMMIT_JOIN_MS 1 /* how long a turn that owes no peer a reply waits to join one */

typedef struct worker worker_t;
typedef struct request request_t;
typedef struct delivery delivery_t;
typedef struct snapshot snapshot_t;

/* A delivery's two deadlines, in one heap: the timer's tag says which, and
 * so where in its delivery it sits. */
enum { DTIMER_ACK, DTIMER_ANSWER };
typedef dl_timer_t dtimer_t;

typedef struct {
    uint64_t at;
    uint32_t worker;
    uint8_t event; /* miz_event_t */
} hist_t;

/* An intrusive list of deliveries: an agency's queue or a worker's holding.
 * n is its length. */
typedef struct {
    delivery_t *head, *tail;
    size_t n;
} dqueue_t;

struct delivery {
    uint64_t id;
    request_t *req;
    delivery_t *prev, *next; /* in its agency's queue (queued) or its holder's list (held) */
    worker_t *holder;        /* non-NULL exactly when offered or acked */
    uint64_t from;           /* the delivery it was made from, or 0 */
    uint64_t created, ack_by, answer_by; /* wall clock ms; 0: no deadline */
    dtimer_t ack_timer;    /* armed exactly while offered, or queued and held back */
    dtimer_t answer_timer; /* armed while open, answering a branch and not yet overdue */
    char *outcome, *text, *note;
    char *by; /* the name of the worker that last answered, refused or reported on it */
    hist_t *hist; /* hist1 while cap_hist is 1, else on the heap (xgrow) */
    uint32_t n_hist, cap_hist;
    uint32_t agency; /* the engine's agency index */
    uint16_t attempts, branch;
    uint8_t role;  /* miz_role_t */
    uint8_t state; /* miz_state_t: changed only by delivery_transition */
    uint8_t level;
    uint8_t reason; /* why an escalation or breach copy exists: 1 + miz_copy_reason_t; 0: none */
    bool overdue, escalated;
    bool held_back; /* queued, not to be offered before its ack_timer fires (release) */
    hist_t hist1;
};

/* A routing table and where its agencies sit among the engine's. A reload
 * makes a new one; an old one lives on while requests routed by it are
 * open, so they keep the route they had. */
typedef struct {
    table_t *table;
    uint32_t *agency; /* the table's agency index -> the engine's */
    size_t refs;      /* requests routed by it, plus one while current */
} routing_t;

struct request {
    uint64_t tracking;
    routing_t *routing;
    const route_t *route; /* in routing->table */
    const char *topic, *kind, *client_ref; /* client_ref may be NULL */
    const char *submitter; /* the CURVE key that submitted it, or NULL */
    /* its own allocation; NULL (only in the store, payload.c) only with a
     * store, while not dirty and none of its deliveries held */
    unsigned char *payload;
    const unsigned char *client_id; /* routing id of the submitter */
    const unsigned *observers;      /* the engine's agency indices */
    uint32_t payload_len;           /* <= MIZ_PAYLOAD_MAX */
    uint16_t topic_len;             /* <= MIZ_TOPIC_MAX */
    uint16_t client_id_len;         /* <= 255, ZeroMQ's limit */
    uint16_t n_observers;           /* <= TABLE_MAX_AGENCIES */
    /* the small fields fill the hole before created: 168 bytes, and with
     * what the benchmark's requests copy in, one allocation of 208, not 224 */
    uint8_t prio;    /* priority_t */
    bool dirty;      /* changed this turn: on the engine's dirty list, written when it ends */
    bool ref_stored; /* its client_ref is in the store */
    bool confirm;    /* its submitter confirms the outcome (submit's "confirm") */
    bool committing; /* in the batch in flight: not to be freed until it lands */
    bool outcome_pending; /* closed, outcome not yet confirmed: on its gateway's list */
    uint64_t created, closed; /* closed: 0 while open */
    delivery_t **dels;        /* targets first, one per branch, in branch order */
    uint32_t n_dels, cap_dels; /* dels is &del1 while cap_dels is 1, else on the heap (xgrow) */
    uint32_t open;    /* = its deliveries in an open state, of any role */
    uint32_t settled; /* bit per target branch */
    request_t *next_closed, *next_dirty;
    struct pending *pending; /* non-NULL exactly while outcome_pending */
    delivery_t *del1;
};

/* A request whose outcome waits for its gateway's confirmation: apart from
 * the request, as few ask for it. */
typedef struct pending {
    request_t *prev, *next; /* in its gateway's list, oldest first */
    uint64_t sent;          /* monotonic ms it was last sent; 0: not since start */
} pending_t;

/* A gateway with outcomes it has not confirmed: known by its CURVE key, or
 * without CURVE by its routing id. */
typedef struct {
    unsigned char id[256];
    size_t id_len;
    request_t *head, *tail; /* pending outcomes, in closing order */
    size_t n;               /* = length of the list */
    uint64_t dropped;       /* given up on, past broker.pending_outcomes or retention */
} gateway_t;

struct worker {
    unsigned char *rid;
    size_t rid_len;
    char key[41]; /* the CURVE key it registered with; "" without CURVE */
    uint32_t serial;
    uint32_t agency;
    char name[MIZ_NAME_MAX + 1];
    char *topics[MIZ_WORKER_TOPICS_MAX];
    size_t n_topics; /* 0: every topic of the agency */
    uint32_t credit; /* a credit command may lower it below held */
    uint32_t held;   /* = holding.n */
    bool quiet;    /* no "ok" for commands that succeed: errors only */
    dqueue_t holding; /* the deliveries it was offered or acked */
    uint64_t last_recv, last_send; /* monotonic ms */
    size_t slot;                   /* index in the agency's worker array while alive */
    bool dead;                     /* killed; out of its agency, freed when the turn ends */
    worker_t *next_dead;
};

/* An agency as the engine knows it: every agency of every table loaded
 * since start, so deliveries to one a reload removed can still be served. */
typedef struct {
    char *id;
    dqueue_t queue[PRIO_COUNT]; /* its queued deliveries, by priority */
    worker_t **workers;         /* alive workers, each at its slot */
    size_t n_workers, cap_workers;
    size_t rr;      /* round-robin cursor */
    uint64_t spare; /* = sum of worker_spare over its workers */
    size_t open;    /* = its deliveries in an open state */
    size_t overdue; /* = those of them that are overdue */
} agency_rt_t;

/* Which key last spoke with a client routing id (CURVE): an outcome goes
 * to a routing id only while the key that submitted holds it. */
typedef struct {
    unsigned char rid[256];
    size_t rid_len;
    char key[41];
    uint64_t seen; /* monotonic ms */
} holder_t;

/* A peer's submissions allowance (broker.rate_limit): a token bucket. */
typedef struct {
    unsigned char key[64]; /* its CURVE key, or its routing id */
    size_t len;
    double tokens;
    uint64_t at; /* monotonic ms of the last refill */
} bucket_t;

/* The peer whose message is being handled, so replies know where to go. */
typedef struct {
    engine_socket_t socket;
    const unsigned char *rid;
    size_t rid_len;
    uint64_t seq;
    bool has_seq;
    worker_t *worker;
    bool secure;                  /* it came over CURVE: what it may do depends on its key */
    const principal_t *principal; /* its key, if mizd (still) knows it */
} peer_t;

struct engine {
    engine_io_t io;
    routing_t *routing; /* the current table, for new submissions */
    const broker_conf_t *conf;
    uint64_t heartbeat_ms; /* as announced to workers at start */
    log_level_t log_level;
    const auth_t *auth; /* CURVE keys, or NULL */
    idmap_t *buckets;   /* bucket_t by peer, with broker.rate_limit */
    idmap_t *holders;   /* holder_t by client routing id, under CURVE */
    idmap_t *gateways;  /* gateway_t by identity, while it has pending outcomes or drops */
    uint64_t run;       /* wall ms this engine started: tells subscribers of a restart */
    msgpack_sbuffer ev; /* an event being packed, apart from out */
    msgpack_packer ev_pk;
    dl_heap_t *heap;
    idmap_t *requests, *deliveries, *worker_map;
    agency_rt_t *agencies;
    size_t n_agencies;
    store_counters_t next; /* the numbers handed out next: tracking, delivery, event seq */
    uint32_t next_worker_serial;
    size_t open_requests; /* = requests in memory not closed */
    size_t n_closed;      /* = length of the closed list */
    request_t *closed_head, *closed_tail; /* closed requests in memory, in closing order */
    worker_t *dead; /* killed this turn, reaped at its end */
    msgpack_sbuffer out, scratch;
    msgpack_zone zone;     /* the message being handled (command_dispatch) */
    msgpack_packer pk;     /* over out */
    wire_map_t msg;        /* the message being packed in out */
    uint64_t now, now_wall; /* read once per turn */
    peer_t peer;
    store_t *store;     /* NULL: state in memory only */
    bool payload_at_rest; /* idle requests' payloads are in the store only (payload.c) */
    bool store_failed;  /* the last commit failed: submissions are refused */
    request_t *dirty;   /* requests to write when the turn ends, in order of first change */
    request_t **dirty_tail;
    idmap_t *refs;      /* client_ref -> request, for the requests in memory */
    /* With a remote store that lists its refs, every ref key first used
     * within the dedup window (and maybe older ones): only those are asked
     * of the store. NULL: every ref not in refs is asked (refcache.c) */
    refcache_t *refcache;
    uint64_t last_purge;
    uint64_t last_work; /* monotonic ms of the last command other than a heartbeat */
    bool stopping;      /* submissions are refused */
    snapshot_t *snapshots; /* reading the store a part per turn */
    size_t n_snapshots;
    /* What a turn sends, held until its changes are on disk: [socket u8]
     * [routing id length u32][routing id][body length u32][body]; staged
     * behind the batch in flight, whose own outbox is sealed */
    msgpack_sbuffer outbox, sealed;
    bool outbox_owed;    /* the staged outbox holds a message to a peer, not only events */
    uint64_t join_until; /* monotonic ms: a staged turn that owes no peer a reply waits
                          * until then to share the commit of one that does (0: none) */
    writer_t *writer;        /* commits batches (commit.c) */
    batch_t batch;           /* the batch in flight, or the last one */
    request_t **committing;  /* the requests of the batch in flight */
    size_t n_committing, cap_committing;
    char commit_err[256];    /* why the last commit failed */
    /* For the counters (protocol.md 8.1): the batches committed since mizd
     * started (not those that failed, nor the loop's own lease renewals)
     * and the microseconds they took, and the slowest since the counters
     * last went out (reset then) */
    uint64_t commits, commit_us, commit_max_us;
    /* The lease of a shared store (docs/ha.md): every commit checks its
     * epoch and renews it, an idle engine commits nothing to renew it, and
     * nothing goes out while it may have lapsed. lease_until is when it
     * surely still holds: the start of the last commit that renewed it,
     * plus lease_ms (the store's expiry counts from later). */
    bool shared;
    uint64_t epoch;         /* 0: not shared */
    uint64_t lease_ms, lease_until, commit_began; /* monotonic ms */
    bool deposed;           /* another mizd took the lease: nothing more goes out */
    bool out_promise; /* the message being built tells of state that must be durable */
    uint64_t check_budget; /* engine_check runs when its cost fits (check.c) */
    log_limit_t error_lines, forbidden_lines;
};

#define LOG(e, lvl, ...) LOG_IF((e)->log_level, lvl, __VA_ARGS__)

/* LOG of what a peer can make happen at will: at most so many a second */
#define LOG_PEER(e, limit, ...)                                                                    \
    do {                                                                                           \
        if ((limit)->level <= (e)->log_level && log_limit_pass(limit))                             \
            log_line((limit)->level, __VA_ARGS__);                                                 \
    } while (0)

/* A broken invariant: a bug, never bad input. Logs and aborts, in every build. */
#define ENGINE_BUG(...)                                                                            \
    do {                                                                                           \
        log_line(LOG_ERROR, "BUG: " __VA_ARGS__);                                                  \
        abort();                                                                                   \
    } while (0)

/* ---- xalloc.c: allocation failure in the core is fatal, as in Redis ---- */
void *xrealloc(void *p, size_t size);
void *xcalloc(size_t n, size_t size);
char *xstrndup(const char *s, size_t n);
char *xstrdup(const char *s);
void *xgrow(void *items, const void *room, uint32_t *cap, uint32_t want, size_t size);
void xput(idmap_t *map, const void *key, size_t len, void *value);

/* ---- agency.c: agencies and the routings that index them ---- */
const char *agency_id(const engine_t *e, uint32_t agency);
int agency_find(const engine_t *e, const char *id, size_t n);
uint32_t agency_intern(engine_t *e, const char *id, size_t n);
uint32_t route_agency(const request_t *r, unsigned i);
routing_t *routing_new(engine_t *e, table_t *t);
void routing_release(routing_t **g);

/* ---- outbox.c: messages, replies and the turn's outbox ---- */
wire_map_t *msg_begin(engine_t *e, miz_message_t type);
wire_map_t *reply_begin(engine_t *e, miz_message_t type);
void reply_send(engine_t *e);
int send_worker(engine_t *e, worker_t *w);
void send_client(engine_t *e, const void *rid, size_t rid_len);
void reply_error(engine_t *e, miz_error_t code, uint64_t delivery, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void reply_busy(engine_t *e, uint64_t retry_ms, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void reply_ok(engine_t *e, uint64_t delivery, bool duplicate);
void outbox_publish(engine_t *e, miz_stream_topic_t topic, const void *body, size_t len);
void outbox_flush(engine_t *e, msgpack_sbuffer *box);
void outbox_write_raw(msgpack_sbuffer *box, const void *p, size_t n);

/* ---- event.c: the one place a transition is recorded ---- */
void event_emit(engine_t *e, request_t *r, delivery_t *d, miz_event_t type, const worker_t *w);
void event_mark_dirty(engine_t *e, request_t *r);
void event_history_add(delivery_t *d, hist_t h);
void event_publish_counters(engine_t *e);

/* ---- worker.c: the worker registry and fair dispatch ---- */
worker_t *worker_pick(agency_rt_t *a, const request_t *r);
uint32_t worker_spare(const worker_t *w);
void worker_set_credit(engine_t *e, worker_t *w, uint32_t credit);
worker_t *worker_add(engine_t *e, uint32_t agency);
void worker_kill(engine_t *e, worker_t *w, const char *why);
void worker_free(worker_t *w);
void workers_reap(engine_t *e);
void workers_heartbeat(engine_t *e);
void workers_drop_revoked(engine_t *e);

/* ---- delivery.c: the delivery state machine ---- */
bool delivery_is_open(const delivery_t *d);
bool delivery_answers_branch(const delivery_t *d);
const char *delivery_reason(const delivery_t *d);
delivery_t *delivery_new(engine_t *e, request_t *r, uint32_t agency, miz_role_t role,
                         uint16_t branch, uint8_t level, uint64_t from);
delivery_t *delivery_alloc(request_t *r);
void delivery_transition(engine_t *e, delivery_t *d, miz_state_t to);
void delivery_enqueue(engine_t *e, delivery_t *d, bool front);
void delivery_release(engine_t *e, delivery_t *d);
void delivery_finish(engine_t *e, delivery_t *d, miz_state_t state);
void delivery_acknowledge(engine_t *e, delivery_t *d);
void delivery_cancel(engine_t *e, delivery_t *d, miz_cancel_reason_t reason);
void delivery_arm_at(engine_t *e, dtimer_t *t, uint64_t at);
delivery_t *delivery_of_timer(dtimer_t *t);
void delivery_hold_back(engine_t *e, delivery_t *d, uint64_t ms);
void agency_dispatch(engine_t *e, uint32_t agency);
void dq_push(dqueue_t *q, delivery_t *d, bool front);
void dq_remove(dqueue_t *q, delivery_t *d);

/* ---- escalation.c: branches, escalation and the deadlines' consequences ---- */
void branch_update(engine_t *e, delivery_t *d);
void delivery_escalate(engine_t *e, delivery_t *d, miz_copy_reason_t reason);
void delivery_take_back(engine_t *e, delivery_t *d);

/* ---- request.c: requests, client references, outcomes ---- */
typedef struct {
    const char *topic, *kind, *ref; /* ref may be NULL */
    size_t topic_len, kind_len, ref_len;
    const char *submitter; /* the key it came with (CURVE), or NULL */
    size_t submitter_len;
    const void *payload, *client_id;
    size_t payload_len, client_id_len;
    const unsigned *observers;
    size_t n_observers;
} request_fields_t;

request_t *request_new(const request_fields_t *f);
void request_drop(request_t *r);
void request_index(engine_t *e, request_t *r);
void request_close(engine_t *e, request_t *r);
void requests_evict_closed(engine_t *e);
void requests_forget_closed_before(engine_t *e, uint64_t before);
void closed_append(engine_t *e, request_t *r);
size_t ref_key(const char *submitter, const char *ref, size_t n, char out[ENGINE_REF_KEY_MAX]);
size_t request_ref_key(const request_t *r, char out[ENGINE_REF_KEY_MAX]);
bool ref_key_eq(const void *value, const void *key, size_t len);
void request_pack_status(engine_t *e, wire_map_t *m, const request_t *r, bool personal);

/* ---- outcome.c: every outcome reaches its gateway ---- */
void outcome_send(engine_t *e, request_t *r);
void outcome_pend(engine_t *e, request_t *r);
void outcome_give_up(engine_t *e, request_t *r);
void outcomes_resend(engine_t *e);
void outcomes_pack_counters(const engine_t *e, wire_map_t *m);
bool gateway_key_eq(const void *value, const void *key, size_t len);
void gateways_free(engine_t *e);

/* ---- record.c: a request as the store keeps it ---- */
void record_pack(engine_t *e, msgpack_packer *pk, const request_t *r);
request_t *record_decode(engine_t *e, const void *data, size_t len, bool with_payload,
                         const char **why);
const char *record_payload(const void *data, size_t len, const void **payload, size_t *n);

/* ---- payload.c: a request's payload, in memory or only in the store ---- */
bool payload_load(engine_t *e, request_t *r);
void payload_rest(engine_t *e, request_t *r);
bool payload_held(const request_t *r);

/* ---- recovery.c: reading the store ---- */
int recovery_load(engine_t *e, uint64_t tracking, request_t **r);
int recovery_run(engine_t *e, char *err, size_t errlen);

/* ---- commit.c: the group commit and the purge ---- */
void commit_advance(engine_t *e);
/* When the lease of a shared store wants renewing (monotonic ms), if an
 * engine_next_deadline must wake for it. */
bool commit_lease_renewal(const engine_t *e, uint64_t *at);
/* When staged changes waiting to join a later turn's commit commit anyway. */
bool commit_join_due(const engine_t *e, uint64_t *at);
/* At a turn's beginning: a lease that may have lapsed is renewed first. */
void commit_lease_check(engine_t *e);
void commit_purge(engine_t *e);

/* ---- peer.c: what the engine remembers of peers ---- */
void peer_client_seen(engine_t *e);
bool peer_outcome_deliverable(const engine_t *e, const request_t *r);
bool peer_within_rate_or_reply(engine_t *e);
void peers_forget_idle(engine_t *e);
bool holder_key_eq(const void *value, const void *key, size_t len);
bool bucket_key_eq(const void *value, const void *key, size_t len);
void peers_free(engine_t *e);

/* ---- command.c: the command table ---- */

/* A command's fields, read and checked before its handler runs. */
typedef struct {
    bool present;
    const char *s; /* MIZ_FT_STR; not NUL-terminated */
    size_t n;
    uint64_t u; /* MIZ_FT_UINT, MIZ_FT_DELIVERY */
    bool b;     /* MIZ_FT_BOOL */
} field_value_t;

typedef struct {
    const wire_msg_t *msg;
    field_value_t *f; /* indexed by miz_field_t */
    delivery_t *held; /* the delivery a MIZ_FT_DELIVERY field names, held by the worker */
    /* or, for a MIZ_CMD_REPEATABLE command, the one it names that the worker's
     * agency has finished (maybe read from the store for it: stored) */
    const delivery_t *finished;
    request_t *stored;
} command_args_t;

void command_dispatch(engine_t *e, const void *data, size_t size);
void command_repeat_or_reply(engine_t *e, const delivery_t *d, bool same);
/* Whether every command of proto.h has a handler. */
bool command_table_complete(void);

/* ---- cmd_client.c, snapshot.c, cmd_worker.c: the handlers ---- */
void cmd_submit(engine_t *e, const command_args_t *a);
void cmd_status(engine_t *e, const command_args_t *a);
void cmd_ping(engine_t *e, const command_args_t *a);
void cmd_confirm(engine_t *e, const command_args_t *a);
void cmd_snapshot(engine_t *e, const command_args_t *a);
void cmd_register(engine_t *e, const command_args_t *a);
void cmd_ack(engine_t *e, const command_args_t *a);
void cmd_answer(engine_t *e, const command_args_t *a);
void cmd_progress(engine_t *e, const command_args_t *a);
void cmd_refuse(engine_t *e, const command_args_t *a);
void cmd_release(engine_t *e, const command_args_t *a);
void cmd_credit(engine_t *e, const command_args_t *a);
void cmd_heartbeat(engine_t *e, const command_args_t *a);
void cmd_bye(engine_t *e, const command_args_t *a);
void snapshots_destroy(engine_t *e);

/* ---- check.c ---- */
void check_after_turn(engine_t *e);

#endif

/* proto: the protocol's vocabulary, defined once.
 *
 * docs/protocol.md is the contract; this header is its index in C. Every
 * command a peer sends (its socket, the key roles that may send it, its
 * fields with type, presence and limit), every message the broker sends
 * (and whether it is a promise, held until the change it tells of is on
 * disk), the error codes, and the names of events, delivery states, roles,
 * priorities and key roles are rows of the X-macro lists below. The daemon,
 * libmiz, the event stream reader, the fuzz seeds and the tests take their
 * names and limits from here, so adding a command is a row, a handler, its
 * docs and its test (docs/hacking.md). */
#ifndef MIZ_PROTO_H
#define MIZ_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- limits (bytes, unless said otherwise) ---- */

#define MIZ_PROTOCOL_VERSION 1
#define MIZ_TYPE_MAX 32
#define MIZ_TOPIC_MAX 255
#define MIZ_KIND_MAX 32
#define MIZ_PRIORITY_MAX 16
#define MIZ_REF_MAX 128
#define MIZ_AGENCY_MAX 64
#define MIZ_NAME_MAX 64
#define MIZ_OUTCOME_MAX 64
#define MIZ_TEXT_MAX 16384    /* text, note, reason */
#define MIZ_PAYLOAD_MAX 65536 /* the payload once re-encoded */
#define MIZ_CREDIT_MAX 10000  /* credits: 1 to this */
#define MIZ_CREDIT_DEFAULT 10
#define MIZ_WORKER_TOPICS_MAX 16
#define MIZ_RELEASE_DELAY_MAX 86400000 /* ms a released delivery may be held back, at most */
#define MIZ_ERROR_TEXT_MAX 511 /* an error's "message" */
#define MIZ_SNAPSHOT_PART 256  /* requests per snapshot message */
#define MIZ_SNAPSHOTS_MAX 8    /* snapshots read from the store at once */
#define MIZ_RETRY_AFTER_MS 1000 /* retry_after_ms of unavailable, and busy from max_open */
#define MIZ_LIVENESS 3          /* heartbeats a worker may miss before it is dropped */
#define MIZ_OUTCOMES_RESENT_MAX 256 /* pending outcomes sent again per message of their gateway */

/* ---- names ----
 * Each list gives an enum (MIZ_<LIST>_<ID>, then a _COUNT) and a table of
 * the names the wire uses, in the same order. */

/* error codes (protocol.md section 4) */
#define MIZ_ERRORS(X)                                                                              \
    X(MALFORMED, "malformed")                                                                      \
    X(BAD_UTF8, "bad_utf8")                                                                        \
    X(BAD_FIELD, "bad_field")                                                                      \
    X(TOO_LARGE, "too_large")                                                                      \
    X(VERSION, "version")                                                                          \
    X(UNKNOWN_TYPE, "unknown_type")                                                                \
    X(NOT_REGISTERED, "not_registered")                                                            \
    X(UNKNOWN_TOPIC, "unknown_topic")                                                              \
    X(BUSY, "busy")                                                                                \
    X(FORBIDDEN, "forbidden")                                                                      \
    X(UNAVAILABLE, "unavailable")                                                                  \
    X(UNKNOWN_TRACKING, "unknown_tracking")                                                        \
    X(UNKNOWN_AGENCY, "unknown_agency")                                                            \
    X(UNKNOWN_DELIVERY, "unknown_delivery")                                                        \
    X(NOT_HELD, "not_held")

/* events on the stream and in a delivery's history (section 5) */
#define MIZ_EVENTS(X)                                                                              \
    X(RECEIVED, "received")       /* request accepted (delivery 0) */                              \
    X(QUEUED, "queued")           /* delivery created and waiting for a worker */                  \
    X(OFFERED, "offered")         /* sent to a worker */                                           \
    X(ACKED, "acked")             /* claimed by the worker */                                      \
    X(PROGRESS, "progress")       /* the worker reported progress */                               \
    X(ANSWERED, "answered")       /* answered; settles the delivery's branch */                    \
    X(REFUSED, "refused")         /* the worker said "not ours" */                                 \
    X(REDELIVERED, "redelivered") /* taken back (ack timeout, worker gone) and queued again */     \
    X(EXPIRED, "expired")         /* no ack after max_attempts offers */                           \
    X(OVERDUE, "overdue")         /* answer deadline missed; stays overdue until answered */       \
    X(ESCALATED, "escalated")     /* an escalation delivery was made from this one */              \
    X(SEEN, "seen")               /* an observer copy was acknowledged */                          \
    X(SUPERSEDED, "superseded")   /* closed because another delivery settled its branch */        \
    X(CLOSED, "closed")           /* every branch settled; outcome sent (delivery 0) */

/* delivery states (5.2): the first three are open, the rest final */
#define MIZ_STATES(X)                                                                              \
    X(QUEUED, "queued")                                                                            \
    X(OFFERED, "offered")                                                                          \
    X(ACKED, "acked")                                                                              \
    X(ANSWERED, "answered")                                                                        \
    X(REFUSED, "refused")                                                                          \
    X(EXPIRED, "expired")                                                                          \
    X(SEEN, "seen")                                                                                \
    X(SUPERSEDED, "superseded")

/* request states (5.1) */
#define MIZ_REQUEST_STATES(X) X(OPEN, "open") X(CLOSED, "closed")

/* a delivery's role (5.4) */
#define MIZ_ROLES(X)                                                                               \
    X(TARGET, "target") X(ESCALATION, "escalation") X(OBSERVE, "observe") X(BREACH, "breach")

#define MIZ_PRIORITIES(X) X(ROUTINE, "routine") X(URGENT, "urgent")

/* what a CURVE key may do (security.md) */
#define MIZ_KEY_ROLES(X) X(WORKER, "worker") X(GATEWAY, "gateway") X(DASHBOARD, "dashboard")

/* why an escalation or breach copy exists ("reason" in deliver) */
#define MIZ_COPY_REASONS(X)                                                                        \
    X(OVERDUE, "overdue") X(REFUSED, "refused") X(UNDELIVERABLE, "undeliverable")

/* why a worker lost a delivery ("reason" in cancel) */
#define MIZ_CANCEL_REASONS(X) X(ACK_TIMEOUT, "ack_timeout") X(SUPERSEDED, "superseded")

/* the event stream's PUB topics (section 8.1) */
#define MIZ_STREAM_TOPICS(X) X(EVENT, "event") X(COUNTERS, "counters")

typedef enum {
#define X(id, name) MIZ_ERR_##id,
    MIZ_ERRORS(X)
#undef X
    MIZ_ERR_COUNT
} miz_error_t;

typedef enum {
#define X(id, name) MIZ_EV_##id,
    MIZ_EVENTS(X)
#undef X
    MIZ_EV_COUNT
} miz_event_t;

typedef enum {
#define X(id, name) MIZ_DS_##id,
    MIZ_STATES(X)
#undef X
    MIZ_DS_COUNT
} miz_state_t;

typedef enum {
#define X(id, name) MIZ_RS_##id,
    MIZ_REQUEST_STATES(X)
#undef X
    MIZ_RS_COUNT
} miz_request_state_t;

typedef enum {
#define X(id, name) MIZ_ROLE_##id,
    MIZ_ROLES(X)
#undef X
    MIZ_ROLE_COUNT
} miz_role_t;

typedef enum {
#define X(id, name) MIZ_PRIO_##id,
    MIZ_PRIORITIES(X)
#undef X
    MIZ_PRIO_COUNT
} miz_priority_t;

typedef enum {
#define X(id, name) MIZ_KEY_##id,
    MIZ_KEY_ROLES(X)
#undef X
    MIZ_KEY_ROLE_COUNT
} miz_key_role_t;

typedef enum {
#define X(id, name) MIZ_COPY_##id,
    MIZ_COPY_REASONS(X)
#undef X
    MIZ_COPY_COUNT
} miz_copy_reason_t;

typedef enum {
#define X(id, name) MIZ_CANCEL_##id,
    MIZ_CANCEL_REASONS(X)
#undef X
    MIZ_CANCEL_COUNT
} miz_cancel_reason_t;

typedef enum {
#define X(id, name) MIZ_TOPIC_##id,
    MIZ_STREAM_TOPICS(X)
#undef X
    MIZ_STREAM_TOPIC_COUNT
} miz_stream_topic_t;

extern const char *const miz_error_names[MIZ_ERR_COUNT];
extern const char *const miz_event_names[MIZ_EV_COUNT];
extern const char *const miz_state_names[MIZ_DS_COUNT];
extern const char *const miz_request_state_names[MIZ_RS_COUNT];
extern const char *const miz_role_names[MIZ_ROLE_COUNT];
extern const char *const miz_priority_names[MIZ_PRIO_COUNT];
extern const char *const miz_key_role_names[MIZ_KEY_ROLE_COUNT];
extern const char *const miz_copy_reason_names[MIZ_COPY_COUNT];
extern const char *const miz_cancel_reason_names[MIZ_CANCEL_COUNT];
extern const char *const miz_stream_topic_names[MIZ_STREAM_TOPIC_COUNT];

/* The index of the name s (n bytes) in names[0..count), or -1. */
int miz_name_find(const char *const *names, size_t count, const char *s, size_t n);
#define MIZ_NAME_FIND(table, s, n) miz_name_find(table, sizeof table / sizeof *table, s, n)

/* ---- what peers send ---- */

/* the socket a command is read on */
typedef enum { MIZ_SOCKET_CLIENTS, MIZ_SOCKET_WORKERS } miz_socket_t;

/* key roles as bits, for the roles column */
#define MIZ_KEYS(role) (1u << MIZ_KEY_##role)
#define MIZ_ANY_KEY 0u /* any known key */

/* flags of a command */
#define MIZ_CMD_REGISTERED 1u   /* workers socket: only from a registered worker */
#define MIZ_CMD_RATED 2u        /* counts against broker.rate_limit, after the role check */
#define MIZ_CMD_FIELDS_FIRST 4u /* its fields' types are checked before its key's role */
#define MIZ_CMD_IDLE 8u         /* not work: a stop does not wait for it to end */
#define MIZ_CMD_REPEATABLE 16u  /* on a delivery this worker's agency finished: a repeat of what
                                   was done gets ok with duplicate, anything else not_held */

/* Commands: id, type, socket, the key roles that may send it on an endpoint
 * with CURVE (MIZ_ANY_KEY: any key mizd knows), flags, and what the key
 * "may not" do, for the forbidden reply. */
#define MIZ_COMMANDS(X)                                                                            \
    X(SUBMIT, "submit", CLIENTS, MIZ_KEYS(GATEWAY), MIZ_CMD_RATED, "submit")                       \
    X(STATUS, "status", CLIENTS, MIZ_KEYS(GATEWAY) | MIZ_KEYS(DASHBOARD), 0, "ask for a status")   \
    X(SNAPSHOT, "snapshot", CLIENTS, MIZ_KEYS(DASHBOARD), 0, "read the event stream")              \
    X(PING, "ping", CLIENTS, MIZ_ANY_KEY, 0, "ping")                                               \
    X(CONFIRM, "confirm", CLIENTS, MIZ_KEYS(GATEWAY), 0, "confirm an outcome")                     \
    X(REGISTER, "register", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_FIELDS_FIRST,                       \
      "register as a worker")                                                                      \
    X(ACK, "ack", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED | MIZ_CMD_REPEATABLE, "ack")       \
    X(ANSWER, "answer", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED | MIZ_CMD_REPEATABLE,        \
      "answer")                                                                                    \
    X(PROGRESS, "progress", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED, "report progress")      \
    X(REFUSE, "refuse", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED, "refuse")                   \
    X(RELEASE, "release", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED, "release")                \
    X(CREDIT, "credit", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED, "change its credit")        \
    X(HEARTBEAT, "heartbeat", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED | MIZ_CMD_IDLE,        \
      "send heartbeats")                                                                           \
    X(BYE, "bye", WORKERS, MIZ_KEYS(WORKER), MIZ_CMD_REGISTERED, "say goodbye")

typedef enum {
#define X(id, type, socket, roles, flags, verb) MIZ_CMD_##id,
    MIZ_COMMANDS(X)
#undef X
    MIZ_CMD_COUNT
} miz_command_t;

/* A field's msgpack type. STR, UINT and BOOL are checked (type, limit)
 * before the command's handler runs, in the order of the rows; DELIVERY is
 * a uint that names a delivery the sending worker must hold (looked up and
 * checked there too: unknown_delivery, not_held). ANY and ARRAY are checked
 * by the handler, at the place protocol.md gives them. */
typedef enum {
    MIZ_FT_STR,
    MIZ_FT_UINT,
    MIZ_FT_BOOL,
    MIZ_FT_DELIVERY,
    MIZ_FT_ANY,
    MIZ_FT_ARRAY,
} miz_field_type_t;

/* Fields of commands besides type, v and seq: command, id, key, type,
 * required, limit (a string's bytes, an array's elements, a payload's
 * encoded bytes; 0: none). */
#define MIZ_FIELDS(X)                                                                              \
    X(SUBMIT, TOPIC, "topic", STR, true, MIZ_TOPIC_MAX)                                            \
    X(SUBMIT, KIND, "kind", STR, false, MIZ_KIND_MAX)                                              \
    X(SUBMIT, PRIORITY, "priority", STR, false, MIZ_PRIORITY_MAX)                                  \
    X(SUBMIT, CLIENT_REF, "client_ref", STR, false, MIZ_REF_MAX)                                   \
    X(SUBMIT, PAYLOAD, "payload", ANY, true, MIZ_PAYLOAD_MAX)                                      \
    X(SUBMIT, CONFIRM, "confirm", BOOL, false, 0)                                                  \
    X(STATUS, TRACKING, "tracking", UINT, true, 0)                                                 \
    X(SNAPSHOT, SINCE, "since", UINT, false, 0)                                                    \
    X(CONFIRM, TRACKING, "tracking", UINT, true, 0)                                                \
    X(REGISTER, AGENCY, "agency", STR, true, MIZ_AGENCY_MAX)                                       \
    X(REGISTER, NAME, "name", STR, false, MIZ_NAME_MAX)                                            \
    X(REGISTER, CREDIT, "credit", UINT, false, 0)                                                  \
    X(REGISTER, QUIET, "quiet", BOOL, false, 0)                                                    \
    X(REGISTER, TOPICS, "topics", ARRAY, false, MIZ_WORKER_TOPICS_MAX)                             \
    X(ACK, TRACKING, "tracking", UINT, false, 0)                                                   \
    X(ACK, DELIVERY, "delivery", DELIVERY, true, 0)                                                \
    X(ANSWER, TRACKING, "tracking", UINT, false, 0)                                                \
    X(ANSWER, DELIVERY, "delivery", DELIVERY, true, 0)                                             \
    X(ANSWER, OUTCOME, "outcome", STR, true, MIZ_OUTCOME_MAX)                                      \
    X(ANSWER, TEXT, "text", STR, false, MIZ_TEXT_MAX)                                              \
    X(PROGRESS, DELIVERY, "delivery", DELIVERY, true, 0)                                           \
    X(PROGRESS, NOTE, "note", STR, true, MIZ_TEXT_MAX)                                             \
    X(REFUSE, DELIVERY, "delivery", DELIVERY, true, 0)                                             \
    X(REFUSE, REASON, "reason", STR, false, MIZ_TEXT_MAX)                                          \
    X(RELEASE, DELIVERY, "delivery", DELIVERY, true, 0)                                            \
    X(RELEASE, DELAY_MS, "delay_ms", UINT, false, 0)                                               \
    X(CREDIT, CREDIT, "credit", UINT, true, 0)

typedef enum {
#define X(cmd, id, key, type, required, max) MIZ_F_##cmd##_##id,
    MIZ_FIELDS(X)
#undef X
    MIZ_F_COUNT
} miz_field_t;

typedef struct {
    const char *type;
    miz_socket_t socket;
    unsigned roles; /* bits of 1 << miz_key_role_t; 0: any known key */
    unsigned flags; /* MIZ_CMD_* */
    const char *verb;
} miz_command_info_t;

typedef struct {
    miz_command_t command;
    const char *key;
    miz_field_type_t type;
    bool required;
    size_t max;
} miz_field_info_t;

extern const miz_command_info_t miz_commands[MIZ_CMD_COUNT];
/* A command's fields are the rows of miz_fields that name it, in order. */
extern const miz_field_info_t miz_fields[MIZ_F_COUNT];

/* The command of that type read on socket, or -1. */
int miz_command_find(miz_socket_t socket, const char *type, size_t n);
/* The field of command c with that key, or -1. */
int miz_field_find(miz_command_t c, const char *key);

/* ---- what the broker sends ---- */

/* Messages: id, type, and whether it is a promise: it tells of a state
 * change and so is sent only once that change is on disk (section 1,
 * Durability). The rest may go out while the store is failing. */
#define MIZ_MESSAGES(X)                                                                            \
    X(ACCEPTED, "accepted", true)                                                                  \
    X(STATUS, "status", false)                                                                     \
    X(PONG, "pong", false)                                                                         \
    X(OUTCOME, "outcome", true)                                                                    \
    X(CONFIRMED, "confirmed", true)                                                                \
    X(SNAPSHOT, "snapshot", true)                                                                  \
    X(REGISTERED, "registered", false)                                                             \
    X(DELIVER, "deliver", true)                                                                    \
    X(OK, "ok", true)                                                                              \
    X(CANCEL, "cancel", true)                                                                      \
    X(HEARTBEAT, "heartbeat", false)                                                               \
    X(BYE, "bye", false)                                                                           \
    X(ERROR, "error", false)

typedef enum {
#define X(id, type, promise) MIZ_MSG_##id,
    MIZ_MESSAGES(X)
#undef X
    MIZ_MSG_COUNT
} miz_message_t;

extern const char *const miz_message_names[MIZ_MSG_COUNT];
extern const bool miz_message_promise[MIZ_MSG_COUNT];

#endif

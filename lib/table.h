/* table: the routing table, loaded from YAML and checked in full.
 *
 * The table names the agencies, routes topics to them (fan-out, observers,
 * escalation chains, deadlines) and holds the broker's settings. Loading
 * reports every problem it finds, each as "file:line:column: what is wrong",
 * and yields either a complete valid table or none: a half-loaded table must
 * never route a citizen's request. Anchors, aliases, duplicate and unknown
 * keys are errors. The schema is in docs/routing.md. A loaded table is
 * immutable. */
#ifndef MIZ_TABLE_H
#define MIZ_TABLE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"
#include "workcal.h"

/* PRIO_ROUTINE, PRIO_URGENT: the protocol's priorities (proto.h) */
typedef enum {
#define X(id, name) PRIO_##id = MIZ_PRIO_##id,
    MIZ_PRIORITIES(X)
#undef X
} priority_t;
#define PRIO_COUNT MIZ_PRIO_COUNT

/* its name in miz_priority_names ("routine", "urgent"), or "?" */
const char *priority_name(priority_t p);
/* 0 on success, -1 if s is not a priority name */
int priority_parse(const char *s, size_t n, priority_t *p);

#define TABLE_MAX_AGENCIES 1024
#define TABLE_MAX_ROUTES 4096
#define TABLE_MAX_CHAIN 16  /* agencies in one to/observe/escalate list */
#define TABLE_MAX_SERVICES 256 /* services in one route */

typedef struct {
    const char *id;      /* [a-z0-9_-]{1,MIZ_AGENCY_MAX} */
    const char *name_fa; /* may be "" */
    const char *name_en; /* may be "" */
} agency_t;

/* A topic a route offers to intake gateways that list what may be
 * submitted (miz-open311's services). */
typedef struct {
    const char *code;    /* a topic, without wildcards, that the route's match matches */
    const char *name_fa; /* may be "": then the route's name_fa stands for it */
    const char *name_en; /* may be "": then the route's name_en */
} route_service_t;

typedef struct {
    const char *match;     /* topic pattern */
    const char *when_kind; /* NULL: any kind */
    size_t n_to;           /* 0 for an observe-only route */
    const unsigned *to;    /* agency indices */
    size_t n_observe;
    const unsigned *observe;
    size_t n_escalate;
    const unsigned *escalate;
    priority_t priority;
    uint64_t ack_within_ms;
    uint64_t answer_within_ms;
    unsigned max_attempts; /* offers of one delivery before it escalates */
    const workcal_t *clock; /* deadlines in its working time; NULL: wall clock */
    unsigned line;         /* where the route starts in its file */
    const char *name_fa;   /* its topics' name for people, in Persian; may be "" */
    const char *name_en;   /* and in English; may be "" */
    /* The topics the route offers for submission, in file order, codes
     * unique; only a route with a `to` has any. For gateways' menus: mizd
     * ignores them (any topic the match matches is routed). A route without
     * services offers its own match when that is a literal topic. */
    const route_service_t *services;
    size_t n_services;
} route_t;

/* KEY_WORKER, KEY_GATEWAY, KEY_DASHBOARD: the key roles of proto.h */
typedef enum {
#define X(id, name) KEY_##id = MIZ_KEY_##id,
    MIZ_KEY_ROLES(X)
#undef X
} key_role_t;
/* by its name in miz_key_role_names ("worker", "gateway", "dashboard"):
 * 0, or -1 if s is none */
int key_role_parse(const char *s, size_t n, key_role_t *role);

/* Whether s is an id the table allows (an agency's, a kind, a key's name):
 * 1 to max characters of a-z, 0-9, '_' and '-'. */
bool table_is_name(const char *s, size_t n, size_t max);

/* auto: CURVE on every endpoint that is not loopback (tcp://127.*,
 * tcp://[::1], tcp://localhost, ipc://, inproc://) */
typedef enum { CURVE_AUTO, CURVE_ON, CURVE_OFF } curve_mode_t;

typedef struct {
    const char *name;
    key_role_t role;
    const char *agency;     /* a worker's; NULL otherwise */
    const char *public_key; /* Z85, 40 characters */
} table_key_t;

typedef struct {
    curve_mode_t curve;
    const char *server_cert; /* the broker's secret certificate; NULL: none */
    const char *keys_dir;    /* public certificates (*.key) of peers; NULL: none */
    const table_key_t *keys;
    size_t n_keys;
} security_conf_t;

/* Where requests are kept (docs/storage.md): LMDB, the embedded store of a
 * single server, or PostgreSQL, which several mizd may share (docs/ha.md). */
typedef enum { STORE_LMDB, STORE_POSTGRES } store_kind_t;

typedef struct {
    const char *name;
    const char *clients_endpoint; /* ROUTER for intake gateways */
    const char *workers_endpoint; /* ROUTER for agency workers */
    const char *events_endpoint;  /* PUB of every transition, for dashboards */
    uint64_t heartbeat_ms;        /* both ways; a peer is dead after 3 missed */
    size_t max_message;           /* bytes per frame (ZMQ_MAXMSGSIZE) */
    size_t max_open;              /* open requests before submissions get busy */
    size_t retain_closed;         /* closed requests kept in memory for status queries */
    size_t pending_outcomes;      /* outcomes kept per gateway until it confirms them */
    const char *data_dir;         /* where the LMDB store lives */
    uint64_t retention_ms;        /* closed requests stay on disk this long */
    uint64_t dedup_window_ms;     /* a client_ref seen this recently is a resubmission */
    uint32_t rate_per_second;     /* submissions per peer; 0: no limit */
    uint32_t rate_burst;
    security_conf_t security;
    store_kind_t store_kind;
    const char *store_dsn; /* PostgreSQL: a libpq connection string */
    uint64_t lease_ms;     /* PostgreSQL: how long the active mizd holds the lease */
} broker_conf_t;

typedef struct table table_t;

/* Returns NULL on any error; *errors then holds one "file:line:col: msg" line
 * per problem (malloc'd, caller frees). *errors is NULL on success. */
table_t *table_load(const char *path, char **errors);
/* The same from memory; name is what error messages call the file. */
table_t *table_parse(const char *text, size_t len, const char *name, char **errors);
void table_destroy(table_t **table);

const broker_conf_t *table_conf(const table_t *t);

size_t table_agency_count(const table_t *t);
const agency_t *table_agency(const table_t *t, size_t i);
/* index of the agency with that id, or -1 */
int table_agency_find(const table_t *t, const char *id, size_t n);
/* The names for people of topic (len bytes): the name_fa and name_en of
 * the first route, in table order, that matches it and has either (the
 * other may be ""); false, leaving *fa and *en alone, when none has. */
bool table_topic_names(const table_t *t, const char *topic, size_t len, const char **fa,
                       const char **en);

size_t table_route_count(const table_t *t);
const route_t *table_route(const table_t *t, size_t i);

/* Calendars (routing.md, calendars), in file order. The name of calendar i
 * and where the file names it (1-based line and column); NULL past the end. */
size_t table_calendar_count(const table_t *t);
const char *table_calendar_name(const table_t *t, size_t i, unsigned *line, unsigned *col);
/* Whether calendar i lists a holiday in Jalali year jy. */
bool table_calendar_has_holiday(const table_t *t, size_t i, int jy);
/* The Jalali years whose holidays a calendar should list at now_ms (ms since
 * the epoch), in Tehran time (UTC+03:30): the current year, and from 16
 * Esfand on the next one too, whose official holidays are published by then.
 * Writes them to years[] and returns how many (1 or 2); 0 for an instant at
 * or past WORKCAL_MAX_MS. */
int table_holiday_years_due(uint64_t now_ms, int years[2]);

/* Routes a submission. *route is the first route in table order whose
 * pattern matches the topic, whose `when` (if any) matches the kind, and that
 * has targets; NULL when there is none. observers[] receives the union, in
 * table order and without repeats, of the observe lists of every matching
 * route; *n_observers is its count (observers must have room for
 * TABLE_MAX_AGENCIES entries). */
void table_resolve(const table_t *t, const char *topic, size_t topic_len,
                   const char *kind, size_t kind_len, const route_t **route,
                   unsigned *observers, size_t *n_observers);

/* The weekly reports' schedule (routing.md, reports): miz-dashboard
 * delivers each agency's weekly report on weekday at minute of the day in
 * the offset's time, to a folder, a command and/or a webhook. */
#define TABLE_REPORT_HTML 1u
#define TABLE_REPORT_CSV 2u
typedef struct {
    int weekday;              /* 0 Saturday .. 6 Friday (jalali.h); default Thursday */
    int minute;               /* of the day, 0 .. 1439, in utc_offset's time */
    int utc_offset_min;       /* local time = UTC + this; default +03:30 */
    const unsigned *agencies; /* agency indices; n_agencies 0: every agency */
    size_t n_agencies;
    unsigned formats;         /* TABLE_REPORT_HTML | TABLE_REPORT_CSV */
    const char *folder;       /* NULL: none */
    const char *command;      /* run by /bin/sh -c, the report on its stdin; NULL: none */
    const char *webhook;      /* http://HOST[:PORT]/PATH; NULL: none */
    const char *state;        /* the file of what was delivered */
    uint64_t timeout_ms;      /* of the command and the webhook */
    uint64_t retry_ms;        /* the first wait after a failure, doubled each time */
    uint64_t retry_max_ms;    /* up to this */
    unsigned line;            /* where the section starts */
} table_reports_t;
/* The schedule, or NULL when the table has no `reports`. */
const table_reports_t *table_reports(const table_t *t);

#endif

/* render: the figures (figures.h) as the dashboard serves them and as
 * `miz report` prints them: JSON for the page and the API, Prometheus text,
 * and the weekly report as HTML (Persian, right to left, Jalali dates and
 * Persian digits, with English labels beside) and CSV (ASCII digits, ISO
 * and Jalali dates). docs/dashboard.md shows each format. */
#ifndef MIZ_RENDER_H
#define MIZ_RENDER_H

#include <msgpack.h>
#include <stdbool.h>
#include <stdio.h>

#include "figures.h"
#include "stream.h"
#include "table.h"

typedef struct {
    const char *id, *name_fa, *name_en;
} render_agency_t;

/* The agencies' names, from the routing table; an agency not in it shows
 * its id. */
typedef struct {
    const render_agency_t *v;
    size_t n;
    const table_t *table; /* the topics' names (table_topic_names); NULL: none */
} render_names_t;

/* The live pages (/events), for /metrics. */
typedef struct {
    size_t pages;           /* open now */
    size_t backlog_bytes;   /* written for them and not taken yet, all together */
    uint64_t skipped;       /* updates a page was too far behind to get (counter) */
    uint64_t closed;        /* pages gone: closed, or dropped as stalled (counter) */
} live_stats_t;

/* What the dashboard knows of its own state, for JSON and /metrics. */
typedef struct {
    bool synced;
    bool stale;          /* no counters from the broker for MIZ_LIVENESS heartbeats */
    uint64_t silent_ms;  /* since the broker's latest counters came */
    live_stats_t live;
    miz_stream_stats_t stats;
    size_t requests;                 /* in the replica */
    const msgpack_object *counters;  /* the broker's latest, or NULL */
} render_state_t;

/* {"now", "week", "day_starts", "synced", "agencies": [...], "overdue": [...]} */
void render_figures_json(FILE *out, const figures_t *f, const render_names_t *names,
                         const render_state_t *st);
/* The overdue list alone, as a JSON array; with ages, each case's
 * overdue_ms (else the page works it out from now and answer_by). */
void render_overdue_json(FILE *out, const figures_t *f, const render_names_t *names, bool ages);
/* The parts of the figures JSON, for live pages that get only the parts
 * that changed: the head's fields without braces ("now":...,"requests":N),
 * and agency i's object. */
void render_head_json(FILE *out, const figures_t *f, const render_state_t *st);
void render_agency_json(FILE *out, const figures_t *f, size_t i, const render_names_t *names);
/* s (valid UTF-8) as a JSON string. */
void render_json_str(FILE *out, const char *s);
/* Prometheus text format 0.0.4: the figures of f (the current week), the
 * dashboard's own state and the broker's counters. */
void render_metrics(FILE *out, const figures_t *f, const render_state_t *st);
/* The weekly report of one agency; f spans that week. */
void render_report_html(FILE *out, const figures_t *f, const char *agency,
                        const render_names_t *names);
void render_report_csv(FILE *out, const figures_t *f, const char *agency,
                       const render_names_t *names);
/* The same from r's requests, for the week that starts on day0 (r must
 * reach back FIG_AVG_DAYS before it, for the daily means), the agencies
 * those of names: CSV or HTML. False when the figures cannot be computed. */
bool render_report(FILE *out, const miz_replica_t *r, const char *agency,
                   const render_names_t *names, int day0, uint64_t now, bool csv);

#endif

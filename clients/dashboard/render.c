/* render: the figures (figures.h) as the dashboard serves them to
 * machines and to its page: JSON (whole for /api/figures, in parts for the
 * live pages' patches) and Prometheus text for /metrics. It exists apart
 * from report.c, the weekly report for people (HTML and CSV), because the
 * two change for different readers: this file's output is a contract with
 * the page and with scrapers (docs/dashboard.md lists every field and
 * metric), the report's is a document. The helpers both use (an agency's
 * names, the on-time share, the daily mean, the week's name) are here,
 * declared in render_int.h. */
#include "render_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "jalali.h"
#include "miz.h"
#include "miz_json.h"

static const render_agency_t *render_name_of(const render_names_t *names, const char *id)
{
    for (size_t i = 0; names && i < names->n; i++)
        if (strcmp(names->v[i].id, id) == 0)
            return &names->v[i];
    return NULL;
}

const char *render_name_fa(const render_names_t *names, const char *id)
{
    const render_agency_t *a = render_name_of(names, id);
    return a && *a->name_fa ? a->name_fa : id;
}

const char *render_name_en(const render_names_t *names, const char *id)
{
    const render_agency_t *a = render_name_of(names, id);
    return a && *a->name_en ? a->name_en : id;
}

int render_on_time_permille(const fig_agency_t *a)
{
    uint64_t n = a->on_time + a->missed;
    return n ? (int)((a->on_time * 1000 + n / 2) / n) : -1;
}

/* The 4-week mean in hundredths, rounded. */
uint64_t render_avg_hundredths(const fig_agency_t *a)
{
    return (a->volume_before * 100 + FIG_AVG_DAYS / 2) / FIG_AVG_DAYS;
}

void render_week_name(char *buf, size_t size, int day)
{
    int wy = 0, wk = 0;
    if (!jalali_week_of(day, &wy, &wk) || !jalali_week_format(wy, wk, buf, size))
        snprintf(buf, size, "?");
}

/* ---- escaping: every string here is valid UTF-8 (the wire codec and the
 * table loader checked it), so only the syntax of each format matters ---- */

void render_json_str(FILE *out, const char *s)
{
    json_string(out, s, strlen(s));
}

static void render_prom_label(FILE *out, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' || s[i] == '"')
            fprintf(out, "\\%c", s[i]);
        else if (s[i] == '\n')
            fputs("\\n", out);
        else
            fputc(s[i], out);
    }
}
static void render_json_permille(FILE *out, int pm)
{
    if (pm < 0)
        fputs("null", out);
    else
        fprintf(out, "%d.%d", pm / 10, pm % 10);
}

/* ---- JSON ---- */

static void render_json_u64s(FILE *out, const char *key, const uint64_t *v, int n)
{
    fprintf(out, ",\"%s\":[", key);
    for (int i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "", v[i]);
    fputc(']', out);
}

/* One case; with ages its overdue_ms too (the live pages work it out from
 * now and answer_by, so that the list changes only when its cases do). */
static void render_json_case(FILE *out, const figures_t *f, const fig_case_t *c,
                      const render_names_t *names, bool ages)
{
    const miz_delivery_t *d = c->d;
    fprintf(out, "{\"tracking\":%" PRIu64 ",\"delivery\":%" PRIu64 ",\"agency\":", c->req->tracking,
            d->id);
    render_json_str(out, d->agency);
    fputs(",\"name_fa\":", out);
    render_json_str(out, render_name_fa(names, d->agency));
    fputs(",\"name_en\":", out);
    render_json_str(out, render_name_en(names, d->agency));
    fputs(",\"topic\":", out);
    render_json_str(out, c->req->topic);
    const char *topic_fa = "", *topic_en = "";
    if (names && names->table)
        table_topic_names(names->table, c->req->topic, strlen(c->req->topic), &topic_fa,
                          &topic_en);
    fputs(",\"topic_fa\":", out);
    render_json_str(out, topic_fa);
    fputs(",\"topic_en\":", out);
    render_json_str(out, topic_en);
    fputs(",\"kind\":", out); /* mizd allows only [a-z0-9_-] in it; escaped all the same */
    render_json_str(out, c->req->kind);
    fprintf(out,
            ",\"priority\":\"%s\",\"role\":\"%s\",\"level\":%" PRIu64
            ",\"state\":\"%s\",\"created\":%" PRIu64 ",\"answer_by\":%" PRIu64,
            c->req->priority, d->role, d->level, d->state, d->created, d->answer_by);
    if (ages)
        fprintf(out, ",\"overdue_ms\":%" PRIu64, f->now > d->answer_by ? f->now - d->answer_by : 0);
    fputs(",\"escalated_to\":", out);
    if (c->escalation)
        render_json_str(out, c->escalation->agency);
    else
        fputs("null", out);
    fputc('}', out);
}

void render_overdue_json(FILE *out, const figures_t *f, const render_names_t *names, bool ages)
{
    fputc('[', out);
    for (size_t i = 0; i < f->n_overdue; i++) {
        if (i)
            fputc(',', out);
        render_json_case(out, f, &f->overdue[i], names, ages);
    }
    fputc(']', out);
}

void render_head_json(FILE *out, const figures_t *f, const render_state_t *st)
{
    char week[16];
    render_week_name(week, sizeof week, f->day0);
    fprintf(out, "\"now\":%" PRIu64 ",\"week\":\"%s\",\"today\":%d,\"day_starts\":[", f->now,
            week, fig_day(f->now) - f->day0);
    for (int i = 0; i < f->days; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "", fig_day_start(f->day0 + i));
    fputs("],\"trend_starts\":[", out);
    for (int i = 0; i < FIG_TREND_WEEKS; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "",
                fig_day_start(f->day0 - 7 * (FIG_TREND_WEEKS - 1 - i)));
    fprintf(out,
            "],\"synced\":%s,\"stale\":%s,\"silent_ms\":%" PRIu64 ",\"run\":%" PRIu64
            ",\"epoch\":%" PRIu64 ",\"seq\":%" PRIu64 ",\"requests\":%zu",
            st->synced ? "true" : "false", st->stale ? "true" : "false", st->silent_ms,
            st->stats.run, st->stats.epoch, st->stats.seq, st->requests);
}

void render_agency_json(FILE *out, const figures_t *f, size_t i, const render_names_t *names)
{
    const fig_agency_t *a = &f->agencies[i];
    uint64_t avg = render_avg_hundredths(a);
    fputs("{\"id\":", out);
    render_json_str(out, a->agency);
    fputs(",\"name_fa\":", out);
    render_json_str(out, render_name_fa(names, a->agency));
    fputs(",\"name_en\":", out);
    render_json_str(out, render_name_en(names, a->agency));
    fprintf(out,
            ",\"open\":%" PRIu64 ",\"overdue\":%" PRIu64 ",\"on_time\":%" PRIu64
            ",\"missed\":%" PRIu64 ",\"on_time_pct\":",
            a->open, a->overdue, a->on_time, a->missed);
    render_json_permille(out, render_on_time_permille(a));
    fprintf(out,
            ",\"acked\":%" PRIu64 ",\"ack_p50_ms\":%" PRIu64 ",\"ack_p90_ms\":%" PRIu64
            ",\"answered\":%" PRIu64 ",\"answer_p50_ms\":%" PRIu64
            ",\"answer_p90_ms\":%" PRIu64 ",\"escalations\":%" PRIu64
            ",\"refusals\":%" PRIu64 ",\"received\":%" PRIu64 ",\"volume_avg28\":%" PRIu64
            ".%02u",
            a->acked, a->ack_p50_ms, a->ack_p90_ms, a->answered, a->answer_p50_ms,
            a->answer_p90_ms, a->escalations, a->refusals, a->received, avg / 100,
            (unsigned)(avg % 100));
    render_json_u64s(out, "volume", a->volume, f->days);
    render_json_u64s(out, "on_time_day", a->on_time_day, f->days);
    render_json_u64s(out, "missed_day", a->missed_day, f->days);
    render_json_u64s(out, "trend_on_time", a->trend_on_time, FIG_TREND_WEEKS);
    render_json_u64s(out, "trend_missed", a->trend_missed, FIG_TREND_WEEKS);
    fputc('}', out);
}

void render_figures_json(FILE *out, const figures_t *f, const render_names_t *names,
                         const render_state_t *st)
{
    fputc('{', out);
    render_head_json(out, f, st);
    fputs(",\"agencies\":[", out);
    for (size_t i = 0; i < f->n_agencies; i++) {
        if (i)
            fputc(',', out);
        render_agency_json(out, f, i, names);
    }
    fputs("],\"overdue\":", out);
    render_overdue_json(out, f, names, true);
    fputs("}", out);
}
/* ---- Prometheus ---- */

static void render_prom_head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One gauge per agency from a field of fig_agency_t. */
static void render_prom_agencies(FILE *out, const figures_t *f, const char *name, const char *help,
                          size_t offset)
{
    render_prom_head(out, name, "gauge", help);
    for (size_t i = 0; i < f->n_agencies; i++) {
        const fig_agency_t *a = &f->agencies[i];
        fprintf(out, "%s{agency=\"", name);
        render_prom_label(out, a->agency, strlen(a->agency));
        fprintf(out, "\"} %" PRIu64 "\n", *(const uint64_t *)((const char *)a + offset));
    }
}

static void render_prom_quantiles(FILE *out, const figures_t *f, const char *name, const char *help,
                           bool ack)
{
    render_prom_head(out, name, "gauge", help);
    for (size_t i = 0; i < f->n_agencies; i++) {
        const fig_agency_t *a = &f->agencies[i];
        uint64_t q[2] = {ack ? a->ack_p50_ms : a->answer_p50_ms,
                         ack ? a->ack_p90_ms : a->answer_p90_ms};
        if (!(ack ? a->acked : a->answered))
            continue; /* nothing timed: no quantile, rather than a 0 */
        for (int k = 0; k < 2; k++) {
            fprintf(out, "%s{agency=\"", name);
            render_prom_label(out, a->agency, strlen(a->agency));
            fprintf(out, "\",quantile=\"0.%d\"} %" PRIu64 ".%03u\n", k ? 9 : 5, q[k] / 1000,
                    (unsigned)(q[k] % 1000));
        }
    }
}

/* The on-time share of each agency as a ratio (0 to 1); none for an agency
 * with nothing answered or missed this week. */
static void render_prom_on_time_ratio(FILE *out, const figures_t *f)
{
    static const char name[] = "miz_agency_week_on_time_ratio";
    render_prom_head(out, name, "gauge",
              "Answered on time / (answered on time + went overdue), this week");
    for (size_t i = 0; i < f->n_agencies; i++) {
        int pm = render_on_time_permille(&f->agencies[i]);
        if (pm < 0)
            continue;
        fprintf(out, "%s{agency=\"", name);
        render_prom_label(out, f->agencies[i].agency, strlen(f->agencies[i].agency));
        fprintf(out, "\"} %d.%03d\n", pm / 1000, pm % 1000);
    }
}

/* An unsigned field of a map, or NULL when absent or of another type. */
static const msgpack_object *render_prom_uint(const msgpack_object *map, const char *key)
{
    return miz_map_typed(map, key, MSGPACK_OBJECT_POSITIVE_INTEGER);
}

/* One labelled series per element of the array (maps with a string under
 * label and an unsigned under field), named name. */
static void render_prom_array(FILE *out, const msgpack_object *arr, const char *label,
                              const char *field, const char *name, const char *type,
                              const char *help)
{
    render_prom_head(out, name, type, help);
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *a = &arr->via.array.ptr[i];
        const msgpack_object *id = a->type == MSGPACK_OBJECT_MAP ? miz_map_get(a, label) : NULL;
        const msgpack_object *n = render_prom_uint(a, field);
        if (!id || id->type != MSGPACK_OBJECT_STR || !n)
            continue;
        fprintf(out, "%s{%s=\"", name, label);
        render_prom_label(out, id->via.str.ptr, id->via.str.size);
        fprintf(out, "\"} %" PRIu64 "\n", n->via.u64);
    }
}

/* The broker's `counters`, checked field by field: anything malformed is
 * left out rather than shown wrong. */
static void render_prom_counters(FILE *out, const msgpack_object *c)
{
    const msgpack_object *v;
    if ((v = render_prom_uint(c, "open_requests"))) {
        render_prom_head(out, "miz_broker_open_requests", "gauge", "Requests open in the broker");
        fprintf(out, "miz_broker_open_requests %" PRIu64 "\n", v->via.u64);
    }
    if ((v = render_prom_uint(c, "seq"))) {
        render_prom_head(out, "miz_broker_events_total", "counter",
                  "Events the broker published (the seq of its last)");
        fprintf(out, "miz_broker_events_total %" PRIu64 "\n", v->via.u64);
    }
    if ((v = render_prom_uint(c, "run"))) {
        render_prom_head(out, "miz_broker_start_time_seconds", "gauge",
                  "When the running broker started (Unix time)");
        fprintf(out, "miz_broker_start_time_seconds %" PRIu64 ".%03u\n", v->via.u64 / 1000,
                (unsigned)(v->via.u64 % 1000));
    }
    const msgpack_object *agencies = miz_map_get(c, "agencies");
    static const char *const fields[] = {"open", "overdue", "queued", "workers", "spare"};
    static const char *const fhelp[] = {
        "Deliveries not finished", "Deliveries not finished and overdue",
        "Deliveries waiting for a worker", "Workers registered", "Free credit of the workers"};
    for (int k = 0; agencies && agencies->type == MSGPACK_OBJECT_ARRAY && k < 5; k++) {
        char name[64];
        snprintf(name, sizeof name, "miz_broker_agency_%s", fields[k]);
        render_prom_array(out, agencies, "agency", fields[k], name, "gauge", fhelp[k]);
    }
    static const struct {
        const char *field, *name, *type, *help;
        bool us; /* microseconds, shown as seconds */
    } store_metrics[] = {
        {"commits", "miz_broker_store_commits_total", "counter",
         "Store commits landed since the broker started", false},
        {"commit_us", "miz_broker_store_commit_seconds_total", "counter",
         "Time the store commits took (its rate near 1: the store is the bottleneck)", true},
        {"commit_max_us", "miz_broker_store_commit_max_seconds", "gauge",
         "The slowest store commit over the broker's last heartbeat", true},
    };
    const msgpack_object *store = miz_map_get(c, "store");
    for (size_t k = 0; store && k < sizeof store_metrics / sizeof *store_metrics; k++) {
        if (!(v = render_prom_uint(store, store_metrics[k].field)))
            continue;
        render_prom_head(out, store_metrics[k].name, store_metrics[k].type, store_metrics[k].help);
        if (store_metrics[k].us)
            fprintf(out, "%s %" PRIu64 ".%06u\n", store_metrics[k].name, v->via.u64 / 1000000,
                    (unsigned)(v->via.u64 % 1000000));
        else
            fprintf(out, "%s %" PRIu64 "\n", store_metrics[k].name, v->via.u64);
    }
    const msgpack_object *gateways = miz_map_get(c, "gateways");
    if (gateways && gateways->type == MSGPACK_OBJECT_ARRAY) {
        render_prom_array(out, gateways, "gateway", "pending",
                          "miz_dashboard_gateway_outcomes_pending", "gauge",
                          "Outcomes sent to the gateway that it has not confirmed yet");
        render_prom_array(out, gateways, "gateway", "dropped",
                   "miz_dashboard_gateway_outcomes_dropped_total", "counter",
                   "Outcomes given up unconfirmed (too many waiting, or too old) since the "
                   "broker started");
    }
}

/* A metric of one whole-number value. */
static void render_prom_one(FILE *out, const char *name, const char *type, const char *help,
                            uint64_t v)
{
    render_prom_head(out, name, type, help);
    fprintf(out, "%s %" PRIu64 "\n", name, v);
}

void render_metrics(FILE *out, const figures_t *f, const render_state_t *st)
{
    render_prom_one(out, "miz_dashboard_synced", "gauge", "1 when the replica is exact",
                    st->synced);
    render_prom_one(out, "miz_dashboard_events_total", "counter", "Events applied to the replica",
                    st->stats.events);
    render_prom_one(out, "miz_dashboard_resyncs_total", "counter",
                    "Snapshots asked for again (gap, broker restart, timeout)", st->stats.resyncs);
    render_prom_one(out, "miz_dashboard_broker_epoch", "gauge",
                    "The broker's epoch in the replica (0: a store without a lease)",
                    st->stats.epoch);
    render_prom_one(out, "miz_dashboard_broker_moves_total", "counter",
                    "Moves to the next pair of broker endpoints (the one in use was silent)",
                    st->stats.moves);
    render_prom_one(out, "miz_dashboard_broker_endpoint", "gauge",
                    "The pair of broker endpoints in use: its index in the lists, from 0",
                    st->stats.endpoint);
    render_prom_one(out, "miz_dashboard_requests", "gauge", "Requests in the replica",
                    st->requests);
    render_prom_one(out, "miz_dashboard_broker_stale", "gauge",
                    "1 when the broker's counters stopped coming for 3 heartbeats", st->stale);
    render_prom_head(out, "miz_dashboard_broker_silence_seconds", "gauge",
              "Seconds since the broker's latest counters");
    fprintf(out, "miz_dashboard_broker_silence_seconds %" PRIu64 ".%03u\n", st->silent_ms / 1000,
            (unsigned)(st->silent_ms % 1000));
    render_prom_one(out, "miz_dashboard_live_pages", "gauge", "Live pages (/events) open",
                    st->live.pages);
    render_prom_one(out, "miz_dashboard_live_backlog_bytes", "gauge",
                    "Bytes written for the live pages and not taken yet", st->live.backlog_bytes);
    render_prom_one(out, "miz_dashboard_live_skipped_total", "counter",
                    "Times a live page was too far behind to get an update", st->live.skipped);
    render_prom_one(out, "miz_dashboard_live_closed_total", "counter",
                    "Live pages gone (closed by the page, or dropped as stalled)", st->live.closed);
#define FIELD(name, help, field)                                                                   \
    render_prom_agencies(out, f, name, help, offsetof(fig_agency_t, field))
    FIELD("miz_agency_open", "Target and escalation deliveries open now", open);
    FIELD("miz_agency_overdue", "Open deliveries past their answer deadline now", overdue);
    FIELD("miz_agency_week_on_time", "Answered without going overdue, this week", on_time);
    FIELD("miz_agency_week_missed", "Went overdue, this week", missed);
    FIELD("miz_agency_week_escalations", "Escalations made from the agency's deliveries, this week",
          escalations);
    FIELD("miz_agency_week_refusals", "Deliveries refused, this week", refusals);
    FIELD("miz_agency_week_received", "Target deliveries created, this week", received);
    FIELD("miz_agency_volume_before_28d",
          "Target deliveries created in the 28 days before this week", volume_before);
#undef FIELD
    render_prom_on_time_ratio(out, f);
    render_prom_quantiles(out, f, "miz_agency_week_time_to_ack_seconds",
                   "Time from delivery to first ack, this week (nearest rank)", true);
    render_prom_quantiles(out, f, "miz_agency_week_time_to_answer_seconds",
                   "Time from delivery to answer, this week (nearest rank)", false);
    if (st->counters)
        render_prom_counters(out, st->counters);
}

#include "render.h"

#include <inttypes.h>
#include <stddef.h>
#include <string.h>

#include "jalali.h"
#include "miz.h"

static const char *const WEEKDAY_FA[] = {"شنبه",      "یکشنبه",   "دوشنبه", "سه‌شنبه",
                                         "چهارشنبه", "پنجشنبه", "جمعه"};
static const char *const WEEKDAY_EN[] = {"Saturday",  "Sunday",   "Monday", "Tuesday",
                                         "Wednesday", "Thursday", "Friday"};

static const render_agency_t *name_of(const render_names_t *names, const char *id)
{
    for (size_t i = 0; names && i < names->n; i++)
        if (strcmp(names->v[i].id, id) == 0)
            return &names->v[i];
    return NULL;
}

static const char *name_fa(const render_names_t *names, const char *id)
{
    const render_agency_t *a = name_of(names, id);
    return a && *a->name_fa ? a->name_fa : id;
}

static const char *name_en(const render_names_t *names, const char *id)
{
    const render_agency_t *a = name_of(names, id);
    return a && *a->name_en ? a->name_en : id;
}

/* ---- escaping: every string here is valid UTF-8 (the wire codec and the
 * table loader checked it), so only the syntax of each format matters ---- */

static void json_str(FILE *out, const char *s)
{
    fputc('"', out);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(out, "\\%c", c);
        else if (c < 0x20)
            fprintf(out, "\\u%04x", c);
        else
            fputc(c, out);
    }
    fputc('"', out);
}

static void html_str(FILE *out, const char *s)
{
    for (; *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

static void csv_str(FILE *out, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, out);
        return;
    }
    fputc('"', out);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', out);
        fputc(*s, out);
    }
    fputc('"', out);
}

static void prom_label(FILE *out, const char *s, size_t n)
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

/* ---- numbers, dates and durations ---- */

/* The text s with Persian digits. */
static void fa(FILE *out, const char *s)
{
    char buf[256];
    jalali_persian_digits(s, buf, sizeof buf);
    fputs(buf, out);
}

/* A number in Persian: its digits, decimal separator and percent sign. */
static void fa_number(FILE *out, const char *s)
{
    char buf[256];
    jalali_persian_digits(s, buf, sizeof buf);
    for (const char *c = buf; *c; c++)
        if (*c == '.')
            fputs("٫", out);
        else if (*c == '%')
            fputs("٪", out);
        else
            fputc(*c, out);
}

static void fa_u64(FILE *out, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    fa(out, buf);
}

/* "1404/05/11" for a Tehran day */
static void jalali_date(char *buf, size_t size, int day)
{
    int y = 0, m = 0, d = 0;
    jalali_from_day(day, &y, &m, &d);
    snprintf(buf, size, "%04d/%02d/%02d", y, m, d);
}

/* "1404/05/11 14:05", Tehran time */
static void jalali_time(char *buf, size_t size, uint64_t ms)
{
    char date[16];
    uint64_t in_day = (ms + FIG_TZ_OFFSET_MS) % FIG_DAY_MS / 60000;
    jalali_date(date, sizeof date, fig_day(ms));
    snprintf(buf, size, "%s %02u:%02u", date, (unsigned)(in_day / 60), (unsigned)(in_day % 60));
}

/* "2026-08-02T14:05:00+03:30", Tehran time */
static void iso_time(char *buf, size_t size, uint64_t ms)
{
    int y = 0, m = 0, d = 0;
    uint64_t in_day = (ms + FIG_TZ_OFFSET_MS) % FIG_DAY_MS / 1000;
    gregorian_from_day(fig_day(ms), &y, &m, &d);
    snprintf(buf, size, "%04d-%02d-%02dT%02u:%02u:%02u+03:30", y, m, d, (unsigned)(in_day / 3600),
             (unsigned)(in_day / 60 % 60), (unsigned)(in_day % 60));
}

/* A duration as people say it, in Persian, as the page does: its two
 * largest units ("۲ روز و ۳ ساعت", "۱ دقیقه و ۳۵ ثانیه", "۰ ثانیه"). */
static void fa_words(FILE *out, uint64_t ms)
{
    static const char *const units[] = {"روز", "ساعت", "دقیقه", "ثانیه"};
    static const uint64_t size[] = {86400000, 3600000, 60000, 1000};
    uint64_t part[4];
    int first = -1;
    for (int i = 0; i < 4; i++) {
        part[i] = (i ? ms % size[i - 1] : ms) / size[i];
        if (first < 0 && part[i])
            first = i;
    }
    if (first < 0) {
        fputs("۰ ثانیه", out);
        return;
    }
    fa_u64(out, part[first]);
    fprintf(out, " %s", units[first]);
    if (first < 3 && part[first + 1]) {
        fputs(" و ", out);
        fa_u64(out, part[first + 1]);
        fprintf(out, " %s", units[first + 1]);
    }
}

/* The on-time share in tenths of a percent, or -1 when nothing counted. */
static int on_time_permille(const fig_agency_t *a)
{
    uint64_t n = a->on_time + a->missed;
    return n ? (int)((a->on_time * 1000 + n / 2) / n) : -1;
}

static void json_permille(FILE *out, int pm)
{
    if (pm < 0)
        fputs("null", out);
    else
        fprintf(out, "%d.%d", pm / 10, pm % 10);
}

/* The 4-week mean in hundredths, rounded. */
static uint64_t avg_hundredths(const fig_agency_t *a)
{
    return (a->volume_before * 100 + FIG_AVG_DAYS / 2) / FIG_AVG_DAYS;
}

static void week_name(char *buf, size_t size, int day)
{
    int wy = 0, wk = 0;
    if (!jalali_week_of(day, &wy, &wk) || !jalali_week_format(wy, wk, buf, size))
        snprintf(buf, size, "?");
}

/* ---- JSON ---- */

static void json_u64s(FILE *out, const char *key, const uint64_t *v, int n)
{
    fprintf(out, ",\"%s\":[", key);
    for (int i = 0; i < n; i++)
        fprintf(out, "%s%" PRIu64, i ? "," : "", v[i]);
    fputc(']', out);
}

/* One case; with ages its overdue_ms too (the live pages work it out from
 * now and answer_by, so that the list changes only when its cases do). */
static void json_case(FILE *out, const figures_t *f, const fig_case_t *c,
                      const render_names_t *names, bool ages)
{
    const miz_delivery_t *d = c->d;
    fprintf(out, "{\"tracking\":%" PRIu64 ",\"delivery\":%" PRIu64 ",\"agency\":", c->req->tracking,
            d->id);
    json_str(out, d->agency);
    fputs(",\"name_fa\":", out);
    json_str(out, name_fa(names, d->agency));
    fputs(",\"name_en\":", out);
    json_str(out, name_en(names, d->agency));
    fputs(",\"topic\":", out);
    json_str(out, c->req->topic);
    const char *topic_fa = "", *topic_en = "";
    if (names && names->table)
        table_topic_names(names->table, c->req->topic, strlen(c->req->topic), &topic_fa,
                          &topic_en);
    fputs(",\"topic_fa\":", out);
    json_str(out, topic_fa);
    fputs(",\"topic_en\":", out);
    json_str(out, topic_en);
    fputs(",\"kind\":", out); /* mizd allows only [a-z0-9_-] in it; escaped all the same */
    json_str(out, c->req->kind);
    fprintf(out,
            ",\"priority\":\"%s\",\"role\":\"%s\",\"level\":%" PRIu64
            ",\"state\":\"%s\",\"created\":%" PRIu64 ",\"answer_by\":%" PRIu64,
            c->req->priority, d->role, d->level, d->state, d->created, d->answer_by);
    if (ages)
        fprintf(out, ",\"overdue_ms\":%" PRIu64, f->now > d->answer_by ? f->now - d->answer_by : 0);
    fputs(",\"escalated_to\":", out);
    if (c->escalation)
        json_str(out, c->escalation->agency);
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
        json_case(out, f, &f->overdue[i], names, ages);
    }
    fputc(']', out);
}

void render_head_json(FILE *out, const figures_t *f, const render_state_t *st)
{
    char week[16];
    week_name(week, sizeof week, f->day0);
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
            ",\"seq\":%" PRIu64 ",\"requests\":%zu",
            st->synced ? "true" : "false", st->stale ? "true" : "false", st->silent_ms,
            st->stats.run, st->stats.seq, st->requests);
}

void render_agency_json(FILE *out, const figures_t *f, size_t i, const render_names_t *names)
{
    const fig_agency_t *a = &f->agencies[i];
    uint64_t avg = avg_hundredths(a);
    fputs("{\"id\":", out);
    json_str(out, a->agency);
    fputs(",\"name_fa\":", out);
    json_str(out, name_fa(names, a->agency));
    fputs(",\"name_en\":", out);
    json_str(out, name_en(names, a->agency));
    fprintf(out,
            ",\"open\":%" PRIu64 ",\"overdue\":%" PRIu64 ",\"on_time\":%" PRIu64
            ",\"missed\":%" PRIu64 ",\"on_time_pct\":",
            a->open, a->overdue, a->on_time, a->missed);
    json_permille(out, on_time_permille(a));
    fprintf(out,
            ",\"acked\":%" PRIu64 ",\"ack_p50_ms\":%" PRIu64 ",\"ack_p90_ms\":%" PRIu64
            ",\"answered\":%" PRIu64 ",\"answer_p50_ms\":%" PRIu64
            ",\"answer_p90_ms\":%" PRIu64 ",\"escalations\":%" PRIu64
            ",\"refusals\":%" PRIu64 ",\"received\":%" PRIu64 ",\"volume_avg28\":%" PRIu64
            ".%02u",
            a->acked, a->ack_p50_ms, a->ack_p90_ms, a->answered, a->answer_p50_ms,
            a->answer_p90_ms, a->escalations, a->refusals, a->received, avg / 100,
            (unsigned)(avg % 100));
    json_u64s(out, "volume", a->volume, f->days);
    json_u64s(out, "on_time_day", a->on_time_day, f->days);
    json_u64s(out, "missed_day", a->missed_day, f->days);
    json_u64s(out, "trend_on_time", a->trend_on_time, FIG_TREND_WEEKS);
    json_u64s(out, "trend_missed", a->trend_missed, FIG_TREND_WEEKS);
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

static void prom_head(FILE *out, const char *name, const char *type, const char *help)
{
    fprintf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One gauge per agency from a field of fig_agency_t. */
static void prom_agencies(FILE *out, const figures_t *f, const char *name, const char *help,
                          size_t offset)
{
    prom_head(out, name, "gauge", help);
    for (size_t i = 0; i < f->n_agencies; i++) {
        const fig_agency_t *a = &f->agencies[i];
        fprintf(out, "%s{agency=\"", name);
        prom_label(out, a->agency, strlen(a->agency));
        fprintf(out, "\"} %" PRIu64 "\n", *(const uint64_t *)((const char *)a + offset));
    }
}

static void prom_quantiles(FILE *out, const figures_t *f, const char *name, const char *help,
                           bool ack)
{
    prom_head(out, name, "gauge", help);
    for (size_t i = 0; i < f->n_agencies; i++) {
        const fig_agency_t *a = &f->agencies[i];
        uint64_t q[2] = {ack ? a->ack_p50_ms : a->answer_p50_ms,
                         ack ? a->ack_p90_ms : a->answer_p90_ms};
        if (!(ack ? a->acked : a->answered))
            continue; /* nothing timed: no quantile, rather than a 0 */
        for (int k = 0; k < 2; k++) {
            fprintf(out, "%s{agency=\"", name);
            prom_label(out, a->agency, strlen(a->agency));
            fprintf(out, "\",quantile=\"0.%d\"} %" PRIu64 ".%03u\n", k ? 9 : 5, q[k] / 1000,
                    (unsigned)(q[k] % 1000));
        }
    }
}

/* The on-time share of each agency as a ratio (0 to 1); none for an agency
 * with nothing answered or missed this week. */
static void prom_on_time_ratio(FILE *out, const figures_t *f)
{
    static const char name[] = "miz_agency_week_on_time_ratio";
    prom_head(out, name, "gauge",
              "Answered on time / (answered on time + went overdue), this week");
    for (size_t i = 0; i < f->n_agencies; i++) {
        int pm = on_time_permille(&f->agencies[i]);
        if (pm < 0)
            continue;
        fprintf(out, "%s{agency=\"", name);
        prom_label(out, f->agencies[i].agency, strlen(f->agencies[i].agency));
        fprintf(out, "\"} %d.%03d\n", pm / 1000, pm % 1000);
    }
}

/* An unsigned field of a map, or NULL when absent or of another type. */
static const msgpack_object *prom_uint(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = map->type == MSGPACK_OBJECT_MAP ? miz_map_get(map, key) : NULL;
    return v && v->type == MSGPACK_OBJECT_POSITIVE_INTEGER ? v : NULL;
}

/* One labelled series per element of the array (maps with a string under
 * label and an unsigned under field), named name. */
static void prom_array(FILE *out, const msgpack_object *arr, const char *label, const char *field,
                       const char *name, const char *type, const char *help)
{
    prom_head(out, name, type, help);
    for (uint32_t i = 0; i < arr->via.array.size; i++) {
        const msgpack_object *a = &arr->via.array.ptr[i];
        const msgpack_object *id = a->type == MSGPACK_OBJECT_MAP ? miz_map_get(a, label) : NULL;
        const msgpack_object *n = prom_uint(a, field);
        if (!id || id->type != MSGPACK_OBJECT_STR || !n)
            continue;
        fprintf(out, "%s{%s=\"", name, label);
        prom_label(out, id->via.str.ptr, id->via.str.size);
        fprintf(out, "\"} %" PRIu64 "\n", n->via.u64);
    }
}

/* The broker's `counters`, checked field by field: anything malformed is
 * left out rather than shown wrong. */
static void prom_counters(FILE *out, const msgpack_object *c)
{
    const msgpack_object *v;
    if ((v = prom_uint(c, "open_requests"))) {
        prom_head(out, "miz_broker_open_requests", "gauge", "Requests open in the broker");
        fprintf(out, "miz_broker_open_requests %" PRIu64 "\n", v->via.u64);
    }
    if ((v = prom_uint(c, "seq"))) {
        prom_head(out, "miz_broker_events_total", "counter",
                  "Events the broker published (the seq of its last)");
        fprintf(out, "miz_broker_events_total %" PRIu64 "\n", v->via.u64);
    }
    if ((v = prom_uint(c, "run"))) {
        prom_head(out, "miz_broker_start_time_seconds", "gauge",
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
        prom_array(out, agencies, "agency", fields[k], name, "gauge", fhelp[k]);
    }
    const msgpack_object *gateways = miz_map_get(c, "gateways");
    if (gateways && gateways->type == MSGPACK_OBJECT_ARRAY) {
        prom_array(out, gateways, "gateway", "pending", "miz_dashboard_gateway_outcomes_pending",
                   "gauge", "Outcomes sent to the gateway that it has not confirmed yet");
        prom_array(out, gateways, "gateway", "dropped",
                   "miz_dashboard_gateway_outcomes_dropped_total", "counter",
                   "Outcomes given up unconfirmed (too many waiting, or too old) since the "
                   "broker started");
    }
}

void render_metrics(FILE *out, const figures_t *f, const render_state_t *st)
{
    prom_head(out, "miz_dashboard_synced", "gauge", "1 when the replica is exact");
    fprintf(out, "miz_dashboard_synced %d\n", st->synced);
    prom_head(out, "miz_dashboard_events_total", "counter", "Events applied to the replica");
    fprintf(out, "miz_dashboard_events_total %" PRIu64 "\n", st->stats.events);
    prom_head(out, "miz_dashboard_resyncs_total", "counter",
              "Snapshots asked for again (gap, broker restart, timeout)");
    fprintf(out, "miz_dashboard_resyncs_total %" PRIu64 "\n", st->stats.resyncs);
    prom_head(out, "miz_dashboard_requests", "gauge", "Requests in the replica");
    fprintf(out, "miz_dashboard_requests %zu\n", st->requests);
    prom_head(out, "miz_dashboard_broker_stale", "gauge",
              "1 when the broker's counters stopped coming for 3 heartbeats");
    fprintf(out, "miz_dashboard_broker_stale %d\n", st->stale);
    prom_head(out, "miz_dashboard_broker_silence_seconds", "gauge",
              "Seconds since the broker's latest counters");
    fprintf(out, "miz_dashboard_broker_silence_seconds %" PRIu64 ".%03u\n", st->silent_ms / 1000,
            (unsigned)(st->silent_ms % 1000));
    prom_head(out, "miz_dashboard_live_pages", "gauge", "Live pages (/events) open");
    fprintf(out, "miz_dashboard_live_pages %zu\n", st->live.pages);
    prom_head(out, "miz_dashboard_live_backlog_bytes", "gauge",
              "Bytes written for the live pages and not taken yet");
    fprintf(out, "miz_dashboard_live_backlog_bytes %zu\n", st->live.backlog_bytes);
    prom_head(out, "miz_dashboard_live_skipped_total", "counter",
              "Times a live page was too far behind to get an update");
    fprintf(out, "miz_dashboard_live_skipped_total %" PRIu64 "\n", st->live.skipped);
    prom_head(out, "miz_dashboard_live_closed_total", "counter",
              "Live pages gone (closed by the page, or dropped as stalled)");
    fprintf(out, "miz_dashboard_live_closed_total %" PRIu64 "\n", st->live.closed);
#define FIELD(name, help, field) prom_agencies(out, f, name, help, offsetof(fig_agency_t, field))
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
    prom_on_time_ratio(out, f);
    prom_quantiles(out, f, "miz_agency_week_time_to_ack_seconds",
                   "Time from delivery to first ack, this week (nearest rank)", true);
    prom_quantiles(out, f, "miz_agency_week_time_to_answer_seconds",
                   "Time from delivery to answer, this week (nearest rank)", false);
    if (st->counters)
        prom_counters(out, st->counters);
}

/* ---- the weekly report ---- */

static const char REPORT_CSS[] =
    "body{font-family:'Vazirmatn','Noto Naskh Arabic','Noto Sans Arabic',Tahoma,sans-serif;"
    "margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #bbb;padding:.3em .6em;text-align:start}th{background:#eef}"
    ".en{color:#666;font-size:.85em}";

static void html_th(FILE *out, const char *fa_label, const char *en_label)
{
    fprintf(out, "<th>%s <span class=\"en\" lang=\"en\">%s</span></th>", fa_label, en_label);
}

/* A figure row; the ASCII value is in data-v for machines. */
static void html_figure(FILE *out, const char *id, const char *fa_label, const char *en_label,
                        const char *value)
{
    fprintf(out, "<tr>");
    html_th(out, fa_label, en_label);
    fprintf(out, "<td id=\"%s\" data-v=\"%s\">", id, value);
    fa_number(out, value);
    fputs("</td></tr>\n", out);
}

static void html_u64(FILE *out, const char *id, const char *fa_label, const char *en_label,
                     uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    html_figure(out, id, fa_label, en_label, buf);
}

/* A duration in words; data-v has its seconds (with milliseconds), as the
 * CSV; "-" for both when nothing was timed (n is 0). */
static void html_dur(FILE *out, const char *id, const char *fa_label, const char *en_label,
                     uint64_t n, uint64_t ms)
{
    if (!n) {
        html_figure(out, id, fa_label, en_label, "-");
        return;
    }
    fputs("<tr>", out);
    html_th(out, fa_label, en_label);
    fprintf(out, "<td id=\"%s\" data-v=\"%" PRIu64 ".%03u\">", id, ms / 1000,
            (unsigned)(ms % 1000));
    fa_words(out, ms);
    fputs("</td></tr>\n", out);
}

static void html_cases(FILE *out, const fig_case_t *cases, size_t n, const char *agency,
                       const render_names_t *names, bool escalated)
{
    fputs("<table><tr>", out);
    html_th(out, "شمارهٔ پیگیری", "Tracking");
    html_th(out, "تحویل", "Delivery");
    html_th(out, "موضوع", "Topic");
    html_th(out, "نقش", "Role");
    html_th(out, "ایجاد", "Created");
    html_th(out, "مهلت پاسخ", "Answer by");
    html_th(out, escalated ? "ارجاع" : "دیرکرد", escalated ? "Escalated" : "Overdue");
    html_th(out, "وضعیت", "State");
    html_th(out, "ارجاع به", "Escalated to");
    fputs("</tr>\n", out);
    for (size_t i = 0; i < n; i++) {
        const fig_case_t *c = &cases[i];
        if (strcmp(c->d->agency, agency) != 0)
            continue;
        char created[32], by[32], at[32];
        jalali_time(created, sizeof created, c->d->created);
        jalali_time(by, sizeof by, c->d->answer_by);
        jalali_time(at, sizeof at, c->at);
        fprintf(out, "<tr class=\"case\" data-tracking=\"%" PRIu64 "\" data-delivery=\"%" PRIu64
                     "\"><td>",
                c->req->tracking, c->d->id);
        fa_u64(out, c->req->tracking);
        fputs("</td><td>", out);
        fa_u64(out, c->d->id);
        fputs("</td><td dir=\"ltr\">", out);
        html_str(out, c->req->topic);
        fprintf(out, "</td><td>%s</td><td>", c->d->role);
        fa(out, created);
        fputs("</td><td>", out);
        fa(out, by);
        fputs("</td><td>", out);
        fa(out, at);
        fprintf(out, "</td><td>%s</td><td>", c->d->state);
        if (c->escalation) {
            html_str(out, name_fa(names, c->escalation->agency));
            fprintf(out, " (%s)", c->escalation->state);
        }
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n", out);
}

void render_report_html(FILE *out, const figures_t *f, const char *agency,
                        const render_names_t *names)
{
    static const fig_agency_t none;
    const fig_agency_t *a = figures_agency(f, agency);
    if (!a)
        a = &none;
    char week[16], first[16], last[16], buf[64];
    week_name(week, sizeof week, f->day0);
    jalali_date(first, sizeof first, f->day0);
    jalali_date(last, sizeof last, f->day0 + f->days - 1);
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\">"
                 "<title>");
    fa(out, week);
    fputs(" ", out);
    html_str(out, name_fa(names, agency));
    fprintf(out, "</title><style>%s</style></head><body>\n<h1>گزارش هفتگی ", REPORT_CSS);
    html_str(out, name_fa(names, agency));
    fputs("</h1>\n<p>هفتهٔ ", out);
    fa(out, week);
    fputs(": شنبه ", out);
    fa(out, first);
    fputs(" تا جمعه ", out);
    fa(out, last);
    fprintf(out, "</p>\n<p class=\"en\" lang=\"en\" dir=\"ltr\">Weekly report, ");
    html_str(out, name_en(names, agency));
    fprintf(out, " (<span id=\"agency\">");
    html_str(out, agency);
    fprintf(out, "</span>), week <span id=\"week\">%s</span>: Saturday %s to Friday %s "
                 "(Tehran time)</p>\n<table class=\"figures\">\n",
            week, first, last);
    html_u64(out, "open", "باز", "Open", a->open);
    html_u64(out, "overdue", "معوق اکنون", "Overdue now", a->overdue);
    html_u64(out, "received", "دریافتی", "Received", a->received);
    html_u64(out, "on_time", "پاسخ به موقع", "Answered on time", a->on_time);
    html_u64(out, "missed", "دیرکرد", "Went overdue", a->missed);
    int pm = on_time_permille(a);
    if (pm < 0)
        snprintf(buf, sizeof buf, "-");
    else
        snprintf(buf, sizeof buf, "%d.%d%%", pm / 10, pm % 10);
    html_figure(out, "on_time_pct", "درصد به موقع", "On time", buf);
    html_dur(out, "ack_p50", "میانهٔ زمان تأیید", "Median time to ack", a->acked, a->ack_p50_ms);
    html_dur(out, "ack_p90", "صدک ۹۰ زمان تأیید", "90th percentile time to ack", a->acked,
             a->ack_p90_ms);
    html_dur(out, "answer_p50", "میانهٔ زمان پاسخ", "Median time to answer", a->answered,
             a->answer_p50_ms);
    html_dur(out, "answer_p90", "صدک ۹۰ زمان پاسخ", "90th percentile time to answer", a->answered,
             a->answer_p90_ms);
    html_u64(out, "escalations", "ارجاع به مقام بالاتر", "Escalations", a->escalations);
    html_u64(out, "refusals", "عدم پذیرش", "Refusals", a->refusals);
    uint64_t avg = avg_hundredths(a);
    snprintf(buf, sizeof buf, "%" PRIu64 ".%02u", avg / 100, (unsigned)(avg % 100));
    html_figure(out, "volume_avg28", "میانگین روزانهٔ ۴ هفتهٔ پیش", "Daily mean, previous 4 weeks",
                buf);
    fputs("</table>\n<h2>روزها <span class=\"en\" lang=\"en\">Days</span></h2>\n<table><tr>", out);
    html_th(out, "روز", "Day");
    html_th(out, "تاریخ", "Date");
    html_th(out, "حجم", "Volume");
    html_th(out, "به موقع", "On time");
    html_th(out, "دیرکرد", "Overdue");
    fputs("</tr>\n", out);
    for (int i = 0; i < f->days; i++) {
        char date[16];
        jalali_date(date, sizeof date, f->day0 + i);
        fprintf(out, "<tr class=\"day\" data-volume=\"%" PRIu64 "\"><td>%s</td><td>",
                a->volume[i], WEEKDAY_FA[jalali_weekday(f->day0 + i)]);
        fa(out, date);
        fputs("</td><td>", out);
        fa_u64(out, a->volume[i]);
        fputs("</td><td>", out);
        fa_u64(out, a->on_time_day[i]);
        fputs("</td><td>", out);
        fa_u64(out, a->missed_day[i]);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n<h2>موارد دیرکرد <span class=\"en\" lang=\"en\">Cases that went overdue"
          "</span></h2>\n",
          out);
    html_cases(out, f->missed, f->n_missed, agency, names, false);
    fputs("<h2>موارد ارجاع‌شده <span class=\"en\" lang=\"en\">Escalated cases</span></h2>\n", out);
    html_cases(out, f->escalated, f->n_escalated, agency, names, true);
    fputs("</body></html>\n", out);
}

/* ",12.345": ms as seconds; "," alone when nothing was timed (n is 0). */
static void csv_seconds(FILE *out, uint64_t n, uint64_t ms)
{
    if (n)
        fprintf(out, ",%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
    else
        fputc(',', out);
}

static void csv_cases(FILE *out, const char *what, const fig_case_t *cases, size_t n,
                      const char *agency)
{
    for (size_t i = 0; i < n; i++) {
        const fig_case_t *c = &cases[i];
        if (strcmp(c->d->agency, agency) != 0)
            continue;
        char created[40], by[40], at[40];
        iso_time(created, sizeof created, c->d->created);
        iso_time(by, sizeof by, c->d->answer_by);
        iso_time(at, sizeof at, c->at);
        fprintf(out, "%s,%" PRIu64 ",%" PRIu64 ",", what, c->req->tracking, c->d->id);
        csv_str(out, c->req->topic);
        fprintf(out, ",%s,%" PRIu64 ",%s,%s,%s,%s,%s,%s\r\n", c->d->role, c->d->level, created, by,
                at, c->d->state, c->escalation ? c->escalation->agency : "",
                c->escalation ? c->escalation->state : "");
    }
}

void render_report_csv(FILE *out, const figures_t *f, const char *agency,
                       const render_names_t *names)
{
    static const fig_agency_t none;
    const fig_agency_t *a = figures_agency(f, agency);
    if (!a)
        a = &none;
    char week[16], buf[32];
    week_name(week, sizeof week, f->day0);
    fputs("week,agency,name_en,open,overdue,received,on_time,missed,on_time_pct,"
          "acked,ack_p50_s,ack_p90_s,answered,answer_p50_s,answer_p90_s,escalations,refusals,"
          "volume_avg28\r\n",
          out);
    fprintf(out, "%s,", week);
    csv_str(out, agency);
    fputc(',', out);
    csv_str(out, name_en(names, agency));
    int pm = on_time_permille(a);
    if (pm < 0)
        buf[0] = '\0';
    else
        snprintf(buf, sizeof buf, "%d.%d", pm / 10, pm % 10);
    uint64_t avg = avg_hundredths(a);
    fprintf(out, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%" PRIu64,
            a->open, a->overdue, a->received, a->on_time, a->missed, buf, a->acked);
    csv_seconds(out, a->acked, a->ack_p50_ms);
    csv_seconds(out, a->acked, a->ack_p90_ms);
    fprintf(out, ",%" PRIu64, a->answered);
    csv_seconds(out, a->answered, a->answer_p50_ms);
    csv_seconds(out, a->answered, a->answer_p90_ms);
    fprintf(out, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ".%02u\r\n\r\n", a->escalations,
            a->refusals, avg / 100, (unsigned)(avg % 100));
    fputs("date,jalali,weekday,volume,on_time,missed\r\n", out);
    for (int i = 0; i < f->days; i++) {
        int day = f->day0 + i, y = 0, m = 0, d = 0;
        char jdate[16];
        gregorian_from_day(day, &y, &m, &d);
        jalali_date(jdate, sizeof jdate, day);
        fprintf(out, "%04d-%02d-%02d,%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n", y, m, d, jdate,
                WEEKDAY_EN[jalali_weekday(day)], a->volume[i], a->on_time_day[i],
                a->missed_day[i]);
    }
    fputs("\r\ncase,tracking,delivery,topic,role,level,created,answer_by,at,state,"
          "escalated_to,escalation_state\r\n",
          out);
    csv_cases(out, "overdue", f->missed, f->n_missed, agency);
    csv_cases(out, "escalated", f->escalated, f->n_escalated, agency);
}

bool render_report(FILE *out, const miz_replica_t *r, const char *agency,
                   const render_names_t *names, int day0, uint64_t now, bool csv)
{
    const char **ids = calloc(names->n + 1, sizeof *ids);
    for (size_t i = 0; ids && i < names->n; i++)
        ids[i] = names->v[i].id;
    figures_t *f = ids ? figures_compute(r, ids, names->n, day0, 7, now) : NULL;
    if (f && csv)
        render_report_csv(out, f, agency, names);
    else if (f)
        render_report_html(out, f, agency, names);
    bool ok = f != NULL;
    figures_destroy(&f);
    free(ids);
    return ok;
}

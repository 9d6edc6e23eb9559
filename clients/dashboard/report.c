/* report: the weekly report of one agency, for people: HTML (Persian,
 * right to left, Jalali dates, Persian digits and decimal and percent
 * signs, durations in words, English labels beside, the ASCII values in
 * data-v for machines) and CSV (ASCII, ISO and Jalali dates, one block per
 * table shape). The dashboard serves it and `miz report` prints it, from
 * the same figures. It exists apart from render.c (JSON and Prometheus,
 * contracts with the page and with scrapers) because a report is a
 * document whose wording, dates and layout change for its readers, not
 * for a program. docs/dashboard.md, "The weekly report", shows both. */
#include "render_int.h"

#include <inttypes.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "jalali.h"

static const char *const REPORT_WEEKDAY_FA[] = {"شنبه",      "یکشنبه",   "دوشنبه", "سه‌شنبه",
                                         "چهارشنبه", "پنجشنبه", "جمعه"};
static const char *const REPORT_WEEKDAY_EN[] = {"Saturday",  "Sunday",   "Monday", "Tuesday",
                                         "Wednesday", "Thursday", "Friday"};

/* ---- escaping: every string here is valid UTF-8 (the wire codec and the
 * table loader checked it), so only the syntax of each format matters ---- */

static void report_html_str(FILE *out, const char *s)
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
static void report_csv_str(FILE *out, const char *s)
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
/* ---- numbers, dates and durations ---- */

/* The text s with Persian digits. */
static void report_fa(FILE *out, const char *s)
{
    char buf[256];
    jalali_persian_digits(s, buf, sizeof buf);
    fputs(buf, out);
}

/* A number in Persian: its digits, decimal separator and percent sign. */
static void report_fa_number(FILE *out, const char *s)
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

static void report_fa_u64(FILE *out, uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    report_fa(out, buf);
}

/* "1404/05/11" for a Tehran day */
static void report_jalali_date(char *buf, size_t size, int day)
{
    int y = 0, m = 0, d = 0;
    jalali_from_day(day, &y, &m, &d);
    snprintf(buf, size, "%04d/%02d/%02d", y, m, d);
}

/* "1404/05/11 14:05", Tehran time */
static void report_jalali_time(char *buf, size_t size, uint64_t ms)
{
    char date[16];
    uint64_t in_day = (ms + FIG_TZ_OFFSET_MS) % FIG_DAY_MS / 60000;
    report_jalali_date(date, sizeof date, fig_day(ms));
    snprintf(buf, size, "%s %02u:%02u", date, (unsigned)(in_day / 60), (unsigned)(in_day % 60));
}

/* "2026-08-02T14:05:00+03:30", Tehran time */
static void report_iso_time(char *buf, size_t size, uint64_t ms)
{
    int y = 0, m = 0, d = 0;
    uint64_t in_day = (ms + FIG_TZ_OFFSET_MS) % FIG_DAY_MS / 1000;
    gregorian_from_day(fig_day(ms), &y, &m, &d);
    snprintf(buf, size, "%04d-%02d-%02dT%02u:%02u:%02u+03:30", y, m, d, (unsigned)(in_day / 3600),
             (unsigned)(in_day / 60 % 60), (unsigned)(in_day % 60));
}

/* A duration as people say it, in Persian, as the page does: its two
 * largest units ("۲ روز و ۳ ساعت", "۱ دقیقه و ۳۵ ثانیه", "۰ ثانیه"). */
static void report_fa_words(FILE *out, uint64_t ms)
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
    report_fa_u64(out, part[first]);
    fprintf(out, " %s", units[first]);
    if (first < 3 && part[first + 1]) {
        fputs(" و ", out);
        report_fa_u64(out, part[first + 1]);
        fprintf(out, " %s", units[first + 1]);
    }
}

/* ---- the weekly report ---- */

static const char REPORT_CSS[] =
    "body{font-family:'Vazirmatn','Noto Naskh Arabic','Noto Sans Arabic',Tahoma,sans-serif;"
    "margin:2em;color:#222}table{border-collapse:collapse;margin:1em 0}"
    "th,td{border:1px solid #bbb;padding:.3em .6em;text-align:start}th{background:#eef}"
    ".en{color:#666;font-size:.85em}";

static void report_html_th(FILE *out, const char *fa_label, const char *en_label)
{
    fprintf(out, "<th>%s <span class=\"en\" lang=\"en\">%s</span></th>", fa_label, en_label);
}

/* A figure row; the ASCII value is in data-v for machines. */
static void report_html_figure(FILE *out, const char *id, const char *fa_label,
                               const char *en_label, const char *value)
{
    fprintf(out, "<tr>");
    report_html_th(out, fa_label, en_label);
    fprintf(out, "<td id=\"%s\" data-v=\"%s\">", id, value);
    report_fa_number(out, value);
    fputs("</td></tr>\n", out);
}

static void report_html_u64(FILE *out, const char *id, const char *fa_label, const char *en_label,
                     uint64_t v)
{
    char buf[24];
    snprintf(buf, sizeof buf, "%" PRIu64, v);
    report_html_figure(out, id, fa_label, en_label, buf);
}

/* A duration in words; data-v has its seconds (with milliseconds), as the
 * CSV; "-" for both when nothing was timed (n is 0). */
static void report_html_dur(FILE *out, const char *id, const char *fa_label, const char *en_label,
                     uint64_t n, uint64_t ms)
{
    if (!n) {
        report_html_figure(out, id, fa_label, en_label, "-");
        return;
    }
    fputs("<tr>", out);
    report_html_th(out, fa_label, en_label);
    fprintf(out, "<td id=\"%s\" data-v=\"%" PRIu64 ".%03u\">", id, ms / 1000,
            (unsigned)(ms % 1000));
    report_fa_words(out, ms);
    fputs("</td></tr>\n", out);
}

static void report_html_cases(FILE *out, const fig_case_t *cases, size_t n, const char *agency,
                       const render_names_t *names, bool escalated)
{
    fputs("<table><tr>", out);
    report_html_th(out, "شمارهٔ پیگیری", "Tracking");
    report_html_th(out, "تحویل", "Delivery");
    report_html_th(out, "موضوع", "Topic");
    report_html_th(out, "نقش", "Role");
    report_html_th(out, "ایجاد", "Created");
    report_html_th(out, "مهلت پاسخ", "Answer by");
    report_html_th(out, escalated ? "ارجاع" : "دیرکرد", escalated ? "Escalated" : "Overdue");
    report_html_th(out, "وضعیت", "State");
    report_html_th(out, "ارجاع به", "Escalated to");
    fputs("</tr>\n", out);
    for (size_t i = 0; i < n; i++) {
        const fig_case_t *c = &cases[i];
        if (strcmp(c->d->agency, agency) != 0)
            continue;
        char created[32], by[32], at[32];
        report_jalali_time(created, sizeof created, c->d->created);
        report_jalali_time(by, sizeof by, c->d->answer_by);
        report_jalali_time(at, sizeof at, c->at);
        fprintf(out, "<tr class=\"case\" data-tracking=\"%" PRIu64 "\" data-delivery=\"%" PRIu64
                     "\"><td>",
                c->req->tracking, c->d->id);
        report_fa_u64(out, c->req->tracking);
        fputs("</td><td>", out);
        report_fa_u64(out, c->d->id);
        /* the topic by its name in the table, its code beside it for a search */
        const char *topic_fa = NULL, *topic_en = NULL;
        if (names && names->table && table_topic_names(names->table, c->req->topic,
                                                       strlen(c->req->topic), &topic_fa,
                                                       &topic_en) &&
            *topic_fa) {
            fputs("</td><td title=\"", out);
            report_html_str(out, c->req->topic);
            fputs("\">", out);
            report_html_str(out, topic_fa);
        } else {
            fputs("</td><td dir=\"ltr\">", out);
            report_html_str(out, c->req->topic);
        }
        fprintf(out, "</td><td>%s</td><td>", c->d->role);
        report_fa(out, created);
        fputs("</td><td>", out);
        report_fa(out, by);
        fputs("</td><td>", out);
        report_fa(out, at);
        fprintf(out, "</td><td>%s</td><td>", c->d->state);
        if (c->escalation) {
            report_html_str(out, render_name_fa(names, c->escalation->agency));
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
    render_week_name(week, sizeof week, f->day0);
    report_jalali_date(first, sizeof first, f->day0);
    report_jalali_date(last, sizeof last, f->day0 + f->days - 1);
    fprintf(out, "<!DOCTYPE html>\n<html lang=\"fa\" dir=\"rtl\"><head><meta charset=\"utf-8\">"
                 "<title>گزارش هفتهٔ ");
    report_fa(out, first);
    fputs(" تا ", out);
    report_fa(out, last);
    fputs("، ", out);
    report_html_str(out, render_name_fa(names, agency));
    fprintf(out, "</title><style>%s</style></head><body>\n<h1>گزارش هفتگی ", REPORT_CSS);
    report_html_str(out, render_name_fa(names, agency));
    fputs("</h1>\n<p>هفتهٔ شنبه ", out); /* the week as people say it: its dates */
    report_fa(out, first);
    fputs(" تا جمعه ", out);
    report_fa(out, last);
    fprintf(out, "</p>\n<p class=\"en\" lang=\"en\" dir=\"ltr\">Weekly report, ");
    report_html_str(out, render_name_en(names, agency));
    fprintf(out, " (<span id=\"agency\">");
    report_html_str(out, agency);
    fprintf(out, "</span>), week <span id=\"week\">%s</span>: Saturday %s to Friday %s "
                 "(Tehran time)</p>\n<table class=\"figures\">\n",
            week, first, last);
    report_html_u64(out, "open", "باز", "Open", a->open);
    report_html_u64(out, "overdue", "معوق اکنون", "Overdue now", a->overdue);
    report_html_u64(out, "received", "دریافتی", "Received", a->received);
    report_html_u64(out, "on_time", "پاسخ به موقع", "Answered on time", a->on_time);
    report_html_u64(out, "missed", "دیرکرد", "Went overdue", a->missed);
    int pm = render_on_time_permille(a);
    if (pm < 0)
        snprintf(buf, sizeof buf, "-");
    else
        snprintf(buf, sizeof buf, "%d.%d%%", pm / 10, pm % 10);
    report_html_figure(out, "on_time_pct", "درصد به موقع", "On time", buf);
    report_html_dur(out, "ack_p50", "میانهٔ زمان تأیید", "Median time to ack", a->acked, a->ack_p50_ms);
    report_html_dur(out, "ack_p90", "صدک ۹۰ زمان تأیید", "90th percentile time to ack", a->acked,
             a->ack_p90_ms);
    report_html_dur(out, "answer_p50", "میانهٔ زمان پاسخ", "Median time to answer", a->answered,
             a->answer_p50_ms);
    report_html_dur(out, "answer_p90", "صدک ۹۰ زمان پاسخ", "90th percentile time to answer", a->answered,
             a->answer_p90_ms);
    report_html_u64(out, "escalations", "ارجاع به مقام بالاتر", "Escalations", a->escalations);
    report_html_u64(out, "refusals", "عدم پذیرش", "Refusals", a->refusals);
    uint64_t avg = render_avg_hundredths(a);
    snprintf(buf, sizeof buf, "%" PRIu64 ".%02u", avg / 100, (unsigned)(avg % 100));
    report_html_figure(out, "volume_avg28", "میانگین روزانهٔ ۴ هفتهٔ پیش", "Daily mean, previous 4 weeks",
                buf);
    fputs("</table>\n<h2>روزها <span class=\"en\" lang=\"en\">Days</span></h2>\n<table><tr>", out);
    report_html_th(out, "روز", "Day");
    report_html_th(out, "تاریخ", "Date");
    report_html_th(out, "حجم", "Volume");
    report_html_th(out, "به موقع", "On time");
    report_html_th(out, "دیرکرد", "Overdue");
    fputs("</tr>\n", out);
    for (int i = 0; i < f->days; i++) {
        char date[16];
        report_jalali_date(date, sizeof date, f->day0 + i);
        fprintf(out, "<tr class=\"day\" data-volume=\"%" PRIu64 "\"><td>%s</td><td>",
                a->volume[i], REPORT_WEEKDAY_FA[jalali_weekday(f->day0 + i)]);
        report_fa(out, date);
        fputs("</td><td>", out);
        report_fa_u64(out, a->volume[i]);
        fputs("</td><td>", out);
        report_fa_u64(out, a->on_time_day[i]);
        fputs("</td><td>", out);
        report_fa_u64(out, a->missed_day[i]);
        fputs("</td></tr>\n", out);
    }
    fputs("</table>\n<h2>موارد دیرکرد <span class=\"en\" lang=\"en\">Cases that went overdue"
          "</span></h2>\n",
          out);
    report_html_cases(out, f->missed, f->n_missed, agency, names, false);
    fputs("<h2>موارد ارجاع‌شده <span class=\"en\" lang=\"en\">Escalated cases</span></h2>\n", out);
    report_html_cases(out, f->escalated, f->n_escalated, agency, names, true);
    fputs("</body></html>\n", out);
}

/* ",12.345": ms as seconds; "," alone when nothing was timed (n is 0). */
static void report_csv_seconds(FILE *out, uint64_t n, uint64_t ms)
{
    if (n)
        fprintf(out, ",%" PRIu64 ".%03u", ms / 1000, (unsigned)(ms % 1000));
    else
        fputc(',', out);
}

static void report_csv_cases(FILE *out, const char *what, const fig_case_t *cases, size_t n,
                      const char *agency)
{
    for (size_t i = 0; i < n; i++) {
        const fig_case_t *c = &cases[i];
        if (strcmp(c->d->agency, agency) != 0)
            continue;
        char created[40], by[40], at[40];
        report_iso_time(created, sizeof created, c->d->created);
        report_iso_time(by, sizeof by, c->d->answer_by);
        report_iso_time(at, sizeof at, c->at);
        fprintf(out, "%s,%" PRIu64 ",%" PRIu64 ",", what, c->req->tracking, c->d->id);
        report_csv_str(out, c->req->topic);
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
    render_week_name(week, sizeof week, f->day0);
    fputs("week,agency,name_en,open,overdue,received,on_time,missed,on_time_pct,"
          "acked,ack_p50_s,ack_p90_s,answered,answer_p50_s,answer_p90_s,escalations,refusals,"
          "volume_avg28\r\n",
          out);
    fprintf(out, "%s,", week);
    report_csv_str(out, agency);
    fputc(',', out);
    report_csv_str(out, render_name_en(names, agency));
    int pm = render_on_time_permille(a);
    if (pm < 0)
        buf[0] = '\0';
    else
        snprintf(buf, sizeof buf, "%d.%d", pm / 10, pm % 10);
    uint64_t avg = render_avg_hundredths(a);
    fprintf(out, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%s,%" PRIu64,
            a->open, a->overdue, a->received, a->on_time, a->missed, buf, a->acked);
    report_csv_seconds(out, a->acked, a->ack_p50_ms);
    report_csv_seconds(out, a->acked, a->ack_p90_ms);
    fprintf(out, ",%" PRIu64, a->answered);
    report_csv_seconds(out, a->answered, a->answer_p50_ms);
    report_csv_seconds(out, a->answered, a->answer_p90_ms);
    fprintf(out, ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ".%02u\r\n\r\n", a->escalations,
            a->refusals, avg / 100, (unsigned)(avg % 100));
    fputs("date,jalali,weekday,volume,on_time,missed\r\n", out);
    for (int i = 0; i < f->days; i++) {
        int day = f->day0 + i, y = 0, m = 0, d = 0;
        char jdate[16];
        gregorian_from_day(day, &y, &m, &d);
        report_jalali_date(jdate, sizeof jdate, day);
        fprintf(out, "%04d-%02d-%02d,%s,%s,%" PRIu64 ",%" PRIu64 ",%" PRIu64 "\r\n", y, m, d, jdate,
                REPORT_WEEKDAY_EN[jalali_weekday(day)], a->volume[i], a->on_time_day[i],
                a->missed_day[i]);
    }
    fputs("\r\ncase,tracking,delivery,topic,role,level,created,answer_by,at,state,"
          "escalated_to,escalation_state\r\n",
          out);
    report_csv_cases(out, "overdue", f->missed, f->n_missed, agency);
    report_csv_cases(out, "escalated", f->escalated, f->n_escalated, agency);
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

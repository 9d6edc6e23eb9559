/* table_reports: the schedule of the agencies' weekly reports, as the table
 * gives it in its `reports` section.
 *
 * Every agency owes its weekly performance report every Thursday; the
 * operator says here when (a weekday and a time of day, in Tehran time or
 * the section's own offset), for which agencies, in which formats, and
 * where it goes: a folder, a command that takes it on its stdin, a webhook.
 * The broker never reads this section: miz-dashboard, which has the
 * replica and the renderer, delivers the reports (docs/dashboard.md). It
 * lives apart from table_conf.c because its values (a weekday, a clock
 * time, a URL, a shell command) and their checks are its own, and the
 * table's other sections never refer to it. */
#include "table_int.h"

#include <stdio.h>
#include <string.h>

#define REPORTS_COMMAND_MAX 4096
#define REPORTS_URL_MAX 2048
#define REPORTS_PATH_MAX 4096
#define REPORTS_STATE_NAME ".miz-reports-delivered"

static const char *const reports_keys[] = {
    "day",   "at",      "utc_offset", "agencies", "formats", "folder",   "command",
    "webhook", "state", "timeout",    "retry",    "retry_max",
};
enum {
    R_DAY,
    R_AT,
    R_OFFSET,
    R_AGENCIES,
    R_FORMATS,
    R_FOLDER,
    R_COMMAND,
    R_WEBHOOK,
    R_STATE,
    R_TIMEOUT,
    R_RETRY,
    R_RETRY_MAX,
    R_COUNT
};

static const char *const reports_weekdays[] = {"saturday",  "sunday",   "monday", "tuesday",
                                               "wednesday", "thursday", "friday"};

/* "HH:MM" at s (5 bytes there), up to max minutes: minutes, or -1. */
static int reports_clock(const char *s, int max)
{
    for (int i = 0; i < 5; i++)
        if (i == 2 ? s[i] != ':' : s[i] < '0' || s[i] > '9')
            return -1;
    int h = (s[0] - '0') * 10 + (s[1] - '0'), m = (s[3] - '0') * 10 + (s[4] - '0');
    return m < 60 && h * 60 + m <= max ? h * 60 + m : -1;
}

static void reports_read_day(struct loader *ld, const struct field *f, table_reports_t *r)
{
    const struct node *v = schema_scalar_of(ld, f, "reports");
    if (!v)
        return;
    for (int i = 0; i < 7; i++)
        if (schema_text_is(v, reports_weekdays[i])) {
            r->weekday = i;
            return;
        }
    load_fail(ld, v, "bad day \"%s\" in reports (expected saturday, sunday, monday, tuesday, "
                     "wednesday, thursday or friday)",
              load_quote(ld, v));
}

static void reports_read_at(struct loader *ld, const struct field *f, table_reports_t *r)
{
    const struct node *v = schema_scalar_of(ld, f, "reports");
    int t = v && v->len == 5 ? reports_clock(v->text, 23 * 60 + 59) : -1;
    if (v && t < 0)
        load_fail(ld, v, "bad time \"%s\" for \"at\" in reports (expected HH:MM, 00:00 to 23:59)",
                  load_quote(ld, v));
    else if (v)
        r->minute = t;
}

static void reports_read_offset(struct loader *ld, const struct field *f, table_reports_t *r)
{
    const struct node *v = schema_scalar_of(ld, f, "reports");
    if (!v)
        return;
    int t = v->len == 6 && (v->text[0] == '+' || v->text[0] == '-')
                ? reports_clock(v->text + 1, 14 * 60)
                : -1;
    if (t < 0)
        load_fail(ld, v, "bad utc_offset \"%s\" in reports (expected +HH:MM or -HH:MM, at most "
                         "14:00)",
                  load_quote(ld, v));
    else
        r->utc_offset_min = v->text[0] == '-' ? -t : t;
}

/* Known agency ids, none twice. */
static void reports_read_agencies(struct loader *ld, const struct field *f, table_reports_t *r)
{
    const struct node *list = f->value;
    if (!schema_is_kind(ld, list, NODE_SEQ, "\"agencies\" in reports"))
        return;
    if (list->n_children == 0 || list->n_children > TABLE_MAX_AGENCIES) {
        load_fail(ld, list, "\"agencies\" in reports must list 1 to %d agencies (leave it out "
                            "for every agency)",
                  TABLE_MAX_AGENCIES);
        return;
    }
    unsigned *ids = load_keep_array(ld, list->n_children, sizeof *ids);
    if (!ids)
        return;
    size_t n = 0;
    for (const struct node *a = list->child; a; a = a->next) {
        if (!schema_is_kind(ld, a, NODE_SCALAR, "an agency in reports"))
            continue;
        int i = table_agency_find(ld->t, a->text, a->len);
        bool again = false;
        for (size_t j = 0; i >= 0 && j < n; j++)
            again |= ids[j] == (unsigned)i;
        if (i < 0)
            load_fail(ld, a, "unknown agency \"%s\" in reports", load_quote(ld, a));
        else if (again)
            load_fail(ld, a, "agency \"%s\" twice in reports", load_quote(ld, a));
        else
            ids[n++] = (unsigned)i;
    }
    r->agencies = ids;
    r->n_agencies = n;
}

static void reports_read_formats(struct loader *ld, const struct field *f, table_reports_t *r)
{
    const struct node *list = f->value;
    if (!schema_is_kind(ld, list, NODE_SEQ, "\"formats\" in reports"))
        return;
    if (list->n_children == 0)
        load_fail(ld, list, "\"formats\" in reports must list html, csv or both");
    r->formats = 0;
    for (const struct node *v = list->child; v; v = v->next) {
        unsigned bit = schema_text_is(v, "html")  ? TABLE_REPORT_HTML
                       : schema_text_is(v, "csv") ? TABLE_REPORT_CSV
                                                  : 0;
        if (v->kind == NODE_BAD)
            continue;
        if (!bit)
            load_fail(ld, v, "bad format \"%s\" in reports (expected html or csv)",
                      v->kind == NODE_SCALAR ? load_quote(ld, v) : "?");
        else if (r->formats & bit)
            load_fail(ld, v, "format \"%s\" twice in reports", v->text);
        r->formats |= bit;
    }
}

/* A string of 1 to max bytes without control characters. */
static const char *reports_read_text(struct loader *ld, const struct field *f, size_t max,
                                     const char *what)
{
    const char *s;
    if (schema_read_string(ld, f, "reports", &s) < 0)
        return NULL;
    size_t n = strlen(s);
    bool ok = n > 0 && n <= max;
    for (size_t i = 0; ok && i < n; i++)
        ok = (unsigned char)s[i] >= 0x20 && s[i] != 0x7F;
    if (!ok) {
        load_fail(ld, f->value, "bad %s in reports (expected 1 to %zu bytes on one line, no "
                                "control characters)",
                  what, max);
        return NULL;
    }
    return s;
}

/* http://HOST[:PORT][/PATH]: a host of letters, digits, '.', '-' (or an
 * IPv6 address in brackets), a port 1-65535, a path of visible ASCII. */
static bool reports_url_ok(const char *s)
{
    if (strncmp(s, "http://", 7) != 0)
        return false;
    const char *h = s + 7, *e = h;
    if (*h == '[') {
        e = strchr(h, ']');
        if (!e || e == h + 1 || strspn(h + 1, "0123456789abcdefABCDEF:.") != (size_t)(e - h - 1))
            return false;
        e++;
    } else {
        e = h + strspn(h, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-");
        if (e == h)
            return false;
    }
    if (*e == ':') {
        size_t n = strspn(e + 1, "0123456789");
        long port = 0;
        for (size_t i = 0; i < n && i < 6; i++)
            port = port * 10 + (e[1 + i] - '0');
        if (n < 1 || n > 5 || port < 1 || port > 65535)
            return false;
        e += 1 + n;
    }
    if (*e && *e != '/')
        return false;
    for (; *e; e++)
        if ((unsigned char)*e <= 0x20 || (unsigned char)*e >= 0x7F)
            return false;
    return true;
}

static void reports_read_where(struct loader *ld, const struct field *f, table_reports_t *r)
{
    if (f[R_FOLDER].key)
        r->folder = reports_read_text(ld, &f[R_FOLDER], REPORTS_PATH_MAX, "folder");
    if (f[R_COMMAND].key)
        r->command = reports_read_text(ld, &f[R_COMMAND], REPORTS_COMMAND_MAX, "command");
    if (f[R_WEBHOOK].key) {
        const char *url = reports_read_text(ld, &f[R_WEBHOOK], REPORTS_URL_MAX, "webhook");
        if (url && !reports_url_ok(url))
            load_fail(ld, f[R_WEBHOOK].value,
                      "bad webhook \"%s\" in reports (expected http://HOST[:PORT]/PATH; for "
                      "https, a local proxy in front)",
                      load_quote(ld, f[R_WEBHOOK].value));
        else
            r->webhook = url;
    }
    if (f[R_STATE].key)
        r->state = reports_read_text(ld, &f[R_STATE], REPORTS_PATH_MAX, "state");
}

void reports_read(struct loader *ld, const struct field *top)
{
    struct field f[R_COUNT];
    table_reports_t *r;
    if (!top->key || schema_read_map(ld, top->value, "reports", reports_keys, R_COUNT, f) < 0 ||
        !(r = load_keep_array(ld, 1, sizeof *r)))
        return;
    *r = (table_reports_t){
        .weekday = 5, /* Thursday */
        .utc_offset_min = 3 * 60 + 30,
        .formats = TABLE_REPORT_HTML,
        .timeout_ms = 60 * 1000,
        .retry_ms = 60 * 1000,
        .retry_max_ms = 3600 * 1000,
        .line = top->key->line,
    };
    if (f[R_DAY].key)
        reports_read_day(ld, &f[R_DAY], r);
    if (!f[R_AT].key)
        schema_missing(ld, top->value, "at", "reports");
    else
        reports_read_at(ld, &f[R_AT], r);
    if (f[R_OFFSET].key)
        reports_read_offset(ld, &f[R_OFFSET], r);
    if (f[R_AGENCIES].key)
        reports_read_agencies(ld, &f[R_AGENCIES], r);
    if (f[R_FORMATS].key)
        reports_read_formats(ld, &f[R_FORMATS], r);
    reports_read_where(ld, f, r);
    if (!f[R_FOLDER].key && !f[R_COMMAND].key && !f[R_WEBHOOK].key)
        load_fail(ld, top->key, "reports: say where they go: \"folder\", \"command\", "
                                "\"webhook\", or more than one");
    if (!f[R_STATE].key && !f[R_FOLDER].key && (f[R_COMMAND].key || f[R_WEBHOOK].key))
        load_fail(ld, top->key, "reports: without \"folder\", \"state\" must say where to keep "
                                "what was delivered");
    if (!f[R_STATE].key && r->folder) {
        size_t n = strlen(r->folder) + sizeof "/" REPORTS_STATE_NAME;
        char *s = load_keep_array(ld, n, 1);
        if (s)
            snprintf(s, n, "%s/%s", r->folder, REPORTS_STATE_NAME);
        r->state = s;
    }
    if (f[R_TIMEOUT].key)
        schema_read_duration(ld, &f[R_TIMEOUT], "reports", &r->timeout_ms);
    if (f[R_RETRY].key)
        schema_read_duration(ld, &f[R_RETRY], "reports", &r->retry_ms);
    if (f[R_RETRY_MAX].key)
        schema_read_duration(ld, &f[R_RETRY_MAX], "reports", &r->retry_max_ms);
    if (r->retry_ms > r->retry_max_ms)
        load_fail(ld, f[R_RETRY].key ? f[R_RETRY].value : top->key,
                  "retry (%llu ms) exceeds retry_max (%llu ms) in reports",
                  (unsigned long long)r->retry_ms, (unsigned long long)r->retry_max_ms);
    ld->t->reports = r;
}

const table_reports_t *table_reports(const table_t *t)
{
    return t->reports;
}

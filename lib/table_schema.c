/* table_schema: reading a table's values by type, its agencies and calendars.
 *
 * Every section of the table is a map of known keys with values of known
 * kinds; the readers here check a map's keys (unknown, repeated), a value's
 * kind and its form (strings, integers, durations), each with its own
 * message. With them it reads the agencies (the ids every route and key
 * names) and the calendars (working hours, holidays and offset), which the
 * routes' deadlines may count in, and answers the one question asked of
 * them afterwards: whether a calendar lists the holidays of a year
 * (mizd --check warns when this year's are missing). */
#include "table_int.h"

#include "duration.h"
#include "jalali.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- typed fields ---- */

bool schema_text_is(const struct node *n, const char *s)
{
    return n->kind == NODE_SCALAR && strcmp(n->text, s) == 0;
}

static const char *schema_kind_noun(enum node_kind kind)
{
    return kind == NODE_MAP ? "a map" : kind == NODE_SEQ ? "a list" : "a string";
}

bool schema_is_kind(struct loader *ld, const struct node *n, enum node_kind kind, const char *what)
{
    if (n->kind == kind)
        return true;
    if (n->kind != NODE_BAD)
        load_fail(ld, n, "%s must be %s, not %s", what, schema_kind_noun(kind),
                  schema_kind_noun(n->kind));
    return false;
}

const char *schema_field_name(struct loader *ld, const struct field *f, const char *where)
{
    size_t n = f->key->len + strlen(where) + 8;
    char *s = load_scratch(ld, n);
    if (!s)
        return "";
    snprintf(s, n, "\"%s\" in %s", f->key->text, where);
    return s;
}

int schema_read_map(struct loader *ld, const struct node *map, const char *where,
                    const char *const *names, size_t n_names, struct field *fields)
{
    memset(fields, 0, n_names * sizeof *fields);
    if (!schema_is_kind(ld, map, NODE_MAP, where))
        return -1;
    for (const struct node *k = map->child; k; k = k->next->next) {
        size_t i = 0;
        while (i < n_names && !schema_text_is(k, names[i]))
            i++;
        if (k->kind != NODE_SCALAR) {
            continue; /* reported while reading the tree */
        } else if (i == n_names) {
            char expected[256] = "";
            for (size_t j = 0; j < n_names; j++)
                snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                         j ? ", " : "", names[j]);
            load_fail(ld, k, "unknown key \"%s\" in %s (expected %s)", load_quote(ld, k), where,
                      expected);
        } else if (fields[i].key) {
            load_fail(ld, k, "duplicate key \"%s\" in %s (first on line %u)", names[i], where,
                      fields[i].key->line);
        } else {
            fields[i] = (struct field){k, k->next};
        }
    }
    return 0;
}

void schema_missing(struct loader *ld, const struct node *map, const char *key, const char *where)
{
    load_fail(ld, map, "missing key \"%s\" in %s", key, where);
}

const struct node *schema_scalar_of(struct loader *ld, const struct field *f, const char *where)
{
    return schema_is_kind(ld, f->value, NODE_SCALAR, schema_field_name(ld, f, where)) ? f->value
                                                                                      : NULL;
}

int schema_read_string(struct loader *ld, const struct field *f, const char *where,
                       const char **out)
{
    const struct node *v = schema_scalar_of(ld, f, where);
    if (!v)
        return -1;
    if (v->len == 0) {
        load_fail(ld, v, "%s must not be empty", schema_field_name(ld, f, where));
        return -1;
    }
    *out = load_keep_string(ld, v->text, v->len);
    return 0;
}

int schema_read_uint(struct loader *ld, const struct field *f, const char *where, uint64_t min,
                     uint64_t max, uint64_t *out)
{
    const struct node *v = schema_scalar_of(ld, f, where);
    if (!v)
        return -1;
    bool ok = v->plain && v->len > 0 && !(v->text[0] == '0' && v->len > 1);
    uint64_t value = 0;
    for (size_t i = 0; ok && i < v->len; i++) {
        ok = v->text[i] >= '0' && v->text[i] <= '9';
        value = value * 10 + (uint64_t)(v->text[i] - '0');
        ok = ok && value <= max;
    }
    if (!ok || value < min) {
        load_fail(ld, v, "%s must be an integer from %llu to %llu, not \"%s\"",
                  schema_field_name(ld, f, where), (unsigned long long)min, (unsigned long long)max,
                  load_quote(ld, v));
        return -1;
    }
    *out = value;
    return 0;
}

int schema_read_duration(struct loader *ld, const struct field *f, const char *where, uint64_t *out)
{
    const struct node *v = schema_scalar_of(ld, f, where);
    const char *why;
    if (!v)
        return -1;
    if (duration_parse(v->text, v->len, out, &why) < 0) {
        load_fail(ld, v, "bad duration \"%s\" for %s: %s", load_quote(ld, v),
                  schema_field_name(ld, f, where), why);
        return -1;
    }
    return 0;
}

bool table_is_name(const char *s, size_t n, size_t max)
{
    if (n == 0 || n > max)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_' ||
              s[i] == '-'))
            return false;
    return true;
}

/* ---- agencies ---- */

static const char *const agency_keys[] = {"name_fa", "name_en"};

static int schema_by_id_order(const void *a, const void *b)
{
    const agency_t *x = *(const agency_t *const *)a, *y = *(const agency_t *const *)b;
    int c = strcmp(x->id, y->id);
    return c ? c : (x > y) - (x < y);
}

static void schema_read_agency(struct loader *ld, const struct node *key, agency_t *a)
{
    struct field f[2];
    char where[QUOTE_MAX + 16];

    snprintf(where, sizeof where, "agency \"%s\"", load_quote(ld, key));
    a->id = load_keep_string(ld, key->text, key->len);
    a->name_fa = a->name_en = "";
    if (!table_is_name(key->text, key->len, MIZ_AGENCY_MAX))
        load_fail(ld, key, "bad agency id \"%s\" (expected [a-z0-9_-], 1 to %d characters)",
                  load_quote(ld, key), MIZ_AGENCY_MAX);
    if (schema_read_map(ld, key->next, where, agency_keys, 2, f) < 0)
        return;
    if (!f[0].key && !f[1].key)
        load_fail(ld, key->next, "%s needs name_fa or name_en", where);
    if (f[0].key)
        schema_read_string(ld, &f[0], where, &a->name_fa);
    if (f[1].key)
        schema_read_string(ld, &f[1], where, &a->name_en);
}

void schema_read_agencies(struct loader *ld, const struct node *root, const struct field *top)
{
    table_t *t = ld->t;
    const struct node **keys;

    if (!top->key) {
        schema_missing(ld, root, "agencies", "the top-level map");
        return;
    }
    if (!schema_is_kind(ld, top->value, NODE_MAP, "agencies"))
        return;
    size_t n = top->value->n_children / 2;
    if (n == 0)
        load_fail(ld, top->value, "agencies must name at least one agency");
    t->agencies = load_keep_array(ld, n, sizeof *t->agencies);
    t->by_id = load_keep_array(ld, n, sizeof *t->by_id);
    keys = load_scratch(ld, n * sizeof *keys);
    if (!t->agencies || !t->by_id || !keys)
        return;
    for (const struct node *k = top->value->child; k; k = k->next->next) {
        if (k->kind != NODE_SCALAR)
            continue;
        if (t->n_agencies == TABLE_MAX_AGENCIES) {
            load_fail(ld, k, "more than %d agencies", TABLE_MAX_AGENCIES);
            break;
        }
        keys[t->n_agencies] = k;
        schema_read_agency(ld, k, &t->agencies[t->n_agencies]);
        t->by_id[t->n_agencies] = &t->agencies[t->n_agencies];
        t->n_agencies++;
    }
    if (ld->oom)
        return;
    qsort(t->by_id, t->n_agencies, sizeof *t->by_id, schema_by_id_order);
    for (size_t i = 1; i < t->n_agencies; i++)
        if (strcmp(t->by_id[i - 1]->id, t->by_id[i]->id) == 0) {
            const struct node *first = keys[t->by_id[i - 1] - t->agencies];
            load_fail(ld, keys[t->by_id[i] - t->agencies],
                      "duplicate key \"%s\" in agencies (first on line %u)", load_quote(ld, first),
                      first->line);
        }
}

/* ---- calendars: deadlines counted in working time ---- */

#define TABLE_MAX_CALENDARS 64
static const char *const calendar_keys[] = {"days", "holidays", "utc_offset"};
enum { C_DAYS, C_HOLIDAYS, C_OFFSET, C_COUNT };
/* Iran's week: index = jalali_weekday() */
static const char *const day_keys[] = {"saturday",  "sunday",   "monday", "tuesday",
                                       "wednesday", "thursday", "friday"};

/* Exactly n decimal digits at s: their value, or -1. */
static int schema_digits(const char *s, size_t n)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    return v;
}

/* "HH:MM", 00:00 to 24:00: minutes of the day, or -1. */
static int schema_clock_time(const char *s)
{
    int h = schema_digits(s, 2), m = schema_digits(s + 3, 2);
    return s[2] == ':' && h >= 0 && m >= 0 && m < 60 && h * 60 + m <= 24 * 60 ? h * 60 + m : -1;
}

/* "off", or working hours "HH:MM-HH:MM" */
static void schema_read_hours(struct loader *ld, const struct field *f, const char *where,
                              int weekday, workcal_t *clock)
{
    const struct node *v = schema_scalar_of(ld, f, where);
    if (!v || schema_text_is(v, "off"))
        return;
    int from = v->len == 11 && v->text[5] == '-' ? schema_clock_time(v->text) : -1;
    int to = from >= 0 ? schema_clock_time(v->text + 6) : -1;
    if (to <= from || workcal_set_day(clock, weekday, from, to) < 0)
        load_fail(ld, v, "bad hours \"%s\" for %s (expected off or HH:MM-HH:MM, the end after "
                         "the start)",
                  load_quote(ld, v), schema_field_name(ld, f, where));
}

/* Jalali dates "YYYY-MM-DD"; their years are kept for --check's question. */
static void schema_read_holidays(struct loader *ld, const struct field *f, const char *where,
                                 struct calendar *c)
{
    workcal_t *clock = c->clock;
    if (!schema_is_kind(ld, f->value, NODE_SEQ, schema_field_name(ld, f, where)))
        return;
    if (f->value->n_children &&
        !(c->years = load_keep_array(ld, f->value->n_children, sizeof *c->years)))
        return;
    for (const struct node *d = f->value->child; d; d = d->next) {
        if (d->kind == NODE_BAD)
            continue;
        bool shaped =
            d->kind == NODE_SCALAR && d->len == 10 && d->text[4] == '-' && d->text[7] == '-';
        int y = shaped ? schema_digits(d->text, 4) : -1,
            m = shaped ? schema_digits(d->text + 5, 2) : -1,
            day = shaped ? schema_digits(d->text + 8, 2) : -1;
        if (y < 0 || m < 0 || day < 0 || workcal_add_holiday(clock, y, m, day) < 0)
            load_fail(ld, d, "bad holiday \"%s\" in %s (expected a Jalali date YYYY-MM-DD "
                             "that exists, as 1404-01-01)",
                      load_quote(ld, d), schema_field_name(ld, f, where));
        else
            c->years[c->n_years++] = y;
    }
}

/* "+03:30" (Iran since 1401 keeps no daylight saving time) */
static void schema_read_offset(struct loader *ld, const struct field *f, const char *where,
                               workcal_t *clock)
{
    const struct node *v = schema_scalar_of(ld, f, where);
    if (!v)
        return;
    int t = v->len == 6 && (v->text[0] == '+' || v->text[0] == '-') ? schema_clock_time(v->text + 1)
                                                                    : -1;
    if (t < 0 || workcal_set_utc_offset(clock, v->text[0] == '-' ? -t : t) < 0)
        load_fail(ld, v, "bad utc_offset \"%s\" for %s (expected +HH:MM or -HH:MM)",
                  load_quote(ld, v), schema_field_name(ld, f, where));
}

static void schema_read_calendar(struct loader *ld, const struct node *key, struct calendar *c)
{
    struct field f[C_COUNT], days[7];
    char where[QUOTE_MAX + 32];
    size_t errors = ld->n_errors;
    *c = (struct calendar){.line = key->line, .col = key->col};
    c->name = load_keep_string(ld, key->text, key->len);
    snprintf(where, sizeof where, "calendar \"%s\"", load_quote(ld, key));
    if (!table_is_name(key->text, key->len, TABLE_NAME_MAX))
        load_fail(ld, key, "bad calendar name \"%s\" (expected 1-%d of a-z 0-9 _ -)",
                  load_quote(ld, key), TABLE_NAME_MAX);
    else if (schema_text_is(key, "none"))
        load_fail(ld, key, "\"none\" means no calendar: a calendar needs another name");
    if (!(c->clock = workcal_new())) {
        ld->oom = true;
        return;
    }
    if (schema_read_map(ld, key->next, where, calendar_keys, C_COUNT, f) < 0)
        return;
    if (!f[C_DAYS].key)
        schema_missing(ld, key->next, "days", where);
    else if (schema_read_map(ld, f[C_DAYS].value, where, day_keys, 7, days) == 0)
        for (int d = 0; d < 7; d++)
            if (days[d].key)
                schema_read_hours(ld, &days[d], where, d, c->clock);
    if (f[C_HOLIDAYS].key)
        schema_read_holidays(ld, &f[C_HOLIDAYS], where, c);
    if (f[C_OFFSET].key)
        schema_read_offset(ld, &f[C_OFFSET], where, c->clock);
    if (f[C_DAYS].key && ld->n_errors == errors && workcal_add(c->clock, 0, 1) == UINT64_MAX)
        load_fail(ld, f[C_DAYS].key, "%s has no working hours: its deadlines would never come",
                  where);
}

void schema_read_calendars(struct loader *ld, const struct field *top)
{
    table_t *t = ld->t;
    if (!top->key || !schema_is_kind(ld, top->value, NODE_MAP, "calendars"))
        return;
    size_t n = top->value->n_children / 2;
    if (n > TABLE_MAX_CALENDARS) {
        load_fail(ld, top->value, "more than %d calendars", TABLE_MAX_CALENDARS);
        return;
    }
    t->calendars = load_keep_array(ld, n, sizeof *t->calendars);
    if (!t->calendars)
        return;
    for (const struct node *k = top->value->child; k; k = k->next->next) {
        if (k->kind != NODE_SCALAR)
            continue;
        for (size_t i = 0; i < t->n_calendars; i++)
            if (schema_text_is(k, t->calendars[i].name))
                load_fail(ld, k, "duplicate key \"%s\" in calendars", load_quote(ld, k));
        schema_read_calendar(ld, k, &t->calendars[t->n_calendars++]);
    }
}

/* ---- whether a calendar lists this year's holidays (mizd --check) ---- */

size_t table_calendar_count(const table_t *t)
{
    return t->n_calendars;
}

const char *table_calendar_name(const table_t *t, size_t i, unsigned *line, unsigned *col)
{
    if (i >= t->n_calendars)
        return NULL;
    *line = t->calendars[i].line;
    *col = t->calendars[i].col;
    return t->calendars[i].name;
}

bool table_calendar_has_holiday(const table_t *t, size_t i, int jy)
{
    for (size_t k = 0; i < t->n_calendars && k < t->calendars[i].n_years; k++)
        if (t->calendars[i].years[k] == jy)
            return true;
    return false;
}

#define SCHEMA_DAY_MS (24 * 3600 * 1000ULL)
#define SCHEMA_ESFAND_MIDDLE 15 /* from 16 Esfand on, next year's holidays are due */

int table_holiday_years_due(uint64_t now_ms, int years[2])
{
    int jy, jm, jd;
    if (now_ms >= WORKCAL_MAX_MS ||
        !jalali_from_day((int)((now_ms + WORKCAL_IRST * 60 * 1000ULL) / SCHEMA_DAY_MS), &jy, &jm,
                         &jd))
        return 0;
    years[0] = jy;
    if (jm < 12 || jd <= SCHEMA_ESFAND_MIDDLE)
        return 1;
    years[1] = jy + 1;
    return 2;
}

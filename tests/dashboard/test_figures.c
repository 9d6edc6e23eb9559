/* Unit tests of the replica (lib/stream.c), the figures and their
 * renderings: events are packed as mizd publishes them and applied to a
 * replica, on a scripted week, 1404-W32 (Saturday 1404/07/26, 2025-10-18). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "figures.h"
#include "jalali.h"
#include "render.h"
#include "stream.h"

#define MIN 60000ULL
#define HOUR (60 * MIN)
#define MAX_DELIVERIES 128

/* What the scene knows of each delivery, so a step names only its id. */
typedef struct {
    uint64_t tracking, created, answer_by, from, level;
    const char *agency, *role, *state;
    bool overdue;
} dl_t;

typedef struct {
    miz_replica_t *r;
    int day0;       /* Saturday of 1404-W32, 1404/07/26 */
    uint64_t t0;    /* its 00:00 Tehran time */
    uint64_t seq;
    dl_t d[MAX_DELIVERIES];
} scene_t;

static const char *const AGENCIES[] = {"water", "power", "governorate"};

static int setup(void **state)
{
    scene_t *s = calloc(1, sizeof *s);
    assert_non_null(s);
    s->r = miz_replica_new();
    assert_non_null(s->r);
    assert_true(jalali_week_first_day(1404, 32, &s->day0));
    s->t0 = fig_day_start(s->day0);
    *state = s;
    return 0;
}

static int teardown(void **state)
{
    scene_t *s = *state;
    miz_replica_destroy(&s->r);
    free(s);
    return 0;
}

static void kv_str(msgpack_packer *pk, const char *k, const char *v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    if (v)
        msgpack_pack_str_with_body(pk, v, strlen(v));
    else
        msgpack_pack_nil(pk);
}

static void kv_u64(msgpack_packer *pk, const char *k, uint64_t v)
{
    msgpack_pack_str_with_body(pk, k, strlen(k));
    msgpack_pack_uint64(pk, v);
}

/* Applies one event, packed with the keys of protocol.md 8.1; delivery 0
 * is a request event. Returns what miz_replica_apply returned. */
static int publish(scene_t *s, const char *event, uint64_t at, uint64_t tracking, uint64_t id)
{
    const dl_t *d = id ? &s->d[id] : NULL;
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 21);
    kv_u64(&pk, "seq", ++s->seq);
    kv_u64(&pk, "run", 1);
    kv_str(&pk, "event", event);
    kv_u64(&pk, "at", at);
    kv_u64(&pk, "tracking", tracking);
    kv_str(&pk, "topic", "utility.water.cut");
    kv_str(&pk, "kind", "request");
    kv_str(&pk, "priority", "routine");
    kv_u64(&pk, "created", s->t0);
    kv_u64(&pk, "delivery", id);
    kv_str(&pk, "agency", d ? d->agency : NULL);
    kv_str(&pk, "role", d ? d->role : NULL);
    kv_u64(&pk, "level", d ? d->level : 0);
    kv_str(&pk, "state", d ? d->state : strcmp(event, "closed") == 0 ? "closed" : "open");
    msgpack_pack_str_with_body(&pk, "overdue", 7);
    if (d && d->overdue)
        msgpack_pack_true(&pk);
    else
        msgpack_pack_false(&pk);
    kv_u64(&pk, "attempts", 1);
    kv_u64(&pk, "delivery_created", d ? d->created : 0);
    kv_u64(&pk, "ack_by", 0);
    kv_u64(&pk, "answer_by", d ? d->answer_by : 0);
    kv_u64(&pk, "from", d ? d->from : 0);
    msgpack_pack_str_with_body(&pk, "worker", 6);
    msgpack_pack_uint64(&pk, 1);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, buf.data, buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
    int rc = miz_replica_apply(s->r, &u.data);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&buf);
    return rc;
}

/* A new delivery of tracking, queued at created, due answer_within later
 * (0: a copy, no answer deadline). */
static void deliver(scene_t *s, uint64_t tracking, uint64_t id, const char *agency,
                    const char *role, uint64_t created, uint64_t answer_within)
{
    assert_true(id < MAX_DELIVERIES);
    s->d[id] = (dl_t){tracking, created, answer_within ? created + answer_within : 0, 0, 0,
                      agency, role, "queued", false};
    assert_int_equal(publish(s, "queued", created, tracking, id), 0);
}

/* The delivery moves on: an event at a time, leaving it in state. */
static void step(scene_t *s, uint64_t id, const char *event, uint64_t at, const char *state)
{
    s->d[id].state = state;
    if (strcmp(event, "overdue") == 0)
        s->d[id].overdue = true;
    assert_int_equal(publish(s, event, at, s->d[id].tracking, id), 0);
}

static void request(scene_t *s, uint64_t tracking, uint64_t at)
{
    assert_int_equal(publish(s, "received", at, tracking, 0), 0);
}

/* A water request at at: acked after ack, answered after answer (0: not). */
static void served(scene_t *s, uint64_t tracking, uint64_t at, uint64_t ack, uint64_t answer)
{
    request(s, tracking, at);
    deliver(s, tracking, tracking, "water", "target", at, 4 * HOUR);
    step(s, tracking, "offered", at, "offered");
    if (ack)
        step(s, tracking, "acked", at + ack, "acked");
    if (answer)
        step(s, tracking, "answered", at + answer, "answered");
}

static figures_t *week(scene_t *s, uint64_t now)
{
    figures_t *f = figures_compute(s->r, AGENCIES, 3, s->day0, 7, now);
    assert_non_null(f);
    return f;
}

static void test_tehran_days(void **state)
{
    (void)state;
    int day;
    /* 1 Farvardin 1404 = 2025-03-21, which starts at 2025-03-20T20:30:00Z */
    assert_true(jalali_to_day(1404, 1, 1, &day));
    assert_int_equal(fig_day_start(day), 1742502600000ULL);
    assert_int_equal(fig_day(1742502600000ULL), day);
    assert_int_equal(fig_day(1742502600000ULL - 1), day - 1);
    assert_int_equal(fig_day(1742502600000ULL + FIG_DAY_MS - 1), day);
}

static void test_percentiles_are_nearest_rank(void **state)
{
    scene_t *s = *state;
    /* ten requests on Sunday: acked after 1..10 min, answered after 10..100 */
    for (uint64_t i = 1; i <= 10; i++)
        served(s, i, s->t0 + 24 * HOUR + i * MIN, i * MIN, 10 * i * MIN);
    figures_t *f = week(s, s->t0 + 3 * 24 * HOUR);
    const fig_agency_t *w = figures_agency(f, "water");
    assert_int_equal(w->acked, 10);
    assert_int_equal(w->ack_p50_ms, 5 * MIN);   /* rank ceil(5.0) = 5 */
    assert_int_equal(w->ack_p90_ms, 9 * MIN);   /* rank ceil(9.0) = 9 */
    assert_int_equal(w->answered, 10);
    assert_int_equal(w->answer_p50_ms, 50 * MIN);
    assert_int_equal(w->answer_p90_ms, 90 * MIN);
    assert_int_equal(w->on_time, 10);
    assert_int_equal(w->received, 10);
    assert_int_equal(w->volume[1], 10);
    figures_destroy(&f);
    /* an eleventh: rank ceil(5.5) = 6 and ceil(9.9) = 10 */
    served(s, 11, s->t0 + 24 * HOUR, 11 * MIN, 0);
    f = week(s, s->t0 + 3 * 24 * HOUR);
    w = figures_agency(f, "water");
    assert_int_equal(w->ack_p50_ms, 6 * MIN);
    assert_int_equal(w->ack_p90_ms, 10 * MIN);
    assert_int_equal(w->open, 1);
    figures_destroy(&f);
    assert_null(f);
}

static void test_a_second_ack_is_not_timed(void **state)
{
    scene_t *s = *state;
    served(s, 1, s->t0 + HOUR, 2 * MIN, 0);
    step(s, 1, "redelivered", s->t0 + HOUR + 3 * MIN, "queued");
    step(s, 1, "offered", s->t0 + HOUR + 4 * MIN, "offered");
    step(s, 1, "acked", s->t0 + HOUR + 30 * MIN, "acked");
    figures_t *f = week(s, s->t0 + 2 * HOUR);
    const fig_agency_t *w = figures_agency(f, "water");
    assert_int_equal(w->acked, 1);
    assert_int_equal(w->ack_p50_ms, 2 * MIN);
    assert_int_equal(w->ack_p90_ms, 2 * MIN);
    figures_destroy(&f);
}

static void test_on_time_missed_escalated_refused(void **state)
{
    scene_t *s = *state;
    uint64_t mon = s->t0 + 2 * 24 * HOUR;
    served(s, 1, mon, MIN, 3 * HOUR); /* on time */
    served(s, 2, mon, MIN, 0);        /* overdue at +4h, answered late at +5h */
    step(s, 2, "overdue", mon + 4 * HOUR, "acked");
    step(s, 2, "answered", mon + 5 * HOUR, "answered");
    served(s, 3, mon, 0, 0); /* overdue and still open, escalated to the governorate */
    step(s, 3, "overdue", mon + 4 * HOUR, "offered");
    deliver(s, 3, 30, "governorate", "escalation", mon + 4 * HOUR, 4 * HOUR);
    s->d[30].from = 3;
    s->d[30].level = 1;
    step(s, 30, "offered", mon + 4 * HOUR, "offered");
    step(s, 3, "escalated", mon + 4 * HOUR, "offered");
    served(s, 4, mon, MIN, 0); /* refused */
    step(s, 4, "refused", mon + 2 * HOUR, "refused");
    deliver(s, 4, 40, "inspection", "observe", mon, 0); /* copies are not counted */
    step(s, 40, "offered", mon, "offered");

    figures_t *f = week(s, mon + 6 * HOUR);
    const fig_agency_t *w = figures_agency(f, "water");
    assert_int_equal(w->on_time, 1);
    assert_int_equal(w->missed, 2);
    assert_int_equal(w->on_time_day[2], 1);
    assert_int_equal(w->missed_day[2], 2);
    assert_int_equal(w->answered, 2);
    assert_int_equal(w->answer_p50_ms, 3 * HOUR);
    assert_int_equal(w->answer_p90_ms, 5 * HOUR);
    assert_int_equal(w->escalations, 1);
    assert_int_equal(w->refusals, 1);
    assert_int_equal(w->open, 1);
    assert_int_equal(w->overdue, 1);
    assert_int_equal(w->received, 4);
    const fig_agency_t *g = figures_agency(f, "governorate");
    assert_int_equal(g->open, 1);
    assert_int_equal(g->overdue, 0);
    assert_int_equal(g->received, 0); /* escalations are not volume */
    /* the observer's agency is listed after the named ones, with no figures */
    assert_int_equal(f->n_agencies, 4);
    assert_string_equal(f->agencies[3].agency, "inspection");
    assert_int_equal(f->agencies[3].open, 0);
    /* cases: delivery 3 is overdue now and escalated to the governorate */
    assert_int_equal(f->n_overdue, 1);
    assert_int_equal(f->overdue[0].d->id, 3);
    assert_string_equal(f->overdue[0].escalation->agency, "governorate");
    assert_int_equal(f->n_missed, 2);
    assert_int_equal(f->n_escalated, 1);
    assert_int_equal(f->escalated[0].d->id, 3);
    figures_destroy(&f);
}

static void test_week_edges(void **state)
{
    scene_t *s = *state;
    uint64_t next = s->t0 + 7 * 24 * HOUR; /* the next Saturday, 00:00 */
    served(s, 1, next - HOUR, MIN, HOUR - 1); /* Friday 23:59:59.999: in */
    served(s, 2, next - HOUR, MIN, HOUR);     /* Saturday 00:00: out */
    served(s, 3, s->t0 - 1, 0, 0);            /* the Friday before: out */
    figures_t *f = week(s, next + HOUR);
    const fig_agency_t *w = figures_agency(f, "water");
    assert_int_equal(w->answered, 1);
    assert_int_equal(w->on_time_day[6], 1);
    assert_int_equal(w->received, 2);
    assert_int_equal(w->volume[6], 2);
    assert_int_equal(w->volume_before, 1);
    figures_destroy(&f);
}

static void test_volume_against_four_weeks(void **state)
{
    scene_t *s = *state;
    uint64_t t = 1;
    /* two a day on each of the 28 days before the week, one on the 29th */
    for (int day = 1; day <= 28; day++)
        for (int k = 0; k < 2; k++, t++)
            served(s, t, s->t0 - (uint64_t)day * 24 * HOUR + HOUR, MIN, HOUR);
    served(s, t++, s->t0 - 29 * 24 * HOUR + HOUR, MIN, HOUR);
    served(s, t++, s->t0 + 3 * 24 * HOUR, 0, 0); /* Tuesday */
    figures_t *f = week(s, s->t0 + 4 * 24 * HOUR);
    const fig_agency_t *w = figures_agency(f, "water");
    assert_int_equal(w->volume_before, 56);
    assert_int_equal(w->volume[3], 1);
    assert_int_equal(w->received, 1);
    /* answers before the week count in no figure of the week */
    assert_int_equal(w->answered, 0);
    assert_int_equal(w->on_time, 0);
    render_names_t names = {NULL, 0, NULL};
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    render_report_csv(out, f, "water", &names);
    fclose(out);
    assert_non_null(strstr(text, ",2.00\r\n")); /* the daily mean, 56 / 28 */
    assert_non_null(strstr(text, "2025-10-21,1404/07/29,Tuesday,1,0,0\r\n"));
    free(text);
    figures_destroy(&f);
}

/* The on-time trend: answered on time and went overdue per 7 days, the
 * week's and the 7 before it; older ones in none. */
static void test_on_time_trend(void **state)
{
    scene_t *s = *state;
    const uint64_t DAY = 24 * HOUR;
    served(s, 1, s->t0 + DAY, MIN, HOUR);             /* this week */
    served(s, 2, s->t0 - 7 * DAY, MIN, HOUR);         /* the week before: its Saturday */
    served(s, 3, s->t0 - DAY + 10 * HOUR, MIN, HOUR); /* and its Friday */
    served(s, 4, s->t0 - 49 * DAY, MIN, HOUR);        /* the oldest week of the 8 */
    served(s, 5, s->t0 - 44 * DAY, MIN, 0);
    step(s, 5, "overdue", s->t0 - 44 * DAY + 5 * HOUR, "acked");
    served(s, 6, s->t0 - 50 * DAY, MIN, HOUR);        /* before the 8 weeks */
    figures_t *f = week(s, s->t0 + 2 * DAY);
    const fig_agency_t *w = figures_agency(f, "water");
    static const uint64_t on_time[FIG_TREND_WEEKS] = {1, 0, 0, 0, 0, 0, 2, 1};
    static const uint64_t missed[FIG_TREND_WEEKS] = {1, 0, 0, 0, 0, 0, 0, 0};
    for (int i = 0; i < FIG_TREND_WEEKS; i++) {
        assert_int_equal(w->trend_on_time[i], on_time[i]);
        assert_int_equal(w->trend_missed[i], missed[i]);
    }
    /* this week's is the week's figures */
    assert_int_equal(w->trend_on_time[FIG_TREND_WEEKS - 1], w->on_time);
    figures_destroy(&f);
}

static void test_overdue_list_oldest_first(void **state)
{
    scene_t *s = *state;
    uint64_t mon = s->t0 + 2 * 24 * HOUR;
    served(s, 1, mon + 2 * HOUR, 0, 0);
    served(s, 2, mon + 3 * HOUR, 0, 0);
    served(s, 3, mon + 1 * HOUR, 0, 0);
    served(s, 4, mon, 0, 0); /* overdue, then answered: not on the list */
    for (uint64_t id = 1; id <= 4; id++)
        step(s, id, "overdue", s->d[id].answer_by, "offered");
    step(s, 4, "answered", mon + 5 * HOUR, "answered");
    figures_t *f = week(s, mon + 10 * HOUR);
    assert_int_equal(f->n_overdue, 3);
    assert_int_equal(f->overdue[0].d->id, 3);
    assert_int_equal(f->overdue[1].d->id, 1);
    assert_int_equal(f->overdue[2].d->id, 2);
    assert_int_equal(f->n_missed, 4);
    figures_destroy(&f);
}

static void test_replica_takes_status_objects_and_prunes(void **state)
{
    scene_t *s = *state;
    /* a status reply's shape, with the keys a snapshot leaves out */
    msgpack_sbuffer buf;
    msgpack_packer pk;
    msgpack_sbuffer_init(&buf);
    msgpack_packer_init(&pk, &buf, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 10);
    kv_str(&pk, "type", "status");
    kv_u64(&pk, "tracking", 7);
    kv_str(&pk, "topic", "utility.power.cut");
    kv_str(&pk, "kind", "complaint");
    kv_str(&pk, "priority", "urgent");
    kv_str(&pk, "state", "closed");
    kv_u64(&pk, "created", s->t0);
    kv_u64(&pk, "closed", s->t0 + HOUR);
    kv_str(&pk, "client_ref", "137-1");
    msgpack_pack_str_with_body(&pk, "deliveries", 10);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_map(&pk, 15);
    kv_u64(&pk, "id", 9);
    kv_str(&pk, "agency", "power");
    kv_str(&pk, "role", "target");
    kv_u64(&pk, "level", 0);
    kv_str(&pk, "state", "answered");
    msgpack_pack_str_with_body(&pk, "overdue", 7);
    msgpack_pack_false(&pk);
    kv_u64(&pk, "attempts", 1);
    kv_u64(&pk, "created", s->t0);
    kv_u64(&pk, "ack_by", s->t0 + MIN);
    kv_u64(&pk, "answer_by", s->t0 + 4 * HOUR);
    kv_u64(&pk, "from", 0);
    kv_str(&pk, "outcome", "done");
    kv_str(&pk, "text", "fixed");
    kv_str(&pk, "note", NULL);
    msgpack_pack_str_with_body(&pk, "history", 7);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_map(&pk, 3);
    kv_u64(&pk, "at", s->t0 + 2 * MIN);
    kv_str(&pk, "event", "acked");
    kv_u64(&pk, "worker", 3);
    msgpack_pack_map(&pk, 3);
    kv_u64(&pk, "at", s->t0 + HOUR);
    kv_str(&pk, "event", "answered");
    kv_u64(&pk, "worker", 3);
    msgpack_unpacked u;
    msgpack_unpacked_init(&u);
    assert_int_equal(msgpack_unpack_next(&u, buf.data, buf.size, NULL), MSGPACK_UNPACK_SUCCESS);
    assert_int_equal(miz_replica_put(s->r, &u.data), 0);
    assert_int_equal(miz_replica_put(s->r, &u.data), 0); /* replaces, does not add */
    /* not a request: the top-level map has no deliveries */
    assert_int_equal(miz_replica_put(s->r, &u.data.via.map.ptr[9].val), -1);
    msgpack_unpacked_destroy(&u);
    msgpack_sbuffer_destroy(&buf);

    served(s, 3, s->t0, MIN, 0);
    assert_int_equal(miz_replica_count(s->r), 2);
    assert_int_equal(miz_replica_at(s->r, 0)->tracking, 3); /* tracking order */
    const miz_request_t *q = miz_replica_find(s->r, 7);
    assert_non_null(q);
    assert_true(q->closed);
    assert_string_equal(q->kind, "complaint");
    assert_int_equal(q->deliveries[0].n_history, 2);
    assert_int_equal(miz_delivery_first(&q->deliveries[0], "answered"), s->t0 + HOUR);
    figures_t *f = week(s, s->t0 + 2 * HOUR);
    assert_int_equal(figures_agency(f, "power")->on_time, 1);
    assert_int_equal(figures_agency(f, "power")->ack_p50_ms, 2 * MIN);
    figures_destroy(&f);
    /* closed before the horizon: forgotten; open ones are kept */
    miz_replica_prune(s->r, s->t0 + HOUR + 1);
    assert_int_equal(miz_replica_count(s->r), 1);
    assert_null(miz_replica_find(s->r, 7));
    assert_non_null(miz_replica_find(s->r, 3));
}

static void test_replica_refuses_bad_events(void **state)
{
    scene_t *s = *state;
    served(s, 1, s->t0, MIN, 0);
    s->d[1].role = "owner"; /* not a role */
    assert_int_equal(publish(s, "answered", s->t0 + HOUR, 1, 1), -1);
    s->d[1].role = "target";
    assert_int_equal(publish(s, "teleported", s->t0 + HOUR, 1, 1), -1);
    assert_int_equal(publish(s, "received", s->t0, 0, 0), -1); /* tracking 0 */
    s->d[1].agency = "an-agency-id-longer-than-sixty-four-bytes-is-refused-by-the-replica-x";
    assert_int_equal(publish(s, "answered", s->t0 + HOUR, 1, 1), -1);
    /* nothing of those reached the replica */
    const miz_request_t *q = miz_replica_find(s->r, 1);
    assert_int_equal(q->deliveries[0].n_history, 3);
    assert_string_equal(q->deliveries[0].state, "acked");
    assert_int_equal(miz_replica_count(s->r), 1);
}

static char *render(const figures_t *f, int what, const render_names_t *names)
{
    char *text = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&text, &len);
    render_state_t st = {.synced = true, .requests = 3};
    if (what == 0)
        render_figures_json(out, f, names, &st);
    else if (what == 1)
        render_report_html(out, f, "water", names);
    else if (what == 2)
        render_report_csv(out, f, "water", names);
    else
        render_metrics(out, f, &st);
    fclose(out);
    return text;
}

static void test_renderings(void **state)
{
    scene_t *s = *state;
    uint64_t sun = s->t0 + 24 * HOUR;
    served(s, 1, sun + 8 * HOUR, 95000, 100 * MIN);
    served(s, 2, sun + 9 * HOUR, 0, 0);
    step(s, 2, "overdue", sun + 13 * HOUR, "offered");
    served(s, 3, sun + 10 * HOUR, MIN, 2 * HOUR);
    const render_agency_t v[] = {{"water", "آب و فاضلاب", "Water & <wastewater>"}};
    /* the topics' names come from the routing table's routes */
    static const char yaml[] = "agencies:\n  water: {name_en: Water}\n"
                               "routes:\n  - match: utility.water.*\n    to: [water]\n"
                               "    name_fa: \"آب و فاضلاب\"\n    name_en: Water\n";
    char *errors = NULL;
    table_t *table = table_parse(yaml, sizeof yaml - 1, "t.yaml", &errors);
    assert_non_null(table);
    render_names_t names = {v, 1, table};
    figures_t *f = week(s, sun + 14 * HOUR);

    char *json = render(f, 0, &names);
    assert_non_null(strstr(json, "\"week\":\"1404-W32\""));
    assert_non_null(strstr(json, "{\"id\":\"water\",\"name_fa\":\"آب و فاضلاب\",\"name_en\":"
                                 "\"Water & <wastewater>\",\"open\":1,\"overdue\":1,\"on_time\":2,"
                                 "\"missed\":1,\"on_time_pct\":66.7,\"acked\":2,"
                                 "\"ack_p50_ms\":60000,\"ack_p90_ms\":95000,\"answered\":2"));
    assert_non_null(strstr(json, "\"volume\":[0,3,0,0,0,0,0]"));
    assert_non_null(strstr(json, "\"overdue\":[{\"tracking\":2,\"delivery\":2,\"agency\":\"water\""));
    assert_non_null(strstr(json, "\"topic\":\"utility.water.cut\",\"topic_fa\":\"آب و فاضلاب\","
                                 "\"topic_en\":\"Water\","));
    assert_null(strchr(json, '\n')); /* one line: one server-sent event */
    free(json);

    char *html = render(f, 1, &names);
    assert_non_null(strstr(html, "<html lang=\"fa\" dir=\"rtl\">"));
    assert_non_null(strstr(html, "Water &amp; &lt;wastewater&gt;"));
    assert_non_null(strstr(html, "<td id=\"on_time\" data-v=\"2\">۲</td>"));
    assert_non_null(strstr(html, "<td id=\"on_time_pct\" data-v=\"66.7%\">۶۶٫۷٪</td>"));
    /* durations in words, as the page says them (it was "۰:۰۱:۳۵" with
     * data-v "0:01:35"): data-v in seconds, as the CSV */
    assert_non_null(strstr(html, "<td id=\"ack_p90\" data-v=\"95.000\">۱ دقیقه و ۳۵ ثانیه</td>"));
    assert_non_null(strstr(html, "<td id=\"answer_p50\" data-v=\"6000.000\">۱ ساعت و ۴۰ دقیقه</td>"));
    assert_non_null(strstr(html, "<td id=\"answer_p90\" data-v=\"7200.000\">۲ ساعت</td>"));
    /* the week as its dates (it was "هفتهٔ ۱۴۰۴-W۳۲: شنبه ..."): the code only in the English line */
    assert_non_null(strstr(html, "هفتهٔ شنبه ۱۴۰۴/۰۷/۲۶ تا جمعه ۱۴۰۴/۰۸/۰۲"));
    assert_null(strstr(html, "۱۴۰۴-W۳۲"));
    assert_non_null(strstr(html, "week <span id=\"week\">1404-W32</span>"));
    assert_non_null(strstr(html, "<tr class=\"case\" data-tracking=\"2\" data-delivery=\"2\">"));
    /* a case's topic by its name in the table, the code beside it */
    assert_non_null(strstr(html, "<td title=\"utility.water.cut\">آب و فاضلاب</td>"));
    free(html);

    char *csv = render(f, 2, &names);
    assert_string_equal(
        csv,
        "week,agency,name_en,open,overdue,received,on_time,missed,on_time_pct,acked,ack_p50_s,"
        "ack_p90_s,answered,answer_p50_s,answer_p90_s,escalations,refusals,volume_avg28\r\n"
        "1404-W32,water,Water & <wastewater>,1,1,3,2,1,66.7,2,60.000,95.000,2,6000.000,"
        "7200.000,0,0,0.00\r\n"
        "\r\n"
        "date,jalali,weekday,volume,on_time,missed\r\n"
        "2025-10-18,1404/07/26,Saturday,0,0,0\r\n"
        "2025-10-19,1404/07/27,Sunday,3,2,1\r\n"
        "2025-10-20,1404/07/28,Monday,0,0,0\r\n"
        "2025-10-21,1404/07/29,Tuesday,0,0,0\r\n"
        "2025-10-22,1404/07/30,Wednesday,0,0,0\r\n"
        "2025-10-23,1404/08/01,Thursday,0,0,0\r\n"
        "2025-10-24,1404/08/02,Friday,0,0,0\r\n"
        "\r\n"
        "case,tracking,delivery,topic,role,level,created,answer_by,at,state,escalated_to,"
        "escalation_state\r\n"
        "overdue,2,2,utility.water.cut,target,0,2025-10-19T09:00:00+03:30,"
        "2025-10-19T13:00:00+03:30,2025-10-19T13:00:00+03:30,offered,,\r\n");
    free(csv);

    char *metrics = render(f, 3, &names);
    assert_non_null(strstr(metrics, "# TYPE miz_agency_open gauge\nmiz_agency_open{agency=\"water\"} 1\n"));
    assert_non_null(strstr(metrics, "miz_agency_week_time_to_ack_seconds{agency=\"water\",quantile=\"0.9\"} 95.000\n"));
    assert_non_null(strstr(metrics, "miz_dashboard_synced 1\n"));
    free(metrics);
    figures_destroy(&f);
    table_destroy(&table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tehran_days),
        cmocka_unit_test_setup_teardown(test_percentiles_are_nearest_rank, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_second_ack_is_not_timed, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_time_missed_escalated_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_week_edges, setup, teardown),
        cmocka_unit_test_setup_teardown(test_volume_against_four_weeks, setup, teardown),
        cmocka_unit_test_setup_teardown(test_on_time_trend, setup, teardown),
        cmocka_unit_test_setup_teardown(test_overdue_list_oldest_first, setup, teardown),
        cmocka_unit_test_setup_teardown(test_replica_takes_status_objects_and_prunes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_replica_refuses_bad_events, setup, teardown),
        cmocka_unit_test_setup_teardown(test_renderings, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Integration tests of bad input against the real mizd: bad fields, unknown
 * topics and agencies, malformed frames on both sockets, and worker commands
 * out of place. Each gets its error code, and nobody else is affected. */
#include "harness.h"

#define TABLE "routing.yaml"

/* Submissions and registrations with a bad field. */
static void test_bad_fields(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_submit_error(c, &(miz_submit_t){.topic = "nowhere.to.go", .text = "x"}, "unknown_topic");
    it_submit_error(c, &(miz_submit_t){.topic = "Utility..Water", .text = "x"}, "bad_field");
    it_submit_error(c,
                    &(miz_submit_t){.topic = "utility.power.cut", .priority = "asap", .text = "x"},
                    "bad_field");
    it_submit_error(
        c, &(miz_submit_t){.topic = "utility.power.cut", .kind = "Complaint!", .text = "x"},
        "bad_field");

    /* what libmiz would not send; the error still answers the seq */
    it_send_map(c, IT_MAP(IT_S("type", "submit"), IT_U("seq", 7001), IT_S("payload", "x")));
    it_reply_error(c, 7001, "bad_field"); /* no topic */
    it_send_map(c, IT_MAP(IT_S("type", "submit"), IT_U("seq", 7002), IT_U("topic", 42),
                          IT_S("payload", "x")));
    it_reply_error(c, 7002, "bad_field"); /* a topic that is not a string */
    it_send_map(
        c, IT_MAP(IT_S("type", "submit"), IT_U("seq", 7003), IT_S("topic", "utility.power.cut")));
    it_reply_error(c, 7003, "bad_field"); /* no payload */

    it_peer_t *w = it_worker_open(d, &(miz_worker_opts_t){.agency = "nope"});
    it_expect_error(w, "unknown_agency");
    /* closed at once: libmiz would register again on every heartbeat */
    it_close(&w);
    w = it_worker_open(d, &(miz_worker_opts_t){.agency = "power", .credit = 20000});
    it_expect_error(w, "bad_field");
    /* by hand on the same connection: "quiet" is a boolean */
    it_send_map(w, IT_MAP(IT_S("type", "register"), IT_U("seq", 7004), IT_S("agency", "power"),
                          IT_S("quiet", "yes")));
    it_reply_error(w, 7004, "bad_field");
    it_close(&w);

    /* none of it left a trace: a good request goes through */
    it_peer_t *power = it_worker(d, "power", 1);
    uint64_t t = it_submit_topic(c, "utility.power.cut", NULL);
    uint64_t id = it_serve(power, t);
    it_outcome_is(c, t, "power", "power", id, "done");
}

typedef struct {
    const char *what;
    const char *bytes;
    size_t len;
    const char *code;
} bad_frame_t;

#define FRAME(what, lit, code) {what, lit, sizeof lit - 1, code}

static const bad_frame_t bad_frames[] = {
    FRAME("garbage", "\xc1 not msgpack at all", "malformed"),
    FRAME("empty frame", "", "malformed"),
    FRAME("truncated map", "\x82\xa4type\xa4ping\xa4no", "malformed"),
    FRAME("array, not a map", "\x93\x01\x02\x03", "malformed"),
    FRAME("trailing bytes", "\x81\xa4type\xa4ping\x00", "malformed"),
    FRAME("non-UTF-8 string", "\x82\xa4type\xa4ping\xa4note\xa2\xff\xfe", "bad_utf8"),
    FRAME("huge array header", "\xdd\xff\xff\xff\xff", "malformed"),
    FRAME("unknown type", "\x81\xa4type\xa6launch", "unknown_type"),
    FRAME("wrong version", "\x82\xa4type\xa4ping\xa1v\x02", "version"),
};
#define N_BAD (sizeof bad_frames / sizeof *bad_frames)

/* Bad frames on either socket each get their error, while a good client's
 * requests sent in between are all accepted and answered. */
static void test_malformed(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *power = it_worker(d, "power", 0);
    const miz_submit_t good = {.topic = "utility.power.cut", .text = "between bad frames"};
    uint64_t tracking[2 * (N_BAD + 1)];
    size_t n = 0;

    for (size_t e = 0; e < 2; e++) {
        it_peer_t *raw = e == 0 ? it_client(d) : it_client_on(d, it_workers_endpoint(d));
        for (size_t i = 0; i <= N_BAD; i++) {
            uint64_t seq;
            assert_int_equal(miz_client_send_submit(it_miz_client(c), &good, &seq), 0);
            if (i < N_BAD) {
                print_message("%s: %s\n", e == 0 ? "clients" : "workers", bad_frames[i].what);
                it_send_frame(raw, bad_frames[i].bytes, bad_frames[i].len, false);
            } else { /* a message of two frames */
                it_send_frame(raw, "\x81\xa4type\xa4ping", 11, true);
                it_send_frame(raw, "\x80", 1, false);
            }
            it_expect_error(raw, i < N_BAD ? bad_frames[i].code : "malformed");
            tracking[n] = it_accepted(c, seq);
            it_serve(power, tracking[n++]);
        }
        it_close(&raw);
    }
    it_outcomes(c, tracking, n, "done");
}

/* Worker commands out of place: before registering, on a delivery that
 * does not exist, on one another worker holds, and on one already answered. */
static void test_worker_errors(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *raw = it_client_on(d, it_workers_endpoint(d));
    it_send_map(raw, IT_MAP(IT_S("type", "ack"), IT_U("delivery", 1)));
    it_expect_error(raw, "not_registered");
    it_send_map(raw, IT_MAP(IT_S("type", "heartbeat")));
    it_expect_error(raw, "not_registered");

    it_peer_t *c = it_client(d), *a = it_worker(d, "water", 1);
    uint64_t t = it_submit_topic(c, "utility.water.cut", NULL);
    uint64_t id = it_take(a, t, "target");
    it_peer_t *b = it_worker(d, "water", 1);

    assert_int_equal(miz_worker_ack(it_miz_worker(b), id), 0);
    miz_msg_t *m = it_expect(b, "error");
    it_check_error(m, "not_held");
    assert_int_equal(it_uint(IT_ROOT(m), "delivery"), id);
    miz_msg_destroy(&m);
    assert_int_equal(miz_worker_answer(it_miz_worker(b), id + 1000, "done", NULL), 0);
    it_expect_error(b, "unknown_delivery");

    /* b's attempts took nothing from a */
    it_answer(a, id, "done", "repaired");
    it_outcome_is(c, t, "water", "water", id, "done");
    assert_int_equal(miz_worker_answer(it_miz_worker(a), id, "again", NULL), 0);
    it_expect_error(a, "not_held");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_bad_fields, TABLE),
        IT_TEST(test_malformed, TABLE),
        IT_TEST(test_worker_errors, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Integration test of outcomes a gateway confirms, against the real mizd on
 * crash.yaml: a gateway (an SMS gateway, known by its routing id) submits
 * asking to confirm, goes away, its requests are answered meanwhile, mizd
 * is killed; when the gateway is back and speaks, every outcome arrives,
 * each once after it drops repeats by tracking number, and once it has
 * confirmed them none comes again, even after another kill. And `miz submit
 * --wait` prints its outcome though mizd was killed before the answer and
 * the client could not be reached when the answer came. */
#include "cli.h"
#include "harness.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>

#define TABLE "crash.yaml"
#define N 5
#define GATEWAY "sms-gateway-1"

/* Pings and reads until the pong: every outcome on the way is marked in
 * seen (repeats are dropped, as a gateway does); the number of new ones. */
static size_t ping_collect(it_peer_t *c, const uint64_t *tracking, bool *seen)
{
    uint64_t seq;
    size_t fresh = 0;
    if (miz_client_send_ping(it_miz_client(c), &seq) < 0)
        it_fail("cannot send a ping");
    for (;;) {
        miz_msg_t *m = it_next(c, IT_WAIT_MS);
        if (!m)
            it_fail("no pong");
        if (miz_msg_is(m, "pong")) {
            miz_msg_destroy(&m);
            return fresh;
        }
        it_check_type(m, "outcome");
        uint64_t t = it_uint(miz_msg_root(m), "tracking");
        for (size_t i = 0; i < N; i++)
            if (tracking[i] == t && !seen[i])
                seen[i] = true, fresh++;
        miz_msg_destroy(&m);
    }
}

static void test_outcomes_after_restart(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client_named(d, GATEWAY);
    uint64_t tracking[N], id[N];
    for (size_t i = 0; i < N; i++) {
        miz_msg_t *m = it_send_submit(c, &(miz_submit_t){.topic = "crash.sms",
                                                         .text = "پیامک شهروند",
                                                         .confirm = true});
        it_check_type(m, "accepted");
        tracking[i] = it_uint(miz_msg_root(m), "tracking");
        miz_msg_destroy(&m);
    }
    it_close(&c); /* the gateway goes away */
    it_peer_t *w = it_worker(d, "desk", N);
    for (size_t i = 0; i < N; i++)
        id[i] = it_take(w, tracking[i], "target");
    for (size_t i = 0; i < N; i++)
        it_answer(w, id[i], "sent", "پاسخ");
    it_restart(d, true); /* kill -9 */

    c = it_client_named(d, GATEWAY);
    bool seen[N] = {false};
    assert_int_equal(ping_collect(c, tracking, seen), N);
    for (size_t i = 0; i < N; i++) {
        uint64_t seq;
        assert_int_equal(miz_client_send_confirm(it_miz_client(c), tracking[i], &seq), 0);
        miz_msg_t *m = it_reply(c, seq);
        it_check_type(m, "confirmed");
        assert_int_equal(it_uint(miz_msg_root(m), "tracking"), tracking[i]);
        miz_msg_destroy(&m);
    }
    it_restart(d, true);
    it_pump(d, 400); /* past the interval in which an outcome is not sent again */
    bool again[N] = {false};
    assert_int_equal(ping_collect(c, tracking, again), 0);
}

static void test_submit_wait_across_restart(void **state)
{
    it_daemon_t *d = *state;
    it_cli_t s;
    it_cli_start(&s, (const char *const[]){"-e", it_clients_endpoint(d), "submit", "crash.cli",
                                           "برف خیابان را بسته است", "--wait", NULL});
    it_cli_wait_output(d, &s, "out", "\n");
    char *out = it_cli_output(&s, "out");
    uint64_t tracking = strtoull(out, NULL, 10);
    free(out);
    assert_true(tracking > 0);
    assert_int_equal(kill(s.pid, SIGSTOP), 0); /* away: it cannot take the outcome */
    it_restart(d, true);
    it_peer_t *w = it_worker(d, "desk", 1);
    it_answer(w, it_take(w, tracking, "target"), "cleared", "خیابان باز شد");
    it_pump(d, 200);
    assert_int_equal(kill(s.pid, SIGCONT), 0); /* back: its next ping brings the outcome */
    assert_int_equal(it_cli_wait(d, &s), 0);
    out = it_cli_output(&s, "out");
    assert_non_null(strstr(out, "cleared"));
    assert_non_null(strstr(out, "خیابان باز شد"));
    free(out);
    it_cli_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_outcomes_after_restart, TABLE),
        IT_TEST(test_submit_wait_across_restart, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Integration test of how long mizd remembers, on retention.yaml: a
 * client_ref for dedup_window, a closed request for retention (then the
 * background purge drops it from the store), an open one for ever. */
#include "harness.h"

#include <time.h>

#define TABLE "retention.yaml"

static uint64_t submit_ref(it_peer_t *c, const char *ref, bool duplicate)
{
    miz_msg_t *m = it_send_submit(
        c, &(miz_submit_t){.topic = "utility.water.cut", .client_ref = ref, .text = "retained?"});
    it_check_type(m, "accepted");
    assert_int_equal(miz_msg_get(m, "duplicate") != NULL, duplicate);
    uint64_t t = it_uint(IT_ROOT(m), "tracking");
    miz_msg_destroy(&m);
    return t;
}

/* Polls status until it says unknown_tracking; false if it never does. */
static bool forgotten(it_peer_t *c, uint64_t tracking)
{
    for (uint64_t end = it_now_ms() + IT_WAIT_MS; it_now_ms() < end;) {
        miz_msg_t *m = it_send_status(c, tracking);
        bool gone = miz_msg_is(m, "error");
        if (gone)
            it_check_error(m, "unknown_tracking");
        else
            it_check_type(m, "status");
        miz_msg_destroy(&m);
        if (gone)
            return true;
        nanosleep(&(struct timespec){0, 100 * 1000 * 1000}, NULL);
    }
    return false;
}

static void test_retention(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d), *w = it_worker(d, "water", 0);
    uint64_t t1 = submit_ref(c, "sms-1", false);
    uint64_t id = it_take(w, t1, "target");
    it_answer(w, id, "fixed", NULL);
    it_outcome_is(c, t1, "water", "water", id, "fixed");
    uint64_t created = it_now_ms();
    /* closed, out of memory (retain_closed 0): the store answers both */
    assert_int_equal(submit_ref(c, "sms-1", true), t1);
    miz_msg_t *m = it_status(c, t1);
    it_str_eq(IT_ROOT(m), "state", "closed");
    miz_msg_destroy(&m);

    /* past the dedup window the same ref is a new request */
    while (it_now_ms() < created + 2500)
        it_quiet(w, 100);
    uint64_t t2 = submit_ref(c, "sms-1", false);
    assert_true(t2 > t1);
    it_take(w, t2, "target"); /* held, so it stays open */

    /* past retention the closed one is purged; the open one stays */
    if (!forgotten(c, t1))
        it_fail("tracking %llu was never purged", (unsigned long long)t1);
    m = it_status(c, t2);
    it_str_eq(IT_ROOT(m), "state", "open");
    miz_msg_destroy(&m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_retention, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

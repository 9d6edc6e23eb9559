/* Integration test of `miz status`: the real miz binary against the real
 * mizd. Times are Jalali dates in Tehran time with the zone said, whatever
 * the machine's zone; a refusal's reason and a progress note are shown;
 * --json gives the broker's reply. */
#include "cli.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jalali.h"

static void status_has(const char *out, const char *want)
{
    if (!strstr(out, want))
        it_fail("miz status did not say \"%s\"; it said:\n%s", want, out);
}

static void test_status_text_and_json(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    it_peer_t *w = it_worker(d, "water", 1);
    uint64_t tracking = it_submit_topic(c, "utility.water.cut", NULL);
    uint64_t id = it_take(w, tracking, "target");
    it_refuse(w, id, "این لوله مال شرکت گاز است");
    miz_msg_t *m = it_status(c, tracking);
    uint64_t created = it_uint(IT_ROOT(m), "created");
    miz_msg_destroy(&m);

    /* the machine's zone must not matter */
    setenv("TZ", "America/New_York", 1);
    char num[24];
    snprintf(num, sizeof num, "%llu", (unsigned long long)tracking);
    it_cli_t s;
    assert_int_equal(it_cli_run(d, &s, (const char *const[]){"-e", it_clients_endpoint(d),
                                                             "status", num, NULL}),
                     0);
    char *out = it_cli_output(&s, "out");
    /* the Jalali date of the request's creation, in Tehran time */
    int jy, jm, jd;
    int day = (int)((created / 1000 + 3 * 3600 + 30 * 60) / 86400);
    assert_true(jalali_from_day(day, &jy, &jm, &jd));
    char date[32];
    snprintf(date, sizeof date, "received %04d-%02d-%02d ", jy, jm, jd);
    status_has(out, date);
    status_has(out, "+03:30");
    status_has(out, "refused");
    status_has(out, "refusal reason: این لوله مال شرکت گاز است");
    /* the request's text as submitted, and the worker that refused it */
    status_has(out, "text: " IT_PAYLOAD_TEXT);
    status_has(out, "worker: water#");
    free(out);
    it_cli_free(&s);

    assert_int_equal(it_cli_run(d, &s, (const char *const[]){"-e", it_clients_endpoint(d),
                                                             "status", "--json", num, NULL}),
                     0);
    out = it_cli_output(&s, "out");
    status_has(out, "{\"type\": \"status\"");
    status_has(out, "\"note\": \"این لوله مال شرکت گاز است\"");
    status_has(out, "\"state\": \"refused\"");
    free(out);
    it_cli_free(&s);

    /* not a number: usage, said */
    assert_int_equal(it_cli_run(d, &s, (const char *const[]){"status", "12x", NULL}), 2);
    out = it_cli_output(&s, "err");
    status_has(out, "\"12x\" is not a tracking number");
    free(out);
    it_cli_free(&s);
    unsetenv("TZ");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_status_text_and_json, "routing.yaml"),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

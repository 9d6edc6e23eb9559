/* Integration tests of `miz worker --exec`: the real miz binary against
 * the real mizd. Commands run up to the worker's credit at once, choose
 * the outcome and report progress through their output, are stopped at
 * their timeout, end with the worker however it ends, and what the worker
 * prints is what the broker confirmed. */
#include "cli.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define TABLE "routing.yaml"
#define TOPIC "utility.water.cut"
#define PARALLEL 3

/* The target delivery of tracking in a status reply (it has one). */
static const msgpack_object *exec_target(const miz_msg_t *status)
{
    const msgpack_object *dels = it_array(IT_ROOT(status), "deliveries", 1);
    return &dels->via.array.ptr[0];
}

/* Three commands that each wait until all three run: with credit 3 they
 * can only finish if the worker runs them at once (run one after another,
 * the first would wait until its timeout and be refused). Each reports
 * progress, chooses its outcome, and answers with its input. */
static void test_parallel_outcome_progress(void **state)
{
    it_daemon_t *d = *state;
    char meet[] = "/tmp/miz-meet-XXXXXX", cmd[512];
    assert_non_null(mkdtemp(meet));
    snprintf(cmd, sizeof cmd,
             "touch %s/$MIZ_DELIVERY; "
             "while [ $(ls %s | wc -l) -lt %d ]; do sleep 0.02; done; "
             "echo \"progress: all $(ls %s | wc -l) running\"; "
             "echo 'outcome: together'; cat; echo; echo \"($MIZ_AGENCY, $MIZ_TOPIC)\"",
             meet, meet, PARALLEL, meet);
    it_cli_t w;
    it_cli_start(&w, (const char *const[]){"-e", it_workers_endpoint(d), "worker", "--agency",
                                           "water", "--credit", "3", "--count", "3",
                                           "--timeout", "1m", "--exec", cmd, NULL});
    it_peer_t *c = it_client(d);
    uint64_t tracking[PARALLEL];
    for (size_t i = 0; i < PARALLEL; i++)
        tracking[i] = it_submit(c, &(miz_submit_t){.topic = TOPIC, .text = "آب قطع است"});
    it_outcomes(c, tracking, PARALLEL, "together");
    /* --count 3: it leaves once the broker confirmed the three answers */
    assert_int_equal(it_cli_wait(d, &w), 0);
    char *out = it_cli_output(&w, "out");
    for (size_t i = 0; i < PARALLEL; i++) {
        miz_msg_t *m = it_status(c, tracking[i]);
        const msgpack_object *t = exec_target(m);
        it_str_eq(t, "text", "آب قطع است\n(water, utility.water.cut)");
        it_str_eq(t, "note", "all 3 running");
        IT_HISTORY(t, "queued", "offered", "acked", "progress", "answered");
        char line[128];
        snprintf(line, sizeof line, "delivery %llu answered together: ",
                 (unsigned long long)it_uint(t, "id"));
        if (!strstr(out, line) || !strstr(out, "(confirmed by the broker)"))
            it_fail("no confirmed answer \"%s\" in:\n%s", line, out);
        miz_msg_destroy(&m);
    }
    free(out);
    it_cli_free(&w);
    char rm[64];
    snprintf(rm, sizeof rm, "rm -rf %s", meet);
    assert_int_equal(system(rm), 0);
}

/* A payload that is not a string (miz-open311's map, say) reaches the
 * command as JSON on its stdin, and the worker prints it so. */
static void test_map_payload_as_json(void **state)
{
    it_daemon_t *d = *state;
    it_cli_t w;
    it_cli_start(&w, (const char *const[]){"-e", it_workers_endpoint(d), "worker", "--agency",
                                           "water", "--count", "1", "--exec", "cat", NULL});
    it_peer_t *c = it_client(d);
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 2);
    msgpack_pack_str_with_body(&pk, "text", 4);
    msgpack_pack_str_with_body(&pk, "نشت", strlen("نشت"));
    msgpack_pack_str_with_body(&pk, "lat", 3);
    msgpack_pack_double(&pk, 33.6374); /* as the shortest that reads back: not 33.637399999999999 */
    uint64_t tracking =
        it_submit(c, &(miz_submit_t){.topic = TOPIC, .payload = sb.data, .payload_len = sb.size});
    msgpack_sbuffer_destroy(&sb);
    it_outcomes(c, &tracking, 1, "resolved");
    assert_int_equal(it_cli_wait(d, &w), 0);
    miz_msg_t *m = it_status(c, tracking);
    it_str_eq(exec_target(m), "text", "{\"text\": \"نشت\", \"lat\": 33.6374}");
    miz_msg_destroy(&m);
    char *out = it_cli_output(&w, "out");
    if (!strstr(out, "utility.water.cut  target: {\"text\": \"نشت\", \"lat\": 33.6374}"))
        it_fail("the payload is not printed as JSON:\n%s", out);
    free(out);
    it_cli_free(&w);
}

/* A command past --timeout is stopped (its whole group) and the delivery
 * refused, saying why; a command exiting non-zero refuses with its output;
 * an outcome line that is not one refuses too. */
static void test_timeout_and_refusals(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    static const struct {
        const char *cmd, *note;
    } cases[] = {
        {"sleep 60", "the command did not finish within 200ms and was stopped"},
        {"echo 'این شکایت مربوط به ما نیست'; exit 3", "این شکایت مربوط به ما نیست"},
        {"exit 4", "the command exited with status 4"},
        {"echo 'outcome: expired'; echo text", "the command's outcome line is not valid"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        it_cli_t w;
        it_cli_start(&w, (const char *const[]){"-e", it_workers_endpoint(d), "worker",
                                               "--agency", "water", "--count", "1", "--timeout",
                                               "200ms", "--exec", cases[i].cmd, NULL});
        uint64_t tracking = it_submit_topic(c, TOPIC, NULL);
        assert_int_equal(it_cli_wait(d, &w), 0);
        miz_msg_t *m = it_status(c, tracking);
        const msgpack_object *t = &it_array(IT_ROOT(m), "deliveries", 2)->via.array.ptr[0];
        it_str_eq(t, "state", "refused");
        const msgpack_object *note = it_get(t, "note");
        if (note->type != MSGPACK_OBJECT_STR ||
            note->via.str.size < strlen(cases[i].note) ||
            memcmp(note->via.str.ptr, cases[i].note, strlen(cases[i].note)) != 0)
            it_fail("case %zu: the refusal's reason is not \"%s\"", i, cases[i].note);
        miz_msg_destroy(&m);
        char *out = it_cli_output(&w, "out");
        if (!strstr(out, "refused: ") || !strstr(out, "(confirmed by the broker)"))
            it_fail("case %zu: no confirmed refusal in:\n%s", i, out);
        free(out);
        it_cli_free(&w);
    }
}

/* However the worker ends (SIGTERM, or SIGKILL which it cannot catch),
 * the command it runs ends with it, with what the command started. */
static void test_command_ends_with_worker(void **state)
{
    it_daemon_t *d = *state;
    it_peer_t *c = it_client(d);
    static const int sigs[] = {SIGTERM, SIGKILL};
    for (size_t i = 0; i < 2; i++) {
        char pidfile[] = "/tmp/miz-pid-XXXXXX", cmd[160];
        int fd = mkstemp(pidfile);
        assert_true(fd >= 0);
        close(fd);
        snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s; echo started >> %s.log; wait",
                 pidfile, pidfile);
        it_cli_t w;
        it_cli_start(&w, (const char *const[]){"-e", it_workers_endpoint(d), "worker",
                                               "--agency", "water", "--exec", cmd, NULL});
        it_submit_topic(c, TOPIC, NULL);
        it_cli_wait_output(d, &w, "out", "delivery ");
        pid_t pid = 0;
        uint64_t until = it_now_ms() + IT_WAIT_MS;
        while (pid <= 0) {
            FILE *f = fopen(pidfile, "r");
            int v = 0;
            if (f && fscanf(f, "%d", &v) == 1)
                pid = v;
            if (f)
                fclose(f);
            if (pid <= 0 && it_now_ms() > until)
                it_fail("the command never started");
            it_pump(d, 20);
        }
        int rc = it_cli_stop(d, &w, sigs[i]);
        assert_int_equal(rc, sigs[i] == SIGTERM ? 0 : 128 + SIGKILL);
        it_wait_gone(d, pid);
        it_cli_free(&w);
        char log[64];
        snprintf(log, sizeof log, "%s.log", pidfile);
        unlink(log);
        unlink(pidfile);
    }
}

/* --exec with --answer is refused; a worker with no broker says it waits,
 * and where. */
static void test_usage_and_waiting(void **state)
{
    it_daemon_t *d = *state;
    it_cli_t w;
    int rc = it_cli_run(d, &w, (const char *const[]){"worker", "--agency", "water", "--exec",
                                                     "cat", "--answer", "done", NULL});
    assert_int_equal(rc, 2);
    char *err = it_cli_output(&w, "err");
    if (!strstr(err, "--exec and --answer together"))
        it_fail("no word on --exec with --answer: %s", err);
    free(err);
    it_cli_free(&w);
    static const char *const bad[][4] = {
        {"--credit", "0", NULL, NULL},
        {"--timeout", "soon", "--exec", "cat"},
        {"--timeout", "1s", NULL, NULL}, /* without --exec */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        assert_int_equal(it_cli_run(d, &w, (const char *const[]){"worker", "--agency", "water",
                                                                 bad[i][0], bad[i][1], bad[i][2],
                                                                 bad[i][3], NULL}),
                         2);
        it_cli_free(&w);
    }

    char nowhere[96];
    snprintf(nowhere, sizeof nowhere, "ipc://%s/nobody-here", it_data_dir(d));
    it_cli_start(&w, (const char *const[]){"-e", nowhere, "worker", "--agency", "water", NULL});
    char want[160];
    snprintf(want, sizeof want, "waiting for the broker at %s", nowhere);
    it_cli_wait_output(d, &w, "err", want);
    assert_int_equal(it_cli_stop(d, &w, SIGTERM), 0);
    it_cli_free(&w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_map_payload_as_json, TABLE),
        IT_TEST(test_parallel_outcome_progress, TABLE),
        IT_TEST(test_timeout_and_refusals, TABLE),
        IT_TEST(test_command_ends_with_worker, TABLE),
        IT_TEST(test_usage_and_waiting, TABLE),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Integration test of `mizd --check`: the real binary on a table file.
 *
 * A calendar that lists no holiday in the current Jalali year (Tehran time)
 * gets a warning naming it, its place and the year, and the table stays
 * valid: exit status 0 and the "ok" line. The shipped table, conf/miz.yaml,
 * lists the holidays of 1405 and 1406, so it gets no warning until 16 Esfand
 * 1406, when the holidays of 1407 become due: this test then fails, as a
 * reminder to add them. */
#include "harness.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "jalali.h"

#ifndef MIZD_PATH
#error "MIZD_PATH must name the mizd binary"
#endif
#ifndef MIZ_SOURCE_DIR
#error "MIZ_SOURCE_DIR must name the source tree"
#endif

typedef struct {
    int status;
    char out[4096], err[4096];
} check_run_t;

static void check_read(int fd, char *buf, size_t size)
{
    size_t n = 0;
    for (ssize_t got; n + 1 < size && (got = read(fd, buf + n, size - 1 - n)) > 0;)
        n += (size_t)got;
    buf[n] = '\0';
    close(fd);
}

/* Runs `mizd --check path`; its output is small enough for the pipes. */
static void check_run(const char *path, check_run_t *r)
{
    int out[2], err[2];
    if (pipe(out) < 0 || pipe(err) < 0)
        fail_msg("pipe: %s", strerror(errno));
    pid_t child = fork();
    if (child == 0) {
        if (dup2(out[1], STDOUT_FILENO) < 0 || dup2(err[1], STDERR_FILENO) < 0)
            _exit(126);
        execl(MIZD_PATH, MIZD_PATH, "--check", path, (char *)NULL);
        _exit(127);
    }
    close(out[1]);
    close(err[1]);
    check_read(out[0], r->out, sizeof r->out);
    check_read(err[0], r->err, sizeof r->err);
    int status;
    if (child < 0 || waitpid(child, &status, 0) != child || !WIFEXITED(status))
        fail_msg("mizd --check did not run: %s", r->err);
    r->status = WEXITSTATUS(status);
}

/* The Jalali date now in Tehran (UTC+03:30). */
static void check_today(int *jy, int *jm, int *jd)
{
    int day = (int)((time(NULL) + (3 * 60 + 30) * 60) / 86400);
    assert_true(jalali_from_day(day, jy, jm, jd));
}

static void test_calendar_without_this_years_holidays(void **state)
{
    (void)state;
    char dir[] = "/tmp/miz-check-XXXXXX", path[64], want[256];
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/t.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("calendars:\n"
          "  office:\n"
          "    days: {saturday: \"08:00-14:00\", sunday: \"08:00-14:00\"}\n"
          "    holidays: [\"1390-01-01\", \"1390-01-02\"]\n"
          "agencies:\n"
          "  water: {name_fa: آبفا}\n"
          "routes:\n"
          "  - match: utility.water.*\n"
          "    to: [water]\n"
          "    calendar: office\n",
          f);
    assert_int_equal(fclose(f), 0);

    int jy, jm, jd;
    check_today(&jy, &jm, &jd);
    check_run_t r;
    check_run(path, &r);
    assert_int_equal(r.status, 0);
    snprintf(want, sizeof want, "%s: ok, 1 agencies, 1 routes\n", path);
    assert_string_equal(r.out, want);
    /* a run across Tehran's midnight of 29 Esfand may name either year */
    snprintf(want, sizeof want,
             "%s:2:3: warning: calendar \"office\" lists no holidays in %d, the current Jalali"
             " year: its deadlines will count that year's official holidays as working days\n",
             path, jy);
    if (!strstr(r.err, want))
        fail_msg("expected\n%swarned\n%s", want, r.err);
    /* from 16 Esfand on, the next year's holidays are due too */
    snprintf(want, sizeof want, "lists no holidays in %d, the next Jalali year", jy + 1);
    assert_true((strstr(r.err, want) != NULL) == (jm == 12 && jd > 15));
    unlink(path);
    rmdir(dir);
}

static void test_shipped_table_lists_this_years_holidays(void **state)
{
    (void)state;
    check_run_t r;
    check_run(MIZ_SOURCE_DIR "/conf/miz.yaml", &r);
    assert_int_equal(r.status, 0);
    assert_non_null(strstr(r.out, ": ok, "));
    if (strstr(r.err, "warning"))
        fail_msg("conf/miz.yaml warned (its holidays are due):\n%s", r.err);
    assert_string_equal(r.err, "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_calendar_without_this_years_holidays),
        cmocka_unit_test(test_shipped_table_lists_this_years_holidays),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

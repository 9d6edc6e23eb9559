/* miz_status: `miz status`, a request as the broker knows it.
 *
 * For a person: every delivery with its history, outcome, answer, progress
 * note and refusal reason, with times in Tehran time (UTC+03:30, which Iran
 * has kept all year since 1401) as Jalali dates, the zone said on every
 * time, whatever the machine's own zone; the request's text as submitted,
 * and the name of the worker that answered, refused or reported progress.
 * For a script: --json, the broker's reply as it came. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jalali.h"
#include "miz_int.h"
#include "miz_json.h"
#include "workcal.h"

/* "1405-01-15 09:30:12 +03:30": a time of the reply in Tehran time. */
static void status_time(uint64_t ms)
{
    long long secs = (long long)(ms / 1000) + WORKCAL_IRST * 60;
    int day = (int)(secs / 86400), s = (int)(secs % 86400), jy, jm, jd;
    if (!jalali_from_day(day, &jy, &jm, &jd)) {
        printf("(time %llu ms)", (unsigned long long)ms);
        return;
    }
    printf("%04d-%02d-%02d %02d:%02d:%02d +%02d:%02d", jy, jm, jd, s / 3600, s / 60 % 60, s % 60,
           WORKCAL_IRST / 60, WORKCAL_IRST % 60);
}

/* A string field (nothing when absent or nil). */
static void status_str(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = miz_map_typed(map, key, MSGPACK_OBJECT_STR);
    if (v)
        printf("%.*s", (int)v->via.str.size, v->via.str.ptr);
}

/* String fields, two spaces apart (keys ends with NULL). */
static void status_strs(const msgpack_object *map, const char *const *keys)
{
    for (size_t i = 0; keys[i]; i++) {
        printf(i ? "  " : "");
        status_str(map, keys[i]);
    }
}

static uint64_t status_uint(const msgpack_object *map, const char *key)
{
    const msgpack_object *v = miz_map_typed(map, key, MSGPACK_OBJECT_POSITIVE_INTEGER);
    return v ? v->via.u64 : 0;
}

static bool status_str_is(const msgpack_object *map, const char *key, const char *want)
{
    const msgpack_object *v = miz_map_typed(map, key, MSGPACK_OBJECT_STR);
    return v && v->via.str.size == strlen(want) && memcmp(v->via.str.ptr, want, v->via.str.size) == 0;
}

static void status_delivery(const msgpack_object *d)
{
    printf("  delivery %llu  ", (unsigned long long)status_uint(d, "id"));
    status_strs(d, (const char *const[]){"agency", "role", "state", NULL});
    printf("  attempts %llu", (unsigned long long)status_uint(d, "attempts"));
    const msgpack_object *overdue = miz_map_typed(d, "overdue", MSGPACK_OBJECT_BOOLEAN);
    if (overdue && overdue->via.boolean)
        printf("  OVERDUE");
    if (status_uint(d, "from"))
        printf("  from delivery %llu", (unsigned long long)status_uint(d, "from"));
    if (status_uint(d, "answer_by")) {
        printf("\n    answer by ");
        status_time(status_uint(d, "answer_by"));
    }
    printf("\n");
    const msgpack_object *hist = miz_map_typed(d, "history", MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; hist && i < hist->via.array.size; i++) {
        const msgpack_object *h = &hist->via.array.ptr[i];
        printf("    ");
        status_time(status_uint(h, "at"));
        printf("  ");
        status_str(h, "event");
        if (status_uint(h, "worker"))
            printf("  by worker #%llu", (unsigned long long)status_uint(h, "worker"));
        printf("\n");
    }
    if (miz_map_typed(d, "by", MSGPACK_OBJECT_STR)) {
        printf("    worker: ");
        status_str(d, "by");
        printf("\n");
    }
    if (miz_map_typed(d, "outcome", MSGPACK_OBJECT_STR)) {
        printf("    outcome: ");
        status_str(d, "outcome");
        printf("\n    answer: ");
        status_str(d, "text");
        printf("\n");
    }
    if (miz_map_typed(d, "note", MSGPACK_OBJECT_STR)) {
        /* the latest progress note, or the reason of a refusal */
        bool refused = status_str_is(d, "state", miz_state_names[MIZ_DS_REFUSED]);
        printf("    %s: ", refused ? "refusal reason" : "progress note");
        status_str(d, "note");
        printf("\n");
    }
}

static void status_print(const msgpack_object *root)
{
    printf("tracking %llu  ", (unsigned long long)status_uint(root, "tracking"));
    status_strs(root, (const char *const[]){"topic", "kind", "priority", "state", NULL});
    printf("\n  received ");
    status_time(status_uint(root, "created"));
    if (status_uint(root, "closed")) {
        printf("\n  closed   ");
        status_time(status_uint(root, "closed"));
    }
    if (miz_map_typed(root, "client_ref", MSGPACK_OBJECT_STR)) {
        printf("\n  gateway's reference ");
        status_str(root, "client_ref");
    }
    const msgpack_object *payload = miz_map_get(root, "payload");
    if (payload) { /* the citizen's words as the gateway sent them */
        printf("\n  text: ");
        if (payload->type == MSGPACK_OBJECT_STR)
            status_str(root, "payload");
        else
            json_write(stdout, payload);
    }
    printf("\n  (times: Jalali dates, Tehran time, UTC+03:30)\n");
    const msgpack_object *dels = miz_map_typed(root, "deliveries", MSGPACK_OBJECT_ARRAY);
    for (uint32_t i = 0; dels && i < dels->via.array.size; i++)
        status_delivery(&dels->via.array.ptr[i]);
}

int cmd_status(const char *endpoint, const miz_curve_t *curve, int argc, char **argv)
{
    static const struct option options[] = {
        {"json", no_argument, NULL, 'j'},
        {NULL, 0, NULL, 0},
    };
    bool json = false;
    int c;
    while ((c = getopt_long(argc, argv, "", options, NULL)) != -1) {
        if (c != 'j') {
            usage(stderr);
            return EXIT_USAGE;
        }
        json = true;
    }
    if (argc - optind != 1 || !*argv[optind]) {
        usage(stderr);
        return EXIT_USAGE;
    }
    const char *arg = argv[optind];
    char *end;
    errno = 0;
    unsigned long long tracking = strtoull(arg, &end, 10);
    if (*end || errno || arg[0] < '0' || arg[0] > '9' || tracking == 0) {
        fprintf(stderr, "miz: \"%s\" is not a tracking number (a whole number from 1)\n", arg);
        return EXIT_USAGE;
    }
    miz_client_t *client = miz_client_new_curve(NULL, endpoint, curve);
    if (!client)
        return unreachable(endpoint);
    miz_msg_t *reply = NULL;
    int rc = 0;
    if (miz_status(client, tracking, TIMEOUT_MS, &reply) < 0) {
        rc = unreachable(endpoint);
    } else if (!msg_is(reply, MIZ_MSG_STATUS)) {
        rc = report_error(reply);
    } else if (json) {
        json_write(stdout, miz_msg_root(reply));
        putchar('\n');
    } else {
        status_print(miz_msg_root(reply));
    }
    miz_msg_destroy(&reply);
    miz_client_destroy(&client);
    return rc;
}

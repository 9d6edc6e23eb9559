/* miz-open311, the Open311 GeoReport v2 gateway, against the real mizd
 * over real sockets: the services come from the table (and again after
 * SIGHUP); a post becomes a request the agency's worker receives with the
 * citizen's report in its payload, and its service_request_id is the
 * tracking number; the same Idempotency-Key makes nothing twice; GET
 * requests follows the request to its answer, in JSON and in XML; every
 * malformed post is refused in Open311's terms and makes nothing; API keys
 * and the jurisdiction keep out who they should; under CURVE the gateway
 * speaks with a gateway key and sees only what it submitted, and a key
 * mizd does not know gets nothing; a silent broker is a 503, and what was
 * sent to it is never made later. */
#include "httpproc.h"

#include <inttypes.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef MIZ_OPEN311_PATH
#error "MIZ_OPEN311_PATH must name the miz-open311 binary"
#endif

#define TABLE "open311.yaml"
#define FORM "application/x-www-form-urlencoded"
#define LEAK "service_code=utility.water.leak&lat=33.6374&long=46.4227"

/* The gateway on d's clients endpoint with the test's table and extra
 * options (NULL-terminated). */
static hp_t *gateway(it_daemon_t *d, const char *const *extra)
{
    const char *argv[24] = {MIZ_OPEN311_PATH, "-c", it_table_path(d), "--http", "127.0.0.1:0",
                            "--clients", it_clients_endpoint(d)};
    size_t n = 7;
    for (size_t i = 0; extra && extra[i] && n < 23; i++)
        argv[n++] = extra[i];
    return hp_start(d, "miz-open311", argv);
}

static char *post(hp_t *g, const char *path, const char *headers, const char *body, int want)
{
    int status;
    char *reply = hp_post(g, path, FORM, headers, body, &status);
    if (status != want)
        it_fail("POST %s %s: status %d, not %d: %s", path, body, status, want, reply);
    return reply;
}

static char *get(hp_t *g, const char *path, int want)
{
    int status;
    char *reply = hp_get(g, path, &status);
    if (status != want)
        it_fail("GET %s: status %d, not %d: %s", path, status, want, reply);
    return reply;
}

static void has(const char *body, const char *text)
{
    if (!strstr(body, text))
        it_fail("no %s in %s", text, body);
}

static void lacks(const char *body, const char *text)
{
    if (strstr(body, text))
        it_fail("%s in %s", text, body);
}

/* The service_request_id of a post's JSON reply. */
static uint64_t request_id(const char *body)
{
    const char *at = strstr(body, "\"service_request_id\":\"");
    if (!at)
        it_fail("no service_request_id in %s", body);
    return strtoull(at + strlen("\"service_request_id\":\""), NULL, 10);
}

/* How many requests mizd has made: the next tracking number, less one. */
static uint64_t requests_made(it_daemon_t *d)
{
    it_peer_t *c = it_client(d);
    uint64_t next = it_submit_topic(c, "city.snow.street", NULL);
    it_close(&c);
    return next - 1;
}

static void test_services(void **state)
{
    it_daemon_t *d = *state;
    hp_t *g = gateway(d, NULL);
    char *json = get(g, "/services.json", 200);
    has(json, "{\"service_code\":\"city.snow.street\",\"service_name\":\"برف در خیابان\","
              "\"description\":\"Snow on the street\",\"metadata\":false,\"type\":\"realtime\"");
    has(json, "\"service_code\":\"utility.water.leak\",\"service_name\":\"نشت آب\"");
    /* an item without names is named by its route */
    has(json, "\"service_code\":\"utility.water.cut\",\"service_name\":\"آب و فاضلاب\"");
    lacks(json, "jobs");
    lacks(json, "welfare");
    lacks(json, "\"#\"");
    free(json);
    char *xml = get(g, "/services.xml", 200);
    has(xml, "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<services><service><service_code>"
             "city.snow.street</service_code>");
    has(xml, "<metadata>false</metadata>");
    free(xml);
    char *def = get(g, "/services/utility.water.leak.json", 404);
    has(def, "metadata false");
    free(def);
    hp_stop(&g);

    g = gateway(d, (const char *const[]){"--lang", "en", NULL});
    json = get(g, "/services.json", 200);
    has(json, "\"service_name\":\"Water leak\",\"description\":\"نشت آب\"");
    free(json);
    /* SIGHUP reads the table again: a new route's topic is a service */
    FILE *f = fopen(it_table_path(d), "a");
    assert_non_null(f);
    fputs("  - match: city.asphalt\n    to: [city]\n", f);
    fclose(f);
    kill(hp_pid(g), SIGHUP);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;; it_pump(d, 20)) {
        json = get(g, "/services.json", 200);
        bool listed = strstr(json, "city.asphalt") != NULL;
        free(json);
        if (listed)
            break;
        if (it_now_ms() > end)
            it_fail("SIGHUP did not list city.asphalt");
    }
    /* a broken table is refused and the services stay */
    f = fopen(it_table_path(d), "a");
    fputs("  - match: [\n", f);
    fclose(f);
    kill(hp_pid(g), SIGHUP);
    it_pump(d, 200);
    json = get(g, "/services.json", 200);
    has(json, "city.asphalt");
    free(json);
    hp_stop(&g);
}

static void test_post_and_follow(void **state)
{
    it_daemon_t *d = *state;
    hp_t *g = gateway(d, NULL);
    it_peer_t *water = it_worker(d, "water", 4), *city = it_worker(d, "city", 4);
    it_peer_t *c = it_client(d);
    char *reply = post(g, "/requests.json", "Idempotency-Key: 137-app-0001\r\n",
                       LEAK "&description=%D8%A2%D8%A8+%D9%86%D8%B4%D8%AA+%D9%85%DB%8C%E2%80%8C"
                       "%DA%A9%D9%86%D8%AF&address_string=%D8%A7%DB%8C%D9%84%D8%A7%D9%85"
                       "&first_name=Ali&phone=0912&account_id=acc-7&attribute%5Bfloor%5D=2",
                       201);
    uint64_t tracking = request_id(reply);
    has(reply, "\"account_id\":\"acc-7\"");
    lacks(reply, "made before");
    free(reply);

    /* the agency receives the citizen's report as a map */
    miz_msg_t *m = it_deliver(water, tracking, "target");
    const msgpack_object *p = it_get(IT_ROOT(m), "payload");
    it_str_eq(p, "via", "open311");
    it_str_eq(p, "text", "آب نشت می‌کند");
    it_str_eq(p, "place", "ایلام");
    it_str_eq(p, "account_id", "acc-7");
    it_str_eq(it_get(p, "contact"), "first_name", "Ali");
    it_str_eq(it_get(p, "contact"), "phone", "0912");
    it_str_eq(it_get(p, "attributes"), "floor", "2");
    assert_true(it_get(p, "lat")->via.f64 > 33.6373 && it_get(p, "lat")->via.f64 < 33.6375);
    uint64_t water_id = it_uint(IT_ROOT(m), "delivery");
    miz_msg_destroy(&m);

    /* the same key: the same request, nothing new */
    reply = post(g, "/requests.xml", "Idempotency-Key: 137-app-0001\r\n", LEAK, 201);
    char want[160];
    snprintf(want, sizeof want, "<service_request_id>%" PRIu64 "</service_request_id>", tracking);
    has(reply, want);
    has(reply, "<service_notice>made before with this Idempotency-Key</service_notice>");
    free(reply);

    snprintf(want, sizeof want, "/requests/%" PRIu64 ".json", tracking);
    reply = get(g, want, 200);
    has(reply, "\"status\":\"open\",\"status_notes\":null,\"service_name\":\"نشت آب\","
               "\"service_code\":\"utility.water.leak\",\"description\":\"آب نشت می‌کند\","
               "\"agency_responsible\":\"آب و فاضلاب، خدمات شهری\"");
    has(reply, "\"address\":\"ایلام\"");
    has(reply, "\"lat\":33.6374000,\"long\":46.4227000");
    has(reply, "+03:30\",\"expected_datetime\":\"");
    free(reply);

    /* progress shows while open; the answers once closed */
    it_ack(water, water_id);
    assert_int_equal(miz_worker_progress(it_miz_worker(water), water_id, "crew on its way"), 0);
    miz_msg_destroy(&(miz_msg_t *){it_expect(water, "ok")});
    reply = get(g, want, 200);
    has(reply, "\"status_notes\":\"crew on its way\"");
    free(reply);
    it_answer(water, water_id, "resolved", "pipe mended");
    it_refuse(city, it_take(city, tracking, "target"), "not the municipality's");
    miz_msg_destroy(&(miz_msg_t *){it_status(c, tracking)});
    snprintf(want, sizeof want, "/requests/%" PRIu64 ".xml", tracking);
    reply = get(g, want, 200);
    /* the answers; a refusal's reason is the agency's business, not the public's */
    has(reply, "<status>closed</status><status_notes>pipe mended</status_notes>");
    lacks(reply, "municipality");
    has(reply, "<expected_datetime></expected_datetime>");
    free(reply);

    /* a list: the known ones, in the order asked; unknown ones left out */
    snprintf(want, sizeof want, "/requests.json?service_request_id=999,%" PRIu64, tracking);
    reply = get(g, want, 200);
    assert_int_equal(reply[0], '[');
    assert_non_null(strstr(reply, "\"status\":\"closed\""));
    assert_null(strstr(strstr(reply, "\"status\"") + 1, "\"status\":")); /* one item */
    free(reply);
    free(get(g, "/requests/999.json", 404));
    it_close(&c);
    it_close(&water);
    it_close(&city);
    hp_stop(&g);
}

/* Each bad post is refused, says why, and makes nothing. */
static void test_bad_posts(void **state)
{
    it_daemon_t *d = *state;
    hp_t *g = gateway(d, (const char *const[]){"--max-body", "4096", NULL});
    uint64_t before = requests_made(d);
    static const struct {
        const char *body, *why;
        int status;
    } bad[] = {
        {"lat=1&long=2", "service_code is required", 400},
        {"service_code=jobs.hiring&lat=1&long=2", "not a service of GET services", 400},
        {"service_code=welfare.complaint&lat=1&long=2", "not a service", 400},
        {"service_code=utility.water.leak", "a place is required", 400},
        {"service_code=utility.water.leak&lat=1", "lat and long come together", 400},
        {"service_code=utility.water.leak&lat=91&long=2", "within [-90, 90]", 400},
        {"service_code=utility.water.leak&lat=1&long=2x", "within [-180, 180]", 400},
        {"service_code=utility.water.leak&lat=0x10&long=2", "within [-90, 90]", 400},
        {"service_code=utility.water.leak&address_string=", "a place is required", 400},
        {LEAK "&description=%FF", "field 4 (\\\"description\\\"): its value is not UTF-8", 400},
        {LEAK "&description=a%00b", "holds an encoded NUL", 400},
        {LEAK "&lat=2", "\\\"lat\\\"): given twice", 400},
        {LEAK "&=x", "a name must be 1 to 128 bytes", 400},
        {LEAK "&attribute%5Bfloor%5Dx=2", "attribute[CODE]=VALUE", 400},
        {LEAK "&attribute%5B%5D=2", "attribute[CODE]=VALUE", 400},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char *reply = post(g, "/requests.json", NULL, bad[i].body, bad[i].status);
        has(reply, "[{\"code\":400,\"description\":\"");
        has(reply, bad[i].why);
        free(reply);
    }
    int status;
    char *reply = hp_post(g, "/requests.json", "text/plain", NULL, LEAK, &status);
    assert_int_equal(status, 415);
    free(reply);
    reply = post(g, "/requests.json", "Idempotency-Key: two words\r\n", LEAK, 400);
    has(reply, "Idempotency-Key");
    free(reply);
    reply = post(g, "/services.json", NULL, LEAK, 405);
    has(reply, "only requests.json takes POST");
    free(reply);
    char big[8192];
    snprintf(big, sizeof big, LEAK "&description=%05000d", 0);
    free(hp_post(g, "/requests.json", FORM, NULL, big, &status));
    assert_int_equal(status, 413);
    /* HEAD: the headers, with the length of what GET would send, and no body */
    char *head = hp_request(g, "HEAD /services.json HTTP/1.0\r\n\r\n", &status);
    assert_int_equal(status, 200);
    char *length = hp_header(head, "Content-Length");
    assert_non_null(length);
    char *services = get(g, "/services.json", 200);
    assert_int_equal(strtoul(length, NULL, 10), strlen(services));
    assert_string_equal(strstr(head, "\r\n\r\n"), "\r\n\r\n");
    free(services);
    free(length);
    free(head);
    free(get(g, "/requests.html", 404));
    free(get(g, "/requests/abc.json", 404));
    free(get(g, "/requests/0.json", 404));
    free(get(g, "/tokens/abc.json", 404));
    reply = get(g, "/services/\xd8\xa2\xff.json", 404); /* not echoed: a reply stays UTF-8 */
    has(reply, "no such path");
    free(reply);
    reply = get(g, "/requests.json?service_request_id=1&%FF=2", 400);
    has(reply, "the query: field 2: its name is not UTF-8");
    free(reply);
    reply = get(g, "/requests.json", 400);
    has(reply, "service_request_id");
    free(reply);
    reply = get(g, "/requests.json?service_request_id=1,,2", 400);
    has(reply, "comma-separated");
    free(reply);
    /* the mizd side: a topic the gateway lists but mizd has no route for
     * would be its unknown_topic; here every refusal was the gateway's own */
    assert_int_equal(requests_made(d), before + 1); /* requests_made's own submit */
    hp_stop(&g);
    /* a report too large for mizd (64 KiB once encoded) is refused here,
     * not sent to be dropped with the connection */
    g = gateway(d, (const char *const[]){"--max-body", "300000", NULL});
    char *large = malloc(200000);
    assert_non_null(large);
    int at = snprintf(large, 200000, LEAK "&description=");
    memset(large + at, 'a', 100000);
    large[at + 100000] = '\0';
    reply = post(g, "/requests.json", NULL, large, 413);
    has(reply, "once encoded");
    free(reply);
    free(large);
    hp_stop(&g);
}

static void test_keys_and_jurisdiction(void **state)
{
    it_daemon_t *d = *state;
    char keys[512];
    snprintf(keys, sizeof keys, "%s/api-keys", it_data_dir(d));
    FILE *f = fopen(keys, "w");
    assert_non_null(f);
    fputs("# the 137 app\n0123456789abcdef-app\n\nsecond-key-for-portal\n", f);
    fclose(f);
    hp_t *g = gateway(d, (const char *const[]){"--api-keys", keys, "--jurisdiction", "ilam",
                                                 NULL});
    free(post(g, "/requests.json", NULL, LEAK, 403));
    free(post(g, "/requests.json", NULL, LEAK "&api_key=0123456789abcdef-apX", 403));
    free(post(g, "/requests.json", NULL, LEAK "&api_key=second-key-for-portal&jurisdiction_id=tehran",
              404));
    char *reply = post(g, "/requests.json", NULL,
                       LEAK "&api_key=0123456789abcdef-app&jurisdiction_id=ilam", 201);
    has(reply, "service_request_id");
    free(reply);
    free(get(g, "/services.json?jurisdiction_id=tehran", 404));
    free(get(g, "/services.json?jurisdiction_id=ilam", 200));
    hp_stop(&g);
}

/* A silent broker is a 503 at the broker timeout; what was queued for it
 * is dropped, so it is not made when the broker comes back. */
static void test_broker_silent(void **state)
{
    it_daemon_t *d = *state;
    hp_t *g = gateway(d, (const char *const[]){"--broker-timeout", "300", NULL});
    uint64_t before = requests_made(d);
    it_stop(d, false);
    uint64_t t0 = it_now_ms();
    char *reply = post(g, "/requests.json", NULL, LEAK, 503);
    has(reply, "did not answer within 300 ms");
    free(reply);
    assert_true(it_now_ms() - t0 < IT_WAIT_MS);
    free(get(g, "/requests/1.json", 503));
    it_start(d);
    /* back: served again, and the post that got 503 was not made */
    reply = post(g, "/requests.json", NULL, LEAK, 201);
    assert_int_equal(request_id(reply), before + 2); /* requests_made's, then this one */
    free(reply);
    hp_stop(&g);
}

/* A stop answers what is still waiting for the broker (503), rather than
 * closing its connection unanswered. */
static void test_stop_answers(void **state)
{
    it_daemon_t *d = *state;
    hp_t *g = gateway(d, (const char *const[]){"--broker-timeout", "60000", NULL});
    it_stop(d, false);
    int fd = hp_connect(g, 0);
    static const char req[] = "GET /requests/1.json HTTP/1.0\r\n\r\n";
    assert_int_equal(write(fd, req, sizeof req - 1), (ssize_t)(sizeof req - 1));
    it_pump(d, 200); /* the status is sent, into a queue no broker reads */
    kill(hp_pid(g), SIGTERM);
    char reply[1024] = "";
    size_t n = 0;
    for (ssize_t got; n + 1 < sizeof reply && (got = read(fd, reply + n, sizeof reply - 1 - n)) > 0;)
        n += (size_t)got;
    close(fd);
    has(reply, " 503 Service Unavailable");
    has(reply, "did not answer");
    hp_stop(&g);
    it_start(d);
}

/* CURVE: keys made as `miz keygen` makes them, a table that turns it on */
static it_keys_t keys;
static char curve_table[128], gateway_key[160], stranger_key[160], server_key[160];
static miz_cert_t gw, gw2, stranger; /* other_gateway points into gw2 */
static miz_curve_t other_gateway;

static void setup_curve(void)
{
    miz_curve_t unused;
    char err[256];
    it_keys_init(&keys, "miz-o311");
    it_key_make(&keys, &gw, "open311", "gateway", "", true, &unused);
    it_key_make(&keys, &gw2, "call-centre", "gateway", "", true, &other_gateway);
    it_key_make(&keys, &stranger, "stranger", "gateway", "", false, &unused);
    assert_int_equal(miz_cert_save(&stranger, keys.dir, err, sizeof err), 0);
    snprintf(gateway_key, sizeof gateway_key, "%s/open311.key_secret", keys.keys_dir);
    snprintf(stranger_key, sizeof stranger_key, "%s/stranger.key_secret", keys.dir);
    snprintf(server_key, sizeof server_key, "%s/mizd.key", keys.dir);
    snprintf(curve_table, sizeof curve_table, "%s/open311-curve.yaml", keys.dir);
    FILE *f = fopen(curve_table, "w");
    assert_non_null(f);
    fprintf(f,
            "broker: {name: it-open311-curve, heartbeat: 100ms}\n"
            "security: {curve: \"on\", server_cert: \"%s/mizd.key_secret\", keys_dir: \"%s\"}\n"
            "agencies:\n  water: {name_fa: \"آب و فاضلاب\", name_en: Water}\n"
            "routes:\n  - match: utility.water.leak\n    to: [water]\n",
            keys.dir, keys.keys_dir);
    assert_int_equal(fclose(f), 0);
}

/* The harness's own clients and pings speak CURVE with the other gateway's key. */
static int curve_setup(void **state)
{
    it_use_curve(&other_gateway);
    return it_setup(state);
}

static int curve_teardown(void **state)
{
    int rc = it_teardown(state);
    it_use_curve(NULL);
    return rc;
}

static void test_curve(void **state)
{
    it_daemon_t *d = *state;
    hp_t *g = gateway(d, (const char *const[]){"--key", gateway_key, "--server-key", server_key,
                                                 NULL});
    char *reply = post(g, "/requests.json", NULL, LEAK, 201);
    char path[64];
    snprintf(path, sizeof path, "/requests/%" PRIu64 ".json", request_id(reply));
    free(reply);
    free(get(g, path, 200));
    /* another gateway's request is not this one's to show */
    it_peer_t *c = it_client_curve(d, &other_gateway);
    snprintf(path, sizeof path, "/requests/%" PRIu64 ".json",
             it_submit_topic(c, "utility.water.leak", NULL));
    reply = get(g, path, 404);
    has(reply, "no service request");
    free(reply);
    it_close(&c);
    hp_stop(&g);
    /* a key mizd does not know: its handshake is refused, nothing can be sent */
    g = gateway(d, (const char *const[]){"--key", stranger_key, "--server-key", server_key,
                                         "--broker-timeout", "300", NULL});
    free(post(g, "/requests.json", NULL, LEAK, 503)); /* unanswered, or not sent at all */
    /* once mizd knows it (a reload), the gateway gets through after moving on afresh */
    char from[200], to[200], out[256];
    snprintf(from, sizeof from, "%s/stranger.key", keys.dir);
    snprintf(to, sizeof to, "%s/stranger.key", keys.keys_dir);
    assert_int_equal(link(from, to), 0);
    assert_int_equal(it_reload(d, out, sizeof out), 0);
    for (uint64_t end = it_now_ms() + IT_WAIT_MS;; it_pump(d, 100)) {
        int status;
        reply = hp_post(g, "/requests.json", FORM, "Idempotency-Key: after-reload\r\n", LEAK,
                        &status);
        free(reply);
        if (status == 201)
            break;
        if (it_now_ms() > end)
            it_fail("the gateway did not get through once its key was known");
    }
    unlink(to);
    hp_stop(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        IT_TEST(test_services, TABLE),
        IT_TEST(test_post_and_follow, TABLE),
        IT_TEST(test_bad_posts, TABLE),
        IT_TEST(test_keys_and_jurisdiction, TABLE),
        IT_TEST(test_broker_silent, TABLE),
        IT_TEST(test_stop_answers, TABLE),
        cmocka_unit_test_prestate_setup_teardown(test_curve, curve_setup, curve_teardown,
                                                 curve_table),
    };
    setup_curve();
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    it_keys_remove(&keys);
    return failed;
}

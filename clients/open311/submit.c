/* submit: POST requests, a citizen's report made a miz request. The form's
 * fields are checked here (the service, a place, the numbers, the API key)
 * so that a client learns what is wrong with its post in Open311's terms;
 * what the broker itself refuses (too large, busy, stopping) comes back in
 * the same terms from its error code. The report goes to the workers as a
 * msgpack map (docs/open311.md, "What the agencies receive"); an
 * Idempotency-Key header becomes the request's client_ref, so a post sent
 * again after a lost reply makes nothing new. */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/keyvalq_struct.h>
#include <math.h>
#include <msgpack.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "form.h"
#include "httpd.h"
#include "o311_int.h"
#include "proto.h"
#include "wire.h"

#define SUBMIT_REF_PREFIX "open311:"
#define SUBMIT_KEY_MAX 100 /* an Idempotency-Key: its client_ref is within MIZ_REF_MAX */

/* Form fields copied into the payload as they are, under these names. */
static const struct {
    const char *field, *key;
} submit_copied[] = {
    {"description", "text"}, {"address_string", "place"}, {"address_id", "address_id"},
    {"media_url", "media_url"}, {"device_id", "device_id"}, {"account_id", "account_id"},
};
static const char *const submit_contact[] = {"first_name", "last_name", "email", "phone"};
#define SUBMIT_ATTRIBUTE "attribute["

typedef struct {
    o311_t *g;
    struct evhttp_request *req;
    doc_format_t f;
    char *account_id; /* echoed in the reply, as GeoReport asks */
    bool keyed;       /* it has an Idempotency-Key: posting it again is safe */
} submit_t;


static bool submit_key_known(const o311_t *g, const char *key)
{
    bool known = false;
    for (size_t i = 0; i < g->n_api_keys; i++)
        known |= key && httpd_same_secret(key, strlen(key), g->api_keys[i]);
    return known;
}

/* A coordinate: a decimal number ("-33.6374"; not strtod's hex, exponents
 * or inf) within [-limit, limit]. */
static bool submit_coordinate(const char *text, double limit, double *v)
{
    char *end;
    if (!*text || text[strspn(text, "+-.0123456789")] != '\0')
        return false;
    *v = strtod(text, &end);
    return end != text && !*end && isfinite(*v) && fabs(*v) <= limit;
}

/* A field given with something in it: an empty one counts as not given. */
static bool submit_filled(const form_t *form, const char *name)
{
    const char *v = form_get(form, name, NULL);
    return v && *v;
}

static size_t submit_count_prefixed(const form_t *form, const char *prefix)
{
    size_t n = 0;
    for (size_t i = 0; i < form_count(form); i++)
        n += strncmp(form_name(form, i), prefix, strlen(prefix)) == 0;
    return n;
}

/* The payload mizd passes to the agencies' workers. */
static void submit_payload(msgpack_packer *pk, const form_t *form, bool located, double lat,
                           double lon)
{
    size_t n = 1 + 2 * located, contacts = 0, value_len;
    const char *v;
    for (size_t i = 0; i < sizeof submit_copied / sizeof *submit_copied; i++)
        n += form_get(form, submit_copied[i].field, NULL) != NULL;
    for (size_t i = 0; i < sizeof submit_contact / sizeof *submit_contact; i++)
        contacts += form_get(form, submit_contact[i], NULL) != NULL;
    size_t attributes = submit_count_prefixed(form, SUBMIT_ATTRIBUTE);
    msgpack_pack_map(pk, (uint32_t)(n + (contacts > 0) + (attributes > 0)));
    wire_pack_cstr(pk, "via");
    wire_pack_cstr(pk, "open311");
    for (size_t i = 0; i < sizeof submit_copied / sizeof *submit_copied; i++)
        if ((v = form_get(form, submit_copied[i].field, &value_len))) {
            wire_pack_cstr(pk, submit_copied[i].key);
            wire_pack_str(pk, v, value_len);
        }
    if (located) {
        wire_pack_cstr(pk, "lat");
        msgpack_pack_double(pk, lat);
        wire_pack_cstr(pk, "long");
        msgpack_pack_double(pk, lon);
    }
    if (contacts) {
        wire_pack_cstr(pk, "contact");
        msgpack_pack_map(pk, (uint32_t)contacts);
        for (size_t i = 0; i < sizeof submit_contact / sizeof *submit_contact; i++)
            if ((v = form_get(form, submit_contact[i], &value_len))) {
                wire_pack_cstr(pk, submit_contact[i]);
                wire_pack_str(pk, v, value_len);
            }
    }
    if (attributes) { /* attribute[code]=value: the code without its brackets */
        wire_pack_cstr(pk, "attributes");
        msgpack_pack_map(pk, (uint32_t)attributes);
        for (size_t i = 0; i < form_count(form); i++) {
            const char *name = form_name(form, i) + strlen(SUBMIT_ATTRIBUTE);
            if (strncmp(form_name(form, i), SUBMIT_ATTRIBUTE, strlen(SUBMIT_ATTRIBUTE)))
                continue;
            wire_pack_str(pk, name, strcspn(name, "]")); /* checked: attribute[CODE] */
            v = form_value(form, i, &value_len);
            wire_pack_str(pk, v, value_len);
        }
    }
}

/* mizd's error code as the HTTP status a client acts on. */
static int submit_http_status(const char *code, size_t n)
{
    switch (MIZ_NAME_FIND(miz_error_names, code, n)) {
    case MIZ_ERR_BUSY: return 429;
    case MIZ_ERR_UNAVAILABLE: return 503;
    case MIZ_ERR_TOO_LARGE: return 413;
    case MIZ_ERR_UNKNOWN_TOPIC:
    case MIZ_ERR_BAD_FIELD:
    case MIZ_ERR_BAD_UTF8: return 400;
    case MIZ_ERR_UNKNOWN_TRACKING: return 404;
    default: return 502; /* the gateway's own problem (forbidden: its key; malformed: a bug) */
    }
}

void requests_reply_broker_error(struct evhttp_request *req, doc_format_t f, miz_msg_t *m)
{
    size_t code_n = 0, msg_n = 0;
    const char *code = miz_msg_str(m, "code", &code_n), *msg = miz_msg_str(m, "message", &msg_n);
    if (!code) /* not an error at all: a reply mizd never sends to this command */
        code = miz_msg_type(m), code_n = strlen(code);
    uint64_t retry_ms;
    if (miz_msg_uint(m, "retry_after_ms", &retry_ms) == 0) {
        char seconds[24];
        snprintf(seconds, sizeof seconds, "%llu", (unsigned long long)(retry_ms + 999) / 1000);
        evhttp_add_header(evhttp_request_get_output_headers(req), "Retry-After", seconds);
    }
    http_reply_error(req, f, submit_http_status(code, code_n), "the broker says %.*s: %.*s",
                     (int)code_n, code, (int)msg_n, msg ? msg : "");
}

static void submit_done(void *arg, miz_msg_t *reply)
{
    submit_t *s = arg;
    uint64_t tracking;
    if (!reply) {
        http_reply_error(s->req, s->f, 503, "the broker did not answer within %d ms: %s",
                         s->g->broker_timeout_ms,
                         s->keyed ? "post again with the same Idempotency-Key (nothing is made "
                                    "twice)"
                                  : "it may still make the request; post with an "
                                    "Idempotency-Key to post again safely");
    } else if (miz_msg_is(reply, miz_message_names[MIZ_MSG_ACCEPTED]) &&
               miz_msg_uint(reply, "tracking", &tracking) == 0) {
        doc_t *d = doc_new(s->f, "service_requests", "request");
        char id[24];
        snprintf(id, sizeof id, "%llu", (unsigned long long)tracking);
        if (d) {
            doc_begin(d);
            doc_cstr(d, "service_request_id", id);
            doc_cstr(d, "service_notice", miz_msg_get(reply, "duplicate")
                                              ? "made before with this Idempotency-Key"
                                              : NULL);
            doc_cstr(d, "account_id", s->account_id);
            doc_end(d);
        }
        http_reply_doc(s->req, 201, d, s->f);
    } else {
        requests_reply_broker_error(s->req, s->f, reply);
    }
    miz_msg_destroy(&reply);
    free(s->account_id);
    free(s);
}

/* The form's problem in Open311's terms, or NULL; lat and lon when given. */
static const char *submit_check(const o311_t *g, const form_t *form, bool *located, double *lat,
                                double *lon)
{
    const char *code = form_get(form, "service_code", NULL);
    const char *la = form_get(form, "lat", NULL), *lo = form_get(form, "long", NULL);
    if (!code)
        return "service_code is required";
    if (!services_find(g->services, code))
        return "service_code is not a service of GET services";
    if (!la != !lo)
        return "lat and long come together";
    *located = la != NULL;
    if (la && (!submit_coordinate(la, 90, lat) || !submit_coordinate(lo, 180, lon)))
        return "lat must be a number within [-90, 90] and long within [-180, 180]";
    if (!la && !submit_filled(form, "address_string") && !submit_filled(form, "address_id"))
        return "a place is required: lat and long, address_string or address_id";
    for (size_t i = 0; i < form_count(form); i++) {
        const char *name = form_name(form, i), *attr = name + strlen(SUBMIT_ATTRIBUTE);
        if (strncmp(name, SUBMIT_ATTRIBUTE, strlen(SUBMIT_ATTRIBUTE)) != 0)
            continue; /* attr is past a shorter name's end */
        size_t n = strcspn(attr, "[]");
        if (n == 0 || strcmp(attr + n, "]") != 0)
            return "an attribute is attribute[CODE]=VALUE: one code, one value";
    }
    return NULL;
}

/* The Idempotency-Key as a client_ref (in ref), "" without one; false when
 * it is not 1 to SUBMIT_KEY_MAX visible ASCII characters. */
static bool submit_ref(struct evhttp_request *req, char *ref, size_t len)
{
    const char *key =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Idempotency-Key");
    *ref = '\0';
    if (!key)
        return true;
    size_t n = strlen(key);
    bool ok = n > 0 && n <= SUBMIT_KEY_MAX;
    for (size_t i = 0; ok && i < n; i++)
        ok = key[i] > 0x20 && key[i] < 0x7F;
    if (ok)
        snprintf(ref, len, SUBMIT_REF_PREFIX "%s", key);
    return ok;
}

/* The body, NUL-terminated: evhttp has bounded it (max_body_bytes). */
static char *submit_body(struct evhttp_request *req, size_t *len)
{
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    *len = evbuffer_get_length(in);
    char *body = malloc(*len + 1);
    if (body) {
        evbuffer_copyout(in, body, *len);
        body[*len] = '\0';
    }
    return body;
}

static void submit_send(o311_t *g, struct evhttp_request *req, doc_format_t f,
                        const form_t *form, const char *ref, bool located, double lat, double lon)
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    submit_payload(&pk, form, located, lat, lon);
    if (sb.size > MIZ_PAYLOAD_MAX) { /* mizd would drop the connection, not answer too_large */
        http_reply_error(req, f, 413, "the report is %zu bytes once encoded: at most %d",
                         sb.size, MIZ_PAYLOAD_MAX);
        msgpack_sbuffer_destroy(&sb);
        return;
    }
    const char *account = form_get(form, "account_id", NULL);
    submit_t *s = calloc(1, sizeof *s);
    miz_submit_t sub = {.topic = form_get(form, "service_code", NULL),
                        .client_ref = *ref ? ref : NULL,
                        .payload = sb.data,
                        .payload_len = sb.size};
    if (s)
        *s = (submit_t){g, req, f, account ? strdup(account) : NULL, *ref != '\0'};
    if (!s || (account && !s->account_id)) {
        http_reply_error(req, f, 500, "out of memory");
        free(s);
    } else if (link_submit(g->link, &sub, submit_done, s) < 0) {
        http_reply_error(req, f, 503, "%s", errno == EBUSY ? "too many requests under way: "
                                                             "post again in a moment"
                                                           : "the broker cannot be reached");
        free(s->account_id);
        free(s);
    }
    msgpack_sbuffer_destroy(&sb);
}

void requests_post(o311_t *g, struct evhttp_request *req, doc_format_t f)
{
    const char *type =
        evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");
    static const char form_type[] = "application/x-www-form-urlencoded";
    char err[256], ref[MIZ_REF_MAX + 1];
    size_t len;
    if (!type || strncasecmp(type, form_type, strlen(form_type)) != 0 ||
        (type[strlen(form_type)] && type[strlen(form_type)] != ';')) {
        http_reply_error(req, f, 415, "post the request as %s", form_type);
        return;
    }
    if (!submit_ref(req, ref, sizeof ref)) {
        http_reply_error(req, f, 400, "Idempotency-Key must be 1 to %d visible ASCII characters",
                         SUBMIT_KEY_MAX);
        return;
    }
    char *body = submit_body(req, &len);
    form_t *form = body ? form_parse(body, len, err, sizeof err) : NULL;
    bool located = false;
    double lat = 0, lon = 0;
    const char *problem, *jurisdiction;
    if (!body)
        http_reply_error(req, f, 500, "out of memory");
    else if (!form)
        http_reply_error(req, f, 400, "the form: %s", err);
    else if (g->api_keys && !submit_key_known(g, form_get(form, "api_key", NULL)))
        http_reply_error(req, f, 403, "a valid api_key is required to post");
    else if (g->jurisdiction && (jurisdiction = form_get(form, "jurisdiction_id", NULL)) &&
             strcmp(jurisdiction, g->jurisdiction) != 0)
        http_reply_error(req, f, 404, "jurisdiction_id is not this server's");
    else if ((problem = submit_check(g, form, &located, &lat, &lon)))
        http_reply_error(req, f, 400, "%s", problem);
    else
        submit_send(g, req, f, form, ref, located, lat, lon);
    form_destroy(&form);
    free(body);
}

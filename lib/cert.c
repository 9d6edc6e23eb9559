/* cert: reading and writing ZeroMQ certificate files (lib/cert.h) and
 * turning them into a peer's CURVE settings, for mizd's keys directory,
 * `miz keygen`, and the clients' --key and --server-key. */
#include "cert.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#define LINE_MAX_LEN 512

int miz_key_valid(const char *s, size_t n)
{
    uint8_t raw[32];
    char z85[MIZ_KEY_LEN + 1];
    if (n != MIZ_KEY_LEN)
        return 0;
    memcpy(z85, s, n);
    z85[n] = '\0';
    return zmq_z85_decode(raw, z85) != NULL;
}

int miz_curve_load(const char *key, const char *server_key, miz_cert_t *own, miz_cert_t *server,
                   miz_curve_t *curve, char *err, size_t errlen)
{
    if (miz_cert_load(key, own, err, errlen) < 0 ||
        miz_cert_load(server_key, server, err, errlen) < 0)
        return -1;
    if (!*own->secret_key) {
        snprintf(err, errlen, "%s has no secret key: --key wants the .key_secret", key);
        return -1;
    }
    *curve = (miz_curve_t){server->public_key, own->public_key, own->secret_key};
    return 0;
}

int miz_curve_set(void *socket, const miz_curve_t *curve)
{
    if (!curve)
        return 0;
    const char *keys[] = {curve->server_key, curve->public_key, curve->secret_key};
    static const int options[] = {ZMQ_CURVE_SERVERKEY, ZMQ_CURVE_PUBLICKEY, ZMQ_CURVE_SECRETKEY};
    for (size_t i = 0; i < 3; i++) {
        if (!keys[i] || strlen(keys[i]) != MIZ_KEY_LEN) {
            errno = EINVAL;
            return -1;
        }
        if (zmq_setsockopt(socket, options[i], keys[i], MIZ_KEY_LEN + 1) < 0)
            return -1;
    }
    return 0;
}

/* Copies what fits: a longer section name or metadata value is cut. */
static void cert_copy(char *dst, size_t size, const char *src)
{
    size_t n = src ? strnlen(src, size - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

int miz_cert_generate(miz_cert_t *c, const char *name, const char *role, const char *agency)
{
    memset(c, 0, sizeof *c);
    if (zmq_curve_keypair(c->public_key, c->secret_key) < 0)
        return -1;
    cert_copy(c->name, sizeof c->name, name);
    cert_copy(c->role, sizeof c->role, role);
    cert_copy(c->agency, sizeof c->agency, agency);
    return 0;
}

static int cert_write(const char *path, mode_t mode, const miz_cert_t *c, bool secret, char *err,
                      size_t errlen)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
    FILE *f = fd >= 0 ? fdopen(fd, "w") : NULL;
    if (!f) {
        snprintf(err, errlen, "cannot create %s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    fprintf(f, "#   ZeroMQ CURVE %s Certificate, written by miz keygen\n",
            secret ? "**Secret**" : "Public");
    fprintf(f, secret ? "#   DO NOT PROVIDE THIS FILE TO OTHER USERS nor change its "
                        "permissions.\n\n"
                      : "#   Give it to the broker's operator (security.keys_dir).\n\n");
    fprintf(f, "metadata\n    name = \"%s\"\n", c->name);
    if (*c->role)
        fprintf(f, "    role = \"%s\"\n", c->role);
    if (*c->agency)
        fprintf(f, "    agency = \"%s\"\n", c->agency);
    fprintf(f, "curve\n    public-key = \"%s\"\n", c->public_key);
    if (secret)
        fprintf(f, "    secret-key = \"%s\"\n", c->secret_key);
    if (fclose(f) != 0) {
        snprintf(err, errlen, "cannot write %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int miz_cert_save(const miz_cert_t *c, const char *dir, char *err, size_t errlen)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.key_secret", dir, c->name);
    if (cert_write(path, 0600, c, true, err, errlen) < 0)
        return -1;
    snprintf(path, sizeof path, "%s/%s.key", dir, c->name);
    return cert_write(path, 0644, c, false, err, errlen);
}

/* One "name = "value"" line of a section; the value's quotes are optional. */
static int cert_set_field(miz_cert_t *c, const char *section, const char *key, const char *value)
{
    size_t n = strlen(value);
    struct {
        const char *section, *key;
        char *dst;
        size_t size;
    } fields[] = {
        {"metadata", "name", c->name, sizeof c->name},
        {"metadata", "role", c->role, sizeof c->role},
        {"metadata", "agency", c->agency, sizeof c->agency},
        {"curve", "public-key", c->public_key, sizeof c->public_key},
        {"curve", "secret-key", c->secret_key, sizeof c->secret_key},
    };
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++) {
        if (strcmp(section, fields[i].section) != 0 || strcmp(key, fields[i].key) != 0)
            continue;
        if (n >= fields[i].size)
            return -1;
        memcpy(fields[i].dst, value, n + 1);
        return 0;
    }
    return 0; /* other metadata is allowed and ignored */
}

int miz_cert_load(const char *path, miz_cert_t *c, char *err, size_t errlen)
{
    memset(c, 0, sizeof *c);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "cannot read %s: %s", path, strerror(errno));
        return -1;
    }
    char line[LINE_MAX_LEN], section[32] = "";
    unsigned no = 0;
    int rc = 0;
    while (rc == 0 && fgets(line, sizeof line, f)) {
        no++;
        line[strcspn(line, "\r\n")] = '\0';
        char *p = line + strspn(line, " \t");
        if (!*p || *p == '#')
            continue;
        if (p == line) { /* a section name starts at column 1 */
            cert_copy(section, sizeof section, p);
            continue;
        }
        char *eq = strchr(p, '=');
        if (!eq) {
            rc = -1;
            break;
        }
        char *end = eq;
        while (end > p && (end[-1] == ' ' || end[-1] == '\t'))
            end--;
        *end = '\0';
        char *v = eq + 1 + strspn(eq + 1, " \t");
        size_t n = strlen(v);
        if (n >= 2 && v[0] == '"' && v[n - 1] == '"')
            v[n - 1] = '\0', v++;
        rc = cert_set_field(c, section, p, v);
    }
    fclose(f);
    if (rc < 0) {
        snprintf(err, errlen, "%s:%u: not a ZeroMQ certificate line", path, no);
        return -1;
    }
    if (!miz_key_valid(c->public_key, strlen(c->public_key)) ||
        (*c->secret_key && !miz_key_valid(c->secret_key, strlen(c->secret_key)))) {
        snprintf(err, errlen, "%s: no valid curve public-key (40 characters of Z85)", path);
        return -1;
    }
    return 0;
}

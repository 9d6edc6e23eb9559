/* role: the lease of a shared store, taken or waited for (role.h).
 *
 * A standby asks the store every quarter of the lease: a lease that
 * expired is taken with a new epoch, so a takeover comes at most a lease
 * and a quarter after the active's last renewal. The active renews it in
 * its own commits (commit.c), never here: a renewal that is not a commit
 * would fence nothing. What the role is, and since when, is said in the
 * log and in systemd's STATUS=. */
#include "role.h"

#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A lease just taken lasts this long, or the lease if longer: recovering a
 * large store may take longer than a lease, and a new active whose lease
 * ran out while it recovered would be deposed by another standby, which
 * would recover in turn... Once recovered it is renewed for the lease
 * (engine_lease), so only a mizd that dies while it recovers costs this. */
#define ROLE_RECOVERY_MS 30000

struct role {
    struct event_base *base;
    store_t *store;
    char name[128];
    uint64_t lease_ms;
    log_level_t level;
    role_taken_fn *taken;
    void *arg;
    role_state_t state;
    time_t since;
    store_lease_t lease; /* ours when active; the holder's when standby */
    bool failed_told;    /* a failing try is logged once until one works */
    bool failed;         /* took the lease but could not serve */
    struct event *retry;
};

#define RLOG(r, lvl, ...) LOG_IF((r)->level, lvl, __VA_ARGS__)

role_t *role_new(struct event_base *base, store_t *store, const char *name, uint64_t lease_ms,
                 log_level_t level, role_taken_fn *taken, void *arg)
{
    role_t *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    *r = (role_t){.base = base, .store = store, .lease_ms = lease_ms, .level = level,
                  .taken = taken, .arg = arg, .state = ROLE_STANDBY, .since = time(NULL)};
    snprintf(r->name, sizeof r->name, "%s", name);
    return r;
}

/* 1 taken (and taken's work done), 0 held by another or unreachable, -1
 * when taken failed. */
static int role_try(role_t *r, char *err, size_t errlen)
{
    uint64_t first = r->lease_ms > ROLE_RECOVERY_MS ? r->lease_ms : ROLE_RECOVERY_MS;
    int got = r->store ? store_lease_take(r->store, r->name, first, r->lease_ms, &r->lease)
                       : (r->lease = (store_lease_t){0}, 1);
    if (got < 0) {
        if (!r->failed_told)
            RLOG(r, LOG_WARN, "standby: cannot ask for the lease, trying again: %s",
                 store_error(r->store));
        r->failed_told = true;
        return 0;
    }
    r->failed_told = false;
    if (got == 0) {
        RLOG(r, LOG_DEBUG, "standby: the lease is held by %s, epoch %llu, for %llu ms more",
             r->lease.holder, (unsigned long long)r->lease.epoch,
             (unsigned long long)r->lease.expires_in);
        return 0;
    }
    r->state = ROLE_ACTIVE;
    r->since = time(NULL);
    if (r->store && store_shared(r->store))
        RLOG(r, LOG_INFO, "active: took the lease as %s, epoch %llu", r->name,
             (unsigned long long)r->lease.epoch);
    if (r->taken(r->arg, &r->lease, err, errlen) < 0) {
        r->failed = true;
        return -1;
    }
    return 1;
}

static void role_on_retry(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    role_t *r = arg;
    char err[512];
    int got = role_try(r, err, sizeof err);
    if (got < 0) {
        RLOG(r, LOG_ERROR, "took the lease but cannot serve: %s", err);
        event_base_loopbreak(r->base);
        return;
    }
    if (got == 0) {
        uint64_t ms = r->lease_ms / 4;
        struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
        evtimer_add(r->retry, &tv);
    }
}

int role_start(role_t *r, char *err, size_t errlen)
{
    int got = role_try(r, err, errlen);
    if (got != 0)
        return got < 0 ? -1 : 1;
    RLOG(r, LOG_INFO, "standby: the lease is held by %s, epoch %llu; waiting to take over",
         r->lease.holder, (unsigned long long)r->lease.epoch);
    if (!(r->retry = evtimer_new(r->base, role_on_retry, r))) {
        snprintf(err, errlen, "cannot set up the event loop");
        return -1;
    }
    role_on_retry(-1, 0, r); /* arms the timer */
    return 0;
}

void role_deposed(role_t *r)
{
    if (r->state == ROLE_DEPOSED)
        return;
    r->state = ROLE_DEPOSED;
    r->since = time(NULL);
}

role_state_t role_state(const role_t *r)
{
    return r->state;
}

bool role_failed(const role_t *r)
{
    return r->failed;
}

void role_describe(const role_t *r, char *buf, size_t len)
{
    char since[32];
    struct tm tm;
    strftime(since, sizeof since, "%Y-%m-%d %H:%M:%S UTC", gmtime_r(&r->since, &tm));
    unsigned long long epoch = (unsigned long long)r->lease.epoch;
    switch (r->state) {
    case ROLE_ACTIVE:
        snprintf(buf, len, "active since %s, epoch %llu", since, epoch);
        break;
    case ROLE_STANDBY:
        snprintf(buf, len, "standby since %s: the lease is held by %s, epoch %llu", since,
                 *r->lease.holder ? r->lease.holder : "nobody", epoch);
        break;
    default:
        snprintf(buf, len, "deposed at %s: another mizd took the lease after epoch %llu", since,
                 epoch);
    }
}

void role_destroy(role_t **rp)
{
    role_t *r = *rp;
    if (!r)
        return;
    if (r->retry)
        event_free(r->retry);
    free(r);
    *rp = NULL;
}

/* clock: milliseconds of a clock (CLOCK_MONOTONIC for timeouts and
 * liveness, CLOCK_REALTIME for what is recorded or shown), for everything
 * in miz that keeps time. */
#ifndef MIZ_CLOCK_H
#define MIZ_CLOCK_H

#include <stdint.h>
#include <time.h>

static inline uint64_t clock_ms(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

#endif

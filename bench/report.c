/* report.c: the table miz-bench prints, and the targets it checks.
 *
 * Every row has the same columns whatever produced it, so that miz's rows
 * read against the references' at a glance; rows are printed as each run
 * ends, so that a long run shows its figures as they come. The targets
 * come last: each store mode's throughput and latency against the figures
 * its issue set, with the ratios to the references beside them. */
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

/* v rounded, with thousands separators, in out[48]. */
const char *grouped(double v, char *out)
{
    char digits[32];
    int n = snprintf(digits, sizeof digits, "%.0f", v), k = 0;
    for (int i = 0; i < n; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            out[k++] = ',';
        out[k++] = digits[i];
    }
    out[k] = '\0';
    return out;
}

/* v with thousands separators, right-aligned in width. */
static void print_num(double v, int width)
{
    char out[48];
    printf("%*s", width, grouped(v, out));
}

static double per_second(const stats_t *st)
{
    return st->seconds > 0 ? st->count / st->seconds : 0;
}

static void print_dist(const dist_t *d)
{
    const uint64_t v[] = {d->p50, d->p90, d->p99, d->p999, d->max};
    for (size_t i = 0; i < sizeof v / sizeof v[0]; i++)
        print_num((double)v[i] / 1e3, 10);
}

/* A paced run gets two more lines: its latencies counted from the actual
 * send, and the sender's own lateness, which the first line includes; with
 * receipts a third, the time to each "accepted". */
void print_row(const char *name, const stats_t *st)
{
    printf("%-34s", name);
    print_num(st->count, 9);
    print_num(per_second(st), 10);
    print_dist(&st->latency);
    print_num(st->cpu_self * 1e6 / st->count, 8);
    if (st->cpu_daemon > 0)
        print_num(st->cpu_daemon * 1e6 / st->count, 7);
    if (st->cpu_store > 0)
        print_num(st->cpu_store * 1e6 / st->count, 7);
    putchar('\n');
    if (!st->paced)
        return;
    printf("%-53s", "  counted from the actual send");
    print_dist(&st->from_send);
    printf("\n%-53s", "  the sender behind its schedule");
    print_dist(&st->lag);
    putchar('\n');
    if (!st->n_receipts)
        return;
    printf("%-53s", "  to the receipt (\"accepted\")");
    print_dist(&st->receipt);
    putchar('\n');
}

/* Under a paced durable row: the commits its requests waited for, as mizd
 * timed them on its commit thread (with the warm-up's requests). */
void print_commits(const commit_figures_t *before, const commit_figures_t *after,
                   uint64_t requests)
{
    uint64_t n = after->commits - before->commits, us = after->us - before->us;
    if (!n || !requests)
        return;
    printf("  mizd's commits: %.2f a request, %.0f us each (mean), %.0f us of commit a "
           "request\n",
           (double)n / (double)requests, (double)us / (double)n, (double)us / (double)requests);
}

static void print_machine(const opts_t *o, size_t frame_size)
{
    char date[64], model[128] = "?", line[256];
    time_t t = time(NULL);
    struct utsname u;
    strftime(date, sizeof date, "%Y-%m-%d %H:%M", localtime(&t));
    FILE *f = fopen("/proc/cpuinfo", "r");
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "model name", 10) == 0 && strchr(line, ':')) {
            snprintf(model, sizeof model, "%s", strchr(line, ':') + 2);
            model[strcspn(model, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
    uname(&u);
    printf("miz-bench %s, %s %s, %ld CPUs (%s); transport %s, %zu-byte frames, credit %u%s%s\n",
           date, u.sysname, u.release, sysconf(_SC_NPROCESSORS_ONLN), model,
           o->tcp ? "tcp" : "ipc", frame_size, o->credit, o->mizd_wrap ? "; mizd wrapped: " : "",
           o->mizd_wrap ? o->mizd_wrap : "");
}

void print_header(const opts_t *o)
{
    msgpack_sbuffer frame;
    raw_frame(&frame);
    print_machine(o, frame.size);
    msgpack_sbuffer_destroy(&frame);
    bool pg = o->stores & (1u << MODE_PG | 1u << MODE_PG_SYNC);
    printf("\n%-34s%9s%10s%10s%10s%10s%10s%10s%8s%7s%s\n", "run", "count", "per s", "p50 us",
           "p90 us", "p99 us", "p99.9 us", "max us", "CPU us", "mizd", pg ? "     pg" : "");
    fflush(stdout);
}

const char *verdict(bool met)
{
    return met ? "met" : "MISSED";
}

/* The p99 of a over b's; with no target, the figure alone. */
static void print_ratio(const char *name, const char *a_name, const dist_t *a, const char *b_name,
                        const dist_t *b, double target)
{
    double ratio = b->p99 ? (double)a->p99 / (double)b->p99 : 0;
    printf("    %-40s %s %.0f us / %s %.0f us = %.1f x", name, a_name, (double)a->p99 / 1e3, b_name,
           (double)b->p99 / 1e3, ratio);
    if (target > 0)
        printf(" -> %s", verdict(ratio <= target));
    putchar('\n');
}

static void print_rps(const char *name, double rps, unsigned workers, const char *how,
                      double target)
{
    printf("    %-40s %s%.0f req/s (%u worker%s) -> %s\n", name, how, rps, workers,
           workers == 1 ? "" : "s", verdict(rps >= target));
}

static void print_p50_99_999(const char *name, const dist_t *d)
{
    printf("%s%.0f / %.0f / %.0f us", name, (double)d->p50 / 1e3, (double)d->p99 / 1e3,
           (double)d->p999 / 1e3);
}

static double cpu_us(double seconds, const stats_t *st)
{
    return seconds * 1e6 / st->count;
}

/* PostgreSQL's figures beyond its throughput target, which issue 14 sets
 * alone: its latency beside the disk store's (which always runs with it),
 * the store's commits under it, and where the CPU went (the two cores are
 * shared by miz-bench, mizd and the servers). */
static void print_pg(const opts_t *o, const miz_stats_t *pg, const miz_stats_t *disk)
{
    char name[64];
    const stats_t *one = &pg->thr[0], *most = &pg->thr[N_WORKER_COUNTS - 1];
    snprintf(name, sizeof name, "at %.0f/s, p50 / p99 / p99.9:", o->rate);
    printf("    %-40s", name);
    print_p50_99_999(" miz ", &pg->lat.latency);
    print_p50_99_999("; disk ", &disk->lat.latency);
    printf("\n    %-40s", "  the relay's, in turns with miz's:");
    print_p50_99_999(" ", &pg->ref[REF_RELAY].latency);
    printf("\n    %-40s %.0f / %.0f us (disk: %.0f / %.0f us)\n",
           "a store commit alone, p50 / p99:", (double)pg->commit.latency.p50 / 1e3,
           (double)pg->commit.latency.p99 / 1e3, (double)disk->commit.latency.p50 / 1e3,
           (double)disk->commit.latency.p99 / 1e3);
    printf("    %-40s miz-bench %.0f / %.0f, mizd %.0f / %.0f, PostgreSQL %.0f / %.0f us\n",
           "CPU per request, 1 / 16 workers:", cpu_us(one->cpu_self, one),
           cpu_us(most->cpu_self, most), cpu_us(one->cpu_daemon, one),
           cpu_us(most->cpu_daemon, most), cpu_us(one->cpu_store, one),
           cpu_us(most->cpu_store, most));
}

/* Each store mode that ran, against its own targets. */
void print_targets(const opts_t *o, const miz_stats_t *miz)
{
    char name[64];
    printf("(latency: send, or its scheduled time when paced, to reply; CPU: microseconds of CPU\n"
           " per request in miz-bench, all threads, and in mizd)\n\ntargets\n");
    for (size_t m = 0; m < N_STORE_MODES; m++) {
        const store_mode_t *sm = &store_modes[m];
        const stats_t *thr = miz[m].thr;
        if (!(o->stores & 1u << m))
            continue;
        printf("  %s\n", sm->title);
        if (!sm->target_rps) { /* no target: the figures, beside memory's when it ran */
            for (size_t i = 0; i < N_WORKER_COUNTS; i++) {
                printf("    %2u workers: %8.0f req/s", worker_counts[i], per_second(&thr[i]));
                if (o->stores & 1u << MODE_MEMORY)
                    printf("   (without CURVE: %.0f req/s)",
                           per_second(&miz[MODE_MEMORY].thr[i]));
                putchar('\n');
            }
            continue;
        }
        snprintf(name, sizeof name, "end to end >= %.0f req/s:", sm->target_rps);
        if (sm->rps_each) {
            print_rps(name, per_second(&thr[0]), worker_counts[0], "", sm->target_rps);
            print_rps("", per_second(&thr[N_WORKER_COUNTS - 1]),
                      worker_counts[N_WORKER_COUNTS - 1], "", sm->target_rps);
        } else {
            size_t best = 0;
            for (size_t i = 1; i < N_WORKER_COUNTS; i++)
                if (per_second(&thr[i]) > per_second(&thr[best]))
                    best = i;
            print_rps(name, per_second(&thr[best]), worker_counts[best], "best ",
                      sm->target_rps);
        }
        if (sm->pg) {
            print_pg(o, &miz[m], &miz[MODE_DISK]);
            continue;
        }
        const stats_t *ref = miz[m].ref;
        const dist_t *relay = &ref[REF_RELAY].latency, *mizl = &miz[m].lat.latency;
        if (sm->disk) { /* the relay's p99, plus the two commits a request waits for */
            double commit = (double)miz[m].commit.latency.p99;
            double bound = (double)relay->p99 + 2 * commit;
            snprintf(name, sizeof name, "p99 at %.0f/s <= relay + 2 commits:", o->rate);
            printf("    %-40s miz %.0f us <= %.0f + 2 x %.0f = %.0f us -> %s\n", name,
                   (double)mizl->p99 / 1e3, (double)relay->p99 / 1e3, commit / 1e3, bound / 1e3,
                   verdict((double)mizl->p99 <= bound));
        } else {
            snprintf(name, sizeof name, "p99 at %.0f/s <= %.1f x relay:", o->rate,
                     sm->target_p99_ratio);
            print_ratio(name, "miz", mizl, "relay", relay, sm->target_p99_ratio);
        }
        printf("    %-40s miz %.0f us, relay %.0f us, raw %.0f us\n", "  p99.9 beside it:",
               (double)mizl->p999 / 1e3, (double)relay->p999 / 1e3,
               (double)ref[REF_RAW].latency.p999 / 1e3);
        print_ratio("the relay against raw ZeroMQ:", "relay", relay, "raw", &ref[REF_RAW].latency,
                    0);
        print_ratio("miz against raw ZeroMQ:", "miz", mizl, "raw", &ref[REF_RAW].latency, 0);
        if (sm->disk) {
            double floor_us = 2 * (double)miz[m].commit.latency.p50 / 1e3;
            printf("    %-40s 2 x %.0f us (p50) = %.0f us = %.1f x raw p99\n",
                   "under it, two store commits in turn:", floor_us / 2, floor_us,
                   floor_us * 1e3 / (double)ref[REF_RAW].latency.p99);
        }
    }
}

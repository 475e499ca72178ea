/* Shared helpers of the dcpki benchmarks (scripts/bench-sign compiles the
 * bench_*.c programs at run time; this header is included by each of them).
 *
 * - bench_connects(): TCP connect() calls made by this process. The program
 *   defines connect() itself and is linked with -rdynamic, so libcurl (loaded
 *   with the provider or the PKCS#11 module) calls this definition, which
 *   counts AF_INET/AF_INET6 connects and forwards to the C library's. Every new
 *   TLS connection of the transport starts with one such connect().
 * - bench_emu_count(): requests the emulator logged so far (it writes one line
 *   per request to its log before the response is sent), split into signature
 *   requests (POST .../keypairs/X/sign) and other signing-API requests (list,
 *   describe).
 * - bench_now(): wall clock and process CPU time (getrusage, user + sys, all
 *   threads) in microseconds.
 * Header-only; every function is static. */
#ifndef DCPKI_BENCH_COMMON_H
#define DCPKI_BENCH_COMMON_H

#include <dlfcn.h>
#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

static atomic_ulong bench_connect_count;

int connect(int fd, const struct sockaddr *sa, socklen_t len);
int connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);
    static _Atomic(connect_fn) real;
    connect_fn f = atomic_load(&real);
    if (f == NULL) {
        void *p = dlsym(RTLD_NEXT, "connect");
        if (p == NULL) {
            errno = ENOSYS;
            return -1;
        }
        memcpy(&f, &p, sizeof(f));
        atomic_store(&real, f);
    }
    if (sa != NULL && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6))
        atomic_fetch_add(&bench_connect_count, 1);
    return f(fd, sa, len);
}

static unsigned long bench_connects(void)
{
    return atomic_load(&bench_connect_count);
}

typedef struct {
    double wall_us;
    double cpu_us; /* user + sys */
    double sys_us;
} bench_time;

static bench_time bench_now(void)
{
    struct timespec ts;
    struct rusage ru;
    bench_time t;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    getrusage(RUSAGE_SELF, &ru);
    t.wall_us = (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
    t.cpu_us = (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
               (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
    t.sys_us = (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
    return t;
}

typedef struct {
    long sign;  /* POST .../keypairs/X/sign */
    long meta;  /* any other signing-API request (GET keypairs, GET keypairs/X) */
} bench_reqs;

/* Counts the emulator's request lines in its log; -1/-1 when no log is given
 * or it cannot be read. */
static bench_reqs bench_emu_count(const char *log)
{
    bench_reqs r = { -1, -1 };
    char line[2048];
    FILE *f;
    if (log == NULL || (f = fopen(log, "r")) == NULL)
        return r;
    r.sign = r.meta = 0;
    while (fgets(line, sizeof(line), f) != NULL) {
        const char *api = strstr(line, "/signingmanager/api/v1/");
        if (api == NULL)
            continue;
        const char *sp = strchr(api, ' ');
        size_t plen = sp ? (size_t)(sp - api) : strlen(api);
        if (plen >= 5 && strncmp(api + plen - 5, "/sign", 5) == 0)
            r.sign++;
        else
            r.meta++;
    }
    fclose(f);
    return r;
}

typedef struct {
    bench_time t;
    unsigned long connects;
    bench_reqs reqs;
} bench_mark;

static bench_mark bench_mark_now(const char *emu_log)
{
    bench_mark m;
    m.reqs = bench_emu_count(emu_log);
    m.connects = bench_connects();
    m.t = bench_now();
    return m;
}

/* One result line, parsed by scripts/bench-sign:
 * RESULT phase=P n=N threads=T round=R wall_us=W cpu_us=C sys_us=S connects=K req_sign=S req_meta=M
 * (cpu_us is user + sys; sys_us the kernel part of it) */
static void bench_report(const char *phase, long n, int threads, int round, const bench_mark *a,
                         const char *emu_log)
{
    bench_time t = bench_now();
    unsigned long k = bench_connects();
    bench_reqs r = bench_emu_count(emu_log);
    printf("RESULT phase=%s n=%ld threads=%d round=%d wall_us=%.0f cpu_us=%.0f sys_us=%.0f connects=%lu"
           " req_sign=%ld req_meta=%ld\n",
           phase, n, threads, round, t.wall_us - a->t.wall_us, t.cpu_us - a->t.cpu_us, t.sys_us - a->t.sys_us,
           k - a->connects,
           r.sign < 0 ? -1 : r.sign - a->reqs.sign, r.meta < 0 ? -1 : r.meta - a->reqs.meta);
    fflush(stdout);
}

/* The message signed for (phase, thread, index): 64 bytes, different for each. */
static void bench_message(unsigned char msg[64], int phase, int thread, long i)
{
    memset(msg, 0, 64);
    snprintf((char *)msg, 64, "dcpki bench phase %d thread %d message %ld", phase, thread, i);
}

/* Phase numbers for bench_message: distinct per (kind, round). */
#define BENCH_PHASE(kind, round) ((round) * 16 + (kind))

static long bench_parse_long(const char *s, const char *what, long min, long max)
{
    char *end;
    long v;
    errno = 0;
    v = strtol(s, &end, 10);
    if (errno != 0 || *s == '\0' || *end != '\0' || v < min || v > max) {
        fprintf(stderr, "%s must be a number from %ld to %ld, not '%s'\n", what, min, max, s);
        exit(2);
    }
    return v;
}

#endif

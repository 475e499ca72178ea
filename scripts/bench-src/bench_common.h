/* Shared helpers of the dcpki benchmarks (scripts/bench compiles the
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
 * - bench_emu_cpu(): CPU time (user + sys, microseconds) of the emulator's
 *   worker processes named by --emu-pids (bench_emu_pids), from /proc.
 * - bench_scheme / bench_verify(): the signature schemes measured (RSA PKCS#1
 *   v1.5, RSA-PSS with salt = digest length, ECDSA; SHA-256 each) and a
 *   verification of a signature over a message in OpenSSL's default provider.
 * Header-only; every function is static. */
#ifndef DCPKI_BENCH_COMMON_H
#define DCPKI_BENCH_COMMON_H

#include <dlfcn.h>
#include <errno.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <unistd.h>
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

static const char *bench_emu_pids; /* comma-separated pids, or NULL */

static double bench_emu_cpu(void)
{
    double total = 0;
    const char *p = bench_emu_pids;
    long tick = sysconf(_SC_CLK_TCK);
    while (p != NULL && *p != '\0') {
        char path[64], buf[1024];
        long pid = strtol(p, (char **)&p, 10);
        FILE *f;
        if (*p == ',')
            p++;
        snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
        if ((f = fopen(path, "r")) == NULL)
            continue;
        if (fgets(buf, sizeof(buf), f) != NULL) {
            /* fields after the ")" of comm: state is 3, utime 14, stime 15 */
            const char *q = strrchr(buf, ')');
            unsigned long ut = 0, st = 0;
            if (q != NULL && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) == 2)
                total += (double)(ut + st) * 1e6 / (double)tick;
        }
        fclose(f);
    }
    return total;
}

typedef enum { BENCH_PKCS1, BENCH_PSS, BENCH_ECDSA } bench_scheme;

static int bench_scheme_parse(const char *s, bench_scheme *out)
{
    if (strcmp(s, "pkcs1") == 0)
        *out = BENCH_PKCS1;
    else if (strcmp(s, "pss") == 0)
        *out = BENCH_PSS;
    else if (strcmp(s, "ecdsa") == 0)
        *out = BENCH_ECDSA;
    else
        return 0;
    return 1;
}

/* Padding parameters of the scheme on a signing or verification context. */
static int bench_scheme_params(EVP_PKEY_CTX *pctx, bench_scheme scheme)
{
    if (scheme == BENCH_PKCS1)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PADDING) > 0;
    if (scheme == BENCH_PSS)
        return EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) > 0 &&
               EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) > 0;
    return 1;
}

/* sig is a SHA-256 signature of msg by pub (default provider): 1, else 0. */
__attribute__((unused)) static int bench_verify(EVP_PKEY *pub, bench_scheme scheme, const unsigned char *msg, size_t mlen,
                        const unsigned char *sig, size_t slen)
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok = md != NULL && EVP_DigestVerifyInit_ex(md, &pctx, "SHA256", NULL, "provider=default", pub, NULL) == 1 &&
             bench_scheme_params(pctx, scheme) && EVP_DigestVerify(md, sig, slen, msg, mlen) == 1;
    EVP_MD_CTX_free(md);
    return ok;
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
    double emu_cpu;
} bench_mark;

static bench_mark bench_mark_now(const char *emu_log)
{
    bench_mark m;
    m.reqs = bench_emu_count(emu_log);
    m.connects = bench_connects();
    m.emu_cpu = bench_emu_cpu();
    m.t = bench_now();
    return m;
}

/* One result line, parsed by scripts/bench:
 * RESULT phase=P n=N threads=T round=R wall_us=W cpu_us=C sys_us=S connects=K req_sign=S req_meta=M emu_cpu_us=E
 * (cpu_us is user + sys; sys_us the kernel part of it; E the emulator's CPU, -1 without --emu-pids) */
static void bench_report(const char *phase, long n, int threads, int round, const bench_mark *a,
                         const char *emu_log)
{
    bench_time t = bench_now();
    double e = bench_emu_cpu();
    unsigned long k = bench_connects();
    bench_reqs r = bench_emu_count(emu_log);
    printf("RESULT phase=%s n=%ld threads=%d round=%d wall_us=%.0f cpu_us=%.0f sys_us=%.0f connects=%lu"
           " req_sign=%ld req_meta=%ld emu_cpu_us=%.0f\n",
           phase, n, threads, round, t.wall_us - a->t.wall_us, t.cpu_us - a->t.cpu_us, t.sys_us - a->t.sys_us,
           k - a->connects,
           r.sign < 0 ? -1 : r.sign - a->reqs.sign, r.meta < 0 ? -1 : r.meta - a->reqs.meta,
           bench_emu_pids ? e - a->emu_cpu : -1.0);
    fflush(stdout);
}

/* The message signed for (phase, thread, index): 64 bytes, different for each. */
static void bench_message(unsigned char msg[64], int phase, int thread, long i)
{
    char text[128];
    memset(text, 0, sizeof(text));
    snprintf(text, sizeof(text), "dcpki bench phase %d thread %d message %ld", phase, thread, i);
    memcpy(msg, text, 64);
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

/* The options every benchmark program takes. */
typedef struct bench_opts {
    bench_scheme scheme;
    const char *emu_log;
    long n;
    int rounds, threads;
} bench_opts;
#define BENCH_OPTS_DEFAULT { BENCH_PKCS1, NULL, 500, 3, 4 }

/* Takes argv[*i] (and its value) when it is a common option: 1, with *i on the
 * value; 0 when it is not one; -1 on a bad value. */
__attribute__((unused)) static int bench_common_opt(int argc, char **argv, int *i, bench_opts *o)
{
    const char *a = argv[*i];
    if (*i + 1 >= argc)
        return 0;
    if (strcmp(a, "--scheme") == 0)
        return bench_scheme_parse(argv[++*i], &o->scheme) ? 1 : -1;
    if (strcmp(a, "--emu-pids") == 0)
        bench_emu_pids = argv[++*i];
    else if (strcmp(a, "--emu-log") == 0)
        o->emu_log = argv[++*i];
    else if (strcmp(a, "--n") == 0)
        o->n = bench_parse_long(argv[++*i], "--n", 1, 10000000);
    else if (strcmp(a, "--rounds") == 0)
        o->rounds = (int)bench_parse_long(argv[++*i], "--rounds", 1, 1000);
    else if (strcmp(a, "--threads") == 0)
        o->threads = (int)bench_parse_long(argv[++*i], "--threads", 1, 256);
    else
        return 0;
    return 1;
}

#endif

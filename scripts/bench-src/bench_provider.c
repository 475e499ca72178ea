/* Benchmark of the dcpki OpenSSL provider in one process (run by scripts/bench).
 *
 *   bench_provider --remote URI --local FILE [--n N] [--threads T] [--rounds R]
 *                  [--emu-log LOG]
 *   bench_provider --remote URI --remote-only [--n N] [--threads T] [--rounds R]   (scripts/bench)
 *   common options: [--scheme pkcs1|pss|ecdsa] [--emu-pids PID,PID...]
 *
 * OPENSSL_CONF must activate the dcpki provider. --scheme: RSA PKCS#1 v1.5
 * (default), RSA-PSS (salt = digest length) or ECDSA, always with SHA-256. Loads both keys through
 * OSSL_STORE, signs once with the remote key and twice on each of T threads
 * (the connections the measured phases then reuse), then, in R rounds
 * (default 3) that alternate local and remote,
 * signs N messages with EVP_DigestSign (SHA-256) on one thread and N messages
 * spread over T threads sharing the EVP_PKEY, and prints one RESULT line per
 * phase and round (bench_common.h). Every signature is
 * verified afterwards with the public key in the default provider, outside the
 * timed parts; a wrong signature fails the run. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/store.h>
#include <openssl/x509.h>
#include <pthread.h>

#define SIG_MAX 1024

typedef struct {
    EVP_PKEY *pkey;
    int phase;
    int thread;
    long count;
    unsigned char *sigs; /* count * SIG_MAX */
    size_t *lens;
    pthread_barrier_t *start;
    int ok;
} worker;

static void die(const char *what)
{
    fprintf(stderr, "bench_provider: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static EVP_PKEY *load_key(const char *uri)
{
    OSSL_STORE_CTX *st = OSSL_STORE_open_ex(uri, NULL, NULL, NULL, NULL, NULL, NULL, NULL);
    EVP_PKEY *pkey = NULL;
    if (st == NULL)
        return NULL;
    if (!OSSL_STORE_expect(st, OSSL_STORE_INFO_PKEY)) {
        OSSL_STORE_close(st);
        return NULL;
    }
    while (pkey == NULL && !OSSL_STORE_eof(st)) {
        OSSL_STORE_INFO *info = OSSL_STORE_load(st);
        if (info == NULL)
            continue;
        if (OSSL_STORE_INFO_get_type(info) == OSSL_STORE_INFO_PKEY)
            pkey = OSSL_STORE_INFO_get1_PKEY(info);
        OSSL_STORE_INFO_free(info);
    }
    OSSL_STORE_close(st);
    return pkey;
}

static bench_scheme scheme = BENCH_PKCS1;

static int sign_one(EVP_PKEY *pkey, int phase, int thread, long i, unsigned char *sig, size_t *len)
{
    unsigned char msg[64];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    int ok;
    bench_message(msg, phase, thread, i);
    *len = SIG_MAX;
    ok = md != NULL && EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey, NULL) == 1 &&
         bench_scheme_params(pctx, scheme) && EVP_DigestSign(md, sig, len, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

static void *work(void *arg)
{
    worker *w = arg;
    long i;
    if (w->start)
        pthread_barrier_wait(w->start);
    w->ok = 1;
    for (i = 0; i < w->count; i++) {
        if (!sign_one(w->pkey, w->phase, w->thread, i, w->sigs + (size_t)i * SIG_MAX, &w->lens[i])) {
            w->ok = 0;
            ERR_print_errors_fp(stderr);
            break;
        }
    }
    return NULL;
}

static int verify_all(EVP_PKEY *pub, const worker *w)
{
    long i;
    for (i = 0; i < w->count; i++) {
        unsigned char msg[64];
        bench_message(msg, w->phase, w->thread, i);
        if (!bench_verify(pub, scheme, msg, sizeof(msg), w->sigs + (size_t)i * SIG_MAX, w->lens[i]))
            return 0;
    }
    return 1;
}

/* The public key of pkey, re-imported into the default provider. */
static EVP_PKEY *public_copy(EVP_PKEY *pkey)
{
    unsigned char *der = NULL;
    const unsigned char *p;
    int len = i2d_PUBKEY(pkey, &der);
    EVP_PKEY *pub;
    if (len <= 0)
        return NULL;
    p = der;
    pub = d2i_PUBKEY_ex(NULL, &p, len, NULL, "provider=default");
    OPENSSL_free(der);
    return pub;
}

/* Signs n messages over `threads` threads; one RESULT line; returns 1 when all
 * signatures verify. */
static int run_phase(const char *name, int kind, int round, EVP_PKEY *pkey, EVP_PKEY *pub, long n,
                     int threads, const char *emu_log, const char *verify_name)
{
    worker *ws = calloc((size_t)threads, sizeof(*ws));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    pthread_barrier_t start;
    bench_mark m;
    int t, ok = 1;
    if (ws == NULL || tids == NULL)
        die("out of memory");
    for (t = 0; t < threads; t++) {
        ws[t].pkey = pkey;
        ws[t].phase = BENCH_PHASE(kind, round);
        ws[t].thread = t;
        ws[t].count = n / threads + (t < n % threads ? 1 : 0);
        ws[t].sigs = malloc((size_t)(ws[t].count ? ws[t].count : 1) * SIG_MAX);
        ws[t].lens = calloc((size_t)(ws[t].count ? ws[t].count : 1), sizeof(size_t));
        if (ws[t].sigs == NULL || ws[t].lens == NULL)
            die("out of memory");
    }
    if (threads == 1) {
        m = bench_mark_now(emu_log);
        work(&ws[0]);
    } else {
        if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0)
            die("pthread_barrier_init failed");
        for (t = 0; t < threads; t++) {
            ws[t].start = &start;
            if (pthread_create(&tids[t], NULL, work, &ws[t]) != 0)
                die("pthread_create failed");
        }
        m = bench_mark_now(emu_log);
        pthread_barrier_wait(&start);
        for (t = 0; t < threads; t++)
            pthread_join(tids[t], NULL);
        pthread_barrier_destroy(&start);
    }
    bench_report(name, n, threads, round, &m, emu_log);
    if (verify_name != NULL && threads == 1 && ws[0].ok) {
        /* timed: what one local verification costs (the provider verifies every
         * signature the service returns) */
        m = bench_mark_now(emu_log);
        if (!verify_all(pub, &ws[0]))
            ws[0].ok = 0;
        bench_report(verify_name, n, 1, round, &m, emu_log);
    }
    for (t = 0; t < threads; t++) {
        if (!ws[t].ok) {
            fprintf(stderr, "bench_provider: %s: signing failed\n", name);
            ok = 0;
        } else if (!verify_all(pub, &ws[t])) {
            fprintf(stderr, "bench_provider: %s: a signature does not verify\n", name);
            ERR_print_errors_fp(stderr);
            ok = 0;
        }
        free(ws[t].sigs);
        free(ws[t].lens);
    }
    free(ws);
    free(tids);
    return ok;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_provider --remote URI (--local FILE | --remote-only) [--n N] [--threads T]"
                    " [--rounds R] [--emu-log LOG] [--scheme pkcs1|pss|ecdsa] [--emu-pids P,P]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *remote = NULL, *local = NULL;
    bench_opts o = BENCH_OPTS_DEFAULT;
    int r, i, ok = 1, remote_only = 0;
    EVP_PKEY *lkey = NULL, *rkey, *lpub = NULL, *rpub;
    unsigned char sig[SIG_MAX];
    size_t len;
    bench_mark m;

    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--remote-only") == 0) {
            remote_only = 1;
            continue;
        }
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--remote") == 0)
            remote = argv[++i];
        else if (strcmp(argv[i], "--local") == 0)
            local = argv[++i];
        else if (bench_common_opt(argc, argv, &i, &o) != 1)
            usage();
    }
    scheme = o.scheme;
    if (remote == NULL || (local == NULL) == !remote_only)
        usage();
    if (OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL) != 1)
        die("cannot load OPENSSL_CONF");
    if (!OSSL_PROVIDER_available(NULL, "dcpki"))
        die("the dcpki provider is not active (check OPENSSL_CONF)");

    /* local key: load, one unmeasured signature (lazy initialisation) */
    if (!remote_only) {
        if ((lkey = load_key(local)) == NULL || (lpub = public_copy(lkey)) == NULL)
            die("cannot load the local key");
        if (!sign_one(lkey, 0, 0, 0, sig, &len))
            die("the local key cannot sign");
    }
    /* remote key: the load (describe) and the first signature (connection) */
    m = bench_mark_now(o.emu_log);
    rkey = load_key(remote);
    bench_report("remote_load", 1, 1, 0, &m, o.emu_log);
    if (rkey == NULL || (rpub = public_copy(rkey)) == NULL)
        die("cannot load the remote key");
    m = bench_mark_now(o.emu_log);
    if (!sign_one(rkey, 3, 0, 0, sig, &len))
        die("the remote key cannot sign");
    bench_report("remote_first", 1, 1, 0, &m, o.emu_log);
    /* T threads at once, twice each: the connections T threads keep (each a
     * mutual-TLS handshake) are opened here, as the one thread's was by the
     * first signature; reported, never part of a figure but the connections */
    ok &= run_phase("remote_warmup_T", 7, 0, rkey, rpub, 2L * o.threads, o.threads, o.emu_log, NULL);

    /* rounds: local and remote alternate, so that both see the same machine load */
    for (r = 1; r <= o.rounds; r++) {
        if (!remote_only)
            ok &= run_phase("local_1", 4, r, lkey, lpub, o.n, 1, o.emu_log, "local_verify");
        ok &= run_phase("remote_1", 5, r, rkey, rpub, o.n, 1, o.emu_log, NULL);
        if (!remote_only)
            ok &= run_phase("local_T", 6, r, lkey, lpub, o.n, o.threads, o.emu_log, NULL);
        ok &= run_phase("remote_T", 7, r, rkey, rpub, o.n, o.threads, o.emu_log, NULL);
    }

    EVP_PKEY_free(lkey);
    EVP_PKEY_free(lpub);
    EVP_PKEY_free(rkey);
    EVP_PKEY_free(rpub);
    return ok ? 0 : 1;
}

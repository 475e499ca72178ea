/* Benchmark of the dcpki PKCS#11 module (run by scripts/bench).
 *
 *   bench_pkcs11 --module SO --label L (--local FILE | --pub PEM) [--n N] [--threads T] [--rounds R]
 *                [--emu-log LOG] [--scheme pkcs1|pss|ecdsa] [--emu-pids PID,PID...]
 * --pub: the key's public key (PEM) for checking signatures, and no local
 * phases; --scheme: CKM_SHA256_RSA_PKCS (default), CKM_SHA256_RSA_PKCS_PSS or
 * CKM_ECDSA_SHA256.
 *
 * dlopens the module, C_Initialize with CKF_OS_LOCKING_OK, finds the private
 * key with CKA_LABEL L, signs once, then twice on each of T sessions/threads
 * (the connections the measured phases then reuse), then, in R rounds
 * (default 3) that alternate the module
 * and a local RSA key file (EVP_DigestSign, same process), signs N messages with
 * CKM_SHA256_RSA_PKCS on one session/thread and N messages over T threads (one
 * session each). One RESULT line per phase (bench_common.h). Every signature is
 * verified afterwards (outside the timed parts) with the public key built from
 * the key object's CKA_MODULUS / CKA_PUBLIC_EXPONENT. Run it with
 * OPENSSL_CONF=/dev/null: the local key must use OpenSSL's default provider. */
#define _GNU_SOURCE
#include "bench_common.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <p11-kit/pkcs11.h>
#include <pthread.h>

#define SIG_MAX 1024

static CK_FUNCTION_LIST_PTR p11;
static CK_SLOT_ID key_slot;
static const char *key_label;

typedef struct {
    int phase;
    int thread;
    long count;
    EVP_PKEY *local; /* NULL: sign through the module */
    unsigned char *sigs;
    size_t *lens;
    pthread_barrier_t *start;
    int ok;
    CK_RV rv;
} worker;

static void die(const char *what, CK_RV rv)
{
    if (rv != CKR_OK)
        fprintf(stderr, "bench_pkcs11: %s (CK_RV 0x%lx)\n", what, (unsigned long)rv);
    else
        fprintf(stderr, "bench_pkcs11: %s\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

/* The private key labelled key_label in session s; CK_INVALID_HANDLE if none. */
static CK_OBJECT_HANDLE find_key(CK_SESSION_HANDLE s)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE tmpl[] = {
        { CKA_CLASS, &cls, sizeof(cls) },
        { CKA_LABEL, (void *)key_label, strlen(key_label) },
    };
    CK_OBJECT_HANDLE h = CK_INVALID_HANDLE;
    CK_ULONG found = 0;
    if (p11->C_FindObjectsInit(s, tmpl, 2) != CKR_OK)
        return CK_INVALID_HANDLE;
    if (p11->C_FindObjects(s, &h, 1, &found) != CKR_OK || found == 0)
        h = CK_INVALID_HANDLE;
    p11->C_FindObjectsFinal(s);
    return h;
}

/* Opens a session on the slot that holds the key (chosen on the first call). */
static CK_RV open_key_session(CK_SESSION_HANDLE *s, CK_OBJECT_HANDLE *key)
{
    CK_RV rv;
    if (key_slot == (CK_SLOT_ID)-1) {
        CK_ULONG n = 0, i;
        CK_SLOT_ID *slots;
        if ((rv = p11->C_GetSlotList(CK_TRUE, NULL, &n)) != CKR_OK)
            return rv;
        slots = calloc(n ? n : 1, sizeof(*slots));
        if (slots == NULL)
            return CKR_HOST_MEMORY;
        if ((rv = p11->C_GetSlotList(CK_TRUE, slots, &n)) != CKR_OK) {
            free(slots);
            return rv;
        }
        for (i = 0; i < n; i++) {
            CK_SESSION_HANDLE t;
            if (p11->C_OpenSession(slots[i], CKF_SERIAL_SESSION, NULL, NULL, &t) != CKR_OK)
                continue;
            if (find_key(t) != CK_INVALID_HANDLE) {
                key_slot = slots[i];
                p11->C_CloseSession(t);
                break;
            }
            p11->C_CloseSession(t);
        }
        free(slots);
        if (key_slot == (CK_SLOT_ID)-1)
            return CKR_KEY_HANDLE_INVALID;
    }
    if ((rv = p11->C_OpenSession(key_slot, CKF_SERIAL_SESSION, NULL, NULL, s)) != CKR_OK)
        return rv;
    if ((*key = find_key(*s)) == CK_INVALID_HANDLE) {
        p11->C_CloseSession(*s);
        return CKR_KEY_HANDLE_INVALID;
    }
    return CKR_OK;
}

static bench_scheme scheme = BENCH_PKCS1;

static CK_RV p11_sign_one(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, int phase, int thread, long i,
                          unsigned char *sig, size_t *len)
{
    unsigned char msg[64];
    CK_RSA_PKCS_PSS_PARAMS pss = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM mech = { CKM_SHA256_RSA_PKCS, NULL, 0 };
    if (scheme == BENCH_PSS) {
        mech.mechanism = CKM_SHA256_RSA_PKCS_PSS;
        mech.pParameter = &pss;
        mech.ulParameterLen = sizeof(pss);
    } else if (scheme == BENCH_ECDSA) {
        mech.mechanism = CKM_ECDSA_SHA256;
    }
    CK_ULONG l = SIG_MAX;
    CK_RV rv;
    bench_message(msg, phase, thread, i);
    if ((rv = p11->C_SignInit(s, &mech, key)) != CKR_OK)
        return rv;
    rv = p11->C_Sign(s, msg, sizeof(msg), sig, &l);
    *len = l;
    return rv;
}

static int local_sign_one(EVP_PKEY *pkey, int phase, int thread, long i, unsigned char *sig, size_t *len)
{
    unsigned char msg[64];
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok;
    bench_message(msg, phase, thread, i);
    *len = SIG_MAX;
    EVP_PKEY_CTX *pctx = NULL;
    ok = md != NULL && EVP_DigestSignInit_ex(md, &pctx, "SHA256", NULL, NULL, pkey, NULL) == 1 &&
         bench_scheme_params(pctx, scheme) && EVP_DigestSign(md, sig, len, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(md);
    return ok;
}

/* PKCS#11 gives ECDSA as r||s; OpenSSL verifies DER. */
static int rs_to_der(unsigned char *sig, size_t *len)
{
    ECDSA_SIG *es = ECDSA_SIG_new();
    BIGNUM *r = BN_bin2bn(sig, (int)(*len / 2), NULL), *sv = BN_bin2bn(sig + *len / 2, (int)(*len / 2), NULL);
    unsigned char *der = NULL;
    int n = -1;
    if (es && r && sv && ECDSA_SIG_set0(es, r, sv)) {
        r = sv = NULL;
        n = i2d_ECDSA_SIG(es, &der);
    }
    BN_free(r);
    BN_free(sv);
    ECDSA_SIG_free(es);
    if (n <= 0 || n > SIG_MAX) {
        OPENSSL_free(der);
        return 0;
    }
    memcpy(sig, der, (size_t)n);
    *len = (size_t)n;
    OPENSSL_free(der);
    return 1;
}

static void *work(void *arg)
{
    worker *w = arg;
    CK_SESSION_HANDLE s = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE key = CK_INVALID_HANDLE;
    long i;
    w->ok = 1;
    w->rv = CKR_OK;
    if (w->local == NULL && (w->rv = open_key_session(&s, &key)) != CKR_OK)
        w->ok = 0;
    if (w->start)
        pthread_barrier_wait(w->start);
    for (i = 0; w->ok && i < w->count; i++) {
        unsigned char *sig = w->sigs + (size_t)i * SIG_MAX;
        if (w->local != NULL) {
            if (!local_sign_one(w->local, w->phase, w->thread, i, sig, &w->lens[i]))
                w->ok = 0;
        } else if ((w->rv = p11_sign_one(s, key, w->phase, w->thread, i, sig, &w->lens[i])) != CKR_OK) {
            w->ok = 0;
        }
    }
    if (s != CK_INVALID_HANDLE)
        p11->C_CloseSession(s);
    return NULL;
}

static int verify_all(EVP_PKEY *pub, const worker *w)
{
    long i;
    for (i = 0; i < w->count; i++) {
        unsigned char msg[64];
        size_t len = w->lens[i];
        bench_message(msg, w->phase, w->thread, i);
        if (scheme == BENCH_ECDSA && w->local == NULL && !rs_to_der(w->sigs + (size_t)i * SIG_MAX, &len))
            return 0;
        if (!bench_verify(pub, scheme, msg, sizeof(msg), w->sigs + (size_t)i * SIG_MAX, len))
            return 0;
    }
    return 1;
}

static int run_phase(const char *name, int kind, int round, EVP_PKEY *local, EVP_PKEY *pub, long n,
                     int threads, const char *emu_log)
{
    worker *ws = calloc((size_t)threads, sizeof(*ws));
    pthread_t *tids = calloc((size_t)threads, sizeof(*tids));
    pthread_barrier_t start;
    bench_mark m;
    int t, ok = 1;
    if (ws == NULL || tids == NULL)
        die("out of memory", CKR_OK);
    if (pthread_barrier_init(&start, NULL, (unsigned)threads + 1) != 0)
        die("pthread_barrier_init failed", CKR_OK);
    for (t = 0; t < threads; t++) {
        ws[t].local = local;
        ws[t].phase = BENCH_PHASE(kind, round);
        ws[t].thread = t;
        ws[t].count = n / threads + (t < n % threads ? 1 : 0);
        ws[t].start = &start;
        ws[t].sigs = malloc((size_t)(ws[t].count ? ws[t].count : 1) * SIG_MAX);
        ws[t].lens = calloc((size_t)(ws[t].count ? ws[t].count : 1), sizeof(size_t));
        if (ws[t].sigs == NULL || ws[t].lens == NULL)
            die("out of memory", CKR_OK);
        if (pthread_create(&tids[t], NULL, work, &ws[t]) != 0)
            die("pthread_create failed", CKR_OK);
    }
    /* sessions are opened before the barrier, outside the timed part */
    m = bench_mark_now(emu_log);
    pthread_barrier_wait(&start);
    for (t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    bench_report(name, n, threads, round, &m, emu_log);
    pthread_barrier_destroy(&start);
    for (t = 0; t < threads; t++) {
        if (!ws[t].ok) {
            fprintf(stderr, "bench_pkcs11: %s: signing failed (CK_RV 0x%lx)\n", name, (unsigned long)ws[t].rv);
            ERR_print_errors_fp(stderr);
            ok = 0;
        } else if (!verify_all(pub, &ws[t])) {
            fprintf(stderr, "bench_pkcs11: %s: a signature does not verify\n", name);
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

static BIGNUM *get_bn(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key, CK_ATTRIBUTE_TYPE type)
{
    CK_ATTRIBUTE a = { type, NULL, 0 };
    BIGNUM *bn = NULL;
    if (p11->C_GetAttributeValue(s, key, &a, 1) != CKR_OK || a.ulValueLen == 0 ||
        a.ulValueLen == CK_UNAVAILABLE_INFORMATION)
        return NULL;
    if ((a.pValue = malloc(a.ulValueLen)) == NULL)
        return NULL;
    if (p11->C_GetAttributeValue(s, key, &a, 1) == CKR_OK)
        bn = BN_bin2bn(a.pValue, (int)a.ulValueLen, NULL);
    free(a.pValue);
    return bn;
}

/* The RSA public key of the module's key object, in OpenSSL's default provider. */
static EVP_PKEY *module_public_key(CK_SESSION_HANDLE s, CK_OBJECT_HANDLE key)
{
    BIGNUM *nn = get_bn(s, key, CKA_MODULUS), *e = get_bn(s, key, CKA_PUBLIC_EXPONENT);
    OSSL_PARAM_BLD *bld = OSSL_PARAM_BLD_new();
    OSSL_PARAM *params = NULL;
    EVP_PKEY_CTX *ctx = NULL;
    EVP_PKEY *pub = NULL;
    if (nn && e && bld && OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, nn) &&
        OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e) && (params = OSSL_PARAM_BLD_to_param(bld)) &&
        (ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) && EVP_PKEY_fromdata_init(ctx) == 1 &&
        EVP_PKEY_fromdata(ctx, &pub, EVP_PKEY_PUBLIC_KEY, params) != 1)
        pub = NULL;
    EVP_PKEY_CTX_free(ctx);
    OSSL_PARAM_free(params);
    OSSL_PARAM_BLD_free(bld);
    BN_free(nn);
    BN_free(e);
    return pub;
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_pkcs11 --module SO --label L (--local FILE | --pub PEM) [--n N] [--threads T]"
                    " [--rounds R] [--emu-log LOG] [--scheme pkcs1|pss|ecdsa] [--emu-pids P,P]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    const char *module = NULL, *local = NULL, *pubfile = NULL;
    bench_opts o = BENCH_OPTS_DEFAULT;
    int r, i, ok = 1;
    void *dl;
    CK_C_GetFunctionList get_list;
    CK_C_INITIALIZE_ARGS init = { NULL, NULL, NULL, NULL, CKF_OS_LOCKING_OK, NULL };
    CK_SESSION_HANDLE s;
    CK_OBJECT_HANDLE key;
    CK_RV rv;
    EVP_PKEY *lkey = NULL, *lpub = NULL, *rpub = NULL;
    unsigned char sig[SIG_MAX];
    size_t len;
    bench_mark m;
    FILE *f;

    key_slot = (CK_SLOT_ID)-1;
    for (i = 1; i < argc; i++) {
        if (i + 1 >= argc)
            usage();
        if (strcmp(argv[i], "--module") == 0)
            module = argv[++i];
        else if (strcmp(argv[i], "--label") == 0)
            key_label = argv[++i];
        else if (strcmp(argv[i], "--local") == 0)
            local = argv[++i];
        else if (strcmp(argv[i], "--pub") == 0)
            pubfile = argv[++i];
        else if (bench_common_opt(argc, argv, &i, &o) != 1)
            usage();
    }
    scheme = o.scheme;
    if (module == NULL || key_label == NULL || (local == NULL && pubfile == NULL))
        usage();

    /* local key through OpenSSL's default provider */
    if (local != NULL) {
        if ((f = fopen(local, "r")) == NULL)
            die("cannot open the local key file", CKR_OK);
        lkey = PEM_read_PrivateKey(f, NULL, NULL, NULL);
        fclose(f);
        if (lkey == NULL || (lpub = EVP_PKEY_dup(lkey)) == NULL)
            die("cannot read the local key", CKR_OK);
        if (!local_sign_one(lkey, 0, 0, 0, sig, &len))
            die("the local key cannot sign", CKR_OK);
    }
    if (pubfile != NULL) {
        if ((f = fopen(pubfile, "r")) == NULL)
            die("cannot open the public key file", CKR_OK);
        rpub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
        fclose(f);
        if (rpub == NULL)
            die("cannot read the public key file", CKR_OK);
    }

    /* the module: load + C_Initialize + find the key (no network expected before
     * the first signature unless the module lists keys to build its objects) */
    m = bench_mark_now(o.emu_log);
    if ((dl = dlopen(module, RTLD_NOW | RTLD_LOCAL)) == NULL) {
        fprintf(stderr, "bench_pkcs11: %s\n", dlerror());
        return 1;
    }
    {
        void *sym = dlsym(dl, "C_GetFunctionList");
        if (sym == NULL)
            die("the module has no C_GetFunctionList", CKR_OK);
        memcpy(&get_list, &sym, sizeof(get_list));
    }
    if ((rv = get_list(&p11)) != CKR_OK)
        die("C_GetFunctionList failed", rv);
    if ((rv = p11->C_Initialize(&init)) != CKR_OK)
        die("C_Initialize failed", rv);
    if ((rv = open_key_session(&s, &key)) != CKR_OK)
        die("no slot holds a private key with that label (is DCPKI_CONF set?)", rv);
    bench_report("p11_init", 1, 1, 0, &m, o.emu_log);
    if (rpub == NULL && (rpub = module_public_key(s, key)) == NULL)
        die("cannot read the key's CKA_MODULUS / CKA_PUBLIC_EXPONENT", CKR_OK);

    m = bench_mark_now(o.emu_log);
    if ((rv = p11_sign_one(s, key, 3, 0, 0, sig, &len)) != CKR_OK)
        die("the first C_Sign failed", rv);
    bench_report("p11_first", 1, 1, 0, &m, o.emu_log);
    /* T sessions at once, twice each: the connections T threads keep are
     * opened here, as the one thread's was by the first signature */
    ok &= run_phase("p11_warmup_T", 7, 0, NULL, rpub, 2L * o.threads, o.threads, o.emu_log);
    p11->C_CloseSession(s);

    /* rounds: local and module alternate, so that both see the same machine load */
    for (r = 1; r <= o.rounds; r++) {
        if (lkey != NULL)
            ok &= run_phase("local_1", 4, r, lkey, lpub, o.n, 1, o.emu_log);
        ok &= run_phase("p11_1", 5, r, NULL, rpub, o.n, 1, o.emu_log);
        if (lkey != NULL)
            ok &= run_phase("local_T", 6, r, lkey, lpub, o.n, o.threads, o.emu_log);
        ok &= run_phase("p11_T", 7, r, NULL, rpub, o.n, o.threads, o.emu_log);
    }

    if ((rv = p11->C_Finalize(NULL)) != CKR_OK) {
        fprintf(stderr, "bench_pkcs11: C_Finalize failed (CK_RV 0x%lx)\n", (unsigned long)rv);
        ok = 0;
    }
    dlclose(dl);
    EVP_PKEY_free(lkey);
    EVP_PKEY_free(lpub);
    EVP_PKEY_free(rpub);
    return ok ? 0 : 1;
}

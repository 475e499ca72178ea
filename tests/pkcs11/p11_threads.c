/* dcpki-pkcs11 under load: N threads × M signatures on the remote keys of the
 * "dcpki signing" token (RSA PKCS#1 v1.5, RSA-PSS and ECDSA), on separate
 * sessions and on one shared session, every signature verified with plain
 * OpenSSL against the key's CKA_PUBLIC_KEY_INFO; then fork(): the child
 * finds the library uninitialised, initialises it again and signs, while the
 * parent goes on signing.
 * usage: p11_threads MODULE [THREADS [SIGNATURES]]   (needs DCPKI_CONF) */
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <p11-kit/pkcs11.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

static CK_FUNCTION_LIST *f;
static CK_SLOT_ID slot;
static CK_SESSION_HANDLE shared;
static pthread_mutex_t shared_lock = PTHREAD_MUTEX_INITIALIZER;
static int n_sigs = 20;

typedef struct key {
    const char *label;
    CK_OBJECT_HANDLE h; /* in any session of the token: handles are per token */
    EVP_PKEY *pub;
} key;
static key rsa = { "issuing-ca", 0, NULL }, ec = { "ec-ca", 0, NULL };

#define CHECK(expr, want)                                                                  \
    do {                                                                                   \
        CK_RV rv_ = (expr);                                                                \
        if (rv_ != (want)) {                                                               \
            fprintf(stderr, "%s:%d: %s = 0x%lx, expected 0x%lx\n", __FILE__, __LINE__, #expr, \
                    (unsigned long)rv_, (unsigned long)(want));                            \
            return 1;                                                                      \
        }                                                                                  \
    } while (0)

static int find_slot(void)
{
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    CHECK(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        CHECK(f->C_GetTokenInfo(slots[i], &ti), CKR_OK);
        if (memcmp(ti.label, "dcpki signing ", 14) == 0) {
            slot = slots[i];
            return 0;
        }
    }
    fprintf(stderr, "no \"dcpki signing\" token\n");
    return 1;
}

static int find_key(CK_SESSION_HANDLE s, key *k)
{
    CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
    CK_ATTRIBUTE t[] = { { CKA_CLASS, &cls, sizeof(cls) },
                         { CKA_LABEL, (void *)k->label, strlen(k->label) } };
    CK_ULONG n = 0;
    unsigned char spki[4096];
    CK_ATTRIBUTE a = { CKA_PUBLIC_KEY_INFO, spki, sizeof(spki) };
    const unsigned char *p = spki;

    CHECK(f->C_FindObjectsInit(s, t, 2), CKR_OK);
    CHECK(f->C_FindObjects(s, &k->h, 1, &n), CKR_OK);
    CHECK(f->C_FindObjectsFinal(s), CKR_OK);
    if (n != 1) {
        fprintf(stderr, "private key %s not found\n", k->label);
        return 1;
    }
    CHECK(f->C_GetAttributeValue(s, k->h, &a, 1), CKR_OK);
    EVP_PKEY_free(k->pub);
    if (!(k->pub = d2i_PUBKEY(NULL, &p, (long)a.ulValueLen))) {
        fprintf(stderr, "bad CKA_PUBLIC_KEY_INFO on %s\n", k->label);
        return 1;
    }
    return 0;
}

/* verify sig over msg with SHA-256; ECDSA sig is r||s */
static int verify(const key *k, int pss, const unsigned char *msg, size_t mlen,
                  const unsigned char *sig, size_t slen)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pctx = NULL;
    unsigned char *der = NULL;
    int dlen = (int)slen, ok;

    if (k == &ec) {
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *r = BN_bin2bn(sig, (int)slen / 2, NULL), *s = BN_bin2bn(sig + slen / 2, (int)slen / 2, NULL);
        ECDSA_SIG_set0(es, r, s);
        dlen = i2d_ECDSA_SIG(es, &der);
        ECDSA_SIG_free(es);
    }
    ok = EVP_DigestVerifyInit(ctx, &pctx, EVP_sha256(), NULL, k->pub) == 1;
    if (ok && pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pctx, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestVerify(ctx, der ? der : sig, (size_t)dlen, msg, mlen) == 1;
    OPENSSL_free(der);
    EVP_MD_CTX_free(ctx);
    return ok;
}

/* one signature with mechanism kind (0 RSA PKCS#1, 1 PSS, 2 ECDSA), verified */
static int sign_one(CK_SESSION_HANDLE s, int kind, int tag, int serial)
{
    CK_RSA_PKCS_PSS_PARAMS pp = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
    CK_MECHANISM m = { kind == 0 ? CKM_SHA256_RSA_PKCS : kind == 1 ? CKM_SHA256_RSA_PKCS_PSS : CKM_ECDSA_SHA256,
                       kind == 1 ? &pp : NULL, kind == 1 ? sizeof(pp) : 0 };
    const key *k = kind == 2 ? &ec : &rsa;
    unsigned char msg[64], sig[1024];
    CK_ULONG slen = 0;
    int mlen = snprintf((char *)msg, sizeof(msg), "message %d/%d", tag, serial);

    CK_RV rv;

    if (serial) /* one operation at a time per session: the application serialises */
        pthread_mutex_lock(&shared_lock);
    rv = f->C_SignInit(s, &m, k->h);
    if (rv == CKR_OK) /* size query */
        rv = f->C_Sign(s, msg, (CK_ULONG)mlen, NULL, &slen);
    if (rv == CKR_OK && slen > sizeof(sig))
        rv = CKR_GENERAL_ERROR;
    if (rv == CKR_OK)
        rv = f->C_Sign(s, msg, (CK_ULONG)mlen, sig, &slen);
    if (serial)
        pthread_mutex_unlock(&shared_lock);
    if (rv != CKR_OK) {
        fprintf(stderr, "signature %d (kind %d): C_SignInit/C_Sign returned 0x%lx\n", tag, kind,
                (unsigned long)rv);
        return 1;
    }
    if (!verify(k, kind == 1, msg, (size_t)mlen, sig, slen)) {
        fprintf(stderr, "signature %d (kind %d) does not verify\n", tag, kind);
        return 1;
    }
    return 0;
}

static void *worker(void *arg)
{
    long id = (long)arg;
    int use_shared = id % 2, bad = 0;
    CK_SESSION_HANDLE s = shared;
    if (!use_shared && f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s) != CKR_OK)
        return (void *)1L;
    for (int i = 0; i < n_sigs; i++)
        bad += sign_one(s, (int)((id + i) % 3), (int)(id * 100000 + i), use_shared);
    if (!use_shared && f->C_CloseSession(s) != CKR_OK)
        bad++;
    return (void *)(long)bad;
}

static int child(void)
{
    CK_SLOT_ID slots[4];
    CK_ULONG n = 4;
    CK_SESSION_HANDLE s;
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    /* the parent's initialisation does not carry over */
    CHECK(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_CRYPTOKI_NOT_INITIALIZED);
    CHECK(f->C_Initialize(&args), CKR_OK);
    CHECK(f->C_Initialize(&args), CKR_CRYPTOKI_ALREADY_INITIALIZED);
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    if (find_key(s, &rsa) || find_key(s, &ec))
        return 1;
    for (int i = 0; i < 3; i++)
        if (sign_one(s, i, 900000 + i, 0))
            return 1;
    CHECK(f->C_Finalize(NULL), CKR_OK);
    return 0;
}

int main(int argc, char **argv)
{
    CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
    CK_C_INITIALIZE_ARGS args = { .flags = CKF_OS_LOCKING_OK };
    int n_threads = argc > 2 ? atoi(argv[2]) : 8, bad = 0, status = 0;
    pthread_t *th;
    void *dl;
    pid_t pid;
    struct timespec t0, t1;
    double secs;

    if (argc < 2) {
        fprintf(stderr, "usage: %s MODULE [THREADS [SIGNATURES]]\n", argv[0]);
        return 2;
    }
    if (argc > 3)
        n_sigs = atoi(argv[3]);
    if (!(dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) ||
        !(get = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl, "C_GetFunctionList"))) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    CHECK(get(&f), CKR_OK);
    CHECK(f->C_Initialize(&args), CKR_OK);
    if (find_slot())
        return 1;
    CHECK(f->C_OpenSession(slot, CKF_SERIAL_SESSION, NULL, NULL, &shared), CKR_OK);
    if (find_key(shared, &rsa) || find_key(shared, &ec))
        return 1;

    th = calloc((size_t)n_threads, sizeof(*th));
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (long i = 0; i < n_threads; i++)
        if (pthread_create(&th[i], NULL, worker, (void *)i) != 0)
            return 1;
    for (int i = 0; i < n_threads; i++) {
        void *r;
        pthread_join(th[i], &r);
        bad += (int)(long)r;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    free(th);
    secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("%d threads x %d signatures: %d failed, %.2f s (%.1f signatures/s)\n", n_threads, n_sigs,
           bad, secs, n_threads * n_sigs / secs);
    if (bad)
        return 1;

    fflush(NULL);
    if ((pid = fork()) == 0)
        _exit(child());
    for (int i = 0; i < 3; i++) /* the parent keeps working meanwhile */
        bad += sign_one(shared, i, 800000 + i, 0);
    if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "forked child failed (status %d)\n", status);
        return 1;
    }
    bad += sign_one(shared, 0, 800100, 0);
    printf("fork: child re-initialised and signed; parent signed: %s\n", bad ? "FAILED" : "ok");
    CHECK(f->C_CloseSession(shared), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    EVP_PKEY_free(rsa.pub);
    EVP_PKEY_free(ec.pub);
    dlclose(dl);
    return bad ? 1 : 0;
}

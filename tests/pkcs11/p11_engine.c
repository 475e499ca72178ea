/* dcpki-pkcs11 inside an engine-era host (issue 7): the process has OpenSSL
 * ENGINEs set as the default for everything, the default library context's
 * properties set to "fips=yes" (no FIPS provider: it can fetch nothing) and
 * the legacy provider loaded into it. Twice, with a fresh C_Initialize each
 * time: under libp11's "pkcs11" engine, then also under an engine whose
 * EVP_PKEY methods and digests fail (p11_engine_host.c). Each time C_FindObjects must find the
 * private keys and certificates of both tokens, and CKM_SHA256_RSA_PKCS (the
 * remote RSA key and the local RA key) and CKM_ECDSA (the remote EC key) must
 * sign. The failing engine must never have been called. Then the host's state
 * is undone and every signature is verified with OpenSSL against the
 * certificate read from the token.
 * usage: p11_engine MODULE   (needs DCPKI_CONF) */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/pkcs11.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/provider.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include "p11_engine.h"

static CK_FUNCTION_LIST *f;

#define CHECK(expr, want)                                                                      \
    do {                                                                                       \
        CK_RV rv_ = (expr);                                                                    \
        if (rv_ != (want)) {                                                                   \
            fprintf(stderr, "%s:%d: %s = 0x%lx, expected 0x%lx\n", __FILE__, __LINE__, #expr, \
                    (unsigned long)rv_, (unsigned long)(want));                                \
            return 0;                                                                          \
        }                                                                                      \
    } while (0)

/* one signature to verify once the host's state is undone */
typedef struct record {
    char what[96];
    CK_MECHANISM_TYPE mech;
    unsigned char cert[4096];
    CK_ULONG cert_len;
    unsigned char sig[1024];
    CK_ULONG sig_len;
} record;
static record records[8];
static int n_records;

static const unsigned char message[] = "signed by dcpki-pkcs11 inside an engine-era host";
/* its SHA-256, made before the host's state is changed: the CKM_ECDSA input */
static unsigned char ecdsa_digest[32];

static int find_slot(const char *label, CK_SLOT_ID *out)
{
    CK_SLOT_ID slots[8];
    CK_ULONG n = 8;
    size_t l = strlen(label);
    CHECK(f->C_GetSlotList(CK_TRUE, slots, &n), CKR_OK);
    for (CK_ULONG i = 0; i < n; i++) {
        CK_TOKEN_INFO ti;
        CHECK(f->C_GetTokenInfo(slots[i], &ti), CKR_OK);
        if (memcmp(ti.label, label, l) == 0 && ti.label[l] == ' ') {
            *out = slots[i];
            return 1;
        }
    }
    fprintf(stderr, "no \"%s\" token\n", label);
    return 0;
}

/* Number of objects of class cls; the one labelled label (if any) in *h. */
static int find(CK_SESSION_HANDLE s, CK_OBJECT_CLASS cls, const char *label, CK_OBJECT_HANDLE *h, CK_ULONG *count)
{
    CK_ATTRIBUTE t[2] = { { CKA_CLASS, &cls, sizeof(cls) }, { CKA_LABEL, (void *)label, label ? strlen(label) : 0 } };
    CK_OBJECT_HANDLE hs[64];
    CK_ULONG n = 0;
    CHECK(f->C_FindObjectsInit(s, t, label ? 2 : 1), CKR_OK);
    CHECK(f->C_FindObjects(s, hs, 64, &n), CKR_OK);
    CHECK(f->C_FindObjectsFinal(s), CKR_OK);
    *count = n;
    if (h)
        *h = n > 0 ? hs[0] : CK_INVALID_HANDLE;
    return 1;
}

/* Sign with the private key labelled label, keep the signature and the certificate. */
static int sign_one(CK_SESSION_HANDLE s, const char *phase, const char *label, CK_MECHANISM_TYPE mech)
{
    CK_MECHANISM m = { mech, NULL, 0 };
    CK_OBJECT_HANDLE key, cert;
    CK_ULONG n;
    unsigned char dg[32];
    const unsigned char *in = message;
    CK_ULONG in_len = sizeof(message) - 1;
    record *r = &records[n_records];
    CK_ATTRIBUTE v = { CKA_VALUE, r->cert, sizeof(r->cert) };

    if (n_records == (int)(sizeof(records) / sizeof(records[0]))) {
        fprintf(stderr, "too many signatures\n");
        return 0;
    }
    if (!find(s, CKO_PRIVATE_KEY, label, &key, &n) || n != 1) {
        fprintf(stderr, "%s: private key %s not found\n", phase, label);
        return 0;
    }
    if (!find(s, CKO_CERTIFICATE, label, &cert, &n) || n != 1) {
        fprintf(stderr, "%s: certificate %s not found\n", phase, label);
        return 0;
    }
    CHECK(f->C_GetAttributeValue(s, cert, &v, 1), CKR_OK);
    r->cert_len = v.ulValueLen;
    if (mech == CKM_ECDSA) { /* the caller hashes */
        memcpy(dg, ecdsa_digest, sizeof(dg));
        in = dg;
        in_len = sizeof(dg);
    }
    CHECK(f->C_SignInit(s, &m, key), CKR_OK);
    r->sig_len = sizeof(r->sig);
    CHECK(f->C_Sign(s, (CK_BYTE_PTR)in, in_len, r->sig, &r->sig_len), CKR_OK);
    r->mech = mech;
    snprintf(r->what, sizeof(r->what), "%s: %s with 0x%lx", phase, label, (unsigned long)mech);
    n_records++;
    printf("ok - %s signed (%lu bytes)\n", r->what, (unsigned long)r->sig_len);
    return 1;
}

/* C_Initialize, both tokens' objects found, three signatures, C_Finalize. */
static int run(const char *phase)
{
    CK_C_INITIALIZE_ARGS args = { 0 };
    CK_SLOT_ID signing, ra;
    CK_SESSION_HANDLE s;
    CK_ULONG n_priv, n_cert;

    args.flags = CKF_OS_LOCKING_OK;
    CHECK(f->C_Initialize(&args), CKR_OK);
    if (!find_slot("dcpki signing", &signing) || !find_slot("dcpki RA", &ra))
        return 0;

    CHECK(f->C_OpenSession(signing, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    if (!find(s, CKO_PRIVATE_KEY, NULL, NULL, &n_priv) || !find(s, CKO_CERTIFICATE, NULL, NULL, &n_cert))
        return 0;
    if (n_priv < 2 || n_cert < 2) {
        fprintf(stderr, "%s: the signing token lists %lu private keys and %lu certificates; expected at least 2 each\n",
                phase, (unsigned long)n_priv, (unsigned long)n_cert);
        return 0;
    }
    printf("ok - %s: C_FindObjects finds %lu private keys and %lu certificates on \"dcpki signing\"\n", phase,
           (unsigned long)n_priv, (unsigned long)n_cert);
    if (!sign_one(s, phase, "issuing-ca", CKM_SHA256_RSA_PKCS) || !sign_one(s, phase, "ec-ca", CKM_ECDSA))
        return 0;
    CHECK(f->C_CloseSession(s), CKR_OK);

    CHECK(f->C_OpenSession(ra, CKF_SERIAL_SESSION, NULL, NULL, &s), CKR_OK);
    if (!find(s, CKO_PRIVATE_KEY, NULL, NULL, &n_priv) || !find(s, CKO_CERTIFICATE, NULL, NULL, &n_cert))
        return 0;
    if (n_priv != 1 || n_cert != 1) {
        fprintf(stderr, "%s: the RA token lists %lu private keys and %lu certificates; expected 1 each\n", phase,
                (unsigned long)n_priv, (unsigned long)n_cert);
        return 0;
    }
    if (!sign_one(s, phase, "ra", CKM_SHA256_RSA_PKCS))
        return 0;
    CHECK(f->C_CloseSession(s), CKR_OK);
    CHECK(f->C_Finalize(NULL), CKR_OK);
    return 1;
}

/* Verify one record with a library context of our own (the host's state is undone). */
static int verify(OSSL_LIB_CTX *lc, const record *r)
{
    const unsigned char *p = r->cert;
    X509 *x = X509_new_ex(lc, NULL);
    EVP_PKEY *pub;
    EVP_MD_CTX *mc = NULL;
    EVP_PKEY_CTX *pc = NULL;
    int ok = 0;

    if (!x || !d2i_X509(&x, &p, (long)r->cert_len) || !(pub = X509_get0_pubkey(x))) {
        fprintf(stderr, "%s: the token's certificate does not parse\n", r->what);
        X509_free(x);
        return 0;
    }
    if (r->mech == CKM_SHA256_RSA_PKCS) {
        ok = (mc = EVP_MD_CTX_new()) != NULL &&
             EVP_DigestVerifyInit_ex(mc, NULL, "SHA256", lc, NULL, pub, NULL) == 1 &&
             EVP_DigestVerify(mc, r->sig, r->sig_len, message, sizeof(message) - 1) == 1;
    } else {
        /* r||s (PKCS#11 v2.40 §2.3.1) to an ECDSA-Sig-Value */
        size_t half = r->sig_len / 2;
        ECDSA_SIG *es = ECDSA_SIG_new();
        BIGNUM *br = BN_bin2bn(r->sig, (int)half, NULL), *bs = BN_bin2bn(r->sig + half, (int)half, NULL);
        unsigned char *der = NULL;
        int dl = -1;
        if (es && br && bs && ECDSA_SIG_set0(es, br, bs)) {
            br = bs = NULL;
            dl = i2d_ECDSA_SIG(es, &der);
        }
        ok = dl > 0 && (pc = EVP_PKEY_CTX_new_from_pkey(lc, pub, NULL)) != NULL && EVP_PKEY_verify_init(pc) == 1 &&
             EVP_PKEY_verify(pc, der, (size_t)dl, ecdsa_digest, sizeof(ecdsa_digest)) == 1;
        OPENSSL_free(der);
        BN_free(br);
        BN_free(bs);
        ECDSA_SIG_free(es);
    }
    EVP_MD_CTX_free(mc);
    EVP_PKEY_CTX_free(pc);
    X509_free(x);
    if (!ok) {
        fprintf(stderr, "%s: the signature does not verify\n", r->what);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    printf("ok - %s verified by OpenSSL\n", r->what);
    return 1;
}

int main(int argc, char **argv)
{
    void *dl;
    CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
    OSSL_PROVIDER *legacy;
    OSSL_LIB_CTX *lc;
    OSSL_PROVIDER *dp;
    size_t dlen = 0;
    int ok = 1;

    if (argc != 2) {
        fprintf(stderr, "usage: p11_engine MODULE\n");
        return 2;
    }
    if (!EVP_Q_digest(NULL, "SHA256", NULL, message, sizeof(message) - 1, ecdsa_digest, &dlen) || dlen != 32) {
        fprintf(stderr, "SHA-256 failed\n");
        return 1;
    }

    /* the host: legacy provider and fips=yes in the default context, libp11 as default ENGINE */
    if (!(legacy = OSSL_PROVIDER_load(NULL, "legacy"))) {
        fprintf(stderr, "host: the legacy provider does not load\n");
        return 1;
    }
    if (!EVP_set_default_properties(NULL, "fips=yes")) {
        fprintf(stderr, "host: EVP_set_default_properties(NULL, \"fips=yes\") failed\n");
        return 1;
    }
    if (!host_load_pkcs11_engine())
        return 1;

    if (!(dl = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL)) ||
        !(get = (CK_RV(*)(CK_FUNCTION_LIST_PTR_PTR))dlsym(dl, "C_GetFunctionList"))) {
        fprintf(stderr, "cannot load %s: %s\n", argv[1], dlerror());
        return 1;
    }
    if (get(&f) != CKR_OK) {
        fprintf(stderr, "C_GetFunctionList failed\n");
        return 1;
    }

    ok = run("libp11 engine default for ALL, fips=yes, legacy provider");
    if (ok && !host_load_hostile_engine())
        ok = 0;
    if (ok)
        ok = run("failing engine default for ALL, fips=yes, legacy provider");
    if (host_hostile_calls() != 0) {
        fprintf(stderr, "the module called the host's default ENGINE %d times\n", host_hostile_calls());
        ok = 0;
    } else if (ok) {
        printf("ok - the host's failing ENGINE methods were never called (its RSA/EC_KEY software methods: %d calls)\n",
               host_software_calls());
    }
    dlclose(dl);

    /* the host's state undone; verification in a context of our own */
    host_remove_engines();
    EVP_set_default_properties(NULL, "");
    OSSL_PROVIDER_unload(legacy);
    if (!(lc = OSSL_LIB_CTX_new()) || !(dp = OSSL_PROVIDER_load(lc, "default"))) {
        fprintf(stderr, "no OpenSSL context to verify in\n");
        return 1;
    }
    for (int i = 0; i < n_records; i++)
        ok = verify(lc, &records[i]) && ok;
    OSSL_PROVIDER_unload(dp);
    OSSL_LIB_CTX_free(lc);
    if (ok && n_records != 6) {
        fprintf(stderr, "%d signatures made; expected 6\n", n_records);
        ok = 0;
    }
    printf("%s\n", ok ? "PASS" : "FAIL");
    return ok ? 0 : 1;
}

/* The core signer (dcpki/signer.h) with a local RA key, RSA and EC: digest
 * names, input lengths, PSS parameters, signature sizes and forms, several
 * threads on one signer. Every signature is verified here with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dcpki/config.h"
#include "dcpki/identity.h"
#include "dcpki/signer.h"

static char dir[] = "/tmp/dcpki-test-signer-XXXXXX";

struct ra {
    dcpki_config *cfg;
    dcpki_identity *id;
    dcpki_signer *s;
    EVP_PKEY *pub;
};
static struct ra rsa, ec;

static void make_ra(struct ra *r, const char *keyspec, const char *name)
{
    EVP_PKEY *k = strcmp(keyspec, "RSA") == 0 ? EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048)
                                              : EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    X509 *x = X509_new();
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 7);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)name, -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    char cert[512], key[512], text[2048];
    snprintf(cert, sizeof(cert), "%s/%s.pem", dir, name);
    snprintf(key, sizeof(key), "%s/%s.key", dir, name);
    FILE *f = fopen(cert, "w");
    assert_non_null(f);
    PEM_write_X509(f, x);
    fclose(f);
    f = fopen(key, "w");
    assert_non_null(f);
    PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL);
    fclose(f);
    chmod(key, 0600);
    snprintf(text, sizeof(text), "[ca]\nhost = ca.example:443\ntrust = %s\n[ra]\ncertificate = %s\nkey = %s\n", cert,
             cert, key);
    dcpki_err e;
    assert_int_equal(dcpki_config_parse(text, strlen(text), "dcpki.conf", &r->cfg, &e), DCPKI_OK);
    assert_int_equal(dcpki_identity_load(r->cfg, NULL, &r->id, &e), DCPKI_OK);
    assert_int_equal(dcpki_signer_new_ra(r->id, &r->s, &e), DCPKI_OK);
    r->pub = X509_get_pubkey(x);
    X509_free(x);
    EVP_PKEY_free(k);
}

static int setup(void **state)
{
    (void)state;
    assert_non_null(mkdtemp(dir));
    make_ra(&rsa, "RSA", "rsa");
    make_ra(&ec, "EC", "ec");
    return 0;
}

static void drop_ra(struct ra *r)
{
    dcpki_signer_free(r->s);
    dcpki_identity_free(r->id);
    dcpki_config_free(r->cfg);
    EVP_PKEY_free(r->pub);
}

static int teardown(void **state)
{
    (void)state;
    drop_ra(&rsa);
    drop_ra(&ec);
    char cmd[600];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void digest(const char *md, unsigned char *out, size_t *len)
{
    unsigned int n = 0;
    EVP_MD *m = EVP_MD_fetch(NULL, md, NULL);
    assert_non_null(m);
    assert_int_equal(EVP_Digest("dcpki signer", 12, out, &n, m, NULL), 1);
    EVP_MD_free(m);
    *len = n;
}

/* Verify with OpenSSL; pad -1: ECDSA. */
static int verifies(EVP_PKEY *pub, int pad, const char *md, const char *mgf1, int salt, const unsigned char *tbs,
                    size_t tbslen, const unsigned char *sig, size_t siglen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(pub, NULL);
    int ok = c && EVP_PKEY_verify_init(c) == 1;
    if (ok && md)
        ok = EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbyname(md)) == 1;
    if (ok && pad >= 0)
        ok = EVP_PKEY_CTX_set_rsa_padding(c, pad) == 1;
    if (ok && pad == RSA_PKCS1_PSS_PADDING)
        ok = EVP_PKEY_CTX_set_rsa_mgf1_md(c, EVP_get_digestbyname(mgf1)) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(c, salt) == 1;
    ok = ok && EVP_PKEY_verify(c, sig, siglen, tbs, tbslen) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

static void test_md_names(void **state)
{
    (void)state;
    size_t n = 0;
    assert_string_equal(dcpki_md_canonical("sha2-384", &n), "SHA384");
    assert_int_equal(n, 48);
    assert_string_equal(dcpki_md_canonical("SHA-512", &n), "SHA512");
    assert_string_equal(dcpki_md_canonical("SHA256", NULL), "SHA256");
    assert_null(dcpki_md_canonical("MD5", &n));
    assert_null(dcpki_md_canonical(NULL, &n));
}

static void test_rsa_pkcs1(void **state)
{
    (void)state;
    unsigned char d[64], sig[512];
    size_t dl, sl = sizeof(sig);
    dcpki_err e;
    digest("SHA256", d, &dl);
    assert_int_equal(dcpki_signer_sig_size(rsa.s, DCPKI_ECDSA_DER), 256);
    dcpki_sig_request r = { .scheme = DCPKI_SIG_RSA_PKCS1, .md = "SHA2-256" };
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, d, dl, sig, &sl, &e), DCPKI_OK);
    assert_int_equal(sl, 256);
    assert_true(verifies(rsa.pub, RSA_PKCS1_PADDING, "SHA256", NULL, 0, d, dl, sig, sl));

    /* a digest of the wrong length names the remedy */
    sl = sizeof(sig);
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, d, 20, sig, &sl, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_non_null(strstr(e.detail, "a SHA256 digest has 32 bytes, not 20"));
    /* an unknown digest, a scheme for the other key type, too little room */
    r.md = "MD5";
    assert_int_equal(dcpki_signer_check(rsa.s, &r, &e), DCPKI_E_UNSUPPORTED);
    r = (dcpki_sig_request){ .scheme = DCPKI_SIG_ECDSA, .md = "SHA256" };
    assert_int_equal(dcpki_signer_check(rsa.s, &r, &e), DCPKI_E_UNSUPPORTED);
    assert_string_equal(e.detail, "the RA key is an RSA key; this signature needs an EC key");
    r = (dcpki_sig_request){ .scheme = DCPKI_SIG_RSA_PKCS1, .md = "SHA256" };
    sl = 255;
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, d, dl, sig, &sl, &e), DCPKI_E_INVALID_ARGUMENT);
}

static void test_rsa_raw(void **state)
{
    (void)state;
    /* DigestInfo of SHA-256 (RFC 8017 §9.2 note 1) + the digest */
    static const unsigned char prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                            0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
    unsigned char di[300], sig[512];
    size_t dl, sl = sizeof(sig);
    dcpki_err e;
    memcpy(di, prefix, sizeof(prefix));
    digest("SHA256", di + sizeof(prefix), &dl);
    dcpki_sig_request r = { .scheme = DCPKI_SIG_RSA_RAW };
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, di, sizeof(prefix) + dl, sig, &sl, &e), DCPKI_OK);
    assert_true(verifies(rsa.pub, RSA_PKCS1_PADDING, "SHA256", NULL, 0, di + sizeof(prefix), dl, sig, sl));
    /* RFC 8017 §9.2: at most k - 11 bytes */
    memset(di, 1, sizeof(di));
    sl = sizeof(sig);
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, di, 246, sig, &sl, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_string_equal(e.detail, "246 bytes are too many for PKCS#1 v1.5 with a 2048-bit key (at most 245)");
    sl = sizeof(sig);
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, di, 245, sig, &sl, &e), DCPKI_OK);
    r.md = "SHA256";
    assert_int_equal(dcpki_signer_check(rsa.s, &r, &e), DCPKI_E_INVALID_ARGUMENT);
}

static void test_rsa_pss(void **state)
{
    (void)state;
    unsigned char d[64], sig[512];
    size_t dl, sl = sizeof(sig);
    dcpki_err e;
    digest("SHA384", d, &dl);
    /* the default: MGF1 with the same digest, salt = digest length */
    dcpki_sig_request r = { .scheme = DCPKI_SIG_RSA_PSS, .md = "SHA384", .salt_len = DCPKI_PSS_SALT_DIGEST };
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, d, dl, sig, &sl, &e), DCPKI_OK);
    assert_true(verifies(rsa.pub, RSA_PKCS1_PSS_PADDING, "SHA384", "SHA384", 48, d, dl, sig, sl));
    /* a local key honours other parameters */
    r.mgf1_md = "SHA256";
    r.salt_len = 20;
    sl = sizeof(sig);
    assert_int_equal(dcpki_signer_sign(rsa.s, &r, d, dl, sig, &sl, &e), DCPKI_OK);
    assert_true(verifies(rsa.pub, RSA_PKCS1_PSS_PADDING, "SHA384", "SHA256", 20, d, dl, sig, sl));
    assert_false(verifies(rsa.pub, RSA_PKCS1_PSS_PADDING, "SHA384", "SHA384", 20, d, dl, sig, sl));
    /* RFC 8017 §9.1.1: emLen (256) >= hLen (48) + sLen + 2 */
    r.salt_len = 207;
    assert_int_equal(dcpki_signer_check(rsa.s, &r, &e), DCPKI_E_INVALID_ARGUMENT);
    r.salt_len = 206;
    assert_int_equal(dcpki_signer_check(rsa.s, &r, &e), DCPKI_OK);
    r.mgf1_md = "SHA1";
    assert_int_equal(dcpki_signer_check(rsa.s, &r, &e), DCPKI_E_UNSUPPORTED);
}

static int der_of_rs(const unsigned char *rs, size_t n, unsigned char *der, size_t *der_len)
{
    ECDSA_SIG *s = ECDSA_SIG_new();
    ECDSA_SIG_set0(s, BN_bin2bn(rs, (int)n, NULL), BN_bin2bn(rs + n, (int)n, NULL));
    unsigned char *p = der;
    int len = i2d_ECDSA_SIG(s, &p);
    ECDSA_SIG_free(s);
    *der_len = len > 0 ? (size_t)len : 0;
    return len > 0;
}

static void test_ecdsa(void **state)
{
    (void)state;
    unsigned char d[64], sig[256], der[256];
    size_t dl, sl = sizeof(sig), derl;
    dcpki_err e;
    digest("SHA256", d, &dl);
    dcpki_sig_request r = { .scheme = DCPKI_SIG_ECDSA, .md = "SHA256", .form = DCPKI_ECDSA_DER };
    assert_int_equal(dcpki_signer_sign(ec.s, &r, d, dl, sig, &sl, &e), DCPKI_OK);
    assert_true(sl <= dcpki_signer_sig_size(ec.s, DCPKI_ECDSA_DER));
    assert_true(verifies(ec.pub, -1, NULL, NULL, 0, d, dl, sig, sl));
    /* r||s (PKCS#11 v2.40 §2.3.1): 32 + 32 bytes for P-256 */
    r.form = DCPKI_ECDSA_RS;
    sl = 63;
    assert_int_equal(dcpki_signer_sign(ec.s, &r, d, dl, sig, &sl, &e), DCPKI_E_INVALID_ARGUMENT);
    sl = sizeof(sig);
    assert_int_equal(dcpki_signer_sign(ec.s, &r, d, dl, sig, &sl, &e), DCPKI_OK);
    assert_int_equal(sl, 64);
    assert_true(der_of_rs(sig, 32, der, &derl));
    assert_true(verifies(ec.pub, -1, NULL, NULL, 0, d, dl, der, derl));
    /* a local key signs a bare hash of any length (CKM_ECDSA) */
    r.md = NULL;
    sl = sizeof(sig);
    assert_int_equal(dcpki_signer_sign(ec.s, &r, d, 20, sig, &sl, &e), DCPKI_OK);
    assert_true(der_of_rs(sig, 32, der, &derl));
    assert_true(verifies(ec.pub, -1, NULL, NULL, 0, d, 20, der, derl));
}

struct worker {
    int ok;
};

static void *sign_many(void *arg)
{
    struct worker *w = arg;
    unsigned char d[64], sig[512];
    size_t dl;
    dcpki_err e;
    digest("SHA256", d, &dl);
    dcpki_sig_request r = { .scheme = DCPKI_SIG_RSA_PKCS1, .md = "SHA256" };
    w->ok = 1;
    for (int i = 0; i < 40 && w->ok; i++) {
        size_t sl = sizeof(sig);
        d[0] = (unsigned char)i;
        w->ok = dcpki_signer_sign(rsa.s, &r, d, dl, sig, &sl, &e) == DCPKI_OK &&
                verifies(rsa.pub, RSA_PKCS1_PADDING, "SHA256", NULL, 0, d, dl, sig, sl);
    }
    return NULL;
}

static void test_threads_share_one_signer(void **state)
{
    (void)state;
    pthread_t t[6];
    struct worker w[6];
    for (int i = 0; i < 6; i++)
        assert_int_equal(pthread_create(&t[i], NULL, sign_many, &w[i]), 0);
    for (int i = 0; i < 6; i++) {
        pthread_join(t[i], NULL);
        assert_true(w[i].ok);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_md_names),
        cmocka_unit_test(test_rsa_pkcs1),
        cmocka_unit_test(test_rsa_raw),
        cmocka_unit_test(test_rsa_pss),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_threads_share_one_signer),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

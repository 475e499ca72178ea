/* Prepared keys (dcpki/ossl.h): signatures and verifications with the
 * signature provider's own contexts, kept between calls in the key's idle
 * slots. A context kept for one parameter set must never serve another:
 * PKCS#1 v1.5, PSS with two salt lengths and two digests alternate here, in
 * several threads on one key, and each result is checked with plain OpenSSL.
 * The idle count shows that contexts are kept, reused, dropped after a
 * failure and replaced when the slots are full. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rsa.h>

#include "dcpki/ossl.h"

static EVP_PKEY *rsa_key, *ec_key;
static dcpki_prepared_key *rsa_prep, *ec_prep;

/* A parameter set: the digest, and for PSS the salt length (-1: PKCS#1 v1.5). */
typedef struct scheme {
    const char *md;
    int salt;
} scheme;

static const scheme schemes[] = { { "SHA256", -1 }, { "SHA256", 32 }, { "SHA384", -1 }, { "SHA256", 0 }, { "SHA384", 48 } };
#define NSCHEMES (sizeof(schemes) / sizeof(schemes[0]))

static void params_of(const scheme *s, OSSL_PARAM p[4], int *salt)
{
    int i = 0;
    *salt = s->salt;
    p[i++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, (char *)s->md, 0);
    if (s->salt >= 0) {
        p[i++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE, (char *)OSSL_PKEY_RSA_PAD_MODE_PSS, 0);
        p[i++] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, salt);
    }
    p[i] = OSSL_PARAM_construct_end();
}

static size_t digest_of(const char *md, const char *msg, unsigned char *out)
{
    unsigned int n = 0;
    assert_int_equal(EVP_Digest(msg, strlen(msg), out, &n, EVP_get_digestbyname(md), NULL), 1);
    return n;
}

/* plain OpenSSL's verdict on a signature of a digest under a scheme */
static int openssl_verifies(EVP_PKEY *key, const scheme *s, const unsigned char *sig, size_t slen,
                            const unsigned char *dg, size_t dlen)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(key, NULL);
    int ok = c && EVP_PKEY_verify_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, EVP_get_digestbyname(s->md)) == 1;
    if (ok && s->salt >= 0 && EVP_PKEY_is_a(key, "RSA"))
        ok = EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(c, s->salt) == 1;
    ok = ok && EVP_PKEY_verify(c, sig, slen, dg, dlen) == 1;
    EVP_PKEY_CTX_free(c);
    return ok;
}

static int setup(void **state)
{
    (void)state;
    rsa_key = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    ec_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!rsa_key || !ec_key)
        return -1;
    rsa_prep = dcpki_prepared_key_new(NULL, rsa_key, 1);
    ec_prep = dcpki_prepared_key_new(NULL, ec_key, 1);
    return rsa_prep && ec_prep ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    dcpki_prepared_key_free(rsa_prep);
    dcpki_prepared_key_free(ec_prep);
    EVP_PKEY_free(rsa_key);
    EVP_PKEY_free(ec_key);
    return 0;
}

/* Sign under scheme i, then verify that signature under every scheme: only
 * the scheme it was made with accepts it (a kept context of another scheme
 * would accept or refuse wrongly). 1 when every verdict was right (no cmocka
 * assertion here: it runs in threads). */
static int sign_and_cross_verify(dcpki_prepared_key *k, EVP_PKEY *key, size_t i, const char *msg)
{
    unsigned char dg[64], sig[512];
    size_t dlen = digest_of(schemes[i].md, msg, dg), slen = sizeof(sig);
    OSSL_PARAM p[4];
    int salt;
    params_of(&schemes[i], p, &salt);
    if (!dcpki_prepared_sign(k, p, sig, &slen, dg, dlen) || !openssl_verifies(key, &schemes[i], sig, slen, dg, dlen))
        return 0;
    for (size_t j = 0; j < NSCHEMES; j++) {
        unsigned char dj[64];
        size_t djlen = digest_of(schemes[j].md, msg, dj);
        params_of(&schemes[j], p, &salt);
        int same = schemes[j].salt == schemes[i].salt && strcmp(schemes[j].md, schemes[i].md) == 0;
        /* PSS salt lengths are checked exactly (not "auto") by this provider's verify */
        if (dcpki_prepared_verify(k, p, sig, slen, dj, djlen) != same)
            return 0;
    }
    return 1;
}

static void test_rsa_schemes_alternate(void **state)
{
    (void)state;
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < NSCHEMES; i++)
            assert_true(sign_and_cross_verify(rsa_prep, rsa_key, i, round ? "again" : "first"));
}

/* verify with k a signature made with rsa_prep under PSS with this salt (-1: PKCS#1) */
static int verify_salt(dcpki_prepared_key *k, int salt, int corrupt)
{
    scheme s = { "SHA256", salt };
    unsigned char dg[64], sig[512];
    size_t dlen = digest_of("SHA256", "kept", dg), slen = sizeof(sig);
    OSSL_PARAM p[4];
    int sl;
    params_of(&s, p, &sl);
    assert_true(dcpki_prepared_sign(rsa_prep, p, sig, &slen, dg, dlen));
    sig[slen / 2] ^= (unsigned char)corrupt;
    return dcpki_prepared_verify(k, p, sig, slen, dg, dlen);
}

static void test_contexts_kept_reused_dropped_replaced(void **state)
{
    (void)state;
    dcpki_prepared_key *k = dcpki_prepared_key_new(NULL, rsa_key, 0);
    assert_non_null(k);
    assert_int_equal(dcpki_prepared_key_idle(k), 0);
    for (int n = 0; n < 5; n++) {
        assert_true(verify_salt(k, -1, 0));
        assert_int_equal(dcpki_prepared_key_idle(k), 1); /* one context, used again */
    }
    assert_true(verify_salt(k, 32, 0));
    assert_int_equal(dcpki_prepared_key_idle(k), 2);
    assert_false(verify_salt(k, -1, 1)); /* a failed verification: its context is not kept */
    assert_int_equal(dcpki_prepared_key_idle(k), 1);
    assert_true(verify_salt(k, -1, 0));
    assert_int_equal(dcpki_prepared_key_idle(k), 2);
    for (int salt = 0; salt < 12; salt++) /* more parameter sets than slots */
        assert_true(verify_salt(k, salt, 0));
    assert_int_equal(dcpki_prepared_key_idle(k), 8);
    assert_true(verify_salt(k, -1, 0)); /* the newest sets replace older ones */
    assert_int_equal(dcpki_prepared_key_idle(k), 8);
    dcpki_prepared_key_free(k);

    /* signing and verifying with the same parameters: a context each */
    unsigned char dg[64], sig[512];
    size_t dlen = digest_of("SHA256", "two", dg), slen = sizeof(sig);
    OSSL_PARAM p[4];
    int sl;
    params_of(&schemes[0], p, &sl);
    k = dcpki_prepared_key_new(NULL, rsa_key, 1);
    assert_non_null(k);
    assert_true(dcpki_prepared_sign(k, p, sig, &slen, dg, dlen));
    assert_true(dcpki_prepared_verify(k, p, sig, slen, dg, dlen));
    assert_int_equal(dcpki_prepared_key_idle(k), 2);
    slen = sizeof(sig);
    assert_true(dcpki_prepared_sign(k, p, sig, &slen, dg, dlen));
    assert_true(dcpki_prepared_verify(k, p, sig, slen, dg, dlen));
    assert_int_equal(dcpki_prepared_key_idle(k), 2);
    dcpki_prepared_key_free(k);
}

static void test_bad_signature_refused_and_next_good(void **state)
{
    (void)state;
    unsigned char dg[64], sig[512];
    size_t dlen = digest_of("SHA256", "m", dg), slen = sizeof(sig);
    OSSL_PARAM p[4];
    int salt;
    params_of(&schemes[0], p, &salt);
    assert_true(dcpki_prepared_sign(rsa_prep, p, sig, &slen, dg, dlen));
    sig[10] ^= 1;
    assert_false(dcpki_prepared_verify(rsa_prep, p, sig, slen, dg, dlen));
    sig[10] ^= 1;
    assert_true(dcpki_prepared_verify(rsa_prep, p, sig, slen, dg, dlen));
}

static void test_ecdsa(void **state)
{
    (void)state;
    static const scheme ecs[] = { { "SHA256", -1 }, { "SHA384", -1 } };
    for (int round = 0; round < 4; round++) {
        const scheme *s = &ecs[round % 2];
        unsigned char dg[64], sig[128];
        size_t dlen = digest_of(s->md, "ec message", dg), slen = sizeof(sig);
        OSSL_PARAM p[4];
        int salt;
        params_of(s, p, &salt);
        assert_true(dcpki_prepared_sign(ec_prep, p, sig, &slen, dg, dlen));
        assert_true(openssl_verifies(ec_key, s, sig, slen, dg, dlen));
        assert_true(dcpki_prepared_verify(ec_prep, p, sig, slen, dg, dlen));
    }
}

typedef struct work {
    size_t first;
    int wrong;
} work;

static void *worker(void *arg)
{
    work *w = arg;
    for (int n = 0; n < 20; n++)
        w->wrong += !sign_and_cross_verify(rsa_prep, rsa_key, (w->first + (size_t)n) % NSCHEMES, "threads");
    return NULL;
}

/* more threads than idle slots, each walking the schemes from another start */
static void test_threads_mix_schemes(void **state)
{
    (void)state;
    pthread_t t[12];
    work w[12];
    for (size_t i = 0; i < 12; i++) {
        w[i] = (work){ .first = i, .wrong = 0 };
        assert_int_equal(pthread_create(&t[i], NULL, worker, &w[i]), 0);
    }
    for (size_t i = 0; i < 12; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].wrong, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rsa_schemes_alternate),
        cmocka_unit_test(test_bad_signature_refused_and_next_good),
        cmocka_unit_test(test_contexts_kept_reused_dropped_replaced),
        cmocka_unit_test(test_ecdsa),
        cmocka_unit_test(test_threads_mix_schemes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

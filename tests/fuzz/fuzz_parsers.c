/* libFuzzer harnesses for dcpki's parsers of untrusted input that need no
 * network. One binary per target, chosen at compile time with -DFUZZ_<NAME>:
 *   URI        dcpki_uri_parse (+ format/re-parse round trip)
 *   KEYREF     dcpki_keyref_parse_pem and dcpki_keyref_decode_der
 *   CONFIG     dcpki_config_parse
 *   THUMBPRINT dcpki_thumbprint_parse
 *   KEYPAIR    the signing service's keypair JSON (internal.h)
 *   SIGN       the signing service's answer to a signature (RSA and EC keys)
 *   ERRTEXT    the message extracted from an HTTP error body
 * ctest replays the corpus (tests/fuzz/CMakeLists.txt); tests/fuzz/run-fuzz
 * runs libFuzzer. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcpki/config.h"
#include "dcpki/keyref.h"
#include "dcpki/signing.h"
#include "dcpki/thumbprint.h"
#include "dcpki/uri.h"
#include "fuzz.h"
#include "internal.h"

#define cstr fuzz_cstr

#if defined(FUZZ_SIGN)
static dcpki_keypair *rsa_kp, *ec_kp;

static dcpki_keypair *make_kp(const char *alg, EVP_PKEY *k)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(k, &der);
    char *b64 = n > 0 ? dcpki_b64_encode(der, (size_t)n) : NULL;
    char *json = b64 ? dcpki_strfmt("{\"id\":\"u-%s\",\"alias\":\"k-%s\",\"key_alg\":\"%s\",\"public_key\":\"%s\"}",
                                    alg, alg, alg, b64) : NULL;
    dcpki_keypair *kp = NULL;
    dcpki_err err;
    if (!json || dcpki_signing_parse_keypair_json(NULL, json, strlen(json), 1, &kp, &err) != DCPKI_OK)
        abort();
    OPENSSL_free(der);
    OPENSSL_free(b64);
    free(json);
    return kp;
}

static void init_keys(void)
{
    if (rsa_kp)
        return;
    EVP_PKEY *r = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *e = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    if (!r || !e)
        abort();
    rsa_kp = make_kp("RSA", r);
    ec_kp = make_kp("ECDSA", e);
    EVP_PKEY_free(r);
    EVP_PKEY_free(e);
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    dcpki_err err;
#if defined(FUZZ_URI)
    char *s = cstr(data, size);
    dcpki_uri u, u2;
    if (dcpki_uri_parse(s, &u, &err) == DCPKI_OK) {
        char buf[2048];
        int n = dcpki_uri_format(&u, buf, sizeof(buf));
        if (n < 0 || dcpki_uri_parse(buf, &u2, &err) != DCPKI_OK || u2.kind != u.kind || u2.type != u.type ||
            strcmp(u2.alias, u.alias) != 0)
            abort(); /* a parsed URI must format to an equivalent URI */
    }
    free(s);
#elif defined(FUZZ_KEYREF)
    char *uri = NULL;
    dcpki_code rc = dcpki_keyref_parse_pem((const char *)data, size, &uri, &err);
    if (rc == DCPKI_OK) {
        /* round trip: the URI written as a key reference reads back the same */
        char *pem = NULL, *uri2 = NULL;
        FUZZ_ASSERT(uri != NULL);
        FUZZ_ASSERT(dcpki_keyref_pem(uri, &pem, &err) == DCPKI_OK);
        FUZZ_ASSERT(dcpki_keyref_parse_pem(pem, strlen(pem), &uri2, &err) == DCPKI_OK);
        FUZZ_ASSERT(strcmp(uri, uri2) == 0);
        free(pem);
        free(uri2);
    } else {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(uri == NULL);
    }
    free(uri);
    uri = NULL;
    rc = dcpki_keyref_decode_der(data, size, &uri, &err);
    if (rc == DCPKI_OK) {
        dcpki_uri u;
        unsigned char *der = NULL;
        size_t dl = 0;
        char *uri2 = NULL;
        FUZZ_ASSERT(uri != NULL && dcpki_uri_parse(uri, &u, &err) == DCPKI_OK);
        FUZZ_ASSERT(dcpki_keyref_encode_der(uri, &der, &dl, &err) == DCPKI_OK);
        FUZZ_ASSERT(dcpki_keyref_decode_der(der, dl, &uri2, &err) == DCPKI_OK && strcmp(uri, uri2) == 0);
        OPENSSL_free(der);
        free(uri2);
    } else {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(uri == NULL);
    }
    free(uri);
#elif defined(FUZZ_CONFIG)
    dcpki_config *cfg = NULL;
    if (dcpki_config_parse((const char *)data, size, "fuzz.conf", &cfg, &err) == DCPKI_OK) {
        if (!cfg)
            abort();
        (void)dcpki_config_profile(cfg, "default");
    }
    dcpki_config_free(cfg);
#elif defined(FUZZ_THUMBPRINT)
    char *s = cstr(data, size);
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    char hex[41];
    if (dcpki_thumbprint_parse(s, tp, &err) == DCPKI_OK)
        dcpki_thumbprint_format(tp, hex);
    free(s);
#elif defined(FUZZ_KEYPAIR)
    dcpki_keypair *kp = NULL;
    int need_pub = size > 0 && (data[0] & 1);
    if (dcpki_signing_parse_keypair_json(NULL, (const char *)data, size, need_pub, &kp, &err) == DCPKI_OK) {
        if (!kp || !kp->id || !kp->alias || (need_pub && !kp->pub) || kp->bits < 0)
            abort();
    }
    dcpki_keypair_free(kp);
#elif defined(FUZZ_SIGN)
    static const unsigned char dg[64] = { 1, 2, 3 };
    init_keys();
    if (size < 1)
        return 0;
    unsigned sel = data[0] % 8;
    static const char *mds[] = { "SHA256", "SHA384", "SHA512" };
    const dcpki_keypair *kp = sel < 6 ? rsa_kp : ec_kp;
    dcpki_sig_scheme sch = sel < 3 ? DCPKI_SIG_RSA_PKCS1 : sel < 5 ? DCPKI_SIG_RSA_PSS : sel == 5 ? DCPKI_SIG_RSA_RAW
                                                                                                 : DCPKI_SIG_ECDSA;
    const char *md = sch == DCPKI_SIG_RSA_RAW ? NULL : mds[sel % 3];
    size_t dlen = md ? (strcmp(md, "SHA256") == 0 ? 32 : strcmp(md, "SHA384") == 0 ? 48 : 64) : 51;
    unsigned char *sig = NULL;
    size_t sl = 0;
    if (dcpki_signing_parse_sign_answer(kp, sch, md, dg, dlen, (const char *)data + 1, size - 1, &sig, &sl,
                                        &err) == DCPKI_OK)
        abort(); /* nobody can forge a signature over dg */
    OPENSSL_free(sig);
#elif defined(FUZZ_ERRTEXT)
    char out[400];
    dcpki_signing_error_text((const char *)data, size, out, sizeof(out));
    if (strlen(out) >= sizeof(out))
        abort();
    for (const char *c = out; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            abort();
#else
#error "define one FUZZ_* target"
#endif
    (void)err;
    return 0;
}

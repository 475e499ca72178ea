/* A host program that changes OpenSSL's fetch settings the ways real daemons
 * do (stunnel's SSL_CTX_new_ex(NULL, "provider!=fips"), default properties
 * replaced or FIPS mode switched off, a library context of its own with the
 * configuration loaded), then checks the TLS group list, EC and RSA key
 * generation, signing with the generated key, and for the key files and
 * the generated keys every usual encoding (PKCS#8 and traditional PEM, DER,
 * PUBKEY PEM and DER, text), each compared byte for byte with the default
 * provider's encoding of the same key, and read back with the host's
 * settings. Its output must be the same with and without the dcpki provider
 * (provider-systemwide.sh).
 *
 * usage: systemwide-host MODE EC.pem RSA.pem   MODE: defprops | fips-off | propq | libctx
 * The key files are read first, as daemons read their key before making contexts. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>

#define GROUPS "X25519:P-256:X448:P-521:P-384"

static void report(const char *what, int ok)
{
    printf("%s: %s\n", what, ok ? "ok" : "FAILED");
    if (!ok)
        ERR_print_errors_fp(stderr);
    ERR_clear_error();
}

static EVP_PKEY *keygen(OSSL_LIB_CTX *lc, const char *propq, const char *alg, const char *opt,
                        const char *val)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(lc, alg, propq);
    EVP_PKEY *pk = NULL;
    OSSL_PARAM p[2] = { OSSL_PARAM_END, OSSL_PARAM_END };
    unsigned int bits = 2048;
    if (strcmp(alg, "RSA") == 0)
        p[0] = OSSL_PARAM_construct_uint(opt, &bits);
    else
        p[0] = OSSL_PARAM_construct_utf8_string(opt, (char *)val, 0);
    if (c == NULL || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_CTX_set_params(c, p) != 1
        || EVP_PKEY_generate(c, &pk) != 1)
        pk = NULL;
    EVP_PKEY_CTX_free(c);
    return pk;
}

static int sign_verify(OSSL_LIB_CTX *lc, const char *propq, EVP_PKEY *pk)
{
    unsigned char sig[1024];
    size_t siglen = sizeof(sig);
    const unsigned char msg[] = "systemwide";
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL && EVP_DigestSignInit_ex(m, NULL, "SHA256", lc, propq, pk, NULL) == 1
             && EVP_DigestSign(m, sig, &siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(m);
    m = EVP_MD_CTX_new();
    ok = ok && m != NULL && EVP_DigestVerifyInit_ex(m, NULL, "SHA256", lc, propq, pk, NULL) == 1
         && EVP_DigestVerify(m, sig, siglen, msg, sizeof(msg)) == 1;
    EVP_MD_CTX_free(m);
    return ok;
}

/* A second key made with pk as the template (EVP_PKEY_CTX_new_from_pkey), as
 * libssl makes its ephemeral keys (ssl/s3_lib.c ssl_generate_pkey). */
static EVP_PKEY *keygen_like(OSSL_LIB_CTX *lc, const char *propq, EVP_PKEY *pk)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(lc, pk, propq);
    EVP_PKEY *out = NULL;
    if (c == NULL || EVP_PKEY_keygen_init(c) != 1 || EVP_PKEY_generate(c, &out) != 1)
        out = NULL;
    EVP_PKEY_CTX_free(c);
    return out;
}

/* RSA: sign a hash and recover it (pkeyutl -sign / -verifyrecover). */
static int sign_recover(OSSL_LIB_CTX *lc, const char *propq, EVP_PKEY *pk)
{
    unsigned char h[32], sig[1024], rec[1024];
    size_t siglen = sizeof(sig), reclen = sizeof(rec);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(lc, pk, propq);
    int ok;
    memset(h, 0x5a, sizeof(h));
    ok = c != NULL && EVP_PKEY_sign_init(c) == 1 && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1
         && EVP_PKEY_sign(c, sig, &siglen, h, sizeof(h)) == 1;
    EVP_PKEY_CTX_free(c);
    c = EVP_PKEY_CTX_new_from_pkey(lc, pk, propq);
    ok = ok && c != NULL && EVP_PKEY_verify_recover_init(c) == 1
         && EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) == 1
         && EVP_PKEY_verify_recover(c, rec, &reclen, sig, siglen) == 1 && reclen == sizeof(h)
         && memcmp(rec, h, sizeof(h)) == 0;
    EVP_PKEY_CTX_free(c);
    return ok;
}

/* EC: ECDH between pk and a peer key made with pk as the template. */
static int ecdh(OSSL_LIB_CTX *lc, const char *propq, EVP_PKEY *pk)
{
    EVP_PKEY *peer = keygen_like(lc, propq, pk);
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(lc, pk, propq);
    unsigned char secret[128];
    size_t len = sizeof(secret);
    int ok = peer != NULL && c != NULL && EVP_PKEY_derive_init(c) == 1
             && EVP_PKEY_derive_set_peer(c, peer) == 1 && EVP_PKEY_derive(c, secret, &len) == 1;
    EVP_PKEY_CTX_free(c);
    EVP_PKEY_free(peer);
    return ok;
}

/* ---- encoders and decoders ---- */

enum { ENC_PEM_PKCS8, ENC_DER, ENC_PEM_TRAD, ENC_PEM_PUBKEY, ENC_DER_PUBKEY, ENC_TEXT_PRIV,
       ENC_TEXT_PUB, ENC__COUNT };
static const char *const enc_names[ENC__COUNT] = {
    "PEM_write_bio_PrivateKey", "i2d_PrivateKey", "PEM_write_bio_PrivateKey_traditional",
    "PEM_write_bio_PUBKEY", "i2d_PUBKEY", "EVP_PKEY_print_private", "EVP_PKEY_print_public"
};

/* One encoding of pk into a memory BIO (NULL on failure). */
static BIO *encode(EVP_PKEY *pk, int which)
{
    BIO *b = BIO_new(BIO_s_mem());
    unsigned char *der = NULL;
    int ok = 0, n;
    if (b == NULL)
        return NULL;
    switch (which) {
    case ENC_PEM_PKCS8: ok = PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL); break;
    case ENC_DER:
        ok = (n = i2d_PrivateKey(pk, &der)) > 0 && BIO_write(b, der, n) == n;
        break;
    case ENC_PEM_TRAD:
        ok = PEM_write_bio_PrivateKey_traditional(b, pk, NULL, NULL, 0, NULL, NULL);
        break;
    case ENC_PEM_PUBKEY: ok = PEM_write_bio_PUBKEY(b, pk); break;
    case ENC_DER_PUBKEY:
        ok = (n = i2d_PUBKEY(pk, &der)) > 0 && BIO_write(b, der, n) == n;
        break;
    case ENC_TEXT_PRIV: ok = EVP_PKEY_print_private(b, pk, 0, NULL) == 1; break;
    case ENC_TEXT_PUB: ok = EVP_PKEY_print_public(b, pk, 0, NULL) == 1; break;
    }
    OPENSSL_free(der);
    if (!ok) {
        BIO_free(b);
        return NULL;
    }
    return b;
}

static int same_bytes(BIO *a, BIO *b)
{
    char *pa, *pb;
    long la = BIO_get_mem_data(a, &pa), lb = BIO_get_mem_data(b, &pb);
    return la > 0 && la == lb && memcmp(pa, pb, (size_t)la) == 0;
}

/* A copy of pk made by the default provider in a library context of its
 * own, without any configuration: the reference for every encoding. */
static EVP_PKEY *default_copy(OSSL_LIB_CTX *ref, EVP_PKEY *pk)
{
    OSSL_PARAM *params = NULL;
    EVP_PKEY *copy = NULL;
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_name(ref, EVP_PKEY_get0_type_name(pk), NULL);
    if (c == NULL || EVP_PKEY_todata(pk, EVP_PKEY_KEYPAIR, &params) != 1
        || EVP_PKEY_fromdata_init(c) != 1 || EVP_PKEY_fromdata(c, &copy, EVP_PKEY_KEYPAIR, params) != 1)
        copy = NULL;
    OSSL_PARAM_free(params);
    EVP_PKEY_CTX_free(c);
    return copy;
}

/* Every encoding of pk is byte for byte the default provider's, and what
 * was written reads back (with the host's library context and property
 * query) as the same key. */
static void codec_checks(OSSL_LIB_CTX *lc, const char *propq, const char *what, EVP_PKEY *pk)
{
    OSSL_LIB_CTX *ref = OSSL_LIB_CTX_new();
    EVP_PKEY *copy = ref != NULL ? default_copy(ref, pk) : NULL;
    char line[160];
    for (int i = 0; i < ENC__COUNT; i++) {
        BIO *mine = encode(pk, i), *theirs = copy != NULL ? encode(copy, i) : NULL;
        snprintf(line, sizeof(line), "%s %s as the default provider writes it", what, enc_names[i]);
        report(line, mine != NULL && theirs != NULL && same_bytes(mine, theirs));
        BIO_free(mine);
        BIO_free(theirs);
    }
    {
        BIO *b = encode(pk, ENC_PEM_PKCS8);
        EVP_PKEY *back = b != NULL ? PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, lc, propq) : NULL;
        snprintf(line, sizeof(line), "%s PEM_read_bio_PrivateKey_ex reads it back", what);
        report(line, back != NULL && EVP_PKEY_eq(back, pk) == 1);
        EVP_PKEY_free(back);
        BIO_free(b);
    }
    {
        BIO *b = encode(pk, ENC_DER);
        const unsigned char *p = NULL;
        long n = b != NULL ? BIO_get_mem_data(b, (char **)&p) : 0;
        EVP_PKEY *back = n > 0 ? d2i_AutoPrivateKey_ex(NULL, &p, n, lc, propq) : NULL;
        snprintf(line, sizeof(line), "%s d2i_AutoPrivateKey_ex reads it back", what);
        report(line, back != NULL && EVP_PKEY_eq(back, pk) == 1);
        EVP_PKEY_free(back);
        BIO_free(b);
    }
    {
        BIO *b = encode(pk, ENC_PEM_PUBKEY);
        EVP_PKEY *back = b != NULL ? PEM_read_bio_PUBKEY_ex(b, NULL, NULL, NULL, lc, propq) : NULL;
        snprintf(line, sizeof(line), "%s PEM_read_bio_PUBKEY_ex reads it back", what);
        report(line, back != NULL && EVP_PKEY_eq(back, pk) == 1);
        EVP_PKEY_free(back);
        BIO_free(b);
    }
    {
        BIO *b = encode(pk, ENC_DER_PUBKEY);
        const unsigned char *p = NULL;
        long n = b != NULL ? BIO_get_mem_data(b, (char **)&p) : 0;
        EVP_PKEY *back = n > 0 ? d2i_PUBKEY_ex(NULL, &p, n, lc, propq) : NULL;
        snprintf(line, sizeof(line), "%s d2i_PUBKEY_ex reads it back", what);
        report(line, back != NULL && EVP_PKEY_eq(back, pk) == 1);
        EVP_PKEY_free(back);
        BIO_free(b);
    }
    {
        /* encrypted PKCS#8 (random salt and IV: compared by reading back) */
        BIO *b = BIO_new(BIO_s_mem());
        EVP_PKEY *back = NULL;
        int ok = b != NULL
                 && PEM_write_bio_PrivateKey(b, pk, EVP_aes_256_cbc(), (unsigned char *)"pw", 2,
                                             NULL, NULL) == 1
                 && (back = PEM_read_bio_PrivateKey_ex(b, NULL, NULL, "pw", lc, propq)) != NULL
                 && EVP_PKEY_eq(back, pk) == 1;
        snprintf(line, sizeof(line), "%s encrypted PEM written and read back", what);
        report(line, ok);
        EVP_PKEY_free(back);
        BIO_free(b);
    }
    EVP_PKEY_free(copy);
    OSSL_LIB_CTX_free(ref);
}

/* A key file read the ways hosts read them (PEM_read_bio_PrivateKey_ex and
 * OSSL_DECODER with the host's library context and property query), then
 * the codec checks. */
static void key_file(OSSL_LIB_CTX *lc, const char *propq, const char *what, const char *path)
{
    BIO *b = BIO_new_file(path, "r");
    EVP_PKEY *pk = NULL, *pk2 = NULL;
    OSSL_DECODER_CTX *d;
    char line[160];
    snprintf(line, sizeof(line), "%s file: PEM_read_bio_PrivateKey_ex", what);
    report(line, b != NULL && (pk = PEM_read_bio_PrivateKey_ex(b, NULL, NULL, NULL, lc, propq)) != NULL);
    BIO_free(b);
    b = BIO_new_file(path, "r");
    d = OSSL_DECODER_CTX_new_for_pkey(&pk2, "PEM", NULL, NULL, EVP_PKEY_KEYPAIR, lc, propq);
    snprintf(line, sizeof(line), "%s file: OSSL_DECODER", what);
    report(line, b != NULL && d != NULL && OSSL_DECODER_from_bio(d, b) == 1 && pk != NULL
                     && EVP_PKEY_eq(pk, pk2) == 1);
    OSSL_DECODER_CTX_free(d);
    BIO_free(b);
    if (pk != NULL) {
        snprintf(line, sizeof(line), "%s file key", what);
        codec_checks(lc, propq, line, pk);
    }
    EVP_PKEY_free(pk2);
    EVP_PKEY_free(pk);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    OSSL_LIB_CTX *lc = NULL;
    const char *propq = NULL;
    SSL_CTX *ctx;
    EVP_PKEY *pk, *pk2 = NULL;

    /* stunnel asks this first (src/ssl.c fips_available): a lookup by name
     * sorts the provider list, after which "dcpki" comes before "default". */
    fprintf(stderr, "fips available: %d\n", OSSL_PROVIDER_available(NULL, "fips"));
    if (strcmp(mode, "defprops") == 0) {
        /* replaces the configuration's default_properties */
        report("set default properties", EVP_set_default_properties(NULL, "provider!=fips"));
    } else if (strcmp(mode, "fips-off") == 0) {
        report("fips off", EVP_default_properties_enable_fips(NULL, 0));
    } else if (strcmp(mode, "propq") == 0) {
        propq = "provider!=fips";
    } else if (strcmp(mode, "libctx") == 0) {
        const char *cnf = getenv("OPENSSL_CONF");
        lc = OSSL_LIB_CTX_new();
        report("own library context", lc != NULL && (cnf == NULL || strcmp(cnf, "/dev/null") == 0
                                                     || OSSL_LIB_CTX_load_config(lc, cnf)));
        report("its default properties", EVP_set_default_properties(lc, ""));
        propq = "provider!=fips";
    } else {
        fprintf(stderr, "usage: %s defprops|fips-off|propq|libctx EC.pem RSA.pem\n", argv[0]);
        return 2;
    }
    key_file(lc, propq, "EC", argc > 2 ? argv[2] : "");
    key_file(lc, propq, "RSA", argc > 3 ? argv[3] : "");
    {
        /* on stderr: which provider a plain fetch by name gets (differs by design) */
        EVP_KEYMGMT *km = EVP_KEYMGMT_fetch(lc, "EC", propq);
        fprintf(stderr, "EC keymgmt fetched from %s\n",
                km == NULL ? "nowhere" : OSSL_PROVIDER_get0_name(EVP_KEYMGMT_get0_provider(km)));
        EVP_KEYMGMT_free(km);
    }
    ctx = SSL_CTX_new_ex(lc, propq, TLS_server_method());
    report("SSL_CTX_new_ex", ctx != NULL);
    report("groups " GROUPS, ctx != NULL && SSL_CTX_set1_groups_list(ctx, GROUPS));
    report("group P-256", ctx != NULL && SSL_CTX_set1_groups_list(ctx, "P-256"));
    report("group P-384", ctx != NULL && SSL_CTX_set1_groups_list(ctx, "P-384"));
    report("group P-521", ctx != NULL && SSL_CTX_set1_groups_list(ctx, "P-521"));
    SSL_CTX_free(ctx);

    pk = keygen(lc, propq, "EC", "group", "P-256");
    report("EC P-256 keygen", pk != NULL);
    report("EC sign/verify", pk != NULL && sign_verify(lc, propq, pk));
    report("EC keygen with the key as template", pk != NULL && (pk2 = keygen_like(lc, propq, pk)) != NULL);
    EVP_PKEY_free(pk2);
    pk2 = NULL;
    report("ECDH", pk != NULL && ecdh(lc, propq, pk));
    if (pk != NULL)
        codec_checks(lc, propq, "generated EC key", pk);
    if (pk != NULL) /* on stderr: differs by design */
        fprintf(stderr, "EC key made by %s\n",
                OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pk)));
    EVP_PKEY_free(pk);
    pk = keygen(lc, propq, "RSA", "bits", NULL);
    report("RSA keygen", pk != NULL);
    report("RSA sign/verify", pk != NULL && sign_verify(lc, propq, pk));
    report("RSA sign and verify-recover", pk != NULL && sign_recover(lc, propq, pk));
    report("RSA keygen with the key as template", pk != NULL && (pk2 = keygen_like(lc, propq, pk)) != NULL);
    EVP_PKEY_free(pk2);
    pk2 = NULL;
    if (pk != NULL)
        codec_checks(lc, propq, "generated RSA key", pk);
    EVP_PKEY_free(pk);
    OSSL_LIB_CTX_free(lc);
    return 0;
}

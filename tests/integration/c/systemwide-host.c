/* A host program that changes OpenSSL's fetch settings the ways real daemons
 * do (stunnel's SSL_CTX_new_ex(NULL, "provider!=fips"), default properties
 * replaced or FIPS mode switched off, a library context of its own with the
 * configuration loaded), then checks the TLS group list, EC and RSA key
 * generation, signing with the generated key and writing it as PEM. Its output
 * must be the same with and without the dcpki provider (provider-systemwide.sh).
 *
 * usage: systemwide-host MODE KEY.pem   MODE: defprops | fips-off | propq | libctx
 * KEY.pem is read first, as daemons read their key before making contexts. */
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

static int pem_roundtrip(EVP_PKEY *pk)
{
    BIO *b = BIO_new(BIO_s_mem());
    EVP_PKEY *back = NULL;
    int ok = b != NULL && PEM_write_bio_PrivateKey(b, pk, NULL, NULL, 0, NULL, NULL) == 1
             && (back = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL)) != NULL
             && EVP_PKEY_eq(back, pk) == 1;
    EVP_PKEY_free(back);
    BIO_free(b);
    return ok;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    OSSL_LIB_CTX *lc = NULL;
    const char *propq = NULL;
    SSL_CTX *ctx;
    EVP_PKEY *pk;

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
        fprintf(stderr, "usage: %s defprops|fips-off|propq|libctx KEY.pem\n", argv[0]);
        return 2;
    }
    {
        BIO *b = BIO_new_file(argc > 2 ? argv[2] : "", "r");
        OSSL_DECODER_CTX *d;
        pk = NULL;
        d = OSSL_DECODER_CTX_new_for_pkey(&pk, "PEM", NULL, NULL, EVP_PKEY_KEYPAIR, lc, propq);
        report("read the key file", b != NULL && d != NULL && OSSL_DECODER_from_bio(d, b) == 1);
        OSSL_DECODER_CTX_free(d);
        BIO_free(b);
        EVP_PKEY_free(pk);
    }
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
    report("EC PEM", pk != NULL && (lc != NULL || pem_roundtrip(pk)));
    if (pk != NULL) /* on stderr: differs by design */
        fprintf(stderr, "EC key made by %s\n",
                OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(pk)));
    EVP_PKEY_free(pk);
    pk = keygen(lc, propq, "RSA", "bits", NULL);
    report("RSA keygen", pk != NULL);
    report("RSA sign/verify", pk != NULL && sign_verify(lc, propq, pk));
    EVP_PKEY_free(pk);
    OSSL_LIB_CTX_free(lc);
    return 0;
}

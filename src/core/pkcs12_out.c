/* Key generation and PKCS#12 packaging for delivery (see pkcs12_out.h). */
#include "dcpki/pkcs12_out.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pkcs12.h>
#include <openssl/x509.h>

dcpki_code dcpki_keygen_for_policy(const dcpki_policy *pol, EVP_PKEY **out, dcpki_err *err)
{
    *out = NULL;
    const char *alg = pol ? pol->key_algorithm : NULL;
    int want = pol ? pol->key_size : 0;
    if (alg != NULL && strcmp(alg, "EC") == 0) {
        const char *curve = want > 384 ? "P-521" : want > 256 ? "P-384" : "P-256";
        *out = EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
        if (*out == NULL) {
            ERR_clear_error();
            return dcpki_err_set(err, DCPKI_E_INTERNAL, "generating an EC %s key failed", curve);
        }
        return DCPKI_OK;
    }
    if (alg != NULL && strcmp(alg, "RSA") != 0)
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED,
                             "profile %s demands %s keys; dcpki generates RSA and EC keys only "
                             "(enroll a CSR made elsewhere with --csr)",
                             pol->profile_oid ? pol->profile_oid : "?", alg);
    size_t bits = want > DCPKI_DEFAULT_RSA_BITS ? (size_t)want : DCPKI_DEFAULT_RSA_BITS;
    if (bits > 16384)
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "profile demands %zu-bit RSA keys", bits);
    *out = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
    if (*out == NULL) {
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "generating an RSA-%zu key failed", bits);
    }
    return DCPKI_OK;
}

dcpki_code dcpki_pkcs12_make(EVP_PKEY *key, X509 *cert, X509 *const *chain, size_t n_chain,
                             const char *pass, const char *friendly, unsigned char **der,
                             size_t *der_len, dcpki_err *err)
{
    *der = NULL;
    *der_len = 0;
    if (key == NULL || cert == NULL || pass == NULL || pass[0] == '\0')
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "a PKCS#12 needs a key, a certificate and a non-empty password");
    if (X509_check_private_key(cert, key) != 1) {
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INTERNAL,
                             "the issued certificate does not carry the request's public key");
    }
    STACK_OF(X509) *ca = sk_X509_new_null();
    if (ca == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building the PKCS#12");
    for (size_t i = 0; i < n_chain; i++)
        if (chain[i] != NULL && !sk_X509_push(ca, chain[i])) {
            sk_X509_free(ca);
            return dcpki_err_set(err, DCPKI_E_NOMEM, "building the PKCS#12");
        }
    /* AES-256-CBC PBES2 for key and certificates; MAC set below with SHA-256 */
    PKCS12 *p12 = PKCS12_create_ex(pass, friendly, key, cert, ca, NID_aes_256_cbc, NID_aes_256_cbc,
                                   PKCS12_DEFAULT_ITER, -1, 0, NULL, NULL);
    sk_X509_free(ca);
    dcpki_code rc = DCPKI_OK;
    if (p12 == NULL ||
        PKCS12_set_mac(p12, pass, -1, NULL, 0, PKCS12_DEFAULT_ITER, EVP_sha256()) != 1) {
        rc = dcpki_err_set(err, DCPKI_E_INTERNAL, "building the PKCS#12 failed");
    } else {
        unsigned char *buf = NULL;
        int n = i2d_PKCS12(p12, &buf);
        if (n <= 0) {
            rc = dcpki_err_set(err, DCPKI_E_INTERNAL, "encoding the PKCS#12 failed");
        } else {
            *der = malloc((size_t)n);
            if (*der == NULL) {
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "encoding the PKCS#12");
            } else {
                memcpy(*der, buf, (size_t)n);
                *der_len = (size_t)n;
            }
        }
        OPENSSL_free(buf);
    }
    PKCS12_free(p12);
    ERR_clear_error();
    return rc;
}

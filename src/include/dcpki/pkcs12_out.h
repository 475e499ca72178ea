/* Key generation for profile enrollment and PKCS#12 (PFX) packaging for
 * delivery (DESIGN.md "pkcs12"). The PFX is what `openssl pkcs12` (OpenSSL 3)
 * writes by default: key and certificates encrypted with PBES2 (PBKDF2 with
 * HMAC-SHA256, AES-256-CBC), MAC HMAC-SHA256, 2048 iterations. */
#ifndef DCPKI_PKCS12_OUT_H
#define DCPKI_PKCS12_OUT_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/error.h"
#include "dcpki/policy.h"

#define DCPKI_DEFAULT_RSA_BITS 2048

/* A fresh key pair for a request under pol (may be NULL): RSA of
 * max(DCPKI_DEFAULT_RSA_BITS, pol->key_size) bits unless the profile demands
 * EC (P-256, or P-384 / P-521 when key_size asks for more). DSA profiles are
 * DCPKI_E_UNSUPPORTED. */
dcpki_code dcpki_keygen_for_policy(const dcpki_policy *pol, EVP_PKEY **out, dcpki_err *err);

/* A PKCS#12 holding key (with friendly name, may be NULL), cert and the chain
 * certificates (issuer first), encrypted with pass (non-empty). *der is
 * malloc'd; free with free() after OPENSSL_cleanse is not needed (no
 * plaintext key inside). */
dcpki_code dcpki_pkcs12_make(EVP_PKEY *key, X509 *cert, X509 *const *chain, size_t n_chain,
                             const char *pass, const char *friendly, unsigned char **der,
                             size_t *der_len, dcpki_err *err);

#endif

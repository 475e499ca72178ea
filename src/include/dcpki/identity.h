/* The RA identity: certificate + private key, named in [ra] one of three ways
 * (DESIGN.md): certificate + key files; a PKCS#12 file (+ password file); or a
 * store directory where certificate_thumbprint picks the certificate. */
#ifndef DCPKI_IDENTITY_H
#define DCPKI_IDENTITY_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/config.h"
#include "dcpki/sigscheme.h"
#include "dcpki/thumbprint.h"

typedef struct dcpki_identity dcpki_identity;

/* Load and check the identity: certificate found (by thumbprint when one is
 * configured: the chosen certificate's SHA-1 must equal it), key readable, key
 * matches certificate. libctx (may be NULL) is used for all OpenSSL calls. */
dcpki_code dcpki_identity_load(const dcpki_config *cfg, OSSL_LIB_CTX *libctx,
                               dcpki_identity **out, dcpki_err *err);
void dcpki_identity_free(dcpki_identity *id);

/* Borrowed pointers, valid while id lives. */
X509 *dcpki_identity_cert(const dcpki_identity *id);
/* Where the certificate and the key were read (the file chosen in a store,
 * the PKCS#12 file, or the key's pkcs11: URI), for messages. */
const char *dcpki_identity_cert_source(const dcpki_identity *id);
const char *dcpki_identity_key_source(const dcpki_identity *id);
/* The certificate's public key (decoded in the identity's libctx). */
EVP_PKEY *dcpki_identity_public_key(const dcpki_identity *id);
/* A local key (file / PKCS#12), ready to sign (dcpki/ossl.h): the one copy
 * of it the identity keeps after load; NULL for a pkcs11: key. dcpki_signer
 * signs with it. */
const struct dcpki_prepared_key *dcpki_identity_signing_key(const dcpki_identity *id);
void dcpki_identity_thumbprint(const dcpki_identity *id, unsigned char out[DCPKI_THUMBPRINT_LEN]);

/* Sign with the RA key on the PKCS#11 token named by [ra] key = pkcs11:...
 * (through p11-kit's registered modules, dcpki's own module excluded; the PIN
 * from the URI's pin-value or pin-source); a local RA key signs through its
 * dcpki_signer instead (dcpki/signer.h), as every front end does. data is the digest that md names ("SHA256", "SHA384",
 * "SHA512"), or the DigestInfo for DCPKI_SIG_RSA_RAW (md NULL). The signature
 * (OPENSSL_free) has been verified with the certificate's public key; ECDSA
 * signatures are DER. Thread-safe. */
dcpki_code dcpki_identity_sign(const dcpki_identity *id, dcpki_sig_scheme scheme, const char *md,
                               const unsigned char *data, size_t len, unsigned char **sig, size_t *sig_len,
                               dcpki_err *err);
/* What the TLS client (libcurl/GnuTLS) needs: names it can open at any later
 * time, even after the process dropped privileges (see identity.c): a sealed
 * memory file /proc/self/fd/N with the certificate, its chain and the key;
 * or, where memory files are unavailable, the configured files or a private
 * temporary file whose key is encrypted under the one-time password given
 * here. */
typedef struct dcpki_tls_client_creds {
    const char *cert_path;   /* PEM certificate file (memory, configured or temporary) */
    const char *cert_type;   /* "PEM" */
    const char *key_path;    /* PEM key file or pkcs11: URI */
    const char *key_type;    /* "PEM", or NULL for a pkcs11: URI */
    const char *password;    /* key password (temporary file), NULL if none; secret */
} dcpki_tls_client_creds;
void dcpki_identity_tls_creds(const dcpki_identity *id, dcpki_tls_client_creds *out);

#endif

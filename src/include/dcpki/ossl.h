/* OpenSSL operations confined to one library context, for the core and the
 * front ends that live inside someone else's process (the PKCS#11 module).
 *
 * OpenSSL 3.0 still lets the process's legacy ENGINEs take over calls that
 * name a library context: d2i_PUBKEY_ex() and d2i_X509() decode a public key
 * the legacy way whenever ENGINE_get_pkey_meth_engine() has an ENGINE for its
 * type (crypto/x509/x_pubkey.c, x509_pubkey_decode), which yields a key no
 * provider holds, and EVP_DigestInit_ex()/EVP_Digest() hand the work to
 * ENGINE_get_digest_engine() even for an EVP_MD fetched from another context
 * (crypto/evp/digest.c, evp_md_init_internal), and EVP_PKEY_CTX_new_from_pkey()
 * uses an ENGINE's method for the key type even for a provider's key. What is
 * here never consults an ENGINE and never the default context's properties
 * or providers. */
#ifndef DCPKI_OSSL_H
#define DCPKI_OSSL_H
#include <stddef.h>
#include <openssl/types.h>

/* A public key from a DER SubjectPublicKeyInfo (all of der, nothing after
 * it), decoded by libctx's providers (OSSL_DECODER): the key is held by a
 * provider of libctx, so EVP_PKEY_CTX_new_from_pkey() on it never reaches an
 * ENGINE. NULL when der is not such a structure or a type libctx cannot load. */
EVP_PKEY *dcpki_pubkey_from_der(OSSL_LIB_CTX *libctx, const unsigned char *der, size_t len);

/* The public key of a certificate, re-decoded from its SubjectPublicKeyInfo
 * as above (X509_get0_pubkey() may hold a legacy, ENGINE-made key). */
EVP_PKEY *dcpki_cert_pubkey(OSSL_LIB_CTX *libctx, const X509 *x);

/* A message digest run by the provider that libctx's fetch of name selects,
 * called through that provider's own dispatch table (provider-base(7)), so
 * an ENGINE set as the default for the digest is never involved. */
typedef struct dcpki_digest dcpki_digest;

/* NULL when libctx has no such digest or memory ran out. Ready to update. */
dcpki_digest *dcpki_digest_new(OSSL_LIB_CTX *libctx, const char *name);
/* A copy of d in the state d is in (one made by dcpki_digest_new and not
 * updated since is a ready digest without another fetch); d is only read, so
 * threads may copy one d at once. NULL when out of memory or the provider
 * cannot copy its digests. */
dcpki_digest *dcpki_digest_dup(const dcpki_digest *d);
/* The digest's output length in bytes. */
size_t dcpki_digest_size(const dcpki_digest *d);
/* Start over. 1 on success, 0 on failure. */
int dcpki_digest_init(dcpki_digest *d);
int dcpki_digest_update(dcpki_digest *d, const void *data, size_t len);
/* Writes dcpki_digest_size() bytes to out (outsz at least that); the digest
 * then needs dcpki_digest_init() before it is used again. */
int dcpki_digest_final(dcpki_digest *d, unsigned char *out, size_t outsz);
void dcpki_digest_free(dcpki_digest *d);
/* One call: new, update, final, free. 1 on success, 0 on failure. */
int dcpki_digest_once(OSSL_LIB_CTX *libctx, const char *name, const void *data, size_t len,
                      unsigned char *out, size_t outsz);

/* A key made ready for many signatures or verifications with the
 * provider's signature algorithm for its type (RSA, ECDSA), called through
 * that provider's dispatch table with params set at init (pad mode, digest,
 * MGF1 digest, salt length: provider-signature(7)): the algorithm's functions
 * are looked up and the key imported into its provider (EVP_PKEY_todata())
 * once, and the provider keeps what it precomputes for the key (RSA's
 * Montgomery forms and blinding) across operations.
 * EVP_PKEY_CTX_new_from_pkey() would instead take the method of an ENGINE
 * registered for the key type even for a provider's key
 * (crypto/evp/pmeth_lib.c, int_ctx_new). Each operation has a signature
 * context of its own, so a prepared key may be used by several threads at
 * once; a context is kept after a successful operation for the next one with
 * the same parameters (initialising fetches and checks the digest each time:
 * 8,000 instructions of an RSA verification's 300,000). with_private: the
 * private key is imported too (needed to sign). NULL when libctx has no
 * signature for the key's type.
 * tbs is a digest, or a DigestInfo for raw PKCS#1 v1.5; the signature is an
 * ECDSA-Sig-Value DER for EC keys. sign: *siglen is the room in sig on entry,
 * the length on return. 1 on success, 0 on failure or a bad signature. */
typedef struct dcpki_prepared_key dcpki_prepared_key;
dcpki_prepared_key *dcpki_prepared_key_new(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, int with_private);
int dcpki_prepared_sign(const dcpki_prepared_key *k, const OSSL_PARAM *params, unsigned char *sig, size_t *siglen,
                        const unsigned char *tbs, size_t tbslen);
int dcpki_prepared_verify(const dcpki_prepared_key *k, const OSSL_PARAM *params, const unsigned char *sig,
                          size_t siglen, const unsigned char *tbs, size_t tbslen);
void dcpki_prepared_key_free(dcpki_prepared_key *k);
/* How many initialised contexts the key keeps now (at most 8; for tests). */
int dcpki_prepared_key_idle(const dcpki_prepared_key *k);

#endif

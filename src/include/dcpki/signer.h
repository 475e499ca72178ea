/* One signer for every key dcpki signs with: a keypair of the signing
 * service, or the RA key (in a file, or on a PKCS#11 token). The front ends
 * (the OpenSSL provider, the PKCS#11 module) translate their parameters
 * (OSSL_PARAMs, a CK_MECHANISM) into a dcpki_sig_request and nothing more:
 * naming the digest, checking the input's length, the PSS parameters a key
 * can honour, the signature's exact length and the form of an ECDSA
 * signature are decided here. A signature made by the service or a token has
 * been verified with the key's public key before it is returned. Thread-safe:
 * one signer serves any number of threads at once. */
#ifndef DCPKI_SIGNER_H
#define DCPKI_SIGNER_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/identity.h"
#include "dcpki/sigscheme.h"
#include "dcpki/signing.h"

/* How an ECDSA signature is written: the ECDSA-Sig-Value DER of X.509 and
 * OpenSSL, or r||s, each as long as the group order (PKCS#11 v2.40 §2.3.1). */
typedef enum { DCPKI_ECDSA_DER = 0, DCPKI_ECDSA_RS = 1 } dcpki_ecdsa_form;

/* PSS salt length: as long as the digest (the service's and tokens' only choice). */
#define DCPKI_PSS_SALT_DIGEST (-1)

typedef struct dcpki_sig_request {
    dcpki_sig_scheme scheme;
    /* The digest the input is (any OpenSSL spelling: SHA256, SHA2-256,
     * SHA-256; likewise 384 and 512). NULL: DCPKI_SIG_RSA_RAW (the input is
     * a DigestInfo), or ECDSA/PSS over a bare hash named by its length. */
    const char *md;
    const char *mgf1_md;    /* PSS: MGF1's digest; NULL: md */
    int salt_len;           /* PSS: bytes, or DCPKI_PSS_SALT_DIGEST */
    dcpki_ecdsa_form form;  /* ECDSA */
} dcpki_sig_request;

typedef struct dcpki_signer dcpki_signer;

/* A keypair of the signing service whose public key was described; the
 * signer holds a reference to kp, and borrows sg (it must outlive it). */
dcpki_code dcpki_signer_new_remote(dcpki_signing *sg, dcpki_keypair *kp, dcpki_signer **out, dcpki_err *err);
/* The RA key of id (borrowed; it must outlive the signer): a local key
 * signs with the identity's prepared copy, a key on a token through the
 * identity. */
dcpki_code dcpki_signer_new_ra(const dcpki_identity *id, dcpki_signer **out, dcpki_err *err);
void dcpki_signer_free(dcpki_signer *s);

/* The public key (borrowed). */
EVP_PKEY *dcpki_signer_public(const dcpki_signer *s);
/* The length of every signature in that form: RSA, the modulus' bytes;
 * ECDSA r||s, twice the order's bytes; ECDSA DER, the most it can take. */
size_t dcpki_signer_sig_size(const dcpki_signer *s, dcpki_ecdsa_form form);

/* Whether r can be honoured, before any data: the scheme fits the key, the
 * digest is one the signer knows, the PSS parameters are ones the key's
 * holder makes (the service and tokens: MGF1 with the signature's digest and
 * a salt as long as it; a local RA key: any that fit the modulus).
 * DCPKI_E_UNSUPPORTED (with a sentence) when not. */
dcpki_code dcpki_signer_check(const dcpki_signer *s, const dcpki_sig_request *r, dcpki_err *err);

/* Whether tbs of that length can be signed as r asks: the digest r->md
 * names; a DigestInfo of at most the modulus' bytes - 11 for
 * DCPKI_SIG_RSA_RAW; for ECDSA and PSS without md, a hash of 32, 48 or 64
 * bytes (its length names it for the service and tokens), of any length for
 * ECDSA with a local RA key (as OpenSSL signs it). DCPKI_E_INVALID_ARGUMENT
 * (with a sentence) when not, after the checks of dcpki_signer_check. */
dcpki_code dcpki_signer_check_input(const dcpki_signer *s, const dcpki_sig_request *r, size_t tbslen,
                                    dcpki_err *err);

/* Sign tbs (as dcpki_signer_check_input accepts it) into sig, which has
 * room for *siglen bytes; *siglen is set to the signature's length.
 * DCPKI_E_INVALID_ARGUMENT when tbs has the wrong length or sig too little
 * room (the front ends ask dcpki_signer_sig_size first). */
dcpki_code dcpki_signer_sign(const dcpki_signer *s, const dcpki_sig_request *r, const unsigned char *tbs,
                             size_t tbslen, unsigned char *sig, size_t *siglen, dcpki_err *err);

/* The digests dcpki signs with, numbered 0 to DCPKI_N_MD - 1: SHA256, SHA384,
 * SHA512. dcpki_md_index: the number of a digest in any OpenSSL spelling of
 * its name, -1 when it is none of them; dcpki_md_name: its canonical name. */
#define DCPKI_N_MD 3
int dcpki_md_index(const char *name);
const char *dcpki_md_name(int i);
/* The canonical name of a SHA-2 digest (SHA256, SHA384, SHA512) in any
 * OpenSSL spelling, and its length; NULL when it is none of them. */
const char *dcpki_md_canonical(const char *name, size_t *len);

#endif

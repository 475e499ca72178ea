/* Signature contexts shared by sig_rsa.c and sig_ecdsa.c (signature.c has
 * the common dispatch code: init, digest, dup, sign, verify). */
#ifndef DCPKI_PROV_SIGNATURE_H
#define DCPKI_PROV_SIGNATURE_H

#include <openssl/rsa.h>

#include "provider.h"

enum { DCPKI_SIGALG_RSA = 1, DCPKI_SIGALG_ECDSA = 2 };

typedef struct dcpki_sig_ctx {
    dcpki_prov *prov;
    int alg;              /* DCPKI_SIGALG_* */
    int operation;        /* EVP_PKEY_OP_SIGN or EVP_PKEY_OP_VERIFY, 0 before init */
    dcpki_key *key;
    EVP_MD *md;           /* NULL until set */
    EVP_MD_CTX *mdctx;    /* digest_sign/verify: local hashing in our libctx */
    int pad;              /* RSA_PKCS1_PADDING or RSA_PKCS1_PSS_PADDING */
    int saltlen;          /* RSA_PSS_SALTLEN_* or a byte count */
    EVP_MD *mgf1;         /* NULL: same as md */
    /* A forwarded (default-provider) key: the default provider's signature
     * context and functions do the whole operation. */
    const OSSL_DISPATCH *fwd_sig;
    void *fwd;
} dcpki_sig_ctx;

#define DCPKI_SIG_FWD(c, name, id) DCPKI_FWD_FN((c)->fwd_sig, signature_##name, (id))

/* signature.c */
/* Fetch a digest the service supports (SHA-256/384/512) into *out; raises. */
int dcpki_sig_fetch_md(dcpki_sig_ctx *c, const char *name, EVP_MD **out);
/* At load: SHA-256/384/512 of the provider's context into prov->mds. */
int dcpki_sig_fetch_mds(dcpki_prov *prov);
/* At unload (or a failed load): those digests freed. */
void dcpki_sig_free_mds(dcpki_prov *prov);
int dcpki_sig_set_common_params(dcpki_sig_ctx *c, const OSSL_PARAM params[]);
int dcpki_sig_get_common_params(dcpki_sig_ctx *c, OSSL_PARAM params[]);
/* Set the ALGORITHM_ID parameter from an X509_ALGOR. */
int dcpki_sig_set_algor_param(dcpki_sig_ctx *c, OSSL_PARAM *p, X509_ALGOR *alg);
/* Set it to the signature OID of c->md (non-NULL) with key algorithm pkey_nid;
 * ptype: V_ASN1_NULL or V_ASN1_UNDEF (parameters absent). what names the
 * algorithm in the error ("RSA", "ECDSA"). */
int dcpki_sig_set_sigid_param(dcpki_sig_ctx *c, OSSL_PARAM *p, int pkey_nid, int ptype,
                              const char *what);

/* sig_rsa.c / sig_ecdsa.c: per algorithm */
int dcpki_rsa_sig_set_params(dcpki_sig_ctx *c, const OSSL_PARAM params[]);
int dcpki_rsa_sig_get_params(dcpki_sig_ctx *c, OSSL_PARAM params[]);
/* Check the parameters against what the service does; pick the scheme. */
int dcpki_rsa_sig_scheme(dcpki_sig_ctx *c, size_t tbslen, dcpki_sig_scheme *scheme);
/* Configure a local EVP_PKEY_CTX (verification, verify-recover). */
int dcpki_rsa_sig_setup_pctx(dcpki_sig_ctx *c, EVP_PKEY_CTX *pctx);
int dcpki_ecdsa_sig_get_params(dcpki_sig_ctx *c, OSSL_PARAM params[]);

/* signature.c: dispatch table contents shared by both algorithms */
#define DCPKI_SIG_COMMON_DISPATCH                                                            \
    { OSSL_FUNC_SIGNATURE_FREECTX, (void (*)(void))dcpki_sig_freectx },                      \
    { OSSL_FUNC_SIGNATURE_DUPCTX, (void (*)(void))dcpki_sig_dupctx },                        \
    { OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*)(void))dcpki_sig_sign_init },                  \
    { OSSL_FUNC_SIGNATURE_SIGN, (void (*)(void))dcpki_sig_sign },                            \
    { OSSL_FUNC_SIGNATURE_VERIFY_INIT, (void (*)(void))dcpki_sig_verify_init },              \
    { OSSL_FUNC_SIGNATURE_VERIFY, (void (*)(void))dcpki_sig_verify },                        \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*)(void))dcpki_sig_digest_sign_init },    \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*)(void))dcpki_sig_digest_update },     \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*)(void))dcpki_sig_digest_sign_final },  \
    { OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*)(void))dcpki_sig_digest_sign },              \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_INIT, (void (*)(void))dcpki_sig_digest_verify_init }, \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_UPDATE, (void (*)(void))dcpki_sig_digest_update },   \
    { OSSL_FUNC_SIGNATURE_DIGEST_VERIFY_FINAL, (void (*)(void))dcpki_sig_digest_verify_final }

void dcpki_sig_freectx(void *vctx);
void *dcpki_sig_dupctx(void *vctx);
int dcpki_sig_sign_init(void *vctx, void *provkey, const OSSL_PARAM params[]);
int dcpki_sig_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                   const unsigned char *tbs, size_t tbslen);
int dcpki_sig_verify_init(void *vctx, void *provkey, const OSSL_PARAM params[]);
int dcpki_sig_verify(void *vctx, const unsigned char *sig, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);
int dcpki_sig_digest_sign_init(void *vctx, const char *mdname, void *provkey,
                               const OSSL_PARAM params[]);
int dcpki_sig_digest_update(void *vctx, const unsigned char *data, size_t datalen);
int dcpki_sig_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize);
int dcpki_sig_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
                          const unsigned char *tbs, size_t tbslen);
int dcpki_sig_digest_verify_init(void *vctx, const char *mdname, void *provkey,
                                 const OSSL_PARAM params[]);
int dcpki_sig_digest_verify_final(void *vctx, const unsigned char *sig, size_t siglen);
void *dcpki_sig_newctx(void *provctx, int alg);
/* RSA only (the default provider's ECDSA has no verify-recover either). */
int dcpki_sig_verify_recover_init(void *vctx, void *provkey, const OSSL_PARAM params[]);
int dcpki_sig_verify_recover(void *vctx, unsigned char *rout, size_t *routlen, size_t routsize,
                             const unsigned char *sig, size_t siglen);
/* Parameter calls of a context that forwards: 1 and *ok set, else 0. */
int dcpki_sig_fwd_set_params(dcpki_sig_ctx *c, const OSSL_PARAM params[], int *ok);
int dcpki_sig_fwd_get_params(dcpki_sig_ctx *c, OSSL_PARAM params[], int *ok);
/* settable/gettable of a forwarding context, NULL when not forwarding. */
const OSSL_PARAM *dcpki_sig_fwd_table(dcpki_sig_ctx *c, int id);

#endif

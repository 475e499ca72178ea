/* C_SignInit/C_Sign/C_SignUpdate/C_SignFinal.
 * Mechanisms: CKM_RSA_PKCS (caller's DigestInfo → NONEWithRSA),
 * CKM_SHA{256,384,512}_RSA_PKCS (hashed here, PKCS#1 v1.5 over the digest),
 * CKM_RSA_PKCS_PSS and CKM_SHA*_RSA_PKCS_PSS (the service signs with MGF1 of
 * the same hash and salt = digest length, so other parameters are
 * CKR_MECHANISM_PARAM_INVALID for remote keys; the local RA key honours any),
 * CKM_ECDSA (raw digest; 32/48/64 bytes name SHA256/384/512 for the service)
 * and CKM_ECDSA_SHA*. ECDSA signatures are returned as r||s, each half the
 * byte length of the group order. A size query (pSignature NULL) and
 * CKR_BUFFER_TOO_SMALL keep the operation active, and so does C_Sign called
 * in a multi-part operation (CKR_OPERATION_ACTIVE); every other result ends it.
 * Remote keys sign through the signing service (the core verifies every
 * signature it returns); the RA key signs here with OpenSSL, or on the token
 * that holds it (ratoken.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include "dcpki/ossl.h"
#include "p11.h"

#define RAW_MAX 8192 /* a raw input is a digest or a DigestInfo */

struct p11_sign_op {
    CK_MECHANISM_TYPE mech;
    p11_object *key;
    int hashing;            /* the mechanism hashes the data itself */
    int pss;
    const EVP_MD *md;       /* hashing mechanisms; PSS: hashAlg */
    const EVP_MD *mgf1;     /* PSS */
    CK_ULONG slen;          /* PSS */
    dcpki_digest *dg;       /* hashing mechanisms (never an ENGINE: dcpki/ossl.h) */
    unsigned char *buf;     /* raw mechanisms: accumulated input */
    size_t len;
    int multi;              /* C_SignUpdate was called */
    size_t siglen;          /* exact signature length */
};

typedef struct mech_desc {
    CK_MECHANISM_TYPE mech;
    CK_KEY_TYPE kt;
    CK_MECHANISM_TYPE hash; /* CKM_SHA*, or 0 for raw input */
    int pss;
} mech_desc;

static const mech_desc mechs[] = {
    { CKM_RSA_PKCS, CKK_RSA, 0, 0 },
    { CKM_SHA256_RSA_PKCS, CKK_RSA, CKM_SHA256, 0 },
    { CKM_SHA384_RSA_PKCS, CKK_RSA, CKM_SHA384, 0 },
    { CKM_SHA512_RSA_PKCS, CKK_RSA, CKM_SHA512, 0 },
    { CKM_RSA_PKCS_PSS, CKK_RSA, 0, 1 },
    { CKM_SHA256_RSA_PKCS_PSS, CKK_RSA, CKM_SHA256, 1 },
    { CKM_SHA384_RSA_PKCS_PSS, CKK_RSA, CKM_SHA384, 1 },
    { CKM_SHA512_RSA_PKCS_PSS, CKK_RSA, CKM_SHA512, 1 },
    { CKM_ECDSA, CKK_EC, 0, 0 },
    { CKM_ECDSA_SHA256, CKK_EC, CKM_SHA256, 0 },
    { CKM_ECDSA_SHA384, CKK_EC, CKM_SHA384, 0 },
    { CKM_ECDSA_SHA512, CKK_EC, CKM_SHA512, 0 },
};

static const EVP_MD *md_of_hash(const p11_module *m, CK_MECHANISM_TYPE h)
{
    switch (h) {
    case CKM_SHA256: return m->sha256;
    case CKM_SHA384: return m->sha384;
    case CKM_SHA512: return m->sha512;
    default: return NULL;
    }
}

static const EVP_MD *md_of_mgf(const p11_module *m, CK_RSA_PKCS_MGF_TYPE g)
{
    switch (g) {
    case CKG_MGF1_SHA256: return m->sha256;
    case CKG_MGF1_SHA384: return m->sha384;
    case CKG_MGF1_SHA512: return m->sha512;
    default: return NULL;
    }
}

/* "SHA256" etc. for the signing service */
static const char *md_name(const p11_module *m, const EVP_MD *md)
{
    if (md == m->sha256) return "SHA256";
    if (md == m->sha384) return "SHA384";
    if (md == m->sha512) return "SHA512";
    return NULL;
}

void p11_sign_op_free(p11_sign_op *op)
{
    if (!op)
        return;
    dcpki_digest_free(op->dg);
    free(op->buf);
    free(op);
}

static void sign_end(p11_session *s)
{
    p11_sign_op_free(s->sign);
    s->sign = NULL;
}

static CK_RV check_pss(p11_module *m, p11_sign_op *op, const mech_desc *d, const CK_MECHANISM *mech)
{
    const CK_RSA_PKCS_PSS_PARAMS *pp = mech->pParameter;
    int hlen, emlen;
    if (!pp || mech->ulParameterLen != sizeof(*pp))
        return CKR_MECHANISM_PARAM_INVALID;
    if (!(op->md = md_of_hash(m, pp->hashAlg)) || (d->hash && pp->hashAlg != d->hash))
        return CKR_MECHANISM_PARAM_INVALID;
    if (!(op->mgf1 = md_of_mgf(m, pp->mgf)))
        return CKR_MECHANISM_PARAM_INVALID;
    hlen = EVP_MD_get_size(op->md);
    op->slen = pp->sLen;
    if (op->key->kp || op->key->ra_on_token) {
        /* the service and dcpki_identity_sign: MGF1 with the signature's hash, salt = digest length */
        if (op->mgf1 != op->md || pp->sLen != (CK_ULONG)hlen)
            return CKR_MECHANISM_PARAM_INVALID;
    } else {
        emlen = (EVP_PKEY_get_bits(op->key->pub) - 1 + 7) / 8;
        if (pp->sLen > (CK_ULONG)emlen || (CK_ULONG)emlen - pp->sLen < (CK_ULONG)hlen + 2)
            return CKR_MECHANISM_PARAM_INVALID;
    }
    return CKR_OK;
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    p11_session *s;
    p11_module *m;
    p11_object *o;
    p11_sign_op *op = NULL;
    const mech_desc *d = NULL;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    m = p11_mod;
    if (!pMechanism) {
        rv = CKR_ARGUMENTS_BAD;
        goto out;
    }
    if (s->sign) {
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    for (size_t i = 0; i < sizeof(mechs) / sizeof(mechs[0]); i++)
        if (mechs[i].mech == pMechanism->mechanism)
            d = &mechs[i];
    if (!d) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if (!(o = p11_object_get(m, s->slot, hKey)) || o->cls == CKO_CERTIFICATE) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    if (o->cls != CKO_PRIVATE_KEY) {
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        goto out;
    }
    if (o->key_type != d->kt) {
        rv = CKR_KEY_TYPE_INCONSISTENT;
        goto out;
    }
    if (!(op = calloc(1, sizeof(*op)))) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    op->mech = d->mech;
    op->key = o;
    op->pss = d->pss;
    op->hashing = d->hash != 0;
    if (d->pss) {
        if ((rv = check_pss(m, op, d, pMechanism)) != CKR_OK)
            goto out;
    } else {
        if (pMechanism->ulParameterLen != 0) {
            rv = CKR_MECHANISM_PARAM_INVALID;
            goto out;
        }
        op->md = md_of_hash(m, d->hash);
    }
    if (o->key_type == CKK_EC)
        op->siglen = 2 * (size_t)((EVP_PKEY_get_bits(o->pub) + 7) / 8);
    else
        op->siglen = (size_t)EVP_PKEY_get_size(o->pub);
    if (op->hashing) {
        /* the module's own context always has these digests: only memory can fail */
        if (!(op->dg = dcpki_digest_new(m->libctx, md_name(m, op->md)))) {
            rv = CKR_HOST_MEMORY;
            goto out;
        }
    }
    s->sign = op;
    op = NULL;
    rv = CKR_OK;
out:
    p11_sign_op_free(op);
    p11_session_put(s);
    return rv;
}

/* DER ECDSA-Sig-Value → r||s, n bytes each */
static CK_RV der_to_rs(const unsigned char *der, size_t der_len, unsigned char *out, size_t n)
{
    const unsigned char *p = der;
    const BIGNUM *r, *sv;
    ECDSA_SIG *sig = d2i_ECDSA_SIG(NULL, &p, (long)der_len);
    CK_RV rv = CKR_FUNCTION_FAILED;
    if (!sig)
        return rv;
    ECDSA_SIG_get0(sig, &r, &sv);
    if (BN_bn2binpad(r, out, (int)n) == (int)n && BN_bn2binpad(sv, out + n, (int)n) == (int)n)
        rv = CKR_OK;
    ECDSA_SIG_free(sig);
    return rv;
}

static CK_RV sign_local(p11_module *m, const p11_sign_op *op, const unsigned char *tbs, size_t tbs_len,
                        unsigned char **sig, size_t *sig_len)
{
    int slen = (int)op->slen;
    OSSL_PARAM params[5];
    size_t np = 0;
    char pad_pkcs1[] = OSSL_PKEY_RSA_PAD_MODE_PKCSV15, pad_pss[] = OSSL_PKEY_RSA_PAD_MODE_PSS;
    char mdname[16], mgf1name[16];
    int ok;
    if (op->key->key_type == CKK_RSA) {
        params[np++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_PAD_MODE,
                                                        op->pss ? pad_pss : pad_pkcs1, 0);
        if (op->md) {
            snprintf(mdname, sizeof(mdname), "%s", md_name(m, op->md));
            params[np++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, mdname, 0);
        }
        if (op->pss) {
            snprintf(mgf1name, sizeof(mgf1name), "%s", md_name(m, op->mgf1));
            params[np++] = OSSL_PARAM_construct_utf8_string(OSSL_SIGNATURE_PARAM_MGF1_DIGEST, mgf1name, 0);
            params[np++] = OSSL_PARAM_construct_int(OSSL_SIGNATURE_PARAM_PSS_SALTLEN, &slen);
        }
    }
    params[np] = OSSL_PARAM_construct_end();
    /* not EVP_PKEY_sign(): an ENGINE of the host could answer (dcpki/ossl.h);
     * the signature is at most the key's size */
    *sig_len = (size_t)EVP_PKEY_get_size(op->key->local);
    ok = (*sig = OPENSSL_malloc(*sig_len)) != NULL &&
         dcpki_pkey_sign(m->libctx, op->key->local, params, *sig, sig_len, tbs, tbs_len);
    if (!ok) {
        OPENSSL_free(*sig);
        *sig = NULL;
        p11_logf("signing with the RA key failed");
        return CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

/* The core's scheme and digest name for this operation (ECDSA over a bare
 * hash: the hash length names the digest). */
static dcpki_sig_scheme scheme_of(p11_module *m, const p11_sign_op *op, size_t tbs_len, const char **md)
{
    *md = NULL;
    if (op->key->key_type == CKK_EC) {
        *md = op->md ? md_name(m, op->md) : tbs_len == 32 ? "SHA256" : tbs_len == 48 ? "SHA384" : "SHA512";
        return DCPKI_SIG_ECDSA;
    }
    if (!op->pss && !op->hashing)
        return DCPKI_SIG_RSA_RAW;
    *md = md_name(m, op->md);
    return op->pss ? DCPKI_SIG_RSA_PSS : DCPKI_SIG_RSA_PKCS1;
}

static CK_RV sign_remote(p11_module *m, const p11_sign_op *op, const unsigned char *tbs, size_t tbs_len,
                         unsigned char **sig, size_t *sig_len)
{
    dcpki_signing *sg;
    dcpki_sig_scheme scheme;
    const char *md = NULL;
    dcpki_err err;
    char what[320];
    CK_RV rv = p11_backend_signing(m, &sg);
    if (rv != CKR_OK)
        return rv;
    scheme = scheme_of(m, op, tbs_len, &md);
    dcpki_err_clear(&err);
    if (dcpki_signing_sign(sg, op->key->kp, scheme, md, tbs, tbs_len, sig, sig_len, &err) != DCPKI_OK) {
        snprintf(what, sizeof(what), "signing with %s", op->key->kp->alias ? op->key->kp->alias : "");
        *sig = NULL;
        return p11_fail(what, &err);
    }
    return CKR_OK;
}

/* The RA key on another token: the core signs there (dcpki_identity_sign,
 * through p11-kit) and verifies the result. */
static CK_RV sign_on_token(p11_module *m, const p11_sign_op *op, const unsigned char *tbs, size_t tbs_len,
                           unsigned char **sig, size_t *sig_len)
{
    const dcpki_identity *id;
    dcpki_sig_scheme scheme;
    const char *md = NULL;
    dcpki_err err;
    CK_RV rv = p11_backend_identity(m, &id);
    if (rv != CKR_OK)
        return rv;
    scheme = scheme_of(m, op, tbs_len, &md);
    dcpki_err_clear(&err);
    if (dcpki_identity_sign(id, scheme, md, tbs, tbs_len, sig, sig_len, &err) != DCPKI_OK) {
        *sig = NULL;
        return p11_fail("signing with the RA key on its token", &err);
    }
    return CKR_OK;
}

/* Sign the final input (a digest, or the raw data) into out (op->siglen bytes). */
static CK_RV sign_now(p11_module *m, const p11_sign_op *op, const unsigned char *tbs, size_t tbs_len,
                      unsigned char *out)
{
    unsigned char *sig = NULL;
    size_t sig_len = 0;
    CK_RV rv;
    int is_ec = op->key->key_type == CKK_EC;

    if (!op->hashing) {
        if (op->mech == CKM_RSA_PKCS && (tbs_len == 0 || tbs_len > op->siglen - 11))
            return CKR_DATA_LEN_RANGE;
        if (op->pss && tbs_len != (size_t)EVP_MD_get_size(op->md))
            return CKR_DATA_LEN_RANGE;
        if (is_ec && (tbs_len == 0 ||
                      (op->key->kp && tbs_len != 32 && tbs_len != 48 && tbs_len != 64)))
            return CKR_DATA_LEN_RANGE;
    }
    rv = op->key->ra_on_token ? sign_on_token(m, op, tbs, tbs_len, &sig, &sig_len)
         : op->key->kp        ? sign_remote(m, op, tbs, tbs_len, &sig, &sig_len)
                              : sign_local(m, op, tbs, tbs_len, &sig, &sig_len);
    if (rv != CKR_OK)
        return rv;
    if (is_ec) {
        rv = der_to_rs(sig, sig_len, out, op->siglen / 2);
        if (rv != CKR_OK)
            p11_logf("the ECDSA signature is not a valid DER ECDSA-Sig-Value");
    } else if (sig_len > op->siglen) {
        p11_logf("the RSA signature is longer than the modulus");
        rv = CKR_FUNCTION_FAILED;
    } else { /* left-pad to the modulus length */
        memset(out, 0, op->siglen - sig_len);
        memcpy(out + (op->siglen - sig_len), sig, sig_len);
    }
    OPENSSL_free(sig);
    return rv;
}

/* Size query / buffer check shared by C_Sign and C_SignFinal: returns 1 when
 * the call ends here with *rv (operation kept active). */
static int size_check(const p11_sign_op *op, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen, CK_RV *rv)
{
    if (!pSignature) {
        *pulSignatureLen = op->siglen;
        *rv = CKR_OK;
        return 1;
    }
    if (*pulSignatureLen < op->siglen) {
        *pulSignatureLen = op->siglen;
        *rv = CKR_BUFFER_TOO_SMALL;
        return 1;
    }
    return 0;
}

CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
             CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    p11_session *s;
    p11_sign_op *op;
    unsigned char dg[EVP_MAX_MD_SIZE];
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!(op = s->sign)) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if (op->multi) { /* a multi-part operation ends with C_SignFinal */
        rv = CKR_OPERATION_ACTIVE;
        goto out;
    }
    if (!pulSignatureLen || (!pData && ulDataLen > 0)) {
        rv = CKR_ARGUMENTS_BAD;
        sign_end(s);
        goto out;
    }
    if (size_check(op, pSignature, pulSignatureLen, &rv))
        goto out;
    if (op->hashing) {
        if (!dcpki_digest_update(op->dg, pData, ulDataLen) || !dcpki_digest_final(op->dg, dg, sizeof(dg)))
            rv = CKR_FUNCTION_FAILED;
        else
            rv = sign_now(p11_mod, op, dg, dcpki_digest_size(op->dg), pSignature);
    } else {
        rv = sign_now(p11_mod, op, pData, ulDataLen, pSignature);
    }
    if (rv == CKR_OK)
        *pulSignatureLen = op->siglen;
    sign_end(s);
out:
    p11_session_put(s);
    return rv;
}

CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
    p11_session *s;
    p11_sign_op *op;
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!(op = s->sign)) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    op->multi = 1;
    if (!pPart && ulPartLen > 0) {
        rv = CKR_ARGUMENTS_BAD;
    } else if (op->hashing) {
        if (!dcpki_digest_update(op->dg, pPart, ulPartLen))
            rv = CKR_FUNCTION_FAILED;
    } else if (ulPartLen > RAW_MAX - op->len) {
        rv = CKR_DATA_LEN_RANGE;
    } else if (ulPartLen > 0) {
        unsigned char *nb = realloc(op->buf, op->len + ulPartLen);
        if (!nb) {
            rv = CKR_HOST_MEMORY;
        } else {
            op->buf = nb;
            memcpy(op->buf + op->len, pPart, ulPartLen);
            op->len += ulPartLen;
        }
    }
    if (rv != CKR_OK)
        sign_end(s);
out:
    p11_session_put(s);
    return rv;
}

CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
    p11_session *s;
    p11_sign_op *op;
    unsigned char dg[EVP_MAX_MD_SIZE];
    CK_RV rv = p11_session_get(hSession, &s);
    if (rv != CKR_OK)
        return rv;
    if (!(op = s->sign)) {
        rv = CKR_OPERATION_NOT_INITIALIZED;
        goto out;
    }
    if (!pulSignatureLen) {
        rv = CKR_ARGUMENTS_BAD;
        sign_end(s);
        goto out;
    }
    if (size_check(op, pSignature, pulSignatureLen, &rv))
        goto out;
    if (op->hashing) {
        if (!dcpki_digest_final(op->dg, dg, sizeof(dg)))
            rv = CKR_FUNCTION_FAILED;
        else
            rv = sign_now(p11_mod, op, dg, dcpki_digest_size(op->dg), pSignature);
    } else {
        rv = sign_now(p11_mod, op, op->buf, op->len, pSignature);
    }
    if (rv == CKR_OK)
        *pulSignatureLen = op->siglen;
    sign_end(s);
out:
    p11_session_put(s);
    return rv;
}

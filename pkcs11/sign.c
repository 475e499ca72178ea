/* C_SignInit/C_Sign/C_SignUpdate/C_SignFinal.
 * The mechanisms are those of mechanisms.c: CKM_RSA_PKCS (the caller's
 * DigestInfo), CKM_SHA{256,384,512}_RSA_PKCS, CKM_RSA_PKCS_PSS and
 * CKM_SHA*_RSA_PKCS_PSS, CKM_ECDSA (a bare hash) and CKM_ECDSA_SHA*; the
 * hashing ones hash here. The key's signer (dcpki/signer.h) checks the
 * parameters at C_SignInit (the service and tokens make PSS only with MGF1 of
 * the same hash and a salt as long as it, so others are
 * CKR_MECHANISM_PARAM_INVALID; the local RA key honours any) and signs:
 * remote keys in the signing service (the core verifies every signature it
 * returns), the RA key here or on the token that holds it. ECDSA signatures
 * are r||s, each half the byte length of the group order (PKCS#11 v2.40
 * §2.3.1). A size query (pSignature NULL) and CKR_BUFFER_TOO_SMALL keep the
 * operation active, and so does C_Sign called in a multi-part operation
 * (CKR_OPERATION_ACTIVE); every other result ends it. */
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include "dcpki/log.h"
#include "dcpki/ossl.h"
#include "p11.h"

#define RAW_MAX 8192 /* a raw input is a digest or a DigestInfo */

struct p11_sign_op {
    p11_object *key;
    dcpki_sig_request req;
    dcpki_digest *dg;       /* hashing mechanisms (never an ENGINE: dcpki/ossl.h) */
    unsigned char *buf;     /* raw mechanisms: accumulated input */
    size_t len;
    int multi;              /* C_SignUpdate was called */
    size_t siglen;          /* exact signature length */
};

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

/* The request a mechanism makes: its parameters read (PKCS#11 v2.40
 * §2.1.14: CK_RSA_PKCS_PSS_PARAMS for the PSS mechanisms, none for others). */
static CK_RV read_mechanism(const p11_mech *d, const CK_MECHANISM *mech, dcpki_sig_request *req)
{
    *req = (dcpki_sig_request){ .scheme = d->scheme, .md = d->md, .salt_len = DCPKI_PSS_SALT_DIGEST,
                                .form = DCPKI_ECDSA_RS };
    if (d->scheme != DCPKI_SIG_RSA_PSS)
        return mech->ulParameterLen == 0 ? CKR_OK : CKR_MECHANISM_PARAM_INVALID;
    const CK_RSA_PKCS_PSS_PARAMS *pp = mech->pParameter;
    if (!pp || mech->ulParameterLen != sizeof(*pp))
        return CKR_MECHANISM_PARAM_INVALID;
    const char *hash = p11_mech_hash_name(pp->hashAlg);
    /* a hashing PSS mechanism's hashAlg must be its own hash (§2.1.15) */
    if (!hash || (d->md && strcmp(hash, d->md) != 0) || !(req->mgf1_md = p11_mech_mgf_name(pp->mgf)) ||
        pp->sLen > (CK_ULONG)RAW_MAX)
        return CKR_MECHANISM_PARAM_INVALID;
    req->md = hash;
    req->salt_len = (int)pp->sLen;
    return CKR_OK;
}

CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism, CK_OBJECT_HANDLE hKey)
{
    p11_session *s;
    p11_module *m;
    p11_object *o;
    p11_sign_op *op = NULL;
    const p11_mech *d;
    dcpki_err err;
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
    if (!(d = p11_mech_find(pMechanism->mechanism))) {
        rv = CKR_MECHANISM_INVALID;
        goto out;
    }
    if (!(o = p11_object_get(m, s->slot, hKey)) || o->cls == CKO_CERTIFICATE) {
        rv = CKR_KEY_HANDLE_INVALID;
        goto out;
    }
    if (o->cls != CKO_PRIVATE_KEY || !o->signer) {
        rv = CKR_KEY_FUNCTION_NOT_PERMITTED;
        goto out;
    }
    if (o->key_type != d->key_type) {
        rv = CKR_KEY_TYPE_INCONSISTENT;
        goto out;
    }
    if (!(op = calloc(1, sizeof(*op)))) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    op->key = o;
    if ((rv = read_mechanism(d, pMechanism, &op->req)) != CKR_OK)
        goto out;
    dcpki_err_clear(&err);
    if (dcpki_signer_check(o->signer, &op->req, &err) != DCPKI_OK) {
        /* an answer, not a fault: applications probe parameters (no syslog) */
        char esc[sizeof(err.detail) * 4];
        DCPKI_DEBUG("dcpki-pkcs11: C_SignInit: %s", dcpki_escape(err.detail, esc, sizeof(esc)));
        rv = CKR_MECHANISM_PARAM_INVALID;
        goto out;
    }
    op->siglen = dcpki_signer_sig_size(o->signer, DCPKI_ECDSA_RS);
    /* the module's own context always has these digests: only memory can fail */
    if (d->md && !(op->dg = p11_digest_new(m, d->md))) {
        rv = CKR_HOST_MEMORY;
        goto out;
    }
    s->sign = op;
    op = NULL;
    rv = CKR_OK;
out:
    p11_sign_op_free(op);
    p11_session_put(s);
    return rv;
}

/* Sign the final input (a digest, or the raw data) into out (op->siglen bytes). */
static CK_RV sign_now(const p11_sign_op *op, const unsigned char *tbs, size_t tbs_len, unsigned char *out)
{
    size_t len = op->siglen;
    dcpki_err err;
    dcpki_err_clear(&err);
    if (dcpki_signer_sign(op->key->signer, &op->req, tbs, tbs_len, out, &len, &err) == DCPKI_OK)
        return len == op->siglen ? CKR_OK : CKR_FUNCTION_FAILED;
    /* a refused input is CKR_DATA_LEN_RANGE; asked only when signing failed */
    dcpki_err why;
    dcpki_err_clear(&why);
    if (dcpki_signer_check_input(op->key->signer, &op->req, tbs_len, &why) != DCPKI_OK)
        return CKR_DATA_LEN_RANGE;
    return p11_fail("signing", &err);
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
    if (op->dg) {
        if (!dcpki_digest_update(op->dg, pData, ulDataLen) || !dcpki_digest_final(op->dg, dg, sizeof(dg)))
            rv = CKR_FUNCTION_FAILED;
        else
            rv = sign_now(op, dg, dcpki_digest_size(op->dg), pSignature);
    } else {
        rv = sign_now(op, pData, ulDataLen, pSignature);
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
    } else if (op->dg) {
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
    if (op->dg) {
        if (!dcpki_digest_final(op->dg, dg, sizeof(dg)))
            rv = CKR_FUNCTION_FAILED;
        else
            rv = sign_now(op, dg, dcpki_digest_size(op->dg), pSignature);
    } else {
        rv = sign_now(op, op->buf, op->len, pSignature);
    }
    if (rv == CKR_OK)
        *pulSignatureLen = op->siglen;
    sign_end(s);
out:
    p11_session_put(s);
    return rv;
}

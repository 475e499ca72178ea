/* ECDSA signatures. The service returns DER (ECDSA-Sig-Value), which is what
 * OpenSSL callers expect; MAX_SIZE is the DER bound of the curve. */
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "signature.h"

static int ecdsa_algorithm_id(dcpki_sig_ctx *c, OSSL_PARAM *p)
{
    if (c->md == NULL) {
        DCPKI_RAISE(c->prov, DCPKI_R_OPERATION, "no digest set, so no signature algorithm identifier");
        return 0;
    }
    /* ecdsa-with-SHA*: parameters absent (RFC 5758 3.2). */
    return dcpki_sig_set_sigid_param(c, p, NID_X9_62_id_ecPublicKey, V_ASN1_UNDEF, "ECDSA");
}

int dcpki_ecdsa_sig_get_params(dcpki_sig_ctx *c, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    if (!dcpki_sig_get_common_params(c, params))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID);
    if (p != NULL && !ecdsa_algorithm_id(c, p))
        return 0;
    return 1;
}

static void *ecdsa_newctx(void *provctx, const char *propq)
{
    return dcpki_sig_newctx(provctx, DCPKI_SIGALG_ECDSA);
}

static int ecdsa_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
    int ok;
    if (dcpki_sig_fwd_set_params(vctx, params, &ok))
        return ok;
    return dcpki_sig_set_common_params(vctx, params);
}

static int ecdsa_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
    int ok;
    if (dcpki_sig_fwd_get_params(vctx, params, &ok))
        return ok;
    return dcpki_ecdsa_sig_get_params(vctx, params);
}

static const OSSL_PARAM ecdsa_settable[] = {
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_PROPERTIES, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM ecdsa_gettable[] = {
    OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
    OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *ecdsa_settable_ctx_params(void *vctx, void *provctx)
{
    const OSSL_PARAM *f = dcpki_sig_fwd_table(vctx, OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS);
    if (f != NULL)
        return f;
    return ecdsa_settable;
}

static const OSSL_PARAM *ecdsa_gettable_ctx_params(void *vctx, void *provctx)
{
    const OSSL_PARAM *f = dcpki_sig_fwd_table(vctx, OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS);
    if (f != NULL)
        return f;
    return ecdsa_gettable;
}

const OSSL_DISPATCH dcpki_ecdsa_signature_functions[] = {
    { OSSL_FUNC_SIGNATURE_NEWCTX, (void (*)(void))ecdsa_newctx },
    DCPKI_SIG_COMMON_DISPATCH,
    { OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*)(void))ecdsa_set_ctx_params },
    { OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*)(void))ecdsa_settable_ctx_params },
    { OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*)(void))ecdsa_get_ctx_params },
    { OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*)(void))ecdsa_gettable_ctx_params },
    { 0, NULL }
};

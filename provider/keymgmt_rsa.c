/* Key management for RSA keys held by the signing service (or the RA key). */
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "provider.h"

static const char *const rsa_public_names[] = {
    OSSL_PKEY_PARAM_BITS, OSSL_PKEY_PARAM_SECURITY_BITS, OSSL_PKEY_PARAM_MAX_SIZE,
    OSSL_PKEY_PARAM_DEFAULT_DIGEST, OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, NULL
};

static void *rsa_new(void *provctx)
{
    return dcpki_km_new(provctx, EVP_PKEY_RSA);
}

static void *rsa_load(const void *reference, size_t reference_sz)
{
    return dcpki_km_load(reference, reference_sz, EVP_PKEY_RSA);
}

static int rsa_has(const void *keydata, int selection)
{
    return dcpki_km_has(keydata, selection, EVP_PKEY_RSA);
}

static int rsa_match(const void *k1, const void *k2, int selection)
{
    return dcpki_km_match(k1, k2, selection, EVP_PKEY_RSA);
}

static int rsa_get_params(void *keydata, OSSL_PARAM params[])
{
    return dcpki_km_get_params(keydata, params, rsa_public_names, EVP_PKEY_RSA);
}

static const OSSL_PARAM *rsa_gettable_params(void *provctx)
{
    return dcpki_km_provctx_params(provctx, EVP_PKEY_RSA, OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS);
}

static const OSSL_PARAM *rsa_settable_params(void *provctx)
{
    return dcpki_km_provctx_params(provctx, EVP_PKEY_RSA, OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS);
}

static void *rsa_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return dcpki_km_gen_init(provctx, selection, params, EVP_PKEY_RSA);
}

static const OSSL_PARAM *rsa_gen_settable_params(void *genctx, void *provctx)
{
    return dcpki_km_gen_settable_params(genctx, provctx, EVP_PKEY_RSA);
}

static int rsa_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    return dcpki_km_export(keydata, selection, cb, cbarg, EVP_PKEY_RSA);
}

static const OSSL_PARAM *rsa_export_types(int selection)
{
    return dcpki_km_types(EVP_PKEY_RSA, OSSL_FUNC_KEYMGMT_EXPORT_TYPES, selection);
}

static const OSSL_PARAM *rsa_import_types(int selection)
{
    return dcpki_km_types(EVP_PKEY_RSA, OSSL_FUNC_KEYMGMT_IMPORT_TYPES, selection);
}

static const char *rsa_query_operation_name(int operation_id)
{
    /* as the default provider's keymgmt (providers/implementations/keymgmt/
     * rsa_kmgmt.c rsa_query_operation_name) */
    return "RSA";
}

const OSSL_DISPATCH dcpki_rsa_keymgmt_functions[] = {
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))rsa_new },
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))rsa_load },
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))rsa_has },
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))rsa_match },
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))rsa_get_params },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))rsa_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))rsa_export },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))rsa_export_types },
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))rsa_import_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))rsa_query_operation_name },
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))rsa_settable_params },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))rsa_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))rsa_gen_settable_params },
    DCPKI_KM_COMMON_DISPATCH,
    { 0, NULL }
};

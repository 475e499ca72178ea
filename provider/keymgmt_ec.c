/* Key management for EC keys held by the signing service. */
#include <openssl/core_names.h>
#include <openssl/params.h>

#include "provider.h"

static const char *const ec_public_names[] = {
    OSSL_PKEY_PARAM_BITS, OSSL_PKEY_PARAM_SECURITY_BITS, OSSL_PKEY_PARAM_MAX_SIZE,
    OSSL_PKEY_PARAM_DEFAULT_DIGEST, OSSL_PKEY_PARAM_GROUP_NAME,
    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, OSSL_PKEY_PARAM_PUB_KEY, OSSL_PKEY_PARAM_EC_PUB_X,
    OSSL_PKEY_PARAM_EC_PUB_Y, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
    OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL
};

static void *ec_new(void *provctx)
{
    return dcpki_km_new(provctx, EVP_PKEY_EC);
}

static void *ec_load(const void *reference, size_t reference_sz)
{
    return dcpki_km_load(reference, reference_sz, EVP_PKEY_EC);
}

static int ec_has(const void *keydata, int selection)
{
    return dcpki_km_has(keydata, selection, EVP_PKEY_EC);
}

static int ec_match(const void *k1, const void *k2, int selection)
{
    return dcpki_km_match(k1, k2, selection, EVP_PKEY_EC);
}

static int ec_get_params(void *keydata, OSSL_PARAM params[])
{
    return dcpki_km_get_params(keydata, params, ec_public_names, EVP_PKEY_EC);
}

static const OSSL_PARAM *ec_gettable_params(void *provctx)
{
    return dcpki_km_provctx_params(provctx, EVP_PKEY_EC, OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS);
}

static const OSSL_PARAM *ec_settable_params(void *provctx)
{
    return dcpki_km_provctx_params(provctx, EVP_PKEY_EC, OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS);
}

static void *ec_gen_init(void *provctx, int selection, const OSSL_PARAM params[])
{
    return dcpki_km_gen_init(provctx, selection, params, EVP_PKEY_EC);
}

static const OSSL_PARAM *ec_gen_settable_params(void *genctx, void *provctx)
{
    return dcpki_km_gen_settable_params(genctx, provctx, EVP_PKEY_EC);
}

static int ec_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
    return dcpki_km_export(keydata, selection, cb, cbarg, EVP_PKEY_EC);
}

static const OSSL_PARAM *ec_export_types(int selection)
{
    return dcpki_km_types(EVP_PKEY_EC, OSSL_FUNC_KEYMGMT_EXPORT_TYPES, selection);
}

static const OSSL_PARAM *ec_import_types(int selection)
{
    return dcpki_km_types(EVP_PKEY_EC, OSSL_FUNC_KEYMGMT_IMPORT_TYPES, selection);
}

static const char *ec_query_operation_name(int operation_id)
{
    /* as the default provider's keymgmt (providers/implementations/keymgmt/
     * ec_kmgmt.c ec_query_operation_name): our signature for dcpki keys is
     * named ECDSA too, ECDH goes to the default provider. */
    switch (operation_id) {
    case OSSL_OP_KEYEXCH: return "ECDH";
    case OSSL_OP_SIGNATURE: return "ECDSA";
    default: return NULL;
    }
}

const OSSL_DISPATCH dcpki_ec_keymgmt_functions[] = {
    { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))ec_new },
    { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))ec_load },
    { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))ec_has },
    { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))ec_match },
    { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))ec_get_params },
    { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))ec_gettable_params },
    { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))ec_export },
    { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))ec_export_types },
    { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))ec_import_types },
    { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))ec_query_operation_name },
    { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))ec_settable_params },
    { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))ec_gen_init },
    { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))ec_gen_settable_params },
    DCPKI_KM_COMMON_DISPATCH,
    { 0, NULL }
};

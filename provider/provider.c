/* dcpki provider entry point: OSSL_provider_init, algorithm tables, errors,
 * and the lazy, mutex-protected creation of the core objects.
 *
 * Loading the provider does no I/O beyond reading its parameters: no network,
 * no curl initialisation, no dcpki.conf parsing (OSSL_provider_init runs while
 * openssl.cnf is still being loaded, and the provider may be activated
 * system-wide, so a bad dcpki.conf must only surface when a dcpki key is used). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/provider.h>

#include "provider.h"
#include "signature.h"

#define DCPKI_PROV_VERSION "0.1.0"

/* ---- algorithm tables: static and complete from the start ---- */

static const OSSL_ALGORITHM dcpki_keymgmt[] = {
    { DCPKI_NAMES_RSA, DCPKI_PROV_PROPS, dcpki_rsa_keymgmt_functions,
      "dcpki RSA keys held by the signing service" },
    { DCPKI_NAMES_EC, DCPKI_PROV_PROPS, dcpki_ec_keymgmt_functions,
      "dcpki EC keys held by the signing service" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM dcpki_signature[] = {
    { DCPKI_NAMES_SIG_RSA, DCPKI_PROV_PROPS, dcpki_rsa_signature_functions,
      "dcpki RSA PKCS#1 v1.5 and PSS signatures" },
    { DCPKI_NAMES_SIG_ECDSA, DCPKI_PROV_PROPS, dcpki_ecdsa_signature_functions,
      "dcpki ECDSA signatures" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM dcpki_store[] = {
    { "dcpki", DCPKI_PROV_PROPS, dcpki_store_functions, "dcpki: URIs (RA key, remote keys)" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM dcpki_decoder[] = {
    { "DER", DCPKI_PROV_PROPS ",input=pem", dcpki_pem_keyref_decoder_functions,
      "PEM DCPKI KEY REFERENCE to DER" },
    { DCPKI_NAMES_RSA, DCPKI_PROV_PROPS ",input=der,structure=" DCPKI_KEYREF_STRUCTURE,
      dcpki_der_keyref_rsa_decoder_functions, "dcpki key reference to RSA key" },
    { DCPKI_NAMES_EC, DCPKI_PROV_PROPS ",input=der,structure=" DCPKI_KEYREF_STRUCTURE,
      dcpki_der_keyref_ec_decoder_functions, "dcpki key reference to EC key" },
    { NULL, NULL, NULL, NULL }
};

static const OSSL_ALGORITHM *dcpki_query(void *provctx, int operation_id, int *no_cache)
{
    *no_cache = 0;
    switch (operation_id) {
    case OSSL_OP_KEYMGMT: return dcpki_keymgmt;
    case OSSL_OP_SIGNATURE: return dcpki_signature;
    case OSSL_OP_STORE: return dcpki_store;
    case OSSL_OP_DECODER: return dcpki_decoder;
    case OSSL_OP_ENCODER: return dcpki_encoder_algorithms;
    default: return NULL;
    }
}

/* ---- reason strings: the catalogue's sentences, then our own ---- */

static OSSL_ITEM dcpki_reasons[DCPKI_R__LAST + 1];

static void dcpki_fill_reasons(void)
{
    size_t n = 0;
    for (int c = 1; c < DCPKI_E__COUNT; c++) {
        dcpki_reasons[n].id = (unsigned int)c;
        dcpki_reasons[n].ptr = (void *)dcpki_code_sentence((dcpki_code)c);
        n++;
    }
    dcpki_reasons[n].id = DCPKI_R_NOT_OURS;
    dcpki_reasons[n++].ptr = "the key does not belong to the dcpki provider";
    dcpki_reasons[n].id = DCPKI_R_BAD_PARAM;
    dcpki_reasons[n++].ptr = "a signature parameter the signing service cannot honour was requested";
    dcpki_reasons[n].id = DCPKI_R_OPERATION;
    dcpki_reasons[n++].ptr = "the operation was not initialised";
    dcpki_reasons[n].id = 0;
    dcpki_reasons[n].ptr = NULL;
}

/* core_vset_error takes a va_list: this passes one that holds text. */
static void dcpki_raise_text(dcpki_prov *prov, uint32_t reason, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    prov->core_vset_error(prov->handle, reason, fmt, ap);
    va_end(ap);
}

static const OSSL_ITEM *dcpki_get_reason_strings(void *provctx)
{
    return dcpki_reasons;
}

/* ---- errors ---- */

static void dcpki_vraise(dcpki_prov *prov, int reason, const char *file, int line,
                         const char *func, const char *fmt, va_list ap)
{
    char raw[DCPKI_ERR_DETAIL_MAX + 512], text[4 * (DCPKI_ERR_DETAIL_MAX + 512)];
    if (prov == NULL || prov->core_new_error == NULL || prov->core_vset_error == NULL)
        return;
    /* the data quotes untrusted text (a URI, a server message): escaped */
    vsnprintf(raw, sizeof(raw), fmt, ap);
    dcpki_escape(raw, text, sizeof(text));
    prov->core_new_error(prov->handle);
    if (prov->core_set_error_debug != NULL)
        prov->core_set_error_debug(prov->handle, file, line, func);
    dcpki_raise_text(prov, (uint32_t)reason, "%s", text);
}

void dcpki_raise(dcpki_prov *prov, int reason, const char *file, int line, const char *func,
                 const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    dcpki_vraise(prov, reason, file, line, func, fmt, ap);
    va_end(ap);
}

void dcpki_raise_err(dcpki_prov *prov, const dcpki_err *err, const char *file, int line,
                     const char *func)
{
    /* The reason string is already the catalogue's sentence: the data adds
     * the detail and the remedy. */
    dcpki_code c = err != NULL && err->code != DCPKI_OK ? err->code : DCPKI_E_INTERNAL;
    if (err != NULL && err->code != DCPKI_OK && err->detail[0] != '\0')
        dcpki_raise(prov, (int)c, file, line, func, "%s (%s)", err->detail, dcpki_code_remedy(c));
    else
        dcpki_raise(prov, (int)c, file, line, func, "(%s)", dcpki_code_remedy(c));
}

/* ---- the core context ----
 * Made at load without any I/O (dcpki/ctx.h); a key load prepares it, which
 * reads dcpki.conf, the RA identity, the trust bundle and the API key into
 * memory, so that a server's workers forked later and running as another user
 * sign without opening those files. */

const dcpki_identity *dcpki_prov_identity(dcpki_prov *prov)
{
    dcpki_err err;
    const dcpki_identity *id;
    dcpki_err_clear(&err);
    if (dcpki_ctx_identity(prov->core, &id, &err) != DCPKI_OK) {
        DCPKI_RAISE_ERR(prov, &err);
        return NULL;
    }
    return id;
}

dcpki_signing *dcpki_prov_signing(dcpki_prov *prov)
{
    dcpki_err err;
    dcpki_signing *sg;
    dcpki_err_clear(&err);
    if (dcpki_ctx_signing(prov->core, &sg, &err) != DCPKI_OK) {
        DCPKI_RAISE_ERR(prov, &err);
        return NULL;
    }
    return sg;
}

OSSL_LIB_CTX *dcpki_prov_libctx(dcpki_prov *prov)
{
    return prov->libctx;
}

/* ---- provider base functions ---- */

static const OSSL_PARAM dcpki_param_types[] = {
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_NAME, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_VERSION, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_BUILDINFO, OSSL_PARAM_UTF8_PTR, NULL, 0),
    OSSL_PARAM_DEFN(OSSL_PROV_PARAM_STATUS, OSSL_PARAM_INTEGER, NULL, 0),
    OSSL_PARAM_END
};

static const OSSL_PARAM *dcpki_gettable_params(void *provctx)
{
    return dcpki_param_types;
}

static int dcpki_get_params(void *provctx, OSSL_PARAM params[])
{
    OSSL_PARAM *p;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_NAME);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "dcpki remote-key provider"))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_VERSION);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, DCPKI_PROV_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_BUILDINFO);
    if (p != NULL && !OSSL_PARAM_set_utf8_ptr(p, "dcpki " DCPKI_PROV_VERSION))
        return 0;
    p = OSSL_PARAM_locate(params, OSSL_PROV_PARAM_STATUS);
    if (p != NULL && !OSSL_PARAM_set_int(p, 1))
        return 0;
    return 1;
}

static void dcpki_teardown(void *provctx)
{
    dcpki_prov *prov = provctx;
    if (prov == NULL)
        return;
    dcpki_ctx_free_at_teardown(prov->core);
    dcpki_sig_free_mds(prov);
    OSSL_PROVIDER_unload(prov->deflt);
    OSSL_LIB_CTX_free(prov->libctx);
    free(prov->config_path);
    free(prov);
}

static const OSSL_DISPATCH dcpki_dispatch[] = {
    { OSSL_FUNC_PROVIDER_TEARDOWN, (void (*)(void))dcpki_teardown },
    { OSSL_FUNC_PROVIDER_GETTABLE_PARAMS, (void (*)(void))dcpki_gettable_params },
    { OSSL_FUNC_PROVIDER_GET_PARAMS, (void (*)(void))dcpki_get_params },
    { OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*)(void))dcpki_query },
    { OSSL_FUNC_PROVIDER_GET_REASON_STRINGS, (void (*)(void))dcpki_get_reason_strings },
    { OSSL_FUNC_PROVIDER_GET_CAPABILITIES, (void (*)(void))dcpki_fwd_get_capabilities },
    { 0, NULL }
};

__attribute__((visibility("default")))
int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx);

int OSSL_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
                       const OSSL_DISPATCH **out, void **provctx)
{
    OSSL_FUNC_core_get_params_fn *core_get_params = NULL;
    dcpki_prov *prov = calloc(1, sizeof(*prov));
    if (prov == NULL)
        return 0;
    prov->handle = handle;
    for (const OSSL_DISPATCH *d = in; d != NULL && d->function_id != 0; d++) {
        switch (d->function_id) {
        case OSSL_FUNC_CORE_GET_PARAMS:
            core_get_params = OSSL_FUNC_core_get_params(d);
            break;
        case OSSL_FUNC_CORE_NEW_ERROR:
            prov->core_new_error = OSSL_FUNC_core_new_error(d);
            break;
        case OSSL_FUNC_CORE_SET_ERROR_DEBUG:
            prov->core_set_error_debug = OSSL_FUNC_core_set_error_debug(d);
            break;
        case OSSL_FUNC_CORE_VSET_ERROR:
            prov->core_vset_error = OSSL_FUNC_core_vset_error(d);
            break;
        default:
            break;
        }
    }
    if (core_get_params != NULL) {
        char *path = NULL;
        OSSL_PARAM p[2];
        p[0] = OSSL_PARAM_construct_utf8_ptr(DCPKI_PARAM_CONFIG, &path, 0);
        p[1] = OSSL_PARAM_construct_end();
        if (core_get_params(handle, p) && path != NULL && path[0] != '\0') {
            prov->config_path = strdup(path);
            if (prov->config_path == NULL)
                goto err;
        }
    }
    dcpki_fill_reasons();
    /* Our own hashing, verification and RA-key signing: a library context
     * holding only the built-in default provider, so nothing we do can
     * re-enter this provider. */
    prov->libctx = OSSL_LIB_CTX_new_from_dispatch(handle, in);
    if (prov->libctx == NULL)
        goto err;
    prov->deflt = OSSL_PROVIDER_load(prov->libctx, "default");
    if (prov->deflt == NULL || !dcpki_fwd_init(prov) || !dcpki_sig_fetch_mds(prov))
        goto err;
    dcpki_err e;
    if (dcpki_ctx_new(prov->config_path, prov->libctx, &prov->core, &e) != DCPKI_OK)
        goto err;
    *out = dcpki_dispatch;
    *provctx = prov;
    return 1;
err:
    dcpki_sig_free_mds(prov);
    OSSL_PROVIDER_unload(prov->deflt);
    OSSL_LIB_CTX_free(prov->libctx);
    free(prov->config_path);
    free(prov);
    return 0;
}

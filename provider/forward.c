/* Keys that are not dcpki keys: handled by the built-in default provider.
 *
 * Our keymgmt must carry the names "RSA"/"EC" (libssl's certificate slot and
 * CMS use EVP_PKEY_is_a, provider-notes.md §1.1), so OpenSSL 3.0 treats it as
 * one more implementation of those algorithms: a fetch by name whose property
 * query does not tell the providers apart takes the first one stored
 * (ossl crypto/property/property.c ossl_method_store_fetch), and the host's
 * query replaces our ?provider=default preference whenever it names the same
 * property (property_parse.c ossl_property_merge: "If there is a common name,
 * the one from the first list is used"; stunnel passes "provider!=fips" to
 * SSL_CTX_new_ex, src/ctx.c context_init). Whatever the host does, a key our
 * keymgmt is asked to generate or import is therefore made and used by the
 * default provider's own functions (found in our private library context),
 * and libssl gets the default provider's TLS groups from us too, since it
 * keeps a provider's group only when the "EC" keymgmt fetch returns that
 * provider (ssl/t1_lib.c add_provider_groups). */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/provider.h>

#include "provider.h"

static const OSSL_DISPATCH fwd_none = { 0, NULL };

const OSSL_DISPATCH *dcpki_fwd_entry(const OSSL_DISPATCH *t, int id)
{
    for (; t != NULL && t->function_id != 0; t++)
        if (t->function_id == id)
            return t;
    return &fwd_none;
}

/* The value of property name in a property definition
 * ("provider=default,fips=yes,output=pem"), *len its length; NULL if absent. */
static const char *prop_value(const char *defn, const char *name, size_t *len)
{
    size_t n = strlen(name);
    while (defn != NULL && *defn != '\0') {
        const char *end = strchr(defn, ',');
        size_t toklen = end != NULL ? (size_t)(end - defn) : strlen(defn);
        if (toklen > n && strncmp(defn, name, n) == 0 && defn[n] == '=') {
            *len = toklen - n - 1;
            return defn + n + 1;
        }
        defn = end != NULL ? end + 1 : NULL;
    }
    return NULL;
}

static int same_prop(const char *a, const char *b, const char *name)
{
    size_t la = 0, lb = 0;
    const char *va = prop_value(a, name, &la), *vb = prop_value(b, name, &lb);
    if (va == NULL || vb == NULL)
        return va == vb;
    return la == lb && strncmp(va, vb, la) == 0;
}

/* The default provider lists its canonical name first (e.g.
 * "EC:id-ecPublicKey:1.2.840.10045.2.1"); its algorithm tables are static
 * (providers/defltprov.c deflt_query), so nothing is to be released. */
const OSSL_DISPATCH *dcpki_fwd_find(dcpki_prov *prov, int op, const char *name,
                                    const char *props)
{
    int no_cache = 0;
    size_t n = strlen(name);
    const OSSL_ALGORITHM *a = OSSL_PROVIDER_query_operation(prov->deflt, op, &no_cache);
    for (; a != NULL && a->algorithm_names != NULL; a++)
        if (strncmp(a->algorithm_names, name, n) == 0
            && (a->algorithm_names[n] == '\0' || a->algorithm_names[n] == ':')
            && (props == NULL
                || (same_prop(a->property_definition, props, "output")
                    && same_prop(a->property_definition, props, "structure"))))
            return a->implementation;
    return NULL;
}

/* The default provider's dispatch tables are static data of libcrypto, the
 * same for every instance. */
static _Atomic(const OSSL_DISPATCH *) any_km_rsa, any_km_ec;

const OSSL_DISPATCH *dcpki_fwd_km_any(int type)
{
    return type == EVP_PKEY_RSA ? atomic_load(&any_km_rsa) : atomic_load(&any_km_ec);
}

int dcpki_fwd_init(dcpki_prov *prov)
{
    prov->deflt_provctx = OSSL_PROVIDER_get0_provider_ctx(prov->deflt);
    prov->fwd_km_rsa = dcpki_fwd_find(prov, OSSL_OP_KEYMGMT, "RSA", NULL);
    prov->fwd_km_ec = dcpki_fwd_find(prov, OSSL_OP_KEYMGMT, "EC", NULL);
    prov->fwd_sig_rsa = dcpki_fwd_find(prov, OSSL_OP_SIGNATURE, "RSA", NULL);
    prov->fwd_sig_ec = dcpki_fwd_find(prov, OSSL_OP_SIGNATURE, "ECDSA", NULL);
    if (prov->fwd_km_rsa == NULL || prov->fwd_km_ec == NULL || prov->fwd_sig_rsa == NULL
        || prov->fwd_sig_ec == NULL || !dcpki_enc_fwd_init(prov)) {
        DCPKI_RAISE(prov, DCPKI_E_INTERNAL,
                    "the built-in default provider lacks an RSA or EC key management, "
                    "signature or encoder that dcpki hands other keys to");
        return 0;
    }
    atomic_store(&any_km_rsa, prov->fwd_km_rsa);
    atomic_store(&any_km_ec, prov->fwd_km_ec);
    return 1;
}

const OSSL_DISPATCH *dcpki_fwd_km(dcpki_prov *prov, int type)
{
    return type == EVP_PKEY_RSA ? prov->fwd_km_rsa : prov->fwd_km_ec;
}

const OSSL_DISPATCH *dcpki_fwd_sig(dcpki_prov *prov, int type)
{
    return type == EVP_PKEY_RSA ? prov->fwd_sig_rsa : prov->fwd_sig_ec;
}

int dcpki_is_key(const void *keydata)
{
    return keydata != NULL && *(const uint32_t *)keydata == DCPKI_KEY_MAGIC;
}

int dcpki_is_fwd(const void *keydata)
{
    return keydata != NULL && *(const uint32_t *)keydata == DCPKI_FWD_MAGIC;
}

dcpki_fwd_key *dcpki_fwd_wrap(dcpki_prov *prov, int type, void *inner)
{
    const OSSL_DISPATCH *km = dcpki_fwd_km(prov, type);
    dcpki_fwd_key *f;
    if (inner == NULL)
        return NULL;
    f = calloc(1, sizeof(*f));
    if (f == NULL) {
        DCPKI_FWD_FN(km, keymgmt_free, OSSL_FUNC_KEYMGMT_FREE)(inner);
        DCPKI_RAISE(prov, DCPKI_E_NOMEM, "out of memory");
        return NULL;
    }
    f->magic = DCPKI_FWD_MAGIC;
    f->prov = prov;
    f->type = type;
    f->km = km;
    f->inner = inner;
    return f;
}

/* ---- TLS groups ---- */

struct group_filter {
    OSSL_CALLBACK *cb;
    void *arg;
};

static int group_of_ours(const OSSL_PARAM params[], void *arg)
{
    struct group_filter *g = arg;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_CAPABILITY_TLS_GROUP_ALG);
    const char *alg = NULL;
    /* Only the groups made with a keymgmt we also answer to ("EC"); the
     * others (X25519, X448, DH) libssl keeps from the default provider. */
    if (p == NULL || !OSSL_PARAM_get_utf8_string_ptr(p, &alg) || strcmp(alg, "EC") != 0)
        return 1;
    return g->cb(params, g->arg);
}

int dcpki_fwd_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
                               void *arg)
{
    dcpki_prov *prov = provctx;
    struct group_filter g = { cb, arg };
    if (strcmp(capability, "TLS-GROUP") != 0)
        return 1; /* 3.0 fails SSL_CTX_new on 0 (provider-notes.md §1.3) */
    return OSSL_PROVIDER_get_capabilities(prov->deflt, capability, group_of_ours, &g);
}

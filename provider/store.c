/* Store loader for the "dcpki" URI scheme:
 *   dcpki:ra            the RA key (used locally) and the RA certificate
 *   dcpki:key=ALIAS     a remote key, its certificate and chain
 *   ;type=private|public|cert restricts the objects returned.
 * The key is resolved when the store is opened (that is where a network or
 * configuration failure is reported, before any eof), and the objects are
 * returned one per load call, filtered by the URI type and by
 * OSSL_STORE_PARAM_EXPECT. Keys are passed by reference; export_object refuses
 * private objects so that libcrypto loads them through our key management. */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_object.h>
#include <openssl/store.h>
#include <openssl/x509.h>

#include "provider.h"

enum { ITEM_PRIV = 1, ITEM_PUB, ITEM_CERT };

typedef struct store_item {
    int kind;
    const unsigned char *der; /* certificates (borrowed from kp or owned ra_der) */
    size_t len;
} store_item;

typedef struct store_ctx {
    dcpki_prov *prov;
    dcpki_uri uri;
    int expect;           /* OSSL_STORE_INFO_* or 0 */
    dcpki_key *key;       /* private object (or public for ;type=public) */
    dcpki_key *pub;       /* public object, made when needed */
    unsigned char *ra_der;
    size_t ra_der_len;
    int prepared;
    store_item items[64];
    size_t n, next;
} store_ctx;

static void store_ctx_free(store_ctx *ctx)
{
    if (ctx == NULL)
        return;
    dcpki_key_free(ctx->key);
    dcpki_key_free(ctx->pub);
    OPENSSL_free(ctx->ra_der);
    free(ctx);
}

static void *store_open(void *provctx, const char *uri)
{
    dcpki_prov *prov = provctx;
    dcpki_err err;
    store_ctx *ctx = calloc(1, sizeof(*ctx));

    if (ctx == NULL)
        return NULL;
    ctx->prov = prov;
    dcpki_err_clear(&err);
    if (dcpki_uri_parse(uri, &ctx->uri, &err) != DCPKI_OK) {
        DCPKI_RAISE_ERR(prov, &err);
        goto err;
    }
    if (!(ctx->uri.kind == DCPKI_URI_RA && ctx->uri.type == DCPKI_OBJ_CERT)) {
        ctx->key = dcpki_key_from_uri(prov, &ctx->uri, ctx->uri.type != DCPKI_OBJ_PUBLIC);
        if (ctx->key == NULL)
            goto err;
    }
    if (ctx->uri.kind == DCPKI_URI_RA) {
        const dcpki_identity *id = dcpki_prov_identity(prov);
        if (id == NULL)
            goto err;
        int len = i2d_X509(dcpki_identity_cert(id), &ctx->ra_der);
        ctx->ra_der_len = len > 0 ? (size_t)len : 0;
        if (len <= 0) {
            DCPKI_RAISE(prov, DCPKI_E_INTERNAL, "cannot encode the RA certificate");
            goto err;
        }
    }
    DCPKI_DEBUG("dcpki store: opened %s", uri);
    return ctx;
err:
    store_ctx_free(ctx);
    return NULL;
}

static const OSSL_PARAM store_settable[] = {
    OSSL_PARAM_int(OSSL_STORE_PARAM_EXPECT, NULL),
    OSSL_PARAM_END
};

static const OSSL_PARAM *store_settable_ctx_params(void *provctx)
{
    return store_settable;
}

/* Unknown parameters (INPUT_TYPE, PROPERTIES, ...) are accepted and ignored. */
static int store_set_ctx_params(void *loaderctx, const OSSL_PARAM params[])
{
    store_ctx *ctx = loaderctx;
    const OSSL_PARAM *p = OSSL_PARAM_locate_const(params, OSSL_STORE_PARAM_EXPECT);
    if (p != NULL && !OSSL_PARAM_get_int(p, &ctx->expect))
        return 0;
    return 1;
}

static void add_item(store_ctx *ctx, int kind, const unsigned char *der, size_t len)
{
    if (ctx->n < sizeof(ctx->items) / sizeof(ctx->items[0])) {
        ctx->items[ctx->n].kind = kind;
        ctx->items[ctx->n].der = der;
        ctx->items[ctx->n].len = len;
        ctx->n++;
    }
}

static void store_prepare(store_ctx *ctx)
{
    dcpki_obj_type t = ctx->uri.type;
    int e = ctx->expect;
    int want_priv = (t == DCPKI_OBJ_ANY || t == DCPKI_OBJ_PRIVATE)
                    && (e == 0 || e == OSSL_STORE_INFO_PKEY);
    int want_pub = (t == DCPKI_OBJ_PUBLIC && (e == 0 || e == OSSL_STORE_INFO_PUBKEY))
                   || (t != DCPKI_OBJ_CERT && t != DCPKI_OBJ_PUBLIC && e == OSSL_STORE_INFO_PUBKEY);
    int want_cert = (t == DCPKI_OBJ_ANY || t == DCPKI_OBJ_CERT) && (e == 0 || e == OSSL_STORE_INFO_CERT);

    ctx->prepared = 1;
    if (want_priv && ctx->key != NULL && ctx->key->has_private)
        add_item(ctx, ITEM_PRIV, NULL, 0);
    if (want_pub && ctx->key != NULL)
        add_item(ctx, ITEM_PUB, NULL, 0);
    if (want_cert) {
        if (ctx->uri.kind == DCPKI_URI_RA) {
            add_item(ctx, ITEM_CERT, ctx->ra_der, ctx->ra_der_len);
        } else if (ctx->key != NULL && ctx->key->kp != NULL) {
            const dcpki_keypair *kp = ctx->key->kp;
            if (kp->cert.data != NULL)
                add_item(ctx, ITEM_CERT, kp->cert.data, kp->cert.len);
            for (size_t i = 0; i < kp->chain_len; i++)
                add_item(ctx, ITEM_CERT, kp->chain[i].data, kp->chain[i].len);
        }
    }
}

static int store_load(void *loaderctx, OSSL_CALLBACK *object_cb, void *object_cbarg,
                      OSSL_PASSPHRASE_CALLBACK *pw_cb, void *pw_cbarg)
{
    store_ctx *ctx = loaderctx;
    OSSL_PARAM params[4];
    int objtype;
    dcpki_key *k;

    if (!ctx->prepared)
        store_prepare(ctx);
    if (ctx->next >= ctx->n)
        return 0;
    store_item *it = &ctx->items[ctx->next++];
    switch (it->kind) {
    case ITEM_PRIV:
    case ITEM_PUB:
        if (it->kind == ITEM_PUB && ctx->key->has_private) {
            if (ctx->pub == NULL)
                ctx->pub = dcpki_key_public_copy(ctx->key);
            k = ctx->pub;
        } else {
            k = ctx->key;
        }
        if (k == NULL) {
            DCPKI_RAISE(ctx->prov, DCPKI_E_NOMEM, "out of memory");
            return 0;
        }
        objtype = OSSL_OBJECT_PKEY;
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] = OSSL_PARAM_construct_utf8_string(OSSL_OBJECT_PARAM_DATA_TYPE,
                                                     k->type == EVP_PKEY_RSA ? "RSA" : "EC", 0);
        params[2] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_REFERENCE, &k, sizeof(k));
        params[3] = OSSL_PARAM_construct_end();
        return object_cb(params, object_cbarg);
    default:
        objtype = OSSL_OBJECT_CERT;
        params[0] = OSSL_PARAM_construct_int(OSSL_OBJECT_PARAM_TYPE, &objtype);
        params[1] = OSSL_PARAM_construct_octet_string(OSSL_OBJECT_PARAM_DATA, (void *)it->der, it->len);
        params[2] = OSSL_PARAM_construct_end();
        return object_cb(params, object_cbarg);
    }
}

static int store_eof(void *loaderctx)
{
    store_ctx *ctx = loaderctx;
    if (!ctx->prepared)
        store_prepare(ctx);
    return ctx->next >= ctx->n;
}

static int store_close(void *loaderctx)
{
    store_ctx_free(loaderctx);
    return 1;
}

/* Public objects are handed over by value (their public parameters); private
 * ones are refused, so libcrypto loads them with our key management. */
static int store_export_object(void *loaderctx, const void *reference, size_t reference_sz,
                               OSSL_CALLBACK *export_cb, void *export_cbarg)
{
    dcpki_key *k;
    if (reference == NULL || reference_sz != sizeof(k))
        return 0;
    k = *(dcpki_key *const *)reference;
    if (k == NULL || k->has_private)
        return 0;
    return dcpki_km_export(k, OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS,
                           export_cb, export_cbarg, k->type);
}

const OSSL_DISPATCH dcpki_store_functions[] = {
    { OSSL_FUNC_STORE_OPEN, (void (*)(void))store_open },
    { OSSL_FUNC_STORE_SETTABLE_CTX_PARAMS, (void (*)(void))store_settable_ctx_params },
    { OSSL_FUNC_STORE_SET_CTX_PARAMS, (void (*)(void))store_set_ctx_params },
    { OSSL_FUNC_STORE_LOAD, (void (*)(void))store_load },
    { OSSL_FUNC_STORE_EOF, (void (*)(void))store_eof },
    { OSSL_FUNC_STORE_CLOSE, (void (*)(void))store_close },
    { OSSL_FUNC_STORE_EXPORT_OBJECT, (void (*)(void))store_export_object },
    { 0, NULL }
};

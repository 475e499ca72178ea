/* Key objects and the key management shared by RSA and EC.
 *
 * A dcpki key is an opaque reference: its private half stays with the signing
 * service (or, for dcpki:ra, in the RA identity of the core). Public parts are
 * exportable so that libcrypto can compare keys and encode SPKIs; every export
 * that selects the private key is refused, which also makes libcrypto fall
 * back to this provider's own signature implementation. Imports never make a
 * dcpki key: a key libcrypto generates or imports through our keymgmt is a
 * key of the built-in default provider, handled by its own functions
 * (forward.c explains why such keys reach us at all). */
#include <stdlib.h>
#include <string.h>

#include <openssl/core_object.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "provider.h"

dcpki_key *dcpki_key_new(dcpki_prov *prov)
{
    dcpki_key *k = calloc(1, sizeof(*k));
    if (k == NULL)
        return NULL;
    k->magic = DCPKI_KEY_MAGIC;
    k->prov = prov;
    atomic_init(&k->refs, 1);
    return k;
}

dcpki_key *dcpki_key_ref(dcpki_key *k)
{
    if (k != NULL)
        atomic_fetch_add(&k->refs, 1);
    return k;
}

void dcpki_key_free(dcpki_key *k)
{
    if (k == NULL || atomic_fetch_sub(&k->refs, 1) != 1)
        return;
    EVP_PKEY_free(k->pkey);
    if (k->kp != NULL)
        dcpki_keypair_free(k->kp);
    dcpki_signer_free(k->signer);
    free(k->uri);
    free(k);
}

size_t dcpki_key_max_sig_size(const dcpki_key *k)
{
    if (k->signer != NULL)
        return dcpki_signer_sig_size(k->signer, DCPKI_ECDSA_DER);
    int n = EVP_PKEY_get_size(k->pkey);
    return n > 0 ? (size_t)n : 0;
}

dcpki_key *dcpki_key_from_uri(dcpki_prov *prov, const dcpki_uri *uri, int want_private)
{
    dcpki_err err;
    dcpki_key *k;
    char buf[DCPKI_ALIAS_MAX * 3 + 64];
    dcpki_uri canon = *uri;

    /* dcpki:ra needs only the configuration and the RA identity (no
     * [signing] section, no signing service); each call prepares the core
     * context up to what it returns (dcpki/ctx.h) */
    const dcpki_identity *id = NULL;
    dcpki_signing *sg = NULL;
    if (uri->kind == DCPKI_URI_RA)
        id = dcpki_prov_identity(prov);
    else
        sg = dcpki_prov_signing(prov);
    if (id == NULL && sg == NULL)
        return NULL;
    k = dcpki_key_new(prov);
    if (k == NULL) {
        DCPKI_RAISE(prov, DCPKI_E_NOMEM, "out of memory");
        return NULL;
    }
    k->has_private = want_private;
    dcpki_err_clear(&err);
    if (id != NULL) {
        /* its public key: the signer signs, locally or on the key's token */
        EVP_PKEY *pk = dcpki_identity_public_key(id);
        if (pk == NULL || !EVP_PKEY_up_ref(pk)) {
            dcpki_err_set(&err, DCPKI_E_INTERNAL, "cannot reference the RA key");
            goto err;
        }
        k->pkey = pk;
        k->is_ra = 1;
    } else {
        if (dcpki_signing_describe(sg, uri->alias, &k->kp, &err) != DCPKI_OK)
            goto err;
        if (k->kp->pub == NULL || !EVP_PKEY_up_ref(k->kp->pub)) {
            dcpki_err_set(&err, DCPKI_E_BAD_RESPONSE, "the service gave no public key for '%s'",
                          uri->alias);
            goto err;
        }
        k->pkey = k->kp->pub;
    }
    if (EVP_PKEY_is_a(k->pkey, "RSA")) {
        k->type = EVP_PKEY_RSA;
    } else if (EVP_PKEY_is_a(k->pkey, "EC")) {
        k->type = EVP_PKEY_EC;
    } else {
        dcpki_err_set(&err, DCPKI_E_UNSUPPORTED, "key type %s is not RSA or EC",
                      EVP_PKEY_get0_type_name(k->pkey));
        goto err;
    }
    if (want_private && (id != NULL ? dcpki_signer_new_ra(id, &k->signer, &err)
                                    : dcpki_signer_new_remote(sg, k->kp, &k->signer, &err)) != DCPKI_OK)
        goto err;
    canon.type = DCPKI_OBJ_ANY;
    if (dcpki_uri_format(&canon, buf, sizeof(buf)) < 0 || (k->uri = strdup(buf)) == NULL) {
        dcpki_err_set(&err, DCPKI_E_NOMEM, "cannot format the key URI");
        goto err;
    }
    return k;
err:
    DCPKI_RAISE_ERR(prov, &err);
    dcpki_key_free(k);
    return NULL;
}

dcpki_key *dcpki_key_public_copy(dcpki_key *src)
{
    dcpki_key *k = dcpki_key_new(src->prov);
    if (k == NULL)
        return NULL;
    k->is_ra = src->is_ra;
    k->has_private = 0;
    k->type = src->type;
    k->uri = strdup(src->uri);
    if (k->uri == NULL || !EVP_PKEY_up_ref(src->pkey)) {
        dcpki_key_free(k);
        return NULL;
    }
    k->pkey = src->pkey;
    if (src->kp != NULL)
        k->kp = dcpki_keypair_ref(src->kp);
    return k;
}

dcpki_key *dcpki_key_from_uri_string(dcpki_prov *prov, const char *s, int want_private)
{
    dcpki_uri u;
    dcpki_err err;
    dcpki_err_clear(&err);
    if (dcpki_uri_parse(s, &u, &err) != DCPKI_OK) {
        DCPKI_RAISE_ERR(prov, &err);
        return NULL;
    }
    if (u.type == DCPKI_OBJ_CERT) {
        DCPKI_RAISE(prov, DCPKI_E_KEYREF, "%s: a key reference must name a key, not a certificate (%s)",
                    dcpki_code_sentence(DCPKI_E_KEYREF), dcpki_code_remedy(DCPKI_E_KEYREF));
        return NULL;
    }
    return dcpki_key_from_uri(prov, &u, want_private && u.type != DCPKI_OBJ_PUBLIC);
}

/* ---- keymgmt entry points shared by RSA and EC ----
 *
 * Each takes either a dcpki key or a forwarded default-provider key
 * (dcpki_fwd_key); the latter goes to the default provider's function. The
 * typed dispatch tables are at the end of this file. */

#define KM(f, name, id) DCPKI_FWD_FN((f)->km, keymgmt_##name, (id))

static void *dcpki_km_new(void *provctx, int type)
{
    dcpki_prov *prov = provctx;
    const OSSL_DISPATCH *km = dcpki_fwd_km(prov, type);
    OSSL_FUNC_keymgmt_new_fn *fn = DCPKI_FWD_FN(km, keymgmt_new, OSSL_FUNC_KEYMGMT_NEW);
    return fn == NULL ? NULL : dcpki_fwd_wrap(prov, type, fn(prov->deflt_provctx));
}

static void *dcpki_km_load(const void *reference, size_t reference_sz, int type)
{
    dcpki_key *k;
    if (reference == NULL || reference_sz != sizeof(k))
        return NULL;
    k = *(dcpki_key *const *)reference;
    if (!dcpki_is_key(k) || k->type != type)
        return NULL;
    return dcpki_key_ref(k);
}

static void dcpki_km_free(void *keydata)
{
    dcpki_fwd_key *f = keydata;
    if (dcpki_is_fwd(f)) {
        KM(f, free, OSSL_FUNC_KEYMGMT_FREE)(f->inner);
        free(f);
        return;
    }
    dcpki_key_free(keydata);
}

static int dcpki_km_has(const void *keydata, int selection, int type)
{
    const dcpki_key *k = keydata;
    const dcpki_fwd_key *f = keydata;
    if (dcpki_is_fwd(f))
        return f->type == type && KM(f, has, OSSL_FUNC_KEYMGMT_HAS)(f->inner, selection);
    if (!dcpki_is_key(k) || k->type != type || k->pkey == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !k->has_private)
        return 0;
    return 1;
}

struct fwd_public_data {
    const dcpki_fwd_key *f;
    EVP_PKEY *pk;
};

static int fwd_to_pkey(const OSSL_PARAM params[], void *arg)
{
    struct fwd_public_data *d = arg;
    EVP_PKEY_CTX *pctx = EVP_PKEY_CTX_new_from_name(dcpki_prov_libctx(d->f->prov),
                                                    d->f->type == EVP_PKEY_RSA ? "RSA" : "EC",
                                                    NULL);
    int ok = pctx != NULL && EVP_PKEY_fromdata_init(pctx) == 1
             && EVP_PKEY_fromdata(pctx, &d->pk, EVP_PKEY_PUBLIC_KEY, (OSSL_PARAM *)params) == 1;
    EVP_PKEY_CTX_free(pctx);
    return ok;
}

/* The public half of a forwarded key as an EVP_PKEY in our library context,
 * to compare it with a dcpki key's public key (EVP_PKEY_eq of a peer or
 * certificate key with ours exports one into the other's keymgmt first,
 * ossl crypto/evp/p_lib.c evp_pkey_cmp_any). */
static EVP_PKEY *fwd_public(const dcpki_fwd_key *f)
{
    struct fwd_public_data d = { f, NULL };
    if (!KM(f, export, OSSL_FUNC_KEYMGMT_EXPORT)(
            f->inner, OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS,
            fwd_to_pkey, &d)) {
        EVP_PKEY_free(d.pk);
        return NULL;
    }
    return d.pk;
}

static int dcpki_km_match(const void *keydata1, const void *keydata2, int selection, int type)
{
    const dcpki_key *a = keydata1, *b = keydata2;
    const dcpki_fwd_key *fa = keydata1, *fb = keydata2;
    EVP_PKEY *tmp = NULL;
    int ok = 1;
    if (dcpki_is_fwd(fa) && dcpki_is_fwd(fb))
        return KM(fa, match, OSSL_FUNC_KEYMGMT_MATCH)(fa->inner, fb->inner, selection);
    if (dcpki_is_fwd(fa) || dcpki_is_fwd(fb)) {
        const dcpki_key *k = dcpki_is_fwd(fa) ? b : a;
        const dcpki_fwd_key *f = dcpki_is_fwd(fa) ? fa : fb;
        if (!dcpki_is_key(k) || k->type != type || f->type != type || k->pkey == NULL)
            return 0;
        if ((tmp = fwd_public(f)) == NULL)
            return 0;
        /* Private halves are identical exactly when the public halves are. */
        ok = EVP_PKEY_eq(tmp, k->pkey) == 1;
        EVP_PKEY_free(tmp);
        return ok;
    }
    if (!dcpki_is_key(a) || !dcpki_is_key(b) || a->type != type || b->type != type
        || a->pkey == NULL || b->pkey == NULL)
        return 0;
    if (a == b)
        return 1;
    if ((selection & OSSL_KEYMGMT_SELECT_ALL_PARAMETERS) != 0)
        ok = ok && EVP_PKEY_parameters_eq(a->pkey, b->pkey) == 1;
    /* Private halves are identical exactly when the public halves are. */
    if ((selection & OSSL_KEYMGMT_SELECT_KEYPAIR) != 0)
        ok = ok && EVP_PKEY_eq(a->pkey, b->pkey) == 1;
    return ok;
}

/* Answer only the public parameters named in allowed; everything is read
 * from the public key (or the RA key) in our private library context. */
static int dcpki_km_get_params(void *keydata, OSSL_PARAM params[], const char *const *allowed, int type)
{
    dcpki_key *k = keydata;
    dcpki_fwd_key *f = keydata;
    if (dcpki_is_fwd(f))
        return KM(f, get_params, OSSL_FUNC_KEYMGMT_GET_PARAMS)(f->inner, params);
    if (!dcpki_is_key(k) || k->type != type || k->pkey == NULL)
        return 0;
    for (OSSL_PARAM *p = params; p != NULL && p->key != NULL; p++) {
        int known = 0;
        for (const char *const *a = allowed; *a != NULL; a++) {
            if (strcmp(*a, p->key) == 0) {
                known = 1;
                break;
            }
        }
        if (!known)
            continue;
        if (strcmp(p->key, OSSL_PKEY_PARAM_DEFAULT_DIGEST) == 0) {
            if (!OSSL_PARAM_set_utf8_string(p, "SHA256"))
                return 0;
            continue;
        }
        if (strcmp(p->key, OSSL_PKEY_PARAM_MAX_SIZE) == 0) {
            if (!OSSL_PARAM_set_int(p, (int)dcpki_key_max_sig_size(k)))
                return 0;
            continue;
        }
        OSSL_PARAM one[2];
        one[0] = *p;
        one[1] = OSSL_PARAM_construct_end();
        if (!EVP_PKEY_get_params(k->pkey, one))
            return 0;
        p->return_size = one[0].return_size;
    }
    return 1;
}

int dcpki_km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg, int type)
{
    dcpki_key *k = keydata;
    dcpki_fwd_key *f = keydata;
    OSSL_PARAM *params = NULL;
    int ok;

    if (dcpki_is_fwd(f))
        return KM(f, export, OSSL_FUNC_KEYMGMT_EXPORT)(f->inner, selection, cb, cbarg);
    if (!dcpki_is_key(k) || k->type != type || k->pkey == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0) {
        /* Not an error on the queue: libcrypto tries this on every signature
         * and then falls back to our signature implementation. */
        DCPKI_DEBUG("dcpki provider: refused to export the private key of %s", k->uri);
        return 0;
    }
    selection &= OSSL_KEYMGMT_SELECT_PUBLIC_KEY | OSSL_KEYMGMT_SELECT_ALL_PARAMETERS;
    if (selection == 0)
        return 0;
    if (EVP_PKEY_todata(k->pkey, selection, &params) != 1)
        return 0;
    ok = cb(params, cbarg);
    OSSL_PARAM_free(params);
    return ok;
}

static int dcpki_km_import(void *keydata, int selection, const OSSL_PARAM params[])
{
    dcpki_fwd_key *f = keydata;
    /* A dcpki key is never made from imported data: no other provider's key
     * (a peer's, a CA's) reaches the signing service. */
    if (!dcpki_is_fwd(f))
        return 0;
    return KM(f, import, OSSL_FUNC_KEYMGMT_IMPORT)(f->inner, selection, params);
}

static int dcpki_km_set_params(void *keydata, const OSSL_PARAM params[])
{
    dcpki_fwd_key *f = keydata;
    OSSL_FUNC_keymgmt_set_params_fn *fn;
    if (!dcpki_is_fwd(f))
        return 1; /* dcpki keys have nothing settable; as if absent (keymgmt_meth.c) */
    fn = KM(f, set_params, OSSL_FUNC_KEYMGMT_SET_PARAMS);
    return fn == NULL || fn(f->inner, params);
}

static int dcpki_km_validate(const void *keydata, int selection, int checktype)
{
    const dcpki_fwd_key *f = keydata;
    OSSL_FUNC_keymgmt_validate_fn *fn;
    if (!dcpki_is_fwd(f))
        return dcpki_is_key(keydata); /* the service holds the key; nothing to check here */
    fn = KM(f, validate, OSSL_FUNC_KEYMGMT_VALIDATE);
    return fn == NULL || fn(f->inner, selection, checktype);
}

static void *dcpki_km_dup(const void *keydata, int selection)
{
    const dcpki_fwd_key *f = keydata;
    OSSL_FUNC_keymgmt_dup_fn *fn;
    if (dcpki_is_key(keydata)) /* immutable: a reference is a copy */
        return dcpki_key_ref((dcpki_key *)keydata);
    if (!dcpki_is_fwd(f) || (fn = KM(f, dup, OSSL_FUNC_KEYMGMT_DUP)) == NULL)
        return NULL;
    return dcpki_fwd_wrap(f->prov, f->type, fn(f->inner, selection));
}

/* import_types / export_types: the default provider's lists, which cover the
 * public parameters a dcpki key exports. */
static const OSSL_PARAM *dcpki_km_types(int type, int id, int selection)
{
    OSSL_FUNC_keymgmt_import_types_fn *fn =
        OSSL_FUNC_keymgmt_import_types(dcpki_fwd_entry(dcpki_fwd_km_any(type), id));
    return fn == NULL ? NULL : fn(selection);
}

/* gettable_params / settable_params of the default provider. */
static const OSSL_PARAM *dcpki_km_provctx_params(dcpki_prov *prov, int type, int id)
{
    OSSL_FUNC_keymgmt_gettable_params_fn *fn =
        OSSL_FUNC_keymgmt_gettable_params(dcpki_fwd_entry(dcpki_fwd_km(prov, type), id));
    return fn == NULL ? NULL : fn(prov->deflt_provctx);
}

/* ---- key generation: always the default provider's ---- */

typedef struct {
    dcpki_prov *prov;
    int type;
    const OSSL_DISPATCH *km;
    void *inner;
} dcpki_fwd_gen;

#define GEN(g, name, id) DCPKI_FWD_FN((g)->km, keymgmt_##name, (id))

static void *dcpki_km_gen_init(void *provctx, int selection, const OSSL_PARAM params[], int type)
{
    dcpki_prov *prov = provctx;
    dcpki_fwd_gen *g = calloc(1, sizeof(*g));
    OSSL_FUNC_keymgmt_gen_init_fn *fn;
    if (g == NULL) {
        DCPKI_RAISE(prov, DCPKI_E_NOMEM, "out of memory");
        return NULL;
    }
    g->prov = prov;
    g->type = type;
    g->km = dcpki_fwd_km(prov, type);
    fn = GEN(g, gen_init, OSSL_FUNC_KEYMGMT_GEN_INIT);
    if (fn == NULL || (g->inner = fn(prov->deflt_provctx, selection, params)) == NULL) {
        free(g);
        return NULL;
    }
    return g;
}

static int dcpki_km_gen_set_template(void *genctx, void *templ)
{
    dcpki_fwd_gen *g = genctx;
    dcpki_fwd_key *t = templ;
    OSSL_FUNC_keymgmt_gen_set_template_fn *fn = GEN(g, gen_set_template,
                                                    OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE);
    /* The default RSA keymgmt takes no template: libcrypto then ignores it
     * and succeeds (ossl crypto/evp/keymgmt_meth.c evp_keymgmt_gen_set_template). */
    if (fn == NULL)
        return 1;
    if (!dcpki_is_fwd(t) || t->type != g->type) {
        DCPKI_RAISE(g->prov, DCPKI_R_NOT_OURS,
                    "a dcpki key cannot serve as a key generation template");
        return 0;
    }
    return fn(g->inner, t->inner);
}

static int dcpki_km_gen_set_params(void *genctx, const OSSL_PARAM params[])
{
    dcpki_fwd_gen *g = genctx;
    OSSL_FUNC_keymgmt_gen_set_params_fn *fn = GEN(g, gen_set_params,
                                                  OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS);
    return fn != NULL && fn(g->inner, params);
}

static const OSSL_PARAM *dcpki_km_gen_settable_params(void *genctx, void *provctx, int type)
{
    dcpki_prov *prov = provctx;
    dcpki_fwd_gen *g = genctx;
    OSSL_FUNC_keymgmt_gen_settable_params_fn *fn = OSSL_FUNC_keymgmt_gen_settable_params(
        dcpki_fwd_entry(dcpki_fwd_km(prov, type), OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS));
    return fn == NULL ? NULL : fn(g != NULL ? g->inner : NULL, prov->deflt_provctx);
}

static void *dcpki_km_gen(void *genctx, OSSL_CALLBACK *cb, void *cbarg)
{
    dcpki_fwd_gen *g = genctx;
    OSSL_FUNC_keymgmt_gen_fn *fn = GEN(g, gen, OSSL_FUNC_KEYMGMT_GEN);
    return fn == NULL ? NULL : dcpki_fwd_wrap(g->prov, g->type, fn(g->inner, cb, cbarg));
}

static void dcpki_km_gen_cleanup(void *genctx)
{
    dcpki_fwd_gen *g = genctx;
    if (g == NULL)
        return;
    GEN(g, gen_cleanup, OSSL_FUNC_KEYMGMT_GEN_CLEANUP)(g->inner);
    free(g);
}

/* ---- the RSA and EC dispatch tables ---- */

static const char *const rsa_public_names[] = {
    OSSL_PKEY_PARAM_BITS, OSSL_PKEY_PARAM_SECURITY_BITS, OSSL_PKEY_PARAM_MAX_SIZE,
    OSSL_PKEY_PARAM_DEFAULT_DIGEST, OSSL_PKEY_PARAM_RSA_N, OSSL_PKEY_PARAM_RSA_E, NULL
};

static const char *const ec_public_names[] = {
    OSSL_PKEY_PARAM_BITS, OSSL_PKEY_PARAM_SECURITY_BITS, OSSL_PKEY_PARAM_MAX_SIZE,
    OSSL_PKEY_PARAM_DEFAULT_DIGEST, OSSL_PKEY_PARAM_GROUP_NAME,
    OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, OSSL_PKEY_PARAM_PUB_KEY, OSSL_PKEY_PARAM_EC_PUB_X,
    OSSL_PKEY_PARAM_EC_PUB_Y, OSSL_PKEY_PARAM_EC_POINT_CONVERSION_FORMAT,
    OSSL_PKEY_PARAM_EC_ENCODING, OSSL_PKEY_PARAM_EC_FIELD_TYPE, NULL
};

/* As the default provider's keymgmt (providers/implementations/keymgmt/
 * rsa_kmgmt.c and ec_kmgmt.c, *_query_operation_name): our signature for
 * dcpki EC keys is named ECDSA too, ECDH goes to the default provider. */
static const char *rsa_query_operation_name(int operation_id)
{
    return "RSA";
}

static const char *ec_query_operation_name(int operation_id)
{
    switch (operation_id) {
    case OSSL_OP_KEYEXCH: return "ECDH";
    case OSSL_OP_SIGNATURE: return "ECDSA";
    default: return NULL;
    }
}

/* The entry points that take the key type, typed for p (rsa, ec) and T
 * (EVP_PKEY_RSA, EVP_PKEY_EC), and the keymgmt dispatch table
 * dcpki_<p>_keymgmt_functions. */
#define KEYMGMT_FUNCTIONS(p, T)                                                                    \
    static void *p##_new(void *provctx)                                                            \
    {                                                                                              \
        return dcpki_km_new(provctx, T);                                                           \
    }                                                                                              \
    static void *p##_load(const void *reference, size_t reference_sz)                              \
    {                                                                                              \
        return dcpki_km_load(reference, reference_sz, T);                                          \
    }                                                                                              \
    static int p##_has(const void *keydata, int selection)                                         \
    {                                                                                              \
        return dcpki_km_has(keydata, selection, T);                                                \
    }                                                                                              \
    static int p##_match(const void *k1, const void *k2, int selection)                            \
    {                                                                                              \
        return dcpki_km_match(k1, k2, selection, T);                                               \
    }                                                                                              \
    static int p##_get_params(void *keydata, OSSL_PARAM params[])                                  \
    {                                                                                              \
        return dcpki_km_get_params(keydata, params, p##_public_names, T);                          \
    }                                                                                              \
    static const OSSL_PARAM *p##_gettable_params(void *provctx)                                    \
    {                                                                                              \
        return dcpki_km_provctx_params(provctx, T, OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS);             \
    }                                                                                              \
    static const OSSL_PARAM *p##_settable_params(void *provctx)                                    \
    {                                                                                              \
        return dcpki_km_provctx_params(provctx, T, OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS);             \
    }                                                                                              \
    static void *p##_gen_init(void *provctx, int selection, const OSSL_PARAM params[])             \
    {                                                                                              \
        return dcpki_km_gen_init(provctx, selection, params, T);                                   \
    }                                                                                              \
    static const OSSL_PARAM *p##_gen_settable_params(void *genctx, void *provctx)                  \
    {                                                                                              \
        return dcpki_km_gen_settable_params(genctx, provctx, T);                                   \
    }                                                                                              \
    static int p##_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)            \
    {                                                                                              \
        return dcpki_km_export(keydata, selection, cb, cbarg, T);                                  \
    }                                                                                              \
    static const OSSL_PARAM *p##_export_types(int selection)                                       \
    {                                                                                              \
        return dcpki_km_types(T, OSSL_FUNC_KEYMGMT_EXPORT_TYPES, selection);                       \
    }                                                                                              \
    static const OSSL_PARAM *p##_import_types(int selection)                                       \
    {                                                                                              \
        return dcpki_km_types(T, OSSL_FUNC_KEYMGMT_IMPORT_TYPES, selection);                       \
    }                                                                                              \
    const OSSL_DISPATCH dcpki_##p##_keymgmt_functions[] = {                                        \
        { OSSL_FUNC_KEYMGMT_NEW, (void (*)(void))p##_new },                                        \
        { OSSL_FUNC_KEYMGMT_LOAD, (void (*)(void))p##_load },                                      \
        { OSSL_FUNC_KEYMGMT_HAS, (void (*)(void))p##_has },                                        \
        { OSSL_FUNC_KEYMGMT_MATCH, (void (*)(void))p##_match },                                    \
        { OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*)(void))p##_get_params },                          \
        { OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*)(void))p##_gettable_params },                \
        { OSSL_FUNC_KEYMGMT_EXPORT, (void (*)(void))p##_export },                                  \
        { OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*)(void))p##_export_types },                      \
        { OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*)(void))p##_import_types },                      \
        { OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*)(void))p##_query_operation_name },      \
        { OSSL_FUNC_KEYMGMT_SETTABLE_PARAMS, (void (*)(void))p##_settable_params },                \
        { OSSL_FUNC_KEYMGMT_GEN_INIT, (void (*)(void))p##_gen_init },                              \
        { OSSL_FUNC_KEYMGMT_GEN_SETTABLE_PARAMS, (void (*)(void))p##_gen_settable_params },        \
        { OSSL_FUNC_KEYMGMT_FREE, (void (*)(void))dcpki_km_free },                                 \
        { OSSL_FUNC_KEYMGMT_IMPORT, (void (*)(void))dcpki_km_import },                             \
        { OSSL_FUNC_KEYMGMT_SET_PARAMS, (void (*)(void))dcpki_km_set_params },                     \
        { OSSL_FUNC_KEYMGMT_VALIDATE, (void (*)(void))dcpki_km_validate },                         \
        { OSSL_FUNC_KEYMGMT_DUP, (void (*)(void))dcpki_km_dup },                                   \
        { OSSL_FUNC_KEYMGMT_GEN_SET_TEMPLATE, (void (*)(void))dcpki_km_gen_set_template },         \
        { OSSL_FUNC_KEYMGMT_GEN_SET_PARAMS, (void (*)(void))dcpki_km_gen_set_params },             \
        { OSSL_FUNC_KEYMGMT_GEN, (void (*)(void))dcpki_km_gen },                                   \
        { OSSL_FUNC_KEYMGMT_GEN_CLEANUP, (void (*)(void))dcpki_km_gen_cleanup },                   \
        { 0, NULL }                                                                                \
    };
KEYMGMT_FUNCTIONS(rsa, EVP_PKEY_RSA)
KEYMGMT_FUNCTIONS(ec, EVP_PKEY_EC)
#undef KEYMGMT_FUNCTIONS

/* OpenSSL operations confined to one library context (dcpki/ossl.h). */
#include "dcpki/ossl.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/core_dispatch.h>
#include <openssl/decoder.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

EVP_PKEY *dcpki_pubkey_from_der(OSSL_LIB_CTX *libctx, const unsigned char *der, size_t len)
{
    EVP_PKEY *pkey = NULL;
    const unsigned char *p = der;
    size_t left = len;
    OSSL_DECODER_CTX *dc;

    if (!der || len == 0)
        return NULL;
    dc = OSSL_DECODER_CTX_new_for_pkey(&pkey, "DER", "SubjectPublicKeyInfo", NULL,
                                       EVP_PKEY_PUBLIC_KEY, libctx, NULL);
    if (!dc)
        return NULL;
    if (OSSL_DECODER_from_data(dc, &p, &left) != 1 || left != 0) {
        EVP_PKEY_free(pkey);
        pkey = NULL;
    }
    OSSL_DECODER_CTX_free(dc);
    return pkey;
}

EVP_PKEY *dcpki_cert_pubkey(OSSL_LIB_CTX *libctx, const X509 *x)
{
    unsigned char *der = NULL;
    int n = x ? i2d_X509_PUBKEY(X509_get_X509_PUBKEY(x), &der) : -1;
    EVP_PKEY *pkey = n > 0 ? dcpki_pubkey_from_der(libctx, der, (size_t)n) : NULL;
    OPENSSL_free(der);
    return pkey;
}

typedef void (*fn_ptr)(void); /* OSSL_DISPATCH's function type */

struct dcpki_digest {
    EVP_MD *md; /* holds the provider (and so its functions) */
    void *dctx;
    size_t size;
    OSSL_FUNC_digest_init_fn *init;
    OSSL_FUNC_digest_update_fn *update;
    OSSL_FUNC_digest_final_fn *final;
    OSSL_FUNC_digest_freectx_fn *freectx;
    OSSL_FUNC_digest_dupctx_fn *dupctx;
};

/* Whether name is one of the colon-separated names (provider-base(7),
 * OSSL_ALGORITHM algorithm_names), ignoring case. */
static int has_name(const char *names, const char *name)
{
    size_t k = strlen(name);
    while (*names) {
        size_t n = strcspn(names, ":");
        if (n == k && strncasecmp(names, name, n) == 0)
            return 1;
        names += n;
        if (*names == ':')
            names++;
    }
    return 0;
}

/* Copies into fns[id] (id < nfns) each function of the provider's
 * implementation of operation op named name. 1 when found. */
static int provider_fns(const OSSL_PROVIDER *prov, int op, const char *name, fn_ptr *fns, size_t nfns)
{
    int no_cache = 0, found = 0;
    const OSSL_ALGORITHM *algs = OSSL_PROVIDER_query_operation(prov, op, &no_cache);
    for (const OSSL_ALGORITHM *a = algs; a && a->algorithm_names && !found; a++) {
        if (!has_name(a->algorithm_names, name))
            continue;
        found = 1;
        for (const OSSL_DISPATCH *f = a->implementation; f->function_id != 0; f++)
            if (f->function_id > 0 && (size_t)f->function_id < nfns)
                fns[f->function_id] = f->function;
    }
    if (algs)
        OSSL_PROVIDER_unquery_operation(prov, op, algs);
    return found;
}

dcpki_digest *dcpki_digest_new(OSSL_LIB_CTX *libctx, const char *name)
{
    fn_ptr fns[OSSL_FUNC_DIGEST_DUPCTX + 1] = { 0 };
    const OSSL_PROVIDER *prov;
    dcpki_digest *d = calloc(1, sizeof(*d));

    if (!d)
        return NULL;
    /* the fetch picks the provider as libctx's properties say; the name as
     * the provider spells it is then looked up in that provider's table */
    if (!(d->md = EVP_MD_fetch(libctx, name, NULL)) || EVP_MD_get_size(d->md) <= 0 ||
        !(prov = EVP_MD_get0_provider(d->md)) ||
        !provider_fns(prov, OSSL_OP_DIGEST, EVP_MD_get0_name(d->md), fns, sizeof(fns) / sizeof(fns[0])))
        goto err;
    d->size = (size_t)EVP_MD_get_size(d->md);
    d->init = (OSSL_FUNC_digest_init_fn *)fns[OSSL_FUNC_DIGEST_INIT];
    d->update = (OSSL_FUNC_digest_update_fn *)fns[OSSL_FUNC_DIGEST_UPDATE];
    d->final = (OSSL_FUNC_digest_final_fn *)fns[OSSL_FUNC_DIGEST_FINAL];
    d->freectx = (OSSL_FUNC_digest_freectx_fn *)fns[OSSL_FUNC_DIGEST_FREECTX];
    d->dupctx = (OSSL_FUNC_digest_dupctx_fn *)fns[OSSL_FUNC_DIGEST_DUPCTX];
    if (!fns[OSSL_FUNC_DIGEST_NEWCTX] || !d->init || !d->update || !d->final || !d->freectx)
        goto err;
    d->dctx = ((OSSL_FUNC_digest_newctx_fn *)fns[OSSL_FUNC_DIGEST_NEWCTX])(OSSL_PROVIDER_get0_provider_ctx(prov));
    if (!d->dctx || !dcpki_digest_init(d))
        goto err;
    return d;
err:
    dcpki_digest_free(d);
    ERR_clear_error();
    return NULL;
}

dcpki_digest *dcpki_digest_dup(const dcpki_digest *d)
{
    dcpki_digest *c = d && d->dupctx ? calloc(1, sizeof(*c)) : NULL;
    if (!c)
        return NULL;
    *c = *d;
    c->dctx = NULL;
    if (!EVP_MD_up_ref(d->md)) {
        free(c);
        return NULL;
    }
    if (!(c->dctx = d->dupctx(d->dctx))) {
        dcpki_digest_free(c);
        ERR_clear_error();
        return NULL;
    }
    return c;
}

size_t dcpki_digest_size(const dcpki_digest *d)
{
    return d->size;
}

int dcpki_digest_init(dcpki_digest *d)
{
    return d->init(d->dctx, NULL) == 1;
}

int dcpki_digest_update(dcpki_digest *d, const void *data, size_t len)
{
    return len == 0 || d->update(d->dctx, data, len) == 1;
}

int dcpki_digest_final(dcpki_digest *d, unsigned char *out, size_t outsz)
{
    size_t n = 0;
    return outsz >= d->size && d->final(d->dctx, out, &n, outsz) == 1 && n == d->size;
}

void dcpki_digest_free(dcpki_digest *d)
{
    if (!d)
        return;
    if (d->dctx)
        d->freectx(d->dctx);
    EVP_MD_free(d->md);
    free(d);
}

int dcpki_digest_once(OSSL_LIB_CTX *libctx, const char *name, const void *data, size_t len,
                      unsigned char *out, size_t outsz)
{
    dcpki_digest *d = dcpki_digest_new(libctx, name);
    int ok = d && dcpki_digest_update(d, data, len) && dcpki_digest_final(d, out, outsz);
    dcpki_digest_free(d);
    return ok;
}

/* The key as the signature provider's own key object: its parameters
 * (EVP_PKEY_todata, answered by the key's provider) imported by the keymgmt
 * of the provider that implements the signature. */
typedef struct prov_key {
    void *keydata;
    OSSL_FUNC_keymgmt_free_fn *free;
} prov_key;

static int prov_key_import(const OSSL_PROVIDER *prov, EVP_PKEY *pkey, int selection, prov_key *out)
{
    fn_ptr fns[OSSL_FUNC_KEYMGMT_IMPORT + 1] = { 0 };
    OSSL_PARAM *params = NULL;
    OSSL_FUNC_keymgmt_new_fn *knew;
    OSSL_FUNC_keymgmt_import_fn *import;
    int ok;

    out->keydata = NULL;
    if (!provider_fns(prov, OSSL_OP_KEYMGMT, EVP_PKEY_get0_type_name(pkey), fns, sizeof(fns) / sizeof(fns[0])))
        return 0;
    knew = (OSSL_FUNC_keymgmt_new_fn *)fns[OSSL_FUNC_KEYMGMT_NEW];
    import = (OSSL_FUNC_keymgmt_import_fn *)fns[OSSL_FUNC_KEYMGMT_IMPORT];
    out->free = (OSSL_FUNC_keymgmt_free_fn *)fns[OSSL_FUNC_KEYMGMT_FREE];
    if (!knew || !import || !out->free || EVP_PKEY_todata(pkey, selection, &params) != 1)
        return 0;
    ok = (out->keydata = knew(OSSL_PROVIDER_get0_provider_ctx(prov))) != NULL &&
         import(out->keydata, selection, params) == 1;
    OSSL_PARAM_free(params); /* clears the secure block of private parameters */
    if (!ok && out->keydata) {
        out->free(out->keydata);
        out->keydata = NULL;
    }
    return ok;
}

/* A signature context already initialised for one operation and parameter set
 * (RSA's verify_init fetches and checks the digest, a sixth of a verification's
 * own set-up): kept between signatures in the key's idle slots. */
typedef struct idle_ctx {
    void *ctx;
    int sign;
    int keep;           /* its parameters can be compared (same_params) */
    OSSL_PARAM *params; /* a copy of what the context was initialised with */
} idle_ctx;

#define IDLE_SLOTS 8

struct dcpki_prepared_key {
    EVP_SIGNATURE *sigalg; /* holds the provider (and so its functions) */
    void *provctx;
    prov_key key;
    OSSL_FUNC_signature_newctx_fn *newctx;
    OSSL_FUNC_signature_freectx_fn *freectx;
    OSSL_FUNC_signature_sign_init_fn *sign_init;
    OSSL_FUNC_signature_sign_fn *sign;
    OSSL_FUNC_signature_verify_init_fn *verify_init;
    OSSL_FUNC_signature_verify_fn *verify;
    /* taken and given back by atomic exchange: no lock, so nothing a fork
     * could leave held; the threads in flight beyond IDLE_SLOTS make their own */
    _Atomic(idle_ctx *) idle[IDLE_SLOTS];
    atomic_uint evict; /* the slot a context replaces when none is empty */
};

dcpki_prepared_key *dcpki_prepared_key_new(OSSL_LIB_CTX *libctx, EVP_PKEY *pkey, int with_private)
{
    fn_ptr fns[OSSL_FUNC_SIGNATURE_FREECTX + 1] = { 0 };
    const char *alg = EVP_PKEY_is_a(pkey, "EC") ? "ECDSA" : EVP_PKEY_get0_type_name(pkey);
    const OSSL_PROVIDER *prov;
    dcpki_prepared_key *k = calloc(1, sizeof(*k));

    if (!k)
        return NULL;
    /* a preference, not a requirement: in a context that also holds dcpki's
     * provider (the CLI's default one) its signatures are for its own keys */
    if (!alg || !(k->sigalg = EVP_SIGNATURE_fetch(libctx, alg, "?provider=default")) ||
        !(prov = EVP_SIGNATURE_get0_provider(k->sigalg)) ||
        !provider_fns(prov, OSSL_OP_SIGNATURE, EVP_SIGNATURE_get0_name(k->sigalg), fns,
                      sizeof(fns) / sizeof(fns[0])))
        goto err;
    k->provctx = OSSL_PROVIDER_get0_provider_ctx(prov);
    k->newctx = (OSSL_FUNC_signature_newctx_fn *)fns[OSSL_FUNC_SIGNATURE_NEWCTX];
    k->freectx = (OSSL_FUNC_signature_freectx_fn *)fns[OSSL_FUNC_SIGNATURE_FREECTX];
    k->sign_init = (OSSL_FUNC_signature_sign_init_fn *)fns[OSSL_FUNC_SIGNATURE_SIGN_INIT];
    k->sign = (OSSL_FUNC_signature_sign_fn *)fns[OSSL_FUNC_SIGNATURE_SIGN];
    k->verify_init = (OSSL_FUNC_signature_verify_init_fn *)fns[OSSL_FUNC_SIGNATURE_VERIFY_INIT];
    k->verify = (OSSL_FUNC_signature_verify_fn *)fns[OSSL_FUNC_SIGNATURE_VERIFY];
    if (!k->newctx || !k->freectx || !k->verify_init || !k->verify ||
        (with_private && (!k->sign_init || !k->sign)) ||
        !prov_key_import(prov, pkey, with_private ? OSSL_KEYMGMT_SELECT_ALL : OSSL_KEYMGMT_SELECT_PUBLIC_KEY |
                         OSSL_KEYMGMT_SELECT_ALL_PARAMETERS, &k->key))
        goto err;
    ERR_clear_error();
    return k;
err:
    dcpki_prepared_key_free(k);
    ERR_clear_error();
    return NULL;
}

static void idle_free(const dcpki_prepared_key *k, idle_ctx *c)
{
    if (!c)
        return;
    k->freectx(c->ctx);
    OSSL_PARAM_free(c->params);
    free(c);
}

void dcpki_prepared_key_free(dcpki_prepared_key *k)
{
    if (!k)
        return;
    for (int i = 0; i < IDLE_SLOTS; i++)
        idle_free(k, atomic_exchange(&k->idle[i], NULL));
    if (k->key.keydata)
        k->key.free(k->key.keydata);
    EVP_SIGNATURE_free(k->sigalg);
    free(k);
}

/* Parameters held by value: OSSL_PARAM_dup keeps a *_PTR parameter's pointer
 * (and its size), so a copy of such a set could not be compared later. */
static int params_by_value(const OSSL_PARAM *p)
{
    for (; p && p->key; p++)
        if (p->data_type == OSSL_PARAM_UTF8_PTR || p->data_type == OSSL_PARAM_OCTET_PTR)
            return 0;
    return 1;
}

/* The same parameters: names, types and values (a NULL array is the empty one). */
static int same_params(const OSSL_PARAM *a, const OSSL_PARAM *b)
{
    for (; a && a->key; a++, b++) {
        if (!b || !b->key || strcmp(a->key, b->key) != 0 || a->data_type != b->data_type ||
            a->data_size != b->data_size || (a->data_size && memcmp(a->data, b->data, a->data_size) != 0))
            return 0;
    }
    return !b || !b->key;
}

/* An idle context for (sign, params), or a new one initialised for them. */
static idle_ctx *ctx_take(dcpki_prepared_key *k, int sign, const OSSL_PARAM *params)
{
    int keep = params_by_value(params);
    for (int i = 0; keep && i < IDLE_SLOTS; i++) {
        idle_ctx *c = atomic_exchange(&k->idle[i], NULL);
        if (!c)
            continue;
        if (c->sign == sign && same_params(c->params, params))
            return c;
        idle_ctx *none = NULL;
        if (!atomic_compare_exchange_strong(&k->idle[i], &none, c))
            idle_free(k, c);
    }
    idle_ctx *c = calloc(1, sizeof(*c));
    if (!c || !(c->ctx = k->newctx(k->provctx, NULL))) {
        free(c);
        return NULL;
    }
    c->sign = sign;
    c->keep = keep;
    if ((keep && params && params->key && !(c->params = OSSL_PARAM_dup(params))) ||
        (sign ? k->sign_init(c->ctx, k->key.keydata, params) : k->verify_init(c->ctx, k->key.keydata, params)) != 1) {
        idle_free(k, c);
        return NULL;
    }
    return c;
}

/* Into an empty slot, else in place of the context of another slot in turn
 * (so parameter sets used now replace those used before). */
static void ctx_give_back(dcpki_prepared_key *k, idle_ctx *c)
{
    if (!c->keep) {
        idle_free(k, c);
        return;
    }
    for (int i = 0; i < IDLE_SLOTS; i++) {
        idle_ctx *none = NULL;
        if (atomic_compare_exchange_strong(&k->idle[i], &none, c))
            return;
    }
    idle_free(k, atomic_exchange(&k->idle[atomic_fetch_add(&k->evict, 1u) % IDLE_SLOTS], c));
}

int dcpki_prepared_key_idle(const dcpki_prepared_key *k)
{
    int n = 0;
    for (int i = 0; k && i < IDLE_SLOTS; i++)
        n += atomic_load(&((dcpki_prepared_key *)k)->idle[i]) != NULL;
    return n;
}

/* One signature with the provider's context on the prepared key: sign (sig
 * has room for *siglen bytes, *siglen set) or verify. A context that failed
 * is not kept. */
static int prepared_op(const dcpki_prepared_key *ck, int sign, const OSSL_PARAM *params, unsigned char *sig,
                       size_t *siglen, const unsigned char *tbs, size_t tbslen)
{
    dcpki_prepared_key *k = (dcpki_prepared_key *)ck; /* only its idle slots change */
    idle_ctx *c = k && (!sign || k->sign) ? ctx_take(k, sign, params) : NULL;
    int ok = c && (sign ? k->sign(c->ctx, sig, siglen, *siglen, tbs, tbslen) == 1
                        : k->verify(c->ctx, sig, *siglen, tbs, tbslen) == 1);
    if (ok)
        ctx_give_back(k, c);
    else if (c)
        idle_free(k, c);
    ERR_clear_error();
    return ok;
}

int dcpki_prepared_sign(const dcpki_prepared_key *k, const OSSL_PARAM *params, unsigned char *sig, size_t *siglen,
                        const unsigned char *tbs, size_t tbslen)
{
    return prepared_op(k, 1, params, sig, siglen, tbs, tbslen);
}

int dcpki_prepared_verify(const dcpki_prepared_key *k, const OSSL_PARAM *params, const unsigned char *sig,
                          size_t siglen, const unsigned char *tbs, size_t tbslen)
{
    return prepared_op(k, 0, params, (unsigned char *)sig, &siglen, tbs, tbslen);
}

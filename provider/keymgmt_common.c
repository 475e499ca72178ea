/* Key objects and the key management shared by RSA and EC.
 *
 * A dcpki key is an opaque reference: its private half stays with the signing
 * service (or, for dcpki:ra, in the RA identity of the core). Public parts are
 * exportable so that libcrypto can compare keys and encode SPKIs; every export
 * that selects the private key is refused, which also makes libcrypto fall
 * back to this provider's own signature implementation. Imports are refused
 * so that keys of other providers never land here. */
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
    free(k->uri);
    free(k);
}

size_t dcpki_key_max_sig_size(const dcpki_key *k)
{
    size_t kn = k->kp != NULL ? dcpki_keypair_max_sig_size(k->kp) : 0;
    if (kn != 0)
        return kn;
    int n = EVP_PKEY_get_size(k->pkey);
    return n > 0 ? (size_t)n : 0;
}

dcpki_key *dcpki_key_from_uri(dcpki_prov *prov, const dcpki_uri *uri, int want_private)
{
    dcpki_err err;
    dcpki_key *k;
    char buf[DCPKI_ALIAS_MAX * 3 + 64];
    dcpki_uri canon = *uri;

    if (!dcpki_prov_ready_for(prov, uri->kind != DCPKI_URI_RA))
        return NULL;
    k = dcpki_key_new(prov);
    if (k == NULL) {
        DCPKI_RAISE(prov, DCPKI_E_NOMEM, "out of memory");
        return NULL;
    }
    k->has_private = want_private;
    dcpki_err_clear(&err);
    if (uri->kind == DCPKI_URI_RA) {
        const dcpki_identity *id = dcpki_prov_identity(prov);
        if (id == NULL) {
            dcpki_key_free(k);
            return NULL;
        }
        /* a local key, or the public key of a key on a token (signed there) */
        EVP_PKEY *pk = dcpki_identity_key(id);
        if (pk == NULL)
            pk = X509_get0_pubkey(dcpki_identity_cert(id));
        if (pk == NULL || !EVP_PKEY_up_ref(pk)) {
            dcpki_err_set(&err, DCPKI_E_INTERNAL, "cannot reference the RA key");
            goto err;
        }
        k->pkey = pk;
        k->is_ra = 1;
    } else {
        dcpki_signing *sg = dcpki_prov_signing(prov);
        if (sg == NULL) {
            dcpki_key_free(k);
            return NULL;
        }
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

/* ---- keymgmt entry points shared by RSA and EC ---- */

/* An empty object: only so that libcrypto's key comparison, which first tries
 * to move the other key into ours, fails quietly in import instead of
 * leaving a "malloc failure" on the error queue. */
void *dcpki_km_new(void *provctx, int type)
{
    dcpki_key *k = dcpki_key_new(provctx);
    if (k != NULL)
        k->type = type;
    return k;
}

void *dcpki_km_load(const void *reference, size_t reference_sz, int type)
{
    dcpki_key *k;
    if (reference == NULL || reference_sz != sizeof(k))
        return NULL;
    k = *(dcpki_key *const *)reference;
    if (k == NULL || k->type != type)
        return NULL;
    return dcpki_key_ref(k);
}

void dcpki_km_free(void *keydata)
{
    dcpki_key_free(keydata);
}

int dcpki_km_has(const void *keydata, int selection, int type)
{
    const dcpki_key *k = keydata;
    if (k == NULL || k->type != type || k->pkey == NULL)
        return 0;
    if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) != 0 && !k->has_private)
        return 0;
    return 1;
}

int dcpki_km_match(const void *keydata1, const void *keydata2, int selection, int type)
{
    const dcpki_key *a = keydata1, *b = keydata2;
    int ok = 1;
    if (a == NULL || b == NULL || a->type != type || b->type != type || a->pkey == NULL
        || b->pkey == NULL)
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
int dcpki_km_get_params(void *keydata, OSSL_PARAM params[], const char *const *allowed, int type)
{
    dcpki_key *k = keydata;
    if (k == NULL || k->type != type || k->pkey == NULL)
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
    OSSL_PARAM *params = NULL;
    int ok;

    if (k == NULL || k->type != type || k->pkey == NULL)
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

int dcpki_km_import_refused(void *keydata, int selection, const OSSL_PARAM params[])
{
    /* Keys of other providers never become dcpki keys (no circular use of a
     * peer's or CA's key through the remote service). */
    return 0;
}

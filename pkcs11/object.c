/* The object store: per token, built at first need (C_FindObjectsInit) and
 * then fixed until C_Finalize, so handles stay valid and lookups need no I/O.
 *   "dcpki RA":      the RA private key, its public key and its certificate,
 *                    from the configured identity (no network);
 *   "dcpki signing": per remote key (dcpki_signing_list) a private key, a
 *                    public key and the certificate, labelled by alias, plus
 *                    the chain certificates (each once).
 * The three objects of a key share CKA_ID = SHA-1 of the public key bits.
 * With a PIN ([pkcs11] pin_file) the private keys are private objects
 * (CKA_PRIVATE, v2.40 §4.4): found and usable only while the user is logged
 * in. A load failure is not remembered: the next search tries again.
 *
 * Handles: bits 24-31 the slot + 1, bits 0-15 the object's place + 1, bits
 * 16-23 0 for a public object and, for a private one, a number derived from
 * the token's login generation, so that a private object's handle from an
 * earlier login stays invalid (v2.40 §5.6 C_Logout). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509.h>
#include "dcpki/ossl.h"
#include "p11.h"

#define RA_LABEL "ra"
#define HANDLE_SHIFT 24
#define GEN_SHIFT 16
#define IDX_MASK ((CK_OBJECT_HANDLE)0xFFFF)
#define GEN_MASK ((CK_OBJECT_HANDLE)0xFF)

/* set while this thread loads a token: a re-entry from below (GnuTLS loading
 * p11-kit's modules for a pkcs11: RA key that names one of our own tokens)
 * must fail instead of dead-locking */
static _Thread_local int in_load;

typedef struct objlist {
    p11_object **o;
    size_t n, cap;
} objlist;

static void object_free(p11_object *o)
{
    if (!o)
        return;
    p11_attrs_free(&o->attrs);
    dcpki_signer_free(o->signer);
    EVP_PKEY_free(o->pub);
    free(o);
}

static p11_object *objlist_new(objlist *l, CK_SLOT_ID slot)
{
    p11_object *o;
    if (l->n >= IDX_MASK) {
        p11_logf("a token holds more than %lu objects: not supported", (unsigned long)IDX_MASK);
        return NULL;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        p11_object **no = realloc(l->o, cap * sizeof(*no));
        if (!no)
            return NULL;
        l->o = no;
        l->cap = cap;
    }
    if (!(o = calloc(1, sizeof(*o))))
        return NULL;
    o->slot = slot;
    o->handle = ((CK_OBJECT_HANDLE)(slot + 1) << HANDLE_SHIFT) | (CK_OBJECT_HANDLE)(l->n + 1);
    l->o[l->n++] = o;
    return o;
}

static void objlist_free(objlist *l)
{
    for (size_t i = 0; i < l->n; i++)
        object_free(l->o[i]);
    free(l->o);
    memset(l, 0, sizeof(*l));
}

static X509 *parse_cert(p11_module *m, const unsigned char *der, size_t len)
{
    const unsigned char *p = der;
    X509 *x = X509_new_ex(m->libctx, NULL);
    if (!x)
        return NULL;
    if (!d2i_X509(&x, &p, (long)len)) {
        X509_free(x);
        return NULL;
    }
    return x;
}

/* Private key, public key and (when cert) certificate of one key pair; the
 * private key takes signer over, on success and on failure. */
static CK_RV add_key_objects(objlist *l, CK_SLOT_ID slot, EVP_PKEY *pub, X509 *cert,
                             const char *label, dcpki_signer *signer, int priv)
{
    unsigned char id[20], *subj = NULL;
    int subj_len = 0;
    size_t start = l->n;
    p11_object *o;
    CK_RV rv;

    if (!p11_key_id(pub, id)) {
        p11_logf("key %s: OpenSSL could not encode its public key to compute CKA_ID", label);
        dcpki_signer_free(signer);
        return CKR_FUNCTION_FAILED;
    }
    if (cert && (subj_len = i2d_X509_NAME(X509_get_subject_name(cert), &subj)) < 0) {
        dcpki_signer_free(signer);
        return CKR_HOST_MEMORY;
    }

    rv = CKR_HOST_MEMORY;
    if (!(o = objlist_new(l, slot))) {
        dcpki_signer_free(signer);
        goto done;
    }
    o->signer = signer;
    if ((rv = p11_build_private(o, pub, id, sizeof(id), label, subj, (size_t)subj_len, priv)) != CKR_OK)
        goto done;
    EVP_PKEY_up_ref(pub);
    o->pub = pub;

    rv = CKR_HOST_MEMORY;
    if (!(o = objlist_new(l, slot)))
        goto done;
    if ((rv = p11_build_public(o, pub, id, sizeof(id), label, subj, (size_t)subj_len)) != CKR_OK)
        goto done;
    EVP_PKEY_up_ref(pub);
    o->pub = pub;

    if (cert) {
        rv = CKR_HOST_MEMORY;
        if (!(o = objlist_new(l, slot)))
            goto done;
        rv = p11_build_cert(o, cert, id, sizeof(id), label, 1 /* token user */);
    }
done:
    OPENSSL_free(subj);
    if (rv != CKR_OK) /* all three or none */
        while (l->n > start)
            object_free(l->o[--l->n]);
    return rv;
}

static CK_RV load_ra(p11_module *m, objlist *l)
{
    const dcpki_identity *id;
    X509 *cert;
    EVP_PKEY *pub;
    dcpki_signer *signer;
    dcpki_err err;
    const dcpki_config *cfg;
    CK_RV rv = p11_config(m, &cfg);
    if (rv != CKR_OK)
        return rv;
    /* a client of the agent alone: the RA identity is the agent's, the token is empty */
    if (cfg->signing.agent && !dcpki_config_names_ra(cfg))
        return CKR_OK;
    rv = p11_backend_identity(m, &id);
    if (rv != CKR_OK)
        return rv;
    cert = dcpki_identity_cert(id);
    /* decoded again in the module's context: the certificate's own copy may
     * be a legacy key made by the host's ENGINE (dcpki/ossl.h) */
    if (!cert || !(pub = dcpki_cert_pubkey(m->libctx, cert))) {
        p11_logf("the RA certificate's public key could not be decoded (OpenSSL's default provider "
                 "reads RSA and EC SubjectPublicKeyInfo)");
        return CKR_DEVICE_ERROR;
    }
    dcpki_err_clear(&err);
    if (dcpki_signer_new_ra(id, &signer, &err) != DCPKI_OK) {
        EVP_PKEY_free(pub);
        p11_fail("preparing the RA key", &err);
        return CKR_DEVICE_ERROR;
    }
    rv = add_key_objects(l, P11_SLOT_RA, pub, cert, RA_LABEL, signer, p11_pin_required(m));
    EVP_PKEY_free(pub);
    /* the RA identity is the token's whole content: unusable, the token is */
    return rv == CKR_FUNCTION_FAILED ? CKR_DEVICE_ERROR : rv;
}

static int have_cert(const objlist *l, const unsigned char *der, size_t len)
{
    for (size_t i = 0; i < l->n; i++) {
        const p11_attr *a;
        if (l->o[i]->cls != CKO_CERTIFICATE)
            continue;
        a = p11_attrs_find(&l->o[i]->attrs, CKA_VALUE);
        if (a && a->len == len && memcmp(a->val, der, len) == 0)
            return 1;
    }
    return 0;
}

static CK_RV add_chain_cert(p11_module *m, objlist *l, const dcpki_keypair *kp, size_t idx)
{
    const dcpki_der *d = &kp->chain[idx];
    char label[320];
    unsigned char id[20];
    X509 *x;
    p11_object *o;
    CK_RV rv;

    if (!d->data || have_cert(l, d->data, d->len))
        return CKR_OK;
    if (!(x = parse_cert(m, d->data, d->len))) {
        p11_logf("keypair %s: chain certificate %zu is not valid DER; skipped", kp->alias, idx + 1);
        return CKR_OK;
    }
    /* label: the certificate's common name, else "<alias> chain <n>" */
    label[0] = '\0';
    if (X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, label,
                                  (int)sizeof(label)) <= 0)
        snprintf(label, sizeof(label), "%s chain %zu", kp->alias ? kp->alias : kp->id, idx + 1);
    if (!p11_cert_key_id(x, id))
        memset(id, 0, sizeof(id));
    rv = CKR_HOST_MEMORY;
    if ((o = objlist_new(l, P11_SLOT_SIGNING)))
        rv = p11_build_cert(o, x, id, sizeof(id), label, 2 /* authority */);
    X509_free(x);
    if (rv == CKR_FUNCTION_FAILED) { /* logged; the token goes on without it */
        object_free(l->o[--l->n]);
        rv = CKR_OK;
    }
    return rv;
}

static CK_RV load_signing(p11_module *m, objlist *l)
{
    dcpki_signing *s;
    dcpki_keypair **items = NULL;
    size_t n = 0;
    dcpki_err err;
    CK_RV rv = p11_backend_signing(m, &s);
    if (rv != CKR_OK)
        return rv;
    dcpki_err_clear(&err);
    if (dcpki_signing_list(s, &items, &n, &err) != DCPKI_OK)
        return p11_fail("listing the signing service's keypairs", &err);

    int priv = p11_pin_required(m);
    for (size_t i = 0; i < n && rv == CKR_OK; i++) {
        dcpki_keypair *kp = items[i], *full = NULL;
        const char *name = kp->alias ? kp->alias : kp->id;
        X509 *cert = NULL;
        if (!kp->pub || !name) {
            p11_logf("keypair %s has no public key; skipped", name ? name : "(unnamed)");
            continue;
        }
        if (!kp->cert.data && kp->alias) {
            /* the listing may omit certificates: describe fills them in */
            dcpki_err_clear(&err);
            if (dcpki_signing_describe(s, kp->alias, &full, &err) == DCPKI_OK && full->cert.data)
                kp = full;
        }
        dcpki_signer *signer = NULL;
        dcpki_err_clear(&err);
        if (dcpki_signer_new_remote(s, kp, &signer, &err) != DCPKI_OK) {
            /* neither RSA nor EC (e.g. EdDSA): not offered, the others are */
            p11_logf("keypair %s: skipped (%s); the token lists the other keys", name, err.detail);
            if (full)
                dcpki_keypair_free(full);
            continue;
        }
        if (kp->cert.data && !(cert = parse_cert(m, kp->cert.data, kp->cert.len)))
            p11_logf("keypair %s: its certificate is not valid DER; listed without it", name);
        rv = add_key_objects(l, P11_SLOT_SIGNING, kp->pub, cert, name, signer, priv);
        if (rv == CKR_FUNCTION_FAILED) {
            /* neither RSA nor EC (e.g. EdDSA), or unreadable (logged): not
             * offered, the others are */
            p11_logf("keypair %s: skipped; the token lists the other keys", name);
            rv = CKR_OK;
        }
        X509_free(cert);
        if (full)
            dcpki_keypair_free(full);
    }
    /* chain certificates after all end certificates, each once */
    for (size_t i = 0; i < n && rv == CKR_OK; i++)
        for (size_t j = 0; j < items[i]->chain_len && rv == CKR_OK; j++)
            rv = add_chain_cert(m, l, items[i], j);
    dcpki_keypairs_free(items, n);
    return rv;
}

CK_RV p11_token_load(p11_module *m, CK_SLOT_ID slot)
{
    p11_token *t = &m->tokens[slot];
    objlist l = { 0 };
    int loaded;
    CK_RV rv;

    if (in_load) {
        p11_logf("re-entered while loading a token: the RA key must not live on a dcpki token");
        return CKR_DEVICE_ERROR;
    }
    p11_lock(t->load_lock);
    p11_lock(m->lock);
    loaded = t->loaded;
    p11_unlock(m->lock);
    if (loaded) {
        p11_unlock(t->load_lock);
        return CKR_OK;
    }
    in_load = 1;
    rv = slot == P11_SLOT_RA ? load_ra(m, &l) : load_signing(m, &l);
    in_load = 0;
    if (rv == CKR_OK) {
        p11_lock(m->lock);
        t->objs = l.o;
        t->n_objs = l.n;
        t->cap_objs = l.cap;
        t->loaded = 1;
        p11_unlock(m->lock);
    } else {
        objlist_free(&l);
    }
    p11_unlock(t->load_lock);
    return rv;
}

static CK_OBJECT_HANDLE gen_bits(const p11_token *t)
{
    return (CK_OBJECT_HANDLE)(t->login_gen % GEN_MASK) + 1; /* 1..255: never a public handle's 0 */
}

int p11_object_visible(const p11_token *t, const p11_object *o)
{
    return !o->priv || t->login == CKU_USER;
}

CK_OBJECT_HANDLE p11_object_handle(const p11_token *t, const p11_object *o)
{
    return o->priv ? o->handle | (gen_bits(t) << GEN_SHIFT) : o->handle;
}

p11_object *p11_object_get(p11_module *m, CK_SLOT_ID slot, CK_OBJECT_HANDLE h)
{
    p11_token *t;
    p11_object *o = NULL;
    CK_OBJECT_HANDLE idx = h & IDX_MASK;
    if (!p11_slot_valid(slot) || (h >> HANDLE_SHIFT) != slot + 1 || idx == 0)
        return NULL;
    t = &m->tokens[slot];
    p11_lock(m->lock);
    if (t->loaded && idx <= t->n_objs) {
        o = t->objs[idx - 1];
        /* the whole handle must be today's: a public object's has no
         * generation bits, a private one's those of the current login */
        if (!p11_object_visible(t, o) || p11_object_handle(t, o) != h)
            o = NULL;
    }
    p11_unlock(m->lock);
    return o;
}

void p11_token_free_objects(p11_token *t)
{
    objlist l = { t->objs, t->n_objs, t->cap_objs };
    objlist_free(&l);
    t->objs = NULL;
    t->n_objs = t->cap_objs = 0;
    t->loaded = 0;
}

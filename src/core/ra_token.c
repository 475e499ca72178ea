/* The RA key on a PKCS#11 token ([ra] key = pkcs11:..., RFC 7512): signatures
 * are passed to that token through p11-kit's registered modules — never
 * through dcpki's own module, which is left out of the list. The modules are
 * loaded and initialised at the first signature, and again in a forked child
 * (PKCS#11 v2.40 §6.7.7: a child must call C_Initialize itself). The PIN comes
 * from the URI (pin-value, or pin-source naming a file). Each signature opens
 * a session on the token, logs in when a PIN is given, finds the private key
 * by the URI's attributes, signs with the raw mechanism (CKM_RSA_PKCS over a
 * DigestInfo, CKM_RSA_PKCS_PSS, CKM_ECDSA) and closes the session. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>

#include <openssl/crypto.h>

#include "dcpki/fork.h"
#include "dcpki/ossl.h"
#include "dcpki/signer.h"
#include "internal.h"

struct dcpki_ra_token {
    pthread_mutex_t lock;
    P11KitUri *uri;            /* as configured, parsed once, without its PIN */
    char *pin;                 /* pin-value, or pin-source's first line, read once: secret; NULL when none */
    CK_FUNCTION_LIST **mods;   /* initialised in the process of fork generation `forkgen` */
    unsigned long forkgen;
    int keep_loaded;           /* free without C_Finalize (see dcpki_ra_token_keep_loaded) */
};

static dcpki_code uri_pin(P11KitUri *uri, char **pin, dcpki_err *err)
{
    const char *v = p11_kit_uri_get_pin_value(uri), *src = p11_kit_uri_get_pin_source(uri);
    *pin = NULL;
    if (v)
        return (*pin = dcpki_secret_strdup(v)) ? DCPKI_OK : dcpki_err_set(err, DCPKI_E_NOMEM, "reading the token PIN");
    if (!src)
        return DCPKI_OK;
    if (strncmp(src, "file:", 5) == 0)
        src += 5;
    dcpki_err e;
    dcpki_err_clear(&e);
    if (dcpki_read_secret_file(src, pin, &e) != DCPKI_OK)
        return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "the PIN of the RA key's token (pin-source): %.400s",
                             e.detail);
    return DCPKI_OK;
}

dcpki_code dcpki_ra_token_new(const char *uri, dcpki_ra_token **out, dcpki_err *err)
{
    *out = NULL;
    P11KitUri *u = p11_kit_uri_new();
    if (!u)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "parsing [ra] key");
    int pr = p11_kit_uri_parse(uri, P11_KIT_URI_FOR_OBJECT_ON_TOKEN_AND_MODULE, u);
    if (pr != P11_KIT_URI_OK) {
        p11_kit_uri_free(u);
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE, "[ra] key is not a valid pkcs11: URI (RFC 7512): %s",
                             p11_kit_uri_message(pr));
    }
    struct dcpki_ra_token *t = calloc(1, sizeof(*t));
    dcpki_code rc = t ? DCPKI_OK : dcpki_err_set(err, DCPKI_E_NOMEM, "parsing [ra] key");
    /* the PIN is read now: a server that drops privileges after loading its
     * keys can no longer read a pin-source file when it signs; the parsed URI
     * kept then holds no PIN (p11-kit's copy is in ordinary memory) */
    if (rc == DCPKI_OK)
        rc = uri_pin(u, &t->pin, err);
    if (rc != DCPKI_OK) {
        p11_kit_uri_free(u);
        free(t);
        return rc;
    }
    p11_kit_uri_set_pin_value(u, NULL);
    p11_kit_uri_set_pin_source(u, NULL);
    t->uri = u;
    pthread_mutex_init(&t->lock, NULL);
    *out = t;
    return DCPKI_OK;
}

void dcpki_ra_token_free(dcpki_ra_token *t)
{
    if (!t)
        return;
    /* a forked child's copy belongs to the parent: never finalised here */
    if (t->mods && t->forkgen == dcpki_fork_generation() && !t->keep_loaded)
        p11_kit_modules_finalize_and_release(t->mods);
    pthread_mutex_destroy(&t->lock);
    p11_kit_uri_free(t->uri);
    dcpki_secret_free(t->pin);
    free(t);
}

void dcpki_ra_token_keep_loaded(dcpki_ra_token *t)
{
    if (t)
        t->keep_loaded = 1;
}

static void release_module(void *mod)
{
    p11_kit_module_release(mod);
}

/* dcpki's own PKCS#11 module must not serve its own RA key: the file that
 * holds this code, or any dcpki-pkcs11.so. */
static int is_dcpki_module(CK_FUNCTION_LIST *mod, const char *self)
{
    char *fn = p11_kit_module_get_filename(mod);
    if (!fn)
        return 0;
    char *rp = realpath(fn, NULL);
    const char *path = rp ? rp : fn;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    int same = (self && strcmp(path, self) == 0) || strcmp(base, "dcpki-pkcs11.so") == 0;
    free(rp);
    free(fn);
    return same;
}

/* t->lock held */
static dcpki_code load_modules(struct dcpki_ra_token *t, dcpki_err *err)
{
    if (t->mods && t->forkgen == dcpki_fork_generation())
        return DCPKI_OK;
    t->mods = NULL; /* a parent's modules: abandoned in a forked child */
    CK_FUNCTION_LIST **mods = p11_kit_modules_load(NULL, 0);
    if (!mods)
        return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                             "the RA key is on a PKCS#11 token, but p11-kit loaded no module: %s",
                             p11_kit_message() ? p11_kit_message() : "no registered modules");
    Dl_info info;
    char *self = dladdr((void *)&load_modules, &info) && info.dli_fname ? realpath(info.dli_fname, NULL) : NULL;
    size_t j = 0;
    for (size_t i = 0; mods[i]; i++) {
        if (is_dcpki_module(mods[i], self))
            p11_kit_module_release(mods[i]);
        else
            mods[j++] = mods[i];
    }
    mods[j] = NULL;
    free(self);
    /* modules that fail to initialise are dropped (and released) */
    CK_RV rv = p11_kit_modules_initialize(mods, release_module);
    if (rv != CKR_OK) {
        p11_kit_modules_release(mods);
        return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE, "p11-kit could not initialise the PKCS#11 modules: %s",
                             p11_kit_strerror(rv));
    }
    t->mods = mods;
    t->forkgen = dcpki_fork_generation();
    return DCPKI_OK;
}

/* Find the token and the key; on success *sess is open (the caller closes it). */
static dcpki_code open_key(CK_FUNCTION_LIST **mods, P11KitUri *uri, const char *pin, CK_FUNCTION_LIST **fl,
                           CK_SESSION_HANDLE *sess, CK_OBJECT_HANDLE *key, dcpki_err *err)
{
    for (size_t i = 0; mods[i]; i++) {
        CK_FUNCTION_LIST *f = mods[i];
        CK_INFO info;
        CK_SLOT_ID slots[64];
        CK_ULONG ns = 64;
        if (f->C_GetInfo(&info) != CKR_OK || !p11_kit_uri_match_module_info(uri, &info) ||
            f->C_GetSlotList(CK_TRUE, slots, &ns) != CKR_OK)
            continue;
        for (CK_ULONG k = 0; k < ns; k++) {
            CK_TOKEN_INFO ti;
            if (f->C_GetTokenInfo(slots[k], &ti) != CKR_OK || !p11_kit_uri_match_token_info(uri, &ti))
                continue;
            if (f->C_OpenSession(slots[k], CKF_SERIAL_SESSION, NULL, NULL, sess) != CKR_OK)
                continue;
            if (pin) {
                CK_RV rv = f->C_Login(*sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
                if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
                    f->C_CloseSession(*sess);
                    return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                                         "logging in to the RA key's token failed: %s%s", p11_kit_strerror(rv),
                                         rv == CKR_PIN_INCORRECT ? " (check pin-value or pin-source in [ra] key)" : "");
                }
            }
            CK_ULONG n_attrs = 0, found = 0, nt = 0;
            CK_ATTRIBUTE *attrs = p11_kit_uri_get_attributes(uri, &n_attrs);
            CK_ATTRIBUTE tmpl[16];
            CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
            tmpl[nt++] = (CK_ATTRIBUTE){ CKA_CLASS, &cls, sizeof(cls) };
            for (CK_ULONG a = 0; a < n_attrs && nt < 16; a++)
                if (attrs[a].type != CKA_CLASS)
                    tmpl[nt++] = attrs[a];
            if (f->C_FindObjectsInit(*sess, tmpl, nt) == CKR_OK) {
                if (f->C_FindObjects(*sess, key, 1, &found) != CKR_OK)
                    found = 0;
                f->C_FindObjectsFinal(*sess);
            }
            if (found == 1) {
                *fl = f;
                return DCPKI_OK;
            }
            f->C_CloseSession(*sess);
        }
    }
    return dcpki_err_set(err, DCPKI_E_RA_KEY_UNREADABLE,
                         "the RA key named by [ra] key was not found on any PKCS#11 token registered with p11-kit%s",
                         pin ? "" : " (no PIN given: add pin-value or pin-source to the URI if the token needs a login)");
}

/* DigestInfo prefixes (RFC 8017 §9.2, note 1) for CKM_RSA_PKCS. */
static const unsigned char di256[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                       0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
static const unsigned char di384[] = { 0x30, 0x41, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                       0x65, 0x03, 0x04, 0x02, 0x02, 0x05, 0x00, 0x04, 0x30 };
static const unsigned char di512[] = { 0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
                                       0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40 };

dcpki_code dcpki_ra_token_sign(dcpki_ra_token *t, const dcpki_prepared_key *verifier, dcpki_sig_scheme scheme,
                               const char *md, const unsigned char *data, size_t len, unsigned char **sig,
                               size_t *sig_len, dcpki_err *err)
{
    *sig = NULL;
    size_t hlen = 0;
    if ((md && !dcpki_md_canonical(md, &hlen)) || (scheme != DCPKI_SIG_RSA_RAW && hlen != len))
        return dcpki_err_set(err, DCPKI_E_UNSUPPORTED, "the RA key's token signs SHA-256, SHA-384 or SHA-512 digests");
    unsigned char buf[sizeof(di512) + 64];
    CK_RSA_PKCS_PSS_PARAMS pp;
    CK_MECHANISM mech = { CKM_RSA_PKCS, NULL, 0 };
    const unsigned char *in = data;
    size_t in_len = len;
    if (scheme == DCPKI_SIG_ECDSA) {
        mech.mechanism = CKM_ECDSA;
    } else if (scheme == DCPKI_SIG_RSA_PSS) {
        pp.hashAlg = hlen == 32 ? CKM_SHA256 : hlen == 48 ? CKM_SHA384 : CKM_SHA512;
        pp.mgf = hlen == 32 ? CKG_MGF1_SHA256 : hlen == 48 ? CKG_MGF1_SHA384 : CKG_MGF1_SHA512;
        pp.sLen = (CK_ULONG)hlen;
        mech.mechanism = CKM_RSA_PKCS_PSS;
        mech.pParameter = &pp;
        mech.ulParameterLen = sizeof(pp);
    } else if (scheme == DCPKI_SIG_RSA_PKCS1) {
        const unsigned char *prefix = hlen == 32 ? di256 : hlen == 48 ? di384 : di512;
        memcpy(buf, prefix, sizeof(di256));
        memcpy(buf + sizeof(di256), data, len);
        in = buf;
        in_len = sizeof(di256) + len;
    }

    CK_FUNCTION_LIST *f = NULL;
    CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE key;
    dcpki_code rc;
    pthread_mutex_lock(&t->lock);
    rc = load_modules(t, err);
    if (rc == DCPKI_OK)
        rc = open_key(t->mods, t->uri, t->pin, &f, &sess, &key, err);
    pthread_mutex_unlock(&t->lock);
    if (rc != DCPKI_OK)
        return rc;

    CK_ULONG n = 0;
    unsigned char *out = NULL;
    CK_RV rv = f->C_SignInit(sess, &mech, key);
    if (rv == CKR_OK)
        rv = f->C_Sign(sess, (CK_BYTE_PTR)in, (CK_ULONG)in_len, NULL, &n);
    if (rv == CKR_OK && !(out = OPENSSL_malloc(n ? n : 1)))
        rv = CKR_HOST_MEMORY;
    if (rv == CKR_OK)
        rv = f->C_Sign(sess, (CK_BYTE_PTR)in, (CK_ULONG)in_len, out, &n);
    f->C_CloseSession(sess);
    if (rv != CKR_OK) {
        OPENSSL_free(out);
        return dcpki_err_set(err, rv == CKR_HOST_MEMORY ? DCPKI_E_NOMEM : DCPKI_E_UNSUPPORTED,
                             "the RA key's token refused to sign: %s", p11_kit_strerror(rv));
    }
    size_t outlen = n;
    if (scheme == DCPKI_SIG_ECDSA) { /* PKCS#11 v2.40 §2.3.1: r||s */
        unsigned char *der = NULL;
        size_t dl = 0;
        int ok = dcpki_ecdsa_raw_to_der(out, outlen, &der, &dl);
        OPENSSL_free(out);
        if (!ok)
            return dcpki_err_set(err, DCPKI_E_BAD_SIGNATURE, "the RA key's token returned a malformed ECDSA signature");
        out = der;
        outlen = dl;
    }
    dcpki_sig_params sp;
    dcpki_sig_params_of(&sp, scheme, md);
    if (!dcpki_prepared_verify(verifier, sp.p, out, outlen, data, len)) {
        OPENSSL_free(out);
        return dcpki_err_set(err, DCPKI_E_BAD_SIGNATURE,
                             "the signature of the RA key's token does not verify with the RA certificate's public key (is [ra] key the certificate's key?)");
    }
    *sig = out;
    *sig_len = outlen;
    return DCPKI_OK;
}

/* The RA key on another PKCS#11 token ([ra] key = pkcs11:...): C_Sign is
 * passed on to that token through p11-kit's registered modules — never
 * through dcpki-pkcs11 itself, which is left out of the list. The modules are
 * loaded at the first such signature and finalised with the module. The PIN
 * comes from the URI (pin-value, or pin-source naming a file). Each signature
 * opens its own session on that token, logs in when the token wants it,
 * finds the key by the URI's attributes, signs with the raw mechanism
 * (CKM_RSA_PKCS over a DigestInfo, CKM_RSA_PKCS_PSS, CKM_ECDSA) and closes
 * the session. */
#define _GNU_SOURCE /* dladdr */
#include <dlfcn.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <p11-kit/p11-kit.h>
#include <p11-kit/uri.h>
#include "p11.h"

static void release_module(void *mod)
{
    p11_kit_module_release(mod);
}

/* realpath of the file that holds this code */
static char *own_path(void)
{
    Dl_info info;
    if (!dladdr((void *)&own_path, &info) || !info.dli_fname)
        return NULL;
    return realpath(info.dli_fname, NULL);
}

static int is_self(CK_FUNCTION_LIST *mod, const char *self)
{
    char *fn = p11_kit_module_get_filename(mod), *rp;
    int same;
    if (!fn || !self) {
        free(fn);
        return 0;
    }
    rp = realpath(fn, NULL);
    same = strcmp(rp ? rp : fn, self) == 0;
    free(rp);
    free(fn);
    return same;
}

/* core_lock held */
static CK_RV load_modules(p11_module *m)
{
    CK_FUNCTION_LIST **mods;
    char *self;
    size_t i, j;
    CK_RV rv;
    if (m->ra_modules)
        return CKR_OK;
    if (!(mods = p11_kit_modules_load(NULL, 0))) {
        p11_logf("the RA key is on a PKCS#11 token, but p11-kit loaded no module: %s",
                 p11_kit_message() ? p11_kit_message() : "no registered modules");
        return CKR_DEVICE_ERROR;
    }
    self = own_path();
    for (i = j = 0; mods[i]; i++) {
        if (is_self(mods[i], self))
            p11_kit_module_release(mods[i]);
        else
            mods[j++] = mods[i];
    }
    mods[j] = NULL;
    free(self);
    /* modules that fail to initialise are dropped (and released) */
    rv = p11_kit_modules_initialize(mods, release_module);
    if (rv != CKR_OK) {
        p11_logf("p11-kit could not initialise the PKCS#11 modules: %s", p11_kit_strerror(rv));
        p11_kit_modules_release(mods);
        return CKR_DEVICE_ERROR;
    }
    m->ra_modules = mods;
    return CKR_OK;
}

void p11_ratoken_free(p11_module *m)
{
    if (m->ra_modules)
        p11_kit_modules_finalize_and_release(m->ra_modules);
    m->ra_modules = NULL;
}

static char *uri_pin(P11KitUri *uri, const dcpki_tls_client_creds *creds)
{
    const char *v = p11_kit_uri_get_pin_value(uri), *src = p11_kit_uri_get_pin_source(uri);
    char *pin = NULL;
    if (v)
        return strdup(v);
    if (src) {
        if (strncmp(src, "file:", 5) == 0)
            src += 5;
        if (dcpki_read_secret_file(src, &pin, NULL) == DCPKI_OK)
            return pin;
        p11_logf("cannot read the PIN of the RA key's token from %s", src);
        return NULL;
    }
    return creds->password ? strdup(creds->password) : NULL;
}

/* Find the token and the key; on success *sess is open (caller closes). */
static CK_RV open_key(CK_FUNCTION_LIST **mods, P11KitUri *uri, const char *pin, CK_FUNCTION_LIST **fl,
                      CK_SESSION_HANDLE *sess, CK_OBJECT_HANDLE *key)
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
            CK_ULONG n_attrs = 0, found = 0;
            CK_ATTRIBUTE *attrs;
            CK_ATTRIBUTE tmpl[16];
            CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
            CK_ULONG nt = 0;
            CK_RV rv;
            if (f->C_GetTokenInfo(slots[k], &ti) != CKR_OK || !p11_kit_uri_match_token_info(uri, &ti))
                continue;
            if (f->C_OpenSession(slots[k], CKF_SERIAL_SESSION, NULL, NULL, sess) != CKR_OK)
                continue;
            if (pin) {
                rv = f->C_Login(*sess, CKU_USER, (CK_UTF8CHAR_PTR)pin, (CK_ULONG)strlen(pin));
                if (rv != CKR_OK && rv != CKR_USER_ALREADY_LOGGED_IN) {
                    f->C_CloseSession(*sess);
                    p11_logf("logging in to the RA key's token failed: %s", p11_kit_strerror(rv));
                    return CKR_FUNCTION_FAILED;
                }
            }
            attrs = p11_kit_uri_get_attributes(uri, &n_attrs);
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
                return CKR_OK;
            }
            f->C_CloseSession(*sess);
        }
    }
    p11_logf("the RA key named by [ra] key was not found on any PKCS#11 token%s",
             pin ? "" : " (no PIN given: add pin-value or pin-source to the URI if the token needs a login)");
    return CKR_DEVICE_ERROR;
}

CK_RV p11_ratoken_sign(p11_module *m, CK_MECHANISM *mech, const unsigned char *in, size_t in_len,
                       unsigned char *out, size_t out_len)
{
    const dcpki_identity *id;
    dcpki_tls_client_creds creds;
    P11KitUri *uri = NULL;
    CK_FUNCTION_LIST *f = NULL;
    CK_SESSION_HANDLE sess = CK_INVALID_HANDLE;
    CK_OBJECT_HANDLE key;
    CK_ULONG n = (CK_ULONG)out_len;
    char *pin = NULL;
    CK_RV rv = p11_backend_identity(m, &id);
    if (rv != CKR_OK)
        return rv;
    dcpki_identity_tls_creds(id, &creds);
    if (!creds.key_path)
        return CKR_FUNCTION_FAILED;
    p11_lock(m->core_lock);
    rv = load_modules(m);
    p11_unlock(m->core_lock);
    if (rv != CKR_OK)
        return rv;
    if (!(uri = p11_kit_uri_new()))
        return CKR_HOST_MEMORY;
    if (p11_kit_uri_parse(creds.key_path, P11_KIT_URI_FOR_ANY, uri) != P11_KIT_URI_OK) {
        p11_kit_uri_free(uri);
        p11_logf("[ra] key is not a valid pkcs11: URI");
        return CKR_DEVICE_ERROR;
    }
    pin = uri_pin(uri, &creds);
    rv = open_key(m->ra_modules, uri, pin, &f, &sess, &key);
    if (pin)
        dcpki_secret_free(pin);
    p11_kit_uri_free(uri);
    if (rv != CKR_OK)
        return rv;
    if ((rv = f->C_SignInit(sess, mech, key)) == CKR_OK)
        rv = f->C_Sign(sess, (CK_BYTE_PTR)in, (CK_ULONG)in_len, out, &n);
    f->C_CloseSession(sess);
    if (rv != CKR_OK) {
        p11_logf("the RA key's token refused to sign: %s", p11_kit_strerror(rv));
        return rv == CKR_DEVICE_ERROR || rv == CKR_DEVICE_REMOVED || rv == CKR_TOKEN_NOT_PRESENT
                   ? CKR_DEVICE_ERROR : CKR_FUNCTION_FAILED;
    }
    if (n != out_len) {
        p11_logf("the RA key's token returned a %lu-byte signature, %zu expected", (unsigned long)n, out_len);
        return CKR_FUNCTION_FAILED;
    }
    return CKR_OK;
}

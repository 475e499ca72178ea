/* dcpki-pkcs11: internal declarations shared by the module's files.
 * A thin PKCS#11 v2.40 layer over libdcpki: two slots/tokens ("dcpki RA",
 * "dcpki signing"), read-only objects loaded at first need, C_Sign routed to
 * the signing service (remote keys) or to the RA key.
 *
 * Beware: p11-kit's pkcs11.h (compat mode) #defines short lower-case names
 * such as `value`, `count`, `parameter`, `params` and `reserved`; never use
 * them as identifiers here. */
#ifndef DCPKI_P11_H
#define DCPKI_P11_H
#include <stddef.h>
#include <sys/types.h>
#include <p11-kit/pkcs11.h>
#include <openssl/types.h>
#include "dcpki/ctx.h"
#include "dcpki/config.h"
#include "dcpki/error.h"
#include "dcpki/identity.h"
#include "dcpki/signer.h"
#include "dcpki/signing.h"
#include "dcpki/transport.h"

#define P11_EXPORT __attribute__((visibility("default")))

#define P11_SLOT_RA ((CK_SLOT_ID)0)
#define P11_SLOT_SIGNING ((CK_SLOT_ID)1)
#define P11_NSLOTS 2

#define P11_NOBODY ((CK_USER_TYPE)~0UL) /* no user logged in */

/* ---- locks (module.c): application callbacks or pthreads ---- */
typedef struct p11_mutex p11_mutex;
CK_RV p11_mutex_new(p11_mutex **out);
void p11_mutex_free(p11_mutex *m);
void p11_lock(p11_mutex *m);
void p11_unlock(p11_mutex *m);

/* ---- objects (object.c, attributes.c) ---- */
typedef struct p11_attr {
    CK_ATTRIBUTE_TYPE type;
    unsigned char *val;
    CK_ULONG len;
    int sensitive; /* exists but is never revealed (private key components) */
} p11_attr;

typedef struct p11_attrs {
    p11_attr *a;
    size_t n, cap;
    int oom;
    const char *unreadable; /* what OpenSSL could not read or encode, for the log */
} p11_attrs;

typedef struct p11_object {
    CK_OBJECT_HANDLE handle;
    CK_SLOT_ID slot;
    CK_OBJECT_CLASS cls;
    CK_KEY_TYPE key_type;  /* keys only */
    p11_attrs attrs;
    dcpki_signer *signer;  /* private keys: what signs (the service or the RA key) */
    int priv;              /* CKA_PRIVATE: seen and used only while the user is logged in */
    EVP_PKEY *pub;         /* public key: sizes and checks (reference held) */
} p11_object;

/* attributes.c */
void p11_attrs_add(p11_attrs *as, CK_ATTRIBUTE_TYPE t, const void *v, size_t len);
void p11_attrs_add_bool(p11_attrs *as, CK_ATTRIBUTE_TYPE t, CK_BBOOL b);
void p11_attrs_add_ulong(p11_attrs *as, CK_ATTRIBUTE_TYPE t, CK_ULONG v);
void p11_attrs_add_sensitive(p11_attrs *as, CK_ATTRIBUTE_TYPE t);
void p11_attrs_free(p11_attrs *as);
const p11_attr *p11_attrs_find(const p11_attrs *as, CK_ATTRIBUTE_TYPE t);
/* Build the attribute sets. id/label are the shared CKA_ID and CKA_LABEL;
 * subject is the DER subject (may be NULL/0). Return CKR_OK, CKR_HOST_MEMORY,
 * or CKR_FUNCTION_FAILED (a key neither RSA nor EC, or a part of the key or
 * certificate OpenSSL could not read) with a sentence naming it logged. A
 * private key is CKA_PRIVATE (o->priv) when priv is set (a PIN is configured). */
CK_RV p11_build_private(p11_object *o, EVP_PKEY *pub, const unsigned char *id, size_t id_len,
                        const char *label, const unsigned char *subj, size_t subj_len, int priv);
CK_RV p11_build_public(p11_object *o, EVP_PKEY *pub, const unsigned char *id, size_t id_len,
                       const char *label, const unsigned char *subj, size_t subj_len);
CK_RV p11_build_cert(p11_object *o, X509 *x, const unsigned char *id, size_t id_len,
                     const char *label, CK_ULONG category);
/* SHA-1 of the public key's BIT STRING contents: the CKA_ID of a key. */
int p11_key_id(EVP_PKEY *pub, unsigned char out[20]);
/* The same, from a certificate's SubjectPublicKeyInfo (no key decoded). */
int p11_cert_key_id(const X509 *x, unsigned char out[20]);
/* SHA-1 in the module's library context, never through an ENGINE. */
int p11_sha1(const void *data, size_t len, unsigned char out[20]);

/* ---- the module state (module.c) ---- */
typedef struct p11_session p11_session;

typedef struct p11_token {
    CK_SLOT_ID id;
    p11_mutex *load_lock;   /* serialises loading (may do network I/O) */
    int loaded;             /* objects are in place; read under the module lock */
    p11_object **objs;
    size_t n_objs, cap_objs;
    CK_USER_TYPE login;     /* P11_NOBODY or CKU_USER / CKU_SO; under the module lock */
    unsigned login_gen;     /* bumped by each logout; part of private objects' handles */
    CK_ULONG n_sessions, n_rw_sessions;
    char serial[17];        /* derived serial number, "" until known; under the module lock */
} p11_token;

typedef struct p11_module {
    unsigned long forkgen;  /* the process that initialised it (dcpki/fork.h) */
    p11_mutex *lock;        /* sessions table, token counters, login state */
    OSSL_LIB_CTX *libctx;   /* private: only OpenSSL's default provider */
    OSSL_PROVIDER *provider;
    struct dcpki_digest *digests[DCPKI_N_MD]; /* SHA256, SHA384, SHA512, fresh: copied by each hashing C_SignInit */
    p11_token tokens[P11_NSLOTS];
    p11_session **sessions;
    size_t n_sessions, cap_sessions;
    CK_SESSION_HANDLE next_session;
    dcpki_ctx *core;        /* config, RA identity, transport, signing client (backend.c) */
} p11_module;

extern p11_module *p11_mod;

/* A fresh digest of that name (SHA256, SHA384, SHA512) for one operation:
 * NULL when out of memory. */
struct dcpki_digest *p11_digest_new(const p11_module *m, const char *name);

/* Check the module is initialised in this process; CKR_OK or
 * CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV p11_enter(void);

/* ---- backend.c: libdcpki objects and error mapping ---- */
/* Make the core context (no I/O); CKR_OK or the mapped failure. */
CK_RV p11_backend_new(p11_module *m);
/* Read now what later calls need (dcpki/ctx.h); a failure is only logged in
 * debug mode: the call that needs the missing part reports it. */
void p11_backend_prepare(p11_module *m);
CK_RV p11_backend_identity(p11_module *m, const dcpki_identity **out);
CK_RV p11_backend_signing(p11_module *m, dcpki_signing **out);
void p11_backend_free(p11_module *m);
/* Log a failure (stderr with DCPKI_DEBUG, and syslog) and map it to a CK_RV. */
CK_RV p11_fail(const char *what, const dcpki_err *err);
CK_RV p11_rv_of(dcpki_code c);
void p11_logf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));


/* ---- token.c: configuration, PIN, serial numbers ---- */
/* The module's configuration, loaded at first need; borrowed until C_Finalize. */
CK_RV p11_config(p11_module *m, const dcpki_config **out);
/* [pkcs11] pin_file is set (0 when the configuration cannot be read). */
int p11_pin_required(p11_module *m);
/* pin (len bytes, may be NULL when 0) against [pkcs11] pin_file: CKR_OK,
 * CKR_PIN_INCORRECT, or CKR_DEVICE_ERROR (unusable file; reason logged). */
CK_RV p11_pin_check(p11_module *m, const CK_UTF8CHAR *pin, CK_ULONG len);
/* End the user's login on the token, if any (module lock held). */
void p11_token_logout(p11_token *t);
/* The token's blank-padded serialNumber. */
void p11_token_serial(p11_module *m, CK_SLOT_ID slot, unsigned char out[16]);

/* ---- object.c: the per-token object store ---- */
/* Load the token's objects once (no-op when loaded). */
CK_RV p11_token_load(p11_module *m, CK_SLOT_ID slot);
/* Object by handle on that slot, or NULL (also for a private object while
 * the user is not logged in, or with a handle of an earlier login). Objects
 * live until C_Finalize. */
p11_object *p11_object_get(p11_module *m, CK_SLOT_ID slot, CK_OBJECT_HANDLE h);
/* The handle the application sees, and whether it may see the object now
 * (module lock held). */
CK_OBJECT_HANDLE p11_object_handle(const p11_token *t, const p11_object *o);
int p11_object_visible(const p11_token *t, const p11_object *o);
void p11_token_free_objects(p11_token *t);

/* ---- session.c ---- */
typedef struct p11_sign_op p11_sign_op;

struct p11_session {
    CK_SESSION_HANDLE handle;
    CK_SLOT_ID slot;
    CK_FLAGS flags;
    p11_mutex *lock;        /* one call at a time on this session */
    int refs;               /* under the module lock */
    int closed;
    /* C_FindObjects state */
    int find_active;
    CK_OBJECT_HANDLE *found;
    size_t n_found, find_pos;
    /* C_Sign state */
    p11_sign_op *sign;
};

/* Look up and lock a session: CKR_OK with *out locked, or
 * CKR_SESSION_HANDLE_INVALID / CKR_CRYPTOKI_NOT_INITIALIZED. */
CK_RV p11_session_get(CK_SESSION_HANDLE h, p11_session **out);
/* Unlock and release. */
void p11_session_put(p11_session *s);
void p11_sessions_free_all(p11_module *m);
void p11_find_clear(p11_session *s);
void p11_sign_op_free(p11_sign_op *op);
/* Token state for a session (CKS_*); module lock held. */
CK_STATE p11_session_state(const p11_module *m, const p11_session *s);

/* ---- slots.c ---- */
int p11_slot_valid(CK_SLOT_ID id);

/* ---- mechanisms.c: the one table of mechanisms ---- */
typedef struct p11_mech {
    CK_MECHANISM_TYPE type;
    CK_KEY_TYPE key_type;
    dcpki_sig_scheme scheme;
    const char *md;         /* the digest the mechanism computes; NULL: its input is hashed already */
    CK_ULONG min_bits, max_bits;
    CK_FLAGS flags;
} p11_mech;
const p11_mech *p11_mech_find(CK_MECHANISM_TYPE type);
/* The mechanisms for keys of type kt ((CK_KEY_TYPE)-1: all), in the table's
 * order: writes at most room of them to out (may be NULL), returns how many. */
size_t p11_mech_list(CK_KEY_TYPE kt, CK_MECHANISM_TYPE *out, size_t room);
/* The digest named by a CKM_SHA* mechanism or a CKG_MGF1_SHA* generator; NULL
 * for others. */
const char *p11_mech_hash_name(CK_MECHANISM_TYPE hash);
const char *p11_mech_mgf_name(CK_RSA_PKCS_MGF_TYPE mgf);

/* Fill a fixed-width blank-padded PKCS#11 string. */
void p11_pad(unsigned char *dst, size_t n, const char *src);

#endif

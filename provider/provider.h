/* dcpki OpenSSL 3 provider: shared declarations.
 *
 * The provider context owns a private library context (built-in "default"
 * only) used for all of our own crypto, and a core context (dcpki/ctx.h:
 * config -> RA identity -> transport -> signing client). Keys are reference
 * counted objects shared by the store, keymgmt, signature and encoders. */
#ifndef DCPKI_PROVIDER_H
#define DCPKI_PROVIDER_H

#include <stdatomic.h>
#include <stdint.h>
#include <pthread.h>
#include <sys/types.h>
#include <openssl/core.h>
#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/evp.h>

#include "dcpki/config.h"
#include "dcpki/ctx.h"
#include "dcpki/signer.h"
#include "dcpki/error.h"
#include "dcpki/identity.h"
#include "dcpki/log.h"
#include "dcpki/signing.h"
#include "dcpki/transport.h"
#include "dcpki/uri.h"

#define DCPKI_PROV_NAME "dcpki"
#define DCPKI_PROV_PROPS "provider=dcpki"
#define DCPKI_PARAM_CONFIG "dcpki-config"

#define DCPKI_NAMES_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define DCPKI_NAMES_EC "EC:id-ecPublicKey:1.2.840.10045.2.1"
#define DCPKI_NAMES_SIG_RSA "RSA:rsaEncryption:1.2.840.113549.1.1.1"
#define DCPKI_NAMES_SIG_ECDSA "ECDSA"

/* Number of encoder implementations (encoder.c DCPKI_ENCODERS). */
#define DCPKI_N_ENCODERS 14

/* Provider-specific reasons, after the catalogue codes (which are used as
 * reasons directly). */
enum {
    DCPKI_R_NOT_OURS = DCPKI_E__COUNT + 1, /* a key of another provider was given to us */
    DCPKI_R_BAD_PARAM,                      /* a parameter value we cannot honour */
    DCPKI_R_OPERATION,                      /* operation called in the wrong state */
    DCPKI_R__LAST
};

typedef struct dcpki_prov {
    const OSSL_CORE_HANDLE *handle;
    OSSL_LIB_CTX *libctx; /* private: built-in default provider only */
    OSSL_PROVIDER *deflt;
    /* The built-in default provider's own implementations (in libctx), to
     * which every key that is not a dcpki key is forwarded (forward.c). */
    void *deflt_provctx;
    const OSSL_DISPATCH *fwd_km_rsa, *fwd_km_ec, *fwd_sig_rsa, *fwd_sig_ec;
    const OSSL_DISPATCH *fwd_enc[DCPKI_N_ENCODERS]; /* same order as encoder.c's table */
    char *config_path;    /* from the provider parameter, NULL when unset */
    EVP_MD *mds[DCPKI_N_MD];       /* SHA256, SHA384, SHA512 of libctx, fetched once (signature.c) */

    OSSL_FUNC_core_new_error_fn *core_new_error;
    OSSL_FUNC_core_set_error_debug_fn *core_set_error_debug;
    OSSL_FUNC_core_vset_error_fn *core_vset_error;

    dcpki_ctx *core;      /* config, RA identity, transport, signing client */
} dcpki_prov;

/* Key objects of our keymgmt start with a magic number: a dcpki key
 * (remote or RA) or a forwarded key of the built-in default provider. */
#define DCPKI_KEY_MAGIC 0x64636b79u /* "dcky" */
#define DCPKI_FWD_MAGIC 0x64636677u /* "dcfw" */

typedef struct dcpki_key {
    uint32_t magic;       /* DCPKI_KEY_MAGIC */
    dcpki_prov *prov;
    atomic_int refs;
    int is_ra;            /* dcpki:ra: the RA identity key, used locally */
    int has_private;      /* a private-key object (sign) or a public one */
    int type;             /* EVP_PKEY_RSA or EVP_PKEY_EC */
    dcpki_keypair *kp;    /* remote key (NULL for the RA key) */
    /* who signs (private-key objects only), made once at load; it borrows
     * the RA identity or the signing client, owned by prov->core until teardown */
    dcpki_signer *signer;
    EVP_PKEY *pkey;       /* public key (remote) or the RA key (in prov->libctx) */
    char *uri;            /* canonical dcpki: URI of the private key */
} dcpki_key;

/* A key that is not a dcpki key but landed in our keymgmt because a generic
 * fetch by name ("EC", "RSA") chose it: key generation, import (fromdata,
 * legacy keys), TLS ephemeral keys. It is the default provider's key data,
 * handled by the default provider's own functions. */
typedef struct dcpki_fwd_key {
    uint32_t magic;       /* DCPKI_FWD_MAGIC */
    dcpki_prov *prov;
    int type;             /* EVP_PKEY_RSA or EVP_PKEY_EC */
    const OSSL_DISPATCH *km; /* the default provider's keymgmt */
    void *inner;          /* its key data */
} dcpki_fwd_key;

/* ---- provider.c ---- */
/* Raise an error through the core: reason is a dcpki_code or DCPKI_R_*. */
void dcpki_raise(dcpki_prov *prov, int reason, const char *file, int line, const char *func,
                 const char *fmt, ...) __attribute__((format(printf, 6, 7)));
#define DCPKI_RAISE(prov, reason, ...) \
    dcpki_raise((prov), (reason), __FILE__, __LINE__, __func__, __VA_ARGS__)
/* Raise a core error (catalogue sentence, detail and remedy). */
void dcpki_raise_err(dcpki_prov *prov, const dcpki_err *err, const char *file, int line,
                     const char *func);
#define DCPKI_RAISE_ERR(prov, err) dcpki_raise_err((prov), (err), __FILE__, __LINE__, __func__)
/* The core context's objects, made (and so everything later signatures need
 * read into memory, dcpki/ctx.h) at the first call: a key load. NULL with an
 * error raised. */
const dcpki_identity *dcpki_prov_identity(dcpki_prov *prov);
dcpki_signing *dcpki_prov_signing(dcpki_prov *prov);
OSSL_LIB_CTX *dcpki_prov_libctx(dcpki_prov *prov);

/* ---- forward.c ---- */
/* Find the default provider's implementations to forward to. No I/O. */
int dcpki_fwd_init(dcpki_prov *prov);
/* The dispatch entry for id in t, or an empty entry (function NULL). */
const OSSL_DISPATCH *dcpki_fwd_entry(const OSSL_DISPATCH *t, int id);
/* The default provider's implementation of operation op whose first name is
 * name and, when props is not NULL, whose "output" and "structure"
 * properties are those of props (both absent counts as equal); NULL if none. */
const OSSL_DISPATCH *dcpki_fwd_find(dcpki_prov *prov, int op, const char *name,
                                    const char *props);
#define DCPKI_FWD_FN(t, name, id) OSSL_FUNC_##name(dcpki_fwd_entry((t), (id)))
const OSSL_DISPATCH *dcpki_fwd_km(dcpki_prov *prov, int type);
/* The same, from the first instance initialised (for calls without a context). */
const OSSL_DISPATCH *dcpki_fwd_km_any(int type);
const OSSL_DISPATCH *dcpki_fwd_sig(dcpki_prov *prov, int type);
/* 1 for a dcpki key, 0 otherwise (forwarded key, NULL). */
int dcpki_is_key(const void *keydata);
int dcpki_is_fwd(const void *keydata);
/* Wrap a default-provider key (takes ownership of inner); NULL frees it. */
dcpki_fwd_key *dcpki_fwd_wrap(dcpki_prov *prov, int type, void *inner);
/* get_capabilities: the default provider's TLS groups of our key types. */
int dcpki_fwd_get_capabilities(void *provctx, const char *capability, OSSL_CALLBACK *cb,
                               void *arg);

/* ---- keymgmt_common.c ---- */
dcpki_key *dcpki_key_new(dcpki_prov *prov);
dcpki_key *dcpki_key_ref(dcpki_key *k);
void dcpki_key_free(dcpki_key *k);
/* Resolve a URI to a key object (network for dcpki:key=). want_private
 * selects the private object (else a public-key object). Raises on error. */
dcpki_key *dcpki_key_from_uri(dcpki_prov *prov, const dcpki_uri *uri, int want_private);
/* A public-key object for the same key. */
dcpki_key *dcpki_key_public_copy(dcpki_key *src);
/* Resolve a URI string (decoder). */
dcpki_key *dcpki_key_from_uri_string(dcpki_prov *prov, const char *uri, int want_private);
/* The largest signature: the remote keypair's size, else the public key's. */
size_t dcpki_key_max_sig_size(const dcpki_key *k);

/* the keymgmt of each key type */
extern const OSSL_DISPATCH dcpki_rsa_keymgmt_functions[];
extern const OSSL_DISPATCH dcpki_ec_keymgmt_functions[];
/* keymgmt export of keydata (a dcpki or forwarded key) of key type type */
int dcpki_km_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg, int type);

/* ---- store.c ---- */
extern const OSSL_DISPATCH dcpki_store_functions[];

/* ---- signature.c / sig_rsa.c / sig_ecdsa.c ---- */
extern const OSSL_DISPATCH dcpki_rsa_signature_functions[];
extern const OSSL_DISPATCH dcpki_ecdsa_signature_functions[];

/* ---- decoder.c / encoder.c ---- */
extern const OSSL_DISPATCH dcpki_pem_keyref_decoder_functions[];
extern const OSSL_DISPATCH dcpki_der_keyref_rsa_decoder_functions[];
extern const OSSL_DISPATCH dcpki_der_keyref_ec_decoder_functions[];
/* Our encoders (key reference PEM, refusals; the default provider's
 * encoding for forwarded keys), with their algorithm table. */
extern const OSSL_ALGORITHM dcpki_encoder_algorithms[];
/* Find the default provider's encoder for each of ours. No I/O. */
int dcpki_enc_fwd_init(dcpki_prov *prov);
#define DCPKI_KEYREF_STRUCTURE "dcpki-keyref"

#endif

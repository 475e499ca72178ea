/* Client of the signing service: DigiCert Software Trust Manager REST API
 * (../shared/protocols/signing.md): list keypairs, describe one (public key +
 * certificate chain), sign a digest. Only the digest crosses the network; the
 * returned signature is verified against the key's public key before it is
 * returned. Thread-safe.
 *
 * Keypair metadata (the answer to GET keypairs/{alias}: public key and
 * certificates, public data only) is cached in memory and on disk, TTL 300 s,
 * so that a short-lived process signs with one request instead of two. Disk
 * cache directory: $XDG_CACHE_HOME/dcpki/keys, else $HOME/.cache/dcpki/keys,
 * else (no HOME) /var/cache/dcpki/keys for root, else none; created 0700. One
 * file (0600, written atomically) per service URL, RA certificate and alias,
 * named by their SHA-256; files not owned by the user, writable by group or
 * others, expired or malformed are not used. A signature that fails
 * verification with cached metadata, or a 404 for the cached key id, drops the
 * entry, describes the key again and signs once more. The environment variable
 * DCPKI_NO_DISK_CACHE=1 turns the disk cache off. */
#ifndef DCPKI_SIGNING_H
#define DCPKI_SIGNING_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/sigscheme.h"
#include "dcpki/transport.h"

typedef enum { DCPKI_KEY_RSA = 1, DCPKI_KEY_EC = 2 } dcpki_key_alg;

typedef struct dcpki_der {
    unsigned char *data;
    size_t len;
} dcpki_der;

typedef struct dcpki_keypair {
    char *id;             /* service UUID */
    char *alias;
    dcpki_key_alg alg;
    int bits;             /* RSA modulus bits / EC field bits */
    char *curve;          /* EC: OpenSSL group name, e.g. "prime256v1"; NULL for RSA */
    char *status;         /* key_status, e.g. "ONLINE" */
    char *account_id;     /* may be NULL */
    dcpki_der spki;       /* SubjectPublicKeyInfo DER */
    EVP_PKEY *pub;        /* public key parsed from spki (in the client's libctx) */
    dcpki_der cert;       /* end certificate DER; data NULL when none */
    dcpki_der *chain;     /* intermediates then root, as the service lists them */
    size_t chain_len;
} dcpki_keypair;


typedef struct dcpki_signing dcpki_signing;

/* t is borrowed and must outlive the client. libctx (may be NULL) is used for
 * parsing and verification. Needs [signing] url and api_key_file (read now). */
dcpki_code dcpki_signing_new(const dcpki_config *cfg, dcpki_transport *t, OSSL_LIB_CTX *libctx,
                             dcpki_signing **out, dcpki_err *err);
/* A client whose requests go through the dcpki agent at [signing] agent
 * (dcpki/agent.h): connects and says hello now; needs neither the RA
 * identity nor the API key. */
dcpki_code dcpki_signing_new_agent(const dcpki_config *cfg, OSSL_LIB_CTX *libctx, dcpki_signing **out,
                                   dcpki_err *err);
void dcpki_signing_free(dcpki_signing *s);
/* "<[signing] url>/signingmanager/api/v1/", and the RA identity that reaches
 * the service as "sha1:<thumbprint>" ("none:" without one): the agent's,
 * as it said, through the agent. */
const char *dcpki_signing_base(const dcpki_signing *s);
const char *dcpki_signing_label(const dcpki_signing *s);
/* The agent's socket when the requests go through it, else NULL. */
const char *dcpki_signing_agent(const dcpki_signing *s);

/* All keypairs; the array and items are freed with dcpki_keypairs_free. */
dcpki_code dcpki_signing_list(dcpki_signing *s, dcpki_keypair ***items, size_t *n, dcpki_err *err);
void dcpki_keypairs_free(dcpki_keypair **items, size_t n);

/* The keypair with that alias (memory cache, disk cache, else service; with
 * cached metadata a wrong API key shows only at signing). Returns a new reference
 * released with dcpki_keypair_free. DCPKI_E_KEY_NOT_FOUND if none. */
dcpki_code dcpki_signing_describe(dcpki_signing *s, const char *alias, dcpki_keypair **out,
                                  dcpki_err *err);
dcpki_keypair *dcpki_keypair_ref(dcpki_keypair *kp);
void dcpki_keypair_free(dcpki_keypair *kp);

/* Sign a digest computed by the caller. md is "SHA256", "SHA384" or "SHA512"
 * (NULL only with DCPKI_SIG_RSA_RAW, where data is the DigestInfo). The
 * signature (malloc'ed, caller frees with OPENSSL_free) has been verified with
 * kp->pub. ECDSA signatures are DER. */
dcpki_code dcpki_signing_sign(dcpki_signing *s, const dcpki_keypair *kp, dcpki_sig_scheme scheme,
                              const char *md, const unsigned char *data, size_t data_len,
                              unsigned char **sig, size_t *sig_len, dcpki_err *err);

#endif

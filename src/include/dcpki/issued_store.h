/* The entries of the store of issued certificates (DESIGN.md "re-delivery
 * without a new CA request", BRIEF §5), one per request, identified by a
 * SHA-256 of the CA host, profile OID, key origin, normalised subject and
 * sorted SANs. An entry holds the issued certificate, its chain and, for keys
 * dcpki generated, the private key so that a deleted PFX can be re-delivered;
 * a pending entry holds the key and the pendingTokenReferenceID. The store
 * itself (SQLite or PostgreSQL, keys sealed) is store.h.
 *
 * Default directory (SQLite): $XDG_STATE_HOME/dcpki/issued when XDG_STATE_HOME is set
 * (absolute), else /var/lib/dcpki/issued for root (services such as
 * certmonger), else $HOME/.local/state/dcpki/issued. */
#ifndef DCPKI_ISSUED_STORE_H
#define DCPKI_ISSUED_STORE_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/error.h"

#define DCPKI_STORE_ID_LEN 64 /* hex SHA-256 */

typedef enum dcpki_store_state {
    DCPKI_STORE_ISSUED = 0,
    DCPKI_STORE_PENDING,
    DCPKI_STORE_REVOKED,
    DCPKI_STORE_SENDING,    /* an Issue/Renew was sent and no answer read yet: txid, csr
                             * (+ key) and time kept; the next run searches the CA for a
                             * certificate of that key and sends again only when it has
                             * none (enroll.h) */
    DCPKI_STORE_REVOKING    /* ISSUED, and a revoke was sent whose answer was not read:
                             * never re-delivered until the CA's status is known */
} dcpki_store_state;

typedef struct dcpki_store_entry {
    char id[DCPKI_STORE_ID_LEN + 1];
    dcpki_store_state state;
    char *ca_host;
    char *profile;
    char *subject;          /* as normalised for the id */
    char **sans;            /* normalised, sorted */
    size_t n_sans;
    char *pending_id;       /* PENDING: pendingTokenReferenceID */
    char *serial;           /* ISSUED/REVOKED: upper-case hex */
    char *txid;             /* SENDING: clientTransactionID */
    unsigned char *csr;     /* SENDING: the PKCS#10 DER that was sent */
    size_t csr_len;
    long long created;      /* epoch seconds */
    EVP_PKEY *key;          /* may be NULL (CSR given by the user) */
    X509 *cert;             /* NULL while PENDING */
    X509 **chain;
    size_t n_chain;
} dcpki_store_entry;

/* The default directory (see above) into buf. */
dcpki_code dcpki_store_default_dir(char *buf, size_t n, dcpki_err *err);

/* Normalised subject ("CN=a,E=b" with canonical types) and SAN ("email:a",
 * "upn:a", "othername:OID;HEX") strings; malloc'd. Same errors as
 * dcpki_subject_parse / dcpki_san_parse. */
dcpki_code dcpki_store_norm_subject(const char *subject, char **out, dcpki_err *err);
dcpki_code dcpki_store_norm_san(const char *san, char **out, dcpki_err *err);

/* Fills e->id from ca_host, profile, key_origin (the CLI uses "ra:<RA
 * certificate thumbprint>;generated" or "ra:<thumbprint>;csr:<hex SHA-256 of
 * the CSR's SubjectPublicKeyInfo>"), subject and sans (already normalised;
 * sorted here). Also copies them into e. */
dcpki_code dcpki_store_entry_init(dcpki_store_entry *e, const char *ca_host, const char *profile,
                                  const char *key_origin, const char *subject,
                                  const char *const *sans, size_t n_sans, dcpki_err *err);

void dcpki_store_entry_clear(dcpki_store_entry *e);

#endif

/* The enrollment engine (issue 9): profile enrollment, pending requests,
 * renewal, revocation and status as library operations over a core context
 * (ctx.h) and a store (store.h). The CLI and the certmonger helper only parse
 * options and write files; anything else that enrolls calls this.
 *
 * Guarantees:
 * - Never a duplicate: every operation on one request (profile, subject,
 *   SANs, key origin — the store id) holds that id's store lock from the
 *   first read of its entry to the last write, so concurrent requests for it
 *   (threads, processes, and hosts sharing a PostgreSQL store) run one after
 *   the other: the first is sent to the CA, the others find its outcome.
 * - Never lost: before anything is sent the request is journalled (state
 *   SENDING: key, CSR, time). After an ambiguous failure (timeout after
 *   sending, broken connection, unreadable answer) the next run first looks
 *   the request up at the CA (certificate search by profile and common name
 *   or e-mail from a day before the first send, matched on the public key)
 *   and sends again only when the CA has nothing; the CA is not trusted to
 *   recognise a re-sent clientTransactionID.
 * - A revoke is journalled too (REVOKING); until the CA's status is known
 *   the certificate is never re-delivered, and a certificate the CA reports
 *   revoked is marked so and replaced by a new request.
 * - Success only once the store holds the final state: a certificate the CA
 *   issued that could not be recorded is DCPKI_E_STORE with the result filled
 *   (deliver it; the next run records it without a new request). */
#ifndef DCPKI_ENROLL_H
#define DCPKI_ENROLL_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/ctx.h"
#include "dcpki/error.h"
#include "dcpki/pki_platform.h"
#include "dcpki/policy.h"
#include "dcpki/store.h"

typedef struct dcpki_enroller dcpki_enroller;

/* notice: progress worth telling a person ("asking the CA whether ...");
 * called with the engine's lock not held; may be NULL. */
typedef void (*dcpki_enroll_notice_fn)(void *arg, const char *message);

/* ctx and store are borrowed and must outlive the engine. store may be NULL
 * for an engine that only reads policies until dcpki_enroller_set_store
 * gives it one. No I/O. */
dcpki_code dcpki_enroller_new(dcpki_ctx *ctx, dcpki_store *store, dcpki_enroller **out,
                              dcpki_err *err);
void dcpki_enroller_set_store(dcpki_enroller *e, dcpki_store *store);
void dcpki_enroller_free(dcpki_enroller *e);
void dcpki_enroller_set_notice(dcpki_enroller *e, dcpki_enroll_notice_fn fn, void *arg);

/* [ca] host after the checks the PKI Platform needs (host set, name
 * "Symantec" when set). */
dcpki_code dcpki_enroll_ca_host(dcpki_enroller *e, const char **host, dcpki_err *err);
/* The profile's policy, fetched once per engine and profile. */
dcpki_code dcpki_enroll_policy(dcpki_enroller *e, const char *profile_oid,
                               const dcpki_policy **out, dcpki_err *err);

typedef struct dcpki_enroll_request {
    const char *profile;          /* profile OID */
    const char *subject;          /* with a generated key (csr NULL) */
    const char *const *sans;      /* "email:..", "upn:..", "othername:OID;HEX" */
    size_t n_sans;
    X509_REQ *csr;                /* or an existing CSR: its subject and SANs go through the rules */
    int renew;                    /* ask the CA for a new certificate (requestType Renew) even
                                   * when one is kept */
} dcpki_enroll_request;

typedef enum dcpki_enroll_outcome {
    DCPKI_ENROLL_ISSUED = 0,      /* the CA issued it now */
    DCPKI_ENROLL_REDELIVERED,     /* kept in the store; nothing sent */
    DCPKI_ENROLL_RECOVERED,       /* an earlier request's certificate, found at the CA */
    DCPKI_ENROLL_PENDING          /* left pending (pending_id); DCPKI_E_PENDING */
} dcpki_enroll_outcome;

typedef struct dcpki_enroll_result {
    dcpki_enroll_outcome outcome;
    int already_pending;          /* PENDING before this call: nothing sent */
    char *pending_id;
    char *serial;                 /* upper-case hex */
    EVP_PKEY *key;                /* the generated key (NULL for a CSR) */
    X509 *cert;
    X509 **chain;
    size_t n_chain;
    char store_id[DCPKI_STORE_ID_LEN + 1];
} dcpki_enroll_result;
void dcpki_enroll_result_clear(dcpki_enroll_result *r);

/* One enrollment (see the guarantees above). DCPKI_E_PENDING: res->pending_id.
 * DCPKI_E_STORE with res->cert set: issued but not recorded. */
dcpki_code dcpki_enroll_run(dcpki_enroller *e, const dcpki_enroll_request *rq,
                            dcpki_enroll_result *res, dcpki_err *err);

/* QueryTokenStatus for a pending request; the store entry, when there is one,
 * supplies the key and profile (profile_oid may then be NULL). */
dcpki_code dcpki_enroll_poll(dcpki_enroller *e, const char *profile_oid, const char *pending_id,
                             dcpki_enroll_result *res, dcpki_err *err);

typedef struct dcpki_revoke_result {
    int already;                  /* the CA had revoked it before this request */
    char *message;                /* the CA's successMsg, may be NULL */
    size_t store_marked;          /* store entries now REVOKED */
} dcpki_revoke_result;
void dcpki_revoke_result_clear(dcpki_revoke_result *r);

/* Revokes at the CA and marks the store. The store entries are journalled
 * REVOKING first; when the answer is lost they stay so (never re-delivered)
 * until a status look-up (dcpki_enroll_status, or the next enrollment of
 * that request) settles them. A refusal is checked against the CA's status:
 * already revoked is success (res->already). reason/comment may be NULL. */
dcpki_code dcpki_enroll_revoke(dcpki_enroller *e, const char *serial_hex, const char *reason,
                               const char *comment, dcpki_revoke_result *res, dcpki_err *err);

/* The CA's record of a serial (search), and the store brought in line with
 * it (REVOKED entries marked, REVOKING entries of a valid certificate back
 * to ISSUED). An unknown serial is DCPKI_OK with out->n == 0. */
dcpki_code dcpki_enroll_status(dcpki_enroller *e, const char *serial_hex,
                               dcpki_pki_search_result *out, size_t *store_marked,
                               dcpki_err *err);

#endif

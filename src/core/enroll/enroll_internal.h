/* Parts of the enrollment engine shared by its files (enroll.h). */
#ifndef DCPKI_ENROLL_INTERNAL_H
#define DCPKI_ENROLL_INTERNAL_H
#include <pthread.h>
#include "dcpki/enroll.h"
#include "dcpki/request.h"

/* How long to wait for another holder of a request's lock: without limit,
 * since the holder's CA exchange is bounded by [ca] timeout_ms. */
#define ENROLL_LOCK_WAIT_MS 0L

struct dcpki_enroller {
    dcpki_ctx *ctx;                 /* borrowed */
    dcpki_store *store;             /* borrowed */
    dcpki_enroll_notice_fn notice;
    void *notice_arg;
    pthread_mutex_t lock;           /* guards the policy cache */
    char **policy_oids;
    dcpki_policy **policies;
    size_t n_policies;
};

/* One request, parsed once: what identifies it in the store and what the CA
 * search looks for. */
typedef struct enroll_model {
    const char *subject;            /* as given, or the CSR's (owned then, see csr_*) */
    const char *const *sans;
    size_t n_sans;
    char *csr_subject;              /* the CSR's subject and SANs as strings */
    char **csr_sans;
    size_t n_csr_sans;
    EVP_PKEY *csr_pub;              /* borrowed from the CSR */
    dcpki_store_entry entry;        /* id, host, profile, normalised subject and SANs */
} enroll_model;

dcpki_code enroll_model_init(dcpki_enroller *e, const char *host, const dcpki_enroll_request *rq,
                             enroll_model *m, dcpki_err *err);
void enroll_model_clear(enroll_model *m);

/* What every store operation checks first: DCPKI_E_INTERNAL when the engine
 * has no store, else dcpki_enroll_ca_host */
dcpki_code enroll_begin(dcpki_enroller *e, const char **host, dcpki_err *err);
/* formatted notice, when a notice function is set */
void enroll_notice(dcpki_enroller *e, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* more words after err->detail (cut at its size) */
void enroll_err_append(dcpki_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* an ambiguous failure: the request may have reached the CA and been acted on */
int enroll_outcome_unknown(dcpki_code rc);

/* The certificate the CA issued for a journalled (SENDING) entry, looked up
 * by profile and common name / e-mail since a day before the first send and
 * matched on the entry's public key (its key, else its CSR's). *found = 0
 * when the CA has none. The chain comes from the profile's policy. */
dcpki_code enroll_find_issued(dcpki_enroller *e, const char *host, const dcpki_store_entry *ent,
                              X509 **cert, X509 ***chain, size_t *n_chain, int *found,
                              dcpki_err *err);
/* The CA's status of a serial: "VALID", "REVOKED", ... (static) or NULL when
 * the CA knows no such certificate. */
dcpki_code enroll_ca_status(dcpki_enroller *e, const char *host, const char *serial,
                            const char **status, dcpki_err *err);
/* Moves the store entries of a serial, each under its lock (the caller holds
 * none): to REVOKED from ISSUED or REVOKING; to REVOKING from ISSUED; to
 * ISSUED from REVOKING. *n: entries changed. */
dcpki_code enroll_mark_serial(dcpki_enroller *e, const char *serial, dcpki_store_state to,
                              size_t *n, dcpki_err *err);

#endif

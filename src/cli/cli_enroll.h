/* Shared parts of the profile-enrollment commands (issue 4): enroll,
 * policy, revoke/status, doctor, certmonger-submit. */
#ifndef DCPKI_CLI_ENROLL_H
#define DCPKI_CLI_ENROLL_H
#include "cli_common.h"
#include "dcpki/issued_store.h"
#include "dcpki/pki_platform.h"
#include "dcpki/policy.h"

extern const cli_cmd cli_cmd_policy;      /* cli_policy.c */
extern const cli_cmd cli_cmd_enroll;      /* cli_enroll.c */
extern const cli_cmd cli_cmd_revoke;      /* cli_revoke.c */
extern const cli_cmd cli_cmd_status;      /* cli_revoke.c */
extern const cli_cmd cli_cmd_doctor;      /* cli_doctor.c */
extern const cli_cmd cli_cmd_certmonger;  /* cli_certmonger.c */

/* [ca] host after the checks the PKI Platform needs: host set, name
 * "Symantec" (when set). */
dcpki_code cli_pki_host(cli_ctx *ctx, const char **host, dcpki_err *err);
/* --profile, else [profiles] default. */
dcpki_code cli_pki_profile(cli_ctx *ctx, const char *opt, const char **oid, dcpki_err *err);
/* --store, else the default directory (issued_store.h). */
dcpki_code cli_store_dir(const char *opt, char *buf, size_t n, dcpki_err *err);

/* One enrollment: subject + SANs with a generated key (pfx output), or a CSR. */
typedef struct cli_enroll_req {
    const char *profile;
    const char *subject;          /* key generated here when csr is NULL */
    const char *const *sans;
    size_t n_sans;
    X509_REQ *csr;                /* existing CSR (its subject/SANs go through the rules) */
    int renew;                    /* skip the store, ask the CA (requestType Renew) */
    const char *store_dir;
} cli_enroll_req;

typedef struct cli_enroll_res {
    int redelivered;              /* from the store, nothing sent to the CA */
    int pending;                  /* CA left it pending: pending_id */
    int already_pending;          /* it was pending before this call (store entry): nothing sent */
    char *pending_id;
    char *serial;
    EVP_PKEY *key;                /* generated key (NULL for a CSR) */
    X509 *cert;
    X509 **chain;
    size_t n_chain;
    char store_id[DCPKI_STORE_ID_LEN + 1];
} cli_enroll_res;
void cli_enroll_res_clear(cli_enroll_res *r);

/* Policy of a profile, fetched once per process and profile. */
dcpki_code cli_policy_get(cli_ctx *ctx, const char *profile, const dcpki_policy **out,
                          dcpki_err *err);
/* Store look-up (unless renew), rules + policy check, key, CSR, enrollment,
 * store entry written before returning an issued certificate. A pending
 * answer is DCPKI_E_PENDING with res->pending_id set (and stored). */
dcpki_code cli_enroll_do(cli_ctx *ctx, const cli_enroll_req *rq, cli_enroll_res *res,
                         dcpki_err *err);
/* QueryTokenStatus for a pending request (the store entry, when there is one,
 * supplies the key and profile). */
dcpki_code cli_enroll_poll(cli_ctx *ctx, const char *profile, const char *pending_id,
                           const char *store_dir, cli_enroll_res *res, dcpki_err *err);

#endif

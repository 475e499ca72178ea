/* Shared parts of the profile-enrollment commands (issue 4): enroll,
 * policy, revoke/status, doctor, certmonger-submit. */
#ifndef DCPKI_CLI_ENROLL_H
#define DCPKI_CLI_ENROLL_H
#include "cli_common.h"
#include "dcpki/enroll.h"
#include "dcpki/issued_store.h"
#include "dcpki/pki_platform.h"
#include "dcpki/policy.h"

extern const cli_cmd cli_cmd_policy;      /* cli_policy.c */
extern const cli_cmd cli_cmd_enroll;      /* cli_enroll.c */
extern const cli_cmd cli_cmd_revoke;      /* cli_revoke.c */
extern const cli_cmd cli_cmd_status;      /* cli_revoke.c */
extern const cli_cmd cli_cmd_doctor;      /* cli_doctor.c */
extern const cli_cmd cli_cmd_certmonger;  /* cli_certmonger.c */

/* [ca] host after the checks the PKI Platform needs (dcpki_enroll_ca_host). */
dcpki_code cli_pki_host(cli_ctx *ctx, const char **host, dcpki_err *err);
/* The profile OID of --profile (an OID, or a name under [profiles]), else of
 * [profiles] default. */
dcpki_code cli_pki_profile(cli_ctx *ctx, const char *opt, const char **oid, dcpki_err *err);
/* The enrollment engine with its store: --store DIR (SQLite there), else
 * [store] url (PostgreSQL), else [store] dir, else the default directory
 * (dcpki_store_open picks it); [store] key_file either way. Opened once per
 * process. */
dcpki_code cli_enroller(cli_ctx *ctx, const char *store_opt, dcpki_enroller **out,
                        dcpki_err *err);
/* Policy of a profile, fetched once per process and profile. */
dcpki_code cli_policy_get(cli_ctx *ctx, const char *profile, const dcpki_policy **out,
                          dcpki_err *err);
/* Whether the CA issued and res holds the certificate while the store could not
 * record it (rc DCPKI_E_STORE): the certificate is delivered all the same. */
int cli_enroll_unrecorded(dcpki_code rc, const dcpki_enroll_result *res);

#endif

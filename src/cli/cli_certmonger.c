/* dcpki certmonger-submit: certmonger's external CA helper protocol.
 *
 * certmonger runs the helper with no operands, the operation in
 * CERTMONGER_OPERATION and its inputs in other environment variables, reads
 * standard output and acts on the exit status (certmonger src/submit-e.h):
 *   0 issued (PEM certificate on stdout) / operation done
 *   1 wait: stdout = cookie for a later POLL
 *   2 rejected: stdout = reason
 *   3 CA unreachable, retry later: stdout = reason
 *   4 helper un- or under-configured: stdout = reason
 *   5 wait with delay: stdout = "<seconds>\n<cookie>"
 *   6 operation not supported */
#include "cli_enroll.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/pem.h>
#include <openssl/x509.h>

#include "dcpki/request.h"

enum {
    CM_ISSUED = 0,
    CM_WAIT = 1,
    CM_REJECTED = 2,
    CM_UNREACHABLE = 3,
    CM_UNCONFIGURED = 4,
    CM_WAIT_WITH_DELAY = 5,
    CM_NOT_SUPPORTED = 6
};

#define CM_POLL_DELAY 300 /* seconds certmonger waits before polling a pending request */

enum { OPT_STORE = CLI_OPT_FIRST_FREE };

static int cm_status_of(dcpki_code c)
{
    switch (c) {
    case DCPKI_E_TIMEOUT:
    case DCPKI_E_CONNECT:
    case DCPKI_E_SERVICE_UNAVAILABLE:
    case DCPKI_E_RATE_LIMITED:
    case DCPKI_E_BAD_RESPONSE:
    case DCPKI_E_HTTP:
    case DCPKI_E_IO:
    case DCPKI_E_NOMEM:
        return CM_UNREACHABLE;
    case DCPKI_E_POLICY_VIOLATION:
    case DCPKI_E_CA_REFUSED:
    case DCPKI_E_BAD_HEX:
    case DCPKI_E_NO_EMAIL_SOURCE:
    case DCPKI_E_UPN_NAME:
    case DCPKI_E_INVALID_ARGUMENT:
    case DCPKI_E_UNSUPPORTED:
        return CM_REJECTED;
    default: /* configuration, RA identity, TLS trust, unknown profile */
        return CM_UNCONFIGURED;
    }
}

/* the reason goes to stdout: certmonger stores it as the request's ca-error */
static int cm_fail(const dcpki_err *err)
{
    char buf[DCPKI_ERR_DETAIL_MAX + 512];
    printf("%s\n", dcpki_err_format(err, buf, sizeof buf));
    return cm_status_of(err->code);
}

static int cm_print_issued(const cli_enroll_res *res)
{
    if (PEM_write_X509(stdout, res->cert) != 1)
        return CM_UNREACHABLE;
    return CM_ISSUED;
}

/* cookie: "<profile OID> <pendingTokenReferenceID>" */
static int cm_pending(const char *profile, const char *pending_id)
{
    printf("%d\n%s %s\n", CM_POLL_DELAY, profile, pending_id);
    return CM_WAIT_WITH_DELAY;
}

static int cm_submit(cli_ctx *ctx, const char *store)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *pem = getenv("CERTMONGER_CSR");
    if (pem == NULL || pem[0] == '\0') {
        printf("CERTMONGER_CSR is not set: no certificate request to submit\n");
        return CM_UNCONFIGURED;
    }
    const char *p = getenv("CERTMONGER_CA_PROFILE");
    const char *profile;
    if (cli_pki_profile(ctx, p && p[0] ? p : NULL, &profile, &err) != DCPKI_OK)
        return cm_fail(&err);
    X509_REQ *csr = NULL;
    if (dcpki_csr_load((const unsigned char *)pem, strlen(pem), &csr, &err) != DCPKI_OK)
        return cm_fail(&err);
    /* a renewal (certmonger passes the certificate being replaced) asks the CA again */
    const char *old = getenv("CERTMONGER_CERTIFICATE");
    int renew = old != NULL && old[0] != '\0';
    cli_enroll_req rq = {.profile = profile, .csr = csr, .renew = renew, .store_dir = store};
    cli_enroll_res res;
    dcpki_code rc = cli_enroll_do(ctx, &rq, &res, &err);
    int ret;
    if (rc == DCPKI_OK)
        ret = cm_print_issued(&res);
    else if (rc == DCPKI_E_PENDING && res.pending_id != NULL)
        ret = cm_pending(profile, res.pending_id);
    else
        ret = cm_fail(&err);
    cli_enroll_res_clear(&res);
    X509_REQ_free(csr);
    return ret;
}

static int cm_poll(cli_ctx *ctx, const char *store)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *cookie = getenv("CERTMONGER_CA_COOKIE");
    char profile[256], pid[256];
    if (cookie == NULL || sscanf(cookie, "%255s %255s", profile, pid) != 2) {
        printf("CERTMONGER_CA_COOKIE is missing or not \"<profile> <pending id>\"\n");
        return CM_UNCONFIGURED;
    }
    cli_enroll_res res;
    dcpki_code rc = cli_enroll_poll(ctx, profile, pid, store, &res, &err);
    int ret;
    if (rc == DCPKI_OK)
        ret = cm_print_issued(&res);
    else if (rc == DCPKI_E_PENDING)
        ret = cm_pending(profile, pid);
    else
        ret = cm_fail(&err);
    cli_enroll_res_clear(&res);
    return ret;
}

static int cm_fetch_roots(cli_ctx *ctx)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *profile;
    const dcpki_policy *pol;
    const char *p = getenv("CERTMONGER_CA_PROFILE");
    if (cli_pki_profile(ctx, p && p[0] ? p : NULL, &profile, &err) != DCPKI_OK ||
        cli_policy_get(ctx, profile, &pol, &err) != DCPKI_OK)
        return cm_fail(&err);
    X509 *root = NULL;
    for (size_t i = 0; i < pol->n_cas && root == NULL; i++)
        root = pol->cas[i].root;
    if (root == NULL) {
        printf("the policy of profile %s names no root CA certificate\n", profile);
        return CM_UNCONFIGURED;
    }
    /* root: nickname line + PEM; then the other CA certificates after a blank line */
    char *n = cli_name_str(X509_get_subject_name(root));
    printf("%s\n", n ? n : "DigiCert PKI Platform root");
    free(n);
    PEM_write_X509(stdout, root);
    int first = 1;
    for (size_t i = 0; i < pol->n_cas; i++) {
        X509 *list[64];
        size_t k = 0;
        if (pol->cas[i].certificate)
            list[k++] = pol->cas[i].certificate;
        for (size_t j = 0; j < pol->cas[i].n_intermediates && k < 64; j++)
            list[k++] = pol->cas[i].intermediates[j];
        for (size_t j = 0; j < k; j++) {
            if (X509_cmp(list[j], root) == 0)
                continue;
            if (first)
                printf("\n");
            first = 0;
            char *m = cli_name_str(X509_get_subject_name(list[j]));
            printf("%s\n", m ? m : "DigiCert PKI Platform CA");
            free(m);
            PEM_write_X509(stdout, list[j]);
        }
    }
    return CM_ISSUED;
}

static int cm_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"store", required_argument, NULL, OPT_STORE},
        {NULL, 0, NULL, 0},
    };
    const char *store_opt = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc != 0 ? CM_UNCONFIGURED : 0;
        case OPT_STORE: store_opt = optarg; break;
        default: cli_usage_error(ctx, "unexpected option"); return CM_UNCONFIGURED;
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CM_UNCONFIGURED;
    const char *op = getenv("CERTMONGER_OPERATION");
    if (op == NULL || op[0] == '\0')
        op = "SUBMIT"; /* what certmonger's own helpers assume */
    if (strcmp(op, "IDENTIFY") == 0) {
        printf("dcpki %s (DigiCert PKI Platform, VeriSign SOAP dialect)\n", DCPKI_VERSION);
        return CM_ISSUED;
    }
    if (strcmp(op, "GET-NEW-REQUEST-REQUIREMENTS") == 0 ||
        strcmp(op, "GET-RENEW-REQUEST-REQUIREMENTS") == 0) {
        /* the subject (and SANs) travel in the CSR; nothing else is needed */
        printf("CERTMONGER_REQ_SUBJECT\n");
        return CM_ISSUED;
    }
    dcpki_err err;
    dcpki_err_clear(&err);
    const dcpki_config *cfg;
    if (strcmp(op, "GET-SUPPORTED-TEMPLATES") == 0 || strcmp(op, "GET-DEFAULT-TEMPLATE") == 0) {
        if (cli_config(ctx, &cfg, &err) != DCPKI_OK)
            return cm_fail(&err);
        if (strcmp(op, "GET-DEFAULT-TEMPLATE") == 0) {
            const char *d = dcpki_config_profile(cfg, "default");
            if (d != NULL)
                printf("%s\n", d);
            return CM_ISSUED;
        }
        for (size_t i = 0; i < cfg->n_profiles; i++) {
            int dup = 0;
            for (size_t j = 0; j < i; j++)
                dup |= strcmp(cfg->profiles[j].oid, cfg->profiles[i].oid) == 0;
            if (!dup)
                printf("%s\n", cfg->profiles[i].oid);
        }
        return CM_ISSUED;
    }
    if (strcmp(op, "FETCH-ROOTS") == 0)
        return cm_fetch_roots(ctx);
    if (strcmp(op, "SUBMIT") != 0 && strcmp(op, "POLL") != 0)
        return CM_NOT_SUPPORTED;
    char store[4096];
    if (cli_store_dir(store_opt, store, sizeof store, &err) != DCPKI_OK)
        return cm_fail(&err);
    return strcmp(op, "SUBMIT") == 0 ? cm_submit(ctx, store) : cm_poll(ctx, store);
}

const cli_cmd cli_cmd_certmonger = {
    .name = "certmonger-submit",
    .summary = "certmonger CA helper (getcert add-ca -e '/usr/bin/dcpki certmonger-submit')",
    .usage =
        "Usage: dcpki [--config FILE] certmonger-submit [--store DIR]\n"
        "\n"
        "certmonger's external CA helper: the operation comes from CERTMONGER_OPERATION\n"
        "(SUBMIT, POLL, IDENTIFY, FETCH-ROOTS, GET-SUPPORTED-TEMPLATES, GET-DEFAULT-TEMPLATE,\n"
        "GET-NEW-REQUEST-REQUIREMENTS, GET-RENEW-REQUEST-REQUIREMENTS), the CSR from\n"
        "CERTMONGER_CSR, the profile OID from CERTMONGER_CA_PROFILE (getcert request -T OID;\n"
        "default [profiles] default), a renewal is signalled by CERTMONGER_CERTIFICATE and a\n"
        "pending request comes back in CERTMONGER_CA_COOKIE.\n"
        "  getcert add-ca -c DigiCert -e '/usr/bin/dcpki certmonger-submit'\n"
        "  getcert request -c DigiCert -T 2.16.840.1.113733.1.16.1.2.3.1.1.47196109 \\\n"
        "      -N 'CN=host.example' -k /etc/pki/host.key -f /etc/pki/host.pem\n"
        "\n"
        "Exit status (certmonger's): 0 issued (PEM certificate on standard output), 2 rejected,\n"
        "3 CA unreachable (retry later), 4 helper under-configured, 5 pending (\"delay\\ncookie\"\n"
        "on standard output), 6 operation not supported; the reason is on standard output.\n",
    .run = cm_run,
};

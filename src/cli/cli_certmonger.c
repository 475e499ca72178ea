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

#include <errno.h>
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

enum { OPT_STORE = CLI_OPT_FIRST_FREE, OPT_POLL_DELAY };

static int cm_status_of(dcpki_code c)
{
    switch (c) {
    case DCPKI_E_TIMEOUT:
    case DCPKI_E_CONNECT:
    case DCPKI_E_CONNECTION_BROKEN:
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

/* the reason goes to stdout: certmonger stores it as the request's ca-error.
 * certmonger runs helpers with a minimal environment (no DCPKI_CONF), so a
 * configuration it cannot find is explained with the way to name it. */
static int cm_fail(const cli_ctx *ctx, const dcpki_err *err)
{
    char buf[DCPKI_ERR_DETAIL_MAX + 512];
    printf("%s", dcpki_err_format(err, buf, sizeof buf));
    if (err->code == DCPKI_E_CONFIG_MISSING && ctx->config_path == NULL)
        printf(" (certmonger passes no environment to its helpers: name the file in the helper "
               "command, getcert add-ca -c NAME -e 'dcpki certmonger-submit --config FILE', or "
               "getcert modify-ca -c NAME -e '...')");
    printf("\n");
    return cm_status_of(err->code);
}

static int cm_print_issued(const dcpki_enroll_result *res)
{
    if (PEM_write_X509(stdout, res->cert) != 1)
        return CM_UNREACHABLE;
    return CM_ISSUED;
}

/* certmonger holds the key and needs the certificate: it gets it, and the
 * store's failure goes to standard error (the journal entry lets the next
 * run record it) */
static int cm_issued_unrecorded(const dcpki_enroll_result *res, const dcpki_err *err)
{
    char buf[DCPKI_ERR_DETAIL_MAX + 256];
    cli_warn("%s", dcpki_err_format(err, buf, sizeof buf));
    return cm_print_issued(res);
}

static long cm_poll_delay = CM_POLL_DELAY;

/* cookie: "<profile OID> <pendingTokenReferenceID>" */
static int cm_pending(const char *profile, const char *pending_id)
{
    printf("%ld\n%s %s\n", cm_poll_delay, profile, pending_id);
    return CM_WAIT_WITH_DELAY;
}

static int cm_poll_id(cli_ctx *ctx, const char *store, const char *profile, const char *pid);

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
        return cm_fail(ctx, &err);
    X509_REQ *csr = NULL;
    if (dcpki_csr_load((const unsigned char *)pem, strlen(pem), &csr, &err) != DCPKI_OK)
        return cm_fail(ctx, &err);
    /* a renewal (certmonger passes the certificate being replaced) asks the CA again */
    const char *old = getenv("CERTMONGER_CERTIFICATE");
    int renew = old != NULL && old[0] != '\0';
    dcpki_enroll_request rq = {.profile = profile, .csr = csr, .renew = renew};
    dcpki_enroll_result res;
    memset(&res, 0, sizeof res);
    dcpki_enroller *eng;
    dcpki_code rc = cli_enroller(ctx, store, &eng, &err);
    if (rc == DCPKI_OK)
        rc = dcpki_enroll_run(eng, &rq, &res, &err);
    int ret;
    if (rc == DCPKI_OK)
        ret = cm_print_issued(&res);
    else if (cli_enroll_unrecorded(rc, &res))
        ret = cm_issued_unrecorded(&res, &err);
    else if (rc == DCPKI_E_PENDING && res.pending_id != NULL && res.already_pending)
        ret = cm_poll_id(ctx, store, profile, res.pending_id); /* getcert resubmit: ask the CA */
    else if (rc == DCPKI_E_PENDING && res.pending_id != NULL)
        ret = cm_pending(profile, res.pending_id);
    else
        ret = cm_fail(ctx, &err);
    dcpki_enroll_result_clear(&res);
    X509_REQ_free(csr);
    return ret;
}

static int cm_poll_id(cli_ctx *ctx, const char *store, const char *profile, const char *pid)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_enroll_result res;
    memset(&res, 0, sizeof res);
    dcpki_enroller *eng;
    dcpki_code rc = cli_enroller(ctx, store, &eng, &err);
    if (rc == DCPKI_OK)
        rc = dcpki_enroll_poll(eng, profile, pid, &res, &err);
    int ret;
    if (rc == DCPKI_OK)
        ret = cm_print_issued(&res);
    else if (cli_enroll_unrecorded(rc, &res))
        ret = cm_issued_unrecorded(&res, &err);
    else if (rc == DCPKI_E_PENDING)
        ret = cm_pending(profile, pid);
    else
        ret = cm_fail(ctx, &err);
    dcpki_enroll_result_clear(&res);
    return ret;
}

static int cm_poll(cli_ctx *ctx, const char *store)
{
    const char *cookie = getenv("CERTMONGER_CA_COOKIE");
    char profile[256], pid[256];
    if (cookie == NULL || sscanf(cookie, "%255s %255s", profile, pid) != 2) {
        printf("CERTMONGER_CA_COOKIE is missing or not \"<profile> <pending id>\"\n");
        return CM_UNCONFIGURED;
    }
    return cm_poll_id(ctx, store, profile, pid);
}

/* adds x to v (no duplicates); 0, or -1 when v is full */
static int cert_add(X509 **v, size_t *n, size_t max, X509 *x)
{
    if (x == NULL)
        return 0;
    for (size_t i = 0; i < *n; i++)
        if (X509_cmp(v[i], x) == 0)
            return 0;
    if (*n >= max)
        return -1;
    v[(*n)++] = x;
    return 0;
}

static void print_nicknamed(X509 *x, const char *fallback)
{
    char *n = cli_name_str(X509_get_subject_name(x));
    char shown[512];
    printf("%s\n", n && n[0] ? dcpki_escape(n, shown, sizeof shown) : fallback);
    free(n);
    PEM_write_X509(stdout, x);
}

#define CM_MAX_CERTS 64

/* The CA certificates of the profile certmonger names (CERTMONGER_CA_PROFILE,
 * rarely set for this CA-level operation), else of every profile the policy
 * service offers this RA (getPolicies without a filter): no [profiles] entry is
 * needed. The channel is the RA's mutual TLS, verified against [ca] trust.
 * Output (certmonger's helpers.txt): nickname + PEM of the root; a blank line
 * and the other roots; a blank line and the other CA certificates. */
static int cm_fetch_roots(cli_ctx *ctx)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *p = getenv("CERTMONGER_CA_PROFILE");
    const dcpki_policy *one = NULL;
    dcpki_policy **all = NULL;
    size_t n_all = 0;
    const char *host;
    dcpki_transport *t;
    if (p != NULL && p[0] != '\0') {
        const char *profile;
        if (cli_pki_profile(ctx, p, &profile, &err) != DCPKI_OK ||
            cli_policy_get(ctx, profile, &one, &err) != DCPKI_OK)
            return cm_fail(ctx, &err);
    } else if (cli_pki_host(ctx, &host, &err) != DCPKI_OK ||
               cli_transport(ctx, &t, &err) != DCPKI_OK ||
               dcpki_pki_get_all_policies(t, host, &all, &n_all, &err) != DCPKI_OK) {
        return cm_fail(ctx, &err);
    }
    const dcpki_policy *const *pols = one ? &one : (const dcpki_policy *const *)all;
    size_t n_pols = one ? 1 : n_all;
    X509 *roots[CM_MAX_CERTS], *others[CM_MAX_CERTS];
    size_t n_roots = 0, n_others = 0;
    int full = 0;
    for (size_t i = 0; i < n_pols; i++)
        for (size_t j = 0; j < pols[i]->n_cas; j++)
            full |= cert_add(roots, &n_roots, CM_MAX_CERTS, pols[i]->cas[j].root);
    for (size_t i = 0; i < n_pols; i++)
        for (size_t j = 0; j < pols[i]->n_cas; j++) {
            const dcpki_policy_ca *ca = &pols[i]->cas[j];
            X509 *list[CM_MAX_CERTS + 1];
            size_t k = 0;
            list[k++] = ca->certificate;
            for (size_t m = 0; m < ca->n_intermediates && k < CM_MAX_CERTS + 1; m++)
                list[k++] = ca->intermediates[m];
            for (size_t m = 0; m < k; m++) {
                int is_root = 0;
                for (size_t r = 0; list[m] && r < n_roots; r++)
                    is_root |= X509_cmp(list[m], roots[r]) == 0;
                if (!is_root)
                    full |= cert_add(others, &n_others, CM_MAX_CERTS, list[m]);
            }
        }
    int ret = CM_ISSUED;
    if (full) {
        printf("the policy service names more than %d CA certificates; dcpki passes at most %d\n",
               CM_MAX_CERTS, CM_MAX_CERTS);
        ret = CM_UNCONFIGURED;
    } else if (n_roots == 0) {
        printf("the policy service names no root CA certificate for %s%s\n",
               one ? "profile " : "the profiles of this RA", one ? one->profile_oid : "");
        ret = CM_UNCONFIGURED;
    } else {
        print_nicknamed(roots[0], "DigiCert PKI Platform root");
        if (n_roots > 1 || n_others > 0)
            printf("\n");
        for (size_t i = 1; i < n_roots; i++)
            print_nicknamed(roots[i], "DigiCert PKI Platform root");
        /* certmonger's parser (cadata.c) skips every newline after a list, so an
         * empty "other roots" list cannot be written: without another root, the
         * root stands there again and the CA certificates stay out of the trusted
         * lists, in "other certificates" */
        if (n_roots == 1 && n_others > 0)
            print_nicknamed(roots[0], "DigiCert PKI Platform root");
        if (n_others > 0)
            printf("\n");
        for (size_t i = 0; i < n_others; i++)
            print_nicknamed(others[i], "DigiCert PKI Platform CA");
        if (fflush(stdout) != 0)
            ret = CM_UNREACHABLE;
    }
    for (size_t i = 0; i < n_all; i++)
        dcpki_policy_free(all[i]);
    free(all);
    return ret;
}

static int cm_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"store", required_argument, NULL, OPT_STORE},
        {"poll-delay", required_argument, NULL, OPT_POLL_DELAY},
        {NULL, 0, NULL, 0},
    };
    const char *store_opt = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc != 0 ? CM_UNCONFIGURED : 0;
        case OPT_STORE: store_opt = optarg; break;
        case OPT_POLL_DELAY: {
            char *end;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || v < 1 || v > 86400) {
                char shown[64];
                printf("--poll-delay \"%s\" is not a number of seconds from 1 to 86400: fix the "
                       "helper command (getcert modify-ca -e ...)\n",
                       dcpki_escape(optarg, shown, sizeof shown));
                return CM_UNCONFIGURED;
            }
            cm_poll_delay = v;
            break;
        }
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
            return cm_fail(ctx, &err);
        if (strcmp(op, "GET-DEFAULT-TEMPLATE") == 0) {
            const char *d = dcpki_config_profile(cfg, "default");
            if (d != NULL)
                printf("%s\n", d);
            return CM_ISSUED;
        }
        /* what -T takes: each [profiles] name, then each OID once */
        for (size_t i = 0; i < cfg->n_profiles; i++)
            printf("%s\n", cfg->profiles[i].name);
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
    return strcmp(op, "SUBMIT") == 0 ? cm_submit(ctx, store_opt) : cm_poll(ctx, store_opt);
}

const cli_cmd cli_cmd_certmonger = {
    .name = "certmonger-submit",
    .summary = "certmonger CA helper (getcert add-ca -e '/usr/bin/dcpki certmonger-submit "
               "--config /etc/dcpki/dcpki.conf')",
    .usage =
        "Usage: dcpki [--config FILE] certmonger-submit [--config FILE] [--store DIR]\n"
        "                                             [--poll-delay SECONDS]\n"
        "\n"
        "certmonger's external CA helper: the operation comes from CERTMONGER_OPERATION\n"
        "(SUBMIT, POLL, IDENTIFY, FETCH-ROOTS, GET-SUPPORTED-TEMPLATES, GET-DEFAULT-TEMPLATE,\n"
        "GET-NEW-REQUEST-REQUIREMENTS, GET-RENEW-REQUEST-REQUIREMENTS), the CSR from\n"
        "CERTMONGER_CSR, the profile from CERTMONGER_CA_PROFILE (getcert request -T OID or a\n"
        "[profiles] name; default [profiles] default), a renewal is signalled by\n"
        "CERTMONGER_CERTIFICATE and a pending request comes back in CERTMONGER_CA_COOKIE.\n"
        "certmonger runs helpers with a minimal environment (no DCPKI_CONF, HOME=/run/certmonger):\n"
        "name the configuration in the helper command unless it is /etc/dcpki/dcpki.conf.\n"
        "FETCH-ROOTS hands certmonger the root and CA certificates of every profile the policy\n"
        "service offers the RA (no [profiles] entry needed).\n"
        "  getcert add-ca -c DigiCert \\\n"
        "      -e '/usr/bin/dcpki certmonger-submit --config /etc/dcpki/dcpki.conf'\n"
        "  getcert request -c DigiCert -T 2.16.840.1.113733.1.16.1.2.3.1.1.47196109 \\\n"
        "      -N 'CN=host.example' -k /etc/pki/host.key -f /etc/pki/host.pem\n"
        "\n"
        "Options:\n"
        "  --config FILE  dcpki.conf (default $DCPKI_CONF, else /etc/dcpki/dcpki.conf)\n"
        "  --store DIR    store of issued certificates (default /var/lib/dcpki/issued for\n"
        "                 root, see dcpki enroll --help)\n"
        "  --poll-delay SECONDS\n"
        "                 how long certmonger waits before asking again about a pending\n"
        "                 request (default 300); getcert resubmit asks at once\n"
        "\n"
        "Exit status (certmonger's): 0 issued (PEM certificate on standard output), 2 rejected,\n"
        "3 CA unreachable (retry later), 4 helper under-configured, 5 pending (\"delay\\ncookie\"\n"
        "on standard output), 6 operation not supported; the reason is on standard output.\n",
    .run = cm_run,
};

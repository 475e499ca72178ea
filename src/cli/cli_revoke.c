/* dcpki revoke / dcpki status: the certificate management service. */
#include "cli_enroll.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_SERIAL = CLI_OPT_FIRST_FREE, OPT_REASON, OPT_COMMENT, OPT_STORE };

/* --serial: given, and what the certificate management service takes
 * (dcpki_serial_normalise: hex digits, ':' and ' ' between them ignored, 1 to
 * DCPKI_SERIAL_MAX digits) without the tab dcpki_serial_normalise also skips.
 * 0, or the usage error's exit status. */
static int serial_usage(const cli_ctx *ctx, const char *serial)
{
    char norm[DCPKI_SERIAL_BUF];
    if (serial == NULL)
        return cli_usage_error(ctx, "--serial HEX is required");
    if (strchr(serial, '\t') != NULL || dcpki_serial_normalise(serial, norm, sizeof norm) != 0)
        return cli_usage_error(ctx, "serial number \"%.80s\" is not hex (at most %d digits)", serial,
                               DCPKI_SERIAL_MAX);
    return 0;
}

static int revoke_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"reason", required_argument, NULL, OPT_REASON},
        {"comment", required_argument, NULL, OPT_COMMENT},
        {"store", required_argument, NULL, OPT_STORE},
        {NULL, 0, NULL, 0},
    };
    const char *serial = NULL, *reason = NULL, *comment = NULL, *store_opt = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case OPT_SERIAL: serial = optarg; break;
        case OPT_REASON: reason = optarg; break;
        case OPT_COMMENT: comment = optarg; break;
        case OPT_STORE: store_opt = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CLI_EXIT_USAGE;
    if ((rc = serial_usage(ctx, serial)) != 0)
        return rc;
    if (reason != NULL && dcpki_pki_revocation_reason(reason) == NULL)
        return cli_usage_error(ctx, "unknown --reason '%s' (unspecified, keyCompromise, "
                               "CACompromise, affiliationChanged, superseded, cessationOfOperation, "
                               "privilegeWithdrawn, AACompromise)", reason);
    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_enroller *eng;
    dcpki_revoke_result res;
    memset(&res, 0, sizeof res);
    if (cli_enroller(ctx, store_opt, &eng, &err) != DCPKI_OK ||
        dcpki_enroll_revoke(eng, serial, reason, comment, &res, &err) != DCPKI_OK) {
        dcpki_revoke_result_clear(&res);
        return cli_error(&err);
    }
    const char *r = reason ? dcpki_pki_revocation_reason(reason) : "Unspecified";
    if (ctx->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "serial", json_object_new_string(serial));
        json_object_object_add(o, "status", json_object_new_string("REVOKED"));
        json_object_object_add(o, "reason", json_object_new_string(r));
        json_object_object_add(o, "already_revoked", json_object_new_boolean(res.already));
        json_object_object_add(o, "message", cli_json_str(res.message));
        json_object_object_add(o, "store_entries_marked", json_object_new_int((int)res.store_marked));
        dcpki_revoke_result_clear(&res);
        return cli_json_print(o);
    }
    char shown[512];
    if (res.already)
        printf("certificate %s was already revoked at the CA%s\n", serial,
               res.store_marked ? "; the store of issued certificates now says so too" : "");
    else
        printf("revoked certificate %s (reason %s): %s\n", serial, r,
               res.message ? dcpki_escape(res.message, shown, sizeof shown) : "done");
    dcpki_revoke_result_clear(&res);
    return 0;
}

const cli_cmd cli_cmd_revoke = {
    .name = "revoke",
    .summary = "revoke a certificate (certificate management service)",
    .usage =
        "Usage: dcpki revoke --serial HEX [--reason REASON] [--comment TEXT] [--store DIR]\n"
        "\n"
        "Revokes the certificate through the PKI Platform's certificate management service\n"
        "(updateCertificateStatusRequest, operation Revoke) and marks it revoked in the store of\n"
        "issued certificates, so that it is never re-delivered. From the moment the request is\n"
        "sent until the CA's answer is known, the store holds the certificate back; when the\n"
        "answer is lost, `dcpki status --serial` (or the next enrollment of its subject) asks the\n"
        "CA and settles it. A certificate the CA reports revoked already is a success.\n"
        "REASON: unspecified, keyCompromise, CACompromise, affiliationChanged, superseded,\n"
        "cessationOfOperation, privilegeWithdrawn, AACompromise.\n",
    .run = revoke_run,
};

static void ms_str(long long ms, char out[32])
{
    if (ms < 0) {
        snprintf(out, 32, "-");
        return;
    }
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static int status_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    static const struct option longopts[] = {
        CLI_COMMON_LONGOPTS,
        {"serial", required_argument, NULL, OPT_SERIAL},
        {"store", required_argument, NULL, OPT_STORE},
        {NULL, 0, NULL, 0},
    };
    const char *serial = NULL, *store_opt = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case OPT_SERIAL: serial = optarg; break;
        case OPT_STORE: store_opt = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CLI_EXIT_USAGE;
    if ((rc = serial_usage(ctx, serial)) != 0)
        return rc;
    dcpki_err err;
    dcpki_err_clear(&err);
    dcpki_enroller *eng;
    dcpki_pki_search_result res;
    memset(&res, 0, sizeof res);
    size_t marked = 0;
    if (cli_enroller(ctx, store_opt, &eng, &err) != DCPKI_OK ||
        dcpki_enroll_status(eng, serial, &res, &marked, &err) != DCPKI_OK) {
        dcpki_pki_search_result_clear(&res);
        return cli_error(&err);
    }
    if (res.n == 0) {
        dcpki_pki_search_result_clear(&res);
        return cli_errorf(DCPKI_E_INVALID_ARGUMENT,
                          "the CA knows no certificate with serial number %s (check the serial: "
                          "hex, as 'openssl x509 -noout -serial' prints it)", serial);
    }
    int ret = 0;
    if (ctx->json) {
        json_object *arr = json_object_new_array();
        for (size_t i = 0; i < res.n; i++) {
            dcpki_pki_cert_info *ci = &res.certs[i];
            char a[32], b[32], r[32];
            ms_str(ci->valid_from_ms, a);
            ms_str(ci->valid_to_ms, b);
            ms_str(ci->revoke_at_ms, r);
            json_object *o = json_object_new_object();
            json_object_object_add(o, "serial", cli_json_str(ci->serial));
            json_object_object_add(o, "status", cli_json_str(ci->status));
            json_object_object_add(o, "common_name", cli_json_str(ci->common_name));
            json_object_object_add(o, "email", cli_json_str(ci->email));
            json_object_object_add(o, "profile", cli_json_str(ci->profile_oid));
            json_object_object_add(o, "valid_from", cli_json_str(ci->valid_from_ms >= 0 ? a : NULL));
            json_object_object_add(o, "valid_to", cli_json_str(ci->valid_to_ms >= 0 ? b : NULL));
            json_object_object_add(o, "revoked_at", cli_json_str(ci->revoke_at_ms >= 0 ? r : NULL));
            json_object_object_add(o, "revoke_reason", cli_json_str(ci->revoke_reason));
            json_object_array_add(arr, o);
        }
        ret = cli_json_print(res.n == 1 ? json_object_get(json_object_array_get_idx(arr, 0)) : json_object_get(arr));
        json_object_put(arr);
    } else {
        for (size_t i = 0; i < res.n; i++) {
            dcpki_pki_cert_info *ci = &res.certs[i];
            char a[32], b[32], r[32];
            ms_str(ci->valid_from_ms, a);
            ms_str(ci->valid_to_ms, b);
            ms_str(ci->revoke_at_ms, r);
            printf("serial:      %s\nstatus:      %s\n", ci->serial, ci->status);
            if (ci->common_name)
                printf("common name: %s\n", ci->common_name);
            if (ci->email)
                printf("e-mail:      %s\n", ci->email);
            if (ci->profile_oid)
                printf("profile:     %s\n", ci->profile_oid);
            printf("valid:       %s .. %s\n", a, b);
            if (ci->revoke_at_ms >= 0 || ci->revoke_reason)
                printf("revoked:     %s (%s)\n", r, ci->revoke_reason ? ci->revoke_reason : "-");
        }
    }
    if (marked > 0 && !ctx->json)
        fprintf(stderr, "dcpki: the store of issued certificates now says %s too (%zu entr%s)\n",
                res.certs[0].status, marked, marked == 1 ? "y" : "ies");
    dcpki_pki_search_result_clear(&res);
    return ret;
}

const cli_cmd cli_cmd_status = {
    .name = "status",
    .summary = "show a certificate's status at the CA (VALID, REVOKED, ...)",
    .usage =
        "Usage: dcpki status --serial HEX [--store DIR] [--json]\n"
        "\n"
        "Looks the certificate up with the certificate management service\n"
        "(searchCertificateRequest) and prints its status (VALID, EXPIRED, REVOKED, SUSPENDED),\n"
        "subject, profile, validity and revocation. The store of issued certificates follows:\n"
        "a certificate the CA reports revoked is marked so (never re-delivered), and one held\n"
        "back by a revoke whose answer was lost is released when the CA reports it valid.\n",
    .run = status_run,
};

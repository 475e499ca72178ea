/* dcpki revoke / dcpki status: the certificate management service. */
#include "cli_enroll.h"
#include "dcpki/store.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

enum { OPT_SERIAL = CLI_OPT_FIRST_FREE, OPT_REASON, OPT_COMMENT, OPT_STORE };

/* --serial: hex digits, ':' and ' ' between them ignored, 1 to 128 digits (what
 * the certificate management service takes); anything else is a usage error. */
static int serial_ok(const char *s)
{
    size_t k = 0;
    for (; *s; s++) {
        if (*s == ':' || *s == ' ')
            continue;
        if (!isxdigit((unsigned char)*s) || ++k > 128)
            return 0;
    }
    return k > 0;
}

/* Every ISSUED entry with that serial becomes REVOKED; *count = entries changed. */
static dcpki_code mark_revoked(const char *dir, const char *serial, int *count, dcpki_err *err)
{
    dcpki_store *st = NULL;
    char **ids = NULL;
    size_t n = 0;
    *count = 0;
    dcpki_code rc = dcpki_store_open(&(dcpki_store_params){.dir = dir}, &st, err);
    if (rc == DCPKI_OK)
        rc = dcpki_store_find_serial(st, serial, &ids, &n, err);
    for (size_t i = 0; rc == DCPKI_OK && i < n; i++) {
        dcpki_store_entry e;
        int found = 0;
        if ((rc = dcpki_store_get(st, ids[i], &e, &found, err)) != DCPKI_OK || !found)
            continue;
        if (e.state == DCPKI_STORE_ISSUED || e.state == DCPKI_STORE_REVOKING) {
            e.state = DCPKI_STORE_REVOKED;
            if ((rc = dcpki_store_put(st, &e, err)) == DCPKI_OK)
                (*count)++;
        }
        dcpki_store_entry_clear(&e);
    }
    dcpki_store_ids_free(ids, n);
    dcpki_store_close(st);
    return rc;
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
    if (serial == NULL)
        return cli_usage_error(ctx, "--serial HEX is required");
    if (!serial_ok(serial))
        return cli_usage_error(ctx, "serial number \"%.80s\" is not hex (at most 128 digits)", serial);
    if (reason != NULL && dcpki_pki_revocation_reason(reason) == NULL)
        return cli_usage_error(ctx, "unknown --reason '%s' (unspecified, keyCompromise, "
                               "CACompromise, affiliationChanged, superseded, cessationOfOperation, "
                               "privilegeWithdrawn, AACompromise)", reason);
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *host;
    dcpki_transport *t;
    char txid[DCPKI_PKI_TXID_MAX + 1];
    char store[4096];
    dcpki_pki_status_result res;
    memset(&res, 0, sizeof res);
    if (cli_store_dir(store_opt, store, sizeof store, &err) != DCPKI_OK ||
        cli_pki_host(ctx, &host, &err) != DCPKI_OK || cli_transport(ctx, &t, &err) != DCPKI_OK ||
        dcpki_pki_new_txid(txid, sizeof txid, &err) != DCPKI_OK ||
        dcpki_pki_update_status(t, host, txid, serial, "Revoke", reason, comment, &res, &err) !=
            DCPKI_OK) {
        dcpki_pki_status_result_clear(&res);
        if (err.code == DCPKI_E_CONNECTION_BROKEN || err.code == DCPKI_E_TIMEOUT) {
            /* the outcome is unknown: the certificate may be revoked already */
            size_t dl = strlen(err.detail);
            snprintf(err.detail + dl, sizeof err.detail - dl,
                     "; the certificate may already be revoked: `dcpki status --serial %s` tells", serial);
        }
        return cli_error(&err);
    }
    /* re-delivery must not hand out a revoked certificate */
    int n = 0;
    dcpki_err serr;
    dcpki_err_clear(&serr);
    if (mark_revoked(store, serial, &n, &serr) != DCPKI_OK) {
        char buf[DCPKI_ERR_DETAIL_MAX + 256];
        cli_warn("revoked at the CA, but the store of issued certificates was not updated: %s",
                 dcpki_err_format(&serr, buf, sizeof buf));
    }
    const char *r = reason ? dcpki_pki_revocation_reason(reason) : "Unspecified";
    if (ctx->json) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "serial", json_object_new_string(serial));
        json_object_object_add(o, "status", json_object_new_string("REVOKED"));
        json_object_object_add(o, "reason", json_object_new_string(r));
        json_object_object_add(o, "message", cli_json_str(res.success_msg));
        json_object_object_add(o, "store_entries_marked", json_object_new_int(n));
        dcpki_pki_status_result_clear(&res);
        return cli_json_print(o);
    }
    printf("revoked certificate %s (reason %s): %s\n", serial, r,
           res.success_msg ? res.success_msg : "done");
    dcpki_pki_status_result_clear(&res);
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
        "issued certificates, so that it is never re-delivered.\n"
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
        {NULL, 0, NULL, 0},
    };
    const char *serial = NULL;
    int rc = 0, c;
    optind = 0;
    while ((c = cli_getopt(ctx, self, argc, argv, "", longopts, &rc)) != CLI_OPTS_END) {
        switch (c) {
        case CLI_OPTS_EXIT: return rc;
        case OPT_SERIAL: serial = optarg; break;
        default: return cli_usage_error(ctx, "unexpected option");
        }
    }
    if (cli_check_operands(ctx, argc, argv, 0, 0))
        return CLI_EXIT_USAGE;
    if (serial == NULL)
        return cli_usage_error(ctx, "--serial HEX is required");
    if (!serial_ok(serial))
        return cli_usage_error(ctx, "serial number \"%.80s\" is not hex (at most 128 digits)", serial);
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *host;
    dcpki_transport *t;
    dcpki_pki_search_result res;
    memset(&res, 0, sizeof res);
    dcpki_pki_search_filter f = {.serial_hex = serial};
    if (cli_pki_host(ctx, &host, &err) != DCPKI_OK || cli_transport(ctx, &t, &err) != DCPKI_OK ||
        dcpki_pki_search(t, host, &f, &res, &err) != DCPKI_OK)
        return cli_error(&err);
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
    dcpki_pki_search_result_clear(&res);
    return ret;
}

const cli_cmd cli_cmd_status = {
    .name = "status",
    .summary = "show a certificate's status at the CA (VALID, REVOKED, ...)",
    .usage =
        "Usage: dcpki status --serial HEX [--json]\n"
        "\n"
        "Looks the certificate up with the certificate management service\n"
        "(searchCertificateRequest) and prints its status (VALID, EXPIRED, REVOKED, SUSPENDED),\n"
        "subject, profile, validity and revocation.\n",
    .run = status_run,
};

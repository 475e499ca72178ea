/* dcpki doctor: the seed's troubleshooting table (BRIEF.md §6) as checks. */
#include "cli_enroll.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

typedef struct doctor {
    cli_ctx *ctx;
    json_object *arr;
    int failed;
} doctor;

/* status: "ok", "FAIL", "skip", "warn" */
static void report(doctor *d, const char *check, const char *status, const char *remedy,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(doctor *d, const char *check, const char *status, const char *remedy,
                   const char *fmt, ...)
{
    char msg[DCPKI_ERR_DETAIL_MAX + 512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (strcmp(status, "FAIL") == 0)
        d->failed++;
    if (d->arr != NULL) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "check", json_object_new_string(check));
        json_object_object_add(o, "status", json_object_new_string(
                                                strcmp(status, "FAIL") == 0 ? "fail"
                                                : strcmp(status, "ok") == 0 ? "ok"
                                                : strcmp(status, "warn") == 0 ? "warn" : "skip"));
        json_object_object_add(o, "message", json_object_new_string(msg));
        json_object_object_add(o, "remedy", cli_json_str(remedy));
        json_object_array_add(d->arr, o);
        return;
    }
    printf("%-4s  %-22s %s\n", status, check, msg);
    if (remedy != NULL)
        printf("      %-22s remedy: %s\n", "", remedy);
    fflush(stdout);
}

static void report_err(doctor *d, const char *check, const dcpki_err *err, const char *remedy)
{
    report(d, check, "FAIL", remedy ? remedy : dcpki_code_remedy(err->code), "%s%s%s",
           dcpki_code_sentence(err->code), err->detail[0] ? ": " : "", err->detail);
}

/* [ca] host: the configuration loader has already refused a malformed one
 * (scheme, path, bad port, bad characters), so only its absence is left. */
static const char *host_problem(const char *h)
{
    return h == NULL || *h == '\0' ? "is not set" : NULL;
}

static const char *REMEDY_HOST =
    "set [ca] host to the PKI Platform's base service FQDN, e.g. host = pki-ws.symauth.com "
    "(no https://, no trailing slash)";

static void check_ra_cert(doctor *d, const dcpki_identity *id)
{
    X509 *x = dcpki_identity_cert(id);
    char *subj = cli_name_str(X509_get_subject_name(x));
    char tp[41], na[32];
    cli_thumbprint(x, tp);
    cli_time_str(X509_get0_notAfter(x), na);
    report(d, "RA certificate", "ok", NULL, "%s (thumbprint %s), private key readable and matching",
           subj ? subj : "?", tp);
    if (cli_cert_expired(x))
        report(d, "RA validity", "FAIL",
               "renew the RA certificate in the DigiCert portal (dcpki ra csr) and install it with "
               "its key", "the RA certificate expired on %s", na);
    else if (cli_cert_not_yet_valid(x))
        report(d, "RA validity", "FAIL", "check the system clock", "the RA certificate is not valid yet");
    else
        report(d, "RA validity", "ok", NULL, "valid until %s", na);
    /* extended key usage: clientAuth (or no EKU at all, which allows any) */
    uint32_t xku = X509_get_extended_key_usage(x);
    if ((X509_get_extension_flags(x) & EXFLAG_XKUSAGE) && !(xku & XKU_SSL_CLIENT))
        report(d, "RA clientAuth", "FAIL",
               "request an RA certificate with extended key usage clientAuth (1.3.6.1.5.5.7.3.2): "
               "dcpki ra csr makes such a request",
               "the RA certificate's extended key usage lacks clientAuth (1.3.6.1.5.5.7.3.2)");
    else
        report(d, "RA clientAuth", "ok", NULL, "extended key usage allows TLS client authentication");
    ERR_clear_error();
    free(subj);
}

static const char *tls_remedy(dcpki_code c)
{
    switch (c) {
    case DCPKI_E_TLS_SERVER_UNTRUSTED:
        return "the server's certificate is not verified by [ca] trust or does not name [ca] host: "
               "install the CA's TLS root in the [ca] trust file and check the FQDN";
    case DCPKI_E_TLS_CLIENT:
        return "the RA certificate or its key was refused or cannot be used: run with the rights to "
               "read the RA key, install the RA certificate with its private key";
    case DCPKI_E_CONNECT:
        return "connection refused or host unreachable: check [ca] host (FQDN and port), DNS, "
               "firewall and proxy";
    case DCPKI_E_TIMEOUT:
        return "the CA did not answer within [ca] timeout_ms: raise timeout_ms, check the network, "
               "retry";
    default:
        return NULL;
    }
}

/* no TLS connection was made (tls_remedy says why for most) */
static int tls_failed(dcpki_code c)
{
    return c == DCPKI_E_TIMEOUT || c == DCPKI_E_CONNECT || c == DCPKI_E_CONNECTION_BROKEN ||
           c == DCPKI_E_TLS_SERVER_UNTRUSTED || c == DCPKI_E_TLS_CLIENT || c == DCPKI_E_TLS;
}

/* A client of the agent alone: [signing] agent, and neither [ca] host nor an RA identity. */
static int uses_agent_only(const dcpki_config *cfg)
{
    return cfg->signing.agent && !cfg->ca.host && !dcpki_config_names_ra(cfg);
}

static void check_signing(doctor *d, const dcpki_config *cfg, const dcpki_identity *id)
{
    dcpki_err err;
    dcpki_err_clear(&err);
    const char *agent = cfg ? cfg->signing.agent : NULL;
    if (agent == NULL && (cfg == NULL || cfg->signing.url == NULL)) {
        report(d, "signing service", "skip", NULL, "%s",
               cfg == NULL ? "not tried: fix the configuration first"
                           : "[signing] url is not set: no remote keys (dcpki:key=ALIAS) to check");
        return;
    }
    if (agent == NULL && cfg->signing.api_key_file == NULL) {
        report(d, "signing API key", "FAIL",
               "set [signing] api_key_file to the file holding the signing service's API key",
               "[signing] url is set but [signing] api_key_file is not");
        return;
    }
    if (agent == NULL && id == NULL) {
        report(d, "signing service", "skip", NULL,
               "not tried: the RA certificate (the client certificate of %s) is not usable",
               cfg->signing.url);
        return;
    }
    dcpki_signing *s;
    dcpki_keypair **items = NULL;
    size_t n = 0;
    dcpki_code r = cli_signing(d->ctx, &s, &err);
    if (agent != NULL) {
        /* the agent says hello when the client is made */
        if (r != DCPKI_OK) {
            report_err(d, "agent", &err, NULL);
            return;
        }
        report(d, "agent", "ok", NULL, "%s serves %s", agent, dcpki_signing_base(s));
    }
    if (r == DCPKI_OK)
        r = dcpki_signing_list(s, &items, &n, &err);
    if (r == DCPKI_E_API_KEY) {
        report_err(d, "signing API key", &err,
                   agent ? "put a valid API key of the signing service in the agent's [signing] api_key_file"
                         : "put a valid API key of the signing service in [signing] api_key_file");
        return;
    }
    if (tls_failed(r)) {
        report_err(d, "signing service", &err, tls_remedy(r));
        return;
    }
    if (r != DCPKI_OK) {
        report_err(d, "signing service", &err, NULL);
        return;
    }
    char names[512] = "";
    size_t nl = 0;
    for (size_t i = 0; i < n && nl < sizeof names; i++) {
        char e[128];
        nl += (size_t)snprintf(names + nl, sizeof names - nl, "%s%s", i ? ", " : "",
                               dcpki_escape(items[i]->alias, e, sizeof e));
    }
    report(d, "signing API key", "ok", NULL, "accepted by %s%s", agent ? dcpki_signing_base(s) : cfg->signing.url,
           agent ? " (the agent's)" : "");
    report(d, "signing keys", n > 0 ? "ok" : "warn",
           n > 0 ? NULL : "create or assign keys to this API key in DigiCert ONE",
           "%zu key%s listed%s%s", n, n == 1 ? "" : "s", n ? ": " : "", names);
    /* each alias of [signing] keys */
    char *copy = cfg->signing.keys ? strdup(cfg->signing.keys) : NULL;
    if (cfg->signing.keys != NULL && copy == NULL) {
        report(d, "signing keys", "FAIL", NULL, "out of memory");
    } else if (copy != NULL) {
        char *save = NULL;
        for (char *a = strtok_r(copy, ",", &save); a != NULL; a = strtok_r(NULL, ",", &save)) {
            while (*a == ' ' || *a == '\t')
                a++;
            size_t al = strlen(a);
            while (al > 0 && (a[al - 1] == ' ' || a[al - 1] == '\t'))
                a[--al] = '\0';
            int found = 0;
            for (size_t i = 0; i < n && !found; i++)
                found = items[i]->alias != NULL && strcmp(items[i]->alias, a) == 0;
            char shown[128], check[160];
            dcpki_escape(a, shown, sizeof shown);
            snprintf(check, sizeof check, "key %s", shown);
            if (found)
                report(d, check, "ok", NULL, "found (dcpki:key=%s)", shown);
            else
                report(d, check, "FAIL",
                       "correct the alias in [signing] keys (and where the host uses it), or have "
                       "the key assigned to this API key in DigiCert ONE (dcpki keys list)",
                       "no signing key with alias \"%s\" (the service lists: %s)", shown,
                       n ? names : "none");
        }
        free(copy);
    } else if (n > 0) {
        report(d, "signing key aliases", "skip", NULL,
               "[signing] keys is not set: list there the aliases this host uses to have "
               "each checked");
    }
    dcpki_keypairs_free(items, n);
}

static int doctor_run(cli_ctx *ctx, const cli_cmd *self, int argc, char **argv)
{
    int st = cli_parse_common_only(ctx, self, argc, argv, 0, 0);
    if (st != CLI_OPTS_END)
        return st;
    doctor d = {.ctx = ctx, .arr = ctx->json ? json_object_new_array() : NULL};
    dcpki_err err;
    dcpki_err_clear(&err);
    const dcpki_config *cfg = NULL;
    const dcpki_identity *id = NULL;
    const char *path = dcpki_config_path(ctx->config_path);

    /* 1. configuration */
    int agent_only = 0;
    if (cli_config(ctx, &cfg, &err) != DCPKI_OK) {
        report_err(&d, "configuration", &err, NULL);
    } else if ((agent_only = uses_agent_only(cfg))) {
        report(&d, "configuration", "ok", NULL, "%s read", cfg->path ? cfg->path : path);
        report(&d, "PKI Platform", "skip", NULL,
               "this configuration sets no [ca] host and no RA identity: it uses remote keys through the "
               "agent at %s only (enrollment would need them)", cfg->signing.agent);
    } else {
        report(&d, "configuration", "ok", NULL, "%s read", cfg->path ? cfg->path : path);
        /* 2. [ca] host */
        const char *hp = host_problem(cfg->ca.host);
        if (hp != NULL)
            report(&d, "[ca] host", "FAIL", REMEDY_HOST, "[ca] host \"%s\" %s",
                   cfg->ca.host ? cfg->ca.host : "", hp);
        else
            report(&d, "[ca] host", "ok", NULL, "%s", cfg->ca.host);
        /* 3. [ca] name */
        if (cfg->ca.name == NULL)
            report(&d, "[ca] name", "FAIL", "set [ca] name = Symantec",
                   "[ca] name is not set; the PKI Platform needs \"Symantec\"");
        else if (strcmp(cfg->ca.name, "Symantec") != 0)
            report(&d, "[ca] name", "FAIL", "set [ca] name = Symantec (exactly, case included)",
                   "[ca] name is \"%s\"; the PKI Platform's CA name must be exactly \"Symantec\"",
                   cfg->ca.name);
        else
            report(&d, "[ca] name", "ok", NULL, "Symantec");
        /* [ca] trust */
        if (cfg->ca.trust == NULL)
            report(&d, "[ca] trust", "FAIL",
                   "set [ca] trust to the PEM file of the roots that verify the CA's server",
                   "[ca] trust is not set");
        else if (access(cfg->ca.trust, R_OK) != 0)
            report(&d, "[ca] trust", "FAIL",
                   "install the CA's root certificates (PEM) there, readable by this user",
                   "%s cannot be read", cfg->ca.trust);
        else
            report(&d, "[ca] trust", "ok", NULL, "%s", cfg->ca.trust);
        report(&d, "[ca] timeout_ms", "ok", NULL, "%ld ms", cfg->ca.timeout_ms);

        /* 4. RA identity */
        if (cli_identity(ctx, &id, &err) != DCPKI_OK) {
            report_err(&d, "RA certificate", &err, NULL);
            id = NULL;
        } else {
            check_ra_cert(&d, id);
        }
    }

    /* 5. TLS + 6. health check */
    int reachable = 0;
    if (agent_only) {
        /* nothing of the PKI Platform to check */
    } else if (cfg != NULL && id != NULL && host_problem(cfg->ca.host) == NULL) {
        dcpki_transport *t;
        dcpki_pki_health h;
        memset(&h, 0, sizeof h);
        dcpki_code r = cli_transport(ctx, &t, &err);
        if (r == DCPKI_OK)
            r = dcpki_pki_health_check(t, cfg->ca.host, NULL, &h, &err);
        if (tls_failed(r)) {
            report_err(&d, "TLS handshake", &err, tls_remedy(r));
            report(&d, "health check", "skip", NULL, "not tried: no TLS connection");
        } else {
            reachable = 1;
            report(&d, "TLS handshake", "ok", NULL, "mutual TLS with %s using the RA certificate",
                   cfg->ca.host);
            if (r != DCPKI_OK)
                report_err(&d, "health check", &err, NULL);
            else if (!h.up)
                report(&d, "health check", "FAIL", "the CA's enrollment service is down: retry later",
                       "the health check service answers %s: %s", h.status_code,
                       h.status_message ? h.status_message : "");
            else
                report(&d, "health check", "ok", NULL, "%s%s%s", h.status_code,
                       h.status_message ? ": " : "", h.status_message ? h.status_message : "");
        }
        dcpki_pki_health_clear(&h);
    } else {
        report(&d, "TLS handshake", "skip", NULL, "not tried: fix the checks above first");
        report(&d, "health check", "skip", NULL, "not tried: fix the checks above first");
    }

    /* 7. policies of the configured profiles */
    if (agent_only) {
        /* idem */
    } else if (cfg != NULL && cfg->n_profiles == 0) {
        report(&d, "profiles", "warn", "add [profiles] default = <profile OID> (dcpki enroll and "
               "certmonger use it)", "no [profiles] configured: no profile checked");
    } else if (cfg != NULL) {
        for (size_t i = 0; i < cfg->n_profiles; i++) {
            char name[128];
            snprintf(name, sizeof name, "profile %s", cfg->profiles[i].name);
            const dcpki_policy *pol;
            if (!reachable) {
                report(&d, name, "skip", NULL, "%s: not tried, the CA is not reachable",
                       cfg->profiles[i].oid);
            } else if (cli_policy_get(ctx, cfg->profiles[i].oid, &pol, &err) != DCPKI_OK) {
                report_err(&d, name, &err, NULL);
            } else {
                report(&d, name, "ok", NULL, "%s: policy retrieved (%s)", cfg->profiles[i].oid,
                       pol->friendly_name ? pol->friendly_name : "no name");
            }
        }
    }

    /* 8. the signing service: API key accepted, keys listed, each [signing] keys alias found */
    check_signing(&d, cfg, id);

    if (d.arr != NULL) {
        json_object *o = json_object_new_object();
        json_object_object_add(o, "ok", json_object_new_boolean(d.failed == 0));
        json_object_object_add(o, "failed", json_object_new_int(d.failed));
        json_object_object_add(o, "checks", d.arr);
        cli_json_print(o);
    } else {
        printf("%s\n", d.failed == 0 ? "all checks passed"
                                     : d.failed == 1 ? "1 check failed" : "some checks failed");
    }
    return d.failed == 0 ? 0 : 1;
}

const cli_cmd cli_cmd_doctor = {
    .name = "doctor",
    .summary = "check configuration, RA certificate, TLS, health, profiles and signing keys",
    .usage =
        "Usage: dcpki doctor [--json]\n"
        "\n"
        "Runs the connector's troubleshooting table as checks and prints, for each, ok or what\n"
        "failed with its remedy: configuration readable; [ca] host an FQDN without scheme or\n"
        "trailing slash; [ca] name \"Symantec\"; [ca] trust readable; RA certificate found (by\n"
        "thumbprint when configured) with its private key readable and matching, not expired,\n"
        "clientAuth; TLS handshake with the CA (server not trusted / client certificate or key\n"
        "refused / connection refused / timeout); health check service UP; the policy of each\n"
        "[profiles] entry retrievable; with [signing] url: the API key accepted and the keys\n"
        "listed by the signing service, and each alias of [signing] keys found.\n"
        "Exit status: 0 when every check passed, 1 otherwise.\n",
    .run = doctor_run,
};

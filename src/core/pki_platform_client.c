/* PKI Platform calls over the transport: build → POST → parse. */
#include "dcpki/pki_platform.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dcpki/log.h"
#include "internal.h"

static const char *service_name(dcpki_pki_service s)
{
    switch (s) {
    case DCPKI_PKI_POLICY: return "policy service";
    case DCPKI_PKI_ENROLLMENT: return "enrollment service";
    case DCPKI_PKI_MANAGEMENT: return "certificate management service";
    case DCPKI_PKI_HEALTH: return "health check service";
    }
    return "service";
}

static int looks_like_soap(const char *body, size_t len)
{
    static const char needle[] = "Envelope";
    size_t n = sizeof(needle) - 1;
    for (size_t i = 0; i + n <= len && i < 4096; i++)
        if (memcmp(body + i, needle, n) == 0)
            return 1;
    return 0;
}

static dcpki_code post_action(dcpki_transport *t, const char *ca_host, dcpki_pki_service s,
                              const char *action, const char *body, size_t len, int idempotent,
                              char **resp, size_t *resp_len, dcpki_err *err)
{
    *resp = NULL;
    *resp_len = 0;
    const char *path = dcpki_pki_service_path(s);
    if (t == NULL || path == NULL || body == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no transport, service or body to send");
    if (ca_host == NULL || ca_host[0] == '\0')
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "[ca] host is not set (e.g. host = pki-ws.symauth.com)");
    if (strchr(ca_host, '/') != NULL || strchr(ca_host, ' ') != NULL)
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                             "[ca] host \"%.100s\" must be host[:port] without scheme or slash",
                             ca_host);
    char url[512], soapaction[256];
    if ((size_t)snprintf(url, sizeof(url), "https://%s%s", ca_host, path) >= sizeof(url) ||
        (size_t)snprintf(soapaction, sizeof(soapaction), "SOAPAction: \"%s\"", action) >=
            sizeof(soapaction))
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE, "[ca] host \"%.100s\" is too long",
                             ca_host);
    const char *headers[] = {"Content-Type: text/xml; charset=utf-8", soapaction,
                             "Accept: text/xml", NULL};
    dcpki_http_request req = {.method = "POST", .url = url, .headers = headers, .body = body,
                              .body_len = len, .idempotent = idempotent};
    dcpki_http_response r;
    dcpki_code rc = dcpki_transport_perform(t, &req, &r, err);
    if (rc != DCPKI_OK)
        return rc;
    DCPKI_DEBUG("pki-ws %s: HTTP %ld, %zu bytes", path, r.status, r.len);
    if (r.status == 200 || (r.status == 500 && r.body != NULL && looks_like_soap(r.body, r.len))) {
        if (r.body == NULL || r.len == 0) {
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the %s at %s answered with an empty body",
                               service_name(s), url);
        } else {
            *resp = r.body;
            *resp_len = r.len;
            r.body = NULL;
        }
    } else if (r.status == 401 || r.status == 403) {
        rc = dcpki_err_set(err, DCPKI_E_ACCESS_DENIED,
                           "the %s at %s refused the RA certificate (HTTP %ld)", service_name(s),
                           url, r.status);
    } else if (r.status == 404) {
        rc = dcpki_err_set(err, DCPKI_E_HTTP,
                           "no %s at %s (HTTP 404): is [ca] host the PKI Platform's base FQDN?",
                           service_name(s), url);
    } else if (r.status == 429) {
        char note[160];
        rc = dcpki_err_set(err, DCPKI_E_RATE_LIMITED, "the %s at %s limits the request rate (HTTP 429; %s)",
                           service_name(s), url, dcpki_http_retry_note(&r, note, sizeof(note)));
    } else if (r.status >= 500) {
        rc = dcpki_err_set(err, DCPKI_E_SERVICE_UNAVAILABLE, "the %s at %s answered HTTP %ld",
                           service_name(s), url, r.status);
    } else {
        rc = dcpki_err_set(err, DCPKI_E_HTTP, "the %s at %s answered HTTP %ld", service_name(s), url,
                           r.status);
    }
    dcpki_http_response_free(&r);
    return rc;
}

dcpki_code dcpki_pki_post(dcpki_transport *t, const char *ca_host, dcpki_pki_service s,
                          const char *body, size_t len, int idempotent, char **resp,
                          size_t *resp_len, dcpki_err *err)
{
    return post_action(t, ca_host, s, dcpki_pki_soap_action(s), body, len, idempotent, resp,
                       resp_len, err);
}

/* getPolicies for n_oids profile OIDs (0: every policy): the answer (free()). */
static dcpki_code get_policies(dcpki_transport *t, const char *ca_host, const char *const *oids,
                               size_t n_oids, char **resp, size_t *rlen, dcpki_err *err)
{
    char txid[DCPKI_PKI_TXID_MAX + 1];
    char *body = NULL;
    size_t len = 0;
    dcpki_code rc = dcpki_pki_new_txid(txid, sizeof(txid), err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_build_get_policies(txid, oids, n_oids, &body, &len, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_post(t, ca_host, DCPKI_PKI_POLICY, body, len, 1, resp, rlen, err);
    free(body);
    return rc;
}

dcpki_code dcpki_pki_get_policy(dcpki_transport *t, const char *ca_host, const char *profile_oid,
                                dcpki_policy **out, dcpki_err *err)
{
    *out = NULL;
    char *resp = NULL;
    size_t rlen = 0;
    const char *oids[] = {profile_oid};
    dcpki_code rc = get_policies(t, ca_host, oids, profile_oid ? 1 : 0, &resp, &rlen, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_parse_policies(resp, rlen, profile_oid, out, err);
    free(resp);
    return rc;
}

dcpki_code dcpki_pki_get_all_policies(dcpki_transport *t, const char *ca_host, dcpki_policy ***out,
                                      size_t *n_out, dcpki_err *err)
{
    *out = NULL;
    *n_out = 0;
    char *resp = NULL;
    size_t rlen = 0;
    dcpki_code rc = get_policies(t, ca_host, NULL, 0, &resp, &rlen, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_parse_all_policies(resp, rlen, out, n_out, err);
    free(resp);
    return rc;
}

dcpki_code dcpki_pki_enroll(dcpki_transport *t, const char *ca_host,
                            const dcpki_pki_enroll_params *p, const EVP_PKEY *pub,
                            dcpki_pki_enroll_result *out, dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    char *body = NULL, *resp = NULL;
    size_t len = 0, rlen = 0;
    dcpki_code rc = dcpki_pki_build_enroll(p, &body, &len, err);
    /* only a status query may be repeated blindly; an Issue is never resent */
    if (rc == DCPKI_OK)
        rc = dcpki_pki_post(t, ca_host, DCPKI_PKI_ENROLLMENT, body, len, p->type == DCPKI_PKI_QUERY,
                            &resp, &rlen, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_parse_enroll(resp, rlen, pub, out, err);
    free(body);
    free(resp);
    return rc;
}

/* The service's words for a serial it does not know. The emulator says
 * "Certificate with serial number ... not found" (successCode -1); the real
 * service's text is undocumented (pki-platform.md §5), hence the variants. */
static int says_not_found(const char *s)
{
    return dcpki_contains_ci(s, "not found") || dcpki_contains_ci(s, "does not exist") ||
           dcpki_contains_ci(s, "unknown serial") || dcpki_contains_ci(s, "no certificate");
}

/* The two forms a serial is sent in: the normal one first, the DER one when
 * the service does not know the first (norm and der: DCPKI_SERIAL_BUF). */
static dcpki_code serial_forms(const char *in, char *norm, char *der, dcpki_err *err)
{
    if (dcpki_serial_normalise(in, norm, DCPKI_SERIAL_BUF) != 0 ||
        dcpki_serial_der_form(norm, der, DCPKI_SERIAL_BUF) != 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "serial number \"%.80s\" is not hex (at most %d digits; ':' and blanks "
                             "between them are ignored)", in ? in : "", DCPKI_SERIAL_MAX);
    return DCPKI_OK;
}

static dcpki_code update_status_once(dcpki_transport *t, const char *ca_host, const char *txid,
                                     const char *serial, const char *operation, const char *reason,
                                     const char *comment, dcpki_pki_status_result *res,
                                     dcpki_err *err)
{
    char *body = NULL, *resp = NULL;
    size_t len = 0, rlen = 0;
    dcpki_pki_status_result_clear(res);
    dcpki_code rc = dcpki_pki_build_update_status(txid, serial, operation, reason, comment, &body,
                                                  &len, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_post(t, ca_host, DCPKI_PKI_MANAGEMENT, body, len, 0, &resp, &rlen, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_parse_update_status(resp, rlen, res, err);
    free(body);
    free(resp);
    return rc;
}

dcpki_code dcpki_pki_update_status(dcpki_transport *t, const char *ca_host, const char *txid,
                                   const char *serial_hex, const char *operation,
                                   const char *reason, const char *comment,
                                   dcpki_pki_status_result *out, dcpki_err *err)
{
    dcpki_pki_status_result local;
    dcpki_pki_status_result *res = out ? out : &local;
    memset(res, 0, sizeof(*res));
    char norm[DCPKI_SERIAL_BUF], der[DCPKI_SERIAL_BUF];
    dcpki_code rc = serial_forms(serial_hex, norm, der, err);
    if (rc != DCPKI_OK)
        return rc;
    rc = update_status_once(t, ca_host, txid, norm, operation, reason, comment, res, err);
    int unknown = (rc == DCPKI_OK && res->success_code < 0 && says_not_found(res->success_msg)) ||
                  (rc == DCPKI_E_CA_REFUSED && err != NULL && says_not_found(err->detail));
    const char *sent = norm;
    if (unknown && strcmp(der, norm) != 0) {
        /* a second request: its own clientTransactionID, so that no answer to the
         * first is replayed for it */
        char txid2[DCPKI_PKI_TXID_MAX + 1];
        DCPKI_DEBUG("pki-ws: serial %s unknown to the CA; trying the DER form %s", norm, der);
        rc = dcpki_pki_new_txid(txid2, sizeof txid2, err);
        if (rc == DCPKI_OK)
            rc = update_status_once(t, ca_host, txid ? txid2 : NULL, der, operation, reason, comment,
                                    res, err);
        sent = der;
    }
    if (rc == DCPKI_OK && res->success_code < 0)
        rc = dcpki_err_set(err, DCPKI_E_CA_REFUSED,
                           "the CA refused to %s certificate %s: \"%.200s\" (successCode %ld)%s%s%s",
                           operation, sent, res->success_msg ? res->success_msg : "",
                           res->success_code, sent == der ? "; sent as " : "",
                           sent == der ? norm : "", sent == der ? " first" : "");
    if (res == &local)
        dcpki_pki_status_result_clear(&local);
    return rc;
}

dcpki_code dcpki_pki_health_check(dcpki_transport *t, const char *ca_host,
                                  const char *profile_oid, dcpki_pki_health *out,
                                  dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    char txid[DCPKI_PKI_TXID_MAX + 1];
    char *body = NULL, *resp = NULL;
    size_t len = 0, rlen = 0;
    dcpki_code rc = dcpki_pki_new_txid(txid, sizeof(txid), err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_build_health(txid, profile_oid, &body, &len, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_post(t, ca_host, DCPKI_PKI_HEALTH, body, len, 1, &resp, &rlen, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_parse_health(resp, rlen, out, err);
    free(body);
    free(resp);
    return rc;
}

static dcpki_code search_once(dcpki_transport *t, const char *ca_host,
                              const dcpki_pki_search_filter *f, dcpki_pki_search_result *out,
                              dcpki_err *err)
{
    char txid[DCPKI_PKI_TXID_MAX + 1];
    char *body = NULL, *resp = NULL;
    size_t len = 0, rlen = 0;
    dcpki_code rc = dcpki_pki_new_txid(txid, sizeof(txid), err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_build_search(txid, f, &body, &len, err);
    if (rc == DCPKI_OK)
        rc = post_action(t, ca_host, DCPKI_PKI_MANAGEMENT, DCPKI_NS_VS_MGMT "/searchCertificate",
                         body, len, 1, &resp, &rlen, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_parse_search(resp, rlen, out, err);
    free(body);
    free(resp);
    return rc;
}

dcpki_code dcpki_pki_search(dcpki_transport *t, const char *ca_host,
                            const dcpki_pki_search_filter *f, dcpki_pki_search_result *out,
                            dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    if (f == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no search filter");
    if (f->serial_hex == NULL)
        return search_once(t, ca_host, f, out, err);
    char norm[DCPKI_SERIAL_BUF], der[DCPKI_SERIAL_BUF];
    dcpki_code rc = serial_forms(f->serial_hex, norm, der, err);
    if (rc != DCPKI_OK)
        return rc;
    dcpki_pki_search_filter g = *f;
    g.serial_hex = norm;
    rc = search_once(t, ca_host, &g, out, err);
    if (rc == DCPKI_OK && out->n == 0 && out->count == 0 && strcmp(norm, der) != 0) {
        DCPKI_DEBUG("pki-ws: no certificate with serial %s; trying the DER form %s", norm, der);
        dcpki_pki_search_result_clear(out);
        g.serial_hex = der;
        rc = search_once(t, ca_host, &g, out, err);
    }
    return rc;
}

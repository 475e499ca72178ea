/* Revocation and status (enroll.h): the store follows what the CA says, and
 * a revoke whose answer was lost never lets its certificate be re-delivered. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "enroll_internal.h"

void dcpki_revoke_result_clear(dcpki_revoke_result *r)
{
    free(r->message);
    memset(r, 0, sizeof(*r));
}

dcpki_code dcpki_enroll_revoke(dcpki_enroller *e, const char *serial_hex, const char *reason,
                               const char *comment, dcpki_revoke_result *res, dcpki_err *err)
{
    memset(res, 0, sizeof(*res));
    const char *host;
    dcpki_transport *t;
    char txid[DCPKI_PKI_TXID_MAX + 1];
    dcpki_code rc = enroll_begin(e, &host, err);
    if (rc == DCPKI_OK)
        rc = dcpki_ctx_transport(e->ctx, &t, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_new_txid(txid, sizeof txid, err);
    if (rc != DCPKI_OK)
        return rc;
    /* journal: from now until the CA's answer is known, never re-delivered */
    size_t n = 0;
    if ((rc = enroll_mark_serial(e, serial_hex, DCPKI_STORE_REVOKING, &n, err)) != DCPKI_OK) {
        enroll_err_append(err, "; nothing was sent to the CA");
        return rc;
    }
    dcpki_pki_status_result sr;
    memset(&sr, 0, sizeof sr);
    rc = dcpki_pki_update_status(t, host, txid, serial_hex, "Revoke", reason, comment, &sr, err);
    if (sr.success_msg != NULL)
        res->message = strdup(sr.success_msg);
    dcpki_pki_status_result_clear(&sr);
    if (rc != DCPKI_OK && enroll_outcome_unknown(rc)) {
        enroll_err_append(err,
                         "; it may already be revoked: the store keeps the certificate from being "
                         "re-delivered until `dcpki status --serial %s` (or the next enrollment of its "
                         "subject) learns its status", serial_hex);
        return rc;
    }
    if (rc != DCPKI_OK) {
        /* refused: the CA's own record says whether it is revoked already */
        dcpki_err serr;
        dcpki_err_clear(&serr);
        const char *status = NULL;
        if (enroll_ca_status(e, host, serial_hex, &status, &serr) == DCPKI_OK && status != NULL &&
            strcmp(status, "REVOKED") == 0) {
            res->already = 1;
            dcpki_err_clear(err);
            rc = DCPKI_OK;
        } else {
            size_t back = 0;
            dcpki_err ignore;
            if (status != NULL && strcmp(status, "VALID") == 0)
                (void)enroll_mark_serial(e, serial_hex, DCPKI_STORE_ISSUED, &back, &ignore);
            return rc;
        }
    }
    return enroll_mark_serial(e, serial_hex, DCPKI_STORE_REVOKED, &res->store_marked, err);
}

dcpki_code dcpki_enroll_status(dcpki_enroller *e, const char *serial_hex,
                               dcpki_pki_search_result *out, size_t *store_marked,
                               dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    *store_marked = 0;
    const char *host;
    dcpki_transport *t;
    dcpki_code rc = enroll_begin(e, &host, err);
    if (rc == DCPKI_OK)
        rc = dcpki_ctx_transport(e->ctx, &t, err);
    dcpki_pki_search_filter f = {.serial_hex = serial_hex};
    if (rc == DCPKI_OK)
        rc = dcpki_pki_search(t, host, &f, out, err);
    if (rc != DCPKI_OK || out->n == 0)
        return rc;
    const char *st = out->certs[0].status;
    if (st == NULL)
        return DCPKI_OK;
    if (strcasecmp(st, "REVOKED") == 0)
        return enroll_mark_serial(e, serial_hex, DCPKI_STORE_REVOKED, store_marked, err);
    if (strcasecmp(st, "VALID") == 0)
        return enroll_mark_serial(e, serial_hex, DCPKI_STORE_ISSUED, store_marked, err);
    return DCPKI_OK;
}

/* Asking the CA what became of a request or a certificate (enroll.h): the
 * certificate management service's search. The CA is never trusted to
 * recognise a re-sent clientTransactionID; it is asked what it issued. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "enroll_internal.h"

/* search pages looked at before giving up (the service returns up to a few
 * hundred per page; more for one subject and profile in a day is not a
 * journalled request of ours going astray) */
#define FIND_MAX_PAGES 20
/* the search starts this long before the first send: a CA may back-date
 * notBefore, and clocks differ */
#define FIND_WINDOW_S (24 * 3600)

static EVP_PKEY *entry_public_key(const dcpki_store_entry *ent, X509_REQ **csr_out)
{
    *csr_out = NULL;
    if (ent->key != NULL)
        return ent->key;
    if (ent->csr == NULL)
        return NULL;
    const unsigned char *p = ent->csr;
    X509_REQ *csr = d2i_X509_REQ(NULL, &p, (long)ent->csr_len);
    if (csr == NULL)
        return NULL;
    *csr_out = csr;
    return X509_REQ_get0_pubkey(csr);
}

/* the CA certificates of the profile's policy that chain the leaf, issuer first */
static dcpki_code chain_from_policy(dcpki_enroller *e, const char *profile, X509 *leaf,
                                    X509 ***chain, size_t *n_chain, dcpki_err *err)
{
    *chain = NULL;
    *n_chain = 0;
    const dcpki_policy *pol;
    dcpki_code rc = dcpki_enroll_policy(e, profile, &pol, err);
    if (rc != DCPKI_OK)
        return rc;
    const dcpki_policy_ca *ca = NULL;
    for (size_t i = 0; i < pol->n_cas && ca == NULL; i++)
        if (pol->cas[i].certificate != NULL &&
            X509_check_issued(pol->cas[i].certificate, leaf) == X509_V_OK)
            ca = &pol->cas[i];
    if (ca == NULL)
        return DCPKI_OK; /* the policy does not say: the certificate alone */
    size_t nc = 1 + ca->n_intermediates + (ca->root != NULL);
    X509 **cands = calloc(nc, sizeof(*cands));
    X509 **c = calloc(nc, sizeof(*c));
    if (c == NULL || cands == NULL) {
        free(cands);
        free(c);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "chain");
    }
    nc = 0;
    cands[nc++] = ca->certificate;
    for (size_t i = 0; i < ca->n_intermediates; i++)
        cands[nc++] = ca->intermediates[i];
    if (ca->root != NULL)
        cands[nc++] = ca->root;
    size_t k = 0;
    X509 *prev = leaf;
    /* issuer first, each the issuer of the one before */
    for (int progress = 1; progress;) {
        progress = 0;
        for (size_t i = 0; i < nc; i++) {
            X509 *x = cands[i];
            if (x == NULL || X509_check_issued(x, prev) != X509_V_OK || X509_cmp(x, prev) == 0 ||
                !X509_up_ref(x))
                continue;
            c[k++] = x;
            cands[i] = NULL;
            prev = x;
            progress = 1;
            break;
        }
    }
    free(cands);
    *chain = c;
    *n_chain = k;
    return DCPKI_OK;
}

dcpki_code enroll_find_issued(dcpki_enroller *e, const char *host, const dcpki_store_entry *ent,
                              X509 **cert, X509 ***chain, size_t *n_chain, int *found,
                              dcpki_err *err)
{
    *cert = NULL;
    *chain = NULL;
    *n_chain = 0;
    *found = 0;
    X509_REQ *csr = NULL;
    EVP_PKEY *pub = entry_public_key(ent, &csr);
    if (pub == NULL)
        return dcpki_err_set(err, DCPKI_E_STORE, "the journal entry of the request for %s holds "
                             "neither its key nor its CSR", ent->subject);
    dcpki_subject *subj = NULL;
    dcpki_code rc = dcpki_subject_parse(ent->subject, &subj, err);
    if (rc != DCPKI_OK) {
        X509_REQ_free(csr);
        return rc;
    }
    dcpki_transport *t;
    if ((rc = dcpki_ctx_transport(e->ctx, &t, err)) != DCPKI_OK)
        goto done;
    dcpki_pki_search_filter f = {
        .profile_oid = ent->profile,
        .common_name = dcpki_subject_get(subj, "CN"),
        .valid_from_ms = ent->created > FIND_WINDOW_S ? (ent->created - FIND_WINDOW_S) * 1000LL : 0,
    };
    if (f.common_name == NULL)
        f.email = dcpki_subject_email(subj);
    long start = 0;
    int more = 0;
    for (int page = 0; page < FIND_MAX_PAGES && !*found; page++) {
        dcpki_pki_search_result sr;
        memset(&sr, 0, sizeof sr);
        f.start_index = start;
        if ((rc = dcpki_pki_search(t, host, &f, &sr, err)) != DCPKI_OK)
            goto done;
        for (size_t i = 0; i < sr.n && !*found; i++) {
            /* a revoked or expired certificate of the same key is not this request's answer */
            if (sr.certs[i].status == NULL || strcasecmp(sr.certs[i].status, "VALID") != 0)
                continue;
            X509 *x = sr.certs[i].cert;
            EVP_PKEY *xp = x ? X509_get0_pubkey(x) : NULL;
            if (xp != NULL && EVP_PKEY_eq(xp, pub) == 1 && X509_up_ref(x)) {
                *cert = x;
                *found = 1;
            }
        }
        more = sr.more && sr.n > 0;
        start += (long)sr.n;
        dcpki_pki_search_result_clear(&sr);
        if (!more)
            break;
    }
    if (!*found && more) {
        /* not looked at everything: "nothing" is not known, so nothing is sent */
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the CA's search for %s under profile %s "
                           "returns more than %d pages; whether it issued the earlier request is "
                           "unknown", ent->subject, ent->profile, FIND_MAX_PAGES);
        goto done;
    }
    if (*found && (rc = chain_from_policy(e, ent->profile, *cert, chain, n_chain, err)) != DCPKI_OK) {
        X509_free(*cert);
        *cert = NULL;
        *found = 0;
    }
done:
    dcpki_subject_free(subj);
    X509_REQ_free(csr);
    return rc;
}

dcpki_code enroll_ca_status(dcpki_enroller *e, const char *host, const char *serial,
                            const char **status, dcpki_err *err)
{
    static const char *const known[] = {"VALID", "EXPIRED", "REVOKED", "SUSPENDED"};
    *status = NULL;
    dcpki_transport *t;
    dcpki_code rc = dcpki_ctx_transport(e->ctx, &t, err);
    if (rc != DCPKI_OK)
        return rc;
    dcpki_pki_search_result sr;
    memset(&sr, 0, sizeof sr);
    dcpki_pki_search_filter f = {.serial_hex = serial};
    if ((rc = dcpki_pki_search(t, host, &f, &sr, err)) != DCPKI_OK)
        return rc;
    for (size_t i = 0; i < sr.n && *status == NULL; i++)
        for (size_t k = 0; sr.certs[i].status && k < sizeof known / sizeof *known; k++)
            if (strcasecmp(sr.certs[i].status, known[k]) == 0)
                *status = known[k];
    if (sr.n > 0 && *status == NULL)
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the CA's search answer for serial %s has "
                           "no status", serial);
    dcpki_pki_search_result_clear(&sr);
    return rc;
}

dcpki_code enroll_mark_serial(dcpki_enroller *e, const char *serial, dcpki_store_state to,
                              size_t *n, dcpki_err *err)
{
    *n = 0;
    char **ids = NULL;
    size_t n_ids = 0;
    dcpki_code rc = dcpki_store_find_serial(e->store, serial, &ids, &n_ids, err);
    char want[DCPKI_SERIAL_BUF] = ""; /* stays "" (matching nothing) when serial is no hex */
    (void)dcpki_serial_normalise(serial, want, sizeof want);
    for (size_t i = 0; rc == DCPKI_OK && i < n_ids; i++) {
        dcpki_store_lock *lk = NULL;
        dcpki_store_entry ent;
        int found = 0;
        if ((rc = dcpki_store_lock_id(e->store, ids[i], ENROLL_LOCK_WAIT_MS, &lk, err)) != DCPKI_OK)
            break;
        if ((rc = dcpki_store_get(e->store, ids[i], &ent, &found, err)) == DCPKI_OK && found) {
            /* the entry may have moved on to another certificate since the look-up
             * (the store returns serials normalised) */
            if (ent.serial == NULL || strcmp(ent.serial, want) != 0) {
                dcpki_store_entry_clear(&ent);
                dcpki_store_unlock(lk);
                continue;
            }
            dcpki_store_state s = ent.state;
            int change = (to == DCPKI_STORE_REVOKED && (s == DCPKI_STORE_ISSUED || s == DCPKI_STORE_REVOKING)) ||
                         (to == DCPKI_STORE_REVOKING && s == DCPKI_STORE_ISSUED) ||
                         (to == DCPKI_STORE_ISSUED && s == DCPKI_STORE_REVOKING);
            if (change) {
                ent.state = to;
                if ((rc = dcpki_store_put(e->store, &ent, err)) == DCPKI_OK)
                    (*n)++;
            }
            dcpki_store_entry_clear(&ent);
        }
        dcpki_store_unlock(lk);
    }
    dcpki_store_ids_free(ids, n_ids);
    return rc;
}

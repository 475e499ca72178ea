/* The enrollment engine: set-up, policy cache, enrollment and polling
 * (enroll.h). CA look-ups are in recover.c, revocation in revoke.c. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/x509.h>

#include "dcpki/pkcs12_out.h"
#include "dcpki/request.h"
#include "enroll_internal.h"

dcpki_code dcpki_enroller_new(dcpki_ctx *ctx, dcpki_store *store, dcpki_enroller **out,
                              dcpki_err *err)
{
    *out = NULL;
    if (ctx == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "an enrollment engine needs a core "
                             "context");
    dcpki_enroller *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "enrollment engine");
    if (pthread_mutex_init(&e->lock, NULL) != 0) {
        free(e);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "enrollment engine lock");
    }
    e->ctx = ctx;
    e->store = store;
    *out = e;
    return DCPKI_OK;
}

void dcpki_enroller_free(dcpki_enroller *e)
{
    if (e == NULL)
        return;
    for (size_t i = 0; i < e->n_policies; i++) {
        free(e->policy_oids[i]);
        dcpki_policy_free(e->policies[i]);
    }
    free(e->policy_oids);
    free(e->policies);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void dcpki_enroller_set_store(dcpki_enroller *e, dcpki_store *store)
{
    e->store = store;
}

dcpki_code enroll_begin(dcpki_enroller *e, const char **host, dcpki_err *err)
{
    if (e->store == NULL)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "the enrollment engine was given no store");
    return dcpki_enroll_ca_host(e, host, err);
}

void dcpki_enroller_set_notice(dcpki_enroller *e, dcpki_enroll_notice_fn fn, void *arg)
{
    e->notice = fn;
    e->notice_arg = arg;
}

void enroll_notice(dcpki_enroller *e, const char *fmt, ...)
{
    if (e->notice == NULL)
        return;
    char buf[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    e->notice(e->notice_arg, buf);
}


void enroll_err_append(dcpki_err *err, const char *fmt, ...)
{
    size_t dl = strlen(err->detail);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->detail + dl, sizeof err->detail - dl, fmt, ap);
    va_end(ap);
}

int enroll_outcome_unknown(dcpki_code rc)
{
    return rc == DCPKI_E_TIMEOUT || rc == DCPKI_E_SERVICE_UNAVAILABLE || rc == DCPKI_E_BAD_RESPONSE ||
           rc == DCPKI_E_HTTP || rc == DCPKI_E_RATE_LIMITED || rc == DCPKI_E_TLS ||
           rc == DCPKI_E_CONNECT || rc == DCPKI_E_CONNECTION_BROKEN;
}

dcpki_code dcpki_enroll_ca_host(dcpki_enroller *e, const char **host, dcpki_err *err)
{
    const dcpki_config *cfg;
    dcpki_code rc = dcpki_ctx_config(e->ctx, &cfg, err);
    if (rc != DCPKI_OK)
        return rc;
    if (cfg->ca.host == NULL || cfg->ca.host[0] == '\0')
        return dcpki_err_set(err, DCPKI_E_CONFIG_INCOMPLETE,
                             "%s: [ca] host is not set (e.g. host = pki-ws.symauth.com)", cfg->path);
    if (cfg->ca.name != NULL && strcmp(cfg->ca.name, "Symantec") != 0)
        return dcpki_err_set(err, DCPKI_E_CONFIG_BAD_VALUE,
                             "%s: [ca] name is \"%s\"; the PKI Platform's CA name must be exactly "
                             "\"Symantec\"", cfg->path, cfg->ca.name);
    *host = cfg->ca.host;
    return DCPKI_OK;
}

dcpki_code dcpki_enroll_policy(dcpki_enroller *e, const char *profile_oid,
                               const dcpki_policy **out, dcpki_err *err)
{
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; i < e->n_policies; i++)
        if (strcmp(e->policy_oids[i], profile_oid) == 0) {
            *out = e->policies[i];
            pthread_mutex_unlock(&e->lock);
            return DCPKI_OK;
        }
    pthread_mutex_unlock(&e->lock);
    /* fetched without the lock held; two threads asking at once both fetch and one copy is kept */
    const char *host;
    dcpki_transport *t;
    dcpki_policy *pol = NULL;
    dcpki_code rc = dcpki_enroll_ca_host(e, &host, err);
    if (rc == DCPKI_OK)
        rc = dcpki_ctx_transport(e->ctx, &t, err);
    if (rc == DCPKI_OK)
        rc = dcpki_pki_get_policy(t, host, profile_oid, &pol, err);
    if (rc != DCPKI_OK)
        return rc;
    pthread_mutex_lock(&e->lock);
    for (size_t i = 0; i < e->n_policies; i++)
        if (strcmp(e->policy_oids[i], profile_oid) == 0) {
            *out = e->policies[i];
            pthread_mutex_unlock(&e->lock);
            dcpki_policy_free(pol);
            return DCPKI_OK;
        }
    char **o = realloc(e->policy_oids, (e->n_policies + 1) * sizeof(*o));
    if (o != NULL)
        e->policy_oids = o;
    dcpki_policy **p = o ? realloc(e->policies, (e->n_policies + 1) * sizeof(*p)) : NULL;
    if (p != NULL)
        e->policies = p;
    char *dup = strdup(profile_oid);
    if (o == NULL || p == NULL || dup == NULL) {
        pthread_mutex_unlock(&e->lock);
        free(dup);
        dcpki_policy_free(pol);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "policy cache");
    }
    e->policy_oids[e->n_policies] = dup;
    e->policies[e->n_policies] = pol;
    e->n_policies++;
    *out = pol;
    pthread_mutex_unlock(&e->lock);
    return DCPKI_OK;
}

void dcpki_enroll_result_clear(dcpki_enroll_result *r)
{
    free(r->pending_id);
    free(r->serial);
    EVP_PKEY_free(r->key);
    X509_free(r->cert);
    for (size_t i = 0; i < r->n_chain; i++)
        X509_free(r->chain[i]);
    free(r->chain);
    memset(r, 0, sizeof(*r));
}

/* res gets its own references to the entry's key, certificate and chain */
static dcpki_code result_from_entry(const dcpki_store_entry *ent, dcpki_enroll_result *res,
                                    dcpki_err *err)
{
    memcpy(res->store_id, ent->id, sizeof res->store_id);
    if (ent->key != NULL && EVP_PKEY_up_ref(ent->key))
        res->key = ent->key;
    if (ent->cert != NULL && X509_up_ref(ent->cert))
        res->cert = ent->cert;
    res->serial = ent->cert ? dcpki_serial_of_cert(ent->cert) : NULL;
    if (ent->n_chain > 0) {
        res->chain = calloc(ent->n_chain, sizeof(X509 *));
        if (res->chain == NULL)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "store entry");
        for (size_t i = 0; i < ent->n_chain; i++)
            if (X509_up_ref(ent->chain[i]))
                res->chain[res->n_chain++] = ent->chain[i];
    }
    if ((ent->key && !res->key) || (ent->cert && (!res->cert || !res->serial)))
        return dcpki_err_set(err, DCPKI_E_NOMEM, "store entry");
    return DCPKI_OK;
}

/* The entry becomes ISSUED with this certificate and chain (taken). */
static dcpki_code entry_set_issued(dcpki_store_entry *ent, X509 *cert, X509 **chain, size_t n_chain,
                                   dcpki_err *err)
{
    ent->state = DCPKI_STORE_ISSUED;
    X509_free(ent->cert);
    ent->cert = cert;
    for (size_t i = 0; i < ent->n_chain; i++)
        X509_free(ent->chain[i]);
    free(ent->chain);
    ent->chain = chain;
    ent->n_chain = n_chain;
    free(ent->serial);
    ent->serial = dcpki_serial_of_cert(cert);
    free(ent->pending_id);
    ent->pending_id = NULL;
    free(ent->txid);
    ent->txid = NULL;
    free(ent->csr);
    ent->csr = NULL;
    ent->csr_len = 0;
    if (ent->serial == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the serial number");
    return DCPKI_OK;
}

/* The CA issued: record it, then hand it out. A store that cannot be written
 * is DCPKI_E_STORE with res filled: the certificate exists and is delivered,
 * the journal entry (still SENDING) lets the next run record it. */
static dcpki_code record_issued(dcpki_enroller *e, dcpki_store_entry *ent, dcpki_enroll_result *res,
                                dcpki_err *err)
{
    dcpki_code rc = result_from_entry(ent, res, err);
    if (rc != DCPKI_OK)
        return rc;
    if ((rc = dcpki_store_put(e->store, ent, err)) != DCPKI_OK) {
        enroll_err_append(err,
                         "; the CA issued certificate %s, which could not be recorded: it is delivered "
                         "now, and the same command once the store works records it without a new "
                         "request", res->serial ? res->serial : "?");
        err->code = DCPKI_E_STORE;
        return DCPKI_E_STORE;
    }
    return DCPKI_OK;
}

static int cert_usable(const X509 *x)
{
    return x != NULL && X509_cmp_current_time(X509_get0_notAfter(x)) >= 0;
}

/* An entry that was left SENDING (no answer read, or the process died):
 * resolved by asking the CA. *done = 1 when res holds the recovered
 * certificate; 0 when the CA has nothing (send again). */
static dcpki_code resolve_sending(dcpki_enroller *e, const char *host, dcpki_store_entry *ent,
                                  dcpki_enroll_result *res, int *done, dcpki_err *err)
{
    *done = 0;
    enroll_notice(e, "an earlier request for %s got no answer; asking the CA whether it issued a "
                  "certificate before sending it again", ent->subject);
    X509 *cert = NULL, **chain = NULL;
    size_t n_chain = 0;
    int found = 0;
    dcpki_code rc = enroll_find_issued(e, host, ent, &cert, &chain, &n_chain, &found, err);
    if (rc != DCPKI_OK) {
        enroll_err_append(err,
                         "; an earlier request for this subject got no answer and the CA could not be "
                         "asked whether it issued it: nothing was sent again (run the same command "
                         "later)");
        return rc;
    }
    if (!found)
        return DCPKI_OK;
    if ((rc = entry_set_issued(ent, cert, chain, n_chain, err)) != DCPKI_OK)
        return rc;
    enroll_notice(e, "the CA had issued certificate %s for the earlier request; nothing new is "
                  "requested", ent->serial);
    *done = 1;
    res->outcome = DCPKI_ENROLL_RECOVERED;
    return record_issued(e, ent, res, err);
}

/* An entry whose revoke got no answer: the CA's status decides. *redeliver =
 * 1 when the certificate is valid after all. */
static dcpki_code resolve_revoking(dcpki_enroller *e, const char *host, dcpki_store_entry *ent,
                                   int *redeliver, dcpki_err *err)
{
    *redeliver = 0;
    const char *status = NULL;
    dcpki_code rc = enroll_ca_status(e, host, ent->serial, &status, err);
    if (rc != DCPKI_OK) {
        enroll_err_append(err,
                         "; certificate %s was being revoked and its status at the CA is unknown: it is "
                         "not re-delivered (run `dcpki status --serial %s`, then this command again)",
                         ent->serial, ent->serial);
        return rc;
    }
    if (status != NULL && strcmp(status, "VALID") == 0) {
        ent->state = DCPKI_STORE_ISSUED;
        *redeliver = 1;
    } else {
        ent->state = DCPKI_STORE_REVOKED;
    }
    return dcpki_store_put(e->store, ent, err);
}

dcpki_code dcpki_enroll_run(dcpki_enroller *e, const dcpki_enroll_request *rq,
                            dcpki_enroll_result *res, dcpki_err *err)
{
    memset(res, 0, sizeof(*res));
    const char *host;
    dcpki_code rc = enroll_begin(e, &host, err);
    if (rc != DCPKI_OK)
        return rc;
    enroll_model m;
    if ((rc = enroll_model_init(e, host, rq, &m, err)) != DCPKI_OK)
        return rc;
    dcpki_store_entry *ent = &m.entry;
    memcpy(res->store_id, ent->id, sizeof res->store_id);

    dcpki_store_entry old;
    memset(&old, 0, sizeof old);
    int have_old = 0;
    dcpki_request *req = NULL;
    EVP_PKEY *key = NULL;
    unsigned char *csr_der = NULL;
    size_t csr_len = 0;
    dcpki_pki_enroll_result er;
    memset(&er, 0, sizeof er);
    dcpki_store_lock *lk = NULL;

    /* from here to the last write, this request is ours alone */
    if ((rc = dcpki_store_lock_id(e->store, ent->id, ENROLL_LOCK_WAIT_MS, &lk, err)) != DCPKI_OK)
        goto done;
    if ((rc = dcpki_store_get(e->store, ent->id, &old, &have_old, err)) != DCPKI_OK)
        goto done;
    int resend = 0;
    if (have_old && old.state == DCPKI_STORE_SENDING && (rq->csr != NULL || old.key != NULL)) {
        int recovered = 0;
        if ((rc = resolve_sending(e, host, &old, res, &recovered, err)) != DCPKI_OK || recovered)
            goto done;
        /* the CA has nothing: the first attempt's key and CSR go out again */
        resend = 1;
        key = old.key;
        old.key = NULL;
        csr_der = old.csr;
        csr_len = old.csr_len;
        old.csr = NULL;
    } else if (have_old && old.state == DCPKI_STORE_REVOKING && old.serial == NULL) {
        old.state = DCPKI_STORE_REVOKED; /* damaged: never re-delivered */
    } else if (have_old && old.state == DCPKI_STORE_REVOKING) {
        int valid = 0;
        if ((rc = resolve_revoking(e, host, &old, &valid, err)) != DCPKI_OK)
            goto done;
        if (!valid)
            enroll_notice(e, "certificate %s kept for this request was revoked at the CA: asking "
                          "for a new one", old.serial);
    } else if (have_old && old.state == DCPKI_STORE_PENDING && !rq->renew && old.pending_id == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_STORE, "the store entry of this pending request has no "
                           "pendingTokenReferenceID (damaged); send a new request with --renew");
        goto done;
    } else if (have_old && old.state == DCPKI_STORE_PENDING && !rq->renew) {
        res->outcome = DCPKI_ENROLL_PENDING;
        res->already_pending = 1;
        res->pending_id = strdup(old.pending_id);
        rc = dcpki_err_set(err, DCPKI_E_PENDING,
                           "this request is already pending at the CA under "
                           "pendingTokenReferenceID %s; collect it with 'dcpki enroll --poll %s' "
                           "(or send a new one with --renew)", old.pending_id, old.pending_id);
        goto done;
    }
    if (!rq->renew && !resend && have_old && old.state == DCPKI_STORE_ISSUED) {
        if (cert_usable(old.cert) && (rq->csr != NULL || old.key != NULL)) {
            res->outcome = DCPKI_ENROLL_REDELIVERED;
            rc = result_from_entry(&old, res, err);
            goto done;
        }
        enroll_notice(e, "certificate %s kept for this request has expired: asking the CA for "
                      "a new one", old.serial ? old.serial : "?");
    } else if (!resend && have_old && old.state == DCPKI_STORE_REVOKED && old.serial != NULL) {
        enroll_notice(e, "certificate %s kept for this request was revoked: asking the CA for a "
                      "new one", old.serial);
    }

    /* the profile's policy, the connector's rules, the key: all before sending */
    const dcpki_policy *pol;
    if ((rc = dcpki_enroll_policy(e, rq->profile, &pol, err)) != DCPKI_OK)
        goto done;
    const dcpki_config *cfg;
    if ((rc = dcpki_ctx_config(e->ctx, &cfg, err)) != DCPKI_OK)
        goto done;
    dcpki_request_input in = {.subject = m.subject, .sans = m.sans, .n_sans = m.n_sans,
                              .seat_source = dcpki_config_seat_source(cfg, rq->profile)};
    if ((rc = dcpki_request_prepare(pol, &in, &req, err)) != DCPKI_OK)
        goto done;
    if (resend) {
        /* key and CSR of the first attempt */
    } else if (rq->csr != NULL) {
        if ((rc = dcpki_policy_check_key(pol, m.csr_pub, err)) != DCPKI_OK) {
            rc = err->code = DCPKI_E_POLICY_VIOLATION;
            goto done;
        }
        unsigned char *d = NULL;
        int n = i2d_X509_REQ(rq->csr, &d);
        if (n <= 0 || (csr_der = malloc((size_t)n)) == NULL) {
            OPENSSL_free(d);
            rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "the CSR cannot be encoded");
            goto done;
        }
        memcpy(csr_der, d, (size_t)n);
        OPENSSL_free(d);
        csr_len = (size_t)n;
    } else if ((rc = dcpki_keygen_for_policy(pol, &key, err)) != DCPKI_OK ||
               (rc = dcpki_policy_check_key(pol, key, err)) != DCPKI_OK ||
               (rc = dcpki_request_build_csr(req, key, &csr_der, &csr_len, err)) != DCPKI_OK) {
        goto done;
    }

    dcpki_transport *t;
    char txid[DCPKI_PKI_TXID_MAX + 1];
    if ((rc = dcpki_ctx_transport(e->ctx, &t, err)) != DCPKI_OK ||
        (rc = dcpki_pki_new_txid(txid, sizeof txid, err)) != DCPKI_OK)
        goto done;
    /* journal first: whatever happens to the answer, the key and the request are kept */
    ent->state = DCPKI_STORE_SENDING;
    ent->created = (long long)time(NULL);
    ent->txid = strdup(txid);
    ent->csr = malloc(csr_len);
    if (ent->txid == NULL || ent->csr == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "request");
        goto done;
    }
    memcpy(ent->csr, csr_der, csr_len);
    ent->csr_len = csr_len;
    ent->key = key;
    key = NULL;
    if ((rc = dcpki_store_put(e->store, ent, err)) != DCPKI_OK) {
        enroll_err_append(err, "; nothing was sent to the CA");
        goto done;
    }
    dcpki_pki_enroll_params p = {
        .profile_oid = rq->profile, .txid = txid,
        .type = rq->renew ? DCPKI_PKI_RENEW : DCPKI_PKI_ISSUE,
        .csr_der = csr_der, .csr_len = csr_len,
        .pairs = req->pairs, .n_pairs = req->n_pairs,
    };
    rc = dcpki_pki_enroll(t, host, &p, ent->key ? ent->key : m.csr_pub, &er, err);
    if (rc != DCPKI_OK) {
        if (enroll_outcome_unknown(rc)) {
            /* the journal entry stays: the next run asks the CA before sending again */
            enroll_err_append(err,
                             "; the CA may have received the request: run the same command again, it "
                             "looks the request up at the CA before sending anything");
        } else if (rc == DCPKI_E_CA_REFUSED || rc == DCPKI_E_POLICY_VIOLATION ||
                   rc == DCPKI_E_PROFILE_UNKNOWN || rc == DCPKI_E_ACCESS_DENIED) {
            /* the CA answered no: the entry goes back to what it was (any other failure
             * keeps the journal, and the next run asks the CA before sending) */
            dcpki_err ignore;
            if (have_old && old.state != DCPKI_STORE_SENDING)
                (void)dcpki_store_put(e->store, &old, &ignore);
            else
                (void)dcpki_store_remove(e->store, ent->id, &ignore);
        }
        goto done;
    }
    if (er.pending) {
        ent->state = DCPKI_STORE_PENDING;
        free(ent->txid);
        ent->txid = NULL;
        ent->pending_id = strdup(er.pending_id);
        res->outcome = DCPKI_ENROLL_PENDING;
        res->pending_id = strdup(er.pending_id);
        if (ent->pending_id == NULL || res->pending_id == NULL) {
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "pending request");
            goto done;
        }
        if ((rc = dcpki_store_put(e->store, ent, err)) != DCPKI_OK)
            goto done;
        rc = dcpki_err_set(err, DCPKI_E_PENDING,
                           "the CA left the request for %s pending (pendingTokenReferenceID %s%s%s); "
                           "collect the certificate once it is approved with 'dcpki enroll --poll %s'",
                           ent->subject, er.pending_id, er.disposition ? ": " : "",
                           er.disposition ? er.disposition : "", er.pending_id);
        goto done;
    }
    rc = entry_set_issued(ent, er.cert, er.chain, er.n_chain, err);
    er.cert = NULL;
    er.chain = NULL;
    er.n_chain = 0;
    if (rc == DCPKI_OK) {
        res->outcome = DCPKI_ENROLL_ISSUED;
        rc = record_issued(e, ent, res, err);
    }

done:
    dcpki_store_unlock(lk);
    EVP_PKEY_free(key);
    free(csr_der);
    dcpki_request_free(req);
    dcpki_pki_enroll_result_clear(&er);
    if (have_old)
        dcpki_store_entry_clear(&old);
    enroll_model_clear(&m);
    return rc;
}

dcpki_code dcpki_enroll_poll(dcpki_enroller *e, const char *profile_oid, const char *pending_id,
                             dcpki_enroll_result *res, dcpki_err *err)
{
    memset(res, 0, sizeof(*res));
    const char *host;
    dcpki_transport *t;
    dcpki_code rc = enroll_begin(e, &host, err);
    if (rc != DCPKI_OK)
        return rc;
    dcpki_store_entry ent;
    memset(&ent, 0, sizeof ent);
    int found = 0;
    dcpki_store_lock *lk = NULL;
    dcpki_pki_enroll_result er;
    memset(&er, 0, sizeof er);
    if ((rc = dcpki_store_find_pending(e->store, pending_id, &ent, &found, err)) != DCPKI_OK)
        return rc;
    if (found) {
        /* under the entry's lock, and as it is now (another poll may have collected it) */
        char id[DCPKI_STORE_ID_LEN + 1];
        memcpy(id, ent.id, sizeof id);
        dcpki_store_entry_clear(&ent);
        if ((rc = dcpki_store_lock_id(e->store, id, ENROLL_LOCK_WAIT_MS, &lk, err)) != DCPKI_OK ||
            (rc = dcpki_store_get(e->store, id, &ent, &found, err)) != DCPKI_OK)
            goto done;
        if (found && ent.state == DCPKI_STORE_ISSUED && ent.pending_id == NULL &&
            cert_usable(ent.cert)) {
            res->outcome = DCPKI_ENROLL_REDELIVERED;
            rc = result_from_entry(&ent, res, err);
            goto done;
        }
        if (found && (ent.state != DCPKI_STORE_PENDING || ent.pending_id == NULL ||
                      strcmp(ent.pending_id, pending_id) != 0)) {
            dcpki_store_entry_clear(&ent);
            found = 0;
        }
        if (found)
            profile_oid = ent.profile;
    }
    if (profile_oid == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                           "the store knows no pending request %s, so its profile is unknown "
                           "(give --profile)", pending_id);
        goto done;
    }
    char txid[DCPKI_PKI_TXID_MAX + 1];
    if ((rc = dcpki_ctx_transport(e->ctx, &t, err)) != DCPKI_OK ||
        (rc = dcpki_pki_new_txid(txid, sizeof txid, err)) != DCPKI_OK)
        goto done;
    dcpki_pki_enroll_params p = {.profile_oid = profile_oid, .txid = txid, .type = DCPKI_PKI_QUERY,
                                 .pending_id = pending_id};
    rc = dcpki_pki_enroll(t, host, &p, found ? ent.key : NULL, &er, err);
    if (rc != DCPKI_OK)
        goto done;
    if (er.pending) {
        res->outcome = DCPKI_ENROLL_PENDING;
        res->pending_id = strdup(pending_id);
        rc = dcpki_err_set(err, DCPKI_E_PENDING,
                           "the request %s is still pending at the CA%s%s; poll again later",
                           pending_id, er.disposition ? ": " : "", er.disposition ? er.disposition : "");
        goto done;
    }
    res->outcome = DCPKI_ENROLL_ISSUED;
    if (!found) {
        res->cert = er.cert;
        res->chain = er.chain;
        res->n_chain = er.n_chain;
        er.cert = NULL;
        er.chain = NULL;
        er.n_chain = 0;
        res->serial = dcpki_serial_of_cert(res->cert);
        if (res->serial == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "serial");
        goto done;
    }
    ent.created = (long long)time(NULL);
    rc = entry_set_issued(&ent, er.cert, er.chain, er.n_chain, err);
    er.cert = NULL;
    er.chain = NULL;
    er.n_chain = 0;
    if (rc == DCPKI_OK)
        rc = record_issued(e, &ent, res, err);
done:
    dcpki_store_unlock(lk);
    dcpki_pki_enroll_result_clear(&er);
    dcpki_store_entry_clear(&ent);
    return rc;
}

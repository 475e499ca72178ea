/* The request model: subject, SANs and key origin of one enrollment, parsed
 * once, giving the store id (issued_store.h) and what the CA search needs. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "dcpki/identity.h"
#include "dcpki/thumbprint.h"
#include "../internal.h"
#include "enroll_internal.h"

/* hex SHA-256 of the DER SubjectPublicKeyInfo */
static dcpki_code spki_hash(EVP_PKEY *pub, char out[65], dcpki_err *err)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pub, &der);
    unsigned char h[32];
    unsigned int hl = 0;
    if (n <= 0 || EVP_Digest(der, (size_t)n, h, &hl, EVP_sha256(), NULL) != 1 || hl != 32) {
        OPENSSL_free(der);
        ERR_clear_error();
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "the CSR's public key cannot be read");
    }
    OPENSSL_free(der);
    dcpki_hex_lower(h, 32, out);
    return DCPKI_OK;
}

void enroll_model_clear(enroll_model *m)
{
    if (m->csr_subject != NULL || m->csr_sans != NULL)
        dcpki_csr_input_free(m->csr_subject, m->csr_sans, m->n_csr_sans);
    dcpki_store_entry_clear(&m->entry);
    memset(m, 0, sizeof(*m));
}

dcpki_code enroll_model_init(dcpki_enroller *e, const char *host, const dcpki_enroll_request *rq,
                             enroll_model *m, dcpki_err *err)
{
    memset(m, 0, sizeof(*m));
    if (rq->profile == NULL || (rq->subject == NULL) == (rq->csr == NULL))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "an enrollment needs a profile and either a subject or a CSR");
    /* a certificate is re-delivered only to the connector (RA certificate) that
     * requested it, from the CA that issued it: the RA is part of the id */
    const dcpki_identity *id;
    dcpki_code rc = dcpki_ctx_identity(e->ctx, &id, err);
    if (rc != DCPKI_OK)
        return rc;
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    char tph[41];
    dcpki_identity_thumbprint(id, tp);
    dcpki_thumbprint_format(tp, tph);
    char origin[160];
    size_t ol = (size_t)snprintf(origin, sizeof origin, "ra:%s", tph);
    snprintf(origin + ol, sizeof origin - ol, ";generated");

    m->subject = rq->subject;
    m->sans = rq->sans;
    m->n_sans = rq->n_sans;
    if (rq->csr != NULL) {
        char h[65];
        m->csr_pub = X509_REQ_get0_pubkey(rq->csr);
        if (m->csr_pub == NULL)
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "the CSR has no readable public key");
        if ((rc = spki_hash(m->csr_pub, h, err)) != DCPKI_OK ||
            (rc = dcpki_csr_to_input(rq->csr, &m->csr_subject, &m->csr_sans, &m->n_csr_sans, err)) !=
                DCPKI_OK)
            return rc;
        snprintf(origin + ol, sizeof origin - ol, ";csr:%s", h);
        m->subject = m->csr_subject;
        m->sans = (const char *const *)m->csr_sans;
        m->n_sans = m->n_csr_sans;
    }

    char *nsubj = NULL;
    char **nsans = m->n_sans ? calloc(m->n_sans, sizeof(char *)) : NULL;
    if (m->n_sans && nsans == NULL) {
        enroll_model_clear(m);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "request");
    }
    /* syntax errors surface here (the normalisation parses), before any network */
    rc = dcpki_store_norm_subject(m->subject, &nsubj, err);
    for (size_t i = 0; rc == DCPKI_OK && i < m->n_sans; i++)
        rc = dcpki_store_norm_san(m->sans[i], &nsans[i], err);
    if (rc == DCPKI_OK)
        rc = dcpki_store_entry_init(&m->entry, host, rq->profile, origin, nsubj,
                                    (const char *const *)nsans, m->n_sans, err);
    free(nsubj);
    for (size_t i = 0; nsans && i < m->n_sans; i++)
        free(nsans[i]);
    free(nsans);
    if (rc != DCPKI_OK)
        enroll_model_clear(m);
    return rc;
}

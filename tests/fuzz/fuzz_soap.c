/* libFuzzer harnesses for the PKI Platform SOAP response parsers
 * (dcpki/pki_platform.h). One binary per target, -DFUZZ_<NAME>:
 *   POLICY  dcpki_pki_parse_policies (first policy, then the same policy by
 *           its profile OID), then the request rules against that policy
 *   ENROLL  dcpki_pki_parse_enroll (RequestSecurityTokenResponse)
 *   STATUS  dcpki_pki_parse_update_status (updateCertificateStatusResponse)
 *   HEALTH  dcpki_pki_parse_health (getStatusResponseMessage)
 *   SEARCH  dcpki_pki_parse_search (searchCertificateResponse)
 * Every target also runs dcpki_pki_parse_fault on the input: a response the
 * fault parser calls a Fault must not parse as a success. */
#include <openssl/x509.h>

#include "dcpki/pki_platform.h"
#include "dcpki/policy.h"
#include "dcpki/request.h"
#include "fuzz.h"

/* The fault parser on the input: -1 no envelope, 0 envelope, 1 Fault. */
static int fault_kind(const char *xml, size_t len)
{
    dcpki_err err;
    dcpki_pki_fault f;
    int is_fault = 0;
    memset(&f, 0, sizeof(f));
    dcpki_code rc = dcpki_pki_parse_fault(xml, len, &is_fault, &f, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(!f.faultcode && !f.faultstring && !f.errorcode && !f.message);
        return -1;
    }
    if (is_fault) {
        dcpki_err e2;
        dcpki_code frc = dcpki_pki_fault_to_err(&f, &e2);
        fuzz_check_err(&e2, frc);
        FUZZ_ASSERT(frc == DCPKI_E_PROFILE_UNKNOWN || frc == DCPKI_E_POLICY_VIOLATION ||
                    frc == DCPKI_E_CA_REFUSED);
    }
    dcpki_pki_fault_clear(&f);
    return is_fault ? 1 : 0;
}

#if defined(FUZZ_POLICY)
static void check_policy(const dcpki_policy *p)
{
    FUZZ_ASSERT(p != NULL);
    FUZZ_ASSERT(p->profile_oid != NULL && p->profile_oid[0] != '\0');
    FUZZ_ASSERT(p->key_exportable >= -1 && p->key_exportable <= 1);
    FUZZ_ASSERT(p->n_attrs == 0 || p->attrs != NULL);
    for (size_t i = 0; i < p->n_attrs; i++) {
        FUZZ_ASSERT(p->attrs[i].name != NULL);
        const char *dn = p->attrs[i].dn;
        FUZZ_ASSERT(dn == NULL || (dcpki_dn_canonical(dn) && strcmp(dcpki_dn_canonical(dn), dn) == 0));
    }
    FUZZ_ASSERT(p->n_sans == 0 || p->sans != NULL);
    for (size_t i = 0; i < p->n_sans; i++) {
        const dcpki_policy_san *s = &p->sans[i];
        FUZZ_ASSERT(s->type == DCPKI_SAN_EMAIL || s->type == DCPKI_SAN_UPN || s->type == DCPKI_SAN_OTHERNAME);
        FUZZ_ASSERT(s->name != NULL);
        FUZZ_ASSERT(s->type != DCPKI_SAN_UPN || (s->oid && strcmp(s->oid, DCPKI_OID_UPN) == 0));
    }
    FUZZ_ASSERT(p->n_cas == 0 || p->cas != NULL);
    for (size_t i = 0; i < p->n_cas; i++)
        for (size_t j = 0; j < p->cas[i].n_intermediates; j++)
            FUZZ_ASSERT(p->cas[i].intermediates[j] != NULL);
}

/* the connector's rules against a hostile policy: no crash, and a prepared
 * request has named pairs */
static void prepare_against(const dcpki_policy *p)
{
    static const char *const sans[] = {"email:iwuser0@contoso.example", "upn:iwuser0@contoso.example",
                                       "othername:1.3.6.1.4.1.311.25.1;04 02 12 34"};
    static const char *const subjects[] = {"CN=IWUser0,E=iwuser0@contoso.example",
                                           "CN=iwuser0@contoso.example,GN=Iw,SN=User,O=Contoso"};
    for (size_t s = 0; s < 2; s++) {
        dcpki_request_input in = {.subject = subjects[s], .sans = sans, .n_sans = s == 0 ? 3 : 0};
        dcpki_request *r = NULL;
        dcpki_err err;
        dcpki_code rc = dcpki_request_prepare(p, &in, &r, &err);
        if (rc != DCPKI_OK) {
            fuzz_check_err(&err, rc);
            FUZZ_ASSERT(r == NULL);
            continue;
        }
        FUZZ_ASSERT(r != NULL && r->subject != NULL);
        for (size_t i = 0; i < r->n_pairs; i++)
            FUZZ_ASSERT(r->pairs[i].name != NULL && r->pairs[i].value != NULL);
        dcpki_request_free(r);
    }
}
#endif

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *xml = (const char *)data;
    dcpki_err err;
    int fk = fault_kind(xml, size);
    dcpki_code rc;
#if defined(FUZZ_POLICY)
    dcpki_policy *p = NULL;
    rc = dcpki_pki_parse_policies(xml, size, NULL, &p, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(p == NULL);
        return 0;
    }
    FUZZ_ASSERT(fk == 0);
    check_policy(p);
    /* the first policy, asked for by its OID, is found again */
    dcpki_policy *again = NULL;
    rc = dcpki_pki_parse_policies(xml, size, p->profile_oid, &again, &err);
    FUZZ_ASSERT(rc == DCPKI_OK);
    check_policy(again);
    FUZZ_ASSERT(strcmp(again->profile_oid, p->profile_oid) == 0);
    FUZZ_ASSERT(again->n_attrs == p->n_attrs && again->n_sans == p->n_sans && again->n_cas == p->n_cas);
    prepare_against(p);
    dcpki_policy_free(again);
    dcpki_policy_free(p);
#elif defined(FUZZ_ENROLL)
    dcpki_pki_enroll_result r;
    rc = dcpki_pki_parse_enroll(xml, size, NULL, &r, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        /* no output on error */
        FUZZ_ASSERT(!r.pending && !r.pending_id && !r.disposition && !r.client_txid && !r.server_txid &&
                    !r.cert && !r.chain && r.n_chain == 0);
        return 0;
    }
    FUZZ_ASSERT(fk == 0);
    if (r.pending) {
        FUZZ_ASSERT(r.pending_id != NULL && r.pending_id[0] != '\0');
        FUZZ_ASSERT(r.cert == NULL && r.n_chain == 0);
    } else {
        FUZZ_ASSERT(r.cert != NULL);
        FUZZ_ASSERT(r.n_chain == 0 || r.chain != NULL);
        for (size_t i = 0; i < r.n_chain; i++)
            FUZZ_ASSERT(r.chain[i] != NULL && r.chain[i] != r.cert);
        /* with the leaf's own key the same answer gives the same leaf */
        EVP_PKEY *pub = X509_get0_pubkey(r.cert);
        dcpki_pki_enroll_result r2;
        if (pub != NULL) {
            rc = dcpki_pki_parse_enroll(xml, size, pub, &r2, &err);
            FUZZ_ASSERT(rc == DCPKI_OK && r2.cert != NULL && X509_cmp(r2.cert, r.cert) == 0);
            dcpki_pki_enroll_result_clear(&r2);
        }
    }
    dcpki_pki_enroll_result_clear(&r);
#elif defined(FUZZ_STATUS)
    dcpki_pki_status_result r;
    rc = dcpki_pki_parse_update_status(xml, size, &r, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(r.success_msg == NULL);
        return 0;
    }
    FUZZ_ASSERT(fk == 0);
    FUZZ_ASSERT(r.revocation_count >= -1);
    dcpki_pki_status_result_clear(&r);
#elif defined(FUZZ_HEALTH)
    dcpki_pki_health h;
    rc = dcpki_pki_parse_health(xml, size, &h, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(!h.up && !h.status_code && !h.status_message);
        return 0;
    }
    FUZZ_ASSERT(fk == 0);
    FUZZ_ASSERT(h.status_code != NULL && h.status_code[0] != '\0');
    FUZZ_ASSERT(h.up == (strcmp(h.status_code, "UP") == 0));
    dcpki_pki_health_clear(&h);
#elif defined(FUZZ_SEARCH)
    dcpki_pki_search_result r;
    rc = dcpki_pki_parse_search(xml, size, &r, &err);
    if (rc != DCPKI_OK) {
        fuzz_check_err(&err, rc);
        FUZZ_ASSERT(r.certs == NULL && r.n == 0);
        return 0;
    }
    FUZZ_ASSERT(fk == 0);
    FUZZ_ASSERT(r.count >= 0);
    FUZZ_ASSERT(r.n == 0 || r.certs != NULL);
    for (size_t i = 0; i < r.n; i++)
        FUZZ_ASSERT(r.certs[i].serial != NULL && r.certs[i].status != NULL);
    dcpki_pki_search_result_clear(&r);
#else
#error "define one FUZZ_* target"
#endif
    (void)fk;
    return 0;
}

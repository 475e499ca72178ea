/* PKI Platform SOAP messages: built requests re-parsed (element order,
 * namespaces, escaping), sample responses parsed (policies, issued PKCS#7,
 * pending, revocation, health, faults), malformed and hostile input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dcpki/pki_platform.h"

#define P1 "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
#define P2 "2.16.840.1.113733.1.16.1.2.3.1.1.61904612"
#define SOAP_OPEN "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>"
#define SOAP_CLOSE "</soap:Body></soap:Envelope>"

static void assert_detail_has(const dcpki_err *e, const char *needle)
{
    if (strstr(e->detail, needle) == NULL)
        fail_msg("error detail \"%s\" lacks \"%s\"", e->detail, needle);
}

/* ---- XML helpers for re-parsing what we built ---- */

static xmlDocPtr reparse(const char *xml, size_t len)
{
    assert_int_equal(strlen(xml), len);
    xmlDocPtr d = xmlReadMemory(xml, (int)len, "built.xml", NULL, XML_PARSE_NONET);
    assert_non_null(d);
    xmlNodePtr root = xmlDocGetRootElement(d);
    assert_string_equal((const char *)root->name, "Envelope");
    assert_non_null(root->ns);
    assert_string_equal((const char *)root->ns->href, DCPKI_NS_SOAP11);
    return d;
}

static xmlNodePtr next_element(xmlNodePtr n)
{
    while (n != NULL && n->type != XML_ELEMENT_NODE)
        n = n->next;
    return n;
}

static xmlNodePtr payload(xmlDocPtr d)
{
    xmlNodePtr body = next_element(xmlDocGetRootElement(d)->children);
    assert_non_null(body);
    assert_string_equal((const char *)body->name, "Body");
    assert_string_equal((const char *)body->ns->href, DCPKI_NS_SOAP11);
    xmlNodePtr p = next_element(body->children);
    assert_non_null(p);
    assert_null(next_element(p->next));
    return p;
}

/* Asserts the element children of n are exactly `names` (NULL-terminated),
 * in that order, all in namespace ns. */
static void assert_children(xmlNodePtr n, const char *ns, const char *const *names)
{
    xmlNodePtr c = next_element(n->children);
    size_t i = 0;
    for (; names[i] != NULL; i++, c = next_element(c->next)) {
        if (c == NULL)
            fail_msg("missing <%s> (child %zu of <%s>)", names[i], i, (const char *)n->name);
        if (strcmp((const char *)c->name, names[i]) != 0)
            fail_msg("child %zu of <%s> is <%s>, expected <%s>", i, (const char *)n->name,
                     (const char *)c->name, names[i]);
        assert_non_null(c->ns);
        assert_string_equal((const char *)c->ns->href, ns);
    }
    if (c != NULL)
        fail_msg("unexpected <%s> after the expected children of <%s>", (const char *)c->name,
                 (const char *)n->name);
}

static xmlNodePtr child(xmlNodePtr n, const char *name)
{
    for (xmlNodePtr c = n->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, name) == 0)
            return c;
    fail_msg("<%s> has no <%s>", (const char *)n->name, name);
    return NULL;
}

static void assert_text(xmlNodePtr n, const char *want)
{
    xmlChar *t = xmlNodeGetContent(n);
    assert_non_null(t);
    assert_string_equal((const char *)t, want);
    xmlFree(t);
}

/* ---- builders ---- */

static void test_build_get_policies(void **state)
{
    (void)state;
    const char *oids[] = {P1};
    char *xml = NULL;
    size_t len = 0;
    dcpki_err e;
    assert_int_equal(dcpki_pki_build_get_policies("dcpki-1", oids, 1, &xml, &len, &e), DCPKI_OK);
    xmlDocPtr d = reparse(xml, len);
    xmlNodePtr p = payload(d);
    assert_string_equal((const char *)p->name, "getPolicies");
    assert_string_equal((const char *)p->ns->href, DCPKI_NS_VS_POLICY);
    assert_children(p, DCPKI_NS_VS_POLICY,
                    (const char *const[]){"version", "clientTransactionID", "requestFilter", NULL});
    assert_text(child(p, "version"), "2.0");
    assert_text(child(p, "clientTransactionID"), "dcpki-1");
    xmlNodePtr rf = child(p, "requestFilter");
    assert_children(rf, DCPKI_NS_VS_POLICY, (const char *const[]){"policyIDs", NULL});
    xmlNodePtr ids = child(rf, "policyIDs");
    assert_children(ids, DCPKI_NS_VS_POLICY, (const char *const[]){"oid", NULL});
    assert_text(child(ids, "oid"), P1);
    /* no Microsoft namespace anywhere */
    assert_null(strstr(xml, "microsoft"));
    xmlFreeDoc(d);
    free(xml);

    /* no OID: nil requestFilter, no transaction ID */
    assert_int_equal(dcpki_pki_build_get_policies(NULL, NULL, 0, &xml, &len, &e), DCPKI_OK);
    d = reparse(xml, len);
    p = payload(d);
    assert_children(p, DCPKI_NS_VS_POLICY, (const char *const[]){"version", "requestFilter", NULL});
    xmlChar *nil = xmlGetNsProp(child(p, "requestFilter"), (const xmlChar *)"nil",
                                (const xmlChar *)"http://www.w3.org/2001/XMLSchema-instance");
    assert_non_null(nil);
    assert_string_equal((const char *)nil, "true");
    xmlFree(nil);
    xmlFreeDoc(d);
    free(xml);

    const char *bad[] = {"1.2.3</p:oid><x>"};
    assert_int_equal(dcpki_pki_build_get_policies(NULL, bad, 1, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_null(xml);
    assert_int_equal(dcpki_pki_build_get_policies("0123456789012345678901234567890123456789X", oids, 1,
                                                  &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_int_equal(dcpki_pki_build_get_policies("a\nb", oids, 1, &xml, &len, &e),
                     DCPKI_E_INVALID_ARGUMENT);
}

static void test_build_enroll(void **state)
{
    (void)state;
    static const unsigned char csr[] = {0x30, 0x82, 0x01, 0x0a, 0xde, 0xad, 0xbe, 0xef, 0x00, 0xff};
    dcpki_nvp pairs[] = {
        {"common_name", "IWUser0"},
        {"mail_email", "IWUser0@contoso.example"},
        {"upn", "a<b>&\"c'</e:value><e:name>x"},
    };
    dcpki_pki_enroll_params p = {.profile_oid = P1, .txid = "dcpki-2", .type = DCPKI_PKI_ISSUE,
                                 .csr_der = csr, .csr_len = sizeof(csr), .pairs = pairs, .n_pairs = 3};
    char *xml = NULL;
    size_t len = 0;
    dcpki_err e;
    assert_int_equal(dcpki_pki_build_enroll(&p, &xml, &len, &e), DCPKI_OK);
    xmlDocPtr d = reparse(xml, len);
    xmlNodePtr rst = payload(d);
    assert_string_equal((const char *)rst->name, "RequestSecurityToken");
    assert_string_equal((const char *)rst->ns->href, DCPKI_NS_WST);
    assert_children(rst, DCPKI_NS_VS_ENROLL, (const char *const[]){"requestVSSecurityToken", NULL});
    xmlNodePtr r = child(rst, "requestVSSecurityToken");
    assert_children(r, DCPKI_NS_VS_ENROLL,
                    (const char *const[]){"certificateProfileID", "clientTransactionID", "tokenType",
                                          "requestType", "binarySecurityToken", "nameValuePair",
                                          "nameValuePair", "nameValuePair", "version", NULL});
    assert_text(child(r, "certificateProfileID"), P1);
    assert_text(child(r, "tokenType"),
                "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7");
    assert_text(child(r, "requestType"), "http://docs.oasis-open.org/ws-sx/ws-trust/200512/Issue");
    xmlNodePtr bst = child(r, "binarySecurityToken");
    assert_text(bst, "MIIBCt6tvu8A/w==");
    xmlChar *vt = xmlGetNoNsProp(bst, (const xmlChar *)"ValueType");
    assert_non_null(vt);
    assert_string_equal((const char *)vt, "http://schemas.verisign.com/pkiservices/2009/07/PKCS10");
    xmlFree(vt);
    assert_text(child(r, "version"), "2.0");
    /* the pairs, in order, the hostile value escaped and intact */
    xmlNodePtr nv = child(r, "nameValuePair");
    const char *want[][2] = {{"common_name", "IWUser0"}, {"mail_email", "IWUser0@contoso.example"},
                             {"upn", "a<b>&\"c'</e:value><e:name>x"}};
    for (int i = 0; i < 3; i++, nv = next_element(nv->next)) {
        assert_children(nv, DCPKI_NS_VS_ENROLL, (const char *const[]){"name", "value", NULL});
        assert_text(child(nv, "name"), want[i][0]);
        assert_text(child(nv, "value"), want[i][1]);
    }
    assert_null(strstr(xml, "Microsoft"));
    assert_null(strstr(xml, "EncodingType"));
    xmlFreeDoc(d);
    free(xml);

    /* status query of a pending request: no CSR, pendingTokenReferenceID */
    dcpki_pki_enroll_params q = {.profile_oid = P1, .type = DCPKI_PKI_QUERY, .pending_id = "PEND-42"};
    assert_int_equal(dcpki_pki_build_enroll(&q, &xml, &len, &e), DCPKI_OK);
    d = reparse(xml, len);
    r = child(payload(d), "requestVSSecurityToken");
    assert_children(r, DCPKI_NS_VS_ENROLL,
                    (const char *const[]){"certificateProfileID", "tokenType", "requestType",
                                          "pendingTokenReferenceID", "version", NULL});
    assert_text(child(r, "requestType"), "http://schemas.verisign.com/pkiservices/2009/07/QueryTokenStatus");
    assert_text(child(r, "pendingTokenReferenceID"), "PEND-42");
    xmlFreeDoc(d);
    free(xml);

    /* errors before anything is built */
    dcpki_pki_enroll_params b1 = {.profile_oid = "not-an-oid", .csr_der = csr, .csr_len = sizeof(csr)};
    assert_int_equal(dcpki_pki_build_enroll(&b1, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_pki_enroll_params b2 = {.profile_oid = P1};
    assert_int_equal(dcpki_pki_build_enroll(&b2, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "CSR");
    dcpki_pki_enroll_params b3 = {.profile_oid = P1, .type = DCPKI_PKI_QUERY};
    assert_int_equal(dcpki_pki_build_enroll(&b3, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_nvp ctl[] = {{"common_name", "a\x01"}};
    dcpki_pki_enroll_params b4 = {.profile_oid = P1, .csr_der = csr, .csr_len = sizeof(csr),
                                  .pairs = ctl, .n_pairs = 1};
    assert_int_equal(dcpki_pki_build_enroll(&b4, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_nvp badutf[] = {{"common_name", "\xff\xfe"}};
    b4.pairs = badutf;
    assert_int_equal(dcpki_pki_build_enroll(&b4, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_null(xml);
}

static void test_serial_forms(void **state)
{
    (void)state;
    char out[DCPKI_SERIAL_BUF];
    static const struct {
        const char *in, *norm, *der;
    } cases[] = {
        {"0a:1b:2c", "A1B2C", "0A1B2C"},          /* odd: a 0 nibble in front */
        {"00:A1:02", "A102", "00A102"},           /* high first octet: 00 in front */
        {"00 00 7f", "7F", "7F"},                 /* both forms the same */
        {"8", "8", "08"},
        {"0", "0", "00"},
        {"000", "0", "00"},
        {"4ac5e2f1 9b", "4AC5E2F19B", "4AC5E2F19B"},
        {"FFEEDDCCBBAA99887766554433221100FFEEDDCC", "FFEEDDCCBBAA99887766554433221100FFEEDDCC",
         "00FFEEDDCCBBAA99887766554433221100FFEEDDCC"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(dcpki_serial_normalise(cases[i].in, out, sizeof out), 0);
        assert_string_equal(out, cases[i].norm);
        assert_int_equal(dcpki_serial_der_form(cases[i].in, out, sizeof out), 0);
        assert_string_equal(out, cases[i].der);
    }
    assert_int_equal(dcpki_serial_normalise("0x12", out, sizeof out), -1);
    assert_int_equal(dcpki_serial_normalise("", out, sizeof out), -1);
    assert_int_equal(dcpki_serial_normalise(" : ", out, sizeof out), -1);
    assert_int_equal(dcpki_serial_normalise(NULL, out, sizeof out), -1);
    assert_int_equal(dcpki_serial_der_form("g1", out, sizeof out), -1);
    /* too small an output: -1, never a truncated serial */
    char small[4];
    assert_int_equal(dcpki_serial_normalise("0A1B2C", small, sizeof small), -1);
    assert_int_equal(dcpki_serial_der_form("A1B", small, sizeof small), -1);
    assert_int_equal(dcpki_serial_der_form("A1", small, sizeof small), -1); /* "00A1" */
    assert_int_equal(dcpki_serial_der_form("0:1a", small, sizeof small), 0);
    assert_string_equal(small, "1A");
    /* more than DCPKI_SERIAL_MAX digits */
    char big[DCPKI_SERIAL_MAX + 2];
    memset(big, '1', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(dcpki_serial_normalise(big, out, sizeof out), -1);
}

static void test_build_update_status(void **state)
{
    (void)state;
    char *xml = NULL;
    size_t len = 0;
    dcpki_err e;
    assert_int_equal(dcpki_pki_build_update_status("dcpki-3", "0a:1b:2c", "Revoke", "superseded",
                                                   "user left", &xml, &len, &e), DCPKI_OK);
    xmlDocPtr d = reparse(xml, len);
    xmlNodePtr u = payload(d);
    assert_string_equal((const char *)u->name, "updateCertificateStatusRequest");
    assert_children(u, DCPKI_NS_VS_MGMT,
                    (const char *const[]){"clientTransactionID", "version", "revocationReason", "comment",
                                          "certificateSerialNumber", "operationType", NULL});
    assert_text(child(u, "version"), "1.0");
    assert_text(child(u, "revocationReason"), "Superseded");
    assert_text(child(u, "certificateSerialNumber"), "0A1B2C");
    assert_text(child(u, "operationType"), "Revoke");
    xmlFreeDoc(d);
    free(xml);

    assert_int_equal(dcpki_pki_build_update_status(NULL, "01", "Revoke", NULL, NULL, &xml, &len, &e),
                     DCPKI_OK);
    d = reparse(xml, len);
    assert_children(payload(d), DCPKI_NS_VS_MGMT,
                    (const char *const[]){"version", "certificateSerialNumber", "operationType", NULL});
    xmlFreeDoc(d);
    free(xml);

    assert_string_equal(dcpki_pki_revocation_reason("keyCompromise"), "KeyCompromise");
    assert_string_equal(dcpki_pki_revocation_reason("key-compromise"), "KeyCompromise");
    assert_string_equal(dcpki_pki_revocation_reason("CESSATION_OF_OPERATION"), "CessationOfOperation");
    assert_null(dcpki_pki_revocation_reason("removeFromCRL"));
    assert_int_equal(dcpki_pki_build_update_status(NULL, "01", "Revoke", "bogus", NULL, &xml, &len, &e),
                     DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "bogus");
    assert_int_equal(dcpki_pki_build_update_status(NULL, "0x12", "Revoke", NULL, NULL, &xml, &len, &e),
                     DCPKI_E_INVALID_ARGUMENT);
    assert_int_equal(dcpki_pki_build_update_status(NULL, "", "Revoke", NULL, NULL, &xml, &len, &e),
                     DCPKI_E_INVALID_ARGUMENT);
    assert_int_equal(dcpki_pki_build_update_status(NULL, "01", "Delete", NULL, NULL, &xml, &len, &e),
                     DCPKI_E_INVALID_ARGUMENT);
    assert_null(xml);
}

static void test_build_health(void **state)
{
    (void)state;
    char *xml = NULL;
    size_t len = 0;
    dcpki_err e;
    assert_int_equal(dcpki_pki_build_health("dcpki-4", P1, &xml, &len, &e), DCPKI_OK);
    xmlDocPtr d = reparse(xml, len);
    xmlNodePtr g = payload(d);
    assert_string_equal((const char *)g->name, "getStatusRequestMessage");
    assert_children(g, DCPKI_NS_HEALTH,
                    (const char *const[]){"version", "clientTransactionID", "operationType", "profileOid",
                                          NULL});
    assert_text(child(g, "operationType"), "ENROLL");
    xmlFreeDoc(d);
    free(xml);

    assert_string_equal(dcpki_pki_service_path(DCPKI_PKI_POLICY), "/pki-ws/policyService");
    assert_string_equal(dcpki_pki_service_path(DCPKI_PKI_ENROLLMENT), "/pki-ws/enrollmentService");
    assert_string_equal(dcpki_pki_service_path(DCPKI_PKI_MANAGEMENT), "/pki-ws/certificateManagementService");
    assert_string_equal(dcpki_pki_service_path(DCPKI_PKI_HEALTH), "/pki-ws/healthcheckService");
    assert_string_equal(dcpki_pki_soap_action(DCPKI_PKI_POLICY),
                        "http://schemas.verisign.com/pkiservices/2009/07/policy/requestPolicies");
    char tx[64];
    assert_int_equal(dcpki_pki_new_txid(tx, sizeof(tx), &e), DCPKI_OK);
    assert_int_equal(strlen(tx), 38);
    assert_true(strlen(tx) <= DCPKI_PKI_TXID_MAX);
}

/* ---- certificates for the responses ---- */

typedef struct pki {
    EVP_PKEY *ca_key, *leaf_key, *other_key;
    X509 *root, *ca, *leaf;
} pki;

static X509 *mkcert(const char *cn, EVP_PKEY *key, X509 *issuer, EVP_PKEY *ikey, int is_ca, long serial)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME *n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1, 0);
    X509_set_subject_name(x, n);
    X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) : n);
    X509_NAME_free(n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, key);
    X509V3_CTX ctx;
    X509V3_set_ctx(&ctx, issuer ? issuer : x, x, NULL, NULL, 0);
    X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
                                              is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
    assert_non_null(ext);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
    assert_true(X509_sign(x, ikey ? ikey : key, EVP_sha256()) > 0);
    return x;
}

static int setup_pki(void **state)
{
    pki *k = calloc(1, sizeof(*k));
    k->ca_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k->leaf_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k->other_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    EVP_PKEY *root_key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    k->root = mkcert("test root", root_key, NULL, NULL, 1, 1);
    k->ca = mkcert("test issuing CA", k->ca_key, k->root, root_key, 1, 2);
    k->leaf = mkcert("IWUser0", k->leaf_key, k->ca, k->ca_key, 0, 3);
    EVP_PKEY_free(root_key);
    *state = k;
    return 0;
}

static int teardown_pki(void **state)
{
    pki *k = *state;
    EVP_PKEY_free(k->ca_key);
    EVP_PKEY_free(k->leaf_key);
    EVP_PKEY_free(k->other_key);
    X509_free(k->root);
    X509_free(k->ca);
    X509_free(k->leaf);
    free(k);
    return 0;
}

static char *b64_of(const unsigned char *d, int n)
{
    char *o = malloc(4 * ((size_t)n + 2) / 3 + 8);
    EVP_EncodeBlock((unsigned char *)o, d, n);
    return o;
}

static char *cert_b64(X509 *x)
{
    unsigned char *der = NULL;
    int n = i2d_X509(x, &der);
    assert_true(n > 0);
    char *o = b64_of(der, n);
    OPENSSL_free(der);
    return o;
}

/* certs-only PKCS#7 (root, CA, leaf in a scrambled order), base64 DER */
static char *p7_b64(const pki *k)
{
    PKCS7 *p7 = PKCS7_new();
    assert_non_null(p7);
    assert_int_equal(PKCS7_set_type(p7, NID_pkcs7_signed), 1);
    assert_int_equal(PKCS7_content_new(p7, NID_pkcs7_data), 1);
    PKCS7_add_certificate(p7, k->root);
    PKCS7_add_certificate(p7, k->leaf);
    PKCS7_add_certificate(p7, k->ca);
    unsigned char *der = NULL;
    int n = i2d_PKCS7(p7, &der);
    assert_true(n > 0);
    char *o = b64_of(der, n);
    OPENSSL_free(der);
    PKCS7_free(p7);
    return o;
}

/* ---- policy responses ---- */

static char *policies_xml(const pki *k)
{
    char *ca = cert_b64(k->ca), *root = cert_b64(k->root);
#define POLICIES_FMT \
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>" \
        SOAP_OPEN \
        "<p:getPoliciesResponse xmlns:p=\"http://schemas.verisign.com/pkiservices/2009/07/policy\">" \
        "<p:clientTransactionID>dcpki-1</p:clientTransactionID><p:serverTransactionID>S-1</p:serverTransactionID>" \
        "<p:response><p:policyID>pol-id-1</p:policyID><p:policyFriendlyName>IW users</p:policyFriendlyName>" \
        "<p:nextUpdateHours>8</p:nextUpdateHours><p:policiesNotChanged>false</p:policiesNotChanged>" \
        "<p:policies>" \
        /* policy for P2 first: the parser must pick by OID */ \
        "<p:policy><p:policyOIDReference>2</p:policyOIDReference><p:cAs><p:cAReference>0</p:cAReference></p:cAs>" \
        "<p:attributes><p:policySchema>3</p:policySchema>" \
        "<p:certificateValidity><p:validityPeriodDays>730</p:validityPeriodDays><p:renewalPeriodDays>30</p:renewalPeriodDays></p:certificateValidity>" \
        "<p:subjectNameInfo><p:subjectNameAttribute><p:subjectNameAttributecount>1</p:subjectNameAttributecount>" \
        "<p:subjectNameAttributeNameValuePair><p:attributeName>CN</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"true\">$common_name</p:attributeNameValue></p:subjectNameAttributeNameValuePair>" \
        "</p:subjectNameAttribute><p:overrideSubjectNameFormat>false</p:overrideSubjectNameFormat></p:subjectNameInfo>" \
        "<p:extensions><p:Extension><p:extensionOIDReference>10</p:extensionOIDReference>" \
        "<p:extensionCriticalFlag>false</p:extensionCriticalFlag><p:extensionSyntax>" \
        "<p:extensionAttributeNameValuePair><p:attributeName>other_name</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"true\" type=\"otherName\">1.3.6.1.4.1.311.25.1</p:attributeNameValue>" \
        "</p:extensionAttributeNameValuePair></p:extensionSyntax></p:Extension></p:extensions>" \
        "<p:privateKeyAttributes><p:keysize>2048</p:keysize><p:keyexportable>true</p:keyexportable>" \
        "<p:algorithmOIDReference>20</p:algorithmOIDReference><p:cryptoProviders xsi:nil=\"true\" " \
        "xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\"/></p:privateKeyAttributes>" \
        "<p:clientPolicy><p:certPublish>no</p:certPublish></p:clientPolicy>" \
        "<p:rAPolicy><p:registerUser>false</p:registerUser><p:verifyUser>false</p:verifyUser><p:publishCert>no</p:publishCert><p:pollingPolicy/></p:rAPolicy>" \
        "<p:applicationInstructions/><p:deploymentMode>production</p:deploymentMode><p:status>active</p:status><p:migrationOIDs/>" \
        "</p:attributes></p:policy>" \
        /* policy for P1 */ \
        "<p:policy><p:policyOIDReference>1</p:policyOIDReference><p:cAs><p:cAReference>0</p:cAReference></p:cAs>" \
        "<p:attributes><p:policySchema>3</p:policySchema>" \
        "<p:certificateValidity><p:validityPeriodDays>365</p:validityPeriodDays><p:renewalPeriodDays>30</p:renewalPeriodDays></p:certificateValidity>" \
        "<p:subjectNameInfo><p:subjectNameAttribute><p:subjectNameAttributecount>3</p:subjectNameAttributecount>" \
        "<p:subjectNameAttributeNameValuePair><p:attributeName>CN</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"true\">$common_name</p:attributeNameValue></p:subjectNameAttributeNameValuePair>" \
        "<p:subjectNameAttributeNameValuePair><p:attributeName>mail_email</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"false\"></p:attributeNameValue></p:subjectNameAttributeNameValuePair>" \
        "<p:subjectNameAttributeNameValuePair><p:attributeName>O</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"false\"/>" \
        "<p:attributeNameValueProperty><p:value>Contoso &amp; Co</p:value><p:mandatory>false</p:mandatory>" \
        "<p:overridable>false</p:overridable></p:attributeNameValueProperty></p:subjectNameAttributeNameValuePair>" \
        "</p:subjectNameAttribute><p:overrideSubjectNameFormat>false</p:overrideSubjectNameFormat></p:subjectNameInfo>" \
        "<p:extensions>" \
        "<p:Extension><p:extensionOIDReference>11</p:extensionOIDReference><p:extensionCriticalFlag>true</p:extensionCriticalFlag>" \
        "<p:extensionSyntax><p:extensionValue>digitalSignature</p:extensionValue></p:extensionSyntax></p:Extension>" \
        "<p:Extension><p:extensionOIDReference>10</p:extensionOIDReference>" \
        "<p:extensionCriticalFlag>false</p:extensionCriticalFlag><p:extensionSyntax>" \
        "<p:extensionAttributeNameValuePair><p:attributeName>mail_email</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"true\" type=\"rfc822Name\">$mail_email</p:attributeNameValue></p:extensionAttributeNameValuePair>" \
        "<p:extensionAttributeNameValuePair><p:attributeName>upn</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"true\" type=\"userPrincipalName\"/></p:extensionAttributeNameValuePair>" \
        "<p:extensionAttributeNameValuePair><p:attributeName>dns_name</p:attributeName>" \
        "<p:attributeNameValue mandatory=\"false\" type=\"dNSName\"/></p:extensionAttributeNameValuePair>" \
        "</p:extensionSyntax></p:Extension></p:extensions>" \
        "<p:privateKeyAttributes><p:keysize>2048</p:keysize><p:keyexportable>false</p:keyexportable>" \
        "<p:algorithmOIDReference>20</p:algorithmOIDReference><p:cryptoProviders><p:provider>x</p:provider></p:cryptoProviders></p:privateKeyAttributes>" \
        "<p:clientPolicy><p:certPublish>no</p:certPublish></p:clientPolicy>" \
        "<p:systemInfo><p:certificateDeliveryFormat>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7</p:certificateDeliveryFormat>" \
        "<p:serviceEndpointList><p:serviceEndpoint><p:type>enroll</p:type><p:endpointURI>https://x/</p:endpointURI></p:serviceEndpoint></p:serviceEndpointList>" \
        "<p:duplicateCertPolicy/><p:supersededPolicyOID/></p:systemInfo>" \
        "<p:rAPolicy><p:registerUser>false</p:registerUser><p:verifyUser>false</p:verifyUser><p:publishCert>no</p:publishCert><p:pollingPolicy/></p:rAPolicy>" \
        "<p:applicationInstructions/><p:deploymentMode>production</p:deploymentMode><p:status>active</p:status><p:migrationOIDs/>" \
        "</p:attributes></p:policy>" \
        "</p:policies></p:response>" \
        "<p:cAs><p:cA><p:uris>https://pki-ws.symauth.com/</p:uris><p:certificate>%s</p:certificate>" \
        "<p:cAIssuerName>test issuing CA</p:cAIssuerName><p:cAReferenceID>0</p:cAReferenceID><p:cAType>private</p:cAType>" \
        "<p:rootCACertificate>\n%s\n</p:rootCACertificate></p:cA></p:cAs>" \
        "<p:oIDs>" \
        "<p:oID><p:value>" P1 "</p:value><p:oIDReferenceID>1</p:oIDReferenceID><p:group>6</p:group><p:defaultName>IW profile</p:defaultName></p:oID>" \
        "<p:oID><p:value>" P2 "</p:value><p:oIDReferenceID>2</p:oIDReferenceID><p:group>6</p:group><p:defaultName>Devices</p:defaultName></p:oID>" \
        "<p:oID><p:value>2.5.29.17</p:value><p:oIDReferenceID>10</p:oIDReferenceID><p:group>6</p:group><p:defaultName>subjectAltName</p:defaultName></p:oID>" \
        "<p:oID><p:value>2.5.29.15</p:value><p:oIDReferenceID>11</p:oIDReferenceID><p:group>6</p:group><p:defaultName>keyUsage</p:defaultName></p:oID>" \
        "<p:oID><p:value>1.2.840.113549.1.1.1</p:value><p:oIDReferenceID>20</p:oIDReferenceID><p:group>3</p:group><p:defaultName>RSA</p:defaultName></p:oID>" \
        "</p:oIDs></p:getPoliciesResponse>" \
        SOAP_CLOSE
    size_t n = strlen(POLICIES_FMT) + strlen(ca) + strlen(root) + 1;
    char *out = malloc(n);
    snprintf(out, n, POLICIES_FMT, ca, root);
    free(ca);
    free(root);
    return out;
}

static void test_parse_policies(void **state)
{
    pki *k = *state;
    char *xml = policies_xml(k);
    dcpki_policy *p = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_policies(xml, strlen(xml), P1, &p, &e), DCPKI_OK);
    assert_string_equal(p->profile_oid, P1);
    assert_string_equal(p->policy_id, "pol-id-1");
    assert_string_equal(p->friendly_name, "IW profile"); /* the profile's own name */
    assert_int_equal(p->validity_days, 365);
    assert_int_equal(p->renewal_days, 30);
    assert_int_equal(p->key_size, 2048);
    assert_string_equal(p->key_algorithm, "RSA");
    assert_string_equal(p->key_algorithm_oid, "1.2.840.113549.1.1.1");
    assert_int_equal(p->key_exportable, 0);
    assert_string_equal(p->status, "active");
    assert_non_null(strstr(p->delivery_format, "#PKCS7"));
    assert_int_equal(p->n_attrs, 3);
    assert_string_equal(p->attrs[0].dn, "CN");
    assert_string_equal(p->attrs[0].name, "common_name");
    assert_true(p->attrs[0].mandatory);
    assert_null(p->attrs[0].fixed_value);
    assert_string_equal(p->attrs[1].dn, "E");
    assert_string_equal(p->attrs[1].name, "mail_email");
    assert_false(p->attrs[1].mandatory);
    assert_string_equal(p->attrs[2].dn, "O");
    assert_string_equal(p->attrs[2].fixed_value, "Contoso & Co");
    assert_int_equal(p->n_sans, 2); /* dNSName is not a connector SAN type */
    assert_int_equal(p->sans[0].type, DCPKI_SAN_EMAIL);
    assert_string_equal(p->sans[0].name, "mail_email");
    assert_true(p->sans[0].mandatory);
    assert_int_equal(p->sans[1].type, DCPKI_SAN_UPN);
    assert_string_equal(p->sans[1].oid, DCPKI_OID_UPN);
    assert_string_equal(p->sans[1].name, "upn");
    assert_int_equal(p->n_cas, 1);
    assert_string_equal(p->cas[0].issuer_name, "test issuing CA");
    assert_int_equal(X509_cmp(p->cas[0].certificate, k->ca), 0);
    assert_int_equal(X509_cmp(p->cas[0].root, k->root), 0);

    /* the parsed policy drives the rules end to end (acceptance "enroll") */
    const char *sans[] = {"email:IWUser0@contoso.example", "upn:IWUser0@contoso.example"};
    dcpki_request_input in = {.subject = "CN=IWUser0,E=IWUser0@contoso.example", .sans = sans, .n_sans = 2};
    dcpki_request *r = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_OK);
    assert_int_equal(r->n_pairs, 4);
    assert_string_equal(dcpki_request_pair(r, "seat_id"), "IWUser0@contoso.example");
    assert_string_equal(dcpki_request_pair(r, "common_name"), "IWUser0");
    assert_string_equal(dcpki_request_pair(r, "mail_email"), "IWUser0@contoso.example");
    assert_string_equal(dcpki_request_pair(r, "upn"), "IWUser0@contoso.example");
    dcpki_request_free(r);
    char *js = NULL;
    assert_int_equal(dcpki_policy_to_json(p, 0, &js, &e), DCPKI_OK);
    assert_non_null(strstr(js, "\"issuer_name\":\"test issuing CA\""));
    free(js);
    dcpki_policy_free(p);

    assert_int_equal(dcpki_pki_parse_policies(xml, strlen(xml), P2, &p, &e), DCPKI_OK);
    assert_string_equal(p->profile_oid, P2);
    assert_int_equal(p->validity_days, 730);
    assert_string_equal(p->friendly_name, "Devices");
    assert_int_equal(p->n_attrs, 1);
    assert_int_equal(p->n_sans, 1);
    assert_int_equal(p->sans[0].type, DCPKI_SAN_OTHERNAME);
    assert_string_equal(p->sans[0].oid, DCPKI_OID_DS_OBJECT_GUID);
    assert_int_equal(p->key_exportable, 1);
    /* acceptance "refused_san": e-mail SAN on P2 */
    const char *esan[] = {"email:x@contoso.example"};
    dcpki_request_input in2 = {.subject = "CN=x", .sans = esan, .n_sans = 1};
    assert_int_equal(dcpki_request_prepare(p, &in2, &r, &e), DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "rfc822Name");
    dcpki_policy_free(p);

    /* no OID asked: the first policy */
    assert_int_equal(dcpki_pki_parse_policies(xml, strlen(xml), NULL, &p, &e), DCPKI_OK);
    assert_string_equal(p->profile_oid, P2);
    dcpki_policy_free(p);

    /* unknown profile */
    assert_int_equal(dcpki_pki_parse_policies(xml, strlen(xml), "2.16.840.1.113733.1.16.1.2.3.1.1.1", &p, &e),
                     DCPKI_E_PROFILE_UNKNOWN);
    assert_null(p);
    assert_detail_has(&e, "profile 2.16.840.1.113733.1.16.1.2.3.1.1.1 is not in the policy service's answer");

    /* a broken CA certificate is reported, not ignored */
    char *broken = strdup(xml);
    char *c = strstr(broken, "<p:certificate>") + strlen("<p:certificate>");
    memcpy(c, "!!!!", 4);
    assert_int_equal(dcpki_pki_parse_policies(broken, strlen(broken), P1, &p, &e), DCPKI_E_BAD_RESPONSE);
    assert_detail_has(&e, "certificate");
    free(broken);

    /* every truncation of the answer fails cleanly (no crash, no leak) */
    size_t n = strlen(xml);
    for (size_t cut = 0; cut < n; cut += 7) {
        dcpki_err_clear(&e);
        dcpki_code rc = dcpki_pki_parse_policies(xml, cut, P1, &p, &e);
        assert_int_not_equal(rc, DCPKI_OK);
        assert_null(p);
    }
    free(xml);
}

/* Policy with the vocabulary variants: attributeName as pair names, @type DN. */
static void test_parse_policy_variants(void **state)
{
    (void)state;
    const char *xml =
        SOAP_OPEN
        "<getPoliciesResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/policy\">"
        "<serverTransactionID>S</serverTransactionID><response><policyID>x</policyID><nextUpdateHours>1</nextUpdateHours>"
        "<policiesNotChanged>false</policiesNotChanged><policies><policy><policyOIDReference>7</policyOIDReference>"
        "<cAs><cAReference>3</cAReference></cAs><attributes><policySchema>1</policySchema>"
        "<certificateValidity><validityPeriodDays>90</validityPeriodDays><renewalPeriodDays>10</renewalPeriodDays></certificateValidity>"
        "<subjectNameInfo><subjectNameAttribute><subjectNameAttributecount>4</subjectNameAttributecount>"
        "<subjectNameAttributeNameValuePair><attributeName>common_name</attributeName><attributeNameValue mandatory=\"true\"/></subjectNameAttributeNameValuePair>"
        "<subjectNameAttributeNameValuePair><attributeName>mail_firstName</attributeName><attributeNameValue mandatory=\"true\"/></subjectNameAttributeNameValuePair>"
        "<subjectNameAttributeNameValuePair><attributeName>mail_lastName</attributeName><attributeNameValue mandatory=\"true\"/></subjectNameAttributeNameValuePair>"
        "<subjectNameAttributeNameValuePair><attributeName>OU</attributeName><attributeNameValue>Sales</attributeNameValue></subjectNameAttributeNameValuePair>"
        "</subjectNameAttribute><overrideSubjectNameFormat>true</overrideSubjectNameFormat></subjectNameInfo>"
        "<extensions><Extension><extensionOIDReference>9</extensionOIDReference><extensionCriticalFlag>false</extensionCriticalFlag>"
        "<extensionSyntax><extensionAttributeNameValuePair><attributeName>otherName</attributeName>"
        "<attributeNameValue mandatory=\"true\">1.3.6.1.4.1.311.20.2.3</attributeNameValue></extensionAttributeNameValuePair>"
        "<extensionAttributeNameValuePair><attributeName>guid</attributeName>"
        "<attributeNameValue type=\"otherName:1.3.6.1.4.1.311.25.1\"/></extensionAttributeNameValuePair>"
        "</extensionSyntax></Extension></extensions>"
        "<privateKeyAttributes><keysize>256</keysize><keyexportable>true</keyexportable><algorithmOIDReference>8</algorithmOIDReference><cryptoProviders/></privateKeyAttributes>"
        "<clientPolicy/><rAPolicy/><applicationInstructions/><deploymentMode>x</deploymentMode><status>active</status><migrationOIDs/>"
        "</attributes></policy></policies></response><cAs/>"
        "<oIDs><oID><value>1.2.3.4.5</value><oIDReferenceID>7</oIDReferenceID><group>6</group><defaultName>Named by OID</defaultName></oID>"
        "<oID><value>2.5.29.17</value><oIDReferenceID>9</oIDReferenceID><group>6</group><defaultName/></oID>"
        "<oID><value>1.2.840.10045.2.1</value><oIDReferenceID>8</oIDReferenceID><group>3</group><defaultName>ECC</defaultName></oID>"
        "</oIDs></getPoliciesResponse>" SOAP_CLOSE;
    dcpki_policy *p = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_policies(xml, strlen(xml), "1.2.3.4.5", &p, &e), DCPKI_OK);
    assert_string_equal(p->friendly_name, "Named by OID");
    assert_string_equal(p->key_algorithm, "EC");
    assert_int_equal(p->key_size, 256);
    assert_true(p->override_subject_format);
    assert_int_equal(p->n_attrs, 4);
    assert_string_equal(p->attrs[0].dn, "CN");
    assert_string_equal(p->attrs[0].name, "common_name");
    assert_string_equal(p->attrs[1].dn, "GN");
    assert_string_equal(p->attrs[1].name, "mail_firstName");
    assert_string_equal(p->attrs[2].dn, "SN");
    assert_string_equal(p->attrs[3].dn, "OU");
    assert_string_equal(p->attrs[3].fixed_value, "Sales");
    assert_int_equal(p->n_sans, 2);
    assert_int_equal(p->sans[0].type, DCPKI_SAN_UPN);
    assert_null(p->sans[0].name); /* bare type word: the default pair name applies */
    assert_int_equal(p->sans[1].type, DCPKI_SAN_OTHERNAME);
    assert_string_equal(p->sans[1].oid, DCPKI_OID_DS_OBJECT_GUID);
    assert_string_equal(p->sans[1].name, "guid");
    assert_int_equal(p->n_cas, 0);
    /* BRIEF §6 row: UPN with special characters on a first/last-name profile */
    const char *sans[] = {"upn:global_admin@contoso.example"};
    dcpki_request_input in = {.subject = "CN=admin", .sans = sans, .n_sans = 1};
    dcpki_request *r = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_E_UPN_NAME);
    assert_detail_has(&e, "CN=<upn>");
    dcpki_policy_free(p);
}

/* Pair names come from the policy: the SAN extension's attributeName names the
 * UPN pair (its type says it is a UPN), subjectNameInfo's attributeNames name
 * the subject pairs (their type or "$pair" value says which DN type). */
static void test_policy_pair_names(void **state)
{
    (void)state;
    const char *xml =
        SOAP_OPEN
        "<getPoliciesResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/policy\">"
        "<serverTransactionID>S</serverTransactionID><response><policyID>x</policyID><nextUpdateHours>1</nextUpdateHours>"
        "<policiesNotChanged>false</policiesNotChanged><policies><policy><policyOIDReference>1</policyOIDReference>"
        "<cAs/><attributes><policySchema>1</policySchema>"
        "<certificateValidity><validityPeriodDays>365</validityPeriodDays><renewalPeriodDays>30</renewalPeriodDays></certificateValidity>"
        "<subjectNameInfo><subjectNameAttribute><subjectNameAttributecount>3</subjectNameAttributecount>"
        "<subjectNameAttributeNameValuePair><attributeName>user_cn</attributeName>"
        "<attributeNameValue mandatory=\"true\" type=\"CN\">$user_cn</attributeNameValue></subjectNameAttributeNameValuePair>"
        "<subjectNameAttributeNameValuePair><attributeName>E</attributeName>"
        "<attributeNameValue type=\"E\">$user_mail</attributeNameValue></subjectNameAttributeNameValuePair>"
        "<subjectNameAttributeNameValuePair><attributeName>department</attributeName>"
        "<attributeNameValue type=\"OU\"/></subjectNameAttributeNameValuePair>"
        "</subjectNameAttribute><overrideSubjectNameFormat>false</overrideSubjectNameFormat></subjectNameInfo>"
        "<extensions><Extension><extensionOIDReference>2</extensionOIDReference><extensionCriticalFlag>false</extensionCriticalFlag>"
        "<extensionSyntax><extensionAttributeNameValuePair><attributeName>user_principal_name</attributeName>"
        "<attributeNameValue mandatory=\"true\" type=\"userPrincipalName\">$user_principal_name</attributeNameValue>"
        "</extensionAttributeNameValuePair>"
        "<extensionAttributeNameValuePair><attributeName>rfc822Name</attributeName>"
        "<attributeNameValue type=\"rfc822Name\">$san_mail</attributeNameValue></extensionAttributeNameValuePair>"
        "</extensionSyntax></Extension></extensions>"
        "<privateKeyAttributes><keysize>2048</keysize><keyexportable>false</keyexportable><algorithmOIDReference>3</algorithmOIDReference><cryptoProviders/></privateKeyAttributes>"
        "<clientPolicy/><rAPolicy/><applicationInstructions/><deploymentMode>x</deploymentMode><status>active</status><migrationOIDs/>"
        "</attributes></policy></policies></response><cAs/>"
        "<oIDs><oID><value>" P1 "</value><oIDReferenceID>1</oIDReferenceID><group>8</group><defaultName>UPN users</defaultName></oID>"
        "<oID><value>2.5.29.17</value><oIDReferenceID>2</oIDReferenceID><group>6</group><defaultName/></oID>"
        "<oID><value>1.2.840.113549.1.1.1</value><oIDReferenceID>3</oIDReferenceID><group>3</group><defaultName>RSA</defaultName></oID>"
        "</oIDs></getPoliciesResponse>" SOAP_CLOSE;
    dcpki_policy *p = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_policies(xml, strlen(xml), P1, &p, &e), DCPKI_OK);
    assert_int_equal(p->n_attrs, 3);
    assert_string_equal(p->attrs[0].dn, "CN");
    assert_string_equal(p->attrs[0].name, "user_cn");
    assert_true(p->attrs[0].mandatory);
    assert_string_equal(p->attrs[1].dn, "E");
    assert_string_equal(p->attrs[1].name, "user_mail");
    assert_string_equal(p->attrs[2].dn, "OU");
    assert_string_equal(p->attrs[2].name, "department");
    assert_int_equal(p->n_sans, 2);
    assert_int_equal(p->sans[0].type, DCPKI_SAN_UPN);
    assert_string_equal(p->sans[0].oid, DCPKI_OID_UPN);
    assert_string_equal(p->sans[0].name, "user_principal_name");
    assert_true(p->sans[0].mandatory);
    assert_int_equal(p->sans[1].type, DCPKI_SAN_EMAIL);
    assert_string_equal(p->sans[1].name, "san_mail"); /* bare attributeName: "$pair" names it */

    /* the request uses those names, never the guesses upn / common_name / mail_email */
    const char *sans[] = {"upn:iw.user@contoso.example"};
    dcpki_request_input in = {.subject = "CN=IW User,E=iw@contoso.example,OU=Sales", .sans = sans,
                              .n_sans = 1};
    dcpki_request *r = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_OK);
    assert_string_equal(dcpki_request_pair(r, "user_principal_name"), "iw.user@contoso.example");
    assert_string_equal(dcpki_request_pair(r, "user_cn"), "IW User");
    assert_string_equal(dcpki_request_pair(r, "user_mail"), "iw@contoso.example");
    assert_string_equal(dcpki_request_pair(r, "department"), "Sales");
    assert_string_equal(dcpki_request_pair(r, "san_mail"), "iw.user@contoso.example"); /* from the UPN */
    assert_string_equal(dcpki_request_pair(r, "seat_id"), "iw@contoso.example");
    assert_null(dcpki_request_pair(r, "upn"));
    assert_null(dcpki_request_pair(r, "common_name"));
    assert_null(dcpki_request_pair(r, "mail_email"));
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* ---- faults ---- */

static void test_faults(void **state)
{
    (void)state;
    const char *unknown =
        SOAP_OPEN "<soap:Fault><faultcode>soap:Client</faultcode>"
        "<faultstring>A request element is not understood</faultstring>"
        "<detail><errorcode>219</errorcode><message>Invalid certificate profile OID</message></detail>"
        "</soap:Fault>" SOAP_CLOSE;
    dcpki_policy *p = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_policies(unknown, strlen(unknown), P1, &p, &e), DCPKI_E_PROFILE_UNKNOWN);
    assert_null(p);
    assert_detail_has(&e, "A request element is not understood");
    assert_detail_has(&e, "errorcode 219");
    char fb[DCPKI_ERR_DETAIL_MAX + 512];
    assert_non_null(strstr(dcpki_err_format(&e, fb, sizeof fb), "profile OID"));

    dcpki_pki_enroll_result er;
    assert_int_equal(dcpki_pki_parse_enroll(unknown, strlen(unknown), NULL, &er, &e), DCPKI_E_PROFILE_UNKNOWN);
    assert_null(er.cert);

    const char *refused =
        SOAP_OPEN "<soap:Fault><faultcode>soap:Server</faultcode>"
        "<faultstring>Seat limit reached for this account</faultstring>"
        "<detail><ns2:fault xmlns:ns2=\"urn:x\"><errorcode>4012</errorcode><message>No seats</message></ns2:fault></detail>"
        "</soap:Fault>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_enroll(refused, strlen(refused), NULL, &er, &e), DCPKI_E_CA_REFUSED);
    assert_detail_has(&e, "the CA answered \"Seat limit reached for this account\"");
    assert_detail_has(&e, "No seats");
    assert_detail_has(&e, "errorcode 4012");

    const char *policy_fail =
        SOAP_OPEN "<soap:Fault><faultcode>soap:Client</faultcode>"
        "<faultstring>Policy verification failed: mail_email is not part of the DigiCert supported "
        "certificate template attributes list</faultstring></soap:Fault>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_enroll(policy_fail, strlen(policy_fail), NULL, &er, &e),
                     DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "Policy verification failed");

    /* only detail/message, a Server fault without errorcode: the service failed, not the request */
    const char *msg_only = SOAP_OPEN "<soap:Fault><faultcode>soap:Server</faultcode><detail>"
                           "<message>backend down</message></detail></soap:Fault>" SOAP_CLOSE;
    dcpki_pki_status_result sr;
    assert_int_equal(dcpki_pki_parse_update_status(msg_only, strlen(msg_only), &sr, &e),
                     DCPKI_E_SERVICE_UNAVAILABLE);
    assert_detail_has(&e, "the service failed (HTTP 500, SOAP Server fault \"backend down\"); retry later");
    /* a generic server errorcode (the emulator's injected faults): the same */
    const char *h500 = SOAP_OPEN "<soap:Fault><faultcode>soap:Server</faultcode><faultstring>Internal error"
                       "</faultstring><detail><errorcode>HTTP_500</errorcode></detail></soap:Fault>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_enroll(h500, strlen(h500), NULL, &er, &e), DCPKI_E_SERVICE_UNAVAILABLE);
    assert_detail_has(&e, "the service failed (HTTP 500, SOAP Server fault \"Internal error\", errorcode HTTP_500); "
                          "retry later");

    int is_fault = 0;
    dcpki_pki_fault f;
    assert_int_equal(dcpki_pki_parse_fault(refused, strlen(refused), &is_fault, &f, &e), DCPKI_OK);
    assert_true(is_fault);
    assert_string_equal(f.faultcode, "soap:Server");
    assert_string_equal(f.errorcode, "4012");
    assert_string_equal(f.message, "No seats");
    dcpki_pki_fault_clear(&f);
}

/* ---- malformed / hostile ---- */

static void test_malformed(void **state)
{
    (void)state;
    static const struct {
        const char *xml, *needle;
    } bad[] = {
        {"", "empty"},
        {"not xml at all", "not well-formed"},
        {"<a><b></a>", "not well-formed"},
        {"<Envelope><Body/></Envelope>", "no SOAP 1.1 envelope"},
        {"<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body><x/></s:Body></s:Envelope>",
         "no SOAP 1.1 envelope"},
        {SOAP_OPEN SOAP_CLOSE, "empty body"},
        {SOAP_OPEN "<getPoliciesResponse xmlns=\"http://schemas.microsoft.com/windows/pki/2009/01/enrollmentpolicy\"/>" SOAP_CLOSE,
         "where <getPoliciesResponse>"},
        {"<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\"><!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
         "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
         "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body>&lol3;</soap:Body></soap:Envelope>",
         "document type"},
        {"<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY ext SYSTEM \"file:///etc/passwd\">]>"
         "<soap:Envelope xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\"><soap:Body><p>&ext;</p></soap:Body></soap:Envelope>",
         "document type"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dcpki_policy *p = NULL;
        dcpki_err e;
        dcpki_err_clear(&e);
        assert_int_equal(dcpki_pki_parse_policies(bad[i].xml, strlen(bad[i].xml), P1, &p, &e),
                         DCPKI_E_BAD_RESPONSE);
        assert_null(p);
        assert_detail_has(&e, bad[i].needle);
        dcpki_pki_health h;
        assert_int_equal(dcpki_pki_parse_health(bad[i].xml, strlen(bad[i].xml), &h, &e), DCPKI_E_BAD_RESPONSE);
    }
    /* larger than the limit: refused before parsing */
    size_t big = DCPKI_PKI_MAX_RESPONSE + 1;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    huge[big] = '\0';
    dcpki_pki_health h;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_health(huge, big, &h, &e), DCPKI_E_BAD_RESPONSE);
    assert_detail_has(&e, "larger than");
    free(huge);
    /* random bytes never crash */
    unsigned char junk[512];
    for (int round = 0; round < 200; round++) {
        for (size_t i = 0; i < sizeof(junk); i++)
            junk[i] = (unsigned char)(rand() & 0xff);
        memcpy(junk, SOAP_OPEN, strlen(SOAP_OPEN));
        dcpki_pki_enroll_result er;
        dcpki_code rc = dcpki_pki_parse_enroll((const char *)junk, sizeof(junk), NULL, &er, &e);
        assert_int_not_equal(rc, DCPKI_OK);
    }
}

/* ---- enrollment responses ---- */

static char *enroll_xml(const char *inner)
{
#define ENROLL_FMT \
        SOAP_OPEN \
        "<wst:RequestSecurityTokenResponse xmlns:wst=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512/\">" \
        "<vs:RequestVSSecurityTokenResponse xmlns:vs=\"http://schemas.verisign.com/pkiservices/2009/07/enrollment\">" \
        "<vs:clientTransactionID>dcpki-2</vs:clientTransactionID><vs:serverTransactionID>S-2</vs:serverTransactionID>" \
        "<vs:tokenType>http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7</vs:tokenType>" \
        "%s<vs:version>2.0</vs:version></vs:RequestVSSecurityTokenResponse></wst:RequestSecurityTokenResponse>" \
        SOAP_CLOSE
    size_t n = strlen(ENROLL_FMT) + strlen(inner) + 1;
    char *o = malloc(n);
    snprintf(o, n, ENROLL_FMT, inner);
    return o;
}

static void test_parse_enroll_issued(void **state)
{
    pki *k = *state;
    char *p7 = p7_b64(k);
    size_t n = strlen(p7) + 512;
    char *inner = malloc(n);
    snprintf(inner, n,
             "<vs:dispositionMessage>Issued</vs:dispositionMessage><vs:requestedVSSecurityToken>"
             "<vs:binarySecurityToken ValueType=\"http://docs.oasis-open.org/wss/2004/01/"
             "oasis-200401-wss-x509-token-profile-1.0#PKCS7\">%s</vs:binarySecurityToken>"
             "</vs:requestedVSSecurityToken>", p7);
    char *xml = enroll_xml(inner);
    dcpki_pki_enroll_result r;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), k->leaf_key, &r, &e), DCPKI_OK);
    assert_false(r.pending);
    assert_non_null(r.cert);
    assert_int_equal(X509_cmp(r.cert, k->leaf), 0);
    assert_int_equal(r.n_chain, 2);
    assert_int_equal(X509_cmp(r.chain[0], k->ca), 0);   /* issuer first */
    assert_int_equal(X509_cmp(r.chain[1], k->root), 0);
    assert_string_equal(r.disposition, "Issued");
    assert_string_equal(r.client_txid, "dcpki-2");
    assert_string_equal(r.server_txid, "S-2");
    dcpki_pki_enroll_result_clear(&r);

    /* no key given: the only non-CA certificate */
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), NULL, &r, &e), DCPKI_OK);
    assert_int_equal(X509_cmp(r.cert, k->leaf), 0);
    dcpki_pki_enroll_result_clear(&r);

    /* a key that is not in the answer */
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), k->other_key, &r, &e), DCPKI_E_BAD_RESPONSE);
    assert_detail_has(&e, "public key");
    assert_null(r.cert);
    free(xml);
    free(inner);

    /* the token with line breaks, and at the top level (no requestedVSSecurityToken) */
    size_t l = strlen(p7);
    char *wrapped = malloc(l + l / 64 + 2);
    size_t w = 0;
    for (size_t i = 0; i < l; i++) {
        wrapped[w++] = p7[i];
        if (i % 64 == 63)
            wrapped[w++] = '\n';
    }
    wrapped[w] = '\0';
    inner = malloc(w + 256);
    snprintf(inner, w + 256, "<vs:binarySecurityToken>%s</vs:binarySecurityToken>", wrapped);
    xml = enroll_xml(inner);
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), k->leaf_key, &r, &e), DCPKI_OK);
    assert_int_equal(X509_cmp(r.cert, k->leaf), 0);
    dcpki_pki_enroll_result_clear(&r);
    free(xml);
    free(inner);
    free(wrapped);

    /* PEM certificates instead of base64 DER PKCS#7 */
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(b, k->ca);
    PEM_write_bio_X509(b, k->leaf);
    char *pem = NULL;
    long pl = BIO_get_mem_data(b, &pem);
    inner = malloc((size_t)pl + 256);
    snprintf(inner, (size_t)pl + 256,
             "<vs:requestedVSSecurityToken><vs:binarySecurityToken>%.*s</vs:binarySecurityToken>"
             "</vs:requestedVSSecurityToken>", (int)pl, pem);
    BIO_free(b);
    xml = enroll_xml(inner);
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), k->leaf_key, &r, &e), DCPKI_OK);
    assert_int_equal(X509_cmp(r.cert, k->leaf), 0);
    assert_int_equal(r.n_chain, 1);
    dcpki_pki_enroll_result_clear(&r);
    free(xml);
    free(inner);

    /* garbage token */
    xml = enroll_xml("<vs:requestedVSSecurityToken><vs:binarySecurityToken>AAAA!!!!</vs:binarySecurityToken>"
                     "</vs:requestedVSSecurityToken>");
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), k->leaf_key, &r, &e), DCPKI_E_BAD_RESPONSE);
    free(xml);
    free(p7);
}

static void test_parse_enroll_pending(void **state)
{
    (void)state;
    char *xml = enroll_xml("<vs:dispositionMessage>Pending approval</vs:dispositionMessage>"
                           "<vs:requestedVSSecurityToken><vs:pendingTokenReferenceID>PEND-42</vs:pendingTokenReferenceID>"
                           "</vs:requestedVSSecurityToken>");
    dcpki_pki_enroll_result r;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), NULL, &r, &e), DCPKI_OK);
    assert_true(r.pending);
    assert_string_equal(r.pending_id, "PEND-42");
    assert_string_equal(r.disposition, "Pending approval");
    assert_null(r.cert);
    dcpki_pki_enroll_result_clear(&r);
    free(xml);

    xml = enroll_xml("<vs:dispositionMessage>Rejected by administrator</vs:dispositionMessage>");
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), NULL, &r, &e), DCPKI_E_BAD_RESPONSE);
    assert_detail_has(&e, "Rejected by administrator");
    free(xml);

    xml = enroll_xml("<vs:requestedVSSecurityToken><vs:pendingTokenReferenceID> </vs:pendingTokenReferenceID>"
                     "</vs:requestedVSSecurityToken>");
    assert_int_equal(dcpki_pki_parse_enroll(xml, strlen(xml), NULL, &r, &e), DCPKI_E_BAD_RESPONSE);
    free(xml);

    /* response element in the wrong namespace (Microsoft's) */
    const char *ms = SOAP_OPEN "<RequestSecurityTokenResponse xmlns=\"http://docs.oasis-open.org/ws-sx/ws-trust/200512\">"
                     "</RequestSecurityTokenResponse>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_enroll(ms, strlen(ms), NULL, &r, &e), DCPKI_E_BAD_RESPONSE);
}

static void test_parse_update_status_and_health(void **state)
{
    (void)state;
    const char *ok = SOAP_OPEN
        "<m:updateCertificateStatusResponse xmlns:m=\"http://schemas.verisign.com/pkiservices/2009/07/management\">"
        "<m:clientTransactionID>dcpki-3</m:clientTransactionID><m:serverTransactionID>S</m:serverTransactionID>"
        "<m:version>1.0</m:version><m:successCode>0</m:successCode><m:successMsg>Success</m:successMsg>"
        "<m:revocationCount>1</m:revocationCount></m:updateCertificateStatusResponse>" SOAP_CLOSE;
    dcpki_pki_status_result s;
    dcpki_err e;
    assert_int_equal(dcpki_pki_parse_update_status(ok, strlen(ok), &s, &e), DCPKI_OK);
    assert_int_equal(s.success_code, 0);
    assert_string_equal(s.success_msg, "Success");
    assert_int_equal(s.revocation_count, 1);
    dcpki_pki_status_result_clear(&s);

    const char *neg = SOAP_OPEN
        "<updateCertificateStatusResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/management\">"
        "<version>1.0</version><successCode>-1</successCode><successMsg>Certificate already revoked</successMsg>"
        "</updateCertificateStatusResponse>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_update_status(neg, strlen(neg), &s, &e), DCPKI_OK);
    assert_int_equal(s.success_code, -1);
    assert_int_equal(s.revocation_count, -1);
    assert_string_equal(s.success_msg, "Certificate already revoked");
    dcpki_pki_status_result_clear(&s);

    const char *nocode = SOAP_OPEN
        "<updateCertificateStatusResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/management\">"
        "<version>1.0</version><successCode>zero</successCode></updateCertificateStatusResponse>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_update_status(nocode, strlen(nocode), &s, &e), DCPKI_E_BAD_RESPONSE);
    assert_null(s.success_msg);

    const char *up = SOAP_OPEN
        "<h:getStatusResponseMessage xmlns:h=\"http://schemas.pki.symantec.com/pkiservices/healthcheck\">"
        "<h:version>1.0</h:version><h:serverTransactionID>S</h:serverTransactionID><h:statusCode>UP</h:statusCode>"
        "<h:statusMessage>All good</h:statusMessage></h:getStatusResponseMessage>" SOAP_CLOSE;
    dcpki_pki_health h;
    assert_int_equal(dcpki_pki_parse_health(up, strlen(up), &h, &e), DCPKI_OK);
    assert_true(h.up);
    assert_string_equal(h.status_message, "All good");
    dcpki_pki_health_clear(&h);
    const char *down = SOAP_OPEN
        "<h:getStatusResponseMessage xmlns:h=\"http://schemas.pki.symantec.com/pkiservices/healthcheck\">"
        "<h:version>1.0</h:version><h:statusCode>DOWN</h:statusCode><h:statusMessage>maintenance</h:statusMessage>"
        "</h:getStatusResponseMessage>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_health(down, strlen(down), &h, &e), DCPKI_OK);
    assert_false(h.up);
    assert_string_equal(h.status_code, "DOWN");
    dcpki_pki_health_clear(&h);
}


static void test_search(void **state)
{
    (void)state;
    char *xml = NULL;
    size_t len = 0;
    dcpki_err e;
    /* startIndex counts from 0: the second page of 50 starts at 50 */
    dcpki_pki_search_filter f = {.serial_hex = "0a:bc de", .profile_oid = P1, .status = "REVOKED",
                                 .valid_from_ms = 1700000000000LL, .valid_to_ms = 1800000000000LL,
                                 .start_index = 50};
    assert_int_equal(dcpki_pki_build_search("dcpki-9", &f, &xml, &len, &e), DCPKI_OK);
    /* schema order: clientTransactionID, profileOID, status, serialNumber, validFrom, validTo,
     * startIndex, version */
    const char *order[] = {"<m:clientTransactionID>dcpki-9<", "<m:profileOID>" P1 "<",
                           "<m:status>REVOKED<", "<m:serialNumber>0ABCDE<",
                           "<m:validFrom>1700000000000<", "<m:validTo>1800000000000<",
                           "<m:startIndex>50<", "<m:version>1.0<"};
    const char *at = xml;
    for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
        const char *n = strstr(at, order[i]);
        if (n == NULL)
            fail_msg("%s missing or out of order in %s", order[i], xml);
        at = n;
    }
    assert_non_null(strstr(xml, "<m:searchCertificateRequest xmlns:m=\"http://schemas.verisign.com/pkiservices/2009/07/management\""));
    free(xml);
    dcpki_pki_search_filter bad1 = {.serial_hex = "xyz"};
    assert_int_equal(dcpki_pki_build_search(NULL, &bad1, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_pki_search_filter bad2 = {.status = "GONE"};
    assert_int_equal(dcpki_pki_build_search(NULL, &bad2, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_pki_search_filter bad3 = {.profile_oid = "not-an-oid"};
    assert_int_equal(dcpki_pki_build_search(NULL, &bad3, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_pki_search_filter bad4 = {.start_index = -1};
    assert_int_equal(dcpki_pki_build_search(NULL, &bad4, &xml, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "0-based");
    /* the first page: startIndex 0 is not sent */
    dcpki_pki_search_filter first = {.profile_oid = P1};
    assert_int_equal(dcpki_pki_build_search(NULL, &first, &xml, &len, &e), DCPKI_OK);
    assert_null(strstr(xml, "startIndex"));
    assert_null(strstr(xml, "validFrom"));
    free(xml);

    const char *resp = SOAP_OPEN
        "<searchCertificateResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/management\">"
        "<clientTransactionID>dcpki-9</clientTransactionID><serverTransactionID>S</serverTransactionID>"
        "<certificateCount>2</certificateCount><certificateList>"
        "<certificateInformation><seatId>u1</seatId><commonName>u1</commonName><profileOID>" P1 "</profileOID>"
        "<emailAddress xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:nil=\"true\"/>"
        "<status>REVOKED</status><revokeAt>1764072045000</revokeAt><revokeReason>KeyCompromise</revokeReason>"
        "<validFrom>1764072000000</validFrom><validTo>1795608000000</validTo><serialNumber>0ABCDE</serialNumber>"
        "</certificateInformation>"
        "<certificateInformation><commonName>u2</commonName><status>VALID</status><serialNumber>12</serialNumber>"
        "<emailAddress>u2@contoso.example</emailAddress></certificateInformation>"
        "</certificateList><moreCertificateAvailable>true</moreCertificateAvailable><version>1.0</version>"
        "</searchCertificateResponse>" SOAP_CLOSE;
    dcpki_pki_search_result r;
    assert_int_equal(dcpki_pki_parse_search(resp, strlen(resp), &r, &e), DCPKI_OK);
    assert_int_equal(r.count, 2);
    assert_int_equal(r.n, 2);
    assert_true(r.more);
    assert_string_equal(r.certs[0].serial, "0ABCDE");
    assert_string_equal(r.certs[0].status, "REVOKED");
    assert_string_equal(r.certs[0].revoke_reason, "KeyCompromise");
    assert_true(r.certs[0].revoke_at_ms == 1764072045000LL);
    assert_null(r.certs[0].email);
    assert_string_equal(r.certs[0].profile_oid, P1);
    assert_string_equal(r.certs[1].email, "u2@contoso.example");
    assert_true(r.certs[1].revoke_at_ms == -1);
    dcpki_pki_search_result_clear(&r);

    const char *none = SOAP_OPEN
        "<searchCertificateResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/management\">"
        "<certificateCount>0</certificateCount><moreCertificateAvailable>false</moreCertificateAvailable>"
        "<version>1.0</version></searchCertificateResponse>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_search(none, strlen(none), &r, &e), DCPKI_OK);
    assert_int_equal(r.n, 0);
    assert_int_equal(r.count, 0);
    dcpki_pki_search_result_clear(&r);
    const char *broken = SOAP_OPEN
        "<searchCertificateResponse xmlns=\"http://schemas.verisign.com/pkiservices/2009/07/management\">"
        "<certificateCount>1</certificateCount><certificateList><certificateInformation><commonName>x</commonName>"
        "</certificateInformation></certificateList></searchCertificateResponse>" SOAP_CLOSE;
    assert_int_equal(dcpki_pki_parse_search(broken, strlen(broken), &r, &e), DCPKI_E_BAD_RESPONSE);
    assert_int_equal(dcpki_pki_parse_search("<x/>", 4, &r, &e), DCPKI_E_BAD_RESPONSE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_build_get_policies),
        cmocka_unit_test(test_build_enroll),
        cmocka_unit_test(test_serial_forms),
        cmocka_unit_test(test_build_update_status),
        cmocka_unit_test(test_build_health),
        cmocka_unit_test(test_parse_policies),
        cmocka_unit_test(test_parse_policy_variants),
        cmocka_unit_test(test_policy_pair_names),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_parse_enroll_issued),
        cmocka_unit_test(test_parse_enroll_pending),
        cmocka_unit_test(test_parse_update_status_and_health),
        cmocka_unit_test(test_search),
    };
    return cmocka_run_group_tests(tests, setup_pki, teardown_pki);
}

/* PKI Platform SOAP 1.1 messages (protocols/pki-platform.md): builders with
 * libxml2's tree API, namespace-aware parsers of the responses. Untrusted
 * input: size limit, no DTD (so no entity expansion), no network. */
#include "dcpki/pki_platform.h"
#include "internal.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlstring.h>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/pkcs7.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#define TEXT_MAX 1024          /* any single value we send */
#define XSI_NS "http://www.w3.org/2001/XMLSchema-instance"

/* ---------------------------------------------------------------- services */

const char *dcpki_pki_service_path(dcpki_pki_service s)
{
    switch (s) {
    case DCPKI_PKI_POLICY: return "/pki-ws/policyService";
    case DCPKI_PKI_ENROLLMENT: return "/pki-ws/enrollmentService";
    case DCPKI_PKI_MANAGEMENT: return "/pki-ws/certificateManagementService";
    case DCPKI_PKI_HEALTH: return "/pki-ws/healthcheckService";
    }
    return NULL;
}

const char *dcpki_pki_soap_action(dcpki_pki_service s)
{
    switch (s) {
    case DCPKI_PKI_POLICY: return DCPKI_NS_VS_POLICY "/requestPolicies";
    case DCPKI_PKI_ENROLLMENT: return DCPKI_NS_VS_ENROLL "/requestSecurityToken";
    case DCPKI_PKI_MANAGEMENT: return DCPKI_NS_VS_MGMT "/updateCertificateStatus";
    case DCPKI_PKI_HEALTH: return DCPKI_NS_HEALTH "/getStatus";
    }
    return NULL;
}

dcpki_code dcpki_pki_new_txid(char *buf, size_t n, dcpki_err *err)
{
    unsigned char r[16];
    if (n < 6 + 2 * sizeof(r) + 1)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "transaction ID buffer too small");
    if (RAND_bytes(r, sizeof(r)) != 1)
        return dcpki_err_set(err, DCPKI_E_INTERNAL, "no random bytes for a transaction ID");
    memcpy(buf, "dcpki-", 6);
    dcpki_hex_lower(r, sizeof r, buf + 6);
    return DCPKI_OK;
}

/* ---------------------------------------------------------------- builders */

static pthread_once_t xml_once = PTHREAD_ONCE_INIT;
static void xml_init_once(void)
{
    xmlInitParser();
}


/* Text we put into a message: bounded, valid UTF-8, no control characters. */
static int text_ok(const char *s, size_t max)
{
    if (s == NULL)
        return 0;
    size_t n = strlen(s);
    if (n > max || xmlCheckUTF8((const xmlChar *)s) == 0)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p == 0x7f)
            return 0;
    return 1;
}

typedef struct msg {
    xmlDocPtr doc;
    xmlNodePtr body;
    int oom;
} msg;

static int msg_init(msg *m)
{
    memset(m, 0, sizeof(*m));
    m->doc = xmlNewDoc((const xmlChar *)"1.0");
    if (m->doc == NULL)
        return -1;
    xmlNodePtr env = xmlNewDocNode(m->doc, NULL, (const xmlChar *)"Envelope", NULL);
    if (env == NULL)
        return -1;
    xmlDocSetRootElement(m->doc, env);
    xmlNsPtr soap = xmlNewNs(env, (const xmlChar *)DCPKI_NS_SOAP11, (const xmlChar *)"soap");
    if (soap == NULL)
        return -1;
    xmlSetNs(env, soap);
    m->body = xmlNewChild(env, soap, (const xmlChar *)"Body", NULL);
    return m->body == NULL ? -1 : 0;
}

/* A child element in ns holding text (escaped by libxml2). */
static xmlNodePtr add_text(msg *m, xmlNodePtr parent, xmlNsPtr ns, const char *name, const char *text)
{
    if (m->oom || parent == NULL)
        return NULL;
    xmlNodePtr n = xmlNewTextChild(parent, ns, (const xmlChar *)name, (const xmlChar *)text);
    if (n == NULL)
        m->oom = 1;
    return n;
}

static dcpki_code msg_finish(msg *m, char **out, size_t *out_len, dcpki_err *err)
{
    dcpki_code rc = DCPKI_OK;
    if (m->oom) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "building a SOAP message");
    } else {
        xmlChar *mem = NULL;
        int len = 0;
        xmlDocDumpMemoryEnc(m->doc, &mem, &len, "UTF-8");
        if (mem == NULL || len <= 0) {
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "serialising a SOAP message");
        } else {
            *out = malloc((size_t)len + 1);
            if (*out == NULL) {
                rc = dcpki_err_set(err, DCPKI_E_NOMEM, "serialising a SOAP message");
            } else {
                memcpy(*out, mem, (size_t)len);
                (*out)[len] = '\0';
                *out_len = (size_t)len;
            }
        }
        xmlFree(mem);
    }
    xmlFreeDoc(m->doc);
    m->doc = NULL;
    return rc;
}

static int is_oid_text(const char *s)
{
    return dcpki_is_dotted_oid(s) && strlen(s) <= 200;
}

static dcpki_code check_txid(const char *txid, dcpki_err *err)
{
    if (txid != NULL && (!text_ok(txid, DCPKI_PKI_TXID_MAX) || txid[0] == '\0'))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "clientTransactionID must be 1 to %d printable characters",
                             DCPKI_PKI_TXID_MAX);
    return DCPKI_OK;
}

dcpki_code dcpki_pki_build_get_policies(const char *txid, const char *const *oids, size_t n_oids,
                                        char **out, size_t *out_len, dcpki_err *err)
{
    *out = NULL;
    *out_len = 0;
    dcpki_code rc = check_txid(txid, err);
    if (rc != DCPKI_OK)
        return rc;
    for (size_t i = 0; i < n_oids; i++)
        if (!is_oid_text(oids[i]))
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                                 "profile \"%.100s\" is not a dotted OID (e.g. "
                                 "2.16.840.1.113733.1.16.1.2.3.1.1.47196109)", oids[i] ? oids[i] : "");
    pthread_once(&xml_once, xml_init_once);
    msg m;
    if (msg_init(&m) != 0) {
        xmlFreeDoc(m.doc);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a SOAP message");
    }
    xmlNodePtr gp = xmlNewChild(m.body, NULL, (const xmlChar *)"getPolicies", NULL);
    xmlNsPtr p = gp ? xmlNewNs(gp, (const xmlChar *)DCPKI_NS_VS_POLICY, (const xmlChar *)"p") : NULL;
    if (p == NULL)
        m.oom = 1;
    else
        xmlSetNs(gp, p);
    add_text(&m, gp, p, "version", "2.0");
    if (txid != NULL)
        add_text(&m, gp, p, "clientTransactionID", txid);
    xmlNodePtr rf = add_text(&m, gp, p, "requestFilter", NULL);
    if (n_oids == 0) {
        xmlNsPtr xsi = rf ? xmlNewNs(rf, (const xmlChar *)XSI_NS, (const xmlChar *)"xsi") : NULL;
        if (xsi == NULL || xmlNewNsProp(rf, xsi, (const xmlChar *)"nil", (const xmlChar *)"true") == NULL)
            m.oom = 1;
    } else {
        xmlNodePtr ids = add_text(&m, rf, p, "policyIDs", NULL);
        for (size_t i = 0; i < n_oids; i++)
            add_text(&m, ids, p, "oid", oids[i]);
    }
    return msg_finish(&m, out, out_len, err);
}

dcpki_code dcpki_pki_build_enroll(const dcpki_pki_enroll_params *pp, char **out, size_t *out_len,
                                  dcpki_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (pp == NULL || !is_oid_text(pp->profile_oid))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "certificate profile \"%.100s\" is not a dotted OID",
                             pp && pp->profile_oid ? pp->profile_oid : "");
    dcpki_code rc = check_txid(pp->txid, err);
    if (rc != DCPKI_OK)
        return rc;
    if (pp->type == DCPKI_PKI_QUERY) {
        if (!text_ok(pp->pending_id, TEXT_MAX) || pp->pending_id[0] == '\0')
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                                 "a status query needs the pendingTokenReferenceID the CA gave");
    } else if (pp->csr_der == NULL || pp->csr_len == 0 || pp->csr_len > 64 * 1024) {
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no certificate request (CSR) to send");
    }
    for (size_t i = 0; i < pp->n_pairs; i++)
        if (!text_ok(pp->pairs[i].name, 128) || pp->pairs[i].name[0] == '\0' ||
            !text_ok(pp->pairs[i].value, 4 * TEXT_MAX))
            return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                                 "nameValuePair \"%.64s\" has an empty name, or a value that is too "
                                 "long, not UTF-8 or has control characters",
                                 pp->pairs[i].name ? pp->pairs[i].name : "");
    char *csr_b64 = NULL;
    if (pp->type != DCPKI_PKI_QUERY && (csr_b64 = dcpki_b64_encode(pp->csr_der, pp->csr_len)) == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "encoding the CSR");

    pthread_once(&xml_once, xml_init_once);
    msg m;
    if (msg_init(&m) != 0) {
        xmlFreeDoc(m.doc);
        OPENSSL_free(csr_b64);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a SOAP message");
    }
    xmlNodePtr rst = xmlNewChild(m.body, NULL, (const xmlChar *)"RequestSecurityToken", NULL);
    xmlNsPtr wst = rst ? xmlNewNs(rst, (const xmlChar *)DCPKI_NS_WST, (const xmlChar *)"wst") : NULL;
    xmlNodePtr rq = NULL;
    xmlNsPtr e = NULL;
    if (wst != NULL) {
        xmlSetNs(rst, wst);
        rq = xmlNewChild(rst, NULL, (const xmlChar *)"requestVSSecurityToken", NULL);
        e = rq ? xmlNewNs(rq, (const xmlChar *)DCPKI_NS_VS_ENROLL, (const xmlChar *)"e") : NULL;
    }
    if (e == NULL)
        m.oom = 1;
    else
        xmlSetNs(rq, e);
    add_text(&m, rq, e, "certificateProfileID", pp->profile_oid);
    if (pp->txid != NULL)
        add_text(&m, rq, e, "clientTransactionID", pp->txid);
    add_text(&m, rq, e, "tokenType", DCPKI_TOKEN_PKCS7);
    add_text(&m, rq, e, "requestType",
             pp->type == DCPKI_PKI_QUERY ? DCPKI_REQ_QUERY
             : pp->type == DCPKI_PKI_RENEW ? DCPKI_REQ_RENEW : DCPKI_REQ_ISSUE);
    if (csr_b64 != NULL) {
        xmlNodePtr bst = add_text(&m, rq, e, "binarySecurityToken", csr_b64);
        if (bst != NULL && xmlNewProp(bst, (const xmlChar *)"ValueType",
                                      (const xmlChar *)DCPKI_VALUETYPE_PKCS10) == NULL)
            m.oom = 1;
    }
    if (pp->type == DCPKI_PKI_QUERY)
        add_text(&m, rq, e, "pendingTokenReferenceID", pp->pending_id);
    for (size_t i = 0; i < pp->n_pairs; i++) {
        xmlNodePtr nv = add_text(&m, rq, e, "nameValuePair", NULL);
        add_text(&m, nv, e, "name", pp->pairs[i].name);
        add_text(&m, nv, e, "value", pp->pairs[i].value);
    }
    add_text(&m, rq, e, "version", "2.0");
    OPENSSL_free(csr_b64);
    return msg_finish(&m, out, out_len, err);
}

static const char *const REASONS[] = {
    "Unspecified", "KeyCompromise", "CACompromise", "AffiliationChanged",
    "CessationOfOperation", "PrivilegeWithdrawn", "AACompromise", "Superseded",
};

const char *dcpki_pki_revocation_reason(const char *user)
{
    if (user == NULL)
        return NULL;
    char norm[64];
    size_t k = 0;
    for (const char *p = user; *p && k + 1 < sizeof(norm); p++)
        if (*p != '-' && *p != '_' && *p != ' ')
            norm[k++] = *p;
    norm[k] = '\0';
    if (strlen(user) >= sizeof(norm))
        return NULL;
    for (size_t i = 0; i < sizeof(REASONS) / sizeof(REASONS[0]); i++)
        if (strcasecmp(norm, REASONS[i]) == 0)
            return REASONS[i];
    return NULL;
}

/* ---- serial numbers ----
 * The PKI Platform documents no serial format (pki-platform.md §5). Public
 * clients send hex without leading zeros (Keyfactor's digicert-mpki-caplugin
 * trims them before revoking); `openssl x509 -serial` prints the DER content
 * octets, with a 00 byte in front of a high first byte. */

/* Hex digits of in, ':' and blanks dropped, upper-case; 0 when it is no hex. */
static size_t serial_digits(const char *in, char *out, size_t n)
{
    size_t k = 0;
    for (const char *p = in ? in : ""; *p; p++) {
        if (*p == ':' || *p == ' ' || *p == '\t')
            continue;
        if (!isxdigit((unsigned char)*p) || k + 1 >= n)
            return 0;
        out[k++] = (char)toupper((unsigned char)*p);
    }
    out[k] = '\0';
    return k;
}

char *dcpki_serial_of_cert(const X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *h = bn ? BN_bn2hex(bn) : NULL; /* upper-case, no leading zeros */
    char *s = h ? strdup(h) : NULL;
    OPENSSL_free(h);
    BN_free(bn);
    return s;
}

int dcpki_serial_normalise(const char *in, char *out, size_t n)
{
    char buf[DCPKI_SERIAL_MAX + 1];
    size_t k = serial_digits(in, buf, sizeof buf);
    if (k == 0 || out == NULL)
        return -1;
    const char *p = buf;
    while (p[0] == '0' && p[1] != '\0')
        p++;
    if (strlen(p) + 1 > n)
        return -1;
    memcpy(out, p, strlen(p) + 1);
    return 0;
}

int dcpki_serial_der_form(const char *in, char *out, size_t n)
{
    char norm[DCPKI_SERIAL_MAX + 1];
    if (dcpki_serial_normalise(in, norm, sizeof norm) != 0)
        return -1;
    size_t len = strlen(norm);
    /* whole octets; a 00 octet keeps a high first octet positive (X.690 8.3.2) */
    size_t pad = len % 2 ? 1 : strchr("89ABCDEF", norm[0]) != NULL ? 2 : 0;
    if (len + pad + 1 > n)
        return -1;
    memset(out, '0', pad);
    memcpy(out + pad, norm, len + 1);
    return 0;
}

/* The serial as a builder sends it: hex digits, separators dropped, upper-case,
 * leading zeros as the caller chose (dcpki_pki_update_status and
 * dcpki_pki_search choose the form). */
static dcpki_code clean_serial(const char *in, char *out, size_t n, dcpki_err *err)
{
    if (in == NULL || in[0] == '\0')
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "no serial number given (hex)");
    if (serial_digits(in, out, n) == 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "serial number \"%.80s\" is not hex (at most %d digits; ':' and blanks "
                             "between them are ignored)", in, DCPKI_SERIAL_MAX);
    return DCPKI_OK;
}

dcpki_code dcpki_pki_build_update_status(const char *txid, const char *serial_hex,
                                         const char *operation, const char *reason,
                                         const char *comment, char **out, size_t *out_len,
                                         dcpki_err *err)
{
    *out = NULL;
    *out_len = 0;
    dcpki_code rc = check_txid(txid, err);
    if (rc != DCPKI_OK)
        return rc;
    if (operation == NULL || (strcmp(operation, "Revoke") != 0 && strcmp(operation, "Suspend") != 0 &&
                              strcmp(operation, "Resume") != 0))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "operation \"%.40s\" is not Revoke, Suspend or Resume",
                             operation ? operation : "");
    const char *r = NULL;
    if (reason != NULL && (r = dcpki_pki_revocation_reason(reason)) == NULL)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "revocation reason \"%.40s\" is unknown (use unspecified, keyCompromise, "
                             "CACompromise, affiliationChanged, cessationOfOperation, "
                             "privilegeWithdrawn, AACompromise or superseded)", reason);
    if (comment != NULL && !text_ok(comment, 512))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "the comment is longer than 512 characters or has control characters");
    char serial[DCPKI_SERIAL_MAX + 1];
    if ((rc = clean_serial(serial_hex, serial, sizeof serial, err)) != DCPKI_OK)
        return rc;

    pthread_once(&xml_once, xml_init_once);
    msg m;
    if (msg_init(&m) != 0) {
        xmlFreeDoc(m.doc);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a SOAP message");
    }
    xmlNodePtr u = xmlNewChild(m.body, NULL, (const xmlChar *)"updateCertificateStatusRequest", NULL);
    xmlNsPtr ns = u ? xmlNewNs(u, (const xmlChar *)DCPKI_NS_VS_MGMT, (const xmlChar *)"m") : NULL;
    if (ns == NULL)
        m.oom = 1;
    else
        xmlSetNs(u, ns);
    if (txid != NULL)
        add_text(&m, u, ns, "clientTransactionID", txid);
    add_text(&m, u, ns, "version", "1.0");
    if (r != NULL)
        add_text(&m, u, ns, "revocationReason", r);
    if (comment != NULL)
        add_text(&m, u, ns, "comment", comment);
    add_text(&m, u, ns, "certificateSerialNumber", serial);
    add_text(&m, u, ns, "operationType", operation);
    return msg_finish(&m, out, out_len, err);
}

dcpki_code dcpki_pki_build_health(const char *txid, const char *profile_oid, char **out,
                                  size_t *out_len, dcpki_err *err)
{
    *out = NULL;
    *out_len = 0;
    dcpki_code rc = check_txid(txid, err);
    if (rc != DCPKI_OK)
        return rc;
    if (profile_oid != NULL && !is_oid_text(profile_oid))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "profile \"%.100s\" is not a dotted OID",
                             profile_oid);
    pthread_once(&xml_once, xml_init_once);
    msg m;
    if (msg_init(&m) != 0) {
        xmlFreeDoc(m.doc);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a SOAP message");
    }
    xmlNodePtr g = xmlNewChild(m.body, NULL, (const xmlChar *)"getStatusRequestMessage", NULL);
    xmlNsPtr ns = g ? xmlNewNs(g, (const xmlChar *)DCPKI_NS_HEALTH, (const xmlChar *)"h") : NULL;
    if (ns == NULL)
        m.oom = 1;
    else
        xmlSetNs(g, ns);
    add_text(&m, g, ns, "version", "1.0");
    if (txid != NULL)
        add_text(&m, g, ns, "clientTransactionID", txid);
    add_text(&m, g, ns, "operationType", "ENROLL");
    if (profile_oid != NULL)
        add_text(&m, g, ns, "profileOid", profile_oid);
    return msg_finish(&m, out, out_len, err);
}

/* ---------------------------------------------------------------- parsing */

static int ns_is(const xmlNode *n, const char *ns)
{
    if (ns == NULL)
        return n->ns == NULL;
    return n->ns != NULL && n->ns->href != NULL && strcmp((const char *)n->ns->href, ns) == 0;
}

/* Element named `name` in namespace ns (or unqualified, as some servers
 * write children); ns NULL matches any namespace. */
static int el_is(const xmlNode *n, const char *ns, const char *name)
{
    if (n == NULL || n->type != XML_ELEMENT_NODE || strcmp((const char *)n->name, name) != 0)
        return 0;
    return ns == NULL || ns_is(n, ns) || n->ns == NULL;
}

static xmlNodePtr first_el(xmlNodePtr n)
{
    for (xmlNodePtr c = n ? n->children : NULL; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE)
            return c;
    return NULL;
}

static xmlNodePtr kid(const xmlNode *parent, const char *ns, const char *name)
{
    for (xmlNodePtr c = parent ? parent->children : NULL; c != NULL; c = c->next)
        if (el_is(c, ns, name))
            return c;
    return NULL;
}

static xmlNodePtr next_kid(const xmlNode *after, const char *ns, const char *name)
{
    for (xmlNodePtr c = after ? after->next : NULL; c != NULL; c = c->next)
        if (el_is(c, ns, name))
            return c;
    return NULL;
}

/* Trimmed text content, malloc'd; NULL when the node is NULL or on OOM. */
static char *text_of(const xmlNode *n)
{
    if (n == NULL)
        return NULL;
    xmlChar *c = xmlNodeGetContent(n);
    if (c == NULL)
        return strdup("");
    const char *b = (const char *)c, *e = b + strlen(b);
    while (b < e && isspace((unsigned char)*b))
        b++;
    while (e > b && isspace((unsigned char)e[-1]))
        e--;
    char *r = malloc((size_t)(e - b) + 1);
    if (r != NULL) {
        memcpy(r, b, (size_t)(e - b));
        r[e - b] = '\0';
    }
    xmlFree(c);
    return r;
}

static char *kid_text(const xmlNode *parent, const char *ns, const char *name)
{
    return text_of(kid(parent, ns, name));
}

static int parse_long(const char *s, long *out)
{
    if (s == NULL || *s == '\0')
        return -1;
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0')
        return -1;
    *out = v;
    return 0;
}

static int is_true(const char *s)
{
    return s != NULL && (strcmp(s, "true") == 0 || strcmp(s, "1") == 0);
}

/* Parses a response body; on success *doc is the document and *payload the
 * first element in soap:Body (which may be a Fault). */
static dcpki_code parse_envelope(const char *xml, size_t len, xmlDocPtr *doc, xmlNodePtr *payload,
                                 dcpki_err *err)
{
    *doc = NULL;
    *payload = NULL;
    pthread_once(&xml_once, xml_init_once);
    if (xml == NULL || len == 0)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the CA's answer is empty");
    if (len > DCPKI_PKI_MAX_RESPONSE || len > INT_MAX)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                             "the CA's answer is larger than %u bytes", DCPKI_PKI_MAX_RESPONSE);
    xmlDocPtr d = xmlReadMemory(xml, (int)len, "response.xml", NULL,
                                XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
                                    XML_PARSE_NOCDATA);
    if (d == NULL) {
        const xmlError *xe = xmlGetLastError();
        dcpki_code rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                                      "the CA's answer is not well-formed XML%s%.120s",
                                      xe && xe->message ? ": " : "", xe && xe->message ? xe->message : "");
        /* strip libxml2's trailing newline */
        if (err != NULL) {
            size_t n = strlen(err->detail);
            while (n > 0 && (err->detail[n - 1] == '\n' || err->detail[n - 1] == ' '))
                err->detail[--n] = '\0';
        }
        xmlResetLastError();
        return rc;
    }
    if (d->intSubset != NULL || d->extSubset != NULL) {
        xmlFreeDoc(d);
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                             "the CA's answer has a document type declaration, which SOAP forbids");
    }
    xmlNodePtr root = xmlDocGetRootElement(d);
    if (root == NULL || strcmp((const char *)root->name, "Envelope") != 0 ||
        !ns_is(root, DCPKI_NS_SOAP11)) {
        xmlFreeDoc(d);
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the CA's answer is no SOAP 1.1 envelope");
    }
    xmlNodePtr body = NULL;
    for (xmlNodePtr c = root->children; c != NULL; c = c->next)
        if (c->type == XML_ELEMENT_NODE && strcmp((const char *)c->name, "Body") == 0 &&
            ns_is(c, DCPKI_NS_SOAP11))
            body = c;
    xmlNodePtr p = first_el(body);
    if (p == NULL) {
        xmlFreeDoc(d);
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the CA's SOAP answer has an empty body");
    }
    *doc = d;
    *payload = p;
    return DCPKI_OK;
}

static int is_fault(const xmlNode *p)
{
    return p->type == XML_ELEMENT_NODE && strcmp((const char *)p->name, "Fault") == 0 &&
           ns_is(p, DCPKI_NS_SOAP11);
}

static void read_fault(const xmlNode *p, dcpki_pki_fault *f)
{
    memset(f, 0, sizeof(*f));
    f->faultcode = kid_text(p, NULL, "faultcode");
    f->faultstring = kid_text(p, NULL, "faultstring");
    xmlNodePtr det = kid(p, NULL, "detail");
    if (det != NULL) {
        f->errorcode = kid_text(det, NULL, "errorcode");
        f->message = kid_text(det, NULL, "message");
        /* one level deeper too: detail/<wrapper>/errorcode */
        for (xmlNodePtr c = first_el(det); c != NULL && (f->errorcode == NULL || f->message == NULL);
             c = c->next) {
            if (c->type != XML_ELEMENT_NODE)
                continue;
            if (f->errorcode == NULL)
                f->errorcode = kid_text(c, NULL, "errorcode");
            if (f->message == NULL)
                f->message = kid_text(c, NULL, "message");
        }
    }
}

void dcpki_pki_fault_clear(dcpki_pki_fault *f)
{
    if (f == NULL)
        return;
    free(f->faultcode);
    free(f->faultstring);
    free(f->errorcode);
    free(f->message);
    memset(f, 0, sizeof(*f));
}

dcpki_code dcpki_pki_fault_to_err(const dcpki_pki_fault *f, dcpki_err *err)
{
    const char *text = f->faultstring && f->faultstring[0] ? f->faultstring
                       : f->message && f->message[0] ? f->message : "(no fault text)";
    const char *ec = f->errorcode && f->errorcode[0] ? f->errorcode : NULL;
    const char *msg2 = f->message && f->message[0] && text != f->message ? f->message : NULL;
    if (dcpki_contains_ci(f->faultstring, "not understood") || dcpki_contains_ci(f->message, "not understood"))
        return dcpki_err_set(err, DCPKI_E_PROFILE_UNKNOWN,
                             "the CA answered \"%.200s\"%s%s%s", text, ec ? " (errorcode " : "", ec ? ec : "",
                             ec ? ")" : "");
    if (dcpki_contains_ci(f->faultstring, "policy verification") || dcpki_contains_ci(f->message, "policy verification") ||
        dcpki_contains_ci(f->faultstring, "supported certificate template attributes"))
        return dcpki_err_set(err, DCPKI_E_POLICY_VIOLATION, "the CA refused the request: \"%.250s\"%s%s%s", text,
                             ec ? " (errorcode " : "", ec ? ec : "", ec ? ")" : "");
    /* soap:Server without an application errorcode (or with a generic server one):
     * the service itself failed (SOAP 1.1 sends every fault with HTTP 500), not a
     * decision on the request, which may succeed when sent again later. The
     * platform's own refusals (seat limit ...) carry their errorcode. */
    const char *fc = f->faultcode ? strrchr(f->faultcode, ':') : NULL;
    fc = fc ? fc + 1 : f->faultcode;
    int generic = ec == NULL || strncmp(ec, "HTTP_5", 6) == 0 || strcmp(ec, "SERVICE_UNAVAILABLE") == 0 ||
                  strcmp(ec, "SERVER_ERROR") == 0 || strcmp(ec, "INTERNAL_ERROR") == 0;
    if (fc != NULL && strcmp(fc, "Server") == 0 && generic)
        return dcpki_err_set(err, DCPKI_E_SERVICE_UNAVAILABLE,
                             "the service failed (HTTP 500, SOAP Server fault \"%.200s\"%s%s%s); "
                             "retry later", text, ec ? ", errorcode " : "", ec ? ec : "", "");
    return dcpki_err_set(err, DCPKI_E_CA_REFUSED, "the CA answered \"%.200s\"%s%.150s%s%s%s",
                         text, msg2 ? " - " : "", msg2 ? msg2 : "", ec ? " (errorcode " : "",
                         ec ? ec : "", ec ? ")" : "");
}

dcpki_code dcpki_pki_parse_fault(const char *xml, size_t len, int *fault, dcpki_pki_fault *f,
                                 dcpki_err *err)
{
    *fault = 0;
    memset(f, 0, sizeof(*f));
    xmlDocPtr d;
    xmlNodePtr p;
    dcpki_code rc = parse_envelope(xml, len, &d, &p, err);
    if (rc != DCPKI_OK)
        return rc;
    if (is_fault(p)) {
        *fault = 1;
        read_fault(p, f);
    }
    xmlFreeDoc(d);
    return DCPKI_OK;
}

/* Opens a response: envelope, fault → mapped error, payload named `name` in ns. */
static dcpki_code open_response(const char *xml, size_t len, const char *ns, const char *name,
                                xmlDocPtr *doc, xmlNodePtr *payload, dcpki_err *err)
{
    dcpki_code rc = parse_envelope(xml, len, doc, payload, err);
    if (rc != DCPKI_OK)
        return rc;
    if (is_fault(*payload)) {
        dcpki_pki_fault f;
        read_fault(*payload, &f);
        rc = dcpki_pki_fault_to_err(&f, err);
        dcpki_pki_fault_clear(&f);
    } else if (strcmp((const char *)(*payload)->name, name) != 0 || !ns_is(*payload, ns)) {
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                           "the CA answered with <%.60s> where <%s> of %s was expected",
                           (const char *)(*payload)->name, name, ns);
    }
    if (rc != DCPKI_OK) {
        xmlFreeDoc(*doc);
        *doc = NULL;
        *payload = NULL;
    }
    return rc;
}

/* ---- base64 / certificates ---- */

static X509 *cert_from_b64(const char *s)
{
    size_t n = 0;
    unsigned char *der = NULL;
    if (s == NULL || dcpki_b64_decode(s, &der, &n) != 0 || n == 0) {
        OPENSSL_free(der);
        return NULL;
    }
    const unsigned char *p = der;
    X509 *x = d2i_X509(NULL, &p, (long)n);
    if (x != NULL && p != der + n) {
        X509_free(x);
        x = NULL;
    }
    OPENSSL_free(der);
    return x;
}

/* ---- getPoliciesResponse ---- */

typedef struct oid_ref {
    long id;
    char *value;
    char *name;
} oid_ref;

typedef struct oid_map {
    oid_ref *v;
    size_t n;
} oid_map;

static void oid_map_free(oid_map *m)
{
    for (size_t i = 0; i < m->n; i++) {
        free(m->v[i].value);
        free(m->v[i].name);
    }
    free(m->v);
}

static const oid_ref *oid_lookup(const oid_map *m, const char *ref_text)
{
    long id;
    if (parse_long(ref_text, &id) != 0)
        return NULL;
    for (size_t i = 0; i < m->n; i++)
        if (m->v[i].id == id)
            return &m->v[i];
    return NULL;
}

static int load_oids(const xmlNode *resp, oid_map *m)
{
    xmlNodePtr oids = kid(resp, DCPKI_NS_VS_POLICY, "oIDs");
    for (xmlNodePtr o = kid(oids, DCPKI_NS_VS_POLICY, "oID"); o != NULL;
         o = next_kid(o, DCPKI_NS_VS_POLICY, "oID")) {
        char *idt = kid_text(o, DCPKI_NS_VS_POLICY, "oIDReferenceID");
        long id;
        int ok = parse_long(idt, &id) == 0;
        free(idt);
        if (!ok)
            continue;
        oid_ref *nv = realloc(m->v, (m->n + 1) * sizeof(*nv));
        if (nv == NULL)
            return -1;
        m->v = nv;
        nv[m->n].id = id;
        nv[m->n].value = kid_text(o, DCPKI_NS_VS_POLICY, "value");
        nv[m->n].name = kid_text(o, DCPKI_NS_VS_POLICY, "defaultName");
        m->n++;
    }
    return 0;
}

typedef struct nvp_node {
    char *name;       /* attributeName */
    char *value;      /* attributeNameValue text */
    char *type;       /* attributeNameValue/@type */
    int mandatory;
    char *prop_value; /* attributeNameValueProperty/value */
    int overridable;
} nvp_node;

static void nvp_clear(nvp_node *n)
{
    free(n->name);
    free(n->value);
    free(n->type);
    free(n->prop_value);
}

static void read_nvp(const xmlNode *pair, nvp_node *n)
{
    const char *ns = DCPKI_NS_VS_POLICY;
    memset(n, 0, sizeof(*n));
    n->name = kid_text(pair, ns, "attributeName");
    xmlNodePtr v = kid(pair, ns, "attributeNameValue");
    n->value = text_of(v);
    if (v != NULL) {
        xmlChar *t = xmlGetNoNsProp(v, (const xmlChar *)"type");
        xmlChar *mand = xmlGetNoNsProp(v, (const xmlChar *)"mandatory");
        n->type = t ? strdup((const char *)t) : NULL;
        n->mandatory = is_true((const char *)mand);
        xmlFree(t);
        xmlFree(mand);
    }
    xmlNodePtr prop = kid(pair, ns, "attributeNameValueProperty");
    if (prop != NULL) {
        n->prop_value = kid_text(prop, ns, "value");
        char *m = kid_text(prop, ns, "mandatory");
        char *o = kid_text(prop, ns, "overridable");
        n->mandatory |= is_true(m);
        n->overridable = is_true(o);
        free(m);
        free(o);
    }
}

static int nonempty(const char *s)
{
    return s != NULL && s[0] != '\0';
}

static int add_attr(dcpki_policy *pol, const nvp_node *n)
{
    if (!nonempty(n->name))
        return 0;
    const char *dn = dcpki_dn_canonical(n->name);
    const char *pair = NULL;
    const char *fixed = NULL;
    if (dn != NULL) {
        if (nonempty(n->value) && n->value[0] == '$')
            pair = n->value + 1;
        else
            pair = dcpki_dn_default_pair(dn);
    } else {
        pair = n->name;
        dn = dcpki_dn_from_pair(n->name);
    }
    if (nonempty(n->type) && dcpki_dn_canonical(n->type) != NULL)
        dn = dcpki_dn_canonical(n->type);
    if (nonempty(n->value) && n->value[0] != '$' && dcpki_dn_canonical(n->value) == NULL)
        fixed = n->value;
    if (nonempty(n->prop_value) && n->prop_value[0] != '$' && !n->overridable)
        fixed = n->prop_value;
    dcpki_policy_attr *na = realloc(pol->attrs, (pol->n_attrs + 1) * sizeof(*na));
    if (na == NULL)
        return -1;
    pol->attrs = na;
    dcpki_policy_attr *a = &na[pol->n_attrs];
    memset(a, 0, sizeof(*a));
    a->name = pair ? strdup(pair) : NULL;
    a->dn = dn ? strdup(dn) : NULL;
    a->fixed_value = fixed ? strdup(fixed) : NULL;
    a->mandatory = n->mandatory;
    pol->n_attrs++;
    if ((pair && !a->name) || (dn && !a->dn) || (fixed && !a->fixed_value))
        return -1;
    return 0;
}

static int word_in(const char *w, const char *const *list)
{
    for (size_t i = 0; w != NULL && list[i] != NULL; i++)
        if (strcasecmp(w, list[i]) == 0)
            return 1;
    return 0;
}

static const char *const W_EMAIL[] = {"rfc822Name", "rfc822", "email", "mail", "e-mail", NULL};
static const char *const W_UPN[] = {"userPrincipalName", "upn", NULL};
static const char *const W_OTHER[] = {"otherName", "other_name", "othername", NULL};
/* attributeNames that name a SAN type rather than a nameValuePair */
static const char *const W_BARE[] = {"rfc822Name", "rfc822", "userPrincipalName", "otherName",
                                     "othername", NULL};
static const char *const N_EMAIL[] = {"mail_email", "emailAddress", "san_email", "rfc822Name",
                                      "rfc822", "email", "mail", NULL};
static const char *const N_UPN[] = {"upn", "userPrincipalName", "mail_upn", "san_upn", NULL};
static const char *const N_OTHER[] = {"otherName", "other_name", "othername", "guid", "objectGUID",
                                      "ds_object_guid", "san_othername", NULL};

static int add_san(dcpki_policy *pol, const nvp_node *n)
{
    int kind = -1;
    const char *oid = NULL;
    if (nonempty(n->type)) {
        if (word_in(n->type, W_EMAIL))
            kind = DCPKI_SAN_EMAIL;
        else if (word_in(n->type, W_UPN))
            kind = DCPKI_SAN_UPN;
        else if (word_in(n->type, W_OTHER))
            kind = DCPKI_SAN_OTHERNAME;
        else if (strncasecmp(n->type, "otherName:", 10) == 0 && is_oid_text(n->type + 10)) {
            kind = DCPKI_SAN_OTHERNAME;
            oid = n->type + 10;
        }
    }
    if (kind < 0) {
        if (word_in(n->name, N_EMAIL))
            kind = DCPKI_SAN_EMAIL;
        else if (word_in(n->name, N_UPN))
            kind = DCPKI_SAN_UPN;
        else if (word_in(n->name, N_OTHER))
            kind = DCPKI_SAN_OTHERNAME;
    }
    if (kind < 0)
        return 0; /* a SAN type the connector does not handle (DNS name, IP, ...) */
    if (kind == DCPKI_SAN_OTHERNAME && oid == NULL) {
        if (is_oid_text(n->value))
            oid = n->value;
        else if (is_oid_text(n->prop_value))
            oid = n->prop_value;
    }
    if (kind == DCPKI_SAN_OTHERNAME && oid != NULL && strcmp(oid, DCPKI_OID_UPN) == 0)
        kind = DCPKI_SAN_UPN;
    if (kind == DCPKI_SAN_UPN)
        oid = DCPKI_OID_UPN;
    /* the pair name: attributeName unless it is a bare type word, then a "$pair"
     * attributeNameValue (as for subject attributes), else the request's default */
    const char *name = n->name;
    if (!nonempty(name) || word_in(name, W_BARE))
        name = nonempty(n->value) && n->value[0] == '$' && n->value[1] != '\0' ? n->value + 1 : NULL;
    dcpki_policy_san *ns = realloc(pol->sans, (pol->n_sans + 1) * sizeof(*ns));
    if (ns == NULL)
        return -1;
    pol->sans = ns;
    dcpki_policy_san *s = &ns[pol->n_sans];
    memset(s, 0, sizeof(*s));
    s->type = (dcpki_san_type)kind;
    s->name = name ? strdup(name) : NULL;
    s->oid = oid ? strdup(oid) : NULL;
    s->mandatory = n->mandatory;
    pol->n_sans++;
    if ((name && !s->name) || (oid && !s->oid))
        return -1;
    return 0;
}

static const char *alg_name(const char *oid, const char *label)
{
    if (oid != NULL) {
        if (strcmp(oid, "1.2.840.113549.1.1.1") == 0 || strcmp(oid, "1.2.840.113549.1.1.10") == 0)
            return "RSA";
        if (strcmp(oid, "1.2.840.10045.2.1") == 0)
            return "EC";
        if (strcmp(oid, "1.2.840.10040.4.1") == 0)
            return "DSA";
    }
    if (label != NULL) {
        if (dcpki_contains_ci(label, "RSA"))
            return "RSA";
        if (dcpki_contains_ci(label, "ECDSA") || dcpki_contains_ci(label, "ECC") || strcasecmp(label, "EC") == 0)
            return "EC";
    }
    return NULL;
}

static dcpki_code load_ca(const xmlNode *resp, long ref, dcpki_policy *pol, dcpki_err *err)
{
    const char *ns = DCPKI_NS_VS_POLICY;
    xmlNodePtr cas = kid(resp, ns, "cAs");
    for (xmlNodePtr c = kid(cas, ns, "cA"); c != NULL; c = next_kid(c, ns, "cA")) {
        char *idt = kid_text(c, ns, "cAReferenceID");
        long id;
        int match = parse_long(idt, &id) == 0 && id == ref;
        free(idt);
        if (!match)
            continue;
        dcpki_policy_ca *nc = realloc(pol->cas, (pol->n_cas + 1) * sizeof(*nc));
        if (nc == NULL)
            return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policy");
        pol->cas = nc;
        dcpki_policy_ca *ca = &nc[pol->n_cas++];
        memset(ca, 0, sizeof(*ca));
        ca->ref_id = ref;
        ca->issuer_name = kid_text(c, ns, "cAIssuerName");
        ca->type = kid_text(c, ns, "cAType");
        struct {
            const char *name;
            X509 **dst;
        } one[] = {{"certificate", &ca->certificate}, {"rootCACertificate", &ca->root}};
        for (size_t i = 0; i < 2; i++) {
            char *t = kid_text(c, ns, one[i].name);
            if (nonempty(t) && (*one[i].dst = cert_from_b64(t)) == NULL) {
                free(t);
                return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                                     "the policy's CA %ld has a %s that is no base64 DER certificate",
                                     ref, one[i].name);
            }
            free(t);
        }
        for (xmlNodePtr im = kid(c, ns, "intermediateCACertificates"); im != NULL;
             im = next_kid(im, ns, "intermediateCACertificates")) {
            char *t = text_of(im);
            X509 *x = nonempty(t) ? cert_from_b64(t) : NULL;
            int empty = !nonempty(t);
            free(t);
            if (empty)
                continue;
            if (x == NULL)
                return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                                     "the policy's CA %ld has an intermediate certificate that is no "
                                     "base64 DER certificate", ref);
            X509 **ni = realloc(ca->intermediates, (ca->n_intermediates + 1) * sizeof(*ni));
            if (ni == NULL) {
                X509_free(x);
                return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policy");
            }
            ca->intermediates = ni;
            ni[ca->n_intermediates++] = x;
        }
        return DCPKI_OK;
    }
    return DCPKI_OK; /* referenced CA not described: tolerated */
}

static dcpki_code read_policy(const xmlNode *resp, const xmlNode *pnode, const oid_map *oids,
                              const char *profile_oid, dcpki_policy *pol, dcpki_err *err)
{
    const char *ns = DCPKI_NS_VS_POLICY;
    xmlNodePtr r = kid(resp, ns, "response");
    pol->profile_oid = strdup(profile_oid);
    pol->policy_id = kid_text(r, ns, "policyID");
    pol->friendly_name = kid_text(r, ns, "policyFriendlyName");
    char *ref = kid_text(pnode, ns, "policyOIDReference");
    const oid_ref *po = oid_lookup(oids, ref);
    free(ref);
    /* the profile's own name (its oID's defaultName) before the answer-wide one */
    if (po != NULL && nonempty(po->name)) {
        free(pol->friendly_name);
        pol->friendly_name = strdup(po->name);
    }
    if (pol->profile_oid == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policy");
    xmlNodePtr a = kid(pnode, ns, "attributes");
    if (a == NULL)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                             "the policy of profile %s has no <attributes>", profile_oid);
    xmlNodePtr cv = kid(a, ns, "certificateValidity");
    char *t = kid_text(cv, ns, "validityPeriodDays");
    if (t != NULL && parse_long(t, &pol->validity_days) != 0)
        pol->validity_days = -1;
    free(t);
    t = kid_text(cv, ns, "renewalPeriodDays");
    if (t != NULL && parse_long(t, &pol->renewal_days) != 0)
        pol->renewal_days = -1;
    free(t);

    xmlNodePtr sni = kid(a, ns, "subjectNameInfo");
    t = kid_text(sni, ns, "overrideSubjectNameFormat");
    pol->override_subject_format = is_true(t);
    free(t);
    for (xmlNodePtr sa = kid(sni, ns, "subjectNameAttribute"); sa != NULL;
         sa = next_kid(sa, ns, "subjectNameAttribute"))
        for (xmlNodePtr pr = kid(sa, ns, "subjectNameAttributeNameValuePair"); pr != NULL;
             pr = next_kid(pr, ns, "subjectNameAttributeNameValuePair")) {
            nvp_node n;
            read_nvp(pr, &n);
            int bad = add_attr(pol, &n);
            nvp_clear(&n);
            if (bad)
                return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policy");
        }

    xmlNodePtr exts = kid(a, ns, "extensions");
    for (xmlNodePtr x = kid(exts, ns, "Extension"); x != NULL; x = next_kid(x, ns, "Extension")) {
        char *xr = kid_text(x, ns, "extensionOIDReference");
        const oid_ref *xo = oid_lookup(oids, xr);
        free(xr);
        if (xo == NULL || xo->value == NULL || strcmp(xo->value, DCPKI_OID_SUBJECT_ALT_NAME) != 0)
            continue;
        xmlNodePtr syn = kid(x, ns, "extensionSyntax");
        for (xmlNodePtr pr = kid(syn, ns, "extensionAttributeNameValuePair"); pr != NULL;
             pr = next_kid(pr, ns, "extensionAttributeNameValuePair")) {
            nvp_node n;
            read_nvp(pr, &n);
            int bad = add_san(pol, &n);
            nvp_clear(&n);
            if (bad)
                return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policy");
        }
    }

    xmlNodePtr pk = kid(a, ns, "privateKeyAttributes");
    t = kid_text(pk, ns, "keysize");
    long ks = 0;
    if (t != NULL && parse_long(t, &ks) == 0 && ks > 0 && ks <= 65536)
        pol->key_size = (int)ks;
    free(t);
    t = kid_text(pk, ns, "keyexportable");
    if (nonempty(t))
        pol->key_exportable = is_true(t);
    free(t);
    t = kid_text(pk, ns, "algorithmOIDReference");
    const oid_ref *ao = oid_lookup(oids, t);
    free(t);
    if (ao != NULL) {
        pol->key_algorithm_oid = ao->value ? strdup(ao->value) : NULL;
        pol->key_algorithm = alg_name(ao->value, ao->name);
    }
    pol->delivery_format = kid_text(kid(a, ns, "systemInfo"), ns, "certificateDeliveryFormat");
    pol->status = kid_text(a, ns, "status");

    xmlNodePtr cas = kid(pnode, ns, "cAs");
    for (xmlNodePtr c = kid(cas, ns, "cAReference"); c != NULL; c = next_kid(c, ns, "cAReference")) {
        char *ct = text_of(c);
        long cref;
        int ok = parse_long(ct, &cref) == 0;
        free(ct);
        if (!ok)
            continue;
        dcpki_code rc = load_ca(resp, cref, pol, err);
        if (rc != DCPKI_OK)
            return rc;
    }
    return DCPKI_OK;
}

/* The profile OID of a <policy> (its policyOIDReference resolved), or NULL. */
static const char *policy_oid(xmlNodePtr policy, const oid_map *oids)
{
    char *ref = kid_text(policy, DCPKI_NS_VS_POLICY, "policyOIDReference");
    const oid_ref *o = oid_lookup(oids, ref);
    free(ref);
    return o != NULL && nonempty(o->value) ? o->value : NULL;
}

/* A getPoliciesResponse opened: the document (xmlFreeDoc), its response, the
 * OID map (oid_map_free) and <policies>; nothing to free on failure. what
 * names the work when memory runs out. */
static dcpki_code open_policies(const char *xml, size_t len, const char *what, xmlDocPtr *d,
                                xmlNodePtr *resp, oid_map *oids, xmlNodePtr *pols, dcpki_err *err)
{
    const char *ns = DCPKI_NS_VS_POLICY;
    dcpki_code rc = open_response(xml, len, ns, "getPoliciesResponse", d, resp, err);
    if (rc != DCPKI_OK)
        return rc;
    if (load_oids(*resp, oids) != 0) {
        oid_map_free(oids);
        xmlFreeDoc(*d);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "%s", what);
    }
    *pols = kid(kid(*resp, ns, "response"), ns, "policies");
    return DCPKI_OK;
}

dcpki_code dcpki_pki_parse_policies(const char *xml, size_t len, const char *profile_oid,
                                    dcpki_policy **out, dcpki_err *err)
{
    *out = NULL;
    xmlDocPtr d;
    xmlNodePtr resp, pols;
    oid_map oids = {0};
    dcpki_code rc = open_policies(xml, len, "reading the policy", &d, &resp, &oids, &pols, err);
    if (rc != DCPKI_OK)
        return rc;
    const char *ns = DCPKI_NS_VS_POLICY;
    dcpki_policy *pol = NULL;
    xmlNodePtr found = NULL;
    const char *found_oid = NULL;
    size_t seen = 0;
    for (xmlNodePtr p = kid(pols, ns, "policy"); p != NULL && found == NULL;
         p = next_kid(p, ns, "policy")) {
        seen++;
        const char *oid = policy_oid(p, &oids);
        if (oid != NULL && (profile_oid == NULL || strcmp(oid, profile_oid) == 0)) {
            found = p;
            found_oid = oid;
        }
    }
    if (found == NULL) {
        if (profile_oid != NULL)
            rc = dcpki_err_set(err, DCPKI_E_PROFILE_UNKNOWN,
                               "certificate profile %s is not in the policy service's answer (%zu "
                               "other polic%s): fetch the right profile OID from the DigiCert portal "
                               "and update the profile", profile_oid, seen, seen == 1 ? "y" : "ies");
        else
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                               "the policy service's answer holds no policy with a profile OID");
        goto done;
    }
    pol = dcpki_policy_new();
    if (pol == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policy");
        goto done;
    }
    rc = read_policy(resp, found, &oids, found_oid, pol, err);
done:
    oid_map_free(&oids);
    xmlFreeDoc(d);
    if (rc != DCPKI_OK) {
        dcpki_policy_free(pol);
        return rc;
    }
    *out = pol;
    return DCPKI_OK;
}

dcpki_code dcpki_pki_parse_all_policies(const char *xml, size_t len, dcpki_policy ***out,
                                        size_t *n_out, dcpki_err *err)
{
    *out = NULL;
    *n_out = 0;
    xmlDocPtr d;
    xmlNodePtr resp, pols;
    oid_map oids = {0};
    dcpki_code rc = open_policies(xml, len, "reading the policies", &d, &resp, &oids, &pols, err);
    if (rc != DCPKI_OK)
        return rc;
    const char *ns = DCPKI_NS_VS_POLICY;
    dcpki_policy **v = NULL;
    size_t n = 0;
    for (xmlNodePtr p = kid(pols, ns, "policy"); p != NULL && rc == DCPKI_OK;
         p = next_kid(p, ns, "policy")) {
        const char *oid = policy_oid(p, &oids);
        if (oid == NULL)
            continue;
        dcpki_policy **nv = realloc(v, (n + 1) * sizeof(*nv));
        dcpki_policy *pol = nv ? dcpki_policy_new() : NULL;
        if (nv != NULL)
            v = nv;
        if (pol == NULL) {
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the policies");
            break;
        }
        v[n++] = pol;
        rc = read_policy(resp, p, &oids, oid, pol, err);
    }
    if (rc == DCPKI_OK && n == 0)
        rc = dcpki_err_set(err, DCPKI_E_PROFILE_UNKNOWN,
                           "the policy service's answer holds no certificate profile for this RA: "
                           "ask DigiCert to assign a profile to the RA certificate");
    oid_map_free(&oids);
    xmlFreeDoc(d);
    if (rc != DCPKI_OK) {
        for (size_t i = 0; i < n; i++)
            dcpki_policy_free(v[i]);
        free(v);
        return rc;
    }
    *out = v;
    *n_out = n;
    return DCPKI_OK;
}

/* ---- RequestSecurityTokenResponse ---- */

void dcpki_pki_enroll_result_clear(dcpki_pki_enroll_result *r)
{
    if (r == NULL)
        return;
    free(r->pending_id);
    free(r->disposition);
    free(r->client_txid);
    free(r->server_txid);
    X509_free(r->cert);
    for (size_t i = 0; i < r->n_chain; i++)
        X509_free(r->chain[i]);
    free(r->chain);
    memset(r, 0, sizeof(*r));
}

/* Certificates of the token: PKCS#7 (DER base64 or PEM), or a single X.509. */
static STACK_OF(X509) *token_certs(const char *tok)
{
    STACK_OF(X509) *out = sk_X509_new_null();
    if (out == NULL)
        return NULL;
    PKCS7 *p7 = NULL;
    if (strstr(tok, "-----BEGIN") != NULL) {
        BIO *b = BIO_new_mem_buf(tok, -1);
        if (b != NULL && strstr(tok, "-----BEGIN PKCS7") != NULL) {
            p7 = PEM_read_bio_PKCS7(b, NULL, NULL, NULL);
        } else if (b != NULL) {
            X509 *x;
            while ((x = PEM_read_bio_X509(b, NULL, NULL, NULL)) != NULL)
                if (!sk_X509_push(out, x)) {
                    X509_free(x);
                    break;
                }
            ERR_clear_error();
        }
        BIO_free(b);
    } else {
        size_t n = 0;
        unsigned char *der = NULL;
        if (dcpki_b64_decode(tok, &der, &n) == 0 && n > 0) {
            const unsigned char *p = der;
            p7 = d2i_PKCS7(NULL, &p, (long)n);
            if (p7 == NULL) {
                p = der;
                X509 *x = d2i_X509(NULL, &p, (long)n);
                if (x != NULL && !sk_X509_push(out, x))
                    X509_free(x);
            }
        }
        OPENSSL_free(der);
    }
    if (p7 != NULL) {
        STACK_OF(X509) *c = NULL;
        if (PKCS7_type_is_signed(p7) && p7->d.sign != NULL)
            c = p7->d.sign->cert;
        else if (PKCS7_type_is_signedAndEnveloped(p7) && p7->d.signed_and_enveloped != NULL)
            c = p7->d.signed_and_enveloped->cert;
        for (int i = 0; c != NULL && i < sk_X509_num(c); i++) {
            X509 *x = sk_X509_value(c, i);
            if (X509_up_ref(x) != 1)
                continue;
            if (!sk_X509_push(out, x))
                X509_free(x);
        }
        PKCS7_free(p7);
    }
    ERR_clear_error();
    return out;
}

static dcpki_code pick_leaf(STACK_OF(X509) *certs, const EVP_PKEY *pub, dcpki_pki_enroll_result *r,
                            dcpki_err *err)
{
    int n = sk_X509_num(certs), leaf = -1;
    if (n <= 0)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                             "the CA's certificate token holds no certificate (not a PKCS#7 of "
                             "certificates)");
    for (int i = 0; i < n; i++) {
        X509 *x = sk_X509_value(certs, i);
        if (pub != NULL) {
            EVP_PKEY *k = X509_get0_pubkey(x);
            if (k != NULL && EVP_PKEY_eq(k, pub) == 1) {
                leaf = i;
                break;
            }
        } else if (X509_check_ca(x) == 0) {
            if (leaf >= 0)
                return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                                     "the CA's answer holds several end-entity certificates");
            leaf = i;
        }
    }
    ERR_clear_error();
    if (leaf < 0)
        return dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                             pub ? "no certificate in the CA's answer has the request's public key"
                                 : "no end-entity certificate in the CA's answer");
    r->cert = sk_X509_delete(certs, leaf);
    /* chain: issuer of the leaf first, then its issuer, ... then the rest */
    size_t total = (size_t)sk_X509_num(certs);
    r->chain = total ? calloc(total, sizeof(*r->chain)) : NULL;
    if (total && r->chain == NULL)
        return dcpki_err_set(err, DCPKI_E_NOMEM, "reading the CA's answer");
    X509 *cur = r->cert;
    for (;;) {
        int next = -1;
        for (int i = 0; i < sk_X509_num(certs); i++)
            if (X509_check_issued(sk_X509_value(certs, i), cur) == X509_V_OK) {
                next = i;
                break;
            }
        if (next < 0)
            break;
        cur = sk_X509_delete(certs, next);
        r->chain[r->n_chain++] = cur;
        if (X509_check_issued(cur, cur) == X509_V_OK)
            break; /* self-signed root */
    }
    while (sk_X509_num(certs) > 0)
        r->chain[r->n_chain++] = sk_X509_shift(certs);
    return DCPKI_OK;
}

dcpki_code dcpki_pki_parse_enroll(const char *xml, size_t len, const EVP_PKEY *pub,
                                  dcpki_pki_enroll_result *out, dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d;
    xmlNodePtr p;
    dcpki_code rc = parse_envelope(xml, len, &d, &p, err);
    if (rc != DCPKI_OK)
        return rc;
    const char *e = DCPKI_NS_VS_ENROLL;
    xmlNodePtr r = NULL;
    if (is_fault(p)) {
        dcpki_pki_fault f;
        read_fault(p, &f);
        rc = dcpki_pki_fault_to_err(&f, err);
        dcpki_pki_fault_clear(&f);
        goto done;
    }
    if (el_is(p, DCPKI_NS_WST, "RequestSecurityTokenResponseCollection"))
        p = kid(p, DCPKI_NS_WST, "RequestSecurityTokenResponse");
    if (p != NULL && strcmp((const char *)p->name, "RequestSecurityTokenResponse") == 0 &&
        ns_is(p, DCPKI_NS_WST))
        r = kid(p, e, "RequestVSSecurityTokenResponse");
    else if (p != NULL && strcmp((const char *)p->name, "RequestVSSecurityTokenResponse") == 0 &&
             ns_is(p, e))
        r = p;
    if (r == NULL || !ns_is(r, e)) {
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                           "the enrollment service's answer has no wst:RequestSecurityTokenResponse > "
                           "RequestVSSecurityTokenResponse");
        goto done;
    }
    out->client_txid = kid_text(r, e, "clientTransactionID");
    out->server_txid = kid_text(r, e, "serverTransactionID");
    out->disposition = kid_text(r, e, "dispositionMessage");
    xmlNodePtr rv = kid(r, e, "requestedVSSecurityToken");
    xmlNodePtr pend = kid(rv, e, "pendingTokenReferenceID");
    xmlNodePtr tok = kid(rv, e, "binarySecurityToken");
    if (tok == NULL)
        tok = kid(r, e, "binarySecurityToken");
    if (pend != NULL && tok == NULL) {
        out->pending_id = text_of(pend);
        if (!nonempty(out->pending_id)) {
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                               "the CA left the request pending without a pendingTokenReferenceID");
            goto done;
        }
        out->pending = 1;
        goto done;
    }
    char *t = text_of(tok);
    if (!nonempty(t)) {
        free(t);
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                           "the enrollment service's answer holds neither a certificate nor a "
                           "pendingTokenReferenceID%s%.200s%s", out->disposition ? " (disposition: \"" : "",
                           out->disposition ? out->disposition : "", out->disposition ? "\")" : "");
        goto done;
    }
    STACK_OF(X509) *certs = token_certs(t);
    free(t);
    if (certs == NULL) {
        rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the CA's answer");
        goto done;
    }
    rc = pick_leaf(certs, pub, out, err);
    sk_X509_pop_free(certs, X509_free);
done:
    xmlFreeDoc(d);
    if (rc != DCPKI_OK)
        dcpki_pki_enroll_result_clear(out);
    return rc;
}

/* ---- updateCertificateStatusResponse / health ---- */

void dcpki_pki_status_result_clear(dcpki_pki_status_result *r)
{
    if (r == NULL)
        return;
    free(r->success_msg);
    memset(r, 0, sizeof(*r));
}

dcpki_code dcpki_pki_parse_update_status(const char *xml, size_t len, dcpki_pki_status_result *out,
                                         dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    out->revocation_count = -1;
    xmlDocPtr d;
    xmlNodePtr p;
    const char *ns = DCPKI_NS_VS_MGMT;
    dcpki_code rc = open_response(xml, len, ns, "updateCertificateStatusResponse", &d, &p, err);
    if (rc != DCPKI_OK)
        return rc;
    char *code = kid_text(p, ns, "successCode");
    if (parse_long(code, &out->success_code) != 0)
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                           "the certificate management service's answer has no numeric successCode");
    free(code);
    out->success_msg = kid_text(p, ns, "successMsg");
    char *cnt = kid_text(p, ns, "revocationCount");
    if (cnt != NULL && parse_long(cnt, &out->revocation_count) != 0)
        out->revocation_count = -1;
    free(cnt);
    xmlFreeDoc(d);
    if (rc != DCPKI_OK)
        dcpki_pki_status_result_clear(out);
    return rc;
}

void dcpki_pki_health_clear(dcpki_pki_health *h)
{
    if (h == NULL)
        return;
    free(h->status_code);
    free(h->status_message);
    memset(h, 0, sizeof(*h));
}

dcpki_code dcpki_pki_parse_health(const char *xml, size_t len, dcpki_pki_health *out, dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d;
    xmlNodePtr p;
    const char *ns = DCPKI_NS_HEALTH;
    dcpki_code rc = open_response(xml, len, ns, "getStatusResponseMessage", &d, &p, err);
    if (rc != DCPKI_OK)
        return rc;
    out->status_code = kid_text(p, ns, "statusCode");
    out->status_message = kid_text(p, ns, "statusMessage");
    if (!nonempty(out->status_code)) {
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE, "the health check's answer has no statusCode");
        dcpki_pki_health_clear(out);
    } else {
        out->up = strcmp(out->status_code, "UP") == 0;
    }
    xmlFreeDoc(d);
    return rc;
}

/* ---------------------------------------------------- certificate search */

dcpki_code dcpki_pki_build_search(const char *txid, const dcpki_pki_search_filter *f, char **out,
                                  size_t *out_len, dcpki_err *err)
{
    *out = NULL;
    *out_len = 0;
    dcpki_code rc = check_txid(txid, err);
    if (rc != DCPKI_OK)
        return rc;
    char serial[DCPKI_SERIAL_MAX + 1] = "";
    if (f->serial_hex != NULL && (rc = clean_serial(f->serial_hex, serial, sizeof serial, err)) != DCPKI_OK)
        return rc;
    if (f->profile_oid != NULL && !is_oid_text(f->profile_oid))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT, "profile \"%.100s\" is not a dotted OID",
                             f->profile_oid);
    if (f->status != NULL && strcmp(f->status, "VALID") != 0 && strcmp(f->status, "EXPIRED") != 0 &&
        strcmp(f->status, "REVOKED") != 0 && strcmp(f->status, "SUSPENDED") != 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "status \"%.40s\" is not VALID, EXPIRED, REVOKED or SUSPENDED", f->status);
    if ((f->common_name != NULL && !text_ok(f->common_name, TEXT_MAX)) ||
        (f->email != NULL && !text_ok(f->email, TEXT_MAX)))
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "a search filter is too long or has control characters");
    /* startIndex is an xs:int counted from 0 (Keyfactor's digicert-mpki-caplugin pages
     * 0, 50, 100, ...); validFrom/validTo are xs:long */
    if (f->start_index < 0 || f->start_index > INT_MAX)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "startIndex %ld is not a 0-based index (0 to %d)", f->start_index, INT_MAX);
    if (f->valid_from_ms < 0 || f->valid_to_ms < 0)
        return dcpki_err_set(err, DCPKI_E_INVALID_ARGUMENT,
                             "validFrom/validTo are epoch milliseconds (0 = not sent), not negative");
    pthread_once(&xml_once, xml_init_once);
    msg m;
    if (msg_init(&m) != 0) {
        xmlFreeDoc(m.doc);
        return dcpki_err_set(err, DCPKI_E_NOMEM, "building a SOAP message");
    }
    xmlNodePtr s = xmlNewChild(m.body, NULL, (const xmlChar *)"searchCertificateRequest", NULL);
    xmlNsPtr ns = s ? xmlNewNs(s, (const xmlChar *)DCPKI_NS_VS_MGMT, (const xmlChar *)"m") : NULL;
    if (ns == NULL)
        m.oom = 1;
    else
        xmlSetNs(s, ns);
    /* schema order: clientTransactionID?, seatId?, accountId?, profileOID?, commonName?,
     * status?, emailAddress?, serialNumber?, issuingCA?, validFrom?, validTo?, startIndex?,
     * version */
    if (txid != NULL)
        add_text(&m, s, ns, "clientTransactionID", txid);
    if (f->profile_oid != NULL)
        add_text(&m, s, ns, "profileOID", f->profile_oid);
    if (f->common_name != NULL)
        add_text(&m, s, ns, "commonName", f->common_name);
    if (f->status != NULL)
        add_text(&m, s, ns, "status", f->status);
    if (f->email != NULL)
        add_text(&m, s, ns, "emailAddress", f->email);
    if (serial[0] != '\0')
        add_text(&m, s, ns, "serialNumber", serial);
    char num[24];
    if (f->valid_from_ms > 0) {
        snprintf(num, sizeof num, "%lld", f->valid_from_ms);
        add_text(&m, s, ns, "validFrom", num);
    }
    if (f->valid_to_ms > 0) {
        snprintf(num, sizeof num, "%lld", f->valid_to_ms);
        add_text(&m, s, ns, "validTo", num);
    }
    if (f->start_index > 0) {
        snprintf(num, sizeof num, "%ld", f->start_index);
        add_text(&m, s, ns, "startIndex", num);
    }
    add_text(&m, s, ns, "version", "1.0");
    return msg_finish(&m, out, out_len, err);
}

void dcpki_pki_search_result_clear(dcpki_pki_search_result *r)
{
    if (r == NULL)
        return;
    for (size_t i = 0; i < r->n; i++) {
        dcpki_pki_cert_info *c = &r->certs[i];
        free(c->serial);
        free(c->status);
        free(c->common_name);
        free(c->email);
        free(c->profile_oid);
        free(c->revoke_reason);
        X509_free(c->cert);
    }
    free(r->certs);
    memset(r, 0, sizeof(*r));
}

static long long kid_ms(const xmlNode *p, const char *ns, const char *name)
{
    char *t = kid_text(p, ns, name);
    long long v = -1;
    if (t != NULL && *t != '\0') {
        char *end = NULL;
        errno = 0;
        long long x = strtoll(t, &end, 10);
        if (errno == 0 && end != t && *end == '\0')
            v = x;
    }
    free(t);
    return v;
}

/* nil or empty text → NULL */
static char *kid_text_nn(const xmlNode *p, const char *ns, const char *name)
{
    char *t = kid_text(p, ns, name);
    if (t != NULL && *t == '\0') {
        free(t);
        t = NULL;
    }
    return t;
}

dcpki_code dcpki_pki_parse_search(const char *xml, size_t len, dcpki_pki_search_result *out,
                                  dcpki_err *err)
{
    memset(out, 0, sizeof(*out));
    xmlDocPtr d;
    xmlNodePtr p;
    const char *ns = DCPKI_NS_VS_MGMT;
    dcpki_code rc = open_response(xml, len, ns, "searchCertificateResponse", &d, &p, err);
    if (rc != DCPKI_OK)
        return rc;
    char *cnt = kid_text(p, ns, "certificateCount");
    if (parse_long(cnt, &out->count) != 0 || out->count < 0)
        rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                           "the certificate management service's search answer has no certificateCount");
    free(cnt);
    char *more = kid_text(p, ns, "moreCertificateAvailable");
    out->more = is_true(more);
    free(more);
    xmlNodePtr list = kid(p, ns, "certificateList");
    size_t n = 0;
    for (xmlNodePtr c = kid(list, ns, "certificateInformation"); c; c = next_kid(c, ns, "certificateInformation"))
        n++;
    if (rc == DCPKI_OK && n > 0) {
        out->certs = calloc(n, sizeof(*out->certs));
        if (out->certs == NULL)
            rc = dcpki_err_set(err, DCPKI_E_NOMEM, "reading the search answer");
    }
    for (xmlNodePtr c = kid(list, ns, "certificateInformation"); rc == DCPKI_OK && c;
         c = next_kid(c, ns, "certificateInformation")) {
        dcpki_pki_cert_info *ci = &out->certs[out->n++];
        ci->serial = kid_text_nn(c, ns, "serialNumber");
        ci->status = kid_text_nn(c, ns, "status");
        ci->common_name = kid_text_nn(c, ns, "commonName");
        ci->email = kid_text_nn(c, ns, "emailAddress");
        ci->profile_oid = kid_text_nn(c, ns, "profileOID");
        ci->revoke_reason = kid_text_nn(c, ns, "revokeReason");
        ci->valid_from_ms = kid_ms(c, ns, "validFrom");
        ci->valid_to_ms = kid_ms(c, ns, "validTo");
        ci->revoke_at_ms = kid_ms(c, ns, "revokeAt");
        char *b64 = kid_text_nn(c, ns, "certificate");
        ci->cert = b64 ? cert_from_b64(b64) : NULL;
        free(b64);
        if (ci->serial == NULL && ci->cert != NULL) {
            ci->serial = dcpki_serial_of_cert(ci->cert);
        }
        if (ci->serial == NULL || ci->status == NULL)
            rc = dcpki_err_set(err, DCPKI_E_BAD_RESPONSE,
                               "a certificateInformation of the search answer has no serialNumber "
                               "or status");
    }
    xmlFreeDoc(d);
    if (rc != DCPKI_OK)
        dcpki_pki_search_result_clear(out);
    return rc;
}

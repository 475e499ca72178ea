/* The PKI Platform web services in their VeriSign SOAP 1.1 dialect
 * (protocols/pki-platform.md): request bodies built with libxml2 (never by
 * string concatenation), responses parsed namespace-aware with size limits,
 * no network access and no entity expansion. Builders and parsers do no
 * I/O; the dcpki_pki_post family at the end sends them over a transport to
 * https://<[ca] host><dcpki_pki_service_path(s)> with
 * "Content-Type: text/xml; charset=utf-8" and "SOAPAction: \"<action>\"".
 *
 * What the policy parser reads (getPoliciesResponse):
 * - friendly name: the profile's oID/defaultName, else response/policyFriendlyName;
 * - the policy whose policyOIDReference resolves (oIDs/oID[oIDReferenceID])
 *   to the asked profile OID (the only one when no OID is asked);
 * - attributes/certificateValidity, privateKeyAttributes (keysize,
 *   keyexportable, algorithmOIDReference → oIDs), systemInfo/
 *   certificateDeliveryFormat, status;
 * - attributes/subjectNameInfo/subjectNameAttribute/
 *   subjectNameAttributeNameValuePair: attributeName is a DN type ("CN",
 *   "E", "emailAddress", "GN", "SN", "O", "OU", "C", "L", "ST", "title") or a
 *   nameValuePair name ("common_name", "mail_email", "mail_firstName",
 *   "mail_lastName", "corp_company", "org_unit", "country", "locality",
 *   "state", "jobTitle"); attributeNameValue "$name" names the pair for a DN
 *   type, any other text there is a fixed value; attributeNameValue/@type may
 *   give the DN type; @mandatory or attributeNameValueProperty/mandatory
 *   "true" makes it mandatory; attributeNameValueProperty/value (not "$...")
 *   with overridable not "true" is a fixed value;
 * - attributes/extensions/Extension whose extensionOIDReference resolves to
 *   2.5.29.17: each extensionSyntax/extensionAttributeNameValuePair is one SAN
 *   type; its kind comes from attributeNameValue/@type ("rfc822Name",
 *   "email", "userPrincipalName", "upn", "otherName", "otherName:<OID>") or
 *   else from attributeName ("mail_email", "emailAddress", "rfc822Name",
 *   "email", "upn", "userPrincipalName", "otherName", "other_name",
 *   "othername", "guid"); SAN types the connector does not handle (dNSName,
 *   ...) are skipped; an other name's OID is the attributeNameValue text
 *   or attributeNameValueProperty/value when dotted digits (UPN OID → UPN);
 *   attributeName is the pair name unless it is a bare type word
 *   ("rfc822Name", "rfc822", "userPrincipalName", "otherName", "othername"),
 *   then an attributeNameValue "$pair" names it, else the request's defaults
 *   apply ("mail_email", "upn", "other_name");
 * - cAs/cA referenced by cAReference: certificate, intermediates, root. */
#ifndef DCPKI_PKI_PLATFORM_H
#define DCPKI_PKI_PLATFORM_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/error.h"
#include "dcpki/policy.h"
#include "dcpki/request.h"
#include "dcpki/transport.h"

#define DCPKI_NS_SOAP11 "http://schemas.xmlsoap.org/soap/envelope/"
#define DCPKI_NS_VS_POLICY "http://schemas.verisign.com/pkiservices/2009/07/policy"
#define DCPKI_NS_VS_ENROLL "http://schemas.verisign.com/pkiservices/2009/07/enrollment"
#define DCPKI_NS_VS_MGMT "http://schemas.verisign.com/pkiservices/2009/07/management"
#define DCPKI_NS_WST "http://docs.oasis-open.org/ws-sx/ws-trust/200512/"
#define DCPKI_NS_HEALTH "http://schemas.pki.symantec.com/pkiservices/healthcheck"
#define DCPKI_TOKEN_PKCS7 \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7"
#define DCPKI_TOKEN_X509 \
    "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
#define DCPKI_REQ_ISSUE DCPKI_NS_WST "Issue"
#define DCPKI_REQ_RENEW DCPKI_NS_WST "Renew"
#define DCPKI_REQ_QUERY "http://schemas.verisign.com/pkiservices/2009/07/QueryTokenStatus"
#define DCPKI_VALUETYPE_PKCS10 "http://schemas.verisign.com/pkiservices/2009/07/PKCS10"

/* Responses larger than this are refused (DCPKI_E_BAD_RESPONSE). */
#define DCPKI_PKI_MAX_RESPONSE (4u * 1024u * 1024u)
/* clientTransactionID is at most this many characters (schema). */
#define DCPKI_PKI_TXID_MAX 40

typedef enum dcpki_pki_service {
    DCPKI_PKI_POLICY = 0,
    DCPKI_PKI_ENROLLMENT,
    DCPKI_PKI_MANAGEMENT,
    DCPKI_PKI_HEALTH
} dcpki_pki_service;

/* "/pki-ws/policyService", "/pki-ws/enrollmentService",
 * "/pki-ws/certificateManagementService", "/pki-ws/healthcheckService". */
const char *dcpki_pki_service_path(dcpki_pki_service s);
/* The WSDL's SOAPAction of the service's main operation (management:
 * updateCertificateStatus; dcpki_pki_search sends .../management/searchCertificate). */
const char *dcpki_pki_soap_action(dcpki_pki_service s);

/* A fresh clientTransactionID "dcpki-<32 hex>" (random) into buf (>= 41). */
dcpki_code dcpki_pki_new_txid(char *buf, size_t n, dcpki_err *err);

/* ---- request builders: *out malloc'd (free with free()), UTF-8 XML with
 * declaration, *out_len its length. Strings are checked (UTF-8, no control
 * characters) and escaped by libxml2. ---- */

/* getPolicies: version 2.0, clientTransactionID (optional), requestFilter >
 * policyIDs > oid+ (requestFilter nil when n_oids is 0). */
dcpki_code dcpki_pki_build_get_policies(const char *txid, const char *const *oids,
                                        size_t n_oids, char **out, size_t *out_len,
                                        dcpki_err *err);

typedef enum dcpki_pki_request_type {
    DCPKI_PKI_ISSUE = 0,
    DCPKI_PKI_RENEW,
    DCPKI_PKI_QUERY           /* QueryTokenStatus with pendingTokenReferenceID */
} dcpki_pki_request_type;

typedef struct dcpki_pki_enroll_params {
    const char *profile_oid;          /* certificateProfileID, required */
    const char *txid;                 /* clientTransactionID, may be NULL */
    dcpki_pki_request_type type;
    const unsigned char *csr_der;     /* ISSUE/RENEW: PKCS#10 DER, sent as bare base64 */
    size_t csr_len;
    const char *pending_id;           /* QUERY: pendingTokenReferenceID */
    const dcpki_nvp *pairs;           /* nameValuePair*, may be NULL */
    size_t n_pairs;
} dcpki_pki_enroll_params;

/* wst:RequestSecurityToken > requestVSSecurityToken: certificateProfileID,
 * clientTransactionID?, tokenType (#PKCS7), requestType, binarySecurityToken
 * (ValueType PKCS10)?, pendingTokenReferenceID?, nameValuePair*, version 2.0. */
dcpki_code dcpki_pki_build_enroll(const dcpki_pki_enroll_params *p, char **out,
                                  size_t *out_len, dcpki_err *err);

/* Revocation reason names of the service: "Unspecified", "KeyCompromise",
 * "CACompromise", "AffiliationChanged", "CessationOfOperation",
 * "PrivilegeWithdrawn", "AACompromise", "Superseded". Maps a user spelling
 * ("keyCompromise", "key-compromise", "superseded", ...) to it; NULL if none. */
const char *dcpki_pki_revocation_reason(const char *user);

/* Serial numbers as the certificate management service is sent them (its
 * format is undocumented, pki-platform.md §5): at most DCPKI_SERIAL_MAX hex
 * digits; ':' and blanks between them are ignored. */
#define DCPKI_SERIAL_MAX 128
/* Room for either form below, NUL included. */
#define DCPKI_SERIAL_BUF (DCPKI_SERIAL_MAX + 3)
/* The normal form, sent first: separators dropped, leading zeros stripped,
 * upper-case ("00:a1:02" -> "A102"; zero -> "0"). 0 on success; -1 when in is
 * no hex serial or out (n bytes) is too small. */
int dcpki_serial_normalise(const char *in, char *out, size_t n);
/* The DER form, sent once when the normal form is not found: the hex of the
 * INTEGER's content octets as `openssl x509 -serial` prints it - an even number
 * of digits, "00" in front when the first octet's high bit is set
 * ("A102" -> "00A102", "1A2" -> "01A2"). 0 on success, -1 as above. */
int dcpki_serial_der_form(const char *in, char *out, size_t n);
/* A certificate's serial number in the normal form (as results, the store and
 * messages give it); malloc'd, NULL on failure. */
char *dcpki_serial_of_cert(const X509 *x);

/* updateCertificateStatusRequest: clientTransactionID?, version 1.0,
 * revocationReason?, comment?, certificateSerialNumber, operationType.
 * operation: "Revoke" | "Suspend" | "Resume". reason: a name of the list
 * above (or a user spelling of it), NULL to omit. serial_hex: hex digits, sent
 * upper-case with ':' and blanks dropped and leading zeros as given (the
 * caller picks the form: dcpki_serial_normalise / dcpki_serial_der_form). */
dcpki_code dcpki_pki_build_update_status(const char *txid, const char *serial_hex,
                                         const char *operation, const char *reason,
                                         const char *comment, char **out, size_t *out_len,
                                         dcpki_err *err);

/* getStatusRequestMessage: version 1.0, clientTransactionID?, operationType
 * ENROLL, profileOid?. */
dcpki_code dcpki_pki_build_health(const char *txid, const char *profile_oid, char **out,
                                  size_t *out_len, dcpki_err *err);

/* searchCertificateRequest filters (NULL / 0 = not sent). */
typedef struct dcpki_pki_search_filter {
    const char *serial_hex;           /* hex; the builder sends it as dcpki_pki_build_update_status
                                       * does, dcpki_pki_search picks the form */
    const char *profile_oid;
    const char *common_name;
    const char *status;               /* "VALID" | "EXPIRED" | "REVOKED" | "SUSPENDED" */
    const char *email;
    long long valid_from_ms;          /* validFrom (xs:long, epoch milliseconds as the answer's) */
    long long valid_to_ms;            /* validTo */
    long start_index;                 /* 0-based index of the first match of the page (0 = the
                                       * first page, not sent); the next page starts at
                                       * start_index + the number of matches received */
} dcpki_pki_search_filter;

/* searchCertificateRequest (certificate management, version 1.0), children in
 * schema order: clientTransactionID?, profileOID?, commonName?, status?,
 * emailAddress?, serialNumber?, validFrom?, validTo?, startIndex?, version. */
dcpki_code dcpki_pki_build_search(const char *txid, const dcpki_pki_search_filter *f, char **out,
                                  size_t *out_len, dcpki_err *err);

/* ---- response parsers. Every parser first checks size, well-formedness,
 * the SOAP 1.1 envelope, and a Fault (→ dcpki_pki_fault_to_err()). ---- */

typedef struct dcpki_pki_fault {
    char *faultcode;
    char *faultstring;
    char *errorcode;       /* detail/errorcode */
    char *message;         /* detail/message */
} dcpki_pki_fault;

/* Fault → error. The detail holds faultstring (else detail/message), the
 * message when it adds to it, and detail/errorcode. Mapping: "not understood"
 * (any case) → DCPKI_E_PROFILE_UNKNOWN; "policy verification" or
 * "supported certificate template attributes" → DCPKI_E_POLICY_VIOLATION;
 * anything else → DCPKI_E_CA_REFUSED. */
dcpki_code dcpki_pki_fault_to_err(const dcpki_pki_fault *f, dcpki_err *err);
void dcpki_pki_fault_clear(dcpki_pki_fault *f);

/* Parses any SOAP response body: DCPKI_OK and *is_fault = 0 for a non-fault
 * envelope; DCPKI_OK and *is_fault = 1 with f filled for a Fault;
 * DCPKI_E_BAD_RESPONSE when it is no SOAP 1.1 envelope. */
dcpki_code dcpki_pki_parse_fault(const char *xml, size_t len, int *is_fault,
                                 dcpki_pki_fault *f, dcpki_err *err);

/* getPoliciesResponse → the policy of profile_oid (NULL: the first policy).
 * Profile absent from the response → DCPKI_E_PROFILE_UNKNOWN "profile ... is
 * not in the policy service's answer". Faults mapped as above. */
dcpki_code dcpki_pki_parse_policies(const char *xml, size_t len, const char *profile_oid,
                                    dcpki_policy **out, dcpki_err *err);

/* getPoliciesResponse → every policy with a profile OID, in the answer's
 * order (*out: n_out policies, free each with dcpki_policy_free, then the
 * array with free()). No policy → DCPKI_E_PROFILE_UNKNOWN. */
dcpki_code dcpki_pki_parse_all_policies(const char *xml, size_t len, dcpki_policy ***out,
                                        size_t *n_out, dcpki_err *err);

typedef struct dcpki_pki_enroll_result {
    int pending;                 /* 1: no certificate yet, see pending_id */
    char *pending_id;            /* pendingTokenReferenceID */
    char *disposition;           /* dispositionMessage, may be NULL */
    char *client_txid;           /* echoed clientTransactionID, may be NULL */
    char *server_txid;           /* serverTransactionID, may be NULL */
    X509 *cert;                  /* the issued (leaf) certificate */
    X509 **chain;                /* the other certificates of the PKCS#7, leaf's issuer first
                                  * when it can be ordered */
    size_t n_chain;
} dcpki_pki_enroll_result;

/* RequestSecurityTokenResponse > RequestVSSecurityTokenResponse: either the
 * PKCS#7 (base64 DER, or PEM text) of requestedVSSecurityToken/
 * binarySecurityToken (else the top-level binarySecurityToken), whose leaf is
 * the certificate with the public key `pub` (may be NULL: the only non-CA
 * certificate), or pendingTokenReferenceID. */
dcpki_code dcpki_pki_parse_enroll(const char *xml, size_t len, const EVP_PKEY *pub,
                                  dcpki_pki_enroll_result *out, dcpki_err *err);
void dcpki_pki_enroll_result_clear(dcpki_pki_enroll_result *r);

typedef struct dcpki_pki_status_result {
    long success_code;           /* 0 = success, negative = failure */
    char *success_msg;
    long revocation_count;       /* -1 when absent */
} dcpki_pki_status_result;

/* updateCertificateStatusResponse. A negative successCode is returned as
 * DCPKI_OK with the result filled: the caller decides (see the report). */
dcpki_code dcpki_pki_parse_update_status(const char *xml, size_t len,
                                         dcpki_pki_status_result *out, dcpki_err *err);
void dcpki_pki_status_result_clear(dcpki_pki_status_result *r);

typedef struct dcpki_pki_health {
    int up;                      /* statusCode UP */
    char *status_code;
    char *status_message;
} dcpki_pki_health;

/* getStatusResponseMessage. */
dcpki_code dcpki_pki_parse_health(const char *xml, size_t len, dcpki_pki_health *out,
                                  dcpki_err *err);
void dcpki_pki_health_clear(dcpki_pki_health *h);

/* One certificateInformation of a search answer. */
typedef struct dcpki_pki_cert_info {
    char *serial;                /* serialNumber (else from the certificate), upper-case hex */
    char *status;                /* VALID | EXPIRED | REVOKED | SUSPENDED */
    char *common_name;           /* may be NULL */
    char *email;                 /* may be NULL */
    char *profile_oid;           /* may be NULL */
    char *revoke_reason;         /* may be NULL */
    long long valid_from_ms;     /* epoch milliseconds, -1 when absent */
    long long valid_to_ms;
    long long revoke_at_ms;
    X509 *cert;                  /* may be NULL */
} dcpki_pki_cert_info;

typedef struct dcpki_pki_search_result {
    long count;                  /* certificateCount: all matches, not only this page */
    dcpki_pki_cert_info *certs;
    size_t n;
    int more;                    /* moreCertificateAvailable */
} dcpki_pki_search_result;

/* searchCertificateResponse. */
dcpki_code dcpki_pki_parse_search(const char *xml, size_t len, dcpki_pki_search_result *out,
                                  dcpki_err *err);
void dcpki_pki_search_result_clear(dcpki_pki_search_result *r);

/* ---- calls over the transport (the only functions here that touch the
 * network). ca_host is [ca] host ("host[:port]", no scheme). ---- */

/* POSTs a SOAP body to https://<ca_host><service path> with Content-Type
 * text/xml and the service's SOAPAction. idempotent: may be retried by the
 * transport (policy, health, status query; never an Issue). On DCPKI_OK
 * *resp (malloc'd, NUL-terminated) is the body of an HTTP 200, or of an HTTP
 * 500 that is a SOAP envelope (a Fault, for the parsers to map). Other HTTP
 * statuses: 401/403 → DCPKI_E_ACCESS_DENIED, 404 → DCPKI_E_HTTP (wrong [ca]
 * host?), 429 → DCPKI_E_RATE_LIMITED, 5xx → DCPKI_E_SERVICE_UNAVAILABLE,
 * other → DCPKI_E_HTTP. Transport errors as dcpki_transport_perform. */
dcpki_code dcpki_pki_post(dcpki_transport *t, const char *ca_host, dcpki_pki_service s,
                          const char *body, size_t len, int idempotent, char **resp,
                          size_t *resp_len, dcpki_err *err);

/* getPolicies for one profile → its policy (unknown profile → the fault's
 * error, see dcpki_pki_fault_to_err). */
dcpki_code dcpki_pki_get_policy(dcpki_transport *t, const char *ca_host, const char *profile_oid,
                                dcpki_policy **out, dcpki_err *err);

/* getPolicies without a filter → every profile this RA may use (as
 * dcpki_pki_parse_all_policies). */
dcpki_code dcpki_pki_get_all_policies(dcpki_transport *t, const char *ca_host, dcpki_policy ***out,
                                      size_t *n_out, dcpki_err *err);

/* Enrollment (Issue / Renew / QueryTokenStatus) → certificate + chain, or
 * pending (out->pending, out->pending_id): the caller reports pending. */
dcpki_code dcpki_pki_enroll(dcpki_transport *t, const char *ca_host,
                            const dcpki_pki_enroll_params *p, const EVP_PKEY *pub,
                            dcpki_pki_enroll_result *out, dcpki_err *err);

/* updateCertificateStatusRequest for serial_hex in its normal form
 * (dcpki_serial_normalise); when the service does not know that serial (a
 * negative successCode, or a fault, whose text says "not found" / "does not
 * exist" / "unknown"), once more in the DER form when it differs. A negative
 * successCode is an error (refused, with successMsg and the forms tried in
 * the detail); out (may be NULL) is filled either way when an answer was read. */
dcpki_code dcpki_pki_update_status(dcpki_transport *t, const char *ca_host, const char *txid,
                                   const char *serial_hex, const char *operation,
                                   const char *reason, const char *comment,
                                   dcpki_pki_status_result *out, dcpki_err *err);

/* searchCertificateRequest → one page of matches (idempotent: may be retried).
 * A serial filter is sent in its normal form, and when nothing matches once
 * more in the DER form (dcpki_serial_der_form) when it differs. */
dcpki_code dcpki_pki_search(dcpki_transport *t, const char *ca_host,
                            const dcpki_pki_search_filter *f, dcpki_pki_search_result *out,
                            dcpki_err *err);

/* Health check service → statusCode UP/DOWN (DOWN is DCPKI_OK, out->up 0). */
dcpki_code dcpki_pki_health_check(dcpki_transport *t, const char *ca_host,
                                  const char *profile_oid, dcpki_pki_health *out,
                                  dcpki_err *err);

#endif

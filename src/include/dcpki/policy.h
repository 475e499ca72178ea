/* The policy of a certificate profile of the PKI Platform, as its policy
 * service describes it (getPoliciesResponse, protocols/pki-platform.md §3):
 * which subject attributes a request may carry (mandatory, fixed values),
 * which SAN types it may carry, key algorithm and minimum size, validity,
 * profile OID, friendly name and CA certificates. The XML parser is
 * dcpki_pki_parse_policies() in dcpki/pki_platform.h. */
#ifndef DCPKI_POLICY_H
#define DCPKI_POLICY_H
#include <stddef.h>
#include <openssl/types.h>
#include "dcpki/error.h"

#define DCPKI_OID_UPN "1.3.6.1.4.1.311.20.2.3"
#define DCPKI_OID_DS_OBJECT_GUID "1.3.6.1.4.1.311.25.1"
#define DCPKI_OID_SUBJECT_ALT_NAME "2.5.29.17"

typedef enum dcpki_san_type {
    DCPKI_SAN_EMAIL = 0,     /* rfc822Name */
    DCPKI_SAN_UPN,           /* otherName 1.3.6.1.4.1.311.20.2.3 (Microsoft UPN) */
    DCPKI_SAN_OTHERNAME      /* otherName with another OID, value given in hex */
} dcpki_san_type;

/* "e-mail (rfc822Name)", "UPN (otherName 1.3.6.1.4.1.311.20.2.3)", "other name" */
const char *dcpki_san_type_label(dcpki_san_type t);

/* One subject attribute the profile knows. */
typedef struct dcpki_policy_attr {
    char *name;        /* nameValuePair name used to send it: "common_name", "mail_email",
                        * "mail_firstName", ... */
    char *dn;          /* subject attribute type in canonical short form ("CN", "E", "GN", "SN",
                        * "O", "OU", "C", "L", "ST", "title"), NULL when it is no DN attribute */
    int mandatory;
    char *fixed_value; /* non-NULL: the profile fixes the value; a request may not change it */
} dcpki_policy_attr;

/* One SAN type the profile allows (subjectAltName extension of the profile). */
typedef struct dcpki_policy_san {
    dcpki_san_type type;
    char *name;        /* nameValuePair name used to send it ("mail_email", "upn", ...) */
    char *oid;         /* otherName type-id: DCPKI_OID_UPN for UPN; for OTHERNAME the OID the
                        * profile demands, NULL when any OID is accepted */
    int mandatory;
} dcpki_policy_san;

/* A CA of the profile (getPoliciesResponse/cAs/cA). */
typedef struct dcpki_policy_ca {
    long ref_id;            /* cAReferenceID */
    char *issuer_name;      /* cAIssuerName, may be NULL */
    char *type;             /* "public" | "private", may be NULL */
    X509 *certificate;      /* the issuing CA, may be NULL */
    X509 **intermediates;   /* intermediateCACertificates */
    size_t n_intermediates;
    X509 *root;             /* rootCACertificate, may be NULL */
} dcpki_policy_ca;

typedef struct dcpki_policy {
    char *profile_oid;       /* certificate profile OID (value of the referenced oID) */
    char *policy_id;         /* response/policyID */
    char *friendly_name;     /* policyFriendlyName, else the oID's defaultName; may be NULL */
    long validity_days;      /* -1 when not given */
    long renewal_days;       /* -1 when not given */
    int key_size;            /* minimum key size in bits, 0 when not given */
    char *key_algorithm_oid; /* algorithmOIDReference resolved; may be NULL */
    const char *key_algorithm; /* "RSA", "EC", "DSA" or NULL (static string) */
    int key_exportable;      /* -1 unknown, 0, 1 */
    int override_subject_format; /* overrideSubjectNameFormat */
    char *delivery_format;   /* systemInfo/certificateDeliveryFormat, may be NULL */
    char *status;            /* attributes/status, may be NULL */
    dcpki_policy_attr *attrs;
    size_t n_attrs;
    dcpki_policy_san *sans;
    size_t n_sans;
    dcpki_policy_ca *cas;    /* the CAs this policy references (cAReference) */
    size_t n_cas;
} dcpki_policy;

dcpki_policy *dcpki_policy_new(void);
void dcpki_policy_free(dcpki_policy *p);

/* Look-ups: the first entry matching, NULL when none. Names compare case-insensitively. */
const dcpki_policy_attr *dcpki_policy_find_attr_dn(const dcpki_policy *p, const char *dn);
const dcpki_policy_san *dcpki_policy_find_san(const dcpki_policy *p, dcpki_san_type t,
                                              const char *oid);

/* Comma-separated human list of the subject attributes the profile allows, e.g.
 * "CN, E (mail_email)"; and of the SAN types, e.g. "e-mail (rfc822Name), UPN (...)".
 * "none" when empty. Returns buf. */
const char *dcpki_policy_allowed_attrs(const dcpki_policy *p, char *buf, size_t n);
const char *dcpki_policy_allowed_sans(const dcpki_policy *p, char *buf, size_t n);

/* Checks a key against the profile's key rules (algorithm, minimum size).
 * DCPKI_E_INVALID_ARGUMENT naming the demand when it does not fit. */
dcpki_code dcpki_policy_check_key(const dcpki_policy *p, const EVP_PKEY *key, dcpki_err *err);

/* The policy as a JSON document (for `dcpki policy --json`), pretty-printed
 * when pretty != 0. *out is malloc'd; free with free(). */
dcpki_code dcpki_policy_to_json(const dcpki_policy *p, int pretty, char **out, dcpki_err *err);

/* Human-readable multi-line description (for `dcpki policy`). *out malloc'd. */
dcpki_code dcpki_policy_to_text(const dcpki_policy *p, char **out, dcpki_err *err);

#endif

/* The connector's subject / SAN rules (BRIEF.md §4), checked against the
 * profile's policy before anything is sent:
 * - subject: CN; CN + E; or CN that is an e-mail. Other attributes only when
 *   the profile knows them (usually with fixed values).
 * - SAN: e-mail (rfc822Name), UPN (otherName 1.3.6.1.4.1.311.20.2.3), other
 *   name (OID + value given in hex, sent as base64 of those bytes, unchecked).
 * - fallbacks, only for the SAN types the profile has: e-mail SAN missing →
 *   UPN → subject e-mail (E, else CN if it is an e-mail) → fail when the
 *   profile makes it mandatory; UPN missing → e-mail SAN → subject e-mail →
 *   fail; other name missing → fail.
 * - what is sent: nameValuePairs named after the profile (common_name,
 *   mail_email, upn, mail_firstName/mail_lastName, ...), and first of all
 *   seat_id, the PKI Platform's user ("seat") the certificate is counted to;
 *   both public SOAP enrollment clients send it (one takes the CN, one the
 *   e-mail: pki-platform.md §4). */
#ifndef DCPKI_REQUEST_H
#define DCPKI_REQUEST_H
#include <stddef.h>
#include <openssl/types.h>
#include <openssl/x509.h>
#include "dcpki/error.h"
#include "dcpki/policy.h"

/* Pair names for a UPN / other-name SAN whose profile names none (its SAN
 * extension's attributeName, see dcpki/pki_platform.h): guesses, as no public
 * source names them (pki-platform.md §4). */
#define DCPKI_DEFAULT_UPN_PAIR "upn"
#define DCPKI_DEFAULT_OTHERNAME_PAIR "other_name"
#define DCPKI_SEAT_PAIR "seat_id"

/* One subject attribute: canonical short type ("CN", "E", "GN", "SN", "O",
 * "OU", "C", "L", "ST", "title") and its value. */
typedef struct dcpki_rdn {
    char *type;
    char *value;
} dcpki_rdn;

typedef struct dcpki_subject {
    dcpki_rdn *rdns;
    size_t n;
} dcpki_subject;

/* Subject attribute type names: canonical short form of a type or alias
 * ("commonName" → "CN", "emailAddress" → "E", "givenName" → "GN"), NULL when
 * unknown. Static strings. */
const char *dcpki_dn_canonical(const char *type);
/* Default nameValuePair name of a canonical DN type ("CN" → "common_name",
 * "E" → "mail_email", "GN" → "mail_firstName", "SN" → "mail_lastName",
 * "O" → "corp_company", "OU" → "org_unit", "C" → "country", "L" → "locality",
 * "ST" → "state", "title" → "jobTitle"); NULL when none. */
const char *dcpki_dn_default_pair(const char *dn);
/* Reverse: the DN type a pair name stands for (case-insensitive; also
 * "emailAddress"/"mail" → "E"), NULL when none. */
const char *dcpki_dn_from_pair(const char *pair);

/* Parses "CN=IWUser0,E=IWUser0@contoso.example" (also "CN=a, E=b", a leading
 * '/' form "/CN=a/E=b", '\,' escapes, type names case-insensitive with the
 * aliases emailAddress/email → E, givenName → GN, surname → SN, S → ST).
 * Errors (DCPKI_E_INVALID_ARGUMENT) name the offending part. */
dcpki_code dcpki_subject_parse(const char *s, dcpki_subject **out, dcpki_err *err);
void dcpki_subject_free(dcpki_subject *s);
/* Value of the first attribute of that type, NULL when absent. */
const char *dcpki_subject_get(const dcpki_subject *s, const char *type);
/* The subject's e-mail: E if present, else CN when it is an e-mail; NULL otherwise. */
const char *dcpki_subject_email(const dcpki_subject *s);

/* One --san argument. */
typedef struct dcpki_san {
    dcpki_san_type type;
    char *value;          /* EMAIL/UPN: the address; OTHERNAME: NULL */
    char *oid;            /* UPN: DCPKI_OID_UPN; OTHERNAME: the type-id OID */
    unsigned char *der;   /* OTHERNAME: the bytes given in hex */
    size_t der_len;
} dcpki_san;

/* Parses "email:a@b" (also "rfc822:"), "upn:a@b", "othername:OID;HEX" where
 * HEX may contain spaces or colons between bytes ("04 12 b8 ba ..."). An
 * othername with the UPN OID is rejected (use upn:). Malformed hex gives an
 * error naming the value and the word "hex". */
dcpki_code dcpki_san_parse(const char *arg, dcpki_san *out, dcpki_err *err);
void dcpki_san_clear(dcpki_san *s);

/* Simple e-mail / UPN shape check: one '@', non-empty local part and domain,
 * no spaces or control characters. */
int dcpki_is_email(const char *s);

/* Hex → bytes: whitespace and ':' between byte pairs tolerated. *out malloc'd. */
dcpki_code dcpki_hex_decode(const char *hex, unsigned char **out, size_t *out_len,
                            dcpki_err *err);

typedef struct dcpki_nvp {
    char *name;
    char *value;
} dcpki_nvp;

typedef struct dcpki_request_input {
    const char *subject;           /* required */
    const char *const *sans;       /* --san arguments */
    size_t n_sans;
    const char *upn_pair;          /* nameValuePair name for the UPN when the profile's policy
                                    * names none; NULL: DCPKI_DEFAULT_UPN_PAIR */
    const char *othername_pair;    /* same for other names; NULL: DCPKI_DEFAULT_OTHERNAME_PAIR */
    const char *seat_source;       /* where seat_id comes from (dcpki_config_seat_source):
                                    * "email" (NULL): the subject's e-mail (E, else a CN that is
                                    * an e-mail), else the CN; "cn": the CN; "dn:TYPE": the
                                    * subject attribute TYPE (dn:OU, dn:E, ...), which the
                                    * subject must have (else DCPKI_E_POLICY_VIOLATION naming it
                                    * and the [seat_id] key). A pair seat_id/seatId of the
                                    * profile's policy wins: its fixed value, else its DN type
                                    * when the subject has it. */
} dcpki_request_input;

/* A request ready to be sent: subject and SAN values after the fallbacks,
 * and the nameValuePairs. */
typedef struct dcpki_request {
    dcpki_subject *subject;
    char *email;            /* e-mail SAN that will be requested, NULL if none */
    const char *email_from; /* "--san email", "--san upn", "subject E", "subject CN" (static) */
    char *upn;              /* UPN SAN that will be requested, NULL if none */
    const char *upn_from;
    dcpki_san *othernames;  /* other names that will be requested */
    size_t n_othernames;
    dcpki_nvp *pairs;       /* what goes into requestVSSecurityToken/nameValuePair */
    size_t n_pairs;
} dcpki_request;

/* Applies the rules and fallbacks and checks the result against the policy.
 * Nothing is sent here. Errors carry a detail naming the attribute / SAN /
 * value and, for policy violations, the list of what the profile allows.
 * Codes: DCPKI_E_POLICY_VIOLATION (attribute / SAN / fixed value / mandatory
 * field against the profile), DCPKI_E_BAD_HEX (other-name value),
 * DCPKI_E_NO_EMAIL_SOURCE (no e-mail/UPN source for a SAN the profile needs),
 * DCPKI_E_UPN_NAME (UPN vs mail_firstName/mail_lastName), and
 * DCPKI_E_INVALID_ARGUMENT for input that is just malformed. */
dcpki_code dcpki_request_prepare(const dcpki_policy *pol, const dcpki_request_input *in,
                                 dcpki_request **out, dcpki_err *err);
void dcpki_request_free(dcpki_request *r);
/* Value of a pair by name, NULL when absent. */
const char *dcpki_request_pair(const dcpki_request *r, const char *name);

/* ---- CSRs ---- */

/* Loads a PKCS#10 request from PEM ("NEW CERTIFICATE REQUEST" or
 * "CERTIFICATE REQUEST") or DER and checks its self-signature. */
dcpki_code dcpki_csr_load(const unsigned char *data, size_t len, X509_REQ **out, dcpki_err *err);

/* Builds and signs (SHA-256) the PKCS#10 request of r with key: the subject's
 * attributes in the order given, and a subjectAltName extension with the
 * e-mail (rfc822Name), UPN (otherName, UTF8String) and other names (otherName
 * whose value is the given bytes when they are one DER value, else an OCTET
 * STRING holding them) that r asks for. *der is malloc'd. */
dcpki_code dcpki_request_build_csr(const dcpki_request *r, EVP_PKEY *key, unsigned char **der,
                                   size_t *der_len, dcpki_err *err);

/* The subject string and --san arguments of an existing CSR, so that a CSR
 * given with --csr goes through the same rules: "CN=a,E=b" (',' and '\'
 * escaped), "email:...", "upn:...", "othername:OID;HEX" (HEX = DER of the
 * value); other SAN types come out as "dns:...", "ip:...", "uri:..." and are
 * then refused by the rules. *subject and the array are malloc'd; free with
 * dcpki_csr_input_free. */
dcpki_code dcpki_csr_to_input(const X509_REQ *req, char **subject, char ***sans, size_t *n_sans,
                              dcpki_err *err);
void dcpki_csr_input_free(char *subject, char **sans, size_t n_sans);

/* Characters a mail_firstName/mail_lastName field takes: letters (ASCII or
 * UTF-8 non-ASCII), digits, space, hyphen, apostrophe. Returns the first byte
 * that is not allowed, or 0 when the string fits. */
int dcpki_name_field_bad_char(const char *s);

#endif

/* Subject / SAN rules of the connector (BRIEF.md §4) against profile policies:
 * every row and fallback, the errors of §6 that the client catches before
 * sending, the policy's key check and JSON rendering. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "dcpki/policy.h"
#include "dcpki/request.h"
#include "dcpki/issued_store.h"
#include "dcpki/pkcs12_out.h"

#include <openssl/pkcs12.h>
#include <sys/stat.h>
#include <unistd.h>

#define P1 "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
#define P2 "2.16.840.1.113733.1.16.1.2.3.1.1.61904612"
#define P3 "2.16.840.1.113733.1.16.1.2.3.1.1.11111111"

/* ---- policy construction ---- */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void add_attr(dcpki_policy *p, const char *dn, const char *name, int mandatory, const char *fixed)
{
    p->attrs = realloc(p->attrs, (p->n_attrs + 1) * sizeof(*p->attrs));
    assert_non_null(p->attrs);
    dcpki_policy_attr *a = &p->attrs[p->n_attrs++];
    a->dn = dup_or_null(dn);
    a->name = dup_or_null(name);
    a->mandatory = mandatory;
    a->fixed_value = dup_or_null(fixed);
}

static void add_san(dcpki_policy *p, dcpki_san_type t, const char *name, const char *oid, int mandatory)
{
    p->sans = realloc(p->sans, (p->n_sans + 1) * sizeof(*p->sans));
    assert_non_null(p->sans);
    dcpki_policy_san *s = &p->sans[p->n_sans++];
    s->type = t;
    s->name = dup_or_null(name);
    s->oid = dup_or_null(oid);
    s->mandatory = mandatory;
}

/* P1 of the emulator: subject CN (+ optional E); SAN e-mail and UPN; RSA 2048; 365 days. */
static dcpki_policy *policy1(int san_mandatory)
{
    dcpki_policy *p = dcpki_policy_new();
    assert_non_null(p);
    p->profile_oid = strdup(P1);
    p->friendly_name = strdup("IW users");
    add_attr(p, "CN", "common_name", 1, NULL);
    add_attr(p, "E", "mail_email", 0, NULL);
    add_san(p, DCPKI_SAN_EMAIL, "mail_email", NULL, san_mandatory);
    add_san(p, DCPKI_SAN_UPN, "upn", DCPKI_OID_UPN, san_mandatory);
    p->key_algorithm = "RSA";
    p->key_algorithm_oid = strdup("1.2.840.113549.1.1.1");
    p->key_size = 2048;
    p->validity_days = 365;
    return p;
}

/* P2: subject CN only; SAN other name DS Object GUID only. */
static dcpki_policy *policy2(void)
{
    dcpki_policy *p = dcpki_policy_new();
    assert_non_null(p);
    p->profile_oid = strdup(P2);
    add_attr(p, "CN", "common_name", 1, NULL);
    add_san(p, DCPKI_SAN_OTHERNAME, "other_name", DCPKI_OID_DS_OBJECT_GUID, 1);
    p->key_size = 2048;
    return p;
}

/* P3: subject CN + mail_firstName + mail_lastName; SAN UPN; O fixed. */
static dcpki_policy *policy3(void)
{
    dcpki_policy *p = dcpki_policy_new();
    assert_non_null(p);
    p->profile_oid = strdup(P3);
    add_attr(p, "CN", "common_name", 1, NULL);
    add_attr(p, "GN", "mail_firstName", 1, NULL);
    add_attr(p, "SN", "mail_lastName", 1, NULL);
    add_attr(p, "O", "corp_company", 0, "Contoso");
    add_san(p, DCPKI_SAN_UPN, "upn", DCPKI_OID_UPN, 1);
    return p;
}

/* Runs the rules; returns the code, fills *req on success and err always. */
static dcpki_code prep(const dcpki_policy *p, const char *subject, dcpki_request **req,
                       dcpki_err *err, ...)
{
    const char *sans[8];
    size_t n = 0;
    va_list ap;
    va_start(ap, err);
    const char *s;
    while ((s = va_arg(ap, const char *)) != NULL && n < 8)
        sans[n++] = s;
    va_end(ap);
    dcpki_request_input in = {.subject = subject, .sans = sans, .n_sans = n};
    dcpki_err_clear(err);
    *req = NULL;
    return dcpki_request_prepare(p, &in, req, err);
}

static void assert_pair(const dcpki_request *r, const char *name, const char *value)
{
    const char *v = dcpki_request_pair(r, name);
    if (value == NULL) {
        assert_null(v);
        return;
    }
    assert_non_null(v);
    assert_string_equal(v, value);
}

static void assert_detail_has(const dcpki_err *e, const char *needle)
{
    if (strstr(e->detail, needle) == NULL)
        fail_msg("error detail \"%s\" lacks \"%s\"", e->detail, needle);
}

/* ---- subject parsing ---- */

static void test_subject_forms(void **state)
{
    (void)state;
    dcpki_subject *s = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_subject_parse("CN=IWUser0,E=IWUser0@contoso.example", &s, &e), DCPKI_OK);
    assert_int_equal(s->n, 2);
    assert_string_equal(s->rdns[0].type, "CN");
    assert_string_equal(s->rdns[0].value, "IWUser0");
    assert_string_equal(s->rdns[1].type, "E");
    assert_string_equal(dcpki_subject_email(s), "IWUser0@contoso.example");
    dcpki_subject_free(s);

    assert_int_equal(dcpki_subject_parse("  CN = IWUser0 ,  E = IWUser0@contoso.example ", &s, &e), DCPKI_OK);
    assert_string_equal(dcpki_subject_get(s, "CN"), "IWUser0");
    assert_string_equal(dcpki_subject_get(s, "E"), "IWUser0@contoso.example");
    dcpki_subject_free(s);

    assert_int_equal(dcpki_subject_parse("CN=bob@contoso.example", &s, &e), DCPKI_OK);
    assert_string_equal(dcpki_subject_email(s), "bob@contoso.example");
    dcpki_subject_free(s);

    assert_int_equal(dcpki_subject_parse("CN=IWUser0", &s, &e), DCPKI_OK);
    assert_null(dcpki_subject_email(s));
    dcpki_subject_free(s);

    assert_int_equal(dcpki_subject_parse("/CN=a b/emailAddress=a@b.example/", &s, &e), DCPKI_OK);
    assert_int_equal(s->n, 2);
    assert_string_equal(dcpki_subject_get(s, "CN"), "a b");
    assert_string_equal(dcpki_subject_get(s, "E"), "a@b.example");
    dcpki_subject_free(s);

    assert_int_equal(dcpki_subject_parse("cn=Doe\\, John,givenName=John,surname=Doe,s=WA", &s, &e), DCPKI_OK);
    assert_string_equal(dcpki_subject_get(s, "CN"), "Doe, John");
    assert_string_equal(dcpki_subject_get(s, "GN"), "John");
    assert_string_equal(dcpki_subject_get(s, "SN"), "Doe");
    assert_string_equal(dcpki_subject_get(s, "ST"), "WA");
    dcpki_subject_free(s);
}

static void test_subject_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *needle;
    } bad[] = {
        {"", "empty"},
        {"CN", "TYPE=value"},
        {"CN=", "empty value"},
        {"XX=1", "\"XX\" is unknown"},
        {"CN=a,CN=b", "CN appears twice"},
        {"CN=a,,E=b@c.d", "empty component"},
        {"CN=a,E=not-an-email", "not an e-mail"},
        {"CN=a\x01", "control"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dcpki_subject *s = (dcpki_subject *)1;
        dcpki_err e;
        dcpki_err_clear(&e);
        assert_int_equal(dcpki_subject_parse(bad[i].in, &s, &e), DCPKI_E_INVALID_ARGUMENT);
        assert_null(s);
        assert_detail_has(&e, bad[i].needle);
    }
}

/* ---- --san parsing ---- */

static void test_san_parse(void **state)
{
    (void)state;
    dcpki_san s;
    dcpki_err e;
    assert_int_equal(dcpki_san_parse("email:IWUser0@contoso.example", &s, &e), DCPKI_OK);
    assert_int_equal(s.type, DCPKI_SAN_EMAIL);
    assert_string_equal(s.value, "IWUser0@contoso.example");
    dcpki_san_clear(&s);

    assert_int_equal(dcpki_san_parse("UPN:global_admin@contoso.example", &s, &e), DCPKI_OK);
    assert_int_equal(s.type, DCPKI_SAN_UPN);
    assert_string_equal(s.oid, DCPKI_OID_UPN);
    dcpki_san_clear(&s);

    assert_int_equal(dcpki_san_parse("othername:1.3.6.1.4.1.311.25.1;04 12 b8 ba", &s, &e), DCPKI_OK);
    assert_int_equal(s.type, DCPKI_SAN_OTHERNAME);
    assert_string_equal(s.oid, DCPKI_OID_DS_OBJECT_GUID);
    assert_int_equal(s.der_len, 4);
    static const unsigned char want[] = {0x04, 0x12, 0xb8, 0xba};
    assert_memory_equal(s.der, want, 4);
    dcpki_san_clear(&s);

    assert_int_equal(dcpki_san_parse("othername:1.3.6.1.4.1.311.25.1;04:12:B8:BA", &s, &e), DCPKI_OK);
    assert_memory_equal(s.der, want, 4);
    dcpki_san_clear(&s);
}

static void test_san_errors(void **state)
{
    (void)state;
    static const struct {
        const char *in, *needle;
        dcpki_code code;
    } bad[] = {
        {"othername:1.3.6.1.4.1.311.25.1;04zz", "malformed hex \"04zz\"", DCPKI_E_BAD_HEX},
        {"othername:1.3.6.1.4.1.311.25.1;04zz", "'z' at position 3", DCPKI_E_BAD_HEX},
        {"othername:1.3.6.1.4.1.311.25.1;041", "odd number of hex digits", DCPKI_E_BAD_HEX},
        {"othername:1.3.6.1.4.1.311.25.1;", "no hex digits", DCPKI_E_BAD_HEX},
        {"othername:1.3.6.1.4.1.311.25.1;  ", "no hex digits", DCPKI_E_BAD_HEX},
        {"othername:1.3.6.1.4.1.311.25.1", "othername:OID;HEX", DCPKI_E_INVALID_ARGUMENT},
        {"othername:not.an.oid;0410", "not a dotted OID", DCPKI_E_INVALID_ARGUMENT},
        {"othername:1.3.6.1.4.1.311.20.2.3;0410", "upn:", DCPKI_E_INVALID_ARGUMENT},
        {"email:nobody", "not an e-mail", DCPKI_E_INVALID_ARGUMENT},
        {"email:a b@c.d", "not an e-mail", DCPKI_E_INVALID_ARGUMENT},
        {"upn:x", "name@domain", DCPKI_E_INVALID_ARGUMENT},
        {"dns:host.example", "unknown type \"dns\"", DCPKI_E_INVALID_ARGUMENT},
        {"IWUser0@contoso.example", "not email:", DCPKI_E_INVALID_ARGUMENT},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        dcpki_san s;
        dcpki_err e;
        dcpki_err_clear(&e);
        assert_int_equal(dcpki_san_parse(bad[i].in, &s, &e), bad[i].code);
        assert_null(s.der);
        assert_null(s.value);
        assert_detail_has(&e, bad[i].needle);
    }
}

static void test_hex_decode(void **state)
{
    (void)state;
    unsigned char *b = NULL;
    size_t n = 0;
    dcpki_err e;
    assert_int_equal(dcpki_hex_decode(" 00ff\tA0 ", &b, &n, &e), DCPKI_OK);
    assert_int_equal(n, 3);
    assert_int_equal(b[0], 0x00);
    assert_int_equal(b[1], 0xff);
    assert_int_equal(b[2], 0xa0);
    free(b);
    assert_int_equal(dcpki_hex_decode("0g", &b, &n, &e), DCPKI_E_BAD_HEX);
    assert_null(b);
    assert_detail_has(&e, "hex");
}

/* ---- BRIEF §4 rows ---- */

/* Row 1: subject = common name only, SANs given. */
static void test_row_cn_only(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0", &r, &e, "email:IWUser0@contoso.example",
                          "upn:IWUser0@contoso.example", NULL), DCPKI_OK);
    assert_int_equal(r->n_pairs, 4);
    /* seat_id first; the subject has no e-mail, so it is the CN */
    assert_string_equal(r->pairs[0].name, "seat_id");
    assert_string_equal(r->pairs[0].value, "IWUser0");
    assert_string_equal(r->pairs[1].name, "common_name");
    assert_string_equal(r->pairs[1].value, "IWUser0");
    assert_pair(r, "mail_email", "IWUser0@contoso.example");
    assert_pair(r, "upn", "IWUser0@contoso.example");
    assert_string_equal(r->email_from, "--san email");
    assert_string_equal(r->upn_from, "--san upn");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* Row 2: common name + e-mail (the acceptance's enroll). */
static void test_row_cn_and_e(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0,E=IWUser0@contoso.example", &r, &e,
                          "email:IWUser0@contoso.example", "upn:IWUser0@contoso.example", NULL),
                     DCPKI_OK);
    assert_int_equal(r->n_pairs, 4);
    assert_pair(r, "seat_id", "IWUser0@contoso.example"); /* the subject's E */
    assert_pair(r, "common_name", "IWUser0");
    assert_pair(r, "mail_email", "IWUser0@contoso.example");
    assert_pair(r, "upn", "IWUser0@contoso.example");
    assert_string_equal(r->email, "IWUser0@contoso.example");
    assert_string_equal(r->upn, "IWUser0@contoso.example");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* Row 3: common name as an e-mail, no SAN given: both SANs fall back to it. */
static void test_row_cn_is_email(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=bob@contoso.example", &r, &e, NULL), DCPKI_OK);
    assert_pair(r, "common_name", "bob@contoso.example");
    assert_pair(r, "mail_email", "bob@contoso.example");
    assert_pair(r, "upn", "bob@contoso.example");
    assert_string_equal(r->email_from, "subject CN");
    assert_string_equal(r->upn_from, "subject CN");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* E-mail SAN missing → the UPN. */
static void test_fallback_email_from_upn(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0", &r, &e, "upn:iw.user@contoso.example", NULL), DCPKI_OK);
    assert_string_equal(r->email, "iw.user@contoso.example");
    assert_string_equal(r->email_from, "--san upn");
    assert_pair(r, "mail_email", "iw.user@contoso.example");
    assert_pair(r, "upn", "iw.user@contoso.example");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* E-mail SAN and UPN missing → the subject's e-mail (E). */
static void test_fallback_email_from_subject_e(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0,E=IWUser0@contoso.example", &r, &e, NULL), DCPKI_OK);
    assert_string_equal(r->email, "IWUser0@contoso.example");
    assert_string_equal(r->email_from, "subject E");
    assert_string_equal(r->upn, "IWUser0@contoso.example");
    assert_string_equal(r->upn_from, "subject E");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* UPN missing → the e-mail SAN (before the subject). */
static void test_fallback_upn_from_email(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=someone@other.example", &r, &e, "email:alice@contoso.example", NULL),
                     DCPKI_OK);
    assert_string_equal(r->upn, "alice@contoso.example");
    assert_string_equal(r->upn_from, "--san email");
    assert_string_equal(r->email, "alice@contoso.example");
    assert_pair(r, "upn", "alice@contoso.example");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* No e-mail anywhere: mandatory e-mail SAN → fail; the message names the sources. */
static void test_fallback_email_fails(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0", &r, &e, NULL), DCPKI_E_NO_EMAIL_SOURCE);
    assert_null(r);
    assert_detail_has(&e, "needs an e-mail SAN");
    assert_detail_has(&e, P1);
    dcpki_policy_free(p);
}

/* UPN mandatory, e-mail SAN not in the profile, nothing given → fail naming the UPN. */
static void test_fallback_upn_fails(void **state)
{
    (void)state;
    dcpki_policy *p = dcpki_policy_new();
    p->profile_oid = strdup(P1);
    add_attr(p, "CN", "common_name", 1, NULL);
    add_san(p, DCPKI_SAN_UPN, "upn", DCPKI_OID_UPN, 1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0", &r, &e, NULL), DCPKI_E_NO_EMAIL_SOURCE);
    assert_detail_has(&e, "needs a UPN SAN");
    /* the subject's e-mail CN is enough */
    assert_int_equal(prep(p, "CN=x@contoso.example", &r, &e, NULL), DCPKI_OK);
    assert_pair(r, "upn", "x@contoso.example");
    assert_null(dcpki_request_pair(r, "mail_email"));
    assert_null(r->email);
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* SAN types the profile makes optional: no fallback failure, no SAN sent. */
static void test_optional_sans(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(0);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0", &r, &e, NULL), DCPKI_OK);
    assert_int_equal(r->n_pairs, 2);
    assert_pair(r, "seat_id", "IWUser0");
    assert_pair(r, "common_name", "IWUser0");
    assert_null(r->email);
    assert_null(r->upn);
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* Fallbacks apply only to SAN types the profile has: P2 has no e-mail SAN,
 * so an e-mail CN produces no e-mail pair. */
static void test_fallback_only_for_profile_sans(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=dev@contoso.example", &r, &e,
                          "othername:1.3.6.1.4.1.311.25.1;04 10 b8 ba 5c 9e 01 02 03 04 05 06 07 08 09 0a 0b 0c",
                          NULL), DCPKI_OK);
    assert_null(r->email);
    assert_null(r->upn);
    assert_int_equal(r->n_pairs, 3);
    assert_pair(r, "seat_id", "dev@contoso.example"); /* a CN that is an e-mail */
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* Other name: hex → base64 of the bytes, unchecked (already-encoded value is not special). */
static void test_othername_base64(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=device1", &r, &e,
                          "othername:1.3.6.1.4.1.311.25.1;04 12 b8 ba", NULL), DCPKI_OK);
    assert_pair(r, "common_name", "device1");
    assert_pair(r, "other_name", "BBK4ug==");
    assert_int_equal(r->n_othernames, 1);
    dcpki_request_free(r);
    /* the hex of base64 text "BBK4ug==" is sent as base64 again: no detection */
    assert_int_equal(prep(p, "CN=device1", &r, &e,
                          "othername:1.3.6.1.4.1.311.25.1;42 424b 3475 673d 3d", NULL), DCPKI_OK);
    assert_pair(r, "other_name", "QkJLNHVnPT0=");
    dcpki_request_free(r);
    /* the caller's pair name, when the profile names none */
    const char *sans[] = {"othername:1.3.6.1.4.1.311.25.1;0412b8ba"};
    dcpki_request_input in = {.subject = "CN=d", .sans = sans, .n_sans = 1, .othername_pair = "guid"};
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_OK);
    assert_pair(r, "other_name", "BBK4ug==");
    dcpki_request_free(r);
    free(p->sans[0].name);
    p->sans[0].name = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_OK);
    assert_pair(r, "guid", "BBK4ug==");
    assert_null(dcpki_request_pair(r, "other_name"));
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

static void test_othername_missing_fails(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=device1", &r, &e, NULL), DCPKI_E_POLICY_VIOLATION);
    assert_null(r);
    assert_detail_has(&e, "other-name SAN with OID 1.3.6.1.4.1.311.25.1");
    assert_detail_has(&e, "--san othername:1.3.6.1.4.1.311.25.1;HEX");
    dcpki_policy_free(p);
}

static void test_bad_hex_through_prepare(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=x", &r, &e, "othername:1.3.6.1.4.1.311.25.1;04zz", NULL),
                     DCPKI_E_BAD_HEX);
    assert_null(r);
    assert_detail_has(&e, "malformed hex \"04zz\"");
    dcpki_policy_free(p);
}

/* Policy verification: SAN type not in the profile (acceptance refused_san). */
static void test_san_not_allowed(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=x", &r, &e, "email:x@contoso.example", NULL), DCPKI_E_POLICY_VIOLATION);
    assert_null(r);
    char fb[DCPKI_ERR_DETAIL_MAX + 512];
    assert_non_null(strstr(dcpki_err_format(&e, fb, sizeof fb), "policy verification failed"));
    assert_detail_has(&e, "e-mail (rfc822Name) SAN");
    assert_detail_has(&e, "allowed SANs: other name 1.3.6.1.4.1.311.25.1");
    /* other name with an OID the profile does not have */
    assert_int_equal(prep(p, "CN=x", &r, &e, "othername:1.2.3.4;0102", NULL), DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "with OID 1.2.3.4");
    /* UPN on a profile without UPN */
    assert_int_equal(prep(p, "CN=x", &r, &e, "upn:x@contoso.example", NULL), DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "UPN (otherName 1.3.6.1.4.1.311.20.2.3) SAN");
    dcpki_policy_free(p);
}

/* Policy verification: subject attribute not in the profile, named with the allowed list. */
static void test_attr_not_allowed(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=x,E=x@contoso.example", &r, &e,
                          "othername:1.3.6.1.4.1.311.25.1;0102", NULL), DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "subject attribute E is not in the attributes list of profile " P2);
    assert_detail_has(&e, "(allowed: CN (common_name) mandatory)");
    assert_int_equal(prep(p, "CN=x,OU=Sales", &r, &e, NULL), DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "subject attribute OU");
    dcpki_policy_free(p);
}

/* Fixed values: same value accepted (not sent, the CA sets it), other value refused. */
static void test_fixed_value(void **state)
{
    (void)state;
    dcpki_policy *p = policy3();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=John Doe,O=Contoso", &r, &e, "upn:john.doe@contoso.example", NULL),
                     DCPKI_OK);
    assert_null(dcpki_request_pair(r, "corp_company"));
    dcpki_request_free(r);
    assert_int_equal(prep(p, "CN=John Doe,O=Fabrikam", &r, &e, "upn:john.doe@contoso.example", NULL),
                     DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "O=\"Fabrikam\" differs from the value \"Contoso\"");
    dcpki_policy_free(p);
}

/* mail_firstName / mail_lastName from the UPN. */
static void test_names_from_upn(void **state)
{
    (void)state;
    dcpki_policy *p = policy3();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=John Doe", &r, &e, "upn:john.doe@contoso.example", NULL), DCPKI_OK);
    assert_pair(r, "common_name", "John Doe");
    assert_pair(r, "mail_firstName", "john");
    assert_pair(r, "mail_lastName", "doe");
    assert_pair(r, "upn", "john.doe@contoso.example");
    dcpki_request_free(r);
    /* explicit GN/SN win */
    assert_int_equal(prep(p, "CN=John Doe,GN=John,SN=O'Doe-Smith", &r, &e,
                          "upn:jd@contoso.example", NULL), DCPKI_OK);
    assert_pair(r, "mail_firstName", "John");
    assert_pair(r, "mail_lastName", "O'Doe-Smith");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* BRIEF §6: special characters in the UPN vs mail_firstName/mail_lastName. */
static void test_upn_special_chars(void **state)
{
    (void)state;
    dcpki_policy *p = policy3();
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=admin", &r, &e, "upn:global_admin@contoso.example", NULL),
                     DCPKI_E_UPN_NAME);
    assert_null(r);
    assert_detail_has(&e, "global_admin@contoso.example");
    assert_detail_has(&e, "('_')");
    assert_detail_has(&e, "mail_firstName/mail_lastName");
    assert_detail_has(&e, "CN=<upn>");
    /* through the fallback: the UPN comes from the subject CN */
    assert_int_equal(prep(p, "CN=first+tag@contoso.example", &r, &e, NULL), DCPKI_E_UPN_NAME);
    assert_detail_has(&e, "('+')");
    /* no first.last form */
    assert_int_equal(prep(p, "CN=x", &r, &e, "upn:IWUser@contoso.example", NULL),
                     DCPKI_E_UPN_NAME);
    assert_detail_has(&e, "not first.last@domain");
    assert_int_equal(prep(p, "CN=x", &r, &e, "upn:IWUser0@contoso.example", NULL),
                     DCPKI_E_UPN_NAME);
    assert_detail_has(&e, "('0')");
    assert_detail_has(&e, "CN=<upn>");
    /* explicit GN with a bad character */
    assert_int_equal(prep(p, "CN=x,GN=a_b,SN=c", &r, &e, "upn:a.c@contoso.example", NULL),
                     DCPKI_E_UPN_NAME);
    assert_detail_has(&e, "\"a_b\"");
    /* the fix of the seed: a profile that asks for CN=<upn> takes the same UPN */
    dcpki_policy *q = dcpki_policy_new();
    q->profile_oid = strdup(P1);
    add_attr(q, "CN", "common_name", 1, NULL);
    add_san(q, DCPKI_SAN_UPN, "upn", DCPKI_OID_UPN, 1);
    assert_int_equal(prep(q, "CN=global_admin@contoso.example", &r, &e, NULL), DCPKI_OK);
    assert_pair(r, "common_name", "global_admin@contoso.example");
    assert_pair(r, "upn", "global_admin@contoso.example");
    dcpki_request_free(r);
    dcpki_policy_free(q);
    dcpki_policy_free(p);
}

static void test_mandatory_attr_missing(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(0);
    p->attrs[1].mandatory = 1; /* E */
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0", &r, &e, "email:IWUser0@contoso.example", NULL),
                     DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "needs subject attribute E");
    /* a field that is not a DN attribute and has no fixed value */
    dcpki_policy *q = policy2();
    add_attr(q, NULL, "employeeID", 1, NULL);
    assert_int_equal(prep(q, "CN=x", &r, &e, "othername:1.3.6.1.4.1.311.25.1;01", NULL),
                     DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "\"employeeID\"");
    dcpki_policy_free(q);
    dcpki_policy_free(p);
}

static void test_conflicts_and_misc(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    /* subject E and e-mail SAN share the profile's field mail_email */
    assert_int_equal(prep(p, "CN=a,E=a@contoso.example", &r, &e, "email:b@contoso.example", NULL),
                     DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "\"mail_email\"");
    assert_int_equal(prep(p, "CN=a", &r, &e, "email:a@contoso.example", "email:b@contoso.example", NULL),
                     DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "more than one");
    assert_int_equal(prep(p, "E=a@contoso.example", &r, &e, NULL), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "has no CN");
    /* the caller's UPN pair name yields to the profile's ... */
    const char *sans[] = {"upn:a@contoso.example"};
    dcpki_request_input in = {.subject = "CN=a", .sans = sans, .n_sans = 1, .upn_pair = "userPrincipalName"};
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_OK);
    assert_pair(r, "upn", "a@contoso.example");
    assert_null(dcpki_request_pair(r, "userPrincipalName"));
    dcpki_request_free(r);
    /* ... and names the pair when the profile names none */
    free(p->sans[1].name);
    p->sans[1].name = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_OK);
    assert_pair(r, "userPrincipalName", "a@contoso.example");
    assert_null(dcpki_request_pair(r, "upn"));
    dcpki_request_free(r);
    /* default pair names when neither gives one */
    free(p->attrs[0].name);
    p->attrs[0].name = NULL;
    assert_int_equal(prep(p, "CN=a", &r, &e, "upn:a@contoso.example", NULL), DCPKI_OK);
    assert_pair(r, "upn", "a@contoso.example");
    assert_pair(r, "common_name", "a");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

static dcpki_code prep_seat(const dcpki_policy *p, const char *subject, const char *source,
                            dcpki_request **r, dcpki_err *e)
{
    dcpki_request_input in = {.subject = subject, .seat_source = source};
    dcpki_err_clear(e);
    return dcpki_request_prepare(p, &in, r, e);
}

/* seat_id: sent in every request, from the configured source */
static void test_seat_id(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(0);
    add_attr(p, "OU", "org_unit", 0, NULL);
    dcpki_request *r;
    dcpki_err e;
    static const struct {
        const char *subject, *source, *want;
    } ok[] = {
        {"CN=IWUser0,E=iw@contoso.example", NULL, "iw@contoso.example"},
        {"CN=IWUser0,E=iw@contoso.example", "email", "iw@contoso.example"},
        {"CN=IWUser0,E=iw@contoso.example", "cn", "IWUser0"},
        {"CN=IWUser0,E=iw@contoso.example", "dn:E", "iw@contoso.example"},
        {"CN=IWUser0,E=iw@contoso.example,OU=Seat 7", "dn:OU", "Seat 7"},
        {"CN=IWUser0,OU=Seat 7", "DN:organizationalUnitName", "Seat 7"},
        {"CN=iw@contoso.example", "email", "iw@contoso.example"},
        {"CN=IWUser0", "EMAIL", "IWUser0"},
    };
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        if (prep_seat(p, ok[i].subject, ok[i].source, &r, &e) != DCPKI_OK)
            fail_msg("%s / %s: %s", ok[i].subject, ok[i].source ? ok[i].source : "NULL", e.detail);
        assert_string_equal(r->pairs[0].name, "seat_id");
        assert_string_equal(r->pairs[0].value, ok[i].want);
        dcpki_request_free(r);
    }
    /* the source attribute is missing: the error names it and the [seat_id] key */
    assert_int_equal(prep_seat(p, "CN=IWUser0", "dn:OU", &r, &e), DCPKI_E_POLICY_VIOLATION);
    assert_null(r);
    assert_detail_has(&e, "has no OU");
    assert_detail_has(&e, "[seat_id]");
    assert_detail_has(&e, P1);
    assert_int_equal(prep_seat(p, "CN=IWUser0", "upn", &r, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "\"upn\"");
    assert_int_equal(prep_seat(p, "CN=IWUser0", "dn:XYZ", &r, &e), DCPKI_E_INVALID_ARGUMENT);

    /* the profile's own seatId pair: its DN type first, then the configured source */
    add_attr(p, NULL, "seatId", 1, NULL);
    free(p->attrs[p->n_attrs - 1].dn);
    p->attrs[p->n_attrs - 1].dn = strdup("OU");
    assert_int_equal(prep_seat(p, "CN=IWUser0,OU=S1", "cn", &r, &e), DCPKI_OK);
    assert_string_equal(r->pairs[0].name, "seatId");
    assert_string_equal(r->pairs[0].value, "S1");
    assert_null(dcpki_request_pair(r, "seat_id"));
    dcpki_request_free(r);
    /* its fixed value */
    free(p->attrs[p->n_attrs - 1].dn);
    p->attrs[p->n_attrs - 1].dn = NULL;
    p->attrs[p->n_attrs - 1].fixed_value = strdup("shared-seat");
    assert_int_equal(prep_seat(p, "CN=IWUser0", NULL, &r, &e), DCPKI_OK);
    assert_pair(r, "seatId", "shared-seat");
    dcpki_request_free(r);
    /* mandatory without a DN type or a fixed value: filled from the source, no error */
    free(p->attrs[p->n_attrs - 1].fixed_value);
    p->attrs[p->n_attrs - 1].fixed_value = NULL;
    assert_int_equal(prep_seat(p, "CN=IWUser0", "cn", &r, &e), DCPKI_OK);
    assert_pair(r, "seatId", "IWUser0");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* The UPN pair is named after the profile's policy, not the default "upn". */
static void test_upn_pair_from_policy(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    free(p->sans[1].name);
    p->sans[1].name = strdup("user_principal_name");
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=a,E=a@contoso.example", &r, &e, NULL), DCPKI_OK);
    assert_pair(r, "user_principal_name", "a@contoso.example");
    assert_null(dcpki_request_pair(r, "upn"));
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

static void test_name_field_chars(void **state)
{
    (void)state;
    assert_int_equal(dcpki_name_field_bad_char("Jean-Luc O'Neil Jr."), 0);
    assert_int_equal(dcpki_name_field_bad_char("John3"), '3');
    assert_int_equal(dcpki_name_field_bad_char("\xc3\x89lodie"), 0);
    assert_int_equal(dcpki_name_field_bad_char("global_admin"), '_');
    assert_int_equal(dcpki_name_field_bad_char("a@b"), '@');
    assert_true(dcpki_is_email("a@b"));
    assert_false(dcpki_is_email("a@@b"));
    assert_false(dcpki_is_email("@b"));
    assert_false(dcpki_is_email("a@"));
    assert_false(dcpki_is_email("a@b..c"));
    /* rfc822Name is ASCII; a UPN may be UTF-8 (and is then no e-mail SAN source) */
    dcpki_san san;
    dcpki_err e;
    assert_int_equal(dcpki_san_parse("email:j\xc3\xb6rg@contoso.example", &san, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_int_equal(dcpki_san_parse("upn:j\xc3\xb6rg@contoso.example", &san, &e), DCPKI_OK);
    dcpki_san_clear(&san);
    dcpki_policy *p = policy1(0);
    dcpki_request *r;
    assert_int_equal(prep(p, "CN=J", &r, &e, "upn:j\xc3\xb6rg@contoso.example", NULL), DCPKI_OK);
    assert_null(r->email);
    assert_string_equal(r->upn, "j\xc3\xb6rg@contoso.example");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* ---- policy: key check, JSON, text ---- */

static void test_policy_key_check(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_err e;
    EVP_PKEY *small = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)1024);
    EVP_PKEY *ok = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(small);
    assert_non_null(ok);
    assert_non_null(ec);
    assert_int_equal(dcpki_policy_check_key(p, ok, &e), DCPKI_OK);
    assert_int_equal(dcpki_policy_check_key(p, small, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "at least 2048 bits");
    assert_int_equal(dcpki_policy_check_key(p, ec, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "demands a RSA key");
    p->key_algorithm = NULL;
    p->key_size = 256;
    assert_int_equal(dcpki_policy_check_key(p, ec, &e), DCPKI_OK);
    EVP_PKEY_free(small);
    EVP_PKEY_free(ok);
    EVP_PKEY_free(ec);
    dcpki_policy_free(p);
}

static void test_policy_json(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    char *js = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_policy_to_json(p, 1, &js, &e), DCPKI_OK);
    json_object *o = json_tokener_parse(js);
    assert_non_null(o);
    json_object *v;
    assert_true(json_object_object_get_ex(o, "profile_oid", &v));
    assert_string_equal(json_object_get_string(v), P1);
    assert_true(json_object_object_get_ex(o, "subject", &v));
    assert_int_equal(json_object_array_length(v), 2);
    json_object *a0 = json_object_array_get_idx(v, 0), *x;
    assert_true(json_object_object_get_ex(a0, "attribute", &x));
    assert_string_equal(json_object_get_string(x), "CN");
    assert_true(json_object_object_get_ex(a0, "mandatory", &x));
    assert_true(json_object_get_boolean(x));
    assert_true(json_object_object_get_ex(o, "san", &v));
    assert_int_equal(json_object_array_length(v), 2);
    assert_true(json_object_object_get_ex(json_object_array_get_idx(v, 1), "type", &x));
    assert_string_equal(json_object_get_string(x), "upn");
    assert_true(json_object_object_get_ex(o, "key", &v));
    assert_true(json_object_object_get_ex(v, "min_size", &x));
    assert_int_equal(json_object_get_int(x), 2048);
    assert_true(json_object_object_get_ex(v, "algorithm", &x));
    assert_string_equal(json_object_get_string(x), "RSA");
    assert_true(json_object_object_get_ex(o, "validity", &v));
    assert_true(json_object_object_get_ex(v, "days", &x));
    assert_int_equal(json_object_get_int(x), 365);
    json_object_put(o);
    free(js);

    char *txt = NULL;
    assert_int_equal(dcpki_policy_to_text(p, &txt, &e), DCPKI_OK);
    assert_non_null(strstr(txt, "profile: " P1));
    assert_non_null(strstr(txt, "CN (common_name): mandatory"));
    assert_non_null(strstr(txt, "e-mail (rfc822Name) (pair mail_email): mandatory"));
    assert_non_null(strstr(txt, "key: RSA, at least 2048 bits"));
    assert_non_null(strstr(txt, "validity: 365 days"));
    free(txt);

    char buf[256];
    assert_string_equal(dcpki_policy_allowed_attrs(p, buf, sizeof(buf)),
                        "CN (common_name) mandatory, E (mail_email)");
    dcpki_policy_free(p);
}

/* ---- CSRs ---- */

static EVP_PKEY *test_key(void)
{
    static EVP_PKEY *k;
    if (k == NULL)
        k = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    assert_non_null(k);
    return k;
}

/* CSR built from the request, read back, and its subject/SANs through the rules again. */
static void csr_roundtrip(dcpki_policy *p, dcpki_request *r, const char *want_subject,
                          const char *const *want_sans, size_t n_want)
{
    unsigned char *der = NULL;
    size_t len = 0;
    dcpki_err e;
    assert_int_equal(dcpki_request_build_csr(r, test_key(), &der, &len, &e), DCPKI_OK);
    X509_REQ *req = NULL;
    assert_int_equal(dcpki_csr_load(der, len, &req, &e), DCPKI_OK);
    char *subj = NULL, **sans = NULL;
    size_t n = 0;
    assert_int_equal(dcpki_csr_to_input(req, &subj, &sans, &n, &e), DCPKI_OK);
    assert_string_equal(subj, want_subject);
    assert_int_equal(n, n_want);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(sans[i], want_sans[i]);
    dcpki_request_input in = {.subject = subj, .sans = (const char *const *)sans, .n_sans = n};
    dcpki_request *again = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &again, &e), DCPKI_OK);
    assert_int_equal(again->n_pairs, r->n_pairs);
    for (size_t i = 0; i < r->n_pairs; i++) {
        assert_string_equal(again->pairs[i].name, r->pairs[i].name);
        assert_string_equal(again->pairs[i].value, r->pairs[i].value);
    }
    dcpki_request_free(again);
    dcpki_csr_input_free(subj, sans, n);
    X509_REQ_free(req);
    free(der);
}

static void test_csr_build_and_read(void **state)
{
    (void)state;
    dcpki_policy *p = policy1(1);
    dcpki_request *r;
    dcpki_err e;
    assert_int_equal(prep(p, "CN=IWUser0,E=IWUser0@contoso.example", &r, &e,
                          "email:IWUser0@contoso.example", "upn:IWUser0@contoso.example", NULL), DCPKI_OK);
    csr_roundtrip(p, r, "CN=IWUser0,E=IWUser0@contoso.example",
                  (const char *const[]){"email:IWUser0@contoso.example", "upn:IWUser0@contoso.example"}, 2);
    dcpki_request_free(r);
    /* fallback values end up in the CSR too */
    assert_int_equal(prep(p, "CN=bob@contoso.example", &r, &e, NULL), DCPKI_OK);
    csr_roundtrip(p, r, "CN=bob@contoso.example",
                  (const char *const[]){"email:bob@contoso.example", "upn:bob@contoso.example"}, 2);
    dcpki_request_free(r);
    dcpki_policy_free(p);

    p = policy2();
    /* a DER OCTET STRING (a DS object GUID) stays as given */
    assert_int_equal(prep(p, "CN=dev\\,1", &r, &e,
                          "othername:1.3.6.1.4.1.311.25.1;04 10 00112233445566778899aabbccddeeff", NULL),
                     DCPKI_OK);
    csr_roundtrip(p, r, "CN=dev\\,1",
                  (const char *const[]){"othername:1.3.6.1.4.1.311.25.1;041000112233445566778899aabbccddeeff"}, 1);
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

static void test_csr_non_der_othername(void **state)
{
    (void)state;
    dcpki_policy *p = policy2();
    dcpki_request *r;
    dcpki_err e;
    /* "04 12 b8 ba" is no complete DER value: wrapped in an OCTET STRING in the CSR */
    assert_int_equal(prep(p, "CN=d", &r, &e, "othername:1.3.6.1.4.1.311.25.1;04 12 b8 ba", NULL), DCPKI_OK);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(dcpki_request_build_csr(r, test_key(), &der, &len, &e), DCPKI_OK);
    X509_REQ *req = NULL;
    assert_int_equal(dcpki_csr_load(der, len, &req, &e), DCPKI_OK);
    char *subj = NULL, **sans = NULL;
    size_t n = 0;
    assert_int_equal(dcpki_csr_to_input(req, &subj, &sans, &n, &e), DCPKI_OK);
    assert_int_equal(n, 1);
    assert_string_equal(sans[0], "othername:1.3.6.1.4.1.311.25.1;04040412b8ba");
    dcpki_csr_input_free(subj, sans, n);
    X509_REQ_free(req);

    /* tampered signature */
    der[len - 5] ^= 0x55;
    assert_int_equal(dcpki_csr_load(der, len, &req, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_null(req);
    assert_detail_has(&e, "signature");
    free(der);
    assert_int_equal(dcpki_csr_load((const unsigned char *)"junk", 4, &req, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "no PKCS#10");
    dcpki_request_free(r);
    dcpki_policy_free(p);
}

/* An existing CSR (PEM, old "NEW CERTIFICATE REQUEST" label, DNS SAN) through the rules. */
static void test_csr_foreign(void **state)
{
    (void)state;
    X509_REQ *req = X509_REQ_new();
    X509_NAME *nm = X509_NAME_new();
    X509_NAME_add_entry_by_txt(nm, "CN", MBSTRING_UTF8, (const unsigned char *)"web", -1, -1, 0);
    X509_NAME_add_entry_by_txt(nm, "OU", MBSTRING_UTF8, (const unsigned char *)"Ops", -1, -1, 0);
    X509_REQ_set_subject_name(req, nm);
    X509_NAME_free(nm);
    X509_REQ_set_pubkey(req, test_key());
    STACK_OF(X509_EXTENSION) *exts = sk_X509_EXTENSION_new_null();
    X509_EXTENSION *x = X509V3_EXT_conf_nid(NULL, NULL, NID_subject_alt_name, "DNS:web.contoso.example");
    sk_X509_EXTENSION_push(exts, x);
    X509_REQ_add_extensions(req, exts);
    sk_X509_EXTENSION_pop_free(exts, X509_EXTENSION_free);
    assert_true(X509_REQ_sign(req, test_key(), EVP_sha256()) > 0);
    BIO *b = BIO_new(BIO_s_mem());
    PEM_write_bio_X509_REQ_NEW(b, req);
    X509_REQ_free(req);
    char *pem = NULL;
    long pl = BIO_get_mem_data(b, &pem);
    assert_non_null(strstr(pem, "NEW CERTIFICATE REQUEST"));
    dcpki_err e;
    req = NULL;
    assert_int_equal(dcpki_csr_load((const unsigned char *)pem, (size_t)pl, &req, &e), DCPKI_OK);
    BIO_free(b);
    char *subj = NULL, **sans = NULL;
    size_t n = 0;
    assert_int_equal(dcpki_csr_to_input(req, &subj, &sans, &n, &e), DCPKI_OK);
    assert_string_equal(subj, "CN=web,OU=Ops");
    assert_int_equal(n, 1);
    assert_string_equal(sans[0], "dns:web.contoso.example");
    dcpki_policy *p = policy1(0);
    dcpki_request_input in = {.subject = subj, .sans = (const char *const *)sans, .n_sans = n};
    dcpki_request *r = NULL;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_detail_has(&e, "unknown type \"dns\"");
    in.n_sans = 0;
    assert_int_equal(dcpki_request_prepare(p, &in, &r, &e), DCPKI_E_POLICY_VIOLATION);
    assert_detail_has(&e, "subject attribute OU is not in the attributes list");
    dcpki_policy_free(p);
    dcpki_csr_input_free(subj, sans, n);
    X509_REQ_free(req);
}


/* a self-signed certificate for key (stands in for the CA's answer) */
static X509 *self_cert(EVP_PKEY *key, long serial)
{
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)"t", -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

static void test_keygen_and_pkcs12(void **state)
{
    (void)state;
    dcpki_err e;
    EVP_PKEY *k = NULL;
    assert_int_equal(dcpki_keygen_for_policy(NULL, &k, &e), DCPKI_OK);
    assert_true(EVP_PKEY_is_a(k, "RSA"));
    assert_int_equal(EVP_PKEY_get_bits(k), 2048);
    dcpki_policy *p = dcpki_policy_new();
    p->key_algorithm = "RSA";
    p->key_size = 3072;
    EVP_PKEY *k3 = NULL;
    assert_int_equal(dcpki_keygen_for_policy(p, &k3, &e), DCPKI_OK);
    assert_int_equal(EVP_PKEY_get_bits(k3), 3072);
    EVP_PKEY_free(k3);
    p->key_algorithm = "EC";
    p->key_size = 384;
    assert_int_equal(dcpki_keygen_for_policy(p, &k3, &e), DCPKI_OK);
    assert_true(EVP_PKEY_is_a(k3, "EC"));
    assert_int_equal(EVP_PKEY_get_bits(k3), 384);
    EVP_PKEY_free(k3);
    p->key_algorithm = "DSA";
    assert_int_equal(dcpki_keygen_for_policy(p, &k3, &e), DCPKI_E_UNSUPPORTED);
    p->key_algorithm = NULL; /* static string: not freed */
    dcpki_policy_free(p);

    X509 *c = self_cert(k, 7);
    unsigned char *der = NULL;
    size_t len = 0;
    assert_int_equal(dcpki_pkcs12_make(k, c, NULL, 0, "", NULL, &der, &len, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_int_equal(dcpki_pkcs12_make(k, c, &c, 1, "pw", "t", &der, &len, &e), DCPKI_OK);
    const unsigned char *q = der;
    PKCS12 *p12 = d2i_PKCS12(NULL, &q, (long)len);
    assert_non_null(p12);
    assert_int_equal(PKCS12_verify_mac(p12, "wrong", -1), 0);
    assert_int_equal(PKCS12_verify_mac(p12, "pw", -1), 1);
    const X509_ALGOR *macalg = NULL;
    PKCS12_get0_mac(NULL, &macalg, NULL, NULL, p12);
    assert_int_equal(OBJ_obj2nid(macalg->algorithm), NID_sha256);
    EVP_PKEY *k2 = NULL;
    X509 *c2 = NULL;
    STACK_OF(X509) *ca = NULL;
    assert_int_equal(PKCS12_parse(p12, "pw", &k2, &c2, &ca), 1);
    assert_int_equal(EVP_PKEY_eq(k, k2), 1);
    assert_int_equal(X509_cmp(c, c2), 0);
    assert_int_equal(sk_X509_num(ca), 1);
    EVP_PKEY_free(k2);
    X509_free(c2);
    sk_X509_pop_free(ca, X509_free);
    PKCS12_free(p12);
    free(der);
    /* a certificate for another key is refused */
    EVP_PKEY *other = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_int_equal(dcpki_pkcs12_make(other, c, NULL, 0, "pw", NULL, &der, &len, &e), DCPKI_E_INTERNAL);
    EVP_PKEY_free(other);
    X509_free(c);
    EVP_PKEY_free(k);
}

static void test_store_entry_ids(void **state)
{
    (void)state;
    dcpki_err e;

    /* normalisation: the same request in other spellings gives the same id */
    char *s1 = NULL, *s2 = NULL, *n1 = NULL, *n2 = NULL, *n3 = NULL;
    assert_int_equal(dcpki_store_norm_subject("CN=IWUser0,E=IWUser0@contoso.example", &s1, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_norm_subject("/commonName=IWUser0/emailAddress=IWUser0@contoso.example", &s2, &e), DCPKI_OK);
    assert_string_equal(s1, s2);
    free(s2);
    assert_int_equal(dcpki_store_norm_san("othername:1.3.6.1.4.1.311.25.1;04 10 b8:ba", &n1, &e), DCPKI_OK);
    assert_string_equal(n1, "othername:1.3.6.1.4.1.311.25.1;0410B8BA");
    assert_int_equal(dcpki_store_norm_san("rfc822:a@contoso.example", &n2, &e), DCPKI_OK);
    assert_string_equal(n2, "email:a@contoso.example");
    assert_int_equal(dcpki_store_norm_san("upn:a@contoso.example", &n3, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_norm_san("othername:1.2.3;zz", &s2 /* unused */, &e), DCPKI_E_BAD_HEX);
    const char *sa[] = {n2, n3}, *sb[] = {n3, n2};
    dcpki_store_entry a, b, c;
    assert_int_equal(dcpki_store_entry_init(&a, "h:1", P1, "gen", s1, sa, 2, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_entry_init(&b, "h:1", P1, "gen", s1, sb, 2, &e), DCPKI_OK);
    assert_string_equal(a.id, b.id);
    assert_int_equal(strlen(a.id), DCPKI_STORE_ID_LEN);
    assert_int_equal(dcpki_store_entry_init(&c, "h:2", P1, "gen", s1, sa, 2, &e), DCPKI_OK);
    assert_string_not_equal(a.id, c.id);
    dcpki_store_entry_clear(&c);
    assert_int_equal(dcpki_store_entry_init(&c, "h:1", P1, "gen", s1, sa, 1, &e), DCPKI_OK);
    assert_string_not_equal(a.id, c.id);
    dcpki_store_entry_clear(&c);
    dcpki_store_entry_clear(&b);

    /* the entries' storage is tested in test_store.c */
    dcpki_store_entry_clear(&a);
    free(s1);
    free(n1);
    free(n2);
    free(n3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_forms),
        cmocka_unit_test(test_keygen_and_pkcs12),
        cmocka_unit_test(test_store_entry_ids),
        cmocka_unit_test(test_subject_errors),
        cmocka_unit_test(test_san_parse),
        cmocka_unit_test(test_san_errors),
        cmocka_unit_test(test_hex_decode),
        cmocka_unit_test(test_row_cn_only),
        cmocka_unit_test(test_row_cn_and_e),
        cmocka_unit_test(test_row_cn_is_email),
        cmocka_unit_test(test_fallback_email_from_upn),
        cmocka_unit_test(test_fallback_email_from_subject_e),
        cmocka_unit_test(test_fallback_upn_from_email),
        cmocka_unit_test(test_fallback_email_fails),
        cmocka_unit_test(test_fallback_upn_fails),
        cmocka_unit_test(test_optional_sans),
        cmocka_unit_test(test_fallback_only_for_profile_sans),
        cmocka_unit_test(test_othername_base64),
        cmocka_unit_test(test_othername_missing_fails),
        cmocka_unit_test(test_bad_hex_through_prepare),
        cmocka_unit_test(test_san_not_allowed),
        cmocka_unit_test(test_attr_not_allowed),
        cmocka_unit_test(test_fixed_value),
        cmocka_unit_test(test_names_from_upn),
        cmocka_unit_test(test_upn_special_chars),
        cmocka_unit_test(test_mandatory_attr_missing),
        cmocka_unit_test(test_conflicts_and_misc),
        cmocka_unit_test(test_seat_id),
        cmocka_unit_test(test_upn_pair_from_policy),
        cmocka_unit_test(test_name_field_chars),
        cmocka_unit_test(test_policy_key_check),
        cmocka_unit_test(test_policy_json),
        cmocka_unit_test(test_csr_build_and_read),
        cmocka_unit_test(test_csr_non_der_othername),
        cmocka_unit_test(test_csr_foreign),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    EVP_PKEY_free(test_key());
    return rc;
}

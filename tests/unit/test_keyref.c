/* Key reference files: PEM "DCPKI KEY REFERENCE" around
 * SEQUENCE { INTEGER 1, UTF8String uri }. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "dcpki/keyref.h"

static void test_roundtrip(void **state)
{
    (void)state;
    const char *uri = "dcpki:key=issuing-ca";
    unsigned char *der = NULL;
    size_t len = 0;
    dcpki_err e;
    assert_int_equal(dcpki_keyref_encode_der(uri, &der, &len, &e), DCPKI_OK);
    /* 30 17 02 01 01 0C 12 "dcpki:key=issuing-ca" */
    static const unsigned char want[] = { 0x30, 0x19, 0x02, 0x01, 0x01, 0x0C, 0x14 };
    assert_int_equal(len, sizeof(want) + strlen(uri));
    assert_memory_equal(der, want, sizeof(want));
    assert_memory_equal(der + sizeof(want), uri, strlen(uri));
    char *back = NULL;
    assert_int_equal(dcpki_keyref_decode_der(der, len, &back, &e), DCPKI_OK);
    assert_string_equal(back, uri);
    free(back);
    OPENSSL_free(der);

    char *pem = NULL;
    assert_int_equal(dcpki_keyref_pem("dcpki:key=ec-ca;type=private", &pem, &e), DCPKI_OK);
    assert_non_null(strstr(pem, "-----BEGIN DCPKI KEY REFERENCE-----\n"));
    assert_non_null(strstr(pem, "-----END DCPKI KEY REFERENCE-----\n"));
    assert_null(strstr(pem, "Proc-Type"));
    assert_int_equal(dcpki_keyref_parse_pem(pem, strlen(pem), &back, &e), DCPKI_OK);
    assert_string_equal(back, "dcpki:key=ec-ca;type=private");
    free(back);
    free(pem);
}

static void test_bad(void **state)
{
    (void)state;
    dcpki_err e;
    unsigned char *der;
    size_t len;
    char *uri;
    assert_int_equal(dcpki_keyref_encode_der("pkcs11:object=x", &der, &len, &e), DCPKI_E_URI);
    assert_int_equal(dcpki_keyref_pem("dcpki:key=", &uri, &e), DCPKI_E_URI);

    /* version 2 */
    static const unsigned char v2[] = { 0x30, 0x0B, 0x02, 0x01, 0x02, 0x0C, 0x06, 'd', 'c', 'p', 'k', 'i', ':' };
    assert_int_equal(dcpki_keyref_decode_der(v2, sizeof(v2), &uri, &e), DCPKI_E_KEYREF);
    assert_string_equal(e.detail, "unsupported version (expected 1)");
    /* bad uri inside */
    static const unsigned char badu[] = { 0x30, 0x0D, 0x02, 0x01, 0x01, 0x0C, 0x08, 'd', 'c', 'p', 'k', 'i', ':', 'x', 'y' };
    assert_int_equal(dcpki_keyref_decode_der(badu, sizeof(badu), &uri, &e), DCPKI_E_KEYREF);
    assert_string_equal(e.detail, "it holds a bad URI: 'dcpki:xy': unknown attribute 'xy'");
    /* trailing garbage */
    static const unsigned char trail[] = { 0x30, 0x0D, 0x02, 0x01, 0x01, 0x0C, 0x08, 'd', 'c', 'p', 'k', 'i', ':', 'r', 'a', 0x00 };
    assert_int_equal(dcpki_keyref_decode_der(trail, sizeof(trail), &uri, &e), DCPKI_E_KEYREF);
    assert_string_equal(e.detail, "1 bytes of garbage follow the reference");
    assert_int_equal(dcpki_keyref_decode_der(trail, sizeof(trail) - 1, &uri, &e), DCPKI_OK);
    assert_string_equal(uri, "dcpki:ra");
    free(uri);
    /* not a sequence */
    static const unsigned char junk[] = { 0x04, 0x02, 0x01, 0x02 };
    assert_int_equal(dcpki_keyref_decode_der(junk, sizeof(junk), &uri, &e), DCPKI_E_KEYREF);
    assert_string_equal(e.detail, "the body is not a DER SEQUENCE { version INTEGER, uri UTF8String }");
    assert_int_equal(dcpki_keyref_decode_der(junk, 0, &uri, &e), DCPKI_E_KEYREF);
    /* a PEM with another label */
    const char *other = "-----BEGIN PRIVATE KEY-----\nMAA=\n-----END PRIVATE KEY-----\n";
    assert_int_equal(dcpki_keyref_parse_pem(other, strlen(other), &uri, &e), DCPKI_E_KEYREF);
    assert_string_equal(e.detail, "the PEM label is 'PRIVATE KEY', not 'DCPKI KEY REFERENCE'");
    assert_int_equal(dcpki_keyref_parse_pem("hello", 5, &uri, &e), DCPKI_E_KEYREF);
    assert_string_equal(e.detail, "no PEM block found");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_bad),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

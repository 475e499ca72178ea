/* Error catalogue: every code has an id, a sentence and a remedy; ids are
 * unique; dcpki_err_format gives "sentence: detail (remedy)". */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dcpki/error.h"

static void test_every_code_is_catalogued(void **state)
{
    (void)state;
    for (int c = 0; c < DCPKI_E__COUNT; c++) {
        const char *id = dcpki_code_id((dcpki_code)c);
        const char *s = dcpki_code_sentence((dcpki_code)c);
        const char *r = dcpki_code_remedy((dcpki_code)c);
        assert_non_null(id);
        assert_non_null(s);
        assert_non_null(r);
        assert_true(strlen(id) > 1);
        assert_true(strlen(s) > 3);
        assert_true(strlen(r) > 3);
        /* ids are lower-case identifiers */
        for (const char *p = id; *p; p++)
            assert_true((*p >= 'a' && *p <= 'z') || *p == '_');
        /* sentences have no final period */
        assert_true(s[strlen(s) - 1] != '.');
        for (int d = 0; d < c; d++)
            assert_string_not_equal(id, dcpki_code_id((dcpki_code)d));
    }
    /* codes outside the table do not crash */
    assert_string_equal(dcpki_code_id((dcpki_code)9999), "internal");
    assert_string_equal(dcpki_code_id((dcpki_code)-1), "internal");
}

static void test_brief_sentences(void **state)
{
    (void)state;
    assert_string_equal(dcpki_code_id(DCPKI_E_TIMEOUT), "timeout");
    assert_string_equal(dcpki_code_sentence(DCPKI_E_TIMEOUT), "the operation has timed out");
    assert_string_equal(dcpki_code_remedy(DCPKI_E_TIMEOUT),
                        "raise [ca] timeout_ms (CloudCAConnTimeoutInMilliseconds) or check that the service is reachable, then retry");
    assert_string_equal(dcpki_code_sentence(DCPKI_E_RA_CERT_NOT_FOUND),
                        "unable to retrieve the client (RA) certificate");
    assert_string_equal(dcpki_code_remedy(DCPKI_E_RA_CERT_NOT_FOUND),
                        "install the RA certificate with its private key and check [ra] certificate_thumbprint / certificate");
    assert_string_equal(dcpki_code_sentence(DCPKI_E_TLS_SERVER_UNTRUSTED),
                        "could not create SSL/TLS secure channel: the server certificate is not trusted");
    assert_string_equal(dcpki_code_remedy(DCPKI_E_TLS_SERVER_UNTRUSTED), "check [ca] trust and the host name");
    assert_string_equal(dcpki_code_sentence(DCPKI_E_KEY_NOT_FOUND), "no signing key with that alias");
    assert_string_equal(dcpki_code_remedy(DCPKI_E_KEY_NOT_FOUND), "list keys with `dcpki keys list`");
    assert_non_null(strstr(dcpki_code_sentence(DCPKI_E_TLS_CLIENT), "SSL/TLS secure channel"));
    assert_non_null(strstr(dcpki_code_sentence(DCPKI_E_TLS), "SSL/TLS secure channel"));
}

static void test_set_and_format(void **state)
{
    (void)state;
    dcpki_err e;
    char buf[1024];
    assert_int_equal(dcpki_err_set(&e, DCPKI_E_TIMEOUT, "GET %s: %d ms", "https://x/y", 30000), DCPKI_E_TIMEOUT);
    assert_int_equal(e.code, DCPKI_E_TIMEOUT);
    assert_string_equal(e.detail, "GET https://x/y: 30000 ms");
    assert_string_equal(dcpki_err_format(&e, buf, sizeof(buf)),
                        "the operation has timed out: GET https://x/y: 30000 ms (raise [ca] timeout_ms "
                        "(CloudCAConnTimeoutInMilliseconds) or check that the service is reachable, then retry)");
    /* empty detail: no ": " */
    dcpki_err_set(&e, DCPKI_E_KEY_NOT_FOUND, NULL);
    assert_string_equal(dcpki_err_format(&e, buf, sizeof(buf)),
                        "no signing key with that alias (list keys with `dcpki keys list`)");
    /* truncation is safe */
    char small[16];
    dcpki_err_format(&e, small, sizeof(small));
    assert_int_equal(strlen(small), 15);
    /* long detail is truncated, never overflows */
    char longs[2000];
    memset(longs, 'a', sizeof(longs) - 1);
    longs[sizeof(longs) - 1] = '\0';
    dcpki_err_set(&e, DCPKI_E_IO, "%s", longs);
    assert_int_equal(strlen(e.detail), DCPKI_ERR_DETAIL_MAX - 1);
    /* NULL err is accepted by set */
    assert_int_equal(dcpki_err_set(NULL, DCPKI_E_IO, "x"), DCPKI_E_IO);
    dcpki_err_clear(&e);
    assert_int_equal(e.code, DCPKI_OK);
    assert_string_equal(e.detail, "");
}

/* untrusted text in messages: control characters escaped, UTF-8 kept */
static void test_escape(void **state)
{
    (void)state;
    char out[128];
    assert_string_equal(dcpki_escape("dcpki:key=\x1b[31mred", out, sizeof(out)), "dcpki:key=\\x1b[31mred");
    assert_string_equal(dcpki_escape("dns:a\nb\r\tc\x7f", out, sizeof(out)), "dns:a\\nb\\r\\tc\\x7f");
    assert_string_equal(dcpki_escape("CN=J\xc3\xbcrgen \xe2\x82\xac", out, sizeof(out)), "CN=J\xc3\xbcrgen \xe2\x82\xac");
    /* a C1 control (CSI as U+009B), a lone continuation byte, an overlong form */
    assert_string_equal(dcpki_escape("a\xc2\x9b" "b\x9b" "c\xc0\xaf", out, sizeof(out)), "a\\xc2\\x9bb\\x9bc\\xc0\\xaf");
    /* truncation never splits an escape and always terminates */
    assert_string_equal(dcpki_escape("ab\x1b", out, 5), "ab");
    assert_string_equal(dcpki_escape(NULL, out, sizeof(out)), "");
    dcpki_err e;
    dcpki_err_set(&e, DCPKI_E_URI, "bad URI '%s'", "x\ny\x1b");
    assert_string_equal(e.detail, "bad URI 'x\\ny\\x1b'");
    for (const char *c = e.detail; *c; c++)
        assert_true((unsigned char)*c >= 0x20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_code_is_catalogued),
        cmocka_unit_test(test_brief_sentences),
        cmocka_unit_test(test_set_and_format),
        cmocka_unit_test(test_escape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

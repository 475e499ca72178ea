/* dcpki: URIs (DESIGN.md "URIs and key reference files"). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dcpki/uri.h"

static dcpki_uri parse_ok(const char *s)
{
    dcpki_uri u;
    dcpki_err e;
    dcpki_code rc = dcpki_uri_parse(s, &u, &e);
    if (rc != DCPKI_OK)
        fail_msg("%s: %s", s, e.detail);
    return u;
}

static void bad(const char *s, const char *detail)
{
    dcpki_uri u;
    dcpki_err e;
    assert_int_equal(dcpki_uri_parse(s, &u, &e), DCPKI_E_URI);
    assert_int_equal(e.code, DCPKI_E_URI);
    assert_string_equal(e.detail, detail);
}

static void test_good(void **state)
{
    (void)state;
    dcpki_uri u = parse_ok("dcpki:ra");
    assert_int_equal(u.kind, DCPKI_URI_RA);
    assert_int_equal(u.type, DCPKI_OBJ_ANY);
    assert_string_equal(u.alias, "");
    u = parse_ok("dcpki:key=issuing-ca");
    assert_int_equal(u.kind, DCPKI_URI_KEY);
    assert_string_equal(u.alias, "issuing-ca");
    assert_int_equal(u.type, DCPKI_OBJ_ANY);
    u = parse_ok("dcpki:key=issuing-ca;type=private");
    assert_int_equal(u.type, DCPKI_OBJ_PRIVATE);
    u = parse_ok("dcpki:key=ec-ca;type=public");
    assert_int_equal(u.type, DCPKI_OBJ_PUBLIC);
    u = parse_ok("dcpki:ra;type=cert");
    assert_int_equal(u.kind, DCPKI_URI_RA);
    assert_int_equal(u.type, DCPKI_OBJ_CERT);
    u = parse_ok("dcpki:type=cert;key=a");
    assert_string_equal(u.alias, "a");
    assert_int_equal(u.type, DCPKI_OBJ_CERT);
    u = parse_ok("dcpki:key=my%20key%3Bwith%3dsigns");
    assert_string_equal(u.alias, "my key;with=signs");
    u = parse_ok("DCPKI:key=x");
    assert_string_equal(u.alias, "x");
    u = parse_ok("dcpki:key=caf%C3%A9");
    assert_string_equal(u.alias, "caf\xC3\xA9");
}

static void test_bad(void **state)
{
    (void)state;
    bad("pkcs11:object=x", "'pkcs11:object=x': the scheme is not dcpki:");
    bad("dcpki:", "'dcpki:': empty attribute (stray ';')");
    bad("dcpki:key=", "'dcpki:key=': the alias is empty (write dcpki:key=ALIAS)");
    bad("dcpki:key", "'dcpki:key': 'key' needs a value: key=ALIAS");
    bad("dcpki:key=a;foo=1", "'dcpki:key=a;foo=1': unknown attribute 'foo'");
    bad("dcpki:object=a", "'dcpki:object=a': unknown attribute 'object'");
    bad("dcpki:key=a%zz", "'dcpki:key=a%zz': bad percent-escape in the alias (write %XX with two hexadecimal digits)");
    bad("dcpki:key=a%4", "'dcpki:key=a%4': bad percent-escape in the alias (write %XX with two hexadecimal digits)");
    bad("dcpki:key=a%00b", "'dcpki:key=a%00b': the alias contains %00");
    bad("dcpki:key=a;type=secret", "'dcpki:key=a;type=secret': unknown type 'secret' (use private, public or cert)");
    bad("dcpki:key=a;type=", "'dcpki:key=a;type=': 'type' needs a value: private, public or cert");
    bad("dcpki:key=a;;type=cert", "'dcpki:key=a;;type=cert': empty attribute (stray ';')");
    bad("dcpki:key=a;", "'dcpki:key=a;': empty attribute (stray ';')");
    bad("dcpki:ra;key=a", "'dcpki:ra;key=a': names more than one key (ra / key=)");
    bad("dcpki:key=a;type=cert;type=public", "'dcpki:key=a;type=cert;type=public': 'type' is given twice");
    bad("dcpki:ra=1", "'dcpki:ra=1': 'ra' takes no value");
    bad("dcpki:type=cert", "'dcpki:type=cert': names no key (write dcpki:ra or dcpki:key=ALIAS)");
    bad("dcpki:key=a b", "'dcpki:key=a b': the alias contains a space or control character (percent-encode it)");
    bad("dcpki:key=a?x", "'dcpki:key=a?x': the alias contains '?', '#' or '=' (percent-encode it)");
    dcpki_uri u;
    dcpki_err e;
    assert_int_equal(dcpki_uri_parse(NULL, &u, &e), DCPKI_E_URI);
    char longuri[600] = "dcpki:key=";
    memset(longuri + 10, 'a', 300);
    longuri[310] = '\0';
    assert_int_equal(dcpki_uri_parse(longuri, &u, &e), DCPKI_E_URI);
    assert_string_equal(strstr(e.detail, "the alias is too long"), "the alias is too long");
}

static void test_format(void **state)
{
    (void)state;
    char buf[1024];
    dcpki_uri u = parse_ok("dcpki:key=my%20key%3B;type=private");
    assert_int_equal(dcpki_uri_format(&u, buf, sizeof(buf)), (int)strlen("dcpki:key=my%20key%3B;type=private"));
    assert_string_equal(buf, "dcpki:key=my%20key%3B;type=private");
    dcpki_uri back = parse_ok(buf);
    assert_string_equal(back.alias, "my key;");
    u = parse_ok("dcpki:ra");
    assert_int_equal(dcpki_uri_format(&u, buf, sizeof(buf)), 8);
    assert_string_equal(buf, "dcpki:ra");
    u = parse_ok("dcpki:key=issuing-ca;type=cert");
    assert_int_equal(dcpki_uri_format(&u, buf, 10), -1);
    assert_int_equal(dcpki_uri_format(&u, buf, sizeof(buf)), 30);
    assert_string_equal(buf, "dcpki:key=issuing-ca;type=cert");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_good),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_format),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

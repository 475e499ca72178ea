/* SHA-1 thumbprints as Windows shows them (BRIEF §1). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "dcpki/thumbprint.h"

static const char *CANON = "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5";

static void ok(const char *in)
{
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    char out[41];
    dcpki_err e;
    assert_int_equal(dcpki_thumbprint_parse(in, tp, &e), DCPKI_OK);
    dcpki_thumbprint_format(tp, out);
    assert_string_equal(out, CANON);
}

static void bad(const char *in, const char *want_detail)
{
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    dcpki_err e;
    assert_int_equal(dcpki_thumbprint_parse(in, tp, &e), DCPKI_E_THUMBPRINT);
    assert_int_equal(e.code, DCPKI_E_THUMBPRINT);
    assert_string_equal(e.detail, want_detail);
}

static void test_good(void **state)
{
    (void)state;
    ok(CANON);
    ok("ea7a4e0cd1a4f81cf0740527c31a57f6020c17c5");
    ok("ea 7a 4e 0c d1 a4 f8 1c f0 74 05 27 c3 1a 57 f6 02 0c 17 c5");  /* as the seed's copy */
    ok("EA:7A:4E:0C:D1:A4:F8:1C:F0:74:05:27:C3:1A:57:F6:02:0C:17:C5");
    ok("\xE2\x80\x8E" "ea7a4e0cd1a4f81cf0740527c31a57f6020c17c5");      /* U+200E from the dialog */
    ok("\xEF\xBB\xBF" "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5\xE2\x80\x8F");
    ok("\tEA7A4E0CD1A4F81CF0740527C31A57F6020C17C5 ");
}

static void test_bad(void **state)
{
    (void)state;
    bad("EA7A4E0CD1A4F81CF0740527C31A57F6020C17C",
        "'EA7A4E0CD1A4F81CF0740527C31A57F6020C17C' has 39 hexadecimal digits; a SHA-1 thumbprint has 40");
    bad("EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5AA",
        "'EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5AA' has 42 hexadecimal digits; a SHA-1 thumbprint has 40");
    bad("GA7A4E0CD1A4F81CF0740527C31A57F6020C17C5",
        "'GA7A4E0CD1A4F81CF0740527C31A57F6020C17C5' is not a SHA-1 thumbprint: 'G' is not a hexadecimal digit");
    bad("", "'' has 0 hexadecimal digits; a SHA-1 thumbprint has 40");
    bad("EA-7A", "'EA-7A' is not a SHA-1 thumbprint: '-' is not a hexadecimal digit");
    bad("\xC3\xA9" "A7A", "'\xC3\xA9" "A7A' is not a SHA-1 thumbprint: it holds the byte 0xC3, not a hexadecimal digit");
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    assert_int_equal(dcpki_thumbprint_parse(NULL, tp, NULL), DCPKI_E_THUMBPRINT);
}

static void test_format(void **state)
{
    (void)state;
    unsigned char tp[DCPKI_THUMBPRINT_LEN];
    for (int i = 0; i < DCPKI_THUMBPRINT_LEN; i++)
        tp[i] = (unsigned char)(i * 13);
    char out[41];
    dcpki_thumbprint_format(tp, out);
    assert_int_equal(strlen(out), 40);
    unsigned char back[DCPKI_THUMBPRINT_LEN];
    assert_int_equal(dcpki_thumbprint_parse(out, back, NULL), DCPKI_OK);
    assert_memory_equal(tp, back, sizeof(tp));
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

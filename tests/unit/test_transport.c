/* Transport and signing client checks that need no service: construction
 * errors, refused URLs, a refused connection on the loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "dcpki/config.h"
#include "dcpki/signing.h"
#include "dcpki/transport.h"

static dcpki_config *conf(const char *text)
{
    dcpki_config *c = NULL;
    dcpki_err e;
    if (dcpki_config_parse(text, strlen(text), "t.conf", &c, &e) != DCPKI_OK)
        fail_msg("%s", e.detail);
    return c;
}

static void test_new_errors(void **state)
{
    (void)state;
    dcpki_err e;
    dcpki_transport *t = NULL;
    dcpki_config *c = conf("[ca]\ntrust = /nonexistent/roots.pem\n");
    /* a file that cannot be read is not a server that is not trusted */
    assert_int_equal(dcpki_transport_new(c, NULL, &t, &e), DCPKI_E_FILE_UNREADABLE);
    assert_null(t);
    assert_string_equal(e.detail, "the file /nonexistent/roots.pem ([ca] trust) does not exist");
    dcpki_config_free(c);
    c = conf("[ca]\ntrust = /\n");
    assert_int_equal(dcpki_transport_new(c, NULL, &t, &e), DCPKI_E_FILE_UNREADABLE);
    assert_string_equal(e.detail, "cannot read / ([ca] trust): is a directory");
    dcpki_config_free(c);

    c = conf("[ca]\ntimeout_ms = 2000\n");
    assert_int_equal(dcpki_transport_new(c, NULL, &t, &e), DCPKI_OK);
    assert_int_equal(dcpki_transport_connections(t), 0);
    dcpki_signing *s = NULL;
    assert_int_equal(dcpki_signing_new(c, t, NULL, &s, &e), DCPKI_E_CONFIG_INCOMPLETE);
    assert_string_equal(e.detail, "[signing] url is not set in t.conf");
    dcpki_config_free(c);
    c = conf("[signing]\nurl = https://127.0.0.1:1\n");
    assert_int_equal(dcpki_signing_new(c, t, NULL, &s, &e), DCPKI_E_CONFIG_INCOMPLETE);
    assert_string_equal(e.detail, "[signing] api_key_file is not set in t.conf");
    assert_null(s);
    dcpki_config_free(c);
    dcpki_transport_free(t);
}

static void test_requests(void **state)
{
    (void)state;
    dcpki_err e;
    dcpki_transport *t = NULL;
    dcpki_config *c = conf("[ca]\ntimeout_ms = 2000\n");
    assert_int_equal(dcpki_transport_new(c, NULL, &t, &e), DCPKI_OK);
    dcpki_http_response r;
    dcpki_http_request plain = { .method = "GET", .url = "http://127.0.0.1:1/", .idempotent = 1 };
    assert_int_equal(dcpki_transport_perform(t, &plain, &r, &e), DCPKI_E_INVALID_ARGUMENT);
    assert_string_equal(e.detail, "only https:// URLs are allowed, not http://127.0.0.1:1/");
    /* nothing listens on port 1 */
    dcpki_http_request req = { .method = "GET", .url = "https://127.0.0.1:1/x", .idempotent = 1 };
    assert_int_equal(dcpki_transport_perform(t, &req, &r, &e), DCPKI_E_CONNECT);
    assert_non_null(strstr(e.detail, "GET https://127.0.0.1:1/x: "));
    assert_null(r.body);
    dcpki_http_response_free(&r);
    assert_int_equal(dcpki_transport_connections(t), 0);
    dcpki_transport_free(t);
    dcpki_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_new_errors),
        cmocka_unit_test(test_requests),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

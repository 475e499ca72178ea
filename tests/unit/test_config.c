/* dcpki.conf parsing: exactly DESIGN.md's keys; errors name file, line, key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dcpki/config.h"

static dcpki_config *parse_ok(const char *text)
{
    dcpki_config *cfg = NULL;
    dcpki_err e;
    dcpki_code rc = dcpki_config_parse(text, strlen(text), "dcpki.conf", &cfg, &e);
    if (rc != DCPKI_OK)
        fail_msg("unexpected error: %s", e.detail);
    assert_non_null(cfg);
    return cfg;
}

static void bad(const char *text, dcpki_code code, const char *detail)
{
    dcpki_config *cfg = (dcpki_config *)1;
    dcpki_err e;
    dcpki_code rc = dcpki_config_parse(text, strlen(text), "dcpki.conf", &cfg, &e);
    assert_null(cfg);
    if (rc != code || strcmp(e.detail, detail) != 0)
        fail_msg("for:\n%s\nwant %d '%s'\ngot  %d '%s'", text, code, detail, rc, e.detail);
}

/* DESIGN.md's configuration block, verbatim (section header and first key on
 * one line, inline comments). */
static const char *DESIGN_BLOCK =
    "[ca]        host = pki-ws.symauth.com    ; base service FQDN (host[:port]), no scheme, no trailing slash\n"
    "            name = Symantec              ; must be \"Symantec\" for the PKI Platform\n"
    "            timeout_ms = 30000           ; CloudCAConnTimeoutInMilliseconds\n"
    "            trust = /etc/dcpki/roots.pem ; verifies the server; never skipped\n"
    "[ra]        ; one of three ways to name the RA identity:\n"
    "            certificate_thumbprint = EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5  ; with\n"
    "            store = /var/lib/dcpki/ra    ; a directory of certificates (+ keys); the thumbprint picks one\n"
    "            ; or: certificate = /etc/dcpki/ra.pem  and  key = /etc/dcpki/ra.key | pkcs11:token=...;object=...\n"
    "            ; or: pkcs12 = /etc/dcpki/ra.p12  and  pkcs12_password_file = /etc/dcpki/ra.pass\n"
    "[signing]   url = https://clientauth.one.digicert.com   ; signing service base URL\n"
    "            api_key_file = /etc/dcpki/api-key            ; x-api-key, never logged; the RA identity is the client cert\n"
    "[profiles]  default = 2.16.840.1.113733.1.16.1.2.3.1.1.47196109\n";

static void test_design_block(void **state)
{
    (void)state;
    dcpki_config *c = parse_ok(DESIGN_BLOCK);
    assert_string_equal(c->path, "dcpki.conf");
    assert_string_equal(c->ca.host, "pki-ws.symauth.com");
    assert_string_equal(c->ca.name, "Symantec");
    assert_int_equal(c->ca.timeout_ms, 30000);
    assert_string_equal(c->ca.trust, "/etc/dcpki/roots.pem");
    assert_string_equal(c->ra.certificate_thumbprint, "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5");
    assert_string_equal(c->ra.store, "/var/lib/dcpki/ra");
    assert_null(c->ra.certificate);
    assert_null(c->ra.key);
    assert_null(c->ra.pkcs12);
    assert_string_equal(c->signing.url, "https://clientauth.one.digicert.com");
    assert_string_equal(c->signing.api_key_file, "/etc/dcpki/api-key");
    assert_int_equal(c->n_profiles, 1);
    assert_string_equal(dcpki_config_profile(c, "default"), "2.16.840.1.113733.1.16.1.2.3.1.1.47196109");
    assert_null(dcpki_config_profile(c, "other"));
    dcpki_config_free(c);
}

static void test_example_file(void **state)
{
    (void)state;
    const char *src = getenv("DCPKI_SRC");
    if (!src)
        skip();
    char path[4096];
    snprintf(path, sizeof(path), "%s/etc/dcpki.conf.example", src);
    if (access(path, R_OK) != 0)
        skip();
    dcpki_config *c = NULL;
    dcpki_err e;
    if (dcpki_config_load(path, &c, &e) != DCPKI_OK)
        fail_msg("%s", e.detail);
    assert_string_equal(c->path, path);
    assert_string_equal(c->ca.host, "pki-ws.symauth.com");
    assert_string_equal(c->ra.certificate_thumbprint, "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5");
    dcpki_config_free(c);
}

static void test_values(void **state)
{
    (void)state;
    dcpki_config *c = parse_ok("\xEF\xBB\xBF# comment\r\n"
                               "; another\n"
                               "[ca]\r\n"
                               "host=127.0.0.1:8443\n"
                               "  name   =   Symantec  \n"
                               "[ra]\n"
                               "certificate_thumbprint = ea 7a 4e 0c d1 a4 f8 1c f0 74 05 27 c3 1a 57 f6 02 0c 17 c5\n"
                               "certificate = /etc/dcpki/ra.pem\n"
                               "key = pkcs11:token=RA;object=ra-key;type=private\n"
                               "[signing]\n"
                               "url = https://127.0.0.1:4443/prefix\n"
                               "[profiles]\n"
                               "default = 2.16.840.1.113733.1.16.1.2.3.1.1.47196109\n"
                               "smime = 1.2.3\n");
    assert_string_equal(c->ca.host, "127.0.0.1:8443");
    assert_string_equal(c->ca.name, "Symantec");
    assert_int_equal(c->ca.timeout_ms, DCPKI_DEFAULT_TIMEOUT_MS);
    assert_null(c->ca.trust);
    assert_string_equal(c->ra.certificate_thumbprint, "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5");
    assert_string_equal(c->ra.key, "pkcs11:token=RA;object=ra-key;type=private");
    assert_string_equal(c->signing.url, "https://127.0.0.1:4443/prefix");
    assert_int_equal(c->n_profiles, 2);
    assert_string_equal(dcpki_config_profile(c, "smime"), "1.2.3");
    dcpki_config_free(c);
    /* name is not checked against "Symantec" here (doctor does) */
    c = parse_ok("[ca]\nname = Other\nhost = [::1]:443\ntimeout_ms = 3600000\n");
    assert_string_equal(c->ca.name, "Other");
    assert_int_equal(c->ca.timeout_ms, 3600000);
    dcpki_config_free(c);
    c = parse_ok("");
    assert_null(c->ca.host);
    assert_null(c->pkcs11.pin_file);
    dcpki_config_free(c);
    c = parse_ok("[pkcs11]  pin_file = /etc/dcpki/pin   ; the tokens' PIN\n");
    assert_string_equal(c->pkcs11.pin_file, "/etc/dcpki/pin");
    dcpki_config_free(c);
    c = parse_ok("[signing]\nkeys = issuing-ca,  ec ca , x\n");
    assert_string_equal(c->signing.keys, "issuing-ca,  ec ca , x");
    dcpki_config_free(c);
}

/* [store] (issue 9): url (libpq URI), key_file, dir (absolute) */
static void test_store_keys(void **state)
{
    (void)state;
    dcpki_config *c = parse_ok("[ca]\nhost = a.example\n");
    assert_null(c->store.url);
    assert_null(c->store.key_file);
    assert_null(c->store.dir);
    dcpki_config_free(c);
    c = parse_ok("[store]\nurl = postgresql://dcpki@db.example:5433/dcpki?sslmode=verify-full\n"
                 "key_file = /etc/dcpki/store.key ; shared by the RA hosts\n"
                 "dir = /var/lib/dcpki/issued\n");
    assert_string_equal(c->store.url, "postgresql://dcpki@db.example:5433/dcpki?sslmode=verify-full");
    assert_string_equal(c->store.key_file, "/etc/dcpki/store.key");
    assert_string_equal(c->store.dir, "/var/lib/dcpki/issued");
    dcpki_config_free(c);
    c = parse_ok("[store] url = postgres:///dcpki?host=/run/postgresql\n");
    assert_string_equal(c->store.url, "postgres:///dcpki?host=/run/postgresql");
    dcpki_config_free(c);
    /* the value is not repeated in the message: a URL may hold a password */
    bad("[store]\nurl = mysql://u:pw@db/dcpki\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'url' in [store] must start with postgresql:// or postgres:// (e.g. "
        "postgresql://dcpki@db.example/dcpki); leave it unset for the local SQLite store");
    bad("[store]\nurl = db.example\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'url' in [store] must start with postgresql:// or postgres:// (e.g. "
        "postgresql://dcpki@db.example/dcpki); leave it unset for the local SQLite store");
    bad("[store]\ndir = var/lib/dcpki\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'dir' in [store] must be an absolute path (it is used by services whatever "
        "their working directory), not 'var/lib/dcpki'");
    bad("[store]\nkey_file = /a\nkey_file = /b\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:3: duplicate key 'key_file' in [store] (first set on line 2)");
    bad("[store]\npath = /a\n", DCPKI_E_CONFIG_UNKNOWN_KEY, "dcpki.conf:2: unknown key 'path' in [store]");
}

static void test_errors(void **state)
{
    (void)state;
    bad("[ca]\nhost = a.example\n\n\n\n\nhots = x\n", DCPKI_E_CONFIG_UNKNOWN_KEY, "dcpki.conf:7: unknown key 'hots' in [ca]");
    bad("[ra]\nhost = x\n", DCPKI_E_CONFIG_UNKNOWN_KEY, "dcpki.conf:2: unknown key 'host' in [ra]");
    bad("[cA]\n", DCPKI_E_CONFIG_UNKNOWN_KEY,
        "dcpki.conf:1: unknown section [cA] (use [ca], [ra], [signing], [pkcs11], [profiles], [seat_id] or [store])");
    bad("host = x\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:1: key 'host' is outside any section (put it under [ca], [ra], [signing], [pkcs11], [profiles], "
        "[seat_id] or [store])");
    bad("[ca]\nhost\n", DCPKI_E_CONFIG_SYNTAX, "dcpki.conf:2: expected 'key = value' or '[section]', found 'host'");
    bad("[ca\n", DCPKI_E_CONFIG_SYNTAX, "dcpki.conf:1: section header '[ca' lacks ']'");
    bad("[ca]\n= x\n", DCPKI_E_CONFIG_SYNTAX, "dcpki.conf:2: a line starts with '=' (no key name)");
    bad("[ca]\nhost = a.example\nhost = b.example\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:3: duplicate key 'host' in [ca] (first set on line 2)");
    bad("[profiles]\na = 1.2\n[ca]\n[profiles]\na = 1.3\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:5: duplicate key 'a' in [profiles] (first set on line 2)");
    bad("[ca]\nname =\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: empty value for 'name' in [ca] (remove the line or give a value)");
    bad("[ca]\nname = ; comment only\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: empty value for 'name' in [ca] (remove the line or give a value)");
    bad("[ca]\nhost = https://pki-ws.symauth.com\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'host' in [ca] must not contain a scheme (write the host name only, e.g. pki-ws.symauth.com)");
    bad("[ca]\nhost = pki-ws.symauth.com/\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'host' in [ca] must not contain '/' (write the host name only, no path or trailing slash)");
    bad("[ca]\nhost = pki_ws.symauth.com\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'host' in [ca] is not a valid host name (letters, digits, '-' and '.' only)");
    bad("[ca]\nhost = a.example:99999\n", DCPKI_E_CONFIG_BAD_VALUE, "dcpki.conf:2: 'host' in [ca] has a port above 65535");
    bad("[ca]\nhost = a.example:\n", DCPKI_E_CONFIG_BAD_VALUE, "dcpki.conf:2: 'host' in [ca] has an empty port after ':'");
    bad("[ca]\nhost = 300.1.1.1\n", DCPKI_E_CONFIG_BAD_VALUE, "dcpki.conf:2: 'host' in [ca] is not a valid IPv4 address");
    bad("[ca]\ntimeout_ms = 30s\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'timeout_ms' in [ca] must be a whole number of milliseconds, not '30s'");
    bad("[ca]\ntimeout_ms = 0\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'timeout_ms' in [ca] must be between 1 and 3600000 (one hour), not '0'");
    bad("[ca]\ntimeout_ms = 3600001\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'timeout_ms' in [ca] must be between 1 and 3600000 (one hour), not '3600001'");
    bad("[ca]\ntimeout_ms = -5\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'timeout_ms' in [ca] must be a whole number of milliseconds, not '-5'");
    bad("[ra]\ncertificate_thumbprint = EA7A4E0C\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'certificate_thumbprint' in [ra]: 'EA7A4E0C' has 8 hexadecimal digits; a SHA-1 thumbprint has 40");
    bad("[signing]\nurl = http://x.example\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'url' in [signing] must start with https:// (e.g. https://clientauth.one.digicert.com)");
    bad("[signing]\nurl = https://clientauth.one.digicert.com/\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'url' in [signing] must not end with '/' (remove the trailing slash)");
    bad("[signing]\nurl = https://\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'url' in [signing] has no host name after https://");
    bad("[signing]\nurl = https://a b\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'url' in [signing] must not contain spaces, control characters, '?' or '#'");
    bad("[signing]\nkeys = a, ,b\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'keys' in [signing] has an empty alias (write alias, alias, ...)");
    bad("[signing]\nkeys = a,\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'keys' in [signing] has an empty alias (write alias, alias, ...)");
    bad("[profiles]\ndefault = 2.16.840.x\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'default' in [profiles] is not a dotted OID (e.g. 2.16.840.1.113733.1.16.1.2.3.1.1.47196109)");
    bad("[profiles]\ndefault = 5.1\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'default' in [profiles] is not a dotted OID: the first arc must be 0, 1 or 2");
    bad("[profiles]\ndefault = 2\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'default' in [profiles] is not a dotted OID: it needs at least two arcs");
    bad("[pkcs11]\npin = 1234\n", DCPKI_E_CONFIG_UNKNOWN_KEY, "dcpki.conf:2: unknown key 'pin' in [pkcs11]");
    bad("[pkcs11]\npin_file = /a\n[ca]\n[pkcs11]\npin_file = /b\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:5: duplicate key 'pin_file' in [pkcs11] (first set on line 2)");
    bad("[pkcs11]\npin_file =\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: empty value for 'pin_file' in [pkcs11] (remove the line or give a value)");
    bad("[signing]\npin_file = /a\n", DCPKI_E_CONFIG_UNKNOWN_KEY, "dcpki.conf:2: unknown key 'pin_file' in [signing]");
    bad("[profiles]\nmy profile = 1.2\n", DCPKI_E_CONFIG_SYNTAX, "dcpki.conf:2: key 'my profile' contains a space");
}

#define P_USER "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
#define P_DEV "2.16.840.1.113733.1.16.1.2.3.1.1.61904612"
#define P_OTHER "2.16.840.1.113733.1.16.1.2.3.1.1.80153305"

static void test_seat_id(void **state)
{
    (void)state;
    /* nothing configured: NULL (the request's default, email) */
    dcpki_config *c = parse_ok("[profiles]\ndefault = " P_USER "\n");
    assert_null(dcpki_config_seat_source(c, P_USER));
    assert_null(dcpki_config_seat_source(NULL, P_USER));
    dcpki_config_free(c);
    /* [seat_id] before [profiles]: names are resolved once the file is read */
    c = parse_ok("[seat_id]\n"
                 "default = CN\n"
                 "devices = dn:organizationalUnitName   ; the OU names the seat\n"
                 P_OTHER " = Email\n"
                 "[profiles]\ndefault = " P_USER "\ndevices = " P_DEV "\n");
    assert_int_equal(c->n_seat_ids, 3);
    assert_string_equal(c->seat_ids[0].source, "cn");
    assert_string_equal(c->seat_ids[1].source, "dn:OU");
    assert_string_equal(dcpki_config_seat_source(c, P_DEV), "dn:OU");     /* by [profiles] name */
    assert_string_equal(dcpki_config_seat_source(c, P_OTHER), "email");   /* by OID */
    assert_string_equal(dcpki_config_seat_source(c, P_USER), "cn");       /* default */
    assert_string_equal(dcpki_config_seat_source(c, "1.2.3"), "cn");
    assert_string_equal(dcpki_config_seat_source(c, NULL), "cn");
    dcpki_config_free(c);
    /* an OID key wins over a name key of the same profile */
    c = parse_ok("[profiles]\nu = " P_USER "\n[seat_id]\nu = cn\n" P_USER " = dn:E\n");
    assert_string_equal(dcpki_config_seat_source(c, P_USER), "dn:E");
    assert_null(dcpki_config_seat_source(c, P_DEV));
    dcpki_config_free(c);

    bad("[seat_id]\ndefault = upn\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'default' in [seat_id] must be email, cn or dn:TYPE with TYPE a subject attribute "
        "(CN, E, GN, SN, O, OU, C, L, ST, title), not 'upn'");
    bad("[seat_id]\ndefault = dn:XYZ\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: 'default' in [seat_id] must be email, cn or dn:TYPE with TYPE a subject attribute "
        "(CN, E, GN, SN, O, OU, C, L, ST, title), not 'dn:XYZ'");
    bad("[seat_id]\ndefault = cn\n\ndefault = email\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:4: duplicate key 'default' in [seat_id] (first set on line 2)");
    bad("[seat_id]\n\nusers = cn\n[profiles]\ndefault = " P_USER "\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:3: 'users' in [seat_id] is not a profile of [profiles] (write default, a [profiles] "
        "name or a dotted OID)");
    bad("[seat_id]\n2.16.0840 = cn\n", DCPKI_E_CONFIG_BAD_VALUE,
        "dcpki.conf:2: '2.16.0840' in [seat_id] is not a dotted OID: an arc has a leading zero");
    bad("[seat_id]\na/b = cn\n", DCPKI_E_CONFIG_SYNTAX,
        "dcpki.conf:2: 'a/b' in [seat_id] is no profile: write default, a [profiles] name or a dotted OID");
}

static void test_nul_byte(void **state)
{
    (void)state;
    const char text[] = "[ca]\nhost = a\0b\n";
    dcpki_config *cfg = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_config_parse(text, sizeof(text) - 1, "x.conf", &cfg, &e), DCPKI_E_CONFIG_SYNTAX);
    assert_string_equal(e.detail, "x.conf:2: the line contains a NUL byte");
    assert_null(cfg);
}

static char tmpdir[256];

static void write_file(const char *name, const char *text, mode_t mode, char *path_out)
{
    snprintf(path_out, 512, "%s/%s", tmpdir, name);
    FILE *f = fopen(path_out, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    chmod(path_out, mode);
}

/* [pkcs11] pin_file: first line, owner-only modes, errors naming file, mode, remedy */
static void pin_bad(dcpki_config *c, const char *path, dcpki_code code, const char *want)
{
    char *pin = (char *)1;
    dcpki_err e;
    free(c->pkcs11.pin_file);
    c->pkcs11.pin_file = path ? strdup(path) : NULL;
    assert_int_equal(dcpki_config_read_pin(c, &pin, &e), code);
    assert_null(pin);
    assert_string_equal(e.detail, want);
}

static void pin_ok(dcpki_config *c, const char *path, const char *want)
{
    char *pin = NULL;
    dcpki_err e;
    free(c->pkcs11.pin_file);
    c->pkcs11.pin_file = strdup(path);
    if (dcpki_config_read_pin(c, &pin, &e) != DCPKI_OK)
        fail_msg("%s", e.detail);
    assert_string_equal(pin, want);
    dcpki_secret_free(pin);
}

static void test_pin_file(void)
{
    char p600[512], p400[512], p644[512], p640[512], p700[512], crlf[512], empty[512], longp[512],
        max[512], missing[512], want[1200], text[400];
    dcpki_config *c = parse_ok("[pkcs11]\n");
    write_file("pin600", "2468", 0600, p600);
    write_file("pin400", "1234\nsecond line\n", 0400, p400);
    write_file("pin644", "2468\n", 0644, p644);
    write_file("pin640", "2468\n", 0640, p640);
    write_file("pin700", "2468\n", 0700, p700);
    write_file("pincrlf", "p i n \t\r\n", 0600, crlf);
    write_file("pinempty", "\n2468\n", 0600, empty);
    memset(text, 'x', 256);
    text[256] = '\0';
    write_file("pinlong", text, 0600, longp);
    memset(text, 'y', 255);
    strcpy(text + 255, "  \r\n");
    write_file("pinmax", text, 0600, max);
    snprintf(missing, sizeof(missing), "%s/nopin", tmpdir);

    pin_ok(c, p600, "2468");
    pin_ok(c, p400, "1234");
    pin_ok(c, crlf, "p i n");
    text[255] = '\0';
    pin_ok(c, max, text);
    snprintf(want, sizeof(want),
             "[pkcs11] pin_file %s has mode 0644; it must be 0600 or 0400 (readable by its owner only): "
             "run chmod 600 %s", p644, p644);
    pin_bad(c, p644, DCPKI_E_IO, want);
    snprintf(want, sizeof(want),
             "[pkcs11] pin_file %s has mode 0640; it must be 0600 or 0400 (readable by its owner only): "
             "run chmod 600 %s", p640, p640);
    pin_bad(c, p640, DCPKI_E_IO, want);
    snprintf(want, sizeof(want),
             "[pkcs11] pin_file %s has mode 0700; it must be 0600 or 0400 (readable by its owner only): "
             "run chmod 600 %s", p700, p700);
    pin_bad(c, p700, DCPKI_E_IO, want);
    snprintf(want, sizeof(want), "[pkcs11] pin_file %s is empty: write the PIN on its first line", empty);
    pin_bad(c, empty, DCPKI_E_CONFIG_BAD_VALUE, want);
    snprintf(want, sizeof(want), "[pkcs11] pin_file %s: the PIN is longer than 255 bytes", longp);
    pin_bad(c, longp, DCPKI_E_CONFIG_BAD_VALUE, want);
    snprintf(want, sizeof(want), "[pkcs11] pin_file: cannot read %s: no such file or directory", missing);
    pin_bad(c, missing, DCPKI_E_IO, want);
    snprintf(want, sizeof(want), "[pkcs11] pin_file %s is not a regular file", tmpdir);
    pin_bad(c, tmpdir, DCPKI_E_IO, want);
    pin_bad(c, NULL, DCPKI_E_CONFIG_INCOMPLETE, "[pkcs11] pin_file is not set in dcpki.conf");
    if (geteuid() == 0) { /* only root can give a file away */
        assert_int_equal(chown(p600, 65534, 65534), 0);
        snprintf(want, sizeof(want),
                 "[pkcs11] pin_file %s is owned by uid 65534, not by uid 0 that reads it: run chown 0 %s",
                 p600, p600);
        pin_bad(c, p600, DCPKI_E_IO, want);
    }
    dcpki_config_free(c);
    unlink(p600), unlink(p400), unlink(p644), unlink(p640), unlink(p700);
    unlink(crlf), unlink(empty), unlink(longp), unlink(max);
}

static void test_files(void **state)
{
    (void)state;
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/dcpki-test-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char conf[512], key[512], empty[512], missing[512];
    write_file("api-key", "s3cr3t-key\r\n\nsecond line\n", 0600, key);
    write_file("empty", "\n", 0600, empty);
    snprintf(missing, sizeof(missing), "%s/missing", tmpdir);
    char text[2048];
    snprintf(text, sizeof(text), "[signing]\nurl = https://x.example\napi_key_file = %s\n", key);
    write_file("dcpki.conf", text, 0644, conf);

    dcpki_config *c = NULL;
    dcpki_err e;
    assert_int_equal(dcpki_config_load(conf, &c, &e), DCPKI_OK);
    assert_string_equal(c->path, conf);
    char *api = NULL;
    assert_int_equal(dcpki_config_read_api_key(c, &api, &e), DCPKI_OK);
    assert_string_equal(api, "s3cr3t-key");
    dcpki_secret_free(api);
    free(c->signing.api_key_file);
    c->signing.api_key_file = strdup(empty);
    assert_int_equal(dcpki_config_read_api_key(c, &api, &e), DCPKI_E_API_KEY);
    assert_null(api);
    char want[1024];
    snprintf(want, sizeof(want), "[signing] api_key_file %s is empty", empty);
    assert_string_equal(e.detail, want);
    free(c->signing.api_key_file);
    c->signing.api_key_file = strdup(missing);
    assert_int_equal(dcpki_config_read_api_key(c, &api, &e), DCPKI_E_FILE_UNREADABLE);
    snprintf(want, sizeof(want), "[signing] api_key_file: the file %s does not exist", missing);
    assert_string_equal(e.detail, want);
    /* the sentence the user reads must be true when no request was made */
    char line[1600];
    assert_non_null(strstr(dcpki_err_format(&e, line, sizeof(line)), "a file dcpki needs cannot be read"));
    free(c->signing.api_key_file);
    c->signing.api_key_file = NULL;
    assert_int_equal(dcpki_config_read_api_key(c, &api, &e), DCPKI_E_CONFIG_INCOMPLETE);
    snprintf(want, sizeof(want), "[signing] api_key_file is not set in %s", conf);
    assert_string_equal(e.detail, want);
    dcpki_config_free(c);

    /* secret file: first line, CR/LF stripped; empty allowed */
    char *sec = NULL;
    assert_int_equal(dcpki_read_secret_file(key, &sec, &e), DCPKI_OK);
    assert_string_equal(sec, "s3cr3t-key");
    dcpki_secret_free(sec);
    assert_int_equal(dcpki_read_secret_file(empty, &sec, &e), DCPKI_OK);
    assert_string_equal(sec, "");
    dcpki_secret_free(sec);

    /* errors of a loaded file carry its path */
    char badconf[512];
    write_file("bad.conf", "[ca]\nhots = x\n", 0644, badconf);
    assert_int_equal(dcpki_config_load(badconf, &c, &e), DCPKI_E_CONFIG_UNKNOWN_KEY);
    snprintf(want, sizeof(want), "%s:2: unknown key 'hots' in [ca]", badconf);
    assert_string_equal(e.detail, want);

    assert_int_equal(dcpki_config_load(missing, &c, &e), DCPKI_E_CONFIG_MISSING);
    snprintf(want, sizeof(want), "cannot read %s: no such file or directory", missing);
    assert_string_equal(e.detail, want);
    assert_int_equal(dcpki_config_load(tmpdir, &c, &e), DCPKI_E_CONFIG_MISSING);
    snprintf(want, sizeof(want), "cannot read %s: is a directory", tmpdir);
    assert_string_equal(e.detail, want);

    /* path selection */
    setenv("DCPKI_CONF", conf, 1);
    assert_string_equal(dcpki_config_path(NULL), conf);
    assert_string_equal(dcpki_config_path("/x.conf"), "/x.conf");
    unsetenv("DCPKI_CONF");
    assert_string_equal(dcpki_config_path(NULL), DCPKI_DEFAULT_CONF);

    test_pin_file();

    unlink(key);
    unlink(empty);
    unlink(conf);
    unlink(badconf);
    rmdir(tmpdir);
}


/* ---- the SM_* environment of DigiCert KeyLocker / Software Trust Manager ---- */

static const char *const SM_VARS[] = { "SM_HOST", "SM_API_KEY", "SM_CLIENT_CERT_FILE",
                                       "SM_CLIENT_CERT_PASSWORD", "SM_CONN_TIMEOUT", "SM_CA_FILE" };
#define SM_KEY "sm-api-key-VALUE-0123456789"
#define SM_PASS "sm-p12-PASSWORD-9876"

static void sm_clear(void)
{
    for (size_t i = 0; i < sizeof(SM_VARS) / sizeof(SM_VARS[0]); i++)
        unsetenv(SM_VARS[i]);
}

static void sm_all(void)
{
    setenv("SM_HOST", "https://clientauth.one.digicert.com/", 1);
    setenv("SM_API_KEY", SM_KEY "\r\n", 1);
    setenv("SM_CLIENT_CERT_FILE", "/home/u/client.p12", 1);
    setenv("SM_CLIENT_CERT_PASSWORD", SM_PASS, 1);
    setenv("SM_CONN_TIMEOUT", "45000", 1);
    setenv("SM_CA_FILE", "/home/u/ca.pem", 1);
}

/* no secret in a message */
static void no_secret(const dcpki_err *e)
{
    char line[2048];
    dcpki_err_format(e, line, sizeof(line));
    if (strstr(line, "sm-api-key") || strstr(line, "sm-p12-PASSWORD"))
        fail_msg("a secret in the message: %s", line);
}

static void env_bad(const char *text, dcpki_code code, const char *detail)
{
    dcpki_config *c = parse_ok(text);
    dcpki_err e;
    dcpki_code rc = dcpki_config_apply_env(c, &e);
    if (rc != code || strcmp(e.detail, detail) != 0)
        fail_msg("want %d '%s'\ngot  %d '%s'", code, detail, rc, e.detail);
    no_secret(&e);
    dcpki_config_free(c);
}

static void from_env_bad(dcpki_code code, const char *detail)
{
    dcpki_config *c = (dcpki_config *)1;
    dcpki_err e;
    dcpki_code rc = dcpki_config_from_env("/nonexistent/dcpki.conf", &c, &e);
    assert_null(c);
    if (rc != code || strcmp(e.detail, detail) != 0)
        fail_msg("want %d '%s'\ngot  %d '%s'", code, detail, rc, e.detail);
    no_secret(&e);
}

static void test_sm_env(void **state)
{
    (void)state;
    dcpki_err e;
    char *api = NULL;
    sm_clear();

    /* no dcpki.conf: the variables alone */
    sm_all();
    dcpki_config *c = NULL;
    assert_int_equal(dcpki_config_from_env("/nonexistent/dcpki.conf", &c, &e), DCPKI_OK);
    assert_string_equal(c->path, "the SM_* environment variables (/nonexistent/dcpki.conf does not exist)");
    assert_string_equal(c->signing.url, "https://clientauth.one.digicert.com"); /* trailing '/' dropped */
    assert_null(c->signing.api_key_file);
    assert_string_equal(c->signing.api_key, SM_KEY);                        /* CR/LF dropped */
    assert_true(dcpki_config_has_api_key(c));
    assert_int_equal(dcpki_config_read_api_key(c, &api, &e), DCPKI_OK);
    assert_string_equal(api, SM_KEY);
    dcpki_secret_free(api);
    assert_string_equal(c->ra.pkcs12, "/home/u/client.p12");
    assert_string_equal(c->ra.pkcs12_password, SM_PASS);
    assert_null(c->ra.pkcs12_password_file);
    assert_int_equal(c->ca.timeout_ms, 45000);
    assert_string_equal(c->ca.trust, "/home/u/ca.pem");
    assert_null(c->ca.host);
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_SIGNING_URL), "SM_HOST");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_API_KEY), "SM_API_KEY");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_RA_PKCS12), "SM_CLIENT_CERT_FILE");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_RA_PKCS12_PASSWORD), "SM_CLIENT_CERT_PASSWORD");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_CA_TIMEOUT), "SM_CONN_TIMEOUT");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_CA_TRUST), "SM_CA_FILE");
    dcpki_config_free(c);

    /* optional ones: no password, timeout, trust */
    unsetenv("SM_CLIENT_CERT_PASSWORD");
    unsetenv("SM_CONN_TIMEOUT");
    unsetenv("SM_CA_FILE");
    assert_int_equal(dcpki_config_from_env(NULL, &c, &e), DCPKI_OK);
    assert_string_equal(c->path, "the SM_* environment variables (" DCPKI_DEFAULT_CONF " does not exist)");
    assert_null(c->ra.pkcs12_password);
    assert_int_equal(c->ca.timeout_ms, DCPKI_DEFAULT_TIMEOUT_MS);
    assert_null(c->ca.trust);
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_CA_TRUST), "[ca] trust");
    dcpki_config_free(c);

    /* each required variable missing, named */
    sm_all();
    unsetenv("SM_API_KEY");
    from_env_bad(DCPKI_E_CONFIG_INCOMPLETE,
                 "SM_API_KEY is not set (needed with SM_HOST when no dcpki.conf is found: /nonexistent/dcpki.conf "
                 "does not exist); set SM_API_KEY to the API key of the DigiCert ONE service user, or write "
                 "/nonexistent/dcpki.conf");
    setenv("SM_API_KEY", "", 1); /* empty is unset */
    from_env_bad(DCPKI_E_CONFIG_INCOMPLETE,
                 "SM_API_KEY is not set (needed with SM_HOST when no dcpki.conf is found: /nonexistent/dcpki.conf "
                 "does not exist); set SM_API_KEY to the API key of the DigiCert ONE service user, or write "
                 "/nonexistent/dcpki.conf");
    sm_all();
    unsetenv("SM_CLIENT_CERT_FILE");
    from_env_bad(DCPKI_E_CONFIG_INCOMPLETE,
                 "SM_CLIENT_CERT_FILE is not set (needed with SM_HOST when no dcpki.conf is found: "
                 "/nonexistent/dcpki.conf does not exist); set SM_CLIENT_CERT_FILE to the client authentication "
                 "certificate's PKCS#12 file (and SM_CLIENT_CERT_PASSWORD to its password), or write "
                 "/nonexistent/dcpki.conf");
    sm_all();
    unsetenv("SM_HOST");
    from_env_bad(DCPKI_E_CONFIG_MISSING,
                 "/nonexistent/dcpki.conf does not exist and SM_HOST, which would take the configuration from the "
                 "SM_* environment variables, is not set");

    /* bad values, named (the API key's value never shown) */
    sm_all();
    setenv("SM_HOST", "clientauth.one.digicert.com", 1);
    from_env_bad(DCPKI_E_CONFIG_BAD_VALUE,
                 "SM_HOST 'clientauth.one.digicert.com' must start with https:// (e.g. https://clientauth.one.digicert.com)");
    setenv("SM_HOST", "http://clientauth.one.digicert.com", 1);
    from_env_bad(DCPKI_E_CONFIG_BAD_VALUE,
                 "SM_HOST 'http://clientauth.one.digicert.com' must start with https:// (e.g. https://clientauth.one.digicert.com)");
    setenv("SM_HOST", "https://bad host", 1);
    from_env_bad(DCPKI_E_CONFIG_BAD_VALUE,
                 "SM_HOST 'https://bad host' must not contain spaces, control characters, '?' or '#'");
    sm_all();
    setenv("SM_CONN_TIMEOUT", "30s", 1);
    from_env_bad(DCPKI_E_CONFIG_BAD_VALUE, "SM_CONN_TIMEOUT must be a whole number of milliseconds, not '30s'");
    setenv("SM_CONN_TIMEOUT", "0", 1);
    from_env_bad(DCPKI_E_CONFIG_BAD_VALUE, "SM_CONN_TIMEOUT must be between 1 and 3600000 (one hour), not '0'");
    setenv("SM_CONN_TIMEOUT", "99999999999999999999", 1);
    from_env_bad(DCPKI_E_CONFIG_BAD_VALUE,
                 "SM_CONN_TIMEOUT must be between 1 and 3600000 (one hour), not '99999999999999999999'");
    sm_all();
    setenv("SM_API_KEY", "sm-api-key\tVALUE", 1);
    from_env_bad(DCPKI_E_API_KEY, "SM_API_KEY holds a control character (give the API key alone, on one line)");
    setenv("SM_API_KEY", " \r\n", 1);
    from_env_bad(DCPKI_E_API_KEY, "SM_API_KEY holds only white space");

    /* a file: every key it sets wins, the variables fill only what it leaves unset */
    sm_all();
    c = parse_ok("[ca]\ntimeout_ms = 1000\ntrust = /etc/dcpki/roots.pem\n"
                 "[ra]\ncertificate = /etc/dcpki/ra.pem\nkey = /etc/dcpki/ra.key\n"
                 "[signing]\nurl = https://file.example\napi_key_file = /etc/dcpki/api-key\n");
    assert_int_equal(dcpki_config_apply_env(c, &e), DCPKI_OK);
    assert_int_equal(c->from_env, 0);
    assert_string_equal(c->signing.url, "https://file.example");
    assert_null(c->signing.api_key);
    assert_null(c->ra.pkcs12);
    assert_null(c->ra.pkcs12_password);
    assert_int_equal(c->ca.timeout_ms, 1000);
    assert_string_equal(c->ca.trust, "/etc/dcpki/roots.pem");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_API_KEY), "[signing] api_key_file");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_RA_PKCS12), "[ra] pkcs12");
    dcpki_config_free(c);
    /* a file with the PKI Platform only: signing, identity, timeout and trust from the variables */
    c = parse_ok("[ca]\nhost = pki-ws.symauth.com\nname = Symantec\n");
    assert_int_equal(dcpki_config_apply_env(c, &e), DCPKI_OK);
    assert_string_equal(c->ca.host, "pki-ws.symauth.com");
    assert_string_equal(c->signing.url, "https://clientauth.one.digicert.com");
    assert_string_equal(c->signing.api_key, SM_KEY);
    assert_string_equal(c->ra.pkcs12, "/home/u/client.p12");
    assert_string_equal(c->ra.pkcs12_password, SM_PASS);
    assert_int_equal(c->ca.timeout_ms, 45000);
    assert_string_equal(c->ca.trust, "/home/u/ca.pem");
    dcpki_config_free(c);
    /* per key: the file's url with the variables' API key; the RA identity is
     * all or nothing (a thumbprint or a store alone already names one) */
    c = parse_ok("[ra]\nstore = /var/lib/dcpki/ra\n[signing]\nurl = https://file.example\n");
    assert_int_equal(dcpki_config_apply_env(c, &e), DCPKI_OK);
    assert_string_equal(c->signing.url, "https://file.example");
    assert_string_equal(dcpki_config_origin(c, DCPKI_CI_SIGNING_URL), "[signing] url");
    assert_string_equal(c->signing.api_key, SM_KEY);
    assert_null(c->ra.pkcs12);
    assert_null(c->ra.pkcs12_password);
    dcpki_config_free(c);
    c = parse_ok("[signing]\napi_key_file = /etc/dcpki/api-key\n");
    assert_int_equal(dcpki_config_apply_env(c, &e), DCPKI_OK);
    assert_null(c->signing.api_key);
    assert_string_equal(c->signing.url, "https://clientauth.one.digicert.com");
    dcpki_config_free(c);
    /* a bad variable matters only where it would be used */
    setenv("SM_CONN_TIMEOUT", "abc", 1);
    c = parse_ok("[ca]\ntimeout_ms = 1000\n");
    assert_int_equal(dcpki_config_apply_env(c, &e), DCPKI_OK);
    dcpki_config_free(c);
    env_bad("[ca]\nhost = pki-ws.symauth.com\n", DCPKI_E_CONFIG_BAD_VALUE,
            "SM_CONN_TIMEOUT must be a whole number of milliseconds, not 'abc'");

    /* dcpki_config_load: a file applies the variables; a missing file named on
     * purpose stays an error even with SM_HOST set */
    sm_all();
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/dcpki-test-config-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char conf[512], missing[512], want[1200];
    write_file("dcpki.conf", "[ca]\nhost = pki-ws.symauth.com\n", 0644, conf);
    snprintf(missing, sizeof(missing), "%s/missing.conf", tmpdir);
    assert_int_equal(dcpki_config_load(conf, &c, &e), DCPKI_OK);
    assert_string_equal(c->path, conf);
    assert_string_equal(c->signing.url, "https://clientauth.one.digicert.com");
    assert_string_equal(c->signing.api_key, SM_KEY);
    dcpki_config_free(c);
    setenv("SM_HOST", "ftp://x", 1);
    assert_int_equal(dcpki_config_load(conf, &c, &e), DCPKI_E_CONFIG_BAD_VALUE);
    assert_null(c);
    assert_string_equal(e.detail, "SM_HOST 'ftp://x' must start with https:// (e.g. https://clientauth.one.digicert.com)");
    sm_all();
    assert_int_equal(dcpki_config_load(missing, &c, &e), DCPKI_E_CONFIG_MISSING);
    snprintf(want, sizeof(want), "cannot read %s: no such file or directory", missing);
    assert_string_equal(e.detail, want);
    setenv("DCPKI_CONF", missing, 1);
    assert_int_equal(dcpki_config_load(NULL, &c, &e), DCPKI_E_CONFIG_MISSING);
    assert_string_equal(e.detail, want);
    unsetenv("DCPKI_CONF");
    unlink(conf);
    rmdir(tmpdir);
    sm_clear();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_design_block),
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_seat_id),
        cmocka_unit_test(test_store_keys),
        cmocka_unit_test(test_nul_byte),
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_sm_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The RA identity: certificate + key files, PKCS#12, store directory chosen by
 * thumbprint. Keys and certificates are made here with OpenSSL. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/pkcs12.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dcpki/config.h"
#include "dcpki/identity.h"

static char dir[256];
static EVP_PKEY *ra_key, *other_key, *ec_key;
static X509 *ra_cert, *other_cert, *ec_cert;
static char ra_tp[41], other_tp[41];

static X509 *self_signed(EVP_PKEY *k, const char *cn)
{
    X509 *x = X509_new();
    assert_non_null(x);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 1234);
    X509_NAME *n = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_ASC, (const unsigned char *)cn, -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 86400);
    X509_set_pubkey(x, k);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    return x;
}

static void tp_of(X509 *x, char out[41])
{
    unsigned char md[20];
    unsigned int n = 0;
    X509_digest(x, EVP_sha1(), md, &n);
    dcpki_thumbprint_format(md, out);
}

static char *path_of(const char *name)
{
    static char bufs[8][512];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 512, "%s/%s", dir, name);
    return b;
}

static void write_pem(const char *name, X509 *c1, X509 *c2, EVP_PKEY *k)
{
    BIO *b = BIO_new_file(path_of(name), "w");
    assert_non_null(b);
    if (c1)
        PEM_write_bio_X509(b, c1);
    if (c2)
        PEM_write_bio_X509(b, c2);
    if (k)
        PEM_write_bio_PrivateKey(b, k, NULL, NULL, 0, NULL, NULL);
    BIO_free(b);
    chmod(path_of(name), 0600);
}

static void write_text(const char *name, const char *text)
{
    FILE *f = fopen(path_of(name), "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof(dir), "/tmp/dcpki-test-identity-XXXXXX");
    if (!mkdtemp(dir))
        return -1;
    ra_key = EVP_RSA_gen(2048);
    other_key = EVP_RSA_gen(2048);
    ec_key = EVP_EC_gen("P-256");
    if (!ra_key || !other_key || !ec_key)
        return -1;
    ra_cert = self_signed(ra_key, "dcpki test RA");
    other_cert = self_signed(other_key, "other");
    ec_cert = self_signed(ec_key, "ec");
    tp_of(ra_cert, ra_tp);
    tp_of(other_cert, other_tp);
    setenv("TMPDIR", dir, 1);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char p[600];
        snprintf(p, sizeof(p), "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(p, &st) == 0 && S_ISDIR(st.st_mode)) {
            DIR *d2 = opendir(p);
            struct dirent *e2;
            while (d2 && (e2 = readdir(d2))) {
                char p2[900];
                snprintf(p2, sizeof(p2), "%s/%s", p, e2->d_name);
                if (e2->d_name[0] != '.')
                    unlink(p2);
            }
            if (d2)
                closedir(d2);
            rmdir(p);
        } else {
            unlink(p);
        }
    }
    if (d)
        closedir(d);
    rmdir(dir);
    EVP_PKEY_free(ra_key);
    EVP_PKEY_free(other_key);
    EVP_PKEY_free(ec_key);
    X509_free(ra_cert);
    X509_free(other_cert);
    X509_free(ec_cert);
    return 0;
}

static dcpki_config *conf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static dcpki_config *conf(const char *fmt, ...)
{
    char text[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof(text), fmt, ap);
    va_end(ap);
    dcpki_config *c = NULL;
    dcpki_err e;
    if (dcpki_config_parse(text, strlen(text), "dcpki.conf", &c, &e) != DCPKI_OK)
        fail_msg("config: %s", e.detail);
    return c;
}

static dcpki_identity *load_ok(dcpki_config *c)
{
    dcpki_identity *id = NULL;
    dcpki_err e;
    if (dcpki_identity_load(c, NULL, &id, &e) != DCPKI_OK)
        fail_msg("identity: %s", e.detail);
    return id;
}

static void load_bad(dcpki_config *c, dcpki_code code, const char *detail)
{
    dcpki_identity *id = (dcpki_identity *)1;
    dcpki_err e;
    dcpki_code rc = dcpki_identity_load(c, NULL, &id, &e);
    assert_null(id);
    if (rc != code || strcmp(e.detail, detail) != 0)
        fail_msg("want %d '%s'\ngot  %d '%s'", code, detail, rc, e.detail);
}

static void check_ra(dcpki_identity *id)
{
    assert_int_equal(X509_cmp(dcpki_identity_cert(id), ra_cert), 0);
    assert_non_null(dcpki_identity_signing_key(id));
    assert_int_equal(EVP_PKEY_eq(dcpki_identity_public_key(id), ra_key), 1);
    unsigned char tp[20];
    char s[41];
    dcpki_identity_thumbprint(id, tp);
    dcpki_thumbprint_format(tp, s);
    assert_string_equal(s, ra_tp);
}

static int file_contains(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strstr(buf, needle) != NULL;
}

/* TLS credentials are a sealed memory file holding the certificate and,
 * unless the key is on a token, the RA key; nothing on a disk. */
static void check_memory_creds(const dcpki_tls_client_creds *cr, int with_key)
{
    assert_non_null(strstr(cr->cert_path, "/proc/self/fd/"));
    assert_string_equal(cr->cert_type, "PEM");
    assert_int_equal(file_contains(cr->cert_path, "BEGIN CERTIFICATE"), 1);
    assert_null(cr->password);
    int fd = open(cr->cert_path, O_WRONLY | O_APPEND);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "x", 1), -1); /* sealed */
    close(fd);
    if (!with_key) {
        assert_int_equal(file_contains(cr->cert_path, "PRIVATE KEY"), 0);
        return;
    }
    assert_string_equal(cr->key_path, cr->cert_path);
    BIO *b = BIO_new_file(cr->key_path, "r");
    EVP_PKEY *k = PEM_read_bio_PrivateKey(b, NULL, NULL, NULL);
    BIO_free(b);
    assert_non_null(k);
    assert_int_equal(EVP_PKEY_eq(k, ra_key), 1);
    EVP_PKEY_free(k);
}

static void test_files(void **state)
{
    (void)state;
    write_pem("ra.pem", ra_cert, NULL, NULL);
    write_pem("ra.key", NULL, NULL, ra_key);
    dcpki_config *c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("ra.key"));
    dcpki_identity *id = load_ok(c);
    check_ra(id);
    dcpki_tls_client_creds cr;
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 1);
    assert_string_equal(cr.key_type, "PEM");
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* with the right thumbprint (lower case, spaced) */
    char spaced[80] = "";
    for (int i = 0; i < 40; i += 2) {
        char two[4] = { (char)(ra_tp[i] | 0x20), (char)(ra_tp[i + 1] | 0x20), ' ', 0 };
        strcat(spaced, two);
    }
    c = conf("[ra]\ncertificate = %s\nkey = %s\ncertificate_thumbprint = %s\n", path_of("ra.pem"), path_of("ra.key"),
             spaced);
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* with a wrong thumbprint */
    char want[2048];
    c = conf("[ra]\ncertificate = %s\nkey = %s\ncertificate_thumbprint = %s\n", path_of("ra.pem"), path_of("ra.key"),
             other_tp);
    snprintf(want, sizeof(want), "the certificate in %s has thumbprint %s, not [ra] certificate_thumbprint %s",
             path_of("ra.pem"), ra_tp, other_tp);
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);

    /* certificate file missing */
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("nope.pem"), path_of("ra.key"));
    snprintf(want, sizeof(want), "the file %s ([ra] certificate) does not exist", path_of("nope.pem"));
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);

    /* key missing */
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("nope.key"));
    snprintf(want, sizeof(want), "the key file %s does not exist", path_of("nope.key"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);

    /* key unreadable (not testable as root: root reads mode 000 files) */
    if (geteuid() != 0) {
        write_pem("locked.key", NULL, NULL, ra_key);
        chmod(path_of("locked.key"), 0);
        c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("locked.key"));
        snprintf(want, sizeof(want), "cannot read the key file %s: permission denied", path_of("locked.key"));
        load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
        dcpki_config_free(c);
    }

    /* key of another certificate */
    write_pem("other.key", NULL, NULL, other_key);
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("other.key"));
    snprintf(want, sizeof(want), "the key in %s does not belong to the certificate in %s (thumbprint %s)",
             path_of("other.key"), path_of("ra.pem"), ra_tp);
    load_bad(c, DCPKI_E_RA_KEY_MISMATCH, want);
    dcpki_config_free(c);

    /* a file that is no key */
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("ra.pem"));
    snprintf(want, sizeof(want), "[ra] key is not set and %s holds no private key", path_of("ra.pem"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);
    write_text("garbage.key", "not a key\n");
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("garbage.key"));
    snprintf(want, sizeof(want), "%s ([ra] key) holds no private key that OpenSSL can read", path_of("garbage.key"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);

    /* encrypted key */
    BIO *b = BIO_new_file(path_of("enc.key"), "w");
    PEM_write_bio_PKCS8PrivateKey(b, ra_key, EVP_aes_128_cbc(), "pw", 2, NULL, NULL);
    BIO_free(b);
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.pem"), path_of("enc.key"));
    snprintf(want, sizeof(want),
             "%s ([ra] key) is encrypted; give an unencrypted key file readable only by this service, or a PKCS#12 file with pkcs12_password_file",
             path_of("enc.key"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);

    /* key without certificate, nothing at all, two ways at once */
    c = conf("[ra]\nkey = %s\n", path_of("ra.key"));
    load_bad(c, DCPKI_E_CONFIG_INCOMPLETE, "[ra] key is set but [ra] certificate is not (in dcpki.conf)");
    dcpki_config_free(c);
    c = conf("[ca]\nname = Symantec\n");
    load_bad(c, DCPKI_E_CONFIG_INCOMPLETE,
             "[ra] in dcpki.conf names no RA identity: set certificate and key, or pkcs12 (and pkcs12_password_file), or store and certificate_thumbprint");
    dcpki_config_free(c);
    c = conf("[ra]\ncertificate = %s\npkcs12 = %s\n", path_of("ra.pem"), path_of("ra.p12"));
    load_bad(c, DCPKI_E_CONFIG_BAD_VALUE,
             "[ra] in dcpki.conf names the RA identity in more than one way: use only one of certificate/key, pkcs12, store");
    dcpki_config_free(c);
}

static void test_one_file_and_der(void **state)
{
    (void)state;
    /* certificate + key in one PEM file, key not named */
    write_pem("both.pem", ra_cert, NULL, ra_key);
    dcpki_config *c = conf("[ra]\ncertificate = %s\n", path_of("both.pem"));
    dcpki_identity *id = load_ok(c);
    check_ra(id);
    dcpki_tls_client_creds cr;
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 1);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* a DER certificate: the same, from DER */
    BIO *b = BIO_new_file(path_of("ra.der"), "wb");
    i2d_X509_bio(b, ra_cert);
    BIO_free(b);
    write_pem("ra.key", NULL, NULL, ra_key);
    c = conf("[ra]\ncertificate = %s\nkey = %s\n", path_of("ra.der"), path_of("ra.key"));
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 1);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* pkcs11 key: not loaded locally */
    c = conf("[ra]\ncertificate = %s\nkey = pkcs11:token=RA;object=ra;type=private\n", path_of("ra.pem"));
    write_pem("ra.pem", ra_cert, NULL, NULL);
    id = load_ok(c);
    assert_null(dcpki_identity_signing_key(id));
    assert_int_equal(EVP_PKEY_eq(dcpki_identity_public_key(id), ra_key), 1);
    assert_int_equal(X509_cmp(dcpki_identity_cert(id), ra_cert), 0);
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 0);
    assert_string_equal(cr.key_path, "pkcs11:token=RA;object=ra;type=private");
    dcpki_identity_free(id);
    dcpki_config_free(c);
}

static void write_p12(const char *name, const char *pass)
{
    STACK_OF(X509) *ca = sk_X509_new_null();
    sk_X509_push(ca, other_cert);
    PKCS12 *p = PKCS12_create(pass, "ra", ra_key, ra_cert, ca, 0, 0, 0, 0, 0);
    sk_X509_free(ca);
    assert_non_null(p);
    BIO *b = BIO_new_file(path_of(name), "wb");
    i2d_PKCS12_bio(b, p);
    BIO_free(b);
    PKCS12_free(p);
}

static void test_pkcs12(void **state)
{
    (void)state;
    write_p12("ra.p12", "p12-pass");
    write_text("ra.pass", "p12-pass\n");
    write_text("wrong.pass", "nope\n");
    dcpki_config *c = conf("[ra]\npkcs12 = %s\npkcs12_password_file = %s\ncertificate_thumbprint = %s\n",
                           path_of("ra.p12"), path_of("ra.pass"), ra_tp);
    dcpki_identity *id = load_ok(c);
    check_ra(id);
    dcpki_tls_client_creds cr;
    dcpki_identity_tls_creds(id, &cr);
    assert_string_equal(cr.cert_type, "PEM");
    check_memory_creds(&cr, 1);
    /* a forked child (an nginx worker, whose exit runs OpenSSL's cleanup and
     * with it the provider's teardown) that frees the identity must not take
     * the credentials from its parent; a child that dropped privileges (a
     * worker running as nobody) still reads them */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (getuid() == 0 && (setgid(65534) != 0 || setuid(65534) != 0))
            _exit(3);
        FILE *f = fopen(cr.cert_path, "r");
        dcpki_identity_free(id);
        _exit(f == NULL ? 4 : 0);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    check_memory_creds(&cr, 1);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    char want[2048];
    c = conf("[ra]\npkcs12 = %s\npkcs12_password_file = %s\n", path_of("ra.p12"), path_of("wrong.pass"));
    snprintf(want, sizeof(want), "wrong password for %s (check [ra] pkcs12_password_file)", path_of("ra.p12"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);
    c = conf("[ra]\npkcs12 = %s\n", path_of("ra.p12"));
    snprintf(want, sizeof(want), "%s is protected by a password: set [ra] pkcs12_password_file", path_of("ra.p12"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);
    c = conf("[ra]\npkcs12 = %s\npkcs12_password_file = %s\n", path_of("ra.p12"), path_of("none.pass"));
    snprintf(want, sizeof(want), "[ra] pkcs12_password_file: the file %s does not exist", path_of("none.pass"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);
    c = conf("[ra]\npkcs12 = %s\n", path_of("none.p12"));
    snprintf(want, sizeof(want), "the file %s ([ra] pkcs12) does not exist", path_of("none.p12"));
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);
    c = conf("[ra]\npkcs12 = %s\n", path_of("ra.pass"));
    snprintf(want, sizeof(want), "%s ([ra] pkcs12) is not a PKCS#12 file", path_of("ra.pass"));
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);

    /* the same from SM_CLIENT_CERT_FILE + SM_CLIENT_CERT_PASSWORD (KeyLocker's
     * variables): the password is held in memory; errors name the variables */
    setenv("SM_CLIENT_CERT_FILE", path_of("ra.p12"), 1);
    setenv("SM_CLIENT_CERT_PASSWORD", "p12-pass", 1);
    c = conf("[ra]\n");
    assert_int_equal(dcpki_config_apply_env(c, NULL), DCPKI_OK);
    assert_string_equal(c->ra.pkcs12_password, "p12-pass");
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_free(id);
    dcpki_config_free(c);
    setenv("SM_CLIENT_CERT_PASSWORD", "nope", 1);
    c = conf("[ra]\n");
    assert_int_equal(dcpki_config_apply_env(c, NULL), DCPKI_OK);
    snprintf(want, sizeof(want), "wrong password for %s (check SM_CLIENT_CERT_PASSWORD)", path_of("ra.p12"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);
    unsetenv("SM_CLIENT_CERT_PASSWORD");
    c = conf("[ra]\n");
    assert_int_equal(dcpki_config_apply_env(c, NULL), DCPKI_OK);
    snprintf(want, sizeof(want), "%s is protected by a password: set SM_CLIENT_CERT_PASSWORD", path_of("ra.p12"));
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);
    setenv("SM_CLIENT_CERT_FILE", path_of("none.p12"), 1);
    c = conf("[ra]\n");
    assert_int_equal(dcpki_config_apply_env(c, NULL), DCPKI_OK);
    snprintf(want, sizeof(want), "the file %s (SM_CLIENT_CERT_FILE) does not exist", path_of("none.p12"));
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);
    /* a file that names the identity wins: the variables are not used */
    setenv("SM_CLIENT_CERT_FILE", path_of("none.p12"), 1);
    setenv("SM_CLIENT_CERT_PASSWORD", "nope", 1);
    c = conf("[ra]\npkcs12 = %s\npkcs12_password_file = %s\n", path_of("ra.p12"), path_of("ra.pass"));
    assert_int_equal(dcpki_config_apply_env(c, NULL), DCPKI_OK);
    assert_null(c->ra.pkcs12_password);
    id = load_ok(c);
    dcpki_identity_free(id);
    dcpki_config_free(c);
    unsetenv("SM_CLIENT_CERT_FILE");
    unsetenv("SM_CLIENT_CERT_PASSWORD");

    /* no password at all */
    write_p12("open.p12", NULL);
    c = conf("[ra]\npkcs12 = %s\n", path_of("open.p12"));
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_free(id);
    dcpki_config_free(c);
}

static void test_store(void **state)
{
    (void)state;
    char store[512];
    snprintf(store, sizeof(store), "%s/store", dir);
    mkdir(store, 0700);
    /* a.pem: two unrelated certificates; b.der: another; ra.crt: the RA certificate, key in ra.key */
    write_pem("store/a.pem", other_cert, ec_cert, NULL);
    BIO *b = BIO_new_file(path_of("store/b.der"), "wb");
    i2d_X509_bio(b, ec_cert);
    BIO_free(b);
    write_pem("store/ra.crt", ra_cert, NULL, NULL);
    write_pem("store/ra.key", NULL, NULL, ra_key);
    write_text("store/notes.txt", "ignored\n");
    dcpki_config *c = conf("[ra]\nstore = %s\ncertificate_thumbprint = %s\n", store, ra_tp);
    dcpki_identity *id = load_ok(c);
    check_ra(id);
    dcpki_tls_client_creds cr;
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 1);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* thumbprint of nothing in the store */
    char want[2048];
    c = conf("[ra]\nstore = %s\ncertificate_thumbprint = 0000000000000000000000000000000000000000\n", store);
    snprintf(want, sizeof(want),
             "no certificate in %s has thumbprint 0000000000000000000000000000000000000000 (4 certificates in 3 files examined)",
             store);
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);

    /* the key under another name: found by its public key */
    rename(path_of("store/ra.key"), path_of("store/zz-renamed.key"));
    write_pem("store/aa-other.key", NULL, NULL, other_key);
    c = conf("[ra]\nstore = %s\ncertificate_thumbprint = %s\n", store, ra_tp);
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 1); /* the key is the RA key */
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* BASE.key of another key: mismatch */
    write_pem("store/ra.key", NULL, NULL, other_key);
    c = conf("[ra]\nstore = %s\ncertificate_thumbprint = %s\n", store, ra_tp);
    snprintf(want, sizeof(want), "the key in %s does not belong to the certificate %s (thumbprint %s)",
             path_of("store/ra.key"), path_of("store/ra.crt"), ra_tp);
    load_bad(c, DCPKI_E_RA_KEY_MISMATCH, want);
    dcpki_config_free(c);

    /* no key anywhere */
    unlink(path_of("store/ra.key"));
    unlink(path_of("store/zz-renamed.key"));
    c = conf("[ra]\nstore = %s\ncertificate_thumbprint = %s\n", store, ra_tp);
    snprintf(want, sizeof(want),
             "no private key for the certificate %s (thumbprint %s) in %s: looked for %s/ra.key, a key in the same file and every *.key file",
             path_of("store/ra.crt"), ra_tp, store, store);
    load_bad(c, DCPKI_E_RA_KEY_UNREADABLE, want);
    dcpki_config_free(c);

    /* key in the same PEM file */
    write_pem("store/ra.crt", ra_cert, NULL, ra_key);
    c = conf("[ra]\nstore = %s\ncertificate_thumbprint = %s\n", store, ra_tp);
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* the chosen certificate is the second of its file: TLS gets a temporary file */
    write_pem("store/a.pem", other_cert, ec_cert, NULL);
    unlink(path_of("store/ra.crt"));
    write_pem("store/m.pem", other_cert, ra_cert, NULL);
    write_pem("store/m.key", NULL, NULL, ra_key);
    c = conf("[ra]\nstore = %s\ncertificate_thumbprint = %s\n", store, ra_tp);
    id = load_ok(c);
    check_ra(id);
    dcpki_identity_tls_creds(id, &cr);
    check_memory_creds(&cr, 1);
    dcpki_identity_free(id);
    dcpki_config_free(c);

    /* store missing, thumbprint missing */
    c = conf("[ra]\nstore = %s/none\ncertificate_thumbprint = %s\n", dir, ra_tp);
    snprintf(want, sizeof(want), "the store directory %s/none ([ra] store) does not exist", dir);
    load_bad(c, DCPKI_E_RA_CERT_NOT_FOUND, want);
    dcpki_config_free(c);
    c = conf("[ra]\nstore = %s\n", store);
    load_bad(c, DCPKI_E_CONFIG_INCOMPLETE, "[ra] store is set but [ra] certificate_thumbprint is not (in dcpki.conf)");
    dcpki_config_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_one_file_and_der),
        cmocka_unit_test(test_pkcs12),
        cmocka_unit_test(test_store),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

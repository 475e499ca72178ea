/* End-to-end test of transport + signing against the emulator. Runs when
 * DCPKI_TEST_EMULATOR_STATE names an emulator state directory (skipped
 * otherwise). The test copies that state, starts its own emulator on the copy
 * (so that fault injection disturbs no other test), gets an RA certificate
 * through `dcpki-emulator ra-issue`, and checks list / describe / sign for
 * every scheme, one connection for N signatures, threads, fork, retries,
 * and the errors: unknown alias, untrusted server, refused client
 * certificate, wrong API key, timeout; and the disk cache of keypair
 * metadata (one request per signature for a new client, stale entries). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "dcpki/config.h"
#include "dcpki/identity.h"
#include "dcpki/signing.h"
#include "dcpki/transport.h"
#include "../../src/core/internal.h"

extern char **environ;

static char work[256], priv[300];
static char url[256], host[128], trust[512], apikey[512];
static pid_t emu_pid = -1;
static int live;

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static char *wpath(const char *name)
{
    static char bufs[8][600];
    static int i;
    char *b = bufs[i++ % 8];
    snprintf(b, 600, "%s/%s", work, name);
    return b;
}

static int read_emulator_json(const char *state)
{
    char p[600];
    snprintf(p, sizeof(p), "%s/emulator.json", state);
    json_object *o = json_object_from_file(p);
    if (!o)
        return -1;
    json_object *v;
#define GET(k, dst)                                                                                \
    if (!json_object_object_get_ex(o, k, &v)) {                                                    \
        json_object_put(o);                                                                        \
        return -1;                                                                                 \
    }                                                                                              \
    snprintf(dst, sizeof(dst), "%s", json_object_get_string(v));
    GET("url", url)
    GET("host", host)
    GET("trust", trust)
    GET("api_key_file", apikey)
#undef GET
    json_object_put(o);
    return 0;
}

static int start_emulator(const char *src)
{
    char script[600], log[600];
    snprintf(script, sizeof(script), "%s/scripts/dcpki-emulator", src);
    snprintf(log, sizeof(log), "%s/emulator.log", work);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    char *argv[] = { script, "--state", priv, "--port", "0", NULL };
    int rc = posix_spawn(&emu_pid, script, &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0)
        return -1;
    char p[600];
    snprintf(p, sizeof(p), "%s/emulator.json", priv);
    for (int i = 0; i < 300; i++) {
        struct stat st;
        if (stat(p, &st) == 0 && st.st_size > 0 && read_emulator_json(priv) == 0)
            return 0;
        usleep(100 * 1000);
    }
    return -1;
}

static int setup(void **state)
{
    (void)state;
    const char *shared = getenv("DCPKI_TEST_EMULATOR_STATE");
    const char *src = getenv("DCPKI_SRC");
    char p[600];
    if (!shared || !src)
        return 0;
    snprintf(p, sizeof(p), "%s/emulator.json", shared);
    if (access(p, R_OK) != 0)
        return 0;
    snprintf(work, sizeof(work), "/tmp/dcpki-test-live-XXXXXX");
    if (!mkdtemp(work))
        return -1;
    /* a disk cache of this run only; the tests that count on the service
     * answering describe run without it (test_disk_cache turns it on) */
    char cache[600];
    snprintf(cache, sizeof(cache), "%s/cache", work);
    setenv("XDG_CACHE_HOME", cache, 1);
    setenv("DCPKI_NO_DISK_CACHE", "1", 1);
    snprintf(priv, sizeof(priv), "%s/emu", work);
    char cmd[4096];
    snprintf(cmd, sizeof(cmd), "'%s/tests/integration/copy-emulator-state' '%s' '%s'", src, shared, priv);
    if (run(cmd) != 0)
        return -1;
    if (start_emulator(src) != 0) {
        fprintf(stderr, "emulator did not start (log in %s/emulator.log)\n", work);
        return -1;
    }
    /* RA key + CSR (RSA-2048, clientAuth) and its certificate from the portal step */
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && OPENSSL_CONF=/dev/null openssl req -new -newkey rsa:2048 -nodes -keyout ra.key "
             "-subj '/CN=dcpki core live test' -addext 'keyUsage=critical,digitalSignature,keyEncipherment' "
             "-addext 'extendedKeyUsage=clientAuth' -out ra.csr 2>/dev/null && "
             "'%s/scripts/dcpki-emulator' ra-issue --state '%s' --csr ra.csr --out ra.pem >/dev/null && "
             "echo p12-secret > ra.pass && "
             "OPENSSL_CONF=/dev/null openssl pkcs12 -export -inkey ra.key -in ra.pem -passout file:ra.pass -out ra.p12 && "
             /* a server trust that does not verify the emulator, and a client certificate it did not issue */
             "OPENSSL_CONF=/dev/null openssl req -x509 -newkey rsa:2048 -nodes -keyout other.key -days 2 "
             "-subj '/CN=unrelated root' -out other.pem 2>/dev/null && "
             "echo wrong-api-key > bad-api-key",
             work, src, priv);
    if (run(cmd) != 0)
        return -1;
    live = 1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (emu_pid > 0) {
        kill(emu_pid, SIGTERM);
        int st;
        for (int i = 0; i < 50 && waitpid(emu_pid, &st, WNOHANG) == 0; i++)
            usleep(100 * 1000);
        kill(emu_pid, SIGKILL);
        waitpid(emu_pid, &st, WNOHANG);
    }
    if (work[0]) {
        char cmd[600];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", work);
        run(cmd);
    }
    return 0;
}

struct env {
    dcpki_config *cfg;
    dcpki_identity *id;
    dcpki_transport *t;
    dcpki_signing *s;
};

static void env_free(struct env *e)
{
    dcpki_signing_free(e->s);
    dcpki_transport_free(e->t);
    dcpki_identity_free(e->id);
    dcpki_config_free(e->cfg);
    memset(e, 0, sizeof(*e));
}

/* Build config (with overrides) → identity → transport → signing. */
static dcpki_code env_make(struct env *e, dcpki_err *err, const char *ra, const char *trust_file, const char *key_file,
                           long timeout_ms)
{
    memset(e, 0, sizeof(*e));
    char text[4096];
    snprintf(text, sizeof(text),
             "[ca]\nhost = %s\nname = Symantec\ntimeout_ms = %ld\ntrust = %s\n[ra]\n%s\n[signing]\nurl = %s\napi_key_file = %s\n",
             host, timeout_ms, trust_file ? trust_file : trust, ra, url, key_file ? key_file : apikey);
    dcpki_code rc = dcpki_config_parse(text, strlen(text), "live.conf", &e->cfg, err);
    if (rc == DCPKI_OK)
        rc = dcpki_identity_load(e->cfg, NULL, &e->id, err);
    if (rc == DCPKI_OK)
        rc = dcpki_transport_new(e->cfg, e->id, &e->t, err);
    if (rc == DCPKI_OK)
        rc = dcpki_signing_new(e->cfg, e->t, NULL, &e->s, err);
    return rc;
}

static void env_ok(struct env *e, const char *ra, long timeout_ms)
{
    dcpki_err err;
    if (env_make(e, &err, ra, NULL, NULL, timeout_ms) != DCPKI_OK)
        fail_msg("setup: %s", err.detail);
}

static char ra_files[1300];

static const char *ra_pem(void)
{
    snprintf(ra_files, sizeof(ra_files), "certificate = %s\nkey = %s", wpath("ra.pem"), wpath("ra.key"));
    return ra_files;
}

static void show(const dcpki_err *err)
{
    char buf[1200];
    print_message("  %s: %s\n", dcpki_code_id(err->code), dcpki_err_format(err, buf, sizeof(buf)));
}

#define LIVE()                                                                                     \
    do {                                                                                           \
        if (!live)                                                                                 \
            skip();                                                                                \
    } while (0)

static void test_list_describe(void **state)
{
    (void)state;
    LIVE();
    struct env e;
    env_ok(&e, ra_pem(), 10000);
    dcpki_err err;
    dcpki_keypair **items = NULL;
    size_t n = 0;
    if (dcpki_signing_list(e.s, &items, &n, &err) != DCPKI_OK)
        fail_msg("list: %s", err.detail);
    int saw_rsa = 0, saw_ec = 0;
    for (size_t i = 0; i < n; i++) {
        if (strcmp(items[i]->alias, "issuing-ca") == 0) {
            saw_rsa = 1;
            assert_int_equal(items[i]->alg, DCPKI_KEY_RSA);
            assert_int_equal(items[i]->bits, 2048);
        }
        if (strcmp(items[i]->alias, "ec-ca") == 0) {
            saw_ec = 1;
            assert_int_equal(items[i]->alg, DCPKI_KEY_EC);
            assert_string_equal(items[i]->curve, "prime256v1");
        }
    }
    assert_true(saw_rsa && saw_ec);
    dcpki_keypairs_free(items, n);

    dcpki_keypair *kp = NULL;
    if (dcpki_signing_describe(e.s, "issuing-ca", &kp, &err) != DCPKI_OK)
        fail_msg("describe: %s", err.detail);
    assert_string_equal(kp->alias, "issuing-ca");
    assert_non_null(kp->id);
    assert_int_equal(kp->alg, DCPKI_KEY_RSA);
    assert_int_equal(kp->bits, 2048);
    assert_null(kp->curve);
    assert_string_equal(kp->status, "ONLINE");
    assert_non_null(kp->pub);
    assert_non_null(kp->cert.data);
    assert_true(kp->chain_len >= 1);
    assert_int_equal(EVP_PKEY_get_size(kp->pub), 256);
    const unsigned char *p = kp->cert.data;
    X509 *x = d2i_X509(NULL, &p, (long)kp->cert.len);
    assert_non_null(x);
    assert_int_equal(EVP_PKEY_eq(X509_get0_pubkey(x), kp->pub), 1);
    X509_free(x);
    /* cached: same object */
    dcpki_keypair *again = NULL;
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &again, &err), DCPKI_OK);
    assert_ptr_equal(again, kp);
    dcpki_keypair_free(again);
    dcpki_keypair_free(kp);

    /* by UUID too */
    assert_int_equal(dcpki_signing_describe(e.s, "ec-ca", &kp, &err), DCPKI_OK);
    char *uuid = strdup(kp->id);
    assert_true(EVP_PKEY_get_size(kp->pub) >= 70);
    dcpki_keypair_free(kp);
    assert_int_equal(dcpki_signing_describe(e.s, uuid, &kp, &err), DCPKI_OK);
    assert_string_equal(kp->alias, "ec-ca");
    dcpki_keypair_free(kp);
    free(uuid);

    /* unknown alias */
    assert_int_equal(dcpki_signing_describe(e.s, "no-such-key", &kp, &err), DCPKI_E_KEY_NOT_FOUND);
    assert_null(kp);
    show(&err);
    assert_non_null(strstr(err.detail, "alias 'no-such-key'"));
    assert_non_null(strstr(err.detail, "HTTP 404"));
    env_free(&e);
}

static void sign_and_check(dcpki_signing *s, dcpki_keypair *kp, dcpki_sig_scheme scheme, const char *md)
{
    static const unsigned char msg[] = "to be signed by the cloud";
    unsigned char dig[64];
    unsigned int dl = 0;
    const EVP_MD *m = EVP_get_digestbyname(md ? md : "SHA256");
    EVP_Digest(msg, sizeof(msg), dig, &dl, m, NULL);
    unsigned char tbs[128];
    size_t tbs_len = dl;
    memcpy(tbs, dig, dl);
    if (scheme == DCPKI_SIG_RSA_RAW) {
        /* DigestInfo for SHA-256 */
        static const unsigned char prefix[] = { 0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65,
                                                0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20 };
        memcpy(tbs, prefix, sizeof(prefix));
        memcpy(tbs + sizeof(prefix), dig, dl);
        tbs_len = sizeof(prefix) + dl;
    }
    unsigned char *sig = NULL;
    size_t sl = 0;
    dcpki_err err;
    if (dcpki_signing_sign(s, kp, scheme, scheme == DCPKI_SIG_RSA_RAW ? NULL : md, tbs, tbs_len, &sig, &sl, &err) !=
        DCPKI_OK)
        fail_msg("sign %s/%d/%s: %s", kp->alias, scheme, md ? md : "-", err.detail);
    assert_true(sl <= (size_t)EVP_PKEY_get_size(kp->pub));
    /* independent check over the message with plain OpenSSL */
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    EVP_PKEY_CTX *pc = NULL;
    assert_int_equal(EVP_DigestVerifyInit(c, &pc, m, NULL, kp->pub), 1);
    if (scheme == DCPKI_SIG_RSA_PSS) {
        EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
        EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
    }
    assert_int_equal(EVP_DigestVerify(c, sig, sl, msg, sizeof(msg)), 1);
    EVP_MD_CTX_free(c);
    OPENSSL_free(sig);
}

static void test_sign_all_schemes(void **state)
{
    (void)state;
    LIVE();
    struct env e;
    env_ok(&e, ra_pem(), 10000);
    dcpki_err err;
    dcpki_keypair *rsa = NULL, *ec = NULL;
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &rsa, &err), DCPKI_OK);
    assert_int_equal(dcpki_signing_describe(e.s, "ec-ca", &ec, &err), DCPKI_OK);
    const char *mds[] = { "SHA256", "SHA384", "SHA512" };
    for (int i = 0; i < 3; i++) {
        sign_and_check(e.s, rsa, DCPKI_SIG_RSA_PKCS1, mds[i]);
        sign_and_check(e.s, rsa, DCPKI_SIG_RSA_PSS, mds[i]);
        sign_and_check(e.s, ec, DCPKI_SIG_ECDSA, mds[i]);
    }
    sign_and_check(e.s, rsa, DCPKI_SIG_RSA_RAW, NULL);
    /* mismatches are refused locally */
    unsigned char d[32] = { 0 };
    unsigned char *sig = NULL;
    size_t sl;
    assert_int_equal(dcpki_signing_sign(e.s, ec, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &err), DCPKI_E_UNSUPPORTED);
    assert_int_equal(dcpki_signing_sign(e.s, rsa, DCPKI_SIG_RSA_PKCS1, "SHA384", d, 32, &sig, &sl, &err),
                     DCPKI_E_INVALID_ARGUMENT);
    assert_string_equal(err.detail, "a SHA384 digest has 48 bytes, not 32");
    assert_int_equal(dcpki_signing_sign(e.s, rsa, DCPKI_SIG_RSA_PKCS1, "MD5", d, 16, &sig, &sl, &err), DCPKI_E_UNSUPPORTED);
    assert_null(sig);
    dcpki_keypair_free(rsa);
    dcpki_keypair_free(ec);
    env_free(&e);
}

static void test_one_connection(void **state)
{
    (void)state;
    LIVE();
    struct env e;
    env_ok(&e, ra_pem(), 10000);
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_OK);
    for (int i = 0; i < 20; i++)
        sign_and_check(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256");
    assert_int_equal(dcpki_transport_connections(e.t), 1);

    /* a forked child gets its own connection; the parent's stays usable */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        unsigned char d[32] = { 1 };
        unsigned char *sig = NULL;
        size_t sl;
        dcpki_err cerr;
        int ok = dcpki_signing_sign(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &cerr) == DCPKI_OK &&
                 dcpki_transport_connections(e.t) == 2;
        if (!ok)
            fprintf(stderr, "child: %s\n", cerr.detail);
        _exit(ok ? 0 : 1);
    }
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    for (int i = 0; i < 3; i++)
        sign_and_check(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256");
    assert_int_equal(dcpki_transport_connections(e.t), 1);

    /* a child that closes every descriptor it did not open (a daemonising
     * program) loses the in-memory RA identity and trust: the error says so */
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        for (int fd = 3; fd < 1024; fd++)
            close(fd);
        unsigned char d[32] = { 2 };
        unsigned char *sig = NULL;
        size_t sl;
        dcpki_err cerr;
        dcpki_code rc = dcpki_signing_sign(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &cerr);
        int ok = rc == DCPKI_E_FILE_UNREADABLE && strstr(cerr.detail, "closed by this program after it forked");
        if (!ok)
            fprintf(stderr, "child: %s: %s\n", dcpki_code_id(rc), cerr.detail);
        _exit(ok ? 0 : 1);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    sign_and_check(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256");
    dcpki_keypair_free(kp);
    env_free(&e);
}

struct thr {
    dcpki_signing *s;
    dcpki_keypair *kp;
    int failures;
};

static void *signer(void *arg)
{
    struct thr *t = arg;
    for (int i = 0; i < 8; i++) {
        unsigned char d[32];
        memset(d, i, sizeof(d));
        unsigned char *sig = NULL;
        size_t sl;
        dcpki_err err;
        if (dcpki_signing_sign(t->s, t->kp, DCPKI_SIG_ECDSA, "SHA256", d, 32, &sig, &sl, &err) != DCPKI_OK)
            t->failures++;
        OPENSSL_free(sig);
    }
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    LIVE();
    struct env e;
    env_ok(&e, ra_pem(), 20000);
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    assert_int_equal(dcpki_signing_describe(e.s, "ec-ca", &kp, &err), DCPKI_OK);
    pthread_t th[4];
    struct thr a[4];
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thr){ e.s, kp, 0 };
        assert_int_equal(pthread_create(&th[i], NULL, signer, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].failures, 0);
    }
    assert_true(dcpki_transport_connections(e.t) <= 4);
    dcpki_keypair_free(kp);
    env_free(&e);
}

static void test_pkcs12_identity(void **state)
{
    (void)state;
    LIVE();
    char ra[1300];
    snprintf(ra, sizeof(ra), "pkcs12 = %s\npkcs12_password_file = %s", wpath("ra.p12"), wpath("ra.pass"));
    struct env e;
    env_ok(&e, ra, 10000);
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    if (dcpki_signing_describe(e.s, "issuing-ca", &kp, &err) != DCPKI_OK)
        fail_msg("describe with a PKCS#12 identity: %s", err.detail);
    sign_and_check(e.s, kp, DCPKI_SIG_RSA_PSS, "SHA256");
    dcpki_keypair_free(kp);
    env_free(&e);
}

static void test_errors(void **state)
{
    (void)state;
    LIVE();
    struct env e;
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    /* server not trusted */
    assert_int_equal(env_make(&e, &err, ra_pem(), wpath("other.pem"), NULL, 10000), DCPKI_OK);
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_E_TLS_SERVER_UNTRUSTED);
    show(&err);
    assert_non_null(strstr(err.detail, url));
    env_free(&e);
    /* client certificate the service did not issue */
    char ra[1300];
    snprintf(ra, sizeof(ra), "certificate = %s\nkey = %s", wpath("other.pem"), wpath("other.key"));
    assert_int_equal(env_make(&e, &err, ra, NULL, NULL, 10000), DCPKI_OK);
    dcpki_code rc = dcpki_signing_describe(e.s, "issuing-ca", &kp, &err);
    env_free(&e);
    show(&err);
    if (rc != DCPKI_E_TLS_CLIENT)
        fail_msg("want tls_client, got %s: %s", dcpki_code_id(rc), err.detail);
    /* wrong API key */
    assert_int_equal(env_make(&e, &err, ra_pem(), NULL, wpath("bad-api-key"), 10000), DCPKI_OK);
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_E_API_KEY);
    show(&err);
    assert_non_null(strstr(err.detail, "HTTP 401"));
    assert_non_null(strstr(err.detail, "invalid_api_key"));
    assert_null(strstr(err.detail, "wrong-api-key"));
    env_free(&e);
    /* nothing listening */
    char text[2048];
    snprintf(text, sizeof(text), "[ca]\ntrust = %s\n[ra]\n%s\n[signing]\nurl = https://127.0.0.1:1\napi_key_file = %s\n",
             trust, ra_pem(), apikey);
    memset(&e, 0, sizeof(e));
    assert_int_equal(dcpki_config_parse(text, strlen(text), "x", &e.cfg, &err), DCPKI_OK);
    assert_int_equal(dcpki_identity_load(e.cfg, NULL, &e.id, &err), DCPKI_OK);
    assert_int_equal(dcpki_transport_new(e.cfg, e.id, &e.t, &err), DCPKI_OK);
    assert_int_equal(dcpki_signing_new(e.cfg, e.t, NULL, &e.s, &err), DCPKI_OK);
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_E_CONNECT);
    show(&err);
    env_free(&e);
}

static void write_faults(const char *json)
{
    char tmp[600], dst[600];
    snprintf(tmp, sizeof(tmp), "%s/faults.json.tmp", priv);
    snprintf(dst, sizeof(dst), "%s/faults.json", priv);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(json, f);
    fclose(f);
    assert_int_equal(rename(tmp, dst), 0);
}

static void clear_faults(void)
{
    char dst[600];
    snprintf(dst, sizeof(dst), "%s/faults.json", priv);
    unlink(dst);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void test_faults(void **state)
{
    (void)state;
    LIVE();
    struct env e;
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    /* timeout: the service answers after 3 s, timeout_ms is 1000 */
    env_ok(&e, ra_pem(), 1000);
    write_faults("{\"delay_ms\": 3000, \"count\": 1, \"path_contains\": \"/keypairs\"}");
    int64_t t0 = now_ms();
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_E_TIMEOUT);
    int64_t took = now_ms() - t0;
    assert_true(took >= 900 && took < 2500);
    show(&err);
    assert_non_null(strstr(err.detail, "within 1000 ms"));
    clear_faults();
    env_free(&e);

    /* 429 with Retry-After: 1 on a signature, then success */
    env_ok(&e, ra_pem(), 10000);
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_OK);
    write_faults("{\"status\": 429, \"count\": 1, \"path_contains\": \"/sign\", \"retry_after\": 1}");
    t0 = now_ms();
    sign_and_check(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256");
    took = now_ms() - t0;
    assert_true(took >= 900);
    /* 503 on every attempt: service unavailable, within the deadline */
    write_faults("{\"status\": 503, \"count\": 50, \"path_contains\": \"/sign\"}");
    unsigned char d[32] = { 0 };
    unsigned char *sig = NULL;
    size_t sl;
    t0 = now_ms();
    assert_int_equal(dcpki_signing_sign(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &err),
                     DCPKI_E_SERVICE_UNAVAILABLE);
    assert_true(now_ms() - t0 < 10000);
    show(&err);
    assert_non_null(strstr(err.detail, "HTTP 503"));
    clear_faults();
    /* 429 beyond the deadline: rate limited, no sleeping past it */
    write_faults("{\"status\": 429, \"count\": 50, \"path_contains\": \"/sign\", \"retry_after\": 60}");
    t0 = now_ms();
    assert_int_equal(dcpki_signing_sign(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &err),
                     DCPKI_E_RATE_LIMITED);
    show(&err);
    /* it says that no retry was made, and why (not "still ... after retrying") */
    assert_non_null(strstr(err.detail, ", the service asked to retry after 60 s, beyond the deadline of 10000 ms; "
                                       "no retry was made"));
    assert_null(strstr(err.detail, "still"));
    assert_true(now_ms() - t0 < 5000);
    clear_faults();
    dcpki_keypair_free(kp);
    env_free(&e);
}

/* ---- hostile answers from the service (no network: internal.h parsers) ---- */

static char *b64_of(const unsigned char *d, size_t n)
{
    char *b = dcpki_b64_encode(d, n);
    assert_non_null(b);
    return b;
}

/* keypair JSON for pkey (public_key = its SPKI), alg as the service names it */
static char *kp_json(const char *alg, EVP_PKEY *pkey, const char *extra)
{
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(pkey, &der);
    assert_true(n > 0);
    char *b = b64_of(der, (size_t)n);
    char *j = dcpki_strfmt("{\"id\":\"u-1\",\"alias\":\"k1\",\"key_alg\":\"%s\",\"public_key\":\"%s\"%s}", alg, b,
                           extra ? extra : "");
    OPENSSL_free(der);
    OPENSSL_free(b);
    assert_non_null(j);
    return j;
}

static dcpki_code parse_kp(const char *json, int need_pub, dcpki_keypair **kp)
{
    dcpki_err perr;
    dcpki_code rc = dcpki_signing_parse_keypair_json(NULL, json, strlen(json), need_pub, kp, &perr);
    if (rc != DCPKI_OK) {
        assert_null(*kp);
        assert_true(perr.detail[0] != '\0');
    }
    return rc;
}

static void expect_kp_fails(const char *json, int need_pub, dcpki_code want)
{
    dcpki_keypair *kp = NULL;
    dcpki_code rc = parse_kp(json, need_pub, &kp);
    if (rc != want)
        print_error("keypair JSON %.120s: got %s\n", json, dcpki_code_id(rc));
    assert_int_equal(rc, want);
}

static void test_hostile_keypair_json(void **state)
{
    (void)state;
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    /* not a JSON object / truncated / trailing garbage / huge nesting */
    expect_kp_fails("", 1, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("[1,2]", 1, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("\"text\"", 1, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":", 1, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"ECDSA\"} trailing", 0, DCPKI_E_BAD_RESPONSE);
    char deep[4096];
    memset(deep, '[', sizeof(deep) - 1);
    deep[sizeof(deep) - 1] = '\0';
    expect_kp_fails(deep, 1, DCPKI_E_BAD_RESPONSE);
    /* fields of the wrong type or missing */
    expect_kp_fails("{\"id\":7,\"alias\":\"a\",\"key_alg\":\"RSA\"}", 0, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":[\"a\"],\"key_alg\":\"RSA\"}", 0, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":5}", 0, DCPKI_E_UNSUPPORTED);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"DSA\"}", 0, DCPKI_E_UNSUPPORTED);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"RSA\",\"public_key\":12}", 1, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"RSA\"}", 1, DCPKI_E_BAD_RESPONSE);
    /* public_key: not base64, empty, base64 of bytes that are not an SPKI */
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"RSA\",\"public_key\":\"!!!!\"}", 1,
                    DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"RSA\",\"public_key\":\"\"}", 1, DCPKI_E_BAD_RESPONSE);
    expect_kp_fails("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"RSA\",\"public_key\":\"AAECAwQFBgcICQ==\"}", 1,
                    DCPKI_E_BAD_RESPONSE);
    /* an SPKI followed by garbage, and an EC SPKI announced as RSA */
    unsigned char *der = NULL;
    int n = i2d_PUBKEY(ec, &der);
    assert_true(n > 0);
    unsigned char *longer = OPENSSL_malloc((size_t)n + 2);
    assert_non_null(longer);
    memcpy(longer, der, (size_t)n);
    longer[n] = 0x05;
    longer[n + 1] = 0x00;
    char *b = b64_of(longer, (size_t)n + 2);
    char *j = dcpki_strfmt("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"ECDSA\",\"public_key\":\"%s\"}", b);
    expect_kp_fails(j, 1, DCPKI_E_BAD_RESPONSE);
    free(j);
    OPENSSL_free(b);
    OPENSSL_free(longer);
    OPENSSL_free(der);
    j = kp_json("RSA", ec, NULL);
    expect_kp_fails(j, 1, DCPKI_E_BAD_RESPONSE);
    free(j);
    /* certificates: wrong types, not base64, not DER X.509 */
    static const char *const bad_certs[] = {
        ",\"certificates\":[{\"cert\":\"!!\"}]",
        ",\"certificates\":[{\"cert\":\"AAECAwQF\"}]",
        ",\"certificates\":[{\"cert\":\"\"}]",
        ",\"certificates\":[{\"chain\":[{\"blob\":\"AAECAwQF\"}]}]",
        ",\"certificates\":[{\"chain\":[7]}]",
        ",\"certificates\":[{\"chain\":[{\"blob\":3}]}]",
    };
    for (size_t i = 0; i < sizeof(bad_certs) / sizeof(bad_certs[0]); i++) {
        j = kp_json("ECDSA", ec, bad_certs[i]);
        expect_kp_fails(j, 1, DCPKI_E_BAD_RESPONSE);
        free(j);
    }
    /* tolerated: certificates of the wrong type or non-objects are ignored */
    static const char *const ignored[] = { ",\"certificates\":7", ",\"certificates\":[7,8]",
                                           ",\"certificates\":[{\"chain\":\"x\"}]", ",\"key_size\":\"big\"" };
    for (size_t i = 0; i < sizeof(ignored) / sizeof(ignored[0]); i++) {
        dcpki_keypair *kp = NULL;
        j = kp_json("ECDSA", ec, ignored[i]);
        assert_int_equal(parse_kp(j, 1, &kp), DCPKI_OK);
        assert_int_equal(kp->bits, 256);
        assert_null(kp->cert.data);
        assert_int_equal(kp->chain_len, 0);
        dcpki_keypair_free(kp);
        free(j);
    }
    /* key_size out of range without a public key (a list item): not trusted */
    static const char *const sizes[] = { "-5", "0", "2147483647", "99999999999" };
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        dcpki_keypair *kp = NULL;
        j = dcpki_strfmt("{\"id\":\"u\",\"alias\":\"a\",\"key_alg\":\"RSA\",\"key_size\":%s}", sizes[i]);
        assert_int_equal(parse_kp(j, 0, &kp), DCPKI_OK);
        assert_null(kp->pub);
        assert_int_equal(kp->bits, 0);
        dcpki_keypair_free(kp);
        free(j);
    }
    EVP_PKEY_free(ec);
}

static dcpki_code parse_answer(const dcpki_keypair *kp, dcpki_sig_scheme sch, const char *md, const unsigned char *dg,
                               size_t dlen, const char *answer)
{
    unsigned char *sig = NULL;
    size_t sl = 0;
    dcpki_err perr;
    dcpki_code rc = dcpki_signing_parse_sign_answer(kp, sch, md, dg, dlen, answer, strlen(answer), &sig, &sl,
                                                    &perr);
    if (rc == DCPKI_OK) {
        assert_non_null(sig);
        assert_true(sl > 0);
    } else {
        assert_null(sig);
    }
    OPENSSL_free(sig);
    return rc;
}

/* {"signature": b64(sig)} */
static char *answer_of(const unsigned char *sig, size_t n)
{
    char *b = b64_of(sig, n);
    char *j = dcpki_strfmt("{\"signature\":\"%s\"}", b);
    OPENSSL_free(b);
    assert_non_null(j);
    return j;
}

static size_t sign_digest(EVP_PKEY *k, int pad, const unsigned char *dg, unsigned char *sig, size_t cap)
{
    EVP_PKEY_CTX *c = EVP_PKEY_CTX_new_from_pkey(NULL, k, NULL);
    size_t n = cap;
    assert_non_null(c);
    assert_int_equal(EVP_PKEY_sign_init(c), 1);
    if (pad) {
        assert_true(EVP_PKEY_CTX_set_rsa_padding(c, pad) > 0);
        assert_true(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()) > 0);
        if (pad == RSA_PKCS1_PSS_PADDING)
            assert_true(EVP_PKEY_CTX_set_rsa_pss_saltlen(c, RSA_PSS_SALTLEN_DIGEST) > 0);
    }
    assert_int_equal(EVP_PKEY_sign(c, sig, &n, dg, 32), 1);
    EVP_PKEY_CTX_free(c);
    return n;
}

static void test_hostile_sign_answer(void **state)
{
    (void)state;
    unsigned char dg[32], other[32], sig[600], buf[600];
    memset(dg, 0x11, sizeof(dg));
    memset(other, 0x22, sizeof(other));
    EVP_PKEY *rsa = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(rsa);
    assert_non_null(ec);
    dcpki_keypair *rk = NULL, *ek = NULL;
    char *j = kp_json("RSA", rsa, NULL);
    assert_int_equal(parse_kp(j, 1, &rk), DCPKI_OK);
    free(j);
    j = kp_json("ECDSA", ec, NULL);
    assert_int_equal(parse_kp(j, 1, &ek), DCPKI_OK);
    free(j);

    /* malformed answers */
    static const char *const junk[] = { "", "{", "[]", "{\"signature\":5}", "{\"signature\":null}",
                                        "{\"signature\":\"\"}", "{\"signature\":\"!!!!\"}", "{\"signature\":\"AA=\"}",
                                        "{\"sig\":\"AAAA\"}", "{\"signature\":\"AAAA\"} {" };
    for (size_t i = 0; i < sizeof(junk) / sizeof(junk[0]); i++) {
        assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, junk[i]), DCPKI_E_BAD_RESPONSE);
        assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, junk[i]), DCPKI_E_BAD_RESPONSE);
    }

    /* RSA PKCS#1: the right signature passes; wrong length or wrong digest do not */
    size_t n = sign_digest(rsa, RSA_PKCS1_PADDING, dg, sig, sizeof(sig));
    assert_int_equal(n, 256);
    j = answer_of(sig, n);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, j), DCPKI_OK);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", other, 32, j), DCPKI_E_BAD_SIGNATURE);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PSS, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    j = answer_of(sig, n - 1); /* one byte short */
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    buf[0] = 0;
    memcpy(buf + 1, sig, n); /* one byte long */
    j = answer_of(buf, n + 1);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    j = answer_of(sig, 1);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    /* a signature whose integer starts with a zero byte, sent without it
     * (I2OSP dropped), is padded back to the modulus length and verifies */
    unsigned char zdg[32];
    memcpy(zdg, dg, 32);
    size_t zn = 0;
    for (unsigned i = 0; i < 20000; i++) {
        memcpy(zdg, &i, sizeof i);
        zn = sign_digest(rsa, RSA_PKCS1_PADDING, zdg, sig, sizeof(sig));
        if (sig[0] == 0)
            break;
    }
    assert_int_equal(sig[0], 0);
    j = answer_of(sig + 1, zn - 1);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", zdg, 32, j), DCPKI_OK);
    free(j);
    memset(buf, 0xff, 512);
    j = answer_of(buf, 512); /* twice the modulus */
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    /* RSA-PSS */
    n = sign_digest(rsa, RSA_PKCS1_PSS_PADDING, dg, sig, sizeof(sig));
    j = answer_of(sig, n);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PSS, "SHA256", dg, 32, j), DCPKI_OK);
    assert_int_equal(parse_answer(rk, DCPKI_SIG_RSA_PKCS1, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);

    /* ECDSA: DER passes, r||s is converted, wrong lengths and garbage fail */
    n = sign_digest(ec, 0, dg, sig, sizeof(sig));
    j = answer_of(sig, n);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, j), DCPKI_OK);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", other, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    memcpy(buf, sig, n);
    buf[n] = 0; /* DER + a trailing byte */
    j = answer_of(buf, n + 1);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    const unsigned char *p = sig;
    ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)n);
    assert_non_null(es);
    const BIGNUM *r, *sv;
    ECDSA_SIG_get0(es, &r, &sv);
    assert_int_equal(BN_bn2binpad(r, buf, 32), 32);
    assert_int_equal(BN_bn2binpad(sv, buf + 32, 32), 32);
    ECDSA_SIG_free(es);
    j = answer_of(buf, 64);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, j), DCPKI_OK);
    free(j);
    j = answer_of(buf, 63);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    memset(buf, 0, 64); /* r = s = 0 */
    j = answer_of(buf, 64);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    memset(buf, 0xff, 64); /* r, s above the order */
    j = answer_of(buf, 64);
    assert_int_equal(parse_answer(ek, DCPKI_SIG_ECDSA, "SHA256", dg, 32, j), DCPKI_E_BAD_SIGNATURE);
    free(j);
    dcpki_keypair_free(rk);
    dcpki_keypair_free(ek);
    EVP_PKEY_free(rsa);
    EVP_PKEY_free(ec);
}

static void test_error_text(void **state)
{
    (void)state;
    char out[400];
    static const struct { const char *body; const char *want; } cases[] = {
        { "{\"error\":{\"status\":\"invalid_input_field\",\"message\":\"Keypair not present\"}}",
          "invalid_input_field: Keypair not present" },
        { "{\"error\":{\"code\":\"request_limit_exceeded\",\"message\":\"slow down\"}}",
          "request_limit_exceeded: slow down" },
        { "{\"errors\":[{\"code\":\"x\",\"message\":\"y\"}]}", "x: y" },
        { "{\"error\":\"plain\"}", "plain" },
        { "{\"error\":{\"message\":\"line1\\nline2\\u0007\"}}", "line1 line2 " },
        { "{\"error\":{\"code\":5,\"message\":[1]}}", "{\"error\":{\"code\":5,\"message\":[1]}}" },
        { "<html>\r\n<b>503</b>\x01</html>", "<html>  <b>503</b> </html>" },
        { "", "" },
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        dcpki_signing_error_text(cases[i].body, strlen(cases[i].body), out, sizeof(out));
        assert_string_equal(out, cases[i].want);
    }
    /* a huge body is cut, and stays printable */
    size_t big = 200000;
    char *b = malloc(big);
    assert_non_null(b);
    for (size_t i = 0; i < big; i++)
        b[i] = (char)(i % 256);
    dcpki_signing_error_text(b, big, out, sizeof(out));
    assert_true(strlen(out) < sizeof(out));
    for (const char *c = out; *c; c++)
        assert_true((unsigned char)*c >= 0x20 && *c != 0x7f);
    free(b);
}

/* ---- disk cache ---- */

static long log_size(void)
{
    struct stat st;
    return stat(wpath("emulator.log"), &st) == 0 ? (long)st.st_size : 0;
}

/* Requests in the emulator's log after offset `from`: GET keypairs/<...> and
 * POST .../sign lines. The log line is written after the answer, so wait
 * until `want_sign` signatures show, then a little more for stragglers. */
static void count_requests(long from, int want_sign, int *gets, int *signs)
{
    for (int round = 0; round < 2; round++) {
        for (int i = 0; i < 50; i++) {
            *gets = *signs = 0;
            FILE *f = fopen(wpath("emulator.log"), "r");
            assert_non_null(f);
            assert_int_equal(fseek(f, from, SEEK_SET), 0);
            char line[1024];
            while (fgets(line, sizeof(line), f)) {
                if (strstr(line, "dcpki-emulator: GET /signingmanager/api/v1/keypairs/"))
                    (*gets)++;
                if (strstr(line, "dcpki-emulator: POST /signingmanager/api/v1/keypairs/") && strstr(line, "/sign "))
                    (*signs)++;
            }
            fclose(f);
            if (*signs >= want_sign)
                break;
            usleep(50 * 1000);
        }
        usleep(200 * 1000);
    }
}

/* The one cache file in dir (the test describes one key per directory). */
static void cache_file(const char *dir, char *out, size_t n)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    struct dirent *e;
    int found = 0;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        assert_int_equal(found, 0);
        snprintf(out, n, "%s/%s", dir, e->d_name);
        found = 1;
    }
    closedir(d);
    assert_true(found);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, f);
    buf[*len] = '\0';
    fclose(f);
    return buf;
}

/* Rewrite the cached JSON: key = value (a string), fetched-at kept or set. */
static void edit_cache(const char *path, const char *key, const char *value, long fetched_at)
{
    size_t len;
    char *text = slurp(path, &len);
    char *nl = strchr(text, '\n');
    assert_non_null(nl);
    long at = fetched_at ? fetched_at : strtol(text + strlen("dcpki-keycache 1 "), NULL, 10);
    json_object *o = json_tokener_parse(nl + 1);
    assert_non_null(o);
    if (key)
        json_object_object_add(o, key, json_object_new_string(value));
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, "dcpki-keycache 1 %ld\n%s", at, json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
    assert_int_equal(fclose(f), 0);
    json_object_put(o);
    free(text);
}

/* A new client signs once with issuing-ca: RSA PKCS#1 SHA-256 over d, checked
 * with the true public key. */
static void new_client_signs(const EVP_PKEY *truth, int want_rc_api_key)
{
    struct env e;
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    if (want_rc_api_key) {
        assert_int_equal(env_make(&e, &err, ra_pem(), NULL, wpath("bad-api-key"), 10000), DCPKI_OK);
    } else {
        env_ok(&e, ra_pem(), 10000);
    }
    if (dcpki_signing_describe(e.s, "issuing-ca", &kp, &err) != DCPKI_OK)
        fail_msg("describe: %s", err.detail);
    unsigned char d[32];
    memset(d, 0x5a, sizeof(d));
    unsigned char *sig = NULL;
    size_t sl = 0;
    dcpki_code rc = dcpki_signing_sign(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &err);
    if (want_rc_api_key) {
        assert_int_equal(rc, DCPKI_E_API_KEY);
        assert_null(sig);
    } else {
        if (rc != DCPKI_OK)
            fail_msg("sign: %s", err.detail);
        EVP_PKEY_CTX *c = EVP_PKEY_CTX_new((EVP_PKEY *)truth, NULL);
        assert_non_null(c);
        assert_int_equal(EVP_PKEY_verify_init(c), 1);
        assert_int_equal(EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_PADDING), 1);
        assert_int_equal(EVP_PKEY_CTX_set_signature_md(c, EVP_sha256()), 1);
        assert_int_equal(EVP_PKEY_verify(c, sig, sl, d, 32), 1);
        EVP_PKEY_CTX_free(c);
    }
    OPENSSL_free(sig);
    dcpki_keypair_free(kp);
    env_free(&e);
}

static void test_disk_cache(void **state)
{
    (void)state;
    LIVE();
    char base[600], dir[700], file[1000], cmd[1500];
    snprintf(base, sizeof(base), "%s/cache-live", work);
    snprintf(dir, sizeof(dir), "%s/dcpki/keys", base);
    setenv("XDG_CACHE_HOME", base, 1);
    unsetenv("DCPKI_NO_DISK_CACHE");
    int gets, signs;

    /* first client: describe (GET) + sign (POST); the answer is cached on disk */
    struct env e;
    dcpki_err err;
    dcpki_keypair *kp = NULL;
    env_ok(&e, ra_pem(), 10000);
    long from = log_size();
    assert_int_equal(dcpki_signing_describe(e.s, "issuing-ca", &kp, &err), DCPKI_OK);
    EVP_PKEY *truth = kp->pub;
    EVP_PKEY_up_ref(truth);
    sign_and_check(e.s, kp, DCPKI_SIG_RSA_PKCS1, "SHA256");
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 1);
    dcpki_keypair_free(kp);
    env_free(&e);
    struct stat st;
    assert_int_equal(lstat(dir, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0700);
    cache_file(dir, file, sizeof(file));
    assert_int_equal(lstat(file, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_mode & 07777, 0600);
    size_t len;
    char *text = slurp(file, &len);
    assert_int_equal(strncmp(text, "dcpki-keycache 1 ", 17), 0);
    assert_non_null(strstr(text, "\"issuing-ca\""));
    /* no secret: the API key is not in it */
    char *key = NULL;
    assert_int_equal(dcpki_read_secret_file(apikey, &key, &err), DCPKI_OK);
    assert_null(strstr(text, key));
    dcpki_secret_free(key);
    free(text);

    /* a new client (empty memory cache): one request per signature */
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 0);
    assert_int_equal(signs, 1);
    /* the same in a new process */
    from = log_size();
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        struct env ce;
        dcpki_err cerr;
        dcpki_keypair *ckp = NULL;
        unsigned char d[32] = { 7 };
        unsigned char *sig = NULL;
        size_t sl;
        int ok = env_make(&ce, &cerr, ra_pem(), NULL, NULL, 10000) == DCPKI_OK &&
                 dcpki_signing_describe(ce.s, "issuing-ca", &ckp, &cerr) == DCPKI_OK &&
                 dcpki_signing_sign(ce.s, ckp, DCPKI_SIG_RSA_PKCS1, "SHA256", d, 32, &sig, &sl, &cerr) == DCPKI_OK;
        if (!ok)
            fprintf(stderr, "child: %s\n", cerr.detail);
        _exit(ok ? 0 : 1);
    }
    int wst = 0;
    assert_int_equal(waitpid(pid, &wst, 0), pid);
    assert_true(WIFEXITED(wst) && WEXITSTATUS(wst) == 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 0);
    assert_int_equal(signs, 1);

    /* stale: the cached public key is another RSA key's. The signature fails
     * verification, the entry is dropped, described again, signed again. */
    snprintf(cmd, sizeof(cmd),
             "cd '%s' && OPENSSL_CONF=/dev/null openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 "
             "-out stale.key 2>/dev/null && OPENSSL_CONF=/dev/null openssl pkey -in stale.key -pubout -outform DER "
             "-out stale.spki && base64 -w0 stale.spki > stale.b64",
             work);
    assert_int_equal(run(cmd), 0);
    size_t blen;
    char *stale_b64 = slurp(wpath("stale.b64"), &blen);
    edit_cache(file, "public_key", stale_b64, 0);
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 2, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 2);
    text = slurp(file, &len); /* replaced by the fresh answer */
    assert_null(strstr(text, stale_b64));
    free(text);
    free(stale_b64);
    /* and used again */
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 0);
    assert_int_equal(signs, 1);

    /* stale: the cached id is unknown to the service (404 to sign) */
    edit_cache(file, "id", "00000000-0000-0000-0000-000000000000", 0);
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 2, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 2);
    text = slurp(file, &len);
    assert_null(strstr(text, "00000000-0000-0000-0000-000000000000"));
    free(text);

    /* expired (fetched 301 s ago): asked again */
    edit_cache(file, NULL, NULL, (long)time(NULL) - 301);
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 1);

    /* corrupt JSON (same parser as a fresh answer): removed, asked again */
    snprintf(cmd, sizeof(cmd), "printf 'dcpki-keycache 1 %ld\\n{\"id\": 5' > '%s'", (long)time(NULL), file);
    assert_int_equal(run(cmd), 0);
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 1);

    /* another alias does not use this entry: a file per alias */
    env_ok(&e, ra_pem(), 10000);
    assert_int_equal(dcpki_signing_describe(e.s, "ec-ca", &kp, &err), DCPKI_OK);
    assert_int_equal(kp->alg, DCPKI_KEY_EC);
    dcpki_keypair_free(kp);
    env_free(&e);
    snprintf(cmd, sizeof(cmd), "test $(ls '%s' | wc -l) = 2", dir);
    assert_int_equal(run(cmd), 0);

    /* group-writable file: not trusted, the service is asked */
    assert_int_equal(chmod(file, 0660), 0);
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 1);
    assert_int_equal(lstat(file, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600); /* replaced by a good one */

    /* metadata is public: with a wrong API key describe is served from the
     * cache, and the signature is refused by the service (no retry) */
    from = log_size();
    new_client_signs(truth, 1);
    usleep(300 * 1000);
    count_requests(from, 0, &gets, &signs);
    assert_int_equal(gets, 0);

    /* DCPKI_NO_DISK_CACHE=1: describe goes to the service */
    setenv("DCPKI_NO_DISK_CACHE", "1", 1);
    from = log_size();
    new_client_signs(truth, 0);
    count_requests(from, 1, &gets, &signs);
    assert_int_equal(gets, 1);
    assert_int_equal(signs, 1);
    /* no temporary file was left */
    snprintf(cmd, sizeof(cmd), "test -z \"$(ls -A '%s' | grep '^\\.')\"", dir);
    assert_int_equal(run(cmd), 0);
    EVP_PKEY_free(truth);
    snprintf(cmd, sizeof(cmd), "%s/cache", work);
    setenv("XDG_CACHE_HOME", cmd, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_describe),
        cmocka_unit_test(test_sign_all_schemes),
        cmocka_unit_test(test_one_connection),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_pkcs12_identity),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_faults),
        cmocka_unit_test(test_hostile_keypair_json),
        cmocka_unit_test(test_hostile_sign_answer),
        cmocka_unit_test(test_error_text),
        cmocka_unit_test(test_disk_cache),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

/* The store of issued certificates (store.h). Runs against SQLite in a
 * temporary directory; with DCPKI_TEST_PG_URL set (tests/integration/
 * store-pg.sh starts a private PostgreSQL cluster), the same cases run against
 * PostgreSQL with the key file DCPKI_TEST_PG_KEY, and the PKCS#8 bytes of the
 * keys stored are written in hex to DCPKI_TEST_PG_OUT/pkcs8.hex so that the
 * script can look for them in a pg_dump. */
#define _GNU_SOURCE /* memmem */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/encoder.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "dcpki/store.h"

static const char *pg_url;   /* NULL: SQLite */
static const char *pg_key;
static const char *pg_out;
static char tmp[128];        /* per test case */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
    (void)state;
    snprintf(tmp, sizeof tmp, "/tmp/dcpki-test-store.XXXXXX");
    return mkdtemp(tmp) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", tmp);
    return system(cmd) == 0 ? 0 : -1;
}

static dcpki_code open_store(dcpki_store **s, dcpki_err *e)
{
    char dir[200];
    snprintf(dir, sizeof dir, "%s/store", tmp);
    dcpki_store_params p = {.dir = dir};
    if (pg_url)
        p = (dcpki_store_params){.url = pg_url, .key_file = pg_key};
    dcpki_code rc = dcpki_store_open(&p, s, e);
    if (rc != DCPKI_OK)
        print_error("dcpki_store_open: %s\n", e->detail);
    return rc;
}

static X509 *self_cert(EVP_PKEY *key, long serial, const char *cn)
{
    X509 *x = X509_new();
    assert_non_null(x);
    ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
    X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC, (const unsigned char *)cn,
                               -1, -1, 0);
    X509_set_issuer_name(x, X509_get_subject_name(x));
    X509_gmtime_adj(X509_getm_notBefore(x), 0);
    X509_gmtime_adj(X509_getm_notAfter(x), 3600);
    X509_set_pubkey(x, key);
    assert_true(X509_sign(x, key, EVP_sha256()) > 0);
    return x;
}

/* an entry with every field set; a random subject so that PostgreSQL runs,
 * which share one database, do not meet each other's entries */
static void full_entry(dcpki_store_entry *e, dcpki_store_state state, const char *serial)
{
    dcpki_err err;
    unsigned char r[8];
    char subj[64];
    assert_int_equal(RAND_bytes(r, sizeof r), 1);
    snprintf(subj, sizeof subj, "CN=t%02x%02x%02x%02x%02x%02x%02x%02x", r[0], r[1], r[2], r[3], r[4],
             r[5], r[6], r[7]);
    const char *sans[] = {"upn:a@contoso.example", "email:a@contoso.example"};
    assert_int_equal(dcpki_store_entry_init(e, "pki-ws.symauth.com", "2.16.840.1.1", "ra:X;generated",
                                            subj, sans, 2, &err), DCPKI_OK);
    e->state = state;
    e->created = 1764979200;
    e->key = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(e->key);
    e->cert = self_cert(e->key, 0xABCD, "leaf");
    EVP_PKEY *ca = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    e->chain = calloc(2, sizeof(X509 *));
    e->chain[0] = self_cert(ca, 1, "issuing");
    e->chain[1] = self_cert(ca, 2, "root");
    e->n_chain = 2;
    EVP_PKEY_free(ca);
    e->serial = strdup(serial);
    char pend[40];
    snprintf(pend, sizeof pend, "pend-%02x%02x%02x%02x", r[0], r[1], r[2], r[3]);
    e->pending_id = strdup(pend);
    e->txid = strdup("dcpki-0123456789");
    e->csr_len = 5;
    e->csr = malloc(5);
    memcpy(e->csr, "\x30\x03\x02\x01\x00", 5);
}

static unsigned char *pkcs8(EVP_PKEY *k, size_t *len)
{
    OSSL_ENCODER_CTX *c = OSSL_ENCODER_CTX_new_for_pkey(k, OSSL_KEYMGMT_SELECT_ALL, "DER",
                                                        "PrivateKeyInfo", NULL);
    unsigned char *d = NULL;
    *len = 0;
    assert_int_equal(OSSL_ENCODER_to_data(c, &d, len), 1);
    OSSL_ENCODER_CTX_free(c);
    return d;
}

/* PostgreSQL runs: the key's PKCS#8 in hex, one a line, for the script's pg_dump check */
static void note_key(EVP_PKEY *k)
{
    if (!pg_out)
        return;
    size_t n;
    unsigned char *d = pkcs8(k, &n);
    char path[512];
    snprintf(path, sizeof path, "%s/pkcs8.hex", pg_out);
    FILE *f = fopen(path, "a");
    assert_non_null(f);
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%02x", d[i]);
    fputc('\n', f);
    fclose(f);
    OPENSSL_free(d);
}

static void same_entry(const dcpki_store_entry *a, const dcpki_store_entry *b)
{
    assert_string_equal(a->id, b->id);
    assert_int_equal(a->state, b->state);
    assert_string_equal(a->ca_host, b->ca_host);
    assert_string_equal(a->profile, b->profile);
    assert_string_equal(a->subject, b->subject);
    assert_int_equal(a->n_sans, b->n_sans);
    for (size_t i = 0; i < a->n_sans; i++)
        assert_string_equal(a->sans[i], b->sans[i]);
    assert_string_equal(a->pending_id, b->pending_id);
    assert_string_equal(a->txid, b->txid);
    assert_int_equal(a->csr_len, b->csr_len);
    assert_memory_equal(a->csr, b->csr, a->csr_len);
    assert_int_equal(a->created, b->created);
    assert_non_null(b->key);
    assert_int_equal(EVP_PKEY_eq(a->key, b->key), 1);
    assert_int_equal(X509_cmp(a->cert, b->cert), 0);
    assert_int_equal(a->n_chain, b->n_chain);
    for (size_t i = 0; i < a->n_chain; i++)
        assert_int_equal(X509_cmp(a->chain[i], b->chain[i]), 0);
}

static void test_round_trip(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    const dcpki_store_state states[] = {DCPKI_STORE_ISSUED, DCPKI_STORE_PENDING, DCPKI_STORE_REVOKED,
                                        DCPKI_STORE_SENDING, DCPKI_STORE_REVOKING};
    for (size_t i = 0; i < sizeof states / sizeof states[0]; i++) {
        dcpki_store_entry a, b;
        int found = 1;
        full_entry(&a, states[i], "00:ab:CD");
        assert_int_equal(dcpki_store_get(s, a.id, &b, &found, &e), DCPKI_OK);
        assert_int_equal(found, 0);
        assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);
        assert_int_equal(dcpki_store_get(s, a.id, &b, &found, &e), DCPKI_OK);
        assert_int_equal(found, 1);
        same_entry(&a, &b);
        assert_string_equal(b.serial, "ABCD"); /* stored normalised, for look-up */
        dcpki_store_entry_clear(&b);
        /* replaced by id; NULL fields stay NULL */
        a.state = DCPKI_STORE_ISSUED;
        EVP_PKEY_free(a.key);
        a.key = NULL;
        free(a.txid);
        a.txid = NULL;
        free(a.csr);
        a.csr = NULL;
        a.csr_len = 0;
        assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);
        assert_int_equal(dcpki_store_get(s, a.id, &b, &found, &e), DCPKI_OK);
        assert_int_equal(found, 1);
        assert_int_equal(b.state, DCPKI_STORE_ISSUED);
        assert_null(b.key);
        assert_null(b.txid);
        assert_null(b.csr);
        assert_int_equal(b.n_chain, 2);
        dcpki_store_entry_clear(&b);
        dcpki_store_entry_clear(&a);
    }
    /* an entry without SANs, certificate or chain (a fresh journal entry) */
    dcpki_store_entry a, b;
    int found = 0;
    assert_int_equal(dcpki_store_entry_init(&a, "h", "1.2.3", "o", "CN=bare", NULL, 0, &e), DCPKI_OK);
    a.state = DCPKI_STORE_SENDING;
    assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_get(s, a.id, &b, &found, &e), DCPKI_OK);
    assert_int_equal(found, 1);
    assert_int_equal(b.n_sans, 0);
    assert_null(b.cert);
    assert_int_equal(b.n_chain, 0);
    assert_null(b.serial);
    dcpki_store_entry_clear(&b);
    assert_int_equal(dcpki_store_remove(s, a.id, &e), DCPKI_OK);
    dcpki_store_entry_clear(&a);
    /* one that stays, with its key: store-pg.sh looks for the key in a pg_dump */
    full_entry(&a, DCPKI_STORE_ISSUED, "0F");
    assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);
    note_key(a.key);
    dcpki_store_entry_clear(&a);
    dcpki_store_close(s);
}

static void test_remove_and_find(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    dcpki_store_entry a, b, c;
    int found = 0;
    unsigned char r[4];
    char serial[16];
    assert_int_equal(RAND_bytes(r, sizeof r), 1);
    snprintf(serial, sizeof serial, "0%02X%02X%02X%02X", r[0] | 0x10, r[1], r[2], r[3]);
    full_entry(&a, DCPKI_STORE_PENDING, serial);
    full_entry(&c, DCPKI_STORE_ISSUED, serial);
    assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);

    assert_int_equal(dcpki_store_find_pending(s, a.pending_id, &b, &found, &e), DCPKI_OK);
    assert_int_equal(found, 1);
    assert_string_equal(b.id, a.id);
    assert_int_equal(EVP_PKEY_eq(a.key, b.key), 1);
    dcpki_store_entry_clear(&b);
    assert_int_equal(dcpki_store_find_pending(s, "no-such-pending-id", &b, &found, &e), DCPKI_OK);
    assert_int_equal(found, 0);
    /* only PENDING entries are found by their pendingTokenReferenceID */
    free(c.pending_id);
    c.pending_id = strdup(a.pending_id);
    assert_int_equal(dcpki_store_put(s, &c, &e), DCPKI_OK);
    a.state = DCPKI_STORE_ISSUED;
    assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_find_pending(s, a.pending_id, &b, &found, &e), DCPKI_OK);
    assert_int_equal(found, 0);

    /* by serial: colons, spaces, case and leading zeros do not matter */
    char spaced[40], lower[16];
    snprintf(spaced, sizeof spaced, "00:%c%c:%c%c %c%c:%c%c", serial[1], serial[2], serial[3],
             serial[4], serial[5], serial[6], serial[7], serial[8]);
    for (size_t i = 0; i <= strlen(serial); i++)
        lower[i] = (char)(serial[i] >= 'A' && serial[i] <= 'F' ? serial[i] + 32 : serial[i]);
    const char *all[] = {serial, serial + 1, spaced, lower};
    for (size_t i = 0; i < 4; i++) {
        char **ids = NULL;
        size_t n = 0;
        assert_int_equal(dcpki_store_find_serial(s, all[i], &ids, &n, &e), DCPKI_OK);
        assert_int_equal(n, 2);
        assert_true((strcmp(ids[0], a.id) == 0 && strcmp(ids[1], c.id) == 0) ||
                    (strcmp(ids[1], a.id) == 0 && strcmp(ids[0], c.id) == 0));
        dcpki_store_ids_free(ids, n);
    }
    char **ids = NULL;
    size_t n = 7;
    assert_int_equal(dcpki_store_find_serial(s, "1", &ids, &n, &e), DCPKI_OK);
    assert_int_equal(n, 0);
    assert_null(ids);
    assert_int_equal(dcpki_store_find_serial(s, "12:zz", &ids, &n, &e), DCPKI_E_INVALID_ARGUMENT);

    /* remove: gone, and removing again is fine */
    assert_int_equal(dcpki_store_remove(s, a.id, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_get(s, a.id, &b, &found, &e), DCPKI_OK);
    assert_int_equal(found, 0);
    assert_int_equal(dcpki_store_remove(s, a.id, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_find_serial(s, serial, &ids, &n, &e), DCPKI_OK);
    assert_int_equal(n, 1);
    assert_string_equal(ids[0], c.id);
    dcpki_store_ids_free(ids, n);
    assert_int_equal(dcpki_store_remove(s, c.id, &e), DCPKI_OK);
    dcpki_store_entry_clear(&a);
    dcpki_store_entry_clear(&c);
    dcpki_store_close(s);
}

static void write_file(const char *path, const void *d, size_t n, mode_t mode)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, d, n), (ssize_t)n);
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void test_store_key(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    char dir[200], path[300], other[300];
    snprintf(dir, sizeof dir, "%s/store", tmp);
    unsigned char k[33];
    assert_int_equal(RAND_bytes(k, sizeof k), 1);
    snprintf(other, sizeof other, "%s/other.key", tmp);
    write_file(other, k, 32, 0600);
    if (!pg_url) {
        /* generated on first use: 32 bytes, 0600, in a 0700 directory */
        assert_int_equal(open_store(&s, &e), DCPKI_OK);
        assert_string_not_equal(dcpki_store_describe(s), "");
        assert_non_null(strstr(dcpki_store_describe(s), "store.sqlite"));
        dcpki_store_close(s);
        struct stat st;
        snprintf(path, sizeof path, "%s/store.key", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(st.st_size, 32);
        assert_int_equal(stat(dir, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0700);
        snprintf(path, sizeof path, "%s/store.sqlite", dir);
        assert_int_equal(stat(path, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        assert_int_equal(open_store(&s, &e), DCPKI_OK); /* the same key again */
        dcpki_store_close(s);
    }
    /* another key: refused, the store and the file named */
    dcpki_store_params p = {.dir = dir, .key_file = other};
    if (pg_url)
        p.url = pg_url, p.dir = NULL;
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE_KEY);
    assert_null(s);
    assert_non_null(strstr(e.detail, other));
    assert_non_null(strstr(e.detail, "is not the key of"));
    /* malformed key files */
    write_file(other, k, 31, 0600);
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE_KEY);
    assert_non_null(strstr(e.detail, "31 bytes"));
    write_file(other, k, 33, 0600);
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE_KEY);
    write_file(other, k, 32, 0644);
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE_KEY);
    assert_non_null(strstr(e.detail, "chmod 600"));
    write_file(other, k, 32, 0640);
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE_KEY);
    snprintf(path, sizeof path, "%s/missing.key", tmp);
    p.key_file = path;
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE_KEY);
    assert_non_null(strstr(e.detail, path));
    if (!pg_url) {
        /* the generated key lost: never replaced silently by a new one */
        snprintf(path, sizeof path, "%s/store.key", dir);
        assert_int_equal(unlink(path), 0);
        assert_int_equal(open_store(&s, &e), DCPKI_E_STORE_KEY);
        assert_non_null(strstr(e.detail, "missing"));
        assert_int_equal(access(path, F_OK), -1);
    }
}

/* neither the PKCS#8 DER of a stored key, nor its private scalar, nor a PEM
 * key is in the database's files (the certificate is: the search works) */
static void test_no_clear_key(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    dcpki_store_entry a;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    full_entry(&a, DCPKI_STORE_ISSUED, "01");
    assert_int_equal(dcpki_store_put(s, &a, &e), DCPKI_OK);
    size_t dl;
    unsigned char *der = pkcs8(a.key, &dl);
    BIGNUM *priv = NULL;
    unsigned char scalar[32];
    assert_int_equal(EVP_PKEY_get_bn_param(a.key, "priv", &priv), 1);
    assert_int_equal(BN_bn2binpad(priv, scalar, sizeof scalar), 32);
    BN_clear_free(priv);
    unsigned char *cert = NULL;
    int cl = i2d_X509(a.cert, &cert);
    assert_true(cl > 0);
    /* the database and its write-ahead log (the entry is in the log until a
     * checkpoint) */
    static unsigned char buf[8 << 20];
    size_t n = 0;
    const char *names[] = {"store.sqlite", "store.sqlite-wal"};
    for (size_t i = 0; i < 2; i++) {
        char path[300];
        snprintf(path, sizeof path, "%s/store/%s", tmp, names[i]);
        FILE *f = fopen(path, "rb");
        if (f == NULL)
            continue;
        n += fread(buf + n, 1, sizeof buf - n, f);
        fclose(f);
    }
    assert_non_null(memmem(buf, n, cert, (size_t)cl));
    assert_null(memmem(buf, n, der, dl));
    assert_null(memmem(buf, n, scalar, sizeof scalar));
    assert_null(memmem(buf, n, "PRIVATE KEY", 11));
    OPENSSL_free(cert);
    OPENSSL_free(der);
    dcpki_store_entry_clear(&a);
    dcpki_store_close(s);
}

typedef struct locker {
    dcpki_store *s;
    const char *id;
    long timeout_ms;
    dcpki_code rc;
    int64_t took_ms;
    volatile int got;
} locker;

static void *lock_thread(void *arg)
{
    locker *l = arg;
    dcpki_err e;
    dcpki_store_lock *h = NULL;
    int64_t t0 = now_ms();
    l->rc = dcpki_store_lock_id(l->s, l->id, l->timeout_ms, &h, &e);
    l->took_ms = now_ms() - t0;
    if (l->rc == DCPKI_OK) {
        l->got = 1;
        dcpki_store_unlock(h);
    }
    return NULL;
}

static void test_lock_threads(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    char id1[65], id2[65];
    unsigned char r[32];
    assert_int_equal(RAND_bytes(r, sizeof r), 1);
    for (int i = 0; i < 32; i++)
        snprintf(id1 + 2 * i, 3, "%02x", r[i]);
    memcpy(id2, id1, sizeof id2);
    id2[0] = id1[0] == 'a' ? 'b' : 'a'; /* differs in the first 16 digits (PostgreSQL's key) */
    dcpki_store_lock *held;
    assert_int_equal(dcpki_store_lock_id(s, id1, 0, &held, &e), DCPKI_OK);

    /* the same id from another thread: times out while held */
    locker l = {.s = s, .id = id1, .timeout_ms = 300};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, lock_thread, &l), 0);
    pthread_join(t, NULL);
    assert_int_equal(l.rc, DCPKI_E_STORE);
    assert_true(l.took_ms >= 290);
    /* another id: at once */
    locker o = {.s = s, .id = id2, .timeout_ms = 5000};
    assert_int_equal(pthread_create(&t, NULL, lock_thread, &o), 0);
    pthread_join(t, NULL);
    assert_int_equal(o.rc, DCPKI_OK);
    assert_true(o.took_ms < 2000);
    /* without limit: waits until the holder unlocks, then has it */
    locker w = {.s = s, .id = id1, .timeout_ms = 0};
    assert_int_equal(pthread_create(&t, NULL, lock_thread, &w), 0);
    usleep(400 * 1000);
    assert_int_equal(w.got, 0);
    dcpki_store_unlock(held);
    pthread_join(t, NULL);
    assert_int_equal(w.rc, DCPKI_OK);
    assert_int_equal(w.got, 1);
    assert_true(w.took_ms >= 390);
    /* and after it: free again */
    assert_int_equal(dcpki_store_lock_id(s, id1, 1000, &held, &e), DCPKI_OK);
    dcpki_store_unlock(held);
    assert_int_equal(dcpki_store_lock_id(s, "not-an-id", 1000, &held, &e), DCPKI_E_INVALID_ARGUMENT);
    dcpki_store_close(s);
}

/* two processes: the child cannot take the lock the parent holds */
static void test_lock_processes(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    const char *id = "5d0c5e1a9b7f3c2d4e6f8a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d";
    dcpki_store_lock *held;
    assert_int_equal(dcpki_store_lock_id(s, id, 0, &held, &e), DCPKI_OK);
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        /* a store of its own, as another process has (the parent's connection
         * is not used here) */
        dcpki_store *c;
        dcpki_store_lock *h;
        int code = 1;
        if (open_store(&c, &e) == DCPKI_OK) {
            dcpki_code rc = dcpki_store_lock_id(c, id, 300, &h, &e);
            code = rc == DCPKI_E_STORE && strstr(e.detail, "another process") ? 0 : 2;
            if (rc == DCPKI_OK)
                dcpki_store_unlock(h);
        }
        _exit(code);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    dcpki_store_unlock(held);
    /* released: now the child gets it */
    fflush(NULL);
    pid = fork();
    if (pid == 0) {
        dcpki_store *c;
        dcpki_store_lock *h;
        int code = 1;
        if (open_store(&c, &e) == DCPKI_OK && dcpki_store_lock_id(c, id, 2000, &h, &e) == DCPKI_OK)
            code = 0;
        _exit(code);
    }
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_int_equal(WEXITSTATUS(st), 0);
    dcpki_store_close(s);
}

typedef struct writer {
    dcpki_store *s;
    int ok;
} writer;

static void *write_thread(void *arg)
{
    writer *w = arg;
    dcpki_err e;
    w->ok = 1;
    for (int i = 0; i < 8 && w->ok; i++) {
        dcpki_store_entry a, b;
        int found = 0;
        full_entry(&a, DCPKI_STORE_ISSUED, "77");
        w->ok = dcpki_store_put(w->s, &a, &e) == DCPKI_OK &&
                dcpki_store_get(w->s, a.id, &b, &found, &e) == DCPKI_OK && found &&
                EVP_PKEY_eq(a.key, b.key) == 1 && dcpki_store_remove(w->s, a.id, &e) == DCPKI_OK;
        if (found)
            dcpki_store_entry_clear(&b);
        dcpki_store_entry_clear(&a);
    }
    return NULL;
}

static void test_threads_share_a_store(void **state)
{
    (void)state;
    dcpki_store *s;
    dcpki_err e;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    pthread_t t[4];
    writer w[4];
    for (int i = 0; i < 4; i++) {
        w[i].s = s;
        assert_int_equal(pthread_create(&t[i], NULL, write_thread, &w[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        assert_int_equal(w[i].ok, 1);
    }
    dcpki_store_close(s);
}

static void test_migration(void **state)
{
    (void)state;
    const char *src = getenv("DCPKI_SRC");
    assert_non_null(src);
    char dir[200], cmd[600];
    snprintf(dir, sizeof dir, "%s/store", tmp);
    assert_int_equal(mkdir(dir, 0700), 0);
    /* files the old dcpki_store_save wrote (tests/unit/data/store-v0), and one
     * that does not parse: it stays */
    snprintf(cmd, sizeof cmd, "cp '%s'/tests/unit/data/store-v0/*.json '%s'/", src, dir);
    assert_int_equal(system(cmd), 0);
    const char *bad = "0000000000000000000000000000000000000000000000000000000000000000.json";
    char badpath[300];
    snprintf(badpath, sizeof badpath, "%s/%s", dir, bad);
    write_file(badpath, "{\"id\": 1}", 9, 0600);

    dcpki_store *s;
    dcpki_err e;
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    dcpki_store_entry a;
    int found = 0;
    assert_int_equal(dcpki_store_get(s, "4fbb347579ec5c856e6ccca0713976b7e065255f129df6c98bcded98f16e6e93",
                                     &a, &found, &e), DCPKI_OK);
    assert_int_equal(found, 1);
    assert_int_equal(a.state, DCPKI_STORE_ISSUED);
    assert_string_equal(a.subject, "CN=Alice,O=Example");
    assert_int_equal(a.n_sans, 2);
    assert_string_equal(a.sans[0], "email:a@example.com");
    assert_string_equal(a.serial, "ABCDEF1");
    assert_int_equal(a.created, 1764979200);
    assert_non_null(a.key);
    assert_non_null(a.cert);
    assert_int_equal(X509_check_private_key(a.cert, a.key), 1);
    assert_int_equal(a.n_chain, 1);
    dcpki_store_entry_clear(&a);
    assert_int_equal(dcpki_store_find_pending(s, "PEND-42", &a, &found, &e), DCPKI_OK);
    assert_int_equal(found, 1);
    assert_string_equal(a.id, "fbdf2d2220ecd1a15698f3bd1ad10c0dad2205ca70dbb1bb070ba5edb00ebcd0");
    assert_non_null(a.key);
    assert_null(a.cert);
    dcpki_store_entry_clear(&a);
    char **ids;
    size_t n;
    assert_int_equal(dcpki_store_find_serial(s, "0abcdef1", &ids, &n, &e), DCPKI_OK);
    assert_int_equal(n, 1);
    dcpki_store_ids_free(ids, n);
    dcpki_store_close(s);
    /* the imported files are gone (they held keys in clear); the damaged one stays */
    DIR *d = opendir(dir);
    struct dirent *de;
    int json = 0;
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".json"))
            json++;
    closedir(d);
    assert_int_equal(json, 1);
    assert_int_equal(access(badpath, F_OK), 0);
    /* opening again imports nothing more and keeps what was imported */
    assert_int_equal(open_store(&s, &e), DCPKI_OK);
    assert_int_equal(dcpki_store_find_pending(s, "PEND-42", &a, &found, &e), DCPKI_OK);
    assert_int_equal(found, 1);
    dcpki_store_entry_clear(&a);
    dcpki_store_close(s);
}

static void test_open_errors(void **state)
{
    (void)state;
    dcpki_store *s = (dcpki_store *)1;
    dcpki_err e;
    char key[300];
    unsigned char k[32];
    assert_int_equal(RAND_bytes(k, sizeof k), 1);
    snprintf(key, sizeof key, "%s/k", tmp);
    write_file(key, k, 32, 0600);
    dcpki_store_params p = {.url = "postgresql:///dcpki?host=/nonexistent"};
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_CONFIG_INCOMPLETE);
    assert_null(s);
    assert_non_null(strstr(e.detail, "key_file must be set"));
    p = (dcpki_store_params){.url = "mysql://h/db", .key_file = key};
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_CONFIG_BAD_VALUE);
    /* a server that is not there: the database named, never the password */
    p = (dcpki_store_params){.url = "postgresql://dcpki:s3cr3t@/nodb?host=/nonexistent&connect_timeout=2",
                             .key_file = key};
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE);
    assert_non_null(strstr(e.detail, "PostgreSQL database nodb"));
    assert_null(strstr(e.detail, "s3cr3t"));
    /* a directory that cannot be made */
    char f[300];
    snprintf(f, sizeof f, "%s/file", tmp);
    write_file(f, "x", 1, 0600);
    snprintf(key, sizeof key, "%s/file/store", tmp);
    p = (dcpki_store_params){.dir = key};
    assert_int_equal(dcpki_store_open(&p, &s, &e), DCPKI_E_STORE);
    assert_non_null(strstr(e.detail, key));
}

int main(void)
{
    pg_url = getenv("DCPKI_TEST_PG_URL");
    pg_key = getenv("DCPKI_TEST_PG_KEY");
    pg_out = getenv("DCPKI_TEST_PG_OUT");
    if (pg_url && (!*pg_url || !pg_key)) {
        fprintf(stderr, "DCPKI_TEST_PG_URL needs DCPKI_TEST_PG_KEY\n");
        return 2;
    }
    const struct CMUnitTest both[] = {
        cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_remove_and_find, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_threads, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lock_processes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_threads_share_a_store, setup, teardown),
        cmocka_unit_test_setup_teardown(test_open_errors, setup, teardown),
    };
    /* SQLite only: its files are searched here (store-pg.sh searches a pg_dump),
     * and the old file store is imported into SQLite only */
    const struct CMUnitTest sqlite_only[] = {
        cmocka_unit_test_setup_teardown(test_no_clear_key, setup, teardown),
        cmocka_unit_test_setup_teardown(test_migration, setup, teardown),
    };
    if (pg_url)
        return cmocka_run_group_tests_name("store (PostgreSQL)", both, NULL, NULL);
    return cmocka_run_group_tests_name("store (SQLite)", both, NULL, NULL) |
           cmocka_run_group_tests_name("store (SQLite files)", sqlite_only, NULL, NULL);
}

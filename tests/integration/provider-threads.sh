#!/bin/bash
# Concurrency in one process: ONE EVP_PKEY loaded from a dcpki: URI, shared by
# 8 threads, each making several EVP_DigestSign signatures on it (RSA PKCS#1,
# RSA-PSS, ECDSA; SHA-256/384/512). Every signature is verified in the same
# process with the public key read from the certificate by the default provider
# (not through dcpki). The test program is compiled here against libcrypto only.
source "$(dirname "$0")/lib.sh"
cd "$W"
command -v cc >/dev/null || fail "no C compiler (cc) to build the thread test program"

cat >sharedkey.c <<'C'
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/store.h>

#define NTHREADS 8
#define NSIGS 6

static EVP_PKEY *key, *pub;
static int is_rsa;

static EVP_PKEY *load(const char *uri)
{
    OSSL_STORE_CTX *s = OSSL_STORE_open(uri, NULL, NULL, NULL, NULL);
    EVP_PKEY *k = NULL;
    if (s == NULL)
        return NULL;
    OSSL_STORE_expect(s, OSSL_STORE_INFO_PKEY);
    while (k == NULL && !OSSL_STORE_eof(s)) {
        OSSL_STORE_INFO *i = OSSL_STORE_load(s);
        if (i != NULL && OSSL_STORE_INFO_get_type(i) == OSSL_STORE_INFO_PKEY)
            k = OSSL_STORE_INFO_get1_PKEY(i);
        OSSL_STORE_INFO_free(i);
    }
    OSSL_STORE_close(s);
    return k;
}

/* one signature with key, verified with pub (default provider) */
static int one(long t, int n)
{
    static const char *mds[] = { "SHA256", "SHA384", "SHA512" };
    const char *md = mds[(t + n) % 3];
    int pss = is_rsa && (t + n) % 2;
    char msg[64];
    unsigned char sig[1024];
    size_t len = sizeof(sig);
    EVP_PKEY_CTX *pc = NULL;
    int ok, vok = 0;
    snprintf(msg, sizeof(msg), "thread %ld signature %d", t, n);
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    ok = m != NULL && EVP_DigestSignInit_ex(m, &pc, md, NULL, NULL, key, NULL) == 1;
    if (ok && pss)
        ok = EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
             EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1;
    ok = ok && EVP_DigestSign(m, sig, &len, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(m);
    if (!ok) {
        fprintf(stderr, "thread %ld: signature %d (%s%s) failed\n", t, n, md, pss ? ", PSS" : "");
        ERR_print_errors_fp(stderr);
        return 0;
    }
    m = EVP_MD_CTX_new();
    pc = NULL;
    if (m != NULL && EVP_DigestVerifyInit_ex(m, &pc, md, NULL, "provider=default", pub, NULL) == 1 &&
        (!pss || (EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
                  EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST) == 1)))
        vok = EVP_DigestVerify(m, sig, len, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(m);
    if (!vok) {
        fprintf(stderr, "thread %ld: signature %d (%s%s) does not verify\n", t, n, md, pss ? ", PSS" : "");
        ERR_print_errors_fp(stderr);
    }
    return vok;
}

static void *thread_main(void *arg)
{
    long t = (long)(size_t)arg;
    for (int n = 0; n < NSIGS; n++)
        if (!one(t, n))
            return (void *)1;
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[NTHREADS];
    void *r;
    int bad = 0;
    if (argc != 3)
        return 2;
    FILE *f = fopen(argv[2], "r");
    if (f == NULL || (pub = PEM_read_PUBKEY(f, NULL, NULL, NULL)) == NULL) {
        fprintf(stderr, "cannot read the public key %s\n", argv[2]);
        return 1;
    }
    fclose(f);
    if ((key = load(argv[1])) == NULL) {
        fprintf(stderr, "cannot load %s\n", argv[1]);
        ERR_print_errors_fp(stderr);
        return 1;
    }
    is_rsa = EVP_PKEY_is_a(key, "RSA");
    for (size_t i = 0; i < NTHREADS; i++)
        if (pthread_create(&th[i], NULL, thread_main, (void *)i) != 0)
            return 1;
    for (size_t i = 0; i < NTHREADS; i++) {
        pthread_join(th[i], &r);
        bad |= r != NULL;
    }
    EVP_PKEY_free(key);
    EVP_PKEY_free(pub);
    if (!bad)
        printf("%d signatures verified\n", NTHREADS * NSIGS);
    return bad;
}
C
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -o sharedkey sharedkey.c -lcrypto -lpthread || fail "cannot build the test program"
openssl storeutl -certs dcpki:key=issuing-ca | awk '/BEGIN CERT/{n++} n==1' | plain x509 -pubkey -noout >rsa.pub
openssl storeutl -certs dcpki:key=ec-ca | awk '/BEGIN CERT/{n++} n==1' | plain x509 -pubkey -noout >ec.pub
plain x509 -in "$RUN/ra.pem" -pubkey -noout >ra.pub
for k in "dcpki:key=issuing-ca rsa.pub" "dcpki:key=ec-ca ec.pub" "dcpki:ra ra.pub"; do
  set -- $k
  out=$(timeout 120 ./sharedkey "$1" "$2" 2>&1) || fail "8 threads on one EVP_PKEY from $1: $out"
  grep -q '48 signatures verified' <<<"$out" || fail "unexpected output for $1: $out"
done
pass "8 threads x 6 signatures on one shared EVP_PKEY (RSA PKCS#1/PSS, EC, RA key), all verified"

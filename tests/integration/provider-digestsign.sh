#!/bin/bash
# EVP_DigestSign() through the provider, the call ASN1_item_sign_ctx and CMS
# make: a size query then the signature, and the same context signing a second
# message. A dcpki key signs each message on its own (as OpenSSL 3.2+ does);
# a key our keymgmt forwards to the default provider (generated through dcpki)
# signs exactly what the default provider alone would sign on that context.
# Every signature is verified with the default provider.
source "$(dirname "$0")/lib.sh"
cd "$W"
command -v cc >/dev/null || fail "no C compiler (cc) to build the test program"

cat >reuse.c <<'C'
#include <stdio.h>
#include <string.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/store.h>

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

static int verifies(EVP_PKEY *pub, const char *msg, const unsigned char *sig, size_t len)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, "provider=default", pub, NULL) == 1 &&
             EVP_DigestVerify(m, sig, len, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(m);
    ERR_clear_error();
    return ok;
}

/* "a" then "b" with EVP_DigestSign on one context, each after a size query;
 * which of "b" and "ab" the second signature is over: 1, 2, or 0 (neither). */
static int second_is_over(EVP_PKEY *key, EVP_PKEY *pub, const char *props)
{
    unsigned char sig[1024];
    size_t len = 0;
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m && EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, props, key, NULL) == 1, r = 0;
    for (int i = 0; ok && i < 2; i++) {
        const unsigned char *msg = (const unsigned char *)(i == 0 ? "a" : "b");
        ok = EVP_DigestSign(m, NULL, &len, msg, 1) == 1 && len <= sizeof(sig) &&
             EVP_DigestSign(m, sig, &len, msg, 1) == 1 && (i == 1 || verifies(pub, "a", sig, len));
    }
    if (ok)
        r = verifies(pub, "b", sig, len) ? 1 : verifies(pub, "ab", sig, len) ? 2 : 0;
    else
        ERR_print_errors_fp(stderr);
    EVP_MD_CTX_free(m);
    return r;
}

int main(int argc, char **argv)
{
    if (argc == 3) { /* a dcpki key and its public key */
        EVP_PKEY *key = load(argv[1]), *pub = NULL;
        FILE *f = fopen(argv[2], "r");
        if (f) {
            pub = PEM_read_PUBKEY(f, NULL, NULL, NULL);
            fclose(f);
        }
        int r = key && pub ? second_is_over(key, pub, NULL) : -1;
        printf("dcpki key: second signature over %s\n", r == 1 ? "b" : r == 2 ? "ab" : "neither");
        return r == 1 ? 0 : 1;
    }
    /* keys generated through dcpki's keymgmt (forwarded) and through the default provider */
    int bad = 0;
    const char *algs[] = { "RSA", "EC" };
    for (int i = 0; i < 2; i++) {
        EVP_PKEY *fk = i == 0 ? EVP_PKEY_Q_keygen(NULL, "provider=dcpki", "RSA", (size_t)2048)
                              : EVP_PKEY_Q_keygen(NULL, "provider=dcpki", "EC", "P-256");
        EVP_PKEY *dk = i == 0 ? EVP_PKEY_Q_keygen(NULL, "provider=default", "RSA", (size_t)2048)
                              : EVP_PKEY_Q_keygen(NULL, "provider=default", "EC", "P-256");
        if (!fk || !dk || strcmp(OSSL_PROVIDER_get0_name(EVP_PKEY_get0_provider(fk)), "dcpki") != 0) {
            printf("%s: no forwarded key\n", algs[i]);
            ERR_print_errors_fp(stdout);
            return 1;
        }
        int rf = second_is_over(fk, fk, "provider=dcpki"), rd = second_is_over(dk, dk, "provider=default");
        printf("%s forwarded: second over %d, default provider alone: %d\n", algs[i], rf, rd);
        bad |= rf == 0 || rf != rd;
        EVP_PKEY_free(fk);
        EVP_PKEY_free(dk);
    }
    return bad;
}
C
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -o reuse reuse.c -lcrypto || fail "cannot build the test program"
openssl storeutl -certs dcpki:key=issuing-ca | awk '/BEGIN CERT/{n++} n==1' | plain x509 -pubkey -noout >rsa.pub
openssl storeutl -certs dcpki:key=ec-ca | awk '/BEGIN CERT/{n++} n==1' | plain x509 -pubkey -noout >ec.pub
plain x509 -in "$RUN/ra.pem" -pubkey -noout >ra.pub
for k in "dcpki:key=issuing-ca rsa.pub" "dcpki:key=ec-ca ec.pub" "dcpki:ra ra.pub"; do
  set -- $k
  out=$(./reuse "$1" "$2" 2>&1) || fail "EVP_DigestSign twice on one context with $1: $out"
done
pass "dcpki keys: EVP_DigestSign after a size query, twice on one context: each message signed on its own"
out=$(./reuse 2>&1) || fail "forwarded keys: EVP_DigestSign twice on one context differs from the default provider: $out"
pass "forwarded keys: EVP_DigestSign twice on one context signs what the default provider alone signs ($(tr '\n' ';' <<<"$out"))"

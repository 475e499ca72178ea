#!/bin/bash
# A process that forks (nginx, httpd workers) and one whose first use of the
# provider comes from many threads at once: remote signatures keep working in
# the parent and in the child after fork(), and concurrent first use is safe.
# The test program is compiled here from the C below against libcrypto only.
source "$(dirname "$0")/lib.sh"
cd "$W"
command -v cc >/dev/null || fail "no C compiler (cc) to build the fork/thread test program"

cat >forksign.c <<'C'
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/store.h>

static const char *uri, *dir;
static const char msg[] = "dcpki fork and thread test\n";

static EVP_PKEY *load(void)
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

static int sign_to(EVP_PKEY *k, const char *name)
{
    unsigned char sig[1024];
    size_t len = sizeof(sig);
    char path[4096];
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    int ok = m != NULL && EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, k, NULL) == 1
             && EVP_DigestSign(m, sig, &len, (const unsigned char *)msg, strlen(msg)) == 1;
    EVP_MD_CTX_free(m);
    if (!ok) {
        fprintf(stderr, "%s: signing failed\n", name);
        ERR_print_errors_fp(stderr);
        return 0;
    }
    snprintf(path, sizeof(path), "%s/%s.sig", dir, name);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(sig, 1, len, f) != len) {
        perror(path);
        return 0;
    }
    fclose(f);
    return 1;
}

static void *thread_main(void *arg)
{
    char name[32];
    EVP_PKEY *k = load();
    snprintf(name, sizeof(name), "t%ld", (long)(size_t)arg);
    if (k == NULL) {
        fprintf(stderr, "%s: no key\n", name);
        ERR_print_errors_fp(stderr);
        return (void *)1;
    }
    int ok = sign_to(k, name) && sign_to(k, name); /* twice: reuse of the connection */
    EVP_PKEY_free(k);
    return ok ? NULL : (void *)1;
}

int main(int argc, char **argv)
{
    if (argc != 4)
        return 2;
    uri = argv[2];
    dir = argv[3];
    if (strcmp(argv[1], "threads") == 0) {
        pthread_t t[8];
        void *r;
        int bad = 0;
        for (size_t i = 0; i < 8; i++)
            if (pthread_create(&t[i], NULL, thread_main, (void *)i) != 0)
                return 1;
        for (size_t i = 0; i < 8; i++) {
            pthread_join(t[i], &r);
            bad |= r != NULL;
        }
        return bad;
    }
    EVP_PKEY *k = load();
    if (k == NULL) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    if (!sign_to(k, "parent1"))
        return 1;
    if (strcmp(argv[1], "race") == 0) {
        /* parent and child sign at the same time, each 30 times: a connection kept
         * before fork() and used by both would mix their answers */
        pid_t c = fork();
        if (c < 0)
            return 1;
        int ok = 1;
        char name[32];
        for (int i = 0; i < 30 && ok; i++) {
            snprintf(name, sizeof(name), "%s%d", c == 0 ? "c" : "p", i);
            ok = sign_to(k, name);
        }
        if (c == 0)
            _exit(ok ? 0 : 1);
        int st = 0;
        waitpid(c, &st, 0);
        return ok && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : 1;
    }
    pid_t pid = fork();
    if (pid < 0)
        return 1;
    if (pid == 0)
        _exit(sign_to(k, "child1") && sign_to(k, "child2") ? 0 : 1);
    int st = 0;
    waitpid(pid, &st, 0);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        fprintf(stderr, "child failed\n");
        return 1;
    }
    int ok = sign_to(k, "parent2");
    EVP_PKEY_free(k);
    return ok ? 0 : 1;
}
C
cc -std=c11 -D_POSIX_C_SOURCE=200809L -O1 -o forksign forksign.c -lcrypto -lpthread || fail "cannot build the test program"
printf 'dcpki fork and thread test\n' >msg
openssl storeutl -certs dcpki:key=issuing-ca | awk '/BEGIN CERT/{n++} n==1' | plain x509 -pubkey -noout >rsa.pub
openssl storeutl -certs dcpki:key=ec-ca | awk '/BEGIN CERT/{n++} n==1' | plain x509 -pubkey -noout >ec.pub
plain x509 -in "$RUN/ra.pem" -pubkey -noout >ra.pub

check() { plain dgst -sha256 -verify "$1" -signature "$2" msg | grep -q 'Verified OK' || fail "$2 does not verify with $1"; }
# the RA key signs locally: no transport involved
mkdir -p fork-ra
timeout 60 ./forksign fork dcpki:ra fork-ra || fail "fork test with dcpki:ra"
for s in parent1 child1 child2 parent2; do check ra.pub fork-ra/$s.sig; done
# remote keys: the child must not use (or break) the parent's connections
for k in issuing-ca:rsa ec-ca:ec; do
  alias=${k%%:*}; pub=${k#*:}.pub
  mkdir -p fork-$alias threads-$alias
  timeout 60 ./forksign fork "dcpki:key=$alias" fork-$alias || fail "fork test with $alias (a hang here means the transport deadlocks in the forked child)"
  for s in parent1 child1 child2 parent2; do check $pub fork-$alias/$s.sig; done
  timeout 120 ./forksign threads "dcpki:key=$alias" threads-$alias || fail "thread test with $alias"
  for i in 0 1 2 3 4 5 6 7; do check $pub threads-$alias/t$i.sig; done
done
pass "signatures before and after fork(), in the child, and from 8 threads at first use"

# the same through a dcpki agent: a forked child must not use the parent's kept connections to it
sed "/^\[signing\]/a agent = $W/agent.sock" "$RUN/dcpki.conf" >agent.conf
printf '[signing]\nagent = %s\n' "$W/agent.sock" >client.conf
openssl_cnf_for client-openssl.cnf "$W/client.conf"
"$DCPKI" --config agent.conf agent </dev/null >agent.log 2>&1 &
_priv_pids+=($!)
for _ in $(seq 1 100); do grep -q 'agent: serving' agent.log && break; sleep 0.1; done
grep -q 'agent: serving' agent.log || fail "the agent did not start: $(cat agent.log)"
for k in issuing-ca:rsa ec-ca:ec; do
  alias=${k%%:*}; pub=${k#*:}.pub
  mkdir -p agent-fork-$alias agent-threads-$alias
  DCPKI_CONF=$W/client.conf OPENSSL_CONF=client-openssl.cnf timeout 60 ./forksign fork "dcpki:key=$alias" agent-fork-$alias \
    || fail "fork test with $alias through the agent"
  for s in parent1 child1 child2 parent2; do check $pub agent-fork-$alias/$s.sig; done
  mkdir -p agent-race-$alias
  DCPKI_CONF=$W/client.conf OPENSSL_CONF=client-openssl.cnf timeout 120 ./forksign race "dcpki:key=$alias" agent-race-$alias \
    || fail "parent and child signing at once through the agent ($alias)"
  for i in $(seq 0 29); do check $pub agent-race-$alias/p$i.sig; check $pub agent-race-$alias/c$i.sig; done
  DCPKI_CONF=$W/client.conf OPENSSL_CONF=client-openssl.cnf timeout 120 ./forksign threads "dcpki:key=$alias" agent-threads-$alias \
    || fail "thread test with $alias through the agent"
  for i in 0 1 2 3 4 5 6 7; do check $pub agent-threads-$alias/t$i.sig; done
done
pass "through the agent too: before and after fork(), parent and child at once, and from 8 threads at first use"

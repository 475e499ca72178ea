#!/bin/bash
# Servers that load their key as root and serve from workers running as another
# user. dcpki.conf, the RA key and certificate, the trust bundle and the API key
# are 0600 root in a 0700 directory (like /etc/dcpki):
# 1. a C program loads a remote key, signs, forks, drops to nobody in the child
#    (setgid/setuid) and signs there; both signatures verify;
# 2. nginx (master as root, workers as nobody) with a key reference file as
#    ssl_certificate_key: TLS 1.3 and 1.2 handshakes succeed, many times, served
#    by several workers;
# 3. the same nginx with the service stopped: the handshake fails cleanly and
#    nginx's log says "could not connect", not "not trusted".
source "$(dirname "$0")/lib.sh"
[[ $(id -u) == 0 ]] || fail "this test drops privileges and must run as root"
command -v nginx >/dev/null || fail "nginx is not installed (scripts/deps installs nginx-light)"
command -v curl >/dev/null || fail "curl is not installed (scripts/deps)"
command -v cc >/dev/null || fail "no C compiler (cc) to build the fork test program"

# a private emulator (stopped in step 3) and root-only dcpki files
start_private_emulator
S=$W/etc-dcpki
mkdir -p "$S" && chmod 700 "$S"
cp "$RUN/ra.key" "$RUN/ra.pem" "$S/"
cp "$(_emu "$PRIV_STATE" trust)" "$S/trust.pem"
cp "$(_emu "$PRIV_STATE" api_key_file)" "$S/api-key"
write_conf "$S/dcpki.conf" "ra.key=$S/ra.key" "ra.certificate=$S/ra.pem" "ca.trust=$S/trust.pem" \
  "ca.host=$PRIV_HOST" "signing.url=$PRIV_URL" "signing.api_key_file=$S/api-key" "ca.timeout_ms=5000"
openssl_cnf_for "$S/openssl.cnf" "$S/dcpki.conf"
chmod 600 "$S"/*
# nobody must reach the public files (and nothing else) under $W
chmod 711 "$W"; d=$W; while [[ $d != / ]]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
P=$W/pub; mkdir -p "$P" && chmod 755 "$P"
export OPENSSL_CONF=$S/openssl.cnf XDG_CACHE_HOME=$W/cache

# ---- 1. fork, drop to nobody, sign
cat >"$W/dropsign.c" <<'C'
#include <grp.h>
#include <stdio.h>
#include <sys/wait.h>
#include <unistd.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

static int sign_to(EVP_PKEY *k, const char *path)
{
    static const unsigned char msg[] = "signed after a privilege drop\n";
    unsigned char sig[1024];
    size_t n = sizeof(sig);
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    int ok = c && EVP_DigestSignInit(c, NULL, EVP_sha256(), NULL, k) == 1 &&
             EVP_DigestSign(c, sig, &n, msg, sizeof(msg) - 1) == 1;
    EVP_MD_CTX_free(c);
    FILE *f = ok ? fopen(path, "wb") : NULL;
    if (ok && !f)
        perror(path);
    ok = f && fwrite(sig, 1, n, f) == n;
    if (f)
        fclose(f);
    if (!ok)
        ERR_print_errors_fp(stderr);
    return ok;
}

int main(int argc, char **argv)
{
    /* argv: keyfile parent.sig child.sig */
    FILE *f = fopen(argv[1], "r");
    EVP_PKEY *k = f ? PEM_read_PrivateKey(f, NULL, NULL, NULL) : NULL;
    if (f)
        fclose(f);
    if (!k || !sign_to(k, argv[2])) {
        ERR_print_errors_fp(stderr);
        return 1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0) {
            perror("dropping to nobody");
            _exit(2);
        }
        if (access(argv[1], R_OK) == 0 || getuid() != 65534) {
            fprintf(stderr, "the child can still read the root-only files\n");
            _exit(3);
        }
        _exit(sign_to(k, argv[3]) ? 0 : 1);
    }
    int st = 0;
    waitpid(pid, &st, 0);
    int ok = WIFEXITED(st) && WEXITSTATUS(st) == 0 && sign_to(k, argv[2]);
    EVP_PKEY_free(k);
    return ok ? 0 : 1;
}
C
cc -o "$W/dropsign" "$W/dropsign.c" -lcrypto || fail "cannot build the fork test program"
openssl pkey -in dcpki:key=issuing-ca -out "$S/key.ref" || fail "cannot write a key reference file"
chmod 600 "$S/key.ref"
plain x509 -in <(openssl storeutl -certs dcpki:key=issuing-ca 2>/dev/null | sed -n '/BEGIN/,/END/p') -pubkey -noout >"$W/ca.pub" \
  || fail "cannot read the public key of issuing-ca"
mkdir -p "$W/out" && chmod 1777 "$W/out"   # where the child, as nobody, writes its signature
out=$("$W/dropsign" "$S/key.ref" "$W/parent.sig" "$W/out/child.sig" 2>&1) || fail "signing after fork and setuid(nobody) failed: $out"
printf 'signed after a privilege drop\n' >"$W/msg"
for s in parent.sig out/child.sig; do
  plain dgst -sha256 -verify "$W/ca.pub" -signature "$W/$s" "$W/msg" >/dev/null || fail "the signature $s does not verify"
done
pass "a child forked after the first signature drops to nobody and signs; both signatures verify"

# ---- 2. nginx: master as root, workers as nobody, a key reference file
cp "$S/key.ref" "$P/key.ref"
openssl req -x509 -key "$P/key.ref" -subj /CN=localhost -addext subjectAltName=DNS:localhost -days 2 -out "$P/cert.pem" \
  || fail "openssl req -x509 with the key reference file failed"
chmod 600 "$P/key.ref"; chmod 644 "$P/cert.pem"
PORT=$(free_port)
NG=$W/nginx; mkdir -p "$NG"
cat >"$NG/nginx.conf" <<NGINX
user nobody nogroup;
daemon off;
master_process on;
worker_processes 3;
pid $NG/nginx.pid;
error_log $NG/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $NG/body; proxy_temp_path $NG/proxy; fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi; scgi_temp_path $NG/scgi;
  server {
    listen 127.0.0.1:$PORT ssl reuseport;
    ssl_certificate $P/cert.pem;
    ssl_certificate_key $P/key.ref;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { return 200 "cloud-key-ok \$pid\n"; }
  }
}
NGINX
nginx -t -c "$NG/nginx.conf" -p "$NG" >"$NG/t.log" 2>&1 || fail "nginx -t refuses the configuration: $(cat "$NG/t.log")"
nginx -c "$NG/nginx.conf" -p "$NG" &
NGINX_PID=$!
_priv_pids+=("$NGINX_PID")
# the client is plain curl: no dcpki provider, no ASan preload (under scripts/test --asan a
# preloaded libasan deadlocks curl in setlocale at start)
get() { env -u LD_PRELOAD OPENSSL_CONF=/dev/null curl -sS --max-time 10 --cacert "$P/cert.pem" \
  --resolve "localhost:$PORT:127.0.0.1" "$@" "https://localhost:$PORT/"; }
for _ in $(seq 1 50); do get --tlsv1.2 >/dev/null 2>&1 && break; sleep 0.2; done
workers=$(env -u LD_PRELOAD ps -o user=,pid= --ppid "$NGINX_PID" | awk '$1=="nobody"{print $2}' | sort)
[[ $(wc -l <<<"$workers") -ge 3 ]] || fail "nginx workers do not run as nobody: $(env -u LD_PRELOAD ps -o user=,pid=,cmd= --ppid "$NGINX_PID")"
served=()
for i in $(seq 1 12); do
  for v in "--tlsv1.3" "--tlsv1.2 --tls-max 1.2"; do
    # shellcheck disable=SC2086
    r=$(get $v 2>&1) || fail "handshake $i ($v) with the cloud key failed: $r; nginx log: $(tail -3 "$NG/error.log")"
    [[ $r == "cloud-key-ok "* ]] || fail "unexpected answer: $r"
    served+=("${r#cloud-key-ok }")
  done
done
n_workers=$(printf '%s\n' "${served[@]}" | sort -u | wc -l)
[[ $n_workers -ge 2 ]] || fail "all 24 handshakes were served by one worker (${served[0]}): the test proves nothing about several workers"
grep -q "not trusted\|cannot be read" "$NG/error.log" && fail "nginx logged a dcpki error: $(grep -m1 'dcpki' "$NG/error.log")"
pass "nginx workers running as nobody: 12 TLS 1.3 and 12 TLS 1.2 handshakes signed by the cloud key, served by $n_workers workers"

# ---- 3. the service stopped: a clean failure that says so
kill "${_priv_pids[0]}"; wait "${_priv_pids[0]}" 2>/dev/null || true
r=$(get --tlsv1.3 2>&1) && fail "the handshake succeeded with the signing service stopped: $r"
sleep 0.5
grep -q "could not connect" "$NG/error.log" || fail "nginx's log does not say 'could not connect': $(grep -i 'dcpki\|ssl' "$NG/error.log" | tail -3)"
grep -q "not trusted" "$NG/error.log" && fail "nginx's log blames trust for a stopped service: $(grep -m1 'not trusted' "$NG/error.log")"
kill -0 "$NGINX_PID" || fail "nginx died when the service stopped"
pass "service stopped: the handshake fails, nginx logs '$(grep -o 'could not connect[^(]*' "$NG/error.log" | head -1)'"
kill "$NGINX_PID"; wait "$NGINX_PID" 2>/dev/null || true

#!/bin/bash
# Transport failures are named by what happened: an answer cut short or a
# connection reset after the request went out is "the connection broke after
# the request was sent; the service may have acted on it" (provider signing,
# revoke), never "the client (RA) certificate was refused"; an RA certificate
# the service did not issue is still reported as refused, with nothing sent.
source "$(dirname "$0")/lib.sh"
cd "$W"
echo data >d
rm -f broken.* 2>/dev/null

plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -subj /CN=localhost \
  -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -days 2 -out srv.pem 2>/dev/null || fail "server certificate"

# A TLS server that completes the handshake,
# reads the whole request, then (mode truncate) sends headers announcing a
# body and half of it before closing without close_notify, or (mode reset)
# resets the connection (SO_LINGER 0) without answering.
cat >broken.py <<'PY'
import socket, ssl, struct, sys, threading
mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER); ctx.load_cert_chain(cert, key)
ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", port)); ls.listen(8)
def read_request(c):
    buf = b""
    while b"\r\n\r\n" not in buf:
        d = c.recv(4096)
        if not d: return buf
        buf += d
    head, _, body = buf.partition(b"\r\n\r\n")
    n = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"): n = int(line.split(b":")[1])
    while len(body) < n:
        d = c.recv(4096)
        if not d: break
        body += d
    return buf
def serve(raw):
    try:
        c = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError) as e:
        print("handshake:", e, flush=True); raw.close(); return
    try:
        read_request(c)
        if mode == "truncate":
            body = b'{"id":"issuing-ca","keyType":"RSA","padding":"' + b"x" * 400 + b'"}'
            c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
            c.sendall(body[: len(body) // 2])
            c.shutdown(socket.SHUT_RDWR); c.close()
        else:
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close()
    except OSError as e:
        print("serve:", e, flush=True)
print("listening", flush=True)
while True:
    s, _ = ls.accept()
    threading.Thread(target=serve, args=(s,), daemon=True).start()
PY

start_broken() {  # start_broken MODE : sets BPORT, writes $W/MODE.conf and $W/MODE.cnf
  BPORT=$(free_port)
  /usr/bin/python3 broken.py "$1" "$BPORT" srv.pem srv.key >"$W/broken-$1.log" 2>&1 &
  _priv_pids+=($!)
  for _ in $(seq 1 50); do grep -q listening "$W/broken-$1.log" 2>/dev/null && break; sleep 0.1; done
  write_conf "$W/$1.conf" "ca.host=127.0.0.1:$BPORT" "signing.url=https://127.0.0.1:$BPORT" "ca.trust=$W/srv.pem"
  openssl_cnf_for "$W/$1.cnf" "$W/$1.conf"
}
sign_with() { OPENSSL_CONF=$1 DCPKI_CONF=/nonexistent XDG_CACHE_HOME=$W/cache-$2 openssl dgst -sha256 -sign dcpki:key=issuing-ca -out "$W/x.sig" "$W/d"; }
not_refused() {  # the last output must not blame the RA certificate, and says the request was sent
  if grep -qi 'certificate was refused\|refused it\|RA.*refused\|refused the RA' <<<"$LAST_OUTPUT"; then
    fail "$1: a broken connection is reported as a refused RA certificate: $LAST_OUTPUT"
  fi
  grep -qi 'the request was sent; the service may have acted on it' <<<"$LAST_OUTPUT" ||
    fail "$1: the message does not say that the request was sent: $LAST_OUTPUT"
}

# 1. a body cut in half after full headers (as soapproxy.py's .truncate does)
start_broken truncate
expect_fail "the connection broke" sign_with "$W/truncate.cnf" truncate
not_refused "truncated answer to the provider"
expect_fail "the connection broke" "$DCPKI" --config "$W/truncate.conf" revoke --serial 0A0B0C --reason superseded
not_refused "truncated answer to revoke"
grep -qi "may already be revoked" <<<"$LAST_OUTPUT" || fail "revoke does not say the outcome is unknown: $LAST_OUTPUT"
pass "truncated answer: connection broke, request sent"

# 2. a server that resets the connection after the handshake, without answering
start_broken reset
expect_fail "the connection broke" sign_with "$W/reset.cnf" reset
not_refused "reset after the handshake (provider)"
expect_fail "the connection broke" "$DCPKI" --config "$W/reset.conf" revoke --serial 0A0B0C --reason superseded
not_refused "reset after the handshake (revoke)"
pass "reset after the handshake: connection broke, request sent"

# 3. the real service and an RA certificate it did not issue: still refused
plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other-ra.key -subj /CN=other-ra -days 2 \
  -addext extendedKeyUsage=clientAuth -out other-ra.pem 2>/dev/null || fail "other RA certificate"
write_conf "$W/other.conf" "ra.certificate=$W/other-ra.pem" "ra.key=$W/other-ra.key" "ra.certificate_thumbprint=" \
  "ra.pkcs12=" "ra.pkcs12_password_file="
openssl_cnf_for "$W/other.cnf" "$W/other.conf"
expect_fail "the client (RA) certificate was refused" sign_with "$W/other.cnf" other
grep -qi "nothing was sent\|did not act on the request" <<<"$LAST_OUTPUT" ||
  fail "a refused RA certificate does not say the request had no effect: $LAST_OUTPUT"
expect_fail "the client (RA) certificate was refused" "$DCPKI" --config "$W/other.conf" revoke --serial 0A0B0C --reason superseded
pass "RA certificate the service did not issue: refused"

#!/bin/bash
# TLS with remote keys: s_client authenticates with a dcpki key to a plain
# s_server -Verify; s_server whose -key is a key reference file serves TLS 1.2
# and 1.3 to a plain client (RSA, so TLS 1.3 uses RSA-PSS, and EC). Ordinary
# keys and TLS groups keep working under the same configuration, also with the
# acceptance check's openssl.cnf (no default_properties).
source "$(dirname "$0")/lib.sh"
cd "$W"

srv_pids=()
stop_servers() { for p in "${srv_pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; srv_pids=(); }
trap 'stop_servers; _cleanup' EXIT
# start_server LOG ARGS... : s_server on a free port in the background; sets PORT
start_server() {
  local log=$1; shift
  PORT=$(free_port)
  "$@" -accept "127.0.0.1:$PORT" </dev/null >"$log" 2>&1 &
  srv_pids+=($!)
  for _ in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && return 0
    sleep 0.1
  done
  fail "s_server did not start: $(cat "$log")"
}
# client OUT ARGS... : one handshake, stdout+stderr to OUT; returns s_client's status
client() { local out=$1; shift; echo Q | timeout 30 "$@" -connect "127.0.0.1:$PORT" -servername localhost >"$out" 2>&1; }

# --- client authentication with a remote key ---------------------------------
# a client certificate for the remote key (self-signed by it, clientAuth)
openssl req -x509 -key dcpki:key=issuing-ca -subj /CN=dcpki-client-rsa -days 2 \
  -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=clientAuth -out cli-rsa.pem || fail "client cert RSA"
openssl req -x509 -key dcpki:key=ec-ca -subj /CN=dcpki-client-ec -days 2 \
  -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=clientAuth -out cli-ec.pem || fail "client cert EC"
cat cli-rsa.pem cli-ec.pem >clients.pem
# an ordinary server key and certificate
plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout srv.key -subj /CN=localhost -days 2 \
  -addext subjectAltName=DNS:localhost,IP:127.0.0.1 -out srv.pem 2>/dev/null || fail "server cert"

for tls in -tls1_2 -tls1_3; do
  for k in rsa:issuing-ca ec:ec-ca; do
    t=${k%%:*}; alias=${k#*:}
    start_server srv-$t$tls.log env OPENSSL_CONF=/dev/null openssl s_server -rev -key srv.key -cert srv.pem \
      -Verify 1 -CAfile clients.pem -verify_return_error $tls
    client cli-$t$tls.out openssl s_client -key "dcpki:key=$alias" -cert cli-$t.pem -CAfile srv.pem \
      -verify_return_error $tls || fail "s_client with dcpki:key=$alias ($tls): $(cat cli-$t$tls.out; cat srv-$t$tls.log)"
    grep -q 'Verification: OK\|Verify return code: 0' cli-$t$tls.out || fail "server not verified ($t $tls)"
    stop_servers
    grep -q "CN = dcpki-client-$t\|CN=dcpki-client-$t" srv-$t$tls.log || fail "server did not see the client certificate ($t $tls): $(cat srv-$t$tls.log)"
  done
done
pass "s_client authenticates with remote RSA and EC keys (TLS 1.2 and 1.3)"

# --- s_server with a key reference file --------------------------------------
for k in rsa:issuing-ca ec:ec-ca; do
  t=${k%%:*}; alias=${k#*:}
  openssl pkey -in "dcpki:key=$alias" -out ref-$t.pem || fail "writing the key reference for $alias"
  openssl req -x509 -key ref-$t.pem -subj /CN=localhost -days 2 -addext subjectAltName=DNS:localhost,IP:127.0.0.1 \
    -out web-$t.pem || fail "server cert for the key reference ($t)"
  for tls in -tls1_2 -tls1_3; do
    start_server web-$t$tls.log openssl s_server -rev -key ref-$t.pem -cert web-$t.pem $tls
    client web-cli-$t$tls.out env OPENSSL_CONF=/dev/null openssl s_client -CAfile web-$t.pem -verify_return_error -verify_hostname localhost $tls \
      || fail "plain client to s_server -key ref-$t.pem ($tls): $(cat web-cli-$t$tls.out; cat web-$t$tls.log)"
    want=TLSv1.2; [[ $tls == -tls1_3 ]] && want=TLSv1.3
    grep -q "Protocol *: *$want\|New, $want" web-cli-$t$tls.out || fail "not $want: $(cat web-cli-$t$tls.out)"
    grep -q 'Verify return code: 0' web-cli-$t$tls.out || fail "server certificate not verified ($t $tls)"
    stop_servers
  done
done
pass "s_server -key <key reference file> serves TLS 1.2 and 1.3 (RSA, EC)"

# --- ordinary keys and TLS under the same configuration -----------------------
ordinary() {
  local cnf=$1 tag=$2
  OPENSSL_CONF=$cnf openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out o-$tag.key \
    || fail "genpkey EC ($tag)"
  OPENSSL_CONF=$cnf openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out o-rsa-$tag.key \
    || fail "genpkey RSA ($tag)"
  OPENSSL_CONF=$cnf openssl req -x509 -key o-$tag.key -subj /CN=localhost -days 2 -out o-$tag.pem || fail "req -x509 ($tag)"
  # P-256 alone: the EC key exchange must come from the default provider;
  # X25519:P-256 as a client would offer them
  for g in P-256 X25519:P-256; do
    for tls in -tls1_2 -tls1_3; do
      start_server o-srv-$tag.log env OPENSSL_CONF=$cnf openssl s_server -rev -key o-$tag.key -cert o-$tag.pem $tls -groups $g
      client o-cli-$tag.out env OPENSSL_CONF=$cnf openssl s_client -CAfile o-$tag.pem -verify_return_error $tls -groups $g \
        || fail "TLS with file keys ($tag, $g, $tls): $(cat o-cli-$tag.out; cat o-srv-$tag.log)"
      if [[ $g == P-256 ]]; then
        grep -Eq '(Server|Peer) Temp Key: ECDH, prime256v1' o-cli-$tag.out || fail "no P-256 key exchange ($tag, $tls)"
      fi
      stop_servers
    done
  done
}
ordinary "$OPENSSL_CONF" shipped
# the acceptance check's configuration: default first, no default_properties
openssl_cnf_for accept.cnf "$RUN/dcpki.conf" accept
ordinary "$W/accept.cnf" accept
OPENSSL_CONF=$W/accept.cnf openssl dgst -sha256 -sign dcpki:key=ec-ca -out a.sig accept.cnf || fail "remote key under accept.cnf"
plain x509 -in cli-ec.pem -pubkey -noout >ec.pub
plain dgst -sha256 -verify ec.pub -signature a.sig accept.cnf | grep -q 'Verified OK' || fail "signature under accept.cnf"
pass "ordinary keys, key generation and TLS groups still work (shipped and acceptance configurations)"

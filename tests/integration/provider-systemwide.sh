#!/bin/bash
# System-wide activation breaks nothing: with the shipped openssl.cnf example
# (share/dcpki/openssl.cnf.example) and only ordinary key files, Debian's TLS
# daemons with their own default group settings (stunnel4, lighttpd, haproxy),
# curl, Python's ssl module, openssl s_server -groups and genpkey, and a host
# program that changes OpenSSL's fetch settings (c/systemwide-host.c), behave
# exactly as with OPENSSL_CONF=/dev/null: every scenario runs under both and
# the outcomes (started or not, handshake, protocol, negotiated group) must be
# identical. stunnel's SSL_CTX_new_ex(NULL, "provider!=fips") is the case that
# once rejected its default curves "X25519:P-256:X448:P-521:P-384".
source "$(dirname "$0")/lib.sh"
cd "$W"
for t in stunnel4 lighttpd haproxy curl cc; do
  command -v "$t" >/dev/null || fail "$t is missing: run scripts/deps"
done

# the shipped example, pointing at this build's provider and dcpki.conf
sed -e "s#^module = .*#module = $PROVIDER_DIR/dcpki.so#" \
    -e "s#^dcpki-config = .*#dcpki-config = $DCPKI_CONF#" \
    "$DCPKI_BUILD/openssl.cnf.example" > example.cnf
OPENSSL_CONF=$W/example.cnf openssl list -providers | grep -q 'name: dcpki' \
  || fail "the example does not load the dcpki provider"
CONFS=(/dev/null "$W/example.cnf")

# plain keys and certificates (no dcpki)
plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ec256.key \
  -out ec256.crt -subj /CN=localhost -days 2 2>/dev/null
plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-384 -nodes -keyout ec384.key \
  -out ec384.crt -subj /CN=localhost -days 2 2>/dev/null
plain req -x509 -newkey rsa:2048 -nodes -keyout rsa.key -out rsa.crt -subj /CN=localhost \
  -days 2 2>/dev/null
cat ec256.crt ec256.key > ec256.pem
cat rsa.crt rsa.key > rsa.pem

srv_pid=
stop_server() { [[ -n $srv_pid ]] && { kill "$srv_pid" 2>/dev/null || true; wait "$srv_pid" 2>/dev/null || true; }; srv_pid=; }
trap 'stop_server; _cleanup' EXIT
# wait_port PORT : 0 when something listens within 5 s
wait_port() { for _ in $(seq 1 50); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
# probe PORT GROUPS : a plain client's view of a handshake (3 tries: stunnel
# drops the connection as soon as its backend refuses, which can race s_client)
probe() {
  local out
  for _ in 1 2 3; do
    out=$(probe_once "$@")
    [[ $out != *"handshake failed"* ]] && break
  done
  echo "$out"
}
probe_once() {
  local g=() out
  [[ $2 != default ]] && g=(-groups "$2")
  # what the handshake showed decides, not s_client's exit status: a server
  # that resets the connection after the handshake makes s_client exit 1
  out=$(echo | OPENSSL_CONF=/dev/null timeout 10 openssl s_client -connect "127.0.0.1:$1" \
    -servername localhost "${g[@]}" 2>&1 \
    | grep -E '^(Protocol *:|New, |Server Temp Key|Peer Temp Key|Negotiated TLS1.3 group)' \
    | sed 's/  */ /g' | sort || true)
  [[ -n $out ]] && echo "$out" || echo "handshake failed"
}
PROBES=(default P-256 P-384 P-521 X25519)
# daemon NAME CONF CMD... : start CMD (PORT set) under CONF, record start + probes
daemon() {
  local name=$1 conf=$2; shift 2
  echo "== $name"
  OPENSSL_CONF=$conf "$@" >"$name.$RANDOM.log" 2>&1 </dev/null &
  srv_pid=$!
  if wait_port "$PORT"; then
    echo started
    for g in "${PROBES[@]}"; do echo "-- $g"; probe "$PORT" "$g"; done
  else
    echo "did not start"
  fi
  stop_server
}

scenarios() {
  local conf=$1 tag=$2
  # stunnel4: its default curves X25519:P-256:X448:P-521:P-384 and
  # SSL_CTX_new_ex(NULL, "provider!=fips")
  PORT=$(free_port)
  cat > "stunnel.$tag.conf" <<CONF
foreground = yes
pid =
[t]
accept = 127.0.0.1:$PORT
connect = 127.0.0.1:9
cert = $W/ec256.crt
key = $W/ec256.key
CONF
  daemon stunnel "$conf" stunnel4 "stunnel.$tag.conf"
  # lighttpd: mod_openssl with its own defaults
  PORT=$(free_port)
  mkdir -p "www.$tag"
  cat > "lighttpd.$tag.conf" <<CONF
server.document-root = "$W/www.$tag"
server.bind = "127.0.0.1"
server.port = $PORT
server.modules += ( "mod_openssl" )
ssl.engine = "enable"
ssl.pemfile = "$W/ec256.pem"
CONF
  daemon lighttpd "$conf" lighttpd -D -f "lighttpd.$tag.conf"
  # haproxy: TLS frontend with its default curves, RSA certificate
  PORT=$(free_port)
  cat > "haproxy.$tag.cfg" <<CONF
global
  log stderr local0
defaults
  mode http
  timeout connect 1s
  timeout client 5s
  timeout server 5s
frontend f
  bind 127.0.0.1:$PORT ssl crt $W/rsa.pem
  http-request return status 200 content-type text/plain string ok
CONF
  daemon haproxy "$conf" haproxy -db -f "haproxy.$tag.cfg"
  # openssl s_server -groups, EC P-384 key
  PORT=$(free_port)
  daemon s_server "$conf" openssl s_server -accept "127.0.0.1:$PORT" -cert ec384.crt \
    -key ec384.key -groups P-256:P-384:P-521 -www
  # curl and Python as clients, under the configuration, to a plain s_server
  PORT=$(free_port)
  OPENSSL_CONF=/dev/null openssl s_server -accept "127.0.0.1:$PORT" -cert ec256.crt \
    -key ec256.key -www >/dev/null 2>&1 </dev/null &
  srv_pid=$!
  wait_port "$PORT" || fail "plain s_server did not start"
  echo "== curl"
  for g in P-256 P-384 X25519; do
    OPENSSL_CONF=$conf curl -s -o /dev/null -w "$g %{http_code}\n" --cacert ec256.crt \
      --curves "$g" "https://localhost:$PORT/" --resolve "localhost:$PORT:127.0.0.1" || echo "$g failed"
  done
  echo "== python"
  OPENSSL_CONF=$conf /usr/bin/python3 - "$PORT" "$W/ec256.crt" <<'PY' || echo "python failed"
import socket, ssl, sys
port, ca = int(sys.argv[1]), sys.argv[2]
c = ssl.create_default_context(cafile=ca)
with socket.create_connection(("127.0.0.1", port)) as s, \
     c.wrap_socket(s, server_hostname="localhost") as t:
    print(t.version(), t.cipher()[0])
s = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
s.load_cert_chain(sys.argv[2], sys.argv[2].replace(".crt", ".key"))
s.set_ecdh_curve("secp384r1")
print("server context ok")
PY
  stop_server
  # key generation
  echo "== genpkey"
  for a in "EC -pkeyopt ec_paramgen_curve:P-256" "EC -pkeyopt ec_paramgen_curve:P-384" \
           "RSA -pkeyopt rsa_keygen_bits:2048"; do
    # shellcheck disable=SC2086
    if OPENSSL_CONF=$conf openssl genpkey -algorithm $a -out "gen.$tag.pem" 2>/dev/null \
       && OPENSSL_CONF=/dev/null openssl pkey -in "gen.$tag.pem" -noout 2>/dev/null; then
      echo "$a ok"
    else
      echo "$a failed"
    fi
  done
  # a host program that changes fetch settings the ways daemons do
  echo "== host program"
  for m in defprops fips-off propq libctx; do
    echo "-- $m"
    OPENSSL_CONF=$conf ./systemwide-host "$m" ec256.key rsa.key 2>"host.$tag.$m.err" || echo "exit $?"
  done
}

cc -std=c11 -Wall -Wextra -Werror -o systemwide-host "$DCPKI_SRC/tests/integration/c/systemwide-host.c" \
  -lssl -lcrypto || fail "cannot build the host program"

scenarios /dev/null without > without.txt
scenarios "$W/example.cnf" with > with.txt
grep -q '^started' without.txt || fail "no daemon started even without the provider: $(cat without.txt)"
diff -u without.txt with.txt > diff.txt \
  || fail "the example openssl.cnf changes what ordinary programs do:
$(cat diff.txt)
(host program stderr: $(cat host.with.*.err))"
pass "stunnel4, lighttpd, haproxy, s_server -groups, curl, python ssl, genpkey and the host program behave the same with the dcpki provider"

#!/bin/bash
# The dcpki agent ([signing] agent, dcpki agent). The agent runs as root with the
# group nogroup; its configuration, RA key and API key are 0600 root. Clients use a
# configuration that holds only [signing] agent:
# 1. nobody (group nogroup), who cannot read the RA key or the API key, signs with
#    openssl (RSA and ECDSA), lists keys with dcpki and signs through PKCS#11;
#    every signature verifies with plain OpenSSL;
# 2. a user outside the group is refused by the socket's mode; with the socket
#    opened to all (0666) the agent itself refuses it (SO_PEERCRED) and logs it;
# 3. the agent forwards only list, describe and sign: other methods and paths are
#    refused, a malformed frame ends that connection only;
# 4. a long-lived client (s_server) goes on signing after the agent restarts;
#    a second agent on the same socket is refused, a stale socket is replaced;
# 5. stopped (SIGTERM), the agent exits 0 and removes its socket; a client then
#    fails in one line naming the agent and how to start it;
# 6. a client refuses an agent running as another user in a directory it does
#    not own (a planted socket).
source "$(dirname "$0")/lib.sh"
[[ $(id -u) == 0 ]] || fail "this test changes users and must run as root"
command -v setpriv >/dev/null || fail "setpriv is not installed (util-linux)"
command -v pkcs11-tool >/dev/null || fail "pkcs11-tool is not installed (scripts/deps installs opensc)"
cd "$W"

S=$W/etc-dcpki
mkdir -p "$S" && chmod 700 "$S"
cp "$RUN/ra.key" "$RUN/ra.pem" "$S/"
cp "$EMU_TRUST" "$S/trust.pem"
cp "$EMU_APIKEY" "$S/api-key"
A=$W/run-dcpki # the agent's directory, as systemd's RuntimeDirectory: root:nogroup 0750
mkdir -p "$A" && chown root:nogroup "$A" && chmod 750 "$A"
SOCK=$A/agent.sock
write_conf "$S/dcpki.conf" "ra.key=$S/ra.key" "ra.certificate=$S/ra.pem" "ca.trust=$S/trust.pem" \
  "signing.api_key_file=$S/api-key" "signing.agent=$SOCK"
chmod 600 "$S"/*
# the clients' files: public
chmod 711 "$W"; d=$W; while [[ $d != / ]]; do d=$(dirname "$d"); chmod o+x "$d" 2>/dev/null || true; done
P=$W/pub; mkdir -p "$P" && chmod 755 "$P"
printf '[signing]\nagent = %s\n' "$SOCK" >"$P/client.conf"
openssl_cnf_for "$P/openssl.cnf" "$P/client.conf"
echo 'signed through the agent' >"$P/data"
chmod 644 "$P"/*
O=$W/nobody-out # what nobody writes
mkdir -p "$P/cache" "$O" && chown nobody:nogroup "$P/cache" "$O"

AGENT_LOG=$W/agent.log
agent_pid=
# start_agent [ARGS...] : dcpki agent as root:nogroup in the background; waits for its socket
# (its "serving" line, not the socket: a stale one may be there before it is replaced)
start_agent() {
  local n
  n=$(grep -c 'agent: serving' "$AGENT_LOG" 2>/dev/null || true)
  setpriv --regid nogroup --clear-groups "$DCPKI" --config "$S/dcpki.conf" agent "$@" </dev/null >>"$AGENT_LOG" 2>&1 &
  agent_pid=$!
  _priv_pids+=("$agent_pid")
  for _ in $(seq 1 100); do
    (($(grep -c 'agent: serving' "$AGENT_LOG" || true) > n)) && return 0
    sleep 0.1
  done
  fail "the agent did not start: $(tail -5 "$AGENT_LOG")"
}
stop_agent() {
  kill -TERM "$agent_pid"
  local rc=0
  wait "$agent_pid" || rc=$?
  [[ $rc == 0 ]] || fail "the agent exited with status $rc on SIGTERM: $(tail -5 "$AGENT_LOG")"
}
# as USER CMD... : CMD as USER (primary group only), with the clients' configuration
as() {
  local u=$1; shift
  setpriv --reuid "$u" --regid "$(id -g "$u")" --clear-groups env DCPKI_CONF="$P/client.conf" \
    OPENSSL_CONF="$P/openssl.cnf" XDG_CACHE_HOME="$P/cache" "$@"
}

start_agent
grep -q "agent: serving $SOCK for $EMU_URL" "$AGENT_LOG" || fail "the agent did not say what it serves: $(cat "$AGENT_LOG")"
[[ $(stat -c '%a %U %G' "$SOCK") == "660 root nogroup" ]] || fail "socket: $(stat -c '%a %U %G' "$SOCK"), not 660 root nogroup"
pass "the agent serves $SOCK (0660 root:nogroup)"

# ---- 1. nobody signs through the agent without the RA key or the API key
if as nobody cat "$S/ra.key" >/dev/null 2>&1 || as nobody cat "$S/api-key" >/dev/null 2>&1; then
  fail "nobody can read the RA key or the API key: the test proves nothing"
fi
for k in issuing-ca ec-ca; do
  as nobody openssl pkey -in "dcpki:key=$k" -pubout -out "$O/$k.pub" 2>"$W/pub.err" \
    || fail "nobody: openssl pkey -in dcpki:key=$k through the agent: $(cat "$W/pub.err")"
  for i in 1 2 3; do
    as nobody openssl dgst -sha256 -sign "dcpki:key=$k" -out "$O/$k.$i.sig" "$P/data" 2>"$W/sign.err" \
      || fail "nobody: openssl dgst -sign dcpki:key=$k through the agent: $(cat "$W/sign.err")"
    plain dgst -sha256 -verify "$O/$k.pub" -signature "$O/$k.$i.sig" "$P/data" >/dev/null \
      || fail "the signature by $k through the agent does not verify"
  done
done
pass "nobody signs with dcpki:key=issuing-ca and ec-ca through the agent; plain OpenSSL verifies"

as nobody "$DCPKI" keys list >"$W/keys.out" 2>"$W/keys.err" || fail "nobody: dcpki keys list: $(cat "$W/keys.err")"
grep -q issuing-ca "$W/keys.out" && grep -q ec-ca "$W/keys.out" || fail "dcpki keys list through the agent: $(cat "$W/keys.out")"

as nobody env OPENSSL_CONF=/dev/null pkcs11-tool --module "$P11MOD" -L >"$W/p11L.out" 2>&1 \
  || fail "nobody: pkcs11-tool -L through the agent: $(cat "$W/p11L.out")"
[[ $(grep -c 'serial num *: [0-9A-F]\{16\}$' "$W/p11L.out") == 2 ]] \
  || fail "the tokens through the agent have no serial numbers of their own: $(cat "$W/p11L.out")"
as nobody env OPENSSL_CONF=/dev/null pkcs11-tool --module "$P11MOD" --token-label "dcpki signing" -O --type privkey \
  >"$W/p11.out" 2>&1 || fail "nobody: pkcs11-tool -O through the agent: $(cat "$W/p11.out")"
RSA_ID=$(awk '$1 == "label:" { hit = ($2 == "issuing-ca") } hit && $1 == "ID:" { print $2; exit }' "$W/p11.out")
[[ -n $RSA_ID ]] || fail "pkcs11-tool -O: no issuing-ca key through the agent: $(cat "$W/p11.out")"
as nobody env OPENSSL_CONF=/dev/null pkcs11-tool --module "$P11MOD" --token-label "dcpki signing" --sign --id "$RSA_ID" \
  -m SHA256-RSA-PKCS -i "$P/data" -o "$O/p11.sig" >"$W/p11s.out" 2>&1 \
  || fail "nobody: pkcs11-tool --sign through the agent: $(cat "$W/p11s.out")"
plain dgst -sha256 -verify "$O/issuing-ca.pub" -signature "$O/p11.sig" "$P/data" >/dev/null \
  || fail "the PKCS#11 signature through the agent does not verify"
as nobody "$DCPKI" doctor >"$W/doctor.out" 2>&1 || fail "nobody: dcpki doctor through the agent: $(cat "$W/doctor.out")"
grep -q "^ok *agent *$SOCK serves $EMU_URL/signingmanager/api/v1/" "$W/doctor.out" && grep -q "^skip *PKI Platform" "$W/doctor.out" \
  || fail "dcpki doctor of a client of the agent: $(cat "$W/doctor.out")"
pass "dcpki keys list, dcpki doctor, pkcs11-tool -L (serial numbers) and --sign work through the agent"

# ---- 2. who may connect
fails1 as daemon "$DCPKI" keys list
grep -q "may not connect to the dcpki agent at $SOCK" <<<"$ERR" || fail "daemon (not in nogroup): $ERR"
grep -q "systemctl start dcpki-agent" <<<"$ERR" || fail "the refusal does not say what to do: $ERR"
chmod 755 "$A"; chmod 666 "$SOCK"
fails1 as daemon "$DCPKI" keys list
grep -q "serves root, uid 0 and the members of group $(getent group nogroup | cut -d: -f3); this process runs as uid $(id -u daemon)" <<<"$ERR" \
  || fail "daemon through a 0666 socket: not refused by the agent: $ERR"
grep -q "refused a connection from pid [0-9]* (uid $(id -u daemon)" "$AGENT_LOG" || fail "the agent did not log the refusal: $(tail -3 "$AGENT_LOG")"
chmod 750 "$A"; chmod 660 "$SOCK"
pass "a user outside the agent's group is refused by the socket's mode, and by the agent itself (SO_PEERCRED)"

# ---- 3. only list, describe and sign are forwarded
/usr/bin/python3 - "$SOCK" >"$W/raw.out" 2>&1 <<'PY' || fail "raw requests: $(cat "$W/raw.out")"
import socket, struct, sys

def frame(*fields):
    body = b"".join(struct.pack(">I", len(f)) + f for f in fields)
    return struct.pack(">I", len(body)) + body

def read_frame(s):
    def exact(n):
        b = b""
        while len(b) < n:
            c = s.recv(n - len(b))
            if not c:
                return None
            b += c
        return b
    h = exact(4)
    if h is None:
        return None
    body, out = exact(struct.unpack(">I", h)[0]), []
    while body:
        n = struct.unpack(">I", body[:4])[0]
        out.append(body[4:4 + n]); body = body[4 + n:]
    return out

def ask(s, method, path, body=b""):
    s.sendall(frame(b"1", b"http", method, path, body, b"1"))
    return read_frame(s)

s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])
for m, p, b in [(b"POST", b"keypairs", b'{"alias":"x"}'), (b"DELETE", b"keypairs/abc", b""),
                (b"GET", b"../../admin", b""), (b"GET", b"keypairs/a/../../b", b""),
                (b"POST", b"keypairs/abc/sign/x", b"{}"), (b"PUT", b"keypairs/abc", b"{}"),
                (b"GET", b"keypairs/abc", b"x"), (b"GET", b"keypairs?a=b c", b""),
                (b"GET", b"keypairs/\x00x", b""), (b"POST", b"keypairs/abc/sign", b"x" * 70000),
                # dot segments, which libcurl (RFC 3986 5.2.4) would remove before sending
                (b"GET", b"keypairs/..", b""), (b"GET", b"keypairs/.", b""), (b"POST", b"keypairs/../sign", b"{}"),
                (b"POST", b"keypairs/./sign", b"{}"), (b"GET", b"keypairs/%2e%2E", b""),
                (b"POST", b"keypairs/a%2Fb/sign", b"{}"), (b"GET", b"keypairs/%5c", b"")]:
    a = ask(s, m, p, b)
    assert a and a[0] in (b"access_denied", b"agent"), (m, p, a)
    print("refused", m, p[:30], a[0].decode(), a[1][:90].decode())
a = ask(s, b"GET", b"keypairs?alias=issuing-ca&offset=0&limit=2")
assert a[0] == b"ok" and a[2] == b"200" and b"issuing-ca" in a[7], a[:3]
print("allowed GET keypairs?alias=issuing-ca", a[2].decode())
# a frame longer than the agent reads (a request is at most 80 KiB) is answered why, and ends this
# connection, not the agent
s.sendall(struct.pack(">I", 81 * 1024))
a = read_frame(s)
assert a and a[0] == b"invalid_argument" and b"80 KiB" in a[1], a
assert read_frame(s) is None
s2 = socket.socket(socket.AF_UNIX); s2.connect(sys.argv[1])
s2.sendall(frame(b"1", b"hello"))
a = read_frame(s2)
assert a[0] == b"ok" and a[2].endswith(b"/signingmanager/api/v1/") and a[3].startswith(b"sha1:"), a
print("hello after the oversized frame:", a[2].decode(), a[3].decode())
PY
[[ $(grep -c '^refused' "$W/raw.out") == 17 ]] || fail "raw requests: $(cat "$W/raw.out")"
grep -q "refused POST keypairs from pid" "$AGENT_LOG" || fail "the agent did not log a refused request"
pass "the agent forwards only GET keypairs?.., GET keypairs/ID and POST keypairs/ID/sign; an oversized frame ends one connection"

# ---- 4. a long-lived client across a restart of the agent; one agent per socket
openssl req -x509 -key "dcpki:key=issuing-ca" -subj /CN=localhost -days 2 -out "$W/web.pem" 2>"$W/req.err" \
  || fail "req -x509 through the agent: $(cat "$W/req.err")"
openssl pkey -in "dcpki:key=issuing-ca" -out "$W/ref.pem" || fail "writing a key reference file"
PORT=$(free_port)
env DCPKI_CONF="$P/client.conf" OPENSSL_CONF="$P/openssl.cnf" openssl s_server -rev -key "$W/ref.pem" -cert "$W/web.pem" \
  -accept "127.0.0.1:$PORT" -tls1_3 </dev/null >"$W/srv.log" 2>&1 &
_priv_pids+=($!)
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.1; done
handshake() { echo Q | timeout 30 env OPENSSL_CONF=/dev/null openssl s_client -connect "127.0.0.1:$PORT" -CAfile "$W/web.pem" \
  -verify_return_error -tls1_3 >"$W/cli.out" 2>&1 && grep -q 'Verify return code: 0' "$W/cli.out"; }
handshake || fail "TLS handshake with s_server signing through the agent: $(tail -5 "$W/cli.out"; tail -5 "$W/srv.log")"
stop_agent
[[ ! -e $SOCK ]] || fail "the agent left its socket behind after SIGTERM"
grep -q "agent: stopped" "$AGENT_LOG" || fail "the agent did not say it stopped"
start_agent
handshake || fail "s_server could not sign after the agent restarted: $(tail -5 "$W/cli.out"; tail -5 "$W/srv.log")"
pass "s_server keeps signing across a restart of the agent (its kept connection is replaced)"

fails1 setpriv --regid nogroup --clear-groups "$DCPKI" --config "$S/dcpki.conf" agent
grep -q "another agent already serves $SOCK" <<<"$ERR" || fail "a second agent on the same socket: $ERR"
kill -KILL "$agent_pid"; wait "$agent_pid" 2>/dev/null || true
[[ -S $SOCK ]] || fail "no stale socket after kill -9"
start_agent
as nobody openssl dgst -sha256 -sign dcpki:key=issuing-ca -out "$O/after.sig" "$P/data" 2>"$W/sign.err" \
  || fail "signing after a stale socket was replaced: $(cat "$W/sign.err")"
pass "a second agent on a live socket is refused; a stale socket (kill -9) is replaced"

# ---- 4b. nginx: master as root, workers as nobody (in the agent's group), a key reference file
if command -v nginx >/dev/null; then
  NG=$W/nginx; mkdir -p "$NG"
  cp "$W/ref.pem" "$NG/key.ref" && cp "$W/web.pem" "$NG/cert.pem" && chmod 600 "$NG/key.ref"
  NPORT=$(free_port)
  cat >"$NG/nginx.conf" <<NGINX
user nobody nogroup;
daemon off;
master_process on;
worker_processes 2;
pid $NG/nginx.pid;
error_log $NG/error.log info;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path $NG/body; proxy_temp_path $NG/proxy; fastcgi_temp_path $NG/fastcgi;
  uwsgi_temp_path $NG/uwsgi; scgi_temp_path $NG/scgi;
  server {
    listen 127.0.0.1:$NPORT ssl;
    ssl_certificate $NG/cert.pem;
    ssl_certificate_key $NG/key.ref;
    ssl_session_cache off;
    ssl_session_tickets off;
    location / { return 200 "agent-key-ok\n"; }
  }
}
NGINX
  env DCPKI_CONF="$P/client.conf" OPENSSL_CONF="$P/openssl.cnf" nginx -c "$NG/nginx.conf" -p "$NG" &
  ngx=$!; _priv_pids+=("$ngx")
  nget() { env -u LD_PRELOAD OPENSSL_CONF=/dev/null curl -sS --max-time 10 --cacert "$NG/cert.pem" \
    --resolve "localhost:$NPORT:127.0.0.1" "https://localhost:$NPORT/"; }
  for _ in $(seq 1 50); do nget >/dev/null 2>&1 && break; sleep 0.2; done
  for i in $(seq 1 8); do
    r=$(nget 2>&1) || fail "handshake $i with nginx signing through the agent: $r; $(tail -3 "$NG/error.log")"
    [[ $r == agent-key-ok ]] || fail "nginx answered: $r"
  done
  [[ $(env -u LD_PRELOAD ps -o user= --ppid "$ngx" | grep -c nobody) -ge 2 ]] || fail "nginx's workers do not run as nobody"
  kill "$ngx"; wait "$ngx" 2>/dev/null || true
  pass "nginx with a key reference file: its workers (nobody, in the agent's group) sign through the agent"
fi

# ---- 5. a hung agent: the client gives up at its deadline; no agent: one line naming it and the remedy
kill -STOP "$agent_pid"
t0=$SECONDS
fails1 as nobody "$DCPKI" keys list
took=$((SECONDS - t0))
kill -CONT "$agent_pid"
grep -q "the dcpki agent at $SOCK did not answer hello within 10000 ms" <<<"$ERR" || fail "a stopped agent: $ERR"
((took <= 15)) || fail "a stopped agent held the client $took s (its deadline is 10 s)"
stop_agent
fails1 as nobody "$DCPKI" keys list
grep -q "no dcpki agent serves $SOCK (is it running?)" <<<"$ERR" || fail "agent stopped: $ERR"
grep -q "systemctl start dcpki-agent" <<<"$ERR" || fail "agent stopped: no remedy: $ERR"
expect_fail "dcpki agent" as nobody openssl dgst -sha256 -sign dcpki:key=issuing-ca -out "$O/x.sig" "$P/data"
pass "a stopped agent fails the client at its deadline; without the agent, the CLI and openssl fail naming it and how to start it"

# ---- 6. a socket planted by another user is not trusted
T=$W/tmpdir; mkdir -p "$T" && chmod 1777 "$T"
N=$W/nobody-agent; mkdir -p "$N" && cp "$S"/* "$N/" && chown -R nobody:nogroup "$N"
# nobody_agent SOCKET : an agent run by nobody, with its own copy of the identity, serving SOCKET (sets planted)
nobody_agent() {
  write_conf "$N/dcpki.conf" "ra.key=$N/ra.key" "ra.certificate=$N/ra.pem" "ca.trust=$N/trust.pem" \
    "signing.api_key_file=$N/api-key" "signing.agent=$1"
  chown nobody:nogroup "$N/dcpki.conf"
  setpriv --reuid nobody --regid nogroup --clear-groups "$DCPKI" --config "$N/dcpki.conf" agent </dev/null \
    >>"$W/planted.log" 2>&1 &
  planted=$!; _priv_pids+=("$planted")
  for _ in $(seq 1 100); do grep -q "agent: serving $1 " "$W/planted.log" && return 0; sleep 0.1; done
  fail "nobody's agent on $1 did not start: $(tail -3 "$W/planted.log")"
}
stop_nobody_agent() { kill "$planted"; wait "$planted" 2>/dev/null || true; }
# as_client_of SOCKET CMD... : CMD (as root) with a client configuration naming SOCKET
as_client_of() {
  printf '[signing]\nagent = %s\n' "$1" >"$W/planted-client.conf"; shift
  env DCPKI_CONF="$W/planted-client.conf" "$@"
}
nobody_agent "$T/agent.sock"
fails1 as_client_of "$T/agent.sock" "$DCPKI" keys list
grep -q "is not trusted: it is neither root, nor this process's user, nor the only user who could have put the socket there" \
  <<<"$ERR" || fail "root trusted an agent run by nobody in a 1777 directory: $ERR"
stop_nobody_agent
# nobody's own directory, made in the 1777 one: nobody owns it, but anyone could have made it
mkdir "$T/evil" && chown nobody:nogroup "$T/evil"
nobody_agent "$T/evil/agent.sock"
fails1 as_client_of "$T/evil/agent.sock" "$DCPKI" keys list
grep -q "is not trusted" <<<"$ERR" || fail "root trusted nobody's agent in a directory under a 1777 one: $ERR"
stop_nobody_agent
# a link in the 1777 directory to nobody's own directory elsewhere, in a directory of root's under /run
# (the test's own tree may lie under /tmp, which no socket under it can pass)
[[ -d /run && $(stat -c '%u %a' /run) == "0 755" ]] || fail "/run is not root's with mode 755: $(stat -c '%U %a' /run)"
RUNDIR=$(mktemp -d /run/dcpki-agent-test.XXXXXX) && chmod 755 "$RUNDIR" || fail "cannot make a directory in /run"
trap '_cleanup; rm -rf "$RUNDIR"' EXIT
mkdir "$RUNDIR/nobody-sock" && chown nobody:nogroup "$RUNDIR/nobody-sock"
ln -s "$RUNDIR/nobody-sock" "$T/link"
nobody_agent "$RUNDIR/nobody-sock/agent.sock"
fails1 as_client_of "$T/link/agent.sock" "$DCPKI" keys list
grep -q "is not trusted" <<<"$ERR" || fail "root trusted nobody's agent through a link in a 1777 directory: $ERR"
# the same socket named by its own path: nobody alone could have put it there
as_client_of "$RUNDIR/nobody-sock/agent.sock" "$DCPKI" keys list >"$W/own.out" 2>&1 \
  || fail "root refused nobody's agent in nobody's own directory under root's: $(cat "$W/own.out")"
stop_nobody_agent
pass "a client refuses an agent run by another user who was not the only one able to put its socket there (directly, in a subdirectory or through a link under a 1777 directory), and trusts one who was"

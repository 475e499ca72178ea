# Sourced by every integration test (tests/integration/*.sh). The shared emulator
# was started by the `emulator` ctest fixture (emulator-fixture start).
set -euo pipefail
: "${DCPKI_TEST_RUN:?run through ctest (the emulator fixture sets DCPKI_TEST_RUN)}"
: "${DCPKI_SRC:?}" "${DCPKI_BUILD:?}"
RUN=$DCPKI_TEST_RUN
TEST_NAME=$(basename "$0" .sh)
W=$RUN/tests/$TEST_NAME
rm -rf "$W"; mkdir -p "$W"

_emu() { /usr/bin/python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get(sys.argv[2], ""))' "$1/emulator.json" "$2"; }
EMU_STATE=$RUN/emu
EMU_URL=$(_emu "$EMU_STATE" url)
EMU_HOST=$(_emu "$EMU_STATE" host)
EMU_TRUST=$(_emu "$EMU_STATE" trust)
EMU_ROOT=$(_emu "$EMU_STATE" root)
EMU_APIKEY=$(_emu "$EMU_STATE" api_key_file)
DCPKI=$DCPKI_BUILD/src/dcpki
EMULATOR=$DCPKI_SRC/scripts/dcpki-emulator
PROVIDER_DIR=$DCPKI_BUILD/lib/ossl-modules
P11MOD=$DCPKI_BUILD/lib/pkcs11/dcpki-pkcs11.so
export DCPKI_CONF=$RUN/dcpki.conf
export OPENSSL_CONF=$RUN/openssl.cnf
export XDG_CACHE_HOME=$W/cache   # each test its own cache of keypair metadata

_priv_pids=()
_cleanup() { for p in "${_priv_pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap _cleanup EXIT

# openssl without the dcpki provider
plain() { OPENSSL_CONF=/dev/null openssl "$@"; }

fail() { echo "FAIL [$TEST_NAME]: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }

# expect_fail "substring" cmd args... : the command must exit non-zero and its
# stdout+stderr must contain the substring (case-insensitive).
expect_fail() {
  local want=$1; shift
  local out rc=0
  out=$("$@" 2>&1) || rc=$?
  [[ $rc != 0 ]] || fail "expected failure of: $* (it succeeded; output: $out)"
  grep -qiF -- "$want" <<<"$out" || fail "expected '$want' in the output of: $*; got: $out"
  LAST_OUTPUT=$out
}

# write_conf OUT [section.key=value | section.key=] ... : a copy of the shared
# dcpki.conf with keys set (added/replaced) or removed (empty value).
write_conf() {
  local out=$1; shift
  /usr/bin/python3 - "$RUN/dcpki.conf" "$out" "$@" <<'PY'
import sys
src, out, edits = sys.argv[1], sys.argv[2], sys.argv[3:]
sections, order = {}, []
cur = None
for line in open(src):
    line = line.strip()
    if not line:
        continue
    if line.startswith('['):
        cur = line[1:-1]; order.append(cur); sections[cur] = {}
    else:
        k, v = [x.strip() for x in line.split('=', 1)]
        sections[cur][k] = v
for e in edits:
    sk, v = e.split('=', 1)
    s, k = sk.split('.', 1)
    if s not in sections:
        sections[s] = {}; order.append(s)
    if v == '':
        sections[s].pop(k, None)
    else:
        sections[s][k] = v
with open(out, 'w') as f:
    for s in order:
        f.write('[%s]\n' % s)
        for k, v in sections[s].items():
            f.write('%s = %s\n' % (k, v))
PY
}

# openssl_cnf_for OUT DCPKI_CONF [accept] : an openssl.cnf loading the provider with that
# dcpki.conf (empty: no dcpki-config); accept: the acceptance check's, no default_properties
openssl_cnf_for() { "$DCPKI_SRC/tests/integration/emulator-fixture" openssl-cnf "$@"; }

# start_private_emulator [emulator args...] : an emulator of our own on a copy of
# the shared state (same CAs, keys, API key and RA), for fault injection. Sets
# PRIV_STATE PRIV_URL PRIV_HOST and writes $W/priv.conf and $W/priv-openssl.cnf.
start_private_emulator() {
  PRIV_STATE=$W/priv-emu
  "$DCPKI_SRC/tests/integration/copy-emulator-state" "$EMU_STATE" "$PRIV_STATE" || fail "cannot copy the emulator's state"
  "$EMULATOR" --state "$PRIV_STATE" --port 0 "$@" </dev/null >"$W/priv-emu.log" 2>&1 &
  _priv_pids+=($!)
  for _ in $(seq 1 300); do [[ -s $PRIV_STATE/emulator.json ]] && break; sleep 0.1; done
  [[ -s $PRIV_STATE/emulator.json ]] || fail "private emulator did not start: $(tail -5 "$W/priv-emu.log")"
  PRIV_URL=$(_emu "$PRIV_STATE" url)
  PRIV_HOST=$(_emu "$PRIV_STATE" host)
  write_conf "$W/priv.conf" "ca.host=$PRIV_HOST" "signing.url=$PRIV_URL" \
    "ca.trust=$(_emu "$PRIV_STATE" trust)" "signing.api_key_file=$(_emu "$PRIV_STATE" api_key_file)"
  openssl_cnf_for "$W/priv-openssl.cnf" "$W/priv.conf"
}
# At the private emulator: enrolled = how many certificates it issued; issued CN = how
# many for the subject CN=CN; revoked_at_ca SERIAL = it lists that certificate REVOKED
enrolled() { "$EMULATOR" list --state "$PRIV_STATE" --kind enrolled --count; }
issued() { "$EMULATOR" list --state "$PRIV_STATE" --kind enrolled | grep -c "CN=$1\b" || true; }
revoked_at_ca() { "$EMULATOR" list --state "$PRIV_STATE" --kind enrolled | grep -i "^$1" | grep -q REVOKED; }

# core_of PID NAME : a core of the running process PID (gcore, from gdb), written as
# $W/NAME.core.PID; prints its path
core_of() {
  command -v gcore >/dev/null || fail "gcore is not installed (the gdb package; scripts/deps installs it)"
  gcore -o "$W/$2.core" "$1" >"$W/$2.gcore.log" 2>&1 || fail "gcore $2 failed: $(tail -3 "$W/$2.gcore.log")"
  local f="$W/$2.core.$1"
  [[ -s $f ]] || fail "gcore wrote no core for $2"
  echo "$f"
}

# a free TCP port on 127.0.0.1
free_port() { /usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# wait_jobs: waits for the background jobs whose pids were added to jobs_ since the
# last call (not the test's emulator or proxy), whatever their exit status
jobs_=()
wait_jobs() { local p; for p in "${jobs_[@]}"; do wait "$p" || true; done; jobs_=(); }

# pfx_serial P12 : the serial number (hex, as openssl prints it) of the certificate in a
# PFX file protected by the password in $W/pass
pfx_serial() { plain pkcs12 -in "$1" -passin file:"$W/pass" -nokeys -clcerts | plain x509 -noout -serial | sed 's/.*=//'; }

# start_soap_proxy UPSTREAM_HOST UPSTREAM_TRUST : a recording proxy (tests/tools/soapproxy.py)
# in front of an emulator, with the RA identity, recording into $W/rec; answers are held
# back while $W/hold.<service> exists (PROXY_HOLD). Sets PXPORT; its server certificate is
# $W/px.pem (what a client's ca.trust names).
start_soap_proxy() {
  plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/px.key" -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1" -days 2 -out "$W/px.pem" 2>/dev/null
  PXPORT=$(free_port); mkdir -p "$W/rec"
  PROXY_HOLD=$W/hold /usr/bin/python3 "$DCPKI_SRC/tests/tools/soapproxy.py" "$PXPORT" "$W/px.pem" "$W/px.key" \
    "$1" "$2" "$RUN/ra.pem" "$RUN/ra.key" "$W/rec" >"$W/proxy.log" 2>&1 &
  _priv_pids+=($!)
  for _ in $(seq 100); do grep -q listening "$W/proxy.log" 2>/dev/null && break; sleep 0.1; done
}

# fails_as STATUS PREFIX CMD... : exit status exactly STATUS, nothing on stdout, exactly
# one line on stderr, starting with PREFIX; sets ERR
fails_as() {
  local want=$1 prefix=$2 rc=0; shift 2
  "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
  [[ $rc == "$want" ]] || fail "expected exit status $want from: $* (got $rc; stderr: $(cat "$W/err"))"
  [[ ! -s $W/out ]] || fail "expected nothing on stdout from: $*; got: $(cat "$W/out")"
  [[ $(wc -l <"$W/err") == 1 ]] || fail "expected one line on stderr from: $*; got: $(cat "$W/err")"
  grep -q "^$prefix" "$W/err" || fail "stderr of $* does not start with '$prefix': $(cat "$W/err")"
  ERR=$(cat "$W/err")
}
# fails1 CMD... : a failure (exit status 1) said in one "dcpki: " line; fails2: a usage error (2)
fails1() { fails_as 1 'dcpki: ' "$@"; }
fails2() { fails_as 2 'dcpki: ' "$@"; }

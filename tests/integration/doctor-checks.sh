#!/bin/bash
# dcpki doctor: the seed's troubleshooting table as checks, ok or the exact remedy,
# exit 1 when any check failed.
source "$(dirname "$0")/lib.sh"
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
TRUST=$(_emu "$EMU_STATE" trust)
# doctor_fails CONF "check name" "message/remedy substrings"...
doctor_fails() {
  local conf=$1 check=$2; shift 2
  local rc=0
  "$DCPKI" --config "$conf" doctor >"$W/out" 2>&1 || rc=$?
  [[ $rc == 1 ]] || fail "doctor should exit 1 for $check (got $rc): $(cat "$W/out")"
  grep -q "^FAIL  $check" "$W/out" || fail "no FAIL line for '$check': $(cat "$W/out")"
  for w in "$@"; do grep -qiF -- "$w" "$W/out" || fail "expected '$w' in: $(cat "$W/out")"; done
}

# ---- everything fine (shared emulator, one profile configured)
write_conf "$W/good.conf" "profiles.default=$P1"
"$DCPKI" --config "$W/good.conf" doctor >"$W/out" || fail "doctor on a good setup: $(cat "$W/out")"
for c in configuration '\[ca\] host' '\[ca\] name' '\[ca\] trust' 'RA certificate' 'RA validity' 'RA clientAuth' \
         'TLS handshake' 'health check' 'profile default'; do
  grep -q "^ok    $c" "$W/out" || fail "check '$c' not ok: $(cat "$W/out")"
done
grep -q '^all checks passed' "$W/out" || fail "summary: $(cat "$W/out")"
"$DCPKI" --config "$W/good.conf" --json doctor >"$W/out.json"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["ok"] and d["failed"]==0 and len(d["checks"])>=10, d' "$W/out.json" ||
  fail "doctor --json: $(cat "$W/out.json")"
pass "doctor: all checks ok on a good setup (text and --json)"

# ---- configuration
doctor_fails "$W/missing.conf" configuration "cannot be read"
write_conf "$W/c1.conf" "ca.name=DigiCert"
doctor_fails "$W/c1.conf" '\[ca\] name' '"DigiCert"' 'set [ca] name = Symantec'
write_conf "$W/c2.conf" "ca.host=https://$EMU_HOST"
doctor_fails "$W/c2.conf" configuration "scheme"
write_conf "$W/c3.conf" "ca.host=$EMU_HOST/"
doctor_fails "$W/c3.conf" configuration "slash"
pass "doctor: unreadable config, [ca] name not Symantec, host with scheme / trailing slash"

# ---- RA identity
write_conf "$W/r1.conf" "ra.certificate=$W/none.pem"
doctor_fails "$W/r1.conf" 'RA certificate' 'unable to retrieve the client (RA) certificate' 'install the RA certificate'
grep -q '^skip  TLS handshake' "$W/out" || fail "TLS should be skipped without RA: $(cat "$W/out")"
printf 'garbage\n' >"$W/bad.key"
write_conf "$W/r2.conf" "ra.key=$W/bad.key"
doctor_fails "$W/r2.conf" 'RA certificate' 'RA private key cannot be read' 'rights to read it'
plain genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$W/other.key" 2>/dev/null
write_conf "$W/r3.conf" "ra.key=$W/other.key"
doctor_fails "$W/r3.conf" 'RA certificate' 'does not belong to the RA certificate' 'install the private key'
# thumbprint that matches no certificate of the store
mkdir -p "$W/rastore"; cp "$RUN/ra.pem" "$RUN/ra.key" "$W/rastore/"
write_conf "$W/r4.conf" "ra.certificate=" "ra.key=" "ra.store=$W/rastore" "ra.certificate_thumbprint=EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5"
doctor_fails "$W/r4.conf" 'RA certificate' 'EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5'
# an RA certificate without clientAuth
plain req -new -newkey rsa:2048 -nodes -keyout "$W/noeku.key" -subj "/CN=no eku" -out "$W/noeku.csr" 2>/dev/null
plain x509 -req -in "$W/noeku.csr" -signkey "$W/noeku.key" -days 30 -out "$W/noeku.pem" \
  -extfile <(printf 'extendedKeyUsage=serverAuth\n') 2>/dev/null
write_conf "$W/r5.conf" "ra.certificate=$W/noeku.pem" "ra.key=$W/noeku.key"
doctor_fails "$W/r5.conf" 'RA clientAuth' 'clientAuth'
pass "doctor: RA certificate missing, key unreadable / not matching, thumbprint not found, no clientAuth"

# ---- TLS: server not trusted, connection refused
write_conf "$W/t1.conf" "ca.trust=$EMU_ROOT"
doctor_fails "$W/t1.conf" 'TLS handshake' 'not trusted' '[ca] trust'
write_conf "$W/t2.conf" "ca.host=127.0.0.1:$(free_port)"
doctor_fails "$W/t2.conf" 'TLS handshake' 'connect' 'refused'
pass "doctor: TLS server not trusted, connection refused"

# ---- own emulator: timeout, health DOWN, unknown profile
start_private_emulator
PT=$(_emu "$PRIV_STATE" trust)
write_conf "$W/p1.conf" "ca.host=$PRIV_HOST" "ca.trust=$PT" "ca.timeout_ms=1500"
echo '{"delay_ms": 4000, "path_contains": "/pki-ws"}' >"$PRIV_STATE/faults.json"
doctor_fails "$W/p1.conf" 'TLS handshake' 'timed out' 'timeout_ms'
rm -f "$PRIV_STATE/faults.json"
"$EMULATOR" health --state "$PRIV_STATE" down >/dev/null
write_conf "$W/p2.conf" "ca.host=$PRIV_HOST" "ca.trust=$PT"
doctor_fails "$W/p2.conf" 'health check' 'DOWN' 'retry later'
grep -q '^ok    TLS handshake' "$W/out" || fail "TLS should be ok when health is down: $(cat "$W/out")"
"$EMULATOR" health --state "$PRIV_STATE" up >/dev/null
write_conf "$W/p3.conf" "ca.host=$PRIV_HOST" "ca.trust=$PT" "profiles.default=$P1" "profiles.old=2.16.840.1.113733.1.16.1.2.3.1.1.1"
doctor_fails "$W/p3.conf" 'profile old' 'not understood' 'profile OID'
grep -q '^ok    profile default' "$W/out" || fail "the good profile should pass: $(cat "$W/out")"
pass "doctor: timeout, health check DOWN, unknown profile OID"

# ---- the signing service: API key, keys listed, each alias of [signing] keys found
write_conf "$W/s1.conf" "profiles.default=$P1" "signing.keys=issuing-ca, ec-ca"
"$DCPKI" --config "$W/s1.conf" doctor >"$W/out" || fail "doctor with [signing] keys: $(cat "$W/out")"
grep -q '^ok    signing API key' "$W/out" && grep -q '^ok    signing keys .*keys listed: .*issuing-ca' "$W/out" &&
  grep -q '^ok    key issuing-ca' "$W/out" && grep -q '^ok    key ec-ca' "$W/out" || fail "signing checks: $(cat "$W/out")"
printf 'not-the-api-key\n' >"$W/wrong-api-key"
write_conf "$W/s2.conf" "profiles.default=$P1" "signing.api_key_file=$W/wrong-api-key"
doctor_fails "$W/s2.conf" 'signing API key' 'API key' 'put a valid API key'
! grep -q '^all checks passed' "$W/out" || fail "a wrong API key passed: $(cat "$W/out")"
# the same wrong key makes keys list fail: doctor agrees with it
expect_fail "API key" "$DCPKI" --config "$W/s2.conf" keys list
write_conf "$W/s3.conf" "profiles.default=$P1" "signing.keys=issuing-ca,no-such-key"
doctor_fails "$W/s3.conf" 'key no-such-key' 'no signing key with alias "no-such-key"' 'issuing-ca' '[signing] keys'
write_conf "$W/s4.conf" "signing.keys=issuing-ca,,ec-ca"
doctor_fails "$W/s4.conf" configuration "'keys' in [signing] has an empty alias"
pass "doctor: signing API key accepted / refused (as keys list), keys listed, each [signing] keys alias found or named missing"

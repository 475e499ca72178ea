#!/bin/bash
# Every SOAP message between dcpki and the emulator is valid against VeriSign's published
# schemas (tests/tools/verisign-schemas): a recording proxy (tests/tools/soapproxy.py, as the
# acceptance checks run it) sits between the CLI and the emulator while the CLI fetches a
# policy, enrolls, asks a certificate's status and revokes it; tests/tools/soapcheck.py then
# validates each request and answer with xmllint. An invalid emulator answer is an emulator
# bug; an invalid request, a client bug.
source "$(dirname "$0")/lib.sh"
command -v xmllint >/dev/null || fail "xmllint is missing (package libxml2-utils; scripts/deps installs it)"
T=$DCPKI_SRC/tests/tools
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"

# the client trusts the proxy's TLS server identity through ca.trust
start_soap_proxy "$EMU_HOST" "$EMU_TRUST"
write_conf "$W/px.conf" "ca.host=127.0.0.1:$PXPORT" "ca.trust=$W/px.pem"
D() { "$DCPKI" --config "$W/px.conf" "$@"; }

D policy "$P1" >"$W/policy.out" 2>&1 || fail "policy: $(cat "$W/policy.out")"
D enroll --store "$W/store" --profile "$P1" --subject "CN=soap-schemas,E=soap-schemas@contoso.example" \
  --san upn:soap-schemas@contoso.example --pfx "$W/a.p12" --pfx-pass-file "$W/pass" >"$W/enroll.out" 2>&1 ||
  fail "enroll: $(cat "$W/enroll.out")"
serial=$(pfx_serial "$W/a.p12")
D status --serial "$serial" >"$W/status.out" 2>&1 || fail "status: $(cat "$W/status.out")"
D revoke --store "$W/store" --serial "$serial" --reason superseded --comment "soap-schemas test" >"$W/revoke.out" 2>&1 ||
  fail "revoke: $(cat "$W/revoke.out")"
D status --serial "$serial" >"$W/status2.out" 2>&1 || fail "status after revoke: $(cat "$W/status2.out")"
grep -q REVOKED "$W/status2.out" || fail "not revoked: $(cat "$W/status2.out")"
D doctor >"$W/doctor.out" 2>&1 || true   # the health check's messages too (doctor's verdict is not this test's)
ls "$W"/rec/*.req >/dev/null 2>&1 || fail "the proxy recorded nothing: $(cat "$W/proxy.log")"

env -u LD_PRELOAD /usr/bin/python3 "$T/soapcheck.py" "$W/rec" "$T/verisign-schemas" >"$W/soapcheck.out" 2>&1 ||
  fail "SOAP messages that do not validate against the schemas:
$(grep -v ' valid$' "$W/soapcheck.out")"
tail -1 "$W/soapcheck.out"
pass "policy, enroll, status, revoke (and doctor's health check): every request and answer is schema-valid"

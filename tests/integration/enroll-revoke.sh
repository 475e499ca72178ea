#!/bin/bash
# dcpki revoke / dcpki status through the certificate management service; the emulator
# then lists the certificate as revoked (search and CRL); a revoked certificate is never
# re-delivered.
source "$(dirname "$0")/lib.sh"
start_private_emulator
C=$W/priv.conf
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"
D() { "$DCPKI" --config "$C" "$@"; }
enroll1() { D enroll --store "$W/store" --profile "$P1" --subject "CN=rev1,E=rev1@contoso.example" --pfx "$1" --pfx-pass-file "$W/pass"; }
enroll1 "$W/a.p12" 2>/dev/null
serial=$(pfx_serial "$W/a.p12")
D status --serial "$serial" >"$W/st" || fail "status: $(cat "$W/st")"
grep -q '^status: *VALID' "$W/st" && grep -q 'common name: rev1' "$W/st" || fail "status before revocation: $(cat "$W/st")"

D revoke --store "$W/store" --serial "$serial" --reason keyCompromise >"$W/rv" || fail "revoke failed"
grep -q "revoked certificate $serial (reason KeyCompromise)" "$W/rv" || fail "revoke output: $(cat "$W/rv")"
D status --serial "$serial" >"$W/st"
grep -q '^status: *REVOKED' "$W/st" && grep -q 'KeyCompromise' "$W/st" || fail "status after revocation: $(cat "$W/st")"
D --json status --serial "$(tr A-F a-f <<<"$serial")" >"$W/st.json"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="REVOKED" and d["revoke_reason"]=="KeyCompromise", d' "$W/st.json" ||
  fail "status --json: $(cat "$W/st.json")"
revoked_at_ca "$serial" || fail "the emulator does not list it revoked"
# the CRL of the issuing CA lists it (fetched over mutual TLS with the RA identity)
env -u LD_PRELOAD curl -sf --max-time 30 --cacert "$(_emu "$PRIV_STATE" trust)" --cert "$RUN/ra.pem" --key "$RUN/ra.key" \
  "$(_emu "$PRIV_STATE" url)/crl/issuing-ca.crl" -o "$W/crl.der" || fail "CRL download"
plain crl -inform DER -in "$W/crl.der" -noout -text | grep -qi "Serial Number: *$serial" || fail "serial not in the CRL"
pass "revoke --reason keyCompromise; status, emulator list and CRL show it revoked"

# a revoked certificate is not re-delivered: the same request gets a new certificate
enroll1 "$W/b.p12" 2>"$W/err"
grep -q 'was revoked' "$W/err" || fail "no revoked note: $(cat "$W/err")"
s2=$(pfx_serial "$W/b.p12")
[[ $s2 != "$serial" ]] || fail "the revoked certificate was re-delivered"
pass "a revoked certificate is never re-delivered"

# errors
out=$(D revoke --store "$W/store" --serial "$serial" --reason superseded 2>&1) || fail "revoking a revoked certificate: $out"
grep -q "already revoked" <<<"$out" || fail "revoking a revoked certificate: $out"
expect_fail "not found" D revoke --serial 0DEADBEEF0
expect_fail "unknown --reason" D revoke --serial "$s2" --reason sleepy
expect_fail "not hex" D revoke --serial XYZ
expect_fail "knows no certificate" D status --serial 0DEADBEEF0
expect_fail "--serial" D status
D status --serial "$s2" | grep -q '^status: *VALID' || fail "a failed revoke changed the certificate"
pass "revoke/status errors: already revoked, unknown serial, bad reason, not hex"

#!/bin/bash
# Errors that name the true cause (issue 11, point 5): a SOAP service failing
# with HTTP 500 is the service's fault, not the request's; a malformed key
# reference file says what is wrong with it; temporary files left by a killed
# run are removed by the next write of the same file.
source "$(dirname "$0")/lib.sh"
start_private_emulator
C=$W/priv.conf
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"
enrolled() { "$EMULATOR" list --state "$PRIV_STATE" --kind enrolled --count; }
cd "$W"

# ---- HTTP 500 (a SOAP Server fault) from the PKI Platform: the service failed, retry later
n0=$(enrolled)
echo '{"status": 500, "path_contains": "/pki-ws"}' >"$PRIV_STATE/faults.json"
rc=0
out=$("$DCPKI" --config "$C" enroll --profile "$P1" --subject CN=h500 --pfx "$W/h500.p12" --pfx-pass-file "$W/pass" 2>&1) || rc=$?
rm -f "$PRIV_STATE/faults.json"
echo "$out"
[[ $rc == 1 ]] || fail "HTTP 500: exit $rc: $out"
[[ $out == 'dcpki: the service is unavailable: the service failed (HTTP 500, SOAP Server fault "'*'", errorcode HTTP_500); retry later (retry later; if it persists, check the service status)' ]] ||
  fail "HTTP 500: $out"
! grep -q "fix the request" <<<"$out" || fail "HTTP 500 blamed on the request: $out"
[[ ! -e $W/h500.p12 && $(enrolled) == "$n0" ]] || fail "HTTP 500: something was issued or written"
pass "HTTP 500 from the SOAP service: the service failed, retry later"

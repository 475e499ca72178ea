#!/bin/bash
# Every error of issue 4: the message, exit status 1, and that nothing was issued
# (emulator count) and nothing written. Own emulator (faults, profile changes).
source "$(dirname "$0")/lib.sh"
# The emulator does not de-duplicate by clientTransactionID (as the real service is not
# known to): the lost-answer case below proves the client looks the request up at the CA.
start_private_emulator
C=$W/priv.conf
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
P2=2.16.840.1.113733.1.16.1.2.3.1.1.61904612
P3=2.16.840.1.113733.1.16.1.2.3.1.1.80153305
TRUST=$(_emu "$PRIV_STATE" trust)
ST=(--store "$W/store")
printf 'pfx-secret\n' >"$W/pass"
pending() { "$EMULATOR" list --state "$PRIV_STATE" --kind pending --count; }
N0=$(enrolled)
# refused CONF MESSAGE... args : exit $RC (default 1), each message in the output, no PFX, nothing issued
refused() {
  local conf=$1; shift
  local want=()
  while [[ $1 != -- ]]; do want+=("$1"); shift; done; shift
  local out rc=0
  out=$("$DCPKI" --config "$conf" enroll "${ST[@]}" "$@" --pfx "$W/x.p12" --pfx-pass-file "$W/pass" 2>&1) || rc=$?
  [[ $rc == "${RC:-1}" ]] || fail "expected exit ${RC:-1} from enroll $* (got $rc): $out"
  for w in "${want[@]}"; do grep -qiF -- "$w" <<<"$out" || fail "expected '$w' in: $out"; done
  [[ ! -e $W/x.p12 ]] || fail "a PFX was written by: enroll $*"
  [[ $(enrolled) == "$N0" ]] || fail "the CA issued a certificate for: enroll $*"
  [[ $(wc -l <<<"$out") == 1 ]] || fail "expected one line: $out"
  LAST=$out
}

# ---- unknown profile OID: the service's "request element is not understood"
refused "$C" "request element is not understood" "2.16.840.1.113733.1.16.1.2.3.1.1.1" "profile OID" -- \
  --profile 2.16.840.1.113733.1.16.1.2.3.1.1.1 --subject "CN=x"
pass "unknown profile OID"

# ---- attribute not allowed by the policy, named with the allowed list (checked before sending)
refused "$C" "policy verification failed" "e-mail (rfc822Name) SAN" "allowed SANs: other name 1.3.6.1.4.1.311.25.1" -- \
  --profile "$P2" --subject "CN=x" --san email:x@contoso.example
refused "$C" "policy verification failed" "subject attribute E" "allowed: CN" -- \
  --profile "$P2" --subject "CN=x,E=x@contoso.example" --san 'othername:1.3.6.1.4.1.311.25.1;0410b8ba001122334455667788990011'
refused "$C" "policy verification failed" "subject attribute OU" -- --profile "$P1" --subject "CN=x,OU=Sales"
# other name missing where the profile needs it
refused "$C" "other-name SAN with OID 1.3.6.1.4.1.311.25.1" -- --profile "$P2" --subject "CN=device9"
pass "subject/SAN attributes outside the profile are refused before sending, naming what is allowed"

# ---- UPN with characters mail_firstName/mail_lastName cannot take
refused "$C" "mail_firstName/mail_lastName" "global_admin@contoso.example" "CN=<upn>" -- \
  --profile "$P3" --subject "CN=admin" --san upn:global_admin@contoso.example
pass "UPN special characters vs mail_firstName/mail_lastName"

# ---- malformed hex in an other-name SAN
RC=2 refused "$C" "not valid hex" "04zz" -- --profile "$P2" --subject "CN=x" --san 'othername:1.3.6.1.4.1.311.25.1;04zz'
RC=2 refused "$C" "odd number of hex digits" -- --profile "$P2" --subject "CN=x" --san 'othername:1.3.6.1.4.1.311.25.1;041'
pass "malformed other-name hex: a usage error (exit 2)"

# ---- no e-mail/UPN source for a SAN the profile needs (profile made to demand the e-mail SAN)
/usr/bin/python3 - "$PRIV_STATE/profiles.json" "$P1" <<'PY'
import json, sys, os
p, oid = sys.argv[1], sys.argv[2]
d = json.load(open(p))
for s in d[oid]["san"]:
    if s["type"] == "rfc822Name":
        s["mandatory"] = True
open(p + ".tmp", "w").write(json.dumps(d, indent=1)); os.replace(p + ".tmp", p)
PY
refused "$C" "no e-mail or UPN source" -- --profile "$P1" --subject "CN=nomail"
"$DCPKI" --config "$C" enroll "${ST[@]}" --profile "$P1" --subject "CN=hasmail@contoso.example" --pfx "$W/ok.p12" --pfx-pass-file "$W/pass" 2>/dev/null ||
  fail "the subject e-mail fallback should satisfy the mandatory e-mail SAN"
N0=$(enrolled)
/usr/bin/python3 - "$PRIV_STATE/profiles.json" "$P1" <<'PY'
import json, sys, os
p, oid = sys.argv[1], sys.argv[2]
d = json.load(open(p))
for s in d[oid]["san"]:
    s["mandatory"] = False
open(p + ".tmp", "w").write(json.dumps(d, indent=1)); os.replace(p + ".tmp", p)
PY
pass "no e-mail/UPN source for a mandatory SAN"

# ---- CA refusal: the SOAP fault's text is shown
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --refuse "Enrollment suspended for this account" >/dev/null
refused "$C" "the CA refused the request" "Enrollment suspended for this account" -- --profile "$P1" --subject "CN=refused1"
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --accept >/dev/null
pass "CA refusal shows the fault text"

# ---- timeout: the emulator stalls past [ca] timeout_ms
write_conf "$W/slow.conf" "ca.host=$PRIV_HOST" "ca.trust=$TRUST" "ca.timeout_ms=1500"
echo '{"delay_ms": 4000, "path_contains": "/pki-ws"}' >"$PRIV_STATE/faults.json"
t0=$(date +%s)
refused "$W/slow.conf" "the operation has timed out" "timeout_ms" -- --profile "$P1" --subject "CN=slow1"
(( $(date +%s) - t0 < 10 )) || fail "the timeout took too long"
rm -f "$PRIV_STATE/faults.json"; sleep 3   # let the stalled request finish
[[ $(enrolled) == "$N0" ]] || fail "a timed-out enrollment was issued"
pass "timeout past [ca] timeout_ms"

# ---- the enrollment's answer is lost (the CA issues after the client gave up): the same
# command again finds that certificate at the CA (search, matched on the key), not a second
echo '{"delay_ms": 3000, "count": 1, "path_contains": "/pki-ws/enrollmentService"}' >"$PRIV_STATE/faults.json"
out=$("$DCPKI" --config "$W/slow.conf" enroll "${ST[@]}" --profile "$P1" --subject "CN=lost1@contoso.example"       --pfx "$W/l.p12" --pfx-pass-file "$W/pass" 2>&1) && fail "a timed-out enrollment succeeded: $out"
grep -q 'timed out' <<<"$out" && grep -q 'run the same command again' <<<"$out" || fail "lost-answer message: $out"
[[ ! -e $W/l.p12 ]] || fail "PFX written without an answer"
sleep 3
[[ $(enrolled) == $((N0 + 1)) ]] || fail "the delayed enrollment should have been issued by the emulator"
"$DCPKI" --config "$W/slow.conf" enroll "${ST[@]}" --profile "$P1" --subject "CN=lost1@contoso.example"   --pfx "$W/l.p12" --pfx-pass-file "$W/pass" 2>"$W/err" || fail "resend: $(cat "$W/err")"
grep -q 'found at the CA' "$W/err" || fail "recovery message: $(cat "$W/err")"
[[ $(enrolled) == $((N0 + 1)) ]] || fail "the re-run made the CA issue a second certificate"
plain pkcs12 -in "$W/l.p12" -passin file:"$W/pass" -nokeys -clcerts | plain x509 -noout -subject | grep -q 'lost1' || fail "resent PFX"
N0=$(enrolled)
pass "a lost enrollment answer is collected by a CA search before any resend (no second certificate)"

# ---- TLS secure channel: server not trusted (wrong trust), wrong host name, RA key unreadable
write_conf "$W/untrusted.conf" "ca.host=$PRIV_HOST" "ca.trust=$EMU_ROOT"
refused "$W/untrusted.conf" "SSL/TLS secure channel" "not trusted" -- --profile "$P1" --subject "CN=tls1"
"$DCPKI_SRC/tests/integration/copy-emulator-state" "$EMU_STATE" "$W/emu2" || fail "cannot copy the emulator's state"
"$EMULATOR" --state "$W/emu2" --port 0 --listen 127.0.0.2 </dev/null >"$W/emu2.log" 2>&1 &
_priv_pids+=($!)
for _ in $(seq 1 300); do [[ -s $W/emu2/emulator.json ]] && break; sleep 0.1; done
[[ -s $W/emu2/emulator.json ]] || fail "second emulator did not start: $(tail -3 "$W/emu2.log")"
write_conf "$W/wronghost.conf" "ca.host=$(_emu "$W/emu2" host)" "ca.trust=$(_emu "$W/emu2" trust)"
n2=$("$EMULATOR" list --state "$W/emu2" --kind enrolled --count)
refused "$W/wronghost.conf" "SSL/TLS secure channel" -- --profile "$P1" --subject "CN=tls2"
[[ $("$EMULATOR" list --state "$W/emu2" --kind enrolled --count) == "$n2" ]] || fail "wrong-host emulator issued"
printf -- '-----BEGIN PRIVATE KEY-----\nnot a key\n-----END PRIVATE KEY-----\n' >"$W/bad.key"
write_conf "$W/badkey.conf" "ca.host=$PRIV_HOST" "ca.trust=$TRUST" "ra.key=$W/bad.key"
refused "$W/badkey.conf" "RA private key cannot be read" -- --profile "$P1" --subject "CN=tls3"
pass "TLS secure channel failures: untrusted server, wrong host, unreadable RA key"

# ---- RA certificate not found
write_conf "$W/nocert.conf" "ca.host=$PRIV_HOST" "ca.trust=$TRUST" "ra.certificate=$W/missing.pem"
refused "$W/nocert.conf" "unable to retrieve the client (RA) certificate" -- --profile "$P1" --subject "CN=ra1"
pass "RA certificate not found"

# ---- [ca] name must be Symantec
write_conf "$W/name.conf" "ca.host=$PRIV_HOST" "ca.trust=$TRUST" "ca.name=DigiCert"
refused "$W/name.conf" '"Symantec"' -- --profile "$P1" --subject "CN=name1"
pass "[ca] name other than Symantec is refused"

# ---- pending: reported with its pendingTokenReferenceID, collected with --poll
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending on >/dev/null
RC=3 refused "$C" "pending" "pendingTokenReferenceID" "--poll" -- --profile "$P1" --subject "CN=pend1" --san email:pend1@contoso.example
id=$(sed -n 's/.*pendingTokenReferenceID \([^:;) ]*\).*/\1/p' <<<"$LAST")
[[ -n $id && $(pending) == 1 ]] || fail "no pending id in: $LAST"
"$EMULATOR" list --state "$PRIV_STATE" --kind pending | grep -qF "$id" || fail "the emulator does not know pending $id"
# asking again does not send a second request
RC=3 refused "$C" "already pending" "$id" -- --profile "$P1" --subject "CN=pend1" --san email:pend1@contoso.example
[[ $(pending) == 1 ]] || fail "a second pending request was sent"
expect_fail "still pending" "$DCPKI" --config "$C" enroll "${ST[@]}" --poll "$id" --pfx "$W/p.p12" --pfx-pass-file "$W/pass"
rc=0; "$DCPKI" --config "$C" enroll "${ST[@]}" --poll "$id" --pfx "$W/p.p12" --pfx-pass-file "$W/pass" 2>/dev/null || rc=$?
[[ $rc == 3 ]] || fail "--poll of a request still pending: exit $rc, expected 3"
[[ ! -e $W/p.p12 ]] || fail "PFX written while pending"
"$EMULATOR" approve --state "$PRIV_STATE" --id "$id" >/dev/null 2>&1
"$DCPKI" --config "$C" enroll "${ST[@]}" --poll "$id" --pfx "$W/p.p12" --pfx-pass-file "$W/pass" 2>"$W/err" || fail "--poll: $(cat "$W/err")"
[[ $(enrolled) == $((N0 + 1)) ]] || fail "approval should have issued one certificate"
plain pkcs12 -in "$W/p.p12" -passin file:"$W/pass" -nokeys -clcerts | plain x509 -noout -subject -nameopt RFC2253 | grep -q 'CN=pend1' || fail "polled PFX"
plain pkcs12 -in "$W/p.p12" -passin file:"$W/pass" -nocerts -nodes | plain pkey -check -noout >/dev/null 2>&1 || fail "polled PFX key"
# and the original command now re-delivers it
"$DCPKI" --config "$C" enroll "${ST[@]}" --profile "$P1" --subject "CN=pend1" --san email:pend1@contoso.example \
  --pfx "$W/p2.p12" --pfx-pass-file "$W/pass" 2>"$W/err" && grep -q 're-delivered' "$W/err" || fail "re-delivery after poll: $(cat "$W/err")"
[[ $(enrolled) == $((N0 + 1)) ]] || fail "re-delivery after poll reached the CA"
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending off >/dev/null
pass "pending: exit 3, reported with pendingTokenReferenceID, not resent, collected by --poll after approval"

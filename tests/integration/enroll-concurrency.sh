#!/bin/bash
# Issue 9: nothing issued twice, nothing lost, against a CA that does not recognise a
# re-sent clientTransactionID (the emulator's default). Certificates are counted at the
# emulator. Concurrent same-subject enrollments; different subjects in parallel; kill -9
# after the CA issued with the answer held back; a lost revoke answer; the store key.
source "$(dirname "$0")/lib.sh"
start_private_emulator
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"

# a recording proxy in front of the emulator; $W/hold.* hold answers back
start_soap_proxy "$PRIV_HOST" "$(_emu "$PRIV_STATE" trust)"
write_conf "$W/px.conf" "ca.host=127.0.0.1:$PXPORT" "ca.trust=$W/px.pem" "signing.url=$PRIV_URL" \
  "signing.api_key_file=$(_emu "$PRIV_STATE" api_key_file)"
E() { "$DCPKI" --config "$W/px.conf" enroll --profile "$P1" --subject "CN=$1" --pfx "$2" --pfx-pass-file "$W/pass" "${@:3}"; }

# 8 processes, one subject, one store: one certificate at the CA, the same in every PFX
for i in $(seq 8); do E same "$W/same$i.p12" --store "$W/s1" >"$W/same$i.log" 2>&1 & jobs_+=($!); done; wait_jobs
for i in $(seq 8); do [[ -s $W/same$i.p12 ]] || fail "process $i wrote no PFX: $(cat "$W/same$i.log")"; done
n=$(for i in $(seq 8); do pfx_serial "$W/same$i.p12"; done | sort -u | wc -l)
[[ $(issued same) == 1 && $n == 1 ]] || fail "8 concurrent same-subject enrollments: $(issued same) issued at the CA, $n serials in the PFX files"
pass "8 concurrent enrollments of one subject: 1 certificate at the CA, the same one in all 8 PFX files"

# 8 subjects at once: 8 certificates, none waiting for another's lock
for i in $(seq 8); do E "diff-$i" "$W/diff$i.p12" --store "$W/s1" >"$W/diff$i.log" 2>&1 & jobs_+=($!); done; wait_jobs
for i in $(seq 8); do [[ $(issued "diff-$i") == 1 && -s $W/diff$i.p12 ]] || fail "subject diff-$i: $(issued "diff-$i") issued; $(cat "$W/diff$i.log")"; done
pass "8 concurrent enrollments of 8 subjects: 8 certificates"

# kill -9 after the CA issued, its answer held back by the proxy: the re-run finds the
# certificate by search and sends nothing new
touch "$W/hold.enrollment"
( exec "$DCPKI" --config "$W/px.conf" enroll --profile "$P1" --subject CN=killed --pfx "$W/killed.p12" \
    --pfx-pass-file "$W/pass" --store "$W/s2" >"$W/killed1.log" 2>&1 ) & pid=$!
for _ in $(seq 100); do [[ $(issued killed) == 1 ]] && break; sleep 0.1; done
sleep 0.3; kill -9 $pid 2>/dev/null || true; wait $pid 2>/dev/null || true; rm -f "$W/hold.enrollment"
[[ $(issued killed) == 1 ]] || fail "the CA did not issue before the kill"
[[ ! -e $W/killed.p12 ]] || fail "a PFX was written before the answer came"
E killed "$W/killed.p12" --store "$W/s2" >"$W/killed2.log" 2>&1 || fail "re-run after kill -9: $(cat "$W/killed2.log")"
[[ $(issued killed) == 1 ]] || fail "the re-run issued a second certificate: $(cat "$W/killed2.log")"
grep -q "found at the CA" "$W/killed2.log" || fail "the re-run does not say it found the certificate: $(cat "$W/killed2.log")"
norm() { tr a-f A-F | sed 's/^0*//'; }
[[ $(pfx_serial "$W/killed.p12" | norm) == $("$EMULATOR" list --state "$PRIV_STATE" --kind enrolled | grep "CN=killed\b" | awk '{print $1}' | norm) ]] ||
  fail "the PFX does not hold the certificate the CA issued"
pass "kill -9 after the CA issued: the re-run found the certificate at the CA, nothing issued twice"

# an answer cut in half (connection closed) after the CA issued: same
touch "$W/hold.truncate"
E cut "$W/cut.p12" --store "$W/s2" >"$W/cut1.log" 2>&1 && fail "a truncated answer was taken for a success"
rm -f "$W/hold.truncate"
E cut "$W/cut.p12" --store "$W/s2" >"$W/cut2.log" 2>&1 || fail "re-run after a truncated answer: $(cat "$W/cut2.log")"
[[ $(issued cut) == 1 ]] || fail "a truncated answer led to $(issued cut) certificates"
pass "an answer truncated after the CA issued: the re-run found it, 1 certificate"

# a revoke whose answer is lost: the certificate is never re-delivered; the next
# enrollment asks the CA, marks it revoked and gets a new one
E revtest "$W/rev.p12" --store "$W/s3" >/dev/null 2>&1 || fail "enroll revtest"
s=$(pfx_serial "$W/rev.p12")
write_conf "$W/px-short.conf" "ca.host=127.0.0.1:$PXPORT" "ca.trust=$W/px.pem" "ca.timeout_ms=2000"
touch "$W/hold.management"
"$DCPKI" --config "$W/px-short.conf" revoke --serial "$s" --reason superseded --store "$W/s3" >"$W/rev2.log" 2>&1 &&
  fail "a revoke without an answer was reported done"
rm -f "$W/hold.management"
revoked_at_ca "$s" || fail "the CA did not revoke"
grep -qi "may already be revoked" "$W/rev2.log" || fail "the lost revoke does not say the outcome is unknown: $(cat "$W/rev2.log")"
E revtest "$W/rev2.p12" --store "$W/s3" >"$W/rev3.log" 2>&1 || fail "enroll after the lost revoke: $(cat "$W/rev3.log")"
s2=$(pfx_serial "$W/rev2.p12")
[[ -n $s2 && $s2 != "$s" ]] || fail "the revoked certificate was re-delivered"
grep -q "was revoked at the CA" "$W/rev3.log" || fail "no note of the revocation: $(cat "$W/rev3.log")"
pass "lost revoke answer: the next enrollment learnt it at the CA and issued a new certificate"

# the same through dcpki status
E revtest2 "$W/r2.p12" --store "$W/s3" >/dev/null 2>&1 || fail "enroll revtest2"
s=$(pfx_serial "$W/r2.p12")
touch "$W/hold.management"
"$DCPKI" --config "$W/px-short.conf" revoke --serial "$s" --store "$W/s3" >/dev/null 2>&1 || true
rm -f "$W/hold.management"
"$DCPKI" --config "$W/px.conf" status --serial "$s" --store "$W/s3" >"$W/st.out" 2>"$W/st.err" || fail "status: $(cat "$W/st.err")"
grep -q "store of issued certificates now says REVOKED" "$W/st.err" || fail "status did not mark the store: $(cat "$W/st.err")"
"$DCPKI" --config "$W/px.conf" revoke --serial "$s" --store "$W/s3" >"$W/again.out" 2>&1 || fail "revoking again: $(cat "$W/again.out")"
grep -q "already revoked" "$W/again.out" || fail "revoking again: $(cat "$W/again.out")"
pass "lost revoke answer: dcpki status marks the store; a second revoke is 'already revoked'"

# the store key: no private key in clear in the database; a wrong key is a clear error
[[ -s $W/s1/store.sqlite && -s $W/s1/store.key ]] || fail "no SQLite store: $(ls -la "$W/s1")"
[[ $(stat -c %a "$W/s1/store.key") == 600 ]] || fail "store key mode $(stat -c %a "$W/s1/store.key")"
for f in "$W"/s1/store.sqlite*; do ! grep -qa "PRIVATE KEY" "$f" || fail "$f holds a PEM private key"; done
key_der=$(plain pkcs12 -in "$W/same1.p12" -passin file:"$W/pass" -nocerts -nodes 2>/dev/null | plain pkey -outform DER | od -An -tx1 | tr -d ' \n')
db_hex=$(cat "$W"/s1/store.sqlite* | od -An -tx1 | tr -d ' \n')
# the DER ends with the private CRT coefficient: bytes that exist nowhere but in the private key
[[ ${#key_der} -gt 200 ]] && ! grep -q "${key_der: -64}" <<<"$db_hex" || fail "the database holds the private key's bytes"
head -c 32 /dev/urandom >"$W/wrong.key"; chmod 600 "$W/wrong.key"
write_conf "$W/wrong.conf" "ca.host=127.0.0.1:$PXPORT" "ca.trust=$W/px.pem" "store.key_file=$W/wrong.key"
n0=$(issued same)
expect_fail "store key" "$DCPKI" --config "$W/wrong.conf" enroll --profile "$P1" --subject CN=same --pfx "$W/w.p12" \
  --pfx-pass-file "$W/pass" --store "$W/s1"
[[ $(issued same) == "$n0" && ! -e $W/w.p12 ]] || fail "a wrong store key led to a new request"
pass "store: keys sealed (no PEM, no PKCS#8 bytes in the database), a wrong store key is a clear error"

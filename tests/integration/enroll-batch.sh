#!/bin/bash
# dcpki enroll --batch: many subjects from one process over one connection, a progress
# line and a result per subject, exit 1 when any failed; a second run re-delivers all.
source "$(dirname "$0")/lib.sh"
start_private_emulator
# a [profiles] name in a batch line ("devices") is resolved as --profile is
write_conf "$W/batch.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" \
  "profiles.devices=2.16.840.1.113733.1.16.1.2.3.1.1.61904612"
C=$W/batch.conf
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
P2=2.16.840.1.113733.1.16.1.2.3.1.1.61904612
printf 'pfx-secret\n' >"$W/pass"
n0=$(enrolled)
cat >"$W/batch" <<B
# one subject per line, or one JSON object per line
CN=dev1@contoso.example

{"subject": "CN=dev2", "san": ["email:dev2@contoso.example", "upn:dev2@contoso.example"]}
{"subject": "CN=dev3", "san": "othername:1.3.6.1.4.1.311.25.1;0410b8ba00112233445566778899aabbccdd", "profile": "$P2", "pfx": "device3.p12"}
{"subject": "CN=bad", "san": ["email:bad@contoso.example"], "profile": "devices"}
{"subject": 12}
CN=dev4,E=dev4@contoso.example
B
mkdir -p "$W/out"
rc=0
"$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/batch" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" >"$W/res" 2>"$W/progress" || rc=$?
[[ $rc == 1 ]] || fail "batch with failures should exit 1 (got $rc): $(cat "$W/res" "$W/progress")"
[[ $(grep -c '^\[[0-9]/6\] ' "$W/progress") == 5 ]] || fail "progress lines: $(cat "$W/progress")"
grep -q '6 subjects: 4 issued, 0 re-delivered, 0 pending, 2 failed (1 connection to the CA)' "$W/progress" ||
  fail "summary: $(cat "$W/progress")"
for s in dev1@contoso.example dev2 dev4; do
  grep -q "^CN=$s.*: issued [0-9A-F]* -> $W/out/$s.p12" "$W/res" || fail "no result for $s: $(cat "$W/res")"
  plain pkcs12 -in "$W/out/$s.p12" -passin file:"$W/pass" -nokeys -clcerts | plain x509 -noout -subject -nameopt RFC2253 | grep -q "CN=$s" ||
    fail "PFX of $s"
done
grep -q "^CN=dev3: issued .* -> $W/out/device3.p12" "$W/res" && [[ -s $W/out/device3.p12 ]] || fail "dev3: $(cat "$W/res")"
grep -q '^CN=bad: FAILED: policy verification failed' "$W/res" || fail "bad: $(cat "$W/res")"
grep -q 'line 7: "subject" must be a string' "$W/res" || fail "line 7: $(cat "$W/res")"
[[ ! -e $W/out/bad.p12 ]] || fail "a PFX for the refused subject"
[[ $(enrolled) == $((n0 + 4)) ]] || fail "expected 4 certificates issued, got $(( $(enrolled) - n0 ))"
pass "batch: one connection, progress and per-subject results, exit 1 on failures"

# second run: everything already issued comes from the store
rm -f "$W"/out/*.p12
rc=0
"$DCPKI" --config "$C" --json enroll --store "$W/store" --profile "$P1" --batch "$W/batch" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" >"$W/res.json" 2>"$W/progress" || rc=$?
[[ $rc == 1 ]] || fail "second run exit $rc"
/usr/bin/python3 - "$W/res.json" <<'PY' || fail "batch --json: $(cat "$W/res.json")"
import json, sys
d = json.load(open(sys.argv[1]))
st = [x["status"] for x in d]
assert st == ["redelivered", "redelivered", "redelivered", "failed", "failed", "redelivered"], st
assert d[3]["error"] == "policy_violation", d[3]
PY
[[ $(enrolled) == $((n0 + 4)) ]] || fail "the second run reached the CA"
[[ -s $W/out/dev1@contoso.example.p12 && -s $W/out/device3.p12 ]] || fail "re-delivered PFX files missing"
pass "batch re-run re-delivers from the store (--json results), no CA request"

# all good -> exit 0
printf 'CN=ok1@contoso.example\nCN=ok2@contoso.example\n' >"$W/good"
"$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/good" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" >/dev/null 2>&1 || fail "an all-good batch should exit 0"
expect_fail "--out-dir" "$DCPKI" --config "$C" enroll --profile "$P1" --batch "$W/good" --pfx-pass-file "$W/pass"
pass "an all-good batch exits 0"

# ---- --out-dir: made when missing; unusable -> refused before anything reaches the CA
n1=$(enrolled)
printf 'CN=od1@contoso.example\n' >"$W/one"
"$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/one" --out-dir "$W/new-out" \
  --pfx-pass-file "$W/pass" >/dev/null 2>"$W/err" || fail "batch into a missing --out-dir: $(cat "$W/err")"
[[ -d $W/new-out && $(stat -c %a "$W/new-out") == 700 && -s $W/new-out/od1@contoso.example.p12 ]] ||
  fail "--out-dir was not made (0700) or holds no PFX: $(ls -la "$W/new-out" 2>&1)"
grep -q "made the output directory $W/new-out" "$W/err" || fail "no word about the directory made: $(cat "$W/err")"
: >"$W/a-file"
printf 'CN=od2@contoso.example\nCN=od3@contoso.example\n' >"$W/two"
expect_fail "--out-dir $W/a-file is not a directory; nothing was sent to the CA" \
  "$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/two" --out-dir "$W/a-file" --pfx-pass-file "$W/pass"
expect_fail "does not exist and cannot be made" \
  "$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/two" --out-dir "$W/no/such/dir" --pfx-pass-file "$W/pass"
printf '{"subject": "CN=od4@contoso.example", "pfx": "missing-sub/od4.p12"}\n' >"$W/sub"
expect_fail "not sent to the CA" \
  "$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/sub" --out-dir "$W/out" --pfx-pass-file "$W/pass"
[[ $(enrolled) == $((n1 + 1)) ]] || fail "an undeliverable batch reached the CA ($(( $(enrolled) - n1 - 1 )) extra certificates)"
pass "--out-dir made when missing (0700); a file, an impossible directory or an entry's missing directory: refused, nothing issued"

# ---- progress: a line per subject when standard error is not a terminal (above), one line
# rewritten in place on a terminal, none with --quiet
printf 'CN=pg1@contoso.example\nCN=pg2@contoso.example\n' >"$W/pg"
"$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/pg" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" --quiet >"$W/res" 2>"$W/err" || fail "--quiet batch: $(cat "$W/err")"
! grep -q '^\[' "$W/err" || fail "--quiet printed progress: $(cat "$W/err")"
[[ $(wc -l <"$W/res") == 2 ]] || fail "--quiet lost result lines: $(cat "$W/res")"
grep -q '2 subjects: 2 issued, 0 re-delivered' "$W/err" || fail "--quiet summary: $(cat "$W/err")"
printf 'CN=tt1@contoso.example\nCN=tt2@contoso.example\n' >"$W/tt"
script -qec "$(printf '%q ' "$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/tt" \
  --out-dir "$W/out" --pfx-pass-file "$W/pass")" /dev/null >"$W/tty" 2>&1 </dev/null || fail "batch on a terminal: $(cat "$W/tty")"
grep -q $'\r\e\\[K\\[1/2\\] 0 done, 0 failed: CN=tt1@contoso.example \\.\\.\\.' "$W/tty" || fail "no in-place progress: $(od -c "$W/tty" | head -20)"
grep -q $'\r\e\\[K\\[2/2\\] 1 done, 0 failed: CN=tt2@contoso.example' "$W/tty" || fail "progress not updated: $(od -c "$W/tty" | head -20)"
[[ $(tr '\r' '\n' <"$W/tty" | grep -c '^\[[12]/2\] .*\.\.\.$') == 0 ]] || fail "progress on a terminal ends a line: $(od -c "$W/tty" | head)"
grep -q 'CN=tt2@contoso.example: issued' "$W/tty" || fail "result lines missing on the terminal: $(cat "$W/tty")"
pass "progress: one line rewritten in place on a terminal, a line per subject otherwise, none with --quiet"

# "san" and "sans" on one line: refused (they overflowed the SAN list before; found by fuzz target batch)
printf '{"subject": "CN=both", "sans": ["upn:both@contoso.example"], "san": ["email:both@contoso.example"]}\n' >"$W/both"
rc=0
"$DCPKI" --config "$C" enroll --store "$W/store" --profile "$P1" --batch "$W/both" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" >"$W/res" 2>&1 || rc=$?
[[ $rc == 1 ]] && grep -q 'line 1: give "san" or "sans", not both' "$W/res" || fail "san + sans: rc $rc: $(cat "$W/res")"
pass "a line with both \"san\" and \"sans\" is refused"

#!/bin/bash
# dcpki enroll --batch with hostile lines: a NUL inside a JSON string or a raw NUL
# byte, a key given twice, a "pfx" leading out of --out-dir (absolute, "..", a
# symbolic link): refused with the line number, nothing sent to the CA for that
# line, nothing written outside --out-dir; a 70 KB subject keeps its verdict.
source "$(dirname "$0")/lib.sh"
start_private_emulator
C=$W/priv.conf
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"
mkdir -p "$W/out" "$W/elsewhere"
ln -s "$W/elsewhere" "$W/out/link"
{
  printf '%s\n' '{"subject":"CN=nulbyte\u0000x"}'                       # 1
  printf '%s\n' '{"subject":"CN=dupkey","subject":"CN=dupkey2"}'        # 2
  printf '%s\n' '{"subject":"CN=escape","pfx":"../escaped.p12"}'        # 3
  printf '%s\n' "{\"subject\":\"CN=absolute\",\"pfx\":\"$W/absolute.p12\"}"  # 4
  printf '%s\n' '{"subject":"CN=linked","pfx":"link/linked.p12"}'       # 5
  printf '%s\n' '{"subject":"CN=nulsan","san":["email:a@b.example\u0000x"]}'  # 6
  printf '%s\n' '{"subject":"CN=dupesc","subj\u0065ct":"CN=dupesc2"}'   # 7
  printf 'CN=rawnul\0x\n'                                                # 8
  printf '%s\n' '{"subject":"CN=fine","pfx":"sub/./fine.p12"}'          # 9
} >"$W/batch"
mkdir -p "$W/out/sub"
rc=0
"$DCPKI" --config "$C" enroll --profile "$P1" --batch "$W/batch" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" >"$W/res" 2>"$W/err" || rc=$?
[[ $rc == 1 ]] || fail "hostile batch: exit $rc (expected 1): $(cat "$W/res" "$W/err")"
grep -q "^(line): FAILED: .*$W/batch line 1: \"subject\" holds a NUL character (\\\\u0000), which would cut it short; not sent to the CA" "$W/res" ||
  fail "line 1 (NUL): $(cat "$W/res")"
grep -q "^(line): FAILED: .*$W/batch line 2: the key \"subject\" is given twice (give each key once); not sent to the CA" "$W/res" ||
  fail "line 2 (duplicate key): $(cat "$W/res")"
grep -q "^CN=escape: FAILED: .*$W/batch line 3: \"pfx\" must stay under --out-dir: it has a \"..\" component; not sent to the CA" "$W/res" ||
  fail "line 3 (..): $(cat "$W/res")"
grep -q "^CN=absolute: FAILED: .*$W/batch line 4: \"pfx\" must be a path relative to --out-dir, not an absolute path; not sent to the CA" "$W/res" ||
  fail "line 4 (absolute): $(cat "$W/res")"
grep -q "^CN=linked: FAILED: .*$W/batch line 5: \"pfx\" must stay under --out-dir: its directory leads to $W/elsewhere (a symbolic link); not sent to the CA" "$W/res" ||
  fail "line 5 (symlink): $(cat "$W/res")"
grep -q "^(line): FAILED: .*$W/batch line 6: \"san\" holds a NUL character (\\\\u0000), which would cut it short; not sent to the CA" "$W/res" ||
  fail "line 6 (NUL in san): $(cat "$W/res")"
grep -q "^(line): FAILED: .*$W/batch line 7: the key \"subject\" is given twice (give each key once); not sent to the CA" "$W/res" ||
  fail "line 7 (escaped duplicate key): $(cat "$W/res")"
grep -q "^(line): FAILED: .*$W/batch line 8: the line holds a NUL byte; not sent to the CA" "$W/res" ||
  fail "line 8 (raw NUL): $(cat "$W/res")"
grep -q "^CN=fine: issued [0-9A-F]* -> $W/out/sub/./fine.p12" "$W/res" || fail "line 9 (fine): $(cat "$W/res")"
grep -q '9 subjects: 1 issued, 0 re-delivered, 0 pending, 8 failed' "$W/err" || fail "summary: $(cat "$W/err")"
for cn in nulbyte dupkey dupkey2 escape absolute linked nulsan dupesc dupesc2 rawnul; do
  [[ $(issued "$cn") == 0 ]] || fail "the CA issued a certificate for the refused line CN=$cn"
done
[[ $(issued fine) == 1 ]] || fail "CN=fine not issued once"
[[ ! -e $W/escaped.p12 && ! -e $W/absolute.p12 && -z $(ls -A "$W/elsewhere") ]] ||
  fail "a PFX was written outside --out-dir: $(ls -la "$W" "$W/elsewhere")"
[[ -z $(find "$W/out" -name '*.p12' ! -path "$W/out/sub/fine.p12") ]] || fail "stray PFX files: $(find "$W/out")"
pass "NUL, duplicate keys, pfx out of --out-dir: refused by line number, nothing issued, nothing written outside"

# a 70 KB subject: the result line keeps its verdict, the subject is shortened with "..."
/usr/bin/python3 -c 'print("CN=" + "a" * 70000)' >"$W/long"
rc=0
"$DCPKI" --config "$C" enroll --profile "$P1" --batch "$W/long" --out-dir "$W/out" \
  --pfx-pass-file "$W/pass" >"$W/res" 2>"$W/err" || rc=$?
[[ $rc == 1 ]] || fail "70 KB subject: exit $rc: $(head -c 600 "$W/res" "$W/err")"
[[ $(wc -l <"$W/res") == 1 ]] || fail "70 KB subject: $(wc -l <"$W/res") result lines"
grep -q "^CN=a\{194\}\.\.\.: FAILED: " "$W/res" || fail "70 KB subject: verdict lost or subject not shortened: $(head -c 600 "$W/res")"
[[ $(wc -c <"$W/res") -lt 2000 ]] || fail "70 KB subject: the result line is $(wc -c <"$W/res") bytes"
pass "a 70 KB subject: shortened with \"...\", the verdict kept"

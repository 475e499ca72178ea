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

# ---- a malformed key reference file: what is wrong with it, not OpenSSL's "unsupported"
keyref() { { echo "-----BEGIN DCPKI KEY REFERENCE-----"; /usr/bin/python3 -c 'import base64,sys; print(base64.b64encode(bytes.fromhex(sys.argv[1])).decode())' "$1"; echo "-----END DCPKI KEY REFERENCE-----"; } >"$2"; }
keyref 0102030405 "$W/garbage.ref"                                   # not a SEQUENCE
keyref "300b020101""0c06""$(printf 'nope:x' | od -An -tx1 | tr -d ' \n')" "$W/baduri.ref"  # version 1, a URI not dcpki:
keyref "300d020102""0c08""$(printf 'dcpki:k' | od -An -tx1 | tr -d ' \n')00" "$W/v2.ref"
for f in garbage baduri v2; do
  rc=0; openssl pkey -in "$W/$f.ref" -pubout >/dev/null 2>"$W/$f.err" || rc=$?
  [[ $rc != 0 ]] || fail "openssl pkey accepted $f.ref"
  ! grep -q "routines::unsupported" "$W/$f.err" || fail "$f.ref: OpenSSL's \"unsupported\" instead of the cause: $(cat "$W/$f.err")"
done
grep -qF 'the DCPKI KEY REFERENCE block holds no valid dcpki: URI: the body is not a DER SEQUENCE { version INTEGER, uri UTF8String } (write it again with `dcpki keys ref ALIAS`)' "$W/garbage.err" ||
  fail "garbage.ref: $(cat "$W/garbage.err")"
grep -q ':dcpki:pem_keyref_decode:the key reference file is malformed:' "$W/garbage.err" &&
  [[ $(grep -c ':error:' "$W/garbage.err") == 1 ]] || fail "garbage.ref: not one dcpki error: $(cat "$W/garbage.err")"
grep -qF 'the DCPKI KEY REFERENCE block holds no valid dcpki: URI: it holds a bad URI: ' "$W/baduri.err" || fail "baduri.ref: $(cat "$W/baduri.err")"
grep -qF 'the DCPKI KEY REFERENCE block holds no valid dcpki: URI: unsupported version (expected 1)' "$W/v2.err" || fail "v2.ref: $(cat "$W/v2.err")"
"$DCPKI" keys ref ec-ca --out "$W/good.ref" && openssl pkey -in "$W/good.ref" -pubout >/dev/null || fail "a good key reference file"
pass "a malformed key reference file names what is wrong with it"

# ---- temporary files left by a killed run: the next write of the same file removes them
mkdir -p "$W/pfx"
for t in stale1 stale2; do : >"$W/pfx/.dcpki-tmp-k.p12.$t"; done
mv "$W/pfx/.dcpki-tmp-k.p12.stale2" "$W/pfx/.dcpki-tmp-k.p12.Stale2"
touch -d '20 minutes ago' "$W/pfx/.dcpki-tmp-k.p12.stale1" "$W/pfx/.dcpki-tmp-k.p12.Stale2"
: >"$W/pfx/.dcpki-tmp-k.p12.fresh1"                        # maybe another process's write in progress
: >"$W/pfx/.dcpki-tmp-other.p12.old123"; touch -d '20 minutes ago' "$W/pfx/.dcpki-tmp-other.p12.old123"  # another target's
"$DCPKI" --config "$C" enroll --profile "$P1" --subject CN=tmpclean --pfx "$W/pfx/k.p12" --pfx-pass-file "$W/pass" \
  >/dev/null 2>"$W/tmp.err" || fail "enroll into a directory with stale temporary files: $(cat "$W/tmp.err")"
grep -qxF "dcpki: removed $W/pfx/.dcpki-tmp-k.p12.stale1, a temporary file left by an interrupted run" "$W/tmp.err" &&
  grep -qxF "dcpki: removed $W/pfx/.dcpki-tmp-k.p12.Stale2, a temporary file left by an interrupted run" "$W/tmp.err" ||
  fail "no word about the stale files removed: $(cat "$W/tmp.err")"
[[ -s $W/pfx/k.p12 && ! -e $W/pfx/.dcpki-tmp-k.p12.stale1 && ! -e $W/pfx/.dcpki-tmp-k.p12.Stale2 ]] ||
  fail "stale temporary files of k.p12 left: $(ls -la "$W/pfx")"
[[ -e $W/pfx/.dcpki-tmp-k.p12.fresh1 && -e $W/pfx/.dcpki-tmp-other.p12.old123 ]] ||
  fail "a fresh temporary file or another target's was removed: $(ls -la "$W/pfx")"
[[ $(ls -A "$W/pfx" | grep -c '^\.dcpki-tmp-') == 2 ]] || fail "temporary files left by this write: $(ls -la "$W/pfx")"
pass "stale temporary files of the target (older than 10 minutes, ours) removed by the next write; fresh ones and other targets' kept"

#!/bin/bash
# dcpki policy + dcpki enroll to a PKCS#12: key generated locally, rules, PFX format
# (AES-256-CBC/PBKDF2, SHA-256 MAC, mode 0600), chain to the root, re-delivery from the
# store without a CA request, --renew, the BRIEF §4 fallbacks, --csr/--out.
source "$(dirname "$0")/lib.sh"
start_private_emulator
C=$W/priv.conf
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
P2=2.16.840.1.113733.1.16.1.2.3.1.1.61904612
D() { "$DCPKI" --config "$C" "$@"; }
ST=(--store "$W/store")
p12() { plain pkcs12 -in "$1" -passin file:"$W/pass" "${@:2}"; }
printf 'pfx-secret\n' >"$W/pass"

# ---- policy
D policy "$P1" >"$W/pol.txt"
grep -q 'CN (common_name): mandatory' "$W/pol.txt" && grep -q 'e-mail (rfc822Name)' "$W/pol.txt" &&
  grep -q 'RSA, at least 2048 bits' "$W/pol.txt" || fail "policy text: $(cat "$W/pol.txt")"
D policy "$P1" --json >"$W/pol.json"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["profile_oid"]==sys.argv[2], d' "$W/pol.json" "$P1" ||
  fail "policy --json: $(cat "$W/pol.json")"
write_conf "$W/withdefault.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "profiles.default=$P2"
"$DCPKI" --config "$W/withdefault.conf" policy | grep -q "profile: $P2" || fail "policy without OID does not use [profiles] default"
expect_fail "[profiles] default" D policy
grep -q 'give a profile OID or a \[profiles\] name' <<<"$LAST_OUTPUT" || fail "policy without a profile: $LAST_OUTPUT"
pass "policy prints the profile (text, --json, [profiles] default)"

# ---- [profiles] names wherever a profile is taken
write_conf "$W/named.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "profiles.user=$P1" "profiles.devices=$P2"
N() { "$DCPKI" --config "$W/named.conf" "$@"; }
N policy user | grep -q "profile: $P1" || fail "policy user: $(N policy user 2>&1)"
N policy devices --json | grep -q "\"$P2\"" || fail "policy devices --json"
N enroll --store "$W/named-store" --profile user --subject "CN=named@contoso.example" \
  --pfx "$W/named.p12" --pfx-pass-file "$W/pass" 2>"$W/err" || fail "enroll --profile user: $(cat "$W/err")"
grep -q "profile $P1" "$W/err" || fail "enroll --profile user did not use $P1: $(cat "$W/err")"
expect_fail 'profile "nosuch" is neither a dotted OID nor a name under [profiles]' \
  N enroll --store "$W/named-store" --profile nosuch --subject "CN=x@contoso.example" --pfx "$W/x.p12" --pfx-pass-file "$W/pass"
grep -q 'names: user, devices' <<<"$LAST_OUTPUT" || fail "the failure does not list the names: $LAST_OUTPUT"
expect_fail 'neither a dotted OID' N policy $'bad\x1bname'
grep -q 'bad\\x1bname' <<<"$LAST_OUTPUT" || fail "the name is not shown escaped: $LAST_OUTPUT"
pass "[profiles] names: policy NAME, enroll --profile NAME; an unknown name lists the names (escaped)"

# ---- enroll to PFX
n0=$(enrolled)
D enroll "${ST[@]}" --profile "$P1" --subject "CN=IWUser0,E=IWUser0@contoso.example" \
  --san email:IWUser0@contoso.example --san upn:IWUser0@contoso.example \
  --pfx "$W/u.p12" --pfx-pass-file "$W/pass" 2>"$W/err" || fail "enroll: $(cat "$W/err")"
grep -q 'the CA issued certificate' "$W/err" || fail "enroll message: $(cat "$W/err")"
[[ $(enrolled) == $((n0 + 1)) ]] || fail "the CA should have issued exactly one certificate"
[[ $(stat -c %a "$W/u.p12") == 600 ]] || fail "PFX mode is $(stat -c %a "$W/u.p12")"
p12 "$W/u.p12" -info -noout >"$W/info" 2>&1 || fail "openssl pkcs12 cannot open the PFX: $(cat "$W/info")"
grep -q 'MAC: sha256' "$W/info" && grep -q 'Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC' "$W/info" &&
  grep -q 'PKCS7 Encrypted data: PBES2, PBKDF2, AES-256-CBC' "$W/info" || fail "PFX protection: $(cat "$W/info")"
! plain pkcs12 -in "$W/u.p12" -passin pass:wrong -info -noout >/dev/null 2>&1 || fail "the PFX opens with a wrong password"
p12 "$W/u.p12" -nokeys -clcerts -out "$W/u.pem"
p12 "$W/u.p12" -nokeys -cacerts -out "$W/ca.pem"
p12 "$W/u.p12" -nocerts -nodes -out "$W/u.key"
plain verify -CAfile "$EMU_ROOT" -untrusted "$W/ca.pem" "$W/u.pem" | grep -q ': OK' || fail "the certificate does not chain to the root"
[[ $(plain x509 -in "$W/u.pem" -noout -pubkey) == $(plain pkey -in "$W/u.key" -pubout) ]] || fail "PFX key does not match its certificate"
plain pkey -in "$W/u.key" -text -noout | grep -q 'Private-Key: (2048 bit' || fail "the key is not RSA-2048"
plain x509 -in "$W/u.pem" -noout -ext subjectAltName | grep -q 'email:IWUser0@contoso.example' || fail "no e-mail SAN"
plain x509 -in "$W/u.pem" -noout -ext subjectAltName | grep -Eq 'UPN: ?:?IWUser0@contoso.example' || fail "no UPN SAN"
plain x509 -in "$W/u.pem" -noout -subject -nameopt RFC2253 | grep -q 'CN=IWUser0' || fail "subject"
ls -A "$W" | grep -q '^\.u\.p12' && fail "temporary file left behind"
pass "enroll writes an encrypted PKCS#12 (key, certificate, chain) that openssl opens and verifies"

# ---- the store holds the certificate and its key, sealed (0600 files in a 0700 directory)
[[ $(stat -c %a "$W/store") == 700 ]] || fail "store directory mode $(stat -c %a "$W/store")"
for f in "$W"/store/store.sqlite "$W"/store/store.key; do
  [[ $(stat -c %a "$f") == 600 ]] || fail "store file $f mode $(stat -c %a "$f")"
done
[[ $(sqlite3 "$W/store/store.sqlite" 'SELECT count(*) FROM entries') == 1 ]] || fail "one store entry expected"
[[ $(sqlite3 "$W/store/store.sqlite" "SELECT count(*) FROM entries WHERE key_sealed IS NOT NULL AND state = 'issued'") == 1 ]] ||
  fail "the entry has no sealed key"
grep -qa 'PRIVATE KEY' "$W"/store/store.sqlite* && fail "the store database holds a key in PEM"

# ---- re-delivery: the user deleted the PFX; same request again: no CA request
s1=$(plain x509 -in "$W/u.pem" -noout -serial)
rm -f "$W/u.p12"
D enroll "${ST[@]}" --profile "$P1" --subject "CN=IWUser0, E=IWUser0@contoso.example" \
  --san upn:IWUser0@contoso.example --san email:IWUser0@contoso.example \
  --pfx "$W/u.p12" --pfx-pass-file "$W/pass" 2>"$W/err" || fail "re-delivery: $(cat "$W/err")"
grep -q 're-delivered certificate' "$W/err" || fail "re-delivery message: $(cat "$W/err")"
[[ $(enrolled) == $((n0 + 1)) ]] || fail "re-delivery sent a request to the CA"
[[ $(p12 "$W/u.p12" -nokeys -clcerts | plain x509 -noout -serial) == "$s1" ]] || fail "re-delivered another certificate"
p12 "$W/u.p12" -nocerts -nodes | plain pkey -pubout >"$W/k2.pub"
[[ $(cat "$W/k2.pub") == $(plain pkey -in "$W/u.key" -pubout) ]] || fail "re-delivered PFX has another key"
# the same, as JSON
D --json enroll "${ST[@]}" --profile "$P1" --subject "CN=IWUser0,E=IWUser0@contoso.example" \
  --san email:IWUser0@contoso.example --san upn:IWUser0@contoso.example --pfx "$W/u3.p12" --pfx-pass-file "$W/pass" >"$W/r.json"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert d["status"]=="redelivered" and d["serial"], d' "$W/r.json" ||
  fail "enroll --json: $(cat "$W/r.json")"
[[ $(enrolled) == $((n0 + 1)) ]] || fail "re-delivery (--json) sent a request to the CA"
pass "a deleted PFX is re-delivered from the store, same certificate and key, no CA request"

# ---- --renew asks the CA again
D enroll "${ST[@]}" --renew --profile "$P1" --subject "CN=IWUser0,E=IWUser0@contoso.example" \
  --san email:IWUser0@contoso.example --san upn:IWUser0@contoso.example --pfx "$W/r.p12" --pfx-pass-file "$W/pass" 2>/dev/null
[[ $(enrolled) == $((n0 + 2)) ]] || fail "--renew did not reach the CA"
[[ $(p12 "$W/r.p12" -nokeys -clcerts | plain x509 -noout -serial) != "$s1" ]] || fail "--renew returned the old certificate"
pass "--renew gets a new certificate"

# ---- fallbacks (BRIEF §4): no SAN given, CN is an e-mail -> e-mail and UPN SANs from it
D enroll "${ST[@]}" --profile "$P1" --subject "CN=bob@contoso.example" --pfx "$W/b.p12" --pfx-pass-file "$W/pass" 2>/dev/null
san=$(p12 "$W/b.p12" -nokeys -clcerts | plain x509 -noout -ext subjectAltName)
grep -q 'email:bob@contoso.example' <<<"$san" && grep -Eq 'UPN: ?:?bob@contoso.example' <<<"$san" || fail "fallback SANs: $san"
# e-mail SAN missing -> UPN
D enroll "${ST[@]}" --profile "$P1" --subject "CN=carol" --san upn:carol@contoso.example --pfx "$W/c.p12" --pfx-pass-file "$W/pass" 2>/dev/null
san=$(p12 "$W/c.p12" -nokeys -clcerts | plain x509 -noout -ext subjectAltName)
grep -q 'email:carol@contoso.example' <<<"$san" || fail "e-mail SAN did not fall back to the UPN: $san"
pass "the e-mail/UPN fallbacks fill the SANs"

# ---- other name (DS Object GUID) on the device profile, hex with spaces
D enroll "${ST[@]}" --profile "$P2" --subject "CN=device1" \
  --san 'othername:1.3.6.1.4.1.311.25.1;04 10 b8 ba 00 11 22 33 44 55 66 77 88 99 aa bb cc dd' \
  --pfx "$W/d.p12" --pfx-pass-file "$W/pass" 2>"$W/err" || fail "device enroll: $(cat "$W/err")"
p12 "$W/d.p12" -nokeys -clcerts | plain x509 -noout -text | grep -qi 'othername' || fail "no other-name SAN"
pass "other-name SAN (hex) enrolls on the device profile"

# ---- --csr FILE --out cert.pem
plain req -new -newkey rsa:2048 -nodes -keyout "$W/c.key" -subj "/CN=csruser/emailAddress=csruser@contoso.example" -out "$W/c.csr" 2>/dev/null
D enroll "${ST[@]}" --profile "$P1" --csr "$W/c.csr" --out "$W/c.pem" --chain-out "$W/chain.pem" 2>/dev/null || fail "--csr enroll"
plain verify -CAfile "$EMU_ROOT" -untrusted "$W/chain.pem" "$W/c.pem" | grep -q ': OK' || fail "--csr certificate does not verify"
[[ $(plain x509 -in "$W/c.pem" -noout -pubkey) == $(plain pkey -in "$W/c.key" -pubout) ]] || fail "--csr certificate has another key"
n1=$(enrolled)
rm -f "$W/c.pem"
D enroll "${ST[@]}" --profile "$P1" --csr "$W/c.csr" --out "$W/c.pem" 2>"$W/err"
grep -q 're-delivered' "$W/err" && [[ $(enrolled) == "$n1" && -s $W/c.pem ]] || fail "--csr re-delivery: $(cat "$W/err")"
# a CSR whose SAN the rules refuse (dNSName) is refused before sending
plain req -new -newkey rsa:2048 -nodes -keyout "$W/w.key" -subj "/CN=web" -addext "subjectAltName=DNS:web.example" -out "$W/w.csr" 2>/dev/null
expect_fail 'dns' D enroll "${ST[@]}" --profile "$P1" --csr "$W/w.csr" --out "$W/w.pem"
[[ ! -e $W/w.pem && $(enrolled) == "$n1" ]] || fail "a refused CSR was sent or written"
pass "--csr enrolls an existing CSR and writes the certificate"

# ---- command-line errors: nothing written, nothing sent
expect_fail "--pfx-pass-file" D enroll "${ST[@]}" --profile "$P1" --subject "CN=x" --pfx "$W/x.p12"
expect_fail "exactly one of" D enroll "${ST[@]}" --profile "$P1" --pfx "$W/x.p12" --pfx-pass-file "$W/pass"
: >"$W/empty"
expect_fail "is empty" D enroll "${ST[@]}" --profile "$P1" --subject "CN=x" --pfx "$W/x.p12" --pfx-pass-file "$W/empty"
[[ ! -e $W/x.p12 && $(enrolled) == "$n1" ]] || fail "a refused command wrote or sent something"
pass "enroll's command-line errors write and send nothing"

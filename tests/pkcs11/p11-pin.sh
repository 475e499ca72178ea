#!/bin/bash
# A PIN on the tokens ([pkcs11] pin_file), walked with OpenSC pkcs11-tool and
# PyKCS11: "login required"; before login no private key is listed and none
# signs; a wrong PIN is CKR_PIN_INCORRECT and shows nothing; the right PIN lists
# the private keys, which sign (SHA256-RSA-PKCS, ECDSA) with signatures checked
# by plain OpenSSL; logout hides them again (pykcs11_pin.py: every state and
# return code); a pin_file readable by others is refused with the reason
# logged; two configurations with different RA identities or API keys give
# their tokens different serial numbers, stable across runs.
source "$DCPKI_SRC/tests/integration/lib.sh"
M=$P11MOD
[[ -f $M ]] || fail "module not built: $M"
PIN=2468
printf %s "$PIN" >"$W/pin"; chmod 600 "$W/pin"   # no newline, as `echo -n` writes it
write_conf "$W/pin.conf" "pkcs11.pin_file=$W/pin"
export DCPKI_CONF=$W/pin.conf
T() { pkcs11-tool --module "$M" --token-label "dcpki signing" "$@"; }
R() { pkcs11-tool --module "$M" --token-label "dcpki RA" "$@"; }
echo "signed with a PIN" >"$W/m"

# ---- token information
out=$(pkcs11-tool --module "$M" -L)
[[ $(grep -c 'token flags *:.*login required' <<<"$out") == 2 ]] || fail "-L: both tokens must require login: $out"
[[ $(grep -c 'token flags *:.*PIN initialized' <<<"$out") == 2 ]] || fail "-L: both tokens must have a user PIN: $out"
[[ $(grep -c 'token flags *:.*readonly' <<<"$out") == 2 ]] || fail "-L: both tokens must be read-only: $out"
T -T | grep -qi 'login required' || fail "-T: login required missing"
pass "pkcs11-tool -L / -T: login required, PIN initialized, read-only"

# ---- no login: public objects only, no signature
out=$(T -O)
grep -q 'Private Key Object' <<<"$out" && fail "a private key is listed before login: $out"
[[ $(grep -c 'Public Key Object' <<<"$out") == 2 ]] || fail "the public keys must be listed without login: $out"
grep -q 'label: *issuing-ca' <<<"$out" || fail "certificates must be listed without login: $out"
grep -q 'Private Key Object' <<<"$(R -O)" && fail "the RA private key is listed before login"
RSA_ID=$(awk '/^Public Key Object/ { k = 1 } /^(Private Key|Certificate) Object/ { k = 0 }
              k && $1 == "label:" { l = $2 } k && $1 == "ID:" && l == "issuing-ca" { print $2; exit }' <<<"$out")
[[ -n $RSA_ID ]] || fail "no ID for issuing-ca: $out"
rm -f "$W/s0"
T --sign -m SHA256-RSA-PKCS --id "$RSA_ID" -i "$W/m" -o "$W/s0" </dev/null >"$W/nologin.log" 2>&1 \
  && fail "signed without login: $(cat "$W/nologin.log")"
[[ ! -s $W/s0 ]] || fail "a signature was written without login"
pass "no login: no private key listed, signing refused"

# ---- a wrong PIN: CKR_PIN_INCORRECT, nothing listed
expect_fail CKR_PIN_INCORRECT T --login --pin 1111 -O
grep -q 'Object' <<<"$LAST_OUTPUT" && fail "objects listed after a wrong PIN: $LAST_OUTPUT"
expect_fail CKR_PIN_INCORRECT T --login --pin 24680 --sign -m SHA256-RSA-PKCS --id "$RSA_ID" -i "$W/m" -o "$W/s0"
[[ ! -s $W/s0 ]] || fail "a signature was written after a wrong PIN"
pass "wrong PIN: CKR_PIN_INCORRECT, nothing listed or signed"

# ---- the right PIN: private keys listed, they sign, plain OpenSSL verifies
out=$(T --login --pin $PIN -O --type privkey)
[[ $(grep -c 'Private Key Object' <<<"$out") == 2 ]] || fail "two private keys expected after login: $out"
key_id() { awk -v l="$1" '$1 == "label:" { hit = ($2 == l) } hit && $1 == "ID:" { print $2; exit }' <<<"$out"; }
EC_ID=$(key_id ec-ca)
[[ $(key_id issuing-ca) == "$RSA_ID" ]] || fail "private and public key of issuing-ca differ in CKA_ID"
for l in issuing-ca ec-ca; do
  T --read-object --type cert --label $l -o "$W/$l.der" >/dev/null
  plain x509 -inform DER -in "$W/$l.der" -pubkey -noout >"$W/$l.pub"
done
T --login --pin $PIN --sign -m SHA256-RSA-PKCS --id "$RSA_ID" -i "$W/m" -o "$W/s.rsa"
plain dgst -sha256 -verify "$W/issuing-ca.pub" -signature "$W/s.rsa" "$W/m" >/dev/null || fail "SHA256-RSA-PKCS does not verify"
T --login --pin $PIN --sign -m ECDSA-SHA256 --signature-format openssl --id "$EC_ID" -i "$W/m" -o "$W/s.ec"
plain dgst -sha256 -verify "$W/ec-ca.pub" -signature "$W/s.ec" "$W/m" >/dev/null || fail "ECDSA-SHA256 does not verify"
plain dgst -sha256 -binary -out "$W/m.sha256" "$W/m"
T --login --pin $PIN --sign -m ECDSA --signature-format openssl --id "$EC_ID" -i "$W/m.sha256" -o "$W/s.ecraw"
plain dgst -sha256 -verify "$W/ec-ca.pub" -signature "$W/s.ecraw" "$W/m" >/dev/null || fail "ECDSA over a digest does not verify"
R --login --pin $PIN --sign -m SHA256-RSA-PKCS -i "$W/m" -o "$W/s.ra"
plain x509 -in "$RUN/ra.pem" -pubkey -noout >"$W/ra.pub"
plain dgst -sha256 -verify "$W/ra.pub" -signature "$W/s.ra" "$W/m" >/dev/null || fail "the RA key's signature does not verify"
pass "right PIN: 2 private keys listed; SHA256-RSA-PKCS, ECDSA-SHA256, ECDSA and the RA key verified by OpenSSL"

# ---- the login states in one process: PyKCS11 and ctypes (logout, sessions, handles)
/usr/bin/python3 -c 'import PyKCS11' 2>/dev/null || fail "python3-pykcs11 is not installed (scripts/deps installs it)"
PYTHONPATH=$DCPKI_SRC/tests/pkcs11 /usr/bin/python3 "$DCPKI_SRC/tests/pkcs11/pykcs11_pin.py" "$M" "$PIN"

# ---- a pin_file others can read: refused, the reason logged, C_Login fails
cp "$W/pin" "$W/pin644"; chmod 644 "$W/pin644"
write_conf "$W/pin644.conf" "pkcs11.pin_file=$W/pin644"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/pin644.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" --token-label "dcpki signing" --login --pin $PIN -O
grep -qF "pin_file $W/pin644 has mode 0644; it must be 0600 or 0400" <<<"$LAST_OUTPUT" \
  && grep -qF "chmod 600 $W/pin644" <<<"$LAST_OUTPUT" || fail "mode 0644: reason and remedy not logged: $LAST_OUTPUT"
grep -qF "$PIN" <<<"$LAST_OUTPUT" && fail "the PIN appears in the log: $LAST_OUTPUT"
DCPKI_CONF=$W/pin644.conf T -O | grep -q 'Private Key Object' && fail "mode 0644: a private key is listed"
write_conf "$W/nopin.conf" "pkcs11.pin_file=$W/no-such-pin"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/nopin.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" --token-label "dcpki signing" --login --pin $PIN -O
grep -qF "cannot read $W/no-such-pin" <<<"$LAST_OUTPUT" || fail "missing pin_file: reason not logged: $LAST_OUTPUT"
chmod 400 "$W/pin644"
[[ $(DCPKI_CONF=$W/pin644.conf T --login --pin $PIN -O --type privkey | grep -c 'Private Key Object') == 2 ]] \
  || fail "mode 0400 must be accepted"
pass "pin_file mode 0644 / missing: CKR_DEVICE_ERROR, file, mode and remedy logged; 0400 accepted"

# ---- serial numbers: per RA identity and signing account, stable
serials() { DCPKI_CONF=$1 pkcs11-tool --module "$M" -L | awk '/serial num/ { print $4 }' | paste -sd' '; }
plain req -new -newkey rsa:2048 -nodes -keyout "$W/ra2.key" -subj "/CN=dcpki second RA" \
  -addext "keyUsage=critical,digitalSignature,keyEncipherment" -addext "extendedKeyUsage=clientAuth" \
  -out "$W/ra2.csr" 2>/dev/null
chmod 600 "$W/ra2.key"
"$EMULATOR" ra-issue --state "$EMU_STATE" --csr "$W/ra2.csr" --out "$W/ra2.pem" 2>/dev/null
write_conf "$W/ra2.conf" "ra.key=$W/ra2.key" "ra.certificate=$W/ra2.pem"
printf 'another-account-key\n' >"$W/api2"; chmod 600 "$W/api2"
write_conf "$W/api2.conf" "signing.api_key_file=$W/api2"
read -r ra1 sg1 <<<"$(serials "$RUN/dcpki.conf")"
read -r ra1b sg1b <<<"$(serials "$W/pin.conf")"
read -r ra2 sg2 <<<"$(serials "$W/ra2.conf")"
read -r ra3 sg3 <<<"$(serials "$W/api2.conf")"
[[ $ra1 =~ ^[0-9A-F]{16}$ && $sg1 =~ ^[0-9A-F]{16}$ && $ra1 != "$sg1" ]] || fail "serials: '$ra1' '$sg1'"
[[ $ra1 == "$ra1b" && $sg1 == "$sg1b" ]] || fail "serials must not depend on the PIN or the run: $ra1/$ra1b $sg1/$sg1b"
[[ $ra2 != "$ra1" && $sg2 != "$sg1" ]] || fail "another RA identity, same serial numbers: $ra1 $sg1 / $ra2 $sg2"
[[ $ra3 == "$ra1" && $sg3 != "$sg1" ]] || fail "another API key must change the signing serial only: $ra1 $sg1 / $ra3 $sg3"
[[ $(serials "$W/ra2.conf") == "$ra2 $sg2" ]] || fail "serial numbers not stable across runs"
# the thumbprint configured or computed from the loaded identity: the same serial numbers
tp=$(plain x509 -in "$RUN/ra.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g')
write_conf "$W/tp.conf" "ra.certificate_thumbprint=$tp"
[[ $(serials "$W/tp.conf") == "$ra1 $sg1" ]] || fail "with certificate_thumbprint: $(serials "$W/tp.conf"), not $ra1 $sg1"
# the URIs tell the two configurations apart
DCPKI_CONF=$W/ra2.conf p11tool --provider "$M" --list-tokens 2>/dev/null | grep -q "serial=$sg2" \
  || fail "p11tool: no pkcs11: URI with serial=$sg2"
write_conf "$W/broken.conf" "ra.certificate=$W/no-such-cert.pem"
[[ $(serials "$W/broken.conf") == "unconfigured unconfigured" ]] || fail "fallback serials: $(serials "$W/broken.conf")"
pass "serial numbers: $ra1/$sg1 vs $ra2/$sg2 (RA identity) vs $ra3/$sg3 (API key); stable; fallback 'unconfigured'"

#!/bin/bash
# The RA key on another PKCS#11 token ([ra] key = pkcs11:...; here SoftHSM2,
# registered with p11-kit): the "dcpki RA" token shows it and C_Sign goes to
# that token through p11-kit (PKCS#1 v1.5, PSS, raw DigestInfo), each signature
# verified by plain OpenSSL; a wrong PIN or a missing key is CKR_DEVICE_ERROR /
# CKR_FUNCTION_FAILED with the reason logged. Skipped (77) without SoftHSM2.
source "$DCPKI_SRC/tests/integration/lib.sh"
M=$P11MOD
[[ -f $M ]] || fail "module not built: $M"
command -v softhsm2-util >/dev/null && p11-kit list-modules 2>/dev/null | grep -q softhsm \
  || { echo "SKIP: SoftHSM2 (package softhsm2) is not installed and registered with p11-kit"; exit 77; }

export SOFTHSM2_CONF=$W/softhsm2.conf
mkdir -p "$W/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$W/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label "dcpki test RA" --pin 4321 --so-pin 87654321 >/dev/null
SH=$(p11-kit list-modules | awk '/^softhsm2:/{print $2}')
[[ -f $SH ]] || SH=/usr/lib/$(gcc -dumpmachine)/softhsm/libsofthsm2.so
plain pkcs8 -topk8 -nocrypt -in "$RUN/ra.key" -outform DER -out "$W/ra.p8"
pkcs11-tool --module "$SH" --token-label "dcpki test RA" --login --pin 4321 \
  --write-object "$W/ra.p8" --type privkey --label ra-on-token --id 5241 >/dev/null
TOKURI='pkcs11:token=dcpki%20test%20RA;object=ra-on-token;type=private'
write_conf "$W/tok.conf" "ra.key=$TOKURI;pin-value=4321"

R() { DCPKI_CONF=$W/tok.conf pkcs11-tool --module "$M" --token-label "dcpki RA" "$@"; }
out=$(R -O)
[[ $(grep -c 'label: *ra$' <<<"$out") == 3 ]] || fail "RA token with a pkcs11: key: expected key, public key, certificate: $out"
plain x509 -in "$RUN/ra.pem" -pubkey -noout >"$W/ra.pub"
echo "signed on the RA key's own token" >"$W/m"
R --sign -m SHA256-RSA-PKCS -i "$W/m" -o "$W/s1"
plain dgst -sha256 -verify "$W/ra.pub" -signature "$W/s1" "$W/m" >/dev/null || fail "SHA256-RSA-PKCS via the token does not verify"
R --sign -m SHA512-RSA-PKCS-PSS -i "$W/m" -o "$W/s2"
plain dgst -sha512 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify "$W/ra.pub" \
  -signature "$W/s2" "$W/m" >/dev/null || fail "SHA512-RSA-PKCS-PSS via the token does not verify"
{ xxd -r -p <<<3031300d060960864801650304020105000420; plain dgst -sha256 -binary "$W/m"; } >"$W/di"
R --sign -m RSA-PKCS -i "$W/di" -o "$W/s3"
plain dgst -sha256 -verify "$W/ra.pub" -signature "$W/s3" "$W/m" >/dev/null || fail "RSA-PKCS via the token does not verify"
pass "the RA key on a SoftHSM2 token signs through p11-kit (PKCS#1, PSS, raw)"

# the PIN from a pin-source file
echo 4321 >"$W/pin"; chmod 600 "$W/pin"
write_conf "$W/tok2.conf" "ra.key=$TOKURI;pin-source=file:$W/pin"
DCPKI_CONF=$W/tok2.conf pkcs11-tool --module "$M" --token-label "dcpki RA" --sign -m SHA384-RSA-PKCS \
  -i "$W/m" -o "$W/s4" >/dev/null 2>&1 || fail "signing with pin-source failed"
plain dgst -sha384 -verify "$W/ra.pub" -signature "$W/s4" "$W/m" >/dev/null || fail "pin-source signature does not verify"
pass "PIN from pin-source"

# the pin-source is read when the identity loads: a process that can no longer
# read the file (a server after dropping privileges; here the file is gone)
# still signs
DCPKI_CONF=$W/tok2.conf PIN_FILE=$W/pin /usr/bin/python3 - "$M" "$W/m" "$W/s5" "$W/s6" <<'PY' || fail "signing after the pin-source file went away failed"
import os, sys, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
slot = next(s for s in lib.getSlotList(tokenPresent=True) if lib.getTokenInfo(s).label.strip() == "dcpki RA")
sess = lib.openSession(slot)
key = sess.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY)])[0]
data = open(sys.argv[2], "rb").read()
mech = PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None)
open(sys.argv[3], "wb").write(bytes(sess.sign(key, data, mech)))
os.unlink(os.environ["PIN_FILE"])
open(sys.argv[4], "wb").write(bytes(sess.sign(key, data, mech)))
PY
for s in s5 s6; do
  plain dgst -sha256 -verify "$W/ra.pub" -signature "$W/$s" "$W/m" >/dev/null || fail "$s (pin-source read at load) does not verify"
done
pass "PIN read from pin-source when the identity loads: signing goes on after the file is gone"

write_conf "$W/bad.conf" "ra.key=$TOKURI;pin-value=0000"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/bad.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" \
  --token-label "dcpki RA" --sign -m SHA256-RSA-PKCS -i "$W/m" -o "$W/bad"
grep -q 'logging in to the RA key' <<<"$LAST_OUTPUT" || fail "wrong PIN: reason not logged: $LAST_OUTPUT"
write_conf "$W/none.conf" "ra.key=pkcs11:token=dcpki%20test%20RA;object=no-such-key;pin-value=4321"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/none.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" \
  --token-label "dcpki RA" --sign -m SHA256-RSA-PKCS -i "$W/m" -o "$W/bad"
grep -q 'was not found on any PKCS#11 token' <<<"$LAST_OUTPUT" || fail "missing key: reason not logged: $LAST_OUTPUT"
pass "wrong PIN / missing key: errors with the reason logged"

#!/bin/bash
# The RA key on a PKCS#11 token ([ra] key = pkcs11:...; SoftHSM2 registered with
# p11-kit) used through the provider as dcpki:ra: `openssl req -new -key dcpki:ra`
# and `openssl dgst -sign dcpki:ra` (PKCS#1 v1.5 and PSS) sign on the token, plain
# OpenSSL verifies with the RA certificate's key; the transport authenticates
# with the same token key (`dcpki keys list`); a wrong PIN is named as such.
source "$(dirname "$0")/lib.sh"
command -v softhsm2-util >/dev/null || fail "SoftHSM2 is not installed (scripts/deps installs softhsm2)"
SH=$(p11-kit list-modules 2>/dev/null | awk '/^softhsm2:/{print $2}')
[[ -f $SH ]] || fail "SoftHSM2 is not registered with p11-kit (p11-kit list-modules)"

export SOFTHSM2_CONF=$W/softhsm2.conf
mkdir -p "$W/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$W/tokens" >"$SOFTHSM2_CONF"
softhsm2-util --init-token --free --label "ra token" --pin 4321 --so-pin 87654321 >/dev/null
plain pkcs8 -topk8 -nocrypt -in "$RUN/ra.key" -outform DER -out "$W/ra.p8"
pkcs11-tool --module "$SH" --token-label "ra token" --login --pin 4321 \
  --write-object "$W/ra.p8" --type privkey --label ra --id 01 >/dev/null
rm -f "$W/ra.p8"
URI='pkcs11:token=ra%20token;object=ra;type=private'
write_conf "$W/tok.conf" "ra.key=$URI;pin-value=4321"
openssl_cnf_for "$W/tok.cnf" "$W/tok.conf"
plain x509 -in "$RUN/ra.pem" -pubkey -noout >"$W/ra.pub"

OPENSSL_CONF=$W/tok.cnf openssl req -new -key dcpki:ra -subj "/CN=RA on a token" -out "$W/tok.csr" \
  || fail "openssl req -new -key dcpki:ra with the RA key on a token failed"
plain req -in "$W/tok.csr" -verify -noout 2>/dev/null || fail "the CSR signed on the token does not verify"
[[ $(plain req -in "$W/tok.csr" -pubkey -noout) == $(cat "$W/ra.pub") ]] || fail "the CSR does not carry the RA certificate's public key"
pass "openssl req -new -key dcpki:ra signs on the SoftHSM2 token; the CSR verifies"

echo "signed on the RA key's token through the provider" >"$W/m"
OPENSSL_CONF=$W/tok.cnf openssl dgst -sha384 -sign dcpki:ra -out "$W/s1" "$W/m" || fail "dgst -sign dcpki:ra failed"
plain dgst -sha384 -verify "$W/ra.pub" -signature "$W/s1" "$W/m" >/dev/null || fail "PKCS#1 signature does not verify"
OPENSSL_CONF=$W/tok.cnf openssl dgst -sha256 -sign dcpki:ra -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest \
  -out "$W/s2" "$W/m" || fail "dgst -sign dcpki:ra with PSS failed"
plain dgst -sha256 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -verify "$W/ra.pub" \
  -signature "$W/s2" "$W/m" >/dev/null || fail "PSS signature does not verify"
pass "openssl dgst -sign dcpki:ra: PKCS#1 v1.5 and PSS on the token verify"

out=$("$DCPKI" --config "$W/tok.conf" keys list 2>&1) || fail "dcpki keys list with the RA key on a token failed: $out"
grep -q issuing-ca <<<"$out" || fail "dcpki keys list does not list issuing-ca: $out"
pass "the transport authenticates with the RA key on the token (dcpki keys list)"

write_conf "$W/bad.conf" "ra.key=$URI;pin-value=0000"
openssl_cnf_for "$W/bad.cnf" "$W/bad.conf"
expect_fail "PIN is incorrect" env OPENSSL_CONF="$W/bad.cnf" openssl dgst -sha256 -sign dcpki:ra -out "$W/bad" "$W/m"
grep -q "the RA private key cannot be read" <<<"$LAST_OUTPUT" || fail "wrong PIN: not reported as the RA key: $LAST_OUTPUT"
pass "a wrong PIN is reported as a login failure on the RA key's token"

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

# RA key material in a core: a TLS server signing with a remote key holds the RA
# key's numbers when the RA key is a file (OpenSSL's copy, GnuTLS's copies; the
# control, README "Secrets in memory"), and none of them when it is on the token
# (dcpki and GnuTLS only hold the token's handle, and SoftHSM2 held no plain copy).
plain rsa -in "$RUN/ra.key" -text -noout 2>/dev/null >"$W/ra.txt" || fail "cannot read the RA key's numbers"
ra_numbers_in() {  # ra_numbers_in CORE: how many of p, q, d (big- or little-endian) are in it
  /usr/bin/python3 - "$W/ra.txt" "$1" <<'PY'
import re, sys
text, core = open(sys.argv[1]).read(), open(sys.argv[2], "rb").read()
found = 0
for name in ("prime1", "prime2", "privateExponent"):
    m = re.search(name + r":\s*\n((?:\s+[0-9a-f:]+\n)+)", text)
    b = bytes.fromhex(re.sub(r"[\s:]", "", m.group(1))).lstrip(b"\0")
    found += core.count(b[:32]) + core.count(b[::-1][:32])
print(found)
PY
}
"$DCPKI" keys show issuing-ca --cert >"$W/ca.pem" || fail "keys show issuing-ca --cert"
core_numbers() {  # core_numbers OPENSSL_CNF: sets N to the RA numbers in the core of s_server after a handshake
  local port srv f
  port=$(free_port)
  OPENSSL_CONF=$1 openssl s_server -accept "127.0.0.1:$port" -key dcpki:key=issuing-ca -cert "$W/ca.pem" -www \
    >"$W/s_server.log" 2>&1 &
  srv=$!
  _priv_pids+=("$srv")
  for _ in $(seq 1 50); do grep -q ACCEPT "$W/s_server.log" && break; sleep 0.1; done
  echo | plain s_client -connect "127.0.0.1:$port" >"$W/s_client.log" 2>&1
  grep -q "Cipher is" "$W/s_client.log" || fail "no handshake with s_server: $(tail -5 "$W/s_client.log")"
  f=$(core_of "$srv" s_server) || exit 1
  kill "$srv" 2>/dev/null
  N=$(ra_numbers_in "$f") || fail "could not search the core of s_server"
  [[ $N =~ ^[0-9]+$ ]] || fail "searching the core of s_server gave '$N', not a count"
  rm -f "$f"
}
core_numbers "$OPENSSL_CONF"
((N > 0)) || fail "control: no RA key numbers found in the core of a server using the RA key file (the check cannot see them)"
core_numbers "$W/tok.cnf"
((N == 0)) || fail "RA key on the token: $N copies of its numbers in the core of s_server"
pass "a core of a TLS server holds the RA key's numbers with the key file, none with the key on the token"

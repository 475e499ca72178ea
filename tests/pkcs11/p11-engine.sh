#!/bin/bash
# dcpki-pkcs11 inside engine-era OpenSSL consumers (issue 7): `openssl req
# -engine pkcs11` (libp11's engine, set as the default for everything) signs
# CSRs with the remote issuing-ca (RSA) and ec-ca (EC) keys and plain OpenSSL
# verifies them; then p11_engine (p11_engine.c) loads the module under ENGINEs
# set as the default for ALL, default properties "fips=yes" and the legacy
# provider, finds the keys and certificates, signs with CKM_SHA256_RSA_PKCS
# and CKM_ECDSA and verifies every signature with OpenSSL.
source "$DCPKI_SRC/tests/integration/lib.sh"
[[ -f $P11MOD ]] || fail "module not built: $P11MOD"
ENGINE_SO=$(openssl version -e | sed -n 's/^ENGINESDIR: "\(.*\)"$/\1/p')/pkcs11.so
[[ -f $ENGINE_SO ]] || fail "libp11's engine $ENGINE_SO is missing: install libengine-pkcs11-openssl (scripts/deps)"
PROG=$DCPKI_BUILD/tests/pkcs11/p11_engine
[[ -x $PROG ]] || fail "test program not built: $PROG"

# ---- 1. openssl req -engine pkcs11, as engine-era scripts call it
for key in issuing-ca ec-ca; do
  out=$(PKCS11_MODULE_PATH=$P11MOD OPENSSL_CONF=/dev/null openssl req -new -engine pkcs11 -keyform engine \
    -key "pkcs11:token=dcpki%20signing;object=$key;type=private" -subj "/CN=via-engine $key" -out "$W/$key.csr" 2>&1) \
    || fail "openssl req -engine pkcs11 with $key failed: $out"
  plain req -in "$W/$key.csr" -verify -noout 2>&1 | grep -q 'verify OK' \
    || fail "the CSR signed with $key through the engine does not verify"
  pkcs11-tool --module "$P11MOD" --token-label "dcpki signing" --read-object --type cert --label "$key" \
    -o "$W/$key.der" >/dev/null 2>&1 || fail "cannot read the $key certificate from the token"
  [[ $(plain req -in "$W/$key.csr" -pubkey -noout) == $(plain x509 -inform DER -in "$W/$key.der" -pubkey -noout) ]] \
    || fail "the CSR's public key is not $key's"
  pass "openssl req -engine pkcs11 signs with $key; plain OpenSSL verifies the CSR"
done

# ---- 2. the module under ENGINEs default for ALL, fips=yes, the legacy provider
out=$(OPENSSL_CONF=/dev/null "$PROG" "$P11MOD" 2>&1) || fail "p11_engine: $out"
grep -q '^PASS$' <<<"$out" || fail "p11_engine did not pass: $out"
sed 's/^/  /' <<<"$out"
pass "keys found, signed and verified inside hosts with default ENGINEs, fips=yes and the legacy provider"

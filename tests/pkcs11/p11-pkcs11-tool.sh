#!/bin/bash
# OpenSC pkcs11-tool against dcpki-pkcs11: slots (-L), mechanisms (-M), objects
# (-O), certificates read back, a signature with every mechanism on the remote
# RSA and EC keys and on the RA key, each verified by plain OpenSSL with the
# certificate read from the token; private keys not readable; failures of the
# service map to CKR_DEVICE_ERROR with the catalogue message, tokens still listed.
source "$DCPKI_SRC/tests/integration/lib.sh"
M=$P11MOD
[[ -f $M ]] || fail "module not built: $M"
T() { pkcs11-tool --module "$M" --token-label "dcpki signing" "$@"; }
# pkcs11-tool 0.23 (Debian 12) ignores --label when it looks up the key for
# --sign (it takes the first private key): keys are named by --id for signing.
key_id() { T -O --type privkey | awk -v l="$1" '$1 == "label:" { hit = ($2 == l) } hit && $1 == "ID:" { print $2; exit }'; }

# ---- slots, mechanisms, objects
out=$(pkcs11-tool --module "$M" -L)
grep -q 'token label *: dcpki RA' <<<"$out" || fail "-L: no dcpki RA token: $out"
grep -q 'token label *: dcpki signing' <<<"$out" || fail "-L: no dcpki signing token: $out"
grep -q 'login required' <<<"$out" && fail "-L: no PIN is configured, yet login required: $out"
[[ $(grep -c 'token flags *:.*readonly' <<<"$out") == 2 ]] || fail "-L: both tokens must be write-protected: $out"
[[ $(grep -cE 'serial num *: [0-9A-F]{16}$' <<<"$out") == 2 ]] || fail "-L: serial numbers must be 16 hex digits: $out"
pass "pkcs11-tool -L lists both tokens (read-only, derived serial numbers)"
# no PIN configured: --login is answered CKR_USER_PIN_NOT_INITIALIZED (PKCS#11 v2.40 §5.1)
expect_fail CKR_USER_PIN_NOT_INITIALIZED T --login --pin 1234 -O
pass "pkcs11-tool --login without a PIN configured: CKR_USER_PIN_NOT_INITIALIZED"

out=$(T -M)
for mech in RSA-PKCS SHA256-RSA-PKCS SHA384-RSA-PKCS SHA512-RSA-PKCS RSA-PKCS-PSS SHA256-RSA-PKCS-PSS \
            SHA384-RSA-PKCS-PSS SHA512-RSA-PKCS-PSS ECDSA ECDSA-SHA256 ECDSA-SHA384 ECDSA-SHA512; do
  grep -qE "^ *$mech(,| *$)" <<<"$out" || fail "-M: $mech missing: $out"
done
[[ $(grep -c 'sign' <<<"$out") == 12 ]] || fail "-M: expected exactly 12 signing mechanisms: $out"
pass "pkcs11-tool -M lists the 12 mechanisms"

out=$(T -O)
for l in issuing-ca ec-ca; do
  [[ $(grep -c "label: *$l\$" <<<"$out") == 3 ]] || fail "-O: expected private key, public key and certificate labelled $l: $out"
done
grep -q 'Private Key Object; RSA' <<<"$out" || fail "-O: no RSA private key: $out"
grep -q 'Private Key Object; EC' <<<"$out" || fail "-O: no EC private key: $out"
grep -q 'Certificate Object' <<<"$out" || fail "-O: no certificate: $out"
pass "pkcs11-tool -O lists keys and certificates of issuing-ca and ec-ca"

# ---- certificates (and public keys) read back
T --read-object --type cert --label issuing-ca -o "$W/ca.der"
plain x509 -inform DER -in "$W/ca.der" -pubkey -noout >"$W/ca.pub"
T --read-object --type cert --label ec-ca -o "$W/ec.der"
plain x509 -inform DER -in "$W/ec.der" -pubkey -noout >"$W/ec.pub"
T --read-object --type pubkey --label issuing-ca -o "$W/ca-pub.der"
plain pkey -pubin -inform DER -in "$W/ca-pub.der" -out "$W/ca-pub.pem"
cmp -s "$W/ca.pub" "$W/ca-pub.pem" || fail "public key object differs from the certificate's key"
plain verify -CAfile "$EMU_ROOT" -partial_chain -untrusted "$EMU_ROOT" <(plain x509 -inform DER -in "$W/ca.der") >/dev/null \
  || fail "issuing-ca certificate does not chain to the emulator root"
pass "certificates and public keys read from the token"

# ---- every mechanism, verified by plain OpenSSL
RSA_ID=$(key_id issuing-ca); EC_ID=$(key_id ec-ca)
[[ -n $RSA_ID && -n $EC_ID && $RSA_ID != "$EC_ID" ]] || fail "no distinct CKA_ID for issuing-ca ($RSA_ID) and ec-ca ($EC_ID)"
printf 'hello from pkcs11-tool\n' >"$W/m"
declare -A DI_PREFIX=(
  [sha256]=3031300d060960864801650304020105000420
  [sha384]=3041300d060960864801650304020205000430
  [sha512]=3051300d060960864801650304020305000440)
n=0
for md in sha256 sha384 sha512; do
  MD=${md^^}
  plain dgst -$md -binary "$W/m" >"$W/m.$md"
  # hashing mechanisms
  T --sign -m "$MD-RSA-PKCS" --id $RSA_ID -i "$W/m" -o "$W/s.rsa.$md"
  plain dgst -$md -verify "$W/ca.pub" -signature "$W/s.rsa.$md" "$W/m" >/dev/null || fail "$MD-RSA-PKCS does not verify"
  T --sign -m "$MD-RSA-PKCS-PSS" --id $RSA_ID -i "$W/m" -o "$W/s.pss.$md"
  plain dgst -$md -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify "$W/ca.pub" \
    -signature "$W/s.pss.$md" "$W/m" >/dev/null || fail "$MD-RSA-PKCS-PSS does not verify"
  T --sign -m "ECDSA-$MD" --signature-format openssl --id $EC_ID -i "$W/m" -o "$W/s.ec.$md"
  plain dgst -$md -verify "$W/ec.pub" -signature "$W/s.ec.$md" "$W/m" >/dev/null || fail "ECDSA-$MD does not verify"
  # raw mechanisms: the caller hashes (and builds the DigestInfo for RSA-PKCS)
  { xxd -r -p <<<"${DI_PREFIX[$md]}"; cat "$W/m.$md"; } >"$W/di.$md"
  T --sign -m RSA-PKCS --id $RSA_ID -i "$W/di.$md" -o "$W/s.raw.$md"
  plain dgst -$md -verify "$W/ca.pub" -signature "$W/s.raw.$md" "$W/m" >/dev/null || fail "RSA-PKCS over a $MD DigestInfo does not verify"
  T --sign -m RSA-PKCS-PSS --hash-algorithm "$MD" --mgf "MGF1-$MD" --salt-len -1 --id $RSA_ID \
    -i "$W/m.$md" -o "$W/s.rawpss.$md"
  plain dgst -$md -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify "$W/ca.pub" \
    -signature "$W/s.rawpss.$md" "$W/m" >/dev/null || fail "RSA-PKCS-PSS over a $MD digest does not verify"
  T --sign -m ECDSA --signature-format openssl --id $EC_ID -i "$W/m.$md" -o "$W/s.rawec.$md"
  plain dgst -$md -verify "$W/ec.pub" -signature "$W/s.rawec.$md" "$W/m" >/dev/null || fail "ECDSA over a $MD digest does not verify"
  n=$((n + 6))
done
# ECDSA signatures come back as r||s (64 bytes for P-256)
T --sign -m ECDSA-SHA256 --id $EC_ID -i "$W/m" -o "$W/s.rs"
[[ $(stat -c %s "$W/s.rs") == 64 ]] || fail "ECDSA P-256 signature is not 64 bytes of r||s"
pass "$n signatures with 12 mechanisms verified by plain OpenSSL"

# OpenSC's own self-test of the signing functions (C_Sign, C_SignUpdate/Final,
# size queries; signatures checked by pkcs11-tool with OpenSSL). It counts the
# missing C_GenerateRandom as an error, so only its signature section counts.
out=$(T --test 2>&1 || true)
grep -q 'all 4 signature functions seem to work' <<<"$out" || fail "pkcs11-tool --test: signature functions: $out"
grep -q 'RSA-PKCS: OK' <<<"$out" && grep -q 'SHA256-RSA-PKCS: OK' <<<"$out" || fail "pkcs11-tool --test: mechanisms: $out"
grep -qi 'ERR:.*C_Sign\|signature.*failed' <<<"$out" && fail "pkcs11-tool --test reports signing errors: $out"
pass "pkcs11-tool --test: signature functions and mechanisms OK"

# PSS with a salt length the service cannot produce: CKR_MECHANISM_PARAM_INVALID
expect_fail CKR_MECHANISM_PARAM_INVALID T --sign -m SHA256-RSA-PKCS-PSS --salt-len 20 --id $RSA_ID -i "$W/m" -o "$W/bad"
# mechanism of the wrong key type
expect_fail CKR_KEY_TYPE_INCONSISTENT T --sign -m ECDSA-SHA256 --id $RSA_ID -i "$W/m" -o "$W/bad"
pass "bad PSS parameters and wrong key types are refused"

# ---- the RA key (local file), on its own token
R() { pkcs11-tool --module "$M" --token-label "dcpki RA" "$@"; }
out=$(R -O)
[[ $(grep -c 'label: *ra$' <<<"$out") == 3 ]] || fail "RA token: expected key, public key and certificate: $out"
R --read-object --type cert --label ra -o "$W/ra.der"
plain x509 -inform DER -in "$W/ra.der" -out "$W/ra-token.pem"
cmp -s <(plain x509 -in "$RUN/ra.pem" -outform DER) "$W/ra.der" || fail "RA certificate on the token differs from ra.pem"
plain x509 -in "$RUN/ra.pem" -pubkey -noout >"$W/ra.pub"
R --sign -m SHA256-RSA-PKCS -i "$W/m" -o "$W/s.ra"
plain dgst -sha256 -verify "$W/ra.pub" -signature "$W/s.ra" "$W/m" >/dev/null || fail "RA SHA256-RSA-PKCS does not verify"
R --sign -m SHA384-RSA-PKCS-PSS -i "$W/m" -o "$W/s.ra.pss"
plain dgst -sha384 -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -verify "$W/ra.pub" \
  -signature "$W/s.ra.pss" "$W/m" >/dev/null || fail "RA SHA384-RSA-PKCS-PSS does not verify"
R --sign -m RSA-PKCS -i "$W/di.sha256" -o "$W/s.ra.raw"
plain dgst -sha256 -verify "$W/ra.pub" -signature "$W/s.ra.raw" "$W/m" >/dev/null || fail "RA RSA-PKCS does not verify"
pass "the RA key signs locally (PKCS#1, PSS, raw DigestInfo)"

# ---- private keys never leave. pkcs11-tool 0.23 answers "--read-object --type
# privkey" with "sorry, reading private keys not (yet) supported" and exit 0, so
# what counts is that nothing was written; p11-pykcs11 checks the attributes
# themselves (CKR_ATTRIBUTE_SENSITIVE).
for l in issuing-ca ec-ca; do
  rm -f "$W/leak"
  T --read-object --type privkey --label $l -o "$W/leak" >/dev/null 2>&1 || true
  [[ ! -s $W/leak ]] || fail "private key $l was exported"
done
rm -f "$W/leak"
R --read-object --type privkey --label ra -o "$W/leak" >/dev/null 2>&1 || true
[[ ! -s $W/leak ]] || fail "RA private key was exported"
out=$(T -O --type privkey)
[[ $(grep -c 'Access: *sensitive, always sensitive, never extractable' <<<"$out") == 2 ]] \
  || fail "private keys must be sensitive and never extractable: $out"
pass "private keys cannot be read"

# ---- failures: service unreachable → tokens still listed, objects CKR_DEVICE_ERROR
port=$(free_port)
write_conf "$W/down.conf" "signing.url=https://127.0.0.1:$port"
DCPKI_CONF=$W/down.conf pkcs11-tool --module "$M" -L | grep -q 'dcpki signing' || fail "tokens must be listed while the service is down"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/down.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" --token-label "dcpki signing" -O
grep -qF "could not connect to the service" <<<"$LAST_OUTPUT" || fail "catalogue message not logged with DCPKI_DEBUG: $LAST_OUTPUT"
grep -q CKR_DEVICE_REMOVED <<<"$LAST_OUTPUT" && fail "CKR_DEVICE_REMOVED used for a transient failure"
# the RA token does not need the service
DCPKI_CONF=$W/down.conf pkcs11-tool --module "$M" --token-label "dcpki RA" -O | grep -q 'label: *ra$' \
  || fail "RA token objects need no service"
# no configuration at all: tokens listed, objects CKR_DEVICE_ERROR
DCPKI_CONF=$W/missing.conf pkcs11-tool --module "$M" -L | grep -q 'dcpki RA' || fail "tokens must be listed without a configuration"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/missing.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" --token-label "dcpki RA" -O
grep -qF "the configuration file cannot be read" <<<"$LAST_OUTPUT" || fail "catalogue message for a missing config not logged: $LAST_OUTPUT"
pass "service down / no configuration: tokens listed, CKR_DEVICE_ERROR with the catalogue message"

# ---- the service answers 503 to every signature: CKR_DEVICE_ERROR, never DEVICE_REMOVED
start_private_emulator
echo '{"status": 503, "path_contains": "/sign", "retry_after": 0}' >"$PRIV_STATE/faults.json"
expect_fail CKR_DEVICE_ERROR env DCPKI_CONF="$W/priv.conf" DCPKI_DEBUG=1 pkcs11-tool --module "$M" \
  --token-label "dcpki signing" --sign -m SHA256-RSA-PKCS --id $RSA_ID -i "$W/m" -o "$W/bad"
grep -qF "the service is unavailable" <<<"$LAST_OUTPUT" || fail "503: catalogue message not logged: $LAST_OUTPUT"
rm -f "$PRIV_STATE/faults.json"
DCPKI_CONF=$W/priv.conf pkcs11-tool --module "$M" --token-label "dcpki signing" --sign -m SHA256-RSA-PKCS \
  --id $RSA_ID -i "$W/m" -o "$W/s.after" >/dev/null 2>&1 || fail "signing after the fault cleared failed"
plain dgst -sha256 -verify "$W/ca.pub" -signature "$W/s.after" "$W/m" >/dev/null || fail "signature after fault does not verify"
pass "503 from the service: CKR_DEVICE_ERROR with the catalogue message; works again afterwards"

#!/bin/bash
# NSS: modutil registers dcpki-pkcs11 in an NSS database, certutil sees both
# tokens, the certificates as user certificates (key on the token) and the
# keys; `certutil -C` issues certificates with the remote CA keys (RSA
# PKCS#1 v1.5, RSA-PSS, ECDSA), each verified by plain OpenSSL up to the
# emulator root. Skipped (77) without NSS's tools (libnss3-tools).
source "$DCPKI_SRC/tests/integration/lib.sh"
M=$P11MOD
[[ -f $M ]] || fail "module not built: $M"
command -v certutil >/dev/null && command -v modutil >/dev/null \
  || { echo "SKIP: NSS tools (libnss3-tools) not installed"; exit 77; }

DB=sql:$W/nssdb
mkdir -p "$W/nssdb"
certutil -N -d "$DB" --empty-password
modutil -force -dbdir "$DB" -add dcpki -libfile "$M" </dev/null >/dev/null
out=$(modutil -dbdir "$DB" -list dcpki </dev/null 2>&1)
grep -q 'Token Name: dcpki RA ' <<<"$out" && grep -q 'Token Name: dcpki signing ' <<<"$out" || fail "modutil: tokens not listed: $out"

out=$(certutil -L -d "$DB" -h all)
for n in "dcpki signing:issuing-ca" "dcpki signing:ec-ca" "dcpki RA:ra"; do
  grep -qE "^$n +u,u,u\$" <<<"$out" || fail "certutil -L: $n is not a user certificate (key not matched): $out"
done
out=$(certutil -K -d "$DB" -h "dcpki signing")
grep -qE '> rsa +[0-9a-f]+ +issuing-ca$' <<<"$out" && grep -qE '> ec +[0-9a-f]+ +ec-ca$' <<<"$out" \
  || fail "certutil -K: keys not listed: $out"
pass "NSS: both tokens, user certificates and keys"

plain req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/leaf.key" -subj "/CN=nss leaf" \
  -outform DER -out "$W/leaf.csr" 2>/dev/null
serial=1000
for v in "issuing-ca:" "issuing-ca:--pss-sign" "ec-ca:"; do
  ca=${v%%:*} opt=${v#*:}; serial=$((serial + 1))
  certutil -L -d "$DB" -n "dcpki signing:$ca" -a >"$W/$ca.pem"
  certutil -C -d "$DB" -c "dcpki signing:$ca" -i "$W/leaf.csr" -o "$W/leaf-$serial.der" -m $serial -v 12 \
    -Z SHA256 $opt >"$W/certutil-$serial.log" 2>&1 || fail "certutil -C with $ca $opt failed: $(cat "$W/certutil-$serial.log")"
  plain x509 -inform DER -in "$W/leaf-$serial.der" -out "$W/leaf-$serial.pem"
  plain verify -CAfile "$EMU_ROOT" -untrusted "$W/$ca.pem" "$W/leaf-$serial.pem" >/dev/null \
    || fail "certificate issued by NSS with $ca $opt does not verify"
  if [[ $opt == --pss-sign ]]; then
    plain x509 -in "$W/leaf-$serial.pem" -noout -text | grep -q 'Signature Algorithm: rsassaPss' || fail "--pss-sign: not RSA-PSS"
  fi
done
pass "certutil -C issued certificates with the remote keys (RSA, RSA-PSS, ECDSA), verified by OpenSSL"

#!/bin/bash
# Java SunPKCS11 (the consumer that fails on missing attributes): keytool lists
# the remote keys as private key entries with their certificates, jarsigner
# signs a jar with the RSA and the EC remote key, `jarsigner -verify` accepts
# both and plain OpenSSL verifies each signature block up to the emulator root.
# Skipped (77) where no JDK is installed.
source "$DCPKI_SRC/tests/integration/lib.sh"
M=$P11MOD
[[ -f $M ]] || fail "module not built: $M"
command -v keytool >/dev/null && command -v jarsigner >/dev/null && command -v jar >/dev/null \
  || { echo "SKIP: no JDK (keytool, jarsigner, jar)"; exit 77; }

printf 'name = dcpki\nlibrary = %s\nslot = 1\n' "$M" >"$W/sunpkcs11.cfg"
KS=(-keystore NONE -storetype PKCS11 -addprovider SunPKCS11 -providerArg "$W/sunpkcs11.cfg" -storepass none)

out=$(keytool -list "${KS[@]}" 2>&1) || fail "keytool -list failed: $out"
grep -q 'Your keystore contains 2 entries' <<<"$out" || fail "keytool: expected the 2 remote keys: $out"
grep -q '^issuing-ca, PrivateKeyEntry' <<<"$out" || fail "keytool: issuing-ca is not a private key entry: $out"
grep -q '^ec-ca, PrivateKeyEntry' <<<"$out" || fail "keytool: ec-ca is not a private key entry: $out"
pass "keytool (SunPKCS11) lists issuing-ca and ec-ca as private key entries"

echo "signed by a remote key through SunPKCS11" >"$W/a.txt"
(cd "$W" && jar cf t.jar a.txt)
for k in issuing-ca:ISSUING-.RSA ec-ca:EC-CA.EC; do
  alias=${k%%:*} block=${k#*:}
  cp "$W/t.jar" "$W/$alias.jar"
  jarsigner "${KS[@]}" "$W/$alias.jar" "$alias" >"$W/$alias.log" 2>&1 || fail "jarsigner with $alias failed: $(cat "$W/$alias.log")"
  jarsigner -verify "$W/$alias.jar" 2>&1 | grep -q '^jar verified\.' || fail "jarsigner -verify rejects the jar signed with $alias"
  rm -rf "$W/x-$alias"; mkdir "$W/x-$alias"
  (cd "$W/x-$alias" && jar xf "$W/$alias.jar" "META-INF/$block" "META-INF/${block%.*}.SF")
  plain cms -verify -inform DER -in "$W/x-$alias/META-INF/$block" -content "$W/x-$alias/META-INF/${block%.*}.SF" \
    -binary -CAfile "$EMU_ROOT" -purpose any -out /dev/null 2>"$W/$alias.cms" \
    || fail "OpenSSL does not verify the $alias signature block: $(cat "$W/$alias.cms")"
done
pass "jarsigner signed with the RSA and EC remote keys; jarsigner and OpenSSL verify both"

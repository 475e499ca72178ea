#!/bin/bash
# p11-kit, as the issue promises it: after `cmake --install BUILD --prefix P`,
# P/share/p11-kit/modules/dcpki.module names P/lib/pkcs11/dcpki-pkcs11.so; with
# that registration in p11-kit's (user) module directory `p11-kit list-modules`
# shows dcpki and its two tokens; the module works through p11-kit-proxy.so;
# `critical: no` keeps p11-kit working when dcpki cannot be configured.
source "$DCPKI_SRC/tests/integration/lib.sh"
[[ -f $P11MOD ]] || fail "module not built: $P11MOD"

# p11-kit ignores user configuration in programs run by root, so as root the
# p11-kit consumers below run as nobody. Everything they read lives in a private
# directory under /tmp (the build tree may not be reachable for nobody): the
# installed prefix, the registration, copies of the trust bundle, RA key and
# API key (the shared ones are readable by root only).
U=$(mktemp -d /tmp/dcpki-p11kit.XXXXXX)
trap 'rm -rf "$U"; _cleanup' EXIT
P=$U/prefix
cmake --install "$DCPKI_BUILD" --prefix "$P" >"$W/install.log" 2>&1 || fail "cmake --install failed: $(tail -5 "$W/install.log")"
M=$P/lib/pkcs11/dcpki-pkcs11.so
reg=$P/share/p11-kit/modules/dcpki.module
[[ -f $M ]] || fail "cmake --install put no lib/pkcs11/dcpki-pkcs11.so under the prefix"
[[ -f $reg ]] || fail "cmake --install put no share/p11-kit/modules/dcpki.module under the prefix"
grep -qxF "module: $M" "$reg" \
  || fail "installed dcpki.module does not name the installed module $M: $(grep module: "$reg") (pkcs11/CMakeLists.txt must write it at install time, for the prefix given to cmake --install)"
grep -qx 'critical: no' "$reg" || fail "dcpki.module: not marked critical: no"
pass "cmake --install --prefix: module and registration naming it"

mkdir -p "$U/xdg/pkcs11/modules"
cp "$reg" "$U/xdg/pkcs11/modules/dcpki.module"
cp "$RUN/ra.key" "$U/ra.key"; cp "$RUN/ra.pem" "$U/ra.pem"; cp "$EMU_APIKEY" "$U/api-key"; cp "$EMU_TRUST" "$U/trust.pem"
write_conf "$U/dcpki.conf" "ra.key=$U/ra.key" "ra.certificate=$U/ra.pem" "signing.api_key_file=$U/api-key" "ca.trust=$U/trust.pem"
if [[ $(id -u) == 0 ]]; then
  chown -R nobody: "$U"; chmod 700 "$U"
  run() { (cd "$U" && setpriv --reuid=nobody --regid=nogroup --clear-groups \
            env HOME="$U" XDG_CONFIG_HOME="$U/xdg" DCPKI_CONF="${UCONF:-$U/dcpki.conf}" OPENSSL_CONF=/dev/null "$@"); }
else
  run() { env XDG_CONFIG_HOME="$U/xdg" DCPKI_CONF="${UCONF:-$U/dcpki.conf}" OPENSSL_CONF=/dev/null "$@"; }
fi
out=$(run p11-kit list-modules 2>&1)
awk '/^dcpki:/{m=1} m' <<<"$out" >"$W/mods"
grep -q "^dcpki: $M" "$W/mods" || fail "p11-kit list-modules does not show dcpki: $out"
grep -q 'token: dcpki RA' "$W/mods" || fail "p11-kit list-modules: no dcpki RA token: $out"
grep -q 'token: dcpki signing' "$W/mods" || fail "p11-kit list-modules: no dcpki signing token: $out"
pass "p11-kit list-modules lists dcpki with its two tokens"

# ---- through p11-kit-proxy.so (all registered modules behind one)
PROXY=$(pkg-config --variable=proxy_module p11-kit-1 2>/dev/null || true)
[[ -f $PROXY ]] || PROXY=/usr/lib/$(gcc -dumpmachine)/p11-kit-proxy.so
[[ -f $PROXY ]] || fail "p11-kit-proxy.so not found"
P() { run pkcs11-tool --module "$PROXY" --token-label "dcpki signing" "$@"; }
run pkcs11-tool --module "$PROXY" -L | grep -q 'dcpki signing' || fail "proxy: dcpki signing token not listed"
P -O | grep -q 'label: *issuing-ca$' || fail "proxy: issuing-ca not listed"
P --read-object --type cert --label issuing-ca -o "$U/ca.der"
plain x509 -inform DER -in "$U/ca.der" -pubkey -noout >"$W/ca.pub"
id=$(P -O --type privkey | awk '$1 == "label:" { hit = ($2 == "issuing-ca") } hit && $1 == "ID:" { print $2; exit }')
echo "through the proxy" >"$U/m"
P --sign -m SHA256-RSA-PKCS --id "$id" -i "$U/m" -o "$U/s"
plain dgst -sha256 -verify "$W/ca.pub" -signature "$U/s" "$U/m" >/dev/null || fail "proxy: signature does not verify"
run pkcs11-tool --module "$PROXY" --token-label "dcpki RA" -O | grep -q 'label: *ra$' || fail "proxy: RA objects not listed"
pass "p11-kit-proxy.so: tokens, objects and a verified signature"

# ---- critical: no — a broken dcpki configuration never breaks p11-kit
out=$(UCONF=$U/none.conf run p11-kit list-modules 2>&1) || fail "p11-kit list-modules failed without a dcpki configuration: $out"
grep -q "^dcpki: $M" <<<"$out" || fail "dcpki missing from p11-kit list-modules without a configuration"
pass "without a configuration p11-kit still lists dcpki (objects load at first use)"

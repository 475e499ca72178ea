#!/bin/bash
# GnuTLS: p11tool lists the tokens and objects and exports certificates by
# pkcs11: URI; certtool issues certificates with the remote CA keys named by
# pkcs11: URIs (RSA PKCS#1 v1.5, RSA-PSS, ECDSA), each verified by plain
# OpenSSL up to the emulator's root.
source "$DCPKI_SRC/tests/integration/lib.sh"
M=$P11MOD
[[ -f $M ]] || fail "module not built: $M"
TOK='pkcs11:token=dcpki%20signing'

out=$(p11tool --provider "$M" --list-tokens)
grep -q 'Label: dcpki RA' <<<"$out" || fail "p11tool --list-tokens: no dcpki RA: $out"
grep -q 'Label: dcpki signing' <<<"$out" || fail "p11tool --list-tokens: no dcpki signing: $out"

out=$(p11tool --provider "$M" --list-all "$TOK")
for l in issuing-ca ec-ca; do
  for t in private public cert; do
    grep -q "object=$l;type=$t\$" <<<"$out" || fail "p11tool --list-all: no $t object for $l: $out"
  done
done
grep -q 'Type: Private key (RSA-2048)' <<<"$out" || fail "p11tool: RSA key type/size not shown: $out"
grep -q 'Type: Private key (EC/ECDSA-SECP256R1)' <<<"$out" || fail "p11tool: EC curve not shown: $out"
[[ $(grep -c 'Flags: CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE;' <<<"$out") == 2 ]] || fail "p11tool: private keys not sensitive: $out"
out=$(p11tool --provider "$M" --list-all-certs "$TOK")
grep -q 'dcpki emulator root CA' <<<"$out" || fail "p11tool: chain certificate (root) not listed: $out"
pass "p11tool lists tokens, keys (sensitive) and certificates incl. the chain"

p11tool --provider "$M" --export "$TOK;object=issuing-ca;type=cert" >"$W/ca.pem"
p11tool --provider "$M" --export "$TOK;object=ec-ca;type=cert" >"$W/ec.pem"
plain verify -CAfile "$EMU_ROOT" "$W/ca.pem" >/dev/null || fail "exported issuing-ca certificate does not verify"
plain verify -CAfile "$EMU_ROOT" "$W/ec.pem" >/dev/null || fail "exported ec-ca certificate does not verify"
pass "p11tool --export by pkcs11: URI"

certtool --generate-privkey --key-type rsa --bits 2048 --outfile "$W/leaf.key" 2>/dev/null
cat >"$W/tmpl" <<EOF
cn = "leaf.p11.test"
serial = 4242
expiration_days = 30
dns_name = "leaf.p11.test"
tls_www_server
signing_key
encryption_key
EOF
issue() { # name ca-alias ca-cert [certtool args...]
  local name=$1 alias=$2 cacert=$3; shift 3
  certtool --provider "$M" --generate-certificate --load-privkey "$W/leaf.key" \
    --load-ca-privkey "$TOK;object=$alias;type=private" --load-ca-certificate "$cacert" \
    --template "$W/tmpl" --outfile "$W/$name.pem" "$@" >"$W/$name.log" 2>&1 \
    || fail "certtool with $alias ($*) failed: $(cat "$W/$name.log")"
  plain verify -CAfile "$EMU_ROOT" -untrusted "$cacert" "$W/$name.pem" >/dev/null \
    || fail "certificate signed by $alias ($*) does not verify"
}
issue leaf-rsa issuing-ca "$W/ca.pem"
plain x509 -in "$W/leaf-rsa.pem" -noout -text | grep -q 'Signature Algorithm: sha256WithRSAEncryption' || fail "leaf-rsa: not sha256WithRSAEncryption"
issue leaf-pss issuing-ca "$W/ca.pem" --sign-params RSA-PSS
plain x509 -in "$W/leaf-pss.pem" -noout -text | grep -q 'Signature Algorithm: rsassaPss' || fail "leaf-pss: not RSA-PSS"
issue leaf-ec ec-ca "$W/ec.pem" --hash SHA384
plain x509 -in "$W/leaf-ec.pem" -noout -text | grep -q 'Signature Algorithm: ecdsa-with-SHA384' || fail "leaf-ec: not ecdsa-with-SHA384"
pass "certtool issued certificates with remote keys by pkcs11: URI (RSA, RSA-PSS, ECDSA), verified by OpenSSL"

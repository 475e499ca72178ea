#!/bin/bash
# Plain OpenSSL commands sign with remote keys through the dcpki provider
# (RSA PKCS#1 v1.5, RSA-PSS, ECDSA; SHA-256/384/512); every output is checked
# by plain OpenSSL without the provider. Also: the RA key used as if local.
source "$(dirname "$0")/lib.sh"
cd "$W"

firstcert() { awk '/-----BEGIN CERTIFICATE-----/{n++} n==1{print} /-----END CERTIFICATE-----/{if(n==1)exit}'; }
# CA certificate + chain of the remote keys, from the store loader
openssl storeutl -certs dcpki:key=issuing-ca >rsa-all.txt || fail "storeutl -certs dcpki:key=issuing-ca"
firstcert <rsa-all.txt >rsa-ca.pem
grep -q 'BEGIN CERT' rsa-ca.pem || fail "no certificate for issuing-ca"
sed -n '/BEGIN CERT/,/END CERT/p' rsa-all.txt >rsa-chain.pem
openssl storeutl -certs dcpki:key=ec-ca | firstcert >ec-ca.pem
grep -q 'BEGIN CERT' ec-ca.pem || fail "no certificate for ec-ca"
plain x509 -in rsa-ca.pem -noout -subject | grep -q "issuing CA" || fail "issuing-ca certificate has the wrong subject"
plain x509 -in rsa-ca.pem -pubkey -noout >rsa.pub
plain x509 -in ec-ca.pem -pubkey -noout >ec.pub
pass "store loader returns the remote keys' certificates"

V() { plain verify -CAfile "$EMU_ROOT" -untrusted "$1" "$2" | grep -q ': OK' || fail "verify $2 against $1"; }
sigalg() { plain x509 -in "$1" -noout -text | grep -m1 'Signature Algorithm' | sed 's/.*: //; s/[[:space:]]*$//'; }
crlsigalg() { plain crl -in "$1" -noout -text | grep -m1 'Signature Algorithm' | sed 's/.*: //; s/[[:space:]]*$//'; }
expect_alg() { [[ $(sigalg "$1") == "$2" ]] || fail "$1 is signed with $(sigalg "$1"), expected $2"; }

# suite TAG : every command below, under the current OPENSSL_CONF, in $W/TAG
suite() {
  local tag=$1
  mkdir -p "$W/$tag"; cd "$W/$tag"
  cp "$W"/rsa-ca.pem "$W"/rsa-chain.pem "$W"/ec-ca.pem "$W"/rsa.pub "$W"/ec.pub .
  # a leaf CSR made with an ordinary (local) key under the same configuration
  openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout leaf.key \
    -subj "/CN=leaf.example" -out leaf.csr 2>/dev/null || fail "ordinary CSR"

  mkdir -p ca/newcerts; : >ca/index.txt; echo 1000 >ca/serial; echo 01 >ca/crlnumber
  cat >ca.cnf <<CNF
[ca]
default_ca = d
[d]
dir = $W/$tag/ca
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = default
default_days = 30
default_crl_days = 1
policy = p
unique_subject = no
[p]
commonName = supplied
CNF

  # openssl ca: RSA PKCS#1 (default_md = default: the key's default digest), RSA-PSS, EC
  openssl ca -batch -config ca.cnf -cert rsa-ca.pem -keyfile dcpki:key=issuing-ca -in leaf.csr -out c-ca-rsa.pem -notext \
    || fail "openssl ca (RSA)"
  V rsa-ca.pem c-ca-rsa.pem; expect_alg c-ca-rsa.pem sha256WithRSAEncryption
  openssl ca -batch -config ca.cnf -cert rsa-ca.pem -keyfile dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss \
    -md sha384 -in leaf.csr -out c-ca-pss.pem -notext || fail "openssl ca (RSA-PSS)"
  V rsa-ca.pem c-ca-pss.pem; expect_alg c-ca-pss.pem rsassaPss
  plain x509 -in c-ca-pss.pem -noout -text | grep -q 'Salt Length: 0x30' || fail "PSS salt length is not the SHA-384 length"
  openssl ca -batch -config ca.cnf -cert ec-ca.pem -keyfile dcpki:key=ec-ca -in leaf.csr -out c-ca-ec.pem -notext \
    || fail "openssl ca (EC)"
  V ec-ca.pem c-ca-ec.pem; expect_alg c-ca-ec.pem ecdsa-with-SHA256
  pass "[$tag] openssl ca with RSA, RSA-PSS and EC remote keys"

  # openssl ca -gencrl (after a revocation, so the CRL has an entry)
  openssl ca -config ca.cnf -cert rsa-ca.pem -keyfile dcpki:key=issuing-ca -revoke c-ca-rsa.pem 2>/dev/null || fail "ca -revoke"
  openssl ca -gencrl -config ca.cnf -cert rsa-ca.pem -keyfile dcpki:key=issuing-ca -out crl-rsa.pem || fail "ca -gencrl (RSA)"
  plain crl -in crl-rsa.pem -CAfile rsa-ca.pem -noout 2>&1 | grep -q 'verify OK' || fail "RSA CRL does not verify"
  openssl ca -gencrl -config ca.cnf -cert rsa-ca.pem -keyfile dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss \
    -out crl-pss.pem || fail "ca -gencrl (PSS)"
  plain crl -in crl-pss.pem -CAfile rsa-ca.pem -noout 2>&1 | grep -q 'verify OK' || fail "PSS CRL does not verify"
  [[ $(crlsigalg crl-pss.pem) == rsassaPss ]] || fail "PSS CRL algorithm is $(crlsigalg crl-pss.pem)"
  openssl ca -gencrl -config ca.cnf -cert ec-ca.pem -keyfile dcpki:key=ec-ca -md sha512 -out crl-ec.pem || fail "ca -gencrl (EC)"
  plain crl -in crl-ec.pem -CAfile ec-ca.pem -noout 2>&1 | grep -q 'verify OK' || fail "EC CRL does not verify"
  [[ $(crlsigalg crl-ec.pem) == ecdsa-with-SHA512 ]] || fail "EC CRL algorithm is $(crlsigalg crl-ec.pem)"
  pass "[$tag] openssl ca -gencrl with RSA, RSA-PSS and EC"

  # openssl x509 -req -CA -CAkey
  openssl x509 -req -in leaf.csr -CA rsa-ca.pem -CAkey dcpki:key=issuing-ca -CAcreateserial -days 5 -out c-x509-rsa.pem \
    || fail "x509 -req (RSA)"
  V rsa-ca.pem c-x509-rsa.pem; expect_alg c-x509-rsa.pem sha256WithRSAEncryption
  openssl x509 -req -in leaf.csr -CA rsa-ca.pem -CAkey dcpki:key=issuing-ca -CAcreateserial -days 5 -sha512 \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out c-x509-pss.pem || fail "x509 -req (PSS)"
  V rsa-ca.pem c-x509-pss.pem; expect_alg c-x509-pss.pem rsassaPss
  openssl x509 -req -in leaf.csr -CA ec-ca.pem -CAkey dcpki:key=ec-ca -CAcreateserial -days 5 -sha384 -out c-x509-ec.pem \
    || fail "x509 -req (EC)"
  V ec-ca.pem c-x509-ec.pem; expect_alg c-x509-ec.pem ecdsa-with-SHA384
  pass "[$tag] openssl x509 -req -CA -CAkey with RSA, RSA-PSS and EC"

  # openssl req -x509 -key (self-signed with the remote key)
  openssl req -x509 -key dcpki:key=ec-ca -subj /CN=selfsigned-ec -days 2 -out ss-ec.pem || fail "req -x509 (EC)"
  plain verify -CAfile ss-ec.pem ss-ec.pem | grep -q ': OK' || fail "self-signed EC does not verify"
  openssl req -x509 -key dcpki:key=issuing-ca -subj /CN=selfsigned-rsa -days 2 -out ss-rsa.pem || fail "req -x509 (RSA)"
  plain verify -CAfile ss-rsa.pem ss-rsa.pem | grep -q ': OK' || fail "self-signed RSA does not verify"
  openssl req -x509 -key dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss -subj /CN=selfsigned-pss -days 2 -out ss-pss.pem \
    || fail "req -x509 (PSS)"
  plain verify -CAfile ss-pss.pem ss-pss.pem | grep -q ': OK' || fail "self-signed PSS does not verify"
  expect_alg ss-pss.pem rsassaPss
  pass "[$tag] openssl req -x509 -key with RSA, RSA-PSS and EC"

  # openssl dgst -sign
  head -c 100000 /dev/urandom >msg
  openssl dgst -sha256 -sign dcpki:key=issuing-ca -out m-rsa.sig msg || fail "dgst -sign (RSA)"
  plain dgst -sha256 -verify rsa.pub -signature m-rsa.sig msg | grep -q 'Verified OK' || fail "RSA dgst signature"
  openssl dgst -sha384 -sign dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -out m-pss.sig msg \
    || fail "dgst -sign (PSS)"
  plain dgst -sha384 -verify rsa.pub -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest -signature m-pss.sig msg \
    | grep -q 'Verified OK' || fail "PSS dgst signature"
  openssl dgst -sha512 -sign dcpki:key=ec-ca -out m-ec.sig msg || fail "dgst -sign (EC)"
  plain dgst -sha512 -verify ec.pub -signature m-ec.sig msg | grep -q 'Verified OK' || fail "EC dgst signature"
  # the numeric salt lengths of OpenSSL's docs and scripts: -1 = digest; -3 = max (not what the service does)
  openssl dgst -sha256 -sign dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -out m-pss1.sig msg \
    || fail "dgst -sign (PSS, rsa_pss_saltlen:-1)"
  plain dgst -sha256 -verify rsa.pub -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:32 -signature m-pss1.sig msg \
    | grep -q 'Verified OK' || fail "PSS dgst signature with rsa_pss_saltlen:-1"
  openssl req -x509 -key dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-1 -subj /CN=pss-1 \
    -days 2 -out ss-pss1.pem || fail "req -x509 (PSS, rsa_pss_saltlen:-1)"
  plain verify -CAfile ss-pss1.pem ss-pss1.pem | grep -q ': OK' || fail "self-signed PSS (saltlen -1) does not verify"
  expect_fail "salt as long as the digest" openssl dgst -sha256 -sign dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:-3 -out m-pss3.sig msg
  expect_fail "not a number or a known keyword" openssl dgst -sha256 -sign dcpki:key=issuing-ca \
    -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:-7 -out m-pss7.sig msg
  # verification through the provider (local, from the public key) agrees
  openssl dgst -sha512 -prverify dcpki:key=ec-ca -signature m-ec.sig msg | grep -q 'Verified OK' || fail "EC -prverify"
  pass "[$tag] openssl dgst -sign with RSA, RSA-PSS and EC"

  # openssl pkeyutl -sign on a ready hash
  plain dgst -sha256 -binary msg >msg.sha256
  openssl pkeyutl -sign -inkey dcpki:key=issuing-ca -pkeyopt digest:sha256 -in msg.sha256 -out p-rsa.sig || fail "pkeyutl (RSA)"
  plain pkeyutl -verify -pubin -inkey rsa.pub -pkeyopt digest:sha256 -in msg.sha256 -sigfile p-rsa.sig | grep -q 'Success' \
    || fail "pkeyutl RSA signature"
  openssl pkeyutl -sign -inkey dcpki:key=issuing-ca -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
    -pkeyopt rsa_pss_saltlen:digest -in msg.sha256 -out p-pss.sig || fail "pkeyutl (PSS)"
  plain pkeyutl -verify -pubin -inkey rsa.pub -pkeyopt digest:sha256 -pkeyopt rsa_padding_mode:pss \
    -pkeyopt rsa_pss_saltlen:digest -in msg.sha256 -sigfile p-pss.sig | grep -q 'Success' || fail "pkeyutl PSS signature"
  # verify-recover is local, from the dcpki key's public half
  openssl pkeyutl -verifyrecover -inkey dcpki:key=issuing-ca -pkeyopt digest:sha256 -in p-rsa.sig \
    -out p-rsa.rec || fail "pkeyutl -verifyrecover (RSA)"
  cmp -s p-rsa.rec msg.sha256 || fail "pkeyutl -verifyrecover did not give back the hash"
  openssl pkeyutl -sign -inkey dcpki:key=ec-ca -in msg.sha256 -out p-ec.sig || fail "pkeyutl (EC)"
  plain pkeyutl -verify -pubin -inkey ec.pub -in msg.sha256 -sigfile p-ec.sig | grep -q 'Success' || fail "pkeyutl EC signature"
  # PKCS#1 v1.5 without a digest signs the given bytes as they are (the service's NONEWithRSA)
  openssl pkeyutl -sign -inkey dcpki:key=issuing-ca -in msg.sha256 -out p-raw.sig || fail "pkeyutl (RSA, no digest)"
  plain pkeyutl -verify -pubin -inkey rsa.pub -in msg.sha256 -sigfile p-raw.sig | grep -q 'Success' || fail "raw RSA signature"
  expect_fail "RSA-PSS needs to know which digest" openssl pkeyutl -sign -inkey dcpki:key=issuing-ca \
    -pkeyopt rsa_padding_mode:pss -in msg.sha256 -out p-bad.sig
  pass "[$tag] openssl pkeyutl -sign with RSA, RSA-PSS and EC"

  # openssl cms -sign
  openssl cms -sign -in msg -binary -signer rsa-ca.pem -inkey dcpki:key=issuing-ca -outform DER -out m-rsa.p7s \
    || fail "cms -sign (RSA)"
  plain cms -verify -binary -inform DER -in m-rsa.p7s -content msg -CAfile "$EMU_ROOT" -certfile rsa-chain.pem \
    -purpose any -out /dev/null || fail "RSA CMS signature"
  openssl cms -sign -in msg -binary -signer rsa-ca.pem -inkey dcpki:key=issuing-ca -keyopt rsa_padding_mode:pss \
    -outform DER -out m-pss.p7s || fail "cms -sign (PSS)"
  plain cms -verify -binary -inform DER -in m-pss.p7s -content msg -CAfile "$EMU_ROOT" -certfile rsa-chain.pem \
    -purpose any -out /dev/null || fail "PSS CMS signature"
  plain cms -cmsout -print -inform DER -in m-pss.p7s | grep -q rsassaPss || fail "PSS CMS signature is not rsassaPss"
  openssl cms -sign -in msg -binary -signer ec-ca.pem -inkey dcpki:key=ec-ca -md sha384 -outform DER -out m-ec.p7s \
    || fail "cms -sign (EC)"
  plain cms -verify -binary -inform DER -in m-ec.p7s -content msg -CAfile "$EMU_ROOT" -certfile ec-ca.pem \
    -purpose any -out /dev/null || fail "EC CMS signature"
  pass "[$tag] openssl cms -sign with RSA, RSA-PSS and EC"

  # the RA key as if local: an RA CSR, signed locally (no signing-service call)
  openssl req -new -key dcpki:ra -subj "/CN=ra again" -out ra2.csr || fail "req -new -key dcpki:ra"
  plain req -in ra2.csr -verify -noout 2>&1 | grep -qi 'verify OK' || fail "RA CSR does not verify"
  [[ $(plain req -in ra2.csr -pubkey -noout) == $(plain x509 -in "$RUN/ra.pem" -pubkey -noout) ]] \
    || fail "RA CSR does not carry the RA public key"
  openssl storeutl -certs dcpki:ra | grep -q 'BEGIN CERTIFICATE' || fail "storeutl -certs dcpki:ra"
  pass "[$tag] openssl req -new -key dcpki:ra"
  cd "$W"
}

# the shipped configuration (default first, default_properties = ?provider=default)
suite shipped
# the acceptance check's configuration: default first, no default_properties
openssl_cnf_for "$W/accept.cnf" "$RUN/dcpki.conf" accept
OPENSSL_CONF=$W/accept.cnf suite accept

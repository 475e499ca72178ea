#!/bin/bash
# Public parts of remote keys are exportable; the private half never is.
# Key reference files: written by `openssl pkey -out`, read back as the key.
source "$(dirname "$0")/lib.sh"
cd "$W"
firstcert() { awk '/-----BEGIN CERTIFICATE-----/{n++} n==1{print} /-----END CERTIFICATE-----/{if(n==1)exit}'; }

for alias in issuing-ca ec-ca; do
  openssl storeutl -certs "dcpki:key=$alias" | firstcert >$alias.pem
  plain x509 -in $alias.pem -pubkey -noout >$alias.certpub
  openssl pkey -in "dcpki:key=$alias" -pubout -out $alias.pub || fail "pkey -pubout $alias"
  cmp -s $alias.pub $alias.certpub || fail "pkey -pubout of $alias differs from its certificate's key"
  # ;type=public names the public key object; -pubin loads it
  openssl pkey -pubin -in "dcpki:key=$alias;type=public" -out $alias.pub2 || fail "pkey -pubin ;type=public ($alias)"
  cmp -s $alias.pub2 $alias.certpub || fail "public object of $alias differs"
  openssl pkey -in "dcpki:key=$alias" -pubout -outform DER -out $alias.pub.der || fail "pkey -pubout DER $alias"
  plain pkey -pubin -inform DER -in $alias.pub.der -noout || fail "public DER of $alias"
done
openssl pkey -in dcpki:ra -pubout -out ra.pub || fail "pkey -in dcpki:ra -pubout"
cmp -s ra.pub <(plain x509 -in "$RUN/ra.pem" -pubkey -noout) || fail "RA public key differs from the RA certificate's"
pass "public keys export (remote RSA, remote EC, RA key)"

# every attempt to export a private key fails, and nothing private is written
# (pkcs8 reads only files: it gets a key reference file of the same key)
n=0
for uri in dcpki:key=issuing-ca dcpki:key=ec-ca dcpki:ra; do
  rm -f out.*
  n=$((n+1)); openssl pkey -in "$uri" -out kref$n.pem || fail "pkey -out (key reference of $uri)"
  msg="the private key cannot be exported"
  expect_fail "$msg" openssl pkey -in "$uri" -outform DER -out out.der
  expect_fail "$msg" openssl pkey -in kref$n.pem -outform DER -out out.der2
  expect_fail "$msg" openssl pkcs8 -topk8 -nocrypt -in kref$n.pem -out out.p8
  expect_fail "$msg" openssl pkcs8 -topk8 -in kref$n.pem -passout pass:x -out out.p8e
  case $uri in *issuing-ca) c=issuing-ca.pem ;; *ec-ca) c=ec-ca.pem ;; *) c=$RUN/ra.pem ;; esac
  expect_fail "$msg" openssl pkcs12 -export -inkey "$uri" -in "$c" -passout pass:x -out out.p12
  expect_fail "$msg" openssl pkey -in "$uri" -text -noout
  # the legacy (traditional) path cannot get the key out of the provider either
  ! openssl pkey -in "$uri" -traditional -out out.trad 2>/dev/null || fail "pkey -traditional exported $uri"
  # the public half prints
  openssl pkey -in "$uri" -text_pub -noout | grep -q 'Public-Key\|Modulus\|pub:' || fail "pkey -text_pub of $uri"
  for f in out.*; do
    [[ -e $f ]] || continue
    grep -q 'PRIVATE KEY' "$f" && fail "$f holds a private key of $uri"
  done
done
pass "private keys cannot be exported (DER, traditional, PKCS#8, PKCS#12, text)"

# key reference files: PEM, a URI inside, never key material
openssl pkey -in dcpki:key=issuing-ca -out ref-rsa.pem || fail "pkey -out ref (RSA)"
openssl pkey -in dcpki:key=ec-ca -out ref-ec.pem || fail "pkey -out ref (EC)"
for f in ref-rsa.pem ref-ec.pem; do
  head -1 $f | grep -qx -- '-----BEGIN DCPKI KEY REFERENCE-----' || fail "$f is not a key reference: $(head -2 $f)"
  ! grep -q 'PRIVATE KEY' $f || fail "$f holds a private key"
done
plain asn1parse -in ref-rsa.pem | grep -q 'UTF8STRING *:dcpki:key=issuing-ca$' || fail "ref-rsa.pem does not hold the URI"
[[ $(wc -c <ref-rsa.pem) -lt 300 ]] || fail "ref-rsa.pem is too large to hold only a URI"
# read back: public key, signatures
openssl pkey -in ref-rsa.pem -pubout | cmp -s - issuing-ca.certpub || fail "ref-rsa.pem is not issuing-ca"
openssl pkey -in ref-ec.pem -pubout | cmp -s - ec-ca.certpub || fail "ref-ec.pem is not ec-ca"
echo data >d
openssl dgst -sha256 -sign ref-ec.pem -out d.sig d || fail "dgst -sign ref-ec.pem"
plain dgst -sha256 -verify ec-ca.certpub -signature d.sig d | grep -q 'Verified OK' || fail "signature with ref-ec.pem"
openssl dgst -sha256 -sign ref-rsa.pem -keyform PEM -out d2.sig d || fail "dgst -sign ref-rsa.pem -keyform PEM"
plain dgst -sha256 -verify issuing-ca.certpub -signature d2.sig d | grep -q 'Verified OK' || fail "signature with ref-rsa.pem"
# the key reference of a key reference is the same reference
openssl pkey -in ref-rsa.pem -out ref-rsa2.pem || fail "pkey -in ref -out"
cmp -s ref-rsa.pem ref-rsa2.pem || fail "re-written key reference differs"
# the CLI's key reference reads the same way
if [[ -x $DCPKI ]] && "$DCPKI" keys ref ec-ca >cli-ref.pem 2>/dev/null; then
  openssl pkey -in cli-ref.pem -pubout | cmp -s - ec-ca.certpub || fail "dcpki keys ref output is not ec-ca"
fi
pass "key reference files: written by pkey -out, read by the decoder, used for signing"

# store details: ;type filters, certificates, a public object cannot sign
openssl storeutl -certs "dcpki:key=ec-ca;type=cert" | grep -c 'BEGIN CERTIFICATE' | grep -qv '^0$' || fail ";type=cert"
[[ $(openssl storeutl "dcpki:key=ec-ca;type=private" | grep -c 'BEGIN CERTIFICATE') == 0 ]] || fail ";type=private gave certificates"
openssl storeutl -keys dcpki:key=ec-ca >keys.txt || fail "storeutl -keys"
grep -q '^0: Pkey' keys.txt && grep -q 'BEGIN DCPKI KEY REFERENCE' keys.txt || fail "storeutl -keys: $(cat keys.txt)"
! grep -q 'PRIVATE KEY' keys.txt || fail "storeutl -keys printed a private key"
expect_fail "private key" openssl dgst -sha256 -sign "dcpki:key=ec-ca;type=public" -out x.sig d
pass "store ;type= filters and object kinds"

#!/bin/bash
# dcpki ra keygen | csr | import | show: the whole RA enrolment through the
# emulator's portal step, then the new RA identity used against the emulator.
source "$(dirname "$0")/lib.sh"

json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $1" "$2"; }
mode_of() { stat -c %a "$1"; }
thumb_of() { plain x509 -in "$1" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g'; }
no_temp_files() { ! ls -A "$1" | grep -q '^\.dcpki-tmp' || fail "temporary files left in $1: $(ls -A "$1")"; }

# ---- keygen
"$DCPKI" ra keygen --out "$W/ra.key" >"$W/out"
grep -qF "wrote a new RSA-2048 RA key to $W/ra.key (mode 0600)" "$W/out" || fail "keygen output: $(cat "$W/out")"
[[ $(mode_of "$W/ra.key") == 600 ]] || fail "key mode is $(mode_of "$W/ra.key"), not 600"
plain pkey -in "$W/ra.key" -check -noout >/dev/null 2>&1 || fail "the generated key does not check"
plain pkey -in "$W/ra.key" -text -noout | grep -q 'Private-Key: (2048 bit' || fail "the key is not RSA-2048"
no_temp_files "$W"
pass "ra keygen writes an RSA-2048 key with mode 0600"

sum1=$(sha256sum <"$W/ra.key")
fails1 "$DCPKI" ra keygen --out "$W/ra.key"
grep -qF "already exists and was left unchanged" <<<"$ERR" && grep -qF -- "--force" <<<"$ERR" || fail "overwrite message: $ERR"
[[ $(sha256sum <"$W/ra.key") == "$sum1" ]] || fail "the existing key was changed"
"$DCPKI" ra keygen --out "$W/ra.key" --force >/dev/null
[[ $(sha256sum <"$W/ra.key") != "$sum1" ]] || fail "--force did not replace the key"
[[ $(mode_of "$W/ra.key") == 600 ]] || fail "replaced key mode is not 600"
pass "ra keygen refuses to overwrite without --force"

"$DCPKI" --json ra keygen -o "$W/big.key" -b 3072 >"$W/k.json"
json 'assert d["bits"] == 3072 and d["algorithm"] == "RSA" and d["key"].endswith("/big.key"), d' "$W/k.json" || fail "keygen --json: $(cat "$W/k.json")"
plain pkey -in "$W/big.key" -text -noout | grep -q 'Private-Key: (3072 bit' || fail "--bits 3072 not honoured"
pass "ra keygen --bits --json"

# default path: [ra] key of the configuration
write_conf "$W/keygen.conf" "ra.key=$W/dflt.key"
"$DCPKI" --config "$W/keygen.conf" ra keygen >/dev/null
[[ -f $W/dflt.key && $(mode_of "$W/dflt.key") == 600 ]] || fail "keygen did not write [ra] key"
write_conf "$W/nokey.conf" "ra.key=" "ra.certificate="
fails1 "$DCPKI" --config "$W/nokey.conf" ra keygen
grep -qF "[ra] key is not set in $W/nokey.conf" <<<"$ERR" || fail "no [ra] key message: $ERR"
fails1 "$DCPKI" ra keygen --out "$W/no/such/dir/k.key"
grep -qF "cannot create a file in $W/no/such/dir" <<<"$ERR" || fail "missing dir message: $ERR"
pass "ra keygen defaults to [ra] key"

# ---- csr
"$DCPKI" ra csr --subject "CN=dcpki cli RA, E=ra@example.com" --key "$W/ra.key" --out "$W/ra.csr" >"$W/out"
grep -qF "wrote the RA certificate request for CN=dcpki cli RA, emailAddress=ra@example.com to $W/ra.csr" "$W/out" || fail "csr output: $(cat "$W/out")"
[[ $(head -1 "$W/ra.csr") == "-----BEGIN NEW CERTIFICATE REQUEST-----" ]] || fail "CSR label: $(head -1 "$W/ra.csr")"
[[ $(tail -1 "$W/ra.csr") == "-----END NEW CERTIFICATE REQUEST-----" ]] || fail "CSR end label"
plain req -in "$W/ra.csr" -verify -noout 2>&1 | grep -qi 'verify OK' || fail "openssl req does not verify the CSR"
plain req -in "$W/ra.csr" -noout -text >"$W/csr.txt"
grep -A1 'X509v3 Key Usage: critical' "$W/csr.txt" | grep -q 'Digital Signature, Key Encipherment$' || fail "key usage is not critical digitalSignature+keyEncipherment: $(cat "$W/csr.txt")"
grep -A1 'X509v3 Extended Key Usage' "$W/csr.txt" | grep -q 'TLS Web Client Authentication$' || fail "EKU is not clientAuth"
grep -q 'Signature Algorithm: sha256WithRSAEncryption' "$W/csr.txt" || fail "CSR not signed with SHA-256/RSA"
grep -q 'Public-Key: (2048 bit)' "$W/csr.txt" || fail "CSR key not RSA-2048"
# the CSR's key is the RA key
[[ $(plain req -in "$W/ra.csr" -pubkey -noout) == $(plain pkey -in "$W/ra.key" -pubout) ]] || fail "CSR public key differs from the RA key"
# key usage bits exactly 0xa0: BIT STRING 03 02 05 a0
plain req -in "$W/ra.csr" -outform DER | od -An -tx1 -v | tr -d ' \n' | grep -q '030205a0' || fail "key usage is not 0xa0"
# Windows / RFC 4514 order: most specific first -> encoded E then CN
[[ $(plain req -in "$W/ra.csr" -noout -subject -nameopt RFC2253) == "subject=CN=dcpki cli RA,emailAddress=ra@example.com" ]] || fail "subject: $(plain req -in "$W/ra.csr" -noout -subject -nameopt RFC2253)"
pass "ra csr: PEM NEW CERTIFICATE REQUEST, RSA-2048, KU 0xa0 critical, EKU clientAuth, SHA-256"

# to stdout, subject in OpenSSL's slash form, key from [ra] key
write_conf "$W/csr.conf" "ra.key=$W/ra.key"
"$DCPKI" --config "$W/csr.conf" ra csr --subject "/O=Example Org/CN=slash form" >"$W/stdout.csr"
plain req -in "$W/stdout.csr" -verify -noout 2>&1 | grep -qi 'verify OK' || fail "CSR on stdout does not verify"
[[ $(plain req -in "$W/stdout.csr" -noout -subject -nameopt RFC2253) == "subject=CN=slash form,O=Example Org" ]] || fail "slash subject: $(plain req -in "$W/stdout.csr" -noout -subject -nameopt RFC2253)"
"$DCPKI" ra csr --json --subject 'CN="Doe, John"' --key "$W/ra.key" >"$W/csr.json"
json 'assert d["subject"] == "CN=Doe\\, John" and d["pem"].startswith("-----BEGIN NEW CERTIFICATE REQUEST-----"), d' "$W/csr.json" || fail "csr --json: $(cat "$W/csr.json")"
"$DCPKI" ra csr --subject "CN=Jürgen Müller, O=Bäckerei, C=DE" --key "$W/ra.key" >"$W/utf8.csr"
[[ $(plain req -in "$W/utf8.csr" -noout -subject -nameopt utf8,sep_comma_plus) == "subject=C=DE,O=Bäckerei,CN=Jürgen Müller" ]] || fail "UTF-8 subject: $(plain req -in "$W/utf8.csr" -noout -subject -nameopt utf8,sep_comma_plus)"
pass "ra csr to stdout, slash subject, quoted values, UTF-8, --json"

fails2 "$DCPKI" ra csr --subject "CN" --key "$W/ra.key"
grep -qF "'CN' is not ATTRIBUTE=value" <<<"$ERR" || fail "bad subject message: $ERR"
fails2 "$DCPKI" ra csr --subject "CN=x, FOO=bar" --key "$W/ra.key"
grep -qF "unknown attribute 'FOO'" <<<"$ERR" || fail "unknown attribute message: $ERR"
fails2 "$DCPKI" ra csr --subject "CN=x, C=USA" --key "$W/ra.key"
grep -qF "bad value for C" <<<"$ERR" || fail "bad C message: $ERR"
fails2 "$DCPKI" ra csr --subject "CN=" --key "$W/ra.key"
grep -qF "attribute CN has an empty value" <<<"$ERR" || fail "empty value message: $ERR"
fails1 "$DCPKI" ra csr --subject "CN=x" --key "$W/missing.key"
grep -qF "the RA private key cannot be read: $W/missing.key does not exist" <<<"$ERR" || fail "missing key message: $ERR"
plain genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$W/ec.key" 2>/dev/null
fails1 "$DCPKI" ra csr --subject "CN=x" --key "$W/ec.key"
grep -qF "is not RSA of 2048 bits or more" <<<"$ERR" || fail "EC key message: $ERR"
plain genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -aes-128-cbc -pass pass:secret -out "$W/enc.key" 2>/dev/null
fails1 "$DCPKI" ra csr --subject "CN=x" --key "$W/enc.key"
grep -qF "is encrypted with a password" <<<"$ERR" || fail "encrypted key message: $ERR"
pass "ra csr errors"

# ---- the portal step: the emulator accepts the request
"$EMULATOR" ra-issue --state "$EMU_STATE" --csr "$W/ra.csr" --out "$W/ra.pem" 2>"$W/issue.log" || fail "the emulator refused the CSR: $(cat "$W/issue.log")"
TP=$(thumb_of "$W/ra.pem")
pass "the emulator's ra-issue accepts the CSR"

# ---- import
mkdir -p "$W/store"
write_conf "$W/imp.conf" "ra.key=" "ra.certificate=" "ra.store=$W/store"
"$DCPKI" --config "$W/imp.conf" ra import "$W/ra.pem" --key "$W/ra.key" >"$W/out" 2>"$W/err"
[[ ! -s $W/err ]] || fail "import printed on stderr: $(cat "$W/err")"
grep -qx "thumbprint: $TP" "$W/out" || fail "import thumbprint: $(cat "$W/out")"
grep -qx "certificate_thumbprint = $TP" "$W/out" || fail "import config line: $(cat "$W/out")"
grep -qx "key:        installed as $W/store/$TP.key (mode 0600)" "$W/out" || fail "import key: $(cat "$W/out")"
cmp -s <(plain x509 -in "$W/store/$TP.pem" -outform DER) <(plain x509 -in "$W/ra.pem" -outform DER) || fail "store/$TP.pem is not the certificate"
[[ $(mode_of "$W/store/$TP.key") == 600 ]] || fail "store key mode $(mode_of "$W/store/$TP.key")"
[[ $(plain pkey -in "$W/store/$TP.key" -pubout) == $(plain pkey -in "$W/ra.key" -pubout) ]] || fail "store key is not the RA key"
no_temp_files "$W/store"
# again without --key: the key already in the store is found
"$DCPKI" --config "$W/imp.conf" ra import "$W/ra.pem" >"$W/out" 2>"$W/err"
[[ ! -s $W/err ]] || fail "second import printed on stderr: $(cat "$W/err")"
grep -qx "key:        matches $W/store/$TP.key" "$W/out" || fail "import key found in store: $(cat "$W/out")"
pass "ra import into [ra] store: THUMBPRINT.pem + .key, thumbprint and config line printed"

# --store DIR without any configuration; DER input; a warning about the unchecked key
plain x509 -in "$W/ra.pem" -outform DER -out "$W/ra.der"
mkdir -p "$W/store2"
DCPKI_CONF=$W/none.conf "$DCPKI" ra import "$W/ra.der" --store "$W/store2" --json >"$W/imp.json" 2>"$W/err"
json "assert d['thumbprint'] == '$TP' and d['config_line'] == 'certificate_thumbprint = $TP' and d['key_checked'] is False and d['file'] == '$W/store2/$TP.pem', d" "$W/imp.json" || fail "import --json: $(cat "$W/imp.json")"
grep -q '^dcpki: warning: no key in the store matches the certificate' "$W/err" || fail "no warning about the unchecked key: $(cat "$W/err")"
[[ -f $W/store2/$TP.pem ]] || fail "not installed in --store"
pass "ra import --store --json, DER input, warning when no key is configured"

# into [ra] certificate
write_conf "$W/file.conf" "ra.key=$W/ra.key" "ra.certificate=$W/installed.pem"
"$DCPKI" --config "$W/file.conf" ra import "$W/ra.pem" >"$W/out"
grep -qx "installed:  $W/installed.pem" "$W/out" || fail "import to [ra] certificate: $(cat "$W/out")"
[[ $(thumb_of "$W/installed.pem") == "$TP" ]] || fail "installed.pem is not the certificate"
pass "ra import into [ra] certificate"

# refused: wrong key, no clientAuth, not a certificate, nowhere to put it
write_conf "$W/wrongkey.conf" "ra.key=$W/big.key" "ra.certificate=$W/wrong.pem"
fails1 "$DCPKI" --config "$W/wrongkey.conf" ra import "$W/ra.pem"
grep -qF "the RA private key does not belong to the RA certificate: $W/ra.pem was not issued for the key $W/big.key" <<<"$ERR" || fail "mismatch message: $ERR"
[[ ! -e $W/wrong.pem ]] || fail "a mismatching certificate was installed"
mkdir -p "$W/store3"
fails1 "$DCPKI" ra import "$W/ra.pem" --store "$W/store3" --key "$W/big.key"
grep -qF "was not issued for the key $W/big.key" <<<"$ERR" || fail "--key mismatch message: $ERR"
[[ -z $(ls -A "$W/store3") ]] || fail "files were written into the store despite the mismatch: $(ls -A "$W/store3")"
fails1 "$DCPKI" --config "$W/imp.conf" ra import "$EMU_ROOT"
grep -qF "has no extended key usage clientAuth" <<<"$ERR" || fail "no-clientAuth message: $ERR"
fails1 "$DCPKI" --config "$W/imp.conf" ra import "$W/ra.key"
grep -qF "is not a certificate" <<<"$ERR" || fail "not-a-certificate message: $ERR"
fails1 "$DCPKI" --config "$W/imp.conf" ra import "$W/nothing.pem"
grep -qF "cannot read $W/nothing.pem" <<<"$ERR" || fail "missing file message: $ERR"
write_conf "$W/nodest.conf" "ra.key=$W/ra.key" "ra.certificate="
fails1 "$DCPKI" --config "$W/nodest.conf" ra import "$W/ra.pem"
grep -qF "nowhere to install the RA certificate" <<<"$ERR" || fail "no destination message: $ERR"
fails1 "$DCPKI" --config "$W/imp.conf" ra import "$W/ra.pem" --store "$W/nodir"
grep -qF "the store $W/nodir is not a directory" <<<"$ERR" || fail "no store dir message: $ERR"
pass "ra import refuses a wrong key, no clientAuth, non-certificates"

# ---- show: the new identity, as files and from the store by thumbprint
"$DCPKI" --config "$W/file.conf" ra show >"$W/show.txt"
grep -qx "subject:     CN=dcpki cli RA, emailAddress=ra@example.com" "$W/show.txt" || fail "show subject: $(cat "$W/show.txt")"
grep -qx "thumbprint:  $TP" "$W/show.txt" || fail "show thumbprint"
grep -qx "key:         $W/ra.key" "$W/show.txt" || fail "show key location"
grep -qx "key matches certificate: yes" "$W/show.txt" || fail "show key match"
grep -qx "expired:                 no" "$W/show.txt" || fail "show expired"
grep -qx "serial:      $(plain x509 -in "$W/ra.pem" -noout -serial | sed 's/.*=//')" "$W/show.txt" || fail "show serial"
grep -q "^issuer: " "$W/show.txt" || fail "show issuer"
"$DCPKI" --config "$W/file.conf" ra show --json >"$W/show.json"
json "assert d['thumbprint'] == '$TP' and d['key_matches'] is True and d['expired'] is False and d['client_auth'] is True and d['key'] == '$W/ra.key' and d['subject'].startswith('CN=dcpki cli RA'), d" "$W/show.json" || fail "show --json: $(cat "$W/show.json")"
json "import datetime; nb=datetime.datetime.strptime(d['not_before'],'%Y-%m-%dT%H:%M:%SZ'); na=datetime.datetime.strptime(d['not_after'],'%Y-%m-%dT%H:%M:%SZ'); assert nb < datetime.datetime.utcnow() < na" "$W/show.json" || fail "show --json validity"
pass "ra show and --json for certificate + key files"

write_conf "$W/store.conf" "ra.key=" "ra.certificate=" "ra.store=$W/store" "ra.certificate_thumbprint=$(tr 'A-F' 'a-f' <<<"$TP" | sed 's/../& /g')"
"$DCPKI" --config "$W/store.conf" ra show >"$W/show2.txt" || fail "ra show with a store + thumbprint failed"
grep -qx "thumbprint:  $TP" "$W/show2.txt" || fail "store show thumbprint: $(cat "$W/show2.txt")"
grep -qx "key:         $W/store/$TP.key" "$W/show2.txt" || fail "store show key: $(cat "$W/show2.txt")"
pass "ra show: certificate found in the store by a lower-case, spaced thumbprint"

# PKCS#12 identity; a wrong password is reported, never printed
echo -n "p12-secret" >"$W/p12.pass"
plain pkcs12 -export -inkey "$W/ra.key" -in "$W/ra.pem" -out "$W/ra.p12" -passout file:"$W/p12.pass"
write_conf "$W/p12.conf" "ra.key=" "ra.certificate=" "ra.pkcs12=$W/ra.p12" "ra.pkcs12_password_file=$W/p12.pass"
"$DCPKI" --config "$W/p12.conf" ra show >"$W/show4.txt"
grep -qx "key:         $W/ra.p12 (PKCS#12)" "$W/show4.txt" && grep -qx "thumbprint:  $TP" "$W/show4.txt" || fail "PKCS#12 show: $(cat "$W/show4.txt")"
echo -n "wrong-secret" >"$W/bad.pass"
write_conf "$W/p12bad.conf" "ra.key=" "ra.certificate=" "ra.pkcs12=$W/ra.p12" "ra.pkcs12_password_file=$W/bad.pass"
fails1 "$DCPKI" --config "$W/p12bad.conf" ra show
grep -qF "the RA private key cannot be read" <<<"$ERR" && ! grep -qF "secret" <<<"$ERR" || fail "PKCS#12 wrong password message: $ERR"
pass "ra show with a PKCS#12 identity; wrong password"

# the new RA identity works against the emulator
"$DCPKI" --config "$W/file.conf" keys list >"$W/list.txt" || fail "keys list with the new RA identity failed"
grep -q '^issuing-ca ' "$W/list.txt" || fail "keys list with the new identity: $(cat "$W/list.txt")"
pass "the RA identity made with dcpki authenticates to the emulator"

# ---- show errors: missing RA certificate, thumbprint matching nothing, wrong key, bad config
write_conf "$W/nocert.conf" "ra.certificate=$W/absent.pem"
fails1 "$DCPKI" --config "$W/nocert.conf" ra show
grep -qF "unable to retrieve the client (RA) certificate" <<<"$ERR" && grep -qF "$W/absent.pem" <<<"$ERR" || fail "missing RA cert message: $ERR"
write_conf "$W/notp.conf" "ra.key=" "ra.certificate=" "ra.store=$W/store" "ra.certificate_thumbprint=EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5"
fails1 "$DCPKI" --config "$W/notp.conf" ra show
grep -qF "unable to retrieve the client (RA) certificate" <<<"$ERR" && grep -qiF "EA7A4E0CD1A4F81CF0740527C31A57F6020C17C5" <<<"$ERR" || fail "unmatched thumbprint message: $ERR"
write_conf "$W/mismatch.conf" "ra.key=$W/big.key" "ra.certificate=$W/ra.pem"
fails1 "$DCPKI" --config "$W/mismatch.conf" ra show
grep -qF "the RA private key does not belong to the RA certificate" <<<"$ERR" || fail "show mismatch message: $ERR"
printf '[ca]\nhost = x.example\nbogus = 1\n' >"$W/bad.conf"
fails1 "$DCPKI" --config "$W/bad.conf" ra show
grep -qF "$W/bad.conf:3" <<<"$ERR" && grep -qF "bogus" <<<"$ERR" || fail "bad config message lacks file:line and key: $ERR"
fails1 "$DCPKI" --config "$W/absent.conf" ra show
grep -qF "the configuration file cannot be read" <<<"$ERR" && grep -qF "$W/absent.conf" <<<"$ERR" || fail "missing config message: $ERR"
DCPKI_CONF=$W/bad.conf fails1 "$DCPKI" ra show
grep -qF "$W/bad.conf:3" <<<"$ERR" || fail "DCPKI_CONF not used: $ERR"
pass "ra show errors: RA certificate missing, thumbprint matching none, key mismatch, bad config (file:line)"

# the shared fixture's identity through DCPKI_CONF
"$DCPKI" ra show >"$W/show3.txt"
grep -qx "subject:     CN=dcpki test RA" "$W/show3.txt" || fail "shared RA: $(cat "$W/show3.txt")"
pass "ra show with DCPKI_CONF"

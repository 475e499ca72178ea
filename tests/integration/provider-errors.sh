#!/bin/bash
# Failures are reported with the error catalogue's sentence when a dcpki key
# is used; loading the provider never fails, so unrelated OpenSSL use keeps
# working even with a broken dcpki.conf.
source "$(dirname "$0")/lib.sh"
cd "$W"
echo data >d

# cnf NAME DCPKI_CONF : an openssl.cnf loading the provider with that dcpki.conf
cnf() { openssl_cnf_for "$W/$1.cnf" "$2"; echo "$W/$1.cnf"; }
# sign_with CNF URI : a signature through the provider under that configuration
sign_with() { OPENSSL_CONF=$1 DCPKI_CONF=/nonexistent openssl dgst -sha256 -sign "$2" -out "$W/x.sig" "$W/d"; }

# unknown alias
expect_fail "no signing key with that alias" openssl dgst -sha256 -sign dcpki:key=no-such-key -out x.sig d
grep -q "no-such-key" <<<"$LAST_OUTPUT" || fail "the unknown alias is not named: $LAST_OUTPUT"
pass "unknown alias"

# bad URIs
expect_fail "the dcpki: URI is malformed" openssl dgst -sha256 -sign "dcpki:key=ec-ca;colour=red" -out x.sig d
expect_fail "the dcpki: URI is malformed" openssl dgst -sha256 -sign "dcpki:bogus" -out x.sig d
expect_fail "the dcpki: URI is malformed" openssl dgst -sha256 -sign "dcpki:key=" -out x.sig d
pass "bad URI"

# emulator down: a port where nothing listens
port=$(free_port)
write_conf down.conf "signing.url=https://127.0.0.1:$port" "ca.host=127.0.0.1:$port"
expect_fail "could not connect to the service" sign_with "$(cnf down "$W/down.conf")" dcpki:key=ec-ca
pass "service down"

# server not trusted: [ca] trust names a root that did not issue the server's certificate
plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout other.key -subj /CN=other-root -days 2 \
  -out other-root.pem 2>/dev/null
write_conf untrusted.conf "ca.trust=$W/other-root.pem"
expect_fail "the server certificate is not trusted" sign_with "$(cnf untrusted "$W/untrusted.conf")" dcpki:key=ec-ca
pass "server not trusted"

# RA certificate missing
write_conf nocert.conf "ra.certificate=$W/missing-ra.pem"
expect_fail "unable to retrieve the client (RA) certificate" sign_with "$(cnf nocert "$W/nocert.conf")" dcpki:key=ec-ca
# ... and the RA key as a key: the same error
expect_fail "unable to retrieve the client (RA) certificate" sign_with "$W/nocert.cnf" dcpki:ra
pass "RA certificate missing"

# a connector-only dcpki.conf (no [signing] keys, no API key): the RA key still
# works as if local; a remote key names the missing setting
write_conf nosigning.conf "signing.url=" "signing.api_key_file="
nscnf=$(cnf nosigning "$W/nosigning.conf")
OPENSSL_CONF=$nscnf DCPKI_CONF=/nonexistent openssl req -new -key dcpki:ra -subj "/CN=connector RA" -out ns.csr \
  || fail "dcpki:ra without a [signing] section"
plain req -in ns.csr -verify -noout 2>&1 | grep -qi 'verify OK' || fail "RA CSR (no [signing]) does not verify"
OPENSSL_CONF=$nscnf DCPKI_CONF=/nonexistent openssl storeutl -certs dcpki:ra | grep -q 'BEGIN CERTIFICATE' \
  || fail "storeutl -certs dcpki:ra without a [signing] section"
expect_fail "[signing] url is not set" sign_with "$nscnf" dcpki:key=ec-ca
# the RA key first, a remote key next, in one process: the second step still reports the missing setting
write_conf noapikey.conf "signing.api_key_file=$W/no-such-api-key"
expect_fail "no-such-api-key" sign_with "$(cnf noapikey "$W/noapikey.conf")" dcpki:key=ec-ca
grep -qF "the file $W/no-such-api-key does not exist" <<<"$LAST_OUTPUT" || fail "a missing API key file is not called missing: $LAST_OUTPUT"
sign_with "$W/noapikey.cnf" dcpki:ra || fail "dcpki:ra needs no API key"
pass "connector-only configuration: dcpki:ra without [signing]"

# thumbprint matching no certificate in the store directory
mkdir -p rastore; cp "$RUN/ra.pem" rastore/ra.pem; cp "$RUN/ra.key" rastore/ra.key
write_conf thumb.conf "ra.certificate=" "ra.key=" "ra.store=$W/rastore" \
  "ra.certificate_thumbprint=00112233445566778899AABBCCDDEEFF00112233"
expect_fail "unable to retrieve the client (RA) certificate" sign_with "$(cnf thumb "$W/thumb.conf")" dcpki:key=ec-ca
grep -qi "thumbprint" <<<"$LAST_OUTPUT" || fail "the thumbprint is not mentioned: $LAST_OUTPUT"
# the right thumbprint (lower case, with spaces) works
tp=$(plain x509 -in "$RUN/ra.pem" -noout -fingerprint -sha1 | sed 's/.*=//; s/://g' | tr A-F a-f | sed 's/../& /g')
write_conf thumb-ok.conf "ra.certificate=" "ra.key=" "ra.store=$W/rastore" "ra.certificate_thumbprint=$tp"
sign_with "$(cnf thumb-ok "$W/thumb-ok.conf")" dcpki:key=ec-ca || fail "the RA identity chosen by thumbprint does not work"
pass "thumbprint matching no certificate"

# bad config: the error surfaces when a dcpki key is used ...
write_conf badkey.conf "ca.colour=blue"
badcnf=$(cnf badkey "$W/badkey.conf")
expect_fail "the configuration file has an unknown section or key" sign_with "$badcnf" dcpki:key=ec-ca
grep -q "colour" <<<"$LAST_OUTPUT" || fail "the bad key is not named: $LAST_OUTPUT"
expect_fail "the configuration file cannot be read" sign_with "$(cnf missing "$W/no-such-dcpki.conf")" dcpki:key=ec-ca
# ... and never when OpenSSL merely starts with the provider loaded
OPENSSL_CONF=$badcnf openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ok.key || fail "genpkey with a bad dcpki.conf"
OPENSSL_CONF=$badcnf openssl list -providers | grep -q dcpki || fail "provider not loaded with a bad dcpki.conf"
OPENSSL_CONF=$badcnf openssl dgst -sha256 -sign ok.key -out ok.sig d || fail "a file key with a bad dcpki.conf"
pass "bad config"

# timeout: the private emulator delays signatures past timeout_ms
start_private_emulator
write_conf "$W/slow.conf" "ca.host=$PRIV_HOST" "signing.url=$PRIV_URL" \
  "ca.trust=$(_emu "$PRIV_STATE" trust)" "signing.api_key_file=$(_emu "$PRIV_STATE" api_key_file)" "ca.timeout_ms=1000"
echo '{"delay_ms": 4000, "path_contains": "/sign"}' >"$PRIV_STATE/faults.json"
start=$(date +%s)
expect_fail "the operation has timed out" sign_with "$(cnf slow "$W/slow.conf")" dcpki:key=ec-ca
(( $(date +%s) - start < 30 )) || fail "the timeout took too long"
rm -f "$PRIV_STATE/faults.json"
sign_with "$W/slow.cnf" dcpki:key=ec-ca || fail "signing after the fault was cleared"
pass "timeout"

# parameters the service cannot honour are refused, not silently changed
expect_fail "salt as long as the digest" openssl dgst -sha256 -sign dcpki:key=issuing-ca -sigopt rsa_padding_mode:pss \
  -sigopt rsa_pss_saltlen:max -out x.sig d
expect_fail "MGF1 over the signature's own digest" openssl dgst -sha256 -sign dcpki:key=issuing-ca \
  -sigopt rsa_padding_mode:pss -sigopt rsa_mgf1_md:sha512 -out x.sig d
expect_fail "digest 'SHA1'" openssl dgst -sha1 -sign dcpki:key=ec-ca -out x.sig d
pass "unsupported signature parameters"

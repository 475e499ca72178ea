#!/bin/bash
# dcpki keys list | show | ref against the emulator's signing service, and the
# errors a user meets: unknown alias, emulator down, untrusted server, timeout,
# API key refused, revoked RA certificate.
source "$(dirname "$0")/lib.sh"

json() { /usr/bin/python3 -c "import json,sys; d=json.load(open(sys.argv[1])); $1" "$2"; }

# ---- list
"$DCPKI" keys list >"$W/list.txt"
head -1 "$W/list.txt" | grep -qE '^ALIAS +ALGORITHM +STATUS +CERTIFICATE SUBJECT$' || fail "list header: $(cat "$W/list.txt")"
grep -qE '^issuing-ca +RSA-2048 +[A-Z]+ +CN=dcpki emulator issuing CA' "$W/list.txt" || fail "issuing-ca row: $(cat "$W/list.txt")"
grep -qE '^ec-ca +EC P-256 +[A-Z]+ +CN=' "$W/list.txt" || fail "ec-ca row: $(cat "$W/list.txt")"
"$DCPKI" keys list --json >"$W/list.json"
json '
k = {x["alias"]: x for x in d["keys"]}
assert k["issuing-ca"]["algorithm"] == "RSA-2048" and k["issuing-ca"]["key_type"] == "RSA" and k["issuing-ca"]["bits"] == 2048, k
assert k["ec-ca"]["algorithm"] == "EC P-256" and k["ec-ca"]["key_type"] == "EC", k
assert "dcpki emulator issuing CA" in k["issuing-ca"]["certificate_subject"], k
assert all(x["id"] and x["status"] for x in d["keys"]), d' "$W/list.json" || fail "keys list --json: $(cat "$W/list.json")"
pass "keys list: table and --json"

# ---- show
"$DCPKI" keys show issuing-ca >"$W/show.txt"
grep -qx 'alias:       issuing-ca' "$W/show.txt" || fail "show alias: $(cat "$W/show.txt")"
grep -qx 'algorithm:   RSA-2048' "$W/show.txt" || fail "show algorithm"
grep -q '^id:          [^-]' "$W/show.txt" || fail "show id"
grep -qx '  subject:     CN=dcpki emulator issuing CA' "$W/show.txt" || fail "show certificate subject: $(cat "$W/show.txt")"
grep -qE '^chain:       [1-9][0-9]* certificates?$' "$W/show.txt" || fail "show chain summary"
grep -qx -- '-----BEGIN PUBLIC KEY-----' "$W/show.txt" || fail "show public key"
pass "keys show: id, alias, algorithm, certificate, chain, public key"

# --cert: only PEM, usable as the CA certificate file
"$DCPKI" keys show issuing-ca --cert >"$W/ca.pem"
! grep -vqE '^(-----(BEGIN|END) CERTIFICATE-----|[A-Za-z0-9+/=]+)$' "$W/ca.pem" || fail "--cert printed something other than PEM: $(cat "$W/ca.pem")"
[[ $(grep -c 'BEGIN CERTIFICATE' "$W/ca.pem") -ge 2 ]] || fail "--cert printed no chain"
plain x509 -in "$W/ca.pem" -noout -subject | grep -q 'dcpki emulator issuing CA' || fail "first PEM is not the key's certificate"
plain verify -CAfile "$EMU_ROOT" -untrusted "$W/ca.pem" "$W/ca.pem" | grep -q ': OK' || fail "the certificate does not chain to the emulator root"
# the public key shown is the certificate's
sed -n '/BEGIN PUBLIC KEY/,/END PUBLIC KEY/p' "$W/show.txt" >"$W/shown.pub"
cmp -s "$W/shown.pub" <(plain x509 -in "$W/ca.pem" -pubkey -noout) || fail "shown public key differs from the certificate's"
pass "keys show --cert: PEM certificate + chain that verifies against the root"

"$DCPKI" --json keys show ec-ca >"$W/ec.json"
json '
assert d["alias"] == "ec-ca" and d["algorithm"] == "EC P-256" and d["curve"] in ("prime256v1", "P-256"), d
assert d["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----"), d
assert d["certificate"]["pem"].startswith("-----BEGIN CERTIFICATE-----") and d["certificate"]["subject"], d
assert len(d["chain"]) >= 1 and all(c["pem"] for c in d["chain"]), d
assert d["uri"] == "dcpki:key=ec-ca", d' "$W/ec.json" || fail "keys show --json: $(cat "$W/ec.json")"
/usr/bin/python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); open(sys.argv[2],"w").write(d["certificate"]["pem"]); open(sys.argv[3],"w").write(d["public_key_pem"])' "$W/ec.json" "$W/ec.pem" "$W/ec.pub"
cmp -s "$W/ec.pub" <(plain x509 -in "$W/ec.pem" -pubkey -noout) || fail "--json public key differs from the certificate's"
pass "keys show --json (EC key)"

# ---- ref
"$DCPKI" keys ref issuing-ca >"$W/ref.pem"
[[ $(head -1 "$W/ref.pem") == "-----BEGIN DCPKI KEY REFERENCE-----" && $(tail -1 "$W/ref.pem") == "-----END DCPKI KEY REFERENCE-----" ]] || fail "ref label: $(cat "$W/ref.pem")"
sed '1d;$d' "$W/ref.pem" | base64 -d >"$W/ref.der"
plain asn1parse -inform DER -in "$W/ref.der" >"$W/ref.asn1"
grep -q 'INTEGER *:01' "$W/ref.asn1" && grep -q 'UTF8STRING *:dcpki:key=issuing-ca' "$W/ref.asn1" || fail "ref content: $(cat "$W/ref.asn1")"
[[ $(stat -c %s "$W/ref.der") -lt 64 ]] || fail "the reference is too large to hold only a URI"
"$DCPKI" keys ref ec-ca --out "$W/ec-ref.pem" >"$W/out"
grep -qF "wrote a key reference to dcpki:key=ec-ca in $W/ec-ref.pem" "$W/out" || fail "ref --out message: $(cat "$W/out")"
grep -q 'BEGIN DCPKI KEY REFERENCE' "$W/ec-ref.pem" || fail "ref --out file"
"$DCPKI" keys ref ec-ca --json >"$W/ref.json"
json 'assert d["uri"] == "dcpki:key=ec-ca" and "DCPKI KEY REFERENCE" in d["pem"] and d["file"] is None, d' "$W/ref.json" || fail "ref --json: $(cat "$W/ref.json")"
# the provider turns the reference into the remote key's public half
openssl pkey -in "$W/ref.pem" -pubout >"$W/ref.pub" 2>"$W/ref.err" || fail "openssl cannot use the key reference: $(cat "$W/ref.err")"
cmp -s "$W/ref.pub" "$W/shown.pub" || fail "the key reference does not lead to issuing-ca's public key"
pass "keys ref: DCPKI KEY REFERENCE PEM holding only the URI, usable by openssl"

# ---- errors
fails1 "$DCPKI" keys show no-such-key
grep -qF "no signing key with that alias" <<<"$ERR" && grep -qF "no-such-key" <<<"$ERR" && grep -qF "dcpki keys list" <<<"$ERR" || fail "unknown alias message: $ERR"
fails1 "$DCPKI" keys ref no-such-key
grep -qF "no signing key with that alias" <<<"$ERR" || fail "ref unknown alias message: $ERR"
fails1 "$DCPKI" keys show no-such-key --cert
pass "unknown alias: one line, exit 1"

# emulator down: a port where nothing listens
port=$(free_port)
write_conf "$W/down.conf" "signing.url=https://127.0.0.1:$port" "ca.host=127.0.0.1:$port" "ca.timeout_ms=3000"
fails1 "$DCPKI" --config "$W/down.conf" keys list
grep -qF "could not connect to the service" <<<"$ERR" || fail "emulator down message: $ERR"
fails1 "$DCPKI" --config "$W/down.conf" keys show issuing-ca --json
pass "emulator down: connection error, exit 1"

# server not trusted: [ca] trust is some other CA
plain req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$W/other-ca.key" -subj "/CN=some other CA" -days 2 -out "$W/other-ca.pem" 2>/dev/null
write_conf "$W/untrusted.conf" "ca.trust=$W/other-ca.pem"
fails1 "$DCPKI" --config "$W/untrusted.conf" keys list
grep -qF "the server certificate is not trusted" <<<"$ERR" || fail "untrusted server message: $ERR"
pass "server not trusted"

# missing RA certificate
write_conf "$W/nora.conf" "ra.certificate=$W/missing-ra.pem"
fails1 "$DCPKI" --config "$W/nora.conf" keys list
grep -qF "unable to retrieve the client (RA) certificate" <<<"$ERR" || fail "missing RA cert message: $ERR"
# bad config: file and line named
printf '[ca]\nhost = x.example\n[signing]\nurl = https://x.example\nnot_a_key = 1\n' >"$W/bad.conf"
fails1 "$DCPKI" --config "$W/bad.conf" keys list
grep -qF "$W/bad.conf:5" <<<"$ERR" && grep -qF "not_a_key" <<<"$ERR" || fail "bad config message: $ERR"
# API key refused
echo "wrong-api-key" >"$W/wrong.key"
write_conf "$W/apikey.conf" "signing.api_key_file=$W/wrong.key"
fails1 "$DCPKI" --config "$W/apikey.conf" keys list
grep -qF "refused the API key" <<<"$ERR" || fail "API key message: $ERR"
! grep -qF "wrong-api-key" <<<"$ERR" || fail "the API key was printed"
pass "missing RA certificate, bad config, API key refused"

# timeout and revoked RA certificate: on a private emulator
start_private_emulator --delay-ms 3000
write_conf "$W/slow.conf" "ca.host=$PRIV_HOST" "signing.url=$PRIV_URL" "ca.trust=$(_emu "$PRIV_STATE" trust)" "signing.api_key_file=$(_emu "$PRIV_STATE" api_key_file)" "ca.timeout_ms=1000"
start=$(date +%s)
fails1 "$DCPKI" --config "$W/slow.conf" keys list
grep -qF "the operation has timed out" <<<"$ERR" && grep -qF "timeout_ms" <<<"$ERR" || fail "timeout message: $ERR"
[[ $(( $(date +%s) - start )) -le 5 ]] || fail "the timeout of 1000 ms took $(( $(date +%s) - start )) s"
pass "timeout: [ca] timeout_ms honoured"

# revoked RA certificate: the emulator refuses it in the TLS handshake
"$DCPKI" ra keygen --out "$W/rv.key" >/dev/null
"$DCPKI" ra csr --subject "CN=revoked RA" --key "$W/rv.key" --out "$W/rv.csr" >/dev/null
"$EMULATOR" ra-issue --state "$EMU_STATE" --csr "$W/rv.csr" --out "$W/rv.pem" 2>/dev/null
write_conf "$W/rv.conf" "ra.key=$W/rv.key" "ra.certificate=$W/rv.pem"
"$DCPKI" --config "$W/rv.conf" keys list >/dev/null || fail "the fresh RA certificate was refused before revocation"
"$EMULATOR" ra-revoke --state "$EMU_STATE" --cert "$W/rv.pem" 2>/dev/null
fails1 "$DCPKI" --config "$W/rv.conf" keys list
grep -qF "could not create SSL/TLS secure channel" <<<"$ERR" || fail "revoked RA certificate message: $ERR"
pass "revoked RA certificate: secure channel error"

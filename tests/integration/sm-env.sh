#!/bin/bash
# A drop-in for DigiCert KeyLocker / Software Trust Manager users: with no
# dcpki.conf and only the variables of KeyLocker's PKCS#11 library (SM_HOST,
# SM_API_KEY, SM_CLIENT_CERT_FILE, SM_CLIENT_CERT_PASSWORD, SM_CONN_TIMEOUT,
# SM_CA_FILE), pkcs11-tool signs through dcpki-pkcs11.so and `openssl dgst
# -sign dcpki:key=...` through the provider (an openssl.cnf without
# dcpki-config), both verified by plain OpenSSL. A missing or wrong variable
# is named in the message; a dcpki.conf wins over the variables; the API key
# and the password never appear in any output, DCPKI_DEBUG=1 included.
source "$(dirname "$0")/lib.sh"
cd "$W"

# "no dcpki.conf found" means the default file is absent: DCPKI_CONF naming a
# missing file is an error on purpose, so the test needs a machine without it.
[[ ! -e /etc/dcpki/dcpki.conf ]] \
  || fail "/etc/dcpki/dcpki.conf exists on this machine: this test needs the default configuration file absent (move it away while the test runs)"

# the RA identity as a PKCS#12 file, as KeyLocker users have it
P12PASS="p12-Pass-$$-$RANDOM$RANDOM"
APIKEY=$(cat "$EMU_APIKEY")
[[ -n $APIKEY ]] || fail "no API key in $EMU_APIKEY"
WRONGKEY="wrong-api-key-$$-$RANDOM$RANDOM"
WRONGPASS="wrong-p12-pass-$$-$RANDOM$RANDOM"
P12PASS=$P12PASS plain pkcs12 -export -inkey "$RUN/ra.key" -in "$RUN/ra.pem" -name "dcpki test RA" \
  -passout env:P12PASS -out ra.p12 || fail "cannot make the PKCS#12 file"
chmod 600 ra.p12

# the provider activated without dcpki-config
openssl_cnf_for sm-openssl.cnf ""

# sm [-u VAR]... [VAR=VALUE]... CMD... : CMD with the SM_* variables (less
# those -u names) and no DCPKI_CONF, so the default path
sm() {
  local un=()
  while [[ ${1:-} == -u ]]; do un+=(-u "$2"); shift 2; done
  env SM_HOST="$EMU_URL" SM_API_KEY="$APIKEY" SM_CLIENT_CERT_FILE="$W/ra.p12" SM_CLIENT_CERT_PASSWORD="$P12PASS" \
    SM_CA_FILE="$EMU_TRUST" SM_CONN_TIMEOUT=10000 env -u DCPKI_CONF "${un[@]}" "$@"
}
# every output of the test is kept, to look for the secrets at the end
LOG=$W/all-output.log
: >"$LOG"
# run CMD... : CMD, its stdout and stderr appended to $LOG, its status kept
run() { local rc=0; "$@" >>"$LOG" 2>&1 || rc=$?; return $rc; }
# out CMD... : CMD's stdout+stderr in $OUT (and $LOG), status kept
out() { local rc=0; OUT=$("$@" 2>&1) || rc=$?; printf '%s\n' "$OUT" >>"$LOG"; return $rc; }
# fails WANT CMD... : CMD must fail with WANT (fixed string) in its output
fails() {
  local want=$1; shift
  if out "$@"; then fail "expected failure of: $* (output: $OUT)"; fi
  grep -qF -- "$want" <<<"$OUT" || fail "expected '$want' in the output of: $*; got: $OUT"
}

echo 'data signed with the KeyLocker variables' >d

# ---- PKCS#11: the module with the variables alone
T() { sm OPENSSL_CONF=/dev/null pkcs11-tool --module "$P11MOD" --token-label "dcpki signing" "$@"; }
out sm OPENSSL_CONF=/dev/null pkcs11-tool --module "$P11MOD" -L || fail "pkcs11-tool -L: $OUT"
grep -q 'token label *: dcpki signing' <<<"$OUT" || fail "-L: no dcpki signing token: $OUT"
out T -O --type privkey || fail "pkcs11-tool -O: $OUT"
RSA_ID=$(awk '$1 == "label:" { hit = ($2 == "issuing-ca") } hit && $1 == "ID:" { print $2; exit }' <<<"$OUT")
[[ -n $RSA_ID ]] || fail "pkcs11-tool -O: no issuing-ca key: $OUT"
run T --read-object --type cert --label issuing-ca -o ca.der || fail "reading the issuing-ca certificate"
plain x509 -inform DER -in ca.der -pubkey -noout >ca.pub
run T --sign --id "$RSA_ID" -m SHA256-RSA-PKCS -i d -o p11.sig || fail "pkcs11-tool --sign: $(tail -5 "$LOG")"
plain dgst -sha256 -verify ca.pub -signature p11.sig d >/dev/null || fail "the PKCS#11 signature does not verify"
pass "pkcs11-tool signs with SM_* only (no dcpki.conf); plain OpenSSL verifies"

# ---- the provider, without dcpki-config
P() { sm OPENSSL_CONF="$W/sm-openssl.cnf" "$@"; }
run P openssl dgst -sha256 -sign dcpki:key=issuing-ca -out prov.sig d || fail "openssl dgst -sign: $(tail -5 "$LOG")"
plain dgst -sha256 -verify ca.pub -signature prov.sig d >/dev/null || fail "the provider's signature does not verify"
run P openssl dgst -sha384 -sign dcpki:key=ec-ca -out ec.sig d || fail "openssl dgst -sign ec-ca: $(tail -5 "$LOG")"
run P openssl storeutl -certs -out ec-certs.pem dcpki:key=ec-ca || fail "storeutl ec-ca"
plain x509 -in ec-certs.pem -pubkey -noout >ec.pub
plain dgst -sha384 -verify ec.pub -signature ec.sig d >/dev/null || fail "the provider's EC signature does not verify"
# the shipped example names the default file explicitly (dcpki-config = /etc/dcpki/dcpki.conf): the same
sed '/^\[dcpki_sect\]/a dcpki-config = /etc/dcpki/dcpki.conf' sm-openssl.cnf >sm-example.cnf
grep -qx 'dcpki-config = /etc/dcpki/dcpki.conf' sm-example.cnf || fail "cannot write sm-example.cnf"
run sm OPENSSL_CONF="$W/sm-example.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out ex.sig d \
  || fail "openssl dgst -sign with dcpki-config = /etc/dcpki/dcpki.conf: $(tail -5 "$LOG")"
plain dgst -sha256 -verify ca.pub -signature ex.sig d >/dev/null || fail "ex.sig does not verify"
pass "openssl dgst -sign dcpki:key=... through the provider with SM_* only (no dcpki-config, or the default one named); plain OpenSSL verifies"

# ---- the CLI reads the same; ra show and doctor say where it came from
out sm "$DCPKI" ra show || fail "dcpki ra show: $OUT"
grep -qF "RA identity (the SM_* environment variables (/etc/dcpki/dcpki.conf does not exist))" <<<"$OUT" \
  || fail "ra show does not say the configuration is the environment's: $OUT"
grep -qF "$W/ra.p12 (PKCS#12)" <<<"$OUT" || fail "ra show does not name SM_CLIENT_CERT_FILE's file: $OUT"
out sm "$DCPKI" keys list || fail "dcpki keys list: $OUT"
grep -q issuing-ca <<<"$OUT" || fail "keys list: no issuing-ca: $OUT"
out sm "$DCPKI" doctor || true   # [ca] host (the PKI Platform) is not given by SM_*
grep -qF "the SM_* environment variables" <<<"$OUT" || fail "doctor does not name the configuration's source: $OUT"
pass "dcpki ra show, keys list, doctor with SM_* only"

# ---- DCPKI_DEBUG=1: diagnostics, never a secret
run sm DCPKI_DEBUG=2 OPENSSL_CONF="$W/sm-openssl.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out dbg.sig d \
  || fail "openssl dgst with DCPKI_DEBUG=2"
run T --sign --id "$RSA_ID" -m SHA256-RSA-PKCS -i d -o dbg2.sig || fail "pkcs11-tool --sign (debug)"
out sm DCPKI_DEBUG=1 "$DCPKI" keys list || fail "keys list (debug): $OUT"
grep -qF "using SM_HOST=$EMU_URL, SM_API_KEY (not shown)" <<<"$OUT" || fail "DCPKI_DEBUG=1 does not say the SM_* variables are used: $OUT"
pass "DCPKI_DEBUG shows the variables used, not their secrets"

# ---- a missing or wrong variable is named
D=(env DCPKI_DEBUG=1)   # the module writes its messages to stderr with DCPKI_DEBUG
fails "SM_API_KEY is not set (needed with SM_HOST when no dcpki.conf is found" \
  sm -u SM_API_KEY OPENSSL_CONF="$W/sm-openssl.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out x.sig d
fails "SM_API_KEY is not set" sm -u SM_API_KEY "$DCPKI" keys list
fails "SM_API_KEY is not set" sm -u SM_API_KEY "${D[@]}" OPENSSL_CONF=/dev/null \
  pkcs11-tool --module "$P11MOD" --token-label "dcpki signing" --sign --id "$RSA_ID" -m SHA256-RSA-PKCS -i d -o x.sig
pass "missing SM_API_KEY named (provider, CLI, module)"

fails "SM_CLIENT_CERT_FILE is not set" sm -u SM_CLIENT_CERT_FILE "$DCPKI" keys list
fails "the file $W/no.p12 (SM_CLIENT_CERT_FILE) does not exist" \
  sm SM_CLIENT_CERT_FILE="$W/no.p12" OPENSSL_CONF="$W/sm-openssl.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out x.sig d
fails "$W/d (SM_CLIENT_CERT_FILE) is not a PKCS#12 file" sm SM_CLIENT_CERT_FILE="$W/d" "$DCPKI" keys list
pass "missing or unusable SM_CLIENT_CERT_FILE named with its file"

fails "wrong password for $W/ra.p12 (check SM_CLIENT_CERT_PASSWORD)" \
  sm SM_CLIENT_CERT_PASSWORD="$WRONGPASS" OPENSSL_CONF="$W/sm-openssl.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out x.sig d
fails "wrong password for $W/ra.p12 (check SM_CLIENT_CERT_PASSWORD)" sm SM_CLIENT_CERT_PASSWORD="$WRONGPASS" "$DCPKI" ra show
fails "check SM_CLIENT_CERT_PASSWORD" sm SM_CLIENT_CERT_PASSWORD="$WRONGPASS" "${D[@]}" OPENSSL_CONF=/dev/null \
  pkcs11-tool --module "$P11MOD" --token-label "dcpki signing" --sign --id "$RSA_ID" -m SHA256-RSA-PKCS -i d -o x.sig
fails "$W/ra.p12 is protected by a password: set SM_CLIENT_CERT_PASSWORD" sm -u SM_CLIENT_CERT_PASSWORD "$DCPKI" ra show
pass "wrong or missing SM_CLIENT_CERT_PASSWORD named"

# HTTP 401: the API key message, naming SM_API_KEY
fails "(the API key is from SM_API_KEY)" \
  sm SM_API_KEY="$WRONGKEY" OPENSSL_CONF="$W/sm-openssl.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out x.sig d
grep -qF "the API key is missing, or the service refused the API key" <<<"$OUT" || fail "401 without the API key sentence: $OUT"
grep -qF "HTTP 401" <<<"$OUT" || fail "401 not reported: $OUT"
fails "(the API key is from SM_API_KEY)" sm SM_API_KEY="$WRONGKEY" "$DCPKI" keys list
pass "wrong SM_API_KEY: HTTP 401 reported with the API key message naming SM_API_KEY"

fails "SM_HOST 'clientauth.one.digicert.com' must start with https://" sm SM_HOST=clientauth.one.digicert.com "$DCPKI" keys list
fails "SM_CONN_TIMEOUT must be a whole number of milliseconds, not '10s'" sm SM_CONN_TIMEOUT=10s "$DCPKI" keys list
fails "the file $W/no-ca.pem (SM_CA_FILE) does not exist" sm SM_CA_FILE="$W/no-ca.pem" "$DCPKI" keys list
fails "the server certificate is not trusted" sm -u SM_CA_FILE "$DCPKI" keys list   # the system's roots do not know the emulator
pass "bad SM_HOST, SM_CONN_TIMEOUT, SM_CA_FILE named"

# ---- precedence: DCPKI_CONF naming a missing file is an error; a file wins
fails "cannot read $W/none.conf: no such file or directory" sm DCPKI_CONF="$W/none.conf" "$DCPKI" keys list
fails "cannot read $W/none.conf: no such file or directory" sm OPENSSL_CONF="$(openssl_cnf_for "$W/none.cnf" "$W/none.conf"; echo "$W/none.cnf")" \
  openssl dgst -sha256 -sign dcpki:key=issuing-ca -out x.sig d
# the shared dcpki.conf sets everything: a wrong SM_API_KEY and SM_CLIENT_CERT_* are not used
out sm DCPKI_CONF="$RUN/dcpki.conf" SM_API_KEY="$WRONGKEY" SM_CLIENT_CERT_PASSWORD="$WRONGPASS" \
  SM_HOST=https://unused.invalid "$DCPKI" keys list || fail "the file's settings do not win: $OUT"
# a file that leaves [signing] api_key_file and [ra] unset: the variables fill them
write_conf partial.conf "signing.api_key_file=" "ra.key=" "ra.certificate="
out sm DCPKI_CONF="$W/partial.conf" SM_HOST=https://unused.invalid "$DCPKI" keys list \
  || fail "SM_API_KEY / SM_CLIENT_CERT_FILE do not fill a file's unset keys: $OUT"
out sm DCPKI_CONF="$W/partial.conf" "$DCPKI" ra show || fail "ra show with a partial file: $OUT"
grep -qF "$W/ra.p12 (PKCS#12)" <<<"$OUT" || fail "the RA identity is not SM_CLIENT_CERT_FILE's: $OUT"
run sm DCPKI_CONF="$W/partial.conf" OPENSSL_CONF="$W/sm-openssl.cnf" openssl dgst -sha256 -sign dcpki:key=issuing-ca -out fill.sig d \
  || fail "provider with a partial file + SM_*"
plain dgst -sha256 -verify ca.pub -signature fill.sig d >/dev/null || fail "fill.sig does not verify"
pass "DCPKI_CONF missing is an error; a file's keys win; SM_* fill what it leaves unset"

# ---- the secrets never appear
for s in "$APIKEY" "$P12PASS" "$WRONGKEY" "$WRONGPASS"; do
  ! grep -qF -- "$s" "$LOG" || fail "a secret appears in the output: $(grep -nF -- "$s" "$LOG" | head -3 | sed "s/$s/<SECRET>/g")"
done
[[ $(wc -l <"$LOG") -gt 20 ]] || fail "too little output collected in $LOG"
pass "neither the API key nor the PKCS#12 password appears in any output ($(wc -l <"$LOG") lines, DCPKI_DEBUG included)"

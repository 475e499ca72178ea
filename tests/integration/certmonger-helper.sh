#!/bin/bash
# dcpki certmonger-submit run the way certmonger runs a CA helper: no arguments, a clean
# environment with CERTMONGER_OPERATION / CERTMONGER_CSR / CERTMONGER_CA_PROFILE /
# CERTMONGER_CERTIFICATE / CERTMONGER_CA_COOKIE, the result on stdout and certmonger's
# exit statuses (0 issued, 2 rejected, 3 unreachable, 4 under-configured, 5 wait with
# delay, 6 not supported).
source "$(dirname "$0")/lib.sh"
start_private_emulator
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
P2=2.16.840.1.113733.1.16.1.2.3.1.1.61904612
write_conf "$W/cm.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "profiles.default=$P1" "profiles.devices=$P2"
# helper CONF OPERATION [VAR=value...] : runs it, sets OUT and RC
helper() {
  local conf=$1 op=$2; shift 2
  RC=0
  OUT=$(env -i PATH=/usr/bin:/bin DCPKI_CONF="$conf" XDG_STATE_HOME="$W/state" CERTMONGER_OPERATION="$op" "$@" \
        "$DCPKI" certmonger-submit 2>"$W/helper.err" </dev/null) || RC=$?
}
want_rc() { [[ $RC == "$1" ]] || fail "$2: exit $RC, expected $1; stdout: $OUT; stderr: $(cat "$W/helper.err")"; }
C=$W/cm.conf

helper "$C" IDENTIFY; want_rc 0 IDENTIFY; grep -q '^dcpki ' <<<"$OUT" || fail "IDENTIFY: $OUT"
helper "$C" GET-DEFAULT-TEMPLATE; want_rc 0 GET-DEFAULT-TEMPLATE; [[ $OUT == "$P1" ]] || fail "default template: $OUT"
helper "$C" GET-SUPPORTED-TEMPLATES; want_rc 0 GET-SUPPORTED-TEMPLATES
[[ $OUT == default$'\n'devices$'\n'"$P1"$'\n'"$P2" ]] || fail "supported templates: $OUT"
# a [profiles] name is a template too
plain req -new -newkey rsa:2048 -nodes -keyout "$W/n.key" -subj "/CN=named@contoso.example" -out "$W/n.csr" 2>/dev/null
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/n.csr")" CERTMONGER_CA_PROFILE=nosuch
want_rc 4 "SUBMIT with an unknown profile name"; grep -q 'nosuch.*neither a dotted OID nor a name' <<<"$OUT" || fail "reason: $OUT"
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/n.csr")" CERTMONGER_CA_PROFILE=default
want_rc 0 "SUBMIT with the profile name default"
helper "$C" GET-NEW-REQUEST-REQUIREMENTS; want_rc 0 GET-NEW-REQUEST-REQUIREMENTS
helper "$C" GET-RENEW-REQUEST-REQUIREMENTS; want_rc 0 GET-RENEW-REQUEST-REQUIREMENTS
# FETCH-ROOTS: the CA certificates of the profiles the policy service offers, with or
# without [profiles]; certmonger's format: root; blank, other roots; blank, the others
write_conf "$W/noprof.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)"
helper "$W/noprof.conf" FETCH-ROOTS; want_rc 0 "FETCH-ROOTS without [profiles]"; NOPROF_ROOTS=$OUT
helper "$C" FETCH-ROOTS; want_rc 0 FETCH-ROOTS
[[ $OUT == "$NOPROF_ROOTS" ]] || fail "FETCH-ROOTS differs with and without [profiles]"
# three lists (certmonger's cadata.c): root / other roots (the root again: an empty list
# cannot be written) / other certificates (the issuing CA, never in a trusted list)
[[ $(awk 'BEGIN {RS=""} END {print NR}' <<<"$OUT") == 3 ]] || fail "FETCH-ROOTS lists: $OUT"
[[ $(awk 'BEGIN {RS=""} NR==3' <<<"$OUT" | head -1) == *"issuing CA"* ]] || fail "third list: $(awk 'BEGIN {RS=""} NR==3' <<<"$OUT" | head -1)"
[[ $(awk 'BEGIN {RS=""} NR==2' <<<"$OUT") == $(awk 'BEGIN {RS=""} NR==1' <<<"$OUT") ]] || fail "second list is not the root"
head -1 <<<"$OUT" | grep -q 'root' || fail "FETCH-ROOTS nickname: $(head -1 <<<"$OUT")"
awk 'NR>1 && /BEGIN CERT/,/END CERT/ {print} /END CERT/ {exit}' <<<"$OUT" >"$W/root.pem"
cmp -s <(plain x509 -in "$W/root.pem" -outform DER) <(plain x509 -in "$EMU_ROOT" -outform DER) || fail "FETCH-ROOTS root differs from the emulator's root"
sed -n '/^$/,$p' <<<"$OUT" | sed '1d' | grep -v '^[^-A-Za-z0-9+/=]' | awk '/BEGIN CERT/,/END CERT/' >"$W/inter.pem"
helper "$C" MAKE-COFFEE; want_rc 6 "unsupported operation"
pass "IDENTIFY, templates, requirements, FETCH-ROOTS (root = the CA's root), unsupported operation -> 6"

# ---- SUBMIT: the CSR certmonger made, the profile from CERTMONGER_CA_PROFILE
plain req -new -newkey rsa:2048 -nodes -keyout "$W/host.key" -subj "/CN=host1@contoso.example" -out "$W/host.csr" 2>/dev/null
n0=$(enrolled)
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/host.csr")" CERTMONGER_CA_PROFILE="$P1"
want_rc 0 SUBMIT
printf '%s\n' "$OUT" >"$W/host.pem"
plain verify -CAfile "$EMU_ROOT" -untrusted "$W/inter.pem" "$W/host.pem" | grep -q ': OK' || fail "issued certificate does not verify: $OUT"
[[ $(plain x509 -in "$W/host.pem" -noout -pubkey) == $(plain pkey -in "$W/host.key" -pubout) ]] || fail "certificate is not for the CSR's key"
[[ $(enrolled) == $((n0 + 1)) ]] || fail "SUBMIT should issue one certificate"
s1=$(plain x509 -in "$W/host.pem" -noout -serial)
# certmonger resubmits the same CSR (e.g. after a restart): delivered from the store
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/host.csr")" CERTMONGER_CA_PROFILE="$P1"
want_rc 0 "SUBMIT again"
[[ $(plain x509 -noout -serial <<<"$OUT") == "$s1" && $(enrolled) == $((n0 + 1)) ]] || fail "resubmission reached the CA"
# renewal: certmonger passes the old certificate; a new one is requested (no profile: the default)
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/host.csr")" CERTMONGER_CERTIFICATE="$(cat "$W/host.pem")"
want_rc 0 "SUBMIT renewal"
[[ $(plain x509 -noout -serial <<<"$OUT") != "$s1" && $(enrolled) == $((n0 + 2)) ]] || fail "renewal did not get a new certificate"
pass "SUBMIT issues (PEM on stdout, verifies, CSR's key), resubmission from the store, renewal asks again"

# ---- rejected / under-configured / unreachable
n1=$(enrolled)
plain req -new -newkey rsa:2048 -nodes -keyout "$W/w.key" -subj "/CN=web" -addext "subjectAltName=DNS:web.example" -out "$W/w.csr" 2>/dev/null
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/w.csr")" CERTMONGER_CA_PROFILE="$P1"
want_rc 2 "SUBMIT with a dNSName SAN"; grep -qi 'dns' <<<"$OUT" || fail "rejection reason: $OUT"
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/host.csr")" CERTMONGER_CA_PROFILE="$P2"
want_rc 2 "SUBMIT against the device profile"; grep -q 'policy verification failed' <<<"$OUT" || fail "reason: $OUT"
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/host.csr")" CERTMONGER_CA_PROFILE=2.16.840.1.113733.1.16.1.2.3.1.1.1
want_rc 4 "SUBMIT unknown profile"; grep -q 'not understood' <<<"$OUT" || fail "reason: $OUT"
helper "$C" SUBMIT
want_rc 4 "SUBMIT without CSR"; grep -q 'CERTMONGER_CSR' <<<"$OUT" || fail "reason: $OUT"
write_conf "$W/down.conf" "ca.host=127.0.0.1:$(free_port)" "ca.trust=$(_emu "$PRIV_STATE" trust)" "profiles.default=$P1"
plain req -new -newkey rsa:2048 -nodes -keyout "$W/h2.key" -subj "/CN=host2@contoso.example" -out "$W/h2.csr" 2>/dev/null
helper "$W/down.conf" SUBMIT CERTMONGER_CSR="$(cat "$W/h2.csr")"
want_rc 3 "SUBMIT with the CA unreachable"; grep -qi 'connect' <<<"$OUT" || fail "reason: $OUT"
helper "$W/nope.conf" SUBMIT CERTMONGER_CSR="$(cat "$W/h2.csr")"
want_rc 4 "SUBMIT without configuration"
grep -q "certmonger-submit --config FILE" <<<"$OUT" || fail "no hint to name the configuration in the helper command: $OUT"
[[ $(enrolled) == "$n1" ]] || fail "a refused SUBMIT issued a certificate"
pass "rejected -> 2, unknown profile / no CSR / no config -> 4, CA unreachable -> 3, nothing issued"

# ---- pending: 5 with delay and cookie, POLL until approved
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending on >/dev/null
helper "$C" SUBMIT CERTMONGER_CSR="$(cat "$W/h2.csr")" CERTMONGER_CA_PROFILE="$P1"
want_rc 5 "SUBMIT to a pending profile"
delay=$(sed -n 1p <<<"$OUT"); cookie=$(sed -n 2p <<<"$OUT")
[[ $delay =~ ^[0-9]+$ && $cookie == "$P1 "* ]] || fail "wait output: $OUT"
helper "$C" POLL CERTMONGER_CA_COOKIE="$cookie" CERTMONGER_CA_PROFILE="$P1"
want_rc 5 "POLL before approval"
"$EMULATOR" approve --state "$PRIV_STATE" --id "${cookie#* }" >/dev/null 2>&1
helper "$C" POLL CERTMONGER_CA_COOKIE="$cookie" CERTMONGER_CA_PROFILE="$P1"
want_rc 0 "POLL after approval"
[[ $(plain x509 -noout -pubkey <<<"$OUT") == $(plain pkey -in "$W/h2.key" -pubout) ]] || fail "polled certificate is not for the CSR"
helper "$C" POLL
want_rc 4 "POLL without cookie"
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending off >/dev/null
pass "pending -> 5 with delay and cookie; POLL -> 5 until approved, then 0 with the certificate"

#!/bin/bash
# The real certmonger daemon (Debian's certmonger) drives dcpki certmonger-submit, with
# the README's steps: getcert add-ca -e '.../dcpki certmonger-submit --config FILE',
# getcert request -T PROFILE. The daemon runs on a private D-Bus session bus with all of
# its state (requests, CAs, lock, local CA, temporary files) under this test's directory.
# certmonger runs helpers with a minimal environment of its own: nothing of ours (no
# DCPKI_CONF) reaches the helper, as on a real host.
# request -> MONITORING, the certificate verifies against the roots FETCH-ROOTS stored
# (with no [profiles] default); getcert resubmit renews; a pending profile -> CA_WORKING,
# collected once approved.
source "$(dirname "$0")/lib.sh"
# Under scripts/test --asan the tests preload libasan for the programs that load our
# provider or module; dbus-daemon, certmonger and getcert load neither (the dcpki
# helper certmonger runs is itself built with ASan), so they run without it.
unset LD_PRELOAD
for tool in certmonger getcert dbus-daemon; do
  command -v "$tool" >/dev/null || fail "$tool is not installed (scripts/deps installs certmonger and dbus-daemon)"
done
start_private_emulator
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
# a [profiles] name and no default: -T takes the name, FETCH-ROOTS needs no default
write_conf "$W/dcpki.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "profiles.user=$P1"
CM=$W/cm
mkdir -p "$CM"/{requests,cas,tmp,local,out}

# ---- a private session bus and certmonger on it
cat >"$CM/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path=$CM/bus.sock</listen>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$CM/bus.conf" --fork --print-pid=3 3>"$CM/bus.pid" </dev/null \
  || fail "dbus-daemon did not start"
_priv_pids+=("$(cat "$CM/bus.pid")")
export DBUS_SESSION_BUS_ADDRESS=unix:path=$CM/bus.sock
export CERTMONGER_REQUESTS_DIR=$CM/requests CERTMONGER_CAS_DIR=$CM/cas CERTMONGER_TMPDIR=$CM/tmp \
       CERTMONGER_LOCAL_CA_DIR=$CM/local CERTMONGER_SYSTEM_LOCK_FILE=$CM/lock
# what certmonger would pass on if it passed our environment: the helper must not need it
export DCPKI_CONF=$W/nowhere.conf
certmonger -s -n -d 1 -p "$CM/certmonger.pid" </dev/null >"$CM/certmonger.log" 2>&1 &
cm_pid=$!
_priv_pids+=($cm_pid)
up=0
for _ in $(seq 1 100); do
  kill -0 "$cm_pid" 2>/dev/null || fail "certmonger exited: $(tail -5 "$CM/certmonger.log")"
  timeout 10 getcert list-cas -s >/dev/null 2>&1 && { up=1; break; }
  sleep 0.1
done
[[ $up == 1 ]] || fail "certmonger did not come up on the session bus: $(tail -5 "$CM/certmonger.log")"

# status ID: the request's certmonger status
status() { getcert list -s -i "$1" | sed -n 's/^[[:space:]]*status: //p'; }
# wait_status ID STATUS [SECONDS]
wait_status() {
  local s=
  for _ in $(seq 1 $((${3:-20} * 5))); do
    s=$(status "$1"); [[ $s == "$2" ]] && return 0
    sleep 0.2
  done
  fail "request $1 is $s, expected $2: $(getcert list -s -i "$1" | grep -E 'status|ca-error|stuck') $(tail -5 "$CM/certmonger.log")"
}
# the certificates of a list of the CA's entry (ca_root_certs, ca_other_certs, ...)
ca_list() { awk -v k="$1=" 'index($0, k) == 1 {on=1; next} /^[a-z_]+=/ {on=0} on' "$(grep -l '^id=DigiCert$' "$CM"/cas/*)" | sed 's/^ //' | awk '/BEGIN CERT/,/END CERT/'; }
pem_der() { plain x509 -outform DER | od -An -tx1; }

# ---- the README's step (the test's paths for /usr/bin/dcpki and /etc/dcpki/dcpki.conf; its
# own store of issued certificates; certmonger asked to poll after 2 s instead of 300 s)
getcert add-ca -s -c DigiCert \
  -e "$DCPKI certmonger-submit --config $W/dcpki.conf --store $CM/store --poll-delay 2" >/dev/null \
  || fail "getcert add-ca failed"
for _ in $(seq 1 100); do [[ -n $(ca_list ca_root_certs 2>/dev/null) ]] && break; sleep 0.2; done
ca_list ca_root_certs >"$CM/root.pem"
[[ -s $CM/root.pem ]] || fail "FETCH-ROOTS stored no root: $(cat "$CM"/cas/* | grep -v '^ ')"
[[ $(pem_der <"$CM/root.pem") == $(pem_der <"$EMU_ROOT") ]] || fail "the stored root is not the CA's root"
ca_list ca_other_certs >"$CM/chain.pem"
grep -q 'BEGIN CERT' "$CM/chain.pem" || fail "FETCH-ROOTS stored no CA certificate besides the root"
getcert list-cas -s -c DigiCert -v | grep -q 'self-identifies as: dcpki' || fail "IDENTIFY: $(getcert list-cas -s -c DigiCert -v)"
pass "getcert add-ca with --config in -e: IDENTIFY, FETCH-ROOTS without [profiles] default (root = the CA's root, the issuing CA among the other certificates)"

# ---- request with a [profiles] name as -T
n0=$(enrolled)
getcert request -s -c DigiCert -T user -N 'CN=host1@contoso.example' -I host1 \
  -k "$CM/out/host1.key" -f "$CM/out/host1.pem" -F "$CM/out/roots.pem" >/dev/null || fail "getcert request failed"
wait_status host1 MONITORING
getcert list -s -f "$CM/out/host1.pem" | grep -q 'status: MONITORING' || fail "getcert list -f: $(getcert list -s -f "$CM/out/host1.pem")"
plain verify -CAfile "$CM/root.pem" -untrusted "$CM/chain.pem" "$CM/out/host1.pem" | grep -q ': OK' \
  || fail "the certificate certmonger saved does not verify"
[[ $(plain x509 -in "$CM/out/host1.pem" -noout -pubkey) == $(plain pkey -in "$CM/out/host1.key" -pubout) ]] \
  || fail "the certificate is not for the key certmonger made"
[[ $(pem_der <"$CM/out/roots.pem") == $(pem_der <"$EMU_ROOT") ]] || fail "getcert -F did not write the CA's root"
[[ $(grep -c 'BEGIN CERT' "$CM/out/roots.pem") == 1 ]] || fail "getcert -F wrote more than the root as trusted"
[[ $(enrolled) == $((n0 + 1)) ]] || fail "one request should issue one certificate"
getcert list -s -i host1 | grep -q "profile: user" || fail "profile: $(getcert list -s -i host1 | grep profile)"
pass "getcert request -T user -> MONITORING; the certificate verifies against the stored root, for certmonger's key"

# ---- renewal
s1=$(plain x509 -in "$CM/out/host1.pem" -noout -serial)
getcert resubmit -s -f "$CM/out/host1.pem" >/dev/null || fail "getcert resubmit -f failed"
for _ in $(seq 1 100); do
  [[ $(plain x509 -in "$CM/out/host1.pem" -noout -serial 2>/dev/null) != "$s1" ]] && break; sleep 0.2
done
wait_status host1 MONITORING
[[ $(plain x509 -in "$CM/out/host1.pem" -noout -serial) != "$s1" ]] || fail "getcert resubmit did not renew"
[[ $(enrolled) == $((n0 + 2)) ]] || fail "the renewal should issue exactly one certificate"
plain verify -CAfile "$CM/root.pem" -untrusted "$CM/chain.pem" "$CM/out/host1.pem" | grep -q ': OK' \
  || fail "the renewed certificate does not verify"
pass "getcert resubmit -> a new certificate, MONITORING"

# ---- a profile that leaves requests pending
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending on >/dev/null
getcert request -s -c DigiCert -T "$P1" -N 'CN=host2@contoso.example' -I host2 \
  -k "$CM/out/host2.key" -f "$CM/out/host2.pem" >/dev/null || fail "getcert request (pending) failed"
wait_status host2 CA_WORKING
pid=$("$EMULATOR" list --state "$PRIV_STATE" --kind pending | awk '/host2/ {print $1}')
[[ -n $pid ]] || fail "the CA holds no pending request for host2"
sleep 3   # certmonger polls (every 2 s here): still pending
[[ $(status host2) == CA_WORKING && ! -e $CM/out/host2.pem ]] || fail "host2 left CA_WORKING before approval: $(status host2)"
"$EMULATOR" approve --state "$PRIV_STATE" --id "$pid" >/dev/null 2>&1
wait_status host2 MONITORING
plain verify -CAfile "$CM/root.pem" -untrusted "$CM/chain.pem" "$CM/out/host2.pem" | grep -q ': OK' \
  || fail "the collected certificate does not verify"
[[ $(plain x509 -in "$CM/out/host2.pem" -noout -pubkey) == $(plain pkey -in "$CM/out/host2.key" -pubout) ]] \
  || fail "the collected certificate is not for certmonger's key"
pass "pending profile -> CA_WORKING while pending, collected by certmonger's POLL once approved -> MONITORING"

# ---- getcert resubmit of a pending request asks the CA at once
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending on >/dev/null
getcert modify-ca -s -c DigiCert -e "$DCPKI certmonger-submit --config $W/dcpki.conf --store $CM/store --poll-delay 3600" >/dev/null
getcert request -s -c DigiCert -T user -N 'CN=host3@contoso.example' -I host3 \
  -k "$CM/out/host3.key" -f "$CM/out/host3.pem" >/dev/null
wait_status host3 CA_WORKING
pid=$("$EMULATOR" list --state "$PRIV_STATE" --kind pending | awk '/host3/ {print $1}')
"$EMULATOR" approve --state "$PRIV_STATE" --id "$pid" >/dev/null 2>&1
getcert resubmit -s -i host3 >/dev/null
wait_status host3 MONITORING
[[ -s $CM/out/host3.pem ]] || fail "host3's certificate was not saved"
"$EMULATOR" profile --state "$PRIV_STATE" --oid "$P1" --pending off >/dev/null
pass "getcert resubmit of an approved pending request collects it without waiting for the poll"

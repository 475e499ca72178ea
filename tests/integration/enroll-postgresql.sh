#!/bin/bash
# Issue 9: two RA hosts (two processes with their own local state) sharing one
# PostgreSQL store: concurrent enrollments of one subject from both give one
# certificate at the CA; the other host re-delivers it without a request; the
# database holds no private key in clear; a host without the store key is refused.
# A private PostgreSQL cluster (lib-pg.sh: its own data directory and Unix socket, no TCP).
source "$(dirname "$0")/lib.sh"
start_private_emulator
P1=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"

source "$(dirname "$0")/lib-pg.sh"
trap 'pg_cleanup; _cleanup' EXIT
pg_start
head -c 32 /dev/urandom >"$W/store.key"; chmod 600 "$W/store.key"
for h in a b; do
  write_conf "$W/host-$h.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "store.url=$PG_URL" "store.key_file=$W/store.key"
  mkdir -p "$W/state-$h"
done
E() { local h=$1; shift; XDG_STATE_HOME=$W/state-$h "$DCPKI" --config "$W/host-$h.conf" enroll --profile "$P1" \
  --subject "CN=$1" --pfx "$2" --pfx-pass-file "$W/pass"; }

for i in 1 2 3 4; do E a pg-same "$W/a$i.p12" >"$W/a$i.log" 2>&1 & jobs_+=($!); E b pg-same "$W/b$i.p12" >"$W/b$i.log" 2>&1 & jobs_+=($!); done; wait_jobs
for f in "$W"/a?.p12 "$W"/b?.p12; do [[ -s $f ]] || fail "no PFX $f: $(cat "${f%.p12}.log")"; done
n=$(for f in "$W"/a?.p12 "$W"/b?.p12; do pfx_serial "$f"; done | sort -u | wc -l)
[[ $(issued pg-same) == 1 && $n == 1 ]] || fail "two hosts, 8 enrollments of one subject: $(issued pg-same) at the CA, $n serials"
pass "two hosts sharing PostgreSQL, 8 concurrent enrollments of one subject: 1 certificate"

E b pg-same "$W/again.p12" >"$W/again.log" 2>&1 || fail "re-delivery from host b: $(cat "$W/again.log")"
grep -q "re-delivered" "$W/again.log" && [[ $(issued pg-same) == 1 ]] || fail "host b did not re-deliver: $(cat "$W/again.log")"
pass "the other host re-delivers from the shared store without a request"

for i in $(seq 4); do E a "pg-diff-$i" "$W/d$i.p12" >"$W/d$i.log" 2>&1 & jobs_+=($!); done; wait_jobs
for i in $(seq 4); do [[ $(issued "pg-diff-$i") == 1 ]] || fail "pg-diff-$i: $(cat "$W/d$i.log")"; done
pass "different subjects in parallel through PostgreSQL: one certificate each"

"$PGBIN/pg_dump" -h "$PG_SOCK" -U postgres dcpki >"$W/dump.sql" || fail "pg_dump"
grep -q "pg-same" "$W/dump.sql" || fail "the dump does not hold the entries (wrong database?)"
! grep -q "PRIVATE KEY" "$W/dump.sql" || fail "the database holds a PEM private key"
pass "pg_dump of the store holds no private key in clear"

head -c 32 /dev/urandom >"$W/other.key"; chmod 600 "$W/other.key"
write_conf "$W/host-c.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "store.url=$PG_URL" "store.key_file=$W/other.key"
expect_fail "store key" env XDG_STATE_HOME=$W/state-a "$DCPKI" --config "$W/host-c.conf" enroll --profile "$P1" \
  --subject CN=pg-same --pfx "$W/c.p12" --pfx-pass-file "$W/pass"
write_conf "$W/host-d.conf" "ca.host=$PRIV_HOST" "ca.trust=$(_emu "$PRIV_STATE" trust)" "store.url=$PG_URL"
expect_fail "key_file" "$DCPKI" --config "$W/host-d.conf" enroll --profile "$P1" --subject CN=pg-same --pfx "$W/d.p12" --pfx-pass-file "$W/pass"
[[ $(issued pg-same) == 1 ]] || fail "a refused host sent a request"
pass "a host with another store key, or none, is refused with a clear error before any request"

# the CA issues while the database is down: the certificate is delivered, the exit status
# says it was not recorded (4), and the same command once the database is back records it
# by a CA search, without a second certificate
start_soap_proxy "$PRIV_HOST" "$(_emu "$PRIV_STATE" trust)"
write_conf "$W/host-p.conf" "ca.host=127.0.0.1:$PXPORT" "ca.trust=$W/px.pem" "store.url=$PG_URL" "store.key_file=$W/store.key"
touch "$W/hold.enrollment"
XDG_STATE_HOME=$W/state-a "$DCPKI" --config "$W/host-p.conf" enroll --profile "$P1" --subject CN=pg-down \
  --pfx "$W/down.p12" --pfx-pass-file "$W/pass" >"$W/down1.log" 2>&1 & pid=$!
for _ in $(seq 100); do [[ $(issued pg-down) == 1 ]] && break; sleep 0.1; done
[[ $(issued pg-down) == 1 ]] || fail "the CA did not issue: $(cat "$W/down1.log")"
pg_down immediate || fail "cannot stop PostgreSQL"
rm -f "$W/hold.enrollment"
rc=0; wait $pid || rc=$?
[[ $rc == 4 ]] || fail "exit status $rc, not 4, when the store could not record the certificate: $(cat "$W/down1.log")"
grep -q "could not be recorded" "$W/down1.log" && [[ -s $W/down.p12 ]] || fail "not delivered or not said: $(cat "$W/down1.log")"
pg_up || fail "PostgreSQL did not start again"
XDG_STATE_HOME=$W/state-a "$DCPKI" --config "$W/host-p.conf" enroll --profile "$P1" --subject CN=pg-down \
  --pfx "$W/down2.p12" --pfx-pass-file "$W/pass" >"$W/down2.log" 2>&1 || fail "the re-run: $(cat "$W/down2.log")"
[[ $(issued pg-down) == 1 ]] && grep -q "found at the CA" "$W/down2.log" || fail "the re-run: $(issued pg-down) issued; $(cat "$W/down2.log")"
[[ $(pfx_serial "$W/down.p12") == $(pfx_serial "$W/down2.p12") ]] || fail "the re-run delivered another certificate"
pass "the CA issued while the store was down: delivered, exit 4; the re-run recorded it by a CA search, nothing issued twice"

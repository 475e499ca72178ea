#!/bin/bash
# The store's PostgreSQL back end: the cases of test_store (tests/unit/test_store.c)
# against a private PostgreSQL cluster (its own data directory and Unix socket,
# no TCP), then a pg_dump of the database must hold no private key: neither PEM
# nor the PKCS#8 bytes of the keys the cases stored.
# Usage: store-pg.sh PATH/TO/test_store
set -euo pipefail
T=${1:?usage: store-pg.sh PATH/TO/test_store}
fail() { echo "FAIL [store-pg]: $*" >&2; exit 1; }
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[[ -n $PGBIN && -x $PGBIN/initdb ]] ||
  fail "no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb): run scripts/deps (package postgresql)"

W=$(mktemp -d /tmp/dcpki-store-pg.XXXXXX)
chmod 711 "$W"            # the server's user goes through it to its directories
DATA=$W/data SOCK=$W/sock
mkdir -m 700 "$DATA"
mkdir -m 755 "$SOCK"
AS=()
if [[ $(id -u) == 0 ]]; then
  # the server refuses to run as root
  chown postgres: "$DATA" "$SOCK"
  AS=(runuser -u postgres --)
fi
started=0
cleanup() {
  (( started )) && "${AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" stop -m fast >/dev/null 2>&1 || true
  rm -rf "$W"
}
trap cleanup EXIT
"${AS[@]}" "$PGBIN/initdb" -D "$DATA" -A trust -U postgres --no-sync >"$W/initdb.log" 2>&1 ||
  fail "initdb: $(tail -5 "$W/initdb.log")"
"${AS[@]}" "$PGBIN/pg_ctl" -D "$DATA" -l "$SOCK/server.log" -w -t 60 \
  -o "-k $SOCK -c listen_addresses='' -c fsync=off" start >/dev/null ||
  fail "the server did not start: $(tail -5 "$SOCK/server.log")"
started=1
psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$SOCK" "$@"; }
psql -U postgres -d postgres -c 'CREATE ROLE dcpki LOGIN' -c 'CREATE DATABASE dcpki OWNER dcpki' ||
  fail "cannot create the role and database"

head -c 32 /dev/urandom >"$W/store.key"
chmod 600 "$W/store.key"
URL="postgresql:///dcpki?host=$SOCK&user=dcpki"
DCPKI_TEST_PG_URL=$URL DCPKI_TEST_PG_KEY=$W/store.key DCPKI_TEST_PG_OUT=$W "$T" ||
  fail "test_store against PostgreSQL failed (above)"

# the dump, as a backup would be: no key in it
"$PGBIN/pg_dump" -h "$SOCK" -U dcpki dcpki >"$W/dump.sql" || fail "pg_dump failed"
[[ $(psql -U dcpki -d dcpki -tA -c 'SELECT count(*) FROM entries WHERE key_sealed IS NOT NULL') -ge 1 ]] ||
  fail "no entry with a sealed key was left to look for"
[[ -s $W/pkcs8.hex ]] || fail "test_store wrote no key to look for ($W/pkcs8.hex)"
grep -q 'PRIVATE KEY' "$W/dump.sql" && fail "the dump holds a PEM private key"
while read -r hex; do
  grep -qi -- "$hex" "$W/dump.sql" && fail "the dump holds the PKCS#8 bytes of a stored key"
  # the search works: the same dump with the key written in clear would be caught
  printf '%s\n' "$hex" | grep -qi -- "$hex" || fail "grep cannot find a key's hex"
done <"$W/pkcs8.hex"
grep -q 'key_check' "$W/dump.sql" || fail "the dump has no key check value (meta)"
echo "ok - store-pg: test_store's cases pass against PostgreSQL; pg_dump holds no private key"

#!/bin/bash
# The store's PostgreSQL back end: the cases of test_store (tests/unit/test_store.c)
# against a private PostgreSQL cluster (its own data directory and Unix socket,
# no TCP), then a pg_dump of the database must hold no private key: neither PEM
# nor the PKCS#8 bytes of the keys the cases stored.
# Usage: store-pg.sh PATH/TO/test_store
set -euo pipefail
T=${1:?usage: store-pg.sh PATH/TO/test_store}
fail() { echo "FAIL [store-pg]: $*" >&2; exit 1; }
source "$(dirname "$0")/lib-pg.sh"
trap pg_cleanup EXIT
pg_start
W=$PG

head -c 32 /dev/urandom >"$W/store.key"
chmod 600 "$W/store.key"
DCPKI_TEST_PG_URL=$PG_URL DCPKI_TEST_PG_KEY=$W/store.key DCPKI_TEST_PG_OUT=$W "$T" ||
  fail "test_store against PostgreSQL failed (above)"

# the dump, as a backup would be: no key in it
"$PGBIN/pg_dump" -h "$PG_SOCK" -U dcpki dcpki >"$W/dump.sql" || fail "pg_dump failed"
[[ $(pg_psql -U dcpki -d dcpki -tA -c 'SELECT count(*) FROM entries WHERE key_sealed IS NOT NULL') -ge 1 ]] ||
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

# Sourced by the tests of the store's PostgreSQL back end (store-pg.sh, enroll-postgresql.sh):
# a private PostgreSQL cluster, its own data directory and Unix socket under a fresh
# directory in /tmp, no TCP. Needs fail().
#   pg_start    initdb, start, a role and database dcpki; sets PG (the directory), PG_SOCK
#               and PG_URL (the store.url of the database). pg_cleanup belongs in the
#               caller's EXIT trap.
#   pg_up, pg_down [MODE]   start the server again / stop it (pg_ctl stop -m MODE, fast)
#   pg_psql ARGS...         psql on the cluster's socket, stopping at the first error
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
PG= PG_AS=()

pg_start() {
  [[ -n $PGBIN && -x $PGBIN/initdb ]] ||
    fail "no PostgreSQL server (/usr/lib/postgresql/*/bin/initdb): run scripts/deps (package postgresql)"
  PG=$(mktemp -d /tmp/dcpki-pg.XXXXXX)
  chmod 711 "$PG"            # the server's user goes through it to its directories
  PG_DATA=$PG/data PG_SOCK=$PG/sock
  mkdir -m 700 "$PG_DATA"
  mkdir -m 755 "$PG_SOCK"   # the server's log too: where postgres may write
  if [[ $(id -u) == 0 ]]; then
    # the server refuses to run as root
    chown postgres: "$PG_DATA" "$PG_SOCK"
    PG_AS=(runuser -u postgres --)
  fi
  "${PG_AS[@]}" "$PGBIN/initdb" -D "$PG_DATA" -A trust -U postgres --no-sync >"$PG/initdb.log" 2>&1 ||
    fail "initdb: $(tail -5 "$PG/initdb.log")"
  pg_up || fail "the server did not start: $(tail -5 "$PG_SOCK/server.log")"
  pg_psql -U postgres -d postgres -c 'CREATE ROLE dcpki LOGIN' -c 'CREATE DATABASE dcpki OWNER dcpki' ||
    fail "cannot create the role and database"
  PG_URL="postgresql:///dcpki?host=$PG_SOCK&user=dcpki"
}
pg_up() {
  "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PG_DATA" -l "$PG_SOCK/server.log" -w -t 60 \
    -o "-k $PG_SOCK -c listen_addresses='' -c fsync=off" start >/dev/null
}
pg_down() { "${PG_AS[@]}" "$PGBIN/pg_ctl" -D "$PG_DATA" -w stop -m "${1:-fast}" >/dev/null; }
pg_psql() { "$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" "$@"; }
pg_cleanup() {
  [[ -n $PG ]] || return 0
  pg_down fast 2>/dev/null || true
  rm -rf "$PG"
}

#!/bin/bash
# dcpki CLI: --help and --version on every group and command, usage errors
# (one line on stderr, nothing on stdout, exit status 1).
source "$(dirname "$0")/lib.sh"

# fails1 CMD... : exit status exactly 1, no stdout, exactly one stderr line "dcpki: ..."; sets ERR
fails1() {
  local rc=0
  "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
  [[ $rc == 1 ]] || fail "expected exit status 1 from: $* (got $rc; stderr: $(cat "$W/err"))"
  [[ ! -s $W/out ]] || fail "expected nothing on stdout from: $*; got: $(cat "$W/out")"
  [[ $(wc -l <"$W/err") == 1 ]] || fail "expected one line on stderr from: $*; got: $(cat "$W/err")"
  grep -q '^dcpki: ' "$W/err" || fail "stderr of $* does not start with 'dcpki: ': $(cat "$W/err")"
  ERR=$(cat "$W/err")
}
# helps "Usage line" CMD... : exit 0, usage on stdout, nothing on stderr
helps() {
  local want=$1; shift
  local rc=0
  "$@" >"$W/out" 2>"$W/err" </dev/null || rc=$?
  [[ $rc == 0 ]] || fail "expected exit 0 from: $* (got $rc: $(cat "$W/err"))"
  [[ ! -s $W/err ]] || fail "unexpected stderr from: $*: $(cat "$W/err")"
  grep -qF -- "$want" "$W/out" || fail "expected '$want' in the output of $*; got: $(cat "$W/out")"
}

helps "Usage: dcpki [--config FILE] [--json] COMMAND" "$DCPKI" --help
helps "Usage: dcpki [--config FILE]" "$DCPKI" -h
helps "Usage: dcpki [--config FILE]" "$DCPKI" help
grep -q '^  ra ' "$W/out" && grep -q '^  keys ' "$W/out" || fail "dcpki --help does not list the groups: $(cat "$W/out")"
pass "dcpki --help lists the command groups"

helps "dcpki " "$DCPKI" --version
grep -qE '^dcpki [0-9]+\.[0-9]+\.[0-9]+ \(OpenSSL 3' "$W/out" || fail "bad --version: $(cat "$W/out")"
pass "dcpki --version"

helps "Usage: dcpki ra COMMAND" "$DCPKI" ra --help
for c in keygen csr import show; do grep -q "^  $c " "$W/out" || fail "dcpki ra --help does not list $c"; done
helps "Usage: dcpki keys COMMAND" "$DCPKI" keys --help
for c in list show ref; do grep -q "^  $c " "$W/out" || fail "dcpki keys --help does not list $c"; done
helps "Usage: dcpki ra keygen" "$DCPKI" ra keygen --help
helps "--bits N" "$DCPKI" ra keygen -h
helps "Usage: dcpki ra csr --subject" "$DCPKI" ra csr --help
helps "Usage: dcpki ra import CERT" "$DCPKI" ra import --help
helps "Usage: dcpki ra show" "$DCPKI" ra show --help
helps "Usage: dcpki keys list" "$DCPKI" keys list --help
helps "Usage: dcpki keys show ALIAS" "$DCPKI" keys show --help
helps "Usage: dcpki keys ref ALIAS" "$DCPKI" keys ref --help
# --help wins over missing arguments and needs no configuration
helps "Usage: dcpki keys show ALIAS" env DCPKI_CONF=/nonexistent "$DCPKI" keys show --help
helps "Usage: dcpki ra show" "$DCPKI" --config /nonexistent ra show --help
pass "--help on every group and command"

fails1 "$DCPKI"
grep -q "no command given" <<<"$ERR" || fail "no-command message: $ERR"
fails1 "$DCPKI" frobnicate
grep -qF "unknown command 'frobnicate'" <<<"$ERR" || fail "unknown command message: $ERR"
grep -qF "run 'dcpki --help' for usage" <<<"$ERR" || fail "no remedy in: $ERR"
fails1 "$DCPKI" ra frob
grep -qF "unknown command 'dcpki ra frob'" <<<"$ERR" || fail "unknown subcommand message: $ERR"
fails1 "$DCPKI" ra
grep -qF "'dcpki ra' needs a command" <<<"$ERR" || fail "missing subcommand message: $ERR"
fails1 "$DCPKI" keys
fails1 "$DCPKI" --frob
grep -qF "unknown option '--frob'" <<<"$ERR" || fail "unknown global option message: $ERR"
fails1 "$DCPKI" ra keygen --frob
grep -qF "unknown option '--frob'" <<<"$ERR" && grep -qF "run 'dcpki ra keygen --help'" <<<"$ERR" || fail "unknown option message: $ERR"
fails1 "$DCPKI" ra keygen -x
grep -qF "unknown option '-x'" <<<"$ERR" || fail "unknown short option message: $ERR"
fails1 "$DCPKI" ra csr --subject
grep -qF "option '--subject' needs a value" <<<"$ERR" || fail "missing value message: $ERR"
fails1 "$DCPKI" --config
grep -qF "needs a value" <<<"$ERR" || fail "missing --config value message: $ERR"
fails1 "$DCPKI" ra csr --key "$W/none.key"
grep -qF -- '--subject "CN=..." is required' <<<"$ERR" || fail "missing --subject message: $ERR"
fails1 "$DCPKI" keys show
grep -qF "'dcpki keys show' needs one more argument" <<<"$ERR" || fail "missing alias message: $ERR"
fails1 "$DCPKI" keys show a b
grep -qF "unexpected argument 'b'" <<<"$ERR" || fail "extra argument message: $ERR"
fails1 "$DCPKI" keys ref
fails1 "$DCPKI" ra import
fails1 "$DCPKI" ra show extra
fails1 "$DCPKI" ra keygen --bits 1024 --out "$W/k"
grep -qF -- "--bits must be a number from 2048" <<<"$ERR" || fail "bad --bits message: $ERR"
fails1 "$DCPKI" ra keygen --bits 2048x --out "$W/k"
[[ ! -e $W/k ]] || fail "a key was written despite a usage error"
pass "usage errors: one line, exit 1"

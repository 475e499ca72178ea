#!/bin/bash
# dcpki CLI: --help and --version on every group and command, usage errors
# (one line on stderr, nothing on stdout, exit status 2) on every command.
source "$(dirname "$0")/lib.sh"

# fails2 CMD... : exit status exactly 2 (usage error), no stdout, exactly one stderr line
# "dcpki: invalid command line: ..."; sets ERR (lib.sh's fails2, the message more precise)
fails2() { fails_as 2 'dcpki: invalid command line: ' "$@"; }
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

# the version is CMake's project version (CMakeLists.txt), by option and by command
want=$(sed -n 's/^project(dcpki VERSION \([0-9.]*\).*/\1/p' "$DCPKI_SRC/CMakeLists.txt")
[[ -n $want ]] || fail "no project(dcpki VERSION ...) in CMakeLists.txt"
helps "dcpki " "$DCPKI" --version
grep -qE "^dcpki ${want//./\\.} \(OpenSSL 3" "$W/out" || fail "bad --version (want $want): $(cat "$W/out")"
cp "$W/out" "$W/version-opt"
helps "dcpki " "$DCPKI" version
cmp -s "$W/out" "$W/version-opt" || fail "dcpki version and dcpki --version differ: $(cat "$W/out" "$W/version-opt")"
helps "Usage: dcpki version" "$DCPKI" version --help
pass "dcpki --version and dcpki version print $want, exit 0"

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

fails2 "$DCPKI"
grep -q "no command given" <<<"$ERR" || fail "no-command message: $ERR"
fails2 "$DCPKI" frobnicate
grep -qF "unknown command 'frobnicate'" <<<"$ERR" || fail "unknown command message: $ERR"
grep -qF "run 'dcpki --help' for usage" <<<"$ERR" || fail "no remedy in: $ERR"
fails2 "$DCPKI" ra frob
grep -qF "unknown command 'dcpki ra frob'" <<<"$ERR" || fail "unknown subcommand message: $ERR"
fails2 "$DCPKI" ra
grep -qF "'dcpki ra' needs a command" <<<"$ERR" || fail "missing subcommand message: $ERR"
fails2 "$DCPKI" keys
fails2 "$DCPKI" --frob
grep -qF "unknown option '--frob'" <<<"$ERR" || fail "unknown global option message: $ERR"
fails2 "$DCPKI" ra keygen --frob
grep -qF "unknown option '--frob'" <<<"$ERR" && grep -qF "run 'dcpki ra keygen --help'" <<<"$ERR" || fail "unknown option message: $ERR"
fails2 "$DCPKI" ra keygen -x
grep -qF "unknown option '-x'" <<<"$ERR" || fail "unknown short option message: $ERR"
fails2 "$DCPKI" ra csr --subject
grep -qF "option '--subject' needs a value" <<<"$ERR" || fail "missing value message: $ERR"
fails2 "$DCPKI" --config
grep -qF "needs a value" <<<"$ERR" || fail "missing --config value message: $ERR"
fails2 "$DCPKI" ra csr --key "$W/none.key"
grep -qF -- '--subject "CN=..." is required' <<<"$ERR" || fail "missing --subject message: $ERR"
fails2 "$DCPKI" keys show
grep -qF "'dcpki keys show' needs one more argument" <<<"$ERR" || fail "missing alias message: $ERR"
fails2 "$DCPKI" keys show a b
grep -qF "unexpected argument 'b'" <<<"$ERR" || fail "extra argument message: $ERR"
fails2 "$DCPKI" keys ref
fails2 "$DCPKI" ra import
fails2 "$DCPKI" ra show extra
fails2 "$DCPKI" ra keygen --bits 1024 --out "$W/k"
grep -qF -- "--bits must be a number from 2048" <<<"$ERR" || fail "bad --bits message: $ERR"
fails2 "$DCPKI" ra keygen --bits 2048x --out "$W/k"
[[ ! -e $W/k ]] || fail "a key was written despite a usage error"
pass "usage errors: one line, exit 2"

# every leaf command: an unknown option and a stray operand are usage errors (2)
# (certmonger-submit answers in certmonger's statuses: 4, under-configured)
leaves=("ra keygen" "ra csr" "ra import" "ra show" "keys list" "keys show" "keys ref" policy enroll
        revoke status doctor version)
for c in "${leaves[@]}"; do
  # shellcheck disable=SC2086
  fails2 "$DCPKI" $c --no-such-option
  grep -qF "unknown option '--no-such-option'" <<<"$ERR" || fail "dcpki $c: unknown option message: $ERR"
  # shellcheck disable=SC2086
  fails2 "$DCPKI" $c a1 a2 a3
  grep -qF "unexpected argument" <<<"$ERR" || fail "dcpki $c: extra operand message: $ERR"
done
fails2 "$DCPKI" keys frob
fails2 "$DCPKI" ra import                                     # missing operand
fails2 "$DCPKI" enroll                                        # no mode
grep -qF "give exactly one of --subject, --csr, --poll and --batch" <<<"$ERR" || fail "enroll without mode: $ERR"
fails2 "$DCPKI" enroll --subject "CN=x" --pfx "$W/x.p12" --pfx-pass-file "$W/nopass" --san bogus:x
grep -qF 'unknown type "bogus"' <<<"$ERR" || fail "enroll bad --san: $ERR"
fails2 "$DCPKI" enroll --subject "CN" --pfx "$W/x.p12" --pfx-pass-file "$W/nopass"
fails2 "$DCPKI" enroll --csr "$W/x.csr"                      # --csr needs --out
fails2 "$DCPKI" enroll --poll 1 --renew --out "$W/x.pem"
fails2 "$DCPKI" revoke
grep -qF -- "--serial HEX is required" <<<"$ERR" || fail "revoke without --serial: $ERR"
fails2 "$DCPKI" revoke --serial 0A --reason sleepy
grep -qF "unknown --reason 'sleepy'" <<<"$ERR" || fail "revoke bad --reason: $ERR"
fails2 "$DCPKI" revoke --serial XYZ
grep -qF "is not hex" <<<"$ERR" || fail "revoke bad --serial: $ERR"
fails2 "$DCPKI" status
fails2 "$DCPKI" status --serial "0A-0B"
fails2 "$DCPKI" policy --serial 1
[[ ! -e $W/x.p12 ]] || fail "a file was written despite a usage error"
rc=0; "$DCPKI" certmonger-submit --no-such-option >/dev/null 2>&1 || rc=$?
[[ $rc == 4 ]] || fail "certmonger-submit usage error: exit $rc, expected certmonger's 4"
pass "usage errors on every command: exit 2 (certmonger-submit: 4)"

helps "  3  enroll: the CA left the request pending" "$DCPKI" --help
grep -qF "  2  invalid command line" "$W/out" || fail "dcpki --help does not document exit status 2"
helps "3 pending" "$DCPKI" enroll --help
pass "exit statuses documented in --help"

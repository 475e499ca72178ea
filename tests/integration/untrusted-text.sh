#!/bin/bash
# Untrusted text is shown escaped, never raw: an ESC sequence in a dcpki: URI
# (the provider's error data), a newline in --san (the CLI's one-line error), an
# OSC sequence in an alias (CLI). dcpki's output holds no raw control character
# and shows "\x1b"/"\n". (dcpki_escape serves every front end, the PKCS#11
# module's syslog lines included; unit test: test_error.c test_escape.)
source "$(dirname "$0")/lib.sh"
raw_controls() { LC_ALL=C grep -c $'[\x01-\x08\x0b-\x1f\x7f]' <<<"$1" || true; }

# provider: OpenSSL prints the error data. (openssl's own lines, "Could not open
# file or uri ..." and the file store's, echo the argument as given: not ours.)
all=$(openssl pkey -in $'dcpki:key=\e[31mred' -noout 2>&1) && fail "a key with an ESC in its alias was loaded"
out=$(grep ':dcpki:' <<<"$all") || fail "no dcpki error line: $all"
[[ $(raw_controls "$out") == 0 ]] || fail "raw control characters in dcpki's error: $(cat -v <<<"$out")"
grep -qF 'key=\x1b[31mred' <<<"$out" || fail "the alias is not shown escaped: $out"
pass "provider: an ESC in a dcpki: URI is shown as \\x1b"

# CLI: one line, newline shown as \n
P=2.16.840.1.113733.1.16.1.2.3.1.1.47196109
printf 'pfx-secret\n' >"$W/pass"
rc=0; out=$("$DCPKI" enroll --store "$W/store" --profile "$P" --subject "CN=x" --san $'dns:a\nb.example' \
  --pfx "$W/x.p12" --pfx-pass-file "$W/pass" 2>&1) || rc=$?
[[ $rc != 0 ]] || fail "a SAN with a newline was accepted"
[[ $(wc -l <<<"$out") == 1 ]] || fail "the error is not one line: $out"
grep -qF 'a\nb.example' <<<"$out" || fail "the newline is not shown as \\n: $out"
[[ $(raw_controls "$out") == 0 ]] || fail "raw control characters in the CLI's error: $(cat -v <<<"$out")"
[[ ! -e $W/x.p12 ]] || fail "a PFX was written"
pass "CLI: a newline in --san is shown as \\n on one line"

rc=0; out=$("$DCPKI" keys show $'no\e]0;title\asuch' 2>&1) || rc=$?
[[ $rc != 0 ]] || fail "keys show of a missing alias succeeded"
[[ $(raw_controls "$out") == 0 ]] || fail "raw control characters in 'keys show': $(cat -v <<<"$out")"
pass "CLI: an OSC sequence in an alias is escaped"

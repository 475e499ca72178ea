#!/bin/bash
# Manual pages (man/): each renders without a warning (groff -ww, man-db's
# `man --warnings` as lintian runs it, mandoc -T lint); dcpki(1) names every
# command of `dcpki help` and, in that command's subsection, an entry for
# every option of its --help; dcpki.conf(5) has a subsection for every section and an entry for
# every key that the parser (src/core/config.c) accepts.
# Usage: man-pages.sh PATH-TO-BUILT-dcpki   (DCPKI_SRC = the source tree)
set -euo pipefail
DCPKI=$1
SRC=${DCPKI_SRC:?DCPKI_SRC must name the source tree}
fail() { echo "FAIL [man-pages]: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
export LC_ALL=C.UTF-8

pages=("$SRC"/man/dcpki.1 "$SRC"/man/dcpki.conf.5 "$SRC"/man/dcpki-provider.7 "$SRC"/man/dcpki-pkcs11.7)
for m in "${pages[@]}"; do
  [[ -f $m ]] || fail "missing $m"
  out=$(groff -man -ww -z -Tutf8 "$m" 2>&1) || fail "groff failed on $m: $out"
  [[ -z $out ]] || fail "groff warnings in $m: $out"
  out=$(MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$m" 2>&1 >/dev/null) || fail "man failed on $m: $out"
  [[ -z $out ]] || fail "man --warnings in $m: $out"
  out=$(mandoc -T lint -W warning "$m" 2>&1) || fail "mandoc -T lint on $m: $out"
done
pass "${#pages[@]} pages render without warnings (groff -ww, man --warnings, mandoc -T lint)"

# plain text, one long line per paragraph, no hyphenation, so words stay whole
render() { groff -man -Tascii -P-cbou -rLL=250n -rHY=0 "$1" 2>/dev/null; }
# the lines of subsection TITLE (".SS TITLE": "   TITLE" in the text) up to the next heading
subsection() { awk -v t="   $2" '$0 == t {on = 1; next} on && /^(   )?[^ ]/ {exit} on' <<<"$1"; }
section() { awk -v t="$2" '$0 == t {on = 1; next} on && /^[^ ]/ {exit} on' <<<"$1"; }

# ---- dcpki(1) against dcpki's own help
man1=$(render "$SRC/man/dcpki.1")
commands_of() { "$DCPKI" "$@" --help | awk '/^Commands:/ {c = 1; next} c && /^  [a-z]/ {print $1} c && /^$/ {c = 0}'; }
# options in usage and option lines: every "--long", and "-s" of "-s, --long"
options_of() {
  local h
  h=$("$DCPKI" "$@" --help | grep -E '^(Usage:|[[:space:]]+-|[[:space:]]+dcpki )')
  { grep -oE -- '(^|[[ (|,])--[a-zA-Z][a-zA-Z0-9-]*' <<<"$h" | sed -E 's/^[[ (|,]//'
    grep -oE -- '(^|[ ])-[a-zA-Z], --' <<<"$h" | grep -oE -- '-[a-zA-Z]'; } | sort -u
}
top=$(commands_of)
[[ $(wc -w <<<"$top") -ge 8 ]] || fail "dcpki --help lists too few commands: $top"
opts=$(section "$man1" OPTIONS)
for o in $(options_of); do
  grep -qE -- "(^|[^a-zA-Z0-9-])$o([^a-zA-Z0-9-]|$)" <<<"$opts" || fail "dcpki(1) OPTIONS does not describe the global option $o"
done
n_cmd=0 n_opt=0
for c in $top; do
  subs=$(commands_of "$c")
  for leaf in ${subs:-""}; do
    path="$c${leaf:+ $leaf}"
    text=$(subsection "$man1" "$path")
    [[ -n $text ]] || fail "dcpki(1) has no subsection \"$path\" (.SS \"$path\")"
    n_cmd=$((n_cmd + 1))
    # shellcheck disable=SC2086
    for o in $(options_of $path); do
      case $o in -h | --help | --json | --config) continue ;; esac   # global: OPTIONS
      # an entry (.TP tag) of its own: "-s, --long ARG" or "--long ARG"
      grep -qE -- "^       ((-[a-zA-Z], )?$o( |,|\$)|$o, )" <<<"$text" \
        || fail "dcpki(1), subsection \"$path\", has no entry for $o (from dcpki $path --help)"
      n_opt=$((n_opt + 1))
    done
  done
done
for s in "EXIT STATUS" ENVIRONMENT FILES EXAMPLES; do
  grep -qx "$s" <<<"$man1" || fail "dcpki(1) has no $s section"
done
exits=$(section "$man1" "EXIT STATUS")
for code in 0 1 2 3; do
  grep -qE "^       $code( |$)" <<<"$exits" || fail "dcpki(1) EXIT STATUS does not describe status $code"
done
pass "dcpki(1): $n_cmd commands and $n_opt options of dcpki's help, exit statuses 0-3"

# ---- dcpki.conf(5) against the parser: KEY(SEC_X, "key", ...) lines and the
# special keys named next to a SEC_ constant; section names from section_names[]
cfg=$SRC/src/core/config.c
man5=$(render "$SRC/man/dcpki.conf.5")
mapfile -t secnames < <(sed -n 's/.*section_names\[\] *= *{\(.*\)}.*/\1/p' "$cfg" | grep -oE '"[a-z0-9_]*"' | tr -d '"')
mapfile -t secenums < <(sed -n 's/^enum section *{\(.*\)}.*/\1/p' "$cfg" | grep -oE 'SEC_[A-Z0-9_]+')
[[ ${#secnames[@]} -ge 5 && ${#secnames[@]} == "${#secenums[@]}" ]] \
  || fail "cannot read the sections of $cfg (names: ${secnames[*]}; enum: ${secenums[*]})"
declare -A secname
for i in "${!secenums[@]}"; do secname[${secenums[$i]}]=${secnames[$i]}; done
for i in "${!secnames[@]}"; do
  [[ -z ${secnames[$i]} ]] && continue
  [[ -n $(subsection "$man5" "[${secnames[$i]}]") ]] || fail "dcpki.conf(5) has no subsection [${secnames[$i]}]"
done
pairs=$(grep -v '^\s*\(/\*\|\*\)' "$cfg" | grep -oE 'SEC_[A-Z0-9_]+[^"]*"[a-z][a-z0-9_]*"' \
        | sed -E 's/^(SEC_[A-Z0-9_]+)[^"]*"([a-z0-9_]+)"$/\1 \2/' | sort -u)
n=0
while read -r enum key; do
  sec=${secname[$enum]:-}
  [[ -n $sec ]] || fail "config.c: $enum (key $key) is not in section_names[]"
  subsection "$man5" "[$sec]" | grep -qE "^       $key( |$)" \
    || fail "dcpki.conf(5), subsection [$sec], does not describe the key $key that config.c accepts"
  n=$((n + 1))
done <<<"$pairs"
[[ $n -ge 12 ]] || fail "found only $n keys in $cfg: $pairs"
grep -qE '^       default( |$)' <<<"$(subsection "$man5" "[profiles]")" || fail "dcpki.conf(5) does not describe [profiles] default"
pass "dcpki.conf(5): $((${#secnames[@]} - 1)) sections and the $n keys config.c accepts"

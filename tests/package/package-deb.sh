#!/bin/bash
# package-deb: `dpkg-buildpackage -us -uc -b` in a temporary copy of the source
# tree (never in it, never installing anything), then `dpkg-deb` checks that
# the three packages put every file where this system's OpenSSL, p11-kit and
# bash-completion look for it, the conffile, the state and cache directories,
# the purge script and the dependencies that make `dcpki` pull the rest.
# DCPKI_SRC = the source tree. DEB_BUILD_OPTIONS is honoured (default
# parallel=2; the package build runs the unit tests unless nocheck).
set -euo pipefail
SRC=${DCPKI_SRC:?DCPKI_SRC must name the source tree}
fail() { echo "FAIL [package-deb]: $*" >&2; exit 1; }
pass() { echo "ok - $*"; }
export LC_ALL=C.UTF-8

T=$(mktemp -d /tmp/dcpki-deb.XXXXXX)
trap 'rm -rf "$T"' EXIT
mkdir "$T/dcpki"
# the source files as git sees them (tracked and untracked, not ignored), else
# the tree without build directories
if git -C "$SRC" rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  (cd "$SRC" && git ls-files -z --cached --others --exclude-standard) |
    while IFS= read -r -d '' f; do [[ -e $SRC/$f ]] && printf '%s\0' "$f"; done |
    tar -C "$SRC" --null -T - -cf - | tar -C "$T/dcpki" -xf -
else
  tar -C "$SRC" --exclude='./build*' --exclude='./obj-*' --exclude=./.git -cf - . | tar -C "$T/dcpki" -xf -
fi
[[ -x $T/dcpki/debian/rules ]] || fail "no executable debian/rules in the copy of $SRC"

version=$(cd "$T/dcpki" && dpkg-parsechangelog -S Version)
arch=$(dpkg --print-architecture)
(cd "$T/dcpki" && DEB_BUILD_OPTIONS=${DEB_BUILD_OPTIONS:-parallel=2} dpkg-buildpackage -us -uc -b >"$T/build.log" 2>&1) \
  || fail "dpkg-buildpackage failed: $(tail -40 "$T/build.log")"
if [[ " ${DEB_BUILD_OPTIONS:-} " != *" nocheck "* ]]; then
  grep -qE '^100% tests passed, 0 tests failed out of [1-9]' "$T/build.log" \
    || fail "the package build ran no unit tests: $(grep -E 'tests passed|No tests' "$T/build.log")"
fi
for p in dcpki openssl-provider-dcpki dcpki-pkcs11; do
  [[ -f $T/${p}_${version}_${arch}.deb ]] || fail "no ${p}_${version}_${arch}.deb: $(ls "$T")"
done
pass "dpkg-buildpackage -b: dcpki, openssl-provider-dcpki, dcpki-pkcs11 $version"

# where this system looks
ossl_modules=$(openssl version -m | sed -n 's/^MODULESDIR: "\(.*\)"$/\1/p')
p11_modules=$(pkg-config --variable=p11_module_path p11-kit-1)
p11_configs=$(pkg-config --variable=p11_module_configs p11-kit-1)
completions=$(pkg-config --variable=completionsdir bash-completion 2>/dev/null || echo /usr/share/bash-completion/completions)
[[ -n $ossl_modules && -n $p11_modules && -n $p11_configs ]] \
  || fail "cannot ask OpenSSL / p11-kit where they look ($ossl_modules, $p11_modules, $p11_configs)"

# has DEB PATH MODE: the package's data has PATH (a file, or a directory when
# PATH ends in /) with MODE (e.g. -rw-r--r--)
has() {
  local listing
  listing=$(dpkg-deb -c "$T/${1}_${version}_${arch}.deb") || fail "dpkg-deb -c $1"
  grep -qE "^$3 root/root +[0-9]+ [0-9-]+ [0-9:]+ \.${2//./\\.}$" <<<"$listing" \
    || fail "$1 does not hold $2 with mode $3: $(grep -F "${2%/}" <<<"$listing" || echo absent)"
}
F=-rw-r--r-- X=-rwxr-xr-x D=drwxr-xr-x
has dcpki /usr/bin/dcpki $X
has dcpki /etc/dcpki/ $D
has dcpki /etc/dcpki/dcpki.conf $F
has dcpki /var/lib/dcpki/ $D
has dcpki /var/cache/dcpki/ $D
has dcpki /usr/share/doc/dcpki/examples/openssl.cnf.example $F
has dcpki /usr/share/doc/dcpki/examples/dcpki.conf.example $F
has dcpki /usr/share/man/man1/dcpki.1.gz $F
has dcpki /usr/share/man/man5/dcpki.conf.5.gz $F
has dcpki "$completions/dcpki" $F
has dcpki /lib/systemd/system/dcpki-agent.service $F
has openssl-provider-dcpki "$ossl_modules/dcpki.so" -rw-r--r--
has openssl-provider-dcpki /usr/share/man/man7/dcpki-provider.7.gz $F
has dcpki-pkcs11 "$p11_modules/dcpki-pkcs11.so" -rw-r--r--
has dcpki-pkcs11 "$p11_configs/dcpki.module" $F
has dcpki-pkcs11 /usr/share/man/man7/dcpki-pkcs11.7.gz $F
pass "files: the provider in $ossl_modules, the module in $p11_modules, its registration in $p11_configs, completion in $completions"

# nothing outside those places (e.g. no stray /usr/share/dcpki, no /usr/local)
for p in dcpki openssl-provider-dcpki dcpki-pkcs11; do
  stray=$(dpkg-deb -c "$T/${p}_${version}_${arch}.deb" | awk '{print $6}' | sed 's|^\./|/|' |
          grep -vE "^/(\$|etc/(dcpki/.*)?\$|var/(lib|cache)/(dcpki/)?\$|var/\$|lib/(systemd/(system/(dcpki-agent\.service)?)?)?\$|usr/(bin/(dcpki)?|share/(doc|man|p11-kit|bash-completion)/.*|lib/.*(ossl-modules|pkcs11)/.*|lib/.*/|lib/|share/|)\$)" || true)
  [[ -z $stray ]] || fail "$p holds files outside the expected places: $stray"
done

# the registration names the module as p11-kit resolves it
reg=$(dpkg-deb --fsys-tarfile "$T/dcpki-pkcs11_${version}_${arch}.deb" | tar -xOf - ".$p11_configs/dcpki.module")
mod=$(sed -n 's/^module: *//p' <<<"$reg")
[[ $mod == dcpki-pkcs11.so || $mod == "$p11_modules/dcpki-pkcs11.so" ]] || fail "dcpki.module names '$mod'"
grep -qx 'critical: no' <<<"$reg" || fail "dcpki.module is not critical: no"
cnf=$(dpkg-deb --fsys-tarfile "$T/dcpki_${version}_${arch}.deb" | tar -xOf - ./usr/share/doc/dcpki/examples/openssl.cnf.example)
grep -qx "module = $ossl_modules/dcpki.so" <<<"$cnf" || fail "openssl.cnf.example: $(grep '^module' <<<"$cnf")"
pass "dcpki.module names '$mod'; openssl.cnf.example names $ossl_modules/dcpki.so"

# control: conffile, purge, dependencies
ctl=$T/ctl; mkdir "$ctl"
dpkg-deb -e "$T/dcpki_${version}_${arch}.deb" "$ctl"
[[ $(cat "$ctl/conffiles") == /etc/dcpki/dcpki.conf ]] || fail "conffiles: $(cat "$ctl/conffiles")"
grep -q 'purge' "$ctl/postrm" && grep -q 'rm -rf /var/lib/dcpki /var/cache/dcpki' "$ctl/postrm" \
  || fail "postrm does not remove state and cache on purge: $(cat "$ctl/postrm")"
dep=$(dpkg-deb -f "$T/dcpki_${version}_${arch}.deb" Depends)
for p in openssl-provider-dcpki dcpki-pkcs11; do
  grep -qF "$p (= $version)" <<<"$dep" || fail "dcpki does not depend on $p (= $version): $dep"
done
# the conffile is the commented template: it sets nothing
dpkg-deb --fsys-tarfile "$T/dcpki_${version}_${arch}.deb" | tar -xOf - ./etc/dcpki/dcpki.conf >"$T/dcpki.conf"
if grep -vE '^\s*([;#]|$)' "$T/dcpki.conf"; then fail "/etc/dcpki/dcpki.conf sets something (above)"; fi
grep -q 'getent group dcpki >/dev/null || addgroup --quiet --system dcpki' "$ctl/postinst" \
  || fail "postinst does not make the group dcpki: $(cat "$ctl/postinst")"
# the agent's unit: installed, not enabled on a fresh install (debhelper's "dont-enable" snippet enables it
# again only where the administrator had, and no snippet says new installations run enable)
grep -q "deb-systemd-helper debian-installed 'dcpki-agent.service'" "$ctl/postinst" \
  && ! grep -q 'new installations run enable' "$ctl/postinst" || fail "postinst enables dcpki-agent.service on install"
dpkg-deb --fsys-tarfile "$T/dcpki_${version}_${arch}.deb" \
  | tar -xOf - ./lib/systemd/system/dcpki-agent.service | grep -qx 'ExecStart=/usr/bin/dcpki agent' \
  || fail "dcpki-agent.service does not run /usr/bin/dcpki agent"
pass "conffile /etc/dcpki/dcpki.conf (commented), postrm purge, dcpki depends on the provider and the module; postinst makes the group dcpki; dcpki-agent.service installed, not enabled"

# the packaged CLI runs and prints the project version
dpkg-deb -x "$T/dcpki_${version}_${arch}.deb" "$T/root"
"$T/root/usr/bin/dcpki" --version | grep -qE "^dcpki ${version//./\\.} " || fail "packaged dcpki --version: $("$T/root/usr/bin/dcpki" --version)"
pass "packaged dcpki --version: $("$T/root/usr/bin/dcpki" --version)"

#!/bin/bash
# The keypair metadata cache on disk ($XDG_CACHE_HOME/dcpki/keys): each
# `openssl dgst -sign dcpki:key=...` is a new process, and with the cache it
# costs one request (sign) instead of two (describe + sign). A cache entry
# whose public key is wrong is detected (the signature does not verify),
# replaced, and the signature made again; DCPKI_NO_DISK_CACHE=1 turns it off.
source "$(dirname "$0")/lib.sh"
cd "$W"
export XDG_CACHE_HOME=$W/cache
start_private_emulator
export DCPKI_CONF=$W/priv.conf OPENSSL_CONF=$W/priv-openssl.cnf
LOG=$W/priv-emu.log
KEYS=$XDG_CACHE_HOME/dcpki/keys

# requests in the log after line $1: GET keypairs/..., POST .../sign
gets_since() { tail -n +"$(( $1 + 1 ))" "$LOG" | grep -c 'dcpki-emulator: GET /signingmanager/api/v1/keypairs/' || true; }
signs_since() { tail -n +"$(( $1 + 1 ))" "$LOG" | grep -c 'dcpki-emulator: POST /signingmanager/api/v1/keypairs/.*/sign ' || true; }
lines() { wc -l <"$LOG"; }
# the log line is written after the answer: wait until $2 signatures show
settle() { for _ in $(seq 1 50); do (( $(signs_since "$1") >= $2 )) && break; sleep 0.1; done; sleep 0.3; }

echo "to be signed" >data.txt
openssl storeutl -certs dcpki:key=issuing-ca | sed -n '1,/END CERTIFICATE/p' | sed -n '/BEGIN CERT/,/END CERT/p' >ca.pem
plain x509 -in ca.pem -pubkey -noout >rsa.pub || fail "no certificate for issuing-ca"
sign() { openssl dgst -sha256 -sign dcpki:key=issuing-ca -out "$1" data.txt || fail "openssl dgst -sign ($1)"
         plain dgst -sha256 -verify rsa.pub -signature "$1" data.txt >/dev/null || fail "signature $1 does not verify"; }

# two signatures in two processes, from an empty cache: one describe
rm -rf "$XDG_CACHE_HOME"
n0=$(lines)
sign s1.bin
sign s2.bin
settle "$n0" 2
g=$(gets_since "$n0"); s=$(signs_since "$n0")
[[ $g == 1 && $s == 2 ]] || fail "two signatures cost $g describe and $s sign requests (want 1 and 2)"
pass "two openssl processes: one GET keypairs, two signatures"

# the cache: a private directory, one private file, no secret
[[ $(stat -c %a "$KEYS") == 700 ]] || fail "cache directory mode $(stat -c %a "$KEYS")"
files=("$KEYS"/*)
[[ ${#files[@]} == 1 ]] || fail "expected one cache file, found: ${files[*]}"
F=${files[0]}
[[ $(stat -c %a "$F") == 600 ]] || fail "cache file mode $(stat -c %a "$F")"
[[ $(basename "$F") =~ ^[0-9a-f]{64}$ ]] || fail "cache file name $(basename "$F")"
head -1 "$F" | grep -qE '^dcpki-keycache 1 [0-9]+$' || fail "cache file header: $(head -1 "$F")"
grep -qF -- "$(cat "$(_emu "$PRIV_STATE" api_key_file)")" "$F" && fail "the API key is in the cache file"
grep -q 'PRIVATE' "$F" && fail "a private key is in the cache file"
pass "cache file: 0600 in a 0700 directory, named by a hash, no secret"

# stale entry: another RSA key's public key in it
plain genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out other.key 2>/dev/null
plain pkey -in other.key -pubout -outform DER | base64 -w0 >other.b64
/usr/bin/python3 - "$F" "$(cat other.b64)" <<'PY'
import json, sys
path, pub = sys.argv[1], sys.argv[2]
head, body = open(path).read().split('\n', 1)
o = json.loads(body)
o['public_key'] = pub
open(path, 'w').write(head + '\n' + json.dumps(o))
PY
grep -qF "$(cat other.b64)" "$F" || fail "could not edit the cache file"
n0=$(lines)
sign s3.bin
settle "$n0" 2
g=$(gets_since "$n0"); s=$(signs_since "$n0")
[[ $g == 1 && $s == 2 ]] || fail "stale entry: $g describe and $s sign requests (want 1 and 2)"
grep -qF "$(cat other.b64)" "$F" && fail "the stale cache entry was not replaced"
[[ $(stat -c %a "$F") == 600 ]] || fail "replaced cache file mode $(stat -c %a "$F")"
n0=$(lines)
sign s4.bin
settle "$n0" 1
g=$(gets_since "$n0")
[[ $g == 0 ]] || fail "after the replacement: $g describe requests (want 0)"
pass "a stale public key in the cache: detected, described again, signed correctly, entry replaced"

# expired entry: asked again
/usr/bin/python3 - "$F" <<'PY'
import sys, time
path = sys.argv[1]
head, body = open(path).read().split('\n', 1)
open(path, 'w').write('dcpki-keycache 1 %d\n' % (int(time.time()) - 301) + body)
PY
n0=$(lines)
sign s5.bin
settle "$n0" 1
[[ $(gets_since "$n0") == 1 ]] || fail "expired entry: $(gets_since "$n0") describe requests (want 1)"
pass "an expired entry is not used"

# turned off
n0=$(lines)
DCPKI_NO_DISK_CACHE=1 sign s6.bin
DCPKI_NO_DISK_CACHE=1 sign s7.bin
settle "$n0" 2
[[ $(gets_since "$n0") == 2 ]] || fail "DCPKI_NO_DISK_CACHE=1: $(gets_since "$n0") describe requests (want 2)"
pass "DCPKI_NO_DISK_CACHE=1 disables the disk cache"

# no temporary files left behind
[[ -z $(find "$KEYS" -name '.tmp*') ]] || fail "temporary files left in $KEYS"
pass "no temporary files"

#!/bin/bash
# The API key is kept out of core dumps: a core (gcore) of a TLS server signing
# through the provider, and of a process signing through the PKCS#11 module,
# does not hold the API key's bytes anywhere (src/core/secret.c: MADV_DONTDUMP
# pages, wiped on free; libcurl's copies wiped when it frees them).
source "$(dirname "$0")/lib.sh"
cd "$W"
key=$(cat "$EMU_APIKEY")
[[ ${#key} -ge 16 ]] || fail "the emulator's API key is too short to look for: ${#key} characters"
rm -f core.*

no_key_in() {  # no_key_in CORE WHAT
  # the core holds the process's heap: the signing service's URL is in it
  grep -qaF -- "/signingmanager/api/v1/keypairs" "$1" || fail "$2: the core does not hold dcpki's heap (no request URL in it)"
  if grep -qaF -- "$key" "$1"; then
    fail "$2: the API key is in the core dump ($(grep -caF -- "$key" "$1") lines hold it)"
  fi
}

# 1. openssl s_server with its key in the signing service, after a handshake
"$DCPKI" keys show issuing-ca --cert >ca.pem || fail "keys show issuing-ca --cert"
port=$(free_port)
openssl s_server -accept "127.0.0.1:$port" -key dcpki:key=issuing-ca -cert ca.pem -www >s_server.log 2>&1 &
srv=$!
_priv_pids+=("$srv")
for _ in $(seq 1 50); do grep -q ACCEPT s_server.log && break; sleep 0.1; done
echo | plain s_client -connect "127.0.0.1:$port" >s_client.log 2>&1
grep -q "Verification\|Server certificate" s_client.log || fail "no handshake with s_server: $(tail -5 s_client.log)"
grep -qi "error" s_server.log && fail "s_server failed to sign: $(cat s_server.log)"
f=$(core_of "$srv" s_server) || exit 1
kill "$srv" 2>/dev/null
no_key_in "$f" "openssl s_server signing through the provider"
rm -f "$f"
pass "provider: API key not in the core of openssl s_server"

# 2. a PyKCS11 process that signed through the module, then waits
[[ -f $P11MOD ]] || fail "module not built: $P11MOD"
/usr/bin/python3 -c 'import PyKCS11' 2>/dev/null || fail "python3-pykcs11 is not installed (scripts/deps installs it)"
cat >p11sign.py <<'PY'
import sys, time, PyKCS11
lib = PyKCS11.PyKCS11Lib(); lib.load(sys.argv[1])
done = False
for slot in lib.getSlotList(tokenPresent=True):
    s = lib.openSession(slot)
    keys = s.findObjects([(PyKCS11.CKA_CLASS, PyKCS11.CKO_PRIVATE_KEY), (PyKCS11.CKA_LABEL, "issuing-ca")])
    if keys:
        sig = s.sign(keys[0], b"core dump check", PyKCS11.Mechanism(PyKCS11.CKM_SHA256_RSA_PKCS, None))
        done = len(sig) > 0
        break
print("signed" if done else "no issuing-ca key", flush=True)
time.sleep(120)
PY
/usr/bin/python3 p11sign.py "$P11MOD" >p11sign.log 2>&1 &
p11=$!
_priv_pids+=("$p11")
for _ in $(seq 1 100); do [[ -s p11sign.log ]] && break; sleep 0.1; done
grep -qx signed p11sign.log || fail "the PKCS#11 signer did not sign: $(cat p11sign.log)"
f=$(core_of "$p11" pkcs11) || exit 1
kill "$p11" 2>/dev/null
no_key_in "$f" "a PyKCS11 process signing through the module"
rm -f "$f"
pass "PKCS#11 module: API key not in the core of the signing process"

#!/bin/bash
# PyKCS11 (python3-pykcs11) + ctypes: every PKCS#11 function of dcpki-pkcs11 with
# the return codes the standard prescribes, signatures verified (pykcs11_walk.py).
source "$DCPKI_SRC/tests/integration/lib.sh"
[[ -f $P11MOD ]] || fail "module not built: $P11MOD"
/usr/bin/python3 -c 'import PyKCS11' 2>/dev/null || fail "python3-pykcs11 is not installed (scripts/deps installs it)"
/usr/bin/python3 "$DCPKI_SRC/tests/pkcs11/pykcs11_walk.py" "$P11MOD"

#!/usr/bin/python3
"""The login states of dcpki-pkcs11 with a PIN ([pkcs11] pin_file), with the
return codes PKCS#11 v2.40 §5.6 prescribes: private keys hidden and unusable
before C_Login(CKU_USER), a wrong PIN refused, login shared by the sessions
of one token and not by the other token, C_Logout and the closing of the last
session hiding them again, handles of an earlier login invalid. Signatures
verified with python3-cryptography; PyKCS11 as an application uses it.
usage: pykcs11_pin.py MODULE PIN   (DCPKI_CONF names a configuration with pin_file)"""
import ctypes as C
import sys

import PyKCS11
from pykcs11_walk import (CK_MECHANISM, CK_SESSION_INFO, CK_TOKEN_INFO, P, U, Module, expect, find,
                          pubkey, sign, verify)
import pykcs11_walk

MODULE, PIN = sys.argv[1], sys.argv[2].encode()


def walk():
    m = Module(MODULE)
    expect(m.C_Initialize(None), P.CKR_OK, "C_Initialize")
    tokens = {}
    for sl in (0, 1):
        ti = CK_TOKEN_INFO()
        expect(m.C_GetTokenInfo(sl, C.byref(ti)), P.CKR_OK, "C_GetTokenInfo")
        for flag, name in ((P.CKF_LOGIN_REQUIRED, "CKF_LOGIN_REQUIRED"),
                           (P.CKF_USER_PIN_INITIALIZED, "CKF_USER_PIN_INITIALIZED"),
                           (P.CKF_WRITE_PROTECTED, "CKF_WRITE_PROTECTED"), (P.CKF_TOKEN_INITIALIZED, "initialised")):
            expect(bool(ti.flags & flag), True, "PIN configured: " + name)
        expect((ti.ulMinPinLen, ti.ulMaxPinLen), (1, 255), "PIN length range")
        tokens[ti.label.rstrip().decode()] = sl
    RA, SG = tokens["dcpki RA"], tokens["dcpki signing"]

    def session(slot, rw=False):
        h = U()
        flags = P.CKF_SERIAL_SESSION | (P.CKF_RW_SESSION if rw else 0)
        expect(m.C_OpenSession(slot, flags, None, None, C.byref(h)), P.CKR_OK, "C_OpenSession")
        return h

    def state(h):
        si = CK_SESSION_INFO()
        expect(m.C_GetSessionInfo(h, C.byref(si)), P.CKR_OK, "C_GetSessionInfo")
        return si.state

    def login(h, user, pin):
        return m.C_Login(h, user, C.c_char_p(pin), len(pin))

    ro, rw, ras = session(SG), session(SG, True), session(RA)
    privs = lambda h: find(m, h, [(P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
    label = lambda h, k: attr(h, k, P.CKA_LABEL)

    def attr(h, k, t):
        buf = C.create_string_buffer(256)
        from pykcs11_walk import CK_ATTRIBUTE
        a = CK_ATTRIBUTE(t, C.cast(buf, C.c_void_p), 256)
        expect(m.C_GetAttributeValue(h, k, C.byref(a), 1), P.CKR_OK, "C_GetAttributeValue")
        return buf.raw[:a.ulValueLen]

    # --- before login: public sessions, certificates and public keys only
    expect((state(ro), state(rw), state(ras)), (P.CKS_RO_PUBLIC_SESSION, P.CKS_RW_PUBLIC_SESSION,
                                                P.CKS_RO_PUBLIC_SESSION), "public states")
    expect(len(privs(ro)), 0, "no private key found before C_Login")
    expect(len(privs(ras)), 0, "no RA private key found before C_Login")
    pubs = find(m, ro, [(P.CKA_CLASS, P.CKO_PUBLIC_KEY)])
    expect(len(pubs), 2, "public keys found before C_Login")
    expect(len(find(m, ro, [(P.CKA_CLASS, P.CKO_CERTIFICATE)])) >= 2, True, "certificates found before C_Login")
    expect(len(find(m, ro, [(P.CKA_PRIVATE, b"\x01")])), 0, "nothing CKA_PRIVATE visible before C_Login")

    # --- argument and state errors (v2.40 §5.6 C_Login)
    expect(login(424242, P.CKU_USER, PIN), P.CKR_SESSION_HANDLE_INVALID, "C_Login bad session")
    expect(m.C_Login(ro, P.CKU_USER, None, 4), P.CKR_ARGUMENTS_BAD, "C_Login PIN NULL, length 4")
    expect(login(ro, 7, PIN), P.CKR_USER_TYPE_INVALID, "C_Login user type 7")
    expect(login(ro, P.CKU_CONTEXT_SPECIFIC, PIN), P.CKR_OPERATION_NOT_INITIALIZED, "context specific, no op")
    expect(login(ro, P.CKU_SO, PIN), P.CKR_SESSION_READ_ONLY_EXISTS, "SO login with a R/O session open")
    expect(m.C_Logout(ro), P.CKR_USER_NOT_LOGGED_IN, "C_Logout before C_Login")
    # --- wrong PINs: refused, nothing changes
    for wrong in (b"1111", PIN[:-1], PIN + b"0", b"", PIN.lower() + b" "):
        expect(login(ro, P.CKU_USER, wrong), P.CKR_PIN_INCORRECT, "wrong PIN %r" % wrong)
    expect(m.C_Login(ro, P.CKU_USER, None, 0), P.CKR_PIN_INCORRECT, "no PIN")
    expect(state(ro), P.CKS_RO_PUBLIC_SESSION, "still public after wrong PINs")
    expect(len(privs(ro)), 0, "still no private key after wrong PINs")
    # --- no SO PIN: once no R/O session is open, CKU_SO is CKR_PIN_INCORRECT
    solo = session(SG, True)
    so_tok = session(RA, True)
    expect(m.C_CloseSession(ras), P.CKR_OK, "close the RA R/O session")
    expect(login(so_tok, P.CKU_SO, PIN), P.CKR_PIN_INCORRECT, "SO login: the tokens have no SO PIN")
    expect(state(so_tok), P.CKS_RW_PUBLIC_SESSION, "no SO state")
    expect(m.C_CloseSession(so_tok), P.CKR_OK, "C_CloseSession")
    ras = session(RA)

    # --- the right PIN: user states in every session of the token, not the other token
    expect(login(ro, P.CKU_USER, PIN), P.CKR_OK, "C_Login")
    expect((state(ro), state(rw), state(solo)), (P.CKS_RO_USER_FUNCTIONS, P.CKS_RW_USER_FUNCTIONS,
                                                 P.CKS_RW_USER_FUNCTIONS), "user states, shared by the sessions")
    expect(state(ras), P.CKS_RO_PUBLIC_SESSION, "the other token stays public")
    expect(len(privs(ras)), 0, "the other token's private key stays hidden")
    expect(login(rw, P.CKU_USER, PIN), P.CKR_USER_ALREADY_LOGGED_IN, "C_Login twice (another session)")
    expect(login(rw, P.CKU_SO, PIN), P.CKR_USER_ANOTHER_ALREADY_LOGGED_IN, "SO while the user is logged in")
    keys = privs(rw)
    expect(len(keys), 2, "two private keys after C_Login")
    expect(len(find(m, rw, [(P.CKA_PRIVATE, b"\x01")])), 2, "the private keys are CKA_PRIVATE")
    byname = {label(rw, k): k for k in keys}
    data = b"signed after C_Login"
    rsa, ec = byname[b"issuing-ca"], byname[b"ec-ca"]
    verify(pubkey(m, ro, rsa), sign(m, ro, rsa, P.CKM_SHA256_RSA_PKCS, data), data, "pkcs1")
    verify(pubkey(m, rw, ec), sign(m, rw, ec, P.CKM_ECDSA_SHA256, data), data, "ecdsa")
    # a new session of the token is logged in too
    late = session(SG)
    expect(state(late), P.CKS_RO_USER_FUNCTIONS, "a session opened after C_Login")
    expect(m.C_CloseSession(late), P.CKR_OK, "C_CloseSession")
    # context-specific login after C_SignInit checks the PIN
    mech = CK_MECHANISM(P.CKM_SHA256_RSA_PKCS, None, 0)
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_OK, "C_SignInit")
    expect(login(ro, P.CKU_CONTEXT_SPECIFIC, b"1111"), P.CKR_PIN_INCORRECT, "context specific, wrong PIN")
    expect(login(ro, P.CKU_CONTEXT_SPECIFIC, PIN), P.CKR_OK, "context specific, right PIN")
    sig, n = C.create_string_buffer(512), U(512)
    expect(m.C_Sign(ro, data, len(data), sig, C.byref(n)), P.CKR_OK, "C_Sign")

    # --- C_Logout: hidden again, the handles of this login invalid for good
    expect(m.C_Logout(rw), P.CKR_OK, "C_Logout")
    expect(m.C_Logout(ro), P.CKR_USER_NOT_LOGGED_IN, "C_Logout twice")
    expect((state(ro), state(rw)), (P.CKS_RO_PUBLIC_SESSION, P.CKS_RW_PUBLIC_SESSION), "public after C_Logout")
    expect(len(privs(ro)), 0, "no private key after C_Logout")
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_KEY_HANDLE_INVALID, "signing refused after C_Logout")
    a = pykcs11_walk.CK_ATTRIBUTE(P.CKA_LABEL, None, 0)
    expect(m.C_GetAttributeValue(ro, rsa, C.byref(a), 1), P.CKR_OBJECT_HANDLE_INVALID, "private handle after C_Logout")
    expect(m.C_GetAttributeValue(ro, pubs[0], C.byref(a), 1), P.CKR_OK, "public handle after C_Logout")
    expect(login(ro, P.CKU_USER, PIN), P.CKR_OK, "C_Login again")
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_KEY_HANDLE_INVALID, "a handle of the earlier login")
    fresh = {label(ro, k): k for k in privs(ro)}[b"issuing-ca"]
    expect(fresh != rsa, True, "a new handle for the private key")
    verify(pubkey(m, ro, fresh), sign(m, ro, fresh, P.CKM_SHA256_RSA_PKCS, data), data, "pkcs1")

    # --- read-only tokens: no PIN can be set
    expect(m.C_InitPIN(rw, C.c_char_p(b"1357"), 4), P.CKR_TOKEN_WRITE_PROTECTED, "C_InitPIN")
    expect(m.C_SetPIN(rw, C.c_char_p(PIN), len(PIN), C.c_char_p(b"1357"), 4), P.CKR_TOKEN_WRITE_PROTECTED,
           "C_SetPIN")

    # --- closing the token's last session ends the login (v2.40 §5.6)
    for h in (ro, rw, solo):
        expect(m.C_CloseSession(h), P.CKR_OK, "C_CloseSession")
    again = session(SG)
    expect(state(again), P.CKS_RO_PUBLIC_SESSION, "the last session closed: logged out")
    expect(len(privs(again)), 0, "hidden after the last session closed")
    # C_CloseAllSessions too
    expect(login(again, P.CKU_USER, PIN), P.CKR_OK, "C_Login")
    expect(m.C_CloseAllSessions(SG), P.CKR_OK, "C_CloseAllSessions")
    again = session(SG)
    expect(state(again), P.CKS_RO_PUBLIC_SESSION, "C_CloseAllSessions: logged out")
    # the RA token: its own login, its key signs locally
    expect(login(ras, P.CKU_USER, PIN), P.CKR_OK, "C_Login on the RA token")
    expect(state(again), P.CKS_RO_PUBLIC_SESSION, "the signing token stays public")
    ra = privs(ras)
    expect(len(ra), 1, "the RA private key after C_Login")
    verify(pubkey(m, ras, ra[0]), sign(m, ras, ra[0], P.CKM_SHA256_RSA_PKCS, data), data, "pkcs1")
    expect(m.C_Finalize(None), P.CKR_OK, "C_Finalize")


def pykcs11():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(MODULE)
    sg = {lib.getTokenInfo(s).label.strip(): s for s in lib.getSlotList(tokenPresent=True)}["dcpki signing"]
    expect("CKF_LOGIN_REQUIRED" in lib.getTokenInfo(sg).flags2text(), True, "PyKCS11 token flags")
    session = lib.openSession(sg)
    expect(session.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY)]), [], "PyKCS11: no private key before login")
    try:
        session.login("0000")
        sys.exit("FAIL: PyKCS11 login with a wrong PIN accepted")
    except PyKCS11.PyKCS11Error as e:
        expect(e.value, P.CKR_PIN_INCORRECT, "PyKCS11 wrong PIN")
    session.login(PIN.decode())
    expect(session.getSessionInfo().state2text(), "CKS_RO_USER_FUNCTIONS", "PyKCS11 login")
    key = session.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, "ec-ca")])[0]
    from cryptography.hazmat.primitives import hashes, serialization
    pub = serialization.load_der_public_key(
        bytes(session.getAttributeValue(key, [P.CKA_PUBLIC_KEY_INFO], allAsBinary=True)[0]))
    msg = b"PyKCS11 after login"
    verify(pub, bytes(session.sign(key, msg, P.Mechanism(P.CKM_ECDSA_SHA384))), msg, "ecdsa", hashes.SHA384())
    session.logout()
    expect(session.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY)]), [], "PyKCS11: hidden after logout")
    session.closeSession()


walk()
pykcs11()
print("ok - %d PKCS#11 checks with a PIN (login states, return codes, signatures verified)" % pykcs11_walk.checks)

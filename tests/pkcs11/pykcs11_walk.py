#!/usr/bin/python3
"""Walk every PKCS#11 function of dcpki-pkcs11, with the return codes PKCS#11
v2.40 prescribes. Part 1 drives the module through ctypes (exact control of
NULL pointers, buffer sizes, initialisation arguments and mutex callbacks);
part 2 uses PyKCS11 as an application would. Signatures are verified with
python3-cryptography against the key's CKA_PUBLIC_KEY_INFO.
usage: pykcs11_walk.py MODULE   (DCPKI_CONF names the configuration)"""
import ctypes as C
import hashlib
import sys
import threading

import PyKCS11
from PyKCS11 import LowLevel
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

MODULE = sys.argv[1]
U = C.c_ulong
UNAVAILABLE = U(-1).value
P = PyKCS11  # the constants (CKR_*, CKA_*, CKM_*...)

checks = 0


def expect(got, want, what):
    global checks
    checks += 1
    if got != want:
        name = lambda v: P.CKR.get(v, hex(v)) if isinstance(v, int) else repr(v)
        sys.exit("FAIL: %s: got %s, expected %s" % (what, name(got), name(want)))


class CK_VERSION(C.Structure):
    _fields_ = [("major", C.c_ubyte), ("minor", C.c_ubyte)]


class CK_INFO(C.Structure):
    _fields_ = [("cryptokiVersion", CK_VERSION), ("manufacturerID", C.c_char * 32), ("flags", U),
                ("libraryDescription", C.c_char * 32), ("libraryVersion", CK_VERSION)]


class CK_SLOT_INFO(C.Structure):
    _fields_ = [("slotDescription", C.c_char * 64), ("manufacturerID", C.c_char * 32), ("flags", U),
                ("hardwareVersion", CK_VERSION), ("firmwareVersion", CK_VERSION)]


class CK_TOKEN_INFO(C.Structure):
    _fields_ = [("label", C.c_char * 32), ("manufacturerID", C.c_char * 32), ("model", C.c_char * 16),
                ("serialNumber", C.c_char * 16), ("flags", U), ("ulMaxSessionCount", U),
                ("ulSessionCount", U), ("ulMaxRwSessionCount", U), ("ulRwSessionCount", U),
                ("ulMaxPinLen", U), ("ulMinPinLen", U), ("ulTotalPublicMemory", U),
                ("ulFreePublicMemory", U), ("ulTotalPrivateMemory", U), ("ulFreePrivateMemory", U),
                ("hardwareVersion", CK_VERSION), ("firmwareVersion", CK_VERSION), ("utcTime", C.c_char * 16)]


class CK_SESSION_INFO(C.Structure):
    _fields_ = [("slotID", U), ("state", U), ("flags", U), ("ulDeviceError", U)]


class CK_MECHANISM_INFO(C.Structure):
    _fields_ = [("ulMinKeySize", U), ("ulMaxKeySize", U), ("flags", U)]


class CK_ATTRIBUTE(C.Structure):
    _fields_ = [("type", U), ("pValue", C.c_void_p), ("ulValueLen", U)]


class CK_MECHANISM(C.Structure):
    _fields_ = [("mechanism", U), ("pParameter", C.c_void_p), ("ulParameterLen", U)]


class CK_PSS(C.Structure):
    _fields_ = [("hashAlg", U), ("mgf", U), ("sLen", U)]


class CK_INTERFACE(C.Structure):
    _fields_ = [("pInterfaceName", C.c_char_p), ("pFunctionList", C.c_void_p), ("flags", U)]


CREATEMUTEX = C.CFUNCTYPE(U, C.POINTER(C.c_void_p))
MUTEXOP = C.CFUNCTYPE(U, C.c_void_p)


class CK_C_INITIALIZE_ARGS(C.Structure):
    _fields_ = [("CreateMutex", CREATEMUTEX), ("DestroyMutex", MUTEXOP), ("LockMutex", MUTEXOP),
                ("UnlockMutex", MUTEXOP), ("flags", U), ("pReserved", C.c_void_p)]


NAMES = """Initialize Finalize GetInfo GetFunctionList GetSlotList GetSlotInfo GetTokenInfo
GetMechanismList GetMechanismInfo InitToken InitPIN SetPIN OpenSession CloseSession CloseAllSessions
GetSessionInfo GetOperationState SetOperationState Login Logout CreateObject CopyObject DestroyObject
GetObjectSize GetAttributeValue SetAttributeValue FindObjectsInit FindObjects FindObjectsFinal
EncryptInit Encrypt EncryptUpdate EncryptFinal DecryptInit Decrypt DecryptUpdate DecryptFinal
DigestInit Digest DigestUpdate DigestKey DigestFinal SignInit Sign SignUpdate SignFinal
SignRecoverInit SignRecover VerifyInit Verify VerifyUpdate VerifyFinal VerifyRecoverInit VerifyRecover
DigestEncryptUpdate DecryptDigestUpdate SignEncryptUpdate DecryptVerifyUpdate GenerateKey
GenerateKeyPair WrapKey UnwrapKey DeriveKey SeedRandom GenerateRandom GetFunctionStatus
CancelFunction WaitForSlotEvent""".split()


class CK_FUNCTION_LIST(C.Structure):
    _fields_ = [("version", CK_VERSION)] + [("C_" + n, C.c_void_p) for n in NAMES]


def a(*args):
    """ctypes arguments: ints as CK_ULONG, everything else as given"""
    return [U(x) if isinstance(x, int) else x for x in args]


class Module:
    def __init__(self, path):
        self.dl = C.CDLL(path)
        self.dl.C_GetFunctionList.restype = U
        expect(self.dl.C_GetFunctionList(None), P.CKR_ARGUMENTS_BAD, "C_GetFunctionList(NULL)")
        fl = C.POINTER(CK_FUNCTION_LIST)()
        expect(self.dl.C_GetFunctionList(C.byref(fl)), P.CKR_OK, "C_GetFunctionList")
        self.fl = fl
        self.flp = C.cast(fl, C.c_void_p).value
        expect((fl.contents.version.major, fl.contents.version.minor), (2, 40), "function list version")
        for n in NAMES:
            if not getattr(fl.contents, "C_" + n):
                sys.exit("FAIL: C_%s missing from the function list" % n)

    def __getattr__(self, name):
        fn = C.CFUNCTYPE(U)(getattr(self.fl.contents, name))
        return lambda *args: fn(*a(*args))


def pubkey(m, s, h):
    buf = C.create_string_buffer(4096)
    t = CK_ATTRIBUTE(P.CKA_PUBLIC_KEY_INFO, C.cast(buf, C.c_void_p), 4096)
    expect(m.C_GetAttributeValue(s, h, C.byref(t), 1), P.CKR_OK, "CKA_PUBLIC_KEY_INFO")
    return serialization.load_der_public_key(buf.raw[:t.ulValueLen])


def verify(pub, sig, msg, kind, md=hashes.SHA256()):
    try:
        if kind == "pkcs1":
            pub.verify(sig, msg, padding.PKCS1v15(), md)
        elif kind == "pss":
            pub.verify(sig, msg, padding.PSS(padding.MGF1(md), md.digest_size), md)
        else:
            n = len(sig) // 2
            der = utils.encode_dss_signature(int.from_bytes(sig[:n], "big"), int.from_bytes(sig[n:], "big"))
            pub.verify(der, msg, ec.ECDSA(md))
    except InvalidSignature:
        sys.exit("FAIL: %s signature does not verify" % kind)
    global checks
    checks += 1


def find(m, s, template):
    attrs = (CK_ATTRIBUTE * max(1, len(template)))()
    keep = []
    for i, (t, v) in enumerate(template):
        raw = v if isinstance(v, bytes) else U(v)
        keep.append(raw)
        if isinstance(raw, bytes):
            buf = C.create_string_buffer(raw, len(raw))
            keep.append(buf)
            attrs[i] = CK_ATTRIBUTE(t, C.cast(buf, C.c_void_p), len(raw))
        else:
            attrs[i] = CK_ATTRIBUTE(t, C.cast(C.pointer(raw), C.c_void_p), C.sizeof(raw))
    expect(m.C_FindObjectsInit(s, attrs if template else None, len(template)), P.CKR_OK, "C_FindObjectsInit")
    out, hs, n = [], (U * 1)(), U()
    while True:  # one at a time: the search continues across calls
        expect(m.C_FindObjects(s, hs, 1, C.byref(n)), P.CKR_OK, "C_FindObjects")
        if n.value == 0:
            break
        out.append(hs[0])
    expect(m.C_FindObjectsFinal(s), P.CKR_OK, "C_FindObjectsFinal")
    return out


def sign(m, s, key, mech, data, param=None):
    mp = CK_MECHANISM(mech, C.cast(C.pointer(param), C.c_void_p) if param else None,
                      C.sizeof(param) if param else 0)
    expect(m.C_SignInit(s, C.byref(mp), key), P.CKR_OK, "C_SignInit 0x%x" % mech)
    n = U(0)
    expect(m.C_Sign(s, data, len(data), None, C.byref(n)), P.CKR_OK, "C_Sign size query")
    buf = C.create_string_buffer(n.value)
    expect(m.C_Sign(s, data, len(data), buf, C.byref(n)), P.CKR_OK, "C_Sign")
    return buf.raw[:n.value]


def part1():
    m = Module(MODULE)
    # --- not initialised
    info = CK_INFO()
    expect(m.C_GetInfo(C.byref(info)), P.CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetInfo before C_Initialize")
    expect(m.C_GetSlotList(0, None, C.byref(U())), P.CKR_CRYPTOKI_NOT_INITIALIZED, "C_GetSlotList before init")
    expect(m.C_Finalize(None), P.CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize before init")
    # --- bad initialisation arguments
    args = CK_C_INITIALIZE_ARGS()
    args.pReserved = C.c_void_p(1)
    expect(m.C_Initialize(C.byref(args)), P.CKR_ARGUMENTS_BAD, "C_Initialize pReserved != NULL")
    used = {"create": 0, "lock": 0}
    locks = {}

    def create(pp):
        used["create"] += 1
        k = len(locks) + 1
        locks[k] = threading.Lock()
        pp[0] = C.c_void_p(k)
        return P.CKR_OK

    def destroy(h):
        locks.pop(h, None)
        return P.CKR_OK

    def lock(h):
        used["lock"] += 1
        locks[h].acquire()
        return P.CKR_OK

    def unlock(h):
        locks[h].release()
        return P.CKR_OK

    cbs = (CREATEMUTEX(create), MUTEXOP(destroy), MUTEXOP(lock), MUTEXOP(unlock))
    args = CK_C_INITIALIZE_ARGS()
    args.CreateMutex = cbs[0]
    expect(m.C_Initialize(C.byref(args)), P.CKR_ARGUMENTS_BAD, "C_Initialize with one callback of four")
    # --- the application's mutex callbacks (no CKF_OS_LOCKING_OK): they must be used
    args = CK_C_INITIALIZE_ARGS(*cbs, 0, None)
    expect(m.C_Initialize(C.byref(args)), P.CKR_OK, "C_Initialize with mutex callbacks")
    s = U()
    expect(m.C_OpenSession(1, P.CKF_SERIAL_SESSION, None, None, C.byref(s)), P.CKR_OK, "C_OpenSession")
    keys = find(m, s, [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, b"issuing-ca")])
    expect(len(keys), 1, "issuing-ca found (callback locking)")
    verify(pubkey(m, s, keys[0]), sign(m, s, keys[0], P.CKM_SHA256_RSA_PKCS, b"cb"), b"cb", "pkcs1")
    if used["create"] == 0 or used["lock"] == 0:
        sys.exit("FAIL: the application's mutex callbacks were not used")
    expect(m.C_Finalize(None), P.CKR_OK, "C_Finalize")
    expect(len(locks), 0, "every mutex created through the callbacks destroyed")
    expect(m.C_Finalize(None), P.CKR_CRYPTOKI_NOT_INITIALIZED, "C_Finalize twice")
    # --- OS locking
    args = CK_C_INITIALIZE_ARGS()
    args.flags = P.CKF_OS_LOCKING_OK
    expect(m.C_Initialize(C.byref(args)), P.CKR_OK, "C_Initialize CKF_OS_LOCKING_OK")
    expect(m.C_Initialize(None), P.CKR_CRYPTOKI_ALREADY_INITIALIZED, "C_Initialize twice")
    expect(m.C_Finalize(C.c_void_p(1)), P.CKR_ARGUMENTS_BAD, "C_Finalize(non-NULL)")

    # --- C_GetInfo
    expect(m.C_GetInfo(None), P.CKR_ARGUMENTS_BAD, "C_GetInfo(NULL)")
    expect(m.C_GetInfo(C.byref(info)), P.CKR_OK, "C_GetInfo")
    expect((info.cryptokiVersion.major, info.cryptokiVersion.minor), (2, 40), "cryptokiVersion")
    expect(info.manufacturerID.rstrip(), b"dcpki", "manufacturerID blank padded")

    # --- interfaces (PKCS#11 3.0 entry points)
    dl = m.dl
    dl.C_GetInterfaceList.restype = U
    dl.C_GetInterface.restype = U
    n = U()
    expect(dl.C_GetInterfaceList(None, C.byref(n)), P.CKR_OK, "C_GetInterfaceList size")
    expect(n.value, 1, "one interface")
    n0 = U(0)
    expect(dl.C_GetInterfaceList((CK_INTERFACE * 1)(), C.byref(n0)), P.CKR_BUFFER_TOO_SMALL, "C_GetInterfaceList small")
    ifs = (CK_INTERFACE * 1)()
    expect(dl.C_GetInterfaceList(ifs, C.byref(n)), P.CKR_OK, "C_GetInterfaceList")
    expect((ifs[0].pInterfaceName, ifs[0].pFunctionList), (b"PKCS 11", m.flp), "interface PKCS 11 = function list")
    ip = C.POINTER(CK_INTERFACE)()
    expect(dl.C_GetInterface(C.c_char_p(b"PKCS 11"), None, C.byref(ip), U(0)), P.CKR_OK, "C_GetInterface")
    expect(ip.contents.pFunctionList, m.flp, "C_GetInterface function list")
    expect(dl.C_GetInterface(C.c_char_p(b"Vendor X"), None, C.byref(ip), U(0)), P.CKR_ARGUMENTS_BAD, "C_GetInterface unknown")

    # --- slots: the two-call size protocol
    n = U()
    expect(m.C_GetSlotList(1, None, None), P.CKR_ARGUMENTS_BAD, "C_GetSlotList(pulCount NULL)")
    expect(m.C_GetSlotList(1, None, C.byref(n)), P.CKR_OK, "C_GetSlotList size")
    expect(n.value, 2, "two slots")
    small = U(1)
    slots = (U * 2)()
    expect(m.C_GetSlotList(1, slots, C.byref(small)), P.CKR_BUFFER_TOO_SMALL, "C_GetSlotList buffer too small")
    expect(small.value, 2, "C_GetSlotList too small reports the size")
    expect(m.C_GetSlotList(0, slots, C.byref(n)), P.CKR_OK, "C_GetSlotList")
    labels, serials = {}, {}
    for sl in slots:
        si, ti = CK_SLOT_INFO(), CK_TOKEN_INFO()
        expect(m.C_GetSlotInfo(sl, C.byref(si)), P.CKR_OK, "C_GetSlotInfo")
        expect(bool(si.flags & P.CKF_TOKEN_PRESENT), True, "token present")
        expect(m.C_GetTokenInfo(sl, C.byref(ti)), P.CKR_OK, "C_GetTokenInfo")
        expect(bool(ti.flags & P.CKF_LOGIN_REQUIRED), False, "no PIN configured: no CKF_LOGIN_REQUIRED")
        expect(bool(ti.flags & P.CKF_USER_PIN_INITIALIZED), False, "no PIN configured: no user PIN")
        expect(bool(ti.flags & P.CKF_TOKEN_INITIALIZED), True, "token initialised")
        expect(bool(ti.flags & P.CKF_WRITE_PROTECTED), True, "read-only token: CKF_WRITE_PROTECTED")
        expect(len(ti.serialNumber) == 16 and all(c in b"0123456789ABCDEF" for c in ti.serialNumber), True,
               "serial number: 16 hex digits derived from the identity, got %r" % ti.serialNumber)
        serials[sl] = ti.serialNumber
        labels[ti.label.rstrip().decode()] = sl
    expect(sorted(labels), ["dcpki RA", "dcpki signing"], "token labels")
    RA, SG = labels["dcpki RA"], labels["dcpki signing"]
    expect(serials[RA] != serials[SG], True, "the two tokens have different serial numbers")
    expect(m.C_GetSlotInfo(99, C.byref(CK_SLOT_INFO())), P.CKR_SLOT_ID_INVALID, "C_GetSlotInfo(99)")
    expect(m.C_GetTokenInfo(99, C.byref(CK_TOKEN_INFO())), P.CKR_SLOT_ID_INVALID, "C_GetTokenInfo(99)")

    # --- mechanisms
    n = U()
    expect(m.C_GetMechanismList(SG, None, C.byref(n)), P.CKR_OK, "C_GetMechanismList size")
    expect(n.value, 12, "12 mechanisms")
    small = U(3)
    mechs = (U * 12)()
    expect(m.C_GetMechanismList(SG, mechs, C.byref(small)), P.CKR_BUFFER_TOO_SMALL, "C_GetMechanismList small")
    expect(small.value, 12, "C_GetMechanismList too small reports the size")
    expect(m.C_GetMechanismList(SG, mechs, C.byref(n)), P.CKR_OK, "C_GetMechanismList")
    want = {P.CKM_RSA_PKCS, P.CKM_SHA256_RSA_PKCS, P.CKM_SHA384_RSA_PKCS, P.CKM_SHA512_RSA_PKCS,
            P.CKM_RSA_PKCS_PSS, P.CKM_SHA256_RSA_PKCS_PSS, P.CKM_SHA384_RSA_PKCS_PSS,
            P.CKM_SHA512_RSA_PKCS_PSS, P.CKM_ECDSA, P.CKM_ECDSA_SHA256, P.CKM_ECDSA_SHA384, P.CKM_ECDSA_SHA512}
    expect(set(mechs), want, "mechanism set")
    for mech in want:
        mi = CK_MECHANISM_INFO()
        expect(m.C_GetMechanismInfo(SG, mech, C.byref(mi)), P.CKR_OK, "C_GetMechanismInfo")
        expect(mi.flags & (P.CKF_SIGN | P.CKF_DECRYPT | P.CKF_VERIFY), P.CKF_SIGN, "mechanism signs only")
    expect(m.C_GetMechanismInfo(SG, P.CKM_AES_CBC, C.byref(CK_MECHANISM_INFO())), P.CKR_MECHANISM_INVALID, "AES")
    expect(m.C_GetMechanismList(7, None, C.byref(n)), P.CKR_SLOT_ID_INVALID, "C_GetMechanismList(7)")

    # --- sessions
    ro, rw = U(), U()
    expect(m.C_OpenSession(SG, 0, None, None, C.byref(ro)), P.CKR_SESSION_PARALLEL_NOT_SUPPORTED, "no CKF_SERIAL_SESSION")
    expect(m.C_OpenSession(9, P.CKF_SERIAL_SESSION, None, None, C.byref(ro)), P.CKR_SLOT_ID_INVALID, "slot 9")
    expect(m.C_OpenSession(SG, P.CKF_SERIAL_SESSION, None, None, None), P.CKR_ARGUMENTS_BAD, "phSession NULL")
    expect(m.C_OpenSession(SG, P.CKF_SERIAL_SESSION, None, None, C.byref(ro)), P.CKR_OK, "R/O session")
    expect(m.C_OpenSession(SG, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION, None, None, C.byref(rw)), P.CKR_OK, "R/W session")
    ti = CK_TOKEN_INFO()
    m.C_GetTokenInfo(SG, C.byref(ti))
    expect((ti.ulSessionCount, ti.ulRwSessionCount), (2, 1), "token session counts")

    def state(h):
        si = CK_SESSION_INFO()
        expect(m.C_GetSessionInfo(h, C.byref(si)), P.CKR_OK, "C_GetSessionInfo")
        return si.state

    expect(state(ro), P.CKS_RO_PUBLIC_SESSION, "R/O public state")
    expect(state(rw), P.CKS_RW_PUBLIC_SESSION, "R/W public state")
    expect(m.C_GetSessionInfo(ro, None), P.CKR_ARGUMENTS_BAD, "C_GetSessionInfo(NULL)")
    expect(m.C_GetSessionInfo(123456, C.byref(CK_SESSION_INFO())), P.CKR_SESSION_HANDLE_INVALID, "bad session")

    # --- login (no PIN configured: the user PIN was never initialised; with a
    # PIN the state machine is walked by pykcs11_pin.py)
    pin = C.c_char_p(b"1234")
    expect(m.C_Login(ro, P.CKU_SO, pin, 4), P.CKR_SESSION_READ_ONLY_EXISTS, "SO login with a R/O session open")
    expect(m.C_Login(ro, 7, pin, 4), P.CKR_USER_TYPE_INVALID, "user type 7")
    expect(m.C_Login(ro, P.CKU_USER, None, 4), P.CKR_ARGUMENTS_BAD, "C_Login PIN NULL, length 4")
    expect(m.C_Login(ro, P.CKU_CONTEXT_SPECIFIC, pin, 4), P.CKR_OPERATION_NOT_INITIALIZED, "context specific, no op")
    expect(m.C_Login(ro, P.CKU_USER, pin, 4), P.CKR_USER_PIN_NOT_INITIALIZED, "C_Login user, no PIN configured")
    expect(m.C_Login(424242, P.CKU_USER, pin, 4), P.CKR_SESSION_HANDLE_INVALID, "C_Login bad session")
    expect((state(ro), state(rw)), (P.CKS_RO_PUBLIC_SESSION, P.CKS_RW_PUBLIC_SESSION), "still public")
    expect(m.C_Logout(rw), P.CKR_USER_NOT_LOGGED_IN, "C_Logout without login")
    expect(m.C_Logout(424242), P.CKR_SESSION_HANDLE_INVALID, "C_Logout bad session")
    # --- read-only tokens: no PIN can be set
    expect(m.C_InitPIN(424242, pin, 4), P.CKR_SESSION_HANDLE_INVALID, "C_InitPIN bad session")
    expect(m.C_InitPIN(rw, pin, 4), P.CKR_TOKEN_WRITE_PROTECTED, "C_InitPIN")
    expect(m.C_SetPIN(ro, pin, 4, pin, 4), P.CKR_TOKEN_WRITE_PROTECTED, "C_SetPIN")

    # --- objects and searches
    nobj = U()
    expect(m.C_FindObjects(ro, (U * 1)(), 1, C.byref(nobj)), P.CKR_OPERATION_NOT_INITIALIZED, "C_FindObjects uninit")
    expect(m.C_FindObjectsFinal(ro), P.CKR_OPERATION_NOT_INITIALIZED, "C_FindObjectsFinal uninit")
    expect(m.C_FindObjectsInit(ro, None, 1), P.CKR_ARGUMENTS_BAD, "template NULL, count 1")
    expect(m.C_FindObjectsInit(ro, None, 0), P.CKR_OK, "C_FindObjectsInit all")
    expect(m.C_FindObjectsInit(ro, None, 0), P.CKR_OPERATION_ACTIVE, "C_FindObjectsInit twice")
    expect(m.C_FindObjects(ro, None, 1, C.byref(nobj)), P.CKR_ARGUMENTS_BAD, "C_FindObjects(NULL)")
    expect(m.C_FindObjectsFinal(ro), P.CKR_OK, "C_FindObjectsFinal")
    everything = find(m, ro, [])
    privs = find(m, ro, [(P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
    pubs = find(m, ro, [(P.CKA_CLASS, P.CKO_PUBLIC_KEY)])
    certs = find(m, ro, [(P.CKA_CLASS, P.CKO_CERTIFICATE)])
    expect((len(privs), len(pubs)), (2, 2), "two private and two public keys")
    if len(certs) < 3 or len(everything) != len(privs) + len(pubs) + len(certs):
        sys.exit("FAIL: expected end and chain certificates, got %d certificates of %d objects" % (len(certs), len(everything)))
    expect(find(m, ro, [(P.CKA_LABEL, b"no such key")]), [], "no match")
    expect(len(find(m, ro, [(P.CKA_LABEL, b"issuing-ca")])), 3, "issuing-ca: key, public key, certificate")
    expect(find(m, ro, [(P.CKA_PRIVATE_EXPONENT, b"\x01")]), [], "sensitive attributes never match")
    rsa = find(m, ro, [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_RSA)])[0]
    eck = find(m, ro, [(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_KEY_TYPE, P.CKK_EC)])[0]
    rsapub = find(m, ro, [(P.CKA_CLASS, P.CKO_PUBLIC_KEY), (P.CKA_LABEL, b"issuing-ca")])[0]
    cert = find(m, ro, [(P.CKA_CLASS, P.CKO_CERTIFICATE), (P.CKA_LABEL, b"issuing-ca")])[0]

    # --- C_GetAttributeValue, v2.40 §5.7 to the letter
    lab = C.create_string_buffer(64)
    tiny = C.create_string_buffer(4)
    t = (CK_ATTRIBUTE * 4)(CK_ATTRIBUTE(P.CKA_LABEL, None, 0),
                           CK_ATTRIBUTE(P.CKA_PRIVATE_EXPONENT, C.cast(lab, C.c_void_p), 64),
                           CK_ATTRIBUTE(P.CKA_VALUE_LEN, C.cast(lab, C.c_void_p), 64),
                           CK_ATTRIBUTE(P.CKA_MODULUS, C.cast(tiny, C.c_void_p), 4))
    expect(m.C_GetAttributeValue(ro, rsa, t, 4), P.CKR_ATTRIBUTE_SENSITIVE, "sensitive wins")
    expect([x.ulValueLen for x in t], [10, UNAVAILABLE, UNAVAILABLE, UNAVAILABLE], "lengths: size, sensitive, invalid, small")
    t = (CK_ATTRIBUTE * 2)(CK_ATTRIBUTE(P.CKA_VALUE_LEN, None, 0), CK_ATTRIBUTE(P.CKA_MODULUS, C.cast(tiny, C.c_void_p), 4))
    expect(m.C_GetAttributeValue(ro, rsa, t, 2), P.CKR_ATTRIBUTE_TYPE_INVALID, "invalid type wins over too small")
    t = (CK_ATTRIBUTE * 2)(CK_ATTRIBUTE(P.CKA_LABEL, C.cast(lab, C.c_void_p), 64), CK_ATTRIBUTE(P.CKA_MODULUS, C.cast(tiny, C.c_void_p), 4))
    expect(m.C_GetAttributeValue(ro, rsa, t, 2), P.CKR_BUFFER_TOO_SMALL, "buffer too small")
    expect((lab.raw[:10], t[0].ulValueLen, t[1].ulValueLen), (b"issuing-ca", 10, UNAVAILABLE), "the others still filled")
    exact = C.create_string_buffer(10)
    t = (CK_ATTRIBUTE * 1)(CK_ATTRIBUTE(P.CKA_LABEL, C.cast(exact, C.c_void_p), 10))
    expect(m.C_GetAttributeValue(ro, rsa, t, 1), P.CKR_OK, "exact buffer")
    for h, want_attrs in ((rsa, [P.CKA_CLASS, P.CKA_KEY_TYPE, P.CKA_ID, P.CKA_LABEL, P.CKA_TOKEN, P.CKA_PRIVATE,
                                 P.CKA_MODIFIABLE, P.CKA_SIGN, P.CKA_DECRYPT, P.CKA_DERIVE, P.CKA_ALWAYS_AUTHENTICATE,
                                 P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_NEVER_EXTRACTABLE, P.CKA_LOCAL,
                                 P.CKA_SUBJECT, P.CKA_MODULUS, P.CKA_PUBLIC_EXPONENT]),
                          (eck, [P.CKA_EC_PARAMS, P.CKA_EC_POINT, P.CKA_SIGN, P.CKA_SENSITIVE]),
                          (rsapub, [P.CKA_MODULUS, P.CKA_MODULUS_BITS, P.CKA_PUBLIC_EXPONENT, P.CKA_VERIFY]),
                          (cert, [P.CKA_CERTIFICATE_TYPE, P.CKA_VALUE, P.CKA_ISSUER, P.CKA_SERIAL_NUMBER,
                                  P.CKA_TRUSTED, P.CKA_SUBJECT, P.CKA_ID])):
        t = (CK_ATTRIBUTE * len(want_attrs))(*[CK_ATTRIBUTE(x, None, 0) for x in want_attrs])
        expect(m.C_GetAttributeValue(ro, h, t, len(want_attrs)), P.CKR_OK, "full attribute set")
    for x in (P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_NEVER_EXTRACTABLE):
        b = C.c_ubyte(9)
        t = CK_ATTRIBUTE(x, C.cast(C.pointer(b), C.c_void_p), 1)
        m.C_GetAttributeValue(ro, rsa, C.byref(t), 1)
        expect(b.value, 0 if x == P.CKA_EXTRACTABLE else 1, "%s of a private key" % P.CKA[x])
    ids = []
    for h in (rsa, rsapub, cert):
        idb = C.create_string_buffer(64)
        t = CK_ATTRIBUTE(P.CKA_ID, C.cast(idb, C.c_void_p), 64)
        m.C_GetAttributeValue(ro, h, C.byref(t), 1)
        ids.append(idb.raw[:t.ulValueLen])
    expect(len(set(ids)), 1, "CKA_ID shared by key, public key and certificate")
    expect(m.C_GetAttributeValue(ro, 0xdead, C.byref(CK_ATTRIBUTE(P.CKA_LABEL, None, 0)), 1),
           P.CKR_OBJECT_HANDLE_INVALID, "bad object handle")
    size = U()
    expect(m.C_GetObjectSize(ro, cert, C.byref(size)), P.CKR_OK, "C_GetObjectSize")
    if size.value < 300:
        sys.exit("FAIL: C_GetObjectSize of a certificate: %d" % size.value)
    # handles are per token: the RA session does not see the signing token's objects
    ras = U()
    expect(m.C_OpenSession(RA, P.CKF_SERIAL_SESSION, None, None, C.byref(ras)), P.CKR_OK, "RA session")
    expect(m.C_GetAttributeValue(ras, rsa, C.byref(CK_ATTRIBUTE(P.CKA_LABEL, None, 0)), 1),
           P.CKR_OBJECT_HANDLE_INVALID, "object of another token")

    # --- signing: errors
    data = b"walk every function"
    mech = CK_MECHANISM(P.CKM_SHA256_RSA_PKCS, None, 0)
    n = U(0)
    expect(m.C_Sign(ro, data, len(data), None, C.byref(n)), P.CKR_OPERATION_NOT_INITIALIZED, "C_Sign uninit")
    expect(m.C_SignUpdate(ro, data, len(data)), P.CKR_OPERATION_NOT_INITIALIZED, "C_SignUpdate uninit")
    expect(m.C_SignFinal(ro, None, C.byref(n)), P.CKR_OPERATION_NOT_INITIALIZED, "C_SignFinal uninit")
    expect(m.C_SignInit(ro, None, rsa), P.CKR_ARGUMENTS_BAD, "C_SignInit(NULL mechanism)")
    expect(m.C_SignInit(ro, C.byref(mech), cert), P.CKR_KEY_HANDLE_INVALID, "sign with a certificate")
    expect(m.C_SignInit(ro, C.byref(mech), rsapub), P.CKR_KEY_FUNCTION_NOT_PERMITTED, "sign with a public key")
    expect(m.C_SignInit(ro, C.byref(CK_MECHANISM(P.CKM_ECDSA_SHA256, None, 0)), rsa), P.CKR_KEY_TYPE_INCONSISTENT, "ECDSA on RSA")
    expect(m.C_SignInit(ro, C.byref(CK_MECHANISM(P.CKM_AES_CBC, None, 0)), rsa), P.CKR_MECHANISM_INVALID, "AES")
    bad = C.c_ubyte(0)
    expect(m.C_SignInit(ro, C.byref(CK_MECHANISM(P.CKM_SHA256_RSA_PKCS, C.cast(C.pointer(bad), C.c_void_p), 1)), rsa),
           P.CKR_MECHANISM_PARAM_INVALID, "parameter on CKM_SHA256_RSA_PKCS")
    for pss, what in ((None, "PSS without parameters"),
                      (CK_PSS(P.CKM_SHA256, P.CKG_MGF1_SHA256, 20), "PSS salt 20 (service: digest length)"),
                      (CK_PSS(P.CKM_SHA256, P.CKG_MGF1_SHA384, 32), "PSS MGF1 hash differs"),
                      (CK_PSS(P.CKM_SHA384, P.CKG_MGF1_SHA384, 48), "PSS hashAlg differs from CKM_SHA256_RSA_PKCS_PSS"),
                      (CK_PSS(P.CKM_SHA_1, P.CKG_MGF1_SHA1, 20), "PSS SHA-1")):
        mp = CK_MECHANISM(P.CKM_SHA256_RSA_PKCS_PSS, C.cast(C.pointer(pss), C.c_void_p) if pss else None,
                          C.sizeof(CK_PSS) if pss else 0)
        expect(m.C_SignInit(ro, C.byref(mp), rsa), P.CKR_MECHANISM_PARAM_INVALID, what)
    # --- size query and CKR_BUFFER_TOO_SMALL keep the operation; the result ends it
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_OK, "C_SignInit")
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_OPERATION_ACTIVE, "C_SignInit twice")
    expect(m.C_Sign(ro, data, len(data), None, None), P.CKR_ARGUMENTS_BAD, "C_Sign(pulSignatureLen NULL)")
    expect(m.C_Sign(ro, data, len(data), None, C.byref(n)), P.CKR_OPERATION_NOT_INITIALIZED, "ARGUMENTS_BAD ended it")
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_OK, "C_SignInit")
    expect(m.C_Sign(ro, data, len(data), None, C.byref(n)), P.CKR_OK, "size query")
    expect(n.value, 256, "RSA-2048 signature length")
    n = U(10)
    small = C.create_string_buffer(10)
    expect(m.C_Sign(ro, data, len(data), small, C.byref(n)), P.CKR_BUFFER_TOO_SMALL, "buffer too small")
    expect(n.value, 256, "too small reports the length")
    sig = C.create_string_buffer(300)
    n = U(300)
    expect(m.C_Sign(ro, data, len(data), sig, C.byref(n)), P.CKR_OK, "C_Sign after BUFFER_TOO_SMALL")
    pub_rsa, pub_ec = pubkey(m, ro, rsa), pubkey(m, ro, eck)
    verify(pub_rsa, sig.raw[:n.value], data, "pkcs1")
    expect(m.C_Sign(ro, data, len(data), sig, C.byref(n)), P.CKR_OPERATION_NOT_INITIALIZED, "C_Sign ended the operation")
    # --- multi-part
    for mechanism, key, kind, pub, md in ((P.CKM_SHA384_RSA_PKCS, rsa, "pkcs1", pub_rsa, hashes.SHA384()),
                                          (P.CKM_ECDSA_SHA512, eck, "ecdsa", pub_ec, hashes.SHA512())):
        expect(m.C_SignInit(rw, C.byref(CK_MECHANISM(mechanism, None, 0)), key), P.CKR_OK, "C_SignInit multi-part")
        parts = [b"part one, ", b"", b"part two, ", b"part three"]
        for part in parts:
            expect(m.C_SignUpdate(rw, part, len(part)), P.CKR_OK, "C_SignUpdate")
        expect(m.C_Sign(rw, data, len(data), sig, C.byref(n)), P.CKR_OPERATION_ACTIVE, "C_Sign in a multi-part operation")
        n = U(0)
        expect(m.C_SignFinal(rw, None, C.byref(n)), P.CKR_OK, "C_SignFinal size query")
        n2 = U(1)
        expect(m.C_SignFinal(rw, small, C.byref(n2)), P.CKR_BUFFER_TOO_SMALL, "C_SignFinal too small")
        expect(m.C_SignFinal(rw, sig, C.byref(n)), P.CKR_OK, "C_SignFinal")
        verify(pub, sig.raw[:n.value], b"".join(parts), kind, md)
        expect(m.C_SignFinal(rw, sig, C.byref(n)), P.CKR_OPERATION_NOT_INITIALIZED, "C_SignFinal ended it")
    # --- raw mechanisms
    dg = hashlib.sha256(data).digest()
    di = bytes.fromhex("3031300d060960864801650304020105000420") + dg
    verify(pub_rsa, sign(m, ro, rsa, P.CKM_RSA_PKCS, di), data, "pkcs1")
    pss = CK_PSS(P.CKM_SHA256, P.CKG_MGF1_SHA256, 32)
    verify(pub_rsa, sign(m, ro, rsa, P.CKM_RSA_PKCS_PSS, dg, pss), data, "pss")
    verify(pub_rsa, sign(m, ro, rsa, P.CKM_SHA256_RSA_PKCS_PSS, data, pss), data, "pss")
    rs = sign(m, ro, eck, P.CKM_ECDSA, dg)
    expect(len(rs), 64, "ECDSA P-256: r||s is 64 bytes")
    verify(pub_ec, rs, data, "ecdsa")
    for mechanism, key, raw, what in ((P.CKM_RSA_PKCS, rsa, b"\x01" * 250, "RSA-PKCS input longer than k-11"),
                                      (P.CKM_ECDSA, eck, b"\x01" * 20, "ECDSA with a 20-byte digest"),
                                      (P.CKM_RSA_PKCS_PSS, rsa, b"\x01" * 20, "PSS input is not a SHA-256 digest")):
        mp = CK_MECHANISM(mechanism, C.cast(C.pointer(pss), C.c_void_p) if mechanism == P.CKM_RSA_PKCS_PSS else None,
                          C.sizeof(pss) if mechanism == P.CKM_RSA_PKCS_PSS else 0)
        expect(m.C_SignInit(ro, C.byref(mp), key), P.CKR_OK, "C_SignInit " + what)
        n = U(512)
        expect(m.C_Sign(ro, raw, len(raw), sig, C.byref(n)), P.CKR_DATA_LEN_RANGE, what)
        expect(m.C_Sign(ro, raw, len(raw), sig, C.byref(n)), P.CKR_OPERATION_NOT_INITIALIZED, "error ended " + what)
    # --- CKU_CONTEXT_SPECIFIC right after C_SignInit
    expect(m.C_SignInit(ro, C.byref(mech), rsa), P.CKR_OK, "C_SignInit")
    expect(m.C_Login(ro, P.CKU_CONTEXT_SPECIFIC, pin, 4), P.CKR_OK, "context-specific login after C_SignInit")
    n = U(300)
    expect(m.C_Sign(ro, data, len(data), sig, C.byref(n)), P.CKR_OK, "C_Sign")
    # --- the RA key signs locally
    ra_key = find(m, ras, [(P.CKA_CLASS, P.CKO_PRIVATE_KEY)])
    expect(len(ra_key), 1, "one RA private key")
    verify(pubkey(m, ras, ra_key[0]), sign(m, ras, ra_key[0], P.CKM_SHA256_RSA_PKCS, data), data, "pkcs1")

    # --- everything else: CKR_FUNCTION_NOT_SUPPORTED (legacy parallel functions: NOT_PARALLEL)
    supported = {"Initialize", "Finalize", "GetInfo", "GetFunctionList", "GetSlotList", "GetSlotInfo",
                 "GetTokenInfo", "GetMechanismList", "GetMechanismInfo", "OpenSession", "CloseSession",
                 "CloseAllSessions", "GetSessionInfo", "Login", "Logout", "InitPIN", "SetPIN", "GetObjectSize",
                 "GetAttributeValue",
                 "FindObjectsInit", "FindObjects", "FindObjectsFinal", "SignInit", "Sign", "SignUpdate", "SignFinal"}
    zeros = [0] * 8
    for name in NAMES:
        if name in supported:
            continue
        want = P.CKR_FUNCTION_NOT_PARALLEL if name in ("GetFunctionStatus", "CancelFunction") else P.CKR_FUNCTION_NOT_SUPPORTED
        args = zeros[:1] if name in ("GetFunctionStatus", "CancelFunction") else zeros
        expect(getattr(m, "C_" + name)(*args), want, "C_" + name)

    # --- closing
    expect(m.C_CloseSession(424242), P.CKR_SESSION_HANDLE_INVALID, "C_CloseSession(bad)")
    expect(m.C_CloseAllSessions(99), P.CKR_SLOT_ID_INVALID, "C_CloseAllSessions(99)")
    expect(m.C_CloseAllSessions(SG), P.CKR_OK, "C_CloseAllSessions")
    expect(m.C_GetSessionInfo(ro, C.byref(CK_SESSION_INFO())), P.CKR_SESSION_HANDLE_INVALID, "closed by CloseAll")
    expect(m.C_GetSessionInfo(ras, C.byref(CK_SESSION_INFO())), P.CKR_OK, "other token's session stays open")
    again = U()
    m.C_OpenSession(SG, P.CKF_SERIAL_SESSION, None, None, C.byref(again))
    expect(state(again), P.CKS_RO_PUBLIC_SESSION, "a new session after C_CloseAllSessions")
    expect(m.C_CloseSession(again), P.CKR_OK, "C_CloseSession")
    expect(m.C_CloseSession(again), P.CKR_SESSION_HANDLE_INVALID, "C_CloseSession twice")
    expect(m.C_Finalize(None), P.CKR_OK, "C_Finalize with a session open")
    expect(m.C_GetSessionInfo(ras, C.byref(CK_SESSION_INFO())), P.CKR_CRYPTOKI_NOT_INITIALIZED, "after C_Finalize")


def part2():
    lib = PyKCS11.PyKCS11Lib()
    lib.load(MODULE)  # C_GetFunctionList + C_Initialize
    expect(lib.lib.C_Initialize(), P.CKR_CRYPTOKI_ALREADY_INITIALIZED, "PyKCS11: C_Initialize again")
    expect(lib.getInfo().cryptokiVersion, (2, 40), "PyKCS11 getInfo")
    slots = lib.getSlotList(tokenPresent=True)
    tokens = {lib.getTokenInfo(s).label.strip(): s for s in slots}
    sg = tokens["dcpki signing"]
    expect(len(lib.getMechanismList(sg)), 12, "PyKCS11 getMechanismList")
    expect("CKF_SIGN" in lib.getMechanismInfo(sg, "CKM_ECDSA_SHA256").flags2text(), True, "mechanism info")
    session = lib.openSession(sg, P.CKF_SERIAL_SESSION | P.CKF_RW_SESSION)
    expect(session.getSessionInfo().state2text(), "CKS_RW_PUBLIC_SESSION", "PyKCS11 session state")
    try:
        session.login("anything")
        sys.exit("FAIL: PyKCS11 login accepted without a PIN configured")
    except PyKCS11.PyKCS11Error as e:
        expect(e.value, P.CKR_USER_PIN_NOT_INITIALIZED, "PyKCS11 login, no PIN configured")
    expect(session.getSessionInfo().state2text(), "CKS_RW_PUBLIC_SESSION", "PyKCS11 still public")
    key = session.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, "ec-ca")])[0]
    label, sensitive, extractable, private_value = session.getAttributeValue(
        key, [P.CKA_LABEL, P.CKA_SENSITIVE, P.CKA_EXTRACTABLE, P.CKA_VALUE])
    expect((label, sensitive, extractable, private_value), ("ec-ca", True, False, None), "PyKCS11 attributes")
    spki = bytes(session.getAttributeValue(key, [P.CKA_PUBLIC_KEY_INFO], allAsBinary=True)[0])
    pub = serialization.load_der_public_key(spki)
    msg = b"PyKCS11 signs"
    for mech, md in ((P.CKM_ECDSA_SHA256, hashes.SHA256()), (P.CKM_ECDSA_SHA384, hashes.SHA384())):
        verify(pub, bytes(session.sign(key, msg, P.Mechanism(mech))), msg, "ecdsa", md)
    rsa = session.findObjects([(P.CKA_CLASS, P.CKO_PRIVATE_KEY), (P.CKA_LABEL, "issuing-ca")])[0]
    rpub = serialization.load_der_public_key(bytes(session.getAttributeValue(rsa, [P.CKA_PUBLIC_KEY_INFO], allAsBinary=True)[0]))
    verify(rpub, bytes(session.sign(rsa, msg, P.RSA_PSS_Mechanism(P.CKM_SHA512_RSA_PKCS_PSS, P.CKM_SHA512,
                                                                   P.CKG_MGF1_SHA512, 64))), msg, "pss", hashes.SHA512())
    verify(rpub, bytes(session.sign(rsa, msg, P.Mechanism(P.CKM_SHA512_RSA_PKCS))), msg, "pkcs1", hashes.SHA512())
    try:
        session.sign(rsa, msg, P.RSA_PSS_Mechanism(P.CKM_SHA512_RSA_PKCS_PSS, P.CKM_SHA512, P.CKG_MGF1_SHA512, 0))
        sys.exit("FAIL: PSS with salt 0 on a remote key accepted")
    except PyKCS11.PyKCS11Error as e:
        expect(e.value, P.CKR_MECHANISM_PARAM_INVALID, "PyKCS11Error for a bad PSS salt")
    try:
        session.encrypt(rsa, msg)
        sys.exit("FAIL: encrypt accepted")
    except PyKCS11.PyKCS11Error as e:
        expect(e.value, P.CKR_FUNCTION_NOT_SUPPORTED, "PyKCS11 encrypt")
    session.closeSession()
    lib.closeAllSessions(sg)
    expect(lib.lib.C_Finalize(), P.CKR_OK, "PyKCS11 C_Finalize")
    expect(lib.lib.C_Finalize(), P.CKR_CRYPTOKI_NOT_INITIALIZED, "PyKCS11 C_Finalize twice")
    expect(lib.lib.C_Initialize(), P.CKR_OK, "PyKCS11 C_Initialize after C_Finalize")


if __name__ == "__main__":  # pykcs11_pin.py imports the helpers above
    part1()
    part2()
    print("ok - %d PKCS#11 checks (every function, return codes, signatures verified)" % checks)

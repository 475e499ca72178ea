"""DigiCert PKI Platform web services in their VeriSign SOAP 1.1 dialect
(shared/protocols/pki-platform.md), under /pki-ws/:

  POST /pki-ws/policyService                 getPolicies -> getPoliciesResponse
  POST /pki-ws/enrollmentService             wst:RequestSecurityToken > requestVSSecurityToken
  POST /pki-ws/certificateManagementService  updateCertificateStatusRequest, searchCertificateRequest
  POST /pki-ws/healthcheckService            getStatusRequestMessage
  GET  /crl/<ca alias>.crl                   DER CRL of certificates revoked through the service

Requests are checked element by element against the VeriSign schemas (order,
namespaces, required elements); a wrong request is a SOAP 1.1 Fault (HTTP
500) with detail/errorcode and detail/message. Certificate profiles live in
STATE/profiles.json (written on first use, re-read when it changes).
Dispatch is on the body element; SOAPAction is not needed. Every Issue/Renew
is a new request (no de-duplication by clientTransactionID unless the server
runs with --dedupe-txid); every nameValuePair of an enrollment and the
certificate's seat are kept in state.json. Serial numbers are matched exactly
as the service writes them (upper-case hex, no leading zeros).

A profile (OID -> object) has: name, ca (key alias that issues), subject
[{dn, name, mandatory, value (fixed), charset ("name")}], san [{type
(rfc822Name | userPrincipalName | otherName), name, oid (otherName),
mandatory}], key {algorithm RSA|EC, min_size}, validity_days, renewal_days,
eku [clientAuth, emailProtection, serverAuth, smartcardLogon], pending (leave
requests pending until `dcpki-emulator approve`), refuse (text: every request
is refused with this fault text).
"""
import base64
import binascii
import datetime
import hashlib
import json
import os
import re
import threading
import uuid
import xml.etree.ElementTree as ET
from xml.sax.saxutils import escape, quoteattr

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from .server import Response
from .state import EmulatorError, atomic_write, iso, serial_hex, utcnow

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
NS_SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
NS_XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_POLICY = "http://schemas.verisign.com/pkiservices/2009/07/policy"
NS_ENROLL = "http://schemas.verisign.com/pkiservices/2009/07/enrollment"
NS_MGMT = "http://schemas.verisign.com/pkiservices/2009/07/management"
NS_WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/"
NS_HEALTH = "http://schemas.pki.symantec.com/pkiservices/healthcheck"
TOKEN_PKCS7 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7"
TOKEN_X509 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
TOKEN_PKCS12 = "http://schemas.verisign.com/pkiservices/2009/07/PKCS12"
REQ_ISSUE = NS_WST + "Issue"
REQ_RENEW = NS_WST + "Renew"
REQ_QUERY = "http://schemas.verisign.com/pkiservices/2009/07/QueryTokenStatus"
VT_PKCS10 = "http://schemas.verisign.com/pkiservices/2009/07/PKCS10"
ENC_BASE64 = ("http://docs.oasis-open.org/wss/2004/01/"
              "oasis-200401-wss-soap-message-security-1.0#Base64Binary")
UNKNOWN_ELEMENT = "A request element is not understood"

OID_UPN = "1.3.6.1.4.1.311.20.2.3"
OID_GUID = "1.3.6.1.4.1.311.25.1"
OID_SAN = "2.5.29.17"
OID_RSA = "1.2.840.113549.1.1.1"
OID_EC = "1.2.840.10045.2.1"

DN_TYPES = {
    "CN": NameOID.COMMON_NAME, "E": NameOID.EMAIL_ADDRESS, "GN": NameOID.GIVEN_NAME,
    "SN": NameOID.SURNAME, "O": NameOID.ORGANIZATION_NAME, "OU": NameOID.ORGANIZATIONAL_UNIT_NAME,
    "C": NameOID.COUNTRY_NAME, "L": NameOID.LOCALITY_NAME, "ST": NameOID.STATE_OR_PROVINCE_NAME,
    "title": NameOID.TITLE,
}
DN_BY_OID = {oid: name for name, oid in DN_TYPES.items()}
# nameValuePair name of a subject attribute whose profile entry names none (fixed values)
DEFAULT_PAIRS = {"CN": "common_name", "E": "mail_email", "GN": "mail_firstName",
                 "SN": "mail_lastName", "O": "corp_company", "OU": "org_unit", "C": "country",
                 "L": "locality", "ST": "state", "title": "jobTitle"}
SAN_TYPES = ("rfc822Name", "userPrincipalName", "otherName")
EKUS = {"clientAuth": ExtendedKeyUsageOID.CLIENT_AUTH,
        "emailProtection": ExtendedKeyUsageOID.EMAIL_PROTECTION,
        "serverAuth": ExtendedKeyUsageOID.SERVER_AUTH,
        "smartcardLogon": ObjectIdentifier("1.3.6.1.4.1.311.20.2.2")}
REASONS = {
    "Unspecified": x509.ReasonFlags.unspecified,
    "KeyCompromise": x509.ReasonFlags.key_compromise,
    "CACompromise": x509.ReasonFlags.ca_compromise,
    "AffiliationChanged": x509.ReasonFlags.affiliation_changed,
    "CessationOfOperation": x509.ReasonFlags.cessation_of_operation,
    "PrivilegeWithdrawn": x509.ReasonFlags.privilege_withdrawn,
    "AACompromise": x509.ReasonFlags.aa_compromise,
    "Superseded": x509.ReasonFlags.superseded,
}
# nameValuePair names accepted by every profile without effect on the certificate
NEUTRAL_PAIRS = ("publish_flag", "seat_id")
NAME_CHARS = " .'-"
# certificates per searchCertificateResponse page (a public client pages by 50)
SEARCH_PAGE = 50

PROFILE_P1 = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
PROFILE_P2 = "2.16.840.1.113733.1.16.1.2.3.1.1.61904612"
PROFILE_P3 = "2.16.840.1.113733.1.16.1.2.3.1.1.80153305"
PROFILE_P4 = "2.16.840.1.113733.1.16.1.2.3.1.1.93127450"
DEFAULT_PROFILES = {
    PROFILE_P1: {
        "name": "dcpki user: CN (+E), SAN e-mail and UPN",
        "ca": "issuing-ca",
        "subject": [
            {"dn": "CN", "name": "common_name", "mandatory": True},
            {"dn": "E", "name": "mail_email", "mandatory": False},
        ],
        "san": [
            {"type": "rfc822Name", "name": "san_email", "mandatory": False},
            {"type": "userPrincipalName", "name": "upn", "mandatory": False},
        ],
        "key": {"algorithm": "RSA", "min_size": 2048},
        "validity_days": 365,
        "renewal_days": 30,
        "eku": ["clientAuth", "emailProtection"],
        "pending": False,
    },
    PROFILE_P2: {
        "name": "dcpki device: CN, SAN DS Object GUID",
        "ca": "issuing-ca",
        "subject": [{"dn": "CN", "name": "common_name", "mandatory": True}],
        "san": [{"type": "otherName", "oid": OID_GUID, "name": "ds_object_guid",
                 "mandatory": True}],
        "key": {"algorithm": "RSA", "min_size": 2048},
        "validity_days": 365,
        "renewal_days": 30,
        "eku": ["clientAuth"],
        "pending": False,
    },
    PROFILE_P3: {
        "name": "dcpki named user: CN, given name, surname (mail_firstName, mail_lastName)",
        "ca": "issuing-ca",
        "subject": [
            {"dn": "CN", "name": "common_name", "mandatory": True},
            {"dn": "GN", "name": "mail_firstName", "mandatory": True, "charset": "name"},
            {"dn": "SN", "name": "mail_lastName", "mandatory": True, "charset": "name"},
            {"dn": "O", "value": "dcpki emulator users"},
        ],
        "san": [{"type": "userPrincipalName", "name": "upn", "mandatory": False}],
        "key": {"algorithm": "RSA", "min_size": 2048},
        "validity_days": 365,
        "renewal_days": 30,
        "eku": ["clientAuth", "emailProtection"],
        "pending": False,
    },
    # the policy names the UPN pair differently from the other profiles (attributeName
    # user_principal_name) and requires it: a client must take the pair name from the policy
    PROFILE_P4: {
        "name": "dcpki smart-card logon: CN, SAN UPN required as user_principal_name",
        "ca": "issuing-ca",
        "subject": [{"dn": "CN", "name": "common_name", "mandatory": True}],
        "san": [{"type": "userPrincipalName", "name": "user_principal_name",
                 "mandatory": True}],
        "key": {"algorithm": "RSA", "min_size": 2048},
        "validity_days": 365,
        "renewal_days": 30,
        "eku": ["clientAuth", "smartcardLogon"],
        "pending": False,
    },
}


class SoapFault(Exception):
    def __init__(self, faultstring, errorcode, message=None, faultcode="soap:Client", status=500):
        super().__init__(faultstring)
        self.faultstring = faultstring
        self.errorcode = errorcode
        self.message = message or faultstring
        self.faultcode = faultcode
        self.status = status


# ---------------------------------------------------------------- XML output
def el(name, content=None, attrs=None, nil=False):
    """<name attrs>content</name>; content: str (escaped), list of XML strings, or None."""
    a = "".join(" %s=%s" % (k, quoteattr(str(v))) for k, v in (attrs or {}).items())
    if nil:
        return '<%s%s xsi:nil="true"/>' % (name, a)
    if content is None:
        return "<%s%s/>" % (name, a)
    if isinstance(content, (list, tuple)):
        inner = "".join(content)
    else:
        inner = escape(str(content))
    return "<%s%s>%s</%s>" % (name, a, inner, name)


def envelope(body_xml):
    return ('<?xml version="1.0" encoding="UTF-8"?>'
            '<soap:Envelope xmlns:soap="%s" xmlns:xsi="%s"><soap:Body>%s</soap:Body>'
            '</soap:Envelope>' % (NS_SOAP, NS_XSI, body_xml))


def soap_response(body_xml, status=200, headers=None):
    return Response(status, envelope(body_xml).encode("utf-8"), "text/xml; charset=utf-8", headers)


def fault_response(f, headers=None):
    detail = el("detail", [el("errorcode", f.errorcode), el("message", f.message)])
    body = el("soap:Fault", [el("faultcode", f.faultcode), el("faultstring", f.faultstring),
                             detail])
    return soap_response(body, f.status, headers)


def render_error(status, message, retry_after=None):
    """Error renderer for /pki-ws/: HTTP-level errors as SOAP Faults."""
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    code = {403: "ACCESS_DENIED", 404: "NOT_FOUND", 405: "METHOD_NOT_ALLOWED",
            429: "REQUEST_LIMIT_EXCEEDED", 503: "SERVICE_UNAVAILABLE"}.get(status, "HTTP_%d" % status)
    faultcode = "soap:Server" if status >= 500 else "soap:Client"
    return fault_response(SoapFault(message, code, faultcode=faultcode, status=status), headers)


# ---------------------------------------------------------------- XML input
def q(ns, name):
    return "{%s}%s" % (ns, name)


def local(tag):
    return tag.split("}", 1)[1] if tag.startswith("{") else tag


def ns_of(tag):
    return tag[1:].split("}", 1)[0] if tag.startswith("{") else ""


def parse_envelope(body):
    if not body:
        raise SoapFault("The request has no body; send a SOAP 1.1 envelope", "INVALID_REQUEST")
    head = body[:2048].upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in body.upper():
        raise SoapFault("Document type declarations are not accepted", "INVALID_REQUEST")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as e:
        raise SoapFault("The request is not well-formed XML: %s" % e, "INVALID_REQUEST")
    if root.tag == q(NS_SOAP12, "Envelope"):
        raise SoapFault("SOAP 1.2 is not supported by this service; send a SOAP 1.1 envelope",
                        "VERSION_MISMATCH", faultcode="soap:VersionMismatch")
    if root.tag != q(NS_SOAP, "Envelope"):
        raise SoapFault("The request is not a SOAP 1.1 envelope (root element %s)" % root.tag,
                        "INVALID_REQUEST")
    bodies = [c for c in root if c.tag == q(NS_SOAP, "Body")]
    if len(bodies) != 1:
        raise SoapFault("The SOAP envelope must have exactly one Body", "INVALID_REQUEST")
    children = list(bodies[0])
    if len(children) != 1:
        raise SoapFault("The SOAP Body must hold exactly one operation element", "INVALID_REQUEST")
    return children[0]


def is_nil(e):
    return e.get(q(NS_XSI, "nil")) in ("true", "1")


def check_sequence(elem, ns, spec):
    """Check elem's children against a schema sequence: spec = [(name, min, max)]
    (max None = unbounded). Elements of other namespaces after the sequence are
    tolerated (xs:any); anything else is a fault. Returns {name: [elements]}."""
    kids = list(elem)
    got = {name: [] for name, _, _ in spec}
    i = 0
    for name, lo, hi in spec:
        n = 0
        while i < len(kids) and kids[i].tag == q(ns, name) and (hi is None or n < hi):
            got[name].append(kids[i])
            i += 1
            n += 1
        if n < lo:
            found = ("found %s" % local(kids[i].tag)) if i < len(kids) else "the element ended"
            raise SoapFault("Invalid %s: %s is required at this position (%s)" %
                            (local(elem.tag), name, found), "INVALID_REQUEST")
    for k in kids[i:]:
        if ns_of(k.tag) == ns or ns_of(k.tag) == "":
            where = "out of order" if local(k.tag) in got else "unknown"
            raise SoapFault("Invalid %s: element %s is %s" % (local(elem.tag), local(k.tag), where),
                            "INVALID_REQUEST")
    return got


def text1(got, name, default=None):
    els = got.get(name) or []
    if not els or is_nil(els[0]):
        return default
    return (els[0].text or "").strip()


VERSION_RE = re.compile(r"\d{1,3}\.\d{0,3}")


def check_common(got):
    version = text1(got, "version")
    if version is None or not VERSION_RE.fullmatch(version):
        raise SoapFault("Invalid version %r; expected digits.digits, e.g. 2.0" % version,
                        "INVALID_REQUEST")
    txid = text1(got, "clientTransactionID")
    if txid is not None and len(txid) > 40:
        raise SoapFault("clientTransactionID is longer than 40 characters", "INVALID_REQUEST")
    return txid


def server_txid():
    return uuid.uuid4().hex[:32]


# ---------------------------------------------------------------- profiles
def profiles_path(state):
    return state.path("profiles.json")


def ensure_profiles(state):
    state.ensure()
    path = profiles_path(state)
    if os.path.exists(path):
        return
    with state.locked():
        if not os.path.exists(path):
            atomic_write(path, json.dumps(DEFAULT_PROFILES, indent=1) + "\n")


def validate_profiles(profiles):
    if not isinstance(profiles, dict):
        raise EmulatorError("profiles.json must be an object of profile OID -> profile")
    for oid, p in profiles.items():
        if not re.fullmatch(r"[0-2](\.\d+)+", oid):
            raise EmulatorError("profiles.json: %r is not an OID" % oid)
        for a in p.get("subject", []):
            if a.get("dn") not in DN_TYPES:
                raise EmulatorError("profiles.json: %s: unknown subject type %r (known: %s)" %
                                    (oid, a.get("dn"), ", ".join(DN_TYPES)))
            if "value" not in a and not a.get("name"):
                raise EmulatorError("profiles.json: %s: subject %s needs a name or a value" %
                                    (oid, a["dn"]))
        for s in p.get("san", []):
            if s.get("type") not in SAN_TYPES or not s.get("name"):
                raise EmulatorError("profiles.json: %s: SAN entries need a name and a type of %s"
                                    % (oid, ", ".join(SAN_TYPES)))
        for e in p.get("eku", []):
            if e not in EKUS:
                raise EmulatorError("profiles.json: %s: unknown EKU %r" % (oid, e))
    return profiles


class Profiles:
    def __init__(self, state):
        self.state = state
        self._lock = threading.Lock()
        self._cache = (None, None)

    def get(self):
        path = profiles_path(self.state)
        st = os.stat(path)
        gen = (st.st_mtime_ns, st.st_size, st.st_ino)
        with self._lock:
            if self._cache[0] == gen:
                return self._cache[1]
        with open(path) as f:
            try:
                profiles = validate_profiles(json.load(f))
            except ValueError as e:
                raise EmulatorError("profiles.json is not valid JSON (%s)" % e)
        with self._lock:
            self._cache = (gen, profiles)
        return profiles


def update_profile(state, oid, **changes):
    """Set keys of one profile (None removes the key), e.g. pending=True, refuse="text"."""
    ensure_profiles(state)
    with state.locked():
        with open(profiles_path(state)) as f:
            profiles = json.load(f)
        if oid not in profiles:
            raise EmulatorError("no profile %s in %s; known: %s" % (oid, profiles_path(state),
                                                                    ", ".join(profiles)))
        for k, v in changes.items():
            if v is None:
                profiles[oid].pop(k, None)
            else:
                profiles[oid][k] = v
        atomic_write(profiles_path(state), json.dumps(profiles, indent=1) + "\n")


# ---------------------------------------------------------------- issuing
def der_utf8(s):
    b = s.encode("utf-8")
    return b"\x0c" + der_len(len(b)) + b


def der_len(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def der_is_single_tlv(b):
    """True when b is exactly one DER TLV."""
    if len(b) < 2:
        return False
    i = 1
    if b[0] & 0x1f == 0x1f:  # high tag number form
        while i < len(b) and b[i] & 0x80:
            i += 1
        i += 1
    if i >= len(b):
        return False
    first = b[i]
    i += 1
    if first < 0x80:
        length = first
    else:
        n = first & 0x7f
        if n == 0 or n > 4 or i + n > len(b):
            return False
        length = int.from_bytes(b[i:i + n], "big")
        i += n
    return i + length == len(b)


def name_ok(value):
    return any(c.isalpha() for c in value) and all(c.isalpha() or c in NAME_CHARS for c in value)


def load_csr(token_el):
    raw = (token_el.text or "").strip()
    try:
        if raw.startswith("-----BEGIN"):
            csr = x509.load_pem_x509_csr(raw.encode())
        else:
            csr = x509.load_der_x509_csr(base64.b64decode("".join(raw.split()), validate=True))
    except (ValueError, binascii.Error):
        raise SoapFault("The binarySecurityToken is not a PKCS#10 request (base64 DER or PEM)",
                        "CSR_INVALID")
    if not csr.is_signature_valid:
        raise SoapFault("The PKCS#10 request's signature does not verify", "CSR_INVALID")
    return csr


def compose(profile_oid, profile, csr, pairs):
    """Subject, SAN and key checks of a request against its profile (the CA's
    policy verification). Returns (x509.Name, [GeneralName])."""
    known = {}
    for a in profile.get("subject", []):
        known[a.get("name") or DEFAULT_PAIRS[a["dn"]]] = ("subject", a)
    for s in profile.get("san", []):
        known[s["name"]] = ("san", s)
    allowed = ", ".join(sorted(known))
    seen = {}
    for name, value in pairs:
        if name in NEUTRAL_PAIRS:
            continue
        if name not in known:
            raise SoapFault(
                "Policy verification failed: the attribute %s is not part of the DigiCert "
                "supported certificate template attributes list (profile %s allows: %s)" %
                (name, profile_oid, allowed or "none"), "POLICY_VERIFICATION_FAILED")
        if name in seen:
            raise SoapFault("Policy verification failed: the attribute %s appears twice" % name,
                            "POLICY_VERIFICATION_FAILED")
        seen[name] = value

    # key rules
    key = csr.public_key()
    rule = profile.get("key", {})
    alg = rule.get("algorithm", "RSA")
    min_size = int(rule.get("min_size", 2048))
    if alg == "RSA" and not isinstance(key, rsa.RSAPublicKey):
        raise SoapFault("Policy verification failed: profile %s requires an RSA key" %
                        profile_oid, "KEY_POLICY")
    if alg == "EC" and not isinstance(key, ec.EllipticCurvePublicKey):
        raise SoapFault("Policy verification failed: profile %s requires an EC key" %
                        profile_oid, "KEY_POLICY")
    if key.key_size < min_size:
        raise SoapFault("Policy verification failed: profile %s requires a key of at least %d "
                        "bits, the request has %d" % (profile_oid, min_size, key.key_size),
                        "KEY_POLICY")

    # the request's own subject may only use the profile's attribute types
    profile_dns = {a["dn"] for a in profile.get("subject", [])}
    csr_values = {}
    for attr in csr.subject:
        dn = DN_BY_OID.get(attr.oid)
        if dn is None or dn not in profile_dns:
            raise SoapFault(
                "Policy verification failed: the subject attribute %s of the request is not "
                "part of the DigiCert supported certificate template attributes list (profile "
                "%s allows: %s)" % (dn or attr.oid.dotted_string, profile_oid,
                                    ", ".join(sorted(profile_dns)) or "none"),
                "POLICY_VERIFICATION_FAILED")
        csr_values.setdefault(dn, attr.value)

    rdns = []
    for a in profile.get("subject", []):
        dn = a["dn"]
        fixed = a.get("value")
        name = a.get("name") or DEFAULT_PAIRS[dn]
        if fixed is not None:
            if name and name in seen and seen[name] != fixed:
                raise SoapFault("Policy verification failed: %s is fixed to %r by profile %s" %
                                (name, fixed, profile_oid), "POLICY_VERIFICATION_FAILED")
            if dn in csr_values and csr_values[dn] != fixed:
                raise SoapFault("Policy verification failed: subject %s is fixed to %r by "
                                "profile %s" % (dn, fixed, profile_oid),
                                "POLICY_VERIFICATION_FAILED")
            value = fixed
        else:
            value = seen.get(name, csr_values.get(dn))
        if value is None or value == "":
            if a.get("mandatory"):
                raise SoapFault("Policy verification failed: the mandatory attribute %s (%s) is "
                                "missing" % (name or dn, dn), "POLICY_VERIFICATION_FAILED")
            continue
        if a.get("charset") == "name" and not name_ok(value):
            raise SoapFault("Policy verification failed: %s %r contains characters a name "
                            "cannot take (letters, space, period, apostrophe and hyphen only)"
                            % (name, value), "POLICY_VERIFICATION_FAILED")
        if dn == "C" and len(value) != 2:
            raise SoapFault("Policy verification failed: country must be two letters",
                            "POLICY_VERIFICATION_FAILED")
        if dn == "E" and not is_email(value):
            raise SoapFault("Policy verification failed: %s %r is not an e-mail address" %
                            (name, value), "POLICY_VERIFICATION_FAILED")
        rdns.append(x509.NameAttribute(DN_TYPES[dn], value))
    if not rdns:
        raise SoapFault("Policy verification failed: the subject would be empty",
                        "POLICY_VERIFICATION_FAILED")

    names = []
    for s in profile.get("san", []):
        value = seen.get(s["name"])
        if value is None or value == "":
            if s.get("mandatory"):
                raise SoapFault("Policy verification failed: the mandatory SAN attribute %s (%s) "
                                "is missing" % (s["name"], s["type"]),
                                "POLICY_VERIFICATION_FAILED")
            continue
        if s["type"] == "rfc822Name":
            if not is_email(value):
                raise SoapFault("Policy verification failed: %s %r is not an e-mail address" %
                                (s["name"], value), "POLICY_VERIFICATION_FAILED")
            names.append(x509.RFC822Name(value))
        elif s["type"] == "userPrincipalName":
            if not is_email(value, ascii_only=False):
                raise SoapFault("Policy verification failed: %s %r is not a user principal name "
                                "(user@domain)" % (s["name"], value),
                                "POLICY_VERIFICATION_FAILED")
            names.append(x509.OtherName(ObjectIdentifier(OID_UPN), der_utf8(value)))
        else:
            try:
                der = base64.b64decode("".join(value.split()), validate=True)
            except (binascii.Error, ValueError):
                raise SoapFault("Policy verification failed: %s must be the base64 of the DER "
                                "value" % s["name"], "POLICY_VERIFICATION_FAILED")
            if not der_is_single_tlv(der):
                raise SoapFault("Policy verification failed: %s is not one DER-encoded value" %
                                s["name"], "POLICY_VERIFICATION_FAILED")
            names.append(x509.OtherName(ObjectIdentifier(s.get("oid") or OID_GUID), der))
    # a SAN the request itself carries must be of a type the profile allows
    try:
        csr_san = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        csr_san = []
    allowed_types = {s["type"] for s in profile.get("san", [])}
    for gn in csr_san:
        t = ("rfc822Name" if isinstance(gn, x509.RFC822Name) else
             "userPrincipalName" if isinstance(gn, x509.OtherName)
             and gn.type_id.dotted_string == OID_UPN else
             "otherName" if isinstance(gn, x509.OtherName) else type(gn).__name__)
        if t not in allowed_types:
            raise SoapFault("Policy verification failed: the request's SAN type %s is not part "
                            "of the DigiCert supported certificate template attributes list "
                            "(profile %s allows: %s)" % (t, profile_oid,
                                                         ", ".join(sorted(allowed_types)) or
                                                         "none"), "POLICY_VERIFICATION_FAILED")
        if not seen_has_type(profile, seen, t) and gn not in names:
            names.append(gn)
    return x509.Name(rdns), names


def seen_has_type(profile, seen, t):
    return any(s["type"] == t and seen.get(s["name"]) for s in profile.get("san", []))


def is_email(v, ascii_only=True):
    if ascii_only:
        try:
            v.encode("ascii")
        except UnicodeEncodeError:
            return False
    return re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", v) is not None


def issue_for_request(state, profile_oid, profile, subject, names, public_key, meta):
    ca_cert, ca_key, chain = state.issuing_ca(profile.get("ca", "issuing-ca"))
    exts = [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                       data_encipherment=False, key_agreement=False, key_cert_sign=False,
                       crl_sign=False, encipher_only=False, decipher_only=False), True),
        (x509.ExtendedKeyUsage([EKUS[e] for e in profile.get("eku", ["clientAuth"])]), False),
        (x509.CertificatePolicies([x509.PolicyInformation(ObjectIdentifier(profile_oid), None)]),
         False),
    ]
    if names:
        exts.append((x509.SubjectAlternativeName(names), False))
    meta = dict(meta)
    meta["profile"] = profile_oid
    meta["ca"] = profile.get("ca", "issuing-ca")
    # every nameValuePair of the request is kept (`dcpki-emulator list --pairs`)
    meta["pairs"] = [list(p) for p in meta.get("pairs") or ()]
    meta["seat_id"] = seat_of(meta["pairs"], subject, names)
    cert = state.issue(ca_cert, ca_key, subject, public_key, int(profile.get("validity_days", 365)),
                       exts, "enrolled", meta=meta)
    return cert, [ca_cert] + chain


def pkcs7_b64(certs):
    return base64.b64encode(pkcs7.serialize_certificates(certs, serialization.Encoding.DER)).decode()


def find_issued(data, serial):
    """The enrolled certificate whose serial is exactly `serial` as this service
    writes it: upper-case hex without leading zeros (serial_hex). Another form of
    the same number (leading zeros, lower case, colons) is not found, as a client
    of the real service reports (see README, "Serial numbers")."""
    for entry in data["issued"]:
        if entry["serial"] == serial and entry["kind"] == "enrolled":
            return entry
    return None


def seat_of(pairs, subject, names):
    """The seat of a certificate [inferred]: the seat_id pair when the request sent
    one, else the e-mail address (subject E, else SAN rfc822Name), else the CN."""
    for name, value in pairs or ():
        if name == "seat_id" and value:
            return value
    return first_email(subject, names) or first_attr(subject, NameOID.COMMON_NAME) or ""


def first_email(subject, names):
    """The subject's E, else the first SAN rfc822Name, else None."""
    email = first_attr(subject, NameOID.EMAIL_ADDRESS)
    if email is None:
        email = next((n.value for n in names if isinstance(n, x509.RFC822Name)), None)
    return email


def san_names(cert):
    try:
        return list(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value)
    except x509.ExtensionNotFound:
        return []


def cert_of(entry):
    return x509.load_pem_x509_certificate(entry["pem"].encode())


def chain_of(state, entry):
    ca_cert, _, chain = state.issuing_ca(entry.get("ca", "issuing-ca"))
    return [ca_cert] + chain


def approve_pending(state, pending_id, reject=False):
    """Administrator decision on a pending request (CLI). Returns the serial or None."""
    profiles = Profiles(state)
    with state.transaction() as data:
        req = data.get("pending", {}).get(pending_id)
        if req is None:
            raise EmulatorError("no pending request %s; list them in %s (\"pending\")" %
                                (pending_id, state.path("state.json")))
        if req["status"] != "PENDING":
            raise EmulatorError("request %s is already %s" % (pending_id, req["status"]))
        if reject:
            req["status"] = "REJECTED"
            return None
    profile = profiles.get().get(req["profile"])
    if profile is None:
        raise EmulatorError("profile %s of request %s no longer exists" % (req["profile"],
                                                                           pending_id))
    csr = x509.load_pem_x509_csr(req["csr"].encode())
    try:
        subject, names = compose(req["profile"], profile, csr, [tuple(p) for p in req["pairs"]])
    except SoapFault as f:
        raise EmulatorError("request %s no longer passes its profile: %s" % (pending_id,
                                                                             f.faultstring))
    cert, _ = issue_for_request(state, req["profile"], profile, subject, names, csr.public_key(),
                                {"client_txid": req.get("client_txid"),
                                 "csr_sha256": req["csr_sha256"], "pending_id": pending_id,
                                 "pairs": req["pairs"], "request_type": req.get("request_type",
                                                                               "Issue")})
    with state.transaction() as data:
        data["pending"][pending_id]["status"] = "ISSUED"
        data["pending"][pending_id]["serial"] = serial_hex(cert.serial_number)
    return serial_hex(cert.serial_number)


def crl_der(state, alias):
    ca_cert, ca_key, _ = state.issuing_ca(alias)
    data = state.load()
    now = utcnow()
    builder = (x509.CertificateRevocationListBuilder()
               .issuer_name(ca_cert.subject)
               .last_update(now - datetime.timedelta(minutes=5))
               .next_update(now + datetime.timedelta(days=7)))
    for e in data["issued"]:
        if e["kind"] != "enrolled" or e.get("ca", "issuing-ca") != alias:
            continue
        if e["status"] not in ("REVOKED", "SUSPENDED"):
            continue
        reason = (x509.ReasonFlags.certificate_hold if e["status"] == "SUSPENDED"
                  else REASONS.get(e.get("revoke_reason") or "Unspecified"))
        when = datetime.datetime.strptime(e["revoked_at"], "%Y-%m-%dT%H:%M:%SZ")
        rb = (x509.RevokedCertificateBuilder().serial_number(int(e["serial"], 16))
              .revocation_date(when))
        if reason != x509.ReasonFlags.unspecified:
            rb = rb.add_extension(x509.CRLReason(reason), critical=False)
        builder = builder.add_revoked_certificate(rb.build())
    builder = builder.add_extension(
        x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_cert.public_key()), False)
    builder = builder.add_extension(x509.CRLNumber(data.get("next_serial", 1)), False)
    return builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)


# ---------------------------------------------------------------- the service
class PKIPlatform:
    def __init__(self, app):
        self.app = app
        self.state = app.state
        ensure_profiles(self.state)
        self.profiles = Profiles(self.state)
        self.health_down = self.state.path("health-down")
        self.dedupe_txid = bool(getattr(app, "dedupe_txid", False))

    def register(self):
        r = self.app.route
        r("POST", r"/pki-ws/policyService/?", self.soap(self.policy))
        r("POST", r"/pki-ws/enrollmentService/?", self.soap(self.enrollment))
        r("POST", r"/pki-ws/certificateManagementService/?", self.soap(self.management))
        r("POST", r"/pki-ws/healthcheckService/?", self.soap(self.health))
        r("GET", r"/crl/(?P<alias>[A-Za-z0-9_.-]+)\.crl", self.crl)
        self.app.error_renderer("/pki-ws/", render_error)

    def soap(self, handler):
        def wrapped(req):
            ctype = (req.headers.get("Content-Type") or "").lower()
            try:
                if ctype.startswith("application/soap+xml"):
                    raise SoapFault("SOAP 1.2 (application/soap+xml) is not supported; send "
                                    "SOAP 1.1 with Content-Type text/xml", "VERSION_MISMATCH",
                                    faultcode="soap:VersionMismatch")
                op = parse_envelope(req.body)
                return handler(op)
            except SoapFault as f:
                return fault_response(f)
            except EmulatorError as e:
                return fault_response(SoapFault(str(e), "SERVER_ERROR", faultcode="soap:Server"))
        return wrapped

    def profile(self, oid):
        p = self.profiles.get().get(oid)
        if p is None:
            raise SoapFault("%s: certificate profile %s is not known to this RA" %
                            (UNKNOWN_ELEMENT, oid), "PROFILE_NOT_FOUND",
                            message="certificateProfileID %s does not name a profile of this "
                            "account" % oid)
        return p

    # ---- policy ----
    def policy(self, op):
        if op.tag != q(NS_POLICY, "getPolicies"):
            raise unknown_operation(op, "policyService", "getPolicies")
        got = check_sequence(op, NS_POLICY, [("version", 1, 1), ("clientTransactionID", 0, 1),
                                             ("client", 0, 1), ("requestFilter", 0, 1),
                                             ("signResponse", 0, 1)])
        txid = check_common(got)
        profiles = self.profiles.get()
        oids = list(profiles)
        # The schema requires requestFilter (nillable), but a production client sends
        # only version: no filter, like a nil one, asks for every policy of the RA.
        rf = got["requestFilter"][0] if got["requestFilter"] else None
        if rf is not None and not is_nil(rf):
            rgot = check_sequence(rf, NS_POLICY, [("policyIDs", 1, 1)])
            pids = rgot["policyIDs"][0]
            if not is_nil(pids):
                pgot = check_sequence(pids, NS_POLICY, [("oid", 1, None)])
                oids = [(e.text or "").strip() for e in pgot["oid"]]
                for oid in oids:
                    self.profile(oid)
        return soap_response(self.policies_xml(txid, oids, profiles))

    def policies_xml(self, txid, oids, profiles):
        oid_table = []  # (value, group, name)

        def ref(value, group, name):
            for i, (v, _, _) in enumerate(oid_table):
                if v == value:
                    return i + 1
            oid_table.append((value, group, name))
            return len(oid_table)

        cas = {}  # alias -> reference id
        policies = []
        for oid in oids:
            p = profiles[oid]
            alias = p.get("ca", "issuing-ca")
            ca_ref = cas.setdefault(alias, len(cas))
            policies.append(self.policy_xml(oid, p, ref, ca_ref))
        ca_xml = []
        for alias, ref_id in cas.items():
            ca_cert, _, chain = self.state.issuing_ca(alias)
            ca_xml.append(el("cA", [
                el("certificate", b64der(ca_cert)),
                el("cAIssuerName", ca_cert.subject.rfc4514_string()),
                el("cAReferenceID", str(ref_id)),
                el("cAType", "private"),
            ] + [el("intermediateCACertificates", b64der(c)) for c in chain[:-1]] + [
                el("rootCACertificate", b64der(chain[-1])),
            ]))
        oid_xml = [el("oID", [el("value", v), el("oIDReferenceID", str(i + 1)),
                              el("group", str(g)), el("defaultName", n)])
                   for i, (v, g, n) in enumerate(oid_table)]
        body = [el("clientTransactionID", txid)] if txid is not None else []
        body += [
            el("serverTransactionID", server_txid()),
            el("response", [
                el("policyID", "dcpki-emulator-policies"),
                el("policyFriendlyName", "dcpki emulator certificate profiles"),
                el("nextUpdateHours", "8"),
                el("policiesNotChanged", "false"),
                el("policies", policies) if policies else el("policies", nil=True),
            ]),
            el("cAs", ca_xml) if ca_xml else el("cAs", nil=True),
            el("oIDs", oid_xml) if oid_xml else el("oIDs", nil=True),
        ]
        return el("getPoliciesResponse", body, {"xmlns": NS_POLICY})

    def policy_xml(self, oid, p, ref, ca_ref):
        policy_ref = ref(oid, 8, p.get("name", oid))
        subj = []
        for a in p.get("subject", []):
            fixed = a.get("value")
            mandatory = "true" if (a.get("mandatory") or fixed is not None) else "false"
            value = fixed if fixed is not None else "$" + a["name"]
            prop = el("attributeNameValueProperty", [
                el("value", value),
                el("source", "fixed" if fixed is not None else "request"),
                el("mandatory", mandatory),
                el("overridable", "false" if fixed is not None else "true"),
            ])
            subj.append(el("subjectNameAttribute", [
                el("subjectNameAttributecount", "1"),
                el("subjectNameAttributeNameValuePair", [
                    el("attributeName", a["dn"]),
                    el("attributeNameValue", value, {"mandatory": mandatory, "type": a["dn"]}),
                    prop,
                ]),
            ]))
        subj.append(el("overrideSubjectNameFormat", "false"))
        exts = []
        if p.get("san"):
            pairs = []
            for s in p["san"]:
                t = s["type"]
                if t == "otherName":
                    t = "otherName:" + (s.get("oid") or OID_GUID)
                mandatory = "true" if s.get("mandatory") else "false"
                pairs.append(el("extensionAttributeNameValuePair", [
                    el("attributeName", s["name"]),
                    el("attributeNameValue", "$" + s["name"], {"mandatory": mandatory, "type": t}),
                ]))
            exts.append(el("Extension", [
                el("extensionOIDReference", str(ref(OID_SAN, 6, "Subject Alternative Name"))),
                el("extensionCriticalFlag", "false"),
                el("extensionSyntax", pairs),
            ]))
        key = p.get("key", {})
        alg_oid = OID_EC if key.get("algorithm") == "EC" else OID_RSA
        alg_ref = ref(alg_oid, 3, "ECC" if alg_oid == OID_EC else "RSA")
        base = self.app.info.get("url", "")
        endpoints = [el("serviceEndpoint", [el("type", t), el("endpointURI", base + path)])
                     for t, path in (("enrollment", "/pki-ws/enrollmentService"),
                                     ("certificateManagement",
                                      "/pki-ws/certificateManagementService"))]
        attrs = [
            el("policySchema", "2"),
            el("certificateValidity", [el("validityPeriodDays", str(p.get("validity_days", 365))),
                                       el("renewalPeriodDays", str(p.get("renewal_days", 30)))]),
            el("subjectNameInfo", subj),
            el("extensions", exts),
            el("privateKeyAttributes", [
                el("keysize", str(key.get("min_size", 2048))),
                el("keyexportable", "true"),
                el("algorithmOIDReference", str(alg_ref)),
                el("cryptoProviders", [el("provider", "Microsoft Software Key Storage Provider")]),
            ]),
            el("clientPolicy", [el("certPublish", "no")]),
            el("systemInfo", [
                el("certificateDeliveryFormat", TOKEN_PKCS7),
                el("serviceEndpointList", endpoints),
                el("duplicateCertPolicy", nil=True),
                el("supersededPolicyOID", nil=True),
            ]),
            el("rAPolicy", [el("registerUser", "false"), el("verifyUser", "false"),
                            el("publishCert", "no"), el("pollingPolicy", nil=True)]),
            el("applicationInstructions", nil=True),
            el("deploymentMode", "pending" if p.get("pending") else "automatic"),
            el("status", "active"),
            el("migrationOIDs", nil=True),
        ]
        return el("policy", [el("policyOIDReference", str(policy_ref)),
                             el("cAs", [el("cAReference", str(ca_ref))]),
                             el("attributes", attrs)])

    # ---- enrollment ----
    def enrollment(self, op):
        if op.tag != q(NS_WST, "RequestSecurityToken"):
            raise unknown_operation(op, "enrollmentService", "wst:RequestSecurityToken")
        inner = [c for c in op if c.tag == q(NS_ENROLL, "requestVSSecurityToken")]
        if len(inner) != 1 or op[0] is not inner[0]:
            raise SoapFault("Invalid RequestSecurityToken: it must start with one "
                            "requestVSSecurityToken of namespace %s" % NS_ENROLL,
                            "INVALID_REQUEST")
        rq = inner[0]
        got = check_sequence(rq, NS_ENROLL, [
            ("certificateProfileID", 1, 1), ("clientTransactionID", 0, 1), ("tokenType", 0, 1),
            ("requestType", 1, 1), ("binarySecurityToken", 0, None), ("additionalContext", 0, 1),
            ("pendingTokenReferenceID", 0, 1), ("nameValuePair", 0, None), ("version", 1, 1)])
        txid = check_common(got)
        oid = text1(got, "certificateProfileID") or ""
        profile = self.profile(oid)
        token_type = text1(got, "tokenType", TOKEN_PKCS7)
        if token_type not in (TOKEN_PKCS7, TOKEN_X509, TOKEN_PKCS12):
            raise SoapFault("Invalid tokenType %s" % token_type, "INVALID_REQUEST")
        if token_type == TOKEN_PKCS12:
            raise SoapFault("tokenType PKCS12 (server-side key generation) is not enabled for "
                            "profile %s" % oid, "TOKEN_TYPE_NOT_ALLOWED")
        req_type = text1(got, "requestType")
        pairs = []
        for nvp in got["nameValuePair"]:
            ngot = check_sequence(nvp, NS_ENROLL, [("name", 1, 1), ("value", 1, 1)])
            pairs.append((text1(ngot, "name") or "", ngot["value"][0].text or ""))
        if req_type == REQ_QUERY:
            pid = text1(got, "pendingTokenReferenceID")
            if not pid:
                raise SoapFault("QueryTokenStatus needs pendingTokenReferenceID", "INVALID_REQUEST")
            return self.query(txid, oid, pid, token_type)
        if req_type not in (REQ_ISSUE, REQ_RENEW):
            raise SoapFault("Invalid requestType %s" % req_type, "INVALID_REQUEST")
        tokens = got["binarySecurityToken"]
        if len(tokens) != 1:
            raise SoapFault("Issue and Renew need exactly one binarySecurityToken (the PKCS#10 "
                            "request)", "INVALID_REQUEST")
        vt = tokens[0].get("ValueType")
        if vt != VT_PKCS10:
            raise SoapFault("binarySecurityToken ValueType must be %s, not %s" % (VT_PKCS10, vt),
                            "INVALID_REQUEST")
        csr = load_csr(tokens[0])
        csr_der = csr.public_bytes(serialization.Encoding.DER)
        csr_sha = hashlib.sha256(csr_der).hexdigest()

        # Every Issue/Renew is a new request (a new certificate, a new seat use): nothing
        # public says the real service recognises a re-sent clientTransactionID, and public
        # clients send non-unique ones ("cert_" + timestamp). `serve --dedupe-txid` restores
        # the old emulator behaviour: a clientTransactionID seen before with the same CSR
        # gets the same answer, with another CSR the fault DUPLICATE_TRANSACTION.
        if txid and self.dedupe_txid:
            data = self.state.load()
            for e in data["issued"]:
                if e.get("client_txid") == txid and e["kind"] == "enrolled":
                    if e.get("csr_sha256") != csr_sha:
                        raise SoapFault("clientTransactionID %s was already used for another "
                                        "request" % txid, "DUPLICATE_TRANSACTION")
                    return self.issued_response(txid, token_type, cert_of(e),
                                                chain_of(self.state, e), "Issued (repeated "
                                                "transaction)")
            for pid, p in data.get("pending", {}).items():
                if p.get("client_txid") == txid:
                    if p.get("csr_sha256") != csr_sha:
                        raise SoapFault("clientTransactionID %s was already used for another "
                                        "request" % txid, "DUPLICATE_TRANSACTION")
                    return self.query(txid, oid, pid, token_type)

        subject, names = compose(oid, profile, csr, pairs)
        if profile.get("refuse"):
            raise SoapFault("The CA refused the request: %s" % profile["refuse"],
                            "REQUEST_REFUSED")
        if profile.get("pending"):
            pid = "dcpki-pending-" + uuid.uuid4().hex[:16]
            with self.state.transaction() as data:
                data.setdefault("pending", {})[pid] = {
                    "profile": oid, "csr": csr.public_bytes(serialization.Encoding.PEM).decode(),
                    "csr_sha256": csr_sha, "pairs": pairs, "client_txid": txid,
                    "request_type": "Renew" if req_type == REQ_RENEW else "Issue",
                    "status": "PENDING", "created": iso(utcnow()),
                    "subject": subject.rfc4514_string()}
            return self.pending_response(txid, token_type, pid)
        cert, chain = issue_for_request(self.state, oid, profile, subject, names,
                                        csr.public_key(),
                                        {"client_txid": txid, "csr_sha256": csr_sha,
                                         "pairs": pairs,
                                         "request_type": "Renew" if req_type == REQ_RENEW
                                         else "Issue"})
        return self.issued_response(txid, token_type, cert, chain, "Issued")

    def query(self, txid, oid, pid, token_type):
        data = self.state.load()
        p = data.get("pending", {}).get(pid)
        if p is None:
            raise SoapFault("pendingTokenReferenceID %s is not known" % pid, "PENDING_NOT_FOUND")
        if p["profile"] != oid:
            raise SoapFault("pendingTokenReferenceID %s belongs to profile %s, not %s" %
                            (pid, p["profile"], oid), "INVALID_REQUEST")
        if p["status"] == "PENDING":
            return self.pending_response(txid, token_type, pid)
        if p["status"] == "REJECTED":
            raise SoapFault("The request %s was rejected by the administrator" % pid,
                            "REQUEST_REJECTED")
        entry = find_issued(data, p["serial"])
        return self.issued_response(txid, token_type, cert_of(entry), chain_of(self.state, entry),
                                    "Issued")

    def issued_response(self, txid, token_type, cert, chain, disposition):
        if token_type == TOKEN_X509:
            blob = b64der(cert)
        else:
            blob = pkcs7_b64([cert] + chain)
        token = el("binarySecurityToken", blob, {"ValueType": token_type,
                                                 "EncodingType": ENC_BASE64})
        return self.enroll_response(txid, token_type, disposition,
                                    el("requestedVSSecurityToken", [token]))

    def pending_response(self, txid, token_type, pid):
        return self.enroll_response(txid, token_type,
                                    "Pending: the request awaits approval by an administrator",
                                    el("requestedVSSecurityToken",
                                       [el("pendingTokenReferenceID", pid)]))

    def enroll_response(self, txid, token_type, disposition, requested):
        body = [el("clientTransactionID", txid)] if txid is not None else []
        body += [el("serverTransactionID", server_txid()), el("tokenType", token_type),
                 el("dispositionMessage", disposition), requested, el("version", "2.0")]
        return soap_response(el("wst:RequestSecurityTokenResponse", [
            el("RequestVSSecurityTokenResponse", body, {"xmlns": NS_ENROLL})],
            {"xmlns:wst": NS_WST}))

    # ---- certificate management ----
    def management(self, op):
        if op.tag == q(NS_MGMT, "updateCertificateStatusRequest"):
            return self.update_status(op)
        if op.tag == q(NS_MGMT, "searchCertificateRequest"):
            return self.search(op)
        raise unknown_operation(op, "certificateManagementService",
                                "updateCertificateStatusRequest, searchCertificateRequest")

    def update_status(self, op):
        got = check_sequence(op, NS_MGMT, [
            ("clientTransactionID", 0, 1), ("version", 1, 1), ("certificateIssuer", 0, 1),
            ("revocationReason", 0, 1), ("challenge", 0, 1), ("comment", 0, 1),
            ("certificateSerialNumber", 0, 1), ("seatId", 0, 1), ("operationType", 1, 1)])
        txid = check_common(got)
        serial = text1(got, "certificateSerialNumber")
        seat = text1(got, "seatId")
        if bool(got["certificateSerialNumber"]) == bool(got["seatId"]):
            raise SoapFault("Give exactly one of certificateSerialNumber and seatId",
                            "INVALID_REQUEST")
        if not (serial or seat):
            raise SoapFault("certificateSerialNumber or seatId is empty", "INVALID_REQUEST")
        operation = text1(got, "operationType")
        if operation not in ("Revoke", "Suspend", "Resume"):
            raise SoapFault("operationType must be Revoke, Suspend or Resume", "INVALID_REQUEST")
        reason = text1(got, "revocationReason")
        if reason is not None and reason not in REASONS:
            raise SoapFault("revocationReason %r is not one of %s" % (reason, ", ".join(REASONS)),
                            "INVALID_REQUEST")
        comment = text1(got, "comment")
        if comment and len(comment) > 512:
            raise SoapFault("comment is longer than 512 characters", "INVALID_REQUEST")
        code, msg, count = 0, "Success", 0
        with self.state.transaction() as data:
            if serial:
                # exactly as the service writes serials (upper-case hex, no leading
                # zeros); any other form is an unknown serial
                entry = find_issued(data, serial)
                entries = [entry] if entry is not None else []
                what = "serial number %s" % serial
            else:
                # a seat: every certificate of it that the operation applies to
                entries = [e for e in data["issued"] if e["kind"] == "enrolled"
                           and e.get("seat_id") == seat]
                what = "seatId %s" % seat
                wanted = "SUSPENDED" if operation == "Resume" else None
                live = [e for e in entries if e["status"] != "REVOKED"
                        and (wanted is None or e["status"] == wanted)
                        and not (operation == "Suspend" and e["status"] == "SUSPENDED")]
                entries = live or entries[:1]
            if not entries:
                code, msg = -1, "Certificate with %s not found" % what
            for entry in entries:
                if entry["status"] == "REVOKED":
                    code, msg = -2, "Certificate %s is already revoked" % entry["serial"]
                elif operation == "Resume":
                    if entry["status"] != "SUSPENDED":
                        code, msg = -3, "Certificate %s is not suspended" % entry["serial"]
                    else:
                        entry["status"] = "VALID"
                        entry.pop("revoked_at", None)
                        entry.pop("revoke_reason", None)
                        count += 1
                elif operation == "Suspend" and entry["status"] == "SUSPENDED":
                    code, msg = -4, "Certificate %s is already suspended" % entry["serial"]
                else:
                    entry["status"] = "REVOKED" if operation == "Revoke" else "SUSPENDED"
                    entry["revoked_at"] = iso(utcnow())
                    entry["revoke_reason"] = reason or "Unspecified"
                    if comment:
                        entry["revoke_comment"] = comment
                    count += 1
            if count:
                code, msg = 0, "Success"
        body = [el("clientTransactionID", txid)] if txid is not None else []
        body += [el("serverTransactionID", server_txid()), el("version", "1.0"),
                 el("successCode", str(code)), el("successMsg", msg),
                 el("revocationCount", str(count))]
        return soap_response(el("updateCertificateStatusResponse", body, {"xmlns": NS_MGMT}))

    def search(self, op):
        got = check_sequence(op, NS_MGMT, [
            ("clientTransactionID", 0, 1), ("seatId", 0, 1), ("accountId", 0, 1),
            ("profileOID", 0, 1), ("commonName", 0, 1), ("status", 0, 1), ("emailAddress", 0, 1),
            ("serialNumber", 0, 1), ("issuingCA", 0, 1), ("validFrom", 0, 1), ("validTo", 0, 1),
            ("startIndex", 0, 1), ("version", 1, 1)])
        txid = check_common(got)

        def integer(name, default=None):
            v = text1(got, name)
            if v is None or v == "":
                return default
            if not re.fullmatch(r"[+-]?\d+", v):
                raise SoapFault("%s must be an integer, not %r" % (name, v), "INVALID_REQUEST")
            return int(v)

        # startIndex counts from 0, like the public clients (first page 0, then += 50)
        start = integer("startIndex", 0)
        if start < 0:
            raise SoapFault("startIndex must not be negative", "INVALID_REQUEST")
        # validFrom/validTo: epoch milliseconds; a certificate matches when its validity
        # starts at or after validFrom and ends at or before validTo [inferred]
        valid_from = integer("validFrom")
        valid_to = integer("validTo")
        status = text1(got, "status")
        if status is not None and status not in ("VALID", "EXPIRED", "REVOKED", "SUSPENDED"):
            raise SoapFault("status must be VALID, EXPIRED, REVOKED or SUSPENDED",
                            "INVALID_REQUEST")
        issuing_ca = None
        if got["issuingCA"] and not is_nil(got["issuingCA"][0]):
            try:
                issuing_ca = base64.b64decode("".join((got["issuingCA"][0].text or "").split()),
                                              validate=True)
            except (binascii.Error, ValueError):
                raise SoapFault("issuingCA is not base64", "INVALID_REQUEST")
        ca_der = {}
        account = "dcpki-emulator"
        now = iso(utcnow())
        out = []
        for e in self.state.load()["issued"]:
            if e["kind"] != "enrolled":
                continue
            st = e["status"]
            if st == "VALID" and e["not_after"] < now:
                st = "EXPIRED"
            cert = cert_of(e)
            cn = first_attr(cert.subject, NameOID.COMMON_NAME)
            names = san_names(cert)
            email = first_email(cert.subject, names)
            seat = e.get("seat_id") or seat_of(e.get("pairs"), cert.subject, names)
            # exact matches; serialNumber exactly as the service writes it
            filters = ((text1(got, "seatId"), seat), (text1(got, "accountId"), account),
                       (text1(got, "profileOID"), e.get("profile")),
                       (text1(got, "commonName"), cn), (status, st),
                       (text1(got, "emailAddress"), email),
                       (text1(got, "serialNumber"), e["serial"]))
            if any(want is not None and want != have for want, have in filters):
                continue
            if valid_from is not None and epoch_ms(e["not_before"]) < valid_from:
                continue
            if valid_to is not None and epoch_ms(e["not_after"]) > valid_to:
                continue
            if issuing_ca is not None:
                alias = e.get("ca", "issuing-ca")
                if alias not in ca_der:
                    ca_der[alias] = self.state.read_cert("keys", alias + ".pem").public_bytes(
                        serialization.Encoding.DER)
                if ca_der[alias] != issuing_ca:
                    continue
            out.append((e, st, cert, cn, email, seat))
        chosen = out[start:start + SEARCH_PAGE]
        infos = []
        for e, st, cert, cn, email, seat in chosen:
            # CertificateSearchResultType, in schema order
            parts = [el("certificate", b64der(cert)), el("seatId", seat),
                     el("commonName", cn or ""), el("accountId", account),
                     el("profileOID", e.get("profile", "")),
                     el("emailAddress", email) if email else el("emailAddress", nil=True),
                     el("status", st)]
            if e.get("revoked_at"):
                parts.append(el("revokeAt", str(epoch_ms(e["revoked_at"]))))
                parts.append(el("revokeReason", e.get("revoke_reason") or "Unspecified"))
            parts += [el("validFrom", str(epoch_ms(e["not_before"]))),
                      el("validTo", str(epoch_ms(e["not_after"]))),
                      el("serialNumber", e["serial"]), el("isEscrowed", "false"),
                      el("enrollmentNotes", nil=True),
                      el("revokeComments", e["revoke_comment"]) if e.get("revoke_comment")
                      else el("revokeComments", nil=True)]
            infos.append(el("certificateInformation", parts))
        body = [el("clientTransactionID", txid)] if txid is not None else []
        body += [el("serverTransactionID", server_txid()), el("certificateCount", str(len(out)))]
        if infos:
            body.append(el("certificateList", infos))
        body += [el("moreCertificateAvailable",
                    "true" if start + SEARCH_PAGE < len(out) else "false"), el("version", "1.0")]
        return soap_response(el("searchCertificateResponse", body, {"xmlns": NS_MGMT}))

    # ---- health ----
    def health(self, op):
        if op.tag != q(NS_HEALTH, "getStatusRequestMessage"):
            raise unknown_operation(op, "healthcheckService", "getStatusRequestMessage")
        got = check_sequence(op, NS_HEALTH, [("version", 1, 1), ("clientTransactionID", 0, 1),
                                             ("operationType", 1, 1), ("profileOid", 0, 1)])
        txid = check_common(got)
        if text1(got, "operationType") != "ENROLL":
            raise SoapFault("operationType must be ENROLL", "INVALID_REQUEST")
        oid = text1(got, "profileOid")
        if oid:
            self.profile(oid)
        down = os.path.exists(self.health_down)
        body = [el("version", "1.0")]
        if txid is not None:
            body.append(el("clientTransactionID", txid))
        body += [el("serverTransactionID", server_txid()), el("statusCode", "DOWN" if down else "UP"),
                 el("statusMessage", "Enrollment service is down for maintenance" if down
                    else "Enrollment service is available")]
        return soap_response(el("getStatusResponseMessage", body, {"xmlns": NS_HEALTH}))

    # ---- CRL ----
    def crl(self, req):
        alias = req.params["alias"]
        if not os.path.exists(self.state.path("keys", alias + ".pem")):
            return self.app.render_error(req.path, 404, "no CA %s" % alias)
        return Response(200, crl_der(self.state, alias), "application/pkix-crl")


def unknown_operation(op, service, expected):
    return SoapFault("Unknown operation %s for the %s (expected %s)" %
                     (op.tag, service, expected), "UNKNOWN_OPERATION")


def b64der(cert):
    return base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()


def first_attr(name, oid):
    attrs = name.get_attributes_for_oid(oid)
    return attrs[0].value if attrs else None


def epoch_ms(ts):
    dt = datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%SZ").replace(
        tzinfo=datetime.timezone.utc)
    return int(dt.timestamp() * 1000)


def register(app):
    PKIPlatform(app).register()

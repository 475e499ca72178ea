#!/usr/bin/python3
"""Tests of the emulator's PKI Platform SOAP services (/pki-ws/): a real
emulator process, requests in the VeriSign dialect over mutual TLS, issued
certificates checked with python3-cryptography.
Run: /usr/bin/python3 tests/emulator/test_pki_platform.py"""
import base64
import os
import shutil
import ssl
import sys
import tempfile
import threading
import unittest
import xml.etree.ElementTree as ET

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_emulator import Client, Emulator, make_csr, run_cli, write_key  # noqa: E402

NS_SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
NS_POLICY = "http://schemas.verisign.com/pkiservices/2009/07/policy"
NS_ENROLL = "http://schemas.verisign.com/pkiservices/2009/07/enrollment"
NS_MGMT = "http://schemas.verisign.com/pkiservices/2009/07/management"
NS_WST = "http://docs.oasis-open.org/ws-sx/ws-trust/200512/"
NS_HEALTH = "http://schemas.pki.symantec.com/pkiservices/healthcheck"
PKCS7 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#PKCS7"
X509V3 = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-x509-token-profile-1.0#X509v3"
VT_PKCS10 = "http://schemas.verisign.com/pkiservices/2009/07/PKCS10"
QUERY = "http://schemas.verisign.com/pkiservices/2009/07/QueryTokenStatus"
P1 = "2.16.840.1.113733.1.16.1.2.3.1.1.47196109"
P2 = "2.16.840.1.113733.1.16.1.2.3.1.1.61904612"
P3 = "2.16.840.1.113733.1.16.1.2.3.1.1.80153305"
P4 = "2.16.840.1.113733.1.16.1.2.3.1.1.93127450"
UPN = "1.3.6.1.4.1.311.20.2.3"
GUID = "1.3.6.1.4.1.311.25.1"


def env(body):
    return ('<?xml version="1.0" encoding="UTF-8"?><soap:Envelope xmlns:soap="%s"><soap:Body>%s'
            '</soap:Body></soap:Envelope>' % (NS_SOAP, body)).encode()


def get_policies(oids=None, txid="t-1", version_first=True, no_filter=False):
    ver = "<p:version>2.0</p:version>"
    tx = "<p:clientTransactionID>%s</p:clientTransactionID>" % txid if txid else ""
    if no_filter:
        rf = ""
    elif oids is None:
        rf = ('<p:requestFilter xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" '
              'xsi:nil="true"/>')
    else:
        rf = ("<p:requestFilter><p:policyIDs>%s</p:policyIDs></p:requestFilter>" %
              "".join("<p:oid>%s</p:oid>" % o for o in oids))
    head = ver + tx if version_first else tx + ver
    return env('<p:getPolicies xmlns:p="%s">%s%s</p:getPolicies>' % (NS_POLICY, head, rf))


def enroll(profile, csr_der=None, pairs=(), txid=None, req_type="Issue", pending_id=None,
           token_type=PKCS7, csr_text=None):
    parts = ["<e:certificateProfileID>%s</e:certificateProfileID>" % profile]
    if txid:
        parts.append("<e:clientTransactionID>%s</e:clientTransactionID>" % txid)
    parts.append("<e:tokenType>%s</e:tokenType>" % token_type)
    rt = QUERY if req_type == "Query" else NS_WST + req_type
    parts.append("<e:requestType>%s</e:requestType>" % rt)
    if csr_der is not None or csr_text is not None:
        text = csr_text if csr_text is not None else base64.b64encode(csr_der).decode()
        parts.append('<e:binarySecurityToken ValueType="%s">%s</e:binarySecurityToken>' %
                     (VT_PKCS10, text))
    if pending_id:
        parts.append("<e:pendingTokenReferenceID>%s</e:pendingTokenReferenceID>" % pending_id)
    for n, v in pairs:
        parts.append("<e:nameValuePair><e:name>%s</e:name><e:value>%s</e:value></e:nameValuePair>"
                     % (n, v))
    parts.append("<e:version>2.0</e:version>")
    return env('<wst:RequestSecurityToken xmlns:wst="%s"><e:requestVSSecurityToken xmlns:e="%s">'
               '%s</e:requestVSSecurityToken></wst:RequestSecurityToken>' %
               (NS_WST, NS_ENROLL, "".join(parts)))


def update_status(serial, op="Revoke", reason=None, txid="t-r", seat=None):
    """updateCertificateStatusRequest for a serial, or (serial None) for a seat"""
    parts = ["<m:clientTransactionID>%s</m:clientTransactionID>" % txid] if txid else []
    parts.append("<m:version>1.0</m:version>")
    if reason:
        parts.append("<m:revocationReason>%s</m:revocationReason>" % reason)
    if serial is not None:
        parts.append("<m:certificateSerialNumber>%s</m:certificateSerialNumber>" % serial)
    else:
        parts.append("<m:seatId>%s</m:seatId>" % seat)
    parts.append("<m:operationType>%s</m:operationType>" % op)
    return env('<m:updateCertificateStatusRequest xmlns:m="%s">%s'
               '</m:updateCertificateStatusRequest>' % (NS_MGMT, "".join(parts)))


def search(serial=None, status=None, seat=None, profile=None, cn=None, valid_from=None,
           valid_to=None, start=None):
    """searchCertificateRequest, children in schema order"""
    parts = []
    if seat:
        parts.append("<m:seatId>%s</m:seatId>" % seat)
    if profile:
        parts.append("<m:profileOID>%s</m:profileOID>" % profile)
    if cn:
        parts.append("<m:commonName>%s</m:commonName>" % cn)
    if status:
        parts.append("<m:status>%s</m:status>" % status)
    if serial:
        parts.append("<m:serialNumber>%s</m:serialNumber>" % serial)
    if valid_from is not None:
        parts.append("<m:validFrom>%d</m:validFrom>" % valid_from)
    if valid_to is not None:
        parts.append("<m:validTo>%d</m:validTo>" % valid_to)
    if start is not None:
        parts.append("<m:startIndex>%d</m:startIndex>" % start)
    parts.append("<m:version>1.0</m:version>")
    return env('<m:searchCertificateRequest xmlns:m="%s">%s</m:searchCertificateRequest>' %
               (NS_MGMT, "".join(parts)))


def health(profile=None):
    p = "<h:profileOid>%s</h:profileOid>" % profile if profile else ""
    return env('<h:getStatusRequestMessage xmlns:h="%s"><h:version>1.0</h:version>'
               '<h:clientTransactionID>t-h</h:clientTransactionID>'
               '<h:operationType>ENROLL</h:operationType>%s</h:getStatusRequestMessage>' %
               (NS_HEALTH, p))


def csr_der(cn="IWUser0", bits=2048, email=None):
    key = rsa.generate_private_key(65537, bits)
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if email:
        attrs.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email))
    csr = (x509.CertificateSigningRequestBuilder().subject_name(x509.Name(attrs))
           .sign(key, hashes.SHA256()))
    return key, csr


class PKIPlatformTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dcpki-pki-test.")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.state = os.path.join(cls.tmp, "state")
        cls.emu = Emulator(cls.state)
        cls.addClassCleanup(cls.emu.stop)
        cls.info = cls.emu.info
        cls.ra_key = os.path.join(cls.tmp, "ra.key")
        cls.ra_cert = os.path.join(cls.tmp, "ra.pem")
        write_key(cls.ra_key, make_csr(os.path.join(cls.tmp, "ra.csr")))
        run_cli("ra-issue", "--state", cls.state, "--csr", os.path.join(cls.tmp, "ra.csr"),
                "--out", cls.ra_cert, check=True)
        with open(cls.info["root"], "rb") as f:
            cls.root = x509.load_pem_x509_certificate(f.read())
        # one RSA key is enough for most requests; CSR generation is the slow part
        cls.key, cls.csr = csr_der()
        cls.csr_der = cls.csr.public_bytes(serialization.Encoding.DER)

    def setUp(self):
        run_cli("fault", "--state", self.state, "--clear", check=True)
        self.client = Client(self.info, self.ra_cert, self.ra_key)
        self.addCleanup(self.client.close)

    def post(self, service, body, content_type="text/xml; charset=utf-8"):
        st, raw, r = self.client.request("POST", "/pki-ws/" + service, body, api_key=None,
                                         headers={"Content-Type": content_type,
                                                  "SOAPAction": '""'})
        self.assertTrue(r.getheader("Content-Type").startswith("text/xml"))
        root = ET.fromstring(raw)
        self.assertEqual(root.tag, "{%s}Envelope" % NS_SOAP)
        return st, root[0][0]

    def assert_fault(self, service, body, needle, errorcode=None, status=500):
        st, op = self.post(service, body)
        self.assertEqual(st, status)
        self.assertEqual(op.tag, "{%s}Fault" % NS_SOAP, ET.tostring(op))
        fs = op.find("faultstring").text
        self.assertIn(needle.lower(), fs.lower())
        if errorcode:
            self.assertEqual(op.find("detail/errorcode").text, errorcode)
        self.assertTrue(op.find("detail/message").text)
        return fs

    def issue(self, profile, pairs, csr=None, txid=None, token_type=PKCS7):
        csr = csr or self.csr
        st, op = self.post("enrollmentService",
                           enroll(profile, csr.public_bytes(serialization.Encoding.DER), pairs,
                                  txid=txid, token_type=token_type))
        self.assertEqual(st, 200, ET.tostring(op))
        self.assertEqual(op.tag, "{%s}RequestSecurityTokenResponse" % NS_WST)
        resp = op.find("{%s}RequestVSSecurityTokenResponse" % NS_ENROLL)
        self.assertIsNotNone(resp)
        if txid:
            self.assertEqual(resp.find("{%s}clientTransactionID" % NS_ENROLL).text, txid)
        self.assertTrue(resp.find("{%s}serverTransactionID" % NS_ENROLL).text)
        self.assertEqual(resp.find("{%s}version" % NS_ENROLL).text, "2.0")
        tok = resp.find("{%s}requestedVSSecurityToken/{%s}binarySecurityToken" %
                        (NS_ENROLL, NS_ENROLL))
        self.assertIsNotNone(tok, ET.tostring(resp))
        der = base64.b64decode(tok.text)
        if token_type == X509V3:
            return x509.load_der_x509_certificate(der), []
        certs = pkcs7.load_der_pkcs7_certificates(der)
        leaf = [c for c in certs if c.public_key().public_numbers()
                == csr.public_key().public_numbers()]
        self.assertEqual(len(leaf), 1)
        others = [c for c in certs if c is not leaf[0]]
        self.verify_chain(leaf[0], others)
        return leaf[0], others

    def verify_chain(self, leaf, others):
        by_subject = {c.subject: c for c in others}
        cert = leaf
        for _ in range(4):
            issuer = self.root if cert.issuer == self.root.subject else by_subject[cert.issuer]
            issuer.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                       padding.PKCS1v15(), cert.signature_hash_algorithm)
            if issuer == self.root:
                return
            cert = issuer
        self.fail("chain does not reach the root")

    # ---------- policy ----------
    def test_policies_all_and_one(self):
        st, op = self.post("policyService", get_policies(None))
        self.assertEqual(st, 200)
        self.assertEqual(op.tag, "{%s}getPoliciesResponse" % NS_POLICY)
        P = "{%s}" % NS_POLICY
        self.assertEqual(op.find(P + "clientTransactionID").text, "t-1")
        oids = {o.find(P + "oIDReferenceID").text: o.find(P + "value").text
                for o in op.findall(P + "oIDs/" + P + "oID")}
        policies = op.findall(P + "response/" + P + "policies/" + P + "policy")
        self.assertEqual({oids[p.find(P + "policyOIDReference").text] for p in policies},
                         {P1, P2, P3, P4})
        # child order of getPoliciesResponse per the schema
        self.assertEqual([c.tag.split("}")[1] for c in op],
                         ["clientTransactionID", "serverTransactionID", "response", "cAs", "oIDs"])
        ca = op.find(P + "cAs/" + P + "cA")
        cert = x509.load_der_x509_certificate(base64.b64decode(ca.find(P + "certificate").text))
        root = x509.load_der_x509_certificate(
            base64.b64decode(ca.find(P + "rootCACertificate").text))
        self.assertEqual(root, self.root)
        self.assertEqual(cert.issuer, root.subject)

        st, op = self.post("policyService", get_policies([P2]))
        self.assertEqual(st, 200)
        policies = op.findall(P + "response/" + P + "policies/" + P + "policy")
        self.assertEqual(len(policies), 1)
        attrs = policies[0].find(P + "attributes")
        self.assertEqual([c.tag.split("}")[1] for c in attrs][:6],
                         ["policySchema", "certificateValidity", "subjectNameInfo", "extensions",
                          "privateKeyAttributes", "clientPolicy"])
        self.assertEqual(attrs.find(P + "certificateValidity/" + P + "validityPeriodDays").text,
                         "365")
        san = attrs.findall(".//" + P + "extensionAttributeNameValuePair")
        self.assertEqual(len(san), 1)
        self.assertEqual(san[0].find(P + "attributeNameValue").get("type"), "otherName:" + GUID)
        names = [a.find(P + "attributeName").text
                 for a in attrs.findall(".//" + P + "subjectNameAttributeNameValuePair")]
        self.assertEqual(names, ["CN"])

    def test_policy_unknown_profile(self):
        self.assert_fault("policyService", get_policies(["2.16.840.1.113733.1.16.1.2.3.1.1.1"]),
                          "request element is not understood", "PROFILE_NOT_FOUND")

    def test_schema_order_and_dialect(self):
        self.assert_fault("policyService", get_policies([P1], version_first=False),
                          "version is required", "INVALID_REQUEST")
        self.assert_fault("policyService", b"<not-soap/>", "not a SOAP 1.1 envelope")
        self.assert_fault("policyService", b"<a", "not well-formed")
        soap12 = get_policies([P1]).replace(NS_SOAP.encode(),
                                            b"http://www.w3.org/2003/05/soap-envelope")
        self.assert_fault("policyService", soap12, "SOAP 1.2", "VERSION_MISMATCH")
        self.assert_fault("enrollmentService", get_policies([P1]), "Unknown operation",
                          "UNKNOWN_OPERATION")
        # Microsoft's ws-trust namespace (no trailing slash) is not this dialect
        ms = enroll(P1, self.csr_der).replace(NS_WST.encode(),
                                              b"http://docs.oasis-open.org/ws-sx/ws-trust/200512")
        self.assert_fault("enrollmentService", ms, "Unknown operation")

    # ---------- enrollment ----------
    def test_enroll_p1(self):
        pairs = [("common_name", "IWUser0"), ("mail_email", "IWUser0@contoso.example"),
                 ("san_email", "IWUser0@contoso.example"), ("upn", "IWUser0@contoso.example")]
        leaf, others = self.issue(P1, pairs, txid="dcpki-p1")
        self.assertEqual(leaf.subject.rfc4514_string(),
                         "1.2.840.113549.1.9.1=IWUser0@contoso.example,CN=IWUser0")
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual(san.get_values_for_type(x509.RFC822Name), ["IWUser0@contoso.example"])
        upn = [o for o in san.get_values_for_type(x509.OtherName)
               if o.type_id.dotted_string == UPN]
        self.assertEqual(upn[0].value, b"\x0c\x17IWUser0@contoso.example")
        eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        self.assertIn(ExtendedKeyUsageOID.CLIENT_AUTH, eku)
        pol = leaf.extensions.get_extension_for_class(x509.CertificatePolicies).value
        self.assertEqual(pol[0].policy_identifier.dotted_string, P1)
        self.assertEqual((leaf.not_valid_after - leaf.not_valid_before).days, 365)
        # no de-duplication by default: the same clientTransactionID and CSR again is a
        # new request, a new certificate (DedupeTxidTest: serve --dedupe-txid)
        before = self.issued_count()
        again, _ = self.issue(P1, pairs, txid="dcpki-p1")
        self.assertNotEqual(again.serial_number, leaf.serial_number)
        _, other_csr = csr_der("someone")
        other, _ = self.issue(P1, [("common_name", "someone")], csr=other_csr, txid="dcpki-p1")
        self.assertNotIn(other.serial_number, (leaf.serial_number, again.serial_number))
        self.assertEqual(self.issued_count(), before + 2)

    def test_enroll_pem_csr_and_x509_token(self):
        pem = self.csr.public_bytes(serialization.Encoding.PEM).decode()
        st, op = self.post("enrollmentService",
                           enroll(P1, pairs=[("common_name", "IWUser0")], csr_text=pem))
        self.assertEqual(st, 200, ET.tostring(op))
        leaf, _ = self.issue(P1, [("common_name", "x509 token")], token_type=X509V3)
        self.assertEqual(leaf.subject.rfc4514_string(), "CN=x509 token")

    def issued_count(self):
        p = run_cli("list", "--state", self.state, "--kind", "enrolled", "--count", check=True)
        return int(p.stdout)

    def test_enroll_policy_refusals(self):
        before = self.issued_count()
        self.addCleanup(lambda: self.assertEqual(self.issued_count(), before,
                                                 "a refused request issued a certificate"))
        # attribute the profile lacks
        self.assert_fault("enrollmentService",
                          enroll(P2, self.csr_der, [("common_name", "x"),
                                                    ("san_email", "x@contoso.example")]),
                          "not part of the DigiCert supported certificate template attributes",
                          "POLICY_VERIFICATION_FAILED")
        # mandatory GUID missing
        self.assert_fault("enrollmentService", enroll(P2, self.csr_der, [("common_name", "x")]),
                          "mandatory SAN attribute ds_object_guid")
        # not DER inside the base64
        self.assert_fault("enrollmentService",
                          enroll(P2, self.csr_der, [("common_name", "x"),
                                                    ("ds_object_guid", "AAECAw==")]),
                          "DER")
        # the CSR's subject has an attribute the profile does not allow
        _, csr = csr_der("x", email="x@contoso.example")
        self.assert_fault("enrollmentService",
                          enroll(P2, csr.public_bytes(serialization.Encoding.DER),
                                 [("common_name", "x")]), "subject attribute E")
        # a name that mail_firstName cannot take (UPN with an underscore)
        self.assert_fault("enrollmentService",
                          enroll(P3, self.csr_der, [("common_name", "global_admin"),
                                                    ("mail_firstName", "global_admin"),
                                                    ("mail_lastName", "contoso")]),
                          "characters a name cannot take")
        # key too small
        _, small = csr_der("small", bits=1024)
        self.assert_fault("enrollmentService",
                          enroll(P1, small.public_bytes(serialization.Encoding.DER),
                                 [("common_name", "small")]), "at least 2048", "KEY_POLICY")
        # unknown profile
        self.assert_fault("enrollmentService",
                          enroll("2.16.840.1.113733.1.16.1.2.3.1.1.1", self.csr_der,
                                 [("common_name", "x")]),
                          "request element is not understood", "PROFILE_NOT_FOUND")
        # broken CSR
        self.assert_fault("enrollmentService",
                          enroll(P1, b"\x30\x03\x02\x01\x00", [("common_name", "x")]),
                          "PKCS#10", "CSR_INVALID")

    def test_enroll_p2_guid_and_p3_names(self):
        guid = bytes(range(16))
        value = base64.b64encode(b"\x04\x10" + guid).decode()
        leaf, _ = self.issue(P2, [("common_name", "device-1"), ("ds_object_guid", value)])
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        other = san.get_values_for_type(x509.OtherName)
        self.assertEqual((other[0].type_id.dotted_string, other[0].value),
                         (GUID, b"\x04\x10" + guid))
        leaf, _ = self.issue(P3, [("common_name", "John Doe"), ("mail_firstName", "John"),
                                  ("mail_lastName", "O'Doe-Smith"),
                                  ("upn", "john.doe@contoso.example")])
        subj = {a.oid: a.value for a in leaf.subject}
        self.assertEqual(subj[NameOID.GIVEN_NAME], "John")
        # the fixed O may be sent (under its default pair name) only with its fixed value
        base = [("common_name", "J D"), ("mail_firstName", "J"), ("mail_lastName", "D")]
        self.issue(P3, base + [("corp_company", "dcpki emulator users")])
        self.assert_fault("enrollmentService",
                          enroll(P3, self.csr_der, base + [("corp_company", "Evil Corp")]),
                          "fixed to")
        self.assertEqual(subj[NameOID.SURNAME], "O'Doe-Smith")
        self.assertEqual(subj[NameOID.ORGANIZATION_NAME], "dcpki emulator users")

    def test_pending_then_approved(self):
        run_cli("profile", "--state", self.state, "--oid", P1, "--pending", "on", check=True)
        self.addCleanup(run_cli, "profile", "--state", self.state, "--oid", P1, "--pending", "off")
        st, op = self.post("enrollmentService",
                           enroll(P1, self.csr_der, [("common_name", "pending user")],
                                  txid="dcpki-pend"))
        self.assertEqual(st, 200)
        E = "{%s}" % NS_ENROLL
        pid = op.find(E + "RequestVSSecurityTokenResponse/" + E + "requestedVSSecurityToken/" +
                      E + "pendingTokenReferenceID").text
        self.assertTrue(pid)
        st, op = self.post("enrollmentService", enroll(P1, req_type="Query", pending_id=pid))
        self.assertEqual(op.find(".//" + E + "pendingTokenReferenceID").text, pid)
        p = run_cli("approve", "--state", self.state, "--id", pid)
        self.assertEqual(p.returncode, 0, p.stderr)
        st, op = self.post("enrollmentService", enroll(P1, req_type="Query", pending_id=pid))
        self.assertEqual(st, 200)
        tok = op.find(".//" + E + "requestedVSSecurityToken/" + E + "binarySecurityToken")
        certs = pkcs7.load_der_pkcs7_certificates(base64.b64decode(tok.text))
        self.assertIn("CN=pending user", [c.subject.rfc4514_string() for c in certs])
        self.assert_fault("enrollmentService", enroll(P1, req_type="Query", pending_id="nope"),
                          "not known", "PENDING_NOT_FOUND")
        self.assertEqual(run_cli("approve", "--state", self.state, "--id", pid).returncode, 1)
        # a rejected request is reported as such
        st, op = self.post("enrollmentService",
                           enroll(P1, self.csr_der, [("common_name", "rejected user")]))
        pid2 = op.find(".//" + E + "pendingTokenReferenceID").text
        run_cli("approve", "--state", self.state, "--id", pid2, "--reject", check=True)
        self.assert_fault("enrollmentService", enroll(P1, req_type="Query", pending_id=pid2),
                          "rejected", "REQUEST_REJECTED")

    def test_ca_refusal(self):
        run_cli("profile", "--state", self.state, "--oid", P2, "--refuse",
                "account suspended for audit", check=True)
        self.addCleanup(run_cli, "profile", "--state", self.state, "--oid", P2, "--accept")
        guid = base64.b64encode(b"\x04\x10" + bytes(16)).decode()
        self.assert_fault("enrollmentService",
                          enroll(P2, self.csr_der, [("common_name", "d"), ("ds_object_guid", guid)]),
                          "account suspended for audit", "REQUEST_REFUSED")
        run_cli("profile", "--state", self.state, "--oid", P2, "--accept", check=True)
        self.issue(P2, [("common_name", "d"), ("ds_object_guid", guid)])
        self.assertEqual(run_cli("profile", "--state", self.state, "--oid", "1.2.3",
                                 "--accept").returncode, 1)

    def test_concurrent_enrollments(self):
        serials, errors = [], []

        def worker(i):
            c = Client(self.info, self.ra_cert, self.ra_key)
            try:
                for j in range(3):
                    st, raw, _ = c.request("POST", "/pki-ws/enrollmentService",
                                           enroll(P1, self.csr_der,
                                                  [("common_name", "user %d-%d" % (i, j))]),
                                           api_key=None, headers={"Content-Type": "text/xml"})
                    if st != 200:
                        errors.append(raw)
                        continue
                    tok = ET.fromstring(raw).find(".//{%s}binarySecurityToken" % NS_ENROLL)
                    certs = pkcs7.load_der_pkcs7_certificates(base64.b64decode(tok.text))
                    serials.extend(c.serial_number for c in certs
                                   if c.subject.rfc4514_string().startswith("CN=user"))
            except Exception as e:  # reported below
                errors.append(repr(e))
            finally:
                c.close()

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(errors, [])
        self.assertEqual(len(serials), 18)
        self.assertEqual(len(set(serials)), 18)

    # ---------- management, CRL ----------
    def test_revoke_search_crl(self):
        leaf, others = self.issue(P1, [("common_name", "to revoke")])
        serial = format(leaf.serial_number, "X")
        M = "{%s}" % NS_MGMT
        st, op = self.post("certificateManagementService",
                           update_status(serial, reason="Superseded"))
        self.assertEqual(st, 200)
        self.assertEqual([c.tag.split("}")[1] for c in op],
                         ["clientTransactionID", "serverTransactionID", "version", "successCode",
                          "successMsg", "revocationCount"])
        self.assertEqual((op.find(M + "successCode").text, op.find(M + "revocationCount").text),
                         ("0", "1"))
        st, op = self.post("certificateManagementService", update_status(serial))
        self.assertEqual(op.find(M + "successCode").text, "-2")
        st, op = self.post("certificateManagementService", update_status("ABCDEF0123"))
        self.assertEqual(op.find(M + "successCode").text, "-1")
        st, op = self.post("certificateManagementService", search(serial=serial))
        self.assertEqual(op.find(M + "certificateCount").text, "1")
        info = op.find(M + "certificateList/" + M + "certificateInformation")
        self.assertEqual(info.find(M + "status").text, "REVOKED")
        self.assertEqual(info.find(M + "revokeReason").text, "Superseded")
        self.assertEqual(info.find(M + "serialNumber").text, serial)
        p = run_cli("list", "--state", self.state, "--kind", "enrolled", check=True)
        self.assertIn("%s\tREVOKED\tenrolled\t%s\tCN=to revoke" % (serial, P1), p.stdout)
        # the CRL lists it with its reason and is signed by the issuing CA
        st, raw, r = self.client.request("GET", "/crl/issuing-ca.crl", api_key=None)
        self.assertEqual(st, 200)
        crl = x509.load_der_x509_crl(raw)
        ca = [c for c in others if c.subject == leaf.issuer][0]
        self.assertTrue(crl.is_signature_valid(ca.public_key()))
        entry = crl.get_revoked_certificate_by_serial_number(leaf.serial_number)
        self.assertIsNotNone(entry)
        self.assertEqual(entry.extensions.get_extension_for_class(x509.CRLReason).value.reason,
                         x509.ReasonFlags.superseded)
        # suspend and resume
        leaf2, _ = self.issue(P1, [("common_name", "to suspend")])
        s2 = format(leaf2.serial_number, "X")
        st, op = self.post("certificateManagementService", update_status(s2, "Suspend"))
        self.assertEqual(op.find(M + "successCode").text, "0")
        st, op = self.post("certificateManagementService", search(serial=s2))
        self.assertEqual(op.find(".//" + M + "status").text, "SUSPENDED")
        st, op = self.post("certificateManagementService", update_status(s2, "Resume"))
        self.assertEqual(op.find(M + "successCode").text, "0")
        st, op = self.post("certificateManagementService", search(serial=s2))
        self.assertEqual(op.find(".//" + M + "status").text, "VALID")
        self.assert_fault("certificateManagementService",
                          update_status(s2, reason="Bored"), "revocationReason")

    # ---------- issue 9: search, serial forms, seats, policy without filter, P4 ----------
    def search_infos(self, **kw):
        st, op = self.post("certificateManagementService", search(**kw))
        self.assertEqual(st, 200, ET.tostring(op))
        M = "{%s}" % NS_MGMT
        infos = op.findall(M + "certificateList/" + M + "certificateInformation")
        return op, infos

    def test_search_profile_cn_window_and_start_index(self):
        import time
        M = "{%s}" % NS_MGMT
        t0 = int(time.time() * 1000)
        serials = []
        for i in range(3):
            leaf, _ = self.issue(P3, [("common_name", "window user"), ("mail_firstName", "W"),
                                      ("mail_lastName", "U%c" % (65 + i))])
            serials.append(format(leaf.serial_number, "X"))
        # the emulator's certificates start 5 minutes before issuance
        window = dict(profile=P3, cn="window user", valid_from=t0 - 6 * 60 * 1000,
                      valid_to=t0 + 400 * 86400 * 1000)
        op, infos = self.search_infos(start=0, **window)
        self.assertEqual(op.find(M + "certificateCount").text, "3")
        self.assertEqual(op.find(M + "moreCertificateAvailable").text, "false")
        self.assertEqual(sorted(i.find(M + "serialNumber").text for i in infos), sorted(serials))
        # every element the schema requires, in schema order
        self.assertEqual([c.tag.split("}")[1] for c in infos[0]],
                         ["certificate", "seatId", "commonName", "accountId", "profileOID",
                          "emailAddress", "status", "validFrom", "validTo", "serialNumber",
                          "isEscrowed", "enrollmentNotes", "revokeComments"])
        info = infos[0]
        cert = x509.load_der_x509_certificate(base64.b64decode(info.find(M + "certificate").text))
        self.assertEqual(format(cert.serial_number, "X"), info.find(M + "serialNumber").text)
        self.assertEqual(info.find(M + "seatId").text, "window user")   # no e-mail: the CN
        self.assertEqual(info.find(M + "profileOID").text, P3)
        self.assertEqual(info.find(M + "emailAddress").get("{%s}nil" % XSI), "true")
        self.assertGreaterEqual(int(info.find(M + "validFrom").text), window["valid_from"])
        # startIndex counts from 0; a missing one is 0
        _, rest = self.search_infos(start=2, **window)
        self.assertEqual([i.find(M + "serialNumber").text for i in rest],
                         [i.find(M + "serialNumber").text for i in infos][2:])
        _, nostart = self.search_infos(**window)
        self.assertEqual(len(nostart), 3)
        _, none = self.search_infos(start=3, **window)
        self.assertEqual(none, [])
        # outside the window: validity starts before validFrom / ends after validTo
        _, later = self.search_infos(profile=P3, cn="window user", valid_from=t0 + 3600 * 1000)
        self.assertEqual(later, [])
        _, shorter = self.search_infos(profile=P3, cn="window user", valid_to=t0 + 86400 * 1000)
        self.assertEqual(shorter, [])
        self.assert_fault("certificateManagementService", search(start=-1), "startIndex")

    def test_serial_forms(self):
        leaf, _ = self.issue(P1, [("common_name", "serial forms")])
        serial = format(leaf.serial_number, "X")
        M = "{%s}" % NS_MGMT
        # search: only the service's own form (upper-case hex, no leading zeros) is found
        for other in ("00" + serial, "0" + serial, serial.lower(),
                      ":".join(serial[i:i + 2] for i in range(0, len(serial), 2))):
            op, infos = self.search_infos(serial=other)
            self.assertEqual((op.find(M + "certificateCount").text, infos), ("0", []), other)
            st, op = self.post("certificateManagementService", update_status(other))
            self.assertEqual(st, 200)
            self.assertEqual((op.find(M + "successCode").text,
                              op.find(M + "revocationCount").text), ("-1", "0"), other)
        op, infos = self.search_infos(serial=serial)
        self.assertEqual(len(infos), 1)
        self.assertEqual(infos[0].find(M + "status").text, "VALID")
        st, op = self.post("certificateManagementService", update_status(serial))
        self.assertEqual(op.find(M + "successCode").text, "0")
        _, infos = self.search_infos(serial=serial)
        self.assertEqual([c.tag.split("}")[1] for c in infos[0]][6:9],
                         ["status", "revokeAt", "revokeReason"])
        line = [l for l in run_cli("list", "--state", self.state, "--kind", "enrolled",
                                   check=True).stdout.splitlines() if l.startswith(serial)]
        self.assertEqual(len(line), 1)
        self.assertIn("\tREVOKED\t", line[0])

    def test_seat_and_pairs(self):
        M = "{%s}" % NS_MGMT
        leaf, _ = self.issue(P1, [("common_name", "seated"), ("mail_email", "seated@contoso.example"),
                                  ("seat_id", "seat-4711"), ("publish_flag", "0")])
        serial = format(leaf.serial_number, "X")
        _, infos = self.search_infos(seat="seat-4711")
        self.assertEqual([i.find(M + "serialNumber").text for i in infos], [serial])
        self.assertEqual(infos[0].find(M + "seatId").text, "seat-4711")
        # no seat_id: the e-mail is the seat
        leaf2, _ = self.issue(P1, [("common_name", "mailed"), ("san_email", "mailed@contoso.example")])
        _, infos = self.search_infos(seat="mailed@contoso.example")
        self.assertEqual([i.find(M + "serialNumber").text for i in infos],
                         [format(leaf2.serial_number, "X")])
        # list --pairs shows every nameValuePair of the enrollment
        out = run_cli("list", "--state", self.state, "--kind", "enrolled", "--pairs",
                      check=True).stdout
        line = [l for l in out.splitlines() if l.startswith(serial + "\t")]
        self.assertEqual(line, [serial + "\tcommon_name=seated\tmail_email=seated@contoso.example"
                                "\tseat_id=seat-4711\tpublish_flag=0"])
        # revoke by seat
        st, op = self.post("certificateManagementService",
                           update_status(None, seat="seat-4711", txid=None))
        self.assertEqual((op.find(M + "successCode").text, op.find(M + "revocationCount").text),
                         ("0", "1"))

    def test_policies_without_request_filter(self):
        P = "{%s}" % NS_POLICY
        st, op = self.post("policyService", get_policies(no_filter=True))
        self.assertEqual(st, 200, ET.tostring(op))
        self.assertEqual(len(op.findall(P + "response/" + P + "policies/" + P + "policy")), 4)
        st, op = self.post("policyService", get_policies(no_filter=True, txid=None))
        self.assertEqual(st, 200, ET.tostring(op))
        # still the schema's order: version first
        self.assert_fault("policyService", get_policies(no_filter=True, version_first=False),
                          "version is required")

    def test_p4_upn_pair_named_by_policy(self):
        P = "{%s}" % NS_POLICY
        st, op = self.post("policyService", get_policies([P4]))
        pair = op.find(".//" + P + "extensionAttributeNameValuePair")
        self.assertEqual(pair.find(P + "attributeName").text, "user_principal_name")
        value = pair.find(P + "attributeNameValue")
        self.assertEqual((value.get("type"), value.get("mandatory")),
                         ("userPrincipalName", "true"))
        before = self.issued_count()
        self.assert_fault("enrollmentService",
                          enroll(P4, self.csr_der, [("common_name", "sc"),
                                                    ("upn", "sc@contoso.example")]),
                          "attribute upn is not part of the DigiCert supported certificate "
                          "template attributes", "POLICY_VERIFICATION_FAILED")
        self.assert_fault("enrollmentService", enroll(P4, self.csr_der, [("common_name", "sc")]),
                          "mandatory SAN attribute user_principal_name",
                          "POLICY_VERIFICATION_FAILED")
        self.assertEqual(self.issued_count(), before)
        leaf, _ = self.issue(P4, [("common_name", "sc"),
                                  ("user_principal_name", "sc@contoso.example")])
        san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        self.assertEqual([(o.type_id.dotted_string, o.value)
                          for o in san.get_values_for_type(x509.OtherName)],
                         [(UPN, b"\x0c\x12sc@contoso.example")])

    # ---------- health, faults ----------
    def test_health(self):
        H = "{%s}" % NS_HEALTH
        st, op = self.post("healthcheckService", health(P1))
        self.assertEqual((st, op.find(H + "statusCode").text), (200, "UP"))
        self.assertEqual(op.find(H + "clientTransactionID").text, "t-h")
        run_cli("health", "--state", self.state, "down", check=True)
        self.addCleanup(run_cli, "health", "--state", self.state, "up")
        st, op = self.post("healthcheckService", health())
        self.assertEqual(op.find(H + "statusCode").text, "DOWN")
        run_cli("health", "--state", self.state, "up", check=True)
        st, op = self.post("healthcheckService", health())
        self.assertEqual(op.find(H + "statusCode").text, "UP")
        self.assert_fault("healthcheckService", health("1.2.3"), "request element is not "
                          "understood")

    def test_injected_fault_is_soap(self):
        run_cli("fault", "--state", self.state, "--status", "503", "--count", "1",
                "--path-contains", "policyService", "--retry-after", "2", check=True)
        st, raw, r = self.client.request("POST", "/pki-ws/policyService", get_policies([P1]),
                                         api_key=None, headers={"Content-Type": "text/xml"})
        self.assertEqual(st, 503)
        self.assertEqual(r.getheader("Retry-After"), "2")
        self.assertIn(b"Fault", raw)
        st, _ = self.post("policyService", get_policies([P1]))
        self.assertEqual(st, 200)

    def test_mtls_required(self):
        c = Client(self.info)
        with self.assertRaises((ssl.SSLError, ConnectionError)):
            c.request("POST", "/pki-ws/policyService", get_policies([P1]), api_key=None)
        c.close()


class DedupeTxidTest(unittest.TestCase):
    """serve --dedupe-txid: the emulator's former default (a re-sent
    clientTransactionID is answered with the certificate already issued)."""

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dcpki-pki-dedupe.")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.state = os.path.join(cls.tmp, "state")
        cls.emu = Emulator(cls.state, "--dedupe-txid", "--workers", "1")
        cls.addClassCleanup(cls.emu.stop)
        cls.ra_key = os.path.join(cls.tmp, "ra.key")
        cls.ra_cert = os.path.join(cls.tmp, "ra.pem")
        write_key(cls.ra_key, make_csr(os.path.join(cls.tmp, "ra.csr")))
        run_cli("ra-issue", "--state", cls.state, "--csr", os.path.join(cls.tmp, "ra.csr"),
                "--out", cls.ra_cert, check=True)

    def test_same_txid(self):
        client = Client(self.emu.info, self.ra_cert, self.ra_key)
        self.addCleanup(client.close)

        def post(csr, cn, txid):
            st, raw, _ = client.request("POST", "/pki-ws/enrollmentService",
                                        enroll(P1, csr.public_bytes(serialization.Encoding.DER),
                                               [("common_name", cn)], txid=txid),
                                        api_key=None, headers={"Content-Type": "text/xml"})
            return st, ET.fromstring(raw)[0][0]

        def serial(op):
            tok = op.find(".//{%s}binarySecurityToken" % NS_ENROLL)
            return sorted(c.serial_number for c in
                          pkcs7.load_der_pkcs7_certificates(base64.b64decode(tok.text)))

        _, csr = csr_der("dedupe")
        st, first = post(csr, "dedupe", "dcpki-d1")
        self.assertEqual(st, 200)
        st, again = post(csr, "dedupe", "dcpki-d1")
        self.assertEqual(st, 200)
        self.assertEqual(serial(again), serial(first))
        _, other = csr_der("other")
        st, op = post(other, "other", "dcpki-d1")
        self.assertEqual(st, 500)
        self.assertEqual(op.find("detail/errorcode").text, "DUPLICATE_TRANSACTION")
        p = run_cli("list", "--state", self.state, "--kind", "enrolled", "--count", check=True)
        self.assertEqual(p.stdout.strip(), "1")


if __name__ == "__main__":
    unittest.main(verbosity=2)

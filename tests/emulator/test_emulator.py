#!/usr/bin/python3
"""Tests of scripts/dcpki-emulator: a real emulator process on a free port,
spoken to over mutual TLS with ssl/http.client; signatures verified with
python3-cryptography. Run: /usr/bin/python3 tests/emulator/test_emulator.py"""
import base64
import datetime
import hashlib
import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import stat
import subprocess
import tempfile
import threading
import time
import unittest

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

HERE = os.path.dirname(os.path.abspath(__file__))
EMULATOR = os.path.join(HERE, "..", "..", "scripts", "dcpki-emulator")
API = "/signingmanager/api/v1"
HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
# DER prefixes of DigestInfo for SHA-256/384/512 (RFC 8017 §9.2 note 1)
DIGEST_INFO = {
    "SHA256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "SHA384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "SHA512": bytes.fromhex("3051300d060960864801650304020305000440"),
}


def run_cli(*args, check=False):
    p = subprocess.run([EMULATOR] + list(args), capture_output=True, text=True, timeout=120)
    if check and p.returncode != 0:
        raise AssertionError("dcpki-emulator %s failed: %s" % (" ".join(args), p.stderr))
    return p


def make_csr(path, bits=2048, client_auth=True, key_type="rsa", cn="emulator test RA"):
    if key_type == "rsa":
        key = rsa.generate_private_key(65537, bits)
    else:
        key = ec.generate_private_key(ec.SECP256R1())
    b = x509.CertificateSigningRequestBuilder().subject_name(
        x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
    if client_auth:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
    else:
        b = b.add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
    csr = b.sign(key, hashes.SHA256())
    with open(path, "wb") as f:
        f.write(csr.public_bytes(serialization.Encoding.PEM))
    return key


def write_key(path, key):
    with open(path, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption()))
    os.chmod(path, 0o600)


class Emulator:
    """One emulator process on a state directory."""

    def __init__(self, state, *extra):
        self.state = state
        self.log = open(os.path.join(os.path.dirname(state), os.path.basename(state) + ".log"),
                        "ab")
        self.proc = subprocess.Popen([EMULATOR, "--state", state, "--port", "0"] + list(extra),
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        info_path = os.path.join(state, "emulator.json")
        deadline = time.time() + 60
        while time.time() < deadline:
            if os.path.exists(info_path):
                with open(info_path) as f:
                    info = json.load(f)
                if info.get("pid") == self.proc.pid:
                    self.info = info
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.05)
        self.stop()
        raise AssertionError("emulator did not start; log: %s" % self.log.name)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class Client:
    def __init__(self, info, cert=None, key=None, api_key=None, tls_max=None, tls_min=None):
        self.host, self.port = "127.0.0.1", info["port"]
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(cafile=info["trust"])
        if cert:
            ctx.load_cert_chain(cert, key)
        if tls_max:
            ctx.maximum_version = tls_max
        if tls_min:
            ctx.minimum_version = tls_min
        self.ctx = ctx
        self.api_key = api_key
        self.conn = None

    def connect(self):
        self.conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        return self.conn

    def request(self, method, path, body=None, api_key="default", headers=None):
        if self.conn is None:
            self.connect()
        h = dict(headers or {})
        key = self.api_key if api_key == "default" else api_key
        if key is not None:
            h["x-api-key"] = key
        data = None
        if body is not None:
            data = json.dumps(body).encode() if not isinstance(body, bytes) else body
            h["Content-Type"] = "application/json"
        self.conn.request(method, path, body=data, headers=h)
        r = self.conn.getresponse()
        raw = r.read()
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = raw
        return r.status, obj, r

    def close(self):
        if self.conn:
            self.conn.close()
            self.conn = None


class EmulatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="dcpki-emu-test.")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.state = os.path.join(cls.tmp, "state")
        cls.emu = Emulator(cls.state)
        cls.addClassCleanup(cls.emu.stop)
        cls.info = cls.emu.info
        with open(cls.info["api_key_file"]) as f:
            cls.api_key = f.read().strip()
        cls.ra_key = os.path.join(cls.tmp, "ra.key")
        cls.ra_cert = os.path.join(cls.tmp, "ra.pem")
        write_key(cls.ra_key, make_csr(os.path.join(cls.tmp, "ra.csr")))
        run_cli("ra-issue", "--state", cls.state, "--csr", os.path.join(cls.tmp, "ra.csr"),
                "--out", cls.ra_cert, check=True)
        with open(cls.info["root"], "rb") as f:
            cls.root = x509.load_pem_x509_certificate(f.read())

    def setUp(self):
        run_cli("fault", "--state", self.state, "--clear", check=True)
        self.client = Client(self.info, self.ra_cert, self.ra_key, self.api_key)
        self.addCleanup(self.client.close)

    # ---------- info file, TLS ----------
    def test_info_file(self):
        for k in ("url", "host", "port", "pid", "trust", "root", "api_key_file", "ra_ca"):
            self.assertIn(k, self.info)
        self.assertEqual(self.info["url"], "https://127.0.0.1:%d" % self.info["port"])
        self.assertEqual(self.info["host"], "127.0.0.1:%d" % self.info["port"])
        mode = stat.S_IMODE(os.stat(self.info["api_key_file"]).st_mode)
        self.assertEqual(mode, 0o600)
        self.assertGreaterEqual(len(self.api_key), 20)
        with open(self.info["ra_ca"], "rb") as f:
            ra_ca = x509.load_pem_x509_certificate(f.read())
        with open(self.ra_cert, "rb") as f:
            ra = x509.load_pem_x509_certificate(f.read())
        self.assertEqual(ra.issuer, ra_ca.subject)
        eku = ra.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        self.assertIn(ExtendedKeyUsageOID.CLIENT_AUTH, eku)
        ku = ra.extensions.get_extension_for_class(x509.KeyUsage).value
        self.assertTrue(ku.digital_signature and ku.key_encipherment)

    def test_server_cert_names(self):
        for name in ("127.0.0.1", "localhost"):
            with socket.create_connection(("127.0.0.1", self.info["port"]), 10) as raw:
                self.client.ctx.check_hostname = True
                with self.client.ctx.wrap_socket(raw, server_hostname=name) as s:
                    s.sendall(b"GET /nothing HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                    self.assertIn(b"404", s.recv(100))

    def test_tls12_and_tls13(self):
        for lo, hi, want in ((None, ssl.TLSVersion.TLSv1_2, "TLSv1.2"),
                             (ssl.TLSVersion.TLSv1_3, None, "TLSv1.3")):
            c = Client(self.info, self.ra_cert, self.ra_key, self.api_key, tls_max=hi, tls_min=lo)
            st, obj, _ = c.request("GET", API + "/keypairs")
            self.assertEqual(st, 200)
            self.assertEqual(c.conn.sock.version(), want)
            c.close()

    def test_listen_elsewhere_is_wrong_host(self):
        # a copy of the state (with the running emulator's emulator.json in it) on 127.0.0.2
        copy = os.path.join(self.tmp, "copy")
        shutil.copytree(self.state, copy)
        emu = Emulator(copy, "--listen", "127.0.0.2")
        self.addCleanup(emu.stop)
        self.assertEqual(emu.info["host"], "127.0.0.2:%d" % emu.info["port"])
        self.assertEqual(emu.info["state"], copy)
        c = Client(emu.info, self.ra_cert, self.ra_key, self.api_key)
        c.host = "127.0.0.2"
        with self.assertRaises(ssl.SSLCertVerificationError):
            c.request("GET", API + "/keypairs")
        c.close()
        # the same server is fine for a client that does not check the name
        c = Client(emu.info, self.ra_cert, self.ra_key, self.api_key)
        c.host = "127.0.0.2"
        c.ctx.check_hostname = False
        self.assertEqual(c.request("GET", API + "/keypairs")[0], 200)
        c.close()

    def assert_refused(self, client):
        with self.assertRaises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            client.request("GET", API + "/keypairs")

    def test_mtls_required(self):
        for hi in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c = Client(self.info, api_key=self.api_key, tls_max=hi)
            self.assert_refused(c)
            c.close()

    def test_foreign_client_cert_refused(self):
        key = rsa.generate_private_key(65537, 2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "intruder")])
        now = datetime.datetime.utcnow()
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
                .public_key(key.public_key()).serial_number(7)
                .not_valid_before(now - datetime.timedelta(1))
                .not_valid_after(now + datetime.timedelta(1))
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False)
                .sign(key, hashes.SHA256()))
        kp, cp = os.path.join(self.tmp, "intruder.key"), os.path.join(self.tmp, "intruder.pem")
        write_key(kp, key)
        with open(cp, "wb") as f:
            f.write(cert.public_bytes(serialization.Encoding.PEM))
        c = Client(self.info, cp, kp, self.api_key)
        self.assert_refused(c)
        c.close()

    def test_ra_revocation(self):
        csr = os.path.join(self.tmp, "rev.csr")
        kp, cp = os.path.join(self.tmp, "rev.key"), os.path.join(self.tmp, "rev.pem")
        write_key(kp, make_csr(csr, cn="to be revoked"))
        run_cli("ra-issue", "--state", self.state, "--csr", csr, "--out", cp, check=True)
        c = Client(self.info, cp, kp, self.api_key)
        self.assertEqual(c.request("GET", API + "/keypairs")[0], 200)
        p = run_cli("ra-revoke", "--state", self.state, "--cert", cp)
        self.assertEqual(p.returncode, 0, p.stderr)
        # the open connection is refused per request
        st, obj, _ = c.request("GET", API + "/keypairs")
        self.assertEqual(st, 403)
        self.assertEqual(obj["error"]["message"], "RA certificate revoked")
        c.close()
        # a new connection fails in the handshake
        for hi in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
            c2 = Client(self.info, cp, kp, self.api_key, tls_max=hi)
            self.assert_refused(c2)
            c2.close()
        # other RA certificates still work
        self.assertEqual(self.client.request("GET", API + "/keypairs")[0], 200)

    # ---------- API key ----------
    def test_api_key_missing(self):
        st, obj, _ = self.client.request("GET", API + "/keypairs", api_key=None)
        self.assertEqual(st, 401)
        self.assertEqual(obj["error"]["code"], "invalid_api_key")

    def test_api_key_wrong(self):
        for path, method, body in ((API + "/keypairs", "GET", None),
                                   (API + "/keypairs/issuing-ca", "GET", None),
                                   (API + "/keypairs/issuing-ca/sign", "POST",
                                    {"hash": base64.b64encode(b"\0" * 32).decode(),
                                     "sig_alg": "SHA256WithRSA"})):
            st, obj, _ = self.client.request(method, path, body, api_key="wrong-" + self.api_key)
            self.assertEqual(st, 401, path)
            self.assertEqual(obj["error"]["code"], "invalid_api_key")
            self.assertNotIn(self.api_key, json.dumps(obj))
        with open(self.emu.log.name, "rb") as f:
            self.assertNotIn(self.api_key.encode(), f.read())

    # ---------- keypairs ----------
    def check_keypair(self, kp):
        for k in ("id", "alias", "key_alg", "key_size", "key_type", "key_storage", "key_status",
                  "key_modal_type", "public_key", "certificates", "account", "is_signable_by_me"):
            self.assertIn(k, kp)
        self.assertEqual(kp["key_type"], "PRODUCTION")
        self.assertEqual(kp["key_storage"], "HSM")
        self.assertEqual(kp["key_status"], "ONLINE")
        self.assertTrue(kp["is_signable_by_me"])
        self.assertIn("id", kp["account"])
        pub = serialization.load_der_public_key(base64.b64decode(kp["public_key"]))
        self.assertEqual(len(kp["certificates"]), 1)
        c = kp["certificates"][0]
        self.assertTrue(c["default_cert"])
        self.assertEqual(c["certificate_status"], "ACTIVE")
        self.assertEqual(c["keypair"], {"id": kp["id"], "alias": kp["alias"]})
        der = base64.b64decode(c["cert"])
        cert = x509.load_der_x509_certificate(der)
        self.assertEqual(c["certificate_fingerprint"],
                         base64.b64encode(hashlib.sha256(der).digest()).decode())
        self.assertEqual(cert.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo),
            base64.b64decode(kp["public_key"]))
        bc = cert.extensions.get_extension_for_class(x509.BasicConstraints)
        self.assertTrue(bc.value.ca and bc.critical)
        ku = cert.extensions.get_extension_for_class(x509.KeyUsage).value
        self.assertTrue(ku.key_cert_sign and ku.crl_sign and ku.digital_signature)
        self.assertEqual([e["cert_type"] for e in c["chain"]], ["root"])
        root = x509.load_der_x509_certificate(base64.b64decode(c["chain"][0]["blob"]))
        self.assertEqual(root, self.root)
        self.assertEqual(cert.issuer, root.subject)
        root.public_key().verify(cert.signature, cert.tbs_certificate_bytes, padding.PKCS1v15(),
                                 cert.signature_hash_algorithm)
        return pub, cert

    def test_list_keypairs(self):
        st, obj, _ = self.client.request("GET", API + "/keypairs")
        self.assertEqual(st, 200)
        self.assertEqual(obj["total"], 2)
        self.assertEqual(obj["offset"], 0)
        self.assertIn("limit", obj)
        by_alias = {kp["alias"]: kp for kp in obj["items"]}
        self.assertEqual(set(by_alias), {"issuing-ca", "ec-ca"})
        rsa_kp, ec_kp = by_alias["issuing-ca"], by_alias["ec-ca"]
        self.assertEqual((rsa_kp["key_alg"], rsa_kp["key_size"]), ("RSA", 2048))
        self.assertEqual((ec_kp["key_alg"], ec_kp["key_size"], ec_kp["curve"]),
                         ("ECDSA", 256, "P-256"))
        pub, cert = self.check_keypair(rsa_kp)
        self.assertIsInstance(pub, rsa.RSAPublicKey)
        self.assertEqual(cert.subject.rfc4514_string(), "CN=dcpki emulator issuing CA")
        pub, cert = self.check_keypair(ec_kp)
        self.assertIsInstance(pub, ec.EllipticCurvePublicKey)
        self.assertEqual(cert.subject.rfc4514_string(), "CN=dcpki emulator EC CA")
        # paging and an unmatched search
        st, obj, _ = self.client.request("GET", API + "/keypairs?offset=1&limit=1")
        self.assertEqual((st, obj["total"], len(obj["items"])), (200, 2, 1))
        st, obj, _ = self.client.request("GET", API + "/keypairs?alias=none")
        self.assertEqual((st, obj["total"], obj["items"]), (200, 0, []))

    def test_describe_by_alias_and_id(self):
        st, a, _ = self.client.request("GET", API + "/keypairs/issuing-ca")
        self.assertEqual(st, 200)
        st, b, _ = self.client.request("GET", API + "/keypairs/" + a["id"])
        self.assertEqual(st, 200)
        self.assertEqual(a, b)
        self.check_keypair(a)

    def test_unknown_alias(self):
        st, obj, _ = self.client.request("GET", API + "/keypairs/no-such-key")
        self.assertEqual(st, 404)
        self.assertEqual(obj["error"]["status"], "invalid_input_field")
        self.assertTrue(obj["error"]["message"].startswith("Keypair not present"))
        st, obj, _ = self.client.request("POST", API + "/keypairs/no-such-key/sign",
                                         {"hash": base64.b64encode(b"1" * 32).decode(),
                                          "sig_alg": "SHA256WithRSA"})
        self.assertEqual(st, 404)
        self.assertTrue(obj["error"]["message"].startswith("Keypair not present"))

    def test_bad_request_line_answered(self):
        # a line refused before its method and target are read is answered as
        # Python's http.server answers it (HTTP/0.9 form: the error page alone)
        for line, code in ((b"GET / HTTP/2.0", b"505"), (b"GET / HTTP/1.x", b"400")):
            with socket.create_connection(("127.0.0.1", self.info["port"]), 10) as raw:
                with self.client.ctx.wrap_socket(raw, server_hostname="127.0.0.1") as s:
                    s.sendall(line + b"\r\nHost: x\r\n\r\n")
                    got = b""
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        got += chunk
                    self.assertIn(b"Error code: " + code, got, line)

    def test_unknown_path(self):
        st, obj, r = self.client.request("GET", "/no/such/path")
        self.assertEqual(st, 404)
        self.assertIn("error", obj)
        self.assertEqual(r.getheader("Content-Type"), "application/json")

    # ---------- signing ----------
    def pub(self, alias):
        st, kp, _ = self.client.request("GET", API + "/keypairs/" + alias)
        self.assertEqual(st, 200)
        return serialization.load_der_public_key(base64.b64decode(kp["public_key"])), kp

    def sign(self, alias, digest, sig_alg, **extra):
        body = {"hash": base64.b64encode(digest).decode(), "sig_alg": sig_alg}
        body.update(extra)
        return self.client.request("POST", API + "/keypairs/%s/sign" % alias, body)

    def test_sign_java_names_and_account(self):
        """jsign sends Java's names (SHA256withRSA) and the keypair's account object;
        DigiCert's sample sends no account; a bare string account is ignored."""
        pub, kp = self.pub("issuing-ca")
        msg = b"signed as jsign asks"
        digest = hashlib.sha256(msg).digest()
        for extra in ({}, {"account": kp["account"]}, {"account": "some account"}):
            st, obj, _ = self.sign("issuing-ca", digest, "SHA256withRSA", **extra)
            self.assertEqual(st, 200, (extra, obj))
            pub.verify(base64.b64decode(obj["signature"]), msg, padding.PKCS1v15(),
                       hashes.SHA256())
        ecpub, eckp = self.pub("ec-ca")
        digest = hashlib.sha384(msg).digest()
        st, obj, _ = self.sign("ec-ca", digest, "SHA384withECDSA", account=eckp["account"])
        self.assertEqual(st, 200, obj)
        ecpub.verify(base64.b64decode(obj["signature"]), msg, ec.ECDSA(hashes.SHA384()))

    def test_sign_rsa_all(self):
        pub, kp = self.pub("issuing-ca")
        msg = b"to be signed by the cloud"
        for h, hcls in HASHES.items():
            digest = hashlib.new(h.lower(), msg).digest()
            st, obj, _ = self.sign("issuing-ca", digest, h + "WithRSA", account=kp["account"])
            self.assertEqual(st, 200, obj)
            self.assertIn("id", obj)
            sig = base64.b64decode(obj["signature"])
            self.assertEqual(len(sig), 256)
            pub.verify(sig, msg, padding.PKCS1v15(), hcls())
            st, obj, _ = self.sign(kp["id"], digest, h + "WithRSA/PSS")
            self.assertEqual(st, 200, obj)
            sig = base64.b64decode(obj["signature"])
            pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hcls()),
                                             salt_length=hcls().digest_size), hcls())
            with self.assertRaises(InvalidSignature):  # salt length really is the digest length
                pub.verify(sig, msg, padding.PSS(mgf=padding.MGF1(hcls()),
                                                 salt_length=hcls().digest_size + 1), hcls())
            # NONEWithRSA over the caller's DigestInfo = the same PKCS#1 v1.5 signature
            st, obj, _ = self.sign("issuing-ca", DIGEST_INFO[h] + digest, "NONEWithRSA")
            self.assertEqual(st, 200, obj)
            sig = base64.b64decode(obj["signature"])
            pub.verify(sig, msg, padding.PKCS1v15(), hcls())
        # the signature record can be read back
        st, rec, _ = self.client.request("GET", API + "/signatures/" + obj["id"])
        self.assertEqual((st, rec["sig_alg"]), (200, "NONEWithRSA"))

    def test_sign_ecdsa_all(self):
        pub, kp = self.pub("ec-ca")
        msg = b"ecdsa message"
        for h, hcls in HASHES.items():
            digest = hashlib.new(h.lower(), msg).digest()
            st, obj, _ = self.sign("ec-ca", digest, h + "WithECDSA")
            self.assertEqual(st, 200, obj)
            sig = base64.b64decode(obj["signature"])
            r, s = utils.decode_dss_signature(sig)  # DER
            self.assertTrue(r > 0 and s > 0)
            pub.verify(sig, msg, ec.ECDSA(hcls()))

    def test_sign_validation(self):
        d32 = base64.b64encode(b"\x01" * 32).decode()
        cases = [
            ("issuing-ca", {"hash": base64.b64encode(b"\x01" * 20).decode(),
                            "sig_alg": "SHA256WithRSA"}),
            ("issuing-ca", {"hash": d32, "sig_alg": "SHA384WithRSA/PSS"}),
            ("ec-ca", {"hash": d32, "sig_alg": "SHA512WithECDSA"}),
            ("issuing-ca", {"hash": d32, "sig_alg": "SHA256WithECDSA"}),
            ("ec-ca", {"hash": d32, "sig_alg": "SHA256WithRSA"}),
            ("ec-ca", {"hash": d32, "sig_alg": "NONEWithRSA"}),
            ("issuing-ca", {"hash": d32, "sig_alg": "MD5WithRSA"}),
            ("issuing-ca", {"hash": "%%%not base64", "sig_alg": "SHA256WithRSA"}),
            ("issuing-ca", {"sig_alg": "SHA256WithRSA"}),
            ("issuing-ca", {"hash": d32}),
            ("issuing-ca", {"hash": base64.b64encode(b"\x01" * 246).decode(),
                            "sig_alg": "NONEWithRSA"}),
            ("issuing-ca", {"hash": d32, "sig_alg": "SHA256WithRSA",
                            "account": {"id": "someone-else", "name": "x"}}),
            ("issuing-ca", {"hash": d32, "sig_alg": "sha256withRSA"}),
            ("issuing-ca", {"hash": d32, "sig_alg": "SHA256withRsa"}),
        ]
        for alias, body in cases:
            st, obj, _ = self.client.request("POST", API + "/keypairs/%s/sign" % alias, body)
            self.assertEqual(st, 400, (alias, body, obj))
            self.assertEqual(obj["error"]["status"], "invalid_input_field")
        st, obj, _ = self.client.request("POST", API + "/keypairs/issuing-ca/sign", b"{not json")
        self.assertEqual(st, 400)
        st, _, r = self.client.request("GET", API + "/keypairs/issuing-ca/sign")
        self.assertEqual(st, 405)
        # bytes that are no DigestInfo are padded and signed raw; 245 bytes is the most
        # NONEWithRSA takes on RSA-2048
        pub, _ = self.pub("issuing-ca")
        n, e = pub.public_numbers().n, pub.public_numbers().e
        for data in (b"\x02" * 245, b"short", DIGEST_INFO["SHA256"] + b"\x07" * 31):
            st, obj, _ = self.sign("issuing-ca", data, "NONEWithRSA")
            self.assertEqual(st, 200, obj)
            s = int.from_bytes(base64.b64decode(obj["signature"]), "big")
            em = pow(s, e, n).to_bytes(256, "big")
            self.assertEqual(em, b"\x00\x01" + b"\xff" * (253 - len(data)) + b"\x00" + data)

    def test_keepalive_and_threads(self):
        c = self.client
        c.request("GET", API + "/keypairs")
        sock = c.conn.sock
        for _ in range(5):
            self.assertEqual(self.sign("issuing-ca", b"\x03" * 32, "SHA256WithRSA")[0], 200)
        self.assertIs(c.conn.sock, sock)  # one connection, one handshake
        errors = []

        def worker():
            cl = Client(self.info, self.ra_cert, self.ra_key, self.api_key)
            try:
                for _ in range(10):
                    st, obj, _ = cl.request("POST", API + "/keypairs/ec-ca/sign",
                                            {"hash": base64.b64encode(b"\x04" * 32).decode(),
                                             "sig_alg": "SHA256WithECDSA"})
                    if st != 200:
                        errors.append(st)
            except Exception as e:  # reported below
                errors.append(repr(e))
            finally:
                cl.close()

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        self.assertEqual(errors, [])

    # ---------- faults ----------
    def test_fault_delay(self):
        run_cli("fault", "--state", self.state, "--delay-ms", "800", "--count", "1", check=True)
        t0 = time.monotonic()
        st, _, _ = self.client.request("GET", API + "/keypairs")
        slow = time.monotonic() - t0
        t0 = time.monotonic()
        st2, _, _ = self.client.request("GET", API + "/keypairs")
        fast = time.monotonic() - t0
        self.assertEqual((st, st2), (200, 200))
        self.assertGreaterEqual(slow, 0.8)
        self.assertLess(fast, 0.8)
        self.assertFalse(os.path.exists(os.path.join(self.state, "faults.json")))

    def test_fault_status(self):
        run_cli("fault", "--state", self.state, "--status", "503", "--count", "2",
                "--path-contains", "/sign", "--retry-after", "3", check=True)
        # not a /sign path: unaffected
        self.assertEqual(self.client.request("GET", API + "/keypairs")[0], 200)
        for _ in range(2):
            st, obj, r = self.sign("issuing-ca", b"\x05" * 32, "SHA256WithRSA")
            self.assertEqual(st, 503)
            self.assertEqual(r.getheader("Retry-After"), "3")
            self.assertIn("error", obj)
        st, obj, _ = self.sign("issuing-ca", b"\x05" * 32, "SHA256WithRSA")
        self.assertEqual(st, 200)
        # 429 has DigiCert's rate-limit code; without --count it lasts
        run_cli("fault", "--state", self.state, "--status", "429", check=True)
        for _ in range(2):
            st, obj, r = self.client.request("GET", API + "/keypairs")
            self.assertEqual((st, obj["error"]["code"]), (429, "request_limit_exceeded"))
        run_cli("fault", "--state", self.state, "--clear", check=True)
        self.assertEqual(self.client.request("GET", API + "/keypairs")[0], 200)

    def test_fault_cli_errors(self):
        self.assertEqual(run_cli("fault", "--state", self.state).returncode, 1)
        self.assertEqual(run_cli("fault", "--state", self.state, "--status", "5000").returncode, 1)

    # ---------- portal step ----------
    def test_ra_issue_rejects(self):
        out = os.path.join(self.tmp, "rejected.pem")
        cases = [({"bits": 1024}, "2048"), ({"client_auth": False}, "clientAuth"),
                 ({"key_type": "ec"}, "RSA")]
        for kw, needle in cases:
            csr = os.path.join(self.tmp, "bad.csr")
            make_csr(csr, **kw)
            p = run_cli("ra-issue", "--state", self.state, "--csr", csr, "--out", out)
            self.assertEqual(p.returncode, 1, kw)
            self.assertIn(needle, p.stderr)
            self.assertFalse(os.path.exists(out))
        # a CSR whose signature does not verify
        good = os.path.join(self.tmp, "good.csr")
        make_csr(good)
        with open(good, "rb") as f:
            csr = x509.load_pem_x509_csr(f.read())
        der = bytearray(csr.public_bytes(serialization.Encoding.DER))
        der[-5] ^= 0xFF  # inside the signature
        bad = os.path.join(self.tmp, "badsig.csr")
        with open(bad, "wb") as f:
            f.write(bytes(der))
        p = run_cli("ra-issue", "--state", self.state, "--csr", bad, "--out", out)
        self.assertEqual(p.returncode, 1)
        self.assertIn("signature", p.stderr)
        p = run_cli("ra-issue", "--state", self.state, "--csr", "/nonexistent.csr", "--out", out)
        self.assertEqual(p.returncode, 1)
        self.assertIn("cannot read the CSR", p.stderr)


class PersistenceTest(unittest.TestCase):
    def test_restart_keeps_state(self):
        tmp = tempfile.mkdtemp(prefix="dcpki-emu-persist.")
        self.addCleanup(shutil.rmtree, tmp, True)
        state = os.path.join(tmp, "state")
        # ra-issue before any server start creates the state
        csr = os.path.join(tmp, "ra.csr")
        key, cert = os.path.join(tmp, "ra.key"), os.path.join(tmp, "ra.pem")
        write_key(key, make_csr(csr))
        run_cli("ra-issue", "--state", state, "--csr", csr, "--out", cert, check=True)
        emu = Emulator(state)
        self.addCleanup(emu.stop)
        info1 = emu.info
        with open(info1["api_key_file"]) as f:
            api_key = f.read().strip()
        c = Client(info1, cert, key, api_key)
        st, list1, _ = c.request("GET", API + "/keypairs")
        self.assertEqual(st, 200)
        c.close()
        # revoke a second RA certificate, note serials
        key2, cert2 = os.path.join(tmp, "ra2.key"), os.path.join(tmp, "ra2.pem")
        write_key(key2, make_csr(csr, cn="second"))
        run_cli("ra-issue", "--state", state, "--csr", csr, "--out", cert2, check=True)
        run_cli("ra-revoke", "--state", state, "--cert", cert2, check=True)
        with open(cert2, "rb") as f:
            serial2 = x509.load_pem_x509_certificate(f.read()).serial_number
        self.assertEqual(emu.stop(), 0)
        self.assertFalse(os.path.exists(os.path.join(state, "emulator.json")))

        emu2 = Emulator(state, "--delay-ms", "300")
        self.addCleanup(emu2.stop)
        info2 = emu2.info
        with open(info2["api_key_file"]) as f:
            self.assertEqual(f.read().strip(), api_key)
        c = Client(info2, cert, key, api_key)
        t0 = time.monotonic()
        st, list2, _ = c.request("GET", API + "/keypairs")
        self.assertGreaterEqual(time.monotonic() - t0, 0.3)  # --delay-ms
        self.assertEqual(st, 200)
        self.assertEqual(list1, list2)  # same ids, keys, certificates
        # a signature from the restarted emulator verifies with the old public key
        rsa_kp = [k for k in list1["items"] if k["alias"] == "issuing-ca"][0]
        pub = serialization.load_der_public_key(base64.b64decode(rsa_kp["public_key"]))
        digest = hashlib.sha256(b"persist").digest()
        st, obj, _ = c.request("POST", API + "/keypairs/issuing-ca/sign",
                               {"hash": base64.b64encode(digest).decode(),
                                "sig_alg": "SHA256WithRSA"})
        self.assertEqual(st, 200)
        pub.verify(base64.b64decode(obj["signature"]), b"persist", padding.PKCS1v15(),
                   hashes.SHA256())
        c.close()
        # the revocation survived the restart
        c2 = Client(info2, cert2, key2, api_key)
        with self.assertRaises((ssl.SSLError, ConnectionError, http.client.RemoteDisconnected)):
            c2.request("GET", API + "/keypairs")
        c2.close()
        # the serial counter goes on
        cert3 = os.path.join(tmp, "ra3.pem")
        run_cli("ra-issue", "--state", state, "--csr", csr, "--out", cert3, check=True)
        with open(cert3, "rb") as f:
            serial3 = x509.load_pem_x509_certificate(f.read()).serial_number
        self.assertEqual(serial3, serial2 + 1)
        emu2.stop()


if __name__ == "__main__":
    unittest.main(verbosity=2)

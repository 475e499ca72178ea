"""Emulator state on disk: CAs, keys, the serial counter, issued and revoked
certificates, the API key.

Layout of the state directory (created on first use, mode 0700):
  state.json        serial counter, account, keypair metadata, issued certificates
  ra-revoked.json   serial numbers (hex) of revoked RA certificates
  root-ca.{pem,key} root that every key's CA certificate and issued certificate chains to
  ra-ca.{pem,key}   self-signed CA that issues RA (TLS client) certificates
  tls-ca.{pem,key}  self-signed CA of the server certificate (the "trust" PEM)
  server.{pem,key}  TLS server certificate, SAN IP:127.0.0.1 DNS:localhost
  keys/ALIAS.{key,pem}  signing keys and their CA certificates
  api-key           the x-api-key value accepted (0600)

Every change happens under an exclusive flock on STATE/.lock, so a portal
step (ra-issue, ra-revoke) may run while the server is running; files are
replaced atomically (temporary file, fsync, rename).
"""
import base64
import contextlib
import datetime
import fcntl
import hashlib
import ipaddress
import json
import os
import secrets
import threading
import uuid

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

STATE_VERSION = 1
ROOT_CN = "dcpki emulator root CA"
RA_CA_CN = "dcpki emulator RA CA"
TLS_CA_CN = "dcpki emulator TLS CA"
ACCOUNT_NAME = "dcpki emulator account"
# Signing keys created on first start: alias -> (algorithm, CA certificate CN)
INITIAL_KEYS = (
    ("issuing-ca", "RSA", "dcpki emulator issuing CA"),
    ("ec-ca", "EC", "dcpki emulator EC CA"),
)


class EmulatorError(Exception):
    """An error for the user: one sentence with its remedy."""


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)


def iso(dt):
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=datetime.timezone.utc)
    return dt.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def atomic_write(path, data, mode=0o644):
    """Write bytes or str to path whole or not at all."""
    if isinstance(data, str):
        data = data.encode()
    directory = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(directory, ".%s.tmp.%d.%d" % (os.path.basename(path), os.getpid(),
                                                     threading.get_ident()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dfd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


@contextlib.contextmanager
def file_lock(path):
    """Exclusive flock on path (created if needed). flock locks belong to the
    open file description, so this also serialises threads of one process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def pem_cert(cert):
    return cert.public_bytes(serialization.Encoding.PEM)


def der_cert(cert):
    return cert.public_bytes(serialization.Encoding.DER)


def spki_der(public_key):
    return public_key.public_bytes(serialization.Encoding.DER,
                                   serialization.PublicFormat.SubjectPublicKeyInfo)


def serial_hex(serial):
    return format(serial, "X")


def name_cn(cn):
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _key_pem(key):
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


class KeyPair:
    """A signing key of the signing service with its CA certificate."""

    def __init__(self, meta, key, cert, chain):
        self.id = meta["id"]
        self.alias = meta["alias"]
        self.cert_id = meta["cert_id"]
        self.created = meta.get("created")
        self.key = key
        self.cert = cert
        self.chain = chain  # list of (cert_type, x509.Certificate), intermediates then root
        # once: isinstance against these abstract classes is slow, and sign asks per request
        self.is_rsa = isinstance(key, rsa.RSAPrivateKey)
        self.is_ec = isinstance(key, ec.EllipticCurvePrivateKey)


class State:
    def __init__(self, directory):
        self.dir = os.path.abspath(directory)
        self._revoked_path = self.path("ra-revoked.json")  # stat'ed per request
        self._revoked_cache = (None, frozenset())

    # ---- paths ----
    def path(self, *parts):
        return os.path.join(self.dir, *parts)

    @property
    def root_pem(self):
        return self.path("root-ca.pem")

    @property
    def ra_ca_pem(self):
        return self.path("ra-ca.pem")

    @property
    def tls_ca_pem(self):
        return self.path("tls-ca.pem")

    @property
    def api_key_file(self):
        return self.path("api-key")

    @contextlib.contextmanager
    def locked(self):
        with file_lock(self.path(".lock")):
            yield

    # ---- creation ----
    def ensure(self):
        """Create the state on first use; idempotent and safe between processes."""
        try:
            os.makedirs(self.dir, mode=0o700, exist_ok=True)
        except OSError as e:
            raise EmulatorError("cannot create the state directory %s (%s); choose a writable "
                                "directory with --state" % (self.dir, e.strerror))
        if os.path.exists(self.path("state.json")):
            return
        with self.locked():
            if not os.path.exists(self.path("state.json")):
                self._create()

    def _create(self):
        os.makedirs(self.path("keys"), mode=0o700, exist_ok=True)
        data = {
            "version": STATE_VERSION,
            # serials are prefix << 32 | counter: unique within this state and
            # unlikely to collide with another state's certificates
            "serial_prefix": secrets.randbits(40) | (1 << 39),
            "next_serial": 1,
            "account": {"id": str(uuid.uuid4()), "name": ACCOUNT_NAME},
            "keypairs": [],
            "issued": [],
            "created": iso(utcnow()),
        }

        def new_serial():
            s = (data["serial_prefix"] << 32) | data["next_serial"]
            data["next_serial"] += 1
            return s

        root_key = rsa.generate_private_key(65537, 2048)
        root = self._self_signed(root_key, ROOT_CN, new_serial(), 20 * 365)
        ra_key = rsa.generate_private_key(65537, 2048)
        ra_ca = self._self_signed(ra_key, RA_CA_CN, new_serial(), 20 * 365)
        tls_key = rsa.generate_private_key(65537, 2048)
        tls_ca = self._self_signed(tls_key, TLS_CA_CN, new_serial(), 20 * 365)
        srv_key = rsa.generate_private_key(65537, 2048)
        srv = self._build(tls_ca, tls_key, name_cn("localhost"), srv_key.public_key(), new_serial(),
                          10 * 365, [
                              (x509.BasicConstraints(ca=False, path_length=None), True),
                              (x509.KeyUsage(digital_signature=True, content_commitment=False,
                                             key_encipherment=True, data_encipherment=False,
                                             key_agreement=False, key_cert_sign=False,
                                             crl_sign=False, encipher_only=False,
                                             decipher_only=False), True),
                              (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False),
                              (x509.SubjectAlternativeName([
                                  x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                                  x509.DNSName("localhost")]), False),
                          ])
        for name, key, cert in (("root-ca", root_key, root), ("ra-ca", ra_key, ra_ca),
                                ("tls-ca", tls_key, tls_ca), ("server", srv_key, srv)):
            atomic_write(self.path(name + ".key"), _key_pem(key), 0o600)
            atomic_write(self.path(name + ".pem"), pem_cert(cert))

        for alias, alg, cn in INITIAL_KEYS:
            if alg == "RSA":
                key = rsa.generate_private_key(65537, 2048)
            else:
                key = ec.generate_private_key(ec.SECP256R1())
            cert = self._build(root, root_key, name_cn(cn), key.public_key(), new_serial(),
                               10 * 365, self.ca_extensions())
            atomic_write(self.path("keys", alias + ".key"), _key_pem(key), 0o600)
            atomic_write(self.path("keys", alias + ".pem"), pem_cert(cert))
            data["keypairs"].append({"id": str(uuid.uuid4()), "alias": alias,
                                     "cert_id": str(uuid.uuid4()), "created": iso(utcnow())})
            data["issued"].append(self._issued_entry(cert, "key-ca", alias))

        atomic_write(self.api_key_file, secrets.token_urlsafe(32), 0o600)
        atomic_write(self.path("ra-revoked.json"), json.dumps({"revoked": {}}, indent=1))
        # state.json last: its presence means the state is complete
        atomic_write(self.path("state.json"), json.dumps(data, indent=1), 0o600)

    @staticmethod
    def ca_extensions(path_length=None):
        return [
            (x509.BasicConstraints(ca=True, path_length=path_length), True),
            (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=False,
                           data_encipherment=False, key_agreement=False, key_cert_sign=True,
                           crl_sign=True, encipher_only=False, decipher_only=False), True),
        ]

    def _self_signed(self, key, cn, serial, days):
        name = name_cn(cn)
        return self._build(None, key, name, key.public_key(), serial, days,
                           self.ca_extensions(), subject_is_issuer=True)

    @staticmethod
    def _build(issuer_cert, issuer_key, subject, public_key, serial, days, extensions,
               subject_is_issuer=False):
        now = utcnow()
        builder = (x509.CertificateBuilder()
                   .subject_name(subject)
                   .issuer_name(subject if subject_is_issuer else issuer_cert.subject)
                   .public_key(public_key)
                   .serial_number(serial)
                   .not_valid_before(now - datetime.timedelta(minutes=5))
                   .not_valid_after(now + datetime.timedelta(days=days)))
        for ext, critical in extensions:
            builder = builder.add_extension(ext, critical=critical)
        builder = builder.add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key),
                                        critical=False)
        issuer_pub = public_key if subject_is_issuer else issuer_cert.public_key()
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_pub), critical=False)
        return builder.sign(issuer_key, hashes.SHA256())

    @staticmethod
    def _issued_entry(cert, kind, label=None):
        entry = {
            "serial": serial_hex(cert.serial_number),
            "kind": kind,
            "subject": cert.subject.rfc4514_string(),
            "issuer": cert.issuer.rfc4514_string(),
            "not_before": iso(cert.not_valid_before),
            "not_after": iso(cert.not_valid_after),
            "issued_at": iso(utcnow()),
            "status": "VALID",
            "pem": pem_cert(cert).decode(),
        }
        if label:
            entry["label"] = label
        return entry

    # ---- state.json transactions ----
    def load(self):
        try:
            with open(self.path("state.json")) as f:
                return json.load(f)
        except FileNotFoundError:
            raise EmulatorError("no emulator state in %s; start the emulator or run ra-issue "
                                "with that --state first" % self.dir)

    @contextlib.contextmanager
    def transaction(self):
        """Load state.json under the lock, yield it, save it if no exception."""
        self.ensure()
        with self.locked():
            data = self.load()
            yield data
            atomic_write(self.path("state.json"), json.dumps(data, indent=1), 0o600)

    def issue(self, issuer_cert, issuer_key, subject, public_key, days, extensions, kind,
              label=None, meta=None):
        """Issue a certificate with the next serial number and record it."""
        with self.transaction() as data:
            serial = (data["serial_prefix"] << 32) | data["next_serial"]
            data["next_serial"] += 1
            cert = self._build(issuer_cert, issuer_key, subject, public_key, serial, days,
                               extensions)
            entry = self._issued_entry(cert, kind, label)
            if meta:
                entry.update(meta)
            data["issued"].append(entry)
        return cert

    # ---- reading keys and certificates ----
    def read_cert(self, *parts):
        with open(self.path(*parts), "rb") as f:
            return x509.load_pem_x509_certificate(f.read())

    def read_key(self, *parts):
        with open(self.path(*parts), "rb") as f:
            return serialization.load_pem_private_key(f.read(), password=None)

    def api_key(self):
        with open(self.api_key_file) as f:
            return f.read().strip()

    def account(self):
        return self.load()["account"]

    def keypairs(self):
        data = self.load()
        root = self.read_cert("root-ca.pem")
        out = []
        for meta in data["keypairs"]:
            key = self.read_key("keys", meta["alias"] + ".key")
            cert = self.read_cert("keys", meta["alias"] + ".pem")
            out.append(KeyPair(meta, key, cert, [("root", root)]))
        return out

    def issuing_ca(self, alias="issuing-ca"):
        """(certificate, private key, chain above it) of a key CA, for issuing."""
        return (self.read_cert("keys", alias + ".pem"), self.read_key("keys", alias + ".key"),
                [self.read_cert("root-ca.pem")])

    # ---- RA certificates ----
    def issue_ra_cert(self, csr_pem, days=365):
        self.ensure()
        try:
            if b"-----BEGIN" in csr_pem:
                csr = x509.load_pem_x509_csr(csr_pem)
            else:
                csr = x509.load_der_x509_csr(csr_pem)
        except ValueError:
            raise EmulatorError("the CSR is not a PEM or DER PKCS#10 request; make one with "
                                "'dcpki ra csr' or 'openssl req -new'")
        if not csr.is_signature_valid:
            raise EmulatorError("the CSR signature does not verify; regenerate the CSR with its "
                                "own private key")
        pub = csr.public_key()
        if not isinstance(pub, rsa.RSAPublicKey):
            raise EmulatorError("the RA key must be RSA (2048 bits or more); make an RSA key "
                                "with 'dcpki ra keygen'")
        if pub.key_size < 2048:
            raise EmulatorError("the RA key has %d bits but at least 2048 are required; make a "
                                "new RSA-2048 key" % pub.key_size)
        try:
            eku = csr.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            eku = []
        except ValueError:
            raise EmulatorError("the CSR's requested extensions cannot be parsed; regenerate it")
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            raise EmulatorError("the CSR does not request the clientAuth extended key usage; add "
                                "extendedKeyUsage=clientAuth to the request")
        if days < 1 or days > 3650:
            raise EmulatorError("--days must be between 1 and 3650")
        ra_cert = self.read_cert("ra-ca.pem")
        ra_key = self.read_key("ra-ca.key")
        exts = [
            (x509.BasicConstraints(ca=False, path_length=None), True),
            (x509.KeyUsage(digital_signature=True, content_commitment=False, key_encipherment=True,
                           data_encipherment=False, key_agreement=False, key_cert_sign=False,
                           crl_sign=False, encipher_only=False, decipher_only=False), True),
            (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), False),
        ]
        return self.issue(ra_cert, ra_key, csr.subject, pub, days, exts, "ra")

    def revoke_ra_cert(self, cert_pem, reason="unspecified"):
        try:
            cert = x509.load_pem_x509_certificate(cert_pem)
        except ValueError:
            raise EmulatorError("the file is not a PEM certificate; pass the RA certificate "
                                "that ra-issue wrote")
        ra_ca = self.read_cert("ra-ca.pem")
        try:
            ra_ca.public_key().verify(cert.signature, cert.tbs_certificate_bytes,
                                      _verify_padding(ra_ca), cert.signature_hash_algorithm)
        except (InvalidSignature, TypeError, ValueError):
            raise EmulatorError("that certificate was not issued by this emulator's RA CA; pass "
                                "an RA certificate from ra-issue with the same --state")
        serial = serial_hex(cert.serial_number)
        with self.locked():
            revoked = self._read_revoked_file()
            revoked[serial] = {"date": iso(utcnow()), "reason": reason,
                               "subject": cert.subject.rfc4514_string()}
            atomic_write(self.path("ra-revoked.json"), json.dumps({"revoked": revoked}, indent=1))
        with self.transaction() as data:
            for entry in data["issued"]:
                if entry["serial"] == serial and entry["kind"] == "ra":
                    entry["status"] = "REVOKED"
        return serial

    def _read_revoked_file(self):
        try:
            with open(self.path("ra-revoked.json")) as f:
                return json.load(f).get("revoked", {})
        except FileNotFoundError:
            return {}

    def ra_revoked_generation(self):
        try:
            st = os.stat(self._revoked_path)
            return (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            return None

    def ra_revoked(self):
        """Revoked RA serials (hex), re-read when the file changes."""
        gen = self.ra_revoked_generation()
        cached_gen, cached = self._revoked_cache  # one tuple, replaced whole
        if cached_gen == gen and gen is not None:
            return cached
        revoked = frozenset(self._read_revoked_file().keys())
        self._revoked_cache = (gen, revoked)
        return revoked

    def ra_crl_pem(self):
        """CRL of the RA CA listing the revoked RA certificates (PEM)."""
        ra_cert = self.read_cert("ra-ca.pem")
        ra_key = self.read_key("ra-ca.key")
        now = utcnow()
        builder = (x509.CertificateRevocationListBuilder()
                   .issuer_name(ra_cert.subject)
                   .last_update(now - datetime.timedelta(minutes=5))
                   .next_update(now + datetime.timedelta(days=365)))
        for serial, info in sorted(self._read_revoked_file().items()):
            rc = (x509.RevokedCertificateBuilder()
                  .serial_number(int(serial, 16))
                  .revocation_date(datetime.datetime.strptime(info["date"], "%Y-%m-%dT%H:%M:%SZ"))
                  .build())
            builder = builder.add_revoked_certificate(rc)
        crl = builder.sign(ra_key, hashes.SHA256())
        return crl.public_bytes(serialization.Encoding.PEM)


def _verify_padding(ca_cert):
    from cryptography.hazmat.primitives.asymmetric import padding
    pub = ca_cert.public_key()
    if isinstance(pub, rsa.RSAPublicKey):
        return padding.PKCS1v15()
    raise TypeError("unsupported CA key")


def fingerprint_b64(cert):
    return base64.b64encode(hashlib.sha256(der_cert(cert)).digest()).decode()

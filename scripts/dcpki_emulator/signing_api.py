"""DigiCert Software Trust Manager REST API (shared/protocols/signing.md).

Base /signingmanager/api/v1/:
  GET  keypairs                 {total, offset, limit, items[]}  (?offset, ?limit, ?alias)
  GET  keypairs/{id}            id = keypair UUID or alias
  POST keypairs/{id}/sign       {"hash": b64 digest, "sig_alg": ..., "account"?} -> {id, signature}
  GET  signatures/{id}          record of a signature made by this emulator (any worker)
  GET  certificates             ?alias= / ?id= / ?certificate_status=
Every call needs the x-api-key header (and mutual TLS, enforced by the server).
"""
import base64
import binascii
import hmac
import json
import re

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, utils

from .records import RECORDS, SignatureRecords
from .server import Response, json_error, json_response
from .stamps import iso_now, uuid4
from .state import der_cert, fingerprint_b64, iso, spki_der

BASE = "/signingmanager/api/v1"
HASHES = {"SHA256": hashes.SHA256, "SHA384": hashes.SHA384, "SHA512": hashes.SHA512}
# sig_alg -> (family, hash name or None)
SIG_ALGS = {}
for _h in HASHES:
    SIG_ALGS[_h + "WithRSA"] = ("RSA", _h)
    SIG_ALGS[_h + "WithRSA/PSS"] = ("RSA-PSS", _h)
    SIG_ALGS[_h + "WithECDSA"] = ("ECDSA", _h)
SIG_ALGS["NONEWithRSA"] = ("RSA-RAW", None)
# "with" in any case: jsign sends Java's names (SHA256withRSA, SHA384withECDSA), the
# REST documentation writes SHA256WithRSA
SIG_ALG_RE = re.compile(r"(SHA256|SHA384|SHA512|NONE)[Ww][Ii][Tt][Hh](RSA|ECDSA|RSA/PSS)")


def canonical_sig_alg(name):
    """The SIG_ALGS key of a sig_alg as a client sends it, or None. Only the word
    "with" is case-insensitive; the hash and key names are as documented."""
    if name in SIG_ALGS:  # the documented spelling: the regex would give it back
        return name
    m = SIG_ALG_RE.fullmatch(name)
    return "%sWith%s" % (m.group(1), m.group(2)) if m else None


def _sign_args(family, hname):
    """The arguments after the data of key.sign() for a SIG_ALGS entry (made once:
    they are immutable)."""
    if family == "RSA":
        return (padding.PKCS1v15(), utils.Prehashed(HASHES[hname]()))
    if family == "RSA-PSS":
        return (padding.PSS(mgf=padding.MGF1(HASHES[hname]()),
                            salt_length=HASHES[hname].digest_size),
                utils.Prehashed(HASHES[hname]()))
    if family == "ECDSA":
        return (ec.ECDSA(utils.Prehashed(HASHES[hname]())),)
    return None


SIGN_ARGS = {alg: _sign_args(*SIG_ALGS[alg]) for alg in SIG_ALGS}


def invalid(message):
    return json_error(400, message, code="invalid_input_field")


class SigningService:
    def __init__(self, app):
        self.app = app
        self.state = app.state
        self.api_key = app.state.api_key()
        self.api_key_bytes = self.api_key.encode()
        self.account = app.state.account()
        self.keypairs = app.state.keypairs()
        self.by_id = {kp.id: kp for kp in self.keypairs}
        self.by_alias = {kp.alias: kp for kp in self.keypairs}
        self.records = SignatureRecords(app.state.path(RECORDS))
        # JSON of each keypair's {"id", "alias"} as a signature record has it
        self.record_keypair = {kp.id: json.dumps({"id": kp.id, "alias": kp.alias},
                                                 separators=(",", ":"))
                               for kp in self.keypairs}

    def register(self):
        r = self.app.route
        r("GET", BASE + r"/keypairs/?", self.guard(self.list_keypairs))
        r("GET", BASE + r"/keypairs/(?P<id>[^/]+)", self.guard(self.get_keypair))
        r("POST", BASE + r"/keypairs/(?P<id>[^/]+)/sign", self.guard(self.sign))
        r("GET", BASE + r"/signatures/(?P<id>[^/]+)", self.guard(self.get_signature))
        r("GET", BASE + r"/certificates/?", self.guard(self.list_certificates))

    # ---- authentication ----
    def guard(self, handler):
        def wrapped(req):
            given = req.headers.get("x-api-key")
            if not given:
                return json_error(401, "The x-api-key header is missing.", code="invalid_api_key",
                                  key="code")
            if not hmac.compare_digest(given.strip().encode(), self.api_key_bytes):
                return json_error(401, "The API key is not valid.", code="invalid_api_key",
                                  key="code")
            return handler(req)
        return wrapped

    # ---- representations ----
    def keypair_json(self, kp):
        obj = {
            "id": kp.id,
            "alias": kp.alias,
            "key_alg": "RSA" if kp.is_rsa else "ECDSA",
            "key_size": kp.key.key_size,
            "key_type": "PRODUCTION",
            "key_storage": "HSM",
            "key_status": "ONLINE",
            "key_modal_type": "STATIC",
            "public_key": base64.b64encode(spki_der(kp.key.public_key())).decode(),
            "certificates": [self.cert_json(kp)],
            "account": dict(self.account),
            "is_signable_by_me": True,
            "created_on": kp.created,
        }
        if kp.is_ec:
            obj["curve"] = "P-256" if isinstance(kp.key.curve, ec.SECP256R1) else kp.key.curve.name
        return obj

    def cert_json(self, kp):
        return {
            "id": kp.cert_id,
            "alias": kp.alias,
            "cert": base64.b64encode(der_cert(kp.cert)).decode(),
            "chain": [{"cert_type": t, "blob": base64.b64encode(der_cert(c)).decode()}
                      for t, c in kp.chain],
            "certificate_fingerprint": fingerprint_b64(kp.cert),
            "certificate_status": "ACTIVE",
            "keypair": {"id": kp.id, "alias": kp.alias},
            "valid_from": iso(kp.cert.not_valid_before),
            "valid_to": iso(kp.cert.not_valid_after),
            "default_cert": True,
        }

    def find(self, ident):
        return self.by_id.get(ident) or self.by_alias.get(ident)

    @staticmethod
    def not_present(ident):
        return json_error(404, "Keypair not present with id or alias %s." % ident,
                          code="invalid_input_field")

    @staticmethod
    def paging(req):
        try:
            offset = int(req.query1("offset", "0"))
            limit = int(req.query1("limit", "20"))
        except ValueError:
            return None
        if offset < 0 or limit < 1 or limit > 1000:
            return None
        return offset, limit

    # ---- handlers ----
    def list_keypairs(self, req):
        page = self.paging(req)
        if page is None:
            return invalid("offset must be >= 0 and limit between 1 and 1000.")
        offset, limit = page
        items = self.keypairs
        alias = req.query1("alias")
        if alias is not None:
            items = [kp for kp in items if kp.alias == alias]
        return json_response(200, {"total": len(items), "offset": offset, "limit": limit,
                                   "items": [self.keypair_json(kp)
                                             for kp in items[offset:offset + limit]]})

    def get_keypair(self, req):
        kp = self.find(req.params["id"])
        if kp is None:
            return self.not_present(req.params["id"])
        return json_response(200, self.keypair_json(kp))

    def list_certificates(self, req):
        page = self.paging(req)
        if page is None:
            return invalid("offset must be >= 0 and limit between 1 and 1000.")
        offset, limit = page
        items = [self.cert_json(kp) for kp in self.keypairs]
        for field in ("alias", "id", "certificate_status"):
            want = req.query1(field)
            if want is not None:
                items = [c for c in items if c[field] == want]
        return json_response(200, {"total": len(items), "offset": offset, "limit": limit,
                                   "items": items[offset:offset + limit]})

    def get_signature(self, req):
        rec = self.records.find(req.params["id"])
        if rec is None:
            return json_error(404, "Signature not present with id %s." % req.params["id"],
                              code="invalid_input_field")
        return json_response(200, rec)

    def sign(self, req):
        kp = self.find(req.params["id"])
        if kp is None:
            return self.not_present(req.params["id"])
        try:
            body = req.json()
        except (ValueError, UnicodeDecodeError):
            return invalid("The request body is not a JSON object.")
        sig_alg = body.get("sig_alg")
        b64 = body.get("hash")
        if not isinstance(sig_alg, str) or not sig_alg:
            return invalid("sig_alg is required.")
        if not isinstance(b64, str) or not b64:
            return invalid("hash is required.")
        alg_key = canonical_sig_alg(sig_alg)
        if alg_key is None:
            return invalid("sig_alg %s is not supported; use one of %s." %
                           (sig_alg, ", ".join(sorted(SIG_ALGS))))
        # account: DigiCert's own sample sends none; jsign sends the keypair's account
        # object ({id, name}), whose id must then be the keypair's account. Anything else
        # (a bare string, ...) is accepted and ignored: nothing public shows the real
        # service refusing it.
        account = body.get("account")
        if isinstance(account, dict) and account.get("id") is not None:
            if account.get("id") != self.account["id"]:
                return invalid("account does not match the keypair's account.")
        try:
            # base64.b64decode(b64, validate=True) without its Python wrapper
            digest = binascii.a2b_base64(b64, strict_mode=True)
        except (binascii.Error, ValueError):
            return invalid("hash is not valid base64.")
        family, hname = SIG_ALGS[alg_key]
        if family == "ECDSA" and not kp.is_ec:
            return invalid("sig_alg %s does not match the RSA keypair %s." % (sig_alg, kp.alias))
        if family.startswith("RSA") and not kp.is_rsa:
            return invalid("sig_alg %s does not match the ECDSA keypair %s." % (sig_alg, kp.alias))
        if hname:
            size = HASHES[hname].digest_size
            if len(digest) != size:
                return invalid("hash has %d bytes but %s needs a %d-byte digest." %
                               (len(digest), sig_alg, size))
            sig = kp.key.sign(digest, *SIGN_ARGS[alg_key])
        else:
            k = (kp.key.key_size + 7) // 8
            if not 1 <= len(digest) <= k - 11:
                return invalid("hash for NONEWithRSA must be 1 to %d bytes (the DigestInfo)." %
                               (k - 11))
            sig = rsa_pkcs1_sign_digestinfo(kp.key, digest)
        rec_id = uuid4()
        signature = base64.b64encode(sig).decode()
        self.records.append(record_line(rec_id, self.record_keypair[kp.id], sig_alg, b64,
                                        signature, iso_now()))
        return Response(200, sign_answer(rec_id, signature))


# A signature record and the answer to a sign request are formatted by hand,
# byte for byte as json.dumps formats them (test_fast_paths checks it), at a
# fraction of its cost. Every value is JSON-safe as it stands, no escaping is
# needed: the id is a UUID, signature and hash are base64 (the hash was decoded
# in strict mode), sig_alg matched SIG_ALG_RE, the time is digits and
# separators; keypair_json is json.dumps of {"id", "alias"} made once.
def record_line(rec_id, keypair_json, sig_alg, b64, signature, created_on):
    """json.dumps(record, separators=(",", ":")) + "\n", as bytes."""
    return ('{"id":"%s","keypair":%s,"sig_alg":"%s","hash":"%s","signature":"%s",'
            '"created_on":"%s"}\n' % (rec_id, keypair_json, sig_alg, b64, signature,
                                      created_on)).encode()


def sign_answer(rec_id, signature):
    """json.dumps({"id": rec_id, "signature": signature})."""
    return '{"id": "%s", "signature": "%s"}' % (rec_id, signature)


# DER prefixes of DigestInfo (RFC 8017 section 9.2, note 1)
DIGEST_INFO_PREFIXES = {
    bytes.fromhex("3021300906052b0e03021a05000414"): hashes.SHA1,
    bytes.fromhex("302d300d06096086480165030402040500041c"): hashes.SHA224,
    bytes.fromhex("3031300d060960864801650304020105000420"): hashes.SHA256,
    bytes.fromhex("3041300d060960864801650304020205000430"): hashes.SHA384,
    bytes.fromhex("3051300d060960864801650304020305000440"): hashes.SHA512,
}


def rsa_pkcs1_sign_digestinfo(key, data):
    """NONEWithRSA: PKCS#1 v1.5 type-1 signature over the caller's bytes. A
    standard DigestInfo goes through cryptography's own signer (same bytes,
    faster); anything else through raw_rsa_pkcs1_sign."""
    for prefix, halg in DIGEST_INFO_PREFIXES.items():
        if data.startswith(prefix) and len(data) == len(prefix) + halg.digest_size:
            return key.sign(data[len(prefix):], padding.PKCS1v15(), utils.Prehashed(halg()))
    return raw_rsa_pkcs1_sign(key, data)


def raw_rsa_pkcs1_sign(key, data):
    """RSASSA-PKCS1-v1_5 with the caller's DigestInfo: EMSA type-1 padding, then
    s = m^d mod n (CRT). cryptography has no raw-RSA signing mode."""
    nums = key.private_numbers()
    pub = nums.public_numbers
    k = (pub.n.bit_length() + 7) // 8
    em = b"\x00\x01" + b"\xff" * (k - 3 - len(data)) + b"\x00" + data
    m = int.from_bytes(em, "big")
    s1 = pow(m, nums.dmp1, nums.p)
    s2 = pow(m, nums.dmq1, nums.q)
    h = (nums.iqmp * (s1 - s2)) % nums.p
    s = s2 + h * nums.q
    if pow(s, pub.e, pub.n) != m:  # fault check before releasing a signature
        raise RuntimeError("RSA CRT self-check failed")
    return s.to_bytes(k, "big")


def register(app):
    SigningService(app).register()

#!/usr/bin/python3
"""The emulator's fast paths give what the standard library code they replace gives.
No server: the modules are called directly. Run: /usr/bin/python3 tests/emulator/test_fast_paths.py"""
import base64
import email.utils
import http.client
import io
import json
import os
import shutil
import sys
import tempfile
import unittest
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "scripts"))

from dcpki_emulator import http_headers, records, signing_api, stamps  # noqa: E402
from dcpki_emulator.stamps import http_date  # noqa: E402
from dcpki_emulator.state import iso, utcnow  # noqa: E402

# header blocks as a client may send them, ordinary and odd; each is read by
# http_headers.parse_headers and by http.client.parse_headers (what
# BaseHTTPRequestHandler uses) and must give the same values
BLOCKS = [
    b"\r\n",
    b"",
    b"Host: a\r\nx-api-key: k\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\n",
    b"Host: a\nX-API-KEY: k\n\n",
    b"x-api-key:k\r\nx-api-key: second\r\n\r\n",
    b"x-api-key: \t k \t\r\n\r\n",
    b"x-api-key:\r\n\r\n",
    b"x-api-key: \r\n\r\n",
    b"x-api-key : k\r\n\r\n",
    b"x-api-key: k\r\n continued\r\n\tand more\r\n\r\n",
    b"x-api-key:\r\n k\r\n\r\n",
    b" leading continuation\r\nx-api-key: k\r\n\r\n",
    b"garbage\r\nx-api-key: k\r\n\r\n",
    b":novalue\r\nx-api-key: k\r\n\r\n",
    b"From someone\r\nx-api-key: k\r\n\r\n",
    b"Host: a\r\nFrom someone\r\nx-api-key: k\r\n\r\n",
    b"From: someone\r\nx-api-key: k\r\n\r\n",
    b"x-api-key: k\rX-Other: v\r\n\r\n",
    b"x-api-key: k\r\r\n\r\n",
    b"x-api-key: k\x00\x01\x7f\r\n\r\n",
    b"X-Caf\xe9: 1\r\nx-api-key: k\r\n\r\n",
    b"x-api-key: caf\xe9 \xff\r\n\r\n",
    b"x-api-key: k\r\nConnection: close\r\nExpect: 100-continue\r\n\r\n",
    b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n",
    b"x-api-key: k\r\n",  # EOF before the empty line
    b"x-api-key: k\n\r\n",
    b"x-api-key: k\r\n\n",
    b"a:b:c\r\n\r\n",
    b"x-api-key:: k\r\n\r\n",
    b"x-api-key: k\x0b\x0c\x1c\x85\r\n\r\n",
    b"x-api-key: a\r\nx-api-key: b\r\n\r\n",
    b"\r\n\r\n",
    b"\n\r\n",
    b"x-api-key: a\r\n\nX: b\r\n\r\n",
    b"x-api-key: a\nX: b\r\n\r\n",
    b"x-api-key: a\r\nX: b\n\r\n",
]
NAMES = ["Host", "x-api-key", "X-Api-Key", "Content-Type", "Content-Length", "Connection",
         "Expect", "Transfer-Encoding", "X-Other", "X-Caf\xe9", "From", "a", "missing", ""]


class HeaderParsing(unittest.TestCase):
    @staticmethod
    def readers(data):
        """data as a plain stream (lines read one by one) and as a buffered
        reader (the block taken from the buffer when it can be)"""
        return (io.BytesIO(data), io.BufferedReader(io.BytesIO(data)),
                io.BufferedReader(io.BytesIO(data), buffer_size=16))

    def test_same_as_http_client(self):
        for block in BLOCKS:
            for fp in self.readers(block + b"BODY"):
                with self.subTest(block=block, reader=fp):
                    mine = http_headers.parse_headers(fp)
                    ref_fp = io.BytesIO(block + b"BODY")
                    ref = http.client.parse_headers(ref_fp)
                    for name in NAMES:
                        self.assertEqual(mine.get(name), ref.get(name), name)
                        self.assertEqual(mine.get(name, "dflt"), ref.get(name, "dflt"), name)
                        self.assertEqual(mine[name], ref[name], name)
                        self.assertEqual(name in mine, name in ref, name)
                    self.assertEqual(list(mine.items()), list(ref.items()))
                    self.assertEqual(fp.read(), ref_fp.read())  # read as far

    def test_fast_paths_taken(self):
        block = b"Host: a\r\nx-api-key: k\r\nContent-Length: 5\r\n\r\n"
        fp = io.BufferedReader(io.BytesIO(block + b"BODY"))
        fp.peek()
        fp.readline = None  # the block is taken from the buffer, not line by line
        self.assertIsInstance(http_headers.parse_headers(fp), http_headers.Headers)
        self.assertEqual(fp.read(), b"BODY")
        odd = b"Host: a\r\n folded\r\n\r\n"
        self.assertIsInstance(http_headers.parse_headers(io.BytesIO(odd)), http.client.HTTPMessage)

    def test_limits_as_http_client(self):
        maxline, maxheaders = http.client._MAXLINE, http.client._MAXHEADERS
        blocks = [
            b"".join(b"X-%d: a\r\n" % i for i in range(maxheaders - 1)) + b"\r\n",
            b"".join(b"X-%d: a\r\n" % i for i in range(maxheaders)) + b"\r\n",
            b"".join(b"X-%d: a\r\n" % i for i in range(maxheaders + 1)) + b"\r\n",
            b"".join(b"X-%d: a\n" % i for i in range(maxheaders)) + b"\n",
        ] + [b"X: " + b"a" * (maxline - n) + b"\r\n\r\n" for n in (6, 5, 4, 3)] + [
            b"Y: b\r\nX: " + b"a" * (maxline - n) + b"\r\n\r\n" for n in (6, 5, 4)]
        for i, block in enumerate(blocks):
            try:
                ref = list(http.client.parse_headers(io.BytesIO(block + b"BODY")).items())
            except http.client.HTTPException as e:
                ref = (type(e), str(e))
            for fp in self.readers(block + b"BODY") + (
                    io.BufferedReader(io.BytesIO(block + b"BODY"), buffer_size=2 * maxline),):
                with self.subTest(block=i, reader=fp):
                    try:
                        mine = list(http_headers.parse_headers(fp).items())
                    except http.client.HTTPException as e:
                        mine = (type(e), str(e))
                    self.assertEqual(mine, ref)

    def test_reads_no_further_than_the_headers(self):
        fp = io.BytesIO(b"Host: a\r\n\r\nBODY")
        http_headers.parse_headers(fp)
        self.assertEqual(fp.read(), b"BODY")


class Stamps(unittest.TestCase):
    def test_http_date(self):
        before = email.utils.formatdate(usegmt=True)
        got = http_date()
        after = email.utils.formatdate(usegmt=True)
        self.assertIn(got, (before, after))
        self.assertEqual(http_date(), http_date())

    def test_iso_now(self):
        before = iso(utcnow())
        got = stamps.iso_now()
        after = iso(utcnow())
        self.assertIn(got, (before, after))

    def test_uuid4(self):
        ids = [stamps.uuid4() for _ in range(3 * stamps._BATCH + 7)]
        self.assertEqual(len(set(ids)), len(ids))
        for s in ids:
            u = uuid.UUID(s)
            self.assertEqual(str(u), s)  # the canonical lower-case form
            self.assertEqual(u.version, 4)
            self.assertEqual(u.variant, uuid.RFC_4122)

    def test_uuid4_differs_in_forked_children(self):
        stamps.uuid4()  # the parent's pool is filled
        got = []
        for _ in range(2):
            r, w = os.pipe()
            pid = os.fork()
            if pid == 0:
                os.close(r)
                os.write(w, stamps.uuid4().encode())
                os._exit(0)
            os.close(w)
            got.append(os.read(r, 100).decode())
            os.close(r)
            os.waitpid(pid, 0)
        got.append(stamps.uuid4())
        self.assertEqual(len(set(got)), 3)


class SigningJSON(unittest.TestCase):
    """record_line and sign_answer are json.dumps of the same objects."""

    def test_same_as_json_dumps(self):
        spellings = list(signing_api.SIG_ALGS) + ["SHA256withRSA", "sha256WITHrsa".upper(),
                                                  "SHA384wItHECDSA", "SHA512withRSA/PSS"]
        for sig_alg in spellings:
            if signing_api.canonical_sig_alg(sig_alg) is None:
                continue
            for n in (1, 20, 32, 48, 64, 245):
                b64 = base64.b64encode(os.urandom(n)).decode()
                sig = base64.b64encode(os.urandom(256)).decode()
                rec_id = stamps.uuid4()
                kp = {"id": str(uuid.uuid4()), "alias": "issu\u00efng \"ca\""}
                kp_json = json.dumps(kp, separators=(",", ":"))
                created = stamps.iso_now()
                rec = {"id": rec_id, "keypair": kp, "sig_alg": sig_alg, "hash": b64,
                       "signature": sig, "created_on": created}
                self.assertEqual(
                    signing_api.record_line(rec_id, kp_json, sig_alg, b64, sig, created),
                    (json.dumps(rec, separators=(",", ":")) + "\n").encode())
                self.assertEqual(signing_api.sign_answer(rec_id, sig),
                                 json.dumps({"id": rec_id, "signature": sig}, indent=None))

    def test_strict_base64_as_b64decode(self):
        # sign decodes the hash with binascii.a2b_base64(strict_mode=True)
        import binascii
        for text in ["YWJj", "YWJj=", "YWJj====", "YWJ", "=YWJj", "YW=Jj", "YW Jj", "YWJj\n",
                     "Y\x00WJj", "\u00e9", "", "////", "+/+/", "YQ==", "YQ=", "YQ"]:
            results = []
            for decode in (lambda t: base64.b64decode(t, validate=True),
                           lambda t: binascii.a2b_base64(t, strict_mode=True)):
                try:
                    results.append(decode(text))
                except (binascii.Error, ValueError):
                    results.append("refused")
            self.assertEqual(results[0], results[1], repr(text))

    def test_canonical_sig_alg(self):
        for name in signing_api.SIG_ALGS:
            m = signing_api.SIG_ALG_RE.fullmatch(name)
            self.assertEqual(signing_api.canonical_sig_alg(name),
                             "%sWith%s" % (m.group(1), m.group(2)))
        self.assertEqual(signing_api.canonical_sig_alg("SHA256withECDSA"), "SHA256WithECDSA")
        self.assertIsNone(signing_api.canonical_sig_alg("sha256WithRSA"))


class Records(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="records.")
        self.addCleanup(shutil.rmtree, self.dir)
        self.path = os.path.join(self.dir, records.RECORDS)

    @staticmethod
    def line(i):
        return ('{"id":"r%d","keypair":{"id":"k","alias":"a"},"sig_alg":"x","hash":"h",'
                '"signature":"%s","created_on":"t"}\n' % (i, "s" * 200)).encode()

    def test_append_find(self):
        a, b = records.SignatureRecords(self.path), records.SignatureRecords(self.path)
        for i in range(10):
            (a if i % 2 else b).append(self.line(i))
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), b"".join(self.line(i) for i in range(10)))
        self.assertEqual(os.stat(self.path).st_mode & 0o777, 0o600)
        self.assertEqual(b.find("r7")["id"], "r7")
        self.assertIsNone(a.find("r77"))

    def test_rotation_by_another_writer(self):
        old = records.ROTATE_BYTES
        records.ROTATE_BYTES = 5000
        self.addCleanup(setattr, records, "ROTATE_BYTES", old)
        a, b = records.SignatureRecords(self.path), records.SignatureRecords(self.path)

        def inode(path):
            try:
                return os.stat(path).st_ino
            except FileNotFoundError:
                return None

        a.append(self.line(0))
        first = inode(self.path)
        i = 1
        while inode(self.path + ".1") != first:  # b rotates a's file away
            b.append(self.line(i))
            i += 1
            self.assertLess(i, 1000, "no rotation")
        a.append(self.line(i))  # to the new file, not to .1
        with open(self.path, "rb") as f:
            self.assertEqual(f.read(), self.line(i))
        second = inode(self.path)
        while second in (inode(self.path), inode(self.path + ".1")):  # until dropped
            i += 1
            b.append(self.line(i))
            self.assertLess(i, 1000, "no rotation")
        i += 1
        a.append(self.line(i))  # a record never goes to a dropped file
        self.assertEqual(a.find("r%d" % i)["id"], "r%d" % i)
        self.assertEqual(b.find("r%d" % i)["id"], "r%d" % i)
        self.assertIsNone(a.find("r0"))  # dropped with its file


if __name__ == "__main__":
    unittest.main(verbosity=2)

"""HTTPS server with mutual TLS and a route table.

Service modules register their routes on an App:
    app.route("GET", r"/signingmanager/api/v1/keypairs", handler)
    app.error_renderer("/pki-ws/", render)   # how errors look under a prefix
A handler takes a Request and returns a Response. Every connection must
present a client certificate issued by the emulator's RA CA and not revoked:
the TLS context carries the RA CA's CRL (rebuilt when ra-revoked.json
changes), so a revoked certificate fails the handshake; a connection opened
before the revocation is refused per request with 403.
"""
import http.client
import http.server
import json
import os
import re
import socket
import socketserver
import ssl
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from http import HTTPStatus

from cryptography import x509

from . import faults
from .http_headers import parse_headers
from .stamps import http_date
from .state import EmulatorError, serial_hex

HANDSHAKE_TIMEOUT = 10
IDLE_TIMEOUT = 120
MAX_BODY = 16 * 1024 * 1024


class Request:
    def __init__(self, method, target, headers, body, peer_cert_der, client_address):
        self.method = method
        parsed = urllib.parse.urlsplit(target)
        self.path = parsed.path
        self.query = (urllib.parse.parse_qs(parsed.query, keep_blank_values=True)
                      if parsed.query else {})
        self.headers = headers
        self.body = body
        self.peer_cert_der = peer_cert_der
        self.peer_serial = None  # hex serial of the client certificate
        self.client_address = client_address
        self.params = {}  # named groups of the route pattern

    def query1(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def json(self):
        """The body as a JSON object; raises ValueError if it is not one."""
        obj = json.loads(self.body.decode("utf-8"))
        if not isinstance(obj, dict):
            raise ValueError("the body is not a JSON object")
        return obj


class Response:
    def __init__(self, status, body=b"", content_type="application/json", headers=None):
        self.status = status
        self.body = body if isinstance(body, bytes) else body.encode("utf-8")
        self.content_type = content_type
        self.headers = dict(headers or {})


def json_response(status, obj, headers=None):
    return Response(status, json.dumps(obj, indent=None).encode(), "application/json", headers)


def json_error(status, message, code=None, key="status", headers=None):
    """{"error": {<key>: code, "message": message}}; key is "status" or "code"."""
    if code is None:
        code = DEFAULT_CODES.get(status, "error")
    return json_response(status, {"error": {key: code, "message": message}}, headers)


DEFAULT_CODES = {
    400: "invalid_request",
    401: "invalid_api_key",
    403: "access_denied",
    404: "resource_not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    429: "request_limit_exceeded",
    500: "internal_error",
    503: "service_unavailable",
}


FAULT_MESSAGES = {
    400: "Bad request",
    401: "The API key is not valid",
    403: "Access denied",
    404: "Resource not found",
    429: "Request limit exceeded; retry later",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service temporarily unavailable; retry later",
    504: "Gateway timeout",
}


def default_error_renderer(status, message, retry_after=None):
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    key = "code" if status in (401, 429) else "status"
    return json_error(status, message, key=key, headers=headers)


class TLSContexts:
    """Server SSLContext, rebuilt when the RA revocation list changes."""

    def __init__(self, state):
        self.state = state
        self._lock = threading.Lock()
        self._gen = object()
        self._ctx = None

    def get(self):
        gen = self.state.ra_revoked_generation()
        with self._lock:
            if self._ctx is None or gen != self._gen:
                self._ctx = self._build()
                self._gen = gen
            return self._ctx

    def _build(self):
        st = self.state
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(st.path("server.pem"), st.path("server.key"))
        ctx.verify_mode = ssl.CERT_REQUIRED
        # RA CA + its CRL in one file: only a file lookup loads CRLs
        with open(st.ra_ca_pem, "rb") as f:
            bundle = f.read() + st.ra_crl_pem()
        fd, tmp = tempfile.mkstemp(prefix=".ra-verify.", suffix=".pem", dir=st.dir)
        try:
            os.write(fd, bundle)
            os.close(fd)
            ctx.load_verify_locations(cafile=tmp)
        finally:
            os.unlink(tmp)
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
        return ctx


class App:
    def __init__(self, state, delay_ms=0, log_stream=None):
        self.state = state
        self.delay_ms = delay_ms
        self.log_stream = log_stream or sys.stderr
        self._log_lock = threading.Lock()
        self.routes = []          # (method, compiled regex, handler)
        self.renderers = []       # (path prefix, renderer)
        self.tls = TLSContexts(state)
        self.info = {}            # filled by the CLI: url, host, port

    # ---- registration ----
    def route(self, method, pattern, handler):
        self.routes.append((method.upper(), re.compile(pattern), handler))

    def error_renderer(self, prefix, renderer):
        """renderer(status, message, retry_after=None) -> Response for paths under prefix."""
        self.renderers.append((prefix, renderer))
        self.renderers.sort(key=lambda r: -len(r[0]))

    def render_error(self, path, status, message, retry_after=None):
        for prefix, renderer in self.renderers:
            if path.startswith(prefix):
                return renderer(status, message, retry_after)
        return default_error_renderer(status, message, retry_after)

    # ---- logging ----
    def log(self, line):
        with self._log_lock:
            try:
                self.log_stream.write("dcpki-emulator: %s\n" % line)
                self.log_stream.flush()
            except (OSError, ValueError):
                pass

    # ---- request handling ----
    def handle(self, req):
        if self.delay_ms:
            time.sleep(self.delay_ms / 1000.0)
        if req.peer_cert_der:
            if req.peer_serial is None or req.peer_serial in self.state.ra_revoked():
                return self.render_error(req.path, 403, "RA certificate revoked")
        try:
            fault = faults.consume(self.state.dir, req.path)
        except EmulatorError as e:
            return self.render_error(req.path, 500, str(e))
        if fault:
            if fault.delay_ms:
                time.sleep(fault.delay_ms / 1000.0)
            if fault.status:
                return self.render_error(req.path, fault.status,
                                         "%s (injected fault)" % FAULT_MESSAGES.get(
                                             fault.status, "HTTP %d" % fault.status),
                                         fault.retry_after)
        allowed = []
        for method, rx, handler in self.routes:
            m = rx.fullmatch(req.path)
            if not m:
                continue
            if method != req.method:
                allowed.append(method)
                continue
            req.params = m.groupdict()
            try:
                return handler(req)
            except Exception:  # a bug in a handler: 500, trace on stderr
                self.log("internal error on %s %s:\n%s" % (req.method, req.path,
                                                          traceback.format_exc()))
                return self.render_error(req.path, 500, "internal error in the emulator")
        if allowed:
            resp = self.render_error(req.path, 405, "method %s not allowed on %s" %
                                     (req.method, req.path))
            resp.headers["Allow"] = ", ".join(sorted(set(allowed)))
            return resp
        return self.render_error(req.path, 404, "no such resource: %s" % req.path)




class Handler(http.server.BaseHTTPRequestHandler):
    """BaseHTTPRequestHandler with the per-request costs cut where the standard
    library is slow (header parsing, building the answer's head); everything a
    client sees -- answers, error pages, keep-alive rules -- is the same."""
    protocol_version = "HTTP/1.1"
    server_version = "dcpki-emulator/1.0"
    sys_version = ""
    timeout = IDLE_TIMEOUT

    def parse_request(self):
        """BaseHTTPRequestHandler.parse_request of Python 3.11 (same checks, same
        error answers, same attributes set), except that the headers are read by
        http_headers.parse_headers instead of the email package."""
        self.command = self.path = None  # a line refused below leaves no earlier request's values
        self.request_version = version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            if version == "HTTP/1.1":  # nearly every request: what the parse below gives
                base_version_number, version_number = "1.1", (1, 1)
            else:
                try:
                    if not version.startswith("HTTP/"):
                        raise ValueError
                    base_version_number = version.split("/", 1)[1]
                    version_number = base_version_number.split(".")
                    if len(version_number) != 2:
                        raise ValueError
                    version_number = int(version_number[0]), int(version_number[1])
                except (ValueError, IndexError):
                    self.send_error(HTTPStatus.BAD_REQUEST,
                                    "Bad request version (%r)" % version)
                    return False
            if version_number >= (1, 1) and self.protocol_version >= "HTTP/1.1":
                self.close_connection = False
            if version_number >= (2, 0):
                self.send_error(HTTPStatus.HTTP_VERSION_NOT_SUPPORTED,
                                "Invalid HTTP version (%s)" % base_version_number)
                return False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(HTTPStatus.BAD_REQUEST, "Bad request syntax (%r)" % requestline)
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(HTTPStatus.BAD_REQUEST,
                                "Bad HTTP/0.9 request type (%r)" % command)
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # gh-87389: no open redirect via //host
            self.path = "/" + self.path.lstrip("/")
        try:
            self.headers = parse_headers(self.rfile)
        except http.client.LineTooLong as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long",
                            str(err))
            return False
        except http.client.HTTPException as err:
            self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers",
                            str(err))
            return False
        conntype = self.headers.get("Connection", "").lower()
        if conntype == "close":
            self.close_connection = True
        elif conntype == "keep-alive" and self.protocol_version >= "HTTP/1.1":
            self.close_connection = False
        expect = self.headers.get("Expect", "")
        if (expect.lower() == "100-continue" and self.protocol_version >= "HTTP/1.1"
                and self.request_version >= "HTTP/1.1"):
            if not self.handle_expect_100():
                return False
        return True

    def date_time_string(self, timestamp=None):
        if timestamp is None:
            return http_date()
        return super().date_time_string(timestamp)

    def do_GET(self):
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_GET

    def _read_body(self):
        te = (self.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            total = 0
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    return None
                size = int(line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                total += size
                if total > MAX_BODY:
                    return None
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = self.headers.get("Content-Length")
        if not length:
            return b""
        n = int(length)
        if n < 0 or n > MAX_BODY:
            return None
        return self.rfile.read(n)

    def _handle(self):
        app = self.server.app
        try:
            body = self._read_body()
        except (ValueError, OSError):
            body = None
        if body is None:
            self.close_connection = True
            self._send(app.render_error(self.path, 413 if self.headers.get("Content-Length")
                                        else 400, "request body unreadable or too large"))
            return
        if not hasattr(self, "_peer"):
            # the client certificate of this connection, parsed once
            try:
                der = self.connection.getpeercert(binary_form=True)
            except (ValueError, AttributeError):
                der = None
            serial = None
            if der:
                try:
                    serial = serial_hex(x509.load_der_x509_certificate(der).serial_number)
                except ValueError:
                    pass
            self._peer = (der, serial)
        req = Request(self.command, self.path, self.headers, body, self._peer[0],
                      self.client_address)
        req.peer_serial = self._peer[1]
        self._send(app.handle(req))

    def _send(self, resp):
        """The answer in one write (no Nagle / delayed-ACK stall between head and
        body): what send_response + send_header + end_headers would write, built
        in one string."""
        if self.request_version == "HTTP/0.9":  # no head at all; rare, the general way
            self._send_generic(resp)
            return
        self.log_request(resp.status)
        reason = self.responses.get(resp.status)
        head = ["%s %d %s\r\nServer: %s\r\nDate: %s\r\nContent-Type: %s\r\n"
                "Content-Length: %d\r\n" % (self.protocol_version, resp.status,
                                             reason[0] if reason else "",
                                             self.version_string(), http_date(),
                                             resp.content_type, len(resp.body))]
        for k, v in resp.headers.items():
            head.append("%s: %s\r\n" % (k, v))
            if k.lower() == "connection":  # as send_header does
                if v.lower() == "close":
                    self.close_connection = True
                elif v.lower() == "keep-alive":
                    self.close_connection = False
        head.append("Connection: close\r\n\r\n" if self.close_connection else "\r\n")
        data = "".join(head).encode("latin-1", "strict")
        self._headers_buffer = []  # what flush_headers leaves (see _send_generic)
        self.wfile.write(data + resp.body if self.command != "HEAD" else data)

    def _send_generic(self, resp):
        # send_* write nothing for HTTP/0.9; the list exists once an earlier
        # answer on this connection was sent (else AttributeError, as ever)
        self.send_response(resp.status)
        self.send_header("Content-Type", resp.content_type)
        self.send_header("Content-Length", str(len(resp.body)))
        for k, v in resp.headers.items():
            self.send_header(k, v)
        if self.close_connection:
            self.send_header("Connection", "close")
        self._headers_buffer.append(b"\r\n")
        if self.command != "HEAD":
            self._headers_buffer.append(resp.body)
        self.flush_headers()

    def log_request(self, code="-", size="-"):
        # a request line refused before its method and target were read logs "-"
        path = urllib.parse.urlsplit(self.path).path if self.path is not None else "-"
        self.server.app.log("%s %s %s" % (self.command or "-", path, getattr(code, "value", code)))

    def log_message(self, fmt, *args):
        self.server.app.log("%s: %s" % (self.client_address[0], fmt % args))


class EmulatorHTTPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128

    def __init__(self, app, address):
        self.app = app
        super().__init__(address, Handler)

    def server_bind(self):
        # HTTPServer.server_bind does a reverse DNS lookup (getfqdn); skip it
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = host
        self.server_port = port

    def share_listener(self):
        """Several worker processes accept on this socket: it becomes non-blocking,
        so a worker that loses the race for a connection goes back to its select
        (BlockingIOError is an OSError, which serve_forever ignores)."""
        self.socket.setblocking(False)

    def get_request(self):
        sock, addr = self.socket.accept()
        try:
            sock.setblocking(True)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            ctx = self.app.tls.get()
            return ctx.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), addr
        except Exception:
            sock.close()
            raise

    def finish_request(self, request, client_address):
        # the handshake runs in the connection's own thread, not the accept loop
        request.settimeout(HANDSHAKE_TIMEOUT)
        try:
            request.do_handshake()
        except (ssl.SSLError, OSError) as e:
            reason = (getattr(e, "verify_message", None) or getattr(e, "reason", None)
                      or getattr(e, "strerror", None) or str(e))
            self.app.log("%s: TLS handshake failed: %s" % (client_address[0], reason))
            return
        request.settimeout(None)
        self.RequestHandlerClass(request, client_address, self)

    def handle_error(self, request, client_address):
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, ssl.SSLError, socket.timeout, TimeoutError)):
            return
        self.app.log("error on a connection from %s:\n%s" % (client_address[0],
                                                             traceback.format_exc()))


def make_server(app, port=0, host="127.0.0.1"):
    return EmulatorHTTPServer(app, (host, port))

"""Command line of the emulator.

  dcpki-emulator --state DIR [--port N] [--delay-ms N] [--workers N] [--dedupe-txid]   serve
  dcpki-emulator ra-issue --state DIR --csr IN --out OUT [--days N]
  dcpki-emulator ra-revoke --state DIR --cert PEM
  dcpki-emulator fault --state DIR [--delay-ms N] [--status S] [--count K]
                       [--path-contains P] [--retry-after S] | --clear
  dcpki-emulator approve --state DIR (--id ID | --all) [--reject]
  dcpki-emulator profile --state DIR --oid OID [--pending on|off] [--refuse TEXT | --accept]
  dcpki-emulator health --state DIR up|down
  dcpki-emulator list --state DIR [--kind enrolled|ra|key-ca|pending] [--json | --count | --pairs]
"""
import argparse
import importlib
import ipaddress
import json
import os
import signal
import sys
import threading

from . import faults
from .server import App, make_server
from .state import EmulatorError, State, atomic_write, pem_cert

# Service modules, each with register(app); a module that is not there yet is skipped.
SERVICE_MODULES = ("signing_api", "pki_platform")
SUBCOMMANDS = ("serve", "ra-issue", "ra-revoke", "fault", "approve", "profile", "health", "list")


def load_services(app):
    names = []
    for name in SERVICE_MODULES:
        try:
            mod = importlib.import_module("." + name, __package__)
        except ModuleNotFoundError as e:
            if e.name == "%s.%s" % (__package__, name):
                continue
            raise
        mod.register(app)
        names.append(name)
    return names


def default_workers():
    """Worker processes when --workers is not given: one per CPU, 2 to 4."""
    return max(2, min(4, os.cpu_count() or 1))


def _die_with_parent():
    """A worker ends when the process that started it ends, even by SIGKILL."""
    try:
        import ctypes
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def _run_until_stopped(httpd, stop, what):
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                              daemon=True)
    thread.start()
    while not stop.wait(0.5):
        if not thread.is_alive():
            raise EmulatorError("the %s stopped unexpectedly" % what)
    httpd.shutdown()


def _start_worker(httpd, app, parent):
    """fork() a worker that serves the shared listening socket; returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        _die_with_parent()
        if os.getppid() != parent:
            os._exit(0)
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        signal.signal(signal.SIGINT, lambda signum, frame: stop.set())
        _run_until_stopped(httpd, stop, "worker %d" % os.getpid())
    except BaseException as e:  # noqa: B902 - a worker never returns into the parent's code
        app.log("worker %d: %s" % (os.getpid(), e))
        code = 1
    finally:
        os._exit(code)


def serve(args):
    state = State(args.state)
    state.ensure()
    _remove_stale_info(state.path("emulator.json"))
    app = App(state, delay_ms=args.delay_ms)
    app.dedupe_txid = args.dedupe_txid
    try:
        httpd = make_server(app, args.port, args.listen)
    except OSError as e:
        raise EmulatorError("cannot listen on %s:%d (%s); choose another --port or 0"
                            % (args.listen, args.port, e.strerror))
    port = httpd.server_address[1]
    host = "%s:%d" % (args.listen, port)
    url = "https://" + host
    app.info = {"url": url, "host": host, "port": port}
    services = load_services(app)
    # build the TLS context now so that a broken state fails before we announce
    app.tls.get()
    nworkers = args.workers if args.workers is not None else default_workers()

    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    workers = []
    if nworkers > 1:
        # several processes accept on one socket: a Python process serves one
        # request at a time (GIL), and a signature costs the server far more
        # CPU than the client; the state is on disk under flock, signature
        # records in a shared file, so any worker answers any request
        httpd.share_listener()
        parent = os.getpid()
        for _ in range(nworkers):
            workers.append(_start_worker(httpd, app, parent))
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    if not workers:
        thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.2},
                                  daemon=True)
        thread.start()

    info = {
        "url": url,
        "host": host,
        "port": port,
        "pid": os.getpid(),
        "workers": workers or [os.getpid()],
        "trust": state.tls_ca_pem,
        "root": state.root_pem,
        "api_key_file": state.api_key_file,
        "ra_ca": state.ra_ca_pem,
        "state": state.dir,
        "signing_url": url + "/signingmanager/api/v1",
        "services": services,
    }
    if "pki_platform" in services:
        info["pki_ws"] = url + "/pki-ws"
        info["profiles"] = state.path("profiles.json")
        info["crl"] = url + "/crl/issuing-ca.crl"
    info_path = state.path("emulator.json")
    atomic_write(info_path, json.dumps(info, indent=1) + "\n")
    app.log("listening on %s (state %s, services: %s, %s)" % (
        url, state.dir, ", ".join(services),
        "%d worker processes" % len(workers) if workers else "one process"))
    try:
        while not stop.wait(0.5):
            if workers:
                pid, _ = os.waitpid(-1, os.WNOHANG)
                if pid in workers:
                    raise EmulatorError("worker process %d stopped unexpectedly" % pid)
            elif not thread.is_alive():
                raise EmulatorError("the server thread stopped unexpectedly")
    finally:
        for pid in workers:
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        for pid in workers:
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
        if not workers:
            httpd.shutdown()
        httpd.server_close()
        try:
            with open(info_path) as f:
                mine = json.load(f).get("pid") == os.getpid()
            if mine:
                os.unlink(info_path)
        except (OSError, ValueError):
            pass
        app.log("stopped")
    return 0


def _remove_stale_info(path):
    """An emulator.json left by a killed emulator, or copied with the state from
    another directory, must not be mistaken for ours."""
    try:
        with open(path) as f:
            old = json.load(f)
        pid = int(old.get("pid"))
        same_dir = old.get("state") == os.path.dirname(os.path.abspath(path))
    except (OSError, ValueError, TypeError, AttributeError):
        pid, same_dir = None, False
    if pid is not None and same_dir:
        try:
            os.kill(pid, 0)
            return  # another emulator serves this state: it keeps its file until we write ours
        except ProcessLookupError:
            pass
        except PermissionError:
            return
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


def ra_issue(args):
    try:
        with open(args.csr, "rb") as f:
            csr = f.read()
    except OSError as e:
        raise EmulatorError("cannot read the CSR %s (%s); check the path" % (args.csr, e.strerror))
    state = State(args.state)
    cert = state.issue_ra_cert(csr, args.days)
    try:
        atomic_write(args.out, pem_cert(cert))
    except OSError as e:
        raise EmulatorError("cannot write %s (%s); check the directory" % (args.out, e.strerror))
    print("issued RA certificate serial %X for %s -> %s" % (
        cert.serial_number, cert.subject.rfc4514_string(), args.out), file=sys.stderr)
    return 0


def ra_revoke(args):
    try:
        with open(args.cert, "rb") as f:
            pem = f.read()
    except OSError as e:
        raise EmulatorError("cannot read %s (%s); check the path" % (args.cert, e.strerror))
    state = State(args.state)
    state.ensure()
    serial = state.revoke_ra_cert(pem)
    print("revoked RA certificate serial %s" % serial, file=sys.stderr)
    return 0


def fault(args):
    if args.clear:
        if any(v is not None for v in (args.delay_ms, args.status, args.count, args.path_contains,
                                       args.retry_after)):
            raise EmulatorError("--clear takes no other fault option")
        faults.clear(args.state)
        return 0
    entry = {}
    for key in ("delay_ms", "status", "count", "path_contains", "retry_after"):
        v = getattr(args, key)
        if v is not None:
            entry[key] = v
    if not entry or set(entry) <= {"count", "path_contains"}:
        raise EmulatorError("give --delay-ms and/or --status (or --clear)")
    faults.write(args.state, entry)
    return 0


def _pki():
    try:
        return importlib.import_module(".pki_platform", __package__)
    except ModuleNotFoundError:
        raise EmulatorError("this emulator has no PKI Platform services")


def approve(args):
    pki = _pki()
    state = State(args.state)
    state.ensure()
    if args.all:
        ids = [pid for pid, p in state.load().get("pending", {}).items()
               if p["status"] == "PENDING"]
    else:
        ids = [args.id]
    for pid in ids:
        serial = pki.approve_pending(state, pid, reject=args.reject)
        if args.reject:
            print("rejected %s" % pid, file=sys.stderr)
        else:
            print("approved %s: certificate serial %s" % (pid, serial), file=sys.stderr)
    if not ids:
        print("no pending requests", file=sys.stderr)
    return 0


def profile(args):
    pki = _pki()
    changes = {}
    if args.pending is not None:
        changes["pending"] = args.pending == "on"
    if args.refuse is not None:
        changes["refuse"] = args.refuse
    if args.accept:
        changes["refuse"] = None
    if not changes:
        raise EmulatorError("give --pending on|off, --refuse TEXT or --accept")
    pki.update_profile(State(args.state), args.oid, **changes)
    return 0


def health(args):
    state = State(args.state)
    state.ensure()
    flag = state.path("health-down")
    if args.updown == "down":
        atomic_write(flag, "down\n")
    else:
        try:
            os.unlink(flag)
        except FileNotFoundError:
            pass
    return 0


def list_cmd(args):
    """What the CA holds: issued certificates (of one kind) or pending requests."""
    state = State(args.state)
    data = state.load()
    if args.kind == "pending":
        rows = [dict(p, id=pid) for pid, p in data.get("pending", {}).items()]
        for r in rows:
            r.pop("csr", None)
        cols = ("id", "status", "profile", "subject")
    else:
        rows = [e for e in data["issued"] if args.kind in (None, e["kind"])]
        rows = [{k: v for k, v in e.items() if k != "pem"} for e in rows]
        cols = ("serial", "status", "kind", "profile", "subject")
    if args.count:
        print(len(rows))
    elif args.pairs:
        # one line per entry: serial (or pending id), then every nameValuePair of its
        # enrollment request as name=value, tab-separated
        for r in rows:
            pairs = ["%s=%s" % (n, v) for n, v in r.get("pairs") or ()]
            print("\t".join([str(r.get(cols[0]) or "-")] + pairs))
    elif args.json:
        print(json.dumps(rows, indent=1))
    else:
        for r in rows:
            print("\t".join(str(r.get(c) if r.get(c) is not None else "-") for c in cols))
    return 0


def build_parser(sub):
    if sub is None or sub == "serve":
        p = argparse.ArgumentParser(prog="dcpki-emulator",
                                    description="Local cloud-CA emulator (signing service and "
                                    "PKI Platform) over HTTPS with mutual TLS on 127.0.0.1. "
                                    "Subcommands: ra-issue, ra-revoke, fault, approve, profile, health, list "
                                    "(see SUB --help).")
        p.add_argument("--state", required=True, help="state directory (created on first start)")
        p.add_argument("--port", type=int, default=0, help="TCP port (0 = any free port)")
        p.add_argument("--delay-ms", type=int, default=0, help="delay every request by N ms")
        p.add_argument("--workers", type=int, default=None, metavar="N",
                       help="worker processes accepting connections (default: one per CPU, "
                       "2 to 4; 1 = a single process)")
        p.add_argument("--dedupe-txid", action="store_true",
                       help="answer an enrollment whose clientTransactionID was seen before "
                       "with the certificate already issued for it (same CSR) or the fault "
                       "DUPLICATE_TRANSACTION (another CSR); default: every Issue/Renew is a "
                       "new request, as nothing public says the real service de-duplicates")
        p.add_argument("--listen", default="127.0.0.1", metavar="IPV4",
                       help="loopback address to listen on (default 127.0.0.1, the only one "
                       "the server certificate names; another, e.g. 127.0.0.2, makes a "
                       "wrong-host case)")
        p.set_defaults(func=serve)
        return p
    p = argparse.ArgumentParser(prog="dcpki-emulator " + sub)
    p.add_argument("--state", required=True, help="state directory")
    if sub == "ra-issue":
        p.description = "Portal step: issue an RA (TLS client) certificate for a CSR."
        p.add_argument("--csr", required=True, help="PKCS#10 request, PEM or DER")
        p.add_argument("--out", required=True, help="where to write the PEM certificate")
        p.add_argument("--days", type=int, default=365, help="validity in days (default 365)")
        p.set_defaults(func=ra_issue)
    elif sub == "ra-revoke":
        p.description = "Revoke an RA certificate; the server refuses it from then on."
        p.add_argument("--cert", required=True, help="the RA certificate (PEM)")
        p.set_defaults(func=ra_revoke)
    elif sub == "fault":
        p.description = "Write or clear STATE/faults.json (re-read on every request)."
        p.add_argument("--delay-ms", type=int, help="sleep N ms before answering")
        p.add_argument("--status", type=int, help="answer with this HTTP status")
        p.add_argument("--count", type=int, help="affect K requests, then the fault is used up")
        p.add_argument("--path-contains", help="only requests whose path contains P")
        p.add_argument("--retry-after", type=int, help="Retry-After header (seconds)")
        p.add_argument("--clear", action="store_true", help="remove the fault")
        p.set_defaults(func=fault)
    elif sub == "approve":
        p.description = ("Administrator decision on pending enrollment requests (profiles with "
                         "\"pending\": true): issue them, or --reject.")
        g = p.add_mutually_exclusive_group(required=True)
        g.add_argument("--id", help="pendingTokenReferenceID")
        g.add_argument("--all", action="store_true", help="every pending request")
        p.add_argument("--reject", action="store_true", help="reject instead of issuing")
        p.set_defaults(func=approve)
    elif sub == "profile":
        p.description = "Change a certificate profile in STATE/profiles.json."
        p.add_argument("--oid", required=True, help="profile OID")
        p.add_argument("--pending", choices=("on", "off"),
                       help="leave requests pending until 'approve'")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--refuse", metavar="TEXT", help="refuse every request with this fault text")
        g.add_argument("--accept", action="store_true", help="stop refusing requests")
        p.set_defaults(func=profile)
    elif sub == "list":
        p.description = ("List what the CA holds: issued certificates (serial, status, kind, "
                         "profile, subject) or pending enrollment requests.")
        p.add_argument("--kind", choices=("enrolled", "ra", "key-ca", "pending"),
                       help="only this kind (default: every issued certificate)")
        g = p.add_mutually_exclusive_group()
        g.add_argument("--json", action="store_true", help="JSON array")
        g.add_argument("--count", action="store_true", help="only the number")
        g.add_argument("--pairs", action="store_true",
                       help="serial (pending: id) and the request's nameValuePairs as "
                       "name=value, tab-separated, one line per entry")
        p.set_defaults(func=list_cmd)
    elif sub == "health":
        p.description = "What the health check service answers: UP or DOWN."
        p.add_argument("updown", choices=("up", "down"), metavar="up|down")
        p.set_defaults(func=health)
    return p


def main(argv=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    sub = argv[0] if argv and argv[0] in SUBCOMMANDS else None
    if sub:
        argv = argv[1:]
    args = build_parser(sub).parse_args(argv)
    if getattr(args, "workers", None) is not None and args.workers < 1:
        print("dcpki-emulator: --workers must be at least 1", file=sys.stderr)
        return 1
    for key in ("port", "delay_ms", "days", "count", "retry_after", "status"):
        v = getattr(args, key, None)
        if v is not None and v < 0:
            print("dcpki-emulator: --%s must not be negative" % key.replace("_", "-"),
                  file=sys.stderr)
            return 1
    listen = getattr(args, "listen", "127.0.0.1")
    try:
        if not ipaddress.IPv4Address(listen).is_loopback:
            raise ValueError
    except ValueError:
        print("dcpki-emulator: --listen must be an IPv4 loopback address (127.x.y.z)",
              file=sys.stderr)
        return 1
    if getattr(args, "port", 0) > 65535:
        print("dcpki-emulator: --port must be at most 65535", file=sys.stderr)
        return 1
    try:
        return args.func(args)
    except EmulatorError as e:
        print("dcpki-emulator: %s" % e, file=sys.stderr)
        return 1

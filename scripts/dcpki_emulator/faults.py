"""Fault injection: STATE/faults.json, re-read on every request.

Format (all keys optional), an object or a list of such objects:
  {"delay_ms": N, "status": 503, "count": K, "path_contains": "/sign", "retry_after": S}
An entry applies to requests whose path contains path_contains (every request
when absent) where the match ends at a segment boundary: "/sign" matches
.../keypairs/K/sign but not /signingmanager/...; "/keypairs" matches
.../keypairs and .../keypairs/K. count = number of requests to affect, after which the entry is
used up and removed; without count it affects every matching request.
delay_ms sleeps before answering; status answers with that HTTP status and a
JSON (or, for SOAP services, SOAP) error, with Retry-After when retry_after is set.
The count is decremented under the state lock, so concurrent requests and
processes use up exactly K.
"""
import functools
import json
import os

from .state import EmulatorError, atomic_write, file_lock

FAULTS_FILE = "faults.json"
KEYS = ("delay_ms", "status", "count", "path_contains", "retry_after")


class Fault:
    def __init__(self, delay_ms=0, status=None, retry_after=None):
        self.delay_ms = delay_ms
        self.status = status
        self.retry_after = retry_after

    def __repr__(self):
        return "Fault(delay_ms=%r, status=%r, retry_after=%r)" % (
            self.delay_ms, self.status, self.retry_after)


@functools.lru_cache(maxsize=None)  # consume() looks for the file on every request
def _path(state_dir):
    return os.path.join(state_dir, FAULTS_FILE)


def _lock(state_dir):
    return file_lock(os.path.join(state_dir, ".faults.lock"))


def path_matches(path, part):
    """part occurs in path and the occurrence is not followed by more of a word."""
    start = 0
    while True:
        i = path.find(part, start)
        if i < 0:
            return False
        end = i + len(part)
        if end == len(path) or not (part[-1].isalnum() or part[-1] in "-_") \
                or not (path[end].isalnum() or path[end] in "-_"):
            return True
        start = i + 1


def validate(entry):
    if not isinstance(entry, dict):
        raise EmulatorError("a fault entry must be a JSON object")
    for k in entry:
        if k not in KEYS:
            raise EmulatorError("unknown fault key %r; allowed: %s" % (k, ", ".join(KEYS)))
    for k in ("delay_ms", "status", "count", "retry_after"):
        if k in entry and (not isinstance(entry[k], int) or isinstance(entry[k], bool)
                           or entry[k] < 0):
            raise EmulatorError("fault key %s must be a non-negative integer" % k)
    if "status" in entry and not 100 <= entry["status"] <= 599:
        raise EmulatorError("fault status must be an HTTP status between 100 and 599")
    if "path_contains" in entry and not isinstance(entry["path_contains"], str):
        raise EmulatorError("fault key path_contains must be a string")
    return entry


def write(state_dir, entry):
    validate(entry)
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    with _lock(state_dir):
        atomic_write(_path(state_dir), json.dumps(entry, indent=1))


def clear(state_dir):
    with _lock(state_dir):
        try:
            os.unlink(_path(state_dir))
        except FileNotFoundError:
            pass


def consume(state_dir, path):
    """The fault to apply to a request for path, or None. Uses up one count."""
    fpath = _path(state_dir)
    if not os.path.exists(fpath):
        return None
    with _lock(state_dir):
        try:
            with open(fpath) as f:
                raw = json.load(f)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise EmulatorError("faults.json is not valid JSON (%s); fix it or run "
                                "'dcpki-emulator fault --clear'" % e)
        entries = raw if isinstance(raw, list) else [raw]
        chosen = None
        for i, entry in enumerate(entries):
            if not isinstance(entry, dict):
                continue
            pc = entry.get("path_contains")
            if pc and not path_matches(path, pc):
                continue
            count = entry.get("count")
            if count is not None:
                if count <= 0:
                    continue
                entry["count"] = count - 1
            chosen = entry
            break
        if chosen is None:
            return None
        if chosen.get("count") is not None:
            remaining = [e for e in entries if not (isinstance(e, dict)
                                                    and e.get("count") is not None
                                                    and e["count"] <= 0)]
            if not remaining:
                os.unlink(fpath)
            else:
                out = remaining if isinstance(raw, list) else remaining[0]
                atomic_write(fpath, json.dumps(out, indent=1))
        return Fault(delay_ms=int(chosen.get("delay_ms") or 0), status=chosen.get("status"),
                     retry_after=chosen.get("retry_after"))

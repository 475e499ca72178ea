"""Signature records: one JSON line each in STATE/signatures.jsonl, so that any
worker process can answer GET signatures/{id} for a signature another made.

Every worker appends with O_APPEND and one write() per record, so lines of
concurrent workers never interleave. Past ROTATE_BYTES the file becomes
signatures.jsonl.1 (the previous .1 is dropped): the last ~7,000 to 14,000
records can be read back.

A worker keeps its descriptor open between records (opening and closing the
file for every signature cost more than the write). Before each write it
stats the path: when the file was rotated away (by any worker), the
descriptor is reopened, so a record never goes to a dropped file; a record
written in the instant of a rotation lands in .1, which is still read.
"""
import json
import os
import threading

from .state import file_lock

RECORDS = "signatures.jsonl"
ROTATE_BYTES = 4 * 1024 * 1024


class SignatureRecords:
    def __init__(self, path):
        self.path = path
        self._lock = threading.Lock()  # threads of this process share the descriptor
        self._fd = None
        self._id = None                # (st_dev, st_ino) of the open file

    def append(self, line):
        """Append one record line (bytes ending in a newline)."""
        with self._lock:
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                st = None
            if st is None or self._fd is None or (st.st_dev, st.st_ino) != self._id:
                self._reopen()
                st = os.fstat(self._fd)
            os.write(self._fd, line)
        if st.st_size + len(line) > ROTATE_BYTES:
            self._rotate()

    def _reopen(self):
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)
        st = os.fstat(fd)
        self._fd, self._id = fd, (st.st_dev, st.st_ino)

    def _rotate(self):
        with file_lock(self.path + ".lock"):
            try:
                if os.stat(self.path).st_size > ROTATE_BYTES:
                    os.replace(self.path, self.path + ".1")
            except FileNotFoundError:
                pass

    def find(self, rec_id):
        """The record with this id (a dict), or None."""
        needle = ('"id":%s,' % json.dumps(rec_id)).encode()
        for path in (self.path, self.path + ".1"):
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except FileNotFoundError:
                continue
            i = data.rfind(needle)
            if i >= 0 and (i == 1 and data[0:1] == b"{" or data[i - 2:i] == b"\n{"):
                end = data.find(b"\n", i)
                return json.loads(data[i - 1:end if end >= 0 else len(data)])
        return None

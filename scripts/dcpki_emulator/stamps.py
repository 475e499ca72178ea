"""Identifiers and timestamps made per request, cheaper than the
standard library calls they stand for.

uuid4() gives what str(uuid.uuid4()) gives -- a version 4 UUID from os.urandom --
without building a UUID object and making a getrandom() call per identifier:
random bytes are drawn 256 identifiers at a time. The pool is emptied in a
forked child, so worker processes never share identifiers.

iso_now() is state.iso(state.utcnow()) and http_date() the Date header's value,
each formatted once per second.
"""
import collections
import email.utils
import os
import time

_BATCH = 256
_pool = collections.deque()  # formatted identifiers; popleft() is atomic between threads


def _refill():
    raw = bytearray(os.urandom(16 * _BATCH))
    out = []
    for i in range(0, len(raw), 16):
        raw[i + 6] = (raw[i + 6] & 0x0F) | 0x40  # version 4
        raw[i + 8] = (raw[i + 8] & 0x3F) | 0x80  # RFC 4122 variant
        h = raw[i:i + 16].hex()
        out.append("%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:]))
    _pool.extend(out)


def uuid4():
    while True:
        try:
            return _pool.popleft()
        except IndexError:
            _refill()


os.register_at_fork(after_in_child=_pool.clear)

def _per_second(fmt):
    """A function giving fmt(now) for the current second, formatted once per second.
    Its (second, text) pair is replaced whole: thread-safe."""
    last = [(None, "")]

    def now_text():
        now = int(time.time())
        second, text = last[0]
        if second != now:
            text = fmt(now)
            last[0] = (now, text)
        return text
    return now_text


# the current UTC time as YYYY-MM-DDTHH:MM:SSZ (as state.iso(state.utcnow()))
iso_now = _per_second(lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t)))
# the Date header's value for now (email.utils.formatdate(usegmt=True))
http_date = _per_second(lambda t: email.utils.formatdate(t, usegmt=True))

"""Request header parsing for the HTTP server, faster than the standard library's.

http.server parses every request's headers with the email package (feedparser +
policy objects), which cost the emulator more CPU than the rest of a signing
request outside the signature itself. parse_headers here gives the same result:

- Reading: the block ends at the first empty line, and http.client reads it line
  by line with limits (a line over _MAXLINE: LineTooLong; over _MAXHEADERS lines:
  HTTPException). When the whole block already sits in the reader's buffer with
  every line ending in CRLF, within both limits, it is taken in one read --
  the same bytes; otherwise the lines are read one by one as http.client does.
- Parsing: a block of "Name: value" lines (each ending in CRLF or LF) becomes a
  plain case-insensitive mapping with the values the email parser gives. Any
  other line (a continuation, a name with a space or none, a bare CR, an mbox
  "From " line, no empty line before EOF, ...) sends the whole block through
  the email parser, so odd requests are read exactly as before.
"""
import email.parser
import http.client
import re

# The ordinary block: field lines, then the empty line. A field name is made of
# the characters the email parser accepts in one (printable ASCII but ":"); a
# value has no CR or LF (the email parser splits lines at a bare CR too).
_SIMPLE_BLOCK = re.compile(r"((?:[\x21-\x39\x3b-\x7e]+:[^\r\n]*\r?\n)*)\r?\n")
# One field of such a block: the email parser strips blanks before the value
# (and the line ending after it).
_FIELD = re.compile(r"([\x21-\x39\x3b-\x7e]+):[ \t]*([^\r\n]*)\r?\n")


class Headers:
    """The headers of a request, read like email.message.Message: get() and []
    return the first field of that name (any case), or the default / None."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields):
        self._fields = fields  # [(name, value)] in request order
        first = {}
        for name, value in reversed(fields):
            first[name.lower()] = value
        self._first = first

    def get(self, name, failobj=None):
        return self._first.get(name.lower(), failobj)

    def __getitem__(self, name):
        return self._first.get(name.lower())

    def __contains__(self, name):
        return name.lower() in self._first

    def items(self):
        return list(self._fields)


def read_header_block(fp):
    """The header block up to and including the empty line (or EOF): the bytes
    http.client reads (with its limits and exceptions), taken in one read when
    they are buffered."""
    peek = getattr(fp, "peek", None)
    if peek is not None:
        buf = peek()
        if buf[:2] == b"\r\n":
            end = 2
        else:
            i = buf.find(b"\r\n\r\n")
            end = i + 4 if i >= 0 else 0
        if end:
            block = buf[:end]
            # CRLF lines only: then the first CRLF CRLF is the first empty line
            lines = block.count(b"\n")
            if (lines == block.count(b"\r\n") and lines <= http.client._MAXHEADERS
                    and end <= http.client._MAXLINE):
                return fp.read(end)
    return b"".join(http.client._read_headers(fp))


def parse_header_block(block):
    """Headers (or, for an unusual block, the email parser's HTTPMessage)."""
    text = block.decode("iso-8859-1")
    m = _SIMPLE_BLOCK.fullmatch(text)
    if m is None:
        return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)
    return Headers(_FIELD.findall(m.group(1)))


def parse_headers(fp):
    """Same answer as http.client.parse_headers(fp) for the uses of a request's headers."""
    return parse_header_block(read_header_block(fp))

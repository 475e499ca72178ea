"""Request header parsing for the HTTP server, faster than the standard library's.

http.server parses every request's headers with the email package (feedparser +
policy objects), which cost the emulator more CPU than the rest of a signing
request outside the signature itself. parse_headers here gives the same result:
it reads the lines exactly as http.client.parse_headers does (same limits, same
exceptions), and for the ordinary shape of a header block -- "Name: value" lines,
each ending in LF or CRLF -- builds a plain case-insensitive mapping. Any other
line (a continuation, a name with a space or none, a bare CR, an mbox "From "
line, ...) sends the whole block through the email parser, so odd requests are
read exactly as before.
"""
import email.parser
import http.client
import re

# A line the fast path takes: a non-empty field name of the characters the email
# parser accepts in a name (printable ASCII except ":"), then ":" and anything
# without CR (the email parser splits lines at a bare CR too); the line ending
# (CRLF or LF) is removed before matching.
_SIMPLE_LINE = re.compile(r"([\x21-\x39\x3b-\x7e]+):([^\r]*)")


class Headers:
    """The headers of a request, read like email.message.Message: get() and []
    return the first field of that name (any case), or the default / None."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields):
        self._fields = fields  # [(name, value)] in request order
        first = {}
        for name, value in fields:
            first.setdefault(name.lower(), value)
        self._first = first

    def get(self, name, failobj=None):
        return self._first.get(name.lower(), failobj)

    def __getitem__(self, name):
        return self._first.get(name.lower())

    def __contains__(self, name):
        return name.lower() in self._first

    def items(self):
        return list(self._fields)


def read_header_lines(fp):
    """The raw header lines up to and including the empty line (or EOF), with
    http.client's limits: LineTooLong for a line over _MAXLINE, HTTPException
    past _MAXHEADERS lines."""
    maxline = http.client._MAXLINE
    maxheaders = http.client._MAXHEADERS
    lines = []
    while True:
        line = fp.readline(maxline + 1)
        if len(line) > maxline:
            raise http.client.LineTooLong("header line")
        lines.append(line)
        if len(lines) > maxheaders:
            raise http.client.HTTPException("got more than %d headers" % maxheaders)
        if line in (b"\r\n", b"\n", b""):
            return lines


def parse_header_lines(lines):
    """Headers (or, for an unusual block, the email parser's HTTPMessage) of the
    lines read by read_header_lines."""
    fields = []
    match = _SIMPLE_LINE.fullmatch
    for raw in lines[:-1]:
        text = raw.decode("iso-8859-1")
        if text.endswith("\r\n"):
            text = text[:-2]
        elif text.endswith("\n"):
            text = text[:-1]
        m = match(text)
        if m is None:  # (an mbox "From " line has a space before any ":")
            return _email_parse(lines)
        # the email parser strips leading blanks of the value and line-end
        # characters at its end (there are none left: no CR in the line)
        fields.append((m.group(1), m.group(2).lstrip(" \t")))
    return Headers(fields)


def _email_parse(lines):
    text = b"".join(lines).decode("iso-8859-1")
    return email.parser.Parser(_class=http.client.HTTPMessage).parsestr(text)


def parse_headers(fp):
    """Same answer as http.client.parse_headers(fp) for the uses of a request's headers."""
    return parse_header_lines(read_header_lines(fp))

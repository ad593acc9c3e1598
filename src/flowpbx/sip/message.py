"""SIP messages (RFC 3261 §7): parsing from bytes, building, serialising.

Sans-I/O: ``parse_message(datagram)`` turns bytes into a ``Request`` or ``Response``;
``to_bytes()`` turns them back. Header values are kept as raw strings in ``Headers`` (an
ordered, case-insensitive multimap with compact forms normalised, RFC 3261 §7.3.3) and the
structured ones (Via, From, To, CSeq, Contact, Request-URI) are parsed lazily and cached.

Validation happens in two steps:

* ``parse_message`` refuses what cannot be framed or tokenised: a bad start line, a bad
  header line, a bad Content-Length, a version other than SIP/2.0 (505). It raises
  ``SipParseError``; for requests it is a ``RequestParseError`` carrying the identifiable
  part of the request (``err.request``) so the caller can answer
  ``make_response(err.request, err.status_hint)``;
  for responses ``status_hint`` is None (drop, RFC 3261 §18.1.2).
* ``check_request`` / ``check_response`` validate the headers every transaction and dialog
  relies on (Via, From, To, Call-ID, CSeq, Max-Forwards, Contact) and the UAS rules of
  RFC 3261 §8.2 (416, 420, 415, 406). Run them on every received message before handing it
  to the transaction layer; after a successful check the accessors (``.cseq``, ``.vias``,
  ``.from_`` ...) cannot raise.

Accessors on an unchecked message raise ``SipParseError(400)`` when a header is missing or
malformed. Exceptions: see ``flowpbx.sip.errors``.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from flowpbx.sip.errors import LocalSipError, SipParseError
from flowpbx.sip.headers import HEADER_NAMES, CSeq, Headers, NameAddr, Via, is_token
from flowpbx.sip.numeric import is_digits, parse_delta, parse_uint
from flowpbx.sip.uri import SipUri

__all__ = [
    "DEFAULT_ACCEPT",
    "DEFAULT_SUPPORTED",
    "REASON_PHRASES",
    "Request",
    "RequestParseError",
    "Response",
    "check_request",
    "check_response",
    "diagnose_request",
    "frame_stream",
    "make_response",
    "new_branch",
    "new_call_id",
    "new_tag",
    "parse_message",
    "unsupported_extensions",
]

# -- messages --------------------------------------------------------------------------------


class RequestParseError(SipParseError):
    """A broken request: ``request`` is its identifiable part (None when it has none).

    ``make_response(err.request, err.status_hint)`` answers it when ``request`` is set.
    """

    request: Request | None

    def __init__(self, message: str, status_hint: int | None, request: Request | None) -> None:
        super().__init__(message, status_hint)
        self.request = request


def _need(headers: Headers, name: str) -> str:
    value = headers.get(name)
    if value is None:
        raise SipParseError(f"missing {name} header", 400)
    return value


class _Accessors:
    """Header accessors shared by Request and Response (parsed lazily, cached on Headers)."""

    __slots__ = ()
    headers: Headers
    body: bytes

    @property
    def call_id(self) -> str:
        return _need(self.headers, "Call-ID")

    # The parsed values are cached on the Headers (dropped on any change); read the cache
    # directly rather than through memo(): these run several times for every message.

    @property
    def cseq(self) -> CSeq:
        cache = self.headers._cache
        value = cache.get("cseq")
        if value is None:
            value = cache["cseq"] = CSeq.parse(_need(self.headers, "CSeq"))
        return cast(CSeq, value)

    @property
    def vias(self) -> list[Via]:
        cache = self.headers._cache
        value = cache.get("vias")
        if value is None:
            value = cache["vias"] = [Via.parse(v) for v in self.headers.get_all("Via")]
        return cast(list[Via], value)

    @property
    def top_via(self) -> Via:
        vias = self.vias
        if not vias:
            raise SipParseError("missing Via header", 400)
        return vias[0]

    @property
    def from_(self) -> NameAddr:
        cache = self.headers._cache
        value = cache.get("from")
        if value is None:
            value = cache["from"] = NameAddr.parse(_need(self.headers, "From"))
        return cast(NameAddr, value)

    @property
    def to(self) -> NameAddr:
        cache = self.headers._cache
        value = cache.get("to")
        if value is None:
            value = cache["to"] = NameAddr.parse(_need(self.headers, "To"))
        return cast(NameAddr, value)

    @property
    def contacts(self) -> list[NameAddr]:
        """Contact values; a ``*`` wildcard (REGISTER, RFC 3261 §10.2.2) is left out."""
        cache = self.headers._cache
        value = cache.get("contacts")
        if value is None:
            value = cache["contacts"] = [
                NameAddr.parse(c) for c in self.headers.get_all("Contact") if c != "*"
            ]
        return cast(list[NameAddr], value)

    @property
    def record_routes(self) -> list[NameAddr]:
        h = self.headers
        return h.memo("rr", lambda: [NameAddr.parse(v) for v in h.get_all("Record-Route")])

    @property
    def routes(self) -> list[NameAddr]:
        h = self.headers
        return h.memo("route", lambda: [NameAddr.parse(v) for v in h.get_all("Route")])

    @property
    def content_type(self) -> str | None:
        """The media type of the body, lower-cased, without parameters."""
        ct = self.headers.get("Content-Type")
        if ct is None:
            return None
        return ct.split(";", 1)[0].strip().lower()

    @property
    def expires(self) -> int | None:
        """The Expires header in seconds (clamped to 2**32-1), None if absent or malformed."""
        v = self.headers.get("Expires")
        return None if v is None else parse_delta(v)

    @property
    def sdp(self) -> bytes | None:
        """The SDP body, also when it is one part of a multipart body."""
        from flowpbx.sip.multipart import find_sdp  # multipart.py builds on Headers

        return find_sdp(self.content_type, self.headers.get("Content-Type"), self.body)


@dataclass(slots=True, eq=False)
class Request(_Accessors):
    """A SIP request (RFC 3261 §7.1). ``uri`` is the Request-URI as text."""

    method: str
    uri: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"
    _ruri: tuple[str, SipUri] | None = field(default=None, init=False, repr=False)

    @property
    def ruri(self) -> SipUri:
        """The Request-URI parsed (cached while ``uri`` is unchanged)."""
        cached = self._ruri
        if cached is not None and cached[0] is self.uri:
            return cached[1]
        parsed = SipUri.parse(self.uri)
        self._ruri = (self.uri, parsed)
        return parsed

    @property
    def max_forwards(self) -> int | None:
        v = self.headers.get("Max-Forwards")
        if v is None:
            return None
        hops = parse_uint(v, 5)
        if hops is None or hops > 255:
            raise SipParseError(f"bad Max-Forwards {v[:20]!r}", 400)
        return hops

    def to_bytes(self) -> bytes:
        out = [f"{self.method} {self.uri} {self.version}\r\n"]
        return _finish(out, self.headers, self.body)

    def __repr__(self) -> str:
        return f"<Request {self.method} {self.uri} call-id={self.headers.get('Call-ID')!r}>"


@dataclass(slots=True, eq=False)
class Response(_Accessors):
    """A SIP response (RFC 3261 §7.2)."""

    status: int
    reason: str
    headers: Headers
    body: bytes = b""
    version: str = "SIP/2.0"

    def to_bytes(self) -> bytes:
        out = [f"{self.version} {self.status} {self.reason}\r\n"]
        return _finish(out, self.headers, self.body)

    def __repr__(self) -> str:
        return f"<Response {self.status} {self.reason} call-id={self.headers.get('Call-ID')!r}>"


def _finish(out: list[str], headers: Headers, body: bytes) -> bytes:
    # RFC 3261 §20.14: always write a Content-Length that matches the body.
    headers._write(out, "content-length")
    out.append(f"Content-Length: {len(body)}\r\n\r\n")
    head = "".join(out).encode("utf-8", "surrogateescape")
    return head + body if body else head


# -- parsing ---------------------------------------------------------------------------------


def parse_message(data: bytes, *, stream: bool = False) -> Request | Response:
    """Parse one SIP message from a datagram (RFC 3261 §7, §18.3).

    Leading CRLFs are skipped (RFC 3261 §7.5). The body is framed by Content-Length: octets
    after it are discarded (UDP), a Content-Length larger than the data is an error (400). A
    missing Content-Length means "the rest of the datagram" unless ``stream`` is true (TCP,
    where it is mandatory). Header lines may be folded and may end in bare LF.
    """
    if not data or data[0] in (13, 10):
        data = data.lstrip(b"\r\n")
        if not data:
            raise SipParseError("empty message (keep-alive)", None)
    end = data.find(b"\r\n\r\n")
    if end >= 0:
        body_start = end + 4
    else:
        end = data.find(b"\n\n")
        if end < 0:
            raise SipParseError("no blank line after the headers", _hint_for(data))
        body_start = end + 2
    head = data[:end].decode("utf-8", "surrogateescape")
    if "\r" in head:
        head = head.replace("\r\n", "\n")
        if "\r" in head:
            raise SipParseError("bare CR in the header section", _hint_for(data))
    lines = head.split("\n")
    start_line = lines[0]
    is_response = start_line.startswith("SIP/")

    # Header lines (RFC 3261 §7.3): name HCOLON value, folded lines continue the previous one.
    items: list[tuple[str, str, str]] = []
    header_error: str | None = None
    for idx in range(1, len(lines)):
        line = lines[idx]
        if not line:
            header_error = "empty header line"
            break
        c0 = line[0]
        if c0 == " " or c0 == "\t":
            if not items:
                header_error = "continuation line before any header"
                break
            text = line.strip(" \t")
            if text:
                k, n, v = items[-1]
                items[-1] = (k, n, f"{v} {text}" if v else text)
            continue
        colon = line.find(":")
        if colon <= 0:
            header_error = f"header line without a colon: {line[:40]!r}"
            break
        name = line[:colon].rstrip(" \t")
        lname = name.lower()
        known = HEADER_NAMES.get(lname)
        if known is None:
            if not is_token(name):
                header_error = f"bad header name {name[:40]!r}"
                break
            items.append((lname, name, line[colon + 1 :].strip(" \t")))
        else:
            items.append((known[0], known[1], line[colon + 1 :].strip(" \t")))
    headers = Headers._from_parsed(items)

    if is_response:
        if header_error is not None:
            raise SipParseError(header_error, None)
        return _parse_status_line(start_line, headers, data, body_start, stream)

    # Request-Line (RFC 3261 §7.1): Method SP Request-URI SP SIP-Version, single SPs.
    parts = start_line.split(" ")
    line_error: str | None = None
    status = 400
    if len(parts) == 3 and parts[0] and parts[1] and parts[2]:
        method, uri, version = parts
    else:
        loose = start_line.split()
        if len(loose) < 3:
            # not even "method uri version": nothing that could be answered
            raise SipParseError(f"bad request line {start_line[:80]!r}", None)
        method, uri, version = loose[0], " ".join(loose[1:-1]), loose[-1]
        line_error = f"bad request line {start_line[:80]!r}"
    if line_error is None:
        if not is_token(method):
            line_error = f"bad method {method[:40]!r}"
        elif uri[0] == "<":
            line_error = "Request-URI enclosed in <>"
        elif version != "SIP/2.0":
            if version.upper().startswith("SIP/"):
                line_error = f"unsupported version {version[:20]!r}"
                status = 505
            else:
                line_error = f"bad version {version[:20]!r}"
    request = Request(method, uri, headers, b"", version)
    if header_error is not None:
        raise RequestParseError(header_error, 400, _identifiable(request))
    if line_error is not None:
        raise RequestParseError(line_error, status, _identifiable(request))
    try:
        request.body = _frame_body(headers, data, body_start, stream)
    except SipParseError as err:
        raise RequestParseError(err.reason, err.status_hint, _identifiable(request)) from err
    return request


def _hint_for(data: bytes) -> int | None:
    return None if data.startswith(b"SIP/") else 400


def _identifiable(request: Request) -> Request | None:
    """The request if a response can be formed for it (Via and CSeq present), else None."""
    h = request.headers
    if "Via" not in h or "CSeq" not in h:
        return None
    try:
        Via.parse(h.get_all("Via")[0])
    except SipParseError:
        return None
    return request


def _parse_status_line(
    line: str, headers: Headers, data: bytes, body_start: int, stream: bool
) -> Response:
    # Status-Line (RFC 3261 §7.2): SIP-Version SP Status-Code SP Reason-Phrase
    version, _, rest = line.partition(" ")
    code, _, reason = rest.partition(" ")
    if version != "SIP/2.0":
        raise SipParseError(f"unsupported version {version[:20]!r}", None)
    if len(code) != 3 or not is_digits(code) or not "100" <= code <= "699":
        raise SipParseError(f"bad status code {code[:20]!r}", None)
    try:
        body = _frame_body(headers, data, body_start, stream)
    except SipParseError as err:
        err.status_hint = None
        raise
    return Response(int(code), reason.strip(" \t"), headers, body)


def _frame_body(headers: Headers, data: bytes, body_start: int, stream: bool) -> bytes:
    """RFC 3261 §18.3 / §20.14: Content-Length frames the body."""
    values = headers.raw_all("Content-Length")
    if not values:
        if stream:
            raise SipParseError("missing Content-Length on a stream transport", 400)
        return data[body_start:]
    if len(values) > 1:
        raise SipParseError("several Content-Length headers", 400)
    value = values[0]
    length = parse_uint(value)
    if length is None:
        raise SipParseError(f"bad Content-Length {value[:20]!r}", 400)
    available = len(data) - body_start
    if length > available:
        raise SipParseError("Content-Length larger than the message", 400)
    if length == available:
        return data[body_start:] if body_start else data
    return data[body_start : body_start + length]


def frame_stream(buffer: bytes | bytearray, *, max_size: int = 65535) -> int | None:
    """For stream transports (TCP/TLS, RFC 3261 §18.3): the length of the first complete
    message in ``buffer``, or None if more bytes are needed.

    Leading CRLFs (keep-alives, RFC 5626 §3.5.1) are counted as part of the message, so the
    caller slices ``buffer[:n]`` and passes it to ``parse_message(..., stream=True)``; a
    slice of only CRLFs raises ``SipParseError(None)`` there (ignore it). Raises
    ``SipParseError`` when no valid Content-Length can be found or the message is too big.
    """
    skip = 0
    n = len(buffer)
    while skip < n and buffer[skip] in (13, 10):
        skip += 1
    if skip == n:
        return n if n else None
    end = buffer.find(b"\r\n\r\n", skip)
    if end < 0:
        if n - skip > max_size:
            raise SipParseError("header section too large", 413)
        return None
    head = bytes(buffer[skip:end]).decode("utf-8", "surrogateescape")
    length: int | None = None
    for line in head.split("\r\n")[1:]:
        name, colon, value = line.partition(":")
        lname = name.rstrip(" \t").lower()
        if colon and (lname == "content-length" or lname == "l"):
            length = parse_uint(value.strip(" \t"))
            if length is None:
                raise SipParseError("bad Content-Length", 400)
    if length is None:
        raise SipParseError("missing Content-Length on a stream transport", 400)
    total = end + 4 + length
    if total - skip > max_size:
        raise SipParseError("message too large", 413)
    return total if total <= n else None


# -- validation ------------------------------------------------------------------------------

#: extensions (option tags) we support in Require (RFC 3261 §8.2.2.3)
DEFAULT_SUPPORTED = frozenset({"replaces", "norefersub", "path", "outbound", "timer"})
#: body types we accept (RFC 3261 §8.2.3); others get 415
DEFAULT_ACCEPT = frozenset(
    {
        "application/sdp",
        "application/dtmf-relay",
        "application/dtmf",
        "message/sipfrag",
        "text/plain",
        "multipart/mixed",
        "multipart/alternative",
        "application/simple-message-summary",
        "application/pidf+xml",
    }
)
_SUPPORTED_SCHEMES = ("sip", "sips", "tel")
_SINGLETONS = ("Call-ID", "CSeq", "From", "To")
_SINGLETON_KEYS = ("call-id", "cseq", "from", "to", "via")


def _check_common(msg: Request | Response) -> str | None:
    """Problems in the headers every transaction/dialog relies on, or None."""
    h = msg.headers
    counts = dict.fromkeys(_SINGLETON_KEYS, 0)
    for key, _, _ in h._items:
        if key in counts:
            counts[key] += 1
    for name in _SINGLETONS:
        count = counts[name.lower()]
        if count == 0:
            return f"missing {name}"
        if count > 1:
            return f"several {name} headers"
    if counts["via"] == 0:
        return "missing Via"
    call_id = h.get("Call-ID") or ""
    if not call_id or " " in call_id or "\t" in call_id:
        return "bad Call-ID"
    try:
        msg.cseq  # noqa: B018 - parse and cache
        vias = msg.vias
        if any(v == "" for v in h.get_all("Via")) or not vias:
            return "empty Via value"
        msg.from_  # noqa: B018
        msg.to  # noqa: B018
        if any(v == "" for v in h.get_all("Contact")):
            return "empty Contact value"
        msg.contacts  # noqa: B018
    except SipParseError as err:
        return err.reason
    return None


def diagnose_request(
    req: Request,
    *,
    supported: frozenset[str] = DEFAULT_SUPPORTED,
    accept: frozenset[str] = DEFAULT_ACCEPT,
) -> tuple[int, str] | None:
    """The (status, reason) a UAS must answer instead of processing ``req``, or None.

    RFC 3261 §8.2 in order: syntax of the mandatory headers (400), CSeq method (400),
    Request-URI scheme (416, §8.2.2.1), Require (420, §8.2.2.3), Content-Type (415, §8.2.3),
    Accept for INVITE (406: we answer with SDP). Max-Forwards 0 is not judged here: only a
    request that would be forwarded gets 483 (RFC 3261 §16.3); answer OPTIONS normally.
    The 405/501 of unknown methods is the caller's decision.
    """
    if req.version != "SIP/2.0":
        return 505, "Version Not Supported"
    problem = _check_common(req)
    if problem is not None:
        return 400, problem
    if req.cseq.method != req.method:
        return 400, "CSeq method does not match the request method"
    if req.headers.count("Max-Forwards") > 1:
        return 400, "several Max-Forwards headers"
    try:
        req.max_forwards  # noqa: B018
    except SipParseError as err:
        return 400, err.reason
    try:
        ruri = req.ruri
    except SipParseError as err:
        return 400, err.reason
    if ruri.scheme not in _SUPPORTED_SCHEMES:
        return 416, "Unsupported URI Scheme"
    if ruri.headers:
        return 400, "headers are not allowed in the Request-URI"  # RFC 3261 §19.1.5
    if req.method not in ("ACK", "CANCEL") and unsupported_extensions(req, supported):
        return 420, "Bad Extension"
    if req.body and req.method != "ACK":
        ctype = req.content_type
        if ctype is None or ctype not in accept:
            return 415, "Unsupported Media Type"
    if req.method == "INVITE" and "Accept" in req.headers:
        accepted = [a.split(";", 1)[0].strip().lower() for a in req.headers.get_all("Accept")]
        if not any(a in ("application/sdp", "application/*", "*/*") for a in accepted):
            return 406, "Not Acceptable"
    return None


def check_request(
    req: Request,
    *,
    supported: frozenset[str] = DEFAULT_SUPPORTED,
    accept: frozenset[str] = DEFAULT_ACCEPT,
) -> int | None:
    """The status a UAS must answer instead of processing ``req`` (see diagnose_request)."""
    result = diagnose_request(req, supported=supported, accept=accept)
    return None if result is None else result[0]


def check_response(resp: Response) -> bool:
    """True if a received response is usable; False means drop it (RFC 3261 §18.1.2)."""
    return resp.version == "SIP/2.0" and _check_common(resp) is None


def unsupported_extensions(
    req: Request, supported: frozenset[str] = DEFAULT_SUPPORTED
) -> list[str]:
    """Option tags of Require that we do not support, for the Unsupported header of a 420."""
    out: list[str] = []
    for tag in req.headers.get_all("Require"):
        if tag and tag.lower() not in supported:
            out.append(tag)
    return out


# -- responses -------------------------------------------------------------------------------

#: RFC 3261 §21 and later RFCs
REASON_PHRASES: dict[int, str] = {
    100: "Trying",
    180: "Ringing",
    181: "Call Is Being Forwarded",
    182: "Queued",
    183: "Session Progress",
    199: "Early Dialog Terminated",
    200: "OK",
    202: "Accepted",
    204: "No Notification",
    300: "Multiple Choices",
    301: "Moved Permanently",
    302: "Moved Temporarily",
    305: "Use Proxy",
    380: "Alternative Service",
    400: "Bad Request",
    401: "Unauthorized",
    402: "Payment Required",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    406: "Not Acceptable",
    407: "Proxy Authentication Required",
    408: "Request Timeout",
    410: "Gone",
    412: "Conditional Request Failed",
    413: "Request Entity Too Large",
    414: "Request-URI Too Long",
    415: "Unsupported Media Type",
    416: "Unsupported URI Scheme",
    417: "Unknown Resource-Priority",
    420: "Bad Extension",
    421: "Extension Required",
    422: "Session Interval Too Small",
    423: "Interval Too Brief",
    428: "Use Identity Header",
    429: "Provide Referrer Identity",
    433: "Anonymity Disallowed",
    436: "Bad Identity-Info",
    437: "Unsupported Certificate",
    438: "Invalid Identity Header",
    439: "First Hop Lacks Outbound Support",
    440: "Max-Breadth Exceeded",
    469: "Bad Info Package",
    470: "Consent Needed",
    480: "Temporarily Unavailable",
    481: "Call/Transaction Does Not Exist",
    482: "Loop Detected",
    483: "Too Many Hops",
    484: "Address Incomplete",
    485: "Ambiguous",
    486: "Busy Here",
    487: "Request Terminated",
    488: "Not Acceptable Here",
    489: "Bad Event",
    491: "Request Pending",
    493: "Undecipherable",
    494: "Security Agreement Required",
    500: "Server Internal Error",
    501: "Not Implemented",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Server Time-out",
    505: "Version Not Supported",
    513: "Message Too Large",
    580: "Precondition Failure",
    600: "Busy Everywhere",
    603: "Decline",
    604: "Does Not Exist Anywhere",
    606: "Not Acceptable",
    607: "Unwanted",
}


def _default_reason(status: int) -> str:
    phrase = REASON_PHRASES.get(status)
    if phrase is not None:
        return phrase
    return REASON_PHRASES.get(status - status % 100, "Unknown")


_DIALOG_CREATING = frozenset({"INVITE", "SUBSCRIBE", "REFER", "NOTIFY"})


def make_response(
    request: Request,
    status: int,
    reason: str | None = None,
    *,
    to_tag: str | None = None,
    body: bytes = b"",
    headers: Iterable[tuple[str, str]] = (),
) -> Response:
    """Build a response to ``request`` (RFC 3261 §8.2.6).

    Copies every Via (in order), From, To, Call-ID and CSeq as raw values (so it works for a
    request that failed validation, too), adds ``;tag=to_tag`` to To unless it already has a
    tag, copies Timestamp into a 100 (§8.2.6.1), copies every Record-Route (in order) into a
    101-299 response to INVITE, SUBSCRIBE, REFER or NOTIFY (§12.1.1: a response that can
    establish a dialog carries the route set the proxies asked for, or the caller's in-dialog
    requests would bypass them), then
    appends ``headers`` and ``body``.
    """
    if not 100 <= status <= 699:
        raise LocalSipError(f"bad status code {status}")
    src = request.headers
    # §12.1.1 is about responses that establish a dialog; a registrar MUST NOT put
    # Record-Route into a REGISTER response (§10.3), and OPTIONS, CANCEL, PRACK or an
    # in-dialog request's response has no route set to carry.
    dialog_creating = request.method in _DIALOG_CREATING
    out: list[tuple[str, str, str]] = []
    for item in src._items:
        key = item[0]
        if key == "via" or key == "from" or key == "call-id" or key == "cseq":
            out.append(item)
        elif key == "to":
            if to_tag is not None and not _has_tag(item[2]):
                out.append((key, item[1], f"{item[2]};tag={to_tag}"))
            else:
                out.append(item)
        elif (key == "timestamp" and status == 100) or (
            key == "record-route" and 100 < status < 300 and dialog_creating
        ):
            out.append(item)
    resp_headers = Headers._from_parsed(out)
    for name, value in headers:
        resp_headers.add(name, value)
    return Response(
        status, reason if reason is not None else _default_reason(status), resp_headers, body
    )


def _has_tag(to_value: str) -> bool:
    try:
        return NameAddr.parse(to_value).tag is not None
    except SipParseError:
        return ";tag=" in to_value.replace(" ", "").lower()


# -- identifiers -----------------------------------------------------------------------------


def new_branch() -> str:
    """A fresh Via branch with the RFC 3261 magic cookie (§8.1.1.7)."""
    return "z9hG4bK" + secrets.token_hex(10)


def new_tag() -> str:
    """A fresh From/To tag (RFC 3261 §19.3: at least 32 bits of randomness)."""
    return secrets.token_hex(6)


def new_call_id(host: str | None = None) -> str:
    """A fresh, globally unique Call-ID (RFC 3261 §8.1.1.4)."""
    token = secrets.token_hex(16)
    return token if host is None else f"{token}@{host}"

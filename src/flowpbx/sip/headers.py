"""SIP headers: the header multimap of a message and the structured values parsed from it.

``Headers`` is the ordered, case-insensitive multimap a message keeps its header values in,
as raw strings (RFC 3261 §7.3, compact forms normalised); name-addr (From/To/Contact/Route...),
Via and CSeq are frozen values parsed from them on demand. Grammar helpers that several
headers share (quoted strings with backslash escapes, comma and semicolon splitting that
respects quotes and ``<...>``) live here too. RFC 3261 §20, §25.1.

Errors: ``SipParseError(status_hint=400)`` for malformed values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TypeVar, cast

from flowpbx.sip.errors import LocalSipError, SipParseError
from flowpbx.sip.numeric import parse_decimal, parse_delta, parse_uint
from flowpbx.sip.uri import Param, SipUri, parse_hostport

__all__ = [
    "HEADER_NAMES",
    "CSeq",
    "Headers",
    "NameAddr",
    "Via",
    "display_name",
    "format_params",
    "parse_params",
    "quote_string",
    "split_commas",
    "unquote_string",
]

# Parsed header values are frozen, so one parse per distinct text is enough (the same From,
# To, Contact and Via texts recur across the messages of a dialog, its retransmissions and
# the responses to what we sent). Bounded: a cache is cleared when full.
_PARSE_CACHE_MAX = 4096
_PARSE_CACHE_TEXT_MAX = 300  # longer texts are parsed every time: the cache stays small

# RFC 3261 §25.1 token
_TOKEN_RE = re.compile(r"[A-Za-z0-9\-.!%*_+`'~]+\Z")
_LWS = " \t"


def is_token(text: str) -> bool:
    """True if ``text`` is a non-empty RFC 3261 token."""
    return _TOKEN_RE.match(text) is not None


# -- shared grammar helpers ------------------------------------------------------------------


def split_commas(value: str) -> list[str]:
    """Split a list header value on commas outside quoted strings and ``<...>`` (RFC 3261 §7.3.1).

    Empty elements are kept (as ``""``) so that validation can refuse them.
    """
    if "," not in value:
        return [value.strip(_LWS)]
    if '"' not in value and "<" not in value:
        return [part.strip(_LWS) for part in value.split(",")]
    out: list[str] = []
    start = 0
    in_quote = False
    in_angle = False
    i = 0
    n = len(value)
    while i < n:
        c = value[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == "<":
            in_angle = True
        elif c == ">":
            in_angle = False
        elif c == "," and not in_angle:
            out.append(value[start:i].strip(_LWS))
            start = i + 1
        i += 1
    out.append(value[start:].strip(_LWS))
    return out


def _split_semicolons(text: str) -> list[str]:
    """Split on ';' outside quoted strings."""
    if '"' not in text:
        return text.split(";")
    out: list[str] = []
    start = 0
    in_quote = False
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if in_quote:
            if c == "\\":
                i += 1
            elif c == '"':
                in_quote = False
        elif c == '"':
            in_quote = True
        elif c == ";":
            out.append(text[start:i])
            start = i + 1
        i += 1
    if in_quote:
        raise SipParseError("unterminated quoted string in parameters", 400)
    out.append(text[start:])
    return out


def parse_params(text: str, what: str = "header") -> tuple[Param, ...]:
    """Parse ``;a=b;c`` (leading ';' optional) with LWS around '=' (RFC 3261 §25.1 SEMI/EQUAL).

    Values stay as written (quoted values keep their quotes); names must be tokens.
    """
    text = text.strip(_LWS)
    if not text:
        return ()
    if text[0] == ";":
        text = text[1:]
    params: list[Param] = []
    for seg in _split_semicolons(text):
        name, eq, value = seg.partition("=")
        name = name.strip(_LWS)
        if not _TOKEN_RE.match(name):
            raise SipParseError(f"bad {what} parameter {seg[:40]!r}", 400)
        if eq:
            value = value.strip(_LWS)
            if not value:
                raise SipParseError(f"empty value for {what} parameter {name!r}", 400)
            if value[0] == '"':
                if len(value) < 2 or value[-1] != '"':
                    raise SipParseError(f"bad quoted {what} parameter {name!r}", 400)
            elif any(c in value for c in " \t,"):
                raise SipParseError(f"bad {what} parameter value {value[:40]!r}", 400)
            params.append((name, value))
        else:
            params.append((name, None))
    return tuple(params)


def format_params(params: tuple[Param, ...]) -> str:
    return "".join(f";{n}" if v is None else f";{n}={v}" for n, v in params)


def _find(params: tuple[Param, ...], name: str) -> Param | None:
    lname = name.lower()
    for p in params:
        if p[0] == name or p[0].lower() == lname:
            return p
    return None


def _merge(params: tuple[Param, ...], updates: list[Param]) -> tuple[Param, ...]:
    merged = list(params)
    for name, value in updates:
        lname = name.lower()
        for i, (old, _) in enumerate(merged):
            if old.lower() == lname:
                merged[i] = (old, value)
                break
        else:
            merged.append((name, value))
    return tuple(merged)


def read_quoted(text: str, start: int) -> tuple[str, int]:
    """Read a quoted-string whose opening quote is at ``start`` (RFC 3261 §25.1).

    Returns (unescaped content, index after the closing quote). Raises 400 if unterminated.
    """
    i = start + 1
    end = text.find('"', i)
    if end < 0:
        raise SipParseError("unterminated quoted string", 400)
    if "\\" not in text[i:end]:
        return text[i:end], end + 1
    out: list[str] = []
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\\":
            if i + 1 >= n:
                break
            out.append(text[i + 1])
            i += 2
            continue
        if c == '"':
            return "".join(out), i + 1
        out.append(c)
        i += 1
    raise SipParseError("unterminated quoted string", 400)


def unquote_string(value: str) -> str:
    """The content of a quoted-string (escapes removed); a token is returned unchanged."""
    if len(value) >= 2 and value[0] == '"':
        return read_quoted(value, 0)[0]
    return value


def quote_string(text: str) -> str:
    """Make a quoted-string (RFC 3261 §25.1 quoted-pair for '"', '\\' and controls)."""
    if "\r" in text or "\n" in text:
        raise LocalSipError("CR/LF cannot be carried in a quoted string")
    out = ['"']
    for c in text:
        if c == '"' or c == "\\" or (ord(c) < 0x20 and c != "\t") or c == "\x7f":
            out.append("\\")
        out.append(c)
    out.append('"')
    return "".join(out)


DISPLAY_NAME_MAX = 80  # characters of a display name we send (longer ones are cut)
_CONTROLS_RE = re.compile(r"[\x00-\x1f\x7f]+")


def display_name(name: str | None) -> str | None:
    """A name (the caller's own From, a CRM lookup, a flow's rewrite) as the display-name of
    a header we send: a quoted-string with '"' and '\\' escaped (RFC 3261 §25.1), control
    characters (CR, LF, NUL, ...) replaced by a space, spaces collapsed, at most
    `DISPLAY_NAME_MAX` characters. None when nothing sendable is left (the header then has
    no display-name): an unsendable name is dropped, never the message."""
    if not name:
        return None
    text = " ".join(_CONTROLS_RE.sub(" ", name).split())[:DISPLAY_NAME_MAX].rstrip()
    if not text:
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates (from JSON "\ud800"): not sendable text
        return None
    return quote_string(text)


# -- name-addr / addr-spec -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NameAddr:
    """``[display] <uri> *(;param)`` or ``addr-spec *(;param)``. RFC 3261 §20.10, §20.20, §20.39.

    In the addr-spec form the parameters after the URI are header parameters (such as
    ``tag``), never URI parameters (RFC 3261 §20.10, RFC 4475 §3.3.12).
    ``display`` is unescaped (quotes and backslashes removed); None when absent.
    """

    display: str | None
    uri: SipUri
    params: tuple[Param, ...] = ()

    @classmethod
    def parse(cls, text: str) -> NameAddr:
        cached = _parsed_name_addrs.get(text)
        if cached is not None and cls is NameAddr:
            return cached
        value = cls._parse(text)
        if cls is NameAddr and len(text) <= _PARSE_CACHE_TEXT_MAX:
            if len(_parsed_name_addrs) >= _PARSE_CACHE_MAX:
                _parsed_name_addrs.clear()
            _parsed_name_addrs[text] = value
        return value

    @classmethod
    def _parse(cls, text: str) -> NameAddr:
        text = text.strip(_LWS)
        if not text:
            raise SipParseError("empty address", 400)
        display: str | None = None
        if text[0] == '"':
            display, pos = read_quoted(text, 0)
            lt = pos
            while lt < len(text) and text[lt] in _LWS:
                lt += 1
            if lt >= len(text) or text[lt] != "<":
                raise SipParseError(f"expected '<' after display name in {text[:80]!r}", 400)
        else:
            lt = text.find("<")
            if lt > 0:
                # unquoted display: *(token LWS); tolerate non-token characters (RFC 4475 §3.1.2.15)
                display = text[:lt].strip(_LWS) or None
        if lt >= 0:
            gt = text.find(">", lt)
            if gt < 0:
                raise SipParseError(f"missing '>' in {text[:80]!r}", 400)
            # tolerate LWS just inside the brackets (RFC 4475 §3.1.2.14)
            uri = SipUri.parse(text[lt + 1 : gt].strip(_LWS))
            params = parse_params(text[gt + 1 :])
        else:
            semi = text.find(";")
            if semi >= 0:
                uri = SipUri.parse(text[:semi].rstrip(_LWS))
                params = parse_params(text[semi:])
            else:
                uri = SipUri.parse(text)
                params = ()
        return cls(display, uri, params)

    def __str__(self) -> str:
        head = f"<{self.uri}>"
        if self.display is not None:
            head = f"{quote_string(self.display)} {head}"
        if not self.params:
            return head
        return head + format_params(self.params)

    @property
    def tag(self) -> str | None:
        p = _find(self.params, "tag")
        return None if p is None else p[1]

    def param(self, name: str) -> str | None:
        p = _find(self.params, name)
        return None if p is None else p[1]

    def has_param(self, name: str) -> bool:
        return _find(self.params, name) is not None

    def with_tag(self, tag: str) -> NameAddr:
        return self.with_params(("tag", tag))

    def with_params(self, *params: Param, **kw: str | None) -> NameAddr:
        new = list(params) + list(kw.items())
        return NameAddr(self.display, self.uri, _merge(self.params, new))

    def without_params(self, *names: str) -> NameAddr:
        lnames = {n.lower() for n in names}
        kept = tuple(p for p in self.params if p[0].lower() not in lnames)
        return NameAddr(self.display, self.uri, kept)

    @property
    def expires(self) -> int | None:
        """The Contact ``expires`` parameter (RFC 3261 §20.10), clamped to 2**32-1."""
        v = self.param("expires")
        return None if v is None else parse_delta(v)

    @property
    def q(self) -> float | None:
        """The ``q`` parameter (RFC 3261 §20.10: 0 to 1, three decimals at most), or None."""
        v = self.param("q")
        q = None if v is None else parse_decimal(v, 3)
        return q if q is not None and q <= 1.0 else None


_parsed_name_addrs: dict[str, NameAddr] = {}


# -- Via -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Via:
    """One Via value: ``SIP/2.0/UDP host[:port];branch=...`` (RFC 3261 §20.42, §18.2.1).

    ``transport`` is upper-cased; unknown transports are kept (RFC 4475 §3.1.1.10).
    """

    protocol: str
    transport: str
    host: str
    port: int | None = None
    params: tuple[Param, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Via:
        cached = _parsed_vias.get(text)
        if cached is not None and cls is Via:
            return cached
        value = cls._parse(text)
        if cls is Via and len(text) <= _PARSE_CACHE_TEXT_MAX:
            if len(_parsed_vias) >= _PARSE_CACHE_MAX:
                _parsed_vias.clear()
            _parsed_vias[text] = value
        return value

    @classmethod
    def _parse(cls, text: str) -> Via:
        head, semi, rest = text.partition(";")
        # sent-protocol = name SLASH version SLASH transport, SLASH = SWS "/" SWS
        parts = head.split("/", 2)
        if len(parts) != 3:
            raise SipParseError(f"bad Via {text[:80]!r}", 400)
        name = parts[0].strip(_LWS)
        version = parts[1].strip(_LWS)
        tail = parts[2].strip(_LWS).split(None, 1)
        if len(tail) != 2 or not is_token(name) or not is_token(version) or not is_token(tail[0]):
            raise SipParseError(f"bad Via {text[:80]!r}", 400)
        sent_by = tail[1]
        if " " in sent_by or "\t" in sent_by:
            sent_by = "".join(sent_by.split())  # sent-by = host [COLON port], COLON = SWS ":" SWS
        try:
            host, port = parse_hostport(sent_by, text)
        except SipParseError:
            raise SipParseError(f"bad Via sent-by {text[:80]!r}", 400) from None
        params = parse_params(";" + rest, "Via") if semi else ()
        return cls(f"{name}/{version}", tail[0].upper(), host, port, params)

    def __str__(self) -> str:
        sent_by = self.host if self.port is None else f"{self.host}:{self.port}"
        return f"{self.protocol}/{self.transport} {sent_by}{format_params(self.params)}"

    def param(self, name: str) -> str | None:
        p = _find(self.params, name)
        return None if p is None else p[1]

    def has_param(self, name: str) -> bool:
        return _find(self.params, name) is not None

    @property
    def branch(self) -> str | None:
        return self.param("branch")

    @property
    def received(self) -> str | None:
        return self.param("received")

    @property
    def maddr(self) -> str | None:
        return self.param("maddr")

    @property
    def rport(self) -> int | bool | None:
        """RFC 3581: None if absent, True if present without a value, else the port."""
        p = _find(self.params, "rport")
        if p is None:
            return None
        if p[1] is None:
            return True
        port = parse_uint(p[1], 5)
        return port if port is not None and port <= 65535 else None

    @property
    def is_rfc3261_branch(self) -> bool:
        """True when the branch carries the magic cookie (RFC 3261 §8.1.1.7)."""
        b = self.branch
        return b is not None and b.startswith("z9hG4bK") and len(b) > 7

    @property
    def sent_by(self) -> tuple[str, int]:
        """(host, port) with the transport's default port filled in (RFC 3261 §18.2.2)."""
        host = self.host[1:-1] if self.host.startswith("[") else self.host
        default = 5061 if self.transport == "TLS" else 5060
        return host, self.port if self.port is not None else default

    def with_params(self, *params: Param, **kw: str | int | bool | None) -> Via:
        """A copy with parameters set; ``rport=True`` writes a flag, ``name=None`` removes it."""
        updates: list[Param] = list(params)
        removes: set[str] = set()
        for k, v in kw.items():
            if v is None:
                removes.add(k.lower())
            elif v is True:
                updates.append((k, None))
            else:
                updates.append((k, str(v)))
        merged = _merge(self.params, updates)
        if removes:
            merged = tuple(p for p in merged if p[0].lower() not in removes)
        return Via(self.protocol, self.transport, self.host, self.port, merged)


_parsed_vias: dict[str, Via] = {}


# -- CSeq ------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CSeq:
    """``CSeq: <seq> <method>`` — seq is below 2**31 (RFC 3261 §8.1.1.5, §20.16)."""

    seq: int
    method: str

    @classmethod
    def parse(cls, text: str) -> CSeq:
        parts = text.split()
        if len(parts) != 2:
            raise SipParseError(f"bad CSeq {text[:60]!r}", 400)
        num, method = parts
        seq = parse_uint(num)
        if seq is None:
            raise SipParseError(f"bad CSeq number {num[:30]!r}", 400)
        if seq >= 2**31:
            raise SipParseError("CSeq number out of range", 400)
        if not _TOKEN_RE.match(method):
            raise SipParseError(f"bad CSeq method {method[:30]!r}", 400)
        return cls(seq, method)

    def __str__(self) -> str:
        return f"{self.seq} {self.method}"


_T = TypeVar("_T")

# -- header names ----------------------------------------------------------------------------

_CANONICAL_TEXT = """
    Accept Accept-Contact Accept-Encoding Accept-Language Alert-Info Allow Allow-Events
    Authentication-Info Authorization Call-ID Call-Info Contact Content-Disposition
    Content-Encoding Content-Language Content-Length Content-Type CSeq Date Diversion
    Error-Info Event Expires From Identity Identity-Info In-Reply-To Max-Forwards MIME-Version
    Min-Expires Min-SE Organization P-Asserted-Identity P-Preferred-Identity Path Priority
    Privacy Proxy-Authenticate Proxy-Authorization Proxy-Require RAck Reason Record-Route
    Refer-Sub Refer-To Referred-By Reject-Contact Remote-Party-ID Replaces Reply-To
    Request-Disposition Require Retry-After Route RSeq Server Service-Route Session-Expires
    Subject Subscription-State Supported Timestamp To Unsupported User-Agent Via Warning
    WWW-Authenticate
"""
_CANONICAL_NAMES = _CANONICAL_TEXT.split()

# RFC 3261 §7.3.3 and later RFCs (3265/6665 o u, 3515 r, 3892 b, 4028 x, 3841 a j d, 8224 y).
_COMPACT_TEXT = """
    i=call-id m=contact e=content-encoding l=content-length c=content-type f=from s=subject
    k=supported t=to v=via o=event u=allow-events r=refer-to b=referred-by x=session-expires
    a=accept-contact j=reject-contact d=request-disposition y=identity n=identity-info
"""
_COMPACT = dict(pair.split("=") for pair in _COMPACT_TEXT.split())

#: lower-case name or compact letter -> (key, canonical name); the parser looks names up here
HEADER_NAMES: dict[str, tuple[str, str]] = {n.lower(): (n.lower(), n) for n in _CANONICAL_NAMES}
HEADER_NAMES.update({letter: HEADER_NAMES[key] for letter, key in _COMPACT.items()})

# Headers whose values are comma-separated lists (RFC 3261 §7.3.1); get_all splits them.
_LIST_TEXT = """
    via route record-route contact allow supported require proxy-require unsupported accept
    accept-encoding accept-language accept-contact reject-contact allow-events
    content-encoding content-language in-reply-to alert-info call-info error-info warning
    path service-route p-asserted-identity p-preferred-identity privacy reason diversion
    request-disposition
"""
_LIST_HEADERS = frozenset(_LIST_TEXT.split())


#: exact spelling -> key, for the names the code itself asks for (no lower() per lookup)
_KEYS: dict[str, str] = {n: k for n, (k, _) in HEADER_NAMES.items()}
_KEYS.update({cname: key for key, cname in HEADER_NAMES.values()})


def _key_and_name(name: str) -> tuple[str, str]:
    lname = name.lower()
    known = HEADER_NAMES.get(lname)
    if known is not None:
        return known
    return lname, name


def _key(name: str) -> str:
    key = _KEYS.get(name)
    if key is not None:
        return key
    lname = name.lower()
    known = HEADER_NAMES.get(lname)
    return known[0] if known is not None else lname


def _check_value(name: str, value: str) -> None:
    if "\n" in value or "\r" in value:
        raise LocalSipError(f"CR/LF in the value of header {name!r}")


class Headers:
    """Ordered, case-insensitive SIP header multimap (RFC 3261 §7.3).

    Compact forms are normalised to canonical names (``v`` -> ``Via``); unknown names keep the
    spelling they arrived with. Values are raw strings. List headers (Via, Route, Contact,
    Allow, Supported, Require, ...) are split on commas by ``get``/``get_all``; ``raw_all``
    returns the header lines unsplit.
    """

    __slots__ = ("_cache", "_items")

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        self._items: list[tuple[str, str, str]] = []
        self._cache: dict[str, object] = {}
        for name, value in items:
            self.add(name, value)

    @classmethod
    def _from_parsed(cls, items: list[tuple[str, str, str]]) -> Headers:
        h = cls.__new__(cls)
        h._items = items
        h._cache = {}
        return h

    def _changed(self) -> None:
        if self._cache:
            self._cache = {}

    def memo(self, key: str, compute: Callable[[], _T]) -> _T:
        """Cache a value derived from these headers until the next change."""
        try:
            return cast(_T, self._cache[key])
        except KeyError:
            value = compute()
            self._cache[key] = value
            return value

    # -- reading -----------------------------------------------------------------------------

    def get(self, name: str) -> str | None:
        """The first value (for list headers: the first comma-separated element)."""
        key = _key(name)
        for k, _, v in self._items:
            if k == key:
                if key in _LIST_HEADERS and "," in v:
                    return split_commas(v)[0]
                return v
        return None

    def get_all(self, name: str) -> list[str]:
        """Every value, in order; list headers are split on commas outside quotes and <>."""
        key = _key(name)
        if key in _LIST_HEADERS:
            out: list[str] = []
            for k, _, v in self._items:
                if k == key:
                    if "," in v:
                        out.extend(split_commas(v))
                    else:
                        out.append(v)
            return out
        return [v for k, _, v in self._items if k == key]

    def raw_all(self, name: str) -> list[str]:
        """Every header line's value for ``name``, unsplit."""
        key = _key(name)
        return [v for k, _, v in self._items if k == key]

    def count(self, name: str) -> int:
        """How many header lines carry ``name``."""
        key = _key(name)
        return sum(1 for k, _, _ in self._items if k == key)

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        key = _key(name)
        return any(k == key for k, _, _ in self._items)

    def items(self) -> list[tuple[str, str]]:
        return [(n, v) for _, n, v in self._items]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((n, v) for _, n, v in self._items)

    def __len__(self) -> int:
        return len(self._items)

    def __repr__(self) -> str:
        return f"Headers({self.items()!r})"

    def copy(self) -> Headers:
        return Headers._from_parsed(list(self._items))

    # -- writing -----------------------------------------------------------------------------

    def add(self, name: str, value: str) -> None:
        """Append a header line."""
        _check_value(name, value)
        key, cname = _key_and_name(name)
        self._items.append((key, cname, value))
        self._changed()

    def prepend(self, name: str, value: str) -> None:
        """Insert before the first header of that name, or at the top (Via, Record-Route)."""
        _check_value(name, value)
        key, cname = _key_and_name(name)
        for i, (k, _, _) in enumerate(self._items):
            if k == key:
                self._items.insert(i, (key, cname, value))
                break
        else:
            self._items.insert(0, (key, cname, value))
        self._changed()

    def set(self, name: str, value: str) -> None:
        """Replace every header of that name with one (kept at the first one's position)."""
        _check_value(name, value)
        key, cname = _key_and_name(name)
        out: list[tuple[str, str, str]] = []
        placed = False
        for item in self._items:
            if item[0] == key:
                if not placed:
                    out.append((key, cname, value))
                    placed = True
            else:
                out.append(item)
        if not placed:
            out.append((key, cname, value))
        self._items = out
        self._changed()

    def remove(self, name: str) -> None:
        """Remove every header of that name."""
        key = _key(name)
        self._items = [item for item in self._items if item[0] != key]
        self._changed()

    def remove_first(self, name: str) -> str | None:
        """Remove the first value of a header (the top Via of a response, RFC 3261 §18.1.2).

        For a line holding several comma-separated values only the first value is removed.
        """
        key = _key(name)
        for i, (k, n, v) in enumerate(self._items):
            if k == key:
                if key in _LIST_HEADERS and "," in v:
                    first, *rest = split_commas(v)
                    self._items[i] = (k, n, ", ".join(rest))
                else:
                    del self._items[i]
                self._changed()
                return v if key not in _LIST_HEADERS or "," not in v else first
        return None

    def _write(self, out: list[str], skip_key: str) -> None:
        for k, n, v in self._items:
            if k != skip_key:
                out.append(f"{n}: {v}\r\n")

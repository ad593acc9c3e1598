"""SIP, SIPS and tel URIs (RFC 3261 §19.1, RFC 3966) as frozen values.

``SipUri.parse`` accepts any URI scheme: ``sip``/``sips`` are parsed into user, password,
host, port, parameters and headers; ``tel`` into number (kept in ``user``) and parameters;
every other scheme is kept opaque (RFC 4475 §3.3.4: unknown schemes in To/From/Contact are
not an error, only an unknown scheme in the Request-URI is, and that is answered with 416 by
``message.check_request``). Values are stored as they appeared on the wire (still
%-escaped) so that ``str()`` round-trips; ``equals`` applies the comparison rules of
RFC 3261 §19.1.4.

Errors: ``SipParseError(status_hint=400)`` for malformed text.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import unquote

from flowpbx.sip.errors import LocalSipError, SipParseError
from flowpbx.sip.numeric import parse_uint

__all__ = ["Param", "SipUri", "escape_user", "unescape"]

#: A ``;name=value`` parameter; the value is None for a flag such as ``;lr``.
Param = tuple[str, str | None]

# RFC 3261 §25.1: scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." )
_SCHEME_RE = re.compile(r"[A-Za-z][A-Za-z0-9+\-.]*\Z")
# Characters that can never appear inside a URI (LWS, angle brackets, quotes, controls).
_BAD_URI_CHARS_RE = re.compile(r'[\x00-\x20\x7f<>"]')
# hostname / IPv4 (tolerating "_", seen in the wild) and IPv6 references.
_HOSTNAME_RE = re.compile(r"[A-Za-z0-9_\-.]+\Z")
_IPV6_REF_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]\Z")
# paramchar / hnv chars (RFC 3261 §25.1) are broad; we only refuse separators inside names.
_PARAM_NAME_RE = re.compile(r"[A-Za-z0-9\-.!~*'()%_+`\[\]/:&$]+\Z")
_USER_UNSAFE = frozenset(' \t\r\n"<>@:%;?#[]{}|\\^`')

# RFC 3261 §19.1.4: these parameters must match if present in either URI.
_MUST_MATCH_PARAMS = ("user", "ttl", "method", "maddr", "transport")

# Parsed values are frozen, so one parse per distinct text is enough: the same URIs come back
# in every message of a dialog and in every call from the same peer. Bounded: cleared when full.
_PARSE_CACHE_MAX = 4096
_PARSE_CACHE_TEXT_MAX = 300  # longer texts are parsed every time: the cache stays small
_parsed_uris: dict[str, SipUri] = {}


def unescape(text: str) -> str:
    """Decode %HH escapes (RFC 3261 §19.1.2); invalid escapes such as ``%Z4`` stay as typed."""
    if "%" not in text:
        return text
    return unquote(text, errors="surrogateescape")


def escape_user(text: str) -> str:
    """%-escape a user part for building URIs (RFC 3261 §25.1 user-unreserved)."""
    if not any(c in _USER_UNSAFE or ord(c) < 0x20 or ord(c) > 0x7E for c in text):
        return text
    out: list[str] = []
    for c in text:
        if c in _USER_UNSAFE or ord(c) < 0x20 or ord(c) > 0x7E:
            out.extend(f"%{b:02X}" for b in c.encode("utf-8", "surrogateescape"))
        else:
            out.append(c)
    return "".join(out)


def _bad(text: str, why: str) -> SipParseError:
    return SipParseError(f"bad URI {text[:80]!r}: {why}", 400)


def _parse_port(text: str, whole: str) -> int:
    port = parse_uint(text, 5)
    if port is None:
        raise _bad(whole, "port is not a number")
    if port > 65535:
        raise _bad(whole, "port out of range")
    return port


def parse_hostport(text: str, whole: str) -> tuple[str, int | None]:
    """Split ``host[:port]`` (IPv6 references in brackets); validate both."""
    if text.startswith("["):
        end = text.find("]")
        if end < 0:
            raise _bad(whole, "unterminated IPv6 reference")
        host = text[: end + 1]
        rest = text[end + 1 :]
        if not _IPV6_REF_RE.match(host):
            raise _bad(whole, "bad IPv6 reference")
        if not rest:
            return host, None
        if rest[0] != ":":
            raise _bad(whole, "junk after IPv6 reference")
        return host, _parse_port(rest[1:], whole)
    host, colon, port_text = text.partition(":")
    if not host or not _HOSTNAME_RE.match(host):
        raise _bad(whole, "bad host")
    if not colon:
        return host, None
    return host, _parse_port(port_text, whole)


def _parse_params(segments: list[str], whole: str) -> tuple[Param, ...]:
    params: list[Param] = []
    for seg in segments:
        name, eq, value = seg.partition("=")
        if not name or not _PARAM_NAME_RE.match(name):
            raise _bad(whole, "bad parameter")
        params.append((name, value if eq else None))
    return tuple(params)


def _find_param(params: tuple[Param, ...], name: str) -> Param | None:
    lname = name.lower()
    for p in params:
        if p[0] == name or p[0].lower() == lname:
            return p
    return None


@dataclass(frozen=True, slots=True)
class SipUri:
    """A URI as used in SIP. RFC 3261 §19.1.1 (sip/sips), RFC 3966 (tel), else opaque.

    ``user``/``password``/param values are kept %-escaped as received; use ``unescape``
    (or ``user_unescaped``) to read them. ``host`` keeps IPv6 brackets. ``opaque`` is set
    only for schemes other than sip/sips/tel and then holds everything after ``scheme:``.
    """

    scheme: str
    user: str | None
    password: str | None
    host: str
    port: int | None = None
    params: tuple[Param, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    opaque: str | None = None

    # -- parsing -----------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str) -> SipUri:
        """Parse a URI; raises ``SipParseError(400)`` when it is malformed."""
        cached = _parsed_uris.get(text)
        if cached is not None and cls is SipUri:
            return cached
        uri = cls._parse(text)
        if cls is SipUri and len(text) <= _PARSE_CACHE_TEXT_MAX:
            if len(_parsed_uris) >= _PARSE_CACHE_MAX:
                _parsed_uris.clear()
            _parsed_uris[text] = uri
        return uri

    @classmethod
    def _parse(cls, text: str) -> SipUri:
        scheme, colon, rest = text.partition(":")
        if not colon or not _SCHEME_RE.match(scheme):
            raise _bad(text, "no scheme")
        if _BAD_URI_CHARS_RE.search(text):
            raise _bad(text, "forbidden character")
        if not rest:
            raise _bad(text, "empty")
        lscheme = scheme.lower()
        if lscheme == "sip" or lscheme == "sips":
            return cls._parse_sip(lscheme, rest, text)
        if lscheme == "tel":
            number, *segments = rest.split(";")
            if not number:
                raise _bad(text, "empty telephone number")
            return cls(lscheme, number, None, "", None, _parse_params(segments, text))
        return cls(lscheme, None, None, "", None, (), (), rest)

    @classmethod
    def _parse_sip(cls, scheme: str, rest: str, text: str) -> SipUri:
        # RFC 3261 §19.1.1: userinfo may contain ';', '?', '/' ... so it is cut off first
        # (RFC 4475 §3.1.1.2 and §3.1.1.9).
        user: str | None = None
        password: str | None = None
        at = rest.find("@")
        if at >= 0:
            userinfo = rest[:at]
            rest = rest[at + 1 :]
            user, pcolon, pw = userinfo.partition(":")
            if pcolon:
                password = pw
            if not user:
                raise _bad(text, "empty user")
        headers: tuple[tuple[str, str], ...] = ()
        qmark = rest.find("?")
        if qmark >= 0:
            hlist: list[tuple[str, str]] = []
            for part in rest[qmark + 1 :].split("&"):
                hname, eq, hvalue = part.partition("=")
                if not hname or not eq:
                    raise _bad(text, "bad header in URI")
                hlist.append((hname, hvalue))
            headers = tuple(hlist)
            rest = rest[:qmark]
        if ";" in rest:
            hostport, *segments = rest.split(";")
            params = _parse_params(segments, text)
        else:
            hostport = rest
            params = ()
        host, port = parse_hostport(hostport, text)
        return cls(scheme, user, password, host, port, params, headers)

    # -- building ----------------------------------------------------------------------------

    @classmethod
    def sip(
        cls,
        host: str,
        user: str | None = None,
        port: int | None = None,
        *,
        params: tuple[Param, ...] = (),
        scheme: str = "sip",
    ) -> SipUri:
        """Build a sip: URI; the user part is %-escaped as needed; IPv6 hosts get brackets."""
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        if not host or _BAD_URI_CHARS_RE.search(host):
            raise LocalSipError(f"bad host {host!r}")
        escaped = escape_user(user) if user is not None else None
        return cls(scheme, escaped, None, host, port, params)

    def __str__(self) -> str:
        if self.opaque is not None:
            return f"{self.scheme}:{self.opaque}"
        parts = [self.scheme, ":"]
        if self.user is not None:
            parts.append(self.user)
            if self.password is not None:
                parts.append(":")
                parts.append(self.password)
            if self.scheme != "tel":
                parts.append("@")
        parts.append(self.host)
        if self.port is not None:
            parts.append(f":{self.port}")
        for name, value in self.params:
            parts.append(f";{name}" if value is None else f";{name}={value}")
        if self.headers:
            parts.append("?")
            parts.append("&".join(f"{n}={v}" for n, v in self.headers))
        return "".join(parts)

    # -- accessors ---------------------------------------------------------------------------

    @property
    def is_sip(self) -> bool:
        """True for sip: and sips: URIs."""
        return self.scheme == "sip" or self.scheme == "sips"

    @property
    def user_unescaped(self) -> str | None:
        return None if self.user is None else unescape(self.user)

    @property
    def host_port(self) -> str:
        """``host[:port]`` as written in a URI or Via."""
        return self.host if self.port is None else f"{self.host}:{self.port}"

    def has_param(self, name: str) -> bool:
        return _find_param(self.params, name) is not None

    def param(self, name: str) -> str | None:
        """The value of a URI parameter (case-insensitive name); None if absent or a flag."""
        p = _find_param(self.params, name)
        return None if p is None else p[1]

    def with_params(self, *params: Param, **kw: str | None) -> SipUri:
        """A copy with parameters set (replacing same-named ones, kept in place)."""
        new = list(params) + [(k, v) for k, v in kw.items()]
        return self._replace_params(new)

    def without_params(self, *names: str) -> SipUri:
        lnames = {n.lower() for n in names}
        kept = tuple(p for p in self.params if p[0].lower() not in lnames)
        return SipUri(
            self.scheme, self.user, self.password, self.host, self.port, kept, self.headers
        )

    def without_headers(self) -> SipUri:
        return SipUri(self.scheme, self.user, self.password, self.host, self.port, self.params)

    def _replace_params(self, new: list[Param]) -> SipUri:
        merged = list(self.params)
        for name, value in new:
            lname = name.lower()
            for i, (old, _) in enumerate(merged):
                if old.lower() == lname:
                    merged[i] = (old, value)
                    break
            else:
                merged.append((name, value))
        return SipUri(
            self.scheme, self.user, self.password, self.host, self.port, tuple(merged), self.headers
        )

    # -- comparison: RFC 3261 §19.1.4 ---------------------------------------------------------

    def equals(self, other: SipUri) -> bool:
        """URI equivalence per RFC 3261 §19.1.4 (escapes, case rules, parameter rules)."""
        if self.scheme != other.scheme:
            return False
        if self.opaque is not None or other.opaque is not None:
            return self.opaque == other.opaque
        # userinfo is case-sensitive but escaped and unescaped forms are equal
        if _unesc_opt(self.user) != _unesc_opt(other.user):
            return False
        if _unesc_opt(self.password) != _unesc_opt(other.password):
            return False
        if self.host.lower() != other.host.lower() or self.port != other.port:
            return False
        mine = {unescape(n).lower(): _norm_value(v) for n, v in self.params}
        theirs = {unescape(n).lower(): _norm_value(v) for n, v in other.params}
        for name in _MUST_MATCH_PARAMS:
            if mine.get(name, _ABSENT) != theirs.get(name, _ABSENT):
                return False
        for name, value in mine.items():
            if name in theirs and theirs[name] != value:
                return False
        my_headers = {(unescape(n).lower(), unescape(v)) for n, v in self.headers}
        their_headers = {(unescape(n).lower(), unescape(v)) for n, v in other.headers}
        return my_headers == their_headers


_ABSENT = "\x00absent"


def _unesc_opt(text: str | None) -> str | None:
    return None if text is None else unescape(text)


def _norm_value(value: str | None) -> str | None:
    return None if value is None else unescape(value).lower()

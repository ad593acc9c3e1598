"""HTTP Digest authentication for SIP (RFC 3261 §22, RFC 2617, RFC 7616): MD5 and SHA-256.

Server side: ``DigestServer`` issues stateless nonces (a timestamp plus an HMAC of it under a
server secret, so any node holding the secret can verify them and nothing is stored per
challenge) and verifies ``Authorization`` / ``Proxy-Authorization`` values against stored
HA1 hashes (passwords are never needed). A wrong password and an unknown user give the same
result text, and both cost the same hashing work, so extensions cannot be enumerated.

Client side (trunk registration, outbound calls): ``parse_challenge``, ``select_challenge``
and ``build_authorization``.

Replay protection (RFC 7616 §3.3, §5.12): the digest-uri must be the Request-URI (RFC 3261
§22.4), and ``NonceCounts`` remembers which nonce counts each nonce has been accepted with —
with ``qop`` every ``nc`` value is good for one request, without ``qop`` the nonce itself is.
Only the algorithms the server was configured with are accepted.

Sans-I/O: ``now`` is passed in (any monotonic clock shared by the nodes; wall-clock seconds
when several nodes share the secret). Malformed input never raises here: it yields a failed
``AuthResult``. ``parse_challenge`` raises ``SipParseError(None)`` for an unusable challenge.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import struct
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import quote_string, split_commas, unquote_string
from flowpbx.sip.uri import SipUri

__all__ = [
    "ALGORITHMS",
    "AuthResult",
    "Challenge",
    "DigestServer",
    "NonceCounts",
    "build_authorization",
    "digest_response",
    "ha1",
    "parse_challenge",
    "parse_credentials",
    "select_challenge",
]

_HASHES: dict[str, Callable[[bytes], str]] = {
    "MD5": lambda data: hashlib.md5(data).hexdigest(),
    "SHA-256": lambda data: hashlib.sha256(data).hexdigest(),
}
#: supported algorithms, strongest first (RFC 7616 §3.7: offer the preferred one first)
ALGORITHMS = ("SHA-256", "MD5")

# the one text both "unknown user" and "wrong password" produce
INVALID = "invalid credentials"


def _norm_algorithm(algorithm: str | None) -> str | None:
    """Canonical algorithm name, or None if unsupported. Absent means MD5 (RFC 2617 §3.2.1)."""
    if algorithm is None:
        return "MD5"
    upper = algorithm.strip().upper()
    return upper if upper in _HASHES else None


def _h(algorithm: str, text: str) -> str:
    return _HASHES[algorithm](text.encode("utf-8", "surrogateescape"))


def ha1(username: str, realm: str, password: str, algorithm: str = "MD5") -> str:
    """HA1 = H(username ":" realm ":" password) (RFC 7616 §3.4.2), stored instead of passwords."""
    alg = _norm_algorithm(algorithm)
    if alg is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return _h(alg, f"{username}:{realm}:{password}")


def digest_response(
    *,
    ha1_hex: str,
    nonce: str,
    method: str,
    uri: str,
    algorithm: str = "MD5",
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
    body: bytes = b"",
) -> str:
    """The ``response`` value (RFC 7616 §3.4.1; RFC 2069 form when ``qop`` is None)."""
    alg = _norm_algorithm(algorithm)
    if alg is None:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    if qop == "auth-int":
        ha2 = _h(alg, f"{method}:{uri}:{_HASHES[alg](body)}")
    else:
        ha2 = _h(alg, f"{method}:{uri}")
    if qop is None:
        return _h(alg, f"{ha1_hex}:{nonce}:{ha2}")
    return _h(alg, f"{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}")


def _parse_digest_params(value: str) -> tuple[str, dict[str, str]] | None:
    """``Scheme a=b, c="d"`` -> (scheme, {name: unquoted value}); None if malformed."""
    value = value.strip()
    scheme, _, rest = value.partition(" ")
    if not scheme:
        return None
    params: dict[str, str] = {}
    try:
        for item in split_commas(rest):
            if not item:
                continue
            name, eq, raw = item.partition("=")
            if not eq:
                return None
            name = name.strip().lower()
            raw = raw.strip()
            if name in params or not name:
                return None
            params[name] = unquote_string(raw)
    except SipParseError:
        return None
    return scheme, params


def parse_credentials(value: str) -> dict[str, str] | None:
    """The parameters of a Digest ``Authorization`` value; None if it is not valid Digest."""
    parsed = _parse_digest_params(value)
    if parsed is None or parsed[0].lower() != "digest":
        return None
    return parsed[1]


# -- server ----------------------------------------------------------------------------------

_HEX = frozenset("0123456789abcdefABCDEF")


def same_uri(digest_uri: str, request_uri: str) -> bool:
    """Is the credentials' digest-uri the Request-URI (RFC 3261 §22.4)? The same text, or two
    SIP URIs equivalent under RFC 3261 §19.1.4 (a phone may write the host in another case)."""
    if digest_uri == request_uri:
        return True
    try:
        return SipUri.parse(digest_uri).equals(SipUri.parse(request_uri))
    except SipParseError:
        return False


@dataclass(frozen=True, slots=True, kw_only=True)
class AuthResult:
    """The outcome of ``DigestServer.verify``.

    ``reason`` is safe to show on the wire or log: "ok", "no credentials", "malformed
    credentials", "wrong realm", "invalid nonce", "stale nonce", "replayed", "unsupported
    algorithm", "unsupported qop", "uri mismatch", or "invalid credentials" (unknown user and
    wrong password alike). ``stale`` means: right password, but an expired nonce or a nonce
    count already used — re-challenge with ``stale=true`` (RFC 7616 §3.3).
    """

    ok: bool
    username: str | None
    stale: bool
    reason: str
    algorithm: str | None = None


class NonceCounts:
    """Which nonce counts each nonce has been accepted with (RFC 7616 §3.3 replay protection).

    Per nonce: the highest ``nc`` seen and a bitmap of the ``window`` counts below it, so
    requests that overtake each other are still accepted once each while any count comes only
    once; a count more than ``window`` below the highest is refused. A nonce used without
    ``qop`` is closed: good for that one request. Memory is bounded: entries leave when their
    nonce expires, and when ``max_nonces`` is reached the oldest is dropped and every nonce
    issued up to its time counts as used (its client gets a fresh challenge, never a replay).
    """

    __slots__ = ("_entries", "_floor", "max_nonces", "ttl_s", "window")

    def __init__(self, *, ttl_s: float, max_nonces: int = 50_000, window: int = 64) -> None:
        self.ttl_s = ttl_s
        self.max_nonces = max_nonces
        self.window = window
        # nonce id -> [issued, highest nc, bitmap, closed]; insertion (first use) order
        self._entries: OrderedDict[bytes, list[float | int | bool]] = OrderedDict()
        self._floor = float("-inf")  # nonces issued at or before this count as used

    def __len__(self) -> int:
        return len(self._entries)

    def use(self, nonce_id: bytes, issued: float, nc: int | None, now: float) -> bool:
        """Record one accepted request; False when it is a replay (nothing recorded)."""
        entries = self._entries
        while entries:  # nonces past their lifetime are refused as stale anyway
            first = next(iter(entries.values()))
            if float(first[0]) + self.ttl_s + 1.0 > now:
                break
            entries.popitem(last=False)
        if issued <= self._floor:
            return False
        entry = entries.get(nonce_id)
        if entry is None:
            if len(entries) >= self.max_nonces:
                _, oldest = entries.popitem(last=False)
                self._floor = max(self._floor, float(oldest[0]))
                if issued <= self._floor:
                    return False
            entries[nonce_id] = [issued, nc or 0, 1 if nc is not None else 0, nc is None]
            return True
        if entry[3] or nc is None:
            return False  # without qop a nonce is good for one request only
        highest, bitmap = int(entry[1]), int(entry[2])
        if nc > highest:
            shift = nc - highest
            bitmap = (
                1 if shift >= self.window else ((bitmap << shift) | 1) & ((1 << self.window) - 1)
            )
            entry[1], entry[2] = nc, bitmap
            return True
        back = highest - nc
        if back >= self.window or (bitmap >> back) & 1:
            return False
        entry[2] = bitmap | (1 << back)
        return True


class DigestServer:
    """Issues challenges and verifies credentials for one realm with stateless nonces."""

    __slots__ = ("_dummy_ha1", "_secret", "algorithms", "counts", "nonce_ttl_s", "realm")

    def __init__(
        self,
        *,
        realm: str,
        secret: bytes,
        nonce_ttl_s: float = 300.0,
        algorithms: tuple[str, ...] = ALGORITHMS,
        max_nonces: int = 50_000,
    ) -> None:
        if not secret:
            raise ValueError("a non-empty secret is required")
        enabled = tuple(_norm_algorithm(a) for a in algorithms)
        if not enabled or None in enabled:
            raise ValueError(f"unsupported digest algorithms {algorithms!r}")
        self.realm = realm
        self._secret = secret
        self.nonce_ttl_s = nonce_ttl_s
        self.algorithms = frozenset(a for a in enabled if a is not None)
        self.counts = NonceCounts(ttl_s=nonce_ttl_s, max_nonces=max_nonces)
        self._dummy_ha1 = {alg: _h(alg, secrets.token_hex(16)) for alg in _HASHES}

    # nonce = base64url( 8-byte big-endian ms || 8 random bytes || HMAC-SHA256(secret,
    # realm|ms|random)[:16] ): the random part makes every challenge's nonce unique, so
    # nonce counts belong to one client.
    def make_nonce(self, now: float) -> str:
        head = struct.pack(">q", int(now * 1000)) + secrets.token_bytes(8)
        mac = hmac.new(self._secret, self.realm.encode() + b"|" + head, hashlib.sha256)
        return base64.urlsafe_b64encode(head + mac.digest()[:16]).decode().rstrip("=")

    def _nonce_head(self, nonce: str) -> bytes | None:
        """The nonce's timestamp and random part when we issued it, else None."""
        if not nonce.isascii():
            return None
        try:
            raw = base64.urlsafe_b64decode(nonce + "=" * (-len(nonce) % 4))
        except (ValueError, TypeError):
            return None
        if len(raw) != 32:
            return None
        head = raw[:16]
        mac = hmac.new(self._secret, self.realm.encode() + b"|" + head, hashlib.sha256)
        if not hmac.compare_digest(mac.digest()[:16], raw[16:]):
            return None
        return head

    def nonce_age(self, nonce: str, now: float) -> float | None:
        """Seconds since the nonce was issued, or None if it was not issued by us."""
        head = self._nonce_head(nonce)
        if head is None:
            return None
        age = now - struct.unpack(">q", head[:8])[0] / 1000.0
        return age if age >= -1.0 else None  # from the future: not ours (or a clock jump)

    def challenge(self, *, now: float, algorithm: str = "MD5", stale: bool = False) -> str:
        """A ``WWW-Authenticate`` / ``Proxy-Authenticate`` value (RFC 7616 §3.3)."""
        alg = _norm_algorithm(algorithm)
        if alg is None:
            raise ValueError(f"unsupported digest algorithm {algorithm!r}")
        value = (
            f'Digest realm={quote_string(self.realm)}, nonce="{self.make_nonce(now)}", '
            f'algorithm={alg}, qop="auth"'
        )
        return value + ", stale=true" if stale else value

    def challenges(self, *, now: float, stale: bool = False) -> list[str]:
        """One challenge per enabled algorithm, SHA-256 first (each its own header line)."""
        return [
            self.challenge(now=now, algorithm=alg, stale=stale)
            for alg in ALGORITHMS
            if alg in self.algorithms
        ]

    def verify(
        self,
        authorization: str,
        *,
        method: str,
        now: float,
        ha1_lookup: Callable[[str, str], str | None],
        body: bytes = b"",
        uri: str | None = None,
    ) -> AuthResult:
        """Check one ``Authorization`` value (RFC 7616 §3.4, RFC 3261 §22.2).

        ``ha1_lookup(username, algorithm)`` returns the stored HA1 for that algorithm or None.
        ``uri``, when given, must be the credentials' digest-uri (the Request-URI). Accepted
        credentials use up their nonce count: the same ones again are "replayed".
        """
        params = parse_credentials(authorization)
        if params is None:
            return AuthResult(ok=False, username=None, stale=False, reason="no credentials")
        username = params.get("username")
        nonce = params.get("nonce")
        response = params.get("response")
        digest_uri = params.get("uri")
        if username is None or nonce is None or response is None or digest_uri is None:
            return AuthResult(
                ok=False, username=username, stale=False, reason="malformed credentials"
            )
        if params.get("realm") != self.realm:
            return AuthResult(ok=False, username=username, stale=False, reason="wrong realm")
        alg = _norm_algorithm(params.get("algorithm"))
        if alg is None or alg not in self.algorithms:
            return AuthResult(
                ok=False, username=username, stale=False, reason="unsupported algorithm"
            )
        qop = params.get("qop")
        nc = params.get("nc")
        cnonce = params.get("cnonce")
        count: int | None = None
        if qop is not None:
            if qop not in ("auth", "auth-int"):
                return AuthResult(
                    ok=False, username=username, stale=False, reason="unsupported qop"
                )
            if nc is None or cnonce is None or len(nc) != 8 or not _HEX.issuperset(nc):
                return AuthResult(
                    ok=False, username=username, stale=False, reason="malformed credentials"
                )
            count = int(nc, 16)
            if count == 0:  # RFC 7616 §3.4: the first request with a nonce has nc=00000001
                return AuthResult(
                    ok=False, username=username, stale=False, reason="malformed credentials"
                )
        if uri is not None and not same_uri(digest_uri, uri):
            return AuthResult(ok=False, username=username, stale=False, reason="uri mismatch")
        head = self._nonce_head(nonce)
        age = None if head is None else now - struct.unpack(">q", head[:8])[0] / 1000.0
        if head is None or age is None or age < -1.0:  # from the future: not ours
            return AuthResult(ok=False, username=username, stale=False, reason="invalid nonce")
        stored = ha1_lookup(username, alg)
        # unknown users are hashed too, against a random HA1: same work, same answer
        expected = digest_response(
            ha1_hex=stored if stored is not None else self._dummy_ha1[alg],
            nonce=nonce,
            method=method,
            uri=digest_uri,
            algorithm=alg,
            qop=qop,
            nc=nc,
            cnonce=cnonce,
            body=body,
        )
        # bytes: compare_digest refuses non-ASCII text; the response may be any text
        given = response.lower().encode("utf-8", "surrogateescape")
        good = hmac.compare_digest(expected.encode(), given) and stored is not None
        if not good:
            return AuthResult(
                ok=False, username=username, stale=False, reason=INVALID, algorithm=alg
            )
        if age > self.nonce_ttl_s:
            return AuthResult(
                ok=False, username=username, stale=True, reason="stale nonce", algorithm=alg
            )
        if not self.counts.use(head, now - age, count, now):
            return AuthResult(
                ok=False, username=username, stale=True, reason="replayed", algorithm=alg
            )
        return AuthResult(ok=True, username=username, stale=False, reason="ok", algorithm=alg)


# -- client ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """A parsed ``WWW-Authenticate`` / ``Proxy-Authenticate`` Digest challenge."""

    realm: str
    nonce: str
    algorithm: str = "MD5"  # canonical; may be an unsupported name
    qop: tuple[str, ...] = ()
    opaque: str | None = None
    stale: bool = False

    @property
    def supported(self) -> bool:
        return _norm_algorithm(self.algorithm) is not None


def parse_challenge(value: str) -> Challenge:
    """Parse a Digest challenge; raises ``SipParseError(None)`` if it is not one we can use."""
    parsed = _parse_digest_params(value)
    if parsed is None or parsed[0].lower() != "digest":
        raise SipParseError("not a Digest challenge", None)
    params = parsed[1]
    realm = params.get("realm")
    nonce = params.get("nonce")
    if realm is None or nonce is None:
        raise SipParseError("Digest challenge without realm or nonce", None)
    algorithm = params.get("algorithm", "MD5").strip()
    qop = tuple(q.strip().lower() for q in params.get("qop", "").split(",") if q.strip())
    return Challenge(
        realm=realm,
        nonce=nonce,
        algorithm=algorithm.upper(),
        qop=qop,
        opaque=params.get("opaque"),
        stale=params.get("stale", "").lower() == "true",
    )


def select_challenge(values: list[str]) -> str | None:
    """Of several challenges (one per header line), the strongest one we support."""
    best: tuple[int, str] | None = None
    for value in values:
        try:
            ch = parse_challenge(value)
        except SipParseError:
            continue
        alg = _norm_algorithm(ch.algorithm)
        if alg is None:
            continue
        rank = ALGORITHMS.index(alg)
        if best is None or rank < best[0]:
            best = (rank, value)
    return None if best is None else best[1]


def build_authorization(
    challenge: str,
    *,
    method: str,
    uri: str,
    username: str,
    password: str,
    cnonce: str | None = None,
    nc: int = 1,
    body: bytes = b"",
) -> str:
    """An ``Authorization`` / ``Proxy-Authorization`` value answering ``challenge``.

    Uses qop=auth when offered (auth-int only if it is the sole option), the RFC 2069 form
    when the challenge has no qop. Raises ``ValueError`` for an unsupported algorithm.
    """
    ch = parse_challenge(challenge)
    alg = _norm_algorithm(ch.algorithm)
    if alg is None:
        raise ValueError(f"unsupported digest algorithm {ch.algorithm!r}")
    qop: str | None = None
    if "auth" in ch.qop:
        qop = "auth"
    elif "auth-int" in ch.qop:
        qop = "auth-int"
    nc_text = f"{nc:08x}"
    if qop is not None and cnonce is None:
        cnonce = secrets.token_hex(8)
    response = digest_response(
        ha1_hex=ha1(username, ch.realm, password, alg),
        nonce=ch.nonce,
        method=method,
        uri=uri,
        algorithm=alg,
        qop=qop,
        nc=nc_text,
        cnonce=cnonce,
        body=body,
    )
    parts = [
        f"Digest username={quote_string(username)}",
        f"realm={quote_string(ch.realm)}",
        f"nonce={quote_string(ch.nonce)}",
        f"uri={quote_string(uri)}",
        f'response="{response}"',
        f"algorithm={alg}",
    ]
    if qop is not None and cnonce is not None:
        parts.append(f"cnonce={quote_string(cnonce)}")
        parts.append(f"qop={qop}")
        parts.append(f"nc={nc_text}")
    if ch.opaque is not None:
        parts.append(f"opaque={quote_string(ch.opaque)}")
    return ", ".join(parts)

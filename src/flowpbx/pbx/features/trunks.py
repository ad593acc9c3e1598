"""Trunks as a user agent client: outbound registration and the identity we present.

`TrunkRegistration` keeps one provider account registered (RFC 3261 §10.2): REGISTER with
digest auth (answering 401/407 with ``sip.auth``), re-REGISTER before the binding expires
(half-way for short intervals, a minute early for long ones), 423 answered with the
provider's Min-Expires, and on failure a back-off that doubles from ``retry_min_s`` up to
``retry_max_s``. `TrunkManager` runs one per trunk with ``register: true`` and reports their
state (``states()``, shown by ``PbxService.trunk_states()``).

`caller_identity` is the From / P-Asserted-Identity / Privacy a call out through a trunk
carries (RFC 3325, RFC 3323), per the trunk's settings: the lead's ``call_phone`` passes its
``from_uri``, ``from_name`` and ``headers`` to ``UacLeg``.

`to_e164` and `inbound_numbers` turn what a provider sends into E.164 (SPEC §2 My numbers):
the called number from the Request-URI user, or from the To user when the Request-URI does
not carry one (``s``, the trunk's account name); ``tel:`` URIs alike; ``+``, ``00`` and the
trunk's national prefix + country code understood; visual separators dropped.

State of one registration (a table, like the other state machines)::

    idle --start--> registering --2xx--> registered --refresh--> registering
    registering --failure/timeout--> failed --back-off--> registering
    any --stop--> stopped (un-REGISTER with Expires: 0 when registered)
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import ipaddress
import logging
import random
import socket
from collections import OrderedDict
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from flowpbx.pbx.ports import SipHost
from flowpbx.pbx.security import Rate, TokenBucket, dial_allowed
from flowpbx.settings import Settings
from flowpbx.sip.auth import build_authorization, parse_challenge, select_challenge
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.headers import Headers
from flowpbx.sip.message import Request, Response, new_call_id, new_tag
from flowpbx.sip.numeric import is_digits, parse_delta
from flowpbx.sip.transaction import ClientTransaction
from flowpbx.sip.uri import SipUri
from flowpbx.store.records import TrunkRec

log = logging.getLogger("flowpbx.trunks")

Addr = tuple[str, int]


class RegState(enum.Enum):
    IDLE = "idle"
    REGISTERING = "registering"
    REGISTERED = "registered"
    FAILED = "failed"
    STOPPED = "stopped"


_TRANSITIONS: dict[RegState, frozenset[RegState]] = {
    RegState.IDLE: frozenset({RegState.REGISTERING, RegState.STOPPED}),
    RegState.REGISTERING: frozenset({RegState.REGISTERED, RegState.FAILED, RegState.STOPPED}),
    RegState.REGISTERED: frozenset({RegState.REGISTERING, RegState.STOPPED}),
    RegState.FAILED: frozenset({RegState.REGISTERING, RegState.STOPPED}),
    RegState.STOPPED: frozenset(),
}


def refresh_delay(expires: int) -> float:
    """When to re-REGISTER a binding granted for ``expires`` seconds: half-way for short
    intervals, a minute before expiry for long ones; never sooner than one second."""
    if expires <= 120:
        return max(1.0, expires / 2)
    return float(expires - 60)


def backoff_delay(failures: int, *, minimum: float, maximum: float) -> float:
    """Seconds to wait after ``failures`` consecutive failures (1, 2, ...): doubling from
    ``minimum``, capped at ``maximum``."""
    return float(min(maximum, minimum * 2 ** max(0, failures - 1)))


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class TrunkStatus:
    """What the API shows about one trunk's registration."""

    name: str
    state: str
    last_status: int | None  # the last final response (None: none yet, 408: timeout)
    expires_in_s: int | None  # while registered
    next_attempt_in_s: int | None  # while a retry or refresh is scheduled
    failures: int
    error: str | None = None  # why the last attempt failed, when no SIP response said it


def _bound_expiry(response: Response, contact_user: str, requested: int) -> int:
    """The binding lifetime the registrar granted (RFC 3261 §10.2.4): the expires param of
    our Contact in the 200, else its Expires header, else what we asked for."""
    for value in response.headers.get_all("Contact") if "Contact" in response.headers else []:
        for part in value.split(","):
            if f"sip:{contact_user}@" in part and "expires=" in part.lower():
                tail = part.lower().split("expires=", 1)[1]
                granted = parse_delta(tail.split(";", 1)[0].split(">", 1)[0].strip(' \t"'))
                if granted is not None:
                    return granted
    expires = parse_delta((response.headers.get("Expires") or "").strip())
    return requested if expires is None else expires


class TrunkRegistration:
    """Keeps one trunk registered; see the module docstring."""

    def __init__(
        self,
        rt: SipHost,
        trunk: TrunkRec,
        addr: Addr,
        *,
        expires: int = 3600,
        retry_min_s: float = 30.0,
        retry_max_s: float = 600.0,
    ) -> None:
        self.rt = rt
        self.trunk = trunk
        self.addr = addr
        self.expires = expires
        self.retry_min_s = retry_min_s
        self.retry_max_s = retry_max_s
        self.state = RegState.IDLE
        self.last_status: int | None = None
        self.failures = 0
        self.registrations = 0  # successful REGISTERs so far (refreshes included)
        self._loop = asyncio.get_running_loop()
        self._call_id = new_call_id()
        self._tag = new_tag()
        self._cseq = 0
        self._auth_answered = False
        self._txn: ClientTransaction | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._due: float | None = None
        self._expires_at: float | None = None
        self._requested = expires
        self.error: str | None = None

    # -- state -------------------------------------------------------------------------------

    def _to(self, new: RegState) -> None:
        if new in _TRANSITIONS[self.state]:
            self.state = new

    def status(self) -> TrunkStatus:
        now = self._loop.time()
        expires_in = None
        if self.state is RegState.REGISTERED and self._expires_at is not None:
            expires_in = max(0, int(self._expires_at - now))
        next_in = None if self._due is None else max(0, int(self._due - now))
        error = self.error
        if error is None and self.state is RegState.REGISTERING:
            why = self._connect_error()  # the REGISTER waits for its timeout; say why now
            error = f"cannot connect: {why}" if why else None
        return TrunkStatus(
            name=self.trunk.name,
            state=self.state.value,
            last_status=self.last_status,
            expires_in_s=expires_in,
            next_attempt_in_s=next_in,
            failures=self.failures,
            error=error,
        )

    # -- lifecycle ---------------------------------------------------------------------------

    def start(self) -> None:
        self._schedule(0.0)

    def stop(self) -> None:
        """Stop refreshing; remove the binding if we hold one (Expires: 0)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._due = None
        if self.state is RegState.REGISTERED:
            self._send(expires=0)
        self._to(RegState.STOPPED)

    def _schedule(self, delay: float) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._due = self._loop.time() + delay
        self._handle = self._loop.call_later(delay, self._attempt)

    def _attempt(self) -> None:
        self._handle = None
        self._due = None
        if self.state is RegState.STOPPED:
            return
        self._to(RegState.REGISTERING)
        self._auth_answered = False
        self._send(expires=self._requested)

    # -- the REGISTER ------------------------------------------------------------------------

    @property
    def domain(self) -> str:
        return self.trunk.from_domain or self.trunk.host

    @property
    def user(self) -> str:
        return self.trunk.username or "flowpbx"

    @property
    def transport(self) -> str | None:
        """ "tcp" or "tls" for a stream trunk; None: UDP (or whatever the endpoint picks)."""
        name = self.trunk.transport.lower()
        return name if name in ("tcp", "tls") else None

    def _contact(self) -> str:
        sip = self.rt.sip
        name = self.transport
        port = sip.port_of(name) if name else sip.port
        transport = f";transport={name}" if name else ""
        return f"<sip:{self.user}@{sip.host}:{port}{transport}>"

    def _build(self, expires: int, authorization: tuple[str, str] | None = None) -> Request:
        self._cseq += 1
        aor = f"sip:{self.user}@{self.domain}"
        h = Headers()
        h.add("Max-Forwards", "70")
        h.add("From", f"<{aor}>;tag={self._tag}")
        h.add("To", f"<{aor}>")
        h.add("Call-ID", self._call_id)
        h.add("CSeq", f"{self._cseq} REGISTER")
        h.add("Contact", self._contact())
        h.add("Expires", str(expires))
        h.add("User-Agent", self.rt.user_agent)
        if authorization is not None:
            h.add(*authorization)
        uri = f"sip:{self.domain}" if self.trunk.from_domain else f"sip:{self.trunk.host}"
        if self.trunk.port != 5060 and not self.trunk.from_domain:
            uri += f":{self.trunk.port}"
        return Request(method="REGISTER", uri=uri, headers=h, body=b"")

    def _send(self, expires: int, authorization: tuple[str, str] | None = None) -> None:
        request = self._build(expires, authorization)
        self.rt.sip.add_via(request)
        try:
            self._txn = self.rt.sip.send_request(request, self.addr, self, transport=self.transport)
        except ValueError as exc:  # the transport is not enabled
            self._txn = None
            self.error = str(exc)
            self._fail()

    # -- responses and timeouts (from the dispatcher) ----------------------------------------

    def on_response(self, response: Response, txn: ClientTransaction) -> None:
        if txn is not self._txn or response.status < 200:
            return
        status = response.status
        expires_asked = txn.request.expires or 0  # our own REGISTER's
        if expires_asked == 0:
            return  # the answer to our un-REGISTER
        if status in (401, 407) and self._answer_challenge(response, txn.request):
            return
        self.last_status = status
        self.error = None
        if 200 <= status < 300:
            granted = _bound_expiry(response, self.user, self._requested)
            if granted <= 0:
                self._fail()
                return
            self.failures = 0
            self.error = None
            self.registrations += 1
            self._expires_at = self._loop.time() + granted
            self._to(RegState.REGISTERED)
            self._schedule(refresh_delay(granted))
            log.info("trunk %s registered for %s s", self.trunk.name, granted)
            return
        if status == 423:
            # RFC 3261 §10.2.8: Interval Too Brief; ask again with the registrar's minimum.
            minimum = parse_delta((response.headers.get("Min-Expires") or "").strip()) or 0
            if minimum > self._requested:
                self._requested = minimum
                self._send(expires=minimum)
                return
        self._fail()

    def _answer_challenge(self, response: Response, request: Request) -> bool:
        if self.trunk.username is None or self.trunk.password is None:
            return False
        proxy = response.status == 407
        header = "Proxy-Authenticate" if proxy else "WWW-Authenticate"
        chosen = select_challenge(response.headers.get_all(header))
        if chosen is None:
            return False
        try:
            stale = parse_challenge(chosen).stale
        except SipParseError:
            return False
        if self._auth_answered and not stale:
            return False  # our credentials were refused
        self._auth_answered = True
        value = build_authorization(
            chosen,
            method="REGISTER",
            uri=request.uri,
            username=self.trunk.username,
            password=self.trunk.password,
        )
        name = "Proxy-Authorization" if proxy else "Authorization"
        self._send(expires=self._requested, authorization=(name, value))
        return True

    def on_timeout(self, txn: ClientTransaction) -> None:
        if txn is self._txn and self.state is not RegState.STOPPED:
            self.last_status = 408
            why = self._connect_error()
            self.error = f"cannot connect: {why}" if why else "no response (timeout)"
            self._fail()

    def _connect_error(self) -> str | None:
        """Why the last connection to the trunk failed (TLS keeps it: pbx/tls.py)."""
        return self.rt.sip.connect_error(self.transport or "udp", self.addr)

    def _fail(self) -> None:
        self.failures += 1
        self._expires_at = None
        self._to(RegState.FAILED)
        delay = backoff_delay(self.failures, minimum=self.retry_min_s, maximum=self.retry_max_s)
        delay *= random.uniform(0.9, 1.0)  # spread retries of many trunks
        log.warning(
            "trunk %s registration failed (%s); retrying in %.0f s",
            self.trunk.name,
            self.last_status,
            delay,
        )
        self._schedule(delay)


class TrunkManager:
    """One `TrunkRegistration` per trunk with ``register: true``."""

    def __init__(self, rt: SipHost, **registration_options: Any) -> None:
        self.rt = rt
        self._options = registration_options
        self._regs: dict[str, TrunkRegistration] = {}

    def sync(self, trunks: list[TrunkRec], resolve: Callable[[TrunkRec], Addr | None]) -> None:
        """Start, restart (settings changed) or stop registrations to match ``trunks``;
        ``resolve(trunk)`` gives the address to send to, or None."""
        wanted = {t.name: t for t in trunks if t.register}
        for name in list(self._regs):
            reg = self._regs[name]
            if wanted.get(name) != reg.trunk:
                reg.stop()
                del self._regs[name]
        for name, trunk in wanted.items():
            if name in self._regs:
                continue
            addr = resolve(trunk)
            if addr is None:
                log.warning("trunk %s does not resolve: not registering", name)
                continue
            reg = TrunkRegistration(self.rt, trunk, addr, **self._options)
            self._regs[name] = reg
            reg.start()

    def get(self, name: str) -> TrunkRegistration | None:
        return self._regs.get(name)

    def states(self) -> list[TrunkStatus]:
        return [reg.status() for reg in self._regs.values()]

    def close(self) -> None:
        for reg in self._regs.values():
            reg.stop()
        self._regs.clear()


# -- what one trunk may send: INVITE rate, history rows for unknown numbers ----------------------


class TrunkLimits:
    """Per-trunk limits on what arrives from a trunk's address (which anyone can spoof over
    UDP): new INVITEs per second (token bucket ``invite_rate``; retransmissions never reach
    it, the transaction layer absorbs them), and the call-history rows written for calls
    to numbers that are not ours (``rejected_rate``: over it, rows are skipped and the next
    row written says how many were). A trunk's own ``invite_rate`` and ``max_calls``
    override the defaults; concurrent calls are counted by `AccessGuard`'s `CallLimiter`.
    State is one small entry per trunk name."""

    def __init__(self, *, invite_rate: Rate, rejected_rate: Rate, max_calls: int = 0) -> None:
        self.invite_rate = invite_rate
        self.rejected_rate = rejected_rate
        self.max_calls = max_calls
        self._parsed: dict[str, Rate] = {}
        self._invites: dict[str, TokenBucket] = {}
        self._rejected: dict[str, TokenBucket] = {}
        self._skipped: dict[str, int] = {}
        self.invites_refused = 0
        self.rejected_not_recorded = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> TrunkLimits:
        return cls(
            invite_rate=Rate.parse(settings.sip_rate_trunk_invite),
            rejected_rate=Rate.parse(settings.sip_rate_rejected_history),
            max_calls=settings.sip_max_calls_per_trunk,
        )

    def call_cap(self, trunk: TrunkRec) -> int:
        """Concurrent calls `trunk` may have (0 = no cap)."""
        return self.max_calls if trunk.max_calls is None else trunk.max_calls

    def _rate(self, trunk: TrunkRec) -> Rate:
        text = trunk.invite_rate
        if text is None:
            return self.invite_rate
        rate = self._parsed.get(text)
        if rate is None:
            try:
                rate = Rate.parse(text)
            except ValueError:
                log.warning("trunk %s: bad invite_rate %r; using the default", trunk.name, text)
                rate = self.invite_rate
            if len(self._parsed) < 1024:
                self._parsed[text] = rate
        return rate

    def admit_invite(self, trunk: TrunkRec, now: float) -> int | None:
        """None when a new INVITE from `trunk` is within its rate; else the seconds to ask
        the provider to wait (Retry-After of the 503)."""
        rate = self._rate(trunk)
        if rate.per_s <= 0:
            return None
        bucket = self._invites.get(trunk.name)
        if bucket is None:
            bucket = self._invites[trunk.name] = TokenBucket(tokens=rate.burst, at=now)
        if bucket.take(rate, now):
            return None
        self.invites_refused += 1
        return bucket.wait_s(rate)

    def record_rejected(self, trunk: str, now: float) -> int | None:
        """A call from `trunk` to a number that is not ours: None when its history row is
        over the rate (skip it), else how many rows were skipped before this one."""
        rate = self.rejected_rate
        if rate.per_s > 0:
            bucket = self._rejected.get(trunk)
            if bucket is None:
                bucket = self._rejected[trunk] = TokenBucket(tokens=rate.burst, at=now)
            if not bucket.take(rate, now):
                skipped = self._skipped.get(trunk, 0)
                if skipped == 0:
                    log.warning(
                        "trunk %s: calls to unknown numbers over %g/s; recording them in "
                        "history as a count",
                        trunk,
                        rate.per_s,
                    )
                self._skipped[trunk] = skipped + 1
                self.rejected_not_recorded += 1
                return None
        return self._skipped.pop(trunk, 0)


# -- trunk host names, resolved off the event loop -------------------------------------------


class HostResolver:
    """A trunk's host name -> its addresses, for each call out: resolved with the loop's
    ``getaddrinfo`` (a worker thread, so a slow DNS server never stalls SIP and media),
    answers kept ``ttl_s`` seconds (failures ``negative_ttl_s``), at most ``max_entries``
    names (the oldest dropped), and one lookup at a time per name (calls placed meanwhile
    wait for it). IPv4 addresses come first, each family sorted. IP literals are returned
    as they are."""

    def __init__(
        self,
        *,
        ttl_s: float = 60.0,
        negative_ttl_s: float = 10.0,
        max_entries: int = 256,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self.ttl_s = ttl_s
        self.negative_ttl_s = negative_ttl_s
        self.max_entries = max_entries
        self._clock = clock
        self._cache: OrderedDict[str, tuple[float, tuple[str, ...]]] = OrderedDict()
        self._pending: dict[str, asyncio.Future[tuple[str, ...]]] = {}
        self.lookups = 0  # getaddrinfo calls made

    def _now(self) -> float:
        return self._clock() if self._clock is not None else asyncio.get_running_loop().time()

    def cached(self, host: str) -> tuple[str, ...] | None:
        """The addresses last found for `host` (even expired), without a lookup; None when
        it was never looked up. For code that cannot wait (a configuration being applied
        right after `resolve` was awaited for its trunks)."""
        hit = self._cache.get(host.lower())
        return None if hit is None else hit[1]

    async def resolve(self, host: str) -> tuple[str, ...]:
        """The addresses of `host` (empty when it does not resolve)."""
        try:
            return (str(ipaddress.ip_address(host.strip("[]"))),)
        except ValueError:
            pass
        key = host.lower()
        hit = self._cache.get(key)
        if hit is not None and hit[0] > self._now():
            return hit[1]
        pending = self._pending.get(key)
        if pending is None:
            pending = asyncio.ensure_future(self._lookup(key))
            self._pending[key] = pending
            pending.add_done_callback(lambda _: self._pending.pop(key, None))
        return await asyncio.shield(pending)

    async def _lookup(self, host: str) -> tuple[str, ...]:
        self.lookups += 1
        loop = asyncio.get_running_loop()
        try:
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
        except (OSError, UnicodeError) as exc:
            log.warning("trunk host %s does not resolve: %s", host, exc)
            addresses: tuple[str, ...] = ()
        else:
            found = {(int(info[0]), str(info[4][0])) for info in infos}
            v4 = int(socket.AF_INET)
            addresses = tuple(a for _, a in sorted(found, key=lambda f: (f[0] != v4, f)))
        ttl = self.ttl_s if addresses else self.negative_ttl_s
        self._cache[host] = (self._now() + ttl, addresses)
        self._cache.move_to_end(host)
        while len(self._cache) > self.max_entries:
            self._cache.popitem(last=False)
        return addresses


# -- the identity a call out through a trunk presents -------------------------------------------


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class OutboundIdentity:
    """From and the extra headers of an INVITE to a trunk (pass them to ``UacLeg``)."""

    from_uri: str
    from_name: str | None
    headers: tuple[tuple[str, str], ...] = ()


def caller_identity(
    trunk: TrunkRec, *, number: str, name: str | None = None, anonymous: bool = False
) -> OutboundIdentity:
    """From / P-Asserted-Identity / Privacy for a call out through ``trunk`` (SPEC §4).

    The number goes in From at the trunk's from-domain (or host). An anonymous call (the `h`
    suffix) shows ``"Anonymous" <sip:anonymous@anonymous.invalid>`` with ``Privacy: id``
    (RFC 3323); the real number goes in P-Asserted-Identity (RFC 3325) only where the trunk
    is trusted — an untrusted provider would show it to the callee.
    """
    domain = trunk.from_domain or trunk.host
    real = f"sip:{number}@{domain}"
    headers: list[tuple[str, str]] = []
    if trunk.trusted:
        headers.append(("P-Asserted-Identity", f"<{real}>"))
    if anonymous:
        headers.append(("Privacy", "id"))
        return OutboundIdentity(
            from_uri="sip:anonymous@anonymous.invalid",
            from_name="Anonymous",
            headers=tuple(headers),
        )
    return OutboundIdentity(from_uri=real, from_name=name, headers=tuple(headers))


# -- what the provider sends, as E.164 ----------------------------------------------------------

# RFC 3966 §3 visual-separator, and the blanks people type
_SEPARATORS = frozenset("-.() \t/")
SHORTEST_E164 = 7  # digits; fewer is a short code (112, an extension), kept as dialled


def to_e164(
    text: str, *, country_code: str | None = None, national_prefix: str | None = None
) -> str | None:
    """A number as a provider writes it -> E.164 (``+`` and digits), or None when `text`
    is not a number at all (``s``, an account name).

    ``+...`` is international already; ``00...`` is the international prefix. With the
    trunk's `country_code`: a number starting with `national_prefix` is national (the
    prefix replaced by the country code: "067000001", "0", "371" -> "+37167000001"), one
    starting with the country code is international without its ``+``, any other is a
    subscriber number of that country. Without it, a long enough digit string is taken as
    international. Short codes (under 7 digits) stay as dialled, without ``+``.
    """
    value = unquote(text).strip()
    value = value.split(";", 1)[0]  # user parameters (RFC 3261 §19.1.6: ;phone-context=...)
    plus = value.startswith("+")
    body = value[1:] if plus else value
    if not body or any(ch not in _SEPARATORS and not is_digits(ch) for ch in body):
        return None
    digits = "".join(ch for ch in body if ch not in _SEPARATORS)
    if not digits:
        return None
    if plus:
        return "+" + digits
    if len(digits) < SHORTEST_E164:
        return digits
    if digits.startswith("00"):
        return "+" + digits[2:]
    if country_code:
        if national_prefix and digits.startswith(national_prefix):
            return "+" + country_code + digits[len(national_prefix) :]
        if digits.startswith(country_code):
            return "+" + digits
        return "+" + country_code + digits
    return "+" + digits


def normalize_number(user: str) -> str:
    """A dialled or presented number without a trunk's format: E.164 when it is one,
    short codes as dialled, '' when it is not a number."""
    return to_e164(user) or ""


def trunk_e164(trunk: TrunkRec, text: str) -> str | None:
    """`to_e164` with the trunk's number format."""
    return to_e164(text, country_code=trunk.country_code, national_prefix=trunk.national_prefix)


def dial_string(trunk: TrunkRec, dialled: str) -> str:
    """The user part of the Request-URI for `dialled` out through `trunk`, in the trunk's
    `dial_format` (None: as dialled). The number is first read as E.164 with the trunk's
    number format (``+371...``, ``00371...`` and national dialling all mean the same number),
    then written as ``e164`` (+37167000001), ``national`` (the national prefix and national
    number, 067000001; a number of another country in the international form) or
    ``international`` (00 and the country code, 0037167000001). Short codes and what is not
    a number go as dialled."""
    form = trunk.dial_format
    if not form:
        return dialled
    e164 = trunk_e164(trunk, dialled)
    if e164 is None or not e164.startswith("+"):
        return dialled
    digits = e164[1:]
    cc = trunk.country_code or ""
    if form == "national" and cc and digits.startswith(cc) and len(digits) > len(cc):
        return (trunk.national_prefix or "") + digits[len(cc) :]
    if form in ("national", "international"):
        return "00" + digits
    return e164


# International access codes besides 00, by country code (ITU-T E.164 Annex: NANP dials
# 011, Australia 0011, Japan 010). A number dialled with one of them is international.
_ACCESS_CODES: dict[str, tuple[str, ...]] = {"1": ("011",), "61": ("0011",), "81": ("010",)}
# A trunk without a number format: the common access codes of any country.
_ANY_ACCESS_CODES = ("00", "011")


def outbound_readings(trunk: TrunkRec, sent: str) -> frozenset[str] | None:
    """Every E.164 number (short codes stay as dialled) the provider behind `trunk` may
    take `sent` — the exact user part of the Request-URI we send — to mean: the trunk's
    national format (national prefix, country code, ``+``, ``00``), and the number after
    an international access code of the trunk's country (``011`` in NANP). None when
    `sent` is not a number at all (refuse it: the provider may read it any way)."""
    first = trunk_e164(trunk, sent)
    if first is None or sent != sent.strip():
        return None
    readings = {first}
    text = unquote(sent)
    digits = "".join(ch for ch in text if "0" <= ch <= "9")  # ASCII digits only
    if not text.startswith("+"):
        cc = trunk.country_code
        codes = ("00", *_ACCESS_CODES.get(cc, ())) if cc else _ANY_ACCESS_CODES
        for code in codes:
            if digits.startswith(code) and len(digits) > len(code):
                readings.add("+" + digits[len(code) :])
    return frozenset(readings)


def outbound_allowed(
    trunk: TrunkRec, sent: str, allowed: tuple[str, ...], blocked: tuple[str, ...]
) -> bool:
    """May a call go out through `trunk` with `sent` as the Request-URI user? Every reading
    of it (`outbound_readings`) must pass the allowed/blocked prefixes (security.py's
    `dial_allowed`: blocked wins, prefixes in E.164): "19005551234", "01119005551234" and
    "0019005551234" on a NANP trunk are all +1900... and blocked like "+19005551234"."""
    readings = outbound_readings(trunk, sent)
    if not readings:
        return False
    return all(dial_allowed(r, allowed, blocked) for r in readings)


def _uri_number(uri: SipUri) -> str:
    """The number part of a sip:/sips:/tel: URI ('' for other schemes)."""
    if uri.scheme in ("sip", "sips", "tel"):
        return uri.user or ""
    return ""


def inbound_numbers(trunk: TrunkRec, ruri: SipUri, to: SipUri, from_: SipUri) -> tuple[str, str]:
    """(called number, caller number) of an INVITE from `trunk`, both E.164 when they are
    numbers. The called number is the Request-URI's, unless that is not a number or is the
    trunk's own account name (a registered trunk's calls arrive at our Contact): then the
    To's. The called number is '' when neither is a number; the caller is "anonymous"
    when From carries no number."""
    user = _uri_number(ruri)
    did = None
    if not (trunk.username and user == trunk.username):
        did = trunk_e164(trunk, user)
    if did is None:
        did = trunk_e164(trunk, _uri_number(to))
    caller = trunk_e164(trunk, _uri_number(from_))
    return did or "", caller or "anonymous"


__all__ = [
    "SHORTEST_E164",
    "HostResolver",
    "OutboundIdentity",
    "RegState",
    "TrunkLimits",
    "TrunkManager",
    "TrunkRegistration",
    "TrunkStatus",
    "backoff_delay",
    "caller_identity",
    "dial_string",
    "inbound_numbers",
    "normalize_number",
    "outbound_allowed",
    "outbound_readings",
    "refresh_delay",
    "to_e164",
    "trunk_e164",
]

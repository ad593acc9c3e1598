"""SIP access control, sans-I/O: bans, rate limits, call caps, outbound dial restrictions.

`AccessGuard` keeps per-source-address state and answers questions with an explicit ``now``
(the loop's monotonic clock in the runtime, a plain float in tests):

* ``admit(addr, data, now)`` — may this datagram/framed message be parsed at all? False for a
  banned source, for a request over its token-bucket rate (REGISTER, INVITE, OPTIONS each have
  their own bucket per source address), and for an OPTIONS from an unknown source when the
  setting hides the PBX from scanners (``sip_options_policy = "known"``). It looks only at the
  first bytes of the message (the method), so a flood is dropped before the parser runs.
* ``record_failure(ip, now, reason)`` — a digest authentication failure (wrong password or
  unknown user: the answers are identical, SPEC §7). ``sip_ban_threshold`` failures within
  ``sip_ban_window_s`` ban the address for ``sip_ban_duration_s``. Every credential counts:
  a request carrying several for one realm is one failure each (pbx/registrar.py).
* ``record_success(ip, now)`` — the address authenticated; it becomes a *known* source.
* ``bans(now)`` / ``lift_ban(ip)`` — the ban list, for the API (through pbx/service.py).
* ``replays`` — how many accepted credentials came again (nonce counts are tracked in
  sip/auth.py ``NonceCounts``; the client gets a fresh stale challenge).
* ``calls`` — a `CallLimiter`: concurrent calls per extension and per trunk.
* ``source_in_networks(ip, cidrs)`` — per-extension allow-lists (``allowed_cidrs``): the
  registrar refuses right credentials from elsewhere with the answer of a wrong password.
* ``config.dial_allowed_prefixes`` / ``dial_blocked_prefixes`` — outbound dial restrictions
  (blocked, premium-rate prefixes win), checked by the module's ``dial_allowed`` on every
  reading of the number sent to a trunk (pbx/features/trunks.py ``outbound_allowed``).

A *source* is an IPv4 address, or an IPv6 address's /64 (one subscriber holds a whole /64
and can send from any address in it; an IPv4-mapped IPv6 address is its IPv4 address):
`source_key`. Rates, failures, bans and the known flag all count per source.

Trusted networks (``sip_trusted_networks``, CIDR) and trunk addresses are never banned or
rate limited. Memory is bounded: per-source state lives in an LRU of at most
``max_sources`` entries; an evicted source only loses its failure count and buckets, never an
active ban (bans live in their own bounded map and expire) nor its known flag (sources that
authenticated live in their own LRU of ``max_sources`` entries, which only another
authentication can push one out of — a flood of spoofed UDP sources cannot).
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Literal

log = logging.getLogger("flowpbx.security")

Addr = tuple[str, int]
OptionsPolicy = Literal["any", "known"]
IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Premium-rate and other toll-fraud favourites blocked by default (E.164 prefixes): North
# American 900/976 numbers, international premium rate (+979), satellite networks (+881,
# +882, +883 ranges used for shared-cost fraud), and the Inmarsat ocean regions (+870).
DEFAULT_BLOCKED_PREFIXES: tuple[str, ...] = (
    "+1900",
    "+1976",
    "+979",
    "+870",
    "+881",
    "+882",
    "+883",
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Rate:
    """A token bucket's refill rate (tokens per second) and capacity; rate 0 = unlimited."""

    per_s: float
    burst: float

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"RATE:BURST"`` or ``"RATE"`` (burst = 4 x rate); ``"0"`` turns the limit off."""
        rate, _, burst = text.strip().partition(":")
        per_s = float(rate)
        cap = float(burst) if burst else max(1.0, per_s * 4)
        if per_s < 0 or cap < 1:
            raise ValueError(f"bad rate {text!r}: expected RATE[:BURST], e.g. 20:100")
        return cls(per_s=per_s, burst=cap)


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardConfig:
    """The knobs of `AccessGuard` (built from `flowpbx.settings.Settings`)."""

    ban_threshold: int = 10  # failures within the window that ban an address (0 = never)
    ban_window_s: float = 60.0
    ban_duration_s: float = 600.0
    rate_register: Rate = Rate(per_s=20.0, burst=100.0)
    rate_invite: Rate = Rate(per_s=20.0, burst=100.0)
    rate_options: Rate = Rate(per_s=20.0, burst=100.0)
    options_policy: OptionsPolicy = "any"
    trusted_networks: tuple[str, ...] = ()
    max_calls_per_extension: int = 8  # 0 = no cap
    max_calls_per_trunk: int = 0
    dial_allowed_prefixes: tuple[str, ...] = ()  # empty: any number not blocked
    dial_blocked_prefixes: tuple[str, ...] = DEFAULT_BLOCKED_PREFIXES
    max_sources: int = 10_000
    max_bans: int = 10_000

    @classmethod
    def from_settings(cls, settings: object) -> GuardConfig:
        """Take every field the settings object has (``sip_ban_threshold`` → ban_threshold,
        ``sip_rate_register`` → rate_register, ...); missing ones keep their defaults."""
        values: dict[str, object] = {}
        for name in cls.__dataclass_fields__:
            for key in (f"sip_{name}", name):
                if hasattr(settings, key):
                    value = getattr(settings, key)
                    if name.startswith("rate_") and isinstance(value, str):
                        value = Rate.parse(value)
                    values[name] = value
                    break
        return cls(**values)  # type: ignore[arg-type]


@dataclass(slots=True)
class TokenBucket:
    """One token bucket of a `Rate` (per-source limits here, per-trunk limits in trunks.py)."""

    tokens: float
    at: float

    def take(self, rate: Rate, now: float) -> bool:
        self.tokens = min(rate.burst, self.tokens + (now - self.at) * rate.per_s)
        self.at = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return True
        return False

    def wait_s(self, rate: Rate) -> int:
        """Whole seconds until the next token (at least 1)."""
        if rate.per_s <= 0:
            return 1
        return max(1, min(3600, math.ceil((1.0 - self.tokens) / rate.per_s)))


@dataclass(slots=True)
class _Source:
    failures: deque[float] = field(default_factory=deque)
    buckets: dict[str, TokenBucket] = field(default_factory=dict)
    dropped: int = 0


def source_key(ip: str) -> str:
    """The source an address counts as (module docstring): an IPv4 address itself, an
    IPv6 address its /64, an IPv4-mapped IPv6 address its IPv4 address."""
    if ":" not in ip:
        return ip
    return _ipv6_source_key(ip)


@functools.lru_cache(maxsize=4096)
def _ipv6_source_key(ip: str) -> str:
    try:
        address = ipaddress.IPv6Address(ip.strip("[]").split("%", 1)[0])
    except ValueError:
        return ip
    if address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(ipaddress.IPv6Network((address, 64), strict=False))


@dataclass(frozen=True, slots=True, kw_only=True)
class Ban:
    """One banned address: why, since when and until when (guard clock seconds)."""

    ip: str
    reason: str
    since: float
    until: float
    failures: int

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.until - now)


class CallLimiter:
    """Concurrent calls per key (``ext:101``, ``trunk:provider``) under a cap."""

    def __init__(self) -> None:
        self._active: dict[str, int] = {}

    def acquire(self, key: str, cap: int) -> bool:
        """Count one more call on ``key``; False (nothing counted) when ``cap`` (>0) is
        reached."""
        n = self._active.get(key, 0)
        if cap > 0 and n >= cap:
            return False
        self._active[key] = n + 1
        return True

    def release(self, key: str) -> None:
        n = self._active.get(key, 0) - 1
        if n > 0:
            self._active[key] = n
        else:
            self._active.pop(key, None)

    def active(self, key: str) -> int:
        return self._active.get(key, 0)

    def snapshot(self) -> dict[str, int]:
        return dict(self._active)


_RATED = {b"REGISTER": "register", b"INVITE": "invite", b"OPTIONS": "options"}


def request_method(data: bytes) -> bytes | None:
    """The method of a request from its first bytes, or None for a response / garbage.
    Leading CRLFs are skipped however many there are (the parser skips them all too,
    RFC 3261 §7.5): a request must not pass for a response by putting them first."""
    start = 0
    if data[:1] in (b"\r", b"\n"):
        start = len(data) - len(data.lstrip(b"\r\n"))
    head = data[start : start + 16]
    method, sep, _ = head.partition(b" ")
    if not sep or method == b"SIP/2.0":
        return None
    return method


class AccessGuard:
    """Per-source-address SIP access control (see the module docstring)."""

    def __init__(
        self,
        config: GuardConfig | None = None,
        *,
        is_trunk: Callable[[Addr], bool] | None = None,
    ) -> None:
        self.config = config or GuardConfig()
        self.is_trunk: Callable[[Addr], bool] = is_trunk or (lambda addr: False)
        self._trusted: list[IpNetwork] = [
            ipaddress.ip_network(n.strip(), strict=False)
            for n in self.config.trusted_networks
            if n.strip()
        ]
        self._sources: OrderedDict[str, _Source] = OrderedDict()
        self._known: OrderedDict[str, None] = OrderedDict()  # sources that authenticated
        self._bans: dict[str, Ban] = {}  # by source key
        self._trusted_cache: dict[str, bool] = {}
        self.calls = CallLimiter()
        self.replays = 0
        self.dropped_banned = 0
        self.dropped_rate = 0
        self.dropped_hidden = 0
        self.bans_total = 0

    # -- sources -------------------------------------------------------------------------

    def _source(self, key: str) -> _Source:
        src = self._sources.get(key)
        if src is None:
            src = self._sources[key] = _Source()
            if len(self._sources) > self.config.max_sources:
                self._sources.popitem(last=False)
        else:
            self._sources.move_to_end(key)
        return src

    def trusted(self, ip: str) -> bool:
        """In ``sip_trusted_networks`` (never banned, never rate limited)."""
        if not self._trusted:
            return False
        hit = self._trusted_cache.get(ip)
        if hit is None:
            try:
                address = ipaddress.ip_address(ip)
            except ValueError:
                return False
            hit = any(address in net for net in self._trusted)
            if len(self._trusted_cache) >= self.config.max_sources:
                self._trusted_cache.clear()
            self._trusted_cache[ip] = hit
        return hit

    def is_known(self, addr: Addr) -> bool:
        """A trunk, a trusted network, or an address that has authenticated."""
        if self.trusted(addr[0]) or self.is_trunk(addr):
            return True
        return source_key(addr[0]) in self._known

    # -- the gate ------------------------------------------------------------------------

    def admit(self, addr: Addr, data: bytes, now: float) -> bool:
        """May this message from ``addr`` be parsed? (False: drop it silently.)"""
        ip = addr[0]
        if self._bans and self.is_banned(ip, now):
            self.dropped_banned += 1
            return False
        method = request_method(data)
        if method is None:
            return True  # responses go to their transactions
        kind = _RATED.get(method)
        if kind is None:
            return True
        if self.trusted(ip) or self.is_trunk(addr):
            return True
        if kind == "options" and self.config.options_policy == "known" and not self.is_known(addr):
            self.dropped_hidden += 1
            return False
        rate: Rate = getattr(self.config, f"rate_{kind}")
        if rate.per_s <= 0:
            return True
        src = self._source(source_key(ip))
        bucket = src.buckets.get(kind)
        if bucket is None:
            bucket = src.buckets[kind] = TokenBucket(tokens=rate.burst, at=now)
        if bucket.take(rate, now):
            return True
        src.dropped += 1
        self.dropped_rate += 1
        return False

    # -- authentication outcomes ---------------------------------------------------------

    def record_failure(self, ip: str, now: float, reason: str = "auth failure") -> bool:
        """One failed authentication (wrong password, unknown user) from ``ip``. Returns True
        when this failure banned the address."""
        cfg = self.config
        if cfg.ban_threshold <= 0 or self.trusted(ip):
            return False
        src = self._source(source_key(ip))
        failures = src.failures
        failures.append(now)
        cutoff = now - cfg.ban_window_s
        while failures and failures[0] <= cutoff:
            failures.popleft()
        while len(failures) > cfg.ban_threshold:
            failures.popleft()
        if len(failures) >= cfg.ban_threshold:
            count = len(failures)
            failures.clear()
            self.ban(ip, now, reason=f"{count} {reason}s within {cfg.ban_window_s:g} s")
            return True
        return False

    def record_success(self, ip: str, now: float) -> None:
        """``ip`` authenticated: its source is known (`is_known`) until as many other
        sources have authenticated after it as the table holds."""
        key = source_key(ip)
        known = self._known
        if key in known:
            known.move_to_end(key)
            return
        known[key] = None
        if len(known) > self.config.max_sources:
            known.popitem(last=False)

    # -- bans ----------------------------------------------------------------------------

    def ban(self, ip: str, now: float, *, reason: str, duration_s: float | None = None) -> Ban:
        """Ban ``ip``'s source (an IPv6 address: its whole /64); the entry names ``ip``."""
        duration = self.config.ban_duration_s if duration_s is None else duration_s
        key = source_key(ip)
        if key not in self._bans and len(self._bans) >= self.config.max_bans:
            self._expire(now)
            if len(self._bans) >= self.config.max_bans:  # drop the ban ending first
                oldest = min(self._bans, key=lambda k: self._bans[k].until)
                del self._bans[oldest]
        failures = self.config.ban_threshold
        entry = Ban(ip=ip, reason=reason, since=now, until=now + duration, failures=failures)
        self._bans[key] = entry
        self.bans_total += 1
        log.warning("SIP source %s banned for %g s: %s", ip, duration, reason)
        return entry

    def is_banned(self, ip: str, now: float) -> bool:
        key = source_key(ip)
        entry = self._bans.get(key)
        if entry is None:
            return False
        if entry.until <= now:
            del self._bans[key]
            return False
        return True

    def _expire(self, now: float) -> None:
        for key in [key for key, b in self._bans.items() if b.until <= now]:
            del self._bans[key]

    def bans(self, now: float) -> list[Ban]:
        """Active bans, soonest to end first."""
        self._expire(now)
        return sorted(self._bans.values(), key=lambda b: b.until)

    def lift_ban(self, ip: str) -> bool:
        """Lift a ban (and forget the source's failures); False if it was not banned.
        Any address of a banned IPv6 /64 lifts the ban on the /64."""
        key = source_key(ip)
        src = self._sources.get(key)
        if src is not None:
            src.failures.clear()
        if self._bans.pop(key, None) is None:
            return False
        log.warning("SIP source %s: ban lifted", ip)
        return True

    # -- calls and dialling --------------------------------------------------------------

    def acquire_call(self, *, extension: str | None = None, trunk: str | None = None) -> bool:
        """Count a new call against its extension's or trunk's cap; False when over it."""
        if extension is not None:
            return self.calls.acquire(f"ext:{extension}", self.config.max_calls_per_extension)
        if trunk is not None:
            return self.calls.acquire(f"trunk:{trunk}", self.config.max_calls_per_trunk)
        return True

    def release_call(self, *, extension: str | None = None, trunk: str | None = None) -> None:
        if extension is not None:
            self.calls.release(f"ext:{extension}")
        elif trunk is not None:
            self.calls.release(f"trunk:{trunk}")

    def counters(self) -> dict[str, int]:
        return {
            "sip_dropped_banned": self.dropped_banned,
            "sip_dropped_rate_limited": self.dropped_rate,
            "sip_dropped_hidden": self.dropped_hidden,
            "sip_bans_total": self.bans_total,
            "sip_bans_active": len(self._bans),
            "sip_tracked_sources": len(self._sources),
            "sip_known_sources": len(self._known),
            "sip_auth_replays": self.replays,
        }


@functools.lru_cache(maxsize=1024)
def _networks(cidrs: tuple[str, ...]) -> tuple[IpNetwork, ...]:
    nets: list[IpNetwork] = []
    for text in cidrs:
        try:
            nets.append(ipaddress.ip_network(text.strip(), strict=False))
        except ValueError:
            log.warning("ignoring a bad network %r in an allow-list", text)
    return tuple(nets)


def source_in_networks(ip: str, cidrs: tuple[str, ...]) -> bool:
    """Is the address ``ip`` inside one of ``cidrs`` (an extension's allow-list)? A bad
    address is inside none; an IPv4-mapped IPv6 address counts as its IPv4 address."""
    try:
        address = ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        return False
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return any(address in net for net in _networks(tuple(cidrs)))


def _canonical(number: str) -> str:
    text = number.strip()
    digits = "".join(ch for ch in text if "0" <= ch <= "9")  # ASCII digits only
    if text.startswith("00"):
        return "+" + digits[2:]
    return "+" + digits if text.startswith("+") else digits


def dial_allowed(number: str, allowed: Iterable[str], blocked: Iterable[str]) -> bool:
    """Blocked prefixes win over allowed ones; an empty allow-list allows any number. Numbers
    and prefixes compare in canonical form (``00`` means ``+``); a prefix with ``+`` matches
    only international numbers."""
    n = _canonical(number)
    if not n.strip("+"):
        return False
    for prefix in blocked:
        p = _canonical(prefix)
        if p and n.startswith(p):
            return False
    allowed = [p for p in (_canonical(a) for a in allowed) if p]
    return not allowed or any(n.startswith(p) for p in allowed)


__all__ = [
    "DEFAULT_BLOCKED_PREFIXES",
    "AccessGuard",
    "Ban",
    "CallLimiter",
    "GuardConfig",
    "Rate",
    "dial_allowed",
    "request_method",
    "source_in_networks",
    "source_key",
]


class PinLockout:
    """Wrong voicemail PINs per (mailbox, who), across calls: `max_failures` within
    `window_s` lock that PIN entry for `lockout_s`. `who` is the extension the caller
    authenticated as, or "" for every outside caller. Memory: one bounded entry per
    mailbox and caller kind."""

    def __init__(self, *, max_failures: int, window_s: float, lockout_s: float) -> None:
        self.max_failures = max_failures
        self.window_s = window_s
        self.lockout_s = lockout_s
        self._failures: dict[tuple[str, str], deque[float]] = {}
        self._locked_until: dict[tuple[str, str], float] = {}

    def locked(self, mailbox: str, who: str, now: float) -> bool:
        until = self._locked_until.get((mailbox, who))
        if until is None:
            return False
        if now < until:
            return True
        del self._locked_until[(mailbox, who)]
        return False

    def failure(self, mailbox: str, who: str, now: float) -> bool:
        """Count a wrong PIN; True when the mailbox is now locked for `who`."""
        key = (mailbox, who)
        times = self._failures.setdefault(key, deque(maxlen=self.max_failures))
        times.append(now)
        if len(times) >= self.max_failures and now - times[0] <= self.window_s:
            self._failures.pop(key, None)
            self._locked_until[key] = now + self.lockout_s
            return True
        return False

    def success(self, mailbox: str, who: str) -> None:
        self._failures.pop((mailbox, who), None)

"""Plain records the store hands to the runtime (`pbx/`) and the API.

These are frozen, keyword-only dataclasses with no database session attached: the runtime
can keep them as long as it likes and compare them between reloads. The SQLAlchemy models
in `models.py` never leave `store/`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class ExtensionRec:
    """An internal SIP number. Passwords exist only as HA1 (RFC 3261 §22.4, RFC 7616 §3.4.2)."""

    number: str
    name: str
    ha1_md5: str
    ha1_sha256: str
    supervisor: bool = False
    outbound: bool = False
    caller_id: str | None = None
    mailbox: str | None = None
    # Source networks (CIDR strings) allowed to register/call as this extension; () = any.
    allowed_cidrs: tuple[str, ...] = ()
    # False: a new call to this extension while it is on a call gets busy (no second ring).
    call_waiting: bool = True
    # SRTP towards this phone (pbx/srtp_policy.py): "none" | "optional" | "required".
    media_encryption: str = "none"


@dataclass(frozen=True, slots=True, kw_only=True)
class TrunkRec:
    """A SIP provider account; `password` is kept in clear because outbound auth needs it."""

    name: str
    host: str
    port: int = 5060
    transport: str = "udp"
    username: str | None = None
    password: str | None = None
    register: bool = False
    from_domain: str | None = None
    trusted: bool = False
    # Number format of this provider, to normalise what it sends to E.164: country code
    # ("371") and national prefix ("0"); None = the provider already sends E.164 (or 00...).
    country_code: str | None = None
    national_prefix: str | None = None
    # Limits on what arrives from this trunk's address (pbx/trunks.py TrunkLimits): concurrent
    # calls (0 = no cap) and new INVITEs "RATE:BURST" ("0" = off); None = the process-wide
    # default (FLOWPBX_SIP_MAX_CALLS_PER_TRUNK, FLOWPBX_SIP_RATE_TRUNK_INVITE).
    max_calls: int | None = None
    invite_rate: str | None = None
    media_encryption: str = "none"  # SRTP towards this provider, as for extensions
    # transport "tls" (pbx/tls.py): verify the provider's certificate (and that it names
    # `host`) against `tls_ca_file`, a PEM bundle, or the system CA store when None.
    tls_verify: bool = True
    tls_ca_file: str | None = None
    # The form of the number in the Request-URI of calls out through this trunk: "e164"
    # (+371...), "national" (national prefix + national number; other countries as
    # "international") or "international" (00 + country code ...); None = as dialled.
    dial_format: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class NumberRec:
    """One of My numbers (E.164); `position` orders the caller-ID list (c1 = position 1)."""

    number: str
    trunk: str
    position: int


@dataclass(frozen=True, slots=True, kw_only=True)
class MailboxRec:
    number: str
    name: str
    pin: str | None = None
    email: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class ScheduleRec:
    """An office-hours schedule, as in the configuration file (SPEC §2.1)."""

    name: str
    timezone: str
    hours: dict[str, Any]
    holidays: list[Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RegistrationRec:
    """A binding kept by the registrar (RFC 3261 §10.3); `expires_at` is wall-clock UTC."""

    extension: str
    contact: str
    source: str  # "ip:port" the REGISTER came from
    transport: str
    expires_at: dt.datetime
    user_agent: str | None = None
    call_id: str | None = None
    cseq: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedFlow:
    """The published revision of a flow; `document` is the flow document of SPEC §3."""

    flow_name: str
    revision: int
    document: dict[str, Any]


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimeConfig:
    """Everything the runtime needs to take calls, loaded in one read."""

    extensions: dict[str, ExtensionRec]
    trunks: list[TrunkRec]
    numbers: dict[str, NumberRec]
    flows_by_did: dict[str, PublishedFlow]
    audio: dict[str, Path]  # name -> absolute path of the 8 kHz WAV (built-ins included)
    mailboxes: dict[str, MailboxRec] = field(default_factory=dict)
    schedules: dict[str, ScheduleRec] = field(default_factory=dict)

    @property
    def caller_id_list(self) -> list[str]:
        """My numbers in caller-ID order (the `cN` dial suffix picks element N-1)."""
        return [n.number for n in sorted(self.numbers.values(), key=lambda n: n.position)]


@dataclass(frozen=True, slots=True, kw_only=True)
class CallRecord:
    """One row of call history; `trace` is the interpreter's trace as JSON-ready dicts."""

    call_id: str
    started_at: dt.datetime
    answered_at: dt.datetime | None = None
    ended_at: dt.datetime | None = None
    caller: str = ""
    caller_name: str | None = None
    did: str | None = None
    flow: str | None = None
    revision: int | None = None
    answered_by: str | None = None
    outcome: str = ""
    trace: list[dict[str, Any]] = field(default_factory=list)
    id: int | None = None
    # inbound | outbound | internal (pbx/call/parties.py); None on rows from before 0007
    direction: str | None = None
    # the extension that placed the call (outbound, internal); None for a trunk's caller
    extension: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UserRec:
    """A web UI user; the argon2 hash never leaves the store."""

    id: int
    username: str
    role: str  # "admin" | "viewer"


@dataclass(frozen=True, slots=True, kw_only=True)
class EmailRec:
    """One email of the outbox; `attachments` are (filename, absolute path) pairs."""

    id: int
    to: tuple[str, ...]
    subject: str
    body: str
    attachments: tuple[tuple[str, str], ...]
    status: str  # pending | sent | failed
    attempts: int
    last_error: str | None
    next_attempt_at: dt.datetime
    created_at: dt.datetime
    sent_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class VoicemailRec:
    """A voicemail message; `file` is relative to the data dir."""

    id: int
    mailbox: str
    file: str
    caller: str
    caller_name: str | None
    call_id: str | None
    received_at: dt.datetime
    duration_s: float
    heard: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueRec:
    """A stored queue configuration (SPEC §3 queue settings, by name)."""

    name: str
    strategy: str = "ring_all"
    members: list[dict[str, Any]] = field(default_factory=list)  # {extension, penalty}
    settings: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ApiTokenRec:
    """An API token's metadata (the token itself is shown once, at creation)."""

    id: int
    name: str
    created_at: dt.datetime

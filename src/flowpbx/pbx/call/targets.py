"""What a call rings: one phone (an extension's registered contact, or a number through a
trunk) and how its INVITE is addressed."""

from __future__ import annotations

import dataclasses

Addr = tuple[str, int]


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class RingTarget:
    """One phone to ring: where the INVITE goes and how it is addressed."""

    uri: str  # Request-URI
    addr: Addr  # where to send it (the registration's source, or the trunk)
    to_uri: str
    label: str  # extension or number, for busy/ringing state and history
    from_uri: str | None = None  # default: the caller's number at our domain
    auth: tuple[str, str] | None = None  # credentials for a trunk's 401/407 challenge
    from_name: str | None = None  # default: the caller's name
    headers: tuple[tuple[str, str], ...] = ()  # P-Asserted-Identity, Privacy (trunks)
    transport: str | None = None
    media_encryption: str = "none"  # SRTP towards this target (pbx/srtp_policy.py)

"""SRTP and SRTCP (RFC 3711) for one call leg, on libsrtp through ``pylibsrtp``.

A ``SrtpContext`` holds two libsrtp sessions: one that protects what we send (our key, the
one our SDP gave the peer) and one that unprotects what we receive (the peer's key from its
``a=crypto``). libsrtp keeps the rollover counter, the replay window and the SRTCP index;
nothing here touches the cipher. A packet that fails authentication or the replay check is
dropped (``unprotect`` returns None) and counted — per context for call history, and in
``COUNTERS`` for /metrics.
"""

from __future__ import annotations

from pylibsrtp import Error, Policy, Session

__all__ = [
    "COUNTERS",
    "SrtpContext",
    "counters",
]

_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}

# Since start, over every leg: packets dropped for a bad authentication tag, for a replay
# (or an index too old for the window), and for anything else libsrtp refused.
COUNTERS: dict[str, int] = {
    "srtp_auth_failures": 0,
    "srtp_replays": 0,
    "srtp_errors": 0,
    "srtcp_auth_failures": 0,
}


def counters() -> dict[str, int]:
    """For /metrics."""
    return dict(COUNTERS)


def _count_failure(exc: Error, rtcp: bool) -> str:
    text = str(exc)
    if "replay" in text:
        kind = "replay"
        COUNTERS["srtp_replays"] += 1
    elif "authentication" in text:
        kind = "auth"
        COUNTERS["srtcp_auth_failures" if rtcp else "srtp_auth_failures"] += 1
    else:
        kind = "error"
        COUNTERS["srtp_errors"] += 1
    return kind


class SrtpContext:
    """The SRTP state of one leg: ``tx_key`` protects what we send, ``rx_key`` checks and
    decrypts what the peer sends. Keys are the 30-octet master key||salt of the suite."""

    __slots__ = (
        "_rx",
        "_tx",
        "auth_failures",
        "packets_in",
        "packets_out",
        "replays",
        "rx_suite",
        "tx_suite",
    )

    def __init__(self, *, tx_suite: str, tx_key: bytes, rx_suite: str, rx_key: bytes) -> None:
        self.tx_suite = tx_suite
        self.rx_suite = rx_suite
        self._tx = Session(
            Policy(key=tx_key, ssrc_type=Policy.SSRC_ANY_OUTBOUND, srtp_profile=_PROFILES[tx_suite])
        )
        self._rx = Session(
            Policy(key=rx_key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=_PROFILES[rx_suite])
        )
        self.auth_failures = 0
        self.replays = 0
        self.packets_in = 0
        self.packets_out = 0

    def set_rx(self, suite: str, key: bytes) -> None:
        """The peer's new key (a re-offer that re-keyed): a fresh receiving session."""
        self.rx_suite = suite
        self._rx = Session(
            Policy(key=key, ssrc_type=Policy.SSRC_ANY_INBOUND, srtp_profile=_PROFILES[suite])
        )

    def protect(self, packet: bytes | bytearray) -> bytes | None:
        """RTP -> SRTP (None if libsrtp refuses, e.g. a packet too long)."""
        try:
            out = self._tx.protect(bytes(packet))
        except (Error, ValueError):
            COUNTERS["srtp_errors"] += 1
            return None
        self.packets_out += 1
        return out

    def unprotect(self, packet: bytes) -> bytes | None:
        """SRTP -> RTP; None (dropped, counted) when authentication or replay check fails."""
        try:
            out = self._rx.unprotect(packet)
        except Error as exc:
            self._failed(_count_failure(exc, False))
            return None
        except ValueError:  # longer than libsrtp's buffer
            COUNTERS["srtp_errors"] += 1
            return None
        self.packets_in += 1
        return out

    def protect_rtcp(self, packet: bytes | bytearray) -> bytes | None:
        try:
            return self._tx.protect_rtcp(bytes(packet))
        except (Error, ValueError):
            COUNTERS["srtp_errors"] += 1
            return None

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        try:
            return self._rx.unprotect_rtcp(packet)
        except Error as exc:
            self._failed(_count_failure(exc, True))
            return None
        except ValueError:
            COUNTERS["srtp_errors"] += 1
            return None

    def _failed(self, kind: str) -> None:
        if kind == "replay":
            self.replays += 1
        else:
            self.auth_failures += 1

    def stats(self) -> dict[str, object]:
        return {
            "srtp": True,
            "srtp_suite": self.rx_suite,
            "srtp_auth_failures": self.auth_failures,
            "srtp_replays": self.replays,
        }

"""SRTP for one call leg: the extension's or trunk's ``media_encryption`` applied to its
offers and answers (SDES, RFC 4568), and the libsrtp context the leg's RTP endpoint uses.

    none      plain RTP; an RTP/SAVP offer is refused (488), crypto lines in an RTP/AVP
              offer are ignored
    optional  we offer plain RTP; an offer with a usable a=crypto is answered with SRTP
    required  we offer RTP/SAVP with a=crypto for both AES_CM_128 suites; an offer without
              a usable a=crypto is refused with 488

Keys only ever travel over SIP over TLS (``secure``): an SRTP offer on UDP/TCP is refused
with 488 (an RTP/AVP offer's crypto lines are ignored instead), and a leg that must offer
SRTP on them is not called at all — unless FLOWPBX_SRTP_ALLOW_INSECURE_SIGNALLING is on
(tests). A re-offer keeps our key unless the suite changes; a new peer key replaces only
the receiving side (RFC 4568 §7.1.4).
"""

from __future__ import annotations

from collections.abc import Callable

from flowpbx.media.srtp import SrtpContext
from flowpbx.settings import Settings
from flowpbx.sip.sdes import (
    SECURE_PROTOS,
    CryptoAttribute,
    choose,
    crypto_values,
    new_key,
    offer_attributes,
    secure_body,
)
from flowpbx.sip.sdp import MediaParams, SdpError
from flowpbx.store.records import ExtensionRec

__all__ = [
    "MODES",
    "MediaCrypto",
    "SrtpRefused",
    "extension_crypto",
    "leg_crypto",
    "secure_signalling",
]

MODES = ("none", "optional", "required")


class SrtpRefused(SdpError):
    """SRTP cannot be negotiated as the leg's setting asks: 488 Not Acceptable Here."""

    def __init__(self, message: str) -> None:
        super().__init__(message, 488)


def secure_signalling(transport: str | None, *, allow_insecure: bool) -> bool:
    """Whether keys may go over this leg's signalling: only the transport the messages
    really take counts (a ``sips:`` URI in a UDP request proves nothing), or anything when
    the test setting allows it."""
    return allow_insecure or (transport or "").lower() == "tls"


class MediaCrypto:
    """The SDES state of one leg. ``context`` is set once SRTP is agreed (the leg hands it
    to its RTP endpoint); ``changed`` tells the leg it must (re)attach it."""

    __slots__ = ("_offered", "context", "local", "mode", "remote", "secure")

    def __init__(self, mode: str, *, secure: bool) -> None:
        if mode not in MODES:
            raise ValueError(f"media_encryption {mode!r}: expected one of {MODES}")
        self.mode = mode
        self.secure = secure
        self.local: CryptoAttribute | None = None  # our key in use
        self.remote: CryptoAttribute | None = None  # the peer's key in use
        self.context: SrtpContext | None = None
        self._offered: list[CryptoAttribute] = []

    @property
    def active(self) -> bool:
        return self.context is not None

    def can_call(self) -> bool:
        """False: the setting needs SRTP but keys may not go over this signalling."""
        return self.mode != "required" or self.secure

    # -- we offer ----------------------------------------------------------------------------

    def offer(self, body: bytes) -> bytes:
        """Our offer ``body`` with crypto lines when SRTP is in use or required."""
        if self.local is not None and self.context is not None:
            self._offered = [self.local]  # a re-offer keeps our key
            return secure_body(body, self._offered, savp=True)
        if self.mode != "required":
            return body
        if not self.secure:
            raise SrtpRefused("SRTP keys may not be sent over unencrypted signalling")
        self._offered = offer_attributes()
        return secure_body(body, self._offered, savp=True)

    def take_answer(self, body: bytes) -> bool:
        """Read the crypto of the answer to our offer; True when a new context was made (the
        leg attaches it). Raises ``SrtpRefused`` when we offered SRTP and the answer does
        not accept one of our lines."""
        if not self._offered:
            return False
        _, values = crypto_values(body)
        chosen = choose(values)
        ours = next(
            (
                a
                for a in self._offered
                if chosen and a.tag == chosen.tag and a.suite == chosen.suite
            ),
            None,
        )
        if chosen is None or ours is None:
            raise SrtpRefused("the answer accepts none of our crypto lines")
        return self._use(ours, chosen)

    # -- they offer --------------------------------------------------------------------------

    def answer(
        self, offer: bytes, make_answer: Callable[[bool], tuple[bytes, MediaParams]]
    ) -> tuple[bytes, MediaParams, bool]:
        """Answer a remote offer: ``make_answer(srtp)`` writes the plain SDP answer (with
        RTP/SAVP allowed when ``srtp``); returns it with our crypto line added, the media
        and whether a new context was made. Raises ``SdpError`` (400/488) to refuse."""
        proto, values = crypto_values(offer)
        savp = (proto or "").upper() in SECURE_PROTOS
        chosen = choose(values) if self.mode != "none" else None
        if chosen is not None and not self.secure:
            if savp or self.mode == "required":
                raise SrtpRefused("SRTP keys may not be sent over unencrypted signalling")
            chosen = None  # best effort SRTP in an RTP/AVP offer: answered plain
        if chosen is None and (savp or self.mode == "required" or self.active):
            raise SrtpRefused("no acceptable a=crypto line offered")
        body, params = make_answer(chosen is not None)
        if chosen is None:
            return body, params, False
        local = self.local
        if local is None or local.suite != chosen.suite or self.context is None:
            local = CryptoAttribute(tag=chosen.tag, suite=chosen.suite, key=new_key())
        else:
            local = CryptoAttribute(tag=chosen.tag, suite=local.suite, key=local.key)
        body = secure_body(body, [local], savp=None)
        return body, params, self._use(local, chosen)

    # -- both --------------------------------------------------------------------------------

    def _use(self, local: CryptoAttribute, remote: CryptoAttribute) -> bool:
        ctx = self.context
        if ctx is not None and self.local is not None and self.local.key == local.key:
            if self.remote is None or self.remote.key != remote.key:
                ctx.set_rx(remote.suite, remote.key)  # the peer re-keyed; we keep ours
            self.local, self.remote = local, remote
            return False
        self.context = SrtpContext(
            tx_suite=local.suite, tx_key=local.key, rx_suite=remote.suite, rx_key=remote.key
        )
        self.local, self.remote = local, remote
        return True


def leg_crypto(settings: Settings, mode: str, transport: str | None) -> MediaCrypto:
    """A leg's SDES state for its extension's or trunk's ``mode`` and its signalling."""
    allow = settings.srtp_allow_insecure_signalling
    secure = secure_signalling(transport, allow_insecure=allow)
    return MediaCrypto(mode if mode in MODES else "none", secure=secure)


def extension_crypto(
    settings: Settings, ext: ExtensionRec | None, transport: str | None
) -> MediaCrypto:
    """The SDES state for a leg calling extension `ext` at a registration over `transport`."""
    mode = ext.media_encryption if ext is not None else "none"
    return leg_crypto(settings, mode, transport)

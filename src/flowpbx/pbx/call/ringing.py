"""Ringing one extension's phones: a UAC leg per registration, as the extension's settings
say (SRTP per its `media_encryption`; over TLS when the phone registered over TLS). Used
where a feature rings an extension itself (spy's supervisor, a `*2` transfer target); the
flow's ringing of targets is `LiveCall.ring`."""

from __future__ import annotations

from collections.abc import Iterable

from flowpbx.pbx.call.host import CallHost
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.registrar import Binding
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import NoRtpPort
from flowpbx.pbx.srtp_policy import extension_crypto

__all__ = ["ring_registrations"]


async def ring_registrations(
    rt: CallHost,
    extension: str,
    bindings: Iterable[Binding],
    legs: list[UacLeg],
    *,
    from_uri: str,
    from_name: str | None,
) -> None:
    """Start a leg to each of `bindings` of `extension`, appended to `legs` as it starts (the
    caller owns them: it cancels or ends them however this returns). A registration its SRTP
    setting may not call (keys over clear signalling) is skipped; when the port pool runs
    dry, the rest are."""
    ext = rt.config.extensions.get(extension)
    for binding in bindings:
        crypto = extension_crypto(rt.settings, ext, binding.transport)
        if not crypto.can_call():
            continue  # SRTP required, keys may not go over this signalling
        try:
            rtp = await RtpEndpoint.open(rt.rtp_pool, rt.media_ip)
        except NoRtpPort:
            break
        try:
            leg = UacLeg(
                rt,
                rtp,
                target_uri=binding.contact,
                addr=binding.source,
                from_uri=from_uri,
                from_name=from_name,
                to_uri=f"sip:{extension}@{rt.domain}",
                label=extension,
                transport="tls" if binding.transport == "tls" else None,
                crypto=crypto,
            )
        except Exception:
            rtp.close()  # the port goes back to the pool: no leg owns it
            raise
        legs.append(leg)
        leg.start()

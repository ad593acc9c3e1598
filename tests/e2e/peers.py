"""Ready-made SIPp peers for the acceptance tests: the provider calling a DID, an answering
extension, a registering phone, an unauthenticated intruder; and the company set-up most
element tests share (``company``, ``flow``, ``tone_audio``, ``trace_output``).

Each helper returns an unstarted ``Sipp`` with its pcaps already copied into SIPp's working
directory and its keywords/variables set; use it as a context manager. Tone pcaps are
generated once per machine into a cache directory (atomic rename, safe in parallel).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.audio_analysis import (
    make_rtp_pcap,
    make_tone_wav,
    parse_rtp,
)
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp, dtmf_pcap
from tests.pcap import read_udp_payloads

# The bundled DTMF pcaps' SSRC: the provider tone uses it too, so the PBX sees one SSRC.
SIPP_DTMF_SSRC = 0x0E05384E
PROVIDER_TONE_HZ = 600.0  # not a DTMF frequency, distinct from every prompt
CALLER = "+37129000001"

_CACHE = Path(tempfile.gettempdir()) / "flowpbx-e2e-pcaps"


def tone_pcap(freq: float, seconds: float = 60.0, ssrc: int = SIPP_DTMF_SSRC) -> Path:
    """A cached RTP PCMU tone pcap (see audio_analysis.make_rtp_pcap)."""
    _CACHE.mkdir(exist_ok=True)
    path = _CACHE / f"tone-{freq:g}Hz-{seconds:g}s-{ssrc:08x}.pcap"
    _atomic_pcap(path, freq, seconds, ssrc=ssrc, seq0=20000, ts0=4_000_000)
    return path


def provider_media(
    digit: str,
    dtmf_at_ms: int,
    tone_hz: float = PROVIDER_TONE_HZ,
    post_seconds: float = 60.0,
    post_tone_hz: float | None = None,
) -> dict[str, Path]:
    """The three pcaps a provider scenario plays, as one coherent RTP stream: a tone of
    *dtmf_at_ms* ending right before the bundled DTMF pcap's sequence number and timestamp,
    the DTMF pcap itself, and the tone continuing after it (300 ms later in RTP time; a
    different one with *post_tone_hz*)."""
    post_hz = tone_hz if post_tone_hz is None else post_tone_hz
    dtmf = dtmf_pcap(digit)
    events = [parse_rtp(payload) for _t, _s, _d, payload in read_udp_payloads(dtmf)]
    first, last = events[0], events[-1]
    n_pre = max(dtmf_at_ms // 20, 1)
    _CACHE.mkdir(exist_ok=True)
    pre = _CACHE / f"pre-{tone_hz:g}Hz-{n_pre}-{first.sequence}-{first.timestamp}.pcap"
    post = _CACHE / f"post-{post_hz:g}Hz-{post_seconds:g}s-{last.sequence}-{first.timestamp}.pcap"
    _atomic_pcap(
        pre,
        tone_hz,
        n_pre * 0.02,
        ssrc=first.ssrc,
        seq0=(first.sequence - n_pre) & 0xFFFF,
        ts0=(first.timestamp - 160 * n_pre) & 0xFFFFFFFF,
    )
    _atomic_pcap(
        post,
        post_hz,
        post_seconds,
        ssrc=first.ssrc,
        seq0=(last.sequence + 1) & 0xFFFF,
        ts0=(first.timestamp + 8 * 300) & 0xFFFFFFFF,
    )
    return {
        "provider_tone_pre.pcap": pre,
        "provider_dtmf.pcap": dtmf,
        "provider_tone_post.pcap": post,
    }


def _atomic_pcap(
    path: Path, freq: float, seconds: float, *, ssrc: int, seq0: int, ts0: int
) -> None:
    if not path.exists():
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        make_rtp_pcap(tmp, freq, seconds, ssrc=ssrc, seq0=seq0, ts0=ts0)
        os.replace(tmp, path)


def provider_call(
    workdir: Path,
    *,
    pbx: tuple[str, int],
    trunk_port: int,
    did: str = "+37167000001",
    digit: str = "1",
    dtmf_at_ms: int = 3000,
    talk_ms: int = 4000,
    caller: str = CALLER,
    hangup_expected: bool = False,
    tone_hz: float = PROVIDER_TONE_HZ,
    media_port: int | None = None,
    name: str | None = None,
) -> Sipp:
    """SIPp as the provider on 127.0.0.1:*trunk_port* calling *did* at *pbx*, pressing
    *digit* at *dtmf_at_ms* after the answer, sending *tone_hz* throughout; it hangs up after
    *talk_ms* more (provider_call_dtmf.xml) or, with *hangup_expected*, waits for the PBX's
    BYE (provider_call_hangup.xml)."""
    scenario = "provider_call_hangup.xml" if hangup_expected else "provider_call_dtmf.xml"
    variables: dict[str, str | int | float] = {"dtmf_at_ms": dtmf_at_ms}
    if not hangup_expected:
        variables["talk_ms"] = talk_ms
    return Sipp(
        scenario,
        workdir,
        remote=pbx,
        local_port=trunk_port,
        media_port=media_port,
        service=did,
        keys={"caller": caller},
        variables=variables,
        files=provider_media(digit, dtmf_at_ms, tone_hz),
        name=name,
    )


def uas_extension(
    workdir: Path,
    *,
    ext: str = "102",
    tone_hz: float = 1200.0,
    local_port: int | None = None,
    answer_after_ms: int = 0,
    hangup_after_ms: int | None = None,
    name: str | None = None,
) -> Sipp:
    """SIPp answering calls as *ext* (uas_answer.xml, or uas_answer_hangup.xml when
    *hangup_after_ms* is given), sending a *tone_hz* tone."""
    variables: dict[str, str | int | float] = {"answer_after_ms": answer_after_ms}
    scenario = "uas_answer.xml"
    if hangup_after_ms is not None:
        scenario = "uas_answer_hangup.xml"
        variables["hangup_after_ms"] = hangup_after_ms
    return Sipp(
        scenario,
        workdir,
        local_port=local_port,
        service=ext,
        variables=variables,
        files={"uas_tone.pcap": tone_pcap(tone_hz, ssrc=0x5A5A0000 + int(tone_hz))},
        name=name,
    )


def register(
    workdir: Path,
    *,
    registrar: tuple[str, int],
    ext: str,
    password: str,
    expect_ok: bool = True,
    expires: int = 600,
    local_port: int | None = None,
    name: str | None = None,
) -> Sipp:
    """SIPp registering *ext* (register_auth.xml, or register_wrong_password.xml when the
    password is expected to be refused)."""
    return Sipp(
        "register_auth.xml" if expect_ok else "register_wrong_password.xml",
        workdir,
        remote=registrar,
        local_port=local_port,
        service=ext,
        auth=(ext, password),
        keys={"expires": expires},
        name=name,
    )


def intruder_invite(
    workdir: Path, *, target: tuple[str, int], number: str, caller: str = "666"
) -> Sipp:
    """SIPp sending an unauthenticated INVITE from a non-trunk address (invite_noauth.xml)."""
    return Sipp(
        "invite_noauth.xml",
        workdir,
        remote=target,
        service=number,
        keys={"caller": caller},
        name="intruder",
    )


def dtmf_pcap_shifted(digit: str, ts_shift: int) -> Path:
    """SIPp's bundled RFC 4733 capture of `digit` with its RTP timestamps moved by
    `ts_shift`: the bundled captures reuse their timestamps, so pressing a key a second time
    would look like the same event to a receiver (RFC 4733 §2.5.1.3)."""
    _CACHE.mkdir(exist_ok=True)
    path = _CACHE / f"dtmf-{digit if digit.isdigit() else ord(digit)}-{ts_shift}.pcap"
    if path.exists():
        return path
    data = bytearray(dtmf_pcap(digit).read_bytes())
    pos = 24  # libpcap global header
    while pos + 16 <= len(data):
        caplen = int.from_bytes(data[pos + 8 : pos + 12], "little")
        frame = pos + 16
        ihl = (data[frame + 14] & 0x0F) * 4  # Ethernet, then IPv4
        rtp = frame + 14 + ihl + 8
        ts = int.from_bytes(data[rtp + 4 : rtp + 8], "big")
        data[rtp + 4 : rtp + 8] = ((ts + ts_shift) % 2**32).to_bytes(4, "big")
        pos = frame + caplen
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_bytes(bytes(data))
    os.replace(tmp, path)
    return path


# -- the company most element tests share ------------------------------------------------------


def flow(
    name: str, dids: Sequence[str], nodes: dict[str, Any], first: str = "main"
) -> dict[str, Any]:
    """A flow document whose `numbers` entry (node "start") claims *dids* and goes to
    *first*."""
    start = {"type": "numbers", "params": {"numbers": list(dids)}, "next": {"next": first}}
    return {"name": name, "entry": "start", "nodes": {"start": start, **nodes}}


def tone_audio(
    server: FlowpbxServer, name: str, freq: float, seconds: float = 1.0
) -> dict[str, str]:
    """A library audio entry *name*: a WAV of a *freq* tone written into the server's
    config directory (the caller can then tell that prompt apart by its frequency)."""
    relative = f"prompts/{name}.wav"
    make_tone_wav(server.config_file(relative), freq, seconds)
    return {"name": name, "file": relative}


def company_config(
    *,
    trunk_ports: Sequence[int],
    flows: Sequence[dict[str, Any]],
    extensions: Sequence[dict[str, Any]] = (),
    audio: Sequence[dict[str, str]] = (),
    trunk_options: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A configuration: one trunk per port on 127.0.0.1 (named "provider", "provider2",
    ...; *trunk_options* added to each), every DID of *flows* on the first trunk, the given
    extensions, audio and flows, plus any *extra* sections."""
    trunks = [
        {"name": "provider" if i == 0 else f"provider{i + 1}", "host": "127.0.0.1", "port": port}
        | (trunk_options or {})
        for i, port in enumerate(trunk_ports)
    ]
    dids = [d for f in flows for d in f["nodes"]["start"]["params"]["numbers"]]
    return {
        "extensions": list(extensions),
        "trunks": trunks,
        "numbers": [{"number": d, "trunk": trunks[0]["name"]} for d in dids],
        "audio": list(audio),
        "flows": list(flows),
        **extra,
    }


def company(server: FlowpbxServer, **kwargs: Any) -> FlowpbxServer:
    """Set *server*'s configuration to ``company_config(**kwargs)``."""
    server.config = company_config(**kwargs)
    return server


def trace_output(row: dict[str, Any], node: str) -> Any:
    """The output a call-history row's trace took at *node* (the first visit), or None."""
    outs = [e.get("output") for e in row["trace"] if e.get("node") == node]
    return outs[0] if outs else None


def provider_did_call(
    workdir: Path,
    *,
    pbx: tuple[str, int],
    trunk_port: int,
    ruri_user: str,
    to_uri: str | None = None,
    caller: str = CALLER,
    name: str | None = None,
) -> Sipp:
    """SIPp as a provider writing the called number its own way (provider_did.xml): the
    Request-URI user *ruri_user* (or a whole ``tel:`` URI) and the To *to_uri* (default the
    same as the Request-URI). It expects either 200 then the PBX's BYE, or 404."""
    host, port = pbx
    ruri = ruri_user if ruri_user.startswith("tel:") else f"sip:{ruri_user}@{host}:{port}"
    return Sipp(
        "provider_did.xml",
        workdir,
        remote=pbx,
        local_port=trunk_port,
        keys={"ruri": ruri, "to_uri": to_uri or ruri, "caller": caller},
        name=name,
    )

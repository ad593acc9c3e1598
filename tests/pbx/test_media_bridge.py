"""Bridges, recorder, RTP timeout and in-band DTMF over real UDP sockets on loopback.

Each "phone" is a plain asyncio UDP socket that sends its own PCMU tone on a 20 ms schedule
and keeps what it receives; flowpbx's side is the real runtime pieces (RtpPortPool,
RtpEndpoint, MediaClock, Bridge, record). What each phone heard is checked by FFT."""

from __future__ import annotations

import asyncio
import dataclasses
import wave
from pathlib import Path

import numpy as np
import pytest

from flowpbx.media.g711 import get_codec
from flowpbx.media.mixer import SpyMode
from flowpbx.media.rtp import RtpSender, parse_rtp
from flowpbx.media.tones import dtmf_tone, tone
from flowpbx.pbx.features.recorder import record
from flowpbx.pbx.rtp.bridge import Bridge, BridgeRegistry
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.endpoint import RtpEndpoint
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.sip.sdp import MediaParams
from tests.audio_analysis import tones_present
from tests.netutil import free_port_block

PCMU = get_codec("PCMU")
TONES = {"a": 500.0, "b": 900.0, "c": 1300.0}


class Phone(asyncio.DatagramProtocol):
    """A UDP peer sending 20 ms PCMU frames of `audio` (looped) and collecting RTP."""

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.sender = RtpSender(payload_type=0)
        self.received: list[tuple[int, bytes]] = []
        self.transport: asyncio.DatagramTransport | None = None
        self.port = 0
        self.remote: tuple[str, int] | None = None
        self._task: asyncio.Task[None] | None = None
        self.sending = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        self.port = transport.get_extra_info("sockname")[1]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        header = parse_rtp(data)
        if header is not None and header.payload_type == 0:
            self.received.append((header.sequence, data[header.header_len : header.payload_end]))

    def start(self, remote: tuple[str, int]) -> None:
        self.remote = remote
        self._task = asyncio.ensure_future(self._send())

    async def _send(self) -> None:
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        i = 0
        while True:
            if self.sending and self.transport is not None and self.remote is not None:
                start = (i * 160) % (self.audio.size - 160)
                frame = PCMU.encode(self.audio[start : start + 160])
                self.transport.sendto(self.sender.packet(frame), self.remote)
            i += 1
            await asyncio.sleep(max(0.0, t0 + i * 0.02 - loop.time()))

    def heard(self) -> np.ndarray:
        if not self.received:
            return np.zeros(0, dtype=np.int16)
        return np.concatenate([PCMU.decode(p) for _, p in self.received])

    def clear(self) -> None:
        self.received = []

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        if self.transport is not None:
            self.transport.close()


def heard(samples: np.ndarray, candidates: dict[str, float] = TONES) -> set[str]:
    """Candidate tones holding more than 5 % of the signal's power (skipping the first
    200 ms, where jitter buffers fill)."""
    x = samples[1600:].astype(np.float64)
    if x.size < 1600 or not np.any(x):
        return set()
    return tones_present(x, candidates, width_hz=15)


class Rig:
    def __init__(self) -> None:
        low = free_port_block(40)
        self.pool = RtpPortPool(low, low + 40)
        self.clock = MediaClock()
        self.phones: dict[str, Phone] = {}
        self.endpoints: dict[str, RtpEndpoint] = {}

    async def leg(self, name: str, audio: np.ndarray | None = None, dtmf: bool = True) -> Phone:
        loop = asyncio.get_running_loop()
        if audio is None:
            audio = tone([TONES[name]], 2.0, amplitude=0.3)
        _, phone = await loop.create_datagram_endpoint(
            lambda: Phone(audio), local_addr=("127.0.0.1", 0)
        )
        ep = await RtpEndpoint.open(self.pool, "127.0.0.1")
        ep.set_remote(
            MediaParams(
                address="127.0.0.1",
                port=phone.port,
                payload_type=0,
                codec="PCMU",
                dtmf_payload_type=101 if dtmf else None,
            )
        )
        phone.start(("127.0.0.1", ep.port))
        self.phones[name] = phone
        self.endpoints[name] = ep
        return phone

    async def close(self) -> None:
        for phone in self.phones.values():
            await phone.close()
        for ep in self.endpoints.values():
            ep.close()
        self.clock.close()


@pytest.fixture
async def rig() -> Rig:
    r = Rig()
    yield r  # type: ignore[misc]
    await r.close()


async def talk(rig: Rig, seconds: float) -> None:
    for phone in rig.phones.values():
        phone.clear()
    await asyncio.sleep(seconds)


async def test_two_party_bridge_relays_without_mixing_and_mixes_when_a_tap_joins(
    rig: Rig,
) -> None:
    await rig.leg("a")
    await rig.leg("b")
    a, b = rig.endpoints["a"], rig.endpoints["b"]
    bridge = Bridge(rig.clock)
    bridge.add_endpoint("a", a)
    bridge.add_endpoint("b", b)
    assert not bridge.mixing and a.peer is b and b.peer is a and a.jitter is None
    await talk(rig, 1.0)
    assert bridge.ticks == 0  # relay: nothing per tick
    assert heard(rig.phones["a"].heard()) == {"b"}
    assert heard(rig.phones["b"].heard()) == {"a"}
    # The relayed payloads are the sent ones, byte for byte (no decode/encode).
    sent_b = {PCMU.encode(tone([900.0], 2.0, amplitude=0.3)[i : i + 160]) for i in (0, 160)}
    assert sent_b & {p for _, p in rig.phones["a"].received}

    taps: list[np.ndarray] = []
    bridge.add_tap("rec", taps.append)
    assert bridge.mixing and a.peer is None and a.jitter is not None
    await talk(rig, 1.0)
    assert bridge.ticks > 0
    assert heard(rig.phones["a"].heard()) == {"b"}
    assert heard(rig.phones["b"].heard()) == {"a"}
    assert heard(np.concatenate(taps)) == {"a", "b"}

    bridge.remove("rec")
    assert not bridge.mixing and a.peer is b
    await talk(rig, 0.6)
    assert heard(rig.phones["a"].heard()) == {"b"}
    bridge.close()
    assert a.peer is None and b.peer is None and bridge.ended.done()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (SpyMode.LISTEN, {"a": {"b"}, "b": {"a"}, "c": {"a", "b"}}),
        (SpyMode.WHISPER, {"a": {"b", "c"}, "b": {"a"}, "c": {"a", "b"}}),
        (SpyMode.BARGE, {"a": {"b", "c"}, "b": {"a", "c"}, "c": {"a", "b"}}),
    ],
)
async def test_spy_modes_on_a_live_bridge(
    rig: Rig, mode: SpyMode, expected: dict[str, set[str]]
) -> None:
    """a = agent, b = client, c = supervisor."""
    for name in ("a", "b", "c"):
        await rig.leg(name)
    registry = BridgeRegistry()
    bridge = registry.open_call(
        rig.clock, rig.endpoints["b"], rig.endpoints["a"], callee_ext="101", caller_ext=None
    )
    entry = registry.find("101")
    assert entry is not None and entry.bridge is bridge
    bridge.add_endpoint("sup", rig.endpoints["c"], hears_all=True, heard_by_all=False)
    bridge.spy_mode(mode, agent=entry.agent, client=entry.client, supervisor="sup")
    await talk(rig, 1.2)
    for name, want in expected.items():
        assert heard(rig.phones[name].heard()) == want, (mode, name)
    bridge.remove("sup")
    assert not bridge.mixing  # back to the relay fast path
    bridge.close()
    assert registry.find("101") is None


async def test_replace_endpoint_repoints_a_party(rig: Rig) -> None:
    for name in ("a", "b", "c"):
        await rig.leg(name)
    bridge = Bridge(rig.clock)
    bridge.add_endpoint("x", rig.endpoints["a"])
    bridge.add_endpoint("y", rig.endpoints["b"])
    old = bridge.replace_endpoint("y", rig.endpoints["c"])
    assert old is rig.endpoints["b"] and old.peer is None
    await talk(rig, 1.0)
    assert heard(rig.phones["a"].heard()) == {"c"}
    assert heard(rig.phones["c"].heard()) == {"a"}
    assert heard(rig.phones["b"].heard()) == set()
    bridge.close()


async def test_record_a_leg_stops_on_silence_and_writes_the_wav(rig: Rig, tmp_path: Path) -> None:
    speech = np.concatenate([tone([700.0], 0.8, amplitude=0.3), np.zeros(8000 * 60, np.int16)])
    phone = await rig.leg("a", audio=speech)
    phone.sending = False
    path = tmp_path / "vm.wav"

    async def start_talking() -> None:
        await asyncio.sleep(0.1)
        phone.sending = True

    talker = asyncio.ensure_future(start_talking())
    result = await record(rig.endpoints["a"], path, max_s=30, silence_s=1.0, clock=rig.clock)
    await talker
    assert result.reason == "silence"
    assert result.path == path and path.exists()
    assert not list(tmp_path.glob(".*.tmp"))
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getnchannels() == 1 and w.getsampwidth() == 2
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert heard(pcm, {"t": 700.0}) == {"t"}
    assert 0.6 <= result.voiced_s <= 1.0
    assert result.duration_s < 2.0  # trailing silence trimmed
    assert rig.endpoints["a"].bridge is None and rig.endpoints["a"].jitter is None


async def test_record_stops_on_max_length_digit_and_hangup(rig: Rig, tmp_path: Path) -> None:
    await rig.leg("a")
    ep = rig.endpoints["a"]
    seen: list[str] = []
    ep.on_digit = seen.append
    result = await record(ep, tmp_path / "max.wav", max_s=0.5, silence_s=5, clock=rig.clock)
    assert result.reason == "max_length" and result.duration_s == pytest.approx(0.5)

    task = asyncio.ensure_future(
        record(ep, tmp_path / "digit.wav", max_s=30, stop_digits="#", clock=rig.clock)
    )
    await asyncio.sleep(0.5)
    assert ep.on_digit is not None
    ep.on_digit("1")  # not a stop digit: passed on to the call's handler
    ep.on_digit("#")
    result = await task
    assert result.reason == "digit" and result.digit == "#" and seen == ["1", "#"]
    assert ep.on_digit == seen.append  # the call's handler is back

    hung_up: asyncio.Future[str] = asyncio.get_running_loop().create_future()
    task = asyncio.ensure_future(
        record(ep, tmp_path / "hup.wav", max_s=30, until=hung_up, clock=rig.clock)
    )
    await asyncio.sleep(0.4)
    hung_up.set_result("remote hangup")
    result = await task
    assert result.reason == "hangup" and result.path is not None and result.duration_s > 0.1


async def test_record_a_whole_bridge(rig: Rig, tmp_path: Path) -> None:
    await rig.leg("a")
    await rig.leg("b")
    bridge = Bridge(rig.clock)
    bridge.add_endpoint("a", rig.endpoints["a"])
    bridge.add_endpoint("b", rig.endpoints["b"])
    result = await record(bridge, tmp_path / "call.wav", max_s=1.2)
    assert result.reason == "max_length"
    with wave.open(str(tmp_path / "call.wav")) as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype=np.int16)
    assert heard(pcm) == {"a", "b"}
    assert not bridge.mixing  # the recorder left: relay again
    bridge.close()


async def test_rtp_timeout_fires_once_when_packets_stop(rig: Rig) -> None:
    rig.clock.WATCH_INTERVAL = 0.1  # type: ignore[misc]
    phone = await rig.leg("a")
    fired: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    rig.clock.watch_rtp(rig.endpoints["a"], 0.3, lambda: fired.set_result(None))
    await asyncio.sleep(0.6)
    assert not fired.done()  # packets flow
    phone.sending = False
    await asyncio.wait_for(fired, 5)
    assert rig.endpoints["a"].packets_in > 0


async def test_inband_dtmf_detected_when_sdp_has_no_telephone_event(rig: Rig) -> None:
    gap = np.zeros(800, dtype=np.int16)
    keys = np.concatenate(
        [gap]
        + [np.concatenate([dtmf_tone(d, 0.1), gap]) for d in "19#"]
        + [np.zeros(8000 * 30, np.int16)]
    )
    digits: list[str] = []
    await rig.leg("a", audio=keys, dtmf=False)
    ep = rig.endpoints["a"]
    assert ep.inband is not None
    ep.on_digit = digits.append
    for _ in range(100):
        if len(digits) >= 3:
            break
        await asyncio.sleep(0.05)
    assert digits == ["1", "9", "#"]


async def test_rtcp_reports_carry_loss_jitter_and_round_trip(rig: Rig) -> None:
    """Two endpoints talking to each other: each sends SR/RR on port + 1 and reads the
    other's; B reports the packets A 'lost' (sent into the void), A learns it from RTCP."""
    a = await RtpEndpoint.open(rig.pool, "127.0.0.1")
    b = await RtpEndpoint.open(rig.pool, "127.0.0.1")
    rig.endpoints.update({"ra": a, "rb": b})
    assert a.rtcp is not None and b.rtcp is not None
    for ep, other in ((a, b), (b, a)):
        assert ep.rtcp is not None
        ep.rtcp.interval = 0.1
        ep.set_remote(
            MediaParams(address="127.0.0.1", port=other.port, payload_type=0, codec="PCMU")
        )
    frame = PCMU.encode(tone([440.0], 0.02))
    lost = 0
    for i in range(60):
        if i % 10 == 5:
            a.sender.packet(frame)  # numbered but never sent: one lost packet
            lost += 1
        else:
            a.send_payload(frame)
        b.send_payload(frame)
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.4)
    assert b.rx_stats.lost == lost and a.rx_stats.lost == 0
    assert a.rtcp.reports_in > 0 and b.rtcp.reports_in > 0
    block = a.rtcp.remote_block  # what b says about a's stream
    assert block is not None and block.ssrc == a.sender.ssrc
    assert block.cumulative_lost == lost
    assert a.rtcp.rtt_s is not None and 0 <= a.rtcp.rtt_s < 1.0
    stats = a.media_stats()
    assert stats["packets_out"] == 60 - lost and stats["remote_lost"] == lost
    assert stats["rtcp_reports_out"] and stats["rtt_ms"] is not None
    b_stats = b.media_stats()
    assert b_stats["lost"] == lost and b_stats["codec"] == "PCMU"
    assert isinstance(b_stats["jitter_ms"], float) and b_stats["jitter_ms"] < 20


class _Leg:
    def __init__(self, rtp: RtpEndpoint) -> None:
        self.rtp = rtp
        self.reasons: list[str] = []

    def hangup(self, reason: str = "hangup") -> None:
        self.reasons.append(reason)


async def test_bridge_hangs_up_a_silent_leg_but_not_one_on_hold(rig: Rig) -> None:
    rig.clock.WATCH_INTERVAL = 0.1  # type: ignore[misc]
    phone_a = await rig.leg("a")
    phone_b = await rig.leg("b")
    a, b = _Leg(rig.endpoints["a"]), _Leg(rig.endpoints["b"])
    bridge = Bridge(rig.clock)
    bridge.add_endpoint("a", a.rtp)
    bridge.add_endpoint("b", b.rtp)
    bridge.hang_up_on_rtp_timeout(a, b, timeout_s=0.4)
    # b is put on hold (its SDP says sendonly: we only send) and goes quiet: not a timeout.
    assert b.rtp.params is not None
    b.rtp.set_remote(dataclasses.replace(b.rtp.params, direction="sendonly"))
    phone_b.sending = False
    await asyncio.sleep(0.3)
    phone_a.sending = False  # a's phone dies
    for _ in range(100):
        if a.reasons:
            break
        await asyncio.sleep(0.05)
    assert a.reasons == ["rtp timeout"] and b.reasons == []
    bridge.close()


async def test_a_prompt_source_is_heard_only_by_whom_it_is_for(rig: Rig) -> None:
    """Hold audio / an announcement to one party of a call: the mixer engages while it
    plays and the bridge goes back to relaying when it ends."""
    await rig.leg("a")
    await rig.leg("b")
    bridge = Bridge(rig.clock)
    bridge.add_endpoint("a", rig.endpoints["a"])
    bridge.add_endpoint("b", rig.endpoints["b"])
    prompt = tone([TONES["c"]], 1.4, amplitude=0.3)
    frames = iter(prompt.reshape(-1, 160))
    bridge.add_source("prompt", frames, heard_by=["a"])
    assert bridge.mixing
    await talk(rig, 1.2)
    assert heard(rig.phones["a"].heard()) == {"b", "c"}
    assert heard(rig.phones["b"].heard()) == {"a"}
    for _ in range(40):
        if not bridge.mixing:
            break
        await asyncio.sleep(0.05)
    assert "prompt" not in bridge and not bridge.mixing  # exhausted: relay again
    bridge.close()


async def test_closed_endpoint_keeps_its_figures_and_leaves_no_cycle(rig: Rig) -> None:
    import gc
    import weakref

    ep = await RtpEndpoint.open(rig.pool, "127.0.0.1")
    assert ep.rtcp is not None
    channel = weakref.ref(ep.rtcp)
    ep.set_remote(MediaParams(address="127.0.0.1", port=9, payload_type=0, codec="PCMU"))
    ep.rtcp.send_report()
    gc.disable()  # freed by reference counting alone, i.e. no cycle keeps it
    try:
        ep.close()
        assert ep.rtcp is None and ep.media_stats()["rtcp_reports_out"] == 1
        for _ in range(3):
            await asyncio.sleep(0)  # let the transport finish closing
        assert channel() is None
    finally:
        gc.enable()

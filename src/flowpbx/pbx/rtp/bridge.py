"""Bridges: the RTP endpoints of one conversation, and who hears whom between them.

A `Bridge` holds participants under keys ("caller", "callee", "supervisor:…"):

- endpoints (`add_endpoint`): call legs' RTP endpoints; they speak (their received audio) and
  listen (the mix they hear is encoded and sent to them, unless added with `send=False`);
- taps (`add_tap`): listen only — a recorder gets the mix of what it hears each tick;
- sources (`add_source`): speak only — a prompt or hold audio, one frame per tick.

It runs in one of two modes, chosen again after every change:

- **relay** — exactly two endpoints that hear each other, nothing else: each endpoint's
  `peer` is the other one and packets are forwarded as they arrive, re-stamped without
  decoding (ARCHITECTURE.md's fast path). The bridge itself does nothing per packet or tick.
- **mixing** — anything else: every endpoint's packets go into its own jitter buffer, and on
  each tick of the shared `MediaClock` the bridge takes one frame per participant (missing
  ones concealed), mixes them with `media.mixer.Mixer` and sends each endpoint its mix.

Matrix changes (`set_hears`, `apply_spy_mode`), re-pointing a key at another endpoint
(`replace_endpoint`, for transfers) and joining/leaving all take effect on the next packet or
tick. `BridgeRegistry` finds the bridge an extension is talking in, for the spy codes.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Hashable, Iterable, Iterator
from dataclasses import dataclass
from functools import partial
from typing import Protocol

import numpy as np
import numpy.typing as npt

from flowpbx.media.jitter import Concealer, JitterBuffer
from flowpbx.media.mixer import FRAME, Mixer, SpyMode, apply_spy_mode
from flowpbx.pbx.rtp.clock import RTP_TIMEOUT_S, MediaClock
from flowpbx.pbx.rtp.endpoint import RtpEndpoint

log = logging.getLogger("flowpbx.bridge")

Frame = npt.NDArray[np.int16]
JITTER_CAPACITY = 16
JITTER_PREFETCH = 2


class HangableLeg(Protocol):
    """A call leg as far as the RTP timeout is concerned (pbx.call.leg.Leg)."""

    rtp: RtpEndpoint

    def hangup(self, reason: str = ...) -> None: ...


class _Member:
    __slots__ = ("concealer", "endpoint", "send")

    def __init__(self, endpoint: RtpEndpoint, send: bool) -> None:
        self.endpoint = endpoint
        self.send = send
        self.concealer = Concealer()


class Bridge:
    """Endpoints, taps and sources mixed (or relayed) on the shared media clock."""

    def __init__(self, clock: MediaClock, *, name: str = "") -> None:
        self.clock = clock
        self.name = name
        self.mixer = Mixer()
        self._members: dict[Hashable, _Member] = {}
        self._taps: dict[Hashable, Callable[[Frame], None]] = {}
        self._sources: dict[Hashable, Iterator[Frame]] = {}
        self._on_clock = False
        self.mixing = False
        self.closed = False
        loop = asyncio.get_running_loop()
        self.done: asyncio.Future[None] = loop.create_future()  # the clock's Ticker protocol
        self.ended: asyncio.Future[str] = loop.create_future()
        self.on_close: list[Callable[[Bridge], None]] = []
        self.ticks = 0

    # -- membership ----------------------------------------------------------------------

    def endpoint(self, key: Hashable) -> RtpEndpoint | None:
        member = self._members.get(key)
        return None if member is None else member.endpoint

    def __contains__(self, key: object) -> bool:
        return key in self.mixer

    def add_endpoint(
        self,
        key: Hashable,
        endpoint: RtpEndpoint,
        *,
        hears_all: bool = True,
        heard_by_all: bool = True,
        send: bool = True,
    ) -> None:
        """A call leg joins. `send=False`: its audio is used but nothing is sent to it."""
        self._check_open()
        self.mixer.add(key, hears_all=hears_all, heard_by_all=heard_by_all)
        self._members[key] = _Member(endpoint, send)
        endpoint.bridge = self
        self._update()

    def add_tap(
        self,
        key: Hashable,
        sink: Callable[[Frame], None],
        *,
        hears: Iterable[Hashable] | None = None,
    ) -> None:
        """A listener heard by nobody (a recorder); it hears `hears` (default everybody)."""
        self._check_open()
        wanted = None if hears is None else set(hears)
        self.mixer.add(key, hears_all=wanted is None, heard_by_all=False)
        for other in wanted or ():
            self.mixer.set_hears(key, other, True)
        self._taps[key] = sink
        self._update()

    def add_source(
        self, key: Hashable, frames: Iterator[Frame], *, heard_by: Iterable[Hashable] | None = None
    ) -> None:
        """A speaker that hears nobody (a prompt); heard by `heard_by` (default everybody).
        It leaves the bridge when its iterator is exhausted."""
        self._check_open()
        wanted = None if heard_by is None else set(heard_by)
        self.mixer.add(key, hears_all=False, heard_by_all=wanted is None)
        for other in wanted or ():
            self.mixer.set_hears(other, key, True)
        self._sources[key] = frames
        self._update()

    def remove(self, key: Hashable) -> None:
        """Anyone leaves (unknown keys are ignored)."""
        member = self._members.pop(key, None)
        if member is not None:
            self._detach(member.endpoint)
        self._taps.pop(key, None)
        self._sources.pop(key, None)
        self.mixer.remove(key)
        if not self.closed:
            self._update()

    def replace_endpoint(self, key: Hashable, endpoint: RtpEndpoint) -> RtpEndpoint | None:
        """Point `key` at another endpoint (a transfer), keeping who hears whom.
        Returns the endpoint it replaced."""
        member = self._members.get(key)
        if member is None:
            raise KeyError(key)
        old = member.endpoint
        self._detach(old)
        member.endpoint = endpoint
        member.concealer = Concealer()
        endpoint.bridge = self
        self.mixing = False  # re-attach every endpoint in the right mode
        self._update(force=True)
        return old

    def set_hears(self, listener: Hashable, speaker: Hashable, on: bool = True) -> None:
        self.mixer.set_hears(listener, speaker, on)
        self._update()

    def hang_up_on_rtp_timeout(self, *legs: HangableLeg, timeout_s: float = RTP_TIMEOUT_S) -> None:
        """Hang up a leg whose phone sends no RTP for `timeout_s` while in this bridge (a
        phone that lost power or network never sends BYE). Leg on hold: not counted."""
        for leg in legs:
            self.clock.watch_rtp(leg.rtp, timeout_s, partial(leg.hangup, "rtp timeout"))
            self.on_close.append(partial(_unwatch, self.clock, leg.rtp))

    def spy_mode(
        self, mode: SpyMode, *, agent: Hashable, client: Hashable, supervisor: Hashable
    ) -> None:
        """Listen / whisper / barge (SPEC §4) for a supervisor already in the bridge."""
        apply_spy_mode(self.mixer, mode, agent=agent, client=client, supervisor=supervisor)
        self._update()

    # -- mode ----------------------------------------------------------------------------

    def _relay_pair(self) -> tuple[RtpEndpoint, RtpEndpoint] | None:
        if self._taps or self._sources or len(self._members) != 2:
            return None
        (ka, a), (kb, b) = self._members.items()
        if not (a.send and b.send and self.mixer.hears(ka, kb) and self.mixer.hears(kb, ka)):
            return None
        return a.endpoint, b.endpoint

    def _update(self, *, force: bool = False) -> None:
        if self.closed:
            return
        pair = self._relay_pair()
        if pair is not None:
            a, b = pair
            if self.mixing or force or a.peer is not b or b.peer is not a:
                for ep in (a, b):
                    ep.jitter = None
                a.peer, b.peer = b, a
            self.mixing = False
            self._clock_off()
            return
        if len(self.mixer) < 2:
            # Alone: nobody to hear or be heard. Idle until somebody joins (no clock, no
            # buffering; a prompt played straight to the endpoint is not disturbed).
            for member in self._members.values():
                self._detach(member.endpoint)
                member.endpoint.bridge = self
            self.mixing = False
            self._clock_off()
            return
        if not self.mixing or force:
            for member in self._members.values():
                member.endpoint.peer = None
            self.mixing = True
        # Every member feeds the mix through its jitter buffer, also one that joined while
        # the bridge was already mixing (a transfer target, a supervisor).
        for member in self._members.values():
            ep = member.endpoint
            if ep.jitter is None:
                ep.jitter = JitterBuffer(
                    capacity=JITTER_CAPACITY, prefetch=JITTER_PREFETCH, adaptive=True
                )
        if self.mixer.keys:
            self._clock_on()
        else:
            self._clock_off()

    def _detach(self, ep: RtpEndpoint) -> None:
        peer = ep.peer
        if peer is not None and peer.peer is ep:
            peer.peer = None
        ep.peer = None
        ep.jitter = None
        if ep.bridge is self:
            ep.bridge = None

    def _clock_on(self) -> None:
        if not self._on_clock:
            self._on_clock = True
            if self.done.done():
                self.done = asyncio.get_running_loop().create_future()
            self.clock.start_player(self)

    def _clock_off(self) -> None:
        if self._on_clock:
            self._on_clock = False
            self.clock.stop_player(self)

    # -- one tick (mixing mode) ------------------------------------------------------------

    def tick(self) -> bool:
        if self.closed or not self.mixing or not self._on_clock:
            self._on_clock = False
            return False
        self.ticks += 1
        frames: dict[Hashable, Frame | None] = {}
        for key, member in self._members.items():
            ep = member.endpoint
            jitter = ep.jitter
            payload = jitter.get() if jitter is not None else None
            decoded: Frame | None = None
            if payload:
                decoded = ep.codec.decode(payload)
                if decoded.size != FRAME:
                    decoded = _fit(decoded)
            frames[key] = member.concealer.frame(decoded)
        finished: list[Hashable] = []
        for key, source in self._sources.items():
            frame = next(source, None)
            if frame is None:
                finished.append(key)
            else:
                frames[key] = frame if frame.size == FRAME else _fit(frame)
        mixed = self.mixer.mix(frames)
        for key, member in self._members.items():
            if member.send:
                ep = member.endpoint
                ep.send_payload(ep.codec.encode(mixed[key]))
        for key, sink in list(self._taps.items()):
            try:
                sink(mixed[key])
            except Exception:
                log.exception("bridge tap %r failed; removing it", key)
                finished.append(key)
        for key in finished:
            self.remove(key)
        return self._on_clock

    # -- end -----------------------------------------------------------------------------

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("bridge is closed")

    def close(self, reason: str = "closed") -> None:
        """Stop mixing/relaying and detach every endpoint; `ended` resolves with `reason`."""
        if self.closed:
            return
        self.closed = True
        self._clock_off()
        for member in self._members.values():
            self._detach(member.endpoint)
        self._members.clear()
        self._taps.clear()
        self._sources.clear()
        if not self.ended.done():
            self.ended.set_result(reason)
        callbacks, self.on_close = self.on_close, []
        for callback in callbacks:
            callback(self)


def _unwatch(clock: MediaClock, endpoint: RtpEndpoint, _bridge: Bridge) -> None:
    clock.unwatch_rtp(endpoint)


def _fit(frame: Frame) -> Frame:
    out = np.zeros(FRAME, dtype=np.int16)
    n = min(FRAME, frame.size)
    out[:n] = frame[:n]
    return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CallBridge:
    """Where an extension talks: its bridge, its own key and the other party's key."""

    bridge: Bridge
    agent: Hashable
    client: Hashable
    extension: str = ""  # the agent's extension


class BridgeRegistry:
    """The current bridged call of each extension (for `4#NNN`/`5#NNN`/`6#NNN`)."""

    def __init__(self) -> None:
        self._by_ext: dict[str, CallBridge] = {}

    def register(self, extension: str, entry: CallBridge) -> None:
        self._by_ext[extension] = entry

        def forget(_: Bridge) -> None:
            if self._by_ext.get(extension) is entry:
                del self._by_ext[extension]

        entry.bridge.on_close.append(forget)

    def unregister(self, extension: str, bridge: Bridge) -> None:
        """`extension` left `bridge` while the call goes on (a transfer)."""
        entry = self._by_ext.get(extension)
        if entry is not None and entry.bridge is bridge:
            del self._by_ext[extension]

    def find(self, extension: str) -> CallBridge | None:
        entry = self._by_ext.get(extension)
        if entry is None or entry.bridge.closed:
            return None
        return entry

    def find_endpoint(self, client: RtpEndpoint) -> CallBridge | None:
        """The call in which `client` (e.g. a caller's leg) talks to an extension."""
        for entry in self._by_ext.values():
            if not entry.bridge.closed and entry.bridge.endpoint(entry.client) is client:
                return entry
        return None

    def __len__(self) -> int:
        return len(self._by_ext)

    def open_call(
        self,
        clock: MediaClock,
        caller: RtpEndpoint,
        callee: RtpEndpoint,
        *,
        callee_ext: str | None,
        caller_ext: str | None = None,
    ) -> Bridge:
        """A two-party call bridge (relay fast path), findable by both extensions in it."""
        bridge = Bridge(clock, name=f"{caller_ext or 'caller'}-{callee_ext or 'callee'}")
        bridge.add_endpoint("caller", caller)
        bridge.add_endpoint("callee", callee)
        if callee_ext:
            self.register(
                callee_ext,
                CallBridge(bridge=bridge, agent="callee", client="caller", extension=callee_ext),
            )
        if caller_ext:
            self.register(
                caller_ext,
                CallBridge(bridge=bridge, agent="caller", client="callee", extension=caller_ext),
            )
        return bridge

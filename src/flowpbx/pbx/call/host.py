"""What calls and their features need of the runtime: the `CallHost` port.

`Runtime` (pbx/runtime.py) implements it; `LiveCall`, `CallManager` and the features
(queues, transfer, spy, voicemail) take it instead of importing the runtime. What the call
registry offers to features is `CallRegistry` (the call manager implements it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

from flowpbx.flow.context import FlowServices
from flowpbx.pbx.call.leg import Leg, LegHost
from flowpbx.pbx.call.uas_leg import UasLeg
from flowpbx.pbx.config_view import ConfigView
from flowpbx.pbx.events import EventHub
from flowpbx.pbx.features.mwi import MwiService
from flowpbx.pbx.features.trunks import HostResolver
from flowpbx.pbx.history import HistoryWriter
from flowpbx.pbx.registrar import Authenticator, Registrar
from flowpbx.pbx.rtp.bridge import BridgeRegistry
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.library import AudioLibrary
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.pbx.security import AccessGuard, PinLockout
from flowpbx.pbx.transport import SipEndpoint
from flowpbx.settings import Settings
from flowpbx.sip.refer import Replaces

if TYPE_CHECKING:
    from flowpbx.services.factory import Services
    from flowpbx.store.db import Store


class ActiveCall(Protocol):
    """What a feature reads of another active call (pbx/call/live.py `LiveCall`)."""

    @property
    def did(self) -> str: ...
    @property
    def leg(self) -> UasLeg: ...
    @property
    def caller_ext(self) -> str | None: ...
    @property
    def transfers(self) -> list[dict[str, Any]]: ...


class CallRegistry(Protocol):
    """The active calls (pbx/call/manager.py `CallManager`), as features see them."""

    @property
    def active(self) -> Mapping[str, ActiveCall]: ...
    @property
    def bridges(self) -> BridgeRegistry: ...
    @property
    def pin_lockout(self) -> PinLockout: ...


class CallHost(LegHost, Protocol):
    """The runtime as calls see it: what their legs need (`LegHost`), configuration,
    directory, media plant, live state (busy and ringing counts per extension), history,
    events and outside services."""

    @property
    def settings(self) -> Settings: ...
    @property
    def store(self) -> Store: ...
    @property
    def services(self) -> Services: ...
    @property
    def loop(self) -> asyncio.AbstractEventLoop: ...
    @property
    def sip(self) -> SipEndpoint: ...
    @property
    def domain(self) -> str: ...
    @property
    def config(self) -> ConfigView: ...
    @property
    def resolver(self) -> HostResolver: ...
    @property
    def auth(self) -> Authenticator: ...
    @property
    def guard(self) -> AccessGuard: ...
    @property
    def registrar(self) -> Registrar: ...
    @property
    def mwi(self) -> MwiService: ...
    @property
    def events(self) -> EventHub: ...
    @property
    def history(self) -> HistoryWriter: ...
    @property
    def media_ip(self) -> str: ...
    @property
    def rtp_pool(self) -> RtpPortPool: ...
    @property
    def clock(self) -> MediaClock: ...
    @property
    def audio(self) -> AudioLibrary: ...
    @property
    def calls(self) -> CallRegistry: ...
    @property
    def busy(self) -> dict[str, int]: ...
    @property
    def ringing(self) -> dict[str, int]: ...
    @property
    def mailbox_counts(self) -> dict[str, tuple[int, int]]: ...
    @property
    def internal_ring_timeout_s(self) -> float: ...
    @property
    def flow_services(self) -> FlowServices: ...
    @property
    def timezone(self) -> str: ...
    def find_replaced(self, replaces: Replaces) -> Leg | None: ...

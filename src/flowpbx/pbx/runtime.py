"""The PBX runtime: one asyncio process holding the SIP endpoint, registrar, calls, media.

`Runtime` is what every part of `pbx/` reaches for (the endpoint to send with, the current
configuration, the audio library, the media clock). `dispatch` routes each SIP event from
the transaction layer to the registrar, a new call, or the leg that owns the dialog.

`PbxService` (service.py) wraps it for app.py and the API.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import gc
import logging
import os
from typing import TYPE_CHECKING

from flowpbx.flow.context import FlowServices, PastCall
from flowpbx.media.audiofile import discard_partial_writes
from flowpbx.pbx.call.leg import ALLOW, Leg
from flowpbx.pbx.call.manager import CallManager
from flowpbx.pbx.call.talk import TalkPhase
from flowpbx.pbx.call.uac_leg import UacLeg
from flowpbx.pbx.config_view import ConfigView
from flowpbx.pbx.events import EventHub
from flowpbx.pbx.features.mwi import MwiService
from flowpbx.pbx.features.queues import QueueManager
from flowpbx.pbx.features.transfer import TransferConversation
from flowpbx.pbx.features.trunks import HostResolver, TrunkManager
from flowpbx.pbx.features.voicemail import own_mailbox, refresh_mwi
from flowpbx.pbx.history import HistoryWriter, past_calls
from flowpbx.pbx.memory import TracemallocDumper
from flowpbx.pbx.ports import invite_server_user, transaction_user
from flowpbx.pbx.registrar import Authenticator, Registrar
from flowpbx.pbx.rtp.clock import MediaClock
from flowpbx.pbx.rtp.library import AudioLibrary
from flowpbx.pbx.rtp.ports import RtpPortPool
from flowpbx.pbx.security import AccessGuard, GuardConfig
from flowpbx.pbx.tls import CertificateSource, PeerTls, TlsTransport, watch_certificates
from flowpbx.pbx.transport import SipEndpoint
from flowpbx.services.factory import services_for
from flowpbx.services.retention import RetentionPurge
from flowpbx.settings import Settings, parse_dump_spec
from flowpbx.sip.dialog import Dialog
from flowpbx.sip.errors import SipParseError
from flowpbx.sip.message import (
    DEFAULT_ACCEPT,
    Request,
    Response,
    diagnose_request,
    make_response,
    unsupported_extensions,
)
from flowpbx.sip.mwi import MessageSummary
from flowpbx.sip.refer import Replaces, parse_replaces
from flowpbx.sip.session_timer import negotiate_uas
from flowpbx.sip.transaction import (
    AckReceived,
    AckTimeout,
    CancelReceived,
    ClientTransaction,
    Event,
    RequestReceived,
    ResponseReceived,
    ServerTransaction,
    TransactionTimeout,
)
from flowpbx.store.records import RuntimeConfig

if TYPE_CHECKING:
    from flowpbx.store.db import Store

log = logging.getLogger("flowpbx.pbx")

Addr = tuple[str, int]
USER_AGENT = "flowpbx/0.1"
# Collector thresholds (gen 0 allocations, gen 1 and gen 2 passes). CPython's 700/10/10 runs a
# pass every few milliseconds at hundreds of call setups per second and promotes every
# short-lived call object into the old generations, whose full passes then walk the whole
# heap (measured: 1.4 s pauses at 400 setups/s). With 10,000 most per-call temporaries die
# before their first pass; a gen 1 pass every 5 keeps that generation small (20 let it
# reach 250 ms passes). Measured with call_sip at 300 setups/s for 30 s: 161 passes, longest
# 86 ms, 2.4 s in all, no retransmission (700/10/10: 2,494 passes, longest 598 ms, 7.7 s).
# Relayed media allocates nothing that lives, so calls in progress cost no passes at all.
# benchmarks/serve_bench.py can override this (FLOWPBX_BENCH_GC_THRESHOLD).
GC_THRESHOLDS = (10_000, 5, 20)
_ACCEPT = DEFAULT_ACCEPT | {"application/dtmf-relay", "application/dtmf"}
_KNOWN_METHODS = frozenset(ALLOW.split(", "))


def tune_collector() -> None:
    """Once start-up is done (ARCHITECTURE.md's runtime rules): everything loaded so far
    lives as long as the process, so it leaves the collector's view (`gc.freeze`), and the
    thresholds become `GC_THRESHOLDS`."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)


def apply_realtime(priority: int) -> bool:
    """Run this thread (and every thread started after it) under the real-time round-robin
    policy at `priority` (FLOWPBX_REALTIME_PRIORITY; 0 leaves the scheduler alone).

    A relayed packet waits for the event loop: when the kernel gives the loop's core to another
    program for a few milliseconds, the packets of every call arriving meanwhile are late by as
    much (measured in benchmarks/RESULTS.md "Media relay"). Under SCHED_RR the loop runs before
    any time-sharing process; the kernel's real-time throttling (sched_rt_runtime_us) still
    leaves the rest of the machine a share. Needs CAP_SYS_NICE (root, or systemd's
    `AmbientCapabilities=CAP_SYS_NICE`); without it flowpbx says so and goes on."""
    if priority <= 0:
        return False
    try:
        os.sched_setscheduler(0, os.SCHED_RR, os.sched_param(priority))
    except (OSError, AttributeError) as e:
        log.warning("FLOWPBX_REALTIME_PRIORITY=%d not applied: %s", priority, e)
        return False
    log.info("running with real-time priority %d (SCHED_RR)", priority)
    return True


def stamp_received(request: Request, addr: Addr) -> None:
    """RFC 3261 §18.2.1 and RFC 3581: note where the request really came from in its top Via,
    so responses carry `received`/`rport` and a phone behind NAT learns its public address."""
    top = request.top_via
    host, port = addr
    wants_rport = top.rport is True
    if not wants_rport and top.host == host:
        return
    stamped = (
        top.with_params(received=host, rport=port)
        if wants_rport
        else top.with_params(received=host)
    )
    request.headers.remove_first("Via")
    request.headers.prepend("Via", str(stamped))


class Runtime:
    def __init__(self, settings: Settings, store: Store, config: RuntimeConfig) -> None:
        self.settings = settings
        self.store = store
        self.loop = asyncio.get_running_loop()
        self.resolver = HostResolver()  # trunk host names, off the loop (pbx/features/trunks.py)
        self.config = ConfigView(config, self.resolver)
        self.media_ip = settings.effective_media_ip
        host, port = settings.sip_listen
        self.sip = SipEndpoint(
            host=host,
            port=port,
            on_event=self.dispatch,
            tcp_idle_timeout=settings.sip_tcp_idle_s,
            tcp_first_message_timeout=settings.sip_tcp_first_message_s,
            tcp_unknown_idle_timeout=settings.sip_tcp_unknown_idle_s,
            tcp_max_per_source=settings.sip_tcp_max_per_source,
        )
        # SIP over TLS (pbx/tls.py): listening with a certificate, connecting out always
        self.tls_certs = (
            CertificateSource(settings.tls_cert, settings.tls_key)
            if settings.tls_cert is not None and settings.tls_key is not None
            else None
        )
        self.sip_tls = TlsTransport(
            self.sip,
            self.tls_certs,
            handshake_timeout=settings.sip_tls_handshake_s,
            peer_config=self._tls_peer,
            idle_timeout=settings.sip_tcp_idle_s,
            first_message_timeout=settings.sip_tcp_first_message_s,
            unknown_idle_timeout=settings.sip_tcp_unknown_idle_s,
            max_per_source=settings.sip_tcp_max_per_source,
        )
        self.sip.add_stream(self.sip_tls, settings.sip_tls_listen[1], settings.sip_tls_listen[0])
        self._tls_watch: asyncio.Task[None] | None = None
        self.domain = host
        self.user_agent = USER_AGENT
        self.contact = ""
        self.rtp_pool = RtpPortPool(
            *settings.rtp_ports, strict=settings.rtp_strict, probation=settings.rtp_probation
        )
        self.clock = MediaClock()
        self.audio = AudioLibrary(config.audio)
        self.auth = Authenticator(
            settings.sip_realm, lambda: self.config.extensions, settings.sip_auth_algorithms
        )
        self.guard = AccessGuard(
            GuardConfig.from_settings(settings),
            is_trunk=lambda addr: self.config.trunk_for(addr) is not None,
        )
        self.sip.guard = self.auth.guard = self.guard
        self.registrar = Registrar(self, self.auth)
        self.trunks = TrunkManager(self)  # outbound registrations (pbx/features/trunks.py)
        self.mwi = MwiService(self)  # message-summary subscriptions, NOTIFYs (features/mwi.py)
        self.mailbox_counts: dict[str, tuple[int, int]] = {}  # mailbox -> (new, old)
        self.mwi.summary_for = self._mailbox_summary
        self.calls = CallManager(self)
        self.queues = QueueManager(self)
        # a bridged call's talk phase, transfers (*2, REFER) plugged in (features/transfer.py)
        self.talk_phase: TalkPhase = TransferConversation
        self.services = services_for(settings, store)
        # the company's IANA zone for {date}/{time} and voicemail envelopes: the saved
        # `timezone` setting once the service applies it, FLOWPBX_TIMEZONE until then
        self.timezone: str = settings.timezone
        self.flow_services = self._flow_services()
        self.events = EventHub()
        self.history = HistoryWriter(store)
        # daily purge of history and voicemail past their retention (services/retention.py)
        self.retention = RetentionPurge(
            store,
            first_delay_s=settings.retention_first_run_s,
            on_voicemail_purged=self._voicemail_purged,
        )
        self.internal_ring_timeout_s = 30.0
        self._dialogs: dict[tuple[str, str], Leg] = {}
        # Live state per extension (or number): bridged calls and phones ringing right now.
        self.busy: dict[str, int] = {}
        self.ringing: dict[str, int] = {}
        self.dropped = 0
        self.memory_dump: TracemallocDumper | None = None  # soak diagnostic (pbx/memory.py)

    async def start(self) -> None:
        spec = parse_dump_spec(self.settings.tracemalloc_dump)
        if spec is not None:
            self.memory_dump = TracemallocDumper(spec)
            self.memory_dump.start()
        await self.sip.start()
        if self.tls_certs is not None:
            self._tls_watch = self.loop.create_task(
                watch_certificates(self.tls_certs, self.settings.tls_reload_check_s)
            )
        self.contact = f"<sip:flowpbx@{self.sip.host}:{self.sip.port}>"
        self.trunks.sync(self.config.raw.trunks, self.config.trunk_addr)
        self.registrar.restore(await self.store.load_registrations())
        swept = await self.store.close_interrupted_calls()  # history rows a crash left open
        if swept:
            log.warning("%d call(s) cut by a crash closed in history as interrupted", swept)
        debris = await asyncio.to_thread(discard_partial_writes, self.settings.data_dir)
        if debris:  # a crash in the middle of writing a recording (temp file, never renamed)
            log.warning("discarded %d unfinished media file(s) left by a crash", len(debris))
        self.services.start()
        await self._count_mailboxes()
        self.retention.start()

    def _tls_peer(self, addr: Addr) -> PeerTls | None:
        """How a TLS connection to ``addr`` verifies its peer: a TLS trunk's settings (SNI and
        the name checked: the trunk's host), else None (a phone: encrypted, not verified)."""
        trunk = self.config.trunk_for(addr)
        if trunk is None or trunk.transport != "tls":
            return None
        return PeerTls(
            server_hostname=trunk.host, verify=trunk.tls_verify, ca_file=trunk.tls_ca_file
        )

    async def stop(self) -> None:
        await self.retention.close()
        if self._tls_watch is not None:
            self._tls_watch.cancel()
            self._tls_watch = None
        self.trunks.close()
        self.mwi.close()
        await self.calls.close()
        await asyncio.sleep(0.05)  # let the BYEs leave
        self.clock.close()
        self.sip.close()
        await self.registrar.drain()
        await self.history.close()
        await self.services.close()
        if self.memory_dump is not None:
            self.memory_dump.close()
            self.memory_dump = None

    async def _count_mailboxes(self) -> None:
        """Message counts of every mailbox an extension owns (for MWI)."""
        boxes = set(self.config.raw.mailboxes) | {
            own_mailbox(self, number) for number in self.config.extensions
        }
        for box in boxes:
            try:
                records = await self.store.list_voicemail(box)
            except Exception:
                log.exception("could not count mailbox %s", box)
                continue
            new = sum(1 for m in records if not m.heard)
            self.mailbox_counts[box] = (new, len(records) - new)

    async def _voicemail_purged(self, mailboxes: set[str]) -> None:
        """Messages past retention left these mailboxes: recount them, tell the phones."""
        for box in mailboxes:
            try:
                await refresh_mwi(self, box)
            except Exception:
                log.exception("could not recount mailbox %s", box)

    def _mailbox_summary(self, extension: str) -> MessageSummary:
        box = own_mailbox(self, extension)
        new, old = self.mailbox_counts.get(box, (0, 0))
        return MessageSummary(new=new, old=old, account=f"sip:{box}@{self.domain}")

    def _flow_services(self) -> FlowServices:
        """What flows get: webhooks, lookups and the email outbox (services/), schedules and
        extensions of the current configuration, and call history."""
        store = self.store

        async def call_history(caller: str, since: dt.datetime) -> list[PastCall]:
            return await past_calls(store, caller, since)

        return dataclasses.replace(
            self.services.flow_services(self.config),
            call_history=call_history,
            timezone=self.timezone,
        )

    def set_timezone(self, name: str) -> None:
        """Take the company's time zone (an IANA name already checked) for new calls."""
        if name != self.timezone:
            self.timezone = name
            self.flow_services = self._flow_services()

    async def resolve_trunks(self, config: RuntimeConfig) -> None:
        """Resolve a configuration's trunk host names off the loop, before `reload`."""
        await asyncio.gather(*(self.resolver.resolve(t.host) for t in config.trunks))

    def reload(self, config: RuntimeConfig) -> None:
        self.config = ConfigView(config, self.resolver)
        self.flow_services = self._flow_services()
        self.trunks.sync(config.trunks, self.config.trunk_addr)
        self.audio.update(config.audio)

    # -- dialogs -------------------------------------------------------------------------------

    def remember_dialog(self, dialog: Dialog, leg: Leg) -> None:
        self._dialogs[(dialog.call_id, dialog.local_tag)] = leg

    def forget_dialog(self, dialog: Dialog) -> None:
        self._dialogs.pop((dialog.call_id, dialog.local_tag), None)

    def _leg_for(self, message: Request | Response, *, local_is_to: bool) -> Leg | None:
        try:
            tag = message.to.tag if local_is_to else message.from_.tag
            return self._dialogs.get((message.call_id, tag or ""))
        except SipParseError:
            return None

    def find_replaced(self, replaces: Replaces) -> Leg | None:
        """The leg whose dialog an INVITE's Replaces header names (RFC 3891 §3): the to-tag
        is ours, the from-tag the peer's; an early-only Replaces matches no confirmed leg."""
        leg = self._dialogs.get((replaces.call_id, replaces.to_tag))
        if leg is None or leg.dialog is None or leg.dialog.remote_tag != replaces.from_tag:
            return None
        if replaces.early_only and leg.answered_at is not None:
            return None
        return leg

    def _invite_refused(self, txn: ServerTransaction, request: Request) -> bool:
        """Checks on a new INVITE before any call logic: Max-Forwards 0 (we would forward it,
        RFC 3261 §16.3: 483), a session interval below our Min-SE (RFC 4028 §8.1: 422), a
        Replaces naming no dialog of ours (RFC 3891 §3: 481)."""
        extra: list[tuple[str, str]] = []
        status: int | None = None
        try:
            if request.max_forwards == 0:
                status = 483
            else:
                decision = negotiate_uas(request)
                if decision is not None and decision.reject_min_se is not None:
                    status = 422
                    extra.append(("Min-SE", str(decision.reject_min_se)))
                raw = request.headers.get("Replaces")
                if (
                    status is None
                    and raw is not None
                    and self.find_replaced(parse_replaces(raw)) is None
                ):
                    status = 481
        except SipParseError:
            status = 400
        if status is None:
            return False
        self.sip.send_response(txn, make_response(request, status, headers=extra))
        return True

    # -- the dispatcher -------------------------------------------------------------------------

    def dispatch(self, event: Event) -> None:
        if isinstance(event, RequestReceived):
            self._on_request(event)
        elif isinstance(event, ResponseReceived):
            client = event.transaction
            user = transaction_user(client) if client is not None else None
            if client is not None and user is not None:
                user.on_response(event.response, client)
            elif 200 <= event.response.status < 300:
                leg = self._leg_for(event.response, local_is_to=False)
                if isinstance(leg, UacLeg):
                    leg.on_stray_2xx(event.response)
        elif isinstance(event, AckReceived):
            leg = self._leg_for(event.request, local_is_to=True)
            if leg is not None:
                leg.on_ack(event.request)
        elif isinstance(event, CancelReceived):
            invite = event.invite_transaction
            if invite is None:
                # RFC 3261 §9.2: no matching INVITE transaction.
                self.sip.send_response(event.cancel_transaction, make_response(event.request, 481))
                return
            owner = invite_server_user(invite)
            # RFC 3261 §9.2: the 200 to CANCEL carries the To tag of the INVITE's responses.
            to_tag = (owner.local_tag if owner is not None else None) or invite.local_tag
            self.sip.send_response(
                event.cancel_transaction, make_response(event.request, 200, to_tag=to_tag)
            )
            if owner is not None:
                owner.on_cancel()
        elif isinstance(event, TransactionTimeout):
            timed_out = event.transaction
            if isinstance(timed_out, ClientTransaction):
                user = transaction_user(timed_out)
                if user is not None:
                    user.on_timeout(timed_out)
        elif isinstance(event, AckTimeout):
            owner = invite_server_user(event.transaction)
            if owner is not None:
                owner.on_ack_timeout()
        else:
            self.dropped += 1

    def _on_request(self, event: RequestReceived) -> None:
        request = event.request
        txn = event.transaction
        if txn is None:
            if request.method == "ACK":
                leg = self._leg_for(request, local_is_to=True)
                if leg is not None:
                    leg.on_ack(request)
            return
        method = request.method
        problem = diagnose_request(request, accept=_ACCEPT)
        if problem is not None:
            status, reason = problem
            extra: list[tuple[str, str]] = []
            if status == 420:
                extra.append(("Unsupported", ", ".join(unsupported_extensions(request))))
            elif status == 415:
                extra.append(("Accept", ", ".join(sorted(_ACCEPT))))
            self.sip.send_response(txn, make_response(request, status, reason, headers=extra))
            return
        stamp_received(request, event.addr)
        if event.merged:
            # RFC 3261 §8.2.2.2: the same request reached us by another path.
            self.sip.send_response(txn, make_response(request, 482))
            return
        to_tag = request.to.tag
        if to_tag:
            leg = self._leg_for(request, local_is_to=True)
            if leg is not None:
                leg.on_request(txn, request)
            elif not self.mwi.in_dialog(txn, request):
                self.sip.send_response(txn, make_response(request, 481))
            return
        if method == "INVITE":
            if self._invite_refused(txn, request):
                return
            self.calls.on_invite(txn, request, event.addr)
        elif method == "REGISTER":
            self.registrar.on_register(txn, request, event.addr)
        elif method == "SUBSCRIBE":
            self.mwi.on_subscribe(txn, request, event.addr)
        elif method == "OPTIONS":
            self.sip.send_response(
                txn,
                make_response(
                    request,
                    200,
                    headers=[
                        ("Allow", ALLOW),
                        ("Accept", "application/sdp"),
                        ("User-Agent", self.user_agent),
                    ],
                ),
            )
        elif method in ("BYE", "INFO", "UPDATE", "PRACK", "NOTIFY"):
            # In-dialog methods outside any dialog (RFC 3261 §12.2.2; RFC 6665 §4.1.3 for a
            # NOTIFY of no subscription of ours).
            self.sip.send_response(txn, make_response(request, 481))
        elif method == "REFER":
            # RFC 3515 allows REFER outside a dialog; flowpbx takes transfers in dialogs only.
            self.sip.send_response(txn, make_response(request, 403, "REFER Outside a Dialog"))
        elif method in _KNOWN_METHODS:
            self.sip.send_response(txn, make_response(request, 405, headers=[("Allow", ALLOW)]))
        else:
            self.sip.send_response(txn, make_response(request, 501, headers=[("Allow", ALLOW)]))


__all__ = ["Runtime"]

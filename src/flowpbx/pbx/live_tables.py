"""The size of every table the live PBX keeps, for /metrics (PbxService.counters) — SIP
transactions and their timer heap, dialogs, calls and their tasks, bridges, busy/ringing
counts, registrations, MWI subscriptions, queues, media watches, and every bounded cache
(digest nonce counts, per-source rate-limit records, bans, the trusted-address cache, voicemail
PIN failures and lockouts, parse caches) — beside the process's RSS, descriptors and tasks
(pbx/memory.py). A count that grows with the number of calls taken shows there before memory
does. Tables are read by attribute path, so one that moves drops out instead of raising.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sized
from typing import Protocol

from flowpbx.pbx.call.leg import LIVE_LEGS
from flowpbx.pbx.features.queues import QueueManager
from flowpbx.pbx.memory import process_figures
from flowpbx.pbx.transport import SipEndpoint


class LiveTables(Protocol):
    """The runtime's pieces whose tables are counted (read by attribute path)."""

    @property
    def sip(self) -> SipEndpoint: ...
    @property
    def queues(self) -> QueueManager: ...
    @property
    def calls(self) -> object: ...
    @property
    def registrar(self) -> object: ...
    @property
    def mwi(self) -> object: ...
    @property
    def trunks(self) -> object: ...
    @property
    def clock(self) -> object: ...
    @property
    def events(self) -> object: ...
    @property
    def guard(self) -> object: ...
    @property
    def auth(self) -> object: ...


def _size(obj: object, *path: str) -> int | None:
    """len() of ``obj.a.b...``, None when the attribute is absent (a table that moved)."""
    for name in path:
        obj = getattr(obj, name, None)
        if obj is None:
            return None
    return len(obj) if isinstance(obj, Sized) else None


def memory_metrics(rt: LiveTables) -> dict[str, int]:
    """Process figures and the size of each live table and bounded cache (see module doc)."""
    out = process_figures()
    txn: Counter[str] = Counter()
    for layer in rt.sip.layers.values():
        for table, n in layer.table_sizes().items():
            txn[table] += n
    out.update({f"mem_sip_txn_{table}": n for table, n in txn.items()})
    out["mem_legs_alive"] = len(LIVE_LEGS)
    sizes: dict[str, int | None] = {
        "mem_dialogs": _size(rt, "_dialogs"),
        "mem_calls": _size(rt.calls, "active"),
        "mem_call_tasks": _size(rt.calls, "_tasks"),
        "mem_flow_cache": _size(rt.calls, "_flows"),
        "mem_bridges_by_extension": _size(rt.calls, "bridges", "_by_ext"),
        "mem_busy_extensions": _size(rt, "busy"),
        "mem_ringing_extensions": _size(rt, "ringing"),
        "mem_registrar_extensions": _size(rt.registrar, "_bindings"),
        "mem_mwi_subscriptions": _size(rt.mwi, "_subs"),
        "mem_trunk_registrations": _size(rt.trunks, "_regs"),
        "mem_queues": _size(rt.queues, "queues"),
        "mem_queue_callers": sum(
            len(getattr(q, "waiting", ()) or ()) for q in rt.queues.queues.values()
        ),
        "mem_media_watches": _size(rt.clock, "_watches"),
        "mem_mailbox_counts": _size(rt, "mailbox_counts"),
        "mem_event_subscribers": _size(rt.events, "_subscribers"),
        "mem_guard_sources": _size(rt.guard, "_sources"),
        "mem_guard_bans": _size(rt.guard, "_bans"),
        "mem_guard_trusted_cache": _size(rt.guard, "_trusted_cache"),
        "mem_guard_active_calls": _size(rt.guard, "calls", "_active"),
        "mem_pin_failures": _size(rt.calls, "pin_lockout", "_failures"),
        "mem_pin_lockouts": _size(rt.calls, "pin_lockout", "_locked_until"),
        "mem_auth_nonces": _size(rt.auth, "server", "counts"),
        "mem_sip_tcp_targets": _size(rt.sip, "_tcp_targets"),
        "mem_sip_tcp_connections": _size(rt.sip.tcp, "_conns") if rt.sip.tcp else 0,
        "mem_sip_tcp_pending": _size(rt.sip.tcp, "_pending") if rt.sip.tcp else 0,
    }
    out.update({k: v for k, v in sizes.items() if v is not None})
    out.update(_module_caches())
    return out


def _module_caches() -> dict[str, int]:
    """The process-wide bounded caches (parsed URIs, name-addrs and Vias; allow-list
    networks): their current sizes."""
    import importlib

    out: dict[str, int] = {}
    for metric, module, attr in (
        ("mem_parse_cache_uris", "flowpbx.sip.uri", "_parsed_uris"),
        ("mem_parse_cache_name_addrs", "flowpbx.sip.headers", "_parsed_name_addrs"),
        ("mem_parse_cache_vias", "flowpbx.sip.headers", "_parsed_vias"),
        ("mem_allow_list_networks_cache", "flowpbx.pbx.security", "_networks"),
    ):
        obj = getattr(importlib.import_module(module), attr, None)
        info = getattr(obj, "cache_info", None)
        if callable(info):
            out[metric] = int(info().currsize)
        elif isinstance(obj, Sized):
            out[metric] = len(obj)
    return out

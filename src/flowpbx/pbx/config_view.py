"""The runtime's read-only view of the configuration (extensions, numbers, flows by DID,
trunks by source address, schedules), with the lookups the call path needs."""

from __future__ import annotations

import ipaddress
import logging
import socket

from flowpbx.flow.model import ScheduleSpec
from flowpbx.flow.schedule import Schedule
from flowpbx.pbx.features.trunks import HostResolver
from flowpbx.store.records import RuntimeConfig, TrunkRec

log = logging.getLogger("flowpbx.pbx")

Addr = tuple[str, int]


class ConfigView:
    """The runtime's read-only view of the configuration, with lookups the call path needs.
    Trunk host names come from `resolver`'s cache when it has them (`Runtime.reload` is
    given a configuration whose names were resolved off the loop first)."""

    def __init__(self, config: RuntimeConfig, resolver: HostResolver | None = None) -> None:
        self.raw = config
        self._schedules: dict[str, Schedule | None] = {}
        self.extensions = config.extensions
        self.flows_by_did = config.flows_by_did
        self.numbers = config.numbers
        self._trunks: dict[Addr, TrunkRec] = {}
        self._tls_trunks: dict[str, TrunkRec] = {}  # TLS trunks by IP (see trunk_for)
        self._resolver = resolver
        for trunk in config.trunks:
            for ip in self._ips(trunk.host):
                self._trunks.setdefault((ip, trunk.port), trunk)
                if trunk.transport == "tls":
                    self._tls_trunks.setdefault(ip, trunk)

    def _ips(self, host: str) -> list[str]:
        hit = self._resolver.cached(host) if self._resolver is not None else None
        return list(hit) if hit is not None else _resolve(host)

    def schedule(self, name: str) -> Schedule | None:
        """A named office-hours schedule, compiled once per configuration."""
        if name not in self._schedules:
            rec = self.raw.schedules.get(name)
            compiled = None
            if rec is not None:
                try:
                    spec = ScheduleSpec.model_validate(
                        {"timezone": rec.timezone, "hours": rec.hours, "holidays": rec.holidays}
                    )
                    compiled = Schedule.from_spec(spec)
                except ValueError:
                    log.warning("schedule %s is invalid", name)
            self._schedules[name] = compiled
        return self._schedules[name]

    def outbound_trunk(self, did: str | None) -> TrunkRec | None:
        """The trunk to call out on: the one the call's own number arrives on, else the
        trunk of the first of My numbers, else the first trunk."""
        by_name = {t.name: t for t in self.raw.trunks}
        for number in ([did] if did else []) + self.raw.caller_id_list:
            rec = self.numbers.get(number)
            if rec is not None and rec.trunk in by_name:
                return by_name[rec.trunk]
        return self.raw.trunks[0] if self.raw.trunks else None

    def trunk_addr(self, trunk: TrunkRec) -> Addr | None:
        ips = self._ips(trunk.host)
        return (ips[0], trunk.port) if ips else None

    def trunk_for(self, addr: Addr, transport: str | None = None) -> TrunkRec | None:
        """The trunk a request came from, by its source address and port — never by what the
        request claims. A phone on the provider's host but another port is not the trunk.
        Over TLS (``transport="tls"``) a TLS trunk is known by its IP alone: a provider
        opens its own connections from ports of its choosing, and a TLS connection's
        address cannot be spoofed."""
        trunk = self._trunks.get(addr)
        if trunk is None and transport == "tls":
            trunk = self._tls_trunks.get(addr[0])
        return trunk


def _resolve(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host))]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)
    except OSError:
        log.warning("trunk host %s does not resolve", host)
        return []
    return sorted({str(info[4][0]) for info in infos})

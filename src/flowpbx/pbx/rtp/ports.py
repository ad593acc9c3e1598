"""The RTP port pool: even ports of FLOWPBX_RTP_PORTS handed out at random (the odd one
above each is left for RTCP), and the source-learning settings every leg shares."""

from __future__ import annotations

import secrets
import socket

# Strict source learning: consecutive in-sequence packets of one SSRC from one source a leg
# must see before it latches on to an address its SDP does not name (FLOWPBX_RTP_PROBATION).
RTP_PROBATION = 3
# Socket buffers of RTP sockets: at 50 packets/s a default buffer holds seconds of one
# stream, but on loopback and busy hosts packets arrive in bursts after any pause of the
# loop; 1 MiB (capped by net.core.rmem_max / wmem_max) rides out a long one.
RTP_SOCKET_BUFFER = 1 << 20


class NoRtpPort(RuntimeError):
    """Every RTP port of FLOWPBX_RTP_PORTS is in use."""


class RtpPortPool:
    """Even RTP ports of the configured range (the odd one above is left for RTCP), handed
    out at random: a stranger cannot tell which port the next call gets.

    It also holds what every leg's source learning shares: `strict` (only the SDP's and the
    signalling's addresses may latch; off, any address may after probation), `probation`
    (packets) and the counts of ignored datagrams, for /metrics."""

    def __init__(
        self, low: int, high: int, *, strict: bool = True, probation: int = RTP_PROBATION
    ) -> None:
        first = low + (low % 2)
        self._free: list[int] = list(range(first, high, 2))
        self._used: set[int] = set()
        self.strict = strict
        self.probation = max(1, probation)
        self.rtp_ignored = 0  # datagrams dropped by legs not yet latched
        self.rtcp_ignored = 0  # RTCP datagrams from anyone but the learned RTCP source

    def bind(self, host: str) -> socket.socket:
        free = self._free
        taken: list[int] = []  # ports someone else holds: back into the pool afterwards
        try:
            while free:
                i = secrets.randbelow(len(free))
                port = free[i]
                free[i] = free[-1]
                free.pop()
                sock = socket.socket(
                    socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_DGRAM
                )
                try:
                    sock.bind((host, port))
                except OSError:
                    sock.close()
                    taken.append(port)
                    continue
                sock.setblocking(False)
                for option in (socket.SO_RCVBUF, socket.SO_SNDBUF):
                    try:
                        sock.setsockopt(socket.SOL_SOCKET, option, RTP_SOCKET_BUFFER)
                    except OSError:
                        pass  # the system's default stays
                self._used.add(port)
                return sock
        finally:
            free.extend(taken)
        raise NoRtpPort("no free RTP port")

    def release(self, port: int) -> None:
        if port in self._used:
            self._used.discard(port)
            self._free.append(port)

    @property
    def in_use(self) -> int:
        return len(self._used)

    def counters(self) -> dict[str, int]:
        """For /metrics: datagrams ignored by source learning since start."""
        return {"rtp_packets_ignored": self.rtp_ignored, "rtcp_packets_ignored": self.rtcp_ignored}

"""Packet capture on loopback: what a peer that cannot record (SIPp) actually RECEIVED.

``Capture(pcap_path, ports=[N])`` runs ``dumpcap -i lo -f "udp and (dst port N ...)" -P``
(classic pcap) while the ``with`` block runs; on exit it stops dumpcap with SIGINT, reads
the file with ``tests.pcap.read_udp_payloads`` and exposes the datagrams, the RTP packets
among them and their decoded audio. Needs root or CAP_NET_RAW (tests run as root here).

Errors: CaptureError (a RuntimeError) when dumpcap does not start or dies.
"""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tests.audio_analysis import Int16Array, RtpPacket, parse_rtp, rtp_audio
from tests.e2e.procs import Managed, stop_group
from tests.pcap import read_udp_payloads

DUMPCAP = "dumpcap"


@dataclass(frozen=True, slots=True, kw_only=True)
class UdpDatagram:
    """One captured UDP datagram: capture time (s), source and destination, payload."""

    time: float
    src: tuple[str, int]
    dst: tuple[str, int]
    payload: bytes


class CaptureError(RuntimeError):
    """dumpcap could not be started or stopped cleanly."""


class Capture(Managed):
    """Capture UDP datagrams sent to *ports* on 127.0.0.1 into *pcap_path*."""

    def __init__(self, pcap_path: str | Path, ports: Sequence[int], start_timeout: float = 10.0):
        self.path = Path(pcap_path)
        self.ports = list(ports)
        self.start_timeout = start_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.path.with_suffix(".dumpcap.log")
        self.datagrams: list[UdpDatagram] = []

    @property
    def bpf(self) -> str:
        return "udp and (" + " or ".join(f"dst port {p}" for p in self.ports) + ")"

    def start(self) -> Capture:
        self.path.unlink(missing_ok=True)
        log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [DUMPCAP, "-i", "lo", "-f", self.bpf, "-w", str(self.path), "-P", "-a", "duration:600"],
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise CaptureError(f"dumpcap exited {self.proc.returncode}: {self.log()}")
            if b"Capturing on" in self.log_path.read_bytes() and self.path.exists():
                time.sleep(0.2)  # the filter is attached right after the banner
                return self
            time.sleep(0.02)
        self.stop()
        raise CaptureError(f"dumpcap did not start within {self.start_timeout} s: {self.log()}")

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace").strip()
        except OSError:
            return ""

    def stop(self) -> list[UdpDatagram]:
        """Stop dumpcap (idempotent) and load what it captured."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            time.sleep(0.1)  # let in-flight datagrams land in the file
            stop_group(proc, first=signal.SIGINT, grace=5)
        if self.path.exists() and self.path.stat().st_size >= 24:
            self.datagrams = [
                UdpDatagram(time=t, src=src, dst=dst, payload=payload)
                for t, src, dst, payload in read_udp_payloads(self.path)
            ]
        return self.datagrams

    # ---------------------------------------------------------------- views of the result
    def rtp(self, dst_port: int | None = None, src_port: int | None = None) -> list[RtpPacket]:
        """Datagrams that parse as RTP v2 (optionally only to/from a port), in capture order."""
        out: list[RtpPacket] = []
        for d in self.datagrams:
            if dst_port is not None and d.dst[1] != dst_port:
                continue
            if src_port is not None and d.src[1] != src_port:
                continue
            if len(d.payload) < 12 or d.payload[0] >> 6 != 2 or 72 <= (d.payload[1] & 0x7F) <= 76:
                continue  # not RTP, or RTCP (PT 200-204 shows as 72-76 after masking)
            try:
                out.append(parse_rtp(d.payload, time=d.time, src=d.src, dst=d.dst))
            except ValueError:
                continue
        return out

    def audio(self, dst_port: int | None = None, src_port: int | None = None) -> Int16Array:
        """Decoded G.711 audio of the captured RTP, arrival order."""
        return rtp_audio(self.rtp(dst_port, src_port))

    def sources(self, dst_port: int | None = None) -> dict[tuple[str, int], int]:
        """Packet count per RTP source address (to check one symmetric stream)."""
        counts: dict[tuple[str, int], int] = {}
        for p in self.rtp(dst_port):
            counts[p.src] = counts.get(p.src, 0) + 1
        return counts

    def summary(self) -> str:
        srcs = ", ".join(f"{a}:{p}={n}" for (a, p), n in self.sources().items())
        audio = self.audio()
        return (
            f"capture {self.path.name}: {len(self.datagrams)} datagrams, RTP sources [{srcs}], "
            f"{audio.size / 8000:.2f}s audio, peak {int(np.abs(audio).max()) if audio.size else 0}"
        )

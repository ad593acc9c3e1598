"""Call setups per second over SIP TLS beside UDP (issue 17).

SIPp 3.6.1 here has no TLS, so the provider is a small asyncio UAC in this script (uvloop),
the same code for both transports: it places calls at a fixed rate from the trunk's
address, one socket bound to the trunk's port (UDP) or one TLS connection from that port
(a provider keeps one connection open; flowpbx recognises the trunk by the connection's
peer address). Each call: INVITE (PCMU SDP) -> 200 -> ACK; the flow ``numbers -> play
(1 s) -> hangup`` answers, plays and hangs up; the provider answers the BYE. Per step:
calls attempted / answered / completed (BYE received) / failed, setup time INVITE -> 200
(median, p95), CPU of flowpbx over the step (% of one core). A fresh flowpbx (serve_bench,
as cps.py starts it) per transport, with a self-signed certificate from `flowpbx.certs`.

    .venv/bin/python benchmarks/tls_cps.py                    # 100,200,300/s, 30 s per step
    .venv/bin/python benchmarks/tls_cps.py --rates 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import ssl
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import uvloop
from common import BENCH_DIR, BenchServer, cpu_seconds, machine, percentile
from tests.audio_analysis import make_tone_wav
from tests.netutil import free_tcp_port, free_udp_port

from flowpbx.certs import self_signed

DID = "+37167000099"
_LENGTH = re.compile(rb"(?im)^(?:content-length|l)\s*:\s*(\d+)")
_CALL_ID = re.compile(rb"(?im)^(?:call-id|i)\s*:\s*(\S+)")


@dataclass
class Step:
    transport: str
    rate: int
    seconds: float
    attempted: int = 0
    answered: int = 0
    completed: int = 0
    failed: int = 0
    setup_ms_p50: float = 0.0
    setup_ms_p95: float = 0.0
    cpu_pct: float = 0.0
    setups: list[float] = field(default_factory=list, repr=False)


class Provider:
    """The UAC: places calls and answers flowpbx's BYEs, over UDP or TLS."""

    def __init__(self, transport: str, local_port: int, pbx: tuple[str, int]) -> None:
        self.transport = transport
        self.local_port = local_port
        self.pbx = pbx
        self.calls: dict[bytes, dict[str, Any]] = {}
        self.writer: asyncio.StreamWriter | None = None
        self.udp: asyncio.DatagramTransport | None = None
        self.reader_task: asyncio.Future[None] | None = None
        self.n = 0

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        if self.transport == "udp":
            provider = self

            class Proto(asyncio.DatagramProtocol):
                def datagram_received(self, data: bytes, addr: Any) -> None:
                    provider.on_message(data)

            t, _ = await loop.create_datagram_endpoint(
                Proto, local_addr=("127.0.0.1", self.local_port)
            )
            self.udp = t  # type: ignore[assignment]
            return
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE  # our own self-signed pair
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self.local_port))
        sock.connect(self.pbx)
        reader, self.writer = await asyncio.open_connection(sock=sock, ssl=ctx, server_hostname="")
        self.reader_task = asyncio.ensure_future(self._read(reader))

    async def _read(self, reader: asyncio.StreamReader) -> None:
        buf = b""
        while chunk := await reader.read(65536):
            buf += chunk
            while (end := buf.find(b"\r\n\r\n")) >= 0:
                head = buf[:end]
                m = _LENGTH.search(head)
                total = end + 4 + (int(m.group(1)) if m else 0)
                if len(buf) < total:
                    break
                self.on_message(buf[:total])
                buf = buf[total:]

    def send(self, text: str) -> None:
        data = text.encode()
        if self.udp is not None:
            self.udp.sendto(data, self.pbx)
        elif self.writer is not None:
            self.writer.write(data)

    def via(self) -> str:
        self.n += 1
        branch = f"z9hG4bKb{self.n}x{time.monotonic_ns()}"
        return f"SIP/2.0/{self.transport.upper()} 127.0.0.1:{self.local_port};branch={branch}"

    def invite(self, i: int) -> None:
        call_id = f"tlsbench-{i}-{time.monotonic_ns()}"
        uri = f"sip:{DID}@{self.pbx[0]}:{self.pbx[1]}" + (
            ";transport=tls" if self.transport == "tls" else ""
        )
        sdp = (
            "v=0\r\no=b 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
            "m=audio 9 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
        )
        from_ = f"<sip:+37120000001@127.0.0.1>;tag=f{i}"
        self.calls[call_id.encode()] = {"sent": time.monotonic(), "from": from_, "uri": uri}
        self.send(
            f"INVITE {uri} SIP/2.0\r\nVia: {self.via()}\r\nMax-Forwards: 70\r\nFrom: {from_}\r\n"
            f"To: <{uri}>\r\nCall-ID: {call_id}\r\nCSeq: 1 INVITE\r\n"
            f"Contact: <sip:prov@127.0.0.1:{self.local_port};transport={self.transport}>\r\n"
            f"Content-Type: application/sdp\r\nContent-Length: {len(sdp)}\r\n\r\n{sdp}"
        )

    def on_message(self, data: bytes) -> None:
        m = _CALL_ID.search(data)
        if m is None:
            return
        call = self.calls.get(m.group(1))
        if call is None:
            return
        head = data.split(b"\r\n\r\n", 1)[0].decode(errors="replace")
        first, *lines = head.split("\r\n")
        headers = {}
        vias = []
        for line in lines:
            name, _, value = line.partition(":")
            key = name.strip().lower()
            if key in ("via", "v"):
                vias.append(value.strip())
            headers.setdefault(key, value.strip())
        if first.startswith("SIP/2.0 "):
            status = int(first.split()[1])
            if status < 200 or "INVITE" not in headers.get("cseq", ""):
                return
            if status >= 300:
                call["failed"] = True
                self.calls.pop(m.group(1), None)
                return
            if "answered" not in call:
                call["answered"] = time.monotonic() - call["sent"]
            self.send(
                f"ACK {call['uri']} SIP/2.0\r\nVia: {self.via()}\r\nMax-Forwards: 70\r\n"
                f"From: {call['from']}\r\nTo: {headers['to']}\r\nCall-ID: {m.group(1).decode()}\r\n"
                "CSeq: 1 ACK\r\nContent-Length: 0\r\n\r\n"
            )
        elif first.startswith("BYE "):
            via = "".join(f"Via: {v}\r\n" for v in vias)
            self.send(
                f"SIP/2.0 200 OK\r\n{via}From: {headers['from']}\r\nTo: {headers['to']}\r\n"
                f"Call-ID: {m.group(1).decode()}\r\nCSeq: {headers['cseq']}\r\n"
                "Content-Length: 0\r\n\r\n"
            )
            call["completed"] = True


async def run_step(provider: Provider, step: Step, pid: int) -> None:
    provider.calls.clear()
    everything: list[dict[str, Any]] = []
    cpu0, t0 = cpu_seconds(pid), time.monotonic()
    total = int(step.rate * step.seconds)
    for i in range(total):
        due = t0 + i / step.rate
        delay = due - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        provider.invite(i)
        everything.append(provider.calls[list(provider.calls)[-1]])
    await asyncio.sleep(4.0)  # the last calls' 1 s prompt and BYE
    step.cpu_pct = round(100 * (cpu_seconds(pid) - cpu0) / (time.monotonic() - t0), 1)
    step.attempted = total
    step.setups = [c["answered"] * 1000 for c in everything if "answered" in c]
    step.answered = len(step.setups)
    step.completed = sum(1 for c in everything if c.get("completed"))
    step.failed = total - step.completed
    if step.setups:
        step.setup_ms_p50 = round(percentile(step.setups, 50), 1)
        step.setup_ms_p95 = round(percentile(step.setups, 95), 1)


def start_server(root: Path, transport: str, trunk_port: int) -> tuple[BenchServer, int]:
    tls_port = free_tcp_port()
    cert, key = root / "cert.pem", root / "key.pem"
    if not cert.exists():
        self_signed(cert, key, ["127.0.0.1"])
    server = BenchServer(
        root / transport,
        None,
        extra_env={
            "FLOWPBX_TLS_CERT": str(cert),
            "FLOWPBX_TLS_KEY": str(key),
            "FLOWPBX_SIP_TLS_LISTEN": f"127.0.0.1:{tls_port}",
        },
    )
    make_tone_wav(server.config_file("prompts/p.wav"), 440.0, 1.0)
    server.config = {
        "trunks": [{"name": "prov", "host": "127.0.0.1", "port": trunk_port, "transport": transport,
                    "tls_verify": False} if transport == "tls" else
                   {"name": "prov", "host": "127.0.0.1", "port": trunk_port}],
        "numbers": [{"number": DID, "trunk": "prov"}],
        "audio": [{"name": "p", "file": "prompts/p.wav"}],
        "flows": [{"name": "bench", "entry": "start", "nodes": {
            "start": {"type": "numbers", "params": {"numbers": [DID]}, "next": {"next": "p"}},
            "p": {"type": "play", "params": {"audio": "p"}, "next": {"next": "bye"}},
            "bye": {"type": "hangup", "params": {}},
        }}],
    }  # fmt: skip
    server.start()
    return server, tls_port


async def bench(transport: str, rates: list[int], seconds: float, root: Path) -> list[Step]:
    trunk_port = free_udp_port() if transport == "udp" else free_tcp_port()
    server, tls_port = start_server(root, transport, trunk_port)
    steps: list[Step] = []
    try:
        pbx = server.sip if transport == "udp" else ("127.0.0.1", tls_port)
        provider = Provider(transport, trunk_port, pbx)
        await provider.connect()
        for rate in rates:
            step = Step(transport, rate, seconds)
            await run_step(provider, step, server.pid)
            steps.append(step)
            print(
                f"{transport:4} {rate:4}/s  attempted {step.attempted:6}  answered "
                f"{step.answered:6}  completed {step.completed:6}  failed {step.failed:5}  "
                f"setup p50 {step.setup_ms_p50:7.1f} ms  p95 {step.setup_ms_p95:7.1f} ms  "
                f"flowpbx CPU {step.cpu_pct:5.1f} %",
                flush=True,
            )
            await asyncio.sleep(2.0)
    finally:
        server.stop()
    return steps


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="100,200,300")
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--transports", default="udp,tls")
    args = parser.parse_args()
    rates = [int(r) for r in args.rates.split(",")]
    results: list[Step] = []
    with tempfile.TemporaryDirectory(prefix="tlscps-") as tmp:
        for transport in args.transports.split(","):
            results += uvloop.run(bench(transport, rates, args.seconds, Path(tmp)))
    out = BENCH_DIR / "results" / f"tls-cps-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(exist_ok=True)
    steps = [{k: v for k, v in asdict(s).items() if k != "setups"} for s in results]
    out.write_text(json.dumps({"machine": machine(), "steps": steps}, indent=2))
    print(f"results: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Loopback port allocation and SIP liveness probing for tests that start real peers.

Ports are picked at random from 21000-32699: below the kernel's ephemeral range
(32768-60999), so a port we hand out is never also handed to some unrelated outgoing
socket, and above flowpbx's default RTP range (10000-20000) so a default-configured
server running beside the tests cannot collide with them. A chosen port is *reserved* by
creating ``/tmp/flowpbx-test-ports/<port>`` exclusively, holding our PID, so parallel test
processes on this machine never hand out the same port twice; reservations of dead
processes are reclaimed. Each candidate is also test-bound on UDP and TCP.

Exceptions raised here:

    TimeoutError          -- wait_for_udp_sip got no SIP response in time
    RuntimeError          -- no free port (block) could be found
"""

from __future__ import annotations

import contextlib
import os
import random
import secrets
import socket
import time
from pathlib import Path

PORT_LOW = 21000
PORT_HIGH = 32700  # exclusive
_RESERVE_DIR = Path("/tmp/flowpbx-test-ports")
_held: set[int] = set()  # ports this process reserved and has not given back


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _reserve(port: int) -> bool:
    """Claim *port* for this process across the machine; False if someone holds it."""
    _RESERVE_DIR.mkdir(mode=0o777, exist_ok=True)
    path = _RESERVE_DIR / str(port)
    for _ in range(2):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            try:
                owner = int(path.read_text() or "0")
            except (OSError, ValueError):
                return False
            if owner == os.getpid() or (owner > 0 and _pid_alive(owner)):
                return False
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            continue
        with os.fdopen(fd, "w") as f:
            f.write(str(os.getpid()))
        _held.add(port)
        return True
    return False


def release_port(port: int) -> None:
    """Give a reserved port back (optional: reservations of dead processes expire)."""
    path = _RESERVE_DIR / str(port)
    _held.discard(port)
    with contextlib.suppress(OSError, ValueError):
        if int(path.read_text()) == os.getpid():
            path.unlink()


def release_all() -> None:
    """Give back every port this process reserved (after a test: its peers are gone), so
    a long test session never runs out of ports."""
    for port in list(_held):
        release_port(port)


def _bindable(port: int, *, udp: bool, tcp: bool) -> bool:
    kinds = ([socket.SOCK_DGRAM] if udp else []) + ([socket.SOCK_STREAM] if tcp else [])
    for kind in kinds:
        s = socket.socket(socket.AF_INET, kind)
        try:
            if kind == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        finally:
            s.close()
    return True


def free_port_block(n: int, *, udp: bool = True, tcp: bool = True, align: int = 2) -> int:
    """Reserve *n* consecutive ports, free on UDP (and TCP when *tcp*); return the first.

    *align* keeps the first port even by default (RTP on even, RTCP on odd ports).
    """
    if n < 1:
        raise ValueError("n must be >= 1")
    rng = random.Random(secrets.randbits(64))
    for _ in range(500):
        base = rng.randrange(PORT_LOW, PORT_HIGH - n)
        base -= base % align
        held: list[int] = []
        ok = True
        for port in range(base, base + n):
            if not _reserve(port):
                ok = False
                break
            held.append(port)
            if not _bindable(port, udp=udp, tcp=tcp):
                ok = False
                break
        if ok:
            return base
        for port in held:
            release_port(port)
    raise RuntimeError(f"no block of {n} free ports in {PORT_LOW}-{PORT_HIGH}")


def free_udp_port() -> int:
    """A reserved port free on UDP (and on TCP, so the number is usable for both)."""
    return free_port_block(1, align=1)


def free_tcp_port() -> int:
    """A reserved port free on TCP."""
    return free_port_block(1, udp=False, tcp=True, align=1)


def options_request(host: str, port: int, local_port: int, call_id: str) -> bytes:
    """A minimal RFC 3261 §11 OPTIONS request to probe a SIP server."""
    branch = "z9hG4bK" + secrets.token_hex(8)
    return (
        f"OPTIONS sip:{host}:{port} SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP 127.0.0.1:{local_port};branch={branch};rport\r\n"
        "Max-Forwards: 70\r\n"
        f"From: <sip:probe@127.0.0.1:{local_port}>;tag={secrets.token_hex(4)}\r\n"
        f"To: <sip:{host}:{port}>\r\n"
        f"Call-ID: {call_id}\r\n"
        "CSeq: 1 OPTIONS\r\n"
        f"Contact: <sip:probe@127.0.0.1:{local_port}>\r\n"
        "Accept: application/sdp\r\n"
        "Content-Length: 0\r\n\r\n"
    ).encode()


def wait_for_udp_sip(host: str, port: int, timeout: float = 10.0) -> str:
    """Send OPTIONS every 200 ms until any SIP response arrives; return its status line.

    Raises TimeoutError when nothing answers within *timeout* seconds.
    """
    deadline = time.monotonic() + timeout
    call_id = secrets.token_hex(8) + "@probe"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        local_port = s.getsockname()[1]
        while True:
            now = time.monotonic()
            if now >= deadline:
                raise TimeoutError(f"no SIP response from {host}:{port} within {timeout} s")
            with contextlib.suppress(OSError):  # ICMP port unreachable surfaces here
                s.sendto(options_request(host, port, local_port, call_id), (host, port))
            s.settimeout(min(0.2, max(deadline - now, 0.01)))
            try:
                data = s.recv(65535)
            except (TimeoutError, ConnectionRefusedError, OSError):
                continue
            if data.startswith(b"SIP/2.0 "):
                return data.split(b"\r\n", 1)[0].decode("utf-8", "replace")


def wait_for_tcp(host: str, port: int, timeout: float = 10.0) -> None:
    """Wait until a TCP connect to host:port succeeds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            if time.monotonic() >= deadline:
                raise TimeoutError(f"{host}:{port} did not accept TCP within {timeout} s") from None
            time.sleep(0.05)

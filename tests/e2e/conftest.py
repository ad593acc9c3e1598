"""Fixtures for end-to-end tests against real peers (SIPp, baresip, dumpcap, flowpbx).

- ``e2e``: a ``Harness`` that creates peers (``sipp``, ``baresip``, ``capture``, ``server``,
  and the ready-made SIPp agents of peers.py: ``provider``, ``uas``, ``register``) in the
  test's tmp_path, stops every one of them at teardown, and prints their logs when
  the test failed (pytest shows them under "Captured stdout teardown").
- ``flowpbx_server``: factory ``flowpbx_server(config=..., demo=False)`` -> a started
  ``FlowpbxServer`` (the same as ``e2e.server``).
- A session fixture asserts that no child process (sipp, baresip, dumpcap, flowpbx) of
  this pytest process is left running at the end.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e import peers
from tests.e2e.baresip import Baresip
from tests.e2e.capture import Capture
from tests.e2e.server import FlowpbxServer
from tests.e2e.sipp import Sipp

REQUIRED_TOOLS = ("sipp", "baresip", "dumpcap")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


def _children() -> list[str]:
    """Processes whose parent is this pytest process: 'pid name' lines."""
    r = subprocess.run(
        ["pgrep", "-l", "-P", str(os.getpid())], capture_output=True, text=True, check=False
    )
    return [line for line in r.stdout.splitlines() if line.strip()]


@pytest.fixture(scope="session", autouse=True)
def _no_processes_left_behind() -> Iterator[None]:
    yield
    deadline = time.monotonic() + 5
    left = _children()
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = _children()
    assert not left, f"e2e tests left processes running: {left}"


@pytest.fixture(scope="session")
def e2e_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        pytest.fail(f"end-to-end tools missing: {missing} (run `make sysdeps`)")


class Harness:
    """Creates peers for one test and tears every one of them down."""

    def __init__(self, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.stack = contextlib.ExitStack()
        self.peers: list[Any] = []

    def adopt(self, peer: Any) -> Any:
        self.peers.append(peer)
        self.stack.callback(peer.stop)
        return peer

    def sipp(self, scenario: str | Path, **kwargs: Any) -> Sipp:
        """An unstarted Sipp (call .start() or use it in ``with``); stopped at teardown."""
        return self.adopt(Sipp(scenario, self.tmp_path, **kwargs))  # type: ignore[no-any-return]

    def adopt_sipp(self, sipp: Sipp) -> Sipp:
        return self.adopt(sipp)  # type: ignore[no-any-return]

    def provider(self, pbx: tuple[str, int], trunk_port: int, **kwargs: Any) -> Sipp:
        """An unstarted provider call (peers.provider_call) to *pbx* from *trunk_port*."""
        sipp = peers.provider_call(self.tmp_path, pbx=pbx, trunk_port=trunk_port, **kwargs)
        return self.adopt_sipp(sipp)

    def uas(self, **kwargs: Any) -> Sipp:
        """An unstarted answering extension (peers.uas_extension)."""
        return self.adopt_sipp(peers.uas_extension(self.tmp_path, **kwargs))

    def register(self, registrar: tuple[str, int], **kwargs: Any) -> Sipp:
        """An unstarted SIPp REGISTER (peers.register) at *registrar*."""
        return self.adopt_sipp(peers.register(self.tmp_path, registrar=registrar, **kwargs))

    def baresip(self, **kwargs: Any) -> Baresip:
        """A started Baresip; stopped at teardown."""
        b = Baresip(self.tmp_path, **kwargs)
        self.adopt(b)
        return b.start()

    def capture(self, name: str, ports: list[int]) -> Capture:
        """A started Capture of UDP to *ports*; stopped at teardown (call .stop() to read)."""
        c = Capture(self.tmp_path / f"{name}.pcap", ports)
        self.adopt(c)
        return c.start()

    def server(self, config: dict[str, Any] | None = None, **kwargs: Any) -> FlowpbxServer:
        """A started FlowpbxServer; stopped at teardown."""
        s = FlowpbxServer(self.tmp_path, config, **kwargs)
        self.adopt(s)
        return s.start()

    def logs(self) -> str:
        parts: list[str] = []
        for peer in self.peers:
            with contextlib.suppress(Exception):
                text = peer.logs() if hasattr(peer, "logs") else peer.log()
                if text:
                    parts.append(text)
        return "\n\n".join(parts)

    def close(self) -> None:
        self.stack.close()


@pytest.fixture
def e2e(request: pytest.FixtureRequest, tmp_path: Path, e2e_tools: None) -> Iterator[Harness]:
    harness = Harness(tmp_path)
    try:
        yield harness
    finally:
        harness.close()
        rep = getattr(request.node, "rep_call", None)
        if rep is not None and rep.failed:
            print(harness.logs())


@pytest.fixture
def flowpbx_server(e2e: Harness) -> Callable[..., FlowpbxServer]:
    return e2e.server

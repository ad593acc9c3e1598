"""A short fuzz run against a real flowpbx (benchmarks/fuzz_sip.py is the long one):
a few thousand mutated SIP messages over UDP and a few hundred over TCP, then a valid
OPTIONS gets 200, memory is near where it started and the log has no unhandled exception.
The server has a trunk at the fuzzer's second port with a number whose flow hangs up, so the
INVITEs with hostile SDP numbers reach the SDP parser and the RTP port pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.server import FlowpbxServer
from tests.fuzz.sipfuzz import (
    Mutator,
    fuzz_config,
    fuzz_tcp,
    fuzz_udp,
    load_seeds,
    open_fds,
    options_status,
    rss_kib,
)
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e


# Fuzz traffic comes from 127.0.0.1; trusting it keeps bans and rate limits out of the way,
# so every message reaches the parser.
ENV = {"FLOWPBX_SIP_TRUSTED_NETWORKS": "127.0.0.1/32"}


def test_mutator_is_deterministic_and_varied() -> None:
    seeds = load_seeds()
    assert len(seeds) > 40  # the RFC 4475 set plus the golden messages
    a = [Mutator(seeds, 7).message(s) for s in seeds]
    b = [Mutator(seeds, 7).message(s) for s in seeds]
    assert a == b
    assert sum(1 for m, s in zip(a, seeds, strict=True) if m != s) > len(seeds) * 0.8


def test_fuzzed_flowpbx_keeps_serving(tmp_path: Path) -> None:
    trunk_port = free_udp_port()
    with FlowpbxServer(tmp_path, fuzz_config(trunk_port), extra_env=ENV) as server:
        assert server.proc is not None
        pid = server.proc.pid
        assert (options_status(server.sip) or "").startswith("SIP/2.0 200")
        rss0, fds0 = rss_kib(pid), open_fds(pid)
        stats = fuzz_udp(server.sip, 3000, seed=11, sync_every=250, trunk_port=trunk_port)
        assert stats.dead is None, f"{stats}\n{server.logs()}"
        stats = fuzz_tcp(server.sip, 300, seed=12, per_connection=50, stats=stats)
        assert stats.dead is None, f"{stats}\n{server.logs()}"
        assert stats.sent == 3000 and stats.sent_tcp == 300, stats
        assert stats.responses > 300, stats  # many mutants are still requests with answers
        assert (options_status(server.sip) or "").startswith("SIP/2.0 200")
        grown = rss_kib(pid) - rss0
        assert grown < 30_000, f"RSS grew by {grown} KiB"
        assert open_fds(pid) <= fds0 + 5  # TCP connections closed, nothing leaked
        log = server.stderr_path.read_text(errors="replace")
        log += server.stdout_path.read_text(errors="replace")
        assert "Traceback" not in log, server.logs()

"""Fault injection on webhooks during a live call (issue 10): a webhook server that answers
too late, one that answers garbage, and one that hangs up without answering. Each
``http_notify`` takes its ``default`` output (SPEC §3) and the call goes on through the
flow to its end; the server did receive every request (nothing lost on our side).
(A server that is down entirely: tests/e2e/test_element_failures.py.)"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.faults_support import call_once, hook_server
from tests.e2e.httppeer import QuietHandler, serving
from tests.e2e.peers import trace_output
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e


class _Hooks(QuietHandler):
    seen: list[str] = []
    release = threading.Event()

    def do_POST(self) -> None:
        self.body()
        type(self).seen.append(self.path)
        if self.path == "/slow":  # answers "1", but only after the element gave up
            type(self).release.wait(timeout=10)
            self.reply(b"1", "text/plain")
        elif self.path == "/garbage":
            self.reply(b"\x00\xff{not json]]\x07" * 50, "application/json")
        elif self.path == "/hangup":  # closes the connection without a word
            self.close_connection = True
            self.wfile.flush()
            self.connection.shutdown(2)
        else:
            self.reply(b"1", "text/plain")


@pytest.fixture
def hooks() -> Iterator[tuple[str, type[_Hooks]]]:
    class handler(_Hooks):  # fresh class state per test
        seen: list[str] = []
        release = threading.Event()

    with serving(handler) as port:
        try:
            yield f"http://127.0.0.1:{port}", handler
        finally:
            handler.release.set()


def test_slow_garbage_and_silent_webhooks_take_default_and_the_call_goes_on(
    e2e: Harness, hooks: tuple[str, type[_Hooks]]
) -> None:
    base, handler = hooks
    in_port = free_udp_port()

    def hook(path: str, default: str) -> dict[str, object]:
        return {
            "type": "http_notify",
            "params": {"url": f"{base}{path}", "timeout_s": 1},
            "next": {"1": "wrong", "default": default},
        }

    server = hook_server(
        e2e,
        in_port,
        {
            "main": hook("/slow", "garbage"),
            "garbage": hook("/garbage", "silent"),
            "silent": hook("/hangup", "fine"),
            "fine": hook("/fine", "bye"),  # a healthy one afterwards: the pool still works
            "wrong": {"type": "play", "params": {"audio": "short"}},
            "bye": {"type": "play", "params": {"audio": "short"}},
        },
        env={"FLOWPBX_HTTP_ALLOW_PRIVATE": "1"},
    )
    row = call_once(e2e, server, in_port, "webhooks")  # the call ended while /slow still waits
    handler.release.set()
    trace = row["trace"]
    assert trace_output(row, "main") == "default", trace
    assert trace_output(row, "garbage") == "default", trace
    assert trace_output(row, "silent") == "default", trace
    assert trace_output(row, "fine") == "1", trace  # "1" leads to `wrong`, proving it was read
    nodes = [e.get("node") for e in trace]
    assert "wrong" in nodes and "bye" not in nodes, trace
    assert handler.seen == ["/slow", "/garbage", "/hangup", "/fine"], handler.seen
    assert row["outcome"] != "in_progress" and row["ended_at"] is not None
    assert "Traceback" not in server.stderr_path.read_text(errors="replace")

"""What callers and phones can make flowpbx keep is bounded (issue 16), over real sockets:

- contacts per extension (FLOWPBX_MAX_CONTACTS_PER_EXTENSION, 10): a phone registering
  twelve contacts keeps the ten most recent; one REGISTER naming eleven gets 403;
- messages per mailbox (FLOWPBX_VOICEMAIL_MAX_MESSAGES): a caller reaching a full mailbox
  gets `no_message` ("mailbox full"), and no row or file is written;
- keys buffered per call (FLOWPBX_DTMF_BUFFER, 32): a caller pressing 1 then flooding 100
  keys while a prompt plays leaves only the last 32 for the menu (the 1 is gone);
- voicemail PIN tries across calls (FLOWPBX_VOICEMAIL_PIN_MAX_FAILURES): after the wrong
  PINs of one call, the next call's right PIN is refused (the mailbox is locked), while the
  owner's own extension dialling *97 still gets in with it.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Harness
from tests.e2e.peers import company, flow, tone_audio, trace_output
from tests.e2e.rawsip import Dialog, RawUa
from tests.e2e.server import FlowpbxServer
from tests.netutil import free_udp_port

pytestmark = pytest.mark.e2e

DID = "+37167000163"
PASSWORD = "pw-102-bounds"


def _server(
    e2e: Harness, trunk_port: int, nodes: dict[str, Any], env: dict[str, str], **extra: Any
) -> FlowpbxServer:
    server = FlowpbxServer(e2e.tmp_path, None, extra_env=env)
    company(
        server,
        trunk_ports=[trunk_port],
        extensions=[{"number": "102", "name": "Bob", "password": PASSWORD}],
        audio=[
            tone_audio(server, "long-tone", 600.0, 1.5),
            tone_audio(server, "short-tone", 900.0, 0.3),
        ],
        flows=[flow("Bounds", [DID], nodes)],
        **extra,
    )
    e2e.adopt(server)
    return server.start()


def _row(server: FlowpbxServer, call_id: str) -> dict[str, Any]:
    (row,) = server.wait_rows(
        "SELECT * FROM call_history WHERE call_id = ? AND outcome != 'in_progress'", [call_id]
    )
    row["trace"] = json.loads(row["trace"])
    return row


def _until_bye(ua: RawUa, dialog: Dialog, timeout: float = 30.0) -> None:
    """flowpbx ends the call (its flow is over): answer its BYE."""
    bye = ua.recv(
        lambda m: m.is_request and m.method == "BYE" and m["call-id"] == dialog.call_id, timeout
    )
    ua.reply(bye, 200)


def _call(trunk: RawUa) -> Dialog:
    call = trunk.invite(DID)
    assert isinstance(call, Dialog), call.raw
    return call


def test_contacts_per_extension_are_capped(e2e: Harness) -> None:
    server = _server(e2e, free_udp_port(), {"main": {"type": "hangup"}}, {})
    phone = RawUa(server.sip)
    try:
        for i in range(12):
            res = phone.register("102", PASSWORD, contacts=[f"<sip:102@127.0.0.1:{41000 + i}>"])
            assert res.status == 200, res.raw
        kept = res.get_all("contact")
        assert len(kept) == 10, res.raw
        assert not any(":41000>" in c or ":41001>" in c for c in kept), res.raw  # the oldest
        assert any(":41011>" in c for c in kept), res.raw
        many = [f"<sip:102@127.0.0.1:{42000 + i}>" for i in range(11)]
        res = phone.register("102", PASSWORD, contacts=many)
        assert res.status == 403, res.raw
    finally:
        phone.close()


def test_a_full_mailbox_takes_no_message_and_writes_nothing(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    nodes = {
        "main": {
            "type": "voicemail",
            "params": {
                "mode": "leave",
                "mailbox": "102",
                "greeting": "short-tone",
                "max_length_s": 1,
                "min_length_s": 0,
                "beep": False,
            },
        }
    }
    env = {"FLOWPBX_VOICEMAIL_MAX_MESSAGES": "1"}
    server = _server(e2e, trunk_port, nodes, env, mailboxes=[{"number": "102", "name": "Bob"}])
    trunk = RawUa(server.sip, port=trunk_port, user="+37129000164")
    try:
        first = _call(trunk)
        trunk.send_audio(first)
        _until_bye(trunk, first)  # a one-second message
        assert trace_output(_row(server, first.call_id), "main") == "recorded"
        second = _call(trunk)
        trunk.send_audio(second)
        _until_bye(trunk, second)
        row = _row(server, second.call_id)
    finally:
        trunk.close()
    assert trace_output(row, "main") == "no_message", row["trace"]
    entry = next(e for e in row["trace"] if e.get("node") == "main")
    assert entry["facts"].get("detail") == "mailbox full", entry
    assert len(server.db_query("SELECT * FROM voicemail_messages")) == 1
    files = list((server.data_dir / "voicemail" / "102").iterdir())
    assert len(files) == 1, files


def test_a_dtmf_flood_keeps_only_the_last_keys(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    nodes = {
        "main": {"type": "play", "params": {"audio": "long-tone"}, "next": {"next": "menu"}},
        "menu": {
            "type": "menu",
            "params": {"prompt": "short-tone", "timeout_s": 2, "retries": 0},
            "next": {"1": "one", "2": "two"},
        },
        "one": {"type": "hangup"},
        "two": {"type": "hangup"},
    }
    server = _server(e2e, trunk_port, nodes, {})
    trunk = RawUa(server.sip, port=trunk_port, user="+37129000165")
    try:
        call = _call(trunk)
        trunk.send_digits(call, "1" + "2" * 100)  # while the long prompt plays (no barge-in)
        _until_bye(trunk, call)
        row = _row(server, call.call_id)
    finally:
        trunk.close()
    assert trace_output(row, "menu") == "2", row["trace"]  # the first key did not survive


def test_wrong_pins_lock_the_mailbox_across_calls(e2e: Harness) -> None:
    trunk_port = free_udp_port()
    nodes = {"main": {"type": "voicemail", "params": {"mode": "listen", "mailbox": "102"}}}
    env = {"FLOWPBX_VOICEMAIL_PIN_MAX_FAILURES": "3"}
    mailboxes = [{"number": "102", "name": "Bob", "pin": "4321"}]
    server = _server(e2e, trunk_port, nodes, env, mailboxes=mailboxes)
    trunk = RawUa(server.sip, port=trunk_port, user="+37129000166")
    owner = RawUa(server.sip)
    try:
        guess = _call(trunk)  # three wrong PINs in one call
        trunk.send_digits(guess, "1111#1112#1113#")
        _until_bye(trunk, guess)
        ended = [e["facts"].get("ended") for e in _row(server, guess.call_id)["trace"]]
        assert "locked" in ended, ended
        right = _call(trunk)  # the right PIN, in the next call: refused
        trunk.send_digits(right, "4321#")
        _until_bye(trunk, right)
        ended = [e["facts"].get("ended") for e in _row(server, right.call_id)["trace"]]
        assert "locked" in ended, ended
        # The owner's own phone is not locked out by strangers' guesses.
        assert owner.register("102", PASSWORD).status == 200
        own = owner.invite("*97", password=PASSWORD)
        assert isinstance(own, Dialog), own.raw
        owner.send_digits(own, "4321#")
        _until_bye(owner, own)
        ended = [e["facts"].get("ended") for e in _row(server, own.call_id)["trace"]]
        assert "empty" in ended, ended
    finally:
        trunk.close()
        owner.close()

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import yaml
from sqlalchemy import func, select

from flowpbx.store import models as m
from flowpbx.store.config_io import dump_config, export_config, import_config
from flowpbx.store.db import Store
from flowpbx.store.errors import ConfigError
from flowpbx.store.repos.extensions import compute_ha1

FLOW: dict[str, Any] = {
    "name": "Main line",
    "entry": "start",
    "nodes": {
        "start": {
            "type": "numbers",
            "params": {"numbers": ["+37167000001"]},
            "next": {"next": "hi"},
        },
        "hi": {"type": "play", "params": {"audio": "welcome"}, "next": {"next": "ext"}},
        "ext": {
            "type": "call_sip",
            "params": {"extension": "101"},
            "next": {"no_answer": "vm", "busy": "vm", "offline": "vm"},
        },
        "vm": {"type": "voicemail", "params": {"mode": "leave", "mailbox": "100"}},
    },
}


def _config(tmp_path: Path, **changes: Any) -> dict[str, Any]:
    (tmp_path / "prompts").mkdir(exist_ok=True)
    t = np.arange(44100) / 44100
    sf.write(tmp_path / "prompts" / "welcome.wav", 0.3 * np.sin(2 * np.pi * 440 * t), 44100)
    doc: dict[str, Any] = {
        "extensions": [
            {
                "number": "101",
                "name": "Alice",
                "password": "s3cret-101-long",
                "outbound": True,
                "caller_id": "+37167000001",
                "mailbox": "100",
            },
            {"number": "102", "name": "Bob", "password": "s3cret-102-long"},
        ],
        "trunks": [
            {
                "name": "provider",
                "host": "127.0.0.1",
                "port": 5070,
                "transport": "udp",
                "username": "acme",
                "password": "pw",
                "register": False,
                "trusted": False,
            }
        ],
        "numbers": [
            {"number": "+37167000001", "trunk": "provider"},
            {"number": "+37167000002", "trunk": "provider"},
        ],
        "mailboxes": [
            {"number": "100", "name": "Main", "pin": "1234", "email": ["boss@example.com"]}
        ],
        "schedules": [
            {
                "name": "office",
                "timezone": "Europe/Riga",
                "hours": {"mon": [["09:00", "18:00"]]},
                "holidays": ["2026-12-25", {"date": "2026-12-31", "hours": [["09:00", "13:00"]]}],
            }
        ],
        "audio": [{"name": "welcome", "file": "prompts/welcome.wav"}],
        "flows": [FLOW],
    }
    doc.update(changes)
    return doc


def _write(tmp_path: Path, doc: dict[str, Any], name: str = "company.yaml") -> Path:
    path = tmp_path / name
    text = json.dumps(doc) if name.endswith(".json") else yaml.safe_dump(doc)
    path.write_text(text)
    return path


async def _counts(store: Store) -> dict[str, int]:
    out = {}
    async with store.sessions() as s:
        for model in (
            m.Extension,
            m.Trunk,
            m.Number,
            m.Mailbox,
            m.Schedule,
            m.Audio,
            m.Flow,
            m.FlowRevision,
        ):
            out[model.__tablename__] = await s.scalar(select(func.count()).select_from(model))
    return out


async def test_import_writes_everything(store: Store, tmp_path: Path) -> None:
    result = await import_config(store, _write(tmp_path, _config(tmp_path)))
    assert result.published == {"Main line": 1}
    cfg = await store.load_runtime_config()
    alice = cfg.extensions["101"]
    assert (alice.ha1_md5, alice.ha1_sha256) == compute_ha1("101", "flowpbx", "s3cret-101-long")
    assert alice.mailbox == "100" and alice.outbound and alice.caller_id == "+37167000001"
    assert cfg.trunks[0].password == "pw"
    assert cfg.caller_id_list == ["+37167000001", "+37167000002"]
    assert cfg.flows_by_did["+37167000001"].flow_name == "Main line"
    wav = cfg.audio["welcome"]
    assert wav == (store.data_dir / "audio" / "welcome.wav").resolve()
    info = sf.info(wav)
    assert (info.samplerate, info.channels, info.subtype) == (8000, 1, "PCM_16")
    assert "greeting" in cfg.audio and cfg.audio["greeting"].is_file()
    assert cfg.mailboxes["100"].email == ("boss@example.com",)
    assert cfg.schedules["office"].timezone == "Europe/Riga"
    assert not list((store.data_dir / "audio").glob(".*"))  # no temp files left


async def test_allow_lists_call_waiting_and_number_format_round_trip(
    store: Store, tmp_path: Path
) -> None:
    doc = _config(tmp_path)
    doc["extensions"][1].update(allowed_cidrs=["10.0.0.0/8", "127.0.0.1"], call_waiting=False)
    doc["trunks"][0].update(country_code="371", national_prefix="0")
    await import_config(store, _write(tmp_path, doc))
    cfg = await store.load_runtime_config()
    bob = cfg.extensions["102"]
    assert bob.allowed_cidrs == ("10.0.0.0/8", "127.0.0.1/32") and not bob.call_waiting
    assert cfg.extensions["101"].call_waiting and cfg.extensions["101"].allowed_cidrs == ()
    assert (cfg.trunks[0].country_code, cfg.trunks[0].national_prefix) == ("371", "0")
    exported = await export_config(store)
    ext = {e["number"]: e for e in exported["extensions"]}
    assert ext["102"]["allowed_cidrs"] == ["10.0.0.0/8", "127.0.0.1/32"]
    assert ext["102"]["call_waiting"] is False and "call_waiting" not in ext["101"]
    assert exported["trunks"][0]["national_prefix"] == "0"
    doc["extensions"][1]["allowed_cidrs"] = ["not-a-network"]
    with pytest.raises(ConfigError, match="not an address or network"):
        await import_config(store, _write(tmp_path, doc))


async def test_import_twice_changes_nothing(store: Store, tmp_path: Path) -> None:
    path = _write(tmp_path, _config(tmp_path))
    await import_config(store, path)
    before = await _counts(store)
    again = await import_config(store, path)
    assert again.total_changes == 0, again
    assert again.published == {"Main line": 1}
    assert await _counts(store) == before


async def test_changed_flow_gets_a_new_revision(store: Store, tmp_path: Path) -> None:
    await import_config(store, _write(tmp_path, _config(tmp_path)))
    flow = json.loads(json.dumps(FLOW))
    flow["nodes"]["ext"]["params"]["ring_timeout_s"] = 25
    result = await import_config(store, _write(tmp_path, {"flows": [flow]}, "f.json"))
    assert result.new_revisions == ["Main line"] and result.published == {"Main line": 2}
    cfg = await store.load_runtime_config()
    assert cfg.flows_by_did["+37167000001"].revision == 2
    assert len(cfg.extensions) == 2  # sections not in the document are untouched


async def test_bad_input_lists_every_problem_and_writes_nothing(
    store: Store, tmp_path: Path
) -> None:
    doc = _config(tmp_path)
    doc["extensions"].append({"number": "1x", "name": "Bad", "password": "secret"})
    doc["extensions"].append({"number": "104", "name": "Weak", "password": "eleven-char"})
    doc["numbers"].append({"number": "+37167000003", "trunk": "nope"})
    doc["trunks"][0]["port"] = 70000
    bad_flow = json.loads(json.dumps(FLOW))
    bad_flow["nodes"]["hi"]["next"]["next"] = "missing-node"
    doc["flows"] = [bad_flow]
    with pytest.raises(ConfigError) as info:
        await import_config(store, _write(tmp_path, doc))
    problems = info.value.problems
    assert "extensions[2].number: must be 2-6 digits" in problems
    rule = "must be at least 12 characters (leave it out of POST /api/v1/extensions"
    assert any(p.startswith(f"extensions[2].password: {rule}") for p in problems), problems
    assert any(p.startswith(f"extensions[3].password: {rule}") for p in problems), problems
    assert "numbers[2].trunk: no trunk named 'nope'" in problems
    assert any(p.startswith("trunks[0].port:") for p in problems)
    assert any(p.startswith("flows[0] (Main line):") and "missing-node" in p for p in problems)
    assert all(v == 0 for v in (await _counts(store)).values())
    assert not (store.data_dir / "audio" / "welcome.wav").exists()


async def test_a_bad_flow_alone_blocks_the_whole_import(store: Store, tmp_path: Path) -> None:
    bad_flow = {
        "name": "Broken",
        "entry": "start",
        "nodes": {"start": {"type": "teleport", "params": {}}},
    }
    doc = _config(tmp_path, flows=[FLOW, bad_flow])
    with pytest.raises(ConfigError, match="Broken"):
        await import_config(store, _write(tmp_path, doc))
    assert all(v == 0 for v in (await _counts(store)).values())


async def test_cross_checks(store: Store, tmp_path: Path) -> None:
    other = json.loads(json.dumps(FLOW))
    other["name"] = "Second"
    doc = _config(tmp_path, flows=[FLOW, other])
    doc["extensions"].append({"number": "103", "name": "No password"})
    doc["extensions"][1]["mailbox"] = "999"
    doc["audio"].append({"name": "greeting", "file": "prompts/welcome.wav"})
    doc["audio"].append({"name": "ghost", "file": "prompts/nothing.wav"})
    doc["bogus"] = 1
    with pytest.raises(ConfigError) as info:
        await import_config(store, _write(tmp_path, doc))
    text = str(info.value)
    assert "extensions[2].password: required for a new extension" in text
    assert "extensions[1].mailbox: no mailbox '999'" in text
    assert "flows[1] (Second): start: number +37167000001 already leads into flow" in text
    assert "bogus: unknown section" in text
    assert "audio[1].name: 'greeting' is a built-in sample" in text
    assert "audio[2].file: prompts/nothing.wav does not exist" in text


async def test_undecodable_audio_is_a_problem(store: Store, tmp_path: Path) -> None:
    doc = _config(tmp_path)
    (tmp_path / "prompts" / "welcome.wav").write_bytes(b"not audio at all" * 10)
    with pytest.raises(ConfigError, match=r"cannot convert prompts/welcome\.wav"):
        await import_config(store, _write(tmp_path, doc))
    assert all(v == 0 for v in (await _counts(store)).values())
    assert not list((store.data_dir / "audio").iterdir())


async def test_unreadable_and_malformed_files(store: Store, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        await import_config(store, tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("extensions: [\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        await import_config(store, bad)
    scalar = tmp_path / "scalar.json"
    scalar.write_text("[1, 2]")
    with pytest.raises(ConfigError, match="mapping of sections"):
        await import_config(store, scalar)


async def test_export_then_import_round_trip(store: Store, tmp_path: Path) -> None:
    await import_config(store, _write(tmp_path, _config(tmp_path)))
    exported = await export_config(store)
    assert all("password" not in e for e in exported["extensions"])
    assert "HA1" in exported["comment"]
    assert exported["trunks"][0]["password"] == "pw"
    assert [n["number"] for n in exported["numbers"]] == ["+37167000001", "+37167000002"]
    assert exported["flows"] == [FLOW]
    before = await _counts(store)
    text = dump_config(exported, "yaml")
    assert text.startswith("# flowpbx configuration export")
    path = tmp_path / "export.yaml"
    path.write_text(text)
    result = await import_config(store, path)
    assert result.new_revisions == []
    assert await _counts(store) == before
    json_path = tmp_path / "export.json"
    json_path.write_text(dump_config(exported, "json"))
    assert json.loads(json_path.read_text()) == exported
    assert (await import_config(store, json_path)).new_revisions == []
    # HA1 survived: passwords were not in the export
    ext = await store.get_extension("101")
    assert ext is not None and ext.ha1_md5 == compute_ha1("101", "flowpbx", "s3cret-101-long")[0]


async def test_trunk_dial_format_round_trip_and_needs_country_code(
    store: Store, tmp_path: Path
) -> None:
    doc = _config(tmp_path)
    doc["trunks"][0].update(country_code="371", national_prefix="0", dial_format="national")
    await import_config(store, _write(tmp_path, doc))
    cfg = await store.load_runtime_config()
    assert cfg.trunks[0].dial_format == "national"
    exported = await export_config(store)
    assert exported["trunks"][0]["dial_format"] == "national"
    doc["trunks"][0].pop("country_code")
    with pytest.raises(ConfigError) as info:
        await import_config(store, _write(tmp_path, doc))
    assert any(p.startswith("trunks[0].dial_format:") for p in info.value.problems), info.value

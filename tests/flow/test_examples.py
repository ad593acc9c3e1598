"""The company flow sets in examples/: each validates and simulates as its comments say."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from flowpbx.flow.interpreter import FlowRun
from flowpbx.flow.io import normalise_document, yaml_load
from flowpbx.flow.model import ScheduleSpec, load_flow
from flowpbx.flow.schedule import Schedule
from flowpbx.flow.simulator import simulate
from flowpbx.flow.validate import validate_flow

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
BUILTIN_AUDIO = {
    "greeting",
    "menu",
    "please-hold",
    "hold-music",
    "voicemail-greeting",
    "beep",
    "office-closed",
    "goodbye",
}


@dataclass
class ConfigDirectory:
    """The `Directory` validation needs, read from one configuration document."""

    config: dict[str, Any]
    owners: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for flow in self.config.get("flows", []):
            for node in flow["nodes"].values():
                if node["type"] == "numbers":
                    for did in node["params"]["numbers"]:
                        self.owners.setdefault(did, flow["name"])

    def _keys(self, section: str, key: str) -> set[str]:
        return {str(item[key]) for item in self.config.get(section, [])}

    def audio_exists(self, name: str) -> bool:
        return name in BUILTIN_AUDIO | self._keys("audio", "name")

    def extension_exists(self, number: str) -> bool:
        return number in self._keys("extensions", "number")

    def mailbox_exists(self, number: str) -> bool:
        return number in self._keys("mailboxes", "number")

    def schedule_exists(self, name: str) -> bool:
        return name in self._keys("schedules", "name")

    def number_owner(self, did: str) -> str | None:
        return self.owners.get(did)


def load_example(name: str) -> dict[str, Any]:
    text = (EXAMPLES / name).read_text(encoding="utf-8")
    config: dict[str, Any] = yaml_load(text)
    # the stock YAML loader (as `flowpbx import` reads files) sees the same document
    assert yaml.safe_load(text) == config
    for flow in config.get("flows", []):
        normalise_document(flow)
    return config


def schedules_of(config: dict[str, Any]) -> dict[str, Schedule]:
    return {
        s["name"]: Schedule.from_spec(
            ScheduleSpec.model_validate({k: v for k, v in s.items() if k != "name"})
        )
        for s in config.get("schedules", [])
    }


FILES = ["small_shop.yaml", "support_line.yaml", "crm_line.yaml"]


@pytest.mark.parametrize("name", FILES)
def test_example_validates(name: str) -> None:
    config = load_example(name)
    assert set(config) <= {
        "extensions",
        "trunks",
        "numbers",
        "mailboxes",
        "schedules",
        "audio",
        "flows",
    }
    directory = ConfigDirectory(config)
    my_numbers = {n["number"] for n in config["numbers"]}
    assert config["flows"]
    for flow in config["flows"]:
        report = validate_flow(flow, directory)
        assert report.ok, report.errors
        assert set(directory.owners) <= my_numbers
        load_flow(flow)


async def run_example(
    name: str, flow_name: str, at: dt.datetime, **script: Any
) -> tuple[FlowRun, list[tuple[str, str | None]]]:
    config = load_example(name)
    flow = next(f for f in config["flows"] if f["name"] == flow_name)
    did = flow["nodes"][flow["entry"]]["params"]["numbers"][0]
    run = await simulate(
        flow,
        caller=script.pop("caller", "+37129000000"),
        did=did,
        at=at,
        schedules=schedules_of(config),
        extensions={e["number"] for e in config["extensions"]},
        timezone="Europe/Riga",
        **script,
    )
    steps = [(e.node, e.output) for e in run.trace[: len(run.path)]]
    return run, steps


def riga(*args: int) -> dt.datetime:
    return dt.datetime(
        *args, tzinfo=dt.timezone(dt.timedelta(hours=3 if 4 <= args[1] <= 10 else 2))
    )


# ----------------------------------------------------------------------------- small shop

SHOP = "small_shop.yaml"


@pytest.mark.parametrize(
    ("at", "answers", "path", "answered_by"),
    [
        # Monday 10:00: the shop floor answers
        (riga(2026, 5, 4, 10, 0), {}, ["start", "hours", "shop_floor"], "101"),
        # busy shop floor: the owner
        (
            riga(2026, 5, 4, 10, 0),
            {"101": "busy"},
            ["start", "hours", "shop_floor", "owner"],
            "102",
        ),
        # nobody: voicemail
        (
            riga(2026, 5, 4, 10, 0),
            {"101": "no_answer", "102": "offline"},
            ["start", "hours", "shop_floor", "owner", "voicemail", "bye"],
            None,
        ),
        # Saturday 15:59 open, 16:00 closed; Sunday closed
        (riga(2026, 5, 9, 15, 59), {}, ["start", "hours", "shop_floor"], "101"),
        (riga(2026, 5, 9, 16, 0), {}, ["start", "hours", "closed", "voicemail", "bye"], None),
        (riga(2026, 5, 10, 12, 0), {}, ["start", "hours", "closed", "voicemail", "bye"], None),
        # Christmas Eve short day (Thursday), Christmas closed (Friday)
        (riga(2026, 12, 24, 13, 0), {}, ["start", "hours", "shop_floor"], "101"),
        (riga(2026, 12, 24, 15, 0), {}, ["start", "hours", "closed", "voicemail", "bye"], None),
        (riga(2026, 12, 25, 11, 0), {}, ["start", "hours", "closed", "voicemail", "bye"], None),
    ],
)
async def test_small_shop(
    at: dt.datetime, answers: dict[str, str], path: list[str], answered_by: str | None
) -> None:
    run, _ = await run_example(SHOP, "Shop line", at, answers=answers)
    assert run.path == path
    assert run.answered_by == answered_by


# ----------------------------------------------------------------------------- support line

SUPPORT = "support_line.yaml"
MONDAY_10 = riga(2026, 5, 4, 10, 0)


async def test_support_key_1_reaches_an_agent_of_the_technical_queue() -> None:
    run, steps = await run_example(SUPPORT, "Support", MONDAY_10, keys="1")
    assert steps == [
        ("start", "next"),
        ("missed_mail", "next"),
        ("hours", "true"),
        ("welcome", "next"),
        ("menu", "1"),
        ("technical", "answered"),
    ]
    assert run.answered_by == "201"
    assert run.trace[-1].type == "end"  # answered: no "missed call" mail


async def test_support_busy_agents_penalty_and_voicemail() -> None:
    # 201 and 202 on calls: 203 (penalty 1) is rung although the better tier is busy
    run, _ = await run_example(
        SUPPORT, "Support", MONDAY_10, keys="1", answers={"201": "busy", "202": "busy"}
    )
    assert run.answered_by == "203"
    # everybody busy: the caller waits max_wait_s, then leaves a message: no mail either
    busy = {"201": "busy", "202": "busy", "203": "busy"}
    run, steps = await run_example(SUPPORT, "Support", MONDAY_10, keys="1", answers=busy)
    assert steps[-3:] == [("technical", "timeout"), ("voicemail", "recorded"), ("bye", "next")]
    assert next(e for e in run.trace if e.node == "technical").facts["wait_s"] == 300.0
    assert run.trace[-1].type == "end"
    # ... or says nothing (silence): the lead gets the "missed call" mail at the end
    run, steps = await run_example(SUPPORT, "Support", MONDAY_10, keys="1_", answers=busy)
    assert steps[-2:] == [("voicemail", "no_message"), ("bye", "next")]
    assert run.trace[-1].type == "email"
    assert run.trace[-1].facts["subject"] == "Missed support call from +37129000000"


async def test_support_exit_key_leaves_the_queue() -> None:
    busy = {"201": "busy", "202": "busy", "203": "busy"}
    _, steps = await run_example(SUPPORT, "Support", MONDAY_10, keys="10", answers=busy)
    assert ("technical", "exit") in steps


async def test_support_key_0_reaches_the_lead_and_no_mail_is_sent() -> None:
    run, steps = await run_example(SUPPORT, "Support", MONDAY_10, keys="0")
    assert steps[-2:] == [("menu", "0"), ("lead", "answered")]
    assert run.answered_by == "210"
    assert run.trace[-1].type == "end"  # no mail sent after the call


async def test_support_menu_timeout_goes_to_the_technical_queue() -> None:
    run, steps = await run_example(SUPPORT, "Support", MONDAY_10)
    menu = next(e for e in run.trace if e.node == "menu")
    assert menu.output == "timeout" and menu.facts["pressed"] == ["-", "-", "-"]
    assert ("technical", "answered") in steps


@pytest.mark.parametrize(
    ("at", "keys", "path_end", "answered_by"),
    [
        # Monday 21:00: closed, not yet night: key 9 -> voicemail
        (riga(2026, 5, 4, 21, 0), "9", ["after_hours", "night", "voicemail", "bye"], None),
        # Monday 23:30 and Tuesday 03:00 (the Monday night range): the on-call engineer
        (riga(2026, 5, 4, 23, 30), "9", ["after_hours", "night", "on_call"], "299"),
        (riga(2026, 5, 5, 3, 0), "9", ["after_hours", "night", "on_call"], "299"),
        # Sunday night across the spring DST change (29 March 2026, 03:00 -> 04:00)
        (
            dt.datetime(2026, 3, 29, 1, 30, tzinfo=dt.UTC),
            "9",
            ["after_hours", "night", "on_call"],
            "299",
        ),
        # after hours without a key: voicemail
        (riga(2026, 5, 4, 23, 30), "", ["after_hours", "voicemail", "bye"], None),
        # Christmas (a Friday) in the day: closed
        (riga(2026, 12, 25, 11, 0), "", ["after_hours", "voicemail", "bye"], None),
    ],
)
async def test_support_after_hours(
    at: dt.datetime, keys: str, path_end: list[str], answered_by: str | None
) -> None:
    run, _ = await run_example(SUPPORT, "Support", at, keys=keys)
    assert run.path[:3] == ["start", "missed_mail", "hours"]
    assert run.path[3:] == path_end
    assert run.answered_by == answered_by


# ----------------------------------------------------------------------------- CRM line

CRM = "crm_line.yaml"
LOOKUP = "https://crm.example.com/api/contacts?phone=%2B37129333333"


async def test_crm_key_account() -> None:
    run, steps = await run_example(
        CRM,
        "Sales",
        MONDAY_10,
        caller="+37129333333",
        http_replies={LOOKUP: '{"contact": {"name": "Acme Ltd"}}', "notify_crm": "1"},
    )
    assert steps == [
        ("start", "next"),
        ("lookup", "next"),
        ("notify_crm", "1"),
        ("key_accounts", "answered"),
    ]
    assert run.trace[1].facts["caller_name"] == "Acme Ltd"
    assert run.trace[1].facts["url"] == LOOKUP
    assert run.answered_by == "303"


async def test_crm_blocked_caller() -> None:
    run, steps = await run_example(CRM, "Sales", MONDAY_10, http_replies={"notify_crm": " 2\n"})
    assert steps[-3:] == [("notify_crm", "2"), ("blocked", "next"), ("hang_up", None)]
    assert run.outcome == "hangup"


@pytest.mark.parametrize("reply", [None, 500, "", "unknown"])
async def test_crm_returning_caller_reaches_last_salesperson(reply: str | int | None) -> None:
    history = [
        {"answered_by": "301", "days_ago": 20, "talk_s": 300},
        {"answered_by": "302", "days_ago": 3, "talk_s": 120},
        {"answered_by": "301", "days_ago": 1, "talk_s": 10},  # too short to count
    ]
    run, steps = await run_example(
        CRM, "Sales", MONDAY_10, http_replies={"notify_crm": reply}, history=history
    )
    assert steps[-2:] == [("notify_crm", "default"), ("returning", "answered")]
    assert run.answered_by == "302"


async def test_crm_new_caller_waits_in_the_sales_queue_with_a_tagged_name() -> None:
    run, steps = await run_example(
        CRM,
        "Sales",
        MONDAY_10,
        http_replies={LOOKUP: "", "notify_crm": "3"},
        caller="+37129333333",
        caller_name="Bob",
        answers={"301": "no_answer"},
    )
    assert steps[-4:] == [
        ("notify_crm", "default"),
        ("returning", "not_found"),
        ("tag", "next"),
        ("queue", "answered"),
    ]
    tag = next(e for e in run.trace if e.node == "tag")
    assert tag.facts["caller_name"] == "Sales: Bob"
    assert run.answered_by == "302"  # ring_all: both rang, 302 answered


async def test_crm_sales_team_away_means_voicemail() -> None:
    away = {"301": "offline", "302": "offline"}
    run, steps = await run_example(CRM, "Sales", MONDAY_10, answers=away)
    # join_empty: the caller still waits the whole max_wait_s before voicemail
    assert steps[-2:] == [("queue", "timeout"), ("voicemail", "recorded")]
    assert next(e for e in run.trace if e.node == "queue").facts["wait_s"] == 180.0

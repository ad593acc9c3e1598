"""What flowpbx says as prompt lists (pbx/features/say.py): counts, and the voicemail envelope
"received <day> at <time>" in the company's time zone."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from flowpbx.pbx.features import say
from flowpbx.pbx.rtp.library import SYSTEM_PROMPTS
from flowpbx.settings import Settings, SettingsError

RIGA = ZoneInfo("Europe/Riga")  # UTC+2 in winter, UTC+3 in summer


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (0, ["number-0"]),
        (7, ["number-7"]),
        (13, ["number-13"]),
        (20, ["number-20"]),
        (42, ["number-40", "number-2"]),
        (100, ["number-1", "hundred"]),
        (105, ["number-1", "hundred", "number-5"]),
        (999, ["number-9", "hundred", "number-90", "number-9"]),
        (1234, ["number-1", "number-2", "number-3", "number-4"]),
    ],
)
def test_number(n: int, expected: list[str]) -> None:
    assert say.number(n) == expected


@pytest.mark.parametrize(
    ("n", "expected"),
    [
        (1, ["ordinal-1"]),
        (12, ["ordinal-12"]),
        (20, ["ordinal-20"]),
        (21, ["number-20", "ordinal-1"]),
        (30, ["ordinal-30"]),
        (31, ["number-30", "ordinal-1"]),
    ],
)
def test_ordinal(n: int, expected: list[str]) -> None:
    assert say.ordinal(n) == expected


def test_out_of_range_values_are_refused() -> None:
    with pytest.raises(ValueError):
        say.ordinal(32)
    with pytest.raises(ValueError):
        say.number(-1)


@pytest.mark.parametrize(
    ("hh", "mm", "expected"),
    [
        (0, 0, ["number-12", "am"]),
        (9, 5, ["number-9", "oh", "number-5", "am"]),
        (12, 30, ["number-12", "number-30", "pm"]),
        (16, 0, ["number-4", "pm"]),
        (23, 59, ["number-11", "number-50", "number-9", "pm"]),
    ],
)
def test_clock_time(hh: int, mm: int, expected: list[str]) -> None:
    assert say.clock_time(dt.time(hh, mm)) == expected


def test_envelope_of_an_older_message_names_weekday_month_and_day_in_local_time() -> None:
    received = dt.datetime(2026, 3, 2, 8, 5, tzinfo=dt.UTC)  # 10:05 in Riga, a Monday
    now = dt.datetime(2026, 3, 20, 12, 0, tzinfo=dt.UTC)
    assert say.envelope(received, tz=RIGA, now=now) == [
        "received",
        "day-monday",
        "month-march",
        "ordinal-2",
        "at",
        "number-10",
        "oh",
        "number-5",
        "am",
    ]


def test_envelope_uses_the_local_date_for_today_and_yesterday() -> None:
    now = dt.datetime(2026, 7, 15, 21, 30, tzinfo=dt.UTC)  # 00:30 on the 16th in Riga
    late = dt.datetime(2026, 7, 15, 21, 10)  # naive = UTC: 00:10 on the 16th in Riga
    expected = ["received", "today", "at", "number-12", "number-10", "am"]
    assert say.envelope(late, tz=RIGA, now=now) == expected
    evening = dt.datetime(2026, 7, 15, 17, 45, tzinfo=dt.UTC)  # 20:45 on the 15th
    assert say.envelope(evening, tz=RIGA, now=now)[:2] == ["received", "yesterday"]
    utc = say.envelope(evening, tz=ZoneInfo("UTC"), now=now)
    assert utc == ["received", "today", "at", "number-5", "number-40", "number-5", "pm"]


def test_every_prompt_it_may_ask_for_exists() -> None:
    missing = [n for n in say.prompt_names() if not (SYSTEM_PROMPTS / f"{n}.wav").exists()]
    assert not missing


def test_the_time_zone_setting_is_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOWPBX_TIMEZONE", "Europe/Riga")
    assert Settings.from_env().timezone == "Europe/Riga"
    monkeypatch.delenv("FLOWPBX_TIMEZONE")
    assert Settings.from_env().timezone == "UTC"
    monkeypatch.setenv("FLOWPBX_TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError, match="FLOWPBX_TIMEZONE"):
        Settings.from_env()

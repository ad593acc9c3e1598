"""Office hours across DST changes, holidays with own hours, overrides."""

from __future__ import annotations

import datetime as dt

import pytest
from pydantic import ValidationError

from flowpbx.flow.model import ScheduleSpec
from flowpbx.flow.schedule import Schedule

RIGA = ScheduleSpec.model_validate(
    {
        "timezone": "Europe/Riga",
        "hours": {d: [["09:00", "18:00"]] for d in ("mon", "tue", "wed", "thu", "fri")}
        | {"sat": [["10:00", "12:00"], ["13:00", "14:00"]]},
        "holidays": ["2026-12-25", {"date": "2026-12-31", "hours": [["09:00", "13:00"]]}],
    }
)


def utc(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=dt.UTC)


def test_weekly_hours_in_local_time() -> None:
    s = Schedule.from_spec(RIGA)
    # Monday 2026-05-04, Riga is UTC+3 in summer
    assert not s.is_open(utc(2026, 5, 4, 5, 59))  # 08:59 local
    assert s.is_open(utc(2026, 5, 4, 6, 0))  # 09:00 local
    assert s.is_open(utc(2026, 5, 4, 14, 59))  # 17:59 local
    assert not s.is_open(utc(2026, 5, 4, 15, 0))  # 18:00 local: closed
    # Saturday with a lunch break, Sunday closed
    assert s.is_open(utc(2026, 5, 9, 7, 30))  # 10:30
    assert not s.is_open(utc(2026, 5, 9, 9, 30))  # 12:30
    assert s.is_open(utc(2026, 5, 9, 10, 30))  # 13:30
    assert not s.is_open(utc(2026, 5, 10, 8, 0))


def test_across_spring_dst_change() -> None:
    s = Schedule.from_spec(RIGA)
    # Riga moves to UTC+3 on Sunday 2026-03-29. 06:30 UTC is 08:30 on Friday the 27th
    # (UTC+2, closed) but 09:30 on Monday the 30th (UTC+3, open).
    assert not s.is_open(utc(2026, 3, 27, 6, 30))
    assert s.is_open(utc(2026, 3, 30, 6, 30))
    # and 16:30 UTC: 18:30 on the 27th (closed), 19:30 on the 30th (closed);
    # 15:30 UTC: 17:30 on the 27th (open), 18:30 on the 30th (closed)
    assert s.is_open(utc(2026, 3, 27, 15, 30))
    assert not s.is_open(utc(2026, 3, 30, 15, 30))


def test_across_autumn_dst_change() -> None:
    s = Schedule.from_spec(RIGA)
    # back to UTC+2 on Sunday 2026-10-25: 06:30 UTC is 09:30 on Friday, 08:30 on Monday
    assert s.is_open(utc(2026, 10, 23, 6, 30))
    assert not s.is_open(utc(2026, 10, 26, 6, 30))
    assert s.local(utc(2026, 10, 26, 7, 0)).hour == 9


def test_holidays_closed_or_with_own_hours() -> None:
    s = Schedule.from_spec(RIGA)
    assert not s.is_open(utc(2026, 12, 25, 10, 0))  # Friday, Christmas: closed all day
    assert s.is_open(utc(2026, 12, 31, 8, 0))  # Thursday 10:00 local, short day
    assert not s.is_open(utc(2026, 12, 31, 11, 30))  # 13:30 local: closed early
    assert s.hours_on(dt.date(2026, 12, 31)) == ((540, 780),)


def test_override_and_naive_instants() -> None:
    s = Schedule.from_spec(RIGA, override="closed")
    assert not s.is_open(utc(2026, 5, 4, 10, 0))
    assert s.with_override("open").is_open(utc(2026, 5, 10, 3, 0))
    plain = Schedule.from_spec(ScheduleSpec(hours={"mon": [("00:00", "24:00")]}))
    assert plain.is_open(dt.datetime(2026, 5, 4, 23, 59))  # naive = UTC, 24:00 closes


@pytest.mark.parametrize(
    "bad",
    [
        {"timezone": "Europe/Nowhere"},
        {"hours": {"mon": [["18:00", "09:00"]]}},
        {"hours": {"mon": [["9:00", "18:00"]]}},
        {"hours": {"funday": []}},
        {"holidays": ["2026-02-30"]},
    ],
)
def test_bad_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScheduleSpec.model_validate(bad)

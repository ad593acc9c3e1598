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
        {"hours": {"mon": [["09:00", "09:00"]]}},
        {"hours": {"mon": [["24:00", "06:00"]]}},
        {"hours": {"mon": [["22:00", "25:00"]]}},
        {"hours": {"mon": [["9:00", "18:00"]]}},
        {"hours": {"funday": []}},
        {"holidays": ["2026-02-30"]},
    ],
)
def test_bad_schedules_are_refused(bad: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScheduleSpec.model_validate(bad)


# ----------------------------------------------------------------- overnight ranges


def night(zone: str, day: str = "sat", **extra: object) -> Schedule:
    doc: dict[str, object] = {"timezone": zone, "hours": {day: [["22:00", "06:00"]]}}
    doc.update(extra)
    return Schedule.from_spec(ScheduleSpec.model_validate(doc))


def test_overnight_range_runs_into_the_next_day() -> None:
    s = night("UTC", "mon")
    assert s.hours_on(dt.date(2026, 5, 4)) == ((22 * 60, 30 * 60),)
    assert not s.is_open(utc(2026, 5, 4, 21, 59))  # Monday 21:59
    assert s.is_open(utc(2026, 5, 4, 22, 0))
    assert s.is_open(utc(2026, 5, 4, 23, 59))
    assert s.is_open(utc(2026, 5, 5, 0, 0))  # Tuesday, after midnight: still Monday's night
    assert s.is_open(utc(2026, 5, 5, 5, 59))
    assert not s.is_open(utc(2026, 5, 5, 6, 0))
    assert not s.is_open(utc(2026, 5, 5, 23, 0))  # Tuesday has no night of its own
    assert not s.is_open(utc(2026, 5, 4, 3, 0))  # Sunday night was not open either


def test_overnight_sunday_into_monday_wraps_the_week() -> None:
    s = night("UTC", "sun")
    assert s.is_open(utc(2026, 5, 10, 23, 0))  # Sunday
    assert s.is_open(utc(2026, 5, 11, 5, 0))  # Monday morning
    assert not s.is_open(utc(2026, 5, 11, 7, 0))


@pytest.mark.parametrize(
    ("at", "is_open"),
    [
        (utc(2026, 5, 4, 17, 59), False),
        (utc(2026, 5, 4, 18, 0), True),
        (utc(2026, 5, 4, 23, 59), True),  # Monday's range ends at 24:00 ...
        (utc(2026, 5, 5, 0, 0), True),  # ... and Tuesday's starts at 00:00
        (utc(2026, 5, 5, 1, 59), True),
        (utc(2026, 5, 5, 2, 0), False),
    ],
)
def test_across_midnight_with_adjacent_ranges(at: dt.datetime, is_open: bool) -> None:
    spec = ScheduleSpec.model_validate(
        {"hours": {"mon": [["18:00", "24:00"]], "tue": [["00:00", "02:00"]]}}
    )
    assert Schedule.from_spec(spec).is_open(at) is is_open


def test_overnight_with_holidays() -> None:
    # Monday 2026-05-04 night shift; Tuesday the 5th is a holiday (closed all day):
    # Monday's night still runs into it, Tuesday's own night does not happen.
    every_night = {d: [["22:00", "06:00"]] for d in ("mon", "tue", "wed")}
    s = Schedule.from_spec(
        ScheduleSpec.model_validate(
            {"hours": every_night, "holidays": ["2026-05-05", "2026-05-11"]}
        )
    )
    assert s.is_open(utc(2026, 5, 5, 5, 0))
    assert not s.is_open(utc(2026, 5, 5, 23, 0))
    assert not s.is_open(utc(2026, 5, 6, 3, 0))  # would have been Tuesday's night
    assert s.is_open(utc(2026, 5, 6, 23, 0))  # Wednesday as usual
    # a closed Monday (the 11th) has no night, and nothing spills into Tuesday
    assert not s.is_open(utc(2026, 5, 11, 23, 0))
    assert not s.is_open(utc(2026, 5, 12, 3, 0))
    # a holiday with its own overnight hours (New Year's Eve party line)
    nye = Schedule.from_spec(
        ScheduleSpec.model_validate(
            {"holidays": [{"date": "2026-12-31", "hours": [["20:00", "02:00"]]}]}
        )
    )
    assert nye.is_open(utc(2027, 1, 1, 1, 30))
    assert not nye.is_open(utc(2027, 1, 1, 2, 0))


@pytest.mark.parametrize(
    ("at", "is_open", "why"),
    [
        # New York, spring forward on Sunday 2026-03-08 02:00 EST -> 03:00 EDT.
        # Saturday night 22:00 EST (03:00 UTC) to Sunday 06:00 EDT (10:00 UTC): 7 hours.
        (utc(2026, 3, 8, 2, 59), False, "21:59 EST"),
        (utc(2026, 3, 8, 3, 0), True, "22:00 EST"),
        (utc(2026, 3, 8, 6, 59), True, "01:59 EST, just before the jump"),
        (utc(2026, 3, 8, 7, 0), True, "03:00 EDT, just after it"),
        (utc(2026, 3, 8, 9, 59), True, "05:59 EDT"),
        (utc(2026, 3, 8, 10, 0), False, "06:00 EDT: closed an hour earlier in UTC"),
        (utc(2026, 3, 1, 10, 30), True, "a week before, 05:30 EST: still open"),
        # fall back on Sunday 2026-11-01 02:00 EDT -> 01:00 EST: a 9-hour night
        (utc(2026, 11, 1, 5, 30), True, "01:30 EDT, first time"),
        (utc(2026, 11, 1, 6, 30), True, "01:30 EST, second time"),
        (utc(2026, 11, 1, 10, 30), True, "05:30 EST"),
        (utc(2026, 11, 1, 11, 0), False, "06:00 EST"),
        (utc(2026, 10, 25, 10, 30), False, "a week before, 06:30 EDT: closed"),
    ],
)
def test_overnight_across_dst_in_new_york(at: dt.datetime, is_open: bool, why: str) -> None:
    assert night("America/New_York").is_open(at) is is_open, why


@pytest.mark.parametrize(
    ("at", "is_open", "why"),
    [
        # Riga, spring forward on Sunday 2026-03-29 03:00 EET -> 04:00 EEST.
        (utc(2026, 3, 28, 19, 59), False, "Saturday 21:59 EET"),
        (utc(2026, 3, 28, 20, 0), True, "Saturday 22:00 EET"),
        (utc(2026, 3, 29, 0, 59), True, "02:59 EET"),
        (utc(2026, 3, 29, 1, 0), True, "04:00 EEST"),
        (utc(2026, 3, 29, 2, 59), True, "05:59 EEST"),
        (utc(2026, 3, 29, 3, 30), False, "06:30 EEST"),
        (utc(2026, 3, 22, 3, 30), True, "a week before: 05:30 EET"),
        # fall back on Sunday 2026-10-25 04:00 EEST -> 03:00 EET
        (utc(2026, 10, 25, 0, 30), True, "03:30 EEST, first time"),
        (utc(2026, 10, 25, 1, 30), True, "03:30 EET, second time"),
        (utc(2026, 10, 25, 3, 30), True, "05:30 EET"),
        (utc(2026, 10, 25, 4, 0), False, "06:00 EET"),
        (utc(2026, 10, 18, 3, 30), False, "a week before: 06:30 EEST"),
    ],
)
def test_overnight_across_dst_in_riga(at: dt.datetime, is_open: bool, why: str) -> None:
    assert night("Europe/Riga").is_open(at) is is_open, why


def test_same_instant_two_zones() -> None:
    # 2026-03-08 12:00 UTC: 08:00 Sunday in New York (EDT, changed that night),
    # 14:00 Sunday in Riga (EET, changes three weeks later)
    hours = {"sun": [["07:30", "13:30"]]}
    ny = Schedule.from_spec(
        ScheduleSpec.model_validate({"timezone": "America/New_York", "hours": hours})
    )
    riga = Schedule.from_spec(
        ScheduleSpec.model_validate({"timezone": "Europe/Riga", "hours": hours})
    )
    at = utc(2026, 3, 8, 12, 0)
    assert (ny.local(at).hour, riga.local(at).hour) == (8, 14)
    assert ny.is_open(at) and not riga.is_open(at)

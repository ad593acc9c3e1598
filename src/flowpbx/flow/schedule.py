"""Office hours: is a given instant inside a schedule's opening hours?

A `Schedule` is compiled once from a `ScheduleSpec` (time zone, weekly hours, holidays
with optional own hours) and answers `is_open(instant)` by converting the instant to the
schedule's local wall-clock time with `zoneinfo` — so daylight-saving changes are handled
by the time-zone database, not by arithmetic here. Intervals are half-open
``[start, end)`` in local time; ``24:00`` closes at midnight. Pure: the caller passes
the instant (the session's ``now()``); nothing here reads a clock.

Overnight ranges: an interval whose end is before its start (``22:00``-``06:00``) runs
past midnight into the next day. It belongs to the day it *starts* on: Monday's
``22:00``-``06:00`` is open Monday 22:00 to Tuesday 06:00 (local wall-clock time, so a
night with a DST change is an hour shorter or longer). A holiday replaces the hours
starting on that date; a range that started the evening before still runs into it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flowpbx.flow.model import DAY_NAMES, Holiday, Interval, ScheduleSpec

__all__ = ["Schedule"]

Minutes = tuple[tuple[int, int], ...]  # (start minute, end minute) of the local day
DAY = 24 * 60  # an overnight range ends after DAY: (1320, 1800) is 22:00-06:00


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _compile(intervals: Sequence[Interval]) -> Minutes:
    compiled = []
    for a, b in intervals:
        start, end = _minutes(a), _minutes(b)
        compiled.append((start, end + DAY if end < start else end))
    return tuple(sorted(compiled))


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """Compiled office hours. Build with `Schedule.from_spec`."""

    zone: ZoneInfo
    weekly: tuple[Minutes, ...]  # index 0 = Monday
    holidays: Mapping[dt.date, Minutes]
    override: bool | None = None  # True = always open, False = always closed

    @classmethod
    def from_spec(cls, spec: ScheduleSpec, *, override: str | None = None) -> Schedule:
        weekly = tuple(_compile(spec.hours.get(day, ())) for day in DAY_NAMES)
        holidays: dict[dt.date, Minutes] = {}
        for item in spec.holidays:
            if isinstance(item, Holiday):
                holidays[item.date] = _compile(item.hours)
            else:
                holidays[item] = ()
        forced = None if override is None else override == "open"
        return cls(zone=ZoneInfo(spec.timezone), weekly=weekly, holidays=holidays, override=forced)

    def with_override(self, override: str | None) -> Schedule:
        forced = None if override is None else override == "open"
        return Schedule(zone=self.zone, weekly=self.weekly, holidays=self.holidays, override=forced)

    def local(self, instant: dt.datetime) -> dt.datetime:
        """The instant as wall-clock time in the schedule's zone (naive input = UTC)."""
        if instant.tzinfo is None:
            instant = instant.replace(tzinfo=dt.UTC)
        return instant.astimezone(self.zone)

    def hours_on(self, day: dt.date) -> Minutes:
        """Opening intervals that start on `day` (minutes of its local day; an overnight
        range ends after `DAY`)."""
        special = self.holidays.get(day)
        return special if special is not None else self.weekly[day.weekday()]

    def is_open(self, instant: dt.datetime) -> bool:
        if self.override is not None:
            return self.override
        local = self.local(instant)
        minute = local.hour * 60 + local.minute
        today = local.date()
        if any(start <= minute < end for start, end in self.hours_on(today)):
            return True
        # the overnight ranges of the day before still running after midnight
        late = minute + DAY
        return any(late < end for _, end in self.hours_on(today - dt.timedelta(days=1)))

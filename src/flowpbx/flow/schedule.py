"""Office hours: is a given instant inside a schedule's opening hours?

A `Schedule` is compiled once from a `ScheduleSpec` (time zone, weekly hours, holidays
with optional own hours) and answers `is_open(instant)` by converting the instant to the
schedule's local wall-clock time with `zoneinfo` — so daylight-saving changes are handled
by the time-zone database, not by arithmetic here. Intervals are half-open
``[start, end)`` in local time; ``24:00`` closes at midnight. Pure: the caller passes
the instant (the session's ``now()``); nothing here reads a clock.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from flowpbx.flow.model import DAY_NAMES, Holiday, Interval, ScheduleSpec

__all__ = ["Schedule"]

Minutes = tuple[tuple[int, int], ...]  # (start minute, end minute) of the local day


def _minutes(text: str) -> int:
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def _compile(intervals: Sequence[Interval]) -> Minutes:
    return tuple(sorted((_minutes(a), _minutes(b)) for a, b in intervals))


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
        """Opening intervals (minutes of the local day) that apply on `day`."""
        special = self.holidays.get(day)
        return special if special is not None else self.weekly[day.weekday()]

    def is_open(self, instant: dt.datetime) -> bool:
        if self.override is not None:
            return self.override
        local = self.local(instant)
        minute = local.hour * 60 + local.minute
        return any(start <= minute < end for start, end in self.hours_on(local.date()))

"""Numbers, dates and times as lists of system prompt names (scripts/make_prompts.py), for
what flowpbx says itself: voicemail counts and "received <day> at <time>" envelopes.

Pure: a prompt list comes from values and a time zone, never from a clock, so a test pins
every case (``envelope(received, tz=..., now=...)``). English, 12-hour clock:

    42                          number-40 number-2
    2026-03-02 10:05 (Monday)   received day-monday month-march ordinal-2 at number-10 oh
                                number-5 am
    today 16:30                 received today at number-4 number-30 pm
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)


def number(n: int) -> list[str]:
    """A cardinal number 0..999 as prompts (larger ones digit by digit)."""
    if n < 0:
        raise ValueError("negative numbers are not said")
    if n >= 1000:
        return [f"number-{d}" for d in str(n)]
    out: list[str] = []
    hundreds, rest = divmod(n, 100)
    if hundreds:
        out += [f"number-{hundreds}", "hundred"]
        if not rest:
            return out
    if rest < 20:
        if rest or not out:
            out.append(f"number-{rest}")
        return out
    tens, units = divmod(rest, 10)
    out.append(f"number-{tens * 10}")
    if units:
        out.append(f"number-{units}")
    return out


def ordinal(n: int) -> list[str]:
    """A day of the month 1..31 as prompts: "third", "twenty" "first", "thirtieth"."""
    if not 1 <= n <= 31:
        raise ValueError(f"no day {n} in a month")
    if n < 20 or n % 10 == 0:
        return [f"ordinal-{n}"]
    return [f"number-{n - n % 10}", f"ordinal-{n % 10}"]


def clock_time(t: dt.time) -> list[str]:
    """A time of day on the 12-hour clock: 10:05 -> ten oh five a.m., 16:00 -> four p.m."""
    hour = t.hour % 12 or 12
    out = number(hour)
    if t.minute:
        if t.minute < 10:
            out.append("oh")
        out += number(t.minute)
    out.append("am" if t.hour < 12 else "pm")
    return out


def day(when: dt.date, today: dt.date) -> list[str]:
    """ "today", "yesterday", else the weekday, month and day."""
    if when == today:
        return ["today"]
    if when == today - dt.timedelta(days=1):
        return ["yesterday"]
    weekday = f"day-{WEEKDAYS[when.weekday()]}"
    return [weekday, f"month-{MONTHS[when.month - 1]}", *ordinal(when.day)]


def envelope(received: dt.datetime, *, tz: ZoneInfo, now: dt.datetime) -> list[str]:
    """ "received <day> at <time>" for a voicemail message, in the time zone `tz`. A naive
    `received` or `now` is UTC (the store keeps UTC)."""
    local = _aware(received).astimezone(tz)
    today = _aware(now).astimezone(tz).date()
    return ["received", *day(local.date(), today), "at", *clock_time(local.time())]


def _aware(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)


def prompt_names() -> list[str]:
    """Every prompt this module may ask for (the prompt generator's checklist)."""
    names = {f"number-{n}" for n in [*range(20), *range(20, 100, 10)]}
    names |= {f"ordinal-{n}" for n in [*range(1, 20), 20, 30]}
    names |= {f"day-{d}" for d in WEEKDAYS} | {f"month-{m}" for m in MONTHS}
    names |= {"hundred", "received", "today", "yesterday", "at", "oh", "am", "pm"}
    return sorted(names)


__all__ = ["clock_time", "day", "envelope", "number", "ordinal", "prompt_names"]

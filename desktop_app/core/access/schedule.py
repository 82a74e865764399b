"""Weekly access schedules: time windows per weekday, holidays, and the time zone they are read in.

A schedule is written as text, the way an office manager says it::

    "Mon-Fri 08:00-18:00"
    "Mon-Fri 08:00-12:30, 13:30-18:00; Sat 09:00-13:00"
    "Mon-Sun 00:00-24:00"        # always
    "Fri 22:00-02:00"            # crosses midnight: Friday 22:00 to Saturday 02:00

Clauses are separated by ``;``; each clause is a day set (``Mon``, ``Mon-Fri``, ``Sat,Sun``,
``Fri-Mon`` wraps over the week end; ``daily`` = every day) followed by one or more ``HH:MM-HH:MM``
ranges separated by ``,``. ``24:00`` is the end of the day. A range whose end is before its start
runs past midnight into the next day. Day names are English, any case, three letters or whole.

Holidays are whole local days on which the schedule allows nobody.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAY_NAMES: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_MINUTES_PER_DAY = 24 * 60
_RANGE = re.compile(r"^(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})$")


@dataclass(frozen=True, order=True)
class TimeWindow:
    """One allowed interval on one weekday. day: 0 = Monday … 6 = Sunday; start_min, end_min:
    minutes after local midnight, ``0 <= start_min < end_min <= 1440`` (a range past midnight is
    kept as two windows, one on each day)."""

    day: int
    start_min: int
    end_min: int

    def __post_init__(self) -> None:
        if not 0 <= self.day <= 6:
            raise ValueError(f"day must be 0 (Monday) to 6 (Sunday), got {self.day}")
        if not 0 <= self.start_min < self.end_min <= _MINUTES_PER_DAY:
            raise ValueError(f"a time window must have 0 <= start < end <= 24:00, got {self.start_min}-{self.end_min}")

    def contains(self, weekday: int, minute: int) -> bool:
        """True when ``minute`` (0..1439, local) of ``weekday`` (0 = Monday) falls in this window."""
        return weekday == self.day and self.start_min <= minute < self.end_min


def _day(token: str, text: str) -> int:
    t = token.strip().lower()
    if t in DAY_NAMES:
        return DAY_NAMES.index(t)
    if t in _FULL:
        return _FULL.index(t)
    raise ValueError(f"unknown day {token.strip()!r} in schedule {text!r}: use Mon, Tue, Wed, Thu, Fri, Sat, Sun")


def _days(spec: str, text: str) -> list[int]:
    out: list[int] = []
    for part in spec.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"an empty day in schedule {text!r}")
        if part.lower() in ("daily", "everyday", "all"):
            out.extend(range(7))
        elif "-" in part:
            a, b = (_day(x, text) for x in part.split("-", 1))
            d = a
            out.append(d)
            while d != b:
                d = (d + 1) % 7
                out.append(d)
        else:
            out.append(_day(part, text))
    return out


def _minute(h: str, m: str, text: str) -> int:
    hours, minutes = int(h), int(m)
    if minutes > 59 or hours > 24 or (hours == 24 and minutes):
        raise ValueError(f"no such time {h}:{m} in schedule {text!r} (00:00 to 24:00)")
    return hours * 60 + minutes


def parse_windows(text: str) -> tuple[TimeWindow, ...]:
    """The windows a schedule text allows, sorted and merged where they touch; ValueError with a
    readable message for bad text (unknown day, no time range, impossible time, empty range)."""
    if not isinstance(text, str) or not text.strip():
        raise ValueError("a schedule must not be empty: e.g. 'Mon-Fri 08:00-18:00'")
    windows: set[TimeWindow] = set()
    for clause in text.split(";"):
        clause = clause.strip()
        if not clause:
            continue
        match = re.match(r"^([A-Za-z,\-\s]+?)\s+(\d.*)$", clause)
        if match is None:
            raise ValueError(
                f"cannot read {clause!r} in schedule {text!r}: write days then times, e.g. 'Mon-Fri 08:00-18:00'")
        days = _days(match.group(1).replace(" ", ""), text)
        for rng in match.group(2).split(","):
            m = _RANGE.match(rng.strip())
            if m is None:
                raise ValueError(f"cannot read the time range {rng.strip()!r} in schedule {text!r}: use HH:MM-HH:MM")
            start, end = _minute(m.group(1), m.group(2), text), _minute(m.group(3), m.group(4), text)
            if start == end:
                raise ValueError(f"the time range {rng.strip()!r} in schedule {text!r} is empty")
            for d in days:
                if end > start:
                    windows.add(TimeWindow(d, start, end))
                else:  # past midnight: the rest of this day, then the start of the next
                    if start < _MINUTES_PER_DAY:
                        windows.add(TimeWindow(d, start, _MINUTES_PER_DAY))
                    if end > 0:
                        windows.add(TimeWindow((d + 1) % 7, 0, end))
    if not windows:
        raise ValueError("a schedule must not be empty: e.g. 'Mon-Fri 08:00-18:00'")
    return _merged(windows)


def _merged(windows: Iterable[TimeWindow]) -> tuple[TimeWindow, ...]:
    out: list[TimeWindow] = []
    for w in sorted(windows):
        if out and out[-1].day == w.day and w.start_min <= out[-1].end_min:
            last = out[-1]
            out[-1] = TimeWindow(w.day, last.start_min, max(last.end_min, w.end_min))
        else:
            out.append(w)
    return tuple(out)


def format_windows(windows: Iterable[TimeWindow]) -> str:
    """Canonical text of windows (one clause per day, e.g. ``"Mon 08:00-18:00; Tue 08:00-18:00"``);
    ``parse_windows(format_windows(w)) == w``."""
    by_day: dict[int, list[str]] = {}
    for w in sorted(windows):
        by_day.setdefault(w.day, []).append(f"{w.start_min // 60:02d}:{w.start_min % 60:02d}-"
                                            f"{w.end_min // 60:02d}:{w.end_min % 60:02d}")
    return "; ".join(f"{DAY_NAMES[d].title()} {', '.join(r)}" for d, r in sorted(by_day.items()))


def zone(name: str | None) -> tzinfo | None:
    """The time zone called ``name`` (IANA, e.g. "Europe/Paris"); None (the machine's local zone)
    for None, "" or "local"; ValueError for an unknown name."""
    if name is None or not name.strip() or name.strip().lower() == "local":
        return None
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as 'Europe/Paris', or 'local'") from exc


@dataclass(frozen=True)
class Schedule:
    """A named weekly schedule. text: as written (see the module doc); holidays: local dates on
    which it allows nobody; timezone: IANA name, or "local" for the door machine's zone.

    Construction checks everything (ValueError with a readable message)."""

    name: str
    text: str
    holidays: frozenset[date] = frozenset()
    timezone: str = "local"
    windows: tuple[TimeWindow, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise ValueError("a schedule needs a name")
        object.__setattr__(self, "windows", parse_windows(self.text))
        zone(self.timezone)

    def allows(self, when: datetime) -> bool:
        """True when ``when`` (an aware datetime; naive is taken as the machine's local time) falls
        in a window, on a day that is not a holiday, both read in the schedule's time zone."""
        tz = zone(self.timezone)
        local = when.astimezone(tz) if tz is not None else when.astimezone()
        if local.date() in self.holidays:
            return False
        minute = local.hour * 60 + local.minute
        return any(w.contains(local.weekday(), minute) for w in self.windows)


ALWAYS = Schedule("always", "Mon-Sun 00:00-24:00")
"""The schedule of a permission given without one: every minute of every day."""

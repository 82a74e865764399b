"""How counts and durations are written for people (CLI and app): "1 shot", "2 shots", "7:05"."""

from __future__ import annotations

import math

#: Nouns whose plural is not the noun + "s".
_IRREGULAR: dict[str, str] = {"person": "people"}


def count(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and the noun in the right number: ``count(1, "shot") == "1 shot"``,
    ``count(2, "person") == "2 people"``, ``count(0, "event") == "0 events"``."""
    if n == 1:
        return f"{n} {noun}"
    return f"{n} {plural or _IRREGULAR.get(noun, noun + 's')}"


def hours_minutes(hours: float) -> str:
    """A duration given in hours as ``h:mm`` (rounded to the nearest minute): 0.01 -> "0:01",
    8.5 -> "8:30", 26.25 -> "26:15"; negative or not finite -> "" (nothing to show)."""
    if not math.isfinite(hours) or hours < 0:
        return ""
    minutes = round(hours * 60.0)
    return f"{minutes // 60}:{minutes % 60:02d}"

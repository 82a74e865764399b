"""Time conventions of the event store.

- Instants are stored as ISO-8601 text in UTC with an explicit offset and microseconds,
  e.g. ``2024-05-01T07:59:03.120000+00:00``. Every stored instant has this exact shape, so text
  order is time order and SQL can compare them as strings.
- A naive ``datetime`` given to the store is taken to be local time (the store's time zone).
- Attendance days are calendar days in the store's local time zone (the machine's zone unless
  the store was opened with another one): a passage at 23:30 local time counts for that day
  even when it is already the next day in UTC.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, tzinfo


def aware(ts: datetime, local_tz: tzinfo | None) -> datetime:
    """``ts`` with a time zone: naive values are read as local time (``local_tz`` or the machine's).

    ValueError when ``ts`` is not a datetime (a plain ``date`` is ambiguous here).
    """
    if not isinstance(ts, datetime):
        raise ValueError(f"expected a datetime, got {type(ts).__name__}")
    if ts.tzinfo is not None and ts.utcoffset() is not None:
        return ts
    if local_tz is None:
        return ts.astimezone()  # naive -> machine local time
    return ts.replace(tzinfo=local_tz)


def to_db(ts: datetime, local_tz: tzinfo | None = None) -> str:
    """Stored text of an instant: ISO-8601, UTC, microseconds, ``+00:00``."""
    return aware(ts, local_tz).astimezone(UTC).isoformat(timespec="microseconds")


def from_db(text: str) -> datetime:
    """Aware UTC datetime of a stored instant."""
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def now_db() -> str:
    """Stored text of the current instant."""
    return to_db(datetime.now(UTC))


def local(ts: datetime, local_tz: tzinfo | None) -> datetime:
    """``ts`` expressed in local time (``local_tz`` or the machine's zone)."""
    return aware(ts, local_tz).astimezone(local_tz)


def local_day(ts: datetime, local_tz: tzinfo | None) -> date:
    """Calendar day of ``ts`` in local time."""
    return local(ts, local_tz).date()

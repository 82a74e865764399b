"""Which events a query, a count or a CSV export covers: one frozen filter for the GUI and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from desktop_app.core.storage.records import DECISIONS
from desktop_app.core.vocabulary import AccessReason


@dataclass(frozen=True)
class EventFilter:
    """Events of local days ``day_from..day_to`` (both included; None = open), of one person (id)
    and/or one decision ("granted", "unknown", "denied", "ambiguous"), of one door (name, any case)
    and/or one reason (an AccessReason value such as "outside schedule"); ``limit`` rows at most
    (None = all) after skipping ``offset`` rows, newest first. ValueError for a reversed range or a
    bad decision, reason or page."""

    day_from: date | None = None
    day_to: date | None = None
    person_id: int | None = None
    decision: str | None = None
    limit: int | None = None
    offset: int = 0
    door: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.day_from is not None and self.day_to is not None and self.day_from > self.day_to:
            raise ValueError(f"The start day {self.day_from} is after the end day {self.day_to}.")
        if self.decision is not None and self.decision not in DECISIONS:
            raise ValueError(f"decision must be one of {sorted(DECISIONS)}, got {self.decision!r}")
        if (self.limit is not None and self.limit < 0) or self.offset < 0:
            raise ValueError("limit and offset must not be negative")
        if self.reason is not None and self.reason not in {r.value for r in AccessReason}:
            raise ValueError(f"reason must be one of {[r.value for r in AccessReason]}, got {self.reason!r}")

    def query_args(self) -> dict[str, Any]:
        """Keyword arguments of ``Store.count_events`` (local-time ``start <= ts < end``)."""
        start = datetime(self.day_from.year, self.day_from.month, self.day_from.day) if self.day_from else None
        end = None
        if self.day_to is not None:
            nxt = self.day_to + timedelta(days=1)
            end = datetime(nxt.year, nxt.month, nxt.day)
        return {"start": start, "end": end, "person_id": self.person_id, "decision": self.decision,
                "door": self.door, "reason": self.reason}

    def page_args(self) -> dict[str, Any]:
        """Keyword arguments of ``Store.query_events`` / ``Store.export_events_csv`` (with the page)."""
        return {**self.query_args(), "limit": self.limit, "offset": self.offset}

    def describe(self) -> dict[str, object]:
        """JSON-able summary for the audit log."""
        return {
            "day_from": self.day_from.isoformat() if self.day_from else None,
            "day_to": self.day_to.isoformat() if self.day_to else None,
            "person_id": self.person_id, "decision": self.decision, "limit": self.limit, "offset": self.offset,
            **({"door": self.door} if self.door is not None else {}),
            **({"reason": self.reason} if self.reason is not None else {}),
        }

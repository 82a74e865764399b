"""Which audit rows a listing, a count or a CSV export covers: one frozen filter for the GUI and the CLI."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta


@dataclass(frozen=True)
class AuditFilter:
    """Audit rows of local days ``day_from..day_to`` (both included; None = open), newest first.

    person: rows about this person: their details name them (``name``, case-insensitive), hold
    their anonymous reference (``person_ref``, e.g. "erased-1a2b3c4d", for an erased person), or
    hold the ``person_id`` of ``person_ids`` (filled in by ``FaceGate.query_audit`` from the
    people now enrolled under that name); action: an action ("person.update") or a family of
    them ("model" matches "model.activate", "model.register"...); actor: who did it (the account
    or program: "admin", "cli", "doctor"...; case-insensitive). ``limit`` rows at most (None =
    all) after skipping ``offset``. ValueError for a reversed range, a blank text or a bad page.
    """

    day_from: date | None = None
    day_to: date | None = None
    person: str | None = None
    person_ids: tuple[int, ...] = ()
    action: str | None = None
    actor: str | None = None
    limit: int | None = None
    offset: int = 0

    def __post_init__(self) -> None:
        if self.day_from is not None and self.day_to is not None and self.day_from > self.day_to:
            raise ValueError(f"The start day {self.day_from} is after the end day {self.day_to}.")
        for name in ("person", "action", "actor"):
            value = getattr(self, name)
            if value is not None and not str(value).strip():
                raise ValueError(f"the {name} filter must not be blank (use None for all)")
        if (self.limit is not None and self.limit < 0) or self.offset < 0:
            raise ValueError("limit and offset must not be negative")

    def bounds(self) -> tuple[datetime | None, datetime | None]:
        """Naive local-time ``start <= ts < end`` of the day range (the store converts them to UTC)."""
        start = datetime(self.day_from.year, self.day_from.month, self.day_from.day) if self.day_from else None
        end = None
        if self.day_to is not None:
            nxt = self.day_to + timedelta(days=1)
            end = datetime(nxt.year, nxt.month, nxt.day)
        return start, end

    def describe(self) -> dict[str, object]:
        """JSON-able summary for the audit row of an export. The person filter is kept under the
        keys an erasure pseudonymises (``name``, ``person_id``; ``person_ref`` for an erased one)."""
        out: dict[str, object] = {
            "day_from": self.day_from.isoformat() if self.day_from else None,
            "day_to": self.day_to.isoformat() if self.day_to else None,
            "action": self.action, "actor": self.actor, "limit": self.limit, "offset": self.offset,
        }
        if self.person is not None:
            key = "person_ref" if self.person.strip().lower().startswith("erased-") else "name"
            out[key] = self.person.strip()
        if len(self.person_ids) == 1:
            out["person_id"] = self.person_ids[0]
        return out

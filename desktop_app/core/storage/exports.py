"""CSV exports of events and attendance (times in local time with their UTC offset)."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path

from desktop_app.core.storage import times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.csvfile import write_csv_atomic
from desktop_app.core.storage.events import EventsMixin
from desktop_app.core.storage.people import PeopleMixin

EVENT_COLUMNS = (
    "event_id", "time_local", "time_utc", "person_id", "person_ref", "name", "decision", "score",
    "camera", "track_id", "model_sha256", "door", "direction", "reason",
)  # fmt: skip
ATTENDANCE_COLUMNS = (
    "day", "person_id", "name", "employee_id", "department", "first_in", "last_out", "hours",
)  # fmt: skip


class ExportsMixin(EventsMixin, PeopleMixin):
    """CSV export methods of ``Store``. Files are written atomically (see ``csvfile``)."""

    def _local_text(self, ts: datetime) -> str:
        return times.local(ts, self.local_tz).isoformat(timespec="seconds")

    @api("exporting events")
    def export_events_csv(
        self,
        path: Path,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        person_id: int | None = None,
        decision: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        door: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Write the events matching the ``query_events`` filters, newest first, to a CSV file;
        returns the number of rows written (header not counted).

        Columns: EVENT_COLUMNS; time_local is ISO-8601 with offset, score has 4 decimals; door,
        direction ("in" / "out") and reason (e.g. "outside schedule") are empty for events of a
        camera without a door and for events stored before access control.
        """
        events = self.query_events(
            start=start, end=end, person_id=person_id, decision=decision, limit=limit, offset=offset,
            door=door, reason=reason,
        )
        rows = (
            (
                ev.id,
                self._local_text(ev.ts),
                ev.ts.isoformat(timespec="seconds"),
                ev.person_id,
                ev.person_ref,
                ev.name,
                ev.decision,
                f"{ev.score:.4f}",
                ev.camera,
                ev.track_id,
                ev.model_sha256,
                ev.door,
                ev.direction,
                ev.reason,
            )
            for ev in events
        )
        return write_csv_atomic(Path(path), EVENT_COLUMNS, rows)

    @api("exporting attendance")
    def export_attendance_csv(self, path: Path, day_from: date, day_to: date) -> int:
        """Write attendance of local days ``day_from..day_to`` to a CSV file; returns rows written.

        Columns: ATTENDANCE_COLUMNS; first_in / last_out in local time (ISO-8601 with offset),
        hours with 2 decimals; first_in, last_out and hours are empty on a day with only an entry
        or only an exit (see ``AttendanceRow``).
        """
        rows_in = self.attendance(day_from, day_to)
        people = {p.id: p for p in self.list_people()}
        rows = (
            (
                r.day.isoformat(),
                r.person_id,
                r.name,
                people[r.person_id].employee_id,
                people[r.person_id].department,
                None if r.first_in is None else self._local_text(r.first_in),
                None if r.last_out is None else self._local_text(r.last_out),
                None if r.hours is None else f"{r.hours:.2f}",
            )
            for r in rows_in
        )
        return write_csv_atomic(Path(path), ATTENDANCE_COLUMNS, rows)

"""Retention: door events and face snapshots older than the site's limits are deleted.

The limits are settings (``AppConfig.retention``: ``events_days``, ``snapshots_days``; None keeps
for ever). ``FaceGate.purge_expired`` applies them: events in the database and in the event spool
(``<db>.spool``) older than ``events_days`` are deleted, with their snapshots; the snapshots of
younger events older than ``snapshots_days`` are deleted, the events kept. Attendance (first in /
last out per day) is kept. The work goes in bounded batches, one short transaction each, so that
a door writing its events waits at most one batch; then the write-ahead log is checkpointed and
truncated, and ``secure_delete`` has zeroed the freed cells: no copy is left in the database files.

:class:`RetentionScheduler` runs it off the door's hot path: on a thread of its own, when the door
loop starts and then every ``interval_s`` (a day) while it runs. It never raises into the door.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Final

from desktop_app.core.errors import FaceGateError

if TYPE_CHECKING:
    from desktop_app.core.config import RetentionSettings
    from desktop_app.core.privacy.facade import PrivacyFacade

log = logging.getLogger(__name__)

DAY_S: Final[float] = 86400.0
"""Seconds between two scheduled purges while a door runs."""
BATCH_ROWS: Final[int] = 200
"""Events (and snapshots) per purge transaction: a few milliseconds of the store's lock."""
SCHEDULED_PAUSE_S: Final[float] = 0.05
"""Seconds the scheduled purge sleeps between two batches (the door's events go first)."""
SCHEDULED_ACTOR: Final[str] = "retention"
"""The audit actor of the scheduled purges."""


@dataclass(frozen=True)
class RetentionCutoffs:
    """Aware UTC instants: events before ``events_before`` and snapshots before
    ``snapshots_before`` are expired (None: kept)."""

    events_before: datetime | None
    snapshots_before: datetime | None

    @classmethod
    def of(cls, settings: RetentionSettings, now: datetime) -> RetentionCutoffs:
        """The cutoffs of ``settings`` at ``now`` (an aware datetime): ``now`` minus the days."""
        if now.tzinfo is None:
            raise ValueError("now must be an aware datetime")
        ev = None if settings.events_days is None else now - timedelta(days=settings.events_days)
        sn = None if settings.snapshots_days is None else now - timedelta(days=settings.snapshots_days)
        return cls(ev, sn)

    @property
    def active(self) -> bool:
        """True when anything expires."""
        return self.events_before is not None or self.snapshots_before is not None

    def describe(self) -> dict[str, object]:
        """JSON-able cutoffs (ISO 8601 UTC) for the audit row."""
        return {"events_before": None if self.events_before is None else self.events_before.isoformat(),
                "snapshots_before": None if self.snapshots_before is None else self.snapshots_before.isoformat()}


@dataclass(frozen=True)
class RetentionReport:
    """What a purge did (or, ``dry_run``, would do).

    events_deleted: database events deleted; snapshots_deleted: snapshots gone with them or
    cleared from younger events; spooled_events / spooled_snapshots: the same in the event spool;
    complete: False when it was stopped before the end (the rest goes at the next run);
    wal_pending: why the write-ahead log still holds copies (None: truncated, or nothing to do).
    """

    cutoffs: RetentionCutoffs
    dry_run: bool
    events_deleted: int = 0
    snapshots_deleted: int = 0
    spooled_events: int = 0
    spooled_snapshots: int = 0
    batches: int = 0
    complete: bool = True
    wal_pending: str | None = None

    @property
    def changed(self) -> bool:
        """True when anything was (or would be) deleted."""
        return bool(self.events_deleted or self.snapshots_deleted or self.spooled_events or self.spooled_snapshots)

    def audit_details(self) -> dict[str, object]:
        """The ``retention.purge`` audit row's details: cutoffs and counts (no names)."""
        return {**self.cutoffs.describe(), "events_deleted": self.events_deleted,
                "snapshots_deleted": self.snapshots_deleted, "spooled_events_deleted": self.spooled_events,
                "spooled_snapshots_deleted": self.spooled_snapshots, "complete": self.complete,
                "wal_truncated": self.wal_pending is None}

    def summary(self) -> str:
        """One line for people."""
        verb = "would delete" if self.dry_run else "deleted"
        text = (f"{verb} {self.events_deleted} event(s) and {self.snapshots_deleted} snapshot(s)"
                + (f", and {self.spooled_events} waiting event(s) / {self.spooled_snapshots} snapshot(s) of the spool"
                   if self.spooled_events or self.spooled_snapshots else ""))
        if not self.complete:
            text += "; stopped before the end (the rest goes at the next run)"
        if self.wal_pending and not self.dry_run:
            text += f"; {self.wal_pending}"
        return text


class RetentionScheduler:
    """Runs ``gate.purge_expired`` on a daemon thread: at :meth:`start`, then every ``interval_s``
    seconds until :meth:`stop`. Each run reads the settings in force, works in batches of
    ``batch_rows`` with ``pause_s`` between them, and stops between two batches when asked to.
    Errors are logged, never raised: the door goes on. ``runs`` counts finished runs (tests)."""

    def __init__(self, gate: PrivacyFacade, *, interval_s: float = DAY_S, batch_rows: int = BATCH_ROWS,
                 pause_s: float = SCHEDULED_PAUSE_S) -> None:
        if not interval_s > 0:
            raise ValueError(f"interval_s must be > 0 seconds, got {interval_s}")
        self.gate = gate
        self.interval_s = float(interval_s)
        self.batch_rows = int(batch_rows)
        self.pause_s = float(pause_s)
        self.runs = 0
        self.last: RetentionReport | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread (a no-op when running)."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="RetentionScheduler", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the thread to end (between two batches) and wait up to ``timeout`` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self.run_once()
            if self._stop.wait(self.interval_s):
                break

    def run_once(self) -> RetentionReport | None:
        """One scheduled purge (None when the settings keep everything, or it failed: logged)."""
        report: RetentionReport | None = None
        try:
            report = self.gate.purge_expired(actor=SCHEDULED_ACTOR, batch_rows=self.batch_rows,
                                             pause_s=self.pause_s, stop=self._stop, audit_empty=False)
            self.last = report
            if report is not None and report.changed:
                log.info("Retention: %s.", report.summary())
        except FaceGateError as exc:
            log.warning("Retention: expired events not deleted yet: %s", exc)
        except Exception:  # never into the door: the next run tries again
            log.exception("Retention: the purge failed")
        finally:
            self.runs += 1
        return report

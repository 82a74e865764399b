"""Events that the door decided but the database could not take yet (locked, full disk, read-only).

A door keeps deciding when its database fails. Each event it cannot write is kept, in order, in
memory and in a small spool file beside the database (``<db>.spool``, one JSON object per line, the
snapshot as base64 JPEG). :meth:`EventSpool.flush` writes them to the database in order as soon as it
accepts them again, and removes them from the spool only after their commit. A spool left by a crash
is read back on the next start. Every event carries a unique ``uid``, and the store skips a ``uid`` it
already holds, so an event written just before a crash is never written twice.

When even the spool file cannot be written (the disk is full), the events stay in memory and
``durable`` is False until the file can be written again.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from desktop_app.core.errors import FaceGateError

log = logging.getLogger(__name__)


def uuid7_hex(unix_ms: int | None = None) -> str:
    """A UUID version 7 (RFC 9562: 48-bit Unix time in ms, version, 12 + 62 random bits, variant)
    as 32 lower-case hex digits."""
    ms = (time.time_ns() // 1_000_000 if unix_ms is None else unix_ms) & ((1 << 48) - 1)
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms << 80) | (0x7 << 76) | ((rand >> 62) & 0xFFF) << 64 | (0b10 << 62) | (rand & ((1 << 62) - 1))
    return f"{value:032x}"


@dataclass(frozen=True)
class PendingEvent:
    """One decided event waiting for the database.

    uid: unique id (hex); ts: aware datetime of the decision; person_id: None for unknown; score:
    best cosine; decision: the stored decision value; camera and model_sha256: as stored;
    track_id: the face track; snapshot_jpg: the face snapshot, JPEG bytes, or None; candidates: for
    an ambiguous decision, the ids of the people the face could not be told apart from; door,
    direction, reason: the door's name, its camera's direction ("in" / "out") and the
    AccessReason value, None for a camera without a door (lines written before have none);
    liveness: for a spoof decision, the liveness check's reasons; face: see the field.
    """

    uid: str
    ts: datetime
    person_id: int | None
    score: float
    decision: str
    camera: str
    model_sha256: str
    track_id: int | None = None
    snapshot_jpg: bytes | None = None
    candidates: tuple[int, ...] = ()
    door: str | None = None
    direction: str | None = None
    reason: str | None = None
    liveness: tuple[str, ...] = ()
    #: the face behind the event (``event_faces.pack_face``), encrypted under ``uid`` in an
    #: encrypted database (``Store.seal_spooled_face``); None when it has none
    face: bytes | None = None

    @staticmethod
    def new_uid() -> str:
        """A UUIDv7 as 32 hex digits: globally unique (74 random bits) and in time order, so the
        central server's events index grows at its end (issue 13)."""
        return uuid7_hex()

    def to_line(self) -> str:
        d = asdict(self)
        d["ts"] = self.ts.isoformat()
        d["snapshot_jpg"] = base64.b64encode(self.snapshot_jpg).decode("ascii") if self.snapshot_jpg else None
        d["face"] = base64.b64encode(self.face).decode("ascii") if self.face else None
        return json.dumps(d, separators=(",", ":"))

    @classmethod
    def from_line(cls, line: str) -> PendingEvent:
        d = json.loads(line)
        snap = d.get("snapshot_jpg")
        ts = datetime.fromisoformat(d["ts"])
        if ts.tzinfo is None:
            raise ValueError("spooled event without a time zone")
        return cls(
            uid=str(d["uid"]), ts=ts,
            person_id=None if d.get("person_id") is None else int(d["person_id"]),
            score=float(d["score"]), decision=str(d["decision"]), camera=str(d["camera"]),
            model_sha256=str(d["model_sha256"]),
            track_id=None if d.get("track_id") is None else int(d["track_id"]),
            snapshot_jpg=base64.b64decode(snap) if snap else None,
            candidates=tuple(int(c) for c in d.get("candidates") or ()),
            door=None if d.get("door") is None else str(d["door"]),
            direction=None if d.get("direction") is None else str(d["direction"]),
            reason=None if d.get("reason") is None else str(d["reason"]),
            liveness=tuple(str(r) for r in d.get("liveness") or ()),
            face=base64.b64decode(d["face"]) if d.get("face") else None,
        )


class EventSpool:
    """Ordered, durable-when-possible queue of :class:`PendingEvent` beside a database file.

    Thread-safe. ``path``: the spool file (created on the first event that must wait).
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        self._pending: deque[PendingEvent] = deque()
        self._durable = True
        self._load()

    # ------------------------------------------------------------------ state
    @property
    def pending(self) -> int:
        """How many events wait for the database."""
        with self._lock:
            return len(self._pending)

    @property
    def durable(self) -> bool:
        """False while some pending events are held in memory only (the spool file could not be written)."""
        with self._lock:
            return self._durable or not self._pending

    def events(self) -> list[PendingEvent]:
        with self._lock:
            return list(self._pending)

    # ------------------------------------------------------------------ writing
    def add(self, event: PendingEvent) -> None:
        """Keep ``event`` until :meth:`flush` writes it; appended to the spool file when possible."""
        with self._lock:
            self._pending.append(event)
            if self._durable:
                try:
                    self._append_lines([event])
                except OSError as exc:
                    log.warning("Cannot write the event spool %s (%s): pending events are kept in memory.",
                                self.path, exc)
                    self._durable = False
            else:
                self._rewrite()  # try again to make everything durable

    def flush(self, write: Callable[[PendingEvent], object]) -> int:
        """Write pending events in order with ``write(event)``; stops at the first FaceGateError (the
        database still refuses) and keeps that event and the ones after it. Returns how many were written."""
        written = 0
        with self._lock:
            while self._pending:
                ev = self._pending[0]
                try:
                    write(ev)
                except FaceGateError as exc:
                    log.info("Database still refuses events (%s); %d pending.", exc, len(self._pending))
                    break
                self._pending.popleft()
                written += 1
            if written or not self._durable:
                self._rewrite()
        return written

    def drop_person(self, person_id: int) -> int:
        """Erasure: forget the waiting events that name ``person_id`` (their snapshot and face go
        with them; the flush would drop them anyway, but the spool file must not keep them until
        then); the spool file is rewritten. Returns how many were dropped."""
        with self._lock:
            kept = deque(ev for ev in self._pending if ev.person_id != person_id)
            dropped = len(self._pending) - len(kept)
            if dropped:
                self._pending = kept
                self._rewrite()
        return dropped

    def drop_expired(self, events_before: datetime | None, snapshots_before: datetime | None) -> tuple[int, int]:
        """Retention: forget the waiting events older than ``events_before`` and the snapshots of
        those older than ``snapshots_before`` (aware datetimes; None: keep); the spool file is
        rewritten. Returns (events dropped, snapshots dropped)."""
        from dataclasses import replace

        dropped = cleared = 0
        with self._lock:
            kept: deque[PendingEvent] = deque()
            for ev in self._pending:
                ts = ev.ts if ev.ts.tzinfo is not None else ev.ts.astimezone()  # naive: local time
                if events_before is not None and ts < events_before:
                    dropped += 1
                    continue
                if snapshots_before is not None and (ev.snapshot_jpg is not None or ev.face is not None) \
                        and ts < snapshots_before:  # the face (crop + embedding) expires with the snapshot
                    ev = replace(ev, snapshot_jpg=None, face=None)
                    cleared += 1
                kept.append(ev)
            if dropped or cleared:
                self._pending = kept
                self._rewrite()
        return dropped, cleared

    # ------------------------------------------------------------------ file
    def _load(self) -> None:
        if not self.path.is_file():
            return
        bad = 0
        try:
            text = self.path.read_text(encoding="utf-8")
        except OSError as exc:
            log.warning("Cannot read the event spool %s: %s", self.path, exc)
            return
        for line in text.splitlines():
            if not line.strip():
                continue
            try:
                self._pending.append(PendingEvent.from_line(line))
            except (ValueError, KeyError, TypeError) as exc:
                bad += 1  # a line cut by a crash mid-write: the events before and after it are kept
                log.warning("Skipping a damaged line of the event spool %s: %s", self.path, exc)
        if self._pending:
            log.warning("%d events from an earlier run wait in %s; they are written when the database accepts them.",
                        len(self._pending), self.path)
        if bad:
            self._rewrite()

    def _append_lines(self, events: Iterable[PendingEvent]) -> None:
        fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        try:
            os.write(fd, "".join(e.to_line() + "\n" for e in events).encode("utf-8"))
            os.fsync(fd)
        finally:
            os.close(fd)

    def _rewrite(self) -> None:
        """Make the file hold exactly the pending events (removed when none), atomically."""
        try:
            if not self._pending:
                self.path.unlink(missing_ok=True)
                self._durable = True
                return
            tmp = self.path.with_name(f"{self.path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                try:
                    os.write(fd, "".join(e.to_line() + "\n" for e in self._pending).encode("utf-8"))
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.replace(tmp, self.path)
            finally:
                tmp.unlink(missing_ok=True)
            self._durable = True
        except OSError as exc:
            log.warning("Cannot rewrite the event spool %s (%s): pending events are kept in memory.", self.path, exc)
            self._durable = False

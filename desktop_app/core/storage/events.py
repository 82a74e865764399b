"""Recognition events and the attendance (first in / last out per person per local day) they feed."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import date, datetime

import numpy as np

from desktop_app.core.protection import envelope
from desktop_app.core.protection.errors import DataDamagedError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import codecs, times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.event_faces import EventFacesMixin
from desktop_app.core.storage.records import DECISIONS, AttendanceRow, EventRecord
from desktop_app.core.storage.rows import EVENT_SELECT, event_from_row
from desktop_app.core.storage.validate import as_day, as_int, as_score, clean_text, required_text
from desktop_app.core.vocabulary import AccessReason, Decision, Direction

log = logging.getLogger(__name__)


def _check_decision(decision: object) -> str:
    if not isinstance(decision, str) or decision not in DECISIONS:
        raise ValueError(f"decision must be one of {sorted(DECISIONS)}, got {decision!r}")
    return decision


def _check_direction(direction: object) -> str | None:
    if direction is None:
        return None
    try:
        return Direction(str(direction)).value
    except ValueError:
        raise ValueError(f"direction must be 'in' or 'out', got {direction!r}") from None


def _check_reason(reason: object) -> str | None:
    if reason is None:
        return None
    try:
        return AccessReason(str(reason)).value
    except ValueError:
        raise ValueError(f"reason must be one of {[r.value for r in AccessReason]}, got {reason!r}") from None


#: How a granted passage moves the day's attendance, by the camera's direction: (first_in, last_out)
#: set from the passage's time or left NULL; NULL never replaces a time (coalesce).
_ATTENDANCE_SQL = (
    "INSERT INTO attendance (person_id, day, first_in, last_out) VALUES (?, ?, ?, ?)"
    " ON CONFLICT (person_id, day) DO UPDATE SET"
    " first_in = min(coalesce(first_in, excluded.first_in), coalesce(excluded.first_in, first_in)),"
    " last_out = max(coalesce(last_out, excluded.last_out), coalesce(excluded.last_out, last_out))"
)


class EventsMixin(EventFacesMixin):
    """Event and attendance methods of ``Store``."""

    @api("saving an event")
    def log_event(
        self,
        *,
        person_id: int | None,
        score: float,
        decision: str,
        camera: str,
        model_sha256: str,
        ts: datetime | None = None,
        snapshot: np.ndarray | None = None,
        track_id: int | None = None,
        uid: str | None = None,
        snapshot_jpg: bytes | None = None,
        wait_s: float | None = None,
        candidates: Sequence[int] = (),
        door: str | None = None,
        direction: str | None = None,
        reason: str | None = None,
        liveness: Sequence[str] = (),
        face: bytes | None = None,
    ) -> int:
        """Record a recognition event; returns its id.

        decision: "granted", "unknown", "denied" or "ambiguous"; "ambiguous" has no person and
        names ``candidates``, the ids of the two people the face matched too closely to tell apart
        (kept as ``{"candidates": [...]}`` in ``detail_json``; only it may name them); "granted"
        needs a person and moves that person's first-in / last-out of the local day of ``ts``:
        both without a ``direction``, only first-in for "in", only last-out for "out".
        door: the door's name (None: a camera without a door); direction: "in" or "out", the way
        the camera faces; reason: an AccessReason value ("granted", "outside schedule", ...);
        liveness: for a "spoof" event, the liveness check's reasons in words (kept as
        ``{"liveness": [...]}`` in ``detail_json``; only a spoof event has them).
        score: cosine similarity of the best match; ts: when (default now; naive means local
        time); snapshot: small (H, W, 3) uint8 BGR image, stored as JPEG (shrunk to 320 px on the
        longer side at most), or ``snapshot_jpg``, one already encoded (the event spool's, possibly
        encrypted for the spool by ``seal_spooled_snapshot``; one that no longer decrypts is dropped
        with a warning, the event kept).
        uid: the event's unique id (generated when None); an event whose uid is already stored is
        not written again, and the stored one's id is returned. wait_s: wait at most this long
        (seconds, capped at the store's timeout) for another program's write lock, instead of the
        store's timeout (the door loop spools the event rather than stall). face: the face behind
        the event (``event_faces.pack_face``, possibly encrypted for the spool under ``uid`` by
        ``seal_spooled_face``), stored encrypted in ``event_faces`` with the event. StorageError
        when the person does not exist.
        """
        kind = _check_decision(decision)
        pid = None if person_id is None else as_int(person_id, "person_id")
        if kind == "granted" and pid is None:
            raise ValueError("a 'granted' event needs the person_id of who was let in")
        cands = [as_int(c, "candidate person_id") for c in candidates]
        if kind == Decision.AMBIGUOUS and pid is not None:
            raise ValueError("an 'ambiguous' event lets nobody in: it names candidates, not a person")
        if cands and (kind != Decision.AMBIGUOUS or len(cands) < 2):
            raise ValueError("only an 'ambiguous' event names candidates, two or more")
        why_not_live = [required_text(r, "liveness reason") for r in liveness]
        if why_not_live and kind != Decision.SPOOF:
            raise ValueError("only a 'spoof' event carries liveness reasons")
        detail = (codecs.to_json({"candidates": cands}, "event details") if cands
                  else codecs.to_json({"liveness": why_not_live}, "event details") if why_not_live else None)
        value = as_score(score)
        cam = required_text(camera, "camera")
        model = required_text(model_sha256, "model_sha256")
        key = uuid.uuid4().hex if uid is None else required_text(uid, "uid")
        when = times.aware(ts, self.local_tz) if ts is not None else datetime.now().astimezone()
        track = None if track_id is None else as_int(track_id, "track_id")
        if snapshot is not None and snapshot_jpg is not None:
            raise ValueError("give the snapshot as an image or as JPEG bytes, not both")
        if snapshot_jpg is not None and not isinstance(snapshot_jpg, bytes | bytearray):
            raise ValueError(f"snapshot_jpg must be bytes, got {type(snapshot_jpg).__name__}")
        jpeg = bytes(snapshot_jpg) if snapshot_jpg is not None else (
            None if snapshot is None else codecs.encode_snapshot(snapshot))
        if jpeg is not None and envelope.is_sealed(jpeg):  # encrypted for the spool under the event's uid
            try:
                jpeg = self._unseal(SealedField.SPOOLED_SNAPSHOT, key, jpeg, f"the snapshot of spooled event {key}")
            except DataDamagedError as exc:
                log.warning("%s; the event is stored without it.", exc)
                jpeg = None
        where = clean_text(door, "door", required=False)
        way = _check_direction(direction)
        why = _check_reason(reason)
        stamp = times.to_db(when)
        ref = None if pid is None else f"person-{pid}"
        with self._waiting_at_most(wait_s), self.transaction():
            done = self.db.execute("SELECT id FROM events WHERE uid = ?", (key,)).fetchone()
            if done is not None:  # written before a crash, then offered again from the spool
                return int(done[0])
            if pid is not None:
                self._require_person(pid)
            event_id = None if jpeg is None else self._next_id("events")  # a snapshot is bound to its row id
            snap = None if jpeg is None or event_id is None else self._seal(SealedField.EVENT_SNAPSHOT, event_id, jpeg)
            cur = self.db.execute(
                "INSERT INTO events (id, ts, person_id, person_ref, score, decision, camera, model_sha256,"
                " track_id, snapshot_jpg, uid, detail_json, door, direction, reason)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (event_id, stamp, pid, ref, value, kind, cam, model, track, snap, key, detail, where, way, why),
            )
            if face is not None:
                self._put_event_face(as_int(cur.lastrowid, "new event id"), key, model, face)
            if kind == "granted":
                day = times.local_day(when, self.local_tz).isoformat()
                self.db.execute(_ATTENDANCE_SQL, (pid, day, None if way == Direction.OUT else stamp,
                                                  None if way == Direction.IN else stamp))
            return as_int(cur.lastrowid, "new event id")

    @contextmanager
    def _waiting_at_most(self, wait_s: float | None) -> Iterator[None]:
        """Within the block, wait at most ``wait_s`` seconds (never more than ``timeout_s``) for
        another connection's lock; the store's own timeout is restored after."""
        if wait_s is None or wait_s >= self.timeout_s:
            yield
            return
        conn = self.db.conn
        full = self.timeout_s
        conn.execute(f"PRAGMA busy_timeout = {max(0, round(wait_s * 1000))}")
        self.timeout_s = max(0.0, wait_s)  # what the error message says was waited
        try:
            yield
        finally:
            self.timeout_s = full
            conn.execute(f"PRAGMA busy_timeout = {round(full * 1000)}")

    @api("looking up an event")
    def event_id_of(self, uid: str) -> int | None:
        """The id of the event stored with this ``uid``, or None."""
        row = self.db.execute("SELECT id FROM events WHERE uid = ?", (required_text(uid, "uid"),)).fetchone()
        return None if row is None else int(row[0])

    def _event_filter(
        self,
        start: datetime | None,
        end: datetime | None,
        person_id: int | None,
        decision: str | None,
        door: str | None = None,
        reason: str | None = None,
    ) -> tuple[str, list[object]]:
        """WHERE clause (or "") and parameters for events with ``start <= ts < end``."""
        where: list[str] = []
        params: list[object] = []
        if start is not None:
            where.append("e.ts >= ?")
            params.append(times.to_db(start, self.local_tz))
        if end is not None:
            where.append("e.ts < ?")
            params.append(times.to_db(end, self.local_tz))
        if person_id is not None:
            where.append("e.person_id = ?")
            params.append(as_int(person_id, "person_id"))
        if decision is not None:
            where.append("e.decision = ?")
            params.append(_check_decision(decision))
        if door is not None:
            where.append("e.door = ? COLLATE NOCASE")
            params.append(required_text(door, "door"))
        if reason is not None:
            where.append("e.reason = ?")
            params.append(_check_reason(reason))
        return (" WHERE " + " AND ".join(where) if where else ""), params

    @api("reading events")
    def query_events(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        person_id: int | None = None,
        decision: str | None = None,
        limit: int | None = None,
        offset: int = 0,
        door: str | None = None,
        reason: str | None = None,
    ) -> list[EventRecord]:
        """Events with ``start <= ts < end`` (either bound optional; naive = local time), of one
        person, one decision, one door (name, any case) and/or one reason (AccessReason value),
        newest first, paged by ``limit`` / ``offset``."""
        where, params = self._event_filter(start, end, person_id, decision, door, reason)
        lim = -1 if limit is None else as_int(limit, "limit")
        off = as_int(offset, "offset")
        if (limit is not None and lim < 0) or off < 0:
            raise ValueError("limit and offset must not be negative")
        sql = f"{EVENT_SELECT}{where} ORDER BY e.ts DESC, e.id DESC LIMIT ? OFFSET ?"
        return [event_from_row(row) for row in self.db.query(sql, [*params, lim, off])]

    @api("counting events")
    def count_events(
        self,
        *,
        start: datetime | None = None,
        end: datetime | None = None,
        person_id: int | None = None,
        decision: str | None = None,
        door: str | None = None,
        reason: str | None = None,
    ) -> int:
        """Number of events matching the filters of ``query_events``."""
        where, params = self._event_filter(start, end, person_id, decision, door, reason)
        return int(self.db.execute(f"SELECT count(*) FROM events e{where}", params).fetchone()[0])

    @api("reading an event snapshot")
    def event_snapshot(self, event_id: int) -> np.ndarray | None:
        """The event's snapshot, (H, W, 3) uint8 BGR; None when it has none (or was erased, or
        there is no such event)."""
        eid = as_int(event_id, "event_id")
        row = self.db.execute("SELECT snapshot_jpg FROM events WHERE id = ?", (eid,)).fetchone()
        if row is None or row[0] is None:
            return None
        return codecs.decode_snapshot(self._unseal(SealedField.EVENT_SNAPSHOT, eid, bytes(row[0]),
                                                   f"the snapshot of event {eid}"))

    def seal_spooled_snapshot(self, uid: str, jpeg: bytes) -> bytes:
        """``jpeg`` encrypted for the event spool under the event's ``uid`` (unchanged when the
        database is not encrypted); ``log_event`` decrypts it when the event is written. Reads
        nothing from the database (the spool is for when the database cannot be used)."""
        with self._lock:
            self._require_unlocked()
            keys = self._keys
            return bytes(jpeg) if keys is None else keys.seal(SealedField.SPOOLED_SNAPSHOT, required_text(uid, "uid"),
                                                              bytes(jpeg))

    @api("reading attendance")
    def attendance(self, day_from: date, day_to: date, person_id: int | None = None) -> list[AttendanceRow]:
        """First-in / last-out of local days ``day_from..day_to`` (both included), by day then name.

        A day appears for a person when at least one "granted" event fell on it (local time); an
        entry camera gives only its first in, an exit camera only its last out (see AttendanceRow).
        """
        first = as_day(day_from, "day_from")
        last = as_day(day_to, "day_to")
        if first > last:
            raise ValueError(f"day_from {first} is after day_to {last}")
        sql = (
            "SELECT a.person_id, p.name, a.day, a.first_in, a.last_out FROM attendance a"
            " JOIN people p ON p.id = a.person_id WHERE a.day BETWEEN ? AND ?"
        )
        params: list[object] = [first.isoformat(), last.isoformat()]
        if person_id is not None:
            sql += " AND a.person_id = ?"
            params.append(as_int(person_id, "person_id"))
        sql += " ORDER BY a.day, p.name_key, a.person_id"
        out: list[AttendanceRow] = []
        for row in self.db.query(sql, params):
            first_in = None if row["first_in"] is None else times.from_db(row["first_in"])
            last_out = None if row["last_out"] is None else times.from_db(row["last_out"])
            hours = None
            if first_in is not None and last_out is not None and last_out >= first_in:
                hours = (last_out - first_in).total_seconds() / 3600.0
            out.append(
                AttendanceRow(
                    person_id=int(row["person_id"]),
                    name=str(row["name"]),
                    day=date.fromisoformat(row["day"]),
                    first_in=first_in,
                    last_out=last_out,
                    hours=hours,
                )
            )
        return out

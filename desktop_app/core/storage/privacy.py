"""Store work for privacy (issue 12): retention (expired events and snapshots deleted in bounded
batches, the write-ahead log truncated after) and the reads of a subject access export (one
person's crops and snapshots as the stored PNG / JPEG bytes, decrypted; their templates' metadata;
the ambiguous events that name them as a candidate).

Deleted rows leave no copy in the database file: ``secure_delete`` is on (see store.py), so SQLite
overwrites the freed cells and pages with zeros; the pages' older copies in the write-ahead log go
when it is checkpointed and truncated (``checkpoint_truncate``), as for an erasure (purge.py).

A door that syncs with a central server keeps an expired event until the server has it (it is
still in the outbox: ``central_pushed`` NULL): a door cut off for longer than its retention limit
loses no event; the purge after the next push deletes it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from desktop_app.core.errors import StorageError
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.storage import times
from desktop_app.core.storage.base import api
from desktop_app.core.storage.events import EventsMixin
from desktop_app.core.storage.purge import PurgeMixin
from desktop_app.core.storage.records import EventRecord
from desktop_app.core.storage.rows import EVENT_SELECT, event_from_row
from desktop_app.core.storage.validate import as_int


@dataclass(frozen=True)
class TemplateInfo:
    """A stored template, without its vector: sample, model (sha256), dimensions, when made (UTC)."""

    sample_id: int
    model_sha256: str
    dim: int
    created_at: datetime


def _cutoff(ts: datetime | None, what: str) -> str | None:
    if ts is None:
        return None
    if ts.tzinfo is None:
        raise ValueError(f"the {what} cutoff must be an aware datetime")
    return times.to_db(ts)


class PrivacyStoreMixin(EventsMixin, PurgeMixin):
    """Retention and subject-access reads of ``Store`` (see the module docstring)."""

    def _expired_events_clause(self) -> str:
        """The SQL condition that keeps events still waiting for the central server (a node)."""
        node = self.db.execute("SELECT 1 FROM central_state WHERE key = 'node_uid'").fetchone()
        return " AND central_pushed IS NOT NULL" if node else ""

    @api("counting expired events")
    def count_expired(self, events_before: datetime | None, snapshots_before: datetime | None) -> tuple[int, int]:
        """(events older than ``events_before``, snapshots of the remaining events older than
        ``snapshots_before``); a None cutoff counts 0. Cutoffs are aware datetimes."""
        ev = _cutoff(events_before, "events")
        sn = _cutoff(snapshots_before, "snapshots")
        n_events = 0 if ev is None else int(self.db.execute(
            "SELECT count(*) FROM events WHERE ts < ?" + self._expired_events_clause(), (ev,)).fetchone()[0])
        n_snaps = 0
        if sn is not None:
            sql = ("SELECT count(*) FROM events e WHERE ts < ? AND (snapshot_jpg IS NOT NULL"
                   " OR EXISTS (SELECT 1 FROM event_faces f WHERE f.event_id = e.id))")
            params: list[object] = [sn]
            if ev is not None:
                sql += " AND ts >= ?"
                params.append(ev)
            n_snaps = int(self.db.execute(sql, params).fetchone()[0])
        return n_events, n_snaps

    @api("deleting expired events")
    def purge_expired_batch(self, events_before: datetime | None, snapshots_before: datetime | None,
                            limit: int, wait_s: float | None = None) -> tuple[int, int, int]:
        """In one short transaction, delete at most ``limit`` events older than ``events_before``
        and clear at most ``limit`` snapshots of events older than ``snapshots_before`` (oldest
        first), with the faces kept with those events (``event_faces``; deleted events lose theirs
        by the foreign key's cascade). Returns (events deleted, of them with a snapshot, events
        whose snapshot or face was cleared). ``wait_s``:
        wait at most this long (seconds) for another program's write lock (StorageError after).
        Attendance rows are left alone."""
        n = as_int(limit, "limit")
        if n < 1:
            raise ValueError("limit must be at least 1")
        ev = _cutoff(events_before, "events")
        sn = _cutoff(snapshots_before, "snapshots")
        with self._waiting_at_most(wait_s), self.transaction():
            deleted = with_snap = cleared = 0
            if ev is not None:
                ids = [int(r[0]) for r in self.db.execute(
                    "SELECT id FROM events WHERE ts < ?" + self._expired_events_clause() + " ORDER BY ts, id LIMIT ?",
                    (ev, n)).fetchall()]
                if ids:
                    marks = ",".join("?" * len(ids))
                    with_snap = int(self.db.execute(
                        f"SELECT count(*) FROM events WHERE snapshot_jpg IS NOT NULL AND id IN ({marks})",
                        ids).fetchone()[0])
                    deleted = self.db.execute(f"DELETE FROM events WHERE id IN ({marks})", ids).rowcount
            if sn is not None:  # the event's face (event_faces: crop + embedding) expires with its snapshot
                ids = [int(r[0]) for r in self.db.execute(
                    "SELECT id FROM events e WHERE ts < ? AND (snapshot_jpg IS NOT NULL OR EXISTS"
                    " (SELECT 1 FROM event_faces f WHERE f.event_id = e.id)) ORDER BY ts, id LIMIT ?",
                    (sn, n)).fetchall()]
                if ids:
                    marks = ",".join("?" * len(ids))
                    self.db.execute(f"UPDATE events SET snapshot_jpg = NULL WHERE id IN ({marks})", ids)
                    self.db.execute(f"DELETE FROM event_faces WHERE event_id IN ({marks})", ids)
                cleared = len(ids)
            return deleted, with_snap, cleared

    @api("recording a retention purge")
    def audit_purge(self, actor: str, details: dict[str, object]) -> None:
        """Write the audit row of a retention purge (action ``retention.purge``)."""
        with self.transaction():
            self._insert_audit(actor, "retention.purge", details)

    def checkpoint_truncate(self, wait_s: float) -> str | None:
        """Checkpoint the write-ahead log into the file and truncate it (the deleted rows' older
        page copies go with it), waiting at most ``wait_s`` seconds for readers; None when done,
        else why not (retried at the next purge or erasure)."""
        with self._lock:
            return self._try_checkpoint(wait_s)

    # ------------------------------------------------------------------ subject access
    @api("reading a face crop")
    def sample_crop_png(self, sample_id: int) -> bytes:
        """The sample's aligned crop as the stored PNG bytes, decrypted; StorageError when missing."""
        sid = as_int(sample_id, "sample_id")
        row = self.db.execute("SELECT crop_png FROM samples WHERE id = ?", (sid,)).fetchone()
        if row is None:
            raise StorageError(f"There is no face sample with id {sid}")
        return self._unseal(SealedField.SAMPLE_CROP, sid, bytes(row[0]), f"the face crop of sample {sid}")

    @api("reading an event snapshot")
    def event_snapshot_jpeg(self, event_id: int) -> bytes | None:
        """The event's snapshot as the stored JPEG bytes, decrypted; None when it has none."""
        eid = as_int(event_id, "event_id")
        row = self.db.execute("SELECT snapshot_jpg FROM events WHERE id = ?", (eid,)).fetchone()
        if row is None or row[0] is None:
            return None
        return self._unseal(SealedField.EVENT_SNAPSHOT, eid, bytes(row[0]), f"the snapshot of event {eid}")

    @api("reading a person's templates")
    def template_info(self, person_id: int) -> list[TemplateInfo]:
        """Metadata of every template of the person's samples (no vectors), by sample then model."""
        pid = as_int(person_id, "person_id")
        rows = self.db.execute(
            "SELECT t.sample_id, t.model_sha256, t.dim, t.created_at FROM templates t JOIN samples s"
            " ON s.id = t.sample_id WHERE s.person_id = ? ORDER BY t.sample_id, t.model_sha256", (pid,)).fetchall()
        return [TemplateInfo(int(r[0]), str(r[1]), int(r[2]), times.from_db(str(r[3]))) for r in rows]

    @api("reading the events naming a person as a candidate")
    def candidate_events(self, person_id: int) -> list[EventRecord]:
        """Ambiguous events whose face matched this person and another too closely (the person is
        one of their ``candidates``), oldest first."""
        pid = as_int(person_id, "person_id")
        sql = (f"{EVENT_SELECT} WHERE e.decision = 'ambiguous' AND json_valid(e.detail_json) AND EXISTS ("
               "SELECT 1 FROM json_each(e.detail_json, '$.candidates') j WHERE j.value = ?) ORDER BY e.ts, e.id")
        return [event_from_row(row) for row in self.db.query(sql, [pid])]

    @api("reading corrected events")
    def corrected_events(self, person_id: int) -> list[EventRecord]:
        """Events that named someone else or nobody, corrected as this person ("this was", a
        ``was_person`` correction: their face, by an admin's word), oldest first."""
        pid = as_int(person_id, "person_id")
        sql = (f"{EVENT_SELECT} WHERE (e.person_id IS NULL OR e.person_id != ?) AND EXISTS ("
               "SELECT 1 FROM corrections c WHERE c.event_id = e.id AND c.true_person_id = ?) ORDER BY e.ts, e.id")
        return [event_from_row(row) for row in self.db.query(sql, [pid, pid])]

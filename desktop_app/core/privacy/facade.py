"""The privacy operations of the ``FaceGate`` facade (a base class of ``FaceGate``): retention
(``purge_expired``), the subject access export (``export_person``) and the door screen's
rendering of a name (``door_display``). Each change is audited with its ``actor``; the store's
part is ``storage.privacy.PrivacyStoreMixin``."""

from __future__ import annotations

import threading
import time
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.errors import InputError
from desktop_app.core.privacy.display import DoorDisplay, shown_name
from desktop_app.core.privacy.retention import BATCH_ROWS, RetentionCutoffs, RetentionReport
from desktop_app.core.privacy.subject import (
    README,
    VECTORS_IN,
    VECTORS_OUT,
    SubjectExport,
    ZipBuilder,
    csv_text,
    json_text,
)
from desktop_app.core.storage.audit_filter import AuditFilter
from desktop_app.core.storage.codecs import encode_crop

if TYPE_CHECKING:
    from desktop_app.core.access.model import PersonAccess
    from desktop_app.core.config import AppConfig, RetentionSettings
    from desktop_app.core.storage.event_spool import EventSpool
    from desktop_app.core.storage.records import AuditRow, Person
    from desktop_app.core.storage.store import Store

#: Seconds a purge waits for another program's write lock per batch, and for readers at the checkpoint.
PURGE_WAIT_S = 0.5


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else ts.astimezone().isoformat(timespec="seconds")


class PrivacyFacade:
    """Retention, subject access and kiosk privacy methods of ``FaceGate`` (module docstring)."""

    store: Store
    config: AppConfig
    db_path: Path
    _lock: threading.RLock

    def _event_spool(self) -> EventSpool:  # FaceGate's
        raise NotImplementedError

    def get_person(self, person_id: int) -> Person | None:  # FaceGate's
        raise NotImplementedError

    def person_access(self, person_id: int) -> PersonAccess | None:  # FaceGate's
        raise NotImplementedError

    def query_audit(self, flt: AuditFilter | None = None) -> list[AuditRow]:  # FaceGate's
        raise NotImplementedError

    # ------------------------------------------------------------------ kiosk privacy
    @property
    def door_display(self) -> DoorDisplay:
        """What the door screen shows of a person (settings ``door_screen.display``)."""
        return self.config.door_screen.display

    def door_name(self, name: str | None) -> str | None:
        """``name`` as the door screen shows it: full, initials, or None (see ``DoorDisplay``)."""
        return shown_name(name, self.door_display)

    # ------------------------------------------------------------------ retention
    def purge_expired(self, *, actor: str = "admin", dry_run: bool = False, now: datetime | None = None,
                      settings: RetentionSettings | None = None, batch_rows: int = BATCH_ROWS,
                      pause_s: float = 0.0, stop: threading.Event | None = None,
                      audit_empty: bool = True) -> RetentionReport:
        """Delete the events and snapshots older than the retention limits (``settings``, default
        the ones in force) at ``now`` (aware; default now), in the database and the event spool,
        in transactions of at most ``batch_rows`` rows with ``pause_s`` seconds between them;
        ``stop`` set: end between two batches (``complete`` False). Then the write-ahead log is
        truncated. Audited as ``retention.purge`` (cutoffs and counts) when anything was deleted,
        or always with ``audit_empty``. ``dry_run``: count only, change and audit nothing.
        Attendance is kept. StorageError when the database cannot be written."""
        rules = settings if settings is not None else self.config.retention
        when = now if now is not None else datetime.now(UTC)
        cut = RetentionCutoffs.of(rules, when)
        if not cut.active:
            return RetentionReport(cut, dry_run)
        with self._lock:  # made on first use: the door's thread may be making it too
            spool = self._event_spool()
        if dry_run:
            n_ev, n_snap = self.store.count_expired(cut.events_before, cut.snapshots_before)
            with_snap = self.store.count_expired(None, cut.events_before)[1] if cut.events_before else 0
            waiting = [(e.ts if e.ts.tzinfo is not None else e.ts.astimezone(), e) for e in spool.events()]
            sp_ev = sum(1 for ts, _e in waiting if cut.events_before is not None and ts < cut.events_before)
            sp_sn = sum(1 for ts, e in waiting if e.snapshot_jpg is not None and cut.snapshots_before is not None
                        and ts < cut.snapshots_before
                        and not (cut.events_before is not None and ts < cut.events_before))
            return RetentionReport(cut, True, events_deleted=n_ev, snapshots_deleted=n_snap + with_snap,
                                   spooled_events=sp_ev, spooled_snapshots=sp_sn)
        events = snaps = batches = 0
        complete = True
        while True:
            if stop is not None and stop.is_set():
                complete = False
                break
            deleted, with_snap, cleared = self.store.purge_expired_batch(
                cut.events_before, cut.snapshots_before, batch_rows, wait_s=PURGE_WAIT_S)
            batches += 1
            events += deleted
            snaps += with_snap + cleared
            if deleted < batch_rows and cleared < batch_rows:
                break
            if pause_s > 0:
                if stop is not None:
                    stop.wait(pause_s)
                else:
                    time.sleep(pause_s)
        sp_ev, sp_sn = spool.drop_expired(cut.events_before, cut.snapshots_before)
        wal = self.store.checkpoint_truncate(PURGE_WAIT_S) if events or snaps else None
        report = RetentionReport(cut, False, events_deleted=events, snapshots_deleted=snaps, spooled_events=sp_ev,
                                 spooled_snapshots=sp_sn, batches=batches, complete=complete, wal_pending=wal)
        if report.changed or audit_empty:
            self.store.audit_purge(actor, {**report.audit_details(), "batches": batches})
        return report

    # ------------------------------------------------------------------ subject access
    def export_person(self, person_id: int, out: Path, *, actor: str = "admin",
                      include_vectors: bool = False) -> SubjectExport:
        """Write everything held about one person to the zip ``out`` (layout: ``privacy.subject``),
        0600, atomically (temporary file, audit row, then rename); audited as ``person.export``.
        include_vectors: add the template vectors themselves (off by default: see
        docs/data-protection.md). InputError when there is no such person; DataLockedError while
        the face data is locked; OSError when the file cannot be written (nothing is left)."""
        # Not under the facade's lock: the door (same process) keeps writing its events meanwhile;
        # each read takes the store's lock for itself.
        person = self.get_person(person_id)
        if person is None:
            raise InputError(f"There is no person with id {person_id}.")
        target = Path(out)
        zb = ZipBuilder(target)
        try:
            exported = self._write_subject(zb, person, actor, include_vectors)
            zb.finish()
            result = SubjectExport(path=target, person_id=person.id, vectors=include_vectors,
                                   files=tuple(zb.names), **exported)
            with self._lock:  # short: an erasure (which holds it) cannot slip between the check and the row
                if self.store.get_person(person.id) is None:  # erased while it was written: no file, no named row
                    raise InputError("The person was erased while the export was written; nothing was exported.")
                self.store.audit(actor, "person.export", {"person_id": person.id, "name": person.name,
                                                          "file": str(target), **result.describe()})
                zb.commit()
        except BaseException:
            zb.abort()
            raise
        return result

    def _write_subject(self, zb: ZipBuilder, person: Person, actor: str, vectors: bool) -> dict[str, int]:
        store = self.store
        access = self.person_access(person.id)
        record = {
            "id": person.id, "name": person.name, "employee_id": person.employee_id,
            "department": person.department, "active": person.active,
            "created_at": _iso(person.created_at), "updated_at": _iso(person.updated_at),
            "access": None if access is None else {
                "groups": sorted(access.groups),
                "valid_from": None if access.valid_from is None else access.valid_from.isoformat(),
                "valid_until": None if access.valid_until is None else access.valid_until.isoformat()},
        }
        made = datetime.now(UTC).isoformat(timespec="seconds")
        zb.add("README.txt", README.format(made=made, db=self.db_path, actor=actor,
                                           vectors=VECTORS_IN if vectors else VECTORS_OUT))
        zb.add("person.json", json_text(record))
        samples = store.list_samples(person.id)
        zb.add("samples.json", json_text([{"id": s.id, "file": f"samples/sample-{s.id}.png", "source": s.source,
                                          "created_at": _iso(s.created_at), "quality": dict(s.quality),
                                          "models": list(s.models)} for s in samples]))
        for s in samples:
            zb.add(f"samples/sample-{s.id}.png", store.sample_crop_png(s.id), compress=False)
        infos = store.template_info(person.id)
        names = {m.sha256: m.name for m in store.list_models()}
        zb.add("templates.json", json_text([
            {"sample_id": t.sample_id, "model_sha256": t.model_sha256, "model": names.get(t.model_sha256),
             "dim": t.dim, "created_at": _iso(t.created_at),
             "vector_file": f"templates/sample-{t.sample_id}-{t.model_sha256[:12]}.json" if vectors else None}
            for t in infos]))
        if vectors:
            mine = {s.id for s in samples}
            for model in sorted({t.model_sha256 for t in infos}):
                ids, _persons, vecs = store.templates(model, active_only=False)
                for sid, vec in zip(ids.tolist(), np.asarray(vecs, np.float32), strict=True):
                    if sid in mine:
                        zb.add(f"templates/sample-{sid}-{model[:12]}.json",
                               json_text({"sample_id": sid, "model_sha256": model,
                                          "vector": [round(float(v), 7) for v in vec]}))
        own = store.query_events(person_id=person.id)
        cands = store.candidate_events(person.id)
        rows = []
        n_snaps = 0
        corrected = store.corrected_events(person.id)
        for role, ev in ([("subject", e) for e in reversed(own)] + [("candidate", e) for e in cands]
                         + [("corrected", e) for e in corrected]):
            snap = store.event_snapshot_jpeg(ev.id) if ev.has_snapshot else None
            name = None
            if snap is not None:
                name = f"snapshots/event-{ev.id}.jpg"
                zb.add(name, snap, compress=False)
                n_snaps += 1
            face = store.event_face(ev.id)  # the aligned crop kept with the event (event_faces), decrypted
            if face is not None:
                zb.add(f"faces/event-{ev.id}.png", encode_crop(face.crop), compress=False)
            rows.append((ev.id, _iso(ev.ts), role, ev.decision, ev.reason, ev.door, ev.camera, ev.direction,
                         f"{ev.score:.4f}", name))
        zb.add("events.csv", csv_text(("event_id", "time", "role", "decision", "reason", "door", "camera",
                                       "direction", "score", "snapshot"), rows))
        days = store.attendance(date(1970, 1, 1), date(9999, 12, 31), person.id)
        zb.add("attendance.csv", csv_text(("day", "first_in", "last_out", "hours"), [
            (a.day.isoformat(), _iso(a.first_in), _iso(a.last_out), None if a.hours is None else f"{a.hours:.2f}")
            for a in days]))
        audit = self.query_audit(AuditFilter(person=person.name, person_ids=(person.id,)))
        zb.add("audit.csv", csv_text(("id", "time", "actor", "action", "details"), [
            (r.id, _iso(r.ts), r.actor, r.action, json_text(dict(r.details)).strip()) for r in reversed(audit)]))
        return {"samples": len(samples), "templates": len(infos), "events": len(rows), "snapshots": n_snaps,
                "attendance_days": len(days), "audit_rows": len(audit)}

"""The corrections part of the ``FaceGate`` facade (a base class of ``FaceGate``): correct an event,
withdraw a correction, the false-accept / false-reject dashboard, the corrected faces for the
trainer, and the template refresh. Who may call what is the caller's check (accounts: correcting
and refreshing need ``Action.ENROL``, the dashboard ``Action.VIEW_EVENTS``); every change is audited
with its ``actor``. See docs/corrections.md.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.corrections import refresh
from desktop_app.core.corrections.records import (
    Correction,
    CorrectionFace,
    CorrectionKind,
    FaceRole,
    PersonCorrections,
    RefreshCandidate,
    RefreshReport,
)
from desktop_app.core.errors import InputError
from desktop_app.core.storage.corrections import AUTO_SOURCE

if TYPE_CHECKING:
    from desktop_app.core.config import AppConfig
    from desktop_app.core.matching.gallery import Gallery
    from desktop_app.core.storage.records import ModelRecord
    from desktop_app.core.storage.store import Store
    from desktop_app.core.types import Calibration, PersonMatch

log = logging.getLogger(__name__)


class CorrectionsFacade:
    """Correction and template-refresh methods of ``FaceGate`` (see the module docstring)."""

    store: Store
    _lock: threading.RLock
    gallery: Gallery
    model: ModelRecord
    config: AppConfig

    if TYPE_CHECKING:
        @property
        def threshold(self) -> float: ...

        def match(self, embeddings: np.ndarray) -> list[PersonMatch | None]: ...

        def embed_crops(self, crops: np.ndarray) -> np.ndarray: ...

        def recalibrate(self) -> Calibration | None: ...

        def _persist_gallery(self, gallery: Gallery | None = None) -> None: ...

    # ------------------------------------------------------------------ corrections
    def correct_event(self, event_id: int, *, not_person: bool = False, was: int | None = None,
                      actor: str = "admin", note: str | None = None) -> Correction:
        """Say what event ``event_id`` really was: ``not_person=True`` ("not this person": the
        person it named was wrong) or ``was=<person id>`` ("this was X"). Replaces an earlier
        correction of the event. An automatic template made from the event's face is taken back
        (``template.auto.undo``). Audited (``correction.add`` / ``correction.replace``). InputError
        for a contradictory or pointless verdict or a missing event."""
        if not_person == (was is not None):
            raise InputError("Give exactly one verdict: 'not this person' or 'this was <person>'.")
        kind = CorrectionKind.NOT_PERSON if not_person else CorrectionKind.WAS_PERSON
        with self._lock:
            with self.store.transaction():
                made = self.store.add_correction(event_id, kind, actor, person_id=was, note=note)
                undone = self._undo_auto_templates(int(event_id), actor)
            if undone:
                self.gallery.remove_templates(undone)
                self._persist_gallery()
                self.recalibrate()
            return made

    def _undo_auto_templates(self, event_id: int, actor: str) -> list[int]:
        """Delete the automatic templates made from ``event_id`` (inside the caller's transaction)."""
        found = [(sid, pid) for sid, pid, eid, _ts in self.store.auto_samples() if eid == event_id]
        for sid, pid in found:
            self.store.delete_sample(sid)
            self.store.audit(actor, "template.auto.undo", {"event_id": event_id, "sample_id": sid, "person_id": pid,
                                                           "why": "the event was corrected"})
        return [sid for sid, _ in found]

    def withdraw_correction(self, event_id: int, actor: str = "admin") -> bool:
        """Take back the correction of an event (audited ``correction.withdraw``); False when it had none."""
        with self._lock:
            return self.store.withdraw_correction(event_id, actor)

    def correction_of(self, event_id: int) -> Correction | None:
        """The correction of an event, None when it has none."""
        with self._lock:
            return self.store.correction_of(event_id)

    def corrections(self, person_id: int | None = None, limit: int | None = None) -> list[Correction]:
        """Corrections about one person (either side) or everyone, newest first."""
        with self._lock:
            return self.store.list_corrections(person_id, limit)

    def correction_dashboard(self, everyone: bool = False) -> list[PersonCorrections]:
        """False accepts and false rejects per person, with their granted events and rates
        (:class:`PersonCorrections`): people with a correction, or ``everyone``."""
        with self._lock:
            return self.store.correction_counts(everyone)

    def correction_faces(self) -> list[CorrectionFace]:
        """The faces of the corrected events, labelled for the trainer: a positive for the person a
        ``was_person`` correction names, a hard negative for the person an event wrongly named.
        Events whose face is not stored (older than face storage, erased, deleted) are left out."""
        with self._lock:
            out: list[CorrectionFace] = []
            for c in reversed(self.store.list_corrections()):  # oldest first: a stable order
                if c.event_id is None:
                    continue
                face = self.store.event_face(c.event_id)
                if face is None:
                    continue
                sides = [(FaceRole.POSITIVE, c.true_person_id, c.true_name),
                         (FaceRole.NEGATIVE, c.wrong_person_id, c.wrong_name)]
                for role, pid, name in sides:
                    if pid is not None and name is not None:
                        out.append(CorrectionFace(correction_id=c.id, event_id=c.event_id, role=role, person_id=pid,
                                                  person_name=name, model_sha256=face.model_sha256, crop=face.crop,
                                                  vector=face.vector))
            return out

    # ------------------------------------------------------------------ template refresh
    def refresh_templates(self, actor: str = "facegate", *, now: datetime | None = None,
                          dry_run: bool = False) -> RefreshReport:
        """Promote the door captures that pass the template-refresh policy
        (``config.template_refresh``; rules in :mod:`desktop_app.core.corrections.refresh`) to
        automatic templates, each audited (``template.auto.add``, with the replaced sample).

        Candidates: granted events of the active model's faces, younger than ``max_age_days``,
        never corrected, not yet promoted; those younger than ``holding_hours`` are ``held`` (a
        correction may still come). ``now``: the time to judge ages by (aware; default: now).
        ``dry_run`` changes nothing and works while the refresh is off (a preview); otherwise
        InputError when ``template_refresh.enabled`` is off."""
        settings = self.config.template_refresh
        if not dry_run and not settings.enabled:
            raise InputError("The template refresh is off (setting template_refresh.enabled); nothing was changed.")
        when = (now or datetime.now(UTC)).astimezone(UTC)
        hold_until = when - timedelta(hours=settings.holding_hours)
        with self._lock:
            since = when - timedelta(days=settings.max_age_days)
            events = self.store.refresh_candidate_events(self.model.sha256, since)
            _ids, persons, vectors = self.store.templates(self.model.sha256)
            own: dict[int, list[np.ndarray]] = {}
            for pid, vec in zip(persons.tolist(), vectors, strict=True):
                own.setdefault(int(pid), []).append(vec)
            names = {p.id: p.name for p in self.store.list_people()}
            threshold, margin = self.threshold, self.config.recognition.margin
            promoted: list[tuple[int, int, int, int | None]] = []
            skipped: list[RefreshCandidate] = []
            held: list[RefreshCandidate] = []
            changed = False
            for eid, pid, ts, score in events:
                if ts > when:
                    continue
                face = self.store.event_face(eid)
                if face is None:
                    continue
                m = self.match(face.vector[None, :])[0]
                cand = RefreshCandidate(event_id=eid, person_id=pid, name=names.get(pid, f"person {pid}"), event_ts=ts,
                                        score=m.score if m else score, margin=m.margin if m else 0.0,
                                        held=ts > hold_until)
                if cand.held:
                    held.append(cand)
                    continue
                mine = np.stack(own[pid]) if own.get(pid) else np.zeros((0, face.vector.shape[0]), np.float32)
                why = refresh.refusal(pid, face.quality, m, face.vector, mine, threshold=threshold,
                                      recognition_margin=margin, settings=settings)
                if why is not None:
                    skipped.append(RefreshCandidate(**{**cand.__dict__, "reason": why}))
                    continue
                autos = [s for s, _p, _e, _t in self.store.auto_samples(pid)]  # kept ones, oldest first
                old = refresh.to_replace(autos, settings.max_auto_per_person)
                if dry_run:
                    promoted.append((eid, pid, -1, old))
                    own.setdefault(pid, []).append(face.vector)
                    continue
                template = self.embed_crops(face.crop[None])[0]
                with self.store.transaction():
                    if old is not None:
                        self.store.delete_sample(old)
                    sid = self.store.add_sample(pid, face.crop, dict(face.quality), f"{AUTO_SOURCE}{eid}", template,
                                                self.model.sha256)
                    self.store.note_auto_template(eid, pid, sid)
                    self.store.audit(actor, "template.auto.add", {
                        "person_id": pid, "event_id": eid, "sample_id": sid, "replaced_sample_id": old,
                        "score": round(cand.score, 4), "margin": round(cand.margin, 4)})
                if old is not None:  # the gallery follows at once (a deleted sample's id may be reused)
                    self.gallery.remove_templates([old])
                self.gallery.add(np.array([sid], np.int64), np.array([pid], np.int64), template[None, :])
                changed = True
                own.setdefault(pid, []).append(template)
                promoted.append((eid, pid, sid, old))
            if changed:
                self._persist_gallery()
                self.recalibrate()
            return RefreshReport(promoted=tuple(promoted), skipped=tuple(skipped), held=tuple(held), dry_run=dry_run)

    def auto_template_count(self, person_id: int | None = None) -> int:
        """Automatic templates kept (of one person, or everyone)."""
        with self._lock:
            return len(self.store.auto_samples(person_id))

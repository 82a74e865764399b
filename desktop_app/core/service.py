"""FaceGate's core API: one object per database that the command line, the GUI and the trainer use.

``FaceGate`` ties together the store (SQLite), the model registry, the face engine, the gallery
and the calibrated threshold. Everything the app does is callable from here without Qt.
Thread safety: every public method takes one re-entrant lock, so a GUI worker thread and a pool
job may share one instance (long jobs, ``reembed`` and ``add_strangers``, take it per chunk / image
so that the door is never blocked for the whole job).

Calibration is explicit: ``current_calibration()`` only reads (never computes), ``recalibrate()``
computes and stores; the core recalibrates itself after every change of the gallery, the model or
the target, and when it opens a database whose stored calibration no longer fits.

Every administrative use-case is one call here with its audit row written in the same transaction:
people (``update_person``, ``erase_person``...), events and attendance (``query_events``,
``export_events_csv``... through one :class:`EventFilter`), models, and the admin PIN.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from pathlib import Path
from types import EllipsisType

import numpy as np

from desktop_app.core.access.model import DoorSpec, Group, Permission, PersonAccess
from desktop_app.core.access.rules import access_reason as _access_rule
from desktop_app.core.access.schedule import Schedule
from desktop_app.core.accounts import Account, AccountsMode, AccountsState, Action, Role
from desktop_app.core.accounts.book import AccountBook
from desktop_app.core.accuracy.facade import AccuracyFacade
from desktop_app.core.admin.lock import AdminPin
from desktop_app.core.backup.facade import BackupFacade
from desktop_app.core.central.facade import CentralFacade
from desktop_app.core.config import AppConfig
from desktop_app.core.corrections.facade import CorrectionsFacade
from desktop_app.core.doctor.files import remove_stale_temps
from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.embedding.model_prior import load_prior
from desktop_app.core.embedding.model_registry import ModelRegistry
from desktop_app.core.erasures.facade import ErasureLedgerFacade
from desktop_app.core.errors import (
    CancelledError,
    FaceGateError,
    GalleryError,
    ImageError,
    InputError,
    ManyFacesError,
    NoFaceError,
    QualityError,
    StorageError,
)
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.face.engine import Analysis, EngineConfig, FaceEngine
from desktop_app.core.face.quality import recognition_issues
from desktop_app.core.face.several_faces import several_faces_problem
from desktop_app.core.file_modes import make_private_dirs, write_private_text
from desktop_app.core.liveness import LivenessSettings, LivenessTracks, SequenceResult, check_sequence
from desktop_app.core.matching.accept import accepts as accept_rule
from desktop_app.core.matching.calibration import CalibrationPolicy
from desktop_app.core.matching.calibration import calibrate as calibrate_scores
from desktop_app.core.matching.gallery import SIDECAR_SUFFIX, Gallery, HnswGallery, build_gallery
from desktop_app.core.matching.site_strangers import DOOR_UNKNOWN, StrangerBuffer, StrangerFlush, usable_stranger
from desktop_app.core.outputs.base import redact_uri
from desktop_app.core.privacy.facade import PrivacyFacade
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.protection.errors import DataLockedError
from desktop_app.core.protection.facade import ProtectionFacade, connect_book
from desktop_app.core.storage import AuditRow
from desktop_app.core.storage.audit_chain import AuditVerification
from desktop_app.core.storage.audit_filter import AuditFilter
from desktop_app.core.storage.codecs import encode_snapshot
from desktop_app.core.storage.event_filter import EventFilter
from desktop_app.core.storage.event_spool import EventSpool, PendingEvent
from desktop_app.core.storage.purge import PurgeStep
from desktop_app.core.storage.records import AttendanceRow, ErasureReport, EventRecord, ModelRecord, Person, Sample
from desktop_app.core.storage.reserve import ensure_reserve, release_reserve, short_of_space
from desktop_app.core.storage.store import Store
from desktop_app.core.storage.validate import fold, name_key, validate_person_fields
from desktop_app.core.types import Calibration, Detection, Face, FaceQuality, PersonMatch
from desktop_app.core.unknowns.facade import UnknownsFacade
from desktop_app.core.unknowns.faces import pack_event_face
from desktop_app.core.video.imageio import expand_image_args, read_image
from desktop_app.core.vocabulary import AccessReason, Direction

log = logging.getLogger(__name__)


#: Galleries with fewer templates use exact search: as fast as HNSW up to about 20k templates (bench).
EXACT_BELOW = 20_000
__all__ = ["EXACT_BELOW", "EnrolReport", "EnrolShot", "EventFilter", "FaceGate", "GalleryStats",
           "Identification", "RecordedEvent"]
__all__ += ["AuditFilter", "AuditRow", "AuditVerification"]
__all__ += ["Account", "AccountsMode", "AccountsState", "Action", "Role"]

#: Seconds the door waits for another program's write lock before it spools an event instead.
DOOR_WRITE_WAIT_S = 0.5
#: Seconds one try to write the spooled events waits for a lock: the door loop must not stall.
FLUSH_WAIT_S = 0.05


@dataclass(frozen=True)
class EnrolShot:
    """Outcome of one enrolment image: ``sample_id`` when stored, else ``reason`` says why not.

    identity: True when the shot was refused by the identity check (it does not match the person
    it was to be added to, or it matches another enrolled person): enrolling again with
    ``force=True`` stores it anyway (audited). False for unusable shots (no face, poor quality).
    """

    source: str
    sample_id: int | None = None
    reason: str | None = None
    identity: bool = False


@dataclass(frozen=True)
class _Refusal:
    """Why the identity check refuses one enrolment shot: ``reason`` for people, the rest for the
    audit of a forced addition (check kind, score against the person, best other person)."""

    reason: str
    kind: str
    own_score: float | None
    other: tuple[int, float] | None

    def audit(self) -> dict[str, object]:
        return {"check": self.kind,
                "score": None if self.own_score is None else round(float(self.own_score), 4),
                "other_person_id": None if self.other is None else int(self.other[0]),
                "other_score": None if self.other is None else round(float(self.other[1]), 4)}


@dataclass(frozen=True)
class EnrolReport:
    """What an enrolment did: person (-1 when nothing was stored for a new person), stored shots,
    rejected shots with reasons, and warnings (a forced addition says what it overrode)."""

    person_id: int
    name: str
    added: tuple[EnrolShot, ...]
    rejected: tuple[EnrolShot, ...]
    warnings: tuple[str, ...] = ()

    @property
    def needs_force(self) -> bool:
        """True when shots were refused by the identity check only ``force=True`` overrides."""
        return any(shot.identity for shot in self.rejected)


@dataclass(frozen=True)
class Identification:
    """One face identified in an image.

    box: (x, y, w, h) pixels; name/person_id: None when unknown; score: best person cosine (-1 when
    the gallery is empty or the face was too small); accepted: score >= threshold and margin met.
    """

    box: tuple[float, float, float, float]
    name: str | None
    person_id: int | None
    score: float
    second_score: float
    accepted: bool
    too_small: bool = False
    #: True only for an enrolled, active person who passed the threshold and the margin (accepted)
    allowed: bool = False
    #: why the face was not matched although found (profile, blurred): empty when it was matchable
    quality_reasons: tuple[str, ...] = field(default_factory=tuple)
    #: names of the two people the face matched above the threshold but too closely to tell apart
    #: (margin not met): not accepted, never allowed; empty otherwise
    ambiguous: tuple[str, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class RecordedEvent:
    """A door event the core took: ``event_id`` once it is in the database, None while it waits in
    the event spool (the database refused it: locked, full disk); ``uid``: its unique id."""

    uid: str
    event_id: int | None


@dataclass(frozen=True)
class GalleryStats:
    """Size of the gallery in force: templates (one per stored shot) and distinct persons."""

    templates: int
    persons: int


class FaceGate(ProtectionFacade, PrivacyFacade, BackupFacade, UnknownsFacade, CorrectionsFacade, CentralFacade,
               AccuracyFacade, ErasureLedgerFacade):
    """The FaceGate core for one database file. Data (models, gallery) lives beside the database.

    Face data is encrypted at rest (``desktop_app.core.protection``): when its key cannot be
    unwrapped on this computer, opening raises DataLockedError (saying how to unlock), unless
    ``allow_locked`` (the unlock and key commands): then the gallery is empty until
    ``unlock_with_password``."""

    # What the door loop follows (see refresh_if_changed, door_person, record_event); set on first use.
    _seen_data_version: int | None = None
    _gallery_mark: tuple[int, int, str] | None = None
    _people_cache: dict[int, Person] | None = None
    _people_mark: int = -1
    _spool: EventSpool | None = None

    def __init__(self, db_path: Path, *, device: str | None = None, flip: bool | None = None,
                 config: AppConfig | None = None, allow_locked: bool = False) -> None:
        self.db_path = Path(db_path)
        self.data_dir = self.db_path.parent
        self.store = Store(self.db_path)
        #: the database or its folder cannot be written: everything is computed in memory, nothing saved
        self.read_only: bool = self.store.read_only
        self._lock = threading.RLock()
        try:
            if self.store.locked_reason is not None and not allow_locked:
                raise DataLockedError(self.store.locked_reason)
            if config is not None and not self.read_only:
                self.store.set_setting("config", config.model_dump(mode="json"))
            self.config = config if config is not None and self.read_only else self._load_config()
            rec = self.config.recognition
            self.registry = ModelRegistry(self.store, self.data_dir / "models")
            self.model: ModelRecord = self.registry.active()
            # The face engine (ONNX Runtime sessions) is built on first use (see ``engine``): commands
            # that never analyse a face open fast; the model file was verified above all the same.
            self._engine: FaceEngine | None = None
            self._engine_device = device or rec.device
            self._flip: bool = rec.flip_templates if flip is None else flip
            self._engine_config = EngineConfig(min_recognition_iod_px=rec.min_face_px,
                                               alignment_views=rec.views_templates)
            self.gallery: Gallery = self._load_gallery()
            self._admin_pin = AdminPin(self.store)
            self._accounts = AccountBook(self.store)
            connect_book(self._accounts, self.store)  # the accounts' hooks into the encryption (as the CLI's)
            self._calibration: Calibration | None = None
            self._site_strangers = StrangerBuffer()
            self._finish_purges_at_start()
            self._ledger_reapply_at_start()  # erasures the database does not reflect (a restore): done again
            self._refresh_templates_at_start()
            if len(self.gallery) and self.current_calibration() is None:
                self.recalibrate()  # the stored one no longer fits (or none yet): never the fallback by accident
        except BaseException:
            self.store.close()
            raise

    def _finish_purges_at_start(self) -> None:
        """Finish the erasures left pending (their gallery files too); never fails the start."""
        try:
            if not self.finish_pending_purges():
                log.warning("Some erased data is still on disk (another program reads the database); "
                            "FaceGate retries.")
        except FaceGateError as exc:
            log.warning("Could not finish the pending erasures yet: %s", exc)

    # ----------------------------------------------------------------- lifecycle / config
    def close(self) -> None:
        with self._lock:
            self.store.close()

    def __enter__(self) -> FaceGate:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _load_config(self) -> AppConfig:
        raw = self.store.get_setting("config")
        if raw is None:
            return AppConfig()
        return AppConfig.from_stored(raw)[0]  # invalid sections: defaults, with a clear warning

    def update_config(self, config: AppConfig, actor: str = "admin") -> None:
        """Validate and store new settings; the threshold is recalibrated if the target changed."""
        with self._lock:
            self.store.set_setting("config", config.model_dump(mode="json"))
            self.store.audit(actor, "settings.update", _config_audit(config))
            changed = config.recognition.target_fpir != self.config.recognition.target_fpir
            self.config = config
            if changed:
                self.recalibrate()

    @property
    def engine(self) -> FaceEngine:
        """The face engine (detector + embedder of the active model), built on first use under the
        lock; ModelError when the model file cannot be loaded."""
        with self._lock:
            if self._engine is None:
                self._engine = FaceEngine(
                    FaceDetector(),
                    Embedder(Path(self.model.path), device=self._engine_device, flip=self._flip,
                             expected_sha256=self.model.sha256),
                    self._engine_config,
                )
            return self._engine

    @engine.setter
    def engine(self, engine: FaceEngine) -> None:
        with self._lock:
            self._engine = engine
            self._flip = engine.embedder.flip

    def load_engine(self) -> None:
        """Build the face engine now rather than at the first face (a door and the app call it at
        start, off the GUI thread): a model ONNX Runtime cannot load stops the start with ModelError."""
        _ = self.engine

    @property
    def _dim(self) -> int:
        """Embedding length D of the active model (its registry row; the engine's when built)."""
        return self._engine.embedder.dim if self._engine is not None else int(self.model.embedding_dim)

    @property
    def provider(self) -> str:
        """Execution provider running the embedder: "CUDA" or "CPU"."""
        with self._lock:
            return self.engine.embedder.provider

    @property
    def storage_warnings(self) -> tuple[str, ...]:
        """What opening the database found (an empty file, damage) and each damaged row left out
        (quarantined): one line for a person each; ``facegate doctor --repair`` fixes the rows."""
        with self._lock:
            return self.store.open_warnings + tuple(q.message for q in self.store.quarantine)

    # ----------------------------------------------------------------- gallery
    def _gallery_file(self) -> Path:
        return self.data_dir / "gallery" / f"{self.model.sha256[:16]}.hnsw"

    def _load_gallery(self) -> Gallery:
        """The gallery for the active model. Small galleries are exact and rebuilt from the database
        in milliseconds; HNSW galleries are persisted beside the database and reloaded when the
        file matches the database's templates, else rebuilt and saved."""
        if self.store.data_locked:  # nobody can be recognised until the face data is unlocked
            return build_gallery(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32),
                                 kind="exact", dim=self._dim)
        ids, persons, vecs = self.store.templates(self.model.sha256, active_only=False)
        kind = self.config.recognition.gallery
        if kind == "exact" or (kind == "auto" and len(ids) < EXACT_BELOW):
            return build_gallery(ids, persons, vecs, kind="exact", dim=self._dim)
        path = self._gallery_file()
        if path.is_file():
            try:
                saved = HnswGallery.load(path, model_sha256=self.model.sha256, sealer=self.store.gallery_sealer())
                if np.array_equal(saved.template_ids(), np.sort(ids)):
                    return saved
                log.info("Saved gallery %s is out of date; rebuilding it from the database.", path)
            except GalleryError as exc:
                log.warning("Saved gallery unusable (%s); rebuilding it from the database.", exc)
        gallery = build_gallery(ids, persons, vecs, kind="hnsw", dim=self._dim,
                                model_sha256=self.model.sha256)
        self._persist_gallery(gallery)
        return gallery

    def _persist_gallery(self, gallery: Gallery | None = None) -> None:
        g = gallery if gallery is not None else self.gallery
        if isinstance(g, HnswGallery) and not self.read_only:
            make_private_dirs(self._gallery_file().parent)
            g.save(self._gallery_file(), sealer=self.store.gallery_sealer())  # encrypted with the data key

    def rebuild_gallery(self) -> int:
        """Rebuild the gallery from the database's templates for the active model; returns its size."""
        with self._lock:
            self._gallery_file().unlink(missing_ok=True)
            self.gallery = self._load_gallery()
            self.recalibrate()
            return len(self.gallery)

    def gallery_stats(self) -> GalleryStats:
        """Templates and persons in the gallery in force."""
        with self._lock:
            return GalleryStats(templates=len(self.gallery), persons=self.gallery.person_count)

    # ----------------------------------------------------------------- threshold
    def current_calibration(self) -> Calibration | None:
        """The stored calibration that fits this model, gallery (persons, templates) and target, or
        None. Cheap: never computes (one cached database read at most); see :meth:`recalibrate`."""
        with self._lock:
            cal = self._calibration
            if cal is None or self._stale(cal):
                cal = self.store.latest_calibration(self.model.sha256)
                if cal is not None and self._stale(cal):
                    cal = None
                self._calibration = cal
            return cal

    def recalibrate(self) -> Calibration | None:
        """Compute and store the calibration for the current model, gallery and target (see
        :meth:`calibrate`); None when the gallery cannot be calibrated (then the fallback threshold
        applies). The core calls it after enrolment, erasure, model and target changes."""
        with self._lock:
            self._calibration = None
            cal = self._auto_calibrate()
            self._calibration = cal
            return cal

    def _stale(self, cal: Calibration) -> bool:
        return (
            cal.model_sha256 != self.model.sha256
            or cal.gallery_persons != self.gallery.person_count
            or cal.gallery_templates != len(self.gallery)
            or abs(cal.target_fpir - self.config.recognition.target_fpir) > 1e-12
        )

    def _auto_calibrate(self) -> Calibration | None:
        try:
            return self.calibrate()
        except ValueError as exc:
            log.info("No calibration yet (%s); using the fallback threshold.", exc)
            return None

    @property
    def threshold(self) -> float:
        """The cosine threshold in force: the current calibration's, else the fallback setting. Cheap."""
        with self._lock:
            cal = self.current_calibration()
            return cal.threshold if cal is not None else self.config.recognition.fallback_threshold

    def calibrate(self, target_fpir: float | None = None, stranger_images: Sequence[Path] = ()) -> Calibration:
        """Choose the threshold for a target open-set false-accept rate on this gallery and store it.

        stranger_images: photos of people who are NOT enrolled; their faces join the stranger pool
        kept in the database (embeddings only) and used by every later calibration.
        """
        with self._lock:
            if stranger_images:
                self.add_strangers(stranger_images)
            target = target_fpir if target_fpir is not None else self.config.recognition.target_fpir
            policy = CalibrationPolicy(target_fpir=target)  # ValueError on a bad target, before any work
            _, persons, vecs = self.store.templates(self.model.sha256, active_only=False)
            strangers = self.store.strangers(self.model.sha256)
            prior = load_prior(self.model.sha256, self._flip, (self.registry.folder,))
            floor = prior.threshold_for_gallery(target, len(persons)) if prior is not None else None
            cal = calibrate_scores(
                vecs, persons, strangers, policy, model_sha256=self.model.sha256,
                fallback=None, prior_threshold=floor,
            )
            self.model = replace(self.model, threshold=cal.threshold, target_fpir=cal.target_fpir,
                                 gallery_size=cal.gallery_persons)
            if not self.read_only:  # read-only: in force for this session, not saved
                self.store.save_calibration(cal)
                self.store.register_model(self.model)  # the registry row carries the threshold in force
            self._calibration = cal
            return cal

    def add_strangers(self, images: Sequence[Path], progress: ProgressFn | None = None) -> int:
        """Embed the main face of each image and add it to the stranger pool; returns faces added."""
        vecs = []
        files = expand_image_args(list(images))
        for i, path in enumerate(files):
            try:
                image = read_image(path)
                with self._lock:
                    face = self.engine.main_face(image)
            except ImageError as exc:
                log.warning("%s", exc)
                face = None
            if face is not None:
                vecs.append(face.embedding)
            if progress:
                progress(i + 1, len(files), str(path))
        if vecs:
            with self._lock:
                self.store.add_strangers(np.stack(vecs), self.model.sha256, "images")
        return len(vecs)

    def note_unknown_faces(self, faces: Sequence[Face]) -> StrangerFlush | None:
        """The door logged these faces as unknown: keep the embeddings of those good enough to stand
        for strangers (:func:`~desktop_app.core.matching.site_strangers.usable_stranger`) for
        calibration. Buffered in memory; saved to the stranger pool (source ``door-unknown``,
        embeddings only, capped, audited) and followed by one recalibration when the buffer is due
        (see :class:`~desktop_app.core.matching.site_strangers.SiteStrangerPolicy`). Returns what a
        save did, else None. Never raises for a database that cannot take them: the door goes on."""
        with self._lock:
            for face in faces:
                if usable_stranger(face):
                    self._site_strangers.add(face.embedding)
            if not self._site_strangers.due():
                return None
            return self.flush_site_strangers()

    def flush_site_strangers(self, actor: str = "door") -> StrangerFlush | None:
        """Save the buffered door-unknown faces now (audited ``strangers.door-unknown`` with the
        counts), drop the oldest beyond the cap, and recalibrate. None when nothing was buffered or
        the database refused them (kept in memory for a later try, bounded)."""
        with self._lock:
            buf = self._site_strangers
            if not len(buf):
                return None
            vecs, cap = buf.peek(), buf.policy.cap
            try:
                with self.store.transaction():
                    added = self.store.add_strangers(vecs, self.model.sha256, DOOR_UNKNOWN)
                    dropped = self.store.prune_strangers(self.model.sha256, DOOR_UNKNOWN, cap)
                    pool = self.store.count_strangers(self.model.sha256, DOOR_UNKNOWN)
                    self.store.audit(actor, "strangers.door-unknown", {
                        "added": added, "dropped": dropped, "pool": pool, "cap": cap,
                        "forgotten": buf.forgotten, "model_sha256": self.model.sha256})
            except FaceGateError as exc:
                log.warning("Could not save %d unknown faces for calibration (%s); retrying later.", len(buf), exc)
                buf.retry_later()
                return None
            buf.clear()
            buf.forgotten = 0
            try:
                cal = self.recalibrate()
            except FaceGateError as exc:  # e.g. a read-only folder: the pool is saved, the threshold stays
                log.warning("Recalibration after new unknown faces failed: %s", exc)
                cal = self.current_calibration()
            return StrangerFlush(added=added, dropped=dropped, pool=pool,
                                 threshold=cal.threshold if cal is not None else None)

    def erase_site_strangers(self, actor: str = "admin") -> int:
        """Erase every door-unknown embedding (all models) and the unsaved buffer, audited
        (``strangers.door-unknown.erase`` with the count), then recalibrate; returns rows erased.
        Stranger images added by an administrator are kept."""
        with self._lock:
            self._site_strangers.clear()
            with self.store.transaction():
                erased = sum(self.store.prune_strangers(m.sha256, DOOR_UNKNOWN, 0) for m in self.store.list_models())
                self.store.audit(actor, "strangers.door-unknown.erase", {"erased": erased})
            self.recalibrate()
            return erased

    def site_stranger_count(self) -> int:
        """Door-unknown embeddings saved in the active model's stranger pool (not counting the buffer)."""
        with self._lock:
            return self.store.count_strangers(self.model.sha256, DOOR_UNKNOWN)

    # ----------------------------------------------------------------- matching
    def match(self, embeddings: np.ndarray, model_sha256: str | None = None) -> list[PersonMatch | None]:
        """Best person per (N, D) embedding, or None for an empty gallery. ``model_sha256``: the
        model that made the embeddings; all None when the gallery is now another model's (the
        model was switched while the frame was embedded: its scores would mean nothing)."""
        with self._lock:
            if (len(embeddings) == 0 or len(self.gallery) == 0
                    or (model_sha256 is not None and model_sha256 != self.model.sha256)):
                return [None] * len(embeddings)
            return self.gallery.match(np.asarray(embeddings, np.float32))

    def accepts(self, m: PersonMatch | None, quality: FaceQuality | None = None) -> bool:
        """True when a match passes the calibrated threshold (raised for a face of poor ``quality``
        under the RAISE rule) and the margin over the runner-up (the one accept rule,
        :func:`desktop_app.core.matching.accept.accepts`)."""
        with self._lock:
            return accept_rule(m, self.threshold, self.config.recognition.margin, quality)

    def analyse(self, image: np.ndarray) -> Analysis:
        """Detect, align, quality-check and embed every face of a (H, W, 3) uint8 BGR image
        (the capture worker's enrolment feedback). Nothing is matched or stored."""
        with self._lock:
            return self.engine.analyze(image)

    def identify(self, image: np.ndarray) -> list[Identification]:
        """Identify every face in a (H, W, 3) BGR image: faces too small to recognise are listed too."""
        with self._lock:
            analysis = self.engine.analyze(image)
            return self._identify_analysis(analysis)

    def _identify_analysis(self, analysis: Analysis) -> list[Identification]:
        matches = self.match(np.stack([f.embedding for f in analysis.faces])) if analysis.faces else []
        out: list[Identification] = []
        for face, m in zip(analysis.faces, matches, strict=True):
            issues = recognition_issues(face.quality)
            ok = self.accepts(m, face.quality) and not issues
            person = self.store.get_person(m.person_id) if (ok and m is not None) else None
            out.append(Identification(
                box=face.detection.box, name=person.name if person else None,
                person_id=person.id if person else None,
                score=m.score if m else -1.0, second_score=m.second_score if m else -1.0,
                accepted=ok and person is not None, quality_reasons=issues,
                allowed=person is not None and person.active and ok,
                ambiguous=() if ok or issues else self._ambiguous_names(m),
            ))
        out.extend(
            Identification(box=d.box, name=None, person_id=None, score=-1.0, second_score=-1.0,
                           accepted=False, too_small=True)
            for d in analysis.too_small
        )
        return out

    def _ambiguous_names(self, m: PersonMatch | None) -> tuple[str, ...]:
        """Names of the best two people when both reach the threshold but the margin fails, else ()."""
        thr = self.threshold
        if m is None or m.second_person_id is None or m.score < thr or m.second_score < thr:
            return ()
        people = [self.store.get_person(pid) for pid in (m.person_id, m.second_person_id)]
        return tuple(p.name if p else f"person {pid}" for p, pid in zip(people, (m.person_id, m.second_person_id),
                                                                         strict=True))

    # ----------------------------------------------------------------- enrolment
    def enrol_face_from_image(self, image: np.ndarray, *, check_quality: bool = True) -> Face:
        """The one face of an enrolment image; raises NoFaceError, ManyFacesError or QualityError."""
        analysis = self.analyse(image)
        if not analysis.faces:
            if analysis.too_small:
                raise NoFaceError("The face is too small: move closer or use a larger photo.")
            raise NoFaceError("No face found in the image.")
        faces = analysis.faces
        several = several_faces_problem(faces)
        if several is not None:
            raise ManyFacesError(several)
        face = faces[0]
        if check_quality and not face.quality.ok:
            raise QualityError("Poor shot: " + "; ".join(face.quality.reasons), face.quality.reasons)
        return face

    def enrol_images(self, name: str, images: Sequence[Path], *, employee_id: str | None = None,
                     department: str | None = None, check_quality: bool = True,
                     progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                     actor: str = "admin", force: bool = False) -> EnrolReport:
        """Enrol ``name`` from photo files or folders. Creates the person if new, else adds shots.

        Every image is judged on its own: unreadable files, no face, several faces and poor quality
        are rejected with the reason, and the good ones are stored. The person is only created
        when at least one shot is good. ``cancelled()`` returning True stops the job with
        CancelledError before anything is stored (all or nothing). The person is found, and the
        identity checked, as :meth:`enrol_faces` says; a name shared by several people without
        ``employee_id`` raises InputError before any image is read.
        """
        name, employee_id, department = validate_person_fields(name, employee_id, department)
        with self._lock:
            self._enrol_target(name, employee_id)  # who it is for (or why not), before any work
        files = expand_image_args(list(images))
        if not files:
            raise ImageError("No image files given.")
        faces: list[tuple[str, Face]] = []
        rejected: list[EnrolShot] = []
        for i, path in enumerate(files):
            if cancelled and cancelled():
                raise CancelledError(f"Enrolment of {name} cancelled: nothing was saved.")
            try:
                faces.append((str(path), self.enrol_face_from_image(read_image(path), check_quality=check_quality)))
            except FaceGateError as exc:
                rejected.append(EnrolShot(source=str(path), reason=str(exc)))
            if progress:
                progress(i + 1, len(files), str(path))
        return self.enrol_faces(name, faces, rejected=rejected, employee_id=employee_id,
                                department=department, actor=actor, force=force)

    def enrol_faces(self, name: str, faces: Sequence[tuple[str, Face]], *, rejected: Sequence[EnrolShot] = (),
                    employee_id: str | None = None, department: str | None = None,
                    actor: str = "admin", force: bool = False) -> EnrolReport:
        """Store already-checked faces (source, face) for ``name`` (the webcam wizard's path).

        Who: with ``employee_id``, the person holding that employee ID (InputError when their
        name is another), else a new person (a name may be shared by people who each have an
        employee ID); without it, the one person of that name (InputError when several share it),
        else a new person.

        Identity check, before anything is stored, at the calibrated threshold in force
        (:attr:`threshold`; the same rule that lets a face through the door):
        - a shot for an existing person must score at least the threshold against that person's
          templates, and must not look more like another enrolled person; else it is refused
          (``EnrolShot.identity``) with the reason;
        - a new person whose shots match an existing person at the threshold or above is refused
          as a likely duplicate (every shot, with the reason).
        ``force=True`` stores refused shots anyway, says so in ``warnings`` and audits it
        (``person.enrol.forced``: person, shots, and each overridden check with its score).
        """
        name, employee_id, department = validate_person_fields(name, employee_id, department)
        with self._lock:
            person = self._enrol_target(name, employee_id)
            if not faces:
                return EnrolReport(person_id=person.id if person else -1, name=name, added=(),
                                   rejected=tuple(rejected),
                                   warnings=("Nothing was enrolled: no usable face.",))
            checks = self._identity_checks(person, name, [f for _, f in faces])
            refused = {i: c for i, c in enumerate(checks) if c is not None}
            keep = [(src, f) for i, (src, f) in enumerate(faces) if force or i not in refused]
            out_rejected = list(rejected)
            warnings: list[str] = []
            if not force:
                out_rejected += [EnrolShot(source=faces[i][0], reason=c.reason, identity=True)
                                 for i, c in refused.items()]
            else:
                warnings += [f"{faces[i][0]}: stored although {c.reason}" for i, c in refused.items()]
            if not keep:
                return EnrolReport(person_id=person.id if person else -1, name=name, added=(),
                                   rejected=tuple(out_rejected), warnings=tuple(warnings))
            with self.store.transaction():
                pid = person.id if person else self.store.add_person(name, employee_id=employee_id,
                                                                      department=department)
                added = []
                for source, face in keep:
                    sid = self.store.add_sample(pid, face.crop, _quality_dict(face), source, face.embedding,
                                                self.model.sha256)
                    added.append(EnrolShot(source=source, sample_id=sid))
                self.store.audit(actor, "person.enrol", {"person_id": pid, "shots": len(added)})
                if force and refused:
                    self.store.audit(actor, "person.enrol.forced", {
                        "person_id": pid, "shots": len(refused),
                        "checks": [c.audit() for c in refused.values()]})
            self.gallery.add(
                np.array([a.sample_id for a in added], np.int64), np.full(len(added), pid, np.int64),
                np.stack([f.embedding for _, f in keep]),
            )
            self._persist_gallery()
            self.recalibrate()
            return EnrolReport(person_id=pid, name=name, added=tuple(added), rejected=tuple(out_rejected),
                               warnings=tuple(warnings))

    def _enrol_target(self, name: str, employee_id: str | None) -> Person | None:
        """The existing person an enrolment of (name, employee_id) adds shots to, or None for a new
        person. InputError when the name alone is ambiguous or the employee ID belongs to someone
        of another name; StorageError when such a new person cannot be added (name taken)."""
        if employee_id is not None:
            person = self.store.find_employee(employee_id)
            if person is not None and name_key(person.name) != name_key(name):
                raise InputError(
                    f"Employee ID {employee_id!r} belongs to {person.name!r} (id {person.id}), not to {name!r}: "
                    "check the employee ID, or change that person's name on the people page first.")
        else:
            person = self.store.find_person(name)  # InputError when several people share the name
        if person is None:
            self.store.check_new_person(name, employee_id)
        return person

    def _identity_checks(self, person: Person | None, name: str, faces: Sequence[Face]) -> list[_Refusal | None]:
        """Per face, why the identity check refuses it (see :meth:`enrol_faces`), or None."""
        out: list[_Refusal | None] = [None] * len(faces)
        if len(self.gallery) == 0:
            return out
        thr = self.threshold
        vecs = np.stack([f.embedding for f in faces])
        k = max(1, min(self.gallery.person_count, 20))
        own = person is not None and person.n_samples > 0
        for i, row in enumerate(self.gallery.search(vecs, k_persons=k)):
            mine = next((sc for pid, sc in row if person is not None and pid == person.id), None)
            other = next(((pid, sc) for pid, sc in row if person is None or pid != person.id), None)
            if own and person is not None and (mine is None or mine < thr):
                said = f"{mine:.2f}" if mine is not None else "far"
                out[i] = _Refusal(
                    f"this face does not match {person.name} (score {said} < {thr:.2f}): "
                    "probably another person", "mismatch", mine, None)
            elif other is not None and other[1] >= thr and (mine is None or other[1] > mine):
                who = self.store.get_person(other[0])
                label = who.name if who else f"person {other[0]}"
                if person is None:
                    text = (f"{name} looks like the already enrolled {label} (score {other[1]:.2f} >= {thr:.2f}): "
                            "a likely duplicate")
                    kind = "duplicate"
                else:
                    text = (f"this face looks more like the enrolled {label} (score {other[1]:.2f}) "
                            f"than like {person.name}")
                    kind = "lookalike"
                out[i] = _Refusal(text, kind, mine, other)
        if person is None and any(c is not None for c in out):  # a new person: all or nothing
            first = next(c for c in out if c is not None)
            out = [c if c is not None else first for c in out]
        return out

    # ----------------------------------------------------------------- people admin
    def erase_person(self, person_id: int, actor: str = "admin") -> ErasureReport:
        """Erase a person everywhere: database rows, crops, templates, gallery entries, and every
        copy on disk: the write-ahead log is checkpointed and truncated, the saved gallery index is
        rewritten with the person's vectors overwritten (or deleted, to be rebuilt from the
        database), other models' saved indexes and stale temporary files are deleted.

        The report says what is done and what is pending (``purged``, ``pending``), and so does the
        ``erase_person`` audit row; a pending purge is finished by ``finish_pending_purges`` or at
        the next start. On a full disk the space reserve beside the database is freed for it.
        StorageError when the person does not exist or the rows could not be deleted."""
        with self._lock:
            def purge_files() -> tuple[str, ...]:
                self.gallery.remove_person(person_id)  # overwrites the vectors in an HNSW index
                return self._purge_gallery_files()

            self._ledger_record(person_id)  # in the erasure ledger (fsynced) before anything is deleted
            try:
                report = self.store.erase_person(person_id, actor=actor, purge_files=purge_files)
            except StorageError:
                if not (short_of_space(self.db_path) and release_reserve(self.db_path)):
                    raise
                report = self.store.erase_person(person_id, actor=actor, purge_files=purge_files)
            self._ledger_seen()
            ensure_reserve(self.db_path)
            if dropped := self._event_spool().drop_person(person_id):  # their events waiting for the database
                log.info("Erasure of %s: %d waiting event(s) dropped from the event spool.", report.person_ref, dropped)
            self.erasures_pending = self.erasures_pending or not report.purged
            try:
                self.recalibrate()
            except StorageError as exc:  # the erasure stands; the stale calibration is redone at the next start
                log.warning("Could not recalibrate after erasing %s: %s", report.person_ref, exc)
            return report

    def _purge_gallery_files(self, rebuild: bool = False) -> tuple[str, ...]:
        """Leave no erased template in the gallery folder: stale temporary files are deleted, the
        active model's saved index is rewritten from the gallery in memory (rebuilt from the
        database first when ``rebuild``), and every other saved index is deleted (a cache, rebuilt
        from the database when needed). Returns what could not be done."""
        folder = self._gallery_file().parent
        if not folder.is_dir():
            return ()
        remove_stale_temps(folder)
        active = self._gallery_file()
        problems: list[str] = []
        if rebuild and isinstance(self.gallery, HnswGallery):  # from the database: nothing erased in it
            ids, persons, vecs = self.store.templates(self.model.sha256, active_only=False)
            self.gallery = build_gallery(ids, persons, vecs, kind="hnsw", dim=self._dim,
                                         model_sha256=self.model.sha256)
        for index in sorted(folder.glob("*.hnsw")):
            if index == active and isinstance(self.gallery, HnswGallery):
                try:
                    self._persist_gallery()
                    continue
                except (GalleryError, OSError) as exc:
                    log.warning("Could not rewrite the gallery index %s (%s); deleting it.", index, exc)
            try:
                index.unlink(missing_ok=True)
            except OSError as exc:
                problems.append(f"saved gallery index {index} may still hold erased templates and could not "
                                f"be deleted ({exc.strerror or exc}); delete it")
        for side in folder.glob("*.hnsw" + SIDECAR_SUFFIX):  # ids only, no vectors: deleted when orphaned
            if not side.with_name(side.name[: -len(SIDECAR_SUFFIX)]).exists():
                with contextlib.suppress(OSError):
                    side.unlink()
        return tuple(problems)

    #: monotonic time before which ``finish_pending_purges`` does not retry the gallery files again
    _files_retry_at: float = 0.0
    #: True after an erasure of this process left data on disk, until ``finish_pending_purges`` ends it
    erasures_pending: bool = False
    #: seconds between two retries of the gallery files (each one rebuilds the index from the database)
    FILES_RETRY_S = 60.0

    def finish_pending_purges(self) -> bool:
        """Finish erasures whose data may still be on disk (a reader held the database, a crash,
        a failed gallery save); True when nothing is pending any more. Cheap when nothing is
        pending (one row read), so the door loop may call it on its periodic tick: it never waits
        for another program's readers (the checkpoint is tried without waiting), and the gallery
        files, which need a rebuild of the index, are retried at most every ``FILES_RETRY_S``
        seconds. Each purge that completes is audited."""
        with self._lock:
            pending = self.store.pending_purges()
            if not pending:
                self.erasures_pending = False
                return True
            files = [p.person_ref for p in pending if PurgeStep.FILES in p.steps and not p.erasing_elsewhere]
            if files and time.monotonic() < self._files_retry_at:
                files = []
            elif files and self._purge_gallery_files(rebuild=True):
                self._files_retry_at = time.monotonic() + self.FILES_RETRY_S
                files = []
            done = not self.store.finish_pending_purges(wait_s=0.0, files_done=files)
            self.erasures_pending = not done
            return done

    @classmethod
    def open_for_erasure(cls, db_path: Path, *, device: str | None = None) -> FaceGate:
        """Open a FaceGate to erase someone, also on a full disk: when opening fails for lack of
        space, the space reserve beside the database is freed and it is tried again."""
        try:
            return cls(db_path, device=device)
        except StorageError:
            if not (short_of_space(Path(db_path)) and release_reserve(Path(db_path))):
                raise
            return cls(db_path, device=device)

    def delete_sample(self, sample_id: int, actor: str = "admin") -> None:
        """Delete one stored shot (its crop and templates) and take it out of the gallery; audited."""
        with self._lock:
            with self.store.transaction():
                self.store.delete_sample(sample_id)
                self.store.audit(actor, "sample.delete", {"sample_id": sample_id})
            self.gallery.remove_templates([sample_id])
            self._persist_gallery()
            self.recalibrate()

    def update_person(self, person_id: int, *, name: str | EllipsisType = ...,
                      employee_id: str | EllipsisType | None = ..., department: str | EllipsisType | None = ...,
                      active: bool | EllipsisType = ..., actor: str = "admin") -> Person:
        """Change the given fields of a person (``...`` leaves one as is, None clears an optional
        one) and audit it (``person.update`` with the changed field names), in one transaction.
        Returns the updated person. StorageError when the person does not exist or the new name or
        employee ID is taken; ValueError for a blank name. A (de)activation takes effect at once."""
        changed = [k for k, v in (("name", name), ("employee_id", employee_id), ("department", department),
                                  ("active", active)) if not isinstance(v, EllipsisType)]
        with self._lock:
            with self.store.transaction():
                updated = self.store.update_person(person_id, name=name, employee_id=employee_id,
                                                   department=department, active=active)
                self.store.audit(actor, "person.update", {"person_id": updated.id, "fields": changed})
            return updated

    def people(self, search: str | None = None) -> list[Person]:
        """Enrolled people whose name, employee ID or department contains ``search`` (all when None)."""
        with self._lock:
            return self.store.list_people(search=search)

    def get_person(self, person_id: int) -> Person | None:
        with self._lock:
            return self.store.get_person(person_id)

    def find_person(self, name: str, employee_id: str | None = None) -> Person | None:
        """The person with this name (case-insensitive, surrounding blanks ignored), or None.

        With ``employee_id``: the person of that name holding it. Without it, InputError when
        several people share the name (the message asks for the employee ID)."""
        with self._lock:
            return self.store.find_person(name, employee_id)

    def find_people(self, name: str) -> list[Person]:
        """Every person with this name (case-insensitive), by id: several when each has an employee ID."""
        with self._lock:
            return self.store.find_people(name)

    def list_samples(self, person_id: int) -> list[Sample]:
        """The stored shots of a person, oldest first."""
        with self._lock:
            return self.store.list_samples(person_id)

    def sample_crop(self, sample_id: int) -> np.ndarray:
        """The aligned face crop of a stored shot, (112, 112, 3) uint8 BGR."""
        with self._lock:
            return self.store.sample_crop(sample_id)

    def person_photo(self, person_id: int) -> np.ndarray | None:
        """The person's first enrolled crop, (112, 112, 3) uint8 BGR; None when they have no shot."""
        with self._lock:
            samples = self.store.list_samples(person_id)
            return self.store.sample_crop(samples[0].id) if samples else None

    # ----------------------------------------------------------------- events and attendance
    def query_events(self, flt: EventFilter | None = None) -> list[EventRecord]:
        """Events matching ``flt`` (all when None), newest first, paged by its limit / offset."""
        f = flt or EventFilter()
        with self._lock:
            return self.store.query_events(**f.page_args())

    def count_events(self, flt: EventFilter | None = None) -> int:
        """Number of events matching ``flt`` (its limit / offset are ignored)."""
        f = flt or EventFilter()
        with self._lock:
            return self.store.count_events(**f.query_args())

    def event_snapshot(self, event_id: int) -> np.ndarray | None:
        """The face snapshot stored with an event, (H, W, 3) uint8 BGR, or None."""
        with self._lock:
            return self.store.event_snapshot(event_id)

    def export_events_csv(self, path: Path, flt: EventFilter | None = None, *, actor: str = "admin") -> int:
        """Write the events matching ``flt`` to a CSV file (atomically) and audit it
        (``events.export``: rows, filter, file name); returns rows written."""
        f = flt or EventFilter()
        with self._lock, self.store.transaction():
            n = self.store.export_events_csv(Path(path), **f.page_args())
            self.store.audit(actor, "events.export", {"rows": n, "file": Path(path).name, **f.describe()})
            return n

    def attendance(self, day_from: date, day_to: date) -> list[AttendanceRow]:
        """First-in / last-out per person and local day ``day_from..day_to`` (both included)."""
        with self._lock:
            return self.store.attendance(day_from, day_to)

    def export_attendance_csv(self, path: Path, day_from: date, day_to: date, *, actor: str = "admin") -> int:
        """Write the attendance of ``day_from..day_to`` to a CSV file (day, person_id, name,
        employee_id, department, first_in, last_out, hours) and audit it (``attendance.export``);
        returns rows written."""
        with self._lock, self.store.transaction():
            n = self.store.export_attendance_csv(Path(path), day_from, day_to)
            self.store.audit(actor, "attendance.export", {
                "rows": n, "file": Path(path).name, "day_from": day_from.isoformat(), "day_to": day_to.isoformat()})
            return n

    # ----------------------------------------------------------------- door loop: follow the database, spool events
    def refresh_if_changed(self) -> bool:
        """Take what other processes committed since the last call: the gallery (enrolments,
        erasures), the people (names, activation), the settings, the threshold, and a model made
        active elsewhere. Cheap when nothing changed: one ``PRAGMA data_version``, no disk read
        (the door loop calls it about twice a second); a commit that only added events does not
        rebuild the gallery. The first call always reloads (what was loaded at opening may be old).
        Returns True when something was reloaded. A database that cannot be read just now, or a
        calibration that cannot be saved (read-only folder), keeps the door going (logged)."""
        with self._lock:
            try:
                version = self.store.data_version()
            except FaceGateError as exc:
                log.warning("Cannot check the database for changes: %s", exc)
                return False
            if version == self._seen_data_version:
                return False
            try:
                self._reload_shared_state()
            except (FaceGateError, OSError) as exc:
                log.warning("Cannot take the changes made by other programs yet (the state in force is kept): %s", exc)
                return False
            self._seen_data_version = version
            return True

    def _reload_shared_state(self) -> None:
        """Reload what another connection may have changed (refresh_if_changed, lock held)."""
        self.config = self._load_config()
        active = self.store.active_model()
        if active is not None and active.sha256 != self.model.sha256:
            rec = self.registry.verified(active)
            if self._engine is not None:
                embedder = Embedder(Path(rec.path), device=self.config.recognition.device,
                                    flip=self._flip, expected_sha256=rec.sha256)
                self.engine = FaceEngine(self._engine.detector, embedder, self._engine.config)
            else:  # not built yet: built for this model on first use
                self._engine_device = self.config.recognition.device
            self.model = rec
            self._gallery_mark = None
            log.info("Another program made model %s active; the door now uses it.", rec.name)
        mark = self.store.gallery_mark(self.model.sha256)
        if mark != self._gallery_mark:
            self.gallery = self._load_gallery()
            self._gallery_mark = mark
        self._people_cache = None
        self._calibration = None
        if len(self.gallery) and self.current_calibration() is None:
            # another program changed the gallery and has not stored its calibration yet (or died
            # before): calibrate as at opening, never the fallback threshold by accident
            try:
                self.recalibrate()
            except FaceGateError as exc:
                log.warning("Cannot save the new calibration (%s); the fallback threshold applies until then.", exc)

    def door_person(self, person_id: int) -> Person | None:
        """The person with this id as the door loop knows them, None when there is none (erased).
        Served from a cache reloaded after any change made here or seen by
        :meth:`refresh_if_changed`, so that the per-frame path reads nothing from the database."""
        with self._lock:
            local = self.store.local_changes()
            if self._people_cache is None or local != self._people_mark:
                self._people_cache = {p.id: p for p in self.store.list_people()}
                self._people_mark = local
            return self._people_cache.get(person_id)

    @property
    def pending_events(self) -> int:
        """Door events waiting for the database in the event spool (0 normally)."""
        with self._lock:
            return self._event_spool().pending

    def record_event(self, *, person_id: int | None, score: float, decision: str, camera: str, ts: datetime,
                     snapshot: np.ndarray | None = None, track_id: int | None = None,
                     candidates: Sequence[int] = (), door: str | None = None,
                     direction: Direction | None = None, reason: AccessReason | None = None,
                     liveness: Sequence[str] = (), face: Face | None = None) -> RecordedEvent | None:
        """Store a door decision (the live loop's one write). When the database refuses it (another
        program holds the write lock for more than ``DOOR_WRITE_WAIT_S``, the disk is full, the file
        is read-only) the event waits, in order, in the event spool beside the database
        (``<db>.spool``) for :meth:`flush_events`; while events wait, new ones queue behind them.
        snapshot: (H, W, 3) uint8 BGR face crop; ts: aware datetime; candidates: for an ambiguous
        decision, the ids of the people the face could not be told apart from; door: the door's name
        (None for a camera without a door, ``run --source``); direction: the way its camera faces (a
        granted "in" moves only attendance's first in, "out" only its last out, None both); reason:
        why the door decided so (stored, shown, a column of the CSV); liveness: for a spoof
        decision, the liveness check's reasons (stored, the CSV's details); face: the face behind the
        event (its embedding, aligned crop and quality are stored encrypted in ``event_faces``, and
        encrypted in the spool while the event waits). Returns None when the person no
        longer exists (erased meanwhile by another program): that event is dropped, never announced.
        On a read-only database the event is shown but not saved (``event_id`` None, no spool)."""
        if ts.tzinfo is None:
            raise ValueError("record_event needs an aware datetime (e.g. datetime.now(UTC))")
        way = None if direction is None else Direction(direction).value
        why = None if reason is None else AccessReason(reason).value
        with self._lock:
            if self.read_only:  # shown at the door, not saved: nothing may be written here
                return RecordedEvent(PendingEvent.new_uid(), None)
            spool = self._event_spool()
            uid = PendingEvent.new_uid()
            jpeg = None if snapshot is None else self.store.seal_spooled_snapshot(uid, encode_snapshot(snapshot))
            ev = PendingEvent(
                uid=uid, ts=ts, person_id=person_id, score=float(score), decision=str(decision),
                camera=camera, model_sha256=self.model.sha256, track_id=track_id,
                snapshot_jpg=jpeg,  # encrypted, as it may wait in the spool file
                candidates=tuple(int(c) for c in candidates), door=door, direction=way, reason=why,
                liveness=tuple(str(r) for r in liveness),
                face=None if (packed := pack_event_face(face)) is None else self.store.seal_spooled_face(uid, packed))
            if spool.pending:
                spool.add(ev)
                return RecordedEvent(ev.uid, None)
            try:
                event_id = self._write_event(ev, DOOR_WRITE_WAIT_S)
            except StorageError as exc:
                log.warning("The event waits in %s: %s", spool.path, exc)
                spool.add(ev)
                return RecordedEvent(ev.uid, None)
            return None if event_id is None else RecordedEvent(ev.uid, event_id)

    def flush_events(self) -> int:
        """Write the spooled events, in order, as far as the database takes them now (each try waits
        at most ``FLUSH_WAIT_S`` for a lock); returns how many left the spool. An event of a person
        erased meanwhile, or one that can never be stored (malformed), is dropped with a warning.
        The door loop calls it about once a second while events wait, and at its start (a spool
        left by a crash)."""
        with self._lock:
            spool = self._event_spool()
            return spool.flush(self._write_spooled) if spool.pending else 0

    def _event_spool(self) -> EventSpool:
        if self._spool is None:
            self._spool = EventSpool(self.db_path.with_name(self.db_path.name + ".spool"))
        return self._spool

    def _write_spooled(self, ev: PendingEvent) -> None:
        if ev.person_id is not None:
            person = self.store.get_person(ev.person_id)
            if person is None or person.created_at > ev.ts:  # erased; the id may name someone enrolled since
                log.warning("A spooled event of person %d was dropped: the person was erased meanwhile.",
                            ev.person_id)
                return
        try:
            self._write_event(ev, FLUSH_WAIT_S)
        except ValueError as exc:
            log.error("A spooled event cannot be stored and is dropped (%s): %s", exc, ev.uid)

    def _write_event(self, ev: PendingEvent, wait_s: float) -> int | None:
        """Write one event (skipped when its uid is stored); None when its person is gone (erased)."""
        before = self.store.local_changes()
        try:
            event_id = self.store.log_event(
                person_id=ev.person_id, score=ev.score, decision=ev.decision, camera=ev.camera,
                model_sha256=ev.model_sha256, ts=ev.ts, snapshot_jpg=ev.snapshot_jpg, track_id=ev.track_id,
                uid=ev.uid, wait_s=wait_s, candidates=ev.candidates, door=ev.door, direction=ev.direction,
                reason=ev.reason, liveness=ev.liveness, face=ev.face)
        except StorageError as exc:
            if ev.person_id is not None and self._person_gone(ev.person_id):
                log.warning("An event of person %d was dropped: the person was erased meanwhile.", ev.person_id)
                self._people_cache = None  # nor shown any longer
                return None
            if isinstance(exc.__cause__, sqlite3.IntegrityError):  # never storable: waiting would block the rest
                log.error("Event %s (%s) was dropped: the database refuses it for good: %s", ev.uid, ev.decision, exc)
                return None
            raise
        if self._people_mark == before:  # an event does not change who is enrolled: keep the cache
            self._people_mark = self.store.local_changes()
        if self._access_mark[0] == before:  # nor the access rules
            self._access_mark = (self.store.local_changes(), self._access_mark[1])
        return event_id

    def _person_gone(self, person_id: int) -> bool:
        try:
            return self.store.get_person(person_id) is None
        except StorageError:
            return False

    # ----------------------------------------------------------------- admin PIN
    def has_admin_pin(self) -> bool:
        """True once an administrator PIN was set."""
        with self._lock:
            return self._admin_pin.has_admin_pin()

    def verify_admin_pin(self, pin: str) -> bool:
        """True when ``pin`` is the admin PIN; wrong PINs are audited and slow further tries down.
        Always False once the database has accounts (the PIN is retired then)."""
        with self._lock:
            if self._accounts.state().mode != AccountsMode.OPEN:
                return False
            return self._admin_pin.verify_admin_pin(pin)

    def admin_pin_retry_in(self) -> float:
        """Seconds before the next PIN try is accepted (0 when none)."""
        with self._lock:
            return self._admin_pin.admin_pin_retry_in()

    def set_admin_pin(self, new_pin: str, current_pin: str | None = None) -> None:
        """Set the admin PIN (first run) or change it (the current PIN required); audited.
        ValueError when the current PIN is wrong, the new one is weak or not 6-32 digits, or the
        database has accounts (the PIN is retired then)."""
        with self._lock:
            if self._accounts.state().mode != AccountsMode.OPEN:
                raise ValueError("This database has named accounts: the admin PIN is retired; log in with an account.")
            self._admin_pin.set_admin_pin(new_pin, current_pin)

    # ----------------------------------------------------------------- models
    def reembed(self, model: ModelRecord, progress: ProgressFn | None = None,
                cancelled: CancelFn | None = None) -> int:
        """Compute templates for ``model`` from the stored crops (missing ones only); returns count."""
        with self._lock:
            emb = Embedder(Path(model.path), device=self.config.recognition.device,
                           flip=self._flip, expected_sha256=model.sha256)
            todo = self.store.samples_missing_template(model.sha256)
        for i in range(0, len(todo), 32):
            if cancelled and cancelled():
                break
            chunk = todo[i:i + 32]
            with self._lock:  # per chunk: the door keeps running during a long re-embedding
                crops = np.stack([self.store.sample_crop(s) for s in chunk])
            vecs = emb.embed(crops)
            with self._lock, self.store.transaction():
                for sid, v in zip(chunk, vecs, strict=True):
                    self.store.set_template(sid, model.sha256, v)
            if progress:
                progress(min(i + 32, len(todo)), len(todo), model.name)
        return len(todo)

    def switch_model(self, sha256: str, actor: str = "admin", progress: ProgressFn | None = None,
                     cancelled: CancelFn | None = None) -> ModelRecord:
        """Re-embed the gallery for another registered model, then make it active atomically."""
        with self._lock:
            rec = self.registry.verified(self._model_record(sha256))
        self.reembed(rec, progress=progress, cancelled=cancelled)
        with self._lock:
            if self.store.samples_missing_template(rec.sha256):
                raise FaceGateError("Model switch cancelled: the gallery was not fully re-embedded.")
            embedder = Embedder(Path(rec.path), device=self.config.recognition.device,
                                flip=self._flip, expected_sha256=rec.sha256)
            self.registry.activate(rec.sha256)
            self.model = rec
            detector = self._engine.detector if self._engine is not None else FaceDetector()
            self.engine = FaceEngine(detector, embedder, self._engine_config)
            self.gallery = self._load_gallery()
            self.store.audit(actor, "model.activate", {"sha256": rec.sha256, "name": rec.name})
            self.recalibrate()
        return rec

    def rollback_model(self, actor: str = "admin") -> ModelRecord:
        """Switch back to the model that was active before the current one."""
        with self._lock:
            prev = self.store.previous_model()
        if prev is None:
            raise FaceGateError("There is no previous model to roll back to.")
        return self.switch_model(prev.sha256, actor=actor)

    def list_models(self) -> list[ModelRecord]:
        """Every registered embedding model (the active one included)."""
        with self._lock:
            return self.store.list_models()

    def previous_model(self) -> ModelRecord | None:
        """The model a roll back would return to, or None."""
        with self._lock:
            return self.store.previous_model()

    def _model_record(self, sha256: str) -> ModelRecord:
        rec = self.store.get_model(sha256)
        if rec is None:
            raise FaceGateError(f"No registered model {sha256[:12]}.")
        return rec

    # ----------------------------------------------------------------- training use-cases
    # What the trainer needs of the core, so that it never reaches into the store, the registry or
    # the engine.
    @property
    def embedder_flip(self) -> bool:
        """True when templates average the embeddings of the crop and of its mirror image."""
        return bool(self._flip)

    def training_crops(self) -> list[tuple[Person, np.ndarray, np.ndarray]]:
        """The stored face crops of every *active* person with at least one sample, by name.

        Each item: (person, sample ids (n,) int64 in id order, crops (n, 112, 112, 3) uint8 BGR,
        the aligned crops kept at enrolment, in the same order).
        """
        with self._lock:
            out: list[tuple[Person, np.ndarray, np.ndarray]] = []
            for person in self.store.list_people(active_only=True):
                samples = self.store.list_samples(person.id)
                if samples:
                    ids = np.array([s.id for s in samples], np.int64)
                    out.append((person, ids, np.stack([self.store.sample_crop(int(s)) for s in ids])))
            return out

    def embed_crops(self, crops: np.ndarray) -> np.ndarray:
        """Templates of (N, 112, 112, 3) uint8 BGR aligned crops with the active model: (N, D) float32, unit rows."""
        with self._lock:
            return self.engine.embedder.embed(crops)

    def register_model(self, path: Path, name: str, *, parent_sha256: str | None = None,
                       metrics_json: str | None = None, actor: str = "trainer") -> ModelRecord:
        """Copy the ONNX file ``path`` into the model folder and register it, not active (audited
        "model.register"); ``switch_model`` activates it. ModelError for a missing or broken file."""
        with self._lock:
            rec = self.registry.add(path, name, parent_sha256=parent_sha256, metrics_json=metrics_json)
            self.store.audit(actor, "model.register", {"sha256": rec.sha256, "name": rec.name,
                                                       "parent_sha256": parent_sha256})
            return rec

    def stranger_count(self) -> int:
        """Faces in the active model's stranger pool (non-enrolled faces used by calibration)."""
        with self._lock:
            return int(self.store.strangers(self.model.sha256).shape[0])

    def add_stranger_crops(self, crops: np.ndarray, source: str) -> int:
        """Embed (N, 112, 112, 3) uint8 aligned crops of people who are not enrolled with the active
        model and add them to its stranger pool, labelled ``source``; returns N."""
        with self._lock:
            if len(crops) == 0:
                return 0
            vecs = self.engine.embedder.embed(crops)
            self._calibration = None
            return self.store.add_strangers(vecs, self.model.sha256, source)

    def save_score_prior(self, crops: np.ndarray, source: str) -> Path:
        """Measure the active model's impostor score tail on (N, 112, 112, 3) uint8 crops of N
        different people (all N(N-1)/2 pairs) and save it beside the models, where calibration finds
        it. Returns the file; ValueError when N is too small for a prior."""
        from desktop_app.core.embedding.model_prior import measure_prior, prior_path

        with self._lock:
            flip = bool(self._flip)
            prior = measure_prior(self.engine.embedder.embed(crops), self.model.sha256, flip, source)
            dst = prior_path(self.registry.folder, self.model.sha256, flip)
            write_private_text(dst, prior.to_json() + "\n")
            self._calibration = None
            return dst

    def record_retrain_refused(self, candidate_sha256: str, reasons: Sequence[str], actor: str = "trainer") -> None:
        """Audit a retrained model that the deployment gate refused ("model.retrain.refused")."""
        with self._lock:
            self.store.audit(actor, "model.retrain.refused",
                             {"candidate_sha256": candidate_sha256, "reasons": list(reasons)})

    def record_retrain_deployed(self, model: ModelRecord, parent_sha256: str, actor: str = "trainer") -> None:
        """Audit a retrained model that was deployed ("model.retrain.deployed")."""
        with self._lock:
            self.store.audit(actor, "model.retrain.deployed",
                             {"sha256": model.sha256, "name": model.name, "parent_sha256": parent_sha256})

    # ----------------------------------------------------------------- access control (issue 10)
    # Doors, schedules, groups, permissions and each person's access; the door loop's per-decision
    # rule (access_reason, from a cache) and the queue of remote opens. Every write is audited with
    # ``actor`` in its own transaction. A door's secret is never audited, printed nor exported.
    #: (person id -> access, permissions, folded door name -> door name), what access_reason reads
    _access_cache: tuple[dict[int, PersonAccess], tuple[Permission, ...], dict[str, str]] | None = None
    #: (local_changes, seen data_version) when the cache was filled
    _access_mark: tuple[int, int | None] = (-1, None)

    def save_door(self, spec: DoorSpec, actor: str = "admin") -> DoorSpec:
        """Insert ``spec``, or replace the door of the same name (any case) with it, cameras
        included; audited ("door.save", without the secret). Returns the door as stored.
        ValueError for an output URI of no known scheme (``log:``, ``webhook:``, ``mqtt://``,
        ``serial://``, ``hidrelay:``, ``gpio:``); InputError when the anti-passback partner is
        neither this door nor an existing one."""
        with self._lock, self.store.transaction():
            saved = self.store.save_door(spec)
            self.store.audit(actor, "door.save", _door_audit(saved))
            return saved

    def doors(self) -> list[DoorSpec]:
        """Every door, by name."""
        with self._lock:
            return self.store.list_doors()

    def door(self, name: str) -> DoorSpec | None:
        """The door of this name (any case), or None."""
        with self._lock:
            return self.store.get_door(name)

    def remove_door(self, name: str, actor: str = "admin") -> None:
        """Delete a door, its cameras and the permissions at it; audited ("door.remove"). InputError
        when there is no such door or another door is paired with it for anti-passback."""
        with self._lock, self.store.transaction():
            gone = self.store.delete_door(name)
            self.store.audit(actor, "door.remove", {"door": gone.name})

    def save_schedule(self, schedule: Schedule, actor: str = "admin") -> Schedule:
        """Insert the schedule, or replace the one of the same name (any case); audited
        ("schedule.save"). Permissions using it follow the new windows at once."""
        with self._lock, self.store.transaction():
            saved = self.store.save_schedule(schedule)
            self.store.audit(actor, "schedule.save", {
                "schedule": saved.name, "text": saved.text, "timezone": saved.timezone,
                "holidays": sorted(d.isoformat() for d in saved.holidays)})
            return saved

    def schedules(self) -> list[Schedule]:
        """Every stored schedule, by name."""
        with self._lock:
            return self.store.list_schedules()

    def schedule(self, name: str) -> Schedule | None:
        """The schedule of this name (any case), or None."""
        with self._lock:
            return self.store.get_schedule(name)

    def remove_schedule(self, name: str, actor: str = "admin") -> None:
        """Delete a schedule; audited ("schedule.remove"). InputError when there is none of that
        name, or while a permission uses it (the message names the group and door)."""
        with self._lock, self.store.transaction():
            self.store.delete_schedule(name)
            self.store.audit(actor, "schedule.remove", {"schedule": name})

    def save_group(self, group: Group, actor: str = "admin") -> Group:
        """Create the group, or update the description of the one of the same name; audited ("group.save")."""
        with self._lock, self.store.transaction():
            saved = self.store.save_group(group)
            self.store.audit(actor, "group.save", {"group": saved.name, "description": saved.description})
            return saved

    def groups(self) -> list[Group]:
        """Every group, by name."""
        with self._lock:
            return self.store.list_groups()

    def remove_group(self, name: str, actor: str = "admin") -> None:
        """Delete a group, its memberships and its permissions; audited ("group.remove")."""
        with self._lock, self.store.transaction():
            self.store.delete_group(name)
            self.store.audit(actor, "group.remove", {"group": name})

    def set_permissions(self, group: str, doors: Sequence[str], schedule: str | None = None,
                        actor: str = "admin") -> list[Permission]:
        """Let ``group`` pass ``doors`` (names) when the stored schedule named ``schedule`` allows
        (None: always); replaces the group's permissions (no doors: none left). Audited
        ("permissions.set"). Returns the group's permissions. InputError for an unknown group,
        door or schedule (the message lists those that exist)."""
        with self._lock, self.store.transaction():
            perms = self.store.set_permissions(group, doors, schedule)
            self.store.audit(actor, "permissions.set", {
                "group": group, "doors": [p.door for p in perms], "schedule": schedule})
            return perms

    def permissions(self) -> list[Permission]:
        """Every permission (group x door x schedule), by group then door."""
        with self._lock:
            return self.store.list_permissions()

    def set_person_access(self, person_id: int, *, groups: Sequence[str] | EllipsisType = ...,
                          valid_from: date | EllipsisType | None = ..., valid_until: date | EllipsisType | None = ...,
                          active: bool | EllipsisType = ..., employee_id: str | EllipsisType | None = ...,
                          actor: str = "admin") -> PersonAccess:
        """Change a person's groups (replaced), validity (first and last local day, inclusive;
        None: no limit), activation and employee ID; ``...`` leaves a field as is. Audited
        ("person.access" with the changed fields) in the same transaction. Returns the person's
        access now. StorageError for an unknown person or a taken employee ID; InputError for an
        unknown group (listing the groups); ValueError when the validity ends before it starts."""
        fields = [k for k, v in (("groups", groups), ("valid_from", valid_from), ("valid_until", valid_until),
                                 ("active", active), ("employee_id", employee_id)) if not isinstance(v, EllipsisType)]
        with self._lock, self.store.transaction():
            now = self.store.set_person_access(person_id, groups=groups, valid_from=valid_from,
                                               valid_until=valid_until, active=active, employee_id=employee_id)
            self.store.audit(actor, "person.access", {
                "person_id": now.person_id, "fields": fields, "groups": sorted(now.groups),
                "valid_from": None if now.valid_from is None else now.valid_from.isoformat(),
                "valid_until": None if now.valid_until is None else now.valid_until.isoformat(),
                "active": now.active})
            return now

    def person_access(self, person_id: int) -> PersonAccess | None:
        """What the access rules know of a person (groups, validity, active), or None."""
        with self._lock:
            return self.store.person_access(person_id)

    def people_access(self) -> list[PersonAccess]:
        """What the access rules know of every person, by name."""
        with self._lock:
            return self.store.people_access()

    def access_reason(self, person_id: int, door: str, when: datetime) -> AccessReason:
        """Why the recognised person ``person_id`` may or may not pass ``door`` (name, any case)
        at ``when`` (aware datetime): the rule of :func:`desktop_app.core.access.rules.access_reason`
        (deactivated, expired, not permitted at this door, outside schedule, granted); UNKNOWN
        when there is no such person (erased meanwhile). Cheap: served from a cache refilled after
        a change made through this object, or one by another program that
        :meth:`refresh_if_changed` took; no SQL in steady state."""
        with self._lock:
            people, perms, doors = self._access_data()
            person = people.get(int(person_id))
            if person is None:
                return AccessReason.UNKNOWN
            return _access_rule(person, doors.get(fold(door), door), when, perms)

    def _access_data(self) -> tuple[dict[int, PersonAccess], tuple[Permission, ...], dict[str, str]]:
        mark = (self.store.local_changes(), self._seen_data_version)
        if self._access_cache is None or mark != self._access_mark:
            people = {p.person_id: p for p in self.store.people_access()}
            perms = tuple(self.store.list_permissions())
            doors = {fold(d.name): d.name for d in self.store.list_doors()}
            self._access_cache = (people, perms, doors)
            self._access_mark = mark
        return self._access_cache

    def last_passage(self, person_id: int, doors: Sequence[str]) -> tuple[Direction, str, datetime] | None:
        """(direction, door name, aware UTC time) of the person's latest granted passage through
        an entry or exit camera of ``doors`` (names, any case), or None: what anti-passback needs
        to know after a restart (a second "in" after an "in" at the paired doors). One indexed read."""
        with self._lock:
            return self.store.last_passage(person_id, doors)

    def request_door_open(self, door: str, actor: str = "admin") -> int:
        """Ask the door loop running ``door`` (this process or another) to open it: a command is
        queued and audited ("door.open"), in one transaction; returns its id. The loop takes it on
        its next poll (:meth:`take_door_commands`); one left untaken for
        ``storage.doors.COMMAND_MAX_AGE_S`` seconds (no loop running) expires, never opens later.
        InputError when there is no such door."""
        with self._lock, self.store.transaction():
            spec = self.store.get_door(door)
            name = spec.name if spec is not None else door
            command_id = self.store.queue_door_command(name, "open", actor)
            self.store.audit(actor, "door.open", {"door": name, "command_id": command_id})
            return command_id

    def take_door_commands(self, doors: Sequence[str]) -> list[tuple[int, str, str]]:
        """The remote commands waiting for ``doors`` (names), oldest first, as (id, door name,
        command) with command "open"; each is marked taken, so it is served once even with
        several processes polling. Cheap when none waits (one indexed read); never waits long for
        a lock: a database busy or unwritable just now gives [] (the next poll takes them). The door
        loop calls it about twice a second."""
        with self._lock:
            if self.read_only or not doors:
                return []
            try:
                return self.store.take_door_commands(doors, wait_s=FLUSH_WAIT_S)
            except StorageError as exc:
                log.info("Door commands not taken yet: %s", exc)
                return []

    # ----------------------------------------------------------------- audit log (issue 12)
    def verify_audit(self, expect: Sequence[tuple[int, str]] = ()) -> AuditVerification:
        """Check the audit log's hash chain and its head (see ``storage.audit_chain``): intact, or the
        first broken row and what is wrong. ``expect``: (row id, row hash) pairs of a head recorded
        elsewhere earlier, which must still be in the chain. Reads only."""
        with self._lock:
            return self.store.verify_audit(expect)

    def _audit_filter(self, flt: AuditFilter | None) -> AuditFilter:
        """``flt`` with the ids of the people now enrolled under its person name filled in."""
        f = flt or AuditFilter()
        if f.person is None or f.person_ids:
            return f
        return replace(f, person_ids=tuple(p.id for p in self.store.find_people(f.person.strip())))

    def query_audit(self, flt: AuditFilter | None = None) -> list[AuditRow]:
        """Audit rows matching ``flt`` (all when None), newest first, paged by its limit / offset."""
        with self._lock:
            return self.store.query_audit(self._audit_filter(flt))

    def count_audit(self, flt: AuditFilter | None = None) -> int:
        """Number of audit rows matching ``flt`` (its limit / offset are ignored)."""
        with self._lock:
            return self.store.count_audit(self._audit_filter(flt))

    def audit_choices(self) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(actions, actors) found in the audit log, sorted: the choices of the viewer's filters."""
        with self._lock:
            return self.store.audit_choices()

    def export_audit_csv(self, path: Path, flt: AuditFilter | None = None, *, actor: str = "admin") -> int:
        """Write the audit rows matching ``flt`` to a CSV file (atomically; columns
        ``storage.audit.AUDIT_COLUMNS``) and audit the export itself (``audit.export``: rows, file
        name, filter) in the same transaction; returns rows written."""
        with self._lock:
            f = self._audit_filter(flt)
            with self.store.transaction():
                n = self.store.export_audit_csv(Path(path), f)
                self.store.audit(actor, "audit.export", {"rows": n, "file": Path(path).name, **f.describe()})
            return n

    # ----------------------------------------------------------------- accounts (issue 12)
    # Named accounts with roles (``desktop_app.core.accounts``). The CLI (cli_auth) and the GUI
    # enforce the roles; these calls check credentials, keep the accounts and their history.
    def accounts_state(self) -> AccountsState:
        """OPEN (no account ever: works as before accounts), ACTIVE, or TAMPERED (fail closed)."""
        with self._lock:
            return self._accounts.state()

    def accounts(self) -> list[Account]:
        """Every account, by name (no hashes)."""
        with self._lock:
            return self._accounts.accounts()

    def account(self, name: str) -> Account | None:
        with self._lock:
            return self._accounts.account(name)

    def login(self, name: str, password: str, action: Action | None = None) -> Account:
        """The account when ``password`` is right (and its role allows ``action``); audited, with
        a stored back-off and lock-out. NotAuthorisedError with the reason otherwise."""
        with self._lock:
            return self._accounts.authenticate(name, password, action)

    def login_retry_in(self, name: str) -> float:
        """Seconds before account ``name`` may try a password again (0: now)."""
        with self._lock:
            return self._accounts.retry_in(name)

    def setup_first_admin(self, name: str, password: str) -> str:
        """Create the first account (an admin; no credentials needed while there is none); returns
        the recovery code to show once. Retires the legacy admin PIN."""
        with self._lock:
            return self._accounts.setup(name, password)

    def add_account(self, by: Account, name: str, role: Role | str, password: str) -> Account:
        """Add an account; ``by``: the admin logged in."""
        with self._lock:
            return self._accounts.add(by, name, role, password)

    def set_account_password(self, by: Account, name: str, new_password: str,
                             current_password: str | None = None) -> None:
        """Change one's own password (the current one needed) or, as an admin, reset another's."""
        with self._lock:
            self._accounts.set_password(by, name, new_password, current_password)

    def update_account(self, by: Account, name: str, *, role: Role | str | None = None,
                       disabled: bool | None = None) -> Account:
        """Change an account's role or disabled flag (``by``: an admin)."""
        with self._lock:
            return self._accounts.update(by, name, role=role, disabled=disabled)

    def remove_account(self, by: Account, name: str) -> None:
        with self._lock:
            self._accounts.remove(by, name)

    def new_recovery_code(self, by: Account) -> str:
        """A new recovery code (``by``: an admin); the previous one stops working."""
        with self._lock:
            return self._accounts.new_recovery_code(by)

    def recover_account(self, code: str, new_password: str, name: str | None = None) -> tuple[Account, str]:
        """With the recovery code: a new password for an admin, the accounts put back in line with
        their audited history; returns (the admin, the new recovery code). The code also wraps the
        data key: on face data locked here (a moved data folder) it unlocks it, and the gallery loads."""
        with self._lock:
            was_locked = self.store.data_locked
            done = self._accounts.recover(code, new_password, name)
            if was_locked and not self.store.data_locked:  # the code unlocked the face data (moved folder)
                self.rebuild_gallery()
            return done

    # ----------------------------------------------------------------- liveness (presentation-attack detection)
    def check_liveness(self, frames: Iterable[tuple[np.ndarray, float]], settings: LivenessSettings | None = None,
                       *, stop_when_decided: bool = True) -> SequenceResult:
        """Passive liveness of the main face of ``frames`` ((H, W, 3) uint8 BGR image, ts seconds)
        with this gate's face detector: the verdict (live True/False/None, score 0..1, reasons) and
        what it cost. settings: default the installation's ``config.liveness`` (its mode is not
        looked at: this check is passive). With ``stop_when_decided`` it stops at the first
        decided verdict, as a door does. The lock is taken per frame, so a door is never blocked."""
        cfg = settings if settings is not None else self.config.liveness

        def detect(image: np.ndarray) -> list[Detection]:
            with self._lock:
                return self.engine.detector.detect(image)

        return check_sequence(frames, detect, cfg, stop_when_decided=stop_when_decided)

    def liveness_tracks(self, settings: LivenessSettings | None = None,
                        rng: np.random.Generator | None = None) -> LivenessTracks:
        """One camera's per-track liveness checks for its live loop (settings: default the
        installation's ``config.liveness``; a door passes its own). Feed it each tracked face per
        frame and ask its verdict before granting (see :mod:`desktop_app.core.liveness.tracks`)."""
        return LivenessTracks(settings if settings is not None else self.config.liveness, rng=rng)


def _door_audit(door: DoorSpec) -> dict[str, object]:
    """What the audit keeps of a saved door: everything but the secret (set or none), the output
    without its password."""
    return {"door": door.name, "output": redact_uri(door.output), "secret": "set" if door.secret else "none",
            "cameras": [f"{c.direction.value}:{redact_uri(c.source)}" for c in door.cameras],
            "unlock_seconds": door.unlock_seconds, "fail_mode": door.fail_mode.value,
            "passback": door.passback, "passback_partner": door.passback_partner,
            "liveness": door.liveness.value if door.liveness is not None else "default"}


def _quality_dict(face: Face) -> dict[str, object]:
    q = face.quality
    return {
        "inter_ocular_px": round(q.inter_ocular_px, 2), "sharpness": round(q.sharpness, 1),
        "brightness": round(q.brightness, 1), "yaw": round(q.yaw, 1), "pitch": round(q.pitch, 1),
        "roll": round(q.roll, 1), "detector_score": round(face.detection.score, 4),
        "enhancement": face.detection.enhancement, "reasons": list(q.reasons),
    }


def _config_audit(config: AppConfig) -> dict[str, object]:
    """The settings as audited: no password of a URI (camera source, site alert output) and no
    alert HMAC key in the audit log (it is viewed, exported as CSV, and kept when settings change)."""
    dump: dict[str, dict[str, object]] = config.model_dump(mode="json")
    dump["camera"]["source"] = redact_uri(config.camera.source)
    dump["alerts"]["output"] = redact_uri(config.alerts.output)
    dump["alerts"]["secret"] = "set" if config.alerts.secret else "none"
    return dict(dump)

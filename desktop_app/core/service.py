"""FaceGate's core API: one object per database that the command line, the GUI and the trainer use.

``FaceGate`` ties together the store (SQLite), the model registry, the face engine, the gallery
and the calibrated threshold. Everything the app does is callable from here without Qt.
Thread safety: public methods take one re-entrant lock, so a GUI worker thread and a pool job may
share one instance.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from desktop_app.core.config import AppConfig
from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.embedding.model_prior import load_prior
from desktop_app.core.embedding.model_registry import ModelRegistry
from desktop_app.core.errors import (
    CancelledError,
    FaceGateError,
    GalleryError,
    ImageError,
    ManyFacesError,
    NoFaceError,
    QualityError,
)
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.face.engine import Analysis, EngineConfig, FaceEngine
from desktop_app.core.face.quality import recognition_issues
from desktop_app.core.matching.calibration import CalibrationPolicy
from desktop_app.core.matching.calibration import calibrate as calibrate_scores
from desktop_app.core.matching.gallery import Gallery, HnswGallery, build_gallery
from desktop_app.core.progress import CancelFn, ProgressFn
from desktop_app.core.storage.records import ErasureReport, ModelRecord, Person
from desktop_app.core.storage.store import Store
from desktop_app.core.types import Calibration, Face, PersonMatch
from desktop_app.core.video.imageio import expand_image_args, read_image

log = logging.getLogger(__name__)


#: Galleries with fewer templates use exact search: as fast as HNSW up to about 20k templates (bench).
EXACT_BELOW = 20_000
#: A second face counts as "another person in the photo" when its area is at least this share of the largest.
MANY_FACES_AREA_RATIO = 0.35


@dataclass(frozen=True)
class EnrolShot:
    """Outcome of one enrolment image: ``sample_id`` when stored, else ``reason`` says why not."""

    source: str
    sample_id: int | None = None
    reason: str | None = None


@dataclass(frozen=True)
class EnrolReport:
    """What an enrolment did: person, stored shots, rejected shots with reasons, look-alike warnings."""

    person_id: int
    name: str
    added: tuple[EnrolShot, ...]
    rejected: tuple[EnrolShot, ...]
    warnings: tuple[str, ...] = ()


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
    #: False when the face was recognised as a person who is not allowed in (deactivated)
    allowed: bool = True
    #: why the face was not matched although found (profile, blurred): empty when it was matchable
    quality_reasons: tuple[str, ...] = field(default_factory=tuple)


class FaceGate:
    """The FaceGate core for one database file. Data (models, gallery) lives beside the database."""

    def __init__(self, db_path: Path, *, device: str | None = None, flip: bool | None = None,
                 config: AppConfig | None = None) -> None:
        self.db_path = Path(db_path)
        self.data_dir = self.db_path.parent
        self.store = Store(self.db_path)
        self._lock = threading.RLock()
        try:
            if config is not None:
                self.store.set_setting("config", config.model_dump(mode="json"))
            self.config = self._load_config()
            rec = self.config.recognition
            self.registry = ModelRegistry(self.store, self.data_dir / "models")
            self.model: ModelRecord = self.registry.active()
            self.engine = FaceEngine(
                FaceDetector(),
                Embedder(Path(self.model.path), device=device or rec.device,
                         flip=rec.flip_tta if flip is None else flip, expected_sha256=self.model.sha256),
                EngineConfig(min_recognition_iod_px=rec.min_face_px),
            )
            self.gallery: Gallery = self._load_gallery()
        except BaseException:
            self.store.close()
            raise
        self._calibration: Calibration | None = None

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
        try:
            return AppConfig.model_validate(raw)
        except ValueError as exc:
            log.warning("Stored settings are invalid (%s); using defaults.", exc)
            return AppConfig()

    def update_config(self, config: AppConfig, actor: str = "admin") -> None:
        """Validate and store new settings; the threshold is recalibrated if the target changed."""
        with self._lock:
            self.store.set_setting("config", config.model_dump(mode="json"))
            self.store.audit(actor, "settings.update", config.model_dump(mode="json"))
            changed = config.recognition.target_fpir != self.config.recognition.target_fpir
            self.config = config
            if changed:
                self._calibration = None

    @property
    def provider(self) -> str:
        """Execution provider running the embedder: "CUDA" or "CPU"."""
        return self.engine.embedder.provider

    # ----------------------------------------------------------------- gallery
    def _gallery_file(self) -> Path:
        return self.data_dir / "gallery" / f"{self.model.sha256[:16]}.hnsw"

    def _load_gallery(self) -> Gallery:
        """The gallery for the active model. Small galleries are exact and rebuilt from the database
        in milliseconds; HNSW galleries are persisted beside the database and reloaded when the
        file matches the database's templates, else rebuilt and saved."""
        ids, persons, vecs = self.store.templates(self.model.sha256, active_only=False)
        kind = self.config.recognition.gallery
        if kind == "exact" or (kind == "auto" and len(ids) < EXACT_BELOW):
            return build_gallery(ids, persons, vecs, kind="exact", dim=self.engine.embedder.dim)
        path = self._gallery_file()
        if path.is_file():
            try:
                saved = HnswGallery.load(path, model_sha256=self.model.sha256)
                if np.array_equal(saved.template_ids(), np.sort(ids)):
                    return saved
                log.info("Saved gallery %s is out of date; rebuilding it from the database.", path)
            except GalleryError as exc:
                log.warning("Saved gallery unusable (%s); rebuilding it from the database.", exc)
        gallery = build_gallery(ids, persons, vecs, kind="hnsw", dim=self.engine.embedder.dim,
                                model_sha256=self.model.sha256)
        self._persist_gallery(gallery)
        return gallery

    def _persist_gallery(self, gallery: Gallery | None = None) -> None:
        g = gallery if gallery is not None else self.gallery
        if isinstance(g, HnswGallery):
            self._gallery_file().parent.mkdir(parents=True, exist_ok=True)
            g.save(self._gallery_file())

    def rebuild_gallery(self) -> int:
        """Rebuild the gallery from the database's templates for the active model; returns its size."""
        with self._lock:
            self._gallery_file().unlink(missing_ok=True)
            self.gallery = self._load_gallery()
            self._calibration = None
            return len(self.gallery)

    def people(self, search: str | None = None) -> list[Person]:
        return self.store.list_people(search=search)

    # ----------------------------------------------------------------- threshold
    @property
    def calibration(self) -> Calibration | None:
        """The calibration in force for this model, gallery size and target (recomputed when stale)."""
        with self._lock:
            cal = self._calibration or self.store.latest_calibration(self.model.sha256)
            if cal is None or self._stale(cal):
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
        cal = self.calibration
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
            prior = load_prior(self.model.sha256, self.engine.embedder.flip, (self.registry.folder,))
            floor = prior.threshold_for_gallery(target, len(persons)) if prior is not None else None
            cal = calibrate_scores(
                vecs, persons, strangers, policy, model_sha256=self.model.sha256,
                fallback=None, prior_threshold=floor,
            )
            self.store.save_calibration(cal)
            self.model = replace(self.model, threshold=cal.threshold, target_fpir=cal.target_fpir,
                                 gallery_size=cal.gallery_persons)
            self.store.register_model(self.model)  # the registry row carries the threshold in force
            self._calibration = cal
            return cal

    def add_strangers(self, images: Sequence[Path], progress: ProgressFn | None = None) -> int:
        """Embed the main face of each image and add it to the stranger pool; returns faces added."""
        vecs = []
        files = expand_image_args(list(images))
        for i, path in enumerate(files):
            try:
                face = self.engine.main_face(read_image(path))
            except ImageError as exc:
                log.warning("%s", exc)
                face = None
            if face is not None:
                vecs.append(face.embedding)
            if progress:
                progress(i + 1, len(files), str(path))
        if vecs:
            self.store.add_strangers(np.stack(vecs), self.model.sha256, "images")
        return len(vecs)

    # ----------------------------------------------------------------- matching
    def match(self, embeddings: np.ndarray) -> list[PersonMatch | None]:
        """Best person per (N, D) embedding, or None for an empty gallery."""
        with self._lock:
            if len(embeddings) == 0 or len(self.gallery) == 0:
                return [None] * len(embeddings)
            return self.gallery.match(np.asarray(embeddings, np.float32))

    def accepts(self, m: PersonMatch | None) -> bool:
        """True when a match passes the calibrated threshold and the margin over the runner-up."""
        return (
            m is not None
            and m.score >= self.threshold
            and m.score - m.second_score >= self.config.recognition.margin
        )

    def identify(self, image: np.ndarray) -> list[Identification]:
        """Identify every face in a (H, W, 3) BGR image: faces too small to recognise are listed too."""
        analysis = self.engine.analyze(image)
        return self._identify_analysis(analysis)

    def _identify_analysis(self, analysis: Analysis) -> list[Identification]:
        matches = self.match(np.stack([f.embedding for f in analysis.faces])) if analysis.faces else []
        out: list[Identification] = []
        for face, m in zip(analysis.faces, matches, strict=True):
            issues = recognition_issues(face.quality)
            ok = self.accepts(m) and not issues
            person = self.store.get_person(m.person_id) if (ok and m is not None) else None
            out.append(Identification(
                box=face.detection.box, name=person.name if person else None,
                person_id=person.id if person else None,
                score=m.score if m else -1.0, second_score=m.second_score if m else -1.0,
                accepted=ok and person is not None, quality_reasons=issues,
                allowed=person.active if person is not None else True,
            ))
        out.extend(
            Identification(box=d.box, name=None, person_id=None, score=-1.0, second_score=-1.0,
                           accepted=False, too_small=True)
            for d in analysis.too_small
        )
        return out

    # ----------------------------------------------------------------- enrolment
    def enrol_face_from_image(self, image: np.ndarray, *, check_quality: bool = True) -> Face:
        """The one face of an enrolment image; raises NoFaceError, ManyFacesError or QualityError."""
        analysis = self.engine.analyze(image)
        if not analysis.faces:
            if analysis.too_small:
                raise NoFaceError("The face is too small: move closer or use a larger photo.")
            raise NoFaceError("No face found in the image.")
        faces = analysis.faces
        if len(faces) > 1 and faces[1].detection.area >= MANY_FACES_AREA_RATIO * faces[0].detection.area:
            raise ManyFacesError(f"{len(faces)} faces found: use a photo of the person alone.")
        face = faces[0]
        if check_quality and not face.quality.ok:
            raise QualityError("Poor shot: " + "; ".join(face.quality.reasons), face.quality.reasons)
        return face

    def enrol_images(self, name: str, images: Sequence[Path], *, employee_id: str | None = None,
                     department: str | None = None, check_quality: bool = True,
                     progress: ProgressFn | None = None, cancelled: CancelFn | None = None,
                     actor: str = "admin") -> EnrolReport:
        """Enrol ``name`` from photo files or folders. Creates the person if new, else adds shots.

        Every image is judged on its own: unreadable files, no face, several faces and poor quality
        are rejected with the reason, and the good ones are stored. The person is only created
        when at least one shot is good. ``cancelled()`` returning True stops the job with
        CancelledError before anything is stored (all or nothing).
        """
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
                                department=department, actor=actor)

    def enrol_faces(self, name: str, faces: Sequence[tuple[str, Face]], *, rejected: Sequence[EnrolShot] = (),
                    employee_id: str | None = None, department: str | None = None,
                    actor: str = "admin") -> EnrolReport:
        """Store already-checked faces (source, face) for ``name`` (the webcam wizard's path)."""
        name = name.strip()
        if not name:
            raise ValueError("A name is required.")
        with self._lock:
            person = self.store.find_person(name)
            if not faces:
                return EnrolReport(person_id=person.id if person else -1, name=name, added=(),
                                   rejected=tuple(rejected),
                                   warnings=("Nothing was enrolled: no usable face.",))
            warnings = self._lookalike_warnings(person.id if person else None, [f for _, f in faces])
            with self.store.transaction():
                pid = person.id if person else self.store.add_person(name, employee_id=employee_id,
                                                                      department=department)
                added = []
                for source, face in faces:
                    sid = self.store.add_sample(pid, face.crop, _quality_dict(face), source, face.embedding,
                                                self.model.sha256)
                    added.append(EnrolShot(source=source, sample_id=sid))
                self.store.audit(actor, "person.enrol", {"person_id": pid, "shots": len(added)})
            self.gallery.add(
                np.array([a.sample_id for a in added], np.int64), np.full(len(added), pid, np.int64),
                np.stack([f.embedding for _, f in faces]),
            )
            self._persist_gallery()
            self._calibration = None
            return EnrolReport(person_id=pid, name=name, added=tuple(added), rejected=tuple(rejected),
                               warnings=tuple(warnings))

    def _lookalike_warnings(self, person_id: int | None, faces: Sequence[Face]) -> list[str]:
        if len(self.gallery) == 0:
            return []
        warnings: list[str] = []
        thr = self.threshold
        for pid, best in self._best_other_persons(person_id, np.stack([f.embedding for f in faces])):
            if best >= thr:
                other = self.store.get_person(pid)
                label = other.name if other else f"person {pid}"
                warnings.append(f"Looks like the already enrolled {label} (score {best:.2f} >= {thr:.2f}): "
                                f"a duplicate or a look-alike.")
        return warnings

    def _best_other_persons(self, person_id: int | None, vecs: np.ndarray) -> list[tuple[int, float]]:
        best: dict[int, float] = {}
        for row in self.gallery.search(vecs, k_persons=3):
            for pid, score in row:
                if pid != person_id:
                    best[pid] = max(best.get(pid, -1.0), score)
        return sorted(best.items(), key=lambda kv: -kv[1])[:1]

    # ----------------------------------------------------------------- people admin
    def erase_person(self, person_id: int, actor: str = "admin") -> ErasureReport:
        """Erase a person everywhere: database rows, crops, templates, gallery entries."""
        with self._lock:
            report = self.store.erase_person(person_id, actor=actor)
            self.gallery.remove_person(person_id)
            self._persist_gallery()
            self._calibration = None
            return report

    def delete_sample(self, sample_id: int, actor: str = "admin") -> None:
        with self._lock:
            self.store.delete_sample(sample_id)
            self.gallery.remove_templates([sample_id])
            self._persist_gallery()
            self.store.audit(actor, "sample.delete", {"sample_id": sample_id})
            self._calibration = None

    # ----------------------------------------------------------------- models
    def reembed(self, model: ModelRecord, progress: ProgressFn | None = None,
                cancelled: CancelFn | None = None) -> int:
        """Compute templates for ``model`` from the stored crops (missing ones only); returns count."""
        emb = Embedder(Path(model.path), device=self.config.recognition.device,
                       flip=self.engine.embedder.flip, expected_sha256=model.sha256)
        todo = self.store.samples_missing_template(model.sha256)
        for i in range(0, len(todo), 32):
            if cancelled and cancelled():
                break
            chunk = todo[i:i + 32]
            vecs = emb.embed(np.stack([self.store.sample_crop(s) for s in chunk]))
            with self.store.transaction():
                for sid, v in zip(chunk, vecs, strict=True):
                    self.store.set_template(sid, model.sha256, v)
            if progress:
                progress(min(i + 32, len(todo)), len(todo), model.name)
        return len(todo)

    def switch_model(self, sha256: str, actor: str = "admin", progress: ProgressFn | None = None,
                     cancelled: CancelFn | None = None) -> ModelRecord:
        """Re-embed the gallery for another registered model, then make it active atomically."""
        rec = self.registry.verified(self._model_record(sha256))
        self.reembed(rec, progress=progress, cancelled=cancelled)
        if self.store.samples_missing_template(rec.sha256):
            raise FaceGateError("Model switch cancelled: the gallery was not fully re-embedded.")
        embedder = Embedder(Path(rec.path), device=self.config.recognition.device,
                            flip=self.engine.embedder.flip, expected_sha256=rec.sha256)
        with self._lock:
            self.registry.activate(rec.sha256)
            self.model = rec
            self.engine = FaceEngine(self.engine.detector, embedder, self.engine.config)
            self.gallery = self._load_gallery()
            self._calibration = None
            self.store.audit(actor, "model.activate", {"sha256": rec.sha256, "name": rec.name})
        return rec

    def rollback_model(self, actor: str = "admin") -> ModelRecord:
        prev = self.store.previous_model()
        if prev is None:
            raise FaceGateError("There is no previous model to roll back to.")
        return self.switch_model(prev.sha256, actor=actor)

    def _model_record(self, sha256: str) -> ModelRecord:
        rec = self.store.get_model(sha256)
        if rec is None:
            raise FaceGateError(f"No registered model {sha256[:12]}.")
        return rec


def _quality_dict(face: Face) -> dict[str, object]:
    q = face.quality
    return {
        "inter_ocular_px": round(q.inter_ocular_px, 2), "sharpness": round(q.sharpness, 1),
        "brightness": round(q.brightness, 1), "yaw": round(q.yaw, 1), "pitch": round(q.pitch, 1),
        "roll": round(q.roll, 1), "detector_score": round(face.detection.score, 4),
        "enhancement": face.detection.enhancement, "reasons": list(q.reasons),
    }

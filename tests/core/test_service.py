"""End to end through the core API on real data: enrol from photos, identify, run the real clip
headless, erase, and the bad inputs a real site produces."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import date
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
from desktop_app.core.errors import ImageError, ManyFacesError, ModelError, NoFaceError, StorageError
from desktop_app.core.live.session import run_headless
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image

LIN = "Lin-Manuel Miranda"
ALEX = "Alex Lacamoire"


@pytest.fixture(scope="module")
def gate_dir(tmp_path_factory: pytest.TempPathFactory, clips: Path) -> Path:
    """A database with the two people of the clip enrolled from their photos (built once)."""
    d = tmp_path_factory.mktemp("gate")
    with FaceGate(d / "facegate.db", device="cpu") as gate:
        rep = gate.enrol_images(LIN, [clips / "lin-manuel-miranda.png"])
        assert len(rep.added) == 1, rep.rejected
        rep = gate.enrol_images(ALEX, [clips / "alex-lacamoire.png"])
        assert len(rep.added) == 1, rep.rejected
        for name in ["obama", "biden", "kit_harington", "rose_leslie"]:
            rep = gate.enrol_images(name, [clips / "knn_examples" / "train" / name])
            assert rep.added, rep.rejected
    return d


@pytest.fixture()
def gate(gate_dir: Path, tmp_path: Path):  # type: ignore[no-untyped-def]
    """A private copy of the enrolled database for one test."""
    dst = tmp_path / "gate"
    shutil.copytree(gate_dir, dst)
    g = FaceGate(dst / "facegate.db", device="cpu")
    yield g
    g.close()


def test_default_model_is_registered_fp32_and_verified(gate: FaceGate) -> None:
    from desktop_app.core.embedding.model_prior import load_prior

    assert gate.model.name == "sface-2021dec-fp32"
    # the fp32 conversion is deterministic, so the score priors shipped for its hash apply to it
    assert load_prior(gate.model.sha256, flip=True) is not None
    assert load_prior(gate.model.sha256, flip=False) is not None
    assert gate.provider == "CPU"
    assert gate.engine.embedder.dim == 128
    assert len(gate.gallery) == 10 and gate.gallery.person_count == 6


def test_identify_knn_test_photos(gate: FaceGate, clips: Path) -> None:
    test = clips / "knn_examples" / "test"
    names = {r.name for r in gate.identify(read_image(test / "obama1.jpg")) if r.accepted}
    assert names == {"obama"}
    both = gate.identify(read_image(test / "obama_and_biden.jpg"))
    accepted = sorted(r.name for r in both if r.accepted and r.name)
    assert accepted == ["biden", "obama"]
    assert sum(1 for r in both if not r.accepted) == 1  # the third, unenrolled face stays unknown
    kit = {r.name for r in gate.identify(read_image(test / "kit_with_rose.jpg")) if r.accepted}
    assert kit <= {"kit_harington", "rose_leslie"} and kit


def test_strangers_are_not_matched_to_the_nearest_person(gate: FaceGate, lfw: Path) -> None:
    from desktop_app.core.evaluation.lfw import lfw_single_image_people

    strangers = lfw_single_image_people(lfw)[:60]
    accepted = []
    for path in strangers:
        accepted += [(path.name, r.name, r.score) for r in gate.identify(read_image(path)) if r.accepted]
    assert accepted == []


def test_clip_headless_recognises_lin_and_never_a_wrong_name(gate: FaceGate, clips: Path) -> None:
    summary = run_headless(gate, str(clips / "short_hamilton_clip.mp4"))
    assert summary.frames == 275
    granted = [e for e in summary.events if e.decision == "granted"]
    assert [e.name for e in granted].count(LIN) >= 1
    assert {e.name for e in granted} <= {LIN, ALEX}
    # Alex is at the piano with a face about 22 px wide: below the minimum face size, never a wrong name
    assert summary.too_small_frames > 0
    stored = gate.store.query_events()
    assert {e.name for e in stored if e.decision == "granted"} <= {LIN, ALEX}
    assert any(e.name == LIN for e in stored)


def test_enrolment_rejects_bad_shots_with_reasons(gate: FaceGate, clips: Path, tmp_path: Path) -> None:
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"not an image")
    blank = tmp_path / "wall.png"
    import cv2

    cv2.imwrite(str(blank), np.full((300, 300, 3), 128, np.uint8))
    many = clips / "knn_examples" / "test" / "obama_and_biden.jpg"
    rep = gate.enrol_images("Ada", [bad, blank, many])
    assert not rep.added
    reasons = {Path(s.source).name: s.reason or "" for s in rep.rejected}
    assert "not an image" in reasons["broken.jpg"]
    assert "No face" in reasons["wall.png"]
    assert "faces found" in reasons["obama_and_biden.jpg"]
    assert gate.store.find_person("Ada") is None  # nothing half-created
    with pytest.raises(NoFaceError):
        gate.enrol_face_from_image(read_image(blank))
    with pytest.raises(ManyFacesError):
        gate.enrol_face_from_image(read_image(many))
    with pytest.raises(ImageError):
        gate.enrol_images("Ada", [])


def test_duplicate_enrolment_is_refused_before_saving_unless_forced(gate: FaceGate, clips: Path) -> None:
    rep = gate.enrol_images("Barack Again", [clips / "knn_examples" / "test" / "obama1.jpg"])
    assert not rep.added and rep.needs_force and gate.store.find_person("Barack Again") is None
    assert "obama" in (rep.rejected[0].reason or "")
    rep = gate.enrol_images("Barack Again", [clips / "knn_examples" / "test" / "obama1.jpg"], force=True)
    assert rep.added
    assert any("obama" in w for w in rep.warnings)


def test_erase_removes_every_trace(gate: FaceGate, clips: Path) -> None:
    run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=120)
    lin = gate.store.find_person(LIN)
    assert lin is not None
    n_events = gate.store.count_events(person_id=lin.id)
    assert n_events >= 1
    report = gate.erase_person(lin.id)
    assert report.samples == 1
    assert gate.store.find_person(LIN) is None
    assert lin.id not in set(gate.gallery.person_ids().tolist())
    assert all(e.person_id != lin.id for e in gate.store.query_events())
    _, persons, _ = gate.store.templates(gate.model.sha256)
    assert lin.id not in set(persons.tolist())
    # a fresh process rebuilding the gallery from the database sees nobody of him either
    gate.rebuild_gallery()
    m = gate.match(gate.engine.main_face(read_image(clips / "lin-manuel-miranda.png")).embedding[None])[0]  # type: ignore[union-attr]
    assert m is None or m.person_id != lin.id


def test_locked_database_gives_clear_error_and_loses_nothing(gate: FaceGate, clips: Path) -> None:
    gate.store.timeout_s = 0.2  # type: ignore[misc]
    other = sqlite3.connect(gate.db_path, timeout=0.1)
    other.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StorageError, match="locked"):
            gate.enrol_images("Locked Out", [clips / "knn_examples" / "test" / "obama1.jpg"], force=True)
    finally:
        other.rollback()
        other.close()
    assert gate.store.find_person(LIN) is not None
    assert gate.store.find_person("Locked Out") is None


def test_broken_default_model_file_heals_and_altered_trained_model_is_refused(gate_dir: Path,
                                                                              tmp_path: Path) -> None:
    dst = tmp_path / "g"
    shutil.copytree(gate_dir, dst)
    model = next((dst / "models").glob("sface-2021dec-fp32*.onnx"))
    model.write_bytes(model.read_bytes()[:1000])  # a damaged copy of the default model is rebuilt
    with FaceGate(dst / "facegate.db", device="cpu") as g:
        assert g.model.name == "sface-2021dec-fp32"
        rec = g.registry.add(shipped_model_path(EMBEDDER), "custom")
        bad = Path(rec.path)
    bad.write_bytes(bad.read_bytes()[:-10] + b"0123456789")
    with FaceGate(dst / "facegate.db", device="cpu") as g, pytest.raises(ModelError, match="altered"):
        g.registry.activate(rec.sha256)


def test_camera_that_disappears_mid_run(gate: FaceGate, clips: Path, tmp_path: Path) -> None:
    """The recording is cut mid-stream (a camera unplugged while writing): the run ends cleanly with
    the frames it had, logs what it saw, and reports the source state."""
    import cv2

    from desktop_app.core.video.sources import VideoFileSource

    src = VideoFileSource(clips / "short_hamilton_clip.mp4")
    src.open()
    clip = tmp_path / "door.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 30.0, (640, 360))
    for _ in range(120):
        frame = src.read()
        assert frame is not None
        writer.write(frame.image)
    writer.release()
    src.close()
    data = clip.read_bytes()
    clip.write_bytes(data[: len(data) // 2])  # the second half of the stream never arrived
    summary = run_headless(gate, str(clip))
    assert 20 < summary.frames < 120
    assert summary.final_state in ("ended", "failed")
    assert any(e.name == LIN for e in summary.events)


def test_hnsw_gallery_persists_beside_the_database_and_forgets_erased(tmp_path: Path, clips: Path) -> None:
    from desktop_app.core.config import AppConfig, RecognitionSettings
    from desktop_app.core.matching.gallery import HnswGallery

    cfg = AppConfig(recognition=RecognitionSettings(gallery="hnsw"))
    db = tmp_path / "h" / "facegate.db"
    with FaceGate(db, device="cpu", config=cfg) as g:
        g.enrol_images("obama", [clips / "knn_examples" / "train" / "obama"])
        g.enrol_images("biden", [clips / "knn_examples" / "train" / "biden"])
        files = list((db.parent / "gallery").glob("*.hnsw"))
        assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    with FaceGate(db, device="cpu") as g:  # reloaded from the file, not rebuilt (and so not re-saved)
        assert isinstance(g.gallery, HnswGallery) and len(g.gallery) == 4
        assert files[0].stat().st_mtime_ns == stamp
        probe = g.identify(read_image(clips / "knn_examples" / "test" / "obama1.jpg"))
        assert [r.name for r in probe if r.accepted] == ["obama"]
        obama = g.store.find_person("obama")
        assert obama is not None
        g.erase_person(obama.id)
    with FaceGate(db, device="cpu") as g:
        assert len(g.gallery) == 2 and obama.id not in g.gallery.person_ids().tolist()


def test_deactivated_person_is_denied_by_name_not_granted(gate: FaceGate, clips: Path) -> None:
    lin = gate.store.find_person(LIN)
    assert lin is not None
    gate.store.update_person(lin.id, active=False)
    gate.rebuild_gallery()
    assert lin.id in gate.gallery.person_ids().tolist()  # still recognised...
    summary = run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=60)
    decisions = {(e.decision, e.name) for e in summary.events}
    assert ("denied", LIN) in decisions  # ...and refused by name
    assert not any(e.decision == "granted" for e in summary.events)
    assert gate.store.attendance(date.today(), date.today(), person_id=lin.id) == []
    photo = gate.identify(read_image(clips / "lin-manuel-miranda.png"))
    assert [(r.name, r.allowed) for r in photo if r.accepted] == [(LIN, False)]


# ----------------------------------------------------------------- the facade (issue 8, "The boundary")
def _calibration_rows(gate: FaceGate) -> int:
    return int(gate.store.db.execute("SELECT count(*) FROM calibrations").fetchone()[0])


def test_calibration_is_explicit_and_a_threshold_read_never_writes(gate: FaceGate, clips: Path) -> None:
    cal = gate.current_calibration()
    assert cal is not None and (cal.gallery_persons, cal.gallery_templates) == (6, 10)
    assert gate.threshold == cal.threshold
    rows = _calibration_rows(gate)
    # the gallery grows behind the gate's back (another program): the stored calibration no longer fits
    face = gate.enrol_face_from_image(read_image(clips / "knn_examples" / "test" / "obama1.jpg"))
    pid = gate.store.add_person("Side Door")
    sid = gate.store.add_sample(pid, face.crop, {}, "side", face.embedding, gate.model.sha256)
    gate.gallery.add(np.array([sid], np.int64), np.array([pid], np.int64), face.embedding[None])
    for _ in range(50):  # the per-frame path: cheap reads, never a calibration
        assert gate.current_calibration() is None
        assert gate.threshold == gate.config.recognition.fallback_threshold
    assert _calibration_rows(gate) == rows
    fresh = gate.recalibrate()
    assert fresh is not None and fresh.gallery_persons == 7 and _calibration_rows(gate) == rows + 1
    assert gate.current_calibration() == fresh and gate.threshold == fresh.threshold
    # the core recalibrates by itself after its own changes
    gate.erase_person(pid)
    after = gate.current_calibration()
    assert after is not None and after.gallery_persons == 6 and _calibration_rows(gate) == rows + 2


def test_update_person_is_one_transaction_with_its_audit(gate: FaceGate) -> None:
    lin = gate.find_person(LIN)
    alex = gate.find_person(ALEX)
    assert lin is not None and alex is not None
    updated = gate.update_person(lin.id, employee_id="E-7", department="Stage", actor="tester")
    assert (updated.employee_id, updated.department, updated.name) == ("E-7", "Stage", LIN)
    row = gate.store.audit_log(1)[0]
    assert (row.actor, row.action, row.details["person_id"]) == ("tester", "person.update", lin.id)
    assert row.details["fields"] == ["employee_id", "department"]
    n_audit = len(gate.store.audit_log(1000))
    with pytest.raises(StorageError):
        gate.update_person(alex.id, name=LIN.upper())  # the name is taken: nothing changes, nothing audited
    assert gate.get_person(alex.id) == alex and len(gate.store.audit_log(1000)) == n_audit


def test_event_and_photo_use_cases(gate: FaceGate, clips: Path) -> None:
    from desktop_app.core.service import EventFilter

    lin = gate.find_person(LIN)
    assert lin is not None
    photo = gate.person_photo(lin.id)
    assert photo is not None and photo.shape == (112, 112, 3)
    samples = gate.list_samples(lin.id)
    assert len(samples) == 1 and np.array_equal(gate.sample_crop(samples[0].id), photo)
    stats = gate.gallery_stats()
    assert (stats.templates, stats.persons) == (10, 6)
    run_headless(gate, str(clips / "short_hamilton_clip.mp4"), max_frames=120)
    mine = gate.query_events(EventFilter(person_id=lin.id, decision="granted"))
    assert mine and gate.count_events(EventFilter(person_id=lin.id, decision="granted")) == len(mine)
    assert gate.query_events(EventFilter(limit=1)) == gate.query_events()[:1]
    snap = gate.event_snapshot(mine[0].id)
    assert snap is not None and snap.ndim == 3
    today = date.today()
    assert [r.person_id for r in gate.attendance(today, today)] == [lin.id]
    assert gate.list_models() and gate.previous_model() is None
    analysis = gate.analyse(read_image(clips / "knn_examples" / "test" / "obama_and_biden.jpg"))
    assert len(analysis.faces) == 3


def test_one_accept_rule_for_identify_and_the_door(gate: FaceGate) -> None:
    from desktop_app.core.decision.policy import DecisionConfig, DecisionPolicy, FrameObservation
    from desktop_app.core.matching.accept import accepts
    from desktop_app.core.types import PersonMatch

    thr, margin = gate.threshold, gate.config.recognition.margin
    policy = DecisionPolicy(DecisionConfig(threshold=thr, margin=margin, votes_needed=1, window=1))
    cases = [PersonMatch(1, thr, thr - margin), PersonMatch(1, thr - 1e-6, -1.0),
             PersonMatch(1, thr + 0.1, thr + 0.1 - margin + 1e-6), PersonMatch(1, 1.0, -1.0)]
    for i, m in enumerate(cases):
        door = bool(policy.update(float(i), [FrameObservation(box=(10.0 + 200 * i, 10, 50, 50), match=m)])[1])
        assert gate.accepts(m) == accepts(m, thr, margin) == door, m
    assert not gate.accepts(None)


def test_admin_pin_through_the_facade_is_hashed_backed_off_and_audited(gate: FaceGate) -> None:
    assert not gate.has_admin_pin()
    gate.set_admin_pin("314159")
    assert gate.has_admin_pin() and "314159" not in str(gate.store.get_setting("admin_pin"))
    with pytest.raises(ValueError):
        gate.set_admin_pin("2718", current_pin="000000")
    for _ in range(3):
        assert not gate.verify_admin_pin("000000")
    assert gate.admin_pin_retry_in() > 0 and not gate.verify_admin_pin("314159")
    actions = [a.action for a in gate.store.audit_log(20)]
    assert actions.count("admin.pin_refused") == 3 and actions.count("admin.pin_set") == 1


PUBLIC_CALLS = {
    "identify": lambda g, img: g.identify(read_image(img)),
    "analyse": lambda g, img: g.analyse(read_image(img)),
    "people": lambda g, img: g.people(),
    "add_strangers": lambda g, img: g.add_strangers([Path(img)]),
    "reembed": lambda g, img: g.reembed(g.model),
    "threshold": lambda g, img: g.threshold,
    "current_calibration": lambda g, img: g.current_calibration(),
    "query_events": lambda g, img: g.query_events(),
    "find_person": lambda g, img: g.find_person(LIN),
    "gallery_stats": lambda g, img: g.gallery_stats(),
    "verify_admin_pin": lambda g, img: g.verify_admin_pin("1234"),
    "list_models": lambda g, img: g.list_models(),
}


@pytest.mark.parametrize("name", sorted(PUBLIC_CALLS))
def test_every_public_method_waits_for_the_lock(gate: FaceGate, clips: Path, name: str) -> None:
    """While another thread holds the gate's lock, a public call does not run; it runs once released."""
    import threading

    img = clips / "knn_examples" / "test" / "obama1.jpg"
    done = threading.Event()
    errors: list[BaseException] = []

    def call() -> None:
        try:
            PUBLIC_CALLS[name](gate, img)
        except BaseException as exc:
            errors.append(exc)
        done.set()

    with gate._lock:
        t = threading.Thread(target=call)
        t.start()
        assert not done.wait(0.3), f"{name} ran without the lock"
    assert done.wait(60) and not errors, errors
    t.join()


def test_concurrent_identify_enrol_erase_keep_the_gallery_consistent(gate: FaceGate, clips: Path) -> None:
    """The door identifies in one thread while an admin job enrols and erases in another and a
    third reads the people list: no error, and the gallery ends equal to the database."""
    import threading

    probe = read_image(clips / "knn_examples" / "test" / "obama1.jpg")
    biden = sorted((clips / "knn_examples" / "train" / "biden").iterdir())
    errors: list[BaseException] = []
    stop = threading.Event()
    seen: list[set[str | None]] = []

    def door() -> None:
        try:
            while not stop.is_set():
                seen.append({r.name for r in gate.identify(probe) if r.accepted})
        except BaseException as exc:
            errors.append(exc)

    def admin() -> None:
        try:
            for i in range(2):
                rep = gate.enrol_images(f"Joe {i}", biden, force=True)  # a duplicate of biden on purpose
                assert rep.added
                gate.erase_person(rep.person_id)
        except BaseException as exc:
            errors.append(exc)
        finally:
            stop.set()

    def reader() -> None:
        try:
            while not stop.is_set():
                assert len(gate.people()) >= 6
                gate.gallery_stats()
                _ = gate.threshold
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=f) for f in (door, admin, reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    assert not errors, errors
    assert seen and all(s == {"obama"} for s in seen)
    ids, persons, _ = gate.store.templates(gate.model.sha256, active_only=False)
    assert len(gate.gallery) == len(ids) == 10
    assert set(gate.gallery.person_ids().tolist()) == set(persons.tolist())
    cal = gate.current_calibration()
    assert cal is not None and (cal.gallery_persons, cal.gallery_templates) == (6, 10)

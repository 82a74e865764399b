"""The door's unknown faces join the stranger pool (embeddings only, capped, audited) and the
threshold is recalibrated as they accumulate; ``facegate calibrate`` says which rule chose it.

Real parts: the shipped models on real LFW faces, a real SQLite file, the real clip through the
real live loop, the real command line as a process."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.evaluation.lfw import lfw_single_image_people
from desktop_app.core.live.session import LiveSession
from desktop_app.core.matching.calibration_findings import Resolution
from desktop_app.core.matching.site_strangers import (
    DOOR_UNKNOWN,
    SiteStrangerPolicy,
    StrangerBuffer,
    usable_stranger,
)
from desktop_app.core.protection.fields import SealedField
from desktop_app.core.service import FaceGate
from desktop_app.core.types import Face
from desktop_app.core.video.imageio import read_image
from desktop_app.core.video.sources import VideoFileSource
from desktop_app.core.vocabulary import Decision

ONE_PHOTO = ("Colin_Powell", "George_W_Bush", "Tony_Blair", "Donald_Rumsfeld", "Gerhard_Schroeder")


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def unit(rng: np.random.Generator, d: int = 8) -> np.ndarray:
    v = rng.normal(size=d).astype(np.float32)
    return v / np.linalg.norm(v)


# ---------------------------------------------------------------------- the buffer
def test_buffer_is_due_after_enough_faces_or_long_enough() -> None:
    clock, rng = Clock(), np.random.default_rng(0)
    buf = StrangerBuffer(SiteStrangerPolicy(flush_every=3, flush_after_s=60.0, max_buffer=5), clock=clock)
    assert not buf.due()
    buf.add(unit(rng))
    buf.add(unit(rng))
    assert not buf.due()
    buf.add(unit(rng))
    assert buf.due() and buf.peek().shape == (3, 8)
    buf.clear()
    buf.add(unit(rng))
    clock.t = 59.0
    assert not buf.due()
    clock.t = 60.0
    assert buf.due(), "one face waiting for flush_after_s is saved too"


def test_buffer_is_bounded_and_backs_off_after_a_failed_save() -> None:
    clock, rng = Clock(), np.random.default_rng(1)
    buf = StrangerBuffer(SiteStrangerPolicy(flush_every=2, flush_after_s=10.0, max_buffer=3), clock=clock)
    for _ in range(5):
        buf.add(unit(rng))
    assert len(buf) == 3 and buf.forgotten == 2
    buf.retry_later()
    assert not buf.due(), "a failed save waits before trying again"
    clock.t = 10.0
    assert buf.due()
    buf.add(np.full(8, np.nan, np.float32))
    buf.add(np.zeros(8, np.float32))
    assert len(buf) == 3, "broken vectors are never kept"


@pytest.mark.parametrize("field, value", [("cap", 0), ("flush_every", 0), ("max_buffer", True),
                                          ("flush_after_s", float("nan")), ("flush_after_s", -1.0)])
def test_policy_rejects_nonsense(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        SiteStrangerPolicy(**{field: value})  # type: ignore[arg-type]


# ---------------------------------------------------------------------- with real faces
@pytest.fixture(scope="module")
def one_photo_gate(tmp_path_factory: pytest.TempPathFactory, lfw: Path) -> Iterator[FaceGate]:
    """Five LFW people enrolled from one photo each."""
    gate = FaceGate(tmp_path_factory.mktemp("site-strangers") / "facegate.db", device="cpu")
    for name in ONE_PHOTO:
        gate.enrol_images(name.replace("_", " "), [lfw / name / f"{name}_0001.jpg"])
    yield gate
    gate.close()


@pytest.fixture(scope="module")
def stranger_faces(one_photo_gate: FaceGate, lfw: Path) -> list[Face]:
    """Main faces of 12 LFW single-image people (never enrolled)."""
    faces = []
    for path in lfw_single_image_people(lfw)[:20]:
        face = one_photo_gate.engine.main_face(read_image(path))
        if face is not None and usable_stranger(face):
            faces.append(face)
    assert len(faces) >= 12
    return faces[:12]


def audit_rows(gate: FaceGate) -> list[dict[str, object]]:
    with sqlite3.connect(gate.db_path) as db:
        rows = db.execute("SELECT details_json FROM audit WHERE action = 'strangers.door-unknown' ORDER BY id")
        return [json.loads(r[0]) for r in rows]


def test_unknown_faces_are_saved_capped_audited_and_recalibrate(one_photo_gate: FaceGate,
                                                                stranger_faces: list[Face]) -> None:
    gate = one_photo_gate
    gate._site_strangers = StrangerBuffer(SiteStrangerPolicy(cap=8, flush_every=5, max_buffer=10))
    before = gate.current_calibration()
    assert before is not None and before.findings is not None
    assert before.findings.resolution is Resolution.SAFE_SIDE and before.findings.counts.stranger_pool == 0
    assert gate.note_unknown_faces(stranger_faces[:4]) is None, "buffered, not saved yet"
    assert gate.site_stranger_count() == 0
    flush = gate.note_unknown_faces(stranger_faces[4:5])
    assert flush is not None and (flush.added, flush.dropped, flush.pool) == (5, 0, 5)
    cal = gate.current_calibration()
    assert cal is not None and cal.findings is not None and cal.findings.counts.stranger_pool == 5
    assert flush.threshold == cal.threshold
    flush = gate.note_unknown_faces(stranger_faces[5:10])
    assert flush is not None and (flush.added, flush.dropped, flush.pool) == (5, 2, 8), "oldest dropped at the cap"
    assert gate.site_stranger_count() == 8 == gate.stranger_count()
    with sqlite3.connect(gate.db_path) as db:
        stored = db.execute("SELECT id, vector FROM strangers WHERE source = ? ORDER BY id", (DOOR_UNKNOWN,)).fetchall()
        columns = [r[1] for r in db.execute("PRAGMA table_info(strangers)")]
    assert {"model_sha256", "dim", "source", "created_at", "vector"} == set(columns) - {"id"}, "embeddings only"
    kept = [gate.store.decrypt_value(SealedField.STRANGER_VECTOR, i, blob, "it") for i, blob in stored]  # encrypted
    newest = np.frombuffer(kept[-1], np.float32)
    assert np.allclose(newest, stranger_faces[9].embedding, atol=1e-6)
    oldest_kept = np.frombuffer(kept[0], np.float32)
    assert np.allclose(oldest_kept, stranger_faces[2].embedding, atol=1e-6), "the two oldest were dropped"
    rows = audit_rows(gate)
    assert [(r["added"], r["dropped"], r["pool"], r["cap"]) for r in rows[-2:]] == [(5, 0, 5, 8), (5, 2, 8, 8)]


def test_a_dark_unknown_face_is_not_kept(one_photo_gate: FaceGate, lfw: Path) -> None:
    path = lfw_single_image_people(lfw)[30]
    dark = (read_image(path).astype(np.float32) * 0.12).astype(np.uint8)
    face = one_photo_gate.engine.main_face(dark)
    assert face is not None and not usable_stranger(face)
    one_photo_gate._site_strangers = StrangerBuffer(SiteStrangerPolicy(flush_every=1))
    assert one_photo_gate.note_unknown_faces([face]) is None
    assert len(one_photo_gate._site_strangers) == 0


def test_a_database_that_refuses_the_faces_does_not_stop_the_door(one_photo_gate: FaceGate,
                                                                 stranger_faces: list[Face]) -> None:
    gate = one_photo_gate
    gate._site_strangers = StrangerBuffer(SiteStrangerPolicy(flush_every=1))
    count = gate.site_stranger_count()
    with sqlite3.connect(gate.db_path, timeout=0.1) as other:
        other.execute("BEGIN EXCLUSIVE")  # another program holds the write lock for longer than the timeout
        old = gate.store.db.conn.execute("PRAGMA busy_timeout").fetchone()[0]
        gate.store.db.conn.execute("PRAGMA busy_timeout = 100")
        try:
            assert gate.note_unknown_faces(stranger_faces[10:11]) is None
        finally:
            gate.store.db.conn.execute(f"PRAGMA busy_timeout = {int(old)}")
            other.rollback()
    assert len(gate._site_strangers) == 1, "kept in memory for a later try"
    assert gate.flush_site_strangers() is not None
    assert gate.site_stranger_count() == count + 1


def test_the_live_loop_gives_its_unknown_faces_to_the_pool(one_photo_gate: FaceGate, clips: Path) -> None:
    gate = one_photo_gate
    gate._site_strangers = StrangerBuffer(SiteStrangerPolicy(flush_every=1))
    before = gate.site_stranger_count()
    session = LiveSession(gate)
    source = VideoFileSource(clips / "short_hamilton_clip.mp4")
    source.open()
    unknown = []
    try:
        for _ in range(60):
            frame = source.read()
            if frame is None:
                break
            result = session.process(frame)
            unknown += [e for e in result.events if e.decision == Decision.UNKNOWN]
            if unknown:
                break
    finally:
        source.close()
    assert unknown, "Lin-Manuel Miranda is not enrolled here: the door logs him as unknown"
    assert gate.site_stranger_count() == before + 1, "one face per unknown track joined the pool"


def test_the_door_unknown_faces_can_be_erased_and_the_erasure_is_audited(one_photo_gate: FaceGate,
                                                                       stranger_faces: list[Face]) -> None:
    gate = one_photo_gate
    gate._site_strangers = StrangerBuffer(SiteStrangerPolicy(flush_every=2))
    gate.note_unknown_faces(stranger_faces[:2])
    gate.note_unknown_faces(stranger_faces[2:3])  # one still buffered
    kept = gate.site_stranger_count()
    assert kept >= 2 and len(gate._site_strangers) == 1
    assert gate.erase_site_strangers(actor="dpo") == kept
    assert gate.site_stranger_count() == 0 and len(gate._site_strangers) == 0
    cal = gate.current_calibration()
    assert cal is not None and cal.findings is not None and cal.findings.counts.stranger_pool == 0
    with sqlite3.connect(gate.db_path) as db:
        row = db.execute("SELECT actor, details_json FROM audit WHERE action = ?",
                         ("strangers.door-unknown.erase",)).fetchone()
    assert row[0] == "dpo" and json.loads(row[1]) == {"erased": kept}


# ---------------------------------------------------------------------- the command line
def test_calibrate_says_the_safe_side_in_words_and_json(one_photo_gate: FaceGate) -> None:
    home = one_photo_gate.db_path.parent
    env = {**os.environ, "FACEGATE_HOME": str(home), "XDG_CACHE_HOME": str(home / "cache")}
    run = [sys.executable, "-m", "desktop_app", "calibrate", "--db", str(one_photo_gate.db_path)]
    words = subprocess.run(run, capture_output=True, text=True, env=env, timeout=600)
    assert words.returncode == 0, words.stderr
    assert "nan" not in words.stdout.lower()
    first = words.stdout.splitlines()[0]
    assert first.startswith("Threshold") and "(safe side)" in first and "1 in 1,000 strangers" in first, first
    assert "more strangers are seen at the door" in first
    as_json = subprocess.run([*run, "--json"], capture_output=True, text=True, env=env, timeout=600)
    assert as_json.returncode == 0, as_json.stderr
    data = json.loads(as_json.stdout)
    assert data["est_fnir"] is None, "one photo per person: no FNIR, null not NaN"
    assert data["findings"]["resolution"] in {r.value for r in Resolution}
    assert data["findings"]["counts"]["mated"] == 0 and data["threshold"] == round(data["findings"]["threshold"], 4)


# ---------------------------------------------------------------------- the words
def test_every_resolution_is_said_in_words_without_nan() -> None:
    from desktop_app.core.matching.calibration import CalibrationPolicy, calibrate
    from desktop_app.core.matching.calibration_summary import searches_needed, summarise

    rng = np.random.default_rng(3)
    people = np.stack([unit(rng, 128) for _ in range(30)])
    strangers = np.stack([unit(rng, 128) for _ in range(2000)])
    pids = np.arange(30)
    policy = CalibrationPolicy(target_fpir=1e-2, n_boot=0)
    safe = calibrate(people, pids, strangers[:20], policy, prior_threshold=0.5)
    site = calibrate(people, pids, strangers, policy, prior_threshold=0.1)
    fallback = calibrate(people[:1], pids[:1], None, policy, fallback=0.42)
    assert safe.findings is not None and safe.findings.resolution is Resolution.SAFE_SIDE
    assert site.findings is not None and site.findings.resolution is Resolution.SITE_SEARCHES
    texts = {
        "safe": summarise(safe, 0.42, 1e-2), "site": summarise(site, 0.42, 1e-2),
        "fallback": summarise(fallback, 0.42, 1e-2), "none": summarise(None, 0.42, 1e-2),
    }
    for text in texts.values():
        assert text.startswith("Threshold") and "nan" not in text.lower() and "1 in 100 strangers" in text, text
    assert safe.findings.counts.searches == 50 and searches_needed(safe.findings) == 100 - 50
    assert "(safe side)" in texts["safe"] and "until about 50 more strangers are seen at the door" in texts["safe"]
    assert "(this site's own data)" in texts["site"]
    assert f"{site.findings.counts.searches:,} stranger searches" in texts["site"]
    assert "(default, not calibrated)" in texts["fallback"] and "only one person is enrolled" in texts["fallback"]

"""The rules behind the faster default, without models: the flip-mode setting (and the bools older
databases stored), the near-a-decision test, when a track's decision is settled, and when a
tracked face may reuse its embedding."""

from __future__ import annotations

import random
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from pydantic import ValidationError

from desktop_app.core.config import AppConfig, DecisionSettings, RecognitionSettings
from desktop_app.core.decision.policy import DecisionConfig, DecisionPolicy, FrameObservation
from desktop_app.core.decision.reuse import EmbeddingReuse, ReuseRules, crop_signature
from desktop_app.core.decision.tracking import Box, Track
from desktop_app.core.face.engine import AlignedFace
from desktop_app.core.matching.accept import near_decision
from desktop_app.core.storage.store import Store
from desktop_app.core.types import Detection, Face, FaceQuality, PersonMatch
from desktop_app.core.vocabulary import TtaMode

# ----------------------------------------------------------------------------- settings


def test_flip_mode_default_and_the_bools_older_databases_stored() -> None:
    assert RecognitionSettings().flip_tta is TtaMode.NEAR_THRESHOLD
    assert RecognitionSettings().flip_templates
    old = AppConfig().model_dump(mode="json")
    for section, key in (("recognition", "flip_band"), ("decision", "reuse_frames")):
        del old[section][key]  # a database written before these settings existed
    for stored, mode in ((True, TtaMode.NEAR_THRESHOLD), (False, TtaMode.NEVER)):
        old["recognition"]["flip_tta"] = stored
        cfg, problems = AppConfig.from_stored(old)
        assert problems == ()
        assert cfg.recognition.flip_tta is mode and cfg.recognition.flip_templates is stored
        assert AppConfig.model_validate_json(cfg.model_dump_json()) == cfg  # stored again as the word
        assert cfg.model_dump(mode="json")["recognition"]["flip_tta"] == mode.value
    assert RecognitionSettings.model_validate({"flip_tta": "near-threshold"}).flip_tta is TtaMode.NEAR_THRESHOLD
    with pytest.raises(ValidationError, match="flip_tta"):
        RecognitionSettings.model_validate({"flip_tta": "sometimes"})
    with pytest.raises(ValidationError, match="flip_band"):
        RecognitionSettings.model_validate({"flip_band": 0.9})
    with pytest.raises(ValidationError, match="reuse_frames"):
        DecisionSettings.model_validate({"reuse_frames": 0})


@pytest.mark.parametrize(("stored", "flip"), [(True, True), (False, False), ("near-threshold", True)])
def test_a_gate_over_a_stored_flip_setting_starts_with_the_right_embedder(tmp_path: Path, stored: object,
                                                                          flip: bool) -> None:
    from desktop_app.core.service import FaceGate

    db = tmp_path / "gate.db"
    cfg = AppConfig().model_dump(mode="json")
    cfg["recognition"]["flip_tta"] = stored
    with Store(db) as store:
        store.set_setting("config", cfg)
    with FaceGate(db, device="cpu") as gate:
        assert gate.engine.embedder.flip is flip
        assert gate.config.recognition.flip_templates is flip


# ----------------------------------------------------------------------------- near a decision


def test_near_decision_looks_at_the_threshold_the_margin_and_the_runner_up() -> None:
    thr, margin, band = 0.40, 0.05, 0.03
    assert not near_decision(None, thr, margin, band)
    assert near_decision(PersonMatch(1, 0.42, 0.1, 2), thr, margin, band)  # just above the threshold
    assert near_decision(PersonMatch(1, 0.38, 0.1, 2), thr, margin, band)  # just below
    assert not near_decision(PersonMatch(1, 0.60, 0.1, 2), thr, margin, band)  # clearly in
    assert not near_decision(PersonMatch(1, 0.20, 0.1, 2), thr, margin, band)  # clearly out
    assert near_decision(PersonMatch(1, 0.60, 0.56, 2), thr, margin, band)  # lead 0.04 against margin 0.05
    assert near_decision(PersonMatch(1, 0.60, 0.39, 2), thr, margin, band)  # runner-up at the threshold
    assert not near_decision(PersonMatch(1, 0.60, 0.39), thr, margin, band)  # no runner-up person
    assert not near_decision(PersonMatch(1, 0.20, 0.16, 2), thr, margin, band)  # small lead, far below
    assert not near_decision(PersonMatch(1, 0.42, 0.1, 2), thr, margin, 0.0)  # band 0: never
    dim = FaceQuality(40, 100, 20, 0, 0, 0, contrast=10)  # poor light: the threshold is raised by 0.05
    assert near_decision(PersonMatch(1, 0.46, 0.1, 2), thr, margin, band, dim)
    assert not near_decision(PersonMatch(1, 0.46, 0.1, 2), thr, margin, band)


# ----------------------------------------------------------------------------- settled tracks

CFG = DecisionConfig(threshold=0.5, margin=0.05, votes_needed=3, window=5, cooldown_s=10.0, unknown_after=4)
BOX: Box = (100.0, 100.0, 80.0, 80.0)


def obs(person: int | None, score: float = 0.8, second: float = 0.1, second_person: int | None = None,
        ok: bool = True) -> FrameObservation:
    m = None if person is None else PersonMatch(person, score, second, second_person)
    return FrameObservation(box=BOX, match=m, quality_ok=ok)


def feed(policy: DecisionPolicy, frames: list[FrameObservation], t0: float = 0.0) -> list[int]:
    tids = []
    for k, o in enumerate(frames):
        assigned, _ = policy.update(t0 + k * 0.1, [o])
        tids.append(assigned[0][0])
    return tids


def test_a_track_is_settled_once_granted_or_reported_unknown() -> None:
    p = DecisionPolicy(CFG)
    tid = feed(p, [obs(1), obs(1)])[-1]
    assert not p.settled(tid)  # still deciding: every vote must be its own frame's
    feed(p, [obs(1)], 1.0)
    assert p.granted(tid) == 1 and p.settled(tid)
    feed(p, [obs(2)], 2.0)  # a vote for someone else in the window: not settled any more
    assert not p.settled(tid)
    q = DecisionPolicy(CFG)
    sid = feed(q, [obs(1, 0.2)] * 3)[-1]
    assert not q.settled(sid)
    feed(q, [obs(1, 0.2)], 1.0)  # the fourth unaccepted frame: unknown reported
    assert q.settled(sid)
    amb = DecisionPolicy(CFG)
    aid = feed(amb, [obs(1, 0.2)] * 4 + [obs(1, 0.62, 0.6, 2)])[-1]  # unknown, then an ambiguous frame
    assert not amb.settled(aid)
    assert not DecisionPolicy(CFG).settled(99)


def test_repeating_the_last_observation_of_a_settled_track_never_makes_an_event() -> None:
    """The property reuse relies on, over random observation sequences."""
    rng = random.Random(7)
    choices = [obs(1), obs(2), obs(1, 0.2), obs(None, ok=False), obs(1, 0.62, 0.6, 2), obs(2, 0.7, 0.68, 1)]
    checked = 0
    for _ in range(300):
        p = DecisionPolicy(CFG)
        seq = [rng.choice(choices) for _ in range(rng.randint(1, 14))]
        tid = feed(p, seq)[-1]
        if not p.settled(tid):
            continue
        checked += 1
        for k in range(12):
            _, events = p.update(10.0 + k * 0.1, [seq[-1]])
            assert events == [], (seq, events)
            assert p.settled(tid)
    assert checked > 30


# ----------------------------------------------------------------------------- reuse rules

GOOD = FaceQuality(40.0, 100.0, 120.0, 0.0, 0.0, 0.0, contrast=40.0)
RNG = np.random.default_rng(0)
CROP_A = RNG.integers(0, 255, (112, 112, 3), dtype=np.uint8)
CROP_B = RNG.integers(0, 255, (112, 112, 3), dtype=np.uint8)


def aligned(box: Box, crop: np.ndarray = CROP_A, quality: FaceQuality = GOOD) -> AlignedFace:
    return AlignedFace(Detection(box=box, landmarks=np.zeros((5, 2), np.float32), score=0.9), crop, quality)


def embedded(face: AlignedFace) -> Face:
    return Face(face.detection, face.crop, np.ones(4, np.float32) / 2, face.quality)


class Scene:
    """One face (track 1) embedded at BOX; the next frame's faces are given to ``plan``."""

    def __init__(self, rules: ReuseRules | None = None, settled: bool = True) -> None:
        self.reuse = EmbeddingReuse(rules)
        self.reuse.remember([1], [embedded(aligned(BOX))], [False])
        self.tracks = [Track(1, BOX, 1, 0)]
        self.settled = settled

    def plan(self, *faces: AlignedFace, tracks: list[Track] | None = None) -> list[int | None]:
        return self.reuse.plan(list(faces), tracks if tracks is not None else self.tracks, lambda t: self.settled)


def test_a_settled_face_alone_in_the_same_place_reuses_its_embedding() -> None:
    s = Scene()
    assert s.plan(aligned((104.0, 102.0, 80.0, 80.0))) == [1]
    face = s.reuse.reused_face(1, aligned((104.0, 102.0, 80.0, 80.0)))
    assert face.detection.box == (104.0, 102.0, 80.0, 80.0) and np.array_equal(face.embedding, np.ones(4) / 2)


@pytest.mark.parametrize(("why", "face", "rules", "settled"), [
    ("the track is still deciding", aligned(BOX), None, False),
    ("reuse is off", aligned(BOX), ReuseRules(max_frames=1), True),
    ("the face moved", aligned((160.0, 100.0, 80.0, 80.0)), None, True),
    ("the face grew", aligned((90.0, 90.0, 100.0, 100.0)), None, True),
    ("another face took its place", aligned(BOX, CROP_B), None, True),
    ("the face turned to the camera", aligned(BOX, quality=replace(GOOD, yaw=0.0)), None, True),
    ("the face came closer", aligned(BOX, quality=replace(GOOD, inter_ocular_px=50.0)), None, True),
    ("the face got sharper", aligned(BOX, quality=replace(GOOD, sharpness=200.0)), None, True),
])
def test_reuse_is_refused(why: str, face: AlignedFace, rules: ReuseRules | None, settled: bool) -> None:
    s = Scene(rules, settled)
    if "turned" in why:  # embedded at 25 degrees, now frontal
        s.reuse.remember([1], [embedded(aligned(BOX, quality=replace(GOOD, yaw=25.0)))], [False])
    assert s.plan(face) == [None], why


def test_a_face_that_cannot_be_matched_reuses_even_while_deciding() -> None:
    profile = replace(GOOD, yaw=80.0)
    s = Scene(settled=False)
    s.reuse.remember([1], [embedded(aligned(BOX, quality=profile))], [False])
    assert s.plan(aligned(BOX, quality=profile)) == [1]  # no match, no vote: only the track needs it
    assert s.plan(aligned(BOX)) == [None]  # it became matchable: a better view, embedded


def test_faces_close_to_each_other_are_always_embedded() -> None:
    s = Scene()
    near = aligned((190.0, 100.0, 80.0, 80.0), CROP_B)  # 10 px to the right of the face
    assert s.plan(aligned(BOX), near) == [None, None]
    far = aligned((400.0, 100.0, 80.0, 80.0), CROP_B)
    assert s.plan(aligned(BOX), far) == [1, None]
    other_track = Track(2, (185.0, 100.0, 80.0, 80.0), 3, 2)  # a face missed for two frames, just beside
    assert s.plan(aligned(BOX), tracks=[*s.tracks, other_track]) == [None]


def test_an_embedding_serves_at_most_max_frames() -> None:
    s = Scene(ReuseRules(max_frames=3))
    for k in range(6):
        face = aligned(BOX)
        planned = s.plan(face)
        assert planned == ([1] if k % 3 != 2 else [None]), k  # embedded, reused twice, embedded, ...
        s.reuse.remember([1], [s.reuse.reused_face(1, face) if planned[0] else embedded(face)], [planned[0] == 1])


def test_a_track_not_seen_in_the_last_frame_or_replaced_is_not_reused() -> None:
    s = Scene()
    assert s.plan(aligned(BOX), tracks=[Track(1, BOX, 1, 1)]) == [None]  # missed last frame
    assert s.plan(aligned(BOX), tracks=[Track(1, (101.0, 100.0, 80.0, 80.0), 1, 0)]) == [None]  # not our box
    s.reuse.remember([], [], [])
    assert len(s.reuse) == 0 and s.plan(aligned(BOX)) == [None]


def test_the_crop_signature_is_a_correlation() -> None:
    a = crop_signature(CROP_A)
    assert a.shape == (504,) and abs(float(np.linalg.norm(a)) - 1) < 1e-5
    brighter = np.clip(CROP_A.astype(np.int16) + 20, 0, 255).astype(np.uint8)
    assert float(a @ crop_signature(brighter)) > 0.95  # a change of light is not a change of face
    assert abs(float(a @ crop_signature(CROP_B))) < 0.3


def test_reuse_rules_are_checked() -> None:
    with pytest.raises(ValueError, match="max_frames"):
        ReuseRules(max_frames=0)
    with pytest.raises(ValueError, match="max_scale"):
        ReuseRules(max_scale=0.9)

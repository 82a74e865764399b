"""Corrections in the next retraining (issue 14), on real LFW faces in a real FaceGate database:

- the P-K sampler brings each person's hard negative into the batches that hold them;
- a correction changes the next training set: the missed face joins the person's class, the wrong
  match becomes a hard-negative class paired with the person it was taken for; the held-out part is
  untouched; the gate's corrections rule counts both;
- (slow) a real dry-run retraining says how many corrections it used and its gate reports them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from desktop_app.core.corrections import FaceRole
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image
from trainer.corrections import (
    SOURCE_PREFIX,
    CorrectedSplit,
    PairedPKSampler,
    corrections_check,
    make_sampler,
    resolved,
    with_corrections,
)
from trainer.data import crops_from_facegate, split_held_out
from trainer.deploy import DeployOptions
from trainer.evaluate import Comparison, ModelReport, Scores
from trainer.train import TrainConfig

LOOK_ALIKE = "George_W_Bush"  # not enrolled: the face the door wrongly took for Colin Powell


def test_paired_sampler_brings_each_persons_hard_negative() -> None:
    labels = np.array([0] * 6 + [1] * 6 + [2] * 6 + [3] * 6 + [4])  # class 4: a wrong match of class 0
    sampler = PairedPKSampler(labels, p=2, k=3, partners={0: (4,)})
    with_zero = 0
    for epoch in range(5):
        for idx in sampler.batches(np.random.default_rng(epoch)):
            present = set(labels[idx].tolist())
            if 0 in present:
                with_zero += 1
                assert 4 in present and int((labels[idx] == 4).sum()) >= 3  # K draws of the one crop
    assert with_zero >= 3
    assert type(make_sampler(split_like(labels), 2, 3)).__name__ == "PKSampler"  # no corrections: as before


def split_like(labels: np.ndarray):  # type: ignore[no-untyped-def]
    from trainer.data import FaceCrops, TrainSplit

    crops = np.zeros((len(labels), 112, 112, 3), np.uint8)
    names = tuple(f"p{i}" for i in range(int(labels.max()) + 1))
    data = FaceCrops(crops, labels, names, tuple(range(len(names))), tuple("x" for _ in labels),
                     np.full(len(labels), -1, np.int64))
    return TrainSplit(train=data, held_out=data.subset([]))


def _correct_two_events(fg: FaceGate, lfw: Path) -> tuple[int, int, int]:
    """Two door events with real faces, corrected: Colin Powell wrongly granted to a look-alike, and
    his own 7th photo (not enrolled) left unknown. Returns (Colin's id, wrong event, missed event)."""
    colin = fg.find_person("Colin Powell")
    assert colin is not None
    other = fg.enrol_face_from_image(read_image(sorted((lfw / LOOK_ALIKE).glob("*.jpg"))[0]), check_quality=False)
    his = fg.enrol_face_from_image(read_image(sorted((lfw / "Colin_Powell").glob("*.jpg"))[6]), check_quality=False)
    now = datetime.now(UTC)
    wrong = fg.record_event(person_id=colin.id, score=0.47, decision="granted", camera="front/in", ts=now, face=other)
    missed = fg.record_event(person_id=None, score=0.30, decision="unknown", camera="front/in", ts=now, face=his)
    assert wrong is not None and missed is not None and wrong.event_id and missed.event_id
    fg.correct_event(wrong.event_id, not_person=True, actor="olga")
    fg.correct_event(missed.event_id, was=colin.id, actor="olga")
    return colin.id, wrong.event_id, missed.event_id


@pytest.mark.slow
def test_a_correction_changes_the_next_training_data_and_the_gate_counts_it(facegate: FaceGate, lfw: Path) -> None:
    before = split_held_out(crops_from_facegate(facegate), 0.2, seed=0)
    assert with_corrections(before, facegate.correction_faces()) is before  # nothing corrected yet
    colin_id, wrong, missed = _correct_two_events(facegate, lfw)
    faces = facegate.correction_faces()
    assert [(f.event_id, f.role, f.person_id) for f in faces] == [
        (wrong, FaceRole.NEGATIVE, colin_id), (missed, FaceRole.POSITIVE, colin_id)]
    after = with_corrections(before, faces)
    assert isinstance(after, CorrectedSplit) and (after.n_positive, after.n_negative) == (1, 1)
    colin_cls = before.train.class_keys.index(colin_id)
    neg_cls = before.num_classes  # one new class: the look-alike
    assert after.num_classes == before.num_classes + 1 and after.partners == {colin_cls: (neg_cls,)}
    assert len(after.train) == len(before.train) + 2 and len(after.held_out) == len(before.held_out)
    assert np.array_equal(after.held_out.crops, before.held_out.crops)
    added = {s: int(lab) for s, lab in zip(after.train.sources, after.train.labels, strict=True)
             if s.startswith(SOURCE_PREFIX)}
    assert sorted(added.values()) == [colin_cls, neg_cls]  # the missed face is Colin; the wrong match is not
    by_role = {f.role: f for f in faces}
    pos_row = after.train.sources.index(next(s for s in added if s.endswith(":positive")))
    assert np.array_equal(after.train.crops[pos_row], by_role[FaceRole.POSITIVE].crop)
    batches = list(make_sampler(after, 6, 3).batches(np.random.default_rng(0)))
    assert any(colin_cls in after.train.labels[b] for b in batches)
    assert all(neg_cls in after.train.labels[b] for b in batches if colin_cls in after.train.labels[b])

    # the gate: both corrections are judged with real embeddings, against the roster without them
    roster = [i for i, s in enumerate(after.train.sources) if not s.startswith(SOURCE_PREFIX)]
    keys = np.array(after.train.class_keys)[after.train.labels[roster]]
    gallery = facegate.embed_crops(after.train.crops[roster])
    probes = facegate.embed_crops(np.stack([f.crop for f in faces]))
    ok = resolved(probes, faces, gallery, keys, facegate.threshold)
    assert ok.tolist() == [True, True]  # the current model keeps the look-alike out and finds Colin
    assert resolved(probes, faces, gallery, keys, 2.0).tolist() == [True, False]  # an impossible threshold
    report = ModelReport(name="m", sha256=facegate.model.sha256, path=facegate.model.path, rank1=1.0, tpir=None,
                         fpir=None, threshold=facegate.threshold, target_fpir=1e-3, recall_at_k={}, map_at_r=1.0,
                         n_gallery=0, n_probes=0, n_people=0, n_nonmated=0, nonmated_source="", degenerate=0)
    empty = Scores(np.zeros(0), np.zeros(0))
    check = corrections_check(after, Comparison(report, report, empty, empty))
    assert check.passed and check.reason.startswith("corrections resolved 2 -> 2 of 2 (1 missed")
    assert corrections_check(before, Comparison(report, report, empty, empty)).reason == "no corrections to check"
    board = facegate.correction_dashboard()
    assert [(r.name, r.false_accepts, r.false_rejects) for r in board] == [("Colin Powell", 1, 1)]


@pytest.mark.slow
def test_a_dry_run_retraining_uses_the_corrections_and_its_gate_counts_them(
        facegate: FaceGate, lfw: Path, tiny: TrainConfig, tmp_path: Path) -> None:
    from trainer.pipeline import retrain

    _correct_two_events(facegate, lfw)
    lines: list[str] = []
    out = retrain(facegate, tiny, DeployOptions(work_dir=tmp_path / "run", dry_run=True, n_strangers=20,
                                                prior_strangers=0), lambda r: lines.append(r.message))
    assert any("corrections: 1 missed and 1 wrong matches" in line for line in lines), lines
    assert out.decision is not None and out.comparison is not None
    check = next(c for c in out.decision.checks if c.name == "corrections")
    assert check.reason.startswith("corrections resolved ")
    assert " of 2 (1 missed matches, 1 wrong matches)" in check.reason
    print(f"held-out rank-1 {out.comparison.current.rank1:.3f} -> {out.comparison.candidate.rank1:.3f}; {check.reason}")

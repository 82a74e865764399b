"""Corrections in the next retraining (issue 14): corrected door faces as training data, a P-K
sampler that puts each person's hard negatives in their batches, and the gate's corrections check.

The faces come from the facade only (``FaceGate.correction_faces``, aligned 112x112 crops of the
corrected events):

- a *positive* ("this was X") is one more crop of X's class;
- a *hard negative* ("not this person": the face was taken for P but is someone else's) becomes a
  class of its own (the unknown look-alike), and :class:`PairedPKSampler` adds it to every batch
  that holds P, so the metric loss pushes the two apart where the door confused them.

The deployment gate counts them too (:func:`corrections_check`): a correction is *resolved* by a
model when a positive's best person is X at or above that model's calibrated threshold, and a
negative's is not P at or above it; the candidate must resolve at least as many as the current
model. The gallery of that check is the roster without the corrected faces.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from desktop_app.core.corrections.records import CorrectionFace, FaceRole
from desktop_app.core.embedding.embedder import Embedder

from .data import FaceCrops, PKSampler, TrainSplit
from .gate import GateCheck, GateDecision

if TYPE_CHECKING:
    from .evaluate import Comparison

SOURCE_PREFIX = "correction:"
"""``FaceCrops.sources`` of a corrected face: ``correction:<correction id>:<positive|negative>``."""


@dataclass(frozen=True, eq=False)
class CorrectedSplit(TrainSplit):
    """A split whose training part holds corrected faces: ``partners`` maps a person's class to the
    classes of their hard negatives; ``faces`` are the corrections used (for the gate)."""

    partners: Mapping[int, tuple[int, ...]] = field(default_factory=dict)
    faces: tuple[CorrectionFace, ...] = ()

    @property
    def n_positive(self) -> int:
        return sum(1 for f in self.faces if f.role is FaceRole.POSITIVE)

    @property
    def n_negative(self) -> int:
        return sum(1 for f in self.faces if f.role is FaceRole.NEGATIVE)


def _extend(data: FaceCrops, names: tuple[str, ...], keys: tuple[int, ...], crops: list[np.ndarray],
            labels: list[int], sources: list[str]) -> FaceCrops:
    if not crops:
        return FaceCrops(data.crops, data.labels, names, keys, data.sources, data.sample_ids, data.skipped)
    return FaceCrops(
        crops=np.concatenate([data.crops, np.stack(crops).astype(np.uint8)]),
        labels=np.concatenate([data.labels, np.array(labels, np.int64)]),
        class_names=names, class_keys=keys, sources=(*data.sources, *sources),
        sample_ids=np.concatenate([data.sample_ids, np.full(len(crops), -1, np.int64)]), skipped=data.skipped)


def with_corrections(split: TrainSplit, faces: Sequence[CorrectionFace]) -> TrainSplit:
    """``split`` with the corrected faces added to its training part (the held-out part is
    unchanged, its classes extended): positives as crops of their person's class, each negative as
    a new class paired with the person it was taken for. Faces of people who are not classes of the
    split (inactive, erased) are left out. Returns ``split`` itself when nothing applies."""
    index = {key: cls for cls, key in enumerate(split.train.class_keys) if key >= 0}
    names, keys = list(split.train.class_names), list(split.train.class_keys)
    crops: list[np.ndarray] = []
    labels: list[int] = []
    sources: list[str] = []
    partners: dict[int, list[int]] = {}
    used: list[CorrectionFace] = []
    for f in faces:
        cls = index.get(f.person_id)
        if cls is None:
            continue
        if f.role is FaceRole.POSITIVE:
            label = cls
        else:
            label = len(names)
            names.append(f"correction {f.correction_id}: not {f.person_name}")
            keys.append(-1)
            partners.setdefault(cls, []).append(label)
        crops.append(f.crop)
        labels.append(label)
        sources.append(f"{SOURCE_PREFIX}{f.correction_id}:{f.role.value}")
        used.append(f)
    if not used:
        return split
    names_t, keys_t = tuple(names), tuple(keys)
    return CorrectedSplit(train=_extend(split.train, names_t, keys_t, crops, labels, sources),
                          held_out=_extend(split.held_out, names_t, keys_t, [], [], []),
                          partners={c: tuple(v) for c, v in partners.items()}, faces=tuple(used))


class PairedPKSampler(PKSampler):
    """P-K batches (:class:`~trainer.data.PKSampler`) in which every person whose hard negatives
    are known brings one of them along (K crops of it): ``partners`` maps a class to its negative
    classes. A batch then has up to ``P + P`` classes; each added class is drawn like the others."""

    def __init__(self, labels: np.ndarray, p: int, k: int, partners: Mapping[int, Sequence[int]]) -> None:
        super().__init__(labels, p, k)
        self.partners = {int(c): tuple(int(x) for x in v if int(x) in self._members)
                         for c, v in partners.items()}

    def batches(self, rng: np.random.Generator) -> Iterator[np.ndarray]:
        for idx in super().batches(rng):
            present = set(np.unique(self.labels[idx]).tolist())
            extra: list[np.ndarray] = []
            for cls in sorted(present):
                options = [x for x in self.partners.get(cls, ()) if x not in present]
                if not options:
                    continue
                neg = int(options[int(rng.integers(len(options)))])
                present.add(neg)
                members = self._members[neg]
                extra.append(rng.choice(members, self.k, replace=members.size < self.k))
            yield np.concatenate([idx, *extra]).astype(np.int64) if extra else idx


def make_sampler(split: TrainSplit, p: int, k: int) -> PKSampler:
    """The training sampler of ``split``: paired with the hard negatives of a :class:`CorrectedSplit`."""
    if isinstance(split, CorrectedSplit) and split.partners:
        return PairedPKSampler(split.train.labels, p, k, split.partners)
    return PKSampler(split.train.labels, p, k)


# ---------------------------------------------------------------------------------------------- gate


def resolved(embeddings: np.ndarray, faces: Sequence[CorrectionFace], gallery: np.ndarray,
             gallery_people: np.ndarray, threshold: float) -> np.ndarray:
    """(F,) bool: is each correction resolved by a model? ``embeddings`` (F, D) of the corrected
    faces and ``gallery`` (G, D) of the roster (``gallery_people`` (G,) person ids), unit rows, by
    that model; ``threshold`` its cosine threshold. A positive is resolved when its best person is
    its person at or above the threshold; a negative when its best person is not its person, or
    scores below the threshold."""
    out = np.zeros(len(faces), bool)
    if not len(faces) or not len(gallery):
        return out
    sims = embeddings.astype(np.float64) @ gallery.astype(np.float64).T
    people = np.unique(gallery_people)
    per = np.stack([sims[:, gallery_people == p].max(axis=1) for p in people], axis=1)
    best = people[per.argmax(axis=1)]
    score = per.max(axis=1)
    for i, f in enumerate(faces):
        accepted_as_person = best[i] == f.person_id and score[i] >= threshold
        out[i] = accepted_as_person if f.role is FaceRole.POSITIVE else not accepted_as_person
    return out


def corrections_check(split: TrainSplit, comparison: Comparison, *, device: str = "cpu", flip: bool = True,
                      fallback_threshold: float = 0.42) -> GateCheck:
    """The gate's corrections rule for a :class:`CorrectedSplit` (passed, "none" otherwise): the
    candidate resolves at least as many corrections as the current model, each at its own
    calibrated threshold (``fallback_threshold`` when a report has none)."""
    if not isinstance(split, CorrectedSplit) or not split.faces:
        return GateCheck("corrections", True, "no corrections to check")
    roster = [i for i, s in enumerate(split.train.sources) if not s.startswith(SOURCE_PREFIX)]
    keys = np.array(split.train.class_keys, np.int64)[split.train.labels[roster]]
    crops = split.train.crops[roster]
    faces = split.faces
    face_crops = np.stack([f.crop for f in faces])
    counts = []
    embedded: dict[str, tuple[np.ndarray, np.ndarray]] = {}  # model file -> (faces, roster) embeddings
    for report in (comparison.current, comparison.candidate):
        if report.path not in embedded:
            embedder = Embedder(Path(report.path), device=device, flip=flip)
            embedded[report.path] = (embedder.embed(face_crops), embedder.embed(crops))
        probes, gallery = embedded[report.path]
        thr = report.threshold if math.isfinite(report.threshold) else fallback_threshold
        counts.append(int(resolved(probes, faces, gallery, keys, thr).sum()))
    cur, cand = counts
    ok = cand >= cur
    n_pos = sum(1 for f in faces if f.role is FaceRole.POSITIVE)
    return GateCheck(
        "corrections", ok,
        f"corrections resolved {cur} -> {cand} of {len(faces)} ({n_pos} missed matches, {len(faces) - n_pos} "
        "wrong matches)" + ("" if ok else ": the candidate resolves fewer than the current model"))


def with_check(decision: GateDecision, check: GateCheck) -> GateDecision:
    """``decision`` with one more rule."""
    checks = (*decision.checks, check)
    return GateDecision(deploy=all(c.passed for c in checks), checks=checks)

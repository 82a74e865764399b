"""The deployment gate: rules on reports, and real broken / unchanged models through the pipeline."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from desktop_app.core.evaluation.metrics import rank1
from desktop_app.core.service import FaceGate
from trainer.data import CropCache, crops_from_facegate, split_held_out
from trainer.deploy import DeployOptions, RetrainStatus, deploy_candidate
from trainer.evaluate import LfwReport, ModelReport, _person_top
from trainer.gate import GateConfig, decide
from trainer.model.sface import load_pretrained_sface
from trainer.progress import RetrainStage


def _report(name: str = "m", *, rank1: float = 0.9, tpir: float | None = 0.8, lfw: float | None = 0.99,
            degenerate: int = 0) -> ModelReport:
    lfw_report = None if lfw is None else LfwReport(accuracy=lfw, accuracy_std=0.01, tar_at_far_1e3=0.9,
                                                   tar_at_far_1e2=0.95, pairs=600, folds=10, no_face=0, degenerate=0)
    return ModelReport(name=name, sha256=name * 8, path=f"{name}.onnx", rank1=rank1, tpir=tpir,
                       fpir=None if tpir is None else 0.001, threshold=0.5 if tpir is not None else float("nan"),
                       target_fpir=1e-3, recall_at_k={1: rank1}, map_at_r=0.7, n_gallery=30, n_probes=6, n_people=6,
                       n_nonmated=100, nonmated_source="strangers", degenerate=degenerate, lfw=lfw_report)


# ------------------------------------------------------------------------------------------ rules


def test_equal_or_better_candidate_passes_with_reasons() -> None:
    d = decide(_report("cur"), _report("new", rank1=0.95, tpir=0.85, lfw=0.991))
    assert d.deploy and not d.failures
    assert [c.name for c in d.checks] == ["rank1", "tpir", "lfw", "embeddings"]
    assert "90.00% -> 95.00%" in d.reasons[0]
    assert decide(_report("cur"), _report("same")).deploy


@pytest.mark.parametrize(
    ("candidate", "failed"),
    [
        (_report("new", rank1=0.89), "rank1"),
        (_report("new", tpir=0.79), "tpir"),
        (_report("new", tpir=None), "tpir"),
        (_report("new", lfw=0.99 - 0.0051), "lfw"),
        (_report("new", degenerate=3), "embeddings"),
    ],
)
def test_worse_candidate_is_refused_naming_the_rule(candidate: ModelReport, failed: str) -> None:
    d = decide(_report("cur"), candidate)
    assert not d.deploy
    assert [c.name for c in d.checks if not c.passed] == [failed]
    assert d.reasons[0] == d.failures[0]


def test_lfw_tolerance_is_configurable_in_points() -> None:
    cur, new = _report("cur", lfw=0.990), _report("new", lfw=0.986)  # -0.4 points
    assert not decide(cur, new).deploy  # the default allows 0.2 points
    assert "0.40" in decide(cur, new).failures[0]
    assert decide(cur, _report("new", lfw=0.9881)).deploy  # -0.19 points
    assert decide(cur, new, GateConfig(max_lfw_drop=0.005)).deploy
    assert not decide(cur, new, GateConfig(max_lfw_drop=0.003)).deploy
    assert decide(cur, _report("new", lfw=None)).deploy  # LFW not evaluated: skipped ...
    assert not decide(cur, _report("new", lfw=None), GateConfig(require_lfw=True)).deploy  # ... unless required
    with pytest.raises(ValueError):
        GateConfig(max_lfw_drop=5.0)  # a fraction, not points


def test_person_top_matches_a_naive_search() -> None:
    rng = np.random.default_rng(1)
    gal = rng.normal(size=(9, 4))
    labels = np.array([5, 5, 7, 7, 7, 9, 9, 2, 2])
    queries = rng.normal(size=(6, 4))
    best, score = _person_top(queries, gal, labels)
    excl = np.array([5, 7, 9, 2, 5, 7])
    best_x, score_x = _person_top(queries, gal, labels, exclude=excl)
    for i, q in enumerate(queries):
        sims = {int(c): max(float(q @ g) for g, lab in zip(gal, labels, strict=True) if lab == c)
                for c in set(labels.tolist())}
        top = max(sims, key=lambda c: sims[c])
        assert best[i] == top and score[i] == pytest.approx(sims[top])
        others = {c: v for c, v in sims.items() if c != excl[i]}
        top_x = max(others, key=lambda c: others[c])
        assert best_x[i] == top_x and score_x[i] == pytest.approx(others[top_x])


# ------------------------------------------------------------------------------------------ real models

LFW_SUBSET: dict[str, Any] = {"lfw_folds": 2, "lfw_pairs_per_fold": 12, "n_strangers": 12}


def test_broken_model_is_refused_and_the_old_model_stays_active(
    facegate: FaceGate, lfw: Path, crop_cache: CropCache, tmp_path: Path,
) -> None:
    old = facegate.model
    broken = load_pretrained_sface(Path(old.path))
    with torch.no_grad():
        broken.head.fc.weight.zero_()  # every face now gets the same embedding
    split = split_held_out(crops_from_facegate(facegate), 0.2, seed=0)
    out = deploy_candidate(facegate, broken, split, DeployOptions(work_dir=tmp_path / "run", lfw_dir=lfw, **LFW_SUBSET),
                           cache=crop_cache)
    assert out.status is RetrainStatus.REFUSED and not out.deployed
    assert out.decision is not None and not out.decision.deploy
    failed = {c.name for c in out.decision.checks if not c.passed}
    assert {"rank1", "lfw"} <= failed, out.decision.reasons
    assert any("worse than the current model" in r for r in out.decision.failures)
    assert out.comparison is not None
    cand, cur = out.comparison.candidate, out.comparison.current
    assert cand.rank1 < cur.rank1 and cand.lfw is not None and cur.lfw is not None
    assert cand.lfw.accuracy <= 0.6 < 0.95 <= cur.lfw.accuracy
    # the old model stays: active in memory and in the database, nothing registered, refusal audited
    assert facegate.model.sha256 == old.sha256 == facegate.store.active_model().sha256  # type: ignore[union-attr]
    assert [m.sha256 for m in facegate.store.list_models()] == [old.sha256]
    assert facegate.engine.model_sha256 == old.sha256
    assert any(row.action == "model.retrain.refused" for row in facegate.store.audit_log(10))


def test_unchanged_model_passes_deploys_and_rolls_back(
    facegate: FaceGate, lfw: Path, crop_cache: CropCache, tmp_path: Path,
) -> None:
    old = facegate.model
    same = load_pretrained_sface(Path(old.path))
    split = split_held_out(crops_from_facegate(facegate), 0.2, seed=0)
    # the report's rank-1 is the core metric on the app's templates of the held-out crops
    gal = facegate.embed_crops(split.train.crops)
    probes = facegate.embed_crops(split.held_out.crops)
    expected_rank1 = rank1(probes, split.held_out.labels, gal, split.train.labels)
    options = DeployOptions(work_dir=tmp_path / "run", lfw_dir=lfw, prior_strangers=300, **LFW_SUBSET)
    out = deploy_candidate(facegate, same, split, options, cache=crop_cache)
    assert out.status is RetrainStatus.DEPLOYED, out.messages
    # every step after training ran, in run order, each reported as a typed record
    order = list(RetrainStage)
    stages = [e.stage for e in out.events]
    assert stages == sorted(stages, key=order.index) and set(order) - set(stages) == {RetrainStage.TRAIN}
    prior_done = [e for e in out.events if e.stage is RetrainStage.PRIOR and e.fraction == 1.0]
    assert len(prior_done) == 1 and f"({300 * 299 // 2} comparisons)" in prior_done[0].message
    audited = [row.action for row in facegate.store.audit_log(20)]
    assert {"model.register", "model.activate", "model.retrain.deployed"} <= set(audited)
    # the new model got its own score prior, so the app calibrates it like the shipped one
    from desktop_app.core.embedding.model_prior import load_prior

    prior = load_prior(facegate.model.sha256, facegate.embedder_flip, (facegate.registry.folder,))
    assert prior is not None and prior.comparisons == 300 * 299 // 2  # all pairs of the 300 strangers
    cal = facegate.current_calibration()
    assert cal is not None and "prior" in " ".join(cal.notes)
    assert out.decision is not None and out.decision.deploy and not out.decision.failures
    cur, cand = out.comparison.current, out.comparison.candidate  # type: ignore[union-attr]
    assert cand.rank1 == cur.rank1 and cand.tpir == cur.tpir
    assert cand.lfw is not None and cur.lfw is not None and cand.lfw.accuracy == pytest.approx(cur.lfw.accuracy)
    assert cur.lfw.pairs == 24 and cur.lfw.folds == 2 and cur.nonmated_source == "strangers"
    assert cur.rank1 == expected_rank1
    assert facegate.model.sha256 == out.candidate.sha256 != old.sha256  # type: ignore[union-attr]
    back = facegate.rollback_model()
    assert back.sha256 == old.sha256 == facegate.model.sha256
    assert dataclasses.asdict(facegate.store.active_model())["sha256"] == old.sha256  # type: ignore[arg-type]

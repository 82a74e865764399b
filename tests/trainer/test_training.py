"""Fine-tuning on real LFW faces: data, a tiny real training run, resume, cancel, export, deploy."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.face.illumination import normalise_face_crop
from desktop_app.core.service import FaceGate
from trainer.cli import main as cli_main
from trainer.data import (
    AugmentConfig,
    CropCache,
    FaceCrops,
    PKSampler,
    TrainSplit,
    augment,
    crops_from_facegate,
    crops_from_images,
    prepare_crops,
    split_held_out,
)
from trainer.deploy import DeployOptions, RetrainStatus, deploy_candidate
from trainer.gate import GateConfig
from trainer.model.sface import load_pretrained_sface, onnx_parity, run_onnx
from trainer.progress import RetrainProgress, RetrainStage
from trainer.train import EpochStats, TrainConfig, TrainResult, identification_margin, load_checkpoint, train


def _fake_crops(labels: list[int], classes: int) -> FaceCrops:
    n = len(labels)
    crops = np.arange(n, dtype=np.uint8)[:, None, None, None] * np.ones((1, 112, 112, 3), np.uint8)
    return FaceCrops(crops, np.array(labels, np.int64), tuple(f"p{i}" for i in range(classes)),
                     tuple(range(classes)), tuple(f"s{i}" for i in range(n)), np.arange(n, dtype=np.int64))


# ------------------------------------------------------------------------------------------ data


def test_split_is_deterministic_per_person_and_keeps_training_shots() -> None:
    data = _fake_crops([0] * 5 + [1] * 2 + [2] * 1 + [3] * 10, 4)
    a = split_held_out(data, 0.2, seed=3)
    b = split_held_out(data, 0.2, seed=3)
    assert a.held_out.sources == b.held_out.sources and a.train.sources == b.train.sources
    assert sorted(a.train.sources + a.held_out.sources) == sorted(data.sources)  # a partition
    assert a.held_out.counts().tolist() == [1, 1, 0, 2]  # round(0.2 n), >= 1 when possible, none of 1 shot
    assert a.train.counts().tolist() == [4, 1, 1, 8]
    others = {split_held_out(data, 0.2, seed=s).held_out.sources for s in range(8)}
    assert len(others) > 1  # the seed matters


def test_pk_sampler_batches_p_people_k_shots() -> None:
    labels = np.array([0] * 7 + [1] * 2 + [2] * 5 + [3] * 4 + [4] * 3)
    sampler = PKSampler(labels, p=3, k=4)
    batches = list(sampler.batches(np.random.default_rng(0)))
    assert len(batches) == len(sampler) == math.ceil(len(labels) / 12)
    for idx in batches:
        assert idx.shape == (12,)
        people, counts = np.unique(labels[idx], return_counts=True)
        assert people.size == 3 and set(counts.tolist()) == {4}
        for c in people:  # people with >= K shots are drawn without replacement
            picked = idx[labels[idx] == c]
            if (labels == c).sum() >= 4:
                assert np.unique(picked).size == 4
    again = list(sampler.batches(np.random.default_rng(0)))
    assert all(np.array_equal(x, y) for x, y in zip(batches, again, strict=True))


def test_augment_is_seeded_and_keeps_faces_recognisable(lfw_split: TrainSplit) -> None:
    crops = lfw_split.train.crops[:6]
    a = augment(crops, np.random.default_rng(1))
    b = augment(crops, np.random.default_rng(1))
    c = augment(crops, np.random.default_rng(2))
    assert a.shape == crops.shape and a.dtype == np.float32
    assert np.array_equal(a, b) and not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() <= 255.0
    # the jitter is small: each augmented crop is closer to its source than to any other crop
    dist = np.abs(a[:, None].astype(np.float64) - crops[None].astype(np.float64)).mean(axis=(2, 3, 4))
    assert (dist.argmin(axis=1) == np.arange(6)).all()
    flipped = augment(crops[:1], np.random.default_rng(0), AugmentConfig(
        flip_p=1.0, rotate_deg=0.0, scale=0.0, shift_px=0.0, brightness=0.0, contrast=0.0, blur_p=0.0))
    assert np.array_equal(flipped[0], crops[0, :, ::-1].astype(np.float32))


def test_crops_from_images_fills_the_cache_it_is_given(lfw: Path) -> None:
    """An empty CropCache is falsy (its len is 0); it must still be the one filled, so that a
    later caller (the gate's evaluation, a bench) reuses its crops instead of detecting again."""
    cache = CropCache(device="cpu")
    shots = sorted((lfw / "Colin_Powell").glob("*.jpg"))[:2]
    data = crops_from_images([(p, "Colin Powell") for p in shots], cache)
    assert len(cache) == len(shots) == len(data)
    assert all(np.array_equal(cache.crop(p), c) for p, c in zip(shots, data.crops, strict=True))


def test_prepare_crops_is_the_embedders_illumination_normalisation(lfw_split: TrainSplit) -> None:
    crops = lfw_split.train.crops[:4].copy()
    crops[0] = (crops[0] // 5).astype(np.uint8)  # a dark face gets gamma-corrected
    out = prepare_crops(crops)
    assert all(np.array_equal(out[i], normalise_face_crop(crops[i])) for i in range(4))
    assert not np.array_equal(out[0], crops[0])


def test_crops_from_facegate_reads_active_people(facegate: FaceGate, people: tuple[str, ...]) -> None:
    people_n = len(people)
    data = crops_from_facegate(facegate)
    assert data.num_classes == people_n and len(data) == people_n * 6
    sid = int(data.sample_ids[7])
    assert np.array_equal(data.crops[7], facegate.store.sample_crop(sid))
    assert data.class_names[int(data.labels[7])] == facegate.store.get_person(data.class_keys[int(data.labels[7])]).name
    pid = facegate.store.find_person(people[0].replace("_", " ")).id
    facegate.store.update_person(pid, active=False)
    assert crops_from_facegate(facegate).num_classes == people_n - 1


def test_identification_margin_matches_naive_loop() -> None:
    rng = np.random.default_rng(0)
    gal = rng.normal(size=(12, 8))
    gal /= np.linalg.norm(gal, axis=1, keepdims=True)
    gl = np.repeat(np.arange(4), 3)
    pr = rng.normal(size=(5, 8))
    pr /= np.linalg.norm(pr, axis=1, keepdims=True)
    pl = np.array([0, 1, 2, 3, 1])
    expected = []
    for q, c in zip(pr, pl, strict=True):
        cents = {k: gal[gl == k].mean(axis=0) / np.linalg.norm(gal[gl == k].mean(axis=0)) for k in range(4)}
        expected.append(q @ cents[c] - max(q @ v for k, v in cents.items() if k != c))
    assert identification_margin(pr, pl, gal, gl) == pytest.approx(float(np.mean(expected)), abs=1e-9)


# ------------------------------------------------------------------------------------------ training


@pytest.fixture(scope="module")
def trained(lfw_split: TrainSplit, tiny: TrainConfig,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[TrainResult, list[EpochStats]]:
    """The uninterrupted reference run: 2 epochs, checkpoints on."""
    events: list[EpochStats] = []
    cfg = tiny.model_copy(update={"checkpoint_dir": tmp_path_factory.mktemp("ck_full")})
    return train(cfg, lfw_split, progress=events.append), events


def _first_people(c: FaceCrops, n: int) -> FaceCrops:
    sub = c.subset(np.flatnonzero(c.labels < n))
    return FaceCrops(sub.crops, sub.labels, sub.class_names[:n], sub.class_keys[:n], sub.sources, sub.sample_ids)


def _states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def test_tiny_fine_tune_reports_progress_and_trains_only_unfrozen_layers(
    trained: tuple[TrainResult, list[EpochStats]], tiny: TrainConfig, people: tuple[str, ...],
) -> None:
    result, events = trained
    people_n = len(people)
    assert [e.epoch for e in events] == [0, 1, 2]
    assert [e.phase for e in events] == ["baseline", "warmup", "finetune"]
    for e in events[1:]:
        assert math.isfinite(e.loss) and set(e.terms) == {"center", "arcface"}
        assert all(math.isfinite(v) for v in e.terms.values())
        assert sum(e.terms.values()) == pytest.approx(e.loss, rel=1e-5)
        assert e.batches == 2 and 0.0 <= e.train_accuracy <= 1.0
    for e in events:
        assert e.held_out_rank1 is not None and 0.0 <= e.held_out_rank1 <= 1.0
        assert e.held_out_margin is not None and math.isfinite(e.held_out_margin)
    assert result.history == tuple(events) and result.epochs_run == 2 and not result.cancelled
    assert result.best_epoch in (1, 2)
    ckpt = load_checkpoint(result.checkpoint)  # type: ignore[arg-type]
    assert ckpt["epoch"] == 2 and set(ckpt) >= {"model", "loss", "optimizer", "rng", "best", "history"}
    assert ckpt["loss"]["components.center.centers"].shape == (people_n, 128)

    pre = load_pretrained_sface().state_dict()
    post = result.model.state_dict()
    n = result.model.num_blocks
    for key, value in post.items():
        if key.startswith("blocks.") and int(key.split(".")[1]) < n - tiny.unfreeze_blocks:
            assert torch.equal(value, pre[key]), key  # frozen stages did not move (BN statistics neither)
    if result.best_epoch == 2:
        assert not torch.equal(post["head.fc.weight"], pre["head.fc.weight"])
        assert not torch.equal(post[f"blocks.{n - 1}.pw.conv.weight"], pre[f"blocks.{n - 1}.pw.conv.weight"])


def test_resume_from_checkpoint_reproduces_the_uninterrupted_run(
    trained: tuple[TrainResult, list[EpochStats]], lfw_split: TrainSplit, tiny: TrainConfig, tmp_path: Path,
) -> None:
    full, full_events = trained
    ck = tmp_path / "ck"
    first = train(tiny.model_copy(update={"epochs": 1, "checkpoint_dir": ck}), lfw_split)
    assert first.epochs_run == 1 and first.checkpoint == ck / "last.pt"
    assert load_checkpoint(ck / "last.pt")["epoch"] == 1
    events: list[EpochStats] = []
    resumed = train(tiny.model_copy(update={"checkpoint_dir": ck}), lfw_split, progress=events.append,
                    resume=ck / "last.pt")
    assert [e.epoch for e in events] == [2]  # continues from the saved epoch
    assert resumed.epochs_run == 2 and resumed.best_epoch == full.best_epoch
    assert events[0].loss == full_events[2].loss and events[0].terms == full_events[2].terms
    assert events[0].held_out_margin == full_events[2].held_out_margin
    assert _states_equal(resumed.model, full.model)
    assert _states_equal(resumed.loss, full.loss)


def test_cancel_stops_before_the_epoch_ends_and_keeps_the_pretrained_model(
    lfw_split: TrainSplit, tiny: TrainConfig, tmp_path: Path,
) -> None:
    polls: list[int] = []

    def cancelled() -> bool:
        polls.append(1)
        return len(polls) > 1  # let the first batch run, stop before the second

    events: list[EpochStats] = []
    result = train(tiny.model_copy(update={"checkpoint_dir": tmp_path}), lfw_split, progress=events.append,
                   cancelled=cancelled)
    assert result.cancelled and result.epochs_run == 0 and len(polls) == 2
    assert [e.epoch for e in events] == [0]
    assert result.checkpoint is None and not (tmp_path / "last.pt").exists()
    assert _states_equal(result.model, load_pretrained_sface())


def test_resume_refuses_other_settings(trained: tuple[TrainResult, list[EpochStats]], lfw_split: TrainSplit,
                                        tiny: TrainConfig) -> None:
    full, _ = trained
    with pytest.raises(ValueError, match="loss"):
        train(tiny.model_copy(update={"loss": "center+softmax"}), lfw_split, resume=full.checkpoint)
    other = TrainSplit(_first_people(lfw_split.train, 5), _first_people(lfw_split.held_out, 5))
    with pytest.raises(ValueError, match="other people"):
        train(tiny, other, resume=full.checkpoint)


# ------------------------------------------------------------------------------------------ export + deploy


def test_export_parity_registration_and_switch_reembeds_the_gallery(
    trained: tuple[TrainResult, list[EpochStats]], facegate: FaceGate, people: tuple[str, ...], tmp_path: Path,
) -> None:
    result, _ = trained
    people_n = len(people)
    old = facegate.model
    split = split_held_out(crops_from_facegate(facegate), 0.2, seed=0)
    lenient = GateConfig(max_lfw_drop=1.0, rank1_tolerance=1.0, tpir_tolerance=1.0)  # deploy whatever the numbers
    progress: list[RetrainProgress] = []
    out = deploy_candidate(facegate, result.model, split,
                           DeployOptions(work_dir=tmp_path / "run", gate=lenient, name="test-ft"),
                           progress=progress.append)
    assert out.status is RetrainStatus.DEPLOYED and out.deployed, out.messages
    assert out.parity is not None and out.parity < 1e-4
    # independent parity check of the exported file on other crops
    other = prepare_crops(split.train.crops[8:16]).astype(np.float32).transpose(0, 3, 1, 2)
    assert onnx_parity(result.model, out.candidate_path, other) < 1e-4
    torch_out = result.model.eval()(torch.from_numpy(other)).detach().numpy()
    assert np.abs(run_onnx(out.candidate_path, other) - torch_out).max() < 1e-4

    rec = out.candidate
    assert rec is not None and rec.name == "test-ft" and rec.parent_sha256 == old.sha256
    stored = facegate.store.get_model(rec.sha256)
    assert stored is not None and json.loads(stored.metrics_json or "{}")["gate"]["deploy"] is True
    assert facegate.model.sha256 == rec.sha256 == facegate.store.active_model().sha256  # type: ignore[union-attr]
    assert facegate.engine.model_sha256 == rec.sha256
    # every sample has a template for the new model, equal to the new embedder's output on its crop
    assert facegate.store.samples_missing_template(rec.sha256) == []
    sids, _, vecs = facegate.store.templates(rec.sha256)
    assert len(sids) == people_n * 6 == len(facegate.gallery)
    crops = np.stack([facegate.store.sample_crop(int(s)) for s in sids])
    ref = Embedder(Path(rec.path), device="cpu", flip=True).embed(crops)
    assert np.abs(ref - vecs).max() < 1e-5
    _, _, old_vecs = facegate.store.templates(old.sha256)
    assert np.abs(old_vecs - vecs).max() > 1e-4  # really re-embedded with another model
    reembedding = [p for p in progress if p.stage is RetrainStage.SWITCH and p.message.startswith("re-embedding")]
    assert reembedding and reembedding[-1].done == reembedding[-1].total == people_n * 6
    assert set(out.events) <= set(progress)  # what the outcome keeps was reported
    assert [e.line for e in out.events if e.stage is RetrainStage.PRIOR] == ["prior: skipped (no LFW folder)"]
    assert out.comparison is not None and out.comparison.plot_path.is_file()  # type: ignore[union-attr]
    cal = facegate.current_calibration()
    assert cal is not None and cal.model_sha256 == rec.sha256


def test_cli_dry_run_trains_and_evaluates_without_deploying(enrolled_dir: Path, tmp_path: Path,
                                                             capsys: Any) -> None:
    import shutil

    site = tmp_path / "site"
    shutil.copytree(enrolled_dir, site)
    with FaceGate(site / "facegate.db", device="cpu") as fg:
        before = fg.model.sha256
    code = cli_main(["--db", str(site / "facegate.db"), "--recipe", "partial", "--epochs", "1", "--dry-run",
                     "--work-dir", str(tmp_path / "run")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "train: epoch 1/1 (warmup)" in out and "gate: held-out rank-1" in out
    assert "done: dry run, the gate would" in out and "result: dry-run" in out
    assert (tmp_path / "run" / "report.json").is_file() and (tmp_path / "run" / "report.png").is_file()
    assert "done: training checkpoint removed (the run is complete)" in out
    assert not (tmp_path / "run" / "checkpoints" / "last.pt").exists()
    with FaceGate(site / "facegate.db", device="cpu") as fg:
        assert fg.model.sha256 == before and len(fg.list_models()) == 1
    assert cli_main(["--db", str(tmp_path / "missing.db")]) == 2


def test_retrain_on_an_open_facegate_can_be_cancelled_and_keeps_the_model(facegate: FaceGate, tmp_path: Path) -> None:
    from trainer.pipeline import retrain

    old = facegate.model.sha256
    records: list[RetrainProgress] = []
    out = retrain(facegate, TrainConfig(epochs=2), DeployOptions(work_dir=tmp_path / "run"), records.append,
                  cancelled=lambda: True)
    assert out.status is RetrainStatus.CANCELLED and not out.deployed and out.candidate is None
    assert out.training is not None and out.training.cancelled and out.training.epochs_run == 0
    assert facegate.model.sha256 == old == out.active_model.sha256  # still open, still the old model
    assert records[0].stage is RetrainStage.TRAIN and records[0].line.startswith("train: 6 people")
    assert {r.stage for r in records} == {RetrainStage.TRAIN}  # it stopped in training
    assert out.events[-1].message.startswith("cancelled") and out.events[-1] in records
    assert facegate.store.list_samples()  # nothing lost

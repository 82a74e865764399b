"""The default frozen-trunk recipe (trainer.head_tune): helpers against naive references, and one
tiny real run on LFW crops (the trunk stays as shipped, only the embedding layer moves, WiSE-FT)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from desktop_app.core.evaluation.metrics import rank1
from trainer.data import TrainSplit, prepare_crops
from trainer.head_tune import (
    alpha_grid,
    choose_alpha,
    flip_tta,
    interpolate_state,
    raw_embeddings,
    trunk_features,
)
from trainer.model.sface import load_pretrained_sface
from trainer.train import EpochStats, TrainConfig, embed_crops, train


def test_interpolate_state_matches_a_naive_loop() -> None:
    g = torch.Generator().manual_seed(0)
    base = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "n": torch.tensor(5)}
    tuned = {"w": torch.randn(3, 4, generator=g), "b": torch.randn(4, generator=g), "n": torch.tensor(9)}
    for alpha in (0.0, 0.3, 1.0):
        out = interpolate_state(base, tuned, alpha)
        for key in ("w", "b"):
            flat_b, flat_t, flat_o = base[key].flatten(), tuned[key].flatten(), out[key].flatten()
            for i in range(flat_o.numel()):
                assert float(flat_o[i]) == pytest.approx(float(flat_b[i]) * (1 - alpha) + float(flat_t[i]) * alpha,
                                                         abs=1e-6)
        assert int(out["n"]) == 9  # integer buffers are not blended
    assert torch.equal(interpolate_state(base, tuned, 0.0)["w"], base["w"])
    with pytest.raises(ValueError, match="alpha"):
        interpolate_state(base, tuned, 1.5)
    with pytest.raises(ValueError, match="keys"):
        interpolate_state(base, {"w": tuned["w"]}, 0.5)


def test_flip_tta_alpha_grid_and_choice_match_naive_references() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 8)), rng.normal(size=(5, 8))
    out = flip_tta(torch.from_numpy(a), torch.from_numpy(b)).numpy()
    for i in range(5):
        v = a[i] / np.linalg.norm(a[i]) + b[i] / np.linalg.norm(b[i])
        assert np.allclose(out[i], v / np.linalg.norm(v))
    assert alpha_grid(4) == (0.0, 0.25, 0.5, 0.75, 1.0) and alpha_grid(0) == (1.0,)
    scores = {0.0: (0.9, 0.10), 0.5: (0.95, 0.20), 0.75: (0.95, 0.20), 1.0: (0.95, 0.15)}
    best = max(scores.values())
    assert choose_alpha(scores) == min(k for k, v in scores.items() if v == best) == 0.5
    with pytest.raises(ValueError):
        choose_alpha({})


def test_recipe_settings_are_validated() -> None:
    assert TrainConfig().recipe == "frozen_trunk"  # the default recipe
    for bad in ({"recipe": "all"}, {"feature_views": 1}, {"wise_steps": -1}, {"lr_embedding": 0.0},
                {"l2sp_weight": -1.0}):
        with pytest.raises(ValueError):
            TrainConfig(**bad)


def test_trunk_features_feed_the_same_embedding_as_the_network(lfw_split: TrainSplit) -> None:
    model = load_pretrained_sface()
    crops = prepare_crops(lfw_split.held_out.crops[:4])
    tf = trunk_features(model, crops, 3, np.random.default_rng(0))
    assert tf is not None and tf.feats.shape == (4, 3, 50176) and tf.feats.dtype == torch.float16
    raw = raw_embeddings(model.head.fc, model.head.features.eval(), tf.feats[:, 0])
    ref, _ = embed_crops(model, crops, flip=False)
    cos = np.sum(raw.numpy() * ref, axis=1) / (np.linalg.norm(raw.numpy(), axis=1) * np.linalg.norm(ref, axis=1))
    assert cos.min() > 0.9999  # float16 cache, same function
    mirror = raw_embeddings(model.head.fc, model.head.features.eval(), tf.feats[:, 1])
    ref_m, _ = embed_crops(model, np.ascontiguousarray(crops[:, :, ::-1]), flip=False)
    assert np.allclose(mirror.numpy(), ref_m, atol=2e-2)


@pytest.mark.slow
def test_tiny_frozen_trunk_run_trains_only_the_embedding_layer_and_blends_toward_the_base(
    lfw_split: TrainSplit,
) -> None:
    cfg = TrainConfig(epochs=2, p=6, k=3, feature_views=2, wise_steps=4, seed=3, patience=5,
                      lr_embedding=1e-3)
    events: list[EpochStats] = []
    res = train(cfg, lfw_split, progress=events.append)
    assert [e.epoch for e in events] == [0, 1, 2] and events[0].phase == "baseline"
    assert all(math.isfinite(e.loss) and "l2sp" in e.terms for e in events[1:])
    assert res.wise_alpha in alpha_grid(4) and res.checkpoint is None and not res.cancelled
    pre, post = load_pretrained_sface().state_dict(), res.model.state_dict()
    moved = [k for k in pre if not torch.equal(pre[k], post[k])]
    assert set(moved) <= {"head.fc.weight", "head.fc.bias"}  # trunk and BatchNorms exactly as shipped
    if res.wise_alpha and res.best_epoch:
        assert moved  # a blend with a trained layer changed it
    # the chosen alpha is the best on the validation split: re-score alpha 0 (the base) directly
    base_val = events[0].held_out_rank1
    assert base_val is not None
    _, gal = embed_crops(res.model, prepare_crops(lfw_split.train.crops), flip=True)
    _, val = embed_crops(res.model, prepare_crops(lfw_split.held_out.crops), flip=True)
    after = rank1(val, lfw_split.held_out.labels, gal, lfw_split.train.labels)
    assert after >= base_val - 1.0 / len(val) - 1e-9  # alpha 0 was a candidate (one crop of slack: float16 cache)
    with pytest.raises(ValueError, match="resum"):
        train(cfg, lfw_split, resume=Path("last.pt"))

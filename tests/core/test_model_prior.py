"""The model score prior: quantiles of the per-comparison impostor tail and the gallery threshold."""

from __future__ import annotations

import math

import numpy as np
import pytest

from desktop_app.core.embedding.model_prior import ScorePrior, load_prior, measure_prior, prior_path


def test_measure_prior_matches_a_naive_quantile() -> None:
    rng = np.random.default_rng(0)
    v = rng.standard_normal((400, 16)).astype(np.float32)
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    prior = measure_prior(v, "x" * 64, flip=False, source="test")
    scores = sorted((float(v[i] @ v[j]) for i in range(400) for j in range(i + 1, 400)), reverse=True)
    assert prior.comparisons == len(scores)
    for far, thr in prior.far_thresholds:
        k = max(0, int(far * len(scores)) - 1)
        assert thr == pytest.approx(scores[k], abs=1e-6)


def test_gallery_threshold_grows_with_the_gallery_and_interpolates() -> None:
    prior = ScorePrior("s", True, ((1e-2, 0.30), (1e-3, 0.36), (1e-4, 0.42)), 10**7, "t")
    assert prior.threshold_at_far(1e-3) == pytest.approx(0.36)
    assert prior.threshold_at_far(10 ** -3.5) == pytest.approx(0.39)  # log-linear between rows
    assert prior.threshold_at_far(1e-5) == pytest.approx(0.48)  # extended past the last row
    ts = [prior.threshold_for_gallery(1e-3, t) for t in (1, 10, 100, 1000)]
    assert ts == sorted(ts) and ts[0] == pytest.approx(0.36, abs=1e-3)
    # union bound: T templates at per-comparison far f give FPIR 1 - (1 - f)^T = target
    far = -math.expm1(math.log1p(-1e-3) / 100)
    assert prior.threshold_for_gallery(1e-3, 100) == pytest.approx(prior.threshold_at_far(far))


def test_priors_load_from_a_registry_folder_first(tmp_path) -> None:  # type: ignore[no-untyped-def]
    prior = ScorePrior("ab" * 32, True, ((1e-2, 0.3), (1e-3, 0.4)), 1000, "t")
    prior_path(tmp_path, prior.model_sha256, True).write_text(prior.to_json())
    got = load_prior(prior.model_sha256, True, (tmp_path,))
    assert got == prior
    assert load_prior(prior.model_sha256, False, (tmp_path,)) is None
    with pytest.raises(ValueError, match="too few"):
        measure_prior(np.eye(5, dtype=np.float32), "s", True, "t")

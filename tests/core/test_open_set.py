"""Open-set identification on real LFW faces: the calibrated threshold keeps strangers out without
locking enrolled people out, and nobody is ever accepted as someone else."""

from __future__ import annotations

from pathlib import Path

from desktop_app.core.evaluation.models import open_set_lfw


def test_calibrated_threshold_keeps_strangers_out(lfw: Path) -> None:
    res = open_set_lfw(lfw, people=20, shots=3, strangers=150, probes_per_person=1, fpir=1e-3, seed=1)
    assert res["gallery_templates"] >= 45  # a few LFW photos hold several large faces: rejected at enrolment
    product = res["product_calibrated"]
    per_comparison = res["per_comparison_far_1e-3"]
    assert isinstance(product, dict) and isinstance(per_comparison, dict)
    assert product["strangers_accepted"] == 0
    assert product["wrong_person_accepts"] == 0
    assert product["tpir"] >= 0.85
    # the gallery-aware threshold is stricter than the per-comparison one
    assert product["threshold"] > per_comparison["threshold"]
    assert per_comparison["strangers_accepted"] >= product["strangers_accepted"]


def test_one_photo_per_person_calibrates_on_the_safe_side(lfw: Path, tmp_path: Path) -> None:
    """Offices enrol from one badge photo: no mated pairs. Calibration used to fail ("est_fnir must
    be finite, got nan") and leave the 0.42 fallback in force. Now the enrolled people are each
    other's impostors, and while their 20 searches cannot resolve 1e-3 the threshold is the safe
    side, stricter than the model prior, and the findings say so."""
    import math

    import numpy as np

    from desktop_app.core.embedding.model_prior import load_prior
    from desktop_app.core.evaluation.lfw import lfw_people_with_min_images
    from desktop_app.core.matching.calibration_findings import Resolution
    from desktop_app.core.service import FaceGate

    people = lfw_people_with_min_images(lfw, 2)
    names = sorted(people)
    chosen = [names[i] for i in np.random.default_rng(5).choice(len(names), 20, replace=False)]
    with FaceGate(tmp_path / "facegate.db", device="cpu") as gate:
        for name in chosen:
            gate.enrol_images(name, people[name][:1], check_quality=False)
        enrolled = gate.gallery.person_count
        assert enrolled >= 18 and len(gate.gallery) == enrolled  # one template each
        cal = gate.calibrate(1e-3)
        prior = load_prior(gate.model.sha256, gate.engine.embedder.flip)
        assert prior is not None
        floor = prior.threshold_for_gallery(1e-3, enrolled)
        f = cal.findings
        assert f is not None and f.resolution is Resolution.SAFE_SIDE
        assert math.isfinite(cal.threshold) and cal.threshold >= floor + 0.05 - 1e-9
        assert f.prior_threshold == floor and f.counts.mated == 0 and math.isnan(cal.est_fnir)
        assert f.counts.enrolled_searches == enrolled and f.counts.stranger_searches == 0
        stored = gate.store.latest_calibration(gate.model.sha256)
        assert stored is not None and stored.findings == f and stored.threshold == cal.threshold

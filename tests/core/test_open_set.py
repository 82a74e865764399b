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

"""Stranger acceptance at one door camera, one photo per person: measured FPIR against the target.

An office enrols each person from one badge photo, and every face the door sees comes from the
same camera: the impostor scores are higher than across LFW's varied photos, from which the
model prior was measured. This script makes such conditions from LFW (every image grey, cropped
tight around the face, relit) and measures how many strangers the app's threshold lets in:

- enrolled: P LFW people (with 2+ images), one photo each, frontal light;
- strangers: S LFW single-image people (never enrolled), at each lighting level;
- mated probes: each enrolled person's second image, at each lighting level (TPIR);
- lighting levels: ``front`` (as enrolled), ``dim`` (x0.5), ``dark`` (x0.25, gamma 1.3, sensor
  noise), ``side`` (a left-to-right ramp 0.2 -> 1.1).

Thresholds compared (accept = best person score >= threshold and a lead of ``margin`` over the
runner-up, as the app decides):

- ``fallback``: the 0.42 in force when calibration used to fail with one photo per person;
- ``prior``: the model prior's threshold for this gallery alone;
- ``calibrated``: what the app calibrates now from its own data (no strangers yet: the safe side);
- ``recalibrated``: after the door's unknown faces joined the stranger pool: half of the strangers
  (all lighting levels) are given to the calibration, FPIR is measured on the other half.

    .venv/bin/python bench/one_camera_fpir.py [--people 50] [--strangers 400] [--fpir 1e-3]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from desktop_app.core.config import RecognitionSettings
from desktop_app.core.embedding.model_prior import load_prior
from desktop_app.core.evaluation.lfw import lfw_people_with_min_images, lfw_single_image_people
from desktop_app.core.evaluation.models import build_engine
from desktop_app.core.face.engine import FaceEngine
from desktop_app.core.matching.calibration import CalibrationPolicy, calibrate
from desktop_app.core.video.imageio import read_image

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
LEVELS = ("front", "dim", "dark", "side")


def one_camera(image: np.ndarray, level: str, rng: np.random.Generator) -> np.ndarray:
    """LFW 250x250 BGR -> grey, tight 140x140 crop around the face scaled to 200x200, relit."""
    grey = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    h, w = grey.shape
    cy, cx, half = h // 2, w // 2, 70
    crop = cv2.resize(grey[cy - half : cy + half, cx - half : cx + half], (200, 200), interpolation=cv2.INTER_AREA)
    x = crop.astype(np.float32) / 255.0
    if level == "dim":
        x = x * 0.5
    elif level == "dark":
        x = (x**1.3) * 0.25 + rng.normal(0.0, 4.0 / 255.0, x.shape).astype(np.float32)
    elif level == "side":
        x = x * np.linspace(0.2, 1.1, x.shape[1], dtype=np.float32)[None, :]
    out = np.clip(x * 255.0, 0, 255).astype(np.uint8)
    bgr: np.ndarray = cv2.cvtColor(out, cv2.COLOR_GRAY2BGR)
    return bgr


def embed(engine: FaceEngine, path: Path, level: str, rng: np.random.Generator) -> np.ndarray | None:
    face = engine.main_face(one_camera(read_image(path), level, rng))
    return None if face is None else face.embedding


def person_top2(probes: np.ndarray, gallery: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One template per person: (best index, best score, second score) per probe."""
    sims = probes @ gallery.T
    order = np.argsort(-sims, axis=1)
    rows = np.arange(sims.shape[0])
    return order[:, 0], sims[rows, order[:, 0]], sims[rows, order[:, 1]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--people", type=int, default=50)
    ap.add_argument("--strangers", type=int, default=400)
    ap.add_argument("--fpir", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.perf_counter()
    rng = np.random.default_rng(args.seed)
    engine = build_engine(device="cpu")
    prior = load_prior(engine.model_sha256, engine.embedder.flip)
    if prior is None:
        raise SystemExit(f"no score prior for model {engine.model_sha256[:12]}")
    margin = float(RecognitionSettings.model_fields["margin"].default)
    people = lfw_people_with_min_images(args.lfw, 2)
    names = sorted(people)
    chosen = [names[i] for i in rng.choice(len(names), min(args.people, len(names)), replace=False)]
    singles = lfw_single_image_people(args.lfw)
    stranger_files = [singles[i] for i in rng.choice(len(singles), args.strangers, replace=False)]

    gallery, mated_files = [], []
    for name in chosen:
        v = embed(engine, people[name][0], "front", rng)
        if v is not None:
            gallery.append(v)
            mated_files.append(people[name][1])
    g = np.stack(gallery).astype(np.float32)
    pids = np.arange(len(g))
    per_level: dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}
    for level in LEVELS:
        s_rows = [embed(engine, f, level, rng) for f in stranger_files]
        m_rows = [(i, embed(engine, f, level, rng)) for i, f in enumerate(mated_files)]
        strangers = np.stack([v for v in s_rows if v is not None]).astype(np.float32)
        mated_ids = np.array([i for i, v in m_rows if v is not None])
        mated = np.stack([v for _, v in m_rows if v is not None]).astype(np.float32)
        per_level[level] = (strangers, mated, mated_ids)

    target = args.fpir
    policy = CalibrationPolicy(target_fpir=target)
    floor = prior.threshold_for_gallery(target, len(g))
    calibrated = calibrate(g, pids, None, policy, prior_threshold=floor)
    # the door's unknown faces join the pool: even-indexed strangers of every level calibrate, odd ones test
    pool = np.concatenate([per_level[lv][0][0::2] for lv in LEVELS])
    recal = calibrate(g, pids, pool, policy, prior_threshold=floor)
    thresholds = {"fallback": 0.42, "prior": floor, "calibrated": calibrated.threshold, "recalibrated": recal.threshold}
    report: dict[str, object] = {
        "target_fpir": target,
        "enrolled": len(g),
        "margin": margin,
        "thresholds": {k: round(v, 4) for k, v in thresholds.items()},
        "calibrated_resolution": calibrated.findings.resolution.value if calibrated.findings else None,
        "recalibrated_resolution": recal.findings.resolution.value if recal.findings else None,
        "recalibration_pool": int(pool.shape[0]),
    }
    rows = {}
    for level in LEVELS:
        strangers, mated, mated_ids = per_level[level]
        _, s_top, s_second = person_top2(strangers, g)
        best, m_top, m_second = person_top2(mated, g)
        test_half = np.arange(strangers.shape[0]) % 2 == 1
        row: dict[str, object] = {"strangers": int(strangers.shape[0]), "mated_probes": int(mated.shape[0])}
        for name, t in thresholds.items():
            ok = (s_top >= t) & (s_top - s_second >= margin)
            sel = test_half if name == "recalibrated" else np.ones_like(test_half)
            hit = (m_top >= t) & (m_top - m_second >= margin) & (best == mated_ids)
            row[name] = {
                "fpir": round(float(ok[sel].mean()), 4),
                "accepted": int(ok[sel].sum()),
                "of": int(sel.sum()),
                "tpir": round(float(hit.mean()), 3),
            }
        row["max_stranger_score"] = round(float(s_top.max()), 4)
        rows[level] = row
    report["levels"] = rows
    report["seconds"] = round(time.perf_counter() - t0, 1)
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()

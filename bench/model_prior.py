"""Measure a model's per-comparison impostor score tail on LFW strangers and save it as a prior.

The open-set threshold must hold the false-accept rate of a *gallery* (FPIR ~ N_persons x the
per-comparison rate), which a small site cannot measure from its own few enrolled people. This script
measures the per-comparison rate once per model from LFW's 4,069 single-image people (8.3 M distinct
impostor comparisons) and writes a small table of (far, threshold) quantiles: statistics only, no
images or embeddings. ``desktop_app.core.matching.calibration`` uses it as a floor under its own estimate.

    .venv/bin/python bench/model_prior.py [--lfw ../shared/data/lfw] [--limit 4069] [--no-flip]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from desktop_app.core.evaluation.lfw import lfw_single_image_people
from desktop_app.core.evaluation.models import build_engine
from desktop_app.core.video.imageio import read_image

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
OUT = Path(__file__).resolve().parents[1] / "desktop_app" / "core" / "embedding" / "priors"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--limit", type=int, default=4069)
    ap.add_argument("--no-flip", action="store_true")
    ap.add_argument("--cache", type=Path, default=Path("/tmp/facegate-lfw-singles.npy"))
    args = ap.parse_args()
    engine = build_engine(flip=not args.no_flip, device="cpu")
    files = lfw_single_image_people(args.lfw)[: args.limit]
    t = time.perf_counter()
    cache = args.cache.with_suffix(f".{engine.model_sha256[:12]}.{int(engine.embedder.flip)}.npy")
    if cache.is_file():
        vecs = np.load(cache)
    else:
        rows = []
        for f in files:
            face = engine.main_face(read_image(f))
            if face is not None:
                rows.append(face.embedding)
        vecs = np.stack(rows).astype(np.float32)
        np.save(cache, vecs)
    sims = vecs @ vecs.T
    iu = np.triu_indices(len(vecs), k=1)
    scores = np.sort(sims[iu])[::-1]
    fars = [1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 3e-5, 1e-5, 3e-6, 1e-6]
    table = [[far, float(scores[max(0, int(far * len(scores)) - 1)])] for far in fars if far * len(scores) >= 50]
    prior = {
        "model_sha256": engine.model_sha256, "flip": engine.embedder.flip, "source": "LFW single-image people",
        "faces": len(vecs), "comparisons": len(scores), "far_thresholds": table,
        "impostor_mean": float(scores.mean()), "impostor_std": float(scores.std()),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    dst = OUT / f"prior-{engine.model_sha256[:16]}-flip{int(engine.embedder.flip)}.json"
    dst.write_text(json.dumps(prior, indent=1) + "\n")
    print(json.dumps(prior))
    print(f"{len(vecs)} faces in {time.perf_counter() - t:.0f} s -> {dst}")


if __name__ == "__main__":
    main()

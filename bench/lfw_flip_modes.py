"""LFW view-2 (6,000 pairs) for the three test-time flip modes of the door, in one embedding pass.

Same pipeline and protocol as ``bench/lfw.py`` (shipped detector, fp32 SFace, the main face of each
image, 10-fold accuracy with the threshold fitted on the other nine folds, TAR at FAR over all
pairs), but each image is embedded once plain and once flip-averaged (the mirror pass on top of the
plain one, ``FaceEngine.mirror_refine``), so that every mode is scored on the same faces:

- ``flip``: both sides flip-averaged (the old default, ``flip_tta="always"``);
- ``plain``: neither side flipped (``"never"``);
- ``mixed``: the left image of a pair stands for the enrolled template (flip-averaged, as enrolment
  always is), the right one for the door's probe, plain;
- ``near``: the new default (``"near-threshold"``): the probe is plain, and flip-averaged only when
  its plain score is within ``band`` of the threshold. The threshold of each fold is the one fitted
  on the other nine folds with flip-averaged scores (what calibration does: templates, strangers and
  the model prior are all flip-averaged), and the same threshold then judges the fold.

It also prints how far a probe's score moves when the flip is added (|mixed - flip|), the share of
probes that would need the mirror pass for several bands, and the decisions that differ from the
always-flip mode. The embeddings are cached (``--cache``), so a second run only re-scores.

    nice .venv/bin/python bench/lfw_flip_modes.py [--lfw ../shared/data/lfw] [--out docs/bench/X.json]
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from desktop_app.core.config import RecognitionSettings
from desktop_app.core.evaluation.lfw import read_pairs
from desktop_app.core.evaluation.metrics import best_threshold, kfold_accuracy, tar_at_far
from desktop_app.core.evaluation.models import build_engine, default_cache_dir
from desktop_app.core.video.imageio import read_image

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
BANDS = (0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.08, 0.1)


def embed_all(paths: list[Path], cache: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(plain (N, D), flip (N, D), found (N,) bool, seconds) for the main face of each image."""
    if cache.is_file():
        z = np.load(cache, allow_pickle=False)
        if list(z["paths"]) == [str(p) for p in paths]:
            return z["plain"], z["flip"], z["found"], float(z["seconds"])
    engine = build_engine(int8=False, flip=True, device="cpu")
    plain = np.zeros((len(paths), engine.embedder.dim), np.float32)
    flip = np.zeros_like(plain)
    found = np.zeros(len(paths), bool)
    t = time.perf_counter()
    for i, path in enumerate(paths):
        face = engine.main_aligned_face(read_image(path))
        if face is not None:
            p = engine.embed_faces([face], flip=False)
            plain[i], flip[i], found[i] = p[0].embedding, engine.mirror_refine(p)[0].embedding, True
        if (i + 1) % 500 == 0:
            print(f"{i + 1}/{len(paths)} images, {time.perf_counter() - t:.0f} s", flush=True)
    seconds = time.perf_counter() - t
    cache.parent.mkdir(parents=True, exist_ok=True)
    np.savez(cache, paths=np.array([str(p) for p in paths]), plain=plain, flip=flip, found=found,
             seconds=np.array(seconds))
    return plain, flip, found, seconds


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--out", type=Path, default=None)
    ap.add_argument("--cache", type=Path, default=default_cache_dir() / "lfw_flip_modes.npz")
    ap.add_argument("--band", type=float, default=float(RecognitionSettings().flip_band))
    args = ap.parse_args()
    pairs = read_pairs(args.lfw / "pairs.txt", args.lfw)
    paths = sorted({p for pair in pairs for p in (pair.left, pair.right)})
    index = {p: i for i, p in enumerate(paths)}
    plain, flip, found, seconds = embed_all(paths, args.cache)
    left = np.array([index[p.left] for p in pairs])
    right = np.array([index[p.right] for p in pairs])
    ok = found[left] & found[right]
    labels = np.array([p.same for p in pairs], bool)
    folds = np.array([p.fold for p in pairs])

    def score(a: np.ndarray, b: np.ndarray) -> np.ndarray:
        return np.where(ok, np.clip(np.einsum("ij,ij->i", a[left], b[right]), -1.0, 1.0), -1.0)

    s_flip, s_plain, s_mixed = score(flip, flip), score(plain, plain), score(flip, plain)
    delta = np.abs(s_mixed - s_flip)[ok]

    def near_scores(band: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(near-threshold scores, per-pair fold threshold fitted on the flip scores, refined mask)."""
        thr = np.empty(len(pairs))
        for f in np.unique(folds):
            test = folds == f
            thr[test] = best_threshold(s_flip[~test], labels[~test])
        refine = ok & (np.abs(s_mixed - thr) < band)
        return np.where(refine, s_flip, s_mixed), thr, refine

    def accuracy_at(scores: np.ndarray, thr: np.ndarray) -> tuple[float, float]:
        per = np.array([np.mean((scores[folds == f] >= thr[folds == f]) == labels[folds == f])
                        for f in np.unique(folds)])
        return float(per.mean()), float(per.std())

    s_near, thr, refine = near_scores(args.band)
    out: dict[str, object] = {"pairs": len(pairs), "images": len(paths), "no_face": int((~found).sum()),
                              "embed_seconds_plain_plus_mirror": round(seconds, 1), "band": args.band}
    modes: dict[str, dict[str, object]] = {}
    for name, s in (("flip", s_flip), ("plain", s_plain), ("mixed", s_mixed)):
        mean, std, per = kfold_accuracy(s, labels, folds)
        tar3, thr3 = tar_at_far(s[labels], s[~labels], 1e-3)
        modes[name] = {"accuracy": mean, "accuracy_std": std, "fold_accuracies": [float(a) for a in per],
                       "tar_at_far_1e-3": tar3, "threshold_at_far_1e-3": thr3,
                       "tar_at_far_1e-2": tar_at_far(s[labels], s[~labels], 1e-2)[0],
                       "best_threshold_all_pairs": best_threshold(s, labels)}
    # the near mode is judged at the flip mode's fold thresholds (calibration is flip-averaged)
    acc_flip_at_thr = accuracy_at(s_flip, thr)
    acc_near = accuracy_at(s_near, thr)
    tar3, thr3 = tar_at_far(s_near[labels], s_near[~labels], 1e-3)
    modes["near"] = {"accuracy": acc_near[0], "accuracy_std": acc_near[1], "tar_at_far_1e-3": tar3,
                     "threshold_at_far_1e-3": thr3, "tar_at_far_1e-2": tar_at_far(s_near[labels],
                                                                                   s_near[~labels], 1e-2)[0],
                     "probes_refined": int(refine.sum()), "probes_refined_share": float(refine.mean()),
                     "decisions_differing_from_flip": int(((s_near >= thr) != (s_flip >= thr)).sum())}
    out["modes"] = modes
    out["flip_accuracy_at_the_same_fold_thresholds"] = acc_flip_at_thr[0]
    out["score_shift_when_flipping_the_probe"] = {
        "mean": float(delta.mean()), "p50": float(np.percentile(delta, 50)), "p99": float(np.percentile(delta, 99)),
        "p99.9": float(np.percentile(delta, 99.9)), "max": float(delta.max())}
    sweep = []
    for band in BANDS:
        s_b, thr_b, ref_b = near_scores(band)
        sweep.append({"band": band, "probes_refined_share": round(float(ref_b.mean()), 4),
                      "accuracy": accuracy_at(s_b, thr_b)[0],
                      "decisions_differing_from_flip": int(((s_b >= thr_b) != (s_flip >= thr_b)).sum())})
    out["band_sweep"] = sweep
    text = json.dumps(out, indent=2)
    print(text)
    for name, m in modes.items():
        print(f"{name:6s} acc {m['accuracy']:.4f} ± {m['accuracy_std']:.4f}  TAR@1e-3 {m['tar_at_far_1e-3']:.4f}"
              f"  thr@1e-3 {m['threshold_at_far_1e-3']:.4f}")
    if args.out:
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""LFW view-2 accuracy of pipeline variants (alignment, test-time flip, score normalisation) and
verification under synthetic extreme side light (crop illumination normalisation), in one run.

Every variant goes through the product's detector, alignment and fp32 SFace, and is scored by the
same protocol as ``bench/lfw.py`` (10-fold accuracy, threshold fitted on the other nine folds; TAR
at FAR 1e-3 over all pairs). Costs are paid once and cached under ``--cache`` (not the repository):

- detection: the main face's five landmarks of each of the 7,701 images of pairs.txt, and of its
  mirror image (mapped back), plus 1,000 single-image LFW people absent from pairs.txt (a stranger
  cohort for score normalisation);
- embeddings: per alignment variant, the plain and the mirror embedding of every crop; a variant
  re-embeds only the crops that differ from the baseline's.

Variants (rows):
- ``previous default``: umeyama alignment, replicated border, the exposure-only crop step; the
  probe (right image) plain and flip-averaged only within ``flip_band`` of the threshold, the
  template (left image) flip-averaged (``flip_tta="near-threshold"``);
- ``flip-always``: both sides flip-averaged; ``plain``: no flip anywhere;
- ``s-norm`` / ``as-norm``: symmetric (adaptive top-k) score normalisation against the cohort;
- ``default: side-light step`` (``--variants side``): today's ``normalise_face_crop``;
- ``const``: black border (as OpenCV's ``alignCrop``) instead of replicated edges;
- ``lmavg`` (not run by default: a full pass): landmarks averaged with the mirror image's;
- ``affine``, ``sharp`` (not run by default: a full pass each): a full affine fit of the landmarks
  instead of the similarity fit; an unsharp mask (0.5, sigma 1 px) on the crop before today's step;
- ``det480``, ``det640``, ... (not run by default: a detection pass each): the landmarks of a
  detection on the image enlarged so that its shorter side is that many pixels (the product's
  detector enlarges LFW's 250-px images to 320), with today's crop step; ``detavg`` (after two or
  more of them): the landmarks averaged over 320 and those sides; ``detens`` (after them): the
  embeddings averaged instead, over the crops of 320 and of each side (each flip-averaged), on
  both sides of a pair: test-time augmentation over the alignment.

Side light (second table): the probe crop of each pair of the first ``--light-folds`` folds is
shaded by a horizontal sigmoid ramp (dark side x0.08..0.2, lit side x1.3, random side), the
template stays clean and flip-averaged; each crop illumination method is scored on the same crops.

CPU cost per face is measured in the same run on the same crops (``--threads``, best of 3), as a
ratio to the previous default's (embedder passes; the crop steps' own ms in the light table).

    nice .venv/bin/python bench/lfw_accuracy.py [--lfw ../shared/data/lfw] [--cache /tmp/facegate-acc]
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np

from desktop_app.core.config import RecognitionSettings
from desktop_app.core.embedding.embedder import Embedder, l2_normalise
from desktop_app.core.evaluation.lfw import lfw_single_image_people, read_pairs
from desktop_app.core.evaluation.metrics import best_threshold, kfold_accuracy, tar_at_far
from desktop_app.core.evaluation.models import eval_model_path
from desktop_app.core.face import illumination as ill
from desktop_app.core.face.alignment import ARCFACE_TEMPLATE, FLIP_ORDER, alignment_matrix
from desktop_app.core.face.detector import DetectorConfig, FaceDetector
from desktop_app.core.types import Detection
from desktop_app.core.video.imageio import read_image

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"
Crop = Callable[[np.ndarray, np.ndarray], np.ndarray]


def _main_detection(dets: list[Detection], w: int, h: int) -> Detection | None:
    """The face ``FaceEngine.main_aligned_face`` picks (centre-weighted size), or None."""
    diag = float(np.hypot(h, w))
    best, best_rank = None, -1e9
    for d in dets:
        if d.inter_ocular < 12.0:
            continue
        off = float(np.hypot(d.center[0] - w / 2.0, d.center[1] - h / 2.0)) / diag
        rank = float(np.sqrt(d.area)) * (1.0 - 1.5 * off)
        if rank > best_rank:
            best, best_rank = d, rank
    return best


def detect_all(paths: list[Path], out: Path) -> dict[str, np.ndarray]:
    """Landmarks (N, 5, 2) of the main face, found (N,), and the mirror image's landmarks mapped back."""
    if out.is_file():
        z = np.load(out)
        if list(z["paths"]) == [str(p) for p in paths]:
            return dict(z)
    det = FaceDetector()
    n = len(paths)
    lm, lmm = np.zeros((n, 5, 2), np.float32), np.zeros((n, 5, 2), np.float32)
    found, foundm = np.zeros(n, bool), np.zeros(n, bool)
    for i, p in enumerate(paths):
        img = read_image(p)
        h, w = img.shape[:2]
        d = _main_detection(det.detect(img), w, h)
        if d is None:
            continue
        found[i], lm[i] = True, d.landmarks
        mirrored = det.detect(np.ascontiguousarray(img[:, ::-1]))
        if mirrored:
            m = min(mirrored, key=lambda e: np.hypot((w - 1 - e.center[0]) - d.center[0], e.center[1] - d.center[1]))
            back = m.landmarks.copy()
            back[:, 0] = (w - 1) - back[:, 0]
            back = back[list(FLIP_ORDER)]
            if np.abs(back - d.landmarks).max() < 0.3 * d.inter_ocular:
                lmm[i], foundm[i] = back, True
    z = {"paths": np.array([str(p) for p in paths]), "lm": lm, "lmm": lmm, "found": found, "foundm": foundm}
    out.parent.mkdir(parents=True, exist_ok=True)
    np.savez(out, **z)
    return z


def detect_at_side(det: dict[str, np.ndarray], side: int, out: Path) -> np.ndarray:
    """Landmarks (N, 5, 2), in the image's pixels, of the detection nearest the default one when the
    image is enlarged to a shorter side of ``side`` pixels before detection (cached in ``out``); the
    default landmarks where that detection is missing or more than 0.3 inter-ocular away."""
    if out.is_file():
        return np.asarray(np.load(out))
    detector = FaceDetector(config=DetectorConfig(min_side=side))
    lm = det["lm"].copy()
    for i in np.flatnonzero(det["found"]):
        ref = det["lm"][i]
        dets = detector.detect(read_image(Path(str(det["paths"][i]))))
        near = min(dets, key=lambda d: float(np.hypot(*(d.landmarks.mean(0) - ref.mean(0)))), default=None)
        if near is not None and np.abs(near.landmarks - ref).max() < 0.3 * float(np.linalg.norm(ref[1] - ref[0])):
            lm[i] = near.landmarks
    np.save(out, lm)
    return lm


def _align(image: np.ndarray, lm: np.ndarray, border: int = cv2.BORDER_REPLICATE) -> np.ndarray:
    return cv2.warpAffine(image, alignment_matrix(lm), (112, 112), flags=cv2.INTER_LINEAR, borderMode=border,
                          borderValue=(0, 0, 0))


def _exposure(crop: np.ndarray) -> np.ndarray:
    """The crop step before the side-light one (the baseline of this bench)."""
    return ill.normalise_face_crop(crop, side_ratio=None)


def _affine_align(image: np.ndarray, lm: np.ndarray) -> np.ndarray:
    """The crop of a full affine fit (6 parameters, least squares) of the five landmarks onto the
    ArcFace template, instead of the similarity fit: it can undo a shear, and bends to landmark noise."""
    src = np.hstack([np.asarray(lm, np.float64), np.ones((5, 1))])
    m = np.linalg.lstsq(src, ARCFACE_TEMPLATE.astype(np.float64), rcond=None)[0].T
    return cv2.warpAffine(image, m, (112, 112), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)


def _unsharp(crop: np.ndarray, amount: float = 0.5, sigma: float = 1.0) -> np.ndarray:
    """Unsharp mask: ``crop`` + ``amount`` x (``crop`` - its Gaussian blur of ``sigma`` px)."""
    return cv2.addWeighted(crop, 1.0 + amount, cv2.GaussianBlur(crop, (0, 0), sigma), -amount, 0)


#: Crop makers: "base" is the previous default (exposure gamma only), "side" today's default crop step.
ALIGNMENTS: dict[str, Callable[[np.ndarray, np.ndarray, np.ndarray, bool], np.ndarray]] = {
    "base": lambda img, lm, lmm, ok_m: _exposure(_align(img, lm)),
    "side": lambda img, lm, lmm, ok_m: ill.normalise_face_crop(_align(img, lm)),
    "const": lambda img, lm, lmm, ok_m: _exposure(_align(img, lm, cv2.BORDER_CONSTANT)),
    "lmavg": lambda img, lm, lmm, ok_m: _exposure(_align(img, (lm + lmm) / 2 if ok_m else lm)),
    "affine": lambda img, lm, lmm, ok_m: ill.normalise_face_crop(_affine_align(img, lm)),
    "sharp": lambda img, lm, lmm, ok_m: ill.normalise_face_crop(_unsharp(_align(img, lm))),
}


def embed_variant(det: dict[str, np.ndarray], name: str, variant: str, emb: Embedder, cache: Path
                  ) -> dict[str, np.ndarray]:
    """Raw plain and mirror embeddings (N, D) of every found face for an alignment variant (cached);
    crops equal to the baseline's reuse its embeddings."""
    out = cache / f"emb_{name}_{variant}.npz"
    if out.is_file():
        return dict(np.load(out))
    paths, found = det["paths"], det["found"]
    idx = np.flatnonzero(found)
    crops = np.zeros((len(paths), 112, 112, 3), np.uint8)
    fn = ALIGNMENTS[variant]
    for i in idx:
        crops[i] = fn(read_image(Path(str(paths[i]))), det["lm"][i], det["lmm"][i], bool(det["foundm"][i]))
    plain = np.zeros((len(paths), emb.dim), np.float32)
    mirror = np.zeros_like(plain)
    todo = idx
    base_crops = cache / f"{name}_crops_base.npy"
    if variant != "base" and base_crops.is_file():
        base, bc = embed_variant(det, name, "base", emb, cache), np.load(base_crops)
        same = np.array([np.array_equal(bc[i], crops[i]) for i in idx], bool)
        plain[idx[same]], mirror[idx[same]] = base["plain"][idx[same]], base["mirror"][idx[same]]
        todo = idx[~same]
    t = time.perf_counter()
    for k in range(0, len(todo), 64):
        j = todo[k:k + 64]
        plain[j] = emb.embed_raw(crops[j])
        mirror[j] = emb.embed_raw(np.ascontiguousarray(crops[j][:, :, ::-1]))
    if variant == "base":
        np.save(base_crops, crops)
    z = {"plain": plain, "mirror": mirror, "found": found, "seconds": np.array(time.perf_counter() - t),
         "n": np.array(len(todo))}
    np.savez(out, **z)  # type: ignore[arg-type]
    return z


class Protocol:
    """The pairs, their folds and labels, and the image index of each pair's left and right image."""

    def __init__(self, lfw: Path) -> None:
        pairs = read_pairs(lfw / "pairs.txt", lfw)
        self.paths = sorted({p for pair in pairs for p in (pair.left, pair.right)})
        index = {p: i for i, p in enumerate(self.paths)}
        self.left = np.array([index[p.left] for p in pairs])
        self.right = np.array([index[p.right] for p in pairs])
        self.labels = np.array([p.same for p in pairs], bool)
        self.folds = np.array([p.fold for p in pairs])

    def cos(self, a: np.ndarray, b: np.ndarray, found: np.ndarray) -> np.ndarray:
        """Pair scores: cosine of left row of ``a`` and right row of ``b``; -1 when a face is missing."""
        ok = found[self.left] & found[self.right]
        return np.where(ok, np.clip(np.einsum("ij,ij->i", a[self.left], b[self.right]), -1.0, 1.0), -1.0)

    def fold_thresholds(self, s: np.ndarray, sel: np.ndarray | None = None) -> np.ndarray:
        sel = np.ones(len(s), bool) if sel is None else sel
        thr = np.full(len(s), np.nan)
        for f in np.unique(self.folds[sel]):
            test = sel & (self.folds == f)
            thr[test] = best_threshold(s[sel & ~test], self.labels[sel & ~test])
        return thr

    def figures(self, s: np.ndarray, sel: np.ndarray | None = None) -> dict[str, float]:
        sel = np.ones(len(s), bool) if sel is None else sel
        lab, folds = self.labels[sel], self.folds[sel]
        mean, std, _ = kfold_accuracy(s[sel], lab, folds)
        return {"accuracy": mean, "accuracy_std": std,
                "tar_at_far_1e-3": tar_at_far(s[sel][lab], s[sel][~lab], 1e-3)[0],
                "errors": round((1.0 - mean) * int(sel.sum()))}


def near_threshold(proto: Protocol, plain: np.ndarray, flip: np.ndarray, found: np.ndarray, band: float
                   ) -> tuple[np.ndarray, float]:
    """The door's default: the template flip-averaged, the probe plain, re-embedded with the flip
    when its plain score is within ``band`` of the fold's threshold. (scores, share refined)."""
    s_flip, s_mixed = proto.cos(flip, flip, found), proto.cos(flip, plain, found)
    thr = proto.fold_thresholds(s_flip)
    refine = (found[proto.left] & found[proto.right]) & (np.abs(s_mixed - thr) < band)
    return np.where(refine, s_flip, s_mixed), float(refine.mean())


def s_norm(proto: Protocol, e: np.ndarray, cohort: np.ndarray, found: np.ndarray, top_k: int | None) -> np.ndarray:
    """Symmetric score normalisation of the pairs' cosines against a cohort (C, D); ``top_k``: only
    each side's k closest cohort scores give its mean and std (adaptive s-norm)."""
    c = e @ cohort.T
    if top_k is not None:
        c = -np.sort(-c, axis=1)[:, :top_k]
    mu, sd = c.mean(axis=1), c.std(axis=1) + 1e-6
    raw = proto.cos(e, e, found)
    a, b = proto.left, proto.right
    return np.where(raw > -1.0, 0.5 * ((raw - mu[a]) / sd[a] + (raw - mu[b]) / sd[b]), -1e9)


def _unit(z: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    plain, mirror = l2_normalise(z["plain"]), l2_normalise(z["mirror"])
    return plain, l2_normalise(plain + mirror)


def _gated(step: Callable[[np.ndarray], np.ndarray]) -> Callable[[np.ndarray], np.ndarray]:
    """``step`` after the exposure gamma, only on crops the side-light gate flags (as the default)."""
    def run(crop: np.ndarray) -> np.ndarray:
        out = ill.normalise_face_crop(crop, side_ratio=None)
        return step(out) if ill.side_light_ratio(out) > ill.SIDE_LIGHT_RATIO else out
    return run


#: Side-light candidates tried beside the core's methods (gated like the default).
GATED_CANDIDATES: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "clahe-gated": _gated(ill.CROP_LIGHT_METHODS["clahe"]),
    "even+clahe-gated": _gated(lambda c: ill.CROP_LIGHT_METHODS["clahe"](ill.even_side_light(c))),
}


def shade(crop: np.ndarray, dark: float, left_dark: bool) -> np.ndarray:
    """Extreme side light on an aligned crop: a horizontal sigmoid gain from ``dark`` to 1.3."""
    x = (np.arange(112, dtype=np.float32) - 56.0) / 14.0
    if left_dark:
        x = -x
    gain = dark + (1.3 - dark) / (1.0 + np.exp(-x))
    out: np.ndarray = np.clip(crop.astype(np.float32) * gain[None, :, None], 0, 255).astype(np.uint8)
    return out


def cost_ms(emb: Embedder, crops: np.ndarray, prep: Callable[[np.ndarray], np.ndarray], passes: float) -> float:
    """CPU ms per face: preprocessing + ``passes`` embedder passes (best of 3 on ``crops``)."""
    best_prep, best_emb = 1e9, 1e9
    for _ in range(3):
        t = time.perf_counter()
        ready = np.stack([prep(c) for c in crops])
        t1 = time.perf_counter()
        emb.embed_raw(ready)
        t2 = time.perf_counter()
        best_prep, best_emb = min(best_prep, t1 - t), min(best_emb, t2 - t1)
    return 1000.0 * (best_prep + passes * best_emb) / len(crops)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--cache", type=Path, default=Path("/tmp/facegate-lfw-accuracy"))
    ap.add_argument("--variants", nargs="*", default=["side", "const"],
                    help="also: lmavg, affine, sharp (a full pass each); det480, det640, detavg (a detection each)")
    ap.add_argument("--light-folds", type=int, default=3)
    ap.add_argument("--light-methods", nargs="*",
                    default=["exposure", "clahe", "clahe-gated", "even+clahe-gated", "current"])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    if args.light_folds < 2:
        ap.error("--light-folds must be at least 2 (the threshold of a fold is fitted on the others)")
    proto = Protocol(args.lfw)
    band = float(RecognitionSettings.model_fields["flip_band"].default)
    emb = Embedder(eval_model_path(None, False, args.cache), device="cpu", flip=False, threads=args.threads,
                   normalise_light=False)
    det = detect_all(proto.paths, args.cache / "det.npz")
    in_pairs = {p.parent.name for p in proto.paths}
    singles = [p for p in lfw_single_image_people(args.lfw) if p.parent.name not in in_pairs]
    pick = np.random.default_rng(0).choice(len(singles), 1000, replace=False)
    cdet = detect_all(sorted(singles[i] for i in pick), args.cache / "cohort.npz")
    rows: dict[str, dict[str, float]] = {}
    base = embed_variant(det, "det", "base", emb, args.cache)
    plain, flip = _unit(base)
    found = base["found"]
    s_def, refined = near_threshold(proto, plain, flip, found, band)
    rows["previous default"] = {**proto.figures(s_def), "passes": 1.0 + refined}
    rows["flip-always"] = {**proto.figures(proto.cos(flip, flip, found)), "passes": 2.0}
    rows["plain (no flip)"] = {**proto.figures(proto.cos(plain, plain, found)), "passes": 1.0}
    cohort = _unit(embed_variant(cdet, "cohort", "base", emb, args.cache))[1]
    cohort = cohort[cdet["found"]]
    rows["flip-always + s-norm"] = {**proto.figures(s_norm(proto, flip, cohort, found, None)), "passes": 2.0}
    rows["flip-always + as-norm k=100"] = {**proto.figures(s_norm(proto, flip, cohort, found, 100)), "passes": 2.0}
    scaled: list[np.ndarray] = []
    scaled_flips: list[np.ndarray] = []
    scaled_plains: list[np.ndarray] = []
    for v in args.variants:
        if v == "detens":  # the embeddings of every alignment averaged: flip-averaged ones, or plain ones
            side_plain, side_flip = _unit(embed_variant(det, "det", "side", emb, args.cache))
            k = 1 + len(scaled_flips)
            for label, ens, passes in ((f"detens: {k} alignments x flip", sum(scaled_flips, side_flip), 2.0 * k),
                                       (f"detens: {k} alignments, no flip", sum(scaled_plains, side_plain), 1.0 * k)):
                ens = l2_normalise(ens)
                rows[label] = {**proto.figures(proto.cos(ens, ens, found)), "passes": passes}
            continue
        if v.startswith("det"):  # landmarks of a detection at another scale (or their average)
            if v == "detavg":
                lm = np.mean(np.stack([det["lm"], *scaled]), axis=0)
            else:
                lm = detect_at_side(det, int(v[3:]), args.cache / f"lm_{v}.npy")
                scaled.append(lm)
            vp, vf = _unit(embed_variant({**det, "lm": lm}, v, "side", emb, args.cache))
            if v != "detavg":
                scaled_plains.append(vp)
                scaled_flips.append(vf)
            s_v, ref_v = near_threshold(proto, vp, vf, found, band)
            rows[f"{v}: landmarks at that scale, side-light step"] = {**proto.figures(s_v), "passes": 1.0 + ref_v}
            continue
        vp, vf = _unit(embed_variant(det, "det", v, emb, args.cache))
        s_v, ref_v = near_threshold(proto, vp, vf, found, band)
        label = "default: side-light step" if v == "side" else f"{v} (near-threshold flip)"
        rows[label] = {**proto.figures(s_v), "passes": 1.0 + ref_v}
        rows[f"{v} flip-always"] = {**proto.figures(proto.cos(vf, vf, found)), "passes": 2.0}
    sample = np.load(args.cache / "det_crops_base.npy", mmap_mode="r")[np.flatnonzero(found)[:128]]
    unit = cost_ms(emb, np.array(sample), lambda c: c, 1.0)
    default_ms = unit * rows["previous default"]["passes"]
    print(f"LFW view-2, {len(proto.labels)} pairs, {int(found.sum())}/{len(found)} faces; one embedder pass "
          f"{unit:.1f} ms/face here")
    print(f"{'variant':34s} {'accuracy':>16s} {'TAR@FAR1e-3':>11s} {'errors':>6s} {'cost/face vs previous':>22s}")
    for name, r in rows.items():
        print(f"{name:34s} {100 * r['accuracy']:7.2f} ± {100 * r['accuracy_std']:.2f}% "
              f"{100 * r['tar_at_far_1e-3']:10.2f}% {r['errors']:6d} {unit * r['passes'] / default_ms:20.2f}x")
    light = side_light(proto, det, emb, flip, found, args)
    if args.out:
        args.out.write_text(json.dumps({"clean": rows, "side_light": light}, indent=2) + "\n")


def side_light(proto: Protocol, det: dict[str, np.ndarray], emb: Embedder, flip: np.ndarray, found: np.ndarray,
               args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """The side-light table: clean flip-averaged templates (left) against shaded plain probes (right)."""
    from desktop_app.core.face.alignment import align_face

    sel = proto.folds < args.light_folds
    right = np.unique(proto.right[sel])
    right = right[found[right]]
    rng = np.random.default_rng(7)
    side, dark = rng.integers(0, 2, len(proto.paths)), rng.uniform(0.08, 0.2, len(proto.paths))
    raw_file = args.cache / f"light_raw_{args.light_folds}.npy"
    if raw_file.is_file():
        shaded = np.load(raw_file)
    else:
        shaded = np.zeros((len(proto.paths), 112, 112, 3), np.uint8)
        for i in right:
            shaded[i] = shade(align_face(read_image(Path(str(det["paths"][i]))), det["lm"][i]), float(dark[i]),
                              bool(side[i]))
        np.save(raw_file, shaded)
    clean = np.load(args.cache / "det_crops_base.npy", mmap_mode="r")
    methods = {"none": lambda c: c, **ill.CROP_LIGHT_METHODS, **GATED_CANDIDATES}
    rows: dict[str, dict[str, float]] = {}
    for name in ["none", *[m for m in args.light_methods if m != "none"]]:
        fn = methods[name]
        out = args.cache / f"light_{name}_{args.light_folds}.npz"
        if out.is_file():
            e = np.load(out)["e"]
        else:
            e = np.zeros((len(proto.paths), emb.dim), np.float32)
            crops = np.stack([fn(shaded[i]) for i in right])
            todo = np.arange(len(right))
            if name != "none":  # crops the method leaves as they are reuse the untreated embeddings
                same = np.array([np.array_equal(crops[k], shaded[i]) for k, i in enumerate(right)], bool)
                e[right[same]] = np.load(args.cache / f"light_none_{args.light_folds}.npz")["e"][right[same]]
                todo = todo[~same]
            for k in range(0, len(todo), 64):
                e[right[todo[k:k + 64]]] = emb.embed_raw(crops[todo[k:k + 64]])
            np.savez(out, e=e)
        s = proto.cos(flip, l2_normalise(e), found)
        clean_changed = float(np.mean([not np.array_equal(fn(clean[i]), clean[i]) for i in right[:500]]))
        prep_ms = cost_ms(emb, np.array(clean[right[:64]]), fn, 0.0)
        gen, imp = s[sel & proto.labels], s[sel & ~proto.labels]
        d_prime = float((gen.mean() - imp.mean()) / np.sqrt((gen.var() + imp.var()) / 2))
        rows[name] = {**proto.figures(s, sel), "clean_crops_changed": clean_changed, "prep_ms": prep_ms,
                      "d_prime": d_prime, "genuine_mean": float(gen.mean())}
    print(f"\nExtreme side light on the probe, folds 0-{args.light_folds - 1} ({int(sel.sum())} pairs), clean "
          "flip-averaged templates")
    print(f"{'method':16s} {'accuracy':>16s} {'TAR@FAR1e-3':>11s} {'d-prime':>7s} {'genuine':>7s} "
          f"{'clean crops changed':>20s} {'prep ms':>8s}")
    for name, r in rows.items():
        print(f"{name:16s} {100 * r['accuracy']:7.2f} ± {100 * r['accuracy_std']:.2f}% "
              f"{100 * r['tar_at_far_1e-3']:10.2f}% {r['d_prime']:7.3f} {r['genuine_mean']:7.4f} "
              f"{100 * r['clean_crops_changed']:19.1f}% {r['prep_ms']:8.2f}")
    return rows


if __name__ == "__main__":
    main()

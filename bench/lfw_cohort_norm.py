"""Embedding normalisation fitted on a cohort of *other* images, on two LFW pair sets.

Each pair set is scored with transforms fitted on the other set's images only: view-2
(``pairs.txt``) with the fresh set's faces as the cohort, the fresh set (``bench/lfw_fresh_pairs.py``)
with view-2's. So nothing is fitted on the images it is scored on (the two sets share no image,
though many people appear in both), and a gain must hold on both sets, beyond a pair or two, to
count. The embeddings are the product's: ``FaceEngine.main_face`` of each image, fp32 SFace,
flip-averaged, one alignment (what ``evaluate_lfw`` scores). Transforms, each followed by L2
normalisation before the cosine:

- ``none``: today's pipeline;
- ``center``, ``center_half``: subtract the cohort mean (or half of it);
- ``drop1``, ``drop2``, ``drop4``: subtract the mean and the top k principal directions of the cohort;
- ``whiten0.3``, ``whiten1``, ``whiten3``: multiply by the cohort covariance's inverse square root,
  its eigenvalues raised by eps times their mean (eps 0.3, 1, 3).

    .venv/bin/python bench/lfw_fresh_pairs.py --out /tmp/lfw_fresh_pairs.txt --seed 1
    .venv/bin/python bench/lfw_cohort_norm.py --fresh /tmp/lfw_fresh_pairs.txt \
        [--cache /tmp/lfw_cohort_emb.npz]

Prints one line per transform and set (accuracy, wrong pairs, TAR at FAR 1e-3) and, with
``--out``, the figures as JSON. Embedding both sets' 11,845 images takes about 15 min on 2 shared
cores; the ``--cache`` file (embeddings by path, with the model's sha256) skips that on a second run.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from desktop_app.core.embedding.embedder import l2_normalise
from desktop_app.core.evaluation.lfw import LfwPair, evaluate_pairs, read_pairs
from desktop_app.core.evaluation.models import build_engine, photo_embedding
from desktop_app.core.face.engine import FaceEngine

DEFAULT_LFW = Path(__file__).resolve().parents[2] / "shared" / "data" / "lfw"

#: A transform: (embeddings (N, D) to transform, cohort embeddings (M, D)) -> (N, D), before L2.
Transform = Callable[[np.ndarray, np.ndarray], np.ndarray]


def drop_directions(k: int) -> Transform:
    """Subtract the cohort mean, then the projection on the cohort's top ``k`` principal directions."""
    def run(x: np.ndarray, cohort: np.ndarray) -> np.ndarray:
        mu = cohort.mean(axis=0)
        top = np.linalg.svd(cohort - mu, full_matrices=False)[2][:k]  # (k, D)
        y = x - mu
        return np.asarray(y - (y @ top.T) @ top)
    return run


def whiten(eps: float) -> Transform:
    """(x - mean) @ C^-1/2 with C the cohort covariance, eigenvalues raised by ``eps`` x their mean."""
    def run(x: np.ndarray, cohort: np.ndarray) -> np.ndarray:
        mu = cohort.mean(axis=0)
        w, v = np.linalg.eigh(np.cov((cohort - mu).T))
        return np.asarray((x - mu) @ v @ np.diag((w + eps * w.mean()) ** -0.5) @ v.T)
    return run


TRANSFORMS: dict[str, Transform] = {
    "none": lambda x, c: x,
    "center": lambda x, c: x - c.mean(axis=0),
    "center_half": lambda x, c: x - 0.5 * c.mean(axis=0),
    "drop1": drop_directions(1), "drop2": drop_directions(2), "drop4": drop_directions(4),
    "whiten0.3": whiten(0.3), "whiten1": whiten(1.0), "whiten3": whiten(3.0),
}


def images_of(pairs: Sequence[LfwPair]) -> list[Path]:
    return list(dict.fromkeys(p for pair in pairs for p in (pair.left, pair.right)))


def embed_all(engine: FaceEngine, paths: Sequence[Path], cache: Path | None) -> dict[Path, np.ndarray | None]:
    """Unit embedding (D,) of each image's main face, None without a face; read from and written to
    ``cache`` (an .npz of ``keys``, ``emb`` with NaN rows for no face, and ``model``: the embedder's
    sha256 and flip setting; a cache of another model is ignored and rewritten)."""
    out: dict[Path, np.ndarray | None] = {}
    model = f"{engine.model_sha256} flip={engine.embedder.flip}"
    if cache is not None and cache.is_file():
        d = np.load(cache)
        if "model" in d.files and str(d["model"]) == model:
            for k, e in zip(d["keys"].tolist(), d["emb"], strict=True):
                out[Path(k)] = None if np.isnan(e).any() else e
        else:
            print(f"  {cache} holds another model's embeddings: not used", flush=True)
    todo = [p for p in paths if p not in out]
    t0 = time.perf_counter()
    for i, path in enumerate(todo):
        out[path] = photo_embedding(engine, path)
        if (i + 1) % 1000 == 0:
            print(f"  embedded {i + 1}/{len(todo)} images ({time.perf_counter() - t0:.0f} s)", flush=True)
    if cache is not None and todo:
        dim = engine.embedder.dim
        with cache.open("wb") as fh:  # a file object: np.savez adds no ".npz" to the name
            np.savez(fh, keys=np.array([str(k) for k in out]), model=np.array(model),
                     emb=np.stack([np.full(dim, np.nan, np.float32) if v is None else v for v in out.values()]))
    return out


def figures(pairs: Sequence[LfwPair], emb: dict[Path, np.ndarray | None], cohort: np.ndarray,
            transform: Transform) -> dict[str, float | int]:
    """View-2 figures of ``pairs`` with ``transform`` (fitted on ``cohort``) applied to the embeddings."""
    keys = [p for p in images_of(pairs) if emb.get(p) is not None]
    moved = l2_normalise(transform(np.stack([emb[p] for p in keys]), cohort))  # type: ignore[misc]
    table = dict(zip(keys, moved, strict=True))
    res = evaluate_pairs(pairs, lambda p: table.get(p))
    sizes = np.bincount([p.fold for p in pairs])
    fold_acc: list[float] = res["fold_accuracies"]  # type: ignore[assignment]
    return {"accuracy": float(res["accuracy"]), "accuracy_std": float(res["accuracy_std"]),  # type: ignore[arg-type]
            "wrong": int(sum(round((1.0 - a) * n) for a, n in zip(fold_acc, sizes, strict=True))),
            "tar_at_far_1e-3": float(res["tar_at_far"]["0.001"])}  # type: ignore[index]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lfw", type=Path, default=DEFAULT_LFW)
    ap.add_argument("--fresh", type=Path, required=True, help="the second pair set (bench/lfw_fresh_pairs.py)")
    ap.add_argument("--cache", type=Path, default=None, help="embeddings by path (.npz), read and written")
    ap.add_argument("--transforms", nargs="+", default=list(TRANSFORMS), choices=list(TRANSFORMS))
    ap.add_argument("--out", type=Path, default=None, help="JSON results file")
    args = ap.parse_args()
    if not args.fresh.is_file():
        sys.exit(f"{args.fresh} does not exist: write it with bench/lfw_fresh_pairs.py --out {args.fresh}")
    sets = {"view-2": read_pairs(args.lfw / "pairs.txt", args.lfw), "fresh": read_pairs(args.fresh, args.lfw)}
    engine = build_engine(flip=True, device="cpu")
    emb = embed_all(engine, images_of(sets["view-2"]) + images_of(sets["fresh"]), args.cache)
    cohorts = {name: [v for p in images_of(pairs) if (v := emb.get(p)) is not None] for name, pairs in sets.items()}
    if not all(cohorts.values()):
        sys.exit("No face was found in one of the pair sets' images: is --lfw the LFW folder?")
    other = {"view-2": "fresh", "fresh": "view-2"}
    print(f"cohorts: view-2 {len(cohorts['view-2'])} faces, fresh {len(cohorts['fresh'])} faces", flush=True)
    results: dict[str, dict[str, dict[str, float | int]]] = {}
    for name in args.transforms:
        results[name] = {s: figures(pairs, emb, np.stack(cohorts[other[s]]), TRANSFORMS[name])
                         for s, pairs in sets.items()}
        line = "  ".join(f"{s} {100 * r['accuracy']:.2f} % wrong {r['wrong']:3d} TAR@1e-3 "
                         f"{100 * r['tar_at_far_1e-3']:.2f} %" for s, r in results[name].items())
        print(f"{name:12s} {line}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

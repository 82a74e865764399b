"""The unknown-faces library's clustering on real faces, and its cost.

    PYTHONPATH=. .venv/bin/python bench/unknowns_cluster.py [--people 30] [--per 6] [--threshold 0.42]

Quality: LFW people with at least ``per`` photos are embedded with the shipped model (YuNet + SFace,
as the door does); the first half of each person's photos is clustered as "day 1", the second half
is added incrementally as "day 2". Printed: clusters made against true people, purity (faces in a
cluster whose majority person is theirs), people split over several clusters, day-2 faces that
joined their day-1 cluster.

Cost: ``assign_clusters`` for 100 new faces against K existing clusters of 10 faces each (random
128-d unit vectors), in ms, with the ratio to K = 100 from the same run.
"""

from __future__ import annotations

import argparse
import time
from collections import Counter
from pathlib import Path

import numpy as np

from desktop_app.core.unknowns.cluster import assign_clusters

LFW = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "lfw"


def quality(people: int, per: int, threshold: float) -> None:
    from desktop_app.core.embedding.embedder import Embedder
    from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
    from desktop_app.core.face.detector import FaceDetector
    from desktop_app.core.face.engine import FaceEngine
    from desktop_app.core.video.imageio import read_image

    engine = FaceEngine(FaceDetector(), Embedder(shipped_model_path(EMBEDDER), device="cpu", flip=True))
    names = sorted(d.name for d in LFW.iterdir() if d.is_dir() and len(list(d.glob("*.jpg"))) >= per)[:people]
    vecs: list[np.ndarray] = []
    who: list[int] = []
    day: list[int] = []
    for i, name in enumerate(names):
        for k, path in enumerate(sorted((LFW / name).glob("*.jpg"))[:per]):
            face = engine.main_face(read_image(path))
            if face is None:
                continue
            vecs.append(face.embedding)
            who.append(i)
            day.append(1 if k < per // 2 else 2)
    x, w, d = np.stack(vecs), np.array(who), np.array(day)
    first = assign_clusters(np.zeros((0, x.shape[1]), np.float32), np.zeros(0, np.int64), x[d == 1], threshold)
    ids: dict[int, int] = {}
    labels1 = np.array([ids.setdefault(lab, len(ids) + 1) for lab in first], np.int64)
    second = assign_clusters(x[d == 1], labels1, x[d == 2], threshold)
    nxt = len(ids)
    labels2 = np.array([lab if lab > 0 else ids.setdefault(10_000 + lab, (nxt := nxt + 1)) for lab in second])
    labels = np.empty(len(w), np.int64)
    labels[d == 1] = labels1
    labels[d == 2] = labels2
    pure = sum(Counter(w[labels == c].tolist()).most_common(1)[0][1] for c in set(labels.tolist()))
    split = sum(len(set(labels[w == p].tolist())) > 1 for p in range(len(names)))
    home = {p: Counter(labels1[w[d == 1] == p].tolist()).most_common(1)[0][0] for p in set(w[d == 1].tolist())}
    joined = sum(1 for p, lab in zip(w[d == 2], labels2, strict=True) if home.get(int(p)) == lab)
    print(f"quality: {len(names)} LFW people, {len(w)} faces ({(d == 1).sum()} day 1, {(d == 2).sum()} day 2), "
          f"threshold {threshold}")
    print(f"  clusters {len(set(labels.tolist()))} for {len(names)} people; purity {pure / len(w):.3f}; "
          f"people split over >1 cluster {split}; day-2 faces that joined their day-1 cluster "
          f"{joined}/{(d == 2).sum()} ({joined / max(1, (d == 2).sum()):.1%})")


def cost() -> None:
    rng = np.random.default_rng(0)
    new = rng.standard_normal((100, 128)).astype(np.float32)
    new /= np.linalg.norm(new, axis=1, keepdims=True)
    base = None
    for k in (100, 1000, 3000):
        known = rng.standard_normal((10 * k, 128)).astype(np.float32)
        known /= np.linalg.norm(known, axis=1, keepdims=True)
        labels = np.repeat(np.arange(1, k + 1), 10)
        t = time.perf_counter()
        assign_clusters(known, labels, new, 0.42)
        ms = (time.perf_counter() - t) * 1e3
        base = base or ms
        print(f"cost: 100 new faces vs {k} clusters ({10 * k} faces): {ms:.1f} ms (x{ms / base:.1f} of K=100)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--people", type=int, default=30)
    ap.add_argument("--per", type=int, default=6)
    ap.add_argument("--threshold", type=float, default=0.42)
    a = ap.parse_args()
    cost()
    quality(a.people, a.per, a.threshold)


if __name__ == "__main__":
    main()

"""Benchmarks behind ``facegate bench``: per-stage latency on a real clip, gallery search scaling.

Figures are printed, never asserted: ratios are against baselines measured in the same run
(int8 embedder without flip = the plain reference script; exact search = the reference gallery).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import cv2
import numpy as np

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.evaluation.models import eval_model_path
from desktop_app.core.face.alignment import align_face
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.matching.gallery import ExactGallery, HnswGallery
from desktop_app.core.video.sources import VideoFileSource

DEFAULT_CLIP = Path(__file__).resolve().parents[4] / "shared" / "data" / "clips" / "short_hamilton_clip.mp4"


def _letterbox(image: np.ndarray, w: int = 640, h: int = 480) -> np.ndarray:
    """Fit ``image`` into a (h, w, 3) black canvas without distortion."""
    s = min(w / image.shape[1], h / image.shape[0])
    resized = cv2.resize(image, (round(image.shape[1] * s), round(image.shape[0] * s)))
    out = np.zeros((h, w, 3), np.uint8)
    y0, x0 = (h - resized.shape[0]) // 2, (w - resized.shape[1]) // 2
    out[y0:y0 + resized.shape[0], x0:x0 + resized.shape[1]] = resized
    return out


def _frames_with_one_face(clip: Path, det: FaceDetector, n: int) -> list[np.ndarray]:
    src = VideoFileSource(clip)
    src.open()
    frames: list[np.ndarray] = []
    try:
        while len(frames) < n:
            fr = src.read()
            if fr is None:
                break
            img = _letterbox(fr.image)
            if len(det.detect(img)) >= 1:
                frames.append(img)
    finally:
        src.close()
    return frames


def _ms(fn: object, reps: int) -> float:
    assert callable(fn)
    fn()  # warm-up
    t = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t) / reps * 1e3


def stage_latency(clip: Path, frames: int = 60, device: str = "auto") -> dict[str, object]:
    """Mean ms per stage on 640x480 frames of ``clip`` holding a face, for several embedder setups."""
    det = FaceDetector()
    imgs = _frames_with_one_face(clip, det, frames)
    if not imgs:
        raise ValueError(f"No frame with a face in {clip}")
    dets = [det.detect(i)[0] for i in imgs]
    crops = [align_face(i, d.landmarks) for i, d in zip(imgs, dets, strict=True)]
    k = len(imgs)
    detect_ms = _ms(lambda: [det.detect(i) for i in imgs], 1) / k
    align_ms = _ms(lambda: [align_face(i, d.landmarks) for i, d in zip(imgs, dets, strict=True)], 3) / k
    setups = {
        "int8_noflip": (True, False), "int8_flip": (True, True),
        "fp32_noflip": (False, False), "fp32_flip": (False, True),
    }
    embed: dict[str, float] = {}
    provider = "CPU"
    for name, (int8, flip) in setups.items():
        emb = Embedder(eval_model_path(None, int8), device=device, flip=flip)
        provider = emb.provider
        embed[name] = _ms(lambda e=emb: [e.embed(c) for c in crops], 1) / k
    gal = ExactGallery(128)
    rng = np.random.default_rng(0)
    vecs = rng.standard_normal((1000, 128)).astype(np.float32)
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    gal.add(np.arange(1000), np.arange(1000) // 5, vecs)
    q = vecs[:1]
    search_ms = _ms(lambda: gal.match(q), 200)
    base = detect_ms + align_ms + embed["int8_noflip"] + search_ms
    totals = {n: detect_ms + align_ms + e + search_ms for n, e in embed.items()}
    return {
        "frames": k, "frame_size": "640x480", "provider": provider, "threads": os.cpu_count(),
        "detect_ms": round(detect_ms, 2), "align_ms": round(align_ms, 3),
        "embed_ms": {n: round(v, 2) for n, v in embed.items()},
        "search_ms_1k_exact": round(search_ms, 3),
        "total_ms": {n: round(v, 2) for n, v in totals.items()},
        "speedup_vs_int8_noflip": {n: round(base / v, 3) for n, v in totals.items()},
    }


def synthetic_gallery(n_templates: int, dim: int = 128, per_person: int = 5, spread: float = 0.6,
                      seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Clustered unit vectors like face templates: (person ids (N,), vectors (N, D), query person ids (Q,),
    queries (Q, D)); each person's templates and queries scatter around a random centre (cosine to
    the centre about 1 / sqrt(1 + spread^2))."""
    rng = np.random.default_rng(seed)
    n_persons = max(1, n_templates // per_person)
    centres = rng.standard_normal((n_persons, dim)).astype(np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    persons = np.repeat(np.arange(n_persons), per_person)[:n_templates]
    noise = rng.standard_normal((len(persons), dim)).astype(np.float32) * spread / np.sqrt(dim)
    vecs = centres[persons] + noise
    vecs /= np.linalg.norm(vecs, axis=1, keepdims=True)
    qp = rng.integers(0, n_persons, 500)
    qv = centres[qp] + rng.standard_normal((len(qp), dim)).astype(np.float32) * spread / np.sqrt(dim)
    qv /= np.linalg.norm(qv, axis=1, keepdims=True)
    return persons.astype(np.int64), vecs.astype(np.float32), qp.astype(np.int64), qv.astype(np.float32)


def gallery_scaling(sizes: list[int], dim: int = 128) -> list[dict[str, float]]:
    """HNSW vs exact person-level search at each gallery size: build s, per-query ms, recall@1."""
    rows = []
    for n in sizes:
        persons, vecs, _, queries = synthetic_gallery(n, dim)
        ids = np.arange(n, dtype=np.int64)
        exact = ExactGallery(dim, initial_capacity=n)
        exact.add(ids, persons, vecs)
        t = time.perf_counter()
        hnsw = HnswGallery(dim, initial_capacity=n)
        hnsw.add(ids, persons, vecs)
        build_s = time.perf_counter() - t
        ex_ms = _ms(lambda e=exact, qs=queries: [e.match(q[None]) for q in qs], 1) / len(queries)
        hn_ms = _ms(lambda h=hnsw, qs=queries: [h.match(q[None]) for q in qs], 1) / len(queries)
        ex_top = [m.person_id if m else -1 for m in exact.match(queries)]
        hn_top = [m.person_id if m else -1 for m in hnsw.match(queries)]
        recall = float(np.mean(np.array(ex_top) == np.array(hn_top)))
        rows.append({"templates": n, "exact_ms": round(ex_ms, 3), "hnsw_ms": round(hn_ms, 3),
                     "speedup": round(ex_ms / hn_ms, 2) if hn_ms > 0 else float("inf"),
                     "recall_at_1": recall, "hnsw_build_s": round(build_s, 2)})
    return rows


def run_benchmark(clip: Path | None = None, sizes: list[int] | None = None, frames: int = 60,
                  device: str = "auto") -> dict[str, object]:
    clip = clip or DEFAULT_CLIP
    return {
        "stages": stage_latency(clip, frames=frames, device=device),
        "gallery": gallery_scaling(sizes or [1000, 10000, 100000]),
    }

"""LFW view-2 evaluation of the whole pipeline (detect, align, embed) on real images."""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.embedding.model_convert import ensure_fp32_copy
from desktop_app.core.embedding.model_files import EMBEDDER, shipped_model_path
from desktop_app.core.embedding.model_prior import load_prior
from desktop_app.core.errors import ImageError
from desktop_app.core.evaluation.lfw import (
    evaluate_pairs,
    lfw_people_with_min_images,
    lfw_single_image_people,
    read_pairs,
)
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.face.engine import EngineConfig, FaceEngine
from desktop_app.core.service import FaceGate
from desktop_app.core.video.imageio import read_image


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "facegate"


def eval_model_path(model: Path | None, int8: bool, cache_dir: Path | None = None) -> Path:
    """The embedder to evaluate: ``model`` if given, the shipped int8 file, or its fp32 copy (cached)."""
    if model is not None:
        return Path(model)
    shipped = shipped_model_path(EMBEDDER)
    if int8:
        return shipped
    return ensure_fp32_copy(shipped, (cache_dir or default_cache_dir()) / f"sface-fp32-{EMBEDDER.sha256[:12]}.onnx")


def build_engine(model: Path | None = None, *, int8: bool = False, flip: bool = True, device: str = "auto",
                 threads: int | None = None, views: bool = False) -> FaceEngine:
    """A FaceEngine with the shipped detector and the chosen embedder; views: every face's embedding
    averages its alignment views (``EngineConfig.alignment_views``)."""
    return FaceEngine(FaceDetector(), Embedder(eval_model_path(model, int8), device=device, flip=flip,
                                               threads=threads), EngineConfig(alignment_views=views))


def photo_embedding(engine: FaceEngine, path: Path) -> np.ndarray | None:
    """The (D,) unit embedding of the main face (:meth:`FaceEngine.main_face`) of the photo at
    ``path``; None when the file cannot be read as an image or shows no face large enough."""
    try:
        face = engine.main_face(read_image(path))
    except ImageError:
        return None
    return None if face is None else face.embedding


def evaluate_lfw(pairs_txt: Path, images_dir: Path, *, model: Path | None = None, int8: bool = False,
                 flip: bool = True, device: str = "auto", folds: int = 10,
                 engine: FaceEngine | None = None) -> dict[str, object]:
    """LFW view-2 protocol on ``pairs_txt``: accuracy (10-fold, threshold fitted on 9 folds), its std,
    TAR at FAR 1e-2 and 1e-3, images with no face found, images embedded and seconds taken."""
    if folds < 2:
        raise ValueError("The LFW protocol needs at least 2 folds (the threshold is fitted on the others).")
    eng = engine or build_engine(model, int8=int8, flip=flip, device=device)
    pairs = [p for p in read_pairs(Path(pairs_txt), Path(images_dir)) if p.fold < folds]

    result = evaluate_pairs(pairs, lambda path: photo_embedding(eng, path))
    result["model_sha256"] = eng.model_sha256
    result["provider"] = eng.embedder.provider
    result["flip"] = eng.embedder.flip
    result["views"] = eng.config.alignment_views
    result["folds"] = folds
    return result


def open_set_lfw(lfw: Path, people: int, shots: int, strangers: int, probes_per_person: int, fpir: float,
        seed: int = 0) -> dict[str, object]:
    """Open-set identification on LFW through a real FaceGate database (see bench/open_set.py):
    FPIR/TPIR of the per-comparison FAR-1e-3 threshold vs the product's calibrated threshold."""
    rng = np.random.default_rng(seed)
    eligible = lfw_people_with_min_images(lfw, shots + 1)
    names = sorted(eligible)
    chosen = [names[i] for i in rng.choice(len(names), size=min(people, len(names)), replace=False)]
    stranger_files = lfw_single_image_people(lfw)
    stranger_files = [stranger_files[i] for i in rng.choice(len(stranger_files), strangers, replace=False)]
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, FaceGate(Path(tmp) / "facegate.db", device="cpu") as gate:
        probes: list[tuple[str, Path]] = []
        for name in chosen:
            files = eligible[name]
            rep = gate.enrol_images(name, files[:shots], check_quality=False)
            if not rep.added:
                continue
            probes += [(name, f) for f in files[shots: shots + probes_per_person]]
        cal = gate.calibrate(fpir)
        prior = load_prior(gate.model.sha256, gate.engine.embedder.flip)
        per_comparison = prior.threshold_at_far(1e-3) if prior else float("nan")

        def best(path: Path) -> tuple[str | None, float, float]:
            face = gate.engine.main_face(read_image(path))
            if face is None:
                return None, -1.0, -1.0
            m = gate.match(face.embedding[None])[0]
            if m is None:
                return None, -1.0, -1.0
            person = gate.store.get_person(m.person_id)
            return (person.name if person else None), m.score, m.second_score

        probe_hits = [(name, *best(f)) for name, f in probes]
        stranger_hits = [best(f) for f in stranger_files]
        out: dict[str, object] = {
            "gallery_persons": gate.gallery.person_count, "gallery_templates": len(gate.gallery),
            "enrolled_probes": len(probe_hits), "strangers": len(stranger_hits), "target_fpir": fpir,
            "calibration_method": cal.method, "calibration_notes": list(cal.notes),
            "seconds": round(time.perf_counter() - t0, 1),
        }
        margin = gate.config.recognition.margin
        for label, thr, use_margin in (("per_comparison_far_1e-3", per_comparison, False),
                                       ("product_calibrated", cal.threshold, True)):
            def ok(score: float, second: float, thr: float = thr, use_margin: bool = use_margin) -> bool:
                return score >= thr and (not use_margin or score - second >= margin)

            fp = sum(ok(s, s2) for _, s, s2 in stranger_hits)
            tp = sum(ok(s, s2) and got == name for name, got, s, s2 in probe_hits)
            wrong = sum(ok(s, s2) and got != name for name, got, s, s2 in probe_hits)
            out[label] = {"threshold": round(float(thr), 4), "strangers_accepted": fp,
                          "fpir": round(fp / max(1, len(stranger_hits)), 4),
                          "tpir": round(tp / max(1, len(probe_hits)), 4), "wrong_person_accepts": wrong}
        return out

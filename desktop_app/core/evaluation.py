"""LFW view-2 evaluation of the whole pipeline (detect, align, embed) on real images."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from .detector import FaceDetector
from .embedder import Embedder
from .engine import FaceEngine
from .errors import ImageError
from .imageio import read_image
from .lfw import evaluate_pairs, read_pairs
from .model_convert import ensure_fp32_copy
from .model_files import EMBEDDER, shipped_model_path


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
                 threads: int | None = None) -> FaceEngine:
    """A FaceEngine with the shipped detector and the chosen embedder."""
    return FaceEngine(FaceDetector(), Embedder(eval_model_path(model, int8), device=device, flip=flip,
                                               threads=threads))


def evaluate_lfw(pairs_txt: Path, images_dir: Path, *, model: Path | None = None, int8: bool = False,
                 flip: bool = True, device: str = "auto", folds: int = 10,
                 engine: FaceEngine | None = None) -> dict[str, object]:
    """LFW view-2 protocol on ``pairs_txt``: accuracy (10-fold, threshold fitted on 9 folds), its std,
    TAR at FAR 1e-2 and 1e-3, images with no face found, images embedded and seconds taken."""
    if folds < 2:
        raise ValueError("The LFW protocol needs at least 2 folds (the threshold is fitted on the others).")
    eng = engine or build_engine(model, int8=int8, flip=flip, device=device)
    pairs = [p for p in read_pairs(Path(pairs_txt), Path(images_dir)) if p.fold < folds]

    def embed(path: Path) -> np.ndarray | None:
        try:
            face = eng.main_face(read_image(path))
        except ImageError:
            return None
        return None if face is None else face.embedding

    result = evaluate_pairs(pairs, embed)
    result["model_sha256"] = eng.model_sha256
    result["provider"] = eng.embedder.provider
    result["flip"] = eng.embedder.flip
    result["folds"] = folds
    return result

"""The face engine: detect -> align -> assess quality -> embed, with per-stage timings."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from desktop_app.core.embedding.embedder import Embedder
from desktop_app.core.face.alignment import align_face
from desktop_app.core.face.detector import FaceDetector
from desktop_app.core.face.quality import QualityConfig, assess
from desktop_app.core.types import Detection, Face, StageTimes
from desktop_app.core.video.imageio import as_bgr


@dataclass(frozen=True)
class EngineConfig:
    """min_recognition_iod_px: faces whose eyes are closer than this (pixels) are reported as too
    small and not embedded (their embeddings are unreliable); max_faces: at most this many faces per
    frame are embedded, largest first; quality: enrolment limits (assessed for every face)."""

    min_recognition_iod_px: float = 12.0
    max_faces: int = 8
    quality: QualityConfig = field(default_factory=QualityConfig)


@dataclass(frozen=True)
class Analysis:
    """Result of one image: embedded faces (largest first), faces too small to recognise, timings."""

    faces: list[Face]
    too_small: list[Detection]
    times: StageTimes
    image_shape: tuple[int, int]


class FaceEngine:
    """Headless face pipeline shared by the CLI, the GUI, the evaluator and the trainer."""

    def __init__(self, detector: FaceDetector, embedder: Embedder, config: EngineConfig | None = None) -> None:
        self.detector = detector
        self.embedder = embedder
        self.config = config or EngineConfig()

    @property
    def model_sha256(self) -> str:
        return self.embedder.sha256

    def analyze(self, image: np.ndarray, *, max_faces: int | None = None) -> Analysis:
        """Detect, align, assess and embed the faces of a (H, W, 3) BGR (or grey) uint8 image."""
        image = as_bgr(image)
        t0 = time.perf_counter()
        dets = self.detector.detect(image)
        t1 = time.perf_counter()
        limit = self.config.max_faces if max_faces is None else max_faces
        usable = [d for d in dets if d.inter_ocular >= self.config.min_recognition_iod_px][:limit]
        too_small = [d for d in dets if d.inter_ocular < self.config.min_recognition_iod_px]
        crops = [align_face(image, d.landmarks) for d in usable]
        quals = [assess(d, c, self.config.quality) for d, c in zip(usable, crops, strict=True)]
        t2 = time.perf_counter()
        vecs = self.embedder.embed(np.stack(crops)) if crops else np.zeros((0, self.embedder.dim), np.float32)
        t3 = time.perf_counter()
        faces = [
            Face(detection=d, crop=c, embedding=v, quality=q)
            for d, c, v, q in zip(usable, crops, vecs, quals, strict=True)
        ]
        times = StageTimes(detect_ms=(t1 - t0) * 1e3, align_ms=(t2 - t1) * 1e3, embed_ms=(t3 - t2) * 1e3)
        return Analysis(faces=faces, too_small=too_small, times=times, image_shape=(image.shape[0], image.shape[1]))

    def main_face(self, image: np.ndarray) -> Face | None:
        """The face nearest the centre, weighted by size (the subject of a portrait or LFW image)."""
        analysis = self.analyze(image)
        if not analysis.faces:
            return None
        h, w = analysis.image_shape
        diag = float(np.hypot(h, w))

        def rank(face: Face) -> float:
            cx, cy = face.detection.center
            off = float(np.hypot(cx - w / 2.0, cy - h / 2.0)) / diag
            return float(np.sqrt(face.detection.area)) * (1.0 - 1.5 * off)

        return max(analysis.faces, key=rank)

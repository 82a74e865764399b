"""Face detection with YuNet (``cv2.FaceDetectorYN``), with an illumination retry.

YuNet output rows: x, y, w, h, then five landmarks (right eye, left eye, nose tip, right mouth
corner, left mouth corner) as x, y pairs, then the score.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from desktop_app.core.embedding.model_files import DETECTOR, shipped_model_path
from desktop_app.core.errors import ModelError
from desktop_app.core.face.illumination import ENHANCERS, is_poorly_exposed
from desktop_app.core.types import Detection
from desktop_app.core.video.imageio import as_bgr


@dataclass(frozen=True)
class DetectorConfig:
    """Detector settings.

    score_threshold: minimum YuNet score 0..1; nms_threshold: IoU for non-maximum suppression;
    top_k: candidates kept before NMS; max_side: frames larger than this (pixels, longer side) are
    downscaled for detection; min_side: smaller images are upscaled to this (pixels, shorter side) so
    small faces in small images are found; retry_enhancers: corrections tried, in order, when nothing
    was found in a poorly exposed frame (``always_retry`` tries them on any empty frame).
    """

    score_threshold: float = 0.6
    nms_threshold: float = 0.3
    top_k: int = 5000
    max_side: int = 1280
    min_side: int = 320
    retry_enhancers: tuple[str, ...] = ("gamma", "clahe")
    always_retry: bool = False


class FaceDetector:
    """YuNet face detector. Thread-safe: one internal lock guards the OpenCV object."""

    def __init__(self, model_path: Path | None = None, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        self.model_path = model_path if model_path is not None else shipped_model_path(DETECTOR)
        quiet = cv2.utils.logging.getLogLevel()
        cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)  # OpenCV 5 warns about dnn targets
        try:
            self._net = cv2.FaceDetectorYN.create(
                str(self.model_path), "", (320, 320),
                self.config.score_threshold, self.config.nms_threshold, self.config.top_k,
            )
        except cv2.error as exc:
            raise ModelError(f"Face detector model {self.model_path} cannot be loaded: {exc}") from exc
        finally:
            cv2.utils.logging.setLogLevel(quiet)
        self._size = (320, 320)
        self._lock = threading.Lock()

    def _run(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        with self._lock:
            if (w, h) != self._size:
                self._net.setInputSize((w, h))
                self._size = (w, h)
            _, faces = self._net.detect(image)
        return np.zeros((0, 15), np.float32) if faces is None else np.asarray(faces, np.float32)

    def _scale_for(self, image: np.ndarray) -> float:
        h, w = int(image.shape[0]), int(image.shape[1])
        if max(h, w) > self.config.max_side:
            return self.config.max_side / max(h, w)
        if min(h, w) < self.config.min_side:
            return min(self.config.min_side / min(h, w), 4.0)
        return 1.0

    def detect(self, image: np.ndarray) -> list[Detection]:
        """Faces in a (H, W, 3) BGR (or grey) uint8 image, sorted by area, largest first.

        Boxes and landmarks are in the input image's pixels. When nothing is found in a dark or
        washed-out image, retries on gamma-corrected then CLAHE copies.
        """
        image = as_bgr(image)
        scale = self._scale_for(image)
        work = image
        if scale != 1.0:
            interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
            work = cv2.resize(image, None, fx=scale, fy=scale, interpolation=interp)
        rows = self._run(work)
        used: str | None = None
        if len(rows) == 0 and (self.config.always_retry or is_poorly_exposed(work)):
            for name in self.config.retry_enhancers:
                rows = self._run(ENHANCERS[name](work))
                if len(rows):
                    used = name
                    break
        dets = [self._to_detection(r, scale, used) for r in rows]
        dets.sort(key=lambda d: d.area, reverse=True)
        return dets

    @staticmethod
    def _to_detection(row: np.ndarray, scale: float, enhancement: str | None) -> Detection:
        inv = 1.0 / scale
        x, y, w, h = (float(v) * inv for v in row[:4])
        landmarks = (row[4:14].reshape(5, 2) * inv).astype(np.float32)
        return Detection(box=(x, y, w, h), landmarks=landmarks, score=float(row[14]), enhancement=enhancement)

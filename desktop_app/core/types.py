"""Data that crosses module boundaries in the core. Frozen dataclasses; arrays are numpy.

Conventions (all modules):
- images are ``np.ndarray`` uint8, BGR, shape (H, W, 3) unless stated otherwise;
- boxes are (x, y, w, h) in pixels of the frame they were found in, floats;
- landmarks are ``np.ndarray`` float32 of shape (5, 2), pixel (x, y), in the order YuNet gives:
  right eye, left eye, nose tip, right mouth corner, left mouth corner (the subject's right/left,
  i.e. the right eye appears on the image's left side for a frontal face);
- embeddings are ``np.ndarray`` float32 of shape (D,) or (N, D), L2-normalised; scores are cosine
  similarities in [-1, 1].
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from desktop_app.core.matching.calibration_findings import CalibrationFindings


@dataclass(frozen=True, eq=False)
class Detection:
    """One face found by the detector.

    box: (x, y, w, h) in pixels; landmarks: (5, 2) float32 pixels; score: detector confidence 0..1;
    enhancement: None when found on the frame as given, else the name of the illumination
    correction ("gamma", "clahe") on whose copy it was found.
    """

    box: tuple[float, float, float, float]
    landmarks: np.ndarray
    score: float
    enhancement: str | None = None

    @property
    def inter_ocular(self) -> float:
        """Distance between the eye centres, pixels."""
        return float(np.linalg.norm(self.landmarks[0] - self.landmarks[1]))

    @property
    def area(self) -> float:
        return float(self.box[2] * self.box[3])

    @property
    def center(self) -> tuple[float, float]:
        x, y, w, h = self.box
        return (x + w / 2.0, y + h / 2.0)


@dataclass(frozen=True)
class FaceQuality:
    """Quality measures of one detected face.

    inter_ocular_px: eye distance in pixels; sharpness: variance of the Laplacian of the aligned
    grey face (higher is sharper); brightness: mean grey level 0..255 of the aligned face;
    yaw/pitch/roll: rough head pose in degrees from the landmarks (0 is frontal);
    reasons: human-readable reasons why the face is not good enough to enrol (empty when ok).
    """

    inter_ocular_px: float
    sharpness: float
    brightness: float
    yaw: float
    pitch: float
    roll: float
    reasons: tuple[str, ...] = ()
    #: standard deviation of the grey levels of the aligned face, 0..127 (None when not measured)
    contrast: float | None = None

    @property
    def ok(self) -> bool:
        return not self.reasons


@dataclass(frozen=True, eq=False)
class Face:
    """A detected, aligned and embedded face.

    crop: aligned face (112, 112, 3) uint8 BGR; embedding: (D,) float32, L2-normalised;
    flip_averaged: True when the embedding averages the crop's and its mirror image's (test-time flip);
    views: alignments averaged into the embedding (1: the detection's own only; more: also the
    landmarks found again at other scales, :mod:`~desktop_app.core.face.alignment_views`);
    views_tried: the other alignments were looked for (``views`` may still be 1 when none was found).
    """

    detection: Detection
    crop: np.ndarray
    embedding: np.ndarray
    quality: FaceQuality
    flip_averaged: bool = False
    views: int = 1
    views_tried: bool = False


@dataclass(frozen=True)
class PersonMatch:
    """Best gallery match of one probe at person level.

    score: cosine of the best template of that person (person-level aggregate);
    second_score: best score of any *other* person (-1.0 when the gallery has one person);
    second_person_id: that other person (None when the gallery has one person).
    """

    person_id: int
    score: float
    second_score: float = -1.0
    second_person_id: int | None = None

    @property
    def margin(self) -> float:
        return self.score - self.second_score


@dataclass(frozen=True)
class StageTimes:
    """Per-stage latency of one processed frame, milliseconds."""

    detect_ms: float = 0.0
    align_ms: float = 0.0
    embed_ms: float = 0.0
    search_ms: float = 0.0

    @property
    def total_ms(self) -> float:
        return self.detect_ms + self.align_ms + self.embed_ms + self.search_ms


@dataclass(frozen=True)
class Calibration:
    """A calibrated decision threshold.

    threshold: cosine above which the best person is accepted; target_fpir: open-set false
    positive identification rate the threshold was chosen for; gallery_persons/gallery_templates:
    size of the gallery it was computed for; model_sha256: the embedder it holds for;
    est_fpir/est_fnir: rates measured on the calibration data at this threshold;
    n_genuine/n_impostor: how many mated / non-mated searches were used; method/notes: the rule
    in a word and, for people, the findings in sentences; findings: the same as data (None for
    calibrations stored before findings were kept).
    """

    threshold: float
    target_fpir: float
    gallery_persons: int
    gallery_templates: int
    model_sha256: str
    est_fpir: float
    est_fnir: float
    n_genuine: int
    n_impostor: int
    method: str = "person-max"
    notes: tuple[str, ...] = field(default_factory=tuple)
    findings: CalibrationFindings | None = None

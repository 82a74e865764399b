"""Validated, self-documenting settings of FaceGate (pydantic). Stored as JSON in the database's
``settings`` table under the key ``config``; every field says its unit and range."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class CameraSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    source: str = Field("0", description="Webcam index ('0'), video file path, image folder or rtsp/http URL.")
    width: int | None = Field(None, ge=160, le=7680, description="Requested capture width, pixels (webcams).")
    height: int | None = Field(None, ge=120, le=4320, description="Requested capture height, pixels (webcams).")
    name: str = Field("door-1", min_length=1, max_length=64, description="Camera name written on events.")


class RecognitionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    device: Literal["auto", "cuda", "cpu"] = Field("auto", description="ONNX Runtime device: CUDA if present.")
    flip_tta: bool = Field(True, description="Average each face's embedding with its mirror image's.")
    target_fpir: float = Field(
        1e-3, gt=0.0, le=0.1,
        description="Target open-set false-accept rate: share of strangers accepted as anyone (0.001 = 0.1%).",
    )
    fallback_threshold: float = Field(
        0.42, ge=0.0, le=1.0, description="Cosine threshold used until a calibration exists."
    )
    margin: float = Field(0.05, ge=0.0, le=1.0, description="Required cosine lead over the second-best person.")
    min_face_px: float = Field(12.0, ge=4.0, description="Faces with eyes closer than this (pixels) are ignored.")
    gallery: Literal["auto", "exact", "hnsw"] = Field("auto", description="Gallery search: exact or HNSW.")


class DecisionSettings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    votes_needed: int = Field(3, ge=1, le=30, description="Frames that must agree on a person (N of N-of-M).")
    window: int = Field(5, ge=1, le=60, description="Frames considered for the vote (M of N-of-M).")
    cooldown_s: float = Field(10.0, ge=0.0, le=3600.0, description="Seconds before the same person is logged again.")
    unknown_after: int = Field(8, ge=1, le=300, description="Frames of an unmatched face before 'unknown' is logged.")


class AppConfig(BaseModel):
    """All settings of one FaceGate installation."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    camera: CameraSettings = Field(default_factory=CameraSettings)  # type: ignore[arg-type]
    recognition: RecognitionSettings = Field(default_factory=RecognitionSettings)  # type: ignore[arg-type]
    decision: DecisionSettings = Field(default_factory=DecisionSettings)  # type: ignore[arg-type]
